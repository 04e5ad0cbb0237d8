// Batch-size and duration rules and the SDE objects they preserve (docs/theory.md §4, §7).
// With q = ρ_B/ρ_D = T/T' (target over base): Adam/AdamW η ×√q, λ ×√q, ε ×1/√q, 1−β ×q;
// SGD (time t = kη): η ×q, λ ×1, 1−β1 ×q. One function per formula.
#pragma once

#include "muelab/theory/config.hpp"

#include <stdexcept>
#include <string>

namespace muelab::theory {

/// Raised for a hyperparameter combination a rule refuses (e.g. q(1−β) ≥ 1).
class RuleRefusal : public std::runtime_error {
 public:
  RuleRefusal(std::string field, std::string message)
      : std::runtime_error(message), field_(std::move(field)) {}
  [[nodiscard]] const std::string& field() const { return field_; }

 private:
  std::string field_;
};

/// q = ρ_B / ρ_D = T/T' (§4).
[[nodiscard]] double batch_duration_q(const TrainConfig& base, const TrainConfig& target);

enum class BatchDurationMode { sqrt, lr_only, none };  ///< lr_only is the §9 `sde-invariants` control
[[nodiscard]] BatchDurationMode parse_batch_duration_mode(const std::string& name);  ///< throws std::invalid_argument

struct BatchDurationFactors {
  double lr = 1.0;
  double weight_decay = 1.0;
  double eps = 1.0;
  double one_minus_beta = 1.0;  ///< multiplier on 1−β (linear beta rule)
  double beta_power = 1.0;      ///< exponent for the power beta rule β' = β^q
};

/// The §4 multipliers for a given q, optimizer and mode.
[[nodiscard]] BatchDurationFactors batch_duration_factors(double q, OptimizerKind optimizer, BatchDurationMode mode);

/// β after the batch/duration rule: linear 1−β' = (1−β)·f (refuses when the result is ≤ 0,
/// i.e. q(1−β) ≥ 1, naming `field`), or power β' = β^p.
[[nodiscard]] double scale_beta(double beta, const BatchDurationFactors& factors, const std::string& beta_rule,
                                const std::string& field);

/// The SDE objects of §4 for one optimizer configuration. Adam/AdamW use Malladi's time
/// t = kη²; SGD uses t = kη (then c2 and eps0 are not defined and reported as NaN).
struct SdeObjects {
  double horizon = 0.0;       ///< Adam: T·η²; SGD: T·η
  double wd_rate = 0.0;       ///< Adam: λ̃ = λ/η; SGD: λ
  double c1 = 0.0;            ///< Adam: (1−β1)/η²; SGD: (1−β1)/η
  double c2 = 0.0;            ///< Adam: (1−β2)/η²
  double eps0 = 0.0;          ///< Adam: ε·η
  double ema_fraction = 0.0;  ///< 1/(ηλT), the AdamW EMA timescale as a fraction of the run ([WA]); inf when λ = 0
  double sigma0 = 0.0;        ///< Adam: η·σ_g; SGD: √η·σ_g (the SME's noise √(η/B)); σ_g ∝ (tokens per step)^{-1/2}
};

/// Takes 1−β (not β) so that momenta close to 1 keep full relative precision.
[[nodiscard]] SdeObjects sde_objects(OptimizerKind optimizer, double lr, double weight_decay, double eps,
                                     double one_minus_beta1, double one_minus_beta2, double steps,
                                     double noise_std_per_token, double tokens_per_step);

/// σ0 ratio (target/base) of a parameter group: LR ratio (width factors excluded; its square root
/// for SGD, whose SME noise is √(η/B)) times √(tokens seen per step before / after) (§4, §5.2, §7).
[[nodiscard]] double sigma0_ratio(double lr_ratio_without_width, double tokens_per_step_base,
                                  double tokens_per_step_target, OptimizerKind optimizer);

}  // namespace muelab::theory
