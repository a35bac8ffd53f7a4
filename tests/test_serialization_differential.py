"""md.save / md.load, checkpoints and md.amp compared with torch.save / torch.load, safetensors,
diffusers and torch.amp on edge cases: tensors sharing memory, damaged files, 0-d checkpoint
arrays, GradScaler state dicts. Known differences whose cause lies elsewhere are strict xfails."""

import copy
import io
import json
import os
import pickle
import sys

import numpy as np
import pytest

import minidiff as md
from minidiff import checkpoint as ckpt

sys.path.insert(0, os.path.dirname(__file__))
from tiny_unet import TINY  # noqa: E402


def round_trip(obj, **kwargs):
    buffer = io.BytesIO()
    md.save(obj, buffer)
    buffer.seek(0)
    return md.load(buffer, **kwargs)


def writes_reach(tensors, source: int) -> list[bool]:
    """Whether zeroing tensors[source] changes each other tensor (whether they share its memory)."""
    before = [t.numpy().copy() for t in tensors]
    with md.no_grad():
        tensors[source].zero_()
    return [not np.array_equal(b, t.numpy()) for i, (b, t) in enumerate(zip(before, tensors)) if i != source]


# the views each layout case makes of one 60-element tensor; the last entry is written to
VIEW_CASES = {
    "overlapping slices": lambda x: [x[0:10], x[5:20], x],
    "slices without their base": lambda x: [x[5:20], x[0:10]],
    "transposed and sliced 2-d": lambda x: [x.reshape(6, 10).t(), x.reshape(6, 10)[:, 2:7], x.reshape(6, 10)],
    "step slices": lambda x: [x.reshape(6, 10)[:, ::3], x[1:50:3], x[0:30]],
    "integer index": lambda x: [x.reshape(6, 10)[:, 3], x.reshape(6, 10)[2], x[20:40]],
    "0-d element": lambda x: [x[3], x[0:5]],
    "permuted 3-d": lambda x: [x.reshape(3, 4, 5).permute(2, 0, 1), x.reshape(3, 4, 5)[1:, ::2, 1:4], x],
    "expanded": lambda x: [x[0:1].expand(4), x[0:3]],
    "two handles of one tensor": lambda x: [x.detach(), x.detach()],
    "disjoint slices": lambda x: [x[0:10], x[10:20]],
}


def _base(dtype: str):
    values = np.arange(1, 61) if dtype == "int64" else np.linspace(-3, 3, 60, dtype=np.float32)
    t = md.tensor(values)
    return t.to("bfloat16") if dtype == "bfloat16" else t


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int64"])
@pytest.mark.parametrize("case", list(VIEW_CASES))
def test_views_come_back_with_their_values_and_sharing(case, dtype):
    make = VIEW_CASES[case]
    saved = make(_base(dtype))
    loaded = round_trip(saved)
    for a, b in zip(saved, loaded):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # as torch.load: a write through one loaded tensor reaches exactly those the originals would reach
    assert writes_reach(loaded, len(loaded) - 1) == writes_reach(make(_base(dtype)), len(saved) - 1)


def test_views_share_storage_as_torch_does():
    torch = pytest.importorskip("torch")
    base = torch.arange(12.0)
    buffer = io.BytesIO()
    torch.save({"a": base[0:6], "b": base[4:10]}, buffer)
    buffer.seek(0)
    theirs = torch.load(buffer)
    theirs["a"][5] = 100.0
    x = md.tensor(np.arange(12.0, dtype=np.float32))
    ours = round_trip({"a": x[0:6], "b": x[4:10]})
    with md.no_grad():
        ours["a"][5] = 100.0
    np.testing.assert_array_equal(ours["b"].numpy(), theirs["b"].numpy())


def test_tied_weights_state_dict_entries_share_after_load(tmp_path):
    class Tied(md.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = md.nn.Linear(3, 3)
            self.b = md.nn.Linear(3, 3)
            self.b.weight = self.a.weight

    md.save(Tied().state_dict(), tmp_path / "tied.pt")
    back = md.load(tmp_path / "tied.pt")
    assert back["a.weight"].data_ptr() == back["b.weight"].data_ptr()
    assert not back["a.weight"].requires_grad and back["a.bias"].data_ptr() != back["b.bias"].data_ptr()


def test_shared_parameter_and_its_view_keep_parameterness_and_requires_grad():
    p = md.nn.Parameter(md.tensor([1.0, 2.0, 3.0]))
    back = round_trip({"p": p, "v": p[0:2].detach(), "again": p})
    assert back["p"]._is_param and back["p"].requires_grad and back["again"] is back["p"]
    assert not back["v"]._is_param and not back["v"].requires_grad
    assert back["v"].data_ptr() == back["p"].data_ptr()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_shared_views_in_every_pickle_protocol(protocol):
    x = md.tensor(np.arange(10.0, dtype=np.float32))
    buffer = io.BytesIO()
    md.save([x, x[2:5]], buffer, pickle_protocol=protocol)
    buffer.seek(0)
    whole, part = md.load(buffer)
    assert part.data_ptr() - whole.data_ptr() == 8
    # a plain pickle.loads (no md.load) still gives the right values, without the sharing
    plain = pickle.loads(buffer.getvalue())
    np.testing.assert_array_equal(plain[1].numpy(), [2.0, 3.0, 4.0])


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, pickle.UnpicklingError, "truncated"),  # the first half of a real file
        (b"", EOFError, "empty or truncated"),
        (b"\x80\x04not a pickle at all", Exception, None),
    ],
)
def test_damaged_file_errors_name_the_path(tmp_path, content, error, message):
    path = tmp_path / "damaged.pt"
    md.save({"w": md.ones(100)}, path)
    if content is None:
        content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(error, match=message) as info:
        md.load(path)
    assert str(path) in str(info.value) + "".join(getattr(info.value, "__notes__", []))


def test_a_torch_save_file_is_refused_naming_its_format(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(pickle.UnpicklingError, match=r"zip archive \(torch.save's format") as info:
        md.load(path)
    assert str(path) in str(info.value)
    with pytest.raises(pickle.UnpicklingError, match="zip archive"):
        md.load(io.BytesIO(path.read_bytes()))


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle this")

    path = tmp_path / "model.pt"
    md.save({"step": 1}, path)
    with pytest.raises(RuntimeError, match="cannot pickle this"):
        md.save({"w": md.ones(1000), "x": Unpicklable()}, path)
    assert md.load(path) == {"step": 1} and os.listdir(tmp_path) == ["model.pt"]


# ---- checkpoints


def test_checkpoint_keeps_0d_arrays_0d(tmp_path):
    arrays = {"count": np.array(7, dtype=np.int64), "scale": np.array(0.5, dtype=np.float32), "v": np.ones(2)}
    ckpt.save_checkpoint(tmp_path, 1, {"model": arrays}, {})
    back = ckpt.load_checkpoint(tmp_path).tensors["model"]
    for name, value in arrays.items():
        assert back[name].shape == value.shape and back[name].dtype == value.dtype
        np.testing.assert_array_equal(back[name], value)


def test_checkpoint_arguments_checked_before_writing(tmp_path):
    ckpt.save_checkpoint(tmp_path, 1, {}, {})
    with pytest.raises(ValueError, match="keep must be >= 1"):
        ckpt.save_checkpoint(tmp_path, 2, {}, {}, keep=0)
    with pytest.raises(ValueError, match="step must be >= 0"):
        ckpt.save_checkpoint(tmp_path, -1, {}, {})
    assert sorted(os.listdir(tmp_path)) == ["latest", "step-000001"]
    assert ckpt.load_checkpoint(tmp_path).step == 1


# ---- GradScaler


def test_grad_scaler_state_dict_loads_into_torchs_and_back():
    torch = pytest.importorskip("torch")
    ours = md.amp.GradScaler("cpu", growth_factor=3.0, backoff_factor=0.25, growth_interval=7)
    theirs = torch.amp.GradScaler("cpu")
    theirs.load_state_dict(ours.state_dict())
    assert theirs.get_scale() == 1.0 and theirs.get_growth_factor() == 3.0
    assert theirs.get_backoff_factor() == 0.25 and theirs.get_growth_interval() == 7
    state = torch.amp.GradScaler("cpu", growth_interval=11).state_dict()
    other = md.amp.GradScaler("cpu")
    other.load_state_dict(state)
    assert other.state_dict()["growth_interval"] == 11 and other.get_scale() == 1.0 and other.is_enabled()


def test_grad_scaler_skips_the_same_steps_as_torchs():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((2, 3)).astype(np.float32)
    ours = md.nn.Linear(3, 2, bias=False)
    with md.no_grad():
        ours.weight.copy_(md.tensor(w0))
    theirs = torch.nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(w0))
    opt_ours = md.optim.SGD(ours.parameters(), lr=0.1)
    opt_theirs = torch.optim.SGD(theirs.parameters(), lr=0.1)
    scaler_ours, scaler_theirs = md.amp.GradScaler("cpu"), torch.amp.GradScaler("cpu")
    x = rng.standard_normal((4, 3)).astype(np.float32)
    for factor in (1.0, float("inf"), 1.0, float("nan"), 1.0):
        opt_ours.zero_grad()
        opt_theirs.zero_grad()
        scaler_ours.scale(ours(md.tensor(x)).sum() * factor).backward()
        scaler_theirs.scale(theirs(torch.from_numpy(x)).sum() * factor).backward()
        for scaler, opt in ((scaler_ours, opt_ours), (scaler_theirs, opt_theirs)):
            scaler.step(opt)
            scaler.update()
        np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-5, atol=1e-6)


# ---- known differences whose cause lies outside these files


def test_deepcopy_of_model_and_optimizer_together():
    model = md.nn.Linear(3, 2)
    opt = md.optim.Adam(model.parameters(), lr=1e-3)
    model(md.ones(4, 3)).sum().backward()
    opt.step()
    both = copy.deepcopy({"model": model, "opt": opt})
    assert both["opt"].param_groups[0]["params"][0] is both["model"].weight
    assert both["opt"].state_dict()["state"][0]["step"] == 1
    np.testing.assert_array_equal(
        both["opt"].state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"]
    )
    # the copy steps its own parameters only
    before = model.weight.numpy().copy()
    both["model"](md.ones(4, 3)).sum().backward()
    both["opt"].step()
    np.testing.assert_array_equal(model.weight.numpy(), before)
    assert not np.array_equal(both["model"].weight.numpy(), before)


def test_copy_copy_of_a_tensor_shares_its_memory():
    x = md.ones(3)
    assert copy.copy(x).data_ptr() == x.data_ptr()
    y = md.ones(3, requires_grad=True) * 2
    c = copy.copy(y)  # a leaf sharing y's memory, requiring grad, as torch's
    assert c.data_ptr() == y.data_ptr() and c.requires_grad and c.is_leaf
    p = md.nn.Linear(2, 2).weight
    assert copy.copy(p)._is_param and copy.copy(p).data_ptr() == p.data_ptr()


@pytest.mark.parametrize("view_first", [False, True])
def test_deepcopy_keeps_views_sharing_memory(view_first):
    x = md.tensor(np.arange(12.0, dtype=np.float32)).reshape(3, 4)
    items = {"view": x[1:3, ::2].t(), "x": x} if view_first else {"x": x, "view": x[1:3, ::2].t()}
    both = copy.deepcopy(items)
    assert both["view"].data_ptr() - both["x"].data_ptr() == 4 * 4 and both["view"].stride() == (2, 4)
    both["x"].fill_(0)  # the copies share memory with each other, not with the originals
    np.testing.assert_array_equal(both["view"].numpy(), 0)
    np.testing.assert_array_equal(x[1:3, ::2].t().numpy(), [[4.0, 8.0], [6.0, 10.0]])


def test_deepcopy_of_a_lone_view_matches_torch():
    torch = pytest.importorskip("torch")
    for L in (md, torch):
        x = L.arange(10.0)
        v = copy.deepcopy(x[2:5])
        assert v.storage_offset() == 2 and v.tolist() == [2.0, 3.0, 4.0]


@pytest.fixture(scope="module")
def diffusers_folder(tmp_path_factory):
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    root = tmp_path_factory.mktemp("unet")
    md.UNet2DModel(**TINY).save_pretrained(root / "md")
    theirs = diffusers.UNet2DModel.from_pretrained(root / "md")
    theirs.save_pretrained(root / "fp16", variant="fp16")
    theirs.to(torch.bfloat16).save_pretrained(root / "bf16")
    return root


def test_unet_round_trips_through_diffusers(diffusers_folder, tmp_path):
    diffusers = pytest.importorskip("diffusers")
    ours = md.UNet2DModel.from_pretrained(diffusers_folder / "md")
    diffusers.UNet2DModel.from_pretrained(diffusers_folder / "md").save_pretrained(tmp_path / "theirs")
    back = md.UNet2DModel.from_pretrained(tmp_path / "theirs").state_dict()
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(back[name].numpy(), value.numpy())


def test_unet_from_pretrained_variant(diffusers_folder, tmp_path):
    plain = md.UNet2DModel.from_pretrained(diffusers_folder / "md").state_dict()
    for name, value in md.UNet2DModel.from_pretrained(diffusers_folder / "fp16", variant="fp16").state_dict().items():
        np.testing.assert_array_equal(value.numpy(), plain[name].numpy())
    with pytest.raises(FileNotFoundError, match=r"diffusion_pytorch_model\.fp16\.safetensors"):
        md.UNet2DModel.from_pretrained(diffusers_folder / "md", variant="fp16")
    md.UNet2DModel(**TINY).save_pretrained(tmp_path / "v", variant="ema")
    assert (tmp_path / "v" / "diffusion_pytorch_model.ema.safetensors").is_file()


def test_unet_from_pretrained_reads_bf16_weights(diffusers_folder):
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    want = diffusers.UNet2DModel.from_pretrained(diffusers_folder / "bf16").state_dict()
    for name, value in md.UNet2DModel.from_pretrained(diffusers_folder / "bf16").state_dict().items():
        np.testing.assert_array_equal(value.numpy(), want[name].to(torch.float32).numpy())


def test_unet_from_pretrained_ignores_unknown_config_keys(diffusers_folder, tmp_path):
    folder = tmp_path / "extra"
    md.UNet2DModel(**TINY).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["a_key_from_a_newer_diffusers"] = 1
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match="a_key_from_a_newer_diffusers"):
        md.UNet2DModel.from_pretrained(folder)
    with pytest.raises(ValueError, match="unknown config fields"):
        md.UNet2DModel(**TINY, a_key_from_a_newer_diffusers=1)  # the constructor still refuses it


def test_unet_pretrained_accepts_diffusers_keywords(diffusers_folder, tmp_path):
    model = md.UNet2DModel.from_pretrained(diffusers_folder / "md", torch_dtype="float32")
    model.save_pretrained(tmp_path / "out", safe_serialization=True)
    with pytest.raises(ValueError, match="torch_dtype"):
        md.UNet2DModel.from_pretrained(diffusers_folder / "md", torch_dtype="bfloat16")
    with pytest.raises(ValueError, match="safe_serialization"):
        model.save_pretrained(tmp_path / "bin", safe_serialization=False)


def test_unet_from_pretrained_names_a_damaged_weights_file(tmp_path):
    folder = tmp_path / "damaged"
    md.UNet2DModel(**TINY).save_pretrained(folder)
    weights = folder / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    for broken in (data[:5], data[:-7], (2**40).to_bytes(8, "little") + data[8:]):
        weights.write_bytes(broken)
        with pytest.raises(ValueError, match="diffusion_pytorch_model.safetensors is not a valid safetensors"):
            md.UNet2DModel.from_pretrained(folder)
