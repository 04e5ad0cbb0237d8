#include "muelab/experiments/sweep.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace muelab::experiments {

namespace {

std::map<std::string, std::string> read_summary(const std::filesystem::path& file) {
  std::map<std::string, std::string> values;
  std::ifstream in(file);
  if (!in) return values;
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception&) {
    return values;
  }
  for (const auto& column : ResultsStore::summary_columns()) {
    if (!j.contains(column) || j[column].is_null()) continue;
    const auto& v = j[column];
    values[column] = v.is_number() ? fmt::format("{:.10g}", v.get<double>()) : v.is_string() ? v.get<std::string>() : v.dump();
  }
  if (j.contains("status") && j["status"].is_string()) values["status"] = j["status"].get<std::string>();
  return values;
}

/// Starts one run as a child process: PROGRAM ARGS... --config CFG --set K=V ... --out DIR/runs/ID,
/// output to DIR/logs/ID.log. The child dies with the sweep (PR_SET_PDEATHSIG), so a killed sweep
/// leaves no orphan writing into a run folder that the resumed sweep recreates.
pid_t start_run(const SweepSpec& spec, const SweepRun& run, const std::filesystem::path& out) {
  const auto run_dir = out / "runs" / run.id;
  std::filesystem::remove_all(run_dir);  // a partial folder from a killed sweep
  std::filesystem::create_directories(out / "logs");
  std::vector<std::string> args = spec.command;
  args.insert(args.end(), {"--config", spec.run_config.string()});
  for (const auto& o : run.overrides) args.insert(args.end(), {"--set", o});
  args.insert(args.end(), {"--out", run_dir.string()});
  const std::string log = (out / "logs" / (run.id + ".log")).string();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "cannot execute %s\n", argv[0]);
    ::_exit(127);
  }
  return pid;
}

std::string format_seconds(double s) {
  if (!std::isfinite(s)) return "?";
  const auto total = static_cast<long>(s);
  return total >= 3600 ? fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60)
                       : fmt::format("{}m{:02}s", total / 60, total % 60);
}

}  // namespace

SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& options) {
  if (options.jobs < 1) throw std::invalid_argument("--jobs must be >= 1");
  if (options.shards < 1 || options.shard < 0 || options.shard >= options.shards)
    throw std::invalid_argument("--shard must be i/K with 0 <= i < K");
  const auto runs = expand_sweep(spec);
  if (options.validate)
    for (const auto& run : runs) options.validate(spec, run);  // before anything is written
  ResultsStore store(options.out, swept_keys(spec));
  const auto finished = store.load_finished();
  std::filesystem::copy_file(spec.source, options.out / "sweep.toml", std::filesystem::copy_options::overwrite_existing);

  std::vector<const SweepRun*> pending;
  SweepOutcome outcome;
  for (const auto& run : runs) {
    if (run.index % static_cast<std::size_t>(options.shards) != static_cast<std::size_t>(options.shard)) continue;
    ++outcome.total;
    if (finished.count(run.id) != 0) ++outcome.skipped;
    else pending.push_back(&run);
  }
  const bool tty = options.progress && ::isatty(2);
  const auto start = std::chrono::steady_clock::now();
  const auto progress = [&] {
    if (!tty) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::size_t done = outcome.skipped + outcome.ran;
    const double eta = outcome.ran > 0 ? elapsed / static_cast<double>(outcome.ran) *
                                             static_cast<double>(outcome.total - done)
                                       : std::nan("");
    std::cerr << fmt::format("\r[{}] runs {}/{} ({} diverged, {} failed), elapsed {}, ETA {}   ", spec.name, done,
                             outcome.total, outcome.diverged, outcome.failed, format_seconds(elapsed), format_seconds(eta))
              << std::flush;
  };
  progress();

  std::map<pid_t, const SweepRun*> running;
  std::size_t next = 0;
  while (next < pending.size() || !running.empty()) {
    while (next < pending.size() && running.size() < static_cast<std::size_t>(options.jobs)) {
      const auto* run = pending[next++];
      running[start_run(spec, *run, options.out)] = run;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const SweepRun* run = it->second;
    running.erase(it);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    auto summary = read_summary(options.out / "runs" / run->id / "summary.json");
    std::string state = "failed";
    if (summary.count("status") != 0 && (code == 0 || summary["status"] == "diverged")) state = summary["status"];
    else if (code == 3) state = "diverged";
    summary.erase("status");
    store.append(*run, state, code, summary);
    ++outcome.ran;
    if (state == "ok") ++outcome.ok;
    else if (state == "diverged") ++outcome.diverged;
    else {
      ++outcome.failed;
      if (!tty) std::cerr << fmt::format("sweep {}: run {} failed (exit {}), log: {}\n", spec.name, run->id, code,
                                         (options.out / "logs" / (run->id + ".log")).string());
    }
    progress();
  }
  if (tty) std::cerr << "\n";
  return outcome;
}

std::string slurm_script(const SweepSpec& spec, const SweepOptions& options, int array_tasks,
                         const std::string& muelab_executable) {
  return fmt::format(
      "#!/bin/bash\n"
      "# Slurm job array for sweep {name}: one shard per array task. Every task appends its rows to\n"
      "# {out}/results.csv under a file lock; resubmitting skips finished runs (same resume logic).\n"
      "#SBATCH --job-name=muelab-{name}\n"
      "#SBATCH --array=0-{last}\n"
      "#SBATCH --cpus-per-task={jobs}\n"
      "#SBATCH --output={out}/slurm-%A_%a.log\n"
      "set -euo pipefail\n"
      "exec '{exe}' sweep --config '{config}' --out '{out}' --jobs {jobs} "
      "--shard \"${{SLURM_ARRAY_TASK_ID}}/{tasks}\"\n",
      fmt::arg("name", spec.name), fmt::arg("out", std::filesystem::absolute(options.out).string()),
      fmt::arg("last", array_tasks - 1), fmt::arg("jobs", options.jobs), fmt::arg("exe", muelab_executable),
      fmt::arg("config", std::filesystem::absolute(spec.source).string()), fmt::arg("tasks", array_tasks));
}

}  // namespace muelab::experiments
