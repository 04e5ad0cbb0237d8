// SP/NTK vs μP / Complete-muE feature movement in erf dense and MoE layers (docs/theory.md §8).
#pragma once

#include "muelab/experiments/registry.hpp"

namespace muelab::experiments::meanfield {

[[nodiscard]] ExperimentPlan meanfield_feature_learning_plan(Profile profile);
[[nodiscard]] VerdictReport run_meanfield_feature_learning(const ExperimentOptions& options);

}  // namespace muelab::experiments::meanfield
