// `muelab analyze DIR`: reads DIR/results.csv (written by `muelab sweep`, whose sweep.toml sits beside
// it and names the seed key), finds every LR curve's optimum (quadratic in log2 LR around the grid
// minimum) with a bootstrap CI over seeds, fits the drift of log2 η* per doubling of every other swept
// numeric axis, judges it three-valued from its CI (docs/claims.md, "How a row is judged": the optimum
// stays put when |drift| ≤ --per-doubling and |drift|·doublings ≤ --total-shift; a drift through an
// optimum at a grid edge is inconclusive, and DIR/analysis/points_to_add.csv lists the half-octave LR
// points the sweep must add under the edge policy) and writes DIR/analysis/{optima,curves,drifts}.csv
// and DIR/analysis/verdicts.json.
// When DIR holds a coord-check table (coord.csv: rule, quantity, step, axis, axis_value, seed, value,
// as `muelab experiment coord-check` writes it; or --coord FILE) it also fits the log-log slope of
// every (rule, quantity, axis, step) with a bootstrap CI over seeds, judges |slope| <= 0.1 (claim
// `coord-check`, rules named by --coord-control are control rows) and reports the documented
// exceptions (output / attention logits at the first step) without judging them:
// DIR/analysis/coord_slopes.csv.
#include "analyze_command.hpp"

#include "muelab/analysis/coord_analysis.hpp"
#include "muelab/analysis/lr_report.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/experiments/sweep.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <memory>

namespace muelab::cli {

namespace {

struct AnalyzeOptions {
  std::string dir;
  std::string lr_key, loss = "final_validation_loss", claim = "lr-transfer";
  std::vector<std::string> controls = {"transfer.rule=sp"};
  std::string coord_csv;                                   ///< empty: DIR/coord.csv when present
  std::vector<std::string> coord_controls = {"sp"};
  double coord_tolerance = 0.1;
  double per_doubling = 0.25, total_shift = 0.5;
  std::uint64_t seed = 7;
};

int run(const AnalyzeOptions& o) {
  namespace fs = std::filesystem;
  const fs::path dir(o.dir);
  analysis::SweepReadOptions read;
  read.lr_key = o.lr_key;
  read.loss_column = o.loss;
  if (fs::exists(dir / "sweep.toml")) read.seed_key =
      experiments::load_sweep_spec(dir / "sweep.toml", experiments::RunConfigCheck::not_needed).seed_key;
  std::vector<std::pair<std::string, std::string>> controls;
  for (const auto& c : o.controls) {
    const auto eq = c.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::runtime_error(fmt::format("--control: \"{}\" is not KEY=VALUE (accepted: a swept key and a value)", c));
    controls.emplace_back(c.substr(0, eq), c.substr(eq + 1));
  }
  const auto is_control = [&](const analysis::LrDrift& d) {
    for (const auto& [key, value] : controls) {
      const auto it = d.slice.find(key);
      if (it == d.slice.end()) continue;
      std::string v = it->second;
      // results.csv holds a string value as TOML text: "sp" or 'sp' (how `muelab sweep` writes it).
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
      if (v == value) return true;
    }
    return false;
  };
  experiments::VerdictReport report;
  report.experiment = "analyze:" + dir.filename().string();
  report.profile = "sweep";
  report.seed = o.seed;
  const fs::path out = dir / "analysis";
  const fs::path coord_path = o.coord_csv.empty() ? dir / "coord.csv" : fs::path(o.coord_csv);
  const bool have_sweep = fs::exists(dir / "results.csv"), have_coord = fs::exists(coord_path);
  if (!o.coord_csv.empty() && !have_coord) throw std::runtime_error(fmt::format("--coord: {} not found", o.coord_csv));
  if (!have_sweep && !have_coord)
    throw std::runtime_error(fmt::format("{}: neither results.csv (muelab sweep) nor coord.csv (coord-check) found",
                                         dir.string()));
  std::vector<std::string> written;
  std::optional<analysis::LrAnalysis> lr;
  std::vector<analysis::GridExtension> extensions;
  if (have_sweep) {
    const auto table = analysis::read_sweep_results(dir / "results.csv", read);
    fmt::print(stderr, "analyze: {} runs ({} diverged, {} failed skipped), lr key {}, seed key {}, bootstrap seed {}\n",
               table.runs.size(), table.diverged, table.failed, table.lr_key, table.seed_key, o.seed);
    lr = analysis::analyze_lr_runs(table.runs, o.seed);
    const experiments::ClaimSpec spec{o.claim, "drift of log2 lr* per doubling of the axis", experiments::VerdictKind::claim,
                                      experiments::Sidedness::two_sided, 0.0, o.per_doubling};
    report.verdicts = analysis::drift_verdicts(*lr, spec, {o.per_doubling, o.total_shift}, is_control);
  }
  std::vector<analysis::CoordSlope> slopes;
  if (have_coord) {
    const auto measurements = analysis::read_coord_csv(coord_path);
    slopes = analysis::analyze_coord_measurements(measurements, o.seed);
    const auto rows = analysis::coord_slope_verdicts(
        slopes,
        [&](const std::string& rule) {
          return std::find(o.coord_controls.begin(), o.coord_controls.end(), rule) != o.coord_controls.end();
        },
        analysis::coord_check_spec("coord-check", o.coord_tolerance));
    report.verdicts.insert(report.verdicts.end(), rows.begin(), rows.end());
  }
  fs::create_directories(out);
  if (lr) {
    analysis::optima_table(*lr).write(out / "optima.csv");
    analysis::curves_table(*lr).write(out / "curves.csv");
    analysis::drifts_table(*lr).write(out / "drifts.csv");
    extensions = analysis::grid_extensions(*lr);
    analysis::grid_extensions_table(*lr, extensions).write(out / "points_to_add.csv");
    written.insert(written.end(), {"optima.csv", "curves.csv", "drifts.csv", "points_to_add.csv"});
  }
  if (have_coord) {
    analysis::coord_slopes_table(slopes).write(out / "coord_slopes.csv");
    written.emplace_back("coord_slopes.csv");
  }
  report.write(out / "verdicts.json");
  written.emplace_back("verdicts.json");
  if (lr)
    for (const auto& c : lr->curves)
      std::cout << fmt::format("curve [{}]: log2 lr* = {:.3f} [{:.3f}, {:.3f}]{}\n", analysis::describe(c.axes),
                               c.optimum.log2_lr, c.ci.low, c.ci.high, c.optimum.at_edge ? " (at grid edge)" : "");
  for (const auto& sl : slopes)
    if (sl.exception)
      std::cout << fmt::format("coord slope [{} {} vs {} step {}]: {:+.3f} [{:+.3f}, {:+.3f}] -- {}\n", sl.rule,
                               sl.quantity, sl.axis, sl.step, sl.estimate.slope, sl.estimate.ci.low,
                               sl.estimate.ci.high, *sl.exception);
  for (const auto& e : extensions) {
    std::string points;
    for (const double x : e.log2_lr_to_add) points += fmt::format("{}{:.4g}", points.empty() ? "" : ", ", std::exp2(x));
    std::cout << fmt::format("edge [{}]: optimum at the {}; {}\n", analysis::describe(e.axes),
                             experiments::to_string(e.edge),
                             points.empty() ? std::string("no points left under the edge policy (cap reached)")
                                            : "add lr = " + points + " (half-octave steps)");
  }
  std::cout << report.summary();
  std::string list;
  for (const auto& w : written) list += (list.empty() ? "" : ", ") + w;
  std::cout << fmt::format("wrote {}/{{{}}}\n", out.string(), list);
  return 0;
}

}  // namespace

void add_analyze_command(CLI::App& app, int& exit_status) {
  auto o = std::make_shared<AnalyzeOptions>();
  auto* cmd = app.add_subcommand("analyze", "LR optima with bootstrap CIs and their drift per doubling of each swept axis; coord-check slopes");
  cmd->add_option("dir", o->dir, "sweep folder (results.csv, sweep.toml)")->required();
  cmd->add_option("--lr-key", o->lr_key, "swept LR key (default: the one swept key ending in lr)");
  cmd->add_option("--loss", o->loss, "results.csv column minimized")->capture_default_str()
      ->check(CLI::IsMember({"final_validation_loss", "best_validation_loss", "final_train_loss"}));
  cmd->add_option("--claim", o->claim, "claim id written in verdicts.json")->capture_default_str();
  cmd->add_option("--control", o->controls, "KEY=VALUE: slices with this swept value are control rows")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "bootstrap seed")->capture_default_str();
  cmd->add_option("--per-doubling", o->per_doubling, "the optimum stays put: |drift| <= this many octaves per doubling")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--total-shift", o->total_shift, "... and |drift| x doublings <= this many octaves over the axis range")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--coord", o->coord_csv, "coord-check table (rule, quantity, step, axis, axis_value, seed, value); "
                                           "default DIR/coord.csv when present");
  cmd->add_option("--coord-control", o->coord_controls, "rules whose coord slopes are control rows")
      ->capture_default_str();
  cmd->add_option("--coord-tolerance", o->coord_tolerance, "|slope| tolerance of the coord-check claim")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([o, &exit_status] {
    try {
      exit_status = run(*o);
    } catch (const std::exception& e) {
      std::cerr << "muelab: error: analyze: " << e.what() << "\n";
      exit_status = 2;
    }
  });
}

}  // namespace muelab::cli
