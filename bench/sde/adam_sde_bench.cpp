// Euler–Maruyama on the Adam SDE (THEORY.md §7) for a d = 64 noisy quadratic with diagonal
// curvature and diagonal noise, P paths × S steps, with 1 and 2 OpenMP threads. Prints path-steps/s
// and a checksum (the ensemble mean of f(X_T)), which must agree between thread counts.
// Each thread count is timed `repeats` times and the best (shortest) run is reported: the machine is
// shared, and the best-of is the least disturbed measurement.
// Usage: bench_sde_adam [paths] [steps] [repeats]
#include "muelab/sim/sde/brownian_path.hpp"
#include "muelab/sim/sde/ensemble.hpp"
#include "muelab/sim/sde/optimizer_sdes.hpp"
#include "muelab/sim/sde/steppers.hpp"

#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>

using namespace muelab::sim;
using namespace muelab::sim::sde;

int main(int argc, char** argv) {
  const std::uint64_t paths = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 512;
  const long long steps = argc > 2 ? std::atoll(argv[2]) : 1000;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
  if (paths == 0 || steps <= 0 || repeats <= 0) {
    std::fprintf(stderr, "error: paths, steps and repeats must be positive integers\n");
    return 2;
  }
  const Eigen::Index d = 64;
  const Eigen::VectorXd curvature = Eigen::VectorXd::LinSpaced(d, 0.5, 2.0);
  const Eigen::VectorXd variance = Eigen::VectorXd::LinSpaced(d, 1.0, 2.0);
  const NoisyQuadratic model(curvature, Eigen::MatrixXd(variance.asDiagonal()), 1.0, NoiseDistribution::gaussian);
  const double lr = 0.05;
  const AdamSde sde(model, AdamSdeParameters::from_discrete(lr, 0.99, 0.999, 1e-8, 0.0));
  const double dt = 1e-3;
  const CounterRng rng(12345, 1);
  double reference = 0.0;
  for (int threads : {1, 2}) {
    omp_set_num_threads(threads);
    double seconds = std::numeric_limits<double>::infinity();
    EnsembleMoments result;
    for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    result = run_ensemble(paths, 1, [&](std::uint64_t p, Eigen::VectorXd& row) {
      const AdamSde system = sde;
      BrownianPath path(rng, p, d, dt);
      EulerMaruyama<Eigen::VectorXd, BrownianPath, general_noise> stepper(path);
      Eigen::VectorXd state = system.initial_state(Eigen::VectorXd::Ones(d));
      for (long long k = 0; k < steps; ++k) stepper.do_step(system, state, static_cast<double>(k) * dt, dt);
      row[0] = model.loss(state.head(d));
    });
    seconds = std::min(seconds, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    if (threads == 1) reference = result.mean[0];
    std::printf("cpp threads=%d path_steps_per_s=%.6g seconds=%.3f checksum=%.17g identical=%s\n", threads,
                static_cast<double>(paths) * static_cast<double>(steps) / seconds, seconds, result.mean[0],
                result.mean[0] == reference ? "yes" : "no");
  }
  return 0;
}
