#include "muelab/sim/meanfield/linear_particles.hpp"

#include <boost/numeric/odeint.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace muelab::sim::meanfield {

namespace {
struct Layout {
  Eigen::Index input_dim;
  Eigen::Index width;
  [[nodiscard]] std::size_t block() const { return static_cast<std::size_t>(width * (1 + input_dim)); }
};
Layout layout(const LinearNetworkSpec& spec, int expert_width) {
  if (expert_width < 1) throw std::invalid_argument("expert_width: must be >= 1");
  return {static_cast<Eigen::Index>(spec.input_dim), static_cast<Eigen::Index>(expert_width)};
}
}  // namespace

LinearParticles sample_linear_particles(const LinearNetworkSpec& spec, int expert_width, const CounterRng& rng,
                                        std::uint64_t path) {
  const Layout shape = layout(spec, expert_width);
  LinearParticles particles(shape.block() * static_cast<std::size_t>(spec.n_experts));
  for (int i = 0; i < spec.n_experts; ++i) {
    double* base = particles.data() + static_cast<std::size_t>(i) * shape.block();
    // Counter c = 2·width + kind keeps different widths' draws independent.
    const auto readout_stream = 2 * static_cast<std::uint64_t>(expert_width);
    for (std::uint64_t j = 0; j < static_cast<std::uint64_t>(shape.block()); ++j)
      base[j] = rng.normal(path, static_cast<std::uint64_t>(i), readout_stream + (j < static_cast<std::uint64_t>(shape.width) ? 0 : 1), j);
  }
  return particles;
}

OrderParameters particle_order_parameters(const LinearNetworkSpec& spec, int expert_width,
                                          const LinearParticles& particles) {
  const Layout shape = layout(spec, expert_width);
  const double inverse_width = 1.0 / static_cast<double>(expert_width);
  OrderParameters op(static_cast<std::size_t>(spec.n_experts));
  for (std::size_t i = 0; i < op.size(); ++i) {
    const double* base = particles.data() + i * shape.block();
    Eigen::Map<const Eigen::VectorXd> a(base, shape.width);
    Eigen::Map<const Eigen::MatrixXd> w(base + shape.width, shape.input_dim, shape.width);
    op[i].v = inverse_width * (w * a);
    op[i].C = inverse_width * (w * w.transpose());
    op[i].c = inverse_width * a.squaredNorm();
  }
  return op;
}

LinearParticles particle_velocity(const LinearNetworkSpec& spec, int expert_width, const LinearParticles& particles) {
  const Layout shape = layout(spec, expert_width);
  const double inverse_width = 1.0 / static_cast<double>(expert_width);
  // Only v_i enters G_i (M2); C_i and c_i are not needed for the particle velocity.
  OrderParameters op(static_cast<std::size_t>(spec.n_experts));
  for (std::size_t i = 0; i < op.size(); ++i) {
    const double* base = particles.data() + i * shape.block();
    Eigen::Map<const Eigen::VectorXd> a(base, shape.width);
    Eigen::Map<const Eigen::MatrixXd> w(base + shape.width, shape.input_dim, shape.width);
    op[i].v = inverse_width * (w * a);
  }
  const auto signal = routed_gradient_signals(spec, op);
  LinearParticles velocity(particles.size());
  for (std::size_t i = 0; i < op.size(); ++i) {
    const double* base = particles.data() + i * shape.block();
    double* out = velocity.data() + i * shape.block();
    Eigen::Map<const Eigen::VectorXd> a(base, shape.width);
    Eigen::Map<const Eigen::MatrixXd> w(base + shape.width, shape.input_dim, shape.width);
    Eigen::Map<Eigen::VectorXd> a_rate(out, shape.width);
    Eigen::Map<Eigen::MatrixXd> w_rate(out + shape.width, shape.input_dim, shape.width);
    a_rate.noalias() = -(w.transpose() * signal[i]);
    w_rate.noalias() = -(signal[i] * a.transpose());
  }
  return velocity;
}

LinearTrajectory simulate_particle_flow(const LinearNetworkSpec& spec, int expert_width, LinearParticles particles,
                                        const std::vector<double>& times, double rk4_step) {
  namespace odeint = boost::numeric::odeint;
  using State = std::vector<double>;
  auto system = [&](const State& x, State& dxdt, double /*t*/) { dxdt = particle_velocity(spec, expert_width, x); };
  LinearTrajectory trajectory;
  auto observer = [&](const State& x, double t) {
    const auto op = particle_order_parameters(spec, expert_width, x);
    trajectory.times.push_back(t);
    trajectory.loss.push_back(population_loss(spec, op));
    trajectory.order_parameters.push_back(pack(op));
  };
  odeint::integrate_times(odeint::runge_kutta4<State>(), system, particles, times.begin(), times.end(), rk4_step,
                          observer);
  return trajectory;
}

LinearTrajectory simulate_particle_gradient_descent(const LinearNetworkSpec& spec, int expert_width,
                                                    LinearParticles particles, double step, int steps,
                                                    int record_every) {
  if (record_every < 1) throw std::invalid_argument("record_every: must be >= 1");
  LinearTrajectory trajectory;
  for (int k = 0; k <= steps; ++k) {
    if (k % record_every == 0) {
      const auto op = particle_order_parameters(spec, expert_width, particles);
      trajectory.times.push_back(step * k);
      trajectory.loss.push_back(population_loss(spec, op));
      trajectory.order_parameters.push_back(pack(op));
    }
    if (k == steps) break;
    // The particle velocity is −(H_act/d)∇L, so one GD step is one Euler step of the flow.
    const auto velocity = particle_velocity(spec, expert_width, particles);
    for (std::size_t n = 0; n < particles.size(); ++n) particles[n] += step * velocity[n];
  }
  return trajectory;
}

LinearConvergenceEnsemble run_linear_convergence_ensemble(const LinearNetworkSpec& spec,
                                                          const std::vector<int>& expert_widths, int seeds,
                                                          std::uint64_t seed,
                                                          const LinearConvergenceSettings& settings) {
  spec.validate();
  if (seeds < 1) throw std::invalid_argument("seeds: must be >= 1");
  if (!(settings.horizon > 0.0)) throw std::invalid_argument("horizon: must be > 0");
  LinearConvergenceEnsemble result;
  result.expert_widths = expert_widths;
  result.seeds = seeds;
  const auto n_widths = expert_widths.size();
  result.loss_deviation.assign(n_widths, std::vector<double>(static_cast<std::size_t>(seeds)));
  result.order_parameter_deviation = result.loss_deviation;
  result.first_seed_runs.resize(n_widths);

  std::vector<double> times;
  int descent_steps = 0;
  int record_every = 1;
  if (settings.dynamics == LinearDynamics::gradient_flow) {
    for (int k = 0; k < settings.samples; ++k) times.push_back(settings.horizon * k / (settings.samples - 1));
    result.limit = integrate_limit(spec, limit_initial_order_parameters(spec), times, 1e-9);
  } else {
    descent_steps = static_cast<int>(std::lround(settings.horizon / settings.descent_step));
    record_every = std::max(1, descent_steps / (settings.samples - 1));
    result.limit = iterate_gradient_descent_limit(spec, limit_initial_order_parameters(spec), settings.descent_step,
                                                  descent_steps, record_every);
  }

  const CounterRng rng(seed, 0x6d66);  // stream "mf"
  const auto jobs = static_cast<long long>(n_widths) * seeds;
#pragma omp parallel for schedule(dynamic, 1)
  for (long long job = 0; job < jobs; ++job) {
    // Largest widths first is better for load balance; the result slot depends only on (w, s).
    const auto w = n_widths - 1 - static_cast<std::size_t>(job / seeds);
    const auto s = static_cast<std::size_t>(job % seeds);
    const int width = expert_widths[w];
    auto particles = sample_linear_particles(spec, width, rng, s);
    const LinearTrajectory run =
        settings.dynamics == LinearDynamics::gradient_flow
            ? simulate_particle_flow(spec, width, std::move(particles), times, settings.rk4_step)
            : simulate_particle_gradient_descent(spec, width, std::move(particles), settings.descent_step,
                                                 descent_steps, record_every);
    double loss_dev = 0.0;
    double order_dev = 0.0;
    for (std::size_t k = 0; k < run.times.size(); ++k) {
      loss_dev = std::max(loss_dev, std::abs(run.loss[k] - result.limit.loss[k]));
      order_dev = std::max(order_dev, order_parameter_distance(run.order_parameters[k], result.limit.order_parameters[k]));
    }
    result.loss_deviation[w][s] = loss_dev;
    result.order_parameter_deviation[w][s] = order_dev;
    if (s == 0) result.first_seed_runs[w] = run;
  }
  return result;
}

}  // namespace muelab::sim::meanfield
