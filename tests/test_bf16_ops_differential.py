"""bfloat16 (and, in the torch comparisons, float16) tensors through the Python-composed ops
(tensor_ops, tensor_math, tensor_more, tensor_scatter, compat, einsum, linalg), alone and beside
float32, int64, bool and numbers: torch's result dtype, values within a 16-bit rounding, gradients
of torch's dtype, and a TypeError naming the op where torch has no 16-bit kernel. Checked against
torch where it is installed, and against NumPy (float64 rounded once to bfloat16) without it."""

import numpy as np
import pytest
from bf16_ref import bf16
from dtype_ref import results_and_grads

import minidiff as md

pytestmark = pytest.mark.filterwarnings(r"ignore:index_reduce\(\) is in beta")

F = md.nn.functional
_R = np.random.default_rng(1234)  # fixed data, drawn once: not restarted per test (no RNG name)


def _bf(shape, scale=1.0, shift=0.0):
    return bf16(_R.standard_normal(shape) * scale + shift).astype(np.float32)


DATA = {
    "x": _bf((3, 4)),
    "y": _bf((3, 4)),
    "v": _bf(4),
    "w": _bf(4),
    "m": bf16(np.eye(3) * 3 + _R.standard_normal((3, 3)) * 0.5).astype(np.float32),
    "b": _bf((2, 3, 4)),
    "p": bf16(_R.uniform(0.1, 0.9, (3, 4))).astype(np.float32),
    "s": _bf(()),
}
INDEX = np.array([[1, 2, 0, 3], [0, 1, 2, 3], [3, 3, 1, 0]], np.int64)


def _env(lib, low="bfloat16"):
    """The 16-bit (``low``: bfloat16 or float16) leaves (requiring grad) and the float32 / int64 /
    bool operands of DATA, in lib. DATA's bfloat16 values are float16 values too."""
    low = getattr(lib, low)
    env = {k: lib.tensor(a).to(low).requires_grad_() for k, a in DATA.items()}
    env.update(
        L=lib,
        F=lib.nn.functional,
        LA=lib.linalg,
        BF=low,
        F32=lib.float32,
        f=lib.tensor(DATA["y"].copy()),
        f0=lib.tensor(np.float32(2.5)),
        i=lib.tensor(INDEX.copy()),
        iv=lib.tensor(np.array([2, 0, 1], np.int64)),
        bo=lib.tensor(DATA["x"] > 0),
    )
    return env


def _run(lib, expr, grad, low="bfloat16"):
    env = _env(lib, low)
    return results_and_grads(lib, eval(expr, env), env, DATA, grad)  # noqa: S307 (the test's own expressions)


# (expression, compare gradients): each gave another dtype, a wrong value or an error before
CASES = [
    # host division (tensor_math._division): float32 results before
    ("L.remainder(x * 5, y)", True),
    ("L.fmod(x * 5, 1.5)", True),
    ("L.fmod(x * 5, f0)", True),
    ("x % 1.5", True),
    ("L.remainder(x * 1000, 7)", True),
    ("L.remainder(i, x + 3)", True),
    ("L.floor_divide(x * 5, 2)", False),
    ("x.div(y, rounding_mode='trunc')", True),
    # tensor_more's composed binary ops: int64 / numbers / constants went in as float32 with dims
    ("L.xlogy(p, 2.0)", True),
    ("L.xlogy(s.abs(), 2.0)", True),
    ("L.copysign(x, f)", True),
    ("L.ldexp(x, i)", True),
    ("L.atan2(i, x)", True),
    ("L.hypot(x, i)", True),
    ("L.logaddexp(x, i)", True),
    ("L.heaviside(x, y)", False),
    ("L.sinc(x * 100 + 0.5)", False),  # (torch's gradient rounds its steps)
    ("L.logit(p, 0.2)", True),
    ("L.nan_to_num(x / 0)", True),
    ("L.nan_to_num(s / 0)", True),
    ("L.nanmean(x, 0)", True),
    ("L.nanmean(s)", True),
    ("L.nansum(s)", True),
    ("L.std_mean(x)", True),
    ("L.std(x)", True),
    ("L.var(x * 8 + 1000, 1)", False),  # (torch's gradient collapses: a bfloat16 mean)
    ("L.logcumsumexp(x, 1)", True),
    ("L.logsumexp(s, 0)", True),
    ("L.histc(x, 5)", False),
    ("L.where(s > 0, s, 1.0)", True),
    ("L.where(bo, 2, s)", True),
    ("L.masked_fill(s, s > 0, 2.0)", True),
    # scatter / index reductions
    ("L.scatter_reduce(x, 1, i, y, 'mean')", True),
    ("L.scatter_reduce(x, 1, i, y, 'amax')", True),
    ("L.scatter_reduce(x, 1, i, y, 'amin', include_self=False)", True),
    ("L.index_reduce(x, 0, iv, y, 'mean')", True),
    ("L.index_reduce(x, 0, iv, y, 'amax', include_self=False)", True),
    ("L.histogram(x, L.tensor([-1.0, 0.0, 1.0]).to(BF))", False),
    # in place: a float32 result rounded into the bfloat16 tensor, as torch's
    ("x.clone().copysign_(f)", True),
    ("x.clone().fmod_(f)", True),
    ("x.clone().clamp_(f, None)", True),
    ("x.clone().scatter_reduce_(1, i, y, 'amax')", True),
    ("x.clone().index_reduce_(0, iv, y, 'mean')", True),
    # linalg: refused bfloat16 before
    ("LA.vector_norm(x)", True),
    ("LA.vector_norm(x, 1, dim=1)", True),
    ("LA.vector_norm(x, float('inf'))", True),
    ("LA.vector_norm(x, dtype=F32)", True),
    ("LA.matrix_norm(x)", True),
    ("LA.matrix_norm(x, 1)", True),
    ("LA.matrix_norm(x, float('-inf'))", True),
    ("LA.norm(x)", True),
    ("LA.norm(v, 3)", True),
    ("LA.vecdot(x, y)", True),
    ("LA.cross(m, m.flip(0))", True),
    ("LA.diagonal(b)", True),
    ("LA.multi_dot([x, y.t(), m])", True),
]


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("expr,grad", CASES, ids=[c[0] for c in CASES])
def test_bf16_composed_ops_match_torch(expr, grad, low):
    torch = pytest.importorskip("torch")
    (t_out, t_grads), (m_out, m_grads) = _run(torch, expr, grad, low), _run(md, expr, grad, low)
    assert len(m_out) == len(t_out)
    # a 16-bit rounding or two apart at most (torch rounds some intermediate steps): bfloat16 keeps 8
    # bits, float16 11, so a float16 path rounding through bfloat16 would not pass
    tol, grad_tol = (1e-2, 3e-2) if low == "bfloat16" else (2e-3, 6e-3)
    for (m_dtype, m_shape, m_vals), (t_dtype, t_shape, t_vals) in zip(m_out, t_out):
        assert (m_dtype, m_shape) == (t_dtype, t_shape)
        np.testing.assert_allclose(m_vals, t_vals, rtol=tol, atol=tol, equal_nan=True)
    assert set(m_grads) == set(t_grads)
    for k, (t_dtype, t_vals) in t_grads.items():
        assert m_grads[k][0] == t_dtype
        np.testing.assert_allclose(m_grads[k][1], t_vals, rtol=grad_tol, atol=grad_tol, equal_nan=True)


def test_random_results_take_bfloat16_as_torch():
    x = md.tensor(DATA["x"]).to("bfloat16")
    p = md.tensor(DATA["p"]).to("bfloat16")
    assert md.normal(x, 1.0).dtype == "bfloat16" and md.normal(0.0, p).dtype == "bfloat16"
    # mean's dtype, as torch's (a float32 std does not win)
    assert md.normal(x, p).dtype == "bfloat16" and md.normal(x, md.ones(4)).dtype == "bfloat16"
    t = md.linspace(0, 1, 5, dtype="bfloat16", requires_grad=True)
    assert t.dtype == "bfloat16" and t.requires_grad
    assert md.logspace(0, 1, 3, dtype="bfloat16", requires_grad=True).requires_grad


REFUSED = [
    ("L.cdist(x, y)", "cdist"),
    ("L.quantile(x, 0.3)", "quantile"),
    ("L.nanquantile(x, 0.5, dim=1)", "nanquantile"),
    ("LA.matrix_norm(x, 2)", "matrix_norm"),
    ("LA.matrix_norm(x, 'nuc')", "matrix_norm"),
    ("LA.norm(x, 2)", "matrix_norm"),
    ("LA.det(m)", "det"),
    ("LA.svd(x)", "svd"),
    ("LA.vecdot(x, f)", "vecdot"),
    ("LA.multi_dot([x, f.t()])", "multi_dot"),
    ("L.dot(v, f[0])", "dot"),
    ("L.vdot(v, f[0])", "vdot"),
    ("L.addmm(f[:, :3], x, y.t())", "addmm"),
    ("L.isclose(x, f)", "isclose"),
    ("L.allclose(x, f)", "allclose"),
    ("L.histogram(x, 4)", "histogram"),
    ("L.histogram(x, L.tensor([-1.0, 0.0, 1.0]))", "histogram"),
]


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("expr,op", REFUSED, ids=[c[0] for c in REFUSED])
def test_what_torch_refuses_for_bfloat16_raises_a_type_error(expr, op, low):
    with pytest.raises(TypeError, match=op):
        eval(expr, _env(md, low))  # noqa: S307
    torch = pytest.importorskip("torch")
    with pytest.raises((RuntimeError, NotImplementedError, TypeError)):
        eval(expr, _env(torch, low))  # noqa: S307


# ---- without torch: NumPy in float64, rounded once to bfloat16


def _b(a):
    return md.tensor(np.asarray(a, np.float32)).to("bfloat16")


def test_var_and_std_do_not_round_the_mean_to_bfloat16():
    # bfloat16 1002 is 1000 or 1004: the deviations would be 0 and 4 (var 16, not 8)
    x = _b([1000.0, 1004.0]).requires_grad_()
    v = md.var(x)
    assert v.dtype == "bfloat16" and v.item() == 8.0
    assert md.std(x).dtype == "bfloat16" and md.std(x).item() == float(bf16(np.sqrt(8.0)))
    assert x.var().item() == 8.0 and md.var_mean(x)[0].item() == 8.0
    v.backward()  # d var / dx = 2 (x - mean) / (n - 1)
    assert x.grad.dtype == "bfloat16"
    np.testing.assert_array_equal(x.grad.float().numpy(), [-4.0, 4.0])


def test_sinc_takes_the_sine_of_a_float32_product():
    # pi * 100.5 rounded to bfloat16 is 316: sin(316) / 316 is 0.0002, not sinc's 0.0032
    got = md.sinc(_b([100.5, -0.25, 0.0]))
    a = np.array([100.5, -0.25], np.float64)
    want = np.append(np.sin(np.pi * a) / (np.pi * a), 1.0)
    assert got.dtype == "bfloat16"
    np.testing.assert_array_equal(got.float().numpy(), bf16(want))


def test_host_division_of_bfloat16_rounds_once():
    x = _b([5.5, -7.25, 300.0])
    for got, want in [
        (md.remainder(x, 1.5), np.remainder([5.5, -7.25, 300.0], 1.5)),
        (md.fmod(x, _b([2.0, 2.0, 7.0])), np.fmod([5.5, -7.25, 300.0], [2.0, 2.0, 7.0])),
        (md.floor_divide(x, 2), np.floor_divide([5.5, -7.25, 300.0], 2)),
        (x % 1.5, np.remainder([5.5, -7.25, 300.0], 1.5)),
    ]:
        assert got.dtype == "bfloat16"
        np.testing.assert_array_equal(got.float().numpy(), bf16(want))
    y = _b([2.0, 3.0, 7.0]).requires_grad_()
    md.remainder(x, y).sum().backward()
    assert y.grad.dtype == "bfloat16"
    np.testing.assert_array_equal(y.grad.float().numpy(), -np.floor_divide([5.5, -7.25, 300.0], [2.0, 3.0, 7.0]))


def test_nan_to_num_uses_the_largest_bfloat16():
    x = _b([np.inf, -np.inf, np.nan, 1.5])
    out = md.nan_to_num(x)
    largest = float(bf16(np.float32(3.3895313892515355e38)))
    assert out.dtype == "bfloat16"
    np.testing.assert_array_equal(out.float().numpy(), [largest, -largest, 0.0, 1.5])


def test_zero_d_bfloat16_with_numbers_stays_bfloat16():
    s = _b(1.25)
    assert md.where(s > 0, s, 1.0).dtype == "bfloat16"
    assert md.where(s > 0, 2, s).dtype == "bfloat16"
    assert md.logsumexp(s, 0).dtype == "bfloat16" and md.std(s.reshape(1).expand(2)).dtype == "bfloat16"
    assert md.nansum(s).dtype == "bfloat16" and md.masked_fill(s, s > 0, 2.0).dtype == "bfloat16"
    assert md.xlogy(s, 2.0).dtype == "bfloat16" and md.hypot(s, 3.0).dtype == "bfloat16"
    assert md.nan_to_num(s).dtype == "bfloat16"


def test_float32_beside_bfloat16_and_in_place_rounding():
    x, f = _b([[1.5, -2.0]]), md.tensor([[-1.0, 3.0]])
    assert md.copysign(x, f).dtype == "float32" and md.atan2(x, f).dtype == "float32"
    assert md.ldexp(x, md.tensor([[1, 2]])).dtype == "bfloat16"
    assert md.float_power(x, 2).dtype == "float32"  # torch's float64: minidiff's widest float
    t = x.clone().copysign_(f)
    assert t.dtype == "bfloat16"
    np.testing.assert_array_equal(t.float().numpy(), [[-1.5, 2.0]])
    t = x.clone().clamp_(f, None)
    np.testing.assert_array_equal(t.float().numpy(), [[1.5, 3.0]])


def test_scatter_reductions_and_histograms_keep_bfloat16():
    x = _b([1.0, 2.0, 3.0])
    src = _b([4.0, 5.0, 8.0])
    index = md.tensor([0, 0, 2])
    out = md.scatter_reduce(x, 0, index, src, "mean")
    assert out.dtype == "bfloat16"
    np.testing.assert_array_equal(out.float().numpy(), bf16([(1 + 4 + 5) / 3, 2.0, (3 + 8) / 2]))
    assert md.index_reduce(x, 0, index, src, "amax").dtype == "bfloat16"
    h = md.histc(x, 3)
    assert h.dtype == "bfloat16" and h.float().numpy().tolist() == [1.0, 1.0, 1.0]
    hist, edges = md.histogram(x, _b([0.0, 2.0, 4.0]))
    assert hist.dtype == edges.dtype == "bfloat16" and hist.float().numpy().tolist() == [1.0, 2.0]


def test_linalg_norms_of_bfloat16_round_once():
    a = np.array([[3.0, -4.0, 12.0], [1.0, 1.0, -1.0]], np.float32)
    x = _b(a).requires_grad_()
    n = md.linalg.vector_norm(x)
    assert n.dtype == "bfloat16" and n.item() == float(bf16(np.sqrt((a.astype(np.float64) ** 2).sum())))
    n.backward()
    assert x.grad.dtype == "bfloat16"
    assert md.linalg.vector_norm(x, dtype="float32").dtype == "float32"
    assert md.linalg.matrix_norm(x, 1).item() == 13.0  # the largest column sum
    assert md.linalg.vecdot(x, x).float().numpy().tolist() == [169.0, 3.0]


# ---- native causes (the C++ core): reproduced, not fixed here


def test_native_where_of_zero_d_bfloat16_and_a_number():
    s = _b(1.25)
    assert md.functional.where(s > 0, s, 1.0).dtype == "bfloat16"


def test_native_in_place_arithmetic_rounds_float32_into_bfloat16():
    x = _b([1.0, 2.0])
    x.add_(md.tensor([0.5, 0.25]))
    assert x.dtype == "bfloat16" and x.float().numpy().tolist() == [1.5, 2.25]


def test_native_cat_promotes_bfloat16_with_float32():
    out = md.cat([_b([1.0]), md.tensor([2.0])])
    assert out.dtype == "float32"
