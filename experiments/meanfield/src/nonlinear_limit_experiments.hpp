// Finite-width convergence of erf dense and sigmoid-routed MoE layers to their nonlinear mean-field
// limit (docs/theory.md §8 "Nonlinear", claim `meanfield-convergence` of §9).
#pragma once

#include "muelab/experiments/registry.hpp"

namespace muelab::experiments::meanfield {

[[nodiscard]] ExperimentPlan meanfield_nonlinear_plan(Profile profile);
[[nodiscard]] VerdictReport run_meanfield_nonlinear(const ExperimentOptions& options);

}  // namespace muelab::experiments::meanfield
