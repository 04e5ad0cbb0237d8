// The training run: a run config (TOML) resolved through the transfer engine, then the loop that
// writes log.csv, periodic validation loss and summary.json (see models/cpu/README.md for the schema).
#pragma once

#include "muelab/models/cpu/data.hpp"
#include "muelab/models/cpu/model.hpp"
#include "muelab/models/cpu/optimizer.hpp"
#include "muelab/theory/config_loader.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace muelab::models::cpu {

struct TrainerOptions {
  std::uint64_t seed = 1;
  int threads = 1;
  std::int64_t eval_interval = 50;
  std::int64_t eval_batches = 4;
  /// log.csv gets a row every log_interval steps (and at every eval step, the last step and a
  /// divergence); on the CUDA backend the diagnostics cross to the host only at those steps.
  std::int64_t log_interval = 1;
  bool double_precision = false;  ///< dtype = "float" | "double"
};

struct DataOptions {
  std::string source = "fortunes";  ///< "fortunes" | "markov"
  std::string path = "/usr/share/games/fortunes";
  std::int64_t validation_every = 10;
  std::int64_t markov_states = 32;
  double markov_temperature = 1.0;
  std::uint64_t markov_seed = 7;
};

struct TrainRun {
  theory::RunConfig target;
  theory::RunConfig base;
  theory::RuleSource rule = theory::RuleSource::complete_mue;
  theory::TransferResult transfer;
  ArchitectureOptions architecture;
  DataOptions data;
  Schedule schedule;
  TrainerOptions trainer;
  std::string resolved_toml;  ///< the config after overrides, as written beside the results
};

/// The tables the trainer reads itself (passed to theory's loader as extra tables).
[[nodiscard]] const std::vector<std::string>& trainer_tables();

/// Parses and validates a run config; throws theory::ConfigError (one line naming the field and the
/// accepted values) on any problem. `overrides` are "table.key=value".
[[nodiscard]] TrainRun load_train_run(const std::filesystem::path& file, const std::vector<std::string>& overrides);
[[nodiscard]] TrainRun parse_train_run(const std::string& toml_text, const std::string& source_name,
                                       const std::filesystem::path& base_directory,
                                       const std::vector<std::string>& overrides);

/// Builds the data source (throws DataError naming data.path when the text is missing).
[[nodiscard]] std::unique_ptr<TokenSource> make_token_source(const DataOptions& data);

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

/// Runs the training and writes resolved_config.toml, hyperparameters.json, log.csv and
/// summary.json into out_dir (created). The data source must come from make_token_source.
TrainSummary train(const TrainRun& run, const TokenSource& data, const std::filesystem::path& out_dir);

// Pieces of the output every backend writes the same way (the CUDA backend's loop reuses them).
/// hyperparameters.json: every group's resolved init std, multiplier, LR, WD, eps, betas; A, R.
[[nodiscard]] std::string hyperparameters_json_text(const TrainRun& run);
/// summary.json for a finished run; `device` is "cpu" or the CUDA device's description.
[[nodiscard]] std::string summary_json_text(const TrainRun& run, const TrainSummary& summary, const TokenSource& data,
                                            const std::string& device);

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
  TrainSummary finish(const TokenSource& data, const std::string& device);

 private:
  const TrainRun& run_;
  std::filesystem::path out_dir_;
  std::vector<theory::ParameterGroup> groups_;
  double kappa_ = 0.0;
  std::ofstream log_;
  TrainSummary summary_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace muelab::models::cpu
