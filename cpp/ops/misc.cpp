// The remaining layer ops: nearest upsampling, embedding, dropout and the MSE loss.
#include <cmath>

#include "core/profiler.h"
#include "kernels.h"
#include "ops/ops.h"

namespace md {

Tensor upsample_nearest(const Tensor& x, int64_t scale_h, int64_t scale_w) {
  if (is_narrow(x)) return back_to(upsample_nearest(wide_of(x), scale_h, scale_w), x.dtype());
  MD_PROFILE("interpolate");
  check_float("interpolate", x);
  MD_CHECK(x.dim() == 4, ValueError, "interpolate: input must be 4-D (N, C, H, W), got ", x.shape());
  MD_CHECK(scale_h >= 1 && scale_w >= 1, ValueError, "interpolate: scale factors must be positive integers, got (",
           scale_h, ", ", scale_w, ")");
  const int64_t NC = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  Tensor xc = x.is_contiguous() ? x.detach() : contiguous(x.detach());
  Tensor out = Tensor::empty({x.shape()[0], x.shape()[1], H * scale_h, W * scale_w}, DType::Float32, x.device());
  if (out.numel()) MD_DISPATCH(x.device(), upsample_nearest_forward, out.f32(), xc.f32(), NC, H, W, scale_h, scale_w);
  if (any_requires_grad({&x})) {
    const Shape in_shape = x.shape();
    record("interpolate", out, {x}, [in_shape, NC, H, W, scale_h, scale_w](const Tensor& g, const GradMask&) {
      Tensor gc = g.is_contiguous() ? g : contiguous(g);
      Tensor dx = Tensor::empty(in_shape, DType::Float32, g.device());
      if (dx.numel())
        MD_DISPATCH(g.device(), upsample_nearest_backward, dx.f32(), gc.f32(), NC, H, W, scale_h, scale_w);
      return std::vector<Tensor>{dx};
    });
  }
  return out;
}

Tensor embedding(const Tensor& idx, const Tensor& weight, int64_t padding_idx, bool scale_grad_by_freq) {
  if (is_low_float(weight))
    return back_to(embedding(idx, f32_of(weight), padding_idx, scale_grad_by_freq), weight.dtype());
  MD_PROFILE("embedding");
  check_float("embedding", weight, "weight");
  if (idx.defined() && idx.dtype() == DType::Int32)  // as torch's
    return embedding(i64_of(idx), weight, padding_idx, scale_grad_by_freq);
  MD_CHECK(idx.defined() && idx.dtype() == DType::Int64, TypeError,
           "embedding: indices must be an int64 or int32 tensor, got ",
           idx.defined() ? dtype_name(idx.dtype()) : "None");
  check_same_device("embedding", {&idx, &weight});
  MD_CHECK(weight.dim() == 2, ValueError, "embedding: weight must be 2-D (num_embeddings, dim), got ", weight.shape());
  const int64_t V = weight.shape()[0], D = weight.shape()[1], n = idx.numel();
  MD_CHECK(padding_idx >= -1 && padding_idx < V, ValueError, "embedding: padding_idx ", padding_idx,
           " must be within num_embeddings (", V, ")");
  Tensor ic = idx.is_contiguous() ? idx : contiguous(idx);
  if (n) {
    int64_t mm[2];
    MD_DISPATCH(idx.device(), index_range, mm, ic.i64(), n);
    MD_CHECK(mm[0] >= 0 && mm[1] < V, IndexError, "embedding: index out of range: indices span [", mm[0], ", ", mm[1],
             "] for a table of ", V, " rows (weight ", weight.shape(), ")");
  }
  Tensor w = weight.is_contiguous() ? weight.detach() : contiguous(weight.detach());
  Shape out_shape = idx.shape();
  out_shape.push_back(D);
  Tensor out = Tensor::empty(out_shape, DType::Float32, weight.device());
  if (out.numel()) MD_DISPATCH(weight.device(), embedding_forward, out.f32(), ic.i64(), w.f32(), n, V, D);
  if (any_requires_grad({&weight})) {
    record("embedding", out, {Tensor(), weight},
           [ic, n, V, D, padding_idx, scale_grad_by_freq](const Tensor& g, const GradMask&) {
             Tensor gc = g.is_contiguous() ? g : contiguous(g);
             Tensor dw = Tensor::empty({V, D}, DType::Float32, g.device());
             if (dw.numel()) MD_DISPATCH(g.device(), embedding_backward, dw.f32(), gc.f32(), ic.i64(), n, V, D);
             if (scale_grad_by_freq && dw.numel()) {
               // each row's count: the same scatter of a column of ones, on the device
               Tensor ones = full({n, 1}, 1.0, DType::Float32, g.device());
               Tensor count = Tensor::empty({V, 1}, DType::Float32, g.device());
               MD_DISPATCH(g.device(), embedding_backward, count.f32(), ones.f32(), ic.i64(), n, V, 1);
               dw = div(dw, maximum(count, full({}, 1.0, DType::Float32, g.device())));  // unused rows stay 0
             }
             if (padding_idx >= 0) {  // the padding row gets no gradient, as torch's
               Tensor row = slice(dw, 0, padding_idx, padding_idx + 1);
               fill_(row, 0.0);
             }
             return std::vector<Tensor>{Tensor(), dw};
           },
           {ic});
  }
  return out;
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  if (is_low_float(x)) return back_to(dropout(f32_of(x), p, training, gen), x.dtype());
  MD_PROFILE("dropout");
  check_float("dropout", x);
  MD_CHECK(p >= 0.0 && p <= 1.0, ValueError, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  if (p == 1.0) return mul(x, 0.0);
  // mask = (u >= p) / (1 - p), drawn from the counter-based generator (same on every device)
  Tensor mask = Tensor::empty(x.shape(), DType::Float32, x.device());
  Generator& g = gen ? *gen : default_generator();
  const uint64_t offset = g.take(mask.numel());
  if (mask.numel())
    MD_DISPATCH(x.device(), philox_dropout_mask, mask.f32(), mask.numel(), static_cast<float>(p), g.seed(), offset);
  return mul(x, mask);  // the mask needs no grad, so mul's backward is g * mask
}

Reduction parse_reduction(const std::string& s) {
  if (s == "mean") return Reduction::Mean;
  if (s == "sum") return Reduction::Sum;
  if (s == "none") return Reduction::None;
  throw ValueError("mse_loss: reduction must be 'mean', 'sum' or 'none', got '" + s + "'");
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (is_low_float(input) || is_low_float(target))
    return back_to(mse_loss(f32_of(input), f32_of(target), reduction), low_result(input, target));
  MD_PROFILE("mse_loss");
  check_float("mse_loss", input);
  check_float("mse_loss", target, "target");
  check_same_device("mse_loss", {&input, &target});
  MD_CHECK(input.shape() == target.shape(), ValueError, "mse_loss: input of shape ", input.shape(),
           " and target of shape ", target.shape(), " differ");
  if (reduction == Reduction::None) return square(sub(input, target));
  const int64_t n = input.numel();
  const float scale = reduction == Reduction::Mean ? (n ? 1.0f / static_cast<float>(n) : 0.0f) : 1.0f;
  Tensor a = input.is_contiguous() ? input.detach() : contiguous(input.detach());
  Tensor b = target.is_contiguous() ? target.detach() : contiguous(target.detach());
  Tensor out = Tensor::empty({}, DType::Float32, input.device());
  if (n == 0 && reduction == Reduction::Mean)
    fill_(out, std::nan(""));  // the mean of nothing, as in torch (still part of the graph)
  else
    MD_DISPATCH(input.device(), mse_forward, out.f32(), a.f32(), b.f32(), n, scale);
  if (any_requires_grad({&input, &target})) {
    record("mse_loss", out, {input, target},
           [a, b, n, scale](const Tensor& g, const GradMask& need) {
             Tensor gc = g.is_contiguous() ? g : contiguous(g);
             Tensor da = Tensor::empty(a.shape(), DType::Float32, g.device());
             Tensor db = need[1] ? Tensor::empty(b.shape(), DType::Float32, g.device()) : Tensor();
             if (n)
               MD_DISPATCH(g.device(), mse_backward, da.f32(), db.defined() ? db.f32() : nullptr, gc.f32(), a.f32(),
                           b.f32(), n, scale);
             return std::vector<Tensor>{need[0] ? da : Tensor(), db};
           },
           {a, b});
  }
  return out;
}

}  // namespace md
