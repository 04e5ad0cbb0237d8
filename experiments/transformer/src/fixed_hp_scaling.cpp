// fixed-hp-scaling (docs/claims.md `fixed-hp-scaling`): at the dense proxy's tuned
// hyperparameters, transferred by complete-mue (docs/theory.md §5: the MoE axes a, N, granularity get no LR
// or WD multiplier of their own; depth goes through CompleteP, §3), the final validation loss should
// never get worse as the model grows along activated experts a, capacity N, granularity m or depth L.
// Measured: the slope of the final loss against log2 of the axis value (nats per doubling) with a
// bootstrap CI over seeds; the claim is an improvement: the whole CI below 0 (a flat curve is
// inconclusive, not a pass). Control: the route
// scale removed (rule.route_scale=none, R = 1) on the axes where a grows (a and granularity): with
// R = 1 the routed sum is not scaled back up after A = d/(a·h) (§5.1), so the block's output and its
// updates shrink as 1/a and the fixed HPs stop being right; the theory says the loss must then rise
// with a.
//
// Task: the capacity-bound order-2 Markov chain (docs/theory.md §9), where the FFN/expert block matters;
// the proxy is tuned on it (calibrate_capacity_proxy_lr) and the rows are verdicts only where
// `capacity-gate` passed (docs/claims.md `capacity-gate`). On the first-order chain every slope was flat
// and the R = 1 control improved too: the experiment could not fail there. Added with the move (before
// any run on the new task): a route-scale row per control axis, slope(R = 1) − slope(complete-mue),
// paired over seeds, at least 0.01 nats per doubling — removing R must cost more as a grows.
//
// Two of the paper's observations at the same fixed HPs, as claim rows (docs/claims.md
// `fixed-hp-scaling`, "The paper's observations"): capacity scaling lowers the loss more than
// granularity scaling, slope(N) − slope(m) per doubling paired over seeds, CI high < 0; and shared
// experts raise the loss at fixed total and active expert parameters, (N = 14, a = 2, h = d/2, one
// shared expert of width d) − (N = 16, a = 4, h = d/2), paired, CI low > 0 (both arms route with
// a ≥ 2: at a = 1 the normalized gate is 1 and the router would learn nothing).
#include "common.hpp"
#include "dense_calibration.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/experiments/transformer_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <stdexcept>

namespace muelab::experiments::transformer {

namespace {

struct AxisPoint {
  std::string axis;
  double value;
  Shape shape;
};

/// What one profile runs (docs/claims.md, "Plans").
struct FixedHpSettings {
  Budget budget;  ///< the capacity-bound task
  int seeds = 3;
  std::int64_t width = 32, layers = 2;  ///< the dense proxy (H = d) and the base MoE (N = 4, a = 1, h = d)
  std::int64_t n_for_a = 8;
  std::vector<std::int64_t> actives, capacities, granularities, depths;
  std::vector<std::string> control_axes = {"n_active", "granularity"};  ///< where a grows: R = 1 must hurt
};

/// The shared-expert observation's two shapes, at fixed total (8d) and active (2d) expert parameters,
/// both routing with a ≥ 2: N = 16 routed of width d/2 with a = 4 (value 0 on the "shared" axis) and
/// N = 14 routed of width d/2 with a = 2 beside one shared expert of width d (value 1).
constexpr const char* kSharedAxis = "shared";

FixedHpSettings fixed_hp_settings(Profile profile) {
  FixedHpSettings s;
  s.budget = capacity_bound_budget(profile);
  s.seeds = by_profile(profile, 2, 2, 5);
  s.n_for_a = by_profile<std::int64_t>(profile, 8, 16, 16);
  s.actives = by_profile<std::vector<std::int64_t>>(profile, {1, 2}, {1, 4}, {1, 2, 4, 8});
  s.capacities = by_profile<std::vector<std::int64_t>>(profile, {4, 8}, {4, 16}, {4, 8, 16, 32});
  s.granularities = by_profile<std::vector<std::int64_t>>(profile, {1, 2}, {1, 4}, {1, 2, 4, 8});
  s.depths = by_profile<std::vector<std::int64_t>>(profile, {1, 2}, {1, 2}, {1, 2, 4});
  return s;
}

ExperimentPlan fixed_hp_scaling_plan(Profile profile) {
  const auto s = fixed_hp_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"task", to_json(s.budget)}, {"seeds", s.seeds}, {"N_of_a_axis", s.n_for_a}, {"actives", s.actives},
                   {"capacities", s.capacities}, {"granularities", s.granularities}, {"depths", s.depths},
                   {"proxy", fmt::format("dense d={}, L={}, H=d", s.width, s.layers)},
                   {"proxy_calibration", to_json(capacity_calibration_settings(profile))},
                   {"control", "route scale removed (rule.route_scale=none, R = 1)"}, {"control_axes", s.control_axes}};
  plan.claims["improvement"] = {"fixed-hp-scaling", "slope of the final loss against log2 of the axis (nats per doubling)",
                                VerdictKind::claim, Sidedness::at_most, 0.0, 0.0};
  plan.claims["improvement control"] = as_control(plan.claims["improvement"]);
  plan.claims["capacity beats granularity"] = {
      "fixed-hp-scaling", "slope(N) - slope(granularity m) of the final loss per doubling, paired over seeds (nats)",
      VerdictKind::claim, Sidedness::at_most, 0.0, 0.0};
  plan.claims["shared experts cost"] = {
      "fixed-hp-scaling",
      "final loss of (N=14, a=2, h=d/2, 1 shared of width d) - (N=16, a=4, h=d/2), same total and active expert "
      "parameters, paired (nats)",
      VerdictKind::claim, Sidedness::at_least, 0.0, 0.0};
  plan.claims["route scale"] = {"fixed-hp-scaling",
                                "slope(R=1) - slope(complete-mue) of the final loss against log2 of the axis, paired over "
                                "seeds (nats per doubling)",
                                VerdictKind::claim, Sidedness::at_least, 0.01, 0.0};
  return plan;
}

std::vector<AxisPoint> axis_points(const FixedHpSettings& s) {
  Shape moe;  // N = 4, a = 1, h = d
  moe.d_model = s.width;
  moe.n_layers = s.layers;
  moe.d_expert = s.width;
  std::vector<AxisPoint> points;
  for (const std::int64_t a : s.actives) {
    Shape v = moe;
    v.n_experts = s.n_for_a;
    v.n_active = a;
    points.push_back({"n_active", static_cast<double>(a), v});
  }
  for (const std::int64_t n : s.capacities) {
    Shape v = moe;
    v.n_experts = n;
    points.push_back({"n_experts", static_cast<double>(n), v});
  }
  for (const std::int64_t m : s.granularities) {
    Shape v = moe;  // (N, a, h) -> (mN, ma, h/m)
    v.n_experts = 4 * m;
    v.n_active = m;
    v.d_expert = s.width / m;
    points.push_back({"granularity", static_cast<double>(m), v});
  }
  for (const std::int64_t L : s.depths) {
    Shape v = moe;
    v.n_layers = L;
    points.push_back({"n_layers", static_cast<double>(L), v});
  }
  Shape routed = moe;  // the shared-expert observation: same 8d total, 2d active expert parameters
  routed.n_experts = 16;
  routed.n_active = 4;
  routed.d_expert = s.width / 2;
  points.push_back({kSharedAxis, 0.0, routed});
  Shape shared = moe;
  shared.n_experts = 14;
  shared.n_active = 2;
  shared.d_expert = s.width / 2;
  shared.n_shared = 1;
  shared.d_shared = s.width;
  points.push_back({kSharedAxis, 1.0, shared});
  return points;
}

struct Setting {
  std::string name;
  std::vector<std::string> switches;
  std::vector<std::string> axes;  ///< where it runs
};

/// The final loss of one distinct (setting, shape, seed): the base shape sits on several axes and is
/// trained once per setting.
struct ScalingRuns {
  std::vector<Job> jobs;
  std::vector<JobResult> results;
  std::map<std::string, std::size_t> index;
  [[nodiscard]] static std::string key(std::size_t setting, const Shape& shape, int seed) {
    return fmt::format("{}|{}|{}", setting, shape_key(shape), seed);
  }
  [[nodiscard]] std::size_t at(std::size_t setting, const Shape& shape, int seed) const { return index.at(key(setting, shape, seed)); }
};

ScalingRuns measure_scaling(const FixedHpSettings& s, const std::vector<Setting>& settings, const std::vector<AxisPoint>& points,
                            const BaseHyperparameters& tuned, const ExperimentOptions& o) {
  const Budget& budget = s.budget;
  ScalingRuns out;
  for (std::size_t st = 0; st < settings.size(); ++st)
    for (const auto& p : points) {
      if (std::find(settings[st].axes.begin(), settings[st].axes.end(), p.axis) == settings[st].axes.end()) continue;
      for (int k = 0; k < s.seeds; ++k) {
        const auto key = ScalingRuns::key(st, p.shape, k);
        if (out.index.count(key)) continue;
        Job j;
        j.shape = p.shape;
        j.base_shape = dense_proxy(s.width, s.layers);
        j.base = tuned;
        j.rule_switches = settings[st].switches;
        j.budget = budget;
        j.seed = o.seed * 1000 + static_cast<std::uint64_t>(k) + 1;
        out.index[key] = out.jobs.size();
        out.jobs.push_back(j);
      }
    }
  note(fmt::format("  {} runs at the dense-tuned HPs (lr {:.4g})", out.jobs.size(), tuned.lr));
  out.results = run_jobs(out.jobs, o.out_dir / "scratch", o.threads);
  return out;
}

struct RouteScaleRows {
  std::vector<Verdict> rows;
  CsvTable table{{"axis", "slope_difference", "ci_low", "ci_high", "verdict"}};
};

/// Per control axis: the slope of the paired loss difference (R = 1 minus complete-mue, same seeds and
/// shapes) against log2 of the axis, i.e. slope(R=1) − slope(complete-mue), with its bootstrap CI.
RouteScaleRows route_scale_rows(const ExperimentPlan& plan, const std::vector<Setting>& settings,
                                const std::map<std::pair<std::size_t, std::string>, std::vector<std::vector<double>>>& losses,
                                const std::map<std::string, std::vector<double>>& axis_values, bool proxy_at_edge,
                                std::uint64_t seed) {
  RouteScaleRows out;
  const auto& spec = plan.claim("route scale");
  std::uint64_t k = 0;
  for (const auto& axis : settings.at(1).axes) {
    const auto& with_r = losses.at({0, axis});
    const auto& without_r = losses.at({1, axis});
    std::vector<std::vector<double>> difference = without_r;
    for (std::size_t s = 0; s < difference.size(); ++s)
      for (std::size_t q = 0; q < difference[s].size(); ++q) difference[s][q] -= with_r[s][q];
    const auto& values = axis_values.at(axis);
    const auto slope = slope_against_log2_axis(values, difference, seed + 977 * (++k));
    const auto name = fmt::format("route scale: slope(R=1) - slope(complete-mue) of final val loss vs log2 {} ({:g}..{:g}), "
                                  "paired (removing R must cost more as a grows)",
                                  axis, values.front(), values.back());
    const auto v = proxy_at_edge ? not_measured(spec, name, kProxyEdgeReason, slope.slope, slope.ci.low, slope.ci.high)
                                 : judge(spec, name, slope.slope, slope.ci.low, slope.ci.high);
    out.table.add_row({axis, slope.slope, slope.ci.low, slope.ci.high, to_string(v.outcome)});
    out.rows.push_back(v);
  }
  return out;
}

/// The paper's two observations at the same fixed HPs: capacity against granularity (the paired slope
/// difference; both axes have the same count of points one doubling apart, so it is the slope of the
/// per-seed loss difference point by point) and the shared expert's cost (a paired difference).
std::vector<Verdict> observation_rows(const ExperimentPlan& plan,
                                      const std::map<std::pair<std::size_t, std::string>, std::vector<std::vector<double>>>& losses,
                                      const std::map<std::string, std::vector<double>>& axis_values, bool proxy_at_edge,
                                      std::uint64_t seed) {
  const auto judged = [&](const ClaimSpec& spec, const std::string& name, double v, double low, double high) {
    return proxy_at_edge ? not_measured(spec, name, kProxyEdgeReason, v, low, high) : judge(spec, name, v, low, high);
  };
  std::vector<Verdict> rows;
  const auto& n_loss = losses.at({0, "n_experts"});
  const auto& m_loss = losses.at({0, "granularity"});
  const auto& n_values = axis_values.at("n_experts");
  const auto& m_values = axis_values.at("granularity");
  if (n_values.size() != m_values.size()) throw std::logic_error("fixed-hp-scaling: N and granularity need as many points");
  for (std::size_t q = 0; q < n_values.size(); ++q)
    if (std::log2(n_values[q] / n_values.front()) != std::log2(m_values[q] / m_values.front()))
      throw std::logic_error("fixed-hp-scaling: N and granularity points must be the same doublings apart");
  auto difference = n_loss;
  for (std::size_t sd = 0; sd < difference.size(); ++sd)
    for (std::size_t q = 0; q < difference[sd].size(); ++q) difference[sd][q] -= m_loss[sd][q];
  const auto slope = slope_against_log2_axis(m_values, difference, seed + 4099);
  rows.push_back(judged(plan.claim("capacity beats granularity"),
                        fmt::format("capacity vs granularity: slope(N {:g}..{:g}) - slope(m {:g}..{:g}) of final val loss "
                                    "per doubling, paired (capacity must lower the loss more)",
                                    n_values.front(), n_values.back(), m_values.front(), m_values.back()),
                        slope.slope, slope.ci.low, slope.ci.high));
  const auto& shared = losses.at({0, kSharedAxis});  // [seed][routed only, with a shared expert]
  std::vector<double> with_shared, routed_only;
  for (const auto& per_seed : shared) {
    routed_only.push_back(per_seed.at(0));
    with_shared.push_back(per_seed.at(1));
  }
  const auto d = paired_difference(with_shared, routed_only);
  rows.push_back(judged(plan.claim("shared experts cost"),
                        "shared experts: final val loss of (N=14, a=2, h=d/2, 1 shared of width d) - (N=16, a=4, "
                        "h=d/2), paired (same total and active expert parameters; a shared expert must cost loss)",
                        d.mean, d.ci.low, d.ci.high));
  return rows;
}

VerdictReport run_fixed_hp_scaling(const ExperimentOptions& o) {
  const auto s = fixed_hp_settings(o.profile);
  const auto plan = fixed_hp_scaling_plan(o.profile);
  const auto start = std::chrono::steady_clock::now();
  const auto calibration = calibrate_capacity_proxy_lr("fixed-hp-scaling", s.width, s.layers, o);
  write_calibration(calibration, o.out_dir);
  const auto points = axis_points(s);
  const std::vector<Setting> settings = {{"complete-mue", {}, {"n_active", "n_experts", "granularity", "n_layers", kSharedAxis}},
                                         {"control: route scale removed (R=1)", {"rule.route_scale=none"}, s.control_axes}};
  const auto runs = measure_scaling(s, settings, points, calibration.tuned, o);

  CsvTable runs_csv({"setting", "axis", "axis_value", "seed", "status", "final_validation_loss"});
  CsvTable points_csv({"setting", "axis", "axis_value", "mean_loss", "standard_error"});
  CsvTable slopes_csv({"setting", "axis", "kind", "slope", "ci_low", "ci_high", "verdict"});
  VerdictReport report;
  std::map<std::pair<std::size_t, std::string>, std::vector<std::vector<double>>> losses;  ///< (setting, axis) -> [seed][point]
  std::map<std::string, std::vector<double>> axis_values;
  std::uint64_t k = 0;
  for (std::size_t st = 0; st < settings.size(); ++st)
    for (const auto& axis : settings[st].axes) {
      std::vector<double> values;
      std::vector<std::vector<double>> loss(static_cast<std::size_t>(s.seeds));
      for (const auto& p : points) {
        if (p.axis != axis) continue;
        values.push_back(p.value);
        std::vector<double> column;
        for (int seed = 0; seed < s.seeds; ++seed) {
          const auto i = runs.at(st, p.shape, seed);
          loss[static_cast<std::size_t>(seed)].push_back(runs.results[i].loss);
          column.push_back(runs.results[i].loss);
          runs_csv.add_row({settings[st].name, axis, p.value, static_cast<long long>(runs.jobs[i].seed),
                            runs.results[i].summary.status, runs.results[i].loss});
        }
        const auto e = sim::mean_with_standard_error(column);
        points_csv.add_row({settings[st].name, axis, p.value, e.mean, e.standard_error});
      }
      losses[{st, axis}] = loss;
      axis_values[axis] = values;
      if (axis == kSharedAxis) continue;  // two shapes, not a scaling axis: observation_rows judges it
      const auto slope = slope_against_log2_axis(values, loss, o.seed + 71 * (++k));
      const bool control = st > 0;
      const auto& spec = plan.claim(control ? "improvement control" : "improvement");
      const auto name = fmt::format("{}: slope of final val loss vs log2 {} ({:g}..{:g}) at fixed dense-tuned HPs "
                                    "(nats per doubling; improvement: the whole CI below 0)",
                                    settings[st].name, axis, values.front(), values.back());
      const auto v = lr_at_edge(calibration) ? not_measured(spec, name, kProxyEdgeReason, slope.slope, slope.ci.low, slope.ci.high)
                                             : judge(spec, name, slope.slope, slope.ci.low, slope.ci.high);
      slopes_csv.add_row({settings[st].name, axis, control ? "control" : "claim", slope.slope, slope.ci.low, slope.ci.high,
                          to_string(v.outcome)});
      report.verdicts.push_back(v);
    }
  const auto route = route_scale_rows(plan, settings, losses, axis_values, lr_at_edge(calibration), o.seed);
  report.verdicts.insert(report.verdicts.end(), route.rows.begin(), route.rows.end());
  const auto observed = observation_rows(plan, losses, axis_values, lr_at_edge(calibration), o.seed);
  report.verdicts.insert(report.verdicts.end(), observed.begin(), observed.end());
  judge_only_if_capacity_bound("fixed-hp-scaling", report.verdicts, o.out_dir);
  runs_csv.write(o.out_dir / "runs.csv");
  points_csv.write(o.out_dir / "points.csv");
  slopes_csv.write(o.out_dir / "slopes.csv");
  route.table.write(o.out_dir / "route_scale.csv");
  note(fmt::format("fixed-hp-scaling: {:.0f} s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  return report;
}

}  // namespace

Experiment make_fixed_hp_scaling_experiment() {
  Experiment e;
  e.name = "fixed-hp-scaling";
  e.description =
      "Final loss vs activated experts, capacity, granularity and depth at fixed dense-tuned HPs (complete-mue) on the "
      "capacity-bound task; claim: improvement (slope CI below 0); control R = 1 and its paired slope difference";
  e.claims = {"fixed-hp-scaling"};
  e.plot_script = "fixed_hp_scaling.py";
  e.run = run_fixed_hp_scaling;
  e.plan = fixed_hp_scaling_plan;
  return e;
}

}  // namespace muelab::experiments::transformer
