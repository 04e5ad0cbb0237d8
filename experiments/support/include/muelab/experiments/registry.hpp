// The registry of experiment programs. Each experiment library registers its programs in a
// registrar function (see experiments/CMakeLists.txt: muelab_register_experiments); the
// `muelab experiment NAME` command and the per-experiment executables both run them from here.
#pragma once

#include "muelab/experiments/plan.hpp"
#include "muelab/experiments/verdicts.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace muelab::experiments {

struct ExperimentOptions {
  Profile profile = Profile::quick;
  std::uint64_t seed = 7;
  std::filesystem::path out_dir;  ///< created by the driver before run() is called
  int threads = 0;                ///< 0: OpenMP default
  bool plot = true;               ///< draw the figure after the run
  std::string command;            ///< the command line that started the run (written to run.json)
  /// The shared run cache (docs/development.md §4, "Runs shared between experiments"): a file that the
  /// in-process sweeps of every experiment read and append, so a training run that another experiment
  /// already trained under the same clean revision and kernels is read back. Empty: off.
  std::filesystem::path run_cache;
};

struct Experiment {
  std::string name;          ///< stable, kebab-case, e.g. "sgd-sme-weak-order"
  std::string description;   ///< one line
  std::vector<std::string> claims;  ///< docs/theory.md §9 claim ids it writes verdicts for
  std::string plot_script;   ///< path below plots/, run with /usr/bin/python3 PLOT OUT_DIR; may be empty
  /// Runs the experiment, writes CSVs and returns the verdicts (the driver writes verdicts.json).
  std::function<VerdictReport(const ExperimentOptions&)> run;
  /// The declared plan of a profile (grids, seeds, steps, claims with tolerances): written to
  /// plan.json before run() starts. `run` must read its settings from the same function.
  std::function<ExperimentPlan(Profile)> plan = {};
};

class Registry {
 public:
  void add(Experiment experiment);  ///< throws on a duplicate name
  [[nodiscard]] const Experiment* find(const std::string& name) const;
  /// In the order they were added: `muelab figures` and `muelab experiment --all` run them in this
  /// order, so an experiment whose result another one reads is registered before it (capacity-gate
  /// before every experiment on its task).
  [[nodiscard]] std::vector<const Experiment*> all() const;

 private:
  std::map<std::string, Experiment> experiments_;
  std::vector<std::string> order_;  ///< names in the order of add()
};

/// Every experiment linked into this binary (filled by the generated registrar list).
[[nodiscard]] Registry& global_registry();

/// Runs one experiment: creates the output folder, writes plan.json (the declared plan) and run.json
/// (options, command, revision, machine), runs, writes verdicts.json, adds the wall time to run.json,
/// draws the figure, and returns the verdicts.
VerdictReport run_experiment(const Experiment& experiment, const ExperimentOptions& options);

/// A figure script running in the background (start_figure): the main job draws one experiment's
/// figure while the next experiment trains, since a plot is ~1.4 s of Python on one core beside runs
/// that leave part of the other core idle.
struct FigureJob {
  std::string experiment;
  std::filesystem::path out_dir;
  long pid = -1;  ///< -1: nothing was started (no script, or it could not be started)
};

/// Starts `/usr/bin/python3 plots/SCRIPT OUT_DIR` for this experiment without waiting (no shell).
/// Returns a job with pid -1 when the experiment has no figure script or the process could not start
/// (then a warning names the script).
[[nodiscard]] FigureJob start_figure(const Experiment& experiment, const std::filesystem::path& out_dir);

/// Waits for a job of start_figure; false (with a warning naming the script's experiment) when the
/// script failed. A job with pid -1 returns false without waiting.
bool finish_figure(FigureJob& job);

/// Whether `out_dir` holds a finished run (run.json with its wall time, and verdicts.json) made by code
/// at `revision` with this profile and seed: what `muelab figures --resume` skips. A `-dirty` or unknown
/// revision never counts as finished (its code is not what the name says).
[[nodiscard]] bool finished_run(const std::filesystem::path& out_dir, Profile profile, std::uint64_t seed,
                                const std::string& revision);

/// The command line as one string (argv joined with spaces, arguments with spaces quoted).
[[nodiscard]] std::string command_line(int argc, char** argv);

/// `main` of a stand-alone experiment program: parses --profile, --seed, --out, --threads,
/// --no-plot and runs `name` from the global registry. Exit status 0 when every verdict is as
/// expected, 1 when some is not, 2 on bad input.
int experiment_program_main(const std::string& name, int argc, char** argv);

}  // namespace muelab::experiments
