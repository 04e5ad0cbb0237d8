// The abc-symmetry of μP (docs/theory.md §2, [TP5]): for Adam, (multiplier ×θ, init ×θ⁻¹, LR ×θ⁻¹)
// leaves training unchanged (exactly so when also ε ×θ and coupled weight decay ×θ, so that the
// per-step decay ηλ is kept); for SGD the LR takes ×θ⁻². The engine uses it to express the
// router's multiplier form under mup-moe and tests it through effective sizes.
#pragma once

#include "muelab/theory/config.hpp"

namespace muelab::theory {

struct GroupParameterization {
  double multiplier = 1.0;
  double init_std = 0.0;
  double lr = 0.0;
  double eps = 0.0;
  double weight_decay = 0.0;
};

/// The equivalent parameterization with the forward multiplier scaled by θ.
[[nodiscard]] GroupParameterization abc_reparameterize(const GroupParameterization& form, double theta,
                                                       OptimizerKind optimizer);

/// What the network function sees of a parameter group, for one unit of loss gradient with respect
/// to the effective weight W_eff = multiplier·W: the init of W_eff, the size of one optimizer step
/// of W_eff (Adam: multiplier·LR, since Adam's step is invariant to the gradient's scale; SGD:
/// multiplier²·LR), the per-step decay factor η·λ, and ε relative to the gradient's scale.
struct EffectiveSizes {
  double function_init = 0.0;
  double function_update = 0.0;
  double decay_per_step = 0.0;
  double eps_relative_to_gradient = 0.0;
};

[[nodiscard]] EffectiveSizes effective_sizes(const GroupParameterization& form, OptimizerKind optimizer);

}  // namespace muelab::theory
