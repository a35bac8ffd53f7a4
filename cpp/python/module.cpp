// minidiff._core: exception translation, grad mode, generators, creation functions, device
// queries and build information. Tensor, functional, nn and optim bindings live beside this file.
#include <cblas.h>
#include <omp.h>
#include <limits>
#include <mutex>
#include <set>

#include "bind.h"
#include "core/allocator.h"
#include "core/profiler.h"
#include "kernels.h"
#include "runtime.h"

namespace md::python {

namespace {
// The device of tensors and layers made without one named, as torch's set_default_device; and the
// defaults that the `with md.device(...)` blocks now open replaced, innermost last. (Read and
// changed under the GIL only.)
Device g_default_device;
std::vector<Device> g_replaced_defaults;
}  // namespace

Device to_device(const py::handle& obj, std::optional<Device> fallback) {
  if (obj.is_none()) return fallback ? *fallback : g_default_device;
  if (py::isinstance<Device>(obj)) return obj.cast<Device>();
  if (py::isinstance<py::str>(obj)) return Device::parse(obj.cast<std::string>());
  throw TypeError(str("expected a device ('cpu', 'cuda', 'cuda:N'), got ", std::string(py::repr(obj))));
}

DType to_dtype(const py::handle& obj, DType fallback) {
  if (obj.is_none()) return fallback;
  if (py::isinstance<py::str>(obj)) return dtype_parse(obj.cast<std::string>());
  if (py::isinstance<py::dtype>(obj) || py::isinstance<py::type>(obj)) {
    py::dtype d = py::dtype::from_args(py::reinterpret_borrow<py::object>(obj));
    return dtype_parse(py::str(d).cast<std::string>());
  }
  throw TypeError(str("expected a dtype name such as 'float32', got ", std::string(py::repr(obj))));
}

namespace {
// Python ints and anything with __index__ (NumPy integers), but not bools, floats or 0-d arrays.
bool is_index(const py::handle& obj) {
  return PyIndex_Check(obj.ptr()) && !py::isinstance<py::bool_>(obj) && !py::isinstance<py::array>(obj);
}
int64_t as_index(const py::handle& obj, const char* op) {
  PyObject* raw = PyNumber_Index(obj.ptr());
  if (!raw) throw py::error_already_set();  // __index__ refused (a tensor of several elements): its error
  const auto i = py::reinterpret_steal<py::int_>(raw);
  try {
    return i.cast<int64_t>();
  } catch (const py::cast_error&) {
    throw ValueError(str(op, ": the integer ", std::string(py::repr(i)), " does not fit in int64"));
  }
}
// A seed as torch takes it: an int in [-2**63, 2**64); a negative one is read as its two's complement.
uint64_t seed_of(const py::handle& obj, const char* op) {
  if (!is_index(obj)) throw TypeError(str(op, ": the seed must be an int, got ", std::string(py::repr(obj))));
  PyObject* raw = PyNumber_Index(obj.ptr());
  if (!raw) throw py::error_already_set();
  const auto i = py::reinterpret_steal<py::int_>(raw);
  int overflow = 0;
  const long long small = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow == 0 && small < 0) return static_cast<uint64_t>(small);  // two's complement, as torch's
  if (overflow >= 0) {
    const unsigned long long big = PyLong_AsUnsignedLongLong(i.ptr());
    if (!PyErr_Occurred()) return big;
    PyErr_Clear();
  }
  throw ValueError(str(op, ": the seed ", std::string(py::repr(i)), " is outside [-2**63, 2**64)"));
}
}  // namespace

std::pair<int64_t, int64_t> to_pair(const py::handle& obj, const char* op, const char* what) {
  if (is_index(obj)) {
    const int64_t v = as_index(obj, op);
    return {v, v};
  }
  if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {
    auto seq = obj.cast<py::sequence>();
    if (seq.size() == 2 && is_index(seq[0]) && is_index(seq[1])) return {as_index(seq[0], op), as_index(seq[1], op)};
  }
  throw TypeError(str(op, ": ", what, " must be an int or a pair of ints, got ", std::string(py::repr(obj))));
}

std::pair<int64_t, int64_t> conv_padding(const char* op, const py::handle& padding, std::pair<int64_t, int64_t> stride,
                                         std::pair<int64_t, int64_t> kernel) {
  if (!py::isinstance<py::str>(padding)) return to_pair(padding, op, "padding");
  const std::string mode = padding.cast<std::string>();
  if (mode == "valid") return {0, 0};
  MD_CHECK(mode == "same", ValueError, op, ": padding must be an int, a pair, 'valid' or 'same', got '", mode, "'");
  MD_CHECK(stride.first == 1 && stride.second == 1, ValueError, op, ": padding='same' needs stride 1, got (",
           stride.first, ", ", stride.second, ")");
  // an even kernel's extra row and column go at the bottom and right (same_padding_extra), as torch's
  return {(kernel.first - 1) / 2, (kernel.second - 1) / 2};
}

std::pair<int64_t, int64_t> same_padding_extra(const py::handle& padding, std::pair<int64_t, int64_t> kernel) {
  if (!py::isinstance<py::str>(padding) || padding.cast<std::string>() != "same") return {0, 0};
  return {(kernel.first - 1) % 2, (kernel.second - 1) % 2};
}

void check_dilation_groups(const char* op, const py::handle& dilation, int64_t groups) {
  MD_CHECK(groups == 1, ValueError, op, ": only groups=1 is supported, got ", groups);
  const auto dl = to_pair(dilation, op, "dilation");
  MD_CHECK(dl.first == 1 && dl.second == 1, ValueError, op, ": only dilation=1 is supported, got (", dl.first, ", ",
           dl.second, ")");
}

int64_t to_index(const py::handle& obj, const char* op, const char* what) {
  if (!is_index(obj)) throw TypeError(str(op, ": ", what, " must be an int, got ", std::string(py::repr(obj))));
  return as_index(obj, op);
}

Shape to_shape(const py::handle& obj, const char* op) {
  if (is_index(obj)) return Shape{as_index(obj, op)};
  if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {
    Shape s;
    for (auto item : obj.cast<py::sequence>()) {
      if (!is_index(item)) throw TypeError(str(op, ": shape entries must be ints, got ", std::string(py::repr(item))));
      s.push_back(as_index(item, op));
    }
    return s;
  }
  throw TypeError(str(op, ": shape must be an int or a sequence of ints, got ", std::string(py::repr(obj))));
}

Generator* to_generator(const py::handle& obj) {
  if (obj.is_none()) return nullptr;
  if (!py::isinstance<Generator>(obj))
    throw TypeError(str("generator must be a minidiff.Generator, got ", std::string(py::repr(obj))));
  return obj.cast<Generator*>();
}

namespace {

void bind_runtime(py::module_& m) {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const OutOfMemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

  py::class_<Device>(m, "Device")
      .def(py::init([](const std::string& s) { return Device::parse(s); }), py::arg("device"))
      .def_property_readonly("type", [](const Device& d) { return d.is_cuda() ? "cuda" : "cpu"; })
      .def_property_readonly("index",
                             [](const Device& d) -> py::object {
                               return d.is_cuda() ? py::object(py::int_(d.index)) : py::object(py::none());
                             })
      .def("__str__", &Device::str)
      .def("__repr__", [](const Device& d) { return "device('" + d.str() + "')"; })
      .def("__eq__",
           [](const Device& d, const py::object& o) {
             if (py::isinstance<Device>(o)) return d == o.cast<Device>();
             if (py::isinstance<py::str>(o)) {
               try {
                 return d == Device::parse(o.cast<std::string>());
               } catch (const ValueError&) {
                 return false;
               }
             }
             return false;
           })
      .def("__hash__", [](const Device& d) { return py::hash(py::str(d.str())); })
      .def("__enter__",
           [](const Device& d) {
             g_replaced_defaults.push_back(g_default_device);
             g_default_device = d;
             return d;
           })
      .def("__exit__", [](const Device&, const py::args&) {
        MD_CHECK(!g_replaced_defaults.empty(), RuntimeError, "device.__exit__: no `with md.device(...)` block is open");
        g_default_device = g_replaced_defaults.back();
        g_replaced_defaults.pop_back();
      });
  m.def(
      "set_default_device", [](const py::object& d) { g_default_device = to_device(d, Device{}); }, py::arg("device"));
  m.def("get_default_device", [] { return g_default_device; });

  py::class_<Generator>(m, "Generator")
      .def(py::init([](const py::object& seed, const py::object& device) {
             return Generator(seed_of(seed, "Generator"), to_device(device, Device{}));  // cpu, as torch's
           }),
           py::arg("seed") = 0, py::arg("device") = py::none())
      .def(
          "manual_seed",
          [](Generator& g, const py::object& s) -> Generator& {
            g.manual_seed(seed_of(s, "manual_seed"));
            return g;
          },
          py::arg("seed"), py::return_value_policy::reference_internal)
      .def("initial_seed", &Generator::seed)
      .def_property_readonly("device", &Generator::device)
      .def("get_state", [](const Generator& g) { return py::make_tuple(g.seed(), g.offset()); })
      .def("set_state", [](Generator& g, const py::tuple& st) {
        if (st.size() != 2) throw ValueError("Generator.set_state: expected a (seed, offset) tuple");
        g.set_state(st[0].cast<uint64_t>(), st[1].cast<uint64_t>());
      });

  m.def(
      "manual_seed",
      [](const py::object& seed) -> Generator& {
        default_generator().manual_seed(seed_of(seed, "manual_seed"));
        return default_generator();
      },
      py::arg("seed"), py::return_value_policy::reference);
  m.def("default_generator", []() -> Generator& { return default_generator(); }, py::return_value_policy::reference);
  m.def("_set_thread_default_generator", &set_thread_default_generator, py::arg("seed"),
        "Gives the calling thread its own default generator with this seed (None: the process's again).");

  m.def("is_grad_enabled", &grad_enabled);
  // anomaly detection (md.autograd.detect_anomaly): nodes keep the Python stack of their forward
  set_anomaly_trace_hook([]() -> std::string {
    py::gil_scoped_acquire gil;
    py::list frames = py::module_::import("traceback").attr("format_stack")();
    return py::str("").attr("join")(frames).cast<std::string>();
  });
  m.def("_set_anomaly", &set_anomaly, py::arg("enabled"), py::arg("check_nan") = true);
  m.def("_anomaly_enabled", &anomaly_enabled);
  m.def("_anomaly_check_nan", &anomaly_check_nan);
  m.def(
      "_custom_function_node",
      [](const std::string& name, const Tensor& output, const py::list& inputs, const py::function& backward) {
        // md.autograd.Function.apply: a new handle of output (its storage) whose node calls
        // backward(grad) -> one gradient or None per input, with the GIL (minidiff/autograd.py)
        static std::mutex names_mutex;
        static std::set<std::string> names;  // a node keeps its name's pointer: one per Function class
        const char* interned;
        {
          std::lock_guard<std::mutex> lock(names_mutex);
          interned = names.insert(name).first->c_str();
        }
        std::vector<Tensor> in;
        for (const auto& t : inputs) in.push_back(t.cast<Tensor>());
        std::shared_ptr<py::function> fn(new py::function(backward), [](py::function* f) {
          if (!Py_IsInitialized()) return;
          py::gil_scoped_acquire gil;
          delete f;
        });
        Tensor out = output.detach();
        const size_t n = in.size();
        record(interned, out, in, [fn, n, interned](const Tensor& g, const GradMask&) {
          py::gil_scoped_acquire gil;
          const py::object r = (*fn)(g);
          const py::sequence grads = r.cast<py::sequence>();
          MD_CHECK(grads.size() == n, RuntimeError, "backward of ", interned, ": ", grads.size(), " gradients for ", n,
                   " tensor inputs");
          std::vector<Tensor> out(n);
          for (size_t i = 0; i < n; ++i)
            if (!grads[i].is_none()) out[i] = grads[i].cast<Tensor>();
          return out;
        });
        return out;
      },
      py::arg("name"), py::arg("output"), py::arg("inputs"), py::arg("backward"));
  m.def(
      "_grad",
      [](const py::list& roots, const py::list& grad_roots, const py::list& inputs, bool retain_graph) {
        std::vector<Tensor> r, seeds, in;
        for (const auto& t : roots) r.push_back(t.cast<Tensor>());
        for (const auto& g : grad_roots) seeds.push_back(g.is_none() ? Tensor() : g.cast<Tensor>());
        for (const auto& t : inputs) in.push_back(t.cast<Tensor>());
        std::vector<Tensor> grads;
        {
          py::gil_scoped_release release;
          grads = grad_of(r, seeds, in, retain_graph);
        }
        py::list out;
        for (const Tensor& g : grads) out.append(g.defined() ? py::cast(g) : py::none());
        return out;
      },
      py::arg("outputs"), py::arg("grad_outputs"), py::arg("inputs"), py::arg("retain_graph"),
      "md.autograd.grad's engine: gradients of outputs (weighted by grad_outputs) w.r.t. inputs.");
  m.def("set_grad_enabled", &set_grad_enabled, py::arg("mode"));

  // device runtime
  m.def("cuda_built", &cuda_built);
  m.def("cuda_device_count", &cuda_device_count);
  m.def("cuda_device_name", &cuda_device_name, py::arg("index") = 0);
  m.def(
      "cuda_synchronize",
      []() {
        if (cuda_device_count() > 0) MD_DISPATCH(kCuda0, synchronize);
      },
      py::call_guard<py::gil_scoped_release>());
  m.def("cuda_memory_stats", []() {
    const CudaMemoryStats s = cuda_memory_stats();
    py::dict d;
    d["allocated"] = s.allocated;
    d["peak_allocated"] = s.peak_allocated;
    d["reserved"] = s.reserved;
    return d;
  });
  m.def("cuda_empty_cache", &cuda_empty_cache);
  m.def("cuda_reset_peak_memory_stats", &cuda_reset_peak);
  m.def("set_allow_tf32", &cuda_set_allow_tf32, py::arg("on"));
  m.def("cuda_set_workspace_budget", &set_cuda_workspace_budget, py::arg("nbytes"));
  m.def("set_matmul_bf16", &set_matmul_bf16, py::arg("on"));
  m.def("matmul_bf16", &matmul_bf16);
  m.def(
      "set_cuda_conv_layout", [](const std::string& name) { set_cuda_conv_layout(parse_cuda_conv_layout(name)); },
      py::arg("layout"));
  m.def("cuda_conv_layout", []() { return std::string(cuda_conv_layout_name(cuda_conv_layout())); });
  m.def("set_cpu_winograd_tile", &set_cpu_winograd_tile, py::arg("tile"));
  m.def("cpu_winograd_tile", &cpu_winograd_tile);
  m.def("cpu_memory_stats", []() {
    const CpuMemoryStats s = cpu_memory_stats();
    py::dict d;
    d["allocated"] = s.allocated;
    d["peak_allocated"] = s.peak_allocated;
    d["cached"] = s.cached;
    return d;
  });
  m.def("cpu_empty_cache", &cpu_empty_cache);
  m.def("cpu_reset_peak_memory_stats", &cpu_reset_peak);

  // build information (minidiff info)
  m.def("build_info", []() {
    py::dict d;
    d["version"] = MINIDIFF_VERSION;
    d["cuda"] = cuda_built();
    d["blas"] = std::string("OpenBLAS ") + scipy_openblas_get_config();
    d["blas_threads"] = scipy_openblas_get_num_threads();
    d["openmp_threads"] = cpu::get_num_threads();
    d["compiler"] = __VERSION__;
    return d;
  });
  m.def(
      "set_num_threads",
      [](int n) {
        // OpenMP owns all threads; OpenBLAS stays single-threaded inside them (see cpu/gemm.cpp).
        if (n < 1) throw ValueError(str("set_num_threads: expected a positive count, got ", n));
        cpu::set_num_threads(n);  // for every thread, not only the caller (OpenMP's own setting)
      },
      py::arg("n"));
  m.def("get_num_threads", []() { return cpu::get_num_threads(); });

  // profiler
  m.def("profiler_enable", &profiler::enable, py::arg("on"), py::arg("synchronize_cuda") = true);
  m.def("profiler_reset", &profiler::reset);
  m.def("profiler_snapshot", []() {
    py::dict d;
    for (const auto& kv : profiler::snapshot())
      d[py::str(kv.first)] = py::make_tuple(kv.second.calls, kv.second.seconds);
    return d;
  });
}

void bind_creation(py::module_& m) {
  m.def(
      "tensor",
      [](const py::object& data, const py::object& dtype, const py::object& device, bool requires_grad) {
        Tensor t = tensor_from_python(data, dtype, device);
        if (requires_grad) t.set_requires_grad(true);
        return t;
      },
      py::arg("data"), py::arg("dtype") = py::none(), py::arg("device") = py::none(), py::arg("requires_grad") = false);

  auto shape_args = [](const py::args& args, const char* op) {
    if (args.size() == 1) return to_shape(args[0], op);
    return to_shape(args, op);
  };
  auto factory = [&](const char* name, double value, bool fill) {
    m.def(
        name,
        [shape_args, name, value, fill](const py::args& args, const py::object& size, const py::object& dtype,
                                        const py::object& device, bool requires_grad) {
          if (!size.is_none() && args.size() > 0)
            throw TypeError(str(name, ": give the size positionally or as size=, not both"));
          const Shape s = size.is_none() ? shape_args(args, name) : to_shape(size, name);
          const DType dt = to_dtype(dtype, DType::Float32);
          Tensor t = fill ? full(s, value, dt, to_device(device)) : empty(s, dt, to_device(device));
          if (requires_grad) t.set_requires_grad(true);
          return t;
        },
        py::kw_only(), py::arg("size") = py::none(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
        py::arg("requires_grad") = false);
  };
  factory("zeros", 0.0, true);
  factory("ones", 1.0, true);
  factory("empty", 0.0, false);
  m.def(
      "full",
      [](const py::object& shape, const py::object& fill, const py::object& dtype, const py::object& device,
         bool requires_grad) {
        // as torch: an integer fill gives int64 and a bool fill bool, unless dtype says otherwise
        DType natural = DType::Float32;
        const auto kind = [&]() -> std::string {
          if (!py::hasattr(fill, "dtype") || !py::hasattr(fill.attr("dtype"), "kind")) return "";
          return py::str(fill.attr("dtype").attr("kind"));
        };
        if (py::isinstance<Tensor>(fill)) {
          const DType d = fill.cast<Tensor>().dtype();
          natural = is_low_float(fill.cast<Tensor>()) ? DType::Float32 : d;
        } else if (py::isinstance<py::bool_>(fill) || kind() == "b") {
          natural = DType::Bool;
        } else if (py::isinstance<py::int_>(fill) || kind().find_first_of("iu") == 0) {
          natural = DType::Int64;
        }
        const double value = fill.cast<double>();
        check_fill_value("full", value, to_dtype(dtype, natural));
        Tensor t = full(to_shape(shape, "full"), value, to_dtype(dtype, natural), to_device(device));
        if (requires_grad) t.set_requires_grad(true);
        return t;
      },
      py::arg("size"), py::arg("fill_value"), py::kw_only(), py::arg("dtype") = py::none(),
      py::arg("device") = py::none(), py::arg("requires_grad") = false);
  m.def("zeros_like", [](const Tensor& t) { return zeros_like(t); });
  m.def("ones_like", [](const Tensor& t) { return ones_like(t); });
  m.def(
      "randn",
      [shape_args](const py::args& args, const py::object& generator, const py::object& dtype, const py::object& device,
                   bool requires_grad) {
        const DType d = to_dtype(dtype, DType::Float32);
        MD_CHECK(d == DType::Float32 || d == DType::BFloat16 || d == DType::Float16, TypeError,
                 "randn: not implemented for dtype ", dtype_name(d), " (a float dtype is needed), as in torch");
        Tensor t = randn(shape_args(args, "randn"), to_generator(generator), to_device(device));
        if (d != DType::Float32) t = to_dtype(t, d);  // drawn in float32, rounded
        if (requires_grad) t.set_requires_grad(true);
        return t;
      },
      py::kw_only(), py::arg("generator") = py::none(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
      py::arg("requires_grad") = false);
  m.def(
      "rand",
      [shape_args](const py::args& args, const py::object& generator, const py::object& dtype, const py::object& device,
                   bool requires_grad) {
        const DType d = to_dtype(dtype, DType::Float32);
        MD_CHECK(d == DType::Float32 || d == DType::BFloat16 || d == DType::Float16, TypeError,
                 "rand: not implemented for dtype ", dtype_name(d), " (a float dtype is needed), as in torch");
        Tensor t = rand(shape_args(args, "rand"), to_generator(generator), to_device(device));
        if (d != DType::Float32) t = to_dtype(t, d);  // drawn in float32, rounded
        if (requires_grad) t.set_requires_grad(true);
        return t;
      },
      py::kw_only(), py::arg("generator") = py::none(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
      py::arg("requires_grad") = false);
  m.def(
      "randn_like",
      [](const Tensor& t, const py::object& generator) {
        return randn(t.shape(), to_generator(generator), t.device());
      },
      py::arg("input"), py::kw_only(), py::arg("generator") = py::none());
  m.def(
      "randint",
      [](int64_t low, const py::object& high, const py::object& size, const py::object& generator,
         const py::object& dtype, const py::object& device) {
        // randint(high, size) or randint(low, high, size), as in torch; int64 unless dtype names
        // another integer dtype (the bounds must lie in its range)
        const DType d = to_dtype(dtype, DType::Int64);
        if (!is_integer(d))
          throw TypeError(str("randint: dtype must be an integer dtype, got ", std::string(py::repr(dtype))));
        int64_t lo = low, hi;
        py::object shape = size;
        if (shape.is_none()) {
          if (high.is_none()) throw TypeError("randint: expected randint(low, high, size) or randint(high, size)");
          lo = 0;
          hi = low;
          shape = high;
        } else {
          hi = high.cast<int64_t>();
        }
        if (is_narrow_int(d) && hi > lo) {
          check_fill_value("randint", static_cast<double>(lo), d);
          check_fill_value("randint", static_cast<double>(hi - 1), d);
          MD_CHECK(d != DType::UInt8 || lo >= 0, ValueError, "randint: low ", lo, " is out of bounds for uint8");
        }
        Tensor t = randint(lo, hi, to_shape(shape, "randint"), to_generator(generator), to_device(device));
        return d == DType::Int64 ? t : md::to_dtype(t, d);
      },
      py::arg("low"), py::arg("high") = py::none(), py::arg("size") = py::none(), py::kw_only(),
      py::arg("generator") = py::none(), py::arg("dtype") = py::none(), py::arg("device") = py::none());
  m.def(
      "arange",
      [](const py::object& start, const py::object& end, const py::object& step, const py::object& dtype,
         const py::object& device) {
        // as torch: int64 when every bound is an int (arithmetic makes it float32), else float32
        auto is_int = [](const py::object& o) { return o.is_none() || is_index(o); };
        const DType fallback = is_int(start) && is_int(end) && is_int(step) ? DType::Int64 : DType::Float32;
        auto number = [](const py::object& o, const char* what) {
          try {
            return o.cast<double>();
          } catch (const py::cast_error&) {
            throw TypeError(str("arange: ", what, " must be a number, got ", std::string(py::repr(o))));
          }
        };
        const double first = end.is_none() ? 0.0 : number(start, "start");
        const double last = end.is_none() ? number(start, "end") : number(end, "end");
        return arange(first, last, step.is_none() ? 1.0 : number(step, "step"), to_dtype(dtype, fallback),
                      to_device(device));
      },
      py::arg("start"), py::arg("end") = py::none(), py::arg("step") = py::none(), py::kw_only(),
      py::arg("dtype") = py::none(), py::arg("device") = py::none());
}

}  // namespace

}  // namespace md::python

PYBIND11_MODULE(_core, m) {
  m.doc() = "minidiff native core: tensors, ops, tape autograd, layers and optimisers";
  using namespace md::python;
  // One thread pool: OpenMP's. Products split themselves across it (cpu/gemm.cpp).
  scipy_openblas_set_num_threads(1);
  bind_runtime(m);
  bind_tensor(m);
  bind_creation(m);
  bind_functional(m);
  bind_nn(m);
  bind_optim(m);
}
