// The batch/duration rows of docs/theory.md §4 (claim `sde-invariants`), measured:
//  1. batch ×κ at fixed tokens (q = κ, square-root rule): the six SDE objects before/after from
//     muelab_theory's sde_objects — horizon, λ̃, c1, c2, ε0 invariant to 1e-12 relative (σ0 too, as
//     data are fixed); control: the LR-only rule breaks c_i and ε0.
//  2. batch ×κ at fixed steps (q = 1): σ0 = η·σ_g with σ_g the measured std of sampled minibatch
//     gradients (linear regression, genuine sampling); ratio must be 1/√κ (theory::sigma0_ratio).
//  3. duration ×κ at fixed batch (q = 1/κ, iso-horizon): η ×κ^{-1/2} keeps T·η² and gives σ0 ×1/√κ,
//     with σ_g measured as in 2.
#include "common.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/sim/sde/ensemble.hpp"
#include "muelab/sim/sde/problems.hpp"
#include "muelab/theory/sde_scaling.hpp"

#include <fmt/format.h>

#include <cmath>

namespace muelab::experiments::sde {
using sim::CounterRng;

namespace {
/// Measured gradient-noise std σ_g = √(tr Cov g) from `samples` sampled minibatch gradients, with a
/// delta-method standard error.
struct NoiseStd {
  double value, standard_error;
};
NoiseStd measure_noise_std(const sim::sde::LinearRegression& model, const Eigen::VectorXd& w, const CounterRng& rng,
                           std::uint64_t samples, std::uint64_t stream) {
  Eigen::VectorXd mean_gradient;
  model.gradient(w, mean_gradient);
  const auto m = sim::sde::run_ensemble(samples, 1, [&](std::uint64_t p, Eigen::VectorXd& row) {
    Eigen::VectorXd g;
    model.sample_gradient(w, rng, p, stream, 0, g);
    row[0] = (g - mean_gradient).squaredNorm();
  });
  const double variance = m.mean[0];
  return {std::sqrt(variance), 0.5 * m.standard_error[0] / std::sqrt(variance)};
}
/// Minibatch-gradient samples per σ_g measurement, per profile (docs/claims.md, "Plans").
std::uint64_t noise_samples(Profile profile) { return by_profile<std::uint64_t>(profile, 5000, 60000, 400000); }

constexpr double kSigma0RelativeTolerance = 0.02;

ExperimentPlan batch_duration_plan(Profile profile) {
  ExperimentPlan plan;
  plan.settings = {{"noise_samples", noise_samples(profile)}, {"kappas", {2, 4, 8}}, {"lr", 1e-3}, {"batch", 4},
                   {"steps", 10000}, {"sigma0_relative_tolerance", kSigma0RelativeTolerance}};
  plan.claims["invariants"] = {"sde-invariants", "max relative change of the SDE objects", VerdictKind::claim,
                               Sidedness::at_most, 0.0, 1e-12};
  plan.claims["invariants control"] = as_control(plan.claims["invariants"]);
  for (const double kappa : {2.0, 4.0, 8.0})
    plan.claims[fmt::format("sigma0 kappa {}", kappa)] = {
        "sde-invariants", "measured sigma0 ratio (predicted 1/sqrt(kappa))", VerdictKind::claim, Sidedness::two_sided,
        1.0 / std::sqrt(kappa), kSigma0RelativeTolerance / std::sqrt(kappa)};
  return plan;
}

}  // namespace

Experiment make_sde_batch_duration_experiment() {
  Experiment e;
  e.name = "sde-batch-duration";
  e.description = "Batch/duration rows of docs/theory.md 4: SDE objects at fixed tokens, sigma0 at fixed steps, iso-horizon";
  e.claims = {"sde-invariants"};
  e.plot_script = "sde_batch_duration.py";
  e.plan = batch_duration_plan;
  e.run = [](const ExperimentOptions& options) {
    const auto plan = batch_duration_plan(options.profile);
    const std::uint64_t samples = noise_samples(options.profile);
    namespace th = muelab::theory;
    const CounterRng data_rng(options.seed, 51), noise_rng(options.seed, 52);
    const Eigen::Index d = 16;
    sim::sde::LinearRegression model(1024, Eigen::VectorXd::LinSpaced(d, 1.0, 0.3), 0.5, 4.0, data_rng);
    const Eigen::VectorXd w = Eigen::VectorXd::Constant(d, 0.5);
    CsvTable objects({"case", "kappa", "object", "base", "target", "relative_change"});
    CsvTable noise({"case", "kappa", "lr", "batch", "sigma_g", "sigma_g_se", "sigma0", "sigma0_ratio_measured",
                    "sigma0_ratio_se", "sigma0_ratio_predicted"});
    VerdictReport report;
    const double lr = 1e-3, wd = 0.1, eps = 1e-8, beta1 = 0.9, beta2 = 0.999, steps = 10000, batch = 4;
    const std::vector<double> kappas = {2.0, 4.0, 8.0};
    // 1. Fixed tokens, square-root rule and the LR-only control.
    for (const auto mode : {th::BatchDurationMode::sqrt, th::BatchDurationMode::lr_only}) {
      double worst = 0.0, worst_control = 0.0;
      for (double kappa : kappas) {
        const auto f = th::batch_duration_factors(kappa, th::OptimizerKind::adamw, mode);
        (void)th::scale_beta(beta1, f, "linear", "beta1");  // refuses q(1−β) ≥ 1
        const auto before =
            th::sde_objects(th::OptimizerKind::adamw, lr, wd, eps, 1.0 - beta1, 1.0 - beta2, steps, 1.0, batch);
        const auto after = th::sde_objects(th::OptimizerKind::adamw, lr * f.lr, wd * f.weight_decay, eps * f.eps,
                                           (1.0 - beta1) * f.one_minus_beta, (1.0 - beta2) * f.one_minus_beta,
                                           steps / kappa, 1.0, batch * kappa);
        const std::vector<std::pair<std::string, std::pair<double, double>>> rows = {
            {"horizon", {before.horizon, after.horizon}}, {"wd_rate", {before.wd_rate, after.wd_rate}},
            {"c1", {before.c1, after.c1}},                {"c2", {before.c2, after.c2}},
            {"eps0", {before.eps0, after.eps0}},          {"ema_fraction", {before.ema_fraction, after.ema_fraction}}};
        for (const auto& [name, values] : rows) {
          const double change = std::abs(values.second / values.first - 1.0);
          objects.add_row({std::string(mode == th::BatchDurationMode::sqrt ? "sqrt" : "lr-only"), kappa, name,
                           values.first, values.second, change});
          if (name != "ema_fraction") worst = std::max(worst, change);
          if (name == "c1" || name == "c2" || name == "eps0") worst_control = std::max(worst_control, change);
        }
      }
      if (mode == th::BatchDurationMode::sqrt)
        report.verdicts.push_back(judge(
            plan.claim("invariants"),
            "batch x kappa at fixed tokens, sqrt rule: max relative change of horizon, wd rate, c1, c2, eps0", worst, worst,
            worst));
      else
        report.verdicts.push_back(judge(plan.claim("invariants control"),
                                        "control: LR-only rule, max relative change of c1, c2, eps0", worst_control,
                                        worst_control, worst_control));
    }
    // 2./3. σ0 measured from sampled minibatch gradients.
    auto base_model = model;
    const auto base_noise = measure_noise_std(base_model, w, noise_rng, samples, 0);
    noise.add_row({std::string("base"), 1.0, lr, batch, base_noise.value, base_noise.standard_error, lr * base_noise.value,
                   1.0, 0.0, 1.0});
    for (double kappa : kappas) {
      auto big = model;
      big.set_batch_size(batch * kappa);
      const auto measured = measure_noise_std(big, w, noise_rng, samples, static_cast<std::uint64_t>(kappa));
      // Fixed steps (q = 1): η unchanged; σ0 ratio = σ_g'/σ_g.
      const double ratio = measured.value / base_noise.value;
      const double ratio_se = ratio * std::hypot(measured.standard_error / measured.value,
                                                 base_noise.standard_error / base_noise.value);
      const double predicted = th::sigma0_ratio(1.0, batch, batch * kappa, th::OptimizerKind::adamw);
      noise.add_row({std::string("batch-fixed-steps"), kappa, lr, batch * kappa, measured.value, measured.standard_error,
                     lr * measured.value, ratio, ratio_se, predicted});
      const auto& sigma0_spec = plan.claim(fmt::format("sigma0 kappa {}", kappa));
      report.verdicts.push_back(judge(
          sigma0_spec, fmt::format("batch x{} at fixed steps: measured sigma0 ratio (predicted 1/sqrt(kappa))", kappa),
          ratio, ratio - 1.96 * ratio_se, ratio + 1.96 * ratio_se));
      // Duration ×κ at fixed batch (iso-horizon): η' = η/√κ, σ_g unchanged (same batch): measured again.
      const auto same_batch = measure_noise_std(base_model, w, noise_rng, samples, 100 + static_cast<std::uint64_t>(kappa));
      const auto f = th::batch_duration_factors(1.0 / kappa, th::OptimizerKind::adamw, th::BatchDurationMode::sqrt);
      const double duration_ratio = f.lr * same_batch.value / base_noise.value;
      const double duration_se = duration_ratio * std::hypot(same_batch.standard_error / same_batch.value,
                                                             base_noise.standard_error / base_noise.value);
      const double horizon_change = (steps * kappa) * (lr * f.lr) * (lr * f.lr) / (steps * lr * lr) - 1.0;
      noise.add_row({std::string("duration-fixed-batch"), kappa, lr * f.lr, batch, same_batch.value,
                     same_batch.standard_error, lr * f.lr * same_batch.value, duration_ratio, duration_se,
                     1.0 / std::sqrt(kappa)});
      report.verdicts.push_back(judge(
          sigma0_spec,
          fmt::format("duration x{} at fixed batch (iso-horizon, T*eta^2 change {:.1e}): measured sigma0 ratio", kappa,
                      horizon_change),
          duration_ratio, duration_ratio - 1.96 * duration_se, duration_ratio + 1.96 * duration_se));
    }
    objects.write(options.out_dir / "sde_objects.csv");
    noise.write(options.out_dir / "sigma0.csv");
    return report;
  };
  return e;
}

}  // namespace muelab::experiments::sde
