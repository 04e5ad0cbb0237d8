// Jiang's DMFT quantities at initialization (docs/theory.md §6).
#pragma once

#include "muelab/experiments/registry.hpp"

namespace muelab::experiments::meanfield {

/// Residual-variance slopes in L, a (fixed κ), h/d and d; routing-threshold fluctuation vs N; controls.
[[nodiscard]] ExperimentPlan meanfield_jiang_dmft_plan(Profile profile);
[[nodiscard]] VerdictReport run_meanfield_jiang_dmft(const ExperimentOptions& options);

}  // namespace muelab::experiments::meanfield
