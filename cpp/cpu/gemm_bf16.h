// bf16 matrix products for md.set_float32_matmul_precision("medium") on CPUs with AVX512-BF16.
#pragma once

#include <cstdint>

namespace md::cpu {

// Whether this build has the AVX512-BF16 kernel (built with -march=native on such a CPU).
bool bf16_gemm_available();

// C (M, N) = alpha * op(A) op(B) + beta * C with the operands rounded to bfloat16 (ties to even)
// and the products accumulated in float32, on the calling thread; op(A) is (M, K), stored (K, M)
// when ta, and op(B) is (K, N), stored (N, K) when tb. Returns false, having done nothing, where
// the kernel is not built or its packing buffers could not be allocated. Never throws.
bool bf16_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) noexcept;

// The same product anywhere (cpu/gemm.cpp): copies of the operands rounded to bf16, multiplied by the
// float32 BLAS; where memory for the copies runs out, the exact float32 product. Never throws.
void gemm_bf16_rounded(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                       const float* B, int64_t ldb, float beta, float* C, int64_t ldc) noexcept;

}  // namespace md::cpu
