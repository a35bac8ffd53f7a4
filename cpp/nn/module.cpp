// Module bookkeeping: registration, recursive queries, state dicts, device moves.
#include "nn/module.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <typeinfo>

namespace md::nn {

Tensor make_parameter(const Tensor& t) {
  check_float("Parameter", t, "data");
  Tensor p = t.is_leaf() ? t : t.detach();  // a leaf keeps its identity: every handle sees the parameter
  // a tensor that is already a parameter keeps its requires_grad (a frozen one stays frozen)
  if (!p.impl()->is_param) p.impl()->requires_grad = true;
  p.impl()->is_param = true;
  return p;
}

void init_uniform_fan_in(Tensor& t, int64_t fan_in) {
  const float bound = fan_in > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in))) : 0.0f;
  NoGradGuard no_grad;
  uniform_(t, -bound, bound);
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  MD_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError, "register_parameter: invalid name '", name,
           "'");
  Tensor p = make_parameter(t);
  for (auto& kv : params_)
    if (kv.first == name) {
      kv.second = p;
      return p;
    }
  params_.emplace_back(name, p);
  return p;
}

Tensor Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  for (auto& b : buffers_)
    if (std::get<0>(b) == name) {
      std::get<1>(b) = t;
      std::get<2>(b) = persistent;
      return t;
    }
  buffers_.emplace_back(name, t, persistent);
  return t;
}

void Module::register_module(const std::string& name, std::shared_ptr<Module> m) {
  MD_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError, "register_module: invalid name '", name,
           "'");
  MD_CHECK(m.get() != this, ValueError, "register_module: a module cannot contain itself");
  for (auto& kv : children_)
    if (kv.first == name) {
      kv.second = std::move(m);
      return;
    }
  children_.emplace_back(name, std::move(m));
}

void Module::unregister(const std::string& name) {
  params_.erase(std::remove_if(params_.begin(), params_.end(), [&](auto& kv) { return kv.first == name; }),
                params_.end());
  buffers_.erase(std::remove_if(buffers_.begin(), buffers_.end(), [&](auto& b) { return std::get<0>(b) == name; }),
                 buffers_.end());
  children_.erase(std::remove_if(children_.begin(), children_.end(), [&](auto& kv) { return kv.first == name; }),
                  children_.end());
}

void Module::collect_parameters(const std::string& prefix, NamedTensors& out) const {
  for (const auto& kv : params_)
    if (kv.second.defined()) out.emplace_back(prefix + kv.first, kv.second);
  for (const auto& kv : children_)
    if (kv.second) kv.second->collect_parameters(prefix + kv.first + ".", out);
}

void Module::collect_buffers(const std::string& prefix, bool persistent_only, NamedTensors& out) const {
  for (const auto& b : buffers_)
    if (std::get<1>(b).defined() && (!persistent_only || std::get<2>(b)))
      out.emplace_back(prefix + std::get<0>(b), std::get<1>(b));
  for (const auto& kv : children_)
    if (kv.second) kv.second->collect_buffers(prefix + kv.first + ".", persistent_only, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  if (!recurse) {
    for (const auto& kv : params_)
      if (kv.second.defined()) out.push_back(kv);
    return out;
  }
  collect_parameters("", out);
  // a parameter shared by two modules is listed once, under its first name
  std::set<TensorImpl*> seen;
  NamedTensors unique;
  for (auto& kv : out)
    if (seen.insert(kv.second.impl()).second) unique.push_back(kv);
  return unique;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& kv : named_parameters(recurse)) out.push_back(kv.second);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  if (!recurse) {
    for (const auto& b : buffers_) out.emplace_back(std::get<0>(b), std::get<1>(b));
    return out;
  }
  collect_buffers("", false, out);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules(const std::string& prefix) {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  for (const auto& kv : children_) {
    if (!kv.second) continue;
    const std::string name = prefix.empty() ? kv.first : prefix + "." + kv.first;
    out.emplace_back(name, kv.second);
    for (auto& sub : kv.second->named_modules(name)) out.push_back(sub);
  }
  return out;
}

std::shared_ptr<Module> Module::deep_copy() const {
  std::map<const TensorImpl*, Tensor> memo;
  return deep_copy(memo);
}

std::shared_ptr<Module> Module::deep_copy(std::map<const TensorImpl*, Tensor>& memo) const {
  NoGradGuard no_grad;
  auto copy_tensor = [&](const Tensor& t) -> Tensor {
    if (!t.defined()) return t;
    auto it = memo.find(t.impl());
    if (it != memo.end()) return it->second;
    Tensor c = clone(t.detach());
    c.impl()->requires_grad = t.requires_grad();
    c.impl()->is_param = t.impl()->is_param;
    memo.emplace(t.impl(), c);
    return c;
  };
  std::shared_ptr<Module> c = shallow_clone();
  const Module& copy = *c;
  MD_CHECK(typeid(copy) == typeid(*this), RuntimeError, "deepcopy: ", type_name(),
           " does not override shallow_clone (add MD_MODULE_CLONE to the class)");
  for (auto& kv : c->params_) kv.second = copy_tensor(kv.second);
  for (auto& b : c->buffers_) std::get<1>(b) = copy_tensor(std::get<1>(b));
  for (auto& kv : c->children_)
    if (kv.second) kv.second = kv.second->deep_copy(memo);
  // the copy's hooks are its own list (removing one from the original leaves the copy's), as torch
  if (hooks_) c->hooks_ = std::make_shared<ForwardHooks>(*hooks_);
  return c;
}

HookHandle Module::add_forward_hook(std::shared_ptr<ForwardHook> hook, bool pre, bool prepend) {
  if (!hooks_) hooks_ = std::make_shared<ForwardHooks>();
  auto& list = pre ? hooks_->pre : hooks_->post;
  const uint64_t id = next_hook_id();
  list.insert(prepend ? list.begin() : list.end(), {id, std::move(hook)});
  std::weak_ptr<ForwardHooks> weak = hooks_;
  return HookHandle{id, [weak, id, pre] {
                      if (const auto h = weak.lock()) {
                        auto& l = pre ? h->pre : h->post;
                        l.erase(std::remove_if(l.begin(), l.end(), [id](const auto& e) { return e.first == id; }),
                                l.end());
                      }
                    }};
}

HookHandle Module::add_backward_hook(std::shared_ptr<ForwardHook> hook, bool backward_pre, bool prepend) {
  if (!hooks_) hooks_ = std::make_shared<ForwardHooks>();
  auto& list = hooks_->backward;
  const uint64_t id = next_hook_id();
  list.insert(prepend ? list.begin() : list.end(), ForwardHooks::Backward{id, backward_pre, std::move(hook)});
  std::weak_ptr<ForwardHooks> weak = hooks_;
  return HookHandle{id, [weak, id] {
                      if (const auto h = weak.lock())
                        h->backward.erase(std::remove_if(h->backward.begin(), h->backward.end(),
                                                         [id](const auto& e) { return e.id == id; }),
                                          h->backward.end());
                    }};
}

std::vector<Tensor> wrap_inputs_for_backward(const Module& m, const ForwardHooks& hooks, std::vector<Tensor> args) {
  // the last registered innermost: in the backward the first registered sees its gradients first
  for (auto it = hooks.backward.rbegin(); it != hooks.backward.rend(); ++it)
    if (!it->backward_pre)
      if (auto changed = it->hook->before(m, args)) args = std::move(*changed);
  return args;
}

Tensor wrap_output_for_backward(const Module& m, const ForwardHooks& hooks, Tensor out) {
  for (const bool backward_pre : {false, true})  // the backward pre-hooks outermost: they run first
    for (auto it = hooks.backward.rbegin(); it != hooks.backward.rend(); ++it)
      if (it->backward_pre == backward_pre)
        if (Tensor changed = it->hook->after(m, {}, out); changed.defined()) out = changed;
  return out;
}

Tensor Module::call_hooked(std::vector<Tensor> args,
                           const std::function<Tensor(const std::vector<Tensor>&)>& forward) const {
  const ForwardHooks hooks = forward_hooks();
  for (const auto& [id, h] : hooks.pre)
    if (auto changed = h->before(*this, args)) args = std::move(*changed);
  args = wrap_inputs_for_backward(*this, hooks, std::move(args));
  Tensor out = forward(args);
  for (const auto& [id, h] : hooks.post)
    if (Tensor changed = h->after(*this, args, out); changed.defined()) out = changed;
  return wrap_output_for_backward(*this, hooks, std::move(out));
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (const auto& kv : children_)
    if (kv.first == name) return kv.second;
  return nullptr;
}

Tensor Module::parameter(const std::string& name) const {
  for (const auto& kv : params_)
    if (kv.first == name) return kv.second;
  return Tensor();
}

Tensor Module::buffer(const std::string& name) const {
  for (const auto& b : buffers_)
    if (std::get<0>(b) == name) return std::get<1>(b);
  return Tensor();
}

bool Module::is_absent(const std::string& name) const {
  return std::find(absent_.begin(), absent_.end(), name) != absent_.end() && !has_parameter(name);
}

bool Module::has_parameter(const std::string& name) const {
  for (const auto& kv : params_)
    if (kv.first == name) return true;
  return false;
}

void Module::collect_state(const std::string& prefix, NamedTensors& out) const {
  for (const auto& kv : params_)
    if (kv.second.defined()) out.emplace_back(prefix + kv.first, kv.second);
  for (const auto& b : buffers_)
    if (std::get<1>(b).defined() && std::get<2>(b)) out.emplace_back(prefix + std::get<0>(b), std::get<1>(b));
  for (const auto& kv : children_)
    if (kv.second) kv.second->collect_state(prefix + kv.first + ".", out);
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect_state("", out);
  for (auto& kv : out) kv.second = kv.second.detach();
  return out;
}

Module::LoadResult Module::load_state_dict(const std::map<std::string, Tensor>& sd, bool strict) {
  NamedTensors own;
  collect_state("", own);
  LoadResult r;
  std::set<std::string> used;
  std::vector<std::string> shape_errors;
  for (auto& kv : own) {
    auto it = sd.find(kv.first);
    if (it == sd.end()) {
      r.missing_keys.push_back(kv.first);
      continue;
    }
    used.insert(kv.first);
    if (it->second.shape() != kv.second.shape())
      shape_errors.push_back(str(kv.first, ": checkpoint ", it->second.shape(), " vs model ", kv.second.shape()));
  }
  for (auto& kv : sd)
    if (!used.count(kv.first)) r.unexpected_keys.push_back(kv.first);
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
    return s;
  };
  // every problem in one error, as torch's: shape mismatches always, missing and unexpected keys with strict
  const bool key_errors = strict && (!r.missing_keys.empty() || !r.unexpected_keys.empty());
  if (!shape_errors.empty() || key_errors) {
    std::string msg = "load_state_dict: ";
    if (key_errors && !r.missing_keys.empty()) msg += "missing keys: " + join(r.missing_keys) + ". ";
    if (key_errors && !r.unexpected_keys.empty()) msg += "unexpected keys: " + join(r.unexpected_keys) + ". ";
    if (!shape_errors.empty()) msg += "shape mismatch for " + join(shape_errors) + ".";
    throw ValueError(msg);
  }
  NoGradGuard no_grad;
  for (auto& kv : own) {
    auto it = sd.find(kv.first);
    if (it == sd.end()) continue;
    Tensor dst = kv.second.detach();
    copy_(dst, it->second);
  }
  return r;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& kv : children_)
    if (kv.second) kv.second->train(on);
}

namespace {
// Re-homes t's storage on device, keeping the TensorImpl (and so every handle) the same.
void move_in_place(const Tensor& t, Device device) {
  if (!t.defined() || t.device() == device) return;
  NoGradGuard no_grad;
  Tensor moved = to_device(contiguous(t.detach()), device);
  TensorImpl* impl = t.impl();
  impl->storage = moved.storage();
  impl->offset = 0;
  impl->strides = contiguous_strides(impl->shape);
  if (impl->grad) {
    Tensor g = to_device(contiguous(Tensor(impl->grad)), device);
    impl->grad = g.impl_ptr();
  }
  impl->grad_home = nullptr;  // an optimiser arena on the old device is no home any more
}
}  // namespace

void Module::to(Device device) {
  for (auto& kv : params_) move_in_place(kv.second, device);
  for (auto& b : buffers_) move_in_place(std::get<1>(b), device);
  for (auto& kv : children_)
    if (kv.second) kv.second->to(device);
}

Device Module::device() const {
  for (const auto& kv : params_)
    if (kv.second.defined()) return kv.second.device();
  for (const auto& kv : children_)
    if (kv.second && !kv.second->named_parameters().empty()) return kv.second->device();
  return Device{};
}

void Module::zero_grad(bool set_to_none) {
  NoGradGuard no_grad;
  for (auto& p : parameters()) {
    if (set_to_none) {
      p.impl()->grad = nullptr;  // an optimiser's arena slot (grad_home) takes the next gradient
      continue;
    }
    Tensor g = p.grad();
    if (g.defined()) fill_(g, 0.0);
  }
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& p : parameters()) n += p.numel();
  return n;
}

}  // namespace md::nn
