// Finite-difference gradient checks in double precision for every layer type and the whole model
// (dense GELU/SwiGLU, MoE with sigmoid and softmax routers, shared experts, routing groups, raw
// Jiang gates, capacity drops, auxiliary balance loss, trainable norm gains). Every parameter
// entry is checked: central difference with h = 1e-6, |fd − analytic| ≤ 1e-6·max(1, |analytic|)
// (truncation error O(h²·f''') ≈ 1e-12 and rounding ≈ 1e-16/h ≈ 1e-10 are far below that).
#include "model_fixtures.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <iostream>

using muelab::models::cpu::ArchitectureOptions;
using muelab::models::cpu::Model;
using muelab::models::cpu::testing::make_spec;

namespace {

constexpr std::uint64_t kSeed = 20240601;

struct Batch {
  std::vector<std::int32_t> tokens, targets;
};

Batch random_batch(std::int64_t batch, std::int64_t seq_len, std::int64_t vocab, std::uint64_t seed) {
  const muelab::sim::CounterRng rng(seed, 99);
  Batch b;
  for (std::int64_t i = 0; i < batch * seq_len; ++i) {
    b.tokens.push_back(static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(vocab), 0, 0, 0, static_cast<std::uint64_t>(i))));
    b.targets.push_back(static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(vocab), 1, 0, 0, static_cast<std::uint64_t>(i))));
  }
  return b;
}

void check_gradients(const std::string& model_toml, const std::string& rule = "complete-mue",
                     ArchitectureOptions options = {}, const std::string& rule_toml = "") {
  std::cout << "gradient check seed " << kSeed << " rule " << rule << ": " << model_toml << "\n";
  Model<double> model(make_spec(model_toml, rule, options, rule_toml));
  model.initialize(kSeed);
  if (model.spec().model.is_moe()) {  // non-zero balance biases so that they steer selection
    for (std::size_t l = 0; l < static_cast<std::size_t>(model.spec().model.n_layers); ++l) {
      auto& bias = model.balance_bias(l);
      for (std::size_t e = 0; e < bias.size(); ++e) bias[e] = 0.05 * static_cast<double>((e * 7) % 5) - 0.1;
    }
  }
  const auto batch = random_batch(2, model.spec().seq_len, model.spec().vocab_size, kSeed);
  model.forward(batch.tokens, batch.targets, 2);
  model.backward();
  const double h = 1e-6;
  std::size_t checked = 0;
  double worst = 0.0;
  std::string worst_name;
  for (auto& p : model.parameters()) {
    if (!p.trainable) continue;
    const auto analytic = p.grad;
    for (Eigen::Index k = 0; k < p.value.size(); ++k) {
      const double saved = p.value.data()[k];
      p.value.data()[k] = saved + h;
      const double up = model.forward(batch.tokens, batch.targets, 2).loss;
      p.value.data()[k] = saved - h;
      const double down = model.forward(batch.tokens, batch.targets, 2).loss;
      p.value.data()[k] = saved;
      const double fd = (up - down) / (2 * h);
      const double a = analytic.data()[k];
      const double err = std::abs(fd - a) / std::max(1.0, std::abs(a));
      if (err > worst) {
        worst = err;
        worst_name = p.name;
      }
      ++checked;
    }
  }
  std::cout << "  checked " << checked << " entries, worst relative error " << worst << " (" << worst_name << ")\n";
  CHECK(checked > 0);
  CHECK(worst < 1e-6);
}

const std::string kDims = "d_model = 16\nn_layers = 2\nd_head = 4\n";

}  // namespace

TEST_CASE("gradients: dense FFN with GELU", "[models][gradcheck]") {
  check_gradients(kDims + "ffn = \"dense\"\nd_ffn = 24\n");
}

TEST_CASE("gradients: dense FFN with SwiGLU and trainable norm gains", "[models][gradcheck]") {
  ArchitectureOptions options;
  options.norm_gains_trainable = true;
  check_gradients(kDims + "ffn = \"dense\"\nactivation = \"swiglu\"\nd_ffn = 24\n", "complete-mue", options);
}

TEST_CASE("gradients: MoE, sigmoid router, gates normalized over the active set", "[models][gradcheck]") {
  check_gradients(kDims + "ffn = \"moe\"\nn_experts = 6\nn_active = 2\nd_expert = 8\nrouter = \"sigmoid\"\n");
}

TEST_CASE("gradients: MoE, softmax top-a router", "[models][gradcheck]") {
  check_gradients(kDims + "ffn = \"moe\"\nn_experts = 6\nn_active = 2\nd_expert = 8\nrouter = \"softmax\"\n");
}

TEST_CASE("gradients: MoE with shared experts and SwiGLU", "[models][gradcheck]") {
  check_gradients(kDims +
                  "ffn = \"moe\"\nactivation = \"swiglu\"\nn_experts = 4\nn_active = 2\nd_expert = 8\nn_shared = 1\n"
                  "d_shared = 8\n");
}

TEST_CASE("gradients: MoE with group-balanced routing", "[models][gradcheck]") {
  check_gradients(kDims + "ffn = \"moe\"\nn_experts = 8\nn_active = 4\nd_expert = 4\nn_groups = 2\n");
}

TEST_CASE("gradients: MoE under Jiang's rule (raw sigmoid gates, 1/a route scale, 1/L residual)",
          "[models][gradcheck]") {
  check_gradients(kDims + "ffn = \"moe\"\nn_experts = 6\nn_active = 2\nd_expert = 8\n", "jiang");
}

TEST_CASE("gradients: MoE with capacity drops and auxiliary balance loss", "[models][gradcheck]") {
  ArchitectureOptions options;
  options.capacity_factor = 1.0;
  options.aux_loss_coef = 0.3;
  check_gradients(kDims + "ffn = \"moe\"\nn_experts = 4\nn_active = 2\nd_expert = 8\nrouter = \"softmax\"\n",
                  "complete-mue", options);
  check_gradients(kDims + "ffn = \"moe\"\nn_experts = 4\nn_active = 2\nd_expert = 8\n", "complete-mue", options);
}
