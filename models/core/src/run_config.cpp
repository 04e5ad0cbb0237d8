// Run-config parsing for the trainer: [model]/[train]/[optim]/[rule] via theory's loader, the
// trainer's own tables ([transfer], [data], [schedule], [trainer]) here.
#include "muelab/models/core/run_config.hpp"

#include "muelab/io/toml_document.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace muelab::models {

using theory::ConfigError;

const std::vector<std::string>& trainer_tables() {
  static const std::vector<std::string> tables = {"transfer", "data", "schedule", "trainer"};
  return tables;
}

namespace {

/// Applies "table.key=value" (io::apply_set_override: the project's one --set) as a ConfigError.
void apply_override(toml::table& doc, const std::string& override_text, const std::string& source) {
  try {
    io::apply_set_override(doc, override_text, source);
  } catch (const io::InputError& e) {
    throw theory::ConfigError(e.source(), e.field(), e.message());
  }
}

class Reader {
 public:
  Reader(const toml::table& doc, std::string table, std::string source)
      : table_(doc[table].as_table()), name_(std::move(table)), source_(std::move(source)) {
    if (doc.contains(name_) && table_ == nullptr) throw ConfigError(source_, name_, "must be a table");
  }
  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw ConfigError(source_, name_ + "." + key, message);
  }
  const toml::node* get(const std::string& key) {
    used_.insert(key);
    return table_ ? table_->get(key) : nullptr;
  }
  std::string text(const std::string& key, const std::string& fallback, const std::vector<std::string>& accepted) {
    const auto* n = get(key);
    if (!n) return fallback;
    const auto v = n->value<std::string>();
    std::string list;
    for (const auto& a : accepted) list += (list.empty() ? "" : ", ") + a;
    if (!v) fail(key, "must be a string" + (accepted.empty() ? std::string() : " (accepted: " + list + ")"));
    if (!accepted.empty() && std::find(accepted.begin(), accepted.end(), *v) == accepted.end())
      fail(key, "unknown value \"" + *v + "\" (accepted: " + list + ")");
    return *v;
  }
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min_value) {
    const auto* n = get(key);
    if (!n) return fallback;
    const auto v = n->value_exact<std::int64_t>();
    if (!v) fail(key, "must be an integer >= " + std::to_string(min_value));
    if (*v < min_value) fail(key, "must be an integer >= " + std::to_string(min_value) + " (got " + std::to_string(*v) + ")");
    return *v;
  }
  double number(const std::string& key, double fallback, double min_value, double max_value, bool required = false) {
    const auto* n = get(key);
    if (!n) {
      if (required) fail(key, "missing (required; accepted: a number in [" + fmt(min_value) + ", " + fmt(max_value) + "])");
      return fallback;
    }
    const auto v = n->value<double>();
    if (!v || !std::isfinite(*v) || *v < min_value || *v > max_value)
      fail(key, "must be a number in [" + fmt(min_value) + ", " + fmt(max_value) + "]");
    return *v;
  }
  bool boolean(const std::string& key, bool fallback) {
    const auto* n = get(key);
    if (!n) return fallback;
    const auto v = n->value_exact<bool>();
    if (!v) fail(key, "must be true or false");
    return *v;
  }
  void reject_unknown() const {
    if (!table_) return;
    for (const auto& [k, _] : *table_)
      if (!used_.count(std::string(k.str()))) fail(std::string(k.str()), "unknown key in [" + name_ + "]");
  }

 private:
  static std::string fmt(double v) {
    std::ostringstream s;
    s << v;
    return s.str();
  }
  const toml::table* table_;
  std::string name_, source_;
  std::set<std::string> used_;
};

}  // namespace

TrainRun parse_train_run(const std::string& toml_text, const std::string& source, const std::filesystem::path& base_dir,
                         const std::vector<std::string>& overrides) {
  toml::table doc;
  try {
    doc = io::parse_toml_document(toml_text, source);
  } catch (const io::InputError& e) {
    throw ConfigError(e.source(), e.field(), e.message());
  }
  for (const auto& o : overrides) apply_override(doc, o, source);
  TrainRun run;
  {
    std::ostringstream out;
    out << doc;
    run.resolved_toml = out.str() + "\n";
  }
  run.target = theory::parse_run_config(run.resolved_toml, source, theory::ConfigRole::target, {}, trainer_tables());

  Reader transfer(doc, "transfer", source);
  const auto rule_name = transfer.text("rule", "complete-mue", {"sp", "mup", "completep", "jiang", "mup-moe", "complete-mue"});
  run.rule = *theory::parse_rule_source(rule_name);
  const auto base_path = transfer.text("base", "", {});
  if (!base_path.empty()) {
    const auto path = std::filesystem::path(base_path).is_absolute() ? std::filesystem::path(base_path) : base_dir / base_path;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      throw ConfigError(source, "transfer.base", "base config not found: " + path.string() + " (accepted: a path to a base TOML file)");
    run.base = theory::load_run_config(path, theory::ConfigRole::base);
    // The base file's tuned values may be overridden here, so a sweep can vary the proxy's LR (or WD,
    // init std, ε, β) while the base shape comes from the file (the CUDA recipes of docs/claims.md).
    if (!run.base.optim) throw ConfigError(path.string(), "optim", "missing (a base config needs its tuned [optim] values)");
    auto& optim = *run.base.optim;
    optim.lr = transfer.number("lr", optim.lr, 1e-30, 1e9);
    optim.weight_decay = transfer.number("weight_decay", optim.weight_decay, 0.0, 1e3);
    optim.eps = transfer.number("eps", optim.eps, 0.0, 1.0);
    optim.beta1 = transfer.number("beta1", optim.beta1, 0.0, 0.999999999);
    optim.beta2 = transfer.number("beta2", optim.beta2, 0.0, 0.999999999);
    optim.init_std = transfer.number("init_std", optim.init_std, 1e-30, 1e3);
  } else {  // inline base hyperparameters: the base is the target's own shape (every factor 1)
    run.base = run.target;
    theory::OptimConfig optim;
    const auto name = transfer.text("optimizer", "adamw", {"adamw", "adam", "sgd"});
    optim.name = name == "adamw" ? theory::OptimizerKind::adamw : name == "adam" ? theory::OptimizerKind::adam : theory::OptimizerKind::sgd;
    optim.lr = transfer.number("lr", 0.0, 0.0, 1e9, true);
    optim.weight_decay = transfer.number("weight_decay", 0.0, 0.0, 1e3);
    optim.eps = transfer.number("eps", 1e-8, 0.0, 1.0);
    optim.beta1 = transfer.number("beta1", 0.9, 0.0, 0.999999999);
    optim.beta2 = transfer.number("beta2", 0.95, 0.0, 0.999999999);
    optim.init_std = transfer.number("init_std", 0.0, 0.0, 1e3, true);
    run.base.optim = optim;
    run.base.rule = {};
  }
  transfer.reject_unknown();
  try {
    run.transfer = theory::transfer(run.base, run.target, run.rule);
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw ConfigError(source, "transfer.rule", e.what());
  }
  if (run.target.model.bias) throw ConfigError(source, "model.bias", "the CPU trainer supports false only (accepted: false)");

  Reader data(doc, "data", source);
  run.data.source = data.text("source", "fortunes", {"fortunes", "markov", "markov-k"});
  run.data.path = data.text("path", run.data.path, {});
  run.data.validation_every = data.integer("validation_every", 10, 2);
  run.data.markov_states = data.integer("markov_states", 32, 2);
  run.data.markov_temperature = data.number("markov_temperature", 1.0, 1e-3, 1e3);
  run.data.markov_seed = static_cast<std::uint64_t>(data.integer("markov_seed", 7, 0));
  run.data.markov_order = data.integer("markov_order", 2, 1);
  if (run.data.source == "markov-k") {
    double table = 1.0;
    for (std::int64_t i = 0; i <= run.data.markov_order; ++i) table *= static_cast<double>(run.data.markov_states);
    if (table > static_cast<double>(kMarkovKMaxTable))
      data.fail("markov_order", "markov_states^(markov_order + 1) = " + std::to_string(static_cast<long long>(table)) +
                                    " exceeds the table limit " + std::to_string(kMarkovKMaxTable) +
                                    " (accepted: a smaller order or fewer states)");
  }
  data.reject_unknown();

  Reader schedule(doc, "schedule", source);
  const auto kind = schedule.text("kind", "constant", {"constant", "cosine", "wsd"});
  run.schedule.kind = kind == "constant" ? Schedule::Kind::constant : kind == "cosine" ? Schedule::Kind::cosine : Schedule::Kind::wsd;
  run.schedule.warmup_steps = schedule.integer("warmup_steps", 0, 0);
  run.schedule.min_factor = schedule.number("min_factor", 0.0, 0.0, 1.0);
  run.schedule.decay_fraction = schedule.number("decay_fraction", 0.2, 1e-6, 1.0);
  run.schedule.total_steps = run.target.train.steps;
  schedule.reject_unknown();

  Reader trainer(doc, "trainer", source);
  run.trainer.seed = static_cast<std::uint64_t>(trainer.integer("seed", 1, 0));
  run.trainer.threads = static_cast<int>(trainer.integer("threads", 1, 1));
  run.trainer.eval_interval = trainer.integer("eval_interval", 50, 1);
  run.trainer.eval_batches = trainer.integer("eval_batches", 4, 1);
  run.trainer.log_interval = trainer.integer("log_interval", 1, 1);
  run.trainer.double_precision = trainer.text("dtype", "float", {"float", "double"}) == "double";
  run.architecture.norm_gains_trainable = trainer.boolean("norm_gains_trainable", false);
  run.architecture.norm_eps = trainer.number("norm_eps", 1e-5, 0.0, 1.0);
  run.architecture.bias_rate = trainer.number("load_balance_bias_rate", 0.0, 0.0, 1e3);
  run.architecture.aux_loss_coef = trainer.number("aux_loss_coef", 0.0, 0.0, 1e3);
  run.architecture.capacity_factor = trainer.number("capacity_factor", 0.0, 0.0, 1e3);
  trainer.reject_unknown();
  return run;
}

TrainRun load_train_run(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  std::ifstream in(file);
  if (!in) throw ConfigError(file.string(), "--config", "cannot read the file (accepted: a readable TOML run config)");
  std::stringstream text;
  text << in.rdbuf();
  return parse_train_run(text.str(), file.string(), file.parent_path(), overrides);
}

bool DataOptions::same_source(const DataOptions& o) const {
  return source == o.source && path == o.path && validation_every == o.validation_every && markov_states == o.markov_states &&
         markov_temperature == o.markov_temperature && markov_seed == o.markov_seed && markov_order == o.markov_order;
}

std::unique_ptr<TokenSource> make_token_source(const DataOptions& data) {
  if (data.source == "markov") return make_markov_source(data.markov_states, data.markov_temperature, data.markov_seed);
  if (data.source == "markov-k")
    return make_markov_k_source(data.markov_states, data.markov_order, data.markov_temperature, data.markov_seed);
  return make_fortunes_source(data.path, data.validation_every);
}

}  // namespace muelab::models
