"""copy.deepcopy of tensors and modules, pickling, and md.save / md.load: torch's semantics, the
restricted unpickler, atomic writes, and a save/resume of a training run that continues bit for
bit."""

from __future__ import annotations

import copy
import io
import os
import pickle
import re
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from tiny_unet import TINY

import minidiff as md


def values(module) -> dict:
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


def assert_same_values(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


class Block(md.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.lin = md.nn.Linear(dim, dim)
        self.gain = md.nn.Parameter(md.ones(dim))
        self.tag = ["block", dim]  # a plain Python attribute

    def forward(self, x):
        return md.F.silu(self.lin(x)) * self.gain


class Net(md.nn.Module):
    """Native layers, a ModuleList of Python modules, a weight tied between two native layers, a
    frozen parameter, BatchNorm2d's buffers, a non-persistent buffer and a plain tensor attribute."""

    def __init__(self):
        super().__init__()
        self.embed = md.nn.Embedding(5, 4)
        self.head = md.nn.Linear(4, 5)
        self.head.weight = self.embed.weight  # tied, as a language model's output layer
        self.blocks = md.nn.ModuleList([Block(4), Block(4)])
        self.norm = md.nn.BatchNorm2d(4)
        self.frozen = md.nn.Parameter(md.full((4,), 0.5), requires_grad=False)
        self.frozen.requires_grad_(False)  # (assigning a frozen Parameter unfreezes it: see the report)
        self.register_buffer("scratch", md.zeros(2), persistent=False)
        self.offset = md.ones(4)

    def forward(self, ids):
        x = self.embed(ids)  # (B, 4)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x.reshape(-1, 4, 1, 1)).reshape(-1, 4)
        return self.head(x * self.frozen + self.offset)


# ---------------------------------------------------------------- copy.deepcopy: tensors


def test_tensor_deepcopy_is_an_independent_leaf_with_the_same_flags():
    t = md.randn(3, requires_grad=True)
    (t * 2).sum().backward()
    c = copy.deepcopy(t)
    np.testing.assert_array_equal(c.numpy(), t.numpy())
    assert c.requires_grad and c.is_leaf and c._impl_id != t._impl_id
    np.testing.assert_array_equal(c.grad.numpy(), [2.0, 2.0, 2.0])  # a plain tensor's grad is copied
    with md.no_grad():
        c.add_(1.0)
        c.grad.add_(1.0)
    assert float(c.sum()) == pytest.approx(float(t.sum()) + 3, rel=1e-6)
    np.testing.assert_array_equal(t.grad.numpy(), [2.0, 2.0, 2.0])
    p = md.nn.Parameter(md.ones(2))
    p.requires_grad_(False)
    q = copy.deepcopy(p)
    assert q._is_param and not q.requires_grad
    for dtype in ("int64", "bfloat16"):
        assert copy.deepcopy(md.ones(2).to(dtype=dtype)).dtype == dtype
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(t * 2)


def test_two_handles_of_one_tensor_copy_to_one_tensor():
    lin = md.nn.Linear(2, 2)
    # attribute access gives one handle (handles.py); the native getter makes a second one
    a, b = lin.weight, md.nn._native_getattr(lin, "weight")
    assert a is not b and a._impl_id == b._impl_id
    ca, cb = copy.deepcopy([a, b])
    assert ca is cb


def test_tensor_deepcopy_matches_torch_on_grads():
    torch = pytest.importorskip("torch")
    for lib in (md, torch):
        p = lib.nn.Parameter(lib.ones(2))
        p.grad = lib.ones(2)
        t = lib.ones(2, requires_grad=True)
        t.grad = lib.ones(2)
        assert copy.deepcopy(p).grad is None, lib.__name__  # torch leaves a parameter's grad behind
        assert copy.deepcopy(t).grad is not None, lib.__name__


# ---------------------------------------------------------------- copy.deepcopy: modules


def test_deepcopy_of_a_python_model_is_equal_and_independent():
    md.manual_seed(0)
    net = Net()
    net.blocks[1].eval()
    net(md.randint(0, 5, (6,)))  # a step of running statistics
    c = copy.deepcopy(net)

    assert type(c) is Net and [type(b) for b in c.blocks] == [Block, Block]
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in net.named_parameters()]
    assert [n for n, _ in c.named_buffers()] == [n for n, _ in net.named_buffers()]
    assert "scratch" not in c.state_dict()  # still not persistent
    assert_same_values(values(c), values(net))
    assert c.state_dict()["norm.num_batches_tracked"].dtype == "int64"
    # ties kept inside the copy, nothing shared with the original
    assert c.head.weight._impl_id == c.embed.weight._impl_id
    originals = {t._impl_id for t in net.parameters()} | {t._impl_id for t in net.buffers()}
    assert not originals & ({t._impl_id for t in c.parameters()} | {t._impl_id for t in c.buffers()})
    assert not c.frozen.requires_grad and c.frozen._is_param
    assert [m.training for m in c.modules()] == [m.training for m in net.modules()]
    assert c.blocks[0].tag == ["block", 4] and c.blocks[0].tag is not net.blocks[0].tag
    assert c.offset._impl_id != net.offset._impl_id
    ids = md.randint(0, 5, (6,))
    net.eval(), c.eval()
    np.testing.assert_array_equal(c(ids).numpy(), net(ids).numpy())

    # training the copy leaves the original as it was
    before = values(net)
    c.train()
    opt = md.optim.Adam(c.parameters(), lr=0.1)
    md.F.mse_loss(c(ids), md.zeros(6, 5)).backward()
    opt.step()
    assert_same_values(values(net), before)
    assert not np.array_equal(c.state_dict()["embed.weight"].numpy(), before["embed.weight"])
    assert int(c.norm.num_batches_tracked.item()) == 2 and int(net.norm.num_batches_tracked.item()) == 1
    assert c.head.weight._impl_id == c.embed.weight._impl_id  # still tied after the step


def test_deepcopy_keeps_a_shared_module_shared():
    class Twice(md.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = md.nn.Linear(2, 2)
            self.b = self.a

        def forward(self, x):
            return self.b(self.a(x))

    c = copy.deepcopy(Twice())
    assert c.a is c.b and [n for n, _ in c.named_parameters()] == ["a.weight", "a.bias"]


def test_deepcopy_of_native_layers_and_containers():
    lin = md.nn.Linear(3, 2, bias=False)
    lin.note = {"lr": 1}
    c = copy.deepcopy(lin)
    assert type(c) is md.nn.Linear and c.bias is None and c.note == {"lr": 1} and c.note is not lin.note
    assert c.weight._impl_id != lin.weight._impl_id
    np.testing.assert_array_equal(c.weight.numpy(), lin.weight.numpy())
    seq = md.nn.Sequential(OrderedDict(first=Block(3), act=md.nn.GELU("tanh")))
    d = md.nn.ModuleDict({"seq": seq, "norm": md.nn.BatchNorm2d(3, momentum=None)})
    cd = copy.deepcopy(d)
    assert cd.keys() == ["seq", "norm"] and type(cd["seq"][0]) is Block
    assert cd["seq"][1].approximate == "tanh" and cd["norm"].momentum is None
    assert list(cd.state_dict()) == list(d.state_dict())
    x = md.randn(2, 3)
    np.testing.assert_array_equal(cd["seq"](x).numpy(), seq(x).numpy())


def test_deepcopy_of_unet_is_a_unet2dmodel():
    md.manual_seed(1)
    unet = md.UNet2DModel(**TINY)
    c = copy.deepcopy(unet)
    assert type(c) is md.UNet2DModel and c.config == unet.config
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in unet.named_parameters()]
    x = md.randn(2, 1, 8, 8)
    np.testing.assert_array_equal(c(x, 10).numpy(), unet(x, 10).numpy())
    before = values(unet)
    opt = md.optim.Adam(c.parameters(), lr=1e-2)
    md.F.mse_loss(c(x, 10), x).backward()
    opt.step()
    assert_same_values(values(unet), before)
    assert not np.array_equal(c.conv_in.weight.numpy(), before["conv_in.weight"])


def test_deepcopy_of_a_subclass_of_a_native_layer():
    class Slotted(md.nn.Linear):
        __slots__ = ()

    class WithLayout(md.nn.Linear):
        pass

    c = copy.deepcopy(Slotted(2, 3))
    assert type(c) is Slotted and c.in_features == 2
    # Without __slots__ the subclass adds a __dict__ and __weakref__ of its own. Python 3.11 then refuses
    # to give the native copy the subclass's class (the layouts differ), and deepcopy says what to do;
    # 3.12 keeps both in the object's managed space, the layouts match, and the copy is made (seen on
    # the GPU machine's Python 3.12.3).
    original = WithLayout(2, 3)
    original.note = "kept"
    try:
        c = copy.deepcopy(original)
    except TypeError as e:
        assert re.search(r"Python subclass of the native Linear.*__slots__ = \(\)", str(e)), str(e)
        assert sys.version_info < (3, 12)
    else:
        assert type(c) is WithLayout and c.in_features == 2 and c.note == "kept"
        with md.no_grad():
            c.weight.fill_(1.0)
        assert not np.array_equal(original.weight.numpy(), c.weight.numpy())


def test_copy_copy_and_pickle_of_a_module_say_what_to_do():
    with pytest.raises(TypeError, match="use copy.deepcopy"):
        copy.copy(Block(2))
    with pytest.raises(TypeError, match=r"cannot pickle a Linear: save its state dict"):
        pickle.dumps(md.nn.Linear(2, 2))


# ---------------------------------------------------------------- pickle


@pytest.mark.parametrize(
    "make",
    [
        lambda: md.randn(3, 4),
        lambda: md.randn(3, 4).T,  # not contiguous
        lambda: md.tensor(2.5),
        lambda: md.zeros(0, 3),
        lambda: md.arange(6).reshape(2, 3),  # int64
        lambda: md.randn(5, requires_grad=True),
    ],
)
def test_pickle_round_trips_a_tensor(make):
    t = make()
    u = pickle.loads(pickle.dumps(t))
    assert (u.dtype, u.shape, u.requires_grad, str(u.device)) == (t.dtype, t.shape, t.requires_grad, str(t.device))
    np.testing.assert_array_equal(u.numpy(), t.numpy())


def test_pickle_keeps_bfloat16_bits_and_parameters():
    t = (md.randn(1000) * 1000).to(dtype="bfloat16")
    data = pickle.dumps(t)
    assert len(data) < 1000 * 3  # two bytes a value, not a float32 copy
    u = pickle.loads(data)
    assert u.dtype == "bfloat16"
    np.testing.assert_array_equal(u.numpy(), t.numpy())
    p = md.nn.Parameter(md.ones(2))
    p.requires_grad_(False)
    q = pickle.loads(pickle.dumps(p))
    assert q._is_param and not q.requires_grad


def test_pickle_round_trips_a_state_dict():
    net = Net()
    sd = net.state_dict()
    back = pickle.loads(pickle.dumps(sd))
    assert isinstance(back, OrderedDict)
    assert_same_values({k: v.numpy() for k, v in back.items()}, {k: v.numpy() for k, v in sd.items()})
    assert back["norm.num_batches_tracked"].dtype == "int64"


# ---------------------------------------------------------------- md.save / md.load


def test_save_and_load_nested_objects(tmp_path):
    net = Net()
    opt = md.optim.Adam(net.parameters(), lr=1e-3)
    obj = {
        "model": net.state_dict(),
        "opt": opt.state_dict(),
        "step": 3,
        "loss": 0.25,
        "name": "run",
        "none": None,
        "shape": (1, 2),
        "flags": [True, False],
        "array": np.arange(4, dtype=np.float32),
        "bf16": md.ones(3).to(dtype="bfloat16"),
    }
    for target in (tmp_path / "a.pt", str(tmp_path / "b.pt")):
        md.save(obj, target)
        back = md.load(target)
        assert back.keys() == obj.keys()
        assert (back["step"], back["loss"], back["name"], back["none"], back["shape"]) == (3, 0.25, "run", None, (1, 2))
        assert back["flags"] == [True, False] and back["bf16"].dtype == "bfloat16"
        np.testing.assert_array_equal(back["array"], obj["array"])
        assert list(back["model"]) == list(obj["model"])
        assert back["opt"]["param_groups"] == obj["opt"]["param_groups"]
    buffer = io.BytesIO()
    md.save(obj["model"], buffer)
    buffer.seek(0)
    assert list(md.load(buffer)) == list(obj["model"])
    assert sorted(os.listdir(tmp_path)) == ["a.pt", "b.pt"]  # no temporary files left


def test_a_failed_save_leaves_the_old_file(tmp_path):
    path = tmp_path / "m.pt"
    md.save({"w": md.ones(2)}, path)
    with pytest.raises(TypeError, match="cannot pickle a Linear"):
        md.save({"w": md.zeros(2), "model": md.nn.Linear(2, 2)}, path)
    np.testing.assert_array_equal(md.load(path)["w"].numpy(), [1.0, 1.0])
    assert os.listdir(tmp_path) == ["m.pt"]


CALLED = []


def _record(x):
    CALLED.append(x)
    return x


class _Evil:
    def __reduce__(self):
        return (_record, ("ran",))


def test_weights_only_load_refuses_other_globals(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"w": md.ones(2), "payload": _Evil()}, f)
    with pytest.raises(pickle.UnpicklingError, match=r"global test_serialization\._record"):
        md.load(path)
    assert CALLED == []
    assert md.load(path, weights_only=False)["payload"] == "ran" and CALLED == ["ran"]
    with open(path, "wb") as f:
        pickle.dump(os.getcwd, f)  # a builtin function is no container either
    with pytest.raises(pickle.UnpicklingError, match=r"global posix\.getcwd"):
        md.load(path)


def test_weights_only_load_accepts_numpy_and_containers_in_every_protocol(tmp_path):
    obj = OrderedDict(
        a=np.arange(3.0), b=np.float32(1.5), c={1, 2}, d=frozenset({3}), e=1 + 2j, f=np.array([True]), g=b"xy"
    )
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        buffer = io.BytesIO(pickle.dumps(obj, protocol=protocol))
        back = md.load(buffer)
        assert type(back) is OrderedDict and back["c"] == {1, 2} and back["e"] == 1 + 2j
        np.testing.assert_array_equal(back["a"], obj["a"])


def test_map_location(tmp_path):
    path = tmp_path / "t.pt"
    md.save({"w": md.ones(2), "p": md.nn.Parameter(md.ones(1))}, path)
    for location in ("cpu", md.device("cpu")):
        back = md.load(path, map_location=location)
        assert str(back["w"].device) == "cpu" and back["p"]._is_param
    with pytest.raises(TypeError, match="map_location must be None, a device string or md.device"):
        md.load(path, map_location={"cuda:0": "cpu"})


@pytest.mark.cuda
def test_map_location_moves_between_devices(tmp_path):
    if not md.cuda.is_available():
        pytest.skip("no CUDA device")
    path = tmp_path / "t.pt"
    md.save({"w": md.ones(2, device="cuda"), "c": md.ones(2)}, path)
    assert str(md.load(path)["w"].device).startswith("cuda")
    assert str(md.load(path, map_location="cpu")["w"].device) == "cpu"
    assert str(md.load(path, map_location="cuda")["c"].device).startswith("cuda")


# ---------------------------------------------------------------- resuming training from saved state


def _train(model, opt, batches):
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = md.F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.numpy().copy())
    return losses


def test_resume_from_saved_state_continues_bit_for_bit(tmp_path: Path):
    def build():
        return md.nn.Sequential(
            md.nn.Conv2d(1, 4, 3, padding=1), md.nn.BatchNorm2d(4), md.nn.ReLU(), md.nn.Flatten(), md.nn.Linear(64, 2)
        )

    md.manual_seed(0)
    batches = [(md.randn(3, 1, 4, 4), md.randn(3, 2)) for _ in range(6)]
    model = build()
    opt = md.optim.Adam(model.parameters(), lr=1e-2)
    _train(model, opt, batches[:3])
    md.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": 3}, tmp_path / "ckpt.pt")

    md.manual_seed(123)  # a fresh model with other weights, as a new process would build
    resumed = build()
    resumed_opt = md.optim.Adam(resumed.parameters(), lr=0.5)
    state = md.load(tmp_path / "ckpt.pt")
    resumed.load_state_dict(state["model"])
    resumed_opt.load_state_dict(state["opt"])
    assert state["step"] == 3 and resumed_opt.param_groups[0]["lr"] == 1e-2

    expected = _train(model, opt, batches[3:])
    got = _train(resumed, resumed_opt, batches[3:])
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    assert_same_values(values(resumed), values(model))
    assert int(resumed[1].num_batches_tracked.item()) == 6


def test_a_0d_bfloat16_tensor_pickles_as_0d():
    import pickle

    t = md.tensor(1.5).to("bfloat16")
    back = pickle.loads(pickle.dumps(t))
    assert back.shape == () and back.dtype == "bfloat16" and back.float().item() == 1.5
