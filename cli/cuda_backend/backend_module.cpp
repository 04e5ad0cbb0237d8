// The CUDA backend module (cuda_backend.hpp): models/cuda behind one exported C symbol.
#include "cuda_backend.hpp"

#include "muelab/models/cuda/device.hpp"
#include "muelab/models/cuda/trainer.hpp"

namespace {

muelab::cli::CudaDeviceCheck query_device() {
  const auto status = muelab::models::cuda::query_device();
  return {status.usable, status.message};
}

const muelab::cli::CudaBackendTable kTable{muelab::cli::CudaBackendTable::kVersion, &query_device,
                                           &muelab::models::cuda::train};

}  // namespace

extern "C" [[gnu::visibility("default")]] const muelab::cli::CudaBackendTable* muelab_cuda_backend_table() {
  return &kTable;
}
