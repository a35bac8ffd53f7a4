"""UNet2DModel against diffusers: same weights, same outputs, same gradients, and folders that load
both ways. Skips cleanly without torch/diffusers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import minidiff as md

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

FMNIST = dict(
    sample_size=28,
    in_channels=1,
    out_channels=1,
    block_out_channels=(64, 128, 128),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
)
DIGITS = dict(
    sample_size=8,
    in_channels=1,
    out_channels=1,
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=8,
)
# downsample_padding=0 (asymmetric pad), flipped sin/cos off, freq_shift 1, single-head attention
VARIANT = dict(
    sample_size=16,
    in_channels=2,
    out_channels=3,
    block_out_channels=(16, 32),
    layers_per_block=1,
    downsample_padding=0,
    flip_sin_to_cos=False,
    freq_shift=1,
    attention_head_dim=None,
    norm_eps=1e-6,
    norm_num_groups=8,
    down_block_types=("AttnDownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "AttnUpBlock2D"),
)
CLASS_COND = dict(DIGITS, block_out_channels=(16, 32), num_class_embeds=10)
SCALE_SHIFT = dict(DIGITS, block_out_channels=(16, 32), layers_per_block=2, resnet_time_scale_shift="scale_shift")
TIMESTEP_CLASS = dict(DIGITS, block_out_channels=(16, 32), class_embed_type="timestep", mid_block_scale_factor=1.5)

CONFIGS = {
    "fmnist": FMNIST,
    "digits": DIGITS,
    "variant": VARIANT,
    "class_cond": CLASS_COND,
    "scale_shift": SCALE_SHIFT,
    "timestep_class": TIMESTEP_CLASS,
}


def _reference(cfg, seed=0):
    torch.manual_seed(seed)
    return diffusers.UNet2DModel(**cfg)


def _labels(cfg, batch, rng):
    if cfg.get("num_class_embeds"):
        return rng.integers(0, cfg["num_class_embeds"], size=batch)
    if cfg.get("class_embed_type") == "timestep":
        return rng.integers(0, 1000, size=batch)
    return None


def _rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_outputs_and_gradients_match_diffusers(name, tmp_path):
    cfg = CONFIGS[name]
    ref = _reference(cfg)
    ref.save_pretrained(tmp_path)
    ours = md.UNet2DModel.from_pretrained(tmp_path)
    assert ours.num_parameters() == sum(p.numel() for p in ref.parameters())
    # the same order, so zip(parameters()) and index-keyed optimizer states line up with diffusers'
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert list(ours.state_dict()) == list(ref.state_dict())

    rng = np.random.default_rng(1)
    batch = 2 if name == "fmnist" else 3
    size = cfg["sample_size"]
    x = rng.standard_normal((batch, cfg["in_channels"], size, size)).astype(np.float32)
    t = rng.integers(0, 1000, size=batch)
    labels = _labels(cfg, batch, rng)
    target = rng.standard_normal((batch, cfg["out_channels"], size, size)).astype(np.float32)

    xt = torch.tensor(x, requires_grad=True)
    out_ref = ref(xt, torch.tensor(t), class_labels=None if labels is None else torch.tensor(labels)).sample
    torch.nn.functional.mse_loss(out_ref, torch.tensor(target)).backward()

    xm = md.tensor(x, requires_grad=True)
    out = ours(xm, md.tensor(t), class_labels=None if labels is None else md.tensor(labels))
    md.F.mse_loss(out, md.tensor(target)).backward()

    assert _rel(out.numpy(), out_ref.detach().numpy()) < 1e-4
    assert _rel(xm.grad.numpy(), xt.grad.numpy()) < 1e-3
    ref_grads = dict(ref.named_parameters())
    # A few gradients are zero in exact arithmetic (to_k.bias: softmax ignores a per-row constant), so
    # each error is measured against the parameter's own gradient plus a small share of the global norm.
    global_norm = np.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in ref.parameters()))
    worst = {}
    for pname, p in ours.named_parameters():
        g, g_ref = p.grad.numpy(), ref_grads[pname].grad.numpy()
        err = np.linalg.norm(g - g_ref) / (np.linalg.norm(g_ref) + 1e-4 * global_norm)
        worst[pname] = err
    bad = {k: v for k, v in worst.items() if v >= 1e-3}
    assert not bad, f"gradients differ: {sorted(bad.items(), key=lambda kv: -kv[1])[:5]}"


def test_scalar_and_float_timesteps_match_diffusers(tmp_path):
    ref = _reference(DIGITS)
    ref.save_pretrained(tmp_path)
    ours = md.UNet2DModel.from_pretrained(tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        for t in (7, 123.5):
            expected = ref(torch.tensor(x), t).sample.numpy()
            got = ours(md.tensor(x), t).numpy()
            assert _rel(got, expected) < 1e-4
    # return_dict=False gives a tuple, as diffusers: unet(x, t, return_dict=False)[0] is the batch
    out = ours(md.tensor(x), 7, return_dict=False)
    assert isinstance(out, tuple) and len(out) == 1 and out[0].shape == (2, 1, 8, 8)
    np.testing.assert_array_equal(out[0].numpy(), ours(md.tensor(x), 7).sample.numpy())


def test_minidiff_folder_loads_in_diffusers(tmp_path):
    md.manual_seed(3)
    ours = md.UNet2DModel(**CLASS_COND)
    ours.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["_class_name"] == "UNet2DModel"
    ref = diffusers.UNet2DModel.from_pretrained(tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    t, labels = np.array([3, 900]), np.array([4, 9])
    with torch.no_grad():
        expected = ref(torch.tensor(x), torch.tensor(t), class_labels=torch.tensor(labels)).sample.numpy()
    got = ours(md.tensor(x), md.tensor(t), class_labels=md.tensor(labels)).numpy()
    assert _rel(got, expected) < 1e-4


def test_old_attention_key_names_load(tmp_path):
    from safetensors.numpy import load_file, save_file

    ref = _reference(DIGITS)
    ref.save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "diffusion_pytorch_model.safetensors"))
    renamed = {}
    for k, v in state.items():
        for new, old in (("to_q", "query"), ("to_k", "key"), ("to_v", "value"), ("to_out.0", "proj_attn")):
            if f".{new}." in k:
                k = k.replace(f".{new}.", f".{old}.")
        renamed[k] = v
    assert any(".proj_attn." in k for k in renamed)
    save_file(renamed, str(tmp_path / "diffusion_pytorch_model.safetensors"))
    ours = md.UNet2DModel.from_pretrained(tmp_path)
    x = np.ones((1, 1, 8, 8), np.float32)
    with torch.no_grad():
        expected = ref(torch.tensor(x), 10).sample.numpy()
    assert _rel(ours(md.tensor(x), 10).numpy(), expected) < 1e-4
