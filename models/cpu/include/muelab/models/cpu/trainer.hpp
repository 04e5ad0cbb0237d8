// The CPU training loop: a TrainRun (models/core) on the CPU reference model, writing log.csv,
// periodic validation loss and summary.json through the shared TrainingRecorder.
#pragma once

#include "muelab/models/core/recorder.hpp"
#include "muelab/models/core/run_config.hpp"
#include "muelab/models/cpu/model.hpp"
#include "muelab/models/cpu/optimizer.hpp"

#include <filesystem>

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

}  // namespace muelab::models::cpu
