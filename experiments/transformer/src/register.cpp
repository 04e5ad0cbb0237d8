#include "common.hpp"

namespace muelab::experiments {
namespace transformer {
Experiment make_lr_transfer_experiment();
Experiment make_coord_check_experiment();
Experiment make_initial_loss_overlay_experiment();
}  // namespace transformer

void register_transformer_experiments(Registry& registry) {
  registry.add(transformer::make_lr_transfer_experiment());
  registry.add(transformer::make_coord_check_experiment());
  registry.add(transformer::make_initial_loss_overlay_experiment());
}

}  // namespace muelab::experiments
