// Tests of the transformer experiments' shared run machinery (experiments/transformer/src: common and
// dense_calibration) on tiny runs: a job is resolved once and trained from that value, the per-step
// log comes back in memory with the asked columns, a bad column is an exception (not a crash inside
// the OpenMP loop), and the one proxy LR calibration is declared per profile with >= 5 seeds in full.
#include "common.hpp"
#include "dense_calibration.hpp"
#include "edge_sweep.hpp"
#include "expert_noise.hpp"
#include "run_journal.hpp"

#include "muelab/theory/groups.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <unistd.h>

using namespace muelab;
using namespace muelab::experiments;
using namespace muelab::experiments::transformer;

namespace {

Job tiny_job(std::uint64_t seed) {
  Job j;
  j.shape = dense_proxy(16, 1);
  j.base_shape = dense_proxy(16, 1);
  j.budget.batch_size = 2;
  j.budget.seq_len = 8;
  j.budget.steps = 3;
  j.budget.warmup = 0;
  j.budget.eval_batches = 1;
  j.seed = seed;
  return j;
}

/// A sweep's job: curve 0 at d = 16, curve 1 at d = 32, the swept value as log2 of the base LR.
Job two_width_job(std::size_t curve, double log2_lr, int seed) {
  auto j = tiny_job(static_cast<std::uint64_t>(seed) + 1);
  j.base.lr = std::exp2(log2_lr);
  j.shape = dense_proxy(curve == 0 ? 16 : 32, 1);
  return j;
}

std::filesystem::path scratch(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("muelab-test-" + name + "-" + std::to_string(::getpid()));
}

}  // namespace

TEST_CASE("train_resolved trains resolved runs and keeps the per-step log in memory", "[transformer_runs]") {
  const std::vector<models::cpu::TrainRun> runs = {resolve(tiny_job(1)), resolve(tiny_job(2))};
  const auto dir = scratch("train-resolved");
  const auto results = train_resolved(runs, dir, 1, {"act_rms_l0"});
  REQUIRE(results.size() == 2);
  for (const auto& r : results) {
    CHECK(r.summary.status == "ok");
    CHECK(std::isfinite(r.loss));
    REQUIRE(r.train_loss.size() == 3);  // one row per step
    REQUIRE(r.log.size() == 3);
    for (const auto& row : r.log) CHECK(std::isfinite(row.at("act_rms_l0")));
  }
  CHECK(results[0].train_loss != results[1].train_loss);  // different seeds
  CHECK_FALSE(std::filesystem::exists(dir));              // scratch removed
  // run_jobs is resolve + train_resolved: the same job gives the same numbers.
  const auto again = run_jobs({tiny_job(1)}, scratch("run-jobs"), 1);
  CHECK(again.front().train_loss == results.front().train_loss);
  CHECK(again.front().loss == results.front().loss);
  CHECK(train_resolved({}, scratch("empty"), 1).empty());
}

TEST_CASE("train_resolved: a batch is trained longest first, each result at its own index", "[transformer_runs]") {
  // Cheapest first on input: the longest-first order reverses it. Every result must still be the
  // one of its own run, trained alone.
  std::vector<models::cpu::TrainRun> runs;
  for (const std::size_t curve : {0, 1, 0, 1})
    runs.push_back(resolve(two_width_job(curve, -8.0, static_cast<int>(runs.size()))));
  REQUIRE(estimated_run_cost(runs[1], 32) > estimated_run_cost(runs[0], 32));
  const auto together = train_resolved(runs, scratch("longest-first"), 2);
  for (std::size_t k = 0; k < runs.size(); ++k) {
    const auto alone = train_resolved({runs[k]}, scratch("alone"), 1);
    CHECK(together[k].loss == alone.front().loss);
    CHECK(together[k].train_loss == alone.front().train_loss);
  }
}

TEST_CASE("estimated_run_cost orders the capacity task's shapes as their measured times do", "[transformer_runs]") {
  // Measured on the 2-core machine (docs/claims.md, compute plan): a d = 64 run ≈ 2.5× and a d = 128
  // run ≈ 7× a d = 32 run; granularity m = 16 (64 experts of width 2, 16 active) ≈ 5× m = 1. The model
  // gives 2.7×, 8.1× and 5.2×: it only has to order runs.
  const auto cost = [](const Shape& shape, std::int64_t steps) {
    Job j;
    j.shape = shape;
    j.base_shape = dense_proxy(32, 2);
    j.budget = capacity_bound_budget(Profile::full);
    j.budget.steps = steps;
    return estimated_run_cost(resolve(j), 32);
  };
  const auto moe = [](std::int64_t d, std::int64_t m) {
    Shape s = dense_proxy(d, 2);
    s.ffn = "moe";
    s.n_experts = 4 * m;
    s.n_active = m;
    s.d_expert = d / m;
    return s;
  };
  // By hand, per token, d = 32, L = 2, T = 64, V = 32, N = 4, a = 1, h = 32: each block has 4·32² = 4096
  // (q, k, v, out) + 2·64·32 = 4096 (scores, mixing) + 2·32·32 = 2048 (the expert) + 4·32 = 128 (router)
  // + 150·1·32 = 4800 (one dispatch copy) + 50·32 = 1600 (elementwise) = 16 768; two blocks and the head
  // 2·32·32 = 2048 give 35 584, times 16·64·1500 tokens. Dense, H = d: 4096 + 4096 + 2048 + 1600 = 11 840
  // per block, 25 728 per token.
  const double tokens = 16.0 * 64.0 * 1500.0;
  const double base = cost(moe(32, 1), 1500);
  CHECK(base == Approx(35584.0 * tokens));
  CHECK(cost(dense_proxy(32, 2), 1500) == Approx(25728.0 * tokens));
  CHECK(cost(moe(64, 1), 1500) / base == Approx(2.7).epsilon(0.1));
  CHECK(cost(moe(128, 1), 1500) / base == Approx(8.0).epsilon(0.1));
  CHECK(cost(moe(32, 16), 1500) / base == Approx(5.0).epsilon(0.1));
  CHECK(cost(moe(32, 4), 1500) > base);
  CHECK(cost(moe(32, 16), 1500) > cost(moe(32, 4), 1500));
  CHECK(cost(moe(32, 1), 3000) == Approx(2.0 * base));  // proportional to the steps
  Shape deep = moe(32, 1);
  deep.n_layers = 4;
  CHECK(cost(deep, 1500) > 1.8 * base);
}

TEST_CASE("run_fingerprint: runs that differ only in a [trainer] switch are different runs", "[transformer_runs]") {
  // Regression: the fingerprint once held only the transfer, shape, seed, LR, WD and steps, so a
  // trainer.norm_gains_trainable=true curve was deduplicated against the plain rule's runs.
  Job plain = tiny_job(1);
  plain.shape.ffn = "moe";
  Job gains = plain;
  gains.rule_switches = {"trainer.norm_gains_trainable=true"};
  CHECK(run_fingerprint(plain) != run_fingerprint(gains));
  Job balanced = plain;
  balanced.rule_switches = {"trainer.aux_loss_coef=0.01"};
  CHECK(run_fingerprint(plain) != run_fingerprint(balanced));
  // What must still coincide: the same job twice, and a power check at its reference point (factor 1).
  CHECK(run_fingerprint(plain) == run_fingerprint(plain));
  Job power = plain;
  power.moe_block_lr_factor = 1.0;
  CHECK(run_fingerprint(plain) == run_fingerprint(power));
  power.moe_block_lr_factor = 2.0;
  CHECK(run_fingerprint(plain) != run_fingerprint(power));
  Job wd_power = plain;  // the weight-decay power check: only the block's λ changes, by hand
  wd_power.base.weight_decay = 0.1;
  Job wd_plain = wd_power;
  wd_power.moe_block_wd_factor = 4.0;
  CHECK(run_fingerprint(wd_plain) != run_fingerprint(wd_power));
  const auto plain_run = resolve(wd_plain), power_run = resolve(wd_power);
  REQUIRE(plain_run.transfer.groups.size() == power_run.transfer.groups.size());
  std::size_t block_groups = 0;
  for (std::size_t g = 0; g < plain_run.transfer.groups.size(); ++g) {
    const auto& p = plain_run.transfer.groups[g];
    const auto& w = power_run.transfer.groups[g];
    const bool block =
        theory::group_name(p.group).rfind("expert.", 0) == 0 || p.group == theory::ParameterGroup::router;
    block_groups += block ? 1 : 0;
    CHECK(w.lr.value() == p.lr.value());
    if (block)
      CHECK(w.weight_decay.value() == Approx(4.0 * p.weight_decay.value()));
    else if (theory::group_name(p.group).rfind("attn", 0) == 0 || theory::group_name(p.group).rfind("embed", 0) == 0)
      CHECK(w.weight_decay.value() == p.weight_decay.value());
  }
  CHECK(block_groups >= 3);
}

TEST_CASE("ablations remove one ingredient of the resolved rule, by hand", "[transformer_runs]") {
  using theory::ParameterGroup;
  Job moe = tiny_job(1);
  moe.base_shape = dense_proxy(32, 2);  // d_head 8, H = d
  moe.shape = Shape{};                  // d = 32, N = 4, a = 1, h = d
  moe.shape.n_experts = 8;
  moe.shape.n_active = 4;               // H_act = 4d: A = d/H_act = 1/4, R = a = 4
  const auto plain = resolve(moe);
  REQUIRE(plain.transfer.moe);
  CHECK(plain.transfer.moe->output_multiplier == Approx(0.25));
  CHECK(plain.transfer.moe->route_scale_routed == Approx(4.0));
  CHECK(plain.transfer.find(ParameterGroup::expert_down)->multiplier.value() == Approx(0.25));

  Job no_a = moe;
  no_a.ablations = {"no-output-multiplier"};
  const auto a_removed = resolve(no_a);
  CHECK(a_removed.transfer.moe->output_multiplier == 1.0);
  CHECK(a_removed.transfer.find(ParameterGroup::expert_down)->multiplier.value() == Approx(1.0));
  CHECK(a_removed.transfer.moe->route_scale_routed == Approx(4.0));  // R untouched
  CHECK(a_removed.transfer.moe->gate_normalization == "active-set");

  Job sum = moe;
  sum.ablations = {"plain-sum"};
  const auto plain_sum = resolve(sum);
  CHECK(plain_sum.transfer.find(ParameterGroup::expert_down)->multiplier.value() == Approx(1.0));
  CHECK(plain_sum.transfer.moe->route_scale_routed == 1.0);
  CHECK(plain_sum.transfer.moe->gate_normalization == "none");
  CHECK(run_fingerprint(sum) != run_fingerprint(no_a));

  // Router LR without its 1/rho_d: at d = 64 (rho_d = 2) the router's LR doubles, nothing else moves.
  Job wide = moe;
  wide.shape.d_model = 64;
  wide.shape.d_expert = 64;
  Job wide_router = wide;
  wide_router.ablations = {"router-lr-width"};
  const auto w = resolve(wide), wr = resolve(wide_router);
  CHECK(wr.transfer.find(ParameterGroup::router)->lr.value() == Approx(2.0 * w.transfer.find(ParameterGroup::router)->lr.value()));
  CHECK(wr.transfer.find(ParameterGroup::expert_up)->lr.value() == w.transfer.find(ParameterGroup::expert_up)->lr.value());

  // Attention 1/sqrt(d_head) relative to the base: d_head 8 -> 32 gives 1/sqrt(8*32) = 1/16 instead of 1/32.
  Job heads = moe;
  heads.shape.d_model = 128;
  heads.shape.d_head = 32;
  heads.shape.d_expert = 128;
  Job heads_sqrt = heads;
  heads_sqrt.ablations = {"attention-sqrt-dhead"};
  CHECK(resolve(heads).transfer.architecture.attention_logit_scale == Approx(1.0 / 32));
  CHECK(resolve(heads_sqrt).transfer.architecture.attention_logit_scale == Approx(1.0 / 16));
  // ... and it is the identity at the base head width, so those runs are shared with the rule's own.
  Job base_heads = moe;
  base_heads.ablations = {"attention-sqrt-dhead", "router-lr-width"};
  CHECK(run_fingerprint(base_heads) == run_fingerprint(moe));

  // Bad names and an MoE ablation on a dense target are one-line errors naming the ablation.
  Job bad = moe;
  bad.ablations = {"no-router"};
  CHECK_THROWS_WITH(resolve(bad), Catch::Contains("no-router") && Catch::Contains("accepted: no-output-multiplier"));
  Job dense = tiny_job(1);
  dense.ablations = {"plain-sum"};
  CHECK_THROWS_WITH(resolve(dense), Catch::Contains("needs an MoE target"));
  dense.ablations = {"router-lr-width"};  // no router on a dense model: an error, not a silent no-op
  CHECK_THROWS_WITH(resolve(dense), Catch::Contains("needs an MoE target"));
  Job sp = heads_sqrt;
  sp.rule = "sp";
  CHECK_THROWS_WITH(resolve(sp), Catch::Contains("1/d_head"));
}

TEST_CASE("train_resolved: a log column that does not exist is an exception after the loop", "[transformer_runs]") {
  const std::vector<models::cpu::TrainRun> runs = {resolve(tiny_job(1)), resolve(tiny_job(2))};
  const auto dir = scratch("bad-column");
  CHECK_THROWS(train_resolved(runs, dir, 2, {"no_such_column"}));
  CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("the proxy LR calibration on the capacity-bound task is declared per profile", "[transformer_runs]") {
  for (const auto profile : {Profile::smoke, Profile::quick, Profile::full}) {
    const auto s = capacity_calibration_settings(profile);
    CHECK(s.lrs.size() >= 3);
    CHECK(std::is_sorted(s.lrs.begin(), s.lrs.end()));
    CHECK(s.start.weight_decay == kCapacityTaskWeightDecay);  // the task's λ: ηλT inside 0.3-10
    CHECK(to_json(s).at("seeds") == s.seeds);
  }
  const auto full = capacity_calibration_settings(Profile::full);
  CHECK(full.seeds >= 5);       // full: >= 5 paired seeds on every LR sweep
  CHECK(full.lrs.size() >= 7);  // >= 7 LRs at half-octave steps
  CHECK(std::abs(std::log2(full.lrs[1] / full.lrs[0]) - 0.5) < 1e-12);
  CHECK(capacity_bound_budget(Profile::full).steps >= 1500);
  CHECK(capacity_bound_budget(Profile::full).data_source == "markov-k");
}

TEST_CASE("capacity gate: gate.json decides whether MoE-axis rows are verdicts", "[transformer_runs]") {
  const auto dir = std::filesystem::temp_directory_path() / ("muelab_gate_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "capacity-gate");
  const auto out = dir / "lr-transfer-capacity";
  CHECK(capacity_gate_file(out) == dir / "capacity-gate" / "gate.json");
  const auto rows = [] {
    std::vector<Verdict> v(2);
    v[0].outcome = Outcome::holds;
    v[1].kind = VerdictKind::control;
    v[1].outcome = Outcome::fails;
    return v;
  };
  // No gate.json yet: not capacity-bound, the reason names the file, every row becomes inconclusive.
  auto missing = read_capacity_gate(capacity_gate_file(out));
  CHECK_FALSE(missing.capacity_bound);
  CHECK(missing.reason.find("gate.json") != std::string::npos);
  auto r = rows();
  CHECK(mark_task_not_capacity_bound(r, missing) == 2);
  CHECK(r[0].inconclusive());
  CHECK(r[1].inconclusive());
  CHECK(r[0].reason.rfind("task not capacity-bound: ", 0) == 0);
  const auto write = [&](const std::string& text) {
    std::ofstream f(capacity_gate_file(out));
    f << text;
  };
  write(R"({"capacity_bound": false, "reasons": ["expert capacity is fails"]})");
  const auto failed = read_capacity_gate(capacity_gate_file(out));
  CHECK_FALSE(failed.capacity_bound);
  CHECK(failed.reason == "expert capacity is fails");
  write(R"({"capacity_bound": true, "reasons": []})");
  const auto passed = read_capacity_gate(capacity_gate_file(out));
  CHECK(passed.capacity_bound);
  r = rows();
  CHECK(mark_task_not_capacity_bound(r, passed) == 0);
  CHECK(r[0].holds());
  CHECK(r[1].fails());
  write("{ not json");
  const auto broken = read_capacity_gate(capacity_gate_file(out));
  CHECK_FALSE(broken.capacity_bound);
  CHECK(broken.reason.find("unreadable") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("RunJournal: finished runs come back under the same clean revision only", "[transformer_runs]") {
  const auto dir = scratch("journal");
  const auto file = dir / "resume.tsv";
  std::filesystem::remove_all(dir);
  {
    RunJournal j(file, "abc1234");
    CHECK(j.loaded() == 0);
    j.record("run-a", 1.25);
    j.record("run-b", std::numeric_limits<double>::infinity());  // a diverged run is a result too
    j.record("run-c", 0.1 + 0.2);
  }
  {
    RunJournal j(file, "abc1234");
    CHECK(j.loaded() == 3);
    CHECK(j.find("run-a") == 1.25);
    CHECK(std::isinf(*j.find("run-b")));
    CHECK(*j.find("run-c") == 0.1 + 0.2);  // 17 digits: the same double back
    CHECK_FALSE(j.find("run-d").has_value());
    CHECK_THROWS_AS(j.record("bad\tkey", 1.0), std::invalid_argument);
  }
  {  // a kill mid-write leaves a cut last line: that run is trained again, the others are kept
    std::ofstream cut(file, std::ios::app);
    cut << "abc1234\trun-d\t0.12";  // no newline, as a killed process leaves it
    cut.close();
    std::ofstream garbage(file, std::ios::app);
    garbage << "x\n";
  }
  {
    RunJournal j(file, "abc1234");
    CHECK(j.loaded() == 3);
    CHECK_FALSE(j.find("run-d").has_value());
  }
  {  // other code: nothing reused, and the file no longer holds the old lines
    RunJournal j(file, "fff0000");
    CHECK(j.loaded() == 0);
    CHECK_FALSE(j.find("run-a").has_value());
  }
  {
    RunJournal again(file, "abc1234");
    CHECK(again.loaded() == 0);
  }
  {  // a dirty tree never reuses (its code is not what the revision names): the journal is inert
    RunJournal w(file, "abc1234-dirty");
    w.record("run-a", 2.0);
  }
  {
    RunJournal j(file, "abc1234-dirty");
    CHECK_FALSE(j.find("run-a").has_value());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("sweep_curves_until_interior resumes an interrupted sweep with the same numbers", "[transformer_runs]") {
  const auto dir = scratch("resume-sweep");
  std::filesystem::remove_all(dir);
  const auto work = dir / "scratch";
  const auto job_at = two_width_job;
  const std::vector<std::vector<double>> grids = {{-9.0, -8.5, -8.0}, {-9.0, -8.5, -8.0}};
  const EdgePolicy policy;
  const std::string revision = "abc1234";
  const auto first = sweep_curves_until_interior(grids, 2, job_at, policy, work, 1, "first", revision);
  CHECK(first.resumed == 0);
  REQUIRE(first.trained > 0);
  const auto journal = journal_path(work);
  REQUIRE(std::filesystem::exists(journal));

  // The same sweep again: every run comes from the journal, every number is the same.
  const auto again = sweep_curves_until_interior(grids, 2, job_at, policy, work, 1, "again", revision);
  CHECK(again.resumed == first.trained);
  CHECK(again.trained == first.trained);
  REQUIRE(again.runs.size() == first.runs.size());
  for (std::size_t c = 0; c < first.runs.size(); ++c) {
    REQUIRE(again.runs[c].size() == first.runs[c].size());
    for (std::size_t k = 0; k < first.runs[c].size(); ++k) CHECK(again.runs[c][k].loss == first.runs[c][k].loss);
    CHECK(again.curves[c].log2_x == first.curves[c].log2_x);
  }

  // Interrupted after 3 runs: only the rest is trained, and the result is that of the whole sweep.
  std::vector<std::string> lines;
  {
    std::ifstream in(journal);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  REQUIRE(lines.size() == first.trained);
  {
    std::ofstream out(journal, std::ios::trunc);
    for (std::size_t k = 0; k < 3; ++k) out << lines[k] << "\n";
  }
  const auto resumed = sweep_curves_until_interior(grids, 2, job_at, policy, work, 1, "resumed", revision);
  CHECK(resumed.resumed == 3);
  CHECK(resumed.trained == first.trained);
  for (std::size_t c = 0; c < first.runs.size(); ++c)
    for (std::size_t k = 0; k < first.runs[c].size(); ++k) CHECK(resumed.runs[c][k].loss == first.runs[c][k].loss);

  // Other code: nothing is reused.
  const auto other = sweep_curves_until_interior(grids, 2, job_at, policy, work, 1, "other", "fff0000");
  CHECK(other.resumed == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the run cache gives a second experiment the runs a first one trained, with the same numbers",
          "[transformer_runs]") {
  // docs/development.md §4, "Runs shared between experiments": two sweeps with their own scratch folders
  // (two experiments) and one cache file; the second trains only what the first did not.
  const auto dir = scratch("run-cache");
  std::filesystem::remove_all(dir);
  const auto cache = dir / "run-cache.tsv";
  const auto job_at = two_width_job;
  const EdgePolicy policy;
  const std::string revision = "abc1234";
  const std::vector<std::vector<double>> first_grids = {{-9.0, -8.5, -8.0}};
  const auto first = sweep_curves_until_interior(first_grids, 2, job_at, policy, dir / "first" / "scratch", 1, "first",
                                                 revision, nullptr, cache);
  CHECK(first.cached == 0);
  REQUIRE(first.trained > 0);
  REQUIRE(std::filesystem::exists(cache));
  {  // every line is keyed by the revision and the kernel tag
    std::ifstream in(cache);
    std::size_t lines = 0;
    for (std::string line; std::getline(in, line); ++lines)
      CHECK(line.rfind(revision + " " + kernel_tag() + "\t", 0) == 0);
    CHECK(lines == first.trained);
  }
  // A second experiment sweeps the first one's curve (read back) and one of its own (trained).
  const std::vector<std::vector<double>> second_grids = {{-9.0, -8.5, -8.0}, {-9.0, -8.5, -8.0}};
  const auto second = sweep_curves_until_interior(second_grids, 2, job_at, policy, dir / "second" / "scratch", 1,
                                                  "second", revision, nullptr, cache);
  CHECK(second.resumed == 0);
  CHECK(second.cached == first.trained);
  CHECK(second.trained > second.cached);  // the second curve was trained
  REQUIRE(second.runs[0].size() == first.runs[0].size());
  for (std::size_t k = 0; k < first.runs[0].size(); ++k) {
    CHECK(second.runs[0][k].log2_x == first.runs[0][k].log2_x);
    CHECK(second.runs[0][k].loss == first.runs[0][k].loss);
  }
  // Without the cache the second curve's numbers are the same: the cache changes where a number comes
  // from, never the number.
  const auto alone =
      sweep_curves_until_interior(second_grids, 2, job_at, policy, dir / "alone" / "scratch", 1, "alone", revision);
  CHECK(alone.cached == 0);
  for (std::size_t c = 0; c < alone.runs.size(); ++c) {
    REQUIRE(alone.runs[c].size() == second.runs[c].size());
    for (std::size_t k = 0; k < alone.runs[c].size(); ++k) CHECK(alone.runs[c][k].loss == second.runs[c][k].loss);
  }
  // Other code (another revision) or a dirty tree: nothing is read back.
  const auto other = sweep_curves_until_interior(first_grids, 2, job_at, policy, dir / "other" / "scratch", 1, "other",
                                                 "fff0000", nullptr, cache);
  CHECK(other.cached == 0);
  const auto dirty = sweep_curves_until_interior(first_grids, 2, job_at, policy, dir / "dirty" / "scratch", 1, "dirty",
                                                 "fff0000-dirty", nullptr, cache);
  CHECK(dirty.cached == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("run_fingerprint names the data, batch, evaluation and dtype a run reads", "[transformer_runs]") {
  // The run cache shares runs between experiments, whose budgets differ: every input the trainer reads
  // must separate two runs (a shared fingerprint would hand one experiment another's loss).
  auto capacity = tiny_job(1);
  capacity.budget.data_source = "markov-k";
  const auto key = run_fingerprint(capacity);
  CHECK(run_fingerprint(capacity) == key);
  const auto differs = [&](const std::function<void(Job&)>& change) {
    auto j = capacity;
    change(j);
    return run_fingerprint(j) != key;
  };
  CHECK(differs([](Job& j) { j.budget.data_source = "markov"; }));
  CHECK(differs([](Job& j) { j.budget.markov_temperature = 0.3; }));
  CHECK(differs([](Job& j) { j.budget.markov_seed = 8; }));
  CHECK(differs([](Job& j) { j.budget.markov_order = 1; }));
  CHECK(differs([](Job& j) { j.budget.markov_states = 16; }));
  CHECK(differs([](Job& j) { j.budget.batch_size = 4; }));
  CHECK(differs([](Job& j) { j.budget.seq_len = 16; }));
  CHECK(differs([](Job& j) { j.budget.eval_batches = 2; }));
  CHECK(differs([](Job& j) { j.budget.eval_interval = 1; }));
  CHECK(differs([](Job& j) { j.budget.schedule = "cosine"; }));
  CHECK(differs([](Job& j) { j.budget.warmup = 1; }));
  CHECK(differs([](Job& j) { j.seed = 2; }));
  CHECK(differs([](Job& j) { j.budget.steps = 4; }));
}

TEST_CASE("run_fingerprint: the batch/duration switches matter only where q != 1", "[transformer_runs]") {
  auto sqrt_rule = tiny_job(1);
  sqrt_rule.rule = "complete-mue";
  sqrt_rule.rule_switches = {"rule.batch_duration=sqrt"};
  auto none_rule = sqrt_rule;
  none_rule.rule_switches = {"rule.batch_duration=none"};
  CHECK(run_fingerprint(sqrt_rule) == run_fingerprint(none_rule));  // same budget: q = 1, nothing scaled
  // The proxy trains half as long (q = T0/T = 1/2): sqrt scales η, λ, ε, β; none does not.
  auto base = sqrt_rule.budget;
  base.steps = 2;
  sqrt_rule.budget.steps = 4;
  none_rule.budget.steps = 4;
  sqrt_rule.base_budget = base;
  none_rule.base_budget = base;
  CHECK(run_fingerprint(sqrt_rule) != run_fingerprint(none_rule));
  const auto run = resolve(sqrt_rule);
  CHECK(run.transfer.ratios.q == Approx(0.5));
  for (const auto& g : run.transfer.groups)
    if (g.group == theory::ParameterGroup::embedding) CHECK(g.lr.value() == Approx(sqrt_rule.base.lr * std::sqrt(0.5)));
  CHECK(resolve(none_rule).transfer.ratios.q == Approx(0.5));
}

TEST_CASE("run_fingerprint: rule sources that resolve to the same numbers train the same run", "[transformer_runs]") {
  // Granularity m = 4 at the proxy's width (d = 16): mup-moe's router differs from mup's only through the
  // width ratio (1 here), so the two resolve to the same numbers; complete-mue (R = a, Bridge I down
  // init) and jiang (raw sigmoid gates, R = 1/a) do not.
  auto job_for_rule = [](const std::string& rule) {
    Job j = tiny_job(1);
    j.shape.ffn = "moe";
    j.shape.n_experts = 16;
    j.shape.n_active = 4;
    j.shape.d_expert = 4;
    j.rule = rule;
    return j;
  };
  const auto mup = job_for_rule("mup"), mup_moe = job_for_rule("mup-moe");
  REQUIRE(resolve(mup).transfer.switches != resolve(mup_moe).transfer.switches);  // the names differ ...
  CHECK(run_fingerprint(mup) == run_fingerprint(mup_moe));                        // ... the run does not
  CHECK(run_fingerprint(mup) != run_fingerprint(job_for_rule("complete-mue")));
  CHECK(run_fingerprint(mup) != run_fingerprint(job_for_rule("jiang")));
  // Off the proxy's width mup-moe's router init and LR scale as an output weight: different runs.
  auto wide_mup = mup, wide_mup_moe = mup_moe;
  wide_mup.shape.d_model = wide_mup_moe.shape.d_model = 32;
  CHECK(run_fingerprint(wide_mup) != run_fingerprint(wide_mup_moe));
}

TEST_CASE("whole_gradient_noise_std: unbiased variance over minibatches, by hand", "[transformer_runs]") {
  // One tensor of two entries over 4 draws: entry 0 sees 1, 2, 3, 6 (variance (50 - 12²/4)/3 = 14/3),
  // entry 1 sees 2 four times (variance 0): σ_g = √((14/3 + 0)/2) = √(7/3).
  GradientMoments m;
  m.draws = 4;
  m.params = {0};
  m.sum = {{12.0, 8.0}};
  m.sum_sq = {{50.0, 16.0}};
  CHECK(whole_gradient_noise_std(m) == Approx(std::sqrt(7.0 / 3.0)));
}
