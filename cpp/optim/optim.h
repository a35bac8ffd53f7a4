// Optimisation in the core: Adam/AdamW as one fused pass over a parameter arena, global-norm
// gradient clipping, and an exponential moving average of the weights. Hyperparameters that users
// change between steps (the learning rate) are passed to each step() by the Python layer.
#pragma once

#include <memory>
#include <vector>

#include "optim/arena.h"

namespace md::optim {

class Adam {
 public:
  explicit Adam(std::vector<Tensor> params);
  // One update of every parameter that has a gradient (as in torch, one whose .grad is None, a
  // frozen or unused one, is left alone: no decay, no momentum). decoupled: AdamW's weight decay
  // (p *= 1 - lr wd) instead of Adam's L2 term (g += wd p).
  void step(float lr, float beta1, float beta2, float eps, float weight_decay, bool decoupled);
  void zero_grad(bool set_to_none);
  // Steps taken by parameter i (its bias correction), as torch keeps per parameter.
  int64_t step_count(size_t i) const { return steps_.at(i); }
  void set_step_count(size_t i, int64_t s) { steps_.at(i) = s; }
  const ParamArena& arena() const { return arena_; }
  // First and second moments of parameter i (views into the moment arenas).
  Tensor exp_avg(size_t i) const { return arena_.slot(m_, i); }
  Tensor exp_avg_sq(size_t i) const { return arena_.slot(v_, i); }

 private:
  ParamArena arena_;
  Tensor m_, v_;
  std::vector<int64_t> steps_;
};

// Scales the gradients of params so that their global L2 norm is at most max_norm; returns the norm
// before clipping as a one-element tensor on the parameters' device (no host synchronisation).
Tensor clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

// Shadow copy of a list of parameters, updated as shadow = d * shadow + (1 - d) * param.
class EMA {
 public:
  explicit EMA(const std::vector<Tensor>& params);
  void update(const std::vector<Tensor>& params, float decay);
  // Writes the shadow values into params.
  void copy_to(const std::vector<Tensor>& params) const;
  // Saves params aside (store) and puts them back (restore), e.g. around sampling with EMA weights.
  void store(const std::vector<Tensor>& params);
  void restore(const std::vector<Tensor>& params);
  size_t size() const { return shadow_.size(); }
  Tensor shadow(size_t i) const { return shadow_[i]; }

 private:
  void check(const std::vector<Tensor>& params, const char* who) const;
  std::vector<Tensor> shadow_;
  Tensor shadow_flat_;
  std::vector<Tensor> backup_;
};

}  // namespace md::optim
