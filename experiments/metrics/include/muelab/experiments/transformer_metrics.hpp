// Measurements of the tune-once experiments (docs/theory.md §5: tune (η, λ, σ) once on the dense proxy,
// transfer to every MoE target): the regret of transferred hyperparameters against a target's own LR
// sweep, the curvature of a loss-vs-log2-LR curve (which sets the regret tolerance), the slope of a
// loss against log2 of a model axis with a bootstrap CI over seeds, and the steps an MoE needs to
// reach the dense proxy's final loss (speed-up factor). Each is one function, tested by hand
// calculations in tests/experiments/test_transformer_metrics.cpp.
#pragma once

#include "muelab/sim/statistics.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace muelab::experiments::transformer {

/// Second-order coefficient c of the parabola through the finite grid minimum of (x, loss) and its
/// two neighbours, loss ≈ L* + c·(x − x*)² (x = log2 LR, any spacing); NaN when the minimum sits at
/// an end of the grid or a neighbour is not finite.
[[nodiscard]] double curve_curvature(std::span<const double> x, std::span<const double> loss);

/// Regret of transferred hyperparameters on a target (the practical test of docs/theory.md §5's recipe):
/// mean over seeds of the loss at the transferred HPs minus the best loss of the target's own LR sweep
/// (vertex of the parabola through the seed-mean sweep's minimum, analysis::fit_lr_optimum).
struct TransferRegret {
  double regret = 0.0;
  sim::Interval ci;              ///< bootstrap over seeds, paired (seed s of both runs resampled together)
  double transferred_loss = 0.0; ///< seed mean at the transferred HPs
  double transferred_standard_error = 0.0;
  double best_loss = 0.0;        ///< the sweep's fitted minimum
  double curvature = 0.0;        ///< curve_curvature of the seed-mean sweep (nats per octave²)
};

/// transferred[s]: final loss at the transferred HPs for seed s; sweep[s][k]: the target's sweep at
/// log2_lr[k] for the same seed s. Diverged runs are +inf (and make the regret +inf).
[[nodiscard]] TransferRegret transfer_regret(std::span<const double> transferred, std::span<const double> log2_lr,
                                             const std::vector<std::vector<double>>& sweep, std::uint64_t seed,
                                             std::size_t resamples = 2000);

/// Least-squares slope of y against log2(axis) with a bootstrap CI over seeds: values[s][k] is seed s
/// at axis[k] (the slope of the seed-mean curve; resampling seeds).
struct SlopeWithInterval {
  double slope = 0.0;
  sim::Interval ci;
};
[[nodiscard]] SlopeWithInterval slope_against_log2_axis(std::span<const double> axis,
                                                        const std::vector<std::vector<double>>& values,
                                                        std::uint64_t seed, std::size_t resamples = 2000);

/// Mean over seeds with a Student-t 95% interval: mean ± t_{0.975, n−1}·s/√n (a single value: the
/// interval is that value; none: NaN). Used for per-seed paired gaps and ratios (regret, collapse, σ0).
struct SeedMean {
  double mean = 0.0, standard_error = 0.0, low = 0.0, high = 0.0;
};
[[nodiscard]] SeedMean seed_mean(std::span<const double> values);

/// Paired difference of two arms trained with the same seeds (the capacity gate, docs/claims.md
/// `capacity-gate`): d_s = first[s] − second[s]; its mean, standard error (sample sd / √n), the
/// separation in standard errors (mean / SE; ±inf when every d_s is equal and non-zero) and a
/// Student's 95% CI over seeds (mean ± t_{0.975, n-1} · SE: a mean, so no bootstrap is needed, and a
/// percentile bootstrap over 4–6 seeds would be too narrow; docs/claims.md, "Seeds and intervals").
/// Non-finite entries (a diverged run) make everything NaN.
struct PairedDifference {
  double mean = 0.0, standard_error = 0.0, separation = 0.0;
  sim::Interval ci;
  std::size_t seeds = 0;
};
[[nodiscard]] PairedDifference paired_difference(std::span<const double> first, std::span<const double> second);

/// The first (fractional) step at which a loss curve reaches `target`, linearly interpolated between
/// the two evaluations that bracket the crossing; non-finite points are skipped; +inf when the curve
/// never gets down to the target; the first step when it starts at or below it.
[[nodiscard]] double steps_to_reach(std::span<const double> steps, std::span<const double> loss, double target);

/// Speed-up of an MoE over the dense proxy at equal hyperparameters: the target is the dense proxy's
/// final loss (seed mean), and the factor is steps_to_reach(dense) / steps_to_reach(MoE), both on
/// seed-mean curves evaluated at `steps`. dense[s][t], moe[s][t]: seed s (paired), evaluation t.
/// factor is 0 when the MoE never reaches the target (then `reached` is false).
struct Speedup {
  double factor = 0.0;
  sim::Interval ci;          ///< bootstrap over seeds (paired)
  double target_loss = 0.0, dense_steps = 0.0, moe_steps = 0.0;
  bool reached = false;
  /// Bootstrap resamples whose seed-mean MoE curve never reached their target (speed-up counted as 0,
  /// which pulls the CI's lower end to 0) out of `resamples`.
  std::size_t unreached_resamples = 0, resamples = 0;
};
[[nodiscard]] Speedup moe_speedup(std::span<const double> steps, const std::vector<std::vector<double>>& dense,
                                  const std::vector<std::vector<double>>& moe, std::uint64_t seed,
                                  std::size_t resamples = 2000);

/// How the speed-up grows along an axis (the paper's "more with N"): the least-squares slope of the
/// speed-ups of moes[i] (the MoE at axis[i]) against log2 axis[i], per doubling, with a bootstrap CI
/// that resamples the same seed rows for the dense curve and every MoE. A resample in which the dense
/// curve never reaches its own final loss is NaN (bootstrap_ci95 drops it).
[[nodiscard]] SlopeWithInterval speedup_growth(std::span<const double> steps,
                                               const std::vector<std::vector<double>>& dense,
                                               const std::vector<std::vector<std::vector<double>>>& moes,
                                               std::span<const double> axis, std::uint64_t seed,
                                               std::size_t resamples = 2000);

}  // namespace muelab::experiments::transformer
