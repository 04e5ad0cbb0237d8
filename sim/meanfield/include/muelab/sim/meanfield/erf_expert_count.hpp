// The expert-count axis of the nonlinear MoE mean-field limit (docs/theory.md §8 "Nonlinear", §6 top-a
// threshold, §5.1 Complete-muE; derivation in sim/meanfield/README.md, "Expert-count limit").
//
// Same erf MoE layer as erf_limit.hpp (N1)–(N2), now with N → ∞ at FIXED expert width h and fixed
// sparsity κ = a/N, Complete-muE A = d/H_act = 1/(a·h), R = a. Expert i is one particle
// θ_i = (r_i, c_i, a_i1..a_ih, w_i1..w_ih) ∈ R^{2h+2}, drawn i.i.d. from μ_0 = U(±r̄) ⊗ U(±c̄) ⊗
// N(0, 1)^{⊗2h}. With ℓ_i(x) = r_i x + c_i, σ_i = σ(ℓ_i), ē_i(x) = (1/h) Σ_j a_ij φ(w_ij x):
//   f(x) = Σ_{i∈S(x)} σ_i ē_i / Σ_{i∈S(x)} σ_i                           (A·h·R = 1)           (K1)
//   ȧ_ij = −E[(f − y) 1_{i∈S} (σ_i/Z_N) φ(w_ij x)],  ẇ_ij = −a_ij E[(f − y) 1_{i∈S} (σ_i/Z_N) φ'(w_ij x) x],
//   ṙ_i = −η̄_r E[(f − y) 1_{i∈S} (1 − σ_i)(σ_i/Z_N)(ē_i − f) x],  ċ_i = same without x,       (K2)
// where Z_N(x) = (1/a) Σ_{k∈S(x)} σ_k (so R·π_i = σ_i/Z_N) and the router row moves at
// η_r = η̄_r·a (its gradient carries π_i = O(1/a); the same per-expert mean-field time as the
// units). (K1)–(K2) depend on the experts only through their empirical measure μ_N = (1/N) Σ δ_{θ_i}
// and κ (tested: replicating every expert k times, N → kN, a → ka, gives the same trajectory),
// so as N → ∞ with μ_N → μ the layer follows the McKean–Vlasov limit in which S(x) becomes the
// threshold ℓ > τ(x) at the (1 − κ) quantile of ℓ(x) under μ and Z(x) = (1/κ)∫1{ℓ>τ} σ dμ:
//   f(x) = ∫ 1{ℓ_θ(x) > τ(x)} σ_θ ē_θ dμ_t(θ) / ∫ 1{ℓ_θ(x) > τ(x)} σ_θ dμ_t(θ).               (K3)
// The finite system is its N-particle approximation: fluctuations O(N^{-1/2}), bias O(1/N).
//
// Inputs: a FIXED weighted design {(x_q, ω_q)} (a Gauss–Hermite rule of N(0, 1)) on which both the
// finite-N systems and the limit are trained (the routing boundaries of N experts, O(N) of them,
// cannot be panel-cut as in erf_limit.hpp at N = 2^16). On a fixed design the loss is smooth in
// every parameter away from routing ties, and (K2) is exactly minus the mean-field-time gradient
// (tested by finite differences, router included).
#pragma once

#include "muelab/sim/counter_rng.hpp"
#include "muelab/sim/meanfield/erf_expectations.hpp"
#include "muelab/sim/meanfield/erf_limit.hpp"

#include <cstdint>
#include <vector>

namespace muelab::sim::meanfield {

struct ErfExpertCountSpec {
  int expert_width = 4;                 ///< h (fixed along the N axis)
  double active_fraction = 0.25;        ///< κ = a/N (κN must be an integer)
  double router_rate_per_active = 2.0;  ///< η̄_r: router velocity = η̄_r·a × population gradient
  bool route_scale_active = true;       ///< R = a (Complete-muE); false: R = 1 (control)
  double router_slope_range = 2.0;      ///< r_i(0) ~ U(−r̄, r̄)
  double router_bias_range = 0.5;       ///< c_i(0) ~ U(−c̄, c̄)
  std::vector<ErfTeacherUnit> teacher;
  QuadratureRule inputs;  ///< fixed design: nodes x_q, weights ω_q (Σ ω_q = 1)

  /// a = κN; throws std::invalid_argument when κN is not an integer ≥ 1 or N < 1.
  [[nodiscard]] int active_count(int n_experts) const;
  /// The layer at N experts: a = κN, A·h = d/a (d = 1), R = a (or 1), η_r = η̄_r·a. Router
  /// initial values are per particle (sample_expert_count_state), not part of the returned spec.
  [[nodiscard]] ErfLayerSpec layer(int n_experts) const;
  void validate() const;  ///< throws std::invalid_argument naming the bad field
};

/// N experts drawn i.i.d. from μ_0: a_ij, w_ij ~ N(0, 1) keyed by (path, expert, 0|1, j), r_i, c_i
/// uniform keyed by (path, expert, 2|3, 0); ω = 1/h. Layout as ErfLayerState (per expert a then w,
/// then r (N), c (N)).
[[nodiscard]] ErfLayerState sample_expert_count_state(const ErfExpertCountSpec& spec, int n_experts,
                                                      const CounterRng& rng, std::uint64_t path);

/// (K2) for any routed or dense ErfLayerSpec on the fixed design `inputs` (top-a by the router
/// logits at every design point).
[[nodiscard]] std::vector<double> erf_design_velocity(const ErfLayerSpec& layer, const ErfLayerState& layout,
                                                      const std::vector<double>& values, const QuadratureRule& inputs);

/// Loss on the design and the N-free order parameters
/// [Q = E f², R_t = E f φ(β_t x) per teacher unit, m_a = mean_i (1/h)Σ a², m_w = mean_i (1/h)Σ w²,
///  mean_i r_i², mean_i c_i²] (the router's spread: the means stay ≈ 0 by the x → −x symmetry).
[[nodiscard]] ErfObservables observe_erf_design(const ErfLayerSpec& layer, const ErfLayerState& layout,
                                                const std::vector<double>& values, const QuadratureRule& inputs);

/// Gradient flow of (K2) by classical RK4 with a fixed step, observed at `times` (first 0).
[[nodiscard]] ErfTrajectory simulate_erf_design_flow(const ErfLayerSpec& layer, const ErfLayerState& initial,
                                                     const QuadratureRule& inputs, const std::vector<double>& times,
                                                     double rk4_step);

/// Finite-N runs[n][s] (expert counts × seeds), OpenMP over (count, seed), largest first; particles
/// keyed by (seed, stream) and path = (n << 32) + s, so the numbers do not depend on the thread count.
[[nodiscard]] std::vector<std::vector<ErfTrajectory>> simulate_expert_count_ensemble(
    const ErfExpertCountSpec& spec, const std::vector<int>& expert_counts, int seeds, std::uint64_t seed,
    std::uint64_t stream, const std::vector<double>& times, double rk4_step);

/// Pointwise mean of trajectories on the same time samples (the reference: the mean of independent
/// large-N draws, whose spread measures its own error).
[[nodiscard]] ErfTrajectory mean_trajectory(const std::vector<ErfTrajectory>& runs);

/// The exact N → ∞ limit of the R = 1 layer (control): A·h·R = 1/a → 0, so f ≡ 0, the experts and
/// the router are frozen at μ_0: loss ½ E y² on the design, Q = R_t = 0, m_a = m_w = 1,
/// mean r² = r̄²/3, mean c² = c̄²/3 (uniform initial laws), at every time.
[[nodiscard]] ErfTrajectory dropped_route_scale_limit(const ErfExpertCountSpec& spec, const std::vector<double>& times);

}  // namespace muelab::sim::meanfield
