#include "common.hpp"

namespace muelab::experiments {
namespace transformer {
Experiment make_lr_transfer_experiment();
Experiment make_coord_check_experiment();
Experiment make_initial_loss_overlay_experiment();
Experiment make_bridge2_transformer_experiment();
Experiment make_tune_dense_once_experiment();
Experiment make_fixed_hp_scaling_experiment();
Experiment make_moe_speedup_experiment();
Experiment make_capacity_gate_experiment();
Experiment make_lr_transfer_capacity_experiment();
Experiment make_lr_transfer_capacity_structure_experiment();
Experiment make_lr_transfer_capacity_sources_experiment();
Experiment make_lr_transfer_capacity_width_sources_experiment();
Experiment make_lr_transfer_capacity_depth_sources_experiment();
Experiment make_lr_transfer_capacity_shared_sources_experiment();
Experiment make_lr_transfer_capacity_route_scale_experiment();
Experiment make_lr_transfer_capacity_width_experiment();
Experiment make_lr_transfer_capacity_depth_experiment();
Experiment make_lr_transfer_capacity_controls_experiment();
Experiment make_lr_transfer_capacity_experts_experiment();
Experiment make_lr_transfer_capacity_controls_width_experiment();
Experiment make_duration_transfer_experiment();
Experiment make_batch_transfer_experiment();
Experiment make_init_transfer_experiment();
Experiment make_transfer_everything_experiment();
Experiment make_sigma0_transformer_experiment();
Experiment make_wd_transfer_experiment();
}  // namespace transformer

void register_transformer_experiments(Registry& registry) {
  // capacity-gate first: the experiments on its task read its gate.json (docs/claims.md `capacity-gate`).
  registry.add(transformer::make_capacity_gate_experiment());
  registry.add(transformer::make_lr_transfer_capacity_experiment());
  registry.add(transformer::make_lr_transfer_capacity_structure_experiment());
  registry.add(transformer::make_lr_transfer_capacity_sources_experiment());
  registry.add(transformer::make_lr_transfer_capacity_width_experiment());
  registry.add(transformer::make_lr_transfer_capacity_width_sources_experiment());
  registry.add(transformer::make_lr_transfer_capacity_depth_experiment());
  registry.add(transformer::make_lr_transfer_capacity_depth_sources_experiment());
  registry.add(transformer::make_lr_transfer_capacity_shared_sources_experiment());
  registry.add(transformer::make_lr_transfer_capacity_route_scale_experiment());
  registry.add(transformer::make_lr_transfer_capacity_controls_experiment());
  registry.add(transformer::make_lr_transfer_capacity_experts_experiment());
  registry.add(transformer::make_lr_transfer_capacity_controls_width_experiment());
  registry.add(transformer::make_lr_transfer_experiment());
  registry.add(transformer::make_coord_check_experiment());
  registry.add(transformer::make_initial_loss_overlay_experiment());
  registry.add(transformer::make_bridge2_transformer_experiment());
  registry.add(transformer::make_tune_dense_once_experiment());
  registry.add(transformer::make_fixed_hp_scaling_experiment());
  registry.add(transformer::make_moe_speedup_experiment());
  registry.add(transformer::make_duration_transfer_experiment());
  registry.add(transformer::make_batch_transfer_experiment());
  registry.add(transformer::make_init_transfer_experiment());
  registry.add(transformer::make_transfer_everything_experiment());
  registry.add(transformer::make_sigma0_transformer_experiment());
  registry.add(transformer::make_wd_transfer_experiment());
}

}  // namespace muelab::experiments
