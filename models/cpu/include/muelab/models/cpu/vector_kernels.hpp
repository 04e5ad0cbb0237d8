// Hot loops of the CPU trainer, built once per instruction set and chosen at run time
// (docs/development.md §1, "Per-ISA kernels"): FFN activations, one attention head (forward and
// backward, causal), LayerNorm rows, the softmax / cross-entropy rows of the loss and the Adam(W)
// update. LayerNorm rows and the Adam update are exactly the shared kernels' arithmetic
// (models/shared), so they give the bits of the CUDA backend's per-row and per-element code.
//
// Float kernels exist in three builds (AVX-512, AVX2+FMA, baseline x86-64); the first one the CPU
// supports is used. Every build gives the same bits: the loops keep a fixed order of operations
// (no reassociation, no FMA contraction: the file is compiled with -ffp-contract=off), and the
// transcendental functions are the same polynomials on every build (fast_exp, fast_erf below).
// Double kernels (gradient checks) use the same loops with std::exp / std::erf, baseline build only.
//
// Accuracy of the float polynomials (tests/models/test_vector_kernels.cpp): fast_exp within
// 2 ulp of exp on [-87, 88]; fast_erf within 5e-7 absolute of erf (the rational approximation
// Eigen and TensorFlow use for float erf).
#pragma once

#include "muelab/models/shared/kernels.hpp"

#include <cstdint>
#include <string>

namespace muelab::models::cpu::vk {

using index_t = std::int64_t;

enum class Isa { baseline, avx2, avx512 };

/// The build in use: the best one the CPU supports, unless force_isa chose another.
[[nodiscard]] Isa active_isa();
[[nodiscard]] std::string isa_name(Isa isa);
[[nodiscard]] bool isa_supported(Isa isa);
/// Selects a build (tests compare the builds bit for bit). Throws std::invalid_argument when the
/// CPU lacks it.
void force_isa(Isa isa);

/// e^x for float, vectorizable (Cody–Waite reduction, degree-6 polynomial); x is clamped to [−87.3, 88].
[[nodiscard]] float fast_exp(float x);
/// erf(x) for float, vectorizable (rational approximation on [−4, 4], ±1 outside).
[[nodiscard]] float fast_erf(float x);

// ---- FFN activations (docs/theory.md §2) --------------------------------------------------------------
/// act = GELU(z) = z·Φ(z), elementwise over n entries.
void gelu_forward(const float* z, float* act, index_t n);
void gelu_forward(const double* z, double* act, index_t n);
/// dz = dact ⊙ GELU'(z).
void gelu_backward(const float* z, const float* dact, float* dz, index_t n);
void gelu_backward(const double* z, const double* dact, double* dz, index_t n);
/// act = SiLU(z_gate) ⊙ z_up (SwiGLU).
void swiglu_forward(const float* z_gate, const float* z_up, float* act, index_t n);
void swiglu_forward(const double* z_gate, const double* z_up, double* act, index_t n);
/// dz_up = dact ⊙ SiLU(z_gate), dz_gate = dact ⊙ z_up ⊙ SiLU'(z_gate).
void swiglu_backward(const float* z_gate, const float* z_up, const float* dact, float* dz_gate, float* dz_up, index_t n);
void swiglu_backward(const double* z_gate, const double* z_up, const double* dact, double* dz_gate, double* dz_up,
                     index_t n);

// ---- one causal attention head (docs/theory.md §2) --------------------------------------------------------
/// q, k, v: T × dh with row stride ld_qkv; o: T × dh with row stride ld_o; p: T × T (contiguous),
/// receives the attention probabilities softmax(scale·q kᵀ) over keys 0..i of row i (zeros above).
struct HeadShape {
  index_t seq_len = 0, head_dim = 0, ld_qkv = 0, ld_o = 0;
};
void attention_head_forward(const float* q, const float* k, const float* v, float* o, float* p, const HeadShape& s,
                            float scale);
void attention_head_forward(const double* q, const double* k, const double* v, double* o, double* p,
                            const HeadShape& s, double scale);
/// Given dout (stride ld_o) and the forward's p, writes dq, dk, dv (stride ld_qkv; overwritten).
void attention_head_backward(const float* q, const float* k, const float* v, const float* dout, const float* p,
                             float* dq, float* dk, float* dv, const HeadShape& s, float scale);
void attention_head_backward(const double* q, const double* k, const double* v, const double* dout, const double* p,
                             double* dq, double* dk, double* dv, const HeadShape& s, double scale);

// ---- rows ------------------------------------------------------------------------------------------------
/// probs = softmax(logits) per row (rows × vocab); returns Σ_rows cross-entropy against targets.
double cross_entropy_rows(const float* logits, index_t rows, index_t vocab, const std::int32_t* targets, float* probs);
double cross_entropy_rows(const double* logits, index_t rows, index_t vocab, const std::int32_t* targets,
                          double* probs);

// ---- LayerNorm rows and the optimizer (the shared kernels, vectorized where their order allows) ----------
/// Rows × d: shared::layer_norm_row_forward on every row (rstd: one per row).
void layer_norm_rows_forward(const float* x, const float* gain, float multiplier, float eps, index_t rows, index_t d,
                             float* hat, float* rstd, float* u);
void layer_norm_rows_forward(const double* x, const double* gain, double multiplier, double eps, index_t rows,
                             index_t d, double* hat, double* rstd, double* u);
/// Rows × d: shared::layer_norm_row_backward (dx overwritten).
void layer_norm_rows_backward(const float* du, const float* hat, const float* rstd, const float* gain, float multiplier,
                              index_t rows, index_t d, float* dx);
void layer_norm_rows_backward(const double* du, const double* hat, const double* rstd, const double* gain,
                              double multiplier, index_t rows, index_t d, double* dx);
/// shared::adam_element on n entries; returns Σ Δθ² (summed in index order).
double adam_update(float* theta, float* m, float* v, const float* grad, index_t n, const shared::AdamStep& h);
double adam_update(double* theta, double* m, double* v, const double* grad, index_t n, const shared::AdamStep& h);

}  // namespace muelab::models::cpu::vk
