// Module: a named tree of parameters, buffers and child modules (PyTorch's nn.Module). Layers
// hold their parameters as Tensors registered here; forward passes are written with ops only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ops/ops.h"

namespace md::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module;

// A forward hook (torch's register_forward_pre_hook / register_forward_hook), implemented by the
// Python binding. args are the tensors forward takes (an undefined one for a None).
struct ForwardHook {
  virtual ~ForwardHook() = default;
  // Before forward: replacement arguments, or nullopt to keep them.
  virtual std::optional<std::vector<Tensor>> before(const Module& m, const std::vector<Tensor>& args) = 0;
  // After forward: a replacement output, or an undefined Tensor to keep it.
  virtual Tensor after(const Module& m, const std::vector<Tensor>& args, const Tensor& out) = 0;
};

struct ForwardHooks {
  std::vector<std::pair<uint64_t, std::shared_ptr<ForwardHook>>> pre, post;  // in calling order
  // Backward hooks (grad_output: backward_pre; grad_input and grad_output: the others), in
  // registration order. Around forward they wrap the inputs after the forward pre-hooks and the
  // output after the forward hooks, so that in the backward the backward pre-hooks run first,
  // then the others, each kind in registration order, as torch's.
  struct Backward {
    uint64_t id;
    bool backward_pre;
    std::shared_ptr<ForwardHook> hook;
  };
  std::vector<Backward> backward;
  bool empty() const { return pre.empty() && post.empty() && backward.empty(); }
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  virtual ~Module() = default;
  virtual std::string type_name() const { return "Module"; }
  // One-line summary of the constructor arguments, for repr().
  virtual std::string extra_repr() const { return ""; }

  // ---- registration
  // Registers t as a parameter (a leaf that requires grad). Replaces an existing entry of that name.
  Tensor register_parameter(const std::string& name, Tensor t);
  // Buffers travel with to() and, when persistent, appear in state_dict().
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true);
  void register_module(const std::string& name, std::shared_ptr<Module> m);
  template <typename M>
  std::shared_ptr<M> add_child(const std::string& name, std::shared_ptr<M> m) {
    register_module(name, m);
    return m;
  }
  // Removes a parameter, buffer or child of that name (no-op when absent).
  void unregister(const std::string& name);

  // ---- queries
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules(const std::string& prefix = "");
  std::shared_ptr<Module> child(const std::string& name) const;
  Tensor parameter(const std::string& name) const;  // undefined when absent
  Tensor buffer(const std::string& name) const;
  bool has_parameter(const std::string& name) const;
  // A parameter a layer was built without (Linear(bias=False).bias): reads as None from Python,
  // as torch's register_parameter(name, None) does.
  void declare_absent(const std::string& name) { absent_.push_back(name); }
  bool is_absent(const std::string& name) const;
  const std::vector<std::string>& absent_names() const { return absent_; }
  // This module's own buffers (not its children's): name, tensor, persistent.
  const std::vector<std::tuple<std::string, Tensor, bool>>& own_buffers() const { return buffers_; }

  // ---- state
  // Parameters and persistent buffers, by dotted name, sharing storage with the module; each
  // module's own parameters, then its buffers, then its children's, as torch orders them.
  NamedTensors state_dict() const;
  struct LoadResult {
    std::vector<std::string> missing_keys, unexpected_keys;
  };
  // Copies values into the module's tensors (shapes must match). With strict, any missing or
  // unexpected key is a ValueError that lists them all.
  LoadResult load_state_dict(const std::map<std::string, Tensor>& sd, bool strict = true);

  void train(bool on = true);
  bool is_training() const { return training_; }
  // This module's flag alone (torch's `module.training = False`); train() sets the children's too.
  void set_training_flag(bool on) { training_ = on; }
  // Moves every parameter and buffer in place (handles held elsewhere see the move).
  void to(Device device);
  Device device() const;
  // Zeroes every existing .grad in place.
  // Sets every parameter's .grad to None (set_to_none, torch's default) or zeroes it in place.
  void zero_grad(bool set_to_none = true);
  int64_t num_parameters() const;

  // copy.deepcopy: the same class and settings with fresh copies of every parameter (requires_grad
  // kept) and buffer, children copied the same way. A tensor registered twice (tied weights) stays
  // one tensor in the copy.
  std::shared_ptr<Module> deep_copy() const;

  // ---- forward hooks: run around forward by call() (below) and by the Python __call__
  bool has_forward_hooks() const { return hooks_ && !hooks_->empty(); }
  // A snapshot: a hook may add or remove hooks while the list runs.
  ForwardHooks forward_hooks() const { return hooks_ ? *hooks_ : ForwardHooks{}; }
  HookHandle add_forward_hook(std::shared_ptr<ForwardHook> hook, bool pre, bool prepend);
  HookHandle add_backward_hook(std::shared_ptr<ForwardHook> hook, bool backward_pre, bool prepend);
  // Runs forward(args) with the hooks around it: the pre-hooks may replace the arguments, the
  // others the output.
  Tensor call_hooked(std::vector<Tensor> args, const std::function<Tensor(const std::vector<Tensor>&)>& forward) const;

 protected:
  // The same class, copy-constructed: children and tensors are still shared (deep_copy replaces
  // them). Every layer overrides it with MD_MODULE_CLONE.
  virtual std::shared_ptr<Module> shallow_clone() const { return std::make_shared<Module>(*this); }

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::string> absent_;
  std::vector<std::tuple<std::string, Tensor, bool>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  std::shared_ptr<ForwardHooks> hooks_;  // null until a hook is registered

 private:
  std::shared_ptr<Module> deep_copy(std::map<const TensorImpl*, Tensor>& memo) const;
  void collect_parameters(const std::string& prefix, NamedTensors& out) const;
  // Parameters and persistent buffers module by module, in torch's state_dict order.
  void collect_state(const std::string& prefix, NamedTensors& out) const;
  void collect_buffers(const std::string& prefix, bool persistent_only, NamedTensors& out) const;
};

// The backward hooks' identity nodes around a call (see ForwardHooks::backward); used by
// call_hooked and by the Python Module.__call__.
std::vector<Tensor> wrap_inputs_for_backward(const Module& m, const ForwardHooks& hooks, std::vector<Tensor> args);
Tensor wrap_output_for_backward(const Module& m, const ForwardHooks& hooks, Tensor out);

namespace detail {
template <typename M, size_t... I>
Tensor forward_from(const M& m, const std::vector<Tensor>& args, std::index_sequence<I...>) {
  return m.forward(args[I]...);
}
}  // namespace detail

// m.forward(args...), as a child is called inside a native forward: through m's forward hooks
// when it has any (a hook registered from Python on a submodule of a native model runs too).
template <typename M, typename... A>
Tensor call(const M& m, const A&... args) {
  if (!m.has_forward_hooks()) return m.forward(args...);
  return m.call_hooked({args...}, [&m](const std::vector<Tensor>& in) {
    return detail::forward_from(m, in, std::index_sequence_for<A...>{});
  });
}

#define MD_MODULE_CLONE(Class) \
  std::shared_ptr<Module> shallow_clone() const override { return std::make_shared<Class>(*this); }

// Marks t as a parameter: a detached leaf that requires grad.
Tensor make_parameter(const Tensor& t);

// ---- initialisation, as PyTorch's defaults
// kaiming_uniform(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)); biases use the same bound.
void init_uniform_fan_in(Tensor& t, int64_t fan_in);

}  // namespace md::nn
