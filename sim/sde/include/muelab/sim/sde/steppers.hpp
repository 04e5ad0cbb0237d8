// Stochastic steppers on Boost.Odeint's Stepper concept (docs/theory.md §7: odeint ships no SDE stepper).
// Each stepper exposes state_type/deriv_type/value_type/time_type/order_type, stepper_category =
// stepper_tag, order() and do_step(system, x, t, dt), so odeint's integrate_n_steps /
// integrate_const drive it. The Brownian increments come from a noise source bound at construction
// (a BrownianPath), whose step size must equal dt.
//
// System concepts (all methods const):
//   drift(x, out, t)                       out = a(x, t)
//   diagonal noise:  diffusion(x, out, t)  out_i = b_i(x, t), noise dimension = state dimension
//   general noise:   noise_dimension();  diffusion_times(x, dW, out, t)  out = G(x, t)·dW
//
// Schemes: Euler–Maruyama (strong 1/2, weak 1) and Platen's explicit weak order-2.0 scheme
// (Kloeden & Platen 1992, eq. 15.1.3; derivative-free). The diagonal-noise form of the order-2
// scheme assumes commutative diagonal noise (b_i depends on x_i only, or is constant), which makes
// the cross terms vanish; the general-noise form evaluates all 4m+2 diffusion columns per step.
#pragma once

#include <Eigen/Core>
#include <boost/numeric/odeint/stepper/stepper_categories.hpp>

#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace muelab::sim::sde {

struct diagonal_noise {};
struct general_noise {};

namespace detail {
inline void check_step(double dt, double noise_dt) {
  if (std::abs(dt - noise_dt) > 1e-12 * std::max(std::abs(dt), std::abs(noise_dt)))
    throw std::invalid_argument("stochastic stepper: dt differs from the Brownian path's step size");
}
}  // namespace detail

template <class State, class NoiseSource, class NoiseKind = diagonal_noise>
class EulerMaruyama {
 public:
  using state_type = State;
  using deriv_type = State;
  using value_type = double;
  using time_type = double;
  using order_type = unsigned short;
  using stepper_category = boost::numeric::odeint::stepper_tag;

  explicit EulerMaruyama(NoiseSource& noise) : noise_(&noise) {}
  [[nodiscard]] static constexpr order_type order() { return 1; }  ///< weak order

  template <class System>
  void do_step(const System& system, State& x, double t, double dt) {
    detail::check_step(dt, noise_->step_size());
    drift_.resize(x.size());
    diffusion_.resize(x.size());
    system.drift(x, drift_, t);
    if constexpr (std::is_same_v<NoiseKind, diagonal_noise>) {
      dW_.resize(x.size());
      noise_->next(dW_);
      system.diffusion(x, diffusion_, t);
      x += dt * drift_ + diffusion_.cwiseProduct(dW_);
    } else {
      dW_.resize(system.noise_dimension());
      noise_->next(dW_);
      system.diffusion_times(x, dW_, diffusion_, t);
      x += dt * drift_ + diffusion_;
    }
  }

 private:
  NoiseSource* noise_;
  State drift_, diffusion_;
  Eigen::VectorXd dW_;
};

template <class State, class NoiseSource, class NoiseKind = diagonal_noise>
class PlatenWeakOrder2 {
 public:
  using state_type = State;
  using deriv_type = State;
  using value_type = double;
  using time_type = double;
  using order_type = unsigned short;
  using stepper_category = boost::numeric::odeint::stepper_tag;

  explicit PlatenWeakOrder2(NoiseSource& noise) : noise_(&noise) {}
  [[nodiscard]] static constexpr order_type order() { return 2; }  ///< weak order

  template <class System>
  void do_step(const System& system, State& x, double t, double dt) {
    detail::check_step(dt, noise_->step_size());
    if constexpr (std::is_same_v<NoiseKind, diagonal_noise>)
      step_diagonal(system, x, t, dt);
    else
      step_general(system, x, t, dt);
  }

 private:
  // KP 15.1.3 with b^j = b_j e_j and b_j depending on x_j only: U^r terms vanish and R^j may be
  // perturbed in all coordinates at once.
  template <class System>
  void step_diagonal(const System& system, State& x, double t, double dt) {
    const auto n = x.size();
    a_.resize(n); b_.resize(n); dW_.resize(n);
    noise_->next(dW_);
    const double sqrt_dt = std::sqrt(dt);
    system.drift(x, a_, t);
    system.diffusion(x, b_, t);
    support_ = x + dt * a_ + b_.cwiseProduct(dW_);  // Ῡ
    a_bar_.resize(n);
    system.drift(support_, a_bar_, t + dt);
    support_ = x + dt * a_ + sqrt_dt * b_;  // R+
    b_plus_.resize(n);
    system.diffusion(support_, b_plus_, t);
    support_ = x + dt * a_ - sqrt_dt * b_;  // R−
    b_minus_.resize(n);
    system.diffusion(support_, b_minus_, t);
    x += 0.5 * dt * (a_bar_ + a_) + 0.25 * (b_plus_ + b_minus_ + 2.0 * b_).cwiseProduct(dW_) +
         (0.25 / sqrt_dt) * (b_plus_ - b_minus_).cwiseProduct((dW_.array().square() - dt).matrix());
  }

  template <class System>
  void step_general(const System& system, State& x, double t, double dt) {
    const auto n = x.size();
    const Eigen::Index m = system.noise_dimension();
    const std::uint64_t step = noise_->current_step();
    dW_.resize(m);
    noise_->next(dW_);
    const double sqrt_dt = std::sqrt(dt);
    a_.resize(n);
    system.drift(x, a_, t);
    // Columns b^j(y) = G(y) e_j.
    auto columns = [&](const State& y, Eigen::MatrixXd& out) {
      out.resize(n, m);
      unit_.setZero(m);
      column_.resize(n);
      for (Eigen::Index j = 0; j < m; ++j) {
        unit_[j] = 1.0;
        system.diffusion_times(y, unit_, column_, t);
        out.col(j) = column_;
        unit_[j] = 0.0;
      }
    };
    columns(x, b0_);
    support_ = x + dt * a_ + b0_ * dW_;  // Ῡ
    a_bar_.resize(n);
    system.drift(support_, a_bar_, t + dt);
    State update = 0.5 * dt * (a_bar_ + a_);
    const State base = x + dt * a_;
    for (Eigen::Index j = 0; j < m; ++j) {
      support_ = base + sqrt_dt * b0_.col(j);
      columns(support_, b_plus_matrix_);
      support_ = base - sqrt_dt * b0_.col(j);
      columns(support_, b_minus_matrix_);
      update += 0.25 * (b_plus_matrix_.col(j) + b_minus_matrix_.col(j) + 2.0 * b0_.col(j)) * dW_[j];
      update += (0.25 / sqrt_dt) * (b_plus_matrix_.col(j) - b_minus_matrix_.col(j)) * (dW_[j] * dW_[j] - dt);
    }
    for (Eigen::Index r = 0; r < m; ++r) {
      support_ = x + sqrt_dt * b0_.col(r);  // U+^r
      columns(support_, b_plus_matrix_);
      support_ = x - sqrt_dt * b0_.col(r);  // U−^r
      columns(support_, b_minus_matrix_);
      for (Eigen::Index j = 0; j < m; ++j) {
        if (j == r) continue;
        // V_{r,j}: two-point ±dt for r < j, V_{r,j} = −V_{j,r}.
        const auto low = static_cast<std::uint64_t>(std::min(r, j));
        const auto high = static_cast<std::uint64_t>(std::max(r, j));
        const double v_low_high = dt * noise_->auxiliary_sign(step, low * static_cast<std::uint64_t>(m) + high);
        const double v = (r < j) ? v_low_high : -v_low_high;
        update += 0.25 * (b_plus_matrix_.col(j) + b_minus_matrix_.col(j) - 2.0 * b0_.col(j)) * dW_[j];
        update += (0.25 / sqrt_dt) * (b_plus_matrix_.col(j) - b_minus_matrix_.col(j)) * (dW_[j] * dW_[r] + v);
      }
    }
    x += update;
  }

  NoiseSource* noise_;
  State a_, b_, a_bar_, b_plus_, b_minus_, support_, column_;
  Eigen::VectorXd dW_, unit_;
  Eigen::MatrixXd b0_, b_plus_matrix_, b_minus_matrix_;
};

}  // namespace muelab::sim::sde
