// Helpers shared by the SDE experiments: slope fits judged against a declared claim.
#pragma once

#include "muelab/experiments/registry.hpp"
#include "muelab/experiments/verdicts.hpp"
#include "muelab/sim/statistics.hpp"

#include <string>
#include <vector>

namespace muelab::experiments::sde {

/// Log-log slope of y against x with its 95% interval, judged against the declared `spec`
/// (docs/claims.md, "How a row is judged"); a non-positive or non-finite y is "not measured".
[[nodiscard]] Verdict slope_verdict(const ClaimSpec& spec, const std::string& case_name, const std::vector<double>& x,
                                    const std::vector<double>& y);

/// Experiments defined in this library (one function each).
Experiment make_sde_stepper_order_experiment();
Experiment make_sgd_sme_weak_order_experiment();
Experiment make_adam_sde_weak_order_experiment();
Experiment make_sqrt_rule_collapse_experiment();
Experiment make_svag_rate_experiment();
Experiment make_sde_batch_duration_experiment();
Experiment make_bridge2_moe_experiment();
Experiment make_bridge2_specialize_experiment();
Experiment make_sigma0_specialize_experiment();

}  // namespace muelab::experiments::sde
