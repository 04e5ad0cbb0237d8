// Exact mean-field limit of linear two-layer networks, dense and MoE (docs/theory.md §8).
//
// Dense (§8): f(x) = (1/H) Σ_j a_j w_jᵀx/√D, x ~ N(0, I_D), teacher y = βᵀx/√D, loss
// L = ½ E(f − y)² = ½|v − β|²/D, rescaled gradient flow θ̇_j = −H ∂L/∂θ_j. With
//   v = (1/H) Σ_j a_j w_j,   C = (1/H) Σ_j w_j w_jᵀ,   c = (1/H) Σ_j a_j²,   g = (v − β)/D:
//   v̇ = −(C + c·I) g,   Ċ = −(g vᵀ + v gᵀ),   ċ = −2 vᵀg.                                  (D1)
// The system is closed at every width; the width enters only through the initial values
// (v(0) = O(H^{-1/2}), C(0) = I + O(H^{-1/2}), c(0) = 1 + O(H^{-1/2})); the limit starts at
// v = 0, C = I, c = 1.
//
// MoE analogue (derived here; also in sim/meanfield/README.md). N experts, each a linear two-layer
// sub-network of width h with particles (a_ij, w_ij). A fixed router sends a token to the active
// set S (|S| = a) with probability P_S, independently of x; gates π_iS are normalized over the
// active set (Σ_{i∈S} π_iS = 1). Complete-muE (§5.1): route scale R on the normalized routed sum and
// output multiplier A = d/H_act, H_act = a·h (the toy has a scalar output, d = 1):
//   f(x | S) = A·R·Σ_{i∈S} π_iS Σ_j a_ij w_ijᵀx/√D = V_Sᵀx/√D,
//   V_S = (A·h)·R·Σ_{i∈S} π_iS v_i = (d/a)·R·Σ_{i∈S} π_iS v_i,                                (M1)
// with per-expert order parameters v_i = (1/h)Σ_j a_ij w_ij, C_i = (1/h)Σ_j w_ij w_ijᵀ,
// c_i = (1/h)Σ_j a_ij². The loss is L = ½ Σ_S P_S |V_S − β|²/D. Gradient flow in mean-field time,
// θ̇ = −(H_act/d) ∂L/∂θ (the same rate as the dense layer of width H_act), gives
//   ȧ_ij = −w_ijᵀ G_i,  ẇ_ij = −a_ij G_i,
//   G_i = (H_act/d)·A·R·Σ_{S∋i} P_S π_iS (V_S − β)/D = R·Σ_{S∋i} P_S π_iS (V_S − β)/D,       (M2)
// and hence, per expert, the dense equations with g replaced by the routed signal G_i:
//   v̇_i = −(C_i + c_i I) G_i,   Ċ_i = −(G_i v_iᵀ + v_i G_iᵀ),   ċ_i = −2 v_iᵀ G_i.             (M3)
// How the routed data fraction enters: with balanced routing Σ_{S∋i} P_S = a/N = κ, uniform gates
// π = 1/a and R = a, (M2) reads G_i = κ · E[V_S − β | i ∈ S]/D — each expert's equations are the
// dense ones driven by its share κ of the data. Bridge I (§5.1): with a = N, one route, π = 1/N and
// R = N, (M1) gives V = (1/N)Σ_i v_i and (M2) gives G_i = (V − β)/D = g for every expert; summing
// (M3) over experts reproduces (D1) for v = V, C = (1/N)Σ C_i, c = (1/N)Σ c_i — the dense layer of
// width H_act = N·h, exactly, at every h and in the limit. Without the route scale (R = 1) V and
// every G_i shrink by 1/N and the limit separates.
//
// Gradient descent with step η on the same loss (θ' = θ − η (H_act/d) ∂L/∂θ) also closes exactly:
//   v_i' = v_i − η(C_i + c_i I)G_i + η² (v_iᵀG_i) G_i,
//   C_i' = C_i − η(G_i v_iᵀ + v_i G_iᵀ) + η² c_i G_i G_iᵀ,
//   c_i' = c_i − 2η v_iᵀG_i + η² G_iᵀ C_i G_i.                                                (GD)
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <vector>

namespace muelab::sim::meanfield {

/// One route of the fixed router: the active set S, its probability P_S and its gates π_iS.
struct Route {
  double probability = 1.0;
  std::vector<int> experts;   ///< indices of the active experts
  std::vector<double> gates;  ///< π_iS, normalized over the active set
};

/// A linear two-layer network: dense (one expert, one route) or a fixed-router MoE (§8, (M1)–(M3)).
struct LinearNetworkSpec {
  int input_dim = 1;                 ///< D
  int n_experts = 1;                 ///< N (1 for the dense layer)
  double output_multiplier_times_expert_width = 1.0;  ///< A·h = d/a (1 for dense: A = 1/H)
  double route_scale = 1.0;          ///< R (1 for dense)
  std::vector<Route> routes;
  Eigen::VectorXd teacher;           ///< β

  /// Dense layer of §8 (d = 1, so A = 1/H).
  [[nodiscard]] static LinearNetworkSpec dense(const Eigen::VectorXd& teacher);
  /// MoE with N experts, a active per token on the N cyclic windows {k, …, k+a−1 mod N} (each with
  /// probability 1/N, so every expert sees the fraction κ = a/N), uniform gates π = 1/a,
  /// output multiplier A = d/(a·h) and the given route scale R (Complete-muE: R = a).
  [[nodiscard]] static LinearNetworkSpec cyclic_moe(int n_experts, int n_active, double output_multiplier_times_expert_width,
                                                    double route_scale, const Eigen::VectorXd& teacher);
  void validate() const;  ///< throws std::invalid_argument naming the bad field
};

struct ExpertOrderParameters {
  Eigen::VectorXd v;  ///< (1/h) Σ_j a_j w_j
  Eigen::MatrixXd C;  ///< (1/h) Σ_j w_j w_jᵀ
  double c = 0.0;     ///< (1/h) Σ_j a_j²
};
using OrderParameters = std::vector<ExpertOrderParameters>;

/// Limit initial condition: v = 0, C = I, c = 1 for every expert (§8).
[[nodiscard]] OrderParameters limit_initial_order_parameters(const LinearNetworkSpec& spec);
/// V_S of (M1) for route `route_index`.
[[nodiscard]] Eigen::VectorXd route_effective_vector(const LinearNetworkSpec& spec, const OrderParameters& op,
                                                     std::size_t route_index);
/// Population loss ½ Σ_S P_S |V_S − β|²/D.
[[nodiscard]] double population_loss(const LinearNetworkSpec& spec, const OrderParameters& op);
/// Routed gradient signals G_i of (M2) (g of (D1) for the dense layer).
[[nodiscard]] std::vector<Eigen::VectorXd> routed_gradient_signals(const LinearNetworkSpec& spec,
                                                                   const OrderParameters& op);
/// Time derivative of the order parameters, (D1)/(M3).
[[nodiscard]] OrderParameters order_parameter_velocity(const LinearNetworkSpec& spec, const OrderParameters& op);
/// One exact gradient-descent step of the order parameters, (GD).
[[nodiscard]] OrderParameters gradient_descent_order_parameter_step(const LinearNetworkSpec& spec,
                                                                    const OrderParameters& op, double step);

/// Flat packing (per expert: v, C column-major, c) used by the ODE solver and for distances.
[[nodiscard]] std::vector<double> pack(const OrderParameters& op);
[[nodiscard]] OrderParameters unpack(const LinearNetworkSpec& spec, const std::vector<double>& flat);

/// Loss and packed order parameters sampled at given times.
struct LinearTrajectory {
  std::vector<double> times;
  std::vector<double> loss;
  std::vector<std::vector<double>> order_parameters;  ///< pack() at each time
};

/// Integrates (D1)/(M3) with Boost.Odeint's Dormand–Prince 5(4) dense-output stepper at the given
/// relative tolerance (absolute tolerance 1e-3 × relative), sampled at `times` (ascending, first 0).
[[nodiscard]] LinearTrajectory integrate_limit(const LinearNetworkSpec& spec, const OrderParameters& initial,
                                               const std::vector<double>& times, double relative_tolerance = 1e-9);
/// Iterates the exact (GD) map for `steps` steps, recording every `record_every` steps (and step 0).
[[nodiscard]] LinearTrajectory iterate_gradient_descent_limit(const LinearNetworkSpec& spec,
                                                              const OrderParameters& initial, double step,
                                                              int steps, int record_every);

/// Closed form of the dense limit (§8 test): started at v = 0, C = I, c = 1 the flow stays in
/// span(β); with s = β̂ᵀv and u = √(1 + s²) (= c = β̂ᵀCβ̂, since u² − s² is conserved) it reduces to
/// ds/dτ = 2√(1 + s²)(|β| − s), τ = t/D. With s = sinh φ, z = e^φ and z± = |β| ± √(|β|² + 1):
///   z(τ) = (z₊ + Q z₋)/(1 + Q),  Q = (z₊ − 1)/(1 − z₋)·exp(−2√(|β|²+1) τ),  s = (z − 1/z)/2.
struct ScalarLimitSolution {
  double s = 0.0;  ///< β̂ᵀv
  double u = 1.0;  ///< c = β̂ᵀCβ̂
};
[[nodiscard]] ScalarLimitSolution dense_limit_closed_form(double teacher_norm, double time, int input_dim);

/// Euclidean distance of two packed order-parameter vectors.
[[nodiscard]] double order_parameter_distance(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace muelab::sim::meanfield
