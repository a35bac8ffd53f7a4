// Selection and indexing ops: where, gather, index_select and t[idx], cumsum and cumprod.
// Each works along one dim by viewing its (contiguous) input as (O, R, I) around that dim.
#include <algorithm>

#include "core/profiler.h"
#include "kernels.h"
#include "ops/ops.h"

namespace md {

namespace {

// Sizes before, at and after dim.
struct OuterInner {
  int64_t O = 1, R = 1, I = 1;
};

OuterInner split_at(const Shape& s, int64_t dim) {
  OuterInner r;
  for (int64_t k = 0; k < dim; ++k) r.O *= s[k];
  r.R = s[dim];
  for (int64_t k = dim + 1; k < static_cast<int64_t>(s.size()); ++k) r.I *= s[k];
  return r;
}

// An operand of where/cumsum/cumprod as float32 (int64 and bool convert).
Tensor float_operand(const char* op, const Tensor& t, const char* what) {
  MD_CHECK(t.defined(), TypeError, op, ": ", what, " is None");
  if (t.dtype() == DType::Int64 || t.dtype() == DType::Bool) return to_dtype(t.detach(), DType::Float32);
  check_float(op, t, what);
  return t;
}

Tensor materialize(const Tensor& t, const Shape& shape) {
  Tensor e = t.shape() == shape ? t.detach() : expand(t.detach(), shape);
  return e.is_contiguous() ? e : contiguous(e);
}

// The largest and smallest index, checked against [lowest, size): IndexError naming the op.
void check_index_range(const char* op, const Tensor& idx, int64_t lowest, int64_t size, int64_t dim,
                       const Shape& input_shape) {
  if (idx.numel() == 0) return;
  int64_t mm[2];
  MD_DISPATCH(idx.device(), index_range, mm, idx.i64(), idx.numel());
  MD_CHECK(mm[0] >= lowest && mm[1] < size, IndexError, op, ": index out of range: indices span [", mm[0], ", ", mm[1],
           "] but dimension ", dim, " of the input of shape ", input_shape, " has size ", size);
}

// A bfloat16 or float16 op input that requires grad runs through float32 (the gradient kernels
// are float32's) and comes back in its dtype: both casts are differentiable.
bool via_float32(const Tensor& t) { return is_low_float(t) && t.requires_grad() && grad_enabled(); }

// Elementwise selection of same-shape contiguous tensors of one dtype by a bool mask, no autograd.
Tensor where_raw(const Tensor& cond, const Tensor& a, const Tensor& b) {
  MD_CHECK(cond.dtype() == DType::Bool, TypeError, "where: the condition reached the kernel as ",
           dtype_name(cond.dtype()), ", not bool");
  Tensor out = Tensor::empty(cond.shape(), a.dtype(), cond.device());
  if (out.numel())
    MD_DISPATCH(cond.device(), where_forward, out.raw(), static_cast<const uint8_t*>(cond.raw()), a.raw(), b.raw(),
                out.numel(), dtype_size(a.dtype()));
  return out;
}

// The (contiguous, float32) scan of x along dim, no autograd.
Tensor scan_raw(const Tensor& x, int64_t dim, bool product, bool reverse) {
  const OuterInner s = split_at(x.shape(), dim);
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (out.numel()) MD_DISPATCH(x.device(), cumulative, out.f32(), x.f32(), s.O, s.R, s.I, product, reverse);
  return out;
}

Tensor scan(const char* op, const Tensor& t, int64_t dim, bool product) {
  MD_PROFILE(op);
  if (is_low_float(t)) return back_to(scan(op, f32_of(t), dim, product), t.dtype());
  if (is_narrow_int(t)) return scan(op, i64_of(t), dim, product);  // int64, as torch's
  if (t.defined() && t.dtype() == DType::Bool) return scan(op, to_dtype(t, DType::Int64), dim, product);  // as torch
  if (t.defined() && t.dtype() == DType::Int64) {  // int64 running sums and products, exact, as torch's
    dim = wrap_dim(dim, std::max<int64_t>(t.dim(), 1), op);
    Tensor x = contiguous(t.detach());
    Tensor out = Tensor::empty(x.shape(), DType::Int64, x.device());
    const OuterInner s = t.dim() ? split_at(x.shape(), dim) : OuterInner{1, 1, 1};
    if (out.numel()) MD_DISPATCH(x.device(), cumulative_i64, out.i64(), x.i64(), s.O, s.R, s.I, product);
    return out;
  }
  const Tensor x_in = float_operand(op, t, "input");
  if (x_in.dim() == 0) {  // a 0-d tensor is its own running sum and product (dim 0 or -1, as torch)
    wrap_dim(dim, 0, op);
    return mul(x_in, 1.0);
  }
  dim = wrap_dim(dim, x_in.dim(), op);
  Tensor x = x_in.is_contiguous() ? x_in.detach() : contiguous(x_in.detach());
  Tensor out = scan_raw(x, dim, product, false);
  if (any_requires_grad({&x_in})) {
    if (product) {
      record(op, out, {x_in},
             [x, dim](const Tensor& g, const GradMask&) {
               Tensor gc = g.is_contiguous() ? g : contiguous(g);
               const OuterInner s = split_at(x.shape(), dim);
               Tensor dx = Tensor::empty(x.shape(), DType::Float32, g.device());
               if (dx.numel()) MD_DISPATCH(g.device(), cumprod_backward, dx.f32(), gc.f32(), x.f32(), s.O, s.R, s.I);
               return std::vector<Tensor>{dx};
             },
             {x});
    } else {
      record(op, out, {x_in}, [dim](const Tensor& g, const GradMask&) {
        // the adjoint of a running sum is the running sum from the other end
        return std::vector<Tensor>{scan_raw(g.is_contiguous() ? g : contiguous(g), dim, false, true)};
      });
    }
  }
  return out;
}

}  // namespace

Tensor where(const Tensor& cond, const Tensor& a_in, const Tensor& b_in) {
  MD_PROFILE("where");
  // the condition as a bool mask (a number is true where nonzero, NaN included), as the kernel reads it
  MD_CHECK(cond.defined(), TypeError, "where: condition is None");
  const Tensor c_in = to_dtype(cond.detach(), DType::Bool);
  MD_CHECK(a_in.defined() && b_in.defined(), TypeError, "where: input and other must be tensors");
  // int64 with int64, bool with bool and a 16-bit float with itself keep their dtype (a selection
  // needs no arithmetic); bool with int64 is int64, a 16-bit float with another dtype promotes as
  // torch's, any other mix is float32
  const auto is = [&](DType x, DType y) { return a_in.dtype() == x && b_in.dtype() == y; };
  if (is(DType::Bool, DType::Int64) || is(DType::Int64, DType::Bool))
    return where(cond, to_dtype(a_in, DType::Int64), to_dtype(b_in, DType::Int64));
  if ((is_narrow(a_in) || is_narrow(b_in)) && a_in.dtype() != b_in.dtype()) {  // promoted, as torch's
    const DType to = result_dtype(a_in, b_in);
    const auto as = [&](const Tensor& t) { return t.dtype() == to ? t : to_dtype(wide_of(t), to); };
    return where(cond, as(a_in), as(b_in));
  }
  const bool same = a_in.dtype() == b_in.dtype() && a_in.dtype() != DType::Float32;
  if (same && (via_float32(a_in) || via_float32(b_in)))
    return to_dtype(where(cond, to_dtype(a_in, DType::Float32), to_dtype(b_in, DType::Float32)), a_in.dtype());
  const Tensor a = same ? a_in : float_operand("where", a_in, "input");
  const Tensor b = same ? b_in : float_operand("where", b_in, "other");
  check_same_device("where", {&c_in, &a, &b});
  const Shape shape = broadcast_shapes("where", broadcast_shapes("where", c_in.shape(), a.shape()), b.shape());
  Tensor c = materialize(c_in, shape);
  Tensor out = where_raw(c, materialize(a, shape), materialize(b, shape));
  if (any_requires_grad({&a, &b})) {
    const Shape a_shape = a.shape(), b_shape = b.shape();
    record("where", out, {a, b},
           [c, a_shape, b_shape](const Tensor& g, const GradMask& need) {
             Tensor gc = g.is_contiguous() ? g : contiguous(g);
             Tensor zero = zeros(gc.shape(), DType::Float32, gc.device());
             Tensor da, db;
             if (need[0]) da = sum_to(where_raw(c, gc, zero), a_shape);
             if (need[1]) db = sum_to(where_raw(c, zero, gc), b_shape);
             return std::vector<Tensor>{da, db};
           },
           {c});
  }
  return out;
}

Tensor gather(const Tensor& input, int64_t dim, const Tensor& index) {
  MD_PROFILE("gather");
  MD_CHECK(input.defined(), TypeError, "gather: input is None");
  if (via_float32(input)) return to_dtype(gather(to_dtype(input, DType::Float32), dim, index), input.dtype());
  if (index.defined() && index.dtype() == DType::Int32) return gather(input, dim, i64_of(index));
  MD_CHECK(index.defined() && index.dtype() == DType::Int64, TypeError,
           "gather: index must be an int64 or int32 tensor, got ",
           index.defined() ? dtype_name(index.dtype()) : "None");
  check_same_device("gather", {&input, &index});
  const int64_t nd = std::max<int64_t>(input.dim(), 1);
  MD_CHECK(std::max<int64_t>(index.dim(), 1) == nd, ValueError, "gather: index of shape ", index.shape(),
           " must have as many dimensions as the input of shape ", input.shape());
  dim = wrap_dim(dim, input.dim(), "gather");
  if (input.dim() == 0 || index.dim() == 0)  // scalars act as one-element vectors, as in torch
    return reshape(gather(reshape(input, {input.numel()}), 0, reshape(index, {index.numel()})), index.shape());
  // torch allows an index smaller than the input in the other dims: those parts are never read
  Tensor x = input;
  for (int64_t d = 0; d < nd; ++d) {
    if (d == dim) continue;
    MD_CHECK(index.shape()[d] <= input.shape()[d], ValueError, "gather: index of shape ", index.shape(),
             " is larger than the input of shape ", input.shape(), " in dimension ", d);
    if (index.shape()[d] < input.shape()[d]) x = slice(x, d, 0, index.shape()[d]);
  }
  Tensor ic = index.is_contiguous() ? index : contiguous(index);
  check_index_range("gather", ic, 0, input.shape()[dim], dim, input.shape());
  Tensor xc = x.is_contiguous() ? x.detach() : contiguous(x.detach());
  const OuterInner s = split_at(xc.shape(), dim);
  const int64_t Ri = index.shape()[dim];
  Tensor out = Tensor::empty(index.shape(), input.dtype(), input.device());
  if (out.numel())
    MD_DISPATCH(input.device(), gather_forward, out.raw(), xc.raw(), ic.i64(), s.O, s.R, Ri, s.I,
                dtype_size(input.dtype()));
  if (any_requires_grad({&x})) {
    const Shape x_shape = xc.shape();
    record("gather", out, {x},
           [ic, x_shape, s, Ri](const Tensor& g, const GradMask&) {
             Tensor gc = g.is_contiguous() ? g : contiguous(g);
             Tensor dx = Tensor::empty(x_shape, DType::Float32, g.device());
             if (dx.numel()) MD_DISPATCH(g.device(), gather_backward, dx.f32(), gc.f32(), ic.i64(), s.O, s.R, Ri, s.I);
             return std::vector<Tensor>{dx};
           },
           {ic});
  }
  return out;
}

namespace {

// The slices of input at index (any shape) along dim; out has index's shape in place of dim.
// Negative indices count from the end where negative_from_end, else they are out of range.
Tensor select_rows(const char* op, const Tensor& input, int64_t dim, const Tensor& index, bool negative_from_end) {
  MD_CHECK(input.defined(), TypeError, op, ": input is None");
  if (index.defined() && index.dtype() == DType::Int32)
    return select_rows(op, input, dim, i64_of(index), negative_from_end);
  MD_CHECK(index.defined() && index.dtype() == DType::Int64, TypeError, op,
           ": index must be an int64 or int32 tensor, got ", index.defined() ? dtype_name(index.dtype()) : "None");
  check_same_device(op, {&input, &index});
  MD_CHECK(input.dim() > 0, ValueError, op, ": cannot index a 0-d tensor");
  if (via_float32(input))
    return to_dtype(select_rows(op, to_dtype(input, DType::Float32), dim, index, negative_from_end), input.dtype());
  dim = wrap_dim(dim, input.dim(), op);
  const OuterInner s = split_at(input.shape(), dim);
  const int64_t n = index.numel();
  Tensor ic = index.is_contiguous() ? index : contiguous(index);
  check_index_range(op, ic, negative_from_end ? -s.R : 0, s.R, dim, input.shape());
  Shape out_shape(input.shape().begin(), input.shape().begin() + dim);
  out_shape.insert(out_shape.end(), index.shape().begin(), index.shape().end());
  out_shape.insert(out_shape.end(), input.shape().begin() + dim + 1, input.shape().end());
  Tensor x = input.is_contiguous() ? input.detach() : contiguous(input.detach());
  Tensor out = Tensor::empty(out_shape, input.dtype(), input.device());
  if (out.numel())
    MD_DISPATCH(input.device(), index_select_forward, out.raw(), x.raw(), ic.i64(), s.O, s.R, n, s.I,
                dtype_size(input.dtype()));
  if (any_requires_grad({&input})) {
    const Shape in_shape = input.shape();
    record(op, out, {input},
           [ic, in_shape, s, n](const Tensor& g, const GradMask&) {
             Tensor gc = g.is_contiguous() ? g : contiguous(g);
             Tensor dx = Tensor::empty(in_shape, DType::Float32, g.device());
             if (dx.numel())
               MD_DISPATCH(g.device(), index_select_backward, dx.f32(), gc.f32(), ic.i64(), s.O, s.R, n, s.I);
             return std::vector<Tensor>{dx};
           },
           {ic});
  }
  return out;
}

}  // namespace

Tensor index_select(const Tensor& input, int64_t dim, const Tensor& index) {
  MD_PROFILE("index_select");
  MD_CHECK(!index.defined() || index.dim() <= 1, ValueError, "index_select: index must be 0-D or 1-D, got shape ",
           index.shape());
  // a 0-d index selects one slice and keeps the dimension, as torch
  return select_rows("index_select", input, dim, index.defined() && index.dim() == 0 ? reshape(index, {1}) : index,
                     false);
}

Tensor take_index(const Tensor& input, int64_t dim, const Tensor& index) {
  MD_PROFILE("index");
  return select_rows("index", input, dim, index, true);
}

Tensor cumsum(const Tensor& t, int64_t dim) { return scan("cumsum", t, dim, false); }
Tensor cumprod(const Tensor& t, int64_t dim) { return scan("cumprod", t, dim, true); }

}  // namespace md
