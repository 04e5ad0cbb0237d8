// Nonlinear two-layer networks (docs/theory.md §8, "SP vs μP"): erf units on Gaussian inputs, a dense
// layer (one expert) or an MoE layer with a learned sigmoid router (top-a, gates normalized over the
// active set), trained by full-batch gradient descent on a fixed Gaussian sample. Two scalings:
//   mean-field / μP / Complete-muE: f = A·R·Σ_{i∈S} π_i Σ_j a_ij erf(w_ijᵀx/√D), A = 1/(a·h), R = a,
//                                   expert LR × H_act (mean-field time) — features move Θ(1);
//   SP / NTK:                       f = (1/√h)·Σ_{i∈S} π_i Σ_j a_ij erf(w_ijᵀx/√D), width-free LR —
//                                   features move O(h^{-1/2}) (lazy).
// The router's logits r_iᵀx/√D get a width-free LR in both. The measured quantity is the relative
// movement ‖Φ(T) − Φ(0)‖_F/‖Φ(0)‖_F of the hidden features Φ = erf(WX/√D) on the sample.
#pragma once

#include "muelab/sim/counter_rng.hpp"

#include <cstdint>
#include <vector>

namespace muelab::sim::meanfield {

enum class WidthScaling { mean_field, ntk };

struct ErfNetworkSpec {
  int input_dim = 8;      ///< D
  int n_experts = 1;      ///< N (1: dense)
  int n_active = 1;       ///< a
  int expert_width = 64;  ///< h (dense: H)
  WidthScaling scaling = WidthScaling::mean_field;
  double learning_rate = 0.5;
  int steps = 100;
  int samples = 64;       ///< fixed Gaussian sample size n
  void validate() const;  ///< throws std::invalid_argument naming the bad field
};

struct ErfRun {
  std::vector<double> loss;  ///< training loss at steps 0..steps
  double relative_feature_movement = 0.0;
};

/// Trains one network; weights keyed by (path), the data set by (data_path) (teacher
/// y = erf(β₁ᵀx/√D) − erf(β₂ᵀx/√D), β's drawn once from data_path).
[[nodiscard]] ErfRun train_erf_network(const ErfNetworkSpec& spec, const CounterRng& rng, std::uint64_t path,
                                       std::uint64_t data_path);

}  // namespace muelab::sim::meanfield
