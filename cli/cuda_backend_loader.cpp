// Opens the CUDA backend module (cuda_backend/cuda_backend.hpp; docs/development.md §1).
#include "cuda_backend/cuda_backend.hpp"
#include "executable_path.hpp"

#include <dlfcn.h>

#include <system_error>
#include <vector>

namespace muelab::cli {

namespace {

#if defined(MUELAB_CUDA_BACKEND_MODULE)
LoadedCudaBackend open_module() {
  const auto folder = executable_path().parent_path();
  // Build tree: beside the executable. Installed: the library folder relative to the binary folder.
  const std::vector<std::filesystem::path> candidates = {
      folder / MUELAB_CUDA_BACKEND_MODULE, folder / MUELAB_CUDA_BACKEND_INSTALL_RELDIR / MUELAB_CUDA_BACKEND_MODULE};
  std::string errors;
  for (const auto& path : candidates) {
    if (!std::filesystem::exists(path)) continue;
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      errors += path.string() + ": " + (why != nullptr ? why : "dlopen failed") + "; ";
      continue;
    }
    using Entry = const CudaBackendTable* (*)();
    const auto entry = reinterpret_cast<Entry>(dlsym(handle, kCudaBackendEntry));
    const CudaBackendTable* table = entry != nullptr ? entry() : nullptr;
    if (table == nullptr || table->version != CudaBackendTable::kVersion) {
      errors += path.string() + ": not a CUDA backend module of this muelab version; ";
      continue;
    }
    return {table, ""};
  }
  if (errors.empty())
    errors = "no " MUELAB_CUDA_BACKEND_MODULE " beside the muelab executable or in its library folder; ";
  errors.resize(errors.size() - 2);
  return {nullptr, "the CUDA backend module could not be loaded (" + errors + ")"};
}
#endif

}  // namespace

LoadedCudaBackend load_cuda_backend() {
#if defined(MUELAB_CUDA_BACKEND_MODULE)
  static const LoadedCudaBackend loaded = open_module();
  return loaded;
#else
  return {nullptr, "this muelab was built without CUDA (no nvcc at configure time)"};
#endif
}

}  // namespace muelab::cli
