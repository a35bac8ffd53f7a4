"""The torch names composed in Python from md ops (F.smooth_l1_loss ... F.max_pool2d, nn.MSELoss ...
nn.Unflatten): values and gradients against torch where it is installed, against NumPy
references where it is not, edge values, and the errors for what is not implemented."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minidiff as md

RNG = np.random.default_rng(0)


def randn(*shape, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def run_md(fn, *arrays, grad_out=None, int_args=()):
    """fn on md tensors made from arrays (float arrays require grad); backward with grad_out (a
    random upstream gradient, drawn here when None). Returns (value, [grads of the float inputs])."""
    tensors = []
    for i, a in enumerate(arrays):
        if a.dtype == np.int64 or i in int_args:
            tensors.append(md.tensor(a, dtype="int64"))
        else:
            tensors.append(md.tensor(a, requires_grad=True))
    out = fn(*tensors)
    g = randn(*out.shape) if grad_out is None else grad_out
    out.backward(md.tensor(g))
    grads = [t.grad.numpy() if t.requires_grad and t.grad is not None else None for t in tensors]
    return out.numpy(), grads, g


def run_torch(torch, fn, *arrays, grad_out):
    tensors = [torch.tensor(a) if a.dtype == np.int64 else torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward(torch.tensor(grad_out))
    grads = [t.grad.numpy() if t.requires_grad and t.grad is not None else None for t in tensors]
    return out.detach().numpy(), grads


def assert_matches_torch(torch, md_fn, torch_fn, *arrays, rtol=1e-5, atol=1e-6):
    value, grads, g = run_md(md_fn, *arrays)
    expected, expected_grads = run_torch(torch, torch_fn, *arrays, grad_out=g)
    assert value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol)
    for got, want in zip(grads, expected_grads):
        if want is None:
            continue
        assert got is not None, "md gave no gradient where torch gives one"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ---- against torch: losses


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0, 3.0])
def test_smooth_l1_loss_matches_torch(reduction, beta):
    torch = pytest.importorskip("torch")
    a, b = randn(4, 5, scale=2), randn(4, 5, scale=2)
    a[0, :3] = b[0, :3]  # zero differences: gradient 0
    a[1, 0], a[1, 1] = b[1, 0] + beta, b[1, 1] - beta  # exactly at the switch
    assert_matches_torch(
        torch,
        lambda x, y: md.F.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
        lambda x, y: torch.nn.functional.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
        a,
        b,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("delta", [1.0, 0.25, 2.5])
def test_huber_loss_matches_torch(reduction, delta):
    torch = pytest.importorskip("torch")
    a, b = randn(3, 7, scale=2), randn(3, 7, scale=2)
    a[0, 0] = b[0, 0] + delta
    a[0, 1] = b[0, 1]
    assert_matches_torch(
        torch,
        lambda x, y: md.F.huber_loss(x, y, reduction=reduction, delta=delta),
        lambda x, y: torch.nn.functional.huber_loss(x, y, reduction=reduction, delta=delta),
        a,
        b,
    )
    w = np.abs(randn(3, 7))
    assert_matches_torch(
        torch,
        lambda x, y: md.F.huber_loss(x, y, reduction, delta, weight=md.tensor(w)),
        lambda x, y: torch.nn.functional.huber_loss(x, y, reduction, delta, weight=torch.tensor(w)),
        a,
        b,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    logits = randn(6, 4, scale=3)
    logits[0] = [1000.0, -1000.0, 0.0, 5.0]  # large logits: no overflow
    target = np.array([0, 1, 3, 2, 2, 1], np.int64)
    weight = np.array([0.5, 2.0, 1.0, 3.0], np.float32)
    ignored = np.array([0, -100, 3, 2, -100, 1], np.int64)
    cases = [
        (lambda x: md.F.cross_entropy(x, md.tensor(target), reduction=reduction),
         lambda x: tf.cross_entropy(x, torch.tensor(target), reduction=reduction)),
        (lambda x: md.F.cross_entropy(x, md.tensor(target), md.tensor(weight), reduction=reduction),
         lambda x: tf.cross_entropy(x, torch.tensor(target), torch.tensor(weight), reduction=reduction)),
        (lambda x: md.F.cross_entropy(x, md.tensor(ignored), md.tensor(weight), reduction=reduction),
         lambda x: tf.cross_entropy(x, torch.tensor(ignored), torch.tensor(weight), reduction=reduction)),
        (lambda x: md.F.cross_entropy(x, md.tensor(target), ignore_index=2, reduction=reduction),
         lambda x: tf.cross_entropy(x, torch.tensor(target), ignore_index=2, reduction=reduction)),
    ]  # fmt: skip
    for md_fn, torch_fn in cases:
        assert_matches_torch(torch, md_fn, torch_fn, logits)


def test_cross_entropy_other_layouts_match_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    # (N, C, H, W) logits with (N, H, W) targets: a segmentation map
    logits = randn(2, 3, 4, 5)
    target = RNG.integers(0, 3, size=(2, 4, 5))
    weight = np.array([1.0, 0.2, 4.0], np.float32)
    assert_matches_torch(
        torch,
        lambda x: md.F.cross_entropy(x, md.tensor(target), md.tensor(weight)),
        lambda x: tf.cross_entropy(x, torch.tensor(target), torch.tensor(weight)),
        logits,
    )
    # unbatched: (C,) logits, a 0-d target
    assert_matches_torch(
        torch,
        lambda x: md.F.cross_entropy(x, md.tensor(2, dtype="int64")).reshape(1),
        lambda x: tf.cross_entropy(x, torch.tensor(2)).reshape(1),
        randn(5),
    )
    # class probabilities, with and without weights
    probs = np.abs(randn(4, 3))
    probs /= probs.sum(1, keepdims=True)
    for reduction in ("mean", "sum", "none"):
        assert_matches_torch(
            torch,
            lambda x, p, r=reduction: md.F.cross_entropy(x, p, md.tensor(weight), reduction=r),
            lambda x, p, r=reduction: tf.cross_entropy(x, p, torch.tensor(weight), reduction=r),
            randn(4, 3),
            probs,
        )


# ---- against torch: activations


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_log_softmax_matches_torch_at_large_logits(dim):
    torch = pytest.importorskip("torch")
    x = randn(4, 6, scale=5)
    x[0] = [1000.0, -1000.0, 0.0, 88.0, 89.0, 1e30]  # exp would overflow without the shift
    x[1] = [-1e4, -1e4, -1e4, -1e4, -1e4, -1e4]  # exp would underflow to 0 everywhere
    x[2, 0] = -np.inf  # a class with probability 0: log-probability -inf, its gradient the upstream one
    assert_matches_torch(
        torch, lambda t: md.F.log_softmax(t, dim), lambda t: torch.nn.functional.log_softmax(t, dim), x
    )


def test_softplus_matches_torch_at_the_edges():
    torch = pytest.importorskip("torch")
    z = np.array(
        [-1000, -80, -30, -17, -5, -1e-6, 0, 1e-6, 0.5, 5, 9.99, 10, 10.01, 19.9, 20, 20.01, 50, 1e4], np.float32
    )
    for beta, threshold in [(1, 20), (2, 10), (0.5, 20), (1, 5)]:
        assert_matches_torch(
            torch,
            lambda t, b=beta, th=threshold: md.F.softplus(t, b, th),
            lambda t, b=beta, th=threshold: torch.nn.functional.softplus(t, b, th),
            z,
            rtol=2e-6,
            atol=1e-37,  # md's exp returns 0 where float32 has only subnormals (torch keeps them)
        )
    assert_matches_torch(torch, md.F.softplus, torch.nn.functional.softplus, randn(1000, scale=10), rtol=2e-6)


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5, 1.5])
def test_leaky_relu_matches_torch_including_zero(slope):
    torch = pytest.importorskip("torch")
    x = randn(20)
    x[:3] = 0.0  # torch's gradient at 0 is negative_slope
    assert_matches_torch(
        torch, lambda t: md.F.leaky_relu(t, slope), lambda t: torch.nn.functional.leaky_relu(t, slope), x
    )


def test_mish_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.concatenate([randn(50, scale=4), np.array([-100, -20, 0, 20, 25, 100], np.float32)])
    assert_matches_torch(torch, md.F.mish, torch.nn.functional.mish, x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [2.0, 1.0])
@pytest.mark.parametrize("dim", [1, 0, -1])
def test_normalize_matches_torch_including_zero_vectors(p, dim):
    torch = pytest.importorskip("torch")
    x = randn(4, 3)
    x[0] = 0.0  # a zero row (normalize along 1): stays 0, gradient 1/eps times upstream
    x[:, 2] = 0.0  # a zero column (normalize along 0)
    x[1] = [1e-30, 0.0, 0.0]  # squares underflow: treated as a zero vector by both
    assert_matches_torch(
        torch,
        lambda t: md.F.normalize(t, p=p, dim=dim),
        lambda t: torch.nn.functional.normalize(t, p=p, dim=dim),
        x,
        rtol=1e-5,
        atol=1e-5,  # gradients near zero vectors are of order 1/eps; the rest of order 1
    )
    assert_matches_torch(
        torch,
        lambda t: md.F.normalize(t, p=p, dim=dim, eps=0.5),
        lambda t: torch.nn.functional.normalize(t, p=p, dim=dim, eps=0.5),
        x,
    )


def test_one_hot_matches_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    labels = np.array([[0, 3], [2, 2], [1, 0]], np.int64)
    for num_classes in (-1, 4, 7):
        out = md.F.one_hot(md.tensor(labels, dtype="int64"), num_classes)
        expected = tf.one_hot(torch.tensor(labels), num_classes)
        assert out.dtype == "int64" and tuple(out.shape) == tuple(expected.shape)
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
    scalar = md.F.one_hot(md.tensor(2, dtype="int64"), 3)
    np.testing.assert_array_equal(scalar.numpy(), tf.one_hot(torch.tensor(2), 3).numpy())
    empty = md.F.one_hot(md.tensor(np.zeros((0,), np.int64), dtype="int64"), 3)
    assert tuple(empty.shape) == (0, 3) and empty.dtype == "int64"


# ---- against torch: pooling


@pytest.mark.parametrize(
    "shape,kernel_size,stride",
    [
        ((2, 3, 8, 8), 2, None),
        ((2, 3, 8, 8), 4, 4),
        ((1, 2, 6, 9), (2, 3), (2, 3)),
        ((3, 4, 6), 2, None),  # unbatched (C, H, W)
        ((1, 2, 7, 5), 2, None),  # the last row/column fills no window: dropped, as torch's floor mode
        ((1, 1, 3, 3), 3, [3, 3]),
    ],
)
def test_pooling_matches_torch(shape, kernel_size, stride):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(*shape)
    assert_matches_torch(
        torch,
        lambda t: md.F.avg_pool2d(t, kernel_size, stride),
        lambda t: tf.avg_pool2d(t, kernel_size, stride),
        x,
    )
    assert_matches_torch(
        torch,
        lambda t: md.F.max_pool2d(t, kernel_size, stride),
        lambda t: tf.max_pool2d(t, kernel_size, stride),
        x,
    )
    assert_matches_torch(
        torch,
        lambda t: md.F.avg_pool2d(t, kernel_size, stride, divisor_override=3),
        lambda t: tf.avg_pool2d(t, kernel_size, stride, divisor_override=3),
        x,
    )
    _, indices = md.F.max_pool2d(md.tensor(x), kernel_size, stride, return_indices=True)
    _, expected = tf.max_pool2d(torch.tensor(x), kernel_size, stride, return_indices=True)
    assert indices.dtype == "int64"
    np.testing.assert_array_equal(indices.numpy(), expected.numpy())


def test_max_pool2d_ties_give_the_gradient_where_torch_does():
    torch = pytest.importorskip("torch")
    # ties inside windows: quantised values, and whole windows of one value
    x = np.round(randn(2, 3, 6, 6)).astype(np.float32)
    x[0, 0, :2, :2] = 1.0
    x[1, 2, 2:4, 4:6] = -2.0
    x[0, 1, 0:3, 0:3] = 7.0
    for kernel_size in (2, 3, (2, 3)):
        assert_matches_torch(
            torch,
            lambda t, k=kernel_size: md.F.max_pool2d(t, k),
            lambda t, k=kernel_size: torch.nn.functional.max_pool2d(t, k),
            x,
        )


# ---- against torch: modules


def module_pairs(torch):
    nn = torch.nn
    w = np.array([1.0, 0.5, 2.0], np.float32)
    return [
        (md.nn.MSELoss(), nn.MSELoss(), "loss"),
        (md.nn.MSELoss(reduction="sum"), nn.MSELoss(reduction="sum"), "loss"),
        (md.nn.L1Loss(reduction="none"), nn.L1Loss(reduction="none"), "loss"),
        (md.nn.SmoothL1Loss(beta=0.5), nn.SmoothL1Loss(beta=0.5), "loss"),
        (md.nn.HuberLoss("sum", 0.7), nn.HuberLoss("sum", 0.7), "loss"),
        (md.nn.CrossEntropyLoss(), nn.CrossEntropyLoss(), "classes"),
        (md.nn.CrossEntropyLoss(md.tensor(w), ignore_index=1), nn.CrossEntropyLoss(torch.tensor(w), ignore_index=1),
         "classes"),
        (md.nn.CrossEntropyLoss(reduction="none"), nn.CrossEntropyLoss(reduction="none"), "classes"),
        (md.nn.LeakyReLU(), nn.LeakyReLU(), "image"),
        (md.nn.LeakyReLU(0.2, inplace=True), nn.LeakyReLU(0.2, inplace=True), "image"),
        (md.nn.Mish(), nn.Mish(), "image"),
        (md.nn.Softplus(), nn.Softplus(), "image"),
        (md.nn.Softplus(beta=2, threshold=1), nn.Softplus(beta=2, threshold=1), "image"),
        (md.nn.Softmax(dim=1), nn.Softmax(dim=1), "image"),
        (md.nn.Softmax(-1), nn.Softmax(-1), "image"),
        (md.nn.AvgPool2d(2), nn.AvgPool2d(2), "image"),
        (md.nn.AvgPool2d((2, 4), stride=(2, 4)), nn.AvgPool2d((2, 4), stride=(2, 4)), "image"),
        (md.nn.MaxPool2d(2), nn.MaxPool2d(2), "image"),
        (md.nn.MaxPool2d(kernel_size=4, stride=4), nn.MaxPool2d(kernel_size=4, stride=4), "image"),
        (md.nn.Unflatten(1, (3, 2, -1)), nn.Unflatten(1, (3, 2, -1)), "flat"),
        (md.nn.Unflatten(-1, [6, 4]), nn.Unflatten(-1, [6, 4]), "flat"),
        (md.nn.Identity(), nn.Identity(), "image"),
    ]  # fmt: skip


def test_modules_match_torch_values_gradients_and_repr():
    torch = pytest.importorskip("torch")
    for ours, theirs, kind in module_pairs(torch):
        assert repr(ours) == repr(theirs)
        if kind == "loss":
            arrays = (randn(4, 5), randn(4, 5))
        elif kind == "classes":
            arrays = (randn(5, 3), RNG.integers(0, 3, size=5))
        elif kind == "image":
            arrays = (randn(2, 3, 4, 8, scale=3),)
        else:
            arrays = (randn(2, 24),)
        if getattr(theirs, "inplace", False):  # torch's in-place op refuses a leaf: give both a non-leaf
            ours_fn, theirs_fn = (lambda m: lambda t: m(t * 1.0))(ours), (lambda m: lambda t: m(t * 1.0))(theirs)
        else:
            ours_fn, theirs_fn = ours, theirs
        assert_matches_torch(torch, ours_fn, theirs_fn, *arrays)


def test_module_reprs_inside_a_container_match_torch():
    torch = pytest.importorskip("torch")
    ours = md.nn.Sequential(md.nn.Unflatten(1, (1, 8, 8)), md.nn.MaxPool2d(2), md.nn.Flatten(), md.nn.LeakyReLU(0.1))
    theirs = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8, 8)), torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.LeakyReLU(0.1)
    )
    assert repr(ours) == repr(theirs)
    assert repr(md.nn.Softmax()) == repr(torch.nn.Softmax()) == "Softmax(dim=None)"


# ---- NumPy references (no torch needed)


def np_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(np.float64)
    shifted = x - x.max(axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis, keepdims=True))


def test_smooth_l1_and_huber_against_numpy():
    a, b = randn(5, 6, scale=2), randn(5, 6, scale=2)
    a[0, 0] = b[0, 0]
    d = (a - b).astype(np.float64)
    for beta in (1.0, 0.3):
        value, (ga, gb), g = run_md(lambda x, y, bt=beta: md.F.smooth_l1_loss(x, y, reduction="none", beta=bt), a, b)
        inside = np.abs(d) < beta
        np.testing.assert_allclose(value, np.where(inside, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta), rtol=1e-5)
        slope = np.where(inside, d / beta, np.sign(d))
        np.testing.assert_allclose(ga, g * slope, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gb, -g * slope, rtol=1e-5, atol=1e-6)
    for delta in (1.0, 2.0):
        value, (ga, _), g = run_md(
            lambda x, y, dl=delta: md.F.huber_loss(x, y, "sum", dl), a, b, grad_out=np.float32(2)
        )
        inside = np.abs(d) < delta
        np.testing.assert_allclose(
            value, np.where(inside, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta)).sum(), rtol=1e-5
        )
        np.testing.assert_allclose(ga, 2 * np.clip(d, -delta, delta), rtol=1e-5, atol=1e-6)
    mean = md.F.smooth_l1_loss(md.tensor(a), md.tensor(b)).item()
    total = md.F.smooth_l1_loss(md.tensor(a), md.tensor(b), reduction="sum").item()
    assert mean == pytest.approx(total / a.size, rel=1e-6)


def test_log_softmax_against_numpy_at_large_logits():
    x = randn(3, 5, scale=4)
    x[0] = [1e4, 1e4 - 1, -1e4, 0.0, 3e38]
    x[1] = [-3e38, -3e38 + 1e32, -3e38, -3e38, -3e38]
    value, (gx,), g = run_md(lambda t: md.F.log_softmax(t, 1), x)
    expected = np_log_softmax(x, 1)
    assert np.isfinite(value).all()
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)
    # the gradient of log_softmax: g - softmax * sum(g)
    np.testing.assert_allclose(gx, g - np.exp(expected) * g.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    # a 0-d tensor has one class; the implicit dim (deprecated, as torch) warns and picks dim 1 for 2-d
    assert md.F.log_softmax(md.tensor(3.0), 0).item() == 0.0
    with pytest.warns(UserWarning, match="Implicit dimension choice for (log_)?softmax has been deprecated"):
        implicit = md.F.log_softmax(md.tensor(x))
    np.testing.assert_allclose(implicit.numpy(), value)


def test_softplus_against_numpy_is_accurate_for_very_negative_inputs():
    z = np.array([-87, -60, -30, -17, -5, -1e-3, 0, 1e-3, 5, 15, 19.99, 20.5, 40], np.float32)
    for beta, threshold in [(1.0, 20.0), (3.0, 20.0), (0.5, 10.0)]:
        value, (gz,), g = run_md(lambda t, b=beta, th=threshold: md.F.softplus(t, b, th), z)
        bz = beta * z.astype(np.float64)
        linear = bz > threshold
        expected = np.where(linear, z, np.logaddexp(0.0, bz) / beta)
        # relative, down to exp(-87) ~ 1.6e-38; below the smallest normal float32 md's exp gives 0
        np.testing.assert_allclose(value, expected, rtol=2e-6, atol=np.finfo(np.float32).tiny)
        slope = np.where(linear, 1.0, 1 / (1 + np.exp(-bz)))
        np.testing.assert_allclose(gz, g * slope, rtol=2e-6, atol=np.finfo(np.float32).tiny)
    assert md.F.softplus(md.tensor([0.0])).item() == pytest.approx(np.log(2), rel=1e-7)


def test_leaky_relu_and_mish_against_numpy():
    x = randn(30, scale=3)
    x[:2] = 0.0
    value, (gx,), g = run_md(lambda t: md.F.leaky_relu(t, 0.1), x)
    np.testing.assert_array_equal(value, np.where(x > 0, x, np.float32(0.1) * x))
    np.testing.assert_allclose(gx, g * np.where(x > 0, 1.0, 0.1), rtol=1e-6)
    assert gx[0] == pytest.approx(0.1 * g[0])  # at 0: the negative slope, as torch
    value, _, _ = run_md(md.F.mish, x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(value, x64 * np.tanh(np.logaddexp(0.0, x64)), rtol=1e-5, atol=1e-6)


def test_normalize_against_numpy_with_zero_vectors():
    x = randn(3, 4)
    x[1] = 0.0
    value, (gx,), g = run_md(md.F.normalize, x)
    norms = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    np.testing.assert_allclose(value, x / np.maximum(norms, 1e-12), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(value[1], 0.0)
    assert np.isfinite(gx).all()
    # at a zero vector the norm is clamped to eps and its own gradient is 0: d/dx (x / eps) = 1 / eps
    np.testing.assert_allclose(gx[1], g[1] / 1e-12, rtol=1e-6)
    # elsewhere: (g - y * <y, g>) / |x|
    y = value[[0, 2]]
    expected = (g[[0, 2]] - y * (y * g[[0, 2]]).sum(1, keepdims=True)) / norms[[0, 2]]
    np.testing.assert_allclose(gx[[0, 2]], expected, rtol=1e-5, atol=1e-6)


def test_one_hot_against_numpy():
    labels = RNG.integers(0, 5, size=(3, 4))
    out = md.F.one_hot(md.tensor(labels, dtype="int64"))
    assert out.dtype == "int64" and tuple(out.shape) == (3, 4, labels.max() + 1)
    np.testing.assert_array_equal(out.numpy(), np.eye(labels.max() + 1, dtype=np.int64)[labels])
    np.testing.assert_array_equal(md.F.one_hot(md.tensor([1], dtype="int64"), 3).numpy(), [[0, 1, 0]])


def test_pooling_against_numpy():
    x = randn(2, 3, 6, 9)
    value, (gx,), g = run_md(lambda t: md.F.avg_pool2d(t, (2, 3)), x)
    windows = x.reshape(2, 3, 3, 2, 3, 3)
    # atol: a window mean near zero differs from NumPy's summation order by a few float32 ulps of the terms
    np.testing.assert_allclose(value, windows.mean((3, 5)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gx, np.repeat(np.repeat(g, 2, 2), 3, 3) / 6, rtol=1e-6, atol=1e-7)
    value, (gx,), g = run_md(lambda t: md.F.max_pool2d(t, (2, 3)), x)
    np.testing.assert_array_equal(value, windows.max((3, 5)))
    # each window's gradient lands on its maximum (no ties in random data) and nowhere else
    np.testing.assert_array_equal((gx != 0).sum(), g.size)
    np.testing.assert_allclose(gx.reshape(2, 3, 3, 2, 3, 3).sum((3, 5)), g, rtol=1e-6)
    np.testing.assert_array_equal(np.repeat(np.repeat(value, 2, 2), 3, 3) == x, gx != 0)


def test_max_pool2d_ties_and_nans_in_a_window():
    """Ties: the gradient goes to the first maximum in row-major order (torch's CPU choice). NaN:
    the value is NaN and the gradient goes to the first NaN (torch's CPU kernel picks the last; the
    docstring says so)."""
    nan = np.float32(np.nan)
    x = np.array(
        [
            [[[3, 3], [3, 3]], [[1, 2], [2, 0]], [[1, nan], [nan, 2]]],
        ],
        np.float32,
    )
    value, (gx,), _ = run_md(lambda t: md.F.max_pool2d(t, 2), x, grad_out=np.ones((1, 3, 1, 1), np.float32))
    np.testing.assert_array_equal(value[0, :2, 0, 0], [3, 2])
    assert np.isnan(value[0, 2, 0, 0])
    np.testing.assert_array_equal(gx[0, 0], [[1, 0], [0, 0]])
    np.testing.assert_array_equal(gx[0, 1], [[0, 1], [0, 0]])
    np.testing.assert_array_equal(gx[0, 2], [[0, 1], [0, 0]])


def test_cross_entropy_against_numpy():
    logits = randn(5, 4, scale=2)
    target = np.array([3, 0, -100, 1, 3], np.int64)
    weight = np.array([1.0, 2.0, 0.5, 4.0], np.float32)
    logp = np_log_softmax(logits, 1)
    kept = target != -100
    safe = np.where(kept, target, 0)
    w = weight[safe] * kept
    nll = -logp[np.arange(5), safe] * w
    out = md.F.cross_entropy(md.tensor(logits), md.tensor(target), md.tensor(weight), reduction="none")
    np.testing.assert_allclose(out.numpy(), nll, rtol=1e-5, atol=1e-6)
    assert out.numpy()[2] == 0.0  # ignored
    value, (gx,), _ = run_md(
        lambda t: md.F.cross_entropy(t, md.tensor(target), md.tensor(weight)), logits, grad_out=np.float32(1)
    )
    assert value == pytest.approx(nll.sum() / w.sum(), rel=1e-5)
    # d/dlogits of the weighted mean: w_i * (softmax_i - onehot_i) / sum(w)
    expected = w[:, None] * (np.exp(logp) - np.eye(4)[safe]) / w.sum()
    np.testing.assert_allclose(gx, expected, rtol=1e-5, atol=1e-6)
    # every target ignored: 0 / 0 = NaN, as torch
    all_ignored = md.F.cross_entropy(md.tensor(logits), md.tensor(np.full(5, -100, np.int64)))
    assert np.isnan(all_ignored.item())


# ---- modules without torch


def test_loss_modules_compute_their_functions():
    a, b = md.tensor(randn(3, 4)), md.tensor(randn(3, 4))
    pairs = [
        (md.nn.MSELoss(reduction="sum"), md.F.mse_loss(a, b, reduction="sum")),
        (md.nn.L1Loss(), md.F.l1_loss(a, b)),
        (md.nn.SmoothL1Loss(reduction="none", beta=0.5), md.F.smooth_l1_loss(a, b, reduction="none", beta=0.5)),
        (md.nn.HuberLoss(delta=0.3), md.F.huber_loss(a, b, delta=0.3)),
    ]
    for module, expected in pairs:
        np.testing.assert_array_equal(module(a, b).numpy(), expected.numpy())
    with pytest.raises(ValueError, match="MSELoss: reduction must be"):
        md.nn.MSELoss(reduction="avg")


def test_cross_entropy_loss_keeps_its_weight_as_a_buffer():
    weight = md.tensor([1.0, 3.0])
    criterion = md.nn.CrossEntropyLoss(weight)
    assert list(criterion.state_dict()) == ["weight"]
    assert list(md.nn.CrossEntropyLoss().state_dict()) == []
    logits, target = md.tensor(randn(4, 2)), md.tensor([0, 1, 1, 0], dtype="int64")
    np.testing.assert_array_equal(criterion(logits, target).numpy(), md.F.cross_entropy(logits, target, weight).numpy())


def test_unflatten_softmax_and_pool_modules():
    x = md.tensor(randn(2, 24))
    assert md.nn.Unflatten(1, (2, -1, 3))(x).shape == (2, 2, 4, 3)
    assert md.nn.Unflatten(-1, (4, 6))(x).shape == (2, 4, 6)
    np.testing.assert_array_equal(md.nn.Unflatten(1, [4, 6])(x).numpy(), x.numpy().reshape(2, 4, 6))
    for sizes in [(5, -1), (-1, -1), (0, -1), (4, 5), (-2, -12)]:
        with pytest.raises(ValueError, match=r"Unflatten: sizes .* do not multiply up .* \(2, 24\)"):
            md.nn.Unflatten(1, sizes)(x)
    with pytest.raises(IndexError, match="Unflatten: dim 2"):
        md.nn.Unflatten(2, (4, 6))(x)
    with pytest.raises(TypeError, match="Unflatten: unflattened_size"):
        md.nn.Unflatten(1, 24)
    image = md.tensor(randn(2, 3, 4, 4))
    np.testing.assert_allclose(md.nn.Softmax(1)(image).numpy().sum(1), 1.0, rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        md.nn.Softmax(1)(image)  # an explicit dim: no warning
    with pytest.warns(UserWarning, match="Implicit dimension choice for (log_)?softmax has been deprecated"):
        implicit = md.nn.Softmax()(image)  # 4-d: dim 1, as torch
    np.testing.assert_array_equal(implicit.numpy(), md.F.softmax(image, 1).numpy())
    assert md.nn.MaxPool2d(2)(image).shape == (2, 3, 2, 2)
    assert md.nn.AvgPool2d(4)(image).shape == (2, 3, 1, 1)
    assert md.nn.MaxPool2d(2).stride == 2 and md.nn.AvgPool2d((1, 2)).stride == (1, 2)


def test_names_are_exported():
    for name in (
        "smooth_l1_loss", "huber_loss", "log_softmax", "softplus", "leaky_relu", "mish", "normalize", "one_hot",
        "avg_pool2d", "max_pool2d", "cross_entropy", "l1_loss",
    ):  # fmt: skip
        assert name in md.F.__all__ and callable(getattr(md.nn.functional, name))
    for name in (
        "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss", "LeakyReLU", "Mish", "Softplus",
        "Softmax", "AvgPool2d", "MaxPool2d", "Unflatten", "Identity",
    ):  # fmt: skip
        assert name in md.nn.__all__ and issubclass(getattr(md.nn, name), md.nn.Module)


# ---- errors name the function and the shapes


def test_errors_name_the_function_and_the_shapes():
    a, b = md.randn(2, 3), md.randn(3, 2)
    for fn in (md.F.smooth_l1_loss, md.F.huber_loss, md.F.l1_loss):
        name = fn.__name__
        with pytest.raises(ValueError, match=rf"{name}: input of shape \(2, 3\) and target of shape \(3, 2\) differ"):
            fn(a, b)
        with pytest.raises(ValueError, match=rf"{name}: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
            fn(a, a, reduction="avg")
        with pytest.raises(TypeError, match=rf"{name}: target must be an md tensor, got ndarray"):
            fn(a, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be non-negative"):
        md.F.smooth_l1_loss(a, a, beta=-1.0)
    with pytest.raises(ValueError, match="huber_loss: delta must be positive"):
        md.F.huber_loss(a, a, delta=0.0)
    with pytest.raises(ValueError, match=r"huber_loss: weight of shape \(3,\) differs from input of shape \(2, 3\)"):
        md.F.huber_loss(a, a, weight=md.ones(3))
    with pytest.raises(ValueError, match=r"normalize: p must be positive, 0 or \+-inf, got p=-1"):
        md.F.normalize(a, p=-1)
    with pytest.raises(TypeError, match="softplus: input must be an md tensor"):
        md.F.softplus(np.zeros(3))
    with pytest.raises(IndexError, match="log_softmax: dim 2 is out of range"):
        md.F.log_softmax(a, 2)


def test_one_hot_errors():
    with pytest.raises(TypeError, match=r"one_hot: the indices must be int64, got float32 of shape \(2,\)"):
        md.F.one_hot(md.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="one_hot: class values must be non-negative, got -1"):
        md.F.one_hot(md.tensor([0, -1], dtype="int64"))
    with pytest.raises(ValueError, match="one_hot: class value 3 is not smaller than num_classes=3"):
        md.F.one_hot(md.tensor([3, 0], dtype="int64"), 3)
    with pytest.raises(ValueError, match="one_hot: cannot infer the number of classes from an empty tensor"):
        md.F.one_hot(md.tensor(np.zeros(0, np.int64), dtype="int64"))


def test_pooling_errors():
    """What pooling still refuses, with messages naming the op and shapes (overlapping windows,
    padding, dilation and ceil_mode work since the general pooling: tests/test_pad_pool_resize.py)."""
    x = md.randn(1, 2, 6, 6)
    for fn in (md.F.avg_pool2d, md.F.max_pool2d):
        name = fn.__name__
        with pytest.raises(
            ValueError, match=rf"{name}: expected a 3D \(C, H, W\) or 4D \(N, C, H, W\) input, got shape \(6, 6\)"
        ):
            fn(md.randn(6, 6), 2)
        with pytest.raises(ValueError, match=rf"{name}: .*too small"):
            fn(x, 7)
        with pytest.raises(TypeError, match=rf"{name}: kernel_size must be an int or a sequence of 2 ints"):
            fn(x, 2.0)
        assert tuple(fn(x, 3, ceil_mode=True).shape) == (1, 2, 2, 2)  # tiles: ceil_mode changes nothing
        assert tuple(fn(x, 3, 2, padding=1).shape) == (1, 2, 3, 3)  # torch's output size


def test_cross_entropy_errors():
    logits = md.randn(4, 3)
    with pytest.raises(
        ValueError, match=r"cross_entropy: class-index target of shape \(3,\) does not match input of shape \(4, 3\)"
    ):
        md.F.cross_entropy(logits, md.tensor([0, 1, 2], dtype="int64"))
    with pytest.raises(
        IndexError, match=r"cross_entropy: a target is out of range for 3 classes \(input \(4, 3\), target \(4,\)\)"
    ):
        md.F.cross_entropy(logits, md.tensor([0, 1, 3, 0], dtype="int64"))
    with pytest.raises(IndexError, match="cross_entropy: a target is out of range"):
        md.F.cross_entropy(logits, md.tensor([0, 1, -1, 0], dtype="int64"))
    with pytest.raises(
        ValueError, match=r"cross_entropy: weight must have shape \(3,\) for input of shape \(4, 3\), got \(2,\)"
    ):
        md.F.cross_entropy(logits, md.tensor([0, 1, 2, 0], dtype="int64"), md.ones(2))
    with pytest.raises(
        ValueError, match=r"cross_entropy: probability target of shape \(4, 2\) differs from input of shape \(4, 3\)"
    ):
        md.F.cross_entropy(logits, md.ones(4, 2))
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing is not implemented"):
        md.F.cross_entropy(logits, md.tensor([0, 1, 2, 0], dtype="int64"), label_smoothing=0.1)
    with pytest.raises(ValueError, match="CrossEntropyLoss: label_smoothing is not implemented"):
        md.nn.CrossEntropyLoss(label_smoothing=0.1)
