// A direct convolution in double, forward and the three gradients, for any conv2d geometry: the
// oracle of the C++ conv2d tests (the im2col path, Winograd and the CUDA kernels). The CPU kernels
// are no oracle for the CUDA ones: Winograd F(4x4, 3x3) rounds several times more than a GEMM.
#pragma once

#include <cstddef>
#include <vector>

#include "kernel_types.h"

namespace testutil {

// Calls f(x index, w index, y index) for every product term of the convolution.
template <typename F>
void for_each_conv_term(const md::Conv2dGeometry& g, F f) {
  for (size_t n = 0; n < size_t(g.N); ++n)
    for (size_t k = 0; k < size_t(g.K); ++k)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q) {
          const size_t yi = ((n * g.K + k) * g.P + p) * g.Q + q;
          for (size_t c = 0; c < size_t(g.C); ++c)
            for (int r = 0; r < g.R; ++r)
              for (int s = 0; s < g.S; ++s) {
                const int h = p * g.stride_h - g.pad_h + r, v = q * g.stride_w - g.pad_w + s;
                if (h < 0 || h >= g.H || v < 0 || v >= g.W) continue;
                f(((n * g.C + c) * g.H + h) * g.W + v, ((k * g.C + c) * g.R + r) * g.S + s, yi);
              }
        }
}

// y (N, K, P, Q) = x (N, C, H, W) correlated with w (K, C, R, S), zero padding, [+ b (K)].
inline std::vector<double> conv2d_ref(const md::Conv2dGeometry& g, const std::vector<float>& x,
                                      const std::vector<float>& w, const float* b) {
  std::vector<double> y(size_t(g.N) * g.K * g.P * g.Q, 0.0);
  for_each_conv_term(g, [&](size_t xi, size_t wi, size_t yi) { y[yi] += double(x[xi]) * w[wi]; });
  if (b)
    for (size_t i = 0; i < y.size(); ++i) y[i] += b[(i / (size_t(g.P) * g.Q)) % g.K];
  return y;
}

// Gradients of sum(dy * y) with respect to x, w and (when db is given) the bias.
inline void conv2d_grads_ref(const md::Conv2dGeometry& g, const std::vector<float>& x, const std::vector<float>& w,
                             const std::vector<float>& dy, std::vector<double>& dx, std::vector<double>& dw,
                             std::vector<double>* db = nullptr) {
  dx.assign(x.size(), 0.0);
  dw.assign(w.size(), 0.0);
  for_each_conv_term(g, [&](size_t xi, size_t wi, size_t yi) {
    dx[xi] += double(dy[yi]) * w[wi];
    dw[wi] += double(dy[yi]) * x[xi];
  });
  if (db) {
    db->assign(g.K, 0.0);
    for (size_t i = 0; i < dy.size(); ++i) (*db)[(i / (size_t(g.P) * g.Q)) % g.K] += dy[i];
  }
}

}  // namespace testutil
