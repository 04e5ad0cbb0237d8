// Trainer: thread-count determinism, divergence handling, config and data errors, schedules, data.
#include "muelab/models/cpu/blas.hpp"
#include "muelab/models/cpu/trainer.hpp"
#include "run_files.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

namespace mc = muelab::models::cpu;
namespace core = muelab::models;  // run config, data, schedule (models/core)

namespace {

const std::string kRun = R"(
[model]
d_model = 32
n_layers = 2
d_head = 8
ffn = "moe"
n_experts = 4
n_active = 2
d_expert = 32
[train]
batch_size = 4
seq_len = 16
steps = 30
[transfer]
lr = 1e-2
init_std = 0.02
weight_decay = 0.1
[data]
source = "markov"
markov_states = 16
[schedule]
kind = "wsd"
warmup_steps = 5
[trainer]
seed = 3
eval_interval = 10
load_balance_bias_rate = 1e-3
aux_loss_coef = 0.01
)";

using muelab::models::cpu::testing::scratch;
using muelab::models::cpu::testing::slurp;

std::string config_error(const std::vector<std::string>& overrides) {
  try {
    (void)core::parse_train_run(kRun, "run.toml", ".", overrides);
  } catch (const muelab::theory::ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("trainer: same seed gives an identical log.csv for 1 and 2 threads", "[models][trainer]") {
  for (const std::string dtype : {"float", "double"}) {
    std::vector<std::string> logs;
    for (const int threads : {1, 2}) {
      const auto run = core::parse_train_run(kRun, "run.toml", ".", {"trainer.threads=" + std::to_string(threads), "trainer.dtype=\"" + dtype + "\""});
      const auto data = core::make_token_source(run.data);
      const auto out = scratch("determinism_" + dtype + std::to_string(threads));
      const auto summary = mc::train(run, *data, out);
      CHECK(summary.status == "ok");
      logs.push_back(slurp(out / "log.csv"));
    }
    std::cout << "determinism (seed 3, " << dtype << "): log.csv " << logs[0].size() << " bytes\n";
    CHECK(logs[0].size() > 1000);
    CHECK(logs[0] == logs[1]);
  }
}

TEST_CASE("trainer: loss falls toward the Markov entropy floor", "[models][trainer]") {
  const auto run = core::parse_train_run(kRun, "run.toml", ".", {"train.steps=150", "trainer.eval_interval=150"});
  const auto data = core::make_token_source(run.data);
  const auto summary = mc::train(run, *data, scratch("markov_fall"));
  std::cout << "markov: entropy floor " << data->entropy_floor() << ", log 16 = " << std::log(16.0)
            << ", final validation loss " << summary.final_validation_loss << "\n";
  CHECK(data->entropy_floor() > 0.5);
  CHECK(data->entropy_floor() < std::log(16.0));
  // Halfway from the uniform predictor's loss (log V) to the floor after 150 steps.
  CHECK(summary.final_validation_loss < 0.5 * (std::log(16.0) + data->entropy_floor()));
  CHECK(summary.final_validation_loss > data->entropy_floor() - 0.05);
}

TEST_CASE("trainer: a NaN/Inf ends the run as diverged and keeps the log", "[models][trainer]") {
  const auto run = core::parse_train_run(kRun, "run.toml", ".", {"transfer.lr=1e6", "transfer.init_std=10.0", "schedule.kind=\"constant\"", "schedule.warmup_steps=0"});
  const auto data = core::make_token_source(run.data);
  const auto out = scratch("diverged");
  const auto summary = mc::train(run, *data, out);
  std::cout << "divergence: status " << summary.status << " at step " << summary.diverged_step << "\n";
  REQUIRE(summary.status == "diverged");
  CHECK(summary.diverged_step >= 0);
  const auto log = slurp(out / "log.csv");
  CHECK(std::count(log.begin(), log.end(), '\n') == summary.diverged_step + 2);
  CHECK(slurp(out / "summary.json").find("\"diverged\"") != std::string::npos);
}

TEST_CASE("trainer: summary.json names the GEMM engine each precision ran on", "[models][trainer][gemm]") {
  // Runs are bit-reproducible per engine, not across engines (docs/development.md §1): the record must
  // say which one. oneDNN has no double GEMM; its double products go to eigen-avx512, else OpenBLAS.
  const mc::GemmEngine original = mc::active_gemm_engine();
  for (const auto engine : {mc::GemmEngine::openblas, mc::GemmEngine::eigen_avx512, mc::GemmEngine::onednn}) {
    if (!mc::gemm_engine_supported(engine)) continue;
    mc::force_gemm_engine(engine);
    for (const std::string dtype : {"float", "double"}) {
      std::string expected = mc::gemm_engine_name(engine);
      if (dtype == "double" && engine == mc::GemmEngine::onednn)
        expected = mc::gemm_engine_supported(mc::GemmEngine::eigen_avx512) ? "eigen-avx512" : "openblas";
      const auto run =
          core::parse_train_run(kRun, "run.toml", ".", {"train.steps=2", "trainer.dtype=\"" + dtype + "\""});
      const auto data = core::make_token_source(run.data);
      const auto out = scratch("engine_" + expected + "_" + dtype);
      (void)mc::train(run, *data, out);
      INFO("forced " << mc::gemm_engine_name(engine) << ", dtype " << dtype);
      CHECK(slurp(out / "summary.json").find("\"gemm_engine\": \"" + expected + "\"") != std::string::npos);
    }
  }
  mc::force_gemm_engine(original);
}

TEST_CASE("trainer: bad configs give one-line errors naming the field and accepted values", "[models][trainer]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"data.source=\"wiki\"", "data.source"},       {"schedule.kind=\"linear\"", "schedule.kind"},
      {"trainer.dtype=\"half\"", "trainer.dtype"},   {"trainer.threads=0", "trainer.threads"},
      {"transfer.rule=\"ntk\"", "transfer.rule"},    {"trainer.colour=1", "trainer.colour"},
      {"transfer.base=\"missing.toml\"", "transfer.base"}, {"model.n_active=9", "model.n_active"},
      {"transfer.lr=-1", "transfer.lr"}};
  for (const auto& [override_text, field] : cases) {
    const auto message = config_error({override_text});
    INFO(override_text << " -> " << message);
    CHECK(message.find(field) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
  }
  CHECK(config_error({"trainer.dtype=\"half\""}).find("float, double") != std::string::npos);
}

TEST_CASE("run config: a base file's tuned values can be overridden in [transfer]", "[models][trainer]") {
  const auto dir = scratch("base-override");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "proxy.toml") << "[model]\nd_model = 16\nn_layers = 2\nd_head = 8\nffn = \"dense\"\nd_ffn = 16\n"
                                       "[train]\nbatch_size = 4\nseq_len = 16\nsteps = 30\n"
                                       "[optim]\nname = \"adamw\"\nlr = 4e-3\nweight_decay = 0.1\neps = 1e-8\nbeta1 = 0.9\nbeta2 = 0.95\n"
                                       "init_std = 0.02\n";
  const std::string target = kRun.substr(0, kRun.find("[transfer]")) + "[transfer]\nbase = \"proxy.toml\"\n" +
                             kRun.substr(kRun.find("[data]"));
  const auto plain = core::parse_train_run(target, "run.toml", dir, {});
  CHECK(plain.base.optim->lr == 4e-3);  // the file's values without an override
  CHECK(plain.base.optim->weight_decay == 0.1);
  const auto swept = core::parse_train_run(target, "run.toml", dir, {"transfer.lr=1e-3", "transfer.init_std=0.04"});
  CHECK(swept.base.optim->lr == 1e-3);
  CHECK(swept.base.optim->init_std == 0.04);
  CHECK(swept.base.optim->weight_decay == 0.1);
  // The transfer is linear in the base LR and init std: every group's value scales by the override's ratio
  // (the width factor 32/16 is the same in both).
  REQUIRE(plain.transfer.groups.size() == swept.transfer.groups.size());
  for (std::size_t g = 0; g < plain.transfer.groups.size(); ++g) {
    CHECK(swept.transfer.groups[g].lr.value() == Approx(0.25 * plain.transfer.groups[g].lr.value()).epsilon(1e-12));
    CHECK(swept.transfer.groups[g].init_std.value() == Approx(2.0 * plain.transfer.groups[g].init_std.value()).epsilon(1e-12));
  }
  try {
    (void)core::parse_train_run(target, "run.toml", dir, {"transfer.lr=-1"});
    FAIL("no error");
  } catch (const muelab::theory::ConfigError& e) {
    CHECK(std::string(e.what()).find("transfer.lr") != std::string::npos);
  }
}

TEST_CASE("trainer: missing fortunes text is a clean DataError naming data.path", "[models][trainer]") {
  core::DataOptions data;
  data.path = "/nonexistent/fortunes";
  try {
    (void)core::make_token_source(data);
    FAIL("no error");
  } catch (const core::DataError& e) {
    CHECK(std::string(e.what()).find("data.path") == 0);
  }
}

TEST_CASE("schedules: warmup, cosine and WSD against hand values", "[models][schedule]") {
  core::Schedule s;
  s.warmup_steps = 10;
  s.total_steps = 110;
  s.min_factor = 0.1;
  CHECK(s.factor(0) == Approx(0.1));
  CHECK(s.factor(9) == Approx(1.0));
  CHECK(s.factor(60) == Approx(1.0));
  s.kind = core::Schedule::Kind::cosine;
  CHECK(s.factor(60) == Approx(0.55));  // halfway: 0.1 + 0.9·(1 + cos π/2)/2
  CHECK(s.factor(110) == Approx(0.1));
  s.kind = core::Schedule::Kind::wsd;
  s.decay_fraction = 0.2;
  CHECK(s.factor(80) == Approx(1.0));
  CHECK(s.factor(100) == Approx(0.55));  // halfway through the last 20 steps
  CHECK(s.factor(110) == Approx(0.1));
}

TEST_CASE("fortunes preprocessing: symbol map", "[models][data]") {
  const auto codes = core::encode_text("A\tb\n\x01~");
  REQUIRE(codes.size() == 5);
  CHECK(codes[0] == 'A' - 31);
  CHECK(codes[1] == 1);  // tab -> space
  CHECK(codes[3] == 0);  // newline
  CHECK(codes[4] == 95);  // '~' is the last symbol
}
