// In-process LR/WD sweeps of many curves under the one edge policy (docs/claims.md, "Optima at a grid
// edge"): every curve starts on its declared grid; a curve whose seed-mean loss is smallest at an end
// gets half-octave points on that side (at most 4) until its optimum is interior. Identical training
// runs (same resolved config, seed, step count) are trained once across curves and rounds. Each finished
// run is journalled (run_journal.hpp), so running the same command again after an interruption resumes,
// and, when the experiment driver names one, kept in the profile's shared run cache, so a run that
// another experiment already trained under the same code and kernels is read back instead of trained.
#pragma once

#include "common.hpp"

#include "muelab/experiments/grid_policy.hpp"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace muelab::experiments::transformer {

/// One trained run of a curve: its swept value (log2), seed index and final validation loss (+inf
/// when diverged).
struct SweepRun {
  double log2_x = 0.0;
  int seed = 0;
  double loss = 0.0;
};

struct EdgeSweepResult {
  std::vector<SweptCurve> curves;           ///< per curve: grid and seed-mean loss after the policy
  std::vector<std::vector<SweepRun>> runs;  ///< per curve: every (value, seed) run, in training order
  std::size_t requested = 0, trained = 0;   ///< runs asked for / actually trained (after dedupe)
  std::size_t resumed = 0;  ///< of `trained`, runs read back from an interrupted attempt's resume journal
  std::size_t cached = 0;   ///< of `trained`, runs read back from the shared run cache (another experiment's)
};

/// `job_at(curve, log2_x, seed)` builds the job of one run. `initial_grids[c]` is curve c's declared
/// grid (log2, ascending). Finished runs are journalled beside `scratch` (journal_path) under
/// `journal_revision` (empty: this build's source revision; tests pass a fixed one). `memo`, when given,
/// keeps fingerprint → loss across calls (an experiment that sweeps again with more curves).
/// `run_cache`, when not empty, is the shared run cache (a RunJournal file read and appended under the
/// same revision and kernel tag; docs/development.md §4, "Runs shared between experiments").
[[nodiscard]] EdgeSweepResult sweep_curves_until_interior(
    const std::vector<std::vector<double>>& initial_grids, int seeds,
    const std::function<Job(std::size_t curve, double log2_x, int seed)>& job_at, const EdgePolicy& policy,
    const std::filesystem::path& scratch, int threads, const std::string& label,
    const std::string& journal_revision = "", std::map<std::string, double>* memo = nullptr,
    const std::filesystem::path& run_cache = {});

/// The same for an experiment's driver options: scratch `o.out_dir / "scratch"`, `o.threads` trainer
/// threads, this build's revision and the driver's run cache `o.run_cache`.
[[nodiscard]] EdgeSweepResult sweep_curves_until_interior(
    const std::vector<std::vector<double>>& initial_grids, int seeds,
    const std::function<Job(std::size_t curve, double log2_x, int seed)>& job_at, const EdgePolicy& policy,
    const ExperimentOptions& o, const std::string& label, std::map<std::string, double>* memo = nullptr);

/// The key under which two jobs are the same training run: their resolved transfer (every group's
/// init, multiplier, LR, WD, ε, β and the MoE and architecture multipliers), shape, seed, base LR, WD,
/// step count, the [trainer] architecture switches and schedule (trainable gains, balancing), and the
/// rest of what the trainer reads: activation and biases, batch and sequence length, the data source
/// with every parameter of it, the evaluation settings and the dtype. Shared between experiments
/// through the run cache, so it must name everything that changes a run's numbers.
[[nodiscard]] std::string run_fingerprint(const Job& job);

/// The kernels a run's numbers depend on besides the source revision: the trainer's instruction set,
/// its GEMM engine, and OPENBLAS_CORETYPE when the engine is OpenBLAS (e.g. "avx512 onednn"). Journals
/// and the run cache are keyed by revision and this tag, so runs from another machine kind are retrained.
[[nodiscard]] std::string kernel_tag();

}  // namespace muelab::experiments::transformer
