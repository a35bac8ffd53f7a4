"""Every differentiable op: forward against a NumPy float64 reference, backward against central
finite differences (see gradcheck.py), on small random inputs including odd sizes, broadcasting
and non-contiguous views."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from gradcheck import (
    attention_ref,
    check_grads,
    conv2d_ref,
    gelu_ref,
    group_norm_ref,
    layer_norm_ref,
    sigmoid_ref,
    softmax_ref,
    to_md,
)

import minidiff as md
import minidiff.functional as F

FWD = dict(rtol=1e-5, atol=1e-5)  # float32 forward vs float64 reference, O(1) values


def rnd(*shape, seed=0, lo=None, hi=None):
    r = np.random.default_rng(seed)
    if lo is not None:
        return r.uniform(lo, hi, size=shape).astype(np.float32)
    return r.standard_normal(shape).astype(np.float32)


def away_from_zero(*shape, seed=0, margin=0.2):
    """Random values with |x| >= margin, for ops with a kink or a pole at zero."""
    x = rnd(*shape, seed=seed)
    return (np.sign(x) * (np.abs(x) + margin)).astype(np.float32)


# ---------------------------------------------------------------- binary arithmetic

BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((2, 1, 4), (3, 1)),
    ((1,), (2, 3)),
    ((), (2, 3)),
    ((2, 3, 1, 5), (1, 4, 1)),
]

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a**b, lambda a, b: a**b),
}


def binary_inputs(name, sa, sb, seed):
    a = rnd(*sa, seed=seed)
    b = rnd(*sb, seed=seed + 1)
    if name == "div":
        b = away_from_zero(*sb, seed=seed + 1, margin=0.5)
    if name == "pow":  # positive base so that d/db = out * log(a) exists
        a = rnd(*sa, seed=seed, lo=0.5, hi=2.0)
        b = rnd(*sb, seed=seed + 1, lo=-1.5, hi=1.5)
    return a, b


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("sa,sb", BROADCAST_SHAPES)
def test_binary_broadcast(name, sa, sb):
    op_md, op_np = BINARY[name]
    a, b = binary_inputs(name, sa, sb, seed=3)
    out = op_md(to_md(a), to_md(b))
    ref = op_np(a.astype(np.float64), b.astype(np.float64))
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, **FWD)
    check_grads(op_md, [a, b])


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_non_contiguous_operands(name):
    # a is a transposed view, b a strided slice: the broadcast plan must honour both layouts.
    a, b = binary_inputs(name, (5, 3), (3, 10), seed=5)

    def f(x, y):
        return BINARY[name][0](x.transpose(0, 1), y[:, ::2])

    ref = BINARY[name][1](a.T.astype(np.float64), b[:, ::2].astype(np.float64))
    np.testing.assert_allclose(f(to_md(a), to_md(b)).numpy(), ref, **FWD)
    check_grads(f, [a, b])


SCALAR_CASES = [
    ("t+s", lambda t: t + 2.5, lambda x: x + 2.5),
    ("s+t", lambda t: 2.5 + t, lambda x: 2.5 + x),
    ("t-s", lambda t: t - 2.5, lambda x: x - 2.5),
    ("s-t", lambda t: 2.5 - t, lambda x: 2.5 - x),
    ("t*s", lambda t: t * -1.5, lambda x: x * -1.5),
    ("s*t", lambda t: -1.5 * t, lambda x: -1.5 * x),
    ("t/s", lambda t: t / 4.0, lambda x: x / 4.0),
    ("s/t", lambda t: 2.0 / t, lambda x: 2.0 / x),
    ("t**2", lambda t: t**2, lambda x: x**2),
    ("t**3", lambda t: t**3, lambda x: x**3),
    ("t**0.5", lambda t: t**0.5, lambda x: x**0.5),
    ("t**-1.5", lambda t: t**-1.5, lambda x: x**-1.5),
    ("s**t", lambda t: 2.5**t, lambda x: 2.5**x),
    ("t+int", lambda t: t + 3, lambda x: x + 3),
    ("int*t", lambda t: 3 * t, lambda x: 3 * x),
]


@pytest.mark.parametrize("label,op_md,op_np", SCALAR_CASES, ids=[c[0] for c in SCALAR_CASES])
def test_tensor_scalar(label, op_md, op_np):
    if label in ("t**0.5", "t**-1.5"):
        x = rnd(3, 5, seed=1, lo=0.5, hi=2.0)
    elif label == "s/t":
        x = away_from_zero(3, 5, seed=1, margin=0.5)
    else:
        x = rnd(3, 5, seed=1)
    out = op_md(to_md(x))
    assert out.shape == (3, 5)
    np.testing.assert_allclose(out.numpy(), op_np(x.astype(np.float64)), **FWD)
    check_grads(op_md, [x])


def test_tensor_with_numpy_array_operand():
    a, b = rnd(2, 3, seed=1), rnd(3, seed=2)
    np.testing.assert_allclose((to_md(a) * b).numpy(), a * b, **FWD)
    np.testing.assert_allclose((to_md(a) + b.tolist()).numpy(), a + b, **FWD)


# ---------------------------------------------------------------- unary and activations

UNARY = [
    ("neg", lambda t: -t, lambda x: -x, "any"),
    ("exp", lambda t: t.exp(), np.exp, "any"),
    ("F.exp", F.exp, np.exp, "any"),
    ("log", lambda t: t.log(), np.log, "positive"),
    ("sqrt", F.sqrt, np.sqrt, "positive"),
    ("sin", F.sin, np.sin, "any"),
    ("cos", lambda t: t.cos(), np.cos, "any"),
    ("abs", F.abs, np.abs, "kink"),
    ("silu", F.silu, lambda x: x * sigmoid_ref(x), "wide"),
    ("gelu", F.gelu, gelu_ref, "wide"),
    ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh"), lambda x: gelu_ref(x, "tanh"), "wide"),
    ("relu", F.relu, lambda x: np.maximum(x, 0.0), "kink"),
    ("sigmoid", F.sigmoid, sigmoid_ref, "wide"),
    ("tanh", F.tanh, np.tanh, "wide"),
]


@pytest.mark.parametrize("name,op_md,op_np,domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, op_md, op_np, domain):
    if domain == "positive":
        x = rnd(4, 7, seed=2, lo=0.3, hi=3.0)
    elif domain == "kink":
        x = away_from_zero(4, 7, seed=2, margin=0.1)
    elif domain == "wide":
        x = (rnd(4, 7, seed=2) * 3.0).astype(np.float32)
    else:
        x = rnd(4, 7, seed=2)
    out = op_md(to_md(x))
    np.testing.assert_allclose(out.numpy(), op_np(x.astype(np.float64)), rtol=2e-6, atol=2e-6)
    check_grads(op_md, [x])
    # a non-contiguous input goes through the same kernel after a copy
    xt = np.ascontiguousarray(x.T)
    out_t = op_md(to_md(xt).transpose(0, 1))
    np.testing.assert_allclose(out_t.numpy(), op_np(x.astype(np.float64)), rtol=2e-6, atol=2e-6)


def test_activations_saturate_without_nan():
    x = np.array([-100.0, -30.0, 0.0, 30.0, 100.0], np.float32)
    for f in (F.silu, F.sigmoid, F.tanh, F.gelu, lambda t: F.gelu(t, approximate="tanh")):
        t = to_md(x, requires_grad=True)
        y = f(t)
        y.sum().backward()
        assert np.all(np.isfinite(y.numpy())), f
        assert np.all(np.isfinite(t.grad.numpy())), f


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu"):
        F.gelu(to_md(np.zeros(3)), approximate="erf")


# ---------------------------------------------------------------- reductions

REDUCE_DIMS = [None, 0, 1, -1, (0, 2), (1, 2), (0, 1, 2), (-1, 0)]


@pytest.mark.parametrize("dim", REDUCE_DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean(op, dim, keepdim):
    x = rnd(3, 4, 5, seed=4)
    t = to_md(x)
    out = getattr(t, op)(dim=dim, keepdim=keepdim)
    axis = dim if dim is None or isinstance(dim, int) else tuple(dim)
    ref = getattr(x.astype(np.float64), op)(axis=axis, keepdims=keepdim)
    assert out.shape == np.shape(ref)
    np.testing.assert_allclose(out.numpy(), ref, **FWD)
    check_grads(lambda a: getattr(a, op)(dim=dim, keepdim=keepdim), [x])


def test_sum_of_non_contiguous_and_empty_dims():
    x = rnd(4, 6, seed=1)
    np.testing.assert_allclose(to_md(x).transpose(0, 1)[::2].sum(dim=1).numpy(), x.T[::2].sum(axis=1), **FWD)
    e = md.zeros(3, 0)
    np.testing.assert_array_equal(e.sum(dim=1).numpy(), np.zeros(3))
    assert e.sum().item() == 0.0


def distinct_values(*shape, seed=0):
    """A permutation of well-separated values: max has a unique argmax, FD steps don't reorder."""
    n = int(np.prod(shape))
    v = np.random.default_rng(seed).permutation(n).astype(np.float32) * 0.1
    return v.reshape(shape)


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_over_dim(dim, keepdim):
    x = distinct_values(3, 4, 5, seed=7)
    values, indices = to_md(x).max(dim=dim, keepdim=keepdim)  # (values, indices), as in torch
    ref = x.max(axis=dim, keepdims=keepdim)
    assert values.shape == ref.shape
    np.testing.assert_array_equal(values.numpy(), ref)
    assert indices.dtype == "int64" and indices.shape == ref.shape
    np.testing.assert_array_equal(indices.numpy(), x.argmax(axis=dim, keepdims=keepdim))
    assert to_md(x).max(dim, keepdim).values.shape == ref.shape
    check_grads(lambda a: a.max(dim=dim, keepdim=keepdim).values, [x], eps=1e-3)


def test_max_over_all_dims():
    x = distinct_values(3, 4, seed=8)
    out = to_md(x).max()
    assert out.shape == ()
    assert out.item() == x.max()
    check_grads(lambda a: a.max(), [x], eps=1e-3)


# ---------------------------------------------------------------- shapes and views

SHAPE_OPS = [
    ("reshape", lambda t: t.reshape(6, 4), lambda x: x.reshape(6, 4)),
    ("reshape_-1", lambda t: t.reshape(-1, 3), lambda x: x.reshape(-1, 3)),
    ("reshape_tuple", lambda t: t.reshape((4, 6)), lambda x: x.reshape(4, 6)),
    ("view", lambda t: t.view(2, 12), lambda x: x.reshape(2, 12)),
    ("permute", lambda t: t.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1)),
    ("permute_neg", lambda t: t.permute(-1, -3, -2), lambda x: x.transpose(2, 0, 1)),
    ("transpose", lambda t: t.transpose(0, 2), lambda x: x.swapaxes(0, 2)),
    ("mT", lambda t: t.mT, lambda x: x.swapaxes(-1, -2)),
    ("flatten", lambda t: t.flatten(), lambda x: x.reshape(-1)),
    ("flatten_1", lambda t: t.flatten(1), lambda x: x.reshape(2, -1)),
    ("flatten_0_1", lambda t: t.flatten(0, 1), lambda x: x.reshape(6, 4)),
    ("unsqueeze", lambda t: t.unsqueeze(1), lambda x: x[:, None]),
    ("unsqueeze_-1", lambda t: t.unsqueeze(-1), lambda x: x[..., None]),
    ("squeeze_dim", lambda t: t.unsqueeze(0).squeeze(0), lambda x: x),
    ("squeeze_all", lambda t: t.reshape(1, 2, 1, 3, 4).squeeze(), lambda x: x),
    ("squeeze_noop", lambda t: t.squeeze(1), lambda x: x),
    ("expand", lambda t: t[:, :1].expand(2, 5, 4), lambda x: np.broadcast_to(x[:, :1], (2, 5, 4))),
    ("expand_-1", lambda t: t[None].expand(3, -1, -1, -1), lambda x: np.broadcast_to(x[None], (3, 2, 3, 4))),
    (
        "transpose_reshape",
        lambda t: t.transpose(0, 1).reshape(3, 8),
        lambda x: x.swapaxes(0, 1).reshape(3, 8),
    ),
    ("transpose_unsqueeze", lambda t: t.transpose(1, 2).unsqueeze(0), lambda x: x.swapaxes(1, 2)[None]),
]


@pytest.mark.parametrize("name,op_md,op_np", SHAPE_OPS, ids=[s[0] for s in SHAPE_OPS])
def test_shape_ops(name, op_md, op_np):
    x = rnd(2, 3, 4, seed=9)
    out = op_md(to_md(x))
    ref = op_np(x)
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out.numpy(), ref)
    check_grads(op_md, [x])


def test_views_share_storage():
    x = md.zeros(2, 3)
    x.view(6).fill_(1.0)
    np.testing.assert_array_equal(x.numpy(), np.ones((2, 3)))
    y = md.zeros(3, 4)
    y.transpose(0, 1).copy_(md.tensor(np.arange(12, dtype=np.float32).reshape(4, 3)))
    np.testing.assert_array_equal(y.numpy(), np.arange(12, dtype=np.float32).reshape(4, 3).T)
    z = md.zeros(4, 6)
    z[1:3, ::2].copy_(md.ones(2, 3))
    ref = np.zeros((4, 6), np.float32)
    ref[1:3, ::2] = 1
    np.testing.assert_array_equal(z.numpy(), ref)


def test_view_of_non_contiguous_raises_and_reshape_copies():
    t = to_md(rnd(3, 4)).transpose(0, 1)
    with pytest.raises(ValueError, match=r"view.*not contiguous enough"):
        t.view(12)
    np.testing.assert_array_equal(t.reshape(12).numpy(), rnd(3, 4).T.reshape(12))


@pytest.mark.parametrize(
    "shape,dims,sl",
    [
        ((37, 21), (1, 0), None),  # one 2-D block with edges on both sides of the 16x16 tiles
        ((3, 40, 17), (0, 2, 1), None),  # a batch of blocks (attention's (B, C, L) -> (B, L, C))
        ((2, 3, 33, 48), (0, 1, 3, 2), None),
        ((5, 32, 64), (0, 2, 1), (slice(None), slice(None), slice(3, 51))),  # rows of a slice
        ((64, 16), (1, 0), None),  # whole tiles only
        ((8, 4, 20), (1, 2, 0), None),  # last two dims not simply swapped
        ((2, 16, 8, 8), (0, 2, 1, 3), None),  # attention's head split: rows of 8 contiguous floats
        ((20, 40), (0, 1), (slice(None), slice(5, 13))),  # short rows of a 2-D slice
        ((3, 7, 5, 16), (2, 0, 1, 3), (slice(None), slice(None, None, 2))),
    ],
)
def test_contiguous_of_transposed_views(shape, dims, sl):
    a = rnd(*shape, seed=3)
    t = to_md(a)
    ref = a
    if sl is not None:
        t, ref = t[sl], a[sl]
    out = t.permute(*dims).contiguous()
    assert out.is_contiguous()
    np.testing.assert_array_equal(out.numpy(), np.ascontiguousarray(ref.transpose(dims)))


@pytest.mark.parametrize(
    "shape,bad",
    [((2, 3), (4, 2)), ((2, 3), (-1, -1)), ((2, 3), (5, -1))],
)
def test_reshape_errors(shape, bad):
    with pytest.raises(ValueError, match="reshape|view"):
        md.zeros(*shape).reshape(*bad)


def test_expand_errors():
    with pytest.raises(ValueError, match=r"expand.*\[2, 3\]"):
        md.zeros(2, 3).expand(4, 3)


# ---------------------------------------------------------------- indexing

INDEXES = [
    1,
    -1,
    (0, 2),
    (slice(None), 1),
    slice(1, 3),
    slice(None, None, 2),
    (slice(None), slice(1, None, 2)),
    (slice(None), slice(None), slice(4, 0, None)),  # empty
    (slice(-3, None), slice(None, -1, 3)),
    (Ellipsis, 1),
    (Ellipsis, slice(None, None, 3)),
    (1, Ellipsis),
    (None, 1),
    (slice(None), None, slice(1, 2)),
    (0, None, Ellipsis, None),
    (slice(1, None), 1, slice(None, None, 2)),
    (-2, -1, -3),
    (slice(10, 20),),  # out-of-range slice clamps
]


@pytest.mark.parametrize("key", INDEXES, ids=[repr(k) for k in INDEXES])
def test_indexing(key):
    x = rnd(3, 4, 5, seed=11)
    out = to_md(x)[key]
    ref = x[key]
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out.numpy(), ref)
    if ref.size:
        check_grads(lambda t: t[key], [x])


def test_indexing_chain_of_views_gradient():
    x = rnd(6, 8, seed=12)
    check_grads(lambda t: t.transpose(0, 1)[1::3, ::2][:, 1:], [x])


@pytest.mark.parametrize(
    "key,exc",
    [(3, IndexError), (-4, IndexError), ((0, 0, 0, 0), IndexError), (slice(None, None, -1), ValueError)],
)
def test_indexing_errors(key, exc):
    with pytest.raises(exc):
        md.zeros(3, 4, 5)[key]


def test_index_later_ellipses_cover_no_dim():
    # as torch's (and unlike NumPy's, which refuses them): the first '...' covers the free dims
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(md.tensor(x)[..., 0, ...].numpy(), x[..., 0])
    np.testing.assert_array_equal(md.tensor(x)[0, ..., 1, ...].numpy(), x[0, :, 1])


# ---------------------------------------------------------------- cat and stack


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_cat(dim):
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for i, s in enumerate(shapes):
        s[dim] = i + 1
    arrs = [rnd(*s, seed=20 + i) for i, s in enumerate(shapes)]
    out = md.cat([to_md(a) for a in arrs], dim)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrs, axis=dim))
    check_grads(lambda a, b, c: F.cat([a, b, c], dim=dim), arrs)


def test_cat_with_a_non_contiguous_part_and_a_constant():
    a, b = rnd(4, 3, seed=1), rnd(2, 3, seed=2)

    def f(x, y):
        return md.cat([x.transpose(0, 1), y.transpose(0, 1), md.ones(3, 1)], 1)

    np.testing.assert_array_equal(f(to_md(a), to_md(b)).numpy(), np.concatenate([a.T, b.T, np.ones((3, 1))], 1))
    check_grads(f, [a, b])


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim):
    arrs = [rnd(2, 3, seed=30 + i) for i in range(3)]
    out = md.stack([to_md(a) for a in arrs], dim)
    np.testing.assert_array_equal(out.numpy(), np.stack(arrs, axis=dim))
    check_grads(lambda a, b, c: F.stack([a, b, c], dim=dim), arrs)


def test_cat_errors():
    with pytest.raises(ValueError, match=r"cat.*\[2, 3\].*\[2, 4\]"):
        md.cat([md.zeros(2, 3), md.zeros(2, 4)], 0)
    with pytest.raises(ValueError, match="cat"):
        md.cat([], 0)
    # mixed dtypes promote, as torch's (they raised before)
    mixed = md.cat([md.tensor([True]), md.tensor([2]), md.tensor([1.5], dtype="bfloat16"), md.tensor([0.25])], 0)
    assert mixed.dtype == "float32" and mixed.tolist() == [1.0, 2.0, 1.5, 0.25]
    assert md.cat([md.tensor([True]), md.tensor([3])]).dtype == "int64"


# ---------------------------------------------------------------- matmul and linear

MATMUL_CASES = [
    ("1d@1d", (5,), (5,), None),
    ("1d@2d", (4,), (4, 3), None),
    ("2d@1d", (3, 4), (4,), None),
    ("2d@2d", (3, 4), (4, 5), None),
    ("batched@2d", (2, 3, 4), (4, 5), None),
    ("2d@batched", (3, 4), (2, 4, 5), None),
    ("batched@batched", (2, 3, 4), (2, 4, 5), None),
    ("broadcast_batch", (2, 1, 3, 4), (3, 4, 5), None),
    ("broadcast_batch2", (1, 3, 3, 4), (2, 1, 4, 2), None),
    ("1d@batched", (4,), (2, 4, 3), None),
    ("batched@1d", (2, 3, 4), (4,), None),
    ("aT@b", (4, 3), (4, 5), "a"),
    ("a@bT", (3, 4), (5, 4), "b"),
    ("aT@bT", (4, 3), (5, 4), "ab"),
    ("batched_aT@bT", (2, 4, 3), (2, 5, 4), "ab"),
    ("row_vectors", (1, 4), (4, 1), None),
    ("odd_sizes", (7, 1), (1, 9), None),
]


@pytest.mark.parametrize("name,sa,sb,trans", MATMUL_CASES, ids=[c[0] for c in MATMUL_CASES])
def test_matmul(name, sa, sb, trans):
    a, b = rnd(*sa, seed=40), rnd(*sb, seed=41)
    trans = trans or ""

    def f(x, y):
        return (x.mT if "a" in trans else x) @ (y.mT if "b" in trans else y)

    an = np.swapaxes(a, -1, -2) if "a" in trans else a
    bn = np.swapaxes(b, -1, -2) if "b" in trans else b
    ref = np.matmul(an.astype(np.float64), bn.astype(np.float64))
    out = f(to_md(a), to_md(b))
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)
    check_grads(f, [a, b])
    if not trans:
        np.testing.assert_allclose(F.matmul(to_md(a), to_md(b)).numpy(), ref, rtol=1e-5, atol=1e-5)


def test_matmul_strided_batch_operand():
    # a batch slice with a step: the batch stride is not rows*cols, so the operand is copied
    a, b = rnd(4, 3, 2, seed=1), rnd(2, 2, 5, seed=2)
    f = lambda x, y: x[::2] @ y  # noqa: E731
    np.testing.assert_allclose(f(to_md(a), to_md(b)).numpy(), a[::2] @ b, rtol=1e-5, atol=1e-5)
    check_grads(f, [a, b])


def test_matmul_shape_error_names_shapes():
    with pytest.raises(ValueError, match=r"matmul.*\[2, 3\].*\[4, 5\]"):
        md.zeros(2, 3) @ md.zeros(4, 5)
    with pytest.raises(ValueError, match="matmul"):
        md.zeros(2, 3, 4) @ md.zeros(3, 4, 5)


@pytest.mark.parametrize("xshape", [(4,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(xshape, bias):
    x, w, b = rnd(*xshape, seed=50), rnd(5, 4, seed=51), rnd(5, seed=52)
    ref = x.astype(np.float64) @ w.T.astype(np.float64) + (b if bias else 0.0)
    args = [x, w, b] if bias else [x, w]
    out = F.linear(*[to_md(a) for a in args])
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)
    check_grads(F.linear, args)


def test_linear_non_contiguous_input_and_weight():
    x, w = rnd(4, 3, seed=1), rnd(4, 5, seed=2)
    f = lambda a, b: F.linear(a.transpose(0, 1), b.transpose(0, 1))  # noqa: E731
    np.testing.assert_allclose(f(to_md(x), to_md(w)).numpy(), x.T @ w, rtol=1e-5, atol=1e-5)
    check_grads(f, [x, w])


def test_linear_errors():
    with pytest.raises(ValueError, match=r"linear.*\[2, 3\].*\[5, 4\]"):
        F.linear(md.zeros(2, 3), md.zeros(5, 4))
    with pytest.raises(ValueError, match=r"linear.*bias.*\[4\]"):
        F.linear(md.zeros(2, 4), md.zeros(5, 4), md.zeros(4))


# ---------------------------------------------------------------- conv2d

CONV_CASES = [
    # (N, C, H, W), (K, R, S), stride, padding, bias
    ((1, 2, 5, 5), (3, 3, 3), 1, 0, True),
    ((2, 2, 5, 7), (3, 3, 3), 1, 1, True),
    ((2, 3, 7, 6), (2, 3, 3), 2, 1, False),
    ((1, 2, 6, 5), (3, 3, 3), 2, 0, True),
    ((2, 3, 4, 5), (4, 1, 1), 1, 0, True),
    ((1, 3, 5, 4), (2, 1, 1), 2, 0, False),
    ((2, 2, 3, 5), (3, 1, 1), 1, 1, True),
    ((1, 2, 5, 6), (3, 3, 1), (1, 2), (1, 0), True),
    ((3, 1, 4, 4), (2, 2, 2), 1, 0, False),
    ((1, 1, 3, 3), (1, 3, 3), 1, 1, True),
    ((2, 2, 9, 8), (3, 3, 3), 2, 1, True),
]


@pytest.mark.parametrize("xs,ws,stride,padding,bias", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
def test_conv2d(xs, ws, stride, padding, bias):
    x = rnd(*xs, seed=60)
    w = (rnd(ws[0], xs[1], ws[1], ws[2], seed=61) * 0.5).astype(np.float32)
    b = rnd(ws[0], seed=62)
    st = stride if isinstance(stride, tuple) else (stride, stride)
    pd = padding if isinstance(padding, tuple) else (padding, padding)
    ref = conv2d_ref(x, w, b if bias else None, st, pd)
    args = [x, w, b] if bias else [x, w]

    def f(*t):
        return F.conv2d(*t, stride=stride, padding=padding) if bias else F.conv2d(t[0], t[1], None, stride, padding)

    out = f(*[to_md(a) for a in args])
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)
    check_grads(f, args)


def test_cpu_winograd_tile_switch():
    # stride-1 3x3 convolutions with enough channels run Winograd on the CPU, F(4x4, 3x3) or
    # F(2x2, 3x3) by map size (0: auto); the switch forces one. Both meet the float64 reference,
    # and they are different algorithms (different rounding), so the switch does switch.
    x = rnd(4, 16, 12, 12, seed=7)
    w = (rnd(8, 16, 3, 3, seed=8) / 12).astype(np.float32)
    ref = conv2d_ref(x, w, None, (1, 1), (1, 1))
    assert md._core.cpu_winograd_tile() == 0
    outs = {}
    try:
        for tile in (2, 4):
            md._core.set_cpu_winograd_tile(tile)
            assert md._core.cpu_winograd_tile() == tile
            outs[tile] = F.conv2d(to_md(x), to_md(w), padding=1).numpy()
            np.testing.assert_allclose(outs[tile], ref, rtol=1e-5, atol=1e-5)
        assert not np.array_equal(outs[2], outs[4])
        with pytest.raises(ValueError, match="winograd tile.*3"):
            md._core.set_cpu_winograd_tile(3)
        assert md._core.cpu_winograd_tile() == 4
    finally:
        md._core.set_cpu_winograd_tile(0)


@pytest.mark.parametrize("env,tile", [("4", 4), ("2", 2), ("auto", 0), ("8", 0)])
def test_cpu_winograd_tile_from_environment(env, tile):
    # MINIDIFF_WINOGRAD_TILE sets the switch's start value; an unknown value means auto
    code = "import minidiff as md; print(md._core.cpu_winograd_tile())"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "MINIDIFF_WINOGRAD_TILE": env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == tile


def test_conv2d_non_contiguous_input():
    x = rnd(1, 5, 6, 2, seed=1)  # NHWC in memory, permuted to NCHW
    w = rnd(3, 2, 3, 3, seed=2)
    f = lambda a, b: F.conv2d(a.permute(0, 3, 1, 2), b, padding=1)  # noqa: E731
    ref = conv2d_ref(x.transpose(0, 3, 1, 2), w, None, (1, 1), (1, 1))
    np.testing.assert_allclose(f(to_md(x), to_md(w)).numpy(), ref, rtol=1e-5, atol=1e-5)
    check_grads(f, [x, w])


def test_conv2d_errors_name_the_shapes():
    x, w = md.zeros(1, 3, 8, 8), md.zeros(4, 2, 3, 3)
    with pytest.raises(ValueError, match=r"conv2d.*\[1, 3, 8, 8\].*\[4, 2, 3, 3\]"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match=r"conv2d.*4-D.*\[8, 8\]"):
        F.conv2d(md.zeros(8, 8), md.zeros(4, 3, 3, 3))
    # an unbatched (C, H, W) input is one image, as torch's
    assert F.conv2d(md.zeros(3, 8, 8), md.zeros(4, 3, 3, 3)).shape == (4, 6, 6)
    with pytest.raises(ValueError, match=r"conv2d.*larger"):
        F.conv2d(md.zeros(1, 3, 2, 2), md.zeros(4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d.*bias.*\[3\]"):
        F.conv2d(md.zeros(1, 3, 4, 4), md.zeros(4, 3, 3, 3), md.zeros(3))
    with pytest.raises(ValueError, match="conv2d.*stride"):
        F.conv2d(md.zeros(1, 3, 4, 4), md.zeros(4, 3, 3, 3), stride=0)
    with pytest.raises(TypeError, match="conv2d"):
        F.conv2d(md.zeros(1, 3, 4, 4, dtype="int64"), md.zeros(4, 3, 3, 3))


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize("groups", [1, 2, 3, 6])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("silu", [False, True])
def test_group_norm(groups, affine, silu):
    x = (rnd(2, 6, 3, 5, seed=70) * 2 + 0.5).astype(np.float32)
    w, b = rnd(6, seed=71), rnd(6, seed=72)
    ref = group_norm_ref(x, groups, w if affine else None, b if affine else None)
    if silu:
        ref = ref * sigmoid_ref(ref)
    op = F.group_norm_silu if silu else F.group_norm
    args = [x, w, b] if affine else [x]

    def f(*t):
        return op(t[0], groups, *t[1:], eps=1e-5)

    out = f(*[to_md(a) for a in args])
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-4)
    check_grads(f, args, eps=3e-3, rtol=5e-3, atol=5e-3)


def test_group_norm_3d_and_5d_inputs():
    for shape in [(3, 4, 7), (1, 4, 2, 3, 2)]:
        x, w, b = rnd(*shape, seed=73), rnd(4, seed=74), rnd(4, seed=75)
        f = lambda a, c, d: F.group_norm(a, 2, c, d)  # noqa: E731
        np.testing.assert_allclose(f(to_md(x), to_md(w), to_md(b)).numpy(), group_norm_ref(x, 2, w, b), atol=1e-4)
        check_grads(f, [x, w, b], eps=3e-3, rtol=5e-3, atol=5e-3)


def test_group_norm_errors():
    with pytest.raises(ValueError, match=r"group_norm.*num_groups=4.*\[2, 6, 3, 3\]"):
        F.group_norm(md.zeros(2, 6, 3, 3), 4)
    with pytest.raises(ValueError, match=r"group_norm.*weight.*\[5\]"):
        F.group_norm(md.zeros(2, 6, 3, 3), 3, md.ones(5))


@pytest.mark.parametrize("nshape", [(5,), (3, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(nshape, affine):
    x = (rnd(2, 3, 5, seed=80) * 1.5 - 0.3).astype(np.float32)
    w, b = rnd(*nshape, seed=81), rnd(*nshape, seed=82)
    ref = layer_norm_ref(x, nshape, w if affine else None, b if affine else None)
    args = [x, w, b] if affine else [x]

    def f(*t):
        return F.layer_norm(t[0], nshape, *t[1:])

    np.testing.assert_allclose(f(*[to_md(a) for a in args]).numpy(), ref, rtol=1e-4, atol=1e-4)
    check_grads(f, args, eps=3e-3, rtol=5e-3, atol=5e-3)


def test_layer_norm_errors():
    with pytest.raises(ValueError, match=r"layer_norm.*\[4\].*\[2, 5\]"):
        F.layer_norm(md.zeros(2, 5), (4,))


# ---------------------------------------------------------------- softmax and attention


@pytest.mark.parametrize("dim", [-1, 2, 1, 0, -2])
def test_softmax(dim):
    x = (rnd(3, 4, 5, seed=90) * 2).astype(np.float32)
    out = F.softmax(to_md(x), dim=dim)
    np.testing.assert_allclose(out.numpy(), softmax_ref(x.astype(np.float64), dim), rtol=1e-5, atol=1e-6)
    check_grads(lambda t: F.softmax(t, dim), [x])


def test_softmax_is_stable_for_large_inputs():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0]], np.float32)
    out = to_md(x).softmax(-1).numpy()
    np.testing.assert_allclose(out, softmax_ref(x.astype(np.float64), -1), rtol=1e-5, atol=1e-7)


ATTN_CASES = [
    ("2d", (5, 4), (6, 4), (6, 3), None),
    ("3d", (2, 5, 4), (2, 7, 4), (2, 7, 4), None),
    ("4d_heads", (2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 7), None),
    ("custom_scale", (2, 4, 3), (2, 5, 3), (2, 5, 2), 0.3),
    ("one_key", (1, 3, 4), (1, 1, 4), (1, 1, 4), 1.0),
]


@pytest.mark.parametrize("name,sq,sk,sv,scale", ATTN_CASES, ids=[c[0] for c in ATTN_CASES])
def test_scaled_dot_product_attention(name, sq, sk, sv, scale):
    q, k, v = rnd(*sq, seed=100), rnd(*sk, seed=101), rnd(*sv, seed=102)

    def f(a, b, c):
        return F.scaled_dot_product_attention(a, b, c, scale=scale)

    out = f(to_md(q), to_md(k), to_md(v))
    ref = attention_ref(q, k, v, scale)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)
    check_grads(f, [q, k, v])


def test_attention_on_transposed_views():
    # (B, L, H, D) laid out tokens-first, viewed as (B, H, L, D) as an attention block does
    q, k, v = rnd(2, 5, 3, 4, seed=1), rnd(2, 6, 3, 4, seed=2), rnd(2, 6, 3, 4, seed=3)

    def f(a, b, c):
        return F.scaled_dot_product_attention(a.transpose(1, 2), b.transpose(1, 2), c.transpose(1, 2))

    ref = attention_ref(q.swapaxes(1, 2), k.swapaxes(1, 2), v.swapaxes(1, 2))
    np.testing.assert_allclose(f(to_md(q), to_md(k), to_md(v)).numpy(), ref, rtol=1e-5, atol=1e-5)
    check_grads(f, [q, k, v])


def test_attention_errors():
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention.*\[2, 6, 3\].*\[2, 5, 4\]"):
        F.scaled_dot_product_attention(md.zeros(2, 5, 4), md.zeros(2, 6, 3), md.zeros(2, 6, 3))
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(md.zeros(2, 5, 4), md.zeros(2, 6, 4), md.zeros(2, 7, 4))


# ---------------------------------------------------------------- interpolate, pad, embedding


@pytest.mark.parametrize(
    "kwargs,reps",
    [
        ({}, (2, 2)),
        ({"scale_factor": 2}, (2, 2)),
        ({"scale_factor": 3}, (3, 3)),
        ({"scale_factor": 2.0}, (2, 2)),
        ({"scale_factor": (1, 2)}, (1, 2)),
        ({"size": (6, 9)}, (2, 3)),
    ],
)
def test_interpolate_nearest(kwargs, reps):
    x = rnd(2, 3, 3, 3, seed=110)
    out = F.interpolate(to_md(x), mode="nearest", **kwargs)
    ref = x.repeat(reps[0], axis=2).repeat(reps[1], axis=3)
    np.testing.assert_array_equal(out.numpy(), ref)
    check_grads(lambda t: F.interpolate(t, **kwargs), [x])


def test_interpolate_errors():
    with pytest.raises(ValueError, match="interpolate"):
        F.interpolate(md.zeros(1, 1, 2, 2), mode="bilinear")
    with pytest.raises(ValueError, match=r"interpolate.*4-D.*\[2, 2\]"):
        F.interpolate(md.zeros(2, 2))


PAD_CASES = [
    [1, 2],
    [0, 0],
    [2, 0, 0, 1],
    [-1, 1],
    [-1, -2, 1, 0],
    [1, 1, 1, 1, 1, 1],
    [0, 0, -1, 0, 2, -1],
]


@pytest.mark.parametrize("pads", PAD_CASES, ids=[str(p) for p in PAD_CASES])
def test_pad(pads):
    x = rnd(2, 3, 4, seed=120)
    out = F.pad(to_md(x), pads, value=0.5)
    # NumPy reference: pad the positive parts, then crop the negative parts
    width = [(0, 0)] * x.ndim
    crop = [slice(None)] * x.ndim
    for i in range(len(pads) // 2):
        d = x.ndim - 1 - i
        lo, hi = pads[2 * i], pads[2 * i + 1]
        width[d] = (max(lo, 0), max(hi, 0))
        crop[d] = slice(max(-lo, 0), x.shape[d] + max(lo, 0) + max(hi, 0) - max(-hi, 0))
    ref = np.pad(x, width, constant_values=0.5)[tuple(crop)]
    assert out.shape == ref.shape
    np.testing.assert_array_equal(out.numpy(), ref)
    check_grads(lambda t: F.pad(t, pads), [x])


def test_pad_errors():
    with pytest.raises(ValueError, match="pad"):
        F.pad(md.zeros(2, 3), [1])
    with pytest.raises(ValueError, match=r"pad.*\[2, 3\]"):
        F.pad(md.zeros(2, 3), [1, 1, 1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"pad.*\[2, 3\]"):
        F.pad(md.zeros(2, 3), [-2, -2])
    # a crop larger than the dim is an error even where the other side's padding would leave a
    # non-negative size (torch refuses these too); cropping a dim to exactly zero is allowed
    for pads in ([-4, 2], [2, -4], [-5, 3]):
        with pytest.raises(ValueError, match=r"pad.*crops more than dim 1.*\[2, 3\]"):
            F.pad(md.zeros(2, 3), pads)
    assert F.pad(md.zeros(2, 3), [-3, 0]).shape == (2, 0)


@pytest.mark.parametrize("idx_shape", [(5,), (2, 3), ()])
def test_embedding(idx_shape):
    w = rnd(6, 4, seed=130)
    idx = np.random.default_rng(131).integers(0, 6, size=idx_shape)
    if idx.size > 1:
        idx.flat[0] = idx.flat[-1]  # a repeated index: its rows' gradients must add up
    out = F.embedding(md.tensor(idx), to_md(w))
    np.testing.assert_array_equal(out.numpy(), w[idx])
    grads = check_grads(lambda i, t: F.embedding(i, t), [idx, w])
    assert grads[0].shape == w.shape


def test_embedding_errors():
    w = md.zeros(5, 3)
    with pytest.raises(IndexError, match=r"embedding.*\[5, 3\]"):
        F.embedding(md.tensor(np.array([0, 5])), w)
    with pytest.raises(IndexError, match="embedding"):
        F.embedding(md.tensor(np.array([-1])), w)
    with pytest.raises(TypeError, match="embedding.*int64"):
        F.embedding(md.tensor(np.array([0.0, 1.0])), w)


# ---------------------------------------------------------------- dropout


def test_dropout_identities():
    x = rnd(50, seed=140)
    t = to_md(x)
    np.testing.assert_array_equal(F.dropout(t, 0.0).numpy(), x)
    np.testing.assert_array_equal(F.dropout(t, 0.7, training=False).numpy(), x)
    np.testing.assert_array_equal(F.dropout(t, 1.0).numpy(), np.zeros(50, np.float32))
    tg = to_md(x, requires_grad=True)
    F.dropout(tg, 1.0).sum().backward()
    np.testing.assert_array_equal(tg.grad.numpy(), np.zeros(50, np.float32))
    tg = to_md(x, requires_grad=True)
    F.dropout(tg, 0.3, training=False).sum().backward()
    np.testing.assert_array_equal(tg.grad.numpy(), np.ones(50, np.float32))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_statistics_and_gradient(p):
    n = 200_000
    x = rnd(n, seed=141, lo=1.0, hi=2.0)
    t = to_md(x, requires_grad=True)
    y = F.dropout(t, p, generator=md.Generator(5))
    yn = y.numpy()
    kept = yn != 0
    # the dropped fraction is Binomial(n, p) / n: within 5 standard deviations of p
    assert abs((1 - kept.mean()) - p) < 5 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(yn[kept], x[kept] / (1 - p), rtol=1e-6)
    w = rnd(n, seed=142)
    y.backward(md.tensor(w))
    np.testing.assert_allclose(t.grad.numpy(), w * kept / (1 - p), rtol=1e-6)
    # no spatial structure: neighbouring decisions are uncorrelated
    k = kept.astype(np.float64)
    corr = np.corrcoef(k[:-1], k[1:])[0, 1]
    assert abs(corr) < 0.02


def test_dropout_is_deterministic_under_a_seeded_generator():
    x = md.ones(1000)
    a = F.dropout(x, 0.5, generator=md.Generator(123)).numpy()
    b = F.dropout(x, 0.5, generator=md.Generator(123)).numpy()
    c = F.dropout(x, 0.5, generator=md.Generator(124)).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    g = md.Generator(7)
    d1 = F.dropout(x, 0.5, generator=g).numpy()
    d2 = F.dropout(x, 0.5, generator=g).numpy()
    assert (d1 != d2).any()  # the generator advances between draws
    md.manual_seed(99)
    e1 = F.dropout(x, 0.5).numpy()
    md.manual_seed(99)
    e2 = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(e1, e2)


def test_dropout_rejects_bad_probability():
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout"):
            F.dropout(md.ones(3), p)


# ---------------------------------------------------------------- mse_loss


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    a, b = rnd(3, 4, seed=150), rnd(3, 4, seed=151)
    d = (a.astype(np.float64) - b) ** 2
    ref = {"mean": d.mean(), "sum": d.sum(), "none": d}[reduction]
    out = F.mse_loss(to_md(a), to_md(b), reduction=reduction)
    assert out.shape == np.shape(ref)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)
    check_grads(lambda x, y: F.mse_loss(x, y, reduction=reduction), [a, b])


def test_mse_loss_target_without_grad_and_errors():
    a, b = rnd(5, seed=1), rnd(5, seed=2)
    ta = to_md(a, requires_grad=True)
    F.mse_loss(ta, to_md(b)).backward()
    np.testing.assert_allclose(ta.grad.numpy(), 2 * (a - b) / 5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"mse_loss.*\[5\].*\[4\]"):
        F.mse_loss(md.zeros(5), md.zeros(4))
    with pytest.raises(ValueError, match="mse_loss.*reduction"):
        F.mse_loss(md.zeros(5), md.zeros(5), reduction="avg")


# ---------------------------------------------------------------- the checker itself


def test_gradient_checker_detects_a_wrong_gradient():
    # t * t.detach() has true derivative 2t along the FD path but backward sees only t
    x = rnd(4, seed=160, lo=0.5, hi=1.5)
    with pytest.raises(AssertionError):
        check_grads(lambda t: t * t.detach(), [x])


# ---------------------------------------------------------------- regressions


def test_linear_with_zero_in_features():
    # used to crash the process (SIGFPE): the bias was broadcast over 0 rows
    x, w, b = md.zeros(4, 2, 0), md.zeros(3, 0), to_md(rnd(3, seed=1))
    out = F.linear(x, w, b)
    assert out.shape == (4, 2, 3)
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to(rnd(3, seed=1), (4, 2, 3)))
    np.testing.assert_array_equal(F.linear(md.zeros(2, 0), w).numpy(), np.zeros((2, 3)))
    bg = to_md(rnd(3, seed=1), requires_grad=True)
    F.linear(x, w, bg).sum().backward()
    np.testing.assert_array_equal(bg.grad.numpy(), np.full(3, 8.0))


def test_linear_with_zero_rows_has_zero_weight_gradient():
    # no rows: the weight gradient is zero, not the uninitialised memory a product would overwrite
    w = to_md(rnd(3, 4, seed=2), requires_grad=True)
    x = md.zeros(0, 4, requires_grad=True)
    F.linear(x, w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((3, 4)))
    assert x.grad.shape == (0, 4)


@pytest.mark.parametrize(
    "op,ref",
    [
        (lambda t: t.sum(dim=0), 5.0),
        (lambda t: t.sum(dim=-1, keepdim=True), 5.0),
        (lambda t: t.mean(dim=0), 5.0),
        (lambda t: t.max(dim=0).values, 5.0),
        (lambda t: t.transpose(0, -1), 5.0),
        (lambda t: t.squeeze(0), 5.0),
        (lambda t: F.softmax(t, 0), 1.0),
        (lambda t: F.sum(t, 0), 5.0),
    ],
)
def test_dim_ops_on_zero_dim_tensors(op, ref):
    # these indexed an empty shape vector and crashed the process
    t = md.tensor(5.0, requires_grad=True)
    out = op(t)
    assert out.shape == () and out.item() == ref
    out.backward()
    assert t.grad.shape == ()


def test_dim_errors_on_zero_dim_tensors():
    t = md.tensor(5.0)
    for f in (lambda: t.sum(dim=1), lambda: t.transpose(0, 1), lambda: t.max(dim=2), lambda: t.squeeze(3)):
        with pytest.raises(IndexError, match="0 dimensions"):
            f()
    with pytest.raises(ValueError, match=r"chunk.*\[\]"):
        t.chunk(1)
    with pytest.raises(IndexError, match="size"):
        t.size(0)


def test_sum_of_zero_dim_tensor_is_a_new_tensor():
    t = md.tensor(3.0)
    s = t.sum()
    s.fill_(0.0)
    assert t.item() == 3.0


def test_unsqueeze_of_a_non_contiguous_tensor_is_a_view():
    y = md.zeros(2, 3)
    u = y.transpose(0, 1).unsqueeze(1)
    assert u.shape == (3, 1, 2)
    u.copy_(md.ones(3, 1, 2))
    np.testing.assert_array_equal(y.numpy(), np.ones((2, 3)))
    x = rnd(2, 3, seed=3)
    check_grads(lambda t: t.transpose(0, 1).unsqueeze(1) * 2.0, [x])


def test_stack_error_names_stack_and_shapes():
    with pytest.raises(ValueError, match=r"stack.*\[2, 3\].*\[2, 4\]"):
        md.stack([md.zeros(2, 3), md.zeros(2, 4)], 0)


# ---------------------------------------------------------------- thread splitting


@pytest.fixture
def threads():
    """Runs a test body at a chosen thread count and restores the previous one."""
    prev = md.get_num_threads()
    yield md.set_num_threads
    md.set_num_threads(prev)


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,k,n", [(300, 130, 170), (170, 130, 300), (33, 400, 333)])
def test_large_products_split_across_threads(threads, ta, tb, m, k, n):
    # big enough (> 4 MFLOP) for the product to be split into panels, one per thread
    a, b = rnd(m, k, seed=1), rnd(k, n, seed=2)
    ta_arr = np.ascontiguousarray(a.T) if ta else a
    tb_arr = np.ascontiguousarray(b.T) if tb else b
    ref = a.astype(np.float64) @ b.astype(np.float64)
    for t in (1, 2, 3):
        threads(t)
        x = to_md(ta_arr).transpose(0, 1) if ta else to_md(ta_arr)
        y = to_md(tb_arr).transpose(0, 1) if tb else to_md(tb_arr)
        np.testing.assert_allclose((x @ y).numpy(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("pointwise", [False, True])
def test_conv2d_same_result_at_any_thread_count(threads, n, pointwise):
    # batch >= threads runs whole images per thread (when the conv is over 4 MFLOP); smaller batches
    # split each image's work
    H, W = (40, 36) if pointwise else (20, 18)
    x = rnd(n, 24, H, W, seed=3)
    w = (rnd(32, 24, 1, 1, seed=4) if pointwise else rnd(32, 24, 3, 3, seed=4) * 0.2).astype(np.float32)
    b = rnd(32, seed=5)
    pad = 0 if pointwise else 1
    g = rnd(n, 32, H, W, seed=6)
    ref = conv2d_ref(x, w, b, (1, 1), (pad, pad))
    results = []
    for t in (1, 2, 4):
        threads(t)
        tx, tw, tb = to_md(x, True), to_md(w, True), to_md(b, True)
        out = F.conv2d(tx, tw, tb, padding=pad)
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-4, atol=1e-4)
        out.backward(to_md(g))
        results.append([t_.grad.numpy() for t_ in (tx, tw, tb)])
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_allclose(a, b_, rtol=1e-4, atol=1e-4)
    # weight and bias gradients against direct sums, the input gradient against the adjoint
    # identity <g, conv(x)> = <conv^T(g), x>
    R = w.shape[2]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dw = np.stack(
        [
            np.stack([np.einsum("nkpq,ncpq->kc", g, xp[:, :, r : r + H, s : s + W]) for s in range(R)], -1)
            for r in range(R)
        ],
        -2,
    )
    np.testing.assert_allclose(results[0][1], dw, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(results[0][2], g.sum(axis=(0, 2, 3)), rtol=1e-4, atol=1e-4)
    gx = results[0][0].astype(np.float64)
    lhs = np.sum(g * (ref - b[None, :, None, None]))
    np.testing.assert_allclose(np.sum(gx * x), lhs, rtol=1e-4)


def test_pow_tensor_exponent_gradients_at_zero_base():
    # torch's values where the formulas meet 0 * inf: d/da is 0 where b == 0, d/db is 0 where
    # a == 0 and b >= 0; elsewhere at a == 0 they follow the formulas (inf, -inf, nan)
    a = np.array([0.0, 0.0, 0.0, 0.0, 2.0, -2.0, 0.0], dtype=np.float32)
    b = np.array([2.0, 0.0, 0.5, -1.0, 3.0, 2.0, 1.0], dtype=np.float32)
    ta, tb = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    (ta**tb).sum().backward()
    with np.errstate(all="ignore"):
        ga = np.where(b == 0, 0.0, b * np.power(a, b - 1))
        gb = np.where((a == 0) & (b >= 0), 0.0, np.power(a, b) * np.log(a))
    np.testing.assert_allclose(ta.grad.numpy(), ga, rtol=1e-6)
    np.testing.assert_allclose(tb.grad.numpy(), gb, rtol=1e-6)
    assert ta.grad.numpy()[1] == 0.0 and tb.grad.numpy()[0] == 0.0 and tb.grad.numpy()[1] == 0.0
    assert np.isnan(tb.grad.numpy()[5])  # log of a negative base, as in torch


def test_pow_zero_exponent_gradient_at_zero():
    # d/dx x**0 is 0 everywhere; 0 * x**-1 used to give NaN at x = 0
    x = md.tensor([0.0, 2.0, -1.5], requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    y = md.tensor([0.0, 2.0], requires_grad=True)
    (y**2).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 4.0])


def test_square_power_is_exactly_x_times_x():
    """x ** 2 rounds once, as x * x (and torch's x ** 2) does; powf may differ in the last bit."""
    x = np.random.default_rng(3).standard_normal(20000).astype(np.float32) * 100
    np.testing.assert_array_equal((md.tensor(x) ** 2).numpy(), x * x)
    np.testing.assert_array_equal(md.pow(md.tensor(x), md.full((1,), 2.0)).numpy(), x * x)


def test_exp_gives_denormal_results_as_numpy():
    # e^x below 2^-126 is a denormal float32 (not flushed to 0), within one denormal step of exact
    x = np.linspace(-103.9, -87.0, 5001, dtype=np.float32)
    got = md.exp(md.tensor(x)).numpy().astype(np.float64)
    want = np.exp(x.astype(np.float64))
    assert np.abs(got - want).max() < 2.0**-149
    assert (got[x < -87.4] > 0).all() and (got[x < -87.4] < np.finfo(np.float32).tiny).all()
    assert md.exp(md.tensor([-104.0, -200.0, -np.inf])).numpy().tolist() == [0.0, 0.0, 0.0]
    # softmax of a far smaller logit is the denormal it is
    p = md.F.softmax(md.tensor([[0.0, -100.0]]), dim=1).numpy()
    assert p[0, 1] == np.float32(np.exp(-100.0))


def test_conv_with_an_empty_kernel_raises_naming_the_weight():
    with pytest.raises(ValueError, match=r"conv2d: the kernel of weight \[4, 3, 0, 3\] must be at least 1x1"):
        md.F.conv2d(md.randn(1, 3, 7, 7), md.randn(4, 3, 0, 3))
    with pytest.raises(ValueError, match=r"conv_transpose2d: the kernel of weight \[3, 4, 2, 0\]"):
        md.F.conv_transpose2d(md.randn(1, 3, 7, 7), md.randn(3, 4, 2, 0))


def test_gelu_keeps_its_value_in_the_negative_tail():
    # 0.5 * x * erfc(-x / sqrt(2)) against math.erfc: relative, where 1 + erf(x) would cancel away
    x = np.linspace(-11.0, 4.0, 3001, dtype=np.float32)
    t = md.tensor(x, requires_grad=True)
    y = md.F.gelu(t)
    want = np.array([0.5 * float(v) * math.erfc(-float(v) / math.sqrt(2.0)) for v in x])
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=2e-5, atol=1e-37)
    y.sum().backward()
    dwant = np.array(
        [
            0.5 * math.erfc(-float(v) / math.sqrt(2))
            + float(v) * math.exp(-0.5 * float(v) ** 2) / math.sqrt(2 * math.pi)
            for v in x
        ]
    )
    np.testing.assert_allclose(t.grad.numpy(), dwant, rtol=1e-4, atol=1e-6)
