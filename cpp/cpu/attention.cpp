// CPU softmax and attention. Attention materialises the (Lq, Lk) score matrix of one batch entry
// at a time (a U-Net's attention sequences are short: tens to a few hundred tokens) and
// recomputes it and its softmax in the backward. (Not from the saved log-sum-exp, as the fused GPU
// kernel does: where one score dominates, exp(s - lse) takes lse's float32 rounding as an error of
// 1 - P, and the gradients of k and q lose digits that torch's math path keeps.)
// Short sequences with small heads (a U-Net's lowest levels: 16 or 49 tokens of 8 dims) take a
// path without BLAS: each query row's scores are computed with the keys across SIMD lanes from a
// transposed copy of k, since seven tiny GEMM calls per entry cost more than their arithmetic.
#include <cmath>
#include <cstring>
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
// ---- short sequences, small heads: keys across SIMD lanes
// Templates on LK (the keys, padded to 16, 32, 48 or 64 lanes) and DP (the head dims, padded to
// 16) give the inner loops fixed trip counts, so a row's scores and its output accumulator stay
// in registers across the loops over dims and keys.

constexpr int kLanes = 16;
// Measured (2 cores, f+b): with 8-dim heads this path takes 0.5x the time of the GEMM one at 16
// and at 49 tokens; with 16 dims it is no faster at 16 tokens and 1.7x slower at 49, where the
// per-row gradient accumulations outweigh the saved calls, so it stops at 8 dims.
constexpr int64_t kSmallKeys = 64;  // Lk up to this
constexpr int64_t kSmallDim = 8;    // D and Dv up to this (padded to DP = 16 lanes)

// In bf16 matmul mode the products go through gemm, which rounds their operands.
bool small_attention(int64_t Lk, int64_t D, int64_t Dv) {
  return Lk <= kSmallKeys && D <= kSmallDim && Dv <= kSmallDim && !matmul_bf16();
}

// xt (D, LK) = x (Lk, D) transposed, the columns Lk..LK zero.
template <int LK>
inline void transpose_keys(float* xt, const float* x, int64_t Lk, int64_t D) {
  for (int64_t d = 0; d < D; ++d) {
    float* row = xt + d * LK;
    for (int64_t j = 0; j < Lk; ++j) row[j] = x[j * D + d];
    for (int64_t j = Lk; j < LK; ++j) row[j] = 0.0f;
  }
}

// xp (Lk, DP) = x (Lk, D) with the columns D..DP zero.
template <int DP>
inline void pad_rows(float* xp, const float* x, int64_t Lk, int64_t D) {
  for (int64_t j = 0; j < Lk; ++j) {
    for (int64_t d = 0; d < D; ++d) xp[j * DP + d] = x[j * D + d];
    for (int64_t d = D; d < DP; ++d) xp[j * DP + d] = 0.0f;
  }
}

// 16 floats as one value: GCC/Clang keep these in (vector) registers across a loop, where a float
// array under `omp simd` was stored and reloaded every iteration (a store-forwarding chain).
// Without AVX-512 (a MINIDIFF_NATIVE=OFF build) GCC notes that returning one changes the ABI; these
// functions are internal to this file, so that does not matter.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float vf16 __attribute__((vector_size(64)));

inline vf16 load16(const float* p) {
  vf16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// s (LK) = scale * a (D) @ xt (D, LK)
template <int LK>
inline void row_dot_keys(float* s, const float* a, const float* xt, int64_t D, float scale) {
  constexpr int NV = LK / kLanes;
  vf16 acc[NV] = {};
  for (int64_t d = 0; d < D; ++d) {
    const float c = scale * a[d];
    for (int v = 0; v < NV; ++v) acc[v] += c * load16(xt + d * LK + v * kLanes);
  }
  std::memcpy(s, acc, sizeof acc);
}

// out (D) = scale * w (Lk) @ xp (Lk, DP), first D columns
template <int DP>
inline void row_combine(float* out, const float* w, const float* xp, int64_t Lk, int64_t D, float scale) {
  constexpr int NV = DP / kLanes;
  vf16 acc0[NV] = {}, acc1[NV] = {};  // two chains of FMAs, even and odd keys
  int64_t j = 0;
  for (; j + 1 < Lk; j += 2)
    for (int v = 0; v < NV; ++v) {
      acc0[v] += w[j] * load16(xp + j * DP + v * kLanes);
      acc1[v] += w[j + 1] * load16(xp + (j + 1) * DP + v * kLanes);
    }
  if (j < Lk)
    for (int v = 0; v < NV; ++v) acc0[v] += w[j] * load16(xp + j * DP + v * kLanes);
  alignas(64) float sum[DP];
  for (int v = 0; v < NV; ++v) {
    const vf16 t = (acc0[v] + acc1[v]) * scale;
    std::memcpy(sum + v * kLanes, &t, sizeof t);
  }
  for (int64_t e = 0; e < D; ++e) out[e] = sum[e];
}

// In place over s (LK): softmax of the first Lk entries, 0 beyond; returns the log-sum-exp.
template <int LK>
inline float softmax_keys(float* s, int64_t Lk) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (int j = 0; j < LK; ++j) mx = std::max(mx, j < Lk ? s[j] : -std::numeric_limits<float>::infinity());
  if (mx == -std::numeric_limits<float>::infinity()) mx = 0.0f;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < LK; ++j) {
    const float e = vexp(vselect(j < Lk, s[j] - mx, -std::numeric_limits<float>::infinity()));  // 0 past Lk
    s[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int j = 0; j < LK; ++j) s[j] *= inv;
  return mx + std::log(sum);
}

template <int LK, int DP>
void attention_forward_small(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B,
                             int64_t Lq, int64_t Lk, int64_t D, int64_t Dv, float scale) {
#pragma omp parallel for if (worth_parallel(B * Lq * Lk * (D + Dv))) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    alignas(64) float kt[kSmallDim * LK], vp[LK * DP], s[LK];
    const float* qb = q + b * Lq * D;
    transpose_keys<LK>(kt, k + b * Lk * D, Lk, D);
    pad_rows<DP>(vp, v + b * Lk * Dv, Lk, Dv);
    for (int64_t i = 0; i < Lq; ++i) {
      row_dot_keys<LK>(s, qb + i * D, kt, D, scale);
      lse[b * Lq + i] = softmax_keys<LK>(s, Lk);
      row_combine<DP>(out + (b * Lq + i) * Dv, s, vp, Lk, Dv, 1.0f);
    }
  }
}

template <int LK, int DP>
void attention_backward_small(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                              const float* v, const float* out, const float* lse, int64_t B, int64_t Lq, int64_t Lk,
                              int64_t D, int64_t Dv, float scale) {
#pragma omp parallel for if (worth_parallel(B * Lq * Lk * (D + Dv))) schedule(static)
  for (int64_t b = 0; b < B; ++b) {
    // kt, vt: k and v transposed; kp: k padded; dkt, dvt: the gradients of k and v, transposed,
    // summed over the query rows
    alignas(64) float kt[kSmallDim * LK], vt[kSmallDim * LK], kp[LK * DP];
    alignas(64) float dkt[kSmallDim * LK] = {}, dvt[kSmallDim * LK] = {};
    alignas(64) float p[LK], ds[LK];
    const float *qb = q + b * Lq * D, *kb = k + b * Lk * D;
    transpose_keys<LK>(kt, kb, Lk, D);
    transpose_keys<LK>(vt, v + b * Lk * Dv, Lk, Dv);
    pad_rows<DP>(kp, kb, Lk, D);
    for (int64_t i = 0; i < Lq; ++i) {
      const float* qr = qb + i * D;
      const float* go = dout + (b * Lq + i) * Dv;
      // P = softmax(scale q k^T), the forward's, recomputed (0 on the padding lanes)
      row_dot_keys<LK>(p, qr, kt, D, scale);
      softmax_keys<LK>(p, Lk);
      // dP = dO v^T, then dS = P (dP - rowsum(P * dP)); rowsum(P * dP) = rowsum(dO * O), but this
      // form cancels exactly where P is one-hot (torch's math path), so dS is 0 there, not noise
      row_dot_keys<LK>(ds, go, vt, Dv, 1.0f);
      double di = 0.0;
      for (int j = 0; j < LK; ++j) di += static_cast<double>(p[j]) * ds[j];
      const float dif = static_cast<float>(di);
#pragma omp simd
      for (int j = 0; j < LK; ++j) ds[j] = p[j] * (ds[j] - dif);
      // dv^T += dO_i^T P_i ; dk^T += scale q_i^T dS_i ; dq_i = scale dS_i k
      for (int64_t e = 0; e < Dv; ++e) {
        const float a = go[e];
        float* r = dvt + e * LK;
#pragma omp simd
        for (int j = 0; j < LK; ++j) r[j] += a * p[j];
      }
      for (int64_t d = 0; d < D; ++d) {
        const float a = scale * qr[d];
        float* r = dkt + d * LK;
#pragma omp simd
        for (int j = 0; j < LK; ++j) r[j] += a * ds[j];
      }
      row_combine<DP>(dq + (b * Lq + i) * D, ds, kp, Lk, D, scale);
    }
    float *gk = dk + b * Lk * D, *gv = dv + b * Lk * Dv;
    for (int64_t j = 0; j < Lk; ++j) {
      for (int64_t d = 0; d < D; ++d) gk[j * D + d] = dkt[d * LK + j];
      for (int64_t e = 0; e < Dv; ++e) gv[j * Dv + e] = dvt[e * LK + j];
    }
  }
}

// `return fn<LK, 16>(args)` for the instantiation whose LK = 16, 32, 48 or 64 lanes cover Lk keys.
#define MD_SMALL_ATTENTION(fn, Lk, ...)     \
  do {                                      \
    switch (((Lk) + kLanes - 1) / kLanes) { \
      case 1:                               \
        return fn<16, 16>(__VA_ARGS__);     \
      case 2:                               \
        return fn<32, 16>(__VA_ARGS__);     \
      case 3:                               \
        return fn<48, 16>(__VA_ARGS__);     \
      default:                              \
        return fn<64, 16>(__VA_ARGS__);     \
    }                                       \
  } while (0)

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
  if (small_attention(Lk, D, Dv))
    MD_SMALL_ATTENTION(attention_forward_small, Lk, out, lse, q, k, v, B, Lq, Lk, D, Dv, scale);
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
  if (small_attention(Lk, D, Dv))
    MD_SMALL_ATTENTION(attention_backward_small, Lk, dq, dk, dv, dout, q, k, v, out, lse, B, Lq, Lk, D, Dv, scale);
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
    // P = softmax(scale q k^T), the forward's, recomputed; dP = dO v^T
    gemm(false, true, Lq, Lk, D, scale, qb, D, kb, D, 0.0f, P, Lk);
    gemm(false, true, Lq, Lk, Dv, 1.0f, dO, Dv, vb, Dv, 0.0f, dP, Lk);
    for (int64_t r = 0; r < Lq; ++r) {
      float* p = P + r * Lk;
      float* dp = dP + r * Lk;
      softmax_row(p, Lk);
      double di = 0.0;  // rowsum(P * dP) (= rowsum(dO * O), which leaves noise where P is one-hot)
#pragma omp simd reduction(+ : di)
      for (int64_t j = 0; j < Lk; ++j) di += static_cast<double>(p[j]) * dp[j];
      const float dif = static_cast<float>(di);
#pragma omp simd
      for (int64_t j = 0; j < Lk; ++j) dp[j] = p[j] * (dp[j] - dif);  // dS
    }
    // dv = P^T dO ; dq = scale dS k ; dk = scale dS^T q
    gemm(true, false, Lk, Dv, Lq, 1.0f, P, Lk, dO, Dv, 0.0f, dv + b * Lk * Dv, Dv);
    gemm(false, false, Lq, D, Lk, scale, dP, Lk, kb, D, 0.0f, dq + b * Lq * D, D);
    gemm(true, false, Lk, D, Lq, scale, dP, Lk, qb, D, 0.0f, dk + b * Lk * D, D);
  }
}

}  // namespace md::cpu
