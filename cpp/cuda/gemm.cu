// CUDA matrix products through cuBLAS. Our matrices are row-major and cuBLAS's column-major: a
// row-major (M, N) matrix is the column-major (N, M) matrix, so C = op(A) op(B) is computed as
// C^T = op(B)^T op(A)^T, i.e. cuBLAS gets B first, A second and the dims (N, M, K).
// md.backends.allow_tf32 picks the compute type per call (CUBLAS_COMPUTE_32F_FAST_TF32 or the exact
// CUBLAS_COMPUTE_32F), so the switch needs no handle state and takes effect at once. The bf16
// matmul mode rounds both operands to bf16 (ties to even, as the CPU does) into scratch copies and
// runs cuBLAS on bf16 inputs with float32 accumulation and output. CUBLAS_COMPUTE_32F_FAST_16BF,
// used before, only allows bf16: on an H200 cuBLAS then picked kernels whose errors were 8 times
// smaller than bf16 rounding gives, so the mode did not do what it says (2026-11-26).
#include <cuda_bf16.h>

#include <climits>

#include "cuda/common.cuh"

namespace md::cuda {

namespace {

int checked(int64_t v, const char* what) {
  MD_CHECK(v >= 0 && v <= INT_MAX, ValueError, "gemm: ", what, " = ", v, " exceeds the 32-bit cuBLAS limit");
  return static_cast<int>(v);
}

// float32 operands (the bf16 mode converts them first and passes CUBLAS_COMPUTE_32F)
cublasComputeType_t compute_type() { return tf32_allowed() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F; }

// ---- kernels

__global__ void to_bf16_kernel(__nv_bfloat16* dst, const float* src, int64_t n) {
  MD_GRID_STRIDE(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

// C (batch, M, N) with row stride ldc and batch stride sc: C = beta * C (exactly 0 when beta is 0,
// even over NaN). This is the product's value when K == 0, which we do not leave to cuBLAS.
__global__ void scale_matrix_kernel(float* C, int64_t M, int64_t N, int64_t ldc, int64_t sc, int64_t batch,
                                    float beta) {
  MD_GRID_STRIDE(i, batch * M * N) {
    const int64_t b = i / (M * N), m = (i / N) % M, n = i % N;
    float* c = C + b * sc + m * ldc + n;
    *c = beta == 0.0f ? 0.0f : beta * *c;
  }
}

void scale_matrix(float* C, int64_t M, int64_t N, int64_t ldc, int64_t sc, int64_t batch, float beta) {
  scale_matrix_kernel<<<grid_for(batch * M * N), kThreads, 0, stream()>>>(C, M, N, ldc, sc, batch, beta);
  MD_CUDA_LAUNCHED("gemm (K = 0)");
}

// The elements a (rows x cols) operand with leading dim ld spans, over `batch` matrices `stride` apart.
int64_t operand_extent(int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch) {
  return (batch - 1) * stride + (rows - 1) * ld + cols;
}

}  // namespace

void round_to_bf16(__nv_bfloat16* dst, const float* src, int64_t n) {
  if (n <= 0) return;
  to_bf16_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dst, src, n);
  MD_CUDA_LAUNCHED("bf16 rounding");
}

void gemm_bf16_operands(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const __nv_bfloat16* A,
                        int64_t lda, int64_t sa, const __nv_bfloat16* B, int64_t ldb, int64_t sb, float beta, float* C,
                        int64_t ldc, int64_t sc, int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  if (K == 0) return scale_matrix(C, M, N, ldc, sc, batch, beta);
  const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (batch == 1) {
    MD_CUBLAS_CHECK(cublasGemmEx(cublas_handle(), opb, opa, checked(N, "N"), checked(M, "M"), checked(K, "K"), &alpha,
                                 B, CUDA_R_16BF, checked(ldb, "ldb"), A, CUDA_R_16BF, checked(lda, "lda"), &beta, C,
                                 CUDA_R_32F, checked(ldc, "ldc"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  } else {
    MD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        cublas_handle(), opb, opa, checked(N, "N"), checked(M, "M"), checked(K, "K"), &alpha, B, CUDA_R_16BF,
        checked(ldb, "ldb"), static_cast<long long>(sb), A, CUDA_R_16BF, checked(lda, "lda"),
        static_cast<long long>(sa), &beta, C, CUDA_R_32F, checked(ldc, "ldc"), static_cast<long long>(sc),
        checked(batch, "batch"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

namespace {

// gemm / gemm_batched in the bf16 mode: the operands rounded into bf16 copies.
void gemm_bf16(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, int64_t sa,
               const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc, int64_t batch) {
  const Bf16Copy a(A, ta ? operand_extent(K, M, lda, sa, batch) : operand_extent(M, K, lda, sa, batch));
  const Bf16Copy b(B, tb ? operand_extent(N, K, ldb, sb, batch) : operand_extent(K, N, ldb, sb, batch));
  gemm_bf16_operands(ta, tb, M, N, K, alpha, a.get(), lda, sa, b.get(), ldb, sb, beta, C, ldc, sc, batch);
}

}  // namespace

// ---- launchers

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_matrix(C, M, N, ldc, 0, 1, beta);
  if (matmul_bf16()) return gemm_bf16(ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
  MD_CUBLAS_CHECK(cublasGemmEx(cublas_handle(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                               checked(N, "N"), checked(M, "M"), checked(K, "K"), &alpha, B, CUDA_R_32F,
                               checked(ldb, "ldb"), A, CUDA_R_32F, checked(lda, "lda"), &beta, C, CUDA_R_32F,
                               checked(ldc, "ldc"), compute_type(), CUBLAS_GEMM_DEFAULT));
}

void gemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc,
                  int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  if (batch == 1) return gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (K == 0) return scale_matrix(C, M, N, ldc, sc, batch, beta);
  if (matmul_bf16()) return gemm_bf16(ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
  MD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      cublas_handle(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, checked(N, "N"), checked(M, "M"),
      checked(K, "K"), &alpha, B, CUDA_R_32F, checked(ldb, "ldb"), static_cast<long long>(sb), A, CUDA_R_32F,
      checked(lda, "lda"), static_cast<long long>(sa), &beta, C, CUDA_R_32F, checked(ldc, "ldc"),
      static_cast<long long>(sc), checked(batch, "batch"), compute_type(), CUBLAS_GEMM_DEFAULT));
}

}  // namespace md::cuda
