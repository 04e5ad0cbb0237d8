// Permutation stage of the CUDA backend (kernels.hpp §5): the tokens' choices grouped by expert
// on the device (count per expert, kept offsets, stable fill), the gather of the permuted rows,
// and the weighted combine back to token order with its backward. Shared pieces: launch.cuh.
#include "launch.cuh"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <cstddef>

namespace muelab::models::cuda {
namespace sh = muelab::models::shared;
using namespace detail;

namespace {

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

}  // namespace

void permute_by_expert(const index_t* choice, index_t n, index_t a, index_t n_experts, index_t capacity,
                       index_t* load_count, index_t* offsets, index_t* rows, index_t* slots, index_t* position) {
  if (n_experts == 0) return;
  const auto experts = static_cast<unsigned>(n_experts);
  launch_grid("permute_by_expert: count", experts, kPermuteThreads, count_choices_kernel, choice, n * a, load_count);
  launch_grid("permute_by_expert: scan", 1, 1, kept_offsets_kernel, load_count, n_experts, capacity, offsets);
  launch_grid("permute_by_expert: fill", experts, kPermuteThreads, fill_rows_kernel, choice, n * a, a, capacity,
              offsets, rows, slots, position);
}
template <class T>
void gather_rows(const T* x, const index_t* rows, const index_t* kept, index_t max_rows, index_t d, T* out) {
  launch("gather_rows", max_rows * d, gather_rows_kernel<T>, x, rows, kept, max_rows, d, out);
}
template <class T>
void combine(const T* y, const index_t* position, const index_t* choice, const T* gate, T route, bool weighted,
             index_t n, index_t a, index_t d, T* out, bool accumulate) {
  launch("combine", n * d, combine_kernel<T>, y, position, choice, gate, route, weighted, n, a, d, out, accumulate);
}
template <class T>
void combine_backward(const T* df, const T* y, const index_t* rows, const index_t* slots, const T* gate, T route,
                      const index_t* kept, index_t max_rows, index_t n, index_t a, index_t d, T* dy, T* dgate) {
  check(cudaMemsetAsync(dgate, 0, static_cast<std::size_t>(n * a) * sizeof(T), nullptr),
        "combine_backward: zero dgate");
  launch("combine_backward", max_rows, combine_backward_kernel<T>, df, y, rows, slots, gate, route, kept, max_rows, a,
         d, dy, dgate);
}

// ---- explicit instantiations ----------------------------------------------------------------------------------
#define MUELAB_CUDA_INSTANTIATE(T)                                                                                     \
  template void gather_rows<T>(const T*, const index_t*, const index_t*, index_t, index_t, T*);                        \
  template void combine<T>(const T*, const index_t*, const index_t*, const T*, T, bool, index_t, index_t, index_t, T*, \
                           bool);                                                                                      \
  template void combine_backward<T>(const T*, const T*, const index_t*, const index_t*, const T*, T, const index_t*,   \
                                    index_t, index_t, index_t, index_t, T*, T*);

MUELAB_CUDA_INSTANTIATE(float)
MUELAB_CUDA_INSTANTIATE(double)
#undef MUELAB_CUDA_INSTANTIATE

}  // namespace muelab::models::cuda
