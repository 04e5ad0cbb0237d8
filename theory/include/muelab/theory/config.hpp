// Model, training and optimizer configuration: the TOML schema users script against
// (see README "Config schema"). Plain data; validation lives in config_loader.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace muelab::theory {

enum class FfnKind { dense, moe };
enum class RouterKind { sigmoid, softmax };  ///< sigmoid: normalized over the active set (§5.1)
enum class Activation { gelu, swiglu };       ///< swiglu adds the *.gate groups
enum class OptimizerKind { adamw, adam, sgd };

struct ModelConfig {
  std::int64_t d_model = 0;   ///< backbone width d
  std::int64_t n_layers = 0;  ///< blocks L
  std::int64_t d_head = 0;
  FfnKind ffn = FfnKind::dense;
  Activation activation = Activation::gelu;
  bool bias = false;          ///< linear layers carry biases (adds the `bias` group)
  std::int64_t d_ffn = 0;     ///< dense hidden width H (dense only)
  std::int64_t n_experts = 0; ///< routed experts N (moe)
  std::int64_t n_active = 0;  ///< active routed experts per token a (moe)
  std::int64_t d_expert = 0;  ///< routed expert width h (moe)
  std::int64_t n_shared = 0;  ///< shared experts n_s (moe)
  std::int64_t d_shared = 0;  ///< shared expert width h_s (moe, when n_shared > 0)
  std::int64_t n_groups = 1;  ///< routing groups g (moe)
  RouterKind router = RouterKind::sigmoid;

  [[nodiscard]] bool is_moe() const { return ffn == FfnKind::moe; }
  [[nodiscard]] bool has_shared() const { return is_moe() && n_shared > 0; }
  [[nodiscard]] bool has_gate() const { return activation == Activation::swiglu; }
};

struct TrainConfig {
  std::int64_t batch_size = 0;  ///< sequences per optimizer step
  std::int64_t seq_len = 0;
  std::int64_t steps = 0;       ///< T

  [[nodiscard]] double tokens_per_step() const {
    return static_cast<double>(batch_size) * static_cast<double>(seq_len);
  }
  [[nodiscard]] double tokens_total() const { return tokens_per_step() * static_cast<double>(steps); }
};

/// Tuned hyperparameters of the base (proxy) model. PyTorch-coupled AdamW weight decay:
/// θ ← θ − ηλθ − η·update.
struct OptimConfig {
  OptimizerKind name = OptimizerKind::adamw;
  double lr = 0.0;
  double weight_decay = 0.0;
  double eps = 0.0;
  double beta1 = 0.0;
  double beta2 = 0.0;
  double init_std = 0.0;
};

/// Named switches for every [open] item of docs/theory.md (and the controls the experiments need).
/// An unset optional means "the rule source's documented default" (see rules.hpp).
struct RuleSwitches {
  double depth_alpha = 1.0;                           ///< CompleteP α ∈ [1/2, 1] (§3)
  std::string head_rule = "mup";                      ///< "mup" | "cmue-literal" (§2 [open])
  std::optional<std::string> wd_width_scaling;        ///< "none" | "coupled" (§2 [open])
  std::optional<std::string> eps_width_scaling;       ///< "completep" | "none" (§2 [open])
  std::optional<std::string> batch_duration;          ///< "sqrt" | "lr-only" | "none" (§4)
  std::string beta_rule = "linear";                   ///< "linear" (1−β ×q) | "power" (β^q) (§4)
  std::string route_scale = "active";                 ///< "active" (R = a) | "none" (R = 1, control) (§5.1)
  double jiang_router_gamma = 1.0;                    ///< router init exponent γ (§6)
  std::string jiang_expert_down_init = "mean-field";  ///< "mean-field" (√d/h) | "fan-in" (control) (§6)
  std::string jiang_expert_down_eps = "transcribed";  ///< "transcribed" (r_d r_h^-2) | "as-up" (§6 [open])
  std::string jiang_weight_decay = "none";            ///< "none" | "coupled" (§6 [open])
  std::string mupmoe_router_form = "init";            ///< "init" | "multiplier" (§6, abc-equivalent)
};

/// One configuration file: base files carry [optim]; target files may carry [rule].
struct RunConfig {
  ModelConfig model;
  TrainConfig train;
  std::optional<OptimConfig> optim;
  RuleSwitches rule;
};

[[nodiscard]] std::string to_string(FfnKind kind);
[[nodiscard]] std::string to_string(RouterKind kind);
[[nodiscard]] std::string to_string(Activation activation);
[[nodiscard]] std::string to_string(OptimizerKind kind);

}  // namespace muelab::theory
