// What a model of the toy MoE transformer is, independent of the backend (docs/theory.md §2–§6):
// the architecture switches of the [trainer] table and the fully resolved ModelSpec (every init std,
// multiplier, route scale, residual multiplier and attention logit scale), filled from the transfer
// engine's answer. The CPU (models/cpu) and CUDA (models/cuda) backends build their models from it.
#pragma once

#include "muelab/theory/config.hpp"
#include "muelab/theory/groups.hpp"
#include "muelab/theory/transfer.hpp"

#include <cstdint>
#include <map>

namespace muelab::models {

using theory::ParameterGroup;

/// Trainer switches that are not part of the theory's [model] schema ([trainer] table).
struct ArchitectureOptions {
  bool norm_gains_trainable = false;  ///< untrainable by default (trainable gains break transfer)
  double norm_eps = 1e-5;             ///< LayerNorm variance epsilon (numerical guard, not a scale)
  double capacity_factor = 0.0;       ///< 0: dropless; > 0: each expert keeps ceil(cf·n·a/N) tokens
  double aux_loss_coef = 0.0;         ///< Switch-style balance loss coef·N·Σ f_i P_i (0: off)
  double bias_rate = 0.0;             ///< η_bias of the non-gradient balance bias (§6, [JIANG])
};

/// Everything the forward pass needs, fully resolved.
struct ModelSpec {
  theory::ModelConfig model;
  std::int64_t vocab_size = 0;
  std::int64_t seq_len = 0;
  ArchitectureOptions options;
  std::map<ParameterGroup, double> init_std;     ///< per group, from transfer()
  std::map<ParameterGroup, double> multiplier;   ///< per group, from transfer() (down groups carry A)
  double residual_multiplier = 1.0;              ///< branch multiplier (§3)
  double attention_logit_scale = 0.0;            ///< 1/d_head or 1/√d_head (§2)
  double route_scale_routed = 1.0;               ///< R on the routed sum (§5.1)
  double route_scale_shared = 1.0;               ///< R on the shared branch
  bool normalize_gates = true;                   ///< Σ_active π = 1 ("active-set") or raw gates ("none")

  [[nodiscard]] std::int64_t n_heads() const { return model.d_model / model.d_head; }
  [[nodiscard]] double mult(ParameterGroup g) const;
  [[nodiscard]] double init(ParameterGroup g) const;
};

/// Builds the spec from the engine's answer. Throws std::invalid_argument naming the field when the
/// trainer cannot build the model (e.g. model.bias = true).
[[nodiscard]] ModelSpec make_model_spec(const theory::TransferResult& transfer, const theory::ModelConfig& model,
                                        std::int64_t vocab_size, std::int64_t seq_len,
                                        const ArchitectureOptions& options);

}  // namespace muelab::models
