// CPU softmax and attention. Attention materialises the (Lq, Lk) score matrix per batch entry
// through batched GEMMs (the sequences here are short: 16 to 49 tokens) and recomputes it in the
// backward from the saved log-sum-exp, as the fused GPU kernel does.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

namespace {
// In place: row (D) -> softmax(row); returns log-sum-exp.
inline float softmax_row(float* row, int64_t D) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < D; ++i) mx = std::max(mx, row[i]);
  if (mx == -std::numeric_limits<float>::infinity()) mx = 0.0f;
  double s = 0.0;
  for (int64_t i = 0; i < D; ++i) {
    row[i] = std::exp(row[i] - mx);
    s += row[i];
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

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B, int64_t Lq,
                       int64_t Lk, int64_t D, int64_t Dv, float scale) {
  std::vector<float> P(static_cast<size_t>(B * Lq * Lk));
  // S = scale * q k^T, per batch entry
  gemm_batched(false, true, Lq, Lk, D, scale, q, D, Lq * D, k, D, Lk * D, 0.0f, P.data(), Lk, Lq * Lk, B);
  float* Pd = P.data();
#pragma omp parallel for if (worth_parallel(B * Lq * Lk)) schedule(static)
  for (int64_t r = 0; r < B * Lq; ++r) lse[r] = softmax_row(Pd + r * Lk, Lk);
  gemm_batched(false, false, Lq, Dv, Lk, 1.0f, P.data(), Lk, Lq * Lk, v, Dv, Lk * Dv, 0.0f, out, Dv, Lq * Dv, B);
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, int64_t B, int64_t Lq, int64_t Lk,
                        int64_t D, int64_t Dv, float scale) {
  const size_t n = static_cast<size_t>(B * Lq * Lk);
  std::vector<float> P(n), dP(n);
  gemm_batched(false, true, Lq, Lk, D, scale, q, D, Lq * D, k, D, Lk * D, 0.0f, P.data(), Lk, Lq * Lk, B);
  float* Pd = P.data();
  float* dPd = dP.data();
  // dP = dO v^T
  gemm_batched(false, true, Lq, Lk, Dv, 1.0f, dout, Dv, Lq * Dv, v, Dv, Lk * Dv, 0.0f, dPd, Lk, Lq * Lk, B);
#pragma omp parallel for if (worth_parallel(static_cast<int64_t>(n))) schedule(static)
  for (int64_t r = 0; r < B * Lq; ++r) {
    float* p = Pd + r * Lk;
    float* dp = dPd + r * Lk;
    const float l = lse[r];
    const float* o = out + r * Dv;
    const float* go = dout + r * Dv;
    double di = 0.0;
    for (int64_t j = 0; j < Dv; ++j) di += static_cast<double>(o[j]) * go[j];
    const float dif = static_cast<float>(di);
#pragma omp simd
    for (int64_t j = 0; j < Lk; ++j) {
      p[j] = std::exp(p[j] - l);
      dp[j] = p[j] * (dp[j] - dif);  // dS
    }
  }
  // dv = P^T dO ; dq = scale dS k ; dk = scale dS^T q
  gemm_batched(true, false, Lk, Dv, Lq, 1.0f, Pd, Lk, Lq * Lk, dout, Dv, Lq * Dv, 0.0f, dv, Dv, Lk * Dv, B);
  gemm_batched(false, false, Lq, D, Lk, scale, dPd, Lk, Lq * Lk, k, D, Lk * D, 0.0f, dq, D, Lq * D, B);
  gemm_batched(true, false, Lk, D, Lq, scale, dPd, Lk, Lq * Lk, q, D, Lq * D, 0.0f, dk, D, Lk * D, B);
}

}  // namespace md::cpu
