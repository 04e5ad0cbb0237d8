// Gradient noise of the routed experts at fixed parameters (docs/theory.md §5.2, "σ0 per expert"):
// used by bridge2-transformer (the raw σ0 = η·N·σ_g) and sigma0-transformer (the scale-free σ0 =
// η·σ_g/‖E g‖, the noise-to-signal ratio that Adam sees).
#pragma once

#include "muelab/models/cpu/model.hpp"
#include "muelab/models/cpu/trainer.hpp"
#include "muelab/theory/groups.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

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

/// The model of `run`, initialized from its seed and trained `warm_steps` steps as the trainer does
/// (AdamW, schedule, balance bias) on `data`: the parameters at which gradient noise is measured.
[[nodiscard]] std::unique_ptr<models::cpu::Model<float>> warmed_up_model(const models::cpu::TrainRun& run,
                                                                         const models::cpu::TokenSource& data,
                                                                         std::int64_t warm_steps);

/// Per parameter tensor (`params`: indices into model.parameters()), the sums of the gradient and of
/// its square over `draws` independent minibatches of `batch` sequences at fixed parameters.
struct GradientMoments {
  std::int64_t draws = 0;
  std::vector<std::size_t> params;
  std::vector<std::vector<double>> sum, sum_sq;
};
[[nodiscard]] GradientMoments gradient_moments(models::cpu::Model<float>& model, const models::cpu::TokenSource& data,
                                               std::uint64_t seed, std::int64_t batch, std::int64_t seq_len,
                                               std::int64_t draws, const std::vector<std::size_t>& params);

/// σ_g over every entry of the measured tensors: √(mean over entries of the unbiased variance).
[[nodiscard]] double whole_gradient_noise_std(const GradientMoments& moments);

/// Trains `warm_steps` steps as the trainer does (AdamW, schedule, balance bias), then measures every
/// expert group's gradient noise and signal on `batches` independent minibatches (docs/theory.md §4,
/// §5.2). One thread (called inside an OpenMP loop over shapes and seeds).
[[nodiscard]] std::map<theory::ParameterGroup, GroupNoise> expert_gradient_noise(const models::cpu::TrainRun& run,
                                                                               const models::cpu::TokenSource& data,
                                                                               std::int64_t warm_steps,
                                                                               std::int64_t batches);

}  // namespace muelab::experiments::transformer
