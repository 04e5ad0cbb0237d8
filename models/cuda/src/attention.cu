// Attention stage of the CUDA backend (kernels.hpp §2): the in-place causal softmax of the score
// blocks and the softmax rows' backward, one thread per row (the GEMMs around them are cuBLAS,
// grouped_gemm.cu's Blas). Shared pieces: launch.cuh.
#include "launch.cuh"

namespace muelab::models::cuda {
namespace sh = muelab::models::shared;
using namespace detail;

namespace {

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

}  // namespace

template <class T>
void causal_softmax(T* scores, index_t blocks, index_t seq_len) {
  if (blocks == 0) return;  // the guard is on blocks: as before, seq_len == 0 is a launch error, not a no-op
  launch_grid("causal_softmax", blocks_for(blocks * seq_len), kThreads, causal_softmax_kernel<T>, scores,
              blocks * seq_len, seq_len);
}
template <class T>
void softmax_rows_backward(const T* p, const T* dp, index_t rows, index_t cols, T scale, T* ds) {
  launch("softmax_rows_backward", rows, softmax_rows_backward_kernel<T>, p, dp, rows, cols, scale, ds);
}

// ---- explicit instantiations ----------------------------------------------------------------------------------
#define MUELAB_CUDA_INSTANTIATE(T)                       \
  template void causal_softmax<T>(T*, index_t, index_t); \
  template void softmax_rows_backward<T>(const T*, const T*, index_t, index_t, T, T*);

MUELAB_CUDA_INSTANTIATE(float)
MUELAB_CUDA_INSTANTIATE(double)
#undef MUELAB_CUDA_INSTANTIATE

}  // namespace muelab::models::cuda
