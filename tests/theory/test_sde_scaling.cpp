// Batch/duration rules and the SDE objects they preserve (docs/theory.md §4; claim `sde-invariants`).
#include "test_helpers.hpp"

#include "muelab/theory/bridge.hpp"
#include "muelab/theory/sde_scaling.hpp"
#include "muelab/theory/transfer.hpp"

#include <catch2/catch.hpp>

#include <iostream>
#include <random>

using namespace muelab::theory;
using muelab::test::dense_config;
using muelab::test::moe_config;
using muelab::test::relative_difference;

TEST_CASE("batch/duration formulas, hand values", "[theory][sde]") {
  const TrainConfig base{256, 1024, 25000};
  CHECK(batch_duration_q(base, {256, 1024, 100000}) == Approx(0.25));   // duration ×4
  CHECK(batch_duration_q(base, {1024, 1024, 6250}) == Approx(4.0));     // batch ×4 at fixed tokens
  CHECK(batch_duration_q(base, {1024, 1024, 25000}) == Approx(1.0));    // batch ×4 at fixed steps
  const auto f = batch_duration_factors(4.0, OptimizerKind::adamw, BatchDurationMode::sqrt);
  CHECK(f.lr == Approx(2.0));
  CHECK(f.weight_decay == Approx(2.0));
  CHECK(f.eps == Approx(0.5));
  CHECK(f.one_minus_beta == Approx(4.0));
  const auto sgd = batch_duration_factors(4.0, OptimizerKind::sgd, BatchDurationMode::sqrt);
  CHECK(sgd.lr == Approx(4.0));
  CHECK(sgd.weight_decay == 1.0);
  const auto quarter = batch_duration_factors(0.25, OptimizerKind::adam, BatchDurationMode::sqrt);
  CHECK(scale_beta(0.9, quarter, "linear", "optim.beta1") == Approx(0.975));
  CHECK(scale_beta(0.9, quarter, "power", "optim.beta1") == Approx(std::pow(0.9, 0.25)));
  const auto s = sde_objects(OptimizerKind::adamw, 0.01, 0.1, 1e-8, 0.1, 0.01, 1000, 1.0, 64);
  CHECK(s.horizon == Approx(0.1));
  CHECK(s.wd_rate == Approx(10.0));
  CHECK(s.c1 == Approx(1000.0));
  CHECK(s.c2 == Approx(100.0));
  CHECK(s.eps0 == Approx(1e-10));
  CHECK(s.ema_fraction == Approx(1.0));
  CHECK(s.sigma0 == Approx(0.01 / 8.0));
  CHECK(routed_expert_tokens_per_step(4096, 8, 128) == Approx(256));
  CHECK(bridge2_expert_sigma0_ratio(8, 64, 4, 64) == Approx(std::sqrt(2.0)));   // a → a/2: σ0 ×√2
  CHECK(bridge2_expert_sigma0_ratio(8, 64, 8, 256) == Approx(2.0));             // N ×4 at fixed a: σ0 ×2
  CHECK(sigma0_ratio(0.5, 262144, 16384, OptimizerKind::adamw) == Approx(2.0));
  CHECK(sigma0_ratio(0.25, 1024, 1024, OptimizerKind::sgd) == Approx(0.5));
}

TEST_CASE("q(1-beta) >= 1 is refused, naming the field", "[theory][sde]") {
  const auto f = batch_duration_factors(20.0, OptimizerKind::adamw, BatchDurationMode::sqrt);
  try {
    (void)scale_beta(0.9, f, "linear", "optim.beta1");
    FAIL("expected a refusal");
  } catch (const RuleRefusal& e) {
    CHECK(e.field() == "optim.beta1");
  }
  CHECK(scale_beta(0.9, f, "power", "optim.beta1") == Approx(std::pow(0.9, 20.0)));
  RunConfig base = dense_config(128, 128);
  RunConfig target = base;
  target.train.steps = 50;  // q = 20
  CHECK_THROWS_AS(transfer(base, target, RuleSource::complete_mue), RuleRefusal);
  CHECK_NOTHROW(transfer(base, target, RuleSource::mup));  // no batch/duration rule under plain μP
}

TEST_CASE("SDE invariants: five objects preserved to 1e-12, sigma0 x rho_D^-1/2, and LR-only scaling breaks c_i and eps0",
          "[theory][sde][sde-invariants]") {
  const std::uint64_t seed = 20261123;
  std::cout << "sde-invariants: seed " << seed << "\n";
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> exponent(-3, 3);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  int checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    RunConfig base = dense_config(128, 128);
    base.train = {64 << (exponent(rng) + 3), 128, 4000 << (exponent(rng) + 3)};
    base.optim->name = trial % 3 == 0 ? OptimizerKind::sgd : OptimizerKind::adamw;
    base.optim->lr = std::pow(10.0, -4.0 + 3.0 * unit(rng));
    base.optim->weight_decay = std::pow(10.0, -3.0 + 3.0 * unit(rng));
    base.optim->eps = std::pow(10.0, -10.0 + 4.0 * unit(rng));
    base.optim->beta1 = 1.0 - std::pow(10.0, -3.0 + 2.0 * unit(rng));
    base.optim->beta2 = 1.0 - std::pow(10.0, -4.0 + 2.0 * unit(rng));
    RunConfig target = base;
    target.train.batch_size = 64 << (exponent(rng) + 3);
    target.train.steps = 4000 << (exponent(rng) + 3);
    target.optim.reset();
    const double q = batch_duration_q(base.train, target.train);
    if (q * (1.0 - base.optim->beta1) >= 1.0 || q * (1.0 - base.optim->beta2) >= 1.0) continue;
    INFO("trial " << trial << " seed " << seed << " q " << q);
    const auto r = transfer(base, target, RuleSource::complete_mue);
    const auto& b = r.sde_before;
    const auto& a = r.sde_after;
    CHECK(relative_difference(a.horizon, b.horizon) < 1e-12);
    CHECK(relative_difference(a.wd_rate, b.wd_rate) < 1e-12);
    CHECK(relative_difference(a.c1, b.c1) < 1e-12);
    CHECK(relative_difference(a.ema_fraction, b.ema_fraction) < 1e-12);
    if (base.optim->name != OptimizerKind::sgd) {
      CHECK(relative_difference(a.c2, b.c2) < 1e-12);
      CHECK(relative_difference(a.eps0, b.eps0) < 1e-12);
    }
    CHECK(relative_difference(a.sigma0, 1.0 / std::sqrt(r.ratios.data)) < 1e-12);
    // Control: LR-only scaling keeps nothing but the horizon.
    if (std::abs(std::log(q)) > 0.5 && base.optim->name != OptimizerKind::sgd) {
      target.rule.batch_duration = "lr-only";
      const auto control = transfer(base, target, RuleSource::complete_mue);
      CHECK(relative_difference(control.sde_after.c1, b.c1) > 0.2);
      CHECK(relative_difference(control.sde_after.eps0, b.eps0) > 0.2);
      CHECK(relative_difference(control.sde_after.horizon, b.horizon) < 1e-12);
      target.rule.batch_duration.reset();
    }
    ++checked;
  }
  std::cout << "sde-invariants: " << checked << " random base/target pairs checked\n";
  CHECK(checked > 100);
}
