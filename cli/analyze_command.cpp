// `muelab analyze DIR`: reads DIR/results.csv (written by `muelab sweep`, whose sweep.toml sits beside
// it and names the seed key), finds every LR curve's optimum (quadratic in log2 LR around the grid
// minimum) with a bootstrap CI over seeds, fits the drift of log2 η* per doubling of every other swept
// numeric axis, judges it against the LR grid step (THEORY.md §9 `lr-transfer`) and writes
// DIR/analysis/{optima,curves,drifts}.csv and DIR/analysis/verdicts.json (ENGINEERING.md §5).
#include "analyze_command.hpp"

#include "muelab/analysis/lr_report.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/experiments/sweep.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>

namespace muelab::cli {

namespace {

struct AnalyzeOptions {
  std::string dir;
  std::string lr_key, loss = "final_validation_loss", claim = "lr-transfer";
  std::vector<std::string> controls = {"transfer.rule=sp"};
  std::uint64_t seed = 7;
};

int run(const AnalyzeOptions& o) {
  namespace fs = std::filesystem;
  const fs::path dir(o.dir);
  analysis::SweepReadOptions read;
  read.lr_key = o.lr_key;
  read.loss_column = o.loss;
  if (fs::exists(dir / "sweep.toml")) read.seed_key = experiments::load_sweep_spec(dir / "sweep.toml").seed_key;
  std::vector<std::pair<std::string, std::string>> controls;
  for (const auto& c : o.controls) {
    const auto eq = c.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::runtime_error(fmt::format("--control: \"{}\" is not KEY=VALUE (accepted: a swept key and a value)", c));
    controls.emplace_back(c.substr(0, eq), c.substr(eq + 1));
  }
  const auto table = analysis::read_sweep_results(dir / "results.csv", read);
  fmt::print(stderr, "analyze: {} runs ({} diverged, {} failed skipped), lr key {}, seed key {}, bootstrap seed {}\n",
             table.runs.size(), table.diverged, table.failed, table.lr_key, table.seed_key, o.seed);
  const auto a = analysis::analyze_lr_runs(table.runs, o.seed);
  const auto is_control = [&](const analysis::LrDrift& d) {
    for (const auto& [key, value] : controls) {
      const auto it = d.slice.find(key);
      if (it == d.slice.end()) continue;
      std::string v = it->second;
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      if (v == value) return true;
    }
    return false;
  };
  experiments::VerdictReport report;
  report.experiment = "analyze:" + dir.filename().string();
  report.profile = "sweep";
  report.seed = o.seed;
  report.verdicts = analysis::drift_verdicts(a, o.claim, is_control);
  const fs::path out = dir / "analysis";
  fs::create_directories(out);
  analysis::optima_table(a).write(out / "optima.csv");
  analysis::curves_table(a).write(out / "curves.csv");
  analysis::drifts_table(a).write(out / "drifts.csv");
  report.write(out / "verdicts.json");
  for (const auto& c : a.curves)
    std::cout << fmt::format("curve [{}]: log2 lr* = {:.3f} [{:.3f}, {:.3f}]{}\n", analysis::describe(c.axes),
                             c.optimum.log2_lr, c.ci.low, c.ci.high, c.optimum.at_edge ? " (at grid edge)" : "");
  std::cout << report.summary();
  std::cout << fmt::format("wrote {}/{{optima,curves,drifts}}.csv and verdicts.json\n", out.string());
  return 0;
}

}  // namespace

void add_analyze_command(CLI::App& app, int& exit_status) {
  auto o = std::make_shared<AnalyzeOptions>();
  auto* cmd = app.add_subcommand("analyze", "LR optima with bootstrap CIs and their drift per doubling of each swept axis");
  cmd->add_option("dir", o->dir, "sweep folder (results.csv, sweep.toml)")->required();
  cmd->add_option("--lr-key", o->lr_key, "swept LR key (default: the one swept key ending in lr)");
  cmd->add_option("--loss", o->loss, "results.csv column minimized")->capture_default_str()
      ->check(CLI::IsMember({"final_validation_loss", "best_validation_loss", "final_train_loss"}));
  cmd->add_option("--claim", o->claim, "claim id written in verdicts.json")->capture_default_str();
  cmd->add_option("--control", o->controls, "KEY=VALUE: slices with this swept value are control rows")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "bootstrap seed")->capture_default_str();
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
