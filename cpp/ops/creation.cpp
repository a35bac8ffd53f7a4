// Creation, host transfer, copies between layouts, devices and dtypes, and the in-place helpers
// that optimisers and initialisers use outside autograd.
#include <algorithm>
#include <cmath>
#include <optional>

#include "core/profiler.h"
#include "kernels.h"
#include "ops/ops.h"
#include "ops/plan.h"

namespace md {

// ---- checks shared by all op files

void check_float(const char* op, const Tensor& t, const char* what) {
  MD_CHECK(t.defined(), ValueError, op, ": ", what, " is missing");
  MD_CHECK(t.dtype() == DType::Float32, TypeError, op, ": ", what, " must be float32, got ", dtype_name(t.dtype()),
           " of shape ", t.shape());
}

bool is_low_float(const Tensor& t) {
  return t.defined() && (t.dtype() == DType::BFloat16 || t.dtype() == DType::Float16);
}
Tensor f32_of(const Tensor& t) { return is_low_float(t) ? to_dtype(t, DType::Float32) : t; }
bool is_narrow_int(const Tensor& t) { return t.defined() && is_narrow_int(t.dtype()); }
Tensor i64_of(const Tensor& t) { return is_narrow_int(t) ? to_dtype(t, DType::Int64) : t; }
bool is_narrow(const Tensor& t) { return is_low_float(t) || is_narrow_int(t); }
Tensor wide_of(const Tensor& t) { return is_low_float(t) ? f32_of(t) : i64_of(t); }
Tensor back_to(const Tensor& r, DType low) {
  if (!r.defined() || r.dtype() == low) return r;
  if (r.dtype() == DType::Float32 && (low == DType::BFloat16 || low == DType::Float16)) return to_dtype(r, low);
  return r.dtype() == DType::Int64 && is_narrow_int(low) ? to_dtype(r, low) : r;
}

namespace {
int kind_of(DType d) { return d == DType::Bool ? 0 : is_integer(d) ? 1 : 2; }
}  // namespace

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if (kind_of(a) != kind_of(b)) return kind_of(a) > kind_of(b) ? a : b;
  if (kind_of(a) == 2) return DType::Float32;  // float32 with a 16-bit float, or the two 16-bit floats
  // two integers: the wider; uint8 with int8 is int16
  if ((a == DType::UInt8 && b == DType::Int8) || (a == DType::Int8 && b == DType::UInt8)) return DType::Int16;
  return dtype_size(a) >= dtype_size(b) ? a : b;
}

DType result_dtype(const Tensor& a, const Tensor& b) {
  if (!b.defined()) return a.dtype();
  if (!a.defined()) return b.dtype();
  if ((a.dim() > 0) == (b.dim() > 0)) return promote_types(a.dtype(), b.dtype());
  // torch's categories: a 0-d tensor decides only where it is of a higher kind than the one with dims
  const DType dims = a.dim() > 0 ? a.dtype() : b.dtype(), zero = a.dim() > 0 ? b.dtype() : a.dtype();
  return kind_of(zero) > kind_of(dims) ? promote_types(dims, zero) : dims;
}

DType low_result(const Tensor& a, const Tensor& b) { return result_dtype(a, b); }

std::optional<DType> all_low(const char* op, std::initializer_list<const Tensor*> ts) {
  std::optional<DType> low;
  bool f32 = false;
  for (const Tensor* t : ts) {
    if (is_low_float(*t)) {
      MD_CHECK(!low || *low == t->dtype(), TypeError, op, ": expected the operands to have one dtype, got ",
               dtype_name(*low), " and ", dtype_name(t->dtype()));
      low = t->dtype();
    }
    f32 = f32 || (t->defined() && t->dtype() == DType::Float32);
  }
  MD_CHECK(!(low && f32), TypeError, op, ": expected the operands to have one dtype, got ", dtype_name(*low),
           " and float32");
  return low;
}

void check_same_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t || !t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    MD_CHECK(t->device() == first->device(), ValueError, op, ": expected all tensors on one device, got ",
             first->device().str(), " (shape ", first->shape(), ") and ", t->device().str(), " (shape ", t->shape(),
             ")");
  }
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  MD_CHECK(n <= static_cast<size_t>(kMaxDims), ValueError, op, ": at most ", kMaxDims,
           " dimensions are supported, got ", a, " and ", b);
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    MD_CHECK(da == db || da == 1 || db == 1, ValueError, op, ": shapes ", a, " and ", b,
             " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// ---- plans

namespace {
// shape's dims without the size-1 ones, dim i merged into i+1 where both operands (strides a and
// b, one per dim of shape) step through them as one dimension.
struct MergedDims {
  std::vector<int64_t> shape, a_strides, b_strides;
};
MergedDims merge_dims(const Shape& shape, const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  MergedDims m;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!m.shape.empty() && m.a_strides.back() == a[i] * shape[i] && m.b_strides.back() == b[i] * shape[i]) {
      m.shape.back() *= shape[i];
      m.a_strides.back() = a[i];
      m.b_strides.back() = b[i];
    } else {
      m.shape.push_back(shape[i]);
      m.a_strides.push_back(a[i]);
      m.b_strides.push_back(b[i]);
    }
  }
  return m;
}
}  // namespace

BroadcastPlan make_broadcast_plan(const Shape& out, const Shape& a_shape, const Shape& a_strides, const Shape& b_shape,
                                  const Shape& b_strides) {
  // Align to out's rank; broadcast dims get stride 0.
  const int n = static_cast<int>(out.size());
  std::vector<int64_t> sa(n, 0), sb(n, 0);
  for (int i = 0; i < n; ++i) {
    const int ia = i - (n - static_cast<int>(a_shape.size()));
    const int ib = i - (n - static_cast<int>(b_shape.size()));
    if (ia >= 0 && a_shape[ia] != 1) sa[i] = a_strides[ia];
    if (ib >= 0 && b_shape[ib] != 1) sb[i] = b_strides[ib];
  }
  const MergedDims m = merge_dims(out, sa, sb);
  MD_CHECK(m.shape.size() <= static_cast<size_t>(kMaxDims), ValueError, "at most ", kMaxDims,
           " dimensions are supported (after merging), got shape ", out);
  BroadcastPlan p;
  p.numel = shape_numel(out);
  p.ndim = static_cast<int>(m.shape.size());
  for (int i = 0; i < p.ndim; ++i) {
    p.shape[i] = m.shape[i];
    p.a_strides[i] = m.a_strides[i];
    p.b_strides[i] = m.b_strides[i];
  }
  return p;
}

StridedCopy make_copy_plan(const Shape& shape, const Shape& dst_strides, const Shape& src_strides) {
  BroadcastPlan b = make_broadcast_plan(shape, shape, dst_strides, shape, src_strides);
  StridedCopy c;
  c.ndim = b.ndim;
  for (int i = 0; i < b.ndim; ++i) {
    c.shape[i] = b.shape[i];
    c.dst_strides[i] = b.a_strides[i];
    c.src_strides[i] = b.b_strides[i];
  }
  return c;
}

// Copies src's elements into dst (same shape, any layouts, same device and dtype).
void copy_elements(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  if (dst.dim() > kMaxDims && merge_dims(dst.shape(), dst.strides(), src.strides()).shape.size() > kMaxDims) {
    // more dims than the kernel takes: one copy per index of the first dim
    const Shape shape(dst.shape().begin() + 1, dst.shape().end());
    const Shape ds(dst.strides().begin() + 1, dst.strides().end()), ss(src.strides().begin() + 1, src.strides().end());
    for (int64_t i = 0; i < dst.shape()[0]; ++i)
      copy_elements(dst.view(shape, ds, dst.offset() + i * dst.strides()[0]),
                    src.view(shape, ss, src.offset() + i * src.strides()[0]));
    return;
  }
  StridedCopy plan = make_copy_plan(dst.shape(), dst.strides(), src.strides());
  MD_DISPATCH(dst.device(), copy_strided, dst.raw(), src.raw(), dtype_size(dst.dtype()), plan);
}

// ---- creation

Tensor empty(const Shape& shape, DType dtype, Device device) { return Tensor::empty(shape, dtype, device); }

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  fill_(t, value);
  return t;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  MD_CHECK(step != 0 && std::isfinite(step) && std::isfinite(start) && std::isfinite(end), ValueError,
           "arange: step must be non-zero and bounds finite, got start=", start, " end=", end, " step=", step);
  const double count = std::ceil((end - start) / step);
  MD_CHECK(count < 1e12, ValueError, "arange: too many elements (", count, ")");
  const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(count));
  if (dtype == DType::Int64) {
    std::vector<int64_t> host(n);
    for (int64_t i = 0; i < n; ++i) host[i] = static_cast<int64_t>(start + i * step);
    return from_host(host.data(), {n}, DType::Int64, device);
  }
  MD_CHECK(dtype == DType::Float32, TypeError, "arange: dtype must be float32 or int64");
  std::vector<float> host(n);
  for (int64_t i = 0; i < n; ++i) host[i] = static_cast<float>(start + i * step);
  return from_host(host.data(), {n}, DType::Float32, device);
}

Tensor randn(const Shape& shape, Generator* gen, Device device) {
  Tensor t = Tensor::empty(shape, DType::Float32, device);
  normal_(t, 0.0f, 1.0f, gen);
  return t;
}

Tensor rand(const Shape& shape, Generator* gen, Device device) {
  Tensor t = Tensor::empty(shape, DType::Float32, device);
  uniform_(t, 0.0f, 1.0f, gen);
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen, Device device) {
  MD_CHECK(high > low, ValueError, "randint: high (", high, ") must be greater than low (", low, ")");
  // (the difference in uint64: high - low overflows int64 for bounds near its ends)
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  MD_CHECK(range <= (uint64_t(1) << 32), ValueError, "randint: the range [", low, ", ", high, ") holds ", range,
           " values, more than 2^32");
  Tensor t = Tensor::empty(shape, DType::Int64, device);
  Generator& g = gen ? *gen : default_generator();
  const uint64_t offset = g.take(t.numel());
  if (t.numel()) MD_DISPATCH(device, philox_randint, t.i64(), t.numel(), low, high, g.seed(), offset);
  return t;
}

Tensor from_host(const void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  if (t.numel()) MD_DISPATCH(device, copy_from_host, t.raw(), data, t.nbytes());
  return t;
}

void to_host(const Tensor& t, void* dst) {
  Tensor c = t.is_contiguous() ? t : contiguous(t.detach());
  if (c.numel()) MD_DISPATCH(c.device(), copy_to_host, dst, c.raw(), c.nbytes());
}

// ---- copies

Tensor contiguous(const Tensor& t) {
  if (t.is_contiguous()) return t;
  MD_PROFILE("contiguous");
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  copy_elements(out, t);
  if (any_requires_grad({&t}))
    record("contiguous", out, {t}, [](const Tensor& g, const GradMask&) { return std::vector<Tensor>{g}; });
  return out;
}

bool is_dense(const Tensor& t) {
  if (t.numel() == 0) return true;  // (it lays out nothing)
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.shape()[d] != 1) dims.push_back(d);
  std::sort(dims.begin(), dims.end(), [&](int64_t a, int64_t b) { return t.strides()[a] < t.strides()[b]; });
  int64_t expected = 1;
  for (int64_t d : dims) {
    if (t.strides()[d] != expected) return false;
    expected *= t.shape()[d];
  }
  return true;
}

Tensor clone(const Tensor& t, bool keep_strides) {
  MD_PROFILE("clone");
  Tensor out;
  if (keep_strides && !t.is_contiguous() && t.numel() > 0 && is_dense(t)) {
    const Tensor flat = Tensor::empty({t.numel()}, t.dtype(), t.device());
    out = Tensor::view_of(flat.storage(), t.shape(), t.strides(), 0, t.dtype());
  } else {
    out = Tensor::empty(t.shape(), t.dtype(), t.device());
  }
  copy_elements(out, t);
  if (any_requires_grad({&t}))
    record("clone", out, {t}, [](const Tensor& g, const GradMask&) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor to_device(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  MD_PROFILE("to");
  Tensor src = t.is_contiguous() ? t.detach() : contiguous(t.detach());
  Tensor out = Tensor::empty(t.shape(), t.dtype(), device);
  if (out.numel()) {
    if (src.device().is_cpu()) {
      MD_DISPATCH(device, copy_from_host, out.raw(), src.raw(), out.nbytes());
    } else if (device.is_cpu()) {
      MD_DISPATCH(src.device(), copy_to_host, out.raw(), src.raw(), out.nbytes());
    } else {
      throw ValueError(str("to: copies between two CUDA devices are not supported (", src.device().str(), " to ",
                           device.str(), ")"));
    }
  }
  if (any_requires_grad({&t})) {
    const Device from = t.device();
    record("to", out, {t},
           [from](const Tensor& g, const GradMask&) { return std::vector<Tensor>{to_device(g, from)}; });
  }
  return out;
}

Tensor to_dtype(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  const auto floating = [](DType d) { return d == DType::Float32 || d == DType::BFloat16 || d == DType::Float16; };
  // int64 and the 16-bit floats, and the two 16-bit floats, have no kernels between them. Through
  // float32 these are exact but for one rounding (float16 and bfloat16 values and |ints| < 2^24 are
  // float32 values; larger ints overflow float16 anyway).
  const auto int_or_low = [](DType d) { return d == DType::Int64 || d == DType::BFloat16 || d == DType::Float16; };
  if (int_or_low(t.dtype()) && int_or_low(dtype)) return to_dtype(to_dtype(t, DType::Float32), dtype);
  // a narrow integer and a float convert through int64 (exact from the integer; a float is
  // truncated toward zero into int64, then wraps into the narrow type)
  if ((is_narrow_int(t.dtype()) && !is_integer(dtype) && dtype != DType::Bool) ||
      (is_narrow_int(dtype) && !is_integer(t.dtype()) && t.dtype() != DType::Bool))
    return to_dtype(to_dtype(t, DType::Int64), dtype);
  MD_PROFILE("to_dtype");
  Tensor src = t.is_contiguous() ? t.detach() : contiguous(t.detach());
  Tensor out = Tensor::empty(t.shape(), dtype, t.device());
  if (out.numel()) MD_DISPATCH(t.device(), cast, out.raw(), dtype, src.raw(), t.dtype(), out.numel());
  // differentiable between the floating types (the gradient is cast back, rounding through the
  // 16-bit dtype as in torch); an integer result has no gradient
  if (floating(dtype) && floating(t.dtype()) && any_requires_grad({&t})) {
    const DType from = t.dtype();
    record("to_dtype", out, {t},
           [from](const Tensor& g, const GradMask&) { return std::vector<Tensor>{to_dtype(g, from)}; });
  }
  return out;
}

// ---- in-place helpers

namespace {
void check_inplace(const char* op, const Tensor& t) {
  MD_CHECK(t.defined(), ValueError, op, ": tensor is undefined");
  MD_CHECK(!(grad_enabled() && t.requires_grad()), RuntimeError, op,
           ": in-place change of a tensor that requires grad; wrap it in no_grad()");
}

// Every in-place op calls this once its checks have passed, before it writes (see TensorImpl::version).
void mark_changed(const Tensor& t) { ++*t.impl()->version; }

// The last step of every in-place write of a whole tensor's values (copy_, the in-place
// arithmetic, fills of non-contiguous views): src (same shape, dtype and device as t) into t's
// elements. A view that repeats elements (an expanded one, not empty) cannot take one value per element; a
// source sharing t's bytes (x.copy_(x.T), y[1:] = y[:-1]) is read before any of them is written.
void store_into(const char* op, const Tensor& t, const Tensor& src) {
  for (int64_t d = 0; d < t.dim() && t.numel() > 0; ++d)  // (an empty view repeats nothing)
    MD_CHECK(t.strides()[d] != 0 || t.shape()[d] <= 1, ValueError, op,
             ": the destination repeats elements (stride 0 along dimension ", d, " of shape ", t.shape(),
             ": an expanded view); write into a tensor that owns its elements");
  const Tensor s = src.storage() == t.storage() ? clone(src.detach()) : src;
  mark_changed(t);
  copy_elements(t, s);
}
}  // namespace

void copy_(Tensor& dst, const Tensor& src) {
  check_inplace("copy_", dst);
  MD_CHECK(dst.shape() == src.shape(), ValueError, "copy_: destination shape ", dst.shape(),
           " differs from source shape ", src.shape());
  Tensor s = src.dtype() == dst.dtype() ? src : to_dtype(src.detach(), dst.dtype());
  if (s.device() != dst.device()) s = to_device(s.detach(), dst.device());
  store_into("copy_", dst, s);
}

namespace {

// An in-place op on a non-contiguous tensor (a column, a transposed view) runs on a contiguous
// temporary whose values are then copied into t's elements; false (nothing done) when t is
// contiguous.
template <typename Op>
bool through_contiguous(const char* op, Tensor& t, Op fn) {
  if (t.is_contiguous()) return false;
  Tensor tmp = Tensor::empty(t.shape(), t.dtype(), t.device());
  fn(tmp);
  store_into(op, t, tmp);
  return true;
}

}  // namespace

void write_result_(const char* op, Tensor& t, const Tensor& result) {
  check_inplace(op, t);
  MD_CHECK(!(grad_enabled() && result.requires_grad()), RuntimeError, op,
           ": an operand requires grad, and in-place ops are not recorded for autograd; use the out-of-place op");
  MD_CHECK(result.shape() == t.shape(), ValueError, op, ": the result has shape ", result.shape(),
           " (broadcast), but the tensor written in place has shape ", t.shape());
  MD_CHECK(result.dtype() == t.dtype() && result.device() == t.device(), TypeError, op, ": the result is ",
           dtype_name(result.dtype()), " on ", result.device().str(), ", the tensor written in place ",
           dtype_name(t.dtype()), " on ", t.device().str());
  store_into(op, t, result);
}

void adopt_(Tensor& t, const Tensor& src) {
  TensorImpl* dst = t.impl();
  const TensorImpl* from = src.impl();
  dst->storage = from->storage;
  dst->shape = from->shape;
  dst->strides = from->strides;
  dst->offset = from->offset;
  dst->dtype = from->dtype;
  dst->grad_fn = from->grad_fn;
  dst->requires_grad = from->requires_grad;
  dst->version = from->version;
  dst->view_base = nullptr;  // (src is no view: rebase_ passes own_result's, StandInCopy a clone)
}

Tensor overwriting(const Tensor& t, const Tensor& value) {
  if (!t.requires_grad()) return value;
  return where(zeros(t.shape(), t.dtype(), t.device()), t, value);
}

void rebase_(const char* op, Tensor& t, const Tensor& result) {
  MD_CHECK(t.defined(), ValueError, op, ": tensor is undefined");
  MD_CHECK(!(t.requires_grad() && t.is_leaf()), RuntimeError, op,
           ": a leaf tensor that requires grad cannot change in place; wrap the update in no_grad()");
  MD_CHECK(result.shape() == t.shape(), ValueError, op, ": the result has shape ", result.shape(),
           " (broadcast), but the tensor changed in place has shape ", t.shape());
  if (t.impl()->view_base) {
    copy_slices_(op, t, result);
    return;
  }
  if (t.impl()->shares_storage()) {
    // its views (or the tensors it aliases) must see the change, as torch's: the values go into
    // t's storage, and t takes result's history, which its views take up when next used
    {
      NoGradGuard no_grad;
      write_result_(op, t, result);
    }
    const std::shared_ptr<Node> old = t.grad_fn();
    t.impl()->grad_fn = result.grad_fn();
    t.impl()->requires_grad = result.requires_grad();
    ++t.impl()->generation;
    keep_retained(t, old);
    return;
  }
  // the saved copies of t that nodes hold are separate handles of the old storage, so they keep
  // the values their backward needs
  const std::shared_ptr<Node> old = t.grad_fn();
  // (a result that views the op's own temporary is no view: t does not become one)
  const Tensor r = own_result(result);
  const bool same_layout =
      t.numel() == 0 || !t.storage() || !r.storage() ||
      (r.strides() == t.strides() && r.offset() == t.offset() && r.storage()->nbytes == t.storage()->nbytes);
  Tensor kept_layout;  // t's layout when r's differs: a copy of t's storage with r over t's elements
  if (!same_layout) {
    NoGradGuard no_grad;
    const int64_t slots = static_cast<int64_t>(t.storage()->nbytes / dtype_size(t.dtype()));
    const auto storage = allocate_storage(t.storage()->nbytes, t.device());
    Tensor to_all = Tensor::view_of(storage, {slots}, {1}, 0, t.dtype());
    copy_elements(to_all, Tensor::view_of(t.storage(), {slots}, {1}, 0, t.dtype()));
    kept_layout = Tensor::view_of(storage, t.shape(), t.strides(), t.offset(), t.dtype());
    copy_elements(kept_layout, r);
  }
  adopt_(t, r);                 // the saved copies of the old value keep the old counter
  if (kept_layout.defined()) {  // t keeps its strides (and what as_strided reads), as torch's in-place ops
    t.impl()->storage = kept_layout.impl()->storage;
    t.impl()->strides = kept_layout.strides();
    t.impl()->offset = kept_layout.offset();
  }
  keep_retained(t, old);
}

void check_fill_value(const char* op, double value, DType dtype) {
  if (is_narrow_int(dtype)) {  // torch's range: the signed type's, and for uint8 [-255, 255] (-1 wraps to 255)
    const double hi = dtype == DType::UInt8   ? 255
                      : dtype == DType::Int8  ? 127
                      : dtype == DType::Int16 ? 32767
                                              : 0x1p31 - 1;
    const double lo = dtype == DType::UInt8 ? -255 : -hi - 1;
    MD_CHECK(value >= lo && value < hi + 1, ValueError, op, ": the value ", value, " cannot be converted to ",
             dtype_name(dtype), " without overflow");
    return;
  }
  const double largest = dtype == DType::Float16    ? 65504.0
                         : dtype == DType::BFloat16 ? 0x1.fep127
                         : dtype == DType::Float32  ? 0x1.fffffep127
                                                    : HUGE_VAL;
  MD_CHECK(!(std::isfinite(value) && std::fabs(value) > largest), ValueError, op, ": the value ", value,
           " cannot be converted to ", dtype_name(dtype), " without overflow");
}

void fill_(Tensor& t, double value) {
  check_inplace("fill_", t);
  if (t.numel() == 0) return;
  if (through_contiguous("fill_", t, [&](Tensor& c) { fill_(c, value); })) return;
  MD_CHECK(t.dtype() != DType::Int64 || (value == value && value < 0x1p63 && value >= -0x1p63), ValueError,
           "fill_: the value ", value, " does not fit an int64 tensor (shape ", t.shape(), ")");
  if (t.dtype() == DType::Bool) value = value != 0.0 ? 1.0 : 0.0;  // (NaN too: true)
  mark_changed(t);
  if (t.dtype() == DType::Int64)
    MD_DISPATCH(t.device(), fill_i64, t.i64(), static_cast<int64_t>(value), t.numel());
  else if (is_narrow_int(t.dtype())) {  // through int64, wrapping (check_fill_value bounds the user's values)
    check_fill_value("fill_", value, t.dtype());
    Tensor w = Tensor::empty(t.shape(), DType::Int64, t.device());
    MD_DISPATCH(t.device(), fill_i64, w.i64(), static_cast<int64_t>(value), w.numel());
    MD_DISPATCH(t.device(), cast, t.raw(), t.dtype(), w.raw(), DType::Int64, t.numel());
  } else if (t.dtype() == DType::Float32)
    MD_DISPATCH(t.device(), fill_f32, t.f32(), static_cast<float>(value), t.numel());
  else if (t.dtype() == DType::BFloat16 || t.dtype() == DType::Float16 || t.dtype() == DType::Bool) {  // cast
    Tensor f = Tensor::empty(t.shape(), DType::Float32, t.device());
    MD_DISPATCH(t.device(), fill_f32, f.f32(), static_cast<float>(value), f.numel());
    MD_DISPATCH(t.device(), cast, t.raw(), t.dtype(), f.raw(), DType::Float32, t.numel());
  } else {
    throw TypeError(str("fill_: unsupported dtype ", dtype_name(t.dtype())));
  }
}

namespace {
// t (bfloat16 or float16, contiguous) takes fn(its float32 copy) as the in-place ops compute it,
// rounded once.
template <typename F>
void low_inplace(Tensor& t, F fn) {
  Tensor f = to_dtype(t.detach(), DType::Float32);
  fn(f);
  mark_changed(t);
  if (t.numel()) MD_DISPATCH(t.device(), cast, t.raw(), t.dtype(), f.raw(), DType::Float32, t.numel());
}
}  // namespace

void add_(Tensor& t, const Tensor& other, float alpha) {
  check_inplace("add_", t);
  if (is_low_float(t) || is_low_float(other)) {
    MD_CHECK(is_low_float(t), TypeError, "add_: a ", dtype_name(other.dtype()),
             " tensor cannot be added into a float32 one in place; convert it");
    MD_CHECK(t.is_contiguous(), ValueError, "add_: destination must be contiguous");
    return low_inplace(t, [&](Tensor& f) { add_(f, f32_of(other.detach()), alpha); });
  }
  check_float("add_", t);
  check_float("add_", other, "other");
  check_same_device("add_", {&t, &other});
  MD_CHECK(t.shape() == other.shape(), ValueError, "add_: shapes ", t.shape(), " and ", other.shape(), " differ");
  MD_CHECK(t.is_contiguous(), ValueError, "add_: destination must be contiguous");
  Tensor o = other.is_contiguous() ? other : contiguous(other.detach());
  mark_changed(t);
  if (t.numel()) MD_DISPATCH(t.device(), axpby, t.f32(), t.f32(), 1.0f, o.f32(), alpha, t.numel());
}

void mul_(Tensor& t, float s) {
  check_inplace("mul_", t);
  if (is_low_float(t)) {
    MD_CHECK(t.is_contiguous(), ValueError, "mul_: tensor must be contiguous");
    return low_inplace(t, [&](Tensor& f) { mul_(f, s); });
  }
  check_float("mul_", t);
  MD_CHECK(t.is_contiguous(), ValueError, "mul_: tensor must be contiguous");
  mark_changed(t);
  if (t.numel()) MD_DISPATCH(t.device(), scalar_forward, BinaryOp::Mul, t.f32(), t.f32(), s, false, t.numel());
}

void normal_(Tensor& t, float mean, float std, Generator* gen) {
  check_inplace("normal_", t);
  if (is_low_float(t)) {  // drawn in float32, rounded
    if (through_contiguous("normal_", t, [&](Tensor& c) { normal_(c, mean, std, gen); })) return;
    return low_inplace(t, [&](Tensor& f) { normal_(f, mean, std, gen); });
  }
  check_float("normal_", t);
  MD_CHECK(std >= 0.0f, ValueError, "normal_: std must be >= 0, got ", std);
  if (through_contiguous("normal_", t, [&](Tensor& c) { normal_(c, mean, std, gen); })) return;
  mark_changed(t);
  Generator& g = gen ? *gen : default_generator();
  const uint64_t offset = g.take(t.numel());
  if (!t.numel()) return;
  MD_DISPATCH(t.device(), philox_normal, t.f32(), t.numel(), g.seed(), offset);
  if (mean != 0.0f || std != 1.0f) {
    MD_DISPATCH(t.device(), scalar_forward, BinaryOp::Mul, t.f32(), t.f32(), std, false, t.numel());
    MD_DISPATCH(t.device(), scalar_forward, BinaryOp::Add, t.f32(), t.f32(), mean, false, t.numel());
  }
}

void uniform_(Tensor& t, float low, float high, Generator* gen) {
  check_inplace("uniform_", t);
  if (is_low_float(t)) {  // drawn in float32, rounded
    if (through_contiguous("uniform_", t, [&](Tensor& c) { uniform_(c, low, high, gen); })) return;
    return low_inplace(t, [&](Tensor& f) { uniform_(f, low, high, gen); });
  }
  check_float("uniform_", t);
  MD_CHECK(low <= high, ValueError, "uniform_: the range [", low, ", ", high, ") is empty (from > to)");
  if (through_contiguous("uniform_", t, [&](Tensor& c) { uniform_(c, low, high, gen); })) return;
  mark_changed(t);
  Generator& g = gen ? *gen : default_generator();
  const uint64_t offset = g.take(t.numel());
  if (!t.numel()) return;
  MD_DISPATCH(t.device(), philox_uniform, t.f32(), t.numel(), g.seed(), offset);
  if (low != 0.0f || high != 1.0f) {
    MD_DISPATCH(t.device(), scalar_forward, BinaryOp::Mul, t.f32(), t.f32(), high - low, false, t.numel());
    MD_DISPATCH(t.device(), scalar_forward, BinaryOp::Add, t.f32(), t.f32(), low, false, t.numel());
  }
}

namespace {
// A thread's own default generator, when set (the data loader's prefetch thread: random
// transforms in a dataset then draw from a stream seeded per batch, not from the training loop's).
thread_local Generator thread_generator;
thread_local bool thread_generator_set = false;
}  // namespace

Generator& default_generator() {
  if (thread_generator_set) return thread_generator;
  static Generator g(67280421310721ull);
  return g;
}

void set_thread_default_generator(std::optional<uint64_t> seed) {
  thread_generator_set = seed.has_value();
  if (seed) thread_generator.manual_seed(*seed);
}

}  // namespace md
