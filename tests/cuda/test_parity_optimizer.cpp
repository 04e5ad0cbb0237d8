// CUDA parity suite, optimizer stage (models/cuda/src/optimizer.cu and router.cu's balance bias):
// AdamW, Adam and SGD element updates and the balance-bias update. Fixtures: parity_fixtures.hpp.
#include "parity_fixtures.hpp"

#include <cstddef>
#include <vector>

TEMPLATE_TEST_CASE("cuda parity: AdamW, Adam and SGD steps and the balance bias", "[cuda][parity]", float, double) {
  using T = TestType;
  const std::size_t count = 517;
  const auto theta0 = draws<T>(count, 19), grad = draws<T>(count, 20);
  for (const bool coupled : {true, false}) {
    auto theta = theta0;
    std::vector<T> m(count, T(0)), v(count, T(0));
    const sh::AdamStep step{3e-3, 0.1, 1e-8, 0.9, 0.95, 1.0 - 0.9, 1.0 - 0.95, coupled};
    for (std::size_t i = 0; i < count; ++i) sh::adam_element(theta[i], m[i], v[i], grad[i], step);
    mc::DeviceArray<T> gt(theta0), gm(count), gv(count), gg(grad);
    gm.zero();
    gv.zero();
    mc::adam_update(gt.data(), gm.data(), gv.data(), gg.data(), static_cast<index_t>(count), step);
    mc::synchronize();
    CHECK_PARITY(gt.download(), theta, tolerance<T>());
    CHECK_PARITY(gm.download(), m, tolerance<T>());
    CHECK_PARITY(gv.download(), v, tolerance<T>());
  }
  auto theta = theta0;
  std::vector<T> buf(count, T(0));
  for (std::size_t i = 0; i < count; ++i) sh::sgd_element(theta[i], buf[i], grad[i], 0.05, 0.01, 0.9);
  mc::DeviceArray<T> gt(theta0), gb(count), gg(grad);
  gb.zero();
  mc::sgd_update(gt.data(), gb.data(), gg.data(), static_cast<index_t>(count), 0.05, 0.01, 0.9);
  // balance bias: loads 5, 0, 3 of n = 4 tokens with a = 2 of N = 3
  mc::DeviceArray<double> bias(std::vector<double>{0.1, -0.2, 0.0});
  mc::DeviceArray<index_t> load(std::vector<index_t>{5, 0, 3});
  mc::balance_bias_update(bias.data(), load.data(), 4, 3, 2, 0.5);
  mc::synchronize();
  CHECK_PARITY(gt.download(), theta, tolerance<T>());
  const auto b = bias.download();
  CHECK(b[0] == Approx(0.1 - 0.5 * (1.25 - 2.0 / 3)).epsilon(1e-14));
  CHECK(b[1] == Approx(-0.2 - 0.5 * (0.0 - 2.0 / 3)).epsilon(1e-14));
  CHECK(b[2] == Approx(0.0 - 0.5 * (0.75 - 2.0 / 3)).epsilon(1e-14));
}
