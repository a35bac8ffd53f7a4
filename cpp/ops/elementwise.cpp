// Elementwise ops: broadcasting binary arithmetic, tensor-scalar arithmetic and unary math.
#include <cmath>

#include "core/profiler.h"
#include "kernels.h"
#include "ops/ops.h"
#include "ops/plan.h"

namespace md {

namespace {

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return "add";
    case BinaryOp::Sub:
      return "sub";
    case BinaryOp::Mul:
      return "mul";
    case BinaryOp::Div:
      return "div";
    case BinaryOp::Pow:
      return "pow";
    case BinaryOp::Maximum:
      return "maximum";
    case BinaryOp::Minimum:
      return "minimum";
    case BinaryOp::PowGradBase:
    case BinaryOp::PowGradExponent:
      return "pow backward";
    case BinaryOp::AtLeast:
      return "clamp backward";
    case BinaryOp::MaxGrad:
      return "maximum backward";
    case BinaryOp::Equal:
      return "max backward";
    case BinaryOp::Eq:
      return "eq";
    case BinaryOp::Ne:
      return "ne";
    case BinaryOp::Lt:
      return "lt";
    case BinaryOp::Le:
      return "le";
    case BinaryOp::Gt:
      return "gt";
    case BinaryOp::Ge:
      return "ge";
  }
  return "?";
}

// The operand of float arithmetic: an int64 or bool one is converted to float32, as torch promotes
// them with a float (int64 with int64 goes to binary_i64 where there is an int64 kernel, and true
// division and pow give float32). Such tensors never require grad, so nothing is lost to autograd.
Tensor as_float(const char* op, const Tensor& t, const char* what) {
  if (t.defined() && (t.dtype() == DType::Int64 || t.dtype() == DType::Bool))
    return to_dtype(t.detach(), DType::Float32);
  check_float(op, t, what);
  return t;
}

// A comparison's result: the kernels write float32 1 and 0 (int64 ones too), the op gives bool.
Tensor as_mask(const Tensor& t) { return to_dtype(t, DType::Bool); }

// out = a op b for two int64 tensors (has_int64_kernel(op)): int64, or a bool mask for a comparison.
Tensor binary_i64(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  check_same_device(name, {&a, &b});
  const Shape out_shape = broadcast_shapes(name, a.shape(), b.shape());
  Tensor out = Tensor::empty(out_shape, is_comparison(op) ? DType::Float32 : DType::Int64, a.device());
  if (out.numel()) {
    const BroadcastPlan plan = make_broadcast_plan(out_shape, a.shape(), a.strides(), b.shape(), b.strides());
    MD_DISPATCH(a.device(), binary_forward_i64, op, out.raw(), a.i64(), b.i64(), plan);
  }
  return is_comparison(op) ? as_mask(out) : out;
}

Tensor as_i64(const Tensor& t) { return t.dtype() == DType::Bool ? to_dtype(t, DType::Int64) : t; }

// a op b where one operand is bool and the other bool or int64, as torch's: with int64 the bool
// counts as int64 0/1; two bools compare as numbers, and +, *, maximum and minimum give bool (or,
// and, or, and). Subtraction of bools is refused, as torch does; the rest is float32 math.
// An empty Tensor: not such a pair.
Tensor binary_bool(BinaryOp op, const Tensor& a, const Tensor& b) {
  const bool ab = a.dtype() == DType::Bool, bb = b.dtype() == DType::Bool;
  MD_CHECK(!(op == BinaryOp::Sub && ab != bb), TypeError, "sub: subtraction with a bool tensor (shapes ", a.shape(),
           " and ", b.shape(),
           ") is not supported; use ~ or logical_not() to invert a mask, or convert it with .float()");
  if (!(ab || bb) || !has_int64_kernel(op)) return Tensor();
  if (ab && bb) {
    MD_CHECK(op != BinaryOp::Sub, TypeError, "sub: subtraction of two bool tensors (shapes ", a.shape(), " and ",
             b.shape(), ") is not supported; use ^ or logical_xor() instead");
    Tensor r = binary_i64(op, as_i64(a), as_i64(b));
    return r.dtype() == DType::Bool ? r : as_mask(r);
  }
  if ((ab && b.dtype() == DType::Int64) || (bb && a.dtype() == DType::Int64))
    return binary_i64(op, as_i64(a), as_i64(b));
  return Tensor();
}

// out = a op b with broadcasting, no autograd.
Tensor binary_raw(BinaryOp op, const Tensor& a_in, const Tensor& b_in) {
  const char* name = binary_name(op);
  if (has_int64_kernel(op) && a_in.defined() && b_in.defined() && a_in.dtype() == DType::Int64 &&
      b_in.dtype() == DType::Int64)
    return binary_i64(op, a_in, b_in);
  if (a_in.defined() && b_in.defined())
    if (Tensor r = binary_bool(op, a_in, b_in); r.defined()) return r;
  const Tensor a = as_float(name, a_in, "left operand"), b = as_float(name, b_in, "right operand");
  check_same_device(name, {&a, &b});
  const Shape out_shape = broadcast_shapes(name, a.shape(), b.shape());
  Tensor out = Tensor::empty(out_shape, DType::Float32, a.device());
  if (out.numel() == 0) return out;
  const BroadcastPlan plan = make_broadcast_plan(out_shape, a.shape(), a.strides(), b.shape(), b.strides());
  MD_DISPATCH(a.device(), binary_forward, op, out.f32(), a.f32(), b.f32(), plan);
  return out;
}

Tensor scalar_raw(BinaryOp op, const Tensor& a_in, double s, bool scalar_first) {
  const Tensor a = as_float(binary_name(op), a_in, "input");
  Tensor x = a.is_contiguous() ? a : contiguous(a.detach());
  Tensor out = Tensor::empty(a.shape(), DType::Float32, a.device());
  if (out.numel())
    MD_DISPATCH(a.device(), scalar_forward, op, out.f32(), x.f32(), static_cast<float>(s), scalar_first, out.numel());
  return out;
}

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
      return "neg";
    case UnaryOp::Exp:
      return "exp";
    case UnaryOp::Log:
      return "log";
    case UnaryOp::Sqrt:
      return "sqrt";
    case UnaryOp::Rsqrt:
      return "rsqrt";
    case UnaryOp::Sin:
      return "sin";
    case UnaryOp::Cos:
      return "cos";
    case UnaryOp::Abs:
      return "abs";
    case UnaryOp::Square:
      return "square";
    case UnaryOp::Silu:
      return "silu";
    case UnaryOp::Gelu:
      return "gelu";
    case UnaryOp::GeluTanh:
      return "gelu";
    case UnaryOp::Relu:
      return "relu";
    case UnaryOp::Sigmoid:
      return "sigmoid";
    case UnaryOp::Tanh:
      return "tanh";
    case UnaryOp::Tan:
      return "tan";
    case UnaryOp::Asin:
      return "asin";
    case UnaryOp::Acos:
      return "acos";
    case UnaryOp::Atan:
      return "atan";
    case UnaryOp::Sinh:
      return "sinh";
    case UnaryOp::Cosh:
      return "cosh";
    case UnaryOp::Asinh:
      return "asinh";
    case UnaryOp::Acosh:
      return "acosh";
    case UnaryOp::Atanh:
      return "atanh";
    case UnaryOp::Log1p:
      return "log1p";
    case UnaryOp::Expm1:
      return "expm1";
    case UnaryOp::Log2:
      return "log2";
    case UnaryOp::Log10:
      return "log10";
    case UnaryOp::Exp2:
      return "exp2";
    case UnaryOp::Erf:
      return "erf";
    case UnaryOp::Erfc:
      return "erfc";
    case UnaryOp::Erfinv:
      return "erfinv";
    case UnaryOp::Reciprocal:
      return "reciprocal";
  }
  return "?";
}

// What an op's backward reads (see unary_df): its output (the cheaper way to some derivatives),
// its input, or neither. Only that is kept for the backward, as torch keeps it.
bool backward_reads_output(UnaryOp op) {
  return op == UnaryOp::Exp || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt || op == UnaryOp::Relu ||
         op == UnaryOp::Sigmoid || op == UnaryOp::Tanh || op == UnaryOp::Tan || op == UnaryOp::Expm1 ||
         op == UnaryOp::Exp2 || op == UnaryOp::Erfinv || op == UnaryOp::Reciprocal;
}
bool backward_reads_input(UnaryOp op) { return op != UnaryOp::Neg && !backward_reads_output(op); }

Tensor unary(UnaryOp op, const Tensor& a_in) {
  if (is_narrow(a_in)) return back_to(unary(op, wide_of(a_in)), a_in.dtype());
  const char* name = unary_name(op);
  MD_PROFILE(name);
  MD_CHECK(!(a_in.defined() && a_in.dtype() == DType::Bool && op == UnaryOp::Neg), TypeError,
           "neg: negation of a bool tensor (shape ", a_in.shape(), ") is not supported; use ~ or logical_not()");
  // torch has no bool kernel for these (the rest of the unary math reads bools as 0/1 float32)
  MD_CHECK(!(a_in.defined() && a_in.dtype() == DType::Bool &&
             (op == UnaryOp::Abs || op == UnaryOp::Relu || op == UnaryOp::Silu || op == UnaryOp::Gelu ||
              op == UnaryOp::GeluTanh)),
           TypeError, unary_name(op), ": not supported for a bool tensor (shape ", a_in.shape(),
           "), as in torch; convert it with .float() or .long()");
  // square of int64 (or bool) is int64, as torch's
  if (a_in.defined() && (a_in.dtype() == DType::Int64 || a_in.dtype() == DType::Bool) && op == UnaryOp::Square) {
    const Tensor i = to_dtype(a_in, DType::Int64);
    return binary_i64(BinaryOp::Mul, i, i);
  }
  // relu, -t and abs(t) of int64 stay int64, as in torch (the rest of the unary math is float32)
  if (a_in.defined() && a_in.dtype() == DType::Int64 && op == UnaryOp::Relu)
    return int_scalar(BinaryOp::Maximum, a_in, 0, false);
  if (a_in.defined() && a_in.dtype() == DType::Int64 && (op == UnaryOp::Neg || op == UnaryOp::Abs)) {
    Tensor negated = int_scalar(BinaryOp::Mul, a_in, -1, false);
    return op == UnaryOp::Neg ? negated : binary_i64(BinaryOp::Maximum, a_in, negated);
  }
  const Tensor a = as_float(name, a_in, "input");
  Tensor x = a.is_contiguous() ? a.detach() : contiguous(a.detach());
  Tensor out = Tensor::empty(a.shape(), DType::Float32, a.device());
  if (out.numel()) MD_DISPATCH(a.device(), unary_forward, op, out.f32(), x.f32(), out.numel());
  if (any_requires_grad({&a})) {
    const Tensor xs = backward_reads_input(op) ? x : Tensor();
    const Tensor ys = backward_reads_output(op) ? out.detach() : Tensor();
    const Shape shape = a.shape();
    record(name, out, {a},
           [op, xs, ys, shape](const Tensor& g, const GradMask&) {
             Tensor gc = contiguous(g);
             Tensor dx = Tensor::empty(shape, DType::Float32, gc.device());
             // the kernel reads only what the op needs; the other pointer is any buffer of n floats
             const float* in = xs.defined() ? xs.f32() : gc.f32();
             const float* res = ys.defined() ? ys.f32() : gc.f32();
             if (dx.numel()) MD_DISPATCH(gc.device(), unary_backward, op, dx.f32(), gc.f32(), in, res, dx.numel());
             return std::vector<Tensor>{dx};
           },
           {xs, ys});
  }
  return out;
}

}  // namespace

// ---- binary

namespace {
// a op b with a 16-bit float or narrow integer operand: in float32 or int64, then back to the
// dtype torch's promotion gives (rounded or wrapped once).
template <typename F>
Tensor via_wide(const Tensor& a, const Tensor& b, F f) {
  return back_to(f(wide_of(a), wide_of(b)), result_dtype(a, b));
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  if (is_narrow(a) || is_narrow(b)) return via_wide(a, b, [](const Tensor& x, const Tensor& y) { return add(x, y); });
  MD_PROFILE("add");
  Tensor out = binary_raw(BinaryOp::Add, a, b);
  if (any_requires_grad({&a, &b})) {
    const Shape sa = a.shape(), sb = b.shape();
    record("add", out, {a, b}, [sa, sb](const Tensor& g, const GradMask& n) {
      return std::vector<Tensor>{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? sum_to(g, sb) : Tensor()};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  if (is_narrow(a) || is_narrow(b)) return via_wide(a, b, [](const Tensor& x, const Tensor& y) { return sub(x, y); });
  MD_PROFILE("sub");
  Tensor out = binary_raw(BinaryOp::Sub, a, b);
  if (any_requires_grad({&a, &b})) {
    const Shape sa = a.shape(), sb = b.shape();
    record("sub", out, {a, b}, [sa, sb](const Tensor& g, const GradMask& n) {
      return std::vector<Tensor>{n[0] ? sum_to(g, sa) : Tensor(), n[1] ? neg(sum_to(g, sb)) : Tensor()};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  if (is_narrow(a) || is_narrow(b)) return via_wide(a, b, [](const Tensor& x, const Tensor& y) { return mul(x, y); });
  MD_PROFILE("mul");
  Tensor out = binary_raw(BinaryOp::Mul, a, b);
  if (any_requires_grad({&a, &b})) {
    // each gradient needs the other operand: keep only what a requested gradient reads
    const Tensor ad = b.requires_grad() ? a.detach() : Tensor(), bd = a.requires_grad() ? b.detach() : Tensor();
    const Shape sa = a.shape(), sb = b.shape();
    record("mul", out, {a, b},
           [ad, bd, sa, sb](const Tensor& g, const GradMask& n) {
             return std::vector<Tensor>{n[0] ? sum_to(mul(g, bd), sa) : Tensor(),
                                        n[1] ? sum_to(mul(g, ad), sb) : Tensor()};
           },
           {ad, bd});
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  if (is_narrow(a) || is_narrow(b)) return via_wide(a, b, [](const Tensor& x, const Tensor& y) { return div(x, y); });
  MD_PROFILE("div");
  Tensor out = binary_raw(BinaryOp::Div, a, b);
  if (any_requires_grad({&a, &b})) {
    // the inputs, not the result (as torch's): a change of the result in place leaves them; b's
    // gradient recomputes a / b
    const Tensor bd = b.detach(), ad = b.requires_grad() ? a.detach() : Tensor();  // ad: only b's gradient
    const Shape sa = a.shape();
    record("div", out, {a, b},
           [bd, ad, sa](const Tensor& g, const GradMask& n) {
             Tensor ga = div(g, bd);
             return std::vector<Tensor>{
                 n[0] ? sum_to(ga, sa) : Tensor(),
                 n[1] ? neg(sum_to(mul(ga, binary_raw(BinaryOp::Div, ad, bd)), bd.shape())) : Tensor()};
           },
           {bd, ad});
  }
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  MD_CHECK(!(a.defined() && b.defined() && a.dtype() == DType::Bool && b.dtype() == DType::Bool), TypeError,
           "pow: two bool tensors (shapes ", a.shape(), " and ", b.shape(), ") are not supported, as in torch");
  if (is_narrow(a) || is_narrow(b)) return via_wide(a, b, [](const Tensor& x, const Tensor& y) { return pow(x, y); });
  MD_PROFILE("pow");
  Tensor out = binary_raw(BinaryOp::Pow, a, b);
  if (any_requires_grad({&a, &b})) {
    Tensor ad = a.detach(), bd = b.detach();
    record("pow", out, {a, b},
           [ad, bd](const Tensor& g, const GradMask& n) {
             Tensor ga, gb;
             if (n[0]) ga = sum_to(mul(g, binary_raw(BinaryOp::PowGradBase, ad, bd)), ad.shape());
             if (n[1]) gb = sum_to(mul(g, binary_raw(BinaryOp::PowGradExponent, ad, bd)), bd.shape());
             return std::vector<Tensor>{ga, gb};
           },
           {ad, bd});
  }
  return out;
}

// The gradient goes to the larger operand (the smaller for minimum), split in halves at a tie;
// where either operand is NaN (and so is the result) both get all of it, as in torch.
// MaxGrad(x, y) is d max(x, y) / dx; the minimum's is the maximum's with the operands swapped.
Tensor extremum(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  if (is_narrow(a) || is_narrow(b))
    return via_wide(a, b, [&](const Tensor& x, const Tensor& y) { return extremum(op, name, x, y); });
  MD_PROFILE(name);
  Tensor out = binary_raw(op, a, b);
  if (any_requires_grad({&a, &b})) {
    const bool larger = op == BinaryOp::Maximum;
    Tensor ad = a.detach(), bd = b.detach();
    record(name, out, {a, b},
           [ad, bd, larger](const Tensor& g, const GradMask& n) {
             Tensor ga, gb;
             if (n[0])
               ga = sum_to(mul(g, binary_raw(BinaryOp::MaxGrad, larger ? ad : bd, larger ? bd : ad)), ad.shape());
             if (n[1])
               gb = sum_to(mul(g, binary_raw(BinaryOp::MaxGrad, larger ? bd : ad, larger ? ad : bd)), bd.shape());
             return std::vector<Tensor>{ga, gb};
           },
           {ad, bd});
  }
  return out;
}

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum(BinaryOp::Maximum, "maximum", a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum(BinaryOp::Minimum, "minimum", a, b); }

Tensor equal_mask(const Tensor& a, const Tensor& b) { return binary_raw(BinaryOp::Equal, a, b); }

Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b) {
  if (is_narrow_int(a) || is_narrow_int(b)) return compare(op, i64_of(a), i64_of(b));  // (exact)
  if (is_low_float(a) || is_low_float(b)) {  // in the promoted dtype, as torch's: the other operand rounded into it
    const DType to = low_result(a, b);
    return compare(op, f32_of(to_dtype(a, to)), f32_of(to_dtype(b, to)));  // (exact: 16-bit floats are float32 values)
  }
  MD_PROFILE(binary_name(op));
  Tensor r = binary_raw(op, a, b);
  return r.dtype() == DType::Bool ? r : as_mask(r);
}

Tensor compare(BinaryOp op, const Tensor& a, double s, bool scalar_first) {
  if (is_narrow_int(a)) return compare(op, i64_of(a), s, scalar_first);
  if (is_low_float(a)) {  // the number rounded to a's dtype first, as torch's
    const Tensor sv = full({}, s, a.dtype(), a.device());
    return scalar_first ? compare(op, sv, a) : compare(op, a, sv);
  }
  MD_PROFILE(binary_name(op));
  return as_mask(scalar_raw(op, a, s, scalar_first));
}

// ---- tensor-scalar

Tensor int_pow(const Tensor& a, int64_t k) {
  if (k < 0) throw ValueError(str("pow: integers to negative integer powers are not allowed (exponent ", k, ")"));
  return int_scalar(BinaryOp::Pow, a, k, false);
}

Tensor int_scalar(BinaryOp op, const Tensor& a, int64_t s, bool scalar_first) {
  const char* name = binary_name(op);
  MD_PROFILE(name);
  if (!has_int64_kernel(op)) throw ValueError(str(name, ": no int64 kernel; compute in float32 instead"));
  if (a.dtype() == DType::Bool) return int_scalar(op, to_dtype(a, DType::Int64), s, scalar_first);  // as torch
  if (is_narrow_int(a)) return back_to(int_scalar(op, i64_of(a), s, scalar_first), a.dtype());      // (wrapped once)
  if (a.dtype() != DType::Int64)
    throw TypeError(str(name, ": expected an int64 tensor, got ", dtype_name(a.dtype()), " of shape ", a.shape()));
  Tensor x = a.is_contiguous() ? a : contiguous(a.detach());
  Tensor out = Tensor::empty(a.shape(), is_comparison(op) ? DType::Float32 : DType::Int64, a.device());
  if (out.numel()) MD_DISPATCH(a.device(), scalar_forward_i64, op, out.raw(), x.i64(), s, scalar_first, out.numel());
  return is_comparison(op) ? as_mask(out) : out;
}

Tensor add(const Tensor& a, double s) {
  if (is_narrow(a)) return back_to(add(wide_of(a), s), a.dtype());
  MD_PROFILE("add");
  Tensor out = scalar_raw(BinaryOp::Add, a, s, false);
  if (any_requires_grad({&a}))
    record("add", out, {a}, [](const Tensor& g, const GradMask&) { return std::vector<Tensor>{g}; });
  return out;
}

namespace {
void refuse_bool(const char* op, const Tensor& a) {
  MD_CHECK(!(a.defined() && a.dtype() == DType::Bool), TypeError, op, ": subtraction with a bool tensor (shape ",
           a.shape(), ") is not supported; use ~ or logical_not() to invert a mask, or convert it with .float()");
}
}  // namespace

Tensor sub(const Tensor& a, double s) {
  refuse_bool("sub", a);
  return add(a, -s);
}

Tensor rsub(const Tensor& a, double s) {
  if (is_narrow(a)) return back_to(rsub(wide_of(a), s), a.dtype());
  refuse_bool("rsub", a);
  MD_PROFILE("rsub");
  Tensor out = scalar_raw(BinaryOp::Sub, a, s, true);
  if (any_requires_grad({&a}))
    record("rsub", out, {a}, [](const Tensor& g, const GradMask&) { return std::vector<Tensor>{neg(g)}; });
  return out;
}

Tensor mul(const Tensor& a, double s) {
  if (is_narrow(a)) return back_to(mul(wide_of(a), s), a.dtype());
  MD_PROFILE("mul");
  Tensor out = scalar_raw(BinaryOp::Mul, a, s, false);
  if (any_requires_grad({&a}))
    record("mul", out, {a}, [s](const Tensor& g, const GradMask&) { return std::vector<Tensor>{mul(g, s)}; });
  return out;
}

Tensor div(const Tensor& a, double s) {
  if (is_narrow(a)) return back_to(div(wide_of(a), s), a.dtype());
  MD_PROFILE("div");
  Tensor out = scalar_raw(BinaryOp::Div, a, s, false);
  if (any_requires_grad({&a}))
    record("div", out, {a}, [s](const Tensor& g, const GradMask&) { return std::vector<Tensor>{div(g, s)}; });
  return out;
}

Tensor rdiv(const Tensor& a, double s) {
  if (is_narrow(a)) return back_to(rdiv(wide_of(a), s), a.dtype());
  if (a.defined() && a.dtype() == DType::Float32 && any_requires_grad({&a})) {
    // s * reciprocal(a), as torch's: the backward keeps the reciprocal (the result when s is 1),
    // not a, which may then change in place
    Tensor r = unary(UnaryOp::Reciprocal, a);
    return s == 1.0 ? r : mul(r, s);
  }
  MD_PROFILE("rdiv");
  Tensor out = scalar_raw(BinaryOp::Div, a, s, true);
  if (any_requires_grad({&a})) {
    Tensor ad = a.detach();  // not the result (recomputed), as torch's: it may change in place
    record("rdiv", out, {a},
           [ad, s](const Tensor& g, const GradMask&) {
             return std::vector<Tensor>{neg(div(mul(g, scalar_raw(BinaryOp::Div, ad, s, true)), ad))};
           },
           {ad});
  }
  return out;
}

Tensor pow(const Tensor& a, double s) {
  if (is_narrow(a)) return back_to(pow(wide_of(a), s), a.dtype());
  MD_PROFILE("pow");
  Tensor out = scalar_raw(BinaryOp::Pow, a, s, false);
  if (any_requires_grad({&a})) {
    Tensor ad = a.detach();
    record("pow", out, {a},
           [ad, s](const Tensor& g, const GradMask&) {
             // x ** 0 is constant: its gradient is 0 even at x = 0, where s * x ** (s - 1) would be 0 * inf
             if (s == 0.0) return std::vector<Tensor>{zeros_like(g)};
             return std::vector<Tensor>{mul(mul(g, pow(ad, s - 1.0)), s)};
           },
           {ad});
  }
  return out;
}

Tensor rpow(const Tensor& a, double s) {
  if (is_narrow(a)) return back_to(rpow(wide_of(a), s), a.dtype());
  MD_PROFILE("rpow");
  Tensor out = scalar_raw(BinaryOp::Pow, a, s, true);
  if (any_requires_grad({&a})) {
    if (s == 0.0) {  // torch's value where s ** a * log(s) is 0 * inf: 0 for a >= 0
      Tensor ad = a.is_contiguous() ? a.detach() : contiguous(a.detach());
      record("rpow", out, {a},
             [ad](const Tensor& g, const GradMask&) {
               return std::vector<Tensor>{mul(g, scalar_raw(BinaryOp::PowGradExponent, ad, 0.0, true))};
             },
             {ad});
    } else {
      Tensor od = out.detach();
      record("rpow", out, {a},
             [od, s](const Tensor& g, const GradMask&) { return std::vector<Tensor>{mul(mul(g, od), std::log(s))}; },
             {od});
    }
  }
  return out;
}

// min(max(a, lo), hi) as torch.clamp: NaN stays NaN, and lo > hi gives hi everywhere. The
// gradient passes where lo <= a <= hi, bounds included (zero at NaN).
Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi) {
  if (is_narrow(a)) return back_to(clamp(wide_of(a), lo, hi), a.dtype());
  MD_PROFILE("clamp");
  if (!lo && !hi) throw ValueError("clamp: at least one of min and max must be given");
  Tensor out = lo ? scalar_raw(BinaryOp::Maximum, a, *lo, false) : a;
  if (hi) out = scalar_raw(BinaryOp::Minimum, out, *hi, false);
  if (any_requires_grad({&a})) {
    Tensor ad = a.is_contiguous() ? a.detach() : contiguous(a.detach());
    record("clamp", out, {a},
           [ad, lo, hi](const Tensor& g, const GradMask&) {
             // selected, not multiplied: an infinite gradient outside the bounds gives 0, as torch's
             Tensor dx = contiguous(g);
             const Tensor zero = zeros({}, DType::Float32, g.device());
             if (lo) dx = where(scalar_raw(BinaryOp::AtLeast, ad, *lo, false), dx, zero);  // a >= lo
             if (hi) dx = where(scalar_raw(BinaryOp::AtLeast, ad, *hi, true), dx, zero);   // hi >= a
             return std::vector<Tensor>{dx};
           },
           {ad});
  }
  return out;
}

// ---- unary

Tensor neg(const Tensor& a) { return unary(UnaryOp::Neg, a); }
Tensor exp(const Tensor& a) { return unary(UnaryOp::Exp, a); }
Tensor log(const Tensor& a) { return unary(UnaryOp::Log, a); }
Tensor sqrt(const Tensor& a) { return unary(UnaryOp::Sqrt, a); }
Tensor rsqrt(const Tensor& a) { return unary(UnaryOp::Rsqrt, a); }
Tensor sin(const Tensor& a) { return unary(UnaryOp::Sin, a); }
Tensor cos(const Tensor& a) { return unary(UnaryOp::Cos, a); }
Tensor abs(const Tensor& a) { return unary(UnaryOp::Abs, a); }
Tensor square(const Tensor& a) { return unary(UnaryOp::Square, a); }
Tensor silu(const Tensor& a) { return unary(UnaryOp::Silu, a); }
Tensor gelu(const Tensor& a, bool tanh_approximation) {
  return unary(tanh_approximation ? UnaryOp::GeluTanh : UnaryOp::Gelu, a);
}
Tensor relu(const Tensor& a) { return unary(UnaryOp::Relu, a); }
Tensor sigmoid(const Tensor& a) { return unary(UnaryOp::Sigmoid, a); }
Tensor tanh(const Tensor& a) { return unary(UnaryOp::Tanh, a); }

const std::vector<std::pair<const char*, UnaryOp>>& math_unary_ops() {
  static const std::vector<std::pair<const char*, UnaryOp>> ops = {
      {"tan", UnaryOp::Tan},     {"asin", UnaryOp::Asin},     {"acos", UnaryOp::Acos},
      {"atan", UnaryOp::Atan},   {"sinh", UnaryOp::Sinh},     {"cosh", UnaryOp::Cosh},
      {"asinh", UnaryOp::Asinh}, {"acosh", UnaryOp::Acosh},   {"atanh", UnaryOp::Atanh},
      {"log1p", UnaryOp::Log1p}, {"expm1", UnaryOp::Expm1},   {"log2", UnaryOp::Log2},
      {"log10", UnaryOp::Log10}, {"exp2", UnaryOp::Exp2},     {"erf", UnaryOp::Erf},
      {"erfc", UnaryOp::Erfc},   {"erfinv", UnaryOp::Erfinv}, {"reciprocal", UnaryOp::Reciprocal},
  };
  return ops;
}

Tensor unary_math(UnaryOp op, const Tensor& a) { return unary(op, a); }

}  // namespace md
