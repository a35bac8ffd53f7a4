"""A number argument that does not fit the tensor's float dtype (float16 1e5, bfloat16 3.3896e38,
float32 1e39) is refused where torch refuses it ("value cannot be converted to type at::Half without
overflow"), and accepted where torch takes it (inf, nan, the largest value, ints that fit, bools)."""

import math
import warnings

import numpy as np
import pytest

import minidiff as md
import minidiff.nn.functional as MF
from minidiff._dtypes import check_float_args, check_scalar_fits


def _tensors(lib, dtype):
    t = lib.tensor([1.0, -2.0, float("nan"), 0.5], dtype=dtype)
    u = lib.tensor([1.0, 2.0, 3.0, 4.0], dtype=dtype)
    return t, u, lib.tensor([True, False, True, False]), lib.tensor([0, 2])


# name -> fn(lib, functional, t, u, mask, index, value, dtype); the same calls in torch and md
CASES = {
    "clamp": lambda L, F, t, u, m, i, v, d: L.clamp(t, max=v),
    "hardtanh": lambda L, F, t, u, m, i, v, d: F.hardtanh(t, -v, v),
    "hardtanh_": lambda L, F, t, u, m, i, v, d: F.hardtanh_(t, max_val=v) if v != -math.inf else None,
    "threshold value": lambda L, F, t, u, m, i, v, d: F.threshold(t, 0.0, v),
    "threshold threshold": lambda L, F, t, u, m, i, v, d: F.threshold(t, v, 0.0),
    "pad": lambda L, F, t, u, m, i, v, d: F.pad(t, (1, 1), value=v),
    "pad crop": lambda L, F, t, u, m, i, v, d: F.pad(t, (-1, 0), value=v),
    # (torch refuses a bool alpha for float results: not a question of fitting, left out)
    "Tensor.add alpha": lambda L, F, t, u, m, i, v, d: t.add(u, alpha=v) if v is not True else None,
    "add alpha": lambda L, F, t, u, m, i, v, d: L.add(t, 2.0, alpha=v) if v is not True else None,
    "add_ alpha": lambda L, F, t, u, m, i, v, d: t.add_(u, alpha=v) if v is not True else None,
    "Tensor.sub alpha": lambda L, F, t, u, m, i, v, d: t.sub(u, alpha=v) if v is not True else None,
    "sub alpha": lambda L, F, t, u, m, i, v, d: L.sub(t, u, alpha=v) if v is not True else None,
    "sub_ alpha": lambda L, F, t, u, m, i, v, d: t.sub_(u, alpha=v) if v is not True else None,
    "subtract_ alpha": lambda L, F, t, u, m, i, v, d: t.subtract_(u, alpha=v) if v is not True else None,
    "hardshrink": lambda L, F, t, u, m, i, v, d: F.hardshrink(t, v),
    "softshrink": lambda L, F, t, u, m, i, v, d: F.softshrink(t, v),
    "linspace": lambda L, F, t, u, m, i, v, d: L.linspace(-v, 0, 5, dtype=d),
    "linspace one step": lambda L, F, t, u, m, i, v, d: L.linspace(v, 0, 1, dtype=d),
    "logspace": lambda L, F, t, u, m, i, v, d: L.logspace(0, v, 5, dtype=d),
    "masked_fill": lambda L, F, t, u, m, i, v, d: t.masked_fill(m, v),
    "masked_fill 0-d": lambda L, F, t, u, m, i, v, d: t.masked_fill(m, L.tensor(v)),
    "masked_fill_ 0-d": lambda L, F, t, u, m, i, v, d: t.masked_fill_(m, L.tensor(v)),
    "index_fill": lambda L, F, t, u, m, i, v, d: t.index_fill(0, i, v),
    "scatter": lambda L, F, t, u, m, i, v, d: t.scatter(0, i, v),
    "where": lambda L, F, t, u, m, i, v, d: L.where(m, t, v),
    "nan_to_num": lambda L, F, t, u, m, i, v, d: L.nan_to_num(t, nan=v, posinf=v),
    "elu": lambda L, F, t, u, m, i, v, d: F.elu(t, alpha=v),
    "celu": lambda L, F, t, u, m, i, v, d: F.celu(t, alpha=v),
    "leaky_relu": lambda L, F, t, u, m, i, v, d: F.leaky_relu(t, v),
    "softplus": lambda L, F, t, u, m, i, v, d: F.softplus(t, beta=v),
    "rrelu": lambda L, F, t, u, m, i, v, d: F.rrelu(t, v, v) if v == v and abs(v) != math.inf else None,
    "rrelu training": lambda L, F, t, u, m, i, v, d: (
        F.rrelu(t, 0.0, v, training=True) if d == L.float32 and v == v and v > 0 and v != math.inf else None
    ),
    "pow": lambda L, F, t, u, m, i, v, d: t**v,
    "Tensor.pow": lambda L, F, t, u, m, i, v, d: t.pow(v),
    "pow_": lambda L, F, t, u, m, i, v, d: t.pow_(v),
    "addcmul": lambda L, F, t, u, m, i, v, d: L.addcmul(t, u, u, value=v),
    "addcdiv_": lambda L, F, t, u, m, i, v, d: t.addcdiv_(u, u, value=v),
    "addmm": lambda L, F, t, u, m, i, v, d: L.addmm(t.reshape(2, 2), u.reshape(2, 2), u.reshape(2, 2), beta=v),
    "baddbmm": lambda L, F, t, u, m, i, v, d: L.baddbmm(
        t.reshape(1, 2, 2), u.reshape(1, 2, 2), u.reshape(1, 2, 2), alpha=v
    ),
    "addmv": lambda L, F, t, u, m, i, v, d: L.addmv(t[:2], u.reshape(2, 2), u[:2], alpha=v),
    "lerp": lambda L, F, t, u, m, i, v, d: L.lerp(t, u, v),
    "normalize": lambda L, F, t, u, m, i, v, d: F.normalize(u, dim=0, eps=v),
    "logit": lambda L, F, t, u, m, i, v, d: u.logit(v),
    "histc": lambda L, F, t, u, m, i, v, d: L.histc(u, bins=3, min=0, max=v) if v == v and v > 0 else None,
    "index_add": lambda L, F, t, u, m, i, v, d: t.index_add(0, i, u[:2], alpha=v),
    "hinge_embedding_loss": lambda L, F, t, u, m, i, v, d: F.hinge_embedding_loss(u, u, margin=v),
    "gaussian_nll_loss": lambda L, F, t, u, m, i, v, d: F.gaussian_nll_loss(u, u, u, eps=v),
    "cosine_similarity": lambda L, F, t, u, m, i, v, d: F.cosine_similarity(u, u, dim=0, eps=v) if v >= 0 else None,
    "mul": lambda L, F, t, u, m, i, v, d: t * v,  # arithmetic rounds to inf: never refused
    "full": lambda L, F, t, u, m, i, v, d: L.full((3,), v, dtype=d),
    "fill_": lambda L, F, t, u, m, i, v, d: t.fill_(v),
}

VALUES = {
    "float16": [1e5, -1e5, 65504.5, 65505, -100000, np.float32(1e5), 65504, 65504.0, 65503.9, math.inf, -math.inf]
    + [math.nan, True, 0.5, 3],
    "bfloat16": [3.3896e38, -3.3896e38, 1e39, 3.3895313892515355e38, 1e5, 65505, math.inf, math.nan, 2**62],
    "float32": [1e39, -1e39, 3.4028235e38, 3.4028234663852886e38, math.inf, math.nan, 2**62, 1e5],
}


def _outcome(lib, functional, fn, dtype, value):
    t, u, m, i = _tensors(lib, dtype)
    try:
        fn(lib, functional, t, u, m, i, value, dtype)
    except (RuntimeError, ValueError) as e:
        return "refused: " + str(e).splitlines()[0][:80]
    return "ok"


# ---- without torch: the shared check and what it pins


def test_check_scalar_fits_floats_and_ints():
    for value in (1e5, 65504.5, 65505, -65505, np.int64(100000), np.float32(1e5)):
        with pytest.raises(ValueError, match="cannot be converted to float16 without overflow"):
            check_scalar_fits("op", value, "float16")
    for value in (65504, 65504.0, -65504, 65503.9, math.inf, -math.inf, math.nan, True, np.float64(65504.0)):
        check_scalar_fits("op", value, "float16")
    with pytest.raises(ValueError, match="bfloat16"):
        check_scalar_fits("op", 3.3896e38, "bfloat16")
    check_scalar_fits("op", 3.3895313892515355e38, "bfloat16")
    with pytest.raises(ValueError, match="float32"):
        check_scalar_fits("op", 3.4028235e38, "float32")
    check_scalar_fits("op", 3.4028234663852886e38, "float32")
    check_scalar_fits("op", 2**62, "float32")
    check_scalar_fits("__setitem__", 100000, "float16")  # t[k] = 100000 makes a float16 inf, as torch's
    check_scalar_fits("op", 1e300, "bool")


def test_check_float_args_opmath_and_other_dtypes():
    check_float_args("op", "float16", 1e5, 1e38, None, md.ones(1), opmath=True)  # float32 takes them
    with pytest.raises(ValueError, match="converted to float32"):
        check_float_args("op", "bfloat16", 1e39, opmath=True)
    check_float_args("op", "int64", 1e39)  # only float dtypes are checked
    check_float_args("op", "bool", 1e39)


# ops that torch never refuses a number for (or only a 0-d tensor's: float16 only)
NEVER_REFUSED = ("pad crop", "linspace one step", "mul", "where", "nan_to_num", "pow", "Tensor.pow", "pow_")
TENSOR_VALUE = ("masked_fill 0-d", "masked_fill_ 0-d")
# ops whose kernel converts the number to float32 (a float16 tensor takes 1e5)
IN_FLOAT32 = ("threshold threshold", "elu", "celu", "leaky_relu", "softplus", "rrelu", "rrelu training", "addcmul")
IN_FLOAT32 += ("addcdiv_", "addmm", "baddbmm", "lerp", "cosine_similarity")

REFUSED_WITHOUT_TORCH = [
    (name, dtype, value)
    for name in CASES
    if name not in NEVER_REFUSED
    for dtype, value in [("float16", 1e5), ("float32", 1e39)]
    if not (dtype == "float16" and name in IN_FLOAT32 or dtype == "float32" and name in TENSOR_VALUE)
] + [
    ("where", "float32", 1e39),
    ("pow", "float16", 1e5),
    ("pow_", "bfloat16", 1e39),
    ("index_fill", "float16", 100000),
    ("scatter", "float16", 65505),
    ("masked_fill_ 0-d", "float16", 100000),
    ("elu", "bfloat16", 1e39),
    ("softshrink", "float32", math.inf),
    ("softshrink", "float16", math.nan),
]


@pytest.mark.parametrize(("name", "dtype", "value"), REFUSED_WITHOUT_TORCH)
def test_refused(name, dtype, value):
    assert _outcome(md, MF, CASES[name], getattr(md, dtype), value).startswith("refused")


F32_MAX = 3.4028234663852886e38
ACCEPTED_WITHOUT_TORCH = (
    [
        (name, dtype, value)
        for name in CASES
        for dtype, value in [("float16", 65504), ("float16", math.inf), ("float16", math.nan), ("float32", F32_MAX)]
        if not (name in ("softshrink", "gaussian_nll_loss", "logit", "histc") and value in (math.inf, F32_MAX))
        and not (name == "softshrink" and value != value)
    ]
    + [(name, "float16", 1e5) for name in (*NEVER_REFUSED[:5], "elu", "lerp", "addmm")]
    + [(name, "float32", 1e39) for name in ("pow", "Tensor.pow", "pow_", "nan_to_num", "mul")]
    + [(name, "float16", True) for name in ("elu", "celu", "hardshrink", "softshrink", "rrelu")]
)


@pytest.mark.parametrize(("name", "dtype", "value"), ACCEPTED_WITHOUT_TORCH)
def test_accepted(name, dtype, value):
    assert _outcome(md, MF, CASES[name], getattr(md, dtype), value) == "ok"


def test_results_where_accepted():
    h = md.float16
    assert md.ones(2, dtype=h).add(md.full((2,), 2.0, dtype=h), alpha=65504).tolist() == [math.inf, math.inf]
    assert (md.ones(2, dtype=h) * 1e5).tolist() == [math.inf, math.inf]
    assert md.linspace(1e5, 0, 1, dtype=h).tolist() == [math.inf]
    assert MF.pad(md.ones(3, dtype=h), (-1, 0), value=1e5).tolist() == [1.0, 1.0]
    assert md.clamp(md.tensor([1e4, 7e4], dtype=md.float32), max=65504).tolist() == [1e4, 65504.0]


def test_clamp_uses_the_shared_check():
    with pytest.raises(ValueError, match="clamp: the value 65505 cannot be converted to float16"):
        md.ones(2, dtype=md.float16).clamp(min=65505)


# ---- against torch


def _torch_cases():
    return [(name, dtype) for name in CASES for dtype in VALUES]


@pytest.mark.parametrize(("name", "dtype"), _torch_cases())
def test_agrees_with_torch(name, dtype):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    for value in VALUES[dtype]:
        theirs = _outcome(torch, TF, CASES[name], getattr(torch, dtype), value)
        ours = _outcome(md, MF, CASES[name], getattr(md, dtype), value)
        assert theirs.startswith("refused") == ours.startswith("refused"), (name, dtype, value, theirs, ours)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("bounds", [(0.0, 1e5), (0.0, math.inf), (-math.inf, 0.0), (-1e39, 0.0), (0.0, 65504.0)])
def test_uniform_bounds_must_fit_the_dtype_as_torch(dtype, bounds):
    torch = pytest.importorskip("torch")
    try:
        torch.empty(3, dtype=getattr(torch, dtype)).uniform_(*bounds)
    except RuntimeError:
        with pytest.raises(ValueError, match="uniform_"):
            md.empty(3, dtype=dtype).uniform_(*bounds)
    else:
        out = md.empty(3, dtype=dtype).uniform_(*bounds).float().numpy()
        assert ((out >= bounds[0]) & (out <= bounds[1])).all()


def test_linspace_and_logspace_to_infinity_warn_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(md.linspace(0.0, math.inf, 3).numpy()).all()  # (torch's are NaN too)
        assert md.logspace(0.0, 50.0, 2).tolist()[1] == math.inf
