// Device discovery for the CUDA backend. Never throws and never aborts: a CUDA build on a machine
// without a driver ("driver insufficient") or without a GPU reports "no device" with one clear line.
#pragma once

#include <string>

namespace muelab::models::cuda {

struct DeviceStatus {
  bool usable = false;        ///< a device exists and the runtime can talk to it
  int count = 0;              ///< devices visible
  std::string name;           ///< device 0
  int compute_major = 0, compute_minor = 0;
  int multiprocessors = 0;
  double memory_gib = 0.0;
  double clock_ghz = 0.0;     ///< SM clock (peak estimates in the benchmark)
  std::string message;        ///< one line: what was found, or why there is no usable device
};

/// Queries device 0 through the CUDA runtime.
[[nodiscard]] DeviceStatus query_device();

}  // namespace muelab::models::cuda
