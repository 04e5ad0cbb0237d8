// Device query: "driver insufficient" (no driver, as on the CPU-only build machines), "no device"
// and every other runtime error become DeviceStatus{usable = false} with one readable line.
#include "muelab/models/cuda/device.hpp"

#include <cuda_runtime_api.h>

#include <sstream>

namespace muelab::models::cuda {

DeviceStatus query_device() {
  DeviceStatus s;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    s.message = std::string("no CUDA device: ") + cudaGetErrorString(err) +
                (err == cudaErrorInsufficientDriver ? " (no NVIDIA driver on this machine)" : "");
    static_cast<void>(cudaGetLastError());  // clear the sticky-free error so later queries start clean
    return s;
  }
  if (count == 0) {
    s.message = "no CUDA device: the runtime sees 0 devices";
    return s;
  }
  cudaDeviceProp prop{};
  if (const cudaError_t e = cudaGetDeviceProperties(&prop, 0); e != cudaSuccess) {
    s.message = std::string("no usable CUDA device: ") + cudaGetErrorString(e);
    return s;
  }
  int clock_khz = 0;
  static_cast<void>(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
  s.usable = true;
  s.count = count;
  s.name = prop.name;
  s.compute_major = prop.major;
  s.compute_minor = prop.minor;
  s.multiprocessors = prop.multiProcessorCount;
  s.memory_gib = static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0);
  s.clock_ghz = static_cast<double>(clock_khz) * 1e-6;
  std::ostringstream line;
  line << "CUDA device 0: " << s.name << " (sm_" << s.compute_major << s.compute_minor << ", " << s.multiprocessors
       << " SMs, " << s.memory_gib << " GiB)";
  s.message = line.str();
  return s;
}

}  // namespace muelab::models::cuda
