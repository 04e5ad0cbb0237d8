// Where the time of one d = 64 Adam-SDE path-step goes: each piece of the fast path
// (sim/sde/src/adam_sde_ensemble.cpp) timed alone in CPU nanoseconds per path-step (64 normals =
// 32 Philox4x32 blocks), in the best of the AVX-512 and AVX2 variants this CPU runs (the pieces are
// pieces.inc, compiled once per variant). Each piece is a non-inlined function over the same arrays
// the ensemble uses; the thread's CPU clock is read around N calls (so time given to other processes
// on the shared machine is not counted). Prints one line per piece; "skipped" without AVX2.
// Usage: bench_sde_pieces [calls]
#include "muelab/sim/batched_normal_rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

using namespace muelab::sim;

namespace {

constexpr std::size_t kPairs = 32, kDimension = 64;

double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

#if defined(__x86_64__) && defined(__GNUC__)
struct Arrays {
  alignas(64) std::uint32_t w0[kPairs], w1[kPairs], w2[kPairs], w3[kPairs];
  alignas(64) double u1[kPairs], u2[kPairs], radius[kPairs], sine[kPairs], cosine[kPairs];
  alignas(64) double dw[kDimension], x[kDimension], m[kDimension], u[kDimension], h[kDimension], v[kDimension],
      g[kDimension];
};

namespace avx512 {
#define MUELAB_PIECE [[gnu::noinline, gnu::flatten, gnu::target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi2")]]
#define MUELAB_PIECE_BIJECTION philox4x32::bijection_avx512
#include "pieces.inc"
#undef MUELAB_PIECE
#undef MUELAB_PIECE_BIJECTION
}  // namespace avx512
namespace avx2 {
#define MUELAB_PIECE [[gnu::noinline, gnu::flatten, gnu::target("avx2,fma,bmi2")]]
#define MUELAB_PIECE_BIJECTION philox4x32::bijection_avx2
#include "pieces.inc"
#undef MUELAB_PIECE
#undef MUELAB_PIECE_BIJECTION
}  // namespace avx2

template <class Piece>
double nanoseconds_per_call(long calls, Piece&& piece) {
  const double start = thread_cpu_seconds();
  for (long n = 0; n < calls; ++n) piece(n);
  return (thread_cpu_seconds() - start) / static_cast<double>(calls) * 1e9;
}
// Times every piece of the variant whose namespace is in scope and prints one line per piece.
#define MUELAB_TIME_PIECES(level)                                                                                   \
  do {                                                                                                              \
    const double t_philox = nanoseconds_per_call(calls, [&](long n) { philox(a, static_cast<std::uint32_t>(n)); sink += a.w0[n & 31]; }); \
    const double t_uniform = nanoseconds_per_call(calls, [&](long n) { to_uniforms(a); a.w0[n & 31] += 1; sink += a.u1[n & 31]; }); \
    const double t_log = nanoseconds_per_call(calls, [&](long n) { log_sqrt(a); sink += a.radius[n & 31]; });      \
    const double t_sincos = nanoseconds_per_call(calls, [&](long n) { sincos(a); sink += a.sine[n & 31]; });       \
    const double t_combine = nanoseconds_per_call(calls, [&](long n) { combine(a); sink += a.dw[n & 63]; });       \
    const double t_fill = nanoseconds_per_call(calls, [&](long n) { whole_fill(a, rng, static_cast<std::uint32_t>(n)); sink += a.dw[n & 63]; }); \
    const double t_update = nanoseconds_per_call(calls, [&](long n) { update(a); sink += a.x[n & 63]; });          \
    std::printf("simd=%s\n", level);                                                                               \
    std::printf("piece philox4x32_10_32_blocks cpu_ns=%.1f\n", t_philox);                                          \
    std::printf("piece words_to_uniforms cpu_ns=%.1f\n", t_uniform);                                               \
    std::printf("piece log_sqrt_32 cpu_ns=%.1f\n", t_log);                                                         \
    std::printf("piece sincos_32 cpu_ns=%.1f\n", t_sincos);                                                        \
    std::printf("piece combine cpu_ns=%.1f\n", t_combine);                                                         \
    std::printf("piece fill_normal_64_total cpu_ns=%.1f\n", t_fill);                                               \
    std::printf("piece euler_maruyama_update_64 cpu_ns=%.1f\n", t_update);                                         \
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
