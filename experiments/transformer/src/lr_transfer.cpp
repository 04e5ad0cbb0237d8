// lr-transfer (docs/theory.md §9, docs/claims.md `lr-transfer`): LR sweeps of tiny MoE transformers
// across width and activated experts (full profile: also depth, N, granularity, shared experts and
// routing groups, and every rule source of the engine side by side), with the proxy's base LR
// transferred by each rule. Claim: under Complete-muE the optimum log2 η* stays put — |drift| ≤ 0.25
// octave per doubling and ≤ 0.5 octave over the tested range, judged from a paired bootstrap CI over
// seeds. Every LR curve follows the edge policy (docs/claims.md, "Optima at a grid edge").
// Controls (expected to fail): SP across width and depth (it does not scale them, §2–§3), Jiang's
// rule with fan-in expert-down init across granularity (§6), and on every axis the power check
// (docs/claims.md, "Power checks"): Complete-muE with the MoE block's LR multiplied by 2 per doubling
// of the axis. Discrimination rows: drift(rule) − drift(control), paired, must exceed the band.
// Also writes the rule-source comparison table (rule_sources.csv / .md).
//
// lr-transfer-capacity: the same measurement on the capacity-bound task (docs/theory.md §9, the task
// `capacity-gate` judges), along the MoE axes N and granularity, with the power check as the control.
// Its rows are verdicts only where the gate passed; otherwise every row is inconclusive, "task not
// capacity-bound" (docs/claims.md `capacity-gate`).
// lr-transfer-capacity-structure: the same on the capacity-bound task along the MoE block's structure:
// granularity over 4 doublings (m = 1, 4, 16), shared experts and routing groups.
// lr-transfer-capacity-sources: the rule sources side by side along that granularity axis (mup and
// mup-moe, whose fan-in expert-width scaling docs/theory.md §6 predicts to break transfer, as controls);
// lr-transfer-capacity-width-sources: every rule source across width d = 16, 32, 64, SP the control;
// lr-transfer-capacity-depth-sources: mup (no depth factors) against complete-mue across depth;
// lr-transfer-capacity-shared-sources: mup (plain sum over shared experts) against complete-mue along s;
// lr-transfer-capacity-route-scale: Bridge I's R = a against R = 1 along granularity.
#include "common.hpp"
#include "edge_sweep.hpp"

#include "muelab/analysis/lr_report.hpp"
#include "muelab/experiments/grid_policy.hpp"
#include "muelab/experiments/output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

namespace muelab::experiments::transformer {

namespace {

constexpr std::int64_t kBaseWidth = 32, kBaseDepth = 2;
const std::string kPowerLabel = "power check";

/// One swept axis: its name and values (the first value is the axis' reference point).
struct AxisSweep {
  std::string axis;
  std::vector<std::int64_t> values;
};

/// A rule column of the comparison table.
struct RuleCase {
  std::string label;
  std::string rule;
  std::vector<std::string> switches;
  bool judged = false;                    ///< its drifts are claim rows
  std::set<std::string> control_axes;     ///< axes on which it is a control that must drift
  bool only_control_axes = false;         ///< run only there (fan-in down: granularity)
  bool power_check = false;               ///< MoE-block LR × (value / reference) after the rule
  std::int64_t only_up_to = 0;            ///< > 0: run only at axis values up to this (compute)
  std::vector<std::string> ablations;     ///< controls that remove one ingredient (Job::ablations)
  bool separated = false;                 ///< a control with a predicted sign: gets a discrimination row
  bool drifts_up = false;                 ///< separated and predicted to drift up: drift(control) − drift(rule)
  std::set<std::string> axes_only;        ///< non-empty: run only on these axes (μP's init claim: width)
};

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
RuleCase tabulated(const std::string& label, const std::string& rule, std::vector<std::string> switches = {},
                   std::int64_t only_up_to = 0) {
  auto r = rule_case(label, rule);
  r.switches = std::move(switches);
  r.only_up_to = only_up_to;
  return r;
}

/// A control that must drift on `axes` (and, when `only_there`, runs only there).
RuleCase control(const std::string& label, const std::string& rule, std::vector<std::string> switches,
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
  auto r = control(label, "complete-mue", {}, {axis}, true);
  r.ablations = {ablation};
  r.separated = true;
  return r;
}

struct LrTransferSettings {
  std::string name = "lr-transfer";
  std::string claim_id = "lr-transfer";   ///< docs/claims.md id of the drift rows
  /// The proxy hyperparameter swept: "lr" (at base_weight_decay) or "init_std" (init-transfer: at the
  /// proxy LR `fixed_lr`); the grid is centred on lr_centre either way.
  std::string knob = "lr";
  double fixed_lr = 0.0;
  Budget budget;
  double base_weight_decay = BaseHyperparameters{}.weight_decay;
  bool needs_capacity_gate = false;       ///< rows are verdicts only where capacity-gate passed
  std::vector<AxisSweep> axes;
  std::vector<RuleCase> rules;
  double lr_centre = 4e-3, grid_step = 1.0;
  int grid_half = 2;
  int seeds = 2;
  std::size_t resamples = 1000;
  EdgePolicy edge;
  analysis::StaysPut stays_put;           ///< 0.25 octave per doubling, 0.5 octave over the range
  double separation = 0.25;               ///< discrimination: drift(rule) − drift(control) ≥ this
};

std::vector<AxisSweep> axes_of(Profile profile) {
  const std::vector<AxisSweep> all = {{"d_model", {32, 64, 128}},  {"n_active", {1, 2, 4}},   {"n_layers", {1, 2, 4}},
                                      {"n_experts", {4, 8, 16}},   {"granularity", {1, 2, 4}}, {"n_shared", {1, 2, 4}},
                                      {"n_groups", {1, 2, 4}}};
  // quick: width up to d = 64 only (a d = 128 run costs 4x a d = 64 one; the main job must stay under
  // 5 minutes, docs/development.md §4) and the a axis.
  return by_profile<std::vector<AxisSweep>>(profile, {{"d_model", {32, 64}}}, {{"d_model", {32, 64}}, all[1]}, all);
}

std::vector<RuleCase> rules_of(Profile profile) {
  std::vector<RuleCase> rules = {claim_rule(), control("sp", "sp", {}, {"d_model", "n_layers"}, true), power_check_rule()};
  if (by_profile(profile, false, false, true)) {  // every rule source of the engine, tabulated side by side (not judged)
    rules.push_back(tabulated("mup", "mup"));
    rules.push_back(tabulated("completep", "completep"));
    rules.push_back(tabulated("mup-moe", "mup-moe"));
    rules.push_back(tabulated("jiang", "jiang"));
    rules.push_back(control("jiang fan-in down", "jiang", {"rule.jiang_expert_down_init=fan-in"}, {"granularity"}, true));
  }
  return rules;
}

LrTransferSettings lr_transfer_settings(Profile profile) {
  LrTransferSettings s;
  s.budget.steps = by_profile<std::int64_t>(profile, 20, 120, 120);
  s.budget.eval_batches = by_profile<std::int64_t>(profile, 2, 8, 8);
  s.axes = axes_of(profile);
  s.rules = rules_of(profile);
  s.grid_step = by_profile(profile, 1.0, 1.0, 0.5);
  s.grid_half = by_profile(profile, 1, 2, 3);
  s.seeds = by_profile(profile, 2, 3, 5);
  s.resamples = by_profile<std::size_t>(profile, 200, 1000, 2000);
  s.edge.max_extra_points = by_profile(profile, 1, 4, 4);
  return s;
}

/// lr-transfer-capacity: the capacity-bound task, MoE axes N, granularity and (full) a at N = 8 (a = 1 at
/// m = 1: the normalized gate is 1 there and the router gets no gradient), complete-mue against the power check.
LrTransferSettings lr_transfer_capacity_settings(Profile profile) {
  LrTransferSettings s;
  s.name = "lr-transfer-capacity";
  s.budget = capacity_bound_budget(profile);
  s.base_weight_decay = kCapacityTaskWeightDecay;
  s.needs_capacity_gate = true;
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"n_experts", {4, 8}}}, {{"n_experts", {4, 16}}},
                                              {{"n_experts", {4, 8, 16}}, {"granularity", {1, 2, 4}}, {"n_active", {1, 2, 4}}});
  s.rules = {claim_rule(), power_check_rule()};
  s.lr_centre = 1e-2;  // the dense proxy's optimum on this task (capacity-gate's calibration: 1.3e-2)
  s.grid_step = by_profile(profile, 1.0, 1.0, 0.5);
  s.grid_half = by_profile(profile, 1, 1, 3);
  s.seeds = by_profile(profile, 2, 2, 5);
  s.resamples = by_profile<std::size_t>(profile, 200, 1000, 2000);
  s.edge.max_extra_points = by_profile(profile, 1, 2, 4);
  return s;
}

/// lr-transfer-capacity-structure: the capacity-bound task along granularity m = 1, 4, 16 (4 doublings:
/// (N, a, h) = (4, 1, d) -> (64, 16, d/16), judged on the total shift, docs/claims.md `lr-transfer`),
/// shared experts (1, 2, 4 of width d beside N = 4, a = 1) and routing groups (1, 2, 4 at N = 8, a = 4);
/// complete-mue against the power check (and, on granularity, Jiang's fan-in expert-down control), with
/// the same proxy, grid and seeds as lr-transfer-capacity.
LrTransferSettings lr_transfer_capacity_structure_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-structure";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"n_shared", {1, 2}}}, {{"n_shared", {1, 2}}},
                                              {{"granularity", {1, 4, 16}}, {"n_shared", {1, 2, 4}}, {"n_groups", {1, 2, 4}}});
  // The granularity control of docs/theory.md §6 (Jiang's rule with fan-in expert-down init: its init
  // shrinks with h, so η* must move across m), run on the granularity axis only.
  if (profile == Profile::full)
    s.rules.push_back(control("jiang fan-in down", "jiang", {"rule.jiang_expert_down_init=fan-in"}, {"granularity"}, true));
  return s;
}

/// lr-transfer-capacity-width: the capacity-bound task across width d = 32, 64, 128 (h = d, N = 4,
/// a = 1), complete-mue against SP (its optimum must drift down with width, docs/theory.md §2) and the
/// power check; beside them, up to d = 64 (compute), the two open switches head_rule = cmue-literal and
/// wd_width_scaling = coupled, and Lingle's trainable norm gains, tabulated (docs/claims.md `lr-transfer`).
LrTransferSettings lr_transfer_capacity_width_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-width";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"d_model", {16, 32}}}, {{"d_model", {16, 32}}},
                                              {{"d_model", {32, 64, 128}}});
  s.rules = {claim_rule(), control("sp", "sp", {}, {"d_model"}, false), power_check_rule()};
  if (profile == Profile::full) {
    s.rules.push_back(tabulated("head_rule cmue-literal", "complete-mue", {"rule.head_rule=cmue-literal"}, 64));
    s.rules.push_back(tabulated("wd_width_scaling coupled", "complete-mue", {"rule.wd_width_scaling=coupled"}, 64));
    s.rules.push_back(tabulated("trainable norm gains", "complete-mue", {"trainer.norm_gains_trainable=true"}, 64));
  }
  return s;
}

/// lr-transfer-capacity-experts: the capacity-bound task along N = 4, 8, 16 with a learning router (a = 2,
/// h = d). lr-transfer-capacity's N axis is at a = 1, where the normalized gate is exactly 1 and the router
/// gets no gradient (docs/claims.md, "The a axis at four times the steps"), so its holding row says
/// nothing about MoEs whose routing is learned. Complete-mue judged, the power check as the control, and
/// SP, mup-moe and Jiang tabulated beside them (docs/claims.md `lr-transfer`, "Along N with a learning
/// router"); the same proxy, grid, seeds and edge policy as lr-transfer-capacity.
LrTransferSettings lr_transfer_capacity_experts_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-experts";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"n_experts_a2", {4, 8}}}, {{"n_experts_a2", {4, 8}}},
                                              {{"n_experts_a2", {4, 8, 16}}});
  s.rules = {claim_rule(), power_check_rule()};
  if (profile == Profile::full) {
    s.rules.push_back(tabulated("sp", "sp"));
    s.rules.push_back(tabulated("mup-moe", "mup-moe"));
    s.rules.push_back(tabulated("jiang", "jiang"));
  }
  return s;
}

/// lr-transfer-capacity-sources: the rule sources side by side where they treat the MoE block differently,
/// on the capacity-bound task along granularity m = 1, 4, 16 ((N, a, h) = (4, 1, d) -> (64, 16, d/16), 4
/// doublings). Complete-muE judged (R = a, expert-down Bridge I init, hidden LR ×1); mup and mup-moe (fan-in
/// μP on the expert width h: expert-down LR ×m, init ×√m, R = 1) are controls that docs/theory.md §6 predicts
/// to break transfer across expert width ([JIANG]'s argument, the failure [MUPMOE] reports), no sign
/// predicted; jiang (mean-field down init √d/h, R = 1/a) and sp (R = 1, no width factors) tabulated.
/// completep is left out: at fixed depth it resolves to mup's runs except the norm gains' WD, and the gains
/// are frozen by default. The same proxy, grid, seeds and edge policy as lr-transfer-capacity
/// (docs/claims.md `lr-transfer`, "Rule sources along granularity").
LrTransferSettings lr_transfer_capacity_sources_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-sources";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"granularity", {1, 2}}}, {{"granularity", {1, 2}}},
                                              {{"granularity", {1, 4, 16}}});
  s.rules = {claim_rule(), control("mup", "mup", {}, {"granularity"}, false)};
  if (profile == Profile::full) {
    s.rules.push_back(control("mup-moe", "mup-moe", {}, {"granularity"}, false));
    s.rules.push_back(tabulated("jiang", "jiang"));
    s.rules.push_back(tabulated("sp", "sp"));
  }
  return s;
}

/// lr-transfer-capacity-width-sources: every rule source side by side across width d = 16, 32, 64 on the
/// capacity-bound task (h = d, N = 4, a = 1: the MoE reference point of lr-transfer-capacity-width, one
/// doubling below it so that the CPU affords six rules). Complete-muE judged, SP the control (no width
/// factors: its optimum must drift down, docs/theory.md §2); mup, completep, mup-moe and jiang tabulated,
/// each predicted to stay put (they share μP's width factors and differ from Complete-muE in WD coupling,
/// the router's init, ε and, for Jiang, the raw gate; docs/claims.md `lr-transfer`, "Rule sources
/// across width").
LrTransferSettings lr_transfer_capacity_width_sources_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-width-sources";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"d_model", {16, 32}}}, {{"d_model", {16, 32}}},
                                              {{"d_model", {16, 32, 64}}});
  s.rules = {claim_rule(), control("sp", "sp", {}, {"d_model"}, false)};
  if (profile == Profile::full)
    for (const char* rule : {"mup", "completep", "mup-moe", "jiang"}) s.rules.push_back(tabulated(rule, rule));
  return s;
}

/// lr-transfer-capacity-depth-sources: the rule source that drops the depth factors, side by side with
/// Complete-muE across depth L = 2, 4, 8 at d = 32 (N = 4, a = 1, h = d). mup (μP without CompleteP's 1/L
/// residual multiplier and depth ε) is the control, predicted to drift down (docs/theory.md §3), with its
/// discrimination row; mup-moe and completep are listed too, though at d = 32 they resolve to mup's and
/// complete-mue's numbers (so their runs are shared). The same proxy, grid, seeds and edge policy as
/// lr-transfer-capacity-depth (docs/claims.md `lr-transfer`, "Rule sources across depth").
LrTransferSettings lr_transfer_capacity_depth_sources_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-depth-sources";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"n_layers", {1, 2}}}, {{"n_layers", {1, 2}}},
                                              {{"n_layers", {2, 4, 8}}});
  auto mup = control("mup", "mup", {}, {"n_layers"}, false);
  mup.separated = true;
  s.rules = {claim_rule(), mup};
  if (profile == Profile::full) {
    s.rules.push_back(tabulated("completep", "completep"));
    s.rules.push_back(tabulated("mup-moe", "mup-moe"));
    // Added before the 2026-12-07 rerun (docs/claims.md): Jiang has CompleteP's 1/L branch multiplier and
    // differs from Complete-muE by its raw gate and the norm gains' WD, so it is predicted to stay put.
    s.rules.push_back(tabulated("jiang", "jiang"));
  }
  return s;
}

/// lr-transfer-capacity-shared-sources: the rule sources along shared experts s = 1, 2, 4 (width d beside
/// N = 4, a = 1, h = d). Complete-muE normalizes the block by A = 1/(a + s) (expert-down init ×√(a + s));
/// every other source sums the a + s expert outputs with A = 1. mup is the control predicted to drift down
/// (the down matrices' Adam updates add up over a + s experts), with its discrimination row; mup-moe is
/// listed (same resolved numbers, so the same runs); sp (also 1/√d_head attention) and jiang (raw gate)
/// tabulated. The same proxy, grid, seeds and edge policy as lr-transfer-capacity-structure, whose shared
/// axis ran Complete-muE against the power check only (docs/claims.md `lr-transfer`, "Rule sources along
/// shared experts").
LrTransferSettings lr_transfer_capacity_shared_sources_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-shared-sources";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"n_shared", {1, 2}}}, {{"n_shared", {1, 2}}},
                                              {{"n_shared", {1, 2, 4}}});
  auto mup = control("mup", "mup", {}, {"n_shared"}, false);
  mup.separated = true;
  s.rules = {claim_rule(), mup};
  if (profile == Profile::full)
    for (const char* rule : {"mup-moe", "sp", "jiang"}) s.rules.push_back(tabulated(rule, rule));
  return s;
}

/// lr-transfer-capacity-route-scale: Bridge I's route scale removed along granularity m = 1, 4, 16 ((N, a, h)
/// = (4m, m, d/m), 4 doublings, the active width a·h = d fixed). Complete-muE (R = a) judged; the same rule
/// with route_scale = none (R = 1: the routed sum becomes an average of its a experts, so one Adam step
/// moves it m times less) is the control predicted to drift up, with its discrimination row drift(R = 1) −
/// drift(complete-mue) (docs/claims.md `lr-transfer`, "Route scale removed along granularity"). At m = 1,
/// R = a = 1 and the two rules share their runs. The same proxy, grid, seeds and edge policy as
/// lr-transfer-capacity-structure.
LrTransferSettings lr_transfer_capacity_route_scale_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-route-scale";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"granularity", {1, 2}}}, {{"granularity", {1, 2}}},
                                              {{"granularity", {1, 4, 16}}});
  auto r1 = control("route scale removed (R = 1)", "complete-mue", {"rule.route_scale=none"}, {"granularity"}, false);
  r1.separated = r1.drifts_up = true;
  s.rules = {claim_rule(), r1};
  // Plan change declared after the 5-seed run at 7393971 and before this one (docs/claims.md, "Route scale
  // removed along granularity"): 10 seeds in full. R = 1 moved +0.21 [+0.04, +0.27] per doubling, between
  // the band (0.125) and what 5 seeds resolve; seeds 1-5 are the same runs, nothing else changes.
  if (profile == Profile::full) s.seeds = 10;
  return s;
}

/// lr-transfer-capacity-depth: the capacity-bound task across depth L = 2, 4, 8, 16 at d = 32 (N = 4,
/// a = 1, h = d): complete-mue (CompleteP α = 1) judged; α = ½ tabulated beside it; SP (no depth factors)
/// as the control and the power check, both up to L = 8 (compute: an L = 16 run costs ≈ 8× an L = 2 one).
LrTransferSettings lr_transfer_capacity_depth_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-depth";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"n_layers", {1, 2}}}, {{"n_layers", {1, 2}}},
                                              {{"n_layers", {2, 4, 8, 16}}});
  auto sp = control("sp", "sp", {}, {"n_layers"}, false);
  auto power = power_check_rule();
  sp.only_up_to = power.only_up_to = by_profile<std::int64_t>(profile, 0, 0, 8);
  s.rules = {claim_rule(), tabulated("completep alpha 1/2", "complete-mue", {"rule.depth_alpha=0.5"}), sp, power};
  return s;
}

/// lr-transfer-capacity-controls: the controls that remove one ingredient of Complete-muE on the a axis,
/// each predicted to move η* down by ≥ 2× the band over the range (docs/claims.md, "Controls that remove
/// an ingredient"): A removed and the plain-sum MoE (A = 1, R = 1, raw gates) along a = 1, 2, 4 at N = 8,
/// with Complete-muE itself as the claim, and the same proxy, grid and seeds as lr-transfer-capacity (its
/// complete-mue runs along a are the same runs).
LrTransferSettings lr_transfer_capacity_controls_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-controls";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"n_active", {1, 2}}}, {{"n_active", {1, 4}}},
                                              {{"n_active", {1, 2, 4}}});
  s.rules = {claim_rule(), ablation_control("A removed", "no-output-multiplier", "n_active"),
             ablation_control("plain-sum MoE", "plain-sum", "n_active")};
  // Plan change declared before its run (docs/claims.md, "Controls that remove an ingredient"): 10 seeds
  // in full, not 5. The two-loss-modes probe showed that the a = 4 curves' second minimum was five seeds of
  // an LR whose final losses spread six times wider than its neighbour's (sd 0.052 against 0.008).
  if (profile == Profile::full) s.seeds = 10;
  return s;
}

/// lr-transfer-capacity-controls-width: the width-side ingredient-removing controls: the router's LR
/// without its 1/d along d = 16, 32, 64 at N = 4, a = 2 (h = d; at a = 1 the normalized gate is 1 and the
/// router gets no gradient, so its LR would change nothing) and attention logits 1/√d_head (relative to
/// the base) along width with 4 heads fixed (d_head = 4, 8, 16); Complete-muE is the claim on both axes,
/// with the power check on both (added after the 629c865 full run, which had none: docs/claims.md).
/// Width runs below the base (d = 16) keep the CPU cost near 1.5 CPU h.
LrTransferSettings lr_transfer_capacity_controls_width_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-controls-width";
  const std::vector<AxisSweep> first_two = {{"d_model_a2", {16, 32}}, {"d_head", {4, 8}}};
  // quick: the router-width axis only (every quick row on this task is inconclusive; the main job must
  // stay under 5 minutes); smoke keeps both axes so the test suite runs both code paths.
  s.axes = by_profile<std::vector<AxisSweep>>(profile, first_two, {first_two.front()},
                                              {{"d_model_a2", {16, 32, 64}}, {"d_head", {4, 8, 16}}});
  s.rules = {claim_rule(), ablation_control("router LR without 1/d", "router-lr-width", "d_model_a2"),
             ablation_control("attention 1/sqrt(d_head)", "attention-sqrt-dhead", "d_head"), power_check_rule()};
  return s;
}

/// init-transfer (docs/claims.md `init-transfer`): the proxy's init std swept instead of its LR, at the
/// proxy's tuned LR on the capacity-bound task (1.28e-2, capacity-gate's calibration), across the
/// activated experts a = 1, 2, 4, 8 of N = 8 (the paper's activated-experts grid) and across width
/// d = 16, 32, 64 (h = d, N = 4, a = 1). Claims: complete-mue on both axes, μP across width. Controls:
/// SP across width (absolute init: its optimum must drift by about −½ octave per doubling) and the
/// power check (the FFN/MoE block's init ×2 per doubling after the rule) on both axes.
LrTransferSettings init_transfer_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "init-transfer";
  s.claim_id = "init-transfer";
  s.knob = "init_std";
  s.fixed_lr = 1.28e-2;
  s.lr_centre = 0.015625;  // the grid's centre: 2^-6 (the dense proxy's init* is 0.015, tune-dense-once)
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"d_model", {16, 32}}}, {{"d_model", {16, 32}}},
                                              {{"n_active", {1, 2, 4, 8}}, {"d_model", {16, 32, 64}}});
  if (profile == Profile::quick) {  // quick only shows the code runs: a quarter of the tokens, half the steps
    s.budget.batch_size = 8;
    s.budget.seq_len = 32;
    s.budget.steps = 100;
    s.budget.warmup = 8;
  }
  auto mup = rule_case("mup", "mup");
  mup.judged = true;
  mup.axes_only = {"d_model"};
  s.rules = {claim_rule(), mup, control("sp", "sp", {}, {"d_model"}, true), power_check_rule()};
  return s;
}

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
  return {{"steps", s.budget.steps}, {"batch_size", s.budget.batch_size}, {"seq_len", s.budget.seq_len},
          {"warmup", s.budget.warmup}, {"eval_batches", s.budget.eval_batches}, {"data", s.budget.data_source},
          {"schedule", s.budget.schedule}, {"decay_fraction", s.budget.decay_fraction},
          {"markov_order", s.budget.markov_order}, {"markov_temperature", s.budget.markov_temperature},
          {"weight_decay", s.base_weight_decay}, {"base_shape", "dense d=32, L=2, H=d"},
          {"needs_capacity_gate", s.needs_capacity_gate},
          {"axes", axes}, {"rules", rules}, {"lr_centre", s.lr_centre}, {"lr_grid_step_log2", s.grid_step},
          {"lr_grid_points", 2 * s.grid_half + 1}, {"seeds", s.seeds}, {"bootstrap_resamples", s.resamples},
          {"edge_extra_points_cap", s.edge.max_extra_points}, {"edge_step_log2", s.edge.step_log2},
          {"stays_put_per_doubling", s.stays_put.per_doubling}, {"stays_put_total", s.stays_put.total},
          {"discrimination_separation", s.separation}, {"knob", s.knob}, {"fixed_lr", s.fixed_lr}};
}

ExperimentPlan plan_for(const LrTransferSettings& s) {
  ExperimentPlan plan;
  plan.settings = settings_json(s);
  // The row tolerance is min(0.25, 0.5 / doublings of the axis): fixed by the plan's axes.
  plan.claims["drift"] = {s.claim_id, fmt::format("drift of log2 {}* per doubling of the axis", s.knob), VerdictKind::claim,
                          Sidedness::two_sided, 0.0, s.stays_put.per_doubling};
  // The tolerance each axis' rows are judged with (its doublings are fixed by the plan's axis values).
  for (const auto& axis : s.axes) {
    auto spec = plan.claims["drift"];
    spec.tolerance = s.stays_put.bound(std::log2(static_cast<double>(axis.values.back()) /
                                                 static_cast<double>(axis.values.front())));
    spec.quantity += " (" + axis.axis + ")";
    plan.claims["drift " + axis.axis] = spec;
  }
  plan.claims["separation"] = {s.claim_id, "drift(complete-mue) - drift(control), paired over seeds",
                               VerdictKind::claim, Sidedness::at_least, s.separation, 0.0};
  if (std::any_of(s.rules.begin(), s.rules.end(), [](const RuleCase& r) { return r.drifts_up; }))
    plan.claims["separation up"] = {s.claim_id,         "drift(control) - drift(complete-mue), paired over seeds",
                                    VerdictKind::claim, Sidedness::at_least,
                                    s.separation,       0.0};
  return plan;
}

Shape shape_at(const std::string& axis, std::int64_t v) {
  Shape s;  // N = 4, a = 1, h = d: the MoE reference point
  s.d_model = kBaseWidth;
  s.n_layers = kBaseDepth;
  if (axis == "d_model") {
    s.d_model = v;
    s.d_expert = v;
  } else if (axis == "n_active") {
    s.n_experts = 8;
    s.n_active = v;
  } else if (axis == "n_layers") {
    s.n_layers = v;
  } else if (axis == "n_experts") {
    s.n_experts = v;
  } else if (axis == "n_experts_a2") {  // N with two experts active (the router learns)
    s.n_experts = v;
    s.n_active = 2;
  } else if (axis == "granularity") {  // (N, a, h) -> (mN, ma, h/m)
    s.n_experts = 4 * v;
    s.n_active = v;
    s.d_expert = kBaseWidth / v;
  } else if (axis == "n_shared") {  // shared experts of width d beside the routed ones
    s.n_shared = v;
    s.d_shared = kBaseWidth;
  } else if (axis == "n_groups") {  // routing groups (N = 8, a = 4: g divides both)
    s.n_experts = 8;
    s.n_active = 4;
    s.n_groups = v;
  } else if (axis == "d_model_a2") {  // width with two of four experts active (the router learns)
    s.d_model = v;
    s.d_expert = v;
    s.n_active = 2;
  } else if (axis == "d_head") {  // width with 4 heads fixed: d = 4·d_head, h = d
    s.d_head = v;
    s.d_model = 4 * v;
    s.d_expert = 4 * v;
  } else {
    throw std::logic_error("lr-transfer: unknown axis " + axis);
  }
  return s;
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
  j.shape = shape_at(axis.axis, k.value);
  j.base_shape = dense_proxy(kBaseWidth, kBaseDepth);
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
      grids, s.seeds, [&](std::size_t c, double x, int seed) { return job_for(s, m.keys[c], std::exp2(x), seed, o.seed); },
      s.edge, o.out_dir / "scratch", o.threads, s.name);
  return m;
}

/// The analysis of one (rule, axis): its curves' runs labelled by the axis value.
analysis::LrAnalysis analyze_rule_axis(const LrTransferSettings& s, const Measured& m, std::size_t rule, std::size_t axis,
                                       std::uint64_t seed) {
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
  CsvTable optima{{"rule", "axis", "axis_value", "log2_lr_star", "ci_low", "ci_high", "loss_star", "at_edge", "extra_points"}};
  CsvTable drifts{{"axis", "rule", "drift_per_doubling", "ci_low", "ci_high", "bound", "edge_optima", "kind", "verdict"}};
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
    const bool present = std::any_of(m.keys.begin(), m.keys.end(),
                                     [&](const CurveKey& k) { return k.rule == r && k.axis == axis; });
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
    const auto rows = analysis::drift_verdicts(a, plan.claim("drift"), s.stays_put,
                                               [&](const analysis::LrDrift&) { return kind == "control"; },
                                               rule.label + (rule.power_check ? fmt::format(" (MoE-block {} x2 per doubling)", s.knob == "lr" ? "LR" : "init") : "") + ": ",
                                               s.knob);
    for (std::size_t i = 0; i < a.drifts.size(); ++i) {
      const auto& d = a.drifts[i];
      const auto& row = rows[i];
      t.drifts.add_row({name, rule.label, d.drift, d.ci.low, d.ci.high, row.tolerance,
                        static_cast<long long>(d.edge_optima), kind, to_string(row.outcome)});
      t.cells[name][rule.label] = fmt::format("{:+.2f} [{:+.2f}, {:+.2f}]{}", d.drift, d.ci.low, d.ci.high,
                                              d.edge_optima ? " (edge)" : (row.holds() ? " ✓" : row.fails() ? " ✗" : " ?"));
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
      if (kind_of(rule, name) != "control" || a.drifts.empty() || !(rule.power_check || rule.rule == "sp" || rule.separated))
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

void write_rule_sources(const LrTransferSettings& s, Profile profile, const Tables& t, const std::filesystem::path& dir) {
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
  note(fmt::format("{} ({}): {} runs requested, {} trained ({} resumed)", s.name, to_string(o.profile),
                   m.sweep.requested, m.sweep.trained, m.sweep.resumed));
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
  note(fmt::format("{}: {:.0f} s", s.name, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  return report;
}

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

}  // namespace

Experiment make_lr_transfer_capacity_depth_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-depth",
      "LR sweeps on the capacity-bound task across depth L = 2, 4, 8, 16 (quick: 1, 2): complete-mue (CompleteP "
      "alpha = 1) judged, alpha = 1/2 tabulated, SP and the power check up to L = 8 as controls; judged only where "
      "capacity-gate passed",
      lr_transfer_capacity_depth_settings);
}

Experiment make_lr_transfer_capacity_experts_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-experts",
      "LR sweeps on the capacity-bound task along N = 4, 8, 16 with a learning router (a = 2, h = d; quick: N = 4, 8): "
      "complete-mue must stay put, the power check must drift; SP, mup-moe and jiang tabulated",
      lr_transfer_capacity_experts_settings);
}

Experiment make_lr_transfer_capacity_controls_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-controls",
      "LR sweeps on the capacity-bound task with one ingredient of complete-mue removed along a = 1, 2, 4 (N = 8; "
      "quick: a = 1, 4): A removed and the plain-sum MoE must drift, complete-mue must stay put",
      lr_transfer_capacity_controls_settings);
}

Experiment make_lr_transfer_capacity_controls_width_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-controls-width",
      "LR sweeps on the capacity-bound task with one width ingredient of complete-mue removed: the router's LR without "
      "1/d along d = 16, 32, 64 and attention 1/sqrt(d_head) along d_head = 4, 8, 16 with 4 heads (quick: the first "
      "two points); each control must drift, complete-mue must stay put",
      lr_transfer_capacity_controls_width_settings);
}

Experiment make_init_transfer_experiment() {
  auto e = lr_transfer_family(
      "init-transfer",
      "Init-std sweeps of the dense proxy on the capacity-bound task, transferred across activated experts a = 1, 2, 4, "
      "8 (N = 8) and width d = 16, 32, 64 (quick: width 16, 32): complete-mue (and mup across width) must keep init* "
      "put; SP across width and the MoE-block init power check must drift",
      init_transfer_settings);
  e.claims = {"init-transfer"};
  return e;
}

Experiment make_lr_transfer_experiment() {
  return lr_transfer_family(
      "lr-transfer",
      "LR sweeps of tiny MoE transformers across width, activated experts (+ depth, N, granularity, shared experts, "
      "routing groups and all six rule sources in full); optimum drift per doubling with paired CIs, controls, power "
      "check and discrimination rows; rule-source table",
      lr_transfer_settings);
}

Experiment make_lr_transfer_capacity_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity",
      "LR sweeps on the capacity-bound task (order-2 Markov chain) along N, granularity and a (quick: N only): optimum "
      "drift per doubling for complete-mue against the power check; judged only where capacity-gate passed",
      lr_transfer_capacity_settings);
}

Experiment make_lr_transfer_capacity_width_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-width",
      "LR sweeps on the capacity-bound task across width d = 32, 64, 128 (quick: 16, 32): complete-mue against SP and "
      "the power check; head_rule cmue-literal, wd_width_scaling coupled and trainable norm gains tabulated up to d = 64; "
      "judged only where capacity-gate passed",
      lr_transfer_capacity_width_settings);
}

Experiment make_lr_transfer_capacity_sources_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-sources",
      "LR sweeps on the capacity-bound task along granularity m = 1, 4, 16 (quick: 1, 2) with the rule sources that "
      "treat the MoE block differently: complete-mue judged, mup and mup-moe (fan-in expert width) as controls, jiang "
      "and sp tabulated; judged only where capacity-gate passed",
      lr_transfer_capacity_sources_settings);
}

Experiment make_lr_transfer_capacity_width_sources_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-width-sources",
      "LR sweeps on the capacity-bound task across width d = 16, 32, 64 (quick: 16, 32) with every rule source: "
      "complete-mue judged, SP the control; mup, completep, mup-moe and jiang tabulated; judged only where "
      "capacity-gate passed",
      lr_transfer_capacity_width_sources_settings);
}

Experiment make_lr_transfer_capacity_depth_sources_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-depth-sources",
      "LR sweeps on the capacity-bound task across depth L = 2, 4, 8 (quick: 1, 2): complete-mue judged against mup "
      "(no depth factors), the control that must drift down; completep and mup-moe listed (their runs are shared), "
      "jiang tabulated; "
      "judged only where capacity-gate passed",
      lr_transfer_capacity_depth_sources_settings);
}

Experiment make_lr_transfer_capacity_shared_sources_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-shared-sources",
      "LR sweeps on the capacity-bound task along shared experts s = 1, 2, 4 (quick: 1, 2): complete-mue (block "
      "normalized by 1/(a + s)) judged against mup (plain sum), the control that must drift down; mup-moe listed (its "
      "runs are mup's), sp and jiang tabulated; judged only where capacity-gate passed",
      lr_transfer_capacity_shared_sources_settings);
}

Experiment make_lr_transfer_capacity_route_scale_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-route-scale",
      "LR sweeps on the capacity-bound task along granularity m = 1, 4, 16 (quick: 1, 2): complete-mue (route scale "
      "R = a) judged against the same rule with R = 1, the Bridge I control that must drift up; judged only where "
      "capacity-gate passed",
      lr_transfer_capacity_route_scale_settings);
}

Experiment make_lr_transfer_capacity_structure_experiment() {
  return lr_transfer_family(
      "lr-transfer-capacity-structure",
      "LR sweeps on the capacity-bound task along the MoE block's structure: granularity m = 1, 4, 16, shared experts "
      "and routing groups (quick: shared only); complete-mue against the power check; judged only where capacity-gate "
      "passed",
      lr_transfer_capacity_structure_settings);
}

}  // namespace muelab::experiments::transformer
