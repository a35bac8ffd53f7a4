// conv2d: NCHW input, (K, C, R, S) weight, any stride and padding, optional bias; and its
// adjoint conv_transpose2d, which runs the same kernels with the roles of forward and backward
// swapped.
#include "core/profiler.h"
#include "kernels.h"
#include "ops/ops.h"

namespace md {

namespace {

// The geometry of a convolution of an (N, C, H, W) input with a (K, C, R, S) weight, giving
// (N, K, P, Q); conv_transpose2d describes the convolution whose input gradient it computes.
Conv2dGeometry geometry(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S,
                        std::pair<int64_t, int64_t> stride, std::pair<int64_t, int64_t> padding, int64_t P, int64_t Q) {
  Conv2dGeometry g{};
  g.N = static_cast<int>(N);
  g.C = static_cast<int>(C);
  g.H = static_cast<int>(H);
  g.W = static_cast<int>(W);
  g.K = static_cast<int>(K);
  g.R = static_cast<int>(R);
  g.S = static_cast<int>(S);
  g.stride_h = static_cast<int>(stride.first);
  g.stride_w = static_cast<int>(stride.second);
  g.pad_h = static_cast<int>(padding.first);
  g.pad_w = static_cast<int>(padding.second);
  g.P = static_cast<int>(P);
  g.Q = static_cast<int>(Q);
  return g;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::pair<int64_t, int64_t> stride,
              std::pair<int64_t, int64_t> padding) {
  if (auto low = all_low("conv2d", {&x, &weight, &bias}))
    return back_to(conv2d(f32_of(x), f32_of(weight), f32_of(bias), stride, padding), *low);
  if (x.defined() && x.dim() == 3 && weight.defined() && weight.dim() == 4) {  // unbatched (C, H, W), as torch's
    MD_CHECK(x.shape()[0] == weight.shape()[1], ValueError, "conv2d: input of shape ", x.shape(), " has ", x.shape()[0],
             " channels but weight of shape ", weight.shape(), " expects ", weight.shape()[1]);
    return squeeze(conv2d(unsqueeze(x, 0), weight, bias, stride, padding), 0);
  }
  MD_PROFILE("conv2d");
  check_float("conv2d", x);
  check_float("conv2d", weight, "weight");
  check_same_device("conv2d", {&x, &weight, &bias});
  MD_CHECK(x.dim() == 4, ValueError, "conv2d: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got ", x.shape());
  MD_CHECK(weight.dim() == 4, ValueError, "conv2d: weight must be 4-D (K, C, R, S), got ", weight.shape());
  MD_CHECK(weight.shape()[2] > 0 && weight.shape()[3] > 0, ValueError, "conv2d: the kernel of weight ", weight.shape(),
           " must be at least 1x1");
  MD_CHECK(x.shape()[1] == weight.shape()[1], ValueError, "conv2d: input of shape ", x.shape(), " has ", x.shape()[1],
           " channels but weight of shape ", weight.shape(), " expects ", weight.shape()[1]);
  MD_CHECK(stride.first > 0 && stride.second > 0, ValueError, "conv2d: stride must be positive, got (", stride.first,
           ", ", stride.second, ")");
  MD_CHECK(padding.first >= 0 && padding.second >= 0, ValueError, "conv2d: padding must be non-negative, got (",
           padding.first, ", ", padding.second, ")");
  if (bias.defined()) {
    check_float("conv2d", bias, "bias");
    MD_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], ValueError, "conv2d: bias of shape ",
             bias.shape(), " does not match weight of shape ", weight.shape());
  }
  const int64_t ph = x.shape()[2] + 2 * padding.first - weight.shape()[2];
  const int64_t pw = x.shape()[3] + 2 * padding.second - weight.shape()[3];
  MD_CHECK(ph >= 0 && pw >= 0, ValueError, "conv2d: kernel of shape ", weight.shape(),
           " is larger than the padded input of shape ", x.shape(), " (padding (", padding.first, ", ", padding.second,
           "))");
  const Conv2dGeometry g =
      geometry(x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3], weight.shape()[0], weight.shape()[2],
               weight.shape()[3], stride, padding, ph / stride.first + 1, pw / stride.second + 1);
  Tensor xc = x.is_contiguous() ? x.detach() : contiguous(x.detach());
  Tensor w = weight.is_contiguous() ? weight.detach() : contiguous(weight.detach());
  Tensor b = bias.defined() ? (bias.is_contiguous() ? bias.detach() : contiguous(bias.detach())) : Tensor();
  Tensor out = Tensor::empty({g.N, g.K, g.P, g.Q}, DType::Float32, x.device());
  // What the backward's weight gradient can reuse of the forward's work (the CPU's Winograd input
  // transform on small maps), kept only while the weight's gradient will be wanted.
  Tensor saved;
  if (out.numel() && g.C > 0 && weight.requires_grad() && grad_enabled()) {
    const int64_t n = MD_DISPATCH(x.device(), conv2d_saved_floats, g);
    if (n > 0) saved = Tensor::empty({n}, DType::Float32, x.device());
  }
  if (out.numel()) {
    if (g.C == 0) {
      MD_DISPATCH(x.device(), fill_f32, out.f32(), 0.0f, out.numel());
      if (b.defined()) out = add(out, reshape(b, {1, g.K, 1, 1}));
    } else {
      MD_DISPATCH(x.device(), conv2d_forward, out.f32(), xc.f32(), w.f32(), b.defined() ? b.f32() : nullptr, g,
                  saved.defined() ? saved.f32() : nullptr);
    }
  }
  if (any_requires_grad({&x, &weight, &bias})) {
    const bool has_bias = b.defined();
    record("conv2d", out, {x, weight, bias},
           [xc, w, g, has_bias, saved](const Tensor& dout, const GradMask& n) {
             Tensor gc = contiguous(dout);
             Tensor dx, dw, db;
             if (n[0]) dx = Tensor::empty(xc.shape(), DType::Float32, gc.device());
             if (n[1]) dw = Tensor::empty(w.shape(), DType::Float32, gc.device());
             if (n[2] && has_bias) db = Tensor::empty({g.K}, DType::Float32, gc.device());
             if (gc.numel() && g.C > 0) {
               MD_DISPATCH(gc.device(), conv2d_backward, dx.defined() ? dx.f32() : nullptr,
                           dw.defined() ? dw.f32() : nullptr, db.defined() ? db.f32() : nullptr, gc.f32(), xc.f32(),
                           w.f32(), g, saved.defined() ? saved.f32() : nullptr);
             } else {
               for (Tensor* t : {&dx, &dw, &db})
                 if (t->defined()) fill_(*t, 0.0);
               if (db.defined() && gc.numel()) db = reshape(sum(gc, {0, 2, 3}), {g.K});
             }
             return std::vector<Tensor>{dx, dw, db};
           },
           {x.requires_grad() ? w : Tensor(), weight.requires_grad() ? xc : Tensor()});
  }
  return out;
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::pair<int64_t, int64_t> stride,
                        std::pair<int64_t, int64_t> padding, std::pair<int64_t, int64_t> output_padding) {
  if (auto low = all_low("conv_transpose2d", {&x, &weight, &bias}))
    return back_to(conv_transpose2d(f32_of(x), f32_of(weight), f32_of(bias), stride, padding, output_padding), *low);
  if (x.defined() && x.dim() == 3 && weight.defined() && weight.dim() == 4) {  // unbatched (C_in, H, W), as torch's
    MD_CHECK(x.shape()[0] == weight.shape()[0], ValueError, "conv_transpose2d: input of shape ", x.shape(), " has ",
             x.shape()[0], " channels but weight of shape ", weight.shape(), " expects ", weight.shape()[0]);
    return squeeze(conv_transpose2d(unsqueeze(x, 0), weight, bias, stride, padding, output_padding), 0);
  }
  MD_PROFILE("conv_transpose2d");
  const char* op = "conv_transpose2d";
  check_float(op, x);
  check_float(op, weight, "weight");
  check_same_device(op, {&x, &weight, &bias});
  MD_CHECK(x.dim() == 4, ValueError, op, ": input must be 3-D (C_in, H, W) or 4-D (N, C_in, H, W), got ", x.shape());
  MD_CHECK(weight.dim() == 4, ValueError, op, ": weight must be 4-D (C_in, C_out, R, S), got ", weight.shape());
  MD_CHECK(weight.shape()[2] > 0 && weight.shape()[3] > 0, ValueError, op, ": the kernel of weight ", weight.shape(),
           " must be at least 1x1");
  MD_CHECK(x.shape()[1] == weight.shape()[0], ValueError, op, ": input of shape ", x.shape(), " has ", x.shape()[1],
           " channels but weight of shape ", weight.shape(), " expects ", weight.shape()[0]);
  MD_CHECK(stride.first > 0 && stride.second > 0, ValueError, op, ": stride must be positive, got (", stride.first,
           ", ", stride.second, ")");
  MD_CHECK(padding.first >= 0 && padding.second >= 0, ValueError, op, ": padding must be non-negative, got (",
           padding.first, ", ", padding.second, ")");
  MD_CHECK(output_padding.first >= 0 && output_padding.second >= 0 && output_padding.first < stride.first &&
               output_padding.second < stride.second,
           ValueError, op, ": output_padding must be non-negative and smaller than the stride, got (",
           output_padding.first, ", ", output_padding.second, ") with stride (", stride.first, ", ", stride.second,
           ")");
  if (bias.defined()) {
    check_float(op, bias, "bias");
    MD_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[1], ValueError, op, ": bias of shape ", bias.shape(),
             " does not match weight of shape ", weight.shape());
  }
  const int64_t H = x.shape()[2], W = x.shape()[3];
  const int64_t Ho = (H - 1) * stride.first - 2 * padding.first + weight.shape()[2] + output_padding.first;
  const int64_t Wo = (W - 1) * stride.second - 2 * padding.second + weight.shape()[3] + output_padding.second;
  MD_CHECK(Ho >= 0 && Wo >= 0, ValueError, op, ": input of shape ", x.shape(), " with weight of shape ", weight.shape(),
           " and padding (", padding.first, ", ", padding.second, ") gives an output of size (", Ho, ", ", Wo, ")");
  // The convolution whose input gradient this is: input (N, C_out, Ho, Wo), weight (C_in, C_out,
  // R, S) read as (K, C, R, S), output (N, C_in, H, W).
  const Conv2dGeometry g = geometry(x.shape()[0], weight.shape()[1], Ho, Wo, weight.shape()[0], weight.shape()[2],
                                    weight.shape()[3], stride, padding, H, W);
  Tensor xc = x.is_contiguous() ? x.detach() : contiguous(x.detach());
  Tensor w = weight.is_contiguous() ? weight.detach() : contiguous(weight.detach());
  Tensor out = Tensor::empty({g.N, g.C, Ho, Wo}, DType::Float32, x.device());
  const bool work = out.numel() > 0 && xc.numel() > 0 && g.K > 0;
  if (work)
    MD_DISPATCH(x.device(), conv2d_backward, out.f32(), nullptr, nullptr, xc.f32(), nullptr, w.f32(), g, nullptr);
  else if (out.numel())
    fill_(out, 0.0);
  if (any_requires_grad({&x, &weight})) {
    record(op, out, {x, weight},
           [xc, w, g, work](const Tensor& dout, const GradMask& n) {
             Tensor gc = contiguous(dout);
             Tensor dx, dw;
             if (n[0]) dx = Tensor::empty(xc.shape(), DType::Float32, gc.device());
             if (n[1]) dw = Tensor::empty(w.shape(), DType::Float32, gc.device());
             if (work) {
               if (dx.defined())
                 MD_DISPATCH(gc.device(), conv2d_forward, dx.f32(), gc.f32(), w.f32(), nullptr, g, nullptr);
               if (dw.defined())
                 MD_DISPATCH(gc.device(), conv2d_backward, nullptr, dw.f32(), nullptr, xc.f32(), gc.f32(), w.f32(), g,
                             nullptr);
             } else {
               for (Tensor* t : {&dx, &dw})
                 if (t->defined()) fill_(*t, 0.0);
             }
             return std::vector<Tensor>{dx, dw};
           },
           {x.requires_grad() ? w : Tensor(), weight.requires_grad() ? xc : Tensor()});
  }
  if (bias.defined()) out = add(out, reshape(bias, {1, g.C, 1, 1}));
  return out;
}

}  // namespace md
