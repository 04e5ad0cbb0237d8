// GEMM engines on the trainer's own shapes (bench/models/results.md, "GEMM engine"): OpenBLAS (cblas)
// against libxsmm's BLAS-compatible libxsmm_sgemm (Debian libxsmm-dev), row-major, one thread, for the
// forward, dX and dW products at d = 32, 64, 128 (1024 tokens; 256 rows per expert). Prints GFLOP/s
// (best of 5 timings) and the largest difference between the two results. Built only when libxsmm
// is found. Usage: OPENBLAS_NUM_THREADS=1 bench_models_gemm_shapes
#include <cblas.h>
#include <libxsmm.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

/// C (m × n) = alpha · op(A) · op(B) + beta · C, row-major.
struct Shape {
  std::string name;
  bool transpose_a, transpose_b;
  int m, n, k;
  float beta;
};

void openblas(const Shape& s, const float* a, const float* b, float* c, float alpha) {
  const int lda = s.transpose_a ? s.m : s.k, ldb = s.transpose_b ? s.k : s.n;
  cblas_sgemm(CblasRowMajor, s.transpose_a ? CblasTrans : CblasNoTrans, s.transpose_b ? CblasTrans : CblasNoTrans, s.m,
              s.n, s.k, alpha, a, lda, b, ldb, s.beta, c, s.n);
}

/// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands, keep the flags.
void xsmm(const Shape& s, const float* a, const float* b, float* c, float alpha) {
  const libxsmm_blasint lda = s.transpose_a ? s.m : s.k, ldb = s.transpose_b ? s.k : s.n, ldc = s.n;
  const libxsmm_blasint m = s.m, n = s.n, k = s.k;
  const char ta = s.transpose_a ? 't' : 'n', tb = s.transpose_b ? 't' : 'n';
  const float beta = s.beta;
  libxsmm_sgemm(&tb, &ta, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc);
}

template <class F>
double best_seconds(F f, int repeats) {
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < repeats; ++i) f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / repeats);
  }
  return best;
}

std::vector<Shape> trainer_shapes() {
  std::vector<Shape> shapes;
  for (const int d : {32, 64, 128}) {
    const int tokens = 1024, rows = 256;  // rows per expert: tokens · a / N with a = 2, N = 8
    const auto add = [&](const char* what, bool ta, bool tb, int m, int n, int k, float beta) {
      shapes.push_back({"d" + std::to_string(d) + " " + what, ta, tb, m, n, k, beta});
    };
    add("qkv forward  NN", false, false, tokens, 3 * d, d, 0.f);
    add("qkv dX       NT", false, true, tokens, d, 3 * d, 0.f);
    add("qkv dW       TN", true, false, d, 3 * d, tokens, 1.f);
    add("ffn down     NN", false, false, tokens, d, 4 * d, 0.f);
    add("expert up    NN", false, false, rows, 2 * d, d, 0.f);
    add("expert dX    NT", false, true, rows, d, 2 * d, 0.f);
    add("expert dW    TN", true, false, d, 2 * d, rows, 1.f);
    add("head         NN", false, false, tokens, 96, d, 0.f);
  }
  return shapes;
}

}  // namespace

int main() {
  libxsmm_init();
  std::mt19937 generator(1);
  std::normal_distribution<float> normal;
  std::printf("%-20s %5s %5s %5s %10s %10s %10s\n", "shape", "m", "n", "k", "openblas", "libxsmm", "max diff");
  for (const auto& s : trainer_shapes()) {
    std::vector<float> a(static_cast<std::size_t>(s.m) * s.k), b(static_cast<std::size_t>(s.k) * s.n);
    std::vector<float> c_blas(static_cast<std::size_t>(s.m) * s.n, 0.f), c_xsmm = c_blas;
    for (auto& x : a) x = normal(generator);
    for (auto& x : b) x = normal(generator);
    openblas(s, a.data(), b.data(), c_blas.data(), 0.5f);
    xsmm(s, a.data(), b.data(), c_xsmm.data(), 0.5f);
    double diff = 0.0;
    for (std::size_t i = 0; i < c_blas.size(); ++i)
      diff = std::max(diff, static_cast<double>(std::abs(c_blas[i] - c_xsmm[i])));
    const double flops = 2.0 * s.m * s.n * s.k;
    const int repeats = std::max(1, static_cast<int>(2e8 / flops));
    const double t_blas = best_seconds([&] { openblas(s, a.data(), b.data(), c_blas.data(), 0.5f); }, repeats);
    const double t_xsmm = best_seconds([&] { xsmm(s, a.data(), b.data(), c_xsmm.data(), 0.5f); }, repeats);
    std::printf("%-20s %5d %5d %5d %10.1f %10.1f %10.2g\n", s.name.c_str(), s.m, s.n, s.k, flops / t_blas / 1e9,
                flops / t_xsmm / 1e9, diff);
  }
  libxsmm_finalize();
  return 0;
}
