// CUDA parity suite, grouped GEMM stage (models/cuda/src/grouped_gemm.cu): the cuBLAS GEMMs against
// the CPU GEMM, the grouped GEMM's tile schedule emulated on the host against direct loops, and the
// grouped expert GEMMs over device offsets against the CPU's per-expert GEMMs. Fixtures:
// parity_fixtures.hpp (the expert segments are shared with the permutation tests).
#include "parity_fixtures.hpp"

#include "muelab/models/cpu/blas.hpp"
#include "muelab/models/shared/grouped_gemm.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace cpu = muelab::models::cpu;

TEMPLATE_TEST_CASE("cuda parity: per-expert GEMMs (cuBLAS) against the CPU GEMM", "[cuda][parity]", float, double) {
  using T = TestType;
  const index_t rows = 41, d = 23, h = 19;  // odd sizes; transposed variants as the backward uses them
  const auto x = draws<T>(static_cast<std::size_t>(rows * d), 10), w = draws<T>(static_cast<std::size_t>(d * h), 11);
  const auto dz = draws<T>(static_cast<std::size_t>(rows * h), 12);
  std::vector<T> z(static_cast<std::size_t>(rows * h)), dx(static_cast<std::size_t>(rows * d)),
      dw(static_cast<std::size_t>(d * h));
  cpu::gemm(false, false, rows, h, d, T(0.5), x.data(), d, w.data(), h, T(0), z.data(), h);
  cpu::gemm(false, true, rows, d, h, T(0.5), dz.data(), h, w.data(), h, T(0), dx.data(), d);
  cpu::gemm(true, false, d, h, rows, T(0.5), x.data(), d, dz.data(), h, T(0), dw.data(), h);
  mc::DeviceArray<T> gx(x), gw(w), gdz(dz), gz(z.size()), gdx(dx.size()), gdw(dw.size());
  mc::Blas blas;
  blas.gemm(false, false, rows, h, d, T(0.5), gx.data(), d, gw.data(), h, T(0), gz.data(), h);
  blas.gemm(false, true, rows, d, h, T(0.5), gdz.data(), h, gw.data(), h, T(0), gdx.data(), d);
  blas.gemm(true, false, d, h, rows, T(0.5), gx.data(), d, gdz.data(), h, T(0), gdw.data(), h);
  mc::synchronize();
  CHECK_PARITY(gz.download(), z, tolerance<T>());
  CHECK_PARITY(gdx.download(), dx, tolerance<T>());
  CHECK_PARITY(gdw.download(), dw, tolerance<T>());
}

namespace {

/// Direct triple loops of the grouped products (the reference): rows-grouped C = α·A·op(B_g) + β·C and
/// k-grouped C_g = α·A_gᵀ·B_g + β·C_g.
template <class T>
void reference_rows(const std::vector<index_t>& off, bool tb, index_t n, index_t k, T alpha, const std::vector<T>& a,
                    const std::vector<std::vector<T>>& b, T beta, std::vector<T>& c) {
  for (std::size_t g = 0; g + 1 < off.size(); ++g)
    for (index_t r = off[g]; r < off[g + 1]; ++r)
      for (index_t j = 0; j < n; ++j) {
        T sum(0);
        for (index_t q = 0; q < k; ++q)
          sum += a[static_cast<std::size_t>(r * k + q)] *
                 (tb ? b[g][static_cast<std::size_t>(j * k + q)] : b[g][static_cast<std::size_t>(q * n + j)]);
        auto& out = c[static_cast<std::size_t>(r * n + j)];
        out = alpha * sum + beta * out;
      }
}
template <class T>
void reference_reduce(const std::vector<index_t>& off, index_t m, index_t n, T alpha, const std::vector<T>& a,
                      const std::vector<T>& b, T beta, std::vector<std::vector<T>>& c) {
  for (std::size_t g = 0; g + 1 < off.size(); ++g)
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) {
        T sum(0);
        for (index_t r = off[g]; r < off[g + 1]; ++r)
          sum += a[static_cast<std::size_t>(r * m + i)] * b[static_cast<std::size_t>(r * n + j)];
        auto& out = c[g][static_cast<std::size_t>(i * n + j)];
        out = alpha * sum + beta * out;
      }
}

}  // namespace

TEMPLATE_TEST_CASE("cuda host: grouped GEMM tile schedule (the CUDA kernel phases) against direct loops",
                   "[cuda][host]", float, double) {
  using T = TestType;
  std::printf("cuda host grouped GEMM: seed %llu\n", static_cast<unsigned long long>(kSeed));
  const auto off = segment_offsets(kSegmentRows);
  const auto G = static_cast<index_t>(kSegmentRows.size());
  const index_t total = off.back(), spare = 9;  // buffers one tile-fraction longer than the kept rows
  const index_t d = 37, h = 70;                 // odd, one more than a tile of columns
  const T alpha = T(0.75), beta = T(0.5);
  const auto x = draws<T>(static_cast<std::size_t>((total + spare) * d), 31);
  const auto dz = draws<T>(static_cast<std::size_t>((total + spare) * h), 32);
  std::vector<std::vector<T>> w(static_cast<std::size_t>(G)), w_t(static_cast<std::size_t>(G));
  for (index_t g = 0; g < G; ++g) {
    w[static_cast<std::size_t>(g)] = draws<T>(static_cast<std::size_t>(d * h), 40 + static_cast<std::uint64_t>(g));
    w_t[static_cast<std::size_t>(g)] = draws<T>(static_cast<std::size_t>(h * d), 60 + static_cast<std::uint64_t>(g));
  }
  const auto tol = tolerance<T>();
  SECTION("rows-grouped, B not transposed (z = x·W_e), beta = 0 leaves rows past the kept ones untouched") {
    std::vector<T> got(static_cast<std::size_t>((total + spare) * h), T(-7)), want = got;
    std::vector<const T*> table;
    for (const auto& m : w) table.push_back(m.data());
    sh::GroupedGemmArgs<T> args;
    args.groups = G;
    args.offsets = off.data();
    args.n = h;
    args.k = d;
    args.alpha = alpha;
    args.a = x.data();
    args.lda = d;
    args.b_table = table.data();
    args.ldb = h;
    args.c = got.data();
    args.ldc = h;
    sh::grouped_gemm_emulate<T, false, false>(args, total + spare);
    reference_rows(off, false, h, d, alpha, x, w, T(0), want);
    CHECK_PARITY(got, want, tol);
    for (auto i = static_cast<std::size_t>(total * h); i < got.size(); ++i) REQUIRE(got[i] == T(-7));
  }
  SECTION("rows-grouped, B transposed (dx = dz·W_eᵀ), beta ≠ 0 accumulates") {
    std::vector<T> got = draws<T>(static_cast<std::size_t>(total * d), 33), want = got;
    std::vector<const T*> table;
    for (const auto& m : w) table.push_back(m.data());  // W_e is d × h: op(B) = W_eᵀ (h × d)
    sh::GroupedGemmArgs<T> args;
    args.groups = G;
    args.offsets = off.data();
    args.n = d;
    args.k = h;
    args.alpha = alpha;
    args.beta = beta;
    args.a = dz.data();
    args.lda = h;
    args.b_table = table.data();
    args.ldb = h;
    args.c = got.data();
    args.ldc = d;
    sh::grouped_gemm_emulate<T, false, true>(args, total);
    reference_rows(off, true, d, h, alpha, dz, w, beta, want);
    CHECK_PARITY(got, want, tol);
  }
  SECTION("k-grouped (dW_e += xᵀ·dz over the expert's rows); an empty expert keeps beta·C") {
    std::vector<std::vector<T>> got(static_cast<std::size_t>(G));
    for (index_t g = 0; g < G; ++g)
      got[static_cast<std::size_t>(g)] = draws<T>(static_cast<std::size_t>(d * h), 80 + static_cast<std::uint64_t>(g));
    auto want = got;
    std::vector<T*> table;
    for (auto& m : got) table.push_back(m.data());
    sh::GroupedGemmArgs<T> args;
    args.groups = G;
    args.offsets = off.data();
    args.m = d;
    args.n = h;
    args.alpha = alpha;
    args.beta = T(1);
    args.a = x.data();
    args.lda = d;
    args.b = dz.data();
    args.ldb = h;
    args.c_table = table.data();
    args.ldc = h;
    sh::grouped_gemm_emulate<T, true, false>(args, 0);
    reference_reduce(off, d, h, alpha, x, dz, T(1), want);
    for (std::size_t g = 0; g < got.size(); ++g) {
      CAPTURE(g);
      CHECK_PARITY(got[g], want[g], tol);
    }
    CHECK(got[0] == want[0]);  // the empty expert: unchanged bit for bit
  }
}

TEMPLATE_TEST_CASE("cuda parity: grouped expert GEMMs over device offsets against the CPU GEMM per expert",
                   "[cuda][parity]", float, double) {
  using T = TestType;
  const auto off = segment_offsets(kSegmentRows);
  const auto G = static_cast<index_t>(kSegmentRows.size());
  const index_t total = off.back(), d = 37, h = 70;
  const auto x = draws<T>(static_cast<std::size_t>(total * d), 34);
  const auto dz = draws<T>(static_cast<std::size_t>(total * h), 35);
  std::vector<T> w_all = draws<T>(static_cast<std::size_t>(G * d * h), 36);
  std::vector<T> z(static_cast<std::size_t>(total * h), T(0)), dx(static_cast<std::size_t>(total * d), T(0));
  std::vector<T> dw = draws<T>(w_all.size(), 37);  // accumulated into (beta = 1)
  const std::vector<T> dw0 = dw;
  for (index_t g = 0; g < G; ++g) {  // the CPU backend's per-expert GEMMs
    const index_t r0 = off[static_cast<std::size_t>(g)], rows = off[static_cast<std::size_t>(g) + 1] - r0;
    if (rows == 0) continue;
    const T* wg = w_all.data() + g * d * h;
    cpu::gemm(false, false, rows, h, d, T(0.5), x.data() + r0 * d, d, wg, h, T(0), z.data() + r0 * h, h);
    cpu::gemm(false, true, rows, d, h, T(0.5), dz.data() + r0 * h, h, wg, h, T(0), dx.data() + r0 * d, d);
    cpu::gemm(true, false, d, h, rows, T(0.5), x.data() + r0 * d, d, dz.data() + r0 * h, h, T(1), dw.data() + g * d * h,
              h);
  }
  mc::DeviceArray<T> gx(x), gdz(dz), gw(w_all), gz(z.size()), gdx(dx.size()), gdw(dw0);
  mc::DeviceArray<index_t> goff(off);
  std::vector<T*> w_ptr, dw_ptr;
  for (index_t g = 0; g < G; ++g) {
    w_ptr.push_back(gw.data() + g * d * h);
    dw_ptr.push_back(gdw.data() + g * d * h);
  }
  mc::DeviceArray<T*> w_table(w_ptr), dw_table(dw_ptr);
  mc::grouped_gemm_rows(false, G, goff.data(), total, h, d, T(0.5), gx.data(), d, w_table.data(), h, T(0), gz.data(),
                        h);
  mc::grouped_gemm_rows(true, G, goff.data(), total, d, h, T(0.5), gdz.data(), h, w_table.data(), h, T(0), gdx.data(),
                        d);
  mc::grouped_gemm_reduce(G, goff.data(), d, h, T(0.5), gx.data(), d, gdz.data(), h, T(1), dw_table.data(), h);
  mc::synchronize();
  CHECK_PARITY(gz.download(), z, tolerance<T>());
  CHECK_PARITY(gdx.download(), dx, tolerance<T>());
  CHECK_PARITY(gdw.download(), dw, tolerance<T>());
}
