// Parameter groups with stable names (the contract of `muelab transfer` output) and the μP
// class of each (docs/theory.md §2): input-like, hidden (fan-in d), down-projection (fan-in = the
// FFN/expert width) and output.
#pragma once

#include "muelab/theory/config.hpp"

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace muelab::theory {

enum class ParameterGroup {
  embedding, attn_qkv, attn_out, ffn_up, ffn_gate, ffn_down, router, expert_up, expert_gate, expert_down,
  shared_up, shared_gate, shared_down, norm, bias, head
};

inline constexpr std::array<ParameterGroup, 16> kAllParameterGroups = {
    ParameterGroup::embedding,   ParameterGroup::attn_qkv,   ParameterGroup::attn_out,    ParameterGroup::ffn_up,
    ParameterGroup::ffn_gate,    ParameterGroup::ffn_down,   ParameterGroup::router,      ParameterGroup::expert_up,
    ParameterGroup::expert_gate, ParameterGroup::expert_down, ParameterGroup::shared_up,  ParameterGroup::shared_gate,
    ParameterGroup::shared_down, ParameterGroup::norm,       ParameterGroup::bias,        ParameterGroup::head};

enum class GroupClass { input_like, hidden, down_projection, output };

[[nodiscard]] std::string group_name(ParameterGroup group);  ///< "attn.qkv", "expert.down", ...
[[nodiscard]] std::optional<ParameterGroup> parse_group_name(const std::string& name);
[[nodiscard]] GroupClass group_class(ParameterGroup group);

/// The groups a model has, in canonical order (absent groups are not reported).
[[nodiscard]] std::vector<ParameterGroup> groups_present(const ModelConfig& model);

/// Fan-in of a hidden or down-projection group (d for attention/up/gate/router; H, h or h_s for
/// the down-projections). Undefined (0) for input-like and output groups.
[[nodiscard]] double group_fan_in(ParameterGroup group, const ModelConfig& model);

/// The base-model group a target group is compared with when the base lacks it: a dense base maps
/// expert.* and shared.* to ffn.*; a base without shared experts maps shared.* to expert.*.
[[nodiscard]] ParameterGroup base_counterpart(ParameterGroup group, const ModelConfig& base);

/// Tokens per step seen by a group's parameters: B for dense-like groups (including the router and
/// shared experts), B·a/N for routed experts (§4, §5.2).
[[nodiscard]] double group_tokens_per_step(ParameterGroup group, const ModelConfig& model, const TrainConfig& train);

}  // namespace muelab::theory
