"""The native unary math beyond the activations (tan, asin, ..., erf, erfinv, reciprocal): values
against Python's math module (float64, then rounded), gradients by finite differences and against
torch where installed, special values as torch gives them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradcheck import check_grads

import minidiff as md

# name -> (float64 reference, domain for random samples)
_OPS = {
    "tan": (math.tan, (-1.4, 1.4)),
    "asin": (math.asin, (-0.99, 0.99)),
    "acos": (math.acos, (-0.99, 0.99)),
    "atan": (math.atan, (-6.0, 6.0)),
    "sinh": (math.sinh, (-5.0, 5.0)),
    "cosh": (math.cosh, (-5.0, 5.0)),
    "asinh": (math.asinh, (-6.0, 6.0)),
    "acosh": (math.acosh, (1.01, 6.0)),
    "atanh": (math.atanh, (-0.99, 0.99)),
    "log1p": (math.log1p, (-0.9, 6.0)),
    "expm1": (math.expm1, (-5.0, 5.0)),
    "log2": (math.log2, (0.05, 6.0)),
    "log10": (math.log10, (0.05, 6.0)),
    "exp2": (lambda v: 2.0**v, (-6.0, 6.0)),
    "erf": (math.erf, (-4.0, 4.0)),
    "erfc": (math.erfc, (-4.0, 4.0)),
    "erfinv": (None, (-0.999, 0.999)),
    "reciprocal": (lambda v: 1.0 / v, (0.2, 5.0)),
}


def _samples(name, n=200):
    lo, hi = _OPS[name][1]
    return np.random.default_rng(sum(map(ord, name))).uniform(lo, hi, n).astype(np.float32)


@pytest.mark.parametrize("name", sorted(_OPS))
def test_values_against_float64_math(name):
    ref, _ = _OPS[name]
    x = _samples(name)
    got = getattr(md, name)(md.tensor(x)).numpy().astype(np.float64)
    if ref is None:  # erfinv: erf of the result gives the input back
        back = np.array([math.erf(v) for v in got])
        np.testing.assert_allclose(back, x, rtol=2e-6, atol=2e-7)
        return
    want = np.array([ref(float(v)) for v in x])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(_OPS))
def test_every_spelling_is_the_same_op(name):
    x = md.tensor(_samples(name, 8))
    want = getattr(md, name)(x).numpy()
    for got in (getattr(md.F, name)(x), getattr(x, name)(), getattr(md.nn.functional, name)(x)):
        np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("name", sorted(_OPS))
def test_gradients_by_finite_differences(name):
    x = _samples(name, 12).reshape(3, 4)
    if name in ("erfinv", "atanh", "asin", "acos"):  # keep the central difference inside the domain
        x = np.clip(x, -0.9, 0.9)
    check_grads(lambda t: getattr(md, name)(t), [x], eps=1e-3, rtol=5e-3, atol=5e-3)


def test_arc_spellings_are_torchs_aliases():
    x = md.tensor([0.25, -0.5])
    for arc, name in {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh"}.items():
        np.testing.assert_array_equal(getattr(md, arc)(x).numpy(), getattr(md, name)(x).numpy())
        np.testing.assert_array_equal(getattr(x, arc)().numpy(), getattr(md, name)(x).numpy())
    np.testing.assert_array_equal(md.arctanh(x).numpy(), md.atanh(x).numpy())
    np.testing.assert_array_equal(md.tensor([2.0]).arccosh().numpy(), md.acosh(md.tensor([2.0])).numpy())


def test_erfinv_edges_and_int64_inputs():
    got = md.erfinv(md.tensor([1.0, -1.0, 1.5, float("nan"), 0.0])).numpy()
    assert got[0] == np.inf and got[1] == -np.inf and np.isnan(got[2]) and np.isnan(got[3]) and got[4] == 0.0
    out = md.erf(md.tensor([1, 2], dtype="int64"))
    assert out.dtype == "float32" and np.allclose(out.numpy(), [math.erf(1), math.erf(2)])


def test_empty_and_strided_inputs():
    assert md.log1p(md.zeros(0, 3)).shape == (0, 3)
    x = md.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 12)
    np.testing.assert_allclose(md.atan(x.t()).numpy(), np.arctan(x.numpy().T), rtol=1e-6)


def test_matches_torch_values_gradients_and_special_values():
    torch = pytest.importorskip("torch")
    special = np.array([0.0, -0.0, 1.0, -1.0, 2.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30], np.float32)
    for name in sorted(_OPS):
        x = _samples(name, 300)
        a, b = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ya, yb = getattr(md, name)(a), getattr(torch, name)(b)
        np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=2e-6, atol=1e-7, err_msg=name)
        w = np.random.default_rng(1).standard_normal(300).astype(np.float32)
        (ya * md.tensor(w)).sum().backward()
        (yb * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(
            getattr(md, name)(md.tensor(special)).numpy(),
            getattr(torch, name)(torch.tensor(special)).numpy(),
            rtol=2e-6,
            atol=0,
            err_msg=name,
        )
