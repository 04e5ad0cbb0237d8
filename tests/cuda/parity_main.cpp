// Catch2 runner of the CUDA parity suite (muelab_cuda_parity_tests; the tests are in
// test_parity_<stage>.cpp): without a usable device, every "cuda parity:" test exits with code 77
// (CTest: Skipped) after one visible line; the "cuda host:" tests and listing run anyway.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "muelab/models/cuda/device.hpp"
#include "parity_fixtures.hpp"

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  // Without a device, run only when every test named on the command line is a "cuda host:" test
  // (CTest runs one test per process by name); anything else is skipped with exit code 77.
  bool listing = false, host = false, device = false;
  for (int i = 1; i < argc; ++i) {
    listing = listing || std::strncmp(argv[i], "--list", 6) == 0;
    host = host || std::strncmp(argv[i], "cuda host:", 10) == 0 || std::strcmp(argv[i], "[host]") == 0;
    device = device || std::strncmp(argv[i], "cuda parity", 11) == 0 || std::strstr(argv[i], "[parity]") != nullptr;
  }
  if (!listing && !(host && !device)) {
    const auto status = mc::query_device();
    if (!status.usable) {
      std::printf("SKIPPED: CUDA parity tests need a GPU; %s\n", status.message.c_str());
      return 77;  // CTest SKIP_RETURN_CODE
    }
    std::printf("%s; parity seed %llu\n", status.message.c_str(), static_cast<unsigned long long>(kSeed));
  }
  return Catch::Session().run(argc, argv);
}
