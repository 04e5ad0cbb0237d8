// The toy decoder-only MoE transformer (docs/theory.md §2–§6): forward pass and hand-written backward,
// templated on the scalar (float for training speed, double for gradient checks). The model holds
// no scaling constants of its own: every init std, forward multiplier, route scale, gate
// normalization, residual multiplier and attention logit scale is read from a ModelSpec, which
// `make_model_spec` fills from `muelab::theory::transfer(base, target, rule)`.
#pragma once

#include "muelab/models/core/layout.hpp"
#include "muelab/models/core/recorder.hpp"
#include "muelab/models/core/spec.hpp"
#include "muelab/models/cpu/blas.hpp"
#include "muelab/theory/config.hpp"
#include "muelab/theory/groups.hpp"
#include "muelab/theory/transfer.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace muelab::models::cpu {

using theory::ParameterGroup;

using models::ArchitectureOptions;
using models::make_model_spec;
using models::ModelSpec;

template <class Scalar>
struct Parameter {
  std::string name;  ///< stable, e.g. "blocks.0.experts.3.up" (the oracle export uses it)
  ParameterGroup group = ParameterGroup::embedding;
  bool trainable = true;
  Matrix<Scalar> value;
  Matrix<Scalar> grad;
};

using models::ForwardStats;

template <class Scalar>
class Model {
 public:
  explicit Model(ModelSpec spec);

  /// Draws every parameter N(0, σ_group²) from CounterRng(seed, parameter index); gains are 1.
  void initialize(std::uint64_t seed);

  /// tokens and targets: batch × seq_len, row-major. Returns the loss; keeps the caches for backward.
  ForwardStats forward(const std::vector<std::int32_t>& tokens, const std::vector<std::int32_t>& targets,
                       std::int64_t batch);
  /// Fills every trainable parameter's grad with ∂loss/∂θ of the last forward.
  void backward();
  /// Jiang's non-gradient balance bias: b_i ← b_i − η_bias (load_i − κ) from the last forward (§6).
  void update_balance_bias();

  [[nodiscard]] std::vector<Parameter<Scalar>>& parameters() { return parameters_; }
  [[nodiscard]] const std::vector<Parameter<Scalar>>& parameters() const { return parameters_; }
  [[nodiscard]] Parameter<Scalar>& parameter(const std::string& name);
  [[nodiscard]] const ModelSpec& spec() const { return spec_; }
  /// Balance bias of MoE block l (selection only, never a gradient).
  [[nodiscard]] std::vector<double>& balance_bias(std::size_t block) { return balance_bias_.at(block); }

  /// Last forward's logits (n × V) and final hidden state (for tests).
  [[nodiscard]] const Matrix<Scalar>& logits() const { return logits_; }

  struct ExpertCache {
    std::vector<std::int64_t> rows;   ///< token index of each row
    std::vector<std::int64_t> slots;  ///< slot (0..a) of the token's choice, for gates
    Matrix<Scalar> x, z_up, z_gate, act, y;
  };
  struct BlockCache {
    Matrix<Scalar> ln1_hat, u1, qkv, probs, heads, ln2_hat, u2, ffn_out;
    Vector<Scalar> ln1_rstd, ln2_rstd;
    ExpertCache dense;                     ///< dense FFN (rows = all tokens)
    Matrix<Scalar> router_probs;           ///< n × N
    std::vector<std::int64_t> choice;      ///< n × a expert ids
    std::vector<Scalar> gate;              ///< n × a gates π (after normalization)
    std::vector<unsigned char> kept;       ///< n × a: 0 when dropped by capacity
    std::vector<ExpertCache> experts, shared;
    std::vector<double> load_fraction;     ///< count_i/(n·a) (aux loss)
  };

 private:
  void ffn_unit_forward(ExpertCache& c, int up, int gate, int down, ParameterGroup up_g, ParameterGroup gate_g,
                        ParameterGroup down_g);
  Matrix<Scalar> ffn_unit_backward(ExpertCache& c, const Matrix<Scalar>& dy, int up, int gate, int down,
                                   ParameterGroup up_g, ParameterGroup gate_g, ParameterGroup down_g);
  void moe_forward(std::size_t l, BlockCache& c);
  Matrix<Scalar> moe_backward(std::size_t l, BlockCache& c, const Matrix<Scalar>& df);
  void attention_forward(const BlockLayout& bi, BlockCache& c);
  Matrix<Scalar> attention_backward(const BlockLayout& bi, BlockCache& c, const Matrix<Scalar>& d_attn_out);

  ModelSpec spec_;
  ParameterLayout layout_;  ///< names, groups, shapes, the embeddings'/head's and each block's indices (models/core)
  std::vector<Parameter<Scalar>> parameters_;
  std::vector<std::vector<double>> balance_bias_;
  // caches of the last forward
  std::int64_t batch_ = 0;
  std::vector<std::int32_t> tokens_, targets_;
  std::vector<BlockCache> caches_;
  Matrix<Scalar> final_hat_, final_u_, logits_, probs_;
  Vector<Scalar> final_rstd_;
  std::vector<std::vector<double>> last_load_;
};

extern template class Model<float>;
extern template class Model<double>;

}  // namespace muelab::models::cpu
