// bf16 matrix products (md.set_float32_matmul_precision("medium")): cpu::gemm and gemm_batched
// with the mode on, against a double product of the operands rounded to bf16 (ties to even). Every
// transpose combination, sizes around the AVX512-BF16 kernel's tiles and blocks (12 x 32 tiles,
// k blocks of 384, 144-row and 768-column blocks), odd K, leading dimensions wider than the
// matrices, alpha and beta, C's untouched margins, and 1 and 2 threads. The portable path (rounded
// copies for the float32 BLAS, which the products take where the kernel is not built) is called
// directly on the same cases.
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "core/common.h"
#include "cpu/gemm_bf16.h"
#include "kernels.h"

using namespace md;

namespace {

double bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
};

std::string name(const Case& c, int threads) {
  return std::string(c.ta ? "T" : "N") + (c.tb ? "T" : "N") + " M=" + std::to_string(c.M) +
         " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) + " alpha=" + std::to_string(c.alpha) +
         " beta=" + std::to_string(c.beta) + " threads=" + std::to_string(threads);
}

// One product through cpu::gemm (or gemm_batched over `batch` copies) with bf16 mode on; with
// `portable`, through cpu::gemm_bf16_rounded on the calling thread instead.
void check_case(const Case& c, int threads, int64_t batch = 1, bool portable = false) {
  std::mt19937 rng(static_cast<unsigned>(c.M * 131 + c.N * 17 + c.K + (c.ta ? 7 : 0) + (c.tb ? 3 : 0)));
  std::normal_distribution<float> dist;
  // stored shapes with a margin of 3 extra columns in every leading dimension
  const int64_t a_rows = c.ta ? c.K : c.M, a_cols = c.ta ? c.M : c.K, lda = a_cols + 3;
  const int64_t b_rows = c.tb ? c.N : c.K, b_cols = c.tb ? c.K : c.N, ldb = b_cols + 3;
  const int64_t ldc = c.N + 3;
  const int64_t sa = a_rows * lda, sb = b_rows * ldb, sc = c.M * ldc;
  std::vector<float> A(sa * batch), B(sb * batch), C(sc * batch);
  for (auto& v : A) v = dist(rng);
  for (auto& v : B) v = dist(rng);
  for (auto& v : C) v = dist(rng);
  const std::vector<float> C0 = C;

  omp_set_num_threads(threads);
  set_matmul_bf16(true);
  if (portable)
    for (int64_t b = 0; b < batch; ++b)
      cpu::gemm_bf16_rounded(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data() + b * sa, lda, B.data() + b * sb, ldb, c.beta,
                             C.data() + b * sc, ldc);
  else if (batch == 1)
    cpu::gemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc);
  else
    cpu::gemm_batched(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, sa, B.data(), ldb, sb, c.beta, C.data(), ldc,
                      sc, batch);
  set_matmul_bf16(false);

  int bad = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t m = 0; m < c.M; ++m)
      for (int64_t n = 0; n < ldc; ++n) {
        const int64_t at = b * sc + m * ldc + n;
        if (n >= c.N) {  // the margin is not C's
          bad += C[at] != C0[at];
          continue;
        }
        double acc = 0.0, mag = 0.0;
        for (int64_t k = 0; k < c.K; ++k) {
          const float a = c.ta ? A[b * sa + k * lda + m] : A[b * sa + m * lda + k];
          const float bv = c.tb ? B[b * sb + n * ldb + k] : B[b * sb + k * ldb + n];
          acc += bf16(a) * bf16(bv);
          mag += std::fabs(bf16(a) * bf16(bv));
        }
        const double want = c.alpha * acc + (c.beta != 0.0f ? c.beta * C0[at] : 0.0);
        // float32 accumulation of K exact products
        const double tol = 1e-6 * (std::fabs(c.alpha) * mag + std::fabs(c.beta * C0[at])) + 1e-6;
        if (!(std::fabs(C[at] - want) <= tol)) {
          if (bad < 3)
            check::fail(__FILE__, __LINE__,
                        name(c, threads) + ": C[" + std::to_string(m) + "][" + std::to_string(n) +
                            "] = " + std::to_string(C[at]) + ", want " + std::to_string(want));
          ++bad;
        }
      }
  CHECK(bad == 0);
}

}  // namespace

TEST(bf16_gemm_matches_the_rounded_product) {
  std::printf("AVX512-BF16 kernel %s\n", cpu::bf16_gemm_available() ? "built" : "not built: rounded copies");
  const int64_t sizes[][3] = {{1, 1, 1},      {5, 7, 3},     {12, 32, 2},   {13, 33, 5},   {64, 256, 64},
                              {128, 96, 129}, {145, 40, 17}, {30, 800, 33}, {37, 45, 777}, {24, 16, 385}};
  for (int threads : {1, 2})
    for (const auto& s : sizes)
      for (int t = 0; t < 4; ++t) check_case({(t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 1.0f, 0.0f}, threads);
}

TEST(bf16_gemm_alpha_beta_and_accumulation) {
  for (int t = 0; t < 4; ++t) {
    check_case({(t & 1) != 0, (t & 2) != 0, 29, 70, 400, 0.5f, 1.0f}, 2);  // two k blocks on top of C
    check_case({(t & 1) != 0, (t & 2) != 0, 17, 19, 23, -2.0f, 0.25f}, 1);
  }
}

TEST(bf16_gemm_batched) {
  for (int t = 0; t < 4; ++t) {
    check_case({(t & 1) != 0, (t & 2) != 0, 16, 49, 8, 0.35f, 0.0f}, 2, 6);
    check_case({(t & 1) != 0, (t & 2) != 0, 9, 20, 31, 1.0f, 0.0f}, 1, 3);
  }
}

TEST(bf16_mode_off_is_exact_float32) {
  // the switch really is the mode: with it off the same product carries float32 rounding only
  const int64_t M = 8, N = 8, K = 256;
  std::vector<float> A(M * K), B(K * N), C(M * N);
  for (int64_t i = 0; i < M * K; ++i) A[i] = 1.0f + 1.0f / 512;  // not a bf16 value: rounds to 1
  for (int64_t i = 0; i < K * N; ++i) B[i] = 1.0f;
  cpu::gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
  CHECK_NEAR(C[0], K * (1.0 + 1.0 / 512), 1e-3);
  set_matmul_bf16(true);
  cpu::gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C.data(), N);
  set_matmul_bf16(false);
  CHECK_NEAR(C[0], K * 1.0, 1e-3);
}

TEST(portable_bf16_path_matches_the_rounded_product) {
  const int64_t sizes[][3] = {{1, 1, 1}, {13, 33, 5}, {128, 96, 129}, {37, 45, 777}};
  for (const auto& s : sizes)
    for (int t = 0; t < 4; ++t) check_case({(t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 0.5f, 0.25f}, 1, 1, true);
}

TEST(bf16_gemm_propagates_nan_and_inf_and_ignores_c_when_beta_is_zero) {
  // the training loop's NaN/Inf skipping needs non-finite values to reach the loss
  const int64_t M = 20, N = 40, K = 30;
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
    std::vector<float> A(M * K, 0.5f), B(K * N, 0.25f), C(M * N, std::nanf(""));
    A[ta ? 7 * M + 3 : 3 * K + 7] = std::nanf("");                             // op(A)[3][7]
    B[tb ? 11 * K + 5 : 5 * N + 11] = std::numeric_limits<float>::infinity();  // op(B)[5][11]
    set_matmul_bf16(true);
    cpu::gemm(ta, tb, M, N, K, 1.0f, A.data(), ta ? M : K, B.data(), tb ? K : N, 0.0f, C.data(), N);
    set_matmul_bf16(false);
    int wrong = 0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const float c = C[m * N + n];
        if (m == 3)
          wrong += !std::isnan(c);  // NaN times anything
        else if (n == 11)
          wrong += !(std::isinf(c) && c > 0);
        else
          wrong += c != 0.5f * 0.25f * K;  // C's NaN was not read (beta = 0)
      }
    CHECK(wrong == 0);
  }
}
