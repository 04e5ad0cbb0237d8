// Sweeps over any run-config key: a grid (product) plus explicit points, times seeds. Each run is
// a `muelab train` process (or any program with the same --config/--set/--out contract writing
// summary.json), identified by a hash of its resolved config. Finished runs append one row each to
// DIR/results.csv under a file lock; a killed sweep resumes by skipping the ids already there.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace muelab::experiments {

/// A sweep file problem: names the file, the field and what is accepted.
class SweepError : public std::runtime_error {
 public:
  SweepError(const std::string& source, const std::string& field, const std::string& message)
      : std::runtime_error(source + ": field " + field + ": " + message), field_(field) {}
  [[nodiscard]] const std::string& field() const { return field_; }

 private:
  std::string field_;
};

struct SweepSpec {
  std::string name;
  std::filesystem::path source;               ///< the sweep file
  std::filesystem::path run_config;           ///< [sweep] config, resolved against the sweep file's folder
  std::vector<std::string> command;           ///< program + leading arguments; default {muelab, "train"}
  std::vector<std::string> fixed;             ///< [sweep] set: overrides applied to every run
  std::vector<std::pair<std::string, std::vector<std::string>>> grid;  ///< key → TOML values (product)
  std::vector<std::vector<std::pair<std::string, std::string>>> points;  ///< [[points]]
  std::vector<std::string> seeds;             ///< values of `seed_key` (one run per seed)
  std::string seed_key = "trainer.seed";
};

struct SweepRun {
  std::size_t index = 0;
  std::vector<std::pair<std::string, std::string>> values;  ///< swept key → value, in column order
  std::vector<std::string> overrides;                       ///< "key=value" for --set (fixed first)
  std::string id;                                           ///< 16 hex digits
};

/// Whether the run config named by `sweep.config` must exist: running a sweep needs it; reading back
/// the copy a sweep keeps in its results folder (`muelab analyze`) does not, since its relative path
/// pointed beside the original sweep file.
enum class RunConfigCheck { required, not_needed };
[[nodiscard]] SweepSpec load_sweep_spec(const std::filesystem::path& file, RunConfigCheck check = RunConfigCheck::required);
[[nodiscard]] SweepSpec parse_sweep_spec(const std::string& text, const std::filesystem::path& source,
                                         RunConfigCheck check = RunConfigCheck::required);

/// Every run of the sweep, in a deterministic order. The id hashes the run config file's bytes and
/// the sorted overrides, so it is the same on every machine and rank.
[[nodiscard]] std::vector<SweepRun> expand_sweep(const SweepSpec& spec);

/// The swept keys, in column order (grid keys, point keys, then the seed key).
[[nodiscard]] std::vector<std::string> swept_keys(const SweepSpec& spec);

/// FNV-1a 64-bit, as 16 lowercase hex digits.
[[nodiscard]] std::string fnv1a_hex(const std::string& bytes);

/// DIR/results.csv: header `run_id,status,exit_code,<swept keys>,<summary columns>`.
class ResultsStore {
 public:
  ResultsStore(std::filesystem::path dir, std::vector<std::string> swept_keys);
  /// Creates the file with its header if absent, drops a torn last line (no trailing newline) left
  /// by a killed writer, and returns the ids already recorded.
  std::map<std::string, std::string> load_finished() const;
  /// Appends one row atomically (flock + one write); a row whose id is already there is skipped.
  /// Returns false when it was a duplicate.
  bool append(const SweepRun& run, const std::string& status, int exit_code,
              const std::map<std::string, std::string>& summary) const;
  [[nodiscard]] std::filesystem::path path() const { return dir_ / "results.csv"; }
  [[nodiscard]] static const std::vector<std::string>& summary_columns();

 private:
  std::filesystem::path dir_;
  std::vector<std::string> keys_;
};

struct SweepOptions {
  std::filesystem::path out;
  int jobs = 1;
  int shard = 0, shards = 1;  ///< run only index % shards == shard (Slurm array tasks)
  bool progress = true;       ///< a progress line when stderr is a terminal
  int mpi_rank = 0, mpi_size = 1;  ///< from MpiSession: rank 0 hands out runs and writes every row
  /// Checks one run's resolved config before anything is written (throws with a one-line message);
  /// the CLI passes the trainer's own config loader, so a bad key fails the sweep up front.
  std::function<void(const SweepSpec&, const SweepRun&)> validate;
  /// Population training (docs/development.md §1): up to `population` runs share one
  /// `PROGRAM ARGS... --config CFG --population FILE` process when population_key gives them the same
  /// non-empty key (the CLI passes the trainer's own: same threads, dtype and data source). 1, or no
  /// key function (a custom `command`), starts one process per run.
  int population = 1;
  std::function<std::string(const SweepSpec&, const SweepRun&)> population_key;
};

/// One member of a population file (`muelab train --population FILE`, docs/development.md §1): its
/// overrides after the command's own --set, and its output folder.
struct PopulationMember {
  std::vector<std::string> overrides;
  std::string out;
};

/// The population file's text: {"members": [{"set": ["table.key=value", ...], "out": "DIR"}, ...]}.
[[nodiscard]] std::string population_file_text(const std::vector<PopulationMember>& members);

/// Reads a population file's text; a SweepError naming `source` and the field (members, members[i].out,
/// members[i].set) when it is not JSON of that shape or has no member.
[[nodiscard]] std::vector<PopulationMember> parse_population_file(const std::string& text, const std::string& source);

/// Reads and parses a population file (a SweepError naming the file when it cannot be read), as
/// load_sweep_spec does for a sweep file.
[[nodiscard]] std::vector<PopulationMember> load_population_file(const std::filesystem::path& file);

/// The processes a sweep starts: groups of indices into `keys` (one per pending run, in order). Runs
/// with an empty key run alone; runs with equal keys (n of them) are cut into ⌈n / max_size⌉ groups,
/// raised to at least `jobs` and to a multiple of it (so the last round keeps every job busy; at most n),
/// of equal sizes up to one, members taken in order of `seeds` (so that a group's members share batches).
[[nodiscard]] std::vector<std::vector<std::size_t>> population_groups(const std::vector<std::string>& keys,
                                                                      const std::vector<std::string>& seeds, int jobs,
                                                                      int max_size);

struct SweepOutcome {
  std::size_t total = 0, skipped = 0, ran = 0, ok = 0, diverged = 0, failed = 0;
};

/// Runs the sweep on this process with up to `jobs` concurrent runs (or, under mpirun with MPI
/// support compiled in, across ranks with rank 0 gathering the rows).
SweepOutcome run_sweep(const SweepSpec& spec, const SweepOptions& options);

/// MPI for sweeps launched by mpirun (OpenMPI/PMI environment present and MPI compiled in):
/// initializes in the constructor, finalizes in the destructor; rank 0 and size 1 otherwise.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  [[nodiscard]] int rank() const { return rank_; }
  [[nodiscard]] int size() const { return size_; }
  [[nodiscard]] static bool compiled_in();

 private:
  int rank_ = 0, size_ = 1;
  bool initialized_ = false;
};

/// A Slurm job-array script running one shard per array task with the same resume logic.
[[nodiscard]] std::string slurm_script(const SweepSpec& spec, const SweepOptions& options, int array_tasks,
                                       const std::string& muelab_executable);

}  // namespace muelab::experiments
