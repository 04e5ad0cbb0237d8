#include "muelab/experiments/grid_policy.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace muelab::experiments {

std::string to_string(GridEdge edge) {
  switch (edge) {
    case GridEdge::interior: return "interior";
    case GridEdge::low: return "low edge";
    case GridEdge::high: return "high edge";
    case GridEdge::unmeasured: return "unmeasured";
  }
  return "unmeasured";
}

MinimumLocation locate_minimum(std::span<const double> log2_x, std::span<const double> value) {
  if (log2_x.size() != value.size()) throw std::invalid_argument("locate_minimum: grid and values differ in length");
  MinimumLocation location;
  bool found = false;
  for (std::size_t i = 0; i < value.size(); ++i)
    if (std::isfinite(value[i]) && (!found || value[i] < value[location.best_index])) {
      location.best_index = i;
      found = true;
    }
  if (!found) return location;
  const std::size_t i = location.best_index;
  if (i == 0 && value.size() > 1) location.edge = GridEdge::low;
  else if (i + 1 == value.size() && value.size() > 1) location.edge = GridEdge::high;
  else if (value.size() == 1) location.edge = GridEdge::low;  // a single point brackets nothing
  else location.edge = GridEdge::interior;
  return location;
}

std::vector<double> points_to_add(std::span<const double> log2_x, std::span<const double> value,
                                  int extra_points_so_far, const EdgePolicy& policy) {
  std::vector<double> points;
  const auto location = locate_minimum(log2_x, value);
  const bool above = location.edge == GridEdge::high ||
                     (location.edge == GridEdge::interior && policy.beyond_top && policy.beyond_top(log2_x, value));
  if (location.edge != GridEdge::low && !above) return points;
  const double sign = above ? 1.0 : -1.0;
  const double from = above ? log2_x.back() : log2_x.front();
  for (int k = 1; k <= policy.max_extra_points - extra_points_so_far; ++k)
    points.push_back(from + sign * policy.step_log2 * k);
  return points;
}

std::optional<double> next_grid_point(std::span<const double> log2_x, std::span<const double> value,
                                      int extra_points_so_far, const EdgePolicy& policy) {
  const auto points = points_to_add(log2_x, value, extra_points_so_far, policy);
  if (points.empty()) return std::nullopt;
  return points.front();
}

void sweep_until_interior(std::vector<SweptCurve>& curves,
                          const std::function<std::vector<double>(const GridRequests&)>& evaluate,
                          const EdgePolicy& policy) {
  auto run_batch = [&](const GridRequests& requests) {
    if (requests.empty()) return;
    const auto values = evaluate(requests);
    if (values.size() != requests.size())
      throw std::logic_error("sweep_until_interior: evaluate returned a wrong number of values");
    for (std::size_t r = 0; r < requests.size(); ++r) {
      auto& curve = curves.at(requests[r].first);
      const double x = requests[r].second;
      const auto at = std::lower_bound(curve.log2_x.begin(), curve.log2_x.end(), x);
      const auto offset = at - curve.log2_x.begin();
      if (at != curve.log2_x.end() && *at == x) {
        curve.value[static_cast<std::size_t>(offset)] = values[r];
      } else {
        curve.log2_x.insert(at, x);
        curve.value.insert(curve.value.begin() + offset, values[r]);
      }
    }
  };
  GridRequests initial;
  for (std::size_t c = 0; c < curves.size(); ++c) {
    auto& curve = curves[c];
    std::sort(curve.log2_x.begin(), curve.log2_x.end());
    curve.value.assign(curve.log2_x.size(), std::numeric_limits<double>::quiet_NaN());
    for (const double x : curve.log2_x) initial.emplace_back(c, x);
  }
  run_batch(initial);
  for (;;) {
    GridRequests round;
    for (std::size_t c = 0; c < curves.size(); ++c)
      if (const auto next = next_grid_point(curves[c].log2_x, curves[c].value, curves[c].extra_points, policy)) {
        round.emplace_back(c, *next);
        ++curves[c].extra_points;
      }
    if (round.empty()) return;
    run_batch(round);
  }
}

}  // namespace muelab::experiments
