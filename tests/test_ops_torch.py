"""Every op's forward and gradients against PyTorch (CPU, float32) on random shapes: odd sizes,
broadcasting, stride 1 and 2, padding 0 and 1, batch 1 and larger, and sizes large enough to take
the kernels' multi-threaded paths. Skipped when torch is not installed.

Tolerances: both sides compute in float32 with different summation orders, so values are compared
with rtol 1e-4 and an absolute tolerance scaled by the largest magnitude of the reference
(`atol = 1e-4 * max(1, max|ref|)` unless a test says otherwise)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from gradcheck import to_md

import minidiff as md
import minidiff.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
torch.set_num_threads(2)


def assert_close(ours, ref, rtol=1e-4, atol=1e-4, what=""):
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol * scale, err_msg=what)


def compare(fn_md, fn_torch, arrays, *, wrt=None, rtol=1e-4, atol=1e-4, grad_rtol=None, grad_atol=None, seed=0):
    """Runs both frameworks on the same inputs and upstream gradient; compares outputs and grads."""
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    m_in, t_in = [], []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray):
            m_in.append(to_md(a, requires_grad=i in wrt))
            t = torch.from_numpy(a.astype(np.float32) if a.dtype.kind == "f" else a.astype(np.int64))
            t_in.append(t.requires_grad_(i in wrt))
        else:
            m_in.append(a)
            t_in.append(a)
    om, ot = fn_md(*m_in), fn_torch(*t_in)
    assert_close(om.numpy(), ot.detach().numpy(), rtol, atol, "forward")
    if not wrt:
        return
    w = np.random.default_rng(seed + 1000).standard_normal(tuple(ot.shape)).astype(np.float32)
    om.backward(md.tensor(w))
    ot.backward(torch.from_numpy(w))
    for i in wrt:
        assert m_in[i].grad is not None, f"input {i} has no gradient"
        assert_close(
            m_in[i].grad.numpy(),
            t_in[i].grad.numpy(),
            grad_rtol or rtol,
            grad_atol or atol,
            f"gradient of input {i}",
        )


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- elementwise


def random_broadcast_pair(rng):
    nd = int(rng.integers(1, 5))
    out = [int(rng.integers(1, 8)) for _ in range(nd)]
    a = [d if rng.random() < 0.7 else 1 for d in out]
    b = [d if rng.random() < 0.7 else 1 for d in out]
    b = b[int(rng.integers(0, nd)) :]  # b may have fewer dims
    return a, b


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow"])
@pytest.mark.parametrize("seed", range(6))
def test_binary_random_broadcast(op, seed):
    rng = np.random.default_rng(seed)
    sa, sb = random_broadcast_pair(rng)
    a, b = randn(rng, *sa), randn(rng, *sb)
    if op == "div":
        b = np.sign(b) * (np.abs(b) + 0.5)
    if op == "pow":
        a = np.abs(a) + 0.5
    fm = {"add": md.Tensor.__add__, "sub": md.Tensor.__sub__, "mul": md.Tensor.__mul__}
    fm.update({"div": md.Tensor.__truediv__, "pow": md.Tensor.__pow__})
    ft = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow}
    compare(fm[op], ft[op], [a, b.astype(np.float32)])


@pytest.mark.parametrize(
    "sa,sb",
    [((64, 33, 17), (64, 33, 17)), ((64, 33, 17), (33, 1)), ((64, 1, 17), (1, 33, 17)), ((40000,), (1,))],
)
def test_binary_large_takes_parallel_paths(sa, sb):
    rng = np.random.default_rng(0)
    a, b = randn(rng, *sa), randn(rng, *sb)
    compare(lambda x, y: x * y + x, lambda x, y: x * y + x, [a, b])
    if len(sa) == len(sb) > 1:  # transposed operands on the parallel path
        f = lambda x, y: x.transpose(0, 1) - y.transpose(0, 1)  # noqa: E731
        compare(f, f, [a, b])


@pytest.mark.parametrize("s", [2.5, -0.5])
def test_scalar_both_orders(s):
    rng = np.random.default_rng(1)
    x = np.abs(randn(rng, 5, 7)) + 0.5
    cases = [
        (lambda t: t + s, lambda t: t + s),
        (lambda t: s + t, lambda t: s + t),
        (lambda t: t - s, lambda t: t - s),
        (lambda t: s - t, lambda t: s - t),
        (lambda t: t * s, lambda t: t * s),
        (lambda t: s * t, lambda t: s * t),
        (lambda t: t / s, lambda t: t / s),
        (lambda t: s / t, lambda t: s / t),
        (lambda t: t**s, lambda t: t**s),
        (lambda t: abs(s) ** t, lambda t: abs(s) ** t),
    ]
    for fm, ft in cases:
        compare(fm, ft, [x])


UNARY = {
    "neg": (lambda t: -t, lambda t: -t),
    "exp": (F.exp, torch.exp),
    "log": (F.log, torch.log),
    "sqrt": (F.sqrt, torch.sqrt),
    "sin": (F.sin, torch.sin),
    "cos": (F.cos, torch.cos),
    "abs": (F.abs, torch.abs),
    "silu": (F.silu, TF.silu),
    "gelu": (F.gelu, TF.gelu),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"), lambda t: TF.gelu(t, approximate="tanh")),
    "relu": (F.relu, TF.relu),
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "tanh": (F.tanh, torch.tanh),
}


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("shape", [(7,), (3, 5, 9), (48, 1000)])
def test_unary(name, shape):
    rng = np.random.default_rng(2)
    x = randn(rng, *shape) * 3
    if name in ("log", "sqrt"):
        x = np.abs(x) + 0.1
    compare(*UNARY[name], [x.astype(np.float32)], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- reductions


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("op", ["sum", "mean", "max"])
def test_reductions_random(op, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in rng.integers(1, 7, size=int(rng.integers(1, 5))))
    x = randn(rng, *shape)
    keep = bool(seed % 2)
    if op == "max":
        dim = int(rng.integers(-len(shape), len(shape)))
        compare(lambda t: t.max(dim=dim, keepdim=keep).values, lambda t: t.max(dim=dim, keepdim=keep).values, [x])
        return
    k = int(rng.integers(1, len(shape) + 1))
    dims = tuple(sorted(rng.choice(len(shape), size=k, replace=False).tolist()))
    compare(
        lambda t: getattr(t, op)(dim=dims, keepdim=keep),
        lambda t: getattr(t, op)(dim=dims, keepdim=keep),
        [x],
    )
    compare(lambda t: getattr(t, op)(), lambda t: getattr(t, op)(), [x])


@pytest.mark.parametrize(
    "shape,dims",
    [
        ((1, 70000), (1,)),
        ((3, 50000), (1,)),
        ((70000, 3), (0,)),
        ((40, 50, 30), (1,)),
        ((40, 50, 30), (0, 2)),
    ],
)
def test_sum_large_takes_parallel_paths(shape, dims):
    x = randn(np.random.default_rng(3), *shape)
    compare(lambda t: t.sum(dim=dims), lambda t: t.sum(dim=dims), [x], rtol=1e-5, atol=1e-5)
    compare(lambda t: t.mean(dim=dims, keepdim=True), lambda t: t.mean(dim=dims, keepdim=True), [x])


def test_max_large():
    x = randn(np.random.default_rng(4), 64, 700)
    compare(lambda t: t.max(dim=1).values, lambda t: t.max(dim=1).values, [x])
    compare(lambda t: t.max(dim=0, keepdim=True).values, lambda t: t.max(dim=0, keepdim=True).values, [x])
    got, want = to_md(x).max(dim=1).indices.numpy(), torch.from_numpy(x).max(dim=1).indices.numpy()
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- shapes, indexing, cat


def test_views_chain():
    x = randn(np.random.default_rng(5), 2, 3, 4, 5)

    def f(t):
        u = t.permute(3, 1, 0, 2).reshape(5, 3, 8)[:, 1:, ::3].transpose(0, 2)
        return u.unsqueeze(1).expand(-1, 2, -1, -1).flatten(1, 2).squeeze()

    compare(f, f, [x])


@pytest.mark.parametrize(
    "key",
    [
        (0,),
        (slice(None), 2),
        (Ellipsis, slice(1, None, 2)),
        (None, slice(None, None, 3), -1),
        (1, Ellipsis, None),
    ],
    ids=str,
)
def test_indexing(key):
    x = randn(np.random.default_rng(6), 4, 5, 6)
    compare(lambda t: t[key], lambda t: t[key], [x])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack(dim):
    rng = np.random.default_rng(7)
    shapes = [[3, 4, 5] for _ in range(3)]
    for i, s in enumerate(shapes):
        s[dim] = 1 + 2 * i
    arrs = [randn(rng, *s) for s in shapes]
    compare(lambda *t: md.cat(list(t), dim), lambda *t: torch.cat(list(t), dim), arrs)
    same = [randn(rng, 3, 4) for _ in range(3)]
    compare(lambda *t: md.stack(list(t), dim), lambda *t: torch.stack(list(t), dim), same)


# ---------------------------------------------------------------- matmul and linear


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((7,), (7,)),
        ((7,), (7, 3)),
        ((5, 7), (7,)),
        ((33, 17), (17, 9)),
        ((3, 1, 5, 6), (4, 6, 2)),
        ((2, 3, 5, 6), (6, 4)),
        ((6,), (2, 3, 6, 5)),
        ((8, 64, 64), (8, 64, 64)),
        ((200, 130), (130, 70)),
    ],
)
def test_matmul(sa, sb):
    rng = np.random.default_rng(8)
    compare(lambda a, b: a @ b, lambda a, b: a @ b, [randn(rng, *sa), randn(rng, *sb)])


def test_matmul_transposed_operands():
    rng = np.random.default_rng(9)
    a, b = randn(rng, 3, 9, 5), randn(rng, 3, 7, 9)
    compare(lambda x, y: x.mT @ y.mT, lambda x, y: x.mT @ y.mT, [a, b])
    compare(lambda x, y: (x.mT @ y.mT).sum(0), lambda x, y: (x.mT @ y.mT).sum(0), [a, b])


@pytest.mark.parametrize("xshape", [(9,), (13, 9), (2, 5, 9), (300, 9)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(xshape, bias):
    rng = np.random.default_rng(10)
    args = [randn(rng, *xshape), randn(rng, 6, 9)] + ([randn(rng, 6)] if bias else [])
    compare(lambda *t: F.linear(*t), lambda *t: TF.linear(*t), args)


# ---------------------------------------------------------------- conv2d

CONV_GRID = list(itertools.product([1, 3], [1, 2], [0, 1], [1, 3]))  # kernel, stride, padding, batch


@pytest.mark.parametrize("kernel,stride,padding,batch", CONV_GRID)
def test_conv2d_grid(kernel, stride, padding, batch):
    rng = np.random.default_rng(kernel * 100 + stride * 10 + padding + batch)
    C, K = int(rng.integers(1, 6)), int(rng.integers(1, 7))
    H, W = int(rng.integers(kernel, 12)) | 1, int(rng.integers(kernel, 14))  # odd H, any W
    x = randn(rng, batch, C, H, W)
    w = randn(rng, K, C, kernel, kernel) * 0.3
    bias = (batch + stride) % 2 == 0
    args = [x, w] + ([randn(rng, K)] if bias else [])

    def fm(*t):
        return F.conv2d(t[0], t[1], t[2] if bias else None, stride=stride, padding=padding)

    def ft(*t):
        return TF.conv2d(t[0], t[1], t[2] if bias else None, stride=stride, padding=padding)

    compare(fm, ft, args)


def compare_conv2d(args, stride=1, padding=0):
    """conv2d of args (input, weight, bias) against torch's, forward and every gradient."""
    compare(
        lambda *t: F.conv2d(*t, stride=stride, padding=padding),
        lambda *t: TF.conv2d(*t, stride=stride, padding=padding),
        args,
    )


@pytest.mark.parametrize(
    "xs,ws,stride,padding",
    [
        ((2, 16, 17, 19), (8, 16, 3, 3), 1, 1),
        ((3, 8, 20, 15), (16, 8, 3, 3), 2, 1),
        ((4, 32, 9, 9), (32, 32, 1, 1), 1, 0),
        ((1, 4, 11, 7), (5, 4, 3, 1), (2, 1), (1, 0)),
    ],
)
def test_conv2d_larger(xs, ws, stride, padding):
    rng = np.random.default_rng(11)
    args = [randn(rng, *xs), randn(rng, *ws) * 0.1, randn(rng, ws[0])]
    compare_conv2d(args, stride, padding)


@pytest.mark.parametrize(
    "xs,k,padding",
    [
        ((1, 64, 28, 28), 64, 1),  # the U-Net's levels, batch 1 (fewer images than threads)
        ((5, 128, 14, 14), 128, 1),  # batch above the thread count
        ((3, 256, 7, 7), 128, 1),  # 7x7: the last tile row and column are half outside
        ((2, 8, 13, 9), 24, 1),  # odd sizes, few channels
        ((4, 32, 11, 10), 1, 1),  # one output channel (the U-Net's conv_out)
        ((3, 16, 12, 15), 16, 0),  # padding 0: its input gradient is a padding-2 convolution
        ((20, 32, 4, 4), 64, 1),  # maps up to 8 wide, 16+ images: lanes across images
        ((37, 16, 7, 7), 24, 1),  # ... with a short last chunk and half-outside tiles
        ((18, 8, 8, 6), 8, 0),
    ],
)
@pytest.mark.parametrize("tile", [0, 2, 4], ids=["auto", "F2", "F4"])
def test_conv2d_winograd_shapes(xs, k, padding, tile):
    # stride-1 3x3 convolutions with enough channels and tiles run Winograd on the CPU in all three
    # directions, F(4x4, 3x3) or F(2x2, 3x3) by map size (auto) or as forced by the switch
    # (cpu/winograd.cpp has the rules; tests/cpp/test_winograd.cpp checks they pick it here), each
    # at the tolerance of every other conv2d test
    rng = np.random.default_rng(xs[1] + k)
    args = [randn(rng, *xs), randn(rng, k, xs[1], 3, 3) / np.sqrt(9 * xs[1]), randn(rng, k)]
    md._core.set_cpu_winograd_tile(tile)
    try:
        compare_conv2d(args, padding=padding)
    finally:
        md._core.set_cpu_winograd_tile(0)


@pytest.mark.parametrize("fwd_threads,bwd_threads", [(2, 2), (2, 1), (1, 2), (1, 3)])
@pytest.mark.parametrize("needs", ["all", "weight"])
def test_conv2d_kept_transform_across_thread_counts(fwd_threads, bwd_threads, needs):
    # On small maps with 16+ images the CPU forward keeps its Winograd input transform for the
    # weight gradient; it is cut into chunks by the thread count, so a backward at another count
    # must notice and transform again. Gradients against torch's either way.
    rng = np.random.default_rng(fwd_threads * 10 + bwd_threads)
    x, g = randn(rng, 33, 24, 8, 8), randn(rng, 33, 32, 8, 8)
    w = (randn(rng, 32, 24, 3, 3) / np.sqrt(9 * 24)).astype(np.float32)
    tx, tw = torch.from_numpy(x).requires_grad_(needs == "all"), torch.from_numpy(w).requires_grad_()
    TF.conv2d(tx, tw, padding=1).backward(torch.from_numpy(g))
    prev = md.get_num_threads()
    try:
        mx, mw = to_md(x, requires_grad=needs == "all"), to_md(w, requires_grad=True)
        md.set_num_threads(fwd_threads)
        out = F.conv2d(mx, mw, padding=1)
        md.set_num_threads(bwd_threads)
        out.backward(to_md(g))
    finally:
        md.set_num_threads(prev)
    assert_close(out.numpy(), TF.conv2d(tx, tw, padding=1).detach().numpy(), what="forward")
    assert_close(mw.grad.numpy(), tw.grad.numpy(), what="weight gradient")
    if needs == "all":
        assert_close(mx.grad.numpy(), tx.grad.numpy(), what="input gradient")


def _random_conv_geometries(count, seed):
    # batches that do and do not fill a vector of image lanes (16+), maps down to 1x1, every
    # padding, strides 1 and 2, 1x1 and 3x3 kernels: every CPU conv path (Winograd by rows or
    # by images, im2col by row copies or index tables, pointwise) meets odd sizes here
    r = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        k = int(r.choice([1, 3]))
        pad = int(r.integers(0, 3)) if k == 3 else int(r.integers(0, 2))
        h, w = (int(v) for v in r.integers(1, 11, size=2))
        if h + 2 * pad < k or w + 2 * pad < k:
            continue
        n = int(r.choice([1, 3, 16, 17, 33]))
        out.append((n, int(r.integers(1, 21)), h, w, int(r.integers(1, 21)), k, int(r.choice([1, 1, 2])), pad))
    return out


@pytest.mark.parametrize("n,c,h,w,k,ks,stride,pad", _random_conv_geometries(40, seed=20261126))
def test_conv2d_random_geometries(n, c, h, w, k, ks, stride, pad):
    rng = np.random.default_rng(n * 1000 + c * 10 + k)
    args = [randn(rng, n, c, h, w), randn(rng, k, c, ks, ks) / np.sqrt(c * ks * ks), randn(rng, k)]
    compare_conv2d(args, stride, pad)


# ---------------------------------------------------------------- normalisation, softmax, attention


@pytest.mark.parametrize(
    "shape,groups",
    [
        ((2, 6, 5, 7), 3),
        ((1, 8, 9), 4),
        ((4, 32, 16, 16), 8),
        ((3, 5, 2, 2), 5),
        ((2, 4, 40, 40), 2),  # 1,600 values per channel: the backward sums them in blocks of 512
        ((32, 64, 4, 4), 8),  # the digits U-Net's 4x4 level
    ],
)
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(shape, groups, affine):
    rng = np.random.default_rng(12)
    C = shape[1]
    args = [randn(rng, *shape) * 2 + 1] + ([randn(rng, C), randn(rng, C)] if affine else [])
    compare(
        lambda *t: F.group_norm(t[0], groups, *t[1:], eps=1e-5),
        lambda *t: TF.group_norm(t[0], groups, *t[1:], eps=1e-5),
        args,
        atol=2e-4,
    )
    compare(
        lambda *t: F.group_norm_silu(t[0], groups, *t[1:], eps=1e-5),
        lambda *t: TF.silu(TF.group_norm(t[0], groups, *t[1:], eps=1e-5)),
        args,
        atol=2e-4,
    )


@pytest.mark.parametrize("shape,nshape", [((4, 7), (7,)), ((2, 3, 6, 5), (6, 5)), ((300, 128), (128,))])
def test_layer_norm(shape, nshape):
    rng = np.random.default_rng(13)
    args = [randn(rng, *shape), randn(rng, *nshape), randn(rng, *nshape)]
    compare(lambda *t: F.layer_norm(t[0], nshape, *t[1:]), lambda *t: TF.layer_norm(t[0], nshape, *t[1:]), args)
    compare(lambda t: F.layer_norm(t, nshape), lambda t: TF.layer_norm(t, nshape), args[:1])


@pytest.mark.parametrize("shape,dim", [((5, 9), -1), ((3, 4, 5), 1), ((6, 7), 0), ((64, 1000), -1), ((1000, 40), 0)])
def test_softmax(shape, dim):
    x = randn(np.random.default_rng(14), *shape) * 3
    compare(lambda t: F.softmax(t, dim), lambda t: TF.softmax(t, dim), [x], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "sq,sk,sv,scale",
    [
        ((9, 8), (11, 8), (11, 5), None),
        ((2, 7, 16), (2, 7, 16), (2, 7, 16), None),
        ((2, 4, 49, 32), (2, 4, 49, 32), (2, 4, 49, 32), None),
        ((3, 2, 5, 4), (3, 2, 13, 4), (3, 2, 13, 6), 0.25),
        ((1, 1, 3, 2), (1, 1, 1, 2), (1, 1, 1, 3), 2.0),
        # the CPU's short-sequence path (keys across SIMD lanes) up to 64 keys and 8 dims, and the
        # GEMM path beyond: the U-Net levels (16 and 49 tokens of 8 dims) and each boundary
        ((4, 8, 16, 8), (4, 8, 16, 8), (4, 8, 16, 8), None),
        ((2, 16, 49, 8), (2, 16, 49, 8), (2, 16, 49, 8), None),
        ((2, 3, 17, 8), (2, 3, 64, 8), (2, 3, 64, 8), None),
        ((2, 3, 17, 8), (2, 3, 65, 8), (2, 3, 65, 8), None),
        ((2, 3, 9, 5), (2, 3, 33, 5), (2, 3, 33, 3), 0.7),
        ((2, 3, 9, 9), (2, 3, 20, 9), (2, 3, 20, 5), None),
        ((2, 3, 9, 6), (2, 3, 20, 6), (2, 3, 20, 9), 0.5),
    ],
)
def test_attention(sq, sk, sv, scale):
    rng = np.random.default_rng(15)
    args = [randn(rng, *sq), randn(rng, *sk), randn(rng, *sv)]
    compare(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=scale),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, scale=scale),
        args,
    )


# ---------------------------------------------------------------- resampling, padding, embedding, loss


@pytest.mark.parametrize("shape,factor", [((1, 2, 3, 5), 2), ((2, 3, 4, 4), 3), ((2, 16, 32, 32), 2)])
def test_interpolate(shape, factor):
    x = randn(np.random.default_rng(16), *shape)
    compare(
        lambda t: F.interpolate(t, scale_factor=factor, mode="nearest"),
        lambda t: TF.interpolate(t, scale_factor=factor, mode="nearest"),
        [x],
    )


@pytest.mark.parametrize(
    "pads", [[1, 1], [0, 2, 1, 0], [-1, 2], [1, -1, -2, 1], [1, 1, 1, 1, 1, 1], [2, 0, 0, 0, 0, 0, 1, 1]]
)
def test_pad(pads):
    x = randn(np.random.default_rng(17), 2, 3, 4, 5)
    compare(lambda t: F.pad(t, pads, value=-1.0), lambda t: TF.pad(t, pads, value=-1.0), [x])


def test_embedding():
    rng = np.random.default_rng(18)
    w = randn(rng, 11, 6)
    idx = rng.integers(0, 11, size=(4, 9))  # repeats are certain
    compare(lambda i, t: F.embedding(i, t), lambda i, t: TF.embedding(i, t), [idx, w], wrt=[1])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (64, 1000)])
def test_mse_loss(reduction, shape):
    rng = np.random.default_rng(19)
    args = [randn(rng, *shape), randn(rng, *shape)]
    compare(
        lambda a, b: F.mse_loss(a, b, reduction=reduction),
        lambda a, b: TF.mse_loss(a, b, reduction=reduction),
        args,
    )


def test_dropout_matches_torch_semantics():
    # masks come from different generators, so compare the rules, not the draws
    x = np.abs(randn(np.random.default_rng(20), 100_000)) + 1.0
    for p in (0.0, 0.25, 1.0):
        ym = F.dropout(to_md(x), p).numpy()
        yt = TF.dropout(torch.from_numpy(x), p).numpy()
        for y in (ym, yt):
            kept = y != 0
            if p < 1:
                np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6)
            assert abs((1 - kept.mean()) - p) < 0.01
    np.testing.assert_array_equal(F.dropout(to_md(x), 0.5, training=False).numpy(), x)


# ---------------------------------------------------------------- clamp, maximum, minimum, relu at NaN

SPECIALS = np.array([np.nan, -np.inf, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, np.inf], np.float32)


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (None, 0.5), (-0.5, None), (2.0, -2.0), (1.0, 1.0)])
def test_clamp_matches_torch_at_bounds_infinities_and_nan(lo, hi):
    # gradients pass where lo <= x <= hi (bounds included), not at NaN; lo > hi gives hi everywhere
    x = SPECIALS.copy()
    m, t = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    om, ot = m.clamp(lo, hi), t.clamp(lo, hi)
    np.testing.assert_array_equal(om.numpy(), ot.detach().numpy())
    om.backward(md.ones(10))
    ot.backward(torch.ones(10))
    np.testing.assert_array_equal(m.grad.numpy(), t.grad.numpy())
    np.testing.assert_array_equal(md.clamp(md.tensor(x), lo, hi).numpy(), ot.detach().numpy())


def test_clamp_random_and_non_contiguous():
    x = randn(np.random.default_rng(11), 6, 9) * 2
    compare(lambda t: t.clamp(-1.0, 1.5), lambda t: t.clamp(-1.0, 1.5), [x])
    compare(lambda t: F.clamp(t.T, min=0.2), lambda t: t.T.clamp(min=0.2), [x])
    with pytest.raises(ValueError, match="clamp"):
        md.ones(3).clamp()


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_match_torch_with_ties_nan_and_broadcasting(op):
    # a tie splits the gradient in halves; where either side is NaN both get all of it (torch's rule)
    a = np.array([[1.0, 2.0, np.nan, 3.0, -1.0, 0.0]], np.float32)
    b = np.array([[1.0], [np.nan], [-5.0]], np.float32)  # broadcast (3, 1) against (1, 6)
    ma, mb = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    om, ot = getattr(F, op)(ma, mb), getattr(torch, op)(ta, tb)
    np.testing.assert_array_equal(om.numpy(), ot.detach().numpy())
    w = np.random.default_rng(2).standard_normal((3, 6)).astype(np.float32)
    om.backward(md.tensor(w))
    ot.backward(torch.from_numpy(w))
    np.testing.assert_allclose(ma.grad.numpy(), ta.grad.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-6, atol=1e-6)
    x, y = randn(np.random.default_rng(3), 4, 5), randn(np.random.default_rng(4), 5)
    compare(lambda p, q: getattr(md, op)(p, q), lambda p, q: getattr(torch, op)(p, q), [x, y])


def test_relu_keeps_nan_as_torch():
    x = SPECIALS.copy()
    m, t = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    om, ot = F.relu(m), TF.relu(t)
    np.testing.assert_array_equal(om.numpy(), ot.detach().numpy())
    om.backward(md.ones(10))
    ot.backward(torch.ones(10))
    np.testing.assert_array_equal(m.grad.numpy(), t.grad.numpy())


def test_max_over_dim_returns_values_and_indices_as_torch():
    x = randn(np.random.default_rng(9), 5, 7)
    got, want = to_md(x).max(1), torch.from_numpy(x).max(1)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    v, i = to_md(x).max(dim=0, keepdim=True)
    assert v.shape == i.shape == (1, 7) and i.dtype == "int64"


def test_cast_through_bfloat16_is_differentiable_as_torch():
    x = np.array([1.001, 2.0, -3.3], np.float32)
    w = np.array([1.001, 3.0, 0.1], np.float32)
    m, t = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (m.to("bfloat16").float() * md.tensor(w)).sum().backward()
    (t.to(torch.bfloat16).float() * torch.from_numpy(w)).sum().backward()
    np.testing.assert_array_equal(m.grad.numpy(), t.grad.numpy())  # the gradient is rounded through bf16 too


def test_max_of_everything_shares_the_gradient_among_ties_as_torch():
    for a in ([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], [[1.0, np.nan, 3.0, np.nan]], [[5.0]]):
        x = np.array(a, np.float32)
        m, t = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        om, ot = m.max(), t.max()
        np.testing.assert_array_equal(om.numpy(), ot.detach().numpy())
        (om * 3.0).backward()
        (ot * 3.0).backward()
        np.testing.assert_array_equal(m.grad.numpy(), t.grad.numpy())
