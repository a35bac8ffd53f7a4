// Shared helpers of the pybind11 layer: argument conversion from Python values to tensors,
// devices, dtypes and (h, w) pairs.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include "core/tensor.h"
#include "ops/ops.h"

namespace py = pybind11;

namespace md::python {

void bind_tensor(py::module_& m);
void bind_functional(py::module_& m);
void bind_nn(py::module_& m);
void bind_optim(py::module_& m);

// "cpu", "cuda", "cuda:N", or a Device; None -> fallback, or without one the default device
// (md.set_default_device, `with md.device(...)`; cpu unless set).
Device to_device(const py::handle& obj, std::optional<Device> fallback = std::nullopt);
// None -> fallback; a dtype name ("float32", "int64", ...) or a numpy dtype.
DType to_dtype(const py::handle& obj, DType fallback);
// An int or a 2-sequence of ints.
std::pair<int64_t, int64_t> to_pair(const py::handle& obj, const char* op, const char* what);
// Convolution arguments as torch takes them: padding an int, a pair, "valid" or "same" (stride 1,
// odd kernel), and dilation and groups, which must be 1 here (ValueError otherwise).
std::pair<int64_t, int64_t> conv_padding(const char* op, const py::handle& padding, std::pair<int64_t, int64_t> stride,
                                         std::pair<int64_t, int64_t> kernel);
// padding="same" with an even kernel: the extra (bottom, right) padding torch adds; else (0, 0).
std::pair<int64_t, int64_t> same_padding_extra(const py::handle& padding, std::pair<int64_t, int64_t> kernel);
void check_dilation_groups(const char* op, const py::handle& dilation, int64_t groups);
// An int (or anything with __index__, not a bool) that fits in int64; else TypeError/ValueError.
int64_t to_index(const py::handle& obj, const char* op, const char* what);
// A shape given as a sequence of ints (or a single int).
Shape to_shape(const py::handle& obj, const char* op);
// Builds a tensor from a numpy array, nested lists, a Python scalar or another Tensor (copied).
Tensor tensor_from_python(const py::handle& data, const py::handle& dtype, const py::handle& device);
// Python scalars and arrays become tensors on ref's device; Tensors pass through.
Tensor as_tensor_like(const py::handle& obj, const Tensor& ref, const char* op);
// A host NumPy copy of t.
py::array to_numpy(const Tensor& t);
// clamp(t, min, max) with Python bounds (None, int, float or a tensor that broadcasts against t): an
// int64 tensor with integer bounds stays int64, as in torch; otherwise the float32 clamp.
Tensor clamp_bounds(const Tensor& t, const py::object& lo, const py::object& hi);
// Generator* from None or a Generator object.
Generator* to_generator(const py::handle& obj);

}  // namespace md::python
