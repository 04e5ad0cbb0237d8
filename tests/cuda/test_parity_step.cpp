// CUDA parity suite, whole training step (models/cuda/src/model.cpp over every stage): forward,
// backward, optimizer step and balance bias against the CPU reference for several architectures;
// a non-finite step skipped on the device and reported; and on the host, the logged steps of
// trainer.log_interval (the steps whose diagnostics cross on CUDA). Fixtures: parity_fixtures.hpp.
#include "parity_fixtures.hpp"

#include "../models/model_fixtures.hpp"
#include "muelab/models/cpu/model.hpp"
#include "muelab/models/cpu/optimizer.hpp"
#include "muelab/models/cpu/trainer.hpp"
#include "muelab/models/cuda/model.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace cpu = muelab::models::cpu;

TEST_CASE(
    "cuda host: trainer.log_interval keeps the rows of the logged steps only (the steps whose diagnostics cross on "
    "CUDA)",
    "[cuda][host]") {
  const std::string config = R"(
[model]
d_model = 16
n_layers = 1
d_head = 8
ffn = "moe"
n_experts = 4
n_active = 2
d_expert = 8
[train]
batch_size = 2
seq_len = 8
steps = 23
[transfer]
lr = 1e-2
init_std = 0.02
[data]
source = "markov"
markov_states = 8
[trainer]
seed = 5
eval_interval = 10
eval_batches = 1
aux_loss_coef = 0.01
)";
  std::printf("cuda host log_interval: trainer seed 5\n");
  const auto rows_of = [&](std::int64_t interval) {
    const auto run =
        cpu::parse_train_run(config, "run.toml", ".", {"trainer.log_interval=" + std::to_string(interval)});
    const auto data = cpu::make_token_source(run.data);
    const auto out =
        std::filesystem::temp_directory_path() / ("muelab_cuda_host_log_interval_" + std::to_string(interval));
    std::filesystem::remove_all(out);
    REQUIRE(cpu::train(run, *data, out).status == "ok");
    std::ifstream in(out / "log.csv");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    std::filesystem::remove_all(out);
    return lines;
  };
  const auto every = rows_of(1), thinned = rows_of(5);
  REQUIRE(every.size() == 1 + 23);
  // steps 0, 5, 10, 15, 20 (interval), 9, 19 (eval), 22 (last), in step order; identical numbers
  const std::vector<std::size_t> logged{0, 5, 9, 10, 15, 19, 20, 22};
  REQUIRE(thinned.size() == 1 + logged.size());
  CHECK(thinned[0] == every[0]);  // header
  for (std::size_t i = 0; i < logged.size(); ++i) CHECK(thinned[1 + i] == every[1 + logged[i]]);
  CHECK_THROWS_WITH(cpu::parse_train_run(config, "run.toml", ".", {"trainer.log_interval=0"}),
                    Catch::Contains("trainer.log_interval"));
}

namespace {

struct StepCase {
  const char* name;
  const char* model_toml;
  cpu::ArchitectureOptions options;
  muelab::theory::OptimizerKind optimizer;
};

/// One whole training step (forward, backward, optimizer step, balance bias) on both backends from
/// the same Philox initialization and batch: loss, logits, every gradient, every updated value.
template <class T>
void check_training_step(const StepCase& sc) {
  INFO("case " << sc.name << ", seed " << kSeed);
  const auto spec = cpu::testing::make_spec(sc.model_toml, "complete-mue", sc.options, "", 13);
  cpu::Model<T> host(spec);
  host.initialize(kSeed);
  mc::Model<T> device(spec);
  device.initialize(kSeed);
  const index_t batch = 3;
  const auto n = static_cast<std::size_t>(batch * spec.seq_len);
  std::vector<std::int32_t> tokens(n), targets(n);
  const muelab::sim::CounterRng rng(kSeed, 99);
  for (std::size_t i = 0; i < n; ++i) {
    tokens[i] = static_cast<std::int32_t>(rng.below(13, i, 0, 0, 0));
    targets[i] = static_cast<std::int32_t>(rng.below(13, i, 1, 0, 0));
  }
  const double tol = sizeof(T) == 4 ? 1e-4 : 1e-10;  // whole step: many GEMMs in a different order
  std::map<cpu::ParameterGroup, cpu::GroupHyperparameters> groups;
  for (const auto& p : host.parameters()) groups[p.group] = {1e-2, 0.1, 1e-8, 0.9, 0.95};
  cpu::Optimizer<T> optimizer(sc.optimizer, groups);
  for (int step = 0; step < 2; ++step) {  // the second step also checks the optimizer moments carried over
    CAPTURE(step);
    const auto a = host.forward(tokens, targets, batch);
    const auto loss_only = device.forward(tokens, targets, batch);  // the per-step read
    const auto b = device.read_diagnostics().stats;                 // the logging-step read
    CHECK(loss_only.ce_loss == b.ce_loss);
    CHECK(loss_only.loss == b.loss);
    CHECK(b.ce_loss == Approx(a.ce_loss).epsilon(tol));
    CHECK(b.loss == Approx(a.loss).epsilon(tol));  // includes the aux loss when it is on
    if (sc.options.aux_loss_coef > 0.0) CHECK(a.loss > a.ce_loss);
    REQUIRE(a.residual_rms.size() == b.residual_rms.size());
    for (std::size_t l = 0; l < a.residual_rms.size(); ++l)
      CHECK(b.residual_rms[l] == Approx(a.residual_rms[l]).epsilon(tol));
    REQUIRE(a.load.size() == b.load.size());
    for (std::size_t l = 0; l < a.load.size(); ++l) {
      CHECK(b.load[l] == a.load[l]);                          // identical routing decisions
      for (const double load : a.load[l]) CHECK(load > 0.0);  // every expert hit
    }
    const auto& logits = host.logits();
    CHECK_PARITY(device.logits(), std::vector<T>(logits.data(), logits.data() + logits.size()), tol);
    host.backward();
    device.backward();
    device.finish_gradients(step);
    double grad_sq = 0.0;
    for (const auto& p : host.parameters())
      if (p.trainable) grad_sq += static_cast<double>(p.grad.squaredNorm());
    const auto diag = device.read_diagnostics();
    CHECK(diag.grad_norm == Approx(std::sqrt(grad_sq)).epsilon(tol));
    CHECK(diag.first_nonfinite_step == -1);
    for (std::size_t i = 0; i < host.parameters().size(); ++i) {
      const auto& g = host.parameters()[i].grad;
      INFO("gradient of " << host.parameters()[i].name);
      CHECK_PARITY(device.grad(i), std::vector<T>(g.data(), g.data() + g.size()), tol);
    }
    static_cast<void>(optimizer.step(host.parameters(), 0.5));
    device.step(sc.optimizer, groups, 0.5);
    host.update_balance_bias();
    device.update_balance_bias();
    for (std::size_t i = 0; i < host.parameters().size(); ++i) {
      const auto& v = host.parameters()[i].value;
      INFO("value of " << host.parameters()[i].name);
      CHECK_PARITY(device.value(i), std::vector<T>(v.data(), v.data() + v.size()), tol);
    }
    for (std::size_t l = 0; l < static_cast<std::size_t>(spec.model.n_layers); ++l)
      if (spec.model.is_moe()) CHECK_PARITY(device.balance_bias(l), host.balance_bias(l), 1e-12);
  }
}

const char* const kMoeSoftmax =
    "d_model = 12\nn_layers = 2\nd_head = 4\nffn = \"moe\"\nn_experts = 5\nn_active = 2\n"
    "d_expert = 7\nrouter = \"softmax\"";
const char* const kMoeSigmoidShared =
    "d_model = 12\nn_layers = 1\nd_head = 4\nffn = \"moe\"\nn_experts = 6\nn_active = 2\n"
    "d_expert = 5\nn_shared = 1\nd_shared = 9\nactivation = \"swiglu\"\nrouter = \"sigmoid\"\nn_groups = 2";
const char* const kDense = "d_model = 12\nn_layers = 2\nd_head = 4\nffn = \"dense\"\nd_ffn = 17";

}  // namespace

TEMPLATE_TEST_CASE("cuda parity: whole training step vs the CPU reference", "[cuda][parity][step]", float, double) {
  using T = TestType;
  cpu::ArchitectureOptions plain;
  cpu::ArchitectureOptions balanced;
  balanced.bias_rate = 0.05;
  balanced.norm_gains_trainable = true;
  cpu::ArchitectureOptions capped;
  capped.capacity_factor = 1.25;
  check_training_step<T>({"moe-softmax-gelu-adamw", kMoeSoftmax, plain, muelab::theory::OptimizerKind::adamw});
  check_training_step<T>({"moe-sigmoid-swiglu-shared-groups-bias-gains-adam", kMoeSigmoidShared, balanced,
                          muelab::theory::OptimizerKind::adam});
  check_training_step<T>({"moe-capacity-sgd", kMoeSoftmax, capped, muelab::theory::OptimizerKind::sgd});
  check_training_step<T>({"dense-gelu-adamw", kDense, plain, muelab::theory::OptimizerKind::adamw});
  cpu::ArchitectureOptions aux;
  aux.aux_loss_coef = 0.1;
  check_training_step<T>({"moe-softmax-aux-adamw", kMoeSoftmax, aux, muelab::theory::OptimizerKind::adamw});
  aux.capacity_factor = 1.25;
  aux.bias_rate = 0.05;
  check_training_step<T>(
      {"moe-sigmoid-aux-capacity-bias-adam", kMoeSigmoidShared, aux, muelab::theory::OptimizerKind::adam});
}

TEMPLATE_TEST_CASE("cuda parity: a non-finite step is skipped on the device and reported", "[cuda][parity][step]",
                   float, double) {
  using T = TestType;
  const auto spec = cpu::testing::make_spec(kMoeSoftmax, "complete-mue", cpu::ArchitectureOptions{}, "", 13);
  cpu::Model<T> good(spec), poisoned(spec);
  good.initialize(kSeed);
  poisoned.initialize(kSeed);
  poisoned.parameter("head").value(0, 0) = std::numeric_limits<T>::quiet_NaN();  // NaN loss and gradients
  mc::Model<T> device(spec);
  device.load_from(poisoned);
  std::vector<std::int32_t> tokens(static_cast<std::size_t>(2 * spec.seq_len), 1), targets = tokens;
  std::map<cpu::ParameterGroup, cpu::GroupHyperparameters> groups;
  for (const auto& p : device.parameters()) groups[p.group] = {1e-2, 0.1, 1e-8, 0.9, 0.95};
  const auto values = [&] {
    std::vector<std::vector<T>> all;
    for (std::size_t i = 0; i < device.parameters().size(); ++i) all.push_back(device.value(i));
    return all;
  };
  const auto same_bits = [](const std::vector<std::vector<T>>& x, const std::vector<std::vector<T>>& y) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i].size() != y[i].size() || std::memcmp(x[i].data(), y[i].data(), x[i].size() * sizeof(T)) != 0)
        return false;
    return true;
  };
  const auto before = values();
  device.enqueue_forward(tokens, targets, 2);
  device.backward();
  device.finish_gradients(0);
  device.step(muelab::theory::OptimizerKind::adamw, groups, 1.0);
  const auto diag = device.read_diagnostics();
  CHECK_FALSE(std::isfinite(diag.stats.loss));
  CHECK(diag.first_nonfinite_step == 0);
  CHECK(same_bits(values(), before));  // the update was skipped on the device (bitwise: the head holds a NaN)
  // the guard is sticky: finite gradients after a failed step do not move the model either
  device.load_from(good);
  const auto good_values = values();
  device.enqueue_forward(tokens, targets, 2);
  device.backward();
  device.finish_gradients(1);
  device.step(muelab::theory::OptimizerKind::adamw, groups, 1.0);
  const auto later = device.read_diagnostics();
  CHECK(std::isfinite(later.stats.loss));
  CHECK(later.first_nonfinite_step == 0);
  CHECK(same_bits(values(), good_values));
}
