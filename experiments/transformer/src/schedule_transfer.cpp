// duration-transfer (docs/theory.md §4, docs/claims.md `duration-transfer`): does Complete-muE's
// square-root duration rule keep the optimum of the proxy's LR and WD put when the target trains longer?
//
// The dense proxy trains T0 steps at batch B; targets train T = T0, 2T0, 4T0 at the same B (q = T0/T),
// the warm-up a fixed fraction of T and the WSD decay the last 20% (the schedule scales with T). Each
// target is the proxy itself and an MoE (N = 8, a = 2, h = d/2: Bridge I on top). For every target and
// rule `batch_duration` ∈ {sqrt (Complete-muE), lr-only, none} the proxy's LR is swept (at the task's
// λ), and separately its WD (at a fixed proxy LR), each transferred by the rule: under `sqrt` the
// target gets η·√q, λ·√q, ε/√q, 1−β·q; `lr-only` only η·√q; `none` nothing. If the rule is right, the
// best *proxy* value is the same at every T: the drift of log2 η* (λ*) per doubling of T, with a paired
// bootstrap CI over seeds, is judged against 0 ± the stays-put bound (docs/claims.md).
//
// Controls, predicted before any run (docs/claims.md `duration-transfer`): if iso-horizon holds
// (η ∝ T^-1/2 and ηλT fixed), `none` drifts by −½ octave per doubling of T in η and −1 in λ (the
// target keeps η, so λ alone must fall as 1/T), and `lr-only` by −½ in λ. `none` on η is also the
// power check of the `sqrt` η row (docs/claims.md, "Power checks"), `none` and `lr-only` on λ those of
// the `sqrt` λ row. The `lr-only` η drift equals the `none` drift + ½ by construction (the same runs on
// a shifted grid): it is tabulated, not judged.
//
// Regret (what a user pays): the best proxy grid point at T0, transferred by each rule to 4T0, against
// the best grid point of the target's own sweep, paired per seed: at most 0.01 nats under `sqrt`; the
// `none` rows are controls.
//
// batch-transfer (docs/claims.md `batch-transfer`) runs the same sweeps along two series of batch ×1,
// ×2, ×4: at fixed tokens (T ÷ κ, q = κ: §4's exact case; controls drift +½ / +1 / +½ octave per
// doubling of B, the mirror image of the duration controls), with the loss at the transferred point
// required to collapse (×4 minus ×1, paired, 0 ± 0.01 nats); and at fixed steps (q = 1: every rule is
// the identity, the drifts are tabulated) where §4 predicts only σ0 ∝ 1/√κ: the gradient-noise std at
// the same parameters, batch κB over B, against 1/√κ ± 10%, with "σ0 unchanged" as the control.
#include "common.hpp"
#include "edge_sweep.hpp"
#include "expert_noise.hpp"

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/analysis/lr_report.hpp"
#include "muelab/experiments/grid_policy.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/experiments/transformer_metrics.hpp"
#include "muelab/models/cpu/blas.hpp"
#include "muelab/models/cpu/model.hpp"
#include "muelab/sim/statistics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <omp.h>
#include <optional>

namespace muelab::experiments::transformer {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// One (batch, steps) point of the schedule axis; the first point is the proxy's own (q = 1).
struct SchedulePoint {
  std::int64_t batch_size = 16, steps = 750;
};

struct ScheduleModel {
  std::string name;  ///< "dense" or "moe"
  Shape shape;
};

/// A series of schedule points swept in one experiment; the first point is the proxy's own (q = 1).
struct ScheduleSeries {
  std::string name;   ///< "duration", "fixed tokens", "fixed steps"
  std::string axis;   ///< "steps" or "batch_size": the value whose doublings the drift is per
  std::vector<SchedulePoint> points;
  /// false where q = 1 at every point (batch at fixed steps): the rules coincide, one curve per knob,
  /// its drift tabulated (the rule predicts nothing about it; docs/theory.md §4 predicts only σ0).
  bool rule_matters = true;
  /// The proxy values swept along this series: "lr" (at the task's λ) and "wd" (at a fixed proxy LR).
  std::vector<std::string> knobs = {"lr", "wd"};
  [[nodiscard]] std::int64_t value(const SchedulePoint& p) const { return axis == "steps" ? p.steps : p.batch_size; }
};

struct ScheduleSettings {
  std::string experiment;             ///< "duration-transfer" or "batch-transfer"
  Budget base;                        ///< the proxy's budget (T0 steps at batch B)
  std::vector<ScheduleSeries> series;
  double warmup_fraction = 1.0 / 15;  ///< warm-up steps / T (100 of 1500 on the capacity-bound task)
  std::vector<ScheduleModel> models;
  /// batch_duration values; "sqrt-power" is sqrt with beta_rule = power (β' = β^q instead of 1−β ×q).
  std::vector<std::string> rules = {"sqrt", "lr-only", "none"};
  int seeds = 5;
  // LR sweeps of the proxy's LR at the task's λ: centre 2^-6 (the proxy's η* at 1500 steps is 1.28e-2,
  // capacity-gate; iso-horizon puts it √2 higher at T0 = 750), half-octave steps.
  double lr_centre = 0.015625, lr_step = 0.5, lr_weight_decay = kCapacityTaskWeightDecay;
  int lr_half = 3;
  // WD sweeps at proxy LR 2^-6: 7 points 5/6 octave apart from λ = 2^-3.5·2^-2.5 to 2^-3.5·2^2.5, i.e.
  // ηλT0 ≈ 0.31 … 9.9 at T0 = 750 (the informative range of the issue: λ* can be interior).
  double wd_lr = 0.015625, wd_centre = 0.08838834764831845, wd_step = 5.0 / 6.0;
  int wd_half = 3;
  EdgePolicy edge;
  std::size_t resamples = 2000;
  analysis::StaysPut stays_put;
  double regret_tolerance = 0.01;  ///< nats (docs/claims.md, "Default tolerances")
  // batch-transfer's σ0 at fixed steps: minibatches per σ_g estimate, proxy steps before the second
  // measurement, tolerance relative to the prediction (as bridge2-transformer's σ0 rows).
  std::int64_t noise_batches = 64, warm_steps = 20;
  double sigma0_relative_tolerance = 0.1;
};

/// The sweeps, models and grids both experiments share (the capacity-bound task, docs/theory.md §9).
ScheduleSettings shared_settings(Profile profile) {
  ScheduleSettings s;
  s.base = capacity_bound_budget(profile);
  s.base.batch_size = by_profile<std::int64_t>(profile, 8, 8, 16);
  s.base.seq_len = by_profile<std::int64_t>(profile, 32, 32, 64);
  Shape dense = dense_proxy(32, 2);
  Shape moe = dense;
  moe.ffn = "moe";
  moe.n_experts = 8;
  moe.n_active = 2;
  moe.d_expert = 16;
  s.models = {{"dense", dense}, {"moe", moe}};
  s.seeds = by_profile(profile, 2, 2, 5);
  s.lr_half = by_profile(profile, 1, 1, 3);
  s.lr_step = by_profile(profile, 1.0, 1.0, 0.5);
  s.wd_half = by_profile(profile, 1, 1, 3);
  s.wd_step = by_profile(profile, 2.5, 2.5, 5.0 / 6.0);
  s.edge.max_extra_points = by_profile(profile, 1, 1, 4);
  s.resamples = by_profile<std::size_t>(profile, 200, 1000, 2000);
  s.noise_batches = by_profile<std::int64_t>(profile, 4, 16, 64);
  s.warm_steps = by_profile<std::int64_t>(profile, 2, 10, 20);
  return s;
}

ScheduleSettings duration_settings(Profile profile) {
  auto s = shared_settings(profile);
  s.experiment = "duration-transfer";
  const std::int64_t t0 = by_profile<std::int64_t>(profile, 20, 50, 750);
  ScheduleSeries duration{"duration", "steps", {}, true};
  for (const std::int64_t k : {1, 2, 4}) duration.points.push_back({s.base.batch_size, t0 * k});
  s.series = {duration};
  if (profile == Profile::full) {
    // The extension to 8T0 (LR only), declared after the T0..4T0 result and before its run
    // (docs/claims.md `duration-transfer`, "Extension to 8T0"): the `none` control's η drift sat on
    // the band's edge (−0.29 [−0.36, −0.25]); a third doubling narrows the CI and, by the stays-put
    // default, the band (±1/6 per doubling over three). The T0..4T0 runs are shared (trained once).
    ScheduleSeries longer{"duration to 8T0", "steps", duration.points, true, {"lr"}};
    longer.points.push_back({s.base.batch_size, t0 * 8});
    s.series.push_back(longer);
  }
  return s;
}

/// Batch ×1, ×2, ×4 at fixed tokens (T ÷ κ: q = κ, the exact case of docs/theory.md §4) and at fixed
/// steps (q = 1: no hyperparameter changes, σ0 falls as 1/√κ). T0 = 500 keeps the ×4 fixed-steps runs
/// (4 × the tokens) affordable.
ScheduleSettings batch_settings(Profile profile) {
  auto s = shared_settings(profile);
  s.experiment = "batch-transfer";
  // At q = κ the β rules differ most (q = 4: β1 0.6 linear vs 0.656 power): both judged as claims.
  s.rules = {"sqrt", "sqrt-power", "lr-only", "none"};
  s.base.batch_size = by_profile<std::int64_t>(profile, 4, 4, 8);
  const std::int64_t t0 = by_profile<std::int64_t>(profile, 20, 64, 500);
  ScheduleSeries tokens{"fixed tokens", "batch_size", {}, true}, steps{"fixed steps", "batch_size", {}, false};
  for (const std::int64_t k : {1, 2, 4}) {
    tokens.points.push_back({s.base.batch_size * k, t0 / k});
    steps.points.push_back({s.base.batch_size * k, t0});
  }
  s.series = {tokens, steps};
  return s;
}

Budget budget_at(const ScheduleSettings& s, const SchedulePoint& p) {
  Budget b = s.base;
  b.batch_size = p.batch_size;
  b.steps = p.steps;
  b.warmup = std::max<std::int64_t>(1, std::llround(s.warmup_fraction * static_cast<double>(p.steps)));
  return b;
}

/// Complete-muE's √ rule, with either β rule: the claim rows.
bool is_claim_rule(const std::string& rule) { return rule == "sqrt" || rule == "sqrt-power"; }

/// The rules swept on a series (one where they coincide).
std::vector<std::string> rules_of(const ScheduleSettings& s, const ScheduleSeries& series) {
  return series.rule_matters ? s.rules : std::vector<std::string>{"sqrt"};
}

/// A control's drift per doubling of the series' axis, predicted from iso-horizon before any run
/// (docs/claims.md `duration-transfer`, `batch-transfer`); NaN: not a control. Longer runs want a
/// smaller η (sign −1), larger batches at fixed tokens a larger one (+1).
double predicted_control_drift(const ScheduleSeries& series, const std::string& knob, const std::string& rule) {
  if (!series.rule_matters) return kNaN;
  const double sign = series.axis == "steps" ? -1.0 : 1.0;
  if (rule == "none") return sign * (knob == "lr" ? 0.5 : 1.0);
  if (rule == "lr-only" && knob == "wd") return sign * 0.5;
  return kNaN;
}

double doublings_of(const ScheduleSeries& series) {
  return std::log2(static_cast<double>(series.value(series.points.back())) /
                   static_cast<double>(series.value(series.points.front())));
}

ExperimentPlan schedule_plan(const ScheduleSettings& s, Profile profile) {
  (void)profile;
  ExperimentPlan plan;
  nlohmann::json series = nlohmann::json::array();
  for (const auto& sr : s.series) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : sr.points) points.push_back({{"batch_size", p.batch_size}, {"steps", p.steps}});
    nlohmann::json predictions = nlohmann::json::object();
    for (const auto& knob : sr.knobs)
      for (const auto& rule : rules_of(s, sr))
        if (const double d = predicted_control_drift(sr, knob, rule); !std::isnan(d)) predictions[rule + " " + knob] = d;
    series.push_back({{"name", sr.name}, {"axis", sr.axis}, {"points", points}, {"rules", rules_of(s, sr)},
                      {"control_predicted_drift_per_doubling", predictions}});
    if (sr.knobs != ScheduleSeries{}.knobs) series.back()["knobs"] = sr.knobs;
  }
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : s.models) models.push_back({{"name", m.name}, {"shape", shape_key(m.shape)}});
  plan.settings = {{"base_budget", to_json(budget_at(s, s.series.front().points.front()))}, {"needs_capacity_gate", true},
                   {"series", series}, {"warmup_fraction", s.warmup_fraction}, {"models", models}, {"seeds", s.seeds},
                   {"lr_grid", {{"centre", s.lr_centre}, {"step_log2", s.lr_step}, {"points", 2 * s.lr_half + 1},
                                {"weight_decay", s.lr_weight_decay}}},
                   {"wd_grid", {{"centre", s.wd_centre}, {"step_log2", s.wd_step}, {"points", 2 * s.wd_half + 1},
                                {"base_lr", s.wd_lr}}},
                   {"edge_extra_points_cap", s.edge.max_extra_points}, {"bootstrap_resamples", s.resamples},
                   {"stays_put_per_doubling", s.stays_put.per_doubling}, {"stays_put_total", s.stays_put.total}};
  const double doublings = doublings_of(s.series.front());
  plan.claims["drift"] = {s.experiment, "drift of the proxy's log2 eta* (lambda*) per doubling of the series' axis",
                          VerdictKind::claim, Sidedness::two_sided, 0.0, s.stays_put.bound(doublings)};
  plan.claims["regret"] = {s.experiment,
                           "final loss at the proxy-tuned point transferred to the series' last point minus the target's best (nats)",
                           VerdictKind::claim, Sidedness::at_most, 0.0, s.regret_tolerance};
  if (s.experiment == "batch-transfer") {
    plan.claims["collapse"] = {s.experiment,
                               "final loss at the transferred proxy LR, batch x4 at fixed tokens minus batch x1 (nats)",
                               VerdictKind::claim, Sidedness::two_sided, 0.0, s.regret_tolerance};
    const auto& steps = s.series.back();
    for (std::size_t p = 1; p < steps.points.size(); ++p) {
      const double kappa = static_cast<double>(steps.points[p].batch_size) / static_cast<double>(steps.points.front().batch_size);
      plan.claims[fmt::format("sigma0 x{:g}", kappa)] = {
          s.experiment, "gradient-noise std ratio at the same parameters, batch kappa B over B (sigma0 at fixed steps)",
          VerdictKind::claim, Sidedness::two_sided, 1.0 / std::sqrt(kappa), s.sigma0_relative_tolerance / std::sqrt(kappa)};
    }
  }
  return plan;
}

ExperimentPlan duration_plan(Profile profile) { return schedule_plan(duration_settings(profile), profile); }
ExperimentPlan batch_plan(Profile profile) { return schedule_plan(batch_settings(profile), profile); }

/// One curve: a knob swept on one model at one point of one series under one rule.
struct ScheduleCurve {
  std::string knob;  ///< "lr" or "wd"
  std::size_t series = 0, model = 0, point = 0;
  std::string rule;
};

struct ScheduleMeasured {
  std::vector<ScheduleCurve> curves;
  EdgeSweepResult sweep;
};

Job schedule_job(const ScheduleSettings& s, const ScheduleCurve& c, double log2_x, int seed, std::uint64_t base_seed) {
  const auto& series = s.series[c.series];
  Job j;
  j.shape = s.models[c.model].shape;
  j.base_shape = s.models.front().shape;  // the dense proxy
  j.base.lr = c.knob == "lr" ? std::exp2(log2_x) : s.wd_lr;
  j.base.weight_decay = c.knob == "lr" ? s.lr_weight_decay : std::exp2(log2_x);
  j.rule = "complete-mue";
  j.rule_switches = c.rule == "sqrt-power" ? std::vector<std::string>{"rule.batch_duration=sqrt", "rule.beta_rule=power"}
                                           : std::vector<std::string>{"rule.batch_duration=" + c.rule};
  j.budget = budget_at(s, series.points[c.point]);
  j.base_budget = budget_at(s, series.points.front());
  j.seed = base_seed * 1000 + static_cast<std::uint64_t>(seed) + 1;  // paired across curves
  return j;
}

std::vector<double> log2_of(const std::vector<double>& v) {
  std::vector<double> out;
  for (const double x : v) out.push_back(std::log2(x));
  return out;
}

ScheduleMeasured measure(const ScheduleSettings& s, const ExperimentOptions& o) {
  ScheduleMeasured m;
  std::vector<std::vector<double>> grids;
  const auto lr_grid = log2_of(log2_grid(s.lr_centre, s.lr_half, s.lr_step));
  const auto wd_grid = log2_of(log2_grid(s.wd_centre, s.wd_half, s.wd_step));
  for (std::size_t sr = 0; sr < s.series.size(); ++sr)
    for (const auto& knob : s.series[sr].knobs)
      for (std::size_t model = 0; model < s.models.size(); ++model)
        for (const auto& rule : rules_of(s, s.series[sr]))
          for (std::size_t p = 0; p < s.series[sr].points.size(); ++p) {  // at q = 1 the rules coincide: trained once
            m.curves.push_back({knob, sr, model, p, rule});
            grids.push_back(knob == "lr" ? lr_grid : wd_grid);
          }
  m.sweep = sweep_curves_until_interior(
      grids, s.seeds, [&](std::size_t c, double x, int seed) { return schedule_job(s, m.curves[c], x, seed, o.seed); },
      s.edge, o, s.experiment);
  return m;
}

std::size_t curve_index(const ScheduleMeasured& m, const std::string& knob, std::size_t series, std::size_t model,
                        std::size_t point, const std::string& rule) {
  for (std::size_t c = 0; c < m.curves.size(); ++c) {
    const auto& k = m.curves[c];
    if (k.knob == knob && k.series == series && k.model == model && k.point == point && k.rule == rule) return c;
  }
  throw std::logic_error("schedule transfer: missing curve");
}

double loss_at(const ScheduleMeasured& m, std::size_t c, double x, int seed) {
  for (const auto& r : m.sweep.runs[c])
    if (r.seed == seed && std::abs(r.log2_x - x) < 1e-9) return r.loss;
  return kNaN;
}

struct ScheduleTables {
  CsvTable runs{{"series", "knob", "model", "rule", "batch_size", "steps", "log2_value", "seed", "final_validation_loss"}};
  CsvTable curves{{"series", "knob", "model", "rule", "batch_size", "steps", "log2_value", "mean_loss", "standard_error"}};
  CsvTable optima{{"series", "knob", "model", "rule", "batch_size", "steps", "log2_star", "ci_low", "ci_high", "loss_star",
                   "at_edge"}};
  CsvTable drifts{{"series", "axis", "knob", "model", "rule", "drift", "ci_low", "ci_high", "bound", "predicted",
                   "edge_optima", "verdict"}};
  CsvTable regret{{"series", "knob", "model", "rule", "batch_size", "steps", "log2_transferred", "log2_best", "regret",
                   "ci_low", "ci_high", "seeds", "verdict"}};
};

std::string symbol_of(const std::string& knob) { return knob == "lr" ? "eta*" : "lambda*"; }

std::string point_text(const ScheduleSettings& s, const SchedulePoint& p) {
  return fmt::format("B = {}x{}, T = {}", p.batch_size, s.base.seq_len, p.steps);
}

/// The drift of one (series, knob, model, rule) along the series' axis: a row (claim for sqrt, control
/// for the rules with a predicted drift) or only a table line (nullopt).
std::optional<Verdict> judge_drift(const ScheduleSettings& s, const ExperimentPlan& plan, const ScheduleMeasured& m,
                                   std::size_t sr, const std::string& knob, std::size_t model, const std::string& rule,
                                   std::uint64_t seed, ScheduleTables& t) {
  const auto& series = s.series[sr];
  std::vector<analysis::LrRun> runs;
  for (std::size_t p = 0; p < series.points.size(); ++p) {
    const auto c = curve_index(m, knob, sr, model, p, rule);
    const auto& pt = series.points[p];
    for (const auto& r : m.sweep.runs[c]) {
      runs.push_back({{{series.axis, std::to_string(series.value(pt))}}, std::to_string(r.seed), std::exp2(r.log2_x), r.loss});
      t.runs.add_row({series.name, knob, s.models[model].name, rule, static_cast<long long>(pt.batch_size),
                      static_cast<long long>(pt.steps), r.log2_x, static_cast<long long>(r.seed), r.loss});
    }
  }
  const auto a = analysis::analyze_lr_runs(runs, seed, s.resamples);
  for (const auto& c : a.curves) {
    const auto v = std::stoll(c.axes.at(series.axis));
    const auto& pt = *std::find_if(series.points.begin(), series.points.end(), [&](const SchedulePoint& p) { return series.value(p) == v; });
    for (std::size_t q = 0; q < c.log2_lr.size(); ++q)
      t.curves.add_row({series.name, knob, s.models[model].name, rule, static_cast<long long>(pt.batch_size),
                        static_cast<long long>(pt.steps), c.log2_lr[q], c.mean_loss[q], c.standard_error[q]});
    t.optima.add_row({series.name, knob, s.models[model].name, rule, static_cast<long long>(pt.batch_size),
                      static_cast<long long>(pt.steps), c.optimum.log2_lr, c.ci.low, c.ci.high, c.optimum.loss,
                      static_cast<long long>(c.optimum.at_edge ? 1 : 0)});
  }
  if (a.drifts.size() != 1) throw std::logic_error("schedule transfer: expected one drift along the series");
  const auto& d = a.drifts.front();
  const bool claim = series.rule_matters && is_claim_rule(rule);
  const double predicted = claim ? 0.0 : predicted_control_drift(series, knob, rule);
  auto spec = plan.claim("drift");
  spec.tolerance = s.stays_put.bound(d.doublings());
  const std::string name = fmt::format(
      "{}{}: drift of the proxy's log2 {} per doubling of {} ({}: {} .. {}; {}, batch_duration = {}{}){}",
      claim ? "" : "control: ", claim ? (rule == "sqrt" ? "Complete-muE" : "Complete-muE, beta_rule = power") : "rule " + rule, symbol_of(knob),
      series.axis == "steps" ? "T" : "B", series.name, point_text(s, series.points.front()), point_text(s, series.points.back()),
      s.models[model].name, rule, knob == "wd" ? fmt::format(", proxy lr {:.4g}", s.wd_lr) : std::string(),
      claim || std::isnan(predicted) ? std::string() : fmt::format("; predicted {:+.1f}", predicted));
  std::optional<Verdict> row;
  std::string verdict_text = "tabulated";
  if (!std::isnan(predicted)) {
    if (!claim) spec = as_control(spec);
    row = d.edge_optima > 0 ? not_measured(spec, name,
                                           fmt::format("optimum at grid edge ({} of {} curves)", d.edge_optima, d.curves.size()),
                                           d.drift, d.ci.low, d.ci.high)
                            : judge(spec, name, d.drift, d.ci.low, d.ci.high);
    verdict_text = to_string(row->outcome);
  }
  t.drifts.add_row({series.name, series.axis, knob, s.models[model].name, rule, d.drift, d.ci.low, d.ci.high,
                    spec.tolerance, predicted, static_cast<long long>(d.edge_optima), verdict_text});
  return row;
}

/// The proxy's tuned point: the best grid point of the dense proxy's own curve (point 0, q = 1).
struct TunedPoint {
  double log2_x = kNaN;
  bool interior = false;
};
TunedPoint tuned_point(const ScheduleMeasured& m, const std::string& knob, std::size_t sr, const std::string& rule) {
  const auto& proxy = m.sweep.curves[curve_index(m, knob, sr, 0, 0, rule)];
  const auto where = proxy.minimum();
  return {proxy.log2_x[where.best_index], where.edge == GridEdge::interior};
}

/// The regret of the proxy-tuned point transferred by `rule` to a point of the series, paired per seed
/// against the best grid point of the target's seed-mean curve. Judged at the series' last point
/// (sqrt: claim, none: control); tabulated elsewhere (nullopt).
std::optional<Verdict> judge_regret(const ScheduleSettings& s, const ExperimentPlan& plan, const ScheduleMeasured& m,
                                    std::size_t sr, const std::string& knob, std::size_t model, const std::string& rule,
                                    std::size_t point, ScheduleTables& t) {
  const auto& series = s.series[sr];
  const auto tuned = tuned_point(m, knob, sr, rule);
  const auto c = curve_index(m, knob, sr, model, point, rule);
  const auto& target = m.sweep.curves[c];
  const auto target_min = target.minimum();
  const double best = target.log2_x[target_min.best_index];
  std::vector<double> gaps;
  for (int seed = 0; seed < s.seeds; ++seed) {
    const double at = loss_at(m, c, tuned.log2_x, seed), at_best = loss_at(m, c, best, seed);
    if (std::isfinite(at) && std::isfinite(at_best)) gaps.push_back(at - at_best);
  }
  const auto g = seed_mean(gaps);
  const auto& pt = series.points[point];
  const bool judged = point + 1 == series.points.size() && (rule == "sqrt" || rule == "none");
  std::optional<Verdict> row;
  std::string verdict_text = "tabulated";
  if (judged) {
    auto spec = plan.claim("regret");
    if (rule != "sqrt") spec = as_control(spec);
    const std::string name = fmt::format(
        "{}regret of the proxy {} tuned at {} (2^{:.2f}) transferred by batch_duration = {} to {} ({}), against the "
        "target's best 2^{:.2f}, paired over {} seeds",
        rule == "sqrt" ? "" : "control: ", knob == "lr" ? "LR" : "WD", point_text(s, series.points.front()), tuned.log2_x,
        rule, point_text(s, pt), s.models[model].name, best, gaps.size());
    if (!tuned.interior || target_min.edge != GridEdge::interior)
      row = not_measured(spec, name, "optimum at grid edge (the proxy's or the target's curve)", g.mean, g.low, g.high);
    else if (static_cast<int>(gaps.size()) < s.seeds)
      row = not_measured(spec, name, "the transferred point was not measured (or diverged) for every seed");
    else
      row = judge(spec, name, g.mean, g.low, g.high);
    verdict_text = to_string(row->outcome);
  }
  t.regret.add_row({series.name, knob, s.models[model].name, rule, static_cast<long long>(pt.batch_size),
                    static_cast<long long>(pt.steps), tuned.log2_x, best, g.mean, g.low, g.high,
                    static_cast<long long>(gaps.size()), verdict_text});
  return row;
}

/// batch-transfer's collapse (docs/theory.md §4: at fixed tokens the square-root rule is exact): the
/// final loss at the proxy-tuned LR transferred to batch ×4 (T ÷ 4) minus that at batch ×1, paired per
/// seed. sqrt: claim; none: control.
Verdict judge_collapse(const ScheduleSettings& s, const ExperimentPlan& plan, const ScheduleMeasured& m, std::size_t model,
                       const std::string& rule, CsvTable& csv) {
  const std::size_t sr = 0;  // fixed tokens
  const auto& series = s.series[sr];
  const auto tuned = tuned_point(m, "lr", sr, rule);
  const auto first = curve_index(m, "lr", sr, model, 0, rule);
  const auto last = curve_index(m, "lr", sr, model, series.points.size() - 1, rule);
  std::vector<double> gaps;
  for (int seed = 0; seed < s.seeds; ++seed) {
    const double a = loss_at(m, first, tuned.log2_x, seed), b = loss_at(m, last, tuned.log2_x, seed);
    if (std::isfinite(a) && std::isfinite(b)) gaps.push_back(b - a);
  }
  const auto g = seed_mean(gaps);
  auto spec = plan.claim("collapse");
  if (rule != "sqrt") spec = as_control(spec);
  const std::string name = fmt::format(
      "{}collapse at fixed tokens ({}): final loss at the proxy LR 2^{:.2f} transferred by batch_duration = {}, {} "
      "minus {}, paired over {} seeds",
      rule == "sqrt" ? "" : "control: ", s.models[model].name, tuned.log2_x, rule, point_text(s, series.points.back()),
      point_text(s, series.points.front()), gaps.size());
  const auto row = !tuned.interior ? not_measured(spec, name, "optimum at grid edge (the proxy's curve)", g.mean, g.low, g.high)
                   : static_cast<int>(gaps.size()) < s.seeds
                       ? not_measured(spec, name, "the transferred point was not measured (or diverged) for every seed")
                       : judge(spec, name, g.mean, g.low, g.high);
  csv.add_row({s.models[model].name, rule, tuned.log2_x, g.mean, g.low, g.high, static_cast<long long>(gaps.size()),
               to_string(row.outcome)});
  return row;
}

std::vector<Verdict> judge_series(const ScheduleSettings& s, const ExperimentPlan& plan, const ScheduleMeasured& m,
                                  std::size_t sr, std::uint64_t seed, ScheduleTables& t) {
  const auto& series = s.series[sr];
  std::vector<Verdict> out;
  std::uint64_t salt = 0;
  for (const auto& knob : series.knobs)
    for (std::size_t model = 0; model < s.models.size(); ++model) {
      std::map<std::string, std::optional<Verdict>> rows;
      for (const auto& rule : rules_of(s, series))
        rows[rule] = judge_drift(s, plan, m, sr, knob, model, rule, seed + 101 * (++salt), t);
      if (!series.rule_matters) continue;  // q = 1 throughout: the drift is tabulated only
      // A control that cannot be told from sqrt (none, or lr-only for λ) makes the sqrt rows uninformative.
      std::vector<Verdict> claims;
      for (const auto& rule : s.rules)
        if (is_claim_rule(rule)) claims.push_back(*rows.at(rule));
      for (const auto& rule : s.rules)
        if (!is_claim_rule(rule) && rows.at(rule)) analysis::mark_not_informative(claims, *rows.at(rule));
      out.insert(out.end(), claims.begin(), claims.end());
      for (const auto& rule : s.rules)
        if (!is_claim_rule(rule) && rows.at(rule)) out.push_back(*rows.at(rule));
      for (std::size_t p = 1; p < series.points.size(); ++p)
        for (const auto& rule : s.rules)
          if (auto r = judge_regret(s, plan, m, sr, knob, model, rule, p, t)) out.push_back(*r);
    }
  return out;
}

void write_tables(const ScheduleTables& t, const std::filesystem::path& dir) {
  t.runs.write(dir / "runs.csv");
  t.curves.write(dir / "curves.csv");
  t.optima.write(dir / "optima.csv");
  t.drifts.write(dir / "drifts.csv");
  t.regret.write(dir / "regret.csv");
}

void finish(const ScheduleSettings& s, const ScheduleMeasured& m, const ExperimentOptions& o, VerdictReport& report,
            std::chrono::steady_clock::time_point start) {
  judge_only_if_capacity_bound(s.experiment, report.verdicts, o.out_dir);
  note(fmt::format("{}: {} runs requested, {} trained ({} resumed, {} from the run cache), {:.0f} s", s.experiment,
                   m.sweep.requested, m.sweep.trained, m.sweep.resumed, m.sweep.cached,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
}

VerdictReport run_duration_transfer(const ExperimentOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto s = duration_settings(o.profile);
  const auto plan = duration_plan(o.profile);
  note(fmt::format("duration-transfer ({}): seed {}, {} seeds, T0 = {} steps, batch {}x{}", to_string(o.profile), o.seed,
                   s.seeds, s.series.front().points.front().steps, s.base.batch_size, s.base.seq_len));
  const auto m = measure(s, o);
  VerdictReport report;
  ScheduleTables t;
  for (std::size_t sr = 0; sr < s.series.size(); ++sr) {
    auto rows = judge_series(s, plan, m, sr, o.seed + 7919 * sr, t);
    report.verdicts.insert(report.verdicts.end(), rows.begin(), rows.end());
  }
  write_tables(t, o.out_dir);
  finish(s, m, o, report, start);
  return report;
}

/// At the same parameters (at init, and after `warm_steps` of the proxy's own training at batch B),
/// σ_g at every batch of the fixed-steps series, per seed and model: [model][stage][seed][point].
using NoiseTable = std::vector<std::vector<std::vector<std::vector<double>>>>;

NoiseTable measure_batch_noise(const ScheduleSettings& s, const ExperimentOptions& o) {
  const auto& series = s.series.back();
  const std::vector<std::int64_t> stages = {0, s.warm_steps};
  NoiseTable table(s.models.size(), std::vector<std::vector<std::vector<double>>>(
                                        stages.size(), std::vector<std::vector<double>>(static_cast<std::size_t>(s.seeds))));
  struct Task {
    std::size_t model, stage;
    int seed;
  };
  std::vector<Task> tasks;
  for (std::size_t model = 0; model < s.models.size(); ++model)
    for (std::size_t st = 0; st < stages.size(); ++st)
      for (int seed = 0; seed < s.seeds; ++seed) tasks.push_back({model, st, seed});
  const auto first = resolve(schedule_job(s, {"lr", s.series.size() - 1, 0, 0, "sqrt"}, std::log2(s.lr_centre), 0, o.seed));
  const auto data = models::cpu::make_token_source(first.data);
  note(fmt::format("{}: gradient noise on {} minibatches at batch x1, x2, x4 for {} (model, stage, seed)", s.experiment,
                   s.noise_batches, tasks.size()));
  const auto n = static_cast<std::ptrdiff_t>(tasks.size());
  const int team = o.threads > 0 ? o.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(team)
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    models::cpu::set_thread_count(1);
    const auto& task = tasks[static_cast<std::size_t>(i)];
    const auto run = resolve(schedule_job(s, {"lr", s.series.size() - 1, task.model, 0, "sqrt"}, std::log2(s.lr_centre),
                                          task.seed, o.seed));
    const auto& tr = run.target.train;
    const auto model = warmed_up_model(run, *data, stages[task.stage]);
    std::vector<std::size_t> trainable;
    for (std::size_t k = 0; k < model->parameters().size(); ++k)
      if (model->parameters()[k].trainable) trainable.push_back(k);
    auto& out = table[task.model][task.stage][static_cast<std::size_t>(task.seed)];
    for (const auto& p : series.points)
      out.push_back(whole_gradient_noise_std(
          gradient_moments(*model, *data, run.trainer.seed, p.batch_size, tr.seq_len, s.noise_batches, trainable)));
  }
  return table;
}

/// σ0 at fixed steps: the rule changes no hyperparameter (q = 1), so σ0 = η·σ_g moves as σ_g, predicted
/// ∝ 1/√κ. Claim rows at every κ; the control "σ0 unchanged" (ratio 1 ± the same relative tolerance)
/// at the largest κ must fail.
std::vector<Verdict> judge_batch_noise(const ScheduleSettings& s, const ExperimentPlan& plan, const NoiseTable& noise,
                                       CsvTable& csv) {
  const auto& series = s.series.back();
  std::vector<Verdict> rows;
  for (std::size_t model = 0; model < s.models.size(); ++model)
    for (std::size_t st = 0; st < 2; ++st)
      for (std::size_t p = 1; p < series.points.size(); ++p) {
        const double kappa = static_cast<double>(series.points[p].batch_size) / static_cast<double>(series.points.front().batch_size);
        std::vector<double> ratios;
        for (const auto& per_seed : noise[model][st]) ratios.push_back(per_seed[p] / per_seed[0]);
        const auto r = seed_mean(ratios);
        const auto stage = st == 0 ? std::string("at init") : fmt::format("after {} steps", s.warm_steps);
        const auto& spec = plan.claim(fmt::format("sigma0 x{:g}", kappa));
        rows.push_back(judge(spec,
                             fmt::format("sigma0 at fixed steps ({}, {}): gradient-noise std at batch {} over batch {}, "
                                         "same parameters, {} minibatches, {} seeds; predicted 1/sqrt({:g})",
                                         s.models[model].name, stage, series.points[p].batch_size,
                                         series.points.front().batch_size, s.noise_batches, ratios.size(), kappa),
                             r.mean, r.low, r.high));
        csv.add_row({s.models[model].name, stage, kappa, r.mean, r.low, r.high, 1.0 / std::sqrt(kappa),
                     to_string(rows.back().outcome)});
        if (p + 1 == series.points.size()) {
          auto control = as_control(spec);
          control.predicted = 1.0;
          control.tolerance = s.sigma0_relative_tolerance;
          rows.push_back(judge(control,
                               fmt::format("control: sigma0 unchanged by batch x{:g} at fixed steps ({}, {}); measured "
                                           "ratio against 1",
                                           kappa, s.models[model].name, stage),
                               r.mean, r.low, r.high));
        }
      }
  return rows;
}

VerdictReport run_batch_transfer(const ExperimentOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto s = batch_settings(o.profile);
  const auto plan = batch_plan(o.profile);
  note(fmt::format("batch-transfer ({}): seed {}, {} seeds, B0 = {}x{}, T0 = {} steps", to_string(o.profile), o.seed,
                   s.seeds, s.base.batch_size, s.base.seq_len, s.series.front().points.front().steps));
  const auto m = measure(s, o);
  const auto noise = measure_batch_noise(s, o);
  VerdictReport report;
  ScheduleTables t;
  for (std::size_t sr = 0; sr < s.series.size(); ++sr) {
    auto rows = judge_series(s, plan, m, sr, o.seed + 7919 * sr, t);
    report.verdicts.insert(report.verdicts.end(), rows.begin(), rows.end());
  }
  CsvTable collapse({"model", "rule", "log2_lr_transferred", "loss_gap", "ci_low", "ci_high", "seeds", "verdict"});
  for (std::size_t model = 0; model < s.models.size(); ++model)
    for (const std::string rule : {"sqrt", "none"}) report.verdicts.push_back(judge_collapse(s, plan, m, model, rule, collapse));
  CsvTable sigma({"model", "stage", "kappa", "sigma_ratio", "ci_low", "ci_high", "predicted", "verdict"});
  const auto noise_rows = judge_batch_noise(s, plan, noise, sigma);
  report.verdicts.insert(report.verdicts.end(), noise_rows.begin(), noise_rows.end());
  write_tables(t, o.out_dir);
  collapse.write(o.out_dir / "collapse.csv");
  sigma.write(o.out_dir / "sigma0.csv");
  finish(s, m, o, report, start);
  return report;
}

}  // namespace

Experiment make_duration_transfer_experiment() {
  Experiment e;
  e.name = "duration-transfer";
  e.description =
      "Duration transfer on the capacity-bound task: the dense proxy's LR and WD swept at T0, 2T0, 4T0 (fixed B), "
      "transferred to itself and to an MoE (N = 8, a = 2) by batch_duration = sqrt (Complete-muE), lr-only and none; "
      "drift of the proxy's eta* and lambda* per doubling of T, regret of the T0-tuned point at 4T0";
  e.claims = {"duration-transfer"};
  e.plot_script = "schedule_transfer.py";
  e.run = run_duration_transfer;
  e.plan = duration_plan;
  return e;
}

Experiment make_batch_transfer_experiment() {
  Experiment e;
  e.name = "batch-transfer";
  e.description =
      "Batch transfer on the capacity-bound task: batch x1, x2, x4 at fixed tokens (the exact sqrt case: eta*, "
      "lambda* must stay put, loss collapses; none and lr-only as controls) and at fixed steps (q = 1: optimum drift "
      "tabulated, gradient-noise sigma0 ratio against 1/sqrt(kappa)); dense proxy and MoE N = 8, a = 2";
  e.claims = {"batch-transfer"};
  e.plot_script = "schedule_transfer.py";
  e.run = run_batch_transfer;
  e.plan = batch_plan;
  return e;
}

}  // namespace muelab::experiments::transformer
