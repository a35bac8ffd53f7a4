// Normalisation: group_norm over (N, C, *) with G groups (optionally fused with a following SiLU)
// and layer_norm over trailing dims.
#include "core/profiler.h"
#include "kernels.h"
#include "ops/ops.h"

namespace md {

namespace {
Tensor contig(const Tensor& t) {
  if (!t.defined()) return t;
  return t.is_contiguous() ? t.detach() : contiguous(t.detach());
}
}  // namespace

Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps,
                  bool fuse_silu) {
  if (is_low_float(x) || is_low_float(weight) || is_low_float(bias)) {  // the result has x's dtype
    Tensor r = group_norm(f32_of(x), num_groups, f32_of(weight), f32_of(bias), eps, fuse_silu);
    return back_to(r, x.dtype());
  }
  MD_PROFILE(fuse_silu ? "group_norm_silu" : "group_norm");
  check_float("group_norm", x);
  check_same_device("group_norm", {&x, &weight, &bias});
  MD_CHECK(x.dim() >= 2, ValueError, "group_norm: input must have at least 2 dims (N, C, ...), got ", x.shape());
  const int64_t N = x.shape()[0], C = x.shape()[1];
  MD_CHECK(num_groups > 0 && C % num_groups == 0, ValueError, "group_norm: ", C,
           " channels are not divisible into num_groups=", num_groups, " (input ", x.shape(), ")");
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    check_float("group_norm", *p, p == &weight ? "weight" : "bias");
    MD_CHECK(p->dim() == 1 && p->shape()[0] == C, ValueError, "group_norm: ", p == &weight ? "weight" : "bias",
             " of shape ", p->shape(), " does not match ", C, " channels of input ", x.shape());
  }
  MD_CHECK(eps >= 0, ValueError, "group_norm: eps must be non-negative, got ", eps);
  const int64_t HW = C == 0 || N == 0 ? 0 : x.numel() / (N * C);
  Tensor xc = contig(x), w = contig(weight), b = contig(bias);
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  Tensor mu = Tensor::empty({N, num_groups}, DType::Float32, x.device());
  Tensor rstd = Tensor::empty({N, num_groups}, DType::Float32, x.device());
  if (out.numel())
    MD_DISPATCH(x.device(), group_norm_forward, out.f32(), mu.f32(), rstd.f32(), xc.f32(),
                w.defined() ? w.f32() : nullptr, b.defined() ? b.f32() : nullptr, N, C, HW, num_groups,
                static_cast<float>(eps), fuse_silu);
  if (any_requires_grad({&x, &weight, &bias})) {
    record(fuse_silu ? "group_norm_silu" : "group_norm", out, {x, weight, bias},
           [xc, w, b, mu, rstd, N, C, HW, num_groups, fuse_silu](const Tensor& g, const GradMask& n) {
             Tensor gc = contig(g);
             Tensor dx = n[0] ? Tensor::empty(xc.shape(), DType::Float32, g.device()) : Tensor();
             Tensor dw = n[1] ? Tensor::empty({C}, DType::Float32, g.device()) : Tensor();
             Tensor db = n[2] ? Tensor::empty({C}, DType::Float32, g.device()) : Tensor();
             if (gc.numel()) {
               MD_DISPATCH(g.device(), group_norm_backward, dx.defined() ? dx.f32() : nullptr,
                           dw.defined() ? dw.f32() : nullptr, db.defined() ? db.f32() : nullptr, gc.f32(), xc.f32(),
                           w.defined() ? w.f32() : nullptr, b.defined() ? b.f32() : nullptr, mu.f32(), rstd.f32(), N, C,
                           HW, num_groups, fuse_silu);
             } else {
               for (Tensor* t : {&dw, &db})
                 if (t->defined()) fill_(*t, 0.0);
             }
             return std::vector<Tensor>{dx, dw, db};
           },
           {xc, w, fuse_silu ? b : Tensor()});  // the bias only to redo the SiLU
  }
  return out;
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  if (is_low_float(x) || is_low_float(weight) || is_low_float(bias)) {  // the result has x's dtype
    Tensor r = layer_norm(f32_of(x), normalized_shape, f32_of(weight), f32_of(bias), eps);
    return back_to(r, x.dtype());
  }
  MD_PROFILE("layer_norm");
  check_float("layer_norm", x);
  check_same_device("layer_norm", {&x, &weight, &bias});
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  MD_CHECK(k >= 1 && k <= x.dim(), ValueError, "layer_norm: normalized_shape ", normalized_shape,
           " does not fit input of shape ", x.shape());
  for (int64_t i = 0; i < k; ++i)
    MD_CHECK(x.shape()[x.dim() - k + i] == normalized_shape[i], ValueError, "layer_norm: normalized_shape ",
             normalized_shape, " does not match the trailing dims of input ", x.shape());
  for (const Tensor* p : {&weight, &bias}) {
    if (!p->defined()) continue;
    check_float("layer_norm", *p, p == &weight ? "weight" : "bias");
    MD_CHECK(p->shape() == normalized_shape, ValueError, "layer_norm: ", p == &weight ? "weight" : "bias", " of shape ",
             p->shape(), " does not match normalized_shape ", normalized_shape);
  }
  const int64_t D = shape_numel(normalized_shape);
  const int64_t M = D == 0 ? 0 : x.numel() / D;
  Tensor xc = contig(x), w = contig(weight), b = contig(bias);
  Tensor out = Tensor::empty(x.shape(), DType::Float32, x.device());
  Tensor mu = Tensor::empty({M}, DType::Float32, x.device());
  Tensor rstd = Tensor::empty({M}, DType::Float32, x.device());
  if (out.numel())
    MD_DISPATCH(x.device(), layer_norm_forward, out.f32(), mu.f32(), rstd.f32(), xc.f32(),
                w.defined() ? w.f32() : nullptr, b.defined() ? b.f32() : nullptr, M, D, static_cast<float>(eps));
  if (any_requires_grad({&x, &weight, &bias})) {
    record("layer_norm", out, {x, weight, bias},
           [xc, w, mu, rstd, M, D, normalized_shape](const Tensor& g, const GradMask& n) {
             Tensor gc = contig(g);
             Tensor dx = n[0] ? Tensor::empty(xc.shape(), DType::Float32, g.device()) : Tensor();
             Tensor dw = n[1] ? Tensor::empty(normalized_shape, DType::Float32, g.device()) : Tensor();
             Tensor db = n[2] ? Tensor::empty(normalized_shape, DType::Float32, g.device()) : Tensor();
             if (gc.numel()) {
               MD_DISPATCH(g.device(), layer_norm_backward, dx.defined() ? dx.f32() : nullptr,
                           dw.defined() ? dw.f32() : nullptr, db.defined() ? db.f32() : nullptr, gc.f32(), xc.f32(),
                           w.defined() ? w.f32() : nullptr, mu.f32(), rstd.f32(), M, D);
             } else {
               for (Tensor* t : {&dw, &db})
                 if (t->defined()) fill_(*t, 0.0);
             }
             return std::vector<Tensor>{dx, dw, db};
           },
           {xc, w});
  }
  return out;
}

}  // namespace md
