// Known-answer tests of the mean-field experiments' slope judge (experiments/meanfield/src/slope_fits;
// docs/claims.md, "How a row is judged"): synthetic seed tables with a known power law, no training.
#include "slope_fits.hpp"

#include "muelab/sim/counter_rng.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace muelab::experiments;
using namespace muelab::experiments::meanfield;

namespace {

const ClaimSpec kHalf{"meanfield-convergence", "slope", VerdictKind::claim, Sidedness::two_sided, -0.5, 0.1};

/// values[k][s] = size_k^exponent · exp(noise · z_ks), z standard normal (Philox, reproducible).
std::vector<std::vector<double>> power_law(const std::vector<double>& sizes, double exponent, int seeds, double noise) {
  const muelab::sim::CounterRng rng(11, 3);
  std::vector<std::vector<double>> values(sizes.size());
  for (std::size_t k = 0; k < sizes.size(); ++k)
    for (int s = 0; s < seeds; ++s)
      values[k].push_back(std::pow(sizes[k], exponent) * std::exp(noise * rng.normal(k, static_cast<std::uint64_t>(s), 0, 0)));
  return values;
}

const std::vector<double> kSizes = {32, 64, 128, 256, 512, 1024};

}  // namespace

TEST_CASE("slope judge: the true exponent with small noise holds, a wrong prediction fails", "[meanfield][slope]") {
  const auto values = power_law(kSizes, -0.5, 8, 0.02);
  const auto [estimate, verdict] = judge_power_law_slope(kHalf, "synthetic", kSizes, values, 5);
  CHECK(estimate.measured());
  CHECK(estimate.slope == Approx(-0.5).margin(0.02));
  CHECK(estimate.ci_low <= estimate.slope);
  CHECK(estimate.slope <= estimate.ci_high);
  CHECK(verdict.outcome == Outcome::holds);
  CHECK(verdict.as_expected());

  auto wrong = kHalf;
  wrong.predicted = -1.0;
  CHECK(judge_power_law_slope(wrong, "synthetic", kSizes, values, 5).verdict.outcome == Outcome::fails);
  // A control judged against the claim's band is as expected only when it fails.
  const auto flat = power_law(kSizes, 0.0, 8, 0.02);
  const auto control = judge_power_law_slope(as_control(kHalf), "control", kSizes, flat, 5).verdict;
  CHECK(control.outcome == Outcome::fails);
  CHECK(control.as_expected());
}

TEST_CASE("slope judge: large noise over few seeds is inconclusive, never holds", "[meanfield][slope]") {
  const auto values = power_law(kSizes, -0.5, 4, 1.5);
  const auto verdict = judge_power_law_slope(kHalf, "noisy", kSizes, values, 5).verdict;
  CHECK(verdict.outcome == Outcome::inconclusive);
  CHECK_FALSE(verdict.reason.empty());
  CHECK_FALSE(verdict.as_expected());
}

TEST_CASE("slope judge: unmeasurable input is inconclusive with a reason, never a crash", "[meanfield][slope]") {
  auto values = power_law(kSizes, -0.5, 8, 0.02);
  auto expect_not_measured = [](const JudgedSlope& judged) {
    CHECK_FALSE(judged.estimate.measured());
    CHECK(std::isnan(judged.estimate.slope));
    CHECK(judged.verdict.outcome == Outcome::inconclusive);
    CHECK(judged.verdict.reason == judged.estimate.problem);
    CHECK_FALSE(judged.verdict.reason.empty());
  };
  auto zero = values;
  zero[2][1] = 0.0;
  expect_not_measured(judge_power_law_slope(kHalf, "zero", kSizes, zero, 5));
  auto not_finite = values;
  not_finite[0][0] = std::nan("");
  expect_not_measured(judge_power_law_slope(kHalf, "nan", kSizes, not_finite, 5));
  const std::vector<double> two_sizes = {32, 64};
  expect_not_measured(judge_power_law_slope(kHalf, "two sizes", two_sizes, {values[0], values[1]}, 5));
  expect_not_measured(judge_power_law_slope(kHalf, "two seeds", kSizes, power_law(kSizes, -0.5, 2, 0.02), 5));
  auto ragged = values;
  ragged[3].pop_back();
  expect_not_measured(judge_power_law_slope(kHalf, "ragged", kSizes, ragged, 5));
  expect_not_measured(judge_power_law_slope(kHalf, "mismatch", kSizes, {values.begin(), values.end() - 1}, 5));
  expect_not_measured(judge_power_law_slope(kHalf, "empty", {}, {}, 5));
}
