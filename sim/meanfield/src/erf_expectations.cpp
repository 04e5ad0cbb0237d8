#include "muelab/sim/meanfield/erf_expectations.hpp"

#include <Eigen/Dense>

#include <algorithm>
#include <stdexcept>

namespace muelab::sim::meanfield {

double erf_pair_expectation(double q_uu, double q_vv, double q_uv) {
  if (q_uu < 0.0 || q_vv < 0.0) throw std::invalid_argument("erf_pair_expectation: variances must be >= 0");
  const double z = q_uv / std::sqrt((1.0 + q_uu) * (1.0 + q_vv));
  return 2.0 / std::numbers::pi * std::asin(std::clamp(z, -1.0, 1.0));
}

double erf_scalar_overlap(double w, double w_other) { return erf_pair_expectation(w * w, w_other * w_other, w * w_other); }

double erf_scalar_overlap_slope(double w, double w_other) {
  const double one_w = 1.0 + w * w;
  const double one_other = 1.0 + w_other * w_other;
  const double z = w * w_other / std::sqrt(one_w * one_other);
  return 2.0 / std::numbers::pi * w_other / (std::sqrt(one_other) * one_w * std::sqrt(one_w) * std::sqrt(1.0 - z * z));
}

namespace {
/// Golub–Welsch: symmetric tridiagonal Jacobi matrix with zero diagonal and the given
/// off-diagonal; nodes are its eigenvalues, weights total_mass × (first eigenvector component)².
QuadratureRule golub_welsch(const std::vector<double>& off_diagonal, double total_mass) {
  const auto n = static_cast<Eigen::Index>(off_diagonal.size() + 1);
  Eigen::MatrixXd jacobi = Eigen::MatrixXd::Zero(n, n);
  for (Eigen::Index k = 0; k + 1 < n; ++k) {
    jacobi(k, k + 1) = off_diagonal[static_cast<std::size_t>(k)];
    jacobi(k + 1, k) = off_diagonal[static_cast<std::size_t>(k)];
  }
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(jacobi);
  QuadratureRule rule;
  for (Eigen::Index k = 0; k < n; ++k) {
    rule.nodes.push_back(solver.eigenvalues()(k));
    const double first = solver.eigenvectors()(0, k);
    rule.weights.push_back(total_mass * first * first);
  }
  return rule;
}
}  // namespace

QuadratureRule gauss_hermite_rule(int n) {
  if (n < 1) throw std::invalid_argument("gauss_hermite_rule: n must be >= 1");
  std::vector<double> off;  // probabilists' Hermite recurrence: x He_k = He_{k+1} + k He_{k−1}
  for (int k = 1; k < n; ++k) off.push_back(std::sqrt(static_cast<double>(k)));
  return golub_welsch(off, 1.0);
}

QuadratureRule gauss_legendre_rule(int n) {
  if (n < 1) throw std::invalid_argument("gauss_legendre_rule: n must be >= 1");
  std::vector<double> off;
  for (int k = 1; k < n; ++k) off.push_back(k / std::sqrt(4.0 * k * k - 1.0));
  return golub_welsch(off, 2.0);
}

std::vector<GaussianPanel> gaussian_panels(std::vector<double> breakpoints, double x_max, double max_panel_width,
                                           int nodes_per_panel) {
  if (!(x_max > 0.0)) throw std::invalid_argument("gaussian_panels: x_max must be > 0");
  if (!(max_panel_width > 0.0)) throw std::invalid_argument("gaussian_panels: max_panel_width must be > 0");
  static thread_local int cached_nodes = 0;
  static thread_local QuadratureRule legendre;
  if (cached_nodes != nodes_per_panel) {
    legendre = gauss_legendre_rule(nodes_per_panel);
    cached_nodes = nodes_per_panel;
  }
  std::vector<double> cuts{-x_max, x_max};
  for (double b : breakpoints)
    if (b > -x_max && b < x_max) cuts.push_back(b);
  std::sort(cuts.begin(), cuts.end());
  const double density = 1.0 / std::sqrt(2.0 * std::numbers::pi);
  std::vector<GaussianPanel> panels;
  for (std::size_t k = 0; k + 1 < cuts.size(); ++k) {
    const double length = cuts[k + 1] - cuts[k];
    if (length <= 0.0) continue;
    const int pieces = std::max(1, static_cast<int>(std::ceil(length / max_panel_width)));
    const double width = length / pieces;
    for (int p = 0; p < pieces; ++p) {
      GaussianPanel panel;
      panel.left = cuts[k] + p * width;
      panel.right = p + 1 == pieces ? cuts[k + 1] : panel.left + width;
      const double half = 0.5 * (panel.right - panel.left);
      const double centre = 0.5 * (panel.right + panel.left);
      for (std::size_t q = 0; q < legendre.nodes.size(); ++q) {
        const double x = centre + half * legendre.nodes[q];
        panel.nodes.push_back(x);
        panel.weights.push_back(half * legendre.weights[q] * density * std::exp(-0.5 * x * x));
      }
      panels.push_back(std::move(panel));
    }
  }
  return panels;
}

}  // namespace muelab::sim::meanfield
