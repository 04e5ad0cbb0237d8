// Experiments on the exact linear mean-field limit (THEORY.md §8, claims `meanfield-convergence`
// and `bridge1-exact` of §9).
#include "linear_experiments.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/sim/meanfield/linear_network.hpp"
#include "muelab/sim/meanfield/linear_particles.hpp"
#include "muelab/sim/statistics.hpp"
#include "muelab/theory/bridge.hpp"
#include "slope_fits.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <iostream>

namespace muelab::experiments::meanfield {

using namespace muelab::sim::meanfield;

namespace {

/// Teacher of the linear experiments: D = 4, |β| ≈ 2.1 (any direction works; the limit only sees |β|).
Eigen::VectorXd linear_teacher() {
  Eigen::VectorXd teacher(4);
  teacher << 1.5, -1.0, 0.5, 1.0;
  return teacher;
}

/// The dense layer of §8 with width H: A = d/H (d = 1, scalar output), taken from theory/ (§5.1).
LinearNetworkSpec dense_layer(const Eigen::VectorXd& teacher, int width) {
  theory::ModelConfig model;
  model.d_model = 1;
  model.ffn = theory::FfnKind::dense;
  model.d_ffn = width;
  auto spec = LinearNetworkSpec::dense(teacher);
  spec.output_multiplier_times_expert_width = theory::active_width_output_multiplier(model) * width;
  return spec;
}

/// Fixed-router MoE (N experts, a active, cyclic balanced routing, uniform gates normalized over the
/// active set) with Complete-muE's A = d/H_act and R = a, or R = 1 when the route scale is removed.
LinearNetworkSpec routed_layer(const Eigen::VectorXd& teacher, int n_experts, int n_active, int expert_width,
                               bool route_scale_active) {
  theory::ModelConfig model;
  model.d_model = 1;
  model.ffn = theory::FfnKind::moe;
  model.n_experts = n_experts;
  model.n_active = n_active;
  model.d_expert = expert_width;
  const double output_multiplier = theory::active_width_output_multiplier(model);
  const double route_scale = theory::complete_mue_route_scale(model, route_scale_active);
  return LinearNetworkSpec::cyclic_moe(n_experts, n_active, output_multiplier * expert_width, route_scale, teacher);
}

std::vector<int> powers_of_two(int first_exponent, int last_exponent) {
  std::vector<int> widths;
  for (int e = first_exponent; e <= last_exponent; ++e) widths.push_back(1 << e);
  return widths;
}

/// What one profile of meanfield-convergence runs (docs/claims.md, "Plans").
struct ConvergenceSettings {
  int dense_last_exponent = 12, moe_last_exponent = 10;  ///< widths 2^5 .. 2^last
  int dense_seeds = 64, moe_seeds = 48;
};

ConvergenceSettings convergence_settings(Profile profile) {
  ConvergenceSettings s;
  s.dense_last_exponent = by_profile(profile, 8, 12, 12);
  s.moe_last_exponent = by_profile(profile, 8, 10, 11);
  s.dense_seeds = by_profile(profile, 8, 64, 256);
  s.moe_seeds = by_profile(profile, 8, 48, 128);
  return s;
}

/// What one profile of meanfield-bridge1 runs.
struct Bridge1Settings {
  int seeds = 32, last_exponent = 8;  ///< expert widths 2^2 .. 2^last
};

Bridge1Settings bridge1_settings(Profile profile) {
  return {by_profile(profile, 4, 32, 128), by_profile(profile, 5, 8, 9)};
}

ClaimSpec slope_spec(const std::string& claim, VerdictKind kind) {
  return {claim, "log-log slope of the deviation from the limit against width", kind, Sidedness::two_sided, -0.5, 0.1};
}

struct ConvergenceCase {
  std::string name;
  LinearNetworkSpec spec;
  std::vector<int> widths;
  int seeds = 0;
  LinearConvergenceSettings settings;
};

}  // namespace

ExperimentPlan meanfield_convergence_plan(Profile profile) {
  const auto s = convergence_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"dense_widths", fmt::format("2^5..2^{}", s.dense_last_exponent)},
                   {"moe_expert_widths", fmt::format("2^5..2^{}", s.moe_last_exponent)},
                   {"dense_seeds", s.dense_seeds}, {"moe_seeds", s.moe_seeds}, {"bootstrap_resamples", 1000}};
  plan.claims["slope"] = slope_spec("meanfield-convergence", VerdictKind::claim);
  return plan;
}

ExperimentPlan meanfield_bridge1_plan(Profile profile) {
  const auto s = bridge1_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"n_experts", 8}, {"expert_widths", fmt::format("2^2..2^{}", s.last_exponent)}, {"seeds", s.seeds},
                   {"limit_rel_tol", 1e-9}};
  // Two independent Dormand–Prince solves at rel. tol. 1e-9 agree to ~1e-8.
  plan.claims["limit gap"] = {"bridge1-exact", "max_t gap between the Dense-MoE and dense limits", VerdictKind::claim,
                              Sidedness::at_most, 0.0, 1e-7};
  plan.claims["limit gap control"] = {"bridge1-exact", "max_t gap between the R=1 and dense limits", VerdictKind::control,
                                      Sidedness::at_most, 0.0, 1e-7};
  plan.claims["finite gap"] = {"bridge1-exact", "worst max_t |dL|/L(0), Dense MoE vs dense flow at finite width",
                               VerdictKind::claim, Sidedness::at_most, 0.0, 1e-10};
  plan.claims["slope"] = slope_spec("meanfield-convergence", VerdictKind::claim);
  plan.claims["slope control"] = slope_spec("meanfield-convergence", VerdictKind::control);
  return plan;
}

VerdictReport run_meanfield_convergence(const ExperimentOptions& options) {
  const auto settings = convergence_settings(options.profile);
  const auto plan = meanfield_convergence_plan(options.profile);
  const auto teacher = linear_teacher();
  std::vector<ConvergenceCase> cases;
  {
    ConvergenceCase flow{"dense gradient flow", dense_layer(teacher, 1), powers_of_two(5, settings.dense_last_exponent),
                         settings.dense_seeds, {}};
    flow.settings.dynamics = LinearDynamics::gradient_flow;
    flow.settings.horizon = 8.0;
    flow.settings.samples = 41;
    flow.settings.rk4_step = 0.02;
    cases.push_back(flow);
    ConvergenceCase descent{"dense small-step GD", dense_layer(teacher, 1), powers_of_two(5, settings.dense_last_exponent),
                            settings.dense_seeds, {}};
    descent.settings.dynamics = LinearDynamics::gradient_descent;
    descent.settings.horizon = 8.0;
    descent.settings.samples = 41;
    descent.settings.descent_step = 0.05;
    cases.push_back(descent);
    // MoE: N = 8, a = 2 (κ = 1/4), R = a; width axis = expert width h (H_act = a·h).
    ConvergenceCase moe{"MoE N=8 a=2 gradient flow", routed_layer(teacher, 8, 2, 1, true),
                        powers_of_two(5, settings.moe_last_exponent), settings.moe_seeds, {}};
    moe.settings.dynamics = LinearDynamics::gradient_flow;
    moe.settings.horizon = 24.0;
    moe.settings.samples = 41;
    moe.settings.rk4_step = 0.04;
    cases.push_back(moe);
  }

  VerdictReport report;
  CsvTable deviations({"case", "width", "seed", "loss_deviation", "order_parameter_deviation"});
  CsvTable summary({"case", "width", "mean_loss_deviation", "se_loss_deviation", "mean_order_parameter_deviation",
                    "se_order_parameter_deviation"});
  CsvTable trajectories({"case", "kind", "width", "time", "loss", "v_first_component"});
  CsvTable fits({"case", "quantity", "slope", "ci_low", "ci_high", "fit_standard_error", "predicted"});

  std::uint64_t case_index = 0;
  for (const auto& c : cases) {
    const auto start = std::chrono::steady_clock::now();
    const auto ensemble = run_linear_convergence_ensemble(c.spec, c.widths, c.seeds, options.seed + case_index, c.settings);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cerr << fmt::format("meanfield-convergence: {} ({} widths × {} seeds) in {:.1f} s\n", c.name, c.widths.size(),
                             c.seeds, seconds);
    std::vector<double> sizes;
    for (std::size_t w = 0; w < c.widths.size(); ++w) {
      sizes.push_back(c.widths[w]);
      for (int s = 0; s < c.seeds; ++s)
        deviations.add_row({c.name, static_cast<long long>(c.widths[w]), static_cast<long long>(s),
                            ensemble.loss_deviation[w][static_cast<std::size_t>(s)],
                            ensemble.order_parameter_deviation[w][static_cast<std::size_t>(s)]});
      const auto loss = sim::mean_with_standard_error(ensemble.loss_deviation[w]);
      const auto order = sim::mean_with_standard_error(ensemble.order_parameter_deviation[w]);
      summary.add_row({c.name, static_cast<long long>(c.widths[w]), loss.mean, loss.standard_error, order.mean,
                       order.standard_error});
      const auto& run = ensemble.first_seed_runs[w];
      for (std::size_t k = 0; k < run.times.size(); ++k)
        trajectories.add_row({c.name, std::string("finite"), static_cast<long long>(c.widths[w]), run.times[k],
                              run.loss[k], run.order_parameters[k][0]});
    }
    for (std::size_t k = 0; k < ensemble.limit.times.size(); ++k) {
      trajectories.add_row({c.name, std::string("limit"), 0LL, ensemble.limit.times[k], ensemble.limit.loss[k],
                            ensemble.limit.order_parameters[k][0]});
      if (c.name == "dense gradient flow") {
        // Independent closed form (hand-solved scalar reduction, linear_network.hpp).
        const auto exact = dense_limit_closed_form(teacher.norm(), ensemble.limit.times[k], c.spec.input_dim);
        const double loss = 0.5 * (teacher.norm() - exact.s) * (teacher.norm() - exact.s) / c.spec.input_dim;
        trajectories.add_row({c.name, std::string("closed form"), 0LL, ensemble.limit.times[k], loss,
                              exact.s * teacher(0) / teacher.norm()});
      }
    }
    for (const auto& [quantity, samples] :
         {std::pair{std::string("loss"), ensemble.loss_deviation},
          std::pair{std::string("order parameters"), ensemble.order_parameter_deviation}}) {
      const auto [slope, verdict] = judge_power_law_slope(
          plan.claim("slope"),
          fmt::format("{}: max_t deviation of {} from the limit vs width, log-log slope ({} seeds)", c.name, quantity,
                      c.seeds),
          sizes, samples, options.seed + 100 + case_index);
      fits.add_row({c.name, quantity, slope.slope, slope.ci_low, slope.ci_high, slope.fit_standard_error,
                    plan.claim("slope").predicted});
      report.verdicts.push_back(verdict);
    }
    ++case_index;
  }
  deviations.write(options.out_dir / "convergence_deviation.csv");
  summary.write(options.out_dir / "convergence_summary.csv");
  trajectories.write(options.out_dir / "convergence_trajectories.csv");
  fits.write(options.out_dir / "convergence_fits.csv");
  return report;
}

VerdictReport run_meanfield_bridge1(const ExperimentOptions& options) {
  const auto settings = bridge1_settings(options.profile);
  const auto plan = meanfield_bridge1_plan(options.profile);
  const auto teacher = linear_teacher();
  const int n_experts = 8;
  const auto dense = dense_layer(teacher, 1);
  const auto dense_moe = routed_layer(teacher, n_experts, n_experts, 1, true);
  const auto no_route_scale = routed_layer(teacher, n_experts, n_experts, 1, false);

  VerdictReport report;

  // 1. The limits (h → ∞), Dormand–Prince at rel. tol. 1e-9. The Dense MoE's aggregated order
  //    parameters (V, mean C_i, mean c_i) are compared with the dense layer's (v, C, c).
  std::vector<double> times;
  const int samples = 81;
  for (int k = 0; k < samples; ++k) times.push_back(12.0 * k / (samples - 1));
  const auto dense_limit = integrate_limit(dense, limit_initial_order_parameters(dense), times);
  auto aggregate = [&](const LinearNetworkSpec& spec, const std::vector<double>& flat) {
    const auto op = unpack(spec, flat);
    ExpertOrderParameters mean{route_effective_vector(spec, op, 0), Eigen::MatrixXd::Zero(spec.input_dim, spec.input_dim), 0.0};
    for (const auto& e : op) {
      mean.C += e.C / static_cast<double>(op.size());
      mean.c += e.c / static_cast<double>(op.size());
    }
    return pack({mean});
  };
  CsvTable limits({"network", "time", "loss", "aggregate_order_parameter_distance_to_dense"});
  auto compare = [&](const LinearNetworkSpec& spec, const std::string& name) {
    const auto limit = integrate_limit(spec, limit_initial_order_parameters(spec), times);
    double loss_gap = 0.0;
    double order_gap = 0.0;
    for (std::size_t k = 0; k < times.size(); ++k) {
      const double distance = order_parameter_distance(aggregate(spec, limit.order_parameters[k]), dense_limit.order_parameters[k]);
      loss_gap = std::max(loss_gap, std::abs(limit.loss[k] - dense_limit.loss[k]) / dense_limit.loss[0]);
      order_gap = std::max(order_gap, distance);
      limits.add_row({name, times[k], limit.loss[k], distance});
    }
    return std::pair{loss_gap, order_gap};
  };
  for (std::size_t k = 0; k < times.size(); ++k) limits.add_row({std::string("dense H_act"), times[k], dense_limit.loss[k], 0.0});
  const auto [bridge_loss_gap, bridge_order_gap] = compare(dense_moe, "Dense MoE R=N");
  const auto [control_loss_gap, control_order_gap] = compare(no_route_scale, "Dense MoE R=1 (control)");
  // Deterministic limits: the "interval" is the value itself (no sampling error).
  const auto exact = [&](const std::string& key, const std::string& name, double value) {
    report.verdicts.push_back(judge(plan.claim(key), name, value, value, value));
  };
  exact("limit gap", "limit h→∞: Dense MoE (a=N=8, uniform gates, R=N, A=d/H_act) vs dense width H_act, max_t |ΔL|/L(0)",
        bridge_loss_gap);
  exact("limit gap", "limit h→∞: same, max_t distance of aggregated order parameters (V, mean C_i, mean c_i)",
        bridge_order_gap);
  exact("limit gap control", "control: route scale removed (R=1), limit max_t |ΔL|/L(0)", control_loss_gap);
  exact("limit gap control", "control: route scale removed (R=1), limit aggregated order-parameter distance",
        control_order_gap);

  // 2. Finite width: the Dense MoE whose experts are slices of a dense layer's particles follows the
  //    dense layer's gradient flow to rounding, for every width and seed; both converge to the limit.
  const int seeds = settings.seeds;
  const auto expert_widths = powers_of_two(2, settings.last_exponent);
  CsvTable finite({"expert_width", "seed", "max_relative_loss_gap_moe_vs_dense", "max_loss_deviation_from_limit",
                   "max_loss_deviation_from_limit_no_route_scale"});
  std::vector<double> gaps(expert_widths.size() * static_cast<std::size_t>(seeds));
  std::vector<double> deviation(gaps.size());
  std::vector<double> control_deviation(gaps.size());
  std::vector<double> coarse_times;
  for (int k = 0; k <= 24; ++k) coarse_times.push_back(0.5 * k);
  const auto dense_coarse = integrate_limit(dense, limit_initial_order_parameters(dense), coarse_times);
  const sim::CounterRng rng(options.seed, 0xb1);
  const auto jobs = static_cast<long long>(gaps.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (long long job = 0; job < jobs; ++job) {
    const auto w = static_cast<std::size_t>(job / seeds);
    const auto s = static_cast<std::uint64_t>(job % seeds);
    const int h = expert_widths[w];
    const int width = n_experts * h;
    const auto dense_particles = sample_linear_particles(dense, width, rng, s);
    LinearParticles moe_particles;
    const int dim = dense.input_dim;
    for (int i = 0; i < n_experts; ++i) {
      for (int j = 0; j < h; ++j) moe_particles.push_back(dense_particles[static_cast<std::size_t>(i * h + j)]);
      for (int j = 0; j < h; ++j)
        for (int k = 0; k < dim; ++k)
          moe_particles.push_back(dense_particles[static_cast<std::size_t>(width + (i * h + j) * dim + k)]);
    }
    const auto dense_run = simulate_particle_flow(dense, width, dense_particles, coarse_times, 0.02);
    const auto moe_run = simulate_particle_flow(dense_moe, h, moe_particles, coarse_times, 0.02);
    const auto control_run = simulate_particle_flow(no_route_scale, h, moe_particles, coarse_times, 0.02);
    double gap = 0.0;
    double dev = 0.0;
    double control_dev = 0.0;
    for (std::size_t k = 0; k < coarse_times.size(); ++k) {
      gap = std::max(gap, std::abs(moe_run.loss[k] - dense_run.loss[k]) / dense_run.loss[0]);
      dev = std::max(dev, std::abs(moe_run.loss[k] - dense_coarse.loss[k]));
      control_dev = std::max(control_dev, std::abs(control_run.loss[k] - dense_coarse.loss[k]));
    }
    gaps[static_cast<std::size_t>(job)] = gap;
    deviation[static_cast<std::size_t>(job)] = dev;
    control_deviation[static_cast<std::size_t>(job)] = control_dev;
  }
  double worst_gap = 0.0;
  std::vector<double> sizes;
  std::vector<std::vector<double>> deviation_by_width(expert_widths.size());
  std::vector<std::vector<double>> control_by_width(expert_widths.size());
  for (std::size_t j = 0; j < gaps.size(); ++j) {
    const auto w = j / static_cast<std::size_t>(seeds);
    worst_gap = std::max(worst_gap, gaps[j]);
    deviation_by_width[w].push_back(deviation[j]);
    control_by_width[w].push_back(control_deviation[j]);
    finite.add_row({static_cast<long long>(expert_widths[w]), static_cast<long long>(j % static_cast<std::size_t>(seeds)),
                    gaps[j], deviation[j], control_deviation[j]});
  }
  for (int h : expert_widths) sizes.push_back(n_experts * h);
  exact("finite gap",
        fmt::format("finite width: Dense MoE (experts = slices of the dense layer) vs dense flow, worst max_t |ΔL|/L(0) "
                    "over {} widths × {} seeds",
                    expert_widths.size(), seeds),
        worst_gap);
  report.verdicts.push_back(judge_power_law_slope(plan.claim("slope"),
                                                  "Dense MoE R=N: deviation of the loss from the common limit vs H_act, log-log slope",
                                                  sizes, deviation_by_width, options.seed + 7)
                                .verdict);
  report.verdicts.push_back(judge_power_law_slope(plan.claim("slope control"),
                                                  "control: Dense MoE R=1: deviation from the dense limit vs H_act, log-log slope",
                                                  sizes, control_by_width, options.seed + 8)
                                .verdict);
  limits.write(options.out_dir / "bridge1_limits.csv");
  finite.write(options.out_dir / "bridge1_finite_width.csv");
  return report;
}

}  // namespace muelab::experiments::meanfield
