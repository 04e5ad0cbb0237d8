#include "muelab/models/cpu/blas.hpp"

#include "gemm_avx512.hpp"
#include "muelab/models/cpu/vector_kernels.hpp"

#include <cblas.h>
#ifdef MUELAB_HAVE_ONEDNN
#include <dnnl.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <type_traits>

// OpenBLAS's pthread build: stops its worker threads (they are restarted on demand).
extern "C" [[gnu::weak]] int blas_thread_shutdown_(void);

namespace muelab::models::cpu {
namespace {
CBLAS_TRANSPOSE trans(bool t) { return t ? CblasTrans : CblasNoTrans; }
blasint to_blas(std::int64_t v) { return static_cast<blasint>(v); }

void openblas_gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                   const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                   std::int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans(transpose_a), trans(transpose_b), to_blas(m), to_blas(n), to_blas(k), alpha, a,
              to_blas(lda), b, to_blas(ldb), beta, c, to_blas(ldc));
}
void openblas_gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                   const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
                   std::int64_t ldc) {
  cblas_dgemm(CblasRowMajor, trans(transpose_a), trans(transpose_b), to_blas(m), to_blas(n), to_blas(k), alpha, a,
              to_blas(lda), b, to_blas(ldb), beta, c, to_blas(ldc));
}

GemmEngine& engine() {
  static GemmEngine chosen = [] {
    const char* name = std::getenv("MUELAB_GEMM");  // checked up front by the CLI (cli/main.cpp)
    return gemm_engine_from_name(name == nullptr ? "auto" : name);
  }();
  return chosen;
}

#ifdef MUELAB_HAVE_ONEDNN
/// oneDNN's sgemm (row-major) on the calling thread only: it sizes its own OpenMP team from the caller's
/// nthreads ICV, so that is 1 for the call (restored after); the chunks below are what runs in parallel.
void onednn_gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                 const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                 std::int64_t ldc) {
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  const dnnl_status_t status =
      dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  if (status != dnnl_success)
    throw std::runtime_error("oneDNN dnnl_sgemm failed (status " + std::to_string(status) + ")");
}
#endif

/// One engine's single-threaded call on a block of C (the chunks of chunked_gemm).
template <class Scalar>
void engine_call(GemmEngine which, bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
                 Scalar alpha, const Scalar* a, std::int64_t lda, const Scalar* b, std::int64_t ldb, Scalar beta,
                 Scalar* c, std::int64_t ldc) {
#ifdef MUELAB_HAVE_ONEDNN
  if constexpr (std::is_same_v<Scalar, float>) {
    if (which == GemmEngine::onednn)
      return onednn_gemm(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
#endif
  (void)which;
  avx512::gemm(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/// The chunked engines (eigen-avx512, onednn): the larger output dimension in at most 8 chunks of at least 256 (a
/// multiple of 64), fixed by the shape alone, so every output element comes from the same single-threaded call whatever
/// the thread count (bit-identical results for 1 and 2 threads). With more than one chunk and more than one thread the
/// chunks run in parallel; otherwise in a plain loop (an OpenMP region costs microseconds, a d = 32 expert product ~7).
/// Against one call at d = 32 on one thread, chunks of 64 in an OpenMP region cost 7–25%, this 0–3%
/// (bench/models/results.md).
template <class Scalar>
void chunked_gemm(GemmEngine which, bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
                  Scalar alpha, const Scalar* a, std::int64_t lda, const Scalar* b, std::int64_t ldb, Scalar beta,
                  Scalar* c, std::int64_t ldc) {
  const bool split_rows = m >= n;
  const std::int64_t extent = split_rows ? m : n;
  const std::int64_t chunk = std::max<std::int64_t>(256, (extent + 8 * 64 - 1) / (8 * 64) * 64);
  const std::int64_t chunks = (extent + chunk - 1) / chunk;
  const auto one_chunk = [&](std::int64_t i) {
    const std::int64_t first = i * chunk, size = std::min(chunk, extent - first);
    if (split_rows) {
      const Scalar* a_rows = transpose_a ? a + first : a + first * lda;  // rows of op(A)
      engine_call(which, transpose_a, transpose_b, size, n, k, alpha, a_rows, lda, b, ldb, beta, c + first * ldc, ldc);
    } else {
      const Scalar* b_cols = transpose_b ? b + first * ldb : b + first;  // columns of op(B)
      engine_call(which, transpose_a, transpose_b, m, size, k, alpha, a, lda, b_cols, ldb, beta, c + first, ldc);
    }
  };
#ifdef _OPENMP
  if (chunks > 1 && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < chunks; ++i) one_chunk(i);
    return;
  }
#endif
  for (std::int64_t i = 0; i < chunks; ++i) one_chunk(i);
}

}  // namespace

GemmEngine gemm_engine_from_name(const std::string& name) {
  if (name == "auto" || name.empty()) {
    if (gemm_engine_supported(GemmEngine::onednn)) return GemmEngine::onednn;
    return gemm_engine_supported(GemmEngine::eigen_avx512) ? GemmEngine::eigen_avx512 : GemmEngine::openblas;
  }
  if (name == "openblas") return GemmEngine::openblas;
  if (name == "eigen-avx512") {
    if (!gemm_engine_supported(GemmEngine::eigen_avx512))
      throw std::invalid_argument("MUELAB_GEMM: eigen-avx512 needs a CPU with AVX-512 F/DQ/VL/BW");
    return GemmEngine::eigen_avx512;
  }
  if (name == "onednn") {
    if (!gemm_engine_supported(GemmEngine::onednn))
      throw std::invalid_argument(
          "MUELAB_GEMM: onednn is not in this build (GCC with Debian's libdnnl-dev at configure time)");
    return GemmEngine::onednn;
  }
  throw std::invalid_argument("MUELAB_GEMM: unknown engine '" + name +
                              "' (accepted: auto, openblas, eigen-avx512, onednn)");
}

bool gemm_engine_supported(GemmEngine engine) {
  switch (engine) {
    case GemmEngine::openblas: return true;
    case GemmEngine::eigen_avx512: return vk::isa_supported(vk::Isa::avx512);
    case GemmEngine::onednn:
#ifdef MUELAB_HAVE_ONEDNN
      return true;
#else
      return false;
#endif
  }
  return false;
}

std::string gemm_engine_name(GemmEngine engine) {
  switch (engine) {
    case GemmEngine::openblas: return "openblas";
    case GemmEngine::eigen_avx512: return "eigen-avx512";
    case GemmEngine::onednn: return "onednn";
  }
  return "openblas";
}

GemmEngine active_gemm_engine() { return engine(); }

void force_gemm_engine(GemmEngine chosen) {
  if (!gemm_engine_supported(chosen))
    throw std::invalid_argument("force_gemm_engine: this CPU or build cannot run " + gemm_engine_name(chosen));
  engine() = chosen;
}

void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
          const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  const GemmEngine which = engine();
  if (which == GemmEngine::openblas)
    openblas_gemm(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    chunked_gemm(which, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

GemmEngine gemm_engine_for(bool double_precision) {
  const GemmEngine which = engine();
  if (!double_precision || which != GemmEngine::onednn) return which;
  return gemm_engine_supported(GemmEngine::eigen_avx512) ? GemmEngine::eigen_avx512 : GemmEngine::openblas;
}

/// The double products (gradient checks, dtype = "double") on gemm_engine_for(true).
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
          std::int64_t ldc) {
  if (gemm_engine_for(true) == GemmEngine::eigen_avx512)
    chunked_gemm(GemmEngine::eigen_avx512, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    openblas_gemm(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void set_thread_count(int threads) {
  openblas_set_num_threads(threads);
  // OpenBLAS's pthread build starts one worker per core when it is loaded, and each spins (sched_yield)
  // for its timeout before sleeping: about 0.14 s of a second core per process, which two runs of a
  // sweep side by side take from each other (bench/models/results.md). One thread needs no worker:
  // stop them. OpenBLAS starts them again at its next threaded call (exec_blas_async); the symbol is
  // weak because OpenBLAS's serial and OpenMP builds do not have it.
  if (threads == 1 && blas_thread_shutdown_ != nullptr) blas_thread_shutdown_();
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
  Eigen::setNbThreads(1);  // attention's small products run inside our own OpenMP loop
}

}  // namespace muelab::models::cpu
