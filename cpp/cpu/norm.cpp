// CPU group_norm (optionally fused with the SiLU that follows it in every ResNet block) and
// layer_norm. Statistics are accumulated in double; one parallel task per (sample, group).
#include <cmath>
#include <vector>

#include "cpu/common.h"
#include "cpu/vmath.h"
#include "kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace md::cpu {

namespace {

inline float sigmoidf(float x) { return vsigmoid(x); }

// Block length for float partial sums: each block is summed in float lanes (fast), the blocks in
// double, so a long sum keeps double-like accuracy.
constexpr int64_t kSumBlock = 512;

constexpr int kLanes = 16;  // one AVX-512 register of floats

inline float lane_sum(const float* a) {
#if defined(__AVX512F__)
// (GCC 12's AVX-512 headers warn at the reduction, see cpu/transpose.h)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
  return _mm512_reduce_add_ps(_mm512_loadu_ps(a));
#pragma GCC diagnostic pop
#else
  float s = 0.0f;
  for (int l = 0; l < kLanes; ++l) s += a[l];
  return s;
#endif
}

// The two sums over i in [0, n) whose terms body(i, a1, a2) adds to a1 and a2, in float within
// blocks of kSumBlock and in double across them. A block of whole vectors (the U-Nets' 4x4, 8x8
// and 28x28 maps) is summed in explicit lanes with one shuffle-tree sum at the end: for
// `omp simd reduction` GCC adds the lanes up one scalar add at a time through the stack, which at
// 4x4 and 8x8 maps (one or four vectors a channel) took 40% of the backward pass.
template <typename Body>
MD_ALWAYS_INLINE void sum2(int64_t n, double& s1, double& s2, Body body) {
  s1 = s2 = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += kSumBlock) {
    const int64_t i1 = std::min(n, i0 + kSumBlock);
    if ((i1 - i0) % kLanes == 0) {
      float a1[kLanes] = {}, a2[kLanes] = {};
      for (int64_t i = i0; i < i1; i += kLanes) {
#pragma omp simd
        for (int l = 0; l < kLanes; ++l) body(i + l, a1[l], a2[l]);
      }
      s1 += lane_sum(a1);
      s2 += lane_sum(a2);
    } else {
      float b1 = 0.0f, b2 = 0.0f;
#pragma omp simd reduction(+ : b1, b2)
      for (int64_t i = i0; i < i1; ++i) body(i, b1, b2);
      s1 += b1;
      s2 += b2;
    }
  }
}

// The sum over i in [0, n) of term(i), as sum2.
template <typename Term>
MD_ALWAYS_INLINE double sum1(int64_t n, Term term) {
  double s = 0.0, unused = 0.0;
  sum2(n, s, unused, [&](int64_t i, float& a, float&) { a += term(i); });
  return s;
}

}  // namespace

void group_norm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                        int64_t N, int64_t C, int64_t HW, int64_t G, float eps, bool fuse_silu) {
  const int64_t Cg = C / G, group = Cg * HW;
#pragma omp parallel for if (worth_parallel(N * C * HW)) schedule(static)
  for (int64_t ng = 0; ng < N * G; ++ng) {
    const int64_t n = ng / G, gi = ng % G;
    const float* x = inp + ng * group;
    float* y = out + ng * group;
    const double s = sum1(group, [&](int64_t i) { return x[i]; });
    const float m = static_cast<float>(group ? s / group : 0.0);
    // squares about the float mean, less the part its rounding adds: group (mean - m)^2
    const double off = s - static_cast<double>(m) * group;
    const double v =
        sum1(group, [&](int64_t i) { return (x[i] - m) * (x[i] - m); }) - (group ? off * off / group : 0.0);
    const float rs = static_cast<float>(1.0 / std::sqrt((group ? std::max(v, 0.0) / group : 0.0) + eps));
    mean[ng] = m;
    rstd[ng] = rs;
    for (int64_t cl = 0; cl < Cg; ++cl) {
      const int64_t c = gi * Cg + cl;
      const float a = rs * (weight ? weight[c] : 1.0f);
      const float b = (bias ? bias[c] : 0.0f) - m * a;
      const float* xc = x + cl * HW;
      float* yc = y + cl * HW;
      if (fuse_silu) {
#pragma omp simd
        for (int64_t i = 0; i < HW; ++i) {
          const float t = xc[i] * a + b;
          yc[i] = t * sigmoidf(t);
        }
      } else {
#pragma omp simd
        for (int64_t i = 0; i < HW; ++i) yc[i] = xc[i] * a + b;
      }
    }
    (void)n;
  }
}

void group_norm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, const float* bias, const float* mean, const float* rstd, int64_t N,
                         int64_t C, int64_t HW, int64_t G, bool fuse_silu) {
  const int64_t Cg = C / G, group = Cg * HW;
  // per (n, c): sum dy * xhat and sum dy, reduced over n at the end
  std::vector<double> s_dyx(N * C), s_dy(N * C);
  // Where the input gradient is wanted and SiLU is fused, the first pass leaves the gradient
  // before the SiLU (dy * silu'(t)) in dinp, so the second pass does not evaluate sigmoid again.
  const bool keep_d = dinp && fuse_silu;
#pragma omp parallel if (worth_parallel(N * C * HW))
  {
#pragma omp for schedule(static)
    for (int64_t ng = 0; ng < N * G; ++ng) {
      const int64_t n = ng / G, gi = ng % G;
      const float* x = inp + ng * group;
      const float* go = dout + ng * group;
      float* dx = dinp ? dinp + ng * group : nullptr;
      const float m = mean[ng], rs = rstd[ng];
      // first pass: per-channel sums of d and d * xhat (d: the gradient at the normalised,
      // affine output t, after the SiLU's derivative); group sums of dxhat and dxhat * xhat
      double g_dxh = 0.0, g_dxhx = 0.0;
      for (int64_t cl = 0; cl < Cg; ++cl) {
        const int64_t c = gi * Cg + cl;
        const float w = weight ? weight[c] : 1.0f;
        const float b = bias ? bias[c] : 0.0f;
        const float* xc = x + cl * HW;
        const float* gc = go + cl * HW;
        float* dc = keep_d ? dx + cl * HW : nullptr;
        double sd, sdx;
        if (fuse_silu) {
          sum2(HW, sd, sdx, [&](int64_t i, float& bd, float& bdx) {
            const float xh = (xc[i] - m) * rs;
            const float t = xh * w + b;
            const float sg = sigmoidf(t);
            const float d = gc[i] * sg * (1.0f + t * (1.0f - sg));
            if (keep_d) dc[i] = d;
            bd += d;
            bdx += d * xh;
          });
        } else {
          sum2(HW, sd, sdx, [&](int64_t i, float& bd, float& bdx) {
            const float xh = (xc[i] - m) * rs;
            bd += gc[i];
            bdx += gc[i] * xh;
          });
        }
        s_dy[n * C + c] = sd;
        s_dyx[n * C + c] = sdx;
        g_dxh += sd * w;
        g_dxhx += sdx * w;
      }
      if (!dinp) continue;
      const float mean_dxh = static_cast<float>(g_dxh / group), mean_dxhx = static_cast<float>(g_dxhx / group);
      for (int64_t cl = 0; cl < Cg; ++cl) {
        const int64_t c = gi * Cg + cl;
        const float w = weight ? weight[c] : 1.0f;
        const float* xc = x + cl * HW;
        const float* dsrc = (keep_d ? dx : go) + cl * HW;
        float* dxc = dx + cl * HW;
        // dx = rstd (d w - mean(dxhat) - xhat mean(dxhat xhat)), xhat = (x - mean) rstd
        const float a = rs * w, k = rs * rs * mean_dxhx, c0 = -rs * mean_dxh;
#pragma omp simd
        for (int64_t i = 0; i < HW; ++i) dxc[i] = dsrc[i] * a - (xc[i] - m) * k + c0;
      }
    }
  }
  // sum over samples, row by row (a column walk touched a new cache line per element)
  for (int64_t n = 1; n < N; ++n)
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      s_dyx[c] += s_dyx[n * C + c];
      s_dy[c] += s_dy[n * C + c];
    }
  for (int64_t c = 0; c < C; ++c) {
    if (dweight) dweight[c] = static_cast<float>(N ? s_dyx[c] : 0.0);
    if (dbias) dbias[c] = static_cast<float>(N ? s_dy[c] : 0.0);
  }
}

void layer_norm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                        int64_t M, int64_t D, float eps) {
#pragma omp parallel for if (worth_parallel(M * D)) schedule(static)
  for (int64_t m = 0; m < M; ++m) {
    const float* x = inp + m * D;
    float* y = out + m * D;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < D; ++i) s += x[i];
    const double mu = s / D;
    double v = 0.0;
#pragma omp simd reduction(+ : v)
    for (int64_t i = 0; i < D; ++i) v += (x[i] - mu) * (x[i] - mu);
    const float rs = static_cast<float>(1.0 / std::sqrt(v / D + eps));
    const float mf = static_cast<float>(mu);
    mean[m] = mf;
    rstd[m] = rs;
#pragma omp simd
    for (int64_t i = 0; i < D; ++i) y[i] = (x[i] - mf) * rs * (weight ? weight[i] : 1.0f) + (bias ? bias[i] : 0.0f);
  }
}

void layer_norm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                         const float* weight, const float* mean, const float* rstd, int64_t M, int64_t D) {
  std::vector<double> dw(D, 0.0), db(D, 0.0);
  for (int64_t m = 0; m < M; ++m) {
    const float* x = inp + m * D;
    const float* g = dout + m * D;
    const float mu = mean[m], rs = rstd[m];
    double a = 0.0, b = 0.0;
    for (int64_t i = 0; i < D; ++i) {
      const float xh = (x[i] - mu) * rs;
      const float dxh = g[i] * (weight ? weight[i] : 1.0f);
      a += dxh;
      b += dxh * xh;
      dw[i] += g[i] * xh;
      db[i] += g[i];
    }
    if (dinp) {
      const float ma = static_cast<float>(a / D), mb = static_cast<float>(b / D);
      float* dx = dinp + m * D;
      for (int64_t i = 0; i < D; ++i) {
        const float xh = (x[i] - mu) * rs;
        dx[i] = rs * (g[i] * (weight ? weight[i] : 1.0f) - ma - xh * mb);
      }
    }
  }
  for (int64_t i = 0; i < D; ++i) {
    if (dweight) dweight[i] = static_cast<float>(dw[i]);
    if (dbias) dbias[i] = static_cast<float>(db[i]);
  }
}

}  // namespace md::cpu
