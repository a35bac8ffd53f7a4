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
  Tan,
  Asin,
  Acos,
  Atan,
  Sinh,
  Cosh,
  Asinh,
  Acosh,
  Atanh,
  Log1p,
  Expm1,
  Log2,
  Log10,
  Exp2,
  Erf,
  Erfc,
  Erfinv,
  Reciprocal,
};

// Maximum and Minimum propagate NaN from either side, as torch.maximum does. The rest are factors
// of backward passes: PowGradBase and PowGradExponent those of pow, with torch's values where the
// textbook formulas give 0 * inf: d/da a**b = b * a**(b-1), taken as 0 where b == 0; d/db a**b =
// a**b * log(a), taken as 0 where a == 0 and b >= 0. AtLeast is 1 where a >= b, else 0 (clamp's
// gradient mask, NaN excluded); MaxGrad is d maximum(a, b) / da: 0 where a < b, 1/2 at a tie (the
// gradient is split, as torch splits it), else 1 (NaN included, as in torch). Equal is 1 where
// a == b, NaN counting as equal to NaN (the max's ties, which share its gradient), else 0.
enum class BinaryOp : int {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  PowGradBase,
  PowGradExponent,
  AtLeast,
  MaxGrad,
  Equal,
  Eq,  // the comparisons: 1 where a == b (a != b, a < b, ...) as IEEE compares, NaN unequal to all
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
};

// The comparisons give float32 masks of 1 and 0, for int64 operands too.
constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq && op <= BinaryOp::Ge; }
// The ops with int64 kernels (binary_forward_i64, scalar_forward_i64): those that keep integers
// integers in torch (+, -, *, maximum, minimum; int64 results) and the comparisons. The rest
// (true division, pow, the gradient helpers) compute in float32.
constexpr bool has_int64_kernel(BinaryOp op) {
  return op == BinaryOp::Add || op == BinaryOp::Sub || op == BinaryOp::Mul || op == BinaryOp::Pow ||
         op == BinaryOp::Maximum || op == BinaryOp::Minimum || is_comparison(op);
}

// `return fn<op>(args...)` for the run-time op: the one place where the enums meet the kernels'
// compile-time templates (used by both twins; the expansion site provides RuntimeError and str).
#define MD_UNARY_CASES(fn, ...)                    \
  switch (op) {                                    \
    case UnaryOp::Neg:                             \
      return fn<UnaryOp::Neg>(__VA_ARGS__);        \
    case UnaryOp::Exp:                             \
      return fn<UnaryOp::Exp>(__VA_ARGS__);        \
    case UnaryOp::Log:                             \
      return fn<UnaryOp::Log>(__VA_ARGS__);        \
    case UnaryOp::Sqrt:                            \
      return fn<UnaryOp::Sqrt>(__VA_ARGS__);       \
    case UnaryOp::Rsqrt:                           \
      return fn<UnaryOp::Rsqrt>(__VA_ARGS__);      \
    case UnaryOp::Sin:                             \
      return fn<UnaryOp::Sin>(__VA_ARGS__);        \
    case UnaryOp::Cos:                             \
      return fn<UnaryOp::Cos>(__VA_ARGS__);        \
    case UnaryOp::Abs:                             \
      return fn<UnaryOp::Abs>(__VA_ARGS__);        \
    case UnaryOp::Square:                          \
      return fn<UnaryOp::Square>(__VA_ARGS__);     \
    case UnaryOp::Silu:                            \
      return fn<UnaryOp::Silu>(__VA_ARGS__);       \
    case UnaryOp::Gelu:                            \
      return fn<UnaryOp::Gelu>(__VA_ARGS__);       \
    case UnaryOp::GeluTanh:                        \
      return fn<UnaryOp::GeluTanh>(__VA_ARGS__);   \
    case UnaryOp::Relu:                            \
      return fn<UnaryOp::Relu>(__VA_ARGS__);       \
    case UnaryOp::Sigmoid:                         \
      return fn<UnaryOp::Sigmoid>(__VA_ARGS__);    \
    case UnaryOp::Tanh:                            \
      return fn<UnaryOp::Tanh>(__VA_ARGS__);       \
    case UnaryOp::Tan:                             \
      return fn<UnaryOp::Tan>(__VA_ARGS__);        \
    case UnaryOp::Asin:                            \
      return fn<UnaryOp::Asin>(__VA_ARGS__);       \
    case UnaryOp::Acos:                            \
      return fn<UnaryOp::Acos>(__VA_ARGS__);       \
    case UnaryOp::Atan:                            \
      return fn<UnaryOp::Atan>(__VA_ARGS__);       \
    case UnaryOp::Sinh:                            \
      return fn<UnaryOp::Sinh>(__VA_ARGS__);       \
    case UnaryOp::Cosh:                            \
      return fn<UnaryOp::Cosh>(__VA_ARGS__);       \
    case UnaryOp::Asinh:                           \
      return fn<UnaryOp::Asinh>(__VA_ARGS__);      \
    case UnaryOp::Acosh:                           \
      return fn<UnaryOp::Acosh>(__VA_ARGS__);      \
    case UnaryOp::Atanh:                           \
      return fn<UnaryOp::Atanh>(__VA_ARGS__);      \
    case UnaryOp::Log1p:                           \
      return fn<UnaryOp::Log1p>(__VA_ARGS__);      \
    case UnaryOp::Expm1:                           \
      return fn<UnaryOp::Expm1>(__VA_ARGS__);      \
    case UnaryOp::Log2:                            \
      return fn<UnaryOp::Log2>(__VA_ARGS__);       \
    case UnaryOp::Log10:                           \
      return fn<UnaryOp::Log10>(__VA_ARGS__);      \
    case UnaryOp::Exp2:                            \
      return fn<UnaryOp::Exp2>(__VA_ARGS__);       \
    case UnaryOp::Erf:                             \
      return fn<UnaryOp::Erf>(__VA_ARGS__);        \
    case UnaryOp::Erfc:                            \
      return fn<UnaryOp::Erfc>(__VA_ARGS__);       \
    case UnaryOp::Erfinv:                          \
      return fn<UnaryOp::Erfinv>(__VA_ARGS__);     \
    case UnaryOp::Reciprocal:                      \
      return fn<UnaryOp::Reciprocal>(__VA_ARGS__); \
  }                                                \
  throw RuntimeError(str("unknown unary op ", static_cast<int>(op)))

#define MD_BINARY_CASES(fn, ...)                         \
  switch (op) {                                          \
    case BinaryOp::Add:                                  \
      return fn<BinaryOp::Add>(__VA_ARGS__);             \
    case BinaryOp::Sub:                                  \
      return fn<BinaryOp::Sub>(__VA_ARGS__);             \
    case BinaryOp::Mul:                                  \
      return fn<BinaryOp::Mul>(__VA_ARGS__);             \
    case BinaryOp::Div:                                  \
      return fn<BinaryOp::Div>(__VA_ARGS__);             \
    case BinaryOp::Pow:                                  \
      return fn<BinaryOp::Pow>(__VA_ARGS__);             \
    case BinaryOp::Maximum:                              \
      return fn<BinaryOp::Maximum>(__VA_ARGS__);         \
    case BinaryOp::Minimum:                              \
      return fn<BinaryOp::Minimum>(__VA_ARGS__);         \
    case BinaryOp::PowGradBase:                          \
      return fn<BinaryOp::PowGradBase>(__VA_ARGS__);     \
    case BinaryOp::PowGradExponent:                      \
      return fn<BinaryOp::PowGradExponent>(__VA_ARGS__); \
    case BinaryOp::AtLeast:                              \
      return fn<BinaryOp::AtLeast>(__VA_ARGS__);         \
    case BinaryOp::MaxGrad:                              \
      return fn<BinaryOp::MaxGrad>(__VA_ARGS__);         \
    case BinaryOp::Equal:                                \
      return fn<BinaryOp::Equal>(__VA_ARGS__);           \
    case BinaryOp::Eq:                                   \
      return fn<BinaryOp::Eq>(__VA_ARGS__);              \
    case BinaryOp::Ne:                                   \
      return fn<BinaryOp::Ne>(__VA_ARGS__);              \
    case BinaryOp::Lt:                                   \
      return fn<BinaryOp::Lt>(__VA_ARGS__);              \
    case BinaryOp::Le:                                   \
      return fn<BinaryOp::Le>(__VA_ARGS__);              \
    case BinaryOp::Gt:                                   \
      return fn<BinaryOp::Gt>(__VA_ARGS__);              \
    case BinaryOp::Ge:                                   \
      return fn<BinaryOp::Ge>(__VA_ARGS__);              \
  }                                                      \
  throw RuntimeError(str("unknown binary op ", static_cast<int>(op)))

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
