// `muelab figures`: runs every registered experiment (SDE, mean-field, transformer, ...) at one
// profile into OUT/PROFILE/<experiment>/, copies each experiment's PNG and PDF figures into
// OUT/figures/ as <experiment>--<file>, and writes OUT/PROFILE/REPORT.md (write_report, shared with
// `muelab experiment`) with one row per verdict and links to the figures.
#include "figures_command.hpp"

#include "experiment_command.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/experiments/registry.hpp"
#include "muelab/experiments/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>

namespace muelab::cli {

namespace {

struct FiguresOptions {
  std::string profile = "quick", out = "results";
  std::vector<std::string> only;
  std::uint64_t seed = 7;
  int threads = 0;
  bool strict = false, allow_dirty = false, resume = false, no_run_cache = false;
  std::string command;
};

int run(const FiguresOptions& o) {
  namespace fs = std::filesystem;
  auto& registry = experiments::global_registry();
  std::vector<const experiments::Experiment*> selected;
  for (const auto* e : registry.all())
    if (o.only.empty() || std::find(o.only.begin(), o.only.end(), e->name) != o.only.end()) selected.push_back(e);
  for (const auto& name : o.only)
    if (registry.find(name) == nullptr) {
      std::string accepted;
      for (const auto* x : registry.all()) accepted += (accepted.empty() ? "" : ", ") + x->name;
      std::cerr << fmt::format("muelab: error: figures: --only: unknown experiment \"{}\" (accepted: {})\n", name, accepted);
      return 2;
    }
  if (o.profile == "full" && !o.allow_dirty && experiments::is_dirty_revision(experiments::source_revision())) {
    std::cerr << fmt::format("muelab: error: figures: --profile full from an uncommitted tree (revision {}): full results "
                             "are evidence and must come from a clean commit (commit first, or pass --allow-dirty)\n",
                             experiments::source_revision());
    return 2;
  }
  const fs::path root(o.out), report_dir = root / o.profile, figures_dir = root / "figures";
  fs::create_directories(figures_dir);
  experiments::ExperimentOptions options;
  options.profile = *experiments::parse_profile(o.profile);
  options.command = o.command;
  options.seed = o.seed;
  options.threads = o.threads;
  options.plot = false;  // drawn here, in the background, while the next experiment runs
  if (!o.no_run_cache) options.run_cache = report_dir / "run-cache.tsv";  // docs/development.md §4
  std::vector<experiments::VerdictReport> reports;
  std::map<std::string, std::vector<std::string>> figure_links;
  // Waits for the figure script in flight (at most one) and copies its figures to OUT/figures/.
  experiments::FigureJob drawing;
  const auto collect_figures = [&] {
    if (drawing.pid < 0) return;
    experiments::finish_figure(drawing);
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(drawing.out_dir))
      if (entry.is_regular_file() && (entry.path().extension() == ".png" || entry.path().extension() == ".pdf"))
        files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const auto name = fmt::format("{}--{}", drawing.experiment, f.filename().string());
      fs::copy_file(f, figures_dir / name, fs::copy_options::overwrite_existing);
      if (f.extension() == ".png")
        figure_links[drawing.experiment].push_back((fs::path("..") / "figures" / name).string());
    }
  };
  std::vector<std::string> failed;
  std::size_t unexpected = 0;  // claims that do not hold and controls that do not fail
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < selected.size(); ++i) {
    const auto* e = selected[i];
    options.out_dir = report_dir / e->name;
    if (o.resume &&
        experiments::finished_run(options.out_dir, options.profile, options.seed, experiments::source_revision())) {
      std::cerr << fmt::format("[{}/{}] {} ({}): finished by this revision ({}), kept (--resume)\n", i + 1,
                               selected.size(), e->name, o.profile, experiments::source_revision());
      continue;
    }
    std::cerr << fmt::format("[{}/{}] {} ({})\n", i + 1, selected.size(), e->name, o.profile);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      reports.push_back(experiments::run_experiment(*e, options));
    } catch (const std::exception& ex) {
      std::cerr << fmt::format("muelab: error: figures: experiment {}: {}\n", e->name, ex.what());
      failed.push_back(e->name);
      continue;
    }
    for (const auto& v : reports.back().verdicts) unexpected += v.as_expected() ? 0 : 1;
    collect_figures();  // the previous experiment's (long finished, as a rule)
    drawing = experiments::start_figure(*e, options.out_dir);
    std::cerr << fmt::format("    {:.0f} s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  collect_figures();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // REPORT.md covers every experiment of this profile on disk (also those of earlier sittings), each
  // with its own revision; figures are linked from OUT/figures/.
  reports = experiments::gather_reports(report_dir);
  for (const auto& r : reports)
    for (const auto& entry : fs::directory_iterator(figures_dir)) {
      const auto file = entry.path().filename().string();
      if (file.rfind(r.experiment + "--", 0) == 0 && entry.path().extension() == ".png" &&
          std::find(figure_links[r.experiment].begin(), figure_links[r.experiment].end(),
                    (fs::path("..") / "figures" / file).string()) == figure_links[r.experiment].end())
        figure_links[r.experiment].push_back((fs::path("..") / "figures" / file).string());
    }
  for (auto& [name, links] : figure_links) std::sort(links.begin(), links.end());
  experiments::write_report(report_dir, reports, o.profile, seconds, figure_links);
  const auto c = experiments::count_verdicts(reports);
  std::cout << fmt::format("\n{} experiment(s) ({} failed), {} rows: {} hold, {} fail, {} inconclusive; {} not as expected, {:.0f} s\nreport: {}\nfigures: {}\n",
                           reports.size(), failed.size(), c.total, c.holds, c.fails, c.inconclusive, unexpected, seconds, (report_dir / "REPORT.md").string(),
                           figures_dir.string());
  if (!failed.empty()) return 2;
  return (o.strict && unexpected > 0) ? 1 : 0;
}

}  // namespace

void add_figures_command(CLI::App& app, int& exit_status, const std::string& command_line) {
  auto o = std::make_shared<FiguresOptions>();
  o->command = command_line;
  auto* cmd = app.add_subcommand("figures", "The main job: run every experiment, render all figures, write REPORT.md");
  cmd->add_option("--profile", o->profile, "smoke (seconds), quick (minutes, the main job) or full (the evidence)")
      ->check(CLI::IsMember(experiments::profile_names()))->capture_default_str();
  cmd->add_option("--out", o->out, "results root (PROFILE/<experiment>/, PROFILE/REPORT.md, figures/)")->capture_default_str();
  cmd->add_option("--only", o->only, "run only these experiments (default: all registered)");
  cmd->add_option("--seed", o->seed, "base seed")->capture_default_str();
  cmd->add_option("--threads", o->threads, "OpenMP threads (0: default)");
  cmd->add_flag("--allow-dirty", o->allow_dirty, "allow --profile full from an uncommitted tree (results marked -dirty)");
  cmd->add_flag("--resume", o->resume,
                "keep experiments this revision already finished at this profile and seed (rerun the same command "
                "after a kill; in-process sweeps also resume their unfinished runs)");
  cmd->add_flag("--strict", o->strict, "exit 1 when a verdict is not as expected");
  cmd->add_flag("--no-run-cache", o->no_run_cache,
                "train every run, even one that another experiment already trained under this revision and kernels "
                "(PROFILE/run-cache.tsv is then neither read nor written)");
  cmd->callback([o, &exit_status] { exit_status = run(*o); });
}

}  // namespace muelab::cli
