// Registers the mean-field experiments (experiments/CMakeLists.txt: muelab_register_experiments).
#include "common.hpp"

namespace muelab::experiments {

void register_meanfield_experiments(Registry& registry) {
  registry.add(meanfield::make_meanfield_convergence_experiment());
  registry.add(meanfield::make_meanfield_bridge1_experiment());
  registry.add(meanfield::make_meanfield_jiang_dmft_experiment());
  registry.add(meanfield::make_meanfield_feature_learning_experiment());
  registry.add(meanfield::make_meanfield_nonlinear_experiment());
}

}  // namespace muelab::experiments
