// Experiment `meanfield-nonlinear` (THEORY.md §8 "Nonlinear", §9 `meanfield-convergence`): erf
// two-layer networks on Gaussian inputs with population gradients, a dense layer and an MoE layer
// (N = 8 experts, a = 2 active, learned sigmoid router normalized over the active set, R = a,
// A = d/H_act), trained by gradient flow in mean-field time from widths 2^5 … 2^12 over many seeds,
// against the Gauss–Hermite node reference of the limit (sim/meanfield/erf_limit.hpp, Dormand–Prince
// at rel. tol. 1e-9). Claim: max_t deviation of the loss and of the order parameters decays with
// log-log slope −1/2 (bootstrap CI over seeds, tolerance 0.1). Control: the same MoE runs measured
// against the limit with the route scale dropped (R = 1) do not converge (slope ≈ 0).
// Expert-count axis (sim/meanfield/erf_expert_count.hpp, README "Expert-count limit"): the same MoE
// layer at fixed expert width h = 4 and κ = a/N = 1/4, N = 2^4 … 2^12 (quick 2^4 … 2^9) i.i.d.
// experts, against the N → ∞ McKean–Vlasov limit (reference: mean of two independent particle
// systems of 16× the largest N, their gap reported); claim slope −1/2 (fluctuations of the
// empirical expert measure), control: the runs against the exact R = 1 limit (f ≡ 0).
#include "nonlinear_limit_experiments.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/sim/meanfield/erf_expert_count.hpp"
#include "muelab/sim/meanfield/erf_limit.hpp"
#include "muelab/sim/statistics.hpp"
#include "muelab/theory/bridge.hpp"
#include "slope_fits.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <stdexcept>

namespace muelab::experiments::meanfield {

using namespace muelab::sim::meanfield;

namespace {

/// Teacher y = 1.5 φ(2x) − φ(x/2) (two erf units of different slopes).
std::vector<ErfTeacherUnit> erf_teacher() { return {{1.5, 2.0}, {-1.0, 0.5}}; }

/// Dense erf layer of width H: A = d/H (d = 1, §5.1), R = 1, from theory/.
ErfLayerSpec dense_erf_layer() {
  theory::ModelConfig model;
  model.d_model = 1;
  model.ffn = theory::FfnKind::dense;
  model.d_ffn = 64;  // A·H does not depend on H
  auto spec = ErfLayerSpec::dense(erf_teacher());
  spec.output_multiplier_times_expert_width = theory::active_width_output_multiplier(model) * static_cast<double>(model.d_ffn);
  return spec;
}

/// MoE erf layer: N experts, a active, learned sigmoid router (deterministic initial logit lines
/// r_i x + c_i with slopes spread over [−2, 2] and biases 0.5 cos(2.4 i)), Complete-muE A = d/H_act
/// and R = a (or R = 1 for the control), from theory/.
ErfLayerSpec moe_erf_layer(int n_experts, int n_active, bool route_scale_active) {
  theory::ModelConfig model;
  model.d_model = 1;
  model.ffn = theory::FfnKind::moe;
  model.n_experts = n_experts;
  model.n_active = n_active;
  model.d_expert = 64;  // A·h does not depend on h
  auto spec = ErfLayerSpec::dense(erf_teacher());
  spec.n_experts = n_experts;
  spec.n_active = n_active;
  spec.output_multiplier_times_expert_width = theory::active_width_output_multiplier(model) * static_cast<double>(model.d_expert);
  spec.route_scale = theory::complete_mue_route_scale(model, route_scale_active);
  spec.router_rate = 4.0;
  for (int i = 0; i < n_experts; ++i) {
    spec.initial_router_slope.push_back(-2.0 + 4.0 * i / (n_experts - 1));
    spec.initial_router_bias.push_back(0.5 * std::cos(2.4 * i));
  }
  return spec;
}

/// The MoE erf layer along the expert count (erf_expert_count.hpp): h = 4, κ = 1/4, η̄_r = 10 (the
/// router learns visibly: mean c² grows 4× over the horizon and the final loss is 2.6× below that
/// at η̄_r = 2), router r ~ U(−2, 2), c ~ U(−0.5, 0.5) (the h-axis ranges), inputs
/// a 24-point Gauss–Hermite design of N(0, 1).
ErfExpertCountSpec expert_count_layer(bool route_scale_active) {
  ErfExpertCountSpec spec;
  spec.expert_width = 4;
  spec.active_fraction = 0.25;
  spec.router_rate_per_active = 10.0;
  spec.route_scale_active = route_scale_active;
  spec.teacher = erf_teacher();
  spec.inputs = gauss_hermite_rule(24);
  return spec;
}

/// The library's per-N multipliers must be theory/'s Complete-muE ones (§5.1): A = d/H_act, R = a.
void require_theory_multipliers(const ErfExpertCountSpec& spec, int n_experts) {
  theory::ModelConfig model;
  model.d_model = 1;
  model.ffn = theory::FfnKind::moe;
  model.n_experts = n_experts;
  model.n_active = spec.active_count(n_experts);
  model.d_expert = spec.expert_width;
  const auto layer = spec.layer(n_experts);
  const double a_times_h = theory::active_width_output_multiplier(model) * static_cast<double>(model.d_expert);
  const double route_scale = theory::complete_mue_route_scale(model, spec.route_scale_active);
  if (std::abs(layer.output_multiplier_times_expert_width - a_times_h) > 1e-12 * a_times_h ||
      std::abs(layer.route_scale - route_scale) > 1e-12 * route_scale)
    throw std::logic_error(fmt::format("expert-count layer at N={}: multipliers differ from theory/ (A·h {} vs {}, R {} vs {})",
                                       n_experts, layer.output_multiplier_times_expert_width, a_times_h,
                                       layer.route_scale, route_scale));
}

std::vector<int> powers_of_two(int first_exponent, int last_exponent) {
  std::vector<int> widths;
  for (int e = first_exponent; e <= last_exponent; ++e) widths.push_back(1 << e);
  return widths;
}

std::vector<double> time_grid(double horizon, int samples) {
  std::vector<double> times;
  for (int k = 0; k < samples; ++k) times.push_back(horizon * k / (samples - 1));
  return times;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct NonlinearCase {
  std::string name;
  ErfLayerSpec spec;
  std::vector<int> widths;
  int seeds = 0;
  double horizon = 0.0;
  double rk4_step = 0.0;
  int reference_nodes = 0;  ///< Gauss–Hermite nodes per axis of the reference
  int check_nodes = 0;      ///< coarser rule whose gap to the reference estimates its quadrature error
};

/// What one profile runs (docs/claims.md, "Plans"): per case the last width exponent (widths 2^5 ..),
/// seeds and Gauss–Hermite nodes per axis of the reference and of its check rule; the expert-count axis'
/// last exponent (N = 2^4 ..) and seeds. The quick profile's coarser rules still sit ≥ 40× below its
/// smallest mean deviation (the gap to the check rule is written to nonlinear_reference.csv).
struct NonlinearSettings {
  int dense_last = 10, dense_seeds = 24, dense_nodes = 32, dense_check_nodes = 24;
  int moe_last = 9, moe_seeds = 24, moe_nodes = 20, moe_check_nodes = 16;
  int count_last = 9, count_seeds = 24;
};

NonlinearSettings nonlinear_settings(Profile profile) {
  NonlinearSettings s;
  s.dense_last = by_profile(profile, 7, 10, 12);
  s.dense_seeds = by_profile(profile, 4, 24, 48);
  s.dense_nodes = by_profile(profile, 12, 32, 40);
  s.dense_check_nodes = by_profile(profile, 8, 24, 32);
  s.moe_last = by_profile(profile, 7, 9, 11);
  s.moe_seeds = by_profile(profile, 4, 24, 48);
  s.moe_nodes = by_profile(profile, 8, 20, 24);
  s.moe_check_nodes = by_profile(profile, 6, 16, 20);
  s.count_last = by_profile(profile, 6, 9, 12);
  s.count_seeds = by_profile(profile, 4, 24, 48);
  return s;
}

ClaimSpec convergence_spec(VerdictKind kind) {
  return {"meanfield-convergence", "log-log slope of the deviation from the limit against width or expert count", kind,
          Sidedness::two_sided, -0.5, 0.1};
}

/// The expert-count axis (claim `meanfield-convergence`, N rows): finite-N runs at fixed h and κ
/// against the N → ∞ limit; writes nonlinear_expert_count_{deviation,summary,trajectories,reference}.csv
/// and appends its slope fits (axis "expert count") to `fits`.
void run_expert_count_axis(const ExperimentOptions& options, const NonlinearSettings& settings, const ExperimentPlan& plan,
                           VerdictReport& report, CsvTable& fits) {
  const auto spec = expert_count_layer(true);
  const auto counts = powers_of_two(4, settings.count_last);
  const int seeds = settings.count_seeds;
  const int reference_experts = 16 * counts.back();  // its error ≈ 1/√32 of the deviation at the largest N
  const int reference_draws = 2;
  // Routing switches make the field only piecewise smooth in time: step 0.25 (checked against 1/16
  // at the largest N, written to nonlinear_expert_count_reference.csv).
  const double rk4_step = 0.25;
  const auto times = time_grid(12.0, 25);
  const std::string name = fmt::format("MoE h={} κ=a/N=1/4 learned sigmoid router, Complete-muE", spec.expert_width);
  for (int n : counts) require_theory_multipliers(spec, n);
  require_theory_multipliers(spec, reference_experts);

  // Reference: the mean of independent large-N particle systems (their spread measures its error).
  auto start = std::chrono::steady_clock::now();
  const auto draws = simulate_expert_count_ensemble(spec, {reference_experts}, reference_draws, options.seed, 0xe80, times,
                                                    rk4_step).front();
  const double reference_seconds = seconds_since(start);
  const auto reference = mean_trajectory(draws);
  const auto draw_gap = erf_deviation(draws[0], draws[1]);
  start = std::chrono::steady_clock::now();
  const auto runs = simulate_expert_count_ensemble(spec, counts, seeds, options.seed, 0xe81, times, rk4_step);
  const double ensemble_seconds = seconds_since(start);
  // RK4 step check at the largest N, seed 0: step 0.25 vs 1/16.
  const auto largest_layer = spec.layer(counts.back());
  const auto largest_initial =
      sample_expert_count_state(spec, counts.back(), sim::CounterRng(options.seed, 0xe81), (static_cast<std::uint64_t>(counts.size() - 1) << 32));
  const auto fine_step = simulate_erf_design_flow(largest_layer, largest_initial, spec.inputs, times, rk4_step / 4.0);
  const auto step_gap = erf_deviation(runs.back().front(), fine_step);
  std::cerr << fmt::format("meanfield-nonlinear: {}: reference ({} draws × N={}) {:.1f} s, {} expert counts × {} seeds {:.1f} s\n",
                           name, reference_draws, reference_experts, reference_seconds, counts.size(), seeds, ensemble_seconds);

  const auto dropped = dropped_route_scale_limit(spec, times);
  CsvTable deviations({"case", "n_experts", "n_active", "seed", "loss_deviation", "order_parameter_deviation",
                       "loss_deviation_vs_r1_limit"});
  CsvTable summary({"case", "n_experts", "n_active", "mean_loss_deviation", "se_loss_deviation",
                    "mean_order_parameter_deviation", "se_order_parameter_deviation", "mean_loss_deviation_vs_r1_limit",
                    "se_loss_deviation_vs_r1_limit"});
  CsvTable trajectories({"case", "kind", "n_experts", "seed", "time", "loss", "teacher_overlap_1", "mean_router_slope_squared"});
  const std::size_t slope_index = erf_teacher().size() + 3;  // [Q, R_t…, m_a, m_w, mean r², mean c²]
  auto add_trajectory = [&](const std::string& kind, long long n, long long seed, const ErfTrajectory& run) {
    for (std::size_t k = 0; k < run.times.size(); ++k)
      trajectories.add_row({name, kind, n, seed, run.times[k], run.loss[k], run.order_parameters[k][1],
                            run.order_parameters[k][slope_index]});
  };
  std::vector<double> sizes;
  std::vector<std::vector<double>> loss_deviation(counts.size()), order_deviation(counts.size()), control(counts.size());
  double smallest_loss = 0.0, smallest_order = 0.0;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    sizes.push_back(counts[c]);
    const auto active = static_cast<long long>(spec.active_count(counts[c]));
    for (int s = 0; s < seeds; ++s) {
      const auto& run = runs[c][static_cast<std::size_t>(s)];
      const auto gap = erf_deviation(run, reference);
      const auto wrong = erf_deviation(run, dropped);
      loss_deviation[c].push_back(gap.loss);
      order_deviation[c].push_back(gap.order_parameters);
      control[c].push_back(wrong.loss);
      deviations.add_row({name, static_cast<long long>(counts[c]), active, static_cast<long long>(s), gap.loss,
                          gap.order_parameters, wrong.loss});
      if (s < 3) add_trajectory("finite", counts[c], s, run);
    }
    const auto loss = sim::mean_with_standard_error(loss_deviation[c]);
    const auto order = sim::mean_with_standard_error(order_deviation[c]);
    const auto wrong = sim::mean_with_standard_error(control[c]);
    summary.add_row({name, static_cast<long long>(counts[c]), active, loss.mean, loss.standard_error, order.mean,
                     order.standard_error, wrong.mean, wrong.standard_error});
    smallest_loss = loss.mean;
    smallest_order = order.mean;
  }
  add_trajectory("limit", 0, 0, reference);
  add_trajectory("limit with R=1", 0, 0, dropped);

  auto fit_and_judge = [&](const std::string& case_name, const std::string& quantity,
                           const std::vector<std::vector<double>>& values, VerdictKind kind, std::uint64_t salt,
                           const std::string& what) {
    const auto& claim = plan.claim(kind == VerdictKind::claim ? "slope" : "slope control");
    const auto [slope, verdict] = judge_power_law_slope(claim, what, sizes, values, options.seed + salt);
    fits.add_row({case_name, std::string("expert count"), quantity, slope.slope, slope.ci_low, slope.ci_high,
                  slope.fit_standard_error, claim.predicted, std::string(kind == VerdictKind::claim ? "claim" : "control")});
    report.verdicts.push_back(verdict);
  };
  fit_and_judge(name, "loss", loss_deviation, VerdictKind::claim, 700,
                fmt::format("{}: max_t |L_N − L_∞| vs expert count N ({}…{}) at fixed h={} and κ=a/N=1/4, log-log slope ({} seeds)",
                            name, counts.front(), counts.back(), spec.expert_width, seeds));
  fit_and_judge(name, "order parameters", order_deviation, VerdictKind::claim, 701,
                fmt::format("{}: max_t distance of order parameters (E f², E f φ(β_t x), moments, router mean r², c²) vs "
                            "expert count N at fixed h and κ, log-log slope ({} seeds)", name, seeds));
  fit_and_judge(name + ", vs R=1 limit (control)", "loss", control, VerdictKind::control, 702,
                fmt::format("control: {} runs vs the N → ∞ limit with the route scale dropped (R=1, f ≡ 0), "
                            "max_t |ΔL| slope along expert count N", name));

  CsvTable references({"case", "reference_experts", "reference_draws", "loss_gap_between_draws",
                       "order_parameter_gap_between_draws", "rk4_step", "rk4_step_loss_gap", "rk4_step_order_parameter_gap",
                       "smallest_mean_loss_deviation", "smallest_mean_order_parameter_deviation", "reference_seconds"});
  references.add_row({name, static_cast<long long>(reference_experts), static_cast<long long>(reference_draws),
                      draw_gap.loss, draw_gap.order_parameters, rk4_step, step_gap.loss, step_gap.order_parameters,
                      smallest_loss, smallest_order, reference_seconds});
  deviations.write(options.out_dir / "nonlinear_expert_count_deviation.csv");
  summary.write(options.out_dir / "nonlinear_expert_count_summary.csv");
  trajectories.write(options.out_dir / "nonlinear_expert_count_trajectories.csv");
  references.write(options.out_dir / "nonlinear_expert_count_reference.csv");
}

}  // namespace

ExperimentPlan meanfield_nonlinear_plan(Profile profile) {
  const auto s = nonlinear_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"dense", {{"widths", fmt::format("2^5..2^{}", s.dense_last)}, {"seeds", s.dense_seeds},
                              {"reference_nodes", s.dense_nodes}, {"check_nodes", s.dense_check_nodes}}},
                   {"moe_n8_a2", {{"expert_widths", fmt::format("2^5..2^{}", s.moe_last)}, {"seeds", s.moe_seeds},
                                  {"reference_nodes", s.moe_nodes}, {"check_nodes", s.moe_check_nodes}}},
                   {"expert_count_axis", {{"N", fmt::format("2^4..2^{}", s.count_last)}, {"seeds", s.count_seeds},
                                          {"expert_width", 4}, {"kappa", 0.25}}}};
  plan.claims["slope"] = convergence_spec(VerdictKind::claim);
  plan.claims["slope control"] = convergence_spec(VerdictKind::control);
  return plan;
}

VerdictReport run_meanfield_nonlinear(const ExperimentOptions& options) {
  const auto settings = nonlinear_settings(options.profile);
  const auto plan = meanfield_nonlinear_plan(options.profile);
  const int samples = 25;
  const std::vector<NonlinearCase> cases = {
      // RK4 steps: step error < 3e-6 (dense) / 5e-6 (MoE) in the order parameters, against deviations
      // ≥ 1e-2 at the largest widths.
      {"dense erf", dense_erf_layer(), powers_of_two(5, settings.dense_last), settings.dense_seeds, 6.0, 0.2,
       settings.dense_nodes, settings.dense_check_nodes},
      {"MoE N=8 a=2 learned sigmoid router, Complete-muE", moe_erf_layer(8, 2, true), powers_of_two(5, settings.moe_last),
       settings.moe_seeds, 12.0, 0.5, settings.moe_nodes, settings.moe_check_nodes}};

  VerdictReport report;
  CsvTable deviations({"case", "width", "seed", "loss_deviation", "order_parameter_deviation"});
  CsvTable summary({"case", "width", "mean_loss_deviation", "se_loss_deviation", "mean_order_parameter_deviation",
                    "se_order_parameter_deviation"});
  CsvTable trajectories({"case", "kind", "width", "seed", "time", "loss", "teacher_overlap_1", "second_moment_w"});
  CsvTable fits({"case", "axis", "quantity", "slope", "ci_low", "ci_high", "fit_standard_error", "predicted", "kind"});
  CsvTable references({"case", "nodes_per_axis", "check_nodes_per_axis", "loss_gap", "order_parameter_gap",
                       "smallest_mean_loss_deviation", "smallest_mean_order_parameter_deviation", "reference_seconds"});
  const std::size_t first_moment = erf_teacher().size() + 1;  // index of m_a; m_w follows

  auto add_trajectory = [&](const std::string& name, const std::string& kind, long long width, long long seed,
                            const ErfTrajectory& run) {
    for (std::size_t k = 0; k < run.times.size(); ++k)
      trajectories.add_row({name, kind, width, seed, run.times[k], run.loss[k], run.order_parameters[k][1],
                            run.order_parameters[k][first_moment + 1]});
  };
  auto fit_and_judge = [&](const std::string& name, const std::string& quantity, const std::vector<double>& sizes,
                           const std::vector<std::vector<double>>& values, VerdictKind kind, std::uint64_t salt,
                           const std::string& what) {
    const auto& spec = plan.claim(kind == VerdictKind::claim ? "slope" : "slope control");
    const auto [slope, verdict] = judge_power_law_slope(spec, what, sizes, values, options.seed + salt);
    fits.add_row({name, std::string("width"), quantity, slope.slope, slope.ci_low, slope.ci_high, slope.fit_standard_error,
                  spec.predicted, std::string(kind == VerdictKind::claim ? "claim" : "control")});
    report.verdicts.push_back(verdict);
  };

  std::uint64_t case_index = 0;
  for (const auto& c : cases) {
    const auto times = time_grid(c.horizon, samples);
    auto start = std::chrono::steady_clock::now();
    const auto reference = integrate_erf_limit(c.spec, limit_initial_erf_state(c.spec, c.reference_nodes), times, 1e-9);
    const double reference_seconds = seconds_since(start);
    const auto check = integrate_erf_limit(c.spec, limit_initial_erf_state(c.spec, c.check_nodes), times, 1e-9);
    const auto reference_gap = erf_deviation(check, reference);
    start = std::chrono::steady_clock::now();
    const auto runs = simulate_erf_ensemble(c.spec, c.widths, c.seeds, options.seed + 10 * case_index, times, c.rk4_step);
    std::cerr << fmt::format("meanfield-nonlinear: {}: reference ({}² nodes/expert) {:.1f} s, {} widths × {} seeds {:.1f} s\n",
                             c.name, c.reference_nodes, reference_seconds, c.widths.size(), c.seeds, seconds_since(start));

    std::vector<double> sizes;
    std::vector<std::vector<double>> loss_deviation(c.widths.size()), order_deviation(c.widths.size());
    double smallest_loss = 0.0, smallest_order = 0.0;
    for (std::size_t w = 0; w < c.widths.size(); ++w) {
      sizes.push_back(c.widths[w]);
      for (int s = 0; s < c.seeds; ++s) {
        const auto& run = runs[w][static_cast<std::size_t>(s)];
        const auto gap = erf_deviation(run, reference);
        loss_deviation[w].push_back(gap.loss);
        order_deviation[w].push_back(gap.order_parameters);
        deviations.add_row({c.name, static_cast<long long>(c.widths[w]), static_cast<long long>(s), gap.loss, gap.order_parameters});
        if (s < 3) add_trajectory(c.name, "finite", c.widths[w], s, run);
      }
      const auto loss = sim::mean_with_standard_error(loss_deviation[w]);
      const auto order = sim::mean_with_standard_error(order_deviation[w]);
      summary.add_row({c.name, static_cast<long long>(c.widths[w]), loss.mean, loss.standard_error, order.mean,
                       order.standard_error});
      smallest_loss = loss.mean;
      smallest_order = order.mean;
    }
    add_trajectory(c.name, "limit", 0, 0, reference);
    references.add_row({c.name, static_cast<long long>(c.reference_nodes), static_cast<long long>(c.check_nodes),
                        reference_gap.loss, reference_gap.order_parameters, smallest_loss, smallest_order, reference_seconds});
    const std::string width_name = c.spec.routed() ? "expert width h" : "width H";
    fit_and_judge(c.name, "loss", sizes, loss_deviation, VerdictKind::claim, 500 + 2 * case_index,
                  fmt::format("{}: max_t |L_h − L_∞| vs {} ({}…{}), log-log slope ({} seeds)", c.name, width_name,
                              c.widths.front(), c.widths.back(), c.seeds));
    fit_and_judge(c.name, "order parameters", sizes, order_deviation, VerdictKind::claim, 501 + 2 * case_index,
                  fmt::format("{}: max_t distance of order parameters (E f², E f φ(β_t x), moments{}) vs {}, log-log slope ({} seeds)",
                              c.name, c.spec.routed() ? ", router" : "", width_name, c.seeds));

    if (c.spec.routed()) {
      // Control: the same finite Complete-muE runs against the limit with the route scale dropped.
      auto dropped = c.spec;
      dropped.route_scale = 1.0;
      const auto wrong_limit = integrate_erf_limit(dropped, limit_initial_erf_state(dropped, c.check_nodes), times, 1e-9);
      add_trajectory(c.name + ", limit with R=1", "limit", 0, 0, wrong_limit);
      std::vector<std::vector<double>> control(c.widths.size());
      for (std::size_t w = 0; w < c.widths.size(); ++w) {
        for (const auto& run : runs[w]) control[w].push_back(erf_deviation(run, wrong_limit).loss);
        const auto loss = sim::mean_with_standard_error(control[w]);
        summary.add_row({c.name + ", vs R=1 limit (control)", static_cast<long long>(c.widths[w]), loss.mean,
                         loss.standard_error, 0.0, 0.0});
      }
      fit_and_judge(c.name + ", vs R=1 limit (control)", "loss", sizes, control, VerdictKind::control, 600,
                    fmt::format("control: {} runs vs the limit with the route scale dropped (R=1), max_t |ΔL| slope", c.name));
    }
    ++case_index;
  }
  run_expert_count_axis(options, settings, plan, report, fits);
  deviations.write(options.out_dir / "nonlinear_deviation.csv");
  summary.write(options.out_dir / "nonlinear_summary.csv");
  trajectories.write(options.out_dir / "nonlinear_trajectories.csv");
  fits.write(options.out_dir / "nonlinear_fits.csv");  // rows of both axes (column "axis")
  references.write(options.out_dir / "nonlinear_reference.csv");
  return report;
}

}  // namespace muelab::experiments::meanfield
