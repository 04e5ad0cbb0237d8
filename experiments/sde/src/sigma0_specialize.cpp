// sigma0-specialize (docs/theory.md §5.2, "Which σ0"; docs/claims.md `sigma0-shift`): the per-expert
// σ0 shift on the specializing testbed of bridge2-specialize (sim/sde/specializing_moe.hpp: learned
// sigmoid router, normalized gates, R = a, A = d/(a·h), i.i.d. Gaussian inputs), measured scale-free:
// σ0 = η·σ_g/‖E g‖ per expert group (the experts' input weights "expert.in" and readouts
// "expert.out"), pooled over the experts of the group (√(Σ_e tr Cov_e) / √(Σ_e ‖E g_e‖²)), from K
// independent minibatches at the same parameters; ‖E g‖² = ‖ḡ‖² − tr Cov/K (unbiased).
//
// Claim (as sigma0-transformer, fixed before the first run): the ratio to the axis' reference shape,
// paired per seed, equals theory::bridge2_expert_sigma0_ratio (√(a/a') at N = 8, √(N'/N) at a = 2)
// within ±10% of it, at init and after a short AdamW warm-up. Control (must fail): "σ0 does not move"
// (1 ± 10%) at each axis' far end. Calibration (judged as the claim; must hold, or the estimator is
// wrong): dense routing a = N = 8 at the per-expert batch B·a/N, where the tokens are i.i.d. and the
// CLT gives √(N/a) exactly. On the transformer the routed shift is ≈ (N/a)^0.25 (sigma0-transformer);
// here the inputs are i.i.d. by construction, so a shortfall can only come from routing itself
// (top-a selects the inputs an expert sees).
#include "common.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/sim/sde/specializing_moe.hpp"
#include "muelab/sim/statistics.hpp"
#include "muelab/theory/bridge.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <map>

namespace muelab::experiments::sde {
using sim::sde::SpecializingMoe;
using sim::sde::SpecializingProblem;
using sim::sde::SpecializingShape;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Sigma0Shape {
  std::string axis;  ///< "a" (N = 8), "N" (a = 2), "calibration" (a = N = 8 at batch B·a/N)
  int experts = 8, active = 8, batch = 64;
  int routed_active = 8;  ///< calibration: the a whose per-expert batch it reproduces (else = active)
};

struct Sigma0SpecializeSettings {
  SpecializingProblem problem;
  int seeds = 8, batch = 64, minibatches = 256;
  long long warm_steps = 200;
  double lr_log2 = -5.5;  ///< the warm-up LR: bridge2-specialize's WD-sweep LR, near the a = N = 8 optimum
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::vector<int> actives = {8, 4, 2, 1};
  std::vector<int> capacities = {8, 16, 32};
  double relative_tolerance = 0.1;
};

Sigma0SpecializeSettings sigma0_specialize_settings(Profile profile) {
  Sigma0SpecializeSettings s;
  s.problem.test_samples = 64;  // the population loss is not used here
  s.seeds = by_profile(profile, 2, 3, 8);
  s.minibatches = by_profile(profile, 16, 64, 256);
  s.warm_steps = by_profile<long long>(profile, 5, 50, 200);
  s.actives = by_profile<std::vector<int>>(profile, {8, 4}, {8, 2}, {8, 4, 2, 1});
  s.capacities = by_profile<std::vector<int>>(profile, {8, 16}, {8, 16}, {8, 16, 32});
  return s;
}

/// The shapes of each axis, the first of each axis being its reference.
std::vector<Sigma0Shape> declare_shapes(const Sigma0SpecializeSettings& s) {
  std::vector<Sigma0Shape> shapes;
  for (const int a : s.actives) shapes.push_back({"a", 8, a, s.batch, a});
  for (const int n : s.capacities) shapes.push_back({"N", n, 2, s.batch, 2});
  for (const int a : s.actives) shapes.push_back({"calibration", 8, 8, s.batch * a / 8, a});
  return shapes;
}

double predicted_ratio(const Sigma0Shape& ref, const Sigma0Shape& p) {
  if (p.axis == "calibration")  // dense routing: √(tokens_ref / tokens) = √(a_ref/a) at N = 8
    return std::sqrt(static_cast<double>(ref.batch) / p.batch);
  return theory::bridge2_expert_sigma0_ratio(ref.active, ref.experts, p.active, p.experts);
}

std::string shape_name(const Sigma0Shape& p) {
  return p.axis == "calibration" ? fmt::format("dense a=N=8, B={} (per-expert batch of a={})", p.batch, p.routed_active)
                                 : fmt::format("a={} N={}", p.active, p.experts);
}

ExperimentPlan sigma0_specialize_plan(Profile profile) {
  const auto s = sigma0_specialize_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"dimension", s.problem.dimension}, {"regions", s.problem.regions},
                   {"teacher_width", s.problem.teacher_width}, {"label_noise", s.problem.label_noise},
                   {"seeds", s.seeds}, {"batch", s.batch}, {"minibatches", s.minibatches},
                   {"warm_steps", s.warm_steps}, {"warm_lr_log2", s.lr_log2}, {"adam_betas", {s.beta1, s.beta2}},
                   {"actives_at_N8", s.actives}, {"capacities_at_a2", s.capacities},
                   {"definition", "sigma0 = eta * sigma_g / |E g| per expert group, pooled over the group's experts"}};
  const auto shapes = declare_shapes(s);
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    if (i == 0 || shapes[i].axis != shapes[i - 1].axis) continue;  // a reference
    std::size_t ref = i;
    while (ref > 0 && shapes[ref - 1].axis == shapes[i].axis) --ref;
    const double r = predicted_ratio(shapes[ref], shapes[i]);
    plan.claims[shape_name(shapes[i]) + " vs " + shape_name(shapes[ref])] = {
        "sigma0-shift", "scale-free per-expert sigma0 ratio to the axis' reference shape", VerdictKind::claim,
        Sidedness::two_sided, r, s.relative_tolerance * r};
  }
  plan.claims["unchanged"] = {"sigma0-shift", "per-expert sigma0 ratio under the hypothesis that it does not move",
                              VerdictKind::control, Sidedness::two_sided, 1.0, s.relative_tolerance};
  return plan;
}

/// Per expert group: pooled noise std √(Σ tr Cov) and signal ‖E g‖ (unbiased) over the group's experts.
struct GroupNoise {
  double noise = 0.0, signal = 0.0;
};

/// The noise and signal of "expert.in" (the h×d input weights of every expert) and "expert.out" (the h
/// readouts), from `minibatches` gradients at `flat` (draws 1…K of data step `data_step`; training
/// uses draw 0 of steps 0…warm_steps−1, so the measurement data are fresh). Layout: per expert e,
/// h·d input weights then h readouts (specializing_moe.hpp).
std::map<std::string, GroupNoise> expert_group_noise(const SpecializingMoe& moe, const Sigma0Shape& shape, int width,
                                                     int dimension, const Eigen::VectorXd& flat,
                                                     const Eigen::VectorXd& bias, int minibatches,
                                                     std::uint64_t data_step) {
  const Eigen::Index p = moe.parameter_count();
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(p), sum_sq = Eigen::VectorXd::Zero(p), g(p);
  for (int k = 0; k < minibatches; ++k) {
    (void)moe.loss_and_gradient(flat, data_step, static_cast<std::uint64_t>(k + 1), bias, g);
    sum += g;
    sum_sq += g.cwiseAbs2();
  }
  const double kk = minibatches;
  const Eigen::VectorXd mean = sum / kk;
  const Eigen::VectorXd variance = ((sum_sq - kk * mean.cwiseAbs2()) / (kk - 1.0)).cwiseMax(0.0);
  std::map<std::string, GroupNoise> out;
  double in_var = 0.0, in_mean_sq = 0.0, out_var = 0.0, out_mean_sq = 0.0;
  const Eigen::Index in_size = static_cast<Eigen::Index>(width) * dimension, block = in_size + width;
  for (int e = 0; e < shape.experts; ++e) {
    const Eigen::Index base = e * block;
    in_var += variance.segment(base, in_size).sum();
    in_mean_sq += mean.segment(base, in_size).squaredNorm();
    out_var += variance.segment(base + in_size, width).sum();
    out_mean_sq += mean.segment(base + in_size, width).squaredNorm();
  }
  const auto group = [&](double var, double mean_sq) {
    return GroupNoise{std::sqrt(var), std::sqrt(std::max(mean_sq - var / kk, 0.0))};
  };
  out["expert.in"] = group(in_var, in_mean_sq);
  out["expert.out"] = group(out_var, out_mean_sq);
  return out;
}

/// One (shape, seed, stage) measurement: stage 0 at init, stage 1 after the AdamW warm-up.
struct Measurement {
  std::map<std::string, GroupNoise> groups;
};

Measurement measure(const Sigma0SpecializeSettings& s, const Sigma0Shape& shape, int stage, std::uint64_t seed) {
  SpecializingShape sh;
  sh.experts = shape.experts;
  sh.active = shape.active;
  sh.batch = shape.batch;
  const SpecializingMoe moe(s.problem, sh, seed);
  Eigen::VectorXd flat = moe.initial_parameters(), bias = Eigen::VectorXd::Zero(shape.experts);
  if (stage == 1) {
    const double lr = std::exp2(s.lr_log2);
    if (!moe.train_to({sim::sde::OptimizerName::adamw, lr, s.beta1, s.beta2, s.eps, 0.0}, s.warm_steps, flat, bias))
      throw std::runtime_error(fmt::format("sigma0-specialize: the warm-up diverged at {}", shape_name(shape)));
  }
  return {expert_group_noise(moe, shape, sh.expert_width, s.problem.dimension, flat, bias, s.minibatches,
                             1'000'000 + static_cast<std::uint64_t>(stage))};
}

VerdictReport run_sigma0_specialize(const ExperimentOptions& o) {
  const auto s = sigma0_specialize_settings(o.profile);
  const auto plan = sigma0_specialize_plan(o.profile);
  const auto shapes = declare_shapes(s);
  const double lr = std::exp2(s.lr_log2);
  std::cout << fmt::format("sigma0-specialize: seed {}, {} seeds, {} shapes, K = {} minibatches, warm-up {} steps\n",
                           o.seed, s.seeds, shapes.size(), s.minibatches, s.warm_steps)
            << std::flush;
  // measurements[shape][stage][seed]; seeds are paired across shapes (same teacher and init draws).
  const std::size_t n_jobs = shapes.size() * 2 * static_cast<std::size_t>(s.seeds);
  std::vector<Measurement> results(n_jobs);
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1)
  for (long long j = 0; j < static_cast<long long>(n_jobs); ++j) {
    const auto job = static_cast<std::size_t>(j);
    const std::size_t shape = job / (2 * s.seeds), stage = (job / s.seeds) % 2, seed = job % s.seeds;
    try {
      results[job] = measure(s, shapes[shape], static_cast<int>(stage), o.seed * 1000 + seed);
    } catch (...) {
#pragma omp critical
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
  const auto at = [&](std::size_t shape, int stage, int seed) -> const Measurement& {
    return results[(shape * 2 + static_cast<std::size_t>(stage)) * s.seeds + static_cast<std::size_t>(seed)];
  };

  CsvTable table({"axis", "experts", "active", "batch", "stage", "group", "seed", "noise_std", "signal_norm",
                  "sigma0_scale_free", "raw_ratio", "ratio", "predicted"});
  CsvTable summary({"axis", "experts", "active", "batch", "stage", "group", "ratio", "ci_low", "ci_high", "predicted",
                    "raw_ratio"});
  VerdictReport report;
  const char* stage_names[2] = {"at init", "after the AdamW warm-up"};
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    std::size_t ref = i;
    while (ref > 0 && shapes[ref - 1].axis == shapes[i].axis) --ref;
    const double predicted = predicted_ratio(shapes[ref], shapes[i]);
    const bool far_end = ref != i && (i + 1 == shapes.size() || shapes[i + 1].axis != shapes[i].axis);
    for (int stage = 0; stage < 2; ++stage)
      for (const std::string group : {"expert.in", "expert.out"}) {
        std::vector<double> ratios, raw_ratios;
        for (int seed = 0; seed < s.seeds; ++seed) {
          const auto& m = at(i, stage, seed).groups.at(group);
          const auto& r = at(ref, stage, seed).groups.at(group);
          const double sigma0 = lr * m.noise / m.signal, sigma0_ref = lr * r.noise / r.signal;
          const double ratio = sigma0 / sigma0_ref, raw = m.noise / r.noise;
          ratios.push_back(ratio);
          raw_ratios.push_back(raw);
          table.add_row({shapes[i].axis, static_cast<long long>(shapes[i].experts),
                         static_cast<long long>(shapes[i].active), static_cast<long long>(shapes[i].batch),
                         std::string(stage_names[stage]), group, static_cast<long long>(seed), m.noise, m.signal, sigma0,
                         raw, ratio, predicted});
        }
        if (ref == i) continue;
        const auto est = sim::mean_with_standard_error(ratios);
        const auto raw = sim::mean_with_standard_error(raw_ratios);
        const double half = sim::student_t_975(s.seeds - 1.0) * est.standard_error;
        const bool finite = std::isfinite(est.mean) && std::isfinite(half);
        summary.add_row({shapes[i].axis, static_cast<long long>(shapes[i].experts),
                         static_cast<long long>(shapes[i].active), static_cast<long long>(shapes[i].batch),
                         std::string(stage_names[stage]), group, est.mean, est.mean - half, est.mean + half, predicted,
                         raw.mean});
        const std::string label =
            fmt::format("{}: {} -> {}, scale-free per-expert sigma0 = eta x noise std / |E g|, {}, {} seeds",
                        group, shape_name(shapes[ref]), shape_name(shapes[i]), stage_names[stage], s.seeds);
        const auto claim_name = shape_name(shapes[i]) + " vs " + shape_name(shapes[ref]);
        report.verdicts.push_back(judge(plan.claim(claim_name), label, finite ? est.mean : kNaN, est.mean - half,
                                        est.mean + half));
        if (far_end && shapes[i].axis != "calibration")
          report.verdicts.push_back(judge(plan.claim("unchanged"), "control: sigma0 does not move, " + label,
                                          finite ? est.mean : kNaN, est.mean - half, est.mean + half));
        std::cout << fmt::format("  {}: {:.3f} [{:.3f}, {:.3f}] (predicted {:.3f}; raw noise ratio {:.3f})\n", label,
                                 est.mean, est.mean - half, est.mean + half, predicted, raw.mean);
      }
  }
  table.write(o.out_dir / "sigma0_per_seed.csv");
  summary.write(o.out_dir / "sigma0_ratios.csv");
  return report;
}

}  // namespace

Experiment make_sigma0_specialize_experiment() {
  Experiment e;
  e.name = "sigma0-specialize";
  e.description =
      "Scale-free per-expert sigma0 shift on the specializing testbed (learned router, i.i.d. inputs) along a and N, "
      "at init and after an AdamW warm-up, against sqrt(N/a) +- 10%; dense routing at the per-expert batch as the "
      "estimator's calibration; 'sigma0 does not move' as the control";
  e.claims = {"sigma0-shift"};
  e.plot_script = "sigma0_specialize.py";
  e.run = run_sigma0_specialize;
  e.plan = sigma0_specialize_plan;
  return e;
}

}  // namespace muelab::experiments::sde
