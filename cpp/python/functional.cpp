// Functional ops (md.functional / md.F) with PyTorch's argument conventions. Each releases the
// GIL while the op runs.
#include "bind.h"

namespace md::python {

namespace {
// An optional tensor argument: None or a Tensor (anything else is a TypeError naming op and arg).
Tensor opt(const py::object& o, const char* op, const char* what) {
  if (o.is_none()) return Tensor();
  if (!py::isinstance<Tensor>(o))
    throw TypeError(str(op, ": ", what, " must be a Tensor or None, got ", std::string(py::repr(o))));
  return o.cast<Tensor>();
}
}  // namespace

void bind_functional(py::module_& m) {
  py::module_ f = m.def_submodule("functional", "differentiable ops");
  using RG = py::call_guard<py::gil_scoped_release>;

  // elementwise
  f.def("add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, RG());
  f.def("sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, RG());
  f.def("mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, RG());
  f.def("div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, RG());
  f.def("exp", [](const Tensor& a) { return exp(a); }, RG());
  f.def("log", [](const Tensor& a) { return log(a); }, RG());
  f.def("sqrt", [](const Tensor& a) { return sqrt(a); }, RG());
  f.def("sin", [](const Tensor& a) { return sin(a); }, RG());
  for (const auto& [name, op] : math_unary_ops())
    f.def(name, [op = op](const Tensor& a) { return unary_math(op, a); }, py::arg("input"), RG());
  f.def("cos", [](const Tensor& a) { return cos(a); }, RG());
  f.def("abs", [](const Tensor& a) { return abs(a); }, RG());
  f.def(
      "clamp", [](const Tensor& a, const py::object& lo, const py::object& hi) { return clamp_bounds(a, lo, hi); },
      py::arg("input"), py::arg("min") = py::none(), py::arg("max") = py::none());
  f.def(
      "maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, py::arg("input"), py::arg("other"),
      RG());
  f.def(
      "minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, py::arg("input"), py::arg("other"),
      RG());
  f.def("silu", [](const Tensor& a) { return silu(a); }, py::arg("input"), RG());
  f.def(
      "gelu",
      [](const Tensor& a, const std::string& approximate) {
        if (approximate != "none" && approximate != "tanh")
          throw ValueError("gelu: approximate must be 'none' or 'tanh', got '" + approximate + "'");
        return gelu(a, approximate == "tanh");
      },
      py::arg("input"), py::arg("approximate") = "none", RG());
  f.def("relu", [](const Tensor& a) { return relu(a); }, py::arg("input"), RG());
  f.def("sigmoid", [](const Tensor& a) { return sigmoid(a); }, py::arg("input"), RG());
  f.def("tanh", [](const Tensor& a) { return tanh(a); }, py::arg("input"), RG());

  // reductions and shape
  // dim: None (all dims), an int or a sequence of ints, as in torch.sum / torch.mean
  f.def(
      "sum",
      [](const Tensor& t, const py::object& dim, bool keepdim) {
        const Shape dims = dim.is_none() ? Shape{} : to_shape(dim, "sum");
        py::gil_scoped_release r;
        return sum(t, dims, keepdim);
      },
      py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  f.def(
      "mean",
      [](const Tensor& t, const py::object& dim, bool keepdim) {
        const Shape dims = dim.is_none() ? Shape{} : to_shape(dim, "mean");
        py::gil_scoped_release r;
        return mean(t, dims, keepdim);
      },
      py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false);
  f.def(
      "amax",
      [](const Tensor& t, const py::object& dim, bool keepdim) {
        const Shape dims = dim.is_none() ? Shape{} : to_shape(dim, "amax");
        py::gil_scoped_release r;
        return amax(t, dims, keepdim);
      },
      py::arg("input"), py::arg("dim") = py::none(), py::arg("keepdim") = false,
      "The largest values over dim (all dims when None or empty); ties share the gradient evenly, as torch's");
  f.def(
      "cat", [](const std::vector<Tensor>& ts, int64_t dim) { return cat(ts, dim); }, py::arg("tensors"),
      py::arg("dim") = 0, RG());
  f.def(
      "stack",
      [](const std::vector<Tensor>& ts, int64_t dim) {
        MD_CHECK(!ts.empty(), ValueError, "stack: expected a non-empty list of tensors");
        for (size_t i = 1; i < ts.size(); ++i)
          MD_CHECK(ts[i].shape() == ts[0].shape(), ValueError, "stack: all tensors must have the same shape, got ",
                   ts[0].shape(), " (tensor 0) and ", ts[i].shape(), " (tensor ", i, ")");
        dim = wrap_dim(dim, ts[0].dim() + 1, "stack");  // a new dim: ndim + 1 places
        std::vector<Tensor> u;
        for (const Tensor& t : ts) u.push_back(unsqueeze(t, dim));
        return cat(u, dim);
      },
      py::arg("tensors"), py::arg("dim") = 0, RG());
  f.def(
      "pad",
      [](const Tensor& t, const std::vector<int64_t>& pads, const std::string& mode, double value) {
        return mode == "constant" ? pad(t, pads, value) : pad_by_mode(t, pads, mode);
      },
      py::arg("input"), py::arg("pad"), py::arg("mode") = "constant", py::arg("value") = 0.0, RG());
  f.def("_pad_by_mode", &pad_by_mode, py::arg("input"), py::arg("pad"), py::arg("mode"), py::arg("op") = "pad", RG(),
        "pad() by 'reflect', 'replicate' or 'circular', errors naming op (F.pad, padding layers, conv padding_mode).");

  // selection and indexing
  f.def(
      "where",
      [](const py::object& cond, const py::object& a, const py::object& b) {
        // torch.where(condition, input, other): input and other may be Python numbers
        const Tensor c = py::isinstance<Tensor>(cond) ? cond.cast<Tensor>()
                                                      : tensor_from_python(cond, py::str("float32"), py::none());
        // a number (Python or NumPy) becomes a 0-d tensor: int64 beside an int64 tensor (or another
        // integer), as torch keeps where(int_mask, ints, 0) integral; bfloat16 or float16 beside a
        // tensor of that dtype; float32 otherwise
        auto is_number = [](const py::object& o) {
          return !py::isinstance<Tensor>(o) && !py::isinstance<py::array>(o) && py::hasattr(o, "__float__") &&
                 !py::isinstance<py::str>(o);
        };
        auto is_integer = [](const py::object& o) {
          return py::isinstance<py::int_>(o) ||
                 (py::hasattr(o, "dtype") && py::str(o.attr("dtype").attr("kind")).cast<std::string>() == "i");
        };
        auto operand = [&](const py::object& o, const py::object& other) {
          if (py::isinstance<Tensor>(o)) return o.cast<Tensor>();
          if (is_number(o)) {
            const DType other_dtype = py::isinstance<Tensor>(other) ? other.cast<Tensor>().dtype() : DType::Float32;
            const bool bool_o = py::isinstance<py::bool_>(o);
            // a bool with a bool (tensor or number) stays bool; an int with a bool tensor is int64
            if (bool_o &&
                (py::isinstance<Tensor>(other) ? other_dtype == DType::Bool : py::isinstance<py::bool_>(other)))
              return full({}, o.cast<double>(), DType::Bool, c.device());
            const bool int_other = py::isinstance<Tensor>(other)
                                       ? md::is_integer(other_dtype) || (other_dtype == DType::Bool && !bool_o)
                                       : is_number(other) && is_integer(other);
            if (is_integer(o) && int_other) {
              const int64_t v = o.cast<int64_t>();
              if (py::isinstance<Tensor>(other) && md::is_narrow_int(other_dtype))  // it takes that dtype: as torch's,
                check_fill_value("where", static_cast<double>(v), other_dtype);     // refused past its range
              return from_host(&v, {}, DType::Int64, c.device());
            }
            if (py::isinstance<Tensor>(other) && is_low_float(other.cast<Tensor>()))  // a number stays below it
              return full({}, o.cast<double>(), other.cast<Tensor>().dtype(), c.device());
            return full({}, o.cast<double>(), DType::Float32, c.device());
          }
          return as_tensor_like(o, c, "where");
        };
        const Tensor x = operand(a, b), y = operand(b, a);
        py::gil_scoped_release r;
        return where(c, x, y);
      },
      py::arg("condition"), py::arg("input"), py::arg("other"));
  f.def(
      "gather", [](const Tensor& t, int64_t dim, const Tensor& idx) { return gather(t, dim, idx); }, py::arg("input"),
      py::arg("dim"), py::arg("index"), RG());
  f.def(
      "index_select", [](const Tensor& t, int64_t dim, const Tensor& idx) { return index_select(t, dim, idx); },
      py::arg("input"), py::arg("dim"), py::arg("index"), RG());
  f.def("cumsum", [](const Tensor& t, int64_t dim) { return cumsum(t, dim); }, py::arg("input"), py::arg("dim"), RG());
  f.def(
      "cumprod", [](const Tensor& t, int64_t dim) { return cumprod(t, dim); }, py::arg("input"), py::arg("dim"), RG());

  // layers
  f.def("matmul", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }, RG());
  f.def(
      "linear",
      [](const Tensor& x, const Tensor& w, const py::object& b) {
        Tensor bias = opt(b, "linear", "bias");
        py::gil_scoped_release r;
        return linear(x, w, bias);
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none());
  f.def(
      "conv2d",
      [](const Tensor& x, const Tensor& w, const py::object& b, const py::object& stride, const py::object& padding,
         const py::object& dilation, int64_t groups) {
        Tensor bias = opt(b, "conv2d", "bias");
        const auto st = to_pair(stride, "conv2d", "stride");
        check_dilation_groups("conv2d", dilation, groups);
        const auto kernel =
            w.dim() == 4 ? std::make_pair(w.shape()[2], w.shape()[3]) : std::make_pair<int64_t, int64_t>(1, 1);
        const auto pd = conv_padding("conv2d", padding, st, kernel);
        const auto extra = same_padding_extra(padding, kernel);
        py::gil_scoped_release r;
        if (extra.first || extra.second)  // an even kernel's 'same': one more row / column at the end
          return conv2d(pad(x, {0, extra.second, 0, extra.first}), w, bias, st, pd);
        return conv2d(x, w, bias, st, pd);
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
      py::arg("dilation") = 1, py::arg("groups") = 1);
  f.def(
      "conv_transpose2d",
      [](const Tensor& x, const Tensor& w, const py::object& b, const py::object& stride, const py::object& padding,
         const py::object& output_padding, int64_t groups, const py::object& dilation) {
        const char* op = "conv_transpose2d";
        Tensor bias = opt(b, op, "bias");
        check_dilation_groups(op, dilation, groups);
        const auto st = to_pair(stride, op, "stride");
        const auto pd = to_pair(padding, op, "padding");
        const auto op_pd = to_pair(output_padding, op, "output_padding");
        py::gil_scoped_release r;
        return conv_transpose2d(x, w, bias, st, pd, op_pd);
      },
      py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
      py::arg("output_padding") = 0, py::arg("groups") = 1, py::arg("dilation") = 1);
  f.def(
      "group_norm",
      [](const Tensor& x, int64_t groups, const py::object& w, const py::object& b, double eps) {
        Tensor wt = opt(w, "group_norm", "weight"), bs = opt(b, "group_norm", "bias");
        py::gil_scoped_release r;
        return group_norm(x, groups, wt, bs, eps);
      },
      py::arg("input"), py::arg("num_groups"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
      py::arg("eps") = 1e-5);
  f.def(
      "group_norm_silu",
      [](const Tensor& x, int64_t groups, const py::object& w, const py::object& b, double eps) {
        Tensor wt = opt(w, "group_norm_silu", "weight"), bs = opt(b, "group_norm_silu", "bias");
        py::gil_scoped_release r;
        return group_norm(x, groups, wt, bs, eps, true);
      },
      py::arg("input"), py::arg("num_groups"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
      py::arg("eps") = 1e-5, "silu(group_norm(x)) in one pass");
  f.def(
      "layer_norm",
      [](const Tensor& x, const py::object& shape, const py::object& w, const py::object& b, double eps) {
        Tensor wt = opt(w, "layer_norm", "weight"), bs = opt(b, "layer_norm", "bias");
        const Shape s = to_shape(shape, "layer_norm");
        py::gil_scoped_release r;
        return layer_norm(x, s, wt, bs, eps);
      },
      py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
      py::arg("eps") = 1e-5);
  f.def(
      "softmax", [](const Tensor& x, int64_t dim) { return softmax(x, dim); }, py::arg("input"), py::arg("dim"), RG());
  f.def(
      "scaled_dot_product_attention",
      [](const Tensor& q, const Tensor& k, const Tensor& v, const py::object& scale) {
        std::optional<double> s;
        if (!scale.is_none()) s = scale.cast<double>();
        py::gil_scoped_release r;
        return scaled_dot_product_attention(q, k, v, s);
      },
      py::arg("query"), py::arg("key"), py::arg("value"), py::kw_only(), py::arg("scale") = py::none());
  f.def(
      "interpolate",
      [](const Tensor& x, const py::object& size, const py::object& scale_factor, const std::string& mode) {
        if (mode != "nearest") throw ValueError("interpolate: only mode='nearest' is supported, got '" + mode + "'");
        MD_CHECK(x.dim() == 4, ValueError, "interpolate: input must be 4-D (N, C, H, W), got ", x.shape());
        int64_t sh, sw;
        if (!size.is_none()) {
          const auto hw = to_pair(size, "interpolate", "size");
          MD_CHECK(
              x.shape()[2] > 0 && x.shape()[3] > 0 && hw.first % x.shape()[2] == 0 && hw.second % x.shape()[3] == 0,
              ValueError, "interpolate: size (", hw.first, ", ", hw.second, ") must be an integer multiple of input ",
              x.shape());
          sh = hw.first / x.shape()[2];
          sw = hw.second / x.shape()[3];
        } else {
          py::object sf = scale_factor.is_none() ? py::object(py::int_(2)) : scale_factor;
          auto as_int = [](const py::handle& v) {
            const double d = v.cast<double>();
            if (d != static_cast<double>(static_cast<int64_t>(d)))
              throw ValueError(str("interpolate: only integer scale factors are supported, got ", d));
            return static_cast<int64_t>(d);
          };
          if (py::isinstance<py::sequence>(sf)) {
            auto s = sf.cast<py::sequence>();
            if (s.size() != 2) throw ValueError("interpolate: scale_factor must be a number or a pair");
            sh = as_int(s[0]);
            sw = as_int(s[1]);
          } else {
            sh = sw = as_int(sf);
          }
        }
        py::gil_scoped_release r;
        return upsample_nearest(x, sh, sw);
      },
      py::arg("input"), py::arg("size") = py::none(), py::arg("scale_factor") = py::none(),
      py::arg("mode") = "nearest");
  f.def(
      "embedding",
      [](const Tensor& idx, const Tensor& w, int64_t padding_idx, bool scale_grad_by_freq) {
        return embedding(idx, w, padding_idx, scale_grad_by_freq);
      },
      py::arg("input"), py::arg("weight"), py::arg("padding_idx") = -1, py::arg("scale_grad_by_freq") = false, RG());
  f.def(
      "dropout",
      [](const Tensor& x, double p, bool training, const py::object& gen) {
        Generator* g = to_generator(gen);
        py::gil_scoped_release r;
        return dropout(x, p, training, g);
      },
      py::arg("input"), py::arg("p") = 0.5, py::arg("training") = true, py::kw_only(),
      py::arg("generator") = py::none());
  f.def(
      "mse_loss",
      [](const Tensor& a, const Tensor& b, const std::string& reduction) {
        return mse_loss(a, b, parse_reduction(reduction));
      },
      py::arg("input"), py::arg("target"), py::arg("reduction") = "mean", RG());
}

}  // namespace md::python
