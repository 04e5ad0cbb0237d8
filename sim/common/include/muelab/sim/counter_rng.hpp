// Counter-based random numbers (Philox4x64-10, Random123) keyed by (seed, stream) and indexed by
// up to three counters (e.g. path, step, component). A draw depends only on its key and counters,
// never on the order in which threads ask for it, so ensembles give bit-identical results for any
// thread count (developers' guide: determinism) and the same stream can be reproduced on a GPU.
#pragma once

#include <Random123/philox.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>

namespace muelab::sim {

class CounterRng {
 public:
  CounterRng(std::uint64_t seed, std::uint64_t stream = 0) : key_{{seed, stream}} {}

  /// Four independent 64-bit words for the counter (a, b, c, block).
  [[nodiscard]] std::array<std::uint64_t, 4> bits(std::uint64_t a, std::uint64_t b, std::uint64_t c,
                                                  std::uint64_t block) const {
    r123::Philox4x64::ctr_type counter{{a, b, c, block}};
    const auto out = r123::Philox4x64()(counter, key_);
    return {out[0], out[1], out[2], out[3]};
  }

  /// Uniform in the open interval (0, 1) with 53 random bits.
  [[nodiscard]] static double to_open_unit(std::uint64_t word) {
    return (static_cast<double>(word >> 11) + 0.5) * 0x1.0p-53;
  }

  /// The k-th uniform of the (a, b, c) sub-stream, in (0, 1).
  [[nodiscard]] double uniform(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t k) const {
    return to_open_unit(bits(a, b, c, k / 4)[k % 4]);
  }

  /// The k-th standard normal of the (a, b, c) sub-stream (Box–Muller on one Philox block:
  /// four uniforms give four normals, so normal k and k^1 share a block).
  [[nodiscard]] double normal(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t k) const {
    const auto w = bits(a, b, c, k / 4);
    const unsigned lane = static_cast<unsigned>(k % 4);
    const unsigned pair = lane / 2;
    const double u1 = to_open_unit(w[2 * pair]);
    const double u2 = to_open_unit(w[2 * pair + 1]);
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * std::numbers::pi * u2;
    return (lane % 2 == 0) ? radius * std::cos(angle) : radius * std::sin(angle);
  }

  /// Fills out[0..n) with the first n standard normals of the (a, b, c) sub-stream.
  template <class Vector>
  void fill_normal(Vector& out, std::uint64_t a, std::uint64_t b, std::uint64_t c) const {
    const auto n = static_cast<std::uint64_t>(out.size());
    for (std::uint64_t block = 0; 4 * block < n; ++block) {
      const auto w = bits(a, b, c, block);
      for (unsigned pair = 0; pair < 2; ++pair) {
        const double radius = std::sqrt(-2.0 * std::log(to_open_unit(w[2 * pair])));
        const double angle = 2.0 * std::numbers::pi * to_open_unit(w[2 * pair + 1]);
        const std::uint64_t k = 4 * block + 2 * pair;
        if (k < n) out[static_cast<decltype(out.size())>(k)] = radius * std::cos(angle);
        if (k + 1 < n) out[static_cast<decltype(out.size())>(k + 1)] = radius * std::sin(angle);
      }
    }
  }

  /// Integer uniform in [0, n) for the k-th draw of the (a, b, c) sub-stream (Lemire-style
  /// multiply-shift on 64 bits; bias below 2^-64 * n, negligible for any n used here).
  [[nodiscard]] std::uint64_t below(std::uint64_t n, std::uint64_t a, std::uint64_t b, std::uint64_t c,
                                    std::uint64_t k) const {
    const std::uint64_t word = bits(a, b, c, k / 4)[k % 4];
    __extension__ using uint128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<uint128>(word) * n) >> 64);
  }

 private:
  r123::Philox4x64::key_type key_;
};

}  // namespace muelab::sim
