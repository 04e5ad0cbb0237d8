// The training loop on the CUDA backend: same run config, same data batches (keyed by seed and
// step), same output files as models/cpu's `train` (models/core's recorder; log.csv columns
// identical, the per-group update_rms columns stay empty on this backend). Throws CudaError when no
// device is usable.
#pragma once

#include "muelab/models/core/recorder.hpp"
#include "muelab/models/core/run_config.hpp"

#include <filesystem>

namespace muelab::models::cuda {

models::TrainSummary train(const models::TrainRun& run, const models::TokenSource& data,
                           const std::filesystem::path& out_dir);

}  // namespace muelab::models::cuda
