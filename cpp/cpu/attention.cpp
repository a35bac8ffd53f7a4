// CPU softmax and attention. Attention materialises the (Lq, Lk) score matrix of one batch entry
// at a time (a U-Net's attention sequences are short: tens to a few hundred tokens) and
// recomputes it in the backward from the saved log-sum-exp, as the fused GPU kernel does.
#include <cmath>
#include <limits>

#include "cpu/common.h"
#include "cpu/vmath.h"
#include "kernels.h"

namespace md::cpu {

namespace {
// In place: row (D) -> softmax(row); returns log-sum-exp.
inline float softmax_row(float* row, int64_t D) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (int64_t i = 0; i < D; ++i) mx = std::max(mx, row[i]);
  if (mx == -std::numeric_limits<float>::infinity()) mx = 0.0f;
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < D; ++i) {
    const float e = vexp(row[i] - mx);
    row[i] = e;
    s += e;
  }
  const float inv = static_cast<float>(1.0 / s);
#pragma omp simd
  for (int64_t i = 0; i < D; ++i) row[i] *= inv;
  return mx + static_cast<float>(std::log(s));
}
}  // namespace

void softmax_forward(float* out, const float* inp, int64_t M, int64_t D) {
#pragma omp parallel for if (worth_parallel(M * D)) schedule(static)
  for (int64_t m = 0; m < M; ++m) {
    float* y = out + m * D;
    const float* x = inp + m * D;
    for (int64_t i = 0; i < D; ++i) y[i] = x[i];
    softmax_row(y, D);
  }
}

void softmax_backward(float* dinp, const float* dout, const float* out, int64_t M, int64_t D) {
#pragma omp parallel for if (worth_parallel(M * D)) schedule(static)
  for (int64_t m = 0; m < M; ++m) {
    const float* y = out + m * D;
    const float* g = dout + m * D;
    float* dx = dinp + m * D;
    double dot = 0.0;
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < D; ++i) dot += static_cast<double>(g[i]) * y[i];
    const float d = static_cast<float>(dot);
#pragma omp simd
    for (int64_t i = 0; i < D; ++i) dx[i] = y[i] * (g[i] - d);
  }
}

// One parallel region over batch entries: each thread computes its entries' scores, softmax
// and output with single-threaded GEMMs on a (Lq, Lk) scratch that stays in cache, instead of
// three batch-wide passes that each synchronise the threads.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B, int64_t Lq,
                       int64_t Lk, int64_t D, int64_t Dv, float scale) {
  const int64_t LL = Lq * Lk;
  const bool parallel = worth_parallel(B * LL * (D + Dv)) && B > 1;
  const int slots = parallel ? omp_get_max_threads() : 1;
  check_blas_sizes({Lq, Lk, D, Dv});
  Scratch scores(slots * LL);  // (slots, Lq, Lk)
#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    float* P = scores.data() + (parallel ? omp_get_thread_num() : 0) * LL;
    // S = scale * q k^T, softmax by rows, out = P v
    gemm(false, true, Lq, Lk, D, scale, q + b * Lq * D, D, k + b * Lk * D, D, 0.0f, P, Lk);
    for (int64_t r = 0; r < Lq; ++r) lse[b * Lq + r] = softmax_row(P + r * Lk, Lk);
    gemm(false, false, Lq, Dv, Lk, 1.0f, P, Lk, v + b * Lk * Dv, Dv, 0.0f, out + b * Lq * Dv, Dv);
  }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, int64_t B, int64_t Lq, int64_t Lk,
                        int64_t D, int64_t Dv, float scale) {
  const int64_t LL = Lq * Lk;
  const bool parallel = worth_parallel(B * LL * (D + Dv)) && B > 1;
  const int slots = parallel ? omp_get_max_threads() : 1;
  check_blas_sizes({Lq, Lk, D, Dv});
  Scratch scratch(slots * 2 * LL);  // (slots, {P, dP}, Lq, Lk)
#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    float* P = scratch.data() + (parallel ? omp_get_thread_num() : 0) * 2 * LL;
    float* dP = P + LL;
    const float *qb = q + b * Lq * D, *kb = k + b * Lk * D, *vb = v + b * Lk * Dv;
    const float* dO = dout + b * Lq * Dv;
    // P = exp(scale q k^T - lse) recomputed from the saved log-sum-exp; dP = dO v^T
    gemm(false, true, Lq, Lk, D, scale, qb, D, kb, D, 0.0f, P, Lk);
    gemm(false, true, Lq, Lk, Dv, 1.0f, dO, Dv, vb, Dv, 0.0f, dP, Lk);
    for (int64_t r = 0; r < Lq; ++r) {
      float* p = P + r * Lk;
      float* dp = dP + r * Lk;
      const float l = lse[b * Lq + r];
      const float* o = out + (b * Lq + r) * Dv;
      const float* go = dO + r * Dv;
      double di = 0.0;  // rowsum(dO * O) = rowsum(dP * P)
#pragma omp simd reduction(+ : di)
      for (int64_t j = 0; j < Dv; ++j) di += static_cast<double>(o[j]) * go[j];
      const float dif = static_cast<float>(di);
#pragma omp simd
      for (int64_t j = 0; j < Lk; ++j) {
        p[j] = vexp(p[j] - l);
        dp[j] = p[j] * (dp[j] - dif);  // dS
      }
    }
    // dv = P^T dO ; dq = scale dS k ; dk = scale dS^T q
    gemm(true, false, Lk, Dv, Lq, 1.0f, P, Lk, dO, Dv, 0.0f, dv + b * Lk * Dv, Dv);
    gemm(false, false, Lq, D, Lk, scale, dP, Lk, kb, D, 0.0f, dq + b * Lq * D, D);
    gemm(true, false, Lk, D, Lq, scale, dP, Lk, qb, D, 0.0f, dk + b * Lk * D, D);
  }
}

}  // namespace md::cpu
