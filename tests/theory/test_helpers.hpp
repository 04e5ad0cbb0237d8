// Shared helpers for the theory tests: configs built in code, relative comparisons.
#pragma once

#include "muelab/theory/config.hpp"

#include <cmath>

namespace muelab::test {

inline theory::RunConfig dense_config(std::int64_t d, std::int64_t ffn_width, std::int64_t layers = 4) {
  theory::RunConfig c;
  c.model.d_model = d;
  c.model.n_layers = layers;
  c.model.d_head = 32;
  c.model.ffn = theory::FfnKind::dense;
  c.model.d_ffn = ffn_width;
  c.train = {32, 64, 1000};
  c.optim = theory::OptimConfig{theory::OptimizerKind::adamw, 1e-3, 0.1, 1e-8, 0.9, 0.95, 0.02};
  return c;
}

inline theory::RunConfig moe_config(std::int64_t d, std::int64_t experts, std::int64_t active, std::int64_t expert_width,
                                    std::int64_t shared = 0, std::int64_t shared_width = 0, std::int64_t groups = 1,
                                    std::int64_t layers = 4) {
  theory::RunConfig c = dense_config(d, 0, layers);
  c.model.ffn = theory::FfnKind::moe;
  c.model.d_ffn = 0;
  c.model.n_experts = experts;
  c.model.n_active = active;
  c.model.d_expert = expert_width;
  c.model.n_shared = shared;
  c.model.d_shared = shared_width;
  c.model.n_groups = groups;
  return c;
}

inline double relative_difference(double a, double b) {
  if (a == b) return 0.0;
  return std::abs(a - b) / std::max(std::abs(a), std::abs(b));
}

}  // namespace muelab::test
