// Hand values and exact checks for models/shared (the __host__ __device__ math that both the CPU
// backend and the CUDA kernels call): activations, LayerNorm rows, softmax/cross-entropy rows,
// top-a with the lower-index tie-break, gate normalization and its backward, optimizer elements.
#include "muelab/models/shared/kernels.hpp"
#include "muelab/sim/counter_rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <vector>

namespace sh = muelab::models::shared;
using sh::index_t;

TEST_CASE("shared kernels: activations against hand values", "[models][shared]") {
  CHECK(sh::gelu(1.0) == Approx(0.8413447460685429).epsilon(1e-15));   // Φ(1)
  CHECK(sh::gelu(-1.0) == Approx(-0.15865525393145707).epsilon(1e-14));  // −Φ(−1)
  CHECK(sh::gelu(0.0) == 0.0);
  CHECK(sh::gelu_derivative(0.0) == Approx(0.5).epsilon(1e-15));
  CHECK(sh::gelu_derivative(1.0) == Approx(1.0833154705876864).epsilon(1e-15));  // Φ(1) + φ(1)
  CHECK(sh::sigmoid(0.0) == 0.5);
  CHECK(sh::silu(1.0) == Approx(0.7310585786300049).epsilon(1e-15));
  CHECK(sh::silu_derivative(1.0) == Approx(0.9276705118714869).epsilon(1e-15));
  CHECK(sh::silu_derivative(0.0) == Approx(0.5).epsilon(1e-15));
  // float instantiation (what the trainer runs) agrees with double to float precision
  CHECK(static_cast<double>(sh::gelu_derivative(1.0f)) == Approx(1.0833154705876864).epsilon(1e-6));
  // derivatives against central differences
  for (const double z : {-2.3, -0.4, 0.7, 1.9}) {
    const double h = 1e-6;
    CHECK(sh::gelu_derivative(z) == Approx((sh::gelu(z + h) - sh::gelu(z - h)) / (2 * h)).epsilon(1e-8));
    CHECK(sh::silu_derivative(z) == Approx((sh::silu(z + h) - sh::silu(z - h)) / (2 * h)).epsilon(1e-8));
  }
}

TEST_CASE("shared kernels: LayerNorm row forward (hand values) and backward (finite differences)", "[models][shared]") {
  const std::array<double, 4> x{1, 2, 3, 4};
  const std::array<double, 4> gain{1, 1, 2, 0.5};
  std::array<double, 4> hat{}, u{};
  // mean 2.5, variance 1.25 → rstd = 1/√1.25
  const double rstd = sh::layer_norm_row_forward(x.data(), gain.data(), 2.0, 0.0, 4, hat.data(), u.data());
  CHECK(rstd == Approx(1.0 / std::sqrt(1.25)).epsilon(1e-15));
  const std::array<double, 4> expected_hat{-1.3416407864998738, -0.4472135954999579, 0.4472135954999579,
                                           1.3416407864998738};
  for (int k = 0; k < 4; ++k) {
    CHECK(hat[static_cast<std::size_t>(k)] == Approx(expected_hat[static_cast<std::size_t>(k)]).epsilon(1e-14));
    CHECK(u[static_cast<std::size_t>(k)] ==
          Approx(2.0 * gain[static_cast<std::size_t>(k)] * expected_hat[static_cast<std::size_t>(k)]).epsilon(1e-14));
  }
  // backward: L = Σ c_k u_k(x); dx from the row backward vs central differences
  const std::array<double, 4> c{0.3, -1.1, 0.7, 2.0};
  std::array<double, 4> dx{};
  sh::layer_norm_row_backward(c.data(), hat.data(), rstd, gain.data(), 2.0, 4, dx.data(), false);
  const auto loss = [&](std::array<double, 4> xs) {
    std::array<double, 4> h{}, uu{};
    sh::layer_norm_row_forward(xs.data(), gain.data(), 2.0, 1e-300, 4, h.data(), uu.data());
    double s = 0;
    for (std::size_t k = 0; k < 4; ++k) s += c[k] * uu[k];
    return s;
  };
  for (std::size_t k = 0; k < 4; ++k) {
    auto plus = x, minus = x;
    plus[k] += 1e-6;
    minus[k] -= 1e-6;
    CHECK(dx[k] == Approx((loss(plus) - loss(minus)) / 2e-6).epsilon(1e-7));
  }
  // accumulate mode adds
  std::array<double, 4> acc{1, 1, 1, 1};
  sh::layer_norm_row_backward(c.data(), hat.data(), rstd, gain.data(), 2.0, 4, acc.data(), true);
  for (std::size_t k = 0; k < 4; ++k) CHECK(acc[k] == Approx(1.0 + dx[k]).epsilon(1e-15));
}

TEST_CASE("shared kernels: softmax, softmax backward and cross-entropy rows", "[models][shared]") {
  const std::array<double, 3> logits{0.0, std::log(2.0), std::log(3.0)};
  std::array<double, 3> p{};
  sh::softmax_row(logits.data(), 3, p.data());
  CHECK(p[0] == Approx(1.0 / 6).epsilon(1e-15));
  CHECK(p[1] == Approx(2.0 / 6).epsilon(1e-15));
  CHECK(p[2] == Approx(3.0 / 6).epsilon(1e-15));
  std::array<double, 3> probs{};
  CHECK(sh::cross_entropy_row(logits.data(), 3, 2, probs.data()) == Approx(std::log(2.0)).epsilon(1e-15));
  CHECK(sh::cross_entropy_row(logits.data(), 3, 0, probs.data()) == Approx(std::log(6.0)).epsilon(1e-15));
  // a huge logit does not overflow (max subtraction)
  const std::array<double, 2> big{1000.0, 1000.0};
  CHECK(sh::cross_entropy_row(big.data(), 2, 1, probs.data()) == Approx(std::log(2.0)).epsilon(1e-12));  // 1000 − 1000 + log 2
  // backward: L = Σ c_k softmax(s)_k, scale 0.5 applied to ds
  const std::array<double, 3> c{1.0, -2.0, 0.5};
  std::array<double, 3> ds{};
  sh::softmax_row_backward(p.data(), c.data(), 3, 0.5, ds.data());
  for (std::size_t k = 0; k < 3; ++k) {
    auto plus = logits, minus = logits;
    plus[k] += 1e-6;
    minus[k] -= 1e-6;
    std::array<double, 3> pp{}, pm{};
    sh::softmax_row(plus.data(), 3, pp.data());
    sh::softmax_row(minus.data(), 3, pm.data());
    double diff = 0;
    for (std::size_t j = 0; j < 3; ++j) diff += c[j] * (pp[j] - pm[j]);
    CHECK(ds[k] == Approx(0.5 * diff / 2e-6).epsilon(1e-7));
  }
}

TEST_CASE("shared kernels: top-a breaks ties toward the lower expert index", "[models][shared]") {
  const std::array<double, 4> p{0.2, 0.3, 0.3, 0.2};
  const std::array<double, 4> zero{0, 0, 0, 0};
  std::array<index_t, 4> choice{};
  sh::top_a_row(p.data(), zero.data(), 4, 1, 2, choice.data());
  CHECK(choice[0] == 1);
  CHECK(choice[1] == 2);
  sh::top_a_row(p.data(), zero.data(), 4, 1, 3, choice.data());
  CHECK(choice[2] == 0);  // 0 and 3 tie at 0.2: the lower index wins
  sh::top_a_row(p.data(), zero.data(), 4, 2, 1, choice.data());  // groups {0,1}, {2,3}
  CHECK(choice[0] == 1);
  CHECK(choice[1] == 2);
  // the bias steers selection: 0.25 + 0.25 ties 0.5 + 0 exactly → lower index 0 first
  const std::array<double, 2> q{0.25, 0.5};
  const std::array<double, 2> bias{0.25, 0.0};
  sh::top_a_row(q.data(), bias.data(), 2, 1, 1, choice.data());
  CHECK(choice[0] == 0);

  // Same order as std::partial_sort with the CPU's comparator on keys with many forced ties.
  const std::uint64_t seed = 20261123;
  std::printf("shared top-a vs partial_sort: seed %llu\n", static_cast<unsigned long long>(seed));
  const muelab::sim::CounterRng rng(seed, 1);
  for (std::uint64_t trial = 0; trial < 400; ++trial) {
    const index_t groups = (trial % 3 == 0) ? 1 : (trial % 3 == 1 ? 2 : 3);
    // Mostly small groups with many ties; every 8th trial a group of up to 64 (the granularity-16 shape).
    const index_t group_size = 1 + static_cast<index_t>(rng.below(trial % 8 == 7 ? 64 : 6, trial, 0, 0, 0));
    const index_t N = groups * group_size;
    const index_t per_group = 1 + static_cast<index_t>(rng.below(static_cast<std::uint64_t>(group_size), trial, 0, 0, 1));
    std::vector<float> probs(static_cast<std::size_t>(N));
    std::vector<double> b(static_cast<std::size_t>(N));
    for (index_t e = 0; e < N; ++e) {  // 4 distinct values → ties everywhere
      probs[static_cast<std::size_t>(e)] = 0.125f * static_cast<float>(rng.below(4, trial, 1, 0, static_cast<std::uint64_t>(e)));
      b[static_cast<std::size_t>(e)] = 0.125 * static_cast<double>(rng.below(2, trial, 2, 0, static_cast<std::uint64_t>(e)));
    }
    std::vector<index_t> got(static_cast<std::size_t>(groups * per_group));
    sh::top_a_row(probs.data(), b.data(), N, groups, per_group, got.data());
    std::vector<index_t> want;
    for (index_t g = 0; g < groups; ++g) {
      std::vector<index_t> order(static_cast<std::size_t>(group_size));
      std::iota(order.begin(), order.end(), g * group_size);
      const auto key = [&](index_t e) { return static_cast<double>(probs[static_cast<std::size_t>(e)]) + b[static_cast<std::size_t>(e)]; };
      std::partial_sort(order.begin(), order.begin() + per_group, order.end(), [&](index_t x, index_t y) {
        return key(x) > key(y) || (key(x) == key(y) && x < y);
      });
      want.insert(want.end(), order.begin(), order.begin() + per_group);
    }
    REQUIRE(got == want);
  }
  // A NaN key (a diverged router) still yields per_group distinct experts of the group, the NaN one
  // first when it is met first (what the exclusion scan has always done), and never an index of -1.
  const std::array<float, 5> with_nan{0.3f, std::numeric_limits<float>::quiet_NaN(), 0.5f, 0.1f, 0.5f};
  const std::array<double, 5> no_bias{0, 0, 0, 0, 0};
  std::array<index_t, 4> picks{};
  sh::top_a_row(with_nan.data(), no_bias.data(), 5, 1, 4, picks.data());
  CHECK(picks[0] == 2);  // 0.5 at index 2: the NaN never compares greater, index 4's equal 0.5 loses the tie
  std::array<bool, 5> seen{};
  for (const auto e : picks) {
    REQUIRE(e >= 0);
    REQUIRE(e < 5);
    CHECK_FALSE(seen[static_cast<std::size_t>(e)]);
    seen[static_cast<std::size_t>(e)] = true;
  }
}

TEST_CASE("shared kernels: active-set gate normalization and its backward", "[models][shared]") {
  const std::array<double, 4> p{0.1, 0.2, 0.3, 0.4};
  const std::array<index_t, 2> choice{3, 1};
  std::array<double, 2> gate{};
  sh::gates_row(p.data(), choice.data(), 2, true, gate.data());
  CHECK(gate[0] == Approx(2.0 / 3).epsilon(1e-15));
  CHECK(gate[1] == Approx(1.0 / 3).epsilon(1e-15));
  sh::gates_row(p.data(), choice.data(), 2, false, gate.data());
  CHECK(gate[0] == 0.4);
  CHECK(gate[1] == 0.2);
  // backward of L = Σ c_j π_j(p) vs central differences, both modes
  const std::array<double, 2> c{1.5, -0.5};
  for (const bool normalize : {true, false}) {
    sh::gates_row(p.data(), choice.data(), 2, normalize, gate.data());
    std::array<double, 4> dp{};
    sh::gates_row_backward(p.data(), choice.data(), gate.data(), c.data(), 2, normalize, dp.data());
    for (std::size_t e = 0; e < 4; ++e) {
      auto plus = p, minus = p;
      plus[e] += 1e-7;
      minus[e] -= 1e-7;
      std::array<double, 2> gp{}, gm{};
      sh::gates_row(plus.data(), choice.data(), 2, normalize, gp.data());
      sh::gates_row(minus.data(), choice.data(), 2, normalize, gm.data());
      const double numeric = (c[0] * (gp[0] - gm[0]) + c[1] * (gp[1] - gm[1])) / 2e-7;
      CHECK(dp[e] == Approx(numeric).margin(1e-8));
    }
  }
}

TEST_CASE("shared kernels: AdamW, Adam and SGD elements and the balance bias against hand values", "[models][shared]") {
  // first step from zero moments: m̂ = g, v̂ = g² → θ(1 − ηλ) − η g/(|g| + ε)
  sh::AdamStep h{0.1, 0.01, 1e-8, 0.9, 0.95, 1.0 - 0.9, 1.0 - 0.95, true};
  double theta = 1.0, m = 0.0, v = 0.0;
  const double delta = sh::adam_element(theta, m, v, 0.5, h);
  CHECK(theta == Approx(0.999 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-15));
  CHECK(delta == Approx(theta - 1.0).epsilon(1e-15));
  CHECK(m == Approx(0.05).epsilon(1e-15));
  CHECK(v == Approx(0.05 * 0.25).epsilon(1e-15));
  h.coupled = false;  // Adam: L2 enters the gradient (0.5 + 0.01·1)
  theta = 1.0;
  m = v = 0.0;
  sh::adam_element(theta, m, v, 0.5, h);
  CHECK(theta == Approx(1.0 - 0.1 * 0.51 / (0.51 + 1e-8)).epsilon(1e-15));
  // SGD: grad = 0.2 + 0.1·1 = 0.3, buf = 0.9·0.5 + 0.3 = 0.75, θ = 1 − 0.1·0.75
  double th = 1.0, buf = 0.5;
  CHECK(sh::sgd_element(th, buf, 0.2, 0.1, 0.1, 0.9) == Approx(-0.075).epsilon(1e-15));
  CHECK(th == Approx(0.925).epsilon(1e-15));
  CHECK(buf == Approx(0.75).epsilon(1e-15));
  CHECK(sh::balance_bias_update(0.1, 0.5, 0.5, 0.25) == Approx(-0.025).epsilon(1e-14));
}
