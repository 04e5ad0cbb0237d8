#include "muelab/theory/abc_symmetry.hpp"

namespace muelab::theory {

GroupParameterization abc_reparameterize(const GroupParameterization& form, double theta, OptimizerKind optimizer) {
  GroupParameterization out = form;
  out.multiplier = form.multiplier * theta;
  out.init_std = form.init_std / theta;
  // The gradient with respect to W scales with the multiplier: Adam's update is scale-free, so its
  // LR follows W's scale (θ⁻¹); SGD's update is proportional to the gradient (θ⁻²).
  out.lr = optimizer == OptimizerKind::sgd ? form.lr / (theta * theta) : form.lr / theta;
  out.eps = form.eps * theta;                     // ε compared with a gradient that grew by θ
  out.weight_decay = form.weight_decay * theta;   // keeps the per-step decay η·λ (Adam)
  if (optimizer == OptimizerKind::sgd) out.weight_decay = form.weight_decay * theta * theta;
  return out;
}

EffectiveSizes effective_sizes(const GroupParameterization& form, OptimizerKind optimizer) {
  EffectiveSizes sizes;
  sizes.function_init = form.multiplier * form.init_std;
  sizes.function_update = optimizer == OptimizerKind::sgd ? form.multiplier * form.multiplier * form.lr
                                                          : form.multiplier * form.lr;
  sizes.decay_per_step = form.lr * form.weight_decay;
  sizes.eps_relative_to_gradient = form.eps / form.multiplier;
  return sizes;
}

}  // namespace muelab::theory
