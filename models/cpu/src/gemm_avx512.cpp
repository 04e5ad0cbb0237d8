// Eigen's GEMM built for AVX-512 (x86-64-v4), for the trainer's products on CPUs that have it
// (blas.cpp picks the engine; docs/development.md §1). On the trainer's shapes it runs 1.6–2.0× the
// OpenBLAS kernels this machine's environment selects (bench/models/results.md, "GEMM engine").
//
// This file alone is compiled with AVX-512 flags (models/cpu/CMakeLists.txt). Every inline function
// it instantiates would otherwise share a name with the baseline build of the same function elsewhere
// in the program, and the linker would keep one of the two: AVX-512 code on a CPU without it, or
// baseline code here. So Eigen is included under another namespace name (the macro below renames the
// token `Eigen` in its headers), this file includes nothing else that defines inline functions, and
// tests/models checks that its object file defines no weak symbol outside that namespace.
#define Eigen muelab_eigen_avx512
#define EIGEN_DONT_PARALLELIZE  // blas.cpp splits the work; Eigen's own OpenMP split would depend on it
#include <Eigen/Core>

#include "gemm_avx512.hpp"

namespace muelab::models::cpu::avx512 {

namespace {

template <class Scalar>
using RowMajor = muelab_eigen_avx512::Matrix<Scalar, muelab_eigen_avx512::Dynamic, muelab_eigen_avx512::Dynamic,
                                             muelab_eigen_avx512::RowMajor>;
template <class Scalar>
using ConstMap = muelab_eigen_avx512::Map<const RowMajor<Scalar>, muelab_eigen_avx512::Unaligned,
                                          muelab_eigen_avx512::OuterStride<>>;
template <class Scalar>
using MutableMap =
    muelab_eigen_avx512::Map<RowMajor<Scalar>, muelab_eigen_avx512::Unaligned, muelab_eigen_avx512::OuterStride<>>;

/// C = alpha · op(A) · op(B) + beta · C (row-major, leading dimensions), one thread.
template <class Scalar>
void gemm_impl(bool transpose_a, bool transpose_b, long m, long n, long k, Scalar alpha, const Scalar* a, long lda,
               const Scalar* b, long ldb, Scalar beta, Scalar* c, long ldc) {
  const ConstMap<Scalar> a_map(a, transpose_a ? k : m, transpose_a ? m : k, muelab_eigen_avx512::OuterStride<>(lda));
  const ConstMap<Scalar> b_map(b, transpose_b ? n : k, transpose_b ? k : n, muelab_eigen_avx512::OuterStride<>(ldb));
  MutableMap<Scalar> c_map(c, m, n, muelab_eigen_avx512::OuterStride<>(ldc));
  if (beta == Scalar(0))
    c_map.setZero();
  else if (beta != Scalar(1))
    c_map *= beta;
  if (transpose_a && transpose_b)
    c_map.noalias() += alpha * (a_map.transpose() * b_map.transpose());
  else if (transpose_a)
    c_map.noalias() += alpha * (a_map.transpose() * b_map);
  else if (transpose_b)
    c_map.noalias() += alpha * (a_map * b_map.transpose());
  else
    c_map.noalias() += alpha * (a_map * b_map);
}

}  // namespace

void gemm(bool transpose_a, bool transpose_b, long m, long n, long k, float alpha, const float* a, long lda,
          const float* b, long ldb, float beta, float* c, long ldc) {
  gemm_impl(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool transpose_a, bool transpose_b, long m, long n, long k, double alpha, const double* a, long lda,
          const double* b, long ldb, double beta, double* c, long ldc) {
  gemm_impl(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace muelab::models::cpu::avx512
