// Registers the mean-field experiments (experiments/CMakeLists.txt: muelab_register_experiments).
#include "linear_experiments.hpp"
#include "muelab/experiments/registry.hpp"

namespace muelab::experiments {

void register_meanfield_experiments(Registry& registry) {
  registry.add({"meanfield-convergence",
                "linear two-layer dense and MoE networks: finite-width deviation from the exact mean-field limit decays as width^-1/2",
                {"meanfield-convergence"}, "meanfield_convergence.py", meanfield::run_meanfield_convergence});
  registry.add({"meanfield-bridge1",
                "Bridge I in the mean-field limit: Dense MoE (a=N, R=N, A=d/H_act) and dense width H_act share one limit; R=1 separates",
                {"bridge1-exact", "meanfield-convergence"}, "meanfield_bridge1.py", meanfield::run_meanfield_bridge1});
}

}  // namespace muelab::experiments
