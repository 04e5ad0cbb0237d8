// The AVX-512 GEMM of gemm_avx512.cpp: call only when the CPU has AVX-512 F/DQ/VL/BW (blas.cpp checks).
// Row-major, leading dimensions, C = alpha · op(A) · op(B) + beta · C, one thread, no allocation of C.
// A plain declaration header (no includes): the AVX-512 file must not pull in inline functions.
#pragma once

namespace muelab::models::cpu::avx512 {

void gemm(bool transpose_a, bool transpose_b, long m, long n, long k, float alpha, const float* a, long lda,
          const float* b, long ldb, float beta, float* c, long ldc);
void gemm(bool transpose_a, bool transpose_b, long m, long n, long k, double alpha, const double* a, long lda,
          const double* b, long ldb, double beta, double* c, long ldc);

}  // namespace muelab::models::cpu::avx512
