// A flat arena for a list of parameters: their values (and their gradients, in a second arena)
// are re-homed into one contiguous buffer each, so that an optimiser, gradient clipping or an EMA
// update is one fused pass (one kernel) over all of them. Each parameter keeps its TensorImpl; only
// its storage changes to a view of the arena, so the model sees the same tensors.
#pragma once

#include <vector>

#include "ops/ops.h"

namespace md::optim {

constexpr int64_t kArenaAlign = 16;  // elements; every parameter starts 64-byte aligned

class ParamArena {
 public:
  // With own_grads, .grad of every parameter becomes a (zeroed) view of the gradient arena.
  ParamArena(std::vector<Tensor> params, bool own_grads);

  const std::vector<Tensor>& params() const { return params_; }
  const std::vector<int64_t>& offsets() const { return offsets_; }
  int64_t size() const { return size_; }  // elements, padding included (padding stays zero)
  Device device() const { return device_; }
  const Tensor& values() const { return values_; }
  const Tensor& grads() const { return grads_; }
  // Throws RuntimeError when a parameter no longer lives in this arena (moved by to(), or
  // re-homed by another optimiser).
  void check_intact(const char* who) const;
  // check_intact, then each parameter's gradient as the optimiser uses it: undefined where .grad is
  // None (zero_grad(set_to_none=True), a frozen or unused parameter: skipped, as torch skips it);
  // else its slot in the gradient arena, where an assigned or new gradient is copied first unless
  // a tensor the user holds still views the slot (then a contiguous copy of the gradient itself).
  std::vector<Tensor> adopt_grads(const char* who);
  // Whether grads[i] (from adopt_grads) is parameter i's slot in the gradient arena.
  bool at_home(const std::vector<Tensor>& grads, size_t i) const;
  // Sets every gradient to None (set_to_none) or to a zeroed view of the gradient arena.
  void zero_grads(bool set_to_none);
  // Elements from parameter i's slot to the end of parameter j's (padding included).
  int64_t span(size_t i, size_t j) const;
  // A zeroed arena of the same layout (optimiser moments, EMA shadows).
  Tensor make_like() const;
  // The slice of a same-layout arena that belongs to parameter i, shaped like it.
  Tensor slot(const Tensor& arena, size_t i) const;

 private:
  std::vector<Tensor> params_;
  std::vector<int64_t> offsets_;
  int64_t size_ = 0;
  Device device_;
  Tensor values_, grads_;
};

// A run of float32 elements in one storage.
struct Span {
  float* data;
  int64_t n;
  int64_t offset;  // of data within its storage, in elements
};
// When ts tile one storage in arena order (each starting where the previous one's aligned slot
// ends; the padding between them is zero), the single span covering them all, so one kernel
// serves the whole list; else an empty vector.
std::vector<Span> tiled_span(const std::vector<Tensor>& ts);
// Parameters' gradients as spans: the tiled span when there is one, else one span per gradient.
std::vector<Span> grad_spans(const std::vector<Tensor>& params);

}  // namespace md::optim
