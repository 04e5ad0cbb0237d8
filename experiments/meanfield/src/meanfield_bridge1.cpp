// `meanfield-bridge1` (docs/theory.md §5.1, §8; claims `bridge1-exact` and `meanfield-convergence` of
// docs/claims.md): a Dense MoE (a = N, uniform gates, R = N, A = d/H_act) and a dense layer of width
// H_act follow one mean-field limit.
// 1. The limits (h → ∞), Dormand–Prince at rel. tol. 1e-9: the Dense MoE's aggregated order parameters
//    (V, mean C_i, mean c_i) against the dense layer's (v, C, c); control: the route scale removed (R = 1)
//    must separate.
// 2. Finite width: a Dense MoE whose experts are slices of a dense layer's particles follows the dense
//    layer's gradient flow to rounding, for every width and seed, and both converge to the limit as
//    H_act^{-1/2}; control: the R = 1 runs measured against the dense limit do not converge.
#include "common.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/sim/meanfield/linear_particles.hpp"
#include "slope_fits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace muelab::experiments::meanfield {

using namespace muelab::sim::meanfield;

namespace {

/// What one profile runs (docs/claims.md, "Plans").
struct Bridge1Settings {
  int seeds = 32;
  int first_exponent = 2, last_exponent = 8;  ///< expert widths 2^first .. 2^last
  int n_experts = 8;
  double horizon = 12.0;
  int limit_samples = 81;   ///< times of the limit comparison
  double limit_rel_tol = 1e-9;
  int finite_samples = 25;  ///< times of the finite-width runs
  double rk4_step = 0.02;
};

Bridge1Settings bridge1_settings(Profile profile) {
  Bridge1Settings s;
  s.seeds = by_profile(profile, 4, 32, 128);
  s.last_exponent = by_profile(profile, 5, 8, 9);
  return s;
}

ExperimentPlan meanfield_bridge1_plan(Profile profile) {
  const auto s = bridge1_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"n_experts", s.n_experts}, {"expert_widths", fmt::format("2^{}..2^{}", s.first_exponent, s.last_exponent)},
                   {"seeds", s.seeds}, {"horizon", s.horizon}, {"limit_samples", s.limit_samples},
                   {"limit_rel_tol", s.limit_rel_tol}, {"finite_samples", s.finite_samples}, {"rk4_step", s.rk4_step},
                   {"bootstrap_resamples", kBootstrapResamples}};
  // Two independent Dormand–Prince solves at rel. tol. 1e-9 agree to ~1e-8.
  plan.claims["limit gap"] = {"bridge1-exact", "max_t gap between the Dense-MoE and dense limits", VerdictKind::claim,
                              Sidedness::at_most, 0.0, 1e-7};
  plan.claims["limit gap control"] = {"bridge1-exact", "max_t gap between the R=1 and dense limits", VerdictKind::control,
                                      Sidedness::at_most, 0.0, 1e-7};
  plan.claims["finite gap"] = {"bridge1-exact", "worst max_t |dL|/L(0), Dense MoE vs dense flow at finite width",
                               VerdictKind::claim, Sidedness::at_most, 0.0, 1e-10};
  plan.claims["slope"] = {"meanfield-convergence", "log-log slope of the deviation from the limit against width",
                          VerdictKind::claim, Sidedness::two_sided, -0.5, 0.1};
  plan.claims["slope control"] = as_control(plan.claims["slope"]);
  return plan;
}

/// The three networks: dense (the width is carried by the particles), Dense MoE with R = N, and R = 1.
struct Bridge1Networks {
  LinearNetworkSpec dense, dense_moe, no_route_scale;
};

Bridge1Networks bridge1_networks(const Bridge1Settings& s) {
  const auto teacher = linear_teacher();
  return {dense_layer(teacher, 1), routed_layer(teacher, s.n_experts, s.n_experts, 1, true),
          routed_layer(teacher, s.n_experts, s.n_experts, 1, false)};
}

struct LimitGap {
  double loss = 0.0;   ///< max_t |ΔL| / L(0)
  double order = 0.0;  ///< max_t distance of the aggregated order parameters
};

/// The Dense MoE's order parameters aggregated to one dense layer's (V, mean C_i, mean c_i).
std::vector<double> aggregate(const LinearNetworkSpec& spec, const std::vector<double>& flat) {
  const auto op = unpack(spec, flat);
  ExpertOrderParameters mean{route_effective_vector(spec, op, 0), Eigen::MatrixXd::Zero(spec.input_dim, spec.input_dim), 0.0};
  for (const auto& e : op) {
    mean.C += e.C / static_cast<double>(op.size());
    mean.c += e.c / static_cast<double>(op.size());
  }
  return pack({mean});
}

/// Measure and table: the limit of `spec` against the dense limit, one bridge1_limits.csv row per time.
LimitGap compare_limit(const LinearNetworkSpec& spec, const std::string& name, const LinearTrajectory& dense_limit,
                       double rel_tol, CsvTable& limits) {
  const auto limit = integrate_limit(spec, limit_initial_order_parameters(spec), dense_limit.times, rel_tol);
  LimitGap gap;
  for (std::size_t k = 0; k < dense_limit.times.size(); ++k) {
    const double distance = order_parameter_distance(aggregate(spec, limit.order_parameters[k]), dense_limit.order_parameters[k]);
    gap.loss = std::max(gap.loss, std::abs(limit.loss[k] - dense_limit.loss[k]) / dense_limit.loss[0]);
    gap.order = std::max(gap.order, distance);
    limits.add_row({name, dense_limit.times[k], limit.loss[k], distance});
  }
  return gap;
}

/// Per (expert width, seed), indexed [width][seed]: the Dense MoE vs dense gap, and the deviations of
/// the Dense MoE (R = N) and of the R = 1 runs from the dense limit.
struct FiniteWidth {
  std::vector<int> expert_widths;
  std::vector<std::vector<double>> gap, deviation, control_deviation;
};

/// Measure: one job per (width, seed); results stored by index, so any thread count gives the same numbers.
FiniteWidth measure_finite_width(const Bridge1Settings& s, const Bridge1Networks& nets, std::uint64_t seed) {
  FiniteWidth out{powers_of_two(s.first_exponent, s.last_exponent), {}, {}, {}};
  const auto seeds = static_cast<std::size_t>(s.seeds);
  out.gap.assign(out.expert_widths.size(), std::vector<double>(seeds));
  out.deviation = out.control_deviation = out.gap;
  const auto times = time_grid(s.horizon, s.finite_samples);
  const auto dense_limit = integrate_limit(nets.dense, limit_initial_order_parameters(nets.dense), times);
  const sim::CounterRng rng(seed, 0xb1);
  const int dim = nets.dense.input_dim;
  const auto jobs = static_cast<long long>(out.expert_widths.size() * seeds);
#pragma omp parallel for schedule(dynamic, 1)
  for (long long job = 0; job < jobs; ++job) {
    const auto w = static_cast<std::size_t>(job) / seeds;
    const auto r = static_cast<std::size_t>(job) % seeds;
    const int h = out.expert_widths[w];
    const int width = s.n_experts * h;
    const auto dense_particles = sample_linear_particles(nets.dense, width, rng, r);
    // Expert i holds the dense layer's particles i·h .. i·h + h − 1 (a values, then the W columns).
    LinearParticles moe_particles;
    for (int i = 0; i < s.n_experts; ++i) {
      for (int j = 0; j < h; ++j) moe_particles.push_back(dense_particles[static_cast<std::size_t>(i * h + j)]);
      for (int j = 0; j < h; ++j)
        for (int k = 0; k < dim; ++k)
          moe_particles.push_back(dense_particles[static_cast<std::size_t>(width + (i * h + j) * dim + k)]);
    }
    const auto dense_run = simulate_particle_flow(nets.dense, width, dense_particles, times, s.rk4_step);
    const auto moe_run = simulate_particle_flow(nets.dense_moe, h, moe_particles, times, s.rk4_step);
    const auto control_run = simulate_particle_flow(nets.no_route_scale, h, moe_particles, times, s.rk4_step);
    double gap = 0.0, dev = 0.0, control_dev = 0.0;
    for (std::size_t k = 0; k < times.size(); ++k) {
      gap = std::max(gap, std::abs(moe_run.loss[k] - dense_run.loss[k]) / dense_run.loss[0]);
      dev = std::max(dev, std::abs(moe_run.loss[k] - dense_limit.loss[k]));
      control_dev = std::max(control_dev, std::abs(control_run.loss[k] - dense_limit.loss[k]));
    }
    out.gap[w][r] = gap;
    out.deviation[w][r] = dev;
    out.control_deviation[w][r] = control_dev;
  }
  return out;
}

/// Table: one bridge1_finite_width.csv row per (width, seed).
CsvTable table_finite_width(const FiniteWidth& finite) {
  CsvTable rows({"expert_width", "seed", "max_relative_loss_gap_moe_vs_dense", "max_loss_deviation_from_limit",
                 "max_loss_deviation_from_limit_no_route_scale"});
  for (std::size_t w = 0; w < finite.expert_widths.size(); ++w)
    for (std::size_t r = 0; r < finite.gap[w].size(); ++r)
      rows.add_row({static_cast<long long>(finite.expert_widths[w]), static_cast<long long>(r), finite.gap[w][r],
                    finite.deviation[w][r], finite.control_deviation[w][r]});
  return rows;
}

/// Judge the finite-width part: the worst gap (deterministic up to rounding: its interval is the value)
/// and the slopes of the deviations from the limit against H_act = N·h.
void judge_finite_width(const FiniteWidth& finite, const Bridge1Settings& s, const ExperimentPlan& plan, std::uint64_t seed,
                        VerdictReport& report) {
  double worst_gap = 0.0;
  for (const auto& row : finite.gap)
    for (double gap : row) worst_gap = std::max(worst_gap, gap);
  report.verdicts.push_back(judge(plan.claim("finite gap"),
                                  fmt::format("finite width: Dense MoE (experts = slices of the dense layer) vs dense flow, "
                                              "worst max_t |ΔL|/L(0) over {} widths × {} seeds",
                                              finite.expert_widths.size(), s.seeds),
                                  worst_gap, worst_gap, worst_gap));
  std::vector<double> sizes;
  for (int h : finite.expert_widths) sizes.push_back(s.n_experts * h);
  report.verdicts.push_back(judge_power_law_slope(plan.claim("slope"),
                                                  fmt::format("Dense MoE R=N: deviation of the loss from the common limit "
                                                              "vs H_act, log-log slope ({} seeds)", s.seeds),
                                                  sizes, finite.deviation, seed + 7)
                                .verdict);
  report.verdicts.push_back(judge_power_law_slope(plan.claim("slope control"),
                                                  fmt::format("control: Dense MoE R=1: deviation from the dense limit vs "
                                                              "H_act, log-log slope ({} seeds)", s.seeds),
                                                  sizes, finite.control_deviation, seed + 8)
                                .verdict);
}

VerdictReport run_meanfield_bridge1(const ExperimentOptions& options) {
  const auto settings = bridge1_settings(options.profile);
  const auto plan = meanfield_bridge1_plan(options.profile);
  const auto nets = bridge1_networks(settings);
  VerdictReport report;
  // Deterministic limits: the "interval" is the value itself (no sampling error).
  const auto exact = [&](const std::string& key, const std::string& name, double value) {
    report.verdicts.push_back(judge(plan.claim(key), name, value, value, value));
  };
  const auto times = time_grid(settings.horizon, settings.limit_samples);
  const auto dense_limit =
      integrate_limit(nets.dense, limit_initial_order_parameters(nets.dense), times, settings.limit_rel_tol);
  CsvTable limits({"network", "time", "loss", "aggregate_order_parameter_distance_to_dense"});
  for (std::size_t k = 0; k < times.size(); ++k) limits.add_row({std::string("dense H_act"), times[k], dense_limit.loss[k], 0.0});
  const auto bridge = compare_limit(nets.dense_moe, "Dense MoE R=N", dense_limit, settings.limit_rel_tol, limits);
  const auto control = compare_limit(nets.no_route_scale, "Dense MoE R=1 (control)", dense_limit, settings.limit_rel_tol, limits);
  exact("limit gap",
        fmt::format("limit h→∞: Dense MoE (a=N={}, uniform gates, R=N, A=d/H_act) vs dense width H_act, max_t |ΔL|/L(0)",
                    settings.n_experts),
        bridge.loss);
  exact("limit gap", "limit h→∞: same, max_t distance of aggregated order parameters (V, mean C_i, mean c_i)", bridge.order);
  exact("limit gap control", "control: route scale removed (R=1), limit max_t |ΔL|/L(0)", control.loss);
  exact("limit gap control", "control: route scale removed (R=1), limit aggregated order-parameter distance", control.order);

  const auto finite = measure_finite_width(settings, nets, options.seed);
  judge_finite_width(finite, settings, plan, options.seed, report);
  limits.write(options.out_dir / "bridge1_limits.csv");
  table_finite_width(finite).write(options.out_dir / "bridge1_finite_width.csv");
  return report;
}

}  // namespace

Experiment make_meanfield_bridge1_experiment() {
  Experiment e;
  e.name = "meanfield-bridge1";
  e.description = "Bridge I in the mean-field limit: Dense MoE (a=N, R=N, A=d/H_act) and dense width H_act share one "
                  "limit; R=1 separates";
  e.claims = {"bridge1-exact", "meanfield-convergence"};
  e.plot_script = "meanfield_bridge1.py";
  e.plan = meanfield_bridge1_plan;
  e.run = run_meanfield_bridge1;
  return e;
}

}  // namespace muelab::experiments::meanfield
