// Analysis of learning-rate sweeps (docs/theory.md §9 `lr-transfer`, docs/claims.md "How a row is
// judged"): the optimum of every LR curve by a quadratic in log2 LR through the grid minimum and its two
// neighbours, a bootstrap CI over seeds, and the drift of log2 η* per doubling of every other swept axis
// with a paired bootstrap CI over seeds (the same resampled seeds for every curve of a drift, and for two
// drifts compared with paired_drift_difference). Also the coordinate-check slope (log-log slope of a size
// vs an axis, bootstrap CI).
#pragma once

#include "muelab/sim/statistics.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace muelab::analysis {

/// The optimum of one LR curve. Non-finite losses (diverged runs) never win.
struct LrOptimum {
  double log2_lr = 0.0;   ///< log2 η* (vertex of the parabola, clamped to the neighbours' span)
  double loss = 0.0;      ///< the parabola's value there (grid loss when at the edge)
  bool at_edge = false;   ///< the grid minimum is the first/last finite point: η* is only bounded
  bool valid = false;     ///< at least one finite point
};

/// Quadratic through (x_{i-1}, x_i, x_{i+1}) around the finite grid minimum i (x = log2 LR, any
/// spacing); when the minimum sits at an end or a neighbour is non-finite, the grid point itself.
[[nodiscard]] LrOptimum fit_lr_optimum(std::span<const double> log2_lr, std::span<const double> loss);

/// One run of a sweep: its coordinates on the non-LR, non-seed axes, its seed label, LR and loss.
struct LrRun {
  std::map<std::string, std::string> axes;
  std::string seed;
  double lr = 0.0;
  double loss = 0.0;  ///< +inf when diverged
};

struct LrCurve {
  std::map<std::string, std::string> axes;
  std::vector<double> log2_lr;
  std::vector<double> mean_loss, standard_error;  ///< over seeds, per LR
  std::vector<std::string> seeds;
  std::vector<std::vector<double>> loss_by_seed;  ///< [seed][lr]: NaN where a run is missing, +inf when diverged
  LrOptimum optimum;        ///< of the seed-mean curve
  sim::Interval ci;         ///< bootstrap over seeds of log2 η*
};

struct LrDrift {
  std::string axis;                             ///< the axis varied (numeric, ≥ 2 positive values)
  std::map<std::string, std::string> slice;     ///< the other axes' values held fixed
  std::vector<double> axis_values, log2_lr_star;
  double drift = 0.0;                           ///< slope of log2 η* vs log2(axis value)
  sim::Interval ci;                             ///< bootstrap over seeds (paired across curves)
  double grid_step = 0.0;                       ///< LR grid step in log2 units
  std::size_t edge_optima = 0;                  ///< curves whose optimum is at the grid's edge
  std::vector<std::size_t> curves;              ///< indices into LrAnalysis::curves, in axis order
  std::vector<std::string> seed_labels;         ///< the seeds resampled (union over the curves)
  /// Swept keys that vary in lockstep with `axis` (one value of each per axis value and back, e.g.
  /// d_expert = d_model in a width sweep): not held fixed, and not fitted as an axis of their own.
  std::vector<std::string> lockstep;
  /// log2(max / min) of the axis values: the number of doublings the drift spans.
  [[nodiscard]] double doublings() const;
};

struct LrAnalysis {
  std::vector<LrCurve> curves;
  std::vector<LrDrift> drifts;
  double grid_step = 0.0;  ///< smallest spacing of the LR grid in log2 units
};

/// Groups runs into curves (same axes), fits every optimum and every drift. `seed` drives the
/// bootstrap (resamples of seed labels, shared by all curves of a drift).
[[nodiscard]] LrAnalysis analyze_lr_runs(const std::vector<LrRun>& runs, std::uint64_t seed,
                                         std::size_t resamples = 1000);

/// A curve's seed-mean loss per grid point over the runs of the given seed labels only (a bootstrap
/// replicate; a label may repeat); a curve with none of them keeps all its seeds. Missing runs are
/// skipped, a diverged one makes its point +inf.
[[nodiscard]] std::vector<double> mean_over_seeds(const LrCurve& curve, std::span<const std::string> seed_labels);

/// The drift's slope recomputed from the curves' runs of the given seed labels only (a bootstrap
/// replicate); a curve with none of them keeps all its seeds.
[[nodiscard]] double drift_for_seeds(const LrAnalysis& analysis, const LrDrift& drift,
                                     std::span<const std::string> seed_labels);

/// drift(a) − drift(b) with a paired bootstrap CI: each resample draws one set of seed labels (from the
/// union of both drifts' seeds) and refits both drifts on it, so seed noise shared by the two cancels.
struct DriftDifference {
  double difference = 0.0;
  sim::Interval ci;
};
[[nodiscard]] DriftDifference paired_drift_difference(const LrAnalysis& a_analysis, const LrDrift& a,
                                                      const LrAnalysis& b_analysis, const LrDrift& b,
                                                      std::uint64_t seed, std::size_t resamples = 1000);

/// "key=value, key=value" (for tables and verdict cases).
[[nodiscard]] std::string describe(const std::map<std::string, std::string>& axes);

/// Log-log slope of size vs axis with a bootstrap CI over seeds: values[s][k] is seed s at axis[k].
struct SlopeEstimate {
  double slope = 0.0;
  sim::Interval ci;
};
[[nodiscard]] SlopeEstimate coordinate_slope(std::span<const double> axis, const std::vector<std::vector<double>>& values,
                                             std::uint64_t seed, std::size_t resamples = 1000);

/// A sweep folder's results.csv (written by `muelab sweep`) read into LR runs.
struct SweepReadOptions {
  std::string lr_key;                        ///< empty: the single swept key ending in "lr"
  std::string seed_key = "trainer.seed";
  std::string loss_column = "final_validation_loss";
};
struct SweepTable {
  std::vector<LrRun> runs;
  std::string lr_key, seed_key, loss_column;
  std::size_t diverged = 0, failed = 0;
};
/// Throws std::runtime_error with one line naming the file and the field on a malformed table.
[[nodiscard]] SweepTable read_sweep_results(const std::filesystem::path& results_csv, const SweepReadOptions& options);

}  // namespace muelab::analysis
