// Flat parameter/gradient arenas and the span view that lets clipping run in one pass.
#include "optim/arena.h"

#include <algorithm>

#include "kernels.h"

namespace md::optim {

namespace {
int64_t round_up(int64_t n) { return (n + kArenaAlign - 1) / kArenaAlign * kArenaAlign; }
}  // namespace

ParamArena::ParamArena(std::vector<Tensor> params, bool own_grads) : params_(std::move(params)) {
  MD_CHECK(!params_.empty(), ValueError, "optimizer got an empty parameter list");
  device_ = params_[0].device();
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    MD_CHECK(p.defined() && p.dtype() == DType::Float32, TypeError, "optimizer: parameter ", i,
             " must be a float32 tensor");
    MD_CHECK(p.is_leaf(), ValueError, "optimizer: parameter ", i, " of shape ", p.shape(),
             " is not a leaf tensor (it was computed from other tensors)");
    MD_CHECK(p.device() == device_, ValueError, "optimizer: parameters are on ", device_.str(), " and ",
             p.device().str(), "; move the model first");
    for (size_t j = 0; j < i; ++j)
      MD_CHECK(!params_[j].same(p), ValueError, "optimizer: parameter ", i, " appears more than once");
    offsets_.push_back(size_);
    size_ += round_up(p.numel());
  }
  NoGradGuard no_grad;
  values_ = zeros({size_}, DType::Float32, device_);
  if (own_grads) grads_ = zeros({size_}, DType::Float32, device_);
  for (size_t i = 0; i < params_.size(); ++i) {
    TensorImpl* impl = params_[i].impl();
    Tensor dst = slot(values_, i);
    copy_(dst, params_[i].detach());
    impl->storage = values_.storage();
    impl->offset = offsets_[i];
    impl->strides = contiguous_strides(impl->shape);
    if (own_grads) {
      Tensor g = slot(grads_, i);
      if (impl->grad) {  // a gradient the parameter has keeps its value; None stays None
        copy_(g, Tensor(impl->grad));
        impl->grad = g.impl_ptr();
      }
      impl->grad_home = g.impl_ptr();
    }
  }
}

Tensor ParamArena::make_like() const { return zeros({size_}, DType::Float32, device_); }

Tensor ParamArena::slot(const Tensor& arena, size_t i) const {
  const Shape& s = params_[i].shape();
  return Tensor::view_of(arena.storage(), s, contiguous_strides(s), arena.offset() + offsets_[i], DType::Float32);
}

void ParamArena::check_intact(const char* who) const {
  for (size_t i = 0; i < params_.size(); ++i) {
    const TensorImpl* impl = params_[i].impl();
    MD_CHECK(impl->storage == values_.storage() && impl->offset == offsets_[i], RuntimeError, who, ": parameter ", i,
             " of shape ", impl->shape,
             " no longer lives in this optimizer's arena (was the model moved with to(), or its parameters given to "
             "another optimizer after this one was created?)");
  }
}

std::vector<Tensor> ParamArena::adopt_grads(const char* who) {
  check_intact(who);
  std::vector<Tensor> out(params_.size());
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    TensorImpl* impl = params_[i].impl();
    if (!impl->grad) continue;  // skipped, as torch skips it
    Tensor g(impl->grad);
    MD_CHECK(g.shape() == impl->shape && g.dtype() == DType::Float32 && g.device() == device_, RuntimeError, who,
             ": parameter ", i, " of shape ", impl->shape, " has a gradient of shape ", g.shape(), " (",
             dtype_name(g.dtype()), " on ", g.device().str(), ")");
    if (!grads_.defined() || (impl->grad->storage == grads_.storage() &&
                              impl->grad->offset == grads_.offset() + offsets_[i] && g.is_contiguous())) {
      out[i] = g;
      continue;
    }
    // an assigned or freshly made gradient: moved into its slot, unless a tensor the user holds
    // still views the slot (an old p.grad, which keeps its values); then it is used where it is
    if (!impl->grad_home || impl->grad_home.use_count() == 1) {
      Tensor home = slot(grads_, i);
      copy_(home, g.detach());
      impl->grad = home.impl_ptr();
      impl->grad_home = impl->grad;
      out[i] = home;
    } else {
      out[i] = g.is_contiguous() ? g : contiguous(g);
    }
  }
  return out;
}

bool ParamArena::at_home(const std::vector<Tensor>& grads, size_t i) const {
  return grads[i].defined() && grads_.defined() && grads[i].storage() == grads_.storage() &&
         grads[i].offset() == grads_.offset() + offsets_[i];
}

void ParamArena::zero_grads(bool set_to_none) {
  check_intact("zero_grad");
  NoGradGuard no_grad;
  // set_to_none writes nothing: a p.grad the user still holds keeps its values (as in torch), and
  // the next backward writes the slots afresh
  if (!set_to_none && grads_.defined()) fill_(grads_, 0.0);
  for (size_t i = 0; i < params_.size(); ++i) {
    TensorImpl* impl = params_[i].impl();
    if (set_to_none)
      impl->grad = nullptr;  // the next backward writes into grad_home
    else if (grads_.defined())
      impl->grad = slot(grads_, i).impl_ptr();
  }
}

int64_t ParamArena::span(size_t i, size_t j) const { return offsets_[j] + round_up(params_[j].numel()) - offsets_[i]; }

std::vector<Span> tiled_span(const std::vector<Tensor>& ts) {
  if (ts.empty()) return {};
  std::vector<Tensor> sorted = ts;
  std::sort(sorted.begin(), sorted.end(), [](const Tensor& a, const Tensor& b) { return a.offset() < b.offset(); });
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i].dtype() != DType::Float32 || !sorted[i].is_contiguous()) return {};
    if (i > 0 && (sorted[i].storage() != sorted[0].storage() ||
                  sorted[i].offset() != sorted[i - 1].offset() + round_up(sorted[i - 1].numel())))
      return {};
  }
  const Tensor& last = sorted.back();
  return {Span{sorted[0].f32(), last.offset() + last.numel() - sorted[0].offset(), sorted[0].offset()}};
}

std::vector<Span> grad_spans(const std::vector<Tensor>& params) {
  std::vector<Tensor> gs;
  for (const Tensor& p : params) {
    Tensor g = p.defined() ? p.grad() : Tensor();
    if (!g.defined()) continue;
    MD_CHECK(g.is_contiguous() && g.dtype() == DType::Float32, RuntimeError, "gradient of a parameter of shape ",
             p.shape(), " is not a contiguous float32 tensor");
    gs.push_back(g);
  }
  std::vector<Span> spans = tiled_span(gs);
  if (!spans.empty() || gs.empty()) return spans;
  for (const Tensor& g : gs) spans.push_back({g.f32(), g.numel(), g.offset()});
  return spans;
}

}  // namespace md::optim
