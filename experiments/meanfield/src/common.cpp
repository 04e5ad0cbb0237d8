#include "common.hpp"

#include "muelab/theory/bridge.hpp"

namespace muelab::experiments::meanfield {

using namespace muelab::sim::meanfield;

std::vector<int> powers_of_two(int first_exponent, int last_exponent) {
  std::vector<int> values;
  for (int e = first_exponent; e <= last_exponent; ++e) values.push_back(1 << e);
  return values;
}

std::vector<double> time_grid(double horizon, int samples) {
  if (samples < 2) return {0.0};
  std::vector<double> times;
  for (int k = 0; k < samples; ++k) times.push_back(horizon * k / (samples - 1));
  return times;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Eigen::VectorXd linear_teacher() {
  Eigen::VectorXd teacher(4);
  teacher << 1.5, -1.0, 0.5, 1.0;
  return teacher;
}

LinearNetworkSpec dense_layer(const Eigen::VectorXd& teacher, int width) {
  theory::ModelConfig model;
  model.d_model = 1;
  model.ffn = theory::FfnKind::dense;
  model.d_ffn = width;
  auto spec = LinearNetworkSpec::dense(teacher);
  spec.output_multiplier_times_expert_width = theory::active_width_output_multiplier(model) * width;
  return spec;
}

LinearNetworkSpec routed_layer(const Eigen::VectorXd& teacher, int n_experts, int n_active, int expert_width,
                               bool route_scale_active) {
  theory::ModelConfig model;
  model.d_model = 1;
  model.ffn = theory::FfnKind::moe;
  model.n_experts = n_experts;
  model.n_active = n_active;
  model.d_expert = expert_width;
  const double output_multiplier = theory::active_width_output_multiplier(model);
  const double route_scale = theory::complete_mue_route_scale(model, route_scale_active);
  return LinearNetworkSpec::cyclic_moe(n_experts, n_active, output_multiplier * expert_width, route_scale, teacher);
}

}  // namespace muelab::experiments::meanfield
