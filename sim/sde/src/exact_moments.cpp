#include "muelab/sim/sde/exact_moments.hpp"

#include "muelab/sim/sde/optimizers.hpp"

#include <boost/numeric/odeint.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace muelab::sim::sde {

double GaussianMoments::expected_quadratic(const Eigen::MatrixXd& hessian) const {
  return 0.5 * ((hessian * covariance).trace() + mean.dot(hessian * mean));
}
double GaussianMoments::expected_squared_norm() const { return covariance.trace() + mean.squaredNorm(); }

GaussianMoments sgd_discrete_moments(const Eigen::MatrixXd& hessian, const Eigen::MatrixXd& batch_covariance,
                                     double lr, long long steps, const GaussianMoments& initial) {
  const Eigen::Index d = hessian.rows();
  const Eigen::MatrixXd transition = Eigen::MatrixXd::Identity(d, d) - lr * hessian;
  const Eigen::MatrixXd injected = lr * lr * batch_covariance;
  GaussianMoments moments = initial;
  for (long long k = 0; k < steps; ++k) {
    moments.mean = transition * moments.mean;
    moments.covariance = transition * moments.covariance * transition.transpose() + injected;
  }
  return moments;
}

GaussianMoments sgd_sme_moments(const Eigen::MatrixXd& hessian, const Eigen::MatrixXd& batch_covariance, double lr,
                                double horizon, int order, const GaussianMoments& initial, double tolerance) {
  if (order != 1 && order != 2) throw std::invalid_argument("SME order: accepted values 1, 2");
  const Eigen::Index d = hessian.rows();
  const Eigen::MatrixXd modified = order == 1 ? hessian : Eigen::MatrixXd(hessian + 0.5 * lr * hessian * hessian);
  const Eigen::MatrixXd injected = lr * batch_covariance;
  using State = std::vector<double>;
  State state(static_cast<std::size_t>(d + d * d));
  Eigen::Map<Eigen::VectorXd>(state.data(), d) = initial.mean;
  Eigen::Map<Eigen::MatrixXd>(state.data() + d, d, d) = initial.covariance;
  auto lyapunov = [&](const State& s, State& ds, double) {
    Eigen::Map<const Eigen::VectorXd> mean(s.data(), d);
    Eigen::Map<const Eigen::MatrixXd> covariance(s.data() + d, d, d);
    Eigen::Map<Eigen::VectorXd> dmean(ds.data(), d);
    Eigen::Map<Eigen::MatrixXd> dcovariance(ds.data() + d, d, d);
    dmean = -modified * mean;
    dcovariance = -modified * covariance - covariance * modified.transpose() + injected;
  };
  namespace odeint = boost::numeric::odeint;
  auto stepper = odeint::make_dense_output(tolerance, tolerance, odeint::runge_kutta_dopri5<State>());
  std::vector<double> times{0.0, horizon};
  odeint::integrate_times(stepper, lyapunov, state, times.begin(), times.end(), horizon / 64.0,
                          [](const State&, double) {});
  GaussianMoments result;
  result.mean = Eigen::Map<Eigen::VectorXd>(state.data(), d);
  result.covariance = Eigen::Map<Eigen::MatrixXd>(state.data() + d, d, d);
  return result;
}

GaussianMoments adam_sde_quadratic_moments(const Eigen::VectorXd& curvature, const Eigen::VectorXd& batch_variance,
                                           const AdamSdeParameters& parameters, const Eigen::VectorXd& x0, double warm_up,
                                           double horizon, double tolerance) {
  const Eigen::Index d = curvature.size();
  if (batch_variance.size() != d || x0.size() != d)
    throw std::invalid_argument("adam_sde_quadratic_moments: curvature, batch_variance and x0 must have one length");
  if (!(warm_up >= 0.0) || !(horizon >= 0.0))
    throw std::invalid_argument("adam_sde_quadratic_moments: warm_up and horizon must be >= 0");
  if (!(parameters.c1 > 0.0) || !(parameters.c2 > 0.0) || !(parameters.lr > 0.0))
    throw std::invalid_argument("adam_sde_quadratic_moments: lr, c1 and c2 must be > 0");
  const double c1 = parameters.c1, c2 = parameters.c2, lr = parameters.lr, wd = parameters.wd_rate;
  // Per coordinate i the state holds (E x, E m, Var x, Cov(x, m), Var m) at offsets 5i … 5i + 4.
  using State = std::vector<double>;
  State state(static_cast<std::size_t>(5 * d), 0.0);
  for (Eigen::Index i = 0; i < d; ++i) state[static_cast<std::size_t>(5 * i)] = x0[i];
  const auto gammas = [&](double t) {
    if (!parameters.bias_correction) return std::pair<double, double>{1.0, 1.0};
    return std::pair<double, double>{-std::expm1(-c1 * t), -std::expm1(-c2 * t)};
  };
  bool x_free = false;
  auto system = [&](const State& s, State& ds, double t) {
    const auto [gamma1, gamma2] = gammas(t);
    const double ratio = gamma1 > 0.0 ? std::sqrt(gamma2) / gamma1 : 0.0;
    const double grow = -std::expm1(-c2 * t);  // u(t) / s: u starts at 0 whatever the bias correction
    for (Eigen::Index i = 0; i < d; ++i) {
      const auto k = static_cast<std::size_t>(5 * i);
      const double h = curvature[i], noise = c1 * c1 * lr * lr * batch_variance[i];
      const double a = x_free && ratio > 0.0
                           ? ratio / (lr * std::sqrt(batch_variance[i] * grow) + parameters.eps0 * std::sqrt(gamma2))
                           : 0.0;
      const double decay = x_free ? wd : 0.0;
      const double mx = s[k], mm = s[k + 1], vx = s[k + 2], cxm = s[k + 3], vm = s[k + 4];
      ds[k] = -a * mm - decay * mx;
      ds[k + 1] = c1 * (h * mx - mm);
      ds[k + 2] = 2.0 * (-decay * vx - a * cxm);
      ds[k + 3] = -decay * cxm - a * vm + c1 * (h * vx - cxm);
      ds[k + 4] = 2.0 * c1 * (h * cxm - vm) + noise;
    }
  };
  namespace odeint = boost::numeric::odeint;
  const auto run = [&](double from, double to) {
    if (!(to > from)) return;
    auto stepper = odeint::make_dense_output(tolerance, tolerance, odeint::runge_kutta_dopri5<State>());
    std::vector<double> times{from, to};
    odeint::integrate_times(stepper, system, state, times.begin(), times.end(), (to - from) / 1024.0,
                            [](const State&, double) {});
  };
  run(0.0, warm_up);
  x_free = true;
  run(warm_up, warm_up + horizon);
  GaussianMoments result{Eigen::VectorXd(d), Eigen::MatrixXd::Zero(d, d)};
  for (Eigen::Index i = 0; i < d; ++i) {
    result.mean[i] = state[static_cast<std::size_t>(5 * i)];
    result.covariance(i, i) = state[static_cast<std::size_t>(5 * i + 2)];
  }
  return result;
}

Eigen::VectorXd linear_regression_sgd_expected_loss(const LinearRegression& model, double lr, long long steps,
                                                    double ell, const Eigen::VectorXd& initial_weights) {
  const auto& features = model.features();
  const auto& targets = model.targets();
  const Eigen::Index n = features.rows();
  const Eigen::Index d = features.cols();
  const double nd = static_cast<double>(n);
  const double batch = model.batch_size();
  // Per-sample update matrices n_i = lr·p_i q_iᵀ, p_i = (x_i, 0), q_i = (−x_i, y_i).
  Eigen::MatrixXd p = Eigen::MatrixXd::Zero(d + 1, n), q(d + 1, n);
  p.topRows(d) = features.transpose();
  q.topRows(d) = -features.transpose();
  q.row(d) = targets.transpose();
  const Eigen::MatrixXd mean_update = lr * p * q.transpose() / nd;  // N̄
  // Loss ½ zᵀQz with Q = (1/n) Σ r_i r_iᵀ, r_i = (x_i, −y_i).
  Eigen::MatrixXd r(d + 1, n);
  r.topRows(d) = features.transpose();
  r.row(d) = -targets.transpose();
  const Eigen::MatrixXd loss_form = r * r.transpose() / nd;
  Eigen::VectorXd z0(d + 1);
  z0.head(d) = initial_weights;
  z0[d] = 1.0;
  Eigen::MatrixXd second = z0 * z0.transpose();
  Eigen::VectorXd expected(steps + 1);
  expected[0] = 0.5 * (loss_form.cwiseProduct(second)).sum();
  for (long long k = 0; k < steps; ++k) {
    // S' = S + N̄S + SN̄ᵀ + ℓ[(1/B) E_i n_i S n_iᵀ + (1 − 1/B) N̄SN̄ᵀ] + (1 − ℓ) N̄SN̄ᵀ.
    const Eigen::VectorXd quadratic = (q.transpose() * second).cwiseProduct(q.transpose()).rowwise().sum();
    const Eigen::MatrixXd per_sample = lr * lr * (p * quadratic.asDiagonal() * p.transpose()) / nd;
    const Eigen::MatrixXd mean_part = mean_update * second * mean_update.transpose();
    second = second + mean_update * second + second * mean_update.transpose() +
             ell * (per_sample / batch + (1.0 - 1.0 / batch) * mean_part) + (1.0 - ell) * mean_part;
    expected[k + 1] = 0.5 * (loss_form.cwiseProduct(second)).sum();
  }
  return expected;
}

GaussianMoments ornstein_uhlenbeck_moments(const Eigen::VectorXd& rates, const Eigen::MatrixXd& noise, double horizon,
                                           const GaussianMoments& initial) {
  const Eigen::Index d = rates.size();
  if (noise.rows() != d || initial.mean.size() != d || initial.covariance.rows() != d)
    throw std::invalid_argument("ornstein_uhlenbeck_moments: dimensions of rates, noise and initial moments differ");
  if ((rates.array() <= 0.0).any()) throw std::invalid_argument("ornstein_uhlenbeck_moments: rates must be positive");
  const Eigen::MatrixXd injected = noise * noise.transpose();
  GaussianMoments out;
  out.mean = ((-rates * horizon).array().exp() * initial.mean.array()).matrix();
  out.covariance.resize(d, d);
  for (Eigen::Index i = 0; i < d; ++i)
    for (Eigen::Index j = 0; j < d; ++j) {
      const double rate = rates[i] + rates[j];
      out.covariance(i, j) = std::exp(-rate * horizon) * initial.covariance(i, j) -
                             injected(i, j) * std::expm1(-rate * horizon) / rate;
    }
  return out;
}

GaussianMoments affine_scheme_moments(const AffineStep& step, double dt, long long steps,
                                      const GaussianMoments& initial) {
  const Eigen::MatrixXd injected = dt * step.noise * step.noise.transpose();
  GaussianMoments moments = initial;
  for (long long k = 0; k < steps; ++k) {
    moments.mean = step.offset + step.transition * moments.mean;
    moments.covariance = step.transition * moments.covariance * step.transition.transpose() + injected;
  }
  return moments;
}

ScalarMoments geometric_ou_moments(double theta, double sigma, double x0, double horizon) {
  return {x0 * std::exp(-theta * horizon), x0 * x0 * std::exp((sigma * sigma - 2.0 * theta) * horizon)};
}

ScalarMoments scalar_multiplicative_scheme_moments(const ScalarMultiplicativeStep& step, double dt, long long steps,
                                                   double x0) {
  const double mean_factor = step.q0 + step.q2 * dt;
  const double second_factor =
      step.q0 * step.q0 + (step.q1 * step.q1 + 2.0 * step.q0 * step.q2) * dt + 3.0 * step.q2 * step.q2 * dt * dt;
  const auto n = static_cast<double>(steps);
  return {x0 * std::pow(mean_factor, n), x0 * x0 * std::pow(second_factor, n)};
}

}  // namespace muelab::sim::sde
