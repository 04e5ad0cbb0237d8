// Kernels and launchers of the CUDA backend (see kernels.hpp). Per-row stages run one thread per
// row calling the shared __host__ __device__ row function, so each row's arithmetic and summation
// order are those of the CPU reference; elementwise stages run one thread per element. Every
// reduction across rows runs in a fixed order (no atomics; the permutation's integer block sums
// are exact), so results are deterministic. No launcher reads device memory back.
#include "muelab/models/cuda/kernels.hpp"

#include <cublas_v2.h>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cuda_runtime.h>

#include <cmath>

#include <string>

namespace muelab::models::cuda {
namespace sh = muelab::models::shared;

namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw CudaError(std::string(what) + ": " + cudaGetErrorString(err));
}
void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) throw CudaError(std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(status)));
}
void check_launch(const char* what) { check(cudaGetLastError(), what); }

constexpr int kThreads = 128;
unsigned blocks_for(index_t count) {
  return static_cast<unsigned>((count + kThreads - 1) / kThreads);
}
__device__ inline index_t global_index() {
  return static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}

// ---- norms, activations ------------------------------------------------------------------------------
template <class T>
__global__ void layer_norm_forward_kernel(const T* x, const T* gain, T m, T eps, index_t n, index_t d, T* hat, T* rstd,
                                          T* u) {
  const index_t i = global_index();
  if (i >= n) return;
  rstd[i] = sh::layer_norm_row_forward(x + i * d, gain, m, eps, d, hat + i * d, u + i * d);
}
template <class T>
__global__ void layer_norm_backward_kernel(const T* du, const T* hat, const T* rstd, const T* gain, T m, index_t n,
                                           index_t d, T* dx, bool accumulate) {
  const index_t i = global_index();
  if (i >= n) return;
  sh::layer_norm_row_backward(du + i * d, hat + i * d, rstd[i], gain, m, d, dx + i * d, accumulate);
}
template <class T>
__global__ void gain_gradient_kernel(const T* du, const T* hat, T m, index_t n, index_t d, T* dgain) {
  const index_t k = global_index();
  if (k >= d) return;
  T sum(0);
  for (index_t i = 0; i < n; ++i) sum += du[i * d + k] * hat[i * d + k];
  dgain[k] += m * sum;
}
template <class T>
__global__ void gelu_forward_kernel(const T* z, index_t count, T* act) {
  const index_t i = global_index();
  if (i < count) act[i] = sh::gelu(z[i]);
}
template <class T>
__global__ void gelu_backward_kernel(const T* z, const T* dact, index_t count, T* dz) {
  const index_t i = global_index();
  if (i < count) dz[i] = dact[i] * sh::gelu_derivative(z[i]);
}
template <class T>
__global__ void swiglu_forward_kernel(const T* zg, const T* zu, index_t count, T* act) {
  const index_t i = global_index();
  if (i < count) act[i] = sh::silu(zg[i]) * zu[i];
}
template <class T>
__global__ void swiglu_backward_kernel(const T* zg, const T* zu, const T* dact, index_t count, T* dzg, T* dzu) {
  const index_t i = global_index();
  if (i >= count) return;
  dzu[i] = dact[i] * sh::silu(zg[i]);
  dzg[i] = (dact[i] * zu[i]) * sh::silu_derivative(zg[i]);
}

// ---- router, dispatch ----------------------------------------------------------------------------------
template <class T>
__global__ void router_probabilities_kernel(const T* scores, index_t n, index_t N, bool sigmoid_router, T* p) {
  const index_t t = global_index();
  if (t >= n) return;
  if (sigmoid_router) {
    for (index_t e = 0; e < N; ++e) p[t * N + e] = sh::sigmoid(scores[t * N + e]);
  } else {
    sh::softmax_row(scores + t * N, N, p + t * N);
  }
}
template <class T>
__global__ void router_backward_kernel(const T* p, const T* dp, index_t n, index_t N, bool sigmoid_router, T* ds) {
  const index_t t = global_index();
  if (t >= n) return;
  if (sigmoid_router) {
    for (index_t e = 0; e < N; ++e) ds[t * N + e] = dp[t * N + e] * (p[t * N + e] * (T(1) - p[t * N + e]));
  } else {
    sh::softmax_row_backward(p + t * N, dp + t * N, N, T(1), ds + t * N);
  }
}
template <class T>
__global__ void top_a_gates_kernel(const T* p, const double* bias, index_t n, index_t N, index_t groups,
                                   index_t per_group, bool normalize, index_t* choice, T* gate) {
  const index_t t = global_index();
  if (t >= n) return;
  const index_t a = groups * per_group;
  sh::top_a_row(p + t * N, bias, N, groups, per_group, choice + t * a);
  sh::gates_row(p + t * N, choice + t * a, a, normalize, gate + t * a);
}
template <class T>
__global__ void gates_backward_kernel(const T* p, const index_t* choice, const T* gate, const T* dgate, index_t n,
                                      index_t N, index_t a, bool normalize, T* dp) {
  const index_t t = global_index();
  if (t >= n) return;
  for (index_t e = 0; e < N; ++e) dp[t * N + e] = T(0);
  sh::gates_row_backward(p + t * N, choice + t * a, gate + t * a, dgate + t * a, a, normalize, dp + t * N);
}
// Permutation by expert (§5), one block of kPermuteThreads per expert. Counts: integer block sum.
constexpr int kPermuteThreads = 256;
__global__ void __launch_bounds__(kPermuteThreads)
    count_choices_kernel(const index_t* choice, index_t total, index_t* load_count) {
  const auto e = static_cast<index_t>(blockIdx.x);
  index_t count = 0;
  for (index_t i = threadIdx.x; i < total; i += kPermuteThreads) count += choice[i] == e ? 1 : 0;
  using Reduce = cub::BlockReduce<index_t, kPermuteThreads>;
  __shared__ typename Reduce::TempStorage storage;
  const index_t sum = Reduce(storage).Sum(count);  // valid in thread 0
  if (threadIdx.x == 0) load_count[e] = sum;
}
__global__ void kept_offsets_kernel(const index_t* load_count, index_t N, index_t capacity, index_t* offsets) {
  if (global_index() != 0) return;
  sh::kept_row_offsets(load_count, N, capacity, offsets);
}
// Stable fill: the block walks the choices t·a + j in increasing order, 256 at a time; a block
// exclusive scan of "is expert e" gives each hit its rank among e's choices (token order, the CPU's).
__global__ void __launch_bounds__(kPermuteThreads)
    fill_rows_kernel(const index_t* choice, index_t total, index_t a, index_t capacity, const index_t* offsets,
                     index_t* rows, index_t* slots, index_t* position) {
  const auto e = static_cast<index_t>(blockIdx.x);
  using Scan = cub::BlockScan<index_t, kPermuteThreads>;
  __shared__ typename Scan::TempStorage storage;
  const index_t first = offsets[e];
  index_t seen = 0;  // e's choices before this chunk (the same in every thread)
  for (index_t base = 0; base < total; base += kPermuteThreads) {
    const index_t i = base + threadIdx.x;
    const index_t hit = (i < total && choice[i] == e) ? 1 : 0;
    index_t before = 0, in_chunk = 0;
    Scan(storage).ExclusiveSum(hit, before, in_chunk);
    if (hit) {
      const index_t rank = seen + before;
      if (rank < capacity) {
        const index_t r = first + rank;
        rows[r] = i / a;
        slots[r] = i % a;
        position[i] = r;
      } else {
        position[i] = -1;  // dropped by the capacity limit
      }
    }
    seen += in_chunk;
    __syncthreads();  // the scan's storage is reused by the next chunk
  }
}
template <class T>
__global__ void gather_rows_kernel(const T* x, const index_t* rows, const index_t* kept, index_t max_rows, index_t d,
                                   T* out) {
  const index_t i = global_index();
  if (i >= max_rows * d || i / d >= *kept) return;
  out[i] = x[rows[i / d] * d + i % d];
}

// Grouped GEMM (shared/grouped_gemm.hpp): the shared phases with the block barriers between them.
template <class T, bool TA, bool TB>
__global__ void __launch_bounds__(256) grouped_gemm_kernel(const sh::GroupedGemmArgs<T> args) {
  using G = sh::GroupedGemmTile;
  static_assert(G::threads == 256, "launch bounds and tile geometry disagree");
  sh::GroupedGemmBlock<T> blk;
  if (!sh::grouped_gemm_locate<T, TA, TB>(args, static_cast<index_t>(blockIdx.x), static_cast<index_t>(blockIdx.y),
                                          static_cast<index_t>(blockIdx.z), blk))
    return;  // uniform over the block: before any barrier
  __shared__ T a_tile[G::shared_elements];
  __shared__ T b_tile[G::shared_elements];
  const auto tid = static_cast<index_t>(threadIdx.x);
  T acc[16];
#pragma unroll
  for (int q = 0; q < 16; ++q) acc[q] = T(0);
  for (index_t k0 = 0; k0 < blk.depth; k0 += G::depth) {
    sh::grouped_gemm_load<T, TA, TB>(args, blk, k0, tid, a_tile, b_tile);
    __syncthreads();
    sh::grouped_gemm_accumulate(tid, a_tile, b_tile, acc);
    __syncthreads();
  }
  sh::grouped_gemm_store(args, blk, tid, acc);
}

// Auxiliary balance loss (§6): per-row totals, per-expert f and Σ_t p̂, the loss, the row backward.
template <class T>
__global__ void row_total_kernel(const T* p, index_t n, index_t N, T* total) {
  const index_t t = global_index();
  if (t < n) total[t] = sh::row_sum(p + t * N, N);
}
template <class T>
__global__ void aux_columns_kernel(const T* p, const T* total, const index_t* load_count, index_t n, index_t N, index_t a,
                                   double* fraction, double* column) {
  const index_t e = global_index();
  if (e >= N) return;
  fraction[e] = sh::expert_load_fraction(load_count[e], n, a);
  column[e] = sh::normalized_probability_column_sum(p, total, n, N, e);
}
__global__ void aux_loss_kernel(const double* fraction, const double* column, index_t N, index_t n, double coef,
                                double* aux) {
  if (global_index() == 0) *aux = sh::aux_balance_loss(fraction, column, N, n, coef);
}
template <class T>
__global__ void aux_backward_kernel(const T* p, const T* total, const double* fraction, index_t n, index_t N, double coef,
                                    T* dp) {
  const index_t t = global_index();
  if (t < n) sh::aux_balance_row_backward(p + t * N, total[t], fraction, N, n, coef, dp + t * N);
}
template <class T>
__global__ void combine_kernel(const T* y, const index_t* position, const index_t* choice, const T* gate, T route,
                               bool weighted, index_t n, index_t a, index_t d, T* out, bool accumulate) {
  const index_t i = global_index();
  if (i >= n * d) return;
  const index_t t = i / d;
  const index_t k = i % d;
  T sum = accumulate ? out[i] : T(0);
  index_t previous = -1;  // visit the token's choices in increasing expert id (the CPU's expert loop)
  for (index_t step = 0; step < a; ++step) {
    index_t best = -1;
    for (index_t j = 0; j < a; ++j) {
      const index_t e = choice[t * a + j];
      if (e > previous && (best < 0 || e < choice[t * a + best])) best = j;
    }
    previous = choice[t * a + best];
    const index_t r = position[t * a + best];
    if (r < 0) continue;
    sum += weighted ? (route * gate[t * a + best]) * y[r * d + k] : y[r * d + k];
  }
  out[i] = sum;
}
template <class T>
__global__ void combine_backward_kernel(const T* df, const T* y, const index_t* rows, const index_t* slots,
                                        const T* gate, T route, const index_t* kept, index_t max_rows, index_t a,
                                        index_t d, T* dy, T* dgate) {
  const index_t r = global_index();
  if (r >= max_rows || r >= *kept) return;
  const index_t t = rows[r];
  const index_t idx = t * a + slots[r];
  const T w = route * gate[idx];
  T dot(0);
  for (index_t k = 0; k < d; ++k) {
    dy[r * d + k] = w * df[t * d + k];
    dot += df[t * d + k] * y[r * d + k];
  }
  dgate[idx] = route * dot;
}
__global__ void balance_bias_kernel(double* bias, const index_t* load_count, index_t n, index_t N, index_t a,
                                    double rate, const double* step_ok) {
  const index_t e = global_index();
  if (e >= N || (step_ok && *step_ok == 0.0)) return;
  const double kappa = static_cast<double>(a) / static_cast<double>(N);
  bias[e] = sh::balance_bias_update(bias[e], rate, sh::expert_load(load_count[e], n), kappa);
}
__global__ void expert_loads_kernel(const index_t* load_count, index_t n, index_t N, double* load) {
  const index_t e = global_index();
  if (e < N) load[e] = sh::expert_load(load_count[e], n);
}

// ---- attention -------------------------------------------------------------------------------------------
template <class T>
__global__ void causal_softmax_kernel(T* scores, index_t rows, index_t T_len) {
  const index_t r = global_index();
  if (r >= rows) return;
  const index_t i = r % T_len;  // query position inside its block
  T* row = scores + r * T_len;
  sh::softmax_row(row, i + 1, row);
  for (index_t k = i + 1; k < T_len; ++k) row[k] = T(0);
}
template <class T>
__global__ void softmax_rows_backward_kernel(const T* p, const T* dp, index_t rows, index_t cols, T scale, T* ds) {
  const index_t r = global_index();
  if (r >= rows) return;
  sh::softmax_row_backward(p + r * cols, dp + r * cols, cols, scale, ds + r * cols);
}

// ---- embeddings, loss, optimizers --------------------------------------------------------------------------
template <class T>
__global__ void embedding_forward_kernel(const T* tok, const T* pos, const std::int32_t* tokens, index_t n,
                                         index_t seq_len, index_t d, T m, T* x) {
  const index_t i = global_index();
  if (i >= n * d) return;
  const index_t t = i / d;
  const index_t k = i % d;
  x[i] = m * (tok[static_cast<index_t>(tokens[t]) * d + k] + pos[(t % seq_len) * d + k]);
}
template <class T>
__global__ void token_embedding_backward_kernel(const T* dx, const std::int32_t* tokens, index_t n, index_t vocab,
                                                index_t d, T m, T* grad) {
  const index_t i = global_index();
  if (i >= vocab * d) return;
  const index_t v = i / d;
  const index_t k = i % d;
  T sum = grad[i];
  for (index_t t = 0; t < n; ++t)
    if (tokens[t] == v) sum += m * dx[t * d + k];
  grad[i] = sum;
}
template <class T>
__global__ void position_embedding_backward_kernel(const T* dx, index_t n, index_t seq_len, index_t d, T m, T* grad) {
  const index_t i = global_index();
  if (i >= seq_len * d) return;
  const index_t s = i / d;
  const index_t k = i % d;
  T sum = grad[i];
  for (index_t t = s; t < n; t += seq_len) sum += m * dx[t * d + k];
  grad[i] = sum;
}
template <class T>
__global__ void cross_entropy_kernel(const T* logits, const std::int32_t* targets, index_t n, index_t V, T* probs,
                                     double* row_loss) {
  const index_t i = global_index();
  if (i >= n) return;
  row_loss[i] = static_cast<double>(sh::cross_entropy_row(logits + i * V, V, targets[i], probs + i * V));
}
__global__ void mean_kernel(const double* values, index_t n, double* mean) {
  if (global_index() != 0) return;
  double sum = 0.0;
  for (index_t i = 0; i < n; ++i) sum += values[i];  // the CPU's order
  *mean = sum / static_cast<double>(n);
}
template <class T>
__global__ void cross_entropy_backward_kernel(const T* probs, const std::int32_t* targets, index_t n, index_t V,
                                              T* dlogits) {
  const index_t i = global_index();
  if (i >= n * V) return;
  const index_t t = i / V;
  const T one_hot = (i % V) == static_cast<index_t>(targets[t]) ? T(1) : T(0);
  dlogits[i] = (probs[i] - one_hot) / static_cast<T>(n);
}
template <class T>
__global__ void axpy_kernel(T alpha, const T* x, index_t count, T* y) {
  const index_t i = global_index();
  if (i < count) y[i] += alpha * x[i];
}
template <class T>
__global__ void scaled_copy_kernel(T alpha, const T* x, index_t count, T* y) {
  const index_t i = global_index();
  if (i < count) y[i] = alpha * x[i];
}
template <class T>
__global__ void partial_squares_kernel(const T* x, index_t count, double* partials) {
  const index_t lane = global_index();
  if (lane >= 256) return;
  double sum = 0.0;
  for (index_t i = lane; i < count; i += 256) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  partials[lane] = sum;
}
__global__ void add_partials_kernel(const double* partials, double* result) {
  if (global_index() != 0) return;
  double sum = 0.0;
  for (int i = 0; i < 256; ++i) sum += partials[i];
  *result = sum;
}
__global__ void rms_finish_kernel(const double* partials, index_t count, double* result) {
  if (global_index() != 0) return;
  double sum = 0.0;
  for (int i = 0; i < 256; ++i) sum += partials[i];
  *result = sqrt(sum / static_cast<double>(count));
}
// Global gradient norm: kNormLanes strided partials per tensor (blockIdx.y = tensor), then per
// tensor their sum in lane order, then the tensors in order.
constexpr index_t kNormLanes = kGlobalNormLanes;
template <class T>
__global__ void multi_partial_squares_kernel(const T* const* tensors, const index_t* sizes, double* partials) {
  const index_t lane = global_index();
  if (lane >= kNormLanes) return;
  const auto tensor = static_cast<index_t>(blockIdx.y);
  const T* x = tensors[tensor];
  const index_t count = sizes[tensor];
  double sum = 0.0;
  for (index_t i = lane; i < count; i += kNormLanes) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  partials[tensor * kNormLanes + lane] = sum;
}
__global__ void per_tensor_sum_kernel(const double* partials, index_t tensors, double* per_tensor) {
  const index_t tensor = global_index();
  if (tensor >= tensors) return;
  double sum = 0.0;
  for (index_t i = 0; i < kNormLanes; ++i) sum += partials[tensor * kNormLanes + i];
  per_tensor[tensor] = sum;
}
__global__ void norm_finish_kernel(const double* per_tensor, index_t tensors, double* result) {
  if (global_index() != 0) return;
  double sum = 0.0;
  for (index_t i = 0; i < tensors; ++i) sum += per_tensor[i];
  *result = sqrt(sum);
}
__global__ void step_guard_kernel(const double* loss, const double* grad_norm, double step, double* step_ok,
                                  double* first_bad_step) {
  if (global_index() != 0) return;
  const bool earlier = *first_bad_step >= 0.0;
  const bool finite = sh::is_finite(*loss) && sh::is_finite(*grad_norm);
  *step_ok = finite && !earlier ? 1.0 : 0.0;
  if (!finite && !earlier) *first_bad_step = step;
}
__global__ void total_loss_kernel(const double* ce, const double* aux, index_t layers, double* total) {
  if (global_index() != 0) return;
  double aux_total = 0.0;
  for (index_t l = 0; l < layers; ++l) aux_total += aux[l];
  *total = *ce + aux_total;
}
template <class T>
__global__ void adam_kernel(T* theta, T* m, T* v, const T* g, index_t count, sh::AdamStep step, const double* step_ok) {
  const index_t i = global_index();
  if (i >= count || (step_ok && *step_ok == 0.0)) return;
  static_cast<void>(sh::adam_element(theta[i], m[i], v[i], g[i], step));
}
template <class T>
__global__ void sgd_kernel(T* theta, T* buf, const T* g, index_t count, double lr, double wd, double momentum,
                           const double* step_ok) {
  const index_t i = global_index();
  if (i >= count || (step_ok && *step_ok == 0.0)) return;
  static_cast<void>(sh::sgd_element(theta[i], buf[i], g[i], lr, wd, momentum));
}

}  // namespace

// ---- DeviceArray, Blas ------------------------------------------------------------------------------------
template <class T>
DeviceArray<T>::DeviceArray(std::size_t count) : count_(count) {
  if (count > 0) check(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)), "cudaMalloc");
}
template <class T>
DeviceArray<T>& DeviceArray<T>::operator=(DeviceArray&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFree(data_);
    data_ = other.data_;
    count_ = other.count_;
    other.data_ = nullptr;
    other.count_ = 0;
  }
  return *this;
}
template <class T>
DeviceArray<T>::~DeviceArray() {
  if (data_) cudaFree(data_);
}
template <class T>
void DeviceArray<T>::upload(const std::vector<T>& host) {
  if (host.size() != count_) throw CudaError("DeviceArray::upload: size mismatch");
  if (count_ > 0) check(cudaMemcpy(data_, host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
}
template <class T>
std::vector<T> DeviceArray<T>::download() const {
  std::vector<T> host(count_);
  if (count_ > 0) check(cudaMemcpy(host.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
  return host;
}
template <class T>
void DeviceArray<T>::zero() {
  if (count_ > 0) check(cudaMemset(data_, 0, count_ * sizeof(T)), "cudaMemset");
}
template class DeviceArray<float>;
template class DeviceArray<double>;
template class DeviceArray<std::int64_t>;
template class DeviceArray<std::int32_t>;
template class DeviceArray<float*>;
template class DeviceArray<double*>;

void synchronize() {
  check(cudaGetLastError(), "kernel launch");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

PinnedDoubles::PinnedDoubles(std::size_t count) : count_(count) {
  if (count > 0) check(cudaMallocHost(reinterpret_cast<void**>(&data_), count * sizeof(double)), "cudaMallocHost");
}
PinnedDoubles& PinnedDoubles::operator=(PinnedDoubles&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFreeHost(data_);
    data_ = other.data_;
    count_ = other.count_;
    other.data_ = nullptr;
    other.count_ = 0;
  }
  return *this;
}
PinnedDoubles::~PinnedDoubles() {
  if (data_) cudaFreeHost(data_);
}
const double* PinnedDoubles::fetch(const double* device, std::size_t count) {
  if (count > count_) throw CudaError("PinnedDoubles::fetch: more doubles than the buffer holds");
  check(cudaGetLastError(), "kernel launch");
  if (count > 0)
    check(cudaMemcpyAsync(data_, device, count * sizeof(double), cudaMemcpyDeviceToHost, nullptr), "cudaMemcpyAsync D2H");
  check(cudaStreamSynchronize(nullptr), "cudaStreamSynchronize");
  return data_;
}

Blas::Blas() {
  cublasHandle_t h = nullptr;
  check_blas(cublasCreate(&h), "cublasCreate");
  check_blas(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
  handle_ = h;
}
Blas::~Blas() {
  if (handle_) cublasDestroy(static_cast<cublasHandle_t>(handle_));
}

namespace {
// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands, keep the flags.
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta,
                         float* c, int ldc) {
  return cublasSgemm(h, tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
}
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const double* alpha, const double* a, int lda, const double* b, int ldb, const double* beta,
                         double* c, int ldc) {
  return cublasDgemm(h, tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
}
cublasStatus_t batched_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const float* alpha, const float* a, int lda, long long sa, const float* b, int ldb,
                            long long sb, const float* beta, float* c, int ldc, long long sc, int count) {
  return cublasSgemmStridedBatched(h, tb, ta, n, m, k, alpha, b, ldb, sb, a, lda, sa, beta, c, ldc, sc, count);
}
cublasStatus_t batched_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const double* alpha, const double* a, int lda, long long sa, const double* b, int ldb,
                            long long sb, const double* beta, double* c, int ldc, long long sc, int count) {
  return cublasDgemmStridedBatched(h, tb, ta, n, m, k, alpha, b, ldb, sb, a, lda, sa, beta, c, ldc, sc, count);
}
}  // namespace

template <class T>
void Blas::gemm(bool transpose_a, bool transpose_b, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                const T* b, index_t ldb, T beta, T* c, index_t ldc) {
  if (m == 0 || n == 0) return;
  check_blas(gemm_call(static_cast<cublasHandle_t>(handle_), transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                       transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(n),
                       static_cast<int>(k), &alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), &beta, c,
                       static_cast<int>(ldc)),
             "cublas gemm");
}
template <class T>
void Blas::gemm_strided_batched(bool transpose_a, bool transpose_b, index_t m, index_t n, index_t k, T alpha,
                                const T* a, index_t lda, index_t stride_a, const T* b, index_t ldb, index_t stride_b,
                                T beta, T* c, index_t ldc, index_t stride_c, index_t count) {
  if (m == 0 || n == 0 || count == 0) return;
  check_blas(batched_call(static_cast<cublasHandle_t>(handle_), transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                          transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(n),
                          static_cast<int>(k), &alpha, a, static_cast<int>(lda), stride_a, b, static_cast<int>(ldb),
                          stride_b, &beta, c, static_cast<int>(ldc), stride_c, static_cast<int>(count)),
             "cublas gemm strided batched");
}

// ---- launchers ----------------------------------------------------------------------------------------------
template <class T>
void layer_norm_forward(const T* x, const T* gain, T multiplier, T eps, index_t n, index_t d, T* hat, T* rstd, T* u) {
  if (n == 0) return;
  layer_norm_forward_kernel<<<blocks_for(n), kThreads>>>(x, gain, multiplier, eps, n, d, hat, rstd, u);
  check_launch("layer_norm_forward");
}
template <class T>
void layer_norm_backward(const T* du, const T* hat, const T* rstd, const T* gain, T multiplier, index_t n, index_t d,
                         T* dx, bool accumulate, T* dgain) {
  if (n == 0) return;
  layer_norm_backward_kernel<<<blocks_for(n), kThreads>>>(du, hat, rstd, gain, multiplier, n, d, dx, accumulate);
  check_launch("layer_norm_backward");
  if (dgain) {
    gain_gradient_kernel<<<blocks_for(d), kThreads>>>(du, hat, multiplier, n, d, dgain);
    check_launch("layer_norm gain gradient");
  }
}
template <class T>
void gelu_forward(const T* z, index_t count, T* act) {
  if (count == 0) return;
  gelu_forward_kernel<<<blocks_for(count), kThreads>>>(z, count, act);
  check_launch("gelu_forward");
}
template <class T>
void gelu_backward(const T* z, const T* dact, index_t count, T* dz) {
  if (count == 0) return;
  gelu_backward_kernel<<<blocks_for(count), kThreads>>>(z, dact, count, dz);
  check_launch("gelu_backward");
}
template <class T>
void swiglu_forward(const T* z_gate, const T* z_up, index_t count, T* act) {
  if (count == 0) return;
  swiglu_forward_kernel<<<blocks_for(count), kThreads>>>(z_gate, z_up, count, act);
  check_launch("swiglu_forward");
}
template <class T>
void swiglu_backward(const T* z_gate, const T* z_up, const T* dact, index_t count, T* dz_gate, T* dz_up) {
  if (count == 0) return;
  swiglu_backward_kernel<<<blocks_for(count), kThreads>>>(z_gate, z_up, dact, count, dz_gate, dz_up);
  check_launch("swiglu_backward");
}
template <class T>
void router_probabilities(const T* scores, index_t n, index_t n_experts, bool sigmoid_router, T* p) {
  if (n == 0) return;
  router_probabilities_kernel<<<blocks_for(n), kThreads>>>(scores, n, n_experts, sigmoid_router, p);
  check_launch("router_probabilities");
}
template <class T>
void router_backward(const T* p, const T* dp, index_t n, index_t n_experts, bool sigmoid_router, T* ds) {
  if (n == 0) return;
  router_backward_kernel<<<blocks_for(n), kThreads>>>(p, dp, n, n_experts, sigmoid_router, ds);
  check_launch("router_backward");
}
template <class T>
void top_a_gates(const T* p, const double* bias, index_t n, index_t n_experts, index_t groups, index_t per_group,
                 bool normalize, index_t* choice, T* gate) {
  if (n == 0) return;
  top_a_gates_kernel<<<blocks_for(n), kThreads>>>(p, bias, n, n_experts, groups, per_group, normalize, choice, gate);
  check_launch("top_a_gates");
}
template <class T>
void gates_backward(const T* p, const index_t* choice, const T* gate, const T* dgate, index_t n, index_t n_experts,
                    index_t a, bool normalize, T* dp) {
  if (n == 0) return;
  gates_backward_kernel<<<blocks_for(n), kThreads>>>(p, choice, gate, dgate, n, n_experts, a, normalize, dp);
  check_launch("gates_backward");
}
void permute_by_expert(const index_t* choice, index_t n, index_t a, index_t n_experts, index_t capacity,
                       index_t* load_count, index_t* offsets, index_t* rows, index_t* slots, index_t* position) {
  if (n_experts == 0) return;
  const auto experts = static_cast<unsigned>(n_experts);
  count_choices_kernel<<<experts, kPermuteThreads>>>(choice, n * a, load_count);
  check_launch("permute_by_expert: count");
  kept_offsets_kernel<<<1, 1>>>(load_count, n_experts, capacity, offsets);
  check_launch("permute_by_expert: scan");
  fill_rows_kernel<<<experts, kPermuteThreads>>>(choice, n * a, a, capacity, offsets, rows, slots, position);
  check_launch("permute_by_expert: fill");
}
template <class T>
void gather_rows(const T* x, const index_t* rows, const index_t* kept, index_t max_rows, index_t d, T* out) {
  if (max_rows * d == 0) return;
  gather_rows_kernel<<<blocks_for(max_rows * d), kThreads>>>(x, rows, kept, max_rows, d, out);
  check_launch("gather_rows");
}
namespace {
dim3 grid_of(const index_t* g) {
  if (g[1] > 65535 || g[2] > 65535)  // CUDA's limit on gridDim.y and gridDim.z
    throw CudaError("grouped GEMM: " + std::to_string(g[1]) + " row tiles / " + std::to_string(g[2]) +
                    " groups exceed the grid limit 65535 (fewer tokens per step or fewer experts)");
  return dim3(static_cast<unsigned>(g[0]), static_cast<unsigned>(g[1]), static_cast<unsigned>(g[2]));
}
}  // namespace
template <class T>
void grouped_gemm_rows(bool transpose_b, index_t groups, const index_t* offsets, index_t max_total_rows, index_t n,
                       index_t k, T alpha, const T* a, index_t lda, const T* const* b_table, index_t ldb, T beta, T* c,
                       index_t ldc) {
  if (groups == 0 || n == 0 || max_total_rows == 0) return;
  sh::GroupedGemmArgs<T> args;
  args.groups = groups;
  args.offsets = offsets;
  args.n = n;
  args.k = k;
  args.alpha = alpha;
  args.beta = beta;
  args.a = a;
  args.lda = lda;
  args.b_table = b_table;
  args.ldb = ldb;
  args.c = c;
  args.ldc = ldc;
  index_t grid[3];
  sh::grouped_gemm_grid<false>(groups, 0, n, max_total_rows, grid);
  if (transpose_b)
    grouped_gemm_kernel<T, false, true><<<grid_of(grid), sh::GroupedGemmTile::threads>>>(args);
  else
    grouped_gemm_kernel<T, false, false><<<grid_of(grid), sh::GroupedGemmTile::threads>>>(args);
  check_launch("grouped_gemm_rows");
}
template <class T>
void grouped_gemm_reduce(index_t groups, const index_t* offsets, index_t m, index_t n, T alpha, const T* a, index_t lda,
                         const T* b, index_t ldb, T beta, T* const* c_table, index_t ldc) {
  if (groups == 0 || m == 0 || n == 0) return;
  sh::GroupedGemmArgs<T> args;
  args.groups = groups;
  args.offsets = offsets;
  args.m = m;
  args.n = n;
  args.alpha = alpha;
  args.beta = beta;
  args.a = a;
  args.lda = lda;
  args.b = b;
  args.ldb = ldb;
  args.c_table = c_table;
  args.ldc = ldc;
  index_t grid[3];
  sh::grouped_gemm_grid<true>(groups, m, n, 0, grid);
  grouped_gemm_kernel<T, true, false><<<grid_of(grid), sh::GroupedGemmTile::threads>>>(args);
  check_launch("grouped_gemm_reduce");
}
template <class T>
void aux_balance_forward(const T* p, const index_t* load_count, index_t n, index_t n_experts, index_t a, double coef,
                         T* row_total, double* load_fraction, double* column_sum, double* aux) {
  if (n == 0 || n_experts == 0) return;
  row_total_kernel<<<blocks_for(n), kThreads>>>(p, n, n_experts, row_total);
  check_launch("aux_balance_forward: row totals");
  aux_columns_kernel<<<blocks_for(n_experts), kThreads>>>(p, row_total, load_count, n, n_experts, a, load_fraction,
                                                          column_sum);
  check_launch("aux_balance_forward: columns");
  aux_loss_kernel<<<1, 1>>>(load_fraction, column_sum, n_experts, n, coef, aux);
  check_launch("aux_balance_forward: loss");
}
template <class T>
void aux_balance_backward(const T* p, const T* row_total, const double* load_fraction, index_t n, index_t n_experts,
                          double coef, T* dp) {
  if (n == 0) return;
  aux_backward_kernel<<<blocks_for(n), kThreads>>>(p, row_total, load_fraction, n, n_experts, coef, dp);
  check_launch("aux_balance_backward");
}
template <class T>
void combine(const T* y, const index_t* position, const index_t* choice, const T* gate, T route, bool weighted, index_t n,
             index_t a, index_t d, T* out, bool accumulate) {
  if (n * d == 0) return;
  combine_kernel<<<blocks_for(n * d), kThreads>>>(y, position, choice, gate, route, weighted, n, a, d, out, accumulate);
  check_launch("combine");
}
template <class T>
void combine_backward(const T* df, const T* y, const index_t* rows, const index_t* slots, const T* gate, T route,
                      const index_t* kept, index_t max_rows, index_t n, index_t a, index_t d, T* dy, T* dgate) {
  check(cudaMemsetAsync(dgate, 0, static_cast<std::size_t>(n * a) * sizeof(T), nullptr), "combine_backward: zero dgate");
  if (max_rows == 0) return;
  combine_backward_kernel<<<blocks_for(max_rows), kThreads>>>(df, y, rows, slots, gate, route, kept, max_rows, a, d, dy,
                                                              dgate);
  check_launch("combine_backward");
}
void balance_bias_update(double* bias, const index_t* load_count, index_t n, index_t n_experts, index_t a, double rate,
                         const double* step_ok) {
  if (n_experts == 0) return;
  balance_bias_kernel<<<blocks_for(n_experts), kThreads>>>(bias, load_count, n, n_experts, a, rate, step_ok);
  check_launch("balance_bias_update");
}
void expert_loads(const index_t* load_count, index_t n, index_t n_experts, double* load) {
  if (n_experts == 0) return;
  expert_loads_kernel<<<blocks_for(n_experts), kThreads>>>(load_count, n, n_experts, load);
  check_launch("expert_loads");
}
template <class T>
void causal_softmax(T* scores, index_t blocks, index_t seq_len) {
  if (blocks == 0) return;
  causal_softmax_kernel<<<blocks_for(blocks * seq_len), kThreads>>>(scores, blocks * seq_len, seq_len);
  check_launch("causal_softmax");
}
template <class T>
void softmax_rows_backward(const T* p, const T* dp, index_t rows, index_t cols, T scale, T* ds) {
  if (rows == 0) return;
  softmax_rows_backward_kernel<<<blocks_for(rows), kThreads>>>(p, dp, rows, cols, scale, ds);
  check_launch("softmax_rows_backward");
}
template <class T>
void embedding_forward(const T* token_table, const T* position_table, const std::int32_t* tokens, index_t n,
                       index_t seq_len, index_t d, T multiplier, T* x) {
  if (n * d == 0) return;
  embedding_forward_kernel<<<blocks_for(n * d), kThreads>>>(token_table, position_table, tokens, n, seq_len, d,
                                                            multiplier, x);
  check_launch("embedding_forward");
}
template <class T>
void embedding_backward(const T* dx, const std::int32_t* tokens, index_t n, index_t seq_len, index_t vocab, index_t d,
                        T multiplier, T* token_grad, T* position_grad) {
  token_embedding_backward_kernel<<<blocks_for(vocab * d), kThreads>>>(dx, tokens, n, vocab, d, multiplier, token_grad);
  check_launch("embedding_backward: tokens");
  position_embedding_backward_kernel<<<blocks_for(seq_len * d), kThreads>>>(dx, n, seq_len, d, multiplier,
                                                                            position_grad);
  check_launch("embedding_backward: positions");
}
template <class T>
void cross_entropy(const T* logits, const std::int32_t* targets, index_t n, index_t vocab, T* probs, double* row_loss,
                   double* mean_loss) {
  if (n == 0) return;
  cross_entropy_kernel<<<blocks_for(n), kThreads>>>(logits, targets, n, vocab, probs, row_loss);
  check_launch("cross_entropy");
  mean_kernel<<<1, 1>>>(row_loss, n, mean_loss);
  check_launch("cross_entropy: mean");
}
template <class T>
void cross_entropy_backward(const T* probs, const std::int32_t* targets, index_t n, index_t vocab, T* dlogits) {
  if (n == 0) return;
  cross_entropy_backward_kernel<<<blocks_for(n * vocab), kThreads>>>(probs, targets, n, vocab, dlogits);
  check_launch("cross_entropy_backward");
}
template <class T>
void axpy(T alpha, const T* x, index_t count, T* y) {
  if (count == 0) return;
  axpy_kernel<<<blocks_for(count), kThreads>>>(alpha, x, count, y);
  check_launch("axpy");
}
template <class T>
void scaled_copy(T alpha, const T* x, index_t count, T* y) {
  if (count == 0) return;
  scaled_copy_kernel<<<blocks_for(count), kThreads>>>(alpha, x, count, y);
  check_launch("scaled_copy");
}
template <class T>
void sum_of_squares(const T* x, index_t count, double* partials256, double* result) {
  partial_squares_kernel<<<2, kThreads>>>(x, count, partials256);
  check_launch("sum_of_squares: partials");
  add_partials_kernel<<<1, 1>>>(partials256, result);
  check_launch("sum_of_squares: total");
}
template <class T>
void root_mean_square(const T* x, index_t count, double* partials256, double* result) {
  partial_squares_kernel<<<2, kThreads>>>(x, count, partials256);
  check_launch("root_mean_square: partials");
  rms_finish_kernel<<<1, 1>>>(partials256, count, result);
  check_launch("root_mean_square: total");
}
template <class T>
void global_norm(const T* const* tensors, const index_t* sizes, index_t tensors_count, double* partials,
                 double* per_tensor, double* result) {
  if (tensors_count > 0) {
    const dim3 grid(static_cast<unsigned>(kNormLanes / kThreads), static_cast<unsigned>(tensors_count));
    multi_partial_squares_kernel<<<grid, kThreads>>>(tensors, sizes, partials);
    check_launch("global_norm: partials");
    per_tensor_sum_kernel<<<blocks_for(tensors_count), kThreads>>>(partials, tensors_count, per_tensor);
    check_launch("global_norm: per tensor");
  }
  norm_finish_kernel<<<1, 1>>>(per_tensor, tensors_count, result);
  check_launch("global_norm: total");
}
void step_guard(const double* loss, const double* grad_norm, double step, double* step_ok, double* first_bad_step) {
  step_guard_kernel<<<1, 1>>>(loss, grad_norm, step, step_ok, first_bad_step);
  check_launch("step_guard");
}
void total_loss(const double* ce, const double* aux, index_t layers, double* total) {
  total_loss_kernel<<<1, 1>>>(ce, aux, layers, total);
  check_launch("total_loss");
}
template <class T>
void adam_update(T* theta, T* m, T* v, const T* grad, index_t count, const shared::AdamStep& step,
                 const double* step_ok) {
  if (count == 0) return;
  adam_kernel<<<blocks_for(count), kThreads>>>(theta, m, v, grad, count, step, step_ok);
  check_launch("adam_update");
}
template <class T>
void sgd_update(T* theta, T* buf, const T* grad, index_t count, double lr, double weight_decay, double momentum,
                const double* step_ok) {
  if (count == 0) return;
  sgd_kernel<<<blocks_for(count), kThreads>>>(theta, buf, grad, count, lr, weight_decay, momentum, step_ok);
  check_launch("sgd_update");
}

// ---- explicit instantiations ----------------------------------------------------------------------------------
#define MUELAB_CUDA_INSTANTIATE(T)                                                                                    \
  template void Blas::gemm<T>(bool, bool, index_t, index_t, index_t, T, const T*, index_t, const T*, index_t, T, T*,  \
                              index_t);                                                                               \
  template void Blas::gemm_strided_batched<T>(bool, bool, index_t, index_t, index_t, T, const T*, index_t, index_t,   \
                                              const T*, index_t, index_t, T, T*, index_t, index_t, index_t);          \
  template void layer_norm_forward<T>(const T*, const T*, T, T, index_t, index_t, T*, T*, T*);                        \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, T, index_t, index_t, T*, bool, T*);    \
  template void gelu_forward<T>(const T*, index_t, T*);                                                               \
  template void gelu_backward<T>(const T*, const T*, index_t, T*);                                                    \
  template void swiglu_forward<T>(const T*, const T*, index_t, T*);                                                   \
  template void swiglu_backward<T>(const T*, const T*, const T*, index_t, T*, T*);                                    \
  template void router_probabilities<T>(const T*, index_t, index_t, bool, T*);                                        \
  template void router_backward<T>(const T*, const T*, index_t, index_t, bool, T*);                                   \
  template void top_a_gates<T>(const T*, const double*, index_t, index_t, index_t, index_t, bool, index_t*, T*);      \
  template void gates_backward<T>(const T*, const index_t*, const T*, const T*, index_t, index_t, index_t, bool, T*); \
  template void gather_rows<T>(const T*, const index_t*, const index_t*, index_t, index_t, T*);                       \
  template void grouped_gemm_rows<T>(bool, index_t, const index_t*, index_t, index_t, index_t, T, const T*, index_t,  \
                                     const T* const*, index_t, T, T*, index_t);                                       \
  template void grouped_gemm_reduce<T>(index_t, const index_t*, index_t, index_t, T, const T*, index_t, const T*,     \
                                       index_t, T, T* const*, index_t);                                               \
  template void aux_balance_forward<T>(const T*, const index_t*, index_t, index_t, index_t, double, T*, double*,      \
                                       double*, double*);                                                             \
  template void aux_balance_backward<T>(const T*, const T*, const double*, index_t, index_t, double, T*);              \
  template void combine<T>(const T*, const index_t*, const index_t*, const T*, T, bool, index_t, index_t, index_t, T*, \
                           bool);                                                                                     \
  template void combine_backward<T>(const T*, const T*, const index_t*, const index_t*, const T*, T, const index_t*,   \
                                    index_t, index_t, index_t, index_t, T*, T*);                                      \
  template void causal_softmax<T>(T*, index_t, index_t);                                                              \
  template void softmax_rows_backward<T>(const T*, const T*, index_t, index_t, T, T*);                                \
  template void embedding_forward<T>(const T*, const T*, const std::int32_t*, index_t, index_t, index_t, T, T*);      \
  template void embedding_backward<T>(const T*, const std::int32_t*, index_t, index_t, index_t, index_t, T, T*, T*);  \
  template void cross_entropy<T>(const T*, const std::int32_t*, index_t, index_t, T*, double*, double*);              \
  template void cross_entropy_backward<T>(const T*, const std::int32_t*, index_t, index_t, T*);                       \
  template void axpy<T>(T, const T*, index_t, T*);                                                                    \
  template void scaled_copy<T>(T, const T*, index_t, T*);                                                             \
  template void sum_of_squares<T>(const T*, index_t, double*, double*);                                               \
  template void root_mean_square<T>(const T*, index_t, double*, double*);                                             \
  template void global_norm<T>(const T* const*, const index_t*, index_t, double*, double*, double*);                  \
  template void adam_update<T>(T*, T*, T*, const T*, index_t, const shared::AdamStep&, const double*);                \
  template void sgd_update<T>(T*, T*, const T*, index_t, double, double, double, const double*);

MUELAB_CUDA_INSTANTIATE(float)
MUELAB_CUDA_INSTANTIATE(double)
#undef MUELAB_CUDA_INSTANTIATE

}  // namespace muelab::models::cuda
