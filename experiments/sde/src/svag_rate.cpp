// `svag-rate` (docs/theory.md §7, §9): SVAG runs of SGD on linear regression with genuine minibatch
// sampling converge to the SDE as ℓ grows at rate O(1/ℓ). The expected loss of each ℓ-run is exact
// (second moments of the augmented state evolve linearly), so the distance |E L_ℓ(T) − E L_32(T)|
// is free of Monte Carlo error. Under the 1/ℓ rate it equals C·(1/ℓ − 1/32) + O(1/ℓ²): the
// log-log slope against (1/ℓ − 1/32) must be 1. The oracle itself is checked by Monte Carlo
// against the exact moments (CSV rows kind = "oracle-check").
#include "common.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/sim/sde/ensemble.hpp"
#include "muelab/sim/sde/exact_moments.hpp"
#include "muelab/sim/sde/optimizers.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace muelab::experiments::sde {
using sim::CounterRng;

namespace {
constexpr double kNotApplicable = std::numeric_limits<double>::quiet_NaN();

/// What one profile runs (docs/claims.md, "Plans"): the plan is the only place a profile selects a value.
struct SvagRateSettings {
  long long steps = 100;          ///< SGD steps of the l = 1 run (an l-run takes l·steps steps of lr/l)
  std::uint64_t check_paths = 0;  ///< Monte Carlo paths of the oracle check
  std::vector<double> ells;       ///< l of the tabled runs (the reference is l = 32)
  double max_fitted_ell = 8.0;    ///< the slope is fitted on l ≤ this (l = 16 is too close to the reference)
};

SvagRateSettings svag_rate_settings(Profile profile) {
  SvagRateSettings s;
  s.steps = by_profile<long long>(profile, 50, 100, 200);
  s.check_paths = by_profile<std::uint64_t>(profile, 500, 4000, 20000);
  s.ells = {1.0, 2.0, 4.0, 8.0, 16.0};
  return s;
}

ExperimentPlan svag_rate_plan(Profile profile) {
  const auto s = svag_rate_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"steps", s.steps}, {"oracle_check_paths", s.check_paths}, {"ells", s.ells}, {"max_fitted_ell", s.max_fitted_ell}, {"reference_ell", 32},
                   {"lr", 0.3}, {"dimension", 8}, {"samples", 256}};
  plan.claims["rate"] = ClaimSpec{"svag-rate", "log-log slope of |E L_l - E L_32| against (1/l - 1/32)",
                                  VerdictKind::claim, Sidedness::two_sided, 1.0, 0.1};
  return plan;
}
}  // namespace

Experiment make_svag_rate_experiment() {
  Experiment e;
  e.name = "svag-rate";
  e.description = "SVAG-SGD distance to l = 32 vs l on linear regression with minibatch noise (exact moments)";
  e.claims = {"svag-rate"};
  e.plot_script = "svag_rate.py";
  e.plan = svag_rate_plan;
  e.run = [](const ExperimentOptions& options) {
    const auto settings = svag_rate_settings(options.profile);
    const auto plan = svag_rate_plan(options.profile);
    const CounterRng data_rng(options.seed, 41), noise_rng(options.seed, 42);
    const Eigen::Index d = 8;
    sim::sde::LinearRegression model(256, Eigen::VectorXd::LinSpaced(d, 1.0, 0.4), 0.5, 2.0, data_rng);
    const Eigen::VectorXd w0 = Eigen::VectorXd::Constant(d, 1.0);
    const sim::sde::OptimizerHyperparameters base{sim::sde::OptimizerName::sgd, 0.3, 0.0, 0.0, 0.0, 0.0};
    const long long steps = settings.steps;
    const double reference_ell = 32.0;
    std::cout << fmt::format("svag-rate: seed {}, exact moments, SGD lr {} for {} steps, noise dominance {:.3f}\n",
                             options.seed, base.lr, steps, model.noise_dominance(w0));
    CsvTable table({"kind", "ell", "lr", "steps", "expected_loss", "distance_to_reference", "mc_mean", "mc_se"});
    auto final_loss = [&](double ell) {
      const auto schedule = sim::sde::svag_schedule(base, steps, ell);
      return sim::sde::linear_regression_sgd_expected_loss(model, schedule.hyper.lr, schedule.steps, ell, w0)
          [static_cast<Eigen::Index>(schedule.steps)];
    };
    const double reference = final_loss(reference_ell);
    std::vector<double> offsets, distances;
    for (double ell : settings.ells) {
      const double loss = final_loss(ell);
      const auto schedule = sim::sde::svag_schedule(base, steps, ell);
      table.add_row({std::string("exact"), ell, schedule.hyper.lr, schedule.steps, loss, std::abs(loss - reference),
                     kNotApplicable, kNotApplicable});
      if (ell > settings.max_fitted_ell) continue;
      offsets.push_back(1.0 / ell - 1.0 / reference_ell);
      distances.push_back(std::abs(loss - reference));
    }
    table.add_row({std::string("exact"), reference_ell, base.lr / reference_ell, steps * 32, reference, 0.0, kNotApplicable,
                   kNotApplicable});
    // Oracle check: Monte Carlo of the actual SVAG oracle against the exact expectation.
    const std::uint64_t paths = settings.check_paths;
    for (double ell : {1.0, 4.0}) {
      const auto schedule = sim::sde::svag_schedule(base, steps, ell);
      const auto mc = sim::sde::run_ensemble(paths, 1, [&](std::uint64_t p, Eigen::VectorXd& row) {
        Eigen::VectorXd w = w0, g;
        for (long long k = 0; k < schedule.steps; ++k) {
          sim::sde::svag_gradient(model, w, ell, noise_rng, p, static_cast<std::uint64_t>(k), g);
          w -= schedule.hyper.lr * g;
        }
        row[0] = model.loss(w);
      });
      table.add_row({std::string("oracle-check"), ell, schedule.hyper.lr, schedule.steps, final_loss(ell), kNotApplicable,
                     mc.mean[0], mc.standard_error[0]});
    }
    table.write(options.out_dir / "svag_rate.csv");
    VerdictReport report;
    report.verdicts.push_back(slope_verdict(plan.claim("rate"),
                                            "SGD, linear regression: |E L_l - E L_32| vs (1/l - 1/32), l = 1..8",
                                            offsets, distances));
    return report;
  };
  return e;
}

}  // namespace muelab::experiments::sde
