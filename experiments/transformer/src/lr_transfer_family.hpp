// The lr-transfer family of experiments (docs/claims.md `lr-transfer`): what one member declares — its
// axes, its rule columns (claim, controls, power check, tabulated sources), grid, seeds and budget — and the
// one engine that turns those settings into a plan, LR sweeps under the edge policy, drift rows with paired
// bootstrap CIs, discrimination rows and the rule-source table. The members' settings live in
// lr_transfer.cpp; this header is private to experiments/transformer.
#pragma once

#include "common.hpp"
#include "edge_sweep.hpp"

#include "muelab/analysis/lr_report.hpp"

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace muelab::experiments::transformer {

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
  bool judged = false;                 ///< its drifts are claim rows
  std::set<std::string> control_axes;  ///< axes on which it is a control that must drift
  bool only_control_axes = false;      ///< run only there (fan-in down: granularity)
  bool power_check = false;            ///< MoE-block LR × (value / reference) after the rule
  std::int64_t only_up_to = 0;         ///< > 0: run only at axis values up to this (compute)
  std::vector<std::string> ablations;  ///< controls that remove one ingredient (Job::ablations)
  bool separated = false;              ///< a control with a predicted sign: gets a discrimination row
  bool drifts_up = false;              ///< separated and predicted to drift up: drift(control) − drift(rule)
  std::set<std::string> axes_only;     ///< non-empty: run only on these axes (μP's init claim: width)
};

/// A rule column with every field named (the helpers below fill in what differs).
RuleCase rule_case(const std::string& label, const std::string& rule);
/// Complete-muE, the judged rule of every axis.
RuleCase claim_rule();
/// The power check of every axis (docs/claims.md, "Power checks").
RuleCase power_check_rule();
/// A rule column tabulated beside the claim, not judged (up to `only_up_to` on the axis when > 0).
RuleCase tabulated(const std::string& label, const std::string& rule, std::vector<std::string> switches = {},
                   std::int64_t only_up_to = 0);
/// A control that must drift on `axes` (and, when `only_there`, runs only there).
RuleCase control_rule(const std::string& label, const std::string& rule, std::vector<std::string> switches,
                      std::set<std::string> axes, bool only_there);
/// Complete-muE with one ingredient removed (Job::ablations), a control predicted to drift down on `axis`
/// only, with its discrimination row.
RuleCase ablation_control(const std::string& label, const std::string& ablation, const std::string& axis);

struct LrTransferSettings {
  std::string name = "lr-transfer";
  std::string claim_id = "lr-transfer";  ///< docs/claims.md id of the drift rows
  /// The proxy hyperparameter swept: "lr" (at base_weight_decay) or "init_std" (init-transfer: at the
  /// proxy LR `fixed_lr`); the grid is centred on lr_centre either way.
  std::string knob = "lr";
  double fixed_lr = 0.0;
  Budget budget;
  double base_weight_decay = BaseHyperparameters{}.weight_decay;
  bool needs_capacity_gate = false;  ///< rows are verdicts only where capacity-gate passed
  std::vector<AxisSweep> axes;
  std::vector<RuleCase> rules;
  double lr_centre = 4e-3, grid_step = 1.0;
  int grid_half = 2;
  int seeds = 2;
  std::size_t resamples = 1000;
  EdgePolicy edge;
  analysis::StaysPut stays_put;  ///< 0.25 octave per doubling, 0.5 octave over the range
  double separation = 0.25;      ///< discrimination: drift(rule) − drift(control) ≥ this
};

/// One registered experiment of this family: its settings per profile decide everything else.
Experiment lr_transfer_family(const std::string& name, const std::string& description,
                              LrTransferSettings (*settings)(Profile));

}  // namespace muelab::experiments::transformer
