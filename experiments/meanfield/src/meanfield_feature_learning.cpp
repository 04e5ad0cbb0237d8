// `meanfield-feature-learning` (docs/theory.md §8 "SP vs μP"; claim `coord-check` of docs/claims.md):
// SP/NTK (lazy) vs μP / Complete-muE (feature learning) in erf two-layer dense and sigmoid-routed MoE
// layers. The claim: the log-log slope of the relative feature movement against width is flat
// (0 ± 0.1) under μP / Complete-muE. Controls: the same layers under SP/NTK scaling, where the movement
// vanishes as width^{-1/2} (judged against the claim's band: they must fail).
#include "common.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/sim/meanfield/nonlinear_network.hpp"
#include "slope_fits.hpp"

#include <fmt/format.h>

namespace muelab::experiments::meanfield {

using namespace muelab::sim::meanfield;

namespace {

/// The lazy (SP/NTK) theory slope, written to the fits CSV next to the controls (not a judged band).
constexpr double kLazyTheorySlope = -0.5;

/// What one profile runs (docs/claims.md, "Plans").
struct FeatureLearningSettings {
  int seeds = 6, steps = 100;
  std::vector<int> widths;
  double learning_rate = 0.5;
  int samples = 64;  ///< fixed Gaussian sample size of every run
};

FeatureLearningSettings feature_learning_settings(Profile profile) {
  FeatureLearningSettings s;
  s.seeds = by_profile(profile, 3, 6, 16);
  s.steps = by_profile(profile, 30, 100, 200);
  s.widths = by_profile<std::vector<int>>(profile, {32, 64, 128}, {32, 64, 128, 256, 512},
                                          {32, 64, 128, 256, 512, 1024, 2048});
  return s;
}

ExperimentPlan meanfield_feature_learning_plan(Profile profile) {
  const auto s = feature_learning_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"seeds", s.seeds}, {"steps", s.steps}, {"expert_widths", s.widths},
                   {"learning_rate", s.learning_rate}, {"samples", s.samples}, {"bootstrap_resamples", kBootstrapResamples}};
  plan.claims["flat"] = {"coord-check", "log-log slope of the relative feature movement against width",
                         VerdictKind::claim, Sidedness::two_sided, 0.0, 0.1};
  plan.claims["lazy control"] = as_control(plan.claims["flat"]);
  return plan;
}

struct FeatureCase {
  std::string name;
  int n_experts;
  int n_active;
  WidthScaling scaling;
  [[nodiscard]] bool lazy() const { return scaling == WidthScaling::ntk; }
};

const std::vector<FeatureCase>& feature_cases() {
  static const std::vector<FeatureCase> cases = {
      {"dense, muP (mean-field)", 1, 1, WidthScaling::mean_field},
      {"dense, SP/NTK", 1, 1, WidthScaling::ntk},
      {"MoE N=4 a=2 learned sigmoid router, Complete-muE", 4, 2, WidthScaling::mean_field},
      {"MoE N=4 a=2 learned sigmoid router, SP/NTK", 4, 2, WidthScaling::ntk}};
  return cases;
}

/// Measure: runs[width][seed] of one case; one job per (width, seed), stored by index.
std::vector<std::vector<ErfRun>> measure_case(const FeatureCase& kase, const FeatureLearningSettings& s,
                                              const sim::CounterRng& rng) {
  const auto seeds = static_cast<std::size_t>(s.seeds);
  std::vector<std::vector<ErfRun>> runs(s.widths.size(), std::vector<ErfRun>(seeds));
#pragma omp parallel for schedule(dynamic, 1)
  for (long long job = 0; job < static_cast<long long>(s.widths.size() * seeds); ++job) {
    const auto w = static_cast<std::size_t>(job) / seeds;
    const auto r = static_cast<std::size_t>(job) % seeds;
    ErfNetworkSpec spec;
    spec.n_experts = kase.n_experts;
    spec.n_active = kase.n_active;
    spec.expert_width = s.widths[w];
    spec.scaling = kase.scaling;
    spec.learning_rate = s.learning_rate;
    spec.steps = s.steps;
    spec.samples = s.samples;
    runs[w][r] = train_erf_network(spec, rng, (w << 32) + r, 0);
  }
  return runs;
}

/// Table: per-seed feature movement and final loss, and the seed-mean loss curve per width.
void table_case(const FeatureCase& kase, const std::vector<int>& widths, const std::vector<std::vector<ErfRun>>& runs,
                CsvTable& movement, CsvTable& curves) {
  for (std::size_t w = 0; w < widths.size(); ++w) {
    const auto seeds = static_cast<double>(runs[w].size());
    std::vector<double> mean_curve(runs[w].front().loss.size(), 0.0);
    for (std::size_t r = 0; r < runs[w].size(); ++r) {
      const auto& run = runs[w][r];
      movement.add_row({kase.name, static_cast<long long>(widths[w]), static_cast<long long>(r),
                        run.relative_feature_movement, run.loss.back()});
      for (std::size_t k = 0; k < run.loss.size(); ++k) mean_curve[k] += run.loss[k] / seeds;
    }
    for (std::size_t k = 0; k < mean_curve.size(); ++k)
      curves.add_row({kase.name, static_cast<long long>(widths[w]), static_cast<long long>(k), mean_curve[k]});
  }
}

/// Judge: the log-log slope of the relative feature movement against width.
Verdict judge_case(const FeatureCase& kase, const std::vector<int>& widths, const std::vector<std::vector<ErfRun>>& runs,
                   const ExperimentPlan& plan, std::uint64_t bootstrap_seed, CsvTable& fits) {
  const std::vector<double> sizes(widths.begin(), widths.end());
  std::vector<std::vector<double>> samples(widths.size());
  for (std::size_t w = 0; w < widths.size(); ++w)
    for (const auto& run : runs[w]) samples[w].push_back(run.relative_feature_movement);
  const auto& claim = plan.claim(kase.lazy() ? "lazy control" : "flat");
  auto [slope, verdict] = judge_power_law_slope(
      claim,
      fmt::format("{}: relative feature movement vs width h, log-log slope ({} seeds{})", kase.name,
                  samples.empty() ? std::size_t{0} : samples.front().size(),
                  kase.lazy() ? "; lazy: theory -1/2" : ""),
      sizes, samples, bootstrap_seed);
  fits.add_row({kase.name, slope.slope, slope.ci_low, slope.ci_high, slope.fit_standard_error,
                kase.lazy() ? kLazyTheorySlope : claim.predicted, to_string(claim.kind)});
  return verdict;
}

VerdictReport run_meanfield_feature_learning(const ExperimentOptions& options) {
  const auto settings = feature_learning_settings(options.profile);
  const auto plan = meanfield_feature_learning_plan(options.profile);
  VerdictReport report;
  CsvTable movement({"case", "expert_width", "seed", "relative_feature_movement", "final_loss"});
  CsvTable curves({"case", "expert_width", "step", "mean_loss"});
  CsvTable fits({"case", "slope", "ci_low", "ci_high", "fit_standard_error", "predicted", "kind"});
  const sim::CounterRng rng(options.seed, 0xfe);
  const auto& cases = feature_cases();
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const auto runs = measure_case(cases[c], settings, rng);
    table_case(cases[c], settings.widths, runs, movement, curves);
    report.verdicts.push_back(judge_case(cases[c], settings.widths, runs, plan, options.seed + 400 + c, fits));
  }
  movement.write(options.out_dir / "feature_movement.csv");
  curves.write(options.out_dir / "feature_learning_loss.csv");
  fits.write(options.out_dir / "feature_learning_fits.csv");
  return report;
}

}  // namespace

Experiment make_meanfield_feature_learning_experiment() {
  Experiment e;
  e.name = "meanfield-feature-learning";
  e.description = "erf dense and sigmoid-routed MoE layers: relative feature movement vs width is Theta(1) under "
                  "muP/Complete-muE, vanishes under SP/NTK";
  e.claims = {"coord-check"};
  e.plot_script = "meanfield_feature_learning.py";
  e.plan = meanfield_feature_learning_plan;
  e.run = run_meanfield_feature_learning;
  return e;
}

}  // namespace muelab::experiments::meanfield
