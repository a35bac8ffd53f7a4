// The per-element bodies of the CUDA conv2d's index kernels (im2col, col2im, the dweight image/
// channel swap, the bias add), as functions of the flat index i. The kernels in conv2d.cu call
// them from grid-stride loops; the CPU tests (tests/cpp/test_cuda_index.cpp) call them from plain
// loops over every i and compare with a direct reference, so the index arithmetic the GPU runs is
// checked on machines without one.
#pragma once

#include <algorithm>
#include <cstdint>

#include "cuda/divmod.h"
#include "kernel_types.h"

namespace md::cuda {

// The divisors of one geometry's index splits, made once per call on the host.
struct ConvIndex {
  Divmod PQ, Q, HW, W, C, K, stride_h, stride_w;
  explicit ConvIndex(const Conv2dGeometry& g)
      : PQ(u32(int64_t(g.P) * g.Q)),
        Q(u32(g.Q)),
        HW(u32(int64_t(g.H) * g.W)),
        W(u32(g.W)),
        C(u32(g.C)),
        K(u32(g.K)),
        stride_h(u32(g.stride_h)),
        stride_w(u32(g.stride_w)) {}
  // a divisor of 0 (an empty dim) never divides anything: the launchers return before
  static uint32_t u32(int64_t v) { return static_cast<uint32_t>(std::max<int64_t>(v, 1)); }
};

// The kernel size of the im2col/col2im bodies below: R_ x S_ when both are given at compile time
// (the launchers instantiate 3x3, most of a U-Net's convolutions), else g.R x g.S. With a fixed
// size every tap is unrolled and all of a thread's loads are issued before the first store or add:
// a runtime loop waited out one memory latency per tap, and these kernels ran at a quarter of
// the memory bandwidth (H200, 2026-11-26).

// A float32 value as stored in a column or operand buffer of element type T: float as it is;
// conv2d.cu specialises it for bf16 (the bf16 matmul mode's operands, rounded to nearest even).
template <typename T>
MD_HOST_DEVICE T column_value(float v) {
  return v;
}

// im2col, for i over (n, c, pq) of nb images: writes the R*S taps of output pixel pq of channel c
// to col[n * img_stride + (c*R*S + tap) * row_stride + pq] from inp (nb, C, H, W). Per image
// (CRS, PQ) blocks when img_stride = CRS*PQ, one wide (CRS, nb*PQ) matrix when img_stride = PQ.
// T: the columns' element type (float, or bf16 in the bf16 matmul mode).
template <int R_ = 0, int S_ = 0, typename T = float>
MD_HOST_DEVICE void im2col_at(uint32_t i, T* __restrict__ col, const float* __restrict__ inp, const Conv2dGeometry& g,
                              const ConvIndex& ix, int64_t img_stride, int64_t row_stride) {
  constexpr bool kFixed = R_ > 0 && S_ > 0;
  const int R = kFixed ? R_ : g.R, S = kFixed ? S_ : g.S;
  uint32_t t, pq, n, c, p, q;
  ix.PQ.divmod(i, t, pq);
  ix.C.divmod(t, n, c);
  ix.Q.divmod(pq, p, q);
  const float* src = inp + (int64_t(n) * g.C + c) * g.H * g.W;
  T* dst = col + n * img_stride + int64_t(c) * R * S * row_stride + pq;
  const int h0 = static_cast<int>(p) * g.stride_h - g.pad_h, w0 = static_cast<int>(q) * g.stride_w - g.pad_w;
  if constexpr (kFixed) {
    float v[R_ * S_];
    MD_UNROLL
    for (int r = 0; r < R_; ++r) {
      const int h = h0 + r;
      const bool row_inside = h >= 0 && h < g.H;
      MD_UNROLL
      for (int s = 0; s < S_; ++s) {
        const int w = w0 + s;
        v[r * S_ + s] = row_inside && w >= 0 && w < g.W ? src[static_cast<int64_t>(h) * g.W + w] : 0.0f;
      }
    }
    MD_UNROLL
    for (int k = 0; k < R_ * S_; ++k) dst[k * row_stride] = column_value<T>(v[k]);
  } else {
    for (int r = 0; r < R; ++r) {
      const int h = h0 + r;
      const bool row_inside = h >= 0 && h < g.H;
      for (int s = 0; s < S; ++s) {
        const int w = w0 + s;
        *dst = column_value<T>(row_inside && w >= 0 && w < g.W ? src[static_cast<int64_t>(h) * g.W + w] : 0.0f);
        dst += row_stride;
      }
    }
  }
}

// The column entry of tap (r, s) that im2col copied pixel (h, w) to, or null when no output pixel
// reads the pixel through that tap (colc: the channel's first column row).
MD_HOST_DEVICE const float* col2im_source(const float* colc, int r, int s, uint32_t h, uint32_t w,
                                          const Conv2dGeometry& g, const ConvIndex& ix, int64_t row_stride) {
  const int ph = static_cast<int>(h) + g.pad_h - r;  // = p * stride_h
  const int qw = static_cast<int>(w) + g.pad_w - s;  // = q * stride_w
  if (ph < 0 || qw < 0) return nullptr;
  uint32_t p, ph_rem, q, qw_rem;
  ix.stride_h.divmod(static_cast<uint32_t>(ph), p, ph_rem);
  ix.stride_w.divmod(static_cast<uint32_t>(qw), q, qw_rem);
  if (ph_rem != 0 || p >= static_cast<uint32_t>(g.P) || qw_rem != 0 || q >= static_cast<uint32_t>(g.Q)) return nullptr;
  return colc + (static_cast<int64_t>(r) * g.S + s) * row_stride + static_cast<int64_t>(p) * g.Q + q;
}

// col2im, for i over the pixels (n, c, h, w) of nb images: the sum, in (r, s) order like the
// CPU's scatter, of the column entries that im2col copied pixel i to, in either of im2col's
// layouts: per-image blocks dcol (nb, CRS, PQ) when img_stride = CRS*PQ and row_stride = PQ, one
// wide matrix (CRS, nb*PQ) when img_stride = PQ and row_stride = nb*PQ.
template <int R_ = 0, int S_ = 0>
MD_HOST_DEVICE float col2im_at(uint32_t i, const float* __restrict__ dcol, const Conv2dGeometry& g, const ConvIndex& ix,
                               int64_t img_stride, int64_t row_stride) {
  constexpr bool kFixed = R_ > 0 && S_ > 0;
  const int R = kFixed ? R_ : g.R, S = kFixed ? S_ : g.S;
  uint32_t nc, hw, n, c, h, w;
  ix.HW.divmod(i, nc, hw);
  ix.C.divmod(nc, n, c);
  ix.W.divmod(hw, h, w);
  const float* colc = dcol + int64_t(n) * img_stride + int64_t(c) * R * S * row_stride;
  float acc = 0.0f;
  if constexpr (kFixed) {
    float v[R_ * S_];
    MD_UNROLL
    for (int r = 0; r < R_; ++r) MD_UNROLL
    for (int s = 0; s < S_; ++s) {
      const float* src = col2im_source(colc, r, s, h, w, g, ix, row_stride);
      v[r * S_ + s] = src ? *src : 0.0f;
    }
    MD_UNROLL
    for (int k = 0; k < R_ * S_; ++k) acc += v[k];  // + 0.0f for the taps that read nothing
  } else {
    for (int r = 0; r < R; ++r)
      for (int s = 0; s < S; ++s)
        if (const float* src = col2im_source(colc, r, s, h, w, g, ix, row_stride)) acc += *src;
  }
  return acc;
}

// Where element i of src (nb, K, PQ) goes in dst (K, nb*PQ): the first two axes swapped. Read
// the other way, where element i of an (nb, K, PQ) output comes from in a wide (K, nb*PQ) product.
MD_HOST_DEVICE int64_t swap_image_channel_at(uint32_t i, const ConvIndex& ix, int64_t nb) {
  const int64_t PQ = ix.PQ.divisor();
  uint32_t t, pq, n, k;
  ix.PQ.divmod(i, t, pq);
  ix.K.divmod(t, n, k);
  return int64_t(k) * nb * PQ + int64_t(n) * PQ + pq;
}

// The channel k of element i of an output (nb, K, PQ).
MD_HOST_DEVICE uint32_t output_channel_at(uint32_t i, const ConvIndex& ix) {
  uint32_t n, k;
  ix.K.divmod(ix.PQ.div(i), n, k);
  return k;
}

// ---- the implicit-GEMM convolution (cuda/conv2d_implicit.cu)
// One product C (M, Ncols) = A (M, Kd) @ B (Kd, Ncols) whose operands are read in place:
//   A(m, kk) = wgt[m * a_m + ch * a_ch + rs], with kk = ch * R*S + rs and rs = r * S + s;
//   B(kk, n) = src[img, ch, y * stride_h + off_h + dir * r, x * stride_w + off_w + dir * s], zero
//              outside the (Hs, Ws) map, with n = (img * Ho + y) * Wo + x;
//   out[img, m, y, x] = C(m, n) (+ bias[m]).
// The forward is W (K, CRS) times the columns of the input (dir = +1, off = -pad); the stride-1
// input gradient is the transposed weights times the columns of dout read backwards (dir = -1,
// off = +pad): dinp[n, c, h, w] = sum over k, r, s of W[k, c, r, s] dout[n, k, h + pad_h - r, w + pad_w - s].
struct ImplicitGemm {
  const float* src;
  const float* wgt;
  const float* bias;  // (M) or null
  float* out;
  int M, Kd, Ncols;  // Ncols = images * Ho * Wo
  int Cs, Hs, Ws;    // one source image
  int Ho, Wo;        // the output map
  int R, S;
  int stride_h, stride_w, off_h, off_w, dir;
  int64_t a_m, a_ch;
};

inline ImplicitGemm implicit_forward_gemm(float* out, const float* inp, const float* weight, const float* bias,
                                          const Conv2dGeometry& g) {
  const int RS = g.R * g.S;
  return ImplicitGemm{inp, weight, bias, out, g.K,        g.C * RS,   0,        g.C,      g.H, g.W,
                      g.P, g.Q,    g.R,  g.S, g.stride_h, g.stride_w, -g.pad_h, -g.pad_w, 1,   int64_t(g.C) * RS,
                      RS};
}

// (stride 1 only)
inline ImplicitGemm implicit_dinput_gemm(float* dinp, const float* dout, const float* weight, const Conv2dGeometry& g) {
  const int RS = g.R * g.S;
  return ImplicitGemm{dout, weight,  nullptr, dinp, g.C, g.K * RS,         0, g.K, g.P, g.Q, g.H, g.W, g.R, g.S, 1,
                      1,    g.pad_h, g.pad_w, -1,   RS,  int64_t(g.C) * RS};
}

// Where column n's taps start: its image's source plane and the tap (0, 0)'s row and column.
struct ImplicitPixel {
  int64_t img_offset;
  int h0, w0;
};

MD_HOST_DEVICE ImplicitPixel implicit_pixel(const ImplicitGemm& p, int n) {
  const int HoWo = p.Ho * p.Wo;
  const int img = n / HoWo, pix = n - img * HoWo;
  const int y = pix / p.Wo, x = pix - y * p.Wo;
  return {int64_t(img) * p.Cs * p.Hs * p.Ws, y * p.stride_h + p.off_h, x * p.stride_w + p.off_w};
}

// Depth kk of B split into its source channel's offset and the tap's row and column steps
// (dir * r, dir * s): the part of a B address shared by every column of a tile row. R_, S_: the
// kernel size fixed at compile time, or 0 for p.R, p.S.
struct ImplicitTap {
  int64_t ch_offset;
  int dh, dw;
};

template <int R_ = 0, int S_ = 0>
MD_HOST_DEVICE ImplicitTap implicit_tap(const ImplicitGemm& p, int kk) {
  constexpr bool kFixed = R_ > 0 && S_ > 0;
  const int S = kFixed ? S_ : p.S, RS = kFixed ? R_ * S_ : p.R * p.S;
  const int ch = kk / RS, rs = kk - ch * RS;
  const int r = rs / S, s = rs - r * S;
  return {int64_t(ch) * p.Hs * p.Ws, p.dir * r, p.dir * s};
}

// Where B(kk, n) is read, for the column whose taps start at px and kk's tap: the offset in src,
// or -1 where the tap falls outside the map (B is zero there).
MD_HOST_DEVICE int64_t implicit_b_offset(const ImplicitGemm& p, const ImplicitPixel& px, const ImplicitTap& tap) {
  const int h = px.h0 + tap.dh, w = px.w0 + tap.dw;
  if (h < 0 || h >= p.Hs || w < 0 || w >= p.Ws) return -1;
  return px.img_offset + tap.ch_offset + int64_t(h) * p.Ws + w;
}

// B(kk, n) itself.
template <int R_ = 0, int S_ = 0>
MD_HOST_DEVICE float implicit_b_at(const ImplicitGemm& p, const ImplicitPixel& px, int kk) {
  const int64_t off = implicit_b_offset(p, px, implicit_tap<R_, S_>(p, kk));
  return off < 0 ? 0.0f : p.src[off];
}

// The offset of A(m, kk) in wgt less m * a_m.
template <int R_ = 0, int S_ = 0>
MD_HOST_DEVICE int64_t implicit_a_offset(const ImplicitGemm& p, int kk) {
  constexpr bool kFixed = R_ > 0 && S_ > 0;
  const int RS = kFixed ? R_ * S_ : p.R * p.S;
  const int ch = kk / RS;
  return int64_t(ch) * p.a_ch + (kk - ch * RS);
}

// Where C(m, n) goes in out.
MD_HOST_DEVICE int64_t implicit_out_index(const ImplicitGemm& p, int m, int n) {
  const int HoWo = p.Ho * p.Wo;
  const int img = n / HoWo;
  return (int64_t(img) * p.M + m) * HoWo + (n - img * HoWo);
}

}  // namespace md::cuda
