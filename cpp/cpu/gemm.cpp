// CPU matrix products through OpenBLAS (the scipy-openblas32 build, whose symbols carry a
// scipy_ prefix). OpenMP owns every thread: OpenBLAS runs single-threaded, and a large product is
// split into column (or row) panels, one per OpenMP thread. Two thread pools (OpenMP's and
// OpenBLAS's) spin-waiting for the same cores made every switch between an OpenMP kernel and a
// BLAS call cost up to a scheduler time slice; with one pool a product inside an OpenMP region
// (conv2d over images, batched products) simply runs on the calling thread.
//
// With md.set_float32_matmul_precision("medium") each product takes its operands rounded to bf16
// and accumulates in float32, as a bf16 tensor core does: on CPUs with AVX512-BF16 in the kernel of
// gemm_bf16.cpp, elsewhere by rounding copies of the operands for the float32 BLAS (the same
// numbers up to summation order, and slower than plain float32).
#include <cblas.h>

#include "cpu/bf16.h"
#include "cpu/common.h"
#include "cpu/gemm_bf16.h"
#include "kernels.h"

namespace md::cpu {

namespace {

// Below this many flops one thread finishes before a parallel region would pay off.
constexpr double kParallelFlops = 1 << 22;

void blas_single_threaded() {
  static const bool once = (scipy_openblas_set_num_threads(1), true);
  (void)once;
}

void blas_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  auto i32 = [](int64_t v) { return static_cast<blasint>(v); };
  scipy_cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, i32(M), i32(N),
                    i32(K), alpha, A, i32(lda), B, i32(ldb), beta, C, i32(ldc));
}

// A (rows, cols) matrix of row stride ld, rounded into dst (row stride cols).
void round_matrix(float* dst, const float* src, int64_t rows, int64_t cols, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * ld;
    float* d = dst + r * cols;
    for (int64_t c = 0; c < cols; ++c) d[c] = round_to_bf16(s[c]);
  }
}

// Scratch that may be taken inside an OpenMP region: nullptr when memory runs out, never a throw.
float* try_alloc(int64_t n) noexcept {
  try {
    return static_cast<float*>(cpu_alloc(static_cast<size_t>(n) * sizeof(float)));
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

void gemm_bf16_rounded(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                       const float* B, int64_t ldb, float beta, float* C, int64_t ldc) noexcept {
  // the operands as stored: A is (M, K), or (K, M) when transposed; B is (K, N), or (N, K)
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
  float* a = try_alloc(a_rows * a_cols);
  float* b = a ? try_alloc(b_rows * b_cols) : nullptr;
  if (b) {
    round_matrix(a, A, a_rows, a_cols, lda);
    round_matrix(b, B, b_rows, b_cols, ldb);
    blas_sgemm(ta, tb, M, N, K, alpha, a, a_cols, b, b_cols, beta, C, ldc);
  } else {  // out of memory for the copies: the exact float32 product, which bf16 mode permits
    blas_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  if (a) cpu_free(a, static_cast<size_t>(a_rows * a_cols) * sizeof(float));
  if (b) cpu_free(b, static_cast<size_t>(b_rows * b_cols) * sizeof(float));
}

namespace {

// One product on the calling thread; the sizes were checked by the caller.
void sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
           int64_t ldb, float beta, float* C, int64_t ldc) {
  if (!matmul_bf16() || K == 0) return blas_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (!bf16_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))  // the AVX512-BF16 kernel, where built
    gemm_bf16_rounded(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int gemm_threads(double flops) {
  if (omp_in_parallel() || flops < kParallelFlops) return 1;
  return omp_get_max_threads();
}

}  // namespace

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  check_blas_sizes({M, N, K, lda, ldb, ldc});
  blas_single_threaded();
  const int T = gemm_threads(2.0 * M * N * K);
  if (T == 1) {
    sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Panels of the longer output side, in multiples of 16 so each stays SIMD-aligned in length.
  const bool split_n = N >= M;
  const int64_t len = split_n ? N : M;
  const int64_t step = ((len + T - 1) / T + 15) / 16 * 16;
#pragma omp parallel num_threads(T)
  {
    const int64_t lo = omp_get_thread_num() * step, hi = std::min(len, lo + step);
    if (lo < hi) {
      if (split_n)  // C[:, lo:hi] = A @ B[:, lo:hi]; a transposed B is stored (N, K)
        sgemm(ta, tb, M, hi - lo, K, alpha, A, lda, tb ? B + lo * ldb : B + lo, ldb, beta, C + lo, ldc);
      else  // C[lo:hi, :] = A[lo:hi, :] @ B; a transposed A is stored (K, M)
        sgemm(ta, tb, hi - lo, N, K, alpha, ta ? A + lo : A + lo * lda, lda, B, ldb, beta, C + lo * ldc, ldc);
    }
  }
}

void gemm_batched(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  int64_t sa, const float* B, int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc,
                  int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  check_blas_sizes({M, N, K, lda, ldb, ldc});
  blas_single_threaded();
  const double flops = 2.0 * M * N * K * batch;
  // Fewer products than threads: let each product split itself.
  if (batch < omp_get_max_threads() && !omp_in_parallel()) {
    for (int64_t b = 0; b < batch; ++b)
      gemm(ta, tb, M, N, K, alpha, A + b * sa, lda, B + b * sb, ldb, beta, C + b * sc, ldc);
    return;
  }
#pragma omp parallel for if (flops >= kParallelFlops && !omp_in_parallel()) schedule(static)
  for (int64_t b = 0; b < batch; ++b)
    sgemm(ta, tb, M, N, K, alpha, A + b * sa, lda, B + b * sb, ldb, beta, C + b * sc, ldc);
}

}  // namespace md::cpu
