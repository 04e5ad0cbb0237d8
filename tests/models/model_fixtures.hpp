// Small model specs for the CPU backend tests, resolved through the real transfer engine.
#pragma once

#include "muelab/models/cpu/model.hpp"
#include "muelab/sim/counter_rng.hpp"
#include "muelab/theory/config_loader.hpp"

#include <fmt/format.h>

#include <string>

namespace muelab::models::cpu::testing {

/// A dense unit-expansion base (d = 8, L = 1) and a target described by `model_toml`: the
/// resulting multipliers are non-trivial (ρ_d, ρ_L, A, R), which the checks need. The TOML texts are
/// exported too (oracle_export.cpp), so that the Python adapter computes its own plan from them.
inline std::string base_toml(double init_std = 0.5) {
  return fmt::format(R"(
[model]
d_model = 8
n_layers = 1
d_head = 4
ffn = "dense"
d_ffn = 8
[train]
batch_size = 2
seq_len = 5
steps = 10
[optim]
name = "adamw"
lr = 1e-2
weight_decay = 0.1
eps = 1e-8
beta1 = 0.9
beta2 = 0.95
init_std = {}
)",
                     init_std);
}

inline std::string target_toml(const std::string& model_toml, const std::string& rule_toml = "") {
  return "[model]\n" + model_toml + "\n[train]\nbatch_size = 2\nseq_len = 5\nsteps = 10\n" +
         (rule_toml.empty() ? std::string() : "[rule]\n" + rule_toml + "\n");
}

inline theory::RunConfig base_config(double init_std = 0.5) {
  return theory::parse_run_config(base_toml(init_std), "test-base", theory::ConfigRole::base);
}

inline theory::RunConfig target_config(const std::string& model_toml, const std::string& rule_toml = "") {
  return theory::parse_run_config(target_toml(model_toml, rule_toml), "test-target", theory::ConfigRole::target);
}

inline ModelSpec make_spec(const std::string& model_toml, const std::string& rule = "complete-mue",
                           const ArchitectureOptions& options = {}, const std::string& rule_toml = "",
                           std::int64_t vocab = 11) {
  const auto base = base_config();
  const auto target = target_config(model_toml, rule_toml);
  const auto result = theory::transfer(base, target, *theory::parse_rule_source(rule));
  return make_model_spec(result, target.model, vocab, target.train.seq_len, options);
}

}  // namespace muelab::models::cpu::testing
