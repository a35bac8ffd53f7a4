"""float16 (``md.float16`` / ``md.half``): the conversions against NumPy's float16 bit for bit, and
the native ops, promotion and in-place rules against torch's float16 (dtype, values within a
float16 rounding, gradients of torch's dtype). The Python-composed ops are compared in
test_bf16_ops_differential.py, parametrized over both 16-bit floats."""

import numpy as np
import pytest
from dtype_ref import results_and_grads

import minidiff as md

_R = np.random.default_rng(16)


def _same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal float16 arrays bit for bit, any NaN matching any NaN."""
    assert got.dtype == want.dtype == np.float16
    nan = np.isnan(got) & np.isnan(want)
    return bool(((got.view(np.uint16) == want.view(np.uint16)) | nan).all())


# ---- conversions: NumPy's float16 is the oracle (round to nearest even, subnormals, overflow)


def test_every_float16_widens_exactly():
    h = np.arange(2**16, dtype=np.uint16).view(np.float16)
    t = md.tensor(h)
    assert t.dtype == "float16" and _same_bits(t.numpy(), h)  # NumPy's float16 arrays keep their bits
    f = t.float().numpy()
    want = h.astype(np.float32)
    assert ((f.view(np.uint32) == want.view(np.uint32)) | (np.isnan(f) & np.isnan(want))).all()


def test_float32_rounds_to_float16_as_numpy():
    bits = _R.integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32)
    scaled = (_R.standard_normal(200_000) * np.exp(_R.uniform(-20, 12, 200_000))).astype(np.float32)
    finite = np.arange(2**16, dtype=np.uint16).view(np.float16)
    finite = finite[np.isfinite(finite)]
    with np.errstate(over="ignore"):
        up = np.nextafter(finite, np.float16(np.inf))
        # the midpoints between neighbours (ties), and values a hair either side of them
        mid = ((finite.astype(np.float64) + up.astype(np.float64)) / 2).astype(np.float32)
        edges = np.array([65504, 65519.996, 65520, 65536, 1e10, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0001, 2.0**-14,
                          2.0**-14 * (1 - 2**-11), 0.0, -0.0, np.inf, -np.inf, np.nan], np.float32)  # fmt: skip
        for x in (bits.view(np.float32), scaled, mid, np.nextafter(mid, np.float32(0)), edges):
            got = md.tensor(x).to(md.float16).numpy()
            assert _same_bits(got, x.astype(np.float16))


def test_other_dtypes_convert_through_float32():
    ints = np.array([0, 1, -7, 2049, 65504, 65520, 70000, -(2**40)], np.int64)
    with np.errstate(over="ignore"):
        assert _same_bits(md.tensor(ints).half().numpy(), ints.astype(np.float32).astype(np.float16))
    h = md.tensor(np.array([1.5, -2.75, 0.0, 3e4], np.float16))
    assert h.long().tolist() == [1, -2, 0, 30000]
    assert h.bool().tolist() == [True, True, False, True]
    assert h.bfloat16().float().tolist() == [1.5, -2.75, 0.0, 29952.0]  # bfloat16's 8 bits
    assert md.tensor([True, False]).to(md.half).tolist() == [1.0, 0.0]
    assert md.tensor([1, 2], dtype=md.half).dtype == md.ones(2).half().dtype == "float16"


def test_names_sizes_limits_and_serialization(tmp_path):
    x = md.tensor(np.array([0.1, 65504.0, -1e-7], np.float32)).half()
    assert md.half == md.float16 == x.dtype and x.element_size() == 2 and x.type() == "torch.HalfTensor"
    assert x.is_floating_point() and md.zeros(2, dtype=np.float16).dtype == "float16"
    info = md.finfo(md.float16)
    assert (info.max, info.eps, info.tiny, info.bits) == (65504.0, 2.0**-10, 2.0**-14, 16)
    md.save({"x": x}, tmp_path / "x.pt")
    back = md.load(tmp_path / "x.pt")["x"]
    assert back.dtype == "float16" and _same_bits(back.numpy(), x.numpy())
    assert md.promote_types(md.float16, md.bfloat16) == "float32"
    assert md.promote_types(md.float16, md.int64) == md.promote_types(md.bool, md.half) == "float16"


def test_what_float16_refuses_or_saturates():
    x = md.zeros(2, dtype=md.half)
    with pytest.raises(ValueError, match="float16"):
        x.fill_(1e5)  # as torch: the number does not fit
    with pytest.raises(ValueError, match="float16"):
        md.full((2,), 70000.0, dtype=md.half)
    x[0] = 1e5  # a write rounds to inf, as torch's
    assert x.tolist() == [np.inf, 0.0]
    assert (md.ones(2, dtype=md.half) * 1e5).tolist() == [np.inf, np.inf]
    with pytest.raises(TypeError, match="randn"):
        md.randn(2, dtype=md.int64)
    assert md.randn(3, dtype=md.half).dtype == "float16" and md.rand(2, dtype="float16").dtype == "float16"


# ---- against torch's float16: native ops, promotion and in-place rules

DATA = {
    "x": (3, 4),
    "y": (3, 4),
    "v": (4,),
    "s": (),
    "img": (2, 4, 5, 5),
    "w": (3, 4, 3, 3),
    "q": (2, 3, 4),
}


def _env(lib):
    r = np.random.default_rng(7)
    env = {
        k: lib.tensor(r.standard_normal(shape).astype(np.float32)).half().requires_grad_() for k, shape in DATA.items()
    }
    env.update(
        L=lib,
        F=lib.nn.functional,
        f=lib.tensor(r.standard_normal((3, 4)).astype(np.float32)),
        f0=lib.tensor(np.float32(0.1)),
        b=lib.tensor(r.standard_normal((3, 4)).astype(np.float32)).bfloat16(),
        i=lib.tensor(np.array([[1, 2, 0, 3], [0, 1, 2, 3], [3, 3, 1, 0]], np.int64)),
        iv=lib.tensor(np.array([2, 0, 1], np.int64)),
        m=lib.tensor(r.standard_normal((3, 4)) > 0),
        g4=lib.tensor(np.linspace(0.5, 1.5, 4, dtype=np.float32)).half(),
    )
    return env


CASES = [
    # promotion: float32 with dims wins, a 0-d float32 or a number does not; bfloat16 with float16 is float32
    "x + y", "x * f", "x * f0", "x - 2.5", "x / i", "x + m", "x * b", "s + f", "s * b", "x ** 2", "2 ** x",
    "x ** y.abs()", "-x", "x.abs()", "x.exp()", "x.tanh()", "x.sigmoid()", "F.silu(x)", "F.gelu(x)", "F.relu(x)",
    "(x.abs() + 0.1).log()",
    "L.maximum(x, y)", "L.minimum(x, f)", "x.clamp(-0.5, 0.5)", "x.clamp(min=f)",
    # comparisons take the other operand in the promoted dtype
    "x > 0.1", "x == f0", "x < f", "x >= y", "x == b",
    # reductions, scans, softmax
    "x.sum()", "x.sum(1)", "x.mean(0)", "x.max()", "x.max(1)", "x.amax(1)", "x.cumsum(1)", "x.cumprod(0)",
    "F.softmax(x, 1)", "F.log_softmax(x, 0)",
    # products, convolutions, norms, attention
    "x @ y.t()", "F.linear(x, y, v[:3])", "F.conv2d(img, w)", "F.conv2d(img, w, padding=1, stride=2)",
    "F.group_norm(img, 2, g4, g4)", "F.layer_norm(x, (4,), v, v)",
    "F.scaled_dot_product_attention(q, q, q)", "F.interpolate(img, scale_factor=2)",
    "F.mse_loss(x, y)", "F.mse_loss(x, f)", "F.embedding(iv, x)",
    # selection and shape
    "L.where(m, x, y)", "L.where(m, x, f)", "L.where(m, x, 0.5)", "x.gather(1, i)", "x.index_select(1, iv)",
    "x[m]", "x[:, 1:3].t()", "L.cat([x, y])", "L.cat([x, f])", "L.stack([x, y], 1)", "x.flip(0).roll(1, 1)",
]  # fmt: skip


def _run(lib, expr):
    env = _env(lib)
    return results_and_grads(lib, eval(expr, env), env, DATA)  # noqa: S307 (the test's own expressions)


# torch before 2.13 fails these itself (mse_loss's backward of mixed dtypes: "Found dtype Float but expected Half")
TORCH_2_13_CASES = {"F.mse_loss(x, f)"}


@pytest.mark.parametrize(
    "expr", [pytest.param(c, marks=pytest.mark.torch_2_13) if c in TORCH_2_13_CASES else c for c in CASES]
)
def test_native_ops_match_torch_float16(expr):
    torch = pytest.importorskip("torch")
    (t_out, t_grads), (m_out, m_grads) = _run(torch, expr), _run(md, expr)
    assert len(m_out) == len(t_out)
    for (m_dtype, m_shape, m_vals), (t_dtype, t_shape, t_vals) in zip(m_out, t_out):
        assert (m_dtype, m_shape) == (t_dtype, t_shape)
        np.testing.assert_allclose(m_vals, t_vals, rtol=2e-3, atol=2e-3, equal_nan=True)
    assert set(m_grads) == set(t_grads)
    for k, (t_dtype, t_vals) in t_grads.items():
        assert m_grads[k][0] == t_dtype, k
        np.testing.assert_allclose(m_grads[k][1], t_vals, rtol=5e-3, atol=5e-3, equal_nan=True)


IN_PLACE = [
    "t += f", "t *= 3", "t -= s", "t.add_(f, alpha=2)", "t.mul_(0.5)", "t.clamp_(-0.25, 0.25)", "t.copy_(f)",
    "t.fill_(0.1)", "t.zero_()", "t.masked_fill_(m, 2.0)", "t.__setitem__(m, 0.3)", "t.__setitem__((0, 1), 7.1)",
]  # fmt: skip


@pytest.mark.parametrize("stmt", IN_PLACE)
def test_in_place_results_round_into_float16_as_torch(stmt):
    torch = pytest.importorskip("torch")
    got = []
    for lib in (md, torch):
        env = _env(lib)
        env["t"] = env["x"].detach().clone()
        env["s"] = env["s"].detach()
        exec(stmt, env)  # noqa: S102 (the test's own statements)
        got.append((str(env["t"].dtype).removeprefix("torch."), env["t"].float().numpy()))
    assert got[0][0] == got[1][0] == "float16"
    np.testing.assert_array_equal(got[0][1], got[1][1])


@pytest.mark.parametrize("a", ["float16", "bfloat16", "float32", "int64", "bool"])
@pytest.mark.parametrize("b", ["float16", "bfloat16", "float32", "int64", "bool"])
@pytest.mark.parametrize("dims", [(1, 1), (1, 0), (0, 1), (0, 0)])
def test_result_type_matches_torch(a, b, dims):
    torch = pytest.importorskip("torch")
    shape = [(2,) if d else () for d in dims]
    x, y = (md.zeros(s, dtype=d) for s, d in zip(shape, (a, b)))
    tx, ty = (torch.zeros(s, dtype=getattr(torch, d)) for s, d in zip(shape, (a, b)))
    want = str(torch.result_type(tx, ty)).removeprefix("torch.")
    assert md.result_type(x, y) == want
    if "bool" not in (a, b):  # (bool + bool is or, bool - bool refused: their own tests)
        assert (x + y).dtype == want and md.where(md.tensor(True), x, y).dtype == want
