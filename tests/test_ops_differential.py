"""Differential tests of the core tensor ops and autograd against PyTorch (CPU, float32 and int64), aimed at
the corners the per-op tests leave out: non-contiguous inputs (transposed, permuted, sliced with steps,
expanded with stride 0, views of views), broadcasting with 0-d / size-1 / empty dims, reductions over
several, negative or empty dims, the same tensor used twice in one op, autograd bookkeeping, special
values (inf, NaN, -0.0, huge and tiny magnitudes) and the errors bad calls raise.

Each case runs the same call in both frameworks on the same data and compares values, shapes, dtypes
(torch's bool results read as minidiff's float32 masks, as the README documents) and the gradients of
the leaves for the same upstream gradient. NaN must match NaN and an infinity the same infinity.

Tests marked ``xfail(strict=True)`` reproduce a known difference from torch that is a bug; each one's
reason says what differs. Skipped when torch is not installed."""

from __future__ import annotations

import numpy as np
import pytest

import minidiff as md
import minidiff.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
torch.set_num_threads(2)

# ---------------------------------------------------------------- helpers


def randn(*shape, seed=0, scale=1.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, dtype=np.float32)


def _leaf(lib, a, requires_grad):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return lib.tensor(a.astype(np.float32), requires_grad=requires_grad)
    return lib.tensor(a.astype(np.int64))


def assert_same(ours, ref, rtol=1e-4, atol=1e-5, what=""):
    """Equal shapes; NaN where the reference has NaN, the same infinities, finite values close (atol
    scaled by the reference's largest finite magnitude)."""
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != torch's {ref.shape}"
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{what}: NaN positions")
    inf = np.isinf(ref)
    np.testing.assert_array_equal(ours[inf], ref[inf], err_msg=f"{what}: infinities")
    fin = np.isfinite(ref)
    if fin.any():
        scale = max(1.0, float(np.abs(ref[fin]).max()))
        np.testing.assert_allclose(ours[fin], ref[fin], rtol=rtol, atol=atol * scale, err_msg=what)


def _dtype_name(t):
    name = str(t.dtype).replace("torch.", "").replace("minidiff.", "")
    return "float32" if name == "bool" else name


def compare(fm, ft, arrays, views=None, *, grad=True, rtol=1e-4, atol=1e-5, upstream_seed=7):
    """Runs fm on minidiff leaves and ft on torch leaves made from ``arrays`` (each passed through
    ``views[i]`` first, the same lambda for both), compares the outputs and, if ``grad``, the float
    leaves' gradients for one random upstream gradient."""
    views = views or [None] * len(arrays)
    wrt = [i for i, a in enumerate(arrays) if grad and np.asarray(a).dtype.kind == "f"]
    leaves_m = [_leaf(md, a, i in wrt) for i, a in enumerate(arrays)]
    leaves_t = [_leaf(torch, a, i in wrt) for i, a in enumerate(arrays)]
    in_m = [v(x) if v else x for v, x in zip(views, leaves_m)]
    in_t = [v(x) if v else x for v, x in zip(views, leaves_t)]
    om, ot = fm(*in_m), ft(*in_t)
    assert tuple(om.shape) == tuple(ot.shape), f"shape {tuple(om.shape)} != torch's {tuple(ot.shape)}"
    assert _dtype_name(om) == _dtype_name(ot), f"dtype {om.dtype} != torch's {ot.dtype}"
    assert_same(om.numpy(), ot.detach().numpy().astype(np.float64), rtol, atol, "forward")
    if not wrt or not ot.requires_grad:
        return
    w = np.random.default_rng(upstream_seed).standard_normal(tuple(ot.shape)).astype(np.float32)
    om.backward(md.tensor(w))
    ot.backward(torch.from_numpy(w))
    for i in wrt:
        gm, gt = leaves_m[i].grad, leaves_t[i].grad
        assert (gm is None) == (gt is None), f"input {i}: gradient is None in one framework only"
        if gt is not None:
            assert_same(gm.numpy(), gt.numpy(), rtol, atol, f"gradient of input {i}")


def T2(t):
    return t.transpose(-1, -2)


# Each view kind: (name, base shape, view) giving a (4, 6)-ish non-contiguous tensor from its base.
VIEWS = [
    ("contiguous", (4, 6), None),
    ("T", (6, 4), lambda t: t.T),
    ("permuted3d", (2, 3, 4), lambda t: t.permute(2, 0, 1)),
    ("step", (4, 12), lambda t: t[:, ::2]),
    ("row_step_offset", (9, 5), lambda t: t[1::2, 1:]),
    ("expanded", (1, 6), lambda t: t.expand(4, 6)),
    ("expanded_mid", (3, 1, 4), lambda t: t.expand(3, 5, 4)),
    ("view_of_view", (6, 8), lambda t: t.T[::2, 1:]),
    ("narrow", (5, 7), lambda t: t.narrow(1, 2, 3)),
    ("select_col", (4, 5), lambda t: t[:, 2]),
    ("zero_d", (), None),
    ("empty", (0, 4), None),
]

# ---------------------------------------------------------------- elementwise ops on every view kind

UNARY = {
    "neg": (lambda t: -t, lambda t: -t),
    "abs": (lambda t: t.abs(), lambda t: t.abs()),
    "exp": (md.exp, torch.exp),
    "log_abs": (lambda t: md.log(t.abs() + 0.1), lambda t: torch.log(t.abs() + 0.1)),
    "sqrt_abs": (lambda t: md.sqrt(t.abs() + 0.1), lambda t: torch.sqrt(t.abs() + 0.1)),
    "tanh": (md.tanh, torch.tanh),
    "sigmoid": (md.sigmoid, torch.sigmoid),
    "relu": (md.relu, torch.relu),
    "silu": (F.silu, TF.silu),
    "gelu": (F.gelu, TF.gelu),
    "square": (md.square, torch.square),
    "pow3": (lambda t: t**3, lambda t: t**3),
    "rpow": (lambda t: 2.0**t, lambda t: 2.0**t),
    "clamp": (lambda t: t.clamp(-1, 1), lambda t: t.clamp(-1, 1)),
    "self_mul": (lambda t: t * t, lambda t: t * t),
    "self_add_sub": (lambda t: (t + t) - t * 0.5, lambda t: (t + t) - t * 0.5),
    "where_self": (lambda t: md.where(t > 0, t, -2 * t), lambda t: torch.where(t > 0, t, -2 * t)),
    "cumsum": (lambda t: t.cumsum(-1) if t.ndim else t * 1, lambda t: t.cumsum(-1) if t.ndim else t * 1),
    "softmax": (lambda t: F.softmax(t, -1), lambda t: TF.softmax(t, -1)),
    "sum": (lambda t: t.sum(), lambda t: t.sum()),
    "mean_keepdim": (lambda t: t.mean(-1, keepdim=True), lambda t: t.mean(-1, keepdim=True)),
    "amax_first_dim": (lambda t: t.amax(0) if t.ndim else t * 1, lambda t: t.amax(0) if t.ndim else t * 1),
    "contiguous_reshape": (lambda t: t.contiguous().reshape(-1), lambda t: t.contiguous().reshape(-1)),
    "flip": (lambda t: t.flip(0) if t.ndim else t * 1, lambda t: t.flip(0) if t.ndim else t * 1),
}


@pytest.mark.parametrize("view", VIEWS, ids=[v[0] for v in VIEWS])
@pytest.mark.parametrize("op", list(UNARY))
def test_unary_ops_on_every_view_kind(op, view):
    name, shape, v = view
    if op in ("amax_first_dim", "softmax") and shape and 0 in shape:
        pytest.skip("no identity for an empty max")
    x = randn(*shape, seed=3, scale=2.0)
    compare(*UNARY[op], [x], [v])


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a.abs() ** b, lambda a, b: a.abs() ** b),
    "maximum": (md.maximum, torch.maximum),
    "minimum": (md.minimum, torch.minimum),
    "where": (lambda a, b: md.where(a > b, a, b), lambda a, b: torch.where(a > b, a, b)),
    "lt": (lambda a, b: a < b, lambda a, b: a < b),
    "remainder": (md.remainder, torch.remainder),
}

SHAPE_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((), (3, 4)),
    ((3, 4), ()),
    ((2, 1, 4), (3, 1)),
    ((0, 4), (4,)),
    ((0, 4), (1, 4)),
    ((3, 0), (3, 1)),
    ((1,), (0,)),
    ((5, 1, 1), (1, 1, 1)),
]


def _view_for(kind, shape):
    """(base shape, view) making ``shape`` as a non-contiguous view of the given kind."""
    if kind == "none" or len(shape) < 2:
        return shape, None
    if kind == "T":
        return tuple(reversed(shape)), (lambda t: t.permute(*range(len(shape) - 1, -1, -1)))
    if kind == "step":
        return shape[:-1] + (shape[-1] * 2,), (lambda t: t[..., ::2])
    return (1,) + shape[1:], (lambda t: t.expand(*shape))  # expand


@pytest.mark.parametrize("kinds", [("none", "none"), ("T", "step"), ("expand", "T")], ids="-".join)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_broadcasting_and_views(op, shapes, kinds):
    (sa, va), (sb, vb) = _view_for(kinds[0], shapes[0]), _view_for(kinds[1], shapes[1])
    a, b = randn(*sa, seed=1, scale=2.0), randn(*sb, seed=2, scale=2.0)
    if op == "remainder":  # divisors away from 0 (both operands 0-d: test_division_family_keeps_zero_d_shape)
        b = np.sign(b) * (np.abs(b) + 0.5)
    compare(*BINARY[op], [a, b], [va, vb], grad=op != "lt")


@pytest.mark.parametrize("scalar", [2, 2.5, -0.0, 0, float("inf"), float("nan")])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum_t", "lt"])
def test_python_scalar_operands_both_sides(op, scalar):
    fns = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "pow": lambda a, b: a**b,
        "lt": lambda a, b: a < b,
    }
    x = randn(3, 4, seed=4)
    if op == "maximum_t":
        compare(
            lambda t: md.maximum(t, md.tensor(scalar)), lambda t: torch.maximum(t, torch.tensor(float(scalar))), [x]
        )
        return
    f = fns[op]
    compare(lambda t: f(t, scalar), lambda t: f(t, scalar), [x], grad=op != "lt")
    compare(lambda t: f(scalar, t), lambda t: f(scalar, t), [x], grad=op != "lt")


# ---------------------------------------------------------------- the same tensor used twice


@pytest.mark.parametrize(
    "fm,ft",
    [
        (lambda x: x * x, lambda x: x * x),
        (lambda x: x @ x.T, lambda x: x @ x.T),
        (lambda x: x @ x[:, :4].T.T.T, lambda x: x @ x[:, :4].T.T.T),
        (lambda x: md.cat([x, x, x.flip(0)], 1), lambda x: torch.cat([x, x, x.flip(0)], 1)),
        (lambda x: md.stack([x, x.T.T], 0), lambda x: torch.stack([x, x.T.T], 0)),
        (lambda x: x / (x * x + 1), lambda x: x / (x * x + 1)),
        (lambda x: x.abs() ** x, lambda x: x.abs() ** x),
        (lambda x: F.linear(x, x[:, :4].T), lambda x: TF.linear(x, x[:, :4].T)),
        (lambda x: md.maximum(x, x.flip(1)), lambda x: torch.maximum(x, x.flip(1))),
        (lambda x: x[:, 1:] - x[:, :-1], lambda x: x[:, 1:] - x[:, :-1]),
        (lambda x: x.expand(2, 4, 4) * x.unsqueeze(0), lambda x: x.expand(2, 4, 4) * x.unsqueeze(0)),
    ],
    ids=["x*x", "x@x.T", "x@slice", "cat", "stack", "x/(x*x+1)", "x**x", "linear", "maximum_flip", "diff", "expand"],
)
def test_same_tensor_twice_in_one_op(fm, ft):
    compare(fm, ft, [randn(4, 4, seed=5) + 0.1])


# ---------------------------------------------------------------- structured ops on non-contiguous inputs

STRUCTURED = [
    ("matmul_TT", lambda a, b: a @ b, lambda a, b: a @ b, [(5, 4), (3, 5)], [T2, T2]),
    ("matmul_step", lambda a, b: a @ b, lambda a, b: a @ b, [(4, 10), (5, 3)], [lambda t: t[:, ::2], None]),
    ("matmul_vec_mat", lambda a, b: a @ b, lambda a, b: a @ b, [(10,), (5, 3)], [lambda t: t[::2], None]),
    ("matmul_mat_vec", lambda a, b: a @ b, lambda a, b: a @ b, [(5, 4), (5,)], [T2, None]),
    ("matmul_bcast_batch", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 1, 4, 5), (3, 5, 2)], [None, None]),
    (
        "matmul_expand_batch",
        lambda a, b: a @ b,
        lambda a, b: a @ b,
        [(1, 4, 5), (3, 5, 2)],
        [lambda t: t.expand(3, 4, 5), None],
    ),
    (
        "matmul_perm_batch",
        lambda a, b: a @ b,
        lambda a, b: a @ b,
        [(4, 2, 5), (2, 3, 5)],
        [lambda t: t.permute(1, 0, 2), T2],
    ),
    ("matmul_empty_k", lambda a, b: a @ b, lambda a, b: a @ b, [(4, 0), (0, 3)], [None, None]),
    ("bmm_T", md.bmm, torch.bmm, [(2, 5, 4), (2, 3, 5)], [T2, T2]),
    ("linear_T", F.linear, TF.linear, [(4, 3), (6, 4), (6,)], [T2, None, None]),
    ("linear_wT", F.linear, TF.linear, [(3, 4), (4, 6), (6,)], [None, T2, None]),
    ("linear_perm3d", F.linear, TF.linear, [(4, 2, 3), (6, 4), (6,)], [lambda t: t.permute(1, 2, 0), None, None]),
    ("linear_expand", F.linear, TF.linear, [(1, 4), (6, 4), (6,)], [lambda t: t.expand(5, 4), None, None]),
    ("linear_empty", F.linear, TF.linear, [(0, 4), (6, 4), (6,)], [None, None, None]),
    (
        "conv2d_nhwc",
        lambda x, w, b: F.conv2d(x, w, b, padding=1),
        lambda x, w, b: TF.conv2d(x, w, b, padding=1),
        [(2, 6, 6, 3), (4, 3, 3, 3), (4,)],
        [lambda t: t.permute(0, 3, 1, 2), lambda t: t.transpose(2, 3), None],
    ),
    (
        "conv2d_step_stride2",
        lambda x, w: F.conv2d(x, w, stride=2, padding=1),
        lambda x, w: TF.conv2d(x, w, stride=2, padding=1),
        [(2, 3, 14, 7), (4, 3, 3, 3)],
        [lambda t: t[:, :, ::2], None],
    ),
    (
        "conv2d_expanded_batch",
        lambda x, w: F.conv2d(x, w, padding=1),
        lambda x, w: TF.conv2d(x, w, padding=1),
        [(1, 3, 6, 6), (4, 3, 3, 3)],
        [lambda t: t.expand(3, 3, 6, 6), None],
    ),
    (
        "conv2d_channel_step",
        lambda x, w: F.conv2d(x, w),
        lambda x, w: TF.conv2d(x, w),
        [(2, 6, 5, 5), (4, 3, 1, 1)],
        [lambda t: t[:, 1::2], None],
    ),
    (
        "group_norm_nhwc",
        lambda x, w, b: F.group_norm(x, 2, w, b),
        lambda x, w, b: TF.group_norm(x, 2, w, b),
        [(2, 3, 5, 4), (4,), (4,)],
        [lambda t: t.permute(0, 3, 1, 2), None, None],
    ),
    (
        "group_norm_expanded",
        lambda x: F.group_norm(x, 4),
        lambda x: TF.group_norm(x, 4),
        [(1, 4, 3, 5)],
        [lambda t: t.expand(2, 4, 3, 5)],
    ),
    ("group_norm_3d", lambda x: F.group_norm(x, 2), lambda x: TF.group_norm(x, 2), [(3, 5, 4)], [T2]),
    (
        "layer_norm_T",
        lambda x, w, b: F.layer_norm(x, (3, 5), w, b),
        lambda x, w, b: TF.layer_norm(x, (3, 5), w, b),
        [(2, 4, 5, 3), (5, 3), (3, 5)],
        [T2, T2, None],
    ),
    (
        "layer_norm_step",
        lambda x: F.layer_norm(x, (5,)),
        lambda x: TF.layer_norm(x, (5,)),
        [(4, 10)],
        [lambda t: t[:, ::2]],
    ),
    ("softmax_dim0_T", lambda x: F.softmax(x, 0), lambda x: TF.softmax(x, 0), [(5, 4)], [T2]),
    (
        "softmax_perm",
        lambda x: F.softmax(x, 1),
        lambda x: TF.softmax(x, 1),
        [(3, 4, 5)],
        [lambda t: t.permute(2, 0, 1)],
    ),
    (
        "log_softmax_expand",
        lambda x: F.log_softmax(x, -1),
        lambda x: TF.log_softmax(x, -1),
        [(1, 5)],
        [lambda t: t.expand(4, 5)],
    ),
    ("log_softmax_T_large", lambda x: F.log_softmax(x, -1), lambda x: TF.log_softmax(x, -1), [(2000, 3)], [T2]),
    (
        "logsumexp_tuple",
        lambda x: md.logsumexp(x, (0, 2)),
        lambda x: torch.logsumexp(x, (0, 2)),
        [(4, 3, 2)],
        [lambda t: t.transpose(0, 2)],
    ),
    ("cumsum_T", lambda x: md.cumsum(x, 0), lambda x: torch.cumsum(x, 0), [(5, 4)], [T2]),
    (
        "cumprod_step",
        lambda x: md.cumprod(x * 0.3 + 1, -1),
        lambda x: torch.cumprod(x * 0.3 + 1, -1),
        [(4, 10)],
        [lambda t: t[:, ::2]],
    ),
    (
        "cat_mixed_views",
        lambda a, b: md.cat([a, b, a], 1),
        lambda a, b: torch.cat([a, b, a], 1),
        [(4, 3), (3, 8)],
        [T2, lambda t: t[:, ::2]],
    ),
    (
        "cat_empty_part",
        lambda a, b: md.cat([a, b], 0),
        lambda a, b: torch.cat([a, b], 0),
        [(0, 3), (2, 3)],
        [None, None],
    ),
    (
        "stack_neg_dim",
        lambda a, b: md.stack([a, b], -1),
        lambda a, b: torch.stack([a, b], -1),
        [(4, 3), (1, 4)],
        [T2, lambda t: t.expand(3, 4)],
    ),
    (
        "where_bcast",
        lambda c, a, b: md.where(c > 0, a, b),
        lambda c, a, b: torch.where(c > 0, a, b),
        [(3, 1), (1, 4), ()],
        None,
    ),
    (
        "clamp_tensor_bounds",
        lambda a, lo, hi: md.clamp(a, lo, hi),
        lambda a, lo, hi: torch.clamp(a, lo, hi),
        [(4, 3), (4,), (3, 1)],
        [T2, None, None],
    ),
    ("masked_fill_T", lambda a: a.masked_fill(a > 0, -1.0), lambda a: a.masked_fill(a > 0, -1.0), [(5, 4)], [T2]),
    (
        "sdpa_heads_T",
        F.scaled_dot_product_attention,
        TF.scaled_dot_product_attention,
        [(2, 5, 3, 4)] * 3,
        [lambda t: t.transpose(1, 2)] * 3,
    ),
    (
        "sdpa_causal_kT",
        lambda q, k: F.scaled_dot_product_attention(q, k, k, is_causal=True),
        lambda q, k: TF.scaled_dot_product_attention(q, k, k, is_causal=True),
        [(1, 4, 4), (1, 4, 4)],
        [None, T2],
    ),
    (
        "interpolate_nhwc",
        lambda x: F.interpolate(x, scale_factor=2),
        lambda x: TF.interpolate(x, scale_factor=2),
        [(1, 4, 5, 3)],
        [lambda t: t.permute(0, 3, 1, 2)],
    ),
    (
        "pad_reflect_T",
        lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"),
        lambda x: TF.pad(x, (1, 2, 2, 1), mode="reflect"),
        [(1, 2, 5, 6)],
        [T2],
    ),
    ("max_pool_T", lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), [(1, 2, 6, 4)], [T2]),
    (
        "mse_loss_views",
        lambda a, b: F.mse_loss(a, b),
        lambda a, b: TF.mse_loss(a, b),
        [(4, 3), (3, 8)],
        [T2, lambda t: t[:, ::2]],
    ),
]


@pytest.mark.parametrize("case", STRUCTURED, ids=[c[0] for c in STRUCTURED])
def test_structured_ops_on_non_contiguous_inputs(case):
    _, fm, ft, shapes, views = case
    arrays = [randn(*s, seed=10 + i) for i, s in enumerate(shapes)]
    compare(fm, ft, arrays, views, atol=1e-4)


TWO_D_VIEWS = ("contiguous", "T", "step", "row_step_offset", "expanded", "view_of_view")


@pytest.mark.parametrize(
    "op,dim,idx,idx_view",
    [
        ("index_select", 0, [2, 0, 2], None),
        ("index_select", 1, [3, 3, 0], None),  # a repeated index accumulates its gradient
        ("index_select", 0, [], None),
        ("gather", 1, [[0, 1, 3], [2, 2, 0]], None),
        ("gather", 0, [[0, 1, 3, 0], [2, 2, 0, 1]], None),
        ("gather", 1, [[0, 1], [3, 2], [2, 2]], lambda t: t.T),  # a transposed index
    ],
    ids=["index_select0", "index_select1_dup", "index_select_empty", "gather1", "gather0", "gather1_idxT"],
)
@pytest.mark.parametrize("src", [v for v in VIEWS if v[0] in TWO_D_VIEWS], ids=lambda v: v[0])
def test_index_select_and_gather_on_views(op, dim, idx, idx_view, src):
    _, shape, v = src
    x, idx = randn(*shape, seed=6), np.array(idx, np.int64)
    fm, ft = getattr(md, op), getattr(torch, op)
    compare(lambda a, i: fm(a, dim, i), lambda a, i: ft(a, dim, i), [x, idx], [v, idx_view])


# ---------------------------------------------------------------- reductions

REDUCTIONS = ["sum", "mean", "amax", "amin", "std", "var", "logsumexp", "norm"]
DIMS = [0, -1, (0, 2), [0, 1], (-1, -3), (1,)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dims", DIMS, ids=str)
@pytest.mark.parametrize("op", REDUCTIONS)
@pytest.mark.parametrize(
    "src",
    [
        ("T", (4, 3, 5), lambda t: t.transpose(0, 2)),
        ("step", (5, 3, 8), lambda t: t[..., ::2]),
        ("expand", (1, 3, 4), lambda t: t.expand(5, 3, 4)),
    ],
    ids=lambda s: s[0],
)
def test_reductions_over_dims_on_views(src, op, dims, keepdim):
    _, shape, v = src

    def f(x):
        if op == "norm":
            return x.norm(dim=dims, keepdim=keepdim)
        return getattr(x, op)(dims, keepdim=keepdim)

    compare(f, f, [randn(*shape, seed=8)], [v], atol=1e-4)


@pytest.mark.parametrize(
    "fm,ft",
    [
        (lambda x: x.max(-1).values, lambda x: x.max(-1).values),
        (lambda x: x.min(0, keepdim=True).values, lambda x: x.min(0, keepdim=True).values),
        (lambda x: x.prod(-1), lambda x: x.prod(-1)),
        (lambda x: x.sum(()), lambda x: x.sum(())),
        (lambda x: x.amax(()), lambda x: x.amax(())),
        (lambda x: x.mean(dim=None, keepdim=True), lambda x: x.mean(dim=None, keepdim=True)),
        (lambda x: x.sum(dim=None, keepdim=True), lambda x: x.sum(dim=None, keepdim=True)),
    ],
    ids=[
        "max_dim",
        "min_keepdim",
        "prod",
        "sum_empty_tuple",
        "amax_empty_tuple",
        "mean_none_keepdim",
        "sum_none_keepdim",
    ],
)
def test_more_reduction_forms(fm, ft):
    compare(fm, ft, [randn(4, 5, seed=9)], [T2])


@pytest.mark.filterwarnings("ignore:std\\(\\)")
@pytest.mark.parametrize("op", ["sum", "mean", "prod", "logsumexp", "std"])
@pytest.mark.parametrize("dim", [0, 1])
def test_reductions_of_empty_tensors(op, dim):
    compare(lambda x: getattr(x, op)(dim), lambda x: getattr(x, op)(dim), [randn(0, 3)])


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "logsumexp", "prod", "cumsum", "softmax"])
def test_reductions_of_zero_d_tensors_over_dim_0_and_minus_1(op):
    def f(x, dim):
        if op == "softmax":
            return F.softmax(x, dim) if isinstance(x, md.Tensor) else TF.softmax(x, dim)
        return getattr(x, op)(dim)

    x = np.asarray(np.float32(1.5))
    compare(lambda t: f(t, 0), lambda t: f(t, 0), [x])
    compare(lambda t: f(t, -1), lambda t: f(t, -1), [x])


def test_sum_of_a_million_float32_values_is_as_accurate_as_torch():
    rng = np.random.default_rng(0)
    cases = {
        "uniform": rng.random(1_000_000).astype(np.float32),
        "offset": (rng.standard_normal(1_000_000) + 1000).astype(np.float32),
        "one_big_many_small": np.r_[np.float32(1e8), np.ones(999_999, np.float32)],
    }
    for name, a in cases.items():
        exact = a.astype(np.float64).sum()
        err_md = abs(float(md.tensor(a).sum().item()) - exact) / abs(exact)
        err_torch = abs(float(torch.from_numpy(a).sum().item()) - exact) / abs(exact)
        assert err_md <= max(2 * err_torch, 1e-7), f"{name}: sum error {err_md:.3g} vs torch's {err_torch:.3g}"
        mean_exact = exact / a.size
        err_md = abs(float(md.tensor(a).mean().item()) - mean_exact) / abs(mean_exact)
        err_torch = abs(float(torch.from_numpy(a).mean().item()) - mean_exact) / abs(mean_exact)
        assert err_md <= max(2 * err_torch, 1e-7), f"{name}: mean error {err_md:.3g} vs torch's {err_torch:.3g}"
    # a non-contiguous column sum and a long dot product keep the same accuracy
    a = cases["offset"].reshape(1000, 1000)
    exact = a.astype(np.float64).sum(0)
    got = md.tensor(np.ascontiguousarray(a.T)).T.sum(0).numpy()
    assert np.max(np.abs(got - exact) / np.abs(exact)) < 1e-6
    dot = float((md.tensor(cases["offset"][None]) @ md.ones((1_000_000, 1))).item())
    assert abs(dot - cases["offset"].astype(np.float64).sum()) / 1e9 < 1e-5


# ---------------------------------------------------------------- special values

SPECIAL = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-45, 1e38, -1e38, 1.0, -1.0, 0.5, 2.0, -3.0], np.float32)

SPECIAL_UNARY = {
    "neg": (lambda t: -t, lambda t: -t),
    "abs": (md.abs, torch.abs),
    "sign": (md.sign, torch.sign),
    "sqrt": (md.sqrt, torch.sqrt),
    "log": (md.log, torch.log),
    "exp": (md.exp, torch.exp),
    "tanh": (md.tanh, torch.tanh),
    "sigmoid": (md.sigmoid, torch.sigmoid),
    "relu": (md.relu, torch.relu),
    "silu": (F.silu, TF.silu),
    "square": (md.square, torch.square),
    "reciprocal": (lambda t: t.reciprocal(), lambda t: t.reciprocal()),
    "div0": (lambda t: t / 0.0, lambda t: t / 0.0),
    "rdiv": (lambda t: 1.0 / t, lambda t: 1.0 / t),
    "pow2": (lambda t: t**2, lambda t: t**2),
    "pow0": (lambda t: t**0, lambda t: t**0),
    "pow-1": (lambda t: t**-1, lambda t: t**-1),
    "zero_base": (lambda t: 0.0**t, lambda t: 0.0**t),
    "clamp": (lambda t: t.clamp(-1, 1), lambda t: t.clamp(-1, 1)),
    "isnan": (md.isnan, torch.isnan),
    "isinf": (md.isinf, torch.isinf),
    "floor": (md.floor, torch.floor),
    "round": (md.round, torch.round),
    "max": (lambda t: t.max(), lambda t: t.max()),
    "min": (lambda t: t.min(), lambda t: t.min()),
    "sum": (lambda t: t.sum(), lambda t: t.sum()),
    "softmax": (lambda t: F.softmax(t, -1), lambda t: TF.softmax(t, -1)),
    "logsumexp": (lambda t: md.logsumexp(t, -1), lambda t: torch.logsumexp(t, -1)),
    "sort": (lambda t: t.sort().values, lambda t: t.sort().values),
    "cumsum": (lambda t: t.cumsum(0), lambda t: t.cumsum(0)),
}
NO_GRAD = {"sign", "isnan", "isinf", "floor", "round"}


@pytest.mark.parametrize("op", list(SPECIAL_UNARY))
def test_special_values_forward_and_backward(op):
    with np.errstate(all="ignore"):
        compare(*SPECIAL_UNARY[op], [SPECIAL], grad=op not in NO_GRAD)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "lt"])
def test_special_values_binary(op):
    b = np.random.default_rng(3).permutation(SPECIAL)
    with np.errstate(all="ignore"):
        compare(*BINARY[op] if op != "pow" else (lambda x, y: x**y, lambda x, y: x**y), [SPECIAL, b], grad=op != "lt")
        compare(
            *BINARY[op] if op != "pow" else (lambda x, y: x**y, lambda x, y: x**y),
            [SPECIAL[:, None], b[None]],
            grad=op != "lt",
        )


@pytest.mark.parametrize(
    "name,fm,ft,x",
    [
        ("sqrt_at_zeros", md.sqrt, torch.sqrt, [0.0, -0.0, 4.0]),
        ("log_at_zeros", md.log, torch.log, [0.0, -0.0, 4.0]),
        ("abs_at_zeros", md.abs, torch.abs, [0.0, -0.0, 4.0]),
        ("relu_at_zeros", md.relu, torch.relu, [0.0, -0.0, 4.0]),
        ("pow_half_at_zero", lambda t: t**0.5, lambda t: t**0.5, [0.0, 1.0]),
        ("pow_zero_base_tensor_exp", lambda t: md.zeros(4) ** t, lambda t: torch.zeros(4) ** t, [0.0, 1.0, 2.0, -1.0]),
        (
            "pow_zero_base_grad_base",
            lambda t: t ** md.tensor([0.0, 1.0, 2.0, -1.0]),
            lambda t: t ** torch.tensor([0.0, 1.0, 2.0, -1.0]),
            [0.0, 0.0, 0.0, 0.0],
        ),
        ("max_ties_split", lambda t: t.max(), lambda t: t.max(), [1.0, 3.0, 3.0]),
        ("max_nan", lambda t: t.max(), lambda t: t.max(), [1.0, np.nan, 3.0]),
        ("max_dim_nan", lambda t: t.max(0).values, lambda t: t.max(0).values, [1.0, np.nan, 3.0]),
        (
            "softmax_all_-inf_row",
            lambda t: F.softmax(t.reshape(2, 2), -1),
            lambda t: TF.softmax(t.reshape(2, 2), -1),
            [-np.inf, -np.inf, 0.0, -np.inf],
        ),
        (
            "log_softmax_-inf",
            lambda t: F.log_softmax(t.reshape(2, 2), -1),
            lambda t: TF.log_softmax(t.reshape(2, 2), -1),
            [-np.inf, -np.inf, 0.0, -np.inf],
        ),
        (
            "logsumexp_-inf_row",
            lambda t: md.logsumexp(t.reshape(2, 2), -1),
            lambda t: torch.logsumexp(t.reshape(2, 2), -1),
            [-np.inf, -np.inf, 0.0, -np.inf],
        ),
        (
            "logsumexp_+inf",
            lambda t: md.logsumexp(t.reshape(2, 2), -1),
            lambda t: torch.logsumexp(t.reshape(2, 2), -1),
            [np.inf, np.inf, np.inf, -np.inf],
        ),
        (
            "softmax_huge",
            lambda t: F.softmax(t.reshape(2, 3), -1),
            lambda t: TF.softmax(t.reshape(2, 3), -1),
            [1e30, 1e30, -1e30, 88.0, 89.0, 90.0],
        ),
        ("norm_at_zero", lambda t: t.norm(), lambda t: t.norm(), [0.0, 0.0]),
        ("normalize_zero_vector", lambda t: F.normalize(t, dim=0), lambda t: TF.normalize(t, dim=0), [0.0, 0.0]),
        ("std_constant", lambda t: t.std(), lambda t: t.std(), [3.0, 3.0, 3.0]),
        ("prod_with_zero", lambda t: t.prod(), lambda t: t.prod(), [2.0, 0.0, 3.0]),
        ("prod_two_zeros", lambda t: t.prod(), lambda t: t.prod(), [2.0, 0.0, 0.0]),
        ("cumprod_with_zero", lambda t: t.cumprod(0), lambda t: t.cumprod(0), [2.0, 0.0, 3.0]),
        ("tiny_products", lambda t: t * t, lambda t: t * t, [1e-30, 1e-45]),
        (
            "where_nan_in_unused_branch",
            lambda t: md.where(t > 0, t, md.log(t)),
            lambda t: torch.where(t > 0, t, torch.log(t)),
            [-1.0, 2.0],
        ),
        ("clamp_nan", lambda t: t.clamp(min=1e-12), lambda t: t.clamp(min=1e-12), [np.nan, 1.0]),
    ],
)
def test_special_value_corner_cases(name, fm, ft, x):
    with np.errstate(all="ignore"):
        compare(fm, ft, [np.array(x, np.float32)])


# ---------------------------------------------------------------- autograd bookkeeping

X = np.array([[1.0, 2.0, 3.0], [4.0, -5.0, 6.0]], np.float32)


def _both(body):
    """body(lib, leaf) -> list of tensors/values, run with md and torch; the results must agree."""
    out = []
    for lib in (md, torch):
        x = lib.tensor(X.copy(), requires_grad=True)
        res = body(lib, x)
        out.append([None if r is None else np.asarray(r.detach().numpy() if hasattr(r, "detach") else r) for r in res])
    for a, b in zip(*out):
        assert (a is None) == (b is None)
        if a is not None:
            assert_same(a, b)


def test_retain_graph_and_accumulation_across_backward_calls():
    def body(lib, x):
        y = (x * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        (x * 3).sum().backward()  # a second graph accumulates too
        return [x.grad]

    _both(body)


def test_second_backward_without_retain_graph_raises():
    for lib in (md, torch):
        x = lib.tensor(X, requires_grad=True)
        y = (x.exp() * x).sum()
        y.backward()
        with pytest.raises(RuntimeError):
            y.backward()


def test_backward_with_gradient_argument_through_views():
    def body(lib, x):
        y = x.T[::2] * x.T[1:]
        y.backward(lib.tensor(np.array([[1.0, -1.0], [0.5, 2.0]], np.float32)))
        return [x.grad]

    _both(body)


def test_backward_needs_gradient_for_non_scalar_and_checks_its_shape():
    x = md.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="backward"):
        (x * x).backward()
    with pytest.raises(ValueError, match="backward"):
        (x * x).backward(md.ones(3))
    with pytest.raises(RuntimeError):
        md.tensor(X).sum().backward()


def test_detach_requires_grad_toggles_and_no_grad():
    def body(lib, x):
        d = x.detach()
        with lib.no_grad():
            y = x * 2
            with lib.enable_grad():
                z = x * 2
        w = d.clone().requires_grad_()
        (w * x).sum().backward()
        x.requires_grad_(False)
        v = x * 2
        x.requires_grad_(True)
        return [
            float(d.requires_grad),
            float(y.requires_grad),
            float(z.requires_grad),
            w.grad,
            x.grad,
            float(v.requires_grad),
        ]

    _both(body)


def test_grad_reset_to_none_and_zero_then_accumulate():
    def body(lib, x):
        (x * 2).sum().backward()
        x.grad = None
        (x * 3).sum().backward()
        g1 = x.grad.clone()
        x.grad.zero_()
        (x * x).sum().backward()
        return [g1, x.grad]

    _both(body)


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_non_leaf_grad_is_none_without_retain_grad():
    def body(lib, x):
        y = x * 2
        (y * y).sum().backward()
        return [y.grad, x.grad, float(y.is_leaf), float(x.is_leaf)]

    _both(body)


def test_no_grad_decorator_and_partial_graph():
    def body(lib, x):
        @lib.no_grad()
        def double(t):
            return t * 2

        y = double(x)
        (y * x).sum().backward()
        return [float(y.requires_grad), x.grad]

    _both(body)


def test_backward_after_an_in_place_change_of_a_saved_tensor_raises():
    for lib in (md, torch):
        x = lib.tensor(X, requires_grad=True)
        w = lib.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
        z = (x * w).sigmoid()
        with lib.no_grad():
            w.add_(1)
        with pytest.raises(RuntimeError):
            z.sum().backward()


def test_in_graph_in_place_arithmetic_gives_the_math_gradient():
    """The README's documented semantics: in-place arithmetic inside the graph takes the result and its
    history; torch gives the same gradients where it allows the op."""

    def body(lib, x):
        y = x * 1
        y += x
        y.add_(1)
        y.mul_(x)
        y.sum().backward()
        return [y, x.grad]

    _both(body)


def test_expand_unbind_split_select_gradients_accumulate():
    def body(lib, x):
        a, b = x.unbind(0)
        c, d = x.split([1, 2], 1)
        e = x.expand(3, 2, 3) * lib.tensor(np.arange(18, dtype=np.float32).reshape(3, 2, 3))
        (a * b).sum().add(c.sum()).add((d * d).sum()).add(e.sum()).add(x[:, 1].sum()).backward()
        return [x.grad]

    _both(body)


# ---------------------------------------------------------------- writes through views (outside the graph)


@pytest.mark.parametrize(
    "body",
    [
        lambda lib, x: x.T.__setitem__(0, -1.0),
        lambda lib, x: x[:, ::2].__setitem__((slice(None), 1), -1.0),
        lambda lib, x: x.T[::2, 1:].add_(100),
        lambda lib, x: x.T.mul_(lib.tensor(np.arange(4, dtype=np.float32))),
        lambda lib, x: x[:, 1::2].__iadd__(1000),
        lambda lib, x: x[:, :4].copy_(x[:, :4].flip(0)),
        lambda lib, x: x.__setitem__((slice(None), lib.tensor(np.array([5, 1]))), -7.0),
        lambda lib, x: x.__setitem__(x > 10, 0.0),
        lambda lib, x: x.T.clamp_(3, 10),
        lambda lib, x: x[::2, ::3].zero_(),
        lambda lib, x: x.reshape(2, 3, 4).permute(2, 0, 1).sub_(1),
        lambda lib, x: x.reshape(-1).__setitem__(0, -5.0),
        lambda lib, x: x.narrow(1, 2, 3).__setitem__(0, -5.0),
        lambda lib, x: x.unbind(1)[1].__setitem__(0, -5.0),
        lambda lib, x: x.T.contiguous().__setitem__(0, -5.0),  # a copy: x is unchanged
    ],
)
def test_writes_through_views_reach_the_base(body):
    out = []
    for lib in (md, torch):
        x = lib.tensor(np.arange(24, dtype=np.float32).reshape(4, 6))
        body(lib, x)
        out.append(x.numpy().copy())
    np.testing.assert_array_equal(out[0], out[1])


# ---------------------------------------------------------------- int64

A64 = np.array([[7, -7, 0, 3], [-1, 5, 2, -8], [2**63 - 1, -(2**63), 1, 2]], np.int64)
B64 = np.array([[2, 2, 3, -2], [3, -3, 1, 3], [1, 1, 3, 4]], np.int64)


@pytest.mark.parametrize(
    "f",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a ** b.abs(),
        lambda a, b: a // b,
        lambda a, b: a % b,
        lambda a, b: a / b,
        lambda a, b: a == b,
        lambda a, b: a[:, :3] @ b.T[:3],
        lambda a, b: (md if isinstance(a, md.Tensor) else torch).maximum(a, b),
        lambda a, b: (md if isinstance(a, md.Tensor) else torch).where(a > b, a, b),
        lambda a, b: a.T.sum(0) + b.T.max(0).values,
        lambda a, b: a.T.cumsum(0) * b.T.prod(0),
        lambda a, b: a.clamp(-3, 4) - b.abs(),
    ],
    ids=[
        "add",
        "sub",
        "mul",
        "pow",
        "floordiv",
        "mod",
        "truediv",
        "eq",
        "matmul",
        "maximum",
        "where",
        "sum_max",
        "cumsum_prod",
        "clamp_abs",
    ],
)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_int64_ops_match_torch_exactly(f, layout):
    if layout == "contiguous":
        compare(f, f, [A64, B64], grad=False, rtol=0, atol=0)
    else:
        compare(f, f, [A64.T.copy(), B64.T.copy()], [lambda t: t.T, lambda t: t.T], grad=False, rtol=0, atol=0)


# ---------------------------------------------------------------- errors: a Python exception naming the op

BAD_CALLS = [
    ("add", lambda: md.randn((3, 4)) + md.randn((2, 4))),
    ("mul", lambda: md.randn((4, 3)).T * md.randn((4, 3))),
    ("matmul", lambda: md.randn((3, 4)) @ md.randn((3, 4))),
    ("matmul", lambda: md.randn((2, 3, 4)) @ md.randn((3, 4, 5))),
    ("matmul", lambda: md.tensor(2.0) @ md.randn((3,))),
    ("linear", lambda: F.linear(md.randn((3, 5)), md.randn((6, 4)))),
    ("linear", lambda: F.linear(md.randn((3, 4)), md.randn((6, 4)), md.randn((5,)))),
    ("conv2d", lambda: F.conv2d(md.randn((2, 3, 6, 6)), md.randn((4, 2, 3, 3)))),
    ("conv2d", lambda: F.conv2d(md.randn((1, 3, 2, 2)), md.randn((4, 3, 3, 3)))),
    ("conv2d", lambda: F.conv2d(md.randn((1, 3, 6, 6)), md.randn((4, 3, 3, 3)), md.randn((3,)))),
    ("conv2d", lambda: F.conv2d(md.randn((1, 3, 6, 6)), md.randn((4, 3, 3, 3)), stride=0)),
    ("group_norm", lambda: F.group_norm(md.randn((2, 4, 3, 3)), 3)),
    ("group_norm", lambda: F.group_norm(md.randn((2, 4, 3, 3)), 2, md.randn((3,)), md.randn((4,)))),
    ("layer_norm", lambda: F.layer_norm(md.randn((3, 5)), (4,))),
    ("softmax", lambda: F.softmax(md.randn((3, 4)), 5)),
    ("log_softmax", lambda: F.log_softmax(md.randn((3, 4)), -3)),
    ("sum", lambda: md.randn((3, 4)).sum((0, 5))),
    ("cumsum", lambda: md.randn((3, 4)).cumsum(2)),
    ("var", lambda: md.randn((3, 4)).std(-3)),
    ("cat", lambda: md.cat([md.randn((2, 3)), md.randn((2, 4))], 0)),
    ("cat", lambda: md.cat([md.randn((2, 3)), md.randn((3,))], 0)),
    ("cat", lambda: md.cat([], 0)),
    ("stack", lambda: md.stack([md.randn((2, 3)), md.randn((3, 2))])),
    ("index_select", lambda: md.index_select(md.randn((3, 4)), 0, md.tensor([3]))),
    ("index_select", lambda: md.index_select(md.randn((3, 4)), 0, md.tensor([1.0]))),
    ("gather", lambda: md.gather(md.randn((3, 4)), 1, md.tensor([[4]]))),
    ("gather", lambda: md.gather(md.randn((3, 4)), 1, md.zeros((4, 2)).long())),
    ("where", lambda: md.where(md.randn((3, 2)) > 0, md.randn((3, 4)), 0.0)),
    ("embedding", lambda: F.embedding(md.tensor([5]), md.randn((3, 4)))),
    (
        "scaled_dot_product_attention",
        lambda: F.scaled_dot_product_attention(md.randn((1, 3, 4)), md.randn((1, 5, 3)), md.randn((1, 5, 4))),
    ),
    ("mse_loss", lambda: F.mse_loss(md.randn((3, 4)), md.randn((3, 5)))),
    ("view", lambda: md.randn((3, 4)).T.view(12)),
    ("expand", lambda: md.randn((3, 4)).expand(3, 5)),
    ("permute", lambda: md.randn((3, 4)).permute(0, 0)),
    ("transpose", lambda: md.randn((3, 4)).transpose(0, 2)),
    ("index", lambda: md.randn((3, 4))[md.tensor([0, 5])]),
    ("bounds", lambda: md.randn((3, 4))[3]),
    ("backward", lambda: md.randn((3,), requires_grad=True).exp().backward(md.randn((4,)))),
    ("out of memory", lambda: md.zeros((1 << 40,))),
]


@pytest.mark.parametrize("op,call", BAD_CALLS, ids=[f"{i}-{c[0]}" for i, c in enumerate(BAD_CALLS)])
def test_bad_calls_raise_a_python_exception_naming_the_op(op, call):
    with pytest.raises((ValueError, TypeError, IndexError, RuntimeError, MemoryError)) as info:
        call()
    assert op in str(info.value), str(info.value)


# ======================================================== bugs once known (fixed), and known bugs (xfail, strict)


def test_fmod_gradient_wrt_divisor_matches_torch():
    a, b = np.float32(1.1622362), np.float32(0.37810677)  # fmod = 0.0279, quotient 3 (torch and exact)
    bm, bt = md.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
    md.fmod(md.tensor([a]), bm).sum().backward()
    torch.fmod(torch.tensor([a]), bt).sum().backward()
    assert bt.grad.item() == -3.0
    assert bm.grad.item() == -3.0


@pytest.mark.parametrize("op", ["fmod", "remainder", "floor_divide", "%", "//"])
def test_division_family_keeps_zero_d_shape(op):
    a, b = md.tensor(5.0), md.tensor(2.0)
    out = {"%": lambda: a % b, "//": lambda: a // b}.get(op, lambda: getattr(md, op)(a, b))()
    assert tuple(out.shape) == ()


def test_normalize_propagates_nan_as_torch():
    x = np.array([np.nan, 1.0], np.float32)
    want = TF.normalize(torch.tensor(x), dim=0).numpy()  # [nan, nan]
    got = F.normalize(md.tensor(x), dim=0).numpy()  # [nan, 1e12]
    assert_same(got, want)


@pytest.mark.parametrize("start,length", [(3, 2), (5, 1)])
def test_narrow_out_of_range_raises(start, length):
    with pytest.raises((IndexError, ValueError, RuntimeError)):
        md.randn((3, 4)).narrow(1, start, length)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: md.logsumexp(x, 2),
        lambda x: x.logsumexp(-3),
        lambda x: x.norm(dim=2),
        lambda x: x.sort(2),
        lambda x: x.argsort(-3),
        lambda x: x.topk(1, 2),
        lambda x: x.diff(dim=2),
    ],
    ids=["logsumexp", "logsumexp_neg", "norm", "sort", "argsort", "topk", "diff"],
)
def test_out_of_range_dim_raises(call):
    with pytest.raises(IndexError):
        call(md.randn((3, 4)))


@pytest.mark.parametrize("op", ["any", "all"])
def test_any_all_keepdim_without_dim(op):
    x = md.randn((2, 3))
    assert tuple(getattr(x, op)(dim=None, keepdim=True).shape) == (1, 1)


def test_log_softmax_over_an_empty_dim():
    compare(lambda x: F.log_softmax(x, -1), lambda x: TF.log_softmax(x, -1), [randn(3, 0)])


@pytest.mark.parametrize("op,shapes", [("bmm", ((5, 4), (4, 5))), ("mm", ((2, 5, 4), (4, 5)))])
def test_bmm_mm_check_rank(op, shapes):
    with pytest.raises((ValueError, RuntimeError), match=op):
        getattr(md, op)(md.randn(shapes[0]), md.randn(shapes[1]))


def test_conv2d_zero_size_kernel_raises():
    with pytest.raises(ValueError, match="conv2d"):
        F.conv2d(md.randn((1, 3, 6, 6)), md.randn((4, 3, 0, 3)))


def test_hardswish_gradient_at_infinities():
    compare(F.hardswish, TF.hardswish, [np.array([np.inf, -np.inf, 5.0], np.float32)])


def test_hardsigmoid_gradient_at_nan():
    # (relu6/hardtanh/softshrink/hardshrink differ too, but torch itself gives 1 or 0 there depending
    # on whether the element falls in its vectorised body or scalar tail, so those are not pinned)
    compare(F.hardsigmoid, TF.hardsigmoid, [np.array([np.nan, 0.25], np.float32)])


def test_retain_grad_on_a_non_leaf():
    def body(lib, x):
        y = x * 2
        y.retain_grad()
        (y * y).sum().backward()
        return [y.grad, x.grad]

    _both(body)


def test_setitem_on_a_non_leaf_inside_the_graph():
    def body(lib, x):
        y = x * 1
        y[0] = 0.0
        (y * x).sum().backward()
        return [y, x.grad]

    _both(body)


@pytest.mark.parametrize(
    "op,call",
    [
        ("roll", lambda: md.randn((3, 4)).roll(1, 2)),  # IndexError: tuple index out of range
        ("stack", lambda: md.stack([md.randn((2, 3)), md.randn((2, 3))], 3)),  # unsqueeze: ...
        ("clamp", lambda: md.clamp(md.randn((3, 4)), md.randn((3,)), None)),  # lt: ...
        ("lerp", lambda: md.lerp(md.randn((3,)), md.randn((4,)), 0.5)),  # sub: ...
        ("masked_fill", lambda: md.randn((3, 4)).masked_fill(md.randn((2, 4)) > 0, 0.0)),  # where: ...
        ("full", lambda: md.full((2,), "a")),  # pybind11 RuntimeError: Unable to cast ...
    ],
    ids=["roll", "stack", "clamp", "lerp", "masked_fill", "full"],
)
def test_error_names_the_op_called(op, call):
    with pytest.raises((ValueError, TypeError, IndexError, RuntimeError)) as info:
        call()
    assert op in str(info.value)
