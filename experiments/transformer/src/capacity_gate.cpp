// capacity-gate (docs/claims.md `capacity-gate`): before any MoE-axis experiment is read on the
// capacity-bound task (docs/theory.md §9: an order-2 Markov chain on 32 tokens whose 1024 × 32 table
// a d = 32, H = d FFN cannot hold), check that the task actually needs FFN/expert capacity. At the
// dense proxy's tuned LR (the proxy is tuned on the same task, edge policy), with paired seeds:
//   * dense capacity: dense H = 4d beats H = d by ≥ 0.05 nats (and by ≥ 5 standard errors);
//   * expert capacity: N = 16 beats N = 4 at a = 1, h = d by ≥ 0.03 nats (≥ 3 standard errors);
//     note: with sigmoid gates normalized over the active set, a = 1 makes every gate exactly 1, so
//     the router gets no gradient and routes by its initial projection (no balancing is switched on);
//   * granularity: m = 4 (N = 16, a = 4, h = d/4) against m = 1 (N = 4, a = 1, h = d) at fixed N·h
//     and a/N differs measurably (CI excludes 0); the claim row predicts the sign (finer is better);
//   * positive control: the route scale removed (R = 1) at a = 8 costs ≥ 0.02 nats at the
//     transferred LR;
//   * control: the same dense H = d vs H = 4d comparison on the first-order chain (the old task,
//     where a bigram table suffices) must fail the dense-capacity band.
// The gate passes only when all four claim rows hold, the control fails and the proxy's LR optimum is
// interior; gate.json records the decision that the MoE-axis experiments read.
#include "common.hpp"
#include "dense_calibration.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/experiments/transformer_metrics.hpp"
#include "muelab/io/atomic_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <map>

namespace muelab::experiments::transformer {

namespace {

/// One trained configuration of the gate: a shape, its rule switches and the task it trains on.
struct Arm {
  std::string name;
  Shape shape;
  std::vector<std::string> switches;
  bool first_order_task = false;  ///< the control task (first-order chain) instead of markov-k
};

struct GateSettings {
  std::int64_t width = 32, layers = 2;
  Budget budget;               ///< markov-k task, warm-up then WSD
  Budget control_budget;       ///< the same on the first-order chain
  int seeds = 4;
  ProxyCalibrationSettings calibration;  ///< capacity_calibration_settings (shared with the experiments on this task)
  double min_dense_separation = 5.0, min_expert_separation = 3.0;  ///< in standard errors
};

GateSettings gate_settings(Profile profile) {
  GateSettings s;
  s.budget = capacity_bound_budget(profile);
  s.control_budget = s.budget;
  s.control_budget.data_source = "markov";  // first-order chain, same V and temperature
  s.seeds = by_profile(profile, 2, 2, 6);
  s.calibration = capacity_calibration_settings(profile);
  return s;
}

std::vector<Arm> gate_arms(const GateSettings& s) {
  const auto moe = [&](std::int64_t n, std::int64_t a, std::int64_t h) {
    Shape v;
    v.d_model = s.width;
    v.n_layers = s.layers;
    v.n_experts = n;
    v.n_active = a;
    v.d_expert = h;
    return v;
  };
  Shape wide = dense_proxy(s.width, s.layers);
  wide.d_ffn = 4 * s.width;
  const std::int64_t d = s.width;
  return {{"dense H=d", dense_proxy(s.width, s.layers), {}, false},
          {"dense H=4d", wide, {}, false},
          {"moe N=4 a=1 h=d", moe(4, 1, d), {}, false},
          {"moe N=16 a=1 h=d", moe(16, 1, d), {}, false},
          {"moe N=16 a=4 h=d/4 (m=4)", moe(16, 4, d / 4), {}, false},
          {"moe N=16 a=8 h=d", moe(16, 8, d), {}, false},
          {"moe N=16 a=8 h=d, R=1", moe(16, 8, d), {"rule.route_scale=none"}, false},
          {"first-order task: dense H=d", dense_proxy(s.width, s.layers), {}, true},
          {"first-order task: dense H=4d", wide, {}, true}};
}

/// A judged paired difference first − second (nats; positive: `second` is better).
struct GateRow {
  std::string key, first, second;
};
const std::vector<GateRow>& gate_rows() {
  static const std::vector<GateRow> rows = {
      {"dense capacity", "dense H=d", "dense H=4d"},
      {"expert capacity", "moe N=4 a=1 h=d", "moe N=16 a=1 h=d"},
      {"granularity", "moe N=4 a=1 h=d", "moe N=16 a=4 h=d/4 (m=4)"},
      {"route scale (positive control)", "moe N=16 a=8 h=d, R=1", "moe N=16 a=8 h=d"},
      {"dense capacity on the first-order task (control)", "first-order task: dense H=d", "first-order task: dense H=4d"}};
  return rows;
}

ExperimentPlan capacity_gate_plan(Profile profile) {
  const auto s = gate_settings(profile);
  ExperimentPlan plan;
  nlohmann::json arms = nlohmann::json::array();
  for (const auto& a : gate_arms(s)) arms.push_back(a.name);
  plan.settings = {{"task", to_json(s.budget)}, {"control_task", to_json(s.control_budget)},
                   {"seeds", s.seeds}, {"proxy", fmt::format("dense d={}, L={}, H=d", s.width, s.layers)},
                   {"start", {{"lr", s.calibration.start.lr}, {"weight_decay", s.calibration.start.weight_decay},
                              {"init_std", s.calibration.start.init_std}}},
                   {"calibration_lrs", s.calibration.lrs}, {"calibration_seeds", s.calibration.seeds},
                   {"edge_extra_points_cap", s.calibration.edge.max_extra_points}, {"arms", arms},
                   {"min_separation_se", {{"dense capacity", s.min_dense_separation},
                                          {"expert capacity", s.min_expert_separation}}},
                   {"router_at_a1", "every normalized gate is 1 at a = 1: the router gets no gradient (no balancing)"}};
  const auto diff = [](const std::string& what) { return "paired loss difference " + what + " (nats)"; };
  plan.claims["dense capacity"] = {"capacity-gate", diff("dense H=d − H=4d"), VerdictKind::claim, Sidedness::at_least, 0.05, 0.0};
  plan.claims["expert capacity"] = {"capacity-gate", diff("N=4 − N=16 at a=1, h=d"), VerdictKind::claim, Sidedness::at_least,
                                    0.03, 0.0};
  plan.claims["granularity"] = {"capacity-gate", diff("m=1 − m=4 at fixed N·h and a/N"), VerdictKind::claim,
                                Sidedness::at_least, 0.0, 0.0};
  plan.claims["route scale (positive control)"] = {"capacity-gate", diff("R=1 − R=a at N=16, a=8"), VerdictKind::claim,
                                                   Sidedness::at_least, 0.02, 0.0};
  plan.claims["dense capacity on the first-order task (control)"] = as_control(plan.claims["dense capacity"]);
  return plan;
}

struct ArmResults {
  std::vector<Arm> arms;
  std::vector<std::vector<double>> loss;  ///< [arm][seed]
  std::vector<std::uint64_t> seeds;
  double floor = 0.0, control_floor = 0.0;
};

/// Trains every arm at the tuned HPs (complete-mue from the dense proxy), one run_jobs call per task.
ArmResults measure_arms(const GateSettings& s, const BaseHyperparameters& tuned, const ExperimentOptions& o) {
  ArmResults out;
  out.arms = gate_arms(s);
  out.loss.assign(out.arms.size(), {});
  for (int k = 0; k < s.seeds; ++k) out.seeds.push_back(o.seed * 1000 + 900 + static_cast<std::uint64_t>(k));
  for (const bool first_order : {false, true}) {
    std::vector<Job> jobs;
    std::vector<std::size_t> arm_of;
    for (std::size_t a = 0; a < out.arms.size(); ++a) {
      if (out.arms[a].first_order_task != first_order) continue;
      for (const auto seed : out.seeds) {
        Job j;
        j.shape = out.arms[a].shape;
        j.base_shape = dense_proxy(s.width, s.layers);
        j.base = tuned;
        j.rule_switches = out.arms[a].switches;
        j.budget = first_order ? s.control_budget : s.budget;
        j.seed = seed;
        jobs.push_back(j);
        arm_of.push_back(a);
      }
    }
    const auto data = models::cpu::make_token_source(resolve(jobs.front()).data);
    (first_order ? out.control_floor : out.floor) = data->loss_floor(jobs.front().budget.seq_len);
    note(fmt::format("  {} runs on the {} task ({})", jobs.size(), first_order ? "first-order" : "capacity-bound",
                     data->description()));
    const auto results = run_jobs(jobs, o.out_dir / "scratch", o.threads);
    for (std::size_t i = 0; i < jobs.size(); ++i) out.loss[arm_of[i]].push_back(results[i].loss);
  }
  return out;
}

std::size_t arm_index(const ArmResults& r, const std::string& name) {
  for (std::size_t a = 0; a < r.arms.size(); ++a)
    if (r.arms[a].name == name) return a;
  throw std::logic_error("capacity-gate: no arm " + name);
}

VerdictReport run_capacity_gate(const ExperimentOptions& o) {
  const auto s = gate_settings(o.profile);
  const auto plan = capacity_gate_plan(o.profile);
  const auto start = std::chrono::steady_clock::now();
  const auto calibration = calibrate_capacity_proxy_lr("capacity-gate", s.width, s.layers, o);
  write_calibration(calibration, o.out_dir);
  const auto runs = measure_arms(s, calibration.tuned, o);

  CsvTable runs_csv({"arm", "task", "seed", "final_validation_loss", "excess_over_floor"});
  CsvTable arms_csv({"arm", "task", "mean_loss", "standard_error", "mean_excess", "loss_floor"});
  for (std::size_t a = 0; a < runs.arms.size(); ++a) {
    const bool first_order = runs.arms[a].first_order_task;
    const double floor = first_order ? runs.control_floor : runs.floor;
    const std::string task = first_order ? "first-order" : "markov-k";
    for (std::size_t k = 0; k < runs.seeds.size(); ++k)
      runs_csv.add_row({runs.arms[a].name, task, static_cast<long long>(runs.seeds[k]), runs.loss[a][k],
                        runs.loss[a][k] - floor});
    const auto e = sim::mean_with_standard_error(runs.loss[a]);
    arms_csv.add_row({runs.arms[a].name, task, e.mean, e.standard_error, e.mean - floor, floor});
  }

  CsvTable gate_csv({"row", "kind", "first", "second", "difference", "standard_error", "separation_se", "ci_low", "ci_high",
                     "bound", "verdict"});
  VerdictReport report;
  std::map<std::string, PairedDifference> measured;
  for (const auto& row : gate_rows()) {
    const auto d = paired_difference(runs.loss[arm_index(runs, row.first)], runs.loss[arm_index(runs, row.second)]);
    measured[row.key] = d;
    const auto& spec = plan.claim(row.key);
    const auto name = fmt::format("{}: {} minus {} ({:.1f} SE)", row.key, row.first, row.second, d.separation);
    const auto v = lr_at_edge(calibration) ? not_measured(spec, name, kProxyEdgeReason, d.mean, d.ci.low, d.ci.high)
                                           : judge(spec, name, d.mean, d.ci.low, d.ci.high);
    gate_csv.add_row({row.key, to_string(spec.kind), row.first, row.second, d.mean, d.standard_error, d.separation, d.ci.low,
                      d.ci.high, spec.describe(), to_string(v.outcome)});
    report.verdicts.push_back(v);
  }

  // The gate (docs/claims.md `capacity-gate`): every claim row holds with its separation, the
  // granularity difference excludes 0, the control fails, and the proxy's LR is interior.
  std::vector<std::string> reasons;
  for (const auto& v : report.verdicts)
    if (!v.as_expected()) reasons.push_back(fmt::format("{} is {}", v.case_name, to_string(v.outcome)));
  if (measured["dense capacity"].separation < s.min_dense_separation)
    reasons.push_back(fmt::format("dense capacity separated by {:.1f} SE (< {})", measured["dense capacity"].separation,
                                  s.min_dense_separation));
  if (measured["expert capacity"].separation < s.min_expert_separation)
    reasons.push_back(fmt::format("expert capacity separated by {:.1f} SE (< {})", measured["expert capacity"].separation,
                                  s.min_expert_separation));
  const auto& g = measured["granularity"];
  if (!(g.ci.low > 0.0 || g.ci.high < 0.0)) reasons.push_back("granularity difference CI includes 0");
  if (lr_at_edge(calibration)) reasons.push_back(kProxyEdgeReason);
  nlohmann::json gate = {{"capacity_bound", reasons.empty()},
                         {"profile", to_string(o.profile)},
                         {"reasons", reasons},
                         {"loss_floor", runs.floor},
                         {"tuned", {{"lr", calibration.tuned.lr}, {"weight_decay", calibration.tuned.weight_decay},
                                    {"init_std", calibration.tuned.init_std}}},
                         {"task", to_json(s.budget)}};
  io::write_file_atomically(o.out_dir / "gate.json", gate.dump(2) + "\n");
  runs_csv.write(o.out_dir / "runs.csv");
  arms_csv.write(o.out_dir / "arms.csv");
  gate_csv.write(o.out_dir / "gate.csv");
  note(fmt::format("capacity-gate: the task is {}capacity-bound{}; {:.0f} s", reasons.empty() ? "" : "NOT ",
                   reasons.empty() ? "" : " (" + reasons.front() + ")",
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()));
  return report;
}

}  // namespace

Experiment make_capacity_gate_experiment() {
  Experiment e;
  e.name = "capacity-gate";
  e.description =
      "Does the order-2 Markov task need FFN/expert capacity? dense H=4d vs H=d, N=16 vs N=4, granularity, R=1 at a=8 "
      "(positive control), first-order task (control); at the dense-tuned LR, paired seeds";
  e.claims = {"capacity-gate"};
  e.plot_script = "capacity_gate.py";
  e.run = run_capacity_gate;
  e.plan = capacity_gate_plan;
  return e;
}

}  // namespace muelab::experiments::transformer
