// Config parsing: the schema, --set overrides, and clean errors naming the field.
#include "muelab/theory/config_loader.hpp"

#include <catch2/catch.hpp>

using namespace muelab::theory;

namespace {
const char* kBase = R"(
[model]
d_model = 128
n_layers = 4
d_head = 32
ffn = "dense"
d_ffn = 512
[train]
batch_size = 32
seq_len = 64
steps = 1000
[optim]
name = "adamw"
lr = 1e-3
weight_decay = 0.1
eps = 1e-8
beta1 = 0.9
beta2 = 0.95
init_std = 0.02
)";

std::string field_of_error(const std::string& text, ConfigRole role, const std::vector<std::string>& overrides = {}) {
  try {
    (void)parse_run_config(text, "test.toml", role, overrides);
  } catch (const ConfigError& e) {
    return e.field();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("a valid base config parses with documented defaults", "[theory][config]") {
  const auto c = parse_run_config(kBase, "test.toml", ConfigRole::base);
  CHECK(c.model.d_model == 128);
  CHECK(c.model.d_ffn == 512);
  CHECK(c.model.activation == Activation::gelu);
  CHECK(c.train.tokens_per_step() == 2048.0);
  REQUIRE(c.optim);
  CHECK(c.optim->lr == 1e-3);
  CHECK(c.rule.head_rule == "mup");
  CHECK_FALSE(c.rule.wd_width_scaling.has_value());
}

TEST_CASE("config overrides (set key=value): values, strings and errors", "[theory][config]") {
  const auto c = parse_run_config(kBase, "test.toml", ConfigRole::base, {"optim.lr=3e-3", "train.steps=20", "model.activation=swiglu"});
  CHECK(c.optim->lr == 3e-3);
  CHECK(c.train.steps == 20);
  CHECK(c.model.activation == Activation::swiglu);
  CHECK(field_of_error(kBase, ConfigRole::base, {"model.d_model=abc"}) == "model.d_model");
  CHECK(field_of_error(kBase, ConfigRole::base, {"model.unknown=1"}) == "model.unknown");
  CHECK(field_of_error(kBase, ConfigRole::base, {"nodot=1"}) == "nodot");
  CHECK(field_of_error(kBase, ConfigRole::base, {"solver.lr=1"}) == "solver.lr");
  CHECK(field_of_error(kBase, ConfigRole::base, {"rule.head_rule=mup"}) == "rule");
}

TEST_CASE("extra tables named by the caller are accepted and left unread", "[theory][config]") {
  const std::string text = std::string(kBase) + "\n[data]\nsource = \"fortunes\"\n";
  CHECK(field_of_error(text, ConfigRole::base) == "data");
  const auto c = parse_run_config(text, "test.toml", ConfigRole::base, {"data.source=markov"}, {"data"});
  CHECK(c.model.d_model == 128);
  CHECK_THROWS_AS(parse_run_config(kBase, "test.toml", ConfigRole::base, {"schedule.kind=wsd"}, {"data"}), ConfigError);
}
