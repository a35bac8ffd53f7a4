"""F.pad's reflect/replicate/circular modes, F.max_pool2d / F.avg_pool2d and nn.MaxPool2d /
nn.AvgPool2d with torch's full windows (stride, padding, dilation, ceil_mode, count_include_pad,
divisor_override, return_indices), and F.interpolate / nn.Upsample "nearest" at any size: values
and gradients against torch where it is installed, NumPy references and finite differences where
it is not, and the errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gradcheck import check_grads

import minidiff as md
from minidiff import resize

F = md.F


def randn(seed: int, *shape) -> np.ndarray:
    """Normal float32 values from their own generator, so a test does not depend on the order the
    tests run in."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def run_md(fn, x: np.ndarray, g: np.ndarray | None = None, seed: int = 99):
    """(value, input gradient, upstream gradient) of fn on a float32 tensor made from x."""
    t = md.tensor(x, requires_grad=True)
    out = fn(t)
    out = out[0] if isinstance(out, tuple) else out
    g = randn(seed, *out.shape) if g is None else g
    out.backward(md.tensor(g))
    return out.numpy(), t.grad.numpy(), g


def assert_matches_torch(torch, md_fn, torch_fn, x: np.ndarray, rtol=1e-5, atol=1e-6):
    value, grad, g = run_md(md_fn, x)
    t = torch.tensor(x, requires_grad=True)
    out = torch_fn(t)
    out = out[0] if isinstance(out, tuple) else out
    out.backward(torch.tensor(g))
    assert value.shape == tuple(out.shape)
    np.testing.assert_allclose(value, out.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=rtol, atol=atol)


# ---- F.pad: non-constant modes

# (input shape, pad) for 1, 2 and 3 padded dims, batched and not; negative entries crop
PAD_CASES = [
    ((3, 6), (2, 1)),
    ((2, 3, 6), (0, 3)),
    ((2, 3, 6), (5, 0)),
    ((2, 3, 6), (-1, 2)),
    ((2, 3, 6), (2, -1)),
    ((2, 3, 6), (0, 0)),
    ((2, 3, 4), (4, -1)),
    ((3, 4, 5), (1, 2, 3, 0)),
    ((2, 3, 4, 5), (2, 1, 1, 3)),
    ((2, 3, 4, 5), (-1, 2, 1, -1)),
    ((2, 3, 4, 5), (0, 0, 2, 0)),
    ((3, 4, 5, 6), (1, 0, 2, 1, 1, 2)),
    ((2, 2, 3, 4, 5), (2, 1, 0, 3, 2, 1)),
    ((2, 2, 3, 4, 5), (-1, 1, 0, 2, 1, -1)),
]
MODES = ["reflect", "replicate", "circular"]


def _fits(mode: str, shape, pad) -> bool:
    """Whether torch computes this case well: reflect needs each side smaller than the dim;
    circular padding past the cropped part reads memory torch never wrote (an error here)."""
    for i in range(len(pad) // 2):
        size, left, right = shape[-1 - i], pad[2 * i], pad[2 * i + 1]
        kept = size - max(-left, 0) - max(-right, 0)
        if mode == "reflect" and max(left, right) >= size:
            return False
        if mode == "circular" and max(left, right) > kept:
            return False
    return True


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape, pad", PAD_CASES, ids=[f"{s}-{p}" for s, p in PAD_CASES])
def test_pad_modes_match_torch(mode, shape, pad):
    torch = pytest.importorskip("torch")
    x = randn(1, *shape)
    if not _fits(mode, shape, pad):
        with pytest.raises(ValueError, match="pad: padding"):
            F.pad(md.tensor(x), pad, mode=mode)
        return
    assert_matches_torch(
        torch, lambda t: F.pad(t, pad, mode=mode), lambda t: torch.nn.functional.pad(t, pad, mode=mode), x
    )


def np_pad(x: np.ndarray, pad, mode: str) -> np.ndarray:
    """np.pad for non-negative F.pad widths (last dim first)."""
    dims = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - dims) + [(pad[2 * i], pad[2 * i + 1]) for i in range(dims)][::-1]
    return np.pad(x, widths, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "shape, pad",
    [
        ((3, 5), (2, 3)),
        ((2, 3, 4, 5), (1, 3, 2, 0)),
        ((1, 2, 3, 4, 5), (2, 1, 0, 2, 1, 1)),
        ((2, 3, 4, 5), (1, 1, 4, 4)),
    ],
)
def test_pad_modes_match_numpy(mode, shape, pad):
    x = randn(2, *shape)
    if not _fits(mode, shape, pad):
        with pytest.raises(ValueError, match=r"pad: padding \(4, 4\) must be smaller .* \[2, 3, 4, 5\]"):
            F.pad(md.tensor(x), pad, mode=mode)
        return
    np.testing.assert_array_equal(F.pad(md.tensor(x), pad, mode=mode).numpy(), np_pad(x, pad, mode))
    # the same native op behind the padding layers and Conv2d's padding_mode, called directly
    native = md._core.functional.pad(md.tensor(x), list(pad), mode)
    np.testing.assert_array_equal(native.numpy(), np_pad(x, pad, mode))


@pytest.mark.parametrize("mode", MODES)
def test_conv2d_padding_mode_equals_pad_then_conv(mode):
    x = md.tensor(randn(5, 2, 3, 5, 4), requires_grad=True)
    conv = md.nn.Conv2d(3, 2, 3, padding=(2, 1), padding_mode=mode)
    want = F.conv2d(F.pad(x, (1, 1, 2, 2), mode=mode), conv.weight, conv.bias)
    np.testing.assert_allclose(conv(x).numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    check_grads(lambda t: md.nn.functional.pad(t, (1, 1, 2, 2), mode=mode), [randn(6, 1, 2, 3, 4)])


@pytest.mark.parametrize("mode", MODES)
def test_pad_mode_gradients_by_finite_differences(mode):
    check_grads(lambda t: F.pad(t, (2, 1, 1, 2), mode=mode), [randn(3, 2, 3, 4)])
    check_grads(lambda t: F.pad(t, (-1, 2), mode=mode), [randn(4, 2, 5)])


def test_pad_gradient_sums_the_repeats_by_hand():
    # replicate (2, 1) on [a, b, c]: a appears 3 times, c twice
    x = md.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    F.pad(x, (2, 1), mode="replicate").sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3, 1, 2]])
    # reflect (2, 2) on [a, b, c]: [c, b, a, b, c, b, a]
    x = md.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    y = F.pad(x, (2, 2), mode="reflect")
    np.testing.assert_array_equal(y.numpy(), [[3, 2, 1, 2, 3, 2, 1]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 3, 2]])
    # circular (-1, 2) crops a, then wraps [b, c]: [b, c, b, c]
    x = md.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    y = F.pad(x, (-1, 2), mode="circular")
    np.testing.assert_array_equal(y.numpy(), [[2, 3, 2, 3]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 2, 2]])


def test_pad_constant_stays_native_and_takes_any_rank():
    x = randn(5, 2, 3)
    np.testing.assert_array_equal(F.pad(md.tensor(x), (1, 2)).numpy(), np.pad(x, ((0, 0), (1, 2))))
    np.testing.assert_array_equal(
        F.pad(md.tensor(x), [0, 1, 2, 0], "constant", 2.5).numpy(), np.pad(x, ((2, 0), (0, 1)), constant_values=2.5)
    )
    v = randn(6, 4)
    np.testing.assert_array_equal(F.pad(md.tensor(v), (3, 1), value=None).numpy(), np.pad(v, (3, 1)))
    assert F.pad(md.zeros(1, 1, 1, 1, 1, 2), (1, 1)).shape == (1, 1, 1, 1, 1, 4)


def test_pad_mode_takes_value_zero_and_other_dtypes():
    x = randn(7, 2, 4)
    np.testing.assert_array_equal(
        F.pad(md.tensor(x), (1, 1), mode="reflect", value=0).numpy(), np_pad(x, (1, 1), "reflect")
    )
    ints = np.arange(24, dtype=np.int64).reshape(2, 3, 4)
    got = F.pad(md.tensor(ints, dtype="int64"), (2, 1, 1, 0), mode="circular")
    assert got.dtype == "int64"
    np.testing.assert_array_equal(got.numpy(), np_pad(ints, (2, 1, 1, 0), "circular"))


def test_pad_empty_batch_and_circular_empty_channels_as_torch():
    assert F.pad(md.zeros(0, 3, 4), (1, 2), mode="reflect").shape == (0, 3, 7)
    assert F.pad(md.zeros(2, 0, 4), (1, 1), mode="circular").shape == (2, 0, 6)
    with pytest.raises(ValueError, match=r"pad: the input's non-batch dimensions must be nonzero.*\(2, 0, 4\)"):
        F.pad(md.zeros(2, 0, 4), (1, 1), mode="replicate")


@pytest.mark.parametrize(
    "x, args, kwargs, error, match",
    [
        (md.zeros(2, 3), ((1, 1),), {"mode": "mirror"}, ValueError, "pad: mode must be one of .*'mirror'"),
        (md.zeros(2, 3), ((1, 1),), {"mode": "reflect", "value": 1.0}, ValueError, "pad: mode 'reflect' takes no"),
        (md.zeros(2, 3), ((1, 1, 1),), {"mode": "replicate"}, ValueError, r"pad: .*divisible by 2.*\(2, 3\)"),
        (md.zeros(4), ((1, 1),), {"mode": "reflect"}, ValueError, r"pad: mode 'reflect' pads .*\(1, 1\).*\(4,\)"),
        (md.zeros(2, 3, 4), ((1,) * 6,), {"mode": "circular"}, ValueError, r"pad: .*\(1, 1, 1, 1, 1, 1\).*\(2, 3, 4\)"),
        (md.zeros(1, 2, 2, 2, 2, 2), ((1, 1),), {"mode": "replicate"}, ValueError, r"pad: .*\(1, 2, 2, 2, 2, 2\)"),
        (md.zeros(2, 3), ((),), {"mode": "reflect"}, ValueError, r"pad: mode 'reflect' pads"),
        (md.zeros(2, 3), ((3, 0),), {"mode": "reflect"}, ValueError, r"pad: padding \(3, 0\) must be smaller"),
        (md.zeros(2, 3), ((4, 0),), {"mode": "circular"}, ValueError, "pad: padding .* wraps around .* more than once"),
        (md.zeros(2, 4), ((3, -2),), {"mode": "circular"}, ValueError, "pad: padding .* more than once"),
        (md.zeros(2, 3), ((-2, -1),), {"mode": "replicate"}, ValueError, r"pad: padding \(-2, -1\) leaves nothing"),
        (md.zeros(2, 3), ((1.5, 1),), {"mode": "reflect"}, TypeError, "pad: pad must be a sequence of ints"),
        (np.zeros((2, 3), np.float32), ((1, 1),), {"mode": "reflect"}, TypeError, "pad: input must be an md tensor"),
    ],
)
def test_pad_errors(x, args, kwargs, error, match):
    with pytest.raises(error, match=match):
        F.pad(x, *args, **kwargs)


def test_padding_layers_and_conv1d_use_the_same_padding():
    x = randn(8, 2, 3, 5, 6)
    for layer, mode in ((md.nn.ReflectionPad2d, "reflect"), (md.nn.ReplicationPad2d, "replicate")):
        np.testing.assert_array_equal(layer((1, 2, 3, 0))(md.tensor(x)).numpy(), np_pad(x, (1, 2, 3, 0), mode))
    np.testing.assert_array_equal(md.nn.CircularPad1d(2)(md.tensor(x[0])).numpy(), np_pad(x[0], (2, 2), "circular"))
    # Conv1d(padding_mode) = F.pad in that mode, then an unpadded conv1d
    conv = md.nn.Conv1d(3, 4, 3, padding=2, padding_mode="circular")
    seq = randn(9, 2, 3, 7)
    with md.no_grad():
        want = F.conv1d(F.pad(md.tensor(seq), (2, 2), mode="circular"), conv.weight, conv.bias).numpy()
        np.testing.assert_allclose(conv(md.tensor(seq)).numpy(), want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"Conv1d: padding \(3, 3\) must be smaller"):
        md.nn.Conv1d(3, 4, 3, padding=3, padding_mode="reflect")(md.randn(1, 3, 3))


# ---- pooling: torch's windows

# kernel_size, stride, padding, dilation, ceil_mode
MAX_CASES = [
    (2, None, 0, 1, False),
    (3, None, 0, 1, False),  # floor: the last row and column do not fill a window
    (3, None, 0, 1, True),
    (3, 2, 1, 1, False),
    (3, 1, 1, 1, False),
    ((2, 3), (1, 2), (1, 0), 1, True),
    (3, 2, 1, 2, False),
    ((3, 2), 2, (1, 1), (2, 3), True),
    (2, 3, 1, 1, True),  # windows leave gaps; ceil mode starts one in the right padding
    (1, 2, 0, 1, False),
]
SHAPES = [(2, 3, 7, 9), (3, 8, 5), (1, 2, 10, 10)]


@pytest.mark.parametrize("case", MAX_CASES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_max_pool2d_matches_torch(case, shape):
    torch = pytest.importorskip("torch")
    k, s, p, d, ceil = case
    x = randn(11, *shape)
    assert_matches_torch(
        torch,
        lambda t: F.max_pool2d(t, k, s, p, d, ceil),
        lambda t: torch.nn.functional.max_pool2d(t, k, s, p, d, ceil),
        x,
    )
    out, indices = F.max_pool2d(md.tensor(x), k, s, p, d, ceil, return_indices=True)
    ref, ref_indices = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, d, ceil, return_indices=True)
    assert indices.dtype == "int64"
    np.testing.assert_array_equal(indices.numpy(), ref_indices.numpy())
    np.testing.assert_array_equal(out.numpy(), ref.numpy())


# kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
AVG_CASES = [
    (2, None, 0, False, True, None),
    (3, None, 0, True, True, None),
    (3, 2, 1, False, True, None),
    (3, 2, 1, False, False, None),
    (3, 2, 1, True, True, None),
    (3, 2, 1, True, False, None),
    ((2, 3), (3, 1), (1, 1), True, False, None),
    ((2, 3), (3, 1), (1, 1), True, True, None),
    (3, 1, 1, False, True, 5),
    (2, None, 0, False, True, 3),
    (4, 3, 2, True, False, None),
]


@pytest.mark.parametrize("case", AVG_CASES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_avg_pool2d_matches_torch(case, shape):
    torch = pytest.importorskip("torch")
    k, s, p, ceil, count, divisor = case
    assert_matches_torch(
        torch,
        lambda t: F.avg_pool2d(t, k, s, p, ceil, count, divisor),
        lambda t: torch.nn.functional.avg_pool2d(t, k, s, p, ceil, count, divisor),
        randn(12, *shape),
    )


def test_max_pool2d_ties_in_overlapping_windows_match_torch():
    """Ties go to the first maximum in row-major window order, as torch's CPU kernel; a position
    that wins several overlapping windows sums their gradients."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(13).integers(0, 3, size=(2, 2, 6, 7)).astype(np.float32)
    for args in ((3, 1, 1), (3, 2, 0), (2, 1, 0)):
        assert_matches_torch(
            torch, lambda t, a=args: F.max_pool2d(t, *a), lambda t, a=args: torch.nn.functional.max_pool2d(t, *a), x
        )
        _, indices = F.max_pool2d(md.tensor(x), *args, return_indices=True)
        _, want = torch.nn.functional.max_pool2d(torch.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(indices.numpy(), want.numpy())


def test_max_pool2d_indices_of_all_minus_inf_windows_match_torch():
    """A window whose real values are all -inf reports its first real position (never a padding
    tap), as torch's."""
    torch = pytest.importorskip("torch")
    x = np.full((1, 2, 3, 4), -np.inf, np.float32)
    x[0, 0, 2, 3], x[0, 1, 0, 1] = 1.0, 2.0
    for args in ((3, 1, 1), (2, 2, 1)):
        value, indices = F.max_pool2d(md.tensor(x), *args, return_indices=True)
        want, want_indices = torch.nn.functional.max_pool2d(torch.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(value.numpy(), want.numpy())
        np.testing.assert_array_equal(indices.numpy(), want_indices.numpy())


def pool_ref(x, kind, k, s, p, d=(1, 1), ceil=False, count_include_pad=True, divisor=None):
    """(N, C, H, W) pooling in float64, by loops over output positions (torch's rules)."""
    n, c, h, w = x.shape
    sizes = []
    for size, kk, ss, pp, dd in zip((h, w), k, s, p, d):
        out = (size + 2 * pp - dd * (kk - 1) - 1 + (ss - 1 if ceil else 0)) // ss + 1
        if ceil and (out - 1) * ss >= size + pp:
            out -= 1
        sizes.append(out)
    result = np.zeros((n, c, *sizes))
    for i in range(sizes[0]):
        for j in range(sizes[1]):
            rows = [i * s[0] - p[0] + a * d[0] for a in range(k[0])]
            cols = [j * s[1] - p[1] + b * d[1] for b in range(k[1])]
            rows_in, cols_in = [r for r in rows if 0 <= r < h], [q for q in cols if 0 <= q < w]
            window = x[:, :, rows_in][:, :, :, cols_in].astype(np.float64)
            if kind == "max":
                result[:, :, i, j] = window.max((2, 3))
                continue
            r0, q0 = i * s[0] - p[0], j * s[1] - p[1]
            full = (min(r0 + k[0], h + p[0]) - r0) * (min(q0 + k[1], w + p[1]) - q0)
            count = divisor or (full if count_include_pad else len(rows_in) * len(cols_in))
            result[:, :, i, j] = window.sum((2, 3)) / count
    return result


@pytest.mark.parametrize(
    "kind, kwargs",
    [
        ("max", dict(k=(3, 3), s=(2, 2), p=(1, 1))),
        ("max", dict(k=(2, 3), s=(1, 2), p=(1, 0), d=(2, 1), ceil=True)),
        ("max", dict(k=(2, 2), s=(2, 2), p=(0, 0))),
        ("avg", dict(k=(3, 3), s=(2, 2), p=(1, 1), ceil=True)),
        ("avg", dict(k=(3, 2), s=(2, 3), p=(1, 1), ceil=True, count_include_pad=False)),
        ("avg", dict(k=(3, 3), s=(3, 3), p=(0, 0), ceil=True, divisor=4)),
        ("avg", dict(k=(2, 2), s=(2, 2), p=(0, 0))),
    ],
)
def test_pool2d_matches_numpy_and_finite_differences(kind, kwargs):
    x = randn(14, 2, 3, 7, 8)
    a = dict(kwargs)
    k, s, p = a.pop("k"), a.pop("s"), a.pop("p")
    if kind == "max":

        def fn(t):
            return F.max_pool2d(t, k, s, p, a.get("d", 1), a.get("ceil", False))
    else:

        def fn(t):
            return F.avg_pool2d(t, k, s, p, a.get("ceil", False), a.get("count_include_pad", True), a.get("divisor"))

    np.testing.assert_allclose(fn(md.tensor(x)).numpy(), pool_ref(x, kind, k, s, p, **a), rtol=1e-6, atol=1e-6)
    check_grads(fn, [randn(15, 1, 2, 7, 8)], eps=1e-3)


def test_tiled_and_general_pooling_agree():
    """Windows that tile the input take a reshape (no index tables); asking for indices, or a
    window that does not tile, takes the general gather: the same values and gradients."""
    x = randn(16, 2, 3, 9, 8)
    fast = run_md(lambda t: F.max_pool2d(t, (3, 2)), x)
    general = run_md(lambda t: F.max_pool2d(t, (3, 2), return_indices=True), x)
    for a, b in zip(fast, general):
        np.testing.assert_array_equal(a, b)
    # ceil mode adds a partial last window to 8 x 7 (so the gather), floor mode does not
    fast = run_md(lambda t: F.avg_pool2d(t, 3), x[..., :8, :7])
    general = run_md(lambda t: F.avg_pool2d(t, 3, ceil_mode=True)[..., :2, :2], x[..., :8, :7])
    for a, b in zip(fast, general):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), ceil_mode=True),
        dict(kernel_size=3, stride=1, padding=1, return_indices=True),
    ],
)
def test_max_pool2d_module_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = md.nn.MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs)
    assert repr(ours) == repr(theirs)
    assert (ours.kernel_size, ours.stride, ours.padding, ours.dilation, ours.ceil_mode, ours.return_indices) == (
        theirs.kernel_size,
        theirs.stride,
        theirs.padding,
        theirs.dilation,
        theirs.ceil_mode,
        theirs.return_indices,
    )
    x = randn(17, 2, 3, 7, 6)
    assert_matches_torch(torch, ours, theirs, x)
    assert_matches_torch(torch, ours, theirs, x[0])
    if kwargs.get("return_indices"):
        np.testing.assert_array_equal(ours(md.tensor(x))[1].numpy(), theirs(torch.tensor(x))[1].numpy())


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), ceil_mode=True, count_include_pad=False),
        dict(kernel_size=3, stride=1, padding=1, divisor_override=2),
    ],
)
def test_avg_pool2d_module_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = md.nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs)
    assert repr(ours) == repr(theirs)
    x = randn(18, 2, 3, 7, 6)
    assert_matches_torch(torch, ours, theirs, x)
    assert_matches_torch(torch, ours, theirs, x[0])


def test_pool_module_reprs_without_torch():
    assert (
        repr(md.nn.MaxPool2d(3, 2, 1)) == "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)"
    )
    assert repr(md.nn.AvgPool2d((2, 3), padding=1)) == "AvgPool2d(kernel_size=(2, 3), stride=(2, 3), padding=1)"


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x: F.max_pool2d(x, 3, padding=2), ValueError, r"max_pool2d: padding should be at most half"),
        (lambda x: F.avg_pool2d(x, 2, padding=(0, 2)), ValueError, r"avg_pool2d: padding should be at most half"),
        (lambda x: F.max_pool2d(x, 8), ValueError, r"max_pool2d: input of shape \(1, 2, 6, 7\) .* too small"),
        (lambda x: F.avg_pool2d(x, 3, dilation=2), TypeError, "dilation"),
        (lambda x: F.max_pool2d(x, 2, stride=0), ValueError, "max_pool2d: stride must be positive"),
        (lambda x: F.max_pool2d(x, 2, padding=-1), ValueError, "max_pool2d: padding must be non-negative"),
        (lambda x: F.max_pool2d(x, 2, dilation=0), ValueError, "max_pool2d: dilation must be positive"),
        (lambda x: F.max_pool2d(x, 2.0), TypeError, "max_pool2d: kernel_size must be an int or a sequence of 2"),
        (lambda x: F.avg_pool2d(x, (2, 2, 2)), TypeError, "avg_pool2d: kernel_size"),
        (lambda x: F.avg_pool2d(x, 2, divisor_override=0), ValueError, "avg_pool2d: divisor_override must be nonzero"),
        (lambda x: F.avg_pool2d(x, 2, divisor_override=1.5), TypeError, "avg_pool2d: divisor_override must be an int"),
        (lambda x: F.max_pool2d(x[0, 0], 2), ValueError, r"max_pool2d: expected a 3D .* got shape \(6, 7\)"),
        (lambda x: F.avg_pool2d(md.zeros(1, 0, 4, 4), 2), ValueError, r"avg_pool2d: .* nonzero.*\(1, 0, 4, 4\)"),
        (lambda x: F.max_pool2d(x.numpy(), 2), TypeError, "max_pool2d: input must be an md tensor"),
        (lambda x: md.nn.MaxPool2d(3, padding=2), ValueError, "MaxPool2d: padding should be at most half"),
        (lambda x: md.nn.AvgPool2d(0), ValueError, "AvgPool2d: kernel_size must be positive"),
    ],
)
def test_pool_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(md.zeros(1, 2, 6, 7))


def test_pool_empty_batch():
    assert F.max_pool2d(md.zeros(0, 2, 6, 7), 3, 2, 1).shape == (0, 2, 3, 4)
    assert F.avg_pool2d(md.zeros(0, 2, 6, 7), 2).shape == (0, 2, 3, 3)


# ---- interpolate / Upsample "nearest" at any size


NEAREST_CASES = [
    ((2, 3, 3, 4), dict(size=(5, 7))),
    ((1, 2, 5, 7), dict(size=(3, 4))),
    ((2, 1, 4, 6), dict(size=(8, 9))),
    ((1, 2, 4, 5), dict(size=6)),
    ((2, 2, 4, 6), dict(scale_factor=1.5)),
    ((1, 2, 5, 5), dict(scale_factor=1.7)),
    ((1, 2, 5, 5), dict(scale_factor=1.7, recompute_scale_factor=True)),
    ((1, 1, 6, 9), dict(scale_factor=(0.5, 2.5))),
    ((1, 2, 7, 6), dict(scale_factor=0.4)),
    ((1, 1, 2, 3), dict(scale_factor=(1, 41))),  # torch's float32 1/41 is not i // 41
    ((2, 3, 3, 5), dict(scale_factor=2)),
    ((1, 2, 3, 3), dict(size=(9, 6))),
]


@pytest.mark.parametrize("shape, kwargs", NEAREST_CASES, ids=str)
def test_nearest_matches_torch(shape, kwargs):
    torch = pytest.importorskip("torch")
    assert_matches_torch(
        torch,
        lambda t: F.interpolate(t, mode="nearest", **kwargs),
        lambda t: torch.nn.functional.interpolate(t, mode="nearest", **kwargs),
        randn(19, *shape),
    )


def nearest_ref_index(n_in: int, n_out: int, scale=None) -> np.ndarray:
    """torch's nearest source index, written out: floor(i * ratio) in float32 with the ratio
    1 / scale (scale given) or in / out, and the exact copy and 2x cases."""
    i = np.arange(n_out)
    if n_out == n_in:
        return i
    if n_out == 2 * n_in:
        return i // 2
    ratio = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
    return np.minimum(np.floor(i.astype(np.float32) * ratio).astype(np.int64), n_in - 1)


def test_nearest_matches_numpy_and_its_gradient_sums_the_copies():
    x = randn(20, 2, 3, 3, 4)
    rows, cols = nearest_ref_index(3, 5), nearest_ref_index(4, 7)
    value, grad, g = run_md(lambda t: F.interpolate(t, size=(5, 7)), x)
    np.testing.assert_array_equal(value, x[:, :, rows][:, :, :, cols])
    want = np.zeros_like(x)
    for a, r in enumerate(rows):
        for b, c in enumerate(cols):
            want[:, :, r, c] += g[:, :, a, b]
    np.testing.assert_allclose(grad, want, rtol=1e-6)
    # a given factor is used as 1 / scale, not in / out: 5 * 1.7 -> 8 outputs
    assert not np.array_equal(nearest_ref_index(5, 8, 1.7), nearest_ref_index(5, 8))
    column = randn(25, 2, 3, 5, 1)
    value = F.interpolate(md.tensor(column), scale_factor=(1.7, 1)).numpy()
    np.testing.assert_array_equal(value, column[:, :, nearest_ref_index(5, 8, 1.7)])
    value = F.interpolate(md.tensor(column), scale_factor=(1.7, 1), recompute_scale_factor=True).numpy()
    np.testing.assert_array_equal(value, column[:, :, nearest_ref_index(5, 8)])
    check_grads(lambda t: F.interpolate(t, scale_factor=0.6), [randn(21, 1, 2, 5, 4)])


def test_nearest_uses_the_native_op_only_where_it_is_exact(monkeypatch):
    calls = []
    native = resize._interpolate_nearest

    def spy(*args, **kwargs):
        calls.append(kwargs.get("size"))
        return native(*args, **kwargs)

    monkeypatch.setattr(resize, "_interpolate_nearest", spy)
    x = md.tensor(randn(22, 1, 2, 3, 4))
    assert F.interpolate(x, scale_factor=3).shape == (1, 2, 9, 12)
    assert F.interpolate(x, size=(6, 4)).shape == (1, 2, 6, 4)
    assert calls == [[9, 12], [6, 4]]
    for kwargs in (dict(scale_factor=1.5), dict(size=(5, 7)), dict(scale_factor=(1, 41)), dict(size=(2, 2))):
        F.interpolate(x, **kwargs)
    assert len(calls) == 2
    # the gathers take other dtypes too (the native op takes float32 only)
    ints = md.tensor(np.arange(12, dtype=np.int64).reshape(1, 1, 3, 4), dtype="int64")
    got = F.interpolate(ints, size=(5, 7))
    assert got.dtype == "int64"
    np.testing.assert_array_equal(
        got.numpy()[0, 0], np.arange(12).reshape(3, 4)[nearest_ref_index(3, 5)][:, nearest_ref_index(4, 7)]
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.Upsample(size=(5, 7)),
        lambda nn: nn.Upsample(scale_factor=1.5, mode="nearest"),
        lambda nn: nn.Upsample(scale_factor=(1.7, 0.6), recompute_scale_factor=True),
        lambda nn: nn.UpsamplingNearest2d(size=(7, 3)),
        lambda nn: nn.UpsamplingNearest2d(scale_factor=2.5),
    ],
)
def test_upsample_nearest_modules_match_torch(make):
    torch = pytest.importorskip("torch")
    ours, theirs = make(md.nn), make(torch.nn)
    assert repr(ours) == repr(theirs)
    assert_matches_torch(torch, ours, theirs, randn(23, 2, 3, 4, 5))


def test_upsample_alias_nearest_any_size():
    x = randn(24, 1, 2, 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = F.upsample_nearest(md.tensor(x), size=(5, 7)).numpy()
    np.testing.assert_array_equal(got, x[:, :, nearest_ref_index(3, 5)][:, :, :, nearest_ref_index(4, 7)])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(size=(5, 7), scale_factor=2), ValueError, "interpolate: give only one"),
        (dict(size=(5, 7), recompute_scale_factor=True), ValueError, "interpolate: recompute_scale_factor"),
        (dict(size=(5, 7), align_corners=False), ValueError, "interpolate: align_corners"),
        (dict(size=(5, 7), antialias=True), ValueError, "interpolate: antialias"),
        (dict(size=(5, 0)), ValueError, r"interpolate: .*\(5, 0\) must be positive"),
        (dict(scale_factor=0.1), ValueError, r"interpolate: .*\(0, 0\) must be positive"),
        (dict(scale_factor=-1.5), ValueError, "interpolate: scale_factor must be positive"),
        (dict(size=(5.0, 7)), TypeError, "interpolate: size must be an int"),
        (dict(size=(5, 7, 2)), ValueError, r"interpolate: size .* 2 entries .*\[1, 1, 3, 4\]"),
    ],
)
def test_nearest_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        F.interpolate(md.zeros(1, 1, 3, 4), **kwargs)
