// Exports a small model, a batch and muelab's loss, gradients and 10 AdamW-step losses for the
// independent PyTorch oracle (tests/models/pytorch_oracle.py). Usage:
//   muelab_models_oracle_export CASE DTYPE OUT_DIR
//   (CASE: moe-sigmoid | moe-softmax | dense; DTYPE: double | float)
// Format (all little-endian):
//   OUT_DIR/manifest.json  spec (every constant the forward uses), the base and target TOML texts and
//                          the rule source (tests/python/test_torch_adapter.py plans from them), parameter table
//                          [{name, group, trainable, rows, cols, offset}], tokens, targets, batch,
//                          per-group optimizer hyperparameters, muelab's loss and the 11 losses of
//                          10 AdamW steps (loss before each step and after the last);
//   OUT_DIR/params.bin     float64 initial parameter values, row-major, concatenated in table order;
//   OUT_DIR/grads.bin      float64 muelab gradients at the initial parameters, same layout.
#include "model_fixtures.hpp"
#include "muelab/models/cpu/optimizer.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

namespace mc = muelab::models::cpu;

namespace {

struct Case {
  std::string model_toml, rule, rule_toml;
  mc::ArchitectureOptions options;
};

Case make_case(const std::string& name) {
  const std::string dims = "d_model = 16\nn_layers = 2\nd_head = 4\n";
  Case c;
  c.rule = "complete-mue";
  if (name == "moe-sigmoid") {
    c.model_toml = dims + "ffn = \"moe\"\nn_experts = 8\nn_active = 4\nd_expert = 8\nn_shared = 1\nd_shared = 8\nn_groups = 2\n";
    c.options.aux_loss_coef = 0.1;
    c.options.bias_rate = 0.01;
  } else if (name == "moe-softmax") {
    c.model_toml = dims + "ffn = \"moe\"\nactivation = \"swiglu\"\nn_experts = 6\nn_active = 2\nd_expert = 8\nrouter = \"softmax\"\n";
    c.rule = "jiang";
    c.options.norm_gains_trainable = true;
  } else if (name == "dense") {
    c.model_toml = dims + "ffn = \"dense\"\nd_ffn = 24\n";
    c.options.norm_gains_trainable = true;
  } else {
    throw std::invalid_argument("CASE: unknown \"" + name + "\" (accepted: moe-sigmoid, moe-softmax, dense)");
  }
  return c;
}

template <class Scalar>
int run(const Case& c, const std::filesystem::path& out) {
  const double base_init_std = 0.2;
  const auto base = mc::testing::base_config(base_init_std);
  const auto target = mc::testing::target_config(c.model_toml, "");
  const auto transfer = muelab::theory::transfer(base, target, *muelab::theory::parse_rule_source(c.rule));
  const auto spec = mc::make_model_spec(transfer, target.model, 11, 5, c.options);
  mc::Model<Scalar> model(spec);
  model.initialize(4242);
  const muelab::sim::CounterRng rng(4242, 5);
  std::vector<std::int32_t> tokens, targets;
  for (std::uint64_t i = 0; i < 15; ++i) {
    tokens.push_back(static_cast<std::int32_t>(rng.below(11, 0, 0, 0, i)));
    targets.push_back(static_cast<std::int32_t>(rng.below(11, 1, 0, 0, i)));
  }
  const std::int64_t batch = 3;
  std::filesystem::create_directories(out);
  nlohmann::json j;
  const auto& m = spec.model;
  j["model"] = {{"d_model", m.d_model}, {"n_layers", m.n_layers}, {"d_head", m.d_head}, {"ffn", muelab::theory::to_string(m.ffn)},
                {"activation", muelab::theory::to_string(m.activation)}, {"d_ffn", m.d_ffn}, {"n_experts", m.n_experts},
                {"n_active", m.n_active}, {"d_expert", m.d_expert}, {"n_shared", m.n_shared}, {"d_shared", m.d_shared},
                {"n_groups", m.n_groups}, {"router", muelab::theory::to_string(m.router)}};
  j["base_toml"] = mc::testing::base_toml(base_init_std);
  j["target_toml"] = mc::testing::target_toml(c.model_toml, "");
  j["rule"] = c.rule;
  j["norm_gains_trainable"] = spec.options.norm_gains_trainable;
  j["vocab_size"] = spec.vocab_size;
  j["seq_len"] = spec.seq_len;
  j["batch"] = batch;
  j["residual_multiplier"] = spec.residual_multiplier;
  j["attention_logit_scale"] = spec.attention_logit_scale;
  j["route_scale_routed"] = spec.route_scale_routed;
  j["route_scale_shared"] = spec.route_scale_shared;
  j["normalize_gates"] = spec.normalize_gates;
  j["norm_eps"] = spec.options.norm_eps;
  j["aux_loss_coef"] = spec.options.aux_loss_coef;
  j["bias_rate"] = spec.options.bias_rate;
  for (const auto& [g, v] : spec.multiplier) j["multiplier"][muelab::theory::group_name(g)] = v;
  for (const auto& [g, h] : mc::group_hyperparameters(transfer))
    j["optimizer"][muelab::theory::group_name(g)] = {{"lr", h.lr}, {"weight_decay", h.weight_decay}, {"eps", h.eps},
                                                      {"beta1", h.beta1}, {"beta2", h.beta2}};
  j["tokens"] = tokens;
  j["targets"] = targets;
  std::ofstream params(out / "params.bin", std::ios::binary), grads(out / "grads.bin", std::ios::binary);
  const auto stats = model.forward(tokens, targets, batch);
  model.backward();
  std::int64_t offset = 0;
  for (const auto& p : model.parameters()) {
    j["parameters"].push_back({{"name", p.name}, {"group", muelab::theory::group_name(p.group)}, {"trainable", p.trainable},
                               {"rows", p.value.rows()}, {"cols", p.value.cols()}, {"offset", offset}});
    for (Eigen::Index k = 0; k < p.value.size(); ++k) {
      const double v = static_cast<double>(p.value.data()[k]);
      const double g = static_cast<double>(p.grad.data()[k]);
      params.write(reinterpret_cast<const char*>(&v), sizeof v);  // NOLINT: binary export
      grads.write(reinterpret_cast<const char*>(&g), sizeof g);   // NOLINT
    }
    offset += p.value.size();
  }
  j["loss"] = stats.loss;
  mc::Optimizer<Scalar> optimizer(muelab::theory::OptimizerKind::adamw, mc::group_hyperparameters(transfer));
  std::vector<double> losses;
  for (int step = 0; step <= 10; ++step) {
    const auto s = model.forward(tokens, targets, batch);
    losses.push_back(s.loss);
    if (step == 10) break;
    model.backward();
    (void)optimizer.step(model.parameters(), 1.0);
    model.update_balance_bias();
  }
  j["adamw_losses"] = losses;
  std::ofstream(out / "manifest.json") << j.dump(1) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: muelab_models_oracle_export CASE DTYPE OUT_DIR\n";
    return 2;
  }
  try {
    const auto c = make_case(argv[1]);
    const std::string dtype = argv[2];
    if (dtype == "double") return run<double>(c, argv[3]);
    if (dtype == "float") return run<float>(c, argv[3]);
    std::cerr << "DTYPE: unknown \"" << dtype << "\" (accepted: double, float)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
