"""The names of minidiff/tensor_more.py against PyTorch (values and gradients, several shapes,
broadcasting, empty tensors, NaN and inf) and, where torch is absent, NumPy and finite
differences: named arithmetic, elementwise math, masks, products, shapes, order statistics,
NaN-ignoring reductions, cdist, histc and the in-place Tensor variants."""

# compare() calls its functions at once, so the loop variables in them are the current ones
# ruff: noqa: B023

import math

import numpy as np
import pytest
from gradcheck import check_grads

import minidiff as md

SPECIALS = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 1e30, -1e-30, np.inf, -np.inf, np.nan], dtype=np.float32)


def rng(seed=0):
    return np.random.default_rng(seed)


def randn(*shape, seed=0):
    return np.asarray(rng(seed).standard_normal(shape), dtype=np.float32)


def _as_list(out):
    return list(out) if isinstance(out, tuple) else [out]


def _assert_close(got, want, rtol, atol, what):
    assert tuple(got.shape) == tuple(want.shape), f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    g = got.numpy() if isinstance(got, md.Tensor) else got
    w = want.detach().numpy(force=True)  # force: torch's gradient may be a ZeroTensor
    if w.dtype == bool:  # bool results are bool, as torch's
        assert g.dtype == np.bool_, f"{what}: a mask must be bool, got {g.dtype}"
    if w.dtype == np.int64:
        assert g.dtype == np.int64, f"{what}: expected int64, got {g.dtype}"
    np.testing.assert_allclose(g, w.astype(g.dtype), rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def compare(md_fn, torch_fn, arrays, *, grad=True, rtol=1e-5, atol=1e-6, grad_rtol=1e-4, grad_atol=1e-5, seed=1):
    """Runs md_fn and torch_fn on the same arrays; checks every output, then the gradients of
    sum(w * first output) for every float input."""
    torch = pytest.importorskip("torch")
    arrays = [np.asarray(a) if isinstance(a, np.generic) else a for a in arrays]  # 0-d arithmetic gives scalars
    floats = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays]
    mts = [md.tensor(a, requires_grad=grad and f) if isinstance(a, np.ndarray) else a for a, f in zip(arrays, floats)]
    tts = [
        torch.tensor(a, requires_grad=grad and f) if isinstance(a, np.ndarray) else a for a, f in zip(arrays, floats)
    ]
    outs, touts = _as_list(md_fn(*mts)), _as_list(torch_fn(*tts))
    assert len(outs) == len(touts)
    for i, (o, t) in enumerate(zip(outs, touts)):
        _assert_close(o, t, rtol, atol, f"output {i}")
    if not grad or not any(floats) or not touts[0].requires_grad:
        return outs
    w = rng(seed).standard_normal(tuple(touts[0].shape)).astype(np.float32)
    (touts[0] * torch.tensor(w)).sum().backward()
    assert outs[0].requires_grad
    (outs[0] * md.tensor(w)).sum().backward()
    for i, (m, t) in enumerate(zip(mts, tts)):
        if not floats[i]:
            continue
        want = t.grad if t.grad is not None else torch.zeros_like(t)
        got = m.grad if m.grad is not None else md.zeros(m.shape)
        _assert_close(got, want, grad_rtol, grad_atol, f"gradient of input {i}")
    return outs


# ---- named arithmetic

BINARY_SHAPES = [((3, 4), (3, 4)), ((2, 1, 3), (4, 1)), ((5,), ()), ((0, 3), (3,)), ((), ())]


@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
@pytest.mark.parametrize(
    "name,kwargs",
    [("add", {}), ("add", {"alpha": 2.5}), ("sub", {"alpha": -0.5}), ("subtract", {}), ("mul", {}),
     ("multiply", {}), ("div", {}), ("divide", {}), ("true_divide", {}), ("atan2", {}), ("arctan2", {}),
     ("hypot", {}), ("logaddexp", {}), ("logaddexp2", {}), ("copysign", {}), ("xlogy", {})],
)  # fmt: skip
def test_binary_ops_match_torch(name, kwargs, sa, sb):
    torch = pytest.importorskip("torch")
    a, b = randn(*sa, seed=2) * 3, randn(*sb, seed=3) * 3
    if name == "xlogy":
        b = np.abs(b) + 0.1
    compare(lambda x, y: getattr(md, name)(x, y, **kwargs), lambda x, y: getattr(torch, name)(x, y, **kwargs), [a, b])
    if name in ("add", "sub", "mul", "div"):  # the methods (already native) agree too
        compare(lambda x, y: getattr(x, name)(y, **kwargs), lambda x, y: getattr(x, name)(y, **kwargs), [a, b])
    else:
        compare(lambda x, y: getattr(x, name)(y, **kwargs), lambda x, y: getattr(x, name)(y, **kwargs), [a, b])


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_div_rounding_modes(mode):
    torch = pytest.importorskip("torch")
    a, b = randn(4, 5, seed=4) * 10, randn(5, seed=5) * 3
    compare(lambda x, y: md.div(x, y, rounding_mode=mode), lambda x, y: torch.div(x, y, rounding_mode=mode), [a, b])
    compare(lambda x: md.divide(x, 0.75, rounding_mode=mode), lambda x: torch.divide(x, 0.75, rounding_mode=mode), [a])
    ia, ib = np.array([-7, -1, 0, 5, 9, 8]), np.array([3, -3, 2, -2, 4, -3])
    compare(lambda x, y: md.div(x, y, rounding_mode=mode), lambda x, y: torch.div(x, y, rounding_mode=mode), [ia, ib])
    with pytest.raises(ValueError, match="rounding_mode"):
        md.div(md.tensor(a), 2.0, rounding_mode="round")


def test_div_rounding_without_torch():
    a = np.array([-7.5, -1.0, 0.5, 5.0, 9.9], np.float32)
    np.testing.assert_array_equal(md.div(md.tensor(a), 2.0, rounding_mode="trunc").numpy(), np.trunc(a / 2))
    np.testing.assert_array_equal(md.div(md.tensor(a), 2.0, rounding_mode="floor").numpy(), np.floor(a / 2))
    q = md.div(md.tensor(np.array([-7, 7])), md.tensor(np.array([2, 2])), rounding_mode="trunc")
    assert q.dtype == "int64" and q.tolist() == [-3, 3]
    np.testing.assert_allclose(md.add(md.tensor(a), 1.0, alpha=3).numpy(), a + 3, rtol=1e-6)
    np.testing.assert_allclose(md.sub(2.0, md.tensor(a)).numpy(), 2 - a, rtol=1e-6)


@pytest.mark.parametrize("name", ["atan2", "hypot", "logaddexp", "logaddexp2", "copysign", "xlogy"])
def test_binary_ops_at_special_values(name):
    torch = pytest.importorskip("torch")
    a, b = np.meshgrid(SPECIALS, SPECIALS, indexing="ij")
    a, b = a.astype(np.float32), b.astype(np.float32)
    got = getattr(md, name)(md.tensor(a), md.tensor(b)).numpy()
    want = getattr(torch, name)(torch.tensor(a), torch.tensor(b)).numpy()
    # torch's logaddexp2 is 1 ulp off at ties (its log1p), hence the atol
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=3e-8, equal_nan=True)
    if name in ("atan2", "copysign"):  # the signs of the zeros too
        zero = want == 0
        np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]))


def test_elementwise_math_without_torch():
    a, b = randn(3, 4, seed=6), randn(3, 4, seed=7)
    np.testing.assert_allclose(md.atan2(md.tensor(a), md.tensor(b)).numpy(), np.arctan2(a, b), rtol=1e-6, atol=1e-7)
    big = np.array([3e38, 1e-30, 0.0], np.float32)
    with np.errstate(over="ignore"):  # hypot(3e38, 3e38) is inf in float32: no overflow inside
        np.testing.assert_allclose(md.hypot(md.tensor(big), md.tensor(big)).numpy(), np.hypot(big, big), rtol=1e-6)
    np.testing.assert_allclose(md.logaddexp(md.tensor(a * 100), md.tensor(b * 100)).numpy(),
                               np.logaddexp(a * 100.0, b * 100.0), rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(
        md.logaddexp2(md.tensor(a), md.tensor(b)).numpy(), np.logaddexp2(a, b), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_array_equal(md.copysign(md.tensor(a), md.tensor(b)).numpy(), np.copysign(a, b))
    for fn in (md.atan2, md.hypot, md.logaddexp, md.logaddexp2):
        check_grads(fn, [a, b])
    check_grads(md.xlogy, [a, np.abs(b) + 0.5])
    check_grads(lambda x: md.logaddexp(x, x), [a])  # at a tie each side gets half


@pytest.mark.parametrize(
    "name,kwargs,lo",
    [("logit", {}, 0.05), ("logit", {"eps": 0.2}, 0.0), ("sinc", {}, None), ("deg2rad", {}, None),
     ("rad2deg", {}, None), ("sgn", {}, None), ("negative", {}, None), ("positive", {}, None),
     ("clamp_min", {"min": -0.3}, None), ("clamp_max", {"max": 0.4}, None), ("nan_to_num", {}, None),
     ("nan_to_num", {"nan": 1.5, "posinf": 9.0, "neginf": -7.0}, None), ("frac", {}, None), ("fix", {}, None)],
)  # fmt: skip
@pytest.mark.parametrize("shape", [(3, 5), (2, 1, 4), (0,), ()])
def test_unary_ops_match_torch(name, kwargs, lo, shape):
    torch = pytest.importorskip("torch")
    a = randn(*shape, seed=8) * 2
    if lo is not None:
        a = rng(9).uniform(lo, 1 - lo, shape).astype(np.float32)
    if name == "sinc" and a.size:
        a.reshape(-1)[0] = 0.0
    compare(lambda x: getattr(md, name)(x, **kwargs), lambda x: getattr(torch, name)(x, **kwargs), [a])
    compare(lambda x: getattr(x, name)(**kwargs), lambda x: getattr(x, name)(**kwargs), [a])


def test_nan_to_num_and_masks_at_special_values():
    torch = pytest.importorskip("torch")
    a = SPECIALS
    compare(md.nan_to_num, torch.nan_to_num, [a])
    compare(lambda x: md.nan_to_num(x, 0.5, 2.0, -2.0), lambda x: torch.nan_to_num(x, 0.5, 2.0, -2.0), [a])
    for name in ("isposinf", "isneginf", "isreal", "signbit"):
        compare(getattr(md, name), getattr(torch, name), [a], grad=False)
    x, y = np.meshgrid(SPECIALS, SPECIALS, indexing="ij")
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.5, "atol": 1.0}, {"rtol": 0.0, "atol": 0.0}):
        compare(lambda p, q: md.isclose(p, q, **kw), lambda p, q: torch.isclose(p, q, **kw), [x, y], grad=False)
    compare(md.heaviside, torch.heaviside, [np.array([-1.0, 0.0, 2.0, np.nan], np.float32),
                                            np.array([0.5], np.float32)], grad=False)  # fmt: skip


def test_masks_without_torch():
    got = md.isclose(md.tensor([1.0, 1.0 + 1e-6, np.nan, np.inf]), md.tensor([1.0, 1.0, np.nan, np.inf]))
    assert got.dtype == "bool" and got.tolist() == [True, True, False, True]
    assert md.isclose(md.tensor([np.nan]), md.tensor([np.nan]), equal_nan=True).tolist() == [1.0]
    assert md.signbit(md.tensor([-0.0, 0.0, -1.0, 2.0])).tolist() == [1.0, 0.0, 1.0, 0.0]
    assert md.isposinf(md.tensor([np.inf, -np.inf, 1.0])).tolist() == [1.0, 0.0, 0.0]
    assert md.isneginf(md.tensor([np.inf, -np.inf, 1.0])).tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="isclose.*non-negative"):
        md.isclose(md.tensor([1.0]), md.tensor([1.0]), rtol=-1.0)
    with pytest.raises(ValueError, match=r"isclose.*\(2,\).*\(3,\)"):
        md.isclose(md.zeros((2,)), md.zeros((3,)))
    with pytest.raises(TypeError, match="heaviside"):
        md.heaviside(md.tensor([1.0]), 0.5)
    x = md.tensor(np.array([np.nan, np.inf, -np.inf, 1.0], np.float32), requires_grad=True)
    md.nan_to_num(x).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 1.0]


def test_logit_sinc_gradients_without_torch():
    check_grads(md.logit, [rng(1).uniform(0.1, 0.9, (3, 4))], eps=1e-3)
    check_grads(md.sinc, [randn(3, 4, seed=10)])
    x = md.tensor([0.0], requires_grad=True)
    md.sinc(x).sum().backward()
    assert md.sinc(md.tensor([0.0])).tolist() == [1.0] and x.grad.tolist() == [0.0]


# ---- products


def test_products_match_torch():
    torch = pytest.importorskip("torch")
    compare(md.dot, torch.dot, [randn(5), randn(5, seed=1)])
    compare(md.mv, torch.mv, [randn(3, 4), randn(4, seed=1)])
    compare(lambda a, b: a.mv(b), lambda a, b: a.mv(b), [randn(3, 4), randn(4, seed=1)])
    compare(md.inner, torch.inner, [randn(2, 3, 4), randn(5, 4, seed=1)])
    compare(md.inner, torch.inner, [randn(4), np.array(2.5, np.float32)])
    cases = [((2, 3, 4), (3, 4, 5), 2), ((2, 3, 4), (4, 3), ([1, 2], [1, 0])), ((3, 4), (4, 5), 1),
             ((2, 3), (4, 5), 0), ((2, 3, 4), (4, 2), ([-1, 0], [0, -1])), ((0, 3), (3, 2), 1)]  # fmt: skip
    for sa, sb, dims in cases:
        arrays = [randn(*sa), randn(*sb)]
        compare(lambda a, b: md.tensordot(a, b, dims), lambda a, b: torch.tensordot(a, b, dims), arrays)
    for sa, sb in [((2, 3), (4, 5)), ((2, 1, 3), (3, 2)), ((3,), (2, 2)), ((), (3,))]:
        compare(md.kron, torch.kron, [randn(*sa), randn(*sb, seed=1)])


@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, -2.0), (0, 1.5)])
def test_add_products_match_torch(beta, alpha):
    torch = pytest.importorskip("torch")
    kw = {"beta": beta, "alpha": alpha}
    bias = randn(3, 5)
    if beta == 0:
        bias[0, 0] = np.nan  # ignored, as torch ignores it
    compare(lambda i, a, b: md.addmm(i, a, b, **kw), lambda i, a, b: torch.addmm(i, a, b, **kw),
            [bias, randn(3, 4, seed=1), randn(4, 5, seed=2)])  # fmt: skip
    compare(lambda i, a, b: i.addmm(a, b, **kw), lambda i, a, b: i.addmm(a, b, **kw),
            [randn(5), randn(3, 4, seed=1), randn(4, 5, seed=2)])  # fmt: skip
    compare(lambda i, a, b: md.addmv(i, a, b, **kw), lambda i, a, b: torch.addmv(i, a, b, **kw),
            [randn(3), randn(3, 4, seed=1), randn(4, seed=2)])  # fmt: skip
    compare(lambda i, a, b: md.baddbmm(i, a, b, **kw), lambda i, a, b: torch.baddbmm(i, a, b, **kw),
            [randn(2, 1, 5), randn(2, 3, 4, seed=1), randn(2, 4, 5, seed=2)])  # fmt: skip
    compare(lambda i, a, b: md.addbmm(i, a, b, **kw), lambda i, a, b: torch.addbmm(i, a, b, **kw),
            [randn(3, 5), randn(2, 3, 4, seed=1), randn(2, 4, 5, seed=2)])  # fmt: skip


@pytest.mark.parametrize("value", [1, 0.5, -2.0])
def test_addcmul_addcdiv_match_torch(value):
    torch = pytest.importorskip("torch")
    arrays = [randn(3, 4), randn(4, seed=1), np.abs(randn(3, 1, seed=2)) + 0.5]
    for name in ("addcmul", "addcdiv"):
        compare(lambda i, a, b: getattr(md, name)(i, a, b, value=value),
                lambda i, a, b: getattr(torch, name)(i, a, b, value=value), arrays)  # fmt: skip
        compare(lambda i, a, b: getattr(i, name)(a, b, value=value),
                lambda i, a, b: getattr(i, name)(a, b, value=value), arrays)  # fmt: skip


def test_products_without_torch_and_errors():
    a, b = randn(2, 3, 4), randn(4, 3, seed=1)
    np.testing.assert_allclose(md.tensordot(md.tensor(a), md.tensor(b), ([1, 2], [1, 0])).numpy(),
                               np.tensordot(a, b, ([1, 2], [1, 0])), rtol=1e-5, atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(md.kron(md.tensor(a[0]), md.tensor(b)).numpy(), np.kron(a[0], b), rtol=1e-6)
    check_grads(lambda x, y: md.tensordot(x, y, ([1, 2], [1, 0])), [a, b])
    check_grads(
        lambda i, x, y: md.baddbmm(i, x, y, beta=0.5, alpha=2.0), [randn(2, 1, 3), randn(2, 2, 4), randn(2, 4, 3)]
    )
    with pytest.raises(ValueError, match=r"dot.*\(3,\).*\(4,\)"):
        md.dot(md.zeros((3,)), md.zeros((4,)))
    with pytest.raises(ValueError, match=r"dot.*1-D.*\(2, 2\)"):
        md.dot(md.zeros((2, 2)), md.zeros((2,)))
    with pytest.raises(ValueError, match=r"mv.*\(3, 4\).*\(5,\)"):
        md.mv(md.zeros((3, 4)), md.zeros((5,)))
    with pytest.raises(ValueError, match="tensordot.*size 3.*size 4"):
        md.tensordot(md.zeros((2, 3)), md.zeros((4, 2)), 1)
    with pytest.raises(ValueError, match=r"baddbmm.*\(4, 5\)"):
        md.baddbmm(md.zeros((4, 5)), md.zeros((2, 3, 4)), md.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match=r"addcmul.*\(3,\).*\(4,\)"):
        md.addcmul(md.zeros((3,)), md.zeros((4,)), md.zeros((4,)))


# ---- shapes


def test_shape_ops_match_torch():
    torch = pytest.importorskip("torch")
    x = randn(2, 3, 4)
    for dims in [(2,), (2, 1), (1, 2, 1, 3), (3, 1, 1), ()]:
        compare(lambda t: md.tile(t, dims), lambda t: torch.tile(t, dims), [x])
        compare(lambda t: t.tile(dims), lambda t: t.tile(dims), [x])
    for size in [(2, 3, 4), (5, 2, 3, 4), (2, -1, 4), (3, 1, 3, 4)]:
        s = randn(2, 1, 4) if size != (3, 1, 3, 4) else randn(1, 3, 4)
        compare(lambda t: md.broadcast_to(t, size), lambda t: torch.broadcast_to(t, size), [s])
    compare(md.ravel, torch.ravel, [x])
    compare(lambda t: md.ravel(md.permute(t, (2, 0, 1))), lambda t: torch.ravel(t.permute(2, 0, 1)), [x])
    for shape in [(), (4,), (3, 5)]:
        compare(md.t, torch.t, [randn(*shape)])
    compare(md.fliplr, torch.fliplr, [x])
    compare(md.flipud, torch.flipud, [x])
    for k in range(-2, 6):
        for dims in [(0, 1), (1, 2), (-1, 0), (2, 0)]:
            compare(lambda t: md.rot90(t, k, dims), lambda t: torch.rot90(t, k, dims), [x])
    compare(lambda t: t.rot90(), lambda t: t.rot90(), [x[0]])


@pytest.mark.parametrize("offset", [0, 1, -1, 3, -5])
def test_diagonal_diag_embed_trace_match_torch(offset):
    torch = pytest.importorskip("torch")
    x = randn(2, 3, 4)
    for d1, d2 in [(0, 1), (1, 2), (-1, 0), (2, -3)]:
        compare(lambda t: md.diagonal(t, offset, d1, d2), lambda t: torch.diagonal(t, offset, d1, d2), [x])
    compare(lambda t: t.diagonal(offset), lambda t: t.diagonal(offset), [randn(4, 3)])
    for d1, d2 in [(-2, -1), (0, 2), (2, 0), (1, -1)]:
        compare(lambda t: md.diag_embed(t, offset, d1, d2), lambda t: torch.diag_embed(t, offset, d1, d2), [x])
    compare(md.trace, torch.trace, [randn(3, 5)])
    compare(lambda t: t.trace(), lambda t: t.trace(), [randn(4, 2)])
    for row, col in [(3, 3), (4, 2), (2, 5), (0, 3)]:
        _assert_close(md.tril_indices(row, col, offset), torch.tril_indices(row, col, offset), 0, 0, "tril_indices")
        _assert_close(md.triu_indices(row, col, offset), torch.triu_indices(row, col, offset), 0, 0, "triu_indices")


def test_shapes_without_torch_and_errors():
    x = randn(2, 3, 4)
    np.testing.assert_array_equal(md.tile(md.tensor(x), (2, 1)).numpy(), np.tile(x, (2, 1)))
    np.testing.assert_array_equal(md.rot90(md.tensor(x), 1, (1, 2)).numpy(), np.rot90(x, 1, (1, 2)))
    np.testing.assert_array_equal(md.diagonal(md.tensor(x), 1, 1, 2).numpy(), np.diagonal(x, 1, 1, 2))
    assert md.trace(md.tensor(x[0])).item() == pytest.approx(float(np.trace(x[0])), rel=1e-6)
    np.testing.assert_array_equal(md.triu_indices(3, 4, 1).numpy(), np.stack(np.triu_indices(3, 1, 4)))
    check_grads(lambda t: md.diag_embed(t, 1, 0, 2), [randn(2, 3)])
    with pytest.raises(ValueError, match=r"broadcast_to.*\(2, 3\).*\(4, 3\)"):
        md.broadcast_to(md.zeros((2, 3)), (4, 3))
    with pytest.raises(ValueError, match="rot90.*different"):
        md.rot90(md.zeros((2, 3)), 1, (0, 0))
    with pytest.raises(ValueError, match=r"fliplr.*\(3,\)"):
        md.fliplr(md.zeros((3,)))
    with pytest.raises(ValueError, match=r"t\(\).*\(2, 3, 4\)"):
        md.t(md.zeros((2, 3, 4)))
    with pytest.raises(IndexError, match="diagonal"):
        md.diagonal(md.zeros((2, 3)), 0, 0, 2)
    with pytest.raises(ValueError, match=r"trace.*\(2, 3, 4\)"):
        md.trace(md.zeros((2, 3, 4)))


# ---- reductions and order statistics


def test_nan_reductions_and_counts_match_torch():
    torch = pytest.importorskip("torch")
    x = randn(3, 4, 5)
    x[0, 1, 2] = x[2, 3, :] = np.nan
    x[1, 1, 1] = 0.0
    for kw in [{}, {"dim": 1}, {"dim": (0, 2), "keepdim": True}, {"dim": -1}]:
        compare(lambda t: md.nansum(t, **kw), lambda t: torch.nansum(t, **kw), [x])
        # an all-NaN slice's gradient is NaN in torch (inf * 0), 0 here: gradients without one
        compare(lambda t: md.nanmean(t, **kw), lambda t: torch.nanmean(t, **kw), [x], grad=False)
        compare(lambda t: md.nanmean(t, **kw), lambda t: torch.nanmean(t, **kw), [x[:2]])
        compare(lambda t: t.nansum(**kw), lambda t: t.nansum(**kw), [x])
    for dim in [None, 0, (1, 2), -1]:
        compare(lambda t: md.count_nonzero(t, dim), lambda t: torch.count_nonzero(t, dim), [x], grad=False)
    compare(md.nansum, torch.nansum, [np.zeros((0, 3), np.float32)])


@pytest.mark.parametrize("name", ["var_mean", "std_mean"])
def test_var_mean_std_mean_match_torch(name):
    torch = pytest.importorskip("torch")
    x = randn(3, 4, 5)
    cases = [((), {}), ((1,), {}), (((0, 2),), {"keepdim": True}), ((-1,), {"correction": 0}),
             ((1,), {"unbiased": False}), ((False,), {}), ((None,), {"correction": 2, "keepdim": True})]  # fmt: skip
    for args, kw in cases:
        compare(lambda t: getattr(md, name)(t, *args, **kw), lambda t: getattr(torch, name)(t, *args, **kw), [x])
    # the gradient through both outputs
    t = md.tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    a, b = getattr(md, name)(t, 1)
    ta, tb = getattr(torch, name)(tt, 1)
    (a * 2 + b * 3).sum().backward()
    (ta * 2 + tb * 3).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_aminmax_matches_torch():
    torch = pytest.importorskip("torch")
    x = randn(3, 4)
    for kw in [{}, {"dim": 0}, {"dim": -1, "keepdim": True}, {"keepdim": True}]:
        compare(lambda t: md.aminmax(t, **kw), lambda t: torch.aminmax(t, **kw), [x], grad=False)
    out = md.aminmax(md.tensor(x), dim=1)
    assert out.min.shape == (3,) and out.max.shape == (3,)
    with pytest.raises(ValueError, match="aminmax"):
        md.aminmax(md.zeros((0, 2)))


def test_median_matches_torch():
    torch = pytest.importorskip("torch")
    x = randn(4, 6)  # distinct values, so the indices are unique
    for shape in [(4, 6), (5,), (2, 3, 5), (1,)]:
        compare(md.median, torch.median, [randn(*shape)])
        compare(md.nanmedian, torch.nanmedian, [randn(*shape)])
        compare(lambda t: t.median(), lambda t: t.median(), [randn(*shape)])
    for dim, keepdim in [(0, False), (1, True), (-1, False)]:
        compare(lambda t: md.median(t, dim, keepdim), lambda t: torch.median(t, dim, keepdim), [x])
        compare(lambda t: t.nanmedian(dim, keepdim), lambda t: t.nanmedian(dim, keepdim), [x])
    x[1, 2] = x[3, 0] = x[3, 4] = np.nan
    x[2, :] = np.nan
    for name in ("median", "nanmedian"):
        compare(getattr(md, name), getattr(torch, name), [x])
        for dim in (0, 1):
            if name == "nanmedian" and dim == 1:  # torch's index into an all-NaN row is unspecified
                compare(lambda t: md.nanmedian(t, 1).values, lambda t: torch.nanmedian(t, 1).values, [x], grad=False)
                continue
            compare(lambda t: getattr(md, name)(t, dim), lambda t: getattr(torch, name)(t, dim), [x])
    # ties: the gradient of the full median is split evenly between the equal elements
    compare(md.median, torch.median, [np.array([1.0, 2.0, 2.0, 5.0, 2.0, 0.0], np.float32)])
    compare(md.median, torch.median, [np.array(3.0, np.float32)])
    compare(lambda t: md.median(t, 0), lambda t: torch.median(t, 0), [np.array(3.0, np.float32)])


def test_median_without_torch():
    x = randn(5, 6)
    out = md.median(md.tensor(x), 1)
    lower = np.sort(x, 1)[:, 2]
    np.testing.assert_array_equal(out.values.numpy(), lower)
    np.testing.assert_array_equal(x[np.arange(5), out.indices.numpy()], lower)
    assert out.indices.dtype == "int64"
    assert md.median(md.tensor([3.0, 1.0, 2.0, 4.0])).item() == 2.0
    assert math.isnan(md.median(md.tensor([1.0, np.nan, 2.0])).item())
    assert md.nanmedian(md.tensor([1.0, np.nan, 2.0, 3.0])).item() == 2.0
    assert math.isnan(md.median(md.zeros((0,))).item())
    with pytest.raises(IndexError, match=r"median.*\(3, 0\)"):
        md.median(md.zeros((3, 0)), 1)
    spaced = rng(3).permutation(30).reshape(5, 6).astype(np.float32) * 0.1  # no swaps within the step
    check_grads(lambda t: md.median(t, 0).values, [spaced])


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_matches_torch(interpolation):
    torch = pytest.importorskip("torch")
    x = randn(4, 7)
    kw = {"interpolation": interpolation}
    for q in [0.0, 0.3, 0.5, 1.0, np.array([0.1, 0.25, 0.9], np.float32), np.array(0.4, np.float32)]:
        for dim, keepdim in [(None, False), (None, True), (1, False), (0, True), (-1, True)]:
            for name in ("quantile", "nanquantile"):
                compare(
                    lambda t, *qq: getattr(md, name)(t, qq[0] if qq else q, dim, keepdim, **kw),
                    lambda t, *qq: getattr(torch, name)(t, qq[0] if qq else q, dim, keepdim, **kw),
                    [x, q] if isinstance(q, np.ndarray) else [x],
                )
    y = x.copy()
    y[0, 3] = y[2, 0] = y[2, 5] = np.nan
    y[3, :] = np.nan
    # which NaN a NaN result comes from (and so takes the gradient) is unspecified in torch: the
    # gradients are compared where the result is a number
    for name in ("quantile", "nanquantile"):
        for dim in (None, 1, 0):
            compare(lambda t: getattr(md, name)(t, 0.35, dim, **kw), lambda t: getattr(torch, name)(t, 0.35, dim, **kw),
                    [y], grad=False)  # fmt: skip
    compare(lambda t: md.nanquantile(t, 0.35, 1, **kw), lambda t: torch.nanquantile(t, 0.35, 1, **kw), [y[:3]])
    compare(lambda t: md.nanquantile(t, 0.6, None, **kw), lambda t: torch.nanquantile(t, 0.6, None, **kw), [y])
    compare(lambda t: t.quantile(0.5), lambda t: t.quantile(0.5), [randn(9)])


def test_quantile_without_torch_and_errors():
    x = randn(5, 8)
    np.testing.assert_allclose(md.quantile(md.tensor(x), 0.3, 1).numpy(), np.quantile(x, 0.3, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(md.quantile(md.tensor(x), md.tensor([0.2, 0.8]), 0).numpy(),
                               np.quantile(x, [0.2, 0.8], 0), rtol=1e-5, atol=1e-6)  # fmt: skip
    check_grads(lambda t: md.quantile(t, 0.3, 1), [x])
    t = md.tensor(x)
    with pytest.raises(ValueError, match=r"quantile.*\[0, 1\]"):
        md.quantile(t, 1.5)
    with pytest.raises(ValueError, match="quantile.*interpolation"):
        md.quantile(t, 0.5, interpolation="cubic")
    with pytest.raises(ValueError, match="quantile.*non-empty"):
        md.quantile(md.zeros((0,)), 0.5)
    with pytest.raises(ValueError, match=r"quantile.*\(2, 2\)"):
        md.quantile(t, md.zeros((2, 2)))


def test_cummax_cummin_match_torch():
    torch = pytest.importorskip("torch")
    x = np.round(randn(3, 6) * 2).astype(np.float32)  # ties
    x[1, 2] = x[2, 4] = np.nan
    for name in ("cummax", "cummin"):
        for dim in (0, 1, -1):
            compare(lambda t: getattr(md, name)(t, dim), lambda t: getattr(torch, name)(t, dim), [x])
            compare(lambda t: getattr(t, name)(dim), lambda t: getattr(t, name)(dim), [x])
        compare(lambda t: getattr(md, name)(t, 0), lambda t: getattr(torch, name)(t, 0), [np.zeros((0, 2), np.float32)])
        compare(lambda t: getattr(md, name)(t, 0), lambda t: getattr(torch, name)(t, 0), [np.array(2.0, np.float32)])
        ints = np.array([[3, 1, 4, 1, 5, 9, 2, 6]])
        compare(lambda t: getattr(md, name)(t, 1), lambda t: getattr(torch, name)(t, 1), [ints])


def test_cummax_without_torch():
    x = np.array([1.0, 3.0, 2.0, 3.0, 5.0], np.float32)
    out = md.cummax(md.tensor(x), 0)
    assert out.values.tolist() == [1, 3, 3, 3, 5] and out.indices.tolist() == [0, 1, 1, 3, 4]
    assert md.cummin(md.tensor(x), 0).indices.tolist() == [0, 0, 0, 0, 0]
    check_grads(lambda t: md.cummax(t, 1).values, [randn(2, 5)])


def test_logcumsumexp_matches_torch():
    torch = pytest.importorskip("torch")
    for shape, dim in [((3, 7), 1), ((5, 2, 3), 0), ((9,), -1), ((0, 4), 1), ((), 0), ((2, 1), 1)]:
        compare(lambda t: md.logcumsumexp(t, dim), lambda t: torch.logcumsumexp(t, dim), [randn(*shape) * 5])
    wide = np.array([-300.0, 0.0, -1e4, 80.0, 100.0, -np.inf, 50.0], np.float32)  # no underflow, no overflow
    compare(lambda t: md.logcumsumexp(t, 0), lambda t: torch.logcumsumexp(t, 0), [wide])
    compare(lambda t: t.logcumsumexp(0), lambda t: t.logcumsumexp(0), [wide[:5]])


def test_logcumsumexp_without_torch():
    x = randn(3, 6, seed=3) * 4
    want = np.log(np.cumsum(np.exp(x.astype(np.float64)), 1))
    np.testing.assert_allclose(md.logcumsumexp(md.tensor(x), 1).numpy(), want, rtol=1e-5, atol=1e-6)
    assert md.logcumsumexp(md.tensor([-200.0, 0.0]), 0).tolist()[0] == -200.0
    check_grads(lambda t: md.logcumsumexp(t, 1), [x])


@pytest.mark.parametrize("p", [2.0, 1.0, 0.5, 3.0, 0.0, math.inf])
def test_cdist_matches_torch(p):
    torch = pytest.importorskip("torch")
    for sa, sb in [((4, 3), (5, 3)), ((2, 4, 3), (2, 6, 3)), ((2, 1, 4, 3), (3, 5, 3)), ((0, 3), (2, 3))]:
        compare(lambda a, b: md.cdist(a, b, p), lambda a, b: torch.cdist(a, b, p), [randn(*sa), randn(*sb, seed=4)],
                rtol=1e-5, atol=1e-5, grad_rtol=1e-3, grad_atol=1e-4)  # fmt: skip
    # a zero distance (a shared row) has zero gradient, as torch's
    a = randn(3, 2)
    b = np.concatenate([a[:1], randn(2, 2, seed=5)])
    if p != 0.5:  # torch's p < 1 gradient at a zero difference is NaN or inf
        compare(
            lambda x, y: md.cdist(x, y, p), lambda x, y: torch.cdist(x, y, p), [a, b], grad_rtol=1e-3, grad_atol=1e-4
        )


def test_cdist_without_torch_and_errors():
    a, b = randn(4, 3), randn(5, 3, seed=1)
    want = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    np.testing.assert_allclose(md.cdist(md.tensor(a), md.tensor(b)).numpy(), want, rtol=1e-5)
    check_grads(md.cdist, [a, b])
    check_grads(lambda x, y: md.cdist(x, y, 3.0), [a, b])
    with pytest.raises(ValueError, match="compute_mode"):
        md.cdist(md.tensor(a), md.tensor(b), compute_mode="donot_use_mm_for_euclid_dist")
    with pytest.raises(ValueError, match=r"cdist.*\(4, 3\).*\(5, 2\)"):
        md.cdist(md.tensor(a), md.zeros((5, 2)))
    with pytest.raises(ValueError, match="cdist.*2D"):
        md.cdist(md.zeros((3,)), md.zeros((3,)))
    with pytest.raises(ValueError, match="cdist.*non-negative"):
        md.cdist(md.tensor(a), md.tensor(b), -1.0)


def test_histc_matches_torch():
    torch = pytest.importorskip("torch")
    x = randn(200) * 3
    for kw in [{}, {"bins": 7}, {"bins": 10, "min": -2, "max": 3}, {"bins": 4, "min": 1, "max": 1}]:
        compare(lambda t: md.histc(t, **kw), lambda t: torch.histc(t, **kw), [x], grad=False)
        compare(lambda t: t.histc(**kw), lambda t: t.histc(**kw), [x], grad=False)
    compare(lambda t: md.histc(t, 3), lambda t: torch.histc(t, 3), [np.full(5, 2.0, np.float32)], grad=False)
    counts = md.histc(md.tensor([0.0, 0.5, 1.0, 2.0]), bins=2, min=0, max=1)
    assert counts.tolist() == [1.0, 2.0]


# ---- in-place variants

IN_PLACE_UNARY = [
    "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "abs", "neg", "reciprocal", "rsqrt", "square", "log1p",
    "expm1", "erf", "erfc", "erfinv", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
    "log2", "log10", "exp2", "floor", "ceil", "round", "trunc", "frac", "sign", "sgn", "relu", "deg2rad",
    "rad2deg", "sinc", "negative", "logit", "nan_to_num",
]  # fmt: skip


def _in_domain(name, shape, seed=0):
    x = rng(seed).uniform(0.1, 0.9, shape).astype(np.float32)
    if name == "acosh":
        x = x + 1.5
    elif name not in ("log", "sqrt", "rsqrt", "log1p", "log2", "log10", "logit", "erfinv", "asin", "acos", "atanh"):
        x = x * 4 - 2
    return x


@pytest.mark.parametrize("name", IN_PLACE_UNARY)
def test_in_place_unary_matches_out_of_place(name):
    x = _in_domain(name, (3, 4))
    want = getattr(md.tensor(x), name)().numpy()
    t = md.tensor(x)
    view = t[1:]
    assert getattr(t, name + "_")() is t  # returns self, writes in place (views see it)
    np.testing.assert_array_equal(t.numpy(), want)
    np.testing.assert_array_equal(view.numpy(), want[1:])


@pytest.mark.parametrize("name", ["exp", "sqrt", "tanh", "sigmoid", "log1p", "erfinv", "atan", "sinc", "logit"])
def test_in_place_unary_autograd_matches_torch(name):
    torch = pytest.importorskip("torch")
    x = _in_domain(name, (2, 5), seed=1)
    leaf = md.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(leaf, name + "_")()
    # on a non-leaf the graph is kept: d/dx sum(w * f(2x))
    w = randn(2, 5, seed=2)
    y = leaf * 0.5
    getattr(y, name + "_")()
    (y * md.tensor(w)).sum().backward()
    tl = torch.tensor(x, requires_grad=True)
    ty = tl * 0.5
    getattr(ty, name + "_")()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(leaf.grad.numpy(), tl.grad.numpy(), rtol=1e-5, atol=1e-6)
    with md.no_grad():  # a leaf may change under no_grad
        getattr(leaf, name + "_")()


@pytest.mark.parametrize(
    "name,args",
    [("atan2_", ("o",)), ("hypot_", ("o",)), ("copysign_", ("o",)), ("xlogy_", ("p",)),
     ("clamp_min_", (-0.2,)), ("clamp_max_", (0.3,)), ("addcmul_", ("o", "p")), ("addcdiv_", ("o", "p")),
     ("pow_", (2.0,)), ("subtract_", ("o",)), ("multiply_", ("o",)), ("divide_", ("p",)), ("true_divide_", ("p",)),
     ("fmod_", (0.7,)), ("remainder_", (0.7,)), ("ldexp_", ("o",)), ("baddbmm_", None), ("addmm_", None)],
)  # fmt: skip
def test_in_place_binary_matches_torch(name, args):
    torch = pytest.importorskip("torch")
    if name == "baddbmm_":
        x, ops = randn(2, 3, 4), [randn(2, 3, 5, seed=1), randn(2, 5, 4, seed=2)]
    elif name == "addmm_":
        x, ops = randn(3, 4), [randn(3, 5, seed=1), randn(5, 4, seed=2)]
    else:
        x = randn(3, 4)
        pos = np.abs(randn(4, seed=3)) + 0.5
        ops = [randn(3, 4, seed=1) if a == "o" else pos if a == "p" else a for a in args]
        if name == "xlogy_":
            x = np.abs(x)
    kw = {"value": 0.5} if name in ("addcmul_", "addcdiv_") else {"beta": 0.5, "alpha": 2.0} if "mm" in name else {}
    # outside the graph
    t = md.tensor(x)
    got = getattr(t, name)(*[md.tensor(o) if isinstance(o, np.ndarray) else o for o in ops], **kw)
    tt = torch.tensor(x)
    want = getattr(tt, name)(*[torch.tensor(o) if isinstance(o, np.ndarray) else o for o in ops], **kw)
    assert got is t
    np.testing.assert_allclose(t.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    # inside the graph: an operand that requires grad, written into a non-leaf
    mo = [md.tensor(o, requires_grad=True) if isinstance(o, np.ndarray) else o for o in ops]
    to = [torch.tensor(o, requires_grad=True) if isinstance(o, np.ndarray) else o for o in ops]
    base, tbase = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = base * 1.0, tbase * 1.0
    getattr(y, name)(*mo, **kw).sum().backward()
    getattr(ty, name)(*to, **kw).sum().backward()
    np.testing.assert_allclose(base.grad.numpy(), tbase.grad.numpy(), rtol=1e-4, atol=1e-5)
    for m, o in zip(mo, to):
        if isinstance(m, md.Tensor):
            np.testing.assert_allclose(m.grad.numpy(), o.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_in_place_without_torch():
    x = md.tensor([0.5, 1.0, 2.0])
    x.exp_().log_()
    np.testing.assert_allclose(x.numpy(), [0.5, 1.0, 2.0], rtol=1e-6)
    leaf = md.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="exp_.*leaf"):
        leaf.exp_()
    y = leaf * 1.0
    y.sqrt_()
    y.sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), 0.5 / np.sqrt([1.0, 2.0]), rtol=1e-6)
    ints = md.tensor(np.array([1, 2]))
    with pytest.raises(ValueError, match="exp_"):
        ints.exp_()
    z = md.zeros((2,))
    with pytest.raises(RuntimeError, match="atan2_"):  # an operand that requires grad into a leaf that does
        md.tensor([1.0, 1.0], requires_grad=True).atan2_(z)
    z.atan2_(md.tensor([-1.0, 1.0]))
    np.testing.assert_allclose(z.numpy(), [math.pi, 0.0], rtol=1e-6)


# ---- the names themselves


def test_install_adds_names_without_replacing_existing_ones():
    names = ["add", "sub", "div", "atan2", "nan_to_num", "isclose", "addcmul", "baddbmm", "tile", "broadcast_to",
             "median", "quantile", "var_mean", "cdist", "t", "logcumsumexp", "tril_indices"]  # fmt: skip
    for name in names:
        assert name in md.__all__ and callable(getattr(md, name)), name
    for name in ["atan2", "nan_to_num", "isclose", "addcmul", "addcdiv_", "baddbmm", "tile", "median", "quantile",
                 "cummax", "exp_", "sigmoid_", "clamp_min_", "atan2_", "divide"]:  # fmt: skip
        assert hasattr(md.Tensor, name), name
    assert not hasattr(md.Tensor, "cdist") and not hasattr(md.Tensor, "tensordot")
    assert md.frac is not None and md.Tensor.t(md.zeros((2, 3))).shape == (3, 2)


def test_tensor_div_method_takes_rounding_mode():
    a, b = md.tensor([7.0, -7.0, 5.5]), md.tensor([2.0, 2.0, -2.0])
    np.testing.assert_array_equal(a.div(b, rounding_mode="floor").numpy(), [3.0, -4.0, -3.0])
    np.testing.assert_array_equal(a.div(b, rounding_mode="trunc").numpy(), [3.0, -3.0, -2.0])
    np.testing.assert_array_equal(a.div(b).numpy(), [3.5, -3.5, -2.75])
    c = md.tensor([7.0, -7.0, 5.5])
    assert c.div_(b, rounding_mode="floor") is c
    np.testing.assert_array_equal(c.numpy(), [3.0, -4.0, -3.0])
    with pytest.raises(ValueError, match="rounding_mode"):
        a.div(b, rounding_mode="up")
