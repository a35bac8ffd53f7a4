// Matrix products: matmul (1-D, 2-D and batched with broadcast batch dims) and linear. Operands
// whose last two dims are a transposed view are handed to the GEMM as transposed, not copied.
#include "core/profiler.h"
#include "kernels.h"
#include "ops/ops.h"
#include "ops/plan.h"

namespace md {

namespace {

// A batch of row-major matrices (..., rows, cols) as the GEMM sees it.
struct MatrixOperand {
  Tensor keep;  // owns the memory
  const float* ptr;
  int64_t ld;
  int64_t batch_stride;  // 0 when one matrix serves the whole batch
  bool trans;
};

MatrixOperand as_operand(const Tensor& x, int64_t batch) {
  const int64_t n = x.dim();
  const int64_t rows = x.shape()[n - 2], cols = x.shape()[n - 1];
  int64_t xb = 1;
  for (int64_t i = 0; i < n - 2; ++i) xb *= x.shape()[i];
  // Batch dims must be collapsible into one stride (or absent).
  auto batch_stride_of = [&](int64_t mat) -> int64_t {
    if (xb == 1) return batch == 1 ? mat : 0;
    int64_t expect = mat;
    for (int64_t i = n - 3; i >= 0; --i) {
      if (x.shape()[i] == 1) continue;
      if (x.strides()[i] != expect) return -1;
      expect *= x.shape()[i];
    }
    return mat;
  };
  const auto& st = x.strides();
  const bool row_major = (cols == 1 || st[n - 1] == 1) && (rows == 1 || st[n - 2] == cols);
  const bool col_major = !row_major && (rows == 1 || st[n - 2] == 1) && (cols == 1 || st[n - 1] == rows);
  if (row_major || col_major) {
    const int64_t bs = batch_stride_of(rows * cols);
    if (bs >= 0 && (xb == batch || xb == 1))
      return MatrixOperand{x, x.f32(), row_major ? std::max<int64_t>(cols, 1) : std::max<int64_t>(rows, 1),
                           xb == 1 ? 0 : bs, col_major};
  }
  Tensor c = contiguous(x.detach());
  return MatrixOperand{c, c.f32(), std::max<int64_t>(cols, 1), xb == 1 ? 0 : rows * cols, false};
}

// The sizes of a (batch..., M, K) @ b (batch..., K, N), batch dims broadcast, or a ValueError.
struct MatmulSizes {
  int64_t M, K, N, batch;
  Shape ab, bb, batch_shape;  // a's and b's batch dims, and their broadcast
};

MatmulSizes matmul_sizes(const Tensor& a, const Tensor& b) {
  MatmulSizes z;
  z.M = a.shape()[a.dim() - 2];
  z.K = a.shape()[a.dim() - 1];
  z.N = b.shape()[b.dim() - 1];
  const int64_t K2 = b.shape()[b.dim() - 2];
  MD_CHECK(z.K == K2, ValueError, "matmul: shapes ", a.shape(), " and ", b.shape(), " cannot be multiplied (", z.K,
           " != ", K2, ")");
  z.ab = Shape(a.shape().begin(), a.shape().end() - 2);
  z.bb = Shape(b.shape().begin(), b.shape().end() - 2);
  z.batch_shape = broadcast_shapes("matmul", z.ab, z.bb);
  z.batch = 1;
  for (int64_t d : z.batch_shape) z.batch *= d;
  return z;
}

// out (batch..., M, N) = a (batch..., M, K) @ b (batch..., K, N), batch dims broadcast; no autograd.
Tensor matmul_raw(const Tensor& a, const Tensor& b) {
  const MatmulSizes z = matmul_sizes(a, b);
  const int64_t M = z.M, K = z.K, N = z.N, batch = z.batch;
  const Shape &ab = z.ab, &bb = z.bb, &batch_shape = z.batch_shape;
  Shape out_shape = batch_shape;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::empty(out_shape, DType::Float32, a.device());
  if (out.numel() == 0) return out;
  if (K == 0) {
    MD_DISPATCH(a.device(), fill_f32, out.f32(), 0.0f, out.numel());
    return out;
  }
  // Operands whose batch dims only partly broadcast are materialised at the full batch shape.
  auto full = [&](const Tensor& x, const Shape& xb) {
    int64_t n = 1;
    for (int64_t d : xb) n *= d;
    if (n == 1 || xb == batch_shape) return x.detach();
    Shape s = batch_shape;
    s.push_back(x.shape()[x.dim() - 2]);
    s.push_back(x.shape()[x.dim() - 1]);
    return contiguous(expand(x.detach(), s));
  };
  MatrixOperand A = as_operand(full(a, ab), batch), B = as_operand(full(b, bb), batch);
  if (batch == 1)
    MD_DISPATCH(a.device(), gemm, A.trans, B.trans, M, N, K, 1.0f, A.ptr, A.ld, B.ptr, B.ld, 0.0f, out.f32(), N);
  else
    MD_DISPATCH(a.device(), gemm_batched, A.trans, B.trans, M, N, K, 1.0f, A.ptr, A.ld, A.batch_stride, B.ptr, B.ld,
                B.batch_stride, 0.0f, out.f32(), N, M * N, batch);
  return out;
}

Tensor mT(const Tensor& t) { return transpose(t, -2, -1); }

// matmul_raw for two int64 operands, exact and wrapping around as torch's: each block of rows of
// a times b as an int64 broadcast product (..., rows, K, N) summed over K, blocks of at most
// 2^22 products so that the temporary stays small.
Tensor matmul_i64(const Tensor& a, const Tensor& b) {
  const MatmulSizes z = matmul_sizes(a, b);
  const Tensor bk = unsqueeze(b, -3);  // (..., 1, K, N)
  const int64_t rows = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, z.batch * z.K * z.N));
  std::vector<Tensor> blocks;
  for (int64_t r = 0; r < z.M || blocks.empty(); r += rows) {
    const Tensor ar = unsqueeze(slice(a, a.dim() - 2, r, std::min(z.M, r + rows)), -1);  // (..., rows, K, 1)
    blocks.push_back(sum(mul(ar, bk), {-2}));
  }
  return blocks.size() == 1 ? blocks[0] : cat(blocks, -2);
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (auto low = all_low("matmul", {&a, &b})) return back_to(matmul(f32_of(a), f32_of(b)), *low);
  if (a.defined() && b.defined() && is_integer(a.dtype()) && is_integer(b.dtype()) &&
      (is_narrow_int(a) || is_narrow_int(b)))
    return back_to(matmul(i64_of(a), i64_of(b)), promote_types(a.dtype(), b.dtype()));  // (wrapped once)
  const bool i64 = a.defined() && b.defined() && a.dtype() == DType::Int64 && b.dtype() == DType::Int64;
  if (!i64) {
    check_float("matmul", a, "left operand");
    check_float("matmul", b, "right operand");
  }
  check_same_device("matmul", {&a, &b});
  MD_CHECK(a.dim() >= 1 && b.dim() >= 1, ValueError, "matmul: both operands need at least one dimension, got ",
           a.shape(), " and ", b.shape());
  if (a.dim() == 1 || b.dim() == 1) {  // as a matrix product, then without the added dim
    Tensor m = matmul(a.dim() == 1 ? unsqueeze(a, 0) : a, b.dim() == 1 ? unsqueeze(b, 1) : b);
    Tensor r = a.dim() == 1 && b.dim() == 1 ? reshape(m, {}) : squeeze(m, a.dim() == 1 ? -2 : -1);
    m = Tensor();  // (the result views it alone: own_result makes it no view)
    return own_result(std::move(r));
  }
  MD_CHECK(a.dim() <= kMaxDims && b.dim() <= kMaxDims, ValueError, "matmul: too many dimensions: ", a.shape(), " and ",
           b.shape());
  MD_PROFILE("matmul");
  if (i64) return matmul_i64(a, b);  // integers never require grad
  Tensor out = matmul_raw(a, b);
  if (any_requires_grad({&a, &b})) {
    Tensor ad = a.detach(), bd = b.detach();
    record("matmul", out, {a, b},
           [ad, bd](const Tensor& g, const GradMask& n) {
             Tensor ga, gb;
             if (n[0]) ga = sum_to(matmul_raw(g, mT(bd)), ad.shape());
             if (n[1]) gb = sum_to(matmul_raw(mT(ad), g), bd.shape());
             return std::vector<Tensor>{ga, gb};
           },
           {a.requires_grad() ? bd : Tensor(), b.requires_grad() ? ad : Tensor()});  // what each gradient reads
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (auto low = all_low("linear", {&x, &weight, &bias}))
    return back_to(linear(f32_of(x), f32_of(weight), f32_of(bias)), *low);
  MD_PROFILE("linear");
  check_float("linear", x);
  check_float("linear", weight, "weight");
  check_same_device("linear", {&x, &weight, &bias});
  MD_CHECK(weight.dim() == 2, ValueError, "linear: weight must be 2-D (out_features, in_features), got ",
           weight.shape());
  MD_CHECK(x.dim() >= 1 && x.shape().back() == weight.shape()[1], ValueError, "linear: input of shape ", x.shape(),
           " does not match weight of shape ", weight.shape(), " (last dim must be ", weight.shape()[1], ")");
  const int64_t Nout = weight.shape()[0], Kin = weight.shape()[1];
  if (bias.defined()) {
    check_float("linear", bias, "bias");
    MD_CHECK(bias.dim() == 1 && bias.shape()[0] == Nout, ValueError, "linear: bias of shape ", bias.shape(),
             " does not match weight of shape ", weight.shape());
  }
  // Rows are the leading dims' product; x.numel() / Kin would be 0 when in_features is 0.
  int64_t M = 1;
  for (int64_t i = 0; i + 1 < x.dim(); ++i) M *= x.shape()[i];
  Tensor xc = x.is_contiguous() ? x.detach() : contiguous(x.detach());
  Tensor w = weight.is_contiguous() ? weight.detach() : contiguous(weight.detach());
  Tensor bc = bias.defined() ? (bias.is_contiguous() ? bias.detach() : contiguous(bias.detach())) : Tensor();
  Shape out_shape = x.shape();
  out_shape.back() = Nout;
  Tensor out = Tensor::empty(out_shape, DType::Float32, x.device());
  if (out.numel()) {
    float beta = 0.0f;
    if (bc.defined()) {  // seed every row with the bias, then accumulate the product onto it
      StridedCopy c;
      c.ndim = 2;
      c.shape[0] = M;
      c.shape[1] = Nout;
      c.dst_strides[0] = Nout;
      c.dst_strides[1] = 1;
      c.src_strides[0] = 0;
      c.src_strides[1] = 1;
      MD_DISPATCH(x.device(), copy_strided, out.raw(), bc.raw(), sizeof(float), c);
      beta = 1.0f;
    }
    if (Kin > 0)
      MD_DISPATCH(x.device(), gemm, false, true, M, Nout, Kin, 1.0f, xc.f32(), Kin, w.f32(), Kin, beta, out.f32(),
                  Nout);
    else if (!bc.defined())
      MD_DISPATCH(x.device(), fill_f32, out.f32(), 0.0f, out.numel());
  }
  if (any_requires_grad({&x, &weight, &bias})) {
    const Shape xs = x.shape();
    record("linear", out, {x, weight, bias},
           [xc, w, xs, M, Nout, Kin](const Tensor& g, const GradMask& n) {
             Tensor gc = contiguous(g);
             Tensor gx, gw, gb;
             if (n[0]) {
               gx = Tensor::empty(xs, DType::Float32, g.device());
               if (gx.numel())
                 MD_DISPATCH(g.device(), gemm, false, false, M, Kin, Nout, 1.0f, gc.f32(), Nout, w.f32(), Kin, 0.0f,
                             gx.f32(), Kin);
             }
             if (n[1]) {
               // the product overwrites it (beta 0); with no rows the gradient is zero
               gw = M > 0 ? Tensor::empty({Nout, Kin}, DType::Float32, g.device())
                          : zeros({Nout, Kin}, DType::Float32, g.device());
               if (M > 0 && gw.numel())
                 MD_DISPATCH(g.device(), gemm, true, false, Nout, Kin, M, 1.0f, gc.f32(), Nout, xc.f32(), Kin, 0.0f,
                             gw.f32(), Kin);
             }
             if (n[2]) gb = reshape(sum(reshape(gc, {M, Nout}), {0}), {Nout});
             return std::vector<Tensor>{gx, gw, gb};
           },
           {x.requires_grad() ? w : Tensor(), weight.requires_grad() ? xc : Tensor()});
  }
  return out;
}

}  // namespace md
