"""Differential tests of weight initialisation (md.nn.init), the losses and the activation layers
against PyTorch (CPU, float32): init functions' fans, gains, in-place identity, no autograd
recording, generators and distributions (statistical bounds that a wrong scale fails); the default
initialisation of the common layers; loss values and gradients over reductions, 0-d and empty
inputs; activation values and gradients at and around their kinks; module reprs and in-place
arguments.

Random draws come from minidiff's generator, so distributions are checked against their analytic
moments (or torch's formulas), not against torch's numbers. Tests that need torch skip without it;
``xfail(strict=True)`` marks a known difference whose cause lies outside the files of this area."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import minidiff as md

init = md.nn.init
F = md.F


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    return torch


def randn(*shape, seed=0, scale=1.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, dtype=np.float32)


def _close(a, b, rtol=1e-4, atol=1e-5, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def compare(md_fn, torch_fn, arrays, grads, *, rtol=1e-4, atol=1e-5, what=""):
    """Run one call in both frameworks on the same data; compare the value and, for the
    arrays marked in ``grads``, the gradients for one random upstream gradient."""
    torch = _torch()
    ms, ts = [], []
    for a, g in zip(arrays, grads):
        a = np.asarray(a)
        a = a.astype(np.float32) if a.dtype.kind == "f" else a.astype(np.int64)
        ms.append(md.tensor(a, requires_grad=bool(g)))
        ts.append(torch.tensor(a, requires_grad=bool(g)))
    mo, to = md_fn(*ms), torch_fn(*ts)
    _close(mo.numpy(), to.detach().numpy(), rtol, atol, what + " value")
    if not any(grads):
        return
    w = randn(*tuple(to.shape), seed=7)
    (mo * md.tensor(w)).sum().backward()
    (to * torch.tensor(w)).sum().backward()
    for i, (m, t, g) in enumerate(zip(ms, ts, grads)):
        if g:
            _close(m.grad.numpy(), t.grad.numpy(), rtol, atol, f"{what} grad of argument {i}")


# ---------------------------------------------------------------- init: gains and fans

_NONLINEARITIES = [
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
]


@pytest.mark.parametrize("nonlinearity", _NONLINEARITIES)
def test_calculate_gain_matches_torch(nonlinearity):
    torch = _torch()
    assert init.calculate_gain(nonlinearity) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity))


@pytest.mark.parametrize("param", [None, 0, 0.2, 1, -0.5])
def test_calculate_gain_leaky_relu_slopes(param):
    torch = _torch()
    got = init.calculate_gain("leaky_relu", param)
    assert got == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", param))


@pytest.mark.parametrize("param", [True, "x", [0.1]])
def test_calculate_gain_leaky_relu_rejects_non_numbers(param):
    # a bool is an int, but torch refuses it as a slope (and a string is not converted)
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", param)


def test_calculate_gain_unknown():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("shape", [(3, 4), (3, 4, 5), (2, 3, 4, 5), (2, 3, 4, 5, 6), (0, 3), (4, 0, 2)])
def test_fan_in_and_fan_out_matches_torch(shape):
    torch = _torch()
    got = init._calculate_fan_in_and_fan_out(md.zeros(shape))
    assert got == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


@pytest.mark.parametrize("shape", [(), (5,)])
def test_fans_need_two_dims(shape):
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(md.zeros(shape))
    for fn in (init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_):
        with pytest.raises(ValueError):
            fn(md.zeros(shape))


def test_kaiming_mode_is_case_insensitive_and_checked():
    w = init.kaiming_uniform_(md.zeros((40, 50)), mode="FAN_OUT", nonlinearity="relu")
    assert np.abs(w.numpy()).max() <= math.sqrt(6.0 / 40) + 1e-6
    assert init._calculate_correct_fan(md.zeros((4, 5)), "Fan_In") == 5
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_normal_(md.zeros((4, 5)), mode="fan_avg")


@pytest.mark.parametrize("fn", [init.kaiming_uniform_, init.kaiming_normal_])
@pytest.mark.parametrize("shape", [(4, 0), (0, 4), (3, 0, 2)])
def test_kaiming_zero_element_is_a_noop_with_warning(fn, shape):
    # torch warns and returns before computing a fan (fan_in 0 would divide by zero)
    t = md.zeros(shape)
    with pytest.warns(UserWarning, match="zero-element"):
        assert fn(t) is t


# ---------------------------------------------------------------- init: in place, no tape, generator

_FILLERS = [
    ("uniform_", ()),
    ("normal_", ()),
    ("trunc_normal_", ()),
    ("constant_", (0.3,)),
    ("ones_", ()),
    ("zeros_", ()),
    ("eye_", ()),
    ("xavier_uniform_", ()),
    ("xavier_normal_", ()),
    ("kaiming_uniform_", ()),
    ("kaiming_normal_", ()),
    ("orthogonal_", ()),
    ("sparse_", (0.5,)),
]


@pytest.mark.parametrize("name,args", _FILLERS)
def test_init_is_in_place_and_not_recorded(name, args):
    t = md.zeros((6, 5), requires_grad=True)
    assert getattr(init, name)(t, *args) is t
    assert t.is_leaf and t.grad_fn is None and t.requires_grad
    # the leaf is still usable: its gradient is that of the new values
    (t * 2.0).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.full((6, 5), 2.0, np.float32))


def test_dirac_is_in_place_and_not_recorded():
    t = md.zeros((4, 4, 3), requires_grad=True)
    assert init.dirac_(t) is t
    assert t.is_leaf and t.grad_fn is None


@pytest.mark.parametrize(
    "name,args",
    [
        (n, a)
        for n, a in _FILLERS
        if n in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "kaiming_normal_", "orthogonal_", "sparse_")
    ],
)
def test_init_generator_reproducible(name, args):
    fn = getattr(init, name)
    a = fn(md.zeros((8, 7)), *args, generator=md.Generator(11)).numpy()
    b = fn(md.zeros((8, 7)), *args, generator=md.Generator(11)).numpy()
    c = fn(md.zeros((8, 7)), *args, generator=md.Generator(12)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ---------------------------------------------------------------- init: distributions
# n = 40000 draws: the sample mean's standard error is std / 200; the bounds below are about
# 5 standard errors, so a wrong scale (a factor sqrt(2), sqrt(3), the other fan) fails them


def _moments_ok(values, mean, std, what):
    n = values.size
    assert abs(values.mean() - mean) < 5 * std / math.sqrt(n), f"{what}: mean {values.mean()} vs {mean}"
    assert abs(values.std() - std) < 5 * std / math.sqrt(2 * n) + 1e-7, f"{what}: std {values.std()} vs {std}"


def test_uniform_and_normal_distributions():
    md.manual_seed(0)
    u = init.uniform_(md.zeros((200, 200)), -2.0, 3.0).numpy()
    assert u.min() >= -2.0 and u.max() <= 3.0
    _moments_ok(u, 0.5, 5.0 / math.sqrt(12), "uniform_")
    n = init.normal_(md.zeros((200, 200)), 1.5, 2.0).numpy()
    _moments_ok(n, 1.5, 2.0, "normal_")


@pytest.mark.parametrize(
    "shape,kwargs",
    [
        ((200, 200), {}),
        ((100, 50, 3, 3), {"a": math.sqrt(5)}),
        ((100, 400), {"mode": "fan_out", "nonlinearity": "relu"}),
        ((100, 400), {"a": 0.2}),
        ((100, 400), {"nonlinearity": "tanh"}),
    ],
)
def test_kaiming_distributions(shape, kwargs):
    md.manual_seed(1)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(md.zeros(shape))
    fan = fan_out if kwargs.get("mode") == "fan_out" else fan_in
    std = init.calculate_gain(kwargs.get("nonlinearity", "leaky_relu"), kwargs.get("a", 0)) / math.sqrt(fan)
    u = init.kaiming_uniform_(md.zeros(shape), **kwargs).numpy()
    assert np.abs(u).max() <= math.sqrt(3.0) * std * (1 + 1e-6)
    assert np.abs(u).max() > 0.99 * math.sqrt(3.0) * std
    _moments_ok(u, 0.0, std, f"kaiming_uniform_ {kwargs}")
    _moments_ok(init.kaiming_normal_(md.zeros(shape), **kwargs).numpy(), 0.0, std, f"kaiming_normal_ {kwargs}")


def test_xavier_distributions():
    md.manual_seed(2)
    shape = (60, 80, 3, 3)
    std = 2.0 * math.sqrt(2.0 / (80 * 9 + 60 * 9))
    u = init.xavier_uniform_(md.zeros(shape), gain=2.0).numpy()
    assert np.abs(u).max() <= math.sqrt(3.0) * std * (1 + 1e-6)
    _moments_ok(u, 0.0, std, "xavier_uniform_")
    _moments_ok(init.xavier_normal_(md.zeros(shape), gain=2.0).numpy(), 0.0, std, "xavier_normal_")


def _truncated_normal_moments(mean, std, a, b):
    def pdf(z):
        return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    def cdf(z):
        return 0.5 * (1 + math.erf(z / math.sqrt(2)))

    alpha, beta = (a - mean) / std, (b - mean) / std
    z = cdf(beta) - cdf(alpha)
    m = mean + std * (pdf(alpha) - pdf(beta)) / z
    var = std**2 * (1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - ((pdf(alpha) - pdf(beta)) / z) ** 2)
    return m, math.sqrt(var)


@pytest.mark.parametrize(
    "mean,std,a,b",
    [
        (0.0, 1.0, -2.0, 2.0),  # the default: most of the mass inside, redraws from the normal
        (1.0, 2.0, -1.0, 2.0),
        (0.0, 0.02, -0.04, 0.04),  # timm's ViT init
        (0.0, 1.0, 0.5, 0.8),  # a narrow interval: accepted uniform draws
    ],
)
def test_trunc_normal_distribution(mean, std, a, b):
    md.manual_seed(3)
    t = init.trunc_normal_(md.zeros((200, 200)), mean, std, a, b).numpy()
    assert t.min() >= a and t.max() <= b
    m, s = _truncated_normal_moments(mean, std, a, b)
    _moments_ok(t, m, s, f"trunc_normal_({mean}, {std}, {a}, {b})")


def test_trunc_normal_far_interval_warns_and_stays_inside():
    md.manual_seed(4)
    with pytest.warns(UserWarning, match="more than 2 std"):
        t = init.trunc_normal_(md.zeros((100, 100)), 0.0, 1.0, 3.0, 4.0).numpy()
    assert t.min() >= 3.0 and t.max() <= 4.0
    m, s = _truncated_normal_moments(0.0, 1.0, 3.0, 4.0)
    _moments_ok(t, m, s, "trunc_normal_ far")


def test_eye_matches_torch():
    torch = _torch()
    for shape in [(3, 5), (5, 3), (4, 4)]:
        np.testing.assert_array_equal(init.eye_(md.zeros(shape)).numpy(), torch.nn.init.eye_(torch.zeros(shape)))
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(md.zeros((2, 2, 2)))


@pytest.mark.parametrize("shape,groups", [((4, 2, 3), 1), ((6, 4, 3, 3), 1), ((4, 4, 3, 3), 2), ((6, 3, 3, 2, 3), 3)])
def test_dirac_matches_torch(shape, groups):
    torch = _torch()
    got = init.dirac_(md.full(shape, 5.0), groups).numpy()
    np.testing.assert_array_equal(got, torch.nn.init.dirac_(torch.zeros(shape), groups).numpy())


def test_dirac_errors():
    with pytest.raises(ValueError, match="3, 4, or 5"):
        init.dirac_(md.zeros((3, 3)))
    with pytest.raises(ValueError, match="divisible by groups"):
        init.dirac_(md.zeros((3, 3, 3)), groups=2)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 2, 3), (6, 6)])
def test_orthogonal(shape):
    w = init.orthogonal_(md.zeros(shape), gain=2.0).numpy().reshape(shape[0], -1)
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(w.shape)), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(md.zeros((4,)))


def test_sparse():
    md.manual_seed(5)
    w = init.sparse_(md.zeros((10, 400)), 0.25, std=0.5).numpy()
    np.testing.assert_array_equal((w == 0).sum(0), np.full(400, math.ceil(0.25 * 10)))
    _moments_ok(w[w != 0], 0.0, 0.5, "sparse_")
    with pytest.raises(ValueError, match="2 dimensions"):
        init.sparse_(md.zeros((2, 2, 2)), 0.5)


def test_deprecated_names_warn():
    for name in ["uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "kaiming_normal", "orthogonal"]:
        assert callable(getattr(init, name))
    with pytest.warns(FutureWarning, match="nn.init.normal_"):
        init.normal(md.zeros((2, 2)))


# ---------------------------------------------------------------- default layer initialisation


def _bound_ok(values, bound, what):
    a = np.abs(values)
    assert a.max() <= bound * (1 + 1e-6), f"{what}: {a.max()} above {bound}"
    assert a.max() > 0.97 * bound, f"{what}: {a.max()} well below {bound}"


def test_default_layer_init_distributions():
    md.manual_seed(6)
    lin = md.nn.Linear(300, 2000)  # kaiming_uniform(a=sqrt(5)): bound 1 / sqrt(fan_in), bias too
    _bound_ok(lin.weight.numpy(), 1 / math.sqrt(300), "Linear.weight")
    _bound_ok(lin.bias.numpy(), 1 / math.sqrt(300), "Linear.bias")
    conv = md.nn.Conv2d(20, 300, 3)
    _bound_ok(conv.weight.numpy(), 1 / math.sqrt(20 * 9), "Conv2d.weight")
    _bound_ok(conv.bias.numpy(), 1 / math.sqrt(20 * 9), "Conv2d.bias")
    convt = md.nn.ConvTranspose2d(300, 20, 3)  # weight (in, out, k, k): fan_in = out * k * k
    assert tuple(convt.weight.shape) == (300, 20, 3, 3)
    _bound_ok(convt.weight.numpy(), 1 / math.sqrt(20 * 9), "ConvTranspose2d.weight")
    convt = md.nn.ConvTranspose2d(10, 400, 1)
    _bound_ok(convt.bias.numpy(), 1 / math.sqrt(400), "ConvTranspose2d.bias")
    emb = md.nn.Embedding(400, 100, padding_idx=3)
    w = emb.weight.numpy()
    np.testing.assert_array_equal(w[3], np.zeros(100, np.float32))
    _moments_ok(np.delete(w, 3, axis=0), 0.0, 1.0, "Embedding.weight")
    for norm in (md.nn.GroupNorm(4, 16), md.nn.LayerNorm(16)):
        np.testing.assert_array_equal(norm.weight.numpy(), np.ones(16, np.float32))
        np.testing.assert_array_equal(norm.bias.numpy(), np.zeros(16, np.float32))


# ---------------------------------------------------------------- activations

_KINKS = np.array(
    [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 6.0, -6.0, 20.0, -20.0, 21.0, 88.0, -88.0, 100.0, -100.0]
    + [1e-3, -1e-3, 1e-7, -1e-7, 0.25, -0.25, 10.0, -10.0, np.inf, -np.inf],
    np.float32,
)
_ACT_X = np.concatenate([_KINKS, randn(40, seed=1, scale=4.0)])


def _acts(TF):
    return [
        ("elu", lambda x: F.elu(x), lambda x: TF.elu(x)),
        ("elu alpha 0.5", lambda x: F.elu(x, 0.5), lambda x: TF.elu(x, 0.5)),
        ("selu", F.selu, TF.selu),
        ("celu", F.celu, TF.celu),
        ("celu alpha 2", lambda x: F.celu(x, 2.0), lambda x: TF.celu(x, 2.0)),
        ("celu alpha -0.5", lambda x: F.celu(x, -0.5), lambda x: TF.celu(x, -0.5)),
        ("gelu tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
        ("hardtanh", F.hardtanh, TF.hardtanh),
        ("hardtanh -2 3", lambda x: F.hardtanh(x, -2.0, 3.0), lambda x: TF.hardtanh(x, -2.0, 3.0)),
        ("relu6", F.relu6, TF.relu6),
        ("leaky_relu 0.2", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
        ("softplus", F.softplus, TF.softplus),
        ("softplus beta 2 threshold 3", lambda x: F.softplus(x, 2.0, 3.0), lambda x: TF.softplus(x, 2.0, 3.0)),
        ("softsign", F.softsign, TF.softsign),
        ("softshrink", F.softshrink, TF.softshrink),
        ("softshrink 0", lambda x: F.softshrink(x, 0.0), lambda x: TF.softshrink(x, 0.0)),
        ("hardshrink 1", lambda x: F.hardshrink(x, 1.0), lambda x: TF.hardshrink(x, 1.0)),
        ("tanhshrink", F.tanhshrink, TF.tanhshrink),
        ("threshold", lambda x: F.threshold(x, 1.0, -5.0), lambda x: TF.threshold(x, 1.0, -5.0)),
        ("logsigmoid", F.logsigmoid, TF.logsigmoid),
        ("mish", F.mish, TF.mish),
        ("hardswish", F.hardswish, TF.hardswish),
        ("hardsigmoid", F.hardsigmoid, TF.hardsigmoid),
        ("silu", F.silu, TF.silu),
        ("sigmoid", F.sigmoid, lambda x: x.sigmoid()),
        ("tanh", F.tanh, lambda x: x.tanh()),
        ("rrelu eval", lambda x: F.rrelu(x, 0.1, 0.3), lambda x: TF.rrelu(x, 0.1, 0.3)),
    ]


@pytest.mark.parametrize("index", range(27))
def test_activation_values_and_gradients_at_kinks(index):
    torch = _torch()
    name, mf, tf = _acts(torch.nn.functional)[index]
    compare(mf, tf, [_ACT_X], [True], rtol=1e-5, atol=1e-6, what=name)
    compare(mf, tf, [np.float32(-0.7)], [True], what=name + " 0-d")
    compare(mf, tf, [np.zeros((0, 3), np.float32)], [True], what=name + " empty")


def test_celu_negative_alpha_overflow_is_minus_inf():
    # exp(x / alpha) overflows for a negative alpha: torch's value is -inf and its gradient inf;
    # the precise expm1's correction term was inf - inf, a NaN, when the input required grad
    x = md.tensor([-88.0, -200.0, -1.0, 3.0], requires_grad=True)
    y = F.celu(x, -0.5)
    assert y.numpy()[0] == -np.inf and y.numpy()[1] == -np.inf
    y.sum().backward()
    g = x.grad.numpy()
    assert g[0] == np.inf and g[1] == np.inf
    np.testing.assert_allclose(g[2:], [math.exp(2.0), 1.0], rtol=1e-6)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_dim_activations(dim):
    torch = _torch()
    TF = torch.nn.functional
    x = randn(4, 6, 2, seed=2, scale=3.0)
    compare(lambda a: F.softmin(a, dim), lambda a: TF.softmin(a, dim), [x], [True], what="softmin")
    compare(lambda a: F.log_softmax(a, dim), lambda a: TF.log_softmax(a, dim), [x], [True], what="log_softmax")
    compare(lambda a: F.glu(a, dim), lambda a: TF.glu(a, dim), [x], [True], what="glu")


def test_prelu_and_softmax2d_modules():
    torch = _torch()
    t = torch.nn.PReLU(3, 0.1)
    with torch.no_grad():
        t.weight.copy_(torch.tensor([0.1, -0.2, 0.3]))
    m = md.nn.PReLU(3)
    m.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    x = randn(2, 3, 4, seed=3)
    compare(m, t, [x], [True], what="PReLU")
    compare(md.nn.Softmax2d(), torch.nn.Softmax2d(), [randn(2, 3, 4, 5, seed=4)], [True], what="Softmax2d")
    compare(md.nn.Softmax2d(), torch.nn.Softmax2d(), [randn(3, 4, 5, seed=4)], [True], what="Softmax2d 3-d")


_REPRS = [
    ("ELU", (0.5, True)),
    ("SELU", (True,)),
    ("CELU", (2.0,)),
    ("GELU", ()),
    ("Hardtanh", (-2.0, 3.0, True)),
    ("ReLU6", (True,)),
    ("LeakyReLU", (0.2, True)),
    ("PReLU", (3, 0.1)),
    ("RReLU", (0.1, 0.3, True)),
    ("Softplus", (2, 10)),
    ("Softshrink", (1.0,)),
    ("Hardshrink", ()),
    ("Threshold", (0.1, 20.0, True)),
    ("GLU", (1,)),
    ("Softmin", (1,)),
    ("LogSoftmax", ()),
    ("Softmax2d", ()),
    ("Mish", (True,)),
    ("Hardswish", (True,)),
    ("Hardsigmoid", ()),
    ("LogSigmoid", ()),
    ("Tanhshrink", ()),
    ("Softsign", ()),
]


@pytest.mark.parametrize("name,args", _REPRS)
def test_activation_module_repr(name, args):
    torch = _torch()
    assert repr(getattr(md.nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


@pytest.mark.parametrize(
    "name,args",
    [("ELU", ()), ("SELU", ()), ("CELU", ()), ("Hardtanh", ()), ("ReLU6", ()), ("RReLU", ()), ("Threshold", (0.1, 9.0))]
    + [("Hardswish", ()), ("Hardsigmoid", ())],
)
def test_activation_module_inplace_writes_input(name, args):
    torch = _torch()
    x = randn(2, 3, seed=5, scale=3.0)
    m, t = getattr(md.nn, name)(*args, inplace=True).eval(), getattr(torch.nn, name)(*args, inplace=True).eval()
    mx, tx = md.tensor(x), torch.tensor(x)
    assert m(mx) is mx
    t(tx)
    _close(mx.numpy(), tx.numpy(), what=name)


def test_silu_module_inplace_argument():
    torch = _torch()
    m = md.nn.SiLU(inplace=True)
    assert repr(m) == repr(torch.nn.SiLU(inplace=True))


def test_functional_silu_relu_inplace_argument():
    x = md.tensor([-1.0, 2.0])
    assert F.silu(x, inplace=True) is x
    assert F.relu(x, inplace=True) is x
    np.testing.assert_allclose(x.numpy(), [0.0, 2.0 / (1.0 + np.exp(-2.0))], rtol=1e-6)
    for op in (F.leaky_relu, F.mish):
        y = md.tensor([-1.0, 2.0])
        np.testing.assert_allclose(op(y, inplace=True).numpy(), op(md.tensor([-1.0, 2.0])).numpy())
        np.testing.assert_allclose(y.numpy(), op(md.tensor([-1.0, 2.0])).numpy())
    # inside the graph the tensor takes the result and its history: torch's gradient
    a = md.tensor([-1.0, 2.0], requires_grad=True)
    b = a * 1
    md.nn.ReLU(inplace=True)(b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 1.0])


# ---------------------------------------------------------------- losses


def _pointwise_losses(TF):
    def sign(a):
        return np.where(a >= 0, 1.0, -1.0).astype(np.float32)

    def prob(a):
        return (1 / (1 + np.exp(-a))).astype(np.float32)

    return [
        ("mse", F.mse_loss, TF.mse_loss, lambda x, y: [x, y], [1, 1]),
        ("l1", F.l1_loss, TF.l1_loss, lambda x, y: [x, y], [1, 1]),
        ("smooth_l1", F.smooth_l1_loss, TF.smooth_l1_loss, lambda x, y: [x, y], [1, 1]),
        ("smooth_l1 beta 0", "smooth_l1_loss", "smooth_l1_loss", lambda x, y: [x, y], [1, 1], {"beta": 0.0}),
        ("smooth_l1 beta 0.5", "smooth_l1_loss", "smooth_l1_loss", lambda x, y: [x, y], [1, 1], {"beta": 0.5}),
        ("huber delta 0.3", "huber_loss", "huber_loss", lambda x, y: [x, y], [1, 1], {"delta": 0.3}),
        ("soft_margin", F.soft_margin_loss, TF.soft_margin_loss, lambda x, y: [x, sign(y)], [1, 0]),
        ("poisson_nll", F.poisson_nll_loss, TF.poisson_nll_loss, lambda x, y: [x, 3 * np.abs(y)], [1, 1]),
        ("poisson_nll full", "poisson_nll_loss", "poisson_nll_loss", lambda x, y: [x, 3 * np.abs(y)], [1, 1])
        + ({"full": True},),
        ("poisson_nll rate", "poisson_nll_loss", "poisson_nll_loss", lambda x, y: [np.abs(x), 3 * np.abs(y)], [1, 1])
        + ({"log_input": False},),
        ("kl_div", F.kl_div, TF.kl_div, lambda x, y: [x, np.abs(y)], [1, 1]),
        ("kl_div log_target", "kl_div", "kl_div", lambda x, y: [x, y], [1, 1], {"log_target": True}),
        ("bce", F.binary_cross_entropy, TF.binary_cross_entropy, lambda x, y: [prob(x), prob(2 * y)], [1, 1]),
        ("bce logits", F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits)
        + (lambda x, y: [10 * x, prob(y)], [1, 1]),
        ("hinge_embedding", F.hinge_embedding_loss, TF.hinge_embedding_loss, lambda x, y: [x, sign(y)], [1, 0]),
        ("margin_ranking", "margin_ranking_loss", "margin_ranking_loss")
        + (lambda x, y: [x, y, sign(x * y)], [1, 1, 0], {"margin": 0.3}),
        ("gaussian_nll", F.gaussian_nll_loss, TF.gaussian_nll_loss, lambda x, y: [x, y, np.abs(x) + 0.1], [1, 1, 1]),
        ("gaussian_nll full", "gaussian_nll_loss", "gaussian_nll_loss")
        + (lambda x, y: [x, y, np.abs(y) * 0.0], [1, 1, 1], {"full": True}),
    ]


@pytest.mark.filterwarnings("ignore:.*batchmean")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4, 5), (), (0,)])
def test_pointwise_losses(reduction, shape):
    torch = _torch()
    TF = torch.nn.functional
    x, y = randn(*shape, seed=8), randn(*shape, seed=9)
    for case in _pointwise_losses(TF):
        name, mf, tf, make, grads = case[:5]
        kwargs = dict(case[5]) if len(case) > 5 else {}
        mf = getattr(F, mf) if isinstance(mf, str) else mf
        tf = getattr(TF, tf) if isinstance(tf, str) else tf
        compare(
            lambda *a, mf=mf, kw=kwargs: mf(*a, reduction=reduction, **kw),
            lambda *a, tf=tf, kw=kwargs: tf(*a, reduction=reduction, **kw),
            make(x, y),
            grads,
            what=f"{name} {reduction} {shape}",
        )


def test_losses_at_kinks():
    torch = _torch()
    TF = torch.nn.functional
    d = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, -0.3, 0.3], np.float32)
    z, ones = np.zeros_like(d), np.ones_like(d)
    for beta in (1.0, 0.5, 0.0):
        compare(
            lambda a, b, beta=beta: F.smooth_l1_loss(a, b, beta=beta),
            lambda a, b, beta=beta: TF.smooth_l1_loss(a, b, beta=beta),
            [d, z],
            [1, 1],
            what=f"smooth_l1 {beta}",
        )
    for delta in (1.0, 0.5):
        compare(
            lambda a, b, delta=delta: F.huber_loss(a, b, delta=delta),
            lambda a, b, delta=delta: TF.huber_loss(a, b, delta=delta),
            [d, z],
            [1, 1],
            what=f"huber {delta}",
        )
    compare(F.l1_loss, TF.l1_loss, [d, z], [1, 1], what="l1 at 0")
    compare(F.hinge_embedding_loss, TF.hinge_embedding_loss, [d + 1, -ones], [1, 0], what="hinge at the margin")
    compare(
        lambda a, b, c: F.margin_ranking_loss(a, b, c, margin=0.5),
        lambda a, b, c: TF.margin_ranking_loss(a, b, c, margin=0.5),
        [d, z, -ones],
        [1, 1, 1],
        what="margin_ranking at the margin",
    )
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-7], np.float32)
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 0.5], np.float32)
    compare(F.binary_cross_entropy, TF.binary_cross_entropy, [p, t], [1, 0], what="bce at 0 and 1")
    big = np.array([100.0, -100.0, 0.0, 1e4, -1e4], np.float32)
    compare(
        F.binary_cross_entropy_with_logits,
        TF.binary_cross_entropy_with_logits,
        [big, t[:5]],
        [1, 1],
        what="bce logits, large logits",
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("wshape", [(3,), (4, 1), (4, 3), (1,)])
def test_bce_weight_and_pos_weight_broadcast(reduction, wshape):
    torch = _torch()
    TF = torch.nn.functional
    x, t, w = randn(4, 3, seed=10), (randn(4, 3, seed=11) > 0).astype(np.float32), np.abs(randn(*wshape, seed=12))
    compare(
        lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, c, reduction=reduction),
        lambda a, b, c: TF.binary_cross_entropy_with_logits(a, b, c, reduction=reduction),
        [x, t, w],
        [1, 1, 0],
        what="weight",
    )
    compare(
        lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, reduction=reduction, pos_weight=c),
        lambda a, b, c: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction, pos_weight=c),
        [x, t, w],
        [1, 1, 0],
        what="pos_weight",
    )
    compare(
        lambda a, b, c: F.binary_cross_entropy(a, b, c, reduction=reduction),
        lambda a, b, c: TF.binary_cross_entropy(a, b, c, reduction=reduction),
        [1 / (1 + np.exp(-x)), t, w],
        [1, 1, 0],
        what="bce weight",
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_losses(reduction):
    torch = _torch()
    TF = torch.nn.functional
    C = 5
    rng = np.random.default_rng(13)
    x, w = randn(6, C, seed=14), np.abs(randn(C, seed=15))
    tgt = rng.integers(0, C, 6)
    tgt[1] = -100
    x4, t4 = randn(2, C, 3, 4, seed=16), rng.integers(0, C, (2, 3, 4))
    t4[0, 0, 0] = -100
    probs = np.exp(x) / np.exp(x).sum(1, keepdims=True)

    for name in ("cross_entropy", "nll_loss"):
        mf, tf = getattr(F, name), getattr(TF, name)
        for xs, ts in [(x, tgt), (x4, t4), (randn(C, seed=17), np.array(2)), (randn(0, C), np.zeros(0, np.int64))]:
            compare(
                lambda a, b, mf=mf: mf(a, b, reduction=reduction),
                lambda a, b, tf=tf: tf(a, b, reduction=reduction),
                [xs, ts],
                [1, 0],
                what=f"{name} {xs.shape}",
            )
            if xs.ndim > 1:
                compare(
                    lambda a, b, c, mf=mf: mf(a, b, c, reduction=reduction),
                    lambda a, b, c, tf=tf: tf(a, b, c, reduction=reduction),
                    [xs, ts, w],
                    [1, 0, 0],
                    what=f"{name} {xs.shape} weight",
                )
        compare(
            lambda a, b, mf=mf: mf(a, b, ignore_index=2, reduction=reduction),
            lambda a, b, tf=tf: tf(a, b, ignore_index=2, reduction=reduction),
            [x, np.abs(tgt) % C],
            [1, 0],
            what=f"{name} ignore_index 2",
        )
    compare(
        lambda a, b: F.cross_entropy(a, b, reduction=reduction),
        lambda a, b: TF.cross_entropy(a, b, reduction=reduction),
        [x, probs],
        [1, 1],
        what="cross_entropy probabilities",
    )
    compare(
        lambda a, b, c: F.cross_entropy(a, b, c, reduction=reduction),
        lambda a, b, c: TF.cross_entropy(a, b, c, reduction=reduction),
        [x, probs, w],
        [1, 1, 0],
        what="cross_entropy probabilities weight",
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_embedding_losses(reduction):
    torch = _torch()
    TF = torch.nn.functional
    a, b, n = randn(4, 5, seed=18), randn(4, 5, seed=19), randn(4, 5, seed=20)
    y = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
    compare(
        lambda p, q, r: F.cosine_embedding_loss(p, q, r, margin=0.2, reduction=reduction),
        lambda p, q, r: TF.cosine_embedding_loss(p, q, r, margin=0.2, reduction=reduction),
        [a, b, y],
        [1, 1, 0],
        what="cosine_embedding",
    )
    compare(
        lambda p, q, r: F.cosine_embedding_loss(p, q, r, reduction=reduction),
        lambda p, q, r: TF.cosine_embedding_loss(p, q, r, reduction=reduction),
        [a[0], b[0], np.array(-1.0, np.float32)],
        [1, 1, 0],
        what="cosine_embedding 1-d",
    )
    for p, swap in [(2, False), (1, True), (3, False)]:
        compare(
            lambda x1, x2, x3, p=p, swap=swap: F.triplet_margin_loss(x1, x2, x3, p=p, swap=swap, reduction=reduction),
            lambda x1, x2, x3, p=p, swap=swap: TF.triplet_margin_loss(x1, x2, x3, p=p, swap=swap, reduction=reduction),
            [a, b, n],
            [1, 1, 1],
            what=f"triplet p={p} swap={swap}",
        )


def test_kl_div_batchmean_and_mean_warning():
    torch = _torch()
    TF = torch.nn.functional
    x, t = randn(4, 5, seed=21), np.abs(randn(4, 5, seed=22))
    compare(
        lambda a, b: F.kl_div(a, b, reduction="batchmean"),
        lambda a, b: TF.kl_div(a, b, reduction="batchmean"),
        [x, t],
        [1, 1],
        what="kl_div batchmean",
    )
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(md.tensor(x), md.tensor(t))


@pytest.mark.parametrize("vshape", [(3, 4), (3, 1), (3,), (1, 4)])
def test_gaussian_nll_var_shapes(vshape):
    torch = _torch()
    compare(
        F.gaussian_nll_loss,
        torch.nn.functional.gaussian_nll_loss,
        [randn(3, 4, seed=23), randn(3, 4, seed=24), np.abs(randn(*vshape, seed=25)) + 0.1],
        [1, 1, 1],
        what=f"gaussian_nll var {vshape}",
    )


def test_loss_errors():
    x, y = md.tensor(randn(3, 4)), md.tensor(randn(3, 4))
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(x, y, reduction="avg")
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(x, md.full((3, 4), 0.5))
    with pytest.raises(ValueError, match="var"):
        F.gaussian_nll_loss(x, y, md.full((3, 4), -1.0))
    with pytest.raises(IndexError, match="out of range"):
        F.nll_loss(x, md.tensor(np.array([0, 1, 7])))
    with pytest.raises(ValueError, match="margin"):
        F.triplet_margin_loss(x, y, x, margin=0.0)
    with pytest.raises(ValueError, match="celu"):
        F.celu(x, 0.0)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("MSELoss", {}),
        ("L1Loss", {"reduction": "sum"}),
        ("SmoothL1Loss", {"beta": 0.0}),
        ("HuberLoss", {"delta": 0.5}),
        ("PoissonNLLLoss", {"full": True}),
        ("KLDivLoss", {"reduction": "batchmean", "log_target": True}),
        ("BCEWithLogitsLoss", {}),
    ],
)
def test_loss_modules(name, kwargs):
    torch = _torch()
    m, t = getattr(md.nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(m) == repr(t)
    y = randn(4, 5, seed=27)
    if name == "BCEWithLogitsLoss":
        y = (y > 0).astype(np.float32)
    elif name == "PoissonNLLLoss":
        y = np.abs(y)  # counts (torch's target gradient of a negative count is NaN)
    compare(m, t, [randn(4, 5, seed=26), y], [1, 1], what=name)


def test_md_losses_mse_loss_reductions():
    torch = _torch()
    x, y = randn(3, 4, seed=28), randn(3, 4, seed=29)
    for reduction in ("mean", "sum", "none"):
        compare(
            lambda a, b, r=reduction: md.losses.mse_loss(a, b, reduction=r),
            lambda a, b, r=reduction: torch.nn.functional.mse_loss(a, b, reduction=r),
            [x, y],
            [1, 1],
            what=f"md.losses.mse_loss {reduction}",
        )


def test_no_warnings_from_default_inits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init.kaiming_uniform_(md.zeros((3, 4)), a=math.sqrt(5))
        init.trunc_normal_(md.zeros((3, 4)), std=0.02)
