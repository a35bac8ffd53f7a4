// CPU conv2d as im2col + GEMM per image. The 1x1 stride-1 unpadded case skips im2col (the input
// already is the column matrix).
#include <cstring>
#include <vector>

#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

namespace {

bool is_pointwise(const Conv2dGeometry& g) {
  return g.R == 1 && g.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// col (C*R*S, P*Q) from one image inp (C, H, W).
void im2col(float* col, const float* inp, const Conv2dGeometry& g) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q;
#pragma omp parallel for collapse(2) if (worth_parallel(static_cast<int64_t>(g.C) * g.R * g.S * PQ)) schedule(static)
  for (int c = 0; c < g.C; ++c) {
    for (int rs = 0; rs < g.R * g.S; ++rs) {
      const int r = rs / g.S, s = rs % g.S;
      float* dst = col + (static_cast<int64_t>(c) * g.R * g.S + rs) * PQ;
      const float* src = inp + static_cast<int64_t>(c) * g.H * g.W;
      for (int p = 0; p < g.P; ++p) {
        const int h = p * g.stride_h - g.pad_h + r;
        float* row = dst + static_cast<int64_t>(p) * g.Q;
        if (h < 0 || h >= g.H) {
          std::memset(row, 0, sizeof(float) * g.Q);
          continue;
        }
        const float* srow = src + static_cast<int64_t>(h) * g.W;
        if (g.stride_w == 1) {
          const int w0 = s - g.pad_w;  // w = q + w0
          const int qlo = std::max(0, -w0), qhi = std::min(g.Q, g.W - w0);
          for (int q = 0; q < std::min(qlo, g.Q); ++q) row[q] = 0.0f;
          if (qhi > qlo) std::memcpy(row + qlo, srow + qlo + w0, sizeof(float) * (qhi - qlo));
          for (int q = std::max(qhi, qlo); q < g.Q; ++q) row[q] = 0.0f;
        } else {
          for (int q = 0; q < g.Q; ++q) {
            const int w = q * g.stride_w - g.pad_w + s;
            row[q] = (w >= 0 && w < g.W) ? srow[w] : 0.0f;
          }
        }
      }
    }
  }
}

// dinp (C, H, W) = sum of col (C*R*S, P*Q) scattered back (the adjoint of im2col).
void col2im(float* dinp, const float* col, const Conv2dGeometry& g) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q;
#pragma omp parallel for if (worth_parallel(static_cast<int64_t>(g.C) * g.R * g.S * PQ)) schedule(static)
  for (int c = 0; c < g.C; ++c) {
    float* dst = dinp + static_cast<int64_t>(c) * g.H * g.W;
    std::memset(dst, 0, sizeof(float) * g.H * g.W);
    for (int rs = 0; rs < g.R * g.S; ++rs) {
      const int r = rs / g.S, s = rs % g.S;
      const float* src = col + (static_cast<int64_t>(c) * g.R * g.S + rs) * PQ;
      for (int p = 0; p < g.P; ++p) {
        const int h = p * g.stride_h - g.pad_h + r;
        if (h < 0 || h >= g.H) continue;
        float* drow = dst + static_cast<int64_t>(h) * g.W;
        const float* row = src + static_cast<int64_t>(p) * g.Q;
        if (g.stride_w == 1) {
          const int w0 = s - g.pad_w;
          const int qlo = std::max(0, -w0), qhi = std::min(g.Q, g.W - w0);
#pragma omp simd
          for (int q = qlo; q < qhi; ++q) drow[q + w0] += row[q];
        } else {
          for (int q = 0; q < g.Q; ++q) {
            const int w = q * g.stride_w - g.pad_w + s;
            if (w >= 0 && w < g.W) drow[w] += row[q];
          }
        }
      }
    }
  }
}

}  // namespace

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const Conv2dGeometry& g) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, CRS = static_cast<int64_t>(g.C) * g.R * g.S;
  const int64_t in_img = static_cast<int64_t>(g.C) * g.H * g.W, out_img = static_cast<int64_t>(g.K) * PQ;
  const bool pointwise = is_pointwise(g);
  std::vector<float> col(pointwise ? 0 : CRS * PQ);
  for (int n = 0; n < g.N; ++n) {
    float* o = out + n * out_img;
    const float* B = inp + n * in_img;
    if (!pointwise) {
      im2col(col.data(), B, g);
      B = col.data();
    }
    float beta = 0.0f;
    if (bias) {
      for (int k = 0; k < g.K; ++k) fill_f32(o + k * PQ, bias[k], PQ);
      beta = 1.0f;
    }
    gemm(false, false, g.K, PQ, CRS, 1.0f, weight, CRS, B, PQ, beta, o, PQ);
  }
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const Conv2dGeometry& g) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, CRS = static_cast<int64_t>(g.C) * g.R * g.S;
  const int64_t in_img = static_cast<int64_t>(g.C) * g.H * g.W, out_img = static_cast<int64_t>(g.K) * PQ;
  const bool pointwise = is_pointwise(g);
  if (dbias) {
    std::vector<double> acc(g.K, 0.0);
    for (int n = 0; n < g.N; ++n)
      for (int k = 0; k < g.K; ++k) {
        const float* x = dout + n * out_img + k * PQ;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < PQ; ++i) s += x[i];
        acc[k] += s;
      }
    for (int k = 0; k < g.K; ++k) dbias[k] = static_cast<float>(acc[k]);
  }
  std::vector<float> col(pointwise ? 0 : CRS * PQ);
  for (int n = 0; n < g.N; ++n) {
    const float* dO = dout + n * out_img;
    if (dweight) {
      const float* B = inp + n * in_img;
      if (!pointwise) {
        im2col(col.data(), B, g);
        B = col.data();
      }
      // dW (K, CRS) += dO (K, PQ) @ col^T (PQ, CRS)
      gemm(false, true, g.K, CRS, PQ, 1.0f, dO, PQ, B, PQ, n == 0 ? 0.0f : 1.0f, dweight, CRS);
    }
    if (dinp) {
      float* dI = dinp + n * in_img;
      if (pointwise) {
        gemm(true, false, CRS, PQ, g.K, 1.0f, weight, CRS, dO, PQ, 0.0f, dI, PQ);
      } else {
        // dcol (CRS, PQ) = W^T (CRS, K) @ dO (K, PQ), then scatter back
        gemm(true, false, CRS, PQ, g.K, 1.0f, weight, CRS, dO, PQ, 0.0f, col.data(), PQ);
        col2im(dI, col.data(), g);
      }
    }
  }
}

}  // namespace md::cpu
