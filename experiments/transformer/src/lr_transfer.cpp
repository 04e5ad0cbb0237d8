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
//
// This file holds each member's settings per profile and its registration; the engine they share (plan,
// sweeps, drift and discrimination rows, tables) is lr_transfer_family.cpp.
#include "lr_transfer_family.hpp"

#include <string>
#include <vector>

namespace muelab::experiments::transformer {

namespace {

std::vector<AxisSweep> axes_of(Profile profile) {
  const std::vector<AxisSweep> all = {{"d_model", {32, 64, 128}},  {"n_active", {1, 2, 4}},   {"n_layers", {1, 2, 4}},
                                      {"n_experts", {4, 8, 16}},   {"granularity", {1, 2, 4}}, {"n_shared", {1, 2, 4}},
                                      {"n_groups", {1, 2, 4}}};
  // quick: width up to d = 64 only (a d = 128 run costs 4x a d = 64 one; the main job must stay under
  // 5 minutes, docs/development.md §4) and the a axis.
  return by_profile<std::vector<AxisSweep>>(profile, {{"d_model", {32, 64}}}, {{"d_model", {32, 64}}, all[1]}, all);
}

std::vector<RuleCase> rules_of(Profile profile) {
  std::vector<RuleCase> rules = {claim_rule(), control_rule("sp", "sp", {}, {"d_model", "n_layers"}, true),
                                 power_check_rule()};
  if (by_profile(profile, false, false, true)) {  // every rule source of the engine, tabulated side by side (not judged)
    rules.push_back(tabulated("mup", "mup"));
    rules.push_back(tabulated("completep", "completep"));
    rules.push_back(tabulated("mup-moe", "mup-moe"));
    rules.push_back(tabulated("jiang", "jiang"));
    rules.push_back(
        control_rule("jiang fan-in down", "jiang", {"rule.jiang_expert_down_init=fan-in"}, {"granularity"}, true));
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
    s.rules.push_back(
        control_rule("jiang fan-in down", "jiang", {"rule.jiang_expert_down_init=fan-in"}, {"granularity"}, true));
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
  s.rules = {claim_rule(), control_rule("sp", "sp", {}, {"d_model"}, false), power_check_rule()};
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
  s.rules = {claim_rule(), control_rule("mup", "mup", {}, {"granularity"}, false)};
  if (profile == Profile::full) {
    s.rules.push_back(control_rule("mup-moe", "mup-moe", {}, {"granularity"}, false));
    s.rules.push_back(tabulated("jiang", "jiang"));
    s.rules.push_back(tabulated("sp", "sp"));
  }
  return s;
}

/// lr-transfer-capacity-width-sources: every rule source side by side across width d = 32, 64, 128 on the
/// capacity-bound task (h = d, N = 4, a = 1: lr-transfer-capacity-width's range and reference point; until
/// 2026-12-07 it ran d = 16, 32, 64, while six rules at d = 128 did not fit the CPU). Complete-muE judged,
/// SP the control (no width factors: its optimum must drift down, docs/theory.md §2); mup, completep,
/// mup-moe and jiang tabulated, each predicted to stay put (they share μP's width factors and differ from
/// Complete-muE in WD coupling, the router's init, ε and, for Jiang, the raw gate; docs/claims.md
/// `lr-transfer`, "Rule sources across width").
LrTransferSettings lr_transfer_capacity_width_sources_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-width-sources";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"d_model", {16, 32}}}, {{"d_model", {16, 32}}},
                                              {{"d_model", {32, 64, 128}}});
  s.rules = {claim_rule(), control_rule("sp", "sp", {}, {"d_model"}, false)};
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
  auto mup = control_rule("mup", "mup", {}, {"n_layers"}, false);
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
/// shared experts"). From 2026-12-07 the full profile has 10 seeds and the power check as a second control
/// (a plan change declared there before its run: mup's s = 4 upper tail split at 5 seeds, and the power
/// check along s, run in lr-transfer-capacity-structure, missed failing by 0.04 octave).
LrTransferSettings lr_transfer_capacity_shared_sources_settings(Profile profile) {
  LrTransferSettings s = lr_transfer_capacity_settings(profile);
  s.name = "lr-transfer-capacity-shared-sources";
  s.axes = by_profile<std::vector<AxisSweep>>(profile, {{"n_shared", {1, 2}}}, {{"n_shared", {1, 2}}},
                                              {{"n_shared", {1, 2, 4}}});
  auto mup = control_rule("mup", "mup", {}, {"n_shared"}, false);
  mup.separated = true;
  s.rules = {claim_rule(), mup};
  if (profile == Profile::full) {
    s.seeds = 10;
    s.rules.push_back(power_check_rule());
    for (const char* rule : {"mup-moe", "sp", "jiang"}) s.rules.push_back(tabulated(rule, rule));
  }
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
  auto r1 =
      control_rule("route scale removed (R = 1)", "complete-mue", {"rule.route_scale=none"}, {"granularity"}, false);
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
  auto sp = control_rule("sp", "sp", {}, {"n_layers"}, false);
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
  s.rules = {claim_rule(), mup, control_rule("sp", "sp", {}, {"d_model"}, true), power_check_rule()};
  return s;
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
      "LR sweeps on the capacity-bound task across width d = 32, 64, 128 (quick: 16, 32) with every rule source: "
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
