// Jiang et al.'s DMFT quantities at initialization (docs/theory.md §6, [JIANG]), measured on a reduced
// residual MoE stack: MoE blocks only, pre-LN, branch multiplier L^{-branch_exponent} (Jiang: 1/L),
//   x_{ℓ+1} = x_ℓ + L^{-1} · (1/a) Σ_{i∈top-a(g)} g_i · W_down,i φ(W_up,i z_ℓ),   z_ℓ = LN(x_ℓ),
// with sigmoid gates g_i = σ(r_iᵀ z_ℓ), router rows r_i ~ N(0, σ_r² I) (σ_r = d^{-γ}, γ = 1), expert up
// W_up,i ~ N(0, 1/d) (fan-in), ReLU φ, and expert down W_down,i ~ N(0, σ_down²) where
//   Jiang mean-field:  σ_down = √d / h,      fan-in (the control):  σ_down = 1/√h.
// At init the blocks' contributions are uncorrelated (independent zero-mean down weights), so the
// per-coordinate accumulated variance Q = (1/d)|x_L − x_0|² is L blocks × L^{-2} × (1/a²)·a·E[g²]·
// h σ_down² E[φ²]: with mean-field down init Q ∝ d/(a·h·L) = α*/κ (α* = d/(h N L), κ = a/N):
// slope −1 in L, in a at fixed κ, in h/d, flat in d. With fan-in down init Q ∝ 1/(a·L): flat in h/d.
//
// Routing threshold: for a token, the a-th largest of the N gate scores. As N → ∞ at fixed κ the
// top-a rule becomes a threshold at the (1−κ) quantile of the score distribution; its fluctuation
// over tokens shrinks as N^{-1/2} (order-statistic CLT: sd ≈ √(κ(1−κ)/N) / density(quantile)).
#pragma once

#include "muelab/sim/counter_rng.hpp"

#include <cstdint>
#include <vector>

namespace muelab::sim::meanfield {

enum class ExpertDownInit { jiang_mean_field, fan_in };

struct ResidualMoeStack {
  int model_width = 64;    ///< d
  int expert_width = 64;   ///< h
  int n_experts = 16;      ///< N
  int n_active = 4;        ///< a
  int n_blocks = 4;        ///< L
  double branch_exponent = 1.0;  ///< branch multiplier L^{-branch_exponent} (Jiang: 1)
  double router_exponent = 1.0;  ///< γ: router std d^{-γ}
  ExpertDownInit down_init = ExpertDownInit::jiang_mean_field;
  void validate() const;  ///< throws std::invalid_argument naming the bad field
};

/// Standard deviation of the expert down-projection entries under the chosen init.
[[nodiscard]] double expert_down_std(const ResidualMoeStack& stack);

/// Mean over `tokens` tokens of (1/d)|x_L − x_0|² for one draw of the stack's weights (x_0 ~ N(0, I_d)).
/// Weights and tokens come from the counter-based RNG keyed by `path`.
[[nodiscard]] double accumulated_residual_variance(const ResidualMoeStack& stack, int tokens, const CounterRng& rng,
                                                   std::uint64_t path);

/// Routing thresholds of `tokens` tokens for one router draw (router entries N(0, 1/d), so the logit
/// is ~ N(0, 1) per expert for a unit-variance token): the a-th largest logit and the a-th largest
/// sigmoid gate score (the same expert, as the sigmoid is monotone).
struct RoutingThresholds {
  std::vector<double> logit;
  std::vector<double> gate;
};
[[nodiscard]] RoutingThresholds routing_thresholds(int model_width, int n_experts, int n_active, int tokens,
                                                   const CounterRng& rng, std::uint64_t path);

/// Limit threshold: sigmoid of the (1−κ) quantile of N(0, 1), and the order-statistic prediction of its
/// standard deviation over tokens at finite N: √(κ(1−κ)/N)/density, density of σ(s), s ~ N(0, 1).
struct ThresholdPrediction {
  double threshold = 0.0;
  double standard_deviation = 0.0;
};
[[nodiscard]] ThresholdPrediction routing_threshold_prediction(double kappa, int n_experts);

}  // namespace muelab::sim::meanfield
