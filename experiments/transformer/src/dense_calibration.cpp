#include "dense_calibration.hpp"
#include "edge_sweep.hpp"

#include "muelab/experiments/output.hpp"

#include <fmt/format.h>

#include <cmath>

namespace muelab::experiments::transformer {

namespace {

double& knob_of(BaseHyperparameters& hp, const std::string& knob) {
  if (knob == "lr") return hp.lr;
  if (knob == "weight_decay") return hp.weight_decay;
  return hp.init_std;
}

}  // namespace

DenseCalibration calibrate_dense_proxy(const Shape& proxy, const Budget& budget, const CalibrationPlan& plan,
                                       BaseHyperparameters start, const ExperimentOptions& options) {
  DenseCalibration result;
  result.tuned = start;
  const std::vector<std::pair<std::string, std::vector<double>>> stages = {
      {"lr", plan.lrs}, {"weight_decay", plan.weight_decays}, {"init_std", plan.init_stds}};
  std::uint64_t stage_index = 0;
  for (const auto& stage : stages) {
    // Named references, not a structured binding: Clang 14 cannot capture a binding in the lambda below.
    const std::string& knob = stage.first;
    const std::vector<double>& grid = stage.second;
    ++stage_index;
    if (grid.empty()) continue;
    // The edge policy (docs/claims.md, "Optima at a grid edge"): an optimum at an end of the grid gets
    // half-octave points beyond it (at most 4) before it is fitted.
    std::vector<double> log2_grid_values;
    for (const double value : grid) log2_grid_values.push_back(std::log2(value));
    const auto swept = sweep_curves_until_interior(
        {log2_grid_values}, plan.seeds,
        [&](std::size_t, double x, int s) {
          Job j;
          j.shape = proxy;
          j.base_shape = proxy;
          j.base = result.tuned;
          knob_of(j.base, knob) = std::exp2(x);
          j.budget = budget;
          j.seed = options.seed * 1000 + 700 + static_cast<std::uint64_t>(s);
          return j;
        },
        plan.edge, options, "  dense proxy: " + knob + " sweep");
    std::vector<analysis::LrRun> runs;
    for (const auto& r : swept.runs.front())
      runs.push_back({{}, std::to_string(options.seed * 1000 + 700 + static_cast<std::uint64_t>(r.seed)), std::exp2(r.log2_x),
                      r.loss});
    const auto fitted = analysis::analyze_lr_runs(runs, options.seed + 31 * stage_index);
    KnobSweep sweep{knob, fitted.curves.front(), {}};
    for (int s = 0; s < plan.seeds; ++s) sweep.seeds.push_back(options.seed * 1000 + 700 + static_cast<std::uint64_t>(s));
    knob_of(result.tuned, knob) = std::exp2(sweep.curve.optimum.log2_lr);
    note(fmt::format("  dense proxy: tuned {} = {:.4g}{}", knob, knob_of(result.tuned, knob),
                     sweep.curve.optimum.at_edge ? " (still at the grid edge after the edge policy)" : ""));
    result.sweeps.push_back(std::move(sweep));
  }
  return result;
}

void write_calibration(const DenseCalibration& calibration, const std::filesystem::path& out_dir) {
  CsvTable curves({"knob", "log2_value", "mean_loss", "standard_error"});
  CsvTable optima({"knob", "value", "log2_value", "ci_low", "ci_high", "loss", "at_edge"});
  for (const auto& s : calibration.sweeps) {
    for (std::size_t k = 0; k < s.curve.log2_lr.size(); ++k)
      curves.add_row({s.knob, s.curve.log2_lr[k], s.curve.mean_loss[k], s.curve.standard_error[k]});
    optima.add_row({s.knob, std::exp2(s.curve.optimum.log2_lr), s.curve.optimum.log2_lr, s.curve.ci.low, s.curve.ci.high,
                    s.curve.optimum.loss, static_cast<long long>(s.curve.optimum.at_edge ? 1 : 0)});
  }
  curves.write(out_dir / "calibration.csv");
  optima.write(out_dir / "calibration_optima.csv");
}

nlohmann::json to_json(const ProxyCalibrationSettings& s) {
  return {{"lrs", s.lrs}, {"seeds", s.seeds}, {"edge_extra_points_cap", s.edge.max_extra_points},
          {"edge_step_log2", s.edge.step_log2}, {"weight_decay", s.start.weight_decay}, {"init_std", s.start.init_std},
          {"proxy", "dense, H = d"}};
}

ProxyCalibrationSettings capacity_calibration_settings(Profile profile) {
  ProxyCalibrationSettings s;
  s.lrs = by_profile(profile, log2_grid(1e-2, 1, 1.0), log2_grid(1e-2, 1, 1.0), log2_grid(1e-2, 3, 0.5));
  s.seeds = by_profile(profile, 2, 2, 5);  // full: >= 5 paired seeds for every LR sweep (docs/claims.md, "Plans")
  s.edge.max_extra_points = by_profile(profile, 1, 2, 4);
  s.start = {1e-2, kCapacityTaskWeightDecay, 0.02};
  return s;
}

DenseCalibration calibrate_capacity_proxy_lr(const std::string& experiment, std::int64_t d0, std::int64_t L0,
                                             const ExperimentOptions& options) {
  note(fmt::format("{} ({}): tuning the dense proxy's LR on the capacity-bound task", experiment, to_string(options.profile)));
  const auto s = capacity_calibration_settings(options.profile);
  CalibrationPlan plan;
  plan.lrs = s.lrs;
  plan.seeds = s.seeds;
  plan.edge = s.edge;
  return calibrate_dense_proxy(dense_proxy(d0, L0), capacity_bound_budget(options.profile), plan, s.start, options);
}

bool lr_at_edge(const DenseCalibration& calibration) {
  for (const auto& sweep : calibration.sweeps)
    if (sweep.knob == "lr") return sweep.curve.optimum.at_edge;
  return false;
}

}  // namespace muelab::experiments::transformer
