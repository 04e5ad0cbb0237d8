// The normal ziggurat of BatchedNormalRng (batched_normal_rng.hpp; docs/theory.md §7): its tables,
// its fast path on arrays of Philox words (portable, AVX-512, AVX2: the same bits) and the scalar
// redraw of rejected candidates (sim/common/src/ziggurat.cpp).
#pragma once

#include "muelab/sim/philox4x32.hpp"
#include "muelab/sim/vector_math.hpp"

#include <cstddef>
#include <cstdint>

namespace muelab::sim {

namespace ziggurat {

/// A 1024-layer normal ziggurat (G. Marsaglia and W. W. Tsang, "The Ziggurat Method for Generating
/// Random Variables", J. Stat. Softw. 5(8), 2000), for the unnormalized density f(x) = e^{−x²/2}:
/// 1024 regions of equal area V, layer 0 the base strip [0, R] × [0, f(R)] plus the tail beyond R,
/// layer i ≥ 1 the rectangle of width x_i between the heights f(x_i) and f(x_{i−1}) (x_1023 = R,
/// x_0 = 0). R is the root (found by bisection in double precision) of the recursion's closure
/// x_1 (1 − f(x_1)) = V with V = R f(R) + ∫_R^∞ f (docs/theory.md §7; the tests check both). 1024 layers rather than
/// the usual 256: rejections fall from 1.49% to 0.43% of draws, at 16 KB of fast-path table (L1-resident). Built once
/// by tables() with the deterministic exp/log above: the same bits on every machine.
struct Tables {
  static constexpr int kLayers = 1024;
  static constexpr std::uint32_t kLayerMask = kLayers - 1;     ///< the layer is lo & kLayerMask
  static constexpr std::uint32_t kSignBit = 0x400u;            ///< bit 10 of lo: the sign
  static constexpr double kTailStart = 4.038849846109504;      ///< R
  static constexpr double kLayerArea = 0.0012263246463530893;  ///< V
  /// What the fast path reads for layer i, side by side so that one 16-byte load fetches both.
  struct Layer {
    double width;   ///< x_i / 2^52 (layer 0: (V/f(R)) / 2^52): the candidate is x = U·width
    double accept;  ///< k_i = ⌊2^52 x_{i−1}/x_i⌋ (layer 0: ⌊2^52 R/(V/f(R))⌋): U < k_i accepts
  };
  alignas(64) Layer layer[kLayers];
  alignas(64) double height[kLayers];  ///< f(x_i) (height[0] = 1: the top of layer 1)
};

/// The tables (computed on first use, thread-safe; sim/common/src/ziggurat.cpp).
[[nodiscard]] const Tables& tables();

/// The standard normal that replaces rejected candidate number k of the sub-stream (a, b): the
/// wedge test or the tail (Marsaglia 1964) on the candidate's word hi·2^32 + lo, then fresh draws
/// from the attempt blocks (counter 2^31 + t·2^24 + k, b, a, stream) until one is accepted.
/// Scalar, one compiled copy for every SIMD variant (its bits cannot depend on the variant).
[[nodiscard]] double redraw(std::uint32_t key0, std::uint32_t key1, std::uint32_t stream, std::uint32_t a,
                            std::uint32_t b, std::uint32_t k, std::uint32_t hi, std::uint32_t lo);

/// The 52-bit magnitude U = (hi·2^32 + lo) >> 12 as an exact double, from two exact int32 → double
/// conversions (hi biased by 2^31 to fit a signed int): every target has them, so every target
/// gets the same double.
[[gnu::always_inline]] inline double magnitude(std::uint32_t hi, std::uint32_t lo) {
  const double high = static_cast<double>(static_cast<std::int32_t>(hi ^ 0x80000000u)) + 0x1.0p31;
  return high * 0x1.0p20 + static_cast<double>(static_cast<std::int32_t>(lo >> 12));
}

/// The fast path on up to 64 words (hi[i], lo[i]): out[i] = scale × (±U·width) for every lane;
/// returns the mask of lanes whose candidate is rejected (bit i set: out[i] must be redrawn).
/// Multiplying by the scale before the sign is exact either way, so every form has the same bits.
[[gnu::always_inline]] inline std::uint64_t fast_path(const std::uint32_t* __restrict hi,
                                                      const std::uint32_t* __restrict lo, double* __restrict out,
                                                      std::size_t lanes, double scale, const Tables& t) {
  std::uint64_t rejected = 0;
  for (std::size_t i = 0; i < lanes; ++i) {
    const Tables::Layer& layer = t.layer[lo[i] & Tables::kLayerMask];
    const double u = magnitude(hi[i], lo[i]);
    const double value = u * layer.width * scale;
    out[i] = (lo[i] & Tables::kSignBit) != 0 ? -value : value;
    if (!(u < layer.accept)) rejected |= std::uint64_t{1} << i;
  }
  return rejected;
}

/// The signature shared by the portable and the hand-vectorized fast paths.
using FastPathFunction = std::uint64_t (*)(const std::uint32_t*, const std::uint32_t*, double*, std::size_t, double,
                                           const Tables&);

#ifdef MUELAB_PHILOX_X86_INTRINSICS
// The hand-vectorized fast paths (GCC does not vectorize the table reads itself). The reads are one
// 16-byte load of (width, accept) per lane, indexed by the low 16 bits of lo read straight from memory;
// unpacking even and odd doubles then gives the width and accept vectors. On Zen 5 this is 1.6×
// faster than two hardware gathers (bench/sde/results.md).

/// AVX-512: 8 lanes per step.
[[gnu::target("avx512f,avx512dq,avx512vl")]] inline std::uint64_t fast_path_avx512(const std::uint32_t* hi,
                                                                                   const std::uint32_t* lo, double* out,
                                                                                   std::size_t lanes, double scale,
                                                                                   const Tables& t) {
  constexpr __mmask8 all = 0xFF;  // zero-masked forms: GCC 12 flags the unmasked ones' _mm512_undefined
  const __m256i sign_mask = _mm256_set1_epi32(static_cast<int>(Tables::kSignBit)),
                bias = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  const __m512d two_31 = _mm512_set1_pd(0x1.0p31), two_20 = _mm512_set1_pd(0x1.0p20), scales = _mm512_set1_pd(scale);
  const auto* low_halves =
      reinterpret_cast<const std::uint16_t*>(lo);  // x86 is little-endian: half 2i = lo[i] & 0xFFFF
  const auto* layers = reinterpret_cast<const double*>(t.layer);
  std::uint64_t rejected = 0;
  std::size_t i = 0;
  for (; i + 8 <= lanes; i += 8) {
    auto entry = [&](std::size_t lane) {
      return _mm_load_pd(layers + 2 * (low_halves[2 * (i + lane)] & Tables::kLayerMask));
    };
    // Lanes 0, 2, 4, 6 in `even`, 1, 3, 5, 7 in `odd` (one entry per 128-bit lane).
    __m512d even = _mm512_castpd256_pd512(_mm256_set_m128d(entry(2), entry(0)));
    even = _mm512_insertf64x2(_mm512_insertf64x2(even, entry(4), 2), entry(6), 3);
    __m512d odd = _mm512_castpd256_pd512(_mm256_set_m128d(entry(3), entry(1)));
    odd = _mm512_insertf64x2(_mm512_insertf64x2(odd, entry(5), 2), entry(7), 3);
    const __m512d width = _mm512_maskz_unpacklo_pd(all, even, odd);
    const __m512d accept = _mm512_maskz_unpackhi_pd(all, even, odd);
    const __m256i low_words = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + i));
    const __m256i high_words = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi + i));
    const __m512d high = _mm512_add_pd(_mm512_maskz_cvtepi32_pd(all, _mm256_xor_si256(high_words, bias)), two_31);
    const __m512d u =
        _mm512_add_pd(_mm512_mul_pd(high, two_20), _mm512_maskz_cvtepi32_pd(all, _mm256_srli_epi32(low_words, 12)));
    const __m512d value = _mm512_mul_pd(_mm512_mul_pd(u, width), scales);
    // Bit 10 of lo moved to bit 63: the sign flip is an exact xor.
    const __m512i sign =
        _mm512_maskz_slli_epi64(all, _mm512_maskz_cvtepu32_epi64(all, _mm256_and_si256(low_words, sign_mask)), 53);
    _mm512_storeu_pd(out + i, _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(value), sign)));
    const __mmask8 accepted = _mm512_cmp_pd_mask(u, accept, _CMP_LT_OQ);
    rejected |= std::uint64_t{static_cast<std::uint8_t>(~accepted)} << i;
  }
  if (i < lanes) rejected |= fast_path(hi + i, lo + i, out + i, lanes - i, scale, t) << i;
  return rejected;
}

/// AVX2: 4 lanes per step.
[[gnu::target("avx2")]] inline std::uint64_t fast_path_avx2(const std::uint32_t* hi, const std::uint32_t* lo,
                                                            double* out, std::size_t lanes, double scale,
                                                            const Tables& t) {
  const __m128i sign_mask = _mm_set1_epi32(static_cast<int>(Tables::kSignBit)),
                bias = _mm_set1_epi32(static_cast<int>(0x80000000u));
  const __m256d two_31 = _mm256_set1_pd(0x1.0p31), two_20 = _mm256_set1_pd(0x1.0p20), scales = _mm256_set1_pd(scale);
  const auto* low_halves = reinterpret_cast<const std::uint16_t*>(lo);
  const auto* layers = reinterpret_cast<const double*>(t.layer);
  std::uint64_t rejected = 0;
  std::size_t i = 0;
  for (; i + 4 <= lanes; i += 4) {
    auto entry = [&](std::size_t lane) {
      return _mm_load_pd(layers + 2 * (low_halves[2 * (i + lane)] & Tables::kLayerMask));
    };
    const __m256d even = _mm256_set_m128d(entry(2), entry(0)), odd = _mm256_set_m128d(entry(3), entry(1));
    const __m256d width = _mm256_unpacklo_pd(even, odd);
    const __m256d accept = _mm256_unpackhi_pd(even, odd);
    const __m128i low_words = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lo + i));
    const __m128i high_words = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hi + i));
    const __m256d high = _mm256_add_pd(_mm256_cvtepi32_pd(_mm_xor_si128(high_words, bias)), two_31);
    const __m256d u = _mm256_add_pd(_mm256_mul_pd(high, two_20), _mm256_cvtepi32_pd(_mm_srli_epi32(low_words, 12)));
    const __m256d value = _mm256_mul_pd(_mm256_mul_pd(u, width), scales);
    const __m256i sign = _mm256_slli_epi64(_mm256_cvtepu32_epi64(_mm_and_si128(low_words, sign_mask)), 53);
    _mm256_storeu_pd(out + i, _mm256_castsi256_pd(_mm256_xor_si256(_mm256_castpd_si256(value), sign)));
    const int accepted = _mm256_movemask_pd(_mm256_cmp_pd(u, accept, _CMP_LT_OQ));
    rejected |= std::uint64_t{static_cast<unsigned>(~accepted) & 0xFu} << i;
  }
  if (i < lanes) rejected |= fast_path(hi + i, lo + i, out + i, lanes - i, scale, t) << i;
  return rejected;
}
#endif

}  // namespace ziggurat

}  // namespace muelab::sim
