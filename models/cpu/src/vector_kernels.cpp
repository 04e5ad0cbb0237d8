// Per-ISA hot loops of the CPU trainer (see vector_kernels.hpp; docs/development.md §1). Each kernel
// is one template body; the float builds are thin wrappers compiled for AVX-512, AVX2 or baseline
// x86-64 ([[gnu::target]] + [[gnu::flatten]], so the whole body is generated for that ISA), picked
// once at run time. This file is compiled with -ffp-contract=off: a build never fuses a·b + c, so
// all builds round identically.
#include "muelab/models/cpu/vector_kernels.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
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
/// row[0..count) ← softmax(row[0..count)); returns the normalizer Σ exp(· − max) (sums left to right).
template <class S>
S softmax_in_place(S* row, index_t count) {
  S mx = row[0];
  for (index_t j = 1; j < count; ++j) mx = row[j] > mx ? row[j] : mx;
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
    S mx = l[0];
    for (index_t j = 1; j < vocab; ++j) mx = l[j] > mx ? l[j] : mx;
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

template <class S>
void attention_forward_body(const S* q, const S* k, const S* v, S* o, S* p, const HeadShape& s, S scale) {
  const index_t T = s.seq_len, dh = s.head_dim, ld = s.ld_qkv;
  S* kt = scratch<S>(static_cast<std::size_t>(dh * T));
  transpose_head(k, T, dh, ld, kt);
  for (index_t i = 0; i < T; ++i) {
    S* row = p + i * T;
    const index_t keys = i + 1;
    for (index_t j = 0; j < keys; ++j) row[j] = S(0);
    for (index_t c = 0; c < dh; ++c) {  // row[j] = Σ_c q_ic k_jc, c in order
      const S qc = q[i * ld + c];
      const S* ktc = kt + c * T;
      for (index_t j = 0; j < keys; ++j) row[j] += qc * ktc[j];
    }
    for (index_t j = 0; j < keys; ++j) row[j] *= scale;
    softmax_in_place(row, keys);
    for (index_t j = keys; j < T; ++j) row[j] = S(0);
    S* out = o + i * s.ld_o;
    for (index_t c = 0; c < dh; ++c) out[c] = S(0);
    for (index_t j = 0; j < keys; ++j) {  // out = Σ_j p_ij v_j, j in order
      const S pj = row[j];
      const S* vj = v + j * ld;
      for (index_t c = 0; c < dh; ++c) out[c] += pj * vj[c];
    }
  }
}

template <class S>
void attention_backward_body(const S* q, const S* k, const S* v, const S* dout, const S* p, S* dq, S* dk, S* dv,
                             const HeadShape& s, S scale) {
  const index_t T = s.seq_len, dh = s.head_dim, ld = s.ld_qkv;
  S* vt = scratch<S>(static_cast<std::size_t>(dh * T + T));
  S* ds = vt + dh * T;
  transpose_head(v, T, dh, ld, vt);
  for (index_t j = 0; j < T; ++j)
    for (index_t c = 0; c < dh; ++c) dq[j * ld + c] = dk[j * ld + c] = dv[j * ld + c] = S(0);
  for (index_t i = 0; i < T; ++i) {
    const S* prow = p + i * T;
    const S* douti = dout + i * s.ld_o;
    const index_t keys = i + 1;
    for (index_t j = 0; j < keys; ++j) {  // dv_j += p_ij dout_i
      const S pj = prow[j];
      S* dvj = dv + j * ld;
      for (index_t c = 0; c < dh; ++c) dvj[c] += pj * douti[c];
    }
    for (index_t j = 0; j < keys; ++j) ds[j] = S(0);
    for (index_t c = 0; c < dh; ++c) {  // dp_ij = Σ_c dout_ic v_jc
      const S dc = douti[c];
      const S* vtc = vt + c * T;
      for (index_t j = 0; j < keys; ++j) ds[j] += dc * vtc[j];
    }
    S dot(0);  // softmax backward: ds = scale·p ⊙ (dp − Σ dp⊙p)
    for (index_t j = 0; j < keys; ++j) dot += ds[j] * prow[j];
    for (index_t j = 0; j < keys; ++j) ds[j] = scale * (prow[j] * (ds[j] - dot));
    S* dqi = dq + i * ld;
    const S* qi = q + i * ld;
    for (index_t j = 0; j < keys; ++j) {  // dq_i += ds_ij k_j, dk_j += ds_ij q_i
      const S dsj = ds[j];
      const S* kj = k + j * ld;
      S* dkj = dk + j * ld;
      for (index_t c = 0; c < dh; ++c) dqi[c] += dsj * kj[c];
      for (index_t c = 0; c < dh; ++c) dkj[c] += dsj * qi[c];
    }
  }
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
    attention_forward_body(q, k, v, o, p, s, scale);                                                                  \
  }                                                                                                                   \
  __VA_ARGS__ void attention_backward(const float* q, const float* k, const float* v, const float* dout,              \
                                     const float* p, float* dq, float* dk, float* dv, const HeadShape& s,             \
                                     float scale) {                                                                   \
    attention_backward_body(q, k, v, dout, p, dq, dk, dv, s, scale);                                                  \
  }                                                                                                                   \
  __VA_ARGS__ double cross_entropy(const float* logits, index_t rows, index_t vocab, const std::int32_t* targets,     \
                                  float* probs) {                                                                     \
    return cross_entropy_rows_body(logits, rows, vocab, targets, probs);                                              \
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
};

#define MUELAB_VK_TABLE(ns)                                                                                    \
  FloatKernels {                                                                                              \
    ns::gelu_forward, ns::gelu_backward, ns::swiglu_forward, ns::swiglu_backward, ns::attention_forward,      \
        ns::attention_backward, ns::cross_entropy                                                             \
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
  attention_forward_body(q, k, v, o, p, s, scale);
}
void attention_head_backward(const float* q, const float* k, const float* v, const float* dout, const float* p,
                             float* dq, float* dk, float* dv, const HeadShape& s, float scale) {
  kernels().attention_backward(q, k, v, dout, p, dq, dk, dv, s, scale);
}
void attention_head_backward(const double* q, const double* k, const double* v, const double* dout, const double* p,
                             double* dq, double* dk, double* dv, const HeadShape& s, double scale) {
  attention_backward_body(q, k, v, dout, p, dq, dk, dv, s, scale);
}
double cross_entropy_rows(const float* logits, index_t rows, index_t vocab, const std::int32_t* targets, float* probs) {
  return kernels().cross_entropy(logits, rows, vocab, targets, probs);
}
double cross_entropy_rows(const double* logits, index_t rows, index_t vocab, const std::int32_t* targets,
                          double* probs) {
  return cross_entropy_rows_body(logits, rows, vocab, targets, probs);
}

}  // namespace muelab::models::cpu::vk
