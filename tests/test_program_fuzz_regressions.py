"""Differences from torch found by tools/fuzz_programs.py (random programs run in minidiff and torch, comparing
values, gradients and exceptions), each cut down to a few lines, and a short fixed-seed run of the fuzzer on ops
known to agree, so that the fuzzer itself keeps working.

Tests marked ``xfail(strict=True)`` reproduce a difference that is a bug; each one's reason names the likely
place and what differs. Skipped when torch is not installed."""

from __future__ import annotations

import importlib.util
import math
import pathlib
import time

import numpy as np
import pytest

import minidiff as md
import minidiff.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _fuzzer():
    path = pathlib.Path(__file__).resolve().parents[1] / "tools" / "fuzz_programs.py"
    spec = importlib.util.spec_from_file_location("fuzz_programs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pair(values, requires_grad=False):
    a = np.asarray(values, dtype=np.float32)
    return md.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


# ---------------------------------------------------------------- the fuzzer itself

# ops whose calls agree with torch (no in-place ops, no ops with a known difference below)
AGREEING_OPS = [
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "where_gt", "where_pos", "atan2", "lerp", "hypot",
    "logaddexp", "same_twice", "exp", "log", "abs", "sqrt", "sin", "tanh", "sigmoid", "relu", "silu", "gelu",
    "softplus", "clamp", "square", "sum", "mean", "max", "min", "var", "std", "norm", "sum_dims", "reshape",
    "permute", "transpose", "flatten", "unsqueeze", "squeeze", "expand", "flip", "narrow", "chunk", "split", "cat",
    "stack", "int_index", "slice", "adv_index", "gather", "index_select", "bmm", "einsum", "linear", "conv2d",
    "group_norm", "layer_norm", "interpolate", "pad", "sdpa", "no_grad", "detach", "error",
]  # fmt: skip


def test_fuzzer_runs_clean_on_agreeing_ops():
    fp = _fuzzer()
    libs = fp._libs()
    t0 = time.time()
    bad = []
    for i in range(100):
        prog = fp.generate(1234, i, AGREEING_OPS)
        r = fp.check(prog, libs)
        if r is not None:
            bad.append((i, r, prog.render()))
    assert not bad, bad[0]
    assert time.time() - t0 < 20


def test_fuzzer_finds_a_planted_difference(monkeypatch):
    fp = _fuzzer()
    tanh = md.tanh
    monkeypatch.setattr(md, "tanh", lambda x: tanh(x) * 1.001)
    found = [fp.check(fp.generate(7, i, ["tanh", "add", "sum"])) for i in range(30)]
    kinds = {r[:2] for r in found if r}
    assert ("forward", "tanh") in kinds
    rec = fp.run_one(7, next(i for i, r in enumerate(found) if r and r[1] == "tanh"), ["tanh", "add", "sum"])
    assert "L.tanh" in rec["repro"] and rec["kind"] == "forward"


def test_fuzzer_compares_exceptions():
    fp = _fuzzer()
    prog = fp.Program()
    prog.arrays["A0"] = np.ones((2, 3), np.float32)
    prog.lines = ["x0 = L.tensor(A0, requires_grad=True)", "v1 = x0.reshape(7)"]
    prog.defs, prog.tags, prog.outputs = ["x0", "v1"], ["leaf", "reshape"], ["v1"]
    assert fp.check(prog) is None  # both raise on the same line
    prog.lines[1] = "v1 = x0.reshape(6)"
    assert fp.check(prog) is None


# ---------------------------------------------------------------- masks on 0-d tensors


def test_zero_d_tensor_indexed_by_a_zero_d_mask():
    m, t = pair(0.7)
    assert tuple(m[m > 0.5].shape) == tuple(t[t > 0.5].shape) == (1,)
    m[m > 0.5] = 0.0
    t[t > 0.5] = 0.0
    assert float(m) == float(t) == 0.0


# ---------------------------------------------------------------- results that alias their input


def test_roll_by_a_full_turn_is_a_copy():
    for lib in (md, torch):
        x = lib.tensor(np.array([1.0, 2.0, 3.0], np.float32)) * 1
        y = lib.roll(x, 3, 0)
        x[0] = 9.0
        assert y.tolist() == [1.0, 2.0, 3.0], lib.__name__


def test_sort_of_a_zero_d_tensor_is_a_copy():
    for lib in (md, torch):
        x = lib.tensor(np.float32(2.0)) * 1
        y = x.sort(0)[0]
        y.mul_(5)
        assert float(x) == 2.0, lib.__name__


# ---------------------------------------------------------------- results that are internally views
# Each op's minidiff result is a view of an internal tensor (a reshape, squeeze, slice or permute of it); an
# in-place change of it inside the graph once raised 'the tensor is a view inside the autograd graph'. It now goes
# through the view to its base, as torch's: values and gradients are those of the out-of-place change (where torch
# raises at backward instead, because its op saved the result it returned, minidiff's did not).

VIEW_RESULTS = {
    "softmax_dim0": lambda L, x: L.softmax(x, 0),
    "log_softmax_dim0": lambda L, x: L.log_softmax(x, 0),
    "logsumexp_dim": lambda L, x: L.logsumexp(x, 0),
    "amax_dim": lambda L, x: x.amax(0),
    "prod": lambda L, x: x.prod(),
    "repeat": lambda L, x: x.repeat(2, 1),
    "tile": lambda L, x: x.tile((2, 1)),
    "matmul_vector": lambda L, x: x[0] @ x.T,
    "topk": lambda L, x: x.topk(1, 0)[0],
    "pixel_shuffle": lambda L, x: L.nn.functional.pixel_shuffle(x.reshape(1, 4, 1, 2), 2),
    "avg_pool2d_unbatched": lambda L, x: L.nn.functional.avg_pool2d(x.reshape(1, 2, 4), 2),
}


@pytest.mark.parametrize("op", sorted(VIEW_RESULTS))
def test_inplace_change_of_an_op_result(op):
    a = np.array([[0.5, -1.0, 2.0, 0.25], [1.5, 0.75, -0.5, 3.0]], np.float32)
    xt = torch.tensor(a, requires_grad=True)
    yt = VIEW_RESULTS[op](torch, xt) * 2  # the oracle: the change made out of place
    yt.sum().backward()
    x = md.tensor(a, requires_grad=True)
    y = VIEW_RESULTS[op](md, x)
    y.mul_(2)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_view_of_a_softmax_over_dim_1():
    a = np.random.default_rng(0).standard_normal((1, 3, 4, 6)).astype(np.float32)
    assert tuple(TF.softmax(torch.tensor(a), dim=1).view(2, 12, 3).shape) == (2, 12, 3)
    assert tuple(F.softmax(md.tensor(a), dim=1).view(2, 12, 3).shape) == (2, 12, 3)


# ---------------------------------------------------------------- shape limits torch does not have


def test_tile_of_a_five_dim_tensor():
    a = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 1, 3)
    np.testing.assert_array_equal(md.tensor(a).tile((2, 1)).numpy(), torch.tensor(a).tile((2, 1)).numpy())
    np.testing.assert_array_equal(
        md.tensor(a).repeat(2, 1, 1, 2, 1).numpy(), torch.tensor(a).repeat(2, 1, 1, 2, 1).numpy()
    )


def test_adaptive_avg_pool2d_with_zero_channels():
    assert tuple(TF.adaptive_avg_pool2d(torch.zeros(0, 4, 2), (2, 1)).shape) == (0, 2, 1)
    assert tuple(F.adaptive_avg_pool2d(md.zeros(0, 4, 2), (2, 1)).shape) == (0, 2, 1)


@pytest.mark.parametrize(
    "op, shape, size",
    [("adaptive_avg_pool2d", (0, 4, 2), (2, 1)), ("adaptive_avg_pool2d", (2, 0, 4, 2), (2, 1)),
     ("adaptive_max_pool2d", (0, 4, 2), (2, 1)), ("adaptive_max_pool2d", (2, 0, 4, 2), (2, 1)),
     ("adaptive_avg_pool1d", (2, 0, 4), 2), ("adaptive_max_pool1d", (0, 4), 2), ("adaptive_max_pool1d", (2, 0, 4), 2),
     ("adaptive_avg_pool2d", (1, 2, 0, 2), (2, 1))],
)  # fmt: skip
def test_adaptive_pools_of_empty_channels_as_torch(op, shape, size):
    try:
        want = tuple(getattr(TF, op)(torch.zeros(*shape), size).shape)
    except RuntimeError:
        with pytest.raises(ValueError, match=op):
            getattr(F, op)(md.zeros(*shape), size)
        return
    assert tuple(getattr(F, op)(md.zeros(*shape), size).shape) == want


# ---------------------------------------------------------------- in-place changes and the views of a tensor
# tools/fuzz_programs.py now changes intermediates and plain tensors in place through chains of views (CopySlices).


@pytest.mark.parametrize("change", ["setitem_const", "setitem_grad", "mul_"])
def test_older_view_sees_an_in_place_change_of_its_base_in_the_graph(change):
    def run(lib):
        x = lib.tensor(np.float32(2.0), requires_grad=True)
        b = x * lib.ones(4) if change != "mul_" else lib.ones(4)
        w = b[0:2]  # taken before the change
        if change == "setitem_const":
            b[1:3] = 7.0
        elif change == "setitem_grad":
            b[1:3] = x * 3
        else:
            b.mul_(x)
        (w * lib.tensor([1.0, 10.0])).sum().backward()
        return w.detach().numpy(), x.grad.numpy()

    (mw, mg), (tw, tg) = run(md), run(torch)
    np.testing.assert_allclose(mw, tw)  # torch: [2, 7] / [2, 6] / [2, 2]; old minidiff: [2, 2] / [2, 2] / [1, 1]
    np.testing.assert_allclose(mg, tg)


def test_bool_key_reads_a_copy():
    for lib in (md, torch):
        x = lib.tensor(np.arange(3, dtype=np.float32))
        x[True].mul_(2)
        x[None, True].add_(1)
        assert x.tolist() == [0.0, 1.0, 2.0], lib.__name__


def test_copy_broadcasts_its_source():
    for lib in (md, torch):
        b = lib.zeros(2, 3)
        b.copy_(lib.tensor(1.5))
        b[1].copy_(lib.tensor([1.0, 2.0, 3.0]).reshape(1, 3)[0])
        b.copy_(lib.ones(3) * b[1])
        assert b.tolist() == [[1.0, 2.0, 3.0]] * 2, lib.__name__


def test_fill_and_zero_of_a_view_in_the_graph():
    out = []
    for lib in (md, torch):
        x = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        h = x * 2
        h.diagonal().fill_(0.5)
        h[1, 2:].zero_()
        (h * lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))).sum().backward()
        out.append((h.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1])


# ---------------------------------------------------------------- bases with live views changed in place directly
# tools/fuzz_programs.py's base_change op: views (of views, detached, retaining their gradient, hooked) of a base that
# is then changed in place, and the old views used afterwards.


@pytest.mark.parametrize("case", ["plain_base", "base_in_graph", "write_through_detached"])
def test_detached_alias_sees_an_in_place_change_in_the_graph(case):
    def run(lib):
        x = lib.tensor(np.float32(4.0), requires_grad=True)
        if case == "plain_base":
            b = lib.ones(2)
            d = b.detach()
            b.mul_(x)  # b now requires grad
        elif case == "base_in_graph":
            b = x * lib.ones(2)
            d = b.detach()
            b.add_(1)
        else:
            b = x * lib.ones(2)
            d = b.detach()
            d += x  # d now requires grad
        return b.detach().numpy().copy(), d.detach().numpy().copy()

    (mb, md_), (tb, td) = run(md), run(torch)
    np.testing.assert_allclose(mb, tb)  # plain_base: torch [4, 4] / [4, 4]; old minidiff [4, 4] / [1, 1]
    np.testing.assert_allclose(md_, td)


@pytest.mark.parametrize("case", ["slice", "repeat"])
def test_in_place_change_of_an_empty_view_in_the_graph(case):
    for lib in (md, torch):
        y = lib.tensor(np.float32(1.0), requires_grad=True)
        if case == "slice":
            v = lib.zeros(5, 0)[4:]
            v.add_(y)
        else:
            x = lib.tensor(np.zeros((1, 0), np.float32), requires_grad=True)
            v = x.repeat(2, 1)
            v.clamp_(-0.4, 0.3)
        assert tuple(v.shape) == ((1, 0) if case == "slice" else (2, 0)) and v.requires_grad, lib.__name__


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", ["self", "view_of_changed_base"])
def test_retain_grad_follows_an_in_place_change(case):
    def run(lib):
        x = lib.tensor(np.ones(3, np.float32), requires_grad=True)
        if case == "self":
            v = x * 2
            v.retain_grad()
            v[...] = lib.tensor(np.float32(1.0), requires_grad=True)
            w = lib.tensor([1.0, 2.0, 3.0])
        else:
            b = x * 2
            v = b[:2]
            v.retain_grad()
            b.mul_(3)
            w = lib.tensor([1.0, 2.0])
        (v * w).sum().backward()
        return None if v.grad is None else v.grad.numpy()

    got, want = run(md), run(torch)
    assert got is not None
    np.testing.assert_allclose(got, want)  # torch: the weights; old minidiff: zeros / None


def test_copy_keeps_the_history_of_the_overwritten_tensor():
    out = []
    for lib in (md, torch):
        x = lib.tensor(np.ones(2, np.float32), requires_grad=True)
        y = x * 2
        y.copy_(lib.tensor(1.5))
        assert y.requires_grad, lib.__name__
        y.sum().backward()
        out.append(x.grad)
    assert out[0] is not None
    np.testing.assert_allclose(out[0].numpy(), out[1].numpy())


@pytest.mark.parametrize("op", ["div", "rdiv"])
def test_partial_write_into_a_quotient(op):
    grads = []
    for lib in (md, torch):
        x = lib.tensor(np.array([1.0, -2.0, 3.0], np.float32), requires_grad=True)
        y = x / lib.tensor(np.float32(2.5), requires_grad=True) if op == "div" else 1.5 / x
        y[0] = 0.0
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5)


def test_two_bool_keys():
    for lib in (md, torch):
        x = lib.ones(2)
        assert tuple(x[True, ..., False].shape) == (0, 2), lib.__name__


@pytest.mark.parametrize("dilation", [3, 1])
def test_conv_transpose2d_with_an_empty_output(dilation):
    for lib in (md, torch):
        x, w = lib.ones(2, 1, 2, 2, requires_grad=True), lib.ones(1, 1, 1, 1, requires_grad=True)
        y = lib.nn.functional.conv_transpose2d(x, w, None, stride=2, padding=2, output_padding=1, dilation=dilation)
        assert tuple(y.shape) == (2, 1, 0, 0), lib.__name__
        y.sum().backward()
        assert x.grad.abs().sum().item() == w.grad.abs().sum().item() == 0.0


def test_old_views_and_hooks_through_an_in_place_change_of_the_base():
    """What agrees already: a hooked view of a base changed in place, autograd.Function on an old view, and
    autograd.grad through the change (pinned so that it stays so)."""
    fp = _fuzzer()
    out = []
    for lib in (md, torch):
        ns = fp._namespace(lib)
        x = lib.tensor(np.array([1.0, -2.0, 0.5], np.float32), requires_grad=True)
        y = lib.tensor(np.float32(0.5), requires_grad=True)
        b = x * 2
        w = b[:2]
        w.register_hook(lambda g: g * 10)
        u = b[1:][None]
        b.mul_(y)
        c = ns["Cube"].apply(u) + ns["Scale"].apply(w, 3.0).sum()
        loss = (c * lib.tensor([[1.0, 2.0]])).sum() + (w * lib.tensor([0.5, -1.0])).sum()
        out.append([g.numpy() for g in lib.autograd.grad(loss, [x, y])] + [w.detach().numpy(), u.detach().numpy()])
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def _in_place_after(lib, op):
    x = lib.tensor(np.array([[0.5, 1.0], [2.0, -1.0]], np.float32), requires_grad=True)
    y = x * 2
    i = lib.tensor(np.array([0]))
    if op == "index_put_":
        y.index_put_((i,), lib.tensor(-0.25))
    elif op == "put_":
        y.put_(i, lib.tensor([5.0]))
    elif op == "index_fill_":
        y.index_fill_(0, i, 1.0)
    else:
        y.scatter_(0, lib.tensor(np.array([[0, 1]])), lib.ones(1, 2))
    y.mul_(2)  # old minidiff: "the tensor is a view ('view') inside the autograd graph whose base is not ..."
    (y * lib.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    return y.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("op", ["index_put_", "put_", "index_fill_", "scatter_"])
def test_in_place_op_after_an_indexed_write(op):
    got, want = _in_place_after(md, op), _in_place_after(torch, op)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b)


def test_copy_from_a_source_that_requires_grad_keeps_the_overwritten_history():
    out = []
    for lib in (md, torch):
        x = lib.tensor(np.ones(3, np.float32), requires_grad=True)
        s = lib.tensor(np.float32(2.0), requires_grad=True)
        y = x * 2
        y.copy_(s * 3)
        (y * lib.tensor([1.0, 2.0, 3.0])).sum().backward()
        out.append((x.grad, s.grad))
    assert out[0][0] is not None  # old minidiff: None
    np.testing.assert_allclose(out[0][0].numpy(), out[1][0].numpy())
    np.testing.assert_allclose(out[0][1].numpy(), out[1][1].numpy())


@pytest.mark.parametrize("view", ["expand", "unsqueeze_expand"])
def test_expanded_view_of_a_base_changed_in_place(view):
    grads = []
    for lib in (md, torch):
        x = lib.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
        b = x * 1
        e = b.expand(2, 3) if view == "expand" else b[None].expand(2, 3)
        b.mul_(2)
        (e * lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1])


# ------------------------------------------------------ fuzz round 5 (seed 3): fixed (the last two later)


def test_retain_grad_then_in_place_multiply_gives_the_new_values_gradient():
    def run(lib):
        x = lib.tensor(np.array([4.0, 0.5], np.float32), requires_grad=True)
        v = x * 1
        v.retain_grad()
        v *= 3
        (v * 2).sum().backward()
        return v.grad.numpy(), x.grad.numpy()

    (mv, mx), (tv, tx) = run(md), run(torch)
    np.testing.assert_allclose(mx, tx)
    np.testing.assert_allclose(mv, tv)  # torch [2, 2]; old minidiff [8, 8] (the old value's gradient added)


@pytest.mark.parametrize("op", ["repeat", "tile"])
def test_repeat_by_ones_is_a_copy(op):
    x = md.tensor(np.array([0.5, 1.0], np.float32))
    r = getattr(x, op)(1)
    r.mul_(3)
    np.testing.assert_allclose(x.numpy(), [0.5, 1.0])  # old minidiff: [1.5, 3]


def test_amax_of_a_0d_tensor_is_a_new_tensor():
    x = md.tensor(np.float32(0.5))
    r = x.amax()
    r.add_(1)
    assert float(x) == 0.5  # old minidiff: 1.5


def test_prod_of_a_0d_tensor_is_not_a_view():
    # it once returned a view of an internal result, which detach_() refused
    p = md.tensor(np.float32(0.5), requires_grad=True).prod()
    p.detach_()
    assert not p.requires_grad


def test_empty_setitem_from_a_value_that_requires_grad():
    # a write that selects nothing is still recorded, as torch's index_put_ (it once recorded no history)
    e = md.tensor(np.zeros((1, 0), np.float32), requires_grad=True)
    w = md.zeros(1, 1, 0)
    w[[0]] = e
    assert w.requires_grad
    (w * 1).sum().backward()
    assert e.grad is not None and tuple(e.grad.shape) == (1, 0)


# ------------------------------------------------------ fuzz seed 21: fixed


def test_unfold_of_a_strided_view_is_a_view_that_sees_its_base_change():
    # unfold once copied an input that was not contiguous (and any overlapping windows) when autograd recorded it
    out = []
    for lib in (md, torch):
        x = lib.tensor(np.arange(32, dtype=np.float32).reshape(4, 4, 2), requires_grad=True)
        base = x * 1
        windows = base[..., -1:].view(2, 2, 4).unfold(-2, 2, 1)
        base.unsqueeze(2).add_(lib.tensor(np.float32(100.0)))
        (windows * lib.tensor(np.arange(16, dtype=np.float32).reshape(2, 1, 4, 2))).sum().backward()
        assert windows._is_view()
        out.append((windows.detach().numpy(), x.grad.numpy()))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_in_place_change_through_an_unfold_of_a_leaf_raises():
    for lib in (md, torch):
        x = lib.tensor(np.ones((1, 1, 4), np.float32), requires_grad=True)
        v = x.permute(0, 2, 1).unfold(1, 3, 1).unsqueeze(3)[0:4]
        with pytest.raises(RuntimeError, match="leaf"):
            v.copy_(lib.tensor(2.0))


def test_detach_in_place_refuses_views_outside_the_graph_too():
    for lib in (md, torch):
        x = lib.tensor(np.ones((1, 1), np.float32))
        v = x[..., 0:3]
        with pytest.raises(RuntimeError, match="(?i)detach views in-place"):
            v.detach_()


def test_a_leaf_detached_in_place_after_use_gets_no_gradient():
    for lib in (md, torch):
        x = lib.tensor(np.ones((2, 1), np.float32), requires_grad=True)
        v = x[1:]
        x.detach_()
        (v * 3).sum().backward()
        assert x.grad is None and not x.requires_grad, lib.__name__


def test_an_in_place_op_reads_a_stale_views_requires_grad_after_refreshing_it():
    # the view's base took a value that requires grad through [...] = ; `ones *= view` once missed it
    for lib in (md, torch):
        base = lib.zeros(5)
        view = base.narrow(0, 0, 1)
        x = lib.tensor(np.array([2.0], np.float32), requires_grad=True)
        base[...] = x
        y = lib.ones(3)
        y *= view
        assert y.requires_grad, lib.__name__
        y.sum().backward()
        assert float(x.grad[0]) == 3.0


def test_empty_writes_through_expanded_views_and_into_leaves():
    for lib in (md, torch):
        e = lib.zeros(0)[None].expand(2, 0)
        e.fill_(0.5)  # an empty expanded view repeats nothing
        e[...] = lib.zeros(2, 0)
        leaf = lib.tensor(np.zeros((1, 0), np.float32), requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            leaf[leaf < 0] *= 2  # selects nothing, but is still an in-place change of a leaf
        with pytest.raises(RuntimeError, match="leaf"):
            leaf[lib.tensor(np.array([0]))] = -0.25


def test_copy_into_an_empty_tensor_with_views_refreshes_them():
    for lib in (md, torch):
        t = lib.full((2, 1, 0), 0.5)
        v = t[:, ::2]
        x = lib.tensor(np.zeros((1, 1, 0), np.float32), requires_grad=True)
        t.copy_(x.expand_as(t))
        assert v.requires_grad, lib.__name__


def test_is_view_and_base():
    for lib in (md, torch):
        x = lib.tensor(np.ones((2, 3), np.float32))
        assert not x._is_view() and x._base is None
        v = x.t()[1:]
        assert v._is_view() and v.t()._is_view()
        assert v._base is not None and tuple(v._base.shape) == (2, 3)  # the root tensor, never a view
        assert not (x * 2)._is_view()


# ------------------------------------------------------ fuzz seeds 40-45: fixed


def test_ellipsis_index_and_a_squeeze_that_drops_nothing_are_new_views():
    # they returned the tensor itself, so a hook or retain_grad on "the view" landed on the original
    for lib in (md, torch):
        for take in (lambda v: v[...], lambda v: v.squeeze(), lambda v: v[()]):
            x = lib.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
            v = x * 2
            a = take(v)
            assert a._is_view()
            a.register_hook(lambda g: g * 0)  # a is not used below
            (v * 3).sum().backward()
            assert x.grad.tolist() == [6.0, 6.0, 6.0], lib.__name__


def test_in_place_index_writes_leave_no_view_for_detach_():
    for lib in (md, torch):
        x = lib.tensor(np.ones((2, 3), np.float32), requires_grad=True)
        v = x * 2
        v.index_put_((lib.tensor(np.array([1])),), lib.tensor(np.float32(0.5), requires_grad=True))
        assert not v._is_view()
        v.detach_()


def test_a_scalar_divided_by_a_tensor_keeps_its_reciprocal_not_the_tensor():
    for lib in (md, torch):
        x = lib.tensor(np.array([0.5, 2.0], np.float32), requires_grad=True)
        v = x * 1
        w = 1.5 / v
        r = v.reciprocal()
        v[v > 1] = 0.0  # an in-place change of v after the forward: the backward does not read v
        (w.sum() + r.sum()).backward()
        np.testing.assert_allclose(x.grad.numpy(), [-10.0, -0.625])


def test_dilated_conv_and_topk_results_are_contiguous():
    r = np.random.default_rng(0)
    x, w = r.standard_normal((1, 2, 4, 5)).astype(np.float32), r.standard_normal((2, 2, 3, 3)).astype(np.float32)
    for lib in (md, torch):
        y = lib.nn.functional.conv2d(lib.tensor(x), lib.tensor(w), padding=1, dilation=2)
        t = lib.tensor(x[0, 0]).topk(2)[0]
        assert y.is_contiguous() and t.is_contiguous(), lib.__name__
        y.view(-1), t.view(-1)


def test_writes_that_select_nothing_are_still_recorded():
    for lib in (md, torch):
        leaf = lib.tensor(np.float32(0.5), requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            leaf[leaf < 0] = 0.0  # a 0-d False mask
        v = lib.tensor(np.float32(0.5))
        v[v < 0] = lib.tensor(np.float32(2.0), requires_grad=True)
        assert v.requires_grad, lib.__name__
        e = lib.ones((2, 0))
        e.index_put_((lib.tensor(np.array([1])),), lib.tensor(np.float32(2.0), requires_grad=True))
        assert e.requires_grad, lib.__name__


def test_a_view_of_a_base_detached_in_place_has_no_path_back():
    for lib in (md, torch):
        x = lib.tensor(np.array([2.0], np.float32), requires_grad=True)
        b = x * 1
        v = b[:]
        b.clamp_(max=0.3)  # inside the graph: b and v take the clamped value
        b.detach_()
        (v * 1).sum().backward()
        assert v.tolist() == pytest.approx([0.3]) and x.grad is None, lib.__name__


def test_padding_by_nothing_is_a_new_tensor():
    for lib in (md, torch):
        for mode in ("replicate", "reflect", "circular"):
            x = lib.tensor(np.array([[[1.0, 2.0, 3.0]]], np.float32))
            y = lib.nn.functional.pad(x, (0, 0), mode=mode)
            y[..., 0] = 9.0
            assert x.tolist() == [[[1.0, 2.0, 3.0]]], (lib.__name__, mode)


def test_index_and_mask_writes_into_an_overlapping_view_write_only_the_selected_elements():
    # an unselected element sharing a slot with a selected one was written back with its old value
    for lib in (md, torch):
        a = lib.tensor(np.arange(5, dtype=np.float32))
        a.unfold(0, 2, 1)[lib.tensor(np.array([2, 1, 0]))] = -1.0
        assert a.tolist() == [-1.0, -1.0, -1.0, -1.0, 4.0], lib.__name__
        c = lib.tensor(np.arange(5, dtype=np.float32))
        v = c.unfold(0, 2, 1)
        v[v > 2.5] = 7.0
        assert c.tolist() == [0.0, 1.0, 2.0, 7.0, 7.0], lib.__name__
        b = lib.tensor(np.arange(6, dtype=np.float32))
        b.unfold(0, 3, 1)[lib.tensor(np.array([3, 0]))] = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
        assert b.tolist() == [3.0, 4.0, 5.0, 0.0, 1.0, 2.0], lib.__name__


# ------------------------------------------------------ fuzz seeds 46-53: fixed


def test_t_of_a_vector_is_a_new_view():
    # t() of a 0-d or 1-d tensor returned the tensor itself: retain_grad on "the view" took the other use's gradient
    for lib in (md, torch):
        x = lib.tensor(np.array([1.0], np.float32), requires_grad=True)
        a = x.clone()
        b = a.t()
        b.retain_grad()
        loss = (b * 2).sum() + (a * 3).sum()
        assert lib.autograd.grad(loss, [x, b])[1].tolist() == [2.0], lib.__name__


def test_softmax_over_a_dim_next_to_size_one_dims_is_no_view():
    for lib in (md, torch):
        y = lib.softmax(lib.tensor(np.array([[0.3], [0.7]], np.float32), requires_grad=True), 0)
        assert not y._is_view()
        y.detach_()


def test_reshape_of_a_layout_that_cannot_be_viewed_is_a_new_tensor():
    for lib in (md, torch):
        x = lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
        y = (x * 1).t().reshape(6)
        assert not y._is_view() and y.tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
        (y * lib.tensor(np.arange(6, dtype=np.float32))).sum().backward()
        assert x.grad.tolist() == [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]
        y.detach_()


def test_in_place_add_into_an_empty_expanded_view():
    for lib in (md, torch):
        base = lib.zeros(0, 3).expand(2, 0, 3)
        x = lib.zeros(2, 0, 3, requires_grad=True)
        base.add_(x)
        (g,) = lib.autograd.grad(base.sum(), [x])
        assert tuple(g.shape) == (2, 0, 3), lib.__name__


def test_attention_gradient_is_exactly_zero_where_the_softmax_is_one_hot():
    # dS = P (dP - rowsum(dO * O)) left rounding noise times |q| (2e-5 .. 50 with large logits)
    r = np.random.default_rng(0)
    q = (r.standard_normal((1, 4, 8)) * 3000).astype(np.float32)
    k, v = (r.standard_normal((1, 1, 8)) * 10).astype(np.float32), r.standard_normal((1, 1, 8)).astype(np.float32)
    qm, km = md.tensor(q, requires_grad=True), md.tensor(k, requires_grad=True)
    out = F.scaled_dot_product_attention(qm, km, md.tensor(v), scale=0.5)
    (out * md.tensor(r.standard_normal((1, 4, 8)).astype(np.float32))).sum().backward()
    assert float(qm.grad.abs().max()) == 0.0 and float(km.grad.abs().max()) == 0.0


# ------------------------------------------------------ fuzz seeds 70-73 (new ops): fixed


def test_geometry_change_in_place_outside_the_graph_keeps_the_gradient_right():
    # under no_grad the tensor kept the history of its old shape: wrong gradients, or a read out of bounds
    for lib in (md, torch):
        x = lib.tensor(np.array([[1.0], [2.0]], np.float32), requires_grad=True)
        v = x[..., ::2]
        with lib.no_grad():
            v.swapdims_(0, 1)
        (v * lib.tensor(np.array([[1.0, 10.0]], np.float32))).sum().backward()
        assert x.grad.tolist() == [[1.0], [10.0]], lib.__name__
    # a non-view with a history takes the transpose's (torch's backward raises "invalid gradient" here)
    x = md.tensor(np.array([[1.0], [2.0]], np.float32), requires_grad=True)
    y = x * 1
    with md.no_grad():
        y.t_()
    (y * md.tensor(np.array([[1.0, 10.0]], np.float32))).sum().backward()
    assert x.grad.tolist() == [[1.0], [10.0]]


def test_detach_of_a_detach_sees_the_base_change_after_the_middle_alias_is_gone():
    for lib in (md, torch):
        base = lib.full((2, 2), 0.5)
        a1 = base.detach()
        a2 = a1.detach()
        del a1
        base.copy_(lib.tensor(np.array([[1.0]], np.float32), requires_grad=True))
        assert a2.tolist() == [[1.0, 1.0], [1.0, 1.0]], lib.__name__


def test_function_gradient_checked_against_the_inputs_shape_at_the_forward():
    for lib in (md, torch):
        x = lib.tensor(np.array([[[-1.0]]], np.float32), requires_grad=True)
        s = x @ x.mT + lib.eye(1)
        c = lib.linalg.cholesky(s)
        s.squeeze_(1)  # after the op: its backward still expects the (1, 1, 1) it saw
        (c * 2).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), [[[-1.4142135]]], rtol=1e-5, err_msg=lib.__name__)


def test_linalg_solve_with_a_vector_is_a_new_tensor():
    a = np.array([[2.0, 0.5], [0.5, 3.0]], np.float32)
    for lib in (md, torch):
        x = lib.linalg.solve(lib.tensor(a), lib.tensor(np.array([1.0, 2.0], np.float32)))
        assert not x._is_view()
        x.detach_()


@pytest.mark.parametrize("make", ["unfold", "as_strided", "slice"])
def test_a_stale_overlapping_view_takes_a_history_that_adds_its_windows(make):
    # seed 90 #226: after b[2] = ... in the graph, a view taken before refreshes its history through the new
    # base; unfold's windows read row 1 twice, so its gradient there is 2 (it was 1: copied, not added up)
    grads = []
    for lib in (md, torch):
        x = lib.tensor(np.arange(12, dtype=np.float32).reshape(4, 3), requires_grad=True)
        b = x * 1
        view = {
            "unfold": lambda b=b: b.unfold(0, 3, 1),
            "as_strided": lambda b=b: b.as_strided((2, 3, 3), (3, 1, 3)),
            "slice": lambda b=b: b[1:],
        }[make]()
        b[2] = lib.tensor([7.0, 8.0, 9.0])
        (view * lib.tensor(np.arange(1, view.numel() + 1, dtype=np.float32).reshape(view.shape))).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_an_in_place_change_in_the_graph_keeps_the_tensors_layout():
    # seed 95 #1238: x.t_() then x *= w (w requires grad): x took the result's contiguous memory, so its
    # strides changed and as_strided read other elements than torch's
    outs = []
    for lib in (md, torch):
        x = lib.tensor(np.arange(30, dtype=np.float32).reshape(2, 15))
        x.t_()
        w = lib.tensor(np.arange(15, dtype=np.float32).reshape(15, 1) + 1, requires_grad=True)
        x *= w
        view = x.as_strided((2, 1, 2), (3, 1, 3), 16)
        (view * 1).sum().backward()
        outs.append((x.stride(), view.detach().numpy().tolist(), w.grad.numpy().tolist()))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("how", ["mul", "setitem_int", "setitem_index"])
def test_an_in_place_change_in_the_graph_of_a_strided_alias_reaches_its_base(how):
    # seed 96 #883: a non-dense detach() of a view, changed in place inside the graph, took new memory, so
    # the tensor it aliases missed the change
    outs = []
    for lib in (md, torch):
        base = lib.ones((2, 4))
        alias = base[1:, ..., ::2].t().detach()
        w = lib.tensor(np.array([0.5], np.float32), requires_grad=True)
        if how == "mul":
            alias.mul_(w)
        elif how == "setitem_int":
            alias[0] = w
        else:
            alias[lib.tensor(np.array([1, 0]))] = w
        (alias * lib.tensor(np.array([[1.0], [2.0]], np.float32))).sum().backward()
        outs.append((base.numpy().tolist(), w.grad.numpy().tolist()))
    assert outs[0] == outs[1]


def test_roll_by_a_whole_turn_is_contiguous():
    # seed 99 #124: roll of a transposed tensor by its whole size kept the transposed strides (a clone), so
    # view() refused what torch's contiguous result allows
    outs = []
    for lib in (md, torch):
        v = lib.roll(lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)).permute(1, 0), -3, -2)
        outs.append((v.stride(), v.view(2, 3).tolist()))
    assert outs[0] == outs[1]


# ------------------------------------------------------ fuzz seed 101


@pytest.mark.parametrize("key", [2, slice(2, None)])
def test_an_index_write_inside_the_graph_into_an_expanded_view_writes_the_region(key):
    # seed 101 #284: v2 = v1.expand(3, 2); v2[2:] = 0.5 with v1 requiring grad
    outs = []
    for lib in (md, torch):
        x = lib.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
        w = lib.tensor(np.array([3.0, 4.0], np.float32), requires_grad=True)
        b = x * 1
        e = b.expand(3, 2)
        e[key] = w
        (e * lib.tensor(np.arange(6, dtype=np.float32).reshape(3, 2))).sum().backward()
        outs.append((b.tolist(), x.grad.tolist(), w.grad.tolist()))
    assert outs[0] == outs[1] == ([3.0, 4.0], [0.0, 0.0], [6.0, 9.0])


def test_fuzzer_compares_gradients_where_torch_refuses_a_changed_saved_tensor():
    # seed 101 #670: minidiff's composed (dilated) conv1d saves its own copy of the input, so its gradient is
    # right after the input changes in place; torch's backward refuses. The fuzzer then compares the gradients
    # with torch's where each op saves a copy.
    fp = _fuzzer()
    prog = fp.Program()
    prog.arrays["A0"] = np.array([1.0, 0.5, 3.0, -1.0, 2.0], np.float32).reshape(1, 1, 5)
    prog.arrays["A1"] = np.array([-3.0, 2.0], np.float32).reshape(1, 1, 2)
    prog.lines = [
        "x0 = L.tensor(A0)",
        "x1 = L.tensor(A1, requires_grad=True)",
        "v2 = F.conv1d(x0, x1, None, padding=1, dilation=2)",
        "x0[x0 > 0.3] = 0.0; v3 = x0",
    ]
    prog.defs, prog.tags, prog.outputs = ["x0", "x1", "v2", "v3"], ["leaf", "leaf", "conv1d", "setitem_mask"], ["v2"]
    assert fp.check(prog) is None
    om, ot = fp.execute(prog, "md"), fp.execute(prog, "torch")
    assert om.raised is None and "modified by an inplace" in ot.raised[3]


# ------------------------------------------------------ fuzz seed 102


@pytest.mark.parametrize("how", ["view", "plain", "view_no_grad", "plain_no_grad"])
def test_a_functions_saved_tensor_changed_in_place_raises(how):
    # seed 102 #679: Cube.apply(v8), v8 a view of v5, then v5.mul_(...): the gradient used the new values
    class Square(md.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2 * x

    x = md.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    b = x * 1
    y = Square.apply(b[:] if how.startswith("view") else b)
    if how.endswith("no_grad"):
        with md.no_grad():
            b.mul_(3)
    else:
        b.mul_(md.tensor(np.array([3.0, 3.0], np.float32), requires_grad=True))
    with pytest.raises(RuntimeError, match="modified by an inplace"):  # as torch's, in all four cases
        y.sum().backward()


# ------------------------------------------------------ fuzz seeds 103-104


@pytest.mark.parametrize("ord", [1, -1, math.inf, -math.inf])
def test_matrix_norm_of_abs_sums_is_not_a_view(ord):
    # seed 104 #531: matrix_norm(x, -1) was a reshape (a view) of an internal result, which detach_() refused
    for lib in (md, torch):
        x = lib.tensor(np.array([[0.5, -2.0], [1.0, 3.0]], np.float32), requires_grad=True)
        r = lib.linalg.matrix_norm(x, ord)
        assert not r._is_view(), lib.__name__
        r.detach_()
        assert not r.requires_grad


def test_fuzzer_passes_torchs_pixel_shuffle_backward_of_an_empty_tensor():
    # seed 103 #943: torch's PixelShuffleBackward0 returns a 0-element gradient unshuffled, and its engine
    # refuses the shape; minidiff's empty gradient is right
    fp = _fuzzer()
    prog = fp.Program()
    prog.arrays["A0"] = np.zeros((0, 12, 1, 1), np.float32)
    prog.lines = ["x0 = L.tensor(A0, requires_grad=True)", "v1 = F.pixel_shuffle(x0, 2)"]
    prog.defs, prog.tags, prog.outputs = ["x0", "v1"], ["leaf", "pixel_shuffle"], ["v1"]
    assert "invalid gradient" in fp.execute(prog, "torch").raised[3]
    assert fp.check(prog) is None


def test_a_view_of_a_detached_view_takes_the_history_of_an_in_place_change():
    # seed 109 #1136: x[::2].detach() changed in place from a value that requires grad; an older view of it
    # must take the new history (README: views take the new history when next used), as with x.detach()
    for lib in (md, torch):
        x = lib.tensor(np.array([0.5, -1.0, 2.0], np.float32), requires_grad=True)
        d = x[::2].detach()
        w = d[:1]
        y = lib.tensor(np.float32(-4.0), requires_grad=True)
        d.copy_(y.expand_as(d))
        (w * 2).sum().backward()
        assert y.grad is not None and float(y.grad) == 2.0, lib.__name__


# ------------------------------------------------------ fuzz seeds 111-


def test_an_in_place_change_in_the_graph_of_a_view_of_a_strided_detach():
    # seed 111 #386: x[::2].detach()[-1:].div_(y) with y requiring grad raised ("does not lay out its elements
    # densely"); torch writes through and gives the detached tensor the history
    outs = []
    for lib in (md, torch):
        x = lib.tensor(np.array([1.0, 0.5, 0.5], np.float32), requires_grad=True)
        d = x[::2].detach()
        y = lib.tensor(np.array([2.0], np.float32), requires_grad=True)
        d[-1:].div_(y)
        (d * lib.tensor(np.array([1.0, 3.0], np.float32))).sum().backward()
        outs.append((x.detach().numpy().tolist(), d.detach().numpy().tolist(), y.grad.numpy().tolist()))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("mode", ["backward", "grad"])
def test_retain_grad_then_detach_in_place_still_gets_the_gradient(mode):
    # seed 111 #642: v.retain_grad(), used, then v.detach_(): torch's v.grad is the gradient, minidiff's None
    outs = []
    for lib in (md, torch):
        x = lib.tensor(np.array([3.0, 2.0], np.float32), requires_grad=True)
        v = x * 0.5
        v.retain_grad()
        loss = (v + 1).sum()
        v.detach_()
        if mode == "backward":
            loss.backward()
        else:
            lib.autograd.grad(loss, [x])
        outs.append(None if v.grad is None else v.grad.numpy().tolist())
    assert outs[0] == outs[1] == [1.0, 1.0]


def test_fuzzer_copies_torchs_shared_leaf_gradients_between_passes():
    # seed 113 #835: torch's AccumulateGrad kept stack's unbound (expanded) gradient, so x0.grad and x3.grad shared
    # memory and the 2nd pass of an "accum" program added into both; minidiff's gradients are right
    fp = _fuzzer()
    prog = fp.Program()
    prog.arrays["A0"] = np.array([[1.0], [2.0]], np.float32)
    prog.arrays["A1"] = np.array([[3.0], [4.0]], np.float32)
    prog.lines = [
        "x0 = L.tensor(A0, requires_grad=True)",
        "x1 = L.tensor(A1, requires_grad=True)",
        "v2 = L.stack([x0, x1], dim=0).sum((-1, 0), keepdim=True)",
    ]
    prog.defs, prog.tags, prog.outputs, prog.mode = ["x0", "x1", "v2"], ["leaf", "leaf", "stack"], ["v2"], "accum"
    assert fp.check(prog) is None


# ------------------------------------------------------ fuzz seeds 121-140


def test_reading_requires_grad_of_a_stale_view_keeps_its_retained_gradient():
    # seed 124 #983: v.retain_grad(), v's base changed in place through another view, then v.requires_grad read:
    # minidiff's read took v's fresh history and moved the retained gradient there, off the graph (None); torch's
    # requires_grad looks at the base without a new grad_fn, so v keeps the old value's gradient
    outs = []
    for lib in (md, torch):
        x = lib.tensor(np.array([[2.0]], np.float32), requires_grad=True)
        b = (x * 1).clone()
        d = b.diagonal(0, 0, 1)
        v = b.unsqueeze(-2)
        v.retain_grad()
        s = v.sum() + b.sum()
        d.copy_(s)
        assert v.requires_grad
        (d * 3).sum().backward()
        outs.append((None if v.grad is None else v.grad.tolist(), x.grad.tolist()))
    assert outs[0] == outs[1] == ([[[3.0]]], [[6.0]])


def test_a_stale_view_of_a_base_detached_in_place_does_not_require_grad():
    # seed 125 #758 (and 129 #712): v a view of b taken before b.div_(x) put b in the graph, v.requires_grad read,
    # then b.detach_(): v requires grad no longer (torch's: its base does not), minidiff's read gave it a history
    outs = []
    for lib in (md, torch):
        x = lib.tensor(np.array([2.0], np.float32), requires_grad=True)
        b = x.detach().clone()
        v = b.unsqueeze(-2)
        b.div_(x)
        first = v.requires_grad
        b.detach_()
        outs.append((first, v.requires_grad, (v * 2).requires_grad))
    assert outs[0] == outs[1] == (True, False, False)


@pytest.mark.parametrize("shape, dims", [((1,), ()), ((2, 3), (0, 0)), ((2, 3), (1, -1)), ((2, 1, 3), (-2, 1))])
def test_flatten_of_a_single_dim_is_the_tensor_itself(shape, dims):
    # seeds 128 #1077, 138 #1025: x.flatten() of a 1-d leaf (or flatten(d, d)) is x itself in torch (a leaf, no
    # grad_fn, detach_() allowed: seed 135 #1353); minidiff's was a new view
    for lib in (md, torch):
        x = lib.tensor(np.ones(shape, np.float32), requires_grad=True)
        y = x.flatten(*dims)
        assert y is x and y.is_leaf and y.grad_fn is None, lib.__name__
    z = md.tensor(np.ones((2, 3), np.float32)).flatten(0, 1)
    assert z.shape == (6,) and z._is_view()


@pytest.mark.parametrize("bounds", ["min", "max", "both"])
def test_clamp_by_tensor_bounds_gives_torchs_nan_and_gradients(bounds):
    # seed 130 #406: L.clamp(v, min=v.detach() * 0 - 0.5) with v infinite: torch's is NaN (inf * 0 in the bound),
    # minidiff's kept v; also torch's gradients at a NaN and where min == max (nowhere)
    nan = float("nan")
    x = np.array([0.0, 1.0, 2.0, nan, 1.0, 1.0, 3.0, 0.0, 1.0, np.inf], np.float32)
    lo = np.array([1.0, 1.0, 1.0, 0.0, nan, 2.0, 2.0, 1.0, 0.0, nan], np.float32)
    hi = np.array([1.0, 1.0, 1.0, 5.0, 5.0, 1.0, 1.0, nan, 1.0, 5.0], np.float32)
    outs = []
    for lib in (md, torch):
        t, a, b = (lib.tensor(v, requires_grad=True) for v in (x, lo, hi))
        y = lib.clamp(t, min=a if bounds != "max" else None, max=b if bounds != "min" else None)
        y.backward(lib.tensor(np.arange(1.0, 11.0, dtype=np.float32)))
        grads = [None if g is None else g.detach().numpy().tolist() for g in (t.grad, a.grad, b.grad)]
        outs.append((y.detach().numpy().tolist(), grads))
    np.testing.assert_equal(outs[0], outs[1])


def test_grad_with_respect_to_a_stale_view_and_backward_of_one_use_its_fresh_history():
    # seeds 135 #779, 136 #215, 140 #351: autograd.grad's input, and backward's root, a view whose base changed in
    # place through another view: torch takes the view's new grad_fn; minidiff's engine took the old one (its
    # requires_grad read used to refresh it first)
    outs = []
    for lib in (md, torch):
        x = lib.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
        y = lib.tensor(np.array([3.0], np.float32), requires_grad=True)
        b = x * 1
        v = b[None]
        v[0, 0:1].mul_(y)
        loss = (b * lib.tensor(np.array([1.0, 5.0], np.float32))).sum()
        g = lib.autograd.grad(loss, [x, v, y], allow_unused=True)
        out = [None if t is None else t.tolist() for t in g]
        b = x * 1
        v = b[None]
        b[0:1].mul_(y)
        v.backward(lib.tensor(np.array([[1.0, 5.0]], np.float32)))
        outs.append((out, x.grad.tolist(), y.grad.tolist()))
    assert outs[0] == outs[1] == ([[3.0, 5.0], None, [1.0]], [3.0, 5.0], [1.0])


def test_fuzzer_passes_torchs_leaf_gradient_of_the_shape_before_a_geometry_change():
    # seed 129 #259: x used, then x.unsqueeze_(-2) under no_grad (through its alias x.contiguous()): torch's
    # backward gives x (shape [1, 1]) a .grad of shape [1]; minidiff refuses the gradient that does not fit
    fp = _fuzzer()
    prog = fp.Program()
    prog.arrays["A0"] = np.array([-2.0], np.float32)
    prog.lines = [
        "x0 = L.tensor(A0, requires_grad=True)",
        "v1 = x0.contiguous()",
        "v2 = x0.unsqueeze(-2).sort(-2)[0]",
        "with L.no_grad(): v1.unsqueeze_(-2); v3 = v1",
    ]
    prog.defs, prog.tags, prog.outputs = ["x0", "v1", "v2", "v3"], ["leaf", "contiguous", "sort", "unsqueeze_"], ["v2"]
    assert fp.check(prog) is None


def test_fuzzer_keeps_a_refused_clone_of_a_stale_split_view_as_the_last_line():
    # seed 126 #38: op_base_change's clone of a split view torch refused (kept as the program's last line) was then
    # looked up in the namespace (KeyError)
    prog = _fuzzer().generate(126, 38)
    assert prog.lines


@pytest.mark.parametrize("method", ["swapdims_", "t_", "unsqueeze_"])
def test_a_saved_tensor_of_a_function_changed_by_a_geometry_method_is_refused(method):
    # seed 141 #1242: v7.swapdims_(1, -3) after L.linalg.solve(v7, b): torch's version counter counts the change
    # and its backward refuses; minidiff's Function handed backward the swapped tensor (wrong gradients)
    args = {"swapdims_": (0, 1), "t_": (), "unsqueeze_": (0,)}[method]
    a = np.array([[4.0, 1.0], [2.0, 5.0]], np.float32)
    for lib in (md, torch):
        x = lib.tensor(a, requires_grad=True)
        m = x * 1
        y = lib.linalg.solve(m, lib.tensor(np.ones((2, 1), np.float32)))
        getattr(m, method)(*args)
        with pytest.raises(RuntimeError, match="modified by an inplace"):
            y.sum().backward()


@pytest.mark.parametrize("dim", [1, 12])  # the small-head path and the GEMM one
def test_attention_gradients_keep_their_digits_where_one_score_dominates(dim):
    # seed 150 #631: scores 24, 12, 6 in a row: P recomputed in the backward as exp(s - lse) took lse's float32
    # rounding as an error of 1 - P, and the key's gradient was off by 5e-5 (torch float32's: 7e-6)
    q = np.zeros((1, 3, dim), np.float32)
    k = np.zeros((1, 4, dim), np.float32)
    q[0, :, 0], k[0, :, 0] = [24.0, 10.5, 0.5], [1.0, 0.5, 2.0, 1.0]
    v = np.array([[0.5, 1, -2], [0.5, 0.5, -3], [-2, -1, -2], [-1, 2, 1]], np.float32)[None]
    g = np.random.default_rng(1011).standard_normal((1, 3, 3)).astype(np.float32)
    grads = []
    for lib, dtype in ((md, np.float32), (torch, np.float64)):
        ts = [lib.tensor(a.astype(dtype), requires_grad=True) for a in (q, k, v)]
        out = lib.nn.functional.scaled_dot_product_attention(*ts, scale=0.5)
        out.backward(lib.tensor(g.astype(dtype)))
        grads.append([t.grad.numpy() for t in ts])
    for got, want in zip(*grads):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("loss, kw", [("smooth_l1_loss", {"beta": 1.0}), ("huber_loss", {"delta": 2.0})])
def test_smooth_l1_and_huber_gradients_at_an_infinite_difference(loss, kw):
    # seed 151 #148: smooth_l1_loss(inf, target): torch's gradient is sign(d); minidiff's was NaN (the square
    # branch's 0 * inf); a NaN difference still gives NaN
    x = np.array([np.inf, -np.inf, 0.3, -3.0, np.nan], np.float32)
    y = np.array([0.5, 0.5, 0.1, 1.0, 0.0], np.float32)
    outs = []
    for lib in (md, torch):
        a, b = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        getattr(lib.nn.functional, loss)(a, b, reduction="sum", **kw).backward()
        outs.append((a.grad.numpy().tolist(), b.grad.numpy().tolist()))
    np.testing.assert_equal(outs[0], outs[1])


def test_fuzzer_judges_floats_made_from_integers_in_float64():
    # seed 148 #808: L.tensor(np.arange(5)) / 2 was float32 in the float64 run, and layer_norm with float64 weights
    # raised there, so a float32 rounding difference had no judge; the float64 run makes floats float64 by default
    fp = _fuzzer()
    prog = fp.Program()
    prog.arrays["A0"] = np.array([1.0, 2.0, 0.5, -1.0, 2.0], np.float32)
    prog.lines = [
        "x0 = L.tensor(A0, requires_grad=True)",
        "v1 = L.tensor(np.arange(5, dtype=np.int64) - 2) / 2 + x0.sum()",
        "v2 = F.layer_norm(v1, (5,), x0, x0)",
    ]
    prog.defs, prog.tags, prog.outputs = ["x0", "v1", "v2"], ["leaf", "int_div", "layer_norm"], ["v2"]
    o64 = fp.execute(prog, "torch64")
    assert o64.raised is None and set(o64.grads) == {"x0"}
    assert torch.get_default_dtype() == torch.float32


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_an_ignored_target_gives_a_zero_loss_whatever_its_input(loss, reduction):
    # seed 161 #446: cross_entropy(reduction="none") of an ignored target was -0.0 (-logp * 0), and atan2 of it -pi
    # where torch's gives pi; a NaN or inf input of an ignored target made the loss NaN (torch's: 0)
    a = np.array([[np.nan, 1.0], [0.5, 2.0], [0.0, np.inf], [0.25, -1.0]], np.float32)
    t = np.array([-100, 1, -100, -100])
    outs = []
    for lib in (md, torch):
        y = getattr(lib.nn.functional, loss)(lib.tensor(a), lib.tensor(t), reduction=reduction)
        outs.append(np.arctan2(y.numpy(), -1.0).tolist())
    np.testing.assert_equal(outs[0], outs[1])


@pytest.mark.parametrize(
    "a",
    [[[np.nan, 1.0], [2.0, 1.0]], [[np.inf, 1.0], [2.0, 1.0]], [[[np.inf, 0.0], [0.0, 1.0]], [[1.0, 2.0], [3.0, 4.0]]]],
)
def test_det_gradient_of_a_matrix_with_a_nan_or_inf(a):
    # seed 172 #475: linalg.det of a NaN matrix that requires grad raised LinAlgError (the SVD of the gradient's
    # cofactors did not converge); torch's gives NaN, and det(A) inv(A)^T for an infinite entry
    a = np.asarray(a, np.float32)
    outs = []
    for lib in (md, torch):
        x = lib.tensor(a, requires_grad=True)
        d = lib.linalg.det(x)
        d.sum().backward()
        outs.append((d.detach().numpy().tolist(), x.grad.numpy().tolist()))
    np.testing.assert_equal(outs[0], outs[1])


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_of_a_stale_view_keeps_the_gradient_it_retains(op):
    # seed 175 #1421: argmax of a view whose base changed in place refreshed the view's history (it took the max
    # in the graph), so the gradient it retained went to the newest history; torch's argmax records nothing
    grads = []
    for lib in (md, torch):
        x = lib.tensor(np.array([-3.0], np.float32), requires_grad=True)
        base = x * lib.ones(4)
        view = base[None]
        view.retain_grad()
        base.sub_(1.5)
        total = view.sum()
        base.mul_(2)
        getattr(view, op)(0)
        total.backward()
        grads.append(None if view.grad is None else view.grad.numpy().tolist())
    assert grads[0] == grads[1] == [[1.0, 1.0, 1.0, 1.0]]
