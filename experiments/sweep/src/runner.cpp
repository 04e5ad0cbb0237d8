#include "muelab/experiments/sweep.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#ifdef MUELAB_HAVE_MPI
#include <mpi.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

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

/// Starts a child process running `args`, output to `log`. The child dies with the sweep
/// (PR_SET_PDEATHSIG), so a killed sweep leaves no orphan writing into a run folder that the resumed
/// sweep recreates.
pid_t start_process(std::vector<std::string> args, const std::string& log) {
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

/// The log of a group's process: DIR/logs/ID.log for one run, DIR/logs/ID.population.log (ID of the
/// first member) for a population, copied to every member's ID.log when it ends.
std::filesystem::path group_log(const std::vector<const SweepRun*>& group, const std::filesystem::path& out) {
  const auto& first = group.front()->id;
  return out / "logs" / (group.size() == 1 ? first + ".log" : first + ".population.log");
}

/// Starts one group: one run as PROGRAM ARGS... --config CFG --set K=V ... --out DIR/runs/ID, or a
/// population as PROGRAM ARGS... --config CFG --population DIR/logs/ID.population.json (each member's
/// overrides and DIR/runs/ID in the file).
pid_t start_group(const SweepSpec& spec, const std::vector<const SweepRun*>& group, const std::filesystem::path& out) {
  std::filesystem::create_directories(out / "logs");
  for (const auto* run : group)
    std::filesystem::remove_all(out / "runs" / run->id);  // partial folders of a killed sweep
  std::vector<std::string> args = spec.command;
  args.insert(args.end(), {"--config", spec.run_config.string()});
  if (group.size() == 1) {
    for (const auto& o : group.front()->overrides) args.insert(args.end(), {"--set", o});
    args.insert(args.end(), {"--out", (out / "runs" / group.front()->id).string()});
  } else {
    std::vector<PopulationMember> members;
    for (const auto* run : group) members.push_back({run->overrides, (out / "runs" / run->id).string()});
    const auto file = out / "logs" / (group.front()->id + ".population.json");
    std::ofstream(file) << population_file_text(members);
    args.insert(args.end(), {"--population", file.string()});
  }
  return start_process(args, group_log(group, out).string());
}

/// The runs one process trains: one run, or the members of a population.
using Group = std::vector<const SweepRun*>;

/// The result of one finished run, as rank 0 records it.
struct RunResult {
  std::string status;
  int exit_code = 0;
  std::map<std::string, std::string> summary;
};

RunResult collect_result(const SweepRun& run, int wait_status, const std::filesystem::path& out) {
  RunResult r;
  r.exit_code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  r.summary = read_summary(out / "runs" / run.id / "summary.json");
  r.status = "failed";
  if (r.summary.count("status") != 0 && (r.exit_code == 0 || r.summary["status"] == "diverged")) r.status = r.summary["status"];
  else if (r.exit_code == 3) r.status = "diverged";
  r.summary.erase("status");
  return r;
}

/// Every member's result once its group's process has ended. A population exits 0 when every member
/// finished, ok or diverged (its summary.json says which); a diverged member gets exit code 3, as a
/// run alone does. Each member's log is the population's.
std::vector<RunResult> collect_group(const std::vector<const SweepRun*>& group, int wait_status,
                                     const std::filesystem::path& out) {
  std::vector<RunResult> results;
  for (const auto* run : group) {
    auto r = collect_result(*run, wait_status, out);
    if (group.size() > 1) {
      if (r.status == "diverged" && r.exit_code == 0) r.exit_code = 3;
      std::error_code ec;
      std::filesystem::copy_file(group_log(group, out), out / "logs" / (run->id + ".log"),
                                 std::filesystem::copy_options::overwrite_existing, ec);
    }
    results.push_back(std::move(r));
  }
  if (group.size() > 1) {
    std::error_code ec;
    std::filesystem::remove(group_log(group, out), ec);
    std::filesystem::remove(out / "logs" / (group.front()->id + ".population.json"), ec);
  }
  return results;
}

std::string format_seconds(double s) {
  if (!std::isfinite(s)) return "?";
  const auto total = static_cast<long>(s);
  return total >= 3600 ? fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60)
                       : fmt::format("{}m{:02}s", total / 60, total % 60);
}


#ifdef MUELAB_HAVE_MPI
constexpr int kTagRequest = 1, kTagAssign = 2, kTagResult = 3;

std::string encode(const std::vector<RunResult>& results, long long group) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : results)
    list.push_back({{"status", r.status}, {"exit_code", r.exit_code}, {"summary", r.summary}});
  return nlohmann::json{{"group", group}, {"results", list}}.dump();
}

/// Rank 0: hands out pending groups to worker ranks on request, runs its own share as local jobs,
/// and is the only writer of results.csv (it records every worker's result as it arrives).
template <class Record>
void coordinate_mpi(const SweepSpec& spec, const SweepOptions& options, const std::vector<Group>& groups,
                    const Record& record) {
  std::size_t next = 0;
  int active_workers = options.mpi_size - 1;
  std::map<pid_t, const Group*> running;
  while (next < groups.size() || !running.empty() || active_workers > 0) {
    bool busy = false;
    while (next < groups.size() && running.size() < static_cast<std::size_t>(options.jobs)) {
      const Group* group = &groups[next++];
      running[start_group(spec, *group, options.out)] = group;
      busy = true;
    }
    int status = 0;
    const pid_t pid = running.empty() ? 0 : ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      const auto it = running.find(pid);
      if (it != running.end()) {
        const Group* group = it->second;
        running.erase(it);
        const auto results = collect_group(*group, status, options.out);
        for (std::size_t m = 0; m < group->size(); ++m) record(*(*group)[m], results[m]);
      }
      busy = true;
    }
    int flag = 0;
    MPI_Status probe;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &probe);
    if (flag) {
      busy = true;
      if (probe.MPI_TAG == kTagRequest) {
        MPI_Recv(nullptr, 0, MPI_CHAR, probe.MPI_SOURCE, kTagRequest, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        long long index = -1;
        if (next < groups.size())
          index = static_cast<long long>(next++);
        else --active_workers;
        MPI_Send(&index, 1, MPI_LONG_LONG, probe.MPI_SOURCE, kTagAssign, MPI_COMM_WORLD);
      } else if (probe.MPI_TAG == kTagResult) {
        int length = 0;
        MPI_Get_count(&probe, MPI_CHAR, &length);
        std::string text(static_cast<std::size_t>(length), '\0');
        MPI_Recv(text.data(), length, MPI_CHAR, probe.MPI_SOURCE, kTagResult, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        const auto j = nlohmann::json::parse(text);
        const Group& group = groups[static_cast<std::size_t>(j["group"].get<long long>())];
        for (std::size_t m = 0; m < group.size(); ++m) {
          const auto& rj = j["results"][m];
          record(*group[m], RunResult{rj["status"].get<std::string>(), rj["exit_code"].get<int>(),
                                      rj["summary"].get<std::map<std::string, std::string>>()});
        }
      }
    }
    if (!busy) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

/// Ranks 1..K-1: ask rank 0 for the next pending group, run it, send its results back.
void work_for_rank0(const SweepSpec& spec, const SweepOptions& options, const std::vector<Group>& groups) {
  for (;;) {
    MPI_Send(nullptr, 0, MPI_CHAR, 0, kTagRequest, MPI_COMM_WORLD);
    long long index = -1;
    MPI_Recv(&index, 1, MPI_LONG_LONG, 0, kTagAssign, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (index < 0) return;
    const Group& group = groups[static_cast<std::size_t>(index)];
    int status = 0;
    ::waitpid(start_group(spec, group, options.out), &status, 0);
    const std::string text = encode(collect_group(group, status, options.out), index);
    MPI_Send(text.data(), static_cast<int>(text.size()), MPI_CHAR, 0, kTagResult, MPI_COMM_WORLD);
  }
}
#endif

/// The pending runs cut into the processes that train them (population_groups over the options' key).
std::vector<Group> make_groups(const SweepSpec& spec, const SweepOptions& options,
                               const std::vector<const SweepRun*>& pending) {
  std::vector<std::string> keys(pending.size()), seeds(pending.size());
  if (options.population > 1 && options.population_key) {
    for (std::size_t i = 0; i < pending.size(); ++i) {
      keys[i] = options.population_key(spec, *pending[i]);
      for (const auto& [key, value] : pending[i]->values)
        if (key == spec.seed_key) seeds[i] = value;
    }
  }
  std::vector<Group> groups;
  for (const auto& indices : population_groups(keys, seeds, options.jobs, options.population)) {
    Group group;
    for (const auto i : indices) group.push_back(pending[i]);
    groups.push_back(std::move(group));
  }
  return groups;
}

}  // namespace

std::string population_file_text(const std::vector<PopulationMember>& members) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& m : members) list.push_back({{"set", m.overrides}, {"out", m.out}});
  return nlohmann::json{{"members", list}}.dump(1) + "\n";
}

std::vector<PopulationMember> parse_population_file(const std::string& text, const std::string& source) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw SweepError(source, "members", "the file is not JSON (expected {\"members\": [...]})");
  if (!j.is_object() || !j.contains("members") || !j["members"].is_array() || j["members"].empty())
    throw SweepError(source, "members", "a non-empty array of {set, out} is required");
  std::vector<PopulationMember> members;
  for (const auto& m : j["members"]) {
    const std::string field = "members[" + std::to_string(members.size()) + "]";
    if (!m.is_object() || !m.contains("out") || !m["out"].is_string() || m["out"].get<std::string>().empty())
      throw SweepError(source, field + ".out", "a folder name (non-empty string) is required");
    PopulationMember member;
    member.out = m["out"].get<std::string>();
    if (m.contains("set")) {
      if (!m["set"].is_array())
        throw SweepError(source, field + ".set", "an array of \"table.key=value\" strings is required");
      for (const auto& o : m["set"]) {
        if (!o.is_string())
          throw SweepError(source, field + ".set", "an array of \"table.key=value\" strings is required");
        member.overrides.push_back(o.get<std::string>());
      }
    }
    members.push_back(std::move(member));
  }
  return members;
}

std::vector<PopulationMember> load_population_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw SweepError(file.string(), "(file)", "cannot be read (does the file exist?)");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_population_file(text.str(), file.string());
}

std::vector<std::vector<std::size_t>> population_groups(const std::vector<std::string>& keys,
                                                        const std::vector<std::string>& seeds, int jobs, int max_size) {
  if (seeds.size() != keys.size()) throw std::invalid_argument("population_groups: one seed per key is needed");
  std::vector<std::vector<std::size_t>> groups;
  std::vector<std::pair<std::string, std::vector<std::size_t>>> by_key;  // in order of first appearance
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].empty() || max_size <= 1) {
      groups.push_back({i});
      continue;
    }
    auto it = std::find_if(by_key.begin(), by_key.end(), [&](const auto& e) { return e.first == keys[i]; });
    if (it == by_key.end()) it = by_key.insert(by_key.end(), {keys[i], {}});
    it->second.push_back(i);
  }
  const auto j = static_cast<std::size_t>(std::max(1, jobs));
  const auto cap = static_cast<std::size_t>(std::max(1, max_size));
  for (auto& [key, members] : by_key) {
    std::stable_sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) { return seeds[a] < seeds[b]; });
    const std::size_t n = members.size();
    std::size_t count = std::max(j, (n + cap - 1) / cap);  // at least one group per job
    count = std::min(n, (count + j - 1) / j * j);          // a multiple of the jobs, at most one run each
    const std::size_t size = (n + count - 1) / count;
    for (std::size_t first = 0; first < n; first += size)
      groups.emplace_back(members.begin() + static_cast<std::ptrdiff_t>(first),
                          members.begin() + static_cast<std::ptrdiff_t>(std::min(n, first + size)));
  }
  return groups;
}

SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& options) {
  if (options.jobs < 1) throw std::invalid_argument("--jobs must be >= 1");
  if (options.population < 1) throw std::invalid_argument("--population must be >= 1");
  if (options.shards < 1 || options.shard < 0 || options.shard >= options.shards)
    throw std::invalid_argument("--shard must be i/K with 0 <= i < K");
  const auto runs = expand_sweep(spec);
  if (options.validate && options.mpi_rank == 0)
    for (const auto& run : runs) options.validate(spec, run);  // before anything is written
  SweepOutcome outcome;
  std::vector<long long> pending_indices;
  std::unique_ptr<ResultsStore> store_holder;
  if (options.mpi_rank == 0) {
    store_holder = std::make_unique<ResultsStore>(options.out, swept_keys(spec));
    const auto finished = store_holder->load_finished();
    std::filesystem::copy_file(spec.source, options.out / "sweep.toml",
                               std::filesystem::copy_options::overwrite_existing);
    for (const auto& run : runs) {
      if (run.index % static_cast<std::size_t>(options.shards) != static_cast<std::size_t>(options.shard)) continue;
      ++outcome.total;
      if (finished.count(run.id) != 0) ++outcome.skipped;
      else pending_indices.push_back(static_cast<long long>(run.index));
    }
  }
#ifdef MUELAB_HAVE_MPI
  if (options.mpi_size > 1) {  // every rank works on rank 0's view of what is still pending
    long long count = static_cast<long long>(pending_indices.size());
    MPI_Bcast(&count, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    pending_indices.resize(static_cast<std::size_t>(count));
    MPI_Bcast(pending_indices.data(), static_cast<int>(count), MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  }
#endif
  std::vector<const SweepRun*> pending;
  for (const auto index : pending_indices) pending.push_back(&runs[static_cast<std::size_t>(index)]);
  const auto groups = make_groups(spec, options, pending);  // the same on every rank
#ifdef MUELAB_HAVE_MPI
  if (options.mpi_rank != 0) {
    work_for_rank0(spec, options, groups);
    return outcome;
  }
#endif
  const ResultsStore& store = *store_holder;
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

  const auto record = [&](const SweepRun& run, const RunResult& result) {
    store.append(run, result.status, result.exit_code, result.summary);
    ++outcome.ran;
    if (result.status == "ok") ++outcome.ok;
    else if (result.status == "diverged") ++outcome.diverged;
    else {
      ++outcome.failed;
      if (!tty) std::cerr << fmt::format("sweep {}: run {} failed (exit {}), log: {}\n", spec.name, run.id, result.exit_code,
                                         (options.out / "logs" / (run.id + ".log")).string());
    }
    progress();
  };

  std::map<pid_t, const Group*> running;
  std::size_t next = 0;
#ifdef MUELAB_HAVE_MPI
  if (options.mpi_size > 1) {
    coordinate_mpi(spec, options, groups, record);
    next = groups.size();
  }
#endif
  while (next < groups.size() || !running.empty()) {
    while (next < groups.size() && running.size() < static_cast<std::size_t>(options.jobs)) {
      const Group* group = &groups[next++];
      running[start_group(spec, *group, options.out)] = group;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    const Group* group = it->second;
    running.erase(it);
    const auto results = collect_group(*group, status, options.out);
    for (std::size_t m = 0; m < group->size(); ++m) record(*(*group)[m], results[m]);
  }
  if (tty) std::cerr << "\n";
  return outcome;
}

MpiSession::MpiSession() {
#ifdef MUELAB_HAVE_MPI
  const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr ||
                        std::getenv("PMIX_RANK") != nullptr;
  if (!launched) return;
  MPI_Init(nullptr, nullptr);
  initialized_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
#endif
}

MpiSession::~MpiSession() {
#ifdef MUELAB_HAVE_MPI
  if (initialized_) MPI_Finalize();
#endif
}

bool MpiSession::compiled_in() {
#ifdef MUELAB_HAVE_MPI
  return true;
#else
  return false;
#endif
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
      "exec '{exe}' sweep --config '{config}' --out '{out}' --jobs {jobs} --population {population} "
      "--shard \"${{SLURM_ARRAY_TASK_ID}}/{tasks}\"\n",
      fmt::arg("name", spec.name), fmt::arg("out", std::filesystem::absolute(options.out).string()),
      fmt::arg("last", array_tasks - 1), fmt::arg("jobs", options.jobs), fmt::arg("population", options.population),
      fmt::arg("exe", muelab_executable), fmt::arg("config", std::filesystem::absolute(spec.source).string()),
      fmt::arg("tasks", array_tasks));
}

}  // namespace muelab::experiments
