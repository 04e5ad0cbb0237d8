#include "muelab/experiments/registry.hpp"

#include "muelab/experiments/output.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <omp.h>

#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>

extern char** environ;

namespace muelab::experiments {

std::string command_line(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    line += (i == 0 ? "" : " ") + (arg.find_first_of(" \t'\"") == std::string::npos ? arg : "'" + arg + "'");
  }
  return line;
}

void Registry::add(Experiment experiment) {
  if (experiments_.count(experiment.name) != 0)
    throw std::logic_error("experiment registered twice: " + experiment.name);
  auto name = experiment.name;
  order_.push_back(name);
  experiments_.emplace(std::move(name), std::move(experiment));
}

const Experiment* Registry::find(const std::string& name) const {
  const auto it = experiments_.find(name);
  return it == experiments_.end() ? nullptr : &it->second;
}

std::vector<const Experiment*> Registry::all() const {
  std::vector<const Experiment*> list;
  for (const auto& name : order_) list.push_back(&experiments_.at(name));
  return list;
}

FigureJob start_figure(const Experiment& experiment, const std::filesystem::path& out_dir) {
  FigureJob job{experiment.name, out_dir, -1};
  if (experiment.plot_script.empty()) return job;
  const auto script = (source_directory() / "plots" / experiment.plot_script).string();
  const std::string python = "/usr/bin/python3", dir = out_dir.string();
  std::vector<char*> argv = {const_cast<char*>(python.c_str()), const_cast<char*>(script.c_str()),
                             const_cast<char*>(dir.c_str()), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    std::cerr << fmt::format("muelab: warning: figure script {} could not be started ({} missing?)\n", script, python);
    return job;
  }
  job.pid = pid;
  return job;
}

bool finish_figure(FigureJob& job) {
  if (job.pid < 0) return false;
  int status = 0;
  pid_t waited = -1;
  do {
    waited = waitpid(static_cast<pid_t>(job.pid), &status, 0);
  } while (waited < 0 && errno == EINTR);
  job.pid = -1;
  const bool ok = waited >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok)
    std::cerr << fmt::format("muelab: warning: the figure script of {} failed (is python3-matplotlib installed?)\n",
                             job.experiment);
  return ok;
}

bool finished_run(const std::filesystem::path& out_dir, Profile profile, std::uint64_t seed,
                  const std::string& revision) {
  if (!is_clean_revision(revision)) return false;
  if (!std::filesystem::is_regular_file(out_dir / "verdicts.json")) return false;
  std::ifstream in(out_dir / "run.json");
  if (!in) return false;
  const auto info = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return info.is_object() && info.contains("wall_seconds") && info["wall_seconds"].is_number() &&
         info.value("revision", std::string()) == revision &&
         info.value("profile", std::string()) == to_string(profile) && info.contains("seed") &&
         info["seed"].is_number_unsigned() && info["seed"].get<std::uint64_t>() == seed;
}

VerdictReport run_experiment(const Experiment& experiment, const ExperimentOptions& options) {
  std::filesystem::create_directories(options.out_dir);
  if (options.threads > 0) omp_set_num_threads(options.threads);
  if (experiment.plan)
    write_file_atomically(options.out_dir / "plan.json", experiment.plan(options.profile).to_json(options.profile).dump(2) + "\n");
  nlohmann::json run_info = {{"experiment", experiment.name},
                             {"profile", to_string(options.profile)},
                             {"seed", options.seed},
                             {"threads", omp_get_max_threads()},
                             {"command", options.command},
                             {"revision", source_revision()},
                             {"machine", machine_description()}};
  write_file_atomically(options.out_dir / "run.json", run_info.dump(2) + "\n");
  std::cout << fmt::format("== {} ({} profile, seed {}) -> {}\n", experiment.name, to_string(options.profile),
                           options.seed, options.out_dir.string())
            << std::flush;
  const auto start = std::chrono::steady_clock::now();
  auto report = experiment.run(options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.experiment = experiment.name;
  report.profile = to_string(options.profile);
  report.seed = options.seed;
  report.write(options.out_dir / "verdicts.json");
  // A finished experiment leaves no resume journal of its in-process sweeps (docs/development.md §4,
  // "Interrupted runs"): its results are in the files above.
  std::error_code ignored;
  std::filesystem::remove(options.out_dir / "resume.tsv", ignored);
  run_info["wall_seconds"] = seconds;
  write_file_atomically(options.out_dir / "run.json", run_info.dump(2) + "\n");
  std::cout << report.summary() << fmt::format("   ({:.1f} s)\n", seconds) << std::flush;
  if (options.plot) {
    auto figure = start_figure(experiment, options.out_dir);
    finish_figure(figure);
  }
  return report;
}

}  // namespace muelab::experiments
