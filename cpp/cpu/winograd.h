// Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution for the CPU conv2d kernels, and the rule that picks it over
// im2col + GEMM. Internal to cpu/: conv2d.cpp calls it, and the C++ tests call it directly so the
// Winograd code is checked whatever the rule picks.
#pragma once

#include "kernel_types.h"

namespace md::cpu {

enum class ConvAlgo { Im2col, Winograd };

// 3x3 kernel, stride 1, padding 0..2 on each side (the input gradient of such a conv is one with
// padding 2 - pad, which must be supported too).
bool winograd_supported(const Conv2dGeometry& g);

// What conv2d_forward / conv2d_backward run for a geometry (see winograd.cpp for the measured rule).
ConvAlgo conv2d_forward_algo(const Conv2dGeometry& g);
ConvAlgo conv2d_backward_input_algo(const Conv2dGeometry& g);
ConvAlgo conv2d_backward_weight_algo(const Conv2dGeometry& g);

// The output tile (2 or 4: F(2x2, 3x3) or F(4x4, 3x3)) for a Winograd convolution whose outputs are
// n images of h x w: (N, P, Q) for the forward and weight gradient, (N, H, W) for the input gradient.
int winograd_tile(int64_t n, int h, int w);

// Floats of the input transform the forward can leave in `saved` for the weight gradient to reuse
// (0 where it does not: only convolutions cut into image chunks, the small maps where the
// transforms cost most against the products, keep it; larger maps would keep 2.25-4x their input).
int64_t winograd_saved_floats(const Conv2dGeometry& g, int tile);

// out (N, K, P, Q) = inp (N, C, H, W) correlated with weight (K, C, 3, 3) [+ bias (K)]; saved:
// winograd_saved_floats floats to fill, or null.
void winograd_forward(float* out, const float* inp, const float* weight, const float* bias, const Conv2dGeometry& g,
                      int tile, float* saved = nullptr);
// dinp (N, C, H, W) from dout (N, K, P, Q): a 3x3 conv of dout with the kernel rotated 180 degrees,
// C and K swapped, padding 2 - pad.
void winograd_backward_input(float* dinp, const float* dout, const float* weight, const Conv2dGeometry& g, int tile);
// dweight (K, C, 3, 3) from dout (N, K, P, Q) and inp (N, C, H, W), overwritten. saved: what
// winograd_forward left there, or null; it is used only if it was made for this geometry, tile and
// thread count (else the transform is computed again).
void winograd_backward_weight(float* dweight, const float* dout, const float* inp, const Conv2dGeometry& g, int tile,
                              const float* saved = nullptr);

}  // namespace md::cpu
