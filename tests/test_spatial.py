"""The spatial ops and modules of functional_spatial.py / nn_spatial.py (F.unfold/fold, padding
layers, upsampling layers, 1-D and general-window pooling, unpooling, channel_shuffle,
batch_norm / BatchNorm1d): values and gradients against torch where it is installed, NumPy
references and finite differences where it is not, and the errors for bad shapes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gradcheck import check_grads

import minidiff as md

RNG = np.random.default_rng(0)


def randn(*shape, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def distinct(*shape) -> np.ndarray:
    """Values 0.25 apart in random order: a max's finite-difference gradient never straddles a tie."""
    n = int(np.prod(shape))
    return ((RNG.permutation(n) - n / 2) * 0.25).reshape(shape).astype(np.float32)


def run_md(fn, *arrays):
    """fn on md tensors (float arrays require grad), backward with a random upstream gradient.
    Returns (value, [grads], upstream gradient)."""
    tensors = [md.tensor(a, dtype="int64") if a.dtype == np.int64 else md.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    g = randn(*out.shape)
    out.backward(md.tensor(g))
    return out.numpy(), [t.grad.numpy() if t.requires_grad else None for t in tensors], g


def assert_matches_torch(torch, md_fn, torch_fn, *arrays, rtol=1e-5, atol=1e-6):
    value, grads, g = run_md(md_fn, *arrays)
    tensors = [torch.tensor(a) if a.dtype == np.int64 else torch.tensor(a, requires_grad=True) for a in arrays]
    out = torch_fn(*tensors)
    out.backward(torch.tensor(g))
    assert value.shape == tuple(out.shape)
    np.testing.assert_allclose(value, out.detach().numpy(), rtol=rtol, atol=atol)
    for got, t in zip(grads, tensors):
        if t.requires_grad:
            assert got is not None, "md gave no gradient where torch gives one"
            np.testing.assert_allclose(got, t.grad.numpy(), rtol=rtol, atol=atol)


# ---- NumPy references (float64, loops over output positions)


def unfold_ref(x, k, d, p, s):
    n, c, h, w = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, c, k[0], k[1], oh, ow))
    for i in range(k[0]):
        for j in range(k[1]):
            for a in range(oh):
                for b in range(ow):
                    out[:, :, i, j, a, b] = xp[:, :, a * s[0] + i * d[0], b * s[1] + j * d[1]]
    return out.reshape(n, c * k[0] * k[1], oh * ow)


def fold_ref(cols, size, k, d, p, s):
    n = cols.shape[0]
    h, w = size
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    blocks = cols.astype(np.float64).reshape(n, -1, k[0], k[1], oh, ow)
    out = np.zeros((n, blocks.shape[1], h + 2 * p[0], w + 2 * p[1]))
    for i in range(k[0]):
        for j in range(k[1]):
            for a in range(oh):
                for b in range(ow):
                    out[:, :, a * s[0] + i * d[0], b * s[1] + j * d[1]] += blocks[:, :, i, j, a, b]
    return out[:, :, p[0] : p[0] + h, p[1] : p[1] + w]


def pool1d_ref(x, k, s, p, d, ceil_mode, kind, count_include_pad=True):
    """max or avg pooling of (N, C, L) by the definition; max also returns torch's indices."""
    length = x.shape[-1]
    out = (length + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    values = np.zeros(x.shape[:-1] + (out,))
    indices = np.zeros(x.shape[:-1] + (out,), dtype=np.int64)
    for o in range(out):
        taps = [o * s - p + j * d for j in range(k)]
        inside = [t for t in taps if 0 <= t < length]
        window = x[..., inside].astype(np.float64)
        if kind == "max":
            values[..., o] = window.max(-1)
            indices[..., o] = np.asarray(inside)[window.argmax(-1)]
        else:
            start, end = o * s - p, min(o * s - p + k, length + p)
            divisor = (end - start) if count_include_pad else len(inside)
            values[..., o] = window.sum(-1) / divisor
    return values, indices


# ---- unfold / fold against NumPy (no torch needed)

WINDOWS = [
    # kernel, dilation, padding, stride
    ((3, 3), (1, 1), (1, 1), (1, 1)),
    ((2, 3), (2, 1), (1, 0), (2, 1)),
    ((3, 2), (1, 2), (0, 2), (1, 3)),
    ((4, 4), (1, 1), (0, 0), (4, 4)),  # patches (reshape path)
    ((2, 2), (1, 1), (1, 1), (2, 2)),  # non-overlapping with padding
    ((1, 1), (1, 1), (0, 0), (1, 1)),
]


@pytest.mark.parametrize("k,d,p,s", WINDOWS)
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 7, 9)])
def test_unfold_fold_match_numpy(k, d, p, s, shape):
    x = randn(*shape)
    cols = md.F.unfold(md.tensor(x), k, d, p, s).numpy()
    want = unfold_ref(x, k, d, p, s)
    np.testing.assert_allclose(cols, want, rtol=1e-6, atol=1e-6)
    blocks = randn(*want.shape)
    got = md.F.fold(md.tensor(blocks), shape[2:], k, d, p, s).numpy()
    np.testing.assert_allclose(got, fold_ref(blocks, shape[2:], k, d, p, s), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("k,d,p,s", WINDOWS[:3])
def test_unfold_fold_gradients_finite_differences(k, d, p, s):
    check_grads(lambda t: md.F.unfold(t, k, d, p, s), [randn(1, 2, 6, 5)])
    cols = unfold_ref(np.zeros((1, 2, 6, 5)), k, d, p, s)
    check_grads(lambda t: md.F.fold(t, (6, 5), k, d, p, s), [randn(*cols.shape)])


@pytest.mark.parametrize("k,d,p,s", WINDOWS)
def test_fold_of_unfold_counts_overlaps(k, d, p, s):
    x = randn(2, 3, 9, 7)
    ones = md.ones(1, 1, 9, 7)
    counts = md.F.fold(md.F.unfold(ones, k, d, p, s), (9, 7), k, d, p, s).numpy()
    folded = md.F.fold(md.F.unfold(md.tensor(x), k, d, p, s), (9, 7), k, d, p, s).numpy()
    np.testing.assert_allclose(folded, x * counts, rtol=1e-6, atol=1e-6)
    if k == (3, 3):  # stride 1, padding 1: an interior pixel is in all 9 blocks, a corner in 4
        assert counts[0, 0, 4, 3] == 9 and counts[0, 0, 0, 0] == 4


def test_unfold_unbatched_and_patch_layout():
    x = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    cols = md.F.unfold(md.tensor(x), 2, stride=2).numpy()  # (C * 4, L = 2 * 3)
    assert cols.shape == (8, 6)
    # block 1 (row 0, col 1) of channel 1: x[1, 0:2, 2:4] row-major
    np.testing.assert_array_equal(cols[4:8, 1], x[1, 0:2, 2:4].reshape(-1))
    back = md.F.fold(md.tensor(cols), (4, 6), 2, stride=2).numpy()
    np.testing.assert_array_equal(back, x)


def test_unfold_fold_modules():
    x = randn(2, 3, 6, 6)
    unfold, fold = md.nn.Unfold(3, padding=1), md.nn.Fold((6, 6), 3, padding=1)
    assert repr(unfold) == "Unfold(kernel_size=3, dilation=1, padding=1, stride=1)"
    assert repr(fold) == "Fold(output_size=(6, 6), kernel_size=3, dilation=1, padding=1, stride=1)"
    np.testing.assert_allclose(unfold(md.tensor(x)).numpy(), unfold_ref(x, (3, 3), (1, 1), (1, 1), (1, 1)), atol=1e-6)
    assert fold(unfold(md.tensor(x))).shape == (2, 3, 6, 6)


def test_unfold_fold_errors():
    x = md.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"unfold: .*\(2, 3\).*at least one"):
        md.F.unfold(md.randn(1, 1, 2, 3), 3)
    with pytest.raises(ValueError, match="unfold: expected a 3D"):
        md.F.unfold(md.randn(4, 4), 2)
    with pytest.raises(ValueError, match="unfold: stride must be positive"):
        md.F.unfold(x, 2, stride=0)
    with pytest.raises(ValueError, match="unfold: padding must be non-negative"):
        md.F.unfold(x, 2, padding=-1)
    with pytest.raises(TypeError, match="unfold: kernel_size"):
        md.F.unfold(x, (2, 2, 2))
    # (4, 5) with a 2x2 kernel has 3 * 4 = 12 blocks, not 5
    with pytest.raises(ValueError, match=r"fold: input \(2, 12, 5\) holds 5 blocks.*3 \* 4 = 12"):
        md.F.fold(md.randn(2, 12, 5), (4, 5), 2)
    with pytest.raises(ValueError, match=r"fold: dimension 1 of input \(2, 10, 12\)"):
        md.F.fold(md.randn(2, 10, 12), (4, 5), 2)
    with pytest.raises(ValueError, match="fold: expected a 2D"):
        md.F.fold(x, (4, 4), 2)
    with pytest.raises(ValueError, match="Unfold: dilation must be positive"):
        md.nn.Unfold(3, dilation=0)


@pytest.mark.parametrize("k,d,p,s", WINDOWS)
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (3, 2, 7, 10), (2, 9, 6)])
def test_unfold_fold_match_torch(k, d, p, s, shape):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(*shape)
    assert_matches_torch(torch, lambda t: md.F.unfold(t, k, d, p, s), lambda t: tf.unfold(t, k, d, p, s), x)
    cols = tf.unfold(torch.tensor(x), k, d, p, s).numpy()
    blocks = randn(*cols.shape)
    size = shape[-2:]
    assert_matches_torch(
        torch, lambda t: md.F.fold(t, size, k, d, p, s), lambda t: tf.fold(t, size, k, d, p, s), blocks
    )


def test_unfold_vit_patches_match_torch():
    torch = pytest.importorskip("torch")
    x = randn(2, 3, 32, 48)
    assert_matches_torch(
        torch,
        lambda t: md.F.unfold(t, 16, stride=16).transpose(1, 2),
        lambda t: torch.nn.functional.unfold(t, 16, stride=16).transpose(1, 2),
        x,
    )


# ---- padding layers

PAD_1D = [1, (2, 0), (0, 3), (3, 1), (-1, 2), (2, -1)]
PAD_2D = [1, (1, 2, 0, 3), (2, 0, 1, 1), (0, 0, 2, 0), (-1, 2, 1, -1)]
MODE_CLASSES = {
    "reflect": ("ReflectionPad1d", "ReflectionPad2d"),
    "replicate": ("ReplicationPad1d", "ReplicationPad2d"),
    "circular": ("CircularPad1d", "CircularPad2d"),
}


def np_pad(x, padding, mode, value=0.0):
    """np.pad for non-negative padding (torch's order: last dim first); negative entries crop
    first (then circular wraps within the cropped part, as torch's)."""
    dims = len(padding) // 2
    pairs = [(padding[2 * i], padding[2 * i + 1]) for i in range(dims)][::-1]
    crop = tuple(slice(max(-lo, 0), x.shape[x.ndim - dims + i] - max(-hi, 0)) for i, (lo, hi) in enumerate(pairs))
    x = x[(Ellipsis,) + crop]
    widths = [(0, 0)] * (x.ndim - dims) + [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(mode, "constant")
    if np_mode == "constant":
        return np.pad(x, widths, constant_values=value)
    if mode == "reflect" and min(min(p) for p in pairs) < 0:
        raise AssertionError("reflect reference: crop and reflect do not commute")
    return np.pad(x, widths, mode=np_mode)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", PAD_1D)
@pytest.mark.parametrize("shape", [(2, 3, 6), (3, 5)])
def test_pad_1d_modules_match_numpy(mode, padding, shape):
    module = getattr(md.nn, MODE_CLASSES[mode][0])(padding)
    full = (padding, padding) if isinstance(padding, int) else padding
    x = randn(*shape)
    if mode == "reflect" and min(full) < 0:
        # reflect of a cropped side reads the original's values next to the cut: build it by hand
        positions = np.abs(np.arange(-full[0], shape[-1] + full[1]))
        positions = np.where(positions >= shape[-1], 2 * (shape[-1] - 1) - positions, positions)
        want = x[..., positions]
    else:
        want = np_pad(x, full, mode)
    np.testing.assert_array_equal(module(md.tensor(x)).numpy(), want)
    check_grads(lambda t: module(t), [randn(*shape)])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", PAD_2D[:4])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 5, 4)])
def test_pad_2d_modules_match_numpy(mode, padding, shape):
    module = getattr(md.nn, MODE_CLASSES[mode][1])(padding)
    full = (padding,) * 4 if isinstance(padding, int) else padding
    x = randn(*shape)
    np.testing.assert_array_equal(module(md.tensor(x)).numpy(), np_pad(x, full, mode))


@pytest.mark.parametrize("padding", PAD_2D)
def test_constant_and_zero_pad_match_numpy(padding):
    x = randn(2, 3, 5, 6)
    full = (padding,) * 4 if isinstance(padding, int) else padding
    np.testing.assert_array_equal(md.nn.ZeroPad2d(padding)(md.tensor(x)).numpy(), np_pad(x, full, "constant"))
    got = md.nn.ConstantPad2d(padding, 2.5)(md.tensor(x)).numpy()
    np.testing.assert_array_equal(got, np_pad(x, full, "constant", 2.5))
    got = md.nn.ConstantPad1d(full[:2], -1.0)(md.tensor(x)).numpy()
    np.testing.assert_array_equal(got, np_pad(x, full[:2], "constant", -1.0))
    np.testing.assert_array_equal(md.nn.ZeroPad1d(full[:2])(md.tensor(x[0])).numpy(), np_pad(x[0], full[:2], "zero"))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant", "zero"])
@pytest.mark.parametrize("dims,padding", [(1, p) for p in PAD_1D] + [(2, p) for p in PAD_2D])
@pytest.mark.parametrize("batched", [True, False])
def test_pad_modules_match_torch(mode, dims, padding, batched):
    torch = pytest.importorskip("torch")
    names = {"constant": ("ConstantPad1d", "ConstantPad2d"), "zero": ("ZeroPad1d", "ZeroPad2d"), **MODE_CLASSES}
    name = names[mode][dims - 1]
    args = (padding, 1.5) if mode == "constant" else (padding,)
    shape = (2, 3, 5, 6)[2 - dims + (0 if batched else 1) :]  # (N, C, L) / (C, L), (N, C, H, W) / (C, H, W)
    ours, theirs = getattr(md.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    assert_matches_torch(torch, ours, theirs, randn(*shape))


def test_pad_errors():
    with pytest.raises(ValueError, match=r"ReflectionPad1d: padding \(3, 0\) must be smaller.*\[2, 3\]"):
        md.nn.ReflectionPad1d((3, 0))(md.randn(2, 3))
    with pytest.raises(ValueError, match="CircularPad1d: .*wraps around .* more than once"):
        md.nn.CircularPad1d((4, 0))(md.randn(2, 3))
    with pytest.raises(ValueError, match=r"ReplicationPad2d: expected a 3D or 4D input, got shape \(2, 3, 4, 5, 6\)"):
        md.nn.ReplicationPad2d(1)(md.randn(2, 3, 4, 5, 6))
    with pytest.raises(ValueError, match=r"ReflectionPad1d: expected a 2D or 3D input, got shape \(4,\)"):
        md.nn.ReflectionPad1d(1)(md.randn(4))
    with pytest.raises(ValueError, match="ZeroPad2d: padding must be an int or 4 ints"):
        md.nn.ZeroPad2d((1, 2))
    with pytest.raises(TypeError, match="ReflectionPad2d: padding"):
        md.nn.ReflectionPad2d(1.5)
    with pytest.raises(ValueError, match="ReplicationPad1d: padding .* leaves nothing"):
        md.nn.ReplicationPad1d((-2, -1))(md.randn(2, 3))


# ---- upsampling layers and the deprecated aliases


def test_upsampling_nearest_any_size_matches_numpy():
    x = randn(2, 3, 4, 5)
    out = md.nn.UpsamplingNearest2d(size=(6, 7))(md.tensor(x)).numpy()
    rows = np.minimum(np.floor(np.arange(6, dtype=np.float32) * np.float32(4 / 6)), 3).astype(int)
    cols = np.minimum(np.floor(np.arange(7, dtype=np.float32) * np.float32(5 / 7)), 4).astype(int)
    np.testing.assert_array_equal(out, x[:, :, rows][:, :, :, cols])
    doubled = md.nn.UpsamplingNearest2d(scale_factor=2)(md.tensor(x)).numpy()
    np.testing.assert_array_equal(doubled, x.repeat(2, 2).repeat(2, 3))


@pytest.mark.parametrize(
    "kwargs", [dict(size=(6, 7)), dict(size=(8, 15)), dict(scale_factor=2), dict(scale_factor=1.5), dict(size=3)]
)
def test_upsampling_modules_match_torch(kwargs):
    torch = pytest.importorskip("torch")
    x = randn(2, 3, 4, 5)
    for name in ("UpsamplingNearest2d", "UpsamplingBilinear2d"):
        ours, theirs = getattr(md.nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
        assert repr(ours) == repr(theirs)
        assert_matches_torch(torch, ours, theirs, x)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsample_aliases_warn_and_match_torch(mode):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(1, 2, 3, 5)
    with pytest.warns(UserWarning, match="upsample is deprecated"):
        ours = md.F.upsample(md.tensor(x), size=(5, 8), mode=mode).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(ours, tf.upsample(torch.tensor(x), size=(5, 8), mode=mode).numpy(), atol=1e-6)
        alias = md.F.upsample_nearest if mode == "nearest" else md.F.upsample_bilinear
        torch_alias = tf.upsample_nearest if mode == "nearest" else tf.upsample_bilinear
        assert_matches_torch(torch, lambda t: alias(t, scale_factor=3), lambda t: torch_alias(t, scale_factor=3), x)
    with pytest.warns(UserWarning, match=f"upsample_{mode} is deprecated"):
        alias(md.tensor(x), size=(4, 4))


# ---- 1-D pooling

POOL_1D = [
    # kernel, stride, padding, dilation, ceil_mode
    (3, None, 0, 1, False),
    (3, 1, 1, 1, False),
    (2, 3, 1, 1, True),
    (4, 2, 2, 1, True),
    (3, 2, 1, 2, False),
    (2, 2, 0, 3, True),
    (1, 1, 0, 1, False),
]


@pytest.mark.parametrize("k,s,p,d,ceil_mode", POOL_1D)
def test_pool1d_matches_numpy(k, s, p, d, ceil_mode):
    x = randn(2, 3, 11)
    step = k if s is None else s
    values, indices = md.F.max_pool1d(md.tensor(x), k, s, p, d, ceil_mode, return_indices=True)
    want_values, want_indices = pool1d_ref(x, k, step, p, d, ceil_mode, "max")
    np.testing.assert_array_equal(values.numpy(), want_values.astype(np.float32))
    np.testing.assert_array_equal(indices.numpy(), want_indices)
    assert indices.dtype == "int64"
    if d == 1:
        for include in (True, False):
            got = md.F.avg_pool1d(md.tensor(x), k, s, p, ceil_mode, include).numpy()
            want, _ = pool1d_ref(x, k, step, p, 1, ceil_mode, "avg", include)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
            check_grads(lambda t, include=include: md.F.avg_pool1d(t, k, s, p, ceil_mode, include), [randn(1, 2, 7)])
    check_grads(lambda t: md.F.max_pool1d(t, k, s, p, d, ceil_mode), [distinct(1, 2, 9)])


@pytest.mark.parametrize("k,s,p,d,ceil_mode", POOL_1D)
@pytest.mark.parametrize("shape", [(2, 3, 11), (4, 10), (1, 2, 16)])
def test_pool1d_matches_torch(k, s, p, d, ceil_mode, shape):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(*shape)
    assert_matches_torch(
        torch, lambda t: md.F.max_pool1d(t, k, s, p, d, ceil_mode), lambda t: tf.max_pool1d(t, k, s, p, d, ceil_mode), x
    )
    _, ours = md.F.max_pool1d(md.tensor(x), k, s, p, d, ceil_mode, return_indices=True)
    _, theirs = tf.max_pool1d(torch.tensor(x), k, s, p, d, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    if d == 1:
        for include in (True, False):
            assert_matches_torch(
                torch,
                lambda t, include=include: md.F.avg_pool1d(t, k, s, p, ceil_mode, include),
                lambda t, include=include: tf.avg_pool1d(t, k, s, p, ceil_mode, include),
                x,
            )


def test_pool1d_modules_match_torch():
    torch = pytest.importorskip("torch")
    x = randn(2, 4, 13)
    pairs = [
        (md.nn.AvgPool1d(3, 2, 1), torch.nn.AvgPool1d(3, 2, 1)),
        (md.nn.AvgPool1d(4, ceil_mode=True, count_include_pad=False), torch.nn.AvgPool1d(4, ceil_mode=True)),
        (md.nn.MaxPool1d(3, 2, 1, 2), torch.nn.MaxPool1d(3, 2, 1, 2)),
        (md.nn.AdaptiveAvgPool1d(5), torch.nn.AdaptiveAvgPool1d(5)),
        (md.nn.AdaptiveMaxPool1d(4), torch.nn.AdaptiveMaxPool1d(4)),
        (md.nn.AdaptiveAvgPool1d(20), torch.nn.AdaptiveAvgPool1d(20)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert_matches_torch(torch, ours, theirs, x)
    values, indices = md.nn.MaxPool1d(2, return_indices=True)(md.tensor(x))
    want = torch.nn.MaxPool1d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(indices.numpy(), want[1].numpy())


@pytest.mark.parametrize("size", [1, 3, 5, 7, 13])
@pytest.mark.parametrize("shape", [(2, 3, 13), (3, 7)])
def test_adaptive_pool1d_matches_torch(size, shape):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(*shape)
    assert_matches_torch(
        torch, lambda t: md.F.adaptive_avg_pool1d(t, size), lambda t: tf.adaptive_avg_pool1d(t, size), x
    )
    assert_matches_torch(
        torch, lambda t: md.F.adaptive_max_pool1d(t, size), lambda t: tf.adaptive_max_pool1d(t, size), x
    )
    ours = md.F.adaptive_max_pool1d_with_indices(md.tensor(x), (size,))
    theirs = tf.adaptive_max_pool1d(torch.tensor(x), size, return_indices=True)
    np.testing.assert_array_equal(ours[1].numpy(), theirs[1].numpy())


def test_adaptive_avg_pool1d_matches_numpy():
    x = randn(2, 3, 7)
    got = md.F.adaptive_avg_pool1d(md.tensor(x), 3).numpy()
    bins = [(0, 3), (2, 5), (4, 7)]  # floor(i * 7 / 3), ceil((i + 1) * 7 / 3)
    want = np.stack([x[..., a:b].mean(-1) for a, b in bins], -1)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_pool1d_errors():
    x = md.randn(2, 3, 5)
    with pytest.raises(ValueError, match=r"max_pool1d: padding should be at most half of kernel size.*\(2,\)"):
        md.F.max_pool1d(x, 3, padding=2)
    with pytest.raises(ValueError, match=r"max_pool1d: input of shape \(2, 3, 2\).*too small"):
        md.F.max_pool1d(md.randn(2, 3, 2), 3)
    with pytest.raises(ValueError, match=r"avg_pool1d: expected a 2D \(C, L\) or 3D \(N, C, L\) input"):
        md.F.avg_pool1d(md.randn(1, 2, 3, 4), 2)
    with pytest.raises(ValueError, match="max_pool1d: stride must be positive"):
        md.F.max_pool1d(x, 2, 0)
    with pytest.raises(ValueError, match="adaptive_avg_pool1d: expected a 2D"):
        md.F.adaptive_avg_pool1d(md.randn(5), 2)
    with pytest.raises(ValueError, match="MaxPool1d: padding should be at most half"):
        md.nn.MaxPool1d(2, padding=2)


# ---- 2-D max pooling with indices (any window), unpooling

POOL_2D = [
    # kernel, stride, padding, dilation, ceil_mode
    (2, None, 0, 1, False),
    (3, 2, 1, 1, False),
    ((3, 2), (2, 1), (1, 0), 1, True),
    (3, 1, 1, 2, False),
    (2, 3, 1, (2, 1), True),
]


@pytest.mark.parametrize("k,s,p,d,ceil_mode", POOL_2D)
@pytest.mark.parametrize("shape", [(2, 3, 9, 8), (3, 7, 10)])
def test_max_pool2d_with_indices_matches_torch(k, s, p, d, ceil_mode, shape):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(*shape)
    assert_matches_torch(
        torch,
        lambda t: md.F.max_pool2d_with_indices(t, k, s, p, d, ceil_mode)[0],
        lambda t: tf.max_pool2d_with_indices(t, k, s, p, d, ceil_mode)[0],
        x,
    )
    _, ours = md.F.max_pool2d_with_indices(md.tensor(x), k, s, p, d, ceil_mode)
    _, theirs = tf.max_pool2d_with_indices(torch.tensor(x), k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_max_pool_indices_of_all_minus_inf_window_are_real_positions():
    x = np.full((1, 1, 5), -np.inf, dtype=np.float32)
    values, indices = md.F.max_pool1d(md.tensor(x), 3, 2, 1, return_indices=True)
    assert np.all(values.numpy() == -np.inf)
    np.testing.assert_array_equal(indices.numpy(), [[[0, 1, 3]]])  # each window's first real position


@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 2, 1), (2, 1, 0), ((2, 3), (2, 3), 0)])
@pytest.mark.parametrize("batched", [True, False])
def test_max_unpool2d_matches_torch(k, s, p, batched):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(2, 3, 8, 9) if batched else randn(3, 8, 9)
    pooled, indices = tf.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
    values = pooled.numpy()
    sizes = [x.shape[-2:]]
    default = tuple(
        (n - 1) * st + kk - 2 * pp
        for n, kk, st, pp in zip(values.shape[-2:], *[np.broadcast_to(v, 2) for v in (k, k if s is None else s, p)])
    )
    if default == x.shape[-2:]:  # otherwise the indices (into H x W) do not fit the default plane
        sizes.append(None)
    for size in sizes:
        assert_matches_torch(
            torch,
            lambda t, i, size=size: md.F.max_unpool2d(t, i, k, s, p, size),
            lambda t, i, size=size: tf.max_unpool2d(t, i, k, s, p, size),
            values,
            indices.numpy(),
        )
    if ((2, 1, 0)) == (k, s, p):
        assert None in sizes
    module = md.nn.MaxUnpool2d(k, s, p)
    assert repr(module) == repr(torch.nn.MaxUnpool2d(k, s, p))


def test_max_unpool_overlapping_windows_gradient_matches_torch():
    """Stride 1 windows pick the same position more than once: the value is written once and
    every duplicate gets the upstream gradient at its index, as torch's backward gathers it."""
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(2, 2, 6, 6)
    pooled, indices = tf.max_pool2d(torch.tensor(x), 3, 1, return_indices=True)
    assert len(np.unique(indices.numpy()[0, 0])) < indices[0, 0].numel()  # there are duplicates
    assert_matches_torch(
        torch,
        lambda t, i: md.F.max_unpool2d(t, i, 3, 1, output_size=(6, 6)),
        lambda t, i: tf.max_unpool2d(t, i, 3, 1, output_size=(6, 6)),
        pooled.numpy(),
        indices.numpy(),
    )


def test_max_pool_unpool_roundtrip_numpy():
    x = randn(2, 3, 4, 6)
    values, indices = md.F.max_pool2d(md.tensor(x), 2, return_indices=True)
    restored = md.nn.MaxUnpool2d(2)(values, indices).numpy()
    block_max = x.reshape(2, 3, 2, 2, 3, 2).max((3, 5)).repeat(2, 2).repeat(2, 3)
    np.testing.assert_array_equal(restored, np.where(x == block_max, x, 0.0))
    signal = x[0, 0]  # (C, L) = (4, 6): unbatched
    v1, i1 = md.F.max_pool1d(md.tensor(signal), 3, return_indices=True)
    restored = md.nn.MaxUnpool1d(3)(v1, i1).numpy()
    windows = signal.reshape(4, 2, 3)
    want = np.zeros((4, 2, 3), dtype=np.float32)
    np.put_along_axis(want, windows.argmax(-1)[..., None], windows.max(-1)[..., None], -1)
    np.testing.assert_array_equal(restored, want.reshape(4, 6))
    check_grads(lambda t: md.F.max_unpool2d(t, indices, 2), [values.numpy()])


def test_max_unpool1d_matches_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(2, 3, 11)
    pooled, indices = tf.max_pool1d(torch.tensor(x), 3, 2, 1, return_indices=True)
    assert_matches_torch(
        torch,
        lambda t, i: md.F.max_unpool1d(t, i, 3, 2, 1, output_size=(2, 3, 12)),
        lambda t, i: tf.max_unpool1d(t, i, 3, 2, 1, output_size=(2, 3, 12)),
        pooled.numpy(),
        indices.numpy(),
    )


def test_max_unpool_errors():
    values, indices = md.F.max_pool2d(md.randn(1, 2, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match=r"max_unpool2d: invalid output_size \(7, 7\) \(dim 0 must be between 2 and 6"):
        md.F.max_unpool2d(values, indices, 2, output_size=(7, 7))
    with pytest.raises(ValueError, match="max_unpool2d: output_size should be a sequence containing 2 or 4"):
        md.F.max_unpool2d(values, indices, 2, output_size=(4, 4, 4))
    with pytest.raises(ValueError, match=r"max_unpool2d: indices of shape \(1, 2, 2, 1\) differ"):
        md.F.max_unpool2d(values, indices[..., :1], 2)
    with pytest.raises(TypeError, match="max_unpool2d: indices must be int64"):
        md.F.max_unpool2d(values, values, 2)
    bad = md.tensor(np.full((1, 2, 2, 2), 16, dtype=np.int64), dtype="int64")
    with pytest.raises(ValueError, match="max_unpool2d: found an invalid max index 16"):
        md.F.max_unpool2d(values, bad, 2)


# ---- channel shuffle, batch norm


@pytest.mark.parametrize("shape,groups", [((2, 6, 3, 4), 2), ((2, 6, 3, 4), 3), ((3, 8, 5), 4), ((1, 4, 2, 2), 1)])
def test_channel_shuffle(shape, groups):
    x = randn(*shape)
    got = md.F.channel_shuffle(md.tensor(x), groups).numpy()
    c = shape[1]
    order = [(i % groups) * (c // groups) + i // groups for i in range(c)]  # output channel i reads this one
    np.testing.assert_array_equal(got, x[:, order])
    module = md.nn.ChannelShuffle(groups)
    assert repr(module) == f"ChannelShuffle(groups={groups})"
    torch = pytest.importorskip("torch")
    assert_matches_torch(torch, module, torch.nn.ChannelShuffle(groups), x)


def test_channel_shuffle_errors():
    with pytest.raises(ValueError, match=r"channel_shuffle: the 5 channels of input \(2, 5, 3\)"):
        md.F.channel_shuffle(md.randn(2, 5, 3), 2)
    with pytest.raises(ValueError, match="channel_shuffle: expected an input of more than 2 dimensions"):
        md.F.channel_shuffle(md.randn(4, 6), 2)


def batch_norm_numpy(x, mean, var, weight, bias, eps):
    view = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(view)) / np.sqrt(var.reshape(view) + eps) * weight.reshape(view) + bias.reshape(view)


@pytest.mark.parametrize("momentum", [0.1, None, 0.5])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_batch_norm1d_running_stats_numpy(momentum, shape):
    bn = md.nn.BatchNorm1d(3, momentum=momentum)
    mean, var = np.zeros(3), np.ones(3)
    axes = (0,) + tuple(range(2, len(shape)))
    for step in range(1, 4):
        x = randn(*shape, scale=2.0) + step
        out = bn(md.tensor(x)).numpy()
        batch_mean, batch_var = x.mean(axes), x.var(axes)
        np.testing.assert_allclose(
            out, batch_norm_numpy(x, batch_mean, batch_var, np.ones(3), np.zeros(3), 1e-5), atol=1e-5
        )
        count = x.size // 3
        factor = 1.0 / step if momentum is None else momentum
        mean = (1 - factor) * mean + factor * batch_mean
        var = (1 - factor) * var + factor * batch_var * count / (count - 1)
        np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.running_var.numpy(), var, rtol=1e-5, atol=1e-6)
        assert bn.num_batches_tracked.item() == step
    bn.eval()
    x = randn(*shape)
    got = bn(md.tensor(x)).numpy()
    np.testing.assert_allclose(got, batch_norm_numpy(x, mean, var, np.ones(3), np.zeros(3), 1e-5), rtol=1e-5, atol=1e-5)
    check_grads(lambda t: md.F.batch_norm(t, None, None, training=True), [randn(*shape)])


@pytest.mark.torch_2_13
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine,track", [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize("shape", [(8, 4), (5, 4, 7)])
def test_batch_norm1d_matches_torch(momentum, affine, track, shape):
    torch = pytest.importorskip("torch")
    ours = md.nn.BatchNorm1d(4, momentum=momentum, affine=affine, track_running_stats=track)
    theirs = torch.nn.BatchNorm1d(4, momentum=momentum, affine=affine, track_running_stats=track)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if affine:
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(randn(4)))
            theirs.bias.copy_(torch.tensor(randn(4)))
    ours.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    for step in range(3):
        x = randn(*shape, scale=1.5) + step
        assert_matches_torch(torch, ours, theirs, x, rtol=1e-5, atol=1e-5)
        if affine:
            np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-5, atol=1e-5)
            ours.weight.grad = None
            theirs.weight.grad = theirs.bias.grad = None
            ours.bias.grad = None
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    ours.eval()
    theirs.eval()
    assert_matches_torch(torch, ours, theirs, randn(*shape), rtol=1e-5, atol=1e-5)


def test_functional_batch_norm_matches_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, w, b = randn(4, 3, 5, 2), randn(3), randn(3)
    rm, rv = randn(3), np.abs(randn(3)) + 0.5
    assert_matches_torch(
        torch,
        lambda t, ww, bb: md.F.batch_norm(t, md.tensor(rm), md.tensor(rv), ww, bb, False, 0.1, 1e-3),
        lambda t, ww, bb: tf.batch_norm(t, torch.tensor(rm), torch.tensor(rv), ww, bb, False, 0.1, 1e-3),
        x,
        w,
        b,
    )
    ours_rm, ours_rv = md.tensor(rm), md.tensor(rv)
    theirs_rm, theirs_rv = torch.tensor(rm), torch.tensor(rv)
    assert_matches_torch(
        torch,
        lambda t: md.F.batch_norm(t, ours_rm, ours_rv, training=True, momentum=0.3),
        lambda t: tf.batch_norm(t, theirs_rm, theirs_rv, training=True, momentum=0.3),
        x,
    )
    np.testing.assert_allclose(ours_rm.numpy(), theirs_rm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours_rv.numpy(), theirs_rv.numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_errors():
    bn = md.nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D \(N, C\) or 3D \(N, C, L\) input, got shape"):
        bn(md.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 3 channels, got input of shape \(2, 4\)"):
        bn(md.randn(2, 4))
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel.*\(1, 3\)"):
        bn(md.randn(1, 3))
    with pytest.raises(ValueError, match="batch_norm: running_mean and running_var must be given"):
        md.F.batch_norm(md.randn(2, 3), None, None)
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\)"):
        md.F.batch_norm(md.randn(2, 3), None, None, md.ones(4), training=True)
