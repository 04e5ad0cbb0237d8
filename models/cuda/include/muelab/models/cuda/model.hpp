// The toy MoE transformer on the GPU (THEORY.md §2–§6): the same model as models/cpu — same
// ModelSpec, same parameter list and names, same Philox initialization (drawn by the CPU reference
// with CounterRng(seed, parameter index) and uploaded once) — with parameters, gradients, optimizer
// moments and activations in device memory for the whole run. Forward, hand-written backward,
// AdamW/Adam/SGD with per-group hyperparameters, Jiang's balance bias. Inside a step the host reads
// back only the scalar loss, the gradient norm and, per MoE layer, the N+1 expert row offsets that
// size the per-expert cuBLAS GEMMs (plus the N loads for the log).
// Not supported here (the CPU backend has them): the auxiliary balance loss (aux_loss_coef > 0).
#pragma once

#include "muelab/models/cpu/model.hpp"
#include "muelab/models/cpu/optimizer.hpp"
#include "muelab/models/cuda/kernels.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace muelab::models::cuda {

using cpu::ForwardStats;
using cpu::GroupHyperparameters;
using cpu::ModelSpec;
using theory::ParameterGroup;

template <class T>
struct DeviceParameter {
  std::string name;
  ParameterGroup group = ParameterGroup::embedding;
  bool trainable = true;
  index_t rows = 0, cols = 0;
  DeviceArray<T> value, grad, first, second;  ///< first/second: optimizer moments (allocated on first step)
};

template <class T>
class Model {
 public:
  /// Throws std::invalid_argument for options this backend does not implement (aux loss).
  explicit Model(ModelSpec spec);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  /// The CPU reference's initialization (same Philox streams), uploaded.
  void initialize(std::uint64_t seed);
  /// Copies every parameter value (and the balance biases) from a CPU model with the same spec.
  void load_from(const cpu::Model<T>& host);

  ForwardStats forward(const std::vector<std::int32_t>& tokens, const std::vector<std::int32_t>& targets, index_t batch);
  void backward();
  /// Global L2 norm of the trainable gradients (deterministic reduction).
  [[nodiscard]] double grad_norm() const;
  /// One optimizer step on every trainable parameter (schedule factor multiplies every group's η).
  void step(theory::OptimizerKind kind, const std::map<ParameterGroup, GroupHyperparameters>& groups,
            double schedule_factor);
  void update_balance_bias();

  [[nodiscard]] const std::vector<DeviceParameter<T>>& parameters() const { return parameters_; }
  [[nodiscard]] std::vector<T> value(std::size_t index) const { return parameters_[index].value.download(); }
  [[nodiscard]] std::vector<T> grad(std::size_t index) const { return parameters_[index].grad.download(); }
  [[nodiscard]] std::vector<double> balance_bias(std::size_t block) const;
  [[nodiscard]] std::vector<T> logits() const { return logits_.download(); }
  [[nodiscard]] const ModelSpec& spec() const { return spec_; }

 private:
  struct Impl;
  ModelSpec spec_;
  std::vector<DeviceParameter<T>> parameters_;
  DeviceArray<T> logits_;
  std::unique_ptr<Impl> impl_;
  std::int64_t steps_ = 0;
};

extern template class Model<float>;
extern template class Model<double>;

}  // namespace muelab::models::cuda
