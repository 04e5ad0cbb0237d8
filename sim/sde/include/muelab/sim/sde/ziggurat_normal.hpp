// Fast standard normals from the shared counter-based RNG (CounterRng::bits, Philox4x64-10): the
// Marsaglia–Tsang ziggurat in Doornik's ZIGNOR form (128 layers, R = 3.442619855899,
// V = 9.91256303526217e-3; J. A. Doornik, "An Improved Ziggurat Method to Generate Normal Random
// Samples", 2005). Brownian increments are the hot loop of every SDE ensemble (bench/sde): Box–Muller
// costs a log, a sqrt and a sincos per pair, the ziggurat one table compare per sample in ~98.8% of
// cases.
//
// Counter layout, so that a normal depends only on its key and never on the thread or the order of
// draws (developers' guide: determinism): normal k of the sub-stream (a, b) takes the 64-bit word k
// of the blocks bits(a, b, 0, ·) — its top 53 bits give the uniform u, its low 7 bits the layer.
// The rare rejections (~1.2%) continue on the private sub-stream bits(a, b, 2^32 + k, ·), word by word;
// counters c in [1, 2^32) stay free for the caller (BrownianPath's auxiliary signs use c = 1).
#pragma once

#include "muelab/sim/counter_rng.hpp"

#include <array>
#include <cmath>
#include <cstdint>

namespace muelab::sim::sde {

inline constexpr std::uint64_t kRejectionStreamOffset = std::uint64_t{1} << 32;

namespace detail {

struct ZigguratTables {
  static constexpr int layers = 128;
  static constexpr double tail_start = 3.442619855899;         ///< R: start of the tail
  static constexpr double layer_area = 9.91256303526217e-3;    ///< V: area of each layer
  std::array<double, layers + 1> x{};                          ///< layer edges, x[0] = V/f(R), x[1] = R
  std::array<double, layers> ratio{};                          ///< x[i+1]/x[i]: inner-rectangle test

  ZigguratTables() {
    double f = std::exp(-0.5 * tail_start * tail_start);
    x[0] = layer_area / f;
    x[1] = tail_start;
    x[layers] = 0.0;
    for (int i = 2; i < layers; ++i) {
      const auto s = static_cast<std::size_t>(i);
      x[s] = std::sqrt(-2.0 * std::log(layer_area / x[s - 1] + f));
      f = std::exp(-0.5 * x[s] * x[s]);
    }
    for (std::size_t i = 0; i < static_cast<std::size_t>(layers); ++i) ratio[i] = x[i + 1] / x[i];
  }
};

inline const ZigguratTables& ziggurat_tables() {
  static const ZigguratTables tables;
  return tables;
}

/// Sequential words of one private sub-stream (a, b, c), used only after a rejection.
class WordStream {
 public:
  WordStream(const CounterRng& rng, std::uint64_t a, std::uint64_t b, std::uint64_t c)
      : rng_(&rng), a_(a), b_(b), c_(c) {}
  std::uint64_t next() {
    if (used_ % 4 == 0) block_ = rng_->bits(a_, b_, c_, used_ / 4);
    return block_[used_++ % 4];
  }
  double next_uniform() { return CounterRng::to_open_unit(next()); }

 private:
  const CounterRng* rng_;
  std::uint64_t a_, b_, c_;
  std::uint64_t used_ = 0;
  std::array<std::uint64_t, 4> block_{};
};

/// The slow branch: wedge test, tail, and fresh tries from the private stream.
inline double ziggurat_slow(const ZigguratTables& z, std::uint64_t word, WordStream& more) {
  for (;;) {
    const double u = 2.0 * CounterRng::to_open_unit(word) - 1.0;
    const auto i = static_cast<std::size_t>(word & 0x7Fu);
    if (std::abs(u) < z.ratio[i]) return u * z.x[i];
    if (i == 0) {  // tail beyond R (Marsaglia 1964)
      double tx = 0.0, ty = 0.0;
      do {
        tx = std::log(more.next_uniform()) / ZigguratTables::tail_start;
        ty = std::log(more.next_uniform());
      } while (-2.0 * ty < tx * tx);
      return u < 0.0 ? tx - ZigguratTables::tail_start : ZigguratTables::tail_start - tx;
    }
    const double xv = u * z.x[i];
    const double f0 = std::exp(-0.5 * (z.x[i] * z.x[i] - xv * xv));
    const double f1 = std::exp(-0.5 * (z.x[i + 1] * z.x[i + 1] - xv * xv));
    if (f1 + more.next_uniform() * (f0 - f1) < 1.0) return xv;
    word = more.next();
  }
}

}  // namespace detail

/// out[k] = scale × (normal k of the sub-stream (a, b)), k = 0..n−1, n = out.size().
template <class Vector>
void fill_ziggurat_normal(const CounterRng& rng, std::uint64_t a, std::uint64_t b, Vector& out, double scale = 1.0) {
  const auto& z = detail::ziggurat_tables();
  const auto n = static_cast<std::uint64_t>(out.size());
  for (std::uint64_t block = 0; 4 * block < n; ++block) {
    const auto words = rng.bits(a, b, 0, block);
    const std::uint64_t count = n - 4 * block < 4 ? n - 4 * block : 4;
    for (std::uint64_t lane = 0; lane < count; ++lane) {
      const std::uint64_t word = words[lane];
      const std::uint64_t k = 4 * block + lane;
      const double u = 2.0 * CounterRng::to_open_unit(word) - 1.0;
      const auto i = static_cast<std::size_t>(word & 0x7Fu);
      double value;
      if (std::abs(u) < z.ratio[i]) [[likely]] {
        value = u * z.x[i];
      } else {
        detail::WordStream more(rng, a, b, kRejectionStreamOffset + k);
        value = detail::ziggurat_slow(z, word, more);
      }
      out[static_cast<decltype(out.size())>(k)] = scale * value;
    }
  }
}

}  // namespace muelab::sim::sde
