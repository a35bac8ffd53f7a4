// Tensor handles: construction, geometry queries and the autograd entry points.
#include "core/tensor.h"

#include "core/autograd.h"

namespace md {

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  const int64_t n = shape_numel(shape);
  const size_t esize = dtype_size(dtype);
  if (n > static_cast<int64_t>(SIZE_MAX / esize / 2))
    throw OutOfMemoryError(str("cannot allocate a tensor of shape ", shape, ": too many bytes"));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = allocate_storage(static_cast<size_t>(n) * esize, device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::view_of(const std::shared_ptr<Storage>& storage, const Shape& shape, const Shape& strides,
                       int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t d) const {
  MD_CHECK(dim() > 0, IndexError, "size: dimension ", d, " requested of a 0-d tensor");
  return impl_->shape[wrap_dim(d, dim(), "size")];
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : impl_->shape) n *= d;
  return n;
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element is out of place
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    const int64_t s = impl_->shape[i];
    if (s == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= s;
  }
  return true;
}

void* Tensor::raw() const {
  return static_cast<char*>(impl_->storage->data) + impl_->offset * static_cast<int64_t>(dtype_size(dtype()));
}

float* Tensor::f32() const {
  MD_CHECK(dtype() == DType::Float32, TypeError, "expected a float32 tensor, got ", dtype_name(dtype()));
  return static_cast<float*>(raw());
}

int64_t* Tensor::i64() const {
  MD_CHECK(dtype() == DType::Int64, TypeError, "expected an int64 tensor, got ", dtype_name(dtype()));
  return static_cast<int64_t*>(raw());
}

void Tensor::set_requires_grad(bool r) {
  MD_CHECK(!r || dtype() == DType::Float32 || dtype() == DType::BFloat16 || dtype() == DType::Float16, TypeError,
           "requires_grad: only floating tensors (float32, bfloat16, float16) can require gradients, got ",
           dtype_name(dtype()));
  MD_CHECK(is_leaf() || r, RuntimeError,
           "requires_grad: cannot switch off requires_grad of a non-leaf tensor; use detach()");
  impl_->requires_grad = r;
}

void Tensor::set_grad(const Tensor& g) {
  if (g.defined()) {
    MD_CHECK(g.shape() == shape(), ValueError, "grad: assigned gradient of shape ", g.shape(), " to a tensor of shape ",
             shape());
    MD_CHECK(g.dtype() == dtype(), TypeError, "grad: assigned gradient of dtype ", dtype_name(g.dtype()),
             " to a tensor of dtype ", dtype_name(dtype()));
    MD_CHECK(g.device() == device(), ValueError, "grad: assigned gradient on ", g.device().str(), " to a tensor on ",
             device().str());
  }
  impl_->grad = g.impl_ptr();
}

bool TensorImpl::has_live_views() const {
  for (const auto& v : views)
    if (!v.expired()) return true;
  return false;
}

bool TensorImpl::shares_storage() const {
  if (has_live_views()) return true;
  const auto base = alias_of.lock();
  return base && base->storage == storage;
}

Tensor Tensor::view(const Shape& shape, const Shape& strides, int64_t offset) const {
  Tensor v = view_of(impl_->storage, shape, strides, offset, impl_->dtype);
  v.impl_->version = impl_->version;
  return v;
}

Tensor Tensor::detach() const { return view(impl_->shape, impl_->strides, impl_->offset); }

void Tensor::backward(const Tensor& gradient, bool retain_graph) const { run_backward(*this, gradient, retain_graph); }

}  // namespace md
