// Config parsing: the schema, --set overrides, and clean errors naming the field.
#include "muelab/theory/config_loader.hpp"
#include "muelab/theory/rule_switches.hpp"
#include "muelab/theory/transfer.hpp"

#include <fmt/format.h>

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

// The one table of rule switches (muelab/theory/rule_switches.hpp) drives the loader and the defaults.
TEST_CASE("rule switch table: loader defaults, per-rule defaults and every accepted value", "[config][switches]") {
  using namespace muelab::theory;
  const RuleSwitches defaults{};
  for (const auto& spec : rule_switch_table()) {
    INFO("switch " << spec.name);
    const bool per_rule = std::holds_alternative<std::optional<std::string> RuleSwitches::*>(spec.field);
    // A default that depends on the rule source must live in an optional field (unset = rule default).
    CHECK(per_rule == !spec.rule_defaults.empty());
    for (const auto rule : all_rule_sources()) CHECK(switch_value(spec, defaults, rule) == switch_default(spec, rule));
    CHECK(!spec.read_by.empty());
    CHECK(spec.section.substr(0, 2) == "§");
  }
  // Hand values of docs/theory.md §2 [open] and §4: the μP family couples WD to width, SP keeps ε,
  // only Complete-muE applies the square-root batch/duration rule by default.
  const auto& wd = *find_rule_switch("wd_width_scaling");
  CHECK(switch_default(wd, RuleSource::mup) == "coupled");
  CHECK(switch_default(wd, RuleSource::mup_moe) == "coupled");
  CHECK(switch_default(wd, RuleSource::complete_mue) == "none");
  CHECK(switch_default(*find_rule_switch("eps_width_scaling"), RuleSource::sp) == "none");
  CHECK(switch_default(*find_rule_switch("eps_width_scaling"), RuleSource::jiang) == "completep");
  CHECK(switch_default(*find_rule_switch("batch_duration"), RuleSource::complete_mue) == "sqrt");
  CHECK(switch_default(*find_rule_switch("batch_duration"), RuleSource::completep) == "none");
  CHECK(find_rule_switch("no_such_switch") == nullptr);
}

TEST_CASE("rule switch table: every value of every switch loads through --set and lands in its field", "[config][switches]") {
  using namespace muelab::theory;
  const std::string target = std::string(MUELAB_SOURCE_DIR) + "/tests/fixtures/good-configs/target-moe.toml";
  for (const auto& spec : rule_switch_table()) {
    std::vector<std::string> texts;
    if (spec.kind == SwitchKind::number) texts = {fmt::format("{}", spec.min), fmt::format("{}", spec.max)};
    for (const auto& v : spec.values) texts.emplace_back(v.value);
    for (const auto& text : texts) {
      INFO("rule." << spec.name << "=" << text);
      const std::string assignment =
          fmt::format("rule.{}={}", spec.name, spec.kind == SwitchKind::number ? text : "\"" + text + "\"");
      const RunConfig c = load_run_config(target, ConfigRole::target, {assignment});
      for (const auto rule : all_rule_sources()) CHECK(switch_value(spec, c.rule, rule) == text);
    }
    if (spec.kind == SwitchKind::number) {
      CHECK_THROWS_AS(load_run_config(target, ConfigRole::target, {fmt::format("rule.{}={}", spec.name, spec.max + 1)}),
                      ConfigError);
    } else {
      CHECK_THROWS_AS(load_run_config(target, ConfigRole::target, {fmt::format("rule.{}=\"bogus\"", spec.name)}),
                      ConfigError);
    }
  }
}
