// ModelSpec from the transfer engine's answer (see spec.hpp).
#include "muelab/models/core/spec.hpp"

#include <stdexcept>

namespace muelab::models {

double ModelSpec::mult(ParameterGroup g) const {
  const auto it = multiplier.find(g);
  if (it == multiplier.end()) throw std::logic_error("no multiplier for group " + theory::group_name(g));
  return it->second;
}
double ModelSpec::init(ParameterGroup g) const {
  const auto it = init_std.find(g);
  if (it == init_std.end()) throw std::logic_error("no init std for group " + theory::group_name(g));
  return it->second;
}

ModelSpec make_model_spec(const theory::TransferResult& transfer, const theory::ModelConfig& model,
                          std::int64_t vocab_size, std::int64_t seq_len, const ArchitectureOptions& options) {
  if (model.bias) throw std::invalid_argument("model.bias: the CPU trainer supports false only (accepted: false)");
  ModelSpec s;
  s.model = model;
  s.vocab_size = vocab_size;
  s.seq_len = seq_len;
  s.options = options;
  for (const auto& g : transfer.groups) {
    s.init_std[g.group] = g.init_std.value();
    s.multiplier[g.group] = g.multiplier.value();
  }
  // The norm group exists in every model; it is trained only when the switch says so.
  s.residual_multiplier = transfer.architecture.residual_multiplier.value();
  s.attention_logit_scale = transfer.architecture.attention_logit_scale;
  if (transfer.moe) {
    s.route_scale_routed = transfer.moe->route_scale_routed;
    s.route_scale_shared = transfer.moe->route_scale_shared;
    s.normalize_gates = transfer.moe->gate_normalization != "none";
  }
  return s;
}

}  // namespace muelab::models
