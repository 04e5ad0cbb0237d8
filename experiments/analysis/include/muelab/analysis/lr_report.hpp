// Tables and verdicts from an LR analysis (docs/claims.md, "How a row is judged", "Optima at a grid
// edge", "Discrimination and power checks"): optima.csv (one row per LR curve), drifts.csv (one row per
// axis and slice), points_to_add.csv (what a sweep must add under the edge policy) and the drift,
// discrimination and power-check verdict rows.
#pragma once

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/experiments/grid_policy.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/experiments/verdicts.hpp"

#include <functional>
#include <string>

namespace muelab::analysis {

/// Columns: curve, <axes...>, log2_lr_star, ci_low, ci_high, loss_star, at_edge, seeds.
[[nodiscard]] experiments::CsvTable optima_table(const LrAnalysis& analysis);
/// Columns: axis, slice, drift_per_doubling, ci_low, ci_high, grid_step, edge_optima, points, doublings.
[[nodiscard]] experiments::CsvTable drifts_table(const LrAnalysis& analysis);
/// Columns: curve, <axes...>, log2_lr, mean_loss, standard_error (the curves for plotting).
[[nodiscard]] experiments::CsvTable curves_table(const LrAnalysis& analysis);

/// "The optimum stays put" (docs/claims.md, "Default tolerances"): |drift| ≤ per_doubling octave per
/// doubling of the axis AND |drift|·doublings ≤ total octave over the tested range. Both are fixed in a
/// plan before any run.
struct StaysPut {
  double per_doubling = 0.25;
  double total = 0.5;
  /// The bound on |drift| over `doublings` doublings: min(per_doubling, total / doublings).
  [[nodiscard]] double bound(double doublings) const;
};

/// The points (log2 LR) each edge curve still needs under the edge policy. A curve's extra points so far
/// are its LRs outside the grid every curve shares (the sweep's declared grid).
struct GridExtension {
  std::size_t curve = 0;
  std::map<std::string, std::string> axes;
  experiments::GridEdge edge = experiments::GridEdge::interior;
  std::vector<double> log2_lr_to_add;
};
[[nodiscard]] std::vector<GridExtension> grid_extensions(const LrAnalysis& analysis,
                                                         const experiments::EdgePolicy& policy = {});
/// Columns: curve, <axes...>, edge, log2_lr, lr (one row per point to add).
[[nodiscard]] experiments::CsvTable grid_extensions_table(const LrAnalysis& analysis,
                                                          const std::vector<GridExtension>& extensions);

/// One verdict per drift, judged against `spec` (predicted 0, two-sided) with the row's tolerance
/// `stays_put.bound(doublings)`. A drift through an optimum at a grid edge is never fitted: that row is
/// inconclusive, "optimum at grid edge". Rows whose drift `is_control` says so are control rows
/// (as_control(spec): as expected only when they fail).
[[nodiscard]] std::vector<experiments::Verdict> drift_verdicts(
    const LrAnalysis& analysis, const experiments::ClaimSpec& spec, const StaysPut& stays_put,
    const std::function<bool(const LrDrift&)>& is_control, const std::string& case_prefix = "",
    const std::string& knob = "lr");

/// The case text of a drift row: "<prefix>d log2 KNOB*/d log2 AXIS over LO..HI [slice]" (knob: the
/// swept hyperparameter, "lr" unless an init or WD sweep is analysed the same way).
[[nodiscard]] std::string drift_case(const LrDrift& drift, const std::string& case_prefix = "",
                                     const std::string& knob = "lr");

/// A discrimination row: drift(rule) − drift(control) with its paired CI, judged against `spec`
/// (typically at_least: the rule and the control must be told apart). Inconclusive "optimum at grid
/// edge" when either drift passes through an edge optimum.
[[nodiscard]] experiments::Verdict discrimination_verdict(const experiments::ClaimSpec& spec, const std::string& case_name,
                                                          const LrAnalysis& rule_analysis, const LrDrift& rule_drift,
                                                          const LrAnalysis& control_analysis, const LrDrift& control_drift,
                                                          std::uint64_t seed, std::size_t resamples = 1000);

/// The power-check rule (docs/claims.md, "Power checks"): when the deliberately wrong rule's row on an
/// axis does not fail, that axis cannot tell a right rule from a wrong one, so a claim row on it that
/// holds is reported inconclusive, "not informative: the wrong rule also holds". Returns how many rows
/// it changed. The same rule applies to any control predicted to fail (docs/claims.md, "Power checks"):
/// `control_name` names it in the reason.
std::size_t mark_not_informative(std::vector<experiments::Verdict>& claim_rows, const experiments::Verdict& power_row,
                                 const std::string& control_name = "power check");

}  // namespace muelab::analysis
