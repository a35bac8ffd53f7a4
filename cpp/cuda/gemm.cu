// CUDA matrix products through cuBLAS. Our matrices are row-major and cuBLAS's column-major: a
// row-major (M, N) matrix is the column-major (N, M) matrix, so C = op(A) op(B) is computed as
// C^T = op(B)^T op(A)^T, i.e. cuBLAS gets B first, A second and the dims (N, M, K).
// md.backends.allow_tf32 and the bf16 matmul mode pick the compute type per call
// (CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_COMPUTE_32F_FAST_TF32 or the exact CUBLAS_COMPUTE_32F), so
// the switches need no handle state and take effect at once.
#include <climits>

#include "cuda/common.cuh"

namespace md::cuda {

namespace {

int checked(int64_t v, const char* what) {
  MD_CHECK(v >= 0 && v <= INT_MAX, ValueError, "gemm: ", what, " = ", v, " exceeds the 32-bit cuBLAS limit");
  return static_cast<int>(v);
}

// bf16 matmul mode (md.set_float32_matmul_precision("medium")) takes precedence over TF32: cuBLAS
// rounds the float32 operands to bf16 for the tensor cores and accumulates in float32.
cublasComputeType_t compute_type() {
  if (matmul_bf16()) return CUBLAS_COMPUTE_32F_FAST_16BF;
  return tf32_allowed() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

// ---- kernels

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

}  // namespace

// ---- launchers

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_matrix(C, M, N, ldc, 0, 1, beta);
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
  MD_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      cublas_handle(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, checked(N, "N"), checked(M, "M"),
      checked(K, "K"), &alpha, B, CUDA_R_32F, checked(ldb, "ldb"), static_cast<long long>(sb), A, CUDA_R_32F,
      checked(lda, "lda"), static_cast<long long>(sa), &beta, C, CUDA_R_32F, checked(ldc, "ldc"),
      static_cast<long long>(sc), checked(batch, "batch"), compute_type(), CUBLAS_GEMM_DEFAULT));
}

}  // namespace md::cuda
