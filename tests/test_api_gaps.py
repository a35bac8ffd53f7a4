"""Gaps between minidiff's Python API and torch's, closed: softmax/log_softmax/softmin without dim
(torch's implicit choice and warning), the losses' deprecated size_average/reduce slots, the conv
modules' reprs, lists of bools as index masks, and DataLoader batches that keep the graph to a
TensorDataset's tensors. Each is checked against torch where it is installed and against NumPy
or written-out values where it is not."""

from __future__ import annotations

import copy
import inspect
import warnings

import numpy as np
import pytest

import minidiff as md
import minidiff.utils.data as ud

F = md.F
RNG = np.random.default_rng(0)


def randn(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def caught_warnings(fn):
    """(fn's result, the warnings it raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, caught


def call(fn, *args):
    """(fn(*args), the warnings it raised)."""
    return caught_warnings(lambda: fn(*args))


def parameters(fn) -> list[tuple[str, object]]:
    """A signature's names and defaults (annotations differ between torch's and ours)."""
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]


# ---- 1. softmax, log_softmax, softmin without dim

IMPLICIT = "Implicit dimension choice for {} has been deprecated. Change the call to include dim=X as an argument."
SHAPES = [(), (5,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]


def implicit_dim(ndim: int) -> int:
    return 0 if ndim in (0, 1, 3) else 1


@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_without_dim_takes_torchs_implicit_dim_and_warns_at_the_callers_line(shape):
    x = randn(*shape)
    dim = implicit_dim(len(shape))
    for name, want in (
        ("softmax", np_softmax(x, dim)),
        ("log_softmax", np.log(np_softmax(x, dim))),
        ("softmin", np_softmax(-x, dim)),
    ):
        got, caught = caught_warnings(lambda name=name: getattr(F, name)(md.tensor(x)))
        assert [(w.category, str(w.message)) for w in caught] == [(UserWarning, IMPLICIT.format(name))]
        assert caught[0].filename == __file__  # _stacklevel=3: the line that called the op
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
        # an explicit dim gives the same result and no warning
        explicit, caught = caught_warnings(lambda name=name: getattr(F, name)(md.tensor(x), dim))
        assert caught == []
        np.testing.assert_array_equal(explicit.numpy(), got.numpy())


def test_softmax_stacklevel_and_dtype_as_torchs():
    x = md.tensor(randn(2, 3))
    # _stacklevel=2 names the op's own frame (in minidiff), as torch's names its functional.py
    for name, file in (("softmax", "functional.py"), ("log_softmax", "functional.py"), ("softmin", "_activations.py")):
        _, caught = caught_warnings(lambda name=name: getattr(F, name)(x, None, 2))
        assert len(caught) == 1 and caught[0].filename.endswith(file), caught[0].filename
        # dtype, positional after _stacklevel as in torch, casts the input first
        cast, caught = caught_warnings(lambda name=name: getattr(F, name)(x, 1, 3, "float32"))
        assert caught == [] and cast.dtype == "float32"
        np.testing.assert_array_equal(cast.numpy(), getattr(F, name)(x, dim=1).numpy())
    with pytest.raises(TypeError, match="softmax: input must be an md tensor"):
        F.softmax(np.ones(3))


def test_softmax_module_without_dim_warns_at_the_line_that_calls_it():
    x = randn(2, 3, 4, 5)
    module = md.nn.Softmax()
    got, caught = caught_warnings(lambda: module(md.tensor(x)))
    assert [(w.category, str(w.message)) for w in caught] == [(UserWarning, IMPLICIT.format("softmax"))]
    assert caught[0].filename == __file__
    np.testing.assert_allclose(got.numpy(), np_softmax(x, 1), rtol=1e-5, atol=1e-6)
    assert repr(md.nn.Softmax(dim=None)) == "Softmax(dim=None)"
    _, caught = caught_warnings(lambda: md.nn.Softmax(dim=-1)(md.tensor(x)))
    assert caught == []
    # Softmin and LogSoftmax too, also inside a container
    for module, op in ((md.nn.Softmin(), "softmin"), (md.nn.Sequential(md.nn.LogSoftmax()), "log_softmax")):
        _, caught = caught_warnings(lambda m=module: m(md.tensor(x)))
        assert [str(w.message) for w in caught] == [IMPLICIT.format(op)]
        assert caught[0].filename == __file__


def test_softmax_without_dim_matches_torch():
    torch = pytest.importorskip("torch")
    for name in ("softmax", "log_softmax", "softmin"):
        assert parameters(getattr(F, name)) == parameters(getattr(torch.nn.functional, name))
    for shape in SHAPES:
        x = randn(*shape)
        g = randn(*shape)
        for name in ("softmax", "log_softmax", "softmin"):
            xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            ym, caught_md = caught_warnings(lambda name=name, xm=xm: getattr(F, name)(xm))
            yt, caught_torch = caught_warnings(lambda name=name, xt=xt: getattr(torch.nn.functional, name)(xt))
            assert [(w.category, str(w.message)) for w in caught_md] == [
                (w.category, str(w.message)) for w in caught_torch
            ]
            ym.backward(md.tensor(g))
            yt.backward(torch.tensor(g))
            np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
        ours, caught_md = caught_warnings(lambda x=x: md.nn.Softmax(dim=None)(md.tensor(x)))
        theirs, caught_torch = caught_warnings(lambda x=x: torch.nn.Softmax(dim=None)(torch.tensor(x)))
        assert [str(w.message) for w in caught_md] == [str(w.message) for w in caught_torch]
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    assert repr(md.nn.Softmax()) == repr(torch.nn.Softmax())


# ---- 2. the losses' deprecated size_average / reduce

LEGACY = [  # (size_average, reduce) -> the reduction torch maps them to
    ((None, None), None),
    ((True, None), "mean"),
    ((None, True), "mean"),
    ((False, None), "sum"),
    ((False, True), "sum"),
    ((None, False), "none"),
    ((True, False), "none"),
]


def deprecation(reduction: str) -> str:
    return f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead."


def test_losses_take_size_average_and_reduce_in_torchs_positions():
    a, b = randn(3, 4), randn(3, 4)
    d = a - b
    sums = {"mse_loss": (d * d).sum(), "l1_loss": np.abs(d).sum()}
    for name, total in sums.items():
        fn = getattr(F, name)
        # the fifth positional argument is the reduction, as in torch, and None/None warns of nothing
        got, caught = caught_warnings(lambda fn=fn: fn(md.tensor(a), md.tensor(b), None, None, "sum"))
        assert caught == []
        assert got.item() == pytest.approx(float(total), rel=1e-6)
        for (size_average, reduce), reduction in LEGACY[1:]:
            got, caught = caught_warnings(lambda fn=fn, s=size_average, r=reduce: fn(md.tensor(a), md.tensor(b), s, r))
            assert [(w.category, str(w.message)) for w in caught] == [(UserWarning, deprecation(reduction))]
            assert caught[0].filename == __file__
            want = {"mean": total / d.size, "sum": total, "none": None}[reduction]
            if want is None:
                assert got.shape == (3, 4)
                np.testing.assert_allclose(got.numpy().sum(), total, rtol=1e-5)
            else:
                assert got.item() == pytest.approx(float(want), rel=1e-6)
        # a reduction in the size_average slot (minidiff's old signature) is an error, not a silent mean
        with pytest.raises(TypeError, match=f"{name}: size_average .* got 'sum'"):
            fn(md.tensor(a), md.tensor(b), "sum")
    x, t = md.tensor(randn(4, 3)), md.tensor([0, 2, 1, 2], dtype="int64")
    # cross_entropy: weight, size_average, ignore_index, reduce, reduction, as torch's
    per_sample = F.cross_entropy(x, t, None, None, 2, None, "none")
    assert per_sample.numpy()[[1, 3]].tolist() == [0.0, 0.0]  # ignore_index=2
    total, caught = caught_warnings(lambda: F.cross_entropy(x, t, None, False, 2))
    assert [str(w.message) for w in caught] == [deprecation("sum")]
    assert total.item() == pytest.approx(float(per_sample.numpy().sum()), rel=1e-6)
    half = F.smooth_l1_loss(md.tensor(a), md.tensor(b), None, None, "sum", 0.5).item()
    ad = np.abs(d)
    assert half == pytest.approx(float(np.where(ad < 0.5, d * d, ad - 0.25).sum()), rel=1e-5)


def test_l1_and_mse_weights_divide_the_mean_by_the_summed_weights():
    a, b, w = randn(2, 5), randn(2, 5), np.abs(randn(2, 5)) + 0.1
    d = a - b
    for name, loss in (("mse_loss", d * d), ("l1_loss", np.abs(d))):
        fn = getattr(F, name)
        args = (md.tensor(a), md.tensor(b))
        np.testing.assert_allclose(fn(*args, weight=md.tensor(w)).item(), (loss * w).sum() / w.sum(), rtol=1e-5)
        np.testing.assert_allclose(fn(*args, reduction="sum", weight=md.tensor(w)).item(), (loss * w).sum(), rtol=1e-5)
        np.testing.assert_allclose(fn(*args, reduction="none", weight=md.tensor(w)).numpy(), loss * w, rtol=1e-5)
        with pytest.raises(ValueError, match=rf"{name}: weight of shape \(5,\) differs from input of shape \(2, 5\)"):
            fn(*args, weight=md.ones(5))


def test_loss_modules_take_size_average_and_reduce_in_torchs_positions():
    a, b = md.tensor(randn(3, 4)), md.tensor(randn(3, 4))
    assert md.nn.MSELoss(None, None, "sum").reduction == "sum"
    module, caught = caught_warnings(lambda: md.nn.L1Loss(size_average=False))
    assert module.reduction == "sum" and [str(w.message) for w in caught] == [deprecation("sum")]
    assert caught[0].filename == __file__  # the line that built the module
    np.testing.assert_array_equal(module(a, b).numpy(), F.l1_loss(a, b, reduction="sum").numpy())
    with pytest.warns(UserWarning, match=r"^size_average and reduce args will be deprecated"):
        smooth = md.nn.SmoothL1Loss(None, False, "mean", 0.5)
    assert (smooth.reduction, smooth.beta) == ("none", 0.5)
    assert md.nn.HuberLoss("sum", 0.3).reduction == "sum"
    criterion = md.nn.CrossEntropyLoss(None, None, 1, None, "none")
    assert (criterion.ignore_index, criterion.reduction) == (1, "none")
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of"):
        md.nn.MSELoss(reduction="avg")


def test_losses_match_torch_signatures_values_gradients_and_warnings():
    torch = pytest.importorskip("torch")
    for name in ("l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss", "cross_entropy"):
        assert parameters(getattr(F, name)) == parameters(getattr(torch.nn.functional, name)), name
    for name in ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss"):
        assert parameters(getattr(md.nn, name).__init__) == parameters(getattr(torch.nn, name).__init__), name
    a, b = randn(3, 5), randn(3, 5)
    logits, target = randn(3, 5), np.array([4, 0, 2], np.int64)
    cases = {
        "l1_loss": (a, b),
        "mse_loss": (a, b),
        "smooth_l1_loss": (a, b),
        "cross_entropy": (logits, target),
    }
    for name, (x, y) in cases.items():
        for (size_average, reduce), _ in LEGACY:
            xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
            ym = md.tensor(y) if y.dtype != np.int64 else md.tensor(y, dtype="int64")
            yt = torch.tensor(y)
            if name == "cross_entropy":  # weight, size_average, ignore_index, reduce: positional, as torch's
                ours, w_md = call(F.cross_entropy, xm, ym, None, size_average, 0, reduce)
                theirs, w_torch = call(torch.nn.functional.cross_entropy, xt, yt, None, size_average, 0, reduce)
            else:
                ours, w_md = call(getattr(F, name), xm, ym, size_average, reduce)
                theirs, w_torch = call(getattr(torch.nn.functional, name), xt, yt, size_average, reduce)
            assert [(w.category, str(w.message)) for w in w_md] == [(w.category, str(w.message)) for w in w_torch]
            g = randn(*theirs.shape)
            ours.backward(md.tensor(g))
            theirs.backward(torch.tensor(g))
            np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    w = np.abs(randn(3, 5)) + 0.1
    for name in ("l1_loss", "mse_loss"):
        for reduction in ("mean", "sum", "none"):
            xm, xt = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
            ours = getattr(F, name)(xm, md.tensor(b), None, None, reduction, md.tensor(w))
            theirs = getattr(torch.nn.functional, name)(xt, torch.tensor(b), None, None, reduction, torch.tensor(w))
            ours.sum().backward()
            theirs.sum().backward()
            np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    for make in (lambda nn: nn.MSELoss(False), lambda nn: nn.CrossEntropyLoss(None, None, -100, False)):
        ours, w_md = caught_warnings(lambda make=make: make(md.nn))
        theirs, w_torch = caught_warnings(lambda make=make: make(torch.nn))
        assert ours.reduction == theirs.reduction
        assert [str(w.message) for w in w_md] == [str(w.message) for w in w_torch]


# ---- 3. the conv modules' reprs

CONV2D = [
    {"padding": "same"},
    {"padding": "valid"},
    {"padding": 1},
    {"padding": (1, 2)},
    {"padding": [1, 1]},
    {"padding": 0},
    {"padding": (0, 0), "stride": 2},
    {"padding": "same", "padding_mode": "circular"},
    {"padding": 2, "padding_mode": "reflect"},
    {"padding": 1, "padding_mode": "replicate", "bias": False},
    {"padding": "same", "bias": False, "dilation": 1, "groups": 1},
    {"bias": False},
    {"stride": (2, 1), "padding": (0, 1)},
]


def test_conv_reprs_as_torch_prints_them_written_out():
    assert repr(md.nn.Conv2d(4, 8, 3, padding="same")) == (
        "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), padding=same)"
    )
    assert repr(md.nn.Conv2d(4, 8, 3, padding="valid", bias=False)) == (
        "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), padding=valid, bias=False)"
    )
    assert repr(md.nn.Conv2d(4, 8, 3)) == "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(md.nn.Conv2d(4, 8, 3, 1, "same", padding_mode="reflect")) == (
        "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), padding=same, padding_mode=reflect)"
    )
    assert repr(md.nn.ConvTranspose2d(4, 8, 3)) == "ConvTranspose2d(4, 8, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(md.nn.ConvTranspose2d(4, 8, 3, 2, 1, 1, bias=False)) == (
        "ConvTranspose2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1), bias=False)"
    )
    assert repr(md.nn.Conv1d(4, 8, 3, padding="same")) == "Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=same)"
    assert repr(md.nn.Conv1d(4, 8, 3, bias=False)) == "Conv1d(4, 8, kernel_size=(3,), stride=(1,), bias=False)"
    # "same" survives deepcopy and nesting; the padding attribute stays the pair the layer uses
    conv = md.nn.Conv2d(2, 2, 5, padding="same")
    assert conv.padding == (2, 2)
    assert repr(copy.deepcopy(conv)) == repr(conv)
    assert "  (0): Conv2d(2, 2, kernel_size=(5, 5), stride=(1, 1), padding=same)" in repr(md.nn.Sequential(conv))


def test_conv_reprs_match_torch():
    torch = pytest.importorskip("torch")
    for kwargs in CONV2D:
        assert repr(md.nn.Conv2d(4, 8, 3, **kwargs)) == repr(torch.nn.Conv2d(4, 8, 3, **kwargs)), kwargs
        assert repr(md.nn.Conv2d(in_channels=4, out_channels=8, kernel_size=(3, 1), **kwargs)) == repr(
            torch.nn.Conv2d(in_channels=4, out_channels=8, kernel_size=(3, 1), **kwargs)
        ), kwargs
    for kwargs in ({"padding": "same"}, {"padding": "valid"}, {"padding": 1}, {"padding": (2,)}, {"bias": False}):
        for mode in ("zeros", "reflect"):
            args = {**kwargs, "padding_mode": mode}
            assert repr(md.nn.Conv1d(4, 8, 3, **args)) == repr(torch.nn.Conv1d(4, 8, 3, **args)), args
    for kwargs in (
        {},
        {"padding": 1},
        {"stride": 2, "padding": 1, "output_padding": 1},
        {"bias": False},
        {"stride": (2, 1), "output_padding": (1, 0), "dilation": 1, "groups": 1},
    ):
        assert repr(md.nn.ConvTranspose2d(4, 8, 3, **kwargs)) == repr(torch.nn.ConvTranspose2d(4, 8, 3, **kwargs))
    ours = md.nn.Sequential(md.nn.Conv2d(3, 4, 3, padding="same"), md.nn.ConvTranspose2d(4, 2, 2, stride=2))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding="same"), torch.nn.ConvTranspose2d(4, 2, 2, stride=2))
    assert repr(ours) == repr(theirs)


# ---- 4. lists of bools as masks

READS = [
    [True, False, True],
    [False, False, False],
    [np.True_, False, True],
    (slice(None), [True, False]),
    (Ellipsis, [False, True]),
    (None, [True, False, True]),
    ([True, False, True], [0, 1]),
    ([True, False, True], [True, False]),
    (0, [True, False]),
    (slice(1, None), [True, True]),
]


@pytest.mark.parametrize("key", READS, ids=repr)
def test_bool_list_reads_as_numpy_reads_them_with_gradients(key):
    x = randn(3, 2)
    t = md.tensor(x, requires_grad=True)
    got = t[key]
    want = x[key]  # NumPy reads a list of bools as a mask too
    assert tuple(got.shape) == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    g = randn(*want.shape)
    got.backward(md.tensor(g))
    expected = np.zeros_like(x)
    np.add.at(expected, key, g)
    np.testing.assert_array_equal(t.grad.numpy(), expected)


def test_bool_list_writes_and_errors():
    t = md.tensor(np.arange(6, dtype=np.float32).reshape(3, 2))
    t[[True, False, True]] = md.tensor([9.0, 8.0])
    assert t.numpy().tolist() == [[9.0, 8.0], [2.0, 3.0], [9.0, 8.0]]
    t[:, [False, True]] = 7.0
    assert t.numpy().tolist() == [[9.0, 7.0], [2.0, 7.0], [9.0, 7.0]]
    t[[False, True, False]] = -1.0
    assert t.numpy().tolist() == [[9.0, 7.0], [-1.0, -1.0], [9.0, 7.0]]
    # a list mixing bools and ints holds integers (True is 1), as torch reads it
    assert t[[True, 0]].numpy().tolist() == [[-1.0, -1.0], [9.0, 7.0]]
    with pytest.raises(IndexError, match="mask of shape"):
        t[[True, False]]
    with pytest.raises(IndexError, match="mask of length 3 does not match dim 1"):
        t[:, [True, False, True]]
    with md.no_grad():
        w = md.zeros(3, requires_grad=True)
        w[[True, False, True]] = 1.0
    assert w.numpy().tolist() == [1.0, 0.0, 1.0]


def test_bool_lists_match_torch():
    torch = pytest.importorskip("torch")
    x = randn(3, 2)
    for key in READS:
        tm, tt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ours, theirs = tm[key], tt[key]
        np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
        g = randn(*theirs.shape)
        ours.backward(md.tensor(g))
        theirs.backward(torch.tensor(g))
        np.testing.assert_array_equal(tm.grad.numpy(), tt.grad.numpy())
    for key, value in (
        ([True, False, True], [9.0, 8.0]),
        ((slice(None), [False, True]), 7.0),
        ([False, True, True], [[1.0, 2.0], [3.0, 4.0]]),
        ((Ellipsis, [True, False]), [[5.0], [6.0], [7.0]]),
    ):
        ours, theirs = md.tensor(x), torch.tensor(x)
        ours[key] = md.tensor(value) if isinstance(value, list) else value
        theirs[key] = torch.tensor(value) if isinstance(value, list) else value
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ---- 5. DataLoader batches that keep the graph


def epoch_loss(batches) -> md.Tensor:
    """A loss that depends on how the rows are grouped and on the batch's position."""
    total = None
    for b, (rows, _) in enumerate(batches):
        term = (rows.sum(0) ** 2).sum() * float(b + 1) + (rows**3).sum()
        total = term if total is None else total + term
    return total


def epoch_grad_numpy(x: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    grad = np.zeros_like(x)
    for b, idx in enumerate(groups):
        grad[idx] += 2.0 * (b + 1) * x[idx].sum(0) + 3.0 * x[idx] ** 2
    return grad


@pytest.mark.parametrize("shuffle", [False, True])
def test_tensor_dataset_batches_keep_the_graph(shuffle):
    x = randn(7, 3)
    labels = md.tensor(np.arange(7))
    source = md.tensor(x, requires_grad=True)
    dataset = ud.TensorDataset(source, labels)
    loader = ud.DataLoader(dataset, batch_size=3, shuffle=shuffle, generator=md.Generator().manual_seed(4))
    batches = list(loader)
    groups = [b[1].numpy().tolist() for b in batches]
    assert [len(g) for g in groups] == [3, 3, 1]
    assert sorted(sum(groups, [])) == list(range(7))
    assert all(b[0].requires_grad and b[1].dtype == "int64" for b in batches)
    epoch_loss(batches).backward()
    np.testing.assert_allclose(source.grad.numpy(), epoch_grad_numpy(x, groups), rtol=1e-5, atol=1e-5)
    # the order is the one the prefetch path gives for the same generator (detached batches there)
    plain = ud.DataLoader(
        ud.TensorDataset(md.tensor(x), labels), batch_size=3, shuffle=shuffle, generator=md.Generator().manual_seed(4)
    )
    plain_batches = list(plain)
    assert [b[1].numpy().tolist() for b in plain_batches] == groups
    assert not any(b[0].requires_grad for b in plain_batches)
    for ours, theirs in zip(batches, plain_batches):
        np.testing.assert_array_equal(ours[0].numpy(), theirs[0].numpy())
    if shuffle:
        assert groups != [[0, 1, 2], [3, 4, 5], [6]]


def test_graph_batches_resume_read_current_values_and_use_the_fast_path_otherwise():
    source = md.tensor(randn(6, 2), requires_grad=True)
    loader = ud.DataLoader(ud.TensorDataset(source), batch_size=2)
    it = iter(loader)
    first = next(it)[0]
    state = loader.state_dict()
    assert state["position"] == 1
    with md.no_grad():
        source.mul_(2.0)  # read when asked for, as torch's: the next batch sees the new values
    second = next(it)[0]
    np.testing.assert_array_equal(second.numpy(), source.detach().numpy()[2:4])
    np.testing.assert_array_equal(first.numpy() * 2.0, source.detach().numpy()[:2])
    resumed = ud.DataLoader(ud.TensorDataset(source), batch_size=2)
    resumed.load_state_dict(state)
    assert [b[0].numpy().tolist() for b in resumed] == [source.detach().numpy()[k : k + 2].tolist() for k in (2, 4)]
    # a tensor dataset itself, and subsets and concatenations of tensor datasets
    assert next(iter(ud.DataLoader(source, batch_size=4))).requires_grad
    assert next(iter(ud.DataLoader(ud.Subset(ud.TensorDataset(source), [5, 0]), batch_size=2)))[0].requires_grad
    with pytest.raises(ValueError, match="random_flip"):
        iter(ud.DataLoader(ud.TensorDataset(source), batch_size=2, random_flip=True))
    # without grad the prefetch thread makes the batches, as before
    assert type(iter(ud.DataLoader(ud.TensorDataset(source.detach()), batch_size=2))).__name__ == "_LoaderIterator"
    # default_collate stacks tensors that require grad with md ops too
    rows = [source[0], source[3]]
    stacked = ud.default_collate([(r, i) for i, r in enumerate(rows)])
    assert stacked[0].requires_grad and stacked[1].numpy().tolist() == [0, 1]


def test_tensor_dataset_gradients_match_torch():
    torch = pytest.importorskip("torch")
    x = randn(7, 3)
    for shuffle in (False, True):
        ours_source = md.tensor(x, requires_grad=True)
        ours = ud.DataLoader(
            ud.TensorDataset(ours_source, md.tensor(np.arange(7))),
            batch_size=3,
            shuffle=shuffle,
            generator=md.Generator().manual_seed(1),
        )
        batches = list(ours)
        epoch_loss(batches).backward()
        theirs_source = torch.tensor(x, requires_grad=True)
        dataset = torch.utils.data.TensorDataset(theirs_source, torch.arange(7))
        if not shuffle:
            theirs = list(torch.utils.data.DataLoader(dataset, batch_size=3))
            assert [b[1].tolist() for b in theirs] == [b[1].numpy().tolist() for b in batches]
        else:  # the shuffled order is minidiff's: replay it through torch's default_collate
            collate = torch.utils.data.default_collate
            theirs = [collate([dataset[i] for i in b[1].numpy().tolist()]) for b in batches]
        for a, b in zip(batches, theirs):
            np.testing.assert_array_equal(a[0].numpy(), b[0].detach().numpy())
        epoch_loss(theirs).backward()
        np.testing.assert_allclose(ours_source.grad.numpy(), theirs_source.grad.numpy(), rtol=1e-5, atol=1e-5)
    # torch's own shuffled loader (its generator, its order): a loss summed over rows has one gradient
    ours_source, theirs_source = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for b in ud.DataLoader(ud.TensorDataset(ours_source), batch_size=2, shuffle=True, generator=md.Generator()):
        (b[0] ** 3).sum().backward()
    generator = torch.Generator().manual_seed(0)
    dataset = torch.utils.data.TensorDataset(theirs_source)
    for b in torch.utils.data.DataLoader(dataset, batch_size=2, shuffle=True, generator=generator):
        (b[0] ** 3).sum().backward()
    np.testing.assert_allclose(ours_source.grad.numpy(), theirs_source.grad.numpy(), rtol=1e-5, atol=1e-5)
