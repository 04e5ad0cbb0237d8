// The toy MoE transformer on the GPU (docs/theory.md §2–§6): the same model as models/cpu — same
// ModelSpec, same parameter layout and names (models/core), same Philox initialization
// (core's initial_values: CounterRng(seed, parameter index), uploaded once) — with parameters, gradients, optimizer
// moments, activations and every scratch buffer in device memory for the whole run (allocated on
// the first step, reused after). Forward, hand-written backward, AdamW/Adam/SGD with per-group
// hyperparameters, Jiang's balance bias and the auxiliary balance loss.
//
// Host round-trips. Every method except the two read_* below only enqueues work on the default
// stream: the per-expert row counts, the loads, the residual RMS, the gradient norm and the
// finiteness guard of the optimizer step live in one device "diagnostics" block. The host reads
//   * read_loss():        one 16-byte copy {loss, cross-entropy} — the per-step read;
//   * read_diagnostics(): one copy of the whole block — at logging steps only.
// (forward() = enqueue_forward() + read_loss(), for the validation loss and tests.)
#pragma once

#include "muelab/models/core/layout.hpp"
#include "muelab/models/core/recorder.hpp"
#include "muelab/models/core/schedule.hpp"
#include "muelab/models/core/spec.hpp"
#include "muelab/models/cpu/model.hpp"  // load_from: the parity tests copy a CPU model's weights
#include "muelab/models/cuda/kernels.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace muelab::models::cuda {

using models::ForwardStats;
using models::GroupHyperparameters;
using models::ModelSpec;
using theory::ParameterGroup;

template <class T>
struct DeviceParameter {
  std::string name;
  ParameterGroup group = ParameterGroup::embedding;
  bool trainable = true;
  index_t rows = 0, cols = 0;
  DeviceArray<T> value, grad, first, second;  ///< first/second: optimizer moments (allocated on first step)
};

/// Host copy of the device diagnostics block of the last step.
struct StepDiagnostics {
  ForwardStats stats;                     ///< loss, ce_loss, residual_rms per block, load per MoE block
  double grad_norm = 0.0;                 ///< NaN before the first finish_gradients()
  std::int64_t first_nonfinite_step = -1; ///< first step whose loss or gradient norm was not finite
};

template <class T>
class Model {
 public:
  explicit Model(ModelSpec spec);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  /// The initialization every backend uses (models::initial_values), uploaded.
  void initialize(std::uint64_t seed);
  /// Copies every parameter value (and the balance biases) from a CPU model with the same spec.
  void load_from(const cpu::Model<T>& host);

  /// Uploads the batch and enqueues the forward pass (loss, loads, residual RMS into the diagnostics).
  void enqueue_forward(const std::vector<std::int32_t>& tokens, const std::vector<std::int32_t>& targets, index_t batch);
  /// enqueue_forward + read_loss (residual_rms and load stay on the device: read_diagnostics()).
  ForwardStats forward(const std::vector<std::int32_t>& tokens, const std::vector<std::int32_t>& targets, index_t batch);
  /// Enqueues the backward pass of the last forward.
  void backward();
  /// Enqueues the global L2 norm of the trainable gradients (deterministic reduction) and the step
  /// guard: step() and update_balance_bias() then do nothing on the device when the loss or the norm
  /// is not finite, or was not at an earlier step (`step` is recorded as the first such step).
  void finish_gradients(std::int64_t step);
  /// Enqueues one optimizer step on every trainable parameter (schedule factor multiplies every group's η).
  void step(theory::OptimizerKind kind, const std::map<ParameterGroup, GroupHyperparameters>& groups,
            double schedule_factor);
  /// Enqueues Jiang's balance-bias update from the last forward's loads.
  void update_balance_bias();

  /// The per-step host read: ONE copy of {loss, cross-entropy} (waits for the enqueued work).
  [[nodiscard]] ForwardStats read_loss();
  /// The logging-step host read: ONE copy of the whole diagnostics block.
  [[nodiscard]] StepDiagnostics read_diagnostics();

  [[nodiscard]] const std::vector<DeviceParameter<T>>& parameters() const { return parameters_; }
  [[nodiscard]] std::vector<T> value(std::size_t index) const { return parameters_[index].value.download(); }
  [[nodiscard]] std::vector<T> grad(std::size_t index) const { return parameters_[index].grad.download(); }
  [[nodiscard]] std::vector<double> balance_bias(std::size_t block) const;
  /// Last forward's logits (n × V), copied for tests.
  [[nodiscard]] std::vector<T> logits() const;
  [[nodiscard]] const ModelSpec& spec() const { return spec_; }

 private:
  struct Impl;
  ModelSpec spec_;
  std::vector<DeviceParameter<T>> parameters_;
  std::unique_ptr<Impl> impl_;
  std::int64_t steps_ = 0;
};

extern template class Model<float>;
extern template class Model<double>;

}  // namespace muelab::models::cuda
