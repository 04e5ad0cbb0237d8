// Per-group optimizer hyperparameters read from the transfer engine, and the learning-rate schedule
// (docs/theory.md §1–§4): the same for every backend.
#pragma once

#include "muelab/theory/groups.hpp"
#include "muelab/theory/transfer.hpp"

#include <cstdint>
#include <map>

namespace muelab::models {

using theory::ParameterGroup;

struct GroupHyperparameters {
  double lr = 0.0, weight_decay = 0.0, eps = 0.0, beta1 = 0.0, beta2 = 0.0;
};

/// Reads every group's LR, WD, ε, β1, β2 from the engine's answer.
[[nodiscard]] std::map<ParameterGroup, GroupHyperparameters> group_hyperparameters(const theory::TransferResult& t);

/// Learning-rate schedule factor in [min_factor, 1]: linear warmup, then constant, cosine decay to
/// min_factor, or warmup-stable-decay (WSD: constant, then a linear decay over the last
/// decay_fraction of the run).
struct Schedule {
  enum class Kind { constant, cosine, wsd };
  Kind kind = Kind::constant;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;
  double min_factor = 0.0;
  double decay_fraction = 0.2;
  [[nodiscard]] double factor(std::int64_t step) const;  ///< step counts from 0
};

}  // namespace muelab::models
