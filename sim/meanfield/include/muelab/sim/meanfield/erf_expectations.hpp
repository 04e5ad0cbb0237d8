// Closed-form Gaussian expectations of erf units and the Gaussian quadrature rules of the nonlinear
// mean-field limit (docs/theory.md §8, "Nonlinear"; derivation in sim/meanfield/README.md).
//
// Activation φ(u) = erf(u/√2) (Saad–Solla / Goldt et al. convention), φ'(u) = √(2/π)·exp(−u²/2).
// For (u, v) ~ N(0, [[q_uu, q_uv], [q_uv, q_vv]]):
//   E[φ(u) φ(v)] = (2/π)·arcsin( q_uv / √((1 + q_uu)(1 + q_vv)) ).                          (E1)
// Scalar input x ~ N(0, 1) and units u = w x, v = w' x (q_uu = w², q_vv = w'², q_uv = w w'):
//   I(w, w') = (2/π)·arcsin(z),  z = w w' / √((1 + w²)(1 + w'²)),
//   ∂I/∂w   = (2/π)·w' / ( √(1 + w'²)·(1 + w²)^{3/2}·√(1 − z²) ).                            (E2)
#pragma once

#include <cmath>
#include <numbers>
#include <vector>

namespace muelab::sim::meanfield {

/// φ(u) = erf(u/√2).
[[nodiscard]] inline double erf_activation(double u) { return std::erf(u * std::numbers::sqrt2 / 2.0); }
/// φ'(u) = √(2/π)·exp(−u²/2).
[[nodiscard]] inline double erf_activation_slope(double u) {
  return std::numbers::sqrt2 / std::sqrt(std::numbers::pi) * std::exp(-0.5 * u * u);
}

/// (E1): E[φ(u)φ(v)] for a centred Gaussian pair with the given (co)variances.
[[nodiscard]] double erf_pair_expectation(double q_uu, double q_vv, double q_uv);
/// (E2): I(w, w') = E[φ(w x) φ(w' x)], x ~ N(0, 1).
[[nodiscard]] double erf_scalar_overlap(double w, double w_other);
/// (E2): ∂I(w, w')/∂w.
[[nodiscard]] double erf_scalar_overlap_slope(double w, double w_other);

/// Nodes and weights: Σ_k weights[k]·g(nodes[k]) approximates an integral.
struct QuadratureRule {
  std::vector<double> nodes;
  std::vector<double> weights;
};

/// Gauss–Hermite rule for the standard normal (Golub–Welsch on the probabilists' Jacobi matrix):
/// Σ w_k g(x_k) ≈ E g(x), x ~ N(0, 1); exact for polynomials of degree ≤ 2n − 1; weights sum to 1.
[[nodiscard]] QuadratureRule gauss_hermite_rule(int n);
/// Gauss–Legendre rule on [−1, 1] (Golub–Welsch).
[[nodiscard]] QuadratureRule gauss_legendre_rule(int n);

/// One panel [left, right] of a standard-normal expectation: Gauss–Legendre nodes with weights
/// that already include the N(0, 1) density.
struct GaussianPanel {
  double left = 0.0;
  double right = 0.0;
  std::vector<double> nodes;
  std::vector<double> weights;
};

/// E g(x), x ~ N(0, 1), for g smooth between the given breakpoints (e.g. where the top-a routing
/// set changes): [−x_max, x_max] is cut at the breakpoints inside it and every piece into equal
/// panels of width ≤ max_panel_width, each with `nodes_per_panel` Gauss–Legendre nodes. The mass
/// outside ±x_max (2Φ(−x_max); 1.9e-17 at 8.5) is dropped.
[[nodiscard]] std::vector<GaussianPanel> gaussian_panels(std::vector<double> breakpoints, double x_max,
                                                         double max_panel_width, int nodes_per_panel);

}  // namespace muelab::sim::meanfield
