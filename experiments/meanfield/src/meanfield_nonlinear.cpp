// `meanfield-nonlinear` (docs/theory.md §8 "Nonlinear"; claim `meanfield-convergence` of docs/claims.md):
// erf two-layer networks on Gaussian inputs with population gradients.
// Width axis: a dense layer and an MoE layer (N = 8 experts, a = 2 active, learned sigmoid router
// normalized over the active set, R = a, A = d/H_act), trained by gradient flow in mean-field time from
// widths 2^5 … 2^last over many seeds, against the Gauss–Hermite node reference of the limit
// (sim/meanfield/erf_limit.hpp, Dormand–Prince at rel. tol. 1e-9). Claim: the max_t deviation of the
// loss and of the order parameters decays with log-log slope −1/2 (bootstrap CI over seeds, ± 0.1).
// Control: the same MoE runs measured against the limit with the route scale dropped (R = 1) do not
// converge (slope ≈ 0).
// Expert-count axis (sim/meanfield/erf_expert_count.hpp, README "Expert-count limit"): the MoE layer at
// fixed expert width h = 4 and κ = a/N = 1/4, N = 2^4 … 2^last i.i.d. experts, against the N → ∞
// McKean–Vlasov limit (reference: the mean of two independent particle systems of 16× the largest N,
// their gap reported); claim slope −1/2 (fluctuations of the empirical expert measure); control: the
// runs against the exact R = 1 limit (f ≡ 0).
#include "common.hpp"
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
#include <optional>
#include <stdexcept>

namespace muelab::experiments::meanfield {

using namespace muelab::sim::meanfield;

namespace {

/// What one profile runs (docs/claims.md, "Plans"): per width-axis case the last width exponent, seeds
/// and Gauss–Hermite nodes per axis of the reference and of its check rule; the expert-count axis' last
/// exponent and seeds. The quick profile's coarser rules still sit ≥ 40× below its smallest mean
/// deviation (the gap to the check rule is written to nonlinear_reference.csv).
struct NonlinearSettings {
  int first_width_exponent = 5, samples = 25;
  int dense_last = 10, dense_seeds = 24, dense_nodes = 32, dense_check_nodes = 24;
  int moe_last = 9, moe_seeds = 24, moe_nodes = 20, moe_check_nodes = 16;
  int first_count_exponent = 4, count_last = 9, count_seeds = 24;
  int count_expert_width = 4;
  double count_kappa = 0.25;
  int count_reference_multiple = 16;  ///< reference N = this × the largest N (its error ≈ 1/√32 of the deviation there)
  int count_reference_draws = 2;
  double count_rk4_step = 0.25;       ///< checked against a quarter of it at the largest N
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

ExperimentPlan meanfield_nonlinear_plan(Profile profile) {
  const auto s = nonlinear_settings(profile);
  const auto widths = [&](int last) { return fmt::format("2^{}..2^{}", s.first_width_exponent, last); };
  ExperimentPlan plan;
  plan.settings = {{"dense", {{"widths", widths(s.dense_last)}, {"seeds", s.dense_seeds},
                              {"reference_nodes", s.dense_nodes}, {"check_nodes", s.dense_check_nodes}}},
                   {"moe_n8_a2", {{"expert_widths", widths(s.moe_last)}, {"seeds", s.moe_seeds},
                                  {"reference_nodes", s.moe_nodes}, {"check_nodes", s.moe_check_nodes}}},
                   {"expert_count_axis", {{"N", fmt::format("2^{}..2^{}", s.first_count_exponent, s.count_last)},
                                          {"seeds", s.count_seeds}, {"expert_width", s.count_expert_width},
                                          {"kappa", s.count_kappa}, {"reference_multiple", s.count_reference_multiple},
                                          {"reference_draws", s.count_reference_draws}, {"rk4_step", s.count_rk4_step}}},
                   {"time_samples", s.samples}, {"bootstrap_resamples", kBootstrapResamples}};
  plan.claims["slope"] = {"meanfield-convergence",
                          "log-log slope of the deviation from the limit against width or expert count",
                          VerdictKind::claim, Sidedness::two_sided, -0.5, 0.1};
  plan.claims["slope control"] = as_control(plan.claims["slope"]);
  return plan;
}

/// Teacher y = 1.5 φ(2x) − φ(x/2) (two erf units of different slopes).
std::vector<ErfTeacherUnit> erf_teacher() { return {{1.5, 2.0}, {-1.0, 0.5}}; }

/// Dense erf layer of width H: A = d/H (d = 1, docs/theory.md §5.1), R = 1, from theory/.
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

/// The MoE erf layer along the expert count (erf_expert_count.hpp): h and κ from the plan, η̄_r = 10
/// (the router learns visibly: mean c² grows 4× over the horizon and the final loss is 2.6× below that
/// at η̄_r = 2), router r ~ U(−2, 2), c ~ U(−0.5, 0.5) (the h-axis ranges), inputs a 24-point
/// Gauss–Hermite design of N(0, 1).
ErfExpertCountSpec expert_count_layer(const NonlinearSettings& s) {
  ErfExpertCountSpec spec;
  spec.expert_width = s.count_expert_width;
  spec.active_fraction = s.count_kappa;
  spec.router_rate_per_active = 10.0;
  spec.route_scale_active = true;
  spec.teacher = erf_teacher();
  spec.inputs = gauss_hermite_rule(24);
  return spec;
}

/// The library's per-N multipliers must be theory/'s Complete-muE ones (docs/theory.md §5.1): A = d/H_act, R = a.
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

/// Deviations of finite runs from a reference, indexed [size][seed].
struct Deviations {
  std::vector<std::vector<double>> loss, order;
};

Deviations deviations_from(const std::vector<std::vector<ErfTrajectory>>& runs, const ErfTrajectory& reference) {
  Deviations d{std::vector<std::vector<double>>(runs.size()), std::vector<std::vector<double>>(runs.size())};
  for (std::size_t k = 0; k < runs.size(); ++k)
    for (const auto& run : runs[k]) {
      const auto gap = erf_deviation(run, reference);
      d.loss[k].push_back(gap.loss);
      d.order[k].push_back(gap.order_parameters);
    }
  return d;
}

/// Every CSV of the experiment (the fits table holds both axes, column "axis").
struct NonlinearTables {
  CsvTable deviations{{"case", "width", "seed", "loss_deviation", "order_parameter_deviation"}};
  CsvTable summary{{"case", "width", "mean_loss_deviation", "se_loss_deviation", "mean_order_parameter_deviation",
                    "se_order_parameter_deviation"}};
  CsvTable trajectories{{"case", "kind", "width", "seed", "time", "loss", "teacher_overlap_1", "second_moment_w"}};
  CsvTable fits{{"case", "axis", "quantity", "slope", "ci_low", "ci_high", "fit_standard_error", "predicted", "kind"}};
  CsvTable references{{"case", "nodes_per_axis", "check_nodes_per_axis", "loss_gap", "order_parameter_gap",
                       "smallest_mean_loss_deviation", "smallest_mean_order_parameter_deviation", "reference_seconds"}};
  CsvTable count_deviations{{"case", "n_experts", "n_active", "seed", "loss_deviation", "order_parameter_deviation",
                             "loss_deviation_vs_r1_limit"}};
  CsvTable count_summary{{"case", "n_experts", "n_active", "mean_loss_deviation", "se_loss_deviation",
                          "mean_order_parameter_deviation", "se_order_parameter_deviation",
                          "mean_loss_deviation_vs_r1_limit", "se_loss_deviation_vs_r1_limit"}};
  CsvTable count_trajectories{{"case", "kind", "n_experts", "seed", "time", "loss", "teacher_overlap_1",
                               "mean_router_slope_squared"}};
  CsvTable count_references{{"case", "reference_experts", "reference_draws", "loss_gap_between_draws",
                             "order_parameter_gap_between_draws", "rk4_step", "rk4_step_loss_gap",
                             "rk4_step_order_parameter_gap", "smallest_mean_loss_deviation",
                             "smallest_mean_order_parameter_deviation", "reference_seconds"}};
};

/// One judged slope: the fit goes to the fits table (with its axis), the row to the report.
struct SlopeJudge {
  const ExperimentPlan& plan;
  std::uint64_t seed;
  CsvTable& fits;
  VerdictReport& report;
  void operator()(const std::string& case_name, const std::string& axis, const std::string& quantity,
                  const std::vector<double>& sizes, const std::vector<std::vector<double>>& values, VerdictKind kind,
                  std::uint64_t salt, std::string what) const {
    const auto& claim = plan.claim(kind == VerdictKind::claim ? "slope" : "slope control");
    const auto [slope, verdict] = judge_power_law_slope(claim, std::move(what), sizes, values, seed + salt);
    fits.add_row({case_name, axis, quantity, slope.slope, slope.ci_low, slope.ci_high, slope.fit_standard_error,
                  claim.predicted, to_string(kind)});
    report.verdicts.push_back(verdict);
  }
};

// ---- width axis -------------------------------------------------------------------------------

struct WidthCase {
  std::string name;
  ErfLayerSpec spec;
  std::vector<int> widths;
  int seeds = 0;
  double horizon = 0.0;
  double rk4_step = 0.0;
  int reference_nodes = 0;  ///< Gauss–Hermite nodes per axis of the reference
  int check_nodes = 0;      ///< coarser rule whose gap to the reference estimates its quadrature error
};

std::vector<WidthCase> width_cases(const NonlinearSettings& s) {
  // RK4 steps: step error < 3e-6 (dense) / 5e-6 (MoE) in the order parameters, against deviations
  // ≥ 1e-2 at the largest widths.
  return {{"dense erf", dense_erf_layer(), powers_of_two(s.first_width_exponent, s.dense_last), s.dense_seeds, 6.0, 0.2,
           s.dense_nodes, s.dense_check_nodes},
          {"MoE N=8 a=2 learned sigmoid router, Complete-muE", moe_erf_layer(8, 2, true),
           powers_of_two(s.first_width_exponent, s.moe_last), s.moe_seeds, 12.0, 0.5, s.moe_nodes, s.moe_check_nodes}};
}

struct WidthMeasurement {
  ErfTrajectory reference;
  ErfDeviation reference_gap;  ///< check rule vs reference (quadrature error)
  double reference_seconds = 0.0;
  std::vector<std::vector<ErfTrajectory>> runs;  ///< [width][seed]
  std::optional<ErfTrajectory> dropped_limit;    ///< routed cases: the limit with R = 1 (control)
};

WidthMeasurement measure_width_case(const WidthCase& c, int samples, std::uint64_t seed) {
  const auto times = time_grid(c.horizon, samples);
  WidthMeasurement m;
  auto start = std::chrono::steady_clock::now();
  m.reference = integrate_erf_limit(c.spec, limit_initial_erf_state(c.spec, c.reference_nodes), times, 1e-9);
  m.reference_seconds = seconds_since(start);
  const auto check = integrate_erf_limit(c.spec, limit_initial_erf_state(c.spec, c.check_nodes), times, 1e-9);
  m.reference_gap = erf_deviation(check, m.reference);
  start = std::chrono::steady_clock::now();
  m.runs = simulate_erf_ensemble(c.spec, c.widths, c.seeds, seed, times, c.rk4_step);
  std::cerr << fmt::format("meanfield-nonlinear: {}: reference ({}² nodes/expert) {:.1f} s, {} widths × {} seeds {:.1f} s\n",
                           c.name, c.reference_nodes, m.reference_seconds, c.widths.size(), c.seeds, seconds_since(start));
  if (c.spec.routed()) {
    auto dropped = c.spec;
    dropped.route_scale = 1.0;
    m.dropped_limit = integrate_erf_limit(dropped, limit_initial_erf_state(dropped, c.check_nodes), times, 1e-9);
  }
  return m;
}

void add_width_trajectory(CsvTable& table, const std::string& name, const std::string& kind, long long width, long long seed,
                          const ErfTrajectory& run) {
  const std::size_t second_moment_w = erf_teacher().size() + 2;  // [Q, R_t…, m_a, m_w, …]
  for (std::size_t k = 0; k < run.times.size(); ++k)
    table.add_row({name, kind, width, seed, run.times[k], run.loss[k], run.order_parameters[k][1],
                   run.order_parameters[k][second_moment_w]});
}

/// Table: per-seed deviations, their means, three seeds' trajectories per width, the limit(s), the
/// reference's quadrature check and, for routed cases, the deviations from the R = 1 limit.
void table_width_case(const WidthCase& c, const WidthMeasurement& m, const Deviations& d,
                      const std::optional<Deviations>& control, NonlinearTables& t) {
  double smallest_loss = 0.0, smallest_order = 0.0;
  for (std::size_t w = 0; w < c.widths.size(); ++w) {
    const auto width = static_cast<long long>(c.widths[w]);
    for (std::size_t s = 0; s < m.runs[w].size(); ++s) {
      t.deviations.add_row({c.name, width, static_cast<long long>(s), d.loss[w][s], d.order[w][s]});
      if (s < 3) add_width_trajectory(t.trajectories, c.name, "finite", width, static_cast<long long>(s), m.runs[w][s]);
    }
    const auto loss = sim::mean_with_standard_error(d.loss[w]);
    const auto order = sim::mean_with_standard_error(d.order[w]);
    t.summary.add_row({c.name, width, loss.mean, loss.standard_error, order.mean, order.standard_error});
    smallest_loss = loss.mean;
    smallest_order = order.mean;
  }
  add_width_trajectory(t.trajectories, c.name, "limit", 0, 0, m.reference);
  t.references.add_row({c.name, static_cast<long long>(c.reference_nodes), static_cast<long long>(c.check_nodes),
                        m.reference_gap.loss, m.reference_gap.order_parameters, smallest_loss, smallest_order,
                        m.reference_seconds});
  if (!control || !m.dropped_limit) return;
  add_width_trajectory(t.trajectories, c.name + ", limit with R=1", "limit", 0, 0, *m.dropped_limit);
  for (std::size_t w = 0; w < c.widths.size(); ++w) {
    const auto loss = sim::mean_with_standard_error(control->loss[w]);
    t.summary.add_row({c.name + ", vs R=1 limit (control)", static_cast<long long>(c.widths[w]), loss.mean,
                       loss.standard_error, 0.0, 0.0});
  }
}

/// Judge: loss and order-parameter slopes against width; for routed cases the R = 1 control.
void judge_width_case(const WidthCase& c, const Deviations& d, const std::optional<Deviations>& control,
                      std::uint64_t case_index, const SlopeJudge& slope) {
  const std::vector<double> sizes(c.widths.begin(), c.widths.end());
  const std::string width_name = c.spec.routed() ? "expert width h" : "width H";
  slope(c.name, "width", "loss", sizes, d.loss, VerdictKind::claim, 500 + 2 * case_index,
        fmt::format("{}: max_t |L_h − L_∞| vs {} ({}…{}), log-log slope ({} seeds)", c.name, width_name, c.widths.front(),
                    c.widths.back(), c.seeds));
  slope(c.name, "width", "order parameters", sizes, d.order, VerdictKind::claim, 501 + 2 * case_index,
        fmt::format("{}: max_t distance of order parameters (E f², E f φ(β_t x), moments{}) vs {}, log-log slope ({} seeds)",
                    c.name, c.spec.routed() ? ", router" : "", width_name, c.seeds));
  if (!control) return;
  slope(c.name + ", vs R=1 limit (control)", "width", "loss", sizes, control->loss, VerdictKind::control, 600,
        fmt::format("control: {} runs vs the limit with the route scale dropped (R=1), max_t |ΔL| slope ({} seeds)", c.name,
                    c.seeds));
}

// ---- expert-count axis ------------------------------------------------------------------------

struct CountMeasurement {
  ErfExpertCountSpec spec;
  std::string name;
  std::vector<int> counts;
  int reference_experts = 0;
  ErfTrajectory reference, dropped;  ///< N → ∞ reference (mean of draws) and the exact R = 1 limit
  ErfDeviation draw_gap, step_gap;   ///< between the reference draws; RK4 step vs a quarter of it
  double reference_seconds = 0.0;
  std::vector<std::vector<ErfTrajectory>> runs;  ///< [count][seed]
};

/// Measure: the large-N reference (the spread of its independent draws measures its error), the
/// finite-N ensemble, the RK4 step check at the largest N (seed 0) and the exact R = 1 limit.
CountMeasurement measure_expert_count(const NonlinearSettings& s, std::uint64_t seed) {
  CountMeasurement m;
  m.spec = expert_count_layer(s);
  m.name = fmt::format("MoE h={} κ=a/N=1/4 learned sigmoid router, Complete-muE", m.spec.expert_width);
  m.counts = powers_of_two(s.first_count_exponent, s.count_last);
  m.reference_experts = s.count_reference_multiple * m.counts.back();
  for (int n : m.counts) require_theory_multipliers(m.spec, n);
  require_theory_multipliers(m.spec, m.reference_experts);
  // Routing switches make the field only piecewise smooth in time, hence the checked RK4 step.
  const auto times = time_grid(12.0, s.samples);
  auto start = std::chrono::steady_clock::now();
  const auto draws = simulate_expert_count_ensemble(m.spec, {m.reference_experts}, s.count_reference_draws, seed, 0xe80,
                                                    times, s.count_rk4_step).front();
  m.reference_seconds = seconds_since(start);
  m.reference = mean_trajectory(draws);
  m.draw_gap = erf_deviation(draws[0], draws[1]);
  start = std::chrono::steady_clock::now();
  m.runs = simulate_expert_count_ensemble(m.spec, m.counts, s.count_seeds, seed, 0xe81, times, s.count_rk4_step);
  const double ensemble_seconds = seconds_since(start);
  const auto largest_initial = sample_expert_count_state(m.spec, m.counts.back(), sim::CounterRng(seed, 0xe81),
                                                         static_cast<std::uint64_t>(m.counts.size() - 1) << 32);
  const auto fine_step =
      simulate_erf_design_flow(m.spec.layer(m.counts.back()), largest_initial, m.spec.inputs, times, s.count_rk4_step / 4.0);
  m.step_gap = erf_deviation(m.runs.back().front(), fine_step);
  std::cerr << fmt::format("meanfield-nonlinear: {}: reference ({} draws × N={}) {:.1f} s, {} expert counts × {} seeds {:.1f} s\n",
                           m.name, s.count_reference_draws, m.reference_experts, m.reference_seconds, m.counts.size(),
                           s.count_seeds, ensemble_seconds);
  m.dropped = dropped_route_scale_limit(m.spec, times);
  return m;
}

void add_count_trajectory(CsvTable& table, const std::string& name, const std::string& kind, long long n, long long seed,
                          const ErfTrajectory& run) {
  const std::size_t mean_router_slope_squared = erf_teacher().size() + 3;  // [Q, R_t…, m_a, m_w, mean r², mean c²]
  for (std::size_t k = 0; k < run.times.size(); ++k)
    table.add_row({name, kind, n, seed, run.times[k], run.loss[k], run.order_parameters[k][1],
                   run.order_parameters[k][mean_router_slope_squared]});
}

/// Table: nonlinear_expert_count_{deviation,summary,trajectories,reference}.csv.
void table_expert_count(const CountMeasurement& m, const Deviations& d, const Deviations& control,
                        const NonlinearSettings& s, NonlinearTables& t) {
  double smallest_loss = 0.0, smallest_order = 0.0;
  for (std::size_t c = 0; c < m.counts.size(); ++c) {
    const auto n = static_cast<long long>(m.counts[c]);
    const auto active = static_cast<long long>(m.spec.active_count(m.counts[c]));
    for (std::size_t r = 0; r < m.runs[c].size(); ++r) {
      t.count_deviations.add_row({m.name, n, active, static_cast<long long>(r), d.loss[c][r], d.order[c][r], control.loss[c][r]});
      if (r < 3) add_count_trajectory(t.count_trajectories, m.name, "finite", n, static_cast<long long>(r), m.runs[c][r]);
    }
    const auto loss = sim::mean_with_standard_error(d.loss[c]);
    const auto order = sim::mean_with_standard_error(d.order[c]);
    const auto wrong = sim::mean_with_standard_error(control.loss[c]);
    t.count_summary.add_row({m.name, n, active, loss.mean, loss.standard_error, order.mean, order.standard_error, wrong.mean,
                             wrong.standard_error});
    smallest_loss = loss.mean;
    smallest_order = order.mean;
  }
  add_count_trajectory(t.count_trajectories, m.name, "limit", 0, 0, m.reference);
  add_count_trajectory(t.count_trajectories, m.name, "limit with R=1", 0, 0, m.dropped);
  t.count_references.add_row({m.name, static_cast<long long>(m.reference_experts),
                              static_cast<long long>(s.count_reference_draws), m.draw_gap.loss,
                              m.draw_gap.order_parameters, s.count_rk4_step, m.step_gap.loss,
                              m.step_gap.order_parameters, smallest_loss, smallest_order, m.reference_seconds});
}

/// Judge: loss and order-parameter slopes along N, and the R = 1 control.
void judge_expert_count(const CountMeasurement& m, const Deviations& d, const Deviations& control, int seeds,
                        const SlopeJudge& slope) {
  const std::vector<double> sizes(m.counts.begin(), m.counts.end());
  slope(m.name, "expert count", "loss", sizes, d.loss, VerdictKind::claim, 700,
        fmt::format("{}: max_t |L_N − L_∞| vs expert count N ({}…{}) at fixed h={} and κ=a/N=1/4, log-log slope ({} seeds)",
                    m.name, m.counts.front(), m.counts.back(), m.spec.expert_width, seeds));
  slope(m.name, "expert count", "order parameters", sizes, d.order, VerdictKind::claim, 701,
        fmt::format("{}: max_t distance of order parameters (E f², E f φ(β_t x), moments, router mean r², c²) vs "
                    "expert count N at fixed h and κ, log-log slope ({} seeds)", m.name, seeds));
  slope(m.name + ", vs R=1 limit (control)", "expert count", "loss", sizes, control.loss, VerdictKind::control, 702,
        fmt::format("control: {} runs vs the N → ∞ limit with the route scale dropped (R=1, f ≡ 0), "
                    "max_t |ΔL| slope along expert count N ({} seeds)", m.name, seeds));
}

VerdictReport run_meanfield_nonlinear(const ExperimentOptions& options) {
  const auto settings = nonlinear_settings(options.profile);
  const auto plan = meanfield_nonlinear_plan(options.profile);
  VerdictReport report;
  NonlinearTables tables;
  const SlopeJudge slope{plan, options.seed, tables.fits, report};
  std::uint64_t case_index = 0;
  for (const auto& c : width_cases(settings)) {
    const auto m = measure_width_case(c, settings.samples, options.seed + 10 * case_index);
    const auto d = deviations_from(m.runs, m.reference);
    std::optional<Deviations> control;
    if (m.dropped_limit) control = deviations_from(m.runs, *m.dropped_limit);
    table_width_case(c, m, d, control, tables);
    judge_width_case(c, d, control, case_index, slope);
    ++case_index;
  }
  const auto counts = measure_expert_count(settings, options.seed);
  const auto count_deviation = deviations_from(counts.runs, counts.reference);
  const auto count_control = deviations_from(counts.runs, counts.dropped);
  table_expert_count(counts, count_deviation, count_control, settings, tables);
  judge_expert_count(counts, count_deviation, count_control, settings.count_seeds, slope);

  tables.deviations.write(options.out_dir / "nonlinear_deviation.csv");
  tables.summary.write(options.out_dir / "nonlinear_summary.csv");
  tables.trajectories.write(options.out_dir / "nonlinear_trajectories.csv");
  tables.fits.write(options.out_dir / "nonlinear_fits.csv");  // rows of both axes (column "axis")
  tables.references.write(options.out_dir / "nonlinear_reference.csv");
  tables.count_deviations.write(options.out_dir / "nonlinear_expert_count_deviation.csv");
  tables.count_summary.write(options.out_dir / "nonlinear_expert_count_summary.csv");
  tables.count_trajectories.write(options.out_dir / "nonlinear_expert_count_trajectories.csv");
  tables.count_references.write(options.out_dir / "nonlinear_expert_count_reference.csv");
  return report;
}

}  // namespace

Experiment make_meanfield_nonlinear_experiment() {
  Experiment e;
  e.name = "meanfield-nonlinear";
  e.description =
      "erf dense and sigmoid-routed MoE layers (population gradients): finite-width deviation from the nonlinear mean-field "
      "limit (Gauss-Hermite node ODE) decays as width^-1/2, and along the expert count N at fixed h and a/N (large-N "
      "expert-particle reference) as N^-1/2; R=1 limits as controls";
  e.claims = {"meanfield-convergence"};
  e.plot_script = "meanfield_nonlinear.py";
  e.plan = meanfield_nonlinear_plan;
  e.run = run_meanfield_nonlinear;
  return e;
}

}  // namespace muelab::experiments::meanfield
