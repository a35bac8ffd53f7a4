// The implicit-GEMM conv2d kernels (conv2d_implicit.cu), behind conv2d.cu's layout switch.
#pragma once

#include "kernel_types.h"

namespace md::cuda {

// Whether the current device has the TF32 tensor cores the kernels use (compute capability 8.0+).
bool conv2d_implicit_supported();
// out (N, K, P, Q) = conv2d(inp, weight) (+ bias), any geometry, TF32 products.
void conv2d_implicit_forward(float* out, const float* inp, const float* weight, const float* bias,
                             const Conv2dGeometry& g);
// dinp (N, C, H, W) = the input gradient of a stride-1 conv2d for dout (N, K, P, Q), TF32 products.
void conv2d_implicit_dinput(float* dinp, const float* dout, const float* weight, const Conv2dGeometry& g);

}  // namespace md::cuda
