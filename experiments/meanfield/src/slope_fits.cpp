#include "slope_fits.hpp"

#include "muelab/sim/statistics.hpp"

#include <fmt/format.h>

#include <cmath>
#include <span>

namespace muelab::experiments::meanfield {

namespace {

/// Why these samples give no slope with an interval (empty when they do).
std::string slope_input_problem(const std::vector<double>& sizes, const std::vector<std::vector<double>>& samples) {
  if (sizes.size() != samples.size()) return fmt::format("{} sizes but {} sample rows", sizes.size(), samples.size());
  if (sizes.size() < 3) return fmt::format("{} sizes: a slope with an interval needs at least 3", sizes.size());
  const std::size_t seeds = samples.front().size();
  if (seeds < kMinimumSeedsForInterval)
    return fmt::format("{} seeds: a bootstrap interval over seeds needs at least {}", seeds, kMinimumSeedsForInterval);
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    if (samples[k].size() != seeds) return "unequal seed counts across sizes";
    if (!(sizes[k] > 0.0) || !std::isfinite(sizes[k])) return fmt::format("size {} is not positive", sizes[k]);
    for (double value : samples[k])
      if (!(value > 0.0) || !std::isfinite(value))
        return fmt::format("a value at size {} is zero, negative or not finite: no log-log slope", sizes[k]);
  }
  return "";
}

}  // namespace

SlopeEstimate power_law_slope_over_seeds(const std::vector<double>& sizes,
                                         const std::vector<std::vector<double>>& samples,
                                         std::uint64_t bootstrap_seed) {
  SlopeEstimate estimate;
  estimate.problem = slope_input_problem(sizes, samples);
  if (!estimate.measured()) return estimate;
  const std::size_t seeds = samples.front().size();
  // Every value is positive, so every resampled mean is too.
  auto slope_of = [&](std::span<const std::size_t> chosen) {
    std::vector<double> means;
    for (const auto& row : samples) {
      double sum = 0.0;
      for (std::size_t s : chosen) sum += row[s];
      means.push_back(sum / static_cast<double>(chosen.size()));
    }
    return sim::fit_power_law(sizes, means);
  };
  std::vector<std::size_t> all(seeds);
  for (std::size_t s = 0; s < seeds; ++s) all[s] = s;
  const auto fit = slope_of(all);
  const auto interval =
      sim::bootstrap_ci95(seeds, [&](std::span<const std::size_t> chosen) { return slope_of(chosen).slope; },
                          bootstrap_seed, kBootstrapResamples);
  estimate.slope = fit.slope;
  estimate.ci_low = interval.low;
  estimate.ci_high = interval.high;
  estimate.fit_standard_error = fit.slope_standard_error;
  return estimate;
}

Verdict slope_verdict(const ClaimSpec& spec, std::string case_name, const SlopeEstimate& estimate) {
  if (!estimate.measured()) return not_measured(spec, std::move(case_name), estimate.problem);
  return judge(spec, std::move(case_name), estimate.slope, estimate.ci_low, estimate.ci_high);
}

JudgedSlope judge_power_law_slope(const ClaimSpec& spec, std::string case_name, const std::vector<double>& sizes,
                                  const std::vector<std::vector<double>>& samples, std::uint64_t bootstrap_seed) {
  auto estimate = power_law_slope_over_seeds(sizes, samples, bootstrap_seed);
  auto verdict = slope_verdict(spec, std::move(case_name), estimate);
  return {std::move(estimate), std::move(verdict)};
}

}  // namespace muelab::experiments::meanfield
