// Tests of Jiang's DMFT quantities at init (docs/theory.md §6): init formulas by hand, the threshold
// prediction at κ = 1/2 by hand, and the α*/κ scaling of the residual variance in h/d.
#include "muelab/sim/meanfield/jiang_dmft.hpp"
#include "muelab/sim/statistics.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <numbers>

using namespace muelab::sim;
using namespace muelab::sim::meanfield;

TEST_CASE("expert down init: Jiang sqrt(d)/h vs fan-in 1/sqrt(h)", "[meanfield][jiang]") {
  ResidualMoeStack stack;
  stack.model_width = 64;
  stack.expert_width = 256;
  CHECK(expert_down_std(stack) == Approx(8.0 / 256.0));
  stack.down_init = ExpertDownInit::fan_in;
  CHECK(expert_down_std(stack) == Approx(1.0 / 16.0));
}

TEST_CASE("threshold prediction at kappa = 1/2 by hand", "[meanfield][jiang]") {
  // Quantile 0 → gate σ(0) = 1/2; density of σ(s) at 1/2 is φ(0)/(1/4); sd = √(1/4/N)·(1/4)/φ(0).
  const auto p = routing_threshold_prediction(0.5, 100);
  CHECK(p.threshold == Approx(0.5));
  CHECK(p.standard_deviation == Approx(std::sqrt(0.25 / 100) * 0.25 * std::sqrt(2 * std::numbers::pi)));
}

TEST_CASE("residual variance at init scales as alpha*/kappa in h/d, and is flat under fan-in", "[meanfield][jiang]") {
  const std::uint64_t seed = 77;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const CounterRng rng(seed);
  auto ratio_for = [&](ExpertDownInit init) {
    std::vector<double> narrow, wide;
    for (std::uint64_t path = 0; path < 8; ++path) {
      ResidualMoeStack stack;
      stack.model_width = 32;
      stack.n_experts = 8;
      stack.n_active = 2;
      stack.n_blocks = 2;
      stack.down_init = init;
      stack.expert_width = 16;
      narrow.push_back(accumulated_residual_variance(stack, 16, rng, path));
      stack.expert_width = 128;
      wide.push_back(accumulated_residual_variance(stack, 16, rng, path));
    }
    const auto n = mean_with_standard_error(narrow);
    const auto w = mean_with_standard_error(wide);
    const double ratio = n.mean / w.mean;
    const double relative_se = std::hypot(n.standard_error / n.mean, w.standard_error / w.mean);
    std::printf("variance ratio h=16 / h=128: %.3f (relative SE %.3f)\n", ratio, relative_se);
    return std::pair{ratio, relative_se};
  };
  const auto [jiang, jiang_se] = ratio_for(ExpertDownInit::jiang_mean_field);
  CHECK(std::abs(jiang / 8.0 - 1.0) < 4.0 * jiang_se + 0.05);  // α*/κ ∝ 1/h: ratio 8
  const auto [fan_in, fan_in_se] = ratio_for(ExpertDownInit::fan_in);
  CHECK(std::abs(fan_in - 1.0) < 4.0 * fan_in_se + 0.05);  // fan-in: flat
}
