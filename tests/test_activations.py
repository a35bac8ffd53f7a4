"""The activations, losses and distances of functional_activations.py and their modules in
nn_activations.py: values and gradients against torch (at the kinks and thresholds, at large
magnitudes, every reduction, class weights, ignore_index, multi-dim inputs), modules against their
functions and torch's reprs and state dicts, the in-place variants, and NumPy references and finite
differences that run without torch; then the errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from gradcheck import check_grads, sigmoid_ref, softmax_ref

import minidiff as md

RNG = np.random.default_rng(0)
REDUCTIONS = ["mean", "sum", "none"]


def randn(*shape, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def run_md(fn, arrays, wrt, grad_out=None):
    """fn on md tensors made from arrays (int64 arrays as int64; the float inputs at indices wrt
    require grad); backward with grad_out (drawn here when None). Returns (value, grads, grad_out)."""
    tensors = [
        md.tensor(a, dtype="int64") if a.dtype == np.int64 else md.tensor(a, requires_grad=i in wrt)
        for i, a in enumerate(arrays)
    ]
    out = fn(*tensors)
    g = randn(*out.shape) if grad_out is None else grad_out
    out.backward(md.tensor(g))
    grads = {i: tensors[i].grad for i in wrt}
    assert all(v is not None for v in grads.values()), "md gave no gradient"
    return out.numpy(), {i: v.numpy() for i, v in grads.items()}, g


def run_torch(torch, fn, arrays, wrt, grad_out):
    tensors = [torch.tensor(a, requires_grad=i in wrt and a.dtype != np.int64) for i, a in enumerate(arrays)]
    out = fn(*tensors)
    out.backward(torch.tensor(grad_out))
    return out.detach().numpy(), {i: tensors[i].grad.numpy() for i in wrt}


def assert_matches_torch(torch, md_fn, torch_fn, *arrays, wrt=None, rtol=1e-5, atol=1e-6):
    """Value and the gradients of the float inputs (or those at indices wrt) against torch's."""
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype != np.int64]
    value, grads, g = run_md(md_fn, arrays, wrt)
    expected, expected_grads = run_torch(torch, torch_fn, arrays, wrt, g)
    assert value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol, err_msg="value")
    for i in wrt:
        np.testing.assert_allclose(grads[i], expected_grads[i], rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")


# ---- activations against torch: elementwise, at their kinks and at large magnitudes

# (id, call(F, x) for either md.F or torch.nn.functional, the special inputs of that function)
ELEMENTWISE = [
    ("elu", lambda F, x: F.elu(x), [0.0, -1e-6, -1e-3, 1e-6, -0.7, -20.0, -120.0, 50.0]),
    ("elu_alpha", lambda F, x: F.elu(x, alpha=0.4), [0.0, -1e-5, -3.0, 2.0]),
    ("selu", lambda F, x: F.selu(x), [0.0, -1e-6, -0.9, -30.0, 1e-6, 40.0]),
    ("celu", lambda F, x: F.celu(x), [0.0, -1e-6, -2.0, 3.0]),
    ("celu_alpha", lambda F, x: F.celu(x, 2.5), [0.0, -1e-4, -7.0, 7.0]),
    ("celu_small_alpha", lambda F, x: F.celu(x, 0.3), [0.0, -0.01, -1.0]),
    ("relu6", lambda F, x: F.relu6(x), [0.0, 6.0, -1e-3, 1e-3, 5.999, 6.001, 100.0]),
    ("hardtanh", lambda F, x: F.hardtanh(x), [-1.0, 1.0, -0.999, 0.999, -1.001, 1.001, 0.0]),
    ("hardtanh_bounds", lambda F, x: F.hardtanh(x, -2.5, 0.5), [-2.5, 0.5, 0.0, -3.0, 0.75]),
    ("hardtanh_flat", lambda F, x: F.hardtanh(x, 0.25, 0.25), [0.25, 0.0, 1.0]),
    ("hardsigmoid", lambda F, x: F.hardsigmoid(x), [-3.0, 3.0, -2.999, 2.999, -3.001, 3.001, 0.0]),
    ("hardswish", lambda F, x: F.hardswish(x), [-3.0, 3.0, -2.9999, 2.9999, -3.001, 3.001, 0.0, -1.5]),
    ("softsign", lambda F, x: F.softsign(x), [0.0, 1e4, -1e4, 1e-6]),
    ("softshrink", lambda F, x: F.softshrink(x), [-0.5, 0.5, 0.0, -0.5001, 0.5001]),
    ("softshrink_lambd", lambda F, x: F.softshrink(x, 1.5), [-1.5, 1.5, 1.4, -1.6]),
    ("softshrink_zero", lambda F, x: F.softshrink(x, 0.0), [0.0, 1e-3, -1e-3]),
    ("hardshrink", lambda F, x: F.hardshrink(x), [-0.5, 0.5, 0.0, -0.5001, 0.5001]),
    ("hardshrink_lambd", lambda F, x: F.hardshrink(x, 2.0), [-2.0, 2.0, 1.9, -2.1]),
    ("tanhshrink", lambda F, x: F.tanhshrink(x), [0.0, 0.1, 20.0, -20.0]),
    ("logsigmoid", lambda F, x: F.logsigmoid(x), [0.0, -200.0, 200.0, -30.0, 30.0, 1e-4, -88.0, 88.0, -1e4]),
    ("threshold", lambda F, x: F.threshold(x, 0.5, -2.0), [0.5, 0.5001, 0.4999, -3.0]),
    ("threshold_int", lambda F, x: F.threshold(x, 0, 20), [0.0, 1e-6, -1e-6]),
    ("rrelu_eval", lambda F, x: F.rrelu(x), [0.0, -1e-3, 1e-3, -50.0]),
    ("rrelu_eval_bounds", lambda F, x: F.rrelu(x, 0.05, 0.6, False), [0.0, -2.0]),
    ("leaky_relu_", lambda F, x: F.leaky_relu_(x * 1.0, 0.2), [0.0, -1.0, 1.0]),
    ("relu_", lambda F, x: F.relu_(x * 1.0), [0.0, -1.0, 1.0]),
    ("elu_", lambda F, x: F.elu_(x * 1.0, 0.7), [0.0, -1e-4, -2.0, 1.0]),
    ("selu_", lambda F, x: F.selu_(x * 1.0), [0.0, -2.0, 1.0]),
    ("celu_", lambda F, x: F.celu_(x * 1.0, 1.7), [0.0, -2.0, 1.0]),
    ("hardtanh_", lambda F, x: F.hardtanh_(x * 1.0, -0.5, 2.0), [-0.5, 2.0, 0.0, 3.0]),
    ("threshold_", lambda F, x: F.threshold_(x * 1.0, 0.1, 5.0), [0.1, 0.2, 0.0]),
    ("rrelu_", lambda F, x: F.rrelu_(x * 1.0, 0.2, 0.4), [0.0, -1.0, 1.0]),
    ("elu_inplace_arg", lambda F, x: F.elu(x * 1.0, 1.3, inplace=True), [0.0, -1.0, 1.0]),
    ("hardswish_inplace_arg", lambda F, x: F.hardswish(x * 1.0, inplace=True), [-3.0, 3.0, 1.0]),
    ("hardsigmoid_inplace_arg", lambda F, x: F.hardsigmoid(x * 1.0, True), [-3.0, 3.0, 1.0]),
    ("relu6_inplace_arg", lambda F, x: F.relu6(x * 1.0, True), [0.0, 6.0, 3.0]),
]


@pytest.mark.parametrize("name,call,specials", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_activation_matches_torch(name, call, specials):
    torch = pytest.importorskip("torch")
    x = np.concatenate([f32(specials), randn(24, scale=3)])
    assert_matches_torch(torch, lambda t: call(md.F, t), lambda t: call(torch.nn.functional, t), x)
    # batched, non-square
    assert_matches_torch(
        torch, lambda t: call(md.F, t), lambda t: call(torch.nn.functional, t), randn(2, 3, 5, scale=4)
    )
    # NaN stays NaN, infinities as torch's
    if not name.endswith("_") and "inplace" not in name:
        x = f32([np.nan, np.inf, -np.inf])
        want = call(torch.nn.functional, torch.tensor(x)).numpy()
        np.testing.assert_array_equal(call(md.F, md.tensor(x)).numpy(), want)


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_softmin_matches_torch(dim):
    torch = pytest.importorskip("torch")
    x = randn(3, 4, 5, scale=3)
    x[0, 0, 0] = 500.0  # large: no overflow
    assert_matches_torch(torch, lambda t: md.F.softmin(t, dim), lambda t: torch.nn.functional.softmin(t, dim), x)
    assert_matches_torch(
        torch, lambda t: md.F.softmin(t, dim=dim, dtype="float32"), lambda t: torch.nn.functional.softmin(t, dim), x
    )


def test_softmin_implicit_dim_warns_as_torch():
    torch = pytest.importorskip("torch")
    x = randn(3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin has been deprecated"):
        got = md.F.softmin(md.tensor(x)).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.nn.functional.softmin(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape,dim", [((4, 6), -1), ((4, 6), 1), ((6, 3), 0), ((2, 4, 3, 2), 1), ((8,), 0)])
def test_glu_matches_torch(shape, dim):
    torch = pytest.importorskip("torch")
    x = randn(*shape, scale=3)
    assert_matches_torch(torch, lambda t: md.F.glu(t, dim), lambda t: torch.nn.functional.glu(t, dim), x)


@pytest.mark.parametrize(
    "x_shape,w_shape",
    [((5,), (1,)), ((4, 3), (1,)), ((4, 3), (3,)), ((2, 3, 4, 5), (3,)), ((2, 3, 4), (1,)), ((), (1,))],
)
def test_prelu_matches_torch_for_input_and_weight(x_shape, w_shape):
    torch = pytest.importorskip("torch")
    x = randn(*x_shape, scale=2)
    if x.size:
        x.reshape(-1)[0] = 0.0  # at the kink: the gradient is the slope
    w = (np.abs(randn(*w_shape)) * 0.3).astype(np.float32)
    assert_matches_torch(torch, md.F.prelu, torch.nn.functional.prelu, x, w)


# ---- activations: the in-place variants write, rebase inside the graph, refuse leaves


@pytest.mark.parametrize(
    "call",
    [
        lambda F, x: F.elu_(x),
        lambda F, x: F.selu_(x),
        lambda F, x: F.celu_(x, 0.5),
        lambda F, x: F.relu_(x),
        lambda F, x: F.leaky_relu_(x, 0.1),
        lambda F, x: F.hardtanh_(x),
        lambda F, x: F.threshold_(x, 0.0, -1.0),
        lambda F, x: F.rrelu_(x),
        lambda F, x: F.hardswish(x, inplace=True),
        lambda F, x: F.hardsigmoid(x, inplace=True),
        lambda F, x: F.relu6(x, inplace=True),
        lambda F, x: F.elu(x, inplace=True),
    ],
)
def test_in_place_variants_write_into_their_input(call):
    x = md.tensor(f32([-2.0, -0.5, 0.0, 0.5, 7.0]))
    view = x.reshape(5)
    out = call(md.F, x)
    assert out is x
    expected = call(md.F, md.tensor(f32([-2.0, -0.5, 0.0, 0.5, 7.0])) * 1.0).numpy()
    np.testing.assert_array_equal(x.numpy(), expected)
    np.testing.assert_array_equal(view.numpy(), expected)  # the storage itself changed
    leaf = md.tensor(f32([1.0, -1.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="in place"):
        call(md.F, leaf)


def test_in_place_inside_the_graph_gives_the_out_of_place_gradient():
    x = md.tensor(randn(6, scale=2), requires_grad=True)
    y = x * 2.0
    md.F.elu_(y, 0.5)
    y.sum().backward()
    x2 = md.tensor(x.detach().numpy(), requires_grad=True)
    md.F.elu(x2 * 2.0, 0.5).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), md.F.elu(x2 * 2.0, 0.5).detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy())


# ---- rrelu: random slopes while training


def test_rrelu_training_draws_slopes_in_range_from_the_seeded_generator():
    x = np.concatenate([-np.abs(randn(500)) - 0.1, np.abs(randn(20)) + 0.1, [0.0]]).astype(np.float32)
    md.manual_seed(7)
    t = md.tensor(x, requires_grad=True)
    out = md.F.rrelu(t, 0.1, 0.3, training=True)
    out.backward(md.ones(out.shape))
    values, grads = out.detach().numpy(), t.grad.numpy()
    neg = x < 0
    slopes = values[neg] / x[neg]
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.3 + 1e-6
    assert slopes.std() > 0.03  # not one slope for all
    np.testing.assert_allclose(grads[neg], slopes, rtol=1e-5)  # the gradient is the drawn slope
    np.testing.assert_array_equal(values[x > 0], x[x > 0])
    np.testing.assert_array_equal(grads[x > 0], 1.0)
    assert 0.1 - 1e-6 <= grads[-1] <= 0.3 + 1e-6  # at 0: a drawn slope, as torch
    md.manual_seed(7)
    again = md.F.rrelu(md.tensor(x), 0.1, 0.3, training=True).numpy()
    np.testing.assert_array_equal(again, values)
    g = md.Generator()
    g.manual_seed(3)
    first = md.F.rrelu(md.tensor(x), training=True, generator=g).numpy()
    g.manual_seed(3)
    np.testing.assert_array_equal(md.F.rrelu(md.tensor(x), training=True, generator=g).numpy(), first)


def test_rrelu_module_is_random_in_training_and_the_mean_slope_in_eval():
    m = md.nn.RReLU(0.2, 0.4)
    x = md.tensor(-np.ones(300, np.float32))
    assert len(np.unique(m(x).numpy())) > 10
    m.eval()
    np.testing.assert_allclose(m(x).numpy(), -0.3, rtol=1e-6)


# ---- losses against torch


def _probs(*shape):
    return (sigmoid_ref(randn(*shape, scale=2).astype(np.float64))).astype(np.float32)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", [None, (3, 4), (4,), (1, 4)])
def test_binary_cross_entropy_matches_torch(reduction, weight_shape):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, t = _probs(3, 4), _probs(3, 4)
    t[0] = [0.0, 1.0, 0.0, 1.0]
    x[1, :2] = [1e-6, 1.0 - 1e-6]
    w = None if weight_shape is None else np.abs(randn(*weight_shape)) + 0.1

    def md_fn(a, b):
        return md.F.binary_cross_entropy(a, b, None if w is None else md.tensor(w), reduction=reduction)

    def torch_fn(a, b):
        return tf.binary_cross_entropy(a, b, None if w is None else torch.tensor(w), reduction=reduction)

    assert_matches_torch(torch, md_fn, torch_fn, x, t)
    # probabilities of exactly 0 and 1: the logs clamp to -100; torch's input gradient is finite
    # ((x - t) / 1e-12); its target gradient is -logit(x), infinite there, so not compared
    x[2] = [0.0, 1.0, 0.0, 1.0]
    t[2] = [1.0, 0.0, 0.0, 0.3]
    x[0, 0] = 1e-30  # below torch's 1e-12 floor of x * (1 - x)
    assert_matches_torch(torch, md_fn, torch_fn, x, t, wrt=[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "weight", "pos_weight", "both"])
def test_binary_cross_entropy_with_logits_matches_torch_at_large_logits(reduction, weights):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, t = randn(4, 5, scale=3), _probs(4, 5)
    x[0] = [100.0, -100.0, 1e4, -1e4, 0.0]  # exp(-x) overflows a naive form
    t[0] = [0.0, 1.0, 0.0, 1.0, 0.5]
    x[1] = [30.0, -30.0, 88.0, -88.0, 17.0]
    w = np.abs(randn(4, 5)) + 0.1 if weights in ("weight", "both") else None
    pw = np.abs(randn(5)) * 3 if weights in ("pos_weight", "both") else None

    def md_fn(a, b):
        return md.F.binary_cross_entropy_with_logits(
            a,
            b,
            None if w is None else md.tensor(w),
            reduction=reduction,
            pos_weight=None if pw is None else md.tensor(pw),
        )

    def torch_fn(a, b):
        return tf.binary_cross_entropy_with_logits(
            a,
            b,
            None if w is None else torch.tensor(w),
            reduction=reduction,
            pos_weight=None if pw is None else torch.tensor(pw),
        )

    assert_matches_torch(torch, md_fn, torch_fn, x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_nll_loss_matches_torch_for_n_c_inputs(reduction, use_weight, ignore_index):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(7, 4, scale=2)
    target = np.array([0, 1, 3, 2, ignore_index, 2, 1], np.int64)
    w = np.array([0.5, 2.0, 1.0, 3.0], np.float32) if use_weight else None
    assert_matches_torch(
        torch,
        lambda a, b: md.F.nll_loss(a, b, w if w is None else md.tensor(w), None, ignore_index, None, reduction),
        lambda a, b: tf.nll_loss(a, b, w if w is None else torch.tensor(w), None, ignore_index, None, reduction),
        x,
        target,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 4, 5), (1, 5, 2, 3, 2)])
def test_nll_loss_matches_torch_for_multi_dim_inputs(reduction, shape):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(*shape, scale=2)
    target = RNG.integers(0, shape[1], size=(shape[0],) + shape[2:]).astype(np.int64)
    target.reshape(-1)[::5] = -100
    w = np.abs(randn(shape[1])) + 0.2
    assert_matches_torch(
        torch,
        lambda a, b: md.F.nll_loss(a, b, md.tensor(w), reduction=reduction),
        lambda a, b: tf.nll_loss(a, b, torch.tensor(w), reduction=reduction),
        x,
        target,
    )


def test_nll_loss_unbatched_and_all_ignored_match_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    assert_matches_torch(
        torch,
        lambda a, b: md.F.nll_loss(a, b).reshape(1),
        lambda a, b: tf.nll_loss(a, b).reshape(1),
        randn(5),
        np.array(3, np.int64),
    )
    x, t = randn(3, 4), np.full(3, -100, np.int64)
    got = md.F.nll_loss(md.tensor(x), md.tensor(t, dtype="int64")).item()
    want = tf.nll_loss(torch.tensor(x), torch.tensor(t)).item()
    assert math.isnan(got) and math.isnan(want)
    assert md.F.nll_loss(md.tensor(x), md.tensor(t, dtype="int64"), reduction="sum").item() == 0.0


@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = np.log(softmax_ref(randn(4, 6, scale=2).astype(np.float64), 1)).astype(np.float32)
    p = softmax_ref(randn(4, 6, scale=2).astype(np.float64), 1).astype(np.float32)
    t = np.log(p).astype(np.float32) if log_target else p

    def md_fn(a, b):
        return md.F.kl_div(a, b, reduction=reduction, log_target=log_target)

    def torch_fn(a, b):
        return tf.kl_div(a, b, reduction=reduction, log_target=log_target)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "mean" warns, in both
        assert_matches_torch(torch, md_fn, torch_fn, x, t)
        if not log_target:
            t[0, :3] = 0.0  # 0 * log(0) = 0; the target's gradient there is not compared (torch: NaN)
            assert_matches_torch(torch, md_fn, torch_fn, x, t, wrt=[0])


def test_kl_div_mean_warns_and_batchmean_of_0d_is_the_sum():
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="batchmean"):
        md.F.kl_div(md.tensor(randn(2, 3)), md.tensor(_probs(2, 3)))
    got = md.F.kl_div(md.tensor(f32(-0.5)), md.tensor(f32(0.3)), reduction="batchmean").item()
    want = torch.nn.functional.kl_div(torch.tensor(-0.5), torch.tensor(0.3), reduction="batchmean").item()
    assert got == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", [(4, 3), (4, 1), (4,), (1, 3)])
def test_gaussian_nll_loss_matches_torch(reduction, full, var_shape):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x, y = randn(4, 3), randn(4, 3)
    var = np.abs(randn(*var_shape)) + 0.05
    var.reshape(-1)[0] = 0.0  # clamped to eps: the gradient passes as if unclamped, as torch's
    if var.size > 1:
        var.reshape(-1)[1] = 1e-8
    assert_matches_torch(
        torch,
        lambda a, b, v: md.F.gaussian_nll_loss(a, b, v, full=full, reduction=reduction),
        lambda a, b, v: tf.gaussian_nll_loss(a, b, v, full=full, reduction=reduction),
        x,
        y,
        var,
        rtol=2e-5,  # (x - y)^2 / 1e-6 is ~1e6: float32 rounding of the two sides differs by an ulp or two
    )
    assert_matches_torch(
        torch,
        lambda a, b: md.F.gaussian_nll_loss(a, b, 0.7, full, 1e-3, reduction),
        lambda a, b: tf.gaussian_nll_loss(a, b, 0.7, full, 1e-3, reduction),
        x,
        y,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss_matches_torch(reduction, log_input, full):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(3, 5) if log_input else np.abs(randn(3, 5)) + 0.05
    t = RNG.poisson(3.0, size=(3, 5)).astype(np.float32)
    t[0, :4] = [0.0, 1.0, 1.5, 2.0]  # Stirling's term is 0 at and below 1
    x[1, 0] = 0.0

    def md_fn(a, b):
        return md.F.poisson_nll_loss(a, b, log_input, full, eps=1e-6, reduction=reduction)

    def torch_fn(a, b):
        return tf.poisson_nll_loss(a, b, log_input, full, eps=1e-6, reduction=reduction)

    # torch's target gradient through Stirling's masked term is NaN at target 0: the input's only there
    assert_matches_torch(torch, md_fn, torch_fn, x, t, wrt=[0] if full else None)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.2])
@pytest.mark.parametrize("target_dtype", [np.float32, np.int64])
def test_cosine_embedding_loss_matches_torch(reduction, margin, target_dtype):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    a, b = randn(6, 5), randn(6, 5)
    b[1] = a[1] * 2.0  # cos = 1
    a[2] = 0.0  # a zero vector: cos = 0
    target = np.array([1, -1, 1, -1, -1, 1]).astype(target_dtype)
    assert_matches_torch(
        torch,
        lambda x, y, t: md.F.cosine_embedding_loss(x, y, t, margin, reduction=reduction),
        lambda x, y, t: tf.cosine_embedding_loss(x, y, t, margin, reduction=reduction),
        a,
        b,
        target,
        wrt=[0, 1],
    )
    # unbatched: (D,) inputs, a 0-d target
    assert_matches_torch(
        torch,
        lambda x, y: md.F.cosine_embedding_loss(x, y, md.tensor(f32(-1.0)), margin, reduction=reduction).reshape(1),
        lambda x, y: tf.cosine_embedding_loss(x, y, torch.tensor(-1.0), margin, reduction=reduction).reshape(1),
        randn(5),
        randn(5),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_margin_ranking_loss_matches_torch(reduction, margin):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    a, b = randn(8), randn(8)
    b[0] = a[0] - margin  # at the kink (target 1): the gradient passes, as torch's clamp_min
    b[1] = a[1] + margin  # at the kink (target -1)
    target = f32([1, -1, 1, -1, 1, -1, 1, -1])
    assert_matches_torch(
        torch,
        lambda x, y, t: md.F.margin_ranking_loss(x, y, t, margin, reduction=reduction),
        lambda x, y, t: tf.margin_ranking_loss(x, y, t, margin, reduction=reduction),
        a,
        b,
        target,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.2])
def test_hinge_embedding_loss_matches_torch(reduction, margin):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(3, 6, scale=2)
    x[0, :2] = margin  # at the kink
    target = np.where(randn(3, 6) > 0, 1.0, -1.0).astype(np.float32)
    target[0, :2] = -1.0
    target[2, 0] = 0.5  # neither 1 nor -1: both terms, as torch's kernel
    assert_matches_torch(
        torch,
        lambda a, t: md.F.hinge_embedding_loss(a, t, margin, reduction=reduction),
        lambda a, t: tf.hinge_embedding_loss(a, t, margin, reduction=reduction),
        x,
        target,
        wrt=[0],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss_matches_torch(reduction):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = randn(4, 5, scale=3)
    x[0, :3] = [0.0, 40.0, -40.0]
    target = np.where(randn(4, 5) > 0, 1.0, -1.0).astype(np.float32)
    assert_matches_torch(
        torch,
        lambda a, t: md.F.soft_margin_loss(a, t, reduction=reduction),
        lambda a, t: tf.soft_margin_loss(a, t, reduction=reduction),
        x,
        target,
        wrt=[0],  # torch's target is not differentiable
    )


def test_soft_margin_loss_stays_finite_where_torch_overflows():
    x = md.tensor(f32([-200.0, 200.0]), requires_grad=True)
    loss = md.F.soft_margin_loss(x, md.tensor(f32([1.0, 1.0])), reduction="none")
    loss.sum().backward()
    np.testing.assert_allclose(loss.detach().numpy(), [200.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p,swap", [(2.0, False), (1.0, False), (2.0, True), (3.0, True)])
def test_triplet_margin_loss_matches_torch(reduction, p, swap):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    a, pos, neg = randn(5, 4), randn(5, 4), randn(5, 4)
    assert_matches_torch(
        torch,
        lambda x, y, z: md.F.triplet_margin_loss(x, y, z, margin=0.7, p=p, swap=swap, reduction=reduction),
        lambda x, y, z: tf.triplet_margin_loss(x, y, z, margin=0.7, p=p, swap=swap, reduction=reduction),
        a,
        pos,
        neg,
    )


@pytest.mark.parametrize("size_average,reduce", [(False, None), (None, False), (True, True), (False, True)])
def test_deprecated_size_average_and_reduce_map_as_torch(size_average, reduce):
    torch = pytest.importorskip("torch")
    x, t = randn(3, 4), _probs(3, 4)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        got = md.F.binary_cross_entropy_with_logits(md.tensor(x), md.tensor(t), None, size_average, reduce).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.tensor(x), torch.tensor(t), None, size_average, reduce
        ).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ---- distances against torch


@pytest.mark.parametrize(
    "s1,s2,dim",
    [((4, 5), (4, 5), 1), ((4, 5), (4, 5), 0), ((3, 1, 4), (5, 4), -1), ((2, 1), (2, 3), 0), ((6,), (6,), 0)],
)
@pytest.mark.parametrize("eps", [1e-8, 0.5])
def test_cosine_similarity_matches_torch(s1, s2, dim, eps):
    torch = pytest.importorskip("torch")
    a, b = randn(*s1, scale=0.3), randn(*s2)
    assert_matches_torch(
        torch,
        lambda x, y: md.F.cosine_similarity(x, y, dim, eps),
        lambda x, y: torch.nn.functional.cosine_similarity(x, y, dim, eps),
        a,
        b,
    )


def test_cosine_similarity_along_a_broadcast_dim_has_no_gradient():
    # (2, 1) against (2, 3) along dim 1: x's row is one value repeated, so its cosine with y does
    # not change with that value; the gradient is 0 up to rounding (torch's too: noise, not compared)
    a, b = randn(2, 1, scale=0.3), randn(2, 3)
    x = md.tensor(a, requires_grad=True)
    md.F.cosine_similarity(x, md.tensor(b), 1).sum().backward()
    assert np.abs(x.grad.numpy()).max() < 1e-5


def test_cosine_similarity_of_a_zero_vector_matches_torch():
    torch = pytest.importorskip("torch")
    a, b = randn(3, 4), randn(3, 4)
    a[0] = 0.0
    b[1] = 0.0
    # the zero vector's gradient is that of x / eps: about 1e8, compared relatively
    assert_matches_torch(
        torch, md.F.cosine_similarity, torch.nn.functional.cosine_similarity, a, b, rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("s1,s2", [((4, 5), (4, 5)), ((3, 4), (4,)), ((6,), (6,)), ((2, 3, 4), (3, 4))])
def test_pairwise_distance_matches_torch(p, keepdim, s1, s2):
    torch = pytest.importorskip("torch")
    a, b = randn(*s1), randn(*s2)
    if len(s1) == 2 and s1 == s2:
        a[0] = b[0] - 1e-6  # a zero difference after + eps: gradient 0, as torch's norm
    assert_matches_torch(
        torch,
        lambda x, y: md.F.pairwise_distance(x, y, p, keepdim=keepdim),
        lambda x, y: torch.nn.functional.pairwise_distance(x, y, p, keepdim=keepdim),
        a,
        b,
    )


# ---- modules: torch's reprs and state dicts, and the same result as their functions


def _module_pairs(torch):
    nn = torch.nn
    w3 = np.abs(randn(3)) + 0.1
    return [
        (md.nn.ELU(0.5), nn.ELU(0.5)),
        (md.nn.ELU(inplace=True), nn.ELU(inplace=True)),
        (md.nn.SELU(), nn.SELU()),
        (md.nn.CELU(2.0), nn.CELU(2.0)),
        (md.nn.ReLU6(), nn.ReLU6()),
        (md.nn.ReLU6(True), nn.ReLU6(True)),
        (md.nn.Hardtanh(-2.0, 0.5), nn.Hardtanh(-2.0, 0.5)),
        (md.nn.Hardsigmoid(), nn.Hardsigmoid()),
        (md.nn.Hardswish(), nn.Hardswish()),
        (md.nn.Softsign(), nn.Softsign()),
        (md.nn.Softshrink(0.7), nn.Softshrink(0.7)),
        (md.nn.Hardshrink(), nn.Hardshrink()),
        (md.nn.Tanhshrink(), nn.Tanhshrink()),
        (md.nn.LogSigmoid(), nn.LogSigmoid()),
        (md.nn.Softmin(1), nn.Softmin(1)),
        (md.nn.LogSoftmax(-1), nn.LogSoftmax(-1)),
        (md.nn.Softmax2d(), nn.Softmax2d()),
        (md.nn.GLU(1), nn.GLU(1)),
        (md.nn.PReLU(), nn.PReLU()),
        (md.nn.PReLU(4, init=0.1), nn.PReLU(4, init=0.1)),
        (md.nn.Threshold(0.1, 20.0), nn.Threshold(0.1, 20.0)),
        (md.nn.RReLU(0.1, 0.3), nn.RReLU(0.1, 0.3)),
        (md.nn.BCEWithLogitsLoss(pos_weight=md.tensor(w3)), nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w3))),
        (md.nn.NLLLoss(md.tensor(w3), ignore_index=1), nn.NLLLoss(torch.tensor(w3), ignore_index=1)),
        (md.nn.BCELoss(md.tensor(w3), reduction="sum"), nn.BCELoss(torch.tensor(w3), reduction="sum")),
        (md.nn.KLDivLoss(reduction="batchmean"), nn.KLDivLoss(reduction="batchmean")),
        (md.nn.GaussianNLLLoss(full=True), nn.GaussianNLLLoss(full=True)),
        (md.nn.PoissonNLLLoss(False), nn.PoissonNLLLoss(False)),
        (md.nn.CosineEmbeddingLoss(0.1), nn.CosineEmbeddingLoss(0.1)),
        (md.nn.MarginRankingLoss(0.2), nn.MarginRankingLoss(0.2)),
        (md.nn.HingeEmbeddingLoss(), nn.HingeEmbeddingLoss()),
        (md.nn.SoftMarginLoss(reduction="none"), nn.SoftMarginLoss(reduction="none")),
        (md.nn.TripletMarginLoss(p=1.0), nn.TripletMarginLoss(p=1.0)),
        (md.nn.CosineSimilarity(0), nn.CosineSimilarity(0)),
        (md.nn.PairwiseDistance(1.0, keepdim=True), nn.PairwiseDistance(1.0, keepdim=True)),
    ]


def _module_inputs(module, x):
    """Inputs for each module, from a (2, 4, 3) array x."""
    name = type(module).__name__
    probs = _probs(2, 3)
    if name == "BCEWithLogitsLoss":
        return [x[:, 0], probs]
    if name == "BCELoss":
        return [probs, _probs(2, 3)]
    if name == "NLLLoss":
        return [x[:, 0], np.array([2, 1], np.int64)]
    if name == "KLDivLoss":
        return [np.log(probs), _probs(2, 3)]
    if name == "GaussianNLLLoss":
        return [x[0], x[1], np.abs(x[0]) + 0.1]
    if name == "PoissonNLLLoss":
        return [np.abs(x[0]) + 0.1, np.abs(x[1]).round()]
    if name in ("CosineEmbeddingLoss", "MarginRankingLoss"):
        a, b, t = x[0], x[1], f32([1, -1, 1, -1])
        return [a, b, t] if name == "CosineEmbeddingLoss" else [a[:, 0], b[:, 0], t]
    if name in ("HingeEmbeddingLoss", "SoftMarginLoss"):
        return [x[0], np.where(x[1] > 0, 1.0, -1.0).astype(np.float32)]
    if name == "TripletMarginLoss":
        return [x[0], x[1], x[0] * 0.5]
    if name in ("CosineSimilarity", "PairwiseDistance"):
        return [x[0], x[1]]
    if name == "GLU":
        return [randn(3, 4, 2)]
    if name == "Softmax2d":
        return [x.reshape(1, 2, 4, 3)]
    return [x]


def test_modules_match_torch_reprs_state_dicts_values_and_gradients():
    torch = pytest.importorskip("torch")
    for ours, theirs in _module_pairs(torch):
        name = type(ours).__name__
        assert repr(ours) == repr(theirs), name
        theirs_state = theirs.state_dict()
        assert sorted(ours.state_dict()) == sorted(theirs_state), name
        if theirs_state:  # torch's values load and are used
            if name.startswith("PReLU"):
                with torch.no_grad():
                    theirs.weight.uniform_(0.05, 0.5)
            ours.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
        ours.eval()
        theirs.eval()  # RReLU: the fixed slope
        x = randn(2, 4, 3, scale=2)
        arrays = _module_inputs(ours, x)
        # the ±1 targets of these get no gradient (in torch either)
        wrt = {"CosineEmbeddingLoss": [0, 1], "HingeEmbeddingLoss": [0], "SoftMarginLoss": [0]}.get(name)
        if "inplace=True" in repr(ours):  # on a copy: a leaf cannot change in place
            assert_matches_torch(torch, lambda t, m=ours: m(t * 1.0), lambda t, m=theirs: m(t * 1.0), *arrays, wrt=wrt)
        else:
            assert_matches_torch(torch, ours, theirs, *arrays, wrt=wrt)


def test_prelu_parameter_gets_its_gradient_and_matches_torch_after_loading():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.PReLU(3)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor([0.1, -0.2, 0.7]))
    ours = md.nn.PReLU(3)
    ours.load_state_dict({"weight": md.tensor(theirs.weight.detach().numpy())})
    x = randn(2, 3, 4)
    g = randn(2, 3, 4)
    out = ours(md.tensor(x))
    out.backward(md.tensor(g))
    ref = theirs(torch.tensor(x))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert [n for n, _ in ours.named_parameters()] == ["weight"]


def _functional_of(module):
    F = md.F
    pairs = {
        "ELU": lambda x: F.elu(x, module.alpha),
        "CELU": lambda x: F.celu(x, module.alpha),
        "SELU": F.selu,
        "Hardtanh": lambda x: F.hardtanh(x, module.min_val, module.max_val),
        "ReLU6": F.relu6,
        "Hardsigmoid": F.hardsigmoid,
        "Hardswish": F.hardswish,
        "Softsign": F.softsign,
        "Softshrink": lambda x: F.softshrink(x, module.lambd),
        "Hardshrink": lambda x: F.hardshrink(x, module.lambd),
        "Tanhshrink": F.tanhshrink,
        "LogSigmoid": F.logsigmoid,
        "Softmin": lambda x: F.softmin(x, module.dim),
        "LogSoftmax": lambda x: F.log_softmax(x, module.dim),
        "GLU": lambda x: F.glu(x, module.dim),
        "Threshold": lambda x: F.threshold(x, module.threshold, module.value),
    }
    return pairs[type(module).__name__]


@pytest.mark.parametrize(
    "module",
    [
        md.nn.ELU(0.3),
        md.nn.CELU(1.5),
        md.nn.SELU(),
        md.nn.Hardtanh(-0.5, 2.0),
        md.nn.ReLU6(),
        md.nn.Hardsigmoid(),
        md.nn.Hardswish(),
        md.nn.Softsign(),
        md.nn.Softshrink(0.2),
        md.nn.Hardshrink(1.0),
        md.nn.Tanhshrink(),
        md.nn.LogSigmoid(),
        md.nn.Softmin(0),
        md.nn.LogSoftmax(1),
        md.nn.GLU(0),
        md.nn.Threshold(0.3, -1.0),
    ],
    ids=lambda m: type(m).__name__,
)
def test_module_equals_its_function(module):
    x = randn(4, 6, scale=3)
    np.testing.assert_array_equal(module(md.tensor(x)).numpy(), _functional_of(module)(md.tensor(x)).numpy())


def test_loss_modules_equal_their_functions():
    F, nn = md.F, md.nn
    x, t = md.tensor(randn(3, 4)), md.tensor(_probs(3, 4))
    w = md.tensor(np.abs(randn(4)) + 0.1)
    pairs = [
        (
            nn.BCELoss(w, reduction="none")(md.F.sigmoid(x), t),
            F.binary_cross_entropy(md.F.sigmoid(x), t, w, reduction="none"),
        ),
        (nn.BCEWithLogitsLoss(w, pos_weight=w)(x, t), F.binary_cross_entropy_with_logits(x, t, w, pos_weight=w)),
        (nn.SoftMarginLoss()(x, t), F.soft_margin_loss(x, t)),
        (nn.HingeEmbeddingLoss(0.5, reduction="sum")(x, t), F.hinge_embedding_loss(x, t, 0.5, reduction="sum")),
        (nn.PairwiseDistance(3.0)(x, t), F.pairwise_distance(x, t, 3.0)),
        (nn.CosineSimilarity(0, 1e-3)(x, t), F.cosine_similarity(x, t, 0, 1e-3)),
    ]
    for got, want in pairs:
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    logp = F.log_softmax(x, 1)
    target = md.tensor(np.array([0, 3, -100], np.int64), dtype="int64")
    np.testing.assert_array_equal(nn.NLLLoss(w)(logp, target).numpy(), F.nll_loss(logp, target, w).numpy())
    np.testing.assert_array_equal(
        nn.KLDivLoss(reduction="batchmean", log_target=True)(logp, logp * 0.5).numpy(),
        F.kl_div(logp, logp * 0.5, reduction="batchmean", log_target=True).numpy(),
    )
    # NLLLoss(log_softmax) is cross_entropy
    np.testing.assert_allclose(
        F.nll_loss(logp, target, w).numpy(), F.cross_entropy(x, target, w).numpy(), rtol=1e-6, atol=1e-7
    )


def test_inplace_module_writes_into_its_input():
    x = md.tensor(f32([-1.0, 0.5, 8.0]))
    out = md.nn.ReLU6(inplace=True)(x)
    assert out is x
    np.testing.assert_array_equal(x.numpy(), [0.0, 0.5, 6.0])
    y = md.tensor(f32([-1.0, 0.5]))
    md.nn.ELU()(y)
    np.testing.assert_array_equal(y.numpy(), [-1.0, 0.5])  # out of place by default


# ---- NumPy references and finite differences (run without torch)


def _grad(fn, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = md.tensor(x, requires_grad=True)
    out = fn(t)
    out.backward(md.ones(out.shape))
    return out.detach().numpy(), t.grad.numpy()


def test_elu_family_against_numpy_is_accurate_near_zero():
    x = f32([-1e-7, -1e-5, -3e-3, -0.4, -0.99, -1.0, -1.5, -30.0, 0.0, 2.0])
    xd = x.astype(np.float64)
    for alpha in (1.0, 0.5, 2.0):
        want = np.where(xd > 0, xd, alpha * np.expm1(xd))
        value, grad = _grad(lambda t, a=alpha: md.F.elu(t, a), x)
        np.testing.assert_allclose(value, want, rtol=2e-7, atol=0)  # expm1 precision, not exp(x) - 1's
        np.testing.assert_allclose(grad, np.where(xd > 0, 1.0, alpha * np.exp(xd)), rtol=2e-7)
        want_celu = np.where(xd > 0, xd, alpha * np.expm1(xd / alpha))
        np.testing.assert_allclose(md.F.celu(md.tensor(x), alpha).numpy(), want_celu, rtol=3e-7, atol=0)
    scale, alpha = 1.0507009873554805, 1.6732632423543772
    np.testing.assert_allclose(
        md.F.selu(md.tensor(x)).numpy(), scale * np.where(xd > 0, xd, alpha * np.expm1(xd)), rtol=3e-7, atol=0
    )


def test_hard_activations_against_numpy_with_torch_gradients_at_the_kinks():
    x = f32([-4.0, -3.0, -1.0, 0.0, 1.0, 3.0, 4.0, 6.0, 7.0])
    value, grad = _grad(md.F.hardswish, x)
    np.testing.assert_allclose(value, x * np.clip(x + 3, 0, 6) / 6, rtol=1e-6)
    np.testing.assert_allclose(grad, [0, 0, 1 / 6, 0.5, 5 / 6, 1, 1, 1, 1], rtol=1e-6)
    value, grad = _grad(md.F.hardsigmoid, x)
    np.testing.assert_allclose(value, np.clip(x + 3, 0, 6) / 6, rtol=1e-6)
    np.testing.assert_allclose(grad, [0, 0, 1 / 6, 1 / 6, 1 / 6, 0, 0, 0, 0], rtol=1e-6)
    value, grad = _grad(md.F.relu6, x)
    np.testing.assert_array_equal(value, np.clip(x, 0, 6))
    np.testing.assert_array_equal(grad, [0, 0, 0, 0, 1, 1, 1, 0, 0])
    value, grad = _grad(lambda t: md.F.hardtanh(t, -3.0, 3.0), x)
    np.testing.assert_array_equal(value, np.clip(x, -3, 3))
    np.testing.assert_array_equal(grad, [0, 0, 1, 1, 1, 0, 0, 0, 0])
    value, grad = _grad(lambda t: md.F.softshrink(t, 1.0), x)
    np.testing.assert_array_equal(value, np.where(np.abs(x) > 1, x - np.sign(x), 0))
    np.testing.assert_array_equal(grad, [1, 1, 0, 0, 0, 1, 1, 1, 1])
    value, grad = _grad(lambda t: md.F.hardshrink(t, 1.0), x)
    np.testing.assert_array_equal(value, np.where(np.abs(x) > 1, x, 0))
    np.testing.assert_array_equal(grad, [1, 1, 0, 0, 0, 1, 1, 1, 1])
    value, grad = _grad(lambda t: md.F.threshold(t, 1.0, -5.0), x)
    np.testing.assert_array_equal(value, np.where(x > 1, x, -5))
    np.testing.assert_array_equal(grad, [0, 0, 0, 0, 0, 1, 1, 1, 1])


def test_logsigmoid_against_numpy_at_large_magnitudes():
    x = f32([-1e4, -200.0, -30.0, -1.0, 0.0, 1e-3, 1.0, 30.0, 80.0])
    xd = x.astype(np.float64)
    want = -np.logaddexp(0.0, -xd)
    value, grad = _grad(md.F.logsigmoid, x)
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    np.testing.assert_allclose(value, want, rtol=1e-6, atol=0)  # relative even at -exp(-80)
    np.testing.assert_allclose(grad, sigmoid_ref(-xd), rtol=1e-6, atol=1e-30)
    # beyond float32's range: -exp(-200) rounds to -0, its gradient to 0; nothing is NaN
    value, grad = _grad(md.F.logsigmoid, f32([200.0, 1e4]))
    np.testing.assert_array_equal(value, [0.0, 0.0])
    np.testing.assert_array_equal(grad, [0.0, 0.0])


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def test_binary_cross_entropy_with_logits_against_numpy():
    x = f32([[-1e4, -50.0, -1.0, 0.0], [0.5, 3.0, 50.0, 1e4]])
    t = f32([[0.0, 1.0, 0.3, 0.5], [1.0, 0.0, 0.9, 0.0]])
    pw = f32([2.0, 0.5, 1.0, 3.0])
    xd, td = x.astype(np.float64), t.astype(np.float64)
    lw = (pw - 1.0) * td + 1.0
    # stable float64 form: (1 - t) x + l * log(1 + exp(-x))
    want = (1 - td) * xd + lw * np.logaddexp(0.0, -xd)
    got = md.F.binary_cross_entropy_with_logits(md.tensor(x), md.tensor(t), reduction="none", pos_weight=md.tensor(pw))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    value, grad = _grad(lambda v: md.F.binary_cross_entropy_with_logits(v, md.tensor(t), reduction="sum"), x)
    np.testing.assert_allclose(grad, _stable_sigmoid(xd) - td, atol=1e-6)
    check_grads(
        lambda a, b: md.F.binary_cross_entropy_with_logits(a, b, reduction="none", pos_weight=md.tensor(pw)),
        [randn(2, 4), _probs(2, 4)],
    )


def test_binary_cross_entropy_against_numpy_clamps_the_logs():
    x = f32([0.0, 1.0, 0.25, 1e-6, 0.5])
    t = f32([1.0, 0.0, 1.0, 0.0, 0.2])
    value, grad = _grad(lambda v: md.F.binary_cross_entropy(v, md.tensor(t), reduction="none"), x)
    xd, td = x.astype(np.float64), t.astype(np.float64)
    with np.errstate(divide="ignore"):
        want = -(td * np.maximum(np.log(xd), -100) + (1 - td) * np.maximum(np.log1p(-xd), -100))
    np.testing.assert_allclose(value, want, rtol=1e-6)
    np.testing.assert_allclose(value[:2], [100.0, 100.0])
    np.testing.assert_allclose(grad, (xd - td) / np.maximum(xd * (1 - xd), 1e-12), rtol=1e-5)


def test_nll_loss_against_numpy():
    logp = np.log(softmax_ref(randn(5, 3, 2).astype(np.float64), 1)).astype(np.float32)
    target = np.array([[0, 2], [1, -100], [2, 2], [-100, 0], [1, 1]], np.int64)
    w = f32([0.2, 1.0, 3.0])
    n_idx, d_idx = np.meshgrid(np.arange(5), np.arange(2), indexing="ij")
    kept = target != -100
    safe = np.where(kept, target, 0)
    picked = logp[n_idx, safe, d_idx]
    per = np.where(kept, -picked * w[safe], 0.0)
    got = md.F.nll_loss(md.tensor(logp), md.tensor(target, dtype="int64"), md.tensor(w), reduction="none")
    np.testing.assert_allclose(got.numpy(), per, rtol=1e-6)
    mean = md.F.nll_loss(md.tensor(logp), md.tensor(target, dtype="int64"), md.tensor(w))
    np.testing.assert_allclose(mean.item(), per.sum() / np.where(kept, w[safe], 0).sum(), rtol=1e-6)
    check_grads(lambda a: md.F.nll_loss(a, md.tensor(target, dtype="int64"), md.tensor(w)).reshape(1), [logp])


def test_kl_div_against_numpy():
    x = np.log(softmax_ref(randn(3, 4).astype(np.float64), 1)).astype(np.float32)
    p = softmax_ref(randn(3, 4).astype(np.float64), 1).astype(np.float32)
    p[0, 0] = 0.0
    pd, xd = p.astype(np.float64), x.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(pd > 0, pd * (np.log(pd) - xd), 0.0)
    got = md.F.kl_div(md.tensor(x), md.tensor(p), reduction="batchmean").item()
    np.testing.assert_allclose(got, per.sum() / 3, rtol=1e-5)
    got = md.F.kl_div(md.tensor(x), md.tensor(np.log(p + 1e-30).astype(np.float32)), reduction="sum", log_target=True)
    np.testing.assert_allclose(got.item(), per.sum(), rtol=1e-5, atol=1e-6)
    # targets away from 0, where t * log(t) curves too much for the finite-difference step
    check_grads(lambda a, b: md.F.kl_div(a, b, reduction="none"), [x, _probs(3, 4) * 0.5 + 0.25])


def test_gaussian_and_poisson_nll_against_numpy():
    x, y = randn(4, 3), randn(4, 3)
    var = np.abs(randn(4)) + 0.1
    vd = var.astype(np.float64)[:, None]
    want = 0.5 * (np.log(vd) + (x.astype(np.float64) - y) ** 2 / vd) + 0.5 * math.log(2 * math.pi)
    got = md.F.gaussian_nll_loss(md.tensor(x), md.tensor(y), md.tensor(var), full=True, reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    check_grads(lambda a, b, v: md.F.gaussian_nll_loss(a, b, v, reduction="none"), [x, y, np.abs(randn(4, 3)) + 0.5])
    t = f32([[0.0, 1.0, 2.0], [5.0, 3.0, 0.5]])
    lam = randn(2, 3)
    stirling = np.where(t > 1, t * np.log(np.maximum(t, 1)) - t + 0.5 * np.log(2 * np.pi * np.maximum(t, 1)), 0)
    want = np.exp(lam.astype(np.float64)) - t * lam + stirling
    got = md.F.poisson_nll_loss(md.tensor(lam), md.tensor(t), full=True, reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_distances_against_numpy():
    a, b = randn(4, 5), randn(4, 5)
    a[0] = 0.0
    ad, bd = a.astype(np.float64), b.astype(np.float64)
    n1 = np.maximum(np.linalg.norm(ad, axis=1), 1e-8)
    n2 = np.maximum(np.linalg.norm(bd, axis=1), 1e-8)
    want = ((ad / n1[:, None]) * (bd / n2[:, None])).sum(1)
    np.testing.assert_allclose(md.F.cosine_similarity(md.tensor(a), md.tensor(b)).numpy(), want, rtol=1e-6, atol=1e-7)
    for p in (1.0, 2.0, 3.0):
        want = (np.abs(ad - bd + 1e-6) ** p).sum(-1) ** (1 / p)
        got = md.F.pairwise_distance(md.tensor(a), md.tensor(b), p)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    check_grads(lambda x, y: md.F.cosine_similarity(x, y, dim=0), [randn(4, 3), randn(4, 3)])
    check_grads(lambda x, y: md.F.pairwise_distance(x, y), [randn(3, 4), randn(3, 4)])


def test_smooth_activations_by_finite_differences():
    x = randn(3, 4, scale=2)
    x[np.abs(x) < 0.05] = 0.5  # off the kink at 0 (selu's slope jumps there), farther than the step
    for fn in (md.F.elu, md.F.selu, lambda t: md.F.celu(t, 0.7), md.F.logsigmoid, md.F.softsign, md.F.tanhshrink):
        check_grads(fn, [x])
    check_grads(lambda t: md.F.glu(t, 1), [x])
    check_grads(lambda t: md.F.softmin(t, 1), [x])
    check_grads(md.F.prelu, [x, np.abs(randn(4)) * 0.3])
    check_grads(
        lambda p, q, t: md.F.cosine_embedding_loss(p, q, t, 0.1, reduction="none"),
        [x, randn(3, 4), f32([1, -1, -1])],
        wrt=[0, 1],
    )


# ---- on a CUDA device: the same values and gradients as on the CPU (skipped without one)


@pytest.mark.skipif(not md.cuda.is_available(), reason="no CUDA device")
def test_functions_on_cuda_match_the_cpu():
    x, t = randn(3, 4, scale=3), _probs(3, 4)
    labels = np.array([0, -100, 3], np.int64)
    cases = [
        lambda a, b: md.F.elu(a) * b + md.F.hardswish(a) + md.F.softshrink(a) + md.F.logsigmoid(a),
        lambda a, b: md.F.prelu(a, md.tensor(f32([0.1, 0.2, 0.3, 0.4]), device=a.device)),
        lambda a, b: md.F.rrelu(a) + md.F.glu(a, 1).sum() + md.F.softmin(a, 0),
        lambda a, b: md.F.binary_cross_entropy(md.F.sigmoid(a), b, reduction="none"),
        lambda a, b: md.F.binary_cross_entropy_with_logits(a, b, pos_weight=b[0]),
        lambda a, b: md.F.nll_loss(a, md.tensor(labels, dtype="int64", device=a.device), b[0]),
        lambda a, b: md.F.kl_div(a, b, reduction="batchmean"),
        lambda a, b: md.F.gaussian_nll_loss(a, b, 0.5) + md.F.gaussian_nll_loss(a, b, b + 0.1),
        lambda a, b: md.F.poisson_nll_loss(a, b * 4.0, full=True),
        lambda a, b: md.F.cosine_similarity(a, b) + md.F.pairwise_distance(a, b, 3.0),
        lambda a, b: md.F.cosine_embedding_loss(a, b, md.tensor(f32([1, -1, 1]), device=a.device), 0.2),
    ]
    for fn in cases:
        results = []
        for device in ("cpu", "cuda"):
            a = md.tensor(x, device=device, requires_grad=True)
            out = fn(a, md.tensor(t, device=device))
            assert out.device == a.device
            out.backward(md.ones(out.shape, device=device))
            results.append((out.detach().cpu().numpy(), a.grad.cpu().numpy()))
        (value, grad), (cuda_value, cuda_grad) = results
        np.testing.assert_allclose(cuda_value, value, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cuda_grad, grad, rtol=1e-5, atol=1e-6)
    md.manual_seed(0)
    slopes = md.F.rrelu(md.tensor(-np.ones(1000, np.float32), device="cuda"), 0.1, 0.3, training=True).cpu().numpy()
    assert -0.3 - 1e-6 <= slopes.min() and slopes.max() <= -0.1 + 1e-6 and slopes.std() > 0.03


# ---- errors


@pytest.mark.parametrize(
    "call,op",
    [
        (lambda a, b: md.F.binary_cross_entropy(md.F.sigmoid(a), b, reduction="avg"), "binary_cross_entropy"),
        (
            lambda a, b: md.F.binary_cross_entropy_with_logits(a, b, reduction="batchmean"),
            "binary_cross_entropy_with_logits",
        ),
        (lambda a, b: md.F.kl_div(a, b, reduction="avg"), "kl_div"),
        (lambda a, b: md.F.gaussian_nll_loss(a, b, md.ones(a.shape), reduction="all"), "gaussian_nll_loss"),
        (lambda a, b: md.F.poisson_nll_loss(a, b, reduction="max"), "poisson_nll_loss"),
        (lambda a, b: md.F.soft_margin_loss(a, b, reduction="mean "), "soft_margin_loss"),
        (lambda a, b: md.F.hinge_embedding_loss(a, b, reduction=None), "hinge_embedding_loss"),
        (lambda a, b: md.F.margin_ranking_loss(a, b, b, reduction="x"), "margin_ranking_loss"),
        (lambda a, b: md.F.cosine_embedding_loss(a, b, md.ones((2,)), reduction="x"), "cosine_embedding_loss"),
        (lambda a, b: md.F.triplet_margin_loss(a, b, b, reduction="x"), "triplet_margin_loss"),
        (lambda a, b: md.F.nll_loss(a, md.tensor([0, 1], dtype="int64"), reduction="x"), "nll_loss"),
    ],
)
def test_bad_reduction_names_the_op(call, op):
    a, b = md.tensor(randn(2, 3)), md.tensor(_probs(2, 3))
    with pytest.raises(ValueError, match=f"^{op}: reduction must be one of .*got"):
        call(a, b)


@pytest.mark.parametrize("cls", [md.nn.BCELoss, md.nn.NLLLoss, md.nn.SoftMarginLoss, md.nn.PoissonNLLLoss])
def test_loss_module_bad_reduction_names_the_class(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__}: reduction"):
        cls(reduction="batchmean")
    md.nn.KLDivLoss(reduction="batchmean")  # the one loss that takes it


def test_shape_errors_name_the_op_and_the_shapes():
    a, b = md.tensor(_probs(2, 3)), md.tensor(_probs(3, 2))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: .*\(3, 2\).*\(2, 3\)"):
        md.F.binary_cross_entropy(a, b)
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: .*\(3, 2\).*\(2, 3\)"):
        md.F.binary_cross_entropy_with_logits(a, b)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: weight of shape \(2,\)"):
        md.F.binary_cross_entropy(a, a, weight=md.ones(2))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: pos_weight of shape \(2, 1, 3\)"):
        md.F.binary_cross_entropy_with_logits(a, a, pos_weight=md.ones((2, 1, 3)))
    with pytest.raises(ValueError, match=r"nll_loss: target of shape \(3,\) .*\(2, 3\)"):
        md.F.nll_loss(a, md.tensor([0, 1, 2], dtype="int64"))
    with pytest.raises(ValueError, match=r"nll_loss: weight must have shape \(3,\)"):
        md.F.nll_loss(a, md.tensor([0, 1], dtype="int64"), weight=md.ones(2))
    with pytest.raises(TypeError, match="nll_loss: target must hold int64"):
        md.F.nll_loss(a, md.tensor(f32([0, 1])))
    with pytest.raises(IndexError, match="nll_loss: a target is out of range for 3 classes"):
        md.F.nll_loss(a, md.tensor([0, 3], dtype="int64"))
    with pytest.raises(ValueError, match=r"kl_div: shapes do not broadcast: input \(2, 3\), target \(3, 2\)"):
        md.F.kl_div(a, b, reduction="sum")
    with pytest.raises(ValueError, match=r"cosine_similarity: shapes do not broadcast: x1 \(2, 3\), x2 \(3, 2\)"):
        md.F.cosine_similarity(a, b)
    with pytest.raises(ValueError, match=r"pairwise_distance: shapes do not broadcast"):
        md.F.pairwise_distance(a, b)
    with pytest.raises(ValueError, match=r"cosine_embedding_loss: .*\(2, 3\).*\(3, 2\)"):
        md.F.cosine_embedding_loss(a, b, md.ones(2))
    with pytest.raises(ValueError, match=r"cosine_embedding_loss: expected a 0-d or 1-d target"):
        md.F.cosine_embedding_loss(a, a, md.ones((2, 1)))
    with pytest.raises(ValueError, match="margin_ranking_loss: .*same number of dimensions"):
        md.F.margin_ranking_loss(a, a, md.ones(3))
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var of shape \(3,\) is of incorrect size"):
        md.F.gaussian_nll_loss(a, a, md.ones(3))
    with pytest.raises(ValueError, match="gaussian_nll_loss: var has negative"):
        md.F.gaussian_nll_loss(a, a, md.tensor(-np.ones((2, 3), np.float32)))
    with pytest.raises(ValueError, match="triplet_margin_loss: .*same number of dimensions"):
        md.F.triplet_margin_loss(a, a, md.ones(3))
    with pytest.raises(ValueError, match=r"glu: halving dimension must be even.*\(2, 3\) is size 3"):
        md.F.glu(a)
    with pytest.raises(ValueError, match="glu: does not support scalars"):
        md.F.glu(md.tensor(f32(1.0)))
    with pytest.raises(ValueError, match=r"prelu: weight of shape \(2,\) has 2 slopes, but input of shape \(2, 3\)"):
        md.F.prelu(a, md.ones(2))
    with pytest.raises(ValueError, match=r"prelu: expected weight to be a scalar or 1D tensor, got shape \(1, 1\)"):
        md.F.prelu(a, md.ones((1, 1)))
    with pytest.raises(ValueError, match=r"Softmax2d: expected a 3D or 4D input, got shape \(2, 3\)"):
        md.nn.Softmax2d()(a)


def test_value_errors_for_bad_options_and_inputs():
    x = md.tensor(randn(2, 3))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: all elements of input \(shape \(2, 3\)\)"):
        md.F.binary_cross_entropy(x * 3.0, md.tensor(_probs(2, 3)))
    with pytest.raises(ValueError, match="binary_cross_entropy: all elements of target"):
        md.F.binary_cross_entropy(md.tensor(_probs(2, 3)), md.tensor(_probs(2, 3)) + 1.0)
    with pytest.raises(ValueError, match="hardtanh: min_val"):
        md.F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="Hardtanh: max_val"):
        md.nn.Hardtanh(1.0, 1.0)
    with pytest.raises(ValueError, match="softshrink: lambd must be non-negative"):
        md.F.softshrink(x, -0.1)
    with pytest.raises(ValueError, match="celu: alpha cannot be 0"):
        md.F.celu(x, 0.0)
    with pytest.raises(ValueError, match="rrelu: lower bound"):
        md.F.rrelu(x, 0.5, 0.1)
    with pytest.raises(ValueError, match="triplet_margin_loss: margin must be greater than 0"):
        md.F.triplet_margin_loss(x, x, x, margin=0.0)
    with pytest.raises(ValueError, match="TripletMarginLoss: margin"):
        md.nn.TripletMarginLoss(margin=-1.0)
    with pytest.raises(ValueError, match="PReLU: num_parameters"):
        md.nn.PReLU(0)
    with pytest.raises(TypeError, match="elu: input must be an md tensor"):
        md.F.elu(np.ones(3))
    with pytest.raises(TypeError, match="kl_div: target must be an md tensor"):
        md.F.kl_div(x, np.ones((2, 3)))
    with pytest.raises(IndexError, match="softmin: dim 2 is out of range"):
        md.F.softmin(x, 2)


def test_deprecated_size_average_warns_at_the_users_line():
    for make in (
        lambda: md.nn.BCELoss(size_average=False),
        lambda: md.nn.NLLLoss(reduce=False),
        lambda: md.F.binary_cross_entropy(md.rand((3,)), md.rand((3,)), size_average=False),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            make()
        assert len(caught) == 1 and "size_average and reduce" in str(caught[0].message)
        assert caught[0].filename == __file__  # not a line inside minidiff


@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy"])
def test_every_target_ignored_gives_nan_loss_and_zero_gradients_as_torch(loss):
    x = md.tensor(randn(2, 3), requires_grad=True)
    out = getattr(md.F, loss)(x, md.tensor([-100, -100], dtype="int64"))
    out.backward()
    assert np.isnan(out.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3), np.float32))
    weighted = getattr(md.F, loss)(x, md.tensor([1, 2], dtype="int64"), weight=md.tensor([1.0, 0.0, 0.0]))
    assert np.isnan(weighted.item())  # every kept target weighs 0: 0 / 0, as torch


def test_relu6_of_int64_stays_int64_as_torch():
    out = md.F.relu6(md.tensor(np.array([-3, 2, 9]), dtype="int64"))
    assert out.dtype == "int64" and out.numpy().tolist() == [0, 2, 6]
