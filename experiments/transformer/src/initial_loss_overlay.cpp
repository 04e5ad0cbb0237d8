// initial-loss-overlay (docs/theory.md §9): the dense proxy's LR is tuned once (the shared proxy
// calibration, dense_calibration.hpp), then the first steps of MoE variants (a = 1, 2, 4 of N = 8,
// granularity 2) run at those HPs transferred by complete-mue. Claim: every variant's loss curve tracks
// the dense curve with no widening gap; measured = the largest widening (mean |ΔL| over the last quarter
// of steps minus the first quarter, seed-mean curves), bootstrap CI over seeds, at most 0.05 nats.
// Control: route scale removed (R = 1), run and judged only on the variants with a ≥ 2 — at a = 1,
// R = a = 1 and the control is the claim itself, so it could not fail there. The dense proxy's curves
// are trained once and shared by the claim and the control (paired seeds).
//
// Task: the capacity-bound order-2 Markov chain (docs/theory.md §9), proxy tuned on it with the 1500-step
// calibration `capacity-gate` uses (η, WD 0.1, init 0.02 all transferred); the overlay runs are its first
// 200 steps: warm-up then a constant LR, exactly the first 200 steps of the WSD run (WSD is constant until
// its decay). Rows are verdicts only where `capacity-gate` passed. On the first-order chain the R = 1
// control widened by 0.016 nats and held: it could not fail there.
#include "common.hpp"
#include "dense_calibration.hpp"

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/experiments/output.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <tuple>

namespace muelab::experiments::transformer {

namespace {

/// What one profile runs (docs/claims.md, "Plans").
struct OverlaySettings {
  Budget budget;  ///< the capacity-bound task's first steps (constant LR after the warm-up)
  std::int64_t steps = 100;
  int seeds = 3;
  std::int64_t width = 32, layers = 2;     ///< the dense proxy (H = d) and every variant's d, L
  std::int64_t n_experts = 8;              ///< N of the a-variants (h = d)
  std::vector<std::int64_t> actives = {1, 2, 4};
  std::int64_t control_min_active = 2;     ///< the R = 1 control differs from the claim only where a ≥ 2
};

OverlaySettings overlay_settings(Profile profile) {
  OverlaySettings s;
  s.steps = by_profile<std::int64_t>(profile, 12, 200, 200);
  s.seeds = by_profile(profile, 2, 3, 5);
  s.budget = capacity_bound_budget(profile);
  s.budget.steps = s.steps;
  s.budget.schedule = "constant";  // = the WSD run before its decay
  s.budget.eval_batches = 1;
  return s;
}

struct Variant {
  std::string name;
  Shape shape;
};

/// The dense proxy first, then the MoE variants: N = 8 with a = 1, 2, 4 (h = d) and N = 16, a = 4, h = d/2.
std::vector<Variant> overlay_variants(const OverlaySettings& s) {
  std::vector<Variant> variants = {{"dense proxy", dense_proxy(s.width, s.layers)}};
  Shape moe;
  moe.d_model = s.width;
  moe.n_layers = s.layers;
  moe.d_expert = s.width;
  for (const std::int64_t a : s.actives) {
    Shape v = moe;
    v.n_experts = s.n_experts;
    v.n_active = a;
    variants.push_back({fmt::format("MoE N={} a={}", s.n_experts, a), v});
  }
  Shape fine = moe;
  fine.n_experts = 16;
  fine.n_active = 4;
  fine.d_expert = s.width / 2;
  variants.push_back({"MoE N=16 a=4 h=d/2", fine});
  return variants;
}

ExperimentPlan initial_loss_overlay_plan(Profile profile) {
  const auto s = overlay_settings(profile);
  ExperimentPlan plan;
  std::vector<std::string> names;
  for (const auto& v : overlay_variants(s)) names.push_back(v.name);
  plan.settings = {{"steps", s.steps}, {"task", to_json(s.budget)}, {"seeds", s.seeds}, {"variants", names},
                   {"proxy", fmt::format("dense d={}, L={}, H=d", s.width, s.layers)},
                   {"proxy_calibration", to_json(capacity_calibration_settings(profile))},
                   {"control", "route scale removed (rule.route_scale=none, R = 1)"},
                   {"control_variants", fmt::format("MoE variants with a >= {}", s.control_min_active)}};
  plan.claims["widening"] = {"initial-loss-overlay", "largest widening of |loss(MoE) - loss(dense)| (nats)",
                             VerdictKind::claim, Sidedness::at_most, 0.0, 0.05};
  plan.claims["widening control"] = as_control(plan.claims["widening"]);
  return plan;
}

/// A transfer setting: the claim (complete-mue) or the control, and the variants it runs.
struct Setting {
  std::string name;
  std::vector<std::string> switches;
  std::vector<std::size_t> variants;  ///< MoE variants (indices into overlay_variants; 0 is the dense proxy)
  bool control = false;
};

std::vector<Setting> transfer_settings(const OverlaySettings& s, const std::vector<Variant>& variants) {
  Setting claim{"complete-mue", {}, {}, false};
  Setting control{"control: route scale removed (R=1)", {"rule.route_scale=none"}, {}, true};
  for (std::size_t v = 1; v < variants.size(); ++v) {
    claim.variants.push_back(v);
    if (variants[v].shape.n_active >= s.control_min_active) control.variants.push_back(v);
  }
  return {claim, control};
}

/// curves[setting][variant][seed][step]; the dense proxy's curves (variant 0) are trained once and
/// shared by both settings (paired seeds).
using Curves = std::vector<std::vector<std::vector<std::vector<double>>>>;

Curves measure_overlay(const OverlaySettings& s, const std::vector<Variant>& variants, const std::vector<Setting>& settings,
                       const BaseHyperparameters& tuned, const ExperimentOptions& o) {
  const Budget& budget = s.budget;
  std::vector<Job> jobs;
  std::vector<std::tuple<std::size_t, std::size_t, int>> where;  // (setting, variant, seed)
  const auto add = [&](std::size_t st, std::size_t v) {
    for (int k = 0; k < s.seeds; ++k) {
      Job j;
      j.shape = variants[v].shape;
      j.base_shape = dense_proxy(s.width, s.layers);
      j.base = tuned;
      j.rule_switches = v == 0 ? std::vector<std::string>{} : settings[st].switches;
      j.budget = budget;
      j.seed = o.seed * 1000 + static_cast<std::uint64_t>(k) + 1;
      jobs.push_back(j);
      where.emplace_back(st, v, k);
    }
  };
  add(0, 0);
  for (std::size_t st = 0; st < settings.size(); ++st)
    for (const auto v : settings[st].variants) add(st, v);
  note(fmt::format("  {} overlay runs", jobs.size()));
  const auto results = run_jobs(jobs, o.out_dir / "scratch", o.threads);
  Curves curves(settings.size(), std::vector<std::vector<std::vector<double>>>(
                                     variants.size(), std::vector<std::vector<double>>(static_cast<std::size_t>(s.seeds))));
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto [st, v, k] = where[i];
    auto curve = results[i].train_loss;
    curve.resize(static_cast<std::size_t>(s.steps), std::numeric_limits<double>::infinity());
    for (std::size_t target = 0; target < settings.size(); ++target)
      if (target == st || v == 0) curves[target][v][static_cast<std::size_t>(k)] = curve;
  }
  return curves;
}

/// Widening of variant v over resampled seeds `rows` (paired: the same seeds for the dense and the
/// MoE curve): mean |ΔL| over the last quarter of steps minus the first quarter.
struct Widening {
  double early = 0.0, late = 0.0;
  [[nodiscard]] double value() const { return late - early; }
};
Widening widening(const std::vector<std::vector<std::vector<double>>>& curves, std::size_t v,
                  std::span<const std::size_t> rows) {
  const std::size_t steps = curves[0][0].size(), quarter = std::max<std::size_t>(1, steps / 4);
  Widening w;
  for (std::size_t t = 0; t < steps; ++t) {
    double dense = 0.0, moe = 0.0;
    for (const auto r : rows) {
      dense += curves[0][r][t];
      moe += curves[v][r][t];
    }
    const double gap = std::abs(moe - dense) / static_cast<double>(rows.size());
    if (t < quarter) w.early += gap / static_cast<double>(quarter);
    if (t + quarter >= steps) w.late += gap / static_cast<double>(quarter);
  }
  return w;
}

/// One setting's table rows (seed-mean curves, each variant's widening with its CI) and its verdict: the
/// largest widening over the setting's variants, bootstrap CI over seeds.
Verdict overlay_verdict(const OverlaySettings& s, const ExperimentPlan& plan, const std::vector<Variant>& variants,
                        const Setting& setting, const std::vector<std::vector<std::vector<double>>>& c,
                        const DenseCalibration& calibration, std::uint64_t seed, CsvTable& curves_csv, CsvTable& gaps) {
  const auto& spec = plan.claim(setting.control ? "widening control" : "widening");
  if (setting.variants.empty()) return not_measured(spec, setting.name, "no MoE variant in this setting");
  std::vector<std::size_t> all(static_cast<std::size_t>(s.seeds));
  for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
  std::vector<std::size_t> shown = {0};
  shown.insert(shown.end(), setting.variants.begin(), setting.variants.end());
  for (const auto v : shown)
    for (std::size_t t = 0; t < static_cast<std::size_t>(s.steps); ++t) {
      std::vector<double> column;
      for (const auto& seed_curve : c[v]) column.push_back(seed_curve[t]);
      const auto e = sim::mean_with_standard_error(column);
      curves_csv.add_row({setting.name, variants[v].name, static_cast<long long>(t), e.mean, e.standard_error});
    }
  double worst = -std::numeric_limits<double>::infinity();
  std::size_t worst_v = setting.variants.front();
  for (const auto v : setting.variants) {
    const auto w = widening(c, v, all);
    const auto ci = sim::bootstrap_ci95(all.size(), [&](std::span<const std::size_t> rows) { return widening(c, v, rows).value(); },
                                        seed + 17 * v);
    gaps.add_row({setting.name, variants[v].name, w.early, w.late, w.value(), ci.low, ci.high});
    if (w.value() > worst) {
      worst = w.value();
      worst_v = v;
    }
  }
  const auto ci = sim::bootstrap_ci95(
      all.size(),
      [&](std::span<const std::size_t> rows) {
        double m = -std::numeric_limits<double>::infinity();
        for (const auto v : setting.variants) m = std::max(m, widening(c, v, rows).value());
        return m;
      },
      seed + 991);
  const auto name = fmt::format(
      "{}: largest widening of |loss(MoE) - loss(dense)| (last vs first quarter of {} steps, nats; worst: {}{}) at "
      "dense-tuned lr {:.3g}",
      setting.name, s.steps, variants[worst_v].name,
      setting.control ? fmt::format("; variants with a >= {}", s.control_min_active) : "", calibration.tuned.lr);
  return lr_at_edge(calibration) ? not_measured(spec, name, kProxyEdgeReason, worst, ci.low, ci.high)
                                 : judge(spec, name, worst, ci.low, ci.high);
}

VerdictReport run_initial_loss_overlay(const ExperimentOptions& o) {
  const auto s = overlay_settings(o.profile);
  const auto plan = initial_loss_overlay_plan(o.profile);
  // 1. The dense proxy's LR, tuned once (the shared calibration).
  const auto calibration = calibrate_capacity_proxy_lr("initial-loss-overlay", s.width, s.layers, o);
  write_calibration(calibration, o.out_dir);
  note(fmt::format("  dense-tuned LR {:.3g}", calibration.tuned.lr));
  // 2. The variants at the dense-tuned HPs.
  const auto variants = overlay_variants(s);
  const auto settings = transfer_settings(s, variants);
  const auto curves = measure_overlay(s, variants, settings, calibration.tuned, o);
  // 3. Tables and verdicts.
  CsvTable curves_csv({"setting", "variant", "step", "mean_loss", "standard_error"});
  CsvTable gaps({"setting", "variant", "early_gap", "late_gap", "widening", "ci_low", "ci_high"});
  VerdictReport report;
  for (std::size_t st = 0; st < settings.size(); ++st)
    report.verdicts.push_back(
        overlay_verdict(s, plan, variants, settings[st], curves[st], calibration, o.seed, curves_csv, gaps));
  judge_only_if_capacity_bound("initial-loss-overlay", report.verdicts, o.out_dir);
  curves_csv.write(o.out_dir / "curves.csv");
  gaps.write(o.out_dir / "gaps.csv");
  return report;
}

}  // namespace

Experiment make_initial_loss_overlay_experiment() {
  Experiment e;
  e.name = "initial-loss-overlay";
  e.description =
      "First 200 steps at dense-tuned HPs across MoE variants (complete-mue) vs the dense proxy on the capacity-bound task; "
      "control R = 1 at a >= 2";
  e.claims = {"initial-loss-overlay"};
  e.plot_script = "initial_loss_overlay.py";
  e.run = run_initial_loss_overlay;
  e.plan = initial_loss_overlay_plan;
  return e;
}

}  // namespace muelab::experiments::transformer
