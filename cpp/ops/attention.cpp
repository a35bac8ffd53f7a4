// softmax and scaled_dot_product_attention. Attention is one op (not matmul + softmax + matmul)
// so that a backend can run it fused, saving only the output and each row's log-sum-exp.
#include <cmath>

#include "core/profiler.h"
#include "kernels.h"
#include "ops/ops.h"

namespace md {

namespace {

Tensor softmax_last(const Tensor& x) {
  Tensor xc = x.is_contiguous() ? x.detach() : contiguous(x.detach());
  const int64_t D = x.dim() == 0 ? 1 : x.shape().back();
  const int64_t M = D == 0 ? 0 : x.numel() / D;
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  if (out.numel()) MD_DISPATCH(x.device(), softmax_forward, out.f32(), xc.f32(), M, D);
  if (any_requires_grad({&x})) {
    Tensor y = out.detach();
    record("softmax", out, {x},
           [y, M, D](const Tensor& g, const GradMask&) {
             Tensor gc = g.is_contiguous() ? g : contiguous(g);
             Tensor dx = Tensor::empty(y.shape(), DType::Float32, g.device());
             if (dx.numel()) MD_DISPATCH(g.device(), softmax_backward, dx.f32(), gc.f32(), y.f32(), M, D);
             return std::vector<Tensor>{dx};
           },
           {y});
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  if (is_low_float(x)) return back_to(softmax(f32_of(x), dim), x.dtype());
  MD_PROFILE("softmax");
  check_float("softmax", x);
  dim = wrap_dim(dim, x.dim(), "softmax");
  if (x.dim() == 0) return softmax_last(x);
  if (dim == x.dim() - 1) return softmax_last(x);
  // laid out as x, as torch's; no view (size-1 dims can make the transpose count as contiguous)
  return own_result(contiguous(transpose(softmax_last(transpose(x, dim, -1)), dim, -1)));
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, std::optional<double> scale) {
  if (auto low = all_low("scaled_dot_product_attention", {&q, &k, &v}))
    return back_to(scaled_dot_product_attention(f32_of(q), f32_of(k), f32_of(v), scale), *low);
  MD_PROFILE("scaled_dot_product_attention");
  const char* op = "scaled_dot_product_attention";
  check_float(op, q, "query");
  check_float(op, k, "key");
  check_float(op, v, "value");
  check_same_device(op, {&q, &k, &v});
  MD_CHECK(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim(), ValueError, op,
           ": query, key and value need the same rank (at least 2), got ", q.shape(), ", ", k.shape(), ", ", v.shape());
  const int64_t n = q.dim();
  for (int64_t i = 0; i < n - 2; ++i)
    MD_CHECK(q.shape()[i] == k.shape()[i] && q.shape()[i] == v.shape()[i], ValueError, op, ": batch dims of query ",
             q.shape(), ", key ", k.shape(), " and value ", v.shape(), " differ");
  const int64_t Lq = q.shape()[n - 2], D = q.shape()[n - 1];
  const int64_t Lk = k.shape()[n - 2], Dv = v.shape()[n - 1];
  MD_CHECK(k.shape()[n - 1] == D, ValueError, op, ": key of shape ", k.shape(), " does not match query of shape ",
           q.shape(), " in the last dim");
  MD_CHECK(v.shape()[n - 2] == Lk, ValueError, op, ": value of shape ", v.shape(), " does not match key of shape ",
           k.shape(), " in the sequence dim");
  int64_t B = 1;
  for (int64_t i = 0; i < n - 2; ++i) B *= q.shape()[i];
  const float sc = static_cast<float>(scale ? *scale : 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(D, 1))));
  auto contig = [](const Tensor& t) { return t.is_contiguous() ? t.detach() : contiguous(t.detach()); };
  Tensor qc = contig(q), kc = contig(k), vc = contig(v);
  Shape out_shape = q.shape();
  out_shape[n - 1] = Dv;
  Tensor out = Tensor::empty(out_shape, DType::Float32, q.device());
  Tensor lse = Tensor::empty({B, Lq}, DType::Float32, q.device());
  if (out.numel()) {
    MD_CHECK(Lk > 0, ValueError, op, ": key and value have no positions (shape ", k.shape(), ")");
    MD_DISPATCH(q.device(), attention_forward, out.f32(), lse.f32(), qc.f32(), kc.f32(), vc.f32(), B, Lq, Lk, D, Dv,
                sc);
  }
  if (any_requires_grad({&q, &k, &v})) {
    Tensor od = out.detach();
    record(op, out, {q, k, v},
           [qc, kc, vc, od, lse, B, Lq, Lk, D, Dv, sc](const Tensor& g, const GradMask&) {
             Tensor gc = g.is_contiguous() ? g : contiguous(g);
             Tensor dq = Tensor::empty(qc.shape(), DType::Float32, g.device());
             Tensor dk = Tensor::empty(kc.shape(), DType::Float32, g.device());
             Tensor dv = Tensor::empty(vc.shape(), DType::Float32, g.device());
             if (od.numel()) {
               MD_DISPATCH(g.device(), attention_backward, dq.f32(), dk.f32(), dv.f32(), gc.f32(), qc.f32(), kc.f32(),
                           vc.f32(), od.f32(), lse.f32(), B, Lq, Lk, D, Dv, sc);
             } else {
               for (Tensor* t : {&dq, &dk, &dv}) fill_(*t, 0.0);
             }
             return std::vector<Tensor>{dq, dk, dv};
           },
           {qc, kc, vc, od});
  }
  return out;
}

}  // namespace md
