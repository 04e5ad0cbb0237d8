// The upper knee of a weight-decay curve and its drift along an axis (knee_analysis.hpp).
#include "muelab/analysis/knee_analysis.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace muelab::analysis {

std::optional<double> upper_knee(std::span<const double> log2_x, std::span<const double> loss, double delta) {
  if (log2_x.size() != loss.size()) throw std::invalid_argument("upper_knee: grid and loss differ in length");
  std::optional<std::size_t> best;
  for (std::size_t k = 0; k < loss.size(); ++k)
    if (std::isfinite(loss[k]) && (!best || loss[k] < loss[*best])) best = k;
  if (!best) return std::nullopt;
  const double threshold = loss[*best] + delta;
  std::size_t last_within = *best;
  for (std::size_t k = *best + 1; k < loss.size(); ++k) {
    if (std::isnan(loss[k])) continue;  // a missing point: interpolate across it
    if (loss[k] > threshold) {
      if (!std::isfinite(loss[k])) return log2_x[k];  // diverged beyond: the knee is at most that point
      const double t = (threshold - loss[last_within]) / (loss[k] - loss[last_within]);
      return log2_x[last_within] + t * (log2_x[k] - log2_x[last_within]);
    }
    last_within = k;
  }
  return std::nullopt;
}

bool KneeDrift::all_knees_found() const {
  return std::all_of(knees.begin(), knees.end(), [](const std::optional<double>& k) { return k.has_value(); });
}

namespace {

/// The knees of the drift's curves over the given seed labels; a missing knee is counted at its grid's
/// last point (`censored` set).
std::vector<double> knees_for_seeds(const LrAnalysis& analysis, const LrDrift& d, double delta,
                                    std::span<const std::string> labels, bool& censored) {
  std::vector<double> knees;
  for (const auto index : d.curves) {
    const auto& c = analysis.curves[index];
    const auto knee = upper_knee(c.log2_lr, mean_over_seeds(c, labels), delta);
    censored = censored || !knee;
    knees.push_back(knee ? *knee : c.log2_lr.back());
  }
  return knees;
}

double slope_vs_log2_axis(const std::vector<double>& axis_values, const std::vector<double>& knees) {
  std::vector<double> x;
  for (const double v : axis_values) x.push_back(std::log2(v));
  return sim::fit_line(x, knees).slope;
}

}  // namespace

KneeDrift knee_drift(const LrAnalysis& analysis, const LrDrift& d, double delta, std::uint64_t seed,
                     std::size_t resamples) {
  KneeDrift out;
  out.axis_values = d.axis_values;
  for (const auto index : d.curves) {
    const auto& c = analysis.curves[index];
    out.knees.push_back(upper_knee(c.log2_lr, c.mean_loss, delta));
  }
  if (!out.all_knees_found() || d.seed_labels.size() < 2) {
    out.drift = std::numeric_limits<double>::quiet_NaN();
    if (out.all_knees_found()) {
      std::vector<double> knees;
      for (const auto& k : out.knees) knees.push_back(*k);
      out.drift = slope_vs_log2_axis(d.axis_values, knees);
    }
    out.ci = {out.drift, out.drift};
    return out;
  }
  bool unused = false;
  out.drift = slope_vs_log2_axis(d.axis_values, knees_for_seeds(analysis, d, delta, d.seed_labels, unused));
  out.resamples = resamples;
  out.ci = sim::bootstrap_ci95(
      d.seed_labels.size(),
      [&](std::span<const std::size_t> idx) {
        std::vector<std::string> labels;
        for (const auto i : idx) labels.push_back(d.seed_labels[i]);
        bool censored = false;
        const auto knees = knees_for_seeds(analysis, d, delta, labels, censored);
        out.censored_resamples += censored ? 1 : 0;
        return slope_vs_log2_axis(d.axis_values, knees);
      },
      seed, resamples);
  return out;
}

}  // namespace muelab::analysis
