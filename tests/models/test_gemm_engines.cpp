// The trainer's GEMM engines (models/cpu/blas.hpp): OpenBLAS, Eigen's GEMM built for AVX-512 and
// oneDNN's sgemm. Each against a double-precision reference on the trainer's own shapes (every
// transpose, alpha and beta, leading dimensions wider than the matrix), the chunked engines' split
// bit-identical for 1 and 2 threads, and MUELAB_GEMM's names. An engine this CPU or build cannot run
// is skipped, and the test says so.
#include "muelab/models/cpu/blas.hpp"
#include "muelab/sim/counter_rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <vector>

namespace cpu = muelab::models::cpu;

namespace {

constexpr std::uint64_t kSeed = 20261204;

struct Shape {
  bool transpose_a, transpose_b;
  std::int64_t m, n, k;
};

/// The forward, dX and dW products of d = 32 and 128 (1024 tokens; 256 rows per expert), and odd sizes
/// that leave partial chunks and partial vector lanes.
std::vector<Shape> shapes() {
  return {{false, false, 1024, 96, 32}, {false, true, 1024, 32, 96},   {true, false, 32, 96, 1024},
          {false, false, 256, 64, 32},  {true, false, 128, 384, 1024}, {false, true, 1024, 128, 384},
          {false, false, 77, 700, 13},  {true, true, 333, 45, 67},     {false, false, 1, 1, 1}};
}

template <class Scalar>
std::vector<Scalar> normals(std::uint64_t stream, std::size_t n) {
  std::vector<double> v(n);
  muelab::sim::CounterRng(kSeed, stream).fill_normal(v, 0, 0, 0);
  return {v.begin(), v.end()};
}

/// Runs `engine` on one shape with leading dimensions 3 wider than needed and returns C (m × n) and
/// the largest error against the double reference, relative to Σ_k |a||b| + |beta c| (the scale of
/// the rounding error of any summation order).
template <class Scalar>
std::pair<std::vector<Scalar>, double> run(cpu::GemmEngine engine, const Shape& s, Scalar alpha, Scalar beta) {
  cpu::force_gemm_engine(engine);
  const std::int64_t a_rows = s.transpose_a ? s.k : s.m, a_cols = s.transpose_a ? s.m : s.k;
  const std::int64_t b_rows = s.transpose_b ? s.n : s.k, b_cols = s.transpose_b ? s.k : s.n;
  const std::int64_t lda = a_cols + 3, ldb = b_cols + 3, ldc = s.n + 3;
  const auto a = normals<Scalar>(1, static_cast<std::size_t>(a_rows * lda));
  const auto b = normals<Scalar>(2, static_cast<std::size_t>(b_rows * ldb));
  auto c = normals<Scalar>(3, static_cast<std::size_t>(s.m * ldc));
  const auto c0 = c;
  cpu::gemm(s.transpose_a, s.transpose_b, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  double worst = 0.0;
  std::vector<Scalar> out(static_cast<std::size_t>(s.m * s.n));
  for (std::int64_t i = 0; i < s.m; ++i)
    for (std::int64_t j = 0; j < s.n; ++j) {
      double exact = 0.0, scale = 0.0;
      for (std::int64_t l = 0; l < s.k; ++l) {
        const auto x = static_cast<double>(s.transpose_a ? a[l * lda + i] : a[i * lda + l]);
        const auto y = static_cast<double>(s.transpose_b ? b[j * ldb + l] : b[l * ldb + j]);
        exact += x * y;
        scale += std::abs(x * y);
      }
      const auto before = static_cast<double>(c0[i * ldc + j]);
      const auto alpha_d = static_cast<double>(alpha), beta_d = static_cast<double>(beta);
      exact = alpha_d * exact + (beta == Scalar(0) ? 0.0 : beta_d * before);
      scale = std::abs(alpha_d) * scale + std::abs(beta_d * before) + 1e-300;
      worst = std::max(worst, std::abs(static_cast<double>(c[i * ldc + j]) - exact) / scale);
      out[i * s.n + j] = c[i * ldc + j];
    }
  // The padding columns of C are never written.
  for (std::int64_t i = 0; i < s.m; ++i)
    for (std::int64_t j = s.n; j < ldc; ++j) REQUIRE(c[i * ldc + j] == c0[i * ldc + j]);
  return {out, worst};
}

}  // namespace

TEST_CASE("Every GEMM engine computes alpha op(A) op(B) + beta C on the trainer's shapes", "[models][gemm]") {
  std::cout << "seed " << kSeed << "\n";
  const cpu::GemmEngine original = cpu::active_gemm_engine();
  for (const cpu::GemmEngine engine :
       {cpu::GemmEngine::openblas, cpu::GemmEngine::eigen_avx512, cpu::GemmEngine::onednn}) {
    if (!cpu::gemm_engine_supported(engine)) {
      std::cout << "GEMM engine " << cpu::gemm_engine_name(engine) << " not supported on this CPU or build: skipped\n";
      continue;
    }
    double worst_float = 0.0, worst_double = 0.0;
    for (const Shape& s : shapes())
      for (const auto& [alpha, beta] : {std::pair{1.0, 0.0}, std::pair{0.75, 1.0}, std::pair{-1.5, 0.5}}) {
        INFO(cpu::gemm_engine_name(engine) << " m " << s.m << " n " << s.n << " k " << s.k << " transposes "
                                           << s.transpose_a << s.transpose_b << " alpha " << alpha << " beta " << beta);
        worst_float =
            std::max(worst_float, run<float>(engine, s, static_cast<float>(alpha), static_cast<float>(beta)).second);
        worst_double = std::max(worst_double, run<double>(engine, s, alpha, beta).second);
      }
    std::cout << cpu::gemm_engine_name(engine) << ": worst error / (sum |a b| + |beta c|): float " << worst_float
              << ", double " << worst_double << "\n";
    // Any summation order of k ≤ 1024 terms errs by at most ~k·u of that scale; observed errors are far
    // smaller. u = 2^-24 (float), 2^-53 (double); the bounds allow 64 u.
    REQUIRE(worst_float < 64.0 * 0x1.0p-24);
    REQUIRE(worst_double < 64.0 * 0x1.0p-53);
  }
  cpu::force_gemm_engine(original);
}

TEST_CASE("The chunked GEMM engines give the same bits with 1 and 2 threads", "[models][gemm]") {
  const cpu::GemmEngine original = cpu::active_gemm_engine();
  for (const cpu::GemmEngine engine : {cpu::GemmEngine::eigen_avx512, cpu::GemmEngine::onednn}) {
    if (!cpu::gemm_engine_supported(engine)) {
      std::cout << "GEMM engine " << cpu::gemm_engine_name(engine) << " not supported on this CPU or build: skipped\n";
      continue;
    }
    for (const Shape& s : shapes()) {
      cpu::set_thread_count(1);
      const auto one = run<float>(engine, s, 1.0f, 1.0f).first;
      cpu::set_thread_count(2);
      const auto two = run<float>(engine, s, 1.0f, 1.0f).first;
      INFO(cpu::gemm_engine_name(engine) << " m " << s.m << " n " << s.n << " k " << s.k);
      REQUIRE(one == two);
    }
  }
  cpu::set_thread_count(1);
  cpu::force_gemm_engine(original);
}

TEST_CASE("MUELAB_GEMM names an engine or fails with the accepted values", "[models][gemm]") {
  REQUIRE(cpu::gemm_engine_from_name("openblas") == cpu::GemmEngine::openblas);
  const cpu::GemmEngine expected_auto = cpu::gemm_engine_supported(cpu::GemmEngine::onednn) ? cpu::GemmEngine::onednn
                                        : cpu::gemm_engine_supported(cpu::GemmEngine::eigen_avx512)
                                            ? cpu::GemmEngine::eigen_avx512
                                            : cpu::GemmEngine::openblas;
  REQUIRE(cpu::gemm_engine_from_name("auto") == expected_auto);
  REQUIRE_THROWS_WITH(cpu::gemm_engine_from_name("mkl"),
                      Catch::Matchers::Contains("MUELAB_GEMM") &&
                          Catch::Matchers::Contains("accepted: auto, openblas, eigen-avx512, onednn"));
  if (!cpu::gemm_engine_supported(cpu::GemmEngine::eigen_avx512))
    REQUIRE_THROWS_WITH(cpu::gemm_engine_from_name("eigen-avx512"), Catch::Matchers::Contains("AVX-512"));
  if (cpu::gemm_engine_supported(cpu::GemmEngine::onednn))
    REQUIRE(cpu::gemm_engine_from_name("onednn") == cpu::GemmEngine::onednn);
  else
    REQUIRE_THROWS_WITH(cpu::gemm_engine_from_name("onednn"), Catch::Matchers::Contains("libdnnl-dev"));
}
