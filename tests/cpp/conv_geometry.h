// A conv2d geometry from its sizes, with the output size derived as conv2d does; shared by the
// C++ tests of the CUDA conv kernels and of their index arithmetic.
#pragma once

#include "kernel_types.h"

inline md::Conv2dGeometry conv_geometry(int N, int C, int H, int W, int K, int R, int S, int sh, int sw, int ph,
                                        int pw) {
  md::Conv2dGeometry g{};
  g.N = N;
  g.C = C;
  g.H = H;
  g.W = W;
  g.K = K;
  g.R = R;
  g.S = S;
  g.stride_h = sh;
  g.stride_w = sw;
  g.pad_h = ph;
  g.pad_w = pw;
  g.P = (H + 2 * ph - R) / sh + 1;
  g.Q = (W + 2 * pw - S) / sw + 1;
  return g;
}
