// Optimizers, problems, SVAG and exact SGD moments (docs/theory.md §7), each against a hand calculation
// or an exact result. Stochastic checks print their seed and use standard-error tolerances.
#include "muelab/sim/sde/ensemble.hpp"
#include "muelab/sim/sde/exact_moments.hpp"
#include "muelab/sim/sde/optimizer_sdes.hpp"
#include "muelab/sim/sde/optimizers.hpp"
#include "muelab/sim/sde/problems.hpp"

#include "muelab/sim/sde/brownian_path.hpp"
#include "muelab/sim/sde/steppers.hpp"

#include <catch2/catch.hpp>
#include <unsupported/Eigen/MatrixFunctions>
#include <omp.h>

#include <cmath>
#include <iostream>

using namespace muelab::sim;
using namespace muelab::sim::sde;

namespace {
constexpr std::uint64_t kSeed = 977;
}

TEST_CASE("Adam's first step is lr·g/(|g|+eps) after bias correction, and AdamW decays first", "[sde][optimizer]") {
  OptimizerHyperparameters hyper{OptimizerName::adamw, 0.1, 0.9, 0.999, 1e-8, 0.5};
  DiscreteOptimizer adam(hyper, 2);
  Eigen::VectorXd x(2), g(2);
  x << 1.0, 2.0;
  g << 0.3, -4.0;
  adam.step(x, g);
  REQUIRE(x[0] == Approx(1.0 * (1.0 - 0.05) - 0.1 * 0.3 / (0.3 + 1e-8)).epsilon(1e-12));
  REQUIRE(x[1] == Approx(2.0 * (1.0 - 0.05) + 0.1 * 4.0 / (4.0 + 1e-8)).epsilon(1e-12));
  OptimizerHyperparameters sgd{OptimizerName::momentum_sgd, 0.1, 0.5, 0.0, 0.0, 0.0};
  DiscreteOptimizer momentum(sgd, 1);
  Eigen::VectorXd y = Eigen::VectorXd::Ones(1), h = Eigen::VectorXd::Ones(1);
  momentum.step(y, h);
  momentum.step(y, h);
  REQUIRE(y[0] == Approx(1.0 - 0.1 - 0.1 * 1.5));
  REQUIRE_THROWS_WITH(parse_optimizer_name("lion"), Catch::Contains("optimizer") && Catch::Contains("adamw"));
}

TEST_CASE("SVAG weights keep the mean and multiply the covariance by ell", "[sde][svag]") {
  for (double ell : {1.0, 2.0, 8.0, 32.0}) {
    const auto w = svag_weights(ell);
    REQUIRE(w.first + w.second == Approx(1.0));
    REQUIRE(w.first * w.first + w.second * w.second == Approx(ell));
  }
  OptimizerHyperparameters adam{OptimizerName::adam, 0.1, 0.9, 0.99, 1e-6, 0.0};
  const auto s = svag_schedule(adam, 100, 4.0);
  REQUIRE(s.steps == 400);
  REQUIRE(s.hyper.lr == Approx(0.05));
  REQUIRE(1.0 - s.hyper.beta1 == Approx(0.025));
  REQUIRE(s.hyper.eps == Approx(2e-6));
}

TEST_CASE("Linear regression: Σ^{1/2} reproduces the minibatch covariance, and sampled gradients are unbiased",
          "[sde][problem]") {
  std::cout << "seed " << kSeed << "\n";
  const CounterRng rng(kSeed, 2);
  Eigen::VectorXd scales = Eigen::VectorXd::LinSpaced(3, 1.0, 0.5);
  LinearRegression model(40, scales, 0.3, 4, rng);
  Eigen::VectorXd w(3);
  w << 0.2, -0.1, 0.4;
  Eigen::MatrixXd s(3, 40);
  Eigen::VectorXd unit = Eigen::VectorXd::Zero(40), column;
  for (int i = 0; i < 40; ++i) {
    unit[i] = 1.0;
    model.noise_sqrt_times(w, unit, column);
    s.col(i) = column;
    unit[i] = 0.0;
  }
  const Eigen::MatrixXd covariance = model.sample_covariance(w) / 4.0;
  REQUIRE((s * s.transpose() - covariance).cwiseAbs().maxCoeff() < 1e-12);
  Eigen::VectorXd variance;
  model.noise_variance(w, variance);
  REQUIRE((variance - covariance.diagonal()).cwiseAbs().maxCoeff() < 1e-12);
  const auto samples = run_ensemble(20000, 3, [&](std::uint64_t p, Eigen::VectorXd& row) {
    model.sample_gradient(w, rng, p, 0, 0, row);
  });
  Eigen::VectorXd exact;
  model.gradient(w, exact);
  for (int k = 0; k < 3; ++k) REQUIRE(std::abs(samples.mean[k] - exact[k]) < 4.0 * samples.standard_error[k]);
  REQUIRE(model.noise_dominance(w) == Approx(exact.squaredNorm() / covariance.trace()));
}

TEST_CASE("Exact SGD moments: discrete recursion and first-order SME against closed forms", "[sde][exact]") {
  Eigen::MatrixXd h(1, 1), sigma(1, 1);
  h << 2.0;
  sigma << 0.5;
  GaussianMoments initial{Eigen::VectorXd::Ones(1), Eigen::MatrixXd::Constant(1, 1, 0.1)};
  const auto discrete = sgd_discrete_moments(h, sigma, 0.1, 2, initial);
  REQUIRE(discrete.mean[0] == Approx(0.64));
  REQUIRE(discrete.covariance(0, 0) == Approx((0.1 * 0.64 + 0.005) * 0.64 + 0.005));
  const double t = 1.3, lr = 0.05;
  const auto sme = sgd_sme_moments(h, sigma, lr, t, 1, initial);
  REQUIRE(sme.mean[0] == Approx(std::exp(-2.0 * t)).epsilon(1e-10));
  const double expected = 0.1 * std::exp(-4.0 * t) + lr * 0.5 * (1.0 - std::exp(-4.0 * t)) / 4.0;
  REQUIRE(sme.covariance(0, 0) == Approx(expected).epsilon(1e-10));
  const auto second = sgd_sme_moments(h, sigma, lr, t, 2, initial);
  REQUIRE(second.mean[0] == Approx(std::exp(-(2.0 + 0.5 * lr * 4.0) * t)).epsilon(1e-10));
}

TEST_CASE("Exact SVAG-SGD loss on linear regression matches Monte Carlo of the oracle", "[sde][exact][svag]") {
  std::cout << "seed " << kSeed << "\n";
  const CounterRng data_rng(kSeed, 3), noise_rng(kSeed, 4);
  LinearRegression model(32, Eigen::VectorXd::Ones(3), 0.5, 2, data_rng);
  const Eigen::VectorXd w0 = Eigen::VectorXd::Zero(3);
  for (double ell : {1.0, 4.0}) {
    const auto schedule = svag_schedule({OptimizerName::sgd, 0.2, 0.0, 0.0, 0.0, 0.0}, 10, ell);
    const auto exact = linear_regression_sgd_expected_loss(model, schedule.hyper.lr, schedule.steps, ell, w0);
    const auto mc = run_ensemble(20000, 1, [&](std::uint64_t p, Eigen::VectorXd& row) {
      Eigen::VectorXd w = w0, g;
      for (long long k = 0; k < schedule.steps; ++k) {
        svag_gradient(model, w, ell, noise_rng, p, static_cast<std::uint64_t>(k), g);
        w -= schedule.hyper.lr * g;
      }
      row.resize(1);
      row[0] = model.loss(w);
    });
    INFO("ell " << ell << " exact " << exact[schedule.steps] << " mc " << mc.mean[0] << " se " << mc.standard_error[0]);
    REQUIRE(std::abs(exact[schedule.steps] - mc.mean[0]) < 4.0 * mc.standard_error[0]);
  }
}

TEST_CASE("Adam SDE drift by hand", "[sde][adam]") {
  Eigen::VectorXd curvature(2);
  curvature << 1.0, 3.0;
  NoisyQuadratic model(curvature, Eigen::MatrixXd::Identity(2, 2) * 4.0, 2.0, NoiseDistribution::gaussian);
  const auto p = AdamSdeParameters::from_discrete(0.1, 0.9, 0.99, 1e-3, 0.2);
  REQUIRE(p.c1 == Approx(10.0));
  REQUIRE(p.c2 == Approx(1.0));
  REQUIRE(p.eps0 == Approx(1e-4));
  REQUIRE(p.wd_rate == Approx(2.0));
  AdamSde sde(model, p);
  Eigen::VectorXd state(6), out;
  state << 1.0, -1.0, 0.5, 0.2, 1.5, 2.5;
  const double t = 0.3;
  sde.drift(state, out, t);
  const double g1 = 1.0 - std::exp(-10.0 * t), g2 = 1.0 - std::exp(-t);
  REQUIRE(out[0] == Approx(-(std::sqrt(g2) / g1) * 0.5 / (0.1 * std::sqrt(1.5) + 1e-4 * std::sqrt(g2)) - 2.0));
  REQUIRE(out[3] == Approx(10.0 * (-3.0 - 0.2)));
  REQUIRE(out[5] == Approx(1.0 * (2.0 - 2.5)));
}

TEST_CASE("Adam SDE ensembles (one system copy per path) are bit-identical with 1 and 2 threads",
          "[sde][adam][determinism]") {
  std::cout << "seed " << kSeed << "\n";
  Eigen::VectorXd curvature = Eigen::VectorXd::LinSpaced(4, 1.0, 2.0);
  NoisyQuadratic model(curvature, Eigen::MatrixXd::Identity(4, 4), 1.0, NoiseDistribution::gaussian);
  const AdamSde sde(model, AdamSdeParameters::from_discrete(0.1, 0.9, 0.99, 1e-6, 0.1));
  const CounterRng rng(kSeed, 5);
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    return run_ensemble(32, 4, [&](std::uint64_t p, Eigen::VectorXd& row) {
      const AdamSde system = sde;
      BrownianPath path(rng, p, 4, 0.0025);
      EulerMaruyama<Eigen::VectorXd, BrownianPath, general_noise> stepper(path);
      Eigen::VectorXd state = system.initial_state(Eigen::VectorXd::Ones(4));
      for (int k = 0; k < 200; ++k) stepper.do_step(system, state, 0.0025 * k, 0.0025);
      row = state.head(4);
    });
  };
  const auto one = run(1), two = run(2);
  REQUIRE(one.per_path == two.per_path);
}

TEST_CASE("Noisy quadratic: diagonal and dense noise square roots both reproduce Sigma/B", "[sde][problems]") {
  const Eigen::Vector3d curvature(1.0, 2.0, 3.0);
  const Eigen::Vector3d variances(4.0, 9.0, 0.25);
  Eigen::Matrix3d dense;
  dense << 4.0, 1.0, 0.5, 1.0, 9.0, 0.3, 0.5, 0.3, 0.25;
  for (const Eigen::MatrixXd& covariance : {Eigen::MatrixXd(variances.asDiagonal()), Eigen::MatrixXd(dense)}) {
    const NoisyQuadratic model(curvature, covariance, 4.0, NoiseDistribution::gaussian);
    // Columns S e_j give S Sᵀ = Σ/B (by hand: Σ/4).
    Eigen::Matrix3d root;
    Eigen::VectorXd column(3), unit(3);
    for (int j = 0; j < 3; ++j) {
      unit.setZero();
      unit[j] = 1.0;
      model.noise_sqrt_times(Eigen::VectorXd::Zero(3), unit, column);
      root.col(j) = column;
    }
    REQUIRE(((root * root.transpose()) - covariance / 4.0).cwiseAbs().maxCoeff() < 1e-14);
  }
  // Diagonal case: S z = (σ_i/√B) z_i exactly.
  const NoisyQuadratic diagonal(curvature, Eigen::MatrixXd(variances.asDiagonal()), 4.0, NoiseDistribution::gaussian);
  Eigen::VectorXd out(3);
  diagonal.noise_sqrt_times(Eigen::VectorXd::Zero(3), Eigen::Vector3d(1.0, -2.0, 4.0), out);
  REQUIRE(out[0] == 1.0);
  REQUIRE(out[1] == -3.0);
  REQUIRE(out[2] == 1.0);
}

namespace {
/// The Adam SDE with X held fixed: the moments warm up at x0 (as in adam-sde-weak-order).
class HeldPosition {
 public:
  HeldPosition(const AdamSde& sde, Eigen::Index dimension) : sde_(&sde), dimension_(dimension) {}
  [[nodiscard]] Eigen::Index noise_dimension() const { return sde_->noise_dimension(); }
  void drift(const Eigen::VectorXd& state, Eigen::VectorXd& out, double t) const {
    sde_->drift(state, out, t);
    out.head(dimension_).setZero();
  }
  void diffusion_times(const Eigen::VectorXd& state, const Eigen::VectorXd& dW, Eigen::VectorXd& out, double t) const {
    sde_->diffusion_times(state, dW, out, t);
  }

 private:
  const AdamSde* sde_;
  Eigen::Index dimension_;
};
}  // namespace

TEST_CASE("Exact Adam-SDE moments on a quadratic: constant coefficients against Van Loan's matrix exponential",
          "[sde][exact][adam]") {
  // No bias correction and c2 so large that u = s from t ≈ 1e-6 on: after the warm-up the (x, m) system
  // has constant A = [[−λ̃, −a], [c1 h, −c1]], a = 1/(η√s + ε0), and its moments are closed-form.
  const Eigen::Vector2d curvature(1.0, 3.0), variance(0.5, 2.0), x0(1.5, -0.7);
  const AdamSdeParameters p{0.1, 10.0, 1e7, 0.05, 0.3, false};
  const double warm_up = 0.4, horizon = 0.8;
  const auto exact = adam_sde_quadratic_moments(curvature, variance, p, x0, warm_up, horizon);
  for (Eigen::Index i = 0; i < 2; ++i) {
    const double h = curvature[i], s = variance[i], q = p.c1 * p.c1 * p.lr * p.lr * s;
    const double a = 1.0 / (p.lr * std::sqrt(s) + p.eps0);
    Eigen::Vector2d mean(x0[i], h * x0[i] * -std::expm1(-p.c1 * warm_up));
    Eigen::Matrix2d covariance = Eigen::Matrix2d::Zero();
    covariance(1, 1) = q * -std::expm1(-2.0 * p.c1 * warm_up) / (2.0 * p.c1);
    Eigen::Matrix2d A, Q = Eigen::Matrix2d::Zero();
    A << -p.wd_rate, -a, p.c1 * h, -p.c1;
    Q(1, 1) = q;
    Eigen::Matrix4d block = Eigen::Matrix4d::Zero();  // Van Loan: exp([[−A, Q], [0, Aᵀ]] T)
    block.topLeftCorner<2, 2>() = -A * horizon;
    block.topRightCorner<2, 2>() = Q * horizon;
    block.bottomRightCorner<2, 2>() = A.transpose() * horizon;
    const Eigen::Matrix4d e = block.exp();
    const Eigen::Matrix2d transition = e.bottomRightCorner<2, 2>().transpose();  // e^{AT}
    const Eigen::Matrix2d injected = transition * e.topRightCorner<2, 2>();      // ∫ e^{As} Q e^{Aᵀs} ds
    const Eigen::Vector2d mean_t = transition * mean;
    const Eigen::Matrix2d covariance_t = transition * covariance * transition.transpose() + injected;
    INFO("coordinate " << i << " mean " << exact.mean[i] << " vs " << mean_t[0] << ", var " << exact.covariance(i, i)
                       << " vs " << covariance_t(0, 0));
    REQUIRE(exact.mean[i] == Approx(mean_t[0]).epsilon(1e-6).margin(1e-9));
    REQUIRE(exact.covariance(i, i) == Approx(covariance_t(0, 0)).epsilon(1e-6).margin(1e-12));
  }
  REQUIRE(exact.covariance(0, 1) == 0.0);
}

TEST_CASE("Exact Adam-SDE moments with bias correction match Euler-Maruyama Monte Carlo", "[sde][exact][adam]") {
  std::cout << "seed " << kSeed << "\n";
  const Eigen::Vector2d curvature(2.0, 0.5), x0(2.0, 2.0);
  const double lr = 0.25, sigma = 1.0 / lr;  // σ0 = 1: noise-dominated, not stiff
  NoisyQuadratic model(curvature, Eigen::Vector2d(1.0, 2.0).asDiagonal() * (sigma * sigma), 1.0,
                       NoiseDistribution::gaussian);
  const AdamSdeParameters p{lr, 4.0, 4.0, 1e-3, 0.0, true};
  const AdamSde sde(model, p);
  const double warm_up = 0.5, horizon = 1.0, dt = std::ldexp(1.0, -11);
  Eigen::VectorXd variance;
  model.noise_variance(x0, variance);
  const auto exact = adam_sde_quadratic_moments(curvature, variance, p, x0, warm_up, horizon);
  const CounterRng rng(kSeed, 6);
  const auto mc = run_ensemble(4000, 3, [&](std::uint64_t path_index, Eigen::VectorXd& row) {
    const AdamSde system = sde;
    const HeldPosition held(system, 2);
    BrownianPath path(rng, path_index, 2, dt);
    EulerMaruyama<Eigen::VectorXd, BrownianPath, general_noise> stepper(path);
    Eigen::VectorXd state = system.initial_state(x0);
    const auto warm = std::llround(warm_up / dt), all = std::llround((warm_up + horizon) / dt);
    long long k = 0;
    for (; k < warm; ++k) stepper.do_step(held, state, static_cast<double>(k) * dt, dt);
    for (; k < all; ++k) stepper.do_step(system, state, static_cast<double>(k) * dt, dt);
    row[0] = state[0];
    row[1] = state[1];
    row[2] = model.loss(state.head(2));
  });
  const double exact_f = exact.expected_quadratic(Eigen::MatrixXd(curvature.asDiagonal()));
  for (Eigen::Index i = 0; i < 2; ++i) {
    INFO("E x_" << i << ": exact " << exact.mean[i] << ", Monte Carlo " << mc.mean[i] << " ± " << mc.standard_error[i]);
    REQUIRE(std::abs(exact.mean[i] - mc.mean[i]) < 4.0 * mc.standard_error[i]);
  }
  INFO("E f: exact " << exact_f << ", Monte Carlo " << mc.mean[2] << " ± " << mc.standard_error[2]);
  REQUIRE(std::abs(exact_f - mc.mean[2]) < 4.0 * mc.standard_error[2]);
  REQUIRE(mc.standard_error[2] < 0.05 * exact_f);  // the check has power: SE is small against E f
}
