// fixed-hp-scaling (issue 6's experiment id; not a row of THEORY.md §9): at the dense proxy's tuned
// hyperparameters, transferred by complete-mue (THEORY.md §5: the MoE axes a, N, granularity get no LR
// or WD multiplier of their own; depth goes through CompleteP, §3), the final validation loss should
// never get worse as the model grows along activated experts a, capacity N, granularity m or depth L.
// Measured: the slope of the final loss against log2 of the axis value (nats per doubling) with a
// bootstrap CI over seeds; predicted ≤ 0 (holds while the CI's lower end is ≤ 0). Control: the route
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

VerdictReport run_fixed_hp_scaling(const ExperimentOptions& o) {
  const bool full = o.profile == Profile::full;
  const auto start = std::chrono::steady_clock::now();
  Budget budget;
  budget.steps = full ? 200 : 100;
  budget.eval_batches = 4;
  const std::int64_t d0 = 32, L0 = 2;
  const int n_seeds = full ? 4 : 3;

  const auto calibration = calibrate_proxy_lr("fixed-hp-scaling", d0, L0, budget, o);

  Shape moe;  // N = 4, a = 1, h = d
  moe.d_model = d0;
  moe.n_layers = L0;
  moe.d_expert = d0;
  std::vector<AxisPoint> points;
  const std::int64_t n_for_a = full ? 16 : 8;
  for (const std::int64_t a : full ? std::vector<std::int64_t>{1, 2, 4, 8} : std::vector<std::int64_t>{1, 2, 4}) {
    Shape s = moe;
    s.n_experts = n_for_a;
    s.n_active = a;
    points.push_back({"n_active", static_cast<double>(a), s});
  }
  for (const std::int64_t n : full ? std::vector<std::int64_t>{4, 8, 16, 32} : std::vector<std::int64_t>{4, 8, 16}) {
    Shape s = moe;
    s.n_experts = n;
    points.push_back({"n_experts", static_cast<double>(n), s});
  }
  for (const std::int64_t m : full ? std::vector<std::int64_t>{1, 2, 4, 8} : std::vector<std::int64_t>{1, 2, 4}) {
    Shape s = moe;  // (N, a, h) -> (mN, ma, h/m)
    s.n_experts = 4 * m;
    s.n_active = m;
    s.d_expert = d0 / m;
    points.push_back({"granularity", static_cast<double>(m), s});
  }
  for (const std::int64_t L : {1, 2, 4}) {
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
      Verdict v;
      v.claim = "fixed-hp-scaling";
      v.case_name = fmt::format(
          "{}: slope of final val loss vs log2 {} ({:g}..{:g}) at fixed dense-tuned HPs (nats per doubling; predicted <= 0, "
          "holds while the CI's low end <= 0)",
          settings[st].name, axis, values.front(), values.back());
      v.kind = control ? VerdictKind::control : VerdictKind::claim;
      v.measured = slope.slope;
      v.ci_low = slope.ci.low;
      v.ci_high = slope.ci.high;
      v.predicted = 0.0;
      v.tolerance = 0.0;
      v.sidedness = Sidedness::at_most;  // claims improvement: the whole CI below 0 nats per doubling
      v.outcome = judge_interval(ClaimSpec{v.claim, "", v.kind, v.sidedness, 0.0, 0.0}, v.ci_low, v.ci_high, &v.reason);
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
  return {"fixed-hp-scaling",
          "Final loss vs activated experts, capacity, granularity and depth at fixed dense-tuned HPs (complete-mue); "
          "claim fixed-hp-scaling (issue 6's id, not a THEORY.md 9 row): slope <= 0; control R = 1",
          {"fixed-hp-scaling"},
          "transformer_fixed_hp_scaling.py",
          run_fixed_hp_scaling};
}

}  // namespace muelab::experiments::transformer
