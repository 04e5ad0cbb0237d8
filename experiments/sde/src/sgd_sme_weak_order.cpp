// `sgd-sme-weak-order` (docs/theory.md §7, §9): on f = ½xᵀHx with constant Σ the discrete SGD moments
// (matrix recursion) and the first- and second-order SME moments (Lyapunov ODE, dense-output
// Dormand–Prince) are exact, so the weak error |E φ(x_K) − E φ(X_{Kη})| is computed without Monte
// Carlo for φ = f and φ = |x|². Prediction: log-log slope in η of 1 (first order), 2 (second order).
#include "common.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/sim/sde/exact_moments.hpp"

#include <fmt/format.h>

#include <cmath>

namespace muelab::experiments::sde {
using sim::CounterRng;

namespace {
/// The finest learning rate 2^-level of each profile (docs/claims.md, "Plans"); exact moments, no seeds.
int sgd_sme_last_level(Profile profile) { return by_profile(profile, 7, 9, 11); }

ExperimentPlan sgd_sme_weak_order_plan(Profile profile) {
  ExperimentPlan plan;
  plan.settings = {{"lrs", fmt::format("2^-4..2^-{}", sgd_sme_last_level(profile))}, {"horizon", 2.0}, {"batch", 4},
                   {"dimension", 4}, {"method", "exact moments"}};
  for (const int order : {1, 2})
    plan.claims[fmt::format("order {}", order)] = {"sgd-sme-weak-order",
                                                   "log-log slope of the exact weak error against the learning rate",
                                                   VerdictKind::claim, Sidedness::two_sided, static_cast<double>(order), 0.1};
  return plan;
}
}  // namespace

Experiment make_sgd_sme_weak_order_experiment() {
  Experiment e;
  e.name = "sgd-sme-weak-order";
  e.description = "Exact weak error of the first- and second-order SGD SMEs on a noisy quadratic vs the learning rate";
  e.claims = {"sgd-sme-weak-order"};
  e.plot_script = "sgd_sme_weak_order.py";
  e.plan = sgd_sme_weak_order_plan;
  e.run = [](const ExperimentOptions& options) {
    const auto plan = sgd_sme_weak_order_plan(options.profile);
    const Eigen::Index d = 4;
    Eigen::MatrixXd hessian = Eigen::VectorXd::LinSpaced(d, 1.0, 0.25).asDiagonal();
    hessian(0, 1) = hessian(1, 0) = 0.2;  // anisotropic, not axis-aligned
    Eigen::MatrixXd covariance(d, d);
    for (Eigen::Index i = 0; i < d; ++i)
      for (Eigen::Index j = 0; j < d; ++j) covariance(i, j) = std::pow(0.5, std::abs(static_cast<double>(i - j)));
    const double batch = 4.0;
    const double horizon = 2.0;
    sim::sde::GaussianMoments initial{Eigen::VectorXd::Ones(d), 0.1 * Eigen::MatrixXd::Identity(d, d)};
    const int first_level = 4, last_level = sgd_sme_last_level(options.profile);  // η = 2^-level
    std::cout << fmt::format("sgd-sme-weak-order: exact (no Monte Carlo), eta = 2^-{}..2^-{}\n", first_level, last_level);
    CsvTable table({"lr", "steps", "order", "observable", "discrete", "sme", "weak_error"});
    std::vector<double> lrs, error_f[3], error_norm[3];
    for (int level = first_level; level <= last_level; ++level) {
      const double lr = std::ldexp(1.0, -level);
      const auto steps = static_cast<long long>(std::llround(horizon / lr));
      const auto discrete = sim::sde::sgd_discrete_moments(hessian, covariance / batch, lr, steps, initial);
      lrs.push_back(lr);
      for (int order : {1, 2}) {
        const auto sme = sim::sde::sgd_sme_moments(hessian, covariance / batch, lr, horizon, order, initial, 1e-13);
        const double df = discrete.expected_quadratic(hessian), sf = sme.expected_quadratic(hessian);
        const double dn = discrete.expected_squared_norm(), sn = sme.expected_squared_norm();
        error_f[order].push_back(std::abs(df - sf));
        error_norm[order].push_back(std::abs(dn - sn));
        table.add_row({lr, static_cast<long long>(steps), static_cast<long long>(order), std::string("E f"), df, sf,
                       std::abs(df - sf)});
        table.add_row({lr, static_cast<long long>(steps), static_cast<long long>(order), std::string("E |x|^2"), dn, sn,
                       std::abs(dn - sn)});
      }
    }
    table.write(options.out_dir / "sgd_sme_weak_order.csv");
    VerdictReport report;
    for (int order : {1, 2}) {
      const auto& spec = plan.claim(fmt::format("order {}", order));
      report.verdicts.push_back(slope_verdict(spec, fmt::format("E f(x_T), order-{} SME", order), lrs, error_f[order]));
      report.verdicts.push_back(
          slope_verdict(spec, fmt::format("E |x_T|^2, order-{} SME", order), lrs, error_norm[order]));
    }
    return report;
  };
  return e;
}

}  // namespace muelab::experiments::sde
