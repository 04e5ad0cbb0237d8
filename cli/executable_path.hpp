#pragma once
// The running `muelab` binary's own path (/proc/self/exe): `muelab sweep` launches it for each run, and
// `train --device` looks for the CUDA backend module beside it. Empty when it cannot be read.
#include <filesystem>
#include <system_error>

namespace muelab::cli {

inline std::filesystem::path executable_path() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::path() : path;
}

}  // namespace muelab::cli
