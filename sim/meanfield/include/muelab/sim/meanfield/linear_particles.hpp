// Finite-width simulations of the linear two-layer dense / fixed-router MoE networks of
// linear_network.hpp (docs/theory.md §8): every particle (a_ij, w_ij) is evolved explicitly, by gradient
// flow (classical RK4 through Boost.Odeint, step small enough that its O(dt⁴) error is far below the
// O(h^{-1/2}) finite-width effect) or by small-step gradient descent. Initial particles are
// a_ij ~ N(0, 1), w_ij ~ N(0, I_D) drawn from the counter-based RNG keyed by (path, expert, width),
// so an ensemble gives identical numbers for any OpenMP thread count.
#pragma once

#include "muelab/sim/counter_rng.hpp"
#include "muelab/sim/meanfield/linear_network.hpp"

#include <cstdint>
#include <vector>

namespace muelab::sim::meanfield {

/// Packed particles: per expert, a (h values) followed by W (D × h, column j = w_ij).
using LinearParticles = std::vector<double>;

[[nodiscard]] LinearParticles sample_linear_particles(const LinearNetworkSpec& spec, int expert_width,
                                                      const CounterRng& rng, std::uint64_t path);
/// Order parameters (v_i, C_i, c_i) of the particles.
[[nodiscard]] OrderParameters particle_order_parameters(const LinearNetworkSpec& spec, int expert_width,
                                                        const LinearParticles& particles);
/// Gradient-flow velocity of every particle: ȧ_ij = −w_ijᵀG_i, ẇ_ij = −a_ij G_i ((M2)).
[[nodiscard]] LinearParticles particle_velocity(const LinearNetworkSpec& spec, int expert_width,
                                                const LinearParticles& particles);

/// Gradient flow of the particles, RK4 with step `rk4_step`, sampled at `times`.
[[nodiscard]] LinearTrajectory simulate_particle_flow(const LinearNetworkSpec& spec, int expert_width,
                                                      LinearParticles particles, const std::vector<double>& times,
                                                      double rk4_step);
/// Gradient descent θ' = θ − η (H_act/d) ∂L/∂θ, recorded every `record_every` steps.
[[nodiscard]] LinearTrajectory simulate_particle_gradient_descent(const LinearNetworkSpec& spec, int expert_width,
                                                                  LinearParticles particles, double step, int steps,
                                                                  int record_every);

enum class LinearDynamics { gradient_flow, gradient_descent };

struct LinearConvergenceSettings {
  LinearDynamics dynamics = LinearDynamics::gradient_flow;
  double horizon = 10.0;       ///< final time (mean-field time units)
  int samples = 41;            ///< trajectory samples on [0, horizon]
  double rk4_step = 0.02;      ///< gradient flow only
  double descent_step = 0.05;  ///< gradient descent only (horizon/descent_step steps)
};

/// Deviations from the limit, indexed [width][seed]: max over the sampled times of |L_h − L_∞|
/// and of the Euclidean distance of the packed order parameters.
struct LinearConvergenceEnsemble {
  std::vector<int> expert_widths;
  int seeds = 0;
  std::vector<std::vector<double>> loss_deviation;
  std::vector<std::vector<double>> order_parameter_deviation;
  LinearTrajectory limit;  ///< the h = ∞ reference (Dormand–Prince at rel. tol. 1e-9, or the exact GD map)
  std::vector<LinearTrajectory> first_seed_runs;  ///< one finite-width trajectory per width (for figures)
};

/// Runs `seeds` independent finite-width runs per width in parallel (OpenMP over (width, seed)).
[[nodiscard]] LinearConvergenceEnsemble run_linear_convergence_ensemble(const LinearNetworkSpec& spec,
                                                                        const std::vector<int>& expert_widths,
                                                                        int seeds, std::uint64_t seed,
                                                                        const LinearConvergenceSettings& settings);

}  // namespace muelab::sim::meanfield
