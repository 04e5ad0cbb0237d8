// The training loop on the CUDA backend: same run config, same data batches (keyed by seed and
// step), same output files as models/cpu's `train` (log.csv columns identical; the per-group
// update_rms columns stay empty on this backend). Throws CudaError when no device is usable.
#pragma once

#include "muelab/models/cpu/trainer.hpp"

namespace muelab::models::cuda {

cpu::TrainSummary train(const cpu::TrainRun& run, const cpu::TokenSource& data, const std::filesystem::path& out_dir);

}  // namespace muelab::models::cuda
