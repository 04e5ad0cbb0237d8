// Philox4x32-10 (J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel Random Numbers: As
// Easy as 1, 2, 3", SC'11 — the same bijection as Random123's r123::Philox4x32) on arrays of
// counters: a portable loop for any target and hand-vectorized AVX-512 / AVX2 forms with the same
// bits (tests/sim). The counter source of BatchedNormalRng (batched_normal_rng.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

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

/// One AVX-512 register group: word 0..3 of 16 counters.
struct Counters512 {
  __m512i x0, x1, x2, x3;
};

/// One Philox round on an AVX-512 register group (the round of `bijection`, 16 lanes at once): the
/// even lanes' products come from vpmuludq on the register, the odd lanes' from vpmuludq on the
/// register shifted right by 32; a masked in-lane swap of adjacent 32-bit elements (vpshufd) then
/// moves the hi half of each even product and the lo half of each odd product into place. (Measured
/// against shift + blend and against two-source permutes: 0.87 against 1.01 and 1.07 ns per block.)
[[gnu::target("avx512f"), gnu::always_inline]] inline void round_avx512(Counters512& c, __m512i key0_lanes,
                                                                        __m512i key1_lanes) {
  // Zero-masked forms with a full mask: the unmasked intrinsics start from _mm512_undefined, which
  // GCC 12 reports as maybe-uninitialized.
  constexpr __mmask8 all = 0xFF;
  constexpr __mmask16 even_lanes = 0x5555, odd_lanes = 0xAAAA;
  const __m512i multiplier0 = _mm512_set1_epi64(kMultiplier0), multiplier1 = _mm512_set1_epi64(kMultiplier1);
  const __m512i even0 = _mm512_maskz_mul_epu32(all, c.x0, multiplier0);
  const __m512i odd0 = _mm512_maskz_mul_epu32(all, _mm512_maskz_srli_epi64(all, c.x0, 32), multiplier0);
  const __m512i even1 = _mm512_maskz_mul_epu32(all, c.x2, multiplier1);
  const __m512i odd1 = _mm512_maskz_mul_epu32(all, _mm512_maskz_srli_epi64(all, c.x2, 32), multiplier1);
  // hi: odd lanes already hold the odd products' hi halves; even lanes take the even products' hi.
  // lo: even lanes already hold the even products' lo halves; odd lanes take the odd products' lo.
  const __m512i hi0 = _mm512_mask_shuffle_epi32(odd0, even_lanes, even0, _MM_PERM_CDAB);
  const __m512i lo0 = _mm512_mask_shuffle_epi32(even0, odd_lanes, odd0, _MM_PERM_CDAB);
  const __m512i hi1 = _mm512_mask_shuffle_epi32(odd1, even_lanes, even1, _MM_PERM_CDAB);
  const __m512i lo1 = _mm512_mask_shuffle_epi32(even1, odd_lanes, odd1, _MM_PERM_CDAB);
  c.x0 = _mm512_ternarylogic_epi32(hi1, c.x1, key0_lanes, 0x96);  // three-way xor
  c.x2 = _mm512_ternarylogic_epi32(hi0, c.x3, key1_lanes, 0x96);
  c.x1 = lo1;
  c.x3 = lo0;
}

/// AVX-512: `kGroups` register groups of 16 counters interleaved round by round (independent groups:
/// their multiply latencies overlap instead of forming one chain).
template <std::size_t kGroups>
[[gnu::target("avx512f"), gnu::always_inline]] inline void bijection_groups_avx512(std::uint32_t* c0, std::uint32_t* c1,
                                                                                   std::uint32_t* c2, std::uint32_t* c3,
                                                                                   std::uint32_t key0,
                                                                                   std::uint32_t key1) {
  Counters512 group[kGroups];
#pragma GCC unroll 4
  for (std::size_t g = 0; g < kGroups; ++g)
    group[g] = {_mm512_loadu_si512(c0 + 16 * g), _mm512_loadu_si512(c1 + 16 * g), _mm512_loadu_si512(c2 + 16 * g),
                _mm512_loadu_si512(c3 + 16 * g)};
#pragma GCC unroll 10
  for (int round = 0; round < kRounds; ++round) {
    const __m512i key0_lanes = _mm512_set1_epi32(static_cast<int>(key0));
    const __m512i key1_lanes = _mm512_set1_epi32(static_cast<int>(key1));
#pragma GCC unroll 4
    for (std::size_t g = 0; g < kGroups; ++g) round_avx512(group[g], key0_lanes, key1_lanes);
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
#pragma GCC unroll 4
  for (std::size_t g = 0; g < kGroups; ++g) {
    _mm512_storeu_si512(c0 + 16 * g, group[g].x0);
    _mm512_storeu_si512(c1 + 16 * g, group[g].x1);
    _mm512_storeu_si512(c2 + 16 * g, group[g].x2);
    _mm512_storeu_si512(c3 + 16 * g, group[g].x3);
  }
}

/// AVX-512F: 64 counters (four interleaved groups: 0.60 ns per block, against 0.87 for two and 1.4
/// for one) at a time, then 32, then 16, then the portable loop.
[[gnu::target("avx512f")]] inline void bijection_avx512(std::uint32_t* c0, std::uint32_t* c1, std::uint32_t* c2,
                                                        std::uint32_t* c3, std::size_t lanes, std::uint32_t key0,
                                                        std::uint32_t key1) {
  std::size_t i = 0;
  for (; i + 64 <= lanes; i += 64) bijection_groups_avx512<4>(c0 + i, c1 + i, c2 + i, c3 + i, key0, key1);
  for (; i + 32 <= lanes; i += 32) bijection_groups_avx512<2>(c0 + i, c1 + i, c2 + i, c3 + i, key0, key1);
  for (; i + 16 <= lanes; i += 16) bijection_groups_avx512<1>(c0 + i, c1 + i, c2 + i, c3 + i, key0, key1);
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

[[gnu::target("avx2"), gnu::always_inline]] inline Counters256 load_avx2(const std::uint32_t* c0,
                                                                         const std::uint32_t* c1,
                                                                         const std::uint32_t* c2,
                                                                         const std::uint32_t* c3) {
  return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c0)),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c1)),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c2)),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c3))};
}

[[gnu::target("avx2"), gnu::always_inline]] inline void store_avx2(const Counters256& c, std::uint32_t* c0,
                                                                   std::uint32_t* c1, std::uint32_t* c2,
                                                                   std::uint32_t* c3) {
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

}  // namespace muelab::sim
