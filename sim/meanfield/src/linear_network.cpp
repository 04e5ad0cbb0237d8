#include "muelab/sim/meanfield/linear_network.hpp"

#include <boost/numeric/odeint.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

namespace muelab::sim::meanfield {

namespace {
Eigen::Index dim(const LinearNetworkSpec& spec) { return static_cast<Eigen::Index>(spec.input_dim); }
std::size_t expert_block(const LinearNetworkSpec& spec) {
  const auto d = static_cast<std::size_t>(spec.input_dim);
  return d + d * d + 1;
}
}  // namespace

LinearNetworkSpec LinearNetworkSpec::dense(const Eigen::VectorXd& teacher) {
  LinearNetworkSpec spec;
  spec.input_dim = static_cast<int>(teacher.size());
  spec.n_experts = 1;
  spec.output_multiplier_times_expert_width = 1.0;
  spec.route_scale = 1.0;
  spec.routes = {Route{1.0, {0}, {1.0}}};
  spec.teacher = teacher;
  return spec;
}

LinearNetworkSpec LinearNetworkSpec::cyclic_moe(int n_experts, int n_active, double output_multiplier_times_expert_width,
                                                double route_scale, const Eigen::VectorXd& teacher) {
  if (n_experts < 1) throw std::invalid_argument("n_experts: must be >= 1");
  if (n_active < 1 || n_active > n_experts) throw std::invalid_argument("n_active: must be in [1, n_experts]");
  LinearNetworkSpec spec;
  spec.input_dim = static_cast<int>(teacher.size());
  spec.n_experts = n_experts;
  spec.output_multiplier_times_expert_width = output_multiplier_times_expert_width;
  spec.route_scale = route_scale;
  spec.teacher = teacher;
  // a = N: every window is the full set, so one route suffices.
  const int n_routes = (n_active == n_experts) ? 1 : n_experts;
  for (int k = 0; k < n_routes; ++k) {
    Route route;
    route.probability = 1.0 / n_routes;
    for (int j = 0; j < n_active; ++j) {
      route.experts.push_back((k + j) % n_experts);
      route.gates.push_back(1.0 / n_active);
    }
    spec.routes.push_back(route);
  }
  spec.validate();
  return spec;
}

void LinearNetworkSpec::validate() const {
  if (input_dim < 1) throw std::invalid_argument("input_dim: must be >= 1");
  if (teacher.size() != input_dim) throw std::invalid_argument("teacher: size must equal input_dim");
  if (n_experts < 1) throw std::invalid_argument("n_experts: must be >= 1");
  if (routes.empty()) throw std::invalid_argument("routes: need at least one route");
  double total = 0.0;
  for (const auto& route : routes) {
    if (route.experts.size() != route.gates.size())
      throw std::invalid_argument("routes: experts and gates must have the same length");
    for (int e : route.experts)
      if (e < 0 || e >= n_experts) throw std::invalid_argument("routes: expert index out of [0, n_experts)");
    total += route.probability;
  }
  if (std::abs(total - 1.0) > 1e-12) throw std::invalid_argument("routes: probabilities must sum to 1");
}

OrderParameters limit_initial_order_parameters(const LinearNetworkSpec& spec) {
  OrderParameters op(static_cast<std::size_t>(spec.n_experts));
  for (auto& e : op) {
    e.v = Eigen::VectorXd::Zero(dim(spec));
    e.C = Eigen::MatrixXd::Identity(dim(spec), dim(spec));
    e.c = 1.0;
  }
  return op;
}

Eigen::VectorXd route_effective_vector(const LinearNetworkSpec& spec, const OrderParameters& op,
                                       std::size_t route_index) {
  // (M1): V_S = (A·h)·R·Σ_{i∈S} π_iS v_i.
  const Route& route = spec.routes[route_index];
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(dim(spec));
  for (std::size_t k = 0; k < route.experts.size(); ++k)
    sum += route.gates[k] * op[static_cast<std::size_t>(route.experts[k])].v;
  return spec.output_multiplier_times_expert_width * spec.route_scale * sum;
}

double population_loss(const LinearNetworkSpec& spec, const OrderParameters& op) {
  double loss = 0.0;
  for (std::size_t r = 0; r < spec.routes.size(); ++r)
    loss += spec.routes[r].probability * (route_effective_vector(spec, op, r) - spec.teacher).squaredNorm();
  return 0.5 * loss / static_cast<double>(spec.input_dim);
}

std::vector<Eigen::VectorXd> routed_gradient_signals(const LinearNetworkSpec& spec, const OrderParameters& op) {
  // (M2): G_i = R·Σ_{S∋i} P_S π_iS (V_S − β)/D.
  std::vector<Eigen::VectorXd> signal(op.size(), Eigen::VectorXd::Zero(dim(spec)));
  for (std::size_t r = 0; r < spec.routes.size(); ++r) {
    const Route& route = spec.routes[r];
    const Eigen::VectorXd residual = route_effective_vector(spec, op, r) - spec.teacher;
    for (std::size_t k = 0; k < route.experts.size(); ++k)
      signal[static_cast<std::size_t>(route.experts[k])] +=
          (spec.route_scale * route.probability * route.gates[k] / static_cast<double>(spec.input_dim)) * residual;
  }
  return signal;
}

OrderParameters order_parameter_velocity(const LinearNetworkSpec& spec, const OrderParameters& op) {
  // (D1)/(M3).
  const auto signal = routed_gradient_signals(spec, op);
  OrderParameters rate(op.size());
  for (std::size_t i = 0; i < op.size(); ++i) {
    const auto& e = op[i];
    const auto& g = signal[i];
    rate[i].v = -(e.C * g + e.c * g);
    rate[i].C = -(g * e.v.transpose() + e.v * g.transpose());
    rate[i].c = -2.0 * e.v.dot(g);
  }
  return rate;
}

OrderParameters gradient_descent_order_parameter_step(const LinearNetworkSpec& spec, const OrderParameters& op,
                                                      double step) {
  // (GD): exact image of one particle GD step.
  const auto signal = routed_gradient_signals(spec, op);
  OrderParameters next(op.size());
  for (std::size_t i = 0; i < op.size(); ++i) {
    const auto& e = op[i];
    const auto& g = signal[i];
    const double vg = e.v.dot(g);
    next[i].v = e.v - step * (e.C * g + e.c * g) + step * step * vg * g;
    next[i].C = e.C - step * (g * e.v.transpose() + e.v * g.transpose()) + step * step * e.c * (g * g.transpose());
    next[i].c = e.c - 2.0 * step * vg + step * step * g.dot(e.C * g);
  }
  return next;
}

std::vector<double> pack(const OrderParameters& op) {
  std::vector<double> flat;
  for (const auto& e : op) {
    flat.insert(flat.end(), e.v.data(), e.v.data() + e.v.size());
    flat.insert(flat.end(), e.C.data(), e.C.data() + e.C.size());
    flat.push_back(e.c);
  }
  return flat;
}

OrderParameters unpack(const LinearNetworkSpec& spec, const std::vector<double>& flat) {
  const std::size_t block = expert_block(spec);
  if (flat.size() != block * static_cast<std::size_t>(spec.n_experts))
    throw std::invalid_argument("unpack: flat size does not match the spec");
  const Eigen::Index d = dim(spec);
  OrderParameters op(static_cast<std::size_t>(spec.n_experts));
  for (std::size_t i = 0; i < op.size(); ++i) {
    const double* base = flat.data() + i * block;
    op[i].v = Eigen::Map<const Eigen::VectorXd>(base, d);
    op[i].C = Eigen::Map<const Eigen::MatrixXd>(base + d, d, d);
    op[i].c = base[d + d * d];
  }
  return op;
}

LinearTrajectory integrate_limit(const LinearNetworkSpec& spec, const OrderParameters& initial,
                                 const std::vector<double>& times, double relative_tolerance) {
  namespace odeint = boost::numeric::odeint;
  using State = std::vector<double>;
  spec.validate();
  if (times.empty() || times.front() != 0.0) throw std::invalid_argument("times: must start at 0");
  auto system = [&spec](const State& x, State& dxdt, double /*t*/) { dxdt = pack(order_parameter_velocity(spec, unpack(spec, x))); };
  LinearTrajectory trajectory;
  auto observer = [&](const State& x, double t) {
    trajectory.times.push_back(t);
    trajectory.loss.push_back(population_loss(spec, unpack(spec, x)));
    trajectory.order_parameters.push_back(x);
  };
  State x = pack(initial);
  auto stepper = odeint::make_dense_output(1e-3 * relative_tolerance, relative_tolerance, odeint::runge_kutta_dopri5<State>());
  const double first_step = times.size() > 1 ? std::min(1e-3, 0.1 * (times[1] - times[0])) : 1e-3;
  odeint::integrate_times(stepper, system, x, times.begin(), times.end(), first_step, observer);
  return trajectory;
}

LinearTrajectory iterate_gradient_descent_limit(const LinearNetworkSpec& spec, const OrderParameters& initial,
                                                double step, int steps, int record_every) {
  spec.validate();
  if (record_every < 1) throw std::invalid_argument("record_every: must be >= 1");
  LinearTrajectory trajectory;
  OrderParameters op = initial;
  for (int k = 0; k <= steps; ++k) {
    if (k % record_every == 0) {
      trajectory.times.push_back(step * k);
      trajectory.loss.push_back(population_loss(spec, op));
      trajectory.order_parameters.push_back(pack(op));
    }
    if (k < steps) op = gradient_descent_order_parameter_step(spec, op, step);
  }
  return trajectory;
}

ScalarLimitSolution dense_limit_closed_form(double teacher_norm, double time, int input_dim) {
  const double tau = time / static_cast<double>(input_dim);
  const double root = std::sqrt(teacher_norm * teacher_norm + 1.0);
  const double z_plus = teacher_norm + root;
  const double z_minus = teacher_norm - root;
  const double q = (z_plus - 1.0) / (1.0 - z_minus) * std::exp(-2.0 * root * tau);
  const double z = (z_plus + q * z_minus) / (1.0 + q);
  ScalarLimitSolution solution;
  solution.s = 0.5 * (z - 1.0 / z);
  solution.u = 0.5 * (z + 1.0 / z);  // cosh φ = √(1 + sinh² φ)
  return solution;
}

double order_parameter_distance(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw std::invalid_argument("order_parameter_distance: sizes differ");
  double sum = 0.0;
  for (std::size_t k = 0; k < x.size(); ++k) sum += (x[k] - y[k]) * (x[k] - y[k]);
  return std::sqrt(sum);
}

}  // namespace muelab::sim::meanfield
