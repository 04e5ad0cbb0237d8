// The transfer-rule engine: base config + tuned hyperparameters in; per-parameter-group init,
// forward multiplier, LR, WD, ε, β1, β2 and σ0 bookkeeping out, for every rule source
// (docs/theory.md §2–§6). Every quantity is the base value times a chain of named factors, each citing
// the docs/theory.md section it implements (`--explain` prints the chain). At the base shape every
// factor of every rule source is exactly 1 (claim `base-identity`).
#pragma once

#include "muelab/theory/config.hpp"
#include "muelab/theory/groups.hpp"
#include "muelab/theory/sde_scaling.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace muelab::theory {

enum class RuleSource { sp, mup, completep, jiang, mup_moe, complete_mue };

[[nodiscard]] std::string rule_name(RuleSource rule);  ///< "sp", "mup", "completep", "jiang", "mup-moe", "complete-mue"
[[nodiscard]] std::optional<RuleSource> parse_rule_source(const std::string& name);
[[nodiscard]] const std::vector<RuleSource>& all_rule_sources();
[[nodiscard]] std::string rule_description(RuleSource rule);
[[nodiscard]] std::string accepted_rule_names();  ///< "sp, mup, completep, jiang, mup-moe, complete-mue"

/// Which scaling axis a factor belongs to (for --explain and for excluding width from σ0 ratios).
enum class FactorAxis { width, depth, batch_duration, bridge1, parameterization };
[[nodiscard]] std::string to_string(FactorAxis axis);

struct Factor {
  FactorAxis axis = FactorAxis::width;
  double value = 1.0;
  std::string formula;  ///< e.g. "rho_d^-1/2 (fan-in 128 -> 1024)"
  std::string source;   ///< e.g. "docs/theory.md §2 [TP5]"
};

/// base value ∘ factors. `product`: base·Πf. `complement`: 1 − (1−base)·Πf (β under 1−β ×q).
/// `power`: base^(Πf) (β' = β^q).
struct Quantity {
  enum class Mode { product, complement, power };
  double base = 0.0;
  std::string base_note;  ///< where the base value comes from
  Mode mode = Mode::product;
  std::vector<Factor> factors;

  [[nodiscard]] double value() const;
  /// 1 − value(), computed without cancellation (for β close to 1).
  [[nodiscard]] double complement_value() const;
  [[nodiscard]] double factor_product() const;
  /// Product of the factors whose axis is not in `excluded`.
  [[nodiscard]] double factor_product_excluding(const std::vector<FactorAxis>& excluded) const;
  void apply(Factor factor) { factors.push_back(std::move(factor)); }
};

struct GroupResult {
  ParameterGroup group = ParameterGroup::embedding;
  ParameterGroup base_group = ParameterGroup::embedding;  ///< counterpart in the base model
  Quantity init_std, multiplier, lr, weight_decay, eps, beta1, beta2;
  double tokens_per_step_base = 0.0;
  double tokens_per_step_target = 0.0;
  double sigma0_ratio = 1.0;  ///< target/base, width excluded (§4, §5.2)
};

struct Ratios {
  double width = 1.0;  ///< ρ_d = d/d*
  double depth = 1.0;  ///< ρ_L = L/L*
  double batch = 1.0;  ///< ρ_B = B'/B (tokens per step)
  double data = 1.0;   ///< ρ_D = D'/D (tokens)
  double steps = 1.0;  ///< T'/T
  double q = 1.0;      ///< ρ_B/ρ_D = T/T'
};

struct GlobalHyperparameters {
  Quantity lr, weight_decay, eps, beta1, beta2, init_std;  ///< after batch/duration only
};

struct MoeSummary {
  double active_width = 0.0;       ///< H_act of the target
  double active_width_base = 0.0;  ///< H_act of the base
  double output_multiplier = 1.0;  ///< A (same value as every down group's multiplier); apply once
  double route_scale_routed = 1.0; ///< R on the routed sum
  double route_scale_shared = 1.0; ///< R on the shared branch
  std::string gate_normalization;  ///< "active-set" (Σ_active π = 1) or "none" (raw sigmoid gates)
  std::int64_t n_groups = 1;
  double routed_tokens_per_step = 0.0;  ///< B·a/N
};

struct Architecture {
  Quantity residual_multiplier;       ///< branch multiplier ρ_L^{-α} (§3) or 1/L-type (§6)
  double attention_logit_scale = 0.0; ///< 1/d_head (μP family) or 1/√d_head (SP)
  std::string attention_logit_rule;   ///< "1/d_head" or "1/sqrt(d_head)"
};

struct TransferResult {
  RuleSource rule = RuleSource::complete_mue;
  std::map<std::string, std::string> switches;  ///< every switch as resolved for this rule
  OptimizerKind optimizer = OptimizerKind::adamw;
  Ratios ratios;
  GlobalHyperparameters global;
  std::optional<MoeSummary> moe;  ///< present when the target is MoE
  std::vector<GroupResult> groups;  ///< canonical group order, present groups only
  Architecture architecture;
  SdeObjects sde_before, sde_after;  ///< global objects; sigma0 relative to the base (before = 1)

  [[nodiscard]] const GroupResult* find(ParameterGroup group) const;
};

/// Applies `rule` to move the tuned base hyperparameters to the target shape. `base.optim` must be
/// set. Switches are taken from target.rule. Throws RuleRefusal (with the offending field) for a
/// combination the rule refuses, e.g. q(1−β) ≥ 1.
[[nodiscard]] TransferResult transfer(const RunConfig& base, const RunConfig& target, RuleSource rule);

}  // namespace muelab::theory
