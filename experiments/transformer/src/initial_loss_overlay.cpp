// initial-loss-overlay (docs/theory.md §9): the dense proxy's LR is tuned once (the shared proxy
// calibration, dense_calibration.hpp), then the first steps of MoE variants (a = 1, 2, 4 of N = 8,
// granularity 2) run at those HPs transferred by complete-mue. Claim: every variant's loss curve tracks
// the dense curve with no widening gap; measured = the largest widening (mean |ΔL| over the last quarter
// of steps minus the first quarter, seed-mean curves), bootstrap CI over seeds, at most 0.05 nats.
// Control: route scale removed (R = 1), judged only over the variants with a ≥ 2 — at a = 1, R = a = 1
// and the control is the claim itself, so it could not fail there.
#include "common.hpp"
#include "dense_calibration.hpp"

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/experiments/output.hpp"

#include <fmt/format.h>

#include <cmath>

namespace muelab::experiments::transformer {

namespace {

/// What one profile runs (docs/claims.md, "Plans").
struct OverlaySettings {
  std::int64_t steps = 100;
  int seeds = 3;
};

OverlaySettings overlay_settings(Profile profile) {
  return {by_profile<std::int64_t>(profile, 12, 100, 200), by_profile(profile, 2, 3, 5)};
}

ExperimentPlan initial_loss_overlay_plan(Profile profile) {
  const auto s = overlay_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"steps", s.steps}, {"seeds", s.seeds}, {"proxy", "dense d=32, L=2, H=d"},
                   {"proxy_calibration", "shared LR calibration (4e-3 x 2^-2..2, edge policy)"},
                   {"variants", {"N=8 a=1", "N=8 a=2", "N=8 a=4", "N=16 a=4 h=d/2"}},
                   {"control_variants", "a >= 2 only"}};
  plan.claims["widening"] = {"initial-loss-overlay", "largest widening of |loss(MoE) - loss(dense)| (nats)",
                             VerdictKind::claim, Sidedness::at_most, 0.0, 0.05};
  plan.claims["widening control"] = as_control(plan.claims["widening"]);
  return plan;
}

VerdictReport run_initial_loss_overlay(const ExperimentOptions& o) {
  const auto settings_of_profile = overlay_settings(o.profile);
  const auto plan = initial_loss_overlay_plan(o.profile);
  Budget budget;
  budget.steps = settings_of_profile.steps;
  budget.eval_batches = 1;
  const int n_seeds = settings_of_profile.seeds;
  const std::int64_t d0 = 32, L = 2;
  // 1. The dense proxy's LR, tuned once (the shared calibration).
  const auto calibration = calibrate_proxy_lr("initial-loss-overlay", d0, L, budget, o);
  const double lr_star = calibration.tuned.lr;
  note(fmt::format("  dense-tuned LR {:.3g}", lr_star));

  // 2. Variants at the dense-tuned HPs.
  struct Variant {
    std::string name;
    Shape shape;
  };
  std::vector<Variant> variants = {{"dense proxy", dense_proxy(d0, L)}};
  // The control can only fail where R = a differs from 1.
  const auto in_control = [](const Variant& v) { return v.shape.ffn == "moe" && v.shape.n_active >= 2; };
  for (const std::int64_t a : {1, 2, 4}) {
    Shape s;
    s.d_model = d0;
    s.n_layers = L;
    s.n_experts = 8;
    s.n_active = a;
    s.d_expert = d0;
    variants.push_back({fmt::format("MoE N=8 a={}", a), s});
  }
  {
    Shape s;
    s.d_model = d0;
    s.n_layers = L;
    s.n_experts = 16;
    s.n_active = 4;
    s.d_expert = d0 / 2;
    variants.push_back({"MoE N=16 a=4 h=d/2", s});
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> settings = {
      {"complete-mue", {}}, {"control: route scale removed (R=1)", {"rule.route_scale=none"}}};
  std::vector<Job> jobs;
  for (const auto& setting : settings)
    for (const auto& v : variants)
      for (int s = 0; s < n_seeds; ++s) {
        Job j;
        j.shape = v.shape;
        j.base_shape = dense_proxy(d0, L);
        j.base.lr = lr_star;
        j.rule_switches = v.shape.ffn == "moe" ? setting.second : std::vector<std::string>{};
        j.budget = budget;
        j.seed = o.seed * 1000 + static_cast<std::uint64_t>(s) + 1;
        jobs.push_back(j);
      }
  note(fmt::format("  {} overlay runs", jobs.size()));
  const auto results = run_jobs(jobs, o.out_dir / "scratch", o.threads);

  CsvTable curves({"setting", "variant", "step", "mean_loss", "standard_error"});
  CsvTable gaps({"setting", "variant", "early_gap", "late_gap", "widening", "ci_low", "ci_high"});
  VerdictReport report;
  const auto steps = static_cast<std::size_t>(budget.steps);
  const std::size_t quarter = steps / 4;
  std::size_t i = 0;
  for (const auto& setting : settings) {
    // losses[v][s][t]
    std::vector<std::vector<std::vector<double>>> losses(variants.size());
    for (std::size_t v = 0; v < variants.size(); ++v)
      for (int s = 0; s < n_seeds; ++s, ++i) {
        auto curve = results[i].train_loss;
        curve.resize(steps, std::numeric_limits<double>::infinity());
        losses[v].push_back(curve);
      }
    for (std::size_t v = 0; v < variants.size(); ++v)
      for (std::size_t t = 0; t < steps; ++t) {
        std::vector<double> column;
        for (const auto& seed_curve : losses[v]) column.push_back(seed_curve[t]);
        const auto e = sim::mean_with_standard_error(column);
        curves.add_row({setting.first, variants[v].name, static_cast<long long>(t), e.mean, e.standard_error});
      }
    // widening(v) on resampled seeds (paired: the same seeds for the dense and the MoE curve).
    const auto widening = [&](std::size_t v, std::span<const std::size_t> rows, double* early_out, double* late_out) {
      double early = 0.0, late = 0.0;
      for (std::size_t t = 0; t < steps; ++t) {
        double dense = 0.0, moe = 0.0;
        for (const auto r : rows) {
          dense += losses[0][r][t];
          moe += losses[v][r][t];
        }
        const double gap = std::abs(moe - dense) / static_cast<double>(rows.size());
        if (t < quarter) early += gap / static_cast<double>(quarter);
        if (t >= steps - quarter) late += gap / static_cast<double>(quarter);
      }
      if (early_out) *early_out = early;
      if (late_out) *late_out = late;
      return late - early;
    };
    std::vector<std::size_t> all(static_cast<std::size_t>(n_seeds));
    for (std::size_t s = 0; s < all.size(); ++s) all[s] = s;
    const bool control = setting.first.starts_with("control");
    const auto judged = [&](std::size_t v) { return !control || in_control(variants[v]); };
    double worst = -1e300;
    std::size_t worst_v = 1;
    for (std::size_t v = 1; v < variants.size(); ++v) {
      double early = 0, late = 0;
      const double w = widening(v, all, &early, &late);
      const auto ci = sim::bootstrap_ci95(all.size(), [&](std::span<const std::size_t> rows) { return widening(v, rows, nullptr, nullptr); },
                                          o.seed + 17 * v);
      gaps.add_row({setting.first, variants[v].name, early, late, w, ci.low, ci.high});
      if (judged(v) && w > worst) {
        worst = w;
        worst_v = v;
      }
    }
    const auto ci = sim::bootstrap_ci95(
        all.size(),
        [&](std::span<const std::size_t> rows) {
          double m = -1e300;
          for (std::size_t v = 1; v < variants.size(); ++v)
            if (judged(v)) m = std::max(m, widening(v, rows, nullptr, nullptr));
          return m;
        },
        o.seed + 991);
    report.verdicts.push_back(judge(
        plan.claim(control ? "widening control" : "widening"),
        fmt::format("{}: largest widening of |loss(MoE) - loss(dense)| (last vs first quarter of {} steps, nats; worst: "
                    "{}{}) at dense-tuned lr {:.3g}",
                    setting.first, steps, variants[worst_v].name, control ? "; variants with a >= 2" : "", lr_star),
        worst, ci.low, ci.high));
  }
  curves.write(o.out_dir / "curves.csv");
  gaps.write(o.out_dir / "gaps.csv");
  return report;
}

}  // namespace

Experiment make_initial_loss_overlay_experiment() {
  Experiment e;
  e.name = "initial-loss-overlay";
  e.description = "First steps at dense-tuned HPs across MoE variants (complete-mue) vs the dense proxy; control R = 1 at a >= 2";
  e.claims = {"initial-loss-overlay"};
  e.plot_script = "initial_loss_overlay.py";
  e.run = run_initial_loss_overlay;
  e.plan = initial_loss_overlay_plan;
  return e;
}

}  // namespace muelab::experiments::transformer
