// Test problems with a stochastic gradient g = ∇f(x) + ξ, Cov ξ = Σ(x)/B (docs/theory.md §7):
//  * NoisyQuadratic: f = ½ xᵀ diag(h) x, exact gradient plus Gaussian or non-Gaussian noise with a
//    given covariance Σ (constant), divided by the batch size B;
//  * LinearRegression: f = (1/2n) Σ_i (x_iᵀw − y_i)² on a finite data set, minibatch gradients from
//    genuine sampling with replacement, so Σ(w) is the true minibatch covariance.
// Both expose what the SDEs need: ∇f, Hessian-vector products, diag Σ_B and Σ_B^{1/2}·z.
#pragma once

#include "muelab/sim/counter_rng.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <string>

namespace muelab::sim::sde {

enum class NoiseDistribution { gaussian, centered_exponential };
[[nodiscard]] NoiseDistribution parse_noise_distribution(const std::string& name);  ///< throws

class GradientModel {
 public:
  virtual ~GradientModel() = default;
  [[nodiscard]] virtual Eigen::Index dimension() const = 0;
  [[nodiscard]] virtual Eigen::Index noise_dimension() const = 0;  ///< columns of Σ_B^{1/2}
  [[nodiscard]] virtual double loss(const Eigen::VectorXd& x) const = 0;
  virtual void gradient(const Eigen::VectorXd& x, Eigen::VectorXd& out) const = 0;
  virtual void hessian_times(const Eigen::VectorXd& x, const Eigen::VectorXd& v, Eigen::VectorXd& out) const = 0;
  /// diag Σ_B(x): per-coordinate variance of one minibatch gradient.
  virtual void noise_variance(const Eigen::VectorXd& x, Eigen::VectorXd& out) const = 0;
  /// out = S(x)·z with S Sᵀ = Σ_B(x), z of length noise_dimension().
  virtual void noise_sqrt_times(const Eigen::VectorXd& x, const Eigen::VectorXd& z, Eigen::VectorXd& out) const = 0;
  /// One minibatch gradient, all randomness keyed by (path, step, draw) in `rng`.
  virtual void sample_gradient(const Eigen::VectorXd& x, const CounterRng& rng, std::uint64_t path,
                               std::uint64_t step, std::uint64_t draw, Eigen::VectorXd& out) const = 0;
  [[nodiscard]] virtual double batch_size() const = 0;

  /// Noise-dominance diagnostic |E g|² / tr Cov g (docs/theory.md §7): the SDE needs it ≪ 1.
  [[nodiscard]] double noise_dominance(const Eigen::VectorXd& x) const;
};

class NoisyQuadratic final : public GradientModel {
 public:
  /// f = ½ Σ h_i x_i²; per-sample noise covariance `covariance`; minibatch of `batch` samples.
  NoisyQuadratic(Eigen::VectorXd curvature, const Eigen::MatrixXd& covariance, double batch,
                 NoiseDistribution distribution);
  [[nodiscard]] Eigen::Index dimension() const override { return curvature_.size(); }
  [[nodiscard]] Eigen::Index noise_dimension() const override { return curvature_.size(); }
  [[nodiscard]] double loss(const Eigen::VectorXd& x) const override;
  void gradient(const Eigen::VectorXd& x, Eigen::VectorXd& out) const override;
  void hessian_times(const Eigen::VectorXd& x, const Eigen::VectorXd& v, Eigen::VectorXd& out) const override;
  void noise_variance(const Eigen::VectorXd& x, Eigen::VectorXd& out) const override;
  void noise_sqrt_times(const Eigen::VectorXd& x, const Eigen::VectorXd& z, Eigen::VectorXd& out) const override;
  void sample_gradient(const Eigen::VectorXd& x, const CounterRng& rng, std::uint64_t path, std::uint64_t step,
                       std::uint64_t draw, Eigen::VectorXd& out) const override;
  [[nodiscard]] double batch_size() const override { return batch_; }
  [[nodiscard]] const Eigen::VectorXd& curvature() const { return curvature_; }
  [[nodiscard]] Eigen::MatrixXd batch_covariance() const { return covariance_ / batch_; }
  void set_batch_size(double batch);

 private:
  Eigen::VectorXd curvature_;
  Eigen::MatrixXd covariance_;
  Eigen::MatrixXd cholesky_;  ///< lower factor of the per-sample covariance
  Eigen::VectorXd noise_std_;       ///< diagonal of cholesky_
  Eigen::VectorXd batch_variance_;  ///< diag Σ / B
  bool diagonal_noise_ = false;     ///< Σ diagonal: L·z = noise_std_ ⊙ z
  double batch_;
  NoiseDistribution distribution_;
};

class LinearRegression final : public GradientModel {
 public:
  /// Data x_i ~ N(0, diag(feature_scales²)), y_i = w*ᵀx_i + label_noise·ε_i, all from `rng`.
  LinearRegression(Eigen::Index samples, const Eigen::VectorXd& feature_scales, double label_noise,
                   double batch, const CounterRng& rng);
  [[nodiscard]] Eigen::Index dimension() const override { return features_.cols(); }
  [[nodiscard]] Eigen::Index noise_dimension() const override { return features_.rows(); }
  [[nodiscard]] double loss(const Eigen::VectorXd& w) const override;
  void gradient(const Eigen::VectorXd& w, Eigen::VectorXd& out) const override;
  void hessian_times(const Eigen::VectorXd& w, const Eigen::VectorXd& v, Eigen::VectorXd& out) const override;
  void noise_variance(const Eigen::VectorXd& w, Eigen::VectorXd& out) const override;
  void noise_sqrt_times(const Eigen::VectorXd& w, const Eigen::VectorXd& z, Eigen::VectorXd& out) const override;
  void sample_gradient(const Eigen::VectorXd& w, const CounterRng& rng, std::uint64_t path, std::uint64_t step,
                       std::uint64_t draw, Eigen::VectorXd& out) const override;
  [[nodiscard]] double batch_size() const override { return batch_; }
  void set_batch_size(double batch);
  [[nodiscard]] const Eigen::MatrixXd& features() const { return features_; }
  [[nodiscard]] const Eigen::VectorXd& targets() const { return targets_; }
  /// Per-sample gradient covariance Σ_1(w) (divide by B for a minibatch).
  [[nodiscard]] Eigen::MatrixXd sample_covariance(const Eigen::VectorXd& w) const;

 private:
  void residuals(const Eigen::VectorXd& w, Eigen::VectorXd& out) const;
  Eigen::MatrixXd features_;  ///< n × d
  Eigen::VectorXd targets_;
  double batch_;
};

}  // namespace muelab::sim::sde
