// Mean-field limit of erf two-layer networks on Gaussian inputs, dense and MoE with a learned
// sigmoid router (docs/theory.md §8 "Nonlinear", §5.1; equations and the choice of reference in
// sim/meanfield/README.md, "Nonlinear limit").
//
// Model (scalar input x ~ N(0, 1), scalar output d = 1, φ(u) = erf(u/√2)). N experts, a active;
// expert i carries M units (a_im, w_im) with node weights ω_m (Σ ω_m = 1):
//   ē_i(x) = Σ_m ω_m a_im φ(w_im x),
//   f(x)   = (A·h)·R·Σ_{i∈S(x)} π_i(x) ē_i(x),                                                (N1)
// S(x) = top-a experts by sigmoid score σ_i(x) = σ(r_i x + c_i), π_i = σ_i/Σ_{k∈S} σ_k (gates
// normalized over the active set), Complete-muE A = d/H_act = 1/(a·h), R = a (so A·h·R = 1);
// dense layer: N = a = 1, π = 1. A finite network of width h has M = h and ω_m = 1/h (then (N1)
// is A·R·Σ π_i Σ_j a_ij φ(w_ij x) exactly); the limit has ω_m, (a_m, w_m) a Gauss–Hermite product
// quadrature of the initial law N(0, 1) ⊗ N(0, 1) of (a, w).
// Teacher y(x) = Σ_t b_t φ(β_t x); loss L = ½ E (f − y)².
// Dynamics: expert units in mean-field time (θ̇ = −(H_act/d) ∂L/∂θ, per unit; every node moves
// with the velocity of a unit):
//   ȧ_im = −R·E[(f − y) 1_{i∈S} π_i φ(w_im x)],   ẇ_im = −R·a_im·E[(f − y) 1_{i∈S} π_i φ'(w_im x) x],
// router (width-free rate η_r, the population mean of the per-sample gradient; boundary terms of
// moving routing boundaries are not part of it, exactly as in sample-based training):
//   ∂f/∂ℓ_k = (A·h·R)(1 − σ_k) π_k (ē_k − Σ_{i∈S} π_i ē_i),  ṙ_k = −η_r E[(f − y) ∂f/∂ℓ_k x],
//   ċ_k = −η_r E[(f − y) ∂f/∂ℓ_k].                                                               (N2)
// Expectations over x: Gauss–Legendre panels (weights include the N(0, 1) density), cut at the
// routing boundaries of the MoE layer so that the integrand is smooth on every panel. For the dense layer they are also available in
// closed form ((E2) of erf_expectations.hpp), used for the dense reference:
//   ȧ_m = −[Σ_n ω_n a_n I(w_m, w_n) − Σ_t b_t I(w_m, β_t)],
//   ẇ_m = −a_m[Σ_n ω_n a_n ∂₁I(w_m, w_n) − Σ_t b_t ∂₁I(w_m, β_t)].                            (N3)
#pragma once

#include "muelab/sim/counter_rng.hpp"

#include <cstdint>
#include <vector>

namespace muelab::sim::meanfield {

struct ErfTeacherUnit {
  double output = 1.0;  ///< b_t
  double slope = 1.0;   ///< β_t
};

struct ErfLayerSpec {
  int n_experts = 1;  ///< N (1: dense layer)
  int n_active = 1;   ///< a
  double output_multiplier_times_expert_width = 1.0;  ///< A·h = d/a (Complete-muE, §5.1)
  double route_scale = 1.0;                           ///< R (Complete-muE: a; dense: 1)
  double router_rate = 1.0;                           ///< η_r (width-free)
  std::vector<ErfTeacherUnit> teacher;
  std::vector<double> initial_router_slope;  ///< r_i(0), size N when N > 1 (deterministic, shared by all seeds)
  std::vector<double> initial_router_bias;   ///< c_i(0), size N when N > 1
  int panel_nodes = 12;          ///< x-quadrature: Gauss–Legendre nodes per panel (tested against (E2))
  double panel_width = 1.4;      ///< ... maximal panel width
  double x_max = 7.0;            ///< ... integration range ±x_max (mass outside: 2.6e-12)

  [[nodiscard]] static ErfLayerSpec dense(std::vector<ErfTeacherUnit> teacher);
  [[nodiscard]] bool routed() const { return n_experts > 1; }
  void validate() const;  ///< throws std::invalid_argument naming the bad field
};

/// Packed state: per expert a_i (M values) then w_i (M values); then, when routed, r (N) and c (N).
/// `node_weights` (ω_m, size M, shared by the experts) are constant.
struct ErfLayerState {
  int expert_nodes = 0;  ///< M
  std::vector<double> node_weights;
  std::vector<double> values;
};

/// The limit's initial state: per expert the Gauss–Hermite product rule of N(0,1) ⊗ N(0,1) for
/// (a, w) with `nodes_per_axis`² nodes; router at its deterministic initial value.
[[nodiscard]] ErfLayerState limit_initial_erf_state(const ErfLayerSpec& spec, int nodes_per_axis);
/// A finite network: h units per expert, a_ij, w_ij ~ N(0, 1) keyed by (path, expert, 0|1, j), ω = 1/h.
[[nodiscard]] ErfLayerState sample_erf_state(const ErfLayerSpec& spec, int expert_width, const CounterRng& rng,
                                             std::uint64_t path);

/// (N2) by x-quadrature.
[[nodiscard]] std::vector<double> erf_layer_velocity(const ErfLayerSpec& spec, const ErfLayerState& layout,
                                                     const std::vector<double>& values);
/// (N3): closed-form velocity of the dense layer (N = 1 only).
[[nodiscard]] std::vector<double> erf_dense_velocity_closed_form(const ErfLayerSpec& spec, const ErfLayerState& layout,
                                                                 const std::vector<double>& values);
/// Closed-form population loss of the dense layer (N = 1 only), from (E2).
[[nodiscard]] double erf_dense_loss_closed_form(const ErfLayerSpec& spec, const ErfLayerState& layout,
                                                const std::vector<double>& values);
/// Output f(x) of (N1) at one input.
[[nodiscard]] double erf_layer_output(const ErfLayerSpec& spec, const ErfLayerState& layout,
                                      const std::vector<double>& values, double x);

/// Population observables: loss and the order parameters
/// [Q = E f², R_t = E f φ(β_t x) (per teacher unit), m_a = mean_i Σ ω a², m_w = mean_i Σ ω w², r, c].
struct ErfObservables {
  double loss = 0.0;
  std::vector<double> order_parameters;
};
[[nodiscard]] ErfObservables observe_erf_layer(const ErfLayerSpec& spec, const ErfLayerState& layout,
                                               const std::vector<double>& values);

struct ErfTrajectory {
  std::vector<double> times;
  std::vector<double> loss;
  std::vector<std::vector<double>> order_parameters;
};

enum class ErfVelocity { quadrature, closed_form };

/// Integrates the node ODE with Boost.Odeint's Dormand–Prince 5(4) dense-output stepper (relative
/// tolerance `relative_tolerance`, absolute 1e-3 × that), sampled at `times` (ascending, first 0).
[[nodiscard]] ErfTrajectory integrate_erf_limit(const ErfLayerSpec& spec, const ErfLayerState& initial,
                                                const std::vector<double>& times, double relative_tolerance = 1e-9,
                                                ErfVelocity velocity = ErfVelocity::quadrature);
/// Gradient flow of a finite network, classical RK4 with a fixed step, sampled at `times`.
[[nodiscard]] ErfTrajectory simulate_erf_flow(const ErfLayerSpec& spec, const ErfLayerState& initial,
                                              const std::vector<double>& times, double rk4_step);

/// max_t |L(t) − L_ref(t)| and max_t |order parameters(t) − reference(t)|₂ over the common samples.
struct ErfDeviation {
  double loss = 0.0;
  double order_parameters = 0.0;
};
[[nodiscard]] ErfDeviation erf_deviation(const ErfTrajectory& run, const ErfTrajectory& reference);

/// Finite-width runs[w][s] (widths × seeds), OpenMP over (width, seed); particles keyed by
/// (seed, stream) and path = (w << 32) + s, so the numbers do not depend on the thread count.
[[nodiscard]] std::vector<std::vector<ErfTrajectory>> simulate_erf_ensemble(const ErfLayerSpec& spec,
                                                                            const std::vector<int>& expert_widths,
                                                                            int seeds, std::uint64_t seed,
                                                                            const std::vector<double>& times,
                                                                            double rk4_step);

}  // namespace muelab::sim::meanfield
