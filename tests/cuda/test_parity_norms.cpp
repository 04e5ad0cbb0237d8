// CUDA parity suite, norms stage (models/cuda/src/norms.cu): LayerNorm forward, backward and gain
// gradient; GELU and SwiGLU forward and backward, against the shared row functions the CPU runs.
// Fixtures: parity_fixtures.hpp.
#include "parity_fixtures.hpp"

#include <cstddef>
#include <vector>

TEMPLATE_TEST_CASE("cuda parity: LayerNorm forward, backward and gain gradient", "[cuda][parity]", float, double) {
  using T = TestType;
  const index_t n = 37, d = 29;  // odd sizes
  const auto x = draws<T>(static_cast<std::size_t>(n * d), 1);
  const auto gain = draws<T>(static_cast<std::size_t>(d), 2);
  const auto du = draws<T>(static_cast<std::size_t>(n * d), 3);
  const T m = T(1.5), eps = T(1e-5);
  std::vector<T> hat(x.size()), u(x.size()), rstd(static_cast<std::size_t>(n)), dx(x.size()), dgain(gain.size(), T(0));
  for (index_t i = 0; i < n; ++i) {
    rstd[static_cast<std::size_t>(i)] =
        sh::layer_norm_row_forward(x.data() + i * d, gain.data(), m, eps, d, hat.data() + i * d, u.data() + i * d);
    sh::layer_norm_row_backward(du.data() + i * d, hat.data() + i * d, rstd[static_cast<std::size_t>(i)], gain.data(),
                                m, d, dx.data() + i * d, false);
  }
  for (index_t k = 0; k < d; ++k) {
    T s(0);
    for (index_t i = 0; i < n; ++i)
      s += du[static_cast<std::size_t>(i * d + k)] * hat[static_cast<std::size_t>(i * d + k)];
    dgain[static_cast<std::size_t>(k)] = m * s;
  }
  mc::DeviceArray<T> dx_d(x), dgain_d(gain), du_d(du), gx(x.size()), ghat(x.size()), gu(x.size()), grstd(rstd.size()),
      gdx(x.size()), gdgain(gain.size());
  gdgain.zero();
  mc::layer_norm_forward(dx_d.data(), dgain_d.data(), m, eps, n, d, ghat.data(), grstd.data(), gu.data());
  mc::layer_norm_backward(du_d.data(), ghat.data(), grstd.data(), dgain_d.data(), m, n, d, gdx.data(), false,
                          gdgain.data());
  mc::synchronize();
  CHECK_PARITY(gu.download(), u, tolerance<T>());
  CHECK_PARITY(grstd.download(), rstd, tolerance<T>());
  CHECK_PARITY(gdx.download(), dx, tolerance<T>());
  CHECK_PARITY(gdgain.download(), dgain, tolerance<T>());
}

TEMPLATE_TEST_CASE("cuda parity: GELU and SwiGLU forward and backward", "[cuda][parity]", float, double) {
  using T = TestType;
  const std::size_t count = 1001;
  const auto zg = draws<T>(count, 4, 2.0), zu = draws<T>(count, 5, 2.0), dact = draws<T>(count, 6);
  std::vector<T> gelu(count), dgelu(count), sw(count), dzg(count), dzu(count);
  for (std::size_t i = 0; i < count; ++i) {
    gelu[i] = sh::gelu(zu[i]);
    dgelu[i] = dact[i] * sh::gelu_derivative(zu[i]);
    sw[i] = sh::silu(zg[i]) * zu[i];
    dzu[i] = dact[i] * sh::silu(zg[i]);
    dzg[i] = (dact[i] * zu[i]) * sh::silu_derivative(zg[i]);
  }
  mc::DeviceArray<T> g_zg(zg), g_zu(zu), g_dact(dact), a(count), b(count), c(count), e(count), f(count);
  mc::gelu_forward(g_zu.data(), static_cast<index_t>(count), a.data());
  mc::gelu_backward(g_zu.data(), g_dact.data(), static_cast<index_t>(count), b.data());
  mc::swiglu_forward(g_zg.data(), g_zu.data(), static_cast<index_t>(count), c.data());
  mc::swiglu_backward(g_zg.data(), g_zu.data(), g_dact.data(), static_cast<index_t>(count), e.data(), f.data());
  mc::synchronize();
  CHECK_PARITY(a.download(), gelu, tolerance<T>());
  CHECK_PARITY(b.download(), dgelu, tolerance<T>());
  CHECK_PARITY(c.download(), sw, tolerance<T>());
  CHECK_PARITY(e.download(), dzg, tolerance<T>());
  CHECK_PARITY(f.download(), dzu, tolerance<T>());
}
