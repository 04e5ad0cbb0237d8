// CUDA parity suite, attention stage (models/cuda/src/attention.cu): the causal softmax of the
// score blocks and the softmax rows' backward. Fixtures: parity_fixtures.hpp.
#include "parity_fixtures.hpp"

#include <cstddef>
#include <vector>

TEMPLATE_TEST_CASE("cuda parity: causal attention softmax and its backward", "[cuda][parity]", float, double) {
  using T = TestType;
  const index_t blocks = 6, L = 13;
  auto scores = draws<T>(static_cast<std::size_t>(blocks * L * L), 13, 2.0);
  const auto dp = draws<T>(scores.size(), 14);
  std::vector<T> p = scores, ds(scores.size());
  for (index_t r = 0; r < blocks * L; ++r) {
    T* row = p.data() + r * L;
    sh::softmax_row(row, r % L + 1, row);
    for (index_t k = r % L + 1; k < L; ++k) row[k] = T(0);
    sh::softmax_row_backward(row, dp.data() + r * L, L, T(0.125), ds.data() + r * L);
  }
  mc::DeviceArray<T> g(scores), gdp(dp), gds(ds.size());
  mc::causal_softmax(g.data(), blocks, L);
  mc::softmax_rows_backward(g.data(), gdp.data(), blocks * L, L, T(0.125), gds.data());
  mc::synchronize();
  CHECK_PARITY(g.download(), p, tolerance<T>());
  CHECK_PARITY(gds.download(), ds, tolerance<T>());
}
