// One edge policy for every swept optimum (LR, WD, init; transformer, SDE and `muelab analyze`;
// docs/claims.md, "Optima at a grid edge"): when the best point of a curve is the first or last grid
// point, the optimum is only bounded, so the grid is extended by half-octave points (0.5 in log2) on
// that side until the best point is interior, with at most 4 extra points. An optimum still at the
// edge after that is never fitted into a drift, regret or ratio: the row is inconclusive with the
// reason "optimum at grid edge".
//
// A diverged point (non-finite value) next to the best finite point brackets the optimum from that
// side (larger steps only get worse), so it counts as interior: extending the grid there cannot help.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace muelab::experiments {

struct EdgePolicy {
  double step_log2 = 0.5;     ///< spacing of the added points (half an octave)
  int max_extra_points = 4;   ///< per curve, over all rounds
  /// Optional: a statistic read right of the minimum that can also lie beyond the grid's top (the upper
  /// knee of a weight-decay curve, docs/claims.md `wd-transfer`). While it returns true for a curve with an
  /// interior minimum, the curve gets points above its top, from the same budget of extra points.
  std::function<bool(std::span<const double> log2_x, std::span<const double> value)> beyond_top;
};

enum class GridEdge { interior, low, high, unmeasured };
[[nodiscard]] std::string to_string(GridEdge edge);

struct MinimumLocation {
  GridEdge edge = GridEdge::unmeasured;  ///< unmeasured: no finite point
  std::size_t best_index = 0;            ///< index of the smallest finite value
};

/// Where the smallest finite value of a curve sampled at ascending `log2_x` lies.
[[nodiscard]] MinimumLocation locate_minimum(std::span<const double> log2_x, std::span<const double> value);

/// The next point (log2 units) the policy adds to this curve, or nullopt when the minimum is interior
/// (and `policy.beyond_top` does not ask for more above), unmeasured, or the curve already has
/// `policy.max_extra_points` extra points.
[[nodiscard]] std::optional<double> next_grid_point(std::span<const double> log2_x, std::span<const double> value,
                                                    int extra_points_so_far, const EdgePolicy& policy = {});

/// Every point a sweep must still add to this curve (half-octave steps beyond the edge, up to the
/// remaining budget): what `muelab analyze` reports for a sweep folder it cannot extend itself.
[[nodiscard]] std::vector<double> points_to_add(std::span<const double> log2_x, std::span<const double> value,
                                                int extra_points_so_far, const EdgePolicy& policy = {});

/// One curve of an in-process sweep: ascending grid (log2 units), its objective (e.g. the seed-mean
/// final loss; +inf when diverged) and how many points the policy added.
struct SweptCurve {
  std::vector<double> log2_x;
  std::vector<double> value;
  int extra_points = 0;
  [[nodiscard]] MinimumLocation minimum() const { return locate_minimum(log2_x, value); }
};

/// A batch of points to evaluate: (curve index, log2 x).
using GridRequests = std::vector<std::pair<std::size_t, double>>;

/// Runs an in-process sweep under the policy: evaluates every curve's initial grid (`log2_x` filled,
/// `value` empty), then, in rounds, the next point of every curve whose minimum is still at an edge,
/// until all are interior or out of budget. `evaluate` receives one batch per round (so a caller can
/// train the batch in parallel) and returns the objective of each request, in order. Keeps every
/// curve's grid sorted.
void sweep_until_interior(std::vector<SweptCurve>& curves,
                          const std::function<std::vector<double>(const GridRequests&)>& evaluate,
                          const EdgePolicy& policy = {});

}  // namespace muelab::experiments
