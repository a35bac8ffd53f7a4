// md.nn bindings: the Module base (subclassable from Python, with attribute registration as in
// PyTorch), the layers, the diffusers blocks and UNet2DModel.
#include "bind.h"
#include "nn/layers.h"
#include "nn/unet2d.h"

namespace md::python {

using namespace md::nn;

namespace {

using ModulePtr = std::shared_ptr<Module>;

py::object ordered_dict(const NamedTensors& items) {
  py::object od = py::module_::import("collections").attr("OrderedDict")();
  for (const auto& kv : items) od[py::str(kv.first)] = py::cast(kv.second);
  return od;
}

py::list named_list(const NamedTensors& items, const std::string& prefix) {
  py::list out;
  for (const auto& kv : items)
    out.append(py::make_tuple(prefix.empty() ? kv.first : prefix + "." + kv.first, kv.second));
  return out;
}

// Timestep argument of UNet2DModel.forward: a Python number, a NumPy value or a Tensor.
Tensor timestep_tensor(const py::object& t, const Tensor& sample) {
  if (py::isinstance<Tensor>(t)) return t.cast<Tensor>();
  if (py::isinstance<py::int_>(t) && !py::isinstance<py::bool_>(t)) {
    const int64_t v = t.cast<int64_t>();
    return from_host(&v, {}, DType::Int64, sample.device());
  }
  if (py::isinstance<py::float_>(t)) {
    // diffusers turns a Python number into a long tensor, truncating fractions
    const int64_t v = static_cast<int64_t>(t.cast<double>());
    return from_host(&v, {}, DType::Int64, sample.device());
  }
  return tensor_from_python(t, py::none(), py::str(sample.device().str()));
}

UNet2DConfig config_from_kwargs(const py::kwargs& kw) {
  UNet2DConfig c;
  std::vector<std::string> unknown;
  auto opt_int = [](const py::handle& v) -> std::optional<int64_t> {
    if (v.is_none()) return std::nullopt;
    return v.cast<int64_t>();
  };
  auto opt_str = [](const py::handle& v) -> std::optional<std::string> {
    if (v.is_none()) return std::nullopt;
    return v.cast<std::string>();
  };
  for (auto item : kw) {
    const std::string k = item.first.cast<std::string>();
    const py::handle v = item.second;
    try {
      if (k == "sample_size") {
        if (v.is_none())
          c.sample_size.reset();
        else if (py::isinstance<py::sequence>(v))
          c.sample_size = v.cast<std::vector<int64_t>>().at(0);
        else
          c.sample_size = v.cast<int64_t>();
      } else if (k == "in_channels")
        c.in_channels = v.cast<int64_t>();
      else if (k == "out_channels")
        c.out_channels = v.cast<int64_t>();
      else if (k == "center_input_sample")
        c.center_input_sample = v.cast<bool>();
      else if (k == "time_embedding_type")
        c.time_embedding_type = v.cast<std::string>();
      else if (k == "time_embedding_dim")
        c.time_embedding_dim = opt_int(v);
      else if (k == "freq_shift")
        c.freq_shift = v.cast<double>();
      else if (k == "flip_sin_to_cos")
        c.flip_sin_to_cos = v.cast<bool>();
      else if (k == "down_block_types")
        c.down_block_types = v.cast<std::vector<std::string>>();
      else if (k == "mid_block_type")
        c.mid_block_type = opt_str(v);
      else if (k == "up_block_types")
        c.up_block_types = v.cast<std::vector<std::string>>();
      else if (k == "block_out_channels")
        c.block_out_channels = v.cast<std::vector<int64_t>>();
      else if (k == "layers_per_block")
        c.layers_per_block = v.cast<int64_t>();
      else if (k == "mid_block_scale_factor")
        c.mid_block_scale_factor = v.cast<double>();
      else if (k == "downsample_padding")
        c.downsample_padding = v.cast<int64_t>();
      else if (k == "downsample_type")
        c.downsample_type = v.cast<std::string>();
      else if (k == "upsample_type")
        c.upsample_type = v.cast<std::string>();
      else if (k == "dropout")
        c.dropout = v.cast<double>();
      else if (k == "act_fn")
        c.act_fn = v.cast<std::string>();
      else if (k == "attention_head_dim")
        c.attention_head_dim = opt_int(v);
      else if (k == "norm_num_groups")
        c.norm_num_groups = v.cast<int64_t>();
      else if (k == "attn_norm_num_groups")
        c.attn_norm_num_groups = opt_int(v);
      else if (k == "norm_eps")
        c.norm_eps = v.cast<double>();
      else if (k == "resnet_time_scale_shift")
        c.resnet_time_scale_shift = v.cast<std::string>();
      else if (k == "add_attention")
        c.add_attention = v.cast<bool>();
      else if (k == "class_embed_type")
        c.class_embed_type = opt_str(v);
      else if (k == "num_class_embeds")
        c.num_class_embeds = opt_int(v);
      else if (k == "num_train_timesteps")
        c.num_train_timesteps = opt_int(v);
      else
        unknown.push_back(k);
    } catch (const py::cast_error&) {
      throw TypeError(
          str("UNet2DModel: config field '", k, "' has a value of the wrong type: ", std::string(py::repr(v))));
    }
  }
  if (!unknown.empty()) {
    std::string s;
    for (size_t i = 0; i < unknown.size(); ++i) s += (i ? ", " : "") + unknown[i];
    throw ValueError("UNet2DModel: unknown config fields: " + s);
  }
  return c;
}

py::dict config_to_dict(const UNet2DConfig& c) {
  py::dict d;
  auto opt = [](const auto& o) -> py::object { return o ? py::cast(*o) : py::none(); };
  d["sample_size"] = opt(c.sample_size);
  d["in_channels"] = c.in_channels;
  d["out_channels"] = c.out_channels;
  d["center_input_sample"] = c.center_input_sample;
  d["time_embedding_type"] = c.time_embedding_type;
  d["time_embedding_dim"] = opt(c.time_embedding_dim);
  d["freq_shift"] = c.freq_shift;
  d["flip_sin_to_cos"] = c.flip_sin_to_cos;
  d["down_block_types"] = py::tuple(py::cast(c.down_block_types));
  d["mid_block_type"] = opt(c.mid_block_type);
  d["up_block_types"] = py::tuple(py::cast(c.up_block_types));
  d["block_out_channels"] = py::tuple(py::cast(c.block_out_channels));
  d["layers_per_block"] = c.layers_per_block;
  d["mid_block_scale_factor"] = c.mid_block_scale_factor;
  d["downsample_padding"] = c.downsample_padding;
  d["downsample_type"] = c.downsample_type;
  d["upsample_type"] = c.upsample_type;
  d["dropout"] = c.dropout;
  d["act_fn"] = c.act_fn;
  d["attention_head_dim"] = opt(c.attention_head_dim);
  d["norm_num_groups"] = c.norm_num_groups;
  d["attn_norm_num_groups"] = opt(c.attn_norm_num_groups);
  d["norm_eps"] = c.norm_eps;
  d["resnet_time_scale_shift"] = c.resnet_time_scale_shift;
  d["add_attention"] = c.add_attention;
  d["class_embed_type"] = opt(c.class_embed_type);
  d["num_class_embeds"] = opt(c.num_class_embeds);
  d["num_train_timesteps"] = opt(c.num_train_timesteps);
  return d;
}

// The C++ module behind a Python one, or null while a subclass's __init__ runs before it called
// super().__init__() (its C++ part does not exist yet: using it would read unset memory).
Module* built_module(const py::object& self) {
  auto* inst = reinterpret_cast<py::detail::instance*>(self.ptr());
  const auto vh = inst->get_value_and_holder(nullptr, false);
  if (!vh || !vh.holder_constructed()) return nullptr;
  return self.cast<Module*>();
}

// A forward hook written in Python. Called from native forwards (a child of a native model) with
// the forward's tensors, and from Module.__call__ (any module called from Python) with its Python
// arguments; holds the function so that the GIL is held wherever it is released.
struct PyForwardHook : ForwardHook {
  std::shared_ptr<py::function> fn;
  bool pre, with_kwargs;

  PyForwardHook(const py::function& f, bool is_pre, bool kwargs)
      : fn(new py::function(f),
           [](py::function* p) {
             if (!Py_IsInitialized()) return;  // a module outliving the interpreter leaks its hook
             py::gil_scoped_acquire gil;
             delete p;
           }),
        pre(is_pre),
        with_kwargs(kwargs) {}

  std::string name() const { return py::str(getattr(*fn, "__name__", py::str("hook"))); }

  static py::object module_object(const Module& m) {
    return py::cast(std::const_pointer_cast<Module>(m.shared_from_this()));
  }

  static py::tuple as_tuple(const std::vector<Tensor>& args) {
    py::tuple t(args.size());
    for (size_t i = 0; i < args.size(); ++i) t[i] = args[i].defined() ? py::cast(args[i]) : py::none();
    return t;
  }

  // What the pre-hook gives back, as torch reads it: None keeps the arguments, a tuple replaces
  // them, anything else is the one argument (with_kwargs: an (args, kwargs) pair).
  py::object call_pre(const py::object& self, py::tuple& args, py::dict& kwargs) const {
    py::object r = with_kwargs ? (*fn)(self, args, kwargs) : (*fn)(self, args);
    if (r.is_none()) return r;
    if (with_kwargs) {
      if (!py::isinstance<py::tuple>(r) || py::len(r) != 2)
        throw py::type_error(str("forward pre-hook '", name(),
                                 "' registered with with_kwargs=True must return None or a tuple of (new_args, "
                                 "new_kwargs)"));
      args = py::tuple(r.cast<py::tuple>()[0]);
      kwargs = r.cast<py::tuple>()[1].cast<py::dict>();
    } else {
      args = py::isinstance<py::tuple>(r) ? r.cast<py::tuple>() : py::make_tuple(r);
    }
    return r;
  }

  py::object call_post(const py::object& self, const py::tuple& args, const py::dict& kwargs,
                       const py::object& out) const {
    return with_kwargs ? (*fn)(self, args, kwargs, out) : (*fn)(self, args, out);
  }

  std::optional<std::vector<Tensor>> before(const Module& m, const std::vector<Tensor>& args) override {
    py::gil_scoped_acquire gil;
    py::tuple a = as_tuple(args);
    py::dict kw;
    if (call_pre(module_object(m), a, kw).is_none()) return std::nullopt;
    if (py::len(a) != args.size() || !kw.empty())
      throw py::type_error(str("forward pre-hook '", name(), "' of ", m.type_name(), " returned ", py::len(a),
                               " arguments (and ", py::len(kw), " keyword arguments) for its ", args.size(),
                               " tensors; inside a native model a hook may replace the tensors only"));
    std::vector<Tensor> out;
    for (auto item : a) {
      if (item.is_none()) {
        out.emplace_back();
        continue;
      }
      if (!py::isinstance<Tensor>(item))
        throw py::type_error(str("forward pre-hook '", name(), "' of ", m.type_name(), " returned a ",
                                 std::string(py::str(py::type::of(item).attr("__name__"))), " where a tensor goes"));
      out.push_back(item.cast<Tensor>());
    }
    return out;
  }

  Tensor after(const Module& m, const std::vector<Tensor>& args, const Tensor& out) override {
    py::gil_scoped_acquire gil;
    py::object r = call_post(module_object(m), as_tuple(args), py::dict(), py::cast(out));
    if (r.is_none()) return Tensor();
    if (!py::isinstance<Tensor>(r))
      throw py::type_error(str("forward hook '", name(), "' of ", m.type_name(), " returned a ",
                               std::string(py::str(py::type::of(r).attr("__name__"))),
                               "; inside a native model a hook may replace the output with a tensor only"));
    return r.cast<Tensor>();
  }
};

// Module backward hooks, as torch's register_full_backward_hook / register_full_backward_pre_hook.
// Each call of the module passes its tensor inputs that require grad and its output through
// identity nodes (identity_node) whose gradient hooks see the gradients: the pre-hook gets
// grad_output (and may replace it); the full hook gets grad_input and grad_output once every such
// input has its gradient (or, when none requires grad, as soon as grad_output is known, with None
// for each input) and may replace grad_input.
struct PyBackwardHook : ForwardHook {
  std::shared_ptr<py::function> fn;
  bool pre;  // hook(module, grad_output) rather than hook(module, grad_input, grad_output)

  struct Call {  // one call of the module, from its forward to its backward
    std::weak_ptr<const Module> module;
    std::vector<Tensor> grad_input;  // an undefined one for an input without a gradient
    size_t expected = 0, received = 0;
    Tensor grad_output;
  };
  std::vector<std::shared_ptr<Call>> open;  // the calls whose forward is running (nested calls stack)

  PyBackwardHook(const py::function& f, bool is_pre)
      : fn(new py::function(f),
           [](py::function* p) {
             if (!Py_IsInitialized()) return;
             py::gil_scoped_acquire gil;
             delete p;
           }),
        pre(is_pre) {}

  static std::string name(const py::function& f) { return py::str(getattr(f, "__name__", py::str("hook"))); }

  static py::tuple grads(const std::vector<Tensor>& gs) {
    py::tuple t(gs.size());
    for (size_t i = 0; i < gs.size(); ++i) t[i] = gs[i].defined() ? py::cast(gs[i]) : py::none();
    return t;
  }

  // A hook's result: None keeps the gradients, else a tuple with one entry per gradient.
  static std::optional<std::vector<Tensor>> read(const py::function& f, const py::object& r, size_t n,
                                                 const char* what) {
    if (r.is_none()) return std::nullopt;
    if (!py::isinstance<py::tuple>(r) && !py::isinstance<py::list>(r))
      throw py::type_error(str("backward hook '", name(f), "' must return None or a tuple of ", what));
    py::sequence seq = r.cast<py::sequence>();
    if (seq.size() != n)
      throw py::type_error(str("backward hook '", name(f), "' returned ", seq.size(), " ", what, " for ", n));
    std::vector<Tensor> out;
    for (auto item : seq) out.push_back(item.is_none() ? Tensor() : item.cast<Tensor>());
    return out;
  }

  std::optional<std::vector<Tensor>> before(const Module& m, const std::vector<Tensor>& args) override {
    if (pre) return std::nullopt;  // a pre-hook needs the output only
    auto call = std::make_shared<Call>();
    call->module = m.shared_from_this();
    call->grad_input.resize(args.size());
    open.push_back(call);
    if (!grad_enabled()) return std::nullopt;
    std::vector<Tensor> out = args;
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].defined() || !requires_grad_now(args[i])) continue;
      out[i] = identity_node(args[i], "BackwardHookFunction");
      ++call->expected;
      register_grad_hook(out[i], [this_fn = fn, call, i](const Tensor& g) -> Tensor {
        call->grad_input[i] = g;
        if (++call->received < call->expected) return Tensor();
        py::gil_scoped_acquire gil;
        const auto mod = call->module.lock();
        if (!mod) return Tensor();
        py::object r =
            (*this_fn)(py::cast(std::const_pointer_cast<Module>(mod)), grads(call->grad_input),
                       py::make_tuple(call->grad_output.defined() ? py::cast(call->grad_output) : py::none()));
        const auto changed = read(*this_fn, r, call->grad_input.size(), "gradients of the inputs");
        if (!changed) return Tensor();
        if (call->expected > 1)
          throw py::type_error(str("backward hook '", name(*this_fn),
                                   "': replacing grad_input is supported for modules with one input that "
                                   "requires grad"));
        return (*changed)[i];
      });
    }
    return out;
  }

  Tensor after(const Module& m, const std::vector<Tensor>&, const Tensor& out) override {
    std::shared_ptr<Call> call;
    if (!pre) {
      if (open.empty()) return Tensor();
      call = open.back();
      open.pop_back();
    }
    if (!grad_enabled() || !out.defined() || !requires_grad_now(out)) return Tensor();
    Tensor hooked = identity_node(out, "BackwardHookFunction");
    std::weak_ptr<const Module> module = m.shared_from_this();
    register_grad_hook(hooked, [this_fn = fn, is_pre = pre, call, module](const Tensor& g) -> Tensor {
      py::gil_scoped_acquire gil;
      const auto mod = module.lock();
      if (!mod) return Tensor();
      py::object me = py::cast(std::const_pointer_cast<Module>(mod));
      if (is_pre) {
        const auto changed = read(*this_fn, (*this_fn)(me, py::make_tuple(g)), 1, "gradients of the output");
        return changed ? (*changed)[0] : Tensor();
      }
      call->grad_output = g;
      if (call->expected == 0) (*this_fn)(me, grads(call->grad_input), py::make_tuple(g));  // no input needs one
      return Tensor();
    });
    return hooked;
  }
};

// Module.__call__: forward with the module's hooks around it (see ForwardHooks for the order).
py::object call_module(const py::object& self, py::args args, py::kwargs kwargs) {
  Module* m = built_module(self);
  if (!m || !m->has_forward_hooks()) return self.attr("forward")(*args, **kwargs);
  const ForwardHooks hooks = m->forward_hooks();
  py::tuple a = args;
  py::dict kw = kwargs;
  for (const auto& [id, h] : hooks.pre) static_cast<PyForwardHook&>(*h).call_pre(self, a, kw);
  if (!hooks.backward.empty()) {  // the tensor arguments go through the backward hooks, the rest as they are
    std::vector<Tensor> tensors;
    for (auto item : a) tensors.push_back(py::isinstance<Tensor>(item) ? item.cast<Tensor>() : Tensor());
    tensors = wrap_inputs_for_backward(*m, hooks, tensors);
    py::tuple b(py::len(a));
    for (size_t i = 0; i < tensors.size(); ++i) b[i] = tensors[i].defined() ? py::cast(tensors[i]) : a[i];
    a = b;
  }
  py::object out = self.attr("forward")(*a, **kw);
  for (const auto& [id, h] : hooks.post) {
    py::object r = static_cast<PyForwardHook&>(*h).call_post(self, a, kw, out);
    if (!r.is_none()) out = r;
  }
  if (!hooks.backward.empty() && py::isinstance<Tensor>(out))  // a non-tensor output: nothing to hook
    out = py::cast(wrap_output_for_backward(*m, hooks, out.cast<Tensor>()));
  return out;
}

// The C++ module behind self, or an AttributeError naming the method when Module.__init__() has
// not run yet.
Module& built_or_raise(const py::object& self, const char* method) {
  Module* built = built_module(self);
  if (!built)
    throw py::attribute_error(str("'", std::string(py::str(py::type::of(self).attr("__name__"))), "'.", method,
                                  " used before Module.__init__() was called: call super().__init__() first"));
  return *built;
}

// A layer just built (its parameters made on the CPU, in float32) moved to `device`, or else to the
// default device (md.set_default_device, `with md.device(...)`), as torch's factory arguments;
// `dtype` must be float32, the one parameter dtype here.
template <class Layer>
std::shared_ptr<Layer> placed(std::shared_ptr<Layer> layer, const char* name, const py::object& device = py::none(),
                              const py::object& dtype = py::none()) {
  if (!dtype.is_none()) {
    const DType d = to_dtype(dtype, DType::Float32);
    MD_CHECK(d == DType::Float32, TypeError, name, ": parameters are float32 here; dtype ", dtype_name(d),
             " is not supported (for bfloat16 training use mixed_precision='bf16', which rounds the operands of "
             "the matrix products)");
  }
  const Device target = to_device(device);
  if (target != Device{}) layer->to(target);
  return layer;
}

}  // namespace

void bind_nn(py::module_& m) {
  py::module_ nn = m.def_submodule("nn", "modules");
  using RG = py::call_guard<py::gil_scoped_release>;

  nn.def(
      "Parameter",
      [](const Tensor& t, bool requires_grad) {
        // as torch.nn.Parameter(t): a new tensor sharing t's storage, so t's own requires_grad
        // is left alone (a parameter passed in stays what it was)
        check_float("Parameter", t, "data");
        Tensor p = t.detach();
        p.impl()->is_param = true;
        p.impl()->requires_grad = requires_grad;
        return p;
      },
      py::arg("data"), py::arg("requires_grad") = true, "Marks a tensor as a parameter (a leaf that requires grad)");

  py::class_<Module, ModulePtr> mod(nn, "Module", py::dynamic_attr());
  mod.def(py::init<>())
      .def("__setattr__",
           [](py::object self, const std::string& name, py::object value) {
             Module* built = built_module(self);
             const bool registered = py::isinstance<Module>(value) ||
                                     (py::isinstance<Tensor>(value) && value.cast<Tensor>().impl()->is_param);
             if (!built && registered)
               throw py::attribute_error(str("cannot assign '", name, "' (a ",
                                             py::isinstance<Module>(value) ? "module" : "parameter",
                                             ") before Module.__init__() is called: call super().__init__() first"));
             if (!built) {
               py::module_::import("builtins").attr("object").attr("__setattr__")(self, name, value);
               return;
             }
             Module& me = *built;
             if (py::isinstance<Module>(value)) {
               me.register_module(name, value.cast<ModulePtr>());
             } else if (py::isinstance<Tensor>(value) && value.cast<Tensor>().impl()->is_param) {
               me.register_parameter(name, value.cast<Tensor>());
             } else if (value.is_none() && (me.child(name) || me.has_parameter(name))) {
               me.unregister(name);
             } else if (py::isinstance<Tensor>(value) && me.has_parameter(name)) {
               // as torch: the parameter would stay registered with its old value under the new attribute
               throw py::type_error(str("cannot assign a plain tensor to parameter '", name,
                                        "' (md.nn.Parameter or None expected; to change its values, use "
                                        "copy_ under no_grad)"));
             }
             py::module_::import("builtins").attr("object").attr("__setattr__")(self, name, value);
           })
      .def("__getattr__",
           [](py::object self, const std::string& name) -> py::object {
             // only reached when normal lookup fails: C++-registered children, parameters and buffers
             Module* built = built_module(self);
             if (!built)
               throw py::attribute_error(str("'", std::string(py::str(py::type::of(self).attr("__name__"))),
                                             "' object has no attribute '", name,
                                             "' (Module.__init__() has not been called)"));
             Module& me = *built;
             if (auto c = me.child(name)) return py::cast(c);
             Tensor p = me.parameter(name);
             if (p.defined()) return py::cast(p);
             Tensor b = me.buffer(name);
             if (b.defined()) return py::cast(b);
             if (me.is_absent(name)) return py::none();
             throw py::attribute_error("'" + std::string(py::str(py::type::of(self).attr("__name__"))) +
                                       "' object has no attribute '" + name + "'");
           })
      .def("__call__", &call_module)
      .def(
          "register_forward_pre_hook",
          [](const py::object& self, const py::function& hook, bool prepend, bool with_kwargs) {
            return built_or_raise(self, "register_forward_pre_hook")
                .add_forward_hook(std::make_shared<PyForwardHook>(hook, true, with_kwargs), true, prepend);
          },
          py::arg("hook"), py::kw_only(), py::arg("prepend") = false, py::arg("with_kwargs") = false,
          "hook(module, args) -> None or new args, run before each forward (returns a handle)")
      .def(
          "register_forward_hook",
          [](const py::object& self, const py::function& hook, bool prepend, bool with_kwargs, bool always_call) {
            if (always_call) throw py::value_error("register_forward_hook: always_call=True is not supported");
            return built_or_raise(self, "register_forward_hook")
                .add_forward_hook(std::make_shared<PyForwardHook>(hook, false, with_kwargs), false, prepend);
          },
          py::arg("hook"), py::kw_only(), py::arg("prepend") = false, py::arg("with_kwargs") = false,
          py::arg("always_call") = false, "hook(module, args, output) -> None or a new output, run after each forward")
      .def(
          "register_full_backward_hook",
          [](const py::object& self, const py::function& hook, bool prepend) {
            return built_or_raise(self, "register_full_backward_hook")
                .add_backward_hook(std::make_shared<PyBackwardHook>(hook, false), false, prepend);
          },
          py::arg("hook"), py::kw_only(), py::arg("prepend") = false,
          "hook(module, grad_input, grad_output) -> None or new grad_input, run in each backward")
      .def(
          "register_full_backward_pre_hook",
          [](const py::object& self, const py::function& hook, bool prepend) {
            return built_or_raise(self, "register_full_backward_pre_hook")
                .add_backward_hook(std::make_shared<PyBackwardHook>(hook, true), true, prepend);
          },
          py::arg("hook"), py::kw_only(), py::arg("prepend") = false,
          "hook(module, grad_output) -> None or new grad_output, run in each backward")
      .def("forward",
           [](py::object self, py::args, py::kwargs) -> py::object {
             throw py::type_error(std::string(py::str(py::type::of(self).attr("__name__"))) +
                                  " does not define forward()");
           })
      // for the repr (minidiff/nn.py: Module.__repr__), which names modules defined in Python by
      // their class
      .def_property_readonly("_is_built", [](const py::object& self) { return built_module(self) != nullptr; })
      .def("extra_repr",
           [](const py::object& self) {
             const Module& me = built_or_raise(self, "extra_repr");
             return me.extra_repr();
           })
      .def("_type_name",
           [](const py::object& self) {
             const Module& me = built_or_raise(self, "_type_name");
             return me.type_name();
           })
      .def("register_parameter",
           [](const py::object& self, const std::string& name, const py::object& t) {
             Module& me = built_or_raise(self, "register_parameter");
             if (t.is_none())
               me.unregister(name);
             else
               me.register_parameter(name, t.cast<Tensor>());
           })
      .def(
          "register_buffer",
          [](const py::object& self, const std::string& name, const Tensor& t, bool persistent) {
            Module& me = built_or_raise(self, "register_buffer");
            me.register_buffer(name, t, persistent);
          },
          py::arg("name"), py::arg("tensor"), py::arg("persistent") = true)
      .def("add_module",
           [](const py::object& self, const std::string& name, ModulePtr c) {
             Module& me = built_or_raise(self, "add_module");
             me.register_module(name, c);
           })
      .def("register_module",
           [](const py::object& self, const std::string& name, ModulePtr c) {
             Module& me = built_or_raise(self, "register_module");
             me.register_module(name, c);
           })
      .def(
          "parameters",
          [](const py::object& self, bool recurse) {
            const Module& me = built_or_raise(self, "parameters");
            return me.parameters(recurse);
          },
          py::arg("recurse") = true)
      .def(
          "named_parameters",
          [](const py::object& self, const std::string& prefix, bool recurse) {
            const Module& me = built_or_raise(self, "named_parameters");
            return named_list(me.named_parameters(recurse), prefix);
          },
          py::arg("prefix") = "", py::arg("recurse") = true)
      .def("buffers",
           [](const py::object& self) {
             const Module& me = built_or_raise(self, "buffers");
             std::vector<Tensor> out;
             for (auto& kv : me.named_buffers()) out.push_back(kv.second);
             return out;
           })
      .def("named_buffers",
           [](const py::object& self) {
             const Module& me = built_or_raise(self, "named_buffers");
             return named_list(me.named_buffers(), "");
           })
      .def("children",
           [](const py::object& self) {
             const Module& me = built_or_raise(self, "children");
             py::list out;
             for (auto& kv : me.named_children()) out.append(py::cast(kv.second));
             return out;
           })
      .def("named_children",
           [](const py::object& self) {
             const Module& me = built_or_raise(self, "named_children");
             py::list out;
             for (auto& kv : me.named_children()) out.append(py::make_tuple(kv.first, py::cast(kv.second)));
             return out;
           })
      .def("modules",
           [](py::object self) {
             py::list out;
             out.append(self);
             for (auto& kv : built_or_raise(self, "modules").named_modules()) out.append(py::cast(kv.second));
             return out;
           })
      .def("named_modules",
           [](py::object self) {
             py::list out;
             out.append(py::make_tuple("", self));
             for (auto& kv : built_or_raise(self, "named_modules").named_modules())
               out.append(py::make_tuple(kv.first, py::cast(kv.second)));
             return out;
           })
      .def("state_dict",
           [](const py::object& self) {
             const Module& me = built_or_raise(self, "state_dict");
             return ordered_dict(me.state_dict());
           })
      .def(
          "load_state_dict",
          [](const py::object& self, const py::dict& sd, bool strict) {
            Module& me = built_or_raise(self, "load_state_dict");
            std::map<std::string, Tensor> tensors;
            for (auto item : sd) {
              const std::string k = item.first.cast<std::string>();
              tensors[k] = py::isinstance<Tensor>(item.second)
                               ? item.second.cast<Tensor>()
                               : tensor_from_python(item.second, py::str("float32"), py::none());
            }
            Module::LoadResult r;
            {
              py::gil_scoped_release release;
              r = me.load_state_dict(tensors, strict);
            }
            py::object nt =
                py::module_::import("collections")
                    .attr("namedtuple")("IncompatibleKeys", py::make_tuple("missing_keys", "unexpected_keys"));
            return nt(py::cast(r.missing_keys), py::cast(r.unexpected_keys));
          },
          py::arg("state_dict"), py::arg("strict") = true)
      .def(
          "train",
          [](py::object self, bool on) {
            built_or_raise(self, "train").train(on);
            return self;
          },
          py::arg("mode") = true)
      .def("eval",
           [](py::object self) {
             built_or_raise(self, "eval").train(false);
             return self;
           })
      .def_property(
          "training", [](const py::object& self) { return built_or_raise(self, "training").is_training(); },
          [](const py::object& self, bool on) { built_or_raise(self, "training").set_training_flag(on); })
      .def(
          "to",
          [](py::object self, const py::object& device) {
            Module& me = built_or_raise(self, "to");
            const Device d = to_device(device);
            py::gil_scoped_release release;
            me.to(d);
            return self;
          },
          py::arg("device"))
      .def("cuda",
           [](py::object self) {
             Module& me = built_or_raise(self, "cuda");
             {
               py::gil_scoped_release release;
               me.to(Device{DeviceType::CUDA, 0});
             }
             return self;
           })
      .def("cpu",
           [](py::object self) {
             Module& me = built_or_raise(self, "cpu");
             {
               py::gil_scoped_release release;
               me.to(Device{});
             }
             return self;
           })
      .def_property_readonly("device", [](const py::object& self) { return built_or_raise(self, "device").device(); })
      .def(
          "zero_grad",
          [](const py::object& self, bool set_to_none) {
            Module& me = built_or_raise(self, "zero_grad");
            me.zero_grad(set_to_none);
          },
          py::arg("set_to_none") = true,
          "Zeroes every .grad in place (gradients are kept, as views of the optimizer's arena)")
      .def("num_parameters",
           [](const py::object& self) { return built_or_raise(self, "num_parameters").num_parameters(); })
      // copy.deepcopy support (python/minidiff/nn.py): a native layer copies itself in C++; a
      // module defined in Python is rebuilt from these lists.
      .def("_deep_copy",
           [](const py::object& self) {
             const Module& me = built_or_raise(self, "_deep_copy");
             py::gil_scoped_release release;
             return me.deep_copy();
           })
      .def("_own_buffers",
           [](const py::object& self) {
             const Module& me = built_or_raise(self, "_own_buffers");
             py::list out;
             for (const auto& b : me.own_buffers())
               out.append(py::make_tuple(std::get<0>(b), std::get<1>(b), std::get<2>(b)));
             return out;
           })
      .def("_absent_names",
           [](const py::object& self) {
             const Module& me = built_or_raise(self, "_absent_names");
             return me.absent_names();
           })
      .def("_declare_absent", [](const py::object& self, const std::string& name) {
        Module& me = built_or_raise(self, "_declare_absent");
        me.declare_absent(name);
      });

  py::class_<Linear, Module, std::shared_ptr<Linear>>(nn, "Linear", py::dynamic_attr())
      .def(py::init([](int64_t in, int64_t out, bool bias, const py::object& device, const py::object& dtype) {
             return placed(std::make_shared<Linear>(in, out, bias), "Linear", device, dtype);
           }),
           py::arg("in_features"), py::arg("out_features"), py::arg("bias") = true, py::kw_only(),
           py::arg("device") = py::none(), py::arg("dtype") = py::none())
      .def("forward", &Linear::forward, py::arg("input"), RG())
      .def_readonly("in_features", &Linear::in_features)
      .def_readonly("out_features", &Linear::out_features);

  py::class_<Conv2d, Module, std::shared_ptr<Conv2d>>(nn, "Conv2d", py::dynamic_attr())
      .def(py::init([](int64_t in, int64_t out, const py::object& k, const py::object& s, const py::object& p,
                       const py::object& dilation, int64_t groups, bool bias, const std::string& padding_mode,
                       const py::object& device, const py::object& dtype) {
             const char* name = "Conv2d";
             check_dilation_groups(name, dilation, groups);
             const auto kernel = to_pair(k, name, "kernel_size");
             const auto stride = to_pair(s, name, "stride");
             auto conv = std::make_shared<Conv2d>(in, out, kernel, stride, conv_padding(name, p, stride, kernel), bias,
                                                  padding_mode);
             if (py::isinstance<py::str>(p)) conv->padding_name = p.cast<std::string>();
             conv->same_extra = same_padding_extra(p, kernel);
             return placed(conv, name, device, dtype);
           }),
           py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
           py::arg("padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("bias") = true,
           py::arg("padding_mode") = "zeros", py::kw_only(), py::arg("device") = py::none(),
           py::arg("dtype") = py::none())
      .def_property_readonly("dilation", [](const Conv2d&) { return py::make_tuple(1, 1); })
      .def_property_readonly("groups", [](const Conv2d&) { return 1; })
      .def("forward", &Conv2d::forward, py::arg("input"), RG())
      .def_readonly("in_channels", &Conv2d::in_channels)
      .def_readonly("out_channels", &Conv2d::out_channels)
      .def_readonly("kernel_size", &Conv2d::kernel_size)
      .def_readonly("stride", &Conv2d::stride)
      .def_readonly("padding", &Conv2d::padding)
      .def_readonly("padding_mode", &Conv2d::padding_mode);

  py::class_<ConvTranspose2d, Module, std::shared_ptr<ConvTranspose2d>>(nn, "ConvTranspose2d", py::dynamic_attr())
      .def(py::init([](int64_t in, int64_t out, const py::object& k, const py::object& s, const py::object& p,
                       const py::object& op, int64_t groups, bool bias, const py::object& dilation,
                       const py::object& device, const py::object& dtype) {
             const char* name = "ConvTranspose2d";
             check_dilation_groups(name, dilation, groups);
             return placed(std::make_shared<ConvTranspose2d>(in, out, to_pair(k, name, "kernel_size"),
                                                             to_pair(s, name, "stride"), to_pair(p, name, "padding"),
                                                             to_pair(op, name, "output_padding"), bias),
                           name, device, dtype);
           }),
           py::arg("in_channels"), py::arg("out_channels"), py::arg("kernel_size"), py::arg("stride") = 1,
           py::arg("padding") = 0, py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("bias") = true,
           py::arg("dilation") = 1, py::kw_only(), py::arg("device") = py::none(), py::arg("dtype") = py::none())
      .def("forward", &ConvTranspose2d::forward, py::arg("input"), RG())
      .def_readonly("in_channels", &ConvTranspose2d::in_channels)
      .def_readonly("out_channels", &ConvTranspose2d::out_channels)
      .def_readonly("kernel_size", &ConvTranspose2d::kernel_size)
      .def_readonly("stride", &ConvTranspose2d::stride)
      .def_readonly("padding", &ConvTranspose2d::padding)
      .def_readonly("output_padding", &ConvTranspose2d::output_padding)
      .def_property_readonly("dilation", [](const ConvTranspose2d&) { return py::make_tuple(1, 1); })
      .def_property_readonly("groups", [](const ConvTranspose2d&) { return 1; });

  py::class_<GroupNorm, Module, std::shared_ptr<GroupNorm>>(nn, "GroupNorm", py::dynamic_attr())
      .def(py::init([](int64_t groups, int64_t channels, double eps, bool affine, bool bias, const py::object& device,
                       const py::object& dtype) {
             return placed(std::make_shared<GroupNorm>(groups, channels, eps, affine, bias), "GroupNorm", device,
                           dtype);
           }),
           py::arg("num_groups"), py::arg("num_channels"), py::arg("eps") = 1e-5, py::arg("affine") = true,
           py::kw_only(), py::arg("bias") = true, py::arg("device") = py::none(), py::arg("dtype") = py::none())
      .def("forward", &GroupNorm::forward, py::arg("input"), RG())
      .def("forward_silu", &GroupNorm::forward_silu, RG())
      .def_readonly("num_groups", &GroupNorm::num_groups)
      .def_readonly("num_channels", &GroupNorm::num_channels)
      .def_readonly("eps", &GroupNorm::eps)
      .def_readonly("affine", &GroupNorm::affine);

  py::class_<LayerNorm, Module, std::shared_ptr<LayerNorm>>(nn, "LayerNorm", py::dynamic_attr())
      .def(py::init([](const py::object& shape, double eps, bool affine, bool bias, const py::object& device,
                       const py::object& dtype) {
             return placed(std::make_shared<LayerNorm>(to_shape(shape, "LayerNorm"), eps, affine, bias), "LayerNorm",
                           device, dtype);
           }),
           py::arg("normalized_shape"), py::arg("eps") = 1e-5, py::arg("elementwise_affine") = true,
           py::arg("bias") = true, py::kw_only(), py::arg("device") = py::none(), py::arg("dtype") = py::none())
      .def("forward", &LayerNorm::forward, py::arg("input"), RG())
      .def_property_readonly("normalized_shape",
                             [](const LayerNorm& m) { return py::tuple(py::cast(m.normalized_shape)); })
      .def_readonly("eps", &LayerNorm::eps)
      .def_readonly("elementwise_affine", &LayerNorm::elementwise_affine);

  py::class_<SiLU, Module, std::shared_ptr<SiLU>>(nn, "SiLU", py::dynamic_attr())
      .def(py::init<>())
      .def("forward", &SiLU::forward, py::arg("input"), RG());
  py::class_<Identity, Module, std::shared_ptr<Identity>>(nn, "Identity", py::dynamic_attr())
      .def(py::init([](py::args, py::kwargs) { return std::make_shared<Identity>(); }))
      .def("forward", &Identity::forward, py::arg("input"));
  py::class_<Dropout, Module, std::shared_ptr<Dropout>>(nn, "Dropout", py::dynamic_attr())
      .def(py::init<double, bool>(), py::arg("p") = 0.5, py::arg("inplace") = false)
      .def(
          "forward",
          [](const py::object& self, const py::object& input) -> py::object {
            const Dropout& d = self.cast<const Dropout&>();
            Tensor x = input.cast<Tensor>();
            Tensor out;
            {
              py::gil_scoped_release release;
              out = d.forward(x);
            }
            if (!d.inplace || out.impl() == x.impl()) return py::cast(out);
            // inplace=True: the result written into the input, with Tensor._inplace_'s rules
            return input.attr("_inplace_")("dropout_", py::cpp_function([out]() { return out; }), false);
          },
          py::arg("input"))
      .def_readwrite("p", &Dropout::p)
      .def_readonly("inplace", &Dropout::inplace);
  py::class_<Embedding, Module, std::shared_ptr<Embedding>>(nn, "Embedding", py::dynamic_attr())
      .def(
          py::init([](int64_t n, int64_t d, const py::object& padding_idx, const py::object& max_norm, double norm_type,
                      bool scale_grad_by_freq, bool sparse, const py::object& device, const py::object& dtype) {
            MD_CHECK(max_norm.is_none(), ValueError, "Embedding: max_norm (renormalising rows) is not supported");
            (void)norm_type;  // only read with max_norm
            int64_t p = -1;
            if (!padding_idx.is_none()) {
              p = padding_idx.cast<int64_t>();
              MD_CHECK(p >= -n && p < n, ValueError, "Embedding: padding_idx must be within num_embeddings (", n,
                       "), got ", p);
              if (p < 0) p += n;
            }
            auto e = std::make_shared<Embedding>(n, d, p);
            e->scale_grad_by_freq = scale_grad_by_freq;
            e->sparse = sparse;
            return placed(e, "Embedding", device, dtype);
          }),
          py::arg("num_embeddings"), py::arg("embedding_dim"), py::arg("padding_idx") = py::none(),
          py::arg("max_norm") = py::none(), py::arg("norm_type") = 2.0, py::arg("scale_grad_by_freq") = false,
          py::arg("sparse") = false, py::kw_only(), py::arg("device") = py::none(), py::arg("dtype") = py::none())
      .def("forward", &Embedding::forward, py::arg("input"), RG())
      .def_property_readonly(
          "padding_idx",
          [](const Embedding& e) -> py::object { return e.padding_idx < 0 ? py::none() : py::cast(e.padding_idx); })
      .def_readonly("num_embeddings", &Embedding::num_embeddings)
      .def_readonly("embedding_dim", &Embedding::embedding_dim)
      .def_readwrite("scale_grad_by_freq", &Embedding::scale_grad_by_freq)
      .def_readwrite("sparse", &Embedding::sparse);

  py::class_<ModuleList, Module, std::shared_ptr<ModuleList>>(nn, "ModuleList", py::dynamic_attr())
      .def(py::init([](const py::object& modules) {
             auto l = std::make_shared<ModuleList>();
             if (!modules.is_none())
               for (auto item : modules) l->append(item.cast<ModulePtr>());
             return l;
           }),
           py::arg("modules") = py::none())
      .def("append",
           [](py::object self, ModulePtr m) {
             ModuleList& l = self.cast<ModuleList&>();
             const std::string name = std::to_string(l.size());
             self.attr("__setattr__")(name, py::cast(m));
             return self;
           })
      .def("__len__", &ModuleList::size)
      .def("__getitem__", [](const ModuleList& l, int64_t i) { return l.at(i); })
      .def("__iter__", [](const ModuleList& l) {
        py::list out;
        for (size_t i = 0; i < l.size(); ++i) out.append(py::cast(l.at(static_cast<int64_t>(i))));
        return py::iter(out);
      });

  py::class_<Attention, Module, std::shared_ptr<Attention>>(nn, "Attention", py::dynamic_attr())
      .def(py::init([](int64_t query_dim, int64_t heads, int64_t dim_head, const py::object& norm_num_groups,
                       double eps, double rescale_output_factor, bool residual_connection, bool bias, double dropout) {
             std::optional<int64_t> g;
             if (!norm_num_groups.is_none()) g = norm_num_groups.cast<int64_t>();
             return placed(std::make_shared<Attention>(query_dim, heads, dim_head, g, eps, rescale_output_factor,
                                                       residual_connection, bias, dropout),
                           "Attention");
           }),
           py::arg("query_dim"), py::arg("heads") = 8, py::arg("dim_head") = 64,
           py::arg("norm_num_groups") = py::none(), py::arg("eps") = 1e-5, py::arg("rescale_output_factor") = 1.0,
           // bias: of to_q/k/v; False by default, as in diffusers (the U-Net's blocks pass True)
           py::arg("residual_connection") = false, py::arg("bias") = false, py::arg("dropout") = 0.0)
      .def("forward", &Attention::forward, RG())
      .def_readonly("heads", &Attention::heads)
      .def_readonly("dim_head", &Attention::dim_head);

  // diffusers blocks (constructed by UNet2DModel; bound for inspection and block-level use)
  py::class_<Timesteps, Module, std::shared_ptr<Timesteps>>(nn, "Timesteps", py::dynamic_attr())
      .def(py::init<int64_t, bool, double>(), py::arg("num_channels"), py::arg("flip_sin_to_cos"),
           py::arg("downscale_freq_shift"))
      .def("forward", &Timesteps::forward, RG());
  py::class_<TimestepEmbedding, Module, std::shared_ptr<TimestepEmbedding>>(nn, "TimestepEmbedding", py::dynamic_attr())
      .def(py::init([](int64_t in, int64_t dim) {
             return placed(std::make_shared<TimestepEmbedding>(in, dim), "TimestepEmbedding");
           }),
           py::arg("in_channels"), py::arg("time_embed_dim"))
      .def("forward", &TimestepEmbedding::forward, RG());
  py::class_<ResnetBlock2D, Module, std::shared_ptr<ResnetBlock2D>>(nn, "ResnetBlock2D", py::dynamic_attr())
      .def(
          "forward", [](const ResnetBlock2D& b, const Tensor& x, const Tensor& temb) { return b.forward(x, temb); },
          py::arg("input_tensor"), py::arg("temb"), RG());
  py::class_<Downsample2D, Module, std::shared_ptr<Downsample2D>>(nn, "Downsample2D", py::dynamic_attr())
      .def("forward", &Downsample2D::forward, RG());
  py::class_<Upsample2D, Module, std::shared_ptr<Upsample2D>>(nn, "Upsample2D", py::dynamic_attr())
      .def("forward", &Upsample2D::forward, RG());
  py::class_<DownBlock, Module, std::shared_ptr<DownBlock>>(nn, "DownBlock2D", py::dynamic_attr());
  py::class_<UNetMidBlock2D, Module, std::shared_ptr<UNetMidBlock2D>>(nn, "UNetMidBlock2D", py::dynamic_attr());
  py::class_<UpBlock, Module, std::shared_ptr<UpBlock>>(nn, "UpBlock2D", py::dynamic_attr());

  py::class_<UNet2DModel, Module, std::shared_ptr<UNet2DModel>>(nn, "UNet2DModel", py::dynamic_attr())
      .def(py::init([](const py::kwargs& kw) {
        return placed(std::make_shared<UNet2DModel>(config_from_kwargs(kw)), "UNet2DModel");
      }))
      .def(
          "forward",
          [](const UNet2DModel& model, const Tensor& sample, const py::object& timestep, const py::object& class_labels,
             bool return_dict) -> py::object {
            Tensor t = timestep_tensor(timestep, sample);
            Tensor labels;
            if (!class_labels.is_none())
              labels = py::isinstance<Tensor>(class_labels)
                           ? class_labels.cast<Tensor>()
                           : tensor_from_python(class_labels, py::none(), py::str(sample.device().str()));
            Tensor out;
            {
              py::gil_scoped_release release;
              out = model.forward(sample, t, labels);
            }
            // diffusers: an output whose .sample is the tensor (the tensor itself here), or a tuple
            if (!return_dict) return py::make_tuple(out);
            return py::cast(out);
          },
          py::arg("sample"), py::arg("timestep"), py::arg("class_labels") = py::none(), py::arg("return_dict") = true)
      .def_property_readonly("_config_dict", [](const UNet2DModel& model) { return config_to_dict(model.config()); })
      .def_static(
          "_config_fields",
          []() {
            py::list names;
            for (auto item : config_to_dict(UNet2DConfig{})) names.append(item.first);
            return names;
          },
          "The config field names the model is built from");
}

}  // namespace md::python
