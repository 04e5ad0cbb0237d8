#include "common.hpp"

namespace muelab::experiments {

void register_sde_experiments(Registry& registry) {
  registry.add(sde::make_sde_stepper_order_experiment());
  registry.add(sde::make_sgd_sme_weak_order_experiment());
  registry.add(sde::make_adam_sde_weak_order_experiment());
  registry.add(sde::make_sqrt_rule_collapse_experiment());
  registry.add(sde::make_svag_rate_experiment());
  registry.add(sde::make_sde_batch_duration_experiment());
  registry.add(sde::make_bridge2_moe_experiment());
  registry.add(sde::make_bridge2_specialize_experiment());
  registry.add(sde::make_sigma0_specialize_experiment());
}

}  // namespace muelab::experiments
