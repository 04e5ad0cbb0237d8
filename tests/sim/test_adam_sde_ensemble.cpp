// The fast Adam-SDE Euler–Maruyama ensemble (sim/sde/include/muelab/sim/sde/adam_sde_ensemble.hpp,
// docs/theory.md §7): the same system and scheme as AdamSde + EulerMaruyama, step for step; the u
// recursion against its closed form; bit-identical results for 1 and 2 threads and for every SIMD
// variant. Every stochastic test prints its seed.
#include "muelab/sim/sde/adam_sde_ensemble.hpp"
#include "muelab/sim/sde/optimizer_sdes.hpp"
#include "muelab/sim/sde/steppers.hpp"

#include <catch2/catch.hpp>
#include <omp.h>

#include <cmath>
#include <iostream>
#include <stdexcept>

using namespace muelab::sim;
using namespace muelab::sim::sde;

namespace {
constexpr std::uint64_t kSeed = 20261123;

/// A noise source for the general-purpose steppers that serves the fast path's increments.
class BatchedIncrements {
 public:
  BatchedIncrements(const BatchedNormalRng& rng, std::uint64_t path, double dt) : rng_(rng), path_(path), dt_(dt) {}
  [[nodiscard]] double step_size() const { return dt_; }
  [[nodiscard]] std::uint64_t current_step() const { return step_; }
  void next(Eigen::VectorXd& out) {
    adam_sde_increment(rng_, path_, step_, dt_, out.data(), static_cast<std::size_t>(out.size()));
    ++step_;
  }

 private:
  BatchedNormalRng rng_;
  std::uint64_t path_;
  double dt_;
  std::uint64_t step_ = 0;
};

struct Setup {
  Eigen::VectorXd curvature, variance;
  NoisyQuadratic model;
  AdamSdeParameters parameters;
  explicit Setup(Eigen::Index d, double weight_decay = 0.1)
      : curvature(Eigen::VectorXd::LinSpaced(d, 0.5, 2.0)),
        variance(Eigen::VectorXd::LinSpaced(d, 1.0, 3.0)),
        model(curvature, Eigen::MatrixXd(variance.asDiagonal()), 4.0, NoiseDistribution::gaussian),
        parameters(AdamSdeParameters::from_discrete(0.05, 0.9, 0.99, 1e-8, weight_decay)) {}
};
}  // namespace

TEST_CASE("Fast Adam-SDE ensemble equals AdamSde + EulerMaruyama driven by the same increments",
          "[sim][adam][ensemble]") {
  std::cout << "seed " << kSeed << "\n";
  const Eigen::Index d = 5;  // odd: exercises the cos/sin layout's unpaired last normal
  const Setup setup(d);
  const DiagonalAdamSde system = DiagonalAdamSde::from(setup.model, setup.parameters);
  const BatchedNormalRng rng(kSeed, 1);
  const double dt = 0.01;
  const std::uint64_t paths = 11, steps = 300;
  const Eigen::VectorXd x0 = Eigen::VectorXd::LinSpaced(d, -1.0, 1.5);
  const AdamSdeEnsembleState fast = run_adam_sde_ensemble(system, rng, paths, steps, dt, x0);
  const AdamSde sde(setup.model, setup.parameters);
  double worst = 0.0;
  for (std::uint64_t p = 0; p < paths; ++p) {
    BatchedIncrements increments(rng, p, dt);
    EulerMaruyama<Eigen::VectorXd, BatchedIncrements, general_noise> stepper(increments);
    Eigen::VectorXd state = sde.initial_state(x0);
    for (std::uint64_t k = 0; k < steps; ++k) stepper.do_step(sde, state, static_cast<double>(k) * dt, dt);
    const auto row = static_cast<Eigen::Index>(p);
    // The two paths round differently (Σ_B^{1/2} = L/√B vs √(diag Σ_B), operation order): agreement
    // to ~1e-12 relative after 300 steps means the same system, scheme and increments.
    const Eigen::VectorXd x = fast.x.row(row).transpose(), m = fast.m.row(row).transpose(),
                          u = fast.u.row(row).transpose();
    worst = std::max({worst, (x - state.head(d)).cwiseAbs().maxCoeff() / (1.0 + state.head(d).cwiseAbs().maxCoeff()),
                      (m - state.segment(d, d)).cwiseAbs().maxCoeff() / (1.0 + state.segment(d, d).cwiseAbs().maxCoeff()),
                      (u - state.tail(d)).cwiseAbs().maxCoeff() / (1.0 + state.tail(d).cwiseAbs().maxCoeff())});
  }
  std::cout << "largest relative difference fast vs generic: " << worst << "\n";
  REQUIRE(worst < 1e-11);
  // The paths moved (the comparison is not between two unchanged initial states).
  REQUIRE((fast.x.row(0).transpose() - x0).norm() > 0.1);
}

TEST_CASE("Fast Adam-SDE ensemble: u follows its closed-form Euler recursion", "[sim][adam][ensemble]") {
  // du = c2(diag Σ_B − u) dt has no noise: u_K = v (1 − (1 − c2 dt)^K) exactly for the Euler scheme.
  const Setup setup(4);
  const DiagonalAdamSde system = DiagonalAdamSde::from(setup.model, setup.parameters);
  const double dt = 0.02;
  const std::uint64_t steps = 250;
  const auto state = run_adam_sde_ensemble(system, BatchedNormalRng(kSeed, 2), 3, steps, dt, Eigen::VectorXd::Ones(4));
  const double c2 = setup.parameters.c2;
  for (Eigen::Index i = 0; i < 4; ++i) {
    const double v = setup.variance[i] / 4.0;  // diag Σ / B
    const double expected = v * (1.0 - std::pow(1.0 - c2 * dt, static_cast<double>(steps)));
    REQUIRE(state.u(0, i) == Approx(expected).epsilon(1e-12));
    REQUIRE(state.u(2, i) == state.u(0, i));
  }
  REQUIRE(state.losses(setup.curvature).size() == 3);
  REQUIRE(state.losses(setup.curvature)[1] ==
          Approx(0.5 * (setup.curvature.array() * state.x.row(1).transpose().array().square()).sum()));
}

TEST_CASE("Fast Adam-SDE ensembles are bit-identical with 1 and 2 threads and for every SIMD variant",
          "[sim][adam][ensemble][determinism]") {
  std::cout << "seed " << kSeed << "\n";
  const Eigen::Index d = 64;
  const Setup setup(d);
  const DiagonalAdamSde system = DiagonalAdamSde::from(setup.model, setup.parameters);
  const BatchedNormalRng rng(kSeed, 3);
  const std::uint64_t paths = 37, steps = 120;  // 37: blocks of 8 paths with a partial last block
  auto run = [&](int threads, SimdLevel level) {
    omp_set_num_threads(threads);
    return run_adam_sde_ensemble(system, rng, paths, steps, 1e-3, Eigen::VectorXd::Ones(d), level);
  };
  const auto one = run(1, SimdLevel::automatic), two = run(2, SimdLevel::automatic);
  REQUIRE(one.x == two.x);
  REQUIRE(one.m == two.m);
  REQUIRE(one.u == two.u);
  const auto baseline = run(2, SimdLevel::baseline);
  REQUIRE(baseline.x == one.x);
  REQUIRE(baseline.m == one.m);
  for (SimdLevel level : {SimdLevel::avx2, SimdLevel::avx512}) {
    if (!simd_level_supported(level)) {
      std::cout << "simd level " << simd_level_name(level) << " not supported on this CPU: skipped\n";
      continue;
    }
    const auto other = run(1, level);
    INFO("simd level " << simd_level_name(level));
    REQUIRE(other.x == one.x);
    REQUIRE(other.m == one.m);
  }
  // Paths are independent streams: path 0 of a smaller ensemble is path 0 of this one.
  omp_set_num_threads(1);
  const auto small = run_adam_sde_ensemble(system, rng, 3, steps, 1e-3, Eigen::VectorXd::Ones(d));
  REQUIRE(small.x.row(0) == one.x.row(0));
  REQUIRE(one.x.row(0) != one.x.row(1));
}

TEST_CASE("Fast Adam-SDE ensemble rejects bad input with a message naming the field", "[sim][adam][ensemble]") {
  const Setup setup(3);
  const DiagonalAdamSde system = DiagonalAdamSde::from(setup.model, setup.parameters);
  const BatchedNormalRng rng(kSeed);
  const Eigen::VectorXd x0 = Eigen::VectorXd::Ones(3);
  REQUIRE_THROWS_WITH(run_adam_sde_ensemble(system, rng, 0, 10, 0.1, x0), Catch::Contains("paths"));
  REQUIRE_THROWS_WITH(run_adam_sde_ensemble(system, rng, 4, 10, 0.0, x0), Catch::Contains("dt"));
  REQUIRE_THROWS_WITH(run_adam_sde_ensemble(system, rng, 4, 10, 0.1, Eigen::VectorXd::Ones(2)),
                      Catch::Contains("x0"));
  Eigen::MatrixXd dense = Eigen::MatrixXd::Identity(3, 3);
  dense(0, 1) = dense(1, 0) = 0.5;
  const NoisyQuadratic correlated(setup.curvature, dense, 1.0, NoiseDistribution::gaussian);
  REQUIRE_THROWS_AS(DiagonalAdamSde::from(correlated, setup.parameters), std::invalid_argument);
}
