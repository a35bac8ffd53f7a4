// CPU conv2d. Stride-1 3x3 convolutions go to Winograd F(2x2, 3x3) (cpu/winograd.cpp) wherever
// the rule there says it is faster, per direction (forward, input gradient, weight gradient);
// everything else is im2col + GEMM. With at least as many images as threads, one OpenMP region runs
// whole images per thread (im2col into that thread's scratch, then a single-threaded GEMM), so a
// convolution synchronises its threads once instead of twice per image; with fewer images each
// image's im2col and GEMM are split across the threads instead. The 1x1 stride-1 unpadded case
// skips im2col (the input already is the column matrix).
#include <cstring>
#include <vector>

#include "cpu/common.h"
#include "cpu/winograd.h"
#include "kernels.h"

namespace md::cpu {

namespace {

bool is_pointwise(const Conv2dGeometry& g) {
  return g.R == 1 && g.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Threads for a loop over the batch: every thread when each gets at least one image and the
// convolution is big enough to pay for a parallel region, else none (the per-image work is split
// instead, where that pays).
bool parallel_over_images(const Conv2dGeometry& g) {
  const int T = omp_get_max_threads();
  const double flops = 2.0 * g.N * g.K * g.P * g.Q * g.C * g.R * g.S;
  return T > 1 && g.N >= T && !omp_in_parallel() && flops >= (1 << 22);
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
  if (conv2d_forward_algo(g) == ConvAlgo::Winograd) {
    winograd_forward(out, inp, weight, bias, g);
    return;
  }
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, CRS = static_cast<int64_t>(g.C) * g.R * g.S;
  const int64_t in_img = static_cast<int64_t>(g.C) * g.H * g.W, out_img = static_cast<int64_t>(g.K) * PQ;
  const bool pointwise = is_pointwise(g);
  const bool by_image = parallel_over_images(g);
  const int slots = by_image ? omp_get_max_threads() : 1;
  check_blas_sizes({g.K, PQ, CRS});
  Scratch col(pointwise ? 0 : slots * CRS * PQ);  // (slots, CRS, PQ)
  // out (K, PQ) of image n = W (K, CRS) @ col (CRS, PQ) [+ bias]
  auto image = [&](int64_t n, float* c) {
    float* o = out + n * out_img;
    const float* B = inp + n * in_img;
    if (!pointwise) {
      im2col(c, B, g);
      B = c;
    }
    float beta = 0.0f;
    if (bias) {
      for (int k = 0; k < g.K; ++k) fill_f32(o + k * PQ, bias[k], PQ);
      beta = 1.0f;
    }
    gemm(false, false, g.K, PQ, CRS, 1.0f, weight, CRS, B, PQ, beta, o, PQ);
  };
  if (by_image) {
#pragma omp parallel
    {
      float* c = col.data() ? col.data() + omp_get_thread_num() * CRS * PQ : nullptr;
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.N; ++n) image(n, c);
    }
  } else {
    for (int64_t n = 0; n < g.N; ++n) image(n, col.data());
  }
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const Conv2dGeometry& g) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, CRS = static_cast<int64_t>(g.C) * g.R * g.S;
  const int64_t in_img = static_cast<int64_t>(g.C) * g.H * g.W, out_img = static_cast<int64_t>(g.K) * PQ;
  const int64_t KCRS = static_cast<int64_t>(g.K) * CRS;
  const bool pointwise = is_pointwise(g);
  if (dbias) {
#pragma omp parallel for if (worth_parallel(g.N * out_img)) schedule(static)
    for (int k = 0; k < g.K; ++k) {
      double acc = 0.0;
      for (int64_t n = 0; n < g.N; ++n) {
        const float* x = dout + n * out_img + k * PQ;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < PQ; ++i) s += x[i];
        acc += s;
      }
      dbias[k] = static_cast<float>(acc);
    }
  }
  if (dinp && conv2d_backward_input_algo(g) == ConvAlgo::Winograd) {
    winograd_backward_input(dinp, dout, weight, g);
    dinp = nullptr;
  }
  if (dweight && conv2d_backward_weight_algo(g) == ConvAlgo::Winograd) {
    winograd_backward_weight(dweight, dout, inp, g);
    dweight = nullptr;
  }
  if (!dweight && !dinp) return;
  const bool by_image = parallel_over_images(g);
  const int slots = by_image ? omp_get_max_threads() : 1;
  check_blas_sizes({g.K, PQ, CRS});
  Scratch col(pointwise ? 0 : slots * CRS * PQ);  // (slots, CRS, PQ): im2col, then dcol
  // Threads past the first accumulate their images' dW in private (K, CRS) blocks, summed at the end.
  Scratch dw_partial(by_image && dweight ? (slots - 1) * KCRS : 0);
  // One image: dW (K, CRS) += dO (K, PQ) @ col^T (PQ, CRS); dcol (CRS, PQ) = W^T (CRS, K) @ dO, then
  // scattered back into dI (or written straight into dI when pointwise).
  auto image = [&](int64_t n, float* c, float* dw, bool first) {
    const float* dO = dout + n * out_img;
    if (dweight) {
      const float* B = inp + n * in_img;
      if (!pointwise) {
        im2col(c, B, g);
        B = c;
      }
      gemm(false, true, g.K, CRS, PQ, 1.0f, dO, PQ, B, PQ, first ? 0.0f : 1.0f, dw, CRS);
    }
    if (dinp) {
      float* dI = dinp + n * in_img;
      if (pointwise) {
        gemm(true, false, CRS, PQ, g.K, 1.0f, weight, CRS, dO, PQ, 0.0f, dI, PQ);
      } else {
        gemm(true, false, CRS, PQ, g.K, 1.0f, weight, CRS, dO, PQ, 0.0f, c, PQ);
        col2im(dI, c, g);
      }
    }
  };
  if (by_image) {
#pragma omp parallel
    {
      const int t = omp_get_thread_num();
      float* c = col.data() ? col.data() + t * CRS * PQ : nullptr;
      float* dw = !dweight ? nullptr : t == 0 ? dweight : dw_partial.data() + (t - 1) * KCRS;
      bool first = true;
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.N; ++n) {
        image(n, c, dw, first);
        first = false;
      }
      if (dw && first) fill_f32(dw, 0.0f, KCRS);  // this thread had no image
#pragma omp barrier
      if (dweight) {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < KCRS; ++i) {
          float s = dweight[i];
          for (int u = 0; u + 1 < slots; ++u) s += dw_partial.data()[u * KCRS + i];
          dweight[i] = s;
        }
      }
    }
  } else {
    for (int64_t n = 0; n < g.N; ++n) image(n, col.data(), dweight, n == 0);
  }
}

}  // namespace md::cpu
