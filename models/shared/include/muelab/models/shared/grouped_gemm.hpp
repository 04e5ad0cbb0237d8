// Grouped GEMM over expert segments whose sizes live in device memory (docs/theory.md §5: the routed
// experts' up/gate/down products). The permutation by expert (offsets[0..G], an exclusive scan of
// the kept rows per expert) is computed on the GPU; the host never learns the per-expert row
// counts, so every expert GEMM of a layer is ONE launch whose blocks find their expert themselves.
//
// Two shapes, both row-major:
//   rows-grouped (TA = false): for each group g with rows [o_g, o_{g+1}) of A and C,
//       C[o_g:o_{g+1}, :] = alpha·A[o_g:o_{g+1}, :]·op(B_g) + beta·C[o_g:o_{g+1}, :]
//     with B_g = b_table[g] (K × n, or n × K when TB: op(B_g) = B_gᵀ): forward z = x·W_e and dx = dz·W_eᵀ.
//   k-grouped (TA = true, TB = false): for each g,
//       C_g = alpha·A[o_g:o_{g+1}, :]ᵀ·B[o_g:o_{g+1}, :] + beta·C_g,   C_g = c_table[g] (m × n)
//     the weight gradients dW_e = x_eᵀ·dz_e, whose reduction length is the expert's row count.
//
// The tile kernel is written here as __host__ __device__ phases (locate, load, accumulate, store)
// separated by the block barriers, so that `grouped_gemm_emulate` runs the very same code on the
// CPU block by block and thread by thread (tests), and the CUDA kernel (models/cuda) calls the
// phases with __syncthreads() in between. Each output element is a sum over k in increasing order
// in T; no atomics, so results are deterministic.
#pragma once

#include "muelab/models/shared/kernels.hpp"

#include <vector>

namespace muelab::models::shared {

/// Tile geometry: 64 × 64 outputs per block of 256 threads, 4 × 4 per thread (strided by 16),
/// K in steps of 16. Shared tiles are stored k-major with a padded row (68) against bank conflicts.
struct GroupedGemmTile {
  static constexpr index_t rows = 64, cols = 64, depth = 16, threads = 256, stride = 68;
  static constexpr index_t shared_elements = depth * stride;  ///< per operand tile
};

template <class T>
struct GroupedGemmArgs {
  index_t groups = 0;
  const index_t* offsets = nullptr;  ///< groups + 1 segment boundaries (rows of A; of C when rows-grouped)
  index_t m = 0;                     ///< k-grouped: rows of C_g (unused when rows-grouped)
  index_t n = 0;                     ///< columns of C
  index_t k = 0;                     ///< rows-grouped: reduction length (unused when k-grouped)
  T alpha = T(1), beta = T(0);
  const T* a = nullptr;
  index_t lda = 0;
  const T* b = nullptr;                ///< k-grouped: B, segmented like A
  const T* const* b_table = nullptr;  ///< rows-grouped: one B_g per group
  index_t ldb = 0;
  T* c = nullptr;                ///< rows-grouped: C, segmented like A
  T* const* c_table = nullptr;  ///< k-grouped: one C_g per group
  index_t ldc = 0;
};

/// What one block computes: a 64 × 64 tile of group `group`'s output.
template <class T>
struct GroupedGemmBlock {
  index_t group = -1, row0 = 0, col0 = 0;
  index_t rows = 0, cols = 0, depth = 0;  ///< the group's M, n, K
  const T* a = nullptr;
  const T* b = nullptr;
  T* c = nullptr;
};

/// Launch grid (x: column tiles, y: row tiles, z: groups). Rows-grouped: the row tiles of all
/// groups are flattened; Σ_g ⌈M_g/64⌉ ≤ ⌈max_total_rows/64⌉ + groups, so that many y-blocks cover
/// every group (the extra ones exit). k-grouped: one z-slice per group.
template <bool TA>
MUELAB_HD inline void grouped_gemm_grid(index_t groups, index_t m, index_t n, index_t max_total_rows, index_t* grid) {
  using G = GroupedGemmTile;
  grid[0] = (n + G::cols - 1) / G::cols;
  if (TA) {
    grid[1] = (m + G::rows - 1) / G::rows;
    grid[2] = groups;
  } else {
    grid[1] = (max_total_rows + G::rows - 1) / G::rows + groups;
    grid[2] = 1;
  }
}

/// Phase 0: which tile block (bx, by, bz) computes; false when it has nothing to do (uniform over
/// the block, so the whole block returns before any barrier).
template <class T, bool TA, bool TB>
MUELAB_HD inline bool grouped_gemm_locate(const GroupedGemmArgs<T>& args, index_t bx, index_t by, index_t bz,
                                          GroupedGemmBlock<T>& blk) {
  using G = GroupedGemmTile;
  blk.col0 = bx * G::cols;
  blk.cols = args.n;
  if (blk.col0 >= args.n) return false;
  if (TA) {  // k-grouped: group bz, reduction over its segment
    const index_t g = bz;
    if (g >= args.groups) return false;
    const index_t first = args.offsets[g];
    blk.group = g;
    blk.row0 = by * G::rows;
    blk.rows = args.m;
    blk.depth = args.offsets[g + 1] - first;
    if (blk.row0 >= blk.rows) return false;
    blk.a = args.a + first * args.lda;
    blk.b = args.b + first * args.ldb;
    blk.c = args.c_table[g];
    return true;
  }
  // rows-grouped: walk the groups' tile counts to find the group of flattened row tile `by`
  index_t before = 0;
  for (index_t g = 0; g < args.groups; ++g) {
    const index_t first = args.offsets[g];
    const index_t count = args.offsets[g + 1] - first;
    const index_t tiles = (count + G::rows - 1) / G::rows;
    if (by < before + tiles) {
      blk.group = g;
      blk.row0 = (by - before) * G::rows;
      blk.rows = count;
      blk.depth = args.k;
      blk.a = args.a + first * args.lda;
      blk.b = args.b_table[g];
      blk.c = args.c + first * args.ldc;
      return true;
    }
    before += tiles;
  }
  return false;
}

/// Phase 1 (thread `tid` of 256): loads its 4 elements of the A tile (64 rows × 16 k) and of the B
/// tile (16 k × 64 columns) starting at reduction index k0; zero outside the matrices.
template <class T, bool TA, bool TB>
MUELAB_HD inline void grouped_gemm_load(const GroupedGemmArgs<T>& args, const GroupedGemmBlock<T>& blk, index_t k0,
                                        index_t tid, T* a_tile, T* b_tile) {
  using G = GroupedGemmTile;
  for (index_t q = 0; q < 4; ++q) {
    const index_t idx = tid + G::threads * q;  // 0..1023, consecutive threads read consecutive memory
    {
      const index_t i = TA ? idx % G::rows : idx / G::depth;   // row of op(A) inside the tile
      const index_t kk = TA ? idx / G::rows : idx % G::depth;  // k inside the tile
      const index_t gi = blk.row0 + i, gk = k0 + kk;
      T v(0);
      if (gi < blk.rows && gk < blk.depth) v = TA ? blk.a[gk * args.lda + gi] : blk.a[gi * args.lda + gk];
      a_tile[kk * G::stride + i] = v;
    }
    {
      const index_t j = TB ? idx / G::depth : idx % G::cols;   // column of op(B) inside the tile
      const index_t kk = TB ? idx % G::depth : idx / G::cols;  // k inside the tile
      const index_t gj = blk.col0 + j, gk = k0 + kk;
      T v(0);
      if (gj < blk.cols && gk < blk.depth) v = TB ? blk.b[gj * args.ldb + gk] : blk.b[gk * args.ldb + gj];
      b_tile[kk * G::stride + j] = v;
    }
  }
}

/// Phase 2: thread tid adds the 16 k of the tiles to its 4 × 4 outputs (rows ty + 16i, columns tx + 16j).
template <class T>
MUELAB_HD inline void grouped_gemm_accumulate(index_t tid, const T* a_tile, const T* b_tile, T* acc) {
  using G = GroupedGemmTile;
  const index_t ty = tid / 16, tx = tid % 16;
  for (index_t kk = 0; kk < G::depth; ++kk) {
    T av[4], bv[4];
    for (index_t i = 0; i < 4; ++i) av[i] = a_tile[kk * G::stride + ty + 16 * i];
    for (index_t j = 0; j < 4; ++j) bv[j] = b_tile[kk * G::stride + tx + 16 * j];
    for (index_t i = 0; i < 4; ++i)
      for (index_t j = 0; j < 4; ++j) acc[i * 4 + j] += av[i] * bv[j];
  }
}

/// Phase 3: C = alpha·acc + beta·C for the thread's outputs inside the matrix (C is not read when beta = 0).
template <class T>
MUELAB_HD inline void grouped_gemm_store(const GroupedGemmArgs<T>& args, const GroupedGemmBlock<T>& blk, index_t tid,
                                         const T* acc) {
  const index_t ty = tid / 16, tx = tid % 16;
  for (index_t i = 0; i < 4; ++i) {
    const index_t gi = blk.row0 + ty + 16 * i;
    if (gi >= blk.rows) continue;
    for (index_t j = 0; j < 4; ++j) {
      const index_t gj = blk.col0 + tx + 16 * j;
      if (gj >= blk.cols) continue;
      T* out = blk.c + gi * args.ldc + gj;
      const T v = args.alpha * acc[i * 4 + j];
      *out = args.beta == T(0) ? v : v + args.beta * *out;
    }
  }
}

/// The CUDA kernel's schedule run on the CPU: every block of the grid, every thread of a block
/// phase by phase (a barrier between phases), the same phase functions. For tests.
template <class T, bool TA, bool TB>
void grouped_gemm_emulate(const GroupedGemmArgs<T>& args, index_t max_total_rows) {
  using G = GroupedGemmTile;
  index_t grid[3];
  grouped_gemm_grid<TA>(args.groups, args.m, args.n, max_total_rows, grid);
  std::vector<T> a_tile(static_cast<std::size_t>(G::shared_elements)), b_tile(a_tile.size());
  std::vector<T> acc(static_cast<std::size_t>(G::threads * 16));
  for (index_t bz = 0; bz < grid[2]; ++bz)
    for (index_t by = 0; by < grid[1]; ++by)
      for (index_t bx = 0; bx < grid[0]; ++bx) {
        GroupedGemmBlock<T> blk;
        if (!grouped_gemm_locate<T, TA, TB>(args, bx, by, bz, blk)) continue;
        for (auto& v : acc) v = T(0);
        for (index_t k0 = 0; k0 < blk.depth; k0 += G::depth) {
          for (index_t tid = 0; tid < G::threads; ++tid)
            grouped_gemm_load<T, TA, TB>(args, blk, k0, tid, a_tile.data(), b_tile.data());
          for (index_t tid = 0; tid < G::threads; ++tid)
            grouped_gemm_accumulate(tid, a_tile.data(), b_tile.data(), acc.data() + tid * 16);
        }
        for (index_t tid = 0; tid < G::threads; ++tid) grouped_gemm_store(args, blk, tid, acc.data() + tid * 16);
      }
}

}  // namespace muelab::models::shared
