// Tests of the expert-count axis of the nonlinear MoE mean-field limit (erf_expert_count.hpp;
// README "Expert-count limit"; docs/theory.md §8 "Nonlinear", §5.1): N = 1 is the dense layer in closed
// form (E2); κ = 1 with a flat router is the dense layer of width N·h (Bridge I on the N axis);
// the velocity is minus the mean-field-time gradient of the design loss, router included; the
// dynamics depend on the experts only through their empirical measure (replication invariance,
// which makes the N → ∞ limit a measure-valued flow); the R = 1 limit in closed form; finite-N
// deviations shrink as N^{-1/2}; thread-count independence; bad input.
#include "muelab/sim/meanfield/erf_expert_count.hpp"
#include "muelab/sim/statistics.hpp"

#include <catch2/catch.hpp>
#include <omp.h>

#include <cmath>
#include <cstdio>

using namespace muelab::sim;
using namespace muelab::sim::meanfield;

namespace {
std::vector<double> grid(double horizon, int samples) {
  std::vector<double> times;
  for (int k = 0; k < samples; ++k) times.push_back(horizon * k / (samples - 1));
  return times;
}
ErfExpertCountSpec count_spec(double active_fraction, int expert_width, int design_nodes) {
  ErfExpertCountSpec spec;
  spec.active_fraction = active_fraction;
  spec.expert_width = expert_width;
  spec.teacher = {{1.5, 2.0}, {-1.0, 0.5}};
  spec.inputs = gauss_hermite_rule(design_nodes);
  return spec;
}
double max_abs_difference(const std::vector<double>& x, const std::vector<double>& y) {
  double worst = 0.0;
  for (std::size_t k = 0; k < x.size(); ++k) worst = std::max(worst, std::abs(x[k] - y[k]));
  return worst;
}
}  // namespace

TEST_CASE("expert-count layer at N = 1 is the dense erf layer: velocity and loss match closed form (E2)",
          "[meanfield][erf][expert-count]") {
  const std::uint64_t seed = 911;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto spec = count_spec(1.0, 6, 120);
  const auto layer = spec.layer(1);
  REQUIRE_FALSE(layer.routed());
  CHECK(layer.output_multiplier_times_expert_width * layer.route_scale == 1.0);  // A·h·R = 1
  const auto state = sample_expert_count_state(spec, 1, CounterRng(seed, 3), 0);
  const auto on_design = erf_design_velocity(layer, state, state.values, spec.inputs);
  const auto closed = erf_dense_velocity_closed_form(layer, state, state.values);
  CHECK(max_abs_difference(on_design, closed) < 1e-9);
  CHECK(observe_erf_design(layer, state, state.values, spec.inputs).loss ==
        Approx(erf_dense_loss_closed_form(layer, state, state.values)).margin(1e-10));
}

TEST_CASE("kappa = 1 with a flat router is the dense erf layer of width N*h (Bridge I on the N axis)",
          "[meanfield][erf][expert-count][bridge1]") {
  const std::uint64_t seed = 912;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  auto spec = count_spec(1.0, 3, 120);
  spec.router_slope_range = 0.0;  // r = 0
  spec.router_bias_range = 0.0;   // c = 0: all gates 1/N, R·π_i = 1
  const int n = 5, h = 3;
  const auto layer = spec.layer(n);
  const auto moe = sample_expert_count_state(spec, n, CounterRng(seed, 4), 0);
  // The same units as one dense expert of width N·h (layout: a's then w's).
  ErfLayerState dense;
  dense.expert_nodes = n * h;
  dense.node_weights.assign(static_cast<std::size_t>(n * h), 1.0 / (n * h));
  dense.values.resize(static_cast<std::size_t>(2 * n * h));
  for (int e = 0; e < n; ++e)
    for (int m = 0; m < h; ++m) {
      const auto from = static_cast<std::size_t>(e * 2 * h + m);
      dense.values[static_cast<std::size_t>(e * h + m)] = moe.values[from];
      dense.values[static_cast<std::size_t>(n * h + e * h + m)] = moe.values[from + static_cast<std::size_t>(h)];
    }
  const auto dense_layer = spec.layer(1);
  const auto moe_velocity = erf_design_velocity(layer, moe, moe.values, spec.inputs);
  const auto dense_velocity = erf_dense_velocity_closed_form(dense_layer, dense, dense.values);
  double worst = 0.0;
  for (int e = 0; e < n; ++e)
    for (int m = 0; m < h; ++m) {
      const auto at = static_cast<std::size_t>(e * 2 * h + m);
      worst = std::max(worst, std::abs(moe_velocity[at] - dense_velocity[static_cast<std::size_t>(e * h + m)]));
      worst = std::max(worst, std::abs(moe_velocity[at + static_cast<std::size_t>(h)] -
                                       dense_velocity[static_cast<std::size_t>(n * h + e * h + m)]));
    }
  CHECK(worst < 1e-9);
  CHECK(observe_erf_design(layer, moe, moe.values, spec.inputs).loss ==
        Approx(erf_dense_loss_closed_form(dense_layer, dense, dense.values)).margin(1e-10));
}

TEST_CASE("expert-count velocity is minus the mean-field-time gradient of the design loss (finite differences)",
          "[meanfield][erf][expert-count]") {
  const std::uint64_t seed = 913;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto spec = count_spec(0.25, 3, 24);
  const int n = 8;
  const auto layer = spec.layer(n);
  const auto state = sample_expert_count_state(spec, n, CounterRng(seed, 5), 0);
  const auto velocity = erf_design_velocity(layer, state, state.values, spec.inputs);
  const std::size_t router = static_cast<std::size_t>(n * 2 * spec.expert_width);
  const double step = 1e-6;
  double worst = 0.0, largest = 0.0;
  for (std::size_t k = 0; k < state.values.size(); ++k) {
    auto plus = state.values, minus = state.values;
    plus[k] += step;
    minus[k] -= step;
    const double gradient = (observe_erf_design(layer, state, plus, spec.inputs).loss -
                             observe_erf_design(layer, state, minus, spec.inputs).loss) / (2.0 * step);
    // Units move at H_act/d = a·h times the gradient, the router rows at η_r = η̄_r·a (K2).
    const double rate = k < router ? layer.n_active * spec.expert_width : layer.router_rate;
    worst = std::max(worst, std::abs(velocity[k] + rate * gradient));
    largest = std::max(largest, std::abs(velocity[k]));
  }
  CHECK(largest > 1e-2);
  CHECK(worst < 1e-7);
}

TEST_CASE("expert-count dynamics depend only on the empirical measure of the experts (replication invariance)",
          "[meanfield][erf][expert-count][limit]") {
  const std::uint64_t seed = 914;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto spec = count_spec(0.25, 3, 24);
  const int n = 8, copies = 3, h = 3;
  const auto small = sample_expert_count_state(spec, n, CounterRng(seed, 6), 0);
  ErfLayerState replicated = small;
  const int big = n * copies;
  replicated.values.assign(static_cast<std::size_t>(big * 2 * h + 2 * big), 0.0);
  for (int e = 0; e < big; ++e) {
    const int source = e / copies;
    for (int m = 0; m < 2 * h; ++m)
      replicated.values[static_cast<std::size_t>(e * 2 * h + m)] = small.values[static_cast<std::size_t>(source * 2 * h + m)];
    replicated.values[static_cast<std::size_t>(big * 2 * h + e)] = small.values[static_cast<std::size_t>(n * 2 * h + source)];
    replicated.values[static_cast<std::size_t>(big * 2 * h + big + e)] =
        small.values[static_cast<std::size_t>(n * 2 * h + n + source)];
  }
  const auto times = grid(4.0, 5);
  const auto one = simulate_erf_design_flow(spec.layer(n), small, spec.inputs, times, 0.25);
  const auto many = simulate_erf_design_flow(spec.layer(big), replicated, spec.inputs, times, 0.25);
  for (std::size_t k = 0; k < times.size(); ++k) {
    CHECK(many.loss[k] == Approx(one.loss[k]).epsilon(1e-11));
    CHECK(max_abs_difference(many.order_parameters[k], one.order_parameters[k]) < 1e-11);
  }
  CHECK(std::abs(one.loss.back() - one.loss.front()) > 1e-2);  // it did move
}

TEST_CASE("R = 1 limit in closed form: the finite-N loss approaches 1/2 E y^2 and f vanishes",
          "[meanfield][erf][expert-count][control]") {
  const std::uint64_t seed = 915;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  auto spec = count_spec(0.25, 3, 24);
  spec.route_scale_active = false;
  const auto times = grid(2.0, 3);
  const auto limit = dropped_route_scale_limit(spec, times);
  const int n = 1024;
  const auto run = simulate_erf_design_flow(spec.layer(n), sample_expert_count_state(spec, n, CounterRng(seed, 7), 0),
                                            spec.inputs, times, 0.5);
  // f = (1/a)·(gate-weighted mean of a ≈ 256 random experts) = O(a^{-3/2}): 2e-3 is 50× that scale.
  for (std::size_t k = 0; k < times.size(); ++k) {
    CHECK(std::abs(run.loss[k] - limit.loss[k]) < 2e-3);
    CHECK(run.order_parameters[k][0] < 1e-4);  // E f²
  }
  CHECK(limit.loss.front() > 0.1);
}

TEST_CASE("finite-N deviation from a large-N reference shrinks as N^(-1/2) (24 seeds, 4 SE)",
          "[meanfield][erf][expert-count][convergence]") {
  const std::uint64_t seed = 916;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto spec = count_spec(0.25, 2, 16);
  const auto times = grid(4.0, 5);
  const int seeds = 24;
  const auto reference = mean_trajectory(simulate_expert_count_ensemble(spec, {8192}, 2, seed, 99, times, 0.5).front());
  const auto runs = simulate_expert_count_ensemble(spec, {16, 256}, seeds, seed, 1, times, 0.5);
  std::vector<double> coarse, fine;
  for (int s = 0; s < seeds; ++s) {
    coarse.push_back(erf_deviation(runs[0][static_cast<std::size_t>(s)], reference).order_parameters);
    fine.push_back(erf_deviation(runs[1][static_cast<std::size_t>(s)], reference).order_parameters);
  }
  const auto c = mean_with_standard_error(coarse);
  const auto f = mean_with_standard_error(fine);
  const double ratio = c.mean / f.mean;
  const double ratio_se = ratio * std::sqrt(std::pow(c.standard_error / c.mean, 2) + std::pow(f.standard_error / f.mean, 2));
  std::printf("deviation N=16: %.4g +- %.2g, N=256: %.4g +- %.2g, ratio %.3g +- %.2g (predicted 4)\n", c.mean,
              c.standard_error, f.mean, f.standard_error, ratio, ratio_se);
  CHECK(std::abs(ratio - 4.0) < 4.0 * ratio_se);
  CHECK(ratio_se < 1.0);  // the test can fail: an O(1) ratio (no convergence) is > 3 SE away
}

TEST_CASE("expert-count ensembles give identical numbers for 1 and 2 OpenMP threads",
          "[meanfield][erf][expert-count][determinism]") {
  const std::uint64_t seed = 917;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto spec = count_spec(0.25, 2, 12);
  const auto times = grid(1.0, 3);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = simulate_expert_count_ensemble(spec, {8, 16}, 3, seed, 1, times, 0.25);
  omp_set_num_threads(2);
  const auto two = simulate_expert_count_ensemble(spec, {8, 16}, 3, seed, 1, times, 0.25);
  omp_set_num_threads(saved);
  for (std::size_t c = 0; c < 2; ++c)
    for (std::size_t s = 0; s < 3; ++s) {
      CHECK(one[c][s].loss == two[c][s].loss);
      CHECK(one[c][s].order_parameters == two[c][s].order_parameters);
    }
}

TEST_CASE("bad expert-count specifications are rejected with the field name", "[meanfield][erf][expert-count][input]") {
  auto spec = count_spec(0.25, 3, 12);
  CHECK_THROWS_WITH(spec.layer(6), Catch::Contains("n_experts"));  // κN = 1.5
  CHECK_THROWS_WITH(spec.active_count(0), Catch::Contains("n_experts"));
  spec.active_fraction = 1.5;
  CHECK_THROWS_WITH(spec.validate(), Catch::Contains("active_fraction"));
  spec = count_spec(0.25, 0, 12);
  CHECK_THROWS_WITH(spec.validate(), Catch::Contains("expert_width"));
  spec = count_spec(0.25, 3, 12);
  spec.inputs.weights.pop_back();
  CHECK_THROWS_WITH(spec.validate(), Catch::Contains("inputs"));
  spec = count_spec(0.25, 3, 12);
  spec.teacher.clear();
  CHECK_THROWS_WITH(spec.validate(), Catch::Contains("teacher"));
}
