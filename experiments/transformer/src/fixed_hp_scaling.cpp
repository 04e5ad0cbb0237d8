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
#include "common.hpp"
#include "dense_calibration.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/experiments/transformer_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace muelab::experiments::transformer {

namespace {

struct AxisPoint {
  std::string axis;
  double value;
  Shape shape;
};

/// What one profile runs (docs/claims.md, "Plans").
struct FixedHpSettings {
  std::int64_t steps = 100;
  int seeds = 3;
  std::int64_t n_for_a = 8;
  std::vector<std::int64_t> actives, capacities, granularities, depths;
};

FixedHpSettings fixed_hp_settings(Profile profile) {
  FixedHpSettings s;
  s.steps = by_profile<std::int64_t>(profile, 12, 100, 200);
  s.seeds = by_profile(profile, 2, 3, 5);
  s.n_for_a = by_profile<std::int64_t>(profile, 8, 8, 16);
  s.actives = by_profile<std::vector<std::int64_t>>(profile, {1, 2}, {1, 2, 4}, {1, 2, 4, 8});
  s.capacities = by_profile<std::vector<std::int64_t>>(profile, {4, 8}, {4, 8, 16}, {4, 8, 16, 32});
  s.granularities = by_profile<std::vector<std::int64_t>>(profile, {1, 2}, {1, 2, 4}, {1, 2, 4, 8});
  s.depths = by_profile<std::vector<std::int64_t>>(profile, {1, 2}, {1, 2, 4}, {1, 2, 4});
  return s;
}

ExperimentPlan fixed_hp_scaling_plan(Profile profile) {
  const auto s = fixed_hp_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"steps", s.steps}, {"seeds", s.seeds}, {"N_of_a_axis", s.n_for_a}, {"actives", s.actives},
                   {"capacities", s.capacities}, {"granularities", s.granularities}, {"depths", s.depths},
                   {"proxy_calibration", "shared LR calibration (4e-3 x 2^-2..2, edge policy, weight decay 0)"},
                   {"control", "route scale removed (R=1) on a and granularity"}};
  plan.claims["improvement"] = {"fixed-hp-scaling", "slope of the final loss against log2 of the axis (nats per doubling)",
                                VerdictKind::claim, Sidedness::at_most, 0.0, 0.0};
  plan.claims["improvement control"] = as_control(plan.claims["improvement"]);
  return plan;
}

VerdictReport run_fixed_hp_scaling(const ExperimentOptions& o) {
  const auto settings_of_profile = fixed_hp_settings(o.profile);
  const auto plan = fixed_hp_scaling_plan(o.profile);
  const auto start = std::chrono::steady_clock::now();
  Budget budget;
  budget.steps = settings_of_profile.steps;
  budget.eval_batches = 4;
  const std::int64_t d0 = 32, L0 = 2;
  const int n_seeds = settings_of_profile.seeds;

  const auto calibration = calibrate_proxy_lr("fixed-hp-scaling", d0, L0, budget, o);

  Shape moe;  // N = 4, a = 1, h = d
  moe.d_model = d0;
  moe.n_layers = L0;
  moe.d_expert = d0;
  std::vector<AxisPoint> points;
  const std::int64_t n_for_a = settings_of_profile.n_for_a;
  for (const std::int64_t a : settings_of_profile.actives) {
    Shape s = moe;
    s.n_experts = n_for_a;
    s.n_active = a;
    points.push_back({"n_active", static_cast<double>(a), s});
  }
  for (const std::int64_t n : settings_of_profile.capacities) {
    Shape s = moe;
    s.n_experts = n;
    points.push_back({"n_experts", static_cast<double>(n), s});
  }
  for (const std::int64_t m : settings_of_profile.granularities) {
    Shape s = moe;  // (N, a, h) -> (mN, ma, h/m)
    s.n_experts = 4 * m;
    s.n_active = m;
    s.d_expert = d0 / m;
    points.push_back({"granularity", static_cast<double>(m), s});
  }
  for (const std::int64_t L : settings_of_profile.depths) {
    Shape s = moe;
    s.n_layers = L;
    points.push_back({"n_layers", static_cast<double>(L), s});
  }
  struct Setting {
    std::string name;
    std::vector<std::string> switches;
    std::vector<std::string> axes;  ///< where it runs
  };
  const std::vector<Setting> settings = {
      {"complete-mue", {}, {"n_active", "n_experts", "granularity", "n_layers"}},
      {"control: route scale removed (R=1)", {"rule.route_scale=none"}, {"n_active", "granularity"}}};

  // One job per distinct (setting, shape, seed): the base shape sits on several axes.
  std::vector<Job> jobs;
  std::map<std::string, std::size_t> job_of;
  const auto key_of = [&](std::size_t setting, const Shape& s, int seed) {
    return fmt::format("{}|{}|{}", setting, shape_key(s), seed);
  };
  for (std::size_t st = 0; st < settings.size(); ++st)
    for (const auto& p : points) {
      if (std::find(settings[st].axes.begin(), settings[st].axes.end(), p.axis) == settings[st].axes.end()) continue;
      for (int s = 0; s < n_seeds; ++s) {
        const auto key = key_of(st, p.shape, s);
        if (job_of.count(key)) continue;
        Job j;
        j.shape = p.shape;
        j.base_shape = dense_proxy(d0, L0);
        j.base = calibration.tuned;
        j.rule_switches = settings[st].switches;
        j.budget = budget;
        j.seed = o.seed * 1000 + static_cast<std::uint64_t>(s) + 1;
        job_of[key] = jobs.size();
        jobs.push_back(j);
      }
    }
  note(fmt::format("  {} runs at the dense-tuned HPs (lr {:.4g})", jobs.size(), calibration.tuned.lr));
  const auto results = run_jobs(jobs, o.out_dir / "scratch", o.threads);

  CsvTable runs_csv({"setting", "axis", "axis_value", "seed", "status", "final_validation_loss"});
  CsvTable points_csv({"setting", "axis", "axis_value", "mean_loss", "standard_error"});
  CsvTable slopes_csv({"setting", "axis", "kind", "slope", "ci_low", "ci_high", "holds"});
  VerdictReport report;
  std::uint64_t k = 0;
  for (std::size_t st = 0; st < settings.size(); ++st)
    for (const auto& axis : settings[st].axes) {
      std::vector<double> values;
      std::vector<std::vector<double>> loss(static_cast<std::size_t>(n_seeds));
      for (const auto& p : points) {
        if (p.axis != axis) continue;
        values.push_back(p.value);
        std::vector<double> column;
        for (int s = 0; s < n_seeds; ++s) {
          const auto i = job_of.at(key_of(st, p.shape, s));
          loss[static_cast<std::size_t>(s)].push_back(results[i].loss);
          column.push_back(results[i].loss);
          runs_csv.add_row({settings[st].name, axis, p.value, static_cast<long long>(jobs[i].seed), results[i].summary.status,
                            results[i].loss});
        }
        const auto e = sim::mean_with_standard_error(column);
        points_csv.add_row({settings[st].name, axis, p.value, e.mean, e.standard_error});
      }
      const auto slope = slope_against_log2_axis(values, loss, o.seed + 71 * (++k));
      const bool control = st > 0;
      const auto v = judge(plan.claim(control ? "improvement control" : "improvement"),
                           fmt::format("{}: slope of final val loss vs log2 {} ({:g}..{:g}) at fixed dense-tuned HPs "
                                       "(nats per doubling; improvement: the whole CI below 0)",
                                       settings[st].name, axis, values.front(), values.back()),
                           slope.slope, slope.ci.low, slope.ci.high);
      slopes_csv.add_row({settings[st].name, axis, control ? "control" : "claim", slope.slope, slope.ci.low, slope.ci.high,
                          static_cast<long long>(v.holds() ? 1 : 0)});
      report.verdicts.push_back(v);
    }
  runs_csv.write(o.out_dir / "runs.csv");
  points_csv.write(o.out_dir / "points.csv");
  slopes_csv.write(o.out_dir / "slopes.csv");
  note(fmt::format("fixed-hp-scaling: {:.0f} s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  return report;
}

}  // namespace

Experiment make_fixed_hp_scaling_experiment() {
  Experiment e;
  e.name = "fixed-hp-scaling";
  e.description =
      "Final loss vs activated experts, capacity, granularity and depth at fixed dense-tuned HPs (complete-mue); "
      "claim: improvement (slope CI below 0); control R = 1";
  e.claims = {"fixed-hp-scaling"};
  e.plot_script = "fixed_hp_scaling.py";
  e.run = run_fixed_hp_scaling;
  e.plan = fixed_hp_scaling_plan;
  return e;
}

}  // namespace muelab::experiments::transformer
