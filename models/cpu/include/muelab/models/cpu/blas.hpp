// Row-major matrices and the one GEMM entry point of the CPU reference backend. Every large matrix
// product goes through `matmul` and `gemm`, which call one of three engines (docs/development.md §1):
//  * onednn — oneDNN's sgemm, in builds that found Debian's libdnnl-dev (GCC only): the default there
//    for float (1.1–1.4× eigen-avx512 on the trainer's shapes, bench/models/results.md);
//  * eigen-avx512 — Eigen's GEMM built for AVX-512, on CPUs that have it (the default there otherwise:
//    1.6–2.0× OpenBLAS); with onednn, the output is cut into chunks fixed by the shape alone, each chunk
//    one single-threaded call, and the chunks run in parallel;
//  * openblas — cblas, everywhere else; OpenBLAS splits a GEMM over output blocks.
// Either way each dot product's reduction order is fixed, so results do not depend on the thread count
// (checked by the determinism tests); the engines round differently. MUELAB_GEMM=openblas (or
// eigen-avx512, onednn, or auto) overrides the choice.
#pragma once

#include <Eigen/Dense>

#include <cstdint>
#include <string>

namespace muelab::models::cpu {

template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

enum class GemmEngine { openblas, eigen_avx512, onednn };
[[nodiscard]] bool gemm_engine_supported(GemmEngine engine);
[[nodiscard]] std::string gemm_engine_name(GemmEngine engine);  ///< "openblas", "eigen-avx512", "onednn"
/// The engine in use: MUELAB_GEMM if set (an unknown name throws, naming the accepted ones), else
/// onednn where the build has it, else eigen-avx512 where the CPU has AVX-512, else openblas.
[[nodiscard]] GemmEngine active_gemm_engine();
/// The engine that runs float (double_precision false) or double products: active_gemm_engine(),
/// except that oneDNN has no double GEMM, so under onednn the double products use eigen-avx512 where
/// the CPU has AVX-512, else OpenBLAS.
[[nodiscard]] GemmEngine gemm_engine_for(bool double_precision);
/// The engine a MUELAB_GEMM value names: "auto" (or empty) picks as above; an unknown name, or an
/// engine this CPU cannot run, throws std::invalid_argument naming MUELAB_GEMM and the accepted values.
[[nodiscard]] GemmEngine gemm_engine_from_name(const std::string& name);
/// For tests and benchmarks: use `engine` from now on (throws if the CPU cannot run it).
void force_gemm_engine(GemmEngine engine);

/// C = alpha · op(A) · op(B) + beta · C on raw row-major storage with leading dimensions.
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc);
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
          std::int64_t ldc);

/// c = alpha · op(a) · op(b) + beta · c (c must already have the right shape when beta != 0;
/// it is resized when beta == 0).
template <class Scalar>
void matmul(Matrix<Scalar>& c, const Matrix<Scalar>& a, bool transpose_a, const Matrix<Scalar>& b, bool transpose_b,
            Scalar alpha = Scalar(1), Scalar beta = Scalar(0)) {
  const auto m = transpose_a ? a.cols() : a.rows();
  const auto k = transpose_a ? a.rows() : a.cols();
  const auto n = transpose_b ? b.rows() : b.cols();
  if (beta == Scalar(0)) c.resize(m, n);
  if (m == 0 || n == 0) return;
  if (k == 0) {
    c *= beta;
    return;
  }
  gemm(transpose_a, transpose_b, m, n, k, alpha, a.data(), a.cols(), b.data(), b.cols(), beta, c.data(), c.cols());
}

/// Threads used by OpenBLAS and by the backend's own OpenMP loops. With 1, OpenBLAS's idle workers are
/// stopped (they spin for their timeout otherwise; docs/development.md §1).
void set_thread_count(int threads);

}  // namespace muelab::models::cpu
