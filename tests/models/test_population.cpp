// Population training (docs/development.md §1): K runs trained in lockstep in one process give each
// run's outputs exactly as `train` alone does — log.csv and every summary field but the timing, bit
// for bit — including members that share batches, members with another seed, a shorter member and a
// member that diverges while the others go on.
#include "muelab/models/cpu/trainer.hpp"
#include "run_files.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

namespace mc = muelab::models::cpu;
namespace core = muelab::models;

namespace {

const std::string kRun = R"(
[model]
d_model = 16
n_layers = 2
d_head = 8
ffn = "moe"
n_experts = 4
n_active = 2
d_expert = 16
[train]
batch_size = 4
seq_len = 16
steps = 70  # crosses a block of 64 steps (models/cpu/src/trainer.cpp)
[transfer]
lr = 1e-2
init_std = 0.02
weight_decay = 0.1
[data]
source = "markov-k"
markov_states = 16
markov_order = 2
[schedule]
kind = "wsd"
warmup_steps = 4
[trainer]
seed = 3
eval_interval = 25
eval_batches = 2
log_interval = 1
)";

using muelab::models::cpu::testing::scratch;
using muelab::models::cpu::testing::slurp;

/// Equal, or both NaN (a diverged member's final losses are NaN alone and in a population).
bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

}  // namespace

TEST_CASE("population: every member's outputs are those of its run trained alone", "[models][population]") {
  for (const std::string dtype : {"float", "double"}) {
    const std::vector<std::vector<std::string>> members = {
        {"transfer.lr=1e-2"},                        // shares its batches with the next two
        {"transfer.lr=3e-2"},                        //
        {"transfer.lr=3e-2", "train.steps=66"},      // leaves the population early
        {"transfer.lr=1e-2", "trainer.seed=4"},      // its own batches
        {"transfer.lr=1e6", "transfer.init_std=5"},  // diverges; the others go on
    };
    std::vector<core::TrainRun> runs;
    for (auto overrides : members) {
      overrides.push_back("trainer.dtype=\"" + dtype + "\"");
      runs.push_back(core::parse_train_run(kRun, "run.toml", ".", overrides));
    }
    const auto data = core::make_token_source(runs.front().data);
    std::vector<std::filesystem::path> together;
    for (std::size_t k = 0; k < runs.size(); ++k)
      together.push_back(scratch("population_" + dtype + std::to_string(k)));
    const auto summaries = mc::train_population(runs, *data, together);
    REQUIRE(summaries.size() == runs.size());
    CHECK(summaries[4].status == "diverged");
    CHECK(summaries[2].steps_done == 66);
    for (std::size_t k = 0; k < runs.size(); ++k) {
      INFO(dtype << " member " << k);
      const auto alone_dir = scratch("alone_" + dtype + std::to_string(k));
      const auto alone = mc::train(runs[k], *data, alone_dir);
      CHECK(slurp(together[k] / "log.csv") == slurp(alone_dir / "log.csv"));
      CHECK(slurp(together[k] / "hyperparameters.json") == slurp(alone_dir / "hyperparameters.json"));
      CHECK(summaries[k].status == alone.status);
      CHECK(summaries[k].diverged_step == alone.diverged_step);
      CHECK(summaries[k].steps_done == alone.steps_done);
      CHECK(same(summaries[k].final_train_loss, alone.final_train_loss));  // exact: the same bits
      CHECK(same(summaries[k].final_validation_loss, alone.final_validation_loss));
      CHECK(same(summaries[k].best_validation_loss, alone.best_validation_loss));
    }
    CHECK(summaries[0].final_train_loss != summaries[1].final_train_loss);  // the members did differ
  }
}

TEST_CASE("population: members that cannot share a process are refused, naming the field", "[models][population]") {
  const auto a = core::parse_train_run(kRun, "run.toml", ".", {});
  const auto data = core::make_token_source(a.data);
  const auto refused = [&](const core::TrainRun& b) {
    try {
      (void)mc::train_population({a, b}, *data, {scratch("refused_a"), scratch("refused_b")});
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK_THAT(refused(core::parse_train_run(kRun, "run.toml", ".", {"trainer.threads=2"})),
             Catch::Contains("trainer.threads"));
  CHECK_THAT(refused(core::parse_train_run(kRun, "run.toml", ".", {"trainer.dtype=\"double\""})),
             Catch::Contains("double_precision"));
  CHECK_THAT(refused(core::parse_train_run(kRun, "run.toml", ".", {"data.markov_seed=9"})), Catch::Contains("data"));
  // The sweep groups runs by population_key: equal exactly where train_population accepts the members.
  for (const std::string bad : {"trainer.threads=2", "trainer.dtype=\"double\"", "data.markov_seed=9"})
    CHECK(mc::population_key(core::parse_train_run(kRun, "run.toml", ".", {bad})) != mc::population_key(a));
  for (const std::string fine : {"transfer.lr=3e-2", "trainer.seed=4", "train.steps=10", "model.d_model=32"})
    CHECK(mc::population_key(core::parse_train_run(kRun, "run.toml", ".", {fine})) == mc::population_key(a));
  try {  // two members writing one folder would corrupt both
    (void)mc::train_population({a, a}, *data, {scratch("shared_out"), scratch("shared_out") / "."});
    FAIL("members sharing an output folder must be refused");
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("share the output folder"));
  }
  CHECK(!std::filesystem::exists(scratch("shared_out")));
  CHECK(!std::filesystem::exists(scratch("refused_a")));  // nothing written
  try {
    (void)mc::train_population({a}, *data, {});
    FAIL("a population without output folders must be refused");
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("output folder"));
  }
}
