"""UNet2DModel config handling, folders and errors (no oracle needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import minidiff as md

SMALL = dict(
    sample_size=8,
    in_channels=1,
    out_channels=1,
    block_out_channels=(16, 32),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=8,
)


def test_parameter_names_follow_diffusers():
    model = md.UNet2DModel(**SMALL)
    names = [n for n, _ in model.named_parameters()]
    for expected in (
        "conv_in.weight",
        "time_embedding.linear_1.weight",
        "down_blocks.0.resnets.0.norm1.weight",
        "down_blocks.0.downsamplers.0.conv.weight",
        "down_blocks.1.attentions.0.to_out.0.bias",
        "mid_block.attentions.0.group_norm.weight",
        "mid_block.resnets.1.conv2.weight",
        "up_blocks.0.resnets.1.conv_shortcut.weight",
        "up_blocks.0.upsamplers.0.conv.weight",
        "conv_norm_out.bias",
        "conv_out.weight",
    ):
        assert expected in names
    assert len(names) == len(set(names))


def test_unknown_and_unsupported_config_values_are_listed():
    with pytest.raises(ValueError, match="unknown config fields: bogus"):
        md.UNet2DModel(**SMALL, bogus=1)
    with pytest.raises(ValueError, match="CrossAttnDownBlock2D") as e:
        md.UNet2DModel(**dict(SMALL, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), act_fn="gelu"))
    assert "act_fn" in str(e.value)


def test_save_and_load_round_trip(tmp_path):
    md.manual_seed(0)
    model = md.UNet2DModel(**SMALL)
    model.save_pretrained(tmp_path / "m")
    loaded = md.UNet2DModel.from_pretrained(tmp_path / "m")
    x = md.randn(2, 1, 8, 8)
    assert np.array_equal(model(x, 5).numpy(), loaded(x, 5).numpy())
    assert loaded.config.block_out_channels == (16, 32)


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    from safetensors.numpy import load_file, save_file

    model = md.UNet2DModel(**SMALL)
    model.save_pretrained(tmp_path)
    path = tmp_path / "diffusion_pytorch_model.safetensors"
    state = load_file(str(path))
    state.pop("conv_in.bias")
    state["extra.weight"] = np.zeros(3, np.float32)
    save_file(state, str(path))
    with pytest.raises(ValueError, match=r"missing keys: conv_in\.bias.*unexpected keys: extra\.weight"):
        md.UNet2DModel.from_pretrained(tmp_path)


def test_missing_files_and_bad_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        md.UNet2DModel.from_pretrained(tmp_path)
    md.UNet2DModel(**SMALL).save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        md.UNet2DModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(dict(SMALL, block_out_channels=[16, 48])))
    with pytest.raises(ValueError, match="shape mismatch"):
        md.UNet2DModel.from_pretrained(tmp_path)


def test_bad_inputs_raise_clear_errors():
    model = md.UNet2DModel(**SMALL)
    with pytest.raises(ValueError, match=r"sample must be \(B, 1, H, W\)"):
        model(md.randn(2, 3, 8, 8), 1)
    with pytest.raises(ValueError, match="divisible by 2"):
        model(md.randn(2, 1, 7, 7), 1)
    with pytest.raises(ValueError, match="timestep"):
        model(md.randn(2, 1, 8, 8), md.tensor(np.array([1, 2, 3])))
    with pytest.raises(ValueError, match="no class embedding"):
        model(md.randn(2, 1, 8, 8), 1, class_labels=md.tensor(np.array([0, 1])))
    cond = md.UNet2DModel(**dict(SMALL, num_class_embeds=4))
    with pytest.raises(ValueError, match="class_labels should be provided"):
        cond(md.randn(2, 1, 8, 8), 1)
    with pytest.raises(IndexError, match="out of range"):
        cond(md.randn(2, 1, 8, 8), 1, class_labels=md.tensor(np.array([0, 9])))


def test_dropout_only_in_training_mode():
    md.manual_seed(0)
    model = md.UNet2DModel(**dict(SMALL, dropout=0.5))
    x = md.randn(1, 1, 8, 8)
    model.eval()
    a, b = model(x, 3).numpy(), model(x, 3).numpy()
    assert np.array_equal(a, b)
    model.train()
    c, d = model(x, 3).numpy(), model(x, 3).numpy()
    assert not np.array_equal(c, d)
