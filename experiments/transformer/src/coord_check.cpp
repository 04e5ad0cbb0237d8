// coord-check (docs/theory.md §9): coordinate sizes vs width for sp, mup, jiang and complete-mue, and
// vs depth for complete-mue (CompleteP α = 1, and α = ½) and sp. Tiny MoE transformers (N = 4, a = 1, h = d) take
// a few AdamW steps at the proxy's LR transferred by each rule; we log the residual-stream RMS of the
// last block (act_rms) at step 0 and at the last step and fit log-log slopes vs d (or L) of (i) the
// activation RMS after training and (ii) its change |Δ act_rms|, with bootstrap CIs over seeds.
// μP-type rules: |slope| < 0.1; SP is the control (expected ≈ +0.5..1 in d; ≈ +0.5 in L, where its L
// unscaled residual branches add up, docs/theory.md §3).
// Also the output logits' RMS at the first step (init): a documented exception, reported in
// slopes.csv but not judged (muelab/analysis/coord_analysis.hpp). coord.csv holds every measurement
// in the long format `muelab analyze` reads; slopes, CIs and verdicts come from the shared analysis.
// MoE axes (declared 2026-12-07, docs/claims.md `coord-check`, "MoE axes"): the RMS of the last
// block's FFN/MoE output after the steps and its change, against granularity m ((N, a, h) = (4m, m,
// d/m), the active width a·h = d fixed) and against N at a = 2 (h = d). Complete-muE must keep both
// flat (Bridge I, docs/theory.md §5.1); controls: R = 1 along m (the routed sum shrinks as 1/m, slope
// −1 at init) and the power check on both axes (the block's up and down init ×2 per doubling: declared
// as slope ≈ +1 at init, measured +2.1, since both factors multiply the output).
#include "common.hpp"

#include "muelab/analysis/coord_analysis.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/models/cpu/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace muelab::experiments::transformer {

namespace {

/// A rule on the MoE axes: a label, the rule and its switches, the axes it runs on, and whether it is
/// the power check (the MoE block's init × (value / reference) after the rule).
struct MoeAxisRule {
  std::string label, rule;
  std::vector<std::string> switches;
  std::set<std::string> axes;
  bool power_check = false;
};

/// What one profile runs (docs/claims.md, "Plans").
struct CoordCheckSettings {
  std::vector<std::int64_t> widths;
  std::vector<std::int64_t> depths;  ///< the depth axis at d = proxy_width (the proxy has `layers` layers)
  /// Depth-axis rules: label -> (rule, switches). complete-mue is CompleteP α = 1 (its default); α = ½
  /// is the Depth-μP branch multiplier L^{-1/2} (docs/theory.md §3).
  std::vector<std::pair<std::string, std::pair<std::string, std::vector<std::string>>>> depth_rules = {
      {"sp", {"sp", {}}},
      {"complete-mue", {"complete-mue", {}}},
      {"complete-mue alpha=0.5", {"complete-mue", {"rule.depth_alpha=0.5"}}}};
  int seeds = 3;
  std::int64_t steps = 10;
  std::size_t resamples = 1000;
  std::int64_t layers = kMoeReferenceDepth, proxy_width = kMoeReferenceWidth;  ///< shape_along's reference
  double base_lr = 1e-2;
  std::vector<std::string> rules = {"sp", "mup", "jiang", "complete-mue"};
  /// The MoE axes: granularity m ((N, a, h) = (4m, m, d/m)) and N at a = 2 (h = d), both at d = proxy_width.
  std::vector<std::int64_t> granularities, expert_counts;
  std::vector<MoeAxisRule> moe_rules = {
      {"complete-mue", "complete-mue", {}, {"granularity", "n_experts_a2"}, false},
      {"route scale removed (R = 1)", "complete-mue", {"rule.route_scale=none"}, {"granularity"}, false},
      {"power check (MoE-block init x2 per doubling)", "complete-mue", {}, {"granularity", "n_experts_a2"}, true}};
  /// SP's coordinates grow with width (docs/theory.md §2); R = 1 shrinks the routed sum as 1/m and the
  /// power check grows the block's init ×2 per doubling (docs/claims.md `coord-check`, "MoE axes").
  std::vector<std::string> control_rules = {"sp", "route scale removed (R = 1)",
                                            "power check (MoE-block init x2 per doubling)"};
};

CoordCheckSettings coord_check_settings(Profile profile) {
  CoordCheckSettings s;
  s.widths = by_profile<std::vector<std::int64_t>>(profile, {32, 64, 128}, {32, 64, 128, 256}, {32, 64, 128, 256, 512});
  s.depths = by_profile<std::vector<std::int64_t>>(profile, {2, 4}, {2, 4, 8}, {2, 4, 8, 16});
  s.granularities = by_profile<std::vector<std::int64_t>>(profile, {1, 2, 4}, {1, 2, 4, 8}, {1, 2, 4, 8, 16});
  s.expert_counts = by_profile<std::vector<std::int64_t>>(profile, {4, 8}, {4, 8, 16}, {4, 8, 16, 32});
  s.seeds = by_profile(profile, 2, 3, 5);
  s.steps = by_profile<std::int64_t>(profile, 4, 10, 10);
  s.resamples = by_profile<std::size_t>(profile, 200, 1000, 2000);
  return s;
}

ExperimentPlan coord_check_plan(Profile profile) {
  const auto s = coord_check_settings(profile);
  ExperimentPlan plan;
  nlohmann::json depth_rules = nlohmann::json::object(), moe_rules = nlohmann::json::object();
  for (const auto& [label, rule] : s.depth_rules) depth_rules[label] = {{"rule", rule.first}, {"switches", rule.second}};
  for (const auto& r : s.moe_rules)
    moe_rules[r.label] = {{"rule", r.rule}, {"switches", r.switches}, {"axes", r.axes}, {"power_check", r.power_check}};
  plan.settings = {
      {"widths", s.widths},
      {"depths", s.depths},
      {"depth_rules", depth_rules},
      {"seeds", s.seeds},
      {"adamw_steps", s.steps},
      {"base_lr", s.base_lr},
      {"n_layers", s.layers},
      {"proxy", fmt::format("dense d={}, H=d", s.proxy_width)},
      {"target", "MoE N=4 a=1 h=d"},
      {"rules", s.rules},
      {"control_rules", s.control_rules},
      {"bootstrap_resamples", s.resamples},
      {"moe_axes", {{"granularity", s.granularities}, {"n_experts_a2", s.expert_counts}}},
      {"moe_axes_shapes", "granularity m: N = 4m, a = m, h = d/m; n_experts_a2: N, a = 2, h = d; d = 32, L = 2"},
      {"moe_axes_quantities", {"ffn_output_rms at init (step 0) and after the steps", "ffn_output_rms_change"}},
      {"moe_rules", moe_rules},
      {"moe_control_predictions",
       {{"route scale removed (R = 1)",
         "slope -1 along m at init; after the steps and in the change negative, outside the band"},
        {"power check (MoE-block init x2 per doubling)",
         "slope about +1 in ffn_output_rms (its change has no prediction and is not measured)"}}}};
  plan.claims["slope"] = analysis::coord_check_spec("coord-check", 0.1);
  plan.claims["slope control"] = as_control(plan.claims["slope"]);
  return plan;
}

/// One coordinate-check run: a rule at one value of one axis ("d_model", "n_layers", or a MoE axis:
/// "granularity", "n_experts_a2").
struct CoordCase {
  std::string rule, axis;
  std::int64_t value = 0;
  int seed_index = 0;
  Job job;
  bool size_only = false;  ///< the power check: its block size has a predicted sign, its change does not
};

bool is_moe_axis(const std::string& axis) { return axis == "granularity" || axis == "n_experts_a2"; }

/// Every run: (rule, width, seed) on the width axis, (rule, depth, seed) on the depth axis, then
/// (rule, value, seed) on each MoE axis.
std::vector<CoordCase> coord_cases(const CoordCheckSettings& s, std::uint64_t seed) {
  Budget budget;
  budget.steps = s.steps;
  budget.warmup = 0;
  budget.eval_batches = 1;
  const auto job_at = [&](const std::string& rule, std::int64_t d, std::int64_t L, int k,
                          const std::vector<std::string>& switches = {}) {
    Job j;
    j.rule_switches = switches;
    j.shape.d_model = d;
    j.shape.d_expert = d;
    j.shape.n_layers = L;
    j.base_shape = dense_proxy(s.proxy_width, s.layers);
    j.base.lr = s.base_lr;
    j.rule = rule;
    j.budget = budget;
    j.seed = seed * 1000 + static_cast<std::uint64_t>(k) + 1;
    return j;
  };
  std::vector<CoordCase> cases;
  for (const auto& rule : s.rules)
    for (const auto d : s.widths)
      for (int k = 0; k < s.seeds; ++k) cases.push_back({rule, "d_model", d, k, job_at(rule, d, s.layers, k)});
  for (const auto& [label, rule] : s.depth_rules)
    for (const auto L : s.depths)
      for (int k = 0; k < s.seeds; ++k)
        cases.push_back({label, "n_layers", L, k, job_at(rule.first, s.proxy_width, L, k, rule.second)});
  for (const auto& r : s.moe_rules)
    for (const auto& [axis, values] : {std::pair{std::string("granularity"), s.granularities},
                                       std::pair{std::string("n_experts_a2"), s.expert_counts}}) {
      if (!r.axes.count(axis)) continue;
      for (const auto v : values)
        for (int k = 0; k < s.seeds; ++k) {
          auto j = job_at(r.rule, s.proxy_width, s.layers, k, r.switches);
          j.shape = shape_along(axis, v);
          // 2 per doubling of the axis relative to its first value: a deliberately wrong rule.
          if (r.power_check) j.moe_block_init_factor = static_cast<double>(v) / static_cast<double>(values.front());
          cases.push_back({r.label, axis, v, k, j, r.power_check});
        }
    }
  return cases;
}

/// RMS of the output logits on the first training batch at init (a documented exception of the coord
/// check: reported, not judged).
double init_logits_rms(const models::cpu::TrainRun& run, const models::cpu::TokenSource& data) {
  const auto& tr = run.target.train;
  models::cpu::Model<float> model(
      models::cpu::make_model_spec(run.transfer, run.target.model, data.vocab_size(), tr.seq_len, run.architecture));
  model.initialize(run.trainer.seed);
  const auto batch = data.train_batch(run.trainer.seed, 0, tr.batch_size, tr.seq_len);
  (void)model.forward(batch.tokens, batch.targets, tr.batch_size);
  const auto& logits = model.logits();
  return std::sqrt(static_cast<double>(logits.squaredNorm()) / static_cast<double>(logits.size()));
}

struct CoordRun {
  std::vector<std::map<std::string, double>> log;  ///< per logged step: "act_rms" and "ffn_rms" of the last block
  double init_logits_rms = 0.0;
};

/// Every case resolved once; the same resolved runs are trained and give the logits at init. Runs are
/// trained per depth, since the last block's column (act_rms_l{L-1}) depends on L.
std::vector<CoordRun> measure_coord(const std::vector<CoordCase>& cases, const ExperimentOptions& o) {
  std::vector<CoordRun> out(cases.size());
  std::map<std::int64_t, std::vector<std::size_t>> by_depth;
  for (std::size_t i = 0; i < cases.size(); ++i) by_depth[cases[i].job.shape.n_layers].push_back(i);
  for (const auto& [depth, members] : by_depth) {
    std::vector<models::cpu::TrainRun> runs;
    for (const auto i : members) runs.push_back(resolve(cases[i].job));
    const std::string column = fmt::format("act_rms_l{}", depth - 1),
                      ffn_column = fmt::format("ffn_rms_l{}", depth - 1);
    const auto trained = train_resolved(runs, o.out_dir / "scratch", o.threads, {column, ffn_column});
    const auto data = models::cpu::make_token_source(runs.front().data);
    for (std::size_t m = 0; m < members.size(); ++m) {
      auto& r = out[members[m]];
      for (const auto& row : trained[m].log)
        r.log.push_back({{"act_rms", row.at(column)}, {"ffn_rms", row.at(ffn_column)}});
      r.init_logits_rms = init_logits_rms(runs[m], *data);
    }
  }
  return out;
}

VerdictReport run_coord_check(const ExperimentOptions& o) {
  const auto settings = coord_check_settings(o.profile);
  const auto plan = coord_check_plan(o.profile);
  const auto cases = coord_cases(settings, o.seed);
  note(fmt::format("coord-check ({}): {} training runs", to_string(o.profile), cases.size()));
  const auto runs = measure_coord(cases, o);

  CsvTable sizes({"rule", "axis", "axis_value", "seed", "step", "act_rms", "ffn_rms"});
  std::vector<analysis::CoordMeasurement> measurements;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const auto& log = runs[i].log;
    if (log.empty()) continue;  // no step logged: nothing to measure (the slope drops this seed)
    for (std::size_t t = 0; t < log.size(); ++t)
      sizes.add_row({c.rule, c.axis, static_cast<long long>(c.value), static_cast<long long>(c.seed_index),
                     static_cast<long long>(t), log[t].at("act_rms"), log[t].at("ffn_rms")});
    const auto last_step = static_cast<std::int64_t>(log.size()) - 1;
    const auto v = static_cast<double>(c.value);
    const std::string seed = std::to_string(c.seed_index);
    if (is_moe_axis(c.axis)) {  // the MoE block's own output (docs/claims.md `coord-check`, "MoE axes")
      const double first = log.front().at("ffn_rms"), last = log.back().at("ffn_rms");
      measurements.push_back({c.rule, "ffn_output_rms", c.axis, 0, v, seed, first});  // at init
      measurements.push_back({c.rule, "ffn_output_rms", c.axis, last_step, v, seed, last});
      if (!c.size_only)
        measurements.push_back({c.rule, "ffn_output_rms_change", c.axis, last_step, v, seed, std::abs(last - first)});
      continue;
    }
    const double first = log.front().at("act_rms"), last = log.back().at("act_rms");
    measurements.push_back({c.rule, "residual_rms", c.axis, last_step, v, seed, last});
    measurements.push_back({c.rule, "residual_rms_change", c.axis, last_step, v, seed, std::abs(last - first)});
    measurements.push_back({c.rule, "output_logits_rms", c.axis, 0, v, seed, runs[i].init_logits_rms});
  }
  CsvTable coord({"rule", "quantity", "step", "axis", "axis_value", "seed", "value"});
  for (const auto& m : measurements) coord.add_row({m.rule, m.quantity, static_cast<long long>(m.step), m.axis, m.axis_value, m.seed, m.value});
  // Slopes, CIs, exceptions and verdicts by the shared analysis (the same code as `muelab analyze`).
  const auto slopes = analysis::analyze_coord_measurements(measurements, o.seed, settings.resamples);
  const auto is_control = [&](const std::string& rule) {
    return std::find(settings.control_rules.begin(), settings.control_rules.end(), rule) != settings.control_rules.end();
  };
  VerdictReport report;
  report.verdicts = analysis::coord_slope_verdicts(slopes, is_control, plan.claim("slope"));
  for (const auto& sl : slopes)
    if (sl.exception)
      note(fmt::format("coord-check: {} {} vs {} step {}: slope {:+.3f} [{:+.3f}, {:+.3f}] ({})", sl.rule, sl.quantity, sl.axis,
                       sl.step, sl.estimate.slope, sl.estimate.ci.low, sl.estimate.ci.high, *sl.exception));
  coord.write(o.out_dir / "coord.csv");
  analysis::coord_slopes_table(slopes).write(o.out_dir / "slopes.csv");
  sizes.write(o.out_dir / "sizes.csv");
  return report;
}

}  // namespace

Experiment make_coord_check_experiment() {
  Experiment e;
  e.name = "coord-check";
  e.description =
      "Residual-stream RMS and its change after 10 AdamW steps vs width for sp, mup, jiang, complete-mue and vs depth "
      "for complete-mue and sp (SP control); the MoE block's output RMS and its change vs granularity m and N (a = 2) "
      "for complete-mue (R = 1 and the MoE-block init power check as controls)";
  e.claims = {"coord-check"};
  e.plot_script = "coord_check.py";
  e.run = run_coord_check;
  e.plan = coord_check_plan;
  return e;
}

}  // namespace muelab::experiments::transformer
