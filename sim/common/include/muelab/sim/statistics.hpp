// Small statistics toolbox shared by tests and experiments: means with standard errors,
// least-squares lines with slope standard errors and 95% intervals (log-log convergence rates,
// weak/strong orders), small-sample-calibrated bootstrap intervals with a counter-based resampler
// (docs/claims.md, "Seeds and intervals").
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

/// Factor by which bootstrap_ci95 widens a percentile interval over `n_items` items:
/// t_{0.975, n-1} · sqrt(n / (n - 1)) / z_{0.975}. For the mean of normal items this turns the percentile
/// interval (≈ mean ± z · s·sqrt((n-1)/n)/sqrt(n)) into Student's interval (mean ± t · s/sqrt(n)).
/// 1 for n < 2; 9.17 for n = 2, 1.58 for n = 5, 1.0015 for n = 1000 (docs/claims.md, "Seeds and intervals").
[[nodiscard]] double small_sample_widening(std::size_t n_items);

/// 95% interval of `statistic` over resamples (with replacement) of `n_items` items (e.g. seeds): the
/// 2.5% and 97.5% bootstrap percentiles, each moved away from the bootstrap median by
/// small_sample_widening(n_items), so that over a handful of seeds the interval is not too narrow (a plain
/// percentile interval covers a seed mean 50% of the time at n = 2 and ≈ 84% at n = 5). The statistic
/// receives the resampled item indices; non-finite values are dropped.
[[nodiscard]] Interval bootstrap_ci95(std::size_t n_items,
                                      const std::function<double(std::span<const std::size_t>)>& statistic,
                                      std::uint64_t seed, std::size_t resamples = 2000);

/// Student's 95% interval of the mean of `values`: mean ± t_{0.975, n-1} · SE (a point for n < 2).
[[nodiscard]] Interval student_mean_ci95(std::span<const double> values);

/// Quantile of a sample (linear interpolation, q in [0, 1]); copies and sorts.
[[nodiscard]] double quantile(std::vector<double> values, double q);

}  // namespace muelab::sim
