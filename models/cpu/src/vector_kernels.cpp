// Per-ISA hot loops of the CPU trainer (see vector_kernels.hpp; docs/development.md §1). Each kernel
// is one template body; the float builds are thin wrappers compiled for AVX-512, AVX2 or baseline
// x86-64 ([[gnu::target]] + [[gnu::flatten]], so the whole body is generated for that ISA), picked
// once at run time. This file is compiled with -ffp-contract=off: a build never fuses a·b + c, so
// all builds round identically.
#include "muelab/models/cpu/vector_kernels.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace muelab::models::cpu::vk {

// ---- elementary functions ---------------------------------------------------------------------------
float fast_exp(float x) {
  // e^x = 2^n · e^r, n = round(x / ln 2), r = x − n·ln 2 in two parts (Cody–Waite), e^r by the
  // degree-6 minimax polynomial of Cephes' expf (|r| ≤ ln2/2).
  x = std::min(std::max(x, -87.3365448f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float poly = 1.9875691500e-4f;
  poly = poly * r + 1.3981999507e-3f;
  poly = poly * r + 8.3334519073e-3f;
  poly = poly * r + 4.1665795894e-2f;
  poly = poly * r + 1.6666665459e-1f;
  poly = poly * r + 5.0000001201e-1f;
  const float er = poly * (r * r) + r + 1.0f;
  const auto biased = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127);
  return er * std::bit_cast<float>(biased << 23);
}

float fast_erf(float x) {
  // Odd/even rational approximation p(x)/q(x) on [−4, 4] (erf is ±1 in float outside), the
  // coefficients of Eigen's and TensorFlow's float erf.
  x = std::min(std::max(x, -4.0f), 4.0f);
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  p = p * x;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return p / q;
}

namespace {

/// Transcendentals per scalar: the float polynomials above, or libm in double (gradient checks).
template <class S>
struct Math;
template <>
struct Math<float> {
  static float exp(float x) { return fast_exp(x); }
  static float erf(float x) { return fast_erf(x); }
};
template <>
struct Math<double> {
  static double exp(double x) { return std::exp(x); }
  static double erf(double x) { return std::erf(x); }
};

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// ---- activations ------------------------------------------------------------------------------------
template <class S>
void gelu_forward_body(const S* z, S* act, index_t n) {
  for (index_t i = 0; i < n; ++i) act[i] = S(0.5) * z[i] * (S(1) + Math<S>::erf(z[i] * S(kInvSqrt2)));
}

template <class S>
void gelu_backward_body(const S* z, const S* dact, S* dz, index_t n) {
  for (index_t i = 0; i < n; ++i) {
    const S cdf = S(0.5) * (S(1) + Math<S>::erf(z[i] * S(kInvSqrt2)));
    const S pdf = Math<S>::exp(S(-0.5) * z[i] * z[i]) * S(kInvSqrt2Pi);
    dz[i] = dact[i] * (cdf + z[i] * pdf);
  }
}

template <class S>
void swiglu_forward_body(const S* zg, const S* zu, S* act, index_t n) {
  for (index_t i = 0; i < n; ++i) act[i] = (zg[i] * (S(1) / (S(1) + Math<S>::exp(-zg[i])))) * zu[i];
}

template <class S>
void swiglu_backward_body(const S* zg, const S* zu, const S* dact, S* dzg, S* dzu, index_t n) {
  for (index_t i = 0; i < n; ++i) {
    const S s = S(1) / (S(1) + Math<S>::exp(-zg[i]));
    dzu[i] = dact[i] * (zg[i] * s);
    dzg[i] = (dact[i] * zu[i]) * (s * (S(1) + zg[i] * (S(1) - s)));
  }
}

// ---- softmax rows -----------------------------------------------------------------------------------
/// max_j row[j] over eight independent chains (the one-chain loop was 16% of an attention head at
/// d_head = 8). A maximum is exact, so any order gives the same value; a NaN is skipped here as in the
/// one-chain loop (a > m is false), and a row with a NaN comes out all NaN from the softmax either way.
template <class S>
S row_max(const S* __restrict row, index_t count) {
  constexpr index_t kChains = 8;
  S mx = row[0];
  index_t j = 1;
  if (count >= kChains) {
    S m[kChains];
    for (index_t c = 0; c < kChains; ++c) m[c] = row[c];
    for (j = kChains; j + kChains <= count; j += kChains)
      for (index_t c = 0; c < kChains; ++c) m[c] = row[j + c] > m[c] ? row[j + c] : m[c];
    mx = m[0];
    for (index_t c = 1; c < kChains; ++c) mx = m[c] > mx ? m[c] : mx;
  }
  for (; j < count; ++j) mx = row[j] > mx ? row[j] : mx;
  return mx;
}

/// row[0..count) ← softmax(row[0..count)); returns the normalizer Σ exp(· − max) (sums left to right).
template <class S>
S softmax_in_place(S* row, index_t count) {
  const S mx = row_max(row, count);
  for (index_t j = 0; j < count; ++j) row[j] = Math<S>::exp(row[j] - mx);
  S total(0);
  for (index_t j = 0; j < count; ++j) total += row[j];
  for (index_t j = 0; j < count; ++j) row[j] /= total;
  return total;
}

template <class S>
double cross_entropy_rows_body(const S* logits, index_t rows, index_t vocab, const std::int32_t* targets, S* probs) {
  double sum = 0.0;
  for (index_t r = 0; r < rows; ++r) {
    const S* l = logits + r * vocab;
    S* pr = probs + r * vocab;
    const S mx = row_max(l, vocab);
    std::copy(l, l + vocab, pr);
    const S total = softmax_in_place(pr, vocab);
    sum += static_cast<double>(std::log(total) + mx - l[targets[r]]);
  }
  return sum;
}

// ---- one causal attention head --------------------------------------------------------------------------
/// Per-thread scratch (kept across calls: no allocation per step once warmed up).
template <class S>
S* scratch(std::size_t size) {
  thread_local std::vector<S> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer.data();
}

/// dst (dh × T) = src (T × dh, row stride ld)ᵀ.
template <class S>
void transpose_head(const S* src, index_t T, index_t dh, index_t ld, S* dst) {
  for (index_t j = 0; j < T; ++j)
    for (index_t c = 0; c < dh; ++c) dst[c * T + j] = src[j * ld + c];
}

/// Keys computed for query row i: i + 1 rounded up to a multiple of 8 (at most T), so the vector
/// loops over keys have whole-vector trip counts; the extra entries are never read.
inline index_t padded_keys(index_t keys, index_t T) { return std::min(T, (keys + 7) / 8 * 8); }

/// out[j] = Σ_c a[c]·bt[c·T + j] for j < keys (c = 0..dh−1 in order, as a plain dot product).
/// When T is a multiple of 8, eight j at a time with the partial sums in a register.
template <class S>
void row_times_transposed(const S* __restrict a, const S* __restrict bt, index_t dh, index_t T, index_t keys,
                          S* __restrict out) {
  if (T % 8 == 0) {
    const index_t padded = padded_keys(keys, T);
    for (index_t j0 = 0; j0 < padded; j0 += 8) {
      S sum[8] = {};
      for (index_t c = 0; c < dh; ++c) {
        const S ac = a[c];
        const S* __restrict b = bt + c * T + j0;
        for (int jj = 0; jj < 8; ++jj) sum[jj] += ac * b[jj];
      }
      for (int jj = 0; jj < 8; ++jj) out[j0 + jj] = sum[jj];
    }
    return;
  }
  for (index_t j = 0; j < keys; ++j) out[j] = S(0);
  for (index_t c = 0; c < dh; ++c) {
    const S ac = a[c];
    const S* __restrict b = bt + c * T;
    for (index_t j = 0; j < keys; ++j) out[j] += ac * b[j];
  }
}

/// DH > 0: the head dimension as a compile-time constant (the per-row accumulators live in
/// registers); DH = 0: any head dimension.
template <class S, int DH>
void attention_forward_body(const S* __restrict q, const S* __restrict k, const S* __restrict v, S* __restrict o,
                            S* __restrict p, const HeadShape& s, S scale) {
  const index_t T = s.seq_len, dh = DH > 0 ? DH : s.head_dim, ld = s.ld_qkv;
  S* __restrict kt = scratch<S>(static_cast<std::size_t>(dh * T + dh));
  S local_acc[DH > 0 ? DH : 1];  // registers when DH is a constant
  S* __restrict acc = DH > 0 ? local_acc : kt + dh * T;
  transpose_head(k, T, dh, ld, kt);
  for (index_t i = 0; i < T; ++i) {
    S* __restrict row = p + i * T;
    const index_t keys = i + 1;
    row_times_transposed(q + i * ld, kt, dh, T, keys, row);  // row[j] = Σ_c q_ic k_jc
    for (index_t j = 0; j < keys; ++j) row[j] *= scale;
    softmax_in_place(row, keys);
    for (index_t j = keys; j < T; ++j) row[j] = S(0);
    for (index_t c = 0; c < dh; ++c) acc[c] = S(0);
    for (index_t j = 0; j < keys; ++j) {  // out = Σ_j p_ij v_j, j in order
      const S pj = row[j];
      const S* __restrict vj = v + j * ld;
#pragma GCC unroll 1
      for (index_t c = 0; c < dh; ++c) acc[c] += pj * vj[c];
    }
    for (index_t c = 0; c < dh; ++c) o[i * s.ld_o + c] = acc[c];
  }
}

template <class S, int DH>
void attention_backward_body(const S* __restrict q, const S* __restrict k, const S* __restrict v,
                             const S* __restrict dout, const S* __restrict p, S* __restrict dq, S* __restrict dk,
                             S* __restrict dv, const HeadShape& s, S scale) {
  const index_t T = s.seq_len, dh = DH > 0 ? DH : s.head_dim, ld = s.ld_qkv;
  S* __restrict vt = scratch<S>(static_cast<std::size_t>(dh * T + T + dh));
  S* __restrict ds = vt + dh * T;
  S local_acc[DH > 0 ? DH : 1];
  S* __restrict acc = DH > 0 ? local_acc : ds + T;
  transpose_head(v, T, dh, ld, vt);
  for (index_t j = 0; j < T; ++j)
    for (index_t c = 0; c < dh; ++c) dk[j * ld + c] = dv[j * ld + c] = S(0);
  for (index_t i = 0; i < T; ++i) {
    const S* __restrict prow = p + i * T;
    const S* __restrict douti = dout + i * s.ld_o;
    const index_t keys = i + 1;
    for (index_t j = 0; j < keys; ++j) {  // dv_j += p_ij dout_i
      const S pj = prow[j];
      S* __restrict dvj = dv + j * ld;
#pragma GCC unroll 1
      for (index_t c = 0; c < dh; ++c) dvj[c] += pj * douti[c];
    }
    row_times_transposed(douti, vt, dh, T, keys, ds);  // dp_ij = Σ_c dout_ic v_jc
    S dot(0);  // softmax backward: ds = scale·p ⊙ (dp − Σ dp⊙p)
    for (index_t j = 0; j < keys; ++j) dot += ds[j] * prow[j];
    for (index_t j = 0; j < keys; ++j) ds[j] = scale * (prow[j] * (ds[j] - dot));
    const S* __restrict qi = q + i * ld;
    for (index_t c = 0; c < dh; ++c) acc[c] = S(0);
    for (index_t j = 0; j < keys; ++j) {  // dq_i = Σ_j ds_ij k_j, dk_j += ds_ij q_i
      const S dsj = ds[j];
      const S* __restrict kj = k + j * ld;
      S* __restrict dkj = dk + j * ld;
#pragma GCC unroll 1
      for (index_t c = 0; c < dh; ++c) acc[c] += dsj * kj[c];
#pragma GCC unroll 1
      for (index_t c = 0; c < dh; ++c) dkj[c] += dsj * qi[c];
    }
    for (index_t c = 0; c < dh; ++c) dq[i * ld + c] = acc[c];
  }
}

// ---- four query rows at a time, in explicit 64-byte vectors ---------------------------------------------
// The row-at-a-time bodies above are latency-bound at the experiments' shapes (T = 64, d_head = 16):
// each query row is one chain of dependent additions. These bodies compute the same sums, in the same
// order (so the same bits), for four rows at once: four independent chains. They use GCC's vector
// extension (64 bytes: 16 floats or 8 doubles; lowered to two AVX2 or four SSE operations elsewhere,
// elementwise, so every build rounds identically) because GCC's vectorizer turns the same loops written
// over arrays into shuffles and spills. Along the keys the vectors are 64 bytes (T must be a multiple of
// their lanes); along the head dimension they are the widest of 16, 32 or 64 bytes whose lanes divide
// d_head, so d_head = 8 in float (the capacity-bound task's heads) takes 32-byte vectors.
template <class S, int Bytes>
struct VectorOf {
  typedef S type __attribute__((vector_size(Bytes)));
  static constexpr index_t lanes = Bytes / static_cast<index_t>(sizeof(S));
};
template <class S>
using KeyVector = VectorOf<S, 64>;
template <class S, int DH>
using HeadVector = VectorOf<S, (DH * static_cast<int>(sizeof(S))) % 64 == 0  ? 64
                               : (DH* static_cast<int>(sizeof(S))) % 32 == 0 ? 32
                                                                             : 16>;

/// Loads and stores through memcpy (unaligned; one vector move). Vectors are passed by reference only:
/// a vector by value would have a different calling convention in each ISA build.
template <class V, class S>
void load_wide(V& v, const S* p) {
  std::memcpy(&v, p, sizeof v);
}

template <class S, class V>
void store_wide(S* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

constexpr index_t kRowBlock = 4;

template <class S, int DH>
bool wide_rows_apply(index_t T) {
  return DH > 0 && DH % HeadVector<S, DH>::lanes == 0 && T % KeyVector<S>::lanes == 0;
}

/// s_r += coef[r·stride]·x for the four rows r of a block (four independent chains of additions).
template <class S, class V>
void add_four_rows(V& s0, V& s1, V& s2, V& s3, const S* __restrict coef, index_t stride, const V& x) {
  s0 += coef[0] * x;
  s1 += coef[stride] * x;
  s2 += coef[2 * stride] * x;
  s3 += coef[3 * stride] * x;
}

/// out[r·T + j] = Σ_c a[r·lda + c]·bt[c·T + j] for r < 4 and j below keys rounded up to whole vectors
/// (at most T); c in order from 0, as row_times_transposed.
template <class S, int DH>
void wide_rows_times_transposed(const S* __restrict a, index_t lda, const S* __restrict bt, index_t T, index_t keys,
                                S* __restrict out) {
  using V = typename KeyVector<S>::type;
  constexpr index_t W = KeyVector<S>::lanes;
  const index_t padded = std::min(T, (keys + W - 1) / W * W);
  for (index_t j0 = 0; j0 < padded; j0 += W) {
    V s0 = {}, s1 = {}, s2 = {}, s3 = {};
    for (index_t c = 0; c < DH; ++c) {
      V b;
      load_wide(b, bt + c * T + j0);
      add_four_rows(s0, s1, s2, s3, a + c, lda, b);
    }
    store_wide(out + j0, s0);
    store_wide(out + T + j0, s1);
    store_wide(out + 2 * T + j0, s2);
    store_wide(out + 3 * T + j0, s3);
  }
}

/// out row r (r < 4, stride ld_out) = Σ_j w[r·T + j]·x_j (x_j = x + j·ld) over j ≤ i0 + r, j in order
/// from 0: each row's sum in the row-at-a-time order.
template <class S, int DH>
void wide_accumulate_rows(const S* __restrict w, index_t T, const S* __restrict x, index_t ld, index_t i0,
                          S* __restrict out, index_t ld_out) {
  using V = typename HeadVector<S, DH>::type;
  constexpr index_t W = HeadVector<S, DH>::lanes;
  for (index_t n = 0; n < DH; n += W) {
    V a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (index_t j = 0; j <= i0; ++j) {
      V xj;
      load_wide(xj, x + j * ld + n);
      add_four_rows(a0, a1, a2, a3, w + j, T, xj);
    }
    V x1, x2, x3;
    load_wide(x1, x + (i0 + 1) * ld + n);
    load_wide(x2, x + (i0 + 2) * ld + n);
    load_wide(x3, x + (i0 + 3) * ld + n);
    a1 += w[T + i0 + 1] * x1;
    a2 += w[2 * T + i0 + 1] * x1;
    a2 += w[2 * T + i0 + 2] * x2;
    a3 += w[3 * T + i0 + 1] * x1;
    a3 += w[3 * T + i0 + 2] * x2;
    a3 += w[3 * T + i0 + 3] * x3;
    store_wide(out + n, a0);
    store_wide(out + ld_out + n, a1);
    store_wide(out + 2 * ld_out + n, a2);
    store_wide(out + 3 * ld_out + n, a3);
  }
}

/// y_j += w[r·T + j]·x_r (x_r = x + r·ldx) for r = 0..3 in order, row r only where j ≤ i0 + r, for
/// j < i0 + 4: the additions into each y_j in the row-at-a-time order.
template <class S, int DH>
void wide_scatter_rows(const S* __restrict w, index_t T, const S* __restrict x, index_t ldx, S* __restrict y,
                       index_t ld, index_t i0) {
  using V = typename HeadVector<S, DH>::type;
  constexpr index_t W = HeadVector<S, DH>::lanes;
  for (index_t n = 0; n < DH; n += W) {
    V x0, x1, x2, x3;
    load_wide(x0, x + n);
    load_wide(x1, x + ldx + n);
    load_wide(x2, x + 2 * ldx + n);
    load_wide(x3, x + 3 * ldx + n);
    for (index_t j = 0; j < i0 + kRowBlock; ++j) {
      S* __restrict yj = y + j * ld + n;
      V t;
      load_wide(t, yj);
      if (j <= i0) t += w[j] * x0;
      if (j <= i0 + 1) t += w[T + j] * x1;
      if (j <= i0 + 2) t += w[2 * T + j] * x2;
      t += w[3 * T + j] * x3;
      store_wide(yj, t);
    }
  }
}

/// Σ_j a_r[j]·b_r[j] (b null: Σ_j a_r[j]) over j < i0 + r + 1 for the four rows r of a block (row r at
/// a + r·T): each row's sum left to right as in the one-row loops, the four rows interleaved so that
/// they are four independent chains of additions instead of one (the same bits, a quarter of the wait).
template <class S>
void four_row_sums(const S* __restrict a, const S* __restrict b, index_t T, index_t i0, S* __restrict out) {
  S t0(0), t1(0), t2(0), t3(0);
  const auto term = [&](index_t r, index_t j) { return b != nullptr ? a[r * T + j] * b[r * T + j] : a[r * T + j]; };
  for (index_t j = 0; j <= i0; ++j) {
    t0 += term(0, j);
    t1 += term(1, j);
    t2 += term(2, j);
    t3 += term(3, j);
  }
  t1 += term(1, i0 + 1);
  t2 += term(2, i0 + 1);
  t2 += term(2, i0 + 2);
  t3 += term(3, i0 + 1);
  t3 += term(3, i0 + 2);
  t3 += term(3, i0 + 3);
  out[0] = t0;
  out[1] = t1;
  out[2] = t2;
  out[3] = t3;
}

/// softmax_in_place on the four causal rows of a block (row r has i0 + r + 1 keys; the rest set to 0),
/// the normalizers summed by four_row_sums: the same operations in the same order per row.
template <class S>
void softmax_four_rows(S* __restrict rows, index_t T, index_t i0) {
  for (index_t r = 0; r < kRowBlock; ++r) {
    S* __restrict row = rows + r * T;
    const index_t keys = i0 + r + 1;
    const S mx = row_max(row, keys);
    for (index_t j = 0; j < keys; ++j) row[j] = Math<S>::exp(row[j] - mx);
  }
  S total[kRowBlock];
  four_row_sums<S>(rows, nullptr, T, i0, total);
  for (index_t r = 0; r < kRowBlock; ++r) {
    S* __restrict row = rows + r * T;
    const index_t keys = i0 + r + 1;
    for (index_t j = 0; j < keys; ++j) row[j] /= total[r];
    for (index_t j = keys; j < T; ++j) row[j] = S(0);
  }
}

template <class S, int DH>
void attention_forward_wide(const S* __restrict q, const S* __restrict k, const S* __restrict v, S* __restrict o,
                            S* __restrict p, const HeadShape& s, S scale) {
  const index_t T = s.seq_len, ld = s.ld_qkv;
  S* __restrict kt = scratch<S>(static_cast<std::size_t>(DH * T));
  transpose_head(k, T, DH, ld, kt);
  for (index_t i0 = 0; i0 < T; i0 += kRowBlock) {
    S* __restrict rows = p + i0 * T;
    wide_rows_times_transposed<S, DH>(q + i0 * ld, ld, kt, T, i0 + kRowBlock, rows);  // Σ_c q_ic k_jc
    for (index_t r = 0; r < kRowBlock; ++r)
      for (index_t j = 0; j <= i0 + r; ++j) rows[r * T + j] *= scale;
    softmax_four_rows(rows, T, i0);
    wide_accumulate_rows<S, DH>(rows, T, v, ld, i0, o + i0 * s.ld_o, s.ld_o);  // out_i = Σ_j p_ij v_j
  }
}

template <class S, int DH>
void attention_backward_wide(const S* __restrict q, const S* __restrict k, const S* __restrict v,
                             const S* __restrict dout, const S* __restrict p, S* __restrict dq, S* __restrict dk,
                             S* __restrict dv, const HeadShape& s, S scale) {
  const index_t T = s.seq_len, ld = s.ld_qkv;
  S* __restrict vt = scratch<S>(static_cast<std::size_t>(DH * T + kRowBlock * T));
  S* __restrict ds = vt + DH * T;
  transpose_head(v, T, DH, ld, vt);
  for (index_t j = 0; j < T; ++j)
    for (index_t c = 0; c < DH; ++c) dk[j * ld + c] = dv[j * ld + c] = S(0);
  for (index_t i0 = 0; i0 < T; i0 += kRowBlock) {
    const S* __restrict prows = p + i0 * T;
    wide_scatter_rows<S, DH>(prows, T, dout + i0 * s.ld_o, s.ld_o, dv, ld, i0);  // dv_j += p_ij dout_i
    wide_rows_times_transposed<S, DH>(dout + i0 * s.ld_o, s.ld_o, vt, T, i0 + kRowBlock,
                                      ds);  // dp_ij = Σ_c dout_ic v_jc
    S dot[kRowBlock];                       // softmax backward: ds = scale·p ⊙ (dp − Σ dp⊙p)
    four_row_sums<S>(ds, prows, T, i0, dot);
    for (index_t r = 0; r < kRowBlock; ++r) {
      S* __restrict dsr = ds + r * T;
      const S* __restrict prow = prows + r * T;
      for (index_t j = 0; j <= i0 + r; ++j) dsr[j] = scale * (prow[j] * (dsr[j] - dot[r]));
    }
    wide_accumulate_rows<S, DH>(ds, T, k, ld, i0, dq + i0 * ld, ld);  // dq_i = Σ_j ds_ij k_j
    wide_scatter_rows<S, DH>(ds, T, q + i0 * ld, ld, dk, ld, i0);     // dk_j += ds_ij q_i
  }
}

/// The head dimension as a compile-time constant where it is one of the usual ones.
/// One head dimension: the four-rows-at-a-time kernel where the shape allows it, else the row kernel
/// (both add the same products in the same order; docs/development.md §1).
template <class S, int DH>
void attention_forward_dh(const S* q, const S* k, const S* v, S* o, S* p, const HeadShape& s, S scale) {
  if constexpr (DH > 0) {
    if (wide_rows_apply<S, DH>(s.seq_len)) return attention_forward_wide<S, DH>(q, k, v, o, p, s, scale);
  }
  attention_forward_body<S, DH>(q, k, v, o, p, s, scale);
}

template <class S, int DH>
void attention_backward_dh(const S* q, const S* k, const S* v, const S* dout, const S* p, S* dq, S* dk, S* dv,
                           const HeadShape& s, S scale) {
  if constexpr (DH > 0) {
    if (wide_rows_apply<S, DH>(s.seq_len))
      return attention_backward_wide<S, DH>(q, k, v, dout, p, dq, dk, dv, s, scale);
  }
  attention_backward_body<S, DH>(q, k, v, dout, p, dq, dk, dv, s, scale);
}

template <class S>
void attention_forward_any(const S* q, const S* k, const S* v, S* o, S* p, const HeadShape& s, S scale) {
  switch (s.head_dim) {
    case 8: return attention_forward_dh<S, 8>(q, k, v, o, p, s, scale);
    case 16: return attention_forward_dh<S, 16>(q, k, v, o, p, s, scale);
    case 32: return attention_forward_dh<S, 32>(q, k, v, o, p, s, scale);
    case 64: return attention_forward_dh<S, 64>(q, k, v, o, p, s, scale);
    default: return attention_forward_dh<S, 0>(q, k, v, o, p, s, scale);
  }
}

template <class S>
void attention_backward_any(const S* q, const S* k, const S* v, const S* dout, const S* p, S* dq, S* dk, S* dv,
                            const HeadShape& s, S scale) {
  switch (s.head_dim) {
    case 8: return attention_backward_dh<S, 8>(q, k, v, dout, p, dq, dk, dv, s, scale);
    case 16: return attention_backward_dh<S, 16>(q, k, v, dout, p, dq, dk, dv, s, scale);
    case 32: return attention_backward_dh<S, 32>(q, k, v, dout, p, dq, dk, dv, s, scale);
    case 64: return attention_backward_dh<S, 64>(q, k, v, dout, p, dq, dk, dv, s, scale);
    default: return attention_backward_dh<S, 0>(q, k, v, dout, p, dq, dk, dv, s, scale);
  }
}

// ---- LayerNorm rows, Adam ----------------------------------------------------------------------------------
/// shared::layer_norm_row_forward on four rows at once: each row's sums in the row's order (k = 0..d−1),
/// the four rows interleaved so that the sums are four independent chains (the same bits).
template <class S>
void layer_norm_forward_four_rows(const S* __restrict x, const S* __restrict gain, S multiplier, S eps, index_t d,
                                  S* __restrict hat, S* __restrict rstd, S* __restrict u) {
  S sum[kRowBlock] = {}, sq[kRowBlock] = {}, mean[kRowBlock];
  for (index_t k = 0; k < d; ++k)
    for (index_t r = 0; r < kRowBlock; ++r) sum[r] += x[r * d + k];
  for (index_t r = 0; r < kRowBlock; ++r) mean[r] = sum[r] / static_cast<S>(d);
  for (index_t k = 0; k < d; ++k)
    for (index_t r = 0; r < kRowBlock; ++r) sq[r] += (x[r * d + k] - mean[r]) * (x[r * d + k] - mean[r]);
  for (index_t r = 0; r < kRowBlock; ++r) {
    rstd[r] = S(1) / std::sqrt(sq[r] / static_cast<S>(d) + eps);
    for (index_t k = 0; k < d; ++k) {
      hat[r * d + k] = (x[r * d + k] - mean[r]) * rstd[r];
      u[r * d + k] = multiplier * (hat[r * d + k] * gain[k]);
    }
  }
}

template <class S>
void layer_norm_forward_body(const S* x, const S* gain, S multiplier, S eps, index_t rows, index_t d, S* hat, S* rstd,
                             S* u) {
  index_t r = 0;
  for (; r + kRowBlock <= rows; r += kRowBlock)
    layer_norm_forward_four_rows(x + r * d, gain, multiplier, eps, d, hat + r * d, rstd + r, u + r * d);
  for (; r < rows; ++r)
    rstd[r] = shared::layer_norm_row_forward(x + r * d, gain, multiplier, eps, d, hat + r * d, u + r * d);
}

/// shared::layer_norm_row_backward (accumulate = false) on four rows at once, the same way.
template <class S>
void layer_norm_backward_four_rows(const S* __restrict du, const S* __restrict hat, const S* __restrict rstd,
                                   const S* __restrict gain, S multiplier, index_t d, S* __restrict dx) {
  S sum_dhat[kRowBlock] = {}, sum_dhat_hat[kRowBlock] = {};
  for (index_t k = 0; k < d; ++k)
    for (index_t r = 0; r < kRowBlock; ++r) {
      const S dhat = multiplier * (du[r * d + k] * gain[k]);
      sum_dhat[r] += dhat;
      sum_dhat_hat[r] += dhat * hat[r * d + k];
    }
  for (index_t r = 0; r < kRowBlock; ++r) {
    const S mean_dhat = sum_dhat[r] / static_cast<S>(d);
    const S mean_dhat_hat = sum_dhat_hat[r] / static_cast<S>(d);
    for (index_t k = 0; k < d; ++k) {
      const S dhat = multiplier * (du[r * d + k] * gain[k]);
      dx[r * d + k] = rstd[r] * (dhat - mean_dhat - hat[r * d + k] * mean_dhat_hat);
    }
  }
}

template <class S>
void layer_norm_backward_body(const S* du, const S* hat, const S* rstd, const S* gain, S multiplier, index_t rows,
                              index_t d, S* dx) {
  index_t r = 0;
  for (; r + kRowBlock <= rows; r += kRowBlock)
    layer_norm_backward_four_rows(du + r * d, hat + r * d, rstd + r, gain, multiplier, d, dx + r * d);
  for (; r < rows; ++r)
    shared::layer_norm_row_backward(du + r * d, hat + r * d, rstd[r], gain, multiplier, d, dx + r * d, false);
}

/// shared::adam_element, chunk by chunk: the state is widened to double in per-thread buffers (the
/// element update in double then vectorizes; adam_element<float> computes in double too and rounds
/// only what it stores, so the bits are the same), and Σ Δθ² stays in index order.
template <class S>
double adam_update_body(S* __restrict theta, S* __restrict m, S* __restrict v, const S* __restrict grad, index_t n,
                        const shared::AdamStep& h) {
  constexpr index_t kChunk = 2048;
  double* __restrict buffer = scratch<double>(5 * kChunk);
  double* __restrict td = buffer;
  double* __restrict md = buffer + kChunk;
  double* __restrict vd = buffer + 2 * kChunk;
  double* __restrict gd = buffer + 3 * kChunk;
  double* __restrict delta = buffer + 4 * kChunk;
  const shared::AdamStep local = h;  // a local copy: no store in the loop can alias it
  double sum = 0.0;
  for (index_t start = 0; start < n; start += kChunk) {
    const index_t len = std::min(kChunk, n - start);
    for (index_t i = 0; i < len; ++i) {
      td[i] = static_cast<double>(theta[start + i]);
      md[i] = static_cast<double>(m[start + i]);
      vd[i] = static_cast<double>(v[start + i]);
      gd[i] = static_cast<double>(grad[start + i]);
    }
    for (index_t i = 0; i < len; ++i) delta[i] = shared::adam_element(td[i], md[i], vd[i], gd[i], local);
    for (index_t i = 0; i < len; ++i) {
      theta[start + i] = static_cast<S>(td[i]);
      m[start + i] = static_cast<S>(md[i]);
      v[start + i] = static_cast<S>(vd[i]);
    }
    for (index_t i = 0; i < len; ++i) sum += delta[i] * delta[i];
  }
  return sum;
}

// ---- the float builds ---------------------------------------------------------------------------------
#define MUELAB_VK_FLOAT_BUILD(ns, ...)                                                                                \
  namespace ns {                                                                                                      \
  __VA_ARGS__ void gelu_forward(const float* z, float* act, index_t n) { gelu_forward_body(z, act, n); }              \
  __VA_ARGS__ void gelu_backward(const float* z, const float* dact, float* dz, index_t n) {                           \
    gelu_backward_body(z, dact, dz, n);                                                                               \
  }                                                                                                                   \
  __VA_ARGS__ void swiglu_forward(const float* zg, const float* zu, float* act, index_t n) {                          \
    swiglu_forward_body(zg, zu, act, n);                                                                              \
  }                                                                                                                   \
  __VA_ARGS__ void swiglu_backward(const float* zg, const float* zu, const float* dact, float* dzg, float* dzu,       \
                                  index_t n) {                                                                        \
    swiglu_backward_body(zg, zu, dact, dzg, dzu, n);                                                                  \
  }                                                                                                                   \
  __VA_ARGS__ void attention_forward(const float* q, const float* k, const float* v, float* o, float* p,              \
                                    const HeadShape& s, float scale) {                                                \
    attention_forward_any(q, k, v, o, p, s, scale);                                                                  \
  }                                                                                                                   \
  __VA_ARGS__ void attention_backward(const float* q, const float* k, const float* v, const float* dout,              \
                                     const float* p, float* dq, float* dk, float* dv, const HeadShape& s,             \
                                     float scale) {                                                                   \
    attention_backward_any(q, k, v, dout, p, dq, dk, dv, s, scale);                                                  \
  }                                                                                                                   \
  __VA_ARGS__ double cross_entropy(const float* logits, index_t rows, index_t vocab, const std::int32_t* targets,     \
                                  float* probs) {                                                                     \
    return cross_entropy_rows_body(logits, rows, vocab, targets, probs);                                              \
  }                                                                                                                   \
  __VA_ARGS__ void layer_norm_forward(const float* x, const float* gain, float multiplier, float eps, index_t rows,   \
                                      index_t d, float* hat, float* rstd, float* u) {                                 \
    layer_norm_forward_body(x, gain, multiplier, eps, rows, d, hat, rstd, u);                                         \
  }                                                                                                                   \
  __VA_ARGS__ void layer_norm_backward(const float* du, const float* hat, const float* rstd, const float* gain,       \
                                       float multiplier, index_t rows, index_t d, float* dx) {                        \
    layer_norm_backward_body(du, hat, rstd, gain, multiplier, rows, d, dx);                                           \
  }                                                                                                                   \
  __VA_ARGS__ double adam(float* theta, float* m, float* v, const float* grad, index_t n,                            \
                          const shared::AdamStep& h) {                                                                \
    return adam_update_body(theta, m, v, grad, n, h);                                                                 \
  }                                                                                                                   \
  }

MUELAB_VK_FLOAT_BUILD(build_avx512, [[gnu::flatten, gnu::target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi2")]])
MUELAB_VK_FLOAT_BUILD(build_avx2, [[gnu::flatten, gnu::target("avx2,fma,bmi2")]])
MUELAB_VK_FLOAT_BUILD(build_baseline, [[gnu::flatten]])
#undef MUELAB_VK_FLOAT_BUILD

struct FloatKernels {
  decltype(&build_baseline::gelu_forward) gelu_forward;
  decltype(&build_baseline::gelu_backward) gelu_backward;
  decltype(&build_baseline::swiglu_forward) swiglu_forward;
  decltype(&build_baseline::swiglu_backward) swiglu_backward;
  decltype(&build_baseline::attention_forward) attention_forward;
  decltype(&build_baseline::attention_backward) attention_backward;
  decltype(&build_baseline::cross_entropy) cross_entropy;
  decltype(&build_baseline::layer_norm_forward) layer_norm_forward;
  decltype(&build_baseline::layer_norm_backward) layer_norm_backward;
  decltype(&build_baseline::adam) adam;
};

#define MUELAB_VK_TABLE(ns)                                                                                    \
  FloatKernels {                                                                                              \
    ns::gelu_forward, ns::gelu_backward, ns::swiglu_forward, ns::swiglu_backward, ns::attention_forward,      \
        ns::attention_backward, ns::cross_entropy, ns::layer_norm_forward, ns::layer_norm_backward, ns::adam     \
  }

FloatKernels table_for(Isa isa) {
  switch (isa) {
    case Isa::avx512: return MUELAB_VK_TABLE(build_avx512);
    case Isa::avx2: return MUELAB_VK_TABLE(build_avx2);
    case Isa::baseline: break;
  }
  return MUELAB_VK_TABLE(build_baseline);
}
#undef MUELAB_VK_TABLE

Isa best_isa() {
  if (isa_supported(Isa::avx512)) return Isa::avx512;
  if (isa_supported(Isa::avx2)) return Isa::avx2;
  return Isa::baseline;
}

struct Selection {
  Isa isa = best_isa();
  FloatKernels kernels = table_for(isa);
};

Selection& selection() {
  static Selection s;
  return s;
}

const FloatKernels& kernels() { return selection().kernels; }

}  // namespace

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx2") &&
             __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
    case Isa::baseline: return true;
  }
  return false;
}

std::string isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::baseline: return "baseline";
  }
  return "baseline";
}

Isa active_isa() { return selection().isa; }

void force_isa(Isa isa) {
  if (!isa_supported(isa)) throw std::invalid_argument("force_isa: this CPU does not support " + isa_name(isa));
  selection().isa = isa;
  selection().kernels = table_for(isa);
}

void gelu_forward(const float* z, float* act, index_t n) { kernels().gelu_forward(z, act, n); }
void gelu_forward(const double* z, double* act, index_t n) { gelu_forward_body(z, act, n); }
void gelu_backward(const float* z, const float* dact, float* dz, index_t n) { kernels().gelu_backward(z, dact, dz, n); }
void gelu_backward(const double* z, const double* dact, double* dz, index_t n) { gelu_backward_body(z, dact, dz, n); }
void swiglu_forward(const float* zg, const float* zu, float* act, index_t n) { kernels().swiglu_forward(zg, zu, act, n); }
void swiglu_forward(const double* zg, const double* zu, double* act, index_t n) { swiglu_forward_body(zg, zu, act, n); }
void swiglu_backward(const float* zg, const float* zu, const float* dact, float* dzg, float* dzu, index_t n) {
  kernels().swiglu_backward(zg, zu, dact, dzg, dzu, n);
}
void swiglu_backward(const double* zg, const double* zu, const double* dact, double* dzg, double* dzu, index_t n) {
  swiglu_backward_body(zg, zu, dact, dzg, dzu, n);
}
void attention_head_forward(const float* q, const float* k, const float* v, float* o, float* p, const HeadShape& s,
                            float scale) {
  kernels().attention_forward(q, k, v, o, p, s, scale);
}
void attention_head_forward(const double* q, const double* k, const double* v, double* o, double* p,
                            const HeadShape& s, double scale) {
  attention_forward_any(q, k, v, o, p, s, scale);
}
void attention_head_backward(const float* q, const float* k, const float* v, const float* dout, const float* p,
                             float* dq, float* dk, float* dv, const HeadShape& s, float scale) {
  kernels().attention_backward(q, k, v, dout, p, dq, dk, dv, s, scale);
}
void attention_head_backward(const double* q, const double* k, const double* v, const double* dout, const double* p,
                             double* dq, double* dk, double* dv, const HeadShape& s, double scale) {
  attention_backward_any(q, k, v, dout, p, dq, dk, dv, s, scale);
}
double cross_entropy_rows(const float* logits, index_t rows, index_t vocab, const std::int32_t* targets, float* probs) {
  return kernels().cross_entropy(logits, rows, vocab, targets, probs);
}
double cross_entropy_rows(const double* logits, index_t rows, index_t vocab, const std::int32_t* targets,
                          double* probs) {
  return cross_entropy_rows_body(logits, rows, vocab, targets, probs);
}

void layer_norm_rows_forward(const float* x, const float* gain, float multiplier, float eps, index_t rows, index_t d,
                             float* hat, float* rstd, float* u) {
  kernels().layer_norm_forward(x, gain, multiplier, eps, rows, d, hat, rstd, u);
}
void layer_norm_rows_forward(const double* x, const double* gain, double multiplier, double eps, index_t rows,
                             index_t d, double* hat, double* rstd, double* u) {
  layer_norm_forward_body(x, gain, multiplier, eps, rows, d, hat, rstd, u);
}
void layer_norm_rows_backward(const float* du, const float* hat, const float* rstd, const float* gain, float multiplier,
                              index_t rows, index_t d, float* dx) {
  kernels().layer_norm_backward(du, hat, rstd, gain, multiplier, rows, d, dx);
}
void layer_norm_rows_backward(const double* du, const double* hat, const double* rstd, const double* gain,
                              double multiplier, index_t rows, index_t d, double* dx) {
  layer_norm_backward_body(du, hat, rstd, gain, multiplier, rows, d, dx);
}
double adam_update(float* theta, float* m, float* v, const float* grad, index_t n, const shared::AdamStep& h) {
  return kernels().adam(theta, m, v, grad, n, h);
}
double adam_update(double* theta, double* m, double* v, const double* grad, index_t n, const shared::AdamStep& h) {
  return adam_update_body(theta, m, v, grad, n, h);
}

}  // namespace muelab::models::cpu::vk
