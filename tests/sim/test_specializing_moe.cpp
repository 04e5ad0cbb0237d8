// The specializing MoE testbed of Bridge II (sim/sde/include/muelab/sim/sde/specializing_moe.hpp):
// its minibatch gradient is the exact derivative of its minibatch loss (central finite differences,
// Complete-muE with normalized gates and the plain sum), the same seed gives the same numbers, bad
// shapes are refused, and the task rewards expert capacity (N = 8 beats N = 2 at the same active a = 2).
#include "muelab/sim/sde/specializing_moe.hpp"

#include "muelab/sim/statistics.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <stdexcept>

using namespace muelab::sim;
using namespace muelab::sim::sde;

namespace {
constexpr std::uint64_t kSeed = 20261204;

double gradient_mismatch(const SpecializingMoe& moe, const Eigen::VectorXd& flat, const Eigen::VectorXd& bias) {
  Eigen::VectorXd analytic, scratch;
  (void)moe.loss_and_gradient(flat, 5, 0, bias, analytic);
  const double h = 1e-6;
  double worst = 0.0;
  for (Eigen::Index k = 0; k < flat.size(); ++k) {
    Eigen::VectorXd up = flat, down = flat;
    up[k] += h;
    down[k] -= h;
    const double numeric =
        (moe.loss_and_gradient(up, 5, 0, bias, scratch) - moe.loss_and_gradient(down, 5, 0, bias, scratch)) / (2.0 * h);
    worst = std::max(worst, std::abs(numeric - analytic[k]));
  }
  return worst / std::max(1.0, analytic.cwiseAbs().maxCoeff());
}
}  // namespace

TEST_CASE("SpecializingMoe gradient matches central differences", "[specializing_moe]") {
  std::cout << "seed " << kSeed << "\n";
  SpecializingProblem problem;
  problem.dimension = 6;
  problem.regions = 3;
  problem.test_samples = 16;
  for (const auto p : {Parameterization::complete_mue, Parameterization::plain_sum}) {
    SpecializingShape shape;
    shape.experts = 4;
    shape.active = 2;
    shape.expert_width = 3;
    shape.batch = 8;
    shape.parameterization = p;
    const SpecializingMoe moe(problem, shape, kSeed);
    const Eigen::VectorXd flat = moe.initial_parameters();
    const Eigen::VectorXd bias = Eigen::VectorXd::LinSpaced(4, 0.0, 0.03);
    CHECK(gradient_mismatch(moe, flat, bias) < 1e-6);
  }
}

TEST_CASE("SpecializingMoe: same seed gives same numbers, Complete-muE's factor, bad shapes refused", "[specializing_moe]") {
  SpecializingProblem problem;
  problem.test_samples = 64;
  SpecializingShape shape;
  const SpecializingMoe a(problem, shape, kSeed), b(problem, shape, kSeed);
  OptimizerHyperparameters adam{OptimizerName::adamw, 3e-3, 0.9, 0.999, 1e-8, 0.0};
  CHECK(a.train(adam, 20) == b.train(adam, 20));
  CHECK(a.output_factor() == Approx(16.0 / 8.0));  // A·R = d/(a h)·a = d/h
  shape.active = 9;
  CHECK_THROWS_AS(SpecializingMoe(problem, shape, kSeed), std::invalid_argument);
  shape.active = 2;
  shape.expert_width = 0;
  CHECK_THROWS_AS(SpecializingMoe(problem, shape, kSeed), std::invalid_argument);
}

TEST_CASE("SpecializingMoe rewards expert capacity: N = 8 beats N = 2 at a = 2", "[specializing_moe]") {
  // Paired over 6 seeds (the teacher, data and inits depend on the seed): final population loss of
  // N = 2 minus N = 8, both a = 2, h = 8, AdamW 3e-3, 1500 steps of B = 64; the gap must exceed
  // 3 standard errors of the paired mean.
  SpecializingProblem problem;
  problem.test_samples = 1024;
  OptimizerHyperparameters adam{OptimizerName::adamw, 3e-3, 0.9, 0.999, 1e-8, 0.0};
  std::vector<double> gaps;
  for (std::uint64_t s = 0; s < 6; ++s) {
    SpecializingShape small, large;
    small.experts = 2;
    large.experts = 8;
    const double l2 = SpecializingMoe(problem, small, kSeed + s).train(adam, 1500);
    const double l8 = SpecializingMoe(problem, large, kSeed + s).train(adam, 1500);
    std::cout << "seed " << kSeed + s << ": N=2 " << l2 << "  N=8 " << l8 << "\n";
    gaps.push_back(l2 - l8);
  }
  const auto m = mean_with_standard_error(gaps);
  std::cout << "gap " << m.mean << " +- " << m.standard_error << "\n";
  CHECK(m.mean > 3.0 * m.standard_error);
}
