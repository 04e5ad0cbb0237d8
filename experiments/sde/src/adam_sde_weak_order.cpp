// `adam-sde-weak-order` (THEORY.md §7, §9; [MALLADI]): discrete Adam with η and the Adam SDE with
// fixed objects (σ0, ε0, c1, c2, horizon) — i.e. β_i = 1 − c_iη², ε = ε0/η, noise std σ0/η,
// K = T/η² steps. The discrete gradient noise of step k is σ0 Σ̂^{1/2} ΔW_k/η² where ΔW_k is the
// Brownian increment of the SDE's own path over [kη², (k+1)η²] (re-queried at the coarse stride),
// so discrete and SDE runs are coupled path by path and the weak error E φ(x_K) − E φ(X_T) is the
// mean of a small difference. The SDE is integrated with Euler–Maruyama at dt = η²/4.
// Prediction: error ∝ η (slope 1) while noise dominates; control: σ0 = 0.01 (|∇f|² ≫ tr Σ), where
// the SDE drops the ∇f² part of Adam's second moment and the error stops vanishing. In this scaling
// the noise-dominance ratio |∇f|²/tr Σ ∝ (η/σ0)² falls as η shrinks (σ0 = 0.01: ≈ 47 → 3 over the
// quick levels), so the σ0 = 0.01 control leaves its regime at the finest η; σ0 = 0.001 (ratio
// ≥ 290 on every level) is run beside it. Both are reported (CSV column noise_dominance_at_start).
//
// Why two noise distributions. The O(η) weak error has two sources: the update order (discrete Adam
// moves x with the momentum that already contains the current gradient noise, a per-step cross term
// of size O(η³) in Cov(x, m)), and the covariance of the second-moment fluctuation c2η²σ0²(z² − 1)
// with the momentum noise c1σ0ηz, which is ∝ E z³ and vanishes for Gaussian noise. With Gaussian
// noise the first-order coefficient is therefore small and the measured slope on the η levels used
// lies between 1 and 2 (reported as measured, against THEORY's slope 1); the first-order term shows
// clearly with skewed noise z = Exp(1) − 1 (E z³ = 2), coupled to the SDE path by the quantile map
// z = −log(1 − Φ(ΔW/η)) − 1 so that the pairing stays tight.
#include "common.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/sim/sde/brownian_path.hpp"
#include "muelab/sim/sde/ensemble.hpp"
#include "muelab/sim/sde/optimizer_sdes.hpp"
#include "muelab/sim/sde/optimizers.hpp"
#include "muelab/sim/sde/steppers.hpp"

#include <fmt/format.h>

#include <cmath>

namespace muelab::experiments::sde {
using sim::CounterRng;

Experiment make_adam_sde_weak_order_experiment() {
  Experiment e;
  e.name = "adam-sde-weak-order";
  e.description = "Weak error of the Adam SDE against discrete Adam vs the learning rate (coupled paths)";
  e.claims = {"adam-sde-weak-order"};
  e.plot_script = "sde_adam_sde_weak_order.py";
  e.run = [](const ExperimentOptions& options) {
    const bool full = is_full(options);
    // η = 2^-level. The σ0 = 1 rows need many paths: with skewed noise the coupled difference does
    // not shrink with η (the discrete and SDE noises differ in distribution), so its SE ∝ paths^-1/2.
    const std::uint64_t claim_paths = full ? 4000 : 2400, control_paths = full ? 800 : 600;
    const int first_level = 4, last_level = full ? 7 : 6;
    const Eigen::Index d = 8;
    const Eigen::VectorXd curvature = Eigen::VectorXd::LinSpaced(d, 2.0, 0.5);
    const Eigen::VectorXd noise_shape = Eigen::VectorXd::LinSpaced(d, 1.0, 2.0);  // diag Σ̂
    const double c1 = 4.0, c2 = 1.0, eps0 = 1e-3, horizon = 1.0;
    const int substeps = 4;
    const CounterRng rng(options.seed, 21);
    std::cout << fmt::format("adam-sde-weak-order: seed {}, {} (sigma0 = 1) / {} (control) coupled paths per eta\n",
                             options.seed, claim_paths, control_paths);
    CsvTable table({"noise", "sigma0", "lr", "steps", "observable", "discrete_mean", "sde_mean", "weak_error",
                    "standard_error", "noise_dominance_at_start"});
    VerdictReport report;
    for (const std::string noise_name : {"centered-exponential", "gaussian"})
    for (double sigma0 : {1.0, 0.01, 0.001}) {
      const bool gaussian = noise_name == "gaussian";
      const std::uint64_t paths = sigma0 > 0.5 ? claim_paths : control_paths;
      std::vector<double> lrs, error_f, error_norm;
      for (int level = first_level; level <= last_level; ++level) {
        const double lr = std::ldexp(1.0, -level);
        const auto steps = static_cast<long long>(std::llround(horizon / (lr * lr)));
        const double noise_std = sigma0 / lr;
        sim::sde::NoisyQuadratic model(curvature, Eigen::MatrixXd((noise_std * noise_std) * noise_shape.asDiagonal()),
                                       1.0, sim::sde::NoiseDistribution::gaussian);
        const double beta1 = 1.0 - c1 * lr * lr, beta2 = 1.0 - c2 * lr * lr, eps = eps0 / lr;
        const sim::sde::AdamSde sde(model, sim::sde::AdamSdeParameters::from_discrete(lr, beta1, beta2, eps, 0.0));
        const Eigen::VectorXd x0 = Eigen::VectorXd::Ones(d);
        const double dominance = model.noise_dominance(x0);
        const auto moments = sim::sde::run_ensemble(paths, 6, [&](std::uint64_t p, Eigen::VectorXd& row) {
          const double sde_dt = lr * lr / substeps;
          sim::sde::BrownianPath path(rng, p, d, sde_dt, 1);
          // Discrete Adam driven by the same path at stride `substeps`.
          const sim::sde::BrownianPath coarse = path.with_stride(substeps);
          sim::sde::DiscreteOptimizer adam({sim::sde::OptimizerName::adam, lr, beta1, beta2, eps, 0.0}, d);
          Eigen::VectorXd x = x0, g(d), dW(d), z(d), noise(d);
          for (long long k = 0; k < steps; ++k) {
            coarse.increment(static_cast<std::uint64_t>(k), dW);
            model.gradient(x, g);
            z = dW / lr;  // ΔW/η ~ N(0, I)
            if (!gaussian)  // quantile map to Exp(1) − 1: 1 − Φ(ξ) = ½ erfc(ξ/√2)
              for (Eigen::Index i = 0; i < d; ++i) z[i] = -std::log(0.5 * std::erfc(z[i] / std::sqrt(2.0))) - 1.0;
            model.noise_sqrt_times(x, z, noise);
            g += noise;
            adam.step(x, g);
          }
          const sim::sde::AdamSde system = sde;  // one copy per path: the system holds scratch space
          Eigen::VectorXd state = system.initial_state(x0);
          sim::sde::EulerMaruyama<Eigen::VectorXd, sim::sde::BrownianPath, sim::sde::general_noise> stepper(path);
          for (long long k = 0; k < steps * substeps; ++k) stepper.do_step(system, state, static_cast<double>(k) * sde_dt, sde_dt);
          const Eigen::VectorXd y = state.head(d);
          row[0] = model.loss(x) - model.loss(y);
          row[1] = x.squaredNorm() - y.squaredNorm();
          row[2] = model.loss(x);
          row[3] = model.loss(y);
          row[4] = x.squaredNorm();
          row[5] = y.squaredNorm();
        });
        lrs.push_back(lr);
        error_f.push_back(std::abs(moments.mean[0]));
        error_norm.push_back(std::abs(moments.mean[1]));
        table.add_row({noise_name, sigma0, lr, static_cast<long long>(steps), std::string("E f"), moments.mean[2], moments.mean[3], std::abs(moments.mean[0]),
                       moments.standard_error[0], dominance});
        table.add_row({noise_name, sigma0, lr, static_cast<long long>(steps), std::string("E |x|^2"), moments.mean[4], moments.mean[5],
                       std::abs(moments.mean[1]), moments.standard_error[1], dominance});
      }
      const bool control = sigma0 < 0.5;
      const auto kind = control ? VerdictKind::control : VerdictKind::claim;
      // THEORY.md's slope 1 for both noises; with Gaussian noise the first-order coefficient is small
      // (the E z³ term vanishes, see the header), so the slope there sits between 1 and 2 on these η.
      const double predicted = 1.0;
      const std::string label =
          control ? fmt::format("control: sigma0 = {} (noise no longer dominates), {} noise", sigma0, noise_name)
          : gaussian ? fmt::format("sigma0 = {}, Gaussian noise (E z^3 = 0: small first-order coefficient)", sigma0)
                     : fmt::format("sigma0 = {}, centered-exponential noise (E z^3 = 2)", sigma0);
      report.verdicts.push_back(
          slope_verdict("adam-sde-weak-order", "E f(x_T), " + label, kind, lrs, error_f, predicted, 0.25));
      report.verdicts.push_back(
          slope_verdict("adam-sde-weak-order", "E |x_T|^2, " + label, kind, lrs, error_norm, predicted, 0.25));
    }
    table.write(options.out_dir / "adam_sde_weak_order.csv");
    return report;
  };
  return e;
}

}  // namespace muelab::experiments::sde
