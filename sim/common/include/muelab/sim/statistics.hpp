// Small statistics toolbox shared by tests and experiments: means with standard errors,
// least-squares lines with slope standard errors and 95% intervals (log-log convergence rates,
// weak/strong orders), percentile bootstrap intervals with a counter-based resampler.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace muelab::sim {

struct MeanEstimate {
  double mean = 0.0;
  double standard_error = 0.0;  ///< sample standard deviation / sqrt(n); 0 for n < 2
  std::size_t count = 0;
};

[[nodiscard]] MeanEstimate mean_with_standard_error(std::span<const double> values);

struct Interval {
  double low = 0.0;
  double high = 0.0;
  [[nodiscard]] bool contains(double x) const { return low <= x && x <= high; }
};

struct LineFit {
  double slope = 0.0;
  double intercept = 0.0;
  double slope_standard_error = 0.0;
  double intercept_standard_error = 0.0;
  double r_squared = 0.0;
  std::size_t points = 0;
  Interval slope_ci95;  ///< slope ± t_{0.975, n-2} · SE
};

/// Ordinary least squares y = intercept + slope·x. Needs at least 3 points for a standard error.
[[nodiscard]] LineFit fit_line(std::span<const double> x, std::span<const double> y);

/// Least squares on (log x, log y): the exponent of a power law (convergence order).
[[nodiscard]] LineFit fit_power_law(std::span<const double> x, std::span<const double> y);

/// Two-sided 97.5% quantile of Student's t with `dof` degrees of freedom.
[[nodiscard]] double student_t_975(double dof);

/// Percentile bootstrap 95% interval of `statistic` over resamples (with replacement) of
/// `n_items` items (e.g. seeds). The statistic receives the resampled item indices.
[[nodiscard]] Interval bootstrap_ci95(std::size_t n_items,
                                      const std::function<double(std::span<const std::size_t>)>& statistic,
                                      std::uint64_t seed, std::size_t resamples = 2000);

/// Quantile of a sample (linear interpolation, q in [0, 1]); copies and sorts.
[[nodiscard]] double quantile(std::vector<double> values, double q);

}  // namespace muelab::sim
