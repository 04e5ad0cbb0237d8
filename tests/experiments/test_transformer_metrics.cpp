// Tests of the tune-once measurements (experiments/transformer: transformer_metrics.hpp) against hand
// calculations: curvature of a parabola, regret of transferred HPs against a sweep, slope against
// log2 of an axis, steps to reach a target loss and the MoE speed-up. The one noisy test uses a fixed,
// printed seed and a tolerance of four standard errors.
#include "muelab/experiments/transformer_metrics.hpp"
#include "muelab/sim/counter_rng.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <iostream>
#include <limits>

using namespace muelab;
using namespace muelab::experiments::transformer;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
const std::vector<double> kLog2Lr = {-10.0, -9.0, -8.0, -7.0, -6.0};
/// loss = 2 + 0.4 (x + 8.25)^2 + offset: curvature 0.4, optimum -8.25, best loss 2 + offset.
double parabola(double x, double offset) { return 2.0 + 0.4 * (x + 8.25) * (x + 8.25) + offset; }
}  // namespace

TEST_CASE("curve_curvature is the leading coefficient of the parabola through the minimum", "[transformer_metrics]") {
  const std::vector<double> x = {-10.0, -9.5, -8.0, -7.0};  // uneven spacing
  std::vector<double> y;
  for (const double v : x) y.push_back(1.0 + 0.7 * (v + 8.3) * (v + 8.3));
  CHECK(curve_curvature(x, y) == Approx(0.7).epsilon(1e-12));
  // Minimum at an end: no curvature.
  CHECK(std::isnan(curve_curvature(std::vector<double>{0, 1, 2}, std::vector<double>{1, 2, 3})));
  // A diverged neighbour: no curvature.
  CHECK(std::isnan(curve_curvature(std::vector<double>{0, 1, 2}, std::vector<double>{2, 1, kInf})));
  CHECK_THROWS(curve_curvature(std::vector<double>{0, 1}, std::vector<double>{1}));
}

TEST_CASE("transfer_regret of exact parabolas with seed offsets: hand value and a degenerate CI", "[transformer_metrics]") {
  // Seed offsets are shared by the transferred run and the sweep (paired): they cancel exactly.
  const std::vector<double> offsets = {0.00, 0.03, -0.02};
  std::vector<std::vector<double>> sweep;
  std::vector<double> transferred;
  for (const double o : offsets) {
    std::vector<double> row;
    for (const double x : kLog2Lr) row.push_back(parabola(x, o));
    sweep.push_back(row);
    transferred.push_back(parabola(-8.25 + 0.5, o));  // half an octave off: regret 0.4 * 0.25 = 0.1
  }
  const auto r = transfer_regret(transferred, kLog2Lr, sweep, 11);
  CHECK(r.regret == Approx(0.1).epsilon(1e-10));
  CHECK(r.best_loss == Approx(2.0 + 0.01 / 3.0).epsilon(1e-10));
  CHECK(r.curvature == Approx(0.4).epsilon(1e-10));
  CHECK(r.ci.low == Approx(0.1).epsilon(1e-10));
  CHECK(r.ci.high == Approx(0.1).epsilon(1e-10));
  // A diverged transferred run makes the regret infinite.
  transferred[1] = kInf;
  CHECK(transfer_regret(transferred, kLog2Lr, sweep, 11).regret == kInf);
  // Seeds must match.
  CHECK_THROWS(transfer_regret(std::vector<double>{1.0}, kLog2Lr, sweep, 11));
}

TEST_CASE("transfer_regret under seeded noise stays within four standard errors of the truth", "[transformer_metrics]") {
  constexpr std::uint64_t seed = 424242;
  std::cout << "transfer_regret noise test seed " << seed << "\n";
  const sim::CounterRng rng(seed, 0);
  const std::size_t n = 64;
  const double sigma = 0.01;
  std::vector<std::vector<double>> sweep(n);
  std::vector<double> transferred(n);
  for (std::size_t s = 0; s < n; ++s) {
    for (std::size_t k = 0; k < kLog2Lr.size(); ++k) sweep[s].push_back(parabola(kLog2Lr[k], 0.0) + sigma * rng.normal(s, k, 0, 0));
    transferred[s] = parabola(-8.25 + 0.5, 0.0) + sigma * rng.normal(s, 99, 0, 0);
  }
  const auto r = transfer_regret(transferred, kLog2Lr, sweep, 5);
  // The fitted minimum is a combination of three seed means with Lagrange weights of size ≤ 1.5 here,
  // so the regret's standard error is below sqrt(1 + 3·1.5²)·σ/√n.
  const double standard_error = std::sqrt(1.0 + 3.0 * 2.25) * sigma / std::sqrt(static_cast<double>(n));
  CHECK(std::abs(r.regret - 0.1) <= 4.0 * standard_error);
  CHECK(r.ci.low <= r.regret);
  CHECK(r.regret <= r.ci.high);
}

TEST_CASE("slope_against_log2_axis: exact line per seed gives the slope and a degenerate CI", "[transformer_metrics]") {
  const std::vector<double> axis = {1.0, 2.0, 4.0, 8.0};
  std::vector<std::vector<double>> values;
  for (const double offset : {0.0, 0.1, -0.05}) {
    std::vector<double> row;
    for (const double a : axis) row.push_back(3.0 - 0.2 * std::log2(a) + offset);
    values.push_back(row);
  }
  const auto s = slope_against_log2_axis(axis, values, 3);
  CHECK(s.slope == Approx(-0.2).epsilon(1e-12));
  CHECK(s.ci.low == Approx(-0.2).epsilon(1e-10));
  CHECK(s.ci.high == Approx(-0.2).epsilon(1e-10));
  CHECK_THROWS(slope_against_log2_axis(std::vector<double>{0.0, 1.0}, {{1.0, 2.0}}, 3));
}

TEST_CASE("steps_to_reach interpolates between the bracketing evaluations", "[transformer_metrics]") {
  const std::vector<double> steps = {10, 20, 30, 40};
  // 2.5 at step 20, 1.5 at step 30: reaches 2 half-way, at step 25.
  CHECK(steps_to_reach(steps, std::vector<double>{3.0, 2.5, 1.5, 1.0}, 2.0) == Approx(25.0));
  // Already there at the first evaluation.
  CHECK(steps_to_reach(steps, std::vector<double>{1.0, 0.9, 0.8, 0.7}, 2.0) == 10.0);
  // Never reaches.
  CHECK(steps_to_reach(steps, std::vector<double>{3.0, 2.9, 2.8, 2.7}, 2.0) == kInf);
  // A missing (NaN) evaluation is skipped: bracket is (10, 3.0) and (30, 1.0): 2.0 at step 20.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(steps_to_reach(steps, std::vector<double>{3.0, nan, 1.0, 0.5}, 2.0) == Approx(20.0));
}

TEST_CASE("moe_speedup: an MoE that gets to the dense final loss in half the steps is a 2x speed-up",
          "[transformer_metrics]") {
  std::vector<double> steps;
  for (int t = 10; t <= 100; t += 10) steps.push_back(t);
  std::vector<std::vector<double>> dense, moe, never;
  for (const double offset : {0.0, 0.02, -0.01}) {
    std::vector<double> d, m, slow;
    for (const double t : steps) {
      d.push_back(4.0 - 2.0 * (t - 10.0) / 90.0 + offset);          // 2 + offset at step 100
      m.push_back(4.0 - 2.0 * (t - 10.0) / 40.0 + offset);          // 2 + offset at step 50
      slow.push_back(4.0 - 1.0 * (t - 10.0) / 90.0 + offset);       // 3 + offset at step 100
    }
    dense.push_back(d);
    moe.push_back(m);
    never.push_back(slow);
  }
  const auto s = moe_speedup(steps, dense, moe, 9);
  CHECK(s.reached);
  CHECK(s.target_loss == Approx(2.0 + 0.01 / 3.0));
  CHECK(s.dense_steps == Approx(100.0));
  CHECK(s.moe_steps == Approx(50.0));
  CHECK(s.factor == Approx(2.0));
  CHECK(s.ci.low == Approx(2.0));
  CHECK(s.ci.high == Approx(2.0));
  CHECK(s.unreached_resamples == 0);
  CHECK(s.resamples == 2000);
  const auto n = moe_speedup(steps, dense, never, 9);
  CHECK_FALSE(n.reached);
  CHECK(n.factor == 0.0);
  CHECK(n.unreached_resamples == n.resamples);
  // Seeds 0 and 1 end 0.10 and 0.12 below their dense finals, seed 2 0.31 above: a resample's mean MoE
  // curve misses its target exactly when seed 2 is drawn, with probability 1 - (2/3)^3 = 0.704, so about
  // 1408 of 2000 resamples (binomial SE 20; seed 9 fixed) count as speed-up 0.
  std::vector<std::vector<double>> mixed;
  for (const double final_loss : {1.9, 1.9, 2.3}) {
    std::vector<double> m;
    for (const double t : steps) m.push_back(4.0 - (4.0 - final_loss) * (t - 10.0) / 90.0);
    mixed.push_back(m);
  }
  const auto x = moe_speedup(steps, dense, mixed, 9);
  INFO("unreached resamples " << x.unreached_resamples << " of " << x.resamples << " (bootstrap seed 9)");
  CHECK_FALSE(x.reached);  // all three seeds: mean final 2.033 above the target 2.003
  CHECK(x.unreached_resamples > 1408 - 100);
  CHECK(x.unreached_resamples < 1408 + 100);
  CHECK(x.ci.low == 0.0);
  CHECK_THROWS(moe_speedup(steps, dense, std::vector<std::vector<double>>{moe.front()}, 9));
}

TEST_CASE("speedup_growth: speed-ups 1, 100/55, 100/32.5 at N = 4, 8, 16 give their line's slope", "[transformer_metrics]") {
  // Dense reaches its final loss 2 at step 100; MoE k falls k times faster and reaches 2 at step
  // 10 + 90/k, i.e. speed-ups 1, 1.8182, 3.0769 for k = 1, 2, 4. Three equally spaced log2 N points:
  // slope = (last - first)/2 = (100/32.5 - 1)/2. The same offset per seed on every curve leaves every
  // crossing in place, so the bootstrap CI is degenerate.
  std::vector<double> steps;
  for (int t = 10; t <= 100; t += 10) steps.push_back(t);
  std::vector<std::vector<double>> dense;
  std::vector<std::vector<std::vector<double>>> moes(3);
  for (const double offset : {0.0, 0.03, -0.02}) {
    std::vector<double> d;
    for (const double t : steps) d.push_back(4.0 - 2.0 * (t - 10.0) / 90.0 + offset);
    dense.push_back(d);
    for (std::size_t i = 0; i < 3; ++i) {
      const double k = std::exp2(static_cast<double>(i));
      std::vector<double> m;
      for (const double t : steps) m.push_back(4.0 - 2.0 * (t - 10.0) * k / 90.0 + offset);
      moes[i].push_back(m);
    }
  }
  const std::vector<double> n = {4, 8, 16};
  const auto g = speedup_growth(steps, dense, moes, n, 11);
  const double expected = (100.0 / 32.5 - 1.0) / 2.0;
  CHECK(g.slope == Approx(expected));
  CHECK(g.ci.low == Approx(expected));
  CHECK(g.ci.high == Approx(expected));
  // The same MoE at every N: no growth.
  const std::vector<std::vector<std::vector<double>>> flat = {moes[1], moes[1], moes[1]};
  CHECK(speedup_growth(steps, dense, flat, n, 11).slope == Approx(0.0).margin(1e-12));
  CHECK_THROWS(speedup_growth(steps, dense, moes, std::vector<double>{4, 8}, 11));
  CHECK_THROWS(speedup_growth(steps, dense, moes, std::vector<double>{4, 0, 16}, 11));
}

TEST_CASE("paired_difference: hand values, a constant shift and a diverged run", "[transformer_metrics]") {
  // d = (0.3, 0.1, 0.2): mean 0.2, sd 0.1, SE 0.1/sqrt(3), separation 2 sqrt(3); Student's interval
  // 0.2 ± t_{0.975, 2} · SE with t_{0.975, 2} = 4.302653 (tables): 0.2 ± 0.248414.
  const std::vector<double> a = {2.3, 2.1, 2.2}, b = {2.0, 2.0, 2.0};
  const auto d = paired_difference(a, b);
  CHECK(d.mean == Approx(0.2));
  CHECK(d.standard_error == Approx(0.1 / std::sqrt(3.0)));
  CHECK(d.separation == Approx(2.0 * std::sqrt(3.0)));
  CHECK(d.ci.low == Approx(0.2 - 0.248414).epsilon(1e-5));
  CHECK(d.ci.high == Approx(0.2 + 0.248414).epsilon(1e-5));
  CHECK(d.seeds == 3);
  // Every seed shifted by the same amount (exact in binary): zero spread, a degenerate CI, infinite separation.
  const auto shift = paired_difference(std::vector<double>{1.5, 1.75}, std::vector<double>{1.25, 1.5});
  CHECK(shift.ci.low == 0.25);
  CHECK(shift.ci.high == 0.25);
  CHECK(std::isinf(shift.separation));
  const auto diverged = paired_difference(std::vector<double>{kInf, 1.0}, std::vector<double>{1.0, 1.0});
  CHECK(std::isnan(diverged.mean));
  CHECK(std::isnan(diverged.ci.low));
  CHECK_THROWS_AS(paired_difference(std::vector<double>{1.0}, std::vector<double>{1.0}), std::invalid_argument);
}

TEST_CASE("seed_mean: Student-t 95% interval by hand", "[transformer_metrics]") {
  // values 1, 2, 3, 6: mean 3, sample sd sqrt(((-2)^2 + (-1)^2 + 0 + 3^2) / 3) = sqrt(14/3),
  // SE = sd / 2, t_{0.975, 3} = 3.182446305284263.
  const std::vector<double> v = {1.0, 2.0, 3.0, 6.0};
  const auto m = seed_mean(v);
  const double se = std::sqrt(14.0 / 3.0) / 2.0;
  CHECK(m.mean == Approx(3.0));
  CHECK(m.standard_error == Approx(se));
  CHECK(m.low == Approx(3.0 - 3.182446305284263 * se).epsilon(1e-6));
  CHECK(m.high == Approx(3.0 + 3.182446305284263 * se).epsilon(1e-6));
  const std::vector<double> one = {0.25};
  CHECK(seed_mean(one).low == 0.25);
  CHECK(seed_mean(one).high == 0.25);
  CHECK(std::isnan(seed_mean(std::vector<double>{}).mean));
}
