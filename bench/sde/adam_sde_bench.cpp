// Euler–Maruyama on the Adam SDE (docs/theory.md §7) for a d = 64 noisy quadratic with diagonal
// curvature and diagonal noise, P paths × S steps, with 1 and 2 OpenMP threads (bench/sde/run.sh
// compares it with the numpy implementation adam_sde_numpy.py of the same system).
//
// Lines printed (key=value, parsed by run.sh):
//   cpp threads=T ...         the fast path (run_adam_sde_ensemble: batched Philox4x32 + ziggurat,
//                             SIMD-dispatched); `identical` says whether every final coordinate of
//                             every path has the same bits as with 1 thread;
//   variant simd=V ...        each compiled variant (baseline x86-64, AVX2, AVX-512) of the fast
//                             path, 1 thread, and whether it gives the same bits;
//   generic threads=1 ...     the general-purpose path (BrownianPath + EulerMaruyama + AdamSde) on
//                             the same system, for context;
//   normals ...               the generator alone (normals/s, one thread) and the share of a
//                             path-step it accounts for (64 normals per path-step);
//   path_step ...             CPU nanoseconds per path-step, split into the normals and the rest.
// Each measurement is the best (shortest) of `repeats` runs: the machine is shared.
// Usage: bench_sde_adam [paths] [steps] [repeats]
#include "muelab/sim/batched_normal_rng.hpp"
#include "muelab/sim/sde/adam_sde_ensemble.hpp"
#include "muelab/sim/sde/brownian_path.hpp"
#include "muelab/sim/sde/ensemble.hpp"
#include "muelab/sim/sde/optimizer_sdes.hpp"
#include "muelab/sim/sde/steppers.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

using namespace muelab::sim;
using namespace muelab::sim::sde;

namespace {

/// Wall-clock and process CPU seconds of one measurement (the best of `repeats` runs for each).
/// The machine is shared: wall time includes time the scheduler gave to other processes, CPU time
/// (all threads of this process) does not, so both are printed.
struct Timing {
  double wall = std::numeric_limits<double>::infinity();
  double cpu = std::numeric_limits<double>::infinity();
};

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

template <class Work>
Timing best_of(int repeats, Work&& work) {
  Timing best;
  for (int r = 0; r < repeats; ++r) {
    const double cpu_start = process_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    work();
    best.wall = std::min(best.wall, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    best.cpu = std::min(best.cpu, process_cpu_seconds() - cpu_start);
  }
  return best;
}

bool parse_positive(const char* text, long long& out) {
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || value <= 0) return false;
  out = value;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  long long paths_arg = 512, steps_arg = 1000, repeats_arg = 3;
  const char* names[] = {"paths", "steps", "repeats"};
  long long* values[] = {&paths_arg, &steps_arg, &repeats_arg};
  for (int i = 1; i < argc && i <= 3; ++i) {
    if (!parse_positive(argv[i], *values[i - 1])) {
      std::fprintf(stderr, "error: %s must be a positive integer (got '%s')\n", names[i - 1], argv[i]);
      return 2;
    }
  }
  if (paths_arg >= (1LL << 32) || steps_arg >= (1LL << 32)) {
    std::fprintf(stderr, "error: paths and steps must be below 2^32\n");
    return 2;
  }
  const auto paths = static_cast<std::uint64_t>(paths_arg);
  const auto steps = static_cast<std::uint64_t>(steps_arg);
  const int repeats = static_cast<int>(std::min<long long>(repeats_arg, 1000));
  const double path_steps = static_cast<double>(paths) * static_cast<double>(steps);

  const Eigen::Index d = 64;
  const Eigen::VectorXd curvature = Eigen::VectorXd::LinSpaced(d, 0.5, 2.0);
  const Eigen::VectorXd variance = Eigen::VectorXd::LinSpaced(d, 1.0, 2.0);
  const NoisyQuadratic model(curvature, Eigen::MatrixXd(variance.asDiagonal()), 1.0, NoiseDistribution::gaussian);
  const double lr = 0.05, dt = 1e-3;
  const auto parameters = AdamSdeParameters::from_discrete(lr, 0.99, 0.999, 1e-8, 0.0);
  const Eigen::VectorXd x0 = Eigen::VectorXd::Ones(d);

  // Fast path, 1 and 2 threads.
  const DiagonalAdamSde system = DiagonalAdamSde::from(model, parameters);
  const BatchedNormalRng fast_rng(12345, 1);
  std::printf("simd=%s\n", simd_level_name(best_simd_level()).c_str());
  double one_thread_cpu_rate = 0.0;
  AdamSdeEnsembleState reference;
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    AdamSdeEnsembleState state;
    const Timing timing =
        best_of(repeats, [&] { state = run_adam_sde_ensemble(system, fast_rng, paths, steps, dt, x0); });
    if (threads == 1) reference = state;
    const Eigen::VectorXd losses = state.losses(curvature);
    const double rate = path_steps / timing.wall;
    if (threads == 1) one_thread_cpu_rate = path_steps / timing.cpu;
    std::printf("cpp threads=%d path_steps_per_s=%.6g seconds=%.4f cpu_seconds=%.4f path_steps_per_cpu_s=%.6g "
                "mean_loss=%.17g mean_loss_se=%.3g identical=%s\n",
                threads, rate, timing.wall, timing.cpu, path_steps / timing.cpu, losses.mean(),
                std::sqrt((losses.array() - losses.mean()).square().sum() / static_cast<double>(losses.size() - 1) /
                          static_cast<double>(losses.size())),
                state.x == reference.x && state.m == reference.m && state.u == reference.u ? "yes" : "no");
  }

  // Each compiled variant of the fast path, 1 thread (what a CPU without AVX-512 would run).
  omp_set_num_threads(1);
  for (SimdLevel level : {SimdLevel::baseline, SimdLevel::avx2, SimdLevel::avx512}) {
    if (!simd_level_supported(level)) {
      std::printf("variant simd=%s skipped=unsupported\n", simd_level_name(level).c_str());
      continue;
    }
    AdamSdeEnsembleState state;
    const Timing timing =
        best_of(repeats, [&] { state = run_adam_sde_ensemble(system, fast_rng, paths, steps, dt, x0, level); });
    std::printf("variant simd=%s threads=1 path_steps_per_cpu_s=%.6g cpu_seconds=%.4f identical=%s\n",
                simd_level_name(level).c_str(), path_steps / timing.cpu, timing.cpu,
                state.x == reference.x ? "yes" : "no");
  }

  // The general-purpose path on the same system (one repeat, at most 128 paths: it is ~30× slower).
  {
    omp_set_num_threads(1);
    const std::uint64_t generic_paths = std::min<std::uint64_t>(paths, 128);
    const AdamSde sde(model, parameters);
    const CounterRng rng(12345, 1);
    EnsembleMoments result;
    const Timing timing = best_of(1, [&] {
      result = run_ensemble(generic_paths, 1, [&](std::uint64_t p, Eigen::VectorXd& row) {
        const AdamSde copy = sde;
        BrownianPath path(rng, p, d, dt);
        EulerMaruyama<Eigen::VectorXd, BrownianPath, general_noise> stepper(path);
        Eigen::VectorXd state = copy.initial_state(x0);
        for (std::uint64_t k = 0; k < steps; ++k) stepper.do_step(copy, state, static_cast<double>(k) * dt, dt);
        row[0] = model.loss(state.head(d));
      });
    });
    const double generic_path_steps = static_cast<double>(generic_paths) * static_cast<double>(steps);
    std::printf("generic threads=1 path_steps_per_s=%.6g seconds=%.4f cpu_seconds=%.4f path_steps_per_cpu_s=%.6g "
                "paths=%llu mean_loss=%.17g\n",
                generic_path_steps / timing.wall, timing.wall, timing.cpu, generic_path_steps / timing.cpu,
                static_cast<unsigned long long>(generic_paths), result.mean[0]);
  }

  // The generator alone: the same number of normals as the ensemble draws, one thread.
  {
    std::vector<double> buffer(static_cast<std::size_t>(d));
    double sink = 0.0;
    const Timing timing = best_of(repeats, [&] {
      for (std::uint64_t k = 0; k < steps; ++k)
        for (std::uint64_t p = 0; p < paths; ++p) {
          fill_batched_normals(fast_rng, buffer.data(), buffer.size(), static_cast<std::uint32_t>(p),
                               static_cast<std::uint32_t>(k));
          sink += buffer[0];
        }
    });
    const double normals_per_cpu_s = path_steps * static_cast<double>(d) / timing.cpu;
    const double share = (static_cast<double>(d) / normals_per_cpu_s) * one_thread_cpu_rate;
    std::printf("normals per_cpu_s=%.6g cpu_ns_per_normal=%.3f share_of_path_step=%.2f sink=%.3g\n",
                normals_per_cpu_s, 1e9 / normals_per_cpu_s, share, sink);
    std::printf("path_step cpu_ns=%.1f normals_cpu_ns=%.1f rest_cpu_ns=%.1f\n", 1e9 / one_thread_cpu_rate,
                1e9 * static_cast<double>(d) / normals_per_cpu_s,
                1e9 / one_thread_cpu_rate - 1e9 * static_cast<double>(d) / normals_per_cpu_s);
  }

  return 0;
}
