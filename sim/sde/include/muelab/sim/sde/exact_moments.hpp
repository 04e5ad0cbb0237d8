// Exact, Monte-Carlo-free references for SGD on quadratics (THEORY.md §7): with f = ½xᵀHx and
// constant minibatch covariance Σ_B, both the discrete recursion x' = (I − ηH)x − ηξ and the SMEs
// are linear-Gaussian, so their means and covariances follow matrix recursions / Lyapunov ODEs.
// Also the exact second moments of (SVAG-)SGD on linear regression with genuine minibatch sampling.
#pragma once

#include "muelab/sim/sde/problems.hpp"

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
/// augmented state z = (w, 1) evolves linearly, S' = E[M S Mᵀ] (THEORY.md §7 SVAG). Returns the
/// expected full-data loss at steps 0..steps.
[[nodiscard]] Eigen::VectorXd linear_regression_sgd_expected_loss(const LinearRegression& model, double lr,
                                                                  long long steps, double ell,
                                                                  const Eigen::VectorXd& initial_weights);

}  // namespace muelab::sim::sde
