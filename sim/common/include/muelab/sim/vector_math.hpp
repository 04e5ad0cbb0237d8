// Scalar math written as plain IEEE double arithmetic (no libm, no branches), so that loops over it
// vectorize and give the same bits on every machine and instruction set when compiled without FMA
// contraction: exact integer → double conversions, the open-interval uniform of two 32-bit words,
// and fdlibm's log and exp kernels. Used by BatchedNormalRng's ziggurat (batched_ziggurat.hpp).
#pragma once

#include <bit>
#include <cstdint>

namespace muelab::sim {

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

/// e^x for x ∈ [−700, 0], branch-free (fdlibm/musl e_exp.c: x = k ln2 + r, |r| ≤ ½ ln2 (k = round(x/ln2)),
/// e^r = 1 + 2r/(2 − R(r)) with fdlibm's degree-5 remez polynomial, then × 2^k; error < 1 ulp).
/// Plain IEEE arithmetic: with FMA contraction off, the same bits on every machine (which libm's
/// exp, dispatched by CPU, does not promise).
[[gnu::always_inline]] inline double exp_nonpositive(double x) {
  constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10,
                   inv_ln2 = 1.44269504088896338700e+00;
  constexpr double p1 = 1.66666666666666019037e-01, p2 = -2.77777777770155933842e-03, p3 = 6.61375632143793436117e-05,
                   p4 = -1.65339022054652515390e-06, p5 = 4.13813679705723846039e-08;
  const double k = (inv_ln2 * x + 0x1.8p52) - 0x1.8p52;  // round to nearest, by pure add/sub
  const double hi = x - k * ln2_hi;                      // exact: ln2_hi has 32 trailing zero bits
  const double lo = k * ln2_lo;
  const double r = hi - lo;
  const double t = r * r;
  const double c = r - t * (p1 + t * (p2 + t * (p3 + t * (p4 + t * p5))));
  const double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
  // 2^k for k ∈ [−1010, 0]: the biased exponent k + 1023 in the exponent field.
  const auto biased = static_cast<std::uint64_t>(static_cast<std::int64_t>(k) + 1023);
  return y * std::bit_cast<double>(biased << 52);
}

}  // namespace vector_math

}  // namespace muelab::sim
