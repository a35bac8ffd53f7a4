// CPU elementwise kernels. Each op is a scalar functor applied in simple loops that the compiler
// vectorises; the broadcast kernel walks all but the innermost dim with for_each_row.
#include <cmath>

#include "core/int64_math.h"
#include "cpu/common.h"
#include "cpu/vmath.h"
#include "kernels.h"

namespace md::cpu {

namespace {

constexpr float kSqrt1_2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;
constexpr float kLn2 = 0.69314718055994531f;
constexpr float kLn10 = 2.30258509299404568f;
constexpr float kTwoOverSqrtPi = 1.12837916709551257f;
constexpr float kSqrtPiOver2 = 0.88622692545275801f;

inline float sigmoidf(float x) { return vsigmoid(x); }

// erf^-1: Giles' single-precision approximation ("Approximating the erfinv function", 2010), then
// one Newton step on erf in double; +-inf at +-1 and NaN outside [-1, 1], as torch.
inline float erfinv_f(float x) {
  if (!(std::fabs(x) <= 1.0f)) return std::nanf("");
  if (std::fabs(x) == 1.0f) return x * INFINITY;
  const double xd = x;
  double w = -std::log((1.0 - xd) * (1.0 + xd)), p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08;
    for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
                     0.246640727, 1.50140941})
      p = c + p * w;
  } else {
    w = std::sqrt(w) - 3.0;
    p = -0.000200214257;
    for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
                     1.00167406, 2.83297682})
      p = c + p * w;
  }
  double y = p * xd;
  y -= (std::erf(y) - xd) / (1.1283791670955126 * std::exp(-y * y));
  return static_cast<float>(y);
}

template <UnaryOp op>
inline float unary_f(float x) {
  if constexpr (op == UnaryOp::Neg) return -x;
  if constexpr (op == UnaryOp::Exp) return vexp(x);
  if constexpr (op == UnaryOp::Log) return std::log(x);
  if constexpr (op == UnaryOp::Sqrt) return std::sqrt(x);
  if constexpr (op == UnaryOp::Rsqrt) return 1.0f / std::sqrt(x);
  if constexpr (op == UnaryOp::Sin) return std::sin(x);
  if constexpr (op == UnaryOp::Cos) return std::cos(x);
  if constexpr (op == UnaryOp::Abs) return std::fabs(x);
  if constexpr (op == UnaryOp::Square) return x * x;
  if constexpr (op == UnaryOp::Silu) return x * sigmoidf(x);
  if constexpr (op == UnaryOp::Gelu) return 0.5f * x * vone_plus_erf(x * kSqrt1_2);
  // 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation where tanh(u) is near -1
  if constexpr (op == UnaryOp::GeluTanh) return x * vsigmoid(2.0f * kSqrt2OverPi * (x + 0.044715f * x * x * x));
  if constexpr (op == UnaryOp::Relu) return x > 0.0f || x != x ? x : 0.0f;  // NaN stays NaN, as in torch
  if constexpr (op == UnaryOp::Sigmoid) return sigmoidf(x);
  if constexpr (op == UnaryOp::Tanh) return vtanh(x);
  if constexpr (op == UnaryOp::Tan) return std::tan(x);
  if constexpr (op == UnaryOp::Asin) return std::asin(x);
  if constexpr (op == UnaryOp::Acos) return std::acos(x);
  if constexpr (op == UnaryOp::Atan) return std::atan(x);
  if constexpr (op == UnaryOp::Sinh) return std::sinh(x);
  if constexpr (op == UnaryOp::Cosh) return std::cosh(x);
  if constexpr (op == UnaryOp::Asinh) return std::asinh(x);
  if constexpr (op == UnaryOp::Acosh) return std::acosh(x);
  if constexpr (op == UnaryOp::Atanh) return std::atanh(x);
  if constexpr (op == UnaryOp::Log1p) return std::log1p(x);
  if constexpr (op == UnaryOp::Expm1) return std::expm1(x);
  if constexpr (op == UnaryOp::Log2) return std::log2(x);
  if constexpr (op == UnaryOp::Log10) return std::log10(x);
  if constexpr (op == UnaryOp::Exp2) return std::exp2(x);
  if constexpr (op == UnaryOp::Erf) return verf(x);
  if constexpr (op == UnaryOp::Erfc) return std::erfc(x);
  if constexpr (op == UnaryOp::Erfinv) return erfinv_f(x);
  if constexpr (op == UnaryOp::Reciprocal) return 1.0f / x;
  return 0.0f;
}

// d f / d x at x, with y = f(x).
template <UnaryOp op>
inline float unary_df(float x, float y) {
  if constexpr (op == UnaryOp::Neg) return -1.0f;
  if constexpr (op == UnaryOp::Exp) return y;
  if constexpr (op == UnaryOp::Log) return 1.0f / x;
  if constexpr (op == UnaryOp::Sqrt) return 0.5f / y;
  if constexpr (op == UnaryOp::Rsqrt) return -0.5f * y * y * y;
  if constexpr (op == UnaryOp::Sin) return std::cos(x);
  if constexpr (op == UnaryOp::Cos) return -std::sin(x);
  if constexpr (op == UnaryOp::Abs) return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f);
  if constexpr (op == UnaryOp::Square) return 2.0f * x;
  if constexpr (op == UnaryOp::Silu) {
    const float s = sigmoidf(x);
    return s * (1.0f + x * (1.0f - s));
  }
  if constexpr (op == UnaryOp::Gelu) return 0.5f * vone_plus_erf(x * kSqrt1_2) + x * kInvSqrt2Pi * vexp(-0.5f * x * x);
  if constexpr (op == UnaryOp::GeluTanh) {
    // with s = sigmoid(2u): d/dx [x s] = s + x s (1 - s) 2u'
    const float s = vsigmoid(2.0f * kSqrt2OverPi * (x + 0.044715f * x * x * x));
    return s + x * s * (1.0f - s) * 2.0f * kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
  }
  if constexpr (op == UnaryOp::Relu) return y <= 0.0f ? 0.0f : 1.0f;  // from the output, as torch; 1 at NaN
  if constexpr (op == UnaryOp::Sigmoid) return y * (1.0f - y);
  if constexpr (op == UnaryOp::Tanh) return 1.0f - y * y;
  if constexpr (op == UnaryOp::Tan) return 1.0f + y * y;
  if constexpr (op == UnaryOp::Asin) return 1.0f / std::sqrt(1.0f - x * x);
  if constexpr (op == UnaryOp::Acos) return -1.0f / std::sqrt(1.0f - x * x);
  if constexpr (op == UnaryOp::Atan) return 1.0f / (1.0f + x * x);
  if constexpr (op == UnaryOp::Sinh) return std::cosh(x);
  if constexpr (op == UnaryOp::Cosh) return std::sinh(x);
  if constexpr (op == UnaryOp::Asinh) return 1.0f / std::sqrt(x * x + 1.0f);
  // (+ 0: at x = -1 the product is -0, whose root is -0; torch's gradient there is +inf)
  if constexpr (op == UnaryOp::Acosh) return 1.0f / std::sqrt((x - 1.0f) * (x + 1.0f) + 0.0f);
  if constexpr (op == UnaryOp::Atanh) return 1.0f / (1.0f - x * x);
  if constexpr (op == UnaryOp::Log1p) return 1.0f / (1.0f + x);
  if constexpr (op == UnaryOp::Expm1) return y + 1.0f;
  if constexpr (op == UnaryOp::Log2) return 1.0f / (x * kLn2);
  if constexpr (op == UnaryOp::Log10) return 1.0f / (x * kLn10);
  if constexpr (op == UnaryOp::Exp2) return y * kLn2;
  if constexpr (op == UnaryOp::Erf) return kTwoOverSqrtPi * std::exp(-x * x);
  if constexpr (op == UnaryOp::Erfc) return -kTwoOverSqrtPi * std::exp(-x * x);
  if constexpr (op == UnaryOp::Erfinv) return kSqrtPiOver2 * std::exp(y * y);
  if constexpr (op == UnaryOp::Reciprocal) return -y * y;
  return 0.0f;
}

template <UnaryOp op>
void unary_loop(float* out, const float* in, int64_t n) {
#pragma omp parallel for if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = unary_f<op>(in[i]);
}

template <UnaryOp op>
void unary_back_loop(float* dx, const float* dy, const float* x, const float* y, int64_t n) {
#pragma omp parallel for if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * unary_df<op>(x[i], y[i]);
}

template <BinaryOp op>
inline float binary_f(float a, float b) {
  if constexpr (op == BinaryOp::Add) return a + b;
  if constexpr (op == BinaryOp::Sub) return a - b;
  if constexpr (op == BinaryOp::Mul) return a * b;
  if constexpr (op == BinaryOp::Div) return a / b;
  if constexpr (op == BinaryOp::Pow) return b == 2.0f ? a * a : std::pow(a, b);  // x ** 2 exactly x * x, as torch
  if constexpr (op == BinaryOp::Maximum) return a > b || a != a ? a : b;         // a != a: NaN
  if constexpr (op == BinaryOp::Minimum) return a < b || a != a ? a : b;
  if constexpr (op == BinaryOp::PowGradBase) return b == 0.0f ? 0.0f : b * std::pow(a, b - 1.0f);
  if constexpr (op == BinaryOp::PowGradExponent) return a == 0.0f && b >= 0.0f ? 0.0f : std::pow(a, b) * std::log(a);
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

template <BinaryOp op>
void binary_loop(float* out, const float* a, const float* b, const BroadcastPlan& p) {
  if (p.ndim == 0) {
    out[0] = binary_f<op>(a[0], b[0]);
    return;
  }
  const int64_t inner = p.shape[p.ndim - 1];
  const int64_t sa = p.a_strides[p.ndim - 1], sb = p.b_strides[p.ndim - 1];
  const int64_t rows = p.numel / inner;
  auto body = [&](int64_t row, int64_t oa, int64_t ob) {
    float* o = out + row * inner;
    const float* x = a + oa;
    const float* y = b + ob;
    if (sa == 1 && sb == 1) {
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) o[i] = binary_f<op>(x[i], y[i]);
    } else if (sa == 1 && sb == 0) {
      const float v = y[0];
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) o[i] = binary_f<op>(x[i], v);
    } else if (sa == 0 && sb == 1) {
      const float v = x[0];
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) o[i] = binary_f<op>(v, y[i]);
    } else {
      for (int64_t i = 0; i < inner; ++i) o[i] = binary_f<op>(x[i * sa], y[i * sb]);
    }
  };
  if (worth_parallel(p.numel) && rows == 1) {  // one long row: split it
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < inner; ++i) out[i] = binary_f<op>(a[i * sa], b[i * sb]);
  } else {
    for_each_row_split(worth_parallel(p.numel), p.ndim, p.shape, p.a_strides, p.b_strides, rows, body);
  }
}

template <BinaryOp op>
void scalar_loop(float* out, const float* a, float s, bool scalar_first, int64_t n) {
  if (scalar_first) {
#pragma omp parallel for if (worth_parallel(n)) schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = binary_f<op>(s, a[i]);
  } else {
#pragma omp parallel for if (worth_parallel(n)) schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = binary_f<op>(a[i], s);
  }
}

template <BinaryOp op>
void binary_i64_loop(void* out_v, const int64_t* a, const int64_t* b, const BroadcastPlan& p) {
  if constexpr (!has_int64_kernel(op)) {
    throw RuntimeError("binary_forward_i64: no int64 kernel for this op");
  } else {
    auto* out = static_cast<I64Out<op>*>(out_v);
    if (p.ndim == 0) {
      out[0] = static_cast<I64Out<op>>(binary_i64<op>(a[0], b[0]));
      return;
    }
    const int64_t inner = p.shape[p.ndim - 1];
    const int64_t sa = p.a_strides[p.ndim - 1], sb = p.b_strides[p.ndim - 1];
    for_each_row_split(worth_parallel(p.numel), p.ndim, p.shape, p.a_strides, p.b_strides, p.numel / inner,
                       [&](int64_t row, int64_t oa, int64_t ob) {
                         auto* o = out + row * inner;
                         for (int64_t i = 0; i < inner; ++i)
                           o[i] = static_cast<I64Out<op>>(binary_i64<op>(a[oa + i * sa], b[ob + i * sb]));
                       });
  }
}

template <BinaryOp op>
void scalar_i64_loop(void* out_v, const int64_t* a, int64_t s, bool scalar_first, int64_t n) {
  if constexpr (!has_int64_kernel(op)) {
    throw RuntimeError("scalar_forward_i64: no int64 kernel for this op");
  } else {
    auto* out = static_cast<I64Out<op>*>(out_v);
#pragma omp parallel for if (worth_parallel(n)) schedule(static)
    for (int64_t i = 0; i < n; ++i)
      out[i] = static_cast<I64Out<op>>(scalar_first ? binary_i64<op>(s, a[i]) : binary_i64<op>(a[i], s));
  }
}

}  // namespace

void unary_forward(UnaryOp op, float* out, const float* inp, int64_t n) { MD_UNARY_CASES(unary_loop, out, inp, n); }

void unary_backward(UnaryOp op, float* dinp, const float* dout, const float* inp, const float* out, int64_t n) {
  MD_UNARY_CASES(unary_back_loop, dinp, dout, inp, out, n);
}

void binary_forward(BinaryOp op, float* out, const float* a, const float* b, const BroadcastPlan& plan) {
  MD_BINARY_CASES(binary_loop, out, a, b, plan);
}

void scalar_forward(BinaryOp op, float* out, const float* a, float s, bool scalar_first, int64_t n) {
  MD_BINARY_CASES(scalar_loop, out, a, s, scalar_first, n);
}

void binary_forward_i64(BinaryOp op, void* out, const int64_t* a, const int64_t* b, const BroadcastPlan& plan) {
  MD_BINARY_CASES(binary_i64_loop, out, a, b, plan);
}

void scalar_forward_i64(BinaryOp op, void* out, const int64_t* a, int64_t s, bool scalar_first, int64_t n) {
  MD_BINARY_CASES(scalar_i64_loop, out, a, s, scalar_first, n);
}

void axpby(float* out, const float* a, float alpha, const float* b, float beta, int64_t n) {
#pragma omp parallel for if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * alpha + b[i] * beta;
}

}  // namespace md::cpu
