// Gradient noise of the routed experts at fixed parameters (docs/theory.md §5.2, "σ0 per expert"):
// used by bridge2-transformer (the raw σ0 = η·N·σ_g) and sigma0-transformer (the scale-free σ0 =
// η·σ_g/‖E g‖, the noise-to-signal ratio that Adam sees).
#pragma once

#include "muelab/models/cpu/trainer.hpp"
#include "muelab/theory/groups.hpp"

#include <cstdint>
#include <map>

namespace muelab::experiments::transformer {

/// Per expert group, from K minibatches at fixed parameters: σ_g = √(mean over the group's matrices of
/// tr Cov g) and the signal ‖E g‖ = √(mean over matrices of (‖ḡ‖² − tr Cov / K)) (unbiased in the
/// square; NaN when the noise swamps it), both times N (the per-expert mean gradient of Complete-muE is
/// ∝ 1/N; Adam is invariant to a constant gradient scale), and the group's transferred LR η.
struct GroupNoise {
  double sigma_g = 0.0, signal = 0.0, lr = 0.0;
  /// The raw σ0 = η·σ_g (bridge2-transformer's rows).
  [[nodiscard]] double sigma0() const { return lr * sigma_g; }
  /// σ_g/‖E g‖: independent of any constant factor on the group's gradient.
  [[nodiscard]] double noise_to_signal() const { return sigma_g / signal; }
  /// The scale-free σ0 = η·σ_g/‖E g‖ (sigma0-transformer's rows).
  [[nodiscard]] double sigma0_scale_free() const { return lr * noise_to_signal(); }
};

/// Trains `warm_steps` steps as the trainer does (AdamW, schedule, balance bias), then measures every
/// expert group's gradient noise and signal on `batches` independent minibatches (docs/theory.md §4,
/// §5.2). One thread (called inside an OpenMP loop over shapes and seeds).
[[nodiscard]] std::map<theory::ParameterGroup, GroupNoise> expert_gradient_noise(const models::cpu::TrainRun& run,
                                                                               const models::cpu::TokenSource& data,
                                                                               std::int64_t warm_steps,
                                                                               std::int64_t batches);

}  // namespace muelab::experiments::transformer
