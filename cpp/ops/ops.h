// The differentiable op set. Each op checks its inputs (raising ValueError / TypeError that name
// the op and the shapes), computes its output through MD_DISPATCH, and, when grad mode is on and
// an input requires grad, records a tape node whose backward is written with these same ops.
// Composite layers (nn/) call only these functions, never kernels.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/tensor.h"
#include "kernel_types.h"

namespace md {

// ---- creation
Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = {});
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = {});
Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = {});
Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor arange(double start, double end, double step, DType dtype = DType::Float32, Device device = {});
Tensor randn(const Shape& shape, Generator* gen = nullptr, Device device = {});
Tensor rand(const Shape& shape, Generator* gen = nullptr, Device device = {});
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen = nullptr, Device device = {});
// A tensor holding a copy of host memory (contiguous, row-major).
Tensor from_host(const void* data, const Shape& shape, DType dtype, Device device = {});
// Copies the tensor's elements to host memory, contiguous.
void to_host(const Tensor& t, void* dst);

// ---- copies and conversion (differentiable)
Tensor contiguous(const Tensor& t);
Tensor to_device(const Tensor& t, Device device);
Tensor to_dtype(const Tensor& t, DType dtype);
// A copy of t, contiguous; with keep_strides, a permuted dense t (a transpose of a contiguous
// tensor) keeps its strides, as torch's clone(memory_format=torch.preserve_format).
Tensor clone(const Tensor& t, bool keep_strides = false);
// Whether t's elements fill numel() consecutive slots exactly once in some order of its dims (a
// permutation of a contiguous tensor): torch's "non-overlapping and dense". Size-1 dims do not count.
bool is_dense(const Tensor& t);

// ---- in-place, outside autograd (optimisers, accumulation, initialisation)
void copy_(Tensor& dst, const Tensor& src);
void fill_(Tensor& t, double value);
// Writes result (the value of an out-of-place op on t, same shape) into t's elements: torch's
// add_, mul_, a += b, ... op names the in-place op for errors.
void write_result_(const char* op, Tensor& t, const Tensor& result);
// An in-place op on a tensor inside the autograd graph: t takes result's value and autograd
// history (same shape). A view goes through copy_slices_; a tensor with live views or detach()
// aliases gets the values written into its storage, so they see them; any other takes result's
// memory (no copy), so an op that saved t's old value keeps it.
void rebase_(const char* op, Tensor& t, const Tensor& result);
// result with t's history, for an in-place op that overwrites t (fill_, copy_ from a value): t's
// old value gets a zero gradient, as torch's, instead of t leaving the graph.
Tensor overwriting(const Tensor& t, const Tensor& value);
// t's handle takes src's memory, geometry, dtype, version counter and history (rebase_'s swap); src is
// no view, and neither is t after it.
void adopt_(Tensor& t, const Tensor& src);
// rebase_ of a view (what a view op returned): result's values are written into the view's
// elements, its base takes a history that routes the gradient of those elements to result (and of
// the others to its old history), and the view's history is a view of the base's, as torch's.
void copy_slices_(const char* op, Tensor& t, const Tensor& result);
// Tensor.detach() as the user calls it: a handle of t's storage outside the graph, which t counts
// among its views, so an in-place change of t inside the graph writes where it sees it.
Tensor detach_alias(const Tensor& t);
void add_(Tensor& t, const Tensor& other, float alpha = 1.0f);
void mul_(Tensor& t, float s);
void normal_(Tensor& t, float mean, float std, Generator* gen = nullptr);
void uniform_(Tensor& t, float low, float high, Generator* gen = nullptr);

// ---- views and shape
Tensor reshape(const Tensor& t, const Shape& shape);  // a view when the layout allows, else a copy
// A view of all of t as it is (torch's alias: x[...], a squeeze that drops nothing).
Tensor alias(const Tensor& t);
// An op's own new result (contiguous, no history yet, held by nothing else) in another shape of
// the same elements: that tensor itself, re-shaped, so the op returns no view (torch's results
// are not views). Anything else: reshape().
Tensor reshape_own(Tensor fresh, const Shape& shape);
// What an op that is no view op (in torch) returns for a result r it made with view ops: r itself,
// no longer a view, when r is a contiguous view of the op's own temporary that nothing else holds;
// a contiguous copy of r when r views a tensor held elsewhere (the op's input, or a temporary the
// backward keeps) or only part of its temporary (a crop, as torch's results are contiguous); r
// when it is no view.
Tensor own_result(Tensor r);
Tensor view(const Tensor& t, const Shape& shape);  // a view, or a ValueError
// t's elements (its storage) through a node of their own named name, whose backward passes the
// gradient on unchanged: a place to attach a hook to the gradient of this use of t.
Tensor identity_node(const Tensor& t, const char* name);
Tensor permute(const Tensor& t, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& t, int64_t d0, int64_t d1);
Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t stop, int64_t step = 1);
Tensor select(const Tensor& t, int64_t dim, int64_t index);
Tensor unsqueeze(const Tensor& t, int64_t dim);
// The diagonal `offset` above the main one of the (dim1, dim2) planes, as the last dim: a view.
Tensor diagonal(const Tensor& t, int64_t offset, int64_t dim1, int64_t dim2);
// A view of t's storage with the given geometry (torch.as_strided); storage_offset defaults to t's.
Tensor as_strided(const Tensor& t, const Shape& shape, const Shape& strides, std::optional<int64_t> storage_offset);
Tensor squeeze(const Tensor& t, std::optional<int64_t> dim = std::nullopt);
Tensor flatten(const Tensor& t, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor expand(const Tensor& t, const Shape& shape);
Tensor cat(const std::vector<Tensor>& ts, int64_t dim);
std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim);
// Constant padding; pads lists (before, after) pairs starting from the last dimension, as in
// torch.nn.functional.pad. Negative amounts crop.
Tensor pad(const Tensor& t, const std::vector<int64_t>& pads, double value = 0.0);
// t padded by torch's non-constant modes ("reflect", "replicate", "circular"), pads as in pad():
// one index_select per padded dim, so the gradient sums into the positions each padded value
// repeats. Negative amounts crop first; circular padding wraps within what is left (torch reads
// memory it never wrote where it wraps further; an error here). Errors name `op`.
Tensor pad_by_mode(const Tensor& t, const std::vector<int64_t>& pads, const std::string& mode,
                   const std::string& op = "pad");

// ---- elementwise
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
// 1 where a == b (NaN equal to NaN), else 0, broadcast; not differentiable.
Tensor equal_mask(const Tensor& a, const Tensor& b);
// a == b, a < b, ... (op one of BinaryOp::Eq .. Ge): bool masks, broadcast, not differentiable;
// against a number s (s op a when scalar_first).
Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor compare(BinaryOp op, const Tensor& a, double s, bool scalar_first);
// integer tensor op int64 scalar (s op a when scalar_first), has_int64_kernel(op): computed in
// int64 and wrapped back into a's dtype (a bool mask for a comparison), as torch keeps int + int an
// integer. No autograd (integers have no gradient).
Tensor int_scalar(BinaryOp op, const Tensor& a, int64_t s, bool scalar_first);
// integer tensor ** non-negative int64 exponent, in its dtype, as torch's (a negative exponent is a ValueError).
Tensor int_pow(const Tensor& a, int64_t k);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor sub(const Tensor& a, double s);
Tensor rsub(const Tensor& a, double s);  // s - a
Tensor mul(const Tensor& a, double s);
Tensor div(const Tensor& a, double s);
Tensor rdiv(const Tensor& a, double s);  // s / a
Tensor pow(const Tensor& a, double s);
Tensor rpow(const Tensor& a, double s);  // s ** a
// torch.clamp with number bounds; at least one must be given.
Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor sin(const Tensor& a);
Tensor cos(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor square(const Tensor& a);
Tensor silu(const Tensor& a);
Tensor gelu(const Tensor& a, bool tanh_approximation = false);
Tensor relu(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
// The rest of the float32 unary math (tan, asin, ..., erf, erfinv, reciprocal), by name: each
// bound as md.<name> and Tensor.<name>; int64 inputs compute in float32.
const std::vector<std::pair<const char*, UnaryOp>>& math_unary_ops();
Tensor unary_math(UnaryOp op, const Tensor& a);

// ---- reductions
Tensor sum(const Tensor& t, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& t, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// The largest values over dims (all when empty); the gradient is shared evenly by the elements
// equal to each max, as torch's amax shares it.
Tensor amax(const Tensor& t, const std::vector<int64_t>& dims, bool keepdim = false);
// torch.max(t, dim): the largest values and their int64 indices along dim.
std::pair<Tensor, Tensor> max_dim(const Tensor& t, int64_t dim, bool keepdim = false);
Tensor max_all(const Tensor& t);
// Sums t down to shape (the reverse of broadcasting to t's shape).
Tensor sum_to(const Tensor& t, const Shape& shape);

// ---- selection and indexing (ops/index.cpp)
// torch.where: a where cond is nonzero (NaN counts), else b; broadcast. Operands of one dtype keep
// it; bool with int64 is int64; a 16-bit float with another dtype promotes as torch's; any other
// mix is float32.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// torch.gather: out[.., j, ..] = input[.., index[.., j, ..], ..] along dim; out has index's shape.
Tensor gather(const Tensor& input, int64_t dim, const Tensor& index);
// torch.index_select: the slices of input at the (0-D or 1-D) index along dim (0-D keeps the dim).
Tensor index_select(const Tensor& input, int64_t dim, const Tensor& index);
// t[..., index, ...] along dim: index (any shape) takes dim's place in the result, and negative
// indices count from the end, as in Python.
Tensor take_index(const Tensor& input, int64_t dim, const Tensor& index);
// Running sums and products along dim (accumulated in double on the CPU, as torch).
Tensor cumsum(const Tensor& t, int64_t dim);
Tensor cumprod(const Tensor& t, int64_t dim);

// ---- linear algebra
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- layers
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::pair<int64_t, int64_t> stride,
              std::pair<int64_t, int64_t> padding);
// torch.nn.functional.conv_transpose2d: weight (C_in, C_out, R, S), output size
// (H - 1) * stride - 2 * padding + R + output_padding (groups and dilation 1).
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::pair<int64_t, int64_t> stride,
                        std::pair<int64_t, int64_t> padding, std::pair<int64_t, int64_t> output_padding);
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps,
                  bool fuse_silu = false);
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias, double eps);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    std::optional<double> scale = std::nullopt);
Tensor upsample_nearest(const Tensor& x, int64_t scale_h, int64_t scale_w);
// The rows of weight at idx; the row padding_idx (>= 0; -1: none) gets no gradient, as torch's.
// scale_grad_by_freq: each row's gradient divided by how often its index occurs in idx, as torch's.
Tensor embedding(const Tensor& idx, const Tensor& weight, int64_t padding_idx = -1, bool scale_grad_by_freq = false);
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

enum class Reduction { None, Mean, Sum };
Reduction parse_reduction(const std::string& s);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// ---- helpers shared by the op files
// Throws TypeError unless t is float32, ValueError unless all tensors share a device.
void check_float(const char* op, const Tensor& t, const char* what = "input");
// bfloat16 and float16 math: an op given these 16-bit float ("low") tensors runs in float32 and
// rounds its result back once, as torch's bfloat16 and float16 kernels compute. The casts are
// differentiable, so gradients reach the low tensors (in their dtype).
bool is_low_float(const Tensor& t);  // bfloat16 or float16
Tensor f32_of(const Tensor& t);      // t as float32 if it is a low float, else t
// The narrow integers (uint8, int8, int16, int32) compute the same way in int64, wrapping back once.
bool is_narrow_int(const Tensor& t);
Tensor i64_of(const Tensor& t);   // t as int64 if it is a narrow integer, else t
bool is_narrow(const Tensor& t);  // a low float or a narrow integer
Tensor wide_of(const Tensor& t);  // f32_of or i64_of: the dtype t computes in
// A float32 result as the low float, an int64 result as the narrow integer; any other (a mask, a
// float result of integers, indices) as it is.
Tensor back_to(const Tensor& r, DType low);
// torch's promotion lattice: a higher kind wins (bool < integers < floats); two integers give the
// wider (uint8 with int8: int16); float32 with a 16-bit float, and the two 16-bit floats, float32.
DType promote_types(DType a, DType b);
// The dtype of a op b by torch's rules: promote_types, except that a 0-d tensor beside one with
// dims decides only where it is of a higher kind (an int32 vector plus an int64 0-d tensor is int32;
// a float16 vector plus a float32 0-d tensor is float16). An undefined operand is skipped.
DType result_dtype(const Tensor& a, const Tensor& b);
DType low_result(const Tensor& a, const Tensor& b);  // result_dtype, where one of them is a low float
// The low dtype of ts (undefined ones skipped) if any of them is low, then all float ones must
// share it (TypeError naming op otherwise, as torch refuses the mix); nullopt if none is low.
std::optional<DType> all_low(const char* op, std::initializer_list<const Tensor*> ts);
void check_same_device(const char* op, std::initializer_list<const Tensor*> ts);
// A user's fill value (fill_, full): a finite number past a float dtype's largest value raises
// ValueError naming op, as torch's (inf and NaN fill; the ops' own 0-d operands round to inf).
void check_fill_value(const char* op, double value, DType dtype);
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

}  // namespace md
