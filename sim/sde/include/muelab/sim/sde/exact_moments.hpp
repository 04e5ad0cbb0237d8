// Exact, Monte-Carlo-free references for SGD on quadratics (docs/theory.md §7): with f = ½xᵀHx and
// constant minibatch covariance Σ_B, both the discrete recursion x' = (I − ηH)x − ηξ and the SMEs
// are linear-Gaussian, so their means and covariances follow matrix recursions / Lyapunov ODEs.
// Also the exact second moments of (SVAG-)SGD on linear regression with genuine minibatch sampling,
// and the exact moments of Ornstein–Uhlenbeck processes and of the steppers' own one-step
// maps on them (probed from the stepper code, stepper_probe.hpp), so stepper weak errors are exact.
#pragma once

#include "muelab/sim/sde/optimizer_sdes.hpp"
#include "muelab/sim/sde/problems.hpp"
#include "muelab/sim/sde/stepper_probe.hpp"

#include <Eigen/Core>

namespace muelab::sim::sde {

struct GaussianMoments {
  Eigen::VectorXd mean;
  Eigen::MatrixXd covariance;
  /// E[½ xᵀHx] = ½ tr(H (C + m mᵀ)).
  [[nodiscard]] double expected_quadratic(const Eigen::MatrixXd& hessian) const;
  /// E|x|² = tr C + |m|².
  [[nodiscard]] double expected_squared_norm() const;
};

/// Discrete SGD: m_{k+1} = (I − ηH) m_k, C_{k+1} = (I − ηH) C_k (I − ηH)ᵀ + η² Σ_B, for `steps` steps.
[[nodiscard]] GaussianMoments sgd_discrete_moments(const Eigen::MatrixXd& hessian, const Eigen::MatrixXd& batch_covariance,
                                                   double lr, long long steps, const GaussianMoments& initial);

/// SME of order 1 or 2 at SDE time `horizon` (= steps·η): m' = −H̃m, C' = −H̃C − CH̃ᵀ + ηΣ_B with
/// H̃ = H (order 1) or H + (η/2)H² (order 2); integrated with odeint's dense-output Dormand–Prince.
[[nodiscard]] GaussianMoments sgd_sme_moments(const Eigen::MatrixXd& hessian, const Eigen::MatrixXd& batch_covariance,
                                              double lr, double horizon, int order, const GaussianMoments& initial,
                                              double tolerance = 1e-12);

/// Exact E[loss] after each of `steps` steps of SGD with SVAG parameter ℓ (ℓ = 1: plain SGD) on a
/// linear regression with minibatches of B samples drawn with replacement: the second moment of the
/// augmented state z = (w, 1) evolves linearly, S' = E[M S Mᵀ] (docs/theory.md §7 SVAG). Returns the
/// expected full-data loss at steps 0..steps.
[[nodiscard]] Eigen::VectorXd linear_regression_sgd_expected_loss(const LinearRegression& model, double lr,
                                                                  long long steps, double ell,
                                                                  const Eigen::VectorXd& initial_weights);

/// OU process dX = −ΛX dt + G dW, Λ = diag(rates) (all rates > 0), at time `horizon`:
/// mean e^{−Λt}m0; C_ij = e^{−(λ_i+λ_j)t} C0_ij + (GGᵀ)_ij (1 − e^{−(λ_i+λ_j)t})/(λ_i+λ_j).
[[nodiscard]] GaussianMoments ornstein_uhlenbeck_moments(const Eigen::VectorXd& rates, const Eigen::MatrixXd& noise,
                                                         double horizon, const GaussianMoments& initial);

/// Moments after `steps` steps of an affine scheme x' = c + A x + B ΔW with ΔW ~ N(0, dt·I)
/// independent of x: m' = c + A m, C' = A C Aᵀ + dt·B Bᵀ (exact, no Monte Carlo).
[[nodiscard]] GaussianMoments affine_scheme_moments(const AffineStep& step, double dt, long long steps,
                                                    const GaussianMoments& initial);

/// Exact moments of X under the Adam SDE (optimizer_sdes.hpp) on a noisy quadratic with diagonal
/// Hessian `curvature` and diagonal minibatch covariance `batch_variance` (x-independent noise), from
/// (x0, m = 0, u = 0) at t = 0: first `warm_up` with X held at x0 (the moments warm up), then `horizon`
/// with X free. u is deterministic, u(t) = s(1 − e^{−c2 t}), so given u the SDE is linear-Gaussian in
/// (X, m) per coordinate: mean' = A(t)·mean, C' = A C + C Aᵀ + Q with A = [[−λ̃, −a(t)], [c1 h, −c1]],
/// a = (√γ2/γ1)/(η√u + ε0√γ2), Q_mm = c1²η²s (docs/theory.md §7). Integrated with odeint's Dormand–Prince
/// at relative and absolute `tolerance`. Coordinates are independent: the covariance is diagonal.
/// This is the converged reference that Euler–Maruyama approaches only as dt → 0 (stiff when P is small).
[[nodiscard]] GaussianMoments adam_sde_quadratic_moments(const Eigen::VectorXd& curvature,
                                                         const Eigen::VectorXd& batch_variance,
                                                         const AdamSdeParameters& parameters, const Eigen::VectorXd& x0,
                                                         double warm_up, double horizon, double tolerance = 1e-11);

/// First and second moment of a scalar random variable.
struct ScalarMoments {
  double mean = 0.0;
  double second = 0.0;  ///< E X²
};

/// Geometric OU dX = −θX dt + σX dW from x0 at time t: E X = x0 e^{−θt}, E X² = x0² e^{(σ²−2θ)t}.
[[nodiscard]] ScalarMoments geometric_ou_moments(double theta, double sigma, double x0, double horizon);

/// Moments after `steps` steps of x' = x·q(ΔW), q(w) = q0 + q1 w + q2 w², ΔW ~ N(0, dt) i.i.d.:
/// E x_n = x0 (E q)^n with E q = q0 + q2 dt; E x_n² = x0² (E q²)^n with
/// E q² = q0² + (q1² + 2 q0 q2) dt + 3 q2² dt² (E w⁴ = 3dt²).
[[nodiscard]] ScalarMoments scalar_multiplicative_scheme_moments(const ScalarMultiplicativeStep& step, double dt,
                                                                 long long steps, double x0);

}  // namespace muelab::sim::sde
