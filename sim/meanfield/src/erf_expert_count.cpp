// Expert-count axis of the nonlinear MoE mean-field limit (erf_expert_count.hpp; README
// "Expert-count limit"; docs/theory.md §8 "Nonlinear", §6 top-a threshold, §5.1).
#include "muelab/sim/meanfield/erf_expert_count.hpp"

#include <boost/numeric/odeint.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace muelab::sim::meanfield {

int ErfExpertCountSpec::active_count(int n_experts) const {
  if (n_experts < 1) throw std::invalid_argument("n_experts: must be >= 1");
  const double active = active_fraction * n_experts;
  const double rounded = std::round(active);
  if (rounded < 1.0 || std::abs(active - rounded) > 1e-9)
    throw std::invalid_argument("n_experts: active_fraction × n_experts must be an integer >= 1");
  return static_cast<int>(rounded);
}

void ErfExpertCountSpec::validate() const {
  if (expert_width < 1) throw std::invalid_argument("expert_width: must be >= 1");
  if (!(active_fraction > 0.0 && active_fraction <= 1.0)) throw std::invalid_argument("active_fraction: must be in (0, 1]");
  if (!(router_rate_per_active >= 0.0)) throw std::invalid_argument("router_rate_per_active: must be >= 0");
  if (!(router_slope_range >= 0.0)) throw std::invalid_argument("router_slope_range: must be >= 0");
  if (!(router_bias_range >= 0.0)) throw std::invalid_argument("router_bias_range: must be >= 0");
  if (teacher.empty()) throw std::invalid_argument("teacher: needs at least one unit");
  if (inputs.nodes.empty() || inputs.nodes.size() != inputs.weights.size())
    throw std::invalid_argument("inputs: need nodes and as many weights");
}

ErfLayerSpec ErfExpertCountSpec::layer(int n_experts) const {
  validate();
  const int active = active_count(n_experts);
  auto out = ErfLayerSpec::dense(teacher);
  out.n_experts = n_experts;
  out.n_active = active;
  out.output_multiplier_times_expert_width = 1.0 / active;  // A·h = d/H_act·h = 1/a (d = 1), §5.1
  out.route_scale = route_scale_active ? static_cast<double>(active) : 1.0;  // R = a, §5.1
  out.router_rate = router_rate_per_active * active;                         // η_r = η̄_r·a, (K2)
  if (out.routed()) {
    // ErfLayerSpec::validate() asks for per-expert initial router values because the fixed-N model
    // starts every seed from them. Here each particle's router slope and bias are drawn from the
    // initial law in sample_expert_count_state() (uniform on ±range), so these zeros are never read.
    out.initial_router_slope.assign(static_cast<std::size_t>(n_experts), 0.0);
    out.initial_router_bias.assign(static_cast<std::size_t>(n_experts), 0.0);
  }
  return out;
}

namespace {

std::size_t router_base(const ErfLayerSpec& layer, const ErfLayerState& layout) {
  return static_cast<std::size_t>(layer.n_experts) * 2 * static_cast<std::size_t>(layout.expert_nodes);
}

void require_design_layout(const ErfLayerSpec& layer, const ErfLayerState& layout, const std::vector<double>& values,
                           const QuadratureRule& inputs) {
  layer.validate();
  if (layout.expert_nodes < 1 || layout.node_weights.size() != static_cast<std::size_t>(layout.expert_nodes))
    throw std::invalid_argument("erf layer state: node_weights must have expert_nodes entries");
  const std::size_t expected = router_base(layer, layout) + (layer.routed() ? 2 * static_cast<std::size_t>(layer.n_experts) : 0);
  if (values.size() != expected) throw std::invalid_argument("erf layer state: wrong number of values for this spec");
  if (inputs.nodes.empty() || inputs.nodes.size() != inputs.weights.size())
    throw std::invalid_argument("inputs: need nodes and as many weights");
}

double teacher_at(const ErfLayerSpec& layer, double x) {
  double y = 0.0;
  for (const auto& unit : layer.teacher) y += unit.output * erf_activation(unit.slope * x);
  return y;
}

/// One pass over the design: returns the loss; fills (K2) into `velocity` and E f², E f φ(β_t x)
/// into `overlaps` when given.
double design_sweep(const ErfLayerSpec& layer, const ErfLayerState& layout, const std::vector<double>& values,
                    const QuadratureRule& inputs, std::vector<double>* velocity, std::vector<double>* overlaps) {
  const auto h = static_cast<std::size_t>(layout.expert_nodes);
  const auto n = static_cast<std::size_t>(layer.n_experts);
  const auto active = static_cast<std::size_t>(layer.n_active);
  const std::size_t base = router_base(layer, layout);
  const double gain = layer.output_multiplier_times_expert_width * layer.route_scale;  // A·h·R
  if (velocity) velocity->assign(values.size(), 0.0);
  std::vector<int> order(n);
  std::vector<double> logit(n), score(active), expert_out(active), phi(active * h);
  double loss = 0.0;
  for (std::size_t q = 0; q < inputs.nodes.size(); ++q) {
    const double x = inputs.nodes[q];
    const double weight = inputs.weights[q];
    // S(x): the a largest router logits (the sigmoid is monotone), O(N) by selection.
    std::iota(order.begin(), order.end(), 0);
    if (layer.routed()) {
      for (std::size_t i = 0; i < n; ++i) logit[i] = values[base + i] * x + values[base + n + i];
      if (active < n)
        std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(active) - 1, order.end(),
                         [&](int p, int k) { return logit[static_cast<std::size_t>(p)] > logit[static_cast<std::size_t>(k)]; });
    }
    double total = 0.0, mixed = 0.0;
    for (std::size_t k = 0; k < active; ++k) {
      const auto e = static_cast<std::size_t>(order[k]);
      score[k] = layer.routed() ? 1.0 / (1.0 + std::exp(-logit[e])) : 1.0;
      const double* a = values.data() + e * 2 * h;
      const double* w = a + h;
      double sum = 0.0;
      for (std::size_t m = 0; m < h; ++m) {
        phi[k * h + m] = erf_activation(w[m] * x);
        sum += layout.node_weights[m] * a[m] * phi[k * h + m];
      }
      expert_out[k] = sum;
      total += score[k];
      mixed += score[k] * sum;
    }
    mixed /= total;  // Σ π_i ē_i, π_i = σ_i/Σ_S σ
    const double f = gain * mixed;
    const double residual = f - teacher_at(layer, x);
    loss += 0.5 * weight * residual * residual;
    if (overlaps) {
      (*overlaps)[0] += weight * f * f;
      for (std::size_t t = 0; t < layer.teacher.size(); ++t)
        (*overlaps)[1 + t] += weight * f * erf_activation(layer.teacher[t].slope * x);
    }
    if (!velocity) continue;
    auto& v = *velocity;
    const double weighted = weight * residual;
    for (std::size_t k = 0; k < active; ++k) {
      const auto e = static_cast<std::size_t>(order[k]);
      const double gate = score[k] / total;
      const double coefficient = layer.route_scale * gate * weighted;  // R·π_i = σ_i/Z_N (K2)
      const double* a = values.data() + e * 2 * h;
      const double* w = a + h;
      double* da = v.data() + e * 2 * h;
      double* dw = da + h;
      for (std::size_t m = 0; m < h; ++m) {
        da[m] -= coefficient * phi[k * h + m];
        dw[m] -= coefficient * a[m] * erf_activation_slope(w[m] * x) * x;
      }
      if (layer.routed()) {
        const double logit_gradient = weighted * gain * (1.0 - score[k]) * gate * (expert_out[k] - mixed);
        v[base + e] -= layer.router_rate * logit_gradient * x;
        v[base + n + e] -= layer.router_rate * logit_gradient;
      }
    }
  }
  return loss;
}

}  // namespace

ErfLayerState sample_expert_count_state(const ErfExpertCountSpec& spec, int n_experts, const CounterRng& rng,
                                        std::uint64_t path) {
  const auto layer = spec.layer(n_experts);
  ErfLayerState state;
  state.expert_nodes = spec.expert_width;
  const auto h = static_cast<std::size_t>(spec.expert_width);
  const auto n = static_cast<std::size_t>(n_experts);
  state.node_weights.assign(h, 1.0 / spec.expert_width);
  state.values.assign(n * 2 * h + (layer.routed() ? 2 * n : 0), 0.0);
  for (std::size_t e = 0; e < n; ++e) {
    for (std::size_t m = 0; m < h; ++m) {
      state.values[e * 2 * h + m] = rng.normal(path, e, 0, m);
      state.values[e * 2 * h + h + m] = rng.normal(path, e, 1, m);
    }
    if (layer.routed()) {
      state.values[n * 2 * h + e] = spec.router_slope_range * (2.0 * rng.uniform(path, e, 2, 0) - 1.0);
      state.values[n * 2 * h + n + e] = spec.router_bias_range * (2.0 * rng.uniform(path, e, 3, 0) - 1.0);
    }
  }
  return state;
}

std::vector<double> erf_design_velocity(const ErfLayerSpec& layer, const ErfLayerState& layout,
                                        const std::vector<double>& values, const QuadratureRule& inputs) {
  require_design_layout(layer, layout, values, inputs);
  std::vector<double> velocity;
  (void)design_sweep(layer, layout, values, inputs, &velocity, nullptr);
  return velocity;
}

ErfObservables observe_erf_design(const ErfLayerSpec& layer, const ErfLayerState& layout,
                                  const std::vector<double>& values, const QuadratureRule& inputs) {
  require_design_layout(layer, layout, values, inputs);
  ErfObservables out;
  out.order_parameters.assign(1 + layer.teacher.size(), 0.0);
  out.loss = design_sweep(layer, layout, values, inputs, nullptr, &out.order_parameters);
  const auto h = static_cast<std::size_t>(layout.expert_nodes);
  const auto n = static_cast<std::size_t>(layer.n_experts);
  double moment_a = 0.0, moment_w = 0.0, slope = 0.0, bias = 0.0;
  for (std::size_t e = 0; e < n; ++e)
    for (std::size_t m = 0; m < h; ++m) {
      moment_a += layout.node_weights[m] * values[e * 2 * h + m] * values[e * 2 * h + m];
      moment_w += layout.node_weights[m] * values[e * 2 * h + h + m] * values[e * 2 * h + h + m];
    }
  if (layer.routed())
    for (std::size_t e = 0; e < n; ++e) {
      slope += values[n * 2 * h + e] * values[n * 2 * h + e];
      bias += values[n * 2 * h + n + e] * values[n * 2 * h + n + e];
    }
  const auto count = static_cast<double>(n);
  for (double value : {moment_a, moment_w, slope, bias}) out.order_parameters.push_back(value / count);
  return out;
}

ErfTrajectory simulate_erf_design_flow(const ErfLayerSpec& layer, const ErfLayerState& initial,
                                       const QuadratureRule& inputs, const std::vector<double>& times,
                                       double rk4_step) {
  namespace odeint = boost::numeric::odeint;
  using State = std::vector<double>;
  require_design_layout(layer, initial, initial.values, inputs);
  if (!(rk4_step > 0.0)) throw std::invalid_argument("rk4_step: must be > 0");
  if (times.empty() || times.front() != 0.0) throw std::invalid_argument("times: must start at 0");
  for (std::size_t k = 1; k < times.size(); ++k)
    if (!(times[k] > times[k - 1])) throw std::invalid_argument("times: must be strictly increasing");
  auto system = [&](const State& x, State& dxdt, double /*t*/) {
    (void)design_sweep(layer, initial, x, inputs, &dxdt, nullptr);
  };
  ErfTrajectory trajectory;
  auto observer = [&](const State& x, double t) {
    const auto seen = observe_erf_design(layer, initial, x, inputs);
    trajectory.times.push_back(t);
    trajectory.loss.push_back(seen.loss);
    trajectory.order_parameters.push_back(seen.order_parameters);
  };
  State x = initial.values;
  odeint::integrate_times(odeint::runge_kutta4<State>(), system, x, times.begin(), times.end(), rk4_step, observer);
  return trajectory;
}

std::vector<std::vector<ErfTrajectory>> simulate_expert_count_ensemble(const ErfExpertCountSpec& spec,
                                                                       const std::vector<int>& expert_counts, int seeds,
                                                                       std::uint64_t seed, std::uint64_t stream,
                                                                       const std::vector<double>& times, double rk4_step) {
  spec.validate();
  if (seeds < 1) throw std::invalid_argument("seeds: must be >= 1");
  for (int count : expert_counts) (void)spec.active_count(count);
  const CounterRng rng(seed, stream);
  std::vector<std::vector<ErfTrajectory>> runs(expert_counts.size(),
                                                std::vector<ErfTrajectory>(static_cast<std::size_t>(seeds)));
  // Jobs ordered by decreasing N (dynamic schedule) so the longest jobs do not end up last.
  std::vector<std::size_t> by_size(expert_counts.size());
  std::iota(by_size.begin(), by_size.end(), 0);
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](std::size_t p, std::size_t k) { return expert_counts[p] > expert_counts[k]; });
  const auto jobs = static_cast<long long>(expert_counts.size()) * seeds;
#pragma omp parallel for schedule(dynamic, 1)
  for (long long job = 0; job < jobs; ++job) {
    const std::size_t c = by_size[static_cast<std::size_t>(job / seeds)];
    const auto s = static_cast<std::size_t>(job % seeds);
    const auto layer = spec.layer(expert_counts[c]);
    const auto initial = sample_expert_count_state(spec, expert_counts[c], rng, (static_cast<std::uint64_t>(c) << 32) + s);
    runs[c][s] = simulate_erf_design_flow(layer, initial, spec.inputs, times, rk4_step);
  }
  return runs;
}

ErfTrajectory mean_trajectory(const std::vector<ErfTrajectory>& runs) {
  if (runs.empty()) throw std::invalid_argument("mean_trajectory: no runs");
  ErfTrajectory out = runs.front();
  for (std::size_t r = 1; r < runs.size(); ++r) {
    if (runs[r].times != out.times) throw std::invalid_argument("mean_trajectory: different time samples");
    for (std::size_t k = 0; k < out.times.size(); ++k) {
      out.loss[k] += runs[r].loss[k];
      for (std::size_t i = 0; i < out.order_parameters[k].size(); ++i)
        out.order_parameters[k][i] += runs[r].order_parameters[k].at(i);
    }
  }
  const auto count = static_cast<double>(runs.size());
  for (std::size_t k = 0; k < out.times.size(); ++k) {
    out.loss[k] /= count;
    for (double& value : out.order_parameters[k]) value /= count;
  }
  return out;
}

ErfTrajectory dropped_route_scale_limit(const ErfExpertCountSpec& spec, const std::vector<double>& times) {
  spec.validate();
  double half_target = 0.0;
  const auto layer = ErfLayerSpec::dense(spec.teacher);
  for (std::size_t q = 0; q < spec.inputs.nodes.size(); ++q) {
    const double y = teacher_at(layer, spec.inputs.nodes[q]);
    half_target += 0.5 * spec.inputs.weights[q] * y * y;
  }
  std::vector<double> order(1 + spec.teacher.size(), 0.0);  // Q = R_t = 0 (f ≡ 0)
  // m_a = m_w = E N(0,1)² = 1; E r² = r̄²/3, E c² = c̄²/3 (uniform laws).
  for (double value : {1.0, 1.0, spec.router_slope_range * spec.router_slope_range / 3.0,
                       spec.router_bias_range * spec.router_bias_range / 3.0})
    order.push_back(value);
  ErfTrajectory out;
  for (double t : times) {
    out.times.push_back(t);
    out.loss.push_back(half_target);
    out.order_parameters.push_back(order);
  }
  return out;
}

}  // namespace muelab::sim::meanfield
