// The abc-symmetry of docs/theory.md §2 as expressed by the engine: equivalent forms give identical
// effective sizes and identical training trajectories of the network function.
#include "muelab/theory/abc_symmetry.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <iostream>
#include <random>
#include <vector>

using namespace muelab::theory;

namespace {

/// AdamW (PyTorch-coupled) on the scalar model f(x) = multiplier·w·x, loss ½(f(x_k) − y_k)²;
/// returns the trajectory of the effective weight multiplier·w.
std::vector<double> adamw_trajectory(const GroupParameterization& form, int steps) {
  const double beta1 = 0.9, beta2 = 0.99;
  double w = form.init_std, m = 0.0, v = 0.0;
  std::vector<double> trajectory;
  for (int k = 1; k <= steps; ++k) {
    const double x = std::sin(0.37 * k) + 1.5, y = 0.8 * x;
    const double residual = form.multiplier * w * x - y;
    const double gradient = residual * form.multiplier * x;
    m = beta1 * m + (1.0 - beta1) * gradient;
    v = beta2 * v + (1.0 - beta2) * gradient * gradient;
    const double m_hat = m / (1.0 - std::pow(beta1, k)), v_hat = v / (1.0 - std::pow(beta2, k));
    w -= form.lr * form.weight_decay * w + form.lr * m_hat / (std::sqrt(v_hat) + form.eps);
    trajectory.push_back(form.multiplier * w);
  }
  return trajectory;
}

std::vector<double> sgd_trajectory(const GroupParameterization& form, int steps) {
  double w = form.init_std;
  std::vector<double> trajectory;
  for (int k = 1; k <= steps; ++k) {
    const double x = std::sin(0.37 * k) + 1.5, y = 0.8 * x;
    const double gradient = (form.multiplier * w * x - y) * form.multiplier * x;
    w -= form.lr * form.weight_decay * w + form.lr * gradient;
    trajectory.push_back(form.multiplier * w);
  }
  return trajectory;
}

}  // namespace

TEST_CASE("abc-symmetry: effective sizes are invariant for Adam and SGD", "[theory][abc]") {
  const std::uint64_t seed = 42;
  std::cout << "abc-symmetry: seed " << seed << "\n";
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> log_theta(-4.0, 4.0);
  const GroupParameterization form{0.5, 0.02, 1e-3, 1e-8, 0.1};
  for (int i = 0; i < 100; ++i) {
    const double theta = std::exp(log_theta(rng));
    for (const auto optimizer : {OptimizerKind::adamw, OptimizerKind::sgd}) {
      const auto a = effective_sizes(form, optimizer);
      const auto b = effective_sizes(abc_reparameterize(form, theta, optimizer), optimizer);
      INFO("theta " << theta << " seed " << seed);
      CHECK(b.function_init == Approx(a.function_init).epsilon(1e-14));
      CHECK(b.function_update == Approx(a.function_update).epsilon(1e-14));
      CHECK(b.decay_per_step == Approx(a.decay_per_step).epsilon(1e-14));
      if (optimizer != OptimizerKind::sgd) CHECK(b.eps_relative_to_gradient == Approx(a.eps_relative_to_gradient).epsilon(1e-14));
    }
  }
}

TEST_CASE("abc-symmetry: the two equivalent forms train identically", "[theory][abc]") {
  const GroupParameterization form{1.0, 0.3, 0.05, 1e-3, 0.01};
  for (const double theta : {0.125, 3.0, 1024.0}) {
    INFO("theta " << theta);
    const auto a = adamw_trajectory(form, 200);
    const auto b = adamw_trajectory(abc_reparameterize(form, theta, OptimizerKind::adamw), 200);
    for (std::size_t k = 0; k < a.size(); ++k) REQUIRE(b[k] == Approx(a[k]).epsilon(1e-11));
    const auto sa = sgd_trajectory(form, 200);
    const auto sb = sgd_trajectory(abc_reparameterize(form, theta, OptimizerKind::sgd), 200);
    for (std::size_t k = 0; k < sa.size(); ++k) REQUIRE(sb[k] == Approx(sa[k]).epsilon(1e-11));
  }
  SECTION("control: scaling the LR by theta^-2 under Adam changes the trajectory") {
    auto wrong = abc_reparameterize(form, 4.0, OptimizerKind::adamw);
    wrong.lr /= 4.0;
    const auto a = adamw_trajectory(form, 200);
    const auto b = adamw_trajectory(wrong, 200);
    CHECK(std::abs(b.back() - a.back()) > 1e-3);
  }
}
