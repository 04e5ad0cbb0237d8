// Bridge I (active-width μP, docs/theory.md §5.1) and the token accounting behind Bridge II (§5.2).
#pragma once

#include "muelab/theory/config.hpp"

namespace muelab::theory {

/// H_act: H (dense FFN); a·h (routed MoE); a·h + n_s·h_s (with shared experts) (§1).
[[nodiscard]] double active_width(const ModelConfig& model);

/// A = d / H_act, applied to the output of the FFN/MoE down-projection (§5.1).
[[nodiscard]] double active_width_output_multiplier(const ModelConfig& model);

/// Bridge I down-projection init relative to the unit-expansion value: √(H_act / d) (§5.1).
[[nodiscard]] double bridge1_down_init_factor(const ModelConfig& model);

/// Route scale on the normalized routed sum: R = a under Complete-muE (§5.1); 1 when removed.
[[nodiscard]] double complete_mue_route_scale(const ModelConfig& model, bool route_scale_active);

/// Tokens per optimizer step seen by one routed expert under balanced routing: B·a/N (§5.2).
[[nodiscard]] double routed_expert_tokens_per_step(double tokens_per_step, double n_active, double n_experts);

/// Bridge II prediction for a routed expert's noise scale when (a, N) → (a', N') at fixed B, T and
/// fixed LR: σ0'/σ0 = √((a/N)/(a'/N')), i.e. √(a/a') at fixed N and √(N'/N) at fixed a (§5.2).
[[nodiscard]] double bridge2_expert_sigma0_ratio(double n_active, double n_experts, double n_active_target,
                                                 double n_experts_target);

}  // namespace muelab::theory
