#include "muelab/analysis/lr_analysis.hpp"

#include "muelab/io/csv.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>

namespace muelab::analysis {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// Mean over the given seed rows of a [seed][lr] table, per LR (NaN cells skipped; +inf when a used
/// run diverged, so the curve is unusable there).
std::vector<double> mean_curve(const std::vector<std::vector<double>>& loss, std::size_t n_lrs,
                               std::span<const std::size_t> rows) {
  std::vector<double> mean(n_lrs, 0.0);
  for (std::size_t k = 0; k < n_lrs; ++k) {
    double sum = 0.0;
    std::size_t n = 0;
    for (const auto r : rows) {
      const double v = loss[r][k];
      if (std::isnan(v)) continue;
      sum += v;
      ++n;
    }
    mean[k] = n == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / static_cast<double>(n);
  }
  return mean;
}

std::vector<std::size_t> all_rows(std::size_t n) {
  std::vector<std::size_t> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = i;
  return rows;
}

bool parse_positive(const std::string& s, double& out) {
  std::string t = s;
  if (t.size() >= 2 && t.front() == '"' && t.back() == '"') return false;
  try {
    std::size_t used = 0;
    out = std::stod(t, &used);
    return used == t.size() && std::isfinite(out) && out > 0.0;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

LrOptimum fit_lr_optimum(std::span<const double> x, std::span<const double> y) {
  if (x.size() != y.size()) throw std::invalid_argument("fit_lr_optimum: log2_lr and loss differ in length");
  LrOptimum o;
  std::size_t best = x.size();
  for (std::size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(y[i]) && (best == x.size() || y[i] < y[best])) best = i;
  if (best == x.size()) return o;
  o.valid = true;
  o.log2_lr = x[best];
  o.loss = y[best];
  const bool has_left = best > 0 && std::isfinite(y[best - 1]);
  const bool has_right = best + 1 < x.size() && std::isfinite(y[best + 1]);
  if (!has_left || !has_right) {
    o.at_edge = true;
    return o;
  }
  // Parabola through three points (Lagrange form); vertex where its derivative vanishes.
  const double x0 = x[best - 1], x1 = x[best], x2 = x[best + 1];
  const double y0 = y[best - 1], y1 = y[best], y2 = y[best + 1];
  const double a = y0 / ((x0 - x1) * (x0 - x2)) + y1 / ((x1 - x0) * (x1 - x2)) + y2 / ((x2 - x0) * (x2 - x1));
  const double b = -y0 * (x1 + x2) / ((x0 - x1) * (x0 - x2)) - y1 * (x0 + x2) / ((x1 - x0) * (x1 - x2)) -
                   y2 * (x0 + x1) / ((x2 - x0) * (x2 - x1));
  const double c = y0 * x1 * x2 / ((x0 - x1) * (x0 - x2)) + y1 * x0 * x2 / ((x1 - x0) * (x1 - x2)) +
                   y2 * x0 * x1 / ((x2 - x0) * (x2 - x1));
  if (!(a > 0.0)) return o;  // flat or concave triple (ties): keep the grid minimum
  const double vertex = std::clamp(-b / (2.0 * a), x0, x2);
  o.log2_lr = vertex;
  o.loss = (a * vertex + b) * vertex + c;
  return o;
}

std::string describe(const std::map<std::string, std::string>& axes) {
  std::string s;
  for (const auto& [k, v] : axes) s += (s.empty() ? "" : ", ") + k + "=" + v;
  return s.empty() ? "(all runs)" : s;
}

namespace {

/// The keys other than `axis` that vary in lockstep with it over the curves carrying both: each value
/// of the axis comes with one value of the key and back, and the key takes at least 2 values.
std::vector<std::string> lockstep_keys(const std::vector<LrCurve>& curves, const std::string& axis,
                                       const std::set<std::string>& keys) {
  std::vector<std::string> out;
  for (const auto& key : keys) {
    if (key == axis) continue;
    std::map<std::string, std::string> forward, backward;
    bool bijective = true, shared = false;
    for (const auto& c : curves) {
      const auto a = c.axes.find(axis), k = c.axes.find(key);
      if (a == c.axes.end() || k == c.axes.end()) continue;
      shared = true;
      const auto [f, fresh_f] = forward.emplace(a->second, k->second);
      const auto [b, fresh_b] = backward.emplace(k->second, a->second);
      if ((!fresh_f && f->second != k->second) || (!fresh_b && b->second != a->second)) {
        bijective = false;
        break;
      }
    }
    if (shared && bijective && forward.size() >= 2) out.push_back(key);
  }
  return out;
}

}  // namespace

LrAnalysis analyze_lr_runs(const std::vector<LrRun>& runs, std::uint64_t seed, std::size_t resamples) {
  LrAnalysis result;
  // Curves: one per distinct non-LR, non-seed coordinate.
  std::map<std::map<std::string, std::string>, std::vector<const LrRun*>> by_curve;
  std::set<double> all_lrs;
  for (const auto& r : runs) {
    if (!(r.lr > 0.0)) throw std::invalid_argument(fmt::format("lr must be positive, got {}", r.lr));
    by_curve[r.axes].push_back(&r);
    all_lrs.insert(std::log2(r.lr));
  }
  result.grid_step = kInf;
  for (auto it = all_lrs.begin(); it != all_lrs.end() && std::next(it) != all_lrs.end(); ++it)
    result.grid_step = std::min(result.grid_step, *std::next(it) - *it);
  if (!std::isfinite(result.grid_step)) result.grid_step = 0.0;

  for (const auto& [axes, members] : by_curve) {
    LrCurve curve;
    curve.axes = axes;
    std::set<double> lrs;
    std::set<std::string> seeds;
    for (const auto* r : members) {
      lrs.insert(std::log2(r->lr));
      seeds.insert(r->seed);
    }
    curve.log2_lr.assign(lrs.begin(), lrs.end());
    curve.seeds.assign(seeds.begin(), seeds.end());
    curve.loss_by_seed.assign(curve.seeds.size(),
                              std::vector<double>(curve.log2_lr.size(), std::numeric_limits<double>::quiet_NaN()));
    for (const auto* r : members) {
      const auto s = static_cast<std::size_t>(std::lower_bound(curve.seeds.begin(), curve.seeds.end(), r->seed) -
                                              curve.seeds.begin());
      const auto k = static_cast<std::size_t>(
          std::lower_bound(curve.log2_lr.begin(), curve.log2_lr.end(), std::log2(r->lr)) - curve.log2_lr.begin());
      curve.loss_by_seed[s][k] = std::isfinite(r->loss) ? r->loss : kInf;
    }
    result.curves.push_back(std::move(curve));
  }

  for (std::size_t ci = 0; ci < result.curves.size(); ++ci) {
    auto& curve = result.curves[ci];
    const std::size_t n_lrs = curve.log2_lr.size();
    curve.mean_loss = mean_curve(curve.loss_by_seed, n_lrs, all_rows(curve.seeds.size()));
    for (std::size_t k = 0; k < n_lrs; ++k) {
      std::vector<double> column;
      for (const auto& row : curve.loss_by_seed)
        if (!std::isnan(row[k])) column.push_back(row[k]);
      const bool finite = std::all_of(column.begin(), column.end(), [](double v) { return std::isfinite(v); });
      curve.standard_error.push_back(finite && !column.empty() ? sim::mean_with_standard_error(column).standard_error : kInf);
    }
    curve.optimum = fit_lr_optimum(curve.log2_lr, curve.mean_loss);
    if (curve.seeds.size() >= 2 && curve.optimum.valid) {
      curve.ci = sim::bootstrap_ci95(
          curve.seeds.size(),
          [&](std::span<const std::size_t> idx) {
            const auto o = fit_lr_optimum(curve.log2_lr, mean_curve(curve.loss_by_seed, n_lrs, idx));
            return o.valid ? o.log2_lr : curve.optimum.log2_lr;
          },
          seed + ci, resamples);
    } else {
      curve.ci = {curve.optimum.log2_lr, curve.optimum.log2_lr};
    }
  }

  // Drifts: for every axis with ≥ 2 positive numeric values, every slice of the other axes. Keys in
  // lockstep with an axis (a width sweep that sets d_expert = d_model) move with it: the first of them
  // (in name order) is the fitted axis, the others are listed beside it and left out of the slice.
  std::set<std::string> axis_names;
  for (const auto& c : result.curves)
    for (const auto& [k, v] : c.axes) axis_names.insert(k);
  std::set<std::string> fitted_as_lockstep;
  std::uint64_t drift_index = 0;
  for (const auto& axis : axis_names) {
    if (fitted_as_lockstep.count(axis) != 0) continue;
    const auto lockstep = lockstep_keys(result.curves, axis, axis_names);
    fitted_as_lockstep.insert(lockstep.begin(), lockstep.end());
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, std::size_t>>> slices;
    bool numeric = true;
    for (std::size_t ci = 0; ci < result.curves.size(); ++ci) {
      const auto it = result.curves[ci].axes.find(axis);
      if (it == result.curves[ci].axes.end()) continue;
      double value = 0.0;
      if (!parse_positive(it->second, value)) {
        numeric = false;
        break;
      }
      auto slice = result.curves[ci].axes;
      slice.erase(axis);
      for (const auto& k : lockstep) slice.erase(k);
      slices[slice].emplace_back(value, ci);
    }
    if (!numeric) continue;
    for (auto& [slice, members] : slices) {
      std::sort(members.begin(), members.end());
      std::set<double> distinct;
      for (const auto& m : members) distinct.insert(m.first);
      if (distinct.size() < 2) continue;
      LrDrift d;
      d.axis = axis;
      d.slice = slice;
      d.lockstep = lockstep;
      d.grid_step = result.grid_step;
      std::set<std::string> seed_union;
      for (const auto& [value, ci] : members) {
        d.axis_values.push_back(value);
        d.curves.push_back(ci);
        d.log2_lr_star.push_back(result.curves[ci].optimum.log2_lr);
        d.edge_optima += result.curves[ci].optimum.at_edge ? 1 : 0;
        seed_union.insert(result.curves[ci].seeds.begin(), result.curves[ci].seeds.end());
      }
      d.seed_labels.assign(seed_union.begin(), seed_union.end());
      d.drift = drift_for_seeds(result, d, d.seed_labels);
      if (d.seed_labels.size() >= 2) {
        d.ci = sim::bootstrap_ci95(
            d.seed_labels.size(),
            [&](std::span<const std::size_t> idx) {
              std::vector<std::string> labels;
              for (const auto i : idx) labels.push_back(d.seed_labels[i]);
              return drift_for_seeds(result, d, labels);
            },
            seed + 7919 * (++drift_index), resamples);
      } else {
        d.ci = {d.drift, d.drift};
      }
      result.drifts.push_back(std::move(d));
    }
  }
  return result;
}

namespace {
double log2_axis_slope(const std::vector<double>& axis_values, const std::vector<double>& optima) {
  std::vector<double> log_axis;
  for (const double v : axis_values) log_axis.push_back(std::log2(v));
  return sim::fit_line(log_axis, optima).slope;
}
}  // namespace

std::vector<double> mean_over_seeds(const LrCurve& c, std::span<const std::string> labels) {
  std::vector<std::size_t> rows;
  for (const auto& label : labels) {
    const auto pos = std::lower_bound(c.seeds.begin(), c.seeds.end(), label);
    if (pos != c.seeds.end() && *pos == label) rows.push_back(static_cast<std::size_t>(pos - c.seeds.begin()));
  }
  if (rows.empty()) rows = all_rows(c.seeds.size());
  return mean_curve(c.loss_by_seed, c.log2_lr.size(), rows);
}

double drift_for_seeds(const LrAnalysis& analysis, const LrDrift& d, std::span<const std::string> labels) {
  std::vector<double> optima;
  for (std::size_t m = 0; m < d.curves.size(); ++m) {
    const auto& c = analysis.curves[d.curves[m]];
    const auto o = fit_lr_optimum(c.log2_lr, mean_over_seeds(c, labels));
    optima.push_back(o.valid ? o.log2_lr : c.optimum.log2_lr);
  }
  return log2_axis_slope(d.axis_values, optima);
}

double LrDrift::doublings() const {
  if (axis_values.size() < 2) return 0.0;
  const auto [lo, hi] = std::minmax_element(axis_values.begin(), axis_values.end());
  return std::log2(*hi / *lo);
}

DriftDifference paired_drift_difference(const LrAnalysis& a_analysis, const LrDrift& a, const LrAnalysis& b_analysis,
                                        const LrDrift& b, std::uint64_t seed, std::size_t resamples) {
  std::set<std::string> union_labels(a.seed_labels.begin(), a.seed_labels.end());
  union_labels.insert(b.seed_labels.begin(), b.seed_labels.end());
  const std::vector<std::string> labels(union_labels.begin(), union_labels.end());
  DriftDifference out;
  out.difference = drift_for_seeds(a_analysis, a, labels) - drift_for_seeds(b_analysis, b, labels);
  if (labels.size() < 2) {
    out.ci = {out.difference, out.difference};
    return out;
  }
  out.ci = sim::bootstrap_ci95(
      labels.size(),
      [&](std::span<const std::size_t> idx) {
        std::vector<std::string> drawn;
        for (const auto i : idx) drawn.push_back(labels[i]);
        return drift_for_seeds(a_analysis, a, drawn) - drift_for_seeds(b_analysis, b, drawn);
      },
      seed, resamples);
  return out;
}

SlopeEstimate coordinate_slope(std::span<const double> axis, const std::vector<std::vector<double>>& values,
                               std::uint64_t seed, std::size_t resamples) {
  if (values.empty()) throw std::invalid_argument("coordinate_slope: no seeds");
  const auto slope_of = [&](std::span<const std::size_t> rows) {
    std::vector<double> mean(axis.size(), 0.0);
    for (const auto r : rows)
      for (std::size_t k = 0; k < axis.size(); ++k) mean[k] += values[r][k] / static_cast<double>(rows.size());
    return sim::fit_power_law(axis, mean).slope;
  };
  SlopeEstimate e;
  e.slope = slope_of(all_rows(values.size()));
  e.ci = values.size() >= 2 ? sim::bootstrap_ci95(values.size(), slope_of, seed, resamples) : sim::Interval{e.slope, e.slope};
  return e;
}

SweepTable read_sweep_results(const std::filesystem::path& path, const SweepReadOptions& options) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path.string() + ": cannot read (run `muelab sweep` first)");
  std::string line;
  if (!std::getline(in, line)) throw std::runtime_error(path.string() + ": empty file (no header)");
  const auto header = io::split_csv_line(line);
  const auto column = [&](const std::string& name) -> std::size_t {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end())
      throw std::runtime_error(fmt::format("{}: column {} not found (header: {})", path.string(), name, line));
    return static_cast<std::size_t>(it - header.begin());
  };
  SweepTable t;
  t.seed_key = options.seed_key;
  t.loss_column = options.loss_column;
  t.lr_key = options.lr_key;
  const std::size_t status_col = column("status");
  const std::size_t loss_col = column(options.loss_column);
  const std::size_t exit_col = column("exit_code");
  if (t.lr_key.empty()) {
    std::vector<std::string> candidates;
    for (std::size_t i = exit_col + 1; i < header.size(); ++i)
      if (header[i].size() >= 2 && header[i].ends_with("lr") && (header[i].size() == 2 || header[i][header[i].size() - 3] == '.'))
        candidates.push_back(header[i]);
    if (candidates.size() != 1)
      throw std::runtime_error(fmt::format("{}: field lr_key: {} swept keys end in \"lr\"; name one with --lr-key",
                                           path.string(), candidates.size()));
    t.lr_key = candidates.front();
  }
  const std::size_t lr_col = column(t.lr_key);
  const std::size_t seed_col = std::find(header.begin(), header.end(), t.seed_key) == header.end()
                                   ? header.size() : column(t.seed_key);
  const std::size_t first_summary = column("final_train_loss");
  std::size_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    const auto cells = io::split_csv_line(line);
    if (cells.size() != header.size())
      throw std::runtime_error(fmt::format("{}:{}: {} cells, header has {}", path.string(), line_number, cells.size(), header.size()));
    LrRun r;
    try {
      r.lr = std::stod(cells[lr_col]);
    } catch (const std::exception&) {
      throw std::runtime_error(fmt::format("{}:{}: field {}: not a number: \"{}\"", path.string(), line_number, t.lr_key, cells[lr_col]));
    }
    if (!(r.lr > 0.0))
      throw std::runtime_error(fmt::format("{}:{}: field {}: must be positive", path.string(), line_number, t.lr_key));
    r.seed = seed_col < header.size() ? cells[seed_col] : "0";
    for (std::size_t i = exit_col + 1; i < first_summary; ++i)
      if (i != lr_col && i != seed_col) r.axes[header[i]] = cells[i];
    const std::string& status = cells[status_col];
    if (status == "ok") {
      try {
        r.loss = std::stod(cells[loss_col]);
      } catch (const std::exception&) {
        r.loss = kInf;
      }
    } else if (status == "diverged") {
      r.loss = kInf;
      ++t.diverged;
    } else {
      ++t.failed;  // a failed run (bad config, crash) is not a measurement
      continue;
    }
    t.runs.push_back(std::move(r));
  }
  if (t.runs.empty()) throw std::runtime_error(path.string() + ": no finished runs");
  return t;
}

}  // namespace muelab::analysis
