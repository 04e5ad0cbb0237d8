#include "muelab/sim/sde/specializing_moe.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace muelab::sim::sde {

namespace {

constexpr double kTwoOverSqrtPi = 1.1283791670955126;

const SpecializingShape& checked(const SpecializingProblem& p, const SpecializingShape& s) {
  const auto fail = [](const std::string& what) { throw std::invalid_argument("SpecializingMoe: " + what); };
  if (p.dimension < 1) fail("dimension must be positive");
  if (p.regions < 1) fail("regions must be positive");
  if (p.teacher_width < 1) fail("teacher_width must be positive");
  if (p.test_samples < 1) fail("test_samples must be positive");
  if (!(p.label_noise >= 0.0)) fail("label_noise must be >= 0");
  if (s.experts < 1) fail("experts (N) must be positive");
  if (s.active < 1 || s.active > s.experts) fail("active (a) must be in 1..N");
  if (s.expert_width < 1) fail("expert_width (h) must be positive");
  if (s.batch < 1) fail("batch (B) must be positive");
  return s;
}

/// Stream ids of the counter RNG (a): teacher 0–2, test set 3, training data 4–5, initial parameters 6–8.
enum Stream : std::uint64_t { kRegions = 0, kTeacherInner = 1, kTeacherOuter = 2, kTest = 3, kTrainX = 4, kTrainNoise = 5,
                              kInitW = 6, kInitB = 7, kInitRouter = 8 };

}  // namespace

SpecializingMoe::SpecializingMoe(const SpecializingProblem& problem, const SpecializingShape& shape, std::uint64_t seed)
    : problem_(problem), shape_(checked(problem, shape)), rng_(seed, 71) {
  const int d = problem.dimension;
  // A·R = d/(a·h)·a = d/h (Bridge I on the normalized routed sum); the plain sum has no factor.
  factor_ = shape.parameterization == Parameterization::complete_mue
                ? static_cast<double>(d) / (static_cast<double>(shape.active) * shape.expert_width) * shape.active
                : 1.0;
  region_vectors_.resize(problem.regions, d);
  Eigen::VectorXd row(d);
  for (int k = 0; k < problem.regions; ++k) {
    rng_.fill_normal(row, kRegions, static_cast<std::uint64_t>(k), 0);
    region_vectors_.row(k) = row.transpose();
  }
  for (int k = 0; k < problem.regions; ++k) {
    Eigen::MatrixXd inner(problem.teacher_width, d);
    for (int j = 0; j < problem.teacher_width; ++j) {
      rng_.fill_normal(row, kTeacherInner, static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(j));
      inner.row(j) = row.transpose();
    }
    Eigen::VectorXd outer(problem.teacher_width);
    rng_.fill_normal(outer, kTeacherOuter, static_cast<std::uint64_t>(k), 0);
    teacher_inner_.push_back(std::move(inner));
    teacher_outer_.push_back(std::move(outer));
  }
  test_inputs_.resize(problem.test_samples, d);
  test_targets_.resize(problem.test_samples);
  for (int i = 0; i < problem.test_samples; ++i) {
    rng_.fill_normal(row, kTest, static_cast<std::uint64_t>(i), 0);
    test_inputs_.row(i) = row.transpose();
    test_targets_[i] = teacher(row);
  }
  selected_.reserve(static_cast<std::size_t>(shape.active));
  scores_.assign(static_cast<std::size_t>(shape.experts), 0.0);
  gates_.assign(static_cast<std::size_t>(shape.experts), 0.0);
  expert_out_.assign(static_cast<std::size_t>(shape.experts), 0.0);
  order_.resize(static_cast<std::size_t>(shape.experts));
}

int SpecializingMoe::region_of(const Eigen::VectorXd& x) const {
  Eigen::Index best = 0;
  (region_vectors_ * x).maxCoeff(&best);
  return static_cast<int>(best);
}

double SpecializingMoe::teacher(const Eigen::VectorXd& x) const {
  const auto k = static_cast<std::size_t>(region_of(x));
  const double scale = 1.0 / std::sqrt(static_cast<double>(problem_.dimension));
  double y = 0.0;
  for (int j = 0; j < problem_.teacher_width; ++j)
    y += teacher_outer_[k][j] * std::erf(scale * teacher_inner_[k].row(j).dot(x));
  return y;
}

Eigen::Index SpecializingMoe::expert_offset(int e) const {
  return static_cast<Eigen::Index>(e) * shape_.expert_width * (problem_.dimension + 1);
}
Eigen::Index SpecializingMoe::router_offset() const { return expert_offset(shape_.experts); }
Eigen::Index SpecializingMoe::parameter_count() const {
  return router_offset() + static_cast<Eigen::Index>(shape_.experts) * problem_.dimension;
}

Eigen::VectorXd SpecializingMoe::initial_parameters() const {
  const int d = problem_.dimension, h = shape_.expert_width;
  Eigen::VectorXd flat(parameter_count());
  Eigen::VectorXd w(static_cast<Eigen::Index>(h) * d), b(h), r(d);
  for (int e = 0; e < shape_.experts; ++e) {
    rng_.fill_normal(w, kInitW, static_cast<std::uint64_t>(e), 0);
    rng_.fill_normal(b, kInitB, static_cast<std::uint64_t>(e), 0);
    flat.segment(expert_offset(e), w.size()) = w;
    flat.segment(expert_offset(e) + w.size(), h) = b / std::sqrt(static_cast<double>(h));
    rng_.fill_normal(r, kInitRouter, static_cast<std::uint64_t>(e), 0);
    flat.segment(router_offset() + static_cast<Eigen::Index>(e) * d, d) = r / std::sqrt(static_cast<double>(d));
  }
  return flat;
}

double SpecializingMoe::forward(const Eigen::VectorXd& flat, const Eigen::VectorXd& bias, const Eigen::VectorXd& x) const {
  const int d = problem_.dimension, h = shape_.expert_width, n = shape_.experts;
  for (int e = 0; e < n; ++e) {
    const double logit = flat.segment(router_offset() + static_cast<Eigen::Index>(e) * d, d).dot(x);
    scores_[static_cast<std::size_t>(e)] = 1.0 / (1.0 + std::exp(-logit));
    order_[static_cast<std::size_t>(e)] = {scores_[static_cast<std::size_t>(e)] + bias[e], e};
  }
  // The a largest biased scores (ties by the lower index), as the trainer's top-a.
  std::partial_sort(order_.begin(), order_.begin() + shape_.active, order_.end(),
                    [](const auto& l, const auto& r) { return l.first != r.first ? l.first > r.first : l.second < r.second; });
  selected_.clear();
  score_sum_ = 0.0;
  for (int j = 0; j < shape_.active; ++j) {
    selected_.push_back(order_[static_cast<std::size_t>(j)].second);
    score_sum_ += scores_[static_cast<std::size_t>(order_[static_cast<std::size_t>(j)].second)];
  }
  const bool normalized = shape_.parameterization == Parameterization::complete_mue;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  double y = 0.0;
  for (const int e : selected_) {
    const auto eu = static_cast<std::size_t>(e);
    gates_[eu] = normalized ? scores_[eu] / score_sum_ : 1.0;
    double f = 0.0;
    const Eigen::Index off = expert_offset(e);
    for (int i = 0; i < h; ++i)
      f += flat[off + static_cast<Eigen::Index>(h) * d + i] * std::erf(scale * flat.segment(off + static_cast<Eigen::Index>(i) * d, d).dot(x));
    expert_out_[eu] = f;
    y += gates_[eu] * f;
  }
  return factor_ * y;
}

double SpecializingMoe::loss_and_gradient(const Eigen::VectorXd& flat, std::uint64_t step, std::uint64_t draw,
                                          const Eigen::VectorXd& bias, Eigen::VectorXd& gradient, Eigen::VectorXd* load) const {
  const int d = problem_.dimension, h = shape_.expert_width;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const bool normalized = shape_.parameterization == Parameterization::complete_mue;
  gradient.setZero(parameter_count());
  if (load != nullptr) load->setZero(shape_.experts);
  Eigen::VectorXd x(d);
  double loss = 0.0;
  const double inv_b = 1.0 / static_cast<double>(shape_.batch);
  for (int s = 0; s < shape_.batch; ++s) {
    rng_.fill_normal(x, kTrainX, step, draw * 1'000'003ULL + static_cast<std::uint64_t>(s));
    const double y = teacher(x) + problem_.label_noise * rng_.normal(kTrainNoise, step, draw, static_cast<std::uint64_t>(s));
    const double pred = forward(flat, bias, x);
    const double r = pred - y;
    loss += 0.5 * r * r * inv_b;
    const double dy = r * inv_b * factor_;  // ∂L/∂(Σ π f)
    double mixed = 0.0;                      // Σ_S π f (for the router gradient)
    for (const int e : selected_) mixed += gates_[static_cast<std::size_t>(e)] * expert_out_[static_cast<std::size_t>(e)];
    for (const int e : selected_) {
      const auto eu = static_cast<std::size_t>(e);
      if (load != nullptr) (*load)[e] += 1.0;
      const Eigen::Index off = expert_offset(e);
      const double g = dy * gates_[eu];
      for (int i = 0; i < h; ++i) {
        const Eigen::Index wi = off + static_cast<Eigen::Index>(i) * d;
        const Eigen::Index bi = off + static_cast<Eigen::Index>(h) * d + i;
        const double z = scale * flat.segment(wi, d).dot(x);
        gradient[bi] += g * std::erf(z);
        gradient.segment(wi, d) += (g * flat[bi] * kTwoOverSqrtPi * std::exp(-z * z) * scale) * x;
      }
      if (normalized) {  // π_e = s_e/Σ_S s: ∂(Σ π f)/∂s_e = (f_e − Σ π f)/Σ_S s; ∂s_e/∂r_e = s_e(1 − s_e) x
        const double ds = dy * (expert_out_[eu] - mixed) / score_sum_ * scores_[eu] * (1.0 - scores_[eu]);
        gradient.segment(router_offset() + static_cast<Eigen::Index>(e) * d, d) += ds * x;
      }
    }
  }
  return loss;
}

double SpecializingMoe::population_loss(const Eigen::VectorXd& flat, const Eigen::VectorXd& bias) const {
  double sum = 0.0;
  for (int i = 0; i < problem_.test_samples; ++i) {
    const Eigen::VectorXd x = test_inputs_.row(i).transpose();
    const double r = forward(flat, bias, x) - test_targets_[i];
    sum += 0.5 * r * r;
  }
  return sum / static_cast<double>(problem_.test_samples);
}

void SpecializingMoe::active_experts(const Eigen::VectorXd& flat, const Eigen::VectorXd& bias, const Eigen::VectorXd& x,
                                     std::vector<int>& out) const {
  (void)forward(flat, bias, x);
  out = selected_;
}

bool SpecializingMoe::train_to(const OptimizerHyperparameters& hyper, long long steps, Eigen::VectorXd& flat,
                               Eigen::VectorXd& bias) const {
  flat = initial_parameters();
  bias = Eigen::VectorXd::Zero(shape_.experts);
  Eigen::VectorXd g(parameter_count()), load(shape_.experts);
  DiscreteOptimizer optimizer(hyper, parameter_count());
  const double mean_load = static_cast<double>(shape_.batch) * shape_.active / shape_.experts;
  for (long long step = 0; step < steps; ++step) {
    const double loss = loss_and_gradient(flat, static_cast<std::uint64_t>(step), 0, bias, g, &load);
    if (!std::isfinite(loss) || !g.allFinite()) return false;
    optimizer.step(flat, g);
    if (shape_.balance)  // auxiliary-loss-free balancing: raise the bias of under-loaded experts
      for (int e = 0; e < shape_.experts; ++e)
        bias[e] += kBalanceRate * (load[e] < mean_load ? 1.0 : (load[e] > mean_load ? -1.0 : 0.0));
  }
  return true;
}

double SpecializingMoe::train(const OptimizerHyperparameters& hyper, long long steps) const {
  Eigen::VectorXd flat, bias;
  if (!train_to(hyper, steps, flat, bias)) return std::numeric_limits<double>::infinity();
  const double loss = population_loss(flat, bias);
  return std::isfinite(loss) ? loss : std::numeric_limits<double>::infinity();
}

}  // namespace muelab::sim::sde
