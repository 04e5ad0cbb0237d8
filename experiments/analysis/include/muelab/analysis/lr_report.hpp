// Tables and verdicts from an LR analysis (ENGINEERING.md §5): optima.csv (one row per LR curve),
// drifts.csv (one row per axis and slice) and the `lr-transfer` verdict rows.
#pragma once

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/experiments/verdicts.hpp"

#include <functional>
#include <string>

namespace muelab::analysis {

/// Columns: curve, <axes...>, log2_lr_star, ci_low, ci_high, loss_star, at_edge, seeds.
[[nodiscard]] experiments::CsvTable optima_table(const LrAnalysis& analysis);
/// Columns: axis, slice, drift_per_doubling, ci_low, ci_high, grid_step, edge_optima, points, below_grid_step.
[[nodiscard]] experiments::CsvTable drifts_table(const LrAnalysis& analysis);
/// Columns: curve, <axes...>, log2_lr, mean_loss, standard_error (the curves for plotting).
[[nodiscard]] experiments::CsvTable curves_table(const LrAnalysis& analysis);

/// One verdict per drift: the claim holds when |drift| ≤ grid step (predicted 0, tolerance = grid
/// step). Rows whose drift `is_control` says so are control rows (expected not to hold).
[[nodiscard]] std::vector<experiments::Verdict> drift_verdicts(
    const LrAnalysis& analysis, const std::string& claim, const std::function<bool(const LrDrift&)>& is_control,
    const std::string& case_prefix = "");

}  // namespace muelab::analysis
