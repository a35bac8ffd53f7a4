"""Bool tensors through the Python-composed ops (tensor_ops, tensor_math, tensor_more,
tensor_scatter): result dtypes and values as torch's, and a TypeError naming the op where torch has
no bool kernel. Checked against torch where it is installed and against NumPy without it."""

import numpy as np
import pytest
from dtype_ref import described

import minidiff as md

pytestmark = pytest.mark.filterwarnings(r"ignore:index_reduce\(\) is in beta")

X = np.array([1.0, np.nan, -2.0, 0.0], np.float32)
M = np.array([True, False, True, False])
M2 = np.array([False, False, True, True])
I = np.array([1, 0, -3, 7], np.int64)
B = np.array([[True, False, True], [False, False, True]])
J = np.array([[1, 2, 0], [2, 0, 1]], np.int64)


def _env(lib):
    return dict(
        L=lib,
        x=lib.tensor(X.copy()),
        m=lib.tensor(M.copy()),
        m2=lib.tensor(M2.copy()),
        i=lib.tensor(I.copy()),
        b=lib.tensor(B.copy()),
        j=lib.tensor(J.copy()),
        bool=lib.bool,
    )


# expressions whose result (dtype, shape and values) must be torch's; each gave another dtype, or
# raised, before the fixes here
EXPRESSIONS = [
    # where: bool branches with numbers keep torch's promotion (the native where read them as float32)
    "L.where(m, True, False)", "L.where(m, m2, 1)", "L.where(m, m2, True)", "L.where(m, L.tensor(True), False)",
    "L.where(m, 1, True)", "L.where(m, 0.5, True)", "L.where(m, m2, 0.5)", "L.where(m, i, True)",
    "L.where(b, b[0], False)", "m.where(m2, False)", "m.where(m2, 5)", "i.where(m, True)", "x.where(m, 1.0)",
    # clamp of a bool tensor: int64 with int bounds, float32 with float ones, bool by one bool tensor bound
    "L.clamp(m, 0, 1)", "L.clamp(m, None, 1)", "L.clip(m, 0, 2)", "L.clamp(m, 0.5)", "b.clamp_min(0)",
    "b.clamp_max(0)", "L.clamp_min(b, 0)", "L.clamp(m, L.tensor(0), L.tensor(1))", "L.clamp(m, m2)",
    "L.clamp_max(m, m2)", "L.clamp(m, i)",
    # a fill value takes self's dtype
    "L.scatter(b, 1, j, True)", "L.scatter(b, 1, j, False)", "b.scatter(1, j, 2)", "j.scatter(1, j, 2.5)",
    "b.index_fill(1, L.tensor([0]), True)", "b.index_fill(0, L.tensor([1]), L.tensor(1))",
    "j.index_fill(1, L.tensor([2]), 7.9)",
    # scatter_reduce of bools: sum / amax are any, prod / amin are all
    "L.scatter_reduce(m, 0, L.tensor([0, 1, 1]), L.tensor([True, True, False]), 'sum')",
    "L.scatter_reduce(m, 0, L.tensor([0, 1, 1]), L.tensor([False, True, False]), 'sum', include_self=False)",
    "L.scatter_reduce(m, 0, L.tensor([0, 2, 2]), L.tensor([False, True, False]), 'prod')",
    "L.scatter_reduce(m, 0, L.tensor([1, 3, 1]), L.tensor([True, False, False]), 'amax')",
    "L.scatter_reduce(m, 0, L.tensor([0, 3, 2]), L.tensor([True, False, False]), 'amin', include_self=False)",
    # NaN-free dtypes stay as they are
    "L.nan_to_num(m)", "L.nan_to_num(b, nan=2.0, posinf=1.0)", "L.nansum(b)", "L.nansum(b, 1)",
    "L.nansum(b, dim=1, keepdim=True)",
    "L.heaviside(m, m2)", "L.heaviside(m, L.tensor([True]))",
    # diff of bools is the xor of neighbours; mixed with int64 it promotes
    "L.diff(m)", "L.diff(b, dim=1)", "L.diff(m, n=2, prepend=L.tensor([True]))", "L.diff(m, prepend=L.tensor([1]))",
    "L.diff(i, append=L.tensor([True]))",
    # float math promotes bools to float32
    "L.logsumexp(m, 0)", "L.logsumexp(b, 1)", "L.logsumexp(i, 0)", "L.logaddexp(m, x)", "L.logaddexp2(x, m)",
    "L.logit(m)", "L.xlogy(m, x)", "L.sinc(m)", "L.deg2rad(b)",
    # others
    "L.arange(True)", "L.searchsorted(L.tensor([False, True]), i)",
    "L.allclose(m, m)", "L.isclose(m, m2)",
]  # fmt: skip


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_bool_results_match_torch(expr):
    torch = pytest.importorskip("torch")
    want, got = eval(expr, _env(torch)), eval(expr, _env(md))  # noqa: S307 (the test's own expressions)
    assert described(got) == described(want), expr


# where torch has no bool kernel (or refuses the mix), minidiff raises a TypeError naming the op
REFUSED = [
    ("L.argmax(b)", "argmax"), ("L.argmax(b, 1)", "argmax"), ("L.argmin(b, 1)", "argmin"), ("L.topk(m, 2)", "topk"),
    ("L.median(b)", "median"), ("L.median(b, 1)", "median"), ("L.nanmedian(m)", "nanmedian"),
    ("L.kthvalue(b, 1, 1)", "kthvalue"),
    ("L.histc(m, 2)", "histc"), ("L.histogram(m, 2)", "histogram"), ("L.isin(m, L.tensor([True]))", "isin"),
    ("L.isin(i, m)", "isin"), ("L.isin(m, True)", "isin"),
    ("L.searchsorted(L.tensor([False, True]), m)", "searchsorted"),
    ("L.bucketize(m, L.tensor([False, True]))", "searchsorted"), ("L.dot(m, m2)", "dot"), ("L.vdot(m, m2)", "vdot"),
    ("L.trace(b[:, :2])", "trace"), ("L.positive(m)", "positive"), ("L.round(m)", "round"),
    ("L.round(m, decimals=1)", "round"), ("L.ceil(m)", "ceil"), ("L.floor(b)", "floor"), ("L.trunc(m)", "trunc"),
    ("L.nanmean(b)", "nanmean"), ("L.quantile(m, 0.5)", "quantile"), ("L.rand_like(m)", "rand_like"),
    ("L.randn_like(m)", "randn_like"), ("L.rand_like(x, dtype=bool)", "rand_like"), ("L.norm(b)", "norm"),
    ("L.multinomial(m, 1)", "multinomial"), ("L.bernoulli(m)", "bernoulli"), ("L.normal(m, 2.0)", "normal"),
    ("L.clamp(m, min=True)", "clamp"), ("L.clamp(b, max=False)", "clamp"), ("b.clamp_min(True)", "clamp"),
    ("L.clamp(m, m2, m)", "clamp"), ("L.isclose(m, i)", "isclose"), ("L.isclose(x, m)", "isclose"),
    ("L.allclose(m, i)", "allclose"), ("L.heaviside(m, L.tensor(0.5))", "heaviside"),
    ("L.heaviside(i, m)", "heaviside"), ("L.repeat_interleave(x, m)", "repeat_interleave"),
    ("L.scatter_reduce(m, 0, L.tensor([0]), L.tensor([True]), 'mean')", "scatter_reduce"),
    ("L.index_reduce(m, 0, L.tensor([0]), L.tensor([True]), 'prod')", "index_reduce"),
    ("m.clone().bitwise_and_(1)", "bitwise_and_"), ("m.clone().bitwise_or_(i)", "bitwise_or_"),
]  # fmt: skip


@pytest.mark.parametrize(("expr", "op"), REFUSED)
def test_ops_without_a_bool_kernel_raise(expr, op):
    with pytest.raises(TypeError, match=rf"^{op}.*(bool|dtype|Bool)"):
        eval(expr, _env(md))  # noqa: S307
    torch = pytest.importorskip("torch")
    with pytest.raises((RuntimeError, NotImplementedError, TypeError)):
        eval(expr, _env(torch))  # noqa: S307


# statements that change b, m or j in place
STATEMENTS = [
    "b.scatter_(1, j, True)", "b.index_fill_(1, L.tensor([0]), True)", "m.nan_to_num_()", "m.clamp_(m2)",
    "m.scatter_reduce_(0, L.tensor([0, 1]), L.tensor([True, True]), 'sum')",
    "m.scatter_reduce_(0, L.tensor([0, 1]), L.tensor([True, True]), 'prod')", "m.logical_and_(i)",
    "m.bitwise_or_(True)", "i.bitwise_and_(m)", "j.index_fill_(0, L.tensor([1]), True)",
]  # fmt: skip


@pytest.mark.parametrize("stmt", STATEMENTS)
def test_bool_in_place_matches_torch(stmt):
    torch = pytest.importorskip("torch")
    results = []
    for lib in (torch, md):
        env = _env(lib)
        exec(stmt, env)  # noqa: S102
        results.append(described([env[k] for k in ("b", "m", "i", "j")]))
    assert results[1] == results[0], stmt


def test_float_power_of_bools_is_float32():
    # torch computes in float64; minidiff has no float64 and gives float32 (its documented choice)
    m = md.tensor(M)
    for got in (md.float_power(m, 2), md.float_power(m, md.tensor(M2)), md.float_power(md.tensor(I), m)):
        assert got.dtype == "float32"
    np.testing.assert_array_equal(md.float_power(m, md.tensor(M2)).numpy(), np.power(M * 1.0, M2 * 1.0))


def test_bool_ops_without_torch():
    m, m2, b, j = md.tensor(M), md.tensor(M2), md.tensor(B), md.tensor(J)
    out = md.where(m, m2, True)
    assert out.dtype == "bool" and out.tolist() == np.where(M, M2, True).tolist()
    out = md.where(m, m2, 3)
    assert out.dtype == "int64" and out.tolist() == np.where(M, M2, 3).tolist()
    assert md.clamp(m, 0, 1).dtype == "int64" and md.clamp(m, 0.5).tolist() == np.clip(M * 1.0, 0.5, None).tolist()
    want = B.copy()
    np.put_along_axis(want, J, True, 1)
    assert md.scatter(b, 1, j, True).dtype == "bool" and md.scatter(b, 1, j, True).tolist() == want.tolist()
    assert md.diff(b, dim=1).tolist() == (B[:, 1:] != B[:, :-1]).tolist()
    assert md.nansum(b, 1).dtype == "int64" and md.nansum(b, 1).tolist() == B.sum(1).tolist()
    assert md.nan_to_num(m).dtype == "bool" and md.heaviside(m, m2).tolist() == (M | M2).tolist()
    np.testing.assert_allclose(md.logsumexp(b, 1).numpy(), np.log(np.exp(B * 1.0).sum(1)), rtol=1e-6)
    # the in-place logical and bitwise ops: int64 into a bool tensor raises, a bool result is kept
    with pytest.raises(TypeError, match="bitwise_and_.*int64.*bool"):
        m.clone().bitwise_and_(1)
    assert m.clone().bitwise_and_(m2).tolist() == (M & M2).tolist()
    # the gradient through where with a bool mask and a bool-promoted number is unchanged
    w = md.tensor([1.0, -2.0, 3.0, 4.0], requires_grad=True)
    md.where(m, w, True).sum().backward()
    assert w.grad.tolist() == M.astype(np.float32).tolist()


@pytest.mark.parametrize(
    ("expr", "want_dtype"),
    [
        pytest.param(
            "md.tensor([True, False]).square()",
            "int64",
        ),
        pytest.param(
            "md.tensor([2, 3]).square()",
            "int64",
        ),
        pytest.param(
            "md.F.where(md.tensor([True, False]), md.tensor([True, True]), 1)",
            "int64",
        ),
        pytest.param(
            "md.F.where(md.tensor([True, False]), True, False)",
            "bool",
        ),
        pytest.param(
            "md.tensor([True, False]) ** True",
            "bool",
        ),
    ],
)
def test_native_bool_dtypes(expr, want_dtype):
    assert eval(expr).dtype == want_dtype  # noqa: S307


@pytest.mark.parametrize(
    "expr",
    [
        pytest.param("md.tensor([True, False]).abs()", id="abs"),
        pytest.param("md.tensor([True, False]).mean()", id="mean"),
        pytest.param("md.tensor([True, False]) ** md.tensor([True, True])", id="pow"),
    ],
)
def test_native_ops_refuse_bool_as_torch(expr):
    with pytest.raises(TypeError):
        eval(expr)  # noqa: S307
