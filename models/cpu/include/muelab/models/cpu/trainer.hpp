// The CPU training loop: a TrainRun (models/core) on the CPU reference model, writing log.csv,
// periodic validation loss and summary.json through the shared TrainingRecorder.
#pragma once

#include "muelab/models/core/recorder.hpp"
#include "muelab/models/core/run_config.hpp"
#include "muelab/models/cpu/model.hpp"
#include "muelab/models/cpu/optimizer.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace muelab::models::cpu {

// The backend-neutral pieces, under the names the CPU backend's users know.
using models::DataError;
using models::DataOptions;
using models::hyperparameters_json_text;
using models::load_train_run;
using models::make_token_source;
using models::mean_validation_loss;
using models::parse_train_run;
using models::summary_json_text;
using models::TokenBatch;
using models::TokenSource;
using models::trainer_tables;
using models::TrainerOptions;
using models::TrainingRecorder;
using models::TrainRun;
using models::TrainSummary;

/// Runs the training and writes resolved_config.toml, hyperparameters.json, log.csv and
/// summary.json into out_dir (created). The data source must come from make_token_source.
TrainSummary train(const TrainRun& run, const TokenSource& data, const std::filesystem::path& out_dir);

/// Population training (docs/development.md §1): K runs in one process, in lockstep — step s of every
/// member before step s + 1 of any — each with its own model, optimizer and output folder, drawing each
/// step's batch once for all members that share (trainer.seed, batch shape). Every member's outputs are
/// those of `train` on the same run, bit for bit (each member's operations are the same, in the same
/// order; tests/models/test_population.cpp); wall_time_s and tokens_per_s count the member's own steps.
/// The runs must share the data source, trainer.threads and trainer.double_precision (else
/// std::invalid_argument naming the field); steps may differ (a member leaves at its last step or when
/// it diverges).
std::vector<TrainSummary> train_population(const std::vector<TrainRun>& runs, const TokenSource& data,
                                           const std::vector<std::filesystem::path>& out_dirs);

/// Why `runs` cannot train as one population ("" when they can): the first field that differs.
[[nodiscard]] std::string population_mismatch(const std::vector<TrainRun>& runs);

/// The fields a population's members must share, as one string: runs with equal keys can train together.
[[nodiscard]] std::string population_key(const TrainRun& run);

}  // namespace muelab::models::cpu
