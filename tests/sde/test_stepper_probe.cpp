// Probing the steppers' one-step maps on linear SDEs and the exact scheme moments built from them
// (issue 3; docs/theory.md §7). Hand calculations for the probed coefficients, closed forms for the OU
// moments, and a Monte Carlo cross-check of the exact scheme moments (seed printed, tolerance from
// the standard error).
#include "muelab/sim/sde/brownian_path.hpp"
#include "muelab/sim/sde/ensemble.hpp"
#include "muelab/sim/sde/exact_moments.hpp"
#include "muelab/sim/sde/stepper_probe.hpp"
#include "muelab/sim/sde/steppers.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <iostream>

using namespace muelab::sim;
using namespace muelab::sim::sde;

namespace {
constexpr std::uint64_t kSeed = 20261123;

struct ScalarLinear {  // dX = −θX dt + (a + bX) dW
  double theta, additive, multiplicative;
  void drift(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const { out = -theta * x; }
  void diffusion(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const {
    out = (additive + multiplicative * x.array()).matrix();
  }
};

struct CubicDrift {  // dX = −X³ dt + dW: not affine
  void drift(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const { out = -x.array().cube().matrix(); }
  void diffusion(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const { out = Eigen::VectorXd::Ones(x.size()); }
};

struct GeneralLinear {  // dX = −ΛX dt + G dW
  Eigen::Vector2d rates;
  Eigen::Matrix2d noise;
  [[nodiscard]] Eigen::Index noise_dimension() const { return 2; }
  void drift(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const { out = -rates.cwiseProduct(x); }
  void diffusion_times(const Eigen::VectorXd&, const Eigen::VectorXd& dW, Eigen::VectorXd& out, double) const {
    out = noise * dW;
  }
};
}  // namespace

TEST_CASE("Probed one-step maps on additive OU match the hand calculation", "[sde][probe]") {
  const double theta = 1.5, sigma = 0.7, dt = 0.1;
  const ScalarLinear ou{theta, sigma, 0.0};
  const auto em = probe_affine_step<EulerMaruyama, diagonal_noise>(ou, 1, 1, 0.0, dt);
  CHECK(em.offset[0] == Approx(0.0).margin(1e-15));
  CHECK(em.transition(0, 0) == Approx(1.0 - theta * dt).epsilon(1e-14));
  CHECK(em.noise(0, 0) == Approx(sigma).epsilon(1e-14));
  // Platen: x' = x(1 − θdt + ½θ²dt²) + σ(1 − ½θdt)ΔW (Heun drift; b constant so b± terms vanish).
  const auto platen = probe_affine_step<PlatenWeakOrder2, diagonal_noise>(ou, 1, 1, 0.0, dt);
  CHECK(platen.transition(0, 0) == Approx(1.0 - theta * dt + 0.5 * theta * theta * dt * dt).epsilon(1e-14));
  CHECK(platen.noise(0, 0) == Approx(sigma * (1.0 - 0.5 * theta * dt)).epsilon(1e-14));
  // General-noise Platen on a 2-d OU: A = I − Λdt + ½Λ²dt², B = (I − ½Λdt)G.
  const GeneralLinear general{Eigen::Vector2d(0.5, 1.0), (Eigen::Matrix2d() << 0.5, 0.3, -0.2, 0.4).finished()};
  const auto platen2 = probe_affine_step<PlatenWeakOrder2, general_noise>(general, 2, 2, 0.0, dt);
  const Eigen::Matrix2d lambda = general.rates.asDiagonal();
  const Eigen::Matrix2d identity = Eigen::Matrix2d::Identity();
  const Eigen::Matrix2d a_expected = identity - dt * lambda + 0.5 * dt * dt * lambda * lambda;
  const Eigen::Matrix2d b_expected = (identity - 0.5 * dt * lambda) * general.noise;
  CHECK((platen2.transition - a_expected).cwiseAbs().maxCoeff() < 1e-14);
  CHECK((platen2.noise - b_expected).cwiseAbs().maxCoeff() < 1e-14);
}

TEST_CASE("Probed one-step maps on geometric OU match the hand calculation", "[sde][probe]") {
  const double theta = 1.0, sigma = 0.5, dt = 0.05;
  const ScalarLinear gou{theta, 0.0, sigma};
  const auto em = probe_scalar_multiplicative_step<EulerMaruyama, diagonal_noise>(gou, 0.0, dt);
  CHECK(em.q0 == Approx(1.0 - theta * dt).epsilon(1e-13));
  CHECK(em.q1 == Approx(sigma).epsilon(1e-12));
  CHECK(em.q2 == Approx(0.0).margin(1e-9));
  // Platen (KP 15.1.3), by hand: q0 = 1 − θdt + ½θ²dt² − ½σ²dt, q1 = σ(1 − θdt), q2 = ½σ².
  const auto platen = probe_scalar_multiplicative_step<PlatenWeakOrder2, diagonal_noise>(gou, 0.0, dt);
  CHECK(platen.q0 == Approx(1.0 - theta * dt + 0.5 * theta * theta * dt * dt - 0.5 * sigma * sigma * dt).epsilon(1e-13));
  CHECK(platen.q1 == Approx(sigma * (1.0 - theta * dt)).epsilon(1e-12));
  CHECK(platen.q2 == Approx(0.5 * sigma * sigma).epsilon(1e-9));
}

TEST_CASE("The probe refuses a stepper map that is not of the claimed form", "[sde][probe]") {
  const CubicDrift cubic;
  CHECK_THROWS_AS((probe_affine_step<EulerMaruyama, diagonal_noise>(cubic, 1, 1, 0.0, 0.1)), std::logic_error);
  const ScalarLinear additive_and_multiplicative{1.0, 0.3, 0.5};
  CHECK_THROWS_AS((probe_scalar_multiplicative_step<EulerMaruyama, diagonal_noise>(additive_and_multiplicative, 0.0, 0.1)),
                  std::logic_error);
  CHECK_THROWS_AS((probe_affine_step<EulerMaruyama, diagonal_noise>(additive_and_multiplicative, 1, 1, 0.0, 0.1)),
                  std::logic_error);
}

TEST_CASE("Exact OU moments: closed forms and the dt -> 0 limit of the probed Euler-Maruyama recursion",
          "[sde][exact][probe]") {
  const double theta = 1.0, sigma = 0.5, x0 = 2.0, horizon = 1.0;
  const GaussianMoments initial{Eigen::VectorXd::Constant(1, x0), Eigen::MatrixXd::Zero(1, 1)};
  const auto exact = ornstein_uhlenbeck_moments(Eigen::VectorXd::Constant(1, theta), Eigen::MatrixXd::Constant(1, 1, sigma),
                                                horizon, initial);
  CHECK(exact.mean[0] == Approx(x0 * std::exp(-1.0)).epsilon(1e-14));
  CHECK(exact.covariance(0, 0) == Approx(0.25 * (1.0 - std::exp(-2.0)) / 2.0).epsilon(1e-14));
  const auto geometric = geometric_ou_moments(theta, sigma, x0, horizon);
  CHECK(geometric.second == Approx(4.0 * std::exp(0.25 - 2.0)).epsilon(1e-14));
  // EM's exact second moment differs from the OU value by O(dt): halving dt halves the error.
  const ScalarLinear ou{theta, sigma, 0.0};
  double previous = 0.0;
  for (int level = 8; level <= 10; ++level) {
    const double dt = std::ldexp(1.0, -level);
    const auto step = probe_affine_step<EulerMaruyama, diagonal_noise>(ou, 1, 1, 0.0, dt);
    const double error = affine_scheme_moments(step, dt, std::llround(horizon / dt), initial).expected_squared_norm() -
                         exact.expected_squared_norm();
    if (level > 8) CHECK(previous / error == Approx(2.0).epsilon(0.02));
    previous = error;
  }
}

TEST_CASE("Exact scheme moments agree with Monte Carlo of the same stepper", "[sde][exact][probe]") {
  std::cout << "seed " << kSeed << "\n";
  const CounterRng rng(kSeed, 3);
  const double theta = 1.0, dt = 0.25, x0 = 1.0;
  const long long steps = 4;
  const std::uint64_t paths = 40000;
  const ScalarLinear additive{theta, 0.8, 0.0}, geometric{theta, 0.0, 0.8};
  const auto moments = run_ensemble(paths, 2, [&](std::uint64_t p, Eigen::VectorXd& row) {
    for (int which = 0; which < 2; ++which) {
      BrownianPath path(rng, 2 * p + static_cast<std::uint64_t>(which), 1, dt);
      PlatenWeakOrder2<Eigen::VectorXd, BrownianPath> stepper(path);
      Eigen::VectorXd x = Eigen::VectorXd::Constant(1, x0);
      for (long long k = 0; k < steps; ++k)
        stepper.do_step(which == 0 ? additive : geometric, x, static_cast<double>(k) * dt, dt);
      row[which] = x[0] * x[0];
    }
  });
  const GaussianMoments initial{Eigen::VectorXd::Constant(1, x0), Eigen::MatrixXd::Zero(1, 1)};
  const double exact_additive =
      affine_scheme_moments(probe_affine_step<PlatenWeakOrder2, diagonal_noise>(additive, 1, 1, 0.0, dt), dt, steps, initial)
          .expected_squared_norm();
  const double exact_geometric =
      scalar_multiplicative_scheme_moments(
          probe_scalar_multiplicative_step<PlatenWeakOrder2, diagonal_noise>(geometric, 0.0, dt), dt, steps, x0)
          .second;
  std::cout << "additive: MC " << moments.mean[0] << " +- " << moments.standard_error[0] << ", exact " << exact_additive
            << "; geometric: MC " << moments.mean[1] << " +- " << moments.standard_error[1] << ", exact "
            << exact_geometric << "\n";
  CHECK(std::abs(moments.mean[0] - exact_additive) < 4.0 * moments.standard_error[0]);
  CHECK(std::abs(moments.mean[1] - exact_geometric) < 4.0 * moments.standard_error[1]);
}
