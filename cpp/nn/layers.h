// The basic layers of md.nn, with PyTorch's parameter names and default initialisation, and the
// diffusers Attention block. Each forward is written with ops.
#pragma once

#include <optional>

#include "nn/module.h"

namespace md::nn {

class Linear : public Module {
 public:
  MD_MODULE_CLONE(Linear)
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) const;
  int64_t in_features, out_features;
};

class Conv2d : public Module {
 public:
  MD_MODULE_CLONE(Conv2d)
  // padding_mode: "zeros", or "reflect", "replicate", "circular" (the input is padded so, then
  // convolved without padding, as torch's).
  Conv2d(int64_t in_channels, int64_t out_channels, std::pair<int64_t, int64_t> kernel_size,
         std::pair<int64_t, int64_t> stride = {1, 1}, std::pair<int64_t, int64_t> padding = {0, 0}, bool bias = true,
         std::string padding_mode = "zeros");
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) const;
  int64_t in_channels, out_channels;
  std::pair<int64_t, int64_t> kernel_size, stride, padding;
  std::string padding_mode;
  std::string padding_name;  // "same" or "valid" when padding was given so: the repr prints it, as torch's
  // padding="same" with an even kernel: one more (bottom, right) row / column of padding, as torch's
  std::pair<int64_t, int64_t> same_extra{0, 0};
};

// torch.nn.ConvTranspose2d (groups and dilation 1): weight (in_channels, out_channels, R, S).
class ConvTranspose2d : public Module {
 public:
  MD_MODULE_CLONE(ConvTranspose2d)
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, std::pair<int64_t, int64_t> kernel_size,
                  std::pair<int64_t, int64_t> stride = {1, 1}, std::pair<int64_t, int64_t> padding = {0, 0},
                  std::pair<int64_t, int64_t> output_padding = {0, 0}, bool bias = true);
  std::string type_name() const override { return "ConvTranspose2d"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) const;
  int64_t in_channels, out_channels;
  std::pair<int64_t, int64_t> kernel_size, stride, padding, output_padding;
};

class GroupNorm : public Module {
 public:
  MD_MODULE_CLONE(GroupNorm)
  // affine: a per-channel weight and (with bias, as torch 2.13's) bias.
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true, bool bias = true);
  std::string type_name() const override { return "GroupNorm"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) const;
  // silu(group_norm(x)) in one fused op.
  Tensor forward_silu(const Tensor& x) const;
  int64_t num_groups, num_channels;
  double eps;
  bool affine;
};

class LayerNorm : public Module {
 public:
  MD_MODULE_CLONE(LayerNorm)
  // bias=false (torch's bias argument): a weight but no bias.
  LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true, bool bias = true);
  std::string type_name() const override { return "LayerNorm"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) const;
  Shape normalized_shape;
  double eps;
  bool elementwise_affine, has_bias;
};

class SiLU : public Module {
 public:
  MD_MODULE_CLONE(SiLU)
  std::string type_name() const override { return "SiLU"; }
  Tensor forward(const Tensor& x) const { return silu(x); }
};

class Identity : public Module {
 public:
  MD_MODULE_CLONE(Identity)
  std::string type_name() const override { return "Identity"; }
  Tensor forward(const Tensor& x) const { return x; }
};

class Dropout : public Module {
 public:
  MD_MODULE_CLONE(Dropout)
  // inplace: torch's flag, kept for its repr; the result is a new tensor either way (the
  // autograd tape records the out-of-place op)
  explicit Dropout(double p = 0.5, bool inplace = false);
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) const { return dropout(x, p, training_); }
  double p;
  bool inplace;
};

class Embedding : public Module {
 public:
  MD_MODULE_CLONE(Embedding)
  // padding_idx: a row (>= 0) that starts at zero and gets no gradient; -1 for none.
  Embedding(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx = -1);
  std::string type_name() const override { return "Embedding"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& idx) const;
  int64_t num_embeddings, embedding_dim, padding_idx;
  // torch's flags: the gradient of each looked-up row divided by how often its index occurs in the
  // batch; sparse is kept for the repr (the gradient is dense).
  bool scale_grad_by_freq = false, sparse = false;
};

// A list of modules named "0", "1", ...
class ModuleList : public Module {
 public:
  MD_MODULE_CLONE(ModuleList)
  std::string type_name() const override { return "ModuleList"; }
  void append(std::shared_ptr<Module> m) { register_module(std::to_string(children_.size()), std::move(m)); }
  size_t size() const { return children_.size(); }
  std::shared_ptr<Module> at(int64_t i) const;
  template <typename M>
  M& get(int64_t i) const {
    return static_cast<M&>(*at(i));
  }
};

// diffusers' Attention as the UNet blocks build it: optional group_norm over channels, to_q /
// to_k / to_v / to_out.0 projections, heads = query_dim / dim_head, a residual connection and a
// rescale of the output. Accepts (B, C, H, W) or (B, L, C) input.
class Attention : public Module {
 public:
  MD_MODULE_CLONE(Attention)
  Attention(int64_t query_dim, int64_t heads, int64_t dim_head, std::optional<int64_t> norm_num_groups, double eps,
            double rescale_output_factor, bool residual_connection, bool bias = true, double dropout = 0.0);
  std::string type_name() const override { return "Attention"; }
  std::string extra_repr() const override;
  Tensor forward(const Tensor& x) const;
  int64_t query_dim, heads, dim_head;
  double rescale_output_factor;
  bool residual_connection;
};

}  // namespace md::nn
