// Tune once on the dense proxy (docs/theory.md §5): LR sweep, then weight-decay and init-std sweeps at
// the best LR, each under the edge policy and its optimum by the quadratic in log2 of the knob
// (analysis::fit_lr_optimum) with a bootstrap CI over seeds. The LR stage is one shared calibration
// on the capacity-bound task (calibrate_capacity_proxy_lr) for capacity-gate, tune-dense-once,
// initial-loss-overlay, fixed-hp-scaling and moe-speedup, so they all agree on η*.
#pragma once

#include "common.hpp"

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/experiments/grid_policy.hpp"

#include <nlohmann/json.hpp>

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

/// The LR calibration's declaration (docs/claims.md, "Plans"): the base LR grid, seeds, edge policy and
/// the starting (λ, σ) the LR is swept at.
struct ProxyCalibrationSettings {
  std::vector<double> lrs;  ///< base LR grid
  int seeds = 3;
  EdgePolicy edge;
  BaseHyperparameters start{4e-3, 0.0, 0.02};
};
/// The settings as JSON, for a plan's `settings` (plan.json).
[[nodiscard]] nlohmann::json to_json(const ProxyCalibrationSettings& settings);

/// The dense proxy's LR calibration on the capacity-bound task (capacity_bound_budget, WD
/// kCapacityTaskWeightDecay, init std 0.02), declared per profile: 3 LRs an octave apart around 1e-2
/// with 2 seeds (smoke, quick), 7 half-octave LRs with 5 seeds (full); the edge policy extends them.
/// capacity-gate and every experiment on that task tune the proxy with it, so they agree on η*.
[[nodiscard]] ProxyCalibrationSettings capacity_calibration_settings(Profile profile);

/// calibrate_dense_proxy of the (d0, L0) proxy with capacity_calibration_settings on the capacity-bound task.
[[nodiscard]] DenseCalibration calibrate_capacity_proxy_lr(const std::string& experiment, std::int64_t d0, std::int64_t L0,
                                                           const ExperimentOptions& options);

/// Whether the calibration's LR optimum is still at its grid edge after the edge policy: the tuned LR
/// is then only a bound, and a quantity measured at it is not measured (docs/claims.md, "Optima at a
/// grid edge").
[[nodiscard]] bool lr_at_edge(const DenseCalibration& calibration);

/// The reason of a row measured at an edge calibration.
inline constexpr const char* kProxyEdgeReason = "optimum at grid edge (the dense proxy's LR calibration)";

}  // namespace muelab::experiments::transformer
