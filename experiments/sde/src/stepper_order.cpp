// Strong and weak order of the steppers (THEORY.md §7) on Ornstein–Uhlenbeck-type processes whose
// exact solution is known on the same Brownian path:
//  * additive OU dX = −θX dt + σ dW: X_T = e^{−θT}X0 + σ ∫ e^{−θ(T−s)} dW(s) (midpoint rule on the
//    finest grid, error O(dt_fine²)); weak orders of Euler–Maruyama (1) and Platen (2) for E X_T²;
//  * OU drift with multiplicative noise dX = −θX dt + σX dW: X_T = X0 exp((−θ − σ²/2)T + σW_T);
//    strong order 1/2 of Euler–Maruyama, weak orders 1 and 2 for E X_T²;
//  * 2-d additive OU with general (full) noise matrix: Platen general-noise form, weak order 2.
// The weak error is estimated as the mean over paths of f(X^dt_T) − f(X_T) on the same path, so the
// Monte Carlo error is that of a small difference (standard errors are written to the CSV).
#include "common.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/sim/sde/brownian_path.hpp"
#include "muelab/sim/sde/ensemble.hpp"
#include "muelab/sim/sde/steppers.hpp"

#include <fmt/format.h>

#include <cmath>

namespace muelab::experiments::sde {
using sim::CounterRng;
namespace {

using sim::sde::BrownianPath;

struct ScalarOu {  // dX = −θX dt + (a + bX) dW, componentwise
  double theta, additive, multiplicative;
  void drift(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const { out = -theta * x; }
  void diffusion(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const {
    out = (additive + multiplicative * x.array()).matrix();
  }
};

struct GeneralOu {  // dX = −ΛX dt + B dW, Λ diagonal, B full 2×2
  Eigen::Vector2d rates;
  Eigen::Matrix2d noise;
  [[nodiscard]] Eigen::Index noise_dimension() const { return 2; }
  void drift(const Eigen::VectorXd& x, Eigen::VectorXd& out, double) const { out = -rates.cwiseProduct(x); }
  void diffusion_times(const Eigen::VectorXd&, const Eigen::VectorXd& dW, Eigen::VectorXd& out, double) const {
    out = noise * dW;
  }
};

enum class Scheme { euler_maruyama, platen };

template <class System, class NoiseKind>
double simulate(const System& system, Scheme scheme, BrownianPath path, const Eigen::VectorXd& x0, double horizon,
                Eigen::VectorXd& x) {
  x = x0;
  const double dt = path.step_size();
  const auto steps = static_cast<long long>(std::llround(horizon / dt));
  if (scheme == Scheme::euler_maruyama) {
    sim::sde::EulerMaruyama<Eigen::VectorXd, BrownianPath, NoiseKind> stepper(path);
    for (long long k = 0; k < steps; ++k) stepper.do_step(system, x, static_cast<double>(k) * dt, dt);
  } else {
    sim::sde::PlatenWeakOrder2<Eigen::VectorXd, BrownianPath, NoiseKind> stepper(path);
    for (long long k = 0; k < steps; ++k) stepper.do_step(system, x, static_cast<double>(k) * dt, dt);
  }
  return x.squaredNorm();
}

}  // namespace

Experiment make_stepper_order_experiment() {
  Experiment e;
  e.name = "sde-stepper-order";
  e.description = "Strong/weak order of Euler-Maruyama and Platen weak-2 on OU processes with exact solutions";
  e.claims = {"stepper-order"};
  e.plot_script = "sde_stepper_order.py";
  e.run = [](const ExperimentOptions& options) {
    const bool full = is_full(options);
    const std::uint64_t paths = full ? 100000 : 20000;
    const int finest_level = 10;  // dt_fine = 2^-10
    const double fine_dt = std::ldexp(1.0, -finest_level);
    const double horizon = 1.0, theta = 1.0, sigma = 0.5;
    const CounterRng rng(options.seed, 11);
    std::cout << fmt::format("sde-stepper-order: seed {}, {} paths\n", options.seed, paths);
    CsvTable table({"process", "scheme", "measure", "x0", "sigma", "dt", "error", "standard_error"});
    VerdictReport report;

    // x0 large for the weak tests of the additive processes: the deterministic part of the weak
    // error grows as x0² while the Monte Carlo error of the path difference grows only as x0, so
    // every level's error is resolved. The strong test uses σ = 1 so that the missing Milstein term
    // ½σ²(ΔW² − dt), which sets the order 1/2, dominates the O(dt) drift error on the levels used.
    struct Case {
      std::string process, scheme, measure;
      int coarsest, finest;  // levels: dt = 2^-level
      double predicted, x0, sigma;
    };
    const std::vector<Case> cases = {
        {"additive-ou", "euler-maruyama", "weak E X^2", 2, 6, 1.0, 4.0, sigma},
        {"additive-ou", "platen", "weak E X^2", 3, 7, 2.0, 4.0, sigma},
        {"multiplicative-ou", "euler-maruyama", "strong E|X-X_exact|", 4, 9, 0.5, 1.0, 1.0},
        {"multiplicative-ou", "euler-maruyama", "weak E X^2", 2, 6, 1.0, 1.0, sigma},
        {"multiplicative-ou", "platen", "weak E X^2", 3, 6, 2.0, 1.0, sigma},
        {"general-noise-ou-2d", "euler-maruyama", "weak E|X|^2", 2, 6, 1.0, 4.0, sigma},
        {"general-noise-ou-2d", "platen", "weak E|X|^2", 2, 5, 2.0, 4.0, sigma},
    };
    GeneralOu general{Eigen::Vector2d(0.5, 1.0), (Eigen::Matrix2d() << 0.5, 0.3, -0.2, 0.4).finished()};

    for (const auto& c : cases) {
      const Scheme scheme = c.scheme == "platen" ? Scheme::platen : Scheme::euler_maruyama;
      const Eigen::Index dim = c.process == "general-noise-ou-2d" ? 2 : 1;
      const int levels = c.finest - c.coarsest + 1;
      const ScalarOu additive{theta, c.sigma, 0.0};
      const ScalarOu multiplicative{theta, 0.0, c.sigma};
      const auto moments = sim::sde::run_ensemble(paths, levels, [&](std::uint64_t p, Eigen::VectorXd& row) {
        const BrownianPath fine(rng, p, dim, fine_dt, 1);
        // Exact solution on this path.
        Eigen::VectorXd exact(dim), dW(dim);
        const auto fine_steps = static_cast<std::uint64_t>(std::llround(horizon / fine_dt));
        if (c.process == "multiplicative-ou") {
          double w = 0.0;
          for (std::uint64_t j = 0; j < fine_steps; ++j) {
            fine.increment(j, dW);
            w += dW[0];
          }
          exact[0] = c.x0 * std::exp((-theta - 0.5 * c.sigma * c.sigma) * horizon + c.sigma * w);
        } else {
          Eigen::VectorXd rates = dim == 1 ? Eigen::VectorXd::Constant(1, theta) : Eigen::VectorXd(general.rates);
          Eigen::VectorXd integral = Eigen::VectorXd::Zero(dim);
          for (std::uint64_t j = 0; j < fine_steps; ++j) {
            fine.increment(j, dW);
            const double mid = horizon - (static_cast<double>(j) + 0.5) * fine_dt;
            const Eigen::VectorXd kick = dim == 1 ? Eigen::VectorXd(c.sigma * dW) : Eigen::VectorXd(general.noise * dW);
            integral += ((-rates * mid).array().exp() * kick.array()).matrix();
          }
          exact = c.x0 * ((-rates * horizon).array().exp()).matrix() + integral;  // X0 = x0 in every coordinate
        }
        const Eigen::VectorXd x0 = Eigen::VectorXd::Constant(dim, c.x0);
        Eigen::VectorXd x(dim);
        for (int level = c.coarsest; level <= c.finest; ++level) {
          const auto stride = std::uint64_t{1} << (finest_level - level);
          const BrownianPath path = fine.with_stride(stride);
          double value = 0.0;
          if (dim == 1) {
            value = simulate<ScalarOu, sim::sde::diagonal_noise>(
                c.process == "additive-ou" ? additive : multiplicative, scheme, path, x0, horizon, x);
          } else {
            value = simulate<GeneralOu, sim::sde::general_noise>(general, scheme, path, x0, horizon, x);
          }
          row[level - c.coarsest] = c.measure.rfind("strong", 0) == 0 ? (x - exact).norm() : value - exact.squaredNorm();
        }
      });
      std::vector<double> dts, errors;
      for (int level = c.coarsest; level <= c.finest; ++level) {
        const double dt = std::ldexp(1.0, -level);
        const auto i = level - c.coarsest;
        dts.push_back(dt);
        errors.push_back(std::abs(moments.mean[i]));
        table.add_row({c.process, c.scheme, c.measure, c.x0, c.sigma, dt, std::abs(moments.mean[i]), moments.standard_error[i]});
      }
      report.verdicts.push_back(slope_verdict("stepper-order", fmt::format("{} order of {} on {}", c.measure,
                                                                          c.scheme, c.process),
                                              VerdictKind::claim, dts, errors, c.predicted, 0.1));
    }
    table.write(options.out_dir / "stepper_order.csv");
    return report;
  };
  return e;
}

}  // namespace muelab::experiments::sde
