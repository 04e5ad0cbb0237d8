// Shared by the files of the CUDA parity suite (tests/cuda/test_parity_<stage>.cpp, one per stage
// of the CUDA backend, and parity_main.cpp): the seed, the random draws, the precision-dependent
// tolerance and CHECK_PARITY, and the expert segments of the grouped-GEMM and permutation tests.
//
// CUDA-vs-CPU parity suite (Ginkgo style): one test body per stage, instantiated for float and
// double, run on the CUDA backend against the CPU reference (models/cpu and the shared row
// functions it calls) with precision-dependent tolerances, odd sizes, forced ties and every
// expert hit. Without a usable device every "cuda parity:" test exits with code 77 after one
// visible line, which CTest reports as "Skipped" (SKIP_RETURN_CODE 77); listing tests works
// without a device. The "cuda host:" tests run the CUDA backend's device-side logic that has a
// host form (the grouped GEMM's tile schedule through shared/grouped_gemm.hpp, the permutation
// offsets, the aux-loss rows) on the CPU, device or not.
#pragma once

#include <catch2/catch.hpp>

#include "muelab/models/cuda/kernels.hpp"
#include "muelab/models/shared/kernels.hpp"
#include "muelab/sim/counter_rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mc = muelab::models::cuda;
namespace sh = muelab::models::shared;
using sh::index_t;

inline constexpr std::uint64_t kSeed = 20261123;

/// Relative tolerance per precision: rounding of O(100)-term sums in a different order (cuBLAS),
/// with headroom; per-row stages share the CPU's summation order and are checked bit-for-bit where noted.
template <class T>
constexpr double tolerance() {
  return sizeof(T) == 4 ? 2e-5 : 1e-12;
}

template <class T>
std::vector<T> draws(std::size_t count, std::uint64_t stream, double scale = 1.0) {
  const muelab::sim::CounterRng rng(kSeed, stream);
  std::vector<double> z(count);
  rng.fill_normal(z, 0, 0, 0);
  std::vector<T> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<T>(scale * z[i]);
  return out;
}

/// max |got − want| / max(max |want|, tiny): an error relative to the array's scale.
template <class T>
double relative_error(const std::vector<T>& got, const std::vector<T>& want) {
  REQUIRE(got.size() == want.size());
  double worst = 0.0, scale = 1e-300;
  for (std::size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i])));
    scale = std::max(scale, std::abs(static_cast<double>(want[i])));
  }
  return worst / scale;
}

#define CHECK_PARITY(got, want, tol)                                                                             \
  do {                                                                                                           \
    const double err_ = relative_error(got, want);                                                               \
    INFO(#got " vs " #want ": relative error " << err_ << " (tolerance " << (tol) << ", seed " << kSeed << ")"); \
    CHECK(err_ <= (tol));                                                                                        \
  } while (false)

/// Expert segments that straddle the 64-row tiles: empty, 1, 63, 64, 65, 130 rows (and a 7th of 5).
inline const std::vector<index_t> kSegmentRows{0, 1, 63, 64, 65, 130, 5};

inline std::vector<index_t> segment_offsets(const std::vector<index_t>& rows) {
  std::vector<index_t> offsets(rows.size() + 1, 0);
  for (std::size_t g = 0; g < rows.size(); ++g) offsets[g + 1] = offsets[g] + rows[g];
  return offsets;
}
