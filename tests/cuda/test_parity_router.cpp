// CUDA parity suite, router stage (models/cuda/src/router.cu): the auxiliary balance loss forward
// and backward on the device, and its rows on the host (hand value, central differences). The
// router probabilities, top-a gates and their backward are checked with the permutation they feed
// (test_parity_permutation.cpp). Fixtures: parity_fixtures.hpp.
#include "parity_fixtures.hpp"

#include <cstddef>
#include <vector>

TEST_CASE("cuda host: auxiliary balance loss rows (hand value and gradient by central differences)", "[cuda][host]") {
  // n = 2 tokens, N = 3 experts, a = 1; sigmoid-like rows that do not sum to 1.
  const std::vector<double> p{0.5, 0.3, 0.2, 0.1, 0.6, 0.1};
  const std::vector<index_t> counts{1, 1, 0};
  const index_t n = 2, N = 3, a = 1;
  const double coef = 0.25;
  std::vector<double> f(3), total(2), column(3);
  for (index_t e = 0; e < N; ++e)
    f[static_cast<std::size_t>(e)] = sh::expert_load_fraction(counts[static_cast<std::size_t>(e)], n, a);
  CHECK(f == std::vector<double>{0.5, 0.5, 0.0});
  for (index_t t = 0; t < n; ++t) total[static_cast<std::size_t>(t)] = sh::row_sum(p.data() + t * N, N);
  CHECK(total[0] == Approx(1.0).epsilon(1e-15));
  CHECK(total[1] == Approx(0.8).epsilon(1e-15));
  for (index_t e = 0; e < N; ++e)
    column[static_cast<std::size_t>(e)] = sh::normalized_probability_column_sum(p.data(), total.data(), n, N, e);
  // P_0 = (0.5 + 0.125)/2, P_1 = (0.3 + 0.75)/2; aux = 0.25·3·(0.5·P_0 + 0.5·P_1) = 0.75·0.5·(0.3125 + 0.525)
  const double aux = sh::aux_balance_loss(f.data(), column.data(), N, n, coef);
  CHECK(aux == Approx(0.75 * 0.5 * (0.3125 + 0.525)).epsilon(1e-14));
  // gradient w.r.t. every p_te against central differences of the loss (f held constant)
  const auto loss_of = [&](std::vector<double> q) {
    std::vector<double> tq(2), cq(3);
    for (index_t t = 0; t < n; ++t) tq[static_cast<std::size_t>(t)] = sh::row_sum(q.data() + t * N, N);
    for (index_t e = 0; e < N; ++e)
      cq[static_cast<std::size_t>(e)] = sh::normalized_probability_column_sum(q.data(), tq.data(), n, N, e);
    return sh::aux_balance_loss(f.data(), cq.data(), N, n, coef);
  };
  std::vector<double> grad(p.size(), 0.0);
  for (index_t t = 0; t < n; ++t)
    sh::aux_balance_row_backward(p.data() + t * N, total[static_cast<std::size_t>(t)], f.data(), N, n, coef,
                                 grad.data() + t * N);
  for (std::size_t i = 0; i < p.size(); ++i) {
    auto up = p, down = p;
    up[i] += 1e-6;
    down[i] -= 1e-6;
    CAPTURE(i);
    CHECK(grad[i] == Approx((loss_of(up) - loss_of(down)) / 2e-6).margin(1e-9));
  }
}

TEMPLATE_TEST_CASE("cuda parity: auxiliary balance loss forward and backward", "[cuda][parity]", float, double) {
  using T = TestType;
  const index_t n = 41, N = 6, a = 2;
  const double coef = 0.3;
  std::vector<T> p = draws<T>(static_cast<std::size_t>(n * N), 38);
  for (auto& v : p) v = sh::sigmoid(v);             // sigmoid-router rows: p̂ ≠ p
  std::vector<index_t> load{7, 20, 0, 31, 12, 12};  // Σ = n·a
  std::vector<T> total(static_cast<std::size_t>(n));
  std::vector<double> f(static_cast<std::size_t>(N)), column(static_cast<std::size_t>(N));
  for (index_t t = 0; t < n; ++t) total[static_cast<std::size_t>(t)] = sh::row_sum(p.data() + t * N, N);
  for (index_t e = 0; e < N; ++e) {
    f[static_cast<std::size_t>(e)] = sh::expert_load_fraction(load[static_cast<std::size_t>(e)], n, a);
    column[static_cast<std::size_t>(e)] = sh::normalized_probability_column_sum(p.data(), total.data(), n, N, e);
  }
  const double aux = sh::aux_balance_loss(f.data(), column.data(), N, n, coef);
  std::vector<T> dp = draws<T>(p.size(), 39);  // the gates' gradient, added to
  const std::vector<T> dp0 = dp;
  for (index_t t = 0; t < n; ++t)
    sh::aux_balance_row_backward(p.data() + t * N, total[static_cast<std::size_t>(t)], f.data(), N, n, coef,
                                 dp.data() + t * N);
  mc::DeviceArray<T> gp(p), gtotal(total.size()), gdp(dp0);
  mc::DeviceArray<index_t> gload(load);
  mc::DeviceArray<double> gf(f.size()), gcolumn(column.size()), gaux(1);
  mc::aux_balance_forward(gp.data(), gload.data(), n, N, a, coef, gtotal.data(), gf.data(), gcolumn.data(),
                          gaux.data());
  mc::aux_balance_backward(gp.data(), gtotal.data(), gf.data(), n, N, coef, gdp.data());
  mc::synchronize();
  CHECK(gf.download() == f);  // exact: the same double arithmetic
  CHECK_PARITY(gtotal.download(), total, tolerance<T>());
  CHECK_PARITY(gcolumn.download(), column, tolerance<T>());
  CHECK(gaux.download()[0] == Approx(aux).epsilon(tolerance<T>()));
  CHECK_PARITY(gdp.download(), dp, tolerance<T>());
}
