// Private to models/cuda/src: what every kernel file of the CUDA backend shares (error checks, the
// launch geometry, the one launch helper). The stages live one per file: norms.cu, router.cu,
// permutation.cu, grouped_gemm.cu, attention.cu, loss.cu, optimizer.cu; memory.cu holds the
// device buffers. Every launcher goes through launch_grid (directly or through launch).
//
// Kernels and launchers of the CUDA backend (see kernels.hpp). Per-row stages run one thread per
// row calling the shared __host__ __device__ row function, so each row's arithmetic and summation
// order are those of the CPU reference; elementwise stages run one thread per element. Every
// reduction across rows runs in a fixed order (no atomics; the permutation's integer block sums
// are exact), so results are deterministic. No launcher reads device memory back.
#pragma once

#include "muelab/models/cuda/kernels.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>
#include <utility>

namespace muelab::models::cuda::detail {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw CudaError(std::string(what) + ": " + cudaGetErrorString(err));
}
inline void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw CudaError(std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(status)));
}
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

inline constexpr int kThreads = 128;
inline unsigned blocks_for(index_t count) { return static_cast<unsigned>((count + kThreads - 1) / kThreads); }
__device__ inline index_t global_index() { return static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; }

// Launches `kernel` on `grid` blocks of `threads` threads, always (a zero grid is CUDA's launch
// error, reported like any other), then turns a launch error into CudaError naming `what`. For the
// launches that are not one thread per counted item (the permutation's block per expert, the
// one-thread finishers, the fixed-lane partial sums, the grouped GEMM's 3-D grid) and for the few
// launchers whose early return tests another count than the one the grid covers.
template <class... KernelArgs, class... Args>
void launch_grid(const char* what, dim3 grid, dim3 threads, void (*kernel)(KernelArgs...), Args&&... args) {
  kernel<<<grid, threads>>>(std::forward<Args>(args)...);
  check_launch(what);
}

// Launches `kernel` on enough blocks of kThreads for `count` threads; nothing when count == 0.
template <class... KernelArgs, class... Args>
void launch(const char* what, index_t count, void (*kernel)(KernelArgs...), Args&&... args) {
  if (count == 0) return;
  launch_grid(what, blocks_for(count), kThreads, kernel, std::forward<Args>(args)...);
}

}  // namespace muelab::models::cuda::detail
