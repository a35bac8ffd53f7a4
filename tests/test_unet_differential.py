"""Differential tests of md.UNet2DModel against diffusers.UNet2DModel over its config space: for each
config the same weights give the same output and the same gradient for the input and every
parameter; configs and folders round-trip both ways; unsupported values raise. Each test that once
found a bug says so. Skips cleanly without torch/diffusers (the error tests need neither)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minidiff as md


def _oracle():
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    return torch, diffusers


# two levels, attention in the second: the layout of the digits model, at small widths
BASE = dict(
    sample_size=8,
    in_channels=2,
    out_channels=3,
    block_out_channels=(16, 32),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=8,
)
NO_ATTENTION = dict(BASE, down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2)

# Each case changes a few fields of BASE; together they cover every UNet2DModel field the native
# model supports. "labels" is the kind of class_labels the forward needs, "t" the timestep form.
CASES = {
    "base": dict(),
    "center_input_sample": dict(center_input_sample=True),
    "time_embedding_dim": dict(time_embedding_dim=24),
    "sin_cos_freq_shift": dict(flip_sin_to_cos=False, freq_shift=1),
    "odd_width_float_shift": dict(
        block_out_channels=(5, 10), norm_num_groups=5, attention_head_dim=5, freq_shift=0.5, time_embedding_dim=7
    ),
    "no_mid_block": dict(mid_block_type=None),
    "mid_without_attention": dict(add_attention=False),
    "one_level": dict(
        block_out_channels=(16,), down_block_types=("AttnDownBlock2D",), up_block_types=("AttnUpBlock2D",)
    ),
    "three_levels": dict(
        sample_size=16,
        block_out_channels=(8, 16, 24),
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    ),
    "layers_per_block_3": dict(layers_per_block=3),
    "mid_block_scale_factor": dict(mid_block_scale_factor=1.4142, attention_head_dim=None),
    "downsample_padding_0": dict(downsample_padding=0),
    "heads_of_4": dict(attention_head_dim=4),
    "attn_norm_num_groups": dict(attn_norm_num_groups=4, norm_eps=1e-3),
    "scale_shift": dict(resnet_time_scale_shift="scale_shift"),  # no group norm in the mid attention
    "scale_shift_attn_groups": dict(resnet_time_scale_shift="scale_shift", attn_norm_num_groups=2),
    "one_group": dict(norm_num_groups=1, act_fn="swish"),
    "dropout_in_eval": dict(dropout=0.3, num_train_timesteps=100),
    "non_square": dict(sample_size=(8, 16)),
    "class_embeds": dict(num_class_embeds=5),
    "class_timestep": dict(class_embed_type="timestep", num_class_embeds=5),  # the type wins, as diffusers
    "class_identity": dict(class_embed_type="identity", time_embedding_dim=40),
    "deep": dict(
        sample_size=16,
        in_channels=3,
        block_out_channels=(8, 16, 16, 32),
        layers_per_block=2,
        down_block_types=("AttnDownBlock2D",) * 4,
        up_block_types=("AttnUpBlock2D",) * 4,
        norm_num_groups=4,
        attention_head_dim=4,
        resnet_time_scale_shift="scale_shift",
        mid_block_scale_factor=2.0,
        downsample_padding=0,
        center_input_sample=True,
    ),
}
TIMESTEP_FORMS = {
    "base": "per_sample_int",
    "center_input_sample": "python_int",
    "time_embedding_dim": "python_float",
    "sin_cos_freq_shift": "per_sample_float",
    "no_mid_block": "zero_d_int",
    "mid_without_attention": "zero_d_float",
    "one_level": "one_element",
    "deep": "per_sample_float",
}


def _cfg(name):
    return dict(BASE, **CASES[name])


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-30))


def _pair(cfg, seed=0):
    """diffusers' model with its weights moved off their initial values (so that a parameter the native
    model ignored could not hide behind a zero or a one), and ours with the same state dict."""
    torch, diffusers = _oracle()
    torch.manual_seed(seed)
    ref = diffusers.UNet2DModel(**cfg)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ref.eval()
    ours = md.UNet2DModel(**cfg)
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    ours.eval()
    return ref, ours


def _inputs(cfg, form, batch, rng):
    size = cfg.get("sample_size") or 8
    h, w = (size, size) if isinstance(size, int) else size
    x = rng.standard_normal((batch, cfg["in_channels"], h, w)).astype(np.float32)
    t = {
        "per_sample_int": rng.integers(0, 1000, size=batch),
        "per_sample_float": (rng.random(batch) * 1000).astype(np.float32),
        "python_int": 417,
        "python_float": 417.8,  # diffusers makes a long tensor of a Python number: 417
        "zero_d_int": np.array(417),
        "zero_d_float": np.array(417.8, np.float32),
        "one_element": np.array([417]),
    }[form]
    labels = None
    if cfg.get("class_embed_type") == "identity":
        labels = rng.standard_normal((batch, cfg.get("time_embedding_dim") or 4 * cfg["block_out_channels"][0]))
        labels = labels.astype(np.float32)
    elif cfg.get("class_embed_type") == "timestep":
        labels = rng.integers(0, 1000, size=batch)
    elif cfg.get("num_class_embeds"):
        labels = rng.integers(0, cfg["num_class_embeds"], size=batch)
    return x, t, labels


def _as_torch(v):
    torch, _ = _oracle()
    return torch.tensor(v) if isinstance(v, np.ndarray) else v


def _as_md(v):
    return md.tensor(v) if isinstance(v, np.ndarray) else v


def _check_gradients(ours, ref):
    ref_params = dict(ref.named_parameters())
    # a few gradients are zero in exact arithmetic (to_k.bias: softmax ignores a per-row constant), so
    # each error is measured against the parameter's own gradient plus a small share of the global norm
    global_norm = np.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in ref.parameters()))
    errors = {}
    for name, p in ours.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        g_ref = ref_params[name].grad.numpy()
        errors[name] = np.linalg.norm(p.grad.numpy() - g_ref) / (np.linalg.norm(g_ref) + 1e-4 * global_norm)
    bad = {k: v for k, v in errors.items() if v >= 1e-3}
    assert not bad, f"gradients differ: {sorted(bad.items(), key=lambda kv: -kv[1])[:5]}"


@pytest.mark.parametrize("name", list(CASES))
def test_output_and_every_gradient_match_diffusers(name):
    torch, _ = _oracle()
    cfg = _cfg(name)
    ref, ours = _pair(cfg)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    rng = np.random.default_rng(1)
    x, t, labels = _inputs(cfg, TIMESTEP_FORMS.get(name, "per_sample_int"), 2, rng)

    xt = torch.tensor(x, requires_grad=True)
    lt = None if labels is None else torch.tensor(labels, requires_grad=labels.dtype == np.float32)
    out_ref = ref(xt, _as_torch(t), class_labels=lt).sample
    target = rng.standard_normal(tuple(out_ref.shape)).astype(np.float32)
    torch.nn.functional.mse_loss(out_ref, torch.tensor(target)).backward()

    xm = md.tensor(x, requires_grad=True)
    lm = None if labels is None else md.tensor(labels, requires_grad=labels.dtype == np.float32)
    out = ours(xm, _as_md(t), class_labels=lm)
    md.F.mse_loss(out, md.tensor(target)).backward()

    assert out.shape == tuple(out_ref.shape)
    assert _rel(out.numpy(), out_ref.detach().numpy()) < 1e-4
    assert _rel(xm.grad.numpy(), xt.grad.numpy()) < 1e-4
    if lt is not None and lt.requires_grad:  # identity class embedding: the labels are the embedding
        assert _rel(lm.grad.numpy(), lt.grad.numpy()) < 1e-4
    _check_gradients(ours, ref)


def _diffusers_config(ref_config):
    return {k: v for k, v in dict(ref_config).items() if not k.startswith("_")}


def _normalized(config):
    return {k: list(v) if isinstance(v, (tuple, list)) else v for k, v in dict(config).items()}


# The config values that diffusers reads more loosely than minidiff's native parser
LOOSE = {
    "sample_size_pair": dict(sample_size=(8, 16)),
    "sample_size_list": dict(sample_size=[16, 8]),
    "time_embedding_dim_0": dict(time_embedding_dim=0),
    "unetres_prefix": dict(
        down_block_types=("UNetResDownBlock2D", "UNetResAttnDownBlock2D"),
        up_block_types=("UNetResAttnUpBlock2D", "UNetResUpBlock2D"),
    ),
    "resample_types_none": dict(downsample_type=None, upsample_type=None),
}
ALL_CASES = {**CASES, **LOOSE}


@pytest.mark.parametrize("name", list(CASES) + list(LOOSE))
def test_config_is_diffusers_config(name):
    # once a bug: a (height, width) sample_size came back as its height alone, in model.config and
    # in the config.json save_pretrained wrote
    _, diffusers = _oracle()
    cfg = dict(BASE, **ALL_CASES[name])
    ref = diffusers.UNet2DModel(**cfg)
    ours = md.UNet2DModel(**cfg)
    assert _normalized(ours.config) == _normalized(_diffusers_config(ref.config))
    # from_config takes a diffusers config (with its "_" keys) and gives the same model
    again = md.UNet2DModel.from_config(ref.config)
    assert _normalized(again.config) == _normalized(ours.config)
    assert [(n, p.shape) for n, p in again.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in ref.named_parameters()
    ]


@pytest.mark.parametrize("name", list(LOOSE))
def test_loose_config_values_build_diffusers_model(name):
    # once a bug: time_embedding_dim=0 built a model with zero-width time layers (diffusers reads 0 as
    # "the default, 4 * block_out_channels[0]"); the UNetRes prefix and a None resample type were refused
    cfg = dict(BASE, **LOOSE[name])
    ref, ours = _pair(cfg)
    x, t, _ = _inputs(cfg, "per_sample_int", 2, np.random.default_rng(0))
    torch, _ = _oracle()
    with torch.no_grad():
        expected = ref(torch.tensor(x), torch.tensor(t)).sample.numpy()
    assert _rel(ours(md.tensor(x), md.tensor(t)).numpy(), expected) < 1e-4


FOLDER_CASES = ["base", "non_square", "class_embeds", "class_identity", "scale_shift", "no_mid_block"]


@pytest.mark.parametrize("name", FOLDER_CASES + ["time_embedding_dim_0", "unetres_prefix"])
def test_folders_load_both_ways(name, tmp_path):
    torch, diffusers = _oracle()
    cfg = dict(BASE, **ALL_CASES[name])
    ref, _ = _pair(cfg)
    ref.save_pretrained(tmp_path / "from_diffusers")
    ours = md.UNet2DModel.from_pretrained(tmp_path / "from_diffusers")
    ours.save_pretrained(tmp_path / "from_minidiff")
    written = json.loads((tmp_path / "from_minidiff" / "config.json").read_text())
    assert _normalized(_diffusers_config(written)) == _normalized(_diffusers_config(ref.config))
    back = diffusers.UNet2DModel.from_pretrained(tmp_path / "from_minidiff").eval()
    assert _normalized(_diffusers_config(back.config)) == _normalized(_diffusers_config(ref.config))

    x, t, labels = _inputs(cfg, "per_sample_int", 2, np.random.default_rng(2))
    with torch.no_grad():
        expected = ref(torch.tensor(x), torch.tensor(t), class_labels=_as_torch(labels)).sample.numpy()
        reloaded = back(torch.tensor(x), torch.tensor(t), class_labels=_as_torch(labels)).sample.numpy()
    got = ours(md.tensor(x), md.tensor(t), class_labels=_as_md(labels)).numpy()
    assert _rel(got, expected) < 1e-4
    np.testing.assert_array_equal(reloaded, expected)  # the weights made the trip unchanged


def test_non_square_sample_size_reaches_the_pipeline(tmp_path):
    # once a bug: the pipeline read sample_size (8, 16) as 8 and generated 8x8 images
    md.manual_seed(0)
    unet = md.UNet2DModel(**dict(NO_ATTENTION, sample_size=(8, 16), in_channels=3))
    pipe = md.pipelines.DDPMPipeline(unet, md.schedulers.DDPMScheduler(num_train_timesteps=10))
    out = pipe(batch_size=1, num_inference_steps=2, generator=md.Generator(0))
    images = np.asarray(getattr(out, "images", out))
    assert images.shape == (1, 8, 16, 3)
    unet.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["sample_size"] == [8, 16]
    assert md.UNet2DModel.from_pretrained(tmp_path).config.sample_size == (8, 16)


def test_timestep_forms_match_diffusers():
    torch, _ = _oracle()
    ref, ours = _pair(BASE)
    x = np.random.default_rng(3).standard_normal((2, 2, 8, 8)).astype(np.float32)
    forms = [
        (7, 7),
        (7.9, 7.9),  # truncated to 7 by both
        (np.float64(7.9), np.float64(7.9)),
        (np.int32(7), np.int32(7)),
        (torch.tensor(7), md.tensor(np.array(7))),
        (torch.tensor(7.5), md.tensor(np.array(7.5, np.float32))),
        (torch.tensor([7]), md.tensor(np.array([7]))),
        (torch.tensor([7.5, 901.25]), md.tensor(np.array([7.5, 901.25], np.float32))),
        (torch.tensor([7, 901], dtype=torch.int32), md.tensor(np.array([7, 901], np.int32))),
        (torch.tensor([-3, 12345]), md.tensor(np.array([-3, 12345]))),
    ]
    with torch.no_grad():
        for t_ref, t_ours in forms:
            expected = ref(torch.tensor(x), t_ref).sample.numpy()
            assert _rel(ours(md.tensor(x), t_ours).numpy(), expected) < 1e-4, repr(t_ref)


def test_return_dict_and_sample_attribute():
    torch, _ = _oracle()
    ref, ours = _pair(BASE)
    x = np.random.default_rng(4).standard_normal((2, 2, 8, 8)).astype(np.float32)
    with torch.no_grad():
        ref_tuple = ref(torch.tensor(x), 3, return_dict=False)
    out_tuple = ours(md.tensor(x), 3, return_dict=False)
    assert isinstance(ref_tuple, tuple) and isinstance(out_tuple, tuple) and len(out_tuple) == len(ref_tuple) == 1
    out = ours(md.tensor(x), 3)
    np.testing.assert_array_equal(out.sample.numpy(), out_tuple[0].numpy())
    assert _rel(out.sample.numpy(), ref_tuple[0].numpy()) < 1e-4


def test_train_mode_dropout():
    torch, _ = _oracle()
    # dropout=1 zeroes every resnet's hidden state in both: a deterministic check of the train-mode path
    ref, ours = _pair(dict(BASE, dropout=1.0))
    ref.train()
    ours.train()
    x = np.random.default_rng(5).standard_normal((2, 2, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.tensor(x), 11).sample.numpy()
    assert _rel(ours(md.tensor(x), 11).numpy(), expected) < 1e-4
    # dropout=0 in train mode is eval mode
    ref, ours = _pair(BASE)
    ref.train()
    ours.train()
    with torch.no_grad():
        expected = ref(torch.tensor(x), 11).sample.numpy()
    assert _rel(ours(md.tensor(x), 11).numpy(), expected) < 1e-4
    # a real dropout rate: runs, differs from eval, and every parameter gets a finite gradient
    md.manual_seed(0)
    model = md.UNet2DModel(**dict(BASE, dropout=0.3))
    model.train()
    xm = md.tensor(x)
    loss = md.F.mse_loss(model(xm, md.tensor(np.array([5, 500]))), md.zeros((2, 3, 8, 8)))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name
    model.eval()
    a = model(xm, 5).numpy()
    model.train()
    assert not np.array_equal(a, model(xm, 5).numpy())


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(time_embedding_type="fourier"), "time_embedding_type"),
        (dict(time_embedding_type="learned", num_train_timesteps=100), "time_embedding_type"),
        (
            dict(down_block_types=("SkipDownBlock2D", "AttnSkipDownBlock2D")),
            "SkipDownBlock2D",
        ),
        (dict(up_block_types=("AttnSkipUpBlock2D", "SkipUpBlock2D")), "SkipUpBlock2D"),
        (dict(down_block_types=("ResnetDownsampleBlock2D", "DownBlock2D")), "ResnetDownsampleBlock2D"),
        (dict(up_block_types=("UpBlock2D", "ResnetUpsampleBlock2D")), "ResnetUpsampleBlock2D"),
        (dict(mid_block_type="UNetMidBlock2DCrossAttn"), "mid_block_type"),
        (dict(downsample_type="resnet"), "downsample_type"),
        (dict(upsample_type="resnet"), "upsample_type"),
        (dict(act_fn="gelu"), "act_fn"),
        (dict(act_fn="mish"), "act_fn"),
        (dict(resnet_time_scale_shift="spatial"), "resnet_time_scale_shift"),
        (dict(class_embed_type="projection", num_class_embeds=4), "class_embed_type"),
        (dict(downsample_padding=2), "downsample_padding"),
        (dict(attention_head_dim=12), "attention_head_dim"),  # diffusers floors the head count; we refuse
        (dict(sample_size=(8, 16, 4)), "sample_size"),
        (dict(bogus=1), "bogus"),
    ],
)
def test_unsupported_values_raise(change, field):
    with pytest.raises(ValueError, match=field):
        md.UNet2DModel(**dict(BASE, **change))


def _repr_of_refused_self(construct: str) -> subprocess.CompletedProcess:
    """Runs ``construct`` (which must raise ValueError) in a fresh interpreter and prints the ``self``
    of the innermost frame of its traceback, as pytest does when it reports a failure: in a
    subprocess, since the bug this looks for kills the process."""
    code = (
        "import minidiff as md\n"
        "try:\n"
        f"    {construct}\n"
        "except ValueError as e:\n"
        "    tb = e.__traceback__\n"
        "    while tb.tb_next: tb = tb.tb_next\n"
        "    print(repr(tb.tb_frame.f_locals['self']))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_refused_config_leaves_a_printable_model():
    # once a bug: pytest prints the arguments of each frame of a failing test's traceback, among them
    # UNet2DModel.__init__'s self, which the native constructor had refused to build; printing it read
    # unset memory and the test process died (SIGSEGV) instead of reporting the ValueError
    done = _repr_of_refused_self("md.UNet2DModel(bogus=1)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "not built" in done.stdout


def test_refused_native_subclass_is_printable():
    construct = "type('Sub', (md.nn.Linear,), {'__init__': lambda self: md.nn.Linear.__init__(self, -1, 2)})()"
    done = _repr_of_refused_self(construct)
    assert done.returncode == 0, done.stderr[-2000:]


def test_values_of_the_wrong_type_raise():
    for field, value in (("center_input_sample", "yes"), ("freq_shift", "1"), ("sample_size", "8")):
        with pytest.raises(TypeError, match=field):
            md.UNet2DModel(**dict(BASE, **{field: value}))


def test_attention_head_dim_is_checked_only_where_there_is_attention():
    # no attention anywhere; attention_head_dim keeps its default of 8, which 12 is not a multiple of
    cfg = dict(
        sample_size=8,
        in_channels=1,
        out_channels=1,
        block_out_channels=(12,),
        layers_per_block=1,
        down_block_types=("DownBlock2D",),
        up_block_types=("UpBlock2D",),
        norm_num_groups=4,
        add_attention=False,
    )
    ref, ours = _pair(cfg)
    x = np.ones((1, 1, 8, 8), np.float32)
    torch, _ = _oracle()
    with torch.no_grad():
        expected = ref(torch.tensor(x), 3).sample.numpy()
    assert _rel(ours(md.tensor(x), 3).numpy(), expected) < 1e-4


@pytest.mark.parametrize("shape", [(), (1,)])
def test_one_class_label_broadcasts_over_the_batch(shape):
    torch, _ = _oracle()
    ref, ours = _pair(dict(BASE, num_class_embeds=5))
    x = np.random.default_rng(6).standard_normal((2, 2, 8, 8)).astype(np.float32)
    label = np.full(shape, 3)
    with torch.no_grad():
        expected = ref(torch.tensor(x), 9, class_labels=torch.tensor(label)).sample.numpy()
    assert _rel(ours(md.tensor(x), 9, class_labels=md.tensor(label)).numpy(), expected) < 1e-4
