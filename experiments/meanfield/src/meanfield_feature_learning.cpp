// SP/NTK (lazy) vs μP / Complete-muE (feature learning) in erf two-layer dense and sigmoid-routed MoE
// layers (THEORY.md §8 "SP vs μP"). Verdicts under `coord-check` (log-log slope of the relative
// feature movement vs width: |slope| < 0.1 under μP/Complete-muE; the NTK/SP rows are controls).
#include "nonlinear_experiments.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/sim/meanfield/nonlinear_network.hpp"
#include "slope_fits.hpp"

#include <fmt/format.h>

namespace muelab::experiments::meanfield {

using namespace muelab::sim::meanfield;

namespace {
/// What one profile runs (docs/claims.md, "Plans").
struct FeatureLearningSettings {
  int seeds = 6, steps = 100;
  std::vector<int> widths;
};

FeatureLearningSettings feature_learning_settings(Profile profile) {
  FeatureLearningSettings s;
  s.seeds = by_profile(profile, 3, 6, 16);
  s.steps = by_profile(profile, 30, 100, 200);
  s.widths = by_profile<std::vector<int>>(profile, {32, 64, 128}, {32, 64, 128, 256, 512},
                                          {32, 64, 128, 256, 512, 1024, 2048});
  return s;
}
}  // namespace

ExperimentPlan meanfield_feature_learning_plan(Profile profile) {
  const auto s = feature_learning_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"seeds", s.seeds}, {"steps", s.steps}, {"expert_widths", s.widths}, {"learning_rate", 0.5},
                   {"samples", 64}};
  plan.claims["flat"] = {"coord-check", "log-log slope of the relative feature movement against width",
                         VerdictKind::claim, Sidedness::two_sided, 0.0, 0.1};
  plan.claims["lazy control"] = as_control(plan.claims["flat"]);
  return plan;
}

VerdictReport run_meanfield_feature_learning(const ExperimentOptions& options) {
  const auto settings = feature_learning_settings(options.profile);
  const auto plan = meanfield_feature_learning_plan(options.profile);
  const int seeds = settings.seeds;
  const std::vector<int> widths = settings.widths;
  struct Case {
    std::string name;
    int n_experts;
    int n_active;
    WidthScaling scaling;
  };
  const std::vector<Case> cases = {{"dense, muP (mean-field)", 1, 1, WidthScaling::mean_field},
                                   {"dense, SP/NTK", 1, 1, WidthScaling::ntk},
                                   {"MoE N=4 a=2 learned sigmoid router, Complete-muE", 4, 2, WidthScaling::mean_field},
                                   {"MoE N=4 a=2 learned sigmoid router, SP/NTK", 4, 2, WidthScaling::ntk}};
  VerdictReport report;
  CsvTable movement({"case", "expert_width", "seed", "relative_feature_movement", "final_loss"});
  CsvTable curves({"case", "expert_width", "step", "mean_loss"});
  CsvTable fits({"case", "slope", "ci_low", "ci_high", "fit_standard_error", "predicted", "kind"});
  const sim::CounterRng rng(options.seed, 0xfe);
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const auto& kase = cases[c];
    std::vector<ErfRun> runs(widths.size() * static_cast<std::size_t>(seeds));
#pragma omp parallel for schedule(dynamic, 1)
    for (long long job = 0; job < static_cast<long long>(runs.size()); ++job) {
      const auto w = static_cast<std::size_t>(job / seeds);
      const auto s = static_cast<std::uint64_t>(job % seeds);
      ErfNetworkSpec spec;
      spec.n_experts = kase.n_experts;
      spec.n_active = kase.n_active;
      spec.expert_width = widths[w];
      spec.scaling = kase.scaling;
      spec.learning_rate = 0.5;
      spec.steps = settings.steps;
      spec.samples = 64;
      runs[static_cast<std::size_t>(job)] = train_erf_network(spec, rng, (w << 32) + s, 0);
    }
    std::vector<double> sizes;
    std::vector<std::vector<double>> samples(widths.size());
    for (std::size_t w = 0; w < widths.size(); ++w) {
      sizes.push_back(widths[w]);
      std::vector<double> mean_curve(runs[w * static_cast<std::size_t>(seeds)].loss.size(), 0.0);
      for (int s = 0; s < seeds; ++s) {
        const auto& run = runs[w * static_cast<std::size_t>(seeds) + static_cast<std::size_t>(s)];
        samples[w].push_back(run.relative_feature_movement);
        movement.add_row({kase.name, static_cast<long long>(widths[w]), static_cast<long long>(s),
                          run.relative_feature_movement, run.loss.back()});
        for (std::size_t k = 0; k < run.loss.size(); ++k) mean_curve[k] += run.loss[k] / seeds;
      }
      for (std::size_t k = 0; k < mean_curve.size(); ++k)
        curves.add_row({kase.name, static_cast<long long>(widths[w]), static_cast<long long>(k), mean_curve[k]});
    }
    const bool lazy = kase.scaling == WidthScaling::ntk;
    const auto [slope, verdict] = judge_power_law_slope(
        plan.claim(lazy ? "lazy control" : "flat"),
        fmt::format("{}: relative feature movement vs width h, log-log slope ({} seeds{})", kase.name, seeds,
                    lazy ? "; lazy: theory -1/2" : ""),
        sizes, samples, options.seed + 400 + c);
    fits.add_row({kase.name, slope.slope, slope.ci_low, slope.ci_high, slope.fit_standard_error, lazy ? -0.5 : 0.0,
                  std::string(lazy ? "control" : "claim")});
    report.verdicts.push_back(verdict);
  }
  movement.write(options.out_dir / "feature_movement.csv");
  curves.write(options.out_dir / "feature_learning_loss.csv");
  fits.write(options.out_dir / "feature_learning_fits.csv");
  return report;
}

}  // namespace muelab::experiments::meanfield
