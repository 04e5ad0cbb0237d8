// Grouped GEMM stage of the CUDA backend (kernels.hpp, shared/grouped_gemm.hpp): the tile kernel
// over expert segments whose offsets live on the device (rows-grouped and k-grouped launchers),
// and the cuBLAS Blas class for the dense row-major GEMMs. Shared pieces: launch.cuh.
#include "launch.cuh"

#include <string>

namespace muelab::models::cuda {
namespace sh = muelab::models::shared;
using namespace detail;

namespace {

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
  const auto kernel = transpose_b ? grouped_gemm_kernel<T, false, true> : grouped_gemm_kernel<T, false, false>;
  launch_grid("grouped_gemm_rows", grid_of(grid), sh::GroupedGemmTile::threads, kernel, args);
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
  launch_grid("grouped_gemm_reduce", grid_of(grid), sh::GroupedGemmTile::threads, grouped_gemm_kernel<T, true, false>,
              args);
}

// ---- cuBLAS: the dense row-major GEMMs ------------------------------------------------------------------------
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

// ---- explicit instantiations ----------------------------------------------------------------------------------
#define MUELAB_CUDA_INSTANTIATE(T)                                                                                   \
  template void Blas::gemm<T>(bool, bool, index_t, index_t, index_t, T, const T*, index_t, const T*, index_t, T, T*, \
                              index_t);                                                                              \
  template void Blas::gemm_strided_batched<T>(bool, bool, index_t, index_t, index_t, T, const T*, index_t, index_t,  \
                                              const T*, index_t, index_t, T, T*, index_t, index_t, index_t);         \
  template void grouped_gemm_rows<T>(bool, index_t, const index_t*, index_t, index_t, index_t, T, const T*, index_t, \
                                     const T* const*, index_t, T, T*, index_t);                                      \
  template void grouped_gemm_reduce<T>(index_t, const index_t*, index_t, index_t, T, const T*, index_t, const T*,    \
                                       index_t, T, T* const*, index_t);

MUELAB_CUDA_INSTANTIATE(float)
MUELAB_CUDA_INSTANTIATE(double)
#undef MUELAB_CUDA_INSTANTIATE

}  // namespace muelab::models::cuda
