// The lr-transfer family's engine (lr_transfer_family.hpp; docs/claims.md `lr-transfer`): settings →
// plan → LR sweeps of every (rule, axis value) curve under the edge policy → per-axis drift rows (claims,
// controls, the power check, discrimination rows; a claim whose power check or controls do not fail is
// "not informative") → CSV tables and the rule-source table.
#include "lr_transfer_family.hpp"

#include "muelab/experiments/grid_policy.hpp"
#include "muelab/experiments/output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>

namespace muelab::experiments::transformer {

namespace {

const std::string kPowerLabel = "power check";

}  // namespace

/// A rule column with every field named (the helpers below fill in what differs).
RuleCase rule_case(const std::string& label, const std::string& rule) {
  return {label, rule, {}, false, {}, false, false, 0, {}, false, false, {}};
}

/// Complete-muE, the judged rule of every axis.
RuleCase claim_rule() {
  auto r = rule_case("complete-mue", "complete-mue");
  r.judged = true;
  return r;
}

/// The power check of every axis (docs/claims.md, "Power checks").
RuleCase power_check_rule() {
  auto r = rule_case(kPowerLabel, "complete-mue");
  r.power_check = true;
  return r;
}

/// A rule column tabulated beside the claim, not judged (up to `only_up_to` on the axis when > 0).
RuleCase tabulated(const std::string& label, const std::string& rule, std::vector<std::string> switches,
                   std::int64_t only_up_to) {
  auto r = rule_case(label, rule);
  r.switches = std::move(switches);
  r.only_up_to = only_up_to;
  return r;
}

/// A control that must drift on `axes` (and, when `only_there`, runs only there).
RuleCase control_rule(const std::string& label, const std::string& rule, std::vector<std::string> switches,
                      std::set<std::string> axes, bool only_there) {
  auto r = rule_case(label, rule);
  r.switches = std::move(switches);
  r.control_axes = std::move(axes);
  r.only_control_axes = only_there;
  return r;
}

/// Complete-muE with one ingredient removed (Job::ablations), a control predicted to drift down on `axis`
/// only, with its discrimination row.
RuleCase ablation_control(const std::string& label, const std::string& ablation, const std::string& axis) {
  auto r = control_rule(label, "complete-mue", {}, {axis}, true);
  r.ablations = {ablation};
  r.separated = true;
  return r;
}

namespace {

nlohmann::json settings_json(const LrTransferSettings& s) {
  nlohmann::json axes = nlohmann::json::object(), rules = nlohmann::json::array();
  for (const auto& a : s.axes) axes[a.axis] = a.values;
  for (const auto& r : s.rules)
    rules.push_back({{"label", r.label},
                     {"rule", r.rule},
                     {"switches", r.switches},
                     {"judged", r.judged},
                     {"control_axes", r.control_axes},
                     {"power_check", r.power_check},
                     {"only_up_to", r.only_up_to},
                     {"ablations", r.ablations},
                     {"separated", r.separated},
                     {"drifts_up", r.drifts_up}});
  return {{"steps", s.budget.steps},
          {"batch_size", s.budget.batch_size},
          {"seq_len", s.budget.seq_len},
          {"warmup", s.budget.warmup},
          {"eval_batches", s.budget.eval_batches},
          {"data", s.budget.data_source},
          {"schedule", s.budget.schedule},
          {"decay_fraction", s.budget.decay_fraction},
          {"markov_order", s.budget.markov_order},
          {"markov_temperature", s.budget.markov_temperature},
          {"weight_decay", s.base_weight_decay},
          {"base_shape", "dense d=32, L=2, H=d"},
          {"needs_capacity_gate", s.needs_capacity_gate},
          {"axes", axes},
          {"rules", rules},
          {"lr_centre", s.lr_centre},
          {"lr_grid_step_log2", s.grid_step},
          {"lr_grid_points", 2 * s.grid_half + 1},
          {"seeds", s.seeds},
          {"bootstrap_resamples", s.resamples},
          {"edge_extra_points_cap", s.edge.max_extra_points},
          {"edge_step_log2", s.edge.step_log2},
          {"stays_put_per_doubling", s.stays_put.per_doubling},
          {"stays_put_total", s.stays_put.total},
          {"discrimination_separation", s.separation},
          {"knob", s.knob},
          {"fixed_lr", s.fixed_lr}};
}

ExperimentPlan plan_for(const LrTransferSettings& s) {
  ExperimentPlan plan;
  plan.settings = settings_json(s);
  // The row tolerance is min(0.25, 0.5 / doublings of the axis): fixed by the plan's axes.
  plan.claims["drift"] = {s.claim_id,
                          fmt::format("drift of log2 {}* per doubling of the axis", s.knob),
                          VerdictKind::claim,
                          Sidedness::two_sided,
                          0.0,
                          s.stays_put.per_doubling};
  // The tolerance each axis' rows are judged with (its doublings are fixed by the plan's axis values).
  for (const auto& axis : s.axes) {
    auto spec = plan.claims["drift"];
    spec.tolerance = s.stays_put.bound(
        std::log2(static_cast<double>(axis.values.back()) / static_cast<double>(axis.values.front())));
    spec.quantity += " (" + axis.axis + ")";
    plan.claims["drift " + axis.axis] = spec;
  }
  plan.claims["separation"] = {s.claim_id,         "drift(complete-mue) - drift(control), paired over seeds",
                               VerdictKind::claim, Sidedness::at_least,
                               s.separation,       0.0};
  if (std::any_of(s.rules.begin(), s.rules.end(), [](const RuleCase& r) { return r.drifts_up; }))
    plan.claims["separation up"] = {s.claim_id,         "drift(control) - drift(complete-mue), paired over seeds",
                                    VerdictKind::claim, Sidedness::at_least,
                                    s.separation,       0.0};
  return plan;
}

/// One LR curve: a rule at one point of one axis.
struct CurveKey {
  std::size_t rule, axis;
  std::int64_t value;
};

struct Measured {
  std::vector<CurveKey> keys;  ///< per curve of the sweep
  EdgeSweepResult sweep;
};

Job job_for(const LrTransferSettings& s, const CurveKey& k, double lr, int seed_index, std::uint64_t base_seed) {
  const auto& rule = s.rules[k.rule];
  const auto& axis = s.axes[k.axis];
  Job j;
  j.shape = shape_along(axis.axis, k.value);
  j.base_shape = dense_proxy(kMoeReferenceWidth, kMoeReferenceDepth);
  j.base.lr = s.knob == "init_std" ? s.fixed_lr : lr;
  if (s.knob == "init_std") j.base.init_std = lr;  // the swept value
  j.base.weight_decay = s.base_weight_decay;
  j.rule = rule.rule;
  j.rule_switches = rule.switches;
  j.budget = s.budget;
  j.seed = base_seed * 1000 + static_cast<std::uint64_t>(seed_index + 1);
  j.ablations = rule.ablations;
  // 2 per doubling of the axis relative to its reference point: a deliberately wrong rule.
  if (rule.power_check) {
    const double factor = static_cast<double>(k.value) / static_cast<double>(axis.values.front());
    (s.knob == "init_std" ? j.moe_block_init_factor : j.moe_block_lr_factor) = factor;
  }
  return j;
}

Measured measure(const LrTransferSettings& s, const ExperimentOptions& o) {
  Measured m;
  std::vector<std::vector<double>> grids;
  std::vector<double> grid;
  for (const double lr : log2_grid(s.lr_centre, s.grid_half, s.grid_step)) grid.push_back(std::log2(lr));
  for (std::size_t r = 0; r < s.rules.size(); ++r)
    for (std::size_t a = 0; a < s.axes.size(); ++a) {
      if (s.rules[r].only_control_axes && !s.rules[r].control_axes.count(s.axes[a].axis)) continue;
      if (!s.rules[r].axes_only.empty() && !s.rules[r].axes_only.count(s.axes[a].axis)) continue;
      for (const auto v : s.axes[a].values) {
        if (s.rules[r].only_up_to > 0 && v > s.rules[r].only_up_to) continue;
        m.keys.push_back({r, a, v});
        grids.push_back(grid);
      }
    }
  m.sweep = sweep_curves_until_interior(
      grids, s.seeds,
      [&](std::size_t c, double x, int seed) { return job_for(s, m.keys[c], std::exp2(x), seed, o.seed); }, s.edge, o,
      s.name);
  return m;
}

/// The analysis of one (rule, axis): its curves' runs labelled by the axis value.
analysis::LrAnalysis analyze_rule_axis(const LrTransferSettings& s, const Measured& m, std::size_t rule,
                                       std::size_t axis, std::uint64_t seed) {
  std::vector<analysis::LrRun> runs;
  for (std::size_t c = 0; c < m.keys.size(); ++c) {
    if (m.keys[c].rule != rule || m.keys[c].axis != axis) continue;
    for (const auto& r : m.sweep.runs[c]) {
      analysis::LrRun run;
      run.axes = {{s.axes[axis].axis, std::to_string(m.keys[c].value)}};
      run.seed = std::to_string(r.seed + 1);
      run.lr = std::exp2(r.log2_x);
      run.loss = r.loss;
      runs.push_back(std::move(run));
    }
  }
  return analysis::analyze_lr_runs(runs, seed, s.resamples);
}

struct Tables {
  CsvTable runs{{"rule", "axis", "axis_value", "base_lr", "seed", "final_validation_loss", "added_by_edge_policy"}};
  CsvTable curves{{"rule", "axis", "axis_value", "log2_lr", "mean_loss", "standard_error"}};
  CsvTable optima{
      {"rule", "axis", "axis_value", "log2_lr_star", "ci_low", "ci_high", "loss_star", "at_edge", "extra_points"}};
  CsvTable drifts{
      {"axis", "rule", "drift_per_doubling", "ci_low", "ci_high", "bound", "edge_optima", "kind", "verdict"}};
  std::map<std::string, std::map<std::string, std::string>> cells;  // axis -> rule -> table cell
};

std::string kind_of(const RuleCase& rule, const std::string& axis) {
  if (rule.control_axes.count(axis) || rule.power_check) return "control";
  return rule.judged ? "claim" : "not judged";
}

void table_curves(const LrTransferSettings& s, const Measured& m, Tables& t) {
  const auto initial = static_cast<std::size_t>(2 * s.grid_half + 1);
  for (std::size_t c = 0; c < m.keys.size(); ++c) {
    const auto& k = m.keys[c];
    for (std::size_t i = 0; i < m.sweep.runs[c].size(); ++i) {
      const auto& run = m.sweep.runs[c][i];
      const bool added = i >= initial * static_cast<std::size_t>(s.seeds);
      t.runs.add_row({s.rules[k.rule].label, s.axes[k.axis].axis, static_cast<double>(k.value), std::exp2(run.log2_x),
                      static_cast<long long>(run.seed + 1), run.loss, static_cast<long long>(added ? 1 : 0)});
    }
  }
}

/// The judged rows of one axis: the claim, its controls, the power check and the discrimination rows;
/// a claim on an axis whose power check does not fail is "not informative".
std::vector<Verdict> judge_axis(const LrTransferSettings& s, const ExperimentPlan& plan, const Measured& m,
                                std::size_t axis, std::uint64_t seed, Tables& t) {
  const std::string& name = s.axes[axis].axis;
  std::map<std::size_t, analysis::LrAnalysis> by_rule;
  for (std::size_t r = 0; r < s.rules.size(); ++r) {
    const bool present =
        std::any_of(m.keys.begin(), m.keys.end(), [&](const CurveKey& k) { return k.rule == r && k.axis == axis; });
    if (present) by_rule.emplace(r, analyze_rule_axis(s, m, r, axis, seed + 101 * (axis * s.rules.size() + r + 1)));
  }
  std::vector<Verdict> claims, controls;
  std::optional<Verdict> power;
  const analysis::LrDrift* rule_drift = nullptr;
  for (const auto& [r, a] : by_rule) {
    const auto& rule = s.rules[r];
    for (const auto& c : a.curves) {
      const double v = std::stod(c.axes.begin()->second);
      for (std::size_t q = 0; q < c.log2_lr.size(); ++q)
        t.curves.add_row({rule.label, name, v, c.log2_lr[q], c.mean_loss[q], c.standard_error[q]});
      t.optima.add_row({rule.label, name, v, c.optimum.log2_lr, c.ci.low, c.ci.high, c.optimum.loss,
                        static_cast<long long>(c.optimum.at_edge ? 1 : 0),
                        static_cast<long long>(c.log2_lr.size() - static_cast<std::size_t>(2 * s.grid_half + 1))});
    }
    const std::string kind = kind_of(rule, name);
    const auto rows = analysis::drift_verdicts(
        a, plan.claim("drift"), s.stays_put, [&](const analysis::LrDrift&) { return kind == "control"; },
        rule.label +
            (rule.power_check ? fmt::format(" (MoE-block {} x2 per doubling)", s.knob == "lr" ? "LR" : "init") : "") +
            ": ",
        s.knob);
    for (std::size_t i = 0; i < a.drifts.size(); ++i) {
      const auto& d = a.drifts[i];
      const auto& row = rows[i];
      t.drifts.add_row({name, rule.label, d.drift, d.ci.low, d.ci.high, row.tolerance,
                        static_cast<long long>(d.edge_optima), kind, to_string(row.outcome)});
      t.cells[name][rule.label] = fmt::format("{:+.2f} [{:+.2f}, {:+.2f}]{}", d.drift, d.ci.low, d.ci.high,
                                              d.edge_optima ? " (edge)"
                                                            : (row.holds()   ? " ✓"
                                                               : row.fails() ? " ✗"
                                                                             : " ?"));
      if (kind == "claim") claims.push_back(row);
      if (kind == "control" && !rule.power_check) controls.push_back(row);
      if (rule.power_check) power = row;
    }
    if (rule.judged && !a.drifts.empty()) rule_drift = &a.drifts.front();
  }
  // Discrimination: the rule must be told apart from each control on this axis.
  std::vector<Verdict> separations;
  if (rule_drift != nullptr)
    for (const auto& [r, a] : by_rule) {
      const auto& rule = s.rules[r];
      // Separated only from controls with a predicted sign: down for SP across width and depth, the power
      // check's too-large MoE LR and the ablations; up for those marked drifts_up (R = 1 along
      // granularity). Jiang's fan-in control has no predicted sign.
      if (kind_of(rule, name) != "control" || a.drifts.empty() ||
          !(rule.power_check || rule.rule == "sp" || rule.separated))
        continue;
      const auto judged_rule = std::find_if(s.rules.begin(), s.rules.end(), [](const RuleCase& x) { return x.judged; });
      const auto& judged = by_rule.at(static_cast<std::size_t>(judged_rule - s.rules.begin()));
      const std::string range =
          fmt::format("over {} {}..{}", name, s.axes[axis].values.front(), s.axes[axis].values.back());
      if (rule.drifts_up)
        separations.push_back(analysis::discrimination_verdict(
            plan.claim("separation up"), fmt::format("drift({}) - drift({}) {}", rule.label, judged_rule->label, range),
            a, a.drifts.front(), judged, *rule_drift, seed + 7 * r));
      else
        separations.push_back(analysis::discrimination_verdict(
            plan.claim("separation"), fmt::format("drift({}) - drift({}) {}", judged_rule->label, rule.label, range),
            judged, *rule_drift, a, a.drifts.front(), seed + 7 * r));
    }
  // Without a power check the axis' other controls decide: a claim whose every control failed to fail
  // is not informative either (docs/claims.md, "Power checks").
  if (power) {
    analysis::mark_not_informative(claims, *power);
  } else if (!controls.empty() &&
             std::none_of(controls.begin(), controls.end(), [](const Verdict& c) { return c.fails(); })) {
    const auto held = std::find_if(controls.begin(), controls.end(), [](const Verdict& c) { return c.holds(); });
    analysis::mark_not_informative(claims, held != controls.end() ? *held : controls.front(), "control");
  }
  std::vector<Verdict> out = claims;
  out.insert(out.end(), controls.begin(), controls.end());
  if (power) out.push_back(*power);
  out.insert(out.end(), separations.begin(), separations.end());
  return out;
}

/// The plan's controls, for the rule-source table's caption: "a, b and c are controls" / "a is a control".
std::string control_labels(const LrTransferSettings& s) {
  std::vector<std::string> labels;
  for (const auto& r : s.rules)
    if (!r.control_axes.empty() || r.power_check) labels.push_back(r.label);
  if (labels.empty()) return "no rule is a control";
  std::string text = labels.front();
  for (std::size_t i = 1; i < labels.size(); ++i) text += (i + 1 == labels.size() ? " and " : ", ") + labels[i];
  return text + (labels.size() == 1 ? " is a control" : " are controls");
}

void write_rule_sources(const LrTransferSettings& s, Profile profile, const Tables& t,
                        const std::filesystem::path& dir) {
  std::string text = fmt::format(
      "# Rule-source comparison: drift of log2 lr* per doubling of each axis\n\n"
      "Profile {}, data {}, {} steps, batch {}x{}, LR grid step {} (log2) + edge policy, {} seeds. Cell: drift "
      "[95% paired bootstrap CI]; ✓ holds / ✗ fails / ? inconclusive against 0 ± min(0.25, 0.5/doublings); "
      "(edge) = some optimum still at the grid edge (not fitted). Only complete-mue rows are claims; {} (on the "
      "axes the plan names); the other rule sources are tabulated.\n\n| axis |",
      to_string(profile), s.budget.data_source, s.budget.steps, s.budget.batch_size, s.budget.seq_len, s.grid_step,
      s.seeds, control_labels(s));
  for (const auto& r : s.rules) text += " " + r.label + " |";
  text += "\n|---|";
  for (std::size_t r = 0; r < s.rules.size(); ++r) text += "---|";
  text += "\n";
  for (const auto& axis : s.axes) {
    text += "| " + axis.axis + " |";
    const auto row = t.cells.find(axis.axis);
    for (const auto& r : s.rules) {
      const bool has = row != t.cells.end() && row->second.count(r.label);
      text += " " + (has ? row->second.at(r.label) : std::string("—")) + " |";
    }
    text += "\n";
  }
  write_file_atomically(dir / "rule_sources.md", text);
}

VerdictReport run_with(const LrTransferSettings& s, const ExperimentOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto plan = plan_for(s);
  const auto m = measure(s, o);
  note(fmt::format("{} ({}): {} runs requested, {} trained ({} resumed, {} from the run cache)", s.name,
                   to_string(o.profile), m.sweep.requested, m.sweep.trained, m.sweep.resumed, m.sweep.cached));
  Tables t;
  table_curves(s, m, t);
  VerdictReport report;
  for (std::size_t a = 0; a < s.axes.size(); ++a) {
    const auto rows = judge_axis(s, plan, m, a, o.seed, t);
    report.verdicts.insert(report.verdicts.end(), rows.begin(), rows.end());
  }
  t.runs.write(o.out_dir / "runs.csv");
  t.curves.write(o.out_dir / "curves.csv");
  t.optima.write(o.out_dir / "optima.csv");
  t.drifts.write(o.out_dir / "rule_sources.csv");
  write_rule_sources(s, o.profile, t, o.out_dir);
  if (s.needs_capacity_gate) judge_only_if_capacity_bound(s.name, report.verdicts, o.out_dir);
  note(fmt::format("{}: {:.0f} s", s.name,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  return report;
}

}  // namespace

/// One registered experiment of this family: its settings per profile decide everything else.
Experiment lr_transfer_family(const std::string& name, const std::string& description,
                              LrTransferSettings (*settings)(Profile)) {
  Experiment e;
  e.name = name;
  e.description = description;
  e.claims = {"lr-transfer"};
  e.plot_script = "lr_transfer.py";
  e.run = [settings](const ExperimentOptions& o) { return run_with(settings(o.profile), o); };
  e.plan = [settings](Profile p) { return plan_for(settings(p)); };
  return e;
}
}  // namespace muelab::experiments::transformer
