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

// im2col, for i over (n, c, pq) of nb images: writes the R*S taps of output pixel pq of channel c
// to col[n * img_stride + (c*R*S + tap) * row_stride + pq] from inp (nb, C, H, W). Per image
// (CRS, PQ) blocks when img_stride = CRS*PQ, one wide (CRS, nb*PQ) matrix when img_stride = PQ.
MD_HOST_DEVICE void im2col_at(uint32_t i, float* col, const float* inp, const Conv2dGeometry& g, const ConvIndex& ix,
                              int64_t img_stride, int64_t row_stride) {
  uint32_t t, pq, n, c, p, q;
  ix.PQ.divmod(i, t, pq);
  ix.C.divmod(t, n, c);
  ix.Q.divmod(pq, p, q);
  const float* src = inp + (int64_t(n) * g.C + c) * g.H * g.W;
  float* dst = col + n * img_stride + int64_t(c) * g.R * g.S * row_stride + pq;
  const int h0 = static_cast<int>(p) * g.stride_h - g.pad_h, w0 = static_cast<int>(q) * g.stride_w - g.pad_w;
  for (int r = 0; r < g.R; ++r) {
    const int h = h0 + r;
    const bool row_inside = h >= 0 && h < g.H;
    for (int s = 0; s < g.S; ++s) {
      const int w = w0 + s;
      *dst = row_inside && w >= 0 && w < g.W ? src[static_cast<int64_t>(h) * g.W + w] : 0.0f;
      dst += row_stride;
    }
  }
}

// col2im, for i over the pixels (n, c, h, w) of nb images: the sum, in (r, s) order like the
// CPU's scatter, of the per-image column entries dcol (nb, CRS, PQ) that im2col copied pixel i to.
MD_HOST_DEVICE float col2im_at(uint32_t i, const float* dcol, const Conv2dGeometry& g, const ConvIndex& ix) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, RS = static_cast<int64_t>(g.R) * g.S;
  uint32_t nc, hw, n, c, h, w;
  ix.HW.divmod(i, nc, hw);
  ix.C.divmod(nc, n, c);
  ix.W.divmod(hw, h, w);
  const float* colc = dcol + (int64_t(n) * g.C + c) * RS * PQ;
  float acc = 0.0f;
  for (int r = 0; r < g.R; ++r) {
    const int ph = static_cast<int>(h) + g.pad_h - r;  // = p * stride_h
    if (ph < 0) continue;
    uint32_t p, ph_rem;
    ix.stride_h.divmod(static_cast<uint32_t>(ph), p, ph_rem);
    if (ph_rem != 0 || p >= static_cast<uint32_t>(g.P)) continue;
    for (int s = 0; s < g.S; ++s) {
      const int qw = static_cast<int>(w) + g.pad_w - s;
      if (qw < 0) continue;
      uint32_t q, qw_rem;
      ix.stride_w.divmod(static_cast<uint32_t>(qw), q, qw_rem);
      if (qw_rem != 0 || q >= static_cast<uint32_t>(g.Q)) continue;
      acc += colc[(static_cast<int64_t>(r) * g.S + s) * PQ + static_cast<int64_t>(p) * g.Q + q];
    }
  }
  return acc;
}

// Where element i of src (nb, K, PQ) goes in dst (K, nb*PQ): the first two axes swapped.
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
