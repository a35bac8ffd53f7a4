// The Tensor class as Python sees it: NumPy interop, properties, operators with broadcasting and
// Python scalars, views and indexing, reductions and autograd entry points.
#include <cctype>
#include <cstring>
#include <limits>
#include <tuple>

#include "bind.h"

namespace md::python {

namespace {

// ---- NumPy interop

// The minidiff dtype of a NumPy integer array: its own where minidiff has it; uint16 as int32 and
// uint32 and uint64 as int64 (torch's have few ops; minidiff has no unsigned type past uint8).
DType integer_dtype_of(const py::array& arr) {
  const auto size = arr.itemsize();
  if (arr.dtype().kind() == 'u') return size == 1 ? DType::UInt8 : size == 2 ? DType::Int32 : DType::Int64;
  return size == 1 ? DType::Int8 : size == 2 ? DType::Int16 : size == 4 ? DType::Int32 : DType::Int64;
}

// checked: the values came from Python numbers (a list), which torch refuses past a narrow integer
// dtype's range; a NumPy array's wrap, as NumPy's astype and torch's conversions of arrays do.
Tensor from_array(const py::array& arr_in, const py::handle& dtype, Device device, bool checked = false) {
  // the byte copies below read native-order elements: a big-endian array is converted first
  const py::array arr = arr_in.dtype().attr("isnative").cast<bool>()
                            ? arr_in
                            : py::array(arr_in.attr("astype")(arr_in.dtype().attr("newbyteorder")("=")));
  const char kind = arr.dtype().kind();
  DType target;
  if (!dtype.is_none()) {
    target = to_dtype(dtype, DType::Float32);
  } else if (kind == 'b') {
    target = DType::Bool;
  } else if (kind == 'f') {
    target = arr.itemsize() == 2 ? DType::Float16 : DType::Float32;  // (float64 too: there is no float64)
  } else if (kind == 'i' || kind == 'u') {
    target = integer_dtype_of(arr);
  } else {
    throw TypeError(str("tensor: cannot convert a NumPy array of dtype ", std::string(py::str(arr.dtype())),
                        " (only bool, integer and floating arrays are supported)"));
  }
  if (kind != 'f' && kind != 'b' && kind != 'i' && kind != 'u')
    throw TypeError(str("tensor: cannot convert a NumPy array of dtype ", std::string(py::str(arr.dtype()))));
  Shape shape(arr.shape(), arr.shape() + arr.ndim());
  if (is_narrow_int(target)) {
    if ((kind == 'i' || kind == 'u') && integer_dtype_of(arr) == target &&
        static_cast<size_t>(arr.itemsize()) == dtype_size(target)) {  // the bytes as they are (not uint16's)
      py::array c = py::array::ensure(arr, py::array::c_style);
      return from_host(c.data(), shape, target, device);
    }
    if (checked && kind != 'b') {
      auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arr);
      for (py::ssize_t i = 0; i < a.size(); ++i) check_fill_value("tensor", a.data()[i], target);
    }
    return md::to_dtype(from_array(arr, kind == 'b' ? py::str("bool") : py::str("int64"), device), target);
  }
  if (target == DType::Bool) {
    if (kind == 'b') {
      auto a = py::array_t<bool, py::array::c_style | py::array::forcecast>::ensure(arr);
      static_assert(sizeof(bool) == 1, "bool tensors hold one byte per element");
      return from_host(a.data(), shape, DType::Bool, device);
    }
    // numbers: true where nonzero (NaN included), as torch's
    auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arr);
    std::vector<uint8_t> flags(static_cast<size_t>(a.size()));
    for (py::ssize_t i = 0; i < a.size(); ++i) flags[i] = a.data()[i] != 0.0;
    return from_host(flags.data(), shape, DType::Bool, device);
  }
  if (target == DType::Int64) {
    if (kind == 'f') {
      auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(arr);
      const double* p = a.data();
      for (py::ssize_t i = 0; i < a.size(); ++i)
        if (!std::isfinite(p[i])) throw ValueError("tensor: cannot convert non-finite values to int64");
    }
    if (kind == 'u' && arr.itemsize() == 8) {  // uint64 (a Python int past int64): refused, not wrapped
      auto u = py::array_t<uint64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
      for (py::ssize_t i = 0; i < u.size(); ++i)
        if (u.data()[i] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          throw py::value_error(str("tensor: the value ", u.data()[i], " does not fit in int64"));
    }
    auto a = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
    if (!a) throw TypeError("tensor: conversion to int64 failed");
    return from_host(a.data(), shape, DType::Int64, device);
  }
  if (target == DType::Float16 && kind == 'f' && arr.itemsize() == 2) {  // NumPy's float16: the bits as they are
    py::array c = py::array::ensure(arr, py::array::c_style);
    return from_host(c.data(), shape, DType::Float16, device);
  }
  auto a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(arr);
  if (!a) throw TypeError("tensor: conversion to float32 failed");
  Tensor t = from_host(a.data(), shape, DType::Float32, device);
  if (target != DType::Float32) t = md::to_dtype(t, target);
  return t;
}

}  // namespace

Tensor tensor_from_python(const py::handle& data, const py::handle& dtype, const py::handle& device) {
  if (py::isinstance<Tensor>(data)) {
    Tensor src = data.cast<Tensor>();
    Tensor t = clone(src.detach());
    if (!dtype.is_none()) t = md::to_dtype(t, to_dtype(dtype, t.dtype()));
    return md::to_device(t, to_device(device, src.device()));
  }
  py::array arr;
  if (py::isinstance<py::array>(data)) {
    arr = py::reinterpret_borrow<py::array>(data);
  } else {
    py::module_ np = py::module_::import("numpy");
    try {
      arr = np.attr("asarray")(data);
    } catch (py::error_already_set& e) {
      throw TypeError(
          str("tensor: cannot convert ", std::string(py::str(py::type::of(data))), " to a tensor: ", e.what()));
    }
    // Python floats become float64 arrays; ints become int64: both are handled by from_array.
    return from_array(arr, dtype, to_device(device), true);
  }
  return from_array(arr, dtype, to_device(device));
}

Tensor as_tensor_like(const py::handle& obj, const Tensor& ref, const char* op) {
  if (py::isinstance<Tensor>(obj)) return obj.cast<Tensor>();
  if (py::isinstance<py::array>(obj) || py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj)) {
    // beside an integer tensor, integer data keeps its integer dtype (int64 for Python ints), as
    // torch converts it, so the result promotes as torch's; anything else is float32
    if (is_integer(ref.dtype())) {
      Tensor t = tensor_from_python(obj, py::none(), py::str(ref.device().str()));
      if (is_integer(t.dtype()) || t.numel() == 0) return t;
    }
    return tensor_from_python(obj, py::str("float32"), py::str(ref.device().str()));
  }
  throw TypeError(str(op, ": unsupported operand of type ", std::string(py::str(py::type::of(obj))),
                      " with a tensor of shape ", ref.shape()));
}

py::array to_numpy(const Tensor& t) {
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end());
  if (t.dtype() == DType::Bool) {
    py::array_t<bool> a(shape);
    {
      py::gil_scoped_release release;
      to_host(t, a.mutable_data());
    }
    return a;
  }
  if (t.dtype() == DType::Int64) {
    py::array_t<int64_t> a(shape);
    {
      py::gil_scoped_release release;
      to_host(t, a.mutable_data());
    }
    return a;
  }
  if (t.dtype() == DType::Float16 || is_narrow_int(t.dtype())) {  // NumPy has these: the bits as they are
    py::array a(py::dtype(dtype_name(t.dtype())), shape);
    {
      py::gil_scoped_release release;
      to_host(t, a.mutable_data());
    }
    return a;
  }
  Tensor f = t.dtype() == DType::Float32 ? t : md::to_dtype(t.detach(), DType::Float32);
  py::array_t<float> a(shape);
  {
    py::gil_scoped_release release;
    to_host(f, a.mutable_data());
  }
  return a;
}

namespace {

// Python numbers and NumPy scalars (np.float32(2), np.int64(3), ...). NumPy scalars must be caught
// here: left to NumPy they would turn the tensor into an ndarray and silently drop autograd.
bool is_scalar(const py::handle& o) {
  if (py::isinstance<Tensor>(o) || py::isinstance<py::array>(o)) return false;
  if (py::isinstance<py::float_>(o) || py::isinstance<py::int_>(o)) return true;
  if (!py::hasattr(o, "dtype") || !py::hasattr(o, "__float__")) return false;
  const std::string kind = py::str(o.attr("dtype").attr("kind"));
  return kind == "f" || kind == "i" || kind == "u" || kind == "b";
}

// ---- indexing: ints, slices, None, Ellipsis, one index tensor (or list / NumPy array of ints),
// and tuples of them

// An index tensor, list or integer array (torch's advanced indexing; here one per key). A 0-d
// array or tensor is an int, as in NumPy and torch (so t[np.int64(1)] = v still assigns).
bool is_index_array(const py::handle& it) {
  if (py::isinstance<Tensor>(it)) return it.cast<Tensor>().dim() > 0;
  if (py::isinstance<py::array>(it)) return it.cast<py::array>().ndim() > 0;
  return py::isinstance<py::list>(it);
}

bool has_index_array(const py::object& key) {
  if (!py::isinstance<py::tuple>(key)) return is_index_array(key);
  for (auto it : key.cast<py::tuple>())
    if (is_index_array(it)) return true;
  return false;
}

// The int64 tensor an index array stands for, on t's device.
Tensor index_array(const py::handle& it, const Tensor& t) {
  if (py::isinstance<Tensor>(it)) {
    Tensor idx = it.cast<Tensor>();
    if (idx.dtype() != DType::Int64 && idx.dtype() != DType::Int32)
      throw IndexError(
          str("tensor indexing: index tensors must be int64 or int32 (or a bool mask), got ", dtype_name(idx.dtype())));
    return i64_of(idx);
  }
  py::array arr = py::array::ensure(it);
  if (!arr || (arr.size() > 0 && arr.dtype().kind() != 'i' && arr.dtype().kind() != 'u'))
    throw IndexError(
        str("tensor indexing: index lists and arrays must hold integers, got ", std::string(py::repr(it))));
  return tensor_from_python(arr, py::str("int64"), py::str(t.device().str()));
}

Tensor index(const Tensor& t, const py::object& key) {
  py::tuple items = py::isinstance<py::tuple>(key) ? key.cast<py::tuple>() : py::make_tuple(key);
  // count the dims that items consume, to expand an Ellipsis
  int64_t consumed = 0, ellipses = 0;
  for (auto it : items) {
    if (it.is_none()) continue;
    if (py::isinstance<py::ellipsis>(it)) {
      ++ellipses;
      continue;
    }
    ++consumed;
  }
  if (ellipses > 1) throw IndexError("an index can only have a single ellipsis ('...')");
  if (consumed > t.dim())
    throw IndexError(str("too many indices for tensor of dimension ", t.dim(), " (shape ", t.shape(), ")"));
  Tensor out = t;
  int64_t dim = 0, arrays = 0;
  for (auto it : items) {
    if (it.is_none()) {
      out = unsqueeze(out, dim);
      ++dim;
    } else if (py::isinstance<py::ellipsis>(it)) {
      dim += t.dim() - consumed;
    } else if (py::isinstance<py::slice>(it)) {
      auto sl = it.cast<py::slice>();
      const int64_t size = out.shape()[dim];
      py::ssize_t start, stop, step, len;
      if (!sl.compute(size, &start, &stop, &step, &len)) throw py::error_already_set();
      if (step <= 0) throw ValueError("tensor indexing: slice step must be positive");
      out = slice(out, dim, start, std::max<int64_t>(start, stop), step);
      ++dim;
    } else if (is_index_array(it)) {
      if (++arrays > 1) throw IndexError("tensor indexing: only one index tensor (or list) per index is supported");
      const Tensor idx = index_array(it, out);
      {
        py::gil_scoped_release release;
        out = take_index(out, dim, idx);
      }
      dim += idx.dim();
    } else if (py::isinstance<Tensor>(it)) {  // 0-d: an int64 one is an int, as in torch
      const Tensor k = i64_of(it.cast<Tensor>());
      if (k.dtype() != DType::Int64)
        throw IndexError(str("tensor indexing: index tensors must be int64 or int32, got ", dtype_name(k.dtype())));
      int64_t at;
      to_host(k, &at);
      out = select(out, dim, at);
    } else if (py::isinstance<py::int_>(it) || py::hasattr(it, "__index__")) {
      if (py::isinstance<py::bool_>(it)) throw TypeError("tensor indexing: boolean indices are not supported");
      const py::int_ i(py::reinterpret_borrow<py::object>(it));
      int64_t at;
      try {
        at = i.cast<int64_t>();
      } catch (const py::cast_error&) {
        throw IndexError(str("index ", std::string(py::repr(i)), " is out of range for dimension ", dim, " of size ",
                             out.shape()[dim]));
      }
      out = select(out, dim, at);
    } else {
      throw TypeError(str("tensor indexing supports ints, slices, None, '...' and int64 index tensors, got ",
                          std::string(py::str(py::type::of(it)))));
    }
  }
  return out.impl() == t.impl() ? alias(t) : out;  // x[...], x[()]: a new view all the same, as torch's
}

std::vector<int64_t> dims_arg(const py::object& dim, const char* op) {
  if (dim.is_none()) return {};
  return to_shape(dim, op);
}

Shape shape_from_args(const py::args& args, const char* op) {
  if (args.size() == 1) return to_shape(args[0], op);
  return to_shape(args, op);
}

std::string repr(const Tensor& t) {
  refresh_if_stale(t);
  py::module_ np = py::module_::import("numpy");
  // float16 printed from its float32 values, as bfloat16 (NumPy prints a float16 array with the
  // fewest digits that tell float16 values apart: 65504 as 6.55e+04)
  const py::array values = to_numpy(t.dtype() == DType::Float16 ? md::to_dtype(t.detach(), DType::Float32) : t);
  py::dict options;
  options["separator"] = ", ";
  options["prefix"] = "tensor(";
  // all true: no room kept for a False (NumPy pads every True to its width), as torch's tensor([True])
  if (t.dtype() == DType::Bool && t.numel() && np.attr("all")(values).cast<bool>())
    options["formatter"] = py::dict(py::arg("bool") = py::cpp_function([](const py::handle&) { return "True"; }));
  std::string body = py::str(np.attr("array2string")(values, **options));
  std::string extra;
  if (t.device().is_cuda()) extra += ", device='" + t.device().str() + "'";
  // as torch's: the dtype is named unless the values show it (float32; int64 and bool unless empty)
  const bool shown =
      t.dtype() == DType::Float32 || ((t.dtype() == DType::Int64 || t.dtype() == DType::Bool) && t.numel());
  if (!shown) extra += std::string(", dtype=") + dtype_name(t.dtype());
  if (t.grad_fn())
    extra += ", grad_fn=<" + backward_node_name(t.grad_fn()->name()) + ">";
  else if (t.requires_grad())
    extra += ", requires_grad=True";
  return "tensor(" + body + extra + ")";
}

using Binary = Tensor (*)(const Tensor&, const Tensor&);
using Scalar = Tensor (*)(const Tensor&, double);

// b's value when it is an integer scalar (a Python int or bool, or a NumPy integer or bool) that
// fits int64: int64 tensor op b then stays int64, as in torch.
std::optional<int64_t> int_scalar_of(const py::handle& b) {
  if (py::isinstance<py::int_>(b)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(b.ptr(), &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
      PyErr_Clear();
      return std::nullopt;
    }
    return static_cast<int64_t>(v);
  }
  if (!is_scalar(b) || !py::hasattr(b, "__index__")) return std::nullopt;
  const std::string kind = py::str(b.attr("dtype").attr("kind"));
  if (kind != "i" && kind != "u" && kind != "b") return std::nullopt;
  return int_scalar_of(py::int_(b.attr("__index__")()));
}

// Subtraction with a bool tensor is refused, as torch refuses it (the mask's complement is ~m).
void refuse_bool_sub(const char* name, const Tensor& a, const py::handle& b) {
  if (std::string(name) != "sub") return;
  MD_CHECK(a.dtype() != DType::Bool, TypeError, "sub: subtraction with a bool tensor (shape ", a.shape(),
           ") is not supported; use ~ or logical_not() to invert a mask, or convert it with .float()");
}

// The int64 kernel of a scalar operator by its name (binop's names), if it has one.
std::optional<BinaryOp> int64_scalar_op(const char* name) {
  const std::string n(name);
  if (n == "add") return BinaryOp::Add;
  if (n == "sub") return BinaryOp::Sub;
  if (n == "mul") return BinaryOp::Mul;
  return std::nullopt;
}

// a op b where b may be a tensor, a Python scalar or an array.
py::object binop(const Tensor& a, const py::object& b, Binary tt, Scalar ts, const char* name) {
  if (a.dtype() == DType::Bool) {  // torch's promotion: with an int a bool counts as int64, with a bool it stays bool
    refuse_bool_sub(name, a, b);
    const bool flag = py::isinstance<py::bool_>(b) || (is_scalar(b) && py::hasattr(b, "dtype") &&
                                                       std::string(py::str(b.attr("dtype").attr("kind"))) == "b");
    if (flag && (std::string(name) == "add" || std::string(name) == "mul"))
      return py::cast(tt(a, full({}, b.cast<double>(), DType::Bool, a.device())));
    if (flag && std::string(name) == "pow")  // m ** True is m, m ** False all true, as torch's
      return py::cast(b.cast<bool>() ? clone(a) : full(a.shape(), 1.0, DType::Bool, a.device()));
    if (is_scalar(b) && !flag && int_scalar_of(b)) return binop(to_dtype(a, DType::Int64), b, tt, ts, name);
  }
  if (is_scalar(b)) {
    if (is_integer(a.dtype()))
      if (const auto s = int_scalar_of(b)) {
        if (std::string(name) == "pow") return py::cast(int_pow(a, *s));
        if (const auto op = int64_scalar_op(name)) return py::cast(int_scalar(*op, a, *s, false));
      }
    return py::cast(ts(a, b.cast<double>()));
  }
  if (py::isinstance<Tensor>(b) || py::isinstance<py::array>(b) || py::isinstance<py::list>(b))
    return py::cast(tt(a, as_tensor_like(b, a, name)));
  return py::reinterpret_borrow<py::object>(Py_NotImplemented);
}

// Whether an in-place op on a (self op= b, self.add_(b), ...; operand_grad: whether an operand
// requires grad) is recorded: inside the autograd graph self takes the out-of-place result and its
// history (rebase_: through a view to its base, and into the storage its views share, as torch's);
// outside it the result is written into self's elements. A leaf that requires grad refuses inside
// the graph, as in torch.
bool inplace_in_graph(const Tensor& a, bool operand_grad, const char* inplace_name) {
  refresh_if_stale(a);
  const bool graph = grad_enabled() && (a.requires_grad() || operand_grad);
  if (graph && a.requires_grad() && a.is_leaf())
    throw RuntimeError(
        str(inplace_name, ": a leaf tensor that requires grad cannot change in place; wrap the update in no_grad()"));
  return graph;
}

// While an in-place op inside the graph on a view (or on a tensor with live views) computes its
// out-of-place result, the tensor stands for a recorded copy of itself: the nodes that result
// records save the copy, not the elements rebase_ then overwrites (torch saves the original self
// of an in-place op too).
class StandInCopy {
 public:
  StandInCopy(Tensor& a, bool graph) {
    if (!graph || !(a.impl()->view_base || a.impl()->shares_storage())) return;
    a_ = a;
    saved_ = *a.impl();
    adopt_(a, clone(a));  // (no view any more while it stands in)
  }
  ~StandInCopy() {
    if (a_.defined()) *a_.impl() = saved_;
  }
  StandInCopy(const StandInCopy&) = delete;
  StandInCopy& operator=(const StandInCopy&) = delete;

 private:
  Tensor a_;
  TensorImpl saved_;
};

// t.fill_(v) / zero_(): inside the graph (t requires grad, not a leaf), t takes the value with a
// history that gives its old value a zero gradient (through a view, only the view's elements), as
// torch's; outside it, a plain fill.
void fill_value_(Tensor& t, double v, const char* op) {
  check_fill_value(op, v, t.dtype());
  if (!inplace_in_graph(t, false, op)) {
    fill_(t, v);
    return;
  }
  rebase_(op, t, overwriting(t, full(t.shape(), v, t.dtype(), t.device())));
}

// t[key] = v inside the autograd graph (t or v requires grad; basic indexing): t takes the
// out-of-place result, a copy of t whose indexed region holds v, and its history (rebase_, as op=
// does inside the graph). The gradient reaches t outside the region and v (summed over its
// broadcast) inside it, as torch's.
void setitem_in_graph(Tensor& t, const py::object& key, const Tensor& v) {
  Tensor out = clone(t.detach());  // contiguous, t's shape
  Tensor region;
  {
    NoGradGuard no_grad;
    region = index(out, key);
  }
  const Shape shape = region.shape(), strides = region.strides(), v_shape = v.shape();
  const int64_t offset = region.offset() - out.offset();
  py::gil_scoped_release release;
  {
    NoGradGuard no_grad;
    write_result_("__setitem__", region, expand(v.detach(), shape));
  }
  record("setitem", out, {t, v}, [shape, strides, offset, v_shape](const Tensor& g, const GradMask& n) {
    const Tensor gc = contiguous(g);
    Tensor gt, gv;
    if (n[1]) gv = sum_to(contiguous(gc.view(shape, strides, gc.offset() + offset)), v_shape);
    if (n[0]) {
      gt = clone(gc);
      Tensor inside = gt.view(shape, strides, gt.offset() + offset);
      fill_(inside, 0.0);
    }
    return std::vector<Tensor>{gt, gv};
  });
  rebase_("__setitem__", t, out);
}

py::object inplace_binop(const py::object& self, const py::object& b, Binary tt, Scalar ts, const char* inplace_name) {
  const std::string name(inplace_name, std::strlen(inplace_name) - 1);  // add_ -> add
  Tensor a = self.cast<Tensor>();
  const bool b_grad = py::isinstance<Tensor>(b) && requires_grad_now(b.cast<Tensor>());
  const bool graph = inplace_in_graph(a, b_grad, inplace_name);
  py::object r;
  {
    std::optional<NoGradGuard> no_grad;
    if (!graph) no_grad.emplace();
    StandInCopy stand_in(a, graph);
    r = binop(a, b, tt, ts, name.c_str());
  }
  if (r.is(py::handle(Py_NotImplemented))) return r;
  Tensor result = r.cast<Tensor>();
  if (is_low_float(a) && result.dtype() != a.dtype()) {  // rounded into it, as torch's
    std::optional<NoGradGuard> no_grad;
    if (!graph) no_grad.emplace();
    result = to_dtype(result, a.dtype());
  }
  if (is_integer(a.dtype())) {
    // an integer op= an integer stays in its dtype (wrapping), as in torch; a float operand, or
    // true division, cannot be written back into integers
    const bool integral =
        py::isinstance<py::int_>(b) ||  // (a Python bool too: True counts as 1, as torch's)
        (py::isinstance<Tensor>(b) &&
         (is_integer(b.cast<Tensor>().dtype()) || b.cast<Tensor>().dtype() == DType::Bool)) ||
        (is_scalar(b) && py::hasattr(b, "dtype") &&
         std::string("iu").find(std::string(py::str(b.attr("dtype").attr("kind")))) != std::string::npos);
    if (!integral || name == "div")
      throw TypeError(str(inplace_name, ": the result is a float, which cannot be written into an integer tensor (",
                          dtype_name(a.dtype()), ")"));
    result = to_dtype(result, a.dtype());
  }
  {
    py::gil_scoped_release release;
    if (graph)
      rebase_(inplace_name, a, result);
    else
      write_result_(inplace_name, a, result);
  }
  return self;
}

// a op b for the comparisons: a float32 mask (a number b compares elementwise; anything else is
// NotImplemented, so Python falls back to its own == / != by identity, e.g. t == None).
py::object comparison(const Tensor& a, const py::object& b, BinaryOp op, const char* name) {
  if (is_integer(a.dtype()))
    if (const auto s = int_scalar_of(b)) return py::cast(int_scalar(op, a, *s, false));  // exact beyond 2^24
  if (is_scalar(b)) {
    const double s = b.cast<double>();
    Tensor out;
    {
      py::gil_scoped_release release;
      out = compare(op, a, s, false);
    }
    return py::cast(out);
  }
  if (py::isinstance<Tensor>(b) || py::isinstance<py::array>(b) || py::isinstance<py::list>(b)) {
    const Tensor other = as_tensor_like(b, a, name);
    Tensor out;
    {
      py::gil_scoped_release release;
      out = compare(op, a, other);
    }
    return py::cast(out);
  }
  return py::reinterpret_borrow<py::object>(Py_NotImplemented);
}

// other * alpha (add_ and sub_'s alpha): a number stays a number.
py::object scaled(const py::object& other, double alpha, const py::object& self) {
  if (is_scalar(other)) return py::float_(other.cast<double>() * alpha);
  return py::cast(mul(as_tensor_like(other, self.cast<Tensor>(), "add_"), alpha));
}

// torch.return_types.max: (values, indices), also by name.
py::object max_result(const std::pair<Tensor, Tensor>& r) {
  static py::handle type =
      py::module_::import("collections")
          .attr("namedtuple")("max", py::make_tuple("values", "indices"), py::arg("module") = "minidiff")
          .release();
  return type(r.first, r.second);
}

}  // namespace

// clamp(t, min, max) for Python bounds: an int64 tensor with integer bounds stays int64 (as in
// torch); otherwise the float32 clamp.
Tensor clamp_bounds(const Tensor& t, const py::object& lo, const py::object& hi) {
  if (py::isinstance<Tensor>(lo) || py::isinstance<Tensor>(hi)) {
    // tensor bounds broadcast against t, as torch's: NaN where t or a bound is NaN (seed 130 #406),
    // and lo > hi gives hi. The gradient goes, as torch's, to t where lo <= t <= hi, to lo where
    // t < lo < hi, to hi where t > hi or hi < lo; nowhere at a NaN or where t < lo == hi.
    const Tensor b_lo = lo.is_none() ? Tensor() : as_tensor_like(lo, t, "clamp");
    const Tensor b_hi = hi.is_none() ? Tensor() : as_tensor_like(hi, t, "clamp");
    Tensor out;
    {
      NoGradGuard no_grad;
      out = t.detach();
      if (b_lo.defined()) out = maximum(out, b_lo.detach());  // (NaN from either operand)
      if (b_hi.defined()) out = minimum(out, b_hi.detach());
    }
    if (!any_requires_grad({&t, &b_lo, &b_hi})) return out;
    const auto mask = [](BinaryOp op, const Tensor& a, const Tensor& b) {
      return md::to_dtype(compare(op, a, b), DType::Float32);
    };
    Tensor in_t, at_lo, at_hi;
    if (b_lo.defined()) {
      in_t = mask(BinaryOp::Ge, t, b_lo);
      at_lo = mask(BinaryOp::Lt, t, b_lo);
    }
    if (b_hi.defined()) {
      const Tensor le = mask(BinaryOp::Le, t, b_hi);
      in_t = in_t.defined() ? mul(in_t, le) : le;
      at_hi = mask(BinaryOp::Gt, t, b_hi);
      if (b_lo.defined()) {
        at_lo = mul(at_lo, mask(BinaryOp::Lt, b_lo, b_hi));
        at_hi = maximum(at_hi, mask(BinaryOp::Lt, b_hi, b_lo));
      }
    }
    // (the three masks never overlap, and each picks the value there unless it is NaN, which is then
    // added: a NaN bound's place may still pass its gradient to hi, as torch's)
    const Tensor is_nan = mask(BinaryOp::Ne, out, out);
    Tensor picked = out;
    if (at_hi.defined()) picked = where(at_hi, b_hi, picked);
    if (at_lo.defined()) picked = where(at_lo, b_lo, picked);
    picked = where(in_t, t, picked);
    return where(is_nan, add(picked, std::numeric_limits<double>::quiet_NaN()), picked);
  }
  for (const auto& [bound, name] : {std::pair{&lo, "min"}, std::pair{&hi, "max"}})
    if (!bound->is_none() && !is_scalar(*bound))
      throw py::type_error(str("clamp: ", name, " must be a number or None, got ",
                               std::string(py::str(py::type::of(*bound).attr("__name__"))), " (input of shape ",
                               t.shape(), ")"));
  auto lo_i = lo.is_none() ? std::nullopt : int_scalar_of(lo);
  auto hi_i = hi.is_none() ? std::nullopt : int_scalar_of(hi);
  if (is_narrow_int(t.dtype())) {  // the bounds wrap into t's dtype first, as torch's (uint8: -3 is 253);
    const auto wrap = [&](std::optional<int64_t>& v) {  // past the range fill ops take they are refused
      if (v) {
        check_fill_value("clamp", static_cast<double>(*v), t.dtype());
        const Tensor w = md::to_dtype(md::to_dtype(from_host(&*v, {}, DType::Int64, kCpu), t.dtype()), DType::Int64);
        to_host(w, &*v);
      }
    };
    wrap(lo_i);
    wrap(hi_i);
  }
  if (is_integer(t.dtype()) && (!lo.is_none() || !hi.is_none()) && (lo.is_none() || lo_i) && (hi.is_none() || hi_i)) {
    Tensor out = lo_i ? int_scalar(BinaryOp::Maximum, t, *lo_i, false) : t;
    return hi_i ? int_scalar(BinaryOp::Minimum, out, *hi_i, false) : out;
  }
  const auto bound = [](const py::object& b) { return b.is_none() ? std::nullopt : std::optional(b.cast<double>()); };
  const std::optional<double> lo_d = bound(lo), hi_d = bound(hi);
  py::gil_scoped_release release;
  return clamp(t, lo_d, hi_d);
}

// The AccumulateGrad entry of Node.next_functions: where a leaf's gradient is accumulated.
struct AccumulateGrad {
  std::shared_ptr<TensorImpl> leaf;
};

// Node.next_functions: one (node, 0) pair per input of the op: its Node, an AccumulateGrad for a
// leaf that requires grad, None for an input that does not.
py::tuple next_functions(const Node& n) {
  py::tuple out(n.next().size());
  for (size_t i = 0; i < n.next().size(); ++i) {
    const Edge& e = n.next()[i];
    py::object fn = e.node ? py::cast(e.node) : e.leaf ? py::cast(AccumulateGrad{e.leaf}) : py::none();
    out[i] = py::make_tuple(fn, 0);
  }
  return out;
}

void bind_tensor(py::module_& m) {
  py::class_<Node, std::shared_ptr<Node>>(m, "Node",
                                          "Tensor.grad_fn: the backward node of the op that made a tensor (torch's "
                                          "torch.autograd.graph.Node)")
      .def("name", [](const Node& n) { return backward_node_name(n.name()); })
      .def_property_readonly("next_functions", &next_functions)
      .def("__repr__", [](const py::object& self) {
        return str("<", backward_node_name(self.cast<const Node&>().name()), " object at ",
                   static_cast<const void*>(self.ptr()), ">");
      });
  py::class_<AccumulateGrad>(m, "AccumulateGrad", "The node of Node.next_functions that accumulates a leaf's .grad")
      .def("name", [](const AccumulateGrad&) { return std::string("torch::autograd::AccumulateGrad"); })
      .def_property_readonly("variable", [](const AccumulateGrad& a) { return Tensor(a.leaf); })
      .def_property_readonly("next_functions", [](const AccumulateGrad&) { return py::tuple(); })
      .def("__repr__", [](const py::object& self) {
        return str("<AccumulateGrad object at ", static_cast<const void*>(self.ptr()), ">");
      });
  py::class_<HookHandle>(m, "RemovableHandle",
                         "What register_hook and the module hooks return: remove() takes the hook off")
      .def_readonly("id", &HookHandle::id)
      .def("remove", &HookHandle::remove)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](HookHandle& h, const py::args&) { h.remove(); });

  using RG = py::call_guard<py::gil_scoped_release>;
  py::class_<Tensor> cls(m, "Tensor");
  for (const auto& [name, op] : math_unary_ops())
    cls.def(name, [op = op](const Tensor& t) { return unary_math(op, t); }, RG());
  // NumPy defers `ndarray op tensor` to the tensor's reflected operator (as it does for torch)
  // instead of converting the tensor with __array__ and returning an ndarray without autograd.
  cls.attr("__array_priority__") = 1000;
  // elementwise comparisons, as torch's, but float32 masks of 1 and 0 (there is no bool dtype)
  const std::tuple<const char*, BinaryOp, const char*> comparisons[] = {
      {"__eq__", BinaryOp::Eq, "eq"}, {"__ne__", BinaryOp::Ne, "ne"}, {"__lt__", BinaryOp::Lt, "lt"},
      {"__le__", BinaryOp::Le, "le"}, {"__gt__", BinaryOp::Gt, "gt"}, {"__ge__", BinaryOp::Ge, "ge"}};
  for (const auto& [dunder, op, name] : comparisons)
    cls.def(
        dunder, [op = op, name = name](const Tensor& a, const py::object& b) { return comparison(a, b, op, name); },
        py::is_operator());
  cls.def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t.shape())); })
      .def_property_readonly("dtype", [](const Tensor& t) { return std::string(dtype_name(t.dtype())); })
      .def_property_readonly("device", [](const Tensor& t) { return t.device(); })
      .def_property_readonly("ndim", [](const Tensor& t) { return t.dim(); })
      // torch's version counter (shared by views and detach() aliases; bumped by every in-place write)
      .def_property_readonly("_version", [](const Tensor& t) { return *t.impl()->version; })
      .def_property_readonly("is_cuda", [](const Tensor& t) { return t.device().is_cuda(); })
      .def_property_readonly("is_leaf",
                             [](const Tensor& t) {
                               refresh_if_stale(t);
                               return t.is_leaf();
                             })
      // identity of the tensor (shared by every Python handle of it; views have their own), and
      // whether it is a registered parameter: for copy.deepcopy and pickling (minidiff/serialization.py)
      .def_property_readonly("_impl_id", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()); })
      .def_property_readonly("_is_param", [](const Tensor& t) { return t.impl()->is_param; })
      // torch's view bookkeeping: the tensor a view op's result views (the root one: never itself a view)
      .def_property_readonly("_base",
                             [](const Tensor& t) -> py::object {
                               if (!t.impl()->view_base) return py::none();
                               return py::cast(Tensor(t.impl()->view_base));
                             })
      .def("_is_view", [](const Tensor& t) { return static_cast<bool>(t.impl()->view_base); })
      // for ops composed in Python that are no view ops in torch (md.ops.own_result): see ops.h
      .def("_own_result", [](const Tensor& t) { return own_result(t); })
      .def_property_readonly("grad_fn",
                             [](const Tensor& t) -> py::object {
                               refresh_if_stale(t);
                               if (!t.grad_fn()) return py::none();
                               return py::cast(t.grad_fn());
                             })
      .def_property_readonly("T",
                             [](const Tensor& t) {
                               std::vector<int64_t> d(t.dim());
                               for (int64_t i = 0; i < t.dim(); ++i) d[i] = t.dim() - 1 - i;
                               return permute(t, d);
                             })
      .def_property_readonly("mT", [](const Tensor& t) { return transpose(t, -2, -1); })
      .def("dim", &Tensor::dim)
      .def("numel", &Tensor::numel)
      .def(
          "size",
          [](const Tensor& t, const py::object& dim) -> py::object {
            if (dim.is_none()) return py::tuple(py::cast(t.shape()));
            return py::int_(t.size(dim.cast<int64_t>()));
          },
          py::arg("dim") = py::none())
      .def("stride", [](const Tensor& t) { return py::tuple(py::cast(t.strides())); })
      .def("storage_offset", [](const Tensor& t) { return t.offset(); })
      .def(
          "as_strided",
          [](const Tensor& t, const py::object& size, const py::object& stride, std::optional<int64_t> storage_offset) {
            const Shape shape = to_shape(size, "as_strided"), strides = to_shape(stride, "as_strided");
            py::gil_scoped_release release;
            return as_strided(t, shape, strides, storage_offset);
          },
          py::arg("size"), py::arg("stride"), py::arg("storage_offset") = py::none(),
          "A view of this tensor's storage with the given size, strides and offset (in elements)")
      .def(
          "_diagonal",
          [](const Tensor& t, int64_t offset, int64_t dim1, int64_t dim2) { return diagonal(t, offset, dim1, dim2); },
          py::arg("offset") = 0, py::arg("dim1") = 0, py::arg("dim2") = 1, RG())
      // the storage's identity and its size in elements (deepcopy copies a storage once)
      .def_property_readonly("_storage_key",
                             [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.storage().get()); })
      .def_property_readonly(
          "_storage_numel",
          [](const Tensor& t) {
            return static_cast<int64_t>(t.storage() ? t.storage()->nbytes / dtype_size(t.dtype()) : 0);
          })
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw()); })
      .def("__len__",
           [](const Tensor& t) {
             if (t.dim() == 0) throw TypeError("len() of a 0-d tensor");
             return t.shape()[0];
           })
      .def("__repr__", &repr)
      // the hash stays the tensor's identity, as torch's does (the comparisons are elementwise)
      .def("__hash__", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.impl()); })
      .def("__bool__",
           [](const Tensor& t) {
             if (t.numel() != 1)
               throw ValueError(str("the truth value of a tensor with ", t.numel(), " elements is ambiguous"));
             return to_numpy(t).attr("item")().cast<double>() != 0.0;
           })
      .def("__float__",
           [](const Tensor& t) {
             if (t.numel() != 1)
               throw ValueError(
                   str("only one-element tensors can be converted to Python scalars, got shape ", t.shape()));
             return to_numpy(t).attr("item")().cast<double>();
           })
      // numpy
      .def("numpy", &to_numpy)
      .def(
          "__array__",
          [](const Tensor& t, const py::object& dtype, const py::object&) {
            py::array a = to_numpy(t);
            if (!dtype.is_none()) return py::array(a.attr("astype")(dtype));
            return a;
          },
          py::arg("dtype") = py::none(), py::arg("copy") = py::none())
      .def("item",
           [](const Tensor& t) -> py::object {
             if (t.numel() != 1)
               throw ValueError(
                   str("item(): only one-element tensors can be converted to Python scalars, got shape ", t.shape()));
             return to_numpy(t).attr("item")();
           })
      .def("tolist", [](const Tensor& t) { return to_numpy(t).attr("tolist")(); })
      // devices and dtypes
      .def(
          "to",
          [](const Tensor& t, const py::object& a, const py::object& dtype, const py::object& device) {
            Tensor out = t;
            py::object dev = device, dt = dtype;
            if (!a.is_none()) {
              if (py::isinstance<py::str>(a)) {
                const std::string s = a.cast<std::string>();
                if (s == "cpu" || s.rfind("cuda", 0) == 0)
                  dev = a;
                else
                  dt = a;
              } else if (py::isinstance<Device>(a)) {
                dev = a;
              } else {
                dt = a;
              }
            }
            if (!dt.is_none()) out = md::to_dtype(out, to_dtype(dt, t.dtype()));
            if (!dev.is_none()) out = md::to_device(out, to_device(dev));
            return out;
          },
          py::arg("target") = py::none(), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none())
      .def(
          "cpu", [](const Tensor& t) { return md::to_device(t, Device{}); }, RG())
      .def(
          "cuda", [](const Tensor& t) { return md::to_device(t, Device{DeviceType::CUDA, 0}); }, RG())
      .def(
          "float", [](const Tensor& t) { return md::to_dtype(t, DType::Float32); }, RG())
      .def(
          "long", [](const Tensor& t) { return md::to_dtype(t, DType::Int64); }, RG())
      .def(
          "bool", [](const Tensor& t) { return md::to_dtype(t, DType::Bool); }, RG())
      .def(
          "contiguous", [](const Tensor& t) { return contiguous(t); }, RG())
      .def(
          "clone", [](const Tensor& t) { return clone(t, /*keep_strides=*/true); }, RG())
      .def("detach", [](const Tensor& t) { return detach_alias(t); })
      .def(
          "detach_",
          [](const py::object& self) {
            // the tensor itself leaves the graph (a leaf that does not require grad); a view
            // cannot, as in torch (its base would lose track of it), in the graph or not
            Tensor t = self.cast<Tensor>();
            if (t.impl()->view_base)
              throw RuntimeError(str("detach_: the tensor of shape ", t.shape(), " is a view",
                                     t.grad_fn() ? str(" ('", t.grad_fn()->name(), "')") : std::string(),
                                     "; can't detach views in-place, use detach() instead"));
            t.impl()->grad_fn.reset();
            t.impl()->requires_grad = false;
            return self;
          },
          "Makes this tensor a leaf that does not require grad, in place")
      // autograd
      .def_property(
          "requires_grad",
          [](const Tensor& t) {
            // a stale view requires grad if its base does, as torch's, without taking its fresh history
            // here: that moves a retained gradient off the old one (seed 124 #983)
            const TensorImpl* i = t.impl();
            if (i && i->view_base && i->base_generation != i->view_base->generation)
              return t.requires_grad() || i->view_base->requires_grad;
            return t.requires_grad();
          },
          &Tensor::set_requires_grad)
      .def(
          "requires_grad_",
          [](const py::object& self, bool r) {
            self.cast<Tensor&>().set_requires_grad(r);
            return self;  // the same Python object, as torch's (handles.py relies on it)
          },
          py::arg("requires_grad") = true)
      .def(
          "_inplace_",
          [](const py::object& self, const std::string& name, const py::function& compute, bool operand_grad) {
            // an in-place op written in Python (clamp_, lerp_): compute() gives the out-of-place
            // result, which self then takes, with the same rules as add_ (see inplace_binop)
            Tensor a = self.cast<Tensor>();
            const bool graph = inplace_in_graph(a, operand_grad, name.c_str());
            Tensor result;
            {
              std::optional<NoGradGuard> no_grad;
              if (!graph) no_grad.emplace();
              StandInCopy stand_in(a, graph);
              result = compute().cast<Tensor>();
              if (is_low_float(a) && result.dtype() != a.dtype())
                result = to_dtype(result, a.dtype());  // a 16-bit float tensor keeps its dtype, as torch's
            }
            MD_CHECK(result.shape() == a.shape() && result.dtype() == a.dtype(), ValueError, name, ": the result ",
                     result.shape(), " ", dtype_name(result.dtype()), " does not fit the tensor ", a.shape(), " ",
                     dtype_name(a.dtype()));
            py::gil_scoped_release release;
            if (graph)
              rebase_(name.c_str(), a, result);
            else
              write_result_(name.c_str(), a, result);
            return self;
          },
          py::arg("name"), py::arg("compute"), py::arg("operand_requires_grad") = false)
      .def(
          "_geometry_inplace_",
          [](const py::object& self, const std::string& name, const py::function& view_op) {
            // t_(), squeeze_(), as_strided_() ...: view_op() gives a view of self, whose shape,
            // strides and offset self then takes (its elements stay where they are), and inside
            // the autograd graph its history, as torch's. A leaf that requires grad, or a view of
            // one, refuses inside the graph.
            Tensor a = self.cast<Tensor>();
            const bool in_graph = inplace_in_graph(a, false, name.c_str());
            if (in_graph && a.impl()->view_base) {
              const Tensor base(a.impl()->view_base);
              MD_CHECK(!(base.requires_grad() && base.is_leaf()), RuntimeError, name, ": the tensor of shape ",
                       a.shape(), " is a view of a leaf tensor of shape ", base.shape(),
                       " that requires grad, which cannot change in place; wrap the change in no_grad()");
            }
            // a tensor with a history takes the view's history also outside the graph (no_grad):
            // the gradient reaching it then has its new shape (torch rebuilds a view's history so)
            const bool graph = in_graph || static_cast<bool>(a.grad_fn());
            Tensor v;
            {
              std::optional<NoGradGuard> no_grad;
              std::optional<GradModeGuard> recorded;
              if (graph && !grad_enabled()) recorded.emplace(true);
              if (!graph) no_grad.emplace();
              v = view_op().cast<Tensor>();
            }
            MD_CHECK(v.dtype() == a.dtype() && (v.numel() == 0 || v.storage() == a.storage()), ValueError, name,
                     ": the result of shape ", v.shape(), " is not a view of the tensor of shape ", a.shape());
            TensorImpl* i = a.impl();
            const std::shared_ptr<Node> old = i->grad_fn;
            i->shape = v.shape();
            i->strides = v.strides();
            i->offset = v.offset();
            if (graph) {
              i->grad_fn = v.grad_fn();
              i->requires_grad = v.requires_grad();
              keep_retained(a, old);
            }
            return self;
          },
          py::arg("name"), py::arg("view_op"))
      .def_property(
          "grad",
          [](const Tensor& t) -> py::object {
            if (t.grad_fn() && !retains_grad(t) &&
                PyErr_WarnEx(PyExc_UserWarning,
                             "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
                             "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
                             "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor.",
                             1) != 0)
              throw py::error_already_set();  // the warning made an error
            Tensor g = t.grad();
            if (!g.defined()) return py::none();
            return py::cast(g);
          },
          [](Tensor& t, const py::object& g) {
            if (g.is_none())
              t.set_grad(Tensor());
            else if (!py::isinstance<Tensor>(g))
              throw TypeError(str("assigned grad expected to be a Tensor or None but got grad of type ",
                                  std::string(py::str(py::type::of(g).attr("__name__")))));
            else
              t.set_grad(g.cast<Tensor>());
          })
      .def(
          "backward",
          [](const py::object& self, const py::object& gradient, const py::object& retain_graph_arg, bool create_graph,
             const py::object& inputs) {
            if (create_graph) {
              PyErr_SetString(PyExc_NotImplementedError,
                              "backward: create_graph=True (higher-order gradients) is not supported");
              throw py::error_already_set();
            }
            const bool retain_graph = !retain_graph_arg.is_none() && retain_graph_arg.cast<bool>();
            if (!inputs.is_none()) {  // accumulate into the given tensors only: minidiff.autograd.backward
              py::module_::import("minidiff.autograd")
                  .attr("backward")(self, gradient, py::arg("retain_graph") = retain_graph, py::arg("inputs") = inputs);
              return;
            }
            const Tensor t = self.cast<Tensor>();
            Tensor g = gradient.is_none() ? Tensor() : as_tensor_like(gradient, t, "backward");
            if (g.defined() && g.dtype() != t.dtype() && (t.dtype() == DType::Float32 || is_low_float(t)))
              g = md::to_dtype(g.detach(), t.dtype());  // a gradient of another dtype is cast, as torch's
            py::gil_scoped_release release;
            t.backward(g, retain_graph);
          },
          py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(), py::arg("create_graph") = false,
          py::arg("inputs") = py::none())
      .def(
          "register_hook",
          [](const Tensor& t, const py::function& hook) {
            // the function is released with the GIL held, wherever the last reference to its
            // list goes (a graph freed by backward runs without it)
            std::shared_ptr<py::function> fn(new py::function(hook), [](py::function* f) {
              if (!Py_IsInitialized()) return;  // a tensor outliving the interpreter leaks its hook
              py::gil_scoped_acquire gil;
              delete f;
            });
            return register_grad_hook(t, [fn](const Tensor& grad) -> Tensor {
              py::gil_scoped_acquire gil;
              py::object out = (*fn)(grad);
              if (out.is_none()) return Tensor();
              if (!py::isinstance<Tensor>(out))
                throw py::type_error(
                    str("backward: the hook '", std::string(py::str(getattr(*fn, "__name__", py::str("?")))),
                        "' registered with register_hook returned ",
                        std::string(py::str(py::type::of(out).attr("__name__"))), "; a hook returns a Tensor or None"));
              return out.cast<Tensor>();
            });
          },
          py::arg("hook"),
          "Registers hook(grad) -> Tensor or None, run on this tensor's gradient in each backward "
          "(returns a handle)")
      .def("retain_grad", [](const Tensor& t) { retain_grad(t); })
      .def_property_readonly("retains_grad", [](const Tensor& t) { return retains_grad(t); })
      // in place (no autograd)
      .def(
          "zero_",
          [](Tensor& t) {
            fill_value_(t, 0.0, "zero_");
            return t;
          },
          RG())
      .def(
          "fill_",
          [](Tensor& t, const Tensor& v) {  // a 0-d tensor: its value, and its gradient inside the graph
            MD_CHECK(v.dim() == 0, ValueError, "fill_: only a 0-dimensional value tensor is supported, got shape ",
                     v.shape());
            const Tensor cast = v.dtype() == t.dtype() ? v : to_dtype(v, t.dtype());
            if (inplace_in_graph(t, requires_grad_now(v), "fill_"))
              rebase_("fill_", t, overwriting(t, clone(expand(cast, t.shape()))));
            else if (t.numel())
              copy_(t, expand(cast.detach(), t.shape()));
            return t;
          },
          RG())
      .def(
          "fill_",
          [](Tensor& t, double v) {
            fill_value_(t, v, "fill_");
            return t;
          },
          RG())
      .def(
          "copy_",
          [](Tensor& t, const Tensor& s) {
            if (inplace_in_graph(t, requires_grad_now(s), "copy_")) {
              // inside the graph, as torch's: t takes src's values (broadcast, cast) and their
              // history, so the gradient reaches src (and not t's old value)
              MD_CHECK(s.dim() <= t.dim(), ValueError, "copy_: src of shape ", s.shape(),
                       " does not broadcast to the tensor's shape ", t.shape());
              Tensor cast = s.dtype() == t.dtype() ? s : to_dtype(s, t.dtype());
              rebase_("copy_", t, overwriting(t, clone(expand(cast, t.shape()))));
              return t;
            }
            Tensor src = s;
            if (src.shape() != t.shape()) {  // broadcast to the tensor, as torch's
              MD_CHECK(s.dim() <= t.dim(), ValueError, "copy_: src of shape ", s.shape(),
                       " does not broadcast to the tensor's shape ", t.shape());
              src = expand(src, t.shape());
            }
            copy_(t, src);
            return t;
          },
          RG())
      .def(
          "normal_",
          [](Tensor& t, float mean, float std, const py::object& gen) {
            normal_(t, mean, std, to_generator(gen));
            return t;
          },
          py::arg("mean") = 0.0f, py::arg("std") = 1.0f, py::kw_only(), py::arg("generator") = py::none())
      .def(
          "uniform_",
          [](Tensor& t, double a, double b, const py::object& gen) {
            // as torch's: each bound must be a finite value of the tensor's dtype
            for (const auto& [name, v] : {std::pair{"from", a}, std::pair{"to", b}}) {
              MD_CHECK(std::isfinite(v) || std::isnan(v), ValueError, "uniform_: ", name, " (", v,
                       ") is out of bounds for ", dtype_name(t.dtype()));
              check_fill_value("uniform_", v, t.dtype());
            }
            uniform_(t, static_cast<float>(a), static_cast<float>(b), to_generator(gen));
            return t;
          },
          py::arg("a") = 0.0f, py::arg("b") = 1.0f, py::kw_only(), py::arg("generator") = py::none())
      // shape
      .def("reshape", [](const Tensor& t, const py::args& a) { return reshape(t, shape_from_args(a, "reshape")); })
      .def("view", [](const Tensor& t, const py::args& a) { return view(t, shape_from_args(a, "view")); })
      .def("permute", [](const Tensor& t, const py::args& a) { return permute(t, shape_from_args(a, "permute")); })
      .def("transpose", [](const Tensor& t, int64_t a, int64_t b) { return transpose(t, a, b); })
      .def(
          "flatten", [](const Tensor& t, int64_t s, int64_t e) { return flatten(t, s, e); }, py::arg("start_dim") = 0,
          py::arg("end_dim") = -1)
      .def(
          "unsqueeze", [](const Tensor& t, int64_t d) { return unsqueeze(t, d); }, py::arg("dim"))
      .def(
          "squeeze",
          [](const Tensor& t, const py::object& d) {
            return squeeze(t, d.is_none() ? std::nullopt : std::optional<int64_t>(d.cast<int64_t>()));
          },
          py::arg("dim") = py::none())
      .def("expand", [](const Tensor& t, const py::args& a) { return expand(t, shape_from_args(a, "expand")); })
      .def(
          "gather", [](const Tensor& t, int64_t d, const Tensor& idx) { return gather(t, d, idx); }, py::arg("dim"),
          py::arg("index"), py::call_guard<py::gil_scoped_release>())
      .def(
          "index_select", [](const Tensor& t, int64_t d, const Tensor& idx) { return index_select(t, d, idx); },
          py::arg("dim"), py::arg("index"), py::call_guard<py::gil_scoped_release>())
      .def(
          "cumsum", [](const Tensor& t, int64_t d) { return cumsum(t, d); }, py::arg("dim"),
          py::call_guard<py::gil_scoped_release>())
      .def(
          "cumprod", [](const Tensor& t, int64_t d) { return cumprod(t, d); }, py::arg("dim"),
          py::call_guard<py::gil_scoped_release>())
      .def(
          "chunk", [](const Tensor& t, int64_t c, int64_t d) { return chunk(t, c, d); }, py::arg("chunks"),
          py::arg("dim") = 0)
      .def("__getitem__", &index)
      .def("__setitem__",
           [](const Tensor& t, const py::object& key, const py::object& value) {
             // t[key] = value: indexing gives a view, which takes value (broadcast) in place
             if (has_index_array(key))
               throw IndexError(
                   "__setitem__: assignment through an index tensor is not supported (only ints, slices, None and "
                   "'...'); build the new tensor with md.where or index_select instead");
             Tensor view;
             {
               NoGradGuard no_grad;
               view = index(t, key);
             }
             Tensor v = is_scalar(value) ? full({}, value.cast<double>(), view.dtype(), view.device())
                                         : as_tensor_like(value, view, "__setitem__");
             // as torch: a value's extra leading 1s are dropped, and it takes the tensor's dtype
             while (v.dim() > view.dim() && v.shape()[0] == 1) v = squeeze(v, 0);
             if (v.dtype() != view.dtype()) v = md::to_dtype(v, view.dtype());
             Tensor self = t;
             if (inplace_in_graph(self, requires_grad_now(v), "__setitem__")) {
               bool repeats = false;  // an expanded view: only the region is written, as torch's
               for (int64_t d = 0; d < self.dim(); ++d)
                 repeats = repeats || (self.strides()[d] == 0 && self.shape()[d] > 1);
               if (self.impl()->view_base && repeats) {
                 // as torch's t[key].copy_(v): the region (a view of the same base, which may repeat
                 // nothing) takes v and its history through the base (copy_slices_), not all of self
                 view = index(self, key);
                 rebase_("__setitem__", view, overwriting(view, clone(expand(v, view.shape()))));
                 return;
               }
               view = Tensor();  // (a live view of self would make it keep no layout of its own)
               return setitem_in_graph(self, key, v);
             }
             py::gil_scoped_release release;
             write_result_("__setitem__", view, expand(v, view.shape()));
           })
      // reductions
      .def(
          "sum",
          [](const Tensor& t, const py::object& dim, bool keepdim) { return sum(t, dims_arg(dim, "sum"), keepdim); },
          py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def(
          "mean",
          [](const Tensor& t, const py::object& dim, bool keepdim) { return mean(t, dims_arg(dim, "mean"), keepdim); },
          py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def(
          "max",
          [](const Tensor& t, const py::object& dim, bool keepdim) -> py::object {
            // as torch: the largest value, (values, indices) along dim, or the elementwise maximum
            if (dim.is_none()) return py::cast(max_all(t));
            if (py::isinstance<Tensor>(dim)) return py::cast(maximum(t, dim.cast<Tensor>()));
            return max_result(max_dim(t, to_index(dim, "max", "dim"), keepdim));
          },
          py::arg("dim") = py::none(), py::arg("keepdim") = false)
      // math methods
      .def(
          "exp", [](const Tensor& t) { return exp(t); }, RG())
      .def(
          "log", [](const Tensor& t) { return log(t); }, RG())
      .def(
          "sqrt", [](const Tensor& t) { return sqrt(t); }, RG())
      .def(
          "rsqrt", [](const Tensor& t) { return rsqrt(t); }, RG())
      .def(
          "sin", [](const Tensor& t) { return sin(t); }, RG())
      .def(
          "cos", [](const Tensor& t) { return cos(t); }, RG())
      .def(
          "abs", [](const Tensor& t) { return abs(t); }, RG())
      .def(
          "square", [](const Tensor& t) { return square(t); }, RG())
      .def(
          "sigmoid", [](const Tensor& t) { return sigmoid(t); }, RG())
      .def(
          "tanh", [](const Tensor& t) { return tanh(t); }, RG())
      .def(
          "relu", [](const Tensor& t) { return relu(t); }, RG())
      .def(
          "neg", [](const Tensor& t) { return neg(t); }, RG())
      .def(
          "softmax", [](const Tensor& t, int64_t d) { return softmax(t, d); }, py::arg("dim"), RG())
      .def("pow", [](const Tensor& t, const py::object& e) { return binop(t, e, pow, pow, "pow"); })
      .def(
          "clamp", [](const Tensor& t, const py::object& lo, const py::object& hi) { return clamp_bounds(t, lo, hi); },
          py::arg("min") = py::none(), py::arg("max") = py::none())
      .def(
          "add_",
          [](const py::object& self, const py::object& other, double alpha) {
            return inplace_binop(self, alpha == 1.0 ? other : scaled(other, alpha, self), add, add, "add_");
          },
          py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0)
      .def(
          "sub_",
          [](const py::object& self, const py::object& other, double alpha) {
            return inplace_binop(self, alpha == 1.0 ? other : scaled(other, alpha, self), sub, sub, "sub_");
          },
          py::arg("other"), py::kw_only(), py::arg("alpha") = 1.0)
      .def(
          "mul_",
          [](const py::object& self, const py::object& other) { return inplace_binop(self, other, mul, mul, "mul_"); },
          py::arg("other"))
      .def(
          "div_",
          [](const py::object& self, const py::object& other) { return inplace_binop(self, other, div, div, "div_"); },
          py::arg("other"))
      // operators
      .def(
          "__neg__", [](const Tensor& t) { return neg(t); }, RG())
      .def("__pos__", [](const Tensor& t) { return t; })
      .def(
          "__abs__", [](const Tensor& t) { return abs(t); }, RG())
      .def(
          "__add__", [](const Tensor& a, const py::object& b) { return binop(a, b, add, add, "add"); },
          py::is_operator())
      .def(
          "__radd__", [](const Tensor& a, const py::object& b) { return binop(a, b, add, add, "add"); },
          py::is_operator())
      .def(
          "__sub__", [](const Tensor& a, const py::object& b) { return binop(a, b, sub, sub, "sub"); },
          py::is_operator())
      .def(
          "__rsub__",
          [](const Tensor& a, const py::object& b) -> py::object {
            refuse_bool_sub("sub", a, b);
            if (is_integer(a.dtype()))
              if (const auto s = int_scalar_of(b)) return py::cast(int_scalar(BinaryOp::Sub, a, *s, true));
            if (is_scalar(b)) return py::cast(rsub(a, b.cast<double>()));
            if (py::isinstance<py::array>(b) || py::isinstance<py::list>(b))
              return py::cast(sub(as_tensor_like(b, a, "sub"), a));
            return py::reinterpret_borrow<py::object>(Py_NotImplemented);
          },
          py::is_operator())
      .def(
          "__mul__", [](const Tensor& a, const py::object& b) { return binop(a, b, mul, mul, "mul"); },
          py::is_operator())
      .def(
          "__rmul__", [](const Tensor& a, const py::object& b) { return binop(a, b, mul, mul, "mul"); },
          py::is_operator())
      .def(
          "__truediv__", [](const Tensor& a, const py::object& b) { return binop(a, b, div, div, "div"); },
          py::is_operator())
      .def(
          "__rtruediv__",
          [](const Tensor& a, const py::object& b) -> py::object {
            if (is_scalar(b)) return py::cast(rdiv(a, b.cast<double>()));
            if (py::isinstance<py::array>(b) || py::isinstance<py::list>(b))
              return py::cast(div(as_tensor_like(b, a, "div"), a));
            return py::reinterpret_borrow<py::object>(Py_NotImplemented);
          },
          py::is_operator())
      .def(
          "__pow__", [](const Tensor& a, const py::object& b) { return binop(a, b, pow, pow, "pow"); },
          py::is_operator())
      .def(
          "__rpow__",
          [](const Tensor& a, const py::object& b) -> py::object {
            if (a.dtype() == DType::Bool && int_scalar_of(b) && !py::isinstance<py::bool_>(b))
              return py::cast(int_scalar(BinaryOp::Pow, to_dtype(a, DType::Int64), *int_scalar_of(b), true));
            if (is_integer(a.dtype()))
              if (const auto s = int_scalar_of(b)) return py::cast(int_scalar(BinaryOp::Pow, a, *s, true));
            if (is_scalar(b)) return py::cast(rpow(a, b.cast<double>()));
            if (py::isinstance<py::array>(b) || py::isinstance<py::list>(b))
              return py::cast(pow(as_tensor_like(b, a, "pow"), a));
            return py::reinterpret_borrow<py::object>(Py_NotImplemented);
          },
          py::is_operator())
      .def(
          "__matmul__", [](const Tensor& a, const py::object& b) { return matmul(a, as_tensor_like(b, a, "matmul")); },
          py::is_operator())
      .def(
          "__rmatmul__", [](const Tensor& a, const py::object& b) { return matmul(as_tensor_like(b, a, "matmul"), a); },
          py::is_operator())
      .def(
          "__iadd__",
          [](const py::object& self, const py::object& b) { return inplace_binop(self, b, add, add, "add_"); },
          py::is_operator())
      .def(
          "__isub__",
          [](const py::object& self, const py::object& b) { return inplace_binop(self, b, sub, sub, "sub_"); },
          py::is_operator())
      .def(
          "__imul__",
          [](const py::object& self, const py::object& b) { return inplace_binop(self, b, mul, mul, "mul_"); },
          py::is_operator())
      .def(
          "__itruediv__",
          [](const py::object& self, const py::object& b) { return inplace_binop(self, b, div, div, "div_"); },
          py::is_operator());
}

}  // namespace md::python
