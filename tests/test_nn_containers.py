"""md.nn's Python modules: Sequential, ModuleDict, the activations, Upsample and BatchNorm2d,
against torch.nn where torch is installed (names, values, gradients, running statistics, repr)
and on their own where it is not."""

from __future__ import annotations

import gc
from collections import OrderedDict

import numpy as np
import pytest
from gradcheck import check_grads

import minidiff as md


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


class Scale(md.nn.Module):
    """A module written in Python, to check the containers keep its class and attributes."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor
        self.lin = md.nn.Linear(3, 3)

    def forward(self, x):
        return self.lin(x) * self.factor


# ---------------------------------------------------------------- Sequential


def test_sequential_chains_names_and_indexes():
    seq = md.nn.Sequential(md.nn.Linear(4, 3), md.nn.ReLU(), Scale(2.0))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.lin.weight", "2.lin.bias"]
    x = md.randn(5, 4)
    ref = seq[2](md.F.relu(seq[0](x)))
    np.testing.assert_array_equal(seq(x).numpy(), ref.numpy())
    assert len(seq) == 3 and seq[-1] is seq[2] and seq[-3] is seq[0]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Scale"]
    with pytest.raises(IndexError, match="Sequential index 3 is out of range for 3 modules"):
        seq[3]
    with pytest.raises(IndexError):
        seq[-4]


def test_sequential_slice_keeps_names_and_modules():
    seq = md.nn.Sequential(md.nn.Linear(2, 2), md.nn.Tanh(), md.nn.Linear(2, 1))
    tail = seq[1:]
    assert isinstance(tail, md.nn.Sequential) and len(tail) == 2
    assert [n for n, _ in tail.named_children()] == ["1", "2"]  # as torch: the original names
    assert tail[1] is seq[2]
    assert list(tail.state_dict()) == ["2.weight", "2.bias"]
    assert len(seq[::2]) == 2 and len(seq[5:]) == 0


def test_sequential_from_ordered_dict_append_and_extend():
    seq = md.nn.Sequential(OrderedDict([("conv", md.nn.Conv2d(1, 2, 3)), ("act", md.nn.SiLU())]))
    assert list(seq.state_dict()) == ["conv.weight", "conv.bias"]
    assert seq.append(md.nn.Flatten()) is seq
    seq.extend([md.nn.Linear(8, 1)])
    assert [n for n, _ in seq.named_children()] == ["conv", "act", "2", "3"]
    assert seq(md.randn(2, 1, 4, 4)).shape == (2, 1)
    with pytest.raises(TypeError, match="is not a Module"):
        seq.append(lambda x: x)


def test_containers_keep_python_modules_and_methods():
    seq = md.nn.Sequential(Scale(3.0), Scale(4.0))  # no other reference to the Scale objects
    gc.collect()
    assert [type(m) for m in seq] == [Scale, Scale] and seq[1].factor == 4.0
    # a child named like a method does not hide the method
    d = md.nn.ModuleDict({"keys": md.nn.Linear(1, 1), "forward": md.nn.ReLU()})
    assert d.keys() == ["keys", "forward"] and isinstance(d["forward"], md.nn.ReLU)
    s = md.nn.Sequential(OrderedDict(forward=md.nn.Linear(2, 2)))
    assert s(md.ones(1, 2)).shape == (1, 2)


# ---------------------------------------------------------------- ModuleDict


def test_module_dict_is_dict_like():
    d = md.nn.ModuleDict({"enc": md.nn.Linear(2, 3), "act": md.nn.GELU()})
    assert len(d) == 2 and list(d) == ["enc", "act"] and "enc" in d and "dec" not in d and 3 not in d
    assert [n for n, _ in d.named_parameters()] == ["enc.weight", "enc.bias"]
    d.update([("dec", md.nn.Linear(3, 2))])
    d.update({"act": md.nn.Sigmoid()})  # an existing key keeps its place
    assert d.keys() == ["enc", "act", "dec"]
    assert isinstance(d["act"], md.nn.Sigmoid)
    assert [k for k, _ in d.items()] == d.keys() and d.values()[2] is d["dec"]
    dec = d.pop("dec")
    assert isinstance(dec, md.nn.Linear) and "dec" not in d and len(d.state_dict()) == 2
    del d["act"]
    assert d.keys() == ["enc"]
    with pytest.raises(KeyError):
        d["act"]
    with pytest.raises(KeyError):
        del d["act"]
    with pytest.raises(TypeError, match="a module name must be a string"):
        d[1] = md.nn.ReLU()
    d.clear()
    assert len(d) == 0 and d.state_dict() == {}


# ---------------------------------------------------------------- activations and Upsample


def test_activations_without_torch():
    x = md.tensor([[-2.0, -0.5, 0.0, 1.5]])
    np.testing.assert_array_equal(md.nn.ReLU()(x).numpy(), [[0.0, 0.0, 0.0, 1.5]])
    np.testing.assert_allclose(md.nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6)
    np.testing.assert_allclose(md.nn.Tanh()(x).numpy(), np.tanh(x.numpy()), rtol=1e-6)
    assert md.nn.Flatten()(md.ones(2, 3, 4, 5)).shape == (2, 60)
    assert md.nn.Flatten(0, 2)(md.ones(2, 3, 4, 5)).shape == (24, 5)
    up = md.nn.Upsample(scale_factor=2)
    y = up(md.arange(4.0).reshape(1, 1, 2, 2))
    np.testing.assert_array_equal(y.numpy()[0, 0], [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    assert repr(up) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert md.nn.Upsample(size=(4, 6))(md.ones(1, 2, 2, 3)).shape == (1, 2, 4, 6)


@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.ReLU(),
        lambda nn: nn.GELU(),
        lambda nn: nn.GELU(approximate="tanh"),
        lambda nn: nn.Sigmoid(),
        lambda nn: nn.Tanh(),
        lambda nn: nn.Flatten(),
        lambda nn: nn.Flatten(start_dim=2),
        lambda nn: nn.Upsample(scale_factor=2),
        lambda nn: nn.Upsample(size=(6, 10), mode="nearest"),
    ],
)
def test_activation_modules_match_torch(make):
    torch = pytest.importorskip("torch")
    ours, ref = make(md.nn), make(torch.nn)
    assert repr(ours) == repr(ref)
    x = randn(np.random.default_rng(0), 2, 3, 3, 5)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ym, yt = ours(xm), ref(xt)
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    w = randn(np.random.default_rng(1), *yt.shape)
    ym.backward(md.tensor(w))
    yt.backward(torch.tensor(w))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.torch_2_13
def test_sequential_matches_torch_names_repr_and_gradients():
    torch = pytest.importorskip("torch")

    def build(nn):
        return nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Sequential(nn.Flatten(), nn.Linear(4 * 5 * 5, 3)),
            nn.GELU(approximate="tanh"),
        )

    ours, ref = build(md.nn), build(torch.nn)
    assert repr(ours) == repr(ref)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    # the same keys; the native state_dict lists every parameter before the buffers, torch module by module
    assert sorted(ours.state_dict()) == sorted(ref.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = randn(np.random.default_rng(2), 3, 2, 5, 5)
    ym, yt = ours(md.tensor(x)), ref(torch.tensor(x))
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    ym.sum().backward()
    yt.sum().backward()
    grads = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.torch_2_13
def test_module_dict_names_match_torch():
    torch = pytest.importorskip("torch")
    ours = md.nn.ModuleDict({"b": md.nn.Linear(2, 2), "a": md.nn.BatchNorm2d(3)})
    ref = torch.nn.ModuleDict({"b": torch.nn.Linear(2, 2), "a": torch.nn.BatchNorm2d(3)})
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert repr(ours) == repr(ref)


# ---------------------------------------------------------------- BatchNorm2d


def test_batch_norm_state_and_running_statistics_without_torch():
    bn = md.nn.BatchNorm2d(3, momentum=0.5)
    sd = bn.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert sd["num_batches_tracked"].dtype == "int64" and sd["num_batches_tracked"].shape == ()
    assert sd["running_mean"].dtype == "float32"
    x = randn(np.random.default_rng(3), 4, 3, 2, 5) * 3 + 1
    y = bn(md.tensor(x)).numpy()
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    ref = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.5 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.5 + 0.5 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1
    # eval: the running statistics, which do not change
    bn.eval()
    before = bn.running_mean.numpy().copy()
    y_eval = bn(md.tensor(x)).numpy()
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    np.testing.assert_allclose(y_eval, (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5), 1e-5)
    np.testing.assert_array_equal(bn.running_mean.numpy(), before)
    assert int(bn.num_batches_tracked.item()) == 1


def test_batch_norm_cumulative_average_and_options():
    bn = md.nn.BatchNorm2d(2, momentum=None)
    rng = np.random.default_rng(4)
    batches = [randn(rng, 3, 2, 2, 2) + i for i in range(3)]
    for b in batches:
        bn(md.tensor(b))
    expected = np.mean([b.mean(axis=(0, 2, 3)) for b in batches], axis=0)
    np.testing.assert_allclose(bn.running_mean.numpy(), expected, rtol=1e-5, atol=1e-6)
    plain = md.nn.BatchNorm2d(2, affine=False, track_running_stats=False).eval()
    assert plain.weight is None and plain.running_mean is None and plain.state_dict() == {}
    out = plain(md.tensor(batches[0])).numpy()  # batch statistics even in eval mode
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    assert "BatchNorm2d(2, eps=1e-05, momentum=None, affine=True" in repr(bn)


def test_batch_norm_gradients_by_finite_differences():
    rng = np.random.default_rng(5)

    def fn(x, w, b):
        # Parameter(w) would be a new leaf (as torch's), so the affine part is written out here;
        # the module's own weight and bias gradients are checked against torch above
        bn = md.nn.BatchNorm2d(3, affine=False)
        return bn(x) * w.reshape(1, 3, 1, 1) + b.reshape(1, 3, 1, 1)

    check_grads(fn, [randn(rng, 2, 3, 3, 2), randn(rng, 3), randn(rng, 3)], eps=1e-2, rtol=5e-3, atol=5e-3)


def test_batch_norm_errors_name_the_module_and_shape():
    bn = md.nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(N, C, H, W\), got shape \(2, 3\)"):
        bn(md.ones(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 3 channels, got input of shape \(2, 4, 1, 1\)"):
        bn(md.ones(2, 4, 1, 1))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(md.ones(1, 3, 1, 1))
    bn.eval()(md.ones(1, 3, 1, 1))  # eval normalises with the running statistics: fine


def test_batch_norm_on_an_empty_batch_is_empty_in_the_graph_as_torch():
    bn = md.nn.BatchNorm2d(3)
    with md.no_grad():
        bn.running_mean.fill_(0.5)
    x = md.zeros(0, 3, 4, 4, requires_grad=True)
    y = bn(x)
    assert y.shape == (0, 3, 4, 4) and y.requires_grad
    y.sum().backward()
    assert x.grad.shape == (0, 3, 4, 4)
    np.testing.assert_array_equal(bn.weight.grad.numpy(), np.zeros(3, np.float32))
    # the statistics keep their values; the batch is counted, as torch counts it
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.full(3, 0.5, np.float32))
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3, np.float32))
    assert int(bn.num_batches_tracked) == 1
    assert md.nn.BatchNorm1d(3)(md.zeros(0, 3)).shape == (0, 3)


def test_max_over_an_empty_batch_stays_in_the_graph():
    x = md.zeros(0, 3, 4, 4, requires_grad=True)
    for y in (md.F.max_pool2d(x, 2), md.F.max_pool2d(x, 3, stride=1, padding=1), x.max(1).values, x.amax(1)):
        assert y.numel() == 0 and y.requires_grad
        y.sum().backward()
        assert x.grad.shape == (0, 3, 4, 4)


@pytest.mark.torch_2_13
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine, bias", [(True, True), (True, False), (False, False)])
def test_batch_norm_matches_torch(momentum, affine, bias):
    torch = pytest.importorskip("torch")
    ours = md.nn.BatchNorm2d(4, eps=1e-3, momentum=momentum, affine=affine, bias=bias)
    ref = torch.nn.BatchNorm2d(4, eps=1e-3, momentum=momentum, affine=affine, bias=bias)
    assert repr(ours) == repr(ref)
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(0.5, 1.5)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    assert list(ours.state_dict()) == list(ref.state_dict())
    rng = np.random.default_rng(6)
    for step in range(3):
        x = randn(rng, 3, 4, 5, 6) * 2 + step
        xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ym, yt = ours(xm), ref(xt)
        np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        w = randn(rng, *x.shape)
        ym.backward(md.tensor(w))
        yt.backward(torch.tensor(w))
        np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    grads = dict(ref.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(grads)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
    for name, value in ref.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    assert int(ours.num_batches_tracked.item()) == 3
    ours.eval(), ref.eval()
    x = randn(rng, 2, 4, 3, 3)
    np.testing.assert_allclose(ours(md.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
