// CUDA group_norm (optionally fused with the SiLU that follows it in every ResNet block) and
// layer_norm. One block per normalised slice computes its statistics two-pass in double, as the
// CPU twin does (the group_norm loops unrolled by 4, so that each thread has several loads in
// flight: these kernels are short and were waiting on memory latency); the backward keeps the CPU's structure (per-(n,
// c) partial sums, then group terms for dinput, then a reduction over n for dweight and dbias).
#include <algorithm>
#include <climits>

#include "cuda/common.cuh"
#include "cuda/divmod.h"

namespace md::cuda {

namespace {

__device__ __forceinline__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

// d silu(t) / dt with t = xh * w + b, times dy.
__device__ __forceinline__ float silu_grad(float dy, float t) {
  const float sg = sigmoidf(t);
  return dy * sg * (1.0f + t * (1.0f - sg));
}

// ---- kernels

// One block per (n, g): inp, out (N, G, Cg, HW); mean, rstd (N, G); weight, bias (C) or null.
__global__ void group_norm_forward_kernel(float* __restrict__ out, float* __restrict__ mean, float* __restrict__ rstd,
                                          const float* __restrict__ inp, const float* __restrict__ weight,
                                          const float* __restrict__ bias, int64_t C, int64_t HW, Divmod hw_div,
                                          int64_t G, float eps, bool fuse_silu) {
  const int64_t ng = blockIdx.x, gi = ng % G, Cg = C / G, group = Cg * HW;
  const float* x = inp + ng * group;
  float* y = out + ng * group;
  double s = 0.0;
#pragma unroll 4
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) s += x[i];
  s = block_sum(s);
  const double mu = group ? s / group : 0.0;
  double v = 0.0;
#pragma unroll 4
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) v += (x[i] - mu) * (x[i] - mu);
  v = block_sum(v);
  const float rs = static_cast<float>(1.0 / sqrt((group ? v / group : 0.0) + eps));
  const float m = static_cast<float>(mu);
  if (threadIdx.x == 0) {
    mean[ng] = m;
    rstd[ng] = rs;
  }
#pragma unroll 4
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) {
    const int64_t c = gi * Cg + hw_div.div(static_cast<uint32_t>(i));
    const float a = rs * (weight ? weight[c] : 1.0f);
    const float b = (bias ? bias[c] : 0.0f) - m * a;
    const float t = x[i] * a + b;
    y[i] = fuse_silu ? t * sigmoidf(t) : t;
  }
}

// s_dy, s_dyx (N, C) = sums over HW of dy and dy * xhat, where dy is the gradient reaching the
// affine output (through the SiLU when fused). kWarpRows: one warp per (n, c), kThreads / 32 of
// them per block, for maps up to kWarpRowMax pixels (a block per 7x7 or 28x28 map spent more time
// in its two block reductions than in reading the map); else one block per (n, c).
constexpr int64_t kWarpRowMax = 4096;
template <bool kWarpRows>
__global__ void group_norm_channel_sums_kernel(double* __restrict__ s_dy, double* __restrict__ s_dyx,
                                               const float* __restrict__ dout, const float* __restrict__ inp,
                                               const float* __restrict__ weight, const float* __restrict__ bias,
                                               const float* __restrict__ mean, const float* __restrict__ rstd,
                                               int64_t NC, int64_t C, int64_t HW, int64_t G, bool fuse_silu) {
  const int64_t nc = kWarpRows ? int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32 : int64_t(blockIdx.x);
  if (nc >= NC) return;  // a whole warp (kWarpRows), so the warp reductions below see full warps
  const int64_t n = nc / C, c = nc % C, ng = n * G + c / (C / G);
  const int64_t first = kWarpRows ? threadIdx.x % 32 : threadIdx.x, step = kWarpRows ? 32 : blockDim.x;
  const float* x = inp + nc * HW;
  const float* go = dout + nc * HW;
  const float m = mean[ng], rs = rstd[ng];
  const float w = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f;
  double sd = 0.0, sdx = 0.0;
#pragma unroll 4
  for (int64_t i = first; i < HW; i += step) {
    const float xh = (x[i] - m) * rs;
    const float d = fuse_silu ? silu_grad(go[i], xh * w + b) : go[i];
    sd += d;
    sdx += d * xh;
  }
  if (kWarpRows) {
    sd = warp_sum(sd);
    sdx = warp_sum(sdx);
  } else {
    sd = block_sum(sd);
    sdx = block_sum(sdx);
  }
  if (first == 0) {
    s_dy[nc] = sd;
    s_dyx[nc] = sdx;
  }
}

// One block per (n, g): dinp over the group from the group means of dxhat and dxhat * xhat.
__global__ void group_norm_dinput_kernel(float* __restrict__ dinp, const double* __restrict__ s_dy,
                                         const double* __restrict__ s_dyx, const float* __restrict__ dout,
                                         const float* __restrict__ inp, const float* __restrict__ weight,
                                         const float* __restrict__ bias, const float* __restrict__ mean,
                                         const float* __restrict__ rstd, int64_t C, int64_t HW, Divmod hw_div,
                                         int64_t G, bool fuse_silu) {
  const int64_t ng = blockIdx.x, n = ng / G, gi = ng % G, Cg = C / G, group = Cg * HW;
  __shared__ float mean_dxh, mean_dxhx;
  if (threadIdx.x == 0) {
    double g_dxh = 0.0, g_dxhx = 0.0;
    for (int64_t cl = 0; cl < Cg; ++cl) {
      const int64_t c = gi * Cg + cl;
      const float w = weight ? weight[c] : 1.0f;
      g_dxh += s_dy[n * C + c] * w;
      g_dxhx += s_dyx[n * C + c] * w;
    }
    mean_dxh = static_cast<float>(g_dxh / group);
    mean_dxhx = static_cast<float>(g_dxhx / group);
  }
  __syncthreads();
  const float m = mean[ng], rs = rstd[ng];
  const float* x = inp + ng * group;
  const float* go = dout + ng * group;
  float* dx = dinp + ng * group;
#pragma unroll 4
  for (int64_t i = threadIdx.x; i < group; i += blockDim.x) {
    const int64_t c = gi * Cg + hw_div.div(static_cast<uint32_t>(i));
    const float w = weight ? weight[c] : 1.0f, b = bias ? bias[c] : 0.0f;
    const float xh = (x[i] - m) * rs;
    const float d = fuse_silu ? silu_grad(go[i], xh * w + b) : go[i];
    dx[i] = rs * (d * w - mean_dxh - xh * mean_dxhx);
  }
}

// dweight, dbias (C) = per-(n, c) sums reduced over n; either may be null. One block per channel:
// one thread per channel walking n serially took a memory latency per image (210 us per call at
// batch 512 on an H200, 2026-11-26).
__global__ void group_norm_param_grad_kernel(float* dweight, float* dbias, const double* s_dy, const double* s_dyx,
                                             int64_t N, int64_t C) {
  const int64_t c = blockIdx.x;
  double a = 0.0, b = 0.0;
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
    a += s_dyx[n * C + c];
    b += s_dy[n * C + c];
  }
  a = block_sum(a);
  b = block_sum(b);
  if (threadIdx.x == 0) {
    if (dweight) dweight[c] = static_cast<float>(a);
    if (dbias) dbias[c] = static_cast<float>(b);
  }
}

// One block per row m of inp (M, D).
__global__ void layer_norm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                          const float* bias, int64_t D, float eps) {
  const int64_t row = blockIdx.x;
  const float* x = inp + row * D;
  float* y = out + row * D;
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += x[i];
  s = block_sum(s);
  const double mu = s / D;
  double v = 0.0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) v += (x[i] - mu) * (x[i] - mu);
  v = block_sum(v);
  const float rs = static_cast<float>(1.0 / sqrt(v / D + eps));
  const float mf = static_cast<float>(mu);
  if (threadIdx.x == 0) {
    mean[row] = mf;
    rstd[row] = rs;
  }
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
    y[i] = (x[i] - mf) * rs * (weight ? weight[i] : 1.0f) + (bias ? bias[i] : 0.0f);
}

// One block per row: dinp (M, D).
__global__ void layer_norm_dinput_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                         const float* mean, const float* rstd, int64_t D) {
  const int64_t row = blockIdx.x;
  const float* x = inp + row * D;
  const float* g = dout + row * D;
  const float mu = mean[row], rs = rstd[row];
  double a = 0.0, b = 0.0;
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    const float xh = (x[i] - mu) * rs;
    const float dxh = g[i] * (weight ? weight[i] : 1.0f);
    a += dxh;
    b += dxh * xh;
  }
  a = block_sum(a);
  b = block_sum(b);
  const float ma = static_cast<float>(a / D), mb = static_cast<float>(b / D);
  for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
    const float xh = (x[i] - mu) * rs;
    dinp[row * D + i] = rs * (g[i] * (weight ? weight[i] : 1.0f) - ma - xh * mb);
  }
}

// Block (32, 16) per 32 columns: dweight, dbias (D) summed over the M rows; either may be null.
constexpr int kColsX = 32, kColsY = 16;
__global__ void layer_norm_param_grad_kernel(float* dweight, float* dbias, const float* dout, const float* inp,
                                             const float* mean, const float* rstd, int64_t M, int64_t D) {
  __shared__ double part_w[kColsY][kColsX], part_b[kColsY][kColsX];
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kColsX + threadIdx.x;
  double dw = 0.0, db = 0.0;
  if (i < D) {
    for (int64_t m = threadIdx.y; m < M; m += kColsY) {
      const float g = dout[m * D + i];
      const float xh = (inp[m * D + i] - mean[m]) * rstd[m];
      dw += g * xh;
      db += g;
    }
  }
  part_w[threadIdx.y][threadIdx.x] = dw;
  part_b[threadIdx.y][threadIdx.x] = db;
  __syncthreads();
  if (threadIdx.y == 0 && i < D) {
    double sw = 0.0, sb = 0.0;
    for (int y = 0; y < kColsY; ++y) {
      sw += part_w[y][threadIdx.x];
      sb += part_b[y][threadIdx.x];
    }
    if (dweight) dweight[i] = static_cast<float>(sw);
    if (dbias) dbias[i] = static_cast<float>(sb);
  }
}

// The channel of a group's element i is i / HW: 32-bit (Divmod) when a group has under 2^32 elements.
Divmod group_hw_divisor(int64_t C, int64_t HW, int64_t G) {
  MD_CHECK((C / G) * HW <= UINT32_MAX, ValueError, "group_norm: a group of ", (C / G) * HW,
           " elements exceeds the CUDA kernels' 32-bit indices");
  return Divmod(static_cast<uint32_t>(std::max<int64_t>(HW, 1)));
}

}  // namespace

// ---- launchers

void group_norm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                        int64_t N, int64_t C, int64_t HW, int64_t G, float eps, bool fuse_silu) {
  if (N * G == 0) return;
  group_norm_forward_kernel<<<static_cast<unsigned>(N * G), row_threads((C / G) * HW), 0, stream()>>>(
      out, mean, rstd, inp, weight, bias, C, HW, group_hw_divisor(C, HW, G), G, eps, fuse_silu);
  MD_CUDA_LAUNCHED("group_norm_forward");
}

void group_norm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, const float* bias, const float* mean, const float* rstd, int64_t N,
                         int64_t C, int64_t HW, int64_t G, bool fuse_silu) {
  if (C == 0) return;
  if (N == 0) {  // no samples: zero parameter gradients, as the CPU's empty sums give
    fill_f32(dweight, 0.0f, dweight ? C : 0);
    fill_f32(dbias, 0.0f, dbias ? C : 0);
    return;
  }
  DeviceBuffer sums(sizeof(double) * 2 * N * C);
  double* s_dy = sums.as<double>();
  double* s_dyx = s_dy + N * C;
  if (HW <= kWarpRowMax) {
    const int64_t rows_per_block = kThreads / 32, blocks = (N * C + rows_per_block - 1) / rows_per_block;
    group_norm_channel_sums_kernel<true><<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(
        s_dy, s_dyx, dout, inp, weight, bias, mean, rstd, N * C, C, HW, G, fuse_silu);
  } else {
    group_norm_channel_sums_kernel<false><<<static_cast<unsigned>(N * C), row_threads(HW), 0, stream()>>>(
        s_dy, s_dyx, dout, inp, weight, bias, mean, rstd, N * C, C, HW, G, fuse_silu);
  }
  MD_CUDA_LAUNCHED("group_norm_backward channel sums");
  if (dinp) {
    group_norm_dinput_kernel<<<static_cast<unsigned>(N * G), row_threads((C / G) * HW), 0, stream()>>>(
        dinp, s_dy, s_dyx, dout, inp, weight, bias, mean, rstd, C, HW, group_hw_divisor(C, HW, G), G, fuse_silu);
    MD_CUDA_LAUNCHED("group_norm_backward dinput");
  }
  if (dweight || dbias) {
    group_norm_param_grad_kernel<<<static_cast<unsigned>(C), row_threads(N), 0, stream()>>>(dweight, dbias, s_dy, s_dyx,
                                                                                            N, C);
    MD_CUDA_LAUNCHED("group_norm_backward dweight/dbias");
  }
}

void layer_norm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                        int64_t M, int64_t D, float eps) {
  if (M == 0 || D == 0) return;
  layer_norm_forward_kernel<<<static_cast<unsigned>(M), row_threads(D), 0, stream()>>>(out, mean, rstd, inp, weight,
                                                                                       bias, D, eps);
  MD_CUDA_LAUNCHED("layer_norm_forward");
}

void layer_norm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, const float* mean, const float* rstd, int64_t M, int64_t D) {
  if (D == 0) return;
  if (M == 0) {
    fill_f32(dweight, 0.0f, dweight ? D : 0);
    fill_f32(dbias, 0.0f, dbias ? D : 0);
    return;
  }
  if (dinp) {
    layer_norm_dinput_kernel<<<static_cast<unsigned>(M), row_threads(D), 0, stream()>>>(dinp, dout, inp, weight, mean,
                                                                                        rstd, D);
    MD_CUDA_LAUNCHED("layer_norm_backward dinput");
  }
  if (dweight || dbias) {
    const dim3 block(kColsX, kColsY);
    layer_norm_param_grad_kernel<<<static_cast<unsigned>((D + kColsX - 1) / kColsX), block, 0, stream()>>>(
        dweight, dbias, dout, inp, mean, rstd, M, D);
    MD_CUDA_LAUNCHED("layer_norm_backward dweight/dbias");
  }
}

}  // namespace md::cuda
