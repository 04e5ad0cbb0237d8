#include "muelab/experiments/transformer_metrics.hpp"

#include "muelab/analysis/lr_analysis.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace muelab::experiments::transformer {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// Mean over the chosen seed rows of a [seed][point] table, per point (+inf stays +inf).
std::vector<double> mean_rows(const std::vector<std::vector<double>>& table, std::span<const std::size_t> rows) {
  std::vector<double> mean(table.front().size(), 0.0);
  for (const auto r : rows)
    for (std::size_t k = 0; k < mean.size(); ++k) mean[k] += table[r][k] / static_cast<double>(rows.size());
  return mean;
}

std::vector<std::size_t> all_rows(std::size_t n) {
  std::vector<std::size_t> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = i;
  return rows;
}

void check_table(const std::vector<std::vector<double>>& table, std::size_t columns, const char* what) {
  if (table.empty()) throw std::invalid_argument(std::string(what) + ": no seeds");
  for (const auto& row : table)
    if (row.size() != columns) throw std::invalid_argument(std::string(what) + ": every seed needs one value per point");
}

}  // namespace

double curve_curvature(std::span<const double> x, std::span<const double> loss) {
  if (x.size() != loss.size()) throw std::invalid_argument("curve_curvature: x and loss differ in length");
  std::size_t best = x.size();
  for (std::size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(loss[i]) && (best == x.size() || loss[i] < loss[best])) best = i;
  if (best == x.size() || best == 0 || best + 1 >= x.size() || !std::isfinite(loss[best - 1]) ||
      !std::isfinite(loss[best + 1]))
    return std::numeric_limits<double>::quiet_NaN();
  // Leading coefficient of the Lagrange parabola = second divided difference.
  const double x0 = x[best - 1], x1 = x[best], x2 = x[best + 1];
  const double left = (loss[best] - loss[best - 1]) / (x1 - x0);
  const double right = (loss[best + 1] - loss[best]) / (x2 - x1);
  return (right - left) / (x2 - x0);
}

TransferRegret transfer_regret(std::span<const double> transferred, std::span<const double> log2_lr,
                               const std::vector<std::vector<double>>& sweep, std::uint64_t seed, std::size_t resamples) {
  check_table(sweep, log2_lr.size(), "transfer_regret");
  if (transferred.size() != sweep.size())
    throw std::invalid_argument("transfer_regret: transferred and sweep need the same seeds");
  const auto regret_of = [&](std::span<const std::size_t> rows, TransferRegret* out) {
    double mean = 0.0;
    for (const auto r : rows) mean += transferred[r] / static_cast<double>(rows.size());
    const auto curve = mean_rows(sweep, rows);
    const auto best = analysis::fit_lr_optimum(log2_lr, curve);
    if (out) {
      out->transferred_loss = mean;
      out->best_loss = best.valid ? best.loss : kInf;
      out->curvature = curve_curvature(log2_lr, curve);
    }
    if (!best.valid || !std::isfinite(mean)) return kInf;
    return mean - best.loss;
  };
  TransferRegret result;
  const auto rows = all_rows(sweep.size());
  result.regret = regret_of(rows, &result);
  std::vector<double> values(transferred.begin(), transferred.end());
  result.transferred_standard_error = sim::mean_with_standard_error(values).standard_error;
  result.ci = sim::bootstrap_ci95(rows.size(), [&](std::span<const std::size_t> r) { return regret_of(r, nullptr); }, seed,
                                  resamples);
  return result;
}

SlopeWithInterval slope_against_log2_axis(std::span<const double> axis, const std::vector<std::vector<double>>& values,
                                          std::uint64_t seed, std::size_t resamples) {
  check_table(values, axis.size(), "slope_against_log2_axis");
  std::vector<double> x;
  for (const double a : axis) {
    if (!(a > 0.0)) throw std::invalid_argument("slope_against_log2_axis: axis values must be positive");
    x.push_back(std::log2(a));
  }
  const auto slope_of = [&](std::span<const std::size_t> rows) {
    const auto y = mean_rows(values, rows);
    for (const double v : y)
      if (!std::isfinite(v)) return std::numeric_limits<double>::quiet_NaN();
    return sim::fit_line(x, y).slope;
  };
  const auto rows = all_rows(values.size());
  return {slope_of(rows), sim::bootstrap_ci95(rows.size(), slope_of, seed, resamples)};
}

SeedMean seed_mean(std::span<const double> values) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (values.empty()) return {nan, nan, nan, nan};
  const auto e = sim::mean_with_standard_error(values);
  const auto ci = sim::student_mean_ci95(values);
  return {e.mean, e.standard_error, ci.low, ci.high};
}

PairedDifference paired_difference(std::span<const double> first, std::span<const double> second) {
  if (first.size() != second.size() || first.size() < 2)
    throw std::invalid_argument("paired_difference: the two arms need the same seeds, at least two");
  PairedDifference out;
  out.seeds = first.size();
  std::vector<double> d;
  for (std::size_t s = 0; s < first.size(); ++s) d.push_back(first[s] - second[s]);
  for (const double v : d)
    if (!std::isfinite(v)) {
      const double nan = std::numeric_limits<double>::quiet_NaN();
      out.mean = out.standard_error = out.separation = nan;
      out.ci = {nan, nan};
      return out;
    }
  const auto e = sim::mean_with_standard_error(d);
  out.mean = e.mean;
  out.standard_error = e.standard_error;
  out.separation = e.standard_error > 0.0 ? e.mean / e.standard_error
                   : e.mean == 0.0        ? 0.0
                                          : std::copysign(std::numeric_limits<double>::infinity(), e.mean);
  out.ci = sim::student_mean_ci95(d);  // a mean: Student's interval is exact for normal seeds
  return out;
}

double steps_to_reach(std::span<const double> steps, std::span<const double> loss, double target) {
  if (steps.size() != loss.size()) throw std::invalid_argument("steps_to_reach: steps and loss differ in length");
  bool have_previous = false;
  double previous_step = 0.0, previous_loss = 0.0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!std::isfinite(loss[i])) continue;
    if (loss[i] <= target) {
      if (!have_previous) return steps[i];
      // Linear interpolation between the bracketing evaluations (previous_loss > target ≥ loss[i]).
      const double fraction = (previous_loss - target) / (previous_loss - loss[i]);
      return previous_step + fraction * (steps[i] - previous_step);
    }
    have_previous = true;
    previous_step = steps[i];
    previous_loss = loss[i];
  }
  return kInf;
}

namespace {

/// The speed-up on the seed rows `rows` (seed-mean curves), filling `out`'s details when given.
double speedup_on_rows(std::span<const double> steps, const std::vector<std::vector<double>>& dense,
                       const std::vector<std::vector<double>>& moe, std::span<const std::size_t> rows, Speedup* out) {
  const auto dense_curve = mean_rows(dense, rows);
  const auto moe_curve = mean_rows(moe, rows);
  const double target = dense_curve.back();
  const double dense_steps = steps_to_reach(steps, dense_curve, target);
  const double moe_steps = steps_to_reach(steps, moe_curve, target);
  if (out) {
    out->target_loss = target;
    out->dense_steps = dense_steps;
    out->moe_steps = moe_steps;
    out->reached = std::isfinite(moe_steps);
  }
  if (!std::isfinite(dense_steps)) return std::numeric_limits<double>::quiet_NaN();
  return std::isfinite(moe_steps) ? dense_steps / moe_steps : 0.0;
}

}  // namespace

Speedup moe_speedup(std::span<const double> steps, const std::vector<std::vector<double>>& dense,
                    const std::vector<std::vector<double>>& moe, std::uint64_t seed, std::size_t resamples) {
  check_table(dense, steps.size(), "moe_speedup (dense)");
  check_table(moe, steps.size(), "moe_speedup (moe)");
  if (dense.size() != moe.size()) throw std::invalid_argument("moe_speedup: dense and moe need the same seeds");
  Speedup result;
  const auto rows = all_rows(dense.size());
  result.factor = speedup_on_rows(steps, dense, moe, rows, &result);
  result.resamples = resamples;
  result.ci = sim::bootstrap_ci95(
      rows.size(),
      [&](std::span<const std::size_t> r) {
        const double factor = speedup_on_rows(steps, dense, moe, r, nullptr);
        if (factor == 0.0) ++result.unreached_resamples;  // bootstrap_ci95 calls this serially
        return factor;
      },
      seed, resamples);
  return result;
}

SlopeWithInterval speedup_growth(std::span<const double> steps, const std::vector<std::vector<double>>& dense,
                                 const std::vector<std::vector<std::vector<double>>>& moes, std::span<const double> axis,
                                 std::uint64_t seed, std::size_t resamples) {
  if (moes.size() != axis.size() || axis.size() < 2)
    throw std::invalid_argument("speedup_growth: one MoE per axis value, at least two");
  check_table(dense, steps.size(), "speedup_growth (dense)");
  std::vector<double> x;
  for (std::size_t i = 0; i < axis.size(); ++i) {
    check_table(moes[i], steps.size(), "speedup_growth (moe)");
    if (moes[i].size() != dense.size()) throw std::invalid_argument("speedup_growth: every MoE needs the dense seeds");
    if (!(axis[i] > 0.0)) throw std::invalid_argument("speedup_growth: axis values must be positive");
    x.push_back(std::log2(axis[i]));
  }
  const auto slope_of = [&](std::span<const std::size_t> rows) {
    std::vector<double> y;
    for (const auto& moe : moes) {
      const double f = speedup_on_rows(steps, dense, moe, rows, nullptr);
      if (!std::isfinite(f)) return std::numeric_limits<double>::quiet_NaN();
      y.push_back(f);
    }
    return sim::fit_line(x, y).slope;
  };
  const auto rows = all_rows(dense.size());
  return {slope_of(rows), sim::bootstrap_ci95(rows.size(), slope_of, seed, resamples)};
}

}  // namespace muelab::experiments::transformer
