#include "muelab/sim/meanfield/nonlinear_network.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <stdexcept>

namespace muelab::sim::meanfield {

void ErfNetworkSpec::validate() const {
  if (input_dim < 1) throw std::invalid_argument("input_dim: must be >= 1");
  if (n_experts < 1) throw std::invalid_argument("n_experts: must be >= 1");
  if (n_active < 1 || n_active > n_experts) throw std::invalid_argument("n_active: must be in [1, n_experts]");
  if (expert_width < 1) throw std::invalid_argument("expert_width: must be >= 1");
  if (steps < 0) throw std::invalid_argument("steps: must be >= 0");
  if (samples < 1) throw std::invalid_argument("samples: must be >= 1");
}

namespace {
Eigen::MatrixXd normals(const CounterRng& rng, std::uint64_t a, std::uint64_t b, std::uint64_t c, Eigen::Index rows,
                        Eigen::Index cols) {
  Eigen::MatrixXd m(rows, cols);
  Eigen::Map<Eigen::VectorXd> flat(m.data(), m.size());
  rng.fill_normal(flat, a, b, c);
  return m;
}
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace

ErfRun train_erf_network(const ErfNetworkSpec& spec, const CounterRng& rng, std::uint64_t path, std::uint64_t data_path) {
  spec.validate();
  const Eigen::Index dim = spec.input_dim;
  const Eigen::Index h = spec.expert_width;
  const Eigen::Index n = spec.samples;
  const double root_dim = std::sqrt(static_cast<double>(dim));
  // Data (fixed Gaussian sample) and teacher.
  const Eigen::MatrixXd x = normals(rng, 1ULL << 40, data_path, 0, dim, n) / root_dim;  // columns x_t/√D
  const Eigen::MatrixXd teacher = normals(rng, 1ULL << 40, data_path, 1, dim, 2);
  const Eigen::VectorXd y = ((teacher.col(0).transpose() * x).array().unaryExpr([](double u) { return std::erf(u); }) -
                             (teacher.col(1).transpose() * x).array().unaryExpr([](double u) { return std::erf(u); }))
                                .matrix()
                                .transpose();
  const auto experts = static_cast<std::size_t>(spec.n_experts);
  std::vector<Eigen::VectorXd> a(experts);
  std::vector<Eigen::MatrixXd> w(experts);  // h × D
  for (std::size_t i = 0; i < experts; ++i) {
    a[i] = normals(rng, path, i, 0, h, 1);
    w[i] = normals(rng, path, i, 1, h, dim);
  }
  Eigen::MatrixXd router = normals(rng, path, experts, 2, spec.n_experts, dim);  // logits r_iᵀx/√D
  const bool mean_field = spec.scaling == WidthScaling::mean_field;
  const double active = spec.n_active;
  const double output_scale = mean_field ? (1.0 / (active * static_cast<double>(h))) * active  // A·R (§5.1)
                                         : 1.0 / std::sqrt(static_cast<double>(h));
  const double expert_lr = spec.learning_rate * (mean_field ? active * static_cast<double>(h) : 1.0);
  const bool routed = spec.n_experts > 1;

  auto features = [&]() {
    Eigen::MatrixXd phi(static_cast<Eigen::Index>(experts) * h, n);
    for (std::size_t i = 0; i < experts; ++i)
      phi.middleRows(static_cast<Eigen::Index>(i) * h, h) = (w[i] * x).array().unaryExpr([](double u) { return std::erf(u); }).matrix();
    return phi;
  };
  const Eigen::MatrixXd phi_initial = features();
  ErfRun run;
  std::vector<int> order(experts);
  for (int step = 0; step <= spec.steps; ++step) {
    std::vector<Eigen::MatrixXd> pre(experts), phi(experts);
    std::vector<Eigen::VectorXd> expert_out(experts);
    for (std::size_t i = 0; i < experts; ++i) {
      pre[i] = w[i] * x;
      phi[i] = pre[i].array().unaryExpr([](double u) { return std::erf(u); }).matrix();
      expert_out[i] = phi[i].transpose() * a[i];  // e_it
    }
    const Eigen::MatrixXd logits = router * x;
    // Routing: top-a on the sigmoid scores, gates normalized over the active set (§5.1).
    Eigen::MatrixXd gate = Eigen::MatrixXd::Zero(spec.n_experts, n);
    Eigen::MatrixXd score = logits.array().unaryExpr(&sigmoid).matrix();
    for (Eigen::Index t = 0; t < n; ++t) {
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + spec.n_active, order.end(),
                        [&](int p, int q) { return score(p, t) > score(q, t); });
      double total = 0.0;
      for (int k = 0; k < spec.n_active; ++k) total += score(order[static_cast<std::size_t>(k)], t);
      for (int k = 0; k < spec.n_active; ++k) {
        const int e = order[static_cast<std::size_t>(k)];
        gate(e, t) = score(e, t) / total;
      }
    }
    Eigen::VectorXd f = Eigen::VectorXd::Zero(n);
    for (std::size_t i = 0; i < experts; ++i)
      f += output_scale * gate.row(static_cast<Eigen::Index>(i)).transpose().cwiseProduct(expert_out[i]);
    const Eigen::VectorXd residual = (f - y) / static_cast<double>(n);
    run.loss.push_back(0.5 * (f - y).squaredNorm() / static_cast<double>(n));
    if (step == spec.steps) break;
    // Router gradient: ∂f/∂ρ_k = A·R·(1 − σ_k)·π_k·(e_k − Σ_i π_i e_i) for active k.
    if (routed) {
      Eigen::VectorXd mixed = Eigen::VectorXd::Zero(n);
      for (std::size_t i = 0; i < experts; ++i)
        mixed += gate.row(static_cast<Eigen::Index>(i)).transpose().cwiseProduct(expert_out[i]);
      Eigen::MatrixXd logit_grad(spec.n_experts, n);
      for (std::size_t k = 0; k < experts; ++k) {
        const auto row = static_cast<Eigen::Index>(k);
        logit_grad.row(row) = (output_scale * residual.array() * (1.0 - score.row(row).transpose().array()) *
                               gate.row(row).transpose().array() * (expert_out[k] - mixed).array())
                                  .transpose();
      }
      router -= spec.learning_rate * (logit_grad * x.transpose());
    }
    for (std::size_t i = 0; i < experts; ++i) {
      const Eigen::VectorXd weight = output_scale * gate.row(static_cast<Eigen::Index>(i)).transpose().cwiseProduct(residual);
      const Eigen::VectorXd grad_a = phi[i] * weight;
      const Eigen::MatrixXd slope =
          pre[i].array().unaryExpr([](double u) { return 2.0 / std::sqrt(std::numbers::pi) * std::exp(-u * u); }).matrix();
      const Eigen::MatrixXd grad_pre = (slope.array().colwise() * a[i].array()).rowwise() * weight.transpose().array();
      const Eigen::MatrixXd grad_w = grad_pre * x.transpose();
      a[i] -= expert_lr * grad_a;
      w[i] -= expert_lr * grad_w;
    }
  }
  run.relative_feature_movement = (features() - phi_initial).norm() / phi_initial.norm();
  return run;
}

}  // namespace muelab::sim::meanfield
