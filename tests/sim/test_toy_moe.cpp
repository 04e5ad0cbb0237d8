// The toy MoE regression of the Bridge II measurement (sim/sde/include/muelab/sim/sde/toy_moe.hpp):
// its minibatch gradient is the exact derivative of its minibatch loss (central finite differences,
// balanced and learned routing, Complete-muE and the plain sum), Complete-muE's per-expert factor
// A·R·π is 1/a, and a shape it cannot train is refused.
#include "muelab/sim/sde/toy_moe.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

using namespace muelab::sim;
using namespace muelab::sim::sde;

namespace {
constexpr std::uint64_t kSeed = 20261203;

/// Largest |analytic − central difference| over all parameters, relative to max(1, |gradient|_inf).
double gradient_mismatch(const ToyMoe& moe, const Eigen::VectorXd& flat) {
  Eigen::VectorXd analytic;
  moe.gradient(flat, 3, 0, analytic);
  const double h = 1e-6;
  double worst = 0.0;
  for (Eigen::Index k = 0; k < flat.size(); ++k) {
    Eigen::VectorXd up = flat, down = flat;
    up[k] += h;
    down[k] -= h;
    const double numeric = (moe.minibatch_loss(up, 3, 0) - moe.minibatch_loss(down, 3, 0)) / (2.0 * h);
    worst = std::max(worst, std::abs(numeric - analytic[k]));
  }
  return worst / std::max(1.0, analytic.cwiseAbs().maxCoeff());
}

/// Parameters with every expert (and router) weight non-zero, so every term of the gradient is exercised.
Eigen::VectorXd random_parameters(const ToyMoe& moe) {
  Eigen::VectorXd flat(moe.parameter_count());
  CounterRng(kSeed, 1).fill_normal(flat, 0, 0, 0);
  return 0.5 * flat;
}
}  // namespace

TEST_CASE("ToyMoe gradient is the derivative of its minibatch loss", "[sim][toy_moe]") {
  INFO("seed " << kSeed);
  ToyProblem problem;
  problem.dimension = 4;
  problem.train_samples = 16;
  problem.test_samples = 8;
  const MoeShape balanced{4, 2, 8, Routing::balanced, Parameterization::complete_mue};
  const MoeShape plain{4, 2, 8, Routing::balanced, Parameterization::plain_sum};
  const MoeShape learned{4, 2, 8, Routing::learned_sigmoid, Parameterization::complete_mue};
  for (const auto& shape : {balanced, plain, learned}) {
    const ToyMoe moe(problem, shape, kSeed);
    CHECK(gradient_mismatch(moe, random_parameters(moe)) < 1e-6);
  }
}

TEST_CASE("ToyMoe: Complete-muE's per-expert factor is 1/a, the plain sum's is 1", "[sim][toy_moe]") {
  for (const int active : {1, 2, 4, 8}) {
    CHECK(expert_output_weight({8, active, 32, Routing::balanced, Parameterization::complete_mue}, 16) ==
          Approx(1.0 / active).epsilon(1e-15));
    CHECK(expert_output_weight({8, active, 32, Routing::balanced, Parameterization::plain_sum}, 16) == 1.0);
  }
}

TEST_CASE("ToyMoe refuses shapes it cannot train", "[sim][toy_moe]") {
  const ToyProblem problem;
  CHECK_THROWS_AS(ToyMoe(problem, {8, 9, 32}, kSeed), std::invalid_argument);   // a > N
  CHECK_THROWS_AS(ToyMoe(problem, {8, 0, 32}, kSeed), std::invalid_argument);   // a = 0
  CHECK_THROWS_AS(ToyMoe(problem, {8, 1, 4}, kSeed), std::invalid_argument);    // B·a not a multiple of N
  const ToyMoe moe(problem, {8, 2, 32}, kSeed);
  double signal = 0.0;
  CHECK_THROWS_AS(moe.expert_noise_std(moe.initial_parameters(), 1, &signal), std::invalid_argument);
}
