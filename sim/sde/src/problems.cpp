#include "muelab/sim/sde/problems.hpp"

#include <Eigen/Cholesky>

#include <cmath>
#include <stdexcept>

namespace muelab::sim::sde {

NoiseDistribution parse_noise_distribution(const std::string& name) {
  if (name == "gaussian") return NoiseDistribution::gaussian;
  if (name == "centered-exponential") return NoiseDistribution::centered_exponential;
  throw std::invalid_argument("noise: unknown value '" + name + "' (accepted: gaussian, centered-exponential)");
}

double GradientModel::noise_dominance(const Eigen::VectorXd& x) const {
  Eigen::VectorXd g(dimension()), variance(dimension());
  gradient(x, g);
  noise_variance(x, variance);
  return g.squaredNorm() / variance.sum();
}

// ---- NoisyQuadratic -------------------------------------------------------------------------

NoisyQuadratic::NoisyQuadratic(Eigen::VectorXd curvature, const Eigen::MatrixXd& covariance, double batch,
                               NoiseDistribution distribution)
    : curvature_(std::move(curvature)), covariance_(covariance), batch_(batch), distribution_(distribution) {
  if (covariance_.rows() != curvature_.size() || covariance_.cols() != curvature_.size())
    throw std::invalid_argument("NoisyQuadratic: covariance must be d × d");
  Eigen::LLT<Eigen::MatrixXd> llt(covariance_);
  if (llt.info() != Eigen::Success) throw std::invalid_argument("NoisyQuadratic: covariance must be positive definite");
  cholesky_ = llt.matrixL();
  // A diagonal covariance (the common case, and the benchmark's) has a diagonal Cholesky factor:
  // L·z is then the elementwise product, d instead of d² flops, with bit-identical results.
  diagonal_noise_ = covariance_.isDiagonal(0.0);
  noise_std_ = cholesky_.diagonal();
  set_batch_size(batch);
}

void NoisyQuadratic::set_batch_size(double batch) {
  if (!(batch > 0.0)) throw std::invalid_argument("batch: must be positive");
  batch_ = batch;
  batch_variance_ = covariance_.diagonal() / batch_;
}

double NoisyQuadratic::loss(const Eigen::VectorXd& x) const {
  return 0.5 * x.dot(curvature_.cwiseProduct(x));
}
void NoisyQuadratic::gradient(const Eigen::VectorXd& x, Eigen::VectorXd& out) const {
  out = curvature_.cwiseProduct(x);
}
void NoisyQuadratic::hessian_times(const Eigen::VectorXd&, const Eigen::VectorXd& v, Eigen::VectorXd& out) const {
  out = curvature_.cwiseProduct(v);
}
void NoisyQuadratic::noise_variance(const Eigen::VectorXd&, Eigen::VectorXd& out) const {
  out = batch_variance_;
}
void NoisyQuadratic::noise_sqrt_times(const Eigen::VectorXd&, const Eigen::VectorXd& z, Eigen::VectorXd& out) const {
  if (diagonal_noise_)
    out = (noise_std_.cwiseProduct(z)) / std::sqrt(batch_);
  else
    out = (cholesky_ * z) / std::sqrt(batch_);
}
void NoisyQuadratic::sample_gradient(const Eigen::VectorXd& x, const CounterRng& rng, std::uint64_t path,
                                     std::uint64_t step, std::uint64_t draw, Eigen::VectorXd& out) const {
  const Eigen::Index d = dimension();
  Eigen::VectorXd z(d);
  if (distribution_ == NoiseDistribution::gaussian) {
    rng.fill_normal(z, path, step, draw);
  } else {
    // Exp(1) − 1: mean 0, variance 1, skewness 2 (a non-Gaussian noise with the same covariance).
    for (Eigen::Index k = 0; k < d; ++k)
      z[k] = -std::log(rng.uniform(path, step, draw, static_cast<std::uint64_t>(k))) - 1.0;
  }
  gradient(x, out);
  out += (cholesky_ * z) / std::sqrt(batch_);
}

// ---- LinearRegression -----------------------------------------------------------------------

LinearRegression::LinearRegression(Eigen::Index samples, const Eigen::VectorXd& feature_scales, double label_noise,
                                   double batch, const CounterRng& rng)
    : features_(samples, feature_scales.size()), targets_(samples), batch_(batch) {
  if (samples < 2) throw std::invalid_argument("samples: must be at least 2");
  set_batch_size(batch);
  const Eigen::Index d = feature_scales.size();
  Eigen::VectorXd teacher(d), row(d);
  rng.fill_normal(teacher, 0, 0, 0);
  for (Eigen::Index i = 0; i < samples; ++i) {
    rng.fill_normal(row, 1, static_cast<std::uint64_t>(i), 0);
    features_.row(i) = row.cwiseProduct(feature_scales).transpose();
    targets_[i] = features_.row(i).dot(teacher) + label_noise * rng.normal(2, static_cast<std::uint64_t>(i), 0, 0);
  }
}

void LinearRegression::set_batch_size(double batch) {
  if (!(batch >= 1.0)) throw std::invalid_argument("batch: must be at least 1");
  batch_ = batch;
}

void LinearRegression::residuals(const Eigen::VectorXd& w, Eigen::VectorXd& out) const {
  out = features_ * w - targets_;
}
double LinearRegression::loss(const Eigen::VectorXd& w) const {
  Eigen::VectorXd r;
  residuals(w, r);
  return 0.5 * r.squaredNorm() / static_cast<double>(features_.rows());
}
void LinearRegression::gradient(const Eigen::VectorXd& w, Eigen::VectorXd& out) const {
  Eigen::VectorXd r;
  residuals(w, r);
  out = features_.transpose() * r / static_cast<double>(features_.rows());
}
void LinearRegression::hessian_times(const Eigen::VectorXd&, const Eigen::VectorXd& v, Eigen::VectorXd& out) const {
  out = features_.transpose() * (features_ * v) / static_cast<double>(features_.rows());
}
Eigen::MatrixXd LinearRegression::sample_covariance(const Eigen::VectorXd& w) const {
  Eigen::VectorXd r;
  residuals(w, r);
  const Eigen::MatrixXd per_sample = features_.array().colwise() * r.array();  // row i = g_iᵀ
  const Eigen::RowVectorXd mean = per_sample.colwise().mean();
  const Eigen::MatrixXd centered = per_sample.rowwise() - mean;
  return centered.transpose() * centered / static_cast<double>(features_.rows());
}
void LinearRegression::noise_variance(const Eigen::VectorXd& w, Eigen::VectorXd& out) const {
  Eigen::VectorXd r;
  residuals(w, r);
  const Eigen::MatrixXd per_sample = features_.array().colwise() * r.array();
  const Eigen::RowVectorXd mean = per_sample.colwise().mean();
  out = ((per_sample.rowwise() - mean).array().square().colwise().mean()).transpose() / batch_;
}
void LinearRegression::noise_sqrt_times(const Eigen::VectorXd& w, const Eigen::VectorXd& z, Eigen::VectorXd& out) const {
  // S = [g_1 − ḡ, …, g_n − ḡ] / √(nB): S Sᵀ = Σ_1/B exactly, with an n-dimensional Brownian motion.
  Eigen::VectorXd r;
  residuals(w, r);
  const double n = static_cast<double>(features_.rows());
  const Eigen::VectorXd rz = r.cwiseProduct(z);
  Eigen::VectorXd g;
  gradient(w, g);
  out = (features_.transpose() * rz - g * z.sum()) / std::sqrt(n * batch_);
}
void LinearRegression::sample_gradient(const Eigen::VectorXd& w, const CounterRng& rng, std::uint64_t path,
                                       std::uint64_t step, std::uint64_t draw, Eigen::VectorXd& out) const {
  const auto n = static_cast<std::uint64_t>(features_.rows());
  const auto b = static_cast<std::uint64_t>(batch_);
  out.setZero(dimension());
  for (std::uint64_t k = 0; k < b; ++k) {
    const auto i = static_cast<Eigen::Index>(rng.below(n, path, step, draw, k));
    out += features_.row(i).transpose() * (features_.row(i).dot(w) - targets_[i]);
  }
  out /= static_cast<double>(b);
}

}  // namespace muelab::sim::sde
