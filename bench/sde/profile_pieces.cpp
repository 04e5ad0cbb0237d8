// Where the time of one d = 64 Adam-SDE path-step goes: each piece of the fast path
// (sim/sde/src/adam_sde_ensemble.cpp) timed alone in CPU nanoseconds per path-step (64 normals =
// 32 Philox4x32 blocks), in the best of the AVX-512 and AVX2 variants this CPU runs (the pieces are
// pieces.inc, compiled once per variant). Each piece is a non-inlined function over the same arrays
// the ensemble uses; the thread's CPU clock is read around N calls (so time given to other processes
// on the shared machine is not counted). Prints one line per piece; "skipped" without AVX2.
// Usage: bench_sde_pieces [calls]
#include "muelab/sim/batched_normal_rng.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

using namespace muelab::sim;

namespace {

constexpr std::size_t kPairs = 32, kDimension = 64, kPaths = 8;  // kPaths: the ensemble's paths per block

double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

#if defined(__x86_64__) && defined(__GNUC__)
struct Arrays {
  alignas(64) std::uint32_t w0[kPairs], w1[kPairs], w2[kPairs], w3[kPairs];
  alignas(64) std::uint32_t wide0[kPaths * kPairs], wide1[kPaths * kPairs], wide2[kPaths * kPairs],
      wide3[kPaths * kPairs];
  alignas(64) double dw_paths[kPaths * kDimension];
  alignas(64) double dw[kDimension], x[kDimension], m[kDimension], u[kDimension], h[kDimension], v[kDimension],
      g[kDimension];
};

namespace avx512 {
#define MUELAB_PIECE [[gnu::noinline, gnu::flatten, gnu::target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi2")]]
#define MUELAB_PIECE_BIJECTION philox4x32::bijection_avx512
#define MUELAB_PIECE_FAST_PATH ziggurat::fast_path_avx512
#include "pieces.inc"
#undef MUELAB_PIECE
#undef MUELAB_PIECE_BIJECTION
#undef MUELAB_PIECE_FAST_PATH
}  // namespace avx512
namespace avx2 {
#define MUELAB_PIECE [[gnu::noinline, gnu::flatten, gnu::target("avx2,fma,bmi2")]]
#define MUELAB_PIECE_BIJECTION philox4x32::bijection_avx2
#define MUELAB_PIECE_FAST_PATH ziggurat::fast_path_avx2
#include "pieces.inc"
#undef MUELAB_PIECE
#undef MUELAB_PIECE_BIJECTION
#undef MUELAB_PIECE_FAST_PATH
}  // namespace avx2

template <class Piece>
double nanoseconds_per_call(long calls, Piece&& piece) {
  const double start = thread_cpu_seconds();
  for (long n = 0; n < calls; ++n) piece(n);
  return (thread_cpu_seconds() - start) / static_cast<double>(calls) * 1e9;
}
// Times every piece of the variant whose namespace is in scope and prints one line per piece.
#define MUELAB_TIME_PIECES(level)                                                                                 \
  do {                                                                                                            \
    const double t_philox = nanoseconds_per_call(calls, [&](long n) {                                             \
      philox(a, static_cast<std::uint32_t>(n));                                                                   \
      sink += a.w0[n & 31];                                                                                       \
    });                                                                                                           \
    long rejected = 0;                                                                                            \
    const double t_fast = nanoseconds_per_call(calls,                                                             \
                                               [&](long n) {                                                      \
                                                 philox(a, static_cast<std::uint32_t>(n));                        \
                                                 rejected += fast_path(a, tables);                                \
                                                 sink += a.dw[n & 63];                                            \
                                               }) -                                                               \
                          t_philox;                                                                               \
    const double rejected_per_step = static_cast<double>(rejected) / static_cast<double>(calls);                  \
    const double t_redraw = nanoseconds_per_call(calls / 64 + 1, [&](long n) {                                    \
      sink += ziggurat::redraw(12345, 0, 1, 7, 3, static_cast<std::uint32_t>(n & 0xFFFFF), redraw_hi, redraw_lo); \
    });                                                                                                           \
    const double t_fill = nanoseconds_per_call(calls, [&](long n) {                                               \
      whole_fill(a, rng, static_cast<std::uint32_t>(n));                                                          \
      sink += a.dw[n & 63];                                                                                       \
    });                                                                                                           \
    const long path_calls = calls / static_cast<long>(kPaths) + 1;                                                \
    const double t_philox_paths = nanoseconds_per_call(path_calls,                                                \
                                                       [&](long n) {                                              \
                                                         philox_paths(a, static_cast<std::uint32_t>(n));          \
                                                         sink += a.wide0[n & 255];                                \
                                                       }) /                                                       \
                                  static_cast<double>(kPaths);                                                    \
    const double t_fill_paths = nanoseconds_per_call(path_calls,                                                  \
                                                     [&](long n) {                                                \
                                                       whole_fill_paths(a, rng, static_cast<std::uint32_t>(n));   \
                                                       sink += a.dw_paths[n & 511];                               \
                                                     }) /                                                         \
                                static_cast<double>(kPaths);                                                      \
    const double t_update = nanoseconds_per_call(calls, [&](long n) {                                             \
      update(a);                                                                                                  \
      sink += a.x[n & 63];                                                                                        \
    });                                                                                                           \
    std::printf("simd=%s\n", level);                                                                              \
    std::printf("piece philox4x32_10_32_blocks cpu_ns=%.1f\n", t_philox);                                         \
    std::printf("piece ziggurat_fast_path_64 cpu_ns=%.1f\n", t_fast);                                             \
    std::printf("piece ziggurat_redraw cpu_ns_per_redraw=%.1f redraws_per_step=%.3f cpu_ns=%.1f\n", t_redraw,     \
                rejected_per_step, t_redraw* rejected_per_step);                                                  \
    std::printf("piece fill_normal_64_total cpu_ns=%.1f\n", t_fill);                                              \
    std::printf("piece philox4x32_10_32_blocks_in_8_paths cpu_ns=%.1f\n", t_philox_paths);                        \
    std::printf("piece fill_normal_paths_64_total_in_8_paths cpu_ns=%.1f\n", t_fill_paths);                       \
    std::printf("piece euler_maruyama_update_64 cpu_ns=%.1f\n", t_update);                                        \
  } while (false)
#endif

}  // namespace

int main(int argc, char** argv) {
  const long calls = argc > 1 ? std::atol(argv[1]) : 1000000;
  if (calls <= 0) {
    std::fprintf(stderr, "error: calls must be a positive integer\n");
    return 2;
  }
#if defined(__x86_64__) && defined(__GNUC__)
  static Arrays a;
  std::fill(std::begin(a.x), std::end(a.x), 1.0);
  std::fill(std::begin(a.u), std::end(a.u), 0.5);
  std::fill(std::begin(a.h), std::end(a.h), 1.2);
  std::fill(std::begin(a.v), std::end(a.v), 1.5);
  std::fill(std::begin(a.g), std::end(a.g), 0.1);
  const BatchedNormalRng rng(12345, 1);
  const ziggurat::Tables& tables = ziggurat::tables();
  // A candidate word in layer 200 with the largest magnitude: rejected by the fast path, so redraw
  // runs the wedge test (the common rejection; the tail is rarer still).
  const std::uint32_t redraw_hi = 0xFFFFFFFFu, redraw_lo = 0xFFFFF000u | 200u;
  double sink = 0.0;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw")) {
    using namespace avx512;
    MUELAB_TIME_PIECES("avx512");
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2")) {
    using namespace avx2;
    MUELAB_TIME_PIECES("avx2");
  } else {
    std::printf("skipped: this CPU has neither AVX-512 nor AVX2\n");
  }
  std::printf("sink=%.3g\n", sink);
#else
  std::printf("skipped: not an x86-64 build\n");
#endif
  return 0;
}
