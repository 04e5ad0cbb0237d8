#include "muelab/sim/meanfield/erf_limit.hpp"

#include "muelab/sim/meanfield/erf_expectations.hpp"

#include <boost/numeric/odeint.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace muelab::sim::meanfield {

ErfLayerSpec ErfLayerSpec::dense(std::vector<ErfTeacherUnit> teacher) {
  ErfLayerSpec spec;
  spec.teacher = std::move(teacher);
  return spec;
}

void ErfLayerSpec::validate() const {
  if (n_experts < 1) throw std::invalid_argument("n_experts: must be >= 1");
  if (n_active < 1 || n_active > n_experts) throw std::invalid_argument("n_active: must be in [1, n_experts]");
  if (teacher.empty()) throw std::invalid_argument("teacher: needs at least one unit");
  if (!(output_multiplier_times_expert_width > 0.0))
    throw std::invalid_argument("output_multiplier_times_expert_width: must be > 0");
  if (!(route_scale > 0.0)) throw std::invalid_argument("route_scale: must be > 0");
  if (!(router_rate >= 0.0)) throw std::invalid_argument("router_rate: must be >= 0");
  if (routed() && (initial_router_slope.size() != static_cast<std::size_t>(n_experts) ||
                   initial_router_bias.size() != static_cast<std::size_t>(n_experts)))
    throw std::invalid_argument("initial_router_slope/initial_router_bias: need n_experts values each");
  if (panel_nodes < 2) throw std::invalid_argument("panel_nodes: must be >= 2");
  if (!(panel_width > 0.0)) throw std::invalid_argument("panel_width: must be > 0");
  if (!(x_max > 0.0)) throw std::invalid_argument("x_max: must be > 0");
}

namespace {

std::size_t router_offset(const ErfLayerSpec& spec, const ErfLayerState& layout) {
  return static_cast<std::size_t>(spec.n_experts) * 2 * static_cast<std::size_t>(layout.expert_nodes);
}

std::size_t state_size(const ErfLayerSpec& spec, int expert_nodes) {
  return static_cast<std::size_t>(spec.n_experts) * 2 * static_cast<std::size_t>(expert_nodes) +
         (spec.routed() ? 2 * static_cast<std::size_t>(spec.n_experts) : 0);
}

double teacher_output(const ErfLayerSpec& spec, double x) {
  double y = 0.0;
  for (const auto& unit : spec.teacher) y += unit.output * erf_activation(unit.slope * x);
  return y;
}

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

/// A panel of the x-quadrature and the experts active on it.
struct ActivePanel {
  std::vector<double> nodes;
  std::vector<double> weights;
  std::vector<int> active;
};

/// x-quadrature of (N2): Gauss–Legendre panels on [−x_max, x_max], for the MoE layer cut where the
/// ranking of the router logits r_i x + c_i (hence of the sigmoid scores) changes.
std::vector<ActivePanel> active_panels(const ErfLayerSpec& spec, const ErfLayerState& layout,
                                       const std::vector<double>& values) {
  std::vector<ActivePanel> out;
  if (!spec.routed()) {
    for (auto& panel : gaussian_panels({}, spec.x_max, spec.panel_width, spec.panel_nodes))
      out.push_back({std::move(panel.nodes), std::move(panel.weights), {0}});
    return out;
  }
  const std::size_t base = router_offset(spec, layout);
  const auto n = static_cast<std::size_t>(spec.n_experts);
  const double* slope = values.data() + base;
  const double* bias = values.data() + base + n;
  std::vector<double> crossings;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = i + 1; k < n; ++k)
      if (slope[i] != slope[k]) {
        // The top-a set changes at a crossing only when i and k hold ranks a and a + 1 there.
        const double x = (bias[k] - bias[i]) / (slope[i] - slope[k]);
        const double level = slope[i] * x + bias[i];
        int above = 0;
        for (std::size_t j = 0; j < n; ++j)
          if (j != i && j != k && slope[j] * x + bias[j] > level) ++above;
        if (above == spec.n_active - 1) crossings.push_back(x);
      }
  std::vector<int> order(n);
  for (auto& panel : gaussian_panels(crossings, spec.x_max, spec.panel_width, spec.panel_nodes)) {
    const double middle = 0.5 * (panel.left + panel.right);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + spec.n_active, order.end(), [&](int p, int q) {
      return slope[p] * middle + bias[p] > slope[q] * middle + bias[q];
    });
    out.push_back({std::move(panel.nodes), std::move(panel.weights),
                   std::vector<int>(order.begin(), order.begin() + spec.n_active)});
  }
  return out;
}

/// Walks the x-quadrature once; returns the loss and, when `velocity` is given, fills (N2).
double sweep(const ErfLayerSpec& spec, const ErfLayerState& layout, const std::vector<double>& values,
             std::vector<double>* velocity, std::vector<double>* overlaps) {
  const auto m_count = static_cast<std::size_t>(layout.expert_nodes);
  const double gain = spec.output_multiplier_times_expert_width * spec.route_scale;  // A·h·R
  const std::size_t base = router_offset(spec, layout);
  const auto n = static_cast<std::size_t>(spec.n_experts);
  if (velocity) velocity->assign(values.size(), 0.0);
  const auto active_count = static_cast<std::size_t>(spec.n_active);
  std::vector<double> phi(active_count * m_count), score(active_count), gate(active_count), mean_out(active_count);
  double loss = 0.0;
  for (const auto& panel : active_panels(spec, layout, values)) {
    for (std::size_t q = 0; q < panel.nodes.size(); ++q) {
      const double x = panel.nodes[q];
      const double weight = panel.weights[q];
      double total = 0.0;
      for (std::size_t k = 0; k < active_count; ++k) {
        const auto e = static_cast<std::size_t>(panel.active[k]);
        score[k] = spec.routed() ? sigmoid(values[base + e] * x + values[base + n + e]) : 1.0;
        total += score[k];
      }
      double mixed = 0.0;  // Σ π_i ē_i
      for (std::size_t k = 0; k < active_count; ++k) {
        const auto e = static_cast<std::size_t>(panel.active[k]);
        gate[k] = score[k] / total;
        const double* a = values.data() + e * 2 * m_count;
        const double* w = a + m_count;
        double sum = 0.0;
        for (std::size_t m = 0; m < m_count; ++m) {
          const double value = erf_activation(w[m] * x);
          phi[k * m_count + m] = value;
          sum += layout.node_weights[m] * a[m] * value;
        }
        mean_out[k] = sum;
        mixed += gate[k] * sum;
      }
      const double f = gain * mixed;
      const double residual = f - teacher_output(spec, x);
      loss += 0.5 * weight * residual * residual;
      if (overlaps) {
        (*overlaps)[0] += weight * f * f;
        for (std::size_t t = 0; t < spec.teacher.size(); ++t)
          (*overlaps)[1 + t] += weight * f * erf_activation(spec.teacher[t].slope * x);
      }
      if (!velocity) continue;
      auto& v = *velocity;
      const double weighted = weight * residual;
      for (std::size_t k = 0; k < active_count; ++k) {
        const auto e = static_cast<std::size_t>(panel.active[k]);
        const double coefficient = spec.route_scale * gate[k] * weighted;
        const double* a = values.data() + e * 2 * m_count;
        const double* w = a + m_count;
        double* da = v.data() + e * 2 * m_count;
        double* dw = da + m_count;
        for (std::size_t m = 0; m < m_count; ++m) {
          da[m] -= coefficient * phi[k * m_count + m];
          dw[m] -= coefficient * a[m] * erf_activation_slope(w[m] * x) * x;
        }
        if (spec.routed()) {
          const double logit_gradient = weighted * gain * (1.0 - score[k]) * gate[k] * (mean_out[k] - mixed);
          v[base + e] -= spec.router_rate * logit_gradient * x;
          v[base + n + e] -= spec.router_rate * logit_gradient;
        }
      }
    }
  }
  return loss;
}

void require_layout(const ErfLayerSpec& spec, const ErfLayerState& layout, const std::vector<double>& values) {
  if (layout.expert_nodes < 1 || layout.node_weights.size() != static_cast<std::size_t>(layout.expert_nodes))
    throw std::invalid_argument("erf layer state: node_weights must have expert_nodes entries");
  if (values.size() != state_size(spec, layout.expert_nodes))
    throw std::invalid_argument("erf layer state: wrong number of values for this spec");
}

}  // namespace

ErfLayerState limit_initial_erf_state(const ErfLayerSpec& spec, int nodes_per_axis) {
  spec.validate();
  if (nodes_per_axis < 2) throw std::invalid_argument("nodes_per_axis: must be >= 2");
  const auto rule = gauss_hermite_rule(nodes_per_axis);
  ErfLayerState state;
  state.expert_nodes = nodes_per_axis * nodes_per_axis;
  const auto m_count = static_cast<std::size_t>(state.expert_nodes);
  state.values.assign(state_size(spec, state.expert_nodes), 0.0);
  state.node_weights.resize(m_count);
  for (std::size_t p = 0; p < rule.nodes.size(); ++p)
    for (std::size_t q = 0; q < rule.nodes.size(); ++q) {
      const std::size_t m = p * rule.nodes.size() + q;
      state.node_weights[m] = rule.weights[p] * rule.weights[q];
      for (std::size_t e = 0; e < static_cast<std::size_t>(spec.n_experts); ++e) {
        state.values[e * 2 * m_count + m] = rule.nodes[p];            // a
        state.values[e * 2 * m_count + m_count + m] = rule.nodes[q];  // w
      }
    }
  if (spec.routed())
    for (std::size_t e = 0; e < static_cast<std::size_t>(spec.n_experts); ++e) {
      state.values[router_offset(spec, state) + e] = spec.initial_router_slope[e];
      state.values[router_offset(spec, state) + static_cast<std::size_t>(spec.n_experts) + e] = spec.initial_router_bias[e];
    }
  return state;
}

ErfLayerState sample_erf_state(const ErfLayerSpec& spec, int expert_width, const CounterRng& rng, std::uint64_t path) {
  spec.validate();
  if (expert_width < 1) throw std::invalid_argument("expert_width: must be >= 1");
  ErfLayerState state;
  state.expert_nodes = expert_width;
  const auto m_count = static_cast<std::size_t>(expert_width);
  state.node_weights.assign(m_count, 1.0 / expert_width);
  state.values.assign(state_size(spec, expert_width), 0.0);
  for (std::size_t e = 0; e < static_cast<std::size_t>(spec.n_experts); ++e)
    for (std::size_t m = 0; m < m_count; ++m) {
      state.values[e * 2 * m_count + m] = rng.normal(path, e, 0, m);
      state.values[e * 2 * m_count + m_count + m] = rng.normal(path, e, 1, m);
    }
  if (spec.routed())
    for (std::size_t e = 0; e < static_cast<std::size_t>(spec.n_experts); ++e) {
      state.values[router_offset(spec, state) + e] = spec.initial_router_slope[e];
      state.values[router_offset(spec, state) + static_cast<std::size_t>(spec.n_experts) + e] = spec.initial_router_bias[e];
    }
  return state;
}

std::vector<double> erf_layer_velocity(const ErfLayerSpec& spec, const ErfLayerState& layout,
                                       const std::vector<double>& values) {
  require_layout(spec, layout, values);
  std::vector<double> velocity;
  (void)sweep(spec, layout, values, &velocity, nullptr);
  return velocity;
}

std::vector<double> erf_dense_velocity_closed_form(const ErfLayerSpec& spec, const ErfLayerState& layout,
                                                   const std::vector<double>& values) {
  require_layout(spec, layout, values);
  if (spec.routed()) throw std::invalid_argument("erf_dense_velocity_closed_form: dense layer only (n_experts = 1)");
  const auto m_count = static_cast<std::size_t>(layout.expert_nodes);
  const double gain = spec.output_multiplier_times_expert_width * spec.route_scale;
  const double* a = values.data();
  const double* w = a + m_count;
  std::vector<double> velocity(values.size(), 0.0);
  for (std::size_t m = 0; m < m_count; ++m) {
    // E[(f − y) φ(w_m x)] and E[(f − y) φ'(w_m x) x] = ∂_w E[(f − y) φ(w x)] at w = w_m, from (E2).
    double field = 0.0, field_slope = 0.0;
    for (std::size_t k = 0; k < m_count; ++k) {
      field += gain * layout.node_weights[k] * a[k] * erf_scalar_overlap(w[m], w[k]);
      field_slope += gain * layout.node_weights[k] * a[k] * erf_scalar_overlap_slope(w[m], w[k]);
    }
    for (const auto& unit : spec.teacher) {
      field -= unit.output * erf_scalar_overlap(w[m], unit.slope);
      field_slope -= unit.output * erf_scalar_overlap_slope(w[m], unit.slope);
    }
    velocity[m] = -spec.route_scale * field;
    velocity[m_count + m] = -spec.route_scale * a[m] * field_slope;
  }
  return velocity;
}

double erf_dense_loss_closed_form(const ErfLayerSpec& spec, const ErfLayerState& layout,
                                  const std::vector<double>& values) {
  require_layout(spec, layout, values);
  if (spec.routed()) throw std::invalid_argument("erf_dense_loss_closed_form: dense layer only (n_experts = 1)");
  const auto m_count = static_cast<std::size_t>(layout.expert_nodes);
  const double gain = spec.output_multiplier_times_expert_width * spec.route_scale;
  const double* a = values.data();
  const double* w = a + m_count;
  double student = 0.0, cross = 0.0, target = 0.0;
  for (std::size_t m = 0; m < m_count; ++m) {
    for (std::size_t k = 0; k < m_count; ++k)
      student += layout.node_weights[m] * layout.node_weights[k] * a[m] * a[k] * erf_scalar_overlap(w[m], w[k]);
    for (const auto& unit : spec.teacher) cross += layout.node_weights[m] * a[m] * unit.output * erf_scalar_overlap(w[m], unit.slope);
  }
  for (const auto& s : spec.teacher)
    for (const auto& t : spec.teacher) target += s.output * t.output * erf_scalar_overlap(s.slope, t.slope);
  return 0.5 * (gain * gain * student - 2.0 * gain * cross + target);
}

double erf_layer_output(const ErfLayerSpec& spec, const ErfLayerState& layout, const std::vector<double>& values,
                        double x) {
  require_layout(spec, layout, values);
  const auto m_count = static_cast<std::size_t>(layout.expert_nodes);
  const auto n = static_cast<std::size_t>(spec.n_experts);
  const std::size_t base = router_offset(spec, layout);
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (spec.routed())
    std::partial_sort(order.begin(), order.begin() + spec.n_active, order.end(), [&](int p, int q) {
      const auto i = static_cast<std::size_t>(p), k = static_cast<std::size_t>(q);
      return values[base + i] * x + values[base + n + i] > values[base + k] * x + values[base + n + k];
    });
  double total = 0.0, mixed = 0.0;
  for (int k = 0; k < spec.n_active; ++k) {
    const auto e = static_cast<std::size_t>(order[static_cast<std::size_t>(k)]);
    const double score = spec.routed() ? sigmoid(values[base + e] * x + values[base + n + e]) : 1.0;
    double sum = 0.0;
    for (std::size_t m = 0; m < m_count; ++m)
      sum += layout.node_weights[m] * values[e * 2 * m_count + m] * erf_activation(values[e * 2 * m_count + m_count + m] * x);
    total += score;
    mixed += score * sum;
  }
  return spec.output_multiplier_times_expert_width * spec.route_scale * mixed / total;
}

ErfObservables observe_erf_layer(const ErfLayerSpec& spec, const ErfLayerState& layout,
                                 const std::vector<double>& values) {
  require_layout(spec, layout, values);
  ErfObservables out;
  std::vector<double> overlaps(1 + spec.teacher.size(), 0.0);
  out.loss = sweep(spec, layout, values, nullptr, &overlaps);
  out.order_parameters = overlaps;
  const auto m_count = static_cast<std::size_t>(layout.expert_nodes);
  double moment_a = 0.0, moment_w = 0.0;
  for (std::size_t e = 0; e < static_cast<std::size_t>(spec.n_experts); ++e)
    for (std::size_t m = 0; m < m_count; ++m) {
      moment_a += layout.node_weights[m] * values[e * 2 * m_count + m] * values[e * 2 * m_count + m];
      moment_w += layout.node_weights[m] * values[e * 2 * m_count + m_count + m] * values[e * 2 * m_count + m_count + m];
    }
  out.order_parameters.push_back(moment_a / spec.n_experts);
  out.order_parameters.push_back(moment_w / spec.n_experts);
  if (spec.routed())
    for (std::size_t k = router_offset(spec, layout); k < values.size(); ++k) out.order_parameters.push_back(values[k]);
  return out;
}

namespace {
template <class Stepper>
ErfTrajectory integrate(const ErfLayerSpec& spec, const ErfLayerState& initial, const std::vector<double>& times,
                        Stepper&& stepper, double first_step, ErfVelocity velocity) {
  namespace odeint = boost::numeric::odeint;
  using State = std::vector<double>;
  spec.validate();
  require_layout(spec, initial, initial.values);
  if (times.empty() || times.front() != 0.0) throw std::invalid_argument("times: must start at 0");
  for (std::size_t k = 1; k < times.size(); ++k)
    if (!(times[k] > times[k - 1])) throw std::invalid_argument("times: must be strictly increasing");
  if (velocity == ErfVelocity::closed_form && spec.routed())
    throw std::invalid_argument("velocity: closed_form exists for the dense layer only");
  auto system = [&](const State& x, State& dxdt, double /*t*/) {
    dxdt = velocity == ErfVelocity::closed_form ? erf_dense_velocity_closed_form(spec, initial, x)
                                                : erf_layer_velocity(spec, initial, x);
  };
  ErfTrajectory trajectory;
  auto observer = [&](const State& x, double t) {
    const auto seen = observe_erf_layer(spec, initial, x);
    trajectory.times.push_back(t);
    trajectory.loss.push_back(seen.loss);
    trajectory.order_parameters.push_back(seen.order_parameters);
  };
  State x = initial.values;
  odeint::integrate_times(stepper, system, x, times.begin(), times.end(), first_step, observer);
  return trajectory;
}
}  // namespace

ErfTrajectory integrate_erf_limit(const ErfLayerSpec& spec, const ErfLayerState& initial,
                                  const std::vector<double>& times, double relative_tolerance, ErfVelocity velocity) {
  namespace odeint = boost::numeric::odeint;
  if (!(relative_tolerance > 0.0)) throw std::invalid_argument("relative_tolerance: must be > 0");
  auto stepper = odeint::make_dense_output(1e-3 * relative_tolerance, relative_tolerance,
                                           odeint::runge_kutta_dopri5<std::vector<double>>());
  return integrate(spec, initial, times, stepper, 1e-3, velocity);
}

ErfTrajectory simulate_erf_flow(const ErfLayerSpec& spec, const ErfLayerState& initial, const std::vector<double>& times,
                                double rk4_step) {
  namespace odeint = boost::numeric::odeint;
  if (!(rk4_step > 0.0)) throw std::invalid_argument("rk4_step: must be > 0");
  return integrate(spec, initial, times, odeint::runge_kutta4<std::vector<double>>(), rk4_step, ErfVelocity::quadrature);
}

ErfDeviation erf_deviation(const ErfTrajectory& run, const ErfTrajectory& reference) {
  if (run.times.size() != reference.times.size()) throw std::invalid_argument("erf_deviation: different time samples");
  ErfDeviation out;
  for (std::size_t k = 0; k < run.times.size(); ++k) {
    out.loss = std::max(out.loss, std::abs(run.loss[k] - reference.loss[k]));
    const auto& x = run.order_parameters[k];
    const auto& y = reference.order_parameters[k];
    if (x.size() != y.size()) throw std::invalid_argument("erf_deviation: different order parameters");
    double squared = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) squared += (x[i] - y[i]) * (x[i] - y[i]);
    out.order_parameters = std::max(out.order_parameters, std::sqrt(squared));
  }
  return out;
}

std::vector<std::vector<ErfTrajectory>> simulate_erf_ensemble(const ErfLayerSpec& spec,
                                                              const std::vector<int>& expert_widths, int seeds,
                                                              std::uint64_t seed, const std::vector<double>& times,
                                                              double rk4_step) {
  spec.validate();
  if (seeds < 1) throw std::invalid_argument("seeds: must be >= 1");
  const CounterRng rng(seed, 0xe7f);
  std::vector<std::vector<ErfTrajectory>> runs(expert_widths.size(), std::vector<ErfTrajectory>(static_cast<std::size_t>(seeds)));
  const auto jobs = static_cast<long long>(expert_widths.size()) * seeds;
  // Largest widths first (dynamic schedule) so the longest jobs do not end up last.
#pragma omp parallel for schedule(dynamic, 1)
  for (long long job = 0; job < jobs; ++job) {
    const auto w = expert_widths.size() - 1 - static_cast<std::size_t>(job / seeds);
    const auto s = static_cast<std::size_t>(job % seeds);
    const auto initial = sample_erf_state(spec, expert_widths[w], rng, (static_cast<std::uint64_t>(w) << 32) + s);
    runs[w][s] = simulate_erf_flow(spec, initial, times, rk4_step);
  }
  return runs;
}

}  // namespace muelab::sim::meanfield
