// `meanfield-convergence` (docs/theory.md §8, claim `meanfield-convergence` of docs/claims.md): linear
// two-layer networks have an exact order-parameter ODE that is closed at every width; width enters only
// through the initial values, so the finite-width deviation from the limit decays as width^{-1/2}.
// Cases: dense gradient flow (with the hand-solved closed form of the limit as an independent check),
// dense small-step gradient descent, and a fixed-router MoE (N = 8, a = 2, R = a, A = d/H_act) whose
// width axis is the expert width h. Each case judges the log-log slope of the max_t deviation of the
// loss and of the order parameters against width (bootstrap CI over seeds) against −1/2 ± 0.1.
#include "common.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/sim/meanfield/linear_particles.hpp"
#include "muelab/sim/statistics.hpp"
#include "slope_fits.hpp"

#include <fmt/format.h>

#include <chrono>
#include <iostream>

namespace muelab::experiments::meanfield {

using namespace muelab::sim::meanfield;

namespace {

/// What one profile runs (docs/claims.md, "Plans"): widths 2^first .. 2^last and seeds per case.
struct ConvergenceSettings {
  int first_exponent = 5;
  int dense_last_exponent = 12, moe_last_exponent = 10;
  int dense_seeds = 64, moe_seeds = 48;
  int moe_experts = 8, moe_active = 2;
};

ConvergenceSettings convergence_settings(Profile profile) {
  ConvergenceSettings s;
  s.dense_last_exponent = by_profile(profile, 8, 12, 12);
  s.moe_last_exponent = by_profile(profile, 8, 10, 11);
  s.dense_seeds = by_profile(profile, 8, 64, 256);
  s.moe_seeds = by_profile(profile, 8, 48, 128);
  return s;
}

ExperimentPlan meanfield_convergence_plan(Profile profile) {
  const auto s = convergence_settings(profile);
  ExperimentPlan plan;
  plan.settings = {{"dense_widths", fmt::format("2^{}..2^{}", s.first_exponent, s.dense_last_exponent)},
                   {"moe_expert_widths", fmt::format("2^{}..2^{}", s.first_exponent, s.moe_last_exponent)},
                   {"dense_seeds", s.dense_seeds}, {"moe_seeds", s.moe_seeds},
                   {"moe", {{"N", s.moe_experts}, {"a", s.moe_active}}}, {"bootstrap_resamples", kBootstrapResamples}};
  plan.claims["slope"] = {"meanfield-convergence", "log-log slope of the deviation from the limit against width",
                          VerdictKind::claim, Sidedness::two_sided, -0.5, 0.1};
  return plan;
}

struct ConvergenceCase {
  std::string name;
  LinearNetworkSpec spec;
  std::vector<int> widths;
  int seeds = 0;
  LinearConvergenceSettings dynamics;
};

std::vector<ConvergenceCase> convergence_cases(const ConvergenceSettings& s, const Eigen::VectorXd& teacher) {
  const auto dense_widths = powers_of_two(s.first_exponent, s.dense_last_exponent);
  ConvergenceCase flow{"dense gradient flow", dense_layer(teacher, 1), dense_widths, s.dense_seeds, {}};
  flow.dynamics.dynamics = LinearDynamics::gradient_flow;
  flow.dynamics.horizon = 8.0;
  flow.dynamics.samples = 41;
  flow.dynamics.rk4_step = 0.02;
  ConvergenceCase descent{"dense small-step GD", dense_layer(teacher, 1), dense_widths, s.dense_seeds, {}};
  descent.dynamics.dynamics = LinearDynamics::gradient_descent;
  descent.dynamics.horizon = 8.0;
  descent.dynamics.samples = 41;
  descent.dynamics.descent_step = 0.05;
  // MoE: N = 8, a = 2 (κ = 1/4), R = a; width axis = expert width h (H_act = a·h).
  ConvergenceCase moe{fmt::format("MoE N={} a={} gradient flow", s.moe_experts, s.moe_active),
                      routed_layer(teacher, s.moe_experts, s.moe_active, 1, true),
                      powers_of_two(s.first_exponent, s.moe_last_exponent), s.moe_seeds, {}};
  moe.dynamics.dynamics = LinearDynamics::gradient_flow;
  moe.dynamics.horizon = 24.0;
  moe.dynamics.samples = 41;
  moe.dynamics.rk4_step = 0.04;
  return {flow, descent, moe};
}

struct ConvergenceTables {
  CsvTable deviations{{"case", "width", "seed", "loss_deviation", "order_parameter_deviation"}};
  CsvTable summary{{"case", "width", "mean_loss_deviation", "se_loss_deviation", "mean_order_parameter_deviation",
                    "se_order_parameter_deviation"}};
  CsvTable trajectories{{"case", "kind", "width", "time", "loss", "v_first_component"}};
  CsvTable fits{{"case", "quantity", "slope", "ci_low", "ci_high", "fit_standard_error", "predicted"}};
};

/// Table: per-seed deviations, their means, the first seed's trajectory per width and the limit (for
/// the dense flow also its closed form, an independent hand-solved check, linear_network.hpp).
void table_case(const ConvergenceCase& c, const LinearConvergenceEnsemble& ensemble, const Eigen::VectorXd& teacher,
                ConvergenceTables& tables) {
  for (std::size_t w = 0; w < c.widths.size(); ++w) {
    const auto width = static_cast<long long>(c.widths[w]);
    for (std::size_t s = 0; s < ensemble.loss_deviation[w].size(); ++s)
      tables.deviations.add_row({c.name, width, static_cast<long long>(s), ensemble.loss_deviation[w][s],
                                 ensemble.order_parameter_deviation[w][s]});
    const auto loss = sim::mean_with_standard_error(ensemble.loss_deviation[w]);
    const auto order = sim::mean_with_standard_error(ensemble.order_parameter_deviation[w]);
    tables.summary.add_row({c.name, width, loss.mean, loss.standard_error, order.mean, order.standard_error});
    const auto& run = ensemble.first_seed_runs[w];
    for (std::size_t k = 0; k < run.times.size(); ++k)
      tables.trajectories.add_row({c.name, std::string("finite"), width, run.times[k], run.loss[k], run.order_parameters[k][0]});
  }
  const double beta = teacher.norm();
  for (std::size_t k = 0; k < ensemble.limit.times.size(); ++k) {
    tables.trajectories.add_row({c.name, std::string("limit"), 0LL, ensemble.limit.times[k], ensemble.limit.loss[k],
                                 ensemble.limit.order_parameters[k][0]});
    if (c.name != "dense gradient flow") continue;
    const auto exact = dense_limit_closed_form(beta, ensemble.limit.times[k], c.spec.input_dim);
    const double loss = 0.5 * (beta - exact.s) * (beta - exact.s) / c.spec.input_dim;
    tables.trajectories.add_row({c.name, std::string("closed form"), 0LL, ensemble.limit.times[k], loss,
                                 exact.s * teacher(0) / beta});
  }
}

/// Judge: the log-log slope of the loss and order-parameter deviations against width.
void judge_case(const ConvergenceCase& c, const LinearConvergenceEnsemble& ensemble, const ClaimSpec& claim,
                std::uint64_t bootstrap_seed, ConvergenceTables& tables, VerdictReport& report) {
  const std::vector<double> sizes(c.widths.begin(), c.widths.end());
  for (const auto& [quantity, samples] : {std::pair{std::string("loss"), &ensemble.loss_deviation},
                                          std::pair{std::string("order parameters"), &ensemble.order_parameter_deviation}}) {
    const auto [slope, verdict] = judge_power_law_slope(
        claim,
        fmt::format("{}: max_t deviation of {} from the limit vs width, log-log slope ({} seeds)", c.name, quantity, c.seeds),
        sizes, *samples, bootstrap_seed);
    tables.fits.add_row({c.name, quantity, slope.slope, slope.ci_low, slope.ci_high, slope.fit_standard_error, claim.predicted});
    report.verdicts.push_back(verdict);
  }
}

VerdictReport run_meanfield_convergence(const ExperimentOptions& options) {
  const auto settings = convergence_settings(options.profile);
  const auto plan = meanfield_convergence_plan(options.profile);
  const auto teacher = linear_teacher();
  VerdictReport report;
  ConvergenceTables tables;
  std::uint64_t case_index = 0;
  for (const auto& c : convergence_cases(settings, teacher)) {
    const auto start = std::chrono::steady_clock::now();
    const auto ensemble = run_linear_convergence_ensemble(c.spec, c.widths, c.seeds, options.seed + case_index, c.dynamics);
    std::cerr << fmt::format("meanfield-convergence: {} ({} widths × {} seeds) in {:.1f} s\n", c.name, c.widths.size(),
                             c.seeds, seconds_since(start));
    table_case(c, ensemble, teacher, tables);
    judge_case(c, ensemble, plan.claim("slope"), options.seed + 100 + case_index, tables, report);
    ++case_index;
  }
  tables.deviations.write(options.out_dir / "convergence_deviation.csv");
  tables.summary.write(options.out_dir / "convergence_summary.csv");
  tables.trajectories.write(options.out_dir / "convergence_trajectories.csv");
  tables.fits.write(options.out_dir / "convergence_fits.csv");
  return report;
}

}  // namespace

Experiment make_meanfield_convergence_experiment() {
  Experiment e;
  e.name = "meanfield-convergence";
  e.description =
      "linear two-layer dense and MoE networks: finite-width deviation from the exact mean-field limit decays as width^-1/2";
  e.claims = {"meanfield-convergence"};
  e.plot_script = "meanfield_convergence.py";
  e.plan = meanfield_convergence_plan;
  e.run = run_meanfield_convergence;
  return e;
}

}  // namespace muelab::experiments::meanfield
