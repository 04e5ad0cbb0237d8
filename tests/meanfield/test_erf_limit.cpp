// Tests of the nonlinear (erf) mean-field limit (docs/theory.md §8 "Nonlinear"; erf_expectations.hpp,
// erf_limit.hpp): closed-form Gaussian expectations against Monte Carlo and hand values, the
// quadrature rules, the quadrature velocity against the closed-form one and against finite
// differences of the population loss and (top-a router) against a Monte Carlo mean of per-sample
// gradients, the Gauss–Hermite node reference against its own refinement
// and against a large-width particle system, and thread-count independence.
#include "muelab/sim/meanfield/erf_expectations.hpp"
#include "muelab/sim/meanfield/erf_limit.hpp"
#include "muelab/sim/statistics.hpp"

#include <catch2/catch.hpp>
#include <omp.h>

#include <cmath>
#include <cstdio>

using namespace muelab::sim;
using namespace muelab::sim::meanfield;

namespace {
std::vector<double> time_grid(double horizon, int samples) {
  std::vector<double> times;
  for (int k = 0; k < samples; ++k) times.push_back(horizon * k / (samples - 1));
  return times;
}
ErfLayerSpec dense_spec() { return ErfLayerSpec::dense({{1.5, 2.0}, {-1.0, 0.5}}); }
ErfLayerSpec moe_spec(int n_experts, int n_active) {
  auto spec = dense_spec();
  spec.n_experts = n_experts;
  spec.n_active = n_active;
  spec.output_multiplier_times_expert_width = 1.0 / n_active;  // A·h = d/a
  spec.route_scale = n_active;                                 // R = a
  spec.router_rate = 4.0;
  for (int i = 0; i < n_experts; ++i) {
    spec.initial_router_slope.push_back(-2.0 + 4.0 * i / std::max(1, n_experts - 1));
    spec.initial_router_bias.push_back(0.5 * std::cos(2.4 * i));
  }
  return spec;
}
double max_abs_difference(const std::vector<double>& x, const std::vector<double>& y) {
  double worst = 0.0;
  for (std::size_t k = 0; k < x.size(); ++k) worst = std::max(worst, std::abs(x[k] - y[k]));
  return worst;
}
}  // namespace

TEST_CASE("erf pair expectation: hand values", "[meanfield][erf]") {
  // q_uu = q_vv = q_uv = 1: (2/π) arcsin(1/2) = 1/3; independent units: 0; u = v → (2/π) arcsin(q/(1+q)).
  CHECK(erf_pair_expectation(1.0, 1.0, 1.0) == Approx(1.0 / 3.0).epsilon(1e-15));
  CHECK(erf_pair_expectation(2.0, 3.0, 0.0) == Approx(0.0).margin(1e-16));
  CHECK(erf_pair_expectation(3.0, 3.0, 3.0) == Approx(2.0 / std::numbers::pi * std::asin(0.75)).epsilon(1e-15));
  CHECK(erf_scalar_overlap(1.0, 1.0) == Approx(1.0 / 3.0).epsilon(1e-15));
  CHECK(erf_activation(1.0) == Approx(std::erf(1.0 / std::sqrt(2.0))).epsilon(1e-15));
}

TEST_CASE("erf pair expectation matches Monte Carlo within 4 standard errors", "[meanfield][erf]") {
  const std::uint64_t seed = 4242;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const CounterRng rng(seed, 1);
  struct Case {
    double q_uu, q_vv, q_uv;
  };
  std::uint64_t index = 0;
  for (const Case c : {Case{1.0, 1.0, 0.5}, Case{0.3, 4.0, -0.9}, Case{2.5, 0.7, 1.2}}) {
    // u = √q_uu z₁, v = ρ√q_vv z₁ + √(1−ρ²)√q_vv z₂ with ρ = q_uv/√(q_uu q_vv).
    const double rho = c.q_uv / std::sqrt(c.q_uu * c.q_vv);
    const int samples = 200000;
    std::vector<double> products(samples);
    for (int s = 0; s < samples; ++s) {
      const double z1 = rng.normal(index, static_cast<std::uint64_t>(s), 0, 0);
      const double z2 = rng.normal(index, static_cast<std::uint64_t>(s), 0, 1);
      const double u = std::sqrt(c.q_uu) * z1;
      const double v = std::sqrt(c.q_vv) * (rho * z1 + std::sqrt(1.0 - rho * rho) * z2);
      products[static_cast<std::size_t>(s)] = erf_activation(u) * erf_activation(v);
    }
    const auto estimate = mean_with_standard_error(products);
    const double exact = erf_pair_expectation(c.q_uu, c.q_vv, c.q_uv);
    std::printf("q = (%.1f, %.1f, %.1f): closed form %.5f, Monte Carlo %.5f ± %.5f\n", c.q_uu, c.q_vv, c.q_uv, exact,
                estimate.mean, estimate.standard_error);
    CHECK(std::abs(estimate.mean - exact) < 4.0 * estimate.standard_error);
    ++index;
  }
}

TEST_CASE("slope of the scalar-input overlap matches finite differences", "[meanfield][erf]") {
  const double step = 1e-6;
  for (const auto& [w, other] : {std::pair{0.3, 1.7}, std::pair{-2.0, 0.4}, std::pair{1.1, -3.0}, std::pair{4.0, 2.5}}) {
    const double numeric = (erf_scalar_overlap(w + step, other) - erf_scalar_overlap(w - step, other)) / (2 * step);
    CHECK(erf_scalar_overlap_slope(w, other) == Approx(numeric).epsilon(1e-7));
  }
}

TEST_CASE("Gauss-Hermite, Gauss-Legendre and Gaussian panel rules integrate what they should", "[meanfield][erf]") {
  const auto hermite = gauss_hermite_rule(12);
  double mass = 0.0, second = 0.0, fourth = 0.0, sixth = 0.0;
  for (std::size_t k = 0; k < hermite.nodes.size(); ++k) {
    const double x = hermite.nodes[k];
    mass += hermite.weights[k];
    second += hermite.weights[k] * x * x;
    fourth += hermite.weights[k] * x * x * x * x;
    sixth += hermite.weights[k] * std::pow(x, 6);
  }
  CHECK(mass == Approx(1.0).epsilon(1e-14));
  CHECK(second == Approx(1.0).epsilon(1e-13));
  CHECK(fourth == Approx(3.0).epsilon(1e-13));
  CHECK(sixth == Approx(15.0).epsilon(1e-12));
  const auto legendre = gauss_legendre_rule(6);
  double integral = 0.0;
  for (std::size_t k = 0; k < legendre.nodes.size(); ++k) integral += legendre.weights[k] * std::pow(legendre.nodes[k] + 1.0, 11);
  CHECK(integral == Approx(std::pow(2.0, 12) / 12.0).epsilon(1e-13));  // ∫_{-1}^{1} (x+1)^11 dx
  // Panels cut at arbitrary breakpoints reproduce the closed form (E2) of E φ(w x) φ(w' x).
  for (const auto& breakpoints : {std::vector<double>{}, std::vector<double>{-0.37, 0.2, 2.9, 11.0}}) {
    const auto panels = gaussian_panels(breakpoints, 7.0, 1.4, 12);
    for (const auto& [w, other] : {std::pair{0.5, 1.3}, std::pair{-2.0, 3.5}, std::pair{4.0, 4.0}}) {
      double sum = 0.0;
      for (const auto& panel : panels)
        for (std::size_t k = 0; k < panel.nodes.size(); ++k)
          sum += panel.weights[k] * erf_activation(w * panel.nodes[k]) * erf_activation(other * panel.nodes[k]);
      CHECK(sum == Approx(erf_scalar_overlap(w, other)).margin(1e-10));
    }
  }
}

TEST_CASE("x-quadrature velocity and loss equal the closed-form (E2) ones for the dense layer", "[meanfield][erf]") {
  const std::uint64_t seed = 17;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto spec = dense_spec();
  for (int width : {16, 200}) {
    const auto state = sample_erf_state(spec, width, CounterRng(seed), static_cast<std::uint64_t>(width));
    const auto by_quadrature = erf_layer_velocity(spec, state, state.values);
    const auto closed_form = erf_dense_velocity_closed_form(spec, state, state.values);
    const double worst = max_abs_difference(by_quadrature, closed_form);
    std::printf("width %d: max velocity difference %.3e\n", width, worst);
    CHECK(worst < 1e-9);
    CHECK(observe_erf_layer(spec, state, state.values).loss ==
          Approx(erf_dense_loss_closed_form(spec, state, state.values)).epsilon(1e-11));
  }
}

TEST_CASE("velocity is minus the mean-field-time gradient of the population loss (finite differences)", "[meanfield][erf][moe]") {
  const std::uint64_t seed = 23;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  // a = N: no routing boundaries, so the population loss is smooth in the router too.
  // Top-2 of 5 experts: boundaries move only with the router, so expert-unit gradients are exact.
  for (const auto& [experts, active] : {std::pair{1, 1}, std::pair{3, 3}, std::pair{5, 2}}) {
    const auto spec = experts == 1 ? dense_spec() : moe_spec(experts, active);
    const int width = 6;
    auto state = sample_erf_state(spec, width, CounterRng(seed), 0);
    const auto velocity = erf_layer_velocity(spec, state, state.values);
    const double rate = static_cast<double>(active) * width;  // H_act/d
    const std::size_t router_start = static_cast<std::size_t>(experts) * 2 * width;
    for (std::size_t k = 0; k < state.values.size(); ++k) {
      const bool router = k >= router_start;
      if (router && active < experts) continue;  // per-sample gradient ≠ population gradient at moving boundaries
      const double step = 1e-5;
      auto plus = state.values, minus = state.values;
      plus[k] += step;
      minus[k] -= step;
      const double gradient = (observe_erf_layer(spec, state, plus).loss - observe_erf_layer(spec, state, minus).loss) / (2 * step);
      const double expected = router ? -spec.router_rate * gradient : -rate * gradient;
      CHECK(velocity[k] == Approx(expected).margin(1e-8).epsilon(1e-6));
    }
  }
}

TEST_CASE("top-a router velocity is the Gaussian mean of per-sample gradients (Monte Carlo, 4 SE)", "[meanfield][erf][moe]") {
  // With a < N the population loss has boundary terms where the top-a set changes; the router
  // follows E_x[∇ per-sample loss] (as sample-based training does). Check it against a Monte Carlo
  // mean of per-sample finite differences of ½(f(x) − y(x))² built from erf_layer_output.
  const std::uint64_t seed = 31;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto spec = moe_spec(5, 2);
  const auto state = sample_erf_state(spec, 4, CounterRng(seed), 0);
  const auto velocity = erf_layer_velocity(spec, state, state.values);
  const CounterRng rng(seed, 2);
  const int samples = 100000;
  const std::size_t router_start = 5 * 2 * 4;
  const double step = 1e-6;
  for (std::size_t k = router_start; k < state.values.size(); ++k) {
    std::vector<double> per_sample(samples);
    auto plus = state.values, minus = state.values;
    plus[k] += step;
    minus[k] -= step;
    for (int s = 0; s < samples; ++s) {
      const double x = rng.normal(k, static_cast<std::uint64_t>(s), 0, 0);
      double y = 0.0;
      for (const auto& unit : spec.teacher) y += unit.output * erf_activation(unit.slope * x);
      const double up = erf_layer_output(spec, state, plus, x) - y;
      const double down = erf_layer_output(spec, state, minus, x) - y;
      per_sample[static_cast<std::size_t>(s)] = -spec.router_rate * (0.5 * up * up - 0.5 * down * down) / (2 * step);
    }
    const auto estimate = mean_with_standard_error(per_sample);
    std::printf("router parameter %zu: velocity %.5f, Monte Carlo %.5f ± %.5f\n", k - router_start, velocity[k],
                estimate.mean, estimate.standard_error);
    CHECK(std::abs(estimate.mean - velocity[k]) < 4.0 * estimate.standard_error + 1e-9);
  }
}

TEST_CASE("Dormand-Prince reference: tolerance 1e-9 is converged and the node quadrature converges", "[meanfield][erf][limit]") {
  const auto spec = dense_spec();
  const auto times = time_grid(3.0, 7);
  const auto coarse = integrate_erf_limit(spec, limit_initial_erf_state(spec, 8), times, 1e-9);
  const auto fine = integrate_erf_limit(spec, limit_initial_erf_state(spec, 8), times, 1e-12);
  const auto tolerance_gap = erf_deviation(coarse, fine);
  std::printf("rel. tol. 1e-9 vs 1e-12: loss %.2e, order parameters %.2e\n", tolerance_gap.loss, tolerance_gap.order_parameters);
  CHECK(tolerance_gap.loss < 1e-8);
  CHECK(tolerance_gap.order_parameters < 1e-7);
  // Closed-form and quadrature velocities give the same reference.
  const auto closed = integrate_erf_limit(spec, limit_initial_erf_state(spec, 8), times, 1e-9, ErfVelocity::closed_form);
  CHECK(erf_deviation(coarse, closed).loss < 1e-8);
  // Refining the Gauss–Hermite product rule of the initial law: successive gaps shrink.
  std::vector<ErfTrajectory> references;
  for (int nodes : {12, 20, 28}) references.push_back(integrate_erf_limit(spec, limit_initial_erf_state(spec, nodes), times, 1e-9));
  const auto gap_12 = erf_deviation(references[0], references[2]);
  const auto gap_20 = erf_deviation(references[1], references[2]);
  std::printf("nodes/axis 12 vs 28: loss %.2e; 20 vs 28: loss %.2e, order parameters %.2e\n", gap_12.loss, gap_20.loss,
              gap_20.order_parameters);
  CHECK(gap_20.loss < 0.5 * gap_12.loss);
  CHECK(gap_20.loss < 1e-4);
  CHECK(gap_20.order_parameters < 1e-3);
}

TEST_CASE("node reference agrees with a large-width particle system within its standard error", "[meanfield][erf][limit]") {
  const std::uint64_t seed = 99;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto spec = dense_spec();
  const auto times = time_grid(3.0, 7);
  const auto reference = integrate_erf_limit(spec, limit_initial_erf_state(spec, 32), times, 1e-9);
  const int seeds = 8;
  const auto runs = simulate_erf_ensemble(spec, {256, 4096}, seeds, seed, times, 0.1);
  std::vector<double> rms(2, 0.0);
  for (std::size_t w = 0; w < 2; ++w) {
    std::vector<double> signed_gap;
    for (const auto& run : runs[w]) {
      signed_gap.push_back(run.loss.back() - reference.loss.back());
      rms[w] += signed_gap.back() * signed_gap.back() / seeds;
    }
    rms[w] = std::sqrt(rms[w]);
    const auto gap = mean_with_standard_error(signed_gap);
    std::printf("width %s: L_h(T) - L_ref(T) = %.2e ± %.2e (SE), rms %.2e\n", w == 0 ? "256" : "4096", gap.mean,
                gap.standard_error, rms[w]);
    CHECK(std::abs(gap.mean) < 4.0 * gap.standard_error);
  }
  // Fluctuations shrink as h^{-1/2}: 16× the width, 1/4 the rms (8 seeds: bounds [1/8, 1/2]).
  CHECK(rms[1] / rms[0] > 0.125);
  CHECK(rms[1] / rms[0] < 0.5);
}

TEST_CASE("erf ensembles give identical numbers for 1 and 2 OpenMP threads", "[meanfield][erf][determinism]") {
  const std::uint64_t seed = 77;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto spec = moe_spec(4, 2);
  const auto times = time_grid(1.0, 3);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = simulate_erf_ensemble(spec, {8, 16}, 3, seed, times, 0.25);
  omp_set_num_threads(2);
  const auto two = simulate_erf_ensemble(spec, {8, 16}, 3, seed, times, 0.25);
  omp_set_num_threads(saved);
  for (std::size_t w = 0; w < 2; ++w)
    for (std::size_t s = 0; s < 3; ++s) {
      CHECK(one[w][s].loss == two[w][s].loss);
      CHECK(one[w][s].order_parameters == two[w][s].order_parameters);
    }
}

TEST_CASE("bad erf specifications are rejected with the field name", "[meanfield][erf][input]") {
  auto spec = moe_spec(4, 2);
  spec.n_active = 5;
  CHECK_THROWS_WITH(spec.validate(), Catch::Contains("n_active"));
  spec = moe_spec(4, 2);
  spec.initial_router_bias.pop_back();
  CHECK_THROWS_WITH(spec.validate(), Catch::Contains("initial_router"));
  spec = dense_spec();
  spec.teacher.clear();
  CHECK_THROWS_WITH(spec.validate(), Catch::Contains("teacher"));
  CHECK_THROWS_WITH(limit_initial_erf_state(dense_spec(), 1), Catch::Contains("nodes_per_axis"));
  CHECK_THROWS_WITH(integrate_erf_limit(moe_spec(4, 2), limit_initial_erf_state(moe_spec(4, 2), 4), {0.0, 1.0}, 1e-9,
                                        ErfVelocity::closed_form),
                    Catch::Contains("closed_form"));
}
