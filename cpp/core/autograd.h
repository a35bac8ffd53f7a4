// Tape autograd. Every differentiable op that runs with grad mode on and an input that requires
// grad records a Node: its backward closure (holding the saved tensors it needs) and one edge per
// input. Nodes carry a sequence number from a global counter, so replaying the recorded nodes in
// decreasing sequence order is a valid reverse order: that is the tape. Saved tensors are
// detached copies of the handles, so no node ever owns the tensor that owns it (no cycles); the
// closure is dropped after backward, which frees them.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace md {

// Which inputs of a node need a gradient; a backward returns an undefined Tensor for the rest.
using GradMask = std::vector<bool>;
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out, const GradMask& needs)>;

// Where a gradient goes: into another node's buffer, or into a leaf's .grad.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;
  bool active() const { return node || leaf; }
};

// Tensor.register_hook: a function run by backward on the gradient that reaches a tensor (a
// leaf's summed over the backward, before it goes into .grad; a non-leaf's before it flows on to
// the tensor's inputs). It returns the gradient to use instead, or an undefined Tensor to keep it.
using GradHook = std::function<Tensor(const Tensor& grad)>;

struct GradHookList {
  std::vector<std::pair<uint64_t, GradHook>> hooks;  // (id, hook) in registration order
};

// What registering a hook returns (a tensor's or a module's): remove() takes the hook off, once;
// a no-op after that, or when what it was registered on is gone.
struct HookHandle {
  uint64_t id = 0;
  std::function<void()> remover;
  void remove() {
    if (!remover) return;
    auto f = std::move(remover);
    remover = nullptr;
    f();
  }
};

// A process-wide id for a new hook.
uint64_t next_hook_id();

HookHandle register_grad_hook(const Tensor& t, GradHook hook);

class Node {
 public:
  Node(const char* name, BackwardFn fn, std::vector<Edge> next, const Tensor& out,
       const std::vector<Tensor>& saved = {});

  const char* name() const { return name_; }
  uint64_t sequence() const { return seq_; }
  const std::vector<Edge>& next() const { return next_; }
  bool released() const { return !fn_; }

  // Runs the closure; drops it (and its saved tensors) unless retain_graph. Throws RuntimeError
  // when a saved tensor's storage was changed in place since the forward.
  std::vector<Tensor> apply(const Tensor& grad_out, bool retain_graph);

  const Shape& out_shape() const { return out_shape_; }
  Device out_device() const { return out_device_; }

  // The tensor this node made, when it retains its gradient (Tensor.retain_grad): backward adds
  // the gradient that reaches the node into that tensor's .grad. Weak: no cycle through the node.
  void retain_output(const std::shared_ptr<TensorImpl>& out) { retained_ = out; }
  std::shared_ptr<TensorImpl> retained_output() const { return retained_.lock(); }

  // The hooks registered on the tensor this node made (null when none).
  std::shared_ptr<GradHookList>& hooks() { return hooks_; }

  // Where the forward made this node (a Python stack), kept while anomaly mode is on; else empty.
  const std::string& forward_trace() const { return forward_trace_; }

 private:
  const char* name_;
  uint64_t seq_;
  BackwardFn fn_;
  std::vector<Edge> next_;
  GradMask needs_;
  Shape out_shape_;
  Device out_device_;
  // The version counters of the tensors the closure saved, with their values at the forward.
  // Weak: a counter nobody else holds belongs to a tensor nobody can change any more.
  std::vector<std::pair<std::weak_ptr<uint64_t>, uint64_t>> saved_versions_;
  std::weak_ptr<TensorImpl> retained_;
  std::shared_ptr<GradHookList> hooks_;
  std::string forward_trace_;
};

// torch's name of the backward node of an op ("mul" -> "MulBackward0", "group_norm" ->
// "GroupNormBackward0"); a CamelCase name (a custom Function's) is kept as it is.
std::string backward_node_name(const char* op);

// ---- anomaly detection (torch.autograd.detect_anomaly; process-wide, like torch's): nodes made
// while it is on keep their forward's stack, and with check_nan a backward whose node returns a
// gradient with NaN raises RuntimeError naming the node and where the forward made it.
bool anomaly_enabled();
bool anomaly_check_nan();
void set_anomaly(bool enabled, bool check_nan);
// What captures the forward's stack (set by the Python bindings: the Python traceback).
void set_anomaly_trace_hook(std::function<std::string()> hook);

// ---- grad mode (thread local, like torch)
bool grad_enabled();
void set_grad_enabled(bool on);

struct NoGradGuard {
  bool prev;
  NoGradGuard() : prev(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev); }
};
struct GradModeGuard {  // grad mode set to `on` for a scope
  bool prev;
  explicit GradModeGuard(bool on) : prev(grad_enabled()) { set_grad_enabled(on); }
  ~GradModeGuard() { set_grad_enabled(prev); }
};

// A view whose base changed in place through another view inside the graph since it took its
// history gets a fresh one, from the base's (ops/shape.cpp); a no-op for every other tensor.
void refresh_view_history(const Tensor& view);
inline void refresh_if_stale(const Tensor& t) {
  const TensorImpl* i = t.impl();
  if (i && i->view_base && i->base_generation != i->view_base->generation) refresh_view_history(t);
}
// t.requires_grad() after that refresh: what an operand read outside any_requires_grad checks.
inline bool requires_grad_now(const Tensor& t) {
  refresh_if_stale(t);
  return t.requires_grad();
}

// True when grad mode is on and some input requires grad.
bool any_requires_grad(std::initializer_list<const Tensor*> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Attaches a node to out: out becomes a non-leaf that requires grad. saved: the tensors fn holds
// whose values it reads (an input, the output): changing one in place before the backward is
// an error there, as in torch, instead of a silently wrong gradient.
void record(const char* name, Tensor& out, const std::vector<Tensor>& inputs, BackwardFn fn,
            const std::vector<Tensor>& saved = {});

// The engine: accumulates d(root)/d(leaf) into every reachable leaf's .grad (and into the .grad
// of the non-leaf tensors that retain theirs).
void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph);

// torch.autograd.grad: the gradients of sum(roots[i] * grad_roots[i]) with respect to inputs
// (leaves or not), no leaf's .grad touched (a non-leaf that retains its gradient gets it, as in
// torch); an undefined Tensor for an input the roots do not reach.
// grad_roots[i] may be undefined for a one-element root (then 1).
std::vector<Tensor> grad_of(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                            const std::vector<Tensor>& inputs, bool retain_graph);

// Tensor.retain_grad: a non-leaf keeps the gradient backward computes for it in .grad (a leaf
// always does; a tensor that does not require grad is a RuntimeError, as in torch).
void retain_grad(const Tensor& t);
bool retains_grad(const Tensor& t);
// t's history was replaced (an in-place change): if t retained its gradient under the old one,
// it retains it under the new one, as torch's retains_grad follows the tensor.
void keep_retained(const Tensor& t, const std::shared_ptr<Node>& old_grad_fn);

// Observes each backward closure (the profiler uses it); null to switch off.
using BackwardObserver = std::function<void(const char* name, double seconds)>;
void set_backward_observer(BackwardObserver obs);

}  // namespace md
