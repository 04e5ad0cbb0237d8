// Probing a stochastic stepper's one-step map (exact weak errors of the steppers, docs/theory.md §7).
//
// Applied to a linear SDE, Euler–Maruyama and Platen's weak order-2 scheme are polynomial maps of
// (state, Brownian increment): with additive noise the step is affine, x' = c + A·x + B·ΔW (Platen's
// (b⁺ − b⁻) terms vanish because b is constant); with scalar multiplicative noise dX = −θX dt + σX dW
// it is x' = x·q(ΔW), q a polynomial of degree ≤ 2 in ΔW. Rather than re-deriving these maps by hand,
// the functions below drive the *actual* stepper objects with a ProbeNoise source that returns chosen
// increments, read off the coefficients from basis-vector probes, and then verify the claimed form on
// extra probe points (throwing std::logic_error if the stepper is not of that form). From the
// coefficients the scheme's moments follow exactly (exact_moments.hpp), so weak errors need no
// Monte Carlo.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace muelab::sim::sde {

/// A noise source (the BrownianPath interface the steppers use) that returns a chosen increment
/// `increment` at every step and a chosen two-point auxiliary value `auxiliary`.
class ProbeNoise {
 public:
  ProbeNoise(double step_size, Eigen::VectorXd increment, double auxiliary = 1.0)
      : step_size_(step_size), increment_(std::move(increment)), auxiliary_(auxiliary) {}
  [[nodiscard]] double step_size() const { return step_size_; }
  [[nodiscard]] Eigen::Index dimension() const { return increment_.size(); }
  template <class Vector>
  void next(Vector& out) {
    out = increment_;
    ++step_;
  }
  [[nodiscard]] std::uint64_t current_step() const { return step_; }
  [[nodiscard]] double auxiliary_sign(std::uint64_t, std::uint64_t) const { return auxiliary_; }

 private:
  double step_size_;
  Eigen::VectorXd increment_;
  double auxiliary_;
  std::uint64_t step_ = 0;
};

/// One step of `Stepper<Eigen::VectorXd, ProbeNoise, NoiseKind>` from state x with increment w.
template <template <class, class, class> class Stepper, class NoiseKind, class System>
[[nodiscard]] Eigen::VectorXd probe_one_step(const System& system, const Eigen::VectorXd& x, const Eigen::VectorXd& w,
                                             double t, double dt, double auxiliary = 1.0) {
  ProbeNoise noise(dt, w, auxiliary);
  Stepper<Eigen::VectorXd, ProbeNoise, NoiseKind> stepper(noise);
  Eigen::VectorXd state = x;
  stepper.do_step(system, state, t, dt);
  return state;
}

/// x' = offset + transition·x + noise·ΔW (one step of a scheme on a linear SDE with additive noise).
struct AffineStep {
  Eigen::VectorXd offset;
  Eigen::MatrixXd transition;
  Eigen::MatrixXd noise;
};

namespace detail {
inline void require_close(const Eigen::VectorXd& actual, const Eigen::VectorXd& expected, const std::string& what) {
  const double scale = std::max(1.0, expected.cwiseAbs().maxCoeff());
  if ((actual - expected).cwiseAbs().maxCoeff() > 1e-10 * scale)
    throw std::logic_error("stepper probe: the step is not " + what + " in (x, dW)");
}
}  // namespace detail

/// Reads off (c, A, B) with probes x = 0 / e_i, ΔW = 0 / e_j, then checks the affine form at two
/// generic points and for both auxiliary signs (the weak-2 scheme's V terms must drop out).
template <template <class, class, class> class Stepper, class NoiseKind, class System>
[[nodiscard]] AffineStep probe_affine_step(const System& system, Eigen::Index dimension, Eigen::Index noise_dimension,
                                           double t, double dt) {
  const Eigen::VectorXd zero_x = Eigen::VectorXd::Zero(dimension), zero_w = Eigen::VectorXd::Zero(noise_dimension);
  AffineStep step;
  step.offset = probe_one_step<Stepper, NoiseKind>(system, zero_x, zero_w, t, dt);
  step.transition.resize(dimension, dimension);
  step.noise.resize(dimension, noise_dimension);
  for (Eigen::Index i = 0; i < dimension; ++i)
    step.transition.col(i) =
        probe_one_step<Stepper, NoiseKind>(system, Eigen::VectorXd::Unit(dimension, i), zero_w, t, dt) - step.offset;
  for (Eigen::Index j = 0; j < noise_dimension; ++j)
    step.noise.col(j) =
        probe_one_step<Stepper, NoiseKind>(system, zero_x, Eigen::VectorXd::Unit(noise_dimension, j), t, dt) -
        step.offset;
  // Verification at generic points (deterministic, not random: a probe, not a sample).
  for (int trial = 0; trial < 2; ++trial) {
    Eigen::VectorXd x(dimension), w(noise_dimension);
    for (Eigen::Index i = 0; i < dimension; ++i) x[i] = 0.7 + 0.31 * static_cast<double>(i + trial) * (trial ? -1.0 : 1.0);
    for (Eigen::Index j = 0; j < noise_dimension; ++j) w[j] = std::sqrt(dt) * (0.9 - 0.53 * static_cast<double>(j + 2 * trial));
    const Eigen::VectorXd expected = step.offset + step.transition * x + step.noise * w;
    for (double auxiliary : {1.0, -1.0})
      detail::require_close(probe_one_step<Stepper, NoiseKind>(system, x, w, t, dt, auxiliary), expected, "affine");
  }
  return step;
}

/// x' = x·(q0 + q1·ΔW + q2·ΔW²) (one step of a scheme on scalar linear multiplicative noise).
struct ScalarMultiplicativeStep {
  double q0 = 0.0, q1 = 0.0, q2 = 0.0;
};

/// Reads off q0, q1, q2 from x = 1 and ΔW ∈ {0, ±√dt}, then checks linearity in x and the
/// quadratic form in ΔW at two further increments.
template <template <class, class, class> class Stepper, class NoiseKind, class System>
[[nodiscard]] ScalarMultiplicativeStep probe_scalar_multiplicative_step(const System& system, double t, double dt) {
  const auto one_step = [&](double x, double w) {
    return probe_one_step<Stepper, NoiseKind>(system, Eigen::VectorXd::Constant(1, x), Eigen::VectorXd::Constant(1, w),
                                              t, dt)[0];
  };
  const double h = std::sqrt(dt);
  const double at_zero = one_step(1.0, 0.0), at_plus = one_step(1.0, h), at_minus = one_step(1.0, -h);
  ScalarMultiplicativeStep q;
  q.q0 = at_zero;
  q.q1 = (at_plus - at_minus) / (2.0 * h);
  q.q2 = (at_plus + at_minus - 2.0 * at_zero) / (2.0 * dt);
  for (double x : {2.5, -0.6})
    for (double w : {1.7 * h, -2.3 * h}) {
      const double expected = x * (q.q0 + q.q1 * w + q.q2 * w * w);
      detail::require_close(Eigen::VectorXd::Constant(1, one_step(x, w)), Eigen::VectorXd::Constant(1, expected),
                            "x*(quadratic in dW)");
    }
  return q;
}

}  // namespace muelab::sim::sde
