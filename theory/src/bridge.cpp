#include "muelab/theory/bridge.hpp"

#include <cmath>
#include <stdexcept>

namespace muelab::theory {

double active_width(const ModelConfig& model) {
  if (!model.is_moe()) return static_cast<double>(model.d_ffn);
  double width = static_cast<double>(model.n_active) * static_cast<double>(model.d_expert);
  if (model.has_shared()) width += static_cast<double>(model.n_shared) * static_cast<double>(model.d_shared);
  return width;
}

double active_width_output_multiplier(const ModelConfig& model) {
  return static_cast<double>(model.d_model) / active_width(model);
}

double bridge1_down_init_factor(const ModelConfig& model) {
  return std::sqrt(active_width(model) / static_cast<double>(model.d_model));
}

double complete_mue_route_scale(const ModelConfig& model, bool route_scale_active) {
  if (!model.is_moe()) return 1.0;
  return route_scale_active ? static_cast<double>(model.n_active) : 1.0;
}

double routed_expert_tokens_per_step(double tokens_per_step, double n_active, double n_experts) {
  if (!(n_experts > 0.0) || !(n_active > 0.0) || n_active > n_experts)
    throw std::invalid_argument("routed_expert_tokens_per_step: need 0 < a <= N");
  return tokens_per_step * n_active / n_experts;
}

double bridge2_expert_sigma0_ratio(double n_active, double n_experts, double n_active_target,
                                   double n_experts_target) {
  // σ_g ∝ (tokens per step)^{-1/2} and the routed expert sees B·a/N tokens (§4, §5.2).
  return std::sqrt((n_active / n_experts) / (n_active_target / n_experts_target));
}

}  // namespace muelab::theory
