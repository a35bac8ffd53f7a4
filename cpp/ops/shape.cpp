// Views and shape ops: reshape, permute, slicing, expand, cat, pad. Views share storage with
// their input; their backward maps the gradient back through the same geometry.
#include <algorithm>
#include <numeric>
#include <optional>
#include <tuple>

#include "core/profiler.h"
#include "kernels.h"
#include "ops/ops.h"
#include "ops/plan.h"

namespace md {

namespace {

// Adds v to base's list of views, dropping the expired ones as the list grows.
void track_view(TensorImpl& base, const std::shared_ptr<TensorImpl>& v) {
  if (base.views.size() >= base.views_pruned_at) {
    base.views.erase(std::remove_if(base.views.begin(), base.views.end(),
                                    [](const std::weak_ptr<TensorImpl>& w) { return w.expired(); }),
                     base.views.end());
    base.views_pruned_at = std::max<size_t>(16, 2 * base.views.size());
  }
  base.views.push_back(v);
}

Tensor make_view(const Tensor& t, const Shape& shape, const Shape& strides, int64_t offset) {
  Tensor v = t.view(shape, strides, offset);
  TensorImpl* i = v.impl();
  i->view_base = t.impl()->view_base ? t.impl()->view_base : t.impl_ptr();
  i->base_generation = i->view_base->generation;
  track_view(*i->view_base, v.impl_ptr());
  return v;
}

Shape infer_shape(const char* op, const Shape& requested, int64_t numel, const Shape& from) {
  Shape s = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      MD_CHECK(infer < 0, ValueError, op, ": only one dimension can be -1, got ", requested);
      infer = static_cast<int64_t>(i);
    } else {
      MD_CHECK(s[i] >= 0, ValueError, op, ": invalid shape ", requested);
      known *= s[i];
    }
  }
  if (infer >= 0) {
    MD_CHECK(known != 0 && numel % known == 0, ValueError, op, ": shape ", requested, " is invalid for input of shape ",
             from);
    s[infer] = numel / known;
  }
  MD_CHECK(shape_numel(s) == numel, ValueError, op, ": shape ", requested, " is invalid for input of shape ", from,
           " (", numel, " elements)");
  return s;
}

}  // namespace

namespace {

// The strides that read t's elements in row-major order as shape, without a copy, or nullopt when
// no strides do: each run of t's dims that is contiguous in memory (a chunk) must be split or
// merged into whole dims of the new shape (torch's rule for view of a non-contiguous tensor).
std::optional<Shape> view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& shape) {
  Shape strides(shape.size(), 1);
  if (shape_numel(old_shape) == 0 || old_shape.empty()) return contiguous_strides(shape);
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_stride = old_strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    // the end of a chunk: the next dim out does not continue it in memory
    if (d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_stride = old_strides[d - 1];
        tensor_numel = view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

}  // namespace

Tensor view(const Tensor& t, const Shape& shape) {
  const Shape s = infer_shape("view", shape, t.numel(), t.shape());
  const std::optional<Shape> strides =
      t.is_contiguous() ? contiguous_strides(s) : view_strides(t.shape(), t.strides(), s);
  MD_CHECK(strides.has_value(), ValueError, "view: input of shape ", t.shape(), " with strides ", t.strides(),
           " is not contiguous enough to view as ", s, "; use reshape()");
  Tensor out = make_view(t, s, *strides, t.offset());
  if (any_requires_grad({&t})) {
    const Shape in_shape = t.shape();
    record("view", out, {t},
           [in_shape](const Tensor& g, const GradMask&) { return std::vector<Tensor>{reshape(g, in_shape)}; });
  }
  return out;
}

Tensor alias(const Tensor& t) {
  Tensor out = make_view(t, t.shape(), t.strides(), t.offset());
  if (any_requires_grad({&t}))
    record("alias", out, {t}, [](const Tensor& g, const GradMask&) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor identity_node(const Tensor& t, const char* name) {
  Tensor out = t.view(t.shape(), t.strides(), t.offset());
  if (any_requires_grad({&t}))
    record(name, out, {t}, [](const Tensor& g, const GradMask&) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor reshape(const Tensor& t, const Shape& shape) {
  if (t.is_contiguous()) return view(t, shape);
  // a contiguous copy in the new shape: a new tensor, no view of the copy
  const Shape s = infer_shape("reshape", shape, t.numel(), t.shape());  // validate before copying
  Tensor out;
  {
    NoGradGuard no_grad;
    out = reshape_own(contiguous(t), s);
  }
  if (any_requires_grad({&t})) {
    const Shape in_shape = t.shape();
    record("view", out, {t},
           [in_shape](const Tensor& g, const GradMask&) { return std::vector<Tensor>{reshape(g, in_shape)}; });
  }
  return out;
}

Tensor reshape_own(Tensor fresh, const Shape& shape) {
  TensorImpl* i = fresh.impl();
  if (!i || fresh.impl_ptr().use_count() != 1 || i->grad_fn || i->view_base || i->has_live_views() ||
      !fresh.is_contiguous())
    return reshape(fresh, shape);
  i->shape = infer_shape("reshape", shape, fresh.numel(), i->shape);
  i->strides = contiguous_strides(i->shape);
  return fresh;
}

Tensor own_result(Tensor r) {
  std::shared_ptr<TensorImpl>& base = r.impl()->view_base;
  if (!base) return r;
  if (base.use_count() == 1 && r.is_contiguous()) {
    base.reset();
    return r;
  }
  return clone(r);
}

Tensor permute(const Tensor& t, const std::vector<int64_t>& dims) {
  const int64_t n = t.dim();
  MD_CHECK(static_cast<int64_t>(dims.size()) == n, ValueError, "permute: got ", dims.size(),
           " dims for a tensor of shape ", t.shape());
  std::vector<int64_t> d(n);
  std::vector<bool> seen(n, false);
  for (int64_t i = 0; i < n; ++i) {
    d[i] = wrap_dim(dims[i], n, "permute");
    MD_CHECK(!seen[d[i]], ValueError, "permute: repeated dim ", dims[i]);
    seen[d[i]] = true;
  }
  Shape shape(n), strides(n);
  for (int64_t i = 0; i < n; ++i) {
    shape[i] = t.shape()[d[i]];
    strides[i] = t.strides()[d[i]];
  }
  Tensor out = make_view(t, shape, strides, t.offset());
  if (any_requires_grad({&t})) {
    std::vector<int64_t> inv(n);
    for (int64_t i = 0; i < n; ++i) inv[d[i]] = i;
    record("permute", out, {t},
           [inv](const Tensor& g, const GradMask&) { return std::vector<Tensor>{permute(g, inv)}; });
  }
  return out;
}

Tensor transpose(const Tensor& t, int64_t d0, int64_t d1) {
  const int64_t n = t.dim();
  d0 = wrap_dim(d0, n, "transpose");
  d1 = wrap_dim(d1, n, "transpose");
  std::vector<int64_t> dims(n);
  std::iota(dims.begin(), dims.end(), 0);
  if (n > 0) std::swap(dims[d0], dims[d1]);  // a 0-d tensor accepts dims 0 / -1 and stays as it is
  return permute(t, dims);
}

namespace {
// Whether no two elements of (shape, strides) land on one slot: with the dims of more than one
// element sorted by stride, each stride passes the span of the ones below it.
bool views_no_slot_twice(const Shape& shape, const Shape& strides) {
  std::vector<size_t> dims;
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] > 1) dims.push_back(d);
  std::sort(dims.begin(), dims.end(), [&](size_t a, size_t b) { return strides[a] < strides[b]; });
  int64_t span = 0;  // the largest offset of the dims so far
  for (size_t d : dims) {
    if (strides[d] <= span) return false;
    span += (shape[d] - 1) * strides[d];
  }
  return true;
}
}  // namespace

namespace {

// A strided geometry in a storage: where each element of a tensor lies.
struct Geometry {
  Shape shape, strides;
  int64_t offset;
  int64_t numel() const { return shape_numel(shape); }
  int64_t last() const {  // the largest slot read (numel() > 0)
    int64_t at = offset;
    for (size_t d = 0; d < shape.size(); ++d) at += (shape[d] - 1) * strides[d];
    return at;
  }
};

// The slot of each element of at, less base, in row-major order.
std::vector<int64_t> slots_of(const Geometry& at, int64_t base) {
  std::vector<int64_t> slots(static_cast<size_t>(at.numel()));
  Shape index(at.shape.size(), 0);
  int64_t slot = at.offset - base;
  for (int64_t& s : slots) {
    s = slot;
    for (int64_t d = static_cast<int64_t>(at.shape.size()) - 1; d >= 0; --d) {
      slot += at.strides[d];
      if (++index[d] < at.shape[d]) break;
      slot -= at.shape[d] * at.strides[d];
      index[d] = 0;
    }
  }
  return slots;
}

// Counts, laid out as a span of `span` storage slots from base, of how often at reads each slot.
Tensor slot_counts(const Geometry& at, int64_t base, int64_t span, Device device) {
  std::vector<float> counts(static_cast<size_t>(span), 0.0f);
  for (int64_t s : slots_of(at, base)) counts[static_cast<size_t>(s)] += 1.0f;
  Tensor host = Tensor::empty({span}, DType::Float32);
  std::copy(counts.begin(), counts.end(), host.f32());
  return to_device(host, device);
}

// The gradient of as_strided for any geometries, as torch's: g's elements added up at the
// storage slots the view reads, then read at the input's slots; where the input reads a slot more
// than once, each of its elements takes an equal share. Slots the input does not read drop out.
Tensor as_strided_backward(const Tensor& g_in, const Geometry& in, const Geometry& out) {
  const DType dtype = g_in.dtype();
  if (in.numel() == 0 || out.numel() == 0) return zeros(in.shape, dtype, g_in.device());
  const Tensor g = dtype == DType::Float32 ? g_in : to_dtype(g_in, DType::Float32);
  const int64_t base = std::min(in.offset, out.offset), span = std::max(in.last(), out.last()) - base + 1;
  Tensor slots = zeros({span}, DType::Float32, g.device());
  if (views_no_slot_twice(out.shape, out.strides)) {
    Tensor region = Tensor::view_of(slots.storage(), out.shape, out.strides, out.offset - base, DType::Float32);
    copy_elements(region, g);
  } else {  // the view reads some slots more than once: their gradients add up
    const std::vector<int64_t> at = slots_of(out, base);
    Tensor index = Tensor::empty({out.numel()}, DType::Int64);
    std::copy(at.begin(), at.end(), index.i64());
    index = to_device(index, g.device());
    const Tensor gc = g.is_contiguous() ? g : contiguous(g);
    MD_DISPATCH(g.device(), index_select_backward, slots.f32(), gc.f32(), index.i64(), 1, span, out.numel(), 1);
  }
  Tensor gi = contiguous(slots.view(in.shape, in.strides, in.offset - base));
  if (!views_no_slot_twice(in.shape, in.strides)) {
    const Tensor counts = slot_counts(in, base, span, g.device());
    gi = div(gi, contiguous(counts.view(in.shape, in.strides, in.offset - base)));
  }
  return dtype == DType::Float32 ? gi : to_dtype(gi, dtype);
}

}  // namespace

namespace {
// Gradient of a strided view: zeros of the input's shape with g copied into the same view.
Tensor view_backward(const Tensor& g, const Shape& in_shape, const Shape& view_shape, const Shape& view_strides_rel,
                     int64_t view_offset_rel) {
  Tensor gi = zeros(in_shape, g.dtype(), g.device());
  Tensor region = Tensor::view_of(gi.storage(), view_shape, view_strides_rel, view_offset_rel, gi.dtype());
  copy_elements(region, g);
  return gi;
}
}  // namespace

namespace {

// Where a view lies in its base, for a backward: relative to the base's first element, in the
// strides of the base, which lays its elements out contiguously in the view's storage (dense)
// unless the caller allowed otherwise (see place_in_base).
struct PlaceInBase {
  Shape shape, strides;  // the view's, in elements of the base's storage
  int64_t offset;        // from the base's first element
  Shape base_shape, base_strides;
  std::vector<int64_t> repeated;  // the view's dims of stride 0 (expand): their gradients add up
  bool base_dense = true;
};

// The base's elements fill their span of the storage once each (a contiguous tensor or a
// permutation of one), so a gradient laid out as the base holds the view at the same place.
// any_base: a base that leaves gaps in its storage (a detach() of a stepped slice) is taken too,
// for a view's history (record_view_of_base) and an in-place write through the view (copy_slices_).
PlaceInBase place_in_base(const char* op, const Tensor& view, const Tensor& base, bool any_base = false) {
  const bool empty = view.numel() == 0 || base.numel() == 0;  // (an empty tensor may have no storage)
  const bool dense = empty || is_dense(base);
  MD_CHECK(empty || (view.storage() == base.storage() && (dense || any_base)), RuntimeError, op,
           ": the tensor of shape ", view.shape(), " is a view of a tensor of shape ", base.shape(),
           " that has been replaced since the view was taken (by an in-place change of it inside the autograd graph), "
           "or does not lay out its elements densely; use the out-of-place op, or clone() the view first");
  PlaceInBase at{view.shape(), view.strides(), view.offset() - base.offset(), base.shape(), base.strides(), {}, dense};
  for (int64_t d = 0; d < view.dim() && !empty; ++d)  // (an empty view repeats nothing)
    if (at.strides[d] == 0 && at.shape[d] > 1) {
      at.repeated.push_back(d);
      at.shape[d] = 1;  // the region the view reads, once
    }
  return at;
}

// g's values laid out as the base (its strides, from offset 0); a copy.
Tensor in_base_layout(const Tensor& g, const PlaceInBase& at) {
  int64_t span = g.numel();  // a dense base fills its span; one with gaps (a detach() of a stepped slice) does not
  if (!at.base_dense) {
    span = 1;
    for (size_t d = 0; d < at.base_shape.size(); ++d) span += (at.base_shape[d] - 1) * at.base_strides[d];
  }
  const Tensor flat = Tensor::empty({span}, g.dtype(), g.device());
  Tensor out = Tensor::view_of(flat.storage(), at.base_shape, at.base_strides, 0, g.dtype());
  copy_elements(out, g);
  return out;
}

// The view's elements of a tensor laid out as the base.
Tensor view_in(const Tensor& laid_out_as_base, const PlaceInBase& at) {
  return laid_out_as_base.view(at.shape, at.strides, laid_out_as_base.offset() + at.offset);
}

// Records on view the history of a view of base at place.
void record_view_of_base(Tensor& view, const Tensor& base, const PlaceInBase& at) {
  view.impl()->base_generation = base.impl()->generation;
  // a base that left the graph (detach_) leaves a view of it in the graph with no path back, as torch's
  if (!base.requires_grad() && !view.grad_fn()) return;
  record("as_strided", view, {base}, [at](const Tensor& g, const GradMask&) {
    const Tensor once = at.repeated.empty() ? g : sum(g, at.repeated, true);
    // overlapping windows (unfold): their gradients add up; a base with gaps: laid out by its span
    if (!views_no_slot_twice(at.shape, at.strides) || !at.base_dense)
      return std::vector<Tensor>{
          as_strided_backward(once, {at.base_shape, at.base_strides, 0}, {at.shape, at.strides, at.offset})};
    Tensor gi = in_base_layout(zeros(at.base_shape, g.dtype(), g.device()), at);
    Tensor region = view_in(gi, at);
    copy_elements(region, once);
    return std::vector<Tensor>{gi};
  });
}

}  // namespace

void refresh_view_history(const Tensor& view) {
  const Tensor base(view.impl()->view_base);
  Tensor v = view;
  const std::shared_ptr<Node> old = view.grad_fn();
  record_view_of_base(v, base, place_in_base("autograd", view, base, true));
  keep_retained(v, old);
}

Tensor detach_alias(const Tensor& t) {
  Tensor d = t.detach();
  // the root: t's base if t is a view, the tensor t aliases if t is itself a detach(), else t
  std::shared_ptr<TensorImpl> base = t.impl()->view_base;
  if (!base) base = t.impl()->alias_of.lock();
  if (!base) base = t.impl_ptr();
  track_view(*base, d.impl_ptr());
  d.impl()->alias_of = base;
  return d;
}

void copy_slices_(const char* op, Tensor& t, const Tensor& result) {
  Tensor base(t.impl()->view_base);
  MD_CHECK(!(base.requires_grad() && base.is_leaf()), RuntimeError, op, ": the tensor of shape ", t.shape(),
           " is a view of a leaf tensor of shape ", base.shape(),
           " that requires grad, which cannot change in place; wrap the update in no_grad()");
  const PlaceInBase at = place_in_base(op, t, base, true);
  const std::shared_ptr<Node> old_base_fn = base.grad_fn(), old_fn = t.grad_fn();
  {
    NoGradGuard no_grad;
    write_result_(op, t, result);  // the base and its other views see the new values
  }
  // the base's history: its old one outside the view's elements, the result's inside them
  record("copy_slices", base, {base, result}, [at](const Tensor& g, const GradMask& needs) {
    Tensor g_base = in_base_layout(g, at), g_result;
    if (needs[1]) g_result = clone(view_in(g_base, at));  // a copy: the region is zeroed next
    if (needs[0]) {
      Tensor inside = view_in(g_base, at);
      fill_(inside, 0.0);
    } else {
      g_base = Tensor();
    }
    return std::vector<Tensor>{g_base, g_result};
  });
  ++base.impl()->generation;
  record_view_of_base(t, base, at);
  keep_retained(base, old_base_fn);
  keep_retained(t, old_fn);
}

Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t stop, int64_t step) {
  MD_CHECK(t.dim() > 0, IndexError, "slice: cannot slice a 0-d tensor");
  dim = wrap_dim(dim, t.dim(), "slice");
  MD_CHECK(step > 0, ValueError, "slice: step must be positive, got ", step);
  const int64_t size = t.shape()[dim];
  if (start < 0) start += size;
  if (stop < 0) stop += size;
  start = std::clamp<int64_t>(start, 0, size);
  stop = std::clamp<int64_t>(stop, start, size);
  const int64_t len = (stop - start + step - 1) / step;
  Shape shape = t.shape(), strides = t.strides();
  shape[dim] = len;
  strides[dim] *= step;
  Tensor out = make_view(t, shape, strides, t.offset() + start * t.strides()[dim]);
  if (any_requires_grad({&t})) {
    const Shape in_shape = t.shape();
    Shape rel_strides = contiguous_strides(in_shape);
    const int64_t rel_offset = start * rel_strides[dim];
    rel_strides[dim] *= step;
    record("slice", out, {t}, [in_shape, shape, rel_strides, rel_offset](const Tensor& g, const GradMask&) {
      return std::vector<Tensor>{view_backward(g, in_shape, shape, rel_strides, rel_offset)};
    });
  }
  return out;
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  MD_CHECK(t.dim() > 0, IndexError, "select: cannot index a 0-d tensor");
  dim = wrap_dim(dim, t.dim(), "select");
  const int64_t size = t.shape()[dim];
  MD_CHECK(index >= -size && index < size, IndexError, "index ", index, " is out of bounds for dimension ", dim,
           " with size ", size);
  if (index < 0) index += size;
  return squeeze(slice(t, dim, index, index + 1, 1), dim);
}

Tensor diagonal(const Tensor& t, int64_t offset, int64_t dim1, int64_t dim2) {
  MD_CHECK(t.dim() >= 2, ValueError, "diagonal: expected a tensor of at least 2 dims, got shape ", t.shape());
  dim1 = wrap_dim(dim1, t.dim(), "diagonal");
  dim2 = wrap_dim(dim2, t.dim(), "diagonal");
  MD_CHECK(dim1 != dim2, ValueError, "diagonal: dim1 and dim2 cannot be the same dim (", dim1, ") of shape ",
           t.shape());
  // the view's geometry, in t's own strides and in those of a contiguous t (for the backward)
  const auto geometry = [&](const Shape& strides, int64_t base) {
    const int64_t rows = t.shape()[dim1], cols = t.shape()[dim2];
    const int64_t len =
        std::max<int64_t>(0, offset >= 0 ? std::min(rows, cols - offset) : std::min(rows + offset, cols));
    if (len > 0) base += offset >= 0 ? offset * strides[dim2] : -offset * strides[dim1];
    Shape shape, st;
    for (int64_t d = 0; d < t.dim(); ++d)
      if (d != dim1 && d != dim2) {
        shape.push_back(t.shape()[d]);
        st.push_back(strides[d]);
      }
    shape.push_back(len);
    st.push_back(strides[dim1] + strides[dim2]);
    return std::tuple{shape, st, base};
  };
  const auto [shape, strides, base] = geometry(t.strides(), t.offset());
  Tensor out = make_view(t, shape, strides, base);
  if (any_requires_grad({&t})) {
    const Shape in_shape = t.shape();
    const auto [_, rel_strides, rel_offset] = geometry(contiguous_strides(in_shape), 0);
    record("diagonal", out, {t}, [in_shape, shape, rel_strides, rel_offset](const Tensor& g, const GradMask&) {
      return std::vector<Tensor>{view_backward(g, in_shape, shape, rel_strides, rel_offset)};
    });
  }
  return out;
}

Tensor as_strided(const Tensor& t, const Shape& shape, const Shape& strides, std::optional<int64_t> storage_offset) {
  MD_CHECK(shape.size() == strides.size(), ValueError, "as_strided: got size ", shape, " and stride ", strides,
           " of different lengths");
  const int64_t offset = storage_offset.value_or(t.offset());
  MD_CHECK(offset >= 0, ValueError, "as_strided: negative storage offset ", offset);
  int64_t last = offset;  // the largest element offset the view reads
  bool empty = false;
  for (size_t d = 0; d < shape.size(); ++d) {
    MD_CHECK(shape[d] >= 0 && strides[d] >= 0, ValueError, "as_strided: negative size or stride in size ", shape,
             ", stride ", strides);
    empty = empty || shape[d] == 0;
    if (shape[d] > 0) last += (shape[d] - 1) * strides[d];
  }
  const int64_t capacity = static_cast<int64_t>(t.storage() ? t.storage()->nbytes / dtype_size(t.dtype()) : 0);
  MD_CHECK(empty || last < capacity, ValueError, "as_strided: size ", shape, ", stride ", strides,
           " and storage offset ", offset, " reach element ", last, " of a storage of ", capacity,
           " elements (tensor of shape ", t.shape(), ")");
  Tensor out = make_view(t, shape, strides, offset);
  if (any_requires_grad({&t})) {
    const Geometry in{t.shape(), t.strides(), t.offset()}, view{shape, strides, offset};
    record("as_strided", out, {t}, [in, view](const Tensor& g, const GradMask&) {
      return std::vector<Tensor>{as_strided_backward(g, in, view)};
    });
  }
  return out;
}

// Always a view (reshape would copy a non-contiguous input): a size-1 dim can take any stride.
Tensor unsqueeze(const Tensor& t, int64_t dim) {
  dim = wrap_dim(dim, t.dim() + 1, "unsqueeze");
  Shape s = t.shape(), st = t.strides();
  const int64_t stride = dim < t.dim() ? st[dim] * std::max<int64_t>(s[dim], 1) : 1;
  s.insert(s.begin() + dim, 1);
  st.insert(st.begin() + dim, stride);
  Tensor out = make_view(t, s, st, t.offset());
  if (any_requires_grad({&t})) {
    const Shape in_shape = t.shape();
    record("unsqueeze", out, {t},
           [in_shape](const Tensor& g, const GradMask&) { return std::vector<Tensor>{reshape(g, in_shape)}; });
  }
  return out;
}

Tensor squeeze(const Tensor& t, std::optional<int64_t> dim) {
  Shape s;
  if (dim) {
    const int64_t d = wrap_dim(*dim, t.dim(), "squeeze");
    if (t.dim() == 0) return alias(t);
    s = t.shape();
    if (s[d] == 1) s.erase(s.begin() + d);
  } else {
    for (int64_t v : t.shape())
      if (v != 1) s.push_back(v);
  }
  if (s == t.shape()) return alias(t);  // a new view all the same, as torch's
  // Dropping size-1 dims keeps any layout valid: build the view directly.
  Shape strides;
  if (dim) {
    const int64_t d = wrap_dim(*dim, t.dim(), "squeeze");
    strides = t.strides();
    strides.erase(strides.begin() + d);
  } else {
    for (int64_t i = 0; i < t.dim(); ++i)
      if (t.shape()[i] != 1) strides.push_back(t.strides()[i]);
  }
  Tensor out = make_view(t, s, strides, t.offset());
  if (any_requires_grad({&t})) {
    const Shape in_shape = t.shape();
    record("squeeze", out, {t},
           [in_shape](const Tensor& g, const GradMask&) { return std::vector<Tensor>{reshape(g, in_shape)}; });
  }
  return out;
}

Tensor flatten(const Tensor& t, int64_t start_dim, int64_t end_dim) {
  if (t.dim() == 0) return reshape(t, {1});
  start_dim = wrap_dim(start_dim, t.dim(), "flatten");
  end_dim = wrap_dim(end_dim, t.dim(), "flatten");
  MD_CHECK(start_dim <= end_dim, ValueError, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
  if (start_dim == end_dim) return t;  // nothing to flatten: the tensor itself, as torch's (seed 128 #1077)
  Shape s;
  for (int64_t i = 0; i < start_dim; ++i) s.push_back(t.shape()[i]);
  int64_t m = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) m *= t.shape()[i];
  s.push_back(m);
  for (int64_t i = end_dim + 1; i < t.dim(); ++i) s.push_back(t.shape()[i]);
  return reshape(t, s);
}

Tensor expand(const Tensor& t, const Shape& shape) {
  MD_CHECK(shape.size() >= t.shape().size(), ValueError, "expand: cannot expand shape ", t.shape(), " to ", shape);
  const size_t lead = shape.size() - t.shape().size();
  Shape strides(shape.size(), 0), target = shape;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      MD_CHECK(shape[i] >= 0, ValueError, "expand: invalid shape ", shape);
      continue;
    }
    const int64_t src = t.shape()[i - lead];
    if (target[i] == -1) target[i] = src;
    MD_CHECK(src == target[i] || src == 1, ValueError, "expand: cannot expand shape ", t.shape(), " to ", shape);
    strides[i] = src == target[i] ? t.strides()[i - lead] : 0;
  }
  try {
    shape_numel(target);  // a view allocates nothing, but its element count must fit in int64
  } catch (const ValueError& e) {
    throw ValueError(str("expand: ", e.what()));
  }
  Tensor out = make_view(t, target, strides, t.offset());
  if (any_requires_grad({&t})) {
    const Shape in_shape = t.shape();
    record("expand", out, {t},
           [in_shape](const Tensor& g, const GradMask&) { return std::vector<Tensor>{sum_to(g, in_shape)}; });
  }
  return out;
}

Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  MD_PROFILE("cat");
  MD_CHECK(!ts.empty(), ValueError, "cat: expected a non-empty list of tensors");
  {  // mixed dtypes promote, as torch's (promote_types)
    DType to = ts[0].defined() ? ts[0].dtype() : DType::Float32;
    bool mixed = false;
    for (const Tensor& t : ts) {
      if (!t.defined()) continue;  // (refused below)
      mixed = mixed || t.dtype() != to;
      to = promote_types(to, t.dtype());
    }
    if (mixed) {
      std::vector<Tensor> same;
      for (const Tensor& t : ts) same.push_back(t.defined() ? to_dtype(t, to) : t);
      return cat(same, dim);
    }
  }
  const Tensor& first = ts[0];
  MD_CHECK(first.dim() > 0, ValueError, "cat: zero-dimensional tensors cannot be concatenated");
  dim = wrap_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[dim] = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    MD_CHECK(t.defined(), ValueError, "cat: tensor ", i, " is undefined");
    MD_CHECK(t.dtype() == first.dtype(), TypeError, "cat: tensor ", i, " has dtype ", dtype_name(t.dtype()),
             ", tensor 0 has ", dtype_name(first.dtype()));
    MD_CHECK(t.device() == first.device(), ValueError, "cat: tensor ", i, " is on ", t.device().str(), ", tensor 0 on ",
             first.device().str());
    MD_CHECK(t.dim() == first.dim(), ValueError, "cat: tensor ", i, " has shape ", t.shape(), ", tensor 0 has ",
             first.shape());
    for (int64_t d = 0; d < t.dim(); ++d)
      MD_CHECK(d == dim || t.shape()[d] == first.shape()[d], ValueError, "cat: sizes must match except in dim ", dim,
               ": got ", first.shape(), " and ", t.shape(), " (tensor ", i, ")");
    out_shape[dim] += t.shape()[dim];
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  const Shape out_strides = out.strides();
  int64_t at = 0;
  std::vector<int64_t> sizes;
  for (const Tensor& t : ts) {
    Shape region_shape = out_shape;
    region_shape[dim] = t.shape()[dim];
    Tensor region = Tensor::view_of(out.storage(), region_shape, out_strides, at * out_strides[dim], out.dtype());
    copy_elements(region, t);
    at += t.shape()[dim];
    sizes.push_back(t.shape()[dim]);
  }
  if (any_requires_grad(ts)) {
    record("cat", out, ts, [sizes, dim](const Tensor& g, const GradMask& needs) {
      std::vector<Tensor> gs(sizes.size());
      int64_t s = 0;
      for (size_t i = 0; i < sizes.size(); ++i) {
        if (needs[i]) gs[i] = contiguous(slice(g, dim, s, s + sizes[i]));
        s += sizes[i];
      }
      return gs;
    });
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim) {
  MD_CHECK(chunks > 0, ValueError, "chunk: chunks must be positive, got ", chunks);
  MD_CHECK(t.dim() > 0, ValueError, "chunk: expected a tensor with at least one dimension, got shape ", t.shape());
  dim = wrap_dim(dim, t.dim(), "chunk");
  const int64_t size = t.shape()[dim];
  const int64_t step = (size + chunks - 1) / chunks;
  std::vector<Tensor> out;
  if (size == 0) return std::vector<Tensor>(static_cast<size_t>(chunks), t);  // chunks empty pieces, as torch's
  for (int64_t s = 0; s < size; s += step) out.push_back(slice(t, dim, s, std::min(size, s + step)));
  return out;
}

namespace {

// The input position each output position along one dim of size n reads, as torch's non-constant
// pad modes: negative amounts crop first; circular padding wraps within what is left.
std::vector<int64_t> pad_positions(int64_t n, int64_t before, int64_t after, const std::string& mode,
                                   const std::string& op, const Shape& shape) {
  const bool reflect = mode == "reflect", replicate = mode == "replicate", circular = mode == "circular";
  const int64_t out = n + before + after;
  MD_CHECK(out >= (circular ? 0 : 1), ValueError, op, ": padding (", before, ", ", after,
           ") leaves nothing of a dimension of size ", n, " in ", shape);
  MD_CHECK(circular || n > 0, ValueError, op, ": cannot ", mode, "-pad a dimension of size 0 in ", shape);
  MD_CHECK(!reflect || (before < n && after < n), ValueError, op, ": padding (", before, ", ", after,
           ") must be smaller than the padded dimension (", n, ") of input ", shape);
  const int64_t low = std::max<int64_t>(-before, 0), kept = n - low - std::max<int64_t>(-after, 0);
  MD_CHECK(!circular || (before <= kept && after <= kept), ValueError, op, ": padding (", before, ", ", after,
           ") wraps around a dimension of size ", n, " more than once (input ", shape, ")");
  std::vector<int64_t> idx(static_cast<size_t>(out));
  for (int64_t j = 0; j < out; ++j) {
    const int64_t i = j - before;  // the position in the unpadded dim, maybe outside it
    if (replicate)
      idx[j] = std::min(std::max<int64_t>(i, 0), n - 1);
    else if (circular)
      idx[j] = low + (((i - low) % kept) + kept) % kept;
    else
      idx[j] = i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
  }
  return idx;
}

}  // namespace

Tensor pad_by_mode(const Tensor& t, const std::vector<int64_t>& pads, const std::string& mode, const std::string& op) {
  MD_CHECK(mode == "reflect" || mode == "replicate" || mode == "circular", ValueError, op,
           ": mode must be 'reflect', 'replicate' or 'circular', got '", mode, "'");
  MD_CHECK(pads.size() % 2 == 0 && static_cast<int64_t>(pads.size()) / 2 <= t.dim(), ValueError, op, ": padding ",
           shape_str(pads), " for an input of shape ", t.shape());
  std::vector<std::vector<int64_t>> positions;  // every dim checked against the input before any copy
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    const int64_t d = t.dim() - 1 - static_cast<int64_t>(i);
    positions.push_back(pad_positions(t.shape()[d], pads[2 * i], pads[2 * i + 1], mode, op, t.shape()));
  }
  Tensor out = t;
  for (size_t i = 0; i < positions.size(); ++i) {
    const std::vector<int64_t>& idx = positions[i];
    bool identity = static_cast<int64_t>(idx.size()) == t.shape()[t.dim() - 1 - static_cast<int64_t>(i)];
    for (size_t j = 0; identity && j < idx.size(); ++j) identity = idx[j] == static_cast<int64_t>(j);
    if (identity) continue;
    const Tensor index = from_host(idx.data(), {static_cast<int64_t>(idx.size())}, DType::Int64, t.device());
    out = index_select(out, t.dim() - 1 - static_cast<int64_t>(i), index);
  }
  return out.impl() == t.impl() ? clone(t) : out;  // no padding: a new tensor all the same, as torch's
}

Tensor pad(const Tensor& t, const std::vector<int64_t>& pads, double value) {
  MD_PROFILE("pad");
  MD_CHECK(pads.size() % 2 == 0, ValueError, "pad: padding length must be even, got ", pads.size());
  const int64_t np = static_cast<int64_t>(pads.size()) / 2;
  MD_CHECK(np <= t.dim(), ValueError, "pad: ", np, " padded dims for an input of shape ", t.shape());
  Shape out_shape = t.shape();
  // The copied box: in input coordinates [in_lo, in_lo + len), in output coordinates [out_lo, ...).
  Shape in_lo(t.dim(), 0), out_lo(t.dim(), 0), len = t.shape();
  for (int64_t i = 0; i < np; ++i) {
    const int64_t d = t.dim() - 1 - i;
    const int64_t before = pads[2 * i], after = pads[2 * i + 1];
    out_shape[d] = t.shape()[d] + before + after;
    MD_CHECK(out_shape[d] >= 0, ValueError, "pad: padding ", shape_str(pads), " gives a negative size for input ",
             t.shape());
    // as in torch: the crops (negative amounts) may not remove more than the dim holds, even
    // where the other side's padding would make the total size non-negative
    MD_CHECK(t.shape()[d] + std::min<int64_t>(before, 0) + std::min<int64_t>(after, 0) >= 0, ValueError,
             "pad: padding ", shape_str(pads), " crops more than dim ", d, " of input ", t.shape(), " holds");
    in_lo[d] = std::max<int64_t>(0, -before);
    out_lo[d] = std::max<int64_t>(0, before);
    len[d] = std::max<int64_t>(0, std::min(t.shape()[d] - in_lo[d], out_shape[d] - out_lo[d]));
  }
  Tensor out = full(out_shape, value, t.dtype(), t.device());
  auto box = [&](const Tensor& base, const Shape& lo) {
    int64_t off = base.offset();
    for (int64_t d = 0; d < base.dim(); ++d) off += lo[d] * base.strides()[d];
    return Tensor::view_of(base.storage(), len, base.strides(), off, base.dtype());
  };
  if (shape_numel(len) > 0) copy_elements(box(out, out_lo), box(t, in_lo));
  if (any_requires_grad({&t})) {
    const Shape in_shape = t.shape();
    record("pad", out, {t}, [in_shape, in_lo, out_lo, len](const Tensor& g, const GradMask&) {
      Tensor gc = contiguous(g);
      Tensor gi = zeros(in_shape, g.dtype(), g.device());
      if (shape_numel(len) == 0) return std::vector<Tensor>{gi};
      auto region = [&](const Tensor& base, const Shape& lo) {
        int64_t off = base.offset();
        for (int64_t d = 0; d < base.dim(); ++d) off += lo[d] * base.strides()[d];
        return Tensor::view_of(base.storage(), len, base.strides(), off, base.dtype());
      };
      copy_elements(region(gi, in_lo), region(gc, out_lo));
      return std::vector<Tensor>{gi};
    });
  }
  return out;
}

}  // namespace md
