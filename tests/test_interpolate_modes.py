"""F.interpolate's bilinear, bicubic and nearest-exact modes (composed in python/minidiff/resize.py)
and nearest (native): values and input gradients against torch, known values without torch, the
Upsample module, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import minidiff as md

F = md.F
TOL = {"rtol": 1e-5, "atol": 1e-5}


def randn(seed: int, *shape) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def run_md(fn, x: np.ndarray, g: np.ndarray | None = None):
    """(fn(x), d<fn(x), g>/dx, g) with g a random upstream gradient when None."""
    t = md.tensor(x, requires_grad=True)
    y = fn(t)
    g = randn(7, *y.shape) if g is None else g
    y.backward(md.tensor(g))
    return y.numpy(), t.grad.numpy(), g


def assert_matches_torch(torch, ours, ref, x: np.ndarray, grad: bool = True):
    y, dx, g = run_md(ours, x)
    t = torch.tensor(x, requires_grad=True)
    yt = ref(t)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL, err_msg="output")
    if grad:
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(dx, t.grad.numpy(), **TOL, err_msg="input gradient")
    return y


# (input shape, size / scale_factor keywords): up, down, mixed, non-square, outputs of size 1
CASES = [
    ((2, 3, 5, 7), {"size": (9, 4)}),
    ((1, 2, 6, 6), {"size": 3}),
    ((2, 1, 4, 5), {"size": (1, 1)}),
    ((1, 1, 1, 4), {"size": (3, 8)}),
    ((1, 1, 5, 7), {"size": (5, 14)}),
    ((1, 1, 4, 4), {"size": (4, 4)}),
    ((1, 2, 23, 17), {"size": (40, 9)}),
    ((2, 3, 5, 7), {"scale_factor": 2}),
    ((1, 2, 5, 7), {"scale_factor": 1.7}),
    ((1, 2, 5, 7), {"scale_factor": 1.7, "recompute_scale_factor": True}),
    ((1, 2, 9, 6), {"scale_factor": (0.5, 2.5)}),
    ((1, 1, 16, 12), {"scale_factor": 0.3}),
    ((1, 1, 8, 8), {"scale_factor": 1.0}),
]


@pytest.mark.parametrize("align_corners", [None, False, True])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("shape, kwargs", CASES)
def test_matches_torch(mode, align_corners, shape, kwargs):
    torch = pytest.importorskip("torch")
    kw = dict(kwargs, mode=mode, align_corners=align_corners)
    assert_matches_torch(
        torch,
        lambda t: F.interpolate(t, **kw),
        lambda t: torch.nn.functional.interpolate(t, **kw),
        randn(sum(shape), *shape),
    )


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_scale_factor_is_not_recomputed(mode):
    """5 * 1.7 gives 8 rows, but the ratio is 1/1.7, not 5/8: the two differ (and both match torch)."""
    torch = pytest.importorskip("torch")
    x = randn(3, 1, 1, 5, 5)
    by_scale = F.interpolate(md.tensor(x), scale_factor=1.7, mode=mode).numpy()
    by_size = F.interpolate(md.tensor(x), size=(8, 8), mode=mode).numpy()
    assert np.abs(by_scale - by_size).max() > 1e-2
    ref = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=1.7, mode=mode).numpy()
    np.testing.assert_allclose(by_scale, ref, **TOL)


@pytest.mark.parametrize("align_corners", [False, True])
def test_bilinear_same_size_from_a_scale_factor_copies(align_corners):
    """4 * 1.1 gives 4 again: torch's bilinear copies the input (ratio 1/1.1 is not used)."""
    torch = pytest.importorskip("torch")
    kw = {"scale_factor": (1.1, 2), "mode": "bilinear", "align_corners": align_corners}
    x = randn(12, 1, 2, 4, 3)
    y = assert_matches_torch(
        torch, lambda t: F.interpolate(t, **kw), lambda t: torch.nn.functional.interpolate(t, **kw), x
    )
    assert y.shape == (1, 2, 4, 6)


def test_bicubic_same_size_from_a_scale_factor():
    """4 * 1.1 gives 4 again but the ratio 1/1.1 still blurs. torch's values agree; its backward
    copies the gradient as if the ratio were 1 (gradcheck fails there), so the gradient is checked as
    the adjoint of the forward: <F(x), g> == <x, dF/dx^T g>."""
    torch = pytest.importorskip("torch")
    x = randn(4, 1, 2, 4, 4)
    fn = lambda t: F.interpolate(t, scale_factor=1.1, mode="bicubic")  # noqa: E731
    y, dx, g = run_md(fn, x)
    ref = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=1.1, mode="bicubic").numpy()
    np.testing.assert_allclose(y, ref, **TOL)
    assert np.abs(y - x).max() > 1e-2
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, dx), rtol=1e-5)


@pytest.mark.parametrize(
    "shape, kwargs",
    [((2, 3, 5, 7), {"size": (9, 4)}), ((1, 2, 5, 7), {"scale_factor": 1.7}), ((1, 1, 12, 9), {"scale_factor": 0.4})],
)
def test_nearest_exact_matches_torch(shape, kwargs):
    torch = pytest.importorskip("torch")
    kw = dict(kwargs, mode="nearest-exact")
    assert_matches_torch(
        torch,
        lambda t: F.interpolate(t, **kw),
        lambda t: torch.nn.functional.interpolate(t, **kw),
        randn(5, *shape),
    )


@pytest.mark.parametrize("kwargs", [{"scale_factor": 2}, {"scale_factor": (1, 3)}, {"size": (6, 10)}])
def test_nearest_still_native_and_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    kw = dict(kwargs, mode="nearest")
    assert_matches_torch(
        torch,
        lambda t: F.interpolate(t, **kw),
        lambda t: torch.nn.functional.interpolate(t, **kw),
        randn(6, 2, 3, 3, 5),
    )
    # non-integer factors take torch's nearest indices too (floor(i / scale))
    assert_matches_torch(
        torch,
        lambda t: F.interpolate(t, scale_factor=1.5, mode="nearest"),
        lambda t: torch.nn.functional.interpolate(t, scale_factor=1.5, mode="nearest"),
        randn(7, 2, 2, 3, 5),
    )


# ---- known values (no torch needed)


def test_bilinear_known_values():
    x = md.tensor([[[[0.0, 4.0]]]])
    # align_corners=False: centres at -0.25, 0.25, 0.75, 1.25, clamped to the edges
    np.testing.assert_allclose(F.interpolate(x, size=(1, 4), mode="bilinear").numpy()[0, 0, 0], [0, 1, 3, 4])
    np.testing.assert_allclose(
        F.interpolate(x, size=(1, 3), mode="bilinear", align_corners=True).numpy()[0, 0, 0], [0, 2, 4]
    )
    y, dx, _ = run_md(
        lambda t: F.interpolate(t, size=(1, 4), mode="bilinear"), x.numpy(), np.ones((1, 1, 1, 4), np.float32)
    )
    np.testing.assert_allclose(dx[0, 0, 0], [2, 2])  # each pixel gets 1 + 0.75 + 0.25


def test_bicubic_known_values():
    # the weights sum to 1 and edge taps repeat the edge: a constant stays constant
    y = F.interpolate(md.full((1, 1, 3, 4), 2.5), size=(7, 5), mode="bicubic").numpy()
    np.testing.assert_allclose(y, np.full((1, 1, 7, 5), 2.5), rtol=1e-6)
    # align_corners=True keeps the corner pixels; a step overshoots on both sides (A = -0.75:
    # weights -3/32, 19/32, 19/32, -3/32 half-way between pixels)
    x = md.tensor([[[[0.0, 0.0, 1.0, 1.0]]]])
    y = F.interpolate(x, size=(1, 7), mode="bicubic", align_corners=True).numpy()[0, 0, 0]
    np.testing.assert_allclose(y, [0, -3 / 32, 0, 0.5, 1, 35 / 32, 1], atol=1e-7)


def test_one_pixel_output_reads_the_corner():
    """size 1 with align_corners=True: ratio 0, every tap on pixel 0 (index 0 twice, weights 0 and 1)."""
    x = randn(8, 1, 1, 3, 3)
    y, dx, _ = run_md(
        lambda t: F.interpolate(t, size=(1, 1), mode="bicubic", align_corners=True),
        x,
        np.ones((1, 1, 1, 1), np.float32),
    )
    np.testing.assert_allclose(y[0, 0, 0, 0], x[0, 0, 0, 0], rtol=1e-6)
    want = np.zeros_like(x)
    want[0, 0, 0, 0] = 1
    np.testing.assert_array_equal(dx, want)


def test_returns_a_new_tensor_when_nothing_resizes():
    x = md.tensor(randn(9, 1, 1, 3, 3))
    y = F.interpolate(x, size=(3, 3), mode="bilinear")
    assert y is not x
    np.testing.assert_array_equal(y.numpy(), x.numpy())


# ---- Upsample


@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        lambda nn: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
        lambda nn: nn.Upsample(size=(5, 3), mode="bicubic"),
        lambda nn: nn.Upsample(scale_factor=1.5, mode="nearest-exact"),
        lambda nn: nn.Upsample(scale_factor=2),
    ],
)
def test_upsample_module_matches_torch(make):
    torch = pytest.importorskip("torch")
    ours, ref = make(md.nn), make(torch.nn)
    assert repr(ours) == repr(ref)
    assert_matches_torch(torch, ours, ref, randn(10, 2, 3, 4, 6))


def test_upsample_bilinear_without_torch():
    up = md.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    y = up(md.tensor([[[[0.0, 3.0]]]])).numpy()
    assert y.shape == (1, 1, 2, 4)
    np.testing.assert_allclose(y[0, 0], [[0, 1, 2, 3], [0, 1, 2, 3]], rtol=1e-6)


# ---- errors


@pytest.mark.parametrize(
    "x, kwargs, match",
    [
        (md.zeros(2, 3, 4), {"size": 2, "mode": "bilinear"}, r"interpolate.*4-D.*\[2, 3, 4\]"),
        (md.zeros(1, 1, 2, 2), {"size": 4, "scale_factor": 2, "mode": "bilinear"}, "interpolate.*only one"),
        (md.zeros(1, 1, 2, 2), {"size": 4, "scale_factor": 2}, "interpolate.*only one"),
        (md.zeros(1, 1, 2, 2), {"mode": "bicubic"}, r"interpolate.*size or scale_factor.*\[1, 1, 2, 2\]"),
        (md.zeros(1, 1, 2, 2), {"size": 4, "mode": "area"}, "interpolate.*mode.*'area'"),
        (md.zeros(1, 1, 2, 2), {"size": 4, "mode": "trilinear"}, "interpolate.*mode"),
        (md.zeros(1, 1, 2, 2), {"scale_factor": 2, "align_corners": False}, "interpolate.*align_corners"),
        (
            md.zeros(1, 1, 2, 2),
            {"size": 4, "mode": "nearest-exact", "align_corners": True},
            "interpolate.*align_corners",
        ),
        (md.zeros(1, 1, 2, 2), {"size": 4, "mode": "bilinear", "antialias": True}, "interpolate.*not supported"),
        (md.zeros(1, 1, 2, 2), {"size": (4, 4, 4), "mode": "bilinear"}, r"interpolate.*2 entries.*\[1, 1, 2, 2\]"),
        (md.zeros(1, 1, 2, 2), {"scale_factor": 0.0, "mode": "bilinear"}, "interpolate.*positive"),
        (md.zeros(1, 1, 2, 2), {"scale_factor": 0.2, "mode": "bicubic"}, r"interpolate.*\[1, 1, 2, 2\].*\(0, 0\)"),
        (
            md.zeros(1, 1, 2, 2),
            {"size": 4, "mode": "bilinear", "recompute_scale_factor": True},
            "interpolate.*recompute",
        ),
    ],
)
def test_errors(x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.interpolate(x, **kwargs)


def test_type_errors():
    with pytest.raises(TypeError, match="interpolate.*size"):
        F.interpolate(md.zeros(1, 1, 2, 2), size=(2.5, 3), mode="bilinear")
    with pytest.raises(TypeError, match="interpolate.*float32"):
        F.interpolate(md.zeros(1, 1, 2, 2).to("int64"), size=3, mode="bilinear")
    with pytest.raises(TypeError, match="interpolate.*md tensor"):
        F.interpolate(np.zeros((1, 1, 2, 2), np.float32), size=3, mode="bilinear")


# ---- CUDA (where the build and the machine have it): same values and gradients as the CPU


@pytest.mark.cuda
@pytest.mark.skipif(not md.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest-exact"])
def test_cuda_matches_cpu(mode):
    x = randn(11, 2, 3, 9, 7)
    kw = {"size": (13, 4), "mode": mode}
    want = run_md(lambda t: F.interpolate(t, **kw), x)
    t = md.tensor(x, device="cuda", requires_grad=True)
    y = F.interpolate(t, **kw)
    assert str(y.device).startswith("cuda")
    y.backward(md.tensor(want[2], device="cuda"))
    np.testing.assert_allclose(y.numpy(), want[0], **TOL)
    np.testing.assert_allclose(t.grad.numpy(), want[1], **TOL)
