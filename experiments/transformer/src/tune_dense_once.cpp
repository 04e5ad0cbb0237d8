// tune-dense-once (claim `tune-dense-once` of docs/theory.md §9, the practical test of §5's recipe):
// calibrate (η, λ, σ) once on the dense unit-expansion proxy (the capacity-bound task's shared LR
// calibration, then WD and init sweeps at the best LR, each under the edge policy; optima by quadratics
// in log2 with bootstrap CIs), transfer them with every rule source to a set of MoE targets (wider,
// deeper, more experts, more active experts, finer granularity, a shared expert, routing groups), and
// report each (target, rule)'s regret: the loss at the transferred HPs minus the best loss of the
// target's own LR sweep (base LR swept under complete-mue with the tuned λ, σ, under the edge policy),
// with a paired bootstrap CI over seeds. Claim: regret at most 0.01 nats (absolute, fixed in the plan;
// docs/claims.md "Default tolerances"); a regret against a sweep whose optimum is still at its edge, or
// transferred from a proxy whose LR, WD or init optimum is still at its edge, is inconclusive. Claim
// rows: complete-mue on every target; control rows: SP on the wider targets (SP's optimum drifts with
// width, docs/theory.md §2, §9).
//
// Task: the capacity-bound order-2 Markov chain (docs/theory.md §9), where the FFN/expert block
// matters; its rows are verdicts only where `capacity-gate` passed (docs/claims.md `capacity-gate`).
// On the first-order chain the targets' LR curves ran to the upper edge and the regret was not informative.
#include "common.hpp"
#include "dense_calibration.hpp"
#include "edge_sweep.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/experiments/transformer_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

namespace muelab::experiments::transformer {

namespace {

struct Target {
  std::string name;
  Shape shape;
  bool wider = false;  ///< d > d*: where SP's fixed LR is wrong (the control)
};

/// The MoE targets: `wider` widths, then (when `all`) deeper, more experts, more active, granularity,
/// a shared expert and routing groups; the smoke and quick profiles keep the wider and N = 16 targets.
std::vector<Target> tune_once_targets(std::int64_t d0, std::int64_t L0, const std::vector<std::int64_t>& wider, bool all) {
  Shape moe;  // N = 4, a = 1, h = d
  moe.d_model = d0;
  moe.n_layers = L0;
  moe.d_expert = d0;
  std::vector<Target> targets;
  for (const std::int64_t d : wider) {
    Shape s = moe;
    s.d_model = d;
    s.d_expert = d;
    targets.push_back({fmt::format("wider d={} (N=4 a=1)", d), s, true});
  }
  {
    Shape s = moe;
    s.n_experts = 16;
    targets.push_back({"more experts N=16 a=1", s, false});
  }
  if (!all) return targets;
  {
    Shape s = moe;
    s.n_layers = 2 * L0;
    targets.push_back({fmt::format("deeper L={} (N=4 a=1)", 2 * L0), s, false});
  }
  {
    Shape s = moe;
    s.n_experts = 8;
    s.n_active = 4;
    targets.push_back({"more active a=4 of N=8", s, false});
  }
  {
    Shape s = moe;  // granularity m = 4: (4, 1, d) -> (16, 4, d/4)
    s.n_experts = 16;
    s.n_active = 4;
    s.d_expert = d0 / 4;
    targets.push_back({"granularity m=4 (N=16 a=4 h=d/4)", s, false});
  }
  {
    Shape s = moe;
    s.n_shared = 1;
    s.d_shared = d0;
    targets.push_back({"shared expert (N=4 a=1 + 1 shared)", s, false});
  }
  {
    Shape s = moe;
    s.n_experts = 8;
    s.n_active = 2;
    s.n_groups = 2;
    targets.push_back({"routing groups g=2 (N=8 a=2)", s, false});
  }
  return targets;
}

/// What one profile runs (docs/claims.md, "Plans").
struct TuneOnceSettings {
  Budget budget;  ///< the capacity-bound task (the proxy's and every target's: same B and T, §4's q = 1)
  int seeds = 3;  ///< the proxy's WD and init sweeps (its LR calibration takes capacity-gate's settings)
  int target_seeds = 3;                 ///< every target's own LR sweep and transferred points: the regret's pairs
  std::int64_t width = 32, layers = 2;  ///< the dense proxy (H = d) and the base of every target
  double grid_step = 1.0;               ///< the targets' own LR sweeps: octaves between points
  int half = 2;                         ///< ... and points on each side of the transferred LR
  std::vector<double> weight_decays, init_stds;  ///< the proxy's WD and init sweeps (after the shared LR calibration)
  std::vector<std::int64_t> wider;
  bool all_targets = false;  ///< full: every target (deeper, a, granularity, shared, groups) beside wider and N = 16
  std::vector<std::string> rules = {"complete-mue", "mup", "mup-moe", "jiang", "completep", "sp"};
  EdgePolicy edge;
};

TuneOnceSettings tune_once_settings(Profile profile) {
  TuneOnceSettings s;
  s.budget = capacity_bound_budget(profile);
  s.seeds = by_profile(profile, 2, 2, 5);
  // Plan change declared before its run (docs/claims.md `tune-dense-once`): the regrets are measured over
  // 10 seeds in full, not 5 (at 5 the CI's half-width, 0.01-0.04 nats, exceeded the 0.01 tolerance on five
  // of seven targets); the proxy is tuned as before, so the transferred point does not change.
  s.target_seeds = by_profile(profile, 2, 2, 10);
  s.grid_step = by_profile(profile, 1.0, 1.0, 0.5);
  s.half = by_profile(profile, 1, 1, 3);
  // Weight decay around the task's λ = 0.1 (ηλT ≈ 1.9 at the proxy's η* = 1.3e-2 and T = 1500, docs/claims.md
  // `capacity-gate`): the full grid spans ηλT ≈ 0.7–5, inside the 0.3–10 range where λ* can be interior.
  s.weight_decays = by_profile(profile, log2_grid(0.1, 1, 1.0), log2_grid(0.1, 1, 1.0), log2_grid(0.1, 2, 0.5));
  s.init_stds = by_profile(profile, log2_grid(0.02, 1, 1.0), log2_grid(0.02, 1, 1.0), log2_grid(0.02, 2, 0.5));
  s.wider = {2 * s.width};
  s.all_targets = profile == Profile::full;
  s.edge.max_extra_points = by_profile(profile, 1, 1, 4);
  // Smoke and quick: the claim's rule, the control's and one reported rule (every code path, half the runs).
  s.rules = by_profile<std::vector<std::string>>(profile, {"complete-mue", "mup", "sp"}, {"complete-mue", "mup", "sp"}, s.rules);
  return s;
}

ExperimentPlan tune_dense_once_plan(Profile profile) {
  const auto s = tune_once_settings(profile);
  ExperimentPlan plan;
  std::vector<std::string> targets;
  for (const auto& t : tune_once_targets(s.width, s.layers, s.wider, s.all_targets)) targets.push_back(t.name);
  plan.settings = {{"budget", to_json(s.budget)},
                   {"seeds", s.seeds},
                   {"target_seeds", s.target_seeds},
                   {"proxy_lr_calibration", to_json(capacity_calibration_settings(profile))},
                   {"needs_capacity_gate", true},
                   {"proxy_weight_decays", s.weight_decays},
                   {"proxy_init_stds", s.init_stds},
                   {"targets", targets},
                   {"target_lr_grid_step_log2", s.grid_step},
                   {"target_lr_grid_points", 2 * s.half + 1},
                   {"edge_extra_points_cap", s.edge.max_extra_points},
                   {"rules", s.rules},
                   {"control", "sp on the wider targets"}};
  plan.claims["regret"] = {"tune-dense-once", "loss at the transferred HPs minus the target's best (own sweep), nats",
                           VerdictKind::claim, Sidedness::at_most, 0.0, 0.01};
  plan.claims["regret control"] = as_control(plan.claims["regret"]);
  return plan;
}

/// Tune (η, λ, σ) once on the dense proxy: the capacity-bound task's shared LR calibration (at λ = 0.1,
/// σ = 0.02), then weight decay and init std at the tuned LR, each under the edge policy.
DenseCalibration tune_proxy(const TuneOnceSettings& s, const ExperimentOptions& o) {
  auto calibration = calibrate_capacity_proxy_lr("tune-dense-once", s.width, s.layers, o);
  CalibrationPlan rest;
  rest.weight_decays = s.weight_decays;
  rest.init_stds = s.init_stds;
  rest.seeds = s.seeds;
  rest.edge = s.edge;
  auto tuned = calibrate_dense_proxy(dense_proxy(s.width, s.layers), s.budget, rest,
                                     calibration.tuned, o);
  calibration.tuned = tuned.tuned;
  for (auto& sweep : tuned.sweeps) calibration.sweeps.push_back(std::move(sweep));
  return calibration;
}

/// The first proxy knob (lr, weight_decay, init_std) whose optimum is still at its grid edge after the
/// edge policy, or empty: the transferred point is then only a bound in that knob, so no regret through
/// it is measured (docs/claims.md, "Optima at a grid edge").
std::string proxy_knob_at_edge(const DenseCalibration& calibration) {
  for (const auto& sweep : calibration.sweeps)
    if (sweep.curve.optimum.at_edge) return sweep.knob;
  return {};
}

/// Per target: its own LR sweep's grid and losses sweep[seed][k], and the loss at the transferred HPs
/// of every rule, transferred[rule][seed].
struct TargetRuns {
  std::vector<double> grid;
  std::vector<std::vector<double>> sweep;
  std::map<std::string, std::vector<double>> transferred;
};

std::vector<TargetRuns> measure_targets(const TuneOnceSettings& s, const std::vector<Target>& targets,
                                        const BaseHyperparameters& tuned, const ExperimentOptions& o, CsvTable& runs_csv) {
  const auto job_at = [&](std::size_t t, const std::string& rule, double lr, int k) {
    Job j;
    j.shape = targets[t].shape;
    j.base_shape = dense_proxy(s.width, s.layers);
    j.base = tuned;
    j.base.lr = lr;
    j.rule = rule;
    j.budget = s.budget;  // the proxy's budget: same B and T (docs/theory.md §4, q = 1)
    j.seed = o.seed * 1000 + static_cast<std::uint64_t>(k) + 1;
    return j;
  };
  // Each target's own LR sweep (complete-mue, tuned λ and σ) under the edge policy, centred on the tuned
  // LR: its centre is complete-mue's transferred point.
  std::vector<double> initial_grid;
  for (const double lr : log2_grid(tuned.lr, s.half, s.grid_step)) initial_grid.push_back(std::log2(lr));
  const double transferred_x = std::log2(tuned.lr);
  const auto own = sweep_curves_until_interior(
      std::vector<std::vector<double>>(targets.size(), initial_grid), s.target_seeds,
      [&](std::size_t t, double x, int k) { return job_at(t, "complete-mue", std::exp2(x), k); }, s.edge, o,
      "tune-dense-once: target LR sweeps");
  const auto missing = std::numeric_limits<double>::quiet_NaN();
  const auto n_seeds = static_cast<std::size_t>(s.target_seeds);
  std::vector<TargetRuns> out(targets.size());
  for (std::size_t t = 0; t < targets.size(); ++t) {
    auto& m = out[t];
    m.grid = own.curves[t].log2_x;
    m.sweep.assign(n_seeds, std::vector<double>(m.grid.size(), missing));
    for (const auto& rule : s.rules) m.transferred[rule].assign(n_seeds, missing);
    for (const auto& r : own.runs[t]) {
      const auto k = static_cast<std::size_t>(std::lower_bound(m.grid.begin(), m.grid.end(), r.log2_x - 1e-12) - m.grid.begin());
      m.sweep[static_cast<std::size_t>(r.seed)][k] = r.loss;
      if (std::abs(r.log2_x - transferred_x) < 1e-9) m.transferred["complete-mue"][static_cast<std::size_t>(r.seed)] = r.loss;
      runs_csv.add_row({targets[t].name, std::string("complete-mue"), std::exp2(r.log2_x), static_cast<long long>(r.seed), r.loss});
    }
  }
  // Every other rule at the tuned HPs.
  std::vector<Job> jobs;
  std::vector<std::tuple<std::size_t, std::string, int>> where;
  for (std::size_t t = 0; t < targets.size(); ++t)
    for (const auto& rule : s.rules)
      if (rule != "complete-mue")
        for (int k = 0; k < s.target_seeds; ++k) {
          jobs.push_back(job_at(t, rule, tuned.lr, k));
          where.emplace_back(t, rule, k);
        }
  note(fmt::format("  {} transferred runs of the other rules", jobs.size()));
  const auto results = run_jobs(jobs, o.out_dir / "scratch", o.threads);
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto& [t, rule, k] = where[i];
    out[t].transferred[rule][static_cast<std::size_t>(k)] = results[i].loss;
    runs_csv.add_row({targets[t].name, rule, tuned.lr, static_cast<long long>(k), results[i].loss});
  }
  return out;
}

/// regret.md: one row per target, one cell per rule (regret [CI] verdict).
void write_regret_markdown(const TuneOnceSettings& s, const std::vector<Target>& targets, const BaseHyperparameters& tuned,
                           const std::map<std::string, std::map<std::string, std::string>>& cells,
                           const ExperimentOptions& o) {
  const auto& budget = s.budget;
  std::string text = fmt::format(
      "# tune-dense-once: regret of the dense-tuned hyperparameters on each MoE target\n\n"
      "Profile {}, capacity-bound task (order-2 Markov chain, docs/theory.md §9), {} steps (warm-up then WSD), "
      "batch {}x{}, {} seeds. Dense proxy d={}, L={}, H=d tuned once: lr = {:.4g}, weight_decay = {:.4g}, "
      "init_std = {:.4g}. Cell: regret in nats = loss at the transferred HPs minus the best loss of the target's own "
      "LR sweep (complete-mue parametrization, grid step {} octave + edge policy), [95% paired bootstrap CI over "
      "seeds] and its verdict against regret ≤ 0.01 nats (holds / fails / inconclusive; only complete-mue rows and SP "
      "on wider targets are judged).\n\n| target |",
      to_string(o.profile), budget.steps, budget.batch_size, budget.seq_len, s.target_seeds, s.width, s.layers,
      tuned.lr, tuned.weight_decay, tuned.init_std, s.grid_step);
  for (const auto& r : s.rules) text += " " + r + " |";
  text += "\n|---|";
  for (std::size_t r = 0; r < s.rules.size(); ++r) text += "---|";
  text += "\n";
  for (const auto& t : targets) {
    text += "| " + t.name + " |";
    for (const auto& r : s.rules) text += " " + cells.at(t.name).at(r) + " |";
    text += "\n";
  }
  write_file_atomically(o.out_dir / "regret.md", text);
}

VerdictReport run_tune_dense_once(const ExperimentOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto s = tune_once_settings(o.profile);
  const auto plan = tune_dense_once_plan(o.profile);
  note(fmt::format("tune-dense-once ({}): calibrating the dense proxy", to_string(o.profile)));
  const auto calibration = tune_proxy(s, o);
  write_calibration(calibration, o.out_dir);
  const auto targets = tune_once_targets(s.width, s.layers, s.wider, s.all_targets);
  CsvTable runs_csv({"target", "rule", "base_lr", "seed", "final_validation_loss"});
  const auto measured = measure_targets(s, targets, calibration.tuned, o, runs_csv);
  runs_csv.write(o.out_dir / "runs.csv");

  CsvTable sweeps_csv({"target", "log2_lr", "mean_loss", "standard_error"});
  CsvTable regret_csv({"target", "rule", "kind", "transferred_loss", "transferred_se", "best_loss", "regret", "ci_low", "ci_high",
                       "curvature", "own_sweep_edge", "verdict"});
  VerdictReport report;
  std::map<std::string, std::map<std::string, std::string>> cells;
  const std::string proxy_edge = proxy_knob_at_edge(calibration);
  const std::string proxy_edge_reason = fmt::format("optimum at grid edge (the dense proxy's {} sweep)", proxy_edge);
  std::uint64_t k = 0;
  for (std::size_t t = 0; t < targets.size(); ++t) {
    const auto& m = measured[t];
    std::vector<double> mean_curve;
    for (std::size_t q = 0; q < m.grid.size(); ++q) {
      std::vector<double> column;
      for (const auto& row : m.sweep) column.push_back(row[q]);
      const auto e = sim::mean_with_standard_error(column);
      mean_curve.push_back(e.mean);
      sweeps_csv.add_row({targets[t].name, m.grid[q], e.mean, e.standard_error});
    }
    const auto edge = locate_minimum(m.grid, mean_curve).edge;
    for (const auto& rule : s.rules) {
      const auto r = transfer_regret(m.transferred.at(rule), m.grid, m.sweep, o.seed + 53 * (++k));
      const bool control = rule == "sp" && targets[t].wider;
      const bool claim = rule == "complete-mue";
      const auto& spec = plan.claim(control ? "regret control" : "regret");
      const std::string name = fmt::format("regret of {} on {}{} (nats, paired over {} seeds)", rule, targets[t].name,
                                           control ? " (control)" : "", s.target_seeds);
      // A regret through an optimum at a grid edge (the target's own sweep, or the proxy's LR) is not measured.
      const auto row = edge != GridEdge::interior
                           ? not_measured(spec, name, "optimum at grid edge (the target's own LR sweep)", r.regret,
                                          r.ci.low, r.ci.high)
                       : !proxy_edge.empty() ? not_measured(spec, name, proxy_edge_reason, r.regret, r.ci.low, r.ci.high)
                                                 : judge(spec, name, r.regret, r.ci.low, r.ci.high);
      regret_csv.add_row({targets[t].name, rule, claim ? "claim" : (control ? "control" : "reported"), r.transferred_loss,
                          r.transferred_standard_error, r.best_loss, r.regret, r.ci.low, r.ci.high, r.curvature,
                          static_cast<long long>(edge != GridEdge::interior ? 1 : 0), to_string(row.outcome)});
      cells[targets[t].name][rule] = std::isfinite(r.regret) ? fmt::format("{:+.3f} [{:+.3f}, {:+.3f}] {}", r.regret, r.ci.low,
                                                                           r.ci.high, to_string(row.outcome))
                                                             : std::string("diverged");
      if (claim || control) report.verdicts.push_back(row);
    }
  }
  sweeps_csv.write(o.out_dir / "sweeps.csv");
  regret_csv.write(o.out_dir / "regret.csv");
  write_regret_markdown(s, targets, calibration.tuned, cells, o);
  judge_only_if_capacity_bound("tune-dense-once", report.verdicts, o.out_dir);
  note(fmt::format("tune-dense-once: {:.0f} s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  return report;
}

}  // namespace

Experiment make_tune_dense_once_experiment() {
  Experiment e;
  e.name = "tune-dense-once";
  e.description =
      "Tune LR, WD and init once on the dense proxy of the capacity-bound task, transfer with each rule source to MoE "
      "targets; regret vs each target's own LR sweep, at most 0.01 nats (SP on wider targets is the control); judged "
      "only where capacity-gate passed";
  e.claims = {"tune-dense-once"};
  e.plot_script = "tune_dense_once.py";
  e.run = run_tune_dense_once;
  e.plan = tune_dense_once_plan;
  return e;
}

}  // namespace muelab::experiments::transformer
