// What the mean-field experiments share (docs/theory.md §8): the experiment constructors registered by
// registrar.cpp, the linear layers of meanfield-convergence and meanfield-bridge1 with their
// Complete-muE multipliers from theory/ (docs/theory.md §5.1), and small grid helpers.
#pragma once

#include "muelab/experiments/registry.hpp"
#include "muelab/sim/meanfield/linear_network.hpp"

#include <Eigen/Core>

#include <chrono>
#include <vector>

namespace muelab::experiments::meanfield {

/// One constructor per experiment, each in the source file named after the experiment id.
[[nodiscard]] Experiment make_meanfield_convergence_experiment();
[[nodiscard]] Experiment make_meanfield_bridge1_experiment();
[[nodiscard]] Experiment make_meanfield_jiang_dmft_experiment();
[[nodiscard]] Experiment make_meanfield_feature_learning_experiment();
[[nodiscard]] Experiment make_meanfield_nonlinear_experiment();

/// 2^first, ..., 2^last (empty when last < first).
[[nodiscard]] std::vector<int> powers_of_two(int first_exponent, int last_exponent);

/// `samples` equally spaced times on [0, horizon] (just {0} for fewer than 2 samples).
[[nodiscard]] std::vector<double> time_grid(double horizon, int samples);

[[nodiscard]] double seconds_since(std::chrono::steady_clock::time_point start);

/// Teacher of the linear experiments: D = 4, |β| ≈ 2.1 (any direction works; the limit only sees |β|).
[[nodiscard]] Eigen::VectorXd linear_teacher();

/// The dense layer of docs/theory.md §8 with width H: A = d/H (d = 1, scalar output), from theory/.
[[nodiscard]] sim::meanfield::LinearNetworkSpec dense_layer(const Eigen::VectorXd& teacher, int width);

/// Fixed-router MoE (N experts, a active, cyclic balanced routing, uniform gates normalized over the
/// active set) with Complete-muE's A = d/H_act and R = a, or R = 1 when the route scale is removed.
[[nodiscard]] sim::meanfield::LinearNetworkSpec routed_layer(const Eigen::VectorXd& teacher, int n_experts, int n_active,
                                                             int expert_width, bool route_scale_active);

}  // namespace muelab::experiments::meanfield
