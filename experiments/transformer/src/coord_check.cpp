// coord-check (THEORY.md §9): coordinate sizes vs width for sp, mup, jiang and complete-mue. Tiny
// MoE transformers (N = 4, a = 1, h = d) take a few AdamW steps at the proxy's LR transferred by each
// rule; we log the residual-stream RMS of the last block (act_rms) at step 0 and at the last step and
// fit log-log slopes vs d of (i) the activation RMS after training and (ii) its change |Δ act_rms|,
// with bootstrap CIs over seeds. μP-type rules: |slope| < 0.1; SP is the control (expected ≈ +0.5..1).
#include "common.hpp"

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/experiments/output.hpp"

#include <fmt/format.h>

#include <cmath>

namespace muelab::experiments::transformer {

namespace {

VerdictReport run_coord_check(const ExperimentOptions& o) {
  const bool full = o.profile == Profile::full;
  const std::vector<std::int64_t> widths = full ? std::vector<std::int64_t>{32, 64, 128, 256, 512}
                                                : std::vector<std::int64_t>{32, 64, 128, 256};
  const std::vector<std::string> rules = {"sp", "mup", "jiang", "complete-mue"};
  const int n_seeds = full ? 5 : 3;
  Budget budget;
  budget.steps = 10;
  budget.warmup = 0;
  budget.eval_batches = 1;
  const std::int64_t L = 2;
  std::vector<Job> jobs;
  for (const auto& rule : rules)
    for (const auto d : widths)
      for (int s = 0; s < n_seeds; ++s) {
        Job j;
        j.shape.d_model = d;
        j.shape.d_expert = d;
        j.shape.n_layers = L;
        j.base_shape = dense_proxy(32, L);
        j.base.lr = 1e-2;
        j.rule = rule;
        j.budget = budget;
        j.seed = o.seed * 1000 + static_cast<std::uint64_t>(s) + 1;
        jobs.push_back(j);
      }
  note(fmt::format("coord-check ({}): {} training runs", to_string(o.profile), jobs.size()));
  const std::string column = fmt::format("act_rms_l{}", L - 1);
  const auto results = run_jobs(jobs, o.out_dir / "scratch", o.threads, {column});

  CsvTable sizes({"rule", "d_model", "seed", "step", "act_rms"});
  CsvTable slopes({"rule", "quantity", "slope", "ci_low", "ci_high"});
  VerdictReport report;
  std::size_t i = 0;
  for (std::size_t r = 0; r < rules.size(); ++r) {
    std::vector<std::vector<double>> final_act(static_cast<std::size_t>(n_seeds)), change(static_cast<std::size_t>(n_seeds));
    for (std::size_t w = 0; w < widths.size(); ++w)
      for (int s = 0; s < n_seeds; ++s, ++i) {
        const auto& log = results[i].log;
        for (std::size_t t = 0; t < log.size(); ++t)
          sizes.add_row({rules[r], static_cast<long long>(widths[w]), static_cast<long long>(s), static_cast<long long>(t),
                         log[t].at(column)});
        const double first = log.front().at(column), last = log.back().at(column);
        final_act[static_cast<std::size_t>(s)].push_back(last);
        change[static_cast<std::size_t>(s)].push_back(std::abs(last - first));
      }
    std::vector<double> axis;
    for (const auto d : widths) axis.push_back(static_cast<double>(d));
    const bool control = rules[r] == "sp";
    for (const auto& [quantity, values] :
         {std::pair<std::string, const std::vector<std::vector<double>>*>{"residual RMS after 10 steps", &final_act},
          {"abs change of residual RMS over 10 steps", &change}}) {
      const auto e = analysis::coordinate_slope(axis, *values, o.seed + 31 * r + quantity.size());
      slopes.add_row({rules[r], quantity, e.slope, e.ci.low, e.ci.high});
      report.verdicts.push_back(judge_within_tolerance(
          "coord-check",
          fmt::format("{}{}: log-log slope of {} vs d = {}..{}", control ? "control: " : "", rules[r], quantity,
                      widths.front(), widths.back()),
          control ? VerdictKind::control : VerdictKind::claim, e.slope, e.ci.low, e.ci.high, 0.0, 0.1));
    }
  }
  sizes.write(o.out_dir / "sizes.csv");
  slopes.write(o.out_dir / "slopes.csv");
  return report;
}

}  // namespace

Experiment make_coord_check_experiment() {
  return {"coord-check",
          "Residual-stream RMS and its change after 10 AdamW steps vs width for sp, mup, jiang, complete-mue (SP control)",
          {"coord-check"},
          "transformer_coord_check.py",
          run_coord_check};
}

}  // namespace muelab::experiments::transformer
