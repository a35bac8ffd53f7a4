// Reductions: sum / mean over any set of dims, max over one dim, and sum_to (the adjoint of
// broadcasting). A set of dims is reduced as runs of adjacent dims, each run one (O, R, I) kernel.
#include <algorithm>

#include "core/profiler.h"
#include "kernels.h"
#include "ops/ops.h"
#include "ops/plan.h"

namespace md {

namespace {

std::vector<int64_t> normalize_dims(const char* op, const std::vector<int64_t>& dims, int64_t ndim) {
  std::vector<int64_t> d;
  if (dims.empty()) {
    for (int64_t i = 0; i < ndim; ++i) d.push_back(i);
    return d;
  }
  for (int64_t x : dims) d.push_back(wrap_dim(x, ndim, op));
  if (ndim == 0) return {};  // a 0-d tensor accepts dim 0 / -1, as in torch, and reduces nothing
  std::sort(d.begin(), d.end());
  MD_CHECK(std::adjacent_find(d.begin(), d.end()) == d.end(), ValueError, op, ": repeated dim in ", shape_str(dims));
  return d;
}

Shape keepdim_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape k = s;
  for (int64_t d : dims) k[d] = 1;
  return k;
}

Shape drop_dims(const Shape& s, const std::vector<int64_t>& dims) {
  Shape out;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i)
    if (!std::binary_search(dims.begin(), dims.end(), i)) out.push_back(s[i]);
  return out;
}

// Sum over sorted dims, keeping them as size 1; no autograd. Always a new tensor, never a view.
// int64 stays int64 (exact).
Tensor sum_raw(const Tensor& t, const std::vector<int64_t>& dims) {
  if (dims.empty()) return clone(t.detach());
  const bool i64 = t.dtype() == DType::Int64;
  Tensor cur = t.is_contiguous() ? t.detach() : contiguous(t.detach());
  Shape shape = cur.shape();
  // Runs of adjacent dims, last run first so earlier indices stay valid.
  size_t i = dims.size();
  while (i > 0) {
    size_t j = i - 1;
    while (j > 0 && dims[j - 1] == dims[j] - 1) --j;
    const int64_t d0 = dims[j], d1 = dims[i - 1];
    int64_t O = 1, R = 1, I = 1;
    for (int64_t k = 0; k < d0; ++k) O *= shape[k];
    for (int64_t k = d0; k <= d1; ++k) R *= shape[k];
    for (int64_t k = d1 + 1; k < static_cast<int64_t>(shape.size()); ++k) I *= shape[k];
    for (int64_t k = d0; k <= d1; ++k) shape[k] = 1;
    Tensor out = Tensor::empty(shape, cur.dtype(), cur.device());
    if (out.numel()) {
      if (R == 0 && i64)
        MD_DISPATCH(cur.device(), fill_i64, out.i64(), 0, out.numel());
      else if (R == 0)
        MD_DISPATCH(cur.device(), fill_f32, out.f32(), 0.0f, out.numel());
      else if (i64)
        MD_DISPATCH(cur.device(), reduce_sum_i64, out.i64(), cur.i64(), O, R, I);
      else
        MD_DISPATCH(cur.device(), reduce_sum, out.f32(), cur.f32(), O, R, I);
    }
    cur = out;
    i = j;
  }
  return cur;
}

// g (keepdim shape) broadcast back to shape, materialised.
Tensor broadcast_back(const Tensor& g, const Shape& shape) { return contiguous(expand(g, shape)); }

}  // namespace

// sum and max of int64 tensors are int64 and exact, as torch's (no autograd: int64 has no
// gradient); mean of int64 is float32 (torch refuses it).
Tensor sum(const Tensor& t, const std::vector<int64_t>& dims, bool keepdim) {
  if (is_low_float(t)) return back_to(sum(f32_of(t), dims, keepdim), t.dtype());  // accumulated in float32, as torch's
  MD_PROFILE("sum");
  if (t.defined() && t.dtype() == DType::Bool) return sum(to_dtype(t, DType::Int64), dims, keepdim);  // a count
  if (is_narrow_int(t)) return sum(i64_of(t), dims, keepdim);  // int64, as torch's
  if (t.defined() && t.dtype() == DType::Int64) {
    const auto d = normalize_dims("sum", dims, t.dim());
    Tensor out = sum_raw(t, d);
    return keepdim ? out : reshape_own(std::move(out), drop_dims(t.shape(), d));
  }
  check_float("sum", t);
  const auto d = normalize_dims("sum", dims, t.dim());
  Tensor out = sum_raw(t, d);
  if (!keepdim) out = reshape_own(std::move(out), drop_dims(t.shape(), d));
  if (any_requires_grad({&t})) {
    const Shape in_shape = t.shape(), keep = keepdim_shape(t.shape(), d);
    record("sum", out, {t}, [in_shape, keep](const Tensor& g, const GradMask&) {
      return std::vector<Tensor>{broadcast_back(reshape(g, keep), in_shape)};
    });
  }
  return out;
}

Tensor mean(const Tensor& t, const std::vector<int64_t>& dims, bool keepdim) {
  if (is_low_float(t)) return back_to(mean(f32_of(t), dims, keepdim), t.dtype());
  MD_CHECK(!(t.defined() && t.dtype() == DType::Bool), TypeError, "mean: not supported for a bool tensor (shape ",
           t.shape(), "), as in torch; convert it with .float() (or count with sum())");
  if (t.defined() && is_integer(t.dtype())) return mean(to_dtype(t, DType::Float32), dims, keepdim);
  MD_PROFILE("mean");
  check_float("mean", t);
  const auto d = normalize_dims("mean", dims, t.dim());
  int64_t count = 1;
  for (int64_t x : d) count *= t.shape()[x];
  Tensor s = sum(t, dims, keepdim);
  return div(s, static_cast<double>(count));
}

std::pair<Tensor, Tensor> max_dim(const Tensor& t, int64_t dim, bool keepdim) {
  if (is_narrow(t)) {
    auto [values, indices] = max_dim(wide_of(t), dim, keepdim);
    return {back_to(values, t.dtype()), indices};
  }
  MD_PROFILE("max");
  if (t.defined() && t.dtype() == DType::Bool) {  // through int64: any() along dim, as torch's bool max
    auto [values, indices] = max_dim(to_dtype(t, DType::Int64), dim, keepdim);
    return {to_dtype(values, DType::Bool), indices};
  }
  const bool i64 = t.defined() && t.dtype() == DType::Int64;
  if (!i64) check_float("max", t);
  dim = wrap_dim(dim, t.dim(), "max");
  MD_CHECK(t.dim() == 0 || t.shape()[dim] > 0, ValueError, "max: cannot reduce dimension ", dim, " of size 0 (shape ",
           t.shape(), ")");
  if (t.numel() == 0) {  // another dimension is empty: so are the results, as in torch
    Shape keep = t.shape();
    keep[dim] = 1;
    const Shape shape = keepdim ? keep : drop_dims(t.shape(), {dim});
    Tensor out = Tensor::empty(shape, t.dtype(), t.device());
    if (any_requires_grad({&t})) {  // still in the graph, as torch's: the input's gradient is empty too
      const Shape in_shape = t.shape();
      record("max", out, {t}, [in_shape](const Tensor& g, const GradMask&) {
        return std::vector<Tensor>{Tensor::empty(in_shape, DType::Float32, g.device())};
      });
    }
    return {out, Tensor::empty(shape, DType::Int64, t.device())};
  }
  if (t.dim() == 0) return {clone(t), zeros({}, DType::Int64, t.device())};
  Tensor x = t.is_contiguous() ? t.detach() : contiguous(t.detach());
  int64_t O = 1, I = 1;
  const int64_t R = t.shape()[dim];
  for (int64_t k = 0; k < dim; ++k) O *= t.shape()[k];
  for (int64_t k = dim + 1; k < t.dim(); ++k) I *= t.shape()[k];
  Shape keep = t.shape();
  keep[dim] = 1;
  Tensor out = Tensor::empty(keep, t.dtype(), t.device());
  Tensor arg = Tensor::empty(keep, DType::Int64, t.device());
  if (i64)
    MD_DISPATCH(t.device(), reduce_max_i64, out.i64(), arg.i64(), x.i64(), O, R, I);
  else
    MD_DISPATCH(t.device(), reduce_max, out.f32(), arg.i64(), x.f32(), O, R, I);
  const bool grad = any_requires_grad({&t});
  // (the backward keeps arg in keep's shape: the indices are then a copy of it)
  Tensor indices = keepdim ? arg : reshape_own(grad ? clone(arg) : std::move(arg), drop_dims(t.shape(), {dim}));
  if (!keepdim) out = reshape_own(std::move(out), drop_dims(t.shape(), {dim}));
  if (grad) {
    const Shape in_shape = t.shape();
    record("max", out, {t},
           [arg, in_shape, keep, O, R, I](const Tensor& g, const GradMask&) {
             Tensor gc = contiguous(reshape(g, keep));
             Tensor gi = Tensor::empty(in_shape, DType::Float32, g.device());
             MD_DISPATCH(g.device(), reduce_max_backward, gi.f32(), gc.f32(), arg.i64(), O, R, I);
             return std::vector<Tensor>{gi};
           },
           {arg});  // the indices the user holds: changing them in place must not steer the scatter
  }
  return {out, indices};
}

Tensor amax(const Tensor& t, const std::vector<int64_t>& dims, bool keepdim) {
  if (is_narrow(t)) return back_to(amax(wide_of(t), dims, keepdim), t.dtype());
  if (t.defined() && t.dtype() == DType::Bool)
    return to_dtype(amax(to_dtype(t, DType::Int64), dims, keepdim), DType::Bool);
  std::vector<int64_t> ds;
  for (int64_t d : dims) ds.push_back(wrap_dim(d, std::max<int64_t>(t.dim(), 1), "amax"));
  if (dims.empty())
    for (int64_t d = 0; d < t.dim(); ++d) ds.push_back(d);
  std::sort(ds.begin(), ds.end());
  MD_CHECK(std::adjacent_find(ds.begin(), ds.end()) == ds.end(), ValueError, "amax: dim ", dims,
           " names a dim twice (shape ", t.shape(), ")");
  if (t.dim() == 0) ds.clear();  // dim 0 / -1 of a 0-d tensor: the tensor itself
  Tensor out;                    // keepdim's shape
  {
    NoGradGuard no_grad;
    if (t.dim() == 0) {
      out = clone(t.detach());                                // a new tensor, also for a 0-d one
    } else if (static_cast<int64_t>(ds.size()) == t.dim()) {  // every dim: one pass over the elements
      Shape ones(t.dim(), 1);
      out = reshape_own(max_dim(reshape(t, {-1}), 0, false).first, ones);
    } else {
      out = t;
      for (int64_t d : ds) out = max_dim(out, d, true).first;
    }
  }
  // a copy of the maxima (small): an in-place change of the result does not reach them
  const Tensor od = any_requires_grad({&t}) ? clone(out.detach()) : Tensor();
  const Shape keep = out.shape();
  if (!keepdim && t.dim() > 0) {
    Shape shape;
    for (int64_t d = 0; d < t.dim(); ++d)
      if (!std::binary_search(ds.begin(), ds.end(), d)) shape.push_back(t.shape()[d]);
    out = reshape_own(std::move(out), shape);
  }
  if (any_requires_grad({&t})) {
    const Tensor xd = t.detach();
    record("amax", out, {t},
           [xd, od, ds, keep](const Tensor& g, const GradMask&) {
             const Tensor ties = equal_mask(xd, od);  // the NaNs, when the max is NaN
             return std::vector<Tensor>{mul(ties, div(reshape(g, keep), sum(ties, ds, true)))};
           },
           {xd, od});
  }
  return out;
}

// torch's max(): amax over every dim, the gradient shared evenly by the ties (max(dim) sends it to
// the one index it returns).
Tensor max_all(const Tensor& t) { return amax(t, {}, false); }

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const int64_t lead = t.dim() - static_cast<int64_t>(shape.size());
  MD_CHECK(lead >= 0, ValueError, "sum_to: cannot reduce shape ", t.shape(), " to ", shape);
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < t.dim(); ++i) {
    if (i < lead) {
      dims.push_back(i);
      continue;
    }
    const int64_t want = shape[i - lead];
    if (want == 1 && t.shape()[i] != 1)
      dims.push_back(i);
    else
      MD_CHECK(want == t.shape()[i], ValueError, "sum_to: cannot reduce shape ", t.shape(), " to ", shape);
  }
  if (dims.empty()) return reshape(t, shape);
  return reshape(sum(t, dims, true), shape);
}

}  // namespace md
