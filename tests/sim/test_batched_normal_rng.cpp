// The batched counter-based normal generator (sim/common/include/muelab/sim/batched_normal_rng.hpp):
// Philox4x32-10 against Random123's reference, the polynomial log / exp against libm, the ziggurat's
// tables against their defining areas, every normal against an independent scalar ziggurat written
// from the documented algorithm, the normal moments, KS and chi-square against Φ with tolerances from
// their sampling distributions, and the same bits from every SIMD variant. Every stochastic test
// prints its seed.
#include "muelab/sim/batched_normal_rng.hpp"
#include "muelab/sim/sde/adam_sde_ensemble.hpp"

#include <Random123/philox.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <numbers>
#include <vector>

using namespace muelab::sim;
using muelab::sim::sde::fill_batched_normals;
using muelab::sim::sde::SimdLevel;
using muelab::sim::sde::simd_level_name;
using muelab::sim::sde::simd_level_supported;

namespace {
constexpr std::uint64_t kSeed = 20261123;

double standard_normal_cdf(double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }

}  // namespace

TEST_CASE("Philox4x32-10 matches Random123's known-answer vectors and r123::Philox4x32", "[sim][rng][philox]") {
  // Random123 kat_vectors, philox4x32 10 rounds: (counter, key) -> output.
  struct Kat {
    std::array<std::uint32_t, 4> counter;
    std::array<std::uint32_t, 2> key;
    std::array<std::uint32_t, 4> expected;
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& kat : kats) {
    std::uint32_t c0 = kat.counter[0], c1 = kat.counter[1], c2 = kat.counter[2], c3 = kat.counter[3];
    philox4x32::bijection(&c0, &c1, &c2, &c3, 1, kat.key[0], kat.key[1]);
    REQUIRE(std::array<std::uint32_t, 4>{c0, c1, c2, c3} == kat.expected);
  }
  // Many lanes at once (37: not a multiple of any vector width) against the reference, lane by lane.
  const std::size_t lanes = 37;
  std::vector<std::uint32_t> w0(lanes), w1(lanes), w2(lanes), w3(lanes);
  for (std::size_t i = 0; i < lanes; ++i) {
    w0[i] = static_cast<std::uint32_t>(i * 2654435761u);
    w1[i] = static_cast<std::uint32_t>(i + 17);
    w2[i] = 0xdeadbeefu ^ static_cast<std::uint32_t>(i);
    w3[i] = static_cast<std::uint32_t>(3 * i);
  }
  const auto in0 = w0, in1 = w1, in2 = w2, in3 = w3;
  philox4x32::bijection(w0.data(), w1.data(), w2.data(), w3.data(), lanes, 0x01234567u, 0x89abcdefu);
  for (std::size_t i = 0; i < lanes; ++i) {
    const r123::Philox4x32::ctr_type counter{{in0[i], in1[i], in2[i], in3[i]}};
    const r123::Philox4x32::key_type key{{0x01234567u, 0x89abcdefu}};
    const auto reference = r123::Philox4x32()(counter, key);
    REQUIRE(w0[i] == reference[0]);
    REQUIRE(w1[i] == reference[1]);
    REQUIRE(w2[i] == reference[2]);
    REQUIRE(w3[i] == reference[3]);
  }
  // BatchedNormalRng's keying: key = (seed mod 2^32, seed div 2^32), counter = (j, b, a, stream).
  const BatchedNormalRng rng(0x0123456789abcdefull, 7);
  const auto bits = rng.bits(3, 5, 9);
  const auto reference = r123::Philox4x32()({{3, 9, 5, 7}}, {{0x89abcdefu, 0x01234567u}});
  REQUIRE(bits == std::array<std::uint32_t, 4>{reference[0], reference[1], reference[2], reference[3]});
  REQUIRE(rng.seed() == 0x0123456789abcdefull);
}

#if defined(MUELAB_PHILOX_X86_INTRINSICS)
TEST_CASE("Hand-vectorized Philox equals the reference for every lane count (groups of 32, 8, and the tail)",
          "[sim][rng][philox][simd]") {
  // 1..80 lanes: AVX2 runs four interleaved 8-lane groups, then single groups, then the portable
  // loop; AVX-512 runs two interleaved 16-lane groups, then single groups, then the portable loop.
  // Every path must give r123's bits.
  auto check = [](philox4x32::BijectionFunction bijection, const char* name) {
    for (std::size_t lanes = 1; lanes <= 80; ++lanes) {
      std::vector<std::uint32_t> w0(lanes), w1(lanes), w2(lanes), w3(lanes);
      for (std::size_t i = 0; i < lanes; ++i) {
        w0[i] = static_cast<std::uint32_t>(i * 2654435761u);
        w1[i] = static_cast<std::uint32_t>(lanes + 17);
        w2[i] = 0xdeadbeefu ^ static_cast<std::uint32_t>(i);
        w3[i] = static_cast<std::uint32_t>(3 * i + lanes);
      }
      const auto in0 = w0, in1 = w1, in2 = w2, in3 = w3;
      bijection(w0.data(), w1.data(), w2.data(), w3.data(), lanes, 0x01234567u, 0x89abcdefu);
      for (std::size_t i = 0; i < lanes; ++i) {
        const auto reference = r123::Philox4x32()({{in0[i], in1[i], in2[i], in3[i]}}, {{0x01234567u, 0x89abcdefu}});
        INFO(name << ", lanes = " << lanes << ", lane " << i);
        REQUIRE(std::array<std::uint32_t, 4>{w0[i], w1[i], w2[i], w3[i]} ==
                std::array<std::uint32_t, 4>{reference[0], reference[1], reference[2], reference[3]});
      }
    }
  };
  if (simd_level_supported(SimdLevel::avx2)) check(philox4x32::bijection_avx2, "avx2");
  else std::cout << "simd level avx2 not supported on this CPU: skipped\n";
  if (simd_level_supported(SimdLevel::avx512)) check(philox4x32::bijection_avx512, "avx512");
  else std::cout << "simd level avx512 not supported on this CPU: skipped\n";
}
#endif

TEST_CASE("Polynomial log and exp agree with libm to a few ulp", "[sim][rng][math]") {
  double worst_log = 0.0, worst_exp = 0.0;
  auto check_log = [&](double u) {
    const double reference = std::log(u);
    worst_log = std::max(worst_log, std::abs(vector_math::log_positive(u) - reference) /
                                        std::max(std::abs(reference), std::numeric_limits<double>::min()));
  };
  for (int i = 1; i < 200000; ++i) check_log(static_cast<double>(i) / 200000.0);
  for (int e = 1; e <= 53; ++e) check_log(std::ldexp(1.0, -e) * 1.000000123);  // small u: the tail's logs
  check_log(0x1.0p-54);                                                        // smallest open_unit value
  check_log(1.0 - 0x1.0p-54);
  check_log(1.5);  // the table construction's arguments exceed 1
  auto check_exp = [&](double x) {
    const double reference = std::exp(x);
    worst_exp = std::max(worst_exp, std::abs(vector_math::exp_nonpositive(x) - reference) / reference);
  };
  for (int i = 0; i <= 700000; ++i) check_exp(-static_cast<double>(i) * 1e-3 * 1.0000001);
  for (double x : {0.0, -0.5 * std::numbers::ln2, -std::numbers::ln2, -1e-300, -6.676, -700.0}) check_exp(x);
  // fdlibm's bounds are < 1 ulp; relative 2^-52 allows 2 ulp.
  REQUIRE(worst_log <= 0x1.0p-52);
  REQUIRE(worst_exp <= 0x1.0p-52);
  REQUIRE(vector_math::exp_nonpositive(0.0) == 1.0);
  // The uniform map: 53 bits, open interval, the same map as CounterRng::to_open_unit.
  REQUIRE(vector_math::open_unit_from_words(0, 0) == 0x1.0p-54);
  REQUIRE(vector_math::open_unit_from_words(0xffffffffu, 0xffffffffu) == 1.0 - 0x1.0p-54);
  const std::uint64_t word = 0x9e3779b97f4a7c15ull;
  REQUIRE(vector_math::open_unit_from_words(static_cast<std::uint32_t>(word >> 32), static_cast<std::uint32_t>(word)) ==
          CounterRng::to_open_unit(word));
  // The ziggurat's magnitude: bits 12..63 of the word, exactly.
  REQUIRE(ziggurat::magnitude(0xffffffffu, 0xffffffffu) == 0x1.0p52 - 1.0);
  REQUIRE(ziggurat::magnitude(0x80000000u, 0x00000fffu) == 0x1.0p51);
  REQUIRE(ziggurat::magnitude(0, 0x00001000u) == 1.0);
  REQUIRE(ziggurat::magnitude(static_cast<std::uint32_t>(word >> 32), static_cast<std::uint32_t>(word)) ==
          static_cast<double>(word >> 12));
}

namespace {

/// An independent scalar ziggurat, written from the algorithm in batched_normal_rng.hpp's comments
/// and docs/theory.md §7 with libm's exp/log and its own tables: the oracle for fill_normal.
struct ReferenceZiggurat {
  static constexpr int kLayers = 1024;
  static constexpr double kTail = 4.038849846109504, kArea = 0.0012263246463530893;
  double edge[kLayers]{};  // edge[i] = x_i, i = 1..1023; edge[0] = 0
  double base_width = 0.0;
  long tails = 0, wedges = 0;

  static double f(double x) { return std::exp(-0.5 * x * x); }

  ReferenceZiggurat() {
    edge[kLayers - 1] = kTail;
    for (int i = kLayers - 2; i >= 1; --i) edge[i] = std::sqrt(-2.0 * std::log(kArea / edge[i + 1] + f(edge[i + 1])));
    base_width = kArea / f(kTail);
  }
  double right(int layer) const { return layer == 0 ? base_width : edge[layer]; }
  /// The fast-path test: the candidate lies inside the part of the layer wholly under f.
  bool inside(int layer, double magnitude_52) const {
    const double limit = layer == 0 ? kTail : edge[layer - 1];
    return magnitude_52 < std::floor(limit / right(layer) * 0x1.0p52);
  }
  static double magnitude_52(std::uint32_t hi, std::uint32_t lo) {
    return static_cast<double>(((std::uint64_t{hi} << 32) | lo) >> 12);
  }
  double normal(const BatchedNormalRng& rng, std::uint32_t a, std::uint32_t b, std::uint32_t k, std::uint32_t hi,
                std::uint32_t lo) {
    int layer = static_cast<int>(lo % kLayers);
    bool negative = (lo >> 10) & 1;
    double u = magnitude_52(hi, lo);
    double x = u * (right(layer) / 0x1.0p52);
    if (inside(layer, u)) return negative ? -x : x;
    for (std::uint32_t attempt = 0;; ++attempt) {
      const auto w = rng.bits(0x80000000u | (attempt << 24) | k, a, b);
      if (layer == 0) {
        ++tails;
        const double tail = -std::log(vector_math::open_unit_from_words(w[0], w[1])) / kTail;
        const double y = -std::log(vector_math::open_unit_from_words(w[2], w[3]));
        if (2.0 * y > tail * tail) return negative ? -(kTail + tail) : kTail + tail;
        continue;
      }
      ++wedges;
      const double bottom = f(edge[layer]), top = layer == 1 ? 1.0 : f(edge[layer - 1]);
      if (bottom + vector_math::open_unit_from_words(w[0], w[1]) * (top - bottom) < f(x)) return negative ? -x : x;
      layer = static_cast<int>(w[3] % kLayers);
      negative = (w[3] >> 10) & 1;
      u = magnitude_52(w[2], w[3]);
      x = u * (right(layer) / 0x1.0p52);
      if (inside(layer, u)) return negative ? -x : x;
    }
  }
};

}  // namespace

TEST_CASE("The ziggurat tables have the equal layer areas that define them", "[sim][rng][ziggurat]") {
  const ziggurat::Tables& t = ziggurat::tables();
  const double area = ziggurat::Tables::kLayerArea, tail_start = ziggurat::Tables::kTailStart;
  auto f = [](double x) { return std::exp(-0.5 * x * x); };
  auto edge = [&](int i) { return i == 0 ? 0.0 : t.layer[i].width * 0x1.0p52; };
  const int layers = ziggurat::Tables::kLayers, top_layer = layers - 1;
  REQUIRE(edge(top_layer) == tail_start);
  // Layers 2..1023: rectangles of width x_i between f(x_i) and f(x_{i−1}), each of area V.
  double worst_area = 0.0, worst_height = 0.0;
  for (int i = 2; i < layers; ++i) {
    REQUIRE(edge(i - 1) < edge(i));
    worst_area = std::max(worst_area, std::abs(edge(i) * (f(edge(i - 1)) - f(edge(i))) / area - 1.0));
    worst_height = std::max(worst_height, std::abs(t.height[i] / f(edge(i)) - 1.0));
    REQUIRE(t.layer[i].accept == std::floor(edge(i - 1) / edge(i) * 0x1.0p52));
  }
  // The recursion closes: the top layer [0, x_1] × [f(x_1), 1] has area V too (R is the closure's root
  // in double precision), and the base strip plus the tail is V: R f(R) + ∫_R^∞ f = V.
  const double top = edge(1) * (1.0 - f(edge(1)));
  const double base =
      tail_start * f(tail_start) + std::sqrt(std::numbers::pi / 2.0) * std::erfc(tail_start / std::numbers::sqrt2);
  std::cout << "ziggurat: worst layer-area error " << worst_area << ", top layer " << top / area - 1.0
            << ", base + tail " << base / area - 1.0 << "\n";
  REQUIRE(worst_area < 1e-12);
  REQUIRE(worst_height < 1e-15);
  REQUIRE(std::abs(top / area - 1.0) < 1e-10);
  REQUIRE(std::abs(base / area - 1.0) < 1e-10);
  REQUIRE(t.height[0] == 1.0);
  REQUIRE(t.layer[1].accept == 0.0);
  REQUIRE(t.layer[0].width * 0x1.0p52 == area / t.height[top_layer]);
  REQUIRE(t.layer[0].accept == std::floor(tail_start / (t.layer[0].width * 0x1.0p52) * 0x1.0p52));
  // The fast path's acceptance: (1/1024) Σ k_i / 2^52 = 0.995723 for this construction (rejections 0.43%).
  double accept = 0.0;
  for (int i = 0; i < layers; ++i) accept += t.layer[i].accept * 0x1.0p-52 / layers;
  REQUIRE(std::abs(accept - 0.995723) < 1e-5);
}

TEST_CASE("fill_normal is the ziggurat on the keyed Philox words, in the documented layout", "[sim][rng][ziggurat]") {
  std::cout << "seed " << kSeed << "\n";
  const BatchedNormalRng rng(kSeed, 3);
  ReferenceZiggurat reference;
  long checked = 0;
  // The reference's tables come from libm's exp/log, the generator's from its own: both < 1 ulp, but the
  // recursion from x_1023 = R down to x_1 amplifies ulp differences (x_1 differs by 9e-14 relative), so
  // values agree to 1e-12 relative (measured: 1.1e-14), not to the last bit; the decisions agree.
  double worst = 0.0;
  auto compare = [&](std::size_t n, std::uint32_t a, std::uint32_t b, double scale) {
    std::vector<double> out(n);
    rng.fill_normal(out.data(), n, a, b, scale);
    const std::size_t blocks = (n + 1) / 2;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t j = k < blocks ? k : k - blocks;
      const auto w = rng.bits(static_cast<std::uint32_t>(j), a, b);
      const std::uint32_t hi = k < blocks ? w[0] : w[2], lo = k < blocks ? w[1] : w[3];
      const double expected = scale * reference.normal(rng, a, b, static_cast<std::uint32_t>(k), hi, lo);
      const double difference = std::abs(out[k] - expected) / std::max(1.0, std::abs(expected));
      worst = std::max(worst, difference);
      INFO("n = " << n << ", a = " << a << ", b = " << b << ", normal " << k << ": " << out[k] << " vs " << expected);
      REQUIRE(difference <= 1e-12);
      ++checked;
    }
  };
  for (std::size_t n : {1u, 2u, 7u, 8u, 64u, 129u, 300u})
    compare(n, 11, 22, 0.5);  // odd n, several batches of 64 blocks
  // Enough draws that the rejection paths run many times: 0.43% wedge or tail, tails ≈ 0.005%.
  for (std::uint32_t a = 0; a < 6000; ++a) compare(64, a, 5, 1.0);
  std::cout << checked << " normals checked (worst relative difference " << worst << "); the reference took "
            << reference.wedges << " wedge tests and " << reference.tails << " tail draws\n";
  REQUIRE(reference.wedges > 1000);
  REQUIRE(reference.tails > 5);
  // Keyed by counters: the same key and counters give the same bits; any other key or counter does not.
  std::vector<double> a(64), b(64), c(64), d(64), e(64);
  rng.fill_normal(a.data(), 64, 5, 6);
  rng.fill_normal(b.data(), 64, 5, 6);
  rng.fill_normal(c.data(), 64, 6, 5);
  BatchedNormalRng(kSeed, 4).fill_normal(d.data(), 64, 5, 6);
  BatchedNormalRng(kSeed + 1, 3).fill_normal(e.data(), 64, 5, 6);
  REQUIRE(a == b);
  REQUIRE(a != c);
  REQUIRE(a != d);
  REQUIRE(a != e);
  // Bad input: a sub-stream holds fewer than 2^24 normals (the redraw counters); the error names n.
  std::vector<double> one(1);
  REQUIRE_THROWS_WITH(fill_batched_normals(rng, one.data(), BatchedNormalRng::kMaxNormals, 0, 0),
                      Catch::Matchers::Contains("n: must be below 2^24"));
}

TEST_CASE("fill_normal_paths gives every path the numbers of its own fill_normal, in every SIMD variant",
          "[sim][rng][ziggurat][simd]") {
  const BatchedNormalRng rng(kSeed, 6);
  // n = 50: 25 blocks per path, so the 64-lane batches end inside a path; n = 129: one path spans
  // three batches; n = 1: 64 paths share one batch.
  for (std::size_t n : {1u, 7u, 50u, 64u, 129u}) {
    for (std::size_t paths : {1u, 2u, 3u, 8u, 9u, 64u}) {
      std::vector<double> expected(n * paths), together(n * paths);
      for (std::size_t p = 0; p < paths; ++p)
        rng.fill_normal(expected.data() + p * n, n, static_cast<std::uint32_t>(40 + p), 17, 0.75);
      rng.fill_normal_paths(together.data(), n, 40, paths, 17, 0.75);
      INFO("n = " << n << ", paths = " << paths);
      REQUIRE(together == expected);
      for (SimdLevel level : {SimdLevel::baseline, SimdLevel::avx2, SimdLevel::avx512}) {
        if (!simd_level_supported(level)) continue;
        std::fill(together.begin(), together.end(), 0.0);
        fill_batched_normals(rng, together.data(), n, 40, 17, 0.75, level, paths);
        INFO("simd level " << simd_level_name(level));
        REQUIRE(together == expected);
      }
    }
  }
  std::vector<double> two(2);
  REQUIRE_THROWS_WITH(fill_batched_normals(rng, two.data(), 1, 0xFFFFFFFFu, 0, 1.0, SimdLevel::automatic, 2),
                      Catch::Matchers::Contains("paths: a + paths must not exceed 2^32"));
}

TEST_CASE("Every compiled SIMD variant of the generator gives the same bits", "[sim][rng][simd]") {
  const BatchedNormalRng rng(kSeed, 1);
  // Lengths through every vector tail (AVX-512 8 lanes, AVX2 4) and across batches of 64 blocks;
  // 400 sub-streams of 64 besides, so that ≈ 110 redraws (wedge and tail) are compared too.
  for (std::size_t n : {1u, 5u, 63u, 64u, 65u, 257u}) {
    std::vector<double> baseline(n), other(n);
    fill_batched_normals(rng, baseline.data(), n, 9, 4, 1.0, SimdLevel::baseline);
    std::vector<double> inline_version(n);
    rng.fill_normal(inline_version.data(), n, 9, 4);
    REQUIRE(baseline == inline_version);
    for (SimdLevel level : {SimdLevel::avx2, SimdLevel::avx512, SimdLevel::automatic}) {
      if (!simd_level_supported(level)) {
        std::cout << "simd level " << simd_level_name(level) << " not supported on this CPU: skipped\n";
        continue;
      }
      fill_batched_normals(rng, other.data(), n, 9, 4, 1.0, level);
      INFO("simd level " << simd_level_name(level) << ", n = " << n);
      REQUIRE(other == baseline);
    }
  }
  std::vector<double> baseline(64 * 400), other(64 * 400);
  for (std::uint32_t a = 0; a < 400; ++a)
    fill_batched_normals(rng, baseline.data() + 64 * a, 64, a, 8, 0.25, SimdLevel::baseline);
  for (SimdLevel level : {SimdLevel::avx2, SimdLevel::avx512}) {
    if (!simd_level_supported(level)) continue;
    for (std::uint32_t a = 0; a < 400; ++a) fill_batched_normals(rng, other.data() + 64 * a, 64, a, 8, 0.25, level);
    INFO("simd level " << simd_level_name(level) << ", 400 sub-streams of 64");
    REQUIRE(other == baseline);
  }
}

TEST_CASE("Batched normals have the standard normal moments, CDF (KS) and bin counts (chi-square)",
          "[sim][rng][statistics]") {
  std::cout << "seed " << kSeed << "\n";
  const BatchedNormalRng rng(kSeed, 2);
  const std::size_t width = 64, rows = 4096;  // 262144 draws, as the ensemble draws them (a = row, b = 0)
  std::vector<double> all, row(width);
  all.reserve(width * rows);
  for (std::size_t r = 0; r < rows; ++r) {
    fill_batched_normals(rng, row.data(), width, static_cast<std::uint32_t>(r), 0);
    all.insert(all.end(), row.begin(), row.end());
  }
  const auto n = static_cast<double>(all.size());
  double s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0, cross = 0.0;
  for (double v : all) {
    s1 += v;
    s2 += v * v;
    s3 += v * v * v;
    s4 += v * v * v * v;
  }
  // The two normals of one Philox block (normal j and j + 32 of a row) are uncorrelated.
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t j = 0; j < width / 2; ++j) cross += all[r * width + j] * all[r * width + width / 2 + j];
  const double pairs = n / 2.0;
  // Standard errors of the sample moments of N(0,1): √(1/n), √(2/n), √(15/n), √(96/n); of the
  // mean of a product of independent N(0,1): √(1/pairs). Five standard errors each.
  REQUIRE(std::abs(s1 / n) < 5.0 * std::sqrt(1.0 / n));
  REQUIRE(std::abs(s2 / n - 1.0) < 5.0 * std::sqrt(2.0 / n));
  REQUIRE(std::abs(s3 / n) < 5.0 * std::sqrt(15.0 / n));
  REQUIRE(std::abs(s4 / n - 3.0) < 5.0 * std::sqrt(96.0 / n));
  REQUIRE(std::abs(cross / pairs) < 5.0 * std::sqrt(1.0 / pairs));

  // Kolmogorov–Smirnov against Φ: √n·D_n < 1.95 is the asymptotic 0.1% critical value.
  auto ks_statistic = [&](double scale) {
    std::vector<double> sorted = all;
    for (double& v : sorted) v *= scale;
    std::sort(sorted.begin(), sorted.end());
    double distance = 0.0;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      const double cdf = standard_normal_cdf(sorted[i]);
      distance = std::max({distance, static_cast<double>(i + 1) / n - cdf, cdf - static_cast<double>(i) / n});
    }
    return std::sqrt(n) * distance;
  };
  // Chi-square on 64 equiprobable bins of Φ (63 degrees of freedom; 0.1% critical value 103.4).
  const int bins = 64;
  auto chi_square_statistic = [&](double scale) {
    std::vector<double> counts(bins, 0.0);
    for (double v : all) {
      const auto bin = static_cast<int>(standard_normal_cdf(scale * v) * bins);
      counts[static_cast<std::size_t>(std::min(bin, bins - 1))] += 1.0;
    }
    double chi_square = 0.0;
    const double expected = n / bins;
    for (double c : counts) chi_square += (c - expected) * (c - expected) / expected;
    return chi_square;
  };
  const double ks = ks_statistic(1.0), chi_square = chi_square_statistic(1.0);
  std::cout << "KS sqrt(n) D_n = " << ks << " (0.1% critical value 1.95)\n";
  std::cout << "chi-square (63 dof) = " << chi_square << " (0.1% critical value 103.4)\n";
  REQUIRE(ks < 1.95);
  REQUIRE(chi_square < 103.4);
  // Control: the same draws with a 3% scale error (variance 1.06) must be rejected by both tests,
  // so the thresholds above have the power to see a wrong transform.
  const double ks_control = ks_statistic(1.03), chi_square_control = chi_square_statistic(1.03);
  std::cout << "control (draws x 1.03): KS " << ks_control << ", chi-square " << chi_square_control << "\n";
  REQUIRE(ks_control > 1.95);
  REQUIRE(chi_square_control > 103.4);

  // The far tails: counts beyond |z| = 4 against 2Φ(−4)·n with a 5-σ Poisson band.
  double beyond_four = 0.0;
  for (double v : all) beyond_four += std::abs(v) > 4.0 ? 1.0 : 0.0;
  const double tail_expected = 2.0 * standard_normal_cdf(-4.0) * n;
  REQUIRE(std::abs(beyond_four - tail_expected) < 5.0 * std::sqrt(tail_expected));
}
