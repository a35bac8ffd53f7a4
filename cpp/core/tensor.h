// Tensor: a reference-counted handle to a TensorImpl (shape, strides, offset, dtype, autograd
// state) that views a reference-counted Storage (bytes on one device). Copying a Tensor copies
// the handle, so every handle of a parameter sees the same .grad and the same data.
#pragma once

#include <functional>
#include <memory>

#include "core/common.h"

namespace md {

// Bytes on one device. Freed through the allocator that made them when the last view dies.
struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  std::function<void(void*)> deleter;

  Storage(void* d, size_t n, Device dev, std::function<void(void*)> del)
      : data(d), nbytes(n), device(dev), deleter(std::move(del)) {}
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (deleter && data) deleter(data);
  }
};

// Allocates nbytes on device (CPU: 64-byte aligned; CUDA: caching allocator).
// Throws OutOfMemoryError naming the size when the request cannot be met.
std::shared_ptr<Storage> allocate_storage(size_t nbytes, Device device);

class Node;
struct GradHookList;
class Tensor;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  // Bumped by every in-place change of the tensor or a view of it (views and detached handles
  // share the counter; a new tensor, or an optimiser's arena slot, gets its own), so a backward
  // can tell that a tensor it saved was changed after the forward (see Node).
  std::shared_ptr<uint64_t> version = std::make_shared<uint64_t>(0);

  // autograd
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;     // null for leaves
  std::shared_ptr<TensorImpl> grad;  // accumulated by backward on leaves
  // Where an optimiser keeps this leaf's gradient (its slot in a flat arena): a backward that
  // finds .grad None writes the gradient there instead of allocating one.
  std::shared_ptr<TensorImpl> grad_home;
  bool is_param = false;  // registered as a Module parameter
  // A leaf's Tensor.register_hook functions (a non-leaf's are on its grad_fn); null when none.
  std::shared_ptr<GradHookList> grad_hooks;
  // Views (what view ops return): the tensor viewed, never itself a view, and its generation when
  // this view took its history. An in-place change through a view inside the autograd graph gives
  // the base a new history and bumps its generation; the base's other views then refresh theirs
  // when next used (refresh_view), as torch's views do.
  std::shared_ptr<TensorImpl> view_base;
  uint64_t base_generation = 0;
  uint64_t generation = 0;
  // On a base: its views (weak; the expired ones are dropped as the list grows). An in-place
  // change of a base with live views inside the graph writes into its storage, so they see it.
  std::vector<std::weak_ptr<TensorImpl>> views;
  size_t views_pruned_at = 16;
  // On what Tensor.detach() returns: the tensor it aliases (the root base).
  std::weak_ptr<TensorImpl> alias_of;
  bool has_live_views() const;
  // Live views, or a live tensor this one aliases with the same storage: an in-place change
  // inside the graph must write into the storage, where they see it.
  bool shares_storage() const;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- construction
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = {});
  // A view of storage with explicit geometry; no copy.
  static Tensor view_of(const std::shared_ptr<Storage>& storage, const Shape& shape, const Shape& strides,
                        int64_t offset, DType dtype);
  // A view of this tensor's storage that shares its version counter (what a view op returns).
  Tensor view(const Shape& shape, const Shape& strides, int64_t offset) const;

  // ---- geometry
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t offset() const { return impl_->offset; }
  int64_t dim() const { return static_cast<int64_t>(impl_->shape.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const;
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device; }
  bool is_contiguous() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }

  // ---- data (pointer to the first element of this view)
  void* raw() const;
  float* f32() const;    // throws TypeError unless float32
  int64_t* i64() const;  // throws TypeError unless int64
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }

  // ---- autograd
  bool requires_grad() const { return impl_->requires_grad; }
  void set_requires_grad(bool r);
  Tensor grad() const { return Tensor(impl_->grad); }
  void set_grad(const Tensor& g);
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  // Same storage, no autograd history.
  Tensor detach() const;
  // Reverse-mode pass from this tensor; gradient defaults to 1 for a one-element tensor.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace md
