// A batched counter-based normal generator for SIMD hot loops (bench/sde, the Adam-SDE ensemble):
// Philox4x32-10 (Salmon et al., SC'11 — the same bijection as Random123's r123::Philox4x32) on
// arrays of counters, followed by a branch-free Box–Muller transform with polynomial log and
// sin/cos, all written as plain loops over arrays so that GCC vectorizes them (AVX-512, AVX2 or
// SSE2, whatever the caller's target is); Philox also has hand-vectorized AVX-512 / AVX2 forms
// (bijection_avx512, bijection_avx2: the same bits, see tests/sim). It does NOT replace CounterRng
// (Philox4x64, whose streams committed results depend on): it is a separate stream family.
//
// Keying (developers' guide: determinism): normal pair j of the sub-stream (a, b) under
// (seed, stream) is Box–Muller on the Philox4x32-10 block with
//     key = (seed mod 2^32, seed div 2^32),   counter = (j, b, a, stream),
// all 32-bit. Words (w0, w1) give u1 = ((w0·2^32 + w1) >> 11 + ½)·2^-53 ∈ (0, 1), (w2, w3) give u2
// likewise; the pair is (r cos θ, r sin θ), r = √(−2 ln u1), θ = 2π u2. A draw depends only on
// its key and counter, never on the thread or on the order of the calls, and — the transform
// being plain IEEE double arithmetic without FMA contraction (the callers compile it with
// -ffp-contract=off) — not on the instruction set either.
//
// Layout of fill_normal(out, n, a, b): with p = ⌈n/2⌉ pairs, out[j] = r_j cos θ_j for j < p and
// out[p + j] = r_j sin θ_j for p + j < n: both halves are contiguous stores (vectorizable).
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <stdexcept>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace muelab::sim {

namespace philox4x32 {

inline constexpr std::uint32_t kMultiplier0 = 0xD2511F53u;  ///< PHILOX_M4x32_0
inline constexpr std::uint32_t kMultiplier1 = 0xCD9E8D57u;  ///< PHILOX_M4x32_1
inline constexpr std::uint32_t kWeyl0 = 0x9E3779B9u;        ///< PHILOX_W32_0 (golden ratio)
inline constexpr std::uint32_t kWeyl1 = 0xBB67AE85u;        ///< PHILOX_W32_1 (√3 − 1)
inline constexpr int kRounds = 10;

/// Philox4x32-10 on `lanes` counters at once, in place: c0..c3 hold word 0..3 of each counter.
/// Plain loops over the lanes (the vectorizer's unit); the 32×32→64 products map to vpmuludq.
[[gnu::always_inline]] inline void bijection(std::uint32_t* c0, std::uint32_t* c1, std::uint32_t* c2, std::uint32_t* c3,
                      std::size_t lanes, std::uint32_t key0, std::uint32_t key1) {
  for (int round = 0; round < kRounds; ++round) {
    for (std::size_t i = 0; i < lanes; ++i) {
      const std::uint64_t product0 = std::uint64_t{kMultiplier0} * c0[i];
      const std::uint64_t product1 = std::uint64_t{kMultiplier1} * c2[i];
      const auto hi0 = static_cast<std::uint32_t>(product0 >> 32), lo0 = static_cast<std::uint32_t>(product0);
      const auto hi1 = static_cast<std::uint32_t>(product1 >> 32), lo1 = static_cast<std::uint32_t>(product1);
      const std::uint32_t next0 = hi1 ^ c1[i] ^ key0;
      const std::uint32_t next2 = hi0 ^ c3[i] ^ key1;
      c0[i] = next0;
      c1[i] = lo1;
      c2[i] = next2;
      c3[i] = lo0;
    }
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define MUELAB_PHILOX_X86_INTRINSICS 1
// Hand-vectorized forms of the same bijection (GCC turns the portable loop's 32×32→64 products into
// 64×64 vpmullq, several times slower). 32-bit lanes: the even lanes' products come from vpmuludq on
// the register, the odd lanes' from vpmuludq on the register shifted right by 32; hi and lo halves
// are then blended back into 32-bit lanes. Call them only from code compiled for the named target
// (the AVX-512 / AVX2 variants in sim/sde/src/adam_sde_ensemble.cpp, flattened so they inline).

/// AVX-512F: 16 counters per register.
[[gnu::target("avx512f")]] inline void bijection_avx512(std::uint32_t* c0, std::uint32_t* c1,
                                                                         std::uint32_t* c2, std::uint32_t* c3,
                                                                         std::size_t lanes, std::uint32_t key0,
                                                                         std::uint32_t key1) {
  const __m512i multiplier0 = _mm512_set1_epi64(kMultiplier0), multiplier1 = _mm512_set1_epi64(kMultiplier1);
  constexpr __mmask16 odd = 0xAAAA;
  // Zero-masked forms with a full mask: the unmasked intrinsics start from _mm512_undefined, which
  // GCC 12 reports as maybe-uninitialized.
  constexpr __mmask8 all = 0xFF;
  std::size_t i = 0;
  for (; i + 16 <= lanes; i += 16) {
    __m512i x0 = _mm512_loadu_si512(c0 + i), x1 = _mm512_loadu_si512(c1 + i);
    __m512i x2 = _mm512_loadu_si512(c2 + i), x3 = _mm512_loadu_si512(c3 + i);
    std::uint32_t k0 = key0, k1 = key1;
    for (int round = 0; round < kRounds; ++round) {
      const __m512i even0 = _mm512_maskz_mul_epu32(all, x0, multiplier0);
      const __m512i odd0 = _mm512_maskz_mul_epu32(all, _mm512_maskz_srli_epi64(all, x0, 32), multiplier0);
      const __m512i even1 = _mm512_maskz_mul_epu32(all, x2, multiplier1);
      const __m512i odd1 = _mm512_maskz_mul_epu32(all, _mm512_maskz_srli_epi64(all, x2, 32), multiplier1);
      const __m512i hi0 = _mm512_mask_blend_epi32(odd, _mm512_maskz_srli_epi64(all, even0, 32), odd0);
      const __m512i lo0 = _mm512_mask_blend_epi32(odd, even0, _mm512_maskz_slli_epi64(all, odd0, 32));
      const __m512i hi1 = _mm512_mask_blend_epi32(odd, _mm512_maskz_srli_epi64(all, even1, 32), odd1);
      const __m512i lo1 = _mm512_mask_blend_epi32(odd, even1, _mm512_maskz_slli_epi64(all, odd1, 32));
      const __m512i key0_lanes = _mm512_set1_epi32(static_cast<int>(k0));
      const __m512i key1_lanes = _mm512_set1_epi32(static_cast<int>(k1));
      x0 = _mm512_ternarylogic_epi32(hi1, x1, key0_lanes, 0x96);  // three-way xor
      x2 = _mm512_ternarylogic_epi32(hi0, x3, key1_lanes, 0x96);
      x1 = lo1;
      x3 = lo0;
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    _mm512_storeu_si512(c0 + i, x0);
    _mm512_storeu_si512(c1 + i, x1);
    _mm512_storeu_si512(c2 + i, x2);
    _mm512_storeu_si512(c3 + i, x3);
  }
  if (i < lanes) bijection(c0 + i, c1 + i, c2 + i, c3 + i, lanes - i, key0, key1);
}

/// One AVX2 register group: word 0..3 of 8 counters.
struct Counters256 {
  __m256i x0, x1, x2, x3;
};

/// One Philox round on an AVX2 register group (the round of `bijection`, 8 lanes at once).
[[gnu::target("avx2"), gnu::always_inline]] inline void round_avx2(Counters256& c, __m256i key0_lanes,
                                                                  __m256i key1_lanes) {
  const __m256i multiplier0 = _mm256_set1_epi64x(kMultiplier0), multiplier1 = _mm256_set1_epi64x(kMultiplier1);
  const __m256i even0 = _mm256_mul_epu32(c.x0, multiplier0);
  const __m256i odd0 = _mm256_mul_epu32(_mm256_srli_epi64(c.x0, 32), multiplier0);
  const __m256i even1 = _mm256_mul_epu32(c.x2, multiplier1);
  const __m256i odd1 = _mm256_mul_epu32(_mm256_srli_epi64(c.x2, 32), multiplier1);
  const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(even0, 32), odd0, 0xAA);
  const __m256i lo0 = _mm256_blend_epi32(even0, _mm256_slli_epi64(odd0, 32), 0xAA);
  const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(even1, 32), odd1, 0xAA);
  const __m256i lo1 = _mm256_blend_epi32(even1, _mm256_slli_epi64(odd1, 32), 0xAA);
  c.x0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c.x1), key0_lanes);
  c.x2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c.x3), key1_lanes);
  c.x1 = lo1;
  c.x3 = lo0;
}

[[gnu::target("avx2"), gnu::always_inline]] inline Counters256 load_avx2(const std::uint32_t* c0, const std::uint32_t* c1,
                                                                        const std::uint32_t* c2, const std::uint32_t* c3) {
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c0)), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c1)),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c2)), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c3))};
}

[[gnu::target("avx2"), gnu::always_inline]] inline void store_avx2(const Counters256& c, std::uint32_t* c0, std::uint32_t* c1,
                                                                  std::uint32_t* c2, std::uint32_t* c3) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(c0), c.x0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(c1), c.x1);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(c2), c.x2);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(c3), c.x3);
}

/// AVX2: 8 counters per register, `kGroups` register groups interleaved round by round (the
/// groups are independent, so their multiply latencies overlap instead of forming one chain).
template <std::size_t kGroups>
[[gnu::target("avx2"), gnu::always_inline]] inline void bijection_groups_avx2(std::uint32_t* c0, std::uint32_t* c1,
                                                                             std::uint32_t* c2, std::uint32_t* c3,
                                                                             std::uint32_t key0, std::uint32_t key1) {
  Counters256 group[kGroups];
#pragma GCC unroll 4
  for (std::size_t g = 0; g < kGroups; ++g) group[g] = load_avx2(c0 + 8 * g, c1 + 8 * g, c2 + 8 * g, c3 + 8 * g);
#pragma GCC unroll 10
  for (int round = 0; round < kRounds; ++round) {
    const __m256i key0_lanes = _mm256_set1_epi32(static_cast<int>(key0));
    const __m256i key1_lanes = _mm256_set1_epi32(static_cast<int>(key1));
#pragma GCC unroll 4
    for (std::size_t g = 0; g < kGroups; ++g) round_avx2(group[g], key0_lanes, key1_lanes);
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
#pragma GCC unroll 4
  for (std::size_t g = 0; g < kGroups; ++g) store_avx2(group[g], c0 + 8 * g, c1 + 8 * g, c2 + 8 * g, c3 + 8 * g);
}

/// AVX2: 32 counters (four interleaved groups: 64 ns for 32 blocks against 124 ns one group at a
/// time, bench_sde_pieces) at a time, then 8, then the portable loop.
[[gnu::target("avx2")]] inline void bijection_avx2(std::uint32_t* c0, std::uint32_t* c1, std::uint32_t* c2,
                                                   std::uint32_t* c3, std::size_t lanes, std::uint32_t key0,
                                                   std::uint32_t key1) {
  std::size_t i = 0;
  for (; i + 32 <= lanes; i += 32) bijection_groups_avx2<4>(c0 + i, c1 + i, c2 + i, c3 + i, key0, key1);
  for (; i + 8 <= lanes; i += 8) bijection_groups_avx2<1>(c0 + i, c1 + i, c2 + i, c3 + i, key0, key1);
  if (i < lanes) bijection(c0 + i, c1 + i, c2 + i, c3 + i, lanes - i, key0, key1);
}
#endif

/// The signature shared by the portable and the hand-vectorized bijections.
using BijectionFunction = void (*)(std::uint32_t*, std::uint32_t*, std::uint32_t*, std::uint32_t*, std::size_t,
                                   std::uint32_t, std::uint32_t);

}  // namespace philox4x32

namespace vector_math {

/// The exact double of an integer n < 2^52, by integer ops only (vectorizes without AVX-512DQ's
/// int64→double conversion): the bits 0x433… | n are the double 2^52 + n.
[[gnu::always_inline]] inline double small_integer_to_double(std::uint64_t n) {
  return std::bit_cast<double>(0x4330000000000000ull | n) - 0x1.0p52;
}

/// (hi·2^32 + lo) >> 11, + ½, × 2^-53: a uniform in the open interval (0, 1) with 53 random bits
/// (the same map as CounterRng::to_open_unit). The 53-bit integer hi·2^21 + (lo >> 11) is built in
/// double from two exact 32-bit conversions (cvtdq2pd on every target; hi is biased by 2^31 to fit
/// a signed int): every step is exact, so the result is the same double as the 64-bit integer route.
[[gnu::always_inline]] inline double open_unit_from_words(std::uint32_t hi, std::uint32_t lo) {
  const double high = static_cast<double>(static_cast<std::int32_t>(hi ^ 0x80000000u)) + 0x1.0p31;
  const double low = static_cast<double>(static_cast<std::int32_t>(lo >> 11));
  return ((high * 0x1.0p21 + low) + 0.5) * 0x1.0p-53;
}

/// Natural log of a positive normal double, branch-free (fdlibm/musl e_log.c: x = 2^k (1 + f) with
/// 1 + f ∈ [√2/2, √2), log(1 + f) = f − f²/2 + s(f²/2 + R(s²)), s = f/(2 + f); error < 1 ulp).
[[gnu::always_inline]] inline double log_positive(double x) {
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  constexpr double lg1 = 6.666666666666735130e-01, lg2 = 3.999999999940941908e-01, lg3 = 2.857142874366239149e-01,
                   lg4 = 2.222219843214978396e-01, lg5 = 1.818357216161805012e-01, lg6 = 1.531383769920937332e-01,
                   lg7 = 1.479819860511658591e-01;
  // Shift so that the mantissa lands in [√2/2, √2): 0x3fe6a09e667f3bcd is √2/2.
  const std::uint64_t shifted = std::bit_cast<std::uint64_t>(x) + (0x3ff0000000000000ull - 0x3fe6a09e667f3bcdull);
  const double k = small_integer_to_double(shifted >> 52) - 1023.0;  // the exponent, exactly
  const double m = std::bit_cast<double>((shifted & 0x000fffffffffffffull) + 0x3fe6a09e667f3bcdull);
  const double f = m - 1.0;
  const double hfsq = 0.5 * f * f;
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double w = z * z;
  const double t1 = w * (lg2 + w * (lg4 + w * lg6));
  const double t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)));
  const double r = t2 + t1;
  return s * (hfsq + r) + k * ln2_lo - hfsq + f + k * ln2_hi;
}

/// sin and cos of 2π·u for u ∈ [0, 1], branch-free: q = round(4u), r = u − q/4 ∈ [−⅛, ⅛]
/// (exact), x = 2π r ∈ [−π/4, π/4], fdlibm's kernel polynomials, then the quadrant q mod 4.
[[gnu::always_inline]] inline void sincos_two_pi(double u, double& sine, double& cosine) {
  constexpr double s1 = -1.66666666666666324348e-01, s2 = 8.33333333332248946124e-03,
                   s3 = -1.98412698298579493134e-04, s4 = 2.75573137070700676789e-06,
                   s5 = -2.50507602534068634195e-08, s6 = 1.58969099521155010221e-10;
  constexpr double c1 = 4.16666666666666019037e-02, c2 = -1.38888888888741095749e-03,
                   c3 = 2.48015872894767294178e-05, c4 = -2.75573143513906633035e-07,
                   c5 = 2.08757232129817482790e-09, c6 = -1.13596475577881948265e-11;
  // Round to nearest by the 1.5·2^52 trick (pure add/sub: vectorizes on every target).
  const double q = (4.0 * u + 0x1.8p52) - 0x1.8p52;
  const double x = (u - 0.25 * q) * (2.0 * std::numbers::pi);
  const double z = x * x;
  const double v = z * x;
  const double sin_x = x + v * (s1 + z * (s2 + z * (s3 + z * (s4 + z * (s5 + z * s6)))));
  const double w = z * z;
  const double rc = z * (c1 + z * (c2 + z * c3)) + w * w * (c4 + z * (c5 + z * c6));
  const double hz = 0.5 * z;
  const double one_minus_hz = 1.0 - hz;
  const double cos_x = one_minus_hz + (((1.0 - one_minus_hz) - hz) + z * rc);
  // sin(x + qπ/2), cos(x + qπ/2) for q = 0..4: 0 and 4 (s, c), 1 (c, −s), 2 (−s, −c), 3 (−c, s).
  // Selects and negations (blends and sign flips in the vector loop, no control flow); exact, so the
  // same bits as any other exact way of picking the quadrant.
  const bool odd = q == 1.0 || q == 3.0;
  const double sine_base = odd ? cos_x : sin_x;
  const double cosine_base = odd ? sin_x : cos_x;
  sine = (q == 2.0 || q == 3.0) ? -sine_base : sine_base;
  cosine = (q == 1.0 || q == 2.0) ? -cosine_base : cosine_base;
}

}  // namespace vector_math

class BatchedNormalRng {
 public:
  /// Pairs generated per inner batch (scratch lives on the stack).
  static constexpr std::size_t kBatch = 64;

  BatchedNormalRng(std::uint64_t seed, std::uint32_t stream = 0)
      : key0_(static_cast<std::uint32_t>(seed)), key1_(static_cast<std::uint32_t>(seed >> 32)), stream_(stream) {}

  /// The four Philox4x32-10 words of counter (j, b, a, stream) — one lane of fill_normal.
  [[nodiscard]] std::array<std::uint32_t, 4> bits(std::uint32_t j, std::uint32_t a, std::uint32_t b) const {
    std::uint32_t c0 = j, c1 = b, c2 = a, c3 = stream_;
    philox4x32::bijection(&c0, &c1, &c2, &c3, 1, key0_, key1_);
    return {c0, c1, c2, c3};
  }

  /// out[0..n) = scale × the first n normals of the sub-stream (a, b) (layout in the file comment).
  /// Inline and loop-shaped: the caller's target (e.g. an AVX-512 variant) decides the vector width;
  /// such a caller may pass the matching hand-vectorized Philox (same bits, see the tests).
  template <philox4x32::BijectionFunction kBijection = philox4x32::bijection>
  [[gnu::always_inline]] void fill_normal(double* out, std::size_t n, std::uint32_t a, std::uint32_t b,
                                         double scale = 1.0) const {
    const std::size_t pairs = (n + 1) / 2;
    const std::size_t sine_pairs = n - pairs;  // ⌊n/2⌋: for odd n the last pair's sine is unused
    alignas(64) std::uint32_t w0[kBatch], w1[kBatch], w2[kBatch], w3[kBatch];
    for (std::size_t first = 0; first < pairs; first += kBatch) {
      const std::size_t lanes = pairs - first < kBatch ? pairs - first : kBatch;
      for (std::size_t i = 0; i < lanes; ++i) {
        w0[i] = static_cast<std::uint32_t>(first + i);
        w1[i] = b;
        w2[i] = a;
        w3[i] = stream_;
      }
      kBijection(w0, w1, w2, w3, lanes, key0_, key1_);
      double* __restrict cosines = out + first;
      double* __restrict sines = out + pairs + first;
      if (first + lanes <= sine_pairs) {  // every lane writes both normals (always, for even n)
        for (std::size_t i = 0; i < lanes; ++i) {
          const double radius = scale * std::sqrt(-2.0 * vector_math::log_positive(
                                                     vector_math::open_unit_from_words(w0[i], w1[i])));
          double sine, cosine;
          vector_math::sincos_two_pi(vector_math::open_unit_from_words(w2[i], w3[i]), sine, cosine);
          cosines[i] = radius * cosine;
          sines[i] = radius * sine;
        }
      } else {  // odd n, last batch: the last lane has no sine slot
        for (std::size_t i = 0; i < lanes; ++i) {
          const double radius = scale * std::sqrt(-2.0 * vector_math::log_positive(
                                                     vector_math::open_unit_from_words(w0[i], w1[i])));
          double sine, cosine;
          vector_math::sincos_two_pi(vector_math::open_unit_from_words(w2[i], w3[i]), sine, cosine);
          cosines[i] = radius * cosine;
          if (first + i < sine_pairs) sines[i] = radius * sine;
        }
      }
    }
  }

  [[nodiscard]] std::uint64_t seed() const { return (std::uint64_t{key1_} << 32) | key0_; }
  [[nodiscard]] std::uint32_t stream() const { return stream_; }

 private:
  std::uint32_t key0_, key1_;
  std::uint32_t stream_;
};

}  // namespace muelab::sim
