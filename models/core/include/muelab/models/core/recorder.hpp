// The outputs of a training run, written the same way by every backend (CPU and CUDA): log.csv,
// hyperparameters.json, resolved_config.toml and summary.json, plus the validation loss on batches
// keyed by (seed, batch index) so both backends see the same ones.
#pragma once

#include "muelab/models/core/run_config.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace muelab::models {

/// Diagnostics of one forward pass (every backend fills them).
struct ForwardStats {
  double loss = 0.0;        ///< cross-entropy + auxiliary balance losses
  double ce_loss = 0.0;     ///< cross-entropy only
  std::vector<double> residual_rms;         ///< per block, RMS of the residual stream after it
  /// per block, RMS of the FFN/MoE block's output before the residual multiplier (coord-check's MoE
  /// axes, docs/claims.md `coord-check`); empty where a backend does not measure it (CUDA)
  std::vector<double> ffn_rms;
  std::vector<std::vector<double>> load;    ///< per MoE block, per expert: tokens choosing it / n
};

/// Mean validation cross-entropy over trainer.eval_batches batches keyed by (seed, batch index),
/// for the model of any backend (the same batches on CPU and GPU).
template <class AnyModel>
[[nodiscard]] double mean_validation_loss(AnyModel& model, const TokenSource& data, const TrainRun& run) {
  const auto& tr = run.target.train;
  double total = 0.0;
  for (std::int64_t i = 0; i < run.trainer.eval_batches; ++i) {
    const auto batch = data.validation_batch(run.trainer.seed, i, tr.batch_size, tr.seq_len);
    total += model.forward(batch.tokens, batch.targets, tr.batch_size).ce_loss;
  }
  return total / static_cast<double>(run.trainer.eval_batches);
}

struct TrainSummary {
  std::string status = "ok";  ///< "ok" | "diverged"
  std::int64_t diverged_step = -1;
  std::int64_t steps_done = 0;
  double final_train_loss = 0.0, final_validation_loss = 0.0, best_validation_loss = 0.0;
  double wall_time_s = 0.0, tokens_per_s = 0.0;
};

/// Where a run ran, for summary.json: "cpu" or the CUDA device's description, and the engine of its
/// matrix products. A run is reproducible bit for bit on the same engine, not across engines (they
/// round differently; docs/development.md §1), so the engine belongs to the run's record.
struct RunDevice {
  std::string device;
  std::string gemm_engine;
};

// Pieces of the output every backend writes the same way (the CUDA backend's loop reuses them).
/// hyperparameters.json: every group's resolved init std, multiplier, LR, WD, eps, betas; A, R.
[[nodiscard]] std::string hyperparameters_json_text(const TrainRun& run);
/// summary.json for a finished run.
[[nodiscard]] std::string summary_json_text(const TrainRun& run, const TrainSummary& summary, const TokenSource& data,
                                            const RunDevice& device);

/// The outputs of a training run, kept identically by every backend: it writes resolved_config.toml,
/// hyperparameters.json and the log.csv header on construction; one log row per step (loss, LR, grad
/// norm, per-group update RMS, per-layer activation RMS, per-expert load, max |load − κ|, validation
/// loss at the eval interval); divergence bookkeeping; summary.json at the end.
class TrainingRecorder {
 public:
  TrainingRecorder(const TrainRun& run, const std::filesystem::path& out_dir);
  /// Whether a finite step gets a log.csv row: every trainer.log_interval steps, every eval step, the last step.
  [[nodiscard]] bool logs_step(std::int64_t step) const;
  /// Records a finished step; writes its row when logs_step(step) or the step diverged (update_rms
  /// may be empty: its cells stay blank). Returns false when the step diverged, after writing its
  /// row: the caller stops.
  bool record_step(std::int64_t step, const ForwardStats& stats, double lr_factor, double grad_norm, bool finite,
                   const std::map<theory::ParameterGroup, double>& update_rms,
                   const std::function<double()>& validation_loss);
  /// Timing, tokens/s and summary.json; returns the summary.
  TrainSummary finish(const TokenSource& data, const RunDevice& device);
  /// The same, with the run's own compute time given (a member of a population: the population's wall
  /// time would count the other members' steps too).
  TrainSummary finish(const TokenSource& data, const RunDevice& device, double wall_time_s);

 private:
  const TrainRun& run_;
  std::filesystem::path out_dir_;
  std::vector<theory::ParameterGroup> groups_;
  double kappa_ = 0.0;
  std::ofstream log_;
  TrainSummary summary_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace muelab::models
