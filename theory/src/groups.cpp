#include "muelab/theory/groups.hpp"

#include "muelab/theory/bridge.hpp"

namespace muelab::theory {

std::string group_name(ParameterGroup group) {
  switch (group) {
    case ParameterGroup::embedding: return "embedding";
    case ParameterGroup::attn_qkv: return "attn.qkv";
    case ParameterGroup::attn_out: return "attn.out";
    case ParameterGroup::ffn_up: return "ffn.up";
    case ParameterGroup::ffn_gate: return "ffn.gate";
    case ParameterGroup::ffn_down: return "ffn.down";
    case ParameterGroup::router: return "router";
    case ParameterGroup::expert_up: return "expert.up";
    case ParameterGroup::expert_gate: return "expert.gate";
    case ParameterGroup::expert_down: return "expert.down";
    case ParameterGroup::shared_up: return "shared.up";
    case ParameterGroup::shared_gate: return "shared.gate";
    case ParameterGroup::shared_down: return "shared.down";
    case ParameterGroup::norm: return "norm";
    case ParameterGroup::bias: return "bias";
    case ParameterGroup::head: return "head";
  }
  return "unknown";
}

std::optional<ParameterGroup> parse_group_name(const std::string& name) {
  for (const auto group : kAllParameterGroups)
    if (group_name(group) == name) return group;
  return std::nullopt;
}

GroupClass group_class(ParameterGroup group) {
  switch (group) {
    case ParameterGroup::embedding:
    case ParameterGroup::norm:
    case ParameterGroup::bias: return GroupClass::input_like;
    case ParameterGroup::head: return GroupClass::output;
    case ParameterGroup::ffn_down:
    case ParameterGroup::expert_down:
    case ParameterGroup::shared_down: return GroupClass::down_projection;
    default: return GroupClass::hidden;
  }
}

std::vector<ParameterGroup> groups_present(const ModelConfig& model) {
  std::vector<ParameterGroup> groups;
  const bool gate = model.has_gate();
  for (const auto group : kAllParameterGroups) {
    bool present = true;
    switch (group) {
      case ParameterGroup::ffn_up:
      case ParameterGroup::ffn_down: present = !model.is_moe(); break;
      case ParameterGroup::ffn_gate: present = !model.is_moe() && gate; break;
      case ParameterGroup::router:
      case ParameterGroup::expert_up:
      case ParameterGroup::expert_down: present = model.is_moe(); break;
      case ParameterGroup::expert_gate: present = model.is_moe() && gate; break;
      case ParameterGroup::shared_up:
      case ParameterGroup::shared_down: present = model.has_shared(); break;
      case ParameterGroup::shared_gate: present = model.has_shared() && gate; break;
      case ParameterGroup::bias: present = model.bias; break;
      default: break;
    }
    if (present) groups.push_back(group);
  }
  return groups;
}

double group_fan_in(ParameterGroup group, const ModelConfig& model) {
  switch (group) {
    case ParameterGroup::ffn_down: return static_cast<double>(model.d_ffn);
    case ParameterGroup::expert_down: return static_cast<double>(model.d_expert);
    case ParameterGroup::shared_down: return static_cast<double>(model.d_shared);
    default: break;
  }
  return group_class(group) == GroupClass::hidden ? static_cast<double>(model.d_model) : 0.0;
}

ParameterGroup base_counterpart(ParameterGroup group, const ModelConfig& base) {
  const auto present = groups_present(base);
  const auto has = [&](ParameterGroup g) {
    for (const auto p : present)
      if (p == g) return true;
    return false;
  };
  if (has(group)) return group;
  struct Mapping { ParameterGroup shared, expert, dense; };
  static constexpr std::array<Mapping, 3> kFamilies = {{
      {ParameterGroup::shared_up, ParameterGroup::expert_up, ParameterGroup::ffn_up},
      {ParameterGroup::shared_gate, ParameterGroup::expert_gate, ParameterGroup::ffn_gate},
      {ParameterGroup::shared_down, ParameterGroup::expert_down, ParameterGroup::ffn_down}}};
  for (const auto& family : kFamilies) {
    if (group == family.shared || group == family.expert || group == family.dense) {
      if (group == family.shared && has(family.expert)) return family.expert;
      if (has(family.dense)) return family.dense;
      if (has(family.expert)) return family.expert;
      // gate groups without a gated base: compare with the up-projection
      if (family.dense == ParameterGroup::ffn_gate) return base_counterpart(ParameterGroup::ffn_up, base);
    }
  }
  return group;  // router, bias: no counterpart; their factors do not depend on base widths
}

double group_tokens_per_step(ParameterGroup group, const ModelConfig& model, const TrainConfig& train) {
  const double tokens = train.tokens_per_step();
  switch (group) {
    case ParameterGroup::expert_up:
    case ParameterGroup::expert_gate:
    case ParameterGroup::expert_down:
      return routed_expert_tokens_per_step(tokens, static_cast<double>(model.n_active),
                                           static_cast<double>(model.n_experts));
    default: return tokens;
  }
}

}  // namespace muelab::theory
