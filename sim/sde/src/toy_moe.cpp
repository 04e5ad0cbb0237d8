#include "muelab/sim/sde/toy_moe.hpp"

#include "muelab/sim/statistics.hpp"
#include "muelab/theory/bridge.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace muelab::sim::sde {

namespace {
/// The shape, after checking that the toy MoE can be built and trained with it.
const MoeShape& checked(const ToyProblem& problem, const MoeShape& shape) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("ToyMoe: " + what); };
  if (problem.dimension < 1 || problem.train_samples < 1 || problem.test_samples < 1)
    fail("dimension, train_samples and test_samples must be positive");
  if (shape.experts < 1 || shape.batch < 1) fail("N and B must be positive");
  if (shape.active < 1 || shape.active > shape.experts) fail("need 1 <= a <= N");
  if ((shape.batch * shape.active) % shape.experts != 0) fail("B·a must be a multiple of N (balanced routing)");
  if (!(problem.label_noise >= 0.0)) fail("label_noise must be >= 0");
  return shape;
}
}  // namespace

double expert_output_weight(const MoeShape& shape, int dimension) {
  if (shape.parameterization == Parameterization::plain_sum) return 1.0;
  theory::ModelConfig model;
  model.d_model = dimension;
  model.ffn = theory::FfnKind::moe;
  model.n_experts = shape.experts;
  model.n_active = shape.active;
  model.d_expert = dimension;
  model.n_layers = 1;
  const double multiplier = theory::active_width_output_multiplier(model);
  const double route_scale = theory::complete_mue_route_scale(model, true);
  return multiplier * route_scale / static_cast<double>(shape.active);
}

ToyMoe::ToyMoe(const ToyProblem& problem, const MoeShape& shape, std::uint64_t seed)
    : problem_(problem),
      shape_(checked(problem, shape)),
      rng_(seed, 61),
      weight_(expert_output_weight(shape, problem.dimension)) {
  const int d = problem.dimension;
  teacher_.resize(d);
  rng_.fill_normal(teacher_, 0, 0, 0);  // teacher and data depend on the seed only, not on (a, N)
  teacher_ /= std::sqrt(static_cast<double>(d));  // |w*|² ≈ 1, comparable to the label noise
  inputs_.resize(problem.train_samples, d);
  targets_.resize(problem.train_samples);
  Eigen::VectorXd row(d);
  for (int i = 0; i < problem.train_samples; ++i) {
    rng_.fill_normal(row, 1, static_cast<std::uint64_t>(i), 0);
    inputs_.row(i) = row.transpose();
    targets_[i] = row.dot(teacher_) + problem.label_noise * rng_.normal(2, static_cast<std::uint64_t>(i), 0, 0);
  }
  if (shape.routing == Routing::learned_sigmoid) {
    test_inputs_.resize(problem.test_samples, d);
    for (int i = 0; i < problem.test_samples; ++i) {
      rng_.fill_normal(row, 4, static_cast<std::uint64_t>(i), 0);
      test_inputs_.row(i) = row.transpose();
    }
  }
}

Eigen::VectorXd ToyMoe::initial_parameters() const {
  Eigen::VectorXd flat = Eigen::VectorXd::Zero(parameter_count());
  if (shape_.routing == Routing::learned_sigmoid) {
    Eigen::VectorXd router(expert_parameter_count());
    rng_.fill_normal(router, 5, 0, 0);
    flat.tail(expert_parameter_count()) = router / std::sqrt(static_cast<double>(problem_.dimension));
  }
  return flat;
}

Eigen::Index ToyMoe::sample_index(std::uint64_t step, std::uint64_t draw, int i) const {
  return static_cast<Eigen::Index>(
      rng_.below(static_cast<std::uint64_t>(problem_.train_samples), 3, step, draw, static_cast<std::uint64_t>(i)));
}

template <class Router, class Input>
void ToyMoe::route(const Router& router, const Input& x, const Eigen::VectorXd* bias) const {
  const auto n = static_cast<std::size_t>(shape_.experts);
  scores_.resize(n);
  order_.resize(n);
  for (std::size_t e = 0; e < n; ++e) {
    scores_[e] = 1.0 / (1.0 + std::exp(-router.col(static_cast<Eigen::Index>(e)).dot(x)));
    order_[e] = static_cast<int>(e);
  }
  auto key = [&](int e) { return scores_[static_cast<std::size_t>(e)] + (bias ? (*bias)[e] : 0.0); };
  std::partial_sort(order_.begin(), order_.begin() + shape_.active, order_.end(),
                    [&](int l, int r) { return key(l) > key(r) || (key(l) == key(r) && l < r); });
  selected_.assign(order_.begin(), order_.begin() + shape_.active);
  score_sum_ = 0.0;
  for (int e : selected_) score_sum_ += scores_[static_cast<std::size_t>(e)];
}

template <class Weights, class Input>
double ToyMoe::learned_prediction(const Weights& w, const Input& x) const {
  outputs_.assign(static_cast<std::size_t>(shape_.experts), 0.0);
  double sum = 0.0;
  for (int e : selected_) {
    const auto ue = static_cast<std::size_t>(e);
    outputs_[ue] = w.col(e).dot(x);
    sum += scores_[ue] / score_sum_ * outputs_[ue];
  }
  return route_factor() * sum;
}

template <class Input>
double ToyMoe::predict(const Eigen::VectorXd& flat, const Input& x, int i, const Eigen::VectorXd* bias) const {
  const int d = problem_.dimension;
  Eigen::Map<const Eigen::MatrixXd> w(flat.data(), d, shape_.experts);
  if (shape_.routing == Routing::balanced) {
    Eigen::VectorXd combined = Eigen::VectorXd::Zero(d);
    for (int j = 0; j < shape_.active; ++j) combined += w.col((i * shape_.active + j) % shape_.experts);
    return weight_ * x.dot(combined);
  }
  Eigen::Map<const Eigen::MatrixXd> router(flat.data() + expert_parameter_count(), d, shape_.experts);
  route(router, x, bias);
  return learned_prediction(w, x);
}

double ToyMoe::minibatch_loss(const Eigen::VectorXd& flat, std::uint64_t step, std::uint64_t draw,
                              const Eigen::VectorXd* bias) const {
  if (flat.size() != parameter_count()) throw std::invalid_argument("ToyMoe::minibatch_loss: wrong parameter count");
  double total = 0.0;
  for (int i = 0; i < shape_.batch; ++i) {
    const Eigen::Index sample = sample_index(step, draw, i);
    const double residual = predict(flat, inputs_.row(sample).transpose(), i, bias) - targets_[sample];
    total += 0.5 * residual * residual;
  }
  return total / static_cast<double>(shape_.batch);
}

void ToyMoe::gradient(const Eigen::VectorXd& flat, std::uint64_t step, std::uint64_t draw, Eigen::VectorXd& out,
                      const Eigen::VectorXd* bias, Eigen::VectorXd* load) const {
  if (flat.size() != parameter_count()) throw std::invalid_argument("ToyMoe::gradient: wrong parameter count");
  const int d = problem_.dimension;
  const int n_experts = shape_.experts;
  Eigen::Map<const Eigen::MatrixXd> w(flat.data(), d, n_experts);
  out.setZero(flat.size());
  Eigen::Map<Eigen::MatrixXd> g(out.data(), d, n_experts);
  if (load != nullptr) load->setZero(n_experts);
  Eigen::VectorXd combined(d);
  for (int i = 0; i < shape_.batch; ++i) {
    const Eigen::Index sample = sample_index(step, draw, i);
    const auto x = inputs_.row(sample).transpose();
    if (shape_.routing == Routing::balanced) {
      combined.setZero();
      for (int j = 0; j < shape_.active; ++j) combined += w.col((i * shape_.active + j) % n_experts);
      const double residual = weight_ * x.dot(combined) - targets_[sample];
      for (int j = 0; j < shape_.active; ++j) g.col((i * shape_.active + j) % n_experts) += (residual * weight_) * x;
    } else {
      Eigen::Map<const Eigen::MatrixXd> router(flat.data() + expert_parameter_count(), d, n_experts);
      Eigen::Map<Eigen::MatrixXd> g_router(out.data() + expert_parameter_count(), d, n_experts);
      route(router, x, bias);
      const double prediction = learned_prediction(w, x);
      const double residual = prediction - targets_[sample];
      // ŷ = c Σ_S π_e o_e, π_e = s_e/Σ_S s: ∂ŷ/∂W_e = c π_e x; ∂ŷ/∂r_e = c (o_e − ō)/Σ_S s · s_e(1 − s_e) x.
      const double mean_output = prediction / route_factor();
      for (int e : selected_) {
        const auto ue = static_cast<std::size_t>(e);
        g.col(e) += (residual * route_factor() * scores_[ue] / score_sum_) * x;
        g_router.col(e) += (residual * route_factor() * (outputs_[ue] - mean_output) / score_sum_ * scores_[ue] *
                            (1.0 - scores_[ue])) * x;
        if (load != nullptr) (*load)[e] += 1.0;
      }
    }
  }
  out /= static_cast<double>(shape_.batch);
}

double ToyMoe::population_loss(const Eigen::VectorXd& flat, const Eigen::VectorXd* bias) const {
  const int d = problem_.dimension;
  Eigen::Map<const Eigen::MatrixXd> w(flat.data(), d, shape_.experts);
  const double noise = 0.5 * problem_.label_noise * problem_.label_noise;
  double total = 0.0;
  if (shape_.routing == Routing::balanced) {
    Eigen::VectorXd combined(d);
    for (int i = 0; i < shape_.batch; ++i) {
      combined.setZero();
      for (int j = 0; j < shape_.active; ++j) combined += w.col((i * shape_.active + j) % shape_.experts);
      total += 0.5 * (weight_ * combined - teacher_).squaredNorm() + noise;
    }
    return total / shape_.batch;
  }
  Eigen::Map<const Eigen::MatrixXd> router(flat.data() + expert_parameter_count(), d, shape_.experts);
  for (Eigen::Index i = 0; i < test_inputs_.rows(); ++i) {
    const Eigen::VectorXd x = test_inputs_.row(i).transpose();
    route(router, x, bias);
    const double error = learned_prediction(w, x) - x.dot(teacher_);
    total += 0.5 * error * error + noise;
  }
  return total / static_cast<double>(test_inputs_.rows());
}

double ToyMoe::train(const OptimizerHyperparameters& hyper, long long steps) const {
  Eigen::VectorXd w = initial_parameters(), g;
  DiscreteOptimizer optimizer(hyper, parameter_count());
  Eigen::VectorXd bias = Eigen::VectorXd::Zero(shape_.experts), load;
  const bool learned = shape_.routing == Routing::learned_sigmoid;
  const double target_load = static_cast<double>(shape_.batch * shape_.active) / shape_.experts;
  for (long long k = 0; k < steps; ++k) {
    gradient(w, static_cast<std::uint64_t>(k), 0, g, learned ? &bias : nullptr, learned ? &load : nullptr);
    optimizer.step(w, g);
    if (learned)  // balancing bias: raise under-loaded experts, lower over-loaded ones
      for (int e = 0; e < shape_.experts; ++e)
        bias[e] += kBalanceRate * (load[e] < target_load ? 1.0 : (load[e] > target_load ? -1.0 : 0.0));
    if (!w.allFinite()) return std::numeric_limits<double>::infinity();
  }
  return population_loss(w, learned ? &bias : nullptr);
}

std::pair<double, double> ToyMoe::expert_noise_std(const Eigen::VectorXd& flat, std::uint64_t batches,
                                                   double* signal_norm) const {
  if (batches < 2) throw std::invalid_argument("ToyMoe::expert_noise_std: need at least 2 minibatches");
  Eigen::MatrixXd samples(parameter_count(), static_cast<Eigen::Index>(batches));
  Eigen::VectorXd g;
  for (std::uint64_t b = 0; b < batches; ++b) {
    gradient(flat, 1000000 + b, 7, g);
    samples.col(static_cast<Eigen::Index>(b)) = g;
  }
  const Eigen::VectorXd mean = samples.rowwise().mean();
  std::vector<double> per_batch(batches);
  for (std::uint64_t b = 0; b < batches; ++b)
    per_batch[b] = (samples.col(static_cast<Eigen::Index>(b)) - mean).squaredNorm() / shape_.experts *
                   static_cast<double>(batches) / static_cast<double>(batches - 1);
  const auto variance = mean_with_standard_error(per_batch);
  // The expert's gradient is a sum over its own B·a/N tokens divided by the global B; Adam is
  // invariant to that scale, so σ_g is the noise of the gradient averaged over the expert's own
  // tokens (docs/theory.md §4: σ_g ∝ (tokens per step seen by the group)^{-1/2}). The expert gradient
  // is (B·a/N)/B · (1/a) · (own-token average) = own-token average / N: multiply by N.
  const double own_token_scale = static_cast<double>(shape_.experts);
  if (signal_norm != nullptr)
    *signal_norm = own_token_scale * mean.norm() / std::sqrt(static_cast<double>(shape_.experts));
  return {own_token_scale * std::sqrt(variance.mean),
          own_token_scale * 0.5 * variance.standard_error / std::sqrt(variance.mean)};
}

}  // namespace muelab::sim::sde
