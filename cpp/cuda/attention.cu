// CUDA softmax and attention. Attention mirrors the CPU twin: the (Lq, Lk) scores of each batch
// entry are materialised by cuBLAS batched GEMMs, a row kernel turns them into probabilities and
// the log-sum-exp, and the backward recomputes the probabilities from the saved log-sum-exp.
// Batch entries are processed in chunks so the score buffers stay within workspace_budget().
#include <algorithm>

#include "cuda/common.cuh"

namespace md::cuda {

namespace {

// ---- kernels

// One block per row of x (M, D): y = softmax(x) (in place allowed), lse (M) or null.
__global__ void softmax_rows_kernel(float* y, float* lse, const float* x, int64_t D) {
  const int64_t row = blockIdx.x;
  const float* xr = x + row * D;
  float* yr = y + row * D;
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) mx = fmaxf(mx, xr[i]);
  mx = block_max(mx);
  if (mx == -INFINITY) mx = 0.0f;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += expf(xr[i] - mx);
  s = block_sum(s);
  const float inv = static_cast<float>(1.0 / s);
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) yr[i] = expf(xr[i] - mx) * inv;
  if (lse && threadIdx.x == 0) lse[row] = mx + static_cast<float>(log(s));
}

// One block per row: dinp = y * (dout - sum(dout * y)).
__global__ void softmax_backward_kernel(float* dinp, const float* dout, const float* out, int64_t D) {
  const int64_t row = blockIdx.x;
  const float* y = out + row * D;
  const float* g = dout + row * D;
  double dot = 0.0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) dot += static_cast<double>(g[i]) * y[i];
  const float d = static_cast<float>(block_sum(dot));
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) dinp[row * D + i] = y[i] * (g[i] - d);
}

// One block per query row r: on entry P holds the scaled scores and dP holds dO v^T; on exit P
// holds the probabilities exp(s - lse) and dP the score gradient dS = P * (dP - <o, dO>).
__global__ void attention_backward_rows_kernel(float* P, float* dP, const float* out, const float* dout,
                                               const float* lse, int64_t Lk, int64_t Dv) {
  const int64_t r = blockIdx.x;
  const float* o = out + r * Dv;
  const float* go = dout + r * Dv;
  double di = 0.0;
  for (int64_t j = threadIdx.x; j < Dv; j += blockDim.x) di += static_cast<double>(o[j]) * go[j];
  const float dif = static_cast<float>(block_sum(di));
  const float l = lse[r];
  float* p = P + r * Lk;
  float* dp = dP + r * Lk;
  for (int64_t j = threadIdx.x; j < Lk; j += blockDim.x) {
    const float pj = expf(p[j] - l);
    p[j] = pj;
    dp[j] = pj * (dp[j] - dif);
  }
}

// Batch entries per chunk when each needs per_entry floats of scratch.
int64_t chunk_entries(int64_t B, int64_t per_entry) {
  const int64_t fit = static_cast<int64_t>(workspace_budget() / sizeof(float)) / std::max<int64_t>(per_entry, 1);
  return std::max<int64_t>(1, std::min<int64_t>(B, fit));
}

}  // namespace

// ---- launchers

void softmax_forward(float* out, const float* inp, int64_t M, int64_t D) {
  if (M == 0 || D == 0) return;
  softmax_rows_kernel<<<static_cast<unsigned>(M), row_threads(D), 0, stream()>>>(out, nullptr, inp, D);
  MD_CUDA_LAUNCHED("softmax_forward");
}

void softmax_backward(float* dinp, const float* dout, const float* out, int64_t M, int64_t D) {
  if (M == 0 || D == 0) return;
  softmax_backward_kernel<<<static_cast<unsigned>(M), row_threads(D), 0, stream()>>>(dinp, dout, out, D);
  MD_CUDA_LAUNCHED("softmax_backward");
}

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, int64_t B, int64_t Lq,
                       int64_t Lk, int64_t D, int64_t Dv, float scale) {
  if (B == 0 || Lq == 0) return;
  const int64_t LL = Lq * Lk;
  const int64_t bc = chunk_entries(B, LL);
  DeviceBuffer scores(sizeof(float) * bc * LL);
  float* P = scores.as<float>();  // (bc, Lq, Lk)
  for (int64_t b0 = 0; b0 < B; b0 += bc) {
    const int64_t m = std::min(bc, B - b0);
    // S = scale * q k^T
    gemm_batched(false, true, Lq, Lk, D, scale, q + b0 * Lq * D, D, Lq * D, k + b0 * Lk * D, D, Lk * D, 0.0f, P, Lk, LL,
                 m);
    softmax_rows_kernel<<<static_cast<unsigned>(m * Lq), row_threads(Lk), 0, stream()>>>(P, lse + b0 * Lq, P, Lk);
    MD_CUDA_LAUNCHED("attention_forward softmax");
    gemm_batched(false, false, Lq, Dv, Lk, 1.0f, P, Lk, LL, v + b0 * Lk * Dv, Dv, Lk * Dv, 0.0f, out + b0 * Lq * Dv, Dv,
                 Lq * Dv, m);
  }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, int64_t B, int64_t Lq, int64_t Lk,
                        int64_t D, int64_t Dv, float scale) {
  if (B == 0) return;
  const int64_t LL = Lq * Lk;
  const int64_t bc = chunk_entries(B, 2 * LL);
  DeviceBuffer scores(sizeof(float) * 2 * bc * LL);
  float* P = scores.as<float>();  // (bc, Lq, Lk)
  float* dP = P + bc * LL;        // (bc, Lq, Lk)
  for (int64_t b0 = 0; b0 < B; b0 += bc) {
    const int64_t m = std::min(bc, B - b0);
    const float* qb = q + b0 * Lq * D;
    const float* kb = k + b0 * Lk * D;
    const float* vb = v + b0 * Lk * Dv;
    const float* gb = dout + b0 * Lq * Dv;
    gemm_batched(false, true, Lq, Lk, D, scale, qb, D, Lq * D, kb, D, Lk * D, 0.0f, P, Lk, LL, m);
    // dP = dO v^T
    gemm_batched(false, true, Lq, Lk, Dv, 1.0f, gb, Dv, Lq * Dv, vb, Dv, Lk * Dv, 0.0f, dP, Lk, LL, m);
    if (Lq > 0 && Lk > 0) {
      attention_backward_rows_kernel<<<static_cast<unsigned>(m * Lq), row_threads(std::max(Lk, Dv)), 0, stream()>>>(
          P, dP, out + b0 * Lq * Dv, gb, lse + b0 * Lq, Lk, Dv);
      MD_CUDA_LAUNCHED("attention_backward rows");
    }
    // dv = P^T dO ; dq = scale dS k ; dk = scale dS^T q
    gemm_batched(true, false, Lk, Dv, Lq, 1.0f, P, Lk, LL, gb, Dv, Lq * Dv, 0.0f, dv + b0 * Lk * Dv, Dv, Lk * Dv, m);
    gemm_batched(false, false, Lq, D, Lk, scale, dP, Lk, LL, kb, D, Lk * D, 0.0f, dq + b0 * Lq * D, D, Lq * D, m);
    gemm_batched(true, false, Lk, D, Lq, scale, dP, Lk, LL, qb, D, Lq * D, 0.0f, dk + b0 * Lk * D, D, Lk * D, m);
  }
}

}  // namespace md::cuda
