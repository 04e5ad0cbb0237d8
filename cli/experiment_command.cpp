#include "experiment_command.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/experiments/registry.hpp"
#include "muelab/experiments/report.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <sstream>

namespace muelab::cli {

namespace {

struct ExperimentCommandOptions {
  std::vector<std::string> names;
  bool all = false, list = false, strict = false, no_plot = false, show_plan = false, gather = false,
       no_run_cache = false;
  std::string profile = "quick", out = "results/quick";
  std::uint64_t seed = 7;
  int threads = 0;
  std::string command;
};

int run(const ExperimentCommandOptions& o) {
  auto& registry = experiments::global_registry();
  if (o.list) {
    for (const auto* e : registry.all()) {
      std::string claims;
      for (const auto& c : e->claims) claims += (claims.empty() ? "" : ", ") + c;
      std::cout << fmt::format("{:<28} {}  [claims: {}]\n", e->name, e->description, claims);
    }
    return 0;
  }
  if (o.gather) {  // REPORT.md from what is on disk (e.g. a full profile regenerated over several sittings)
    std::vector<experiments::VerdictReport> reports;
    try {
      reports = experiments::gather_reports(o.out);
    } catch (const std::exception& ex) {
      std::cerr << fmt::format("muelab: error: experiment --gather: {}\n", ex.what());
      return 2;
    }
    if (reports.empty()) {
      std::cerr << fmt::format("muelab: error: experiment --gather: no <experiment>/verdicts.json under {}\n", o.out);
      return 2;
    }
    experiments::write_report(o.out, reports, o.profile, 0.0);
    const auto c = experiments::count_verdicts(reports);
    std::cout << fmt::format("{} experiment(s), {} rows: {} hold, {} fail, {} inconclusive; {} as expected; report: {}\n",
                             reports.size(), c.total, c.holds, c.fails, c.inconclusive, c.as_expected,
                             (std::filesystem::path(o.out) / "REPORT.md").string());
    return 0;
  }
  std::vector<const experiments::Experiment*> selected;
  if (o.all) selected = registry.all();
  for (const auto& name : o.names) {
    const auto* e = registry.find(name);
    if (e == nullptr) {
      std::string accepted;
      for (const auto* x : registry.all()) accepted += (accepted.empty() ? "" : ", ") + x->name;
      std::cerr << fmt::format("muelab: error: experiment: unknown name \"{}\" (accepted: {})\n", name, accepted);
      return 2;
    }
    selected.push_back(e);
  }
  if (selected.empty()) {
    std::cerr << "muelab: error: experiment: name one or more experiments, or --all, or --list\n";
    return 2;
  }
  if (o.show_plan) {  // the declared plans, without running anything
    nlohmann::json plans = nlohmann::json::object();
    for (const auto* e : selected)
      plans[e->name] = e->plan ? e->plan(*experiments::parse_profile(o.profile)).to_json(*experiments::parse_profile(o.profile))
                               : nlohmann::json(nullptr);
    std::cout << plans.dump(2) << "\n";
    return 0;
  }
  experiments::ExperimentOptions options;
  options.profile = *experiments::parse_profile(o.profile);
  options.command = o.command;
  options.seed = o.seed;
  options.threads = o.threads;
  options.plot = !o.no_plot;
  if (!o.no_run_cache) options.run_cache = std::filesystem::path(o.out) / "run-cache.tsv";  // docs/development.md §4
  std::vector<experiments::VerdictReport> reports;
  std::size_t unexpected = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const auto* e : selected) {
    options.out_dir = std::filesystem::path(o.out) / e->name;
    try {
      reports.push_back(experiments::run_experiment(*e, options));
    } catch (const std::exception& ex) {
      std::cerr << fmt::format("muelab: error: experiment {}: {}\n", e->name, ex.what());
      return 2;
    }
    for (const auto& v : reports.back().verdicts) unexpected += v.as_expected() ? 0 : 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // REPORT.md covers every experiment under OUT (also those run earlier), each with its revision.
  experiments::write_report(o.out, experiments::gather_reports(o.out), o.profile, seconds);
  std::cout << fmt::format("\n{} experiment(s), {} verdict(s) not as expected, {:.0f} s; report: {}\n", reports.size(),
                           unexpected, seconds, (std::filesystem::path(o.out) / "REPORT.md").string());
  return (o.strict && unexpected > 0) ? 1 : 0;
}

}  // namespace

void add_experiment_command(CLI::App& app, int& exit_status, const std::string& command_line) {
  auto o = std::make_shared<ExperimentCommandOptions>();
  o->command = command_line;
  auto* cmd = app.add_subcommand("experiment", "Run experiment programs (CSV + verdicts.json + figure per experiment)");
  cmd->add_option("names", o->names, "experiment names (see --list)");
  cmd->add_flag("--all", o->all, "run every registered experiment");
  cmd->add_flag("--list", o->list, "list the experiments and the claims they check");
  cmd->add_option("--profile", o->profile, "smoke (seconds, ctest), quick (minutes, main job) or full (the evidence)")
      ->check(CLI::IsMember(experiments::profile_names()))->capture_default_str();
  cmd->add_option("--out", o->out, "results folder (one subfolder per experiment, REPORT.md on top)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "base seed")->capture_default_str();
  cmd->add_option("--threads", o->threads, "OpenMP threads (0: default)");
  cmd->add_flag("--no-plot", o->no_plot, "do not draw figures");
  cmd->add_flag("--no-run-cache", o->no_run_cache,
                "train every run, even one that another experiment already trained under this revision and kernels "
                "(OUT/run-cache.tsv is then neither read nor written)");
  cmd->add_flag("--plan", o->show_plan, "print the declared plans (grids, seeds, claims with tolerances) as JSON; run nothing");
  cmd->add_flag("--strict", o->strict, "exit 1 when a verdict is not as expected");
  cmd->add_flag("--gather", o->gather, "rewrite OUT/REPORT.md from the verdicts.json files under OUT; run nothing");
  cmd->callback([o, &exit_status] { exit_status = run(*o); });
}

}  // namespace muelab::cli
