// Experiments on the exact linear mean-field limit (docs/theory.md §8; claims of §9).
#pragma once

#include "muelab/experiments/registry.hpp"

namespace muelab::experiments::meanfield {

/// The declared plans (docs/claims.md, "Plans").
[[nodiscard]] ExperimentPlan meanfield_convergence_plan(Profile profile);
[[nodiscard]] ExperimentPlan meanfield_bridge1_plan(Profile profile);
/// `meanfield-convergence`: finite-width deviation from the limit vs width (dense flow, dense GD, MoE flow).
[[nodiscard]] VerdictReport run_meanfield_convergence(const ExperimentOptions& options);
/// `bridge1-exact` in the limit: Dense MoE (R = N) vs dense width H_act; control R = 1.
[[nodiscard]] VerdictReport run_meanfield_bridge1(const ExperimentOptions& options);

}  // namespace muelab::experiments::meanfield
