#include "muelab/sim/statistics.hpp"

#include "muelab/sim/counter_rng.hpp"

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace muelab::sim {

MeanEstimate mean_with_standard_error(std::span<const double> values) {
  MeanEstimate result;
  result.count = values.size();
  if (values.empty()) return result;
  double sum = 0.0;
  for (double v : values) sum += v;
  result.mean = sum / static_cast<double>(values.size());
  if (values.size() < 2) return result;
  double squares = 0.0;
  for (double v : values) squares += (v - result.mean) * (v - result.mean);
  const double n = static_cast<double>(values.size());
  result.standard_error = std::sqrt(squares / (n - 1.0) / n);
  return result;
}

double student_t_975(double dof) {
  if (!(dof > 0.0)) throw std::invalid_argument("student_t_975: degrees of freedom must be positive");
  return boost::math::quantile(boost::math::students_t(dof), 0.975);
}

LineFit fit_line(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size()) throw std::invalid_argument("fit_line: x and y differ in length");
  if (x.size() < 2) throw std::invalid_argument("fit_line: needs at least two points");
  const double n = static_cast<double>(x.size());
  double mx = 0.0, my = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) { mx += x[i]; my += y[i]; }
  mx /= n;
  my /= n;
  double sxx = 0.0, sxy = 0.0, syy = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx <= 0.0) throw std::invalid_argument("fit_line: all x values are equal");
  LineFit fit;
  fit.points = x.size();
  fit.slope = sxy / sxx;
  fit.intercept = my - fit.slope * mx;
  double residual = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double r = y[i] - fit.intercept - fit.slope * x[i];
    residual += r * r;
  }
  fit.r_squared = syy > 0.0 ? 1.0 - residual / syy : 1.0;
  if (x.size() > 2) {
    const double sigma2 = residual / (n - 2.0);
    fit.slope_standard_error = std::sqrt(sigma2 / sxx);
    fit.intercept_standard_error = std::sqrt(sigma2 * (1.0 / n + mx * mx / sxx));
    const double t = student_t_975(n - 2.0);
    fit.slope_ci95 = {fit.slope - t * fit.slope_standard_error, fit.slope + t * fit.slope_standard_error};
  } else {
    fit.slope_ci95 = {fit.slope, fit.slope};
  }
  return fit;
}

LineFit fit_power_law(std::span<const double> x, std::span<const double> y) {
  std::vector<double> lx(x.size()), ly(y.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] > 0.0) || !(y[i] > 0.0)) throw std::invalid_argument("fit_power_law: values must be positive");
    lx[i] = std::log(x[i]);
    ly[i] = std::log(y[i]);
  }
  return fit_line(lx, ly);
}

double quantile(std::vector<double> values, double q) {
  if (values.empty()) throw std::invalid_argument("quantile: empty sample");
  std::sort(values.begin(), values.end());
  const double position = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const auto lower = static_cast<std::size_t>(std::floor(position));
  const auto upper = std::min(lower + 1, values.size() - 1);
  const double fraction = position - static_cast<double>(lower);
  return values[lower] * (1.0 - fraction) + values[upper] * fraction;
}

Interval bootstrap_ci95(std::size_t n_items, const std::function<double(std::span<const std::size_t>)>& statistic,
                        std::uint64_t seed, std::size_t resamples) {
  if (n_items == 0) throw std::invalid_argument("bootstrap_ci95: no items");
  const CounterRng rng(seed, 0xB0075u);
  std::vector<double> estimates;
  estimates.reserve(resamples);
  std::vector<std::size_t> indices(n_items);
  for (std::size_t r = 0; r < resamples; ++r) {
    for (std::size_t i = 0; i < n_items; ++i) indices[i] = rng.below(n_items, r, 0, 0, i);
    const double value = statistic(indices);
    if (std::isfinite(value)) estimates.push_back(value);
  }
  if (estimates.empty()) return {std::nan(""), std::nan("")};
  const double median = quantile(estimates, 0.5);
  const double widening = small_sample_widening(n_items);
  return {median - widening * (median - quantile(estimates, 0.025)),
          median + widening * (quantile(estimates, 0.975) - median)};
}

double small_sample_widening(std::size_t n_items) {
  if (n_items < 2) return 1.0;
  const double n = static_cast<double>(n_items);
  const double z_975 = boost::math::quantile(boost::math::normal(), 0.975);
  return student_t_975(n - 1.0) * std::sqrt(n / (n - 1.0)) / z_975;
}

Interval student_mean_ci95(std::span<const double> values) {
  const auto e = mean_with_standard_error(values);
  if (values.size() < 2) return {e.mean, e.mean};
  const double half = student_t_975(static_cast<double>(values.size() - 1)) * e.standard_error;
  return {e.mean - half, e.mean + half};
}

}  // namespace muelab::sim
