"""Tensor functions built in Python from native ops: the torch names that need no kernel of their
own (``linspace``, ``min``/``argmax``, ``var``/``std``, ``prod``, ``flip``, ``isnan``, ``allclose``,
``masked_fill``, ...). ``install()`` adds them as ``md.*`` functions and, where torch has one, as
Tensor methods. Gradients come from the ops they are written with.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from . import _core
from . import functional as F
from ._core import Tensor

# ---- creation


def linspace(start, end, steps, *, dtype="float32", device="cpu", requires_grad=False) -> Tensor:
    """``steps`` values from ``start`` to ``end`` inclusive, computed as torch does (a float32
    step, the first half counted up from ``start`` and the second half down from ``end``), so the
    two libraries give the same bits."""
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
    if dtype not in ("float32", "bfloat16"):
        raise TypeError(f"linspace: dtype must be float32 or bfloat16, got {dtype}")
    s, e = np.float32(start), np.float32(end)
    if steps == 1:
        values = np.array([s], dtype=np.float32)
    else:
        step = (e - s) / np.float32(steps - 1)
        # torch's kernel multiplies and adds with one rounding (a fused multiply-add); in float64 the
        # product of two float32 values is exact, so one rounding to float32 at the end matches it
        i = np.arange(steps, dtype=np.float64)
        d = np.float64
        values = np.where(i < steps // 2, d(s) + d(step) * i, d(e) - d(step) * (steps - 1 - i)).astype(np.float32)
    return _core.tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input: Tensor, fill_value, *, dtype=None, device=None) -> Tensor:
    return _core.full(input.shape, fill_value, dtype=dtype or input.dtype, device=device or input.device)


def empty_like(input: Tensor, *, dtype=None, device=None) -> Tensor:
    return _core.empty(input.shape, dtype=dtype or input.dtype, device=device or input.device)


def rand_like(input: Tensor, *, generator=None) -> Tensor:
    return _core.rand(input.shape, generator=generator, device=input.device)


# ---- reductions


def _reduce_all(input: Tensor) -> Tensor:
    return input.reshape(-1)


def min(input: Tensor, dim=None, keepdim: bool = False):  # noqa: A001 (torch's name)
    """``min(t)``: the smallest element; ``min(t, dim)``: (values, indices) as ``max``;
    ``min(t, other)``: the elementwise minimum."""
    if isinstance(dim, Tensor):
        return F.minimum(input, dim)
    if dim is None:
        return -((-input).max())
    result = (-input).max(dim, keepdim)
    return type(result)(-result.values, result.indices)


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (of the flattened tensor when ``dim`` is None); ties give the
    first, as in torch."""
    if dim is None:
        idx = _reduce_all(input).max(0).indices
        return idx.reshape([1] * input.ndim) if keepdim else idx
    return input.max(dim, keepdim).indices


def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return argmax(-input, dim, keepdim)


def var(input: Tensor, dim=None, *, correction=1, unbiased=None, keepdim: bool = False) -> Tensor:
    """Variance over ``dim`` (all dims when None) with Bessel's correction by default, as torch."""
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = tuple(range(input.ndim)) if dim is None else ((dim,) if isinstance(dim, int) else tuple(dim))
    n = 1
    for d in dims:
        n *= input.shape[d]
    centred = input - input.mean(dims, keepdim=True)
    total = (centred * centred).sum(dims, keepdim=keepdim)
    # no degrees of freedom left (one element, unbiased): NaN, as torch
    return total / (n - correction) if n - correction > 0 else total * math.nan


def std(input: Tensor, dim=None, *, correction=1, unbiased=None, keepdim: bool = False) -> Tensor:
    return var(input, dim, correction=correction, unbiased=unbiased, keepdim=keepdim).sqrt()


def prod(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Product over ``dim`` (of all elements when None); its gradient is exact with zeros in the
    input (it is the last running product of ``cumprod``)."""
    if dim is None:
        flat = _reduce_all(input)
        out = F.cumprod(flat, 0)[-1] if flat.shape[0] else _core.ones([], device=input.device)
        return out.reshape([1] * input.ndim) if keepdim else out
    if input.shape[dim] == 0:
        shape = list(input.shape)
        shape[dim] = 1
        out = _core.ones(shape, device=input.device)
        return out if keepdim else out.squeeze(dim)
    out = _last(F.cumprod(input, dim), dim)
    return out.unsqueeze(dim) if keepdim else out


def _last(t: Tensor, dim: int) -> Tensor:
    index = [builtins.slice(None)] * t.ndim
    index[dim] = -1
    return t[tuple(index)]


# ---- elementwise and selection


def where(condition, input, other) -> Tensor:
    """``input`` where ``condition`` is nonzero, else ``other`` (numbers allowed); masks from
    comparisons are float32 1/0 here."""
    return F.where(condition, input, other)


def masked_fill(input: Tensor, mask, value) -> Tensor:
    return F.where(mask, value, input)


def lerp(input: Tensor, end, weight) -> Tensor:
    return input + (end - input) * weight


def flip(input: Tensor, dims) -> Tensor:
    """The elements in reverse order along each of ``dims``."""
    out = input
    for d in (dims,) if isinstance(dims, int) else dims:
        n = out.shape[d]
        out = out.index_select(d, _core.arange(n - 1, -1, -1, device=out.device))
    return out


def isnan(input: Tensor) -> Tensor:
    """A float32 mask (there is no bool dtype): 1 where input is NaN."""
    return input != input


def isfinite(input: Tensor) -> Tensor:
    return (input - input) == 0


def isinf(input: Tensor) -> Tensor:
    return input.abs() == math.inf


def allclose(input: Tensor, other, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    b = other.numpy() if isinstance(other, Tensor) else other
    return bool(np.allclose(input.numpy(), b, rtol=rtol, atol=atol, equal_nan=equal_nan))


# names that are plain aliases of md.functional
_ALIASES = (
    "abs", "cos", "cumprod", "cumsum", "exp", "gather", "index_select", "log", "matmul", "sigmoid", "sin",
    "sqrt", "tanh",
)  # fmt: skip

_FUNCTIONS = {
    "allclose": allclose,
    "argmax": argmax,
    "argmin": argmin,
    "empty_like": empty_like,
    "flip": flip,
    "full_like": full_like,
    "isfinite": isfinite,
    "isinf": isinf,
    "isnan": isnan,
    "lerp": lerp,
    "linspace": linspace,
    "masked_fill": masked_fill,
    "min": min,
    "prod": prod,
    "rand_like": rand_like,
    "std": std,
    "var": var,
    "where": where,
}

_METHODS = {
    "allclose": allclose,
    "argmax": argmax,
    "argmin": argmin,
    "flip": flip,
    "isfinite": isfinite,
    "isinf": isinf,
    "isnan": isnan,
    "lerp": lerp,
    "masked_fill": masked_fill,
    "min": min,
    "prod": prod,
    "std": std,
    "var": var,
    "where": lambda self, condition, other: F.where(condition, self, other),
}


def install(namespace: dict) -> list[str]:
    """Adds the functions to ``namespace`` (the md package) and the methods to Tensor; returns the
    names added, for ``__all__``."""
    for name, fn in _METHODS.items():
        setattr(Tensor, name, fn)
    added = dict(_FUNCTIONS)
    added.update({name: getattr(F, name) for name in _ALIASES})
    namespace.update(added)
    return sorted(added)
