// Tune once on the dense proxy (docs/theory.md §5): LR sweep, then weight-decay and init-std sweeps at
// the best LR, each under the edge policy and its optimum by the quadratic in log2 of the knob
// (analysis::fit_lr_optimum) with a bootstrap CI over seeds. Shared by tune-dense-once,
// initial-loss-overlay, fixed-hp-scaling and moe-speedup.
#pragma once

#include "common.hpp"

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/experiments/grid_policy.hpp"

#include <string>
#include <vector>

namespace muelab::experiments::transformer {

struct CalibrationPlan {
  std::vector<double> lrs;            ///< base LR grid (required)
  std::vector<double> weight_decays;  ///< empty: keep `start.weight_decay`
  std::vector<double> init_stds;      ///< empty: keep `start.init_std`
  int seeds = 2;
  EdgePolicy edge;                    ///< the edge policy of every stage (docs/claims.md)
};

struct KnobSweep {
  std::string knob;                       ///< "lr", "weight_decay" or "init_std"
  analysis::LrCurve curve;                ///< x = log2 knob value; optimum and CI in log2 units
  std::vector<std::uint64_t> seeds;
};

struct DenseCalibration {
  BaseHyperparameters tuned;
  std::vector<KnobSweep> sweeps;
};

/// Runs the plan on `proxy` (one stage after the other; each stage's runs in parallel).
[[nodiscard]] DenseCalibration calibrate_dense_proxy(const Shape& proxy, const Budget& budget, const CalibrationPlan& plan,
                                                     BaseHyperparameters start, const ExperimentOptions& options);

/// calibration.csv (knob, log2_value, mean_loss, standard_error) and calibration_optima.csv
/// (knob, value, log2_value, ci_low, ci_high (log2), loss, at_edge).
void write_calibration(const DenseCalibration& calibration, const std::filesystem::path& out_dir);

/// Seeds of the proxy's LR calibration.
inline constexpr int kProxyCalibrationSeeds = 3;

/// The one LR-only calibration of the dense proxy, shared by initial-loss-overlay, fixed-hp-scaling and
/// moe-speedup: the dense unit-expansion proxy (d0, L0) swept over 4e-3·2^{-2..2} (plus the edge
/// policy's points) with kProxyCalibrationSeeds seeds at WD 0 and init std 0.02, written to
/// `options.out_dir` by write_calibration; the same budget gives the same LR in every experiment.
/// `experiment` names the progress line.
[[nodiscard]] DenseCalibration calibrate_proxy_lr(const std::string& experiment, std::int64_t d0, std::int64_t L0,
                                                  const Budget& budget, const ExperimentOptions& options);

}  // namespace muelab::experiments::transformer
