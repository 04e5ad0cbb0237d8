// A batched counter-based normal generator for SIMD hot loops (bench/sde, the Adam-SDE ensemble):
// Philox4x32-10 on arrays of counters (philox4x32.hpp), then a 1024-layer Marsaglia–Tsang ziggurat
// (batched_ziggurat.hpp) whose fast path — 99.57% of draws: one table read, one multiply, one
// compare — runs on whole arrays (portable loops for any target, hand-vectorized AVX-512 / AVX2
// forms), and whose rare rejections (wedge and tail) are redrawn by one scalar function
// (sim/common/src/ziggurat.cpp). It does NOT replace CounterRng (Philox4x64, whose streams
// committed results depend on), nor sde::fill_ziggurat_normal (BrownianPath's stream): it is a
// separate stream family, used only by the Adam-SDE ensemble and its benchmark. docs/theory.md §7
// describes it.
//
// Keying (developers' guide: determinism): block j of the sub-stream (a, b) under (seed, stream)
// is Philox4x32-10 with
//     key = (seed mod 2^32, seed div 2^32),   counter = (j, b, a, stream),
// all 32-bit. Its words (w0, w1) and (w2, w3) are two 64-bit words r = hi·2^32 + lo, one normal
// each: layer i = lo mod 1024, sign = bit 10 of lo, magnitude U = r >> 12 (52 bits); the candidate is
// x = U·x_i/2^52 (x_i the layer's right edge), accepted at once when U < k_i = ⌊2^52 x_{i−1}/x_i⌋.
// A rejected normal k of the sub-stream is redrawn from the blocks with counter
// (2^31 + t·2^24 + k, b, a, stream), t = 0, 1, … (one block per attempt): so n < 2^24 normals per
// sub-stream. A draw depends only on its key and counters, never on the thread or the order of
// the calls, and — the fast path being exact integer conversions, one multiply and a compare, the
// rejection path plain IEEE double arithmetic compiled without FMA contraction — not on the
// instruction set either.
//
// Layout of fill_normal(out, n, a, b): with p = ⌈n/2⌉ blocks, out[j] comes from words (w0, w1) of
// block j for j < p and out[p + j] from words (w2, w3) of block j for p + j < n: both halves are
// contiguous stores (vectorizable).
#pragma once

#include "muelab/sim/batched_ziggurat.hpp"
#include "muelab/sim/philox4x32.hpp"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace muelab::sim {

class BatchedNormalRng {
 public:
  /// Blocks generated per inner batch (scratch lives on the stack); also the width of the masks.
  static constexpr std::size_t kBatch = 64;
  /// Normals per sub-stream: the redraw counters hold k in 24 bits.
  static constexpr std::size_t kMaxNormals = std::size_t{1} << 24;

  BatchedNormalRng(std::uint64_t seed, std::uint32_t stream = 0)
      : key0_(static_cast<std::uint32_t>(seed)), key1_(static_cast<std::uint32_t>(seed >> 32)), stream_(stream) {}

  /// The four Philox4x32-10 words of counter (j, b, a, stream) — block j of the sub-stream (a, b).
  [[nodiscard]] std::array<std::uint32_t, 4> bits(std::uint32_t j, std::uint32_t a, std::uint32_t b) const {
    std::uint32_t c0 = j, c1 = b, c2 = a, c3 = stream_;
    philox4x32::bijection(&c0, &c1, &c2, &c3, 1, key0_, key1_);
    return {c0, c1, c2, c3};
  }

  /// out[0..n) = scale × the first n normals of the sub-stream (a, b) (layout in the file comment),
  /// n < kMaxNormals (the caller checks). Inline and loop-shaped: the caller's target (e.g. an
  /// AVX-512 variant) decides the vector width; such a caller may pass the matching hand-vectorized
  /// Philox and fast path (same bits, see the tests).
  template <philox4x32::BijectionFunction kBijection = philox4x32::bijection,
            ziggurat::FastPathFunction kFastPath = ziggurat::fast_path>
  [[gnu::always_inline]] void fill_normal(double* out, std::size_t n, std::uint32_t a, std::uint32_t b,
                                          double scale = 1.0) const {
    fill_normal_paths<kBijection, kFastPath>(out, n, a, 1, b, scale);
  }

  /// The same for `paths` consecutive sub-streams at once: out[p·n + k] = scale × normal k of the
  /// sub-stream (first_a + p, b), p < paths — the same numbers as `paths` calls of fill_normal, but
  /// the blocks of all paths share each Philox batch (kBatch counters: four interleaved AVX-512
  /// register groups, where one path of 32 blocks fills two).
  template <philox4x32::BijectionFunction kBijection = philox4x32::bijection,
            ziggurat::FastPathFunction kFastPath = ziggurat::fast_path>
  [[gnu::always_inline]] void fill_normal_paths(double* out, std::size_t n, std::uint32_t first_a, std::size_t paths,
                                                std::uint32_t b, double scale = 1.0) const {
    if (n == 0) return;
    const ziggurat::Tables& tables = ziggurat::tables();
    const std::size_t blocks = (n + 1) / 2;  // normals per path from words (w0, w1)
    const std::size_t second = n - blocks;   // and from words (w2, w3): one fewer for odd n
    alignas(64) std::uint32_t w0[kBatch], w1[kBatch], w2[kBatch], w3[kBatch];
    // Lanes enumerate (path, block) path-major; (path, block) is the first lane of the next batch.
    std::size_t path = 0, block = 0;
    while (path < paths) {
      std::size_t lanes = 0;
      for (std::size_t p = path, j = block; lanes < kBatch && p < paths; j = 0, ++p) {
        const std::size_t run = blocks - j < kBatch - lanes ? blocks - j : kBatch - lanes;
        for (std::size_t r = 0; r < run; ++r) {
          w0[lanes + r] = static_cast<std::uint32_t>(j + r);
          w1[lanes + r] = b;
          w2[lanes + r] = first_a + static_cast<std::uint32_t>(p);
          w3[lanes + r] = stream_;
        }
        lanes += run;
      }
      kBijection(w0, w1, w2, w3, lanes, key0_, key1_);
      // The batch's lanes, one path's run of blocks at a time.
      for (std::size_t offset = 0; offset < lanes;) {
        const std::size_t run = blocks - block < lanes - offset ? blocks - block : lanes - offset;
        const std::size_t second_run = second > block ? (second - block < run ? second - block : run) : 0;
        double* path_out = out + path * n;
        const std::uint32_t a = first_a + static_cast<std::uint32_t>(path);
        std::uint64_t rejected_first = kFastPath(w0 + offset, w1 + offset, path_out + block, run, scale, tables);
        std::uint64_t rejected_second =
            kFastPath(w2 + offset, w3 + offset, path_out + blocks + block, second_run, scale, tables);
        for (; rejected_first != 0; rejected_first &= rejected_first - 1) {  // 0.43% of lanes
          const auto i = static_cast<std::size_t>(std::countr_zero(rejected_first));
          const auto k = static_cast<std::uint32_t>(block + i);
          path_out[k] = scale * ziggurat::redraw(key0_, key1_, stream_, a, b, k, w0[offset + i], w1[offset + i]);
        }
        for (; rejected_second != 0; rejected_second &= rejected_second - 1) {
          const auto i = static_cast<std::size_t>(std::countr_zero(rejected_second));
          const auto k = static_cast<std::uint32_t>(blocks + block + i);
          path_out[k] = scale * ziggurat::redraw(key0_, key1_, stream_, a, b, k, w2[offset + i], w3[offset + i]);
        }
        offset += run;
        block += run;
        if (block == blocks) {
          block = 0;
          ++path;
        }
      }
    }
  }

  [[nodiscard]] std::uint64_t seed() const { return (std::uint64_t{key1_} << 32) | key0_; }
  [[nodiscard]] std::uint32_t stream() const { return stream_; }

 private:
  std::uint32_t key0_, key1_;
  std::uint32_t stream_;
};

}  // namespace muelab::sim
