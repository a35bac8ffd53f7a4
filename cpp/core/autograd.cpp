// The backward engine: collects the nodes reachable from the root, replays them in decreasing
// sequence order (the tape backwards), and sums every gradient that flows into the same node or
// leaf exactly once, here.
#include "core/autograd.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <unordered_map>

#include "core/profiler.h"
#include "ops/ops.h"

namespace md {

namespace {
std::atomic<uint64_t> g_sequence{0};
thread_local bool g_grad_enabled = true;
// Swapped by the profiler from any thread while others run backward: read and written atomically,
// and each node holds its own reference while it calls it.
std::shared_ptr<const BackwardObserver> g_observer;
}  // namespace

namespace {
std::atomic<bool> g_anomaly{false}, g_anomaly_nan{true};
std::function<std::string()> g_anomaly_trace;

// Whether g holds a NaN (read on the host: anomaly mode is for debugging, as torch's).
bool has_nan(const Tensor& g) {
  if (g.numel() == 0 || g.dtype() == DType::Int64) return false;
  const Tensor h = contiguous(to_device(g.dtype() == DType::Float32 ? g : to_dtype(g, DType::Float32), Device{}));
  const float* p = h.f32();
  for (int64_t i = 0; i < h.numel(); ++i)
    if (p[i] != p[i]) return true;
  return false;
}
}  // namespace

bool anomaly_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
bool anomaly_check_nan() { return g_anomaly_nan.load(std::memory_order_relaxed); }
void set_anomaly(bool enabled, bool check_nan) {
  g_anomaly = enabled;
  g_anomaly_nan = check_nan;
}
void set_anomaly_trace_hook(std::function<std::string()> hook) { g_anomaly_trace = std::move(hook); }

std::string backward_node_name(const char* op) {
  for (const char* c = op; *c; ++c)
    if (std::isupper(static_cast<unsigned char>(*c))) return op;
  std::string out;
  bool upper = true;
  for (const char* c = op; *c; ++c) {
    if (*c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(*c))) : *c;
    upper = false;
  }
  return out + "Backward0";
}

Node::Node(const char* name, BackwardFn fn, std::vector<Edge> next, const Tensor& out, const std::vector<Tensor>& saved)
    : name_(name),
      seq_(g_sequence.fetch_add(1, std::memory_order_relaxed)),
      fn_(std::move(fn)),
      next_(std::move(next)),
      out_shape_(out.shape()),
      out_device_(out.device()) {
  needs_.resize(next_.size());
  for (size_t i = 0; i < next_.size(); ++i) needs_[i] = next_[i].active();
  for (const Tensor& t : saved)
    if (t.defined()) saved_versions_.emplace_back(t.impl()->version, *t.impl()->version);
  if (anomaly_enabled() && g_anomaly_trace) forward_trace_ = g_anomaly_trace();
}

std::vector<Tensor> Node::apply(const Tensor& grad_out, bool retain_graph) {
  if (!fn_)
    throw RuntimeError(str("backward: trying to run '", name_,
                           "' backward a second time, but its saved tensors were freed after the "
                           "first backward; pass retain_graph=True to the first backward"));
  for (const auto& [weak, version] : saved_versions_)
    if (const auto counter = weak.lock(); counter && *counter != version)
      throw RuntimeError(str("backward: a tensor that '", name_,
                             "' saved for its gradient was modified by an in-place operation after the forward "
                             "(its version is ",
                             *counter, ", saved at ", version,
                             "); clone() it before changing it, or change it after backward"));
  // (a tensor whose shape changed in place after the forward, outside the graph, would hand the
  // closure a gradient of another shape: refused here rather than read out of bounds)
  MD_CHECK(grad_out.shape() == out_shape_, RuntimeError, "backward: the gradient reaching '", name_, "' has shape ",
           grad_out.shape(), ", but the tensor it made had shape ", out_shape_,
           " (was its shape changed in place after the forward?)");
  std::vector<Tensor> grads;
  if (const auto observer = std::atomic_load(&g_observer)) {
    profiler::sync_if_needed();
    const auto t0 = std::chrono::steady_clock::now();
    ++profiler::t_depth;  // the ops inside the closure are part of this node's time
    try {
      grads = fn_(grad_out, needs_);
    } catch (...) {
      --profiler::t_depth;
      throw;
    }
    --profiler::t_depth;
    profiler::sync_if_needed();
    (*observer)(name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  } else {
    grads = fn_(grad_out, needs_);
  }
  if (!retain_graph) fn_ = nullptr;
  if (grads.size() != next_.size())
    throw RuntimeError(
        str("backward of '", name_, "' returned ", grads.size(), " gradients for ", next_.size(), " inputs"));
  return grads;
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }
void set_backward_observer(BackwardObserver obs) {
  std::atomic_store(&g_observer, obs ? std::make_shared<const BackwardObserver>(std::move(obs))
                                     : std::shared_ptr<const BackwardObserver>());
}

bool any_requires_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  bool any = false;
  for (const Tensor* t : inputs)
    if (t && t->defined()) {
      refresh_if_stale(*t);
      any = any || t->requires_grad();
    }
  return any;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  bool any = false;
  for (const Tensor& t : inputs)
    if (t.defined()) {
      refresh_if_stale(t);
      any = any || t.requires_grad();
    }
  return any;
}

void record(const char* name, Tensor& out, const std::vector<Tensor>& inputs, BackwardFn fn,
            const std::vector<Tensor>& saved) {
  std::vector<Edge> next(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (t.defined()) refresh_if_stale(t);
    if (!t.defined() || !t.requires_grad()) continue;
    if (t.grad_fn())
      next[i].node = t.grad_fn();
    else
      next[i].leaf = t.impl_ptr();
  }
  out.impl()->grad_fn = std::make_shared<Node>(name, std::move(fn), std::move(next), out, saved);
  out.impl()->requires_grad = true;
}

namespace {

// Adds g into the leaf's .grad: in place when a gradient is already there (the optimiser keeps
// .grad as views of one flat arena); when there is none, into the leaf's home in an optimiser's
// arena, or else a fresh copy so no two leaves share a buffer. A gradient the user assigned with
// a layout add_ cannot write (a transposed view) is replaced by the sum instead. A leaf that no
// longer requires grad gets none.
// retained: a non-leaf that retains its gradient, which takes it even if detach_()ed since, as torch's
// (its retains_grad hook stays on the old grad_fn).
void accumulate_leaf(TensorImpl* leaf, const Tensor& g, bool retained = false) {
  // detach_()ed (or requires_grad_(False)) since the graph was made, as torch's
  if (!leaf->requires_grad && !retained) return;
  MD_CHECK(g.shape() == leaf->shape, RuntimeError, "backward: gradient of shape ", g.shape(), " for a leaf of shape ",
           leaf->shape);
  if (leaf->grad) {
    Tensor existing(leaf->grad);
    if (existing.is_contiguous())
      add_(existing, g);
    else
      leaf->grad = add(existing, g).impl_ptr();
  } else if (leaf->grad_home && leaf->grad_home.use_count() == 1 && leaf->grad_home->shape == leaf->shape &&
             leaf->grad_home->storage->device == g.device()) {
    // (only a home no tensor the user still holds is taken: an old p.grad keeps its values)
    Tensor home(leaf->grad_home);
    copy_(home, g);
    leaf->grad = leaf->grad_home;
  } else {
    leaf->grad = clone(g).impl_ptr();
  }
}

}  // namespace

namespace {
std::atomic<uint64_t> g_hook_ids{1};

// The gradient after each hook of list, in order (a hook's result feeds the next one).
Tensor run_grad_hooks(const GradHookList& list, Tensor g) {
  const auto hooks = list.hooks;  // a hook may remove itself (or another) while it runs
  for (const auto& [id, hook] : hooks) {
    Tensor changed = hook(g);
    if (!changed.defined()) continue;
    MD_CHECK(changed.shape() == g.shape() && changed.dtype() == g.dtype() && changed.device() == g.device(),
             RuntimeError, "backward: a hook registered with register_hook returned a gradient of shape ",
             changed.shape(), " (", dtype_name(changed.dtype()), ", ", changed.device().str(), ") for one of shape ",
             g.shape(), " (", dtype_name(g.dtype()), ", ", g.device().str(), ")");
    g = changed;
  }
  return g;
}

bool has_hooks(const std::shared_ptr<GradHookList>& list) { return list && !list->hooks.empty(); }

// A root's seed: grad_root checked against it, or 1 for a one-element root.
Tensor seed_for(const Tensor& root, const Tensor& grad_root, const char* op) {
  refresh_if_stale(root);  // a view whose base changed in place: from its fresh history, as torch's
  MD_CHECK(root.requires_grad(), RuntimeError, op,
           ": the tensor does not require grad and has no grad_fn (was it computed under "
           "no_grad, or from tensors without requires_grad?)");
  if (!grad_root.defined()) {
    MD_CHECK(root.numel() == 1, RuntimeError, op, ": grad can be implicitly created only for ",
             "one-element outputs, got shape ", root.shape(), "; pass a gradient");
    return ones_like(root);
  }
  MD_CHECK(grad_root.dtype() == root.dtype(), TypeError, op, ": gradient must be ", dtype_name(root.dtype()),
           " (the tensor's dtype), got ", dtype_name(grad_root.dtype()), " of shape ", grad_root.shape());
  MD_CHECK(grad_root.shape() == root.shape(), ValueError, op, ": gradient of shape ", grad_root.shape(),
           " for a tensor of shape ", root.shape());
  MD_CHECK(grad_root.device() == root.device(), ValueError, op, ": gradient on ", grad_root.device().str(),
           " for a tensor on ", root.device().str());
  return grad_root;
}

// Where the engine's gradients go: each leaf's, and each node's whole gradient when it is known
// (a node's gradient is complete when the node runs, every consumer having run before it).
struct Sink {
  std::function<void(TensorImpl* leaf, const Tensor& g)> leaf;
  std::function<void(Node* node, const Tensor& g)> node;
};

// The engine: gathers the nodes reachable from the roots' nodes, replays them in decreasing
// sequence order (the tape backwards), summing what flows into each node once.
void run_engine(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds, bool retain_graph,
                const Sink& sink) {
  NoGradGuard no_grad;  // backward closures compute with plain ops
  // A leaf with hooks gets its gradient once, summed over the pass, after its hooks ran on it.
  std::vector<std::pair<TensorImpl*, Tensor>> hooked_leaves;
  std::unordered_map<TensorImpl*, size_t> hooked_index;
  auto to_leaf = [&](TensorImpl* leaf, const Tensor& g) {
    if (!has_hooks(leaf->grad_hooks)) return sink.leaf(leaf, g);
    auto [it, fresh] = hooked_index.emplace(leaf, hooked_leaves.size());
    if (fresh)
      hooked_leaves.emplace_back(leaf, g);
    else
      hooked_leaves[it->second].second = add(hooked_leaves[it->second].second, g);
  };
  std::vector<Node*> nodes;
  std::unordered_map<Node*, Tensor> buffers;
  std::vector<Node*> stack;
  std::unordered_map<Node*, bool> seen;
  for (size_t i = 0; i < roots.size(); ++i) {
    Node* n = roots[i].grad_fn().get();
    if (!n) {  // a leaf root: its gradient is its seed
      to_leaf(roots[i].impl(), seeds[i]);
      continue;
    }
    auto b = buffers.find(n);
    if (b == buffers.end())
      buffers.emplace(n, seeds[i]);
    else
      b->second = add(b->second, seeds[i]);
    if (!seen.count(n)) {
      seen[n] = true;
      stack.push_back(n);
    }
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    nodes.push_back(n);
    for (const Edge& e : n->next())
      if (e.node && !seen.count(e.node.get())) {
        seen[e.node.get()] = true;
        stack.push_back(e.node.get());
      }
  }
  std::sort(nodes.begin(), nodes.end(), [](Node* a, Node* b) { return a->sequence() > b->sequence(); });

  for (Node* n : nodes) {
    auto it = buffers.find(n);
    if (it == buffers.end()) continue;  // nothing flowed here (every consumer's grad was undefined)
    Tensor g = std::move(it->second);
    buffers.erase(it);
    if (has_hooks(n->hooks())) g = run_grad_hooks(*n->hooks(), std::move(g));
    sink.node(n, g);
    std::vector<Tensor> grads = n->apply(g, retain_graph);
    g = Tensor();
    if (anomaly_enabled() && anomaly_check_nan())
      for (size_t i = 0; i < grads.size(); ++i)
        if (grads[i].defined() && has_nan(grads[i]))
          throw RuntimeError(
              str("Function '", backward_node_name(n->name()), "' returned nan values in its ", i, "th output.",
                  n->forward_trace().empty()
                      ? std::string(" (The node was made before anomaly detection was enabled.)")
                      : "\nTraceback of the forward call that caused the error:\n" + n->forward_trace()));
    const auto& next = n->next();
    for (size_t i = 0; i < next.size(); ++i) {
      const Tensor& gi = grads[i];
      if (!gi.defined() || !next[i].active()) continue;
      if (next[i].node) {
        Node* target = next[i].node.get();
        auto b = buffers.find(target);
        if (b == buffers.end())
          buffers.emplace(target, gi);
        else
          b->second = add(b->second, gi);
      } else {
        to_leaf(next[i].leaf.get(), gi);
      }
    }
  }
  for (auto& [leaf, g] : hooked_leaves) sink.leaf(leaf, run_grad_hooks(*leaf->grad_hooks, std::move(g)));
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad_root, bool retain_graph) {
  const Tensor seed = seed_for(root, grad_root, "backward");
  Sink sink{[](TensorImpl* leaf, const Tensor& g) { accumulate_leaf(leaf, g); },
            [](Node* n, const Tensor& g) {
              if (const auto kept = n->retained_output()) accumulate_leaf(kept.get(), g, true);
            }};
  run_engine({root}, {seed}, retain_graph, sink);
}

std::vector<Tensor> grad_of(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_roots,
                            const std::vector<Tensor>& inputs, bool retain_graph) {
  MD_CHECK(!roots.empty(), ValueError, "grad: no outputs given");
  MD_CHECK(grad_roots.size() == roots.size(), ValueError, "grad: ", grad_roots.size(), " grad_outputs for ",
           roots.size(), " outputs");
  std::vector<Tensor> seeds;
  for (size_t i = 0; i < roots.size(); ++i) seeds.push_back(seed_for(roots[i], grad_roots[i], "grad"));
  // where each input's gradient is collected: at its leaf, or at the node that made it
  std::unordered_map<const TensorImpl*, std::vector<size_t>> at_leaf;
  std::unordered_map<const Node*, std::vector<size_t>> at_node;
  for (size_t i = 0; i < inputs.size(); ++i) {
    // (a view whose base changed in place: at its fresh history, as torch's; seed 136 #215)
    MD_CHECK(inputs[i].defined() && requires_grad_now(inputs[i]), RuntimeError, "grad: input ", i,
             " does not require grad");
    if (inputs[i].grad_fn())
      at_node[inputs[i].grad_fn().get()].push_back(i);
    else
      at_leaf[inputs[i].impl()].push_back(i);
  }
  std::vector<Tensor> out(inputs.size());
  auto collect = [&out](const std::vector<size_t>& where, const Tensor& g) {
    for (size_t i : where) out[i] = out[i].defined() ? add(out[i], g) : clone(g);
  };
  Sink sink{[&](TensorImpl* leaf, const Tensor& g) {
              if (auto it = at_leaf.find(leaf); it != at_leaf.end()) collect(it->second, g);
            },
            [&](Node* n, const Tensor& g) {
              if (auto it = at_node.find(n); it != at_node.end()) collect(it->second, g);
              // as torch's: a tensor that retains its gradient gets it from this pass too
              if (const auto kept = n->retained_output()) accumulate_leaf(kept.get(), g, true);
            }};
  run_engine(roots, seeds, retain_graph, sink);
  return out;
}

uint64_t next_hook_id() { return g_hook_ids.fetch_add(1, std::memory_order_relaxed); }

HookHandle register_grad_hook(const Tensor& t, GradHook hook) {
  MD_CHECK(t.defined() && requires_grad_now(t), RuntimeError,
           "register_hook: cannot register a hook on a tensor that doesn't require gradient");
  std::shared_ptr<GradHookList>& list = t.grad_fn() ? t.grad_fn()->hooks() : t.impl()->grad_hooks;
  if (!list) list = std::make_shared<GradHookList>();
  const uint64_t id = next_hook_id();
  list->hooks.emplace_back(id, std::move(hook));
  std::weak_ptr<GradHookList> weak = list;
  return HookHandle{id, [weak, id] {
                      if (const auto l = weak.lock())
                        l->hooks.erase(std::remove_if(l->hooks.begin(), l->hooks.end(),
                                                      [id](const auto& h) { return h.first == id; }),
                                       l->hooks.end());
                    }};
}

void retain_grad(const Tensor& t) {
  MD_CHECK(t.defined() && requires_grad_now(t), RuntimeError,
           "retain_grad: can't retain_grad on a tensor that has requires_grad=False");
  if (t.grad_fn()) t.grad_fn()->retain_output(t.impl_ptr());
}

void keep_retained(const Tensor& t, const std::shared_ptr<Node>& old_grad_fn) {
  if (old_grad_fn && old_grad_fn->retained_output().get() == t.impl() && t.grad_fn() && t.grad_fn() != old_grad_fn) {
    old_grad_fn->retain_output(nullptr);  // the old value's gradient is not the tensor's any more
    t.grad_fn()->retain_output(t.impl_ptr());
  }
}

bool retains_grad(const Tensor& t) {
  return t.defined() && t.grad_fn() && t.grad_fn()->retained_output().get() == t.impl();
}

}  // namespace md
