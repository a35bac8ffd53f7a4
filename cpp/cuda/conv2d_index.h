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

}  // namespace md::cuda
