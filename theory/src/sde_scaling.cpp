#include "muelab/theory/sde_scaling.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace muelab::theory {

double batch_duration_q(const TrainConfig& base, const TrainConfig& target) {
  const double rho_batch = target.tokens_per_step() / base.tokens_per_step();
  const double rho_data = target.tokens_total() / base.tokens_total();
  return rho_batch / rho_data;
}

BatchDurationMode parse_batch_duration_mode(const std::string& name) {
  if (name == "sqrt") return BatchDurationMode::sqrt;
  if (name == "lr-only") return BatchDurationMode::lr_only;
  if (name == "none") return BatchDurationMode::none;
  throw std::invalid_argument("batch_duration: accepted values are sqrt, lr-only, none");
}

BatchDurationFactors batch_duration_factors(double q, OptimizerKind optimizer, BatchDurationMode mode) {
  BatchDurationFactors f;
  if (mode == BatchDurationMode::none) return f;
  const bool adaptive = optimizer != OptimizerKind::sgd;
  // Adam/AdamW in time t = kη² (Malladi): η ∝ √q. SGD in time t = kη: η ∝ q (linear rule).
  f.lr = adaptive ? std::sqrt(q) : q;
  if (mode == BatchDurationMode::lr_only) return f;
  f.weight_decay = adaptive ? std::sqrt(q) : 1.0;
  f.eps = adaptive ? 1.0 / std::sqrt(q) : 1.0;
  f.one_minus_beta = q;
  f.beta_power = q;
  return f;
}

double scale_beta(double beta, const BatchDurationFactors& factors, const std::string& beta_rule,
                  const std::string& field) {
  if (beta_rule == "power") return std::pow(beta, factors.beta_power);
  const double one_minus = (1.0 - beta) * factors.one_minus_beta;
  if (one_minus >= 1.0)
    throw RuleRefusal(field, fmt::format("q(1-beta) = {:.6g} >= 1: the batch/duration rule cannot scale this beta "
                                         "(accepted: q(1-beta) < 1; or set rule.beta_rule = \"power\" for beta^q)",
                                         one_minus));
  return 1.0 - one_minus;
}

SdeObjects sde_objects(OptimizerKind optimizer, double lr, double weight_decay, double eps, double one_minus_beta1,
                       double one_minus_beta2, double steps, double noise_std_per_token, double tokens_per_step) {
  SdeObjects s;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double sigma_gradient = noise_std_per_token / std::sqrt(tokens_per_step);
  s.sigma0 = (optimizer == OptimizerKind::sgd ? std::sqrt(lr) : lr) * sigma_gradient;
  s.ema_fraction = (weight_decay > 0.0) ? 1.0 / (lr * weight_decay * steps) : std::numeric_limits<double>::infinity();
  if (optimizer == OptimizerKind::sgd) {
    s.horizon = steps * lr;
    s.wd_rate = weight_decay;
    s.c1 = one_minus_beta1 / lr;
    s.c2 = nan;
    s.eps0 = nan;
    return s;
  }
  s.horizon = steps * lr * lr;
  s.wd_rate = weight_decay / lr;
  s.c1 = one_minus_beta1 / (lr * lr);
  s.c2 = one_minus_beta2 / (lr * lr);
  s.eps0 = eps * lr;
  return s;
}

double sigma0_ratio(double lr_ratio_without_width, double tokens_per_step_base, double tokens_per_step_target,
                    OptimizerKind optimizer) {
  const double lr_part = optimizer == OptimizerKind::sgd ? std::sqrt(lr_ratio_without_width) : lr_ratio_without_width;
  return lr_part * std::sqrt(tokens_per_step_base / tokens_per_step_target);
}

}  // namespace muelab::theory
