// UNet2DModel and its blocks, mirroring diffusers' module tree so that parameter names match.
#include "nn/unet2d.h"

#include <cmath>

namespace md::nn {

namespace {
const Module& child_ref(const Module& m, const char* name) {
  auto c = m.child(name);
  MD_CHECK(c != nullptr, RuntimeError, m.type_name(), ": missing submodule '", name, "'");
  return *c;
}
template <typename M>
const M& as(const Module& m, const char* name) {
  return static_cast<const M&>(child_ref(m, name));
}
}  // namespace

// ---- config

void UNet2DConfig::validate() const {
  std::vector<std::string> errors;
  auto err = [&](const std::string& s) { errors.push_back(s); };
  const size_t n = block_out_channels.size();
  if (n == 0) err("block_out_channels must not be empty");
  if (down_block_types.size() != n)
    err(str("down_block_types has ", down_block_types.size(), " entries but block_out_channels has ", n));
  if (up_block_types.size() != down_block_types.size())
    err(str("up_block_types has ", up_block_types.size(), " entries but down_block_types has ",
            down_block_types.size()));
  for (const auto& t : down_block_types)
    if (t != "DownBlock2D" && t != "AttnDownBlock2D")
      err("unsupported down block type '" + t + "' (supported: DownBlock2D, AttnDownBlock2D)");
  for (const auto& t : up_block_types)
    if (t != "UpBlock2D" && t != "AttnUpBlock2D")
      err("unsupported up block type '" + t + "' (supported: UpBlock2D, AttnUpBlock2D)");
  if (mid_block_type && *mid_block_type != "UNetMidBlock2D")
    err("unsupported mid_block_type '" + *mid_block_type + "' (supported: UNetMidBlock2D or None)");
  if (time_embedding_type != "positional")
    err("unsupported time_embedding_type '" + time_embedding_type + "' (supported: positional)");
  if (act_fn != "silu" && act_fn != "swish") err("unsupported act_fn '" + act_fn + "' (supported: silu)");
  if (resnet_time_scale_shift != "default" && resnet_time_scale_shift != "scale_shift")
    err("unsupported resnet_time_scale_shift '" + resnet_time_scale_shift + "' (supported: default, scale_shift)");
  if (downsample_type != "conv") err("unsupported downsample_type '" + downsample_type + "' (supported: conv)");
  if (upsample_type != "conv") err("unsupported upsample_type '" + upsample_type + "' (supported: conv)");
  if (class_embed_type && *class_embed_type != "timestep" && *class_embed_type != "identity")
    err("unsupported class_embed_type '" + *class_embed_type + "' (supported: None, timestep, identity)");
  if (downsample_padding != 0 && downsample_padding != 1)
    err(str("downsample_padding must be 0 or 1, got ", downsample_padding));
  if (in_channels <= 0 || out_channels <= 0) err("in_channels and out_channels must be positive");
  if (layers_per_block <= 0) err("layers_per_block must be positive");
  if (dropout < 0 || dropout > 1) err(str("dropout must be in [0, 1], got ", dropout));
  if (norm_num_groups <= 0) err("norm_num_groups must be positive");
  for (int64_t c : block_out_channels) {
    if (c <= 0)
      err(str("block_out_channels entries must be positive, got ", c));
    else if (norm_num_groups > 0 && c % norm_num_groups != 0)
      err(str("block_out_channels entry ", c, " is not divisible by norm_num_groups=", norm_num_groups));
  }
  // heads = channels / attention_head_dim, where there is attention (as diffusers builds it)
  auto check_heads = [&](int64_t c, const std::string& where) {
    if (attention_head_dim && *attention_head_dim > 0 && c > 0 && c % *attention_head_dim != 0)
      err(str(where, " has ", c, " channels, not divisible by attention_head_dim=", *attention_head_dim));
  };
  if (down_block_types.size() == n && up_block_types.size() == n) {
    for (size_t i = 0; i < n; ++i) {
      if (down_block_types[i] == "AttnDownBlock2D") check_heads(block_out_channels[i], str("down block ", i));
      if (up_block_types[i] == "AttnUpBlock2D") check_heads(block_out_channels[n - 1 - i], str("up block ", i));
    }
  }
  if (n && mid_block_type && add_attention) check_heads(block_out_channels[n - 1], "the mid block");
  if (attention_head_dim && *attention_head_dim <= 0) err("attention_head_dim must be positive or None");
  if (num_class_embeds && *num_class_embeds <= 0) err("num_class_embeds must be positive");
  if (!errors.empty()) {
    std::string msg = "UNet2DModel: invalid config: ";
    for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "; " : "") + errors[i];
    throw ValueError(msg);
  }
}

// ---- time embedding

Timesteps::Timesteps(int64_t channels, bool flip, double shift)
    : num_channels(channels), flip_sin_to_cos(flip), downscale_freq_shift(shift) {
  const int64_t half = channels / 2;
  // float32 arithmetic in the same order as diffusers, so the embedding matches to the last bits
  std::vector<float> freqs(half);
  const float log_period = -std::log(10000.0f);
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = log_period * static_cast<float>(i) / static_cast<float>(half - shift);
    freqs[i] = std::exp(exponent);
  }
  register_buffer("freqs", from_host(freqs.data(), {half}, DType::Float32), /*persistent=*/false);
}

Tensor Timesteps::forward(const Tensor& timesteps) const {
  MD_CHECK(timesteps.dim() == 1, ValueError, "Timesteps: expected (B,) timesteps, got ", timesteps.shape());
  Tensor t = to_dtype(timesteps, DType::Float32);
  Tensor args = mul(unsqueeze(t, 1), unsqueeze(buffer("freqs"), 0));  // (B, half)
  Tensor s = sin(args), c = cos(args);
  Tensor emb = flip_sin_to_cos ? cat({c, s}, 1) : cat({s, c}, 1);
  if (num_channels % 2 == 1) emb = pad(emb, {0, 1});
  return emb;
}

TimestepEmbedding::TimestepEmbedding(int64_t in, int64_t dim) {
  add_child("linear_1", std::make_shared<Linear>(in, dim));
  add_child("act", std::make_shared<SiLU>());
  add_child("linear_2", std::make_shared<Linear>(dim, dim));
}

Tensor TimestepEmbedding::forward(const Tensor& x) const {
  return call(as<Linear>(*this, "linear_2"), silu(call(as<Linear>(*this, "linear_1"), x)));
}

// ---- ResnetBlock2D

ResnetBlock2D::ResnetBlock2D(int64_t in, int64_t out, int64_t temb, double eps, int64_t groups, double dropout_p,
                             const std::string& norm, double scale)
    : in_channels(in), out_channels(out), time_embedding_norm(norm), output_scale_factor(scale) {
  add_child("norm1", std::make_shared<GroupNorm>(groups, in, eps));
  add_child("conv1",
            std::make_shared<Conv2d>(in, out, std::make_pair(3, 3), std::make_pair(1, 1), std::make_pair(1, 1)));
  add_child("time_emb_proj", std::make_shared<Linear>(temb, norm == "scale_shift" ? 2 * out : out));
  add_child("norm2", std::make_shared<GroupNorm>(groups, out, eps));
  add_child("dropout", std::make_shared<Dropout>(dropout_p));
  add_child("conv2",
            std::make_shared<Conv2d>(out, out, std::make_pair(3, 3), std::make_pair(1, 1), std::make_pair(1, 1)));
  if (in != out)
    add_child("conv_shortcut",
              std::make_shared<Conv2d>(in, out, std::make_pair(1, 1), std::make_pair(1, 1), std::make_pair(0, 0)));
}

Tensor ResnetBlock2D::forward(const Tensor& x, const Tensor& temb) const {
  Tensor h = as<GroupNorm>(*this, "norm1").forward_silu(x);
  h = call(as<Conv2d>(*this, "conv1"), h);
  // silu(temb) here, as diffusers' block applies its nonlinearity (a hook on the block sees temb)
  Tensor t = call(as<Linear>(*this, "time_emb_proj"), silu(temb));  // (B, out) or (B, 2 out)
  t = reshape(t, {t.shape()[0], t.shape()[1], 1, 1});
  const auto& norm2 = as<GroupNorm>(*this, "norm2");
  if (time_embedding_norm == "scale_shift") {
    Tensor scale = slice(t, 1, 0, out_channels), shift = slice(t, 1, out_channels, 2 * out_channels);
    h = silu(add(mul(call(norm2, h), add(scale, 1.0)), shift));
  } else {
    h = norm2.forward_silu(add(h, t));
  }
  h = call(as<Dropout>(*this, "dropout"), h);
  h = call(as<Conv2d>(*this, "conv2"), h);
  Tensor skip = child("conv_shortcut") ? call(as<Conv2d>(*this, "conv_shortcut"), x) : x;
  Tensor out = add(skip, h);
  return output_scale_factor == 1.0 ? out : div(out, output_scale_factor);
}

// ---- resampling

Downsample2D::Downsample2D(int64_t channels, int64_t pad_amount) : padding(pad_amount) {
  add_child("conv", std::make_shared<Conv2d>(channels, channels, std::make_pair(3, 3), std::make_pair(2, 2),
                                             std::make_pair(pad_amount, pad_amount)));
}

Tensor Downsample2D::forward(const Tensor& x) const {
  // with no symmetric padding, diffusers pads right and bottom by one so the output is H/2
  Tensor h = padding == 0 ? pad(x, {0, 1, 0, 1}) : x;
  return call(as<Conv2d>(*this, "conv"), h);
}

Upsample2D::Upsample2D(int64_t channels) {
  add_child("conv", std::make_shared<Conv2d>(channels, channels, std::make_pair(3, 3), std::make_pair(1, 1),
                                             std::make_pair(1, 1)));
}

Tensor Upsample2D::forward(const Tensor& x) const { return call(as<Conv2d>(*this, "conv"), upsample_nearest(x, 2, 2)); }

// ---- blocks

namespace {
std::shared_ptr<Attention> make_attention(int64_t channels, const UNet2DConfig& cfg, std::optional<int64_t> groups,
                                          double rescale) {
  const int64_t dh = cfg.attention_head_dim ? *cfg.attention_head_dim : channels;
  return std::make_shared<Attention>(channels, channels / dh, dh, groups, cfg.norm_eps, rescale, true);
}
}  // namespace

DownBlock::DownBlock(const std::string& k, int64_t num_layers, int64_t in, int64_t out, int64_t temb,
                     bool add_downsample, const UNet2DConfig& cfg)
    : kind(k), has_attention(k == "AttnDownBlock2D") {
  // attentions are registered first, as diffusers does: parameters() lists them in its order
  std::shared_ptr<ModuleList> attentions;
  if (has_attention) attentions = add_child("attentions", std::make_shared<ModuleList>());
  auto resnets = add_child("resnets", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < num_layers; ++i) {
    resnets->append(std::make_shared<ResnetBlock2D>(i == 0 ? in : out, out, temb, cfg.norm_eps, cfg.norm_num_groups,
                                                    cfg.dropout, cfg.resnet_time_scale_shift, 1.0));
    if (has_attention) attentions->append(make_attention(out, cfg, cfg.norm_num_groups, 1.0));
  }
  if (add_downsample) {
    auto down = add_child("downsamplers", std::make_shared<ModuleList>());
    down->append(std::make_shared<Downsample2D>(out, cfg.downsample_padding));
  }
}

Tensor DownBlock::forward(const Tensor& x, const Tensor& temb, std::vector<Tensor>& skips) const {
  const auto& resnets = as<ModuleList>(*this, "resnets");
  Tensor h = x;
  for (size_t i = 0; i < resnets.size(); ++i) {
    h = call(resnets.get<ResnetBlock2D>(i), h, temb);
    if (has_attention) h = call(as<ModuleList>(*this, "attentions").get<Attention>(i), h);
    skips.push_back(h);
  }
  if (auto down = child("downsamplers")) {
    h = call(static_cast<const ModuleList&>(*down).get<Downsample2D>(0), h);
    skips.push_back(h);
  }
  return h;
}

UNetMidBlock2D::UNetMidBlock2D(int64_t channels, int64_t temb, const UNet2DConfig& cfg)
    : has_attention(cfg.add_attention) {
  const double scale = cfg.mid_block_scale_factor;
  std::optional<int64_t> attn_groups = cfg.attn_norm_num_groups;
  if (!attn_groups && cfg.resnet_time_scale_shift == "default") attn_groups = cfg.norm_num_groups;
  auto attentions = add_child("attentions", std::make_shared<ModuleList>());  // first, as in diffusers
  auto resnets = add_child("resnets", std::make_shared<ModuleList>());
  auto resnet = [&]() {
    return std::make_shared<ResnetBlock2D>(channels, channels, temb, cfg.norm_eps, cfg.norm_num_groups, cfg.dropout,
                                           cfg.resnet_time_scale_shift, scale);
  };
  resnets->append(resnet());
  if (has_attention) attentions->append(make_attention(channels, cfg, attn_groups, scale));
  resnets->append(resnet());
}

Tensor UNetMidBlock2D::forward(const Tensor& x, const Tensor& temb) const {
  const auto& resnets = as<ModuleList>(*this, "resnets");
  Tensor h = call(resnets.get<ResnetBlock2D>(0), x, temb);
  if (has_attention) h = call(as<ModuleList>(*this, "attentions").get<Attention>(0), h);
  return call(resnets.get<ResnetBlock2D>(1), h, temb);
}

UpBlock::UpBlock(const std::string& k, int64_t num_layers, int64_t in, int64_t prev_out, int64_t out, int64_t temb,
                 bool add_upsample, const UNet2DConfig& cfg)
    : kind(k), has_attention(k == "AttnUpBlock2D") {
  // attentions are registered first, as diffusers does: parameters() lists them in its order
  std::shared_ptr<ModuleList> attentions;
  if (has_attention) attentions = add_child("attentions", std::make_shared<ModuleList>());
  auto resnets = add_child("resnets", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < num_layers; ++i) {
    const int64_t skip_channels = i == num_layers - 1 ? in : out;
    const int64_t resnet_in = i == 0 ? prev_out : out;
    resnets->append(std::make_shared<ResnetBlock2D>(resnet_in + skip_channels, out, temb, cfg.norm_eps,
                                                    cfg.norm_num_groups, cfg.dropout, cfg.resnet_time_scale_shift,
                                                    1.0));
    if (has_attention) attentions->append(make_attention(out, cfg, cfg.norm_num_groups, 1.0));
  }
  if (add_upsample) {
    auto up = add_child("upsamplers", std::make_shared<ModuleList>());
    up->append(std::make_shared<Upsample2D>(out));
  }
}

size_t UpBlock::num_resnets() const { return as<ModuleList>(*this, "resnets").size(); }

Tensor UpBlock::forward(const Tensor& x, std::vector<Tensor>& skips, const Tensor& temb) const {
  const auto& resnets = as<ModuleList>(*this, "resnets");
  Tensor h = x;
  for (size_t i = 0; i < resnets.size(); ++i) {
    MD_CHECK(!skips.empty(), RuntimeError, kind, ": ran out of skip connections");
    Tensor skip = skips.back();
    skips.pop_back();
    MD_CHECK(skip.shape()[2] == h.shape()[2] && skip.shape()[3] == h.shape()[3], ValueError, kind,
             ": skip connection of shape ", skip.shape(), " does not match hidden state ", h.shape(),
             " (the sample's height and width must be divisible by 2^(number of blocks - 1))");
    h = cat({h, skip}, 1);
    h = call(resnets.get<ResnetBlock2D>(i), h, temb);
    if (has_attention) h = call(as<ModuleList>(*this, "attentions").get<Attention>(i), h);
  }
  if (auto up = child("upsamplers")) h = call(static_cast<const ModuleList&>(*up).get<Upsample2D>(0), h);
  return h;
}

// ---- UNet2DModel

UNet2DModel::UNet2DModel(UNet2DConfig cfg) : cfg_(std::move(cfg)) {
  cfg_.validate();
  const auto& boc = cfg_.block_out_channels;
  const int64_t n = static_cast<int64_t>(boc.size());
  const int64_t ted = cfg_.time_embedding_dim ? *cfg_.time_embedding_dim : boc[0] * 4;
  add_child("conv_in", std::make_shared<Conv2d>(cfg_.in_channels, boc[0], std::make_pair(3, 3), std::make_pair(1, 1),
                                                std::make_pair(1, 1)));
  add_child("time_proj", std::make_shared<Timesteps>(boc[0], cfg_.flip_sin_to_cos, cfg_.freq_shift));
  add_child("time_embedding", std::make_shared<TimestepEmbedding>(boc[0], ted));
  if (!cfg_.class_embed_type && cfg_.num_class_embeds)
    add_child("class_embedding", std::make_shared<Embedding>(*cfg_.num_class_embeds, ted));
  else if (cfg_.class_embed_type == std::optional<std::string>("timestep"))
    add_child("class_embedding", std::make_shared<TimestepEmbedding>(boc[0], ted));
  else if (cfg_.class_embed_type == std::optional<std::string>("identity"))
    add_child("class_embedding", std::make_shared<Identity>());

  auto downs = add_child("down_blocks", std::make_shared<ModuleList>());
  int64_t output = boc[0];
  for (int64_t i = 0; i < n; ++i) {
    const int64_t input = output;
    output = boc[i];
    downs->append(std::make_shared<DownBlock>(cfg_.down_block_types[i], cfg_.layers_per_block, input, output, ted,
                                              i < n - 1, cfg_));
  }
  auto ups = add_child("up_blocks", std::make_shared<ModuleList>());
  std::vector<int64_t> rev(boc.rbegin(), boc.rend());
  output = rev[0];
  for (int64_t i = 0; i < n; ++i) {
    const int64_t prev = output;
    output = rev[i];
    const int64_t input = rev[std::min(i + 1, n - 1)];
    ups->append(std::make_shared<UpBlock>(cfg_.up_block_types[i], cfg_.layers_per_block + 1, input, prev, output, ted,
                                          i < n - 1, cfg_));
  }
  // registered after the up blocks, where diffusers' UNet2DModel registers it (parameter order)
  if (cfg_.mid_block_type) add_child("mid_block", std::make_shared<UNetMidBlock2D>(boc[n - 1], ted, cfg_));
  add_child("conv_norm_out", std::make_shared<GroupNorm>(cfg_.norm_num_groups, boc[0], cfg_.norm_eps));
  add_child("conv_act", std::make_shared<SiLU>());
  add_child("conv_out", std::make_shared<Conv2d>(boc[0], cfg_.out_channels, std::make_pair(3, 3), std::make_pair(1, 1),
                                                 std::make_pair(1, 1)));
}

Tensor UNet2DModel::forward(const Tensor& sample_in, const Tensor& timesteps, const Tensor& class_labels) const {
  MD_CHECK(sample_in.dim() == 4 && sample_in.shape()[1] == cfg_.in_channels, ValueError,
           "UNet2DModel: sample must be (B, ", cfg_.in_channels, ", H, W), got ", sample_in.shape());
  const int64_t B = sample_in.shape()[0];
  const int64_t factor = int64_t(1) << (cfg_.block_out_channels.size() - 1);
  MD_CHECK(sample_in.shape()[2] % factor == 0 && sample_in.shape()[3] % factor == 0, ValueError,
           "UNet2DModel: sample height and width must be divisible by ", factor, " (2^(number of blocks - 1)), got ",
           sample_in.shape());
  MD_CHECK(timesteps.defined(), ValueError, "UNet2DModel: timestep is missing");
  Tensor t = timesteps.dim() == 0 ? reshape(timesteps, {1}) : timesteps;
  MD_CHECK(t.dim() == 1 && (t.shape()[0] == B || t.shape()[0] == 1), ValueError,
           "UNet2DModel: timestep must be a scalar or have shape (", B, ",), got ", timesteps.shape());
  MD_CHECK(t.device() == sample_in.device(), ValueError, "UNet2DModel: timestep is on ", t.device().str(),
           " but sample is on ", sample_in.device().str());
  if (t.shape()[0] != B) t = contiguous(expand(t, {B}));

  Tensor sample = cfg_.center_input_sample ? sub(mul(sample_in, 2.0), 1.0) : sample_in;
  const auto& time_proj = as<Timesteps>(*this, "time_proj");
  Tensor emb = call(as<TimestepEmbedding>(*this, "time_embedding"), call(time_proj, t));
  if (auto ce = child("class_embedding")) {
    MD_CHECK(class_labels.defined(), ValueError, "UNet2DModel: class_labels should be provided when doing class ",
             "conditioning");
    Tensor class_emb;
    if (cfg_.class_embed_type == std::optional<std::string>("timestep")) {
      class_emb = call(static_cast<const TimestepEmbedding&>(*ce), call(time_proj, class_labels));
    } else if (cfg_.class_embed_type == std::optional<std::string>("identity")) {
      class_emb = class_labels;
    } else {
      // one label (shape () or (1,)) broadcasts over the batch, as in diffusers
      MD_CHECK(class_labels.dim() == 0 ||
                   (class_labels.dim() == 1 && (class_labels.shape()[0] == B || class_labels.shape()[0] == 1)),
               ValueError, "UNet2DModel: class_labels must have shape (", B, ",), (1,) or (), got ",
               class_labels.shape());
      class_emb = call(static_cast<const Embedding&>(*ce), class_labels);
    }
    emb = add(emb, class_emb);
  } else {
    MD_CHECK(!class_labels.defined(), ValueError,
             "UNet2DModel: class_labels were given but the model has no class embedding (set num_class_embeds)");
  }
  const Tensor& temb = emb;  // each resnet applies its SiLU, as in diffusers

  Tensor h = call(as<Conv2d>(*this, "conv_in"), sample);
  std::vector<Tensor> skips{h};
  const auto& downs = as<ModuleList>(*this, "down_blocks");
  for (size_t i = 0; i < downs.size(); ++i) {
    const auto& down = downs.get<DownBlock>(i);
    h = down.call_hooked({h, temb}, [&](const std::vector<Tensor>& a) { return down.forward(a[0], a[1], skips); });
  }
  if (auto mid = child("mid_block")) h = call(static_cast<const UNetMidBlock2D&>(*mid), h, temb);
  const auto& ups = as<ModuleList>(*this, "up_blocks");
  for (size_t i = 0; i < ups.size(); ++i) {
    const auto& up = ups.get<UpBlock>(i);
    h = up.call_hooked({h, temb}, [&](const std::vector<Tensor>& a) { return up.forward(a[0], skips, a[1]); });
  }
  h = as<GroupNorm>(*this, "conv_norm_out").forward_silu(h);
  return call(as<Conv2d>(*this, "conv_out"), h);
}

}  // namespace md::nn
