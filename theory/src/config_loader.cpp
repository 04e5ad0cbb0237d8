#include "muelab/theory/config_loader.hpp"

#include "muelab/io/toml_document.hpp"
#include "muelab/theory/rule_switches.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

namespace muelab::theory {

namespace {

const char* type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    default: return "a date/time";
  }
}

std::string node_text(const toml::node& node) {
  std::ostringstream out;
  node.visit([&](const auto& value) { out << value; });
  return out.str();
}

/// Reads one [table] with type checks, remembering which keys were consumed so that every
/// unknown key can be reported.
class TableReader {
 public:
  TableReader(const toml::table* table, std::string table_name, std::string source)
      : table_(table), name_(std::move(table_name)), source_(std::move(source)) {}

  [[nodiscard]] bool present() const { return table_ != nullptr; }
  [[nodiscard]] bool has(const std::string& key) const { return table_ && table_->contains(key); }
  [[nodiscard]] std::string field(const std::string& key) const { return name_ + "." + key; }
  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw ConfigError(source_, field(key), message);
  }

  std::int64_t integer(const std::string& key, std::optional<std::int64_t> fallback, std::int64_t min_value,
                       const std::string& accepted) {
    const toml::node* node = lookup(key);
    if (node == nullptr) {
      if (fallback) return *fallback;
      fail(key, "missing (required; accepted: " + accepted + ")");
    }
    if (!node->is_integer()) fail(key, fmt::format("must be an integer, got {} {} (accepted: {})", type_name(*node), node_text(*node), accepted));
    const auto value = node->as_integer()->get();
    if (value < min_value) fail(key, fmt::format("got {} (accepted: {})", value, accepted));
    return value;
  }

  double number(const std::string& key, std::optional<double> fallback, const std::string& accepted,
                const std::function<bool(double)>& ok) {
    const toml::node* node = lookup(key);
    if (node == nullptr) {
      if (fallback) return *fallback;
      fail(key, "missing (required; accepted: " + accepted + ")");
    }
    double value = 0.0;
    if (node->is_floating_point()) value = node->as_floating_point()->get();
    else if (node->is_integer()) value = static_cast<double>(node->as_integer()->get());
    else fail(key, fmt::format("must be a number, got {} {} (accepted: {})", type_name(*node), node_text(*node), accepted));
    if (!std::isfinite(value) || !ok(value)) fail(key, fmt::format("got {} (accepted: {})", value, accepted));
    return value;
  }

  std::string choice(const std::string& key, std::optional<std::string> fallback, const std::vector<std::string>& accepted) {
    std::string list;
    for (const auto& a : accepted) list += (list.empty() ? "\"" : ", \"") + a + "\"";
    const toml::node* node = lookup(key);
    if (node == nullptr) {
      if (fallback) return *fallback;
      fail(key, "missing (required; accepted: " + list + ")");
    }
    if (!node->is_string()) fail(key, fmt::format("must be a string, got {} {} (accepted: {})", type_name(*node), node_text(*node), list));
    const std::string value = node->as_string()->get();
    for (const auto& a : accepted)
      if (a == value) return value;
    fail(key, fmt::format("unknown value \"{}\" (accepted: {})", value, list));
  }

  bool boolean(const std::string& key, bool fallback) {
    const toml::node* node = lookup(key);
    if (node == nullptr) return fallback;
    if (!node->is_boolean()) fail(key, fmt::format("must be a boolean, got {} {} (accepted: true, false)", type_name(*node), node_text(*node)));
    return node->as_boolean()->get();
  }

  /// Reports the first key that no reader consumed.
  void reject_unknown_keys(const std::string& accepted) const {
    if (!table_) return;
    for (const auto& [key, node] : *table_) {
      const std::string k(key.str());
      if (consumed_.count(k) == 0) fail(k, "unknown key (accepted in [" + name_ + "]: " + accepted + ")");
    }
  }

 private:
  const toml::node* lookup(const std::string& key) {
    consumed_.insert(key);
    return table_ ? table_->get(key) : nullptr;
  }

  const toml::table* table_;
  std::string name_;
  std::string source_;
  std::set<std::string> consumed_;
};

const toml::table* subtable(const toml::table& root, const std::string& name, const std::string& source) {
  const toml::node* node = root.get(name);
  if (node == nullptr) return nullptr;
  if (!node->is_table()) throw ConfigError(source, name, fmt::format("must be a table [{}], got {}", name, type_name(*node)));
  return node->as_table();
}

const std::string kModelKeys =
    "d_model, n_layers, d_head, ffn, activation, bias, d_ffn, n_experts, n_active, d_expert, n_shared, d_shared, n_groups, router";
const std::string kTrainKeys = "batch_size, seq_len, steps";
const std::string kOptimKeys = "name, lr, weight_decay, eps, beta1, beta2, init_std";
const std::string kTables = "model, train, optim, rule";

std::string accepted_tables(const std::vector<std::string>& extra_tables) {
  std::string tables = kTables;
  for (const auto& t : extra_tables) tables += ", " + t;
  return tables;
}

ModelConfig read_model(TableReader& r) {
  ModelConfig m;
  const std::string positive = "integer >= 1";
  m.d_model = r.integer("d_model", std::nullopt, 1, positive);
  m.n_layers = r.integer("n_layers", std::nullopt, 1, positive);
  m.d_head = r.integer("d_head", std::nullopt, 1, "integer >= 1 dividing model.d_model");
  m.ffn = r.choice("ffn", std::nullopt, {"dense", "moe"}) == "dense" ? FfnKind::dense : FfnKind::moe;
  m.activation = r.choice("activation", "gelu", {"gelu", "swiglu"}) == "gelu" ? Activation::gelu : Activation::swiglu;
  m.bias = r.boolean("bias", false);
  const bool moe = m.is_moe();
  const auto only = [&](const std::string& key, bool allowed, const char* when) {
    if (!allowed && r.has(key)) r.fail(key, fmt::format("only valid when {} (remove it or change model.ffn)", when));
  };
  only("d_ffn", !moe, "model.ffn = \"dense\"");
  for (const char* key : {"n_experts", "n_active", "d_expert", "n_shared", "d_shared", "n_groups", "router"})
    only(key, moe, "model.ffn = \"moe\"");
  if (!moe) {
    m.d_ffn = r.integer("d_ffn", std::nullopt, 1, positive);
    return m;
  }
  m.n_experts = r.integer("n_experts", std::nullopt, 1, positive);
  m.n_active = r.integer("n_active", std::nullopt, 1, "integer in [1, model.n_experts]");
  m.d_expert = r.integer("d_expert", std::nullopt, 1, positive);
  m.n_shared = r.integer("n_shared", std::int64_t{0}, 0, "integer >= 0");
  if (m.n_shared > 0) m.d_shared = r.integer("d_shared", std::nullopt, 1, "integer >= 1 (required when model.n_shared > 0)");
  else only("d_shared", false, "model.n_shared > 0");
  m.n_groups = r.integer("n_groups", std::int64_t{1}, 1, "integer >= 1 dividing model.n_experts and model.n_active");
  m.router = r.choice("router", "sigmoid", {"sigmoid", "softmax"}) == "sigmoid" ? RouterKind::sigmoid : RouterKind::softmax;
  return m;
}

TrainConfig read_train(TableReader& r) {
  TrainConfig t;
  t.batch_size = r.integer("batch_size", std::nullopt, 1, "integer >= 1 (sequences per step)");
  t.seq_len = r.integer("seq_len", std::nullopt, 1, "integer >= 1");
  t.steps = r.integer("steps", std::nullopt, 1, "integer >= 1");
  return t;
}

OptimizerKind read_optimizer_name(TableReader& r) {
  const auto name = r.choice("name", std::nullopt, {"adamw", "adam", "sgd"});
  return name == "adamw" ? OptimizerKind::adamw : name == "adam" ? OptimizerKind::adam : OptimizerKind::sgd;
}

OptimConfig read_optim(TableReader& r) {
  OptimConfig o;
  o.name = read_optimizer_name(r);
  o.lr = r.number("lr", std::nullopt, "number > 0", [](double x) { return x > 0.0; });
  o.weight_decay = r.number("weight_decay", std::nullopt, "number >= 0", [](double x) { return x >= 0.0; });
  o.eps = r.number("eps", std::nullopt, "number > 0", [](double x) { return x > 0.0; });
  o.beta1 = r.number("beta1", std::nullopt, "number in [0, 1)", [](double x) { return x >= 0.0 && x < 1.0; });
  o.beta2 = r.number("beta2", std::nullopt, "number in [0, 1)", [](double x) { return x >= 0.0 && x < 1.0; });
  o.init_std = r.number("init_std", std::nullopt, "number > 0", [](double x) { return x > 0.0; });
  return o;
}

/// Every switch of the table (muelab/theory/rule_switches.hpp): its kind, range or accepted values and
/// default come from there; an optional switch left unset keeps "the rule source's default".
RuleSwitches read_rule(TableReader& r) {
  RuleSwitches s;
  for (const auto& spec : rule_switch_table()) {
    const std::string name(spec.name);
    if (spec.kind == SwitchKind::number) {
      s.*std::get<double RuleSwitches::*>(spec.field) =
          r.number(name, std::stod(std::string(spec.default_value)), switch_accepted_text(spec),
                   [&](double x) { return x >= spec.min && x <= spec.max; });
      continue;
    }
    const bool per_rule = std::holds_alternative<std::optional<std::string> RuleSwitches::*>(spec.field);
    if (per_rule && !r.has(name)) continue;
    std::vector<std::string> accepted;
    for (const auto& v : spec.values) accepted.emplace_back(v.value);
    set_switch(spec, s, r.choice(name, per_rule ? std::nullopt : std::optional<std::string>(spec.default_value), accepted));
  }
  return s;
}

/// Applies "table.key=value" (io::apply_set_override: the project's one --set) as a ConfigError.
void apply_override(toml::table& root, const std::string& assignment, const std::string& source,
                    const std::vector<std::string>& extra_tables) {
  std::vector<std::string> tables = {"model", "train", "optim", "rule"};
  tables.insert(tables.end(), extra_tables.begin(), extra_tables.end());
  try {
    io::apply_set_override(root, assignment, source, tables);
  } catch (const io::InputError& e) {
    throw ConfigError(e.source(), e.field(), e.message());
  }
}

}  // namespace

void validate_run_config(const RunConfig& c, const std::string& source, ConfigRole role) {
  const auto& m = c.model;
  if (m.d_model % m.d_head != 0)
    throw ConfigError(source, "model.d_head", fmt::format("must divide model.d_model (got d_model={}, d_head={})", m.d_model, m.d_head));
  if (m.is_moe()) {
    if (m.n_active > m.n_experts)
      throw ConfigError(source, "model.n_active", fmt::format("must be <= model.n_experts (got n_active={} > n_experts={}; accepted: 1..{})",
                                                              m.n_active, m.n_experts, m.n_experts));
    if (m.n_experts % m.n_groups != 0)
      throw ConfigError(source, "model.n_groups", fmt::format("must divide model.n_experts (got n_groups={}, n_experts={})", m.n_groups, m.n_experts));
    if (m.n_active % m.n_groups != 0)
      throw ConfigError(source, "model.n_groups", fmt::format("must divide model.n_active (got n_groups={}, n_active={}): group-balanced routing picks a/g experts per group", m.n_groups, m.n_active));
  }
  if (role == ConfigRole::base && !c.optim)
    throw ConfigError(source, "optim", "missing table [optim] (required in the base config: the tuned hyperparameters " + kOptimKeys + ")");
}

RunConfig parse_run_config(std::string_view text, const std::string& source, ConfigRole role,
                           const std::vector<std::string>& overrides, const std::vector<std::string>& extra_tables) {
  toml::table root;
  try {
    root = io::parse_toml_document(text, source);
  } catch (const io::InputError& e) {
    throw ConfigError(e.source(), e.field(), e.message());
  }
  for (const auto& assignment : overrides) apply_override(root, assignment, source, extra_tables);

  for (const auto& [key, node] : root) {
    const std::string k(key.str());
    const bool extra = std::find(extra_tables.begin(), extra_tables.end(), k) != extra_tables.end();
    if (k != "model" && k != "train" && k != "optim" && k != "rule" && !extra)
      throw ConfigError(source, k, "unknown table or key (accepted top-level tables: " + accepted_tables(extra_tables) + ")");
  }
  if (!root.contains("model")) throw ConfigError(source, "model", "missing table [model] (required; keys: " + kModelKeys + ")");
  if (!root.contains("train")) throw ConfigError(source, "train", "missing table [train] (required; keys: " + kTrainKeys + ")");

  RunConfig config;
  TableReader model(subtable(root, "model", source), "model", source);
  config.model = read_model(model);
  model.reject_unknown_keys(kModelKeys);

  TableReader train(subtable(root, "train", source), "train", source);
  config.train = read_train(train);
  train.reject_unknown_keys(kTrainKeys);

  TableReader optim(subtable(root, "optim", source), "optim", source);
  if (optim.present()) {
    if (role == ConfigRole::base) {
      config.optim = read_optim(optim);
      optim.reject_unknown_keys(kOptimKeys);
    } else {
      OptimConfig o;
      o.name = read_optimizer_name(optim);
      config.optim = o;
      optim.reject_unknown_keys("name (the target's hyperparameters are computed by the transfer, not given)");
    }
  }

  TableReader rule(subtable(root, "rule", source), "rule", source);
  if (rule.present() && role == ConfigRole::base)
    throw ConfigError(source, "rule", "rule switches belong in the target config or --set rule.KEY=VALUE, not in the base");
  config.rule = read_rule(rule);
  rule.reject_unknown_keys(rule_switch_names());

  validate_run_config(config, source, role);
  return config;
}

RunConfig load_run_config(const std::filesystem::path& file, ConfigRole role, const std::vector<std::string>& overrides,
                          const std::vector<std::string>& extra_tables) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file.string(), "(file)", "cannot be read (does the file exist?)");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_run_config(text.str(), file.string(), role, overrides, extra_tables);
}

}  // namespace muelab::theory
