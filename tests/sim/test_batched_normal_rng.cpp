// The batched counter-based normal generator (sim/common/include/muelab/sim/batched_normal_rng.hpp):
// Philox4x32-10 against Random123's reference, the polynomial log / sincos against libm, the normal
// moments, KS and chi-square against Φ with tolerances from their sampling distributions, and the
// same bits from every SIMD variant. Every stochastic test prints its seed.
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
  // loop; AVX-512 runs 16-lane registers, then the portable loop. Every path must give r123's bits.
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

TEST_CASE("Polynomial log and sincos(2πu) agree with libm to a few ulp", "[sim][rng][math]") {
  double worst_log = 0.0, worst_trig = 0.0;
  auto check = [&](double u) {
    const double log_reference = std::log(u);
    worst_log = std::max(worst_log, std::abs(vector_math::log_positive(u) - log_reference) /
                                        std::max(std::abs(log_reference), std::numeric_limits<double>::min()));
    double sine = 0.0, cosine = 0.0;
    vector_math::sincos_two_pi(u, sine, cosine);
    const double angle = 2.0 * std::numbers::pi * u;
    worst_trig = std::max({worst_trig, std::abs(sine - std::sin(angle)), std::abs(cosine - std::cos(angle))});
  };
  for (int i = 1; i < 200000; ++i) check(static_cast<double>(i) / 200000.0);
  for (int e = 1; e <= 53; ++e) check(std::ldexp(1.0, -e) * 1.000000123);  // small u: the radius's tail
  check(0x1.0p-54);                                                         // smallest open_unit value
  check(1.0 - 0x1.0p-54);
  for (double u : {0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875}) check(u);  // quadrant boundaries
  // log: fdlibm's bound is < 1 ulp; relative 2^-52 allows 2 ulp. sincos: |value| ≤ 1, so an absolute
  // 1e-15 is ~5 ulp, dominated by the rounding of 2π·u itself (the reference has it too).
  REQUIRE(worst_log <= 0x1.0p-52);
  REQUIRE(worst_trig <= 1e-15);
  // The uniform map: 53 bits, open interval, the same map as CounterRng::to_open_unit.
  REQUIRE(vector_math::open_unit_from_words(0, 0) == 0x1.0p-54);
  REQUIRE(vector_math::open_unit_from_words(0xffffffffu, 0xffffffffu) == 1.0 - 0x1.0p-54);
  const std::uint64_t word = 0x9e3779b97f4a7c15ull;
  REQUIRE(vector_math::open_unit_from_words(static_cast<std::uint32_t>(word >> 32), static_cast<std::uint32_t>(word)) ==
          CounterRng::to_open_unit(word));
}

TEST_CASE("fill_normal is Box-Muller on the keyed Philox words, in the documented layout", "[sim][rng]") {
  const BatchedNormalRng rng(kSeed, 3);
  for (std::size_t n : {1u, 2u, 7u, 8u, 64u, 129u, 300u}) {  // odd n, one and several batches of 64 pairs
    std::vector<double> out(n);
    rng.fill_normal(out.data(), n, 11, 22, 0.5);
    const std::size_t pairs = (n + 1) / 2;
    for (std::size_t j = 0; j < pairs; ++j) {
      const auto w = rng.bits(static_cast<std::uint32_t>(j), 11, 22);
      const double radius = std::sqrt(-2.0 * std::log(vector_math::open_unit_from_words(w[0], w[1])));
      const double angle = 2.0 * std::numbers::pi * vector_math::open_unit_from_words(w[2], w[3]);
      const double tolerance = 1e-14 * std::max(1.0, radius);
      REQUIRE(std::abs(out[j] - 0.5 * radius * std::cos(angle)) <= tolerance);
      if (pairs + j < n) REQUIRE(std::abs(out[pairs + j] - 0.5 * radius * std::sin(angle)) <= tolerance);
    }
  }
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
}

TEST_CASE("Every compiled SIMD variant of the generator gives the same bits", "[sim][rng][simd]") {
  const BatchedNormalRng rng(kSeed, 1);
  for (std::size_t n : {5u, 64u, 257u}) {
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
  // cos and sin of the same pair are uncorrelated (and independent for Box–Muller).
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
