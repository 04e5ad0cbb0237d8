// The upper knee of a weight-decay curve (docs/claims.md `wd-transfer`): on a task with infinite fresh
// data the loss is flat in λ below the optimum and rises above it, so λ* is poorly resolved (its side
// toward small λ is flat within the seeds' noise) while the λ at which the loss starts to rise is sharp.
// The knee is the largest log2 λ, right of the seed-mean curve's minimum, where the loss is still within
// `delta` nats of that minimum (linear interpolation between the last grid point within and the first
// beyond). Its drift per doubling of an axis has a paired bootstrap CI over seeds, like the drift of
// log2 η* (lr_analysis.hpp), so a rule that keeps "how much decay the model tolerates" put can be judged.
#pragma once

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/sim/statistics.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace muelab::analysis {

/// The upper knee of one curve (x = log2 of the swept value, ascending; loss per point, NaN = missing,
/// +inf = diverged): nullopt when no finite minimum exists or no point right of the minimum exceeds
/// minimum + delta (the knee lies beyond the grid's upper edge).
[[nodiscard]] std::optional<double> upper_knee(std::span<const double> log2_x, std::span<const double> loss,
                                               double delta);

/// The knee's drift along one LrDrift's axis (its curves, axis values and seed labels).
struct KneeDrift {
  std::vector<double> axis_values;
  std::vector<std::optional<double>> knees;  ///< per curve, from all seeds
  double drift = 0.0;                        ///< slope of the knee vs log2(axis value); NaN when a knee is missing
  sim::Interval ci;                          ///< paired bootstrap over seeds
  /// Resamples in which some curve had no knee inside its grid (counted at the grid's last point, so the
  /// CI is censored there): a row with more than 2.5% of them is not judged.
  std::size_t censored_resamples = 0, resamples = 0;
  [[nodiscard]] bool all_knees_found() const;
};

[[nodiscard]] KneeDrift knee_drift(const LrAnalysis& analysis, const LrDrift& drift, double delta, std::uint64_t seed,
                                   std::size_t resamples = 1000);

}  // namespace muelab::analysis
