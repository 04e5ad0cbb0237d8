// The training run, backend-neutral: a run config (TOML) resolved through the transfer engine
// (target and base configs, rule, per-group hyperparameters), the trainer's own tables ([transfer],
// [data], [schedule], [trainer]) and the data source it names (see models/cpu/README.md for the schema).
#pragma once

#include "muelab/models/core/data.hpp"
#include "muelab/models/core/schedule.hpp"
#include "muelab/models/core/spec.hpp"
#include "muelab/theory/config_loader.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace muelab::models {

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
  std::string source = "fortunes";  ///< "fortunes" | "markov" | "markov-k"
  std::string path = "/usr/share/games/fortunes";
  std::int64_t validation_every = 10;
  std::int64_t markov_states = 32;
  double markov_temperature = 1.0;
  std::uint64_t markov_seed = 7;
  std::int64_t markov_order = 2;  ///< k of "markov-k" (states^(k+1) ≤ kMarkovKMaxTable)
  /// Whether two runs read the same token stream (same source and the same parameters of it).
  [[nodiscard]] bool same_source(const DataOptions& other) const;
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

}  // namespace muelab::models
