// The parameter layout of the toy MoE transformer, for every backend: the ordered list of parameters
// (stable names such as "blocks.0.experts.3.up", parameter group, shape, trainable) with the index of
// each block's parameters, and the initial values of each (docs/theory.md §2–§6). Both backends
// build their parameters from it in this order, so a parameter's index is the same everywhere: it
// keys the initialization stream and the gradient-norm order.
#pragma once

#include "muelab/models/core/spec.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace muelab::models {

struct ParameterInfo {
  std::string name;
  ParameterGroup group = ParameterGroup::embedding;
  std::int64_t rows = 0, cols = 0;
  bool trainable = true;
};

/// Indices into ParameterLayout::parameters of one block's parameters (−1 or empty when absent).
struct BlockLayout {
  int ln1 = -1, qkv = -1, out = -1, ln2 = -1, up = -1, gate = -1, down = -1, router = -1;
  std::vector<int> expert_up, expert_gate, expert_down, shared_up, shared_gate, shared_down;
};

struct ParameterLayout {
  std::vector<ParameterInfo> parameters;
  int token_embedding = -1, position_embedding = -1, final_norm = -1, head = -1;
  std::vector<BlockLayout> blocks;
};

/// Embeddings, then per block norm1, attn.qkv, attn.out, norm2 and the FFN (dense up/gate/down, or
/// the router, each routed expert's up/gate/down and each shared expert's), then the final norm and
/// the head. Norm gains are trainable only when spec.options.norm_gains_trainable.
[[nodiscard]] ParameterLayout make_parameter_layout(const ModelSpec& spec);

/// Initial values of parameter `index` (row-major): 1 for norm gains, otherwise N(0, σ_group²) drawn
/// from CounterRng(seed, "model" stream + index).
[[nodiscard]] std::vector<double> initial_values(const ModelSpec& spec, const ParameterLayout& layout,
                                                 std::size_t index, std::uint64_t seed);

}  // namespace muelab::models
