// The ziggurat of BatchedNormalRng (sim/common/include/muelab/sim/batched_normal_rng.hpp): its tables
// and its rejection path. Both are scalar and compiled once, without FMA contraction (sim/CMakeLists.txt),
// from plain IEEE arithmetic and the header's deterministic exp/log: the tables and every redrawn
// normal have the same bits on every machine and for every SIMD variant of the fast path.
#include "muelab/sim/batched_normal_rng.hpp"

#include <cmath>

namespace muelab::sim::ziggurat {

namespace {

/// Marsaglia and Tsang's construction (J. Stat. Softw. 5(8), 2000, §2) for 1024 layers and a 52-bit
/// magnitude: from x_1023 = R down, x_{i−1} = f⁻¹(V/x_i + f(x_i)), f(x) = e^{−x²/2}.
Tables build_tables() {
  constexpr double two_52 = 0x1.0p52;
  constexpr int top = Tables::kLayers - 1;
  Tables t{};
  double edge = Tables::kTailStart;
  const double f_tail = vector_math::exp_nonpositive(-0.5 * edge * edge);
  const double base_width = Tables::kLayerArea / f_tail;  // the base strip as one rectangle of area V
  t.layer[0].accept = std::floor(edge / base_width * two_52);
  t.layer[0].width = base_width / two_52;
  t.height[0] = 1.0;
  t.layer[top].width = edge / two_52;
  t.height[top] = f_tail;
  for (int i = top - 1; i >= 1; --i) {
    const double inner = std::sqrt(
        -2.0 * vector_math::log_positive(Tables::kLayerArea / edge + vector_math::exp_nonpositive(-0.5 * edge * edge)));
    t.layer[i + 1].accept = std::floor(inner / edge * two_52);
    edge = inner;
    t.height[i] = vector_math::exp_nonpositive(-0.5 * edge * edge);
    t.layer[i].width = edge / two_52;
  }
  t.layer[1].accept = 0.0;  // layer 1 lies wholly above f(x_1): every candidate takes the wedge test
  return t;
}

}  // namespace

const Tables& tables() {
  static const Tables built = build_tables();
  return built;
}

double redraw(std::uint32_t key0, std::uint32_t key1, std::uint32_t stream, std::uint32_t a, std::uint32_t b,
              std::uint32_t k, std::uint32_t hi, std::uint32_t lo) {
  const Tables& t = tables();
  // The candidate: layer, sign and magnitude of the word that the fast path rejected.
  std::uint32_t layer = lo & Tables::kLayerMask;
  bool negative = (lo & Tables::kSignBit) != 0;
  double x = magnitude(hi, lo) * t.layer[layer].width;
  // 2^7 attempts: each succeeds with probability > ½, so running out has probability < 2^-127.
  for (std::uint32_t attempt = 0; attempt < 128; ++attempt) {
    std::uint32_t w0 = 0x80000000u | (attempt << 24) | k, w1 = b, w2 = a, w3 = stream;
    philox4x32::bijection(&w0, &w1, &w2, &w3, 1, key0, key1);
    if (layer == 0) {  // x ≥ R: the tail beyond R (Marsaglia 1964), by two uniforms per attempt
      const double tail = -vector_math::log_positive(vector_math::open_unit_from_words(w0, w1)) / Tables::kTailStart;
      const double y = -vector_math::log_positive(vector_math::open_unit_from_words(w2, w3));
      if (y + y > tail * tail) return negative ? -(Tables::kTailStart + tail) : Tables::kTailStart + tail;
      continue;
    }
    // The wedge of layer i: accept x under the density at a uniform height in [f(x_i), f(x_{i−1})].
    const double height =
        t.height[layer] + vector_math::open_unit_from_words(w0, w1) * (t.height[layer - 1] - t.height[layer]);
    if (height < vector_math::exp_nonpositive(-0.5 * x * x)) return negative ? -x : x;
    // Rejected: a fresh candidate from the block's second word, through the fast-path test first.
    layer = w3 & Tables::kLayerMask;
    negative = (w3 & Tables::kSignBit) != 0;
    const double u = magnitude(w2, w3);
    x = u * t.layer[layer].width;
    if (u < t.layer[layer].accept) return negative ? -x : x;
  }
  return negative ? -x : x;
}

}  // namespace muelab::sim::ziggurat
