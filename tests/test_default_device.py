"""md.set_default_device / md.get_default_device and ``with md.device(...)``, as torch's: the device of
tensors and layers made without one named; and the ``device=`` / ``dtype=`` factory arguments of the
layers. On a machine without CUDA a default of "cuda" shows where the default is consulted: every
factory and every new layer then raises the CUDA-not-available error, while what must not follow the
default (``*_like``, ``from_numpy``, ``Generator()``, an explicit ``device="cpu"``) still works. The
CUDA twins are in test_cuda.py."""

from __future__ import annotations

import numpy as np
import pytest

import minidiff as md

needs_no_cuda = pytest.mark.skipif(md.cuda.is_available(), reason="checks the CUDA-not-available errors")


@pytest.fixture(autouse=True)
def _restore_default_device():
    yield
    md.set_default_device(None)


def test_the_default_is_the_cpu_and_none_restores_it():
    assert md.get_default_device() == "cpu"
    md.set_default_device("cuda:1")
    assert md.get_default_device() == md.device("cuda:1")
    md.set_default_device(None)
    assert md.get_default_device() == "cpu"
    md.set_default_device(md.device("cpu"))
    assert md.zeros(2).device == "cpu"
    with pytest.raises(TypeError, match="expected a device"):
        md.set_default_device(3)
    with pytest.raises(ValueError):
        md.set_default_device("tpu")


def test_with_device_blocks_nest_and_restore_even_after_an_exception():
    with md.device("cuda:0") as d:
        assert d == "cuda:0" and md.get_default_device() == "cuda:0"
        with md.device("cpu"):
            assert md.get_default_device() == "cpu"
            assert md.ones(2).device == "cpu"
        assert md.get_default_device() == "cuda:0"
    assert md.get_default_device() == "cpu"
    with pytest.raises(KeyError), md.device("cuda"):
        raise KeyError("inside")
    assert md.get_default_device() == "cpu"
    with pytest.raises(RuntimeError, match="no `with md.device"):
        md.device("cpu").__exit__(None, None, None)


FACTORIES = {
    "zeros": lambda: md.zeros(2, 3),
    "ones": lambda: md.ones(2),
    "empty": lambda: md.empty(4),
    "full": lambda: md.full((2,), 1.5),
    "tensor": lambda: md.tensor([1.0, 2.0]),
    "tensor of an array": lambda: md.tensor(np.arange(3)),
    "as_tensor": lambda: md.as_tensor(np.ones(3, np.float32)),
    "randn": lambda: md.randn(3),
    "rand": lambda: md.rand(3),
    "randint": lambda: md.randint(0, 5, (3,)),
    "arange": lambda: md.arange(5),
    "linspace": lambda: md.linspace(0, 1, 5),
    "logspace": lambda: md.logspace(0, 1, 5),
    "eye": lambda: md.eye(3),
    "randperm": lambda: md.randperm(4),
    "tril_indices": lambda: md.tril_indices(3, 3),
    "Linear": lambda: md.nn.Linear(2, 3),
    "Conv2d": lambda: md.nn.Conv2d(2, 4, 3),
    "Conv2d grouped": lambda: md.nn.Conv2d(2, 4, 3, groups=2),
    "ConvTranspose2d": lambda: md.nn.ConvTranspose2d(2, 4, 3),
    "Embedding": lambda: md.nn.Embedding(5, 3),
    "GroupNorm": lambda: md.nn.GroupNorm(2, 4),
    "LayerNorm": lambda: md.nn.LayerNorm(4),
    "BatchNorm2d": lambda: md.nn.BatchNorm2d(3),
    "Attention": lambda: md.nn.Attention(8, heads=2, dim_head=4),
    "UNet2DModel": lambda: md.UNet2DModel(
        sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
    ),
}  # fmt: skip


@needs_no_cuda
@pytest.mark.parametrize("name", list(FACTORIES))
def test_every_factory_and_new_layer_follows_the_default_device(name):
    make = FACTORIES[name]
    made = make()  # on the CPU by default
    for p in made.parameters() if isinstance(made, md.nn.Module) else [made]:
        assert p.device == "cpu"
    md.set_default_device("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        make()
    with md.device("cpu"):
        make()  # the innermost block wins


@needs_no_cuda
def test_what_does_not_follow_the_default_device():
    x, inp = md.randn(2, 3), md.randn(4, 2)
    md.set_default_device("cuda")
    for t in (
        md.zeros_like(x),
        md.ones_like(x),
        md.randn_like(x),
        md.full_like(x, 2.0),
        md.empty_like(x),
        md.from_numpy(np.ones(3, np.float32)),
        md.tensor(x),  # a tensor keeps its device
        md.zeros(2, device="cpu"),
        md.tensor([1.0], device="cpu"),
        md.arange(3, device="cpu"),
        md.linspace(0, 1, 3, device="cpu"),
        md.eye(2, device="cpu"),
    ):
        assert t.device == "cpu"
    assert md.Generator().device == "cpu"  # as torch.Generator()
    layer = md.nn.Linear(2, 3, device="cpu")
    assert layer.weight.device == "cpu"
    grouped = md.nn.Conv2d(2, 4, 3, groups=2, device="cpu")
    assert grouped.weight.device == grouped.bias.device == "cpu"
    out = layer(inp)  # and it computes
    np.testing.assert_allclose(out.numpy(), inp.numpy() @ layer.weight.numpy().T + layer.bias.numpy(), rtol=1e-6)


LAYERS = {
    "Linear": (md.nn.Linear, (2, 3)),
    "Conv2d": (md.nn.Conv2d, (2, 4, 3)),
    "Conv2d grouped": (md.nn.Conv2d, (2, 4, 3, 1, 0, 2, 2)),
    "ConvTranspose2d": (md.nn.ConvTranspose2d, (2, 4, 3)),
    "ConvTranspose2d grouped": (md.nn.ConvTranspose2d, (2, 4, 3, 1, 0, 0, 2)),
    "Embedding": (md.nn.Embedding, (5, 3)),
    "GroupNorm": (md.nn.GroupNorm, (2, 4)),
    "LayerNorm": (md.nn.LayerNorm, (4,)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layers_take_torchs_device_and_dtype_arguments(name):
    cls, args = LAYERS[name]
    for dtype in (None, "float32", np.float32, md.float32):
        m = cls(*args, device="cpu", dtype=dtype)
        assert all(p.device == "cpu" and p.dtype == "float32" for p in m.parameters())
    m = cls(*args, device=md.device("cpu"))
    md.manual_seed(3)
    a = cls(*args, device="cpu")
    md.manual_seed(3)
    b = cls(*args)
    for p, q in zip(a.parameters(), b.parameters()):  # the same draw as without the arguments
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    with pytest.raises(TypeError, match=rf"{cls.__name__}: parameters are float32 here; dtype bfloat16"):
        cls(*args, dtype="bfloat16")
    with pytest.raises(TypeError, match="expected a device"):
        cls(*args, device=7)
    with pytest.raises(TypeError):
        cls(*args, "cpu", "float32", "extra", "positional", "arguments", "too", "many")


def test_the_layer_arguments_match_torchs_names():
    torch = pytest.importorskip("torch")
    for name, (cls, args) in LAYERS.items():
        t = getattr(torch.nn, cls.__name__)(*args, device="cpu", dtype=torch.float32)
        m = cls(*args, device="cpu", dtype="float32")
        assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()], name
