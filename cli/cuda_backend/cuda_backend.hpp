#pragma once
// The CUDA backend as a module the CLI loads only when asked (docs/development.md §1, "The CUDA backend
// module"): linking cuBLAS into `muelab` itself cost every invocation about 0.3 s of library loading
// and static initialisation, on machines with and without a GPU alike. The module fills this table;
// `cuda_backend_loader.cpp` opens it with dlopen. Both sides are built from this tree by one compiler,
// so C++ types cross the boundary; `version` guards against a stale module left beside a new binary.

#include "muelab/models/core/recorder.hpp"
#include "muelab/models/core/run_config.hpp"

#include <filesystem>
#include <string>

namespace muelab::cli {

struct CudaDeviceCheck {
  bool usable = false;
  std::string message;  ///< one line: the device found, or why there is none
};

struct CudaBackendTable {
  static constexpr int kVersion = 1;
  int version = kVersion;
  CudaDeviceCheck (*query_device)() = nullptr;
  models::TrainSummary (*train)(const models::TrainRun& run, const models::TokenSource& data,
                                const std::filesystem::path& out_dir) = nullptr;
};

/// The module's one exported symbol.
inline constexpr const char* kCudaBackendEntry = "muelab_cuda_backend_table";

struct LoadedCudaBackend {
  const CudaBackendTable* table = nullptr;  ///< null when the module could not be loaded
  std::string error;                        ///< why not (one line)
};

/// Opens the module once per process (never closed): next to the executable, then in the install's
/// library folder. Without a CUDA build, `error` says so.
LoadedCudaBackend load_cuda_backend();

}  // namespace muelab::cli
