// Tests of the linear mean-field limit (docs/theory.md §8): the ODE against the hand-solved closed
// form, closure of the order-parameter system at finite width, the exact GD map, the MoE analogue
// ((M1)–(M3) in linear_network.hpp) and Bridge I, and thread-count independence of ensembles.
#include "muelab/sim/meanfield/linear_network.hpp"
#include "muelab/sim/meanfield/linear_particles.hpp"
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
double max_abs_difference(const std::vector<double>& x, const std::vector<double>& y) {
  double worst = 0.0;
  for (std::size_t k = 0; k < x.size(); ++k) worst = std::max(worst, std::abs(x[k] - y[k]));
  return worst;
}
}  // namespace

TEST_CASE("closed form of the scalar limit satisfies its ODE (hand calculation)", "[meanfield][linear]") {
  // ds/dτ = 2√(1+s²)(|β| − s): at s = 0 the slope is 2|β|; s → |β| as τ → ∞; u = √(1+s²).
  const double beta = 1.5;
  const auto at_zero = dense_limit_closed_form(beta, 0.0, 1);
  CHECK(at_zero.s == Approx(0.0).margin(1e-15));
  CHECK(at_zero.u == Approx(1.0).epsilon(1e-15));
  const double step = 1e-6;
  const double slope = (dense_limit_closed_form(beta, step, 1).s - dense_limit_closed_form(beta, -step, 1).s) / (2 * step);
  CHECK(slope == Approx(2.0 * beta).epsilon(1e-8));
  for (double t : {0.1, 0.5, 2.0}) {
    const auto x = dense_limit_closed_form(beta, t, 1);
    const double rate = (dense_limit_closed_form(beta, t + step, 1).s - dense_limit_closed_form(beta, t - step, 1).s) / (2 * step);
    CHECK(rate == Approx(2.0 * std::sqrt(1.0 + x.s * x.s) * (beta - x.s)).epsilon(1e-7));
    CHECK(x.u == Approx(std::sqrt(1.0 + x.s * x.s)).epsilon(1e-13));
  }
  CHECK(dense_limit_closed_form(beta, 40.0, 1).s == Approx(beta).epsilon(1e-12));
}

TEST_CASE("Dormand-Prince limit of the dense layer matches the closed form (D = 1 and D = 4)", "[meanfield][linear]") {
  for (int dim : {1, 4}) {
    const std::vector<double> values = dim == 1 ? std::vector<double>{1.2} : std::vector<double>{1.2, 0.0, 0.0, -0.9};
    const Eigen::VectorXd teacher = Eigen::Map<const Eigen::VectorXd>(values.data(), dim);
    const auto spec = LinearNetworkSpec::dense(teacher);
    const auto times = time_grid(3.0 * dim, 31);
    const auto trajectory = integrate_limit(spec, limit_initial_order_parameters(spec), times, 1e-9);
    const Eigen::VectorXd direction = teacher.normalized();
    double worst = 0.0;
    for (std::size_t k = 0; k < times.size(); ++k) {
      const auto exact = dense_limit_closed_form(teacher.norm(), times[k], dim);
      const auto op = unpack(spec, trajectory.order_parameters[k]);
      const Eigen::VectorXd v_exact = exact.s * direction;
      const Eigen::MatrixXd C_exact =
          Eigen::MatrixXd::Identity(dim, dim) + (exact.u - 1.0) * direction * direction.transpose();
      worst = std::max({worst, (op[0].v - v_exact).norm() / teacher.norm(), (op[0].C - C_exact).norm(),
                        std::abs(op[0].c - exact.u) / exact.u});
      const double loss_exact = 0.5 * (teacher.norm() - exact.s) * (teacher.norm() - exact.s) / dim;
      CHECK(trajectory.loss[k] == Approx(loss_exact).epsilon(1e-7).margin(1e-12));
    }
    std::printf("D = %d: worst relative deviation of the Dormand-Prince limit from the closed form %.3e\n", dim, worst);
    CHECK(worst < 1e-7);
  }
}

TEST_CASE("order-parameter ODE is closed at finite width: particles follow it exactly", "[meanfield][linear]") {
  const std::uint64_t seed = 11;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  Eigen::VectorXd teacher(3);
  teacher << 1.0, -0.5, 0.8;
  for (const auto& spec : {LinearNetworkSpec::dense(teacher), LinearNetworkSpec::cyclic_moe(4, 2, 0.5, 2.0, teacher)}) {
    const int width = 16;
    const auto particles = sample_linear_particles(spec, width, CounterRng(seed), 0);
    const auto times = time_grid(6.0, 13);
    const auto flow = simulate_particle_flow(spec, width, particles, times, 0.01);
    const auto ode = integrate_limit(spec, particle_order_parameters(spec, width, particles), times, 1e-10);
    double worst = 0.0;
    for (std::size_t k = 0; k < times.size(); ++k)
      worst = std::max(worst, max_abs_difference(flow.order_parameters[k], ode.order_parameters[k]));
    std::printf("experts %d: particle flow vs order-parameter ODE, max difference %.3e\n", spec.n_experts, worst);
    CHECK(worst < 1e-7);

    const auto descent = simulate_particle_gradient_descent(spec, width, particles, 0.1, 60, 10);
    const auto map = iterate_gradient_descent_limit(spec, particle_order_parameters(spec, width, particles), 0.1, 60, 10);
    double worst_gd = 0.0;
    for (std::size_t k = 0; k < descent.times.size(); ++k)
      worst_gd = std::max(worst_gd, max_abs_difference(descent.order_parameters[k], map.order_parameters[k]));
    std::printf("experts %d: particle GD vs exact GD map, max difference %.3e\n", spec.n_experts, worst_gd);
    CHECK(worst_gd < 1e-11);
  }
}

TEST_CASE("MoE limit: each expert is the dense limit driven by its data fraction a/N", "[meanfield][moe]") {
  // Balanced cyclic routing, uniform gates, R = a, A·h = 1/a: in the limit all experts coincide and
  // G_i = κ (v − β)/D, so the MoE limit at time t equals the dense limit at time κ t ((M2)).
  Eigen::VectorXd teacher(2);
  teacher << 1.0, 0.7;
  const int n_experts = 8;
  const int active = 2;
  const double kappa = static_cast<double>(active) / n_experts;
  const auto moe = LinearNetworkSpec::cyclic_moe(n_experts, active, 1.0 / active, active, teacher);
  const auto dense = LinearNetworkSpec::dense(teacher);
  const auto times = time_grid(16.0, 17);
  std::vector<double> dense_times;
  for (double t : times) dense_times.push_back(kappa * t);
  const auto moe_limit = integrate_limit(moe, limit_initial_order_parameters(moe), times);
  const auto dense_limit = integrate_limit(dense, limit_initial_order_parameters(dense), dense_times);
  for (std::size_t k = 0; k < times.size(); ++k) CHECK(moe_limit.loss[k] == Approx(dense_limit.loss[k]).epsilon(1e-7));
}

TEST_CASE("Bridge I: Dense MoE (a = N, R = N, uniform gates) equals the dense layer of width N·h", "[meanfield][moe][bridge1]") {
  const std::uint64_t seed = 5;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  Eigen::VectorXd teacher(3);
  teacher << 0.9, 0.1, -1.1;
  const int n_experts = 4;
  const int expert_width = 8;
  const auto dense = LinearNetworkSpec::dense(teacher);
  const auto dense_moe = LinearNetworkSpec::cyclic_moe(n_experts, n_experts, 1.0 / n_experts, n_experts, teacher);
  const auto no_route_scale = LinearNetworkSpec::cyclic_moe(n_experts, n_experts, 1.0 / n_experts, 1.0, teacher);

  // Finite width: the MoE's experts are slices of the dense layer's particles.
  const int width = n_experts * expert_width;
  const auto dense_particles = sample_linear_particles(dense, width, CounterRng(seed), 0);
  LinearParticles moe_particles;
  for (int i = 0; i < n_experts; ++i) {
    for (int j = 0; j < expert_width; ++j) moe_particles.push_back(dense_particles[static_cast<std::size_t>(i * expert_width + j)]);
    for (int j = 0; j < expert_width; ++j)
      for (int k = 0; k < dense.input_dim; ++k)
        moe_particles.push_back(dense_particles[static_cast<std::size_t>(width + (i * expert_width + j) * dense.input_dim + k)]);
  }
  const auto times = time_grid(5.0, 11);
  const auto dense_run = simulate_particle_flow(dense, width, dense_particles, times, 0.01);
  const auto moe_run = simulate_particle_flow(dense_moe, expert_width, moe_particles, times, 0.01);
  for (std::size_t k = 0; k < times.size(); ++k) CHECK(moe_run.loss[k] == Approx(dense_run.loss[k]).epsilon(1e-12));

  // The limit: identical with R = N, separated without the route scale.
  const auto dense_limit = integrate_limit(dense, limit_initial_order_parameters(dense), times);
  const auto moe_limit = integrate_limit(dense_moe, limit_initial_order_parameters(dense_moe), times);
  const auto control = integrate_limit(no_route_scale, limit_initial_order_parameters(no_route_scale), times);
  double gap = 0.0;
  double control_gap = 0.0;
  for (std::size_t k = 0; k < times.size(); ++k) {
    gap = std::max(gap, std::abs(moe_limit.loss[k] - dense_limit.loss[k]) / dense_limit.loss[0]);
    control_gap = std::max(control_gap, std::abs(control.loss[k] - dense_limit.loss[k]) / dense_limit.loss[0]);
  }
  std::printf("Bridge I limit gap %.3e, without route scale %.3e\n", gap, control_gap);
  CHECK(gap < 1e-8);
  CHECK(control_gap > 0.05);
}

TEST_CASE("ensembles give identical numbers for 1 and 2 OpenMP threads", "[meanfield][determinism]") {
  const std::uint64_t seed = 2024;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  Eigen::VectorXd teacher(2);
  teacher << 1.0, -1.0;
  const auto spec = LinearNetworkSpec::cyclic_moe(4, 2, 0.5, 2.0, teacher);
  LinearConvergenceSettings settings;
  settings.horizon = 4.0;
  settings.samples = 9;
  settings.rk4_step = 0.05;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = run_linear_convergence_ensemble(spec, {4, 8, 16}, 5, seed, settings);
  omp_set_num_threads(2);
  const auto two = run_linear_convergence_ensemble(spec, {4, 8, 16}, 5, seed, settings);
  omp_set_num_threads(saved);
  CHECK(one.loss_deviation == two.loss_deviation);
  CHECK(one.order_parameter_deviation == two.order_parameter_deviation);
}

TEST_CASE("finite-width deviation from the limit decays as width^(-1/2)", "[meanfield][convergence]") {
  const std::uint64_t seed = 31;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  Eigen::VectorXd teacher(2);
  teacher << 1.2, 0.4;
  const auto spec = LinearNetworkSpec::dense(teacher);
  LinearConvergenceSettings settings;
  settings.horizon = 8.0;
  settings.samples = 17;
  settings.rk4_step = 0.05;
  const std::vector<int> widths = {32, 64, 128, 256, 512, 1024};
  const auto ensemble = run_linear_convergence_ensemble(spec, widths, 24, seed, settings);
  std::vector<double> x;
  std::vector<double> y;
  for (std::size_t w = 0; w < widths.size(); ++w) {
    x.push_back(widths[w]);
    y.push_back(mean_with_standard_error(ensemble.order_parameter_deviation[w]).mean);
  }
  const auto fit = fit_power_law(x, y);
  std::printf("slope %.3f ± %.3f (SE)\n", fit.slope, fit.slope_standard_error);
  // Tolerance: 3 fit standard errors plus the seed-to-seed scatter of mean deviations (24 seeds:
  // relative SE of each mean ≈ 0.6/√24 ≈ 0.12, i.e. ≈ 0.1 in slope over a 5-octave range).
  CHECK(std::abs(fit.slope + 0.5) < 3.0 * fit.slope_standard_error + 0.1);
}

TEST_CASE("bad specifications are rejected with the field name", "[meanfield][input]") {
  Eigen::VectorXd teacher(2);
  teacher << 1.0, 0.0;
  CHECK_THROWS_WITH(LinearNetworkSpec::cyclic_moe(4, 5, 1.0, 1.0, teacher), Catch::Contains("n_active"));
  auto spec = LinearNetworkSpec::dense(teacher);
  spec.routes[0].probability = 0.5;
  CHECK_THROWS_WITH(spec.validate(), Catch::Contains("routes"));
}
