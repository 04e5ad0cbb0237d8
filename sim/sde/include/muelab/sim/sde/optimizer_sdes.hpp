// SDE models of optimizers (docs/theory.md §7), written as systems for the steppers of steppers.hpp
// (general noise: drift(x, out, t), noise_dimension(), diffusion_times(x, dW, out, t)).
//
//  * SGD, time t = kη. First-order SME: dX = −∇f dt + √η Σ_B^{1/2} dW.
//    Second-order SME: dX = −∇(f + (η/4)|∇f|²) dt + √η Σ_B^{1/2} dW, ∇|∇f|²/4·η = (η/2) H ∇f.
//  * RMSprop / Adam, time t = kη², state (X, m, u) (RMSprop: (X, u)), with Σ_B = minibatch covariance,
//    σ0 Σ̂^{1/2} = η Σ_B^{1/2}, ε0 = εη, c_i = (1−β_i)/η², γ_i(t) = 1 − exp(−c_i t):
//      dX = −(√γ2/γ1) P⁻¹ m dt − λ̃ X dt,   P = η·diag(u)^{1/2} + ε0 √γ2 I
//      dm = c1(∇f − m) dt + c1 η Σ_B^{1/2} dW,   du = c2(diag Σ_B − u) dt,   λ̃ = λ/η (AdamW).
//    (u tracks diag Σ_B so that η·√u = σ0·√(diag Σ̂).)
// The systems keep scratch vectors: use one copy per path (per thread) in parallel ensembles.
#pragma once

#include "muelab/sim/sde/problems.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>

namespace muelab::sim::sde {

class SgdSme {
 public:
  SgdSme(const GradientModel& model, double lr, int order) : model_(&model), lr_(lr), order_(order) {}
  [[nodiscard]] Eigen::Index noise_dimension() const { return model_->noise_dimension(); }
  void drift(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const {
    model_->gradient(x, gradient_);
    out = -gradient_;
    if (order_ >= 2) {
      model_->hessian_times(x, gradient_, hessian_gradient_);
      out -= 0.5 * lr_ * hessian_gradient_;
    }
  }
  void diffusion_times(const Eigen::VectorXd& x, const Eigen::VectorXd& dW, Eigen::VectorXd& out, double) const {
    model_->noise_sqrt_times(x, dW, out);
    out *= std::sqrt(lr_);
  }

 private:
  const GradientModel* model_;
  double lr_;
  int order_;
  mutable Eigen::VectorXd gradient_, hessian_gradient_;
};

/// The SDE objects of one discrete Adam/AdamW configuration (docs/theory.md §4, §7).
struct AdamSdeParameters {
  double lr = 0.0;           ///< η: sets σ0 = η·σ_g (noise enters as η Σ_B^{1/2})
  double c1 = 0.0;           ///< (1−β1)/η²
  double c2 = 0.0;           ///< (1−β2)/η²
  double eps0 = 0.0;         ///< ε·η
  double wd_rate = 0.0;      ///< λ̃ = λ/η
  bool bias_correction = true;

  [[nodiscard]] static AdamSdeParameters from_discrete(double lr, double beta1, double beta2, double eps,
                                                       double weight_decay) {
    return {lr, (1.0 - beta1) / (lr * lr), (1.0 - beta2) / (lr * lr), eps * lr, weight_decay / lr, true};
  }
};

class AdamSde {
 public:
  AdamSde(const GradientModel& model, const AdamSdeParameters& parameters)
      : model_(&model), parameters_(parameters), d_(model.dimension()) {}
  [[nodiscard]] Eigen::Index noise_dimension() const { return model_->noise_dimension(); }
  [[nodiscard]] Eigen::Index state_dimension() const { return 3 * d_; }
  /// Initial state (x0, m = 0, u = 0).
  [[nodiscard]] Eigen::VectorXd initial_state(const Eigen::VectorXd& x0) const {
    Eigen::VectorXd state = Eigen::VectorXd::Zero(3 * d_);
    state.head(d_) = x0;
    return state;
  }

  // One pass over the coordinates per call (the ensemble hot loop, bench/sde), no temporaries.
  void drift(const Eigen::VectorXd& state, Eigen::VectorXd& out, double t) const {
    out.resize(3 * d_);
    const double gamma1 = parameters_.bias_correction ? -std::expm1(-parameters_.c1 * t) : 1.0;
    const double gamma2 = parameters_.bias_correction ? -std::expm1(-parameters_.c2 * t) : 1.0;
    x_ = state.head(d_);
    model_->gradient(x_, gradient_);
    model_->noise_variance(x_, variance_);
    // t = 0: m = 0 and the bias-corrected ratio starts from zero.
    const double sqrt_gamma2 = std::sqrt(gamma2);
    const double ratio = gamma1 > 0.0 ? sqrt_gamma2 / gamma1 : 0.0;
    const double eps_term = parameters_.eps0 * sqrt_gamma2;
    const double lr = parameters_.lr, wd = parameters_.wd_rate, c1 = parameters_.c1, c2 = parameters_.c2;
    const double* x = state.data();
    const double* m = x + d_;
    const double* u = m + d_;
    const double* g = gradient_.data();
    const double* v = variance_.data();
    double* dx = out.data();
    double* dm = dx + d_;
    double* du = dm + d_;
    if (gamma1 > 0.0) {
      for (Eigen::Index i = 0; i < d_; ++i)
        dx[i] = -ratio * (m[i] / (lr * std::sqrt(std::max(u[i], 0.0)) + eps_term)) - wd * x[i];
    } else {
      for (Eigen::Index i = 0; i < d_; ++i) dx[i] = -wd * x[i];
    }
    for (Eigen::Index i = 0; i < d_; ++i) {
      dm[i] = c1 * (g[i] - m[i]);
      du[i] = c2 * (v[i] - u[i]);
    }
  }
  void diffusion_times(const Eigen::VectorXd& state, const Eigen::VectorXd& dW, Eigen::VectorXd& out, double) const {
    out.setZero(3 * d_);
    x_ = state.head(d_);
    model_->noise_sqrt_times(x_, dW, noise_);
    out.segment(d_, d_) = (parameters_.c1 * parameters_.lr) * noise_;
  }

 private:
  const GradientModel* model_;
  AdamSdeParameters parameters_;
  Eigen::Index d_;
  mutable Eigen::VectorXd x_, gradient_, variance_, noise_;
};

/// RMSprop SDE (no momentum, no bias correction): state (X, u),
/// dX = −P⁻¹(∇f dt + η Σ_B^{1/2} dW) − λ̃X dt, P = η√u + ε0, du = c2(diag Σ_B − u) dt.
class RmspropSde {
 public:
  RmspropSde(const GradientModel& model, const AdamSdeParameters& parameters)
      : model_(&model), parameters_(parameters), d_(model.dimension()) {}
  [[nodiscard]] Eigen::Index noise_dimension() const { return model_->noise_dimension(); }
  void drift(const Eigen::VectorXd& state, Eigen::VectorXd& out, double) const {
    out.resize(2 * d_);
    x_ = state.head(d_);
    model_->gradient(x_, gradient_);
    model_->noise_variance(x_, variance_);
    out.head(d_) = -(gradient_.array() / preconditioner(state)).matrix() - parameters_.wd_rate * x_;
    out.tail(d_) = parameters_.c2 * (variance_ - state.tail(d_));
  }
  void diffusion_times(const Eigen::VectorXd& state, const Eigen::VectorXd& dW, Eigen::VectorXd& out, double) const {
    out.setZero(2 * d_);
    x_ = state.head(d_);
    model_->noise_sqrt_times(x_, dW, noise_);
    out.head(d_) = (parameters_.lr * noise_.array() / preconditioner(state)).matrix();
  }

 private:
  [[nodiscard]] Eigen::ArrayXd preconditioner(const Eigen::VectorXd& state) const {
    return parameters_.lr * state.tail(d_).array().max(0.0).sqrt() + parameters_.eps0;
  }
  const GradientModel* model_;
  AdamSdeParameters parameters_;
  Eigen::Index d_;
  mutable Eigen::VectorXd x_, gradient_, variance_, noise_;
};

}  // namespace muelab::sim::sde
