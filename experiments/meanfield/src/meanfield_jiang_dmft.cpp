// `meanfield-jiang-dmft`: Jiang et al.'s DMFT quantities at initialization (docs/theory.md §6).
// 1. The accumulated residual-stream variance (1/d)|x_L − x_0|² at init scales as α*/κ = d/(a·h·L):
//    log-log slope −1 against L, against a at fixed κ = a/N and against h/d, flat against d. Claim
//    `jiang-dmft-scaling` (docs/claims.md; docs/theory.md §9 has no Jiang-specific id, and
//    `coord-check`'s |slope| < 0.1 is a different prediction). Controls: branch multiplier 1/√L
//    instead of 1/L, fan-in expert down init 1/√h instead of √d/h (both must leave −1).
// 2. The top-a routing threshold becomes the (1−κ) quantile of the gate score, its spread over
//    tokens shrinking as N^{-1/2} at fixed κ: claim `meanfield-convergence` (deviation from the limit
//    vs N, slope −1/2). Control: a fixed (κ → 0), where the logit threshold does not converge that way.
#include "common.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/sim/meanfield/jiang_dmft.hpp"
#include "muelab/sim/statistics.hpp"
#include "slope_fits.hpp"

#include <fmt/format.h>

#include <cmath>

namespace muelab::experiments::meanfield {

using namespace muelab::sim::meanfield;

namespace {

/// What one profile runs (docs/claims.md, "Plans").
struct JiangSettings {
  int seeds = 16, tokens = 32, threshold_tokens = 256;
  std::vector<int> depths, actives, expert_widths, model_widths, expert_counts;
  ResidualMoeStack base;        ///< every variance sweep varies one size of this stack (d = h = 64, N = 16, a = 4, L = 4)
  int router_width = 64;        ///< d of the routing-threshold draws
  int control_active = 4;       ///< a of the threshold control (κ → 0 as N grows)
  double threshold_kappa = 0.25;
};

JiangSettings jiang_settings(Profile profile) {
  JiangSettings s;
  s.seeds = by_profile(profile, 4, 16, 64);
  s.tokens = by_profile(profile, 8, 32, 64);
  s.threshold_tokens = by_profile(profile, 64, 256, 1024);
  s.depths = by_profile<std::vector<int>>(profile, {1, 2, 4}, {1, 2, 4, 8, 16}, {1, 2, 4, 8, 16});
  s.actives = by_profile<std::vector<int>>(profile, {1, 2, 4}, {1, 2, 4, 8, 16}, {1, 2, 4, 8, 16});
  s.expert_widths = by_profile<std::vector<int>>(profile, {16, 32, 64}, {16, 32, 64, 128, 256}, {16, 32, 64, 128, 256});
  s.model_widths = by_profile<std::vector<int>>(profile, {32, 64, 128}, {32, 64, 128, 256}, {32, 64, 128, 256});
  s.expert_counts = by_profile<std::vector<int>>(profile, {16, 32, 64}, {16, 32, 64, 128, 256, 512, 1024},
                                                 {16, 32, 64, 128, 256, 512, 1024, 2048, 4096});
  return s;
}

/// One residual-variance sweep: the stack shapes along one size, the plan key that judges its slope.
struct VarianceSweep {
  std::string name;       ///< the "sweep" column of the CSVs (the plot script selects by it)
  std::string claim_key;  ///< plan key
  std::string case_name;  ///< the verdict row's case
  std::vector<ResidualMoeStack> shapes;
  std::vector<double> sizes;
};

std::string range_text(const std::vector<int>& values) {
  return values.empty() ? std::string("none") : fmt::format("{}…{}", values.front(), values.back());
}

/// The six sweeps, in the order their bootstrap seeds are numbered (depth, its control, a, h/d, its control, d).
std::vector<VarianceSweep> variance_sweeps(const JiangSettings& settings) {
  const auto& b = settings.base;
  VarianceSweep depth{"depth L", "variance slope -1",
                      fmt::format("accumulated residual-stream variance (1/d)|x_L − x_0|² at init vs depth L = {} "
                                  "(branch 1/L, expert down init √d/h; α*/κ ∝ 1/L), log-log slope",
                                  range_text(settings.depths)), {}, {}};
  VarianceSweep depth_control{"depth L, branch 1/sqrt(L)", "variance slope -1 control",
                              fmt::format("control: branch multiplier 1/√L instead of 1/L, residual variance at init vs "
                                          "depth L = {}, log-log slope", range_text(settings.depths)), {}, {}};
  for (const int L : settings.depths) {
    auto s = b;
    s.n_blocks = L;
    depth.shapes.push_back(s);
    depth.sizes.push_back(L);
    s.branch_exponent = 0.5;
    depth_control.shapes.push_back(s);
    depth_control.sizes.push_back(L);
  }
  VarianceSweep active{"active a at kappa=1/4", "variance slope -1",
                       fmt::format("accumulated residual-stream variance at init vs active experts a = {} at fixed "
                                   "κ = a/N = 1/4 (α*/κ ∝ 1/a), log-log slope", range_text(settings.actives)), {}, {}};
  for (const int a : settings.actives) {
    auto s = b;
    s.n_active = a;
    s.n_experts = 4 * a;
    active.shapes.push_back(s);
    active.sizes.push_back(a);
  }
  VarianceSweep ratio{"expert width h/d", "variance slope -1",
                      fmt::format("accumulated residual-stream variance at init vs h/d, h = {} at d = {} (expert down "
                                  "init √d/h; α*/κ ∝ d/h), log-log slope", range_text(settings.expert_widths), b.model_width),
                      {}, {}};
  VarianceSweep ratio_control{"expert width h/d, fan-in down", "variance slope -1 control",
                              fmt::format("control: fan-in expert down init 1/√h, residual variance at init vs h/d "
                                          "(h = {}), log-log slope", range_text(settings.expert_widths)), {}, {}};
  for (const int h : settings.expert_widths) {
    auto s = b;
    s.expert_width = h;
    ratio.shapes.push_back(s);
    ratio.sizes.push_back(static_cast<double>(h) / b.model_width);
    s.down_init = ExpertDownInit::fan_in;
    ratio_control.shapes.push_back(s);
    ratio_control.sizes.push_back(static_cast<double>(h) / b.model_width);
  }
  VarianceSweep width{"model width d at h/d=1", "variance flat in d",
                      fmt::format("accumulated residual-stream variance at init vs model width d = {} at h/d = 1 "
                                  "(α*/κ flat in d), log-log slope", range_text(settings.model_widths)), {}, {}};
  for (const int d : settings.model_widths) {
    auto s = b;
    s.model_width = d;
    s.expert_width = d;
    width.shapes.push_back(s);
    width.sizes.push_back(d);
  }
  return {depth, depth_control, active, ratio, ratio_control, width};
}

/// values[size][seed] of one sweep or series.
using SeedTable = std::vector<std::vector<double>>;

/// Measure: the accumulated residual variance of every (sweep, size, seed), one job each; results are
/// stored by index, so any thread count gives the same numbers.
std::vector<SeedTable> measure_residual_variance(const std::vector<VarianceSweep>& sweeps, const JiangSettings& settings,
                                                 std::uint64_t seed) {
  struct Job {
    std::size_t sweep, size;
    int seed;
  };
  std::vector<Job> jobs;
  std::vector<SeedTable> values;
  for (std::size_t s = 0; s < sweeps.size(); ++s) {
    values.emplace_back(sweeps[s].shapes.size(), std::vector<double>(static_cast<std::size_t>(settings.seeds)));
    for (std::size_t k = 0; k < sweeps[s].shapes.size(); ++k)
      for (int r = 0; r < settings.seeds; ++r) jobs.push_back({s, k, r});
  }
  const sim::CounterRng rng(seed, 0x1a);
#pragma omp parallel for schedule(dynamic, 1)
  for (long long j = 0; j < static_cast<long long>(jobs.size()); ++j) {
    const Job& job = jobs[static_cast<std::size_t>(j)];
    // Path = seed: the same seed draws the same tokens and (where shapes agree) the same weights across sweeps.
    values[job.sweep][job.size][static_cast<std::size_t>(job.seed)] = accumulated_residual_variance(
        sweeps[job.sweep].shapes[job.size], settings.tokens, rng, static_cast<std::uint64_t>(job.seed));
  }
  return values;
}

/// Table: one row per (sweep, size, seed) of jiang_residual_variance.csv.
void table_residual_variance(const VarianceSweep& sweep, const SeedTable& values, CsvTable& rows) {
  for (std::size_t k = 0; k < sweep.shapes.size(); ++k) {
    const auto& shape = sweep.shapes[k];
    const double alpha_over_kappa = static_cast<double>(shape.model_width) /
                                    (static_cast<double>(shape.expert_width) * shape.n_active * shape.n_blocks);
    for (std::size_t seed = 0; seed < values[k].size(); ++seed)
      rows.add_row({sweep.name, sweep.sizes[k], static_cast<long long>(shape.model_width),
                    static_cast<long long>(shape.expert_width), static_cast<long long>(shape.n_experts),
                    static_cast<long long>(shape.n_active), static_cast<long long>(shape.n_blocks), shape.branch_exponent,
                    std::string(shape.down_init == ExpertDownInit::fan_in ? "fan-in" : "jiang"),
                    static_cast<long long>(seed), values[k][seed], alpha_over_kappa});
  }
}

/// The spread over tokens of the top-a routing threshold per (N, seed), on the gate and the logit scale.
struct ThresholdSeries {
  std::string name;  ///< "series" column
  std::vector<int> actives;
  SeedTable gate_mean, gate_sd, logit_mean, logit_sd;
};

/// Measure: fixed κ (a = κN) or the control (a fixed).
ThresholdSeries measure_thresholds(const JiangSettings& settings, bool fixed_kappa, std::uint64_t seed) {
  const auto& counts = settings.expert_counts;
  const auto seeds = static_cast<std::size_t>(settings.seeds);
  ThresholdSeries series{fixed_kappa ? "kappa = 1/4" : "a = 4 fixed (control)", {}, {}, {}, {}, {}};
  for (const int n : counts)
    series.actives.push_back(fixed_kappa ? static_cast<int>(std::lround(settings.threshold_kappa * n)) : settings.control_active);
  series.gate_sd.assign(counts.size(), std::vector<double>(seeds));
  series.gate_mean = series.logit_sd = series.logit_mean = series.gate_sd;
  const sim::CounterRng rng(seed, fixed_kappa ? 0x7a : 0x7b);
  const double root = std::sqrt(static_cast<double>(settings.threshold_tokens));
  const auto n_jobs = static_cast<long long>(counts.size() * seeds);
#pragma omp parallel for schedule(dynamic, 1)
  for (long long job = 0; job < n_jobs; ++job) {
    const auto k = static_cast<std::size_t>(job) / seeds;
    const auto s = static_cast<std::size_t>(job) % seeds;
    const auto thresholds =
        routing_thresholds(settings.router_width, counts[k], series.actives[k], settings.threshold_tokens, rng, (k << 32) + s);
    const auto gate = sim::mean_with_standard_error(thresholds.gate);
    const auto logit = sim::mean_with_standard_error(thresholds.logit);
    series.gate_mean[k][s] = gate.mean;
    series.gate_sd[k][s] = gate.standard_error * root;
    series.logit_mean[k][s] = logit.mean;
    series.logit_sd[k][s] = logit.standard_error * root;
  }
  return series;
}

/// Table: one row per (N, seed) of jiang_routing_threshold.csv, with the order-statistic prediction.
void table_thresholds(const ThresholdSeries& series, const std::vector<int>& counts, CsvTable& rows) {
  for (std::size_t k = 0; k < counts.size(); ++k) {
    const int n = counts[k], a = series.actives[k];
    const auto prediction = routing_threshold_prediction(static_cast<double>(a) / n, n);
    for (std::size_t seed = 0; seed < series.gate_sd[k].size(); ++seed)
      rows.add_row({series.name, static_cast<long long>(n), static_cast<long long>(a), static_cast<long long>(seed),
                    series.gate_mean[k][seed], series.gate_sd[k][seed], series.logit_mean[k][seed],
                    series.logit_sd[k][seed], prediction.threshold, prediction.standard_deviation});
  }
}

std::vector<double> as_sizes(const std::vector<int>& values) { return {values.begin(), values.end()}; }

void add_fit(CsvTable& fits, const std::string& name, const SlopeEstimate& slope, double predicted, const std::string& kind) {
  fits.add_row({name, slope.slope, slope.ci_low, slope.ci_high, slope.fit_standard_error, predicted, kind});
}

/// Judge: the threshold's spread vs N. The claim (fixed κ) on the sigmoid gate and on the logit; the
/// control (fixed a, κ → 0) on the logit only, since on the gate scale the sigmoid's saturation in the
/// upper tail also shrinks the spread and would mix two effects (its gate-scale slope is still written
/// to jiang_fits.csv).
void judge_thresholds(const ThresholdSeries& series, bool fixed_kappa, const JiangSettings& settings,
                      const ExperimentPlan& plan, std::uint64_t seed, CsvTable& fits, VerdictReport& report) {
  const auto sizes = as_sizes(settings.expert_counts);
  const auto gate = power_law_slope_over_seeds(sizes, series.gate_sd, seed + 300 + (fixed_kappa ? 0 : 1));
  const auto logit = power_law_slope_over_seeds(sizes, series.logit_sd, seed + 310 + (fixed_kappa ? 0 : 1));
  const auto& claim = plan.claim(fixed_kappa ? "threshold" : "threshold control");
  const std::string kind = fixed_kappa ? "claim" : "control";
  add_fit(fits, "gate threshold sd, " + series.name, gate, claim.predicted,
          kind + (fixed_kappa ? "" : " (not judged: sigmoid saturation)"));
  add_fit(fits, "logit threshold sd, " + series.name, logit, claim.predicted, kind);
  const auto counts = range_text(settings.expert_counts);
  if (fixed_kappa) {
    report.verdicts.push_back(slope_verdict(
        claim,
        fmt::format("routing threshold (a-th largest sigmoid gate) at κ = 1/4: sd over tokens vs N = {}, log-log slope "
                    "({} seeds)", counts, settings.seeds),
        gate));
    report.verdicts.push_back(slope_verdict(
        claim,
        fmt::format("routing threshold on the logit at κ = 1/4: sd over tokens vs N = {}, log-log slope ({} seeds)", counts,
                    settings.seeds),
        logit));
  } else {
    report.verdicts.push_back(slope_verdict(
        claim,
        fmt::format("control: a = {} fixed (κ → 0): logit threshold sd over tokens vs N = {}, log-log slope ({} seeds)",
                    settings.control_active, counts, settings.seeds),
        logit));
  }
}

ExperimentPlan meanfield_jiang_dmft_plan(Profile profile) {
  const auto s = jiang_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"seeds", s.seeds}, {"tokens", s.tokens}, {"threshold_tokens", s.threshold_tokens},
                   {"depths", s.depths}, {"active_at_kappa_quarter", s.actives}, {"expert_widths_at_d64", s.expert_widths},
                   {"model_widths", s.model_widths}, {"expert_counts", s.expert_counts},
                   {"base_stack", {{"d", s.base.model_width}, {"h", s.base.expert_width}, {"N", s.base.n_experts},
                                   {"a", s.base.n_active}, {"L", s.base.n_blocks}}},
                   {"router_width", s.router_width}, {"threshold_kappa", s.threshold_kappa},
                   {"threshold_control_active", s.control_active}, {"bootstrap_resamples", kBootstrapResamples}};
  // jiang-dmft-scaling (docs/claims.md): the residual variance at init scales as α*/κ = d/(a·h·L).
  plan.claims["variance slope -1"] = {"jiang-dmft-scaling",
                                      "log-log slope of the accumulated residual variance at init against L, a (fixed κ) or h/d",
                                      VerdictKind::claim, Sidedness::two_sided, -1.0, 0.1};
  plan.claims["variance slope -1 control"] = as_control(plan.claims["variance slope -1"]);
  plan.claims["variance flat in d"] = {"jiang-dmft-scaling",
                                       "log-log slope of the accumulated residual variance at init against d (h/d = 1)",
                                       VerdictKind::claim, Sidedness::two_sided, 0.0, 0.1};
  plan.claims["threshold"] = {"meanfield-convergence", "log-log slope of the routing-threshold spread over tokens against N",
                              VerdictKind::claim, Sidedness::two_sided, -0.5, 0.1};
  plan.claims["threshold control"] = as_control(plan.claims["threshold"]);
  return plan;
}

VerdictReport run_meanfield_jiang_dmft(const ExperimentOptions& options) {
  const auto settings = jiang_settings(options.profile);
  const auto plan = meanfield_jiang_dmft_plan(options.profile);
  VerdictReport report;
  CsvTable variance_rows({"sweep", "size", "d", "h", "N", "a", "L", "branch_exponent", "down_init", "seed",
                          "accumulated_variance", "alpha_star_over_kappa"});
  CsvTable fits({"sweep", "slope", "ci_low", "ci_high", "fit_standard_error", "predicted", "kind"});
  const auto sweeps = variance_sweeps(settings);
  const auto variances = measure_residual_variance(sweeps, settings, options.seed);
  for (std::size_t s = 0; s < sweeps.size(); ++s) {
    const auto& sweep = sweeps[s];
    table_residual_variance(sweep, variances[s], variance_rows);
    const auto& claim = plan.claim(sweep.claim_key);
    const auto [slope, verdict] = judge_power_law_slope(claim, fmt::format("{} ({} seeds)", sweep.case_name, settings.seeds),
                                                        sweep.sizes, variances[s], options.seed + 200 + s);
    add_fit(fits, sweep.name, slope, claim.predicted, to_string(claim.kind));
    report.verdicts.push_back(verdict);
  }
  CsvTable threshold_rows({"series", "N", "a", "seed", "mean_gate_threshold", "sd_gate_threshold",
                           "mean_logit_threshold", "sd_logit_threshold", "predicted_gate_threshold", "predicted_gate_sd"});
  for (const bool fixed_kappa : {true, false}) {
    const auto series = measure_thresholds(settings, fixed_kappa, options.seed);
    table_thresholds(series, settings.expert_counts, threshold_rows);
    judge_thresholds(series, fixed_kappa, settings, plan, options.seed, fits, report);
  }
  variance_rows.write(options.out_dir / "jiang_residual_variance.csv");
  threshold_rows.write(options.out_dir / "jiang_routing_threshold.csv");
  fits.write(options.out_dir / "jiang_fits.csv");
  return report;
}

}  // namespace

Experiment make_meanfield_jiang_dmft_experiment() {
  Experiment e;
  e.name = "meanfield-jiang-dmft";
  e.description = "Jiang's DMFT order parameters at init: residual variance ~ alpha*/kappa (slopes in L, a, h/d, d), "
                  "routing threshold ~ N^-1/2; fan-in down init as control";
  e.claims = {"jiang-dmft-scaling", "meanfield-convergence"};
  e.plot_script = "meanfield_jiang_dmft.py";
  e.plan = meanfield_jiang_dmft_plan;
  e.run = run_meanfield_jiang_dmft;
  return e;
}

}  // namespace muelab::experiments::meanfield
