// wd-transfer (docs/claims.md `wd-transfer`, docs/theory.md §5.2): weight-decay transfer across the
// activated experts a (N = 8) and the capacity N (a = 2) on the capacity-bound task, the paper's WD row.
//
// The proxy's tuned LR (capacity-gate: η = 1.28e-2) and a λ grid laid out in ηλT, the quantity AdamW's
// coupled decay depends on (docs/theory.md §4), wide enough to reach the decay the model cannot
// tolerate: full ηλT = 2^−3.5 … 2^3.5 (0.09 … 11) on half-octave steps, 6 paired seeds. Complete-muE
// transfers the base λ to every MoE target; its claim is that the curves do not move:
//  - λ*: the optimum of each seed-mean curve under the edge policy (docs/claims.md, "Optima at a grid
//    edge"); on infinite fresh data the curve is flat toward small λ, so λ* may sit at the lower edge, and
//    such rows are inconclusive, never fitted.
//  - the upper knee: the largest log2 λ where the seed-mean loss is still within δ = 0.05 nats of the
//    curve's minimum (analysis/knee_analysis.hpp): how much decay the model tolerates, sharp where λ*
//    is not. Its drift per halving of a / doubling of N has a paired bootstrap CI over seeds. A curve
//    whose knee lies beyond the grid's top gets half-octave points above it from the edge policy's
//    budget (EdgePolicy::beyond_top; added after the first full run found five such block curves).
// Each is measured twice: with λ of every group swept (the paper's WD row) and with the MoE block's λ
// swept alone (FFN, router, experts; attention, embeddings and head at the task's λ = 0.1), because the
// first mixes in groups whose λ no rule changes across a and N and can stay put for that reason alone.
// Both drifts are judged against 0 ± min(0.25, 0.5/doublings) octave (docs/claims.md, "Default
// tolerances"), fixed before the first run.
//
// Power check (must fail): the same sweeps with the MoE block's weight decay (FFN, router, experts)
// multiplied by 2 per halving of a / doubling of N after the rule, its LR untouched. If the rise of the
// loss at large λ came from the block's decay alone the knee would move by −1 octave per step; the
// attention and embedding groups decay too, so the prediction is a drift between −1 and 0 that leaves
// the stays-put band. An axis on which the power check also stays put marks its claim rows "not
// informative". Rows are inconclusive, "task not capacity-bound", unless capacity-gate passed.
#include "common.hpp"
#include "edge_sweep.hpp"
#include "moe_axes.hpp"

#include "muelab/analysis/knee_analysis.hpp"
#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/analysis/lr_report.hpp"
#include "muelab/experiments/grid_policy.hpp"
#include "muelab/experiments/output.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <span>

namespace muelab::experiments::transformer {

namespace {

struct WdSettings {
  Budget budget;                          ///< the capacity-bound task (docs/theory.md §9)
  Shape moe;                              ///< d = 32, L = 2, expert width 16 (as bridge2-transformer)
  std::int64_t n_fixed = 8, a_fixed = 2;  ///< N of the a axis, a of the N axis
  std::vector<std::int64_t> a_values, n_values;
  int seeds = 6;
  double lr = 1.28e-2;                                   ///< the dense proxy's η* on the task (capacity-gate, full)
  double fixed_weight_decay = kCapacityTaskWeightDecay;  ///< the groups a "block" curve does not sweep
  /// What the curves sweep: λ of every group ("all", the paper's WD row) or of the MoE block only
  /// ("block": FFN, router and experts at the swept λ; attention, embeddings and head at the task's λ).
  std::vector<std::string> scopes = {"all", "block"};
  double log2_eta_lambda_t_step = 0.5;  ///< λ grid step in log2 units, centred on ηλT = 1
  int half_points = 7;
  double knee_delta = 0.05;  ///< nats above the curve's minimum
  std::size_t resamples = 2000;
  double max_censored_fraction = 0.025;  ///< resamples whose knee left the grid, above which a row is not judged
  EdgePolicy edge;
  analysis::StaysPut stays_put;
  [[nodiscard]] double lambda_centre() const { return 1.0 / (lr * static_cast<double>(budget.steps)); }
};

WdSettings wd_settings(Profile profile) {
  WdSettings s;
  s.budget = capacity_bound_budget(profile);
  const auto grid = bridge2_study_grid(profile);
  s.moe = grid.moe;
  s.a_values = grid.a_values;
  s.n_values = grid.n_values;
  s.seeds = by_profile(profile, 2, 2, 6);
  if (profile == Profile::quick) s.scopes = {"block"};  // the main job's 5-minute budget
  // quick: ηλT = 1/8, 1, 8 (the main job's 5-minute budget; at 200 steps the curves are flat anyway)
  s.log2_eta_lambda_t_step = by_profile(profile, 1.5, 3.0, 0.5);
  s.half_points = by_profile(profile, 1, 1, 7);
  s.resamples = by_profile<std::size_t>(profile, 100, 500, 2000);
  s.edge.max_extra_points = by_profile(profile, 0, 0, 4);  // smoke, quick: code paths only (no extensions)
  s.edge.beyond_top = [delta = s.knee_delta](std::span<const double> log2_x, std::span<const double> loss) {
    return !analysis::upper_knee(log2_x, loss, delta).has_value();
  };
  return s;
}

std::vector<MoeStudyAxis> wd_axes(const WdSettings& s) {
  return moe_study_axes(s.n_fixed, s.a_values, s.a_fixed, s.n_values);
}

ExperimentPlan wd_plan(Profile profile) {
  const auto s = wd_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"budget", to_json(s.budget)},
                   {"needs_capacity_gate", true},
                   {"d_model", s.moe.d_model},
                   {"n_layers", s.moe.n_layers},
                   {"d_expert", s.moe.d_expert},
                   {"a_axis", {{"N", s.n_fixed}, {"a", s.a_values}}},
                   {"n_axis", {{"a", s.a_fixed}, {"N", s.n_values}}},
                   {"seeds", s.seeds},
                   {"base_lr", s.lr},
                   {"scopes", s.scopes},
                   {"block_scope_other_groups_weight_decay", s.fixed_weight_decay},
                   {"wd_grid",
                    {{"centre", s.lambda_centre()},
                     {"centre_eta_lambda_T", 1.0},
                     {"step_log2", s.log2_eta_lambda_t_step},
                     {"points", 2 * s.half_points + 1}}},
                   {"knee_delta_nats", s.knee_delta},
                   {"edge_extra_points_cap", s.edge.max_extra_points},
                   {"edge_extends_above_a_knee_beyond_the_top", true},
                   {"bootstrap_resamples", s.resamples},
                   {"max_censored_fraction", s.max_censored_fraction},
                   {"stays_put_per_doubling", s.stays_put.per_doubling},
                   {"stays_put_total", s.stays_put.total},
                   {"power_check", "MoE-block weight decay x2 per halving of a / doubling of N (LR untouched)"}};
  for (const auto& ax : wd_axes(s)) {
    const double doublings = std::abs(
        std::log2(static_cast<double>(ax.value(ax.points.back())) / static_cast<double>(ax.value(ax.points.front()))));
    for (const std::string statistic : {"lambda*", "knee"}) {
      plan.claims[statistic + " " + ax.name] = {
          "wd-transfer",
          fmt::format(
              "drift of log2 {} {} ({})",
              statistic == "knee" ? fmt::format("upper knee (loss = min + {:g} nats)", s.knee_delta) : "lambda*",
              ax.sign > 0 ? "per doubling" : "per halving", ax.name),
          VerdictKind::claim,
          Sidedness::two_sided,
          0.0,
          s.stays_put.bound(doublings)};
    }
  }
  return plan;
}

Job wd_job(const WdSettings& s, const std::string& scope, const MoePoint& p, double weight_decay, int seed,
           std::uint64_t base_seed) {
  // The block scope keeps every group at the task's λ and scales the block's own λ to the swept value.
  auto j = study_job(p, s.moe, s.budget, s.lr, scope == "all" ? weight_decay : s.fixed_weight_decay, seed, base_seed);
  if (scope == "block") j.moe_block_wd_factor = weight_decay / s.fixed_weight_decay;
  return j;
}

MoeAxisSweeps measure(const WdSettings& s, const ExperimentOptions& o) {
  MoeAxisSweeps m;
  m.axes = wd_axes(s);
  std::vector<double> grid;
  for (const double x : log2_grid(s.lambda_centre(), s.half_points, s.log2_eta_lambda_t_step))
    grid.push_back(std::log2(x));
  for (const auto& scope : s.scopes)
    for (const bool power : {false, true})
      for (std::size_t a = 0; a < m.axes.size(); ++a)
        for (const auto& p : m.axes[a].points) m.curves.push_back({scope, a, p, power});
  m.sweep = sweep_curves_until_interior(
      std::vector<std::vector<double>>(m.curves.size(), grid), s.seeds,
      [&](std::size_t c, double x, int seed) {
        const auto& curve = m.curves[c];
        auto j = wd_job(s, curve.knob, curve.point, std::exp2(x), seed, o.seed);
        if (curve.power) j.moe_block_wd_factor *= power_factor(m.axes[curve.axis], curve.point);
        return j;
      },
      s.edge, o, "wd-transfer");
  return m;
}

struct WdTables {
  CsvTable runs{{"scope", "axis", "experts", "active", "power_check", "log2_weight_decay", "eta_lambda_T", "seed",
                 "final_validation_loss"}};
  CsvTable curves{
      {"scope", "axis", "experts", "active", "power_check", "log2_weight_decay", "mean_loss", "standard_error"}};
  CsvTable optima{{"scope", "axis", "experts", "active", "power_check", "log2_lambda_star", "ci_low", "ci_high",
                   "loss_star", "at_edge", "log2_knee"}};
  CsvTable drifts{{"scope", "statistic", "axis", "direction", "power_check", "drift", "ci_low", "ci_high", "bound",
                   "verdict", "reason"}};
};

analysis::LrAnalysis analyze_axis(const WdSettings& s, const MoeAxisSweeps& m, const std::string& scope,
                                  std::size_t axis, bool power, std::uint64_t seed, WdTables& t) {
  const auto& ax = m.axes[axis];
  std::vector<analysis::LrRun> runs;
  for (std::size_t c = 0; c < m.curves.size(); ++c) {
    const auto& curve = m.curves[c];
    if (curve.knob != scope || curve.axis != axis || curve.power != power) continue;
    for (const auto& r : m.sweep.runs[c]) {
      runs.push_back(
          {{{ax.name, std::to_string(ax.value(curve.point))}}, std::to_string(r.seed), std::exp2(r.log2_x), r.loss});
      t.runs.add_row({scope, ax.name, static_cast<long long>(curve.point.experts),
                      static_cast<long long>(curve.point.active), static_cast<long long>(power ? 1 : 0), r.log2_x,
                      s.lr * static_cast<double>(s.budget.steps) * std::exp2(r.log2_x), static_cast<long long>(r.seed),
                      r.loss});
    }
  }
  auto a = analysis::analyze_lr_runs(runs, seed, s.resamples);
  if (a.drifts.size() != 1) throw std::logic_error("wd-transfer: expected one drift per axis");
  for (const auto& c : a.curves) {
    const auto v = std::stoll(c.axes.at(ax.name));
    const MoePoint p = ax.name == "n_active" ? MoePoint{s.n_fixed, v} : MoePoint{v, s.a_fixed};
    for (std::size_t q = 0; q < c.log2_lr.size(); ++q)
      t.curves.add_row({scope, ax.name, static_cast<long long>(p.experts), static_cast<long long>(p.active),
                        static_cast<long long>(power ? 1 : 0), c.log2_lr[q], c.mean_loss[q], c.standard_error[q]});
    const auto knee = analysis::upper_knee(c.log2_lr, c.mean_loss, s.knee_delta);
    t.optima.add_row({scope, ax.name, static_cast<long long>(p.experts), static_cast<long long>(p.active),
                      static_cast<long long>(power ? 1 : 0), c.optimum.log2_lr, c.ci.low, c.ci.high, c.optimum.loss,
                      static_cast<long long>(c.optimum.at_edge ? 1 : 0), knee ? *knee : std::nan("")});
  }
  return a;
}

/// Which rows a judge writes: one scope, one axis, the rule or its power check.
struct WdRowContext {
  const WdSettings& s;
  const ExperimentPlan& plan;
  const MoeStudyAxis& ax;
  std::string scope;
  bool power = false;
};

std::string case_name(const WdRowContext& c, const std::string& statistic) {
  const auto quantity =
      statistic == "knee"
          ? fmt::format("the upper knee (log2 lambda where the loss is min + {:g} nats)", c.s.knee_delta)
          : std::string("log2 lambda*");
  return fmt::format(
      "{}Complete-muE, lambda of {}: drift of {} {}, {} = {}..{}, eta = {:.4g}, fixed B = {}x{}, T = {}",
      c.power ? "power check (MoE-block WD x2 per step of the axis): " : "",
      c.scope == "all" ? "every group" : fmt::format("the MoE block only (others at {:g})", c.s.fixed_weight_decay),
      quantity, c.ax.label, c.ax.name == "n_active" ? "a" : "N", c.ax.value(c.ax.points.front()),
      c.ax.value(c.ax.points.back()), c.s.lr, c.s.budget.batch_size, c.s.budget.seq_len, c.s.budget.steps);
}

ClaimSpec spec_of(const WdRowContext& c, const std::string& statistic) {
  auto spec = c.plan.claim(statistic + " " + c.ax.name);
  return c.power ? as_control(spec) : spec;
}

/// Judges a drift measured per doubling of the axis value, oriented per halving (sign −1) or per
/// doubling (+1); `unmeasured` (when not empty) makes the row inconclusive with that reason.
Verdict judge_and_record(const WdRowContext& c, const std::string& statistic, double drift, double low, double high,
                         const std::string& unmeasured, WdTables& t) {
  if (c.ax.sign < 0) std::tie(drift, low, high) = std::tuple{-drift, -high, -low};
  const auto spec = spec_of(c, statistic);
  const auto name = case_name(c, statistic);
  const auto row =
      unmeasured.empty() ? judge(spec, name, drift, low, high) : not_measured(spec, name, unmeasured, drift, low, high);
  t.drifts.add_row({c.scope, statistic, c.ax.name, c.ax.sign > 0 ? "per doubling" : "per halving",
                    static_cast<long long>(c.power ? 1 : 0), drift, low, high, spec.tolerance, to_string(row.outcome),
                    row.reason});
  return row;
}

Verdict judge_lambda_star(const WdRowContext& c, const analysis::LrAnalysis& a, WdTables& t) {
  const auto& d = a.drifts.front();
  const auto reason =
      d.edge_optima > 0 ? fmt::format("optimum at grid edge ({} of {} curves)", d.edge_optima, d.curves.size()) : "";
  return judge_and_record(c, "lambda*", d.drift, d.ci.low, d.ci.high, reason, t);
}

Verdict judge_knee(const WdRowContext& c, const analysis::LrAnalysis& a, std::uint64_t seed, WdTables& t) {
  const auto k = analysis::knee_drift(a, a.drifts.front(), c.s.knee_delta, seed, c.s.resamples);
  const double censored =
      k.resamples == 0 ? 0.0 : static_cast<double>(k.censored_resamples) / static_cast<double>(k.resamples);
  std::string reason;
  if (!k.all_knees_found())
    reason = "knee beyond the grid's upper edge (the loss never rises by delta on some curve)";
  else if (censored > c.s.max_censored_fraction)
    reason = fmt::format("knee beyond the grid's upper edge in {} of {} bootstrap resamples", k.censored_resamples,
                         k.resamples);
  return judge_and_record(c, "knee", k.drift, k.ci.low, k.ci.high, reason, t);
}

VerdictReport run_wd_transfer(const ExperimentOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto s = wd_settings(o.profile);
  const auto plan = wd_plan(o.profile);
  note(fmt::format("wd-transfer ({}): seed {}, {} seeds, {} steps, eta {:g}, lambda centre {:.4g} (eta lambda T = 1)",
                   to_string(o.profile), o.seed, s.seeds, s.budget.steps, s.lr, s.lambda_centre()));
  const auto m = measure(s, o);
  VerdictReport report;
  WdTables t;
  std::uint64_t salt = 0;
  for (const auto& scope : s.scopes)
    for (std::size_t axis = 0; axis < m.axes.size(); ++axis) {
      const auto rule = analyze_axis(s, m, scope, axis, false, o.seed + 101 * (++salt), t);
      const auto power = analyze_axis(s, m, scope, axis, true, o.seed + 101 * (++salt), t);
      const WdRowContext claim_rows{s, plan, m.axes[axis], scope, false},
          power_rows{s, plan, m.axes[axis], scope, true};
      for (const std::string statistic : {"lambda*", "knee"}) {
        const auto knee_seed = o.seed + 101 * (++salt);  // the same resamples for the rule and its power check
        std::vector<Verdict> claims = {statistic == "knee" ? judge_knee(claim_rows, rule, knee_seed, t)
                                                           : judge_lambda_star(claim_rows, rule, t)};
        const auto power_row =
            statistic == "knee" ? judge_knee(power_rows, power, knee_seed, t) : judge_lambda_star(power_rows, power, t);
        analysis::mark_not_informative(claims, power_row);
        report.verdicts.insert(report.verdicts.end(), {claims.front(), power_row});
      }
    }
  t.runs.write(o.out_dir / "runs.csv");
  t.curves.write(o.out_dir / "curves.csv");
  t.optima.write(o.out_dir / "optima.csv");
  t.drifts.write(o.out_dir / "drifts.csv");
  judge_only_if_capacity_bound("wd-transfer", report.verdicts, o.out_dir);
  note(fmt::format("wd-transfer: {} runs requested, {} trained ({} resumed, {} from the run cache), {:.0f} s",
                   m.sweep.requested, m.sweep.trained, m.sweep.resumed, m.sweep.cached,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  return report;
}

}  // namespace

Experiment make_wd_transfer_experiment() {
  Experiment e;
  e.name = "wd-transfer";
  e.description =
      "Weight-decay transfer across activated experts a (N = 8) and capacity N (a = 2) on the capacity-bound task: "
      "lambda swept over eta lambda T = 0.09..11 at the proxy's tuned LR, Complete-muE; drift of lambda* (edge policy) "
      "and of the curve's upper knee (loss = min + 0.05 nats) against 0 +- min(0.25, 0.5/doublings); power check: "
      "MoE-block WD x2 per step; judged only where capacity-gate passed";
  e.claims = {"wd-transfer"};
  e.plot_script = "wd_transfer.py";
  e.run = run_wd_transfer;
  e.plan = wd_plan;
  return e;
}

}  // namespace muelab::experiments::transformer
