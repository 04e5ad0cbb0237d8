// models/core: the parameter layout every backend builds its parameters from, and the initial
// values both backends upload (hand-checked names, groups, shapes, indices; exact reproducibility).
#include "model_fixtures.hpp"

#include "muelab/models/core/layout.hpp"
#include "muelab/models/cpu/model.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

namespace core = muelab::models;
namespace mc = muelab::models::cpu;
using muelab::theory::ParameterGroup;

namespace {
const char* kSwigluMoe = R"(d_model = 8
n_layers = 2
d_head = 4
ffn = "moe"
n_experts = 3
n_active = 1
d_expert = 6
n_shared = 1
d_shared = 5
activation = "swiglu"
router = "softmax")";
}  // namespace

TEST_CASE("core layout: names, groups, shapes and block indices of an MoE with gates and a shared expert",
          "[models][core]") {
  const auto spec = mc::testing::make_spec(kSwigluMoe);
  const auto layout = core::make_parameter_layout(spec);
  // 2 embeddings + per block (norm1, qkv, out, norm2, router, 3 experts × 3, 1 shared × 3) + final norm + head
  REQUIRE(layout.parameters.size() == 2 + 2 * (4 + 1 + 9 + 3) + 2);
  const auto& p = layout.parameters;
  CHECK(p[static_cast<std::size_t>(layout.token_embedding)].name == "token_embedding");
  CHECK(p[static_cast<std::size_t>(layout.token_embedding)].rows == 11);
  CHECK(p[static_cast<std::size_t>(layout.position_embedding)].rows == 5);
  const auto& b1 = layout.blocks.at(1);
  CHECK(p[static_cast<std::size_t>(b1.qkv)].name == "blocks.1.attn.qkv");
  CHECK(p[static_cast<std::size_t>(b1.qkv)].cols == 24);
  CHECK(p[static_cast<std::size_t>(b1.router)].group == ParameterGroup::router);
  CHECK(p[static_cast<std::size_t>(b1.router)].cols == 3);
  REQUIRE(b1.expert_gate.size() == 3);
  CHECK(p[static_cast<std::size_t>(b1.expert_gate[2])].name == "blocks.1.experts.2.gate");
  CHECK(p[static_cast<std::size_t>(b1.expert_down[2])].rows == 6);
  CHECK(p[static_cast<std::size_t>(b1.shared_down[0])].name == "blocks.1.shared.0.down");
  CHECK(p[static_cast<std::size_t>(b1.shared_down[0])].rows == 5);
  CHECK(b1.up == -1);
  CHECK(p[static_cast<std::size_t>(layout.head)].name == "head");
  CHECK(layout.head == static_cast<int>(p.size()) - 1);
  for (const auto& info : p) CHECK(info.trainable == (info.group != ParameterGroup::norm));  // gains untrainable by default
  // the CPU model's parameters are this list, in this order
  const mc::Model<double> model(spec);
  REQUIRE(model.parameters().size() == p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    CHECK(model.parameters()[i].name == p[i].name);
    CHECK(model.parameters()[i].value.rows() == p[i].rows);
    CHECK(model.parameters()[i].value.cols() == p[i].cols);
  }
}

TEST_CASE("core initial values: norm gains 1, N(0, sigma_group^2) keyed by (seed, index), what the CPU model loads",
          "[models][core]") {
  const auto spec = mc::testing::make_spec(kSwigluMoe);
  const auto layout = core::make_parameter_layout(spec);
  const std::uint64_t seed = 21;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  mc::Model<double> model(spec);
  model.initialize(seed);
  for (std::size_t i = 0; i < layout.parameters.size(); ++i) {
    const auto values = core::initial_values(spec, layout, i, seed);
    const auto& value = model.parameters()[i].value;
    REQUIRE(values.size() == static_cast<std::size_t>(value.size()));
    CHECK(std::equal(values.begin(), values.end(), value.data()));
    if (layout.parameters[i].group == ParameterGroup::norm)
      CHECK(std::all_of(values.begin(), values.end(), [](double v) { return v == 1.0; }));
  }
  // another seed, another draw; the same seed, the same draw
  const auto qkv = static_cast<std::size_t>(layout.blocks[0].qkv);
  CHECK(core::initial_values(spec, layout, qkv, seed) == core::initial_values(spec, layout, qkv, seed));
  CHECK(core::initial_values(spec, layout, qkv, seed) != core::initial_values(spec, layout, qkv, seed + 1));
  // the sample std of the largest matrix is the group's init std within 4 standard errors
  const auto up = static_cast<std::size_t>(layout.blocks[1].expert_up[0]);
  const auto v = core::initial_values(spec, layout, up, seed);
  double sq = 0.0;
  for (const double x : v) sq += x * x;
  const double sample_var = sq / static_cast<double>(v.size());
  const double sigma2 = spec.init(ParameterGroup::expert_up) * spec.init(ParameterGroup::expert_up);
  const double se = sigma2 * std::sqrt(2.0 / static_cast<double>(v.size()));  // s.e. of a variance estimate
  CHECK(std::abs(sample_var - sigma2) < 4.0 * se);
}
