// Embeddings and loss stage of the CUDA backend (kernels.hpp): token and position embeddings and
// their deterministic scatter backward, the cross-entropy rows with their fixed-order mean and
// backward, and the total loss (cross-entropy plus the layers' aux losses). Shared pieces: launch.cuh.
#include "launch.cuh"

#include <cstdint>

namespace muelab::models::cuda {
namespace sh = muelab::models::shared;
using namespace detail;

namespace {

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
__global__ void total_loss_kernel(const double* ce, const double* aux, index_t layers, double* total) {
  if (global_index() != 0) return;
  double aux_total = 0.0;
  for (index_t l = 0; l < layers; ++l) aux_total += aux[l];
  *total = *ce + aux_total;
}

}  // namespace

template <class T>
void embedding_forward(const T* token_table, const T* position_table, const std::int32_t* tokens, index_t n,
                       index_t seq_len, index_t d, T multiplier, T* x) {
  launch("embedding_forward", n * d, embedding_forward_kernel<T>, token_table, position_table, tokens, n, seq_len, d,
         multiplier, x);
}
template <class T>
void embedding_backward(const T* dx, const std::int32_t* tokens, index_t n, index_t seq_len, index_t vocab, index_t d,
                        T multiplier, T* token_grad, T* position_grad) {
  // no early return: as before, an empty table is a launch error, not a no-op (launch_grid)
  launch_grid("embedding_backward: tokens", blocks_for(vocab * d), kThreads, token_embedding_backward_kernel<T>, dx,
              tokens, n, vocab, d, multiplier, token_grad);
  launch_grid("embedding_backward: positions", blocks_for(seq_len * d), kThreads, position_embedding_backward_kernel<T>,
              dx, n, seq_len, d, multiplier, position_grad);
}
template <class T>
void cross_entropy(const T* logits, const std::int32_t* targets, index_t n, index_t vocab, T* probs, double* row_loss,
                   double* mean_loss) {
  if (n == 0) return;
  launch("cross_entropy", n, cross_entropy_kernel<T>, logits, targets, n, vocab, probs, row_loss);
  launch_grid("cross_entropy: mean", 1, 1, mean_kernel, row_loss, n, mean_loss);
}
template <class T>
void cross_entropy_backward(const T* probs, const std::int32_t* targets, index_t n, index_t vocab, T* dlogits) {
  if (n == 0) return;  // the guard is on n: as before, vocab == 0 is a launch error, not a no-op (launch_grid)
  launch_grid("cross_entropy_backward", blocks_for(n * vocab), kThreads, cross_entropy_backward_kernel<T>, probs,
              targets, n, vocab, dlogits);
}
void total_loss(const double* ce, const double* aux, index_t layers, double* total) {
  launch_grid("total_loss", 1, 1, total_loss_kernel, ce, aux, layers, total);
}

// ---- explicit instantiations ----------------------------------------------------------------------------------
#define MUELAB_CUDA_INSTANTIATE(T)                                                                                   \
  template void embedding_forward<T>(const T*, const T*, const std::int32_t*, index_t, index_t, index_t, T, T*);     \
  template void embedding_backward<T>(const T*, const std::int32_t*, index_t, index_t, index_t, index_t, T, T*, T*); \
  template void cross_entropy<T>(const T*, const std::int32_t*, index_t, index_t, T*, double*, double*);             \
  template void cross_entropy_backward<T>(const T*, const std::int32_t*, index_t, index_t, T*);

MUELAB_CUDA_INSTANTIATE(float)
MUELAB_CUDA_INSTANTIATE(double)
#undef MUELAB_CUDA_INSTANTIATE

}  // namespace muelab::models::cuda
