// CUDA elementwise kernels: the same scalar functors as cpu/elementwise.cpp, one thread per element
// in grid-stride loops; the broadcast kernel decomposes each output index over the plan's dims.
#include <climits>

#include "core/int64_math.h"
#include "cuda/common.cuh"
#include "cuda/divmod.h"

namespace md::cuda {

// ---- kernels

namespace {

constexpr float kSqrt1_2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kLn2 = 0.69314718055994531f;
constexpr float kLn10 = 2.30258509299404568f;
constexpr float kTwoOverSqrtPi = 1.12837916709551257f;
constexpr float kSqrtPiOver2 = 0.88622692545275801f;

__device__ __forceinline__ float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

template <UnaryOp op>
__device__ __forceinline__ float unary_f(float x) {
  if constexpr (op == UnaryOp::Neg) return -x;
  if constexpr (op == UnaryOp::Exp) return expf(x);
  if constexpr (op == UnaryOp::Log) return logf(x);
  if constexpr (op == UnaryOp::Sqrt) return sqrtf(x);
  if constexpr (op == UnaryOp::Rsqrt) return 1.0f / sqrtf(x);
  if constexpr (op == UnaryOp::Sin) return sinf(x);
  if constexpr (op == UnaryOp::Cos) return cosf(x);
  if constexpr (op == UnaryOp::Abs) return fabsf(x);
  if constexpr (op == UnaryOp::Square) return x * x;
  if constexpr (op == UnaryOp::Silu) return x * sigmoidf(x);
  if constexpr (op == UnaryOp::Gelu) return 0.5f * x * (1.0f + erff(x * kSqrt1_2));
  // 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation where tanh(u) is near -1 (as the CPU twin)
  if constexpr (op == UnaryOp::GeluTanh) return x / (1.0f + expf(-2.0f * kSqrt2OverPi * (x + 0.044715f * x * x * x)));
  if constexpr (op == UnaryOp::Relu) return x > 0.0f || x != x ? x : 0.0f;  // NaN stays NaN, as in torch
  if constexpr (op == UnaryOp::Sigmoid) return sigmoidf(x);
  if constexpr (op == UnaryOp::Tanh) return tanhf(x);
  if constexpr (op == UnaryOp::Tan) return tanf(x);
  if constexpr (op == UnaryOp::Asin) return asinf(x);
  if constexpr (op == UnaryOp::Acos) return acosf(x);
  if constexpr (op == UnaryOp::Atan) return atanf(x);
  if constexpr (op == UnaryOp::Sinh) return sinhf(x);
  if constexpr (op == UnaryOp::Cosh) return coshf(x);
  if constexpr (op == UnaryOp::Asinh) return asinhf(x);
  if constexpr (op == UnaryOp::Acosh) return acoshf(x);
  if constexpr (op == UnaryOp::Atanh) return atanhf(x);
  if constexpr (op == UnaryOp::Log1p) return log1pf(x);
  if constexpr (op == UnaryOp::Expm1) return expm1f(x);
  if constexpr (op == UnaryOp::Log2) return log2f(x);
  if constexpr (op == UnaryOp::Log10) return log10f(x);
  if constexpr (op == UnaryOp::Exp2) return exp2f(x);
  if constexpr (op == UnaryOp::Erf) return erff(x);
  if constexpr (op == UnaryOp::Erfc) return erfcf(x);
  if constexpr (op == UnaryOp::Erfinv) return erfinvf(x);
  if constexpr (op == UnaryOp::Reciprocal) return 1.0f / x;
  return 0.0f;
}

// d f / d x at x, with y = f(x).
template <UnaryOp op>
__device__ __forceinline__ float unary_df(float x, float y) {
  if constexpr (op == UnaryOp::Neg) return -1.0f;
  if constexpr (op == UnaryOp::Exp) return y;
  if constexpr (op == UnaryOp::Log) return 1.0f / x;
  if constexpr (op == UnaryOp::Sqrt) return 0.5f / y;
  if constexpr (op == UnaryOp::Rsqrt) return -0.5f * y * y * y;
  if constexpr (op == UnaryOp::Sin) return cosf(x);
  if constexpr (op == UnaryOp::Cos) return -sinf(x);
  if constexpr (op == UnaryOp::Abs) return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
  if constexpr (op == UnaryOp::Square) return 2.0f * x;
  if constexpr (op == UnaryOp::Silu) {
    const float s = sigmoidf(x);
    return s * (1.0f + x * (1.0f - s));
  }
  if constexpr (op == UnaryOp::Gelu) return 0.5f * (1.0f + erff(x * kSqrt1_2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
  if constexpr (op == UnaryOp::GeluTanh) {
    const float s = 1.0f / (1.0f + expf(-2.0f * kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    return s + x * s * (1.0f - s) * 2.0f * kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
  }
  if constexpr (op == UnaryOp::Relu) return y <= 0.0f ? 0.0f : 1.0f;  // from the output, as torch; 1 at NaN
  if constexpr (op == UnaryOp::Sigmoid) return y * (1.0f - y);
  if constexpr (op == UnaryOp::Tanh) return 1.0f - y * y;
  if constexpr (op == UnaryOp::Tan) return 1.0f + y * y;
  if constexpr (op == UnaryOp::Asin) return 1.0f / sqrtf(1.0f - x * x);
  if constexpr (op == UnaryOp::Acos) return -1.0f / sqrtf(1.0f - x * x);
  if constexpr (op == UnaryOp::Atan) return 1.0f / (1.0f + x * x);
  if constexpr (op == UnaryOp::Sinh) return coshf(x);
  if constexpr (op == UnaryOp::Cosh) return sinhf(x);
  if constexpr (op == UnaryOp::Asinh) return 1.0f / sqrtf(x * x + 1.0f);
  // (+ 0: at x = -1 the product is -0, whose root is -0; torch's gradient there is +inf)
  if constexpr (op == UnaryOp::Acosh) return 1.0f / sqrtf((x - 1.0f) * (x + 1.0f) + 0.0f);
  if constexpr (op == UnaryOp::Atanh) return 1.0f / (1.0f - x * x);
  if constexpr (op == UnaryOp::Log1p) return 1.0f / (1.0f + x);
  if constexpr (op == UnaryOp::Expm1) return y + 1.0f;
  if constexpr (op == UnaryOp::Log2) return 1.0f / (x * kLn2);
  if constexpr (op == UnaryOp::Log10) return 1.0f / (x * kLn10);
  if constexpr (op == UnaryOp::Exp2) return y * kLn2;
  if constexpr (op == UnaryOp::Erf) return kTwoOverSqrtPi * expf(-x * x);
  if constexpr (op == UnaryOp::Erfc) return -kTwoOverSqrtPi * expf(-x * x);
  if constexpr (op == UnaryOp::Erfinv) return kSqrtPiOver2 * expf(y * y);
  if constexpr (op == UnaryOp::Reciprocal) return -y * y;
  return 0.0f;
}

template <BinaryOp op>
__device__ __forceinline__ float binary_f(float a, float b) {
  if constexpr (op == BinaryOp::Add) return a + b;
  if constexpr (op == BinaryOp::Sub) return a - b;
  if constexpr (op == BinaryOp::Mul) return a * b;
  if constexpr (op == BinaryOp::Div) return a / b;
  if constexpr (op == BinaryOp::Pow) return b == 2.0f ? a * a : powf(a, b);  // x ** 2 exactly x * x, as torch
  if constexpr (op == BinaryOp::Maximum) return a > b || a != a ? a : b;     // a != a: NaN
  if constexpr (op == BinaryOp::Minimum) return a < b || a != a ? a : b;
  if constexpr (op == BinaryOp::PowGradBase) return b == 0.0f ? 0.0f : b * powf(a, b - 1.0f);
  if constexpr (op == BinaryOp::PowGradExponent) return a == 0.0f && b >= 0.0f ? 0.0f : powf(a, b) * logf(a);
  if constexpr (op == BinaryOp::AtLeast) return a >= b ? 1.0f : 0.0f;
  if constexpr (op == BinaryOp::MaxGrad) return a < b ? 0.0f : a == b ? 0.5f : 1.0f;  // 1 at NaN
  if constexpr (op == BinaryOp::Equal) return a == b || (a != a && b != b) ? 1.0f : 0.0f;
  if constexpr (op == BinaryOp::Eq) return a == b ? 1.0f : 0.0f;
  if constexpr (op == BinaryOp::Ne) return a != b ? 1.0f : 0.0f;
  if constexpr (op == BinaryOp::Lt) return a < b ? 1.0f : 0.0f;
  if constexpr (op == BinaryOp::Le) return a <= b ? 1.0f : 0.0f;
  if constexpr (op == BinaryOp::Gt) return a > b ? 1.0f : 0.0f;
  if constexpr (op == BinaryOp::Ge) return a >= b ? 1.0f : 0.0f;
  return 0.0f;
}

template <UnaryOp op>
__global__ void unary_kernel(float* out, const float* inp, int64_t n) {
  MD_GRID_STRIDE(i, n) out[i] = unary_f<op>(inp[i]);
}

template <UnaryOp op>
__global__ void unary_backward_kernel(float* dinp, const float* dout, const float* inp, const float* out, int64_t n) {
  MD_GRID_STRIDE(i, n) dinp[i] = dout[i] * unary_df<op>(inp[i], out[i]);
}

// out (numel) contiguous; a, b addressed through the plan's strides. Fewer than 2^32 elements:
// the index split with Divmod.
template <BinaryOp op>
__global__ void binary_kernel(float* out, const float* a, const float* b, FlatIndex2 ix, int64_t n) {
  MD_GRID_STRIDE(i, n) {
    int64_t oa, ob;
    ix.offsets(static_cast<uint32_t>(i), oa, ob);
    out[i] = binary_f<op>(a[oa], b[ob]);
  }
}

// Any size: 64-bit division.
template <BinaryOp op>
__global__ void binary_kernel64(float* out, const float* a, const float* b, BroadcastPlan p, int64_t n) {
  MD_GRID_STRIDE(i, n) {
    int64_t oa, ob;
    broadcast_offsets(p, i, oa, ob);
    out[i] = binary_f<op>(a[oa], b[ob]);
  }
}

// The common one-dim cases without index arithmetic: strides 0 or 1 on each side.
template <BinaryOp op>
__global__ void binary_flat_kernel(float* out, const float* a, int64_t sa, const float* b, int64_t sb, int64_t n) {
  MD_GRID_STRIDE(i, n) out[i] = binary_f<op>(a[i * sa], b[i * sb]);
}

template <BinaryOp op>
__global__ void scalar_kernel(float* out, const float* a, float s, bool scalar_first, int64_t n) {
  MD_GRID_STRIDE(i, n) out[i] = scalar_first ? binary_f<op>(s, a[i]) : binary_f<op>(a[i], s);
}

// Index tensors are small: one kernel with 64-bit index arithmetic for every broadcast.
template <BinaryOp op>
__global__ void binary_i64_kernel(I64Out<op>* out, const int64_t* a, const int64_t* b, BroadcastPlan p, int64_t n) {
  MD_GRID_STRIDE(i, n) {
    int64_t oa, ob;
    broadcast_offsets(p, i, oa, ob);
    out[i] = static_cast<I64Out<op>>(binary_i64<op>(a[oa], b[ob]));
  }
}

template <BinaryOp op>
__global__ void scalar_i64_kernel(I64Out<op>* out, const int64_t* a, int64_t s, bool scalar_first, int64_t n) {
  MD_GRID_STRIDE(i, n)
  out[i] = static_cast<I64Out<op>>(scalar_first ? binary_i64<op>(s, a[i]) : binary_i64<op>(a[i], s));
}

__global__ void axpby_kernel(float* out, const float* a, float alpha, const float* b, float beta, int64_t n) {
  MD_GRID_STRIDE(i, n) out[i] = a[i] * alpha + b[i] * beta;
}

// ---- typed launchers

template <UnaryOp op>
void unary_launch(float* out, const float* inp, int64_t n) {
  unary_kernel<op><<<grid_for(n), kThreads, 0, stream()>>>(out, inp, n);
  MD_CUDA_LAUNCHED("unary_forward");
}

template <UnaryOp op>
void unary_backward_launch(float* dinp, const float* dout, const float* inp, const float* out, int64_t n) {
  unary_backward_kernel<op><<<grid_for(n), kThreads, 0, stream()>>>(dinp, dout, inp, out, n);
  MD_CUDA_LAUNCHED("unary_backward");
}

template <BinaryOp op>
void binary_launch(float* out, const float* a, const float* b, const BroadcastPlan& p) {
  const int64_t n = p.ndim == 0 ? 1 : p.numel;
  if (n <= 0) return;
  const bool flat =
      p.ndim == 1 && (p.a_strides[0] == 0 || p.a_strides[0] == 1) && (p.b_strides[0] == 0 || p.b_strides[0] == 1);
  if (flat)
    binary_flat_kernel<op><<<grid_for(n), kThreads, 0, stream()>>>(out, a, p.a_strides[0], b, p.b_strides[0], n);
  else if (n <= UINT32_MAX)
    binary_kernel<op>
        <<<grid_for(n), kThreads, 0, stream()>>>(out, a, b, FlatIndex2(p.ndim, p.shape, p.a_strides, p.b_strides), n);
  else
    binary_kernel64<op><<<grid_for(n), kThreads, 0, stream()>>>(out, a, b, p, n);
  MD_CUDA_LAUNCHED("binary_forward");
}

template <BinaryOp op>
void scalar_launch(float* out, const float* a, float s, bool scalar_first, int64_t n) {
  scalar_kernel<op><<<grid_for(n), kThreads, 0, stream()>>>(out, a, s, scalar_first, n);
  MD_CUDA_LAUNCHED("scalar_forward");
}

template <BinaryOp op>
void binary_i64_launch(void* out, const int64_t* a, const int64_t* b, const BroadcastPlan& p) {
  if constexpr (!has_int64_kernel(op)) {
    throw RuntimeError("binary_forward_i64: no int64 kernel for this op");
  } else {
    const int64_t n = p.ndim == 0 ? 1 : p.numel;
    if (n <= 0) return;
    binary_i64_kernel<op><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<I64Out<op>*>(out), a, b, p, n);
    MD_CUDA_LAUNCHED("binary_forward_i64");
  }
}

template <BinaryOp op>
void scalar_i64_launch(void* out, const int64_t* a, int64_t s, bool scalar_first, int64_t n) {
  if constexpr (!has_int64_kernel(op)) {
    throw RuntimeError("scalar_forward_i64: no int64 kernel for this op");
  } else {
    scalar_i64_kernel<op><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<I64Out<op>*>(out), a, s, scalar_first, n);
    MD_CUDA_LAUNCHED("scalar_forward_i64");
  }
}

}  // namespace

// ---- launchers

void unary_forward(UnaryOp op, float* out, const float* inp, int64_t n) {
  if (n <= 0) return;
  MD_UNARY_CASES(unary_launch, out, inp, n);
}

void unary_backward(UnaryOp op, float* dinp, const float* dout, const float* inp, const float* out, int64_t n) {
  if (n <= 0) return;
  MD_UNARY_CASES(unary_backward_launch, dinp, dout, inp, out, n);
}

void binary_forward(BinaryOp op, float* out, const float* a, const float* b, const BroadcastPlan& plan) {
  MD_BINARY_CASES(binary_launch, out, a, b, plan);
}

void scalar_forward(BinaryOp op, float* out, const float* a, float s, bool scalar_first, int64_t n) {
  if (n <= 0) return;
  MD_BINARY_CASES(scalar_launch, out, a, s, scalar_first, n);
}

void binary_forward_i64(BinaryOp op, void* out, const int64_t* a, const int64_t* b, const BroadcastPlan& plan) {
  MD_BINARY_CASES(binary_i64_launch, out, a, b, plan);
}

void scalar_forward_i64(BinaryOp op, void* out, const int64_t* a, int64_t s, bool scalar_first, int64_t n) {
  if (n <= 0) return;
  MD_BINARY_CASES(scalar_i64_launch, out, a, s, scalar_first, n);
}

void axpby(float* out, const float* a, float alpha, const float* b, float beta, int64_t n) {
  if (n <= 0) return;
  axpby_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, a, alpha, b, beta, n);
  MD_CUDA_LAUNCHED("axpby");
}

}  // namespace md::cuda
