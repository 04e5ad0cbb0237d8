// Bridge I exactness (docs/theory.md §5.1, claim `bridge1-exact`): a Dense MoE (a = N) with uniform gates
// (router weights zero ⇒ every sigmoid score 1/2 ⇒ π_i = 1/N) and route scale R = N gives the same
// outputs and the same weight gradients as the dense FFN of width N·h made of the concatenated
// experts. Control: dropping R (route_scale = "none") must break the equality.
#include "model_fixtures.hpp"

#include <catch2/catch.hpp>

#include <iostream>

using muelab::models::cpu::Model;
using muelab::models::cpu::testing::make_spec;

namespace {

constexpr std::uint64_t kSeed = 515;

double relative_difference(const auto& a, const auto& b) {
  return (a - b).norm() / std::max(1e-300, static_cast<double>(b.norm()));
}

struct Comparison {
  double logits = 0.0, loss = 0.0, up = 0.0, down = 0.0, shared_params = 0.0;
};

Comparison compare(const std::string& route_scale, const std::string& router) {
  const std::string dims = "d_model = 16\nn_layers = 2\nd_head = 4\n";
  const std::int64_t experts = 4, width = 6;
  Model<double> moe(make_spec(dims + "ffn = \"moe\"\nn_experts = 4\nn_active = 4\nd_expert = 6\nrouter = \"" + router + "\"\n",
                              "complete-mue", {}, "route_scale = \"" + route_scale + "\""));
  Model<double> dense(make_spec(dims + "ffn = \"dense\"\nd_ffn = 24\n"));
  moe.initialize(kSeed);
  dense.initialize(kSeed + 1);
  // Shared parameters (embeddings, attention, head) copied by name; experts concatenated.
  for (auto& p : dense.parameters()) {
    const auto& n = p.name;
    if (n.find("ffn.") == std::string::npos) {
      p.value = moe.parameter(n).value;
      continue;
    }
    const std::string prefix = n.substr(0, n.find("ffn."));
    for (std::int64_t e = 0; e < experts; ++e) {
      const std::string en = prefix + "experts." + std::to_string(e) + ".";
      if (n.ends_with("ffn.up")) p.value.middleCols(e * width, width) = moe.parameter(en + "up").value;
      if (n.ends_with("ffn.down")) p.value.middleRows(e * width, width) = moe.parameter(en + "down").value;
    }
  }
  for (auto& p : moe.parameters())
    if (p.group == muelab::theory::ParameterGroup::router) p.value.setZero();  // uniform gates
  const muelab::sim::CounterRng rng(kSeed, 7);
  std::vector<std::int32_t> tokens, targets;
  for (std::uint64_t i = 0; i < 10; ++i) {
    tokens.push_back(static_cast<std::int32_t>(rng.below(11, 0, 0, 0, i)));
    targets.push_back(static_cast<std::int32_t>(rng.below(11, 1, 0, 0, i)));
  }
  Comparison c;
  const double loss_moe = moe.forward(tokens, targets, 2).loss;
  const double loss_dense = dense.forward(tokens, targets, 2).loss;
  moe.backward();
  dense.backward();
  c.loss = std::abs(loss_moe - loss_dense) / loss_dense;
  c.logits = relative_difference(moe.logits(), dense.logits());
  for (auto& p : dense.parameters()) {
    const auto& n = p.name;
    if (n.find("ffn.") == std::string::npos) {
      c.shared_params = std::max(c.shared_params, relative_difference(moe.parameter(n).grad, p.grad));
      continue;
    }
    const std::string prefix = n.substr(0, n.find("ffn."));
    for (std::int64_t e = 0; e < experts; ++e) {
      const std::string en = prefix + "experts." + std::to_string(e) + ".";
      if (n.ends_with("ffn.up"))
        c.up = std::max(c.up, relative_difference(moe.parameter(en + "up").grad, p.grad.middleCols(e * width, width)));
      if (n.ends_with("ffn.down"))
        c.down = std::max(c.down, relative_difference(moe.parameter(en + "down").grad, p.grad.middleRows(e * width, width)));
    }
  }
  std::cout << "bridge1 seed " << kSeed << " router " << router << " route_scale " << route_scale
            << ": rel. diff loss " << c.loss << " logits " << c.logits << " expert up grads " << c.up
            << " expert down grads " << c.down << " other grads " << c.shared_params << "\n";
  return c;
}

}  // namespace

TEST_CASE("bridge1-exact: Dense MoE with uniform gates and R = N equals the concatenated dense FFN",
          "[models][bridge1]") {
  for (const std::string router : {"sigmoid", "softmax"}) {
    const auto c = compare("active", router);
    // Same products summed in a different grouping: rounding only (≈ 1e-16 per operation).
    CHECK(c.loss < 1e-13);
    CHECK(c.logits < 1e-13);
    CHECK(c.up < 1e-12);
    CHECK(c.down < 1e-12);
    CHECK(c.shared_params < 1e-12);
  }
}

TEST_CASE("bridge1-exact control: without the route scale (R = 1) the Dense MoE differs", "[models][bridge1]") {
  const auto c = compare("none", "sigmoid");
  CHECK(c.logits > 1e-3);
  CHECK(c.down > 1e-3);
}
