// Host-callable launchers of the CUDA backend's stages (docs/theory.md §2–§6). Every pointer argument is
// device memory; every launcher enqueues on the default stream and returns without synchronizing,
// and none reads anything back: sizes that depend on the data (the rows each expert keeps) stay
// on the device and are read there by the kernels that need them.
// The per-row and elementwise bodies are the functions of models/shared/kernels.hpp, the very code
// the CPU reference backend runs. This header has no CUDA types, so plain C++20 code (tests, the
// CLI, the benchmark) can include it. Instantiated for float and double.
#pragma once

#include "muelab/models/shared/grouped_gemm.hpp"
#include "muelab/models/shared/kernels.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace muelab::models::cuda {

using shared::index_t;

/// Thrown when a CUDA runtime or cuBLAS call fails (message names the call).
struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Owning device buffer (cudaMalloc/cudaFree), with host copies for tests and set-up.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t count);
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) { upload(host); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& other) noexcept : data_(other.data_), count_(other.count_) {
    other.data_ = nullptr;
    other.count_ = 0;
  }
  DeviceArray& operator=(DeviceArray&& other) noexcept;
  ~DeviceArray();

  void upload(const std::vector<T>& host);
  [[nodiscard]] std::vector<T> download() const;
  void zero();
  [[nodiscard]] T* data() { return data_; }
  [[nodiscard]] const T* data() const { return data_; }
  [[nodiscard]] std::size_t size() const { return count_; }

 private:
  T* data_ = nullptr;
  std::size_t count_ = 0;
};

/// Waits for the default stream and turns a pending kernel error into CudaError.
void synchronize();

/// Page-locked host buffer of doubles: the target of the one asynchronous device→host copy per step.
class PinnedDoubles {
 public:
  PinnedDoubles() = default;
  explicit PinnedDoubles(std::size_t count);
  PinnedDoubles(const PinnedDoubles&) = delete;
  PinnedDoubles& operator=(const PinnedDoubles&) = delete;
  PinnedDoubles(PinnedDoubles&& other) noexcept : data_(other.data_), count_(other.count_) {
    other.data_ = nullptr;
    other.count_ = 0;
  }
  PinnedDoubles& operator=(PinnedDoubles&& other) noexcept;
  ~PinnedDoubles();
  /// Enqueues ONE cudaMemcpyAsync of the first `count` doubles of `device` on the default stream,
  /// waits for the stream (so kernel errors surface here as CudaError) and returns the host copy.
  const double* fetch(const double* device, std::size_t count);
  [[nodiscard]] std::size_t size() const { return count_; }

 private:
  double* data_ = nullptr;
  std::size_t count_ = 0;
};

/// Row-major GEMM through cuBLAS: C = alpha·op(A)·op(B) + beta·C (lda/ldb/ldc = row strides).
/// FP32 GEMMs use the pedantic math mode (no TF32), so parity with the CPU is a rounding question.
class Blas {
 public:
  Blas();
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;
  template <class T>
  void gemm(bool transpose_a, bool transpose_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
            const T* b, index_t ldb, T beta, T* c, index_t ldc);
  /// Batched over `count` problems whose operands sit `stride_*` elements apart (heads of one sequence).
  template <class T>
  void gemm_strided_batched(bool transpose_a, bool transpose_b, index_t m, index_t n, index_t k, T alpha, const T* a,
                            index_t lda, index_t stride_a, const T* b, index_t ldb, index_t stride_b, T beta, T* c,
                            index_t ldc, index_t stride_c, index_t count);

 private:
  void* handle_ = nullptr;
};

// ---- norms, activations -------------------------------------------------------------------------------
template <class T>
void layer_norm_forward(const T* x, const T* gain, T multiplier, T eps, index_t n, index_t d, T* hat, T* rstd, T* u);
/// dx (=|+=) row backward; when dgain is non-null, dgain += m·Σ_rows du⊙ĥ (column sums in row order).
template <class T>
void layer_norm_backward(const T* du, const T* hat, const T* rstd, const T* gain, T multiplier, index_t n, index_t d,
                         T* dx, bool accumulate, T* dgain);
template <class T>
void gelu_forward(const T* z, index_t count, T* act);
template <class T>
void gelu_backward(const T* z, const T* dact, index_t count, T* dz);
template <class T>
void swiglu_forward(const T* z_gate, const T* z_up, index_t count, T* act);
template <class T>
void swiglu_backward(const T* z_gate, const T* z_up, const T* dact, index_t count, T* dz_gate, T* dz_up);

// ---- router and MoE dispatch (§5, §6) ------------------------------------------------------------------
/// p = softmax rows (softmax router) or σ elementwise (sigmoid router) of the n × N scores.
template <class T>
void router_probabilities(const T* scores, index_t n, index_t n_experts, bool sigmoid_router, T* p);
/// ds from dp through the softmax rows or σ' = p(1 − p).
template <class T>
void router_backward(const T* p, const T* dp, index_t n, index_t n_experts, bool sigmoid_router, T* ds);
/// Top-a on p + bias (ties → lower index) and gates, one thread per token: choice, gate are n × a.
template <class T>
void top_a_gates(const T* p, const double* bias, index_t n, index_t n_experts, index_t groups, index_t per_group,
                 bool normalize, index_t* choice, T* gate);
/// dp (n × N, zeroed here) from dgate through the gate normalization.
template <class T>
void gates_backward(const T* p, const index_t* choice, const T* gate, const T* dgate, index_t n, index_t n_experts,
                    index_t a, bool normalize, T* dp);

/// Token permutation by expert, token order inside each expert (as the CPU groups them), with the
/// capacity limit (capacity ≥ n·a: dropless), entirely on the device: a histogram of the choices
/// (one block per expert), the exclusive scan of the kept counts (shared::kept_row_offsets) and a
/// stable fill (one block per expert, a block scan over the choices in token order). Outputs:
/// load_count[N] (choices per expert, dropped included), offsets[N+1] (kept rows per expert,
/// exclusive scan; offsets[N] = kept rows in all), rows/slots[n·a] (token and slot of each
/// permuted row), position[n·a] (permuted row of choice t·a+j, −1 when dropped).
void permute_by_expert(const index_t* choice, index_t n, index_t a, index_t n_experts, index_t capacity,
                       index_t* load_count, index_t* offsets, index_t* rows, index_t* slots, index_t* position);
/// out[r] = x[rows[r]] for r < *kept (device count, e.g. offsets + N); max_rows bounds the launch.
template <class T>
void gather_rows(const T* x, const index_t* rows, const index_t* kept, index_t max_rows, index_t d, T* out);

/// Rows-grouped GEMM over expert segments (shared/grouped_gemm.hpp): for each expert g,
/// C[o_g:o_{g+1}] = alpha·A[o_g:o_{g+1}]·op(B_g) + beta·C[o_g:o_{g+1}], with the offsets o and the
/// weight pointers b_table[g] in device memory. max_total_rows ≥ o_G sizes the launch.
template <class T>
void grouped_gemm_rows(bool transpose_b, index_t groups, const index_t* offsets, index_t max_total_rows, index_t n,
                       index_t k, T alpha, const T* a, index_t lda, const T* const* b_table, index_t ldb, T beta, T* c,
                       index_t ldc);
/// k-grouped GEMM (weight gradients): C_g = alpha·A[o_g:o_{g+1}]ᵀ·B[o_g:o_{g+1}] + beta·C_g, C_g = c_table[g] (m × n).
template <class T>
void grouped_gemm_reduce(index_t groups, const index_t* offsets, index_t m, index_t n, T alpha, const T* a, index_t lda,
                         const T* b, index_t ldb, T beta, T* const* c_table, index_t ldc);

/// Auxiliary balance loss of one MoE layer (shared/kernels.hpp, §6): row_total[n] = Σ_e p_te,
/// load_fraction[N] = f_e, column_sum[N] = Σ_t p̂_te (scratch the backward reuses), *aux = the loss.
template <class T>
void aux_balance_forward(const T* p, const index_t* load_count, index_t n, index_t n_experts, index_t a, double coef,
                         T* row_total, double* load_fraction, double* column_sum, double* aux);
/// dp (n × N) += ∂aux/∂p per token row (after gates_backward wrote dp).
template <class T>
void aux_balance_backward(const T* p, const T* row_total, const double* load_fraction, index_t n, index_t n_experts,
                          double coef, T* dp);
/// out[t] (=|+=) Σ over the token's kept choices in increasing expert id of w·y[position] with
/// w = route·gate (weighted) or 1 (unweighted; the backward's scatter of dx), the CPU's order.
template <class T>
void combine(const T* y, const index_t* position, const index_t* choice, const T* gate, T route, bool weighted, index_t n,
             index_t a, index_t d, T* out, bool accumulate);
/// Backward of the weighted combine per permuted row r < *kept (device count; max_rows bounds the
/// launch): dy[r] = route·gate·df[t], dgate[t·a+slot] = route·⟨df[t], y[r]⟩ (dgate zeroed here for
/// dropped choices).
template <class T>
void combine_backward(const T* df, const T* y, const index_t* rows, const index_t* slots, const T* gate, T route,
                      const index_t* kept, index_t max_rows, index_t n, index_t a, index_t d, T* dy, T* dgate);
/// b_e ← b_e − η (load_count_e / n − a/N) (§6), one thread per expert; skipped when step_ok (may be
/// null) holds 0 (a non-finite loss or gradient norm this step).
void balance_bias_update(double* bias, const index_t* load_count, index_t n, index_t n_experts, index_t a, double rate,
                         const double* step_ok = nullptr);
/// load[e] = load_count[e] / n in double (shared::expert_load), for the diagnostics block.
void expert_loads(const index_t* load_count, index_t n, index_t n_experts, double* load);

// ---- attention (§2) --------------------------------------------------------------------------------------
/// In-place causal softmax of `rows` blocks of T × T scores: row i keeps keys 0..i, the rest 0.
template <class T>
void causal_softmax(T* scores, index_t blocks, index_t seq_len);
/// ds = scale·p ⊙ (dp − Σ dp⊙p) per row of `rows` rows of `cols` entries.
template <class T>
void softmax_rows_backward(const T* p, const T* dp, index_t rows, index_t cols, T scale, T* ds);

// ---- embeddings, loss, optimizers ----------------------------------------------------------------------
template <class T>
void embedding_forward(const T* token_table, const T* position_table, const std::int32_t* tokens, index_t n,
                       index_t seq_len, index_t d, T multiplier, T* x);
/// Deterministic scatter: each table row sums its tokens' rows in token order (no atomics).
template <class T>
void embedding_backward(const T* dx, const std::int32_t* tokens, index_t n, index_t seq_len, index_t vocab, index_t d,
                        T multiplier, T* token_grad, T* position_grad);
/// probs and per-row losses; the mean (in double, fixed order) lands in *mean_loss (device).
template <class T>
void cross_entropy(const T* logits, const std::int32_t* targets, index_t n, index_t vocab, T* probs, double* row_loss,
                   double* mean_loss);
/// dlogits = (probs − onehot(target)) / n.
template <class T>
void cross_entropy_backward(const T* probs, const std::int32_t* targets, index_t n, index_t vocab, T* dlogits);
/// y += alpha·x (elementwise).
template <class T>
void axpy(T alpha, const T* x, index_t count, T* y);
/// y = alpha·x (elementwise).
template <class T>
void scaled_copy(T alpha, const T* x, index_t count, T* y);
/// *result = Σ x² in double: 256 strided partial sums, then added in a fixed order (deterministic).
template <class T>
void sum_of_squares(const T* x, index_t count, double* partials256, double* result);
/// *result = √(Σ x² / count) (the residual-stream RMS of the log), as sum_of_squares.
template <class T>
void root_mean_square(const T* x, index_t count, double* partials256, double* result);
/// Strided partial sums per tensor in global_norm.
inline constexpr index_t kGlobalNormLanes = 1024;
/// *result = √(Σ_tensors Σ x²) over `tensors_count` device arrays (pointers and sizes in device
/// memory): per tensor kGlobalNormLanes strided partials, per tensor their sum, then the tensors in
/// order (deterministic). partials holds kGlobalNormLanes·tensors_count doubles, per_tensor tensors_count.
template <class T>
void global_norm(const T* const* tensors, const index_t* sizes, index_t tensors_count, double* partials,
                 double* per_tensor, double* result);
/// Step guard (one thread): *step_ok = 1 when loss and grad norm are finite and no earlier step
/// failed, else 0; the first failing step's index is stored in *first_bad_step (−1 before).
void step_guard(const double* loss, const double* grad_norm, double step, double* step_ok, double* first_bad_step);
/// *total = *ce + Σ_l aux[l] (layers in order; the CPU's loss = ce + aux_total).
void total_loss(const double* ce, const double* aux, index_t layers, double* total);
/// Optimizer updates; skipped when step_ok (may be null) holds 0.
template <class T>
void adam_update(T* theta, T* m, T* v, const T* grad, index_t count, const shared::AdamStep& step,
                 const double* step_ok = nullptr);
template <class T>
void sgd_update(T* theta, T* buf, const T* grad, index_t count, double lr, double weight_decay, double momentum,
                const double* step_ok = nullptr);

}  // namespace muelab::models::cuda
