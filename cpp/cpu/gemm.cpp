// CPU matrix products through OpenBLAS (the scipy-openblas32 build, whose symbols carry a
// scipy_ prefix).
#include <cblas.h>

#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

namespace {
blasint checked(int64_t v, const char* what) {
  MD_CHECK(v <= INT32_MAX, ValueError, "gemm: ", what, " = ", v, " exceeds the 32-bit BLAS limit");
  return static_cast<blasint>(v);
}
}  // namespace

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  scipy_cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, checked(M, "M"),
                    checked(N, "N"), checked(K, "K"), alpha, A, checked(lda, "lda"), B, checked(ldb, "ldb"), beta, C,
                    checked(ldc, "ldc"));
}

void gemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc,
                  int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  // Small products are faster spread over threads one whole matrix each; large ones let
  // OpenBLAS thread inside each product.
  const double flops = 2.0 * M * N * K;
  if (flops >= 4e6 || batch == 1) {
    for (int64_t b = 0; b < batch; ++b)
      gemm(ta, tb, M, N, K, alpha, A + b * sa, lda, B + b * sb, ldb, beta, C + b * sc, ldc);
    return;
  }
  scipy_cblas_sgemm_batch_strided(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                                  checked(M, "M"), checked(N, "N"), checked(K, "K"), alpha, A, checked(lda, "lda"),
                                  checked(sa, "stride_a"), B, checked(ldb, "ldb"), checked(sb, "stride_b"), beta, C,
                                  checked(ldc, "ldc"), checked(sc, "stride_c"), checked(batch, "batch"));
}

}  // namespace md::cpu
