// Registers the mean-field experiments (experiments/CMakeLists.txt: muelab_register_experiments).
#include "jiang_experiments.hpp"
#include "linear_experiments.hpp"
#include "nonlinear_experiments.hpp"
#include "nonlinear_limit_experiments.hpp"
#include "muelab/experiments/registry.hpp"

namespace muelab::experiments {

void register_meanfield_experiments(Registry& registry) {
  registry.add({"meanfield-convergence",
                "linear two-layer dense and MoE networks: finite-width deviation from the exact mean-field limit decays as width^-1/2",
                {"meanfield-convergence"}, "meanfield_convergence.py", meanfield::run_meanfield_convergence,
                meanfield::meanfield_convergence_plan});
  registry.add({"meanfield-bridge1",
                "Bridge I in the mean-field limit: Dense MoE (a=N, R=N, A=d/H_act) and dense width H_act share one limit; R=1 separates",
                {"bridge1-exact", "meanfield-convergence"}, "meanfield_bridge1.py", meanfield::run_meanfield_bridge1, meanfield::meanfield_bridge1_plan});
  registry.add({"meanfield-jiang-dmft",
                "Jiang's DMFT order parameters at init: residual variance ~ alpha*/kappa (slopes in L, a, h/d, d), routing threshold ~ N^-1/2; fan-in down init as control",
                {"jiang-dmft-scaling", "meanfield-convergence"}, "meanfield_jiang_dmft.py", meanfield::run_meanfield_jiang_dmft,
                meanfield::meanfield_jiang_dmft_plan});
  registry.add({"meanfield-feature-learning",
                "erf dense and sigmoid-routed MoE layers: relative feature movement vs width is Theta(1) under muP/Complete-muE, vanishes under SP/NTK",
                {"coord-check"}, "meanfield_feature_learning.py", meanfield::run_meanfield_feature_learning,
                meanfield::meanfield_feature_learning_plan});
  registry.add({"meanfield-nonlinear",
                "erf dense and sigmoid-routed MoE layers (population gradients): finite-width deviation from the nonlinear mean-field limit (Gauss-Hermite node ODE) decays as width^-1/2, and along the expert count N at fixed h and a/N (large-N expert-particle reference) as N^-1/2; R=1 limits as controls",
                {"meanfield-convergence"}, "meanfield_nonlinear.py", meanfield::run_meanfield_nonlinear,
                meanfield::meanfield_nonlinear_plan});
}

}  // namespace muelab::experiments
