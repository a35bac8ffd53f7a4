// diffusers' UNet2DModel, with its config field names and parameter names, built from md.nn
// layers: sinusoidal Timesteps + TimestepEmbedding, Down/AttnDown blocks, UNetMidBlock2D,
// Up/AttnUp blocks with skip concatenation, ResnetBlock2D, Downsample2D, Upsample2D.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace md::nn {

struct UNet2DConfig {
  std::optional<int64_t> sample_size;
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  bool center_input_sample = false;
  std::string time_embedding_type = "positional";
  std::optional<int64_t> time_embedding_dim;
  double freq_shift = 0;
  bool flip_sin_to_cos = true;
  std::vector<std::string> down_block_types{"DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"};
  std::optional<std::string> mid_block_type = std::string("UNetMidBlock2D");
  std::vector<std::string> up_block_types{"AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"};
  std::vector<int64_t> block_out_channels{224, 448, 672, 896};
  int64_t layers_per_block = 2;
  double mid_block_scale_factor = 1.0;
  int64_t downsample_padding = 1;
  std::string downsample_type = "conv";
  std::string upsample_type = "conv";
  double dropout = 0.0;
  std::string act_fn = "silu";
  std::optional<int64_t> attention_head_dim = 8;
  int64_t norm_num_groups = 32;
  std::optional<int64_t> attn_norm_num_groups;
  double norm_eps = 1e-5;
  std::string resnet_time_scale_shift = "default";
  bool add_attention = true;
  std::optional<std::string> class_embed_type;
  std::optional<int64_t> num_class_embeds;
  std::optional<int64_t> num_train_timesteps;

  // Throws ValueError listing every unsupported or inconsistent value.
  void validate() const;
};

// Sinusoidal embedding of (B,) timesteps, as diffusers' get_timestep_embedding.
class Timesteps : public Module {
 public:
  MD_MODULE_CLONE(Timesteps)
  Timesteps(int64_t num_channels, bool flip_sin_to_cos, double downscale_freq_shift);
  std::string type_name() const override { return "Timesteps"; }
  Tensor forward(const Tensor& timesteps) const;
  int64_t num_channels;
  bool flip_sin_to_cos;
  double downscale_freq_shift;
};

class TimestepEmbedding : public Module {
 public:
  MD_MODULE_CLONE(TimestepEmbedding)
  TimestepEmbedding(int64_t in_channels, int64_t time_embed_dim);
  std::string type_name() const override { return "TimestepEmbedding"; }
  Tensor forward(const Tensor& x) const;
};

class ResnetBlock2D : public Module {
 public:
  MD_MODULE_CLONE(ResnetBlock2D)
  ResnetBlock2D(int64_t in_channels, int64_t out_channels, int64_t temb_channels, double eps, int64_t groups,
                double dropout, const std::string& time_embedding_norm, double output_scale_factor);
  std::string type_name() const override { return "ResnetBlock2D"; }
  // temb: the time embedding, before the SiLU this block applies (as diffusers' block).
  Tensor forward(const Tensor& x, const Tensor& temb) const;
  int64_t in_channels, out_channels;
  std::string time_embedding_norm;
  double output_scale_factor;
};

class Downsample2D : public Module {
 public:
  MD_MODULE_CLONE(Downsample2D)
  Downsample2D(int64_t channels, int64_t padding);
  std::string type_name() const override { return "Downsample2D"; }
  Tensor forward(const Tensor& x) const;
  int64_t padding;
};

class Upsample2D : public Module {
 public:
  MD_MODULE_CLONE(Upsample2D)
  explicit Upsample2D(int64_t channels);
  std::string type_name() const override { return "Upsample2D"; }
  Tensor forward(const Tensor& x) const;
};

// Down blocks: resnets (+ attentions), then an optional downsampler. forward returns the block
// output and the skip tensors it contributes.
class DownBlock : public Module {
 public:
  MD_MODULE_CLONE(DownBlock)
  DownBlock(const std::string& kind, int64_t num_layers, int64_t in_channels, int64_t out_channels,
            int64_t temb_channels, bool add_downsample, const UNet2DConfig& cfg);
  std::string type_name() const override { return kind; }
  Tensor forward(const Tensor& x, const Tensor& temb, std::vector<Tensor>& skips) const;
  std::string kind;
  bool has_attention;
};

class UNetMidBlock2D : public Module {
 public:
  MD_MODULE_CLONE(UNetMidBlock2D)
  UNetMidBlock2D(int64_t channels, int64_t temb_channels, const UNet2DConfig& cfg);
  std::string type_name() const override { return "UNetMidBlock2D"; }
  Tensor forward(const Tensor& x, const Tensor& temb) const;
  bool has_attention;
};

class UpBlock : public Module {
 public:
  MD_MODULE_CLONE(UpBlock)
  UpBlock(const std::string& kind, int64_t num_layers, int64_t in_channels, int64_t prev_output_channel,
          int64_t out_channels, int64_t temb_channels, bool add_upsample, const UNet2DConfig& cfg);
  std::string type_name() const override { return kind; }
  // Consumes skips from the back, one per resnet.
  Tensor forward(const Tensor& x, std::vector<Tensor>& skips, const Tensor& temb) const;
  size_t num_resnets() const;
  std::string kind;
  bool has_attention;
};

class UNet2DModel : public Module {
 public:
  MD_MODULE_CLONE(UNet2DModel)
  explicit UNet2DModel(UNet2DConfig cfg);
  std::string type_name() const override { return "UNet2DModel"; }
  // sample (B, C, H, W); timesteps () or (B,) float32 or int64; class_labels (B,) int64 (or float
  // (B, time_embed_dim) for class_embed_type "identity") when the model is class-conditional.
  Tensor forward(const Tensor& sample, const Tensor& timesteps, const Tensor& class_labels = Tensor()) const;
  const UNet2DConfig& config() const { return cfg_; }

 private:
  UNet2DConfig cfg_;
};

}  // namespace md::nn
