// The (a, N) study axes of the Bridge II experiments on the transformer (bridge2-transformer,
// sigma0-transformer, wd-transfer; docs/theory.md §5.2): the activated experts a at a fixed N, reported
// per halving of a, and the capacity N at a fixed a, reported per doubling of N. The first point of an
// axis is its reference.
#pragma once

#include "common.hpp"
#include "edge_sweep.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace muelab::experiments::transformer {

struct MoePoint {
  std::int64_t experts = 8, active = 8;
  bool operator<(const MoePoint& o) const { return experts != o.experts ? experts < o.experts : active < o.active; }
  bool operator==(const MoePoint& o) const { return experts == o.experts && active == o.active; }
};

struct MoeStudyAxis {
  std::string name;   ///< "n_active" (N fixed) or "n_experts" (a fixed)
  std::string label;  ///< for case texts: "per halving of a (N = 8)", "per doubling of N (a = 2)"
  std::vector<MoePoint> points;
  double sign = 1.0;  ///< −1: drift reported per halving of the axis; +1: per doubling
  [[nodiscard]] std::int64_t value(const MoePoint& p) const { return name == "n_active" ? p.active : p.experts; }
};

/// The a axis (a_values at N = n_fixed) and the N axis (n_values at a = a_fixed), in that order.
[[nodiscard]] inline std::vector<MoeStudyAxis> moe_study_axes(std::int64_t n_fixed,
                                                              const std::vector<std::int64_t>& a_values,
                                                              std::int64_t a_fixed,
                                                              const std::vector<std::int64_t>& n_values) {
  MoeStudyAxis a_axis{"n_active", "per halving of a (N = " + std::to_string(n_fixed) + ")", {}, -1.0};
  for (const auto a : a_values) a_axis.points.push_back({n_fixed, a});
  MoeStudyAxis n_axis{"n_experts", "per doubling of N (a = " + std::to_string(a_fixed) + ")", {}, +1.0};
  for (const auto n : n_values) n_axis.points.push_back({n, a_fixed});
  return {a_axis, n_axis};
}

/// The MoE shape the Bridge II studies train (bridge2-transformer, wd-transfer): d = 32, L = 2, expert
/// width 16, and their axes per profile: a = 8, 4, 2, 1 of N = 8 and N = 4, 8, 16, 32 at a = 2 in full,
/// the first two of each (a = 8, 2 in quick) otherwise.
struct MoeStudyGrid {
  Shape moe;
  std::vector<std::int64_t> a_values, n_values;
};
[[nodiscard]] inline MoeStudyGrid bridge2_study_grid(Profile profile) {
  MoeStudyGrid g;
  g.moe.d_model = 32;
  g.moe.n_layers = 2;
  g.moe.d_expert = 16;
  g.a_values = by_profile<std::vector<std::int64_t>>(profile, {8, 4}, {8, 2}, {8, 4, 2, 1});
  g.n_values = by_profile<std::vector<std::int64_t>>(profile, {4, 8}, {4, 8}, {4, 8, 16, 32});
  return g;
}

/// A power check's factor at `p` (docs/claims.md, "Power checks"): 2 per halving of a (a axis) or per
/// doubling of N (N axis) from the axis' reference.
[[nodiscard]] inline double power_factor(const MoeStudyAxis& ax, const MoePoint& p) {
  const double ratio = static_cast<double>(ax.value(p)) / static_cast<double>(ax.value(ax.points.front()));
  return ax.sign > 0 ? ratio : 1.0 / ratio;
}

/// The shape at one point: `moe` with its N and a.
[[nodiscard]] inline Shape shape_at(const MoePoint& p, Shape moe) {
  moe.n_experts = p.experts;
  moe.n_active = p.active;
  return moe;
}

/// The Complete-muE job at one point of a study: the shape at `p`, the dense proxy of its width and depth
/// with base LR `lr` and weight decay `weight_decay`, on `budget`, seeded as the transformer experiments
/// seed their runs (base_seed · 1000 + seed + 1).
[[nodiscard]] inline Job study_job(const MoePoint& p, const Shape& moe, const Budget& budget, double lr,
                                   double weight_decay, int seed, std::uint64_t base_seed) {
  Job j;
  j.shape = shape_at(p, moe);
  j.base_shape = dense_proxy(moe.d_model, moe.n_layers);
  j.base.lr = lr;
  j.base.weight_decay = weight_decay;
  j.rule = "complete-mue";
  j.budget = budget;
  j.seed = base_seed * 1000 + static_cast<std::uint64_t>(seed) + 1;
  return j;
}

/// One swept curve of an (a, N) study: what it sweeps (`knob`: "lr" or "wd" in bridge2-transformer, the
/// weight-decay scope "all" or "block" in wd-transfer) at one point of one axis, with or without the
/// power check.
struct MoeAxisCurve {
  std::string knob;
  std::size_t axis = 0;
  MoePoint point;
  bool power = false;
};

/// The axes, the curves and what the edge-policy sweep measured on them (runs per curve, in order).
struct MoeAxisSweeps {
  std::vector<MoeStudyAxis> axes;
  std::vector<MoeAxisCurve> curves;
  EdgeSweepResult sweep;
};

}  // namespace muelab::experiments::transformer
