// Plain-data descriptions of kernel problems, shared by the CPU and CUDA twins.
#pragma once

#include <cstdint>

namespace md {

constexpr int kMaxDims = 8;

enum class UnaryOp : int {
  Neg,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Sin,
  Cos,
  Abs,
  Square,
  Silu,
  Gelu,
  GeluTanh,
  Relu,
  Sigmoid,
  Tanh,
};

enum class BinaryOp : int { Add, Sub, Mul, Div, Pow, Maximum, Minimum };

// An elementwise problem over an output of `shape`, each input addressed by its own strides
// (0 along broadcast dimensions). Built by make_broadcast_plan, which merges dimensions that are
// contiguous in every operand, so the common cases collapse to one or two dimensions.
struct BroadcastPlan {
  int ndim = 0;
  int64_t numel = 0;
  int64_t shape[kMaxDims] = {};
  int64_t a_strides[kMaxDims] = {};
  int64_t b_strides[kMaxDims] = {};
};

// conv2d geometry, NCHW input (N, C, H, W), weight (K, C, R, S), output (N, K, P, Q).
struct Conv2dGeometry {
  int N, C, H, W;
  int K, R, S;
  int stride_h, stride_w;
  int pad_h, pad_w;
  int P, Q;
};

// Multi-dimensional strided copy, element strides.
struct StridedCopy {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t dst_strides[kMaxDims] = {};
  int64_t src_strides[kMaxDims] = {};
};

}  // namespace md
