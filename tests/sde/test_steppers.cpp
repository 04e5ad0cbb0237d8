// Steppers, Brownian paths and ensembles (docs/theory.md §7). Every stochastic test prints its seed.
#include "muelab/sim/sde/brownian_path.hpp"
#include "muelab/sim/sde/ensemble.hpp"
#include "muelab/sim/sde/steppers.hpp"

#include <boost/numeric/odeint/integrate/integrate_n_steps.hpp>
#include <catch2/catch.hpp>
#include <omp.h>

#include <cmath>
#include <iostream>

using namespace muelab::sim;
using namespace muelab::sim::sde;

namespace {
constexpr std::uint64_t kSeed = 20240611;

struct LinearSystem {  // dX = −θX dt + (σ0 + σ1 X) dW, componentwise (commutative diagonal noise)
  double theta, additive, multiplicative;
  void drift(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const { out = -theta * x; }
  void diffusion(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const {
    out = (additive + multiplicative * x.array()).matrix();
  }
  // The same system written with general noise (G diagonal).
  [[nodiscard]] Eigen::Index noise_dimension() const { return 2; }
  void diffusion_times(const Eigen::VectorXd& x, const Eigen::VectorXd& dW, Eigen::VectorXd& out, double) const {
    out = (additive + multiplicative * x.array()).matrix().cwiseProduct(dW);
  }
};
}  // namespace

TEST_CASE("Brownian path re-queried at a coarser step is the same path", "[sde][brownian]") {
  std::cout << "seed " << kSeed << "\n";
  const CounterRng rng(kSeed, 1);
  BrownianPath fine(rng, 3, 4, 0.01, 1);
  const BrownianPath coarse = fine.with_stride(2);
  Eigen::VectorXd a(4), b(4), c(4);
  for (std::uint64_t k = 0; k < 10; ++k) {
    fine.increment(2 * k, a);
    fine.increment(2 * k + 1, b);
    coarse.increment(k, c);
    REQUIRE((a + b - c).cwiseAbs().maxCoeff() < 1e-14);
  }
  REQUIRE(coarse.step_size() == Approx(0.02));
  // Increments have variance dt: sample variance of 20000 coordinates within 5 SE (SE = dt·√(2/n)).
  double sum_squares = 0.0;
  const int n = 5000;
  for (int k = 0; k < n; ++k) {
    fine.increment(static_cast<std::uint64_t>(k), a);
    sum_squares += a.squaredNorm();
  }
  const double variance = sum_squares / (4.0 * n);
  REQUIRE(std::abs(variance - 0.01) < 5.0 * 0.01 * std::sqrt(2.0 / (4.0 * n)));
}

TEST_CASE("Euler-Maruyama follows odeint's Stepper concept and reduces to explicit Euler without noise",
          "[sde][stepper]") {
  const CounterRng rng(kSeed, 1);
  BrownianPath path(rng, 0, 2, 0.1);
  EulerMaruyama<Eigen::VectorXd, BrownianPath> stepper(path);
  LinearSystem system{1.5, 0.0, 0.0};
  Eigen::VectorXd x(2);
  x << 1.0, -2.0;
  boost::numeric::odeint::integrate_n_steps(stepper, system, x, 0.0, 0.1, 10);
  REQUIRE(x[0] == Approx(std::pow(1.0 - 0.15, 10)).epsilon(1e-14));
  REQUIRE(x[1] == Approx(-2.0 * std::pow(1.0 - 0.15, 10)).epsilon(1e-14));
  REQUIRE(path.current_step() == 10);
  // A step size that differs from the path's is refused.
  REQUIRE_THROWS(stepper.do_step(system, x, 0.0, 0.2));
}

TEST_CASE("Euler-Maruyama with noise: one step by hand", "[sde][stepper]") {
  const CounterRng rng(kSeed, 1);
  BrownianPath path(rng, 5, 2, 0.04);
  Eigen::VectorXd dW(2);
  path.increment(0, dW);
  EulerMaruyama<Eigen::VectorXd, BrownianPath> stepper(path);
  LinearSystem system{1.0, 0.3, 0.2};
  Eigen::VectorXd x(2);
  x << 0.5, 1.0;
  const Eigen::VectorXd x0 = x;
  stepper.do_step(system, x, 0.0, 0.04);
  for (int i = 0; i < 2; ++i) REQUIRE(x[i] == Approx(x0[i] - 0.04 * x0[i] + (0.3 + 0.2 * x0[i]) * dW[i]).epsilon(1e-14));
}

TEST_CASE("Platen weak order-2: general-noise form equals diagonal form on commutative diagonal noise",
          "[sde][stepper]") {
  const CounterRng rng(kSeed, 1);
  LinearSystem system{0.7, 0.4, 0.3};
  BrownianPath path_a(rng, 2, 2, 0.05), path_b(rng, 2, 2, 0.05);
  PlatenWeakOrder2<Eigen::VectorXd, BrownianPath, diagonal_noise> diagonal(path_a);
  PlatenWeakOrder2<Eigen::VectorXd, BrownianPath, general_noise> general(path_b);
  Eigen::VectorXd x(2), y(2);
  x << 1.0, -0.5;
  y = x;
  for (int k = 0; k < 20; ++k) {
    diagonal.do_step(system, x, 0.05 * k, 0.05);
    general.do_step(system, y, 0.05 * k, 0.05);
  }
  REQUIRE((x - y).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("Platen weak order-2 is exact for a linear ODE up to its second-order Taylor term", "[sde][stepper]") {
  const CounterRng rng(kSeed, 1);
  BrownianPath path(rng, 0, 1, 0.1);
  PlatenWeakOrder2<Eigen::VectorXd, BrownianPath> stepper(path);
  LinearSystem system{2.0, 0.0, 0.0};
  Eigen::VectorXd x = Eigen::VectorXd::Ones(1);
  stepper.do_step(system, x, 0.0, 0.1);
  REQUIRE(x[0] == Approx(1.0 - 0.2 + 0.02).epsilon(1e-14));  // Heun: 1 − hθ + (hθ)²/2
}

TEST_CASE("Ensembles are bit-identical with 1 and 2 threads", "[sde][ensemble][determinism]") {
  std::cout << "seed " << kSeed << "\n";
  const CounterRng rng(kSeed, 1);
  LinearSystem system{1.0, 0.5, 0.5};
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    return run_ensemble(64, 2, [&](std::uint64_t p, Eigen::VectorXd& row) {
      BrownianPath path(rng, p, 2, 0.01);
      EulerMaruyama<Eigen::VectorXd, BrownianPath> stepper(path);
      Eigen::VectorXd x = Eigen::VectorXd::Ones(2);
      for (int k = 0; k < 100; ++k) stepper.do_step(system, x, 0.01 * k, 0.01);
      row = x;
    });
  };
  const auto one = run(1);
  const auto two = run(2);
  REQUIRE(one.per_path == two.per_path);
  REQUIRE(one.mean == two.mean);
  REQUIRE(one.standard_error == two.standard_error);
  // And the mean of the OU-type process is right: E X_1 = e^{−1} (exact for the SDE, EM bias O(dt)).
  REQUIRE(std::abs(one.mean[0] - std::exp(-1.0)) < 5.0 * one.standard_error[0] + 0.01);
}

TEST_CASE("moments_of computes mean and standard error in path order", "[sde][ensemble]") {
  Eigen::MatrixXd table(4, 1);
  table << 1.0, 2.0, 3.0, 4.0;
  const auto m = moments_of(table);
  REQUIRE(m.mean[0] == Approx(2.5));
  REQUIRE(m.standard_error[0] == Approx(std::sqrt(5.0 / 3.0 / 4.0)));
}

TEST_CASE("Ziggurat normals from the counter RNG have the standard normal moments and tails", "[sde][brownian]") {
  std::cout << "seed " << kSeed << "\n";
  const CounterRng rng(kSeed, 5);
  const int blocks = 4000, width = 64;  // 256000 draws, including ~3000 rejections and ~150 tail draws
  Eigen::VectorXd z(width);
  double s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0, beyond_tail = 0.0, below_one = 0.0;
  for (int b = 0; b < blocks; ++b) {
    fill_ziggurat_normal(rng, static_cast<std::uint64_t>(b), 0, z);
    for (Eigen::Index k = 0; k < width; ++k) {
      const double v = z[k];
      s1 += v; s2 += v * v; s3 += v * v * v; s4 += v * v * v * v;
      beyond_tail += std::abs(v) > 3.442619855899 ? 1.0 : 0.0;
      below_one += v < 1.0 ? 1.0 : 0.0;
    }
  }
  const double n = static_cast<double>(blocks) * width;
  // Standard errors of the sample moments of N(0,1): √(1/n), √(2/n), √(15/n), √(96/n).
  REQUIRE(std::abs(s1 / n) < 5.0 * std::sqrt(1.0 / n));
  REQUIRE(std::abs(s2 / n - 1.0) < 5.0 * std::sqrt(2.0 / n));
  REQUIRE(std::abs(s3 / n) < 5.0 * std::sqrt(15.0 / n));
  REQUIRE(std::abs(s4 / n - 3.0) < 5.0 * std::sqrt(96.0 / n));
  // Φ(1) = 0.841344746; P(|Z| > R) = erfc(R/√2) = 5.7e-4 (binomial standard errors).
  const double p_one = 0.5 * std::erfc(-1.0 / std::sqrt(2.0));
  REQUIRE(std::abs(below_one / n - p_one) < 5.0 * std::sqrt(p_one * (1 - p_one) / n));
  const double p_tail = std::erfc(3.442619855899 / std::sqrt(2.0));
  REQUIRE(std::abs(beyond_tail / n - p_tail) < 5.0 * std::sqrt(p_tail / n));
  // Keyed by counters: the same (a, b) gives the same draws, a shorter vector is a prefix.
  Eigen::VectorXd again(width), prefix(7);
  fill_ziggurat_normal(rng, 3, 0, z);
  fill_ziggurat_normal(rng, 3, 0, again);
  fill_ziggurat_normal(rng, 3, 0, prefix);
  REQUIRE(z == again);
  REQUIRE(prefix == z.head(7));
}
