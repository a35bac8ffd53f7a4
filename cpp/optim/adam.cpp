// Adam / AdamW over a flat arena: one kernel launch updates every parameter.
#include <cmath>

#include "core/profiler.h"
#include "kernels.h"
#include "optim/optim.h"

namespace md::optim {

Adam::Adam(std::vector<Tensor> params) : arena_(std::move(params), /*own_grads=*/true) {
  m_ = arena_.make_like();
  v_ = arena_.make_like();
  steps_.assign(arena_.params().size(), 0);
}

void Adam::step(float lr, float beta1, float beta2, float eps, float weight_decay, bool decoupled) {
  MD_PROFILE("adam_step");
  MD_CHECK(lr >= 0 && eps >= 0 && weight_decay >= 0, ValueError, "Adam: invalid hyperparameters lr=", lr, " eps=", eps,
           " weight_decay=", weight_decay);
  MD_CHECK(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, ValueError, "Adam: betas must be in [0, 1), got (",
           beta1, ", ", beta2, ")");
  const std::vector<Tensor> grads = arena_.adopt_grads("Adam.step");
  auto update = [&](size_t i, size_t j, const float* grad, int64_t n) {  // parameters i..j, one step count
    const double t = static_cast<double>(steps_[i] + 1);
    const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(beta1), t));
    const float bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(beta2), t));
    const int64_t at = arena_.offsets()[i];
    MD_DISPATCH(arena_.device(), adam_step, arena_.values().f32() + at, m_.f32() + at, v_.f32() + at, grad, n, lr,
                beta1, beta2, eps, weight_decay, decoupled, bc1, bc2, nullptr);
    for (size_t k = i; k <= j; ++k) {
      ++steps_[k];
      ++*arena_.params()[k].impl()->version;  // changed in place: a pending backward must not use it
    }
  };
  // one kernel per run of neighbouring parameters whose gradients are in the arena with the same
  // step count (a single run over the whole arena in plain training); one each for the rest
  const size_t n = grads.size();
  for (size_t i = 0; i < n;) {
    if (!grads[i].defined()) {
      ++i;
    } else if (!arena_.at_home(grads, i)) {
      update(i, i, grads[i].f32(), grads[i].numel());
      ++i;
    } else {
      size_t j = i;
      while (j + 1 < n && arena_.at_home(grads, j + 1) && steps_[j + 1] == steps_[i]) ++j;
      update(i, j, grads[i].f32(), arena_.span(i, j));
      i = j + 1;
    }
  }
}

void Adam::zero_grad(bool set_to_none) { arena_.zero_grads(set_to_none); }

Tensor clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  MD_PROFILE("clip_grad_norm");
  // max_norm = inf computes the norm without clipping (as in torch)
  MD_CHECK(max_norm > 0, ValueError, "clip_grad_norm_: max_norm must be positive, got ", max_norm);
  const std::vector<Span> spans = grad_spans(params);
  Device device = params.empty() ? Device{} : params[0].device();
  for (const Tensor& p : params)
    MD_CHECK(p.device() == device, ValueError, "clip_grad_norm_: parameters on ", device.str(), " and ",
             p.device().str());
  Tensor sumsq = zeros({}, DType::Float32, device);
  for (size_t i = 0; i < spans.size(); ++i)
    MD_DISPATCH(device, sum_squares, sumsq.f32(), spans[i].data, spans[i].n, i > 0);
  if (std::isfinite(max_norm))
    for (const Span& s : spans)
      MD_DISPATCH(device, clip_by_norm, s.data, s.n, sumsq.f32(), static_cast<float>(max_norm));
  NoGradGuard no_grad;
  return sqrt(sumsq);
}

// ---- EMA

EMA::EMA(const std::vector<Tensor>& params) {
  NoGradGuard no_grad;
  for (const Tensor& p : params) check_float("EMA", p, "parameter");
  const Device device = params.empty() ? Device{} : params[0].device();
  for (const Tensor& p : params)
    MD_CHECK(p.device() == device, ValueError, "EMA: parameters on ", device.str(), " and ", p.device().str());
  // Shadows mirror the parameters' layout: when those tile an optimiser arena, the shadows tile a
  // copy of it and every update is one kernel over the whole span.
  const std::vector<Span> span = tiled_span(params);
  if (!span.empty()) {
    shadow_flat_ = empty({span[0].n}, DType::Float32, device);
    MD_DISPATCH(device, fill_f32, shadow_flat_.f32(), 0.0f, span[0].n);
    for (const Tensor& p : params) {
      Tensor s = Tensor::view_of(shadow_flat_.storage(), p.shape(), contiguous_strides(p.shape()),
                                 p.offset() - span[0].offset, DType::Float32);
      copy_(s, p.detach());
      shadow_.push_back(s);
    }
    return;
  }
  int64_t total = 0;
  for (const Tensor& p : params) total += p.numel();
  shadow_flat_ = empty({total}, DType::Float32, device);
  int64_t at = 0;
  for (const Tensor& p : params) {
    Tensor s = Tensor::view_of(shadow_flat_.storage(), p.shape(), contiguous_strides(p.shape()), at, DType::Float32);
    copy_(s, p.detach());
    shadow_.push_back(s);
    at += p.numel();
  }
}

void EMA::check(const std::vector<Tensor>& params, const char* who) const {
  MD_CHECK(params.size() == shadow_.size(), ValueError, who, ": expected ", shadow_.size(), " parameters, got ",
           params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    MD_CHECK(params[i].shape() == shadow_[i].shape(), ValueError, who, ": parameter ", i, " has shape ",
             params[i].shape(), " but its shadow has ", shadow_[i].shape());
    MD_CHECK(params[i].device() == shadow_[i].device(), ValueError, who, ": parameter ", i, " is on ",
             params[i].device().str(), " but the EMA is on ", shadow_[i].device().str());
  }
}

void EMA::update(const std::vector<Tensor>& params, float decay) {
  MD_PROFILE("ema_update");
  check(params, "EMA.step");
  MD_CHECK(decay >= 0 && decay <= 1, ValueError, "EMA: decay must be in [0, 1], got ", decay);
  const std::vector<Span> span = tiled_span(params);
  if (!span.empty() && span[0].n == shadow_flat_.numel() &&
      shadow_[0].offset() == params[0].offset() - span[0].offset) {
    MD_DISPATCH(shadow_flat_.device(), axpby, shadow_flat_.f32(), shadow_flat_.f32(), decay, span[0].data, 1.0f - decay,
                span[0].n);
    return;
  }
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor p = params[i].is_contiguous() ? params[i].detach() : contiguous(params[i].detach());
    MD_DISPATCH(p.device(), axpby, shadow_[i].f32(), shadow_[i].f32(), decay, p.f32(), 1.0f - decay, p.numel());
  }
}

void EMA::copy_to(const std::vector<Tensor>& params) const {
  check(params, "EMA.copy_to");
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor dst = params[i].detach();
    copy_(dst, shadow_[i]);
  }
}

void EMA::store(const std::vector<Tensor>& params) {
  NoGradGuard no_grad;
  backup_.clear();
  for (const Tensor& p : params) backup_.push_back(clone(p.detach()));
}

void EMA::restore(const std::vector<Tensor>& params) {
  MD_CHECK(backup_.size() == params.size(), RuntimeError,
           "EMA.restore: nothing stored for these parameters (call store() first)");
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor dst = params[i].detach();
    copy_(dst, backup_[i]);
  }
  backup_.clear();
}

}  // namespace md::optim
