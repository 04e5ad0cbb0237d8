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
#include "common.hpp"
#include "edge_sweep.hpp"

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/analysis/lr_report.hpp"
#include "muelab/experiments/grid_policy.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/sim/statistics.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
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

struct ScheduleSettings {
  Budget base;                        ///< the proxy's budget (T0 steps at batch B)
  std::vector<SchedulePoint> points;  ///< T0, 2T0, 4T0 at the proxy's B
  double warmup_fraction = 1.0 / 15;  ///< warm-up steps / T (100 of 1500 on the capacity-bound task)
  std::vector<ScheduleModel> models;
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
};

ScheduleSettings duration_settings(Profile profile) {
  ScheduleSettings s;
  s.base = capacity_bound_budget(profile);
  s.base.batch_size = by_profile<std::int64_t>(profile, 8, 8, 16);
  s.base.seq_len = by_profile<std::int64_t>(profile, 32, 32, 64);
  const std::int64_t t0 = by_profile<std::int64_t>(profile, 20, 100, 750);
  for (const std::int64_t k : {1, 2, 4}) s.points.push_back({s.base.batch_size, t0 * k});
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
  return s;
}

Budget budget_at(const ScheduleSettings& s, const SchedulePoint& p) {
  Budget b = s.base;
  b.batch_size = p.batch_size;
  b.steps = p.steps;
  b.warmup = std::max<std::int64_t>(1, std::llround(s.warmup_fraction * static_cast<double>(p.steps)));
  return b;
}

/// The control's predicted drift per doubling of T (docs/claims.md `duration-transfer`); NaN: not a control.
double predicted_control_drift(const std::string& knob, const std::string& rule) {
  if (rule == "none") return knob == "lr" ? -0.5 : -1.0;
  if (rule == "lr-only" && knob == "wd") return -0.5;
  return kNaN;
}

ExperimentPlan duration_plan(Profile profile) {
  const auto s = duration_settings(profile);
  ExperimentPlan plan;
  nlohmann::json points = nlohmann::json::array();
  for (const auto& p : s.points) points.push_back({{"batch_size", p.batch_size}, {"steps", p.steps}});
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : s.models) models.push_back({{"name", m.name}, {"shape", shape_key(m.shape)}});
  plan.settings = {{"base_budget", to_json(budget_at(s, s.points.front()))}, {"needs_capacity_gate", true},
                   {"points", points}, {"warmup_fraction", s.warmup_fraction}, {"models", models},
                   {"rules", s.rules}, {"seeds", s.seeds},
                   {"lr_grid", {{"centre", s.lr_centre}, {"step_log2", s.lr_step}, {"points", 2 * s.lr_half + 1},
                                {"weight_decay", s.lr_weight_decay}}},
                   {"wd_grid", {{"centre", s.wd_centre}, {"step_log2", s.wd_step}, {"points", 2 * s.wd_half + 1},
                                {"base_lr", s.wd_lr}}},
                   {"edge_extra_points_cap", s.edge.max_extra_points}, {"bootstrap_resamples", s.resamples},
                   {"stays_put_per_doubling", s.stays_put.per_doubling}, {"stays_put_total", s.stays_put.total},
                   {"control_predicted_drift_per_doubling",
                    {{"none lr", predicted_control_drift("lr", "none")}, {"none wd", predicted_control_drift("wd", "none")},
                     {"lr-only wd", predicted_control_drift("wd", "lr-only")}}}};
  const double doublings = std::log2(static_cast<double>(s.points.back().steps) / static_cast<double>(s.points.front().steps));
  plan.claims["drift"] = {"duration-transfer", "drift of log2 eta* (lambda*) of the proxy per doubling of T",
                          VerdictKind::claim, Sidedness::two_sided, 0.0, s.stays_put.bound(doublings)};
  plan.claims["regret"] = {"duration-transfer",
                           "final loss at the T0-tuned point transferred to 4 T0 minus the target's best (nats)",
                           VerdictKind::claim, Sidedness::at_most, 0.0, s.regret_tolerance};
  return plan;
}

/// One curve: a knob swept on one model at one schedule point under one rule.
struct ScheduleCurve {
  std::string knob;  ///< "lr" or "wd"
  std::size_t model = 0, point = 0;
  std::string rule;
};

struct ScheduleMeasured {
  std::vector<ScheduleCurve> curves;
  EdgeSweepResult sweep;
};

Job schedule_job(const ScheduleSettings& s, const ScheduleCurve& c, double log2_x, int seed, std::uint64_t base_seed) {
  Job j;
  j.shape = s.models[c.model].shape;
  j.base_shape = s.models.front().shape;  // the dense proxy
  j.base.lr = c.knob == "lr" ? std::exp2(log2_x) : s.wd_lr;
  j.base.weight_decay = c.knob == "lr" ? s.lr_weight_decay : std::exp2(log2_x);
  j.rule = "complete-mue";
  j.rule_switches = {"rule.batch_duration=" + c.rule};
  j.budget = budget_at(s, s.points[c.point]);
  j.base_budget = budget_at(s, s.points.front());
  j.seed = base_seed * 1000 + static_cast<std::uint64_t>(seed) + 1;  // paired across curves
  return j;
}

std::vector<double> log2_of(const std::vector<double>& v) {
  std::vector<double> out;
  for (const double x : v) out.push_back(std::log2(x));
  return out;
}

ScheduleMeasured measure(const ScheduleSettings& s, const ExperimentOptions& o, const std::string& label) {
  ScheduleMeasured m;
  std::vector<std::vector<double>> grids;
  const auto lr_grid = log2_of(log2_grid(s.lr_centre, s.lr_half, s.lr_step));
  const auto wd_grid = log2_of(log2_grid(s.wd_centre, s.wd_half, s.wd_step));
  for (const std::string knob : {"lr", "wd"})
    for (std::size_t model = 0; model < s.models.size(); ++model)
      for (const auto& rule : s.rules)
        for (std::size_t p = 0; p < s.points.size(); ++p) {  // at p = 0 (q = 1) the rules coincide: trained once
          m.curves.push_back({knob, model, p, rule});
          grids.push_back(knob == "lr" ? lr_grid : wd_grid);
        }
  m.sweep = sweep_curves_until_interior(
      grids, s.seeds, [&](std::size_t c, double x, int seed) { return schedule_job(s, m.curves[c], x, seed, o.seed); },
      s.edge, o.out_dir / "scratch", o.threads, label);
  return m;
}

std::size_t curve_index(const ScheduleMeasured& m, const std::string& knob, std::size_t model, std::size_t point,
                        const std::string& rule) {
  for (std::size_t c = 0; c < m.curves.size(); ++c) {
    const auto& k = m.curves[c];
    if (k.knob == knob && k.model == model && k.point == point && k.rule == rule) return c;
  }
  throw std::logic_error("duration-transfer: missing curve");
}

double loss_at(const ScheduleMeasured& m, std::size_t c, double x, int seed) {
  for (const auto& r : m.sweep.runs[c])
    if (r.seed == seed && std::abs(r.log2_x - x) < 1e-9) return r.loss;
  return kNaN;
}

struct ScheduleTables {
  CsvTable runs{{"knob", "model", "rule", "batch_size", "steps", "log2_value", "seed", "final_validation_loss"}};
  CsvTable curves{{"knob", "model", "rule", "batch_size", "steps", "log2_value", "mean_loss", "standard_error"}};
  CsvTable optima{{"knob", "model", "rule", "batch_size", "steps", "log2_star", "ci_low", "ci_high", "loss_star", "at_edge"}};
  CsvTable drifts{{"knob", "model", "rule", "drift", "ci_low", "ci_high", "bound", "predicted", "edge_optima", "verdict"}};
  CsvTable regret{{"knob", "model", "rule", "steps", "log2_transferred", "log2_best", "regret", "ci_low", "ci_high", "seeds",
                   "verdict"}};
};

std::string symbol_of(const std::string& knob) { return knob == "lr" ? "eta*" : "lambda*"; }

/// The drift of one (knob, model, rule) across T; a row (claim for sqrt, control for the others) or, for
/// the lr-only η drift, only a table line (returns nullopt).
std::optional<Verdict> judge_drift(const ScheduleSettings& s, const ExperimentPlan& plan, const ScheduleMeasured& m,
                                   const std::string& knob, std::size_t model, const std::string& rule,
                                   std::uint64_t seed, ScheduleTables& t) {
  std::vector<analysis::LrRun> runs;
  for (std::size_t p = 0; p < s.points.size(); ++p) {
    const auto c = curve_index(m, knob, model, p, rule);
    const auto& pt = s.points[p];
    for (const auto& r : m.sweep.runs[c]) {
      runs.push_back({{{"steps", std::to_string(pt.steps)}}, std::to_string(r.seed), std::exp2(r.log2_x), r.loss});
      t.runs.add_row({knob, s.models[model].name, rule, static_cast<long long>(pt.batch_size),
                      static_cast<long long>(pt.steps), r.log2_x, static_cast<long long>(r.seed), r.loss});
    }
  }
  const auto a = analysis::analyze_lr_runs(runs, seed, s.resamples);
  for (const auto& c : a.curves) {
    const auto steps = std::stoll(c.axes.at("steps"));
    for (std::size_t q = 0; q < c.log2_lr.size(); ++q)
      t.curves.add_row({knob, s.models[model].name, rule, static_cast<long long>(s.base.batch_size), steps, c.log2_lr[q],
                        c.mean_loss[q], c.standard_error[q]});
    t.optima.add_row({knob, s.models[model].name, rule, static_cast<long long>(s.base.batch_size), steps,
                      c.optimum.log2_lr, c.ci.low, c.ci.high, c.optimum.loss,
                      static_cast<long long>(c.optimum.at_edge ? 1 : 0)});
  }
  if (a.drifts.size() != 1) throw std::logic_error("duration-transfer: expected one drift along T");
  const auto& d = a.drifts.front();
  const double predicted = rule == "sqrt" ? 0.0 : predicted_control_drift(knob, rule);
  auto spec = plan.claim("drift");
  spec.tolerance = s.stays_put.bound(d.doublings());
  const std::string name = fmt::format(
      "{}{}: drift of the proxy's log2 {} per doubling of T = {}..{} at B = {}x{} ({}, batch_duration = {}{}){}",
      rule == "sqrt" ? "" : "control: ", rule == "sqrt" ? "Complete-muE" : "rule " + rule, symbol_of(knob),
      s.points.front().steps, s.points.back().steps, s.base.batch_size, s.base.seq_len, s.models[model].name, rule,
      knob == "wd" ? fmt::format(", proxy lr {:.4g}", s.wd_lr) : std::string(),
      std::isnan(predicted) || rule == "sqrt" ? std::string() : fmt::format("; predicted {:+.1f}", predicted));
  std::optional<Verdict> row;
  std::string verdict_text = "tabulated";
  if (!std::isnan(predicted)) {
    if (rule != "sqrt") spec = as_control(spec);
    row = d.edge_optima > 0 ? not_measured(spec, name,
                                           fmt::format("optimum at grid edge ({} of {} curves)", d.edge_optima, d.curves.size()),
                                           d.drift, d.ci.low, d.ci.high)
                            : judge(spec, name, d.drift, d.ci.low, d.ci.high);
    verdict_text = to_string(row->outcome);
  }
  t.drifts.add_row({knob, s.models[model].name, rule, d.drift, d.ci.low, d.ci.high, spec.tolerance, predicted,
                    static_cast<long long>(d.edge_optima), verdict_text});
  return row;
}

/// Mean of paired differences with a Student-t 95% interval.
struct PairedMean {
  double mean = kNaN, low = kNaN, high = kNaN;
};
PairedMean paired_mean(const std::vector<double>& values) {
  PairedMean out;
  if (values.empty()) return out;
  const auto e = sim::mean_with_standard_error(values);
  const double half = values.size() >= 2 ? sim::student_t_975(static_cast<double>(values.size() - 1)) * e.standard_error : 0.0;
  return {e.mean, e.mean - half, e.mean + half};
}

/// The regret of the T0-tuned proxy point transferred by `rule` to the schedule point `point`: paired
/// per seed against the best grid point of the target's seed-mean curve. Judged at the last point
/// (sqrt: claim, none: control); tabulated elsewhere (returns nullopt).
std::optional<Verdict> judge_regret(const ScheduleSettings& s, const ExperimentPlan& plan, const ScheduleMeasured& m,
                                    const std::string& knob, std::size_t model, const std::string& rule, std::size_t point,
                                    ScheduleTables& t) {
  const auto& proxy = m.sweep.curves[curve_index(m, knob, 0, 0, rule)];
  const auto& target = m.sweep.curves[curve_index(m, knob, model, point, rule)];
  const auto proxy_min = proxy.minimum(), target_min = target.minimum();
  const double transferred = proxy.log2_x[proxy_min.best_index], best = target.log2_x[target_min.best_index];
  const auto c = curve_index(m, knob, model, point, rule);
  std::vector<double> gaps;
  for (int seed = 0; seed < s.seeds; ++seed) {
    const double at = loss_at(m, c, transferred, seed), at_best = loss_at(m, c, best, seed);
    if (std::isfinite(at) && std::isfinite(at_best)) gaps.push_back(at - at_best);
  }
  const auto g = paired_mean(gaps);
  const bool judged = point + 1 == s.points.size() && (rule == "sqrt" || rule == "none");
  std::optional<Verdict> row;
  std::string verdict_text = "tabulated";
  if (judged) {
    auto spec = plan.claim("regret");
    if (rule != "sqrt") spec = as_control(spec);
    const std::string name = fmt::format(
        "{}regret of the T0 = {}-tuned proxy {} (2^{:.2f}) transferred by batch_duration = {} to T = {} ({}), against "
        "the target's best 2^{:.2f}, paired over {} seeds",
        rule == "sqrt" ? "" : "control: ", s.points.front().steps, knob == "lr" ? "LR" : "WD", transferred, rule,
        s.points[point].steps, s.models[model].name, best, gaps.size());
    if (proxy_min.edge != GridEdge::interior || target_min.edge != GridEdge::interior)
      row = not_measured(spec, name, "optimum at grid edge (the proxy's or the target's curve)", g.mean, g.low, g.high);
    else if (static_cast<int>(gaps.size()) < s.seeds)
      row = not_measured(spec, name, "the transferred point was not measured (or diverged) for every seed");
    else
      row = judge(spec, name, g.mean, g.low, g.high);
    verdict_text = to_string(row->outcome);
  }
  t.regret.add_row({knob, s.models[model].name, rule, static_cast<long long>(s.points[point].steps), transferred, best, g.mean,
                    g.low, g.high, static_cast<long long>(gaps.size()), verdict_text});
  return row;
}

VerdictReport run_duration_transfer(const ExperimentOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto s = duration_settings(o.profile);
  const auto plan = duration_plan(o.profile);
  note(fmt::format("duration-transfer ({}): seed {}, {} seeds, T0 = {} steps, batch {}x{}", to_string(o.profile), o.seed,
                   s.seeds, s.points.front().steps, s.base.batch_size, s.base.seq_len));
  const auto m = measure(s, o, "duration-transfer");
  VerdictReport report;
  ScheduleTables t;
  std::uint64_t salt = 0;
  for (const std::string knob : {"lr", "wd"})
    for (std::size_t model = 0; model < s.models.size(); ++model) {
      std::map<std::string, std::optional<Verdict>> rows;
      for (const auto& rule : s.rules) rows[rule] = judge_drift(s, plan, m, knob, model, rule, o.seed + 101 * (++salt), t);
      // A rule that cannot tell sqrt from none (or, for λ, from lr-only) makes the sqrt row uninformative.
      std::vector<Verdict> claim = {*rows.at("sqrt")};
      for (const auto& rule : s.rules)
        if (rule != "sqrt" && rows.at(rule)) analysis::mark_not_informative(claim, *rows.at(rule));
      report.verdicts.push_back(claim.front());
      for (const auto& rule : s.rules)
        if (rule != "sqrt" && rows.at(rule)) report.verdicts.push_back(*rows.at(rule));
      for (std::size_t p = 1; p < s.points.size(); ++p)
        for (const auto& rule : s.rules)
          if (auto r = judge_regret(s, plan, m, knob, model, rule, p, t)) report.verdicts.push_back(*r);
    }
  t.runs.write(o.out_dir / "runs.csv");
  t.curves.write(o.out_dir / "curves.csv");
  t.optima.write(o.out_dir / "optima.csv");
  t.drifts.write(o.out_dir / "drifts.csv");
  t.regret.write(o.out_dir / "regret.csv");
  const auto gate = read_capacity_gate(capacity_gate_file(o.out_dir));
  if (mark_task_not_capacity_bound(report.verdicts, gate) > 0)
    note("duration-transfer: rows not judged, task not capacity-bound: " + gate.reason);
  note(fmt::format("duration-transfer: {} runs requested, {} trained ({} resumed), {:.0f} s", m.sweep.requested,
                   m.sweep.trained, m.sweep.resumed,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
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
  e.plot_script = "duration_transfer.py";
  e.run = run_duration_transfer;
  e.plan = duration_plan;
  return e;
}

}  // namespace muelab::experiments::transformer
