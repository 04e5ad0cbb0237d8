// The parameter layout and its initialization (see layout.hpp).
#include "muelab/models/core/layout.hpp"

#include "muelab/sim/counter_rng.hpp"

namespace muelab::models {

namespace {

int add(ParameterLayout& layout, std::string name, ParameterGroup group, std::int64_t rows, std::int64_t cols,
        bool trainable = true) {
  layout.parameters.push_back({std::move(name), group, rows, cols, trainable});
  return static_cast<int>(layout.parameters.size() - 1);
}

BlockLayout block_layout(ParameterLayout& layout, const ModelSpec& spec, std::int64_t l) {
  const auto& m = spec.model;
  const auto d = m.d_model;
  const bool gains = spec.options.norm_gains_trainable;
  const std::string p = "blocks." + std::to_string(l) + ".";
  BlockLayout b;
  b.ln1 = add(layout, p + "norm1.gain", ParameterGroup::norm, 1, d, gains);
  b.qkv = add(layout, p + "attn.qkv", ParameterGroup::attn_qkv, d, 3 * d);
  b.out = add(layout, p + "attn.out", ParameterGroup::attn_out, d, d);
  b.ln2 = add(layout, p + "norm2.gain", ParameterGroup::norm, 1, d, gains);
  if (!m.is_moe()) {
    b.up = add(layout, p + "ffn.up", ParameterGroup::ffn_up, d, m.d_ffn);
    if (m.has_gate()) b.gate = add(layout, p + "ffn.gate", ParameterGroup::ffn_gate, d, m.d_ffn);
    b.down = add(layout, p + "ffn.down", ParameterGroup::ffn_down, m.d_ffn, d);
    return b;
  }
  b.router = add(layout, p + "router", ParameterGroup::router, d, m.n_experts);
  for (std::int64_t e = 0; e < m.n_experts; ++e) {
    const std::string q = p + "experts." + std::to_string(e) + ".";
    b.expert_up.push_back(add(layout, q + "up", ParameterGroup::expert_up, d, m.d_expert));
    if (m.has_gate()) b.expert_gate.push_back(add(layout, q + "gate", ParameterGroup::expert_gate, d, m.d_expert));
    b.expert_down.push_back(add(layout, q + "down", ParameterGroup::expert_down, m.d_expert, d));
  }
  for (std::int64_t e = 0; e < m.n_shared; ++e) {
    const std::string q = p + "shared." + std::to_string(e) + ".";
    b.shared_up.push_back(add(layout, q + "up", ParameterGroup::shared_up, d, m.d_shared));
    if (m.has_gate()) b.shared_gate.push_back(add(layout, q + "gate", ParameterGroup::shared_gate, d, m.d_shared));
    b.shared_down.push_back(add(layout, q + "down", ParameterGroup::shared_down, m.d_shared, d));
  }
  return b;
}

}  // namespace

ParameterLayout make_parameter_layout(const ModelSpec& spec) {
  const auto& m = spec.model;
  const auto d = m.d_model;
  ParameterLayout layout;
  layout.token_embedding = add(layout, "token_embedding", ParameterGroup::embedding, spec.vocab_size, d);
  layout.position_embedding = add(layout, "position_embedding", ParameterGroup::embedding, spec.seq_len, d);
  for (std::int64_t l = 0; l < m.n_layers; ++l) layout.blocks.push_back(block_layout(layout, spec, l));
  layout.final_norm = add(layout, "final_norm.gain", ParameterGroup::norm, 1, d, spec.options.norm_gains_trainable);
  layout.head = add(layout, "head", ParameterGroup::head, d, spec.vocab_size);
  return layout;
}

std::vector<double> initial_values(const ModelSpec& spec, const ParameterLayout& layout, std::size_t index,
                                   std::uint64_t seed) {
  const auto& p = layout.parameters.at(index);
  std::vector<double> values(static_cast<std::size_t>(p.rows * p.cols));
  if (p.group == ParameterGroup::norm) {
    std::fill(values.begin(), values.end(), 1.0);
    return values;
  }
  const double std = spec.init(p.group);
  const sim::CounterRng rng(seed, 0x6d6f64656c000000ULL + index);  // stream: "model" + parameter index
  rng.fill_normal(values, 0, 0, 0);
  for (auto& v : values) v *= std;
  return values;
}

}  // namespace muelab::models
