#include "muelab/sim/meanfield/jiang_dmft.hpp"

#include <Eigen/Dense>
#include <boost/math/distributions/normal.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <stdexcept>

namespace muelab::sim::meanfield {

namespace {
// Counter layout: (path, block·2^20 + expert, kind) with kinds below; k indexes the entries.
enum Kind : std::uint64_t { token_kind = 1, router_kind = 2, up_kind = 3, down_kind = 4 };

Eigen::MatrixXd normal_matrix(const CounterRng& rng, std::uint64_t path, std::uint64_t slot, std::uint64_t kind,
                              Eigen::Index rows, Eigen::Index cols, double std_dev) {
  Eigen::MatrixXd m(rows, cols);
  Eigen::Map<Eigen::VectorXd> flat(m.data(), m.size());
  rng.fill_normal(flat, path, slot, kind);
  return std_dev * m;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// Pre-LN without gain: zero mean, unit variance over the d coordinates of each token (column).
Eigen::MatrixXd layer_norm(const Eigen::MatrixXd& x) {
  Eigen::MatrixXd z = x;
  for (Eigen::Index t = 0; t < x.cols(); ++t) {
    const double mean = x.col(t).mean();
    const double variance = (x.col(t).array() - mean).square().mean();
    z.col(t) = (x.col(t).array() - mean) / std::sqrt(variance + 1e-12);
  }
  return z;
}
}  // namespace

void ResidualMoeStack::validate() const {
  if (model_width < 2) throw std::invalid_argument("model_width: must be >= 2");
  if (expert_width < 1) throw std::invalid_argument("expert_width: must be >= 1");
  if (n_experts < 1) throw std::invalid_argument("n_experts: must be >= 1");
  if (n_active < 1 || n_active > n_experts) throw std::invalid_argument("n_active: must be in [1, n_experts]");
  if (n_blocks < 1) throw std::invalid_argument("n_blocks: must be >= 1");
  if (n_experts >= (1 << 20)) throw std::invalid_argument("n_experts: must be < 2^20");
}

double expert_down_std(const ResidualMoeStack& stack) {
  const double d = stack.model_width;
  const double h = stack.expert_width;
  // §6: Jiang's mean-field expert down √d/h vs fan-in 1/√h.
  return stack.down_init == ExpertDownInit::jiang_mean_field ? std::sqrt(d) / h : 1.0 / std::sqrt(h);
}

double accumulated_residual_variance(const ResidualMoeStack& stack, int tokens, const CounterRng& rng,
                                     std::uint64_t path) {
  stack.validate();
  if (tokens < 1) throw std::invalid_argument("tokens: must be >= 1");
  const Eigen::Index d = stack.model_width;
  const Eigen::Index h = stack.expert_width;
  const Eigen::Index n_tokens = tokens;
  const Eigen::MatrixXd x0 = normal_matrix(rng, path, 0, token_kind, d, n_tokens, 1.0);
  Eigen::MatrixXd x = x0;
  const double branch = std::pow(static_cast<double>(stack.n_blocks), -stack.branch_exponent);
  const double router_std = std::pow(static_cast<double>(d), -stack.router_exponent);
  const double down_std = expert_down_std(stack);
  const double up_std = 1.0 / std::sqrt(static_cast<double>(d));
  for (int block = 0; block < stack.n_blocks; ++block) {
    const auto block_slot = static_cast<std::uint64_t>(block + 1) << 20;
    const Eigen::MatrixXd z = layer_norm(x);
    const Eigen::MatrixXd router = normal_matrix(rng, path, block_slot, router_kind, stack.n_experts, d, router_std);
    const Eigen::MatrixXd gates = ((router * z).array().unaryExpr(&sigmoid)).matrix();  // N × tokens
    // Top-a per token (b_i = 0 at init): selected[t] lists the active experts of token t.
    std::vector<std::vector<int>> tokens_of_expert(static_cast<std::size_t>(stack.n_experts));
    std::vector<int> order(static_cast<std::size_t>(stack.n_experts));
    for (Eigen::Index t = 0; t < n_tokens; ++t) {
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + stack.n_active, order.end(),
                        [&](int i, int j) { return gates(i, t) > gates(j, t); });
      for (int k = 0; k < stack.n_active; ++k)
        tokens_of_expert[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])].push_back(static_cast<int>(t));
    }
    Eigen::MatrixXd update = Eigen::MatrixXd::Zero(d, n_tokens);
    for (int expert = 0; expert < stack.n_experts; ++expert) {
      const auto& routed = tokens_of_expert[static_cast<std::size_t>(expert)];
      if (routed.empty()) continue;
      const auto slot = block_slot + static_cast<std::uint64_t>(expert);
      const Eigen::MatrixXd up = normal_matrix(rng, path, slot, up_kind, h, d, up_std);
      const Eigen::MatrixXd down = normal_matrix(rng, path, slot, down_kind, d, h, down_std);
      for (int t : routed) {
        const Eigen::VectorXd hidden = (up * z.col(t)).cwiseMax(0.0);
        update.col(t) += (gates(expert, t) / stack.n_active) * (down * hidden);
      }
    }
    x += branch * update;
  }
  return (x - x0).squaredNorm() / static_cast<double>(d * n_tokens);
}

RoutingThresholds routing_thresholds(int model_width, int n_experts, int n_active, int tokens, const CounterRng& rng,
                                       std::uint64_t path) {
  if (model_width < 2) throw std::invalid_argument("model_width: must be >= 2");
  if (n_active < 1 || n_active > n_experts) throw std::invalid_argument("n_active: must be in [1, n_experts]");
  if (tokens < 1) throw std::invalid_argument("tokens: must be >= 1");
  const Eigen::Index d = model_width;
  const Eigen::MatrixXd z = layer_norm(normal_matrix(rng, path, 0, token_kind, d, tokens, 1.0));
  const Eigen::MatrixXd router = normal_matrix(rng, path, 1, router_kind, n_experts, d, 1.0 / std::sqrt(static_cast<double>(d)));
  const Eigen::MatrixXd logits = router * z;
  RoutingThresholds thresholds;
  std::vector<double> scores(static_cast<std::size_t>(n_experts));
  for (Eigen::Index t = 0; t < tokens; ++t) {
    for (int i = 0; i < n_experts; ++i) scores[static_cast<std::size_t>(i)] = logits(i, t);
    std::nth_element(scores.begin(), scores.begin() + (n_active - 1), scores.end(), std::greater<>());
    thresholds.logit.push_back(scores[static_cast<std::size_t>(n_active - 1)]);
    thresholds.gate.push_back(sigmoid(thresholds.logit.back()));
  }
  return thresholds;
}

ThresholdPrediction routing_threshold_prediction(double kappa, int n_experts) {
  if (!(kappa > 0.0 && kappa < 1.0)) throw std::invalid_argument("kappa: must be in (0, 1)");
  const boost::math::normal_distribution<double> standard;
  const double logit = boost::math::quantile(standard, 1.0 - kappa);
  const double gate = sigmoid(logit);
  // density of g = σ(s) at the quantile: φ(s) / σ'(s), σ'(s) = g(1 − g).
  const double density = boost::math::pdf(standard, logit) / (gate * (1.0 - gate));
  return {gate, std::sqrt(kappa * (1.0 - kappa) / n_experts) / density};
}

}  // namespace muelab::sim::meanfield
