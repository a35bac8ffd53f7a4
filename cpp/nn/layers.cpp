// Basic layers and the diffusers Attention block.
#include "nn/layers.h"
#include <cmath>

namespace md::nn {

namespace {

// A layer's "weight" of the given shape and, when bias, its "bias" of bias_size, both drawn as
// PyTorch's defaults draw them for fan_in; without bias, "bias" reads as None.
void add_weight_and_bias(Module& m, const Shape& weight_shape, int64_t bias_size, int64_t fan_in, bool bias) {
  Tensor w = empty(weight_shape);
  init_uniform_fan_in(w, fan_in);
  m.register_parameter("weight", w);
  if (bias) {
    Tensor b = empty({bias_size});
    init_uniform_fan_in(b, fan_in);
    m.register_parameter("bias", b);
  } else {
    m.declare_absent("bias");
  }
}

}  // namespace

// ---- Linear

Linear::Linear(int64_t in, int64_t out, bool bias) : in_features(in), out_features(out) {
  MD_CHECK(in >= 0 && out >= 0, ValueError, "Linear: features must be non-negative, got (", in, ", ", out, ")");
  add_weight_and_bias(*this, {out, in}, out, in, bias);
}

std::string Linear::extra_repr() const {
  return str("in_features=", in_features, ", out_features=", out_features,
             ", bias=", has_parameter("bias") ? "True" : "False");
}

Tensor Linear::forward(const Tensor& x) const { return linear(x, parameter("weight"), parameter("bias")); }

// ---- Conv2d

Conv2d::Conv2d(int64_t in, int64_t out, std::pair<int64_t, int64_t> k, std::pair<int64_t, int64_t> s,
               std::pair<int64_t, int64_t> p, bool bias, std::string mode)
    : in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p), padding_mode(std::move(mode)) {
  MD_CHECK(in > 0 && out > 0 && k.first > 0 && k.second > 0, ValueError, "Conv2d: invalid channels (", in, ", ", out,
           ") or kernel size (", k.first, ", ", k.second, ")");
  MD_CHECK(
      padding_mode == "zeros" || padding_mode == "reflect" || padding_mode == "replicate" || padding_mode == "circular",
      ValueError, "Conv2d: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got '", padding_mode,
      "'");
  add_weight_and_bias(*this, {out, in, k.first, k.second}, out, in * k.first * k.second, bias);
}

namespace {

std::string pair_str(std::pair<int64_t, int64_t> p) { return str("(", p.first, ", ", p.second, ")"); }

// torch's _ConvNd.extra_repr: the channels, kernel and stride, then only the settings that are
// not at their defaults.
std::string conv_repr(const Module& m, int64_t in, int64_t out, std::pair<int64_t, int64_t> kernel,
                      std::pair<int64_t, int64_t> stride, const std::string& padding,
                      std::pair<int64_t, int64_t> output_padding, const std::string& padding_mode) {
  std::string s = str(in, ", ", out, ", kernel_size=", pair_str(kernel), ", stride=", pair_str(stride));
  if (padding != "(0, 0)") s += ", padding=" + padding;
  if (output_padding != std::pair<int64_t, int64_t>{0, 0}) s += ", output_padding=" + pair_str(output_padding);
  if (!m.has_parameter("bias")) s += ", bias=False";
  if (padding_mode != "zeros") s += ", padding_mode=" + padding_mode;
  return s;
}

}  // namespace

std::string Conv2d::extra_repr() const {
  return conv_repr(*this, in_channels, out_channels, kernel_size, stride,
                   padding_name.empty() ? pair_str(padding) : padding_name, {0, 0}, padding_mode);
}

Tensor Conv2d::forward(const Tensor& x) const {
  const auto [eh, ew] = same_extra;
  if (padding_mode == "zeros") {
    if (eh || ew) return conv2d(pad(x, {0, ew, 0, eh}), parameter("weight"), parameter("bias"), stride, padding);
    return conv2d(x, parameter("weight"), parameter("bias"), stride, padding);
  }
  MD_CHECK(x.dim() == 4 || x.dim() == 3, ValueError,
           "Conv2d: expected a 3D (C, H, W) or 4D (N, C, H, W) input, got shape ", x.shape());
  const Tensor padded =
      pad_by_mode(x, {padding.second, padding.second + ew, padding.first, padding.first + eh}, padding_mode, "Conv2d");
  return conv2d(padded, parameter("weight"), parameter("bias"), stride, {0, 0});
}

// ---- ConvTranspose2d

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, std::pair<int64_t, int64_t> k, std::pair<int64_t, int64_t> s,
                                 std::pair<int64_t, int64_t> p, std::pair<int64_t, int64_t> op, bool bias)
    : in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p), output_padding(op) {
  MD_CHECK(in > 0 && out > 0 && k.first > 0 && k.second > 0, ValueError, "ConvTranspose2d: invalid channels (", in,
           ", ", out, ") or kernel size (", k.first, ", ", k.second, ")");
  MD_CHECK(op.first >= 0 && op.second >= 0 && op.first < s.first && op.second < s.second, ValueError,
           "ConvTranspose2d: output_padding (", op.first, ", ", op.second,
           ") must be non-negative and smaller than the stride (", s.first, ", ", s.second, ")");
  // torch computes the fan-in from the weight's dim 1, which for a transposed conv is out_channels
  add_weight_and_bias(*this, {in, out, k.first, k.second}, out, out * k.first * k.second, bias);
}

std::string ConvTranspose2d::extra_repr() const {
  return conv_repr(*this, in_channels, out_channels, kernel_size, stride, pair_str(padding), output_padding, "zeros");
}

Tensor ConvTranspose2d::forward(const Tensor& x) const {
  return conv_transpose2d(x, parameter("weight"), parameter("bias"), stride, padding, output_padding);
}

// ---- GroupNorm

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double e, bool affine, bool bias)
    : num_groups(groups), num_channels(channels), eps(e), affine(affine) {
  MD_CHECK(groups > 0 && channels % groups == 0, ValueError, "GroupNorm: num_channels (", channels,
           ") must be divisible by num_groups (", groups, ")");
  if (affine)
    register_parameter("weight", ones({channels}));
  else
    declare_absent("weight");
  if (affine && bias)
    register_parameter("bias", zeros({channels}));
  else
    declare_absent("bias");
}

std::string GroupNorm::extra_repr() const {
  return str(num_groups, ", ", num_channels, ", eps=", eps, ", affine=", affine ? "True" : "False",
             ", bias=", has_parameter("bias") ? "True" : "False");
}

Tensor GroupNorm::forward(const Tensor& x) const {
  return group_norm(x, num_groups, parameter("weight"), parameter("bias"), eps);
}

Tensor GroupNorm::forward_silu(const Tensor& x) const {
  // a hook on the norm sees its own output, as in diffusers, where SiLU is a separate step
  if (has_forward_hooks()) return silu(call(*this, x));
  return group_norm(x, num_groups, parameter("weight"), parameter("bias"), eps, /*fuse_silu=*/true);
}

// ---- LayerNorm

LayerNorm::LayerNorm(Shape shape, double e, bool affine, bool bias)
    : normalized_shape(std::move(shape)), eps(e), elementwise_affine(affine), has_bias(affine && bias) {
  if (affine)
    register_parameter("weight", ones(normalized_shape));
  else
    declare_absent("weight");
  if (has_bias)
    register_parameter("bias", zeros(normalized_shape));
  else
    declare_absent("bias");
}

std::string LayerNorm::extra_repr() const {
  std::string shape = "(";  // torch prints the shape as a tuple: (8,) or (4, 8)
  for (size_t i = 0; i < normalized_shape.size(); ++i)
    shape += std::to_string(normalized_shape[i]) + (normalized_shape.size() == 1      ? ","
                                                    : i + 1 < normalized_shape.size() ? ", "
                                                                                      : "");
  shape += ")";
  return str(shape, ", eps=", eps, ", elementwise_affine=", elementwise_affine ? "True" : "False",
             ", bias=", has_bias ? "True" : "False");
}

Tensor LayerNorm::forward(const Tensor& x) const {
  return layer_norm(x, normalized_shape, parameter("weight"), parameter("bias"), eps);
}

// ---- Dropout, Embedding, ModuleList

Dropout::Dropout(double prob, bool in_place) : p(prob), inplace(in_place) {
  MD_CHECK(prob >= 0.0 && prob <= 1.0, ValueError, "Dropout: p must be in [0, 1], got ", prob);
}

namespace {
// A float as Python's repr writes it, as torch's reprs show them: 0.0, not 0.
std::string float_repr(double v) {
  std::string s = str(v);
  if (std::isfinite(v) && s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}
}  // namespace

std::string Dropout::extra_repr() const { return str("p=", float_repr(p), ", inplace=", inplace ? "True" : "False"); }

Embedding::Embedding(int64_t n, int64_t d, int64_t padding)
    : num_embeddings(n), embedding_dim(d), padding_idx(padding) {
  MD_CHECK(n > 0 && d > 0, ValueError, "Embedding: sizes must be positive, got (", n, ", ", d, ")");
  MD_CHECK(padding >= -1 && padding < n, ValueError, "Embedding: padding_idx must be within num_embeddings (", n,
           "), got ", padding);
  Tensor w = empty({n, d});
  NoGradGuard no_grad;
  normal_(w, 0.0f, 1.0f);
  if (padding >= 0) {  // as torch: the padding row starts at zero
    Tensor row = slice(w, 0, padding, padding + 1);
    fill_(row, 0.0);
  }
  register_parameter("weight", w);
}

std::string Embedding::extra_repr() const {
  return str(num_embeddings, ", ", embedding_dim, padding_idx >= 0 ? str(", padding_idx=", padding_idx) : "",
             scale_grad_by_freq ? ", scale_grad_by_freq=True" : "", sparse ? ", sparse=True" : "");
}

Tensor Embedding::forward(const Tensor& idx) const {
  return embedding(idx, parameter("weight"), padding_idx, scale_grad_by_freq);
}

std::shared_ptr<Module> ModuleList::at(int64_t i) const {
  const int64_t n = static_cast<int64_t>(children_.size());
  MD_CHECK(i >= -n && i < n, IndexError, "ModuleList index ", i, " out of range for ", n, " modules");
  return children_[i < 0 ? i + n : i].second;
}

// ---- Attention

Attention::Attention(int64_t qdim, int64_t h, int64_t dh, std::optional<int64_t> norm_num_groups, double eps,
                     double rescale, bool residual, bool bias, double dropout_p)
    : query_dim(qdim), heads(h), dim_head(dh), rescale_output_factor(rescale), residual_connection(residual) {
  MD_CHECK(h > 0 && dh > 0, ValueError, "Attention: heads (", h, ") and dim_head (", dh, ") must be positive");
  const int64_t inner = h * dh;
  if (norm_num_groups) add_child("group_norm", std::make_shared<GroupNorm>(*norm_num_groups, qdim, eps));
  add_child("to_q", std::make_shared<Linear>(qdim, inner, bias));
  add_child("to_k", std::make_shared<Linear>(qdim, inner, bias));
  add_child("to_v", std::make_shared<Linear>(qdim, inner, bias));
  auto out = add_child("to_out", std::make_shared<ModuleList>());
  out->append(std::make_shared<Linear>(inner, qdim, true));
  out->append(std::make_shared<Dropout>(dropout_p));
}

std::string Attention::extra_repr() const {
  return str("query_dim=", query_dim, ", heads=", heads, ", dim_head=", dim_head);
}

Tensor Attention::forward(const Tensor& input) const {
  MD_CHECK(input.dim() == 4 || input.dim() == 3, ValueError, "Attention: input must be (B, C, H, W) or (B, L, C), got ",
           input.shape());
  const bool spatial = input.dim() == 4;
  const int64_t B = input.shape()[0];
  const int64_t C = spatial ? input.shape()[1] : input.shape()[2];
  MD_CHECK(C == query_dim, ValueError, "Attention: input ", input.shape(), " has ", C, " channels, expected ",
           query_dim);
  Tensor x = input;
  if (auto gn = child("group_norm")) {
    // group_norm normalises over channels: (B, C, H, W) as is, or (B, L, C) transposed to (B, C, L)
    const auto& norm = static_cast<const GroupNorm&>(*gn);
    x = spatial ? call(norm, x) : transpose(call(norm, transpose(x, 1, 2)), 1, 2);
  }
  if (spatial) x = transpose(reshape(x, {B, C, -1}), 1, 2);  // (B, L, C)
  x = contiguous(x);
  const int64_t L = x.shape()[1];
  auto proj = [&](const char* name) { return call(static_cast<const Linear&>(*child(name)), x); };
  auto split_heads = [&](const Tensor& t) { return transpose(reshape(t, {B, L, heads, dim_head}), 1, 2); };
  Tensor q = split_heads(proj("to_q")), k = split_heads(proj("to_k")), v = split_heads(proj("to_v"));
  Tensor o = scaled_dot_product_attention(q, k, v);           // (B, heads, L, dim_head)
  o = reshape(transpose(o, 1, 2), {B, L, heads * dim_head});  // (B, L, inner)
  const auto& to_out = static_cast<const ModuleList&>(*child("to_out"));
  o = call(to_out.get<Linear>(0), o);
  o = call(to_out.get<Dropout>(1), o);
  if (spatial) o = reshape(transpose(o, 1, 2), input.shape());
  if (residual_connection) o = add(o, input);
  if (rescale_output_factor != 1.0) o = div(o, rescale_output_factor);
  return o;
}

}  // namespace md::nn
