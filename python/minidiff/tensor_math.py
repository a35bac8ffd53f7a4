"""More torch names composed from native ops: rounding (``floor``, ``ceil``, ``trunc``, ``round``,
``sign``, ``%``, ``//``), ``norm``, ``logsumexp``, ``roll``, ``tril``/``triu``/``diag``,
``repeat_interleave``, ``outer``, ``diff``, ``sort``/``argsort``/``topk``, ``nonzero``, boolean-mask
indexing (``t[t > 0]``, ``t[mask] = v``, ``t[[True, False]]``), the logical and bitwise ops (``&``,
``|``, ``^``, ``~``, ``logical_and``, ...) and NumPy's keyword spellings (``axis=``, ``keepdims=``),
which torch accepts too. ``install()`` adds them to ``md`` and, where torch has one, to Tensor.

Data-dependent results (sorting, ``nonzero``, masks) compute their indices on the host, as torch
does for ``nonzero`` and masks (a device synchronisation), and gather the values with the native
differentiable ops, so gradients flow to the values. Rounding and sign have zero gradient, as in
torch.
"""

from __future__ import annotations

import builtins
import functools
import operator
import os
from collections import namedtuple

import numpy as np

from . import _core
from . import functional as F
from ._core import Tensor
from ._dtypes import INT_BITS, INT_DTYPES, LOW_FLOATS
from ._dtypes import check_scalar_fits as _check_scalar_fits
from .autograd import enable_grad, no_grad
from .tensor_ops import _dim_list, _dims, _narrow_ints_in_int64, _result_dtype
from .tensor_ops import contiguous_format as _contiguous_format

SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])

_EXACT_INTEGERS = float(2**23)  # float32 values at or above this magnitude have no fraction


def _with_zero_grad(values: Tensor, input: Tensor) -> Tensor:
    """values (computed without a graph) as a function of input with zero gradient, as torch
    gives for piecewise-constant functions: a tensor that requires grad when input does."""
    if not (input.requires_grad and _core.is_grad_enabled()):
        return values
    return F.where(_core.zeros(input.shape, device=input.device), input, values)


def _float_input(op: str, input) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    return input


def _refuse_bool(op: str, *tensors) -> None:
    """A TypeError where torch has no kernel for bool tensors."""
    for t in tensors:
        if isinstance(t, Tensor) and t.dtype == "bool":
            raise TypeError(f"{op}: not supported for bool tensors (shape {list(t.shape)}), as in torch; use .long()")


# ---- rounding


def _trunc_values(x: Tensor) -> Tensor:
    small = x.abs() < _EXACT_INTEGERS  # false for NaN and inf, which stay as they are
    whole = F.where(small, x, 0.0).long().to(x.dtype)  # the cast truncates toward zero
    return F.where(small, whole, x)


def _piecewise_constant(op: str, input, values) -> Tensor:
    """``values(x)`` of a float tensor, computed outside the graph and attached with zero
    gradient (the rounding functions); an int64 tensor is already whole and comes back copied (a
    bool one is refused, as torch has no rounding of bools)."""
    x = _float_input(op, input)
    _refuse_bool(op, x)
    if x.dtype in INT_DTYPES:
        return x.clone()
    with no_grad():  # 16-bit floats in float32 (their steps would round at each op), rounded back once
        out = values(x.detach().float()).to(x.dtype) if x.dtype in LOW_FLOATS else values(x.detach())
    return _with_zero_grad(out, x)


def trunc(input: Tensor) -> Tensor:
    return _piecewise_constant("trunc", input, _trunc_values)


def _floor_values(x: Tensor) -> Tensor:
    t = _trunc_values(x)
    return t - (x < t).to(x.dtype)


def _ceil_values(x: Tensor) -> Tensor:
    t = _trunc_values(x)
    return t + (x > t).to(x.dtype)


def floor(input: Tensor) -> Tensor:
    return _piecewise_constant("floor", input, _floor_values)


def ceil(input: Tensor) -> Tensor:
    return _piecewise_constant("ceil", input, _ceil_values)


def _round_values(x: Tensor) -> Tensor:
    # adding and subtracting 2^23 rounds to the nearest integer, ties to even, in float32
    # arithmetic (floor(x + 0.5) would round 0.49999997 up)
    a = x.abs()
    r = (a + _EXACT_INTEGERS) - _EXACT_INTEGERS
    return F.where(a < _EXACT_INTEGERS, F.where(x < 0, -r, r), x)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 (torch's name)
    """Half to even, as torch (and NumPy). With decimals, ``round(x * 10**d) / 10**d`` (for d < 0,
    ``round(x / 10**-d) * 10**-d``), the power taken in float32 as torch's: |d| > 38 gives NaN."""
    decimals = operator.index(decimals)
    if decimals == 0:
        return _piecewise_constant("round", input, _round_values)
    with np.errstate(over="ignore"):  # 10 ** 39 and up: inf, as in torch
        ten_pow = float(np.float32(10.0) ** np.float32(builtins.abs(decimals)))
    if decimals < 0:
        return _piecewise_constant("round", input, lambda x: _round_values(x / ten_pow) * ten_pow)
    return _piecewise_constant("round", input, lambda x: _round_values(x * ten_pow) / ten_pow)


def sign(input: Tensor) -> Tensor:
    x = _float_input("sign", input)
    if x.dtype == "bool":
        return x.clone()
    with no_grad():
        xd = x.detach()
        out = (xd > 0).to(x.dtype) - (xd < 0).to(x.dtype)  # 0 for NaN, as torch's
    return _with_zero_grad(out, x) if x.dtype not in INT_DTYPES else out.to(x.dtype)


def frac(input: Tensor) -> Tensor:
    return input - trunc(input)


def _host_operand(v, like: Tensor) -> np.ndarray:
    if isinstance(v, Tensor):
        return v.detach().numpy()
    return np.asarray(v, dtype=np.int64 if like.dtype == "int64" and isinstance(v, (int, np.integer)) else np.float32)


def _division(op: str, a, b, values_fn, grad_b_fn, grad_a: bool = True) -> Tensor:
    """An exact elementwise division result (``values_fn`` on the host, in the operands' own
    dtypes, as torch's kernels compute it: the result of ``a / b`` rounded to float32 first, as
    ``floor(a / b)`` would, is wrong near integers), as a function of the operands with torch's
    gradients: 1 for ``a`` (0 without ``grad_a``), ``grad_b_fn(quotient)`` for ``b``. int64
    operands stay int64 and raise ZeroDivisionError on a zero divisor, as torch's."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected a Tensor operand")
    a, b = (v.long() if isinstance(v, Tensor) and v.dtype == "bool" else v for v in (a, b))  # as torch
    if builtins.any(isinstance(v, Tensor) and v.dtype in LOW_FLOATS for v in (a, b)):
        # in float32 (the host values and the gradient's slope are float32), rounded once to torch's dtype
        widened = (v.float() if isinstance(v, Tensor) and v.dtype in LOW_FLOATS else v for v in (a, b))
        return _division(op, *widened, values_fn, grad_b_fn, grad_a).to(_result_dtype(a, b))
    like = a if isinstance(a, Tensor) else b
    device = like.device
    x, y = _host_operand(a, like), _host_operand(b, like)
    integral = x.dtype == np.int64 and y.dtype == np.int64
    if not integral:
        x, y = x.astype(np.float32), y.astype(np.float32)
    elif (y == 0).any():
        raise ZeroDivisionError(f"{op}: integer division by zero")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        values, quotient = values_fn(x, y)
        slope_b = None if integral else grad_b_fn(quotient)
    # np.array, not np.ascontiguousarray, which makes a 0-d result 1-d
    out = _core.tensor(np.array(values, order="C"), dtype="int64" if integral else "float32", device=device)
    grads = [t for t in (a, b) if isinstance(t, Tensor) and t.requires_grad]
    if integral or not grads or not _core.is_grad_enabled():
        return out
    # value: exactly out; gradient: that of a + grad_b * b (the attached terms are x - x == 0)
    attached = out
    if isinstance(a, Tensor) and a.requires_grad:
        # an infinite a makes the term NaN, but the result is NaN there already (inf % b)
        attached = attached + (a - a.detach()) if grad_a else _with_zero_grad(attached, a)
    if isinstance(b, Tensor) and b.requires_grad:
        attached = attached + _zero_with_slope(b, y, slope_b)
    return attached


def _zero_with_slope(t: Tensor, values: np.ndarray, slope: np.ndarray) -> Tensor:
    """Zeros whose gradient with respect to t is ``slope`` (a host array of the result's shape;
    ``values`` are t's on the host): ``slope * (t - t.detach())``, but for the two cases where that
    product is NaN, not 0. An infinite t (``fmod(a, inf)`` is a finite a) is held constant: its
    slope, ``-trunc(a / inf)``, is 0 for fmod (remainder's 1 for a negative a is lost). An infinite
    slope (a / b overflowed float32) goes in as two finite factors whose product overflows to it in
    the backward only (for an upstream gradient above 3e-39 in magnitude)."""
    device = t.device
    infinite_t = np.isinf(values)
    if infinite_t.any():
        t = F.where(_core.tensor(infinite_t.astype(np.float32), device=device), 0.0, t)
    delta = t - t.detach()
    slope = np.array(slope, dtype=np.float32, order="C")
    infinite = np.isinf(slope)
    if not infinite.any():
        return delta * _core.tensor(slope, device=device)
    big = np.finfo(np.float32).max
    first = np.where(infinite, np.copysign(big, slope), slope).astype(np.float32)
    second = np.where(infinite, big, 1.0).astype(np.float32)
    return delta * _core.tensor(first, device=device) * _core.tensor(second, device=device)


def _floor_quotient(x, y):
    q = np.floor_divide(x, y)  # Python's (and torch's) floor division, from fmod: exact
    return q, q


def _remainder(x, y):
    return np.remainder(x, y), np.floor_divide(x, y)


def _fmod(x, y):
    # torch's gradient for the divisor is -a.div(b, rounding_mode="trunc"): the float32 quotient
    # truncated, 3 for 1.1622362 / 0.37810677 (trunc((a - fmod(a, b)) / b) rounds that to 2.9999998)
    return np.fmod(x, y), np.trunc(np.divide(x, y)) if x.dtype != np.int64 else None


@_narrow_ints_in_int64(2)
def floor_divide(input: Tensor, other) -> Tensor:
    """``a // b``: the quotient rounded down (torch's semantics since 1.13), exact: computed on the
    host from the remainder, as torch does. Its gradient is zero for both operands (torch's
    backward raises)."""
    return _division("floor_divide", input, other, _floor_quotient, lambda q: np.zeros_like(q), grad_a=False)


@_narrow_ints_in_int64(2)
def remainder(input: Tensor, other) -> Tensor:
    """``a % b`` with the sign of b (Python's and torch's ``remainder``), exact. Its gradient is 1
    for a and ``-(a // b)`` for b, as torch's."""
    return _division("remainder", input, other, _remainder, lambda q: -q)


@_narrow_ints_in_int64(2)
def fmod(input: Tensor, other) -> Tensor:
    """The remainder with the sign of a (C's fmod), exact. Its gradient is 1 for a and
    ``-trunc(a / b)`` for b, as torch's."""
    return _division("fmod", input, other, _fmod, lambda q: -q)


# ---- reductions


def _safe_root(s: Tensor, exponent: float) -> Tensor:
    """``s ** exponent`` with a zero (not inf * 0 = NaN) gradient where s is 0, as torch's norm
    has; NaN stays NaN."""
    zero = s == 0
    return F.where(zero, 0.0, F.where(zero, 1.0, s) ** exponent)


def norm(input: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """The vector p-norm over ``dim`` (all elements by default): p = 2 / "fro", 1, inf, -inf, 0
    (the count of non-zeros) or any other number."""
    x = _float_input("norm", input)
    _refuse_bool("norm", x)
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype in INT_DTYPES:  # a float result for every p (torch refuses integers)
        x = x.float()
    if x.dtype in LOW_FLOATS:  # computed in float32 (one rounding), as torch's kernel
        return norm(x.float(), p, dim, keepdim).to(x.dtype)
    dims = _dims("norm", dim, x.ndim)
    if p == "nuc":
        raise ValueError("norm: the nuclear norm is not supported")
    kw = {"dim": dims, "keepdim": keepdim}
    if p in ("fro", 2, 2.0):
        return _safe_root((x * x).sum(**kw), 0.5)
    if p in (1, 1.0):
        return x.abs().sum(**kw)
    if p in (float("inf"), float("-inf")):
        # the largest (smallest) magnitude; its gradient is split evenly between tied elements,
        # as torch's (amax alone would give it to the first)
        a = x.abs()
        extreme = a.amax if p > 0 else a.amin
        value = extreme(**kw)
        ties = (a.detach() == extreme(dim=dims, keepdim=True).detach()).to(a.dtype)
        # the tied elements' mean, with the gradient split between them; a slice whose extreme is
        # NaN has no ties and gets zero gradient, as torch's. An infinite extreme is that mean
        # itself (value + (inf - inf) would be NaN)
        count = ties.sum(**kw)
        shared = F.where(ties, a, 0.0).sum(**kw) / F.where(count > 0, count, 1.0)
        infinite = value.detach().abs() == float("inf")
        return F.where(infinite, shared, value.detach() + (shared - shared.detach()))
    if p in (0, 0.0):
        # the count of non-zeros, kept in the graph with zero gradients (as torch's): a loss built
        # on it still runs backward
        nz = x != 0
        return nz.sum(**kw) + F.where(nz, 0.0, x * 0.0).sum(**kw)
    if not isinstance(p, (int, float)):
        raise ValueError(f"norm: unsupported p={p!r}")
    if p < 0:
        # a zero element makes the sum infinite and the norm 0, as in torch, with zero gradient for
        # the whole slice (torch's): the zeros' inf stays out of the graph, not inf * 0 = NaN
        nz = x != 0
        powered = F.where(nz, F.where(nz, x.abs(), 1.0) ** float(p), float("inf"))
        return powered.sum(**kw) ** (1.0 / float(p))
    # zero elements (and all-zero slices) get zero gradient, as in torch, not inf * 0
    nz = x != 0
    powered = F.where(nz, F.where(nz, x.abs(), 1.0) ** float(p), 0.0)
    return _safe_root(powered.sum(**kw), 1.0 / float(p))


def logsumexp(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(x), dim))`` without overflow: the largest value is taken out first."""
    x = _float_input("logsumexp", input)
    if x.dtype in (*INT_DTYPES, "bool"):  # a float result, as torch's
        x = x.float()
    if x.dtype in LOW_FLOATS:  # in float32, rounded once, as torch's kernel
        return logsumexp(x.float(), dim, keepdim).to(x.dtype)
    dims = _dims("logsumexp", dim, x.ndim)
    if x.numel() == 0:  # an empty sum: log(0) = -inf (amax has no empty reduction)
        out = F.log(F.exp(x).sum(dim=dims, keepdim=True))
    else:
        m = x.detach().amax(dim=dims, keepdim=True)
        m = F.where(m.abs() < float("inf"), m, 0.0)  # an all -inf (or inf) slice keeps its inf
        out = F.log(F.exp(x - m).sum(dim=dims, keepdim=True)) + m
    if keepdim:
        return out
    out = out.squeeze(dims)  # drops the last other reference to the sum, so it is taken over, not copied
    return out._own_result()  # a new tensor, as torch's, not a view of the sum


# ---- shapes and selections


def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """The elements shifted by ``shifts`` along ``dims`` (ints or sequences of one length; a dim may
    repeat), wrapping around; without ``dims`` over the flattened tensor, as torch's."""
    x = _float_input("roll", input)
    if dims is None:
        return roll(x.flatten(), shifts, 0).reshape(*x.shape)._own_result()  # roll's new tensor, not a view
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
    if x.ndim == 0:
        raise IndexError(f"roll: dims {dims} given for a 0-dim tensor")
    dims = [_dim_list("roll", d, x.ndim)[0] for d in dims]  # each checked; repeats roll twice
    rolled = x
    for s, d in zip(shifts, dims):
        n = x.shape[d]
        s = s % n if n else 0
        if s:
            rolled = F.cat([rolled.narrow(d, n - s, s), rolled.narrow(d, 0, n - s)], d)
    if rolled is x:  # a new contiguous tensor, as torch's, even for a whole turn
        return x.clone(memory_format=_contiguous_format)
    return rolled


def _triangle(op: str, input: Tensor, diagonal: int, lower: bool) -> Tensor:
    x = _float_input(op, input)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected at least 2 dims, got shape {tuple(x.shape)}")
    rows, cols = x.shape[-2:]
    keep = np.tri(rows, cols, diagonal, dtype=bool)
    if not lower:
        keep = ~np.tri(rows, cols, diagonal - 1, dtype=bool)
    mask = _core.tensor(keep, device=x.device)
    if x.dtype in (*INT_DTYPES, "bool"):
        return F.where(mask, x, _core.zeros((), dtype=x.dtype, device=x.device))
    return F.where(mask, x, 0.0)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    return _triangle("tril", input, diagonal, lower=True)


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    return _triangle("triu", input, diagonal, lower=False)


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D tensor's diagonal matrix, or a 2-D tensor's diagonal (``diagonal`` above the main)."""
    x = _float_input("diag", input)
    if x.ndim == 1:
        n = x.shape[0] + abs(diagonal)
        rows = np.arange(x.shape[0]) + max(-diagonal, 0)
        cols = np.arange(x.shape[0]) + max(diagonal, 0)
        # each output element's source: its diagonal entry, or a zero appended after the input
        src = np.full((n, n), x.shape[0], dtype=np.int64)
        src[rows, cols] = np.arange(x.shape[0])
        padded = F.cat([x, _core.zeros((1,), dtype=x.dtype, device=x.device)], 0)
        return padded[_core.tensor(src.reshape(-1), device=x.device)].reshape(n, n)._own_result()
    if x.ndim == 2:
        rows, cols = x.shape
        i = np.arange(rows)
        j = i + diagonal
        ok = (j >= 0) & (j < cols)
        flat = (i[ok] * cols + j[ok]).astype(np.int64)
        return x.reshape(-1)[_core.tensor(flat, device=x.device)]
    raise ValueError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(x.shape)}")


def repeat_interleave(input: Tensor, repeats, dim=None) -> Tensor:
    x = _float_input("repeat_interleave", input)
    if dim is None:
        x, dim = x.flatten(), 0
    elif x.ndim == 0:  # its dim 0 (or -1) repeats it as a 1-element tensor
        _dim_list("repeat_interleave", dim, 0)
        x, dim = x.reshape(1), 0
    (dim,) = _dims("repeat_interleave", dim, x.ndim)
    n = x.shape[dim]
    if isinstance(repeats, Tensor) and repeats.dtype not in ("int64", "int32"):  # (as torch's)
        raise TypeError(f"repeat_interleave: repeats must be an int64 or int32 tensor, got {repeats.dtype}")
    counts = repeats.numpy().astype(np.int64) if isinstance(repeats, Tensor) else np.asarray(repeats, dtype=np.int64)
    if counts.ndim == 0 or counts.shape == (1,):
        counts = np.full(n, int(counts.reshape(-1)[0]))
    if counts.shape != (n,) or (counts < 0).any():
        raise ValueError(f"repeat_interleave: repeats {counts.tolist()} do not fit dim {dim} of shape {tuple(x.shape)}")
    total = builtins.sum(int(c) for c in counts)  # Python ints: a sum past int64 must not wrap around
    if total * (x.numel() // n if n else 1) >= 2**62:
        raise ValueError(f"repeat_interleave: {total} repeats along dim {dim} of shape {tuple(x.shape)} are too many")
    index = _core.tensor(np.repeat(np.arange(n, dtype=np.int64), counts), device=x.device)
    return F.index_select(x, dim, index)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    if input.ndim != 1 or vec2.ndim != 1:
        raise ValueError(f"outer: expected two 1-D tensors, got shapes {tuple(input.shape)} and {tuple(vec2.shape)}")
    return input.unsqueeze(1) * vec2.unsqueeze(0)


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The n-th forward difference along dim (after ``prepend`` and ``append``), as torch's; of
    bools, the ``!=`` of neighbours (torch's logical_xor)."""
    x = _float_input("diff", input)
    if x.ndim == 0:
        raise ValueError("diff: expects input to be at least one-dimensional, got a 0-dim tensor")
    (dim,) = _dims("diff", dim, x.ndim)
    parts = [p for p in (prepend, x, append) if p is not None]
    dtype = _result_dtype(*parts)
    parts = [p if p.dtype == dtype else p.to(dtype) for p in parts]  # one dtype, as torch promotes them
    x = F.cat(parts, dim) if len(parts) > 1 else parts[0].clone()
    for _ in range(n):
        m = x.shape[dim]
        if m == 0:
            break
        later, earlier = x.narrow(dim, 1, m - 1), x.narrow(dim, 0, m - 1)
        x = later != earlier if dtype == "bool" else later - earlier
    return x


def _sort_order(a: np.ndarray, descending: bool) -> np.ndarray:
    """Stable sort indices along the last axis; NaN counts as the largest value, as in torch."""
    nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, dtype=bool)
    if not descending:
        return np.argsort(a, axis=-1, kind="stable")  # NumPy puts NaN last too
    key = np.where(nan, 0, -a.astype(np.float64))
    idx = np.broadcast_to(np.arange(a.shape[-1]), a.shape)
    # lexsort's last key is the primary one: NaN first, then descending values, then position
    flat = [k.reshape(-1, a.shape[-1]) for k in (idx, key, ~nan)]
    return np.stack([np.lexsort((i, k, nn)) for i, k, nn in zip(*flat)]).reshape(a.shape)


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """(values, indices), values differentiable (gathered at the indices); the order is stable."""
    x = _float_input("sort", input)
    (dim,) = _dims("sort", dim, x.ndim) or (0,)
    if x.ndim == 0:
        return SortResult(x.clone(), _core.zeros((), dtype="int64", device=x.device))
    if x.numel() == 0:
        return SortResult(x.clone(), _core.zeros(x.shape, dtype="int64", device=x.device))
    a = np.moveaxis(x.detach().numpy(), dim, -1)
    order = np.ascontiguousarray(np.moveaxis(_sort_order(a, descending), -1, dim)).astype(np.int64)
    indices = _core.tensor(order, device=x.device)
    return SortResult(F.gather(x, dim, indices), indices)


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    _dims("argsort", dim, _float_input("argsort", input).ndim)  # the error names argsort
    return sort(input, dim, descending).indices


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    x = _float_input("topk", input)
    _refuse_bool("topk", x)
    (d,) = _dims("topk", dim, x.ndim) or (0,)
    size = x.shape[d] if x.ndim else 1
    if not 0 <= k <= size:
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of shape {tuple(x.shape)}")
    values, indices = sort(x, d, descending=largest)
    if x.ndim == 0:
        return TopkResult(values, indices)
    # new tensors, as torch's: the narrowed sort's buffers are taken over (the sort is no longer held)
    values, indices = values.narrow(d, 0, k), indices.narrow(d, 0, k)
    return TopkResult(values._own_result(), indices._own_result())


def nonzero(input: Tensor, *, as_tuple: bool = False):
    """Indices of the non-zero elements: (n, ndim) int64, or one int64 tensor per dim."""
    x = _float_input("nonzero", input)
    values = x.detach().numpy()
    if values.ndim == 0:  # torch: (1, 0) for a non-zero scalar, (0, 0) for a zero
        if as_tuple:
            return (_core.zeros((int(values != 0),), dtype="int64", device=x.device),)
        return _core.zeros((int(values != 0), 0), dtype="int64", device=x.device)
    where_nz = np.nonzero(values)
    if as_tuple:
        return tuple(_core.tensor(w.astype(np.int64), device=x.device) for w in where_nz)
    coords = np.stack(where_nz, axis=1) if where_nz else np.zeros((0, 0))
    return _core.tensor(coords.astype(np.int64).reshape(-1, x.ndim), device=x.device)


# ---- logical and bitwise ops
#
# ``&``, ``|``, ``^`` and ``~`` combine bool masks (and Python bools) into a bool mask, and are
# bitwise on the integer dtypes, in torch's promoted dtype (a mask meeting an integer tensor or a
# Python int counts as 0/1). Float tensors are refused, as torch refuses them. The ``logical_*``
# ops take any tensor, nonzero (NaN included) being true.


def _left_shift(x: np.ndarray, y: np.ndarray, bits: int) -> np.ndarray:
    """torch's ``x << y`` in a ``bits``-wide result (wrapped by the caller): 0 for a shift that is
    negative or not less than the width."""
    valid = (y >= 0) & (y < bits)
    return np.where(valid, np.left_shift(x, np.where(valid, y, 0)), 0)


def _right_shift(x: np.ndarray, y: np.ndarray, bits: int) -> np.ndarray:
    """torch's arithmetic ``x >> y``: a shift that is negative or not less than the width gives the
    sign (-1 or 0)."""
    valid = (y >= 0) & (y < bits)
    return np.where(valid, np.right_shift(x, np.where(valid, y, 0)), np.where(x < 0, -1, 0))


_BITWISE = {
    # op: (symbol, on two masks (None: refused), on int64 host arrays and the result's bit width)
    "bitwise_and": ("&", lambda a, b: (a * b) != 0, lambda x, y, bits: np.bitwise_and(x, y)),
    "bitwise_or": ("|", lambda a, b: (a + b) != 0, lambda x, y, bits: np.bitwise_or(x, y)),
    "bitwise_xor": ("^", lambda a, b: a != b, lambda x, y, bits: np.bitwise_xor(x, y)),
    "bitwise_left_shift": ("<<", None, _left_shift),
    "bitwise_right_shift": (">>", None, _right_shift),
}


def _mask_values(op: str, t: Tensor) -> Tensor:
    """t, a bool tensor or a float one of zeros and ones, as a bool mask (no history), or a
    TypeError (one number comes back to the host to check a float one)."""
    if t.dtype == "bool":
        return t.detach()
    raise TypeError(
        f"{op}: not supported for a {t.dtype} tensor (shape {tuple(t.shape)}), as in torch: bitwise ops take "
        "integer and bool tensors; use logical_* to treat nonzero as true"
    )


def _bitwise_kind(op: str, v) -> str:
    """An operand's kind: "mask" (a bool tensor or a Python bool) or "int" (an integer tensor or
    a Python int); a float tensor is refused."""
    if isinstance(v, Tensor):
        return "int" if v.dtype in INT_DTYPES else "mask"
    if isinstance(v, (bool, np.bool_)):
        return "mask"
    if isinstance(v, (int, np.integer)):
        return "int"
    raise TypeError(f"{op}: operands must be md tensors, bools or ints, got {type(v).__name__}")


def _check_operands(op: str, input, other) -> None:
    """A tensor among the two operands, and shapes that broadcast; else an error naming op."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"{op}: expected a Tensor operand")
    shapes = [tuple(v.shape) for v in (input, other) if isinstance(v, Tensor)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{op}: shapes {shapes[0]} and {shapes[1]} cannot be broadcast together") from None


def _bitwise(op: str, input, other) -> Tensor:
    symbol, on_masks, on_ints = _BITWISE[op]
    name = f"{op} ({symbol})"
    _check_operands(name, input, other)
    device = (input if isinstance(input, Tensor) else other).device
    kinds = [_bitwise_kind(name, v) for v in (input, other)]
    # tensor masks checked and made float32; Python bools and ints as they are
    values = [
        _mask_values(name, v) if k == "mask" and isinstance(v, Tensor) else v for v, k in zip((input, other), kinds)
    ]
    if kinds == ["mask", "mask"]:
        if on_masks is None:
            raise TypeError(f"{name}: not supported for two bools, as in torch; convert them with .long()")
        return on_masks(*(v if isinstance(v, Tensor) else float(v) for v in values))
    # in int64 on the host, exact, then wrapped into torch's result dtype
    dtype = _result_dtype(input, other)
    x, y = (v.numpy().astype(np.int64) if isinstance(v, Tensor) else np.int64(v) for v in values)
    out = np.array(on_ints(x, y, INT_BITS[dtype]), dtype=np.int64, order="C")
    return _core.tensor(out, dtype="int64", device=device).to(dtype)


def bitwise_and(input, other) -> Tensor:
    """``input & other``: of two masks (bool tensors, as comparisons give, or Python bools) the
    bool mask where both are true; of integer tensors (and ints) the bitwise and in torch's result
    dtype, exact, computed on the host with NumPy (integer tensors never require grad). A float
    tensor is a TypeError, as torch refuses floats."""
    return _bitwise("bitwise_and", input, other)


def bitwise_or(input, other) -> Tensor:
    """``input | other``: masks give the bool mask where either is true; integers the bitwise or
    (see ``bitwise_and``)."""
    return _bitwise("bitwise_or", input, other)


def bitwise_xor(input, other) -> Tensor:
    """``input ^ other``: masks give the bool mask where exactly one is true; integers the bitwise
    exclusive or (see ``bitwise_and``)."""
    return _bitwise("bitwise_xor", input, other)


def bitwise_left_shift(input, other) -> Tensor:
    """``input << other`` of integers (and bools, as 0/1 int64), in torch's result dtype: wrapped,
    and 0 where the shift is negative or not less than the dtype's width, as torch's."""
    return _bitwise("bitwise_left_shift", input, other)


def bitwise_right_shift(input, other) -> Tensor:
    """``input >> other``, arithmetic (the sign fills in), in torch's result dtype; a shift that is
    negative or not less than the dtype's width gives -1 for a negative input and 0 otherwise, as torch's."""
    return _bitwise("bitwise_right_shift", input, other)


def _gcd_lcm(op: str, input, other, values) -> Tensor:
    for name, v in (("input", input), ("other", other)):
        if not isinstance(v, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(v).__name__}, as torch's")
        if v.dtype not in INT_DTYPES:
            raise TypeError(f"{op}: not supported for a {v.dtype} tensor (shape {tuple(v.shape)}), as in torch")
    _check_operands(op, input, other)
    dtype = _result_dtype(input, other)
    out = np.array(values(input.numpy().astype(np.int64), other.numpy().astype(np.int64), dtype), order="C")
    return _core.tensor(out.astype(np.int64), dtype="int64", device=input.device).to(dtype)


def _lcm_values(x: np.ndarray, y: np.ndarray, dtype: str) -> np.ndarray:
    """torch's ``abs(x / gcd * y)`` in C++ arithmetic: a product of 32 or 64-bit integers wraps in
    ``dtype`` before the abs (which wraps too); narrower ones are computed in int and wrap after."""
    g = np.gcd(x, y)
    with np.errstate(over="ignore"):
        product = (x // np.where(g == 0, 1, g) * y).astype(dtype if INT_BITS[dtype] >= 32 else np.int64)
    return np.where(g == 0, 0, np.abs(product))


def gcd(input: Tensor, other: Tensor) -> Tensor:
    """The greatest common divisor of integer tensors, elementwise (``gcd(0, 0)`` is 0; the result
    is not negative but where it wraps: int8's ``gcd(-128, 0)``), in torch's result dtype."""
    return _gcd_lcm("gcd", input, other, lambda x, y, dtype: np.gcd(x, y))


def lcm(input: Tensor, other: Tensor) -> Tensor:
    """The least common multiple of integer tensors, elementwise (0 where either is 0), computed as
    torch's: ``abs(a / gcd * b)`` with the product wrapped in the result dtype."""
    return _gcd_lcm("lcm", input, other, _lcm_values)


def bitwise_not(input: Tensor) -> Tensor:
    """``~input``: a bool mask's complement, or an integer tensor's bitwise not, ``-x - 1`` (exact,
    wrapping in its dtype as torch's). A float tensor is a TypeError."""
    x = _float_input("bitwise_not (~)", input)
    if x.dtype in INT_DTYPES:
        return -x - 1  # (wrapping in x's dtype)
    return _mask_values("bitwise_not (~)", x) == 0


def _truth(op: str, v):
    """v as a float32 mask of where it is nonzero (NaN included), or a Python float 0/1."""
    if isinstance(v, Tensor):
        return v.detach() != 0
    if isinstance(v, (bool, int, float, np.number, np.bool_)):
        return float(v != 0)
    raise TypeError(f"{op}: operands must be md tensors or numbers, got {type(v).__name__}")


def _logical(op: str, input, other, combine) -> Tensor:
    _check_operands(op, input, other)
    return combine(_truth(op, input), _truth(op, other))


def logical_and(input: Tensor, other) -> Tensor:
    """A float32 mask (there is no bool dtype): 1 where both are nonzero (NaN counts as nonzero),
    as torch's; any dtypes, broadcast together."""
    return _logical("logical_and", input, other, lambda a, b: (a * b) != 0)


def logical_or(input: Tensor, other) -> Tensor:
    """A float32 mask: 1 where either is nonzero."""
    return _logical("logical_or", input, other, lambda a, b: (a + b) != 0)


def logical_xor(input: Tensor, other) -> Tensor:
    """A float32 mask: 1 where exactly one is nonzero."""
    return _logical("logical_xor", input, other, lambda a, b: a != b)


def logical_not(input: Tensor) -> Tensor:
    """A float32 mask: 1 where input is zero (NaN counts as nonzero, so gives 0)."""
    return _float_input("logical_not", input).detach() == 0


# ---- boolean masks as indices (minidiff's comparisons give float32 0/1 masks; torch's give bool)
#
# Torch replaces a k-dim bool mask by its nonzero() positions, one index array per dim it covers,
# then indexes with them. Here the key's ints, slices, None and '...' go to the native indexing
# first (a view), which leaves only index arrays; those follow NumPy's rules, which are torch's once
# the ints are gone: the arrays broadcast together, and the result's dims replace the indexed dims
# where those are adjacent, or go to the front where a slice or None separates them.

_Advanced = namedtuple("_Advanced", ["dim", "input_dim", "index"])  # index: a bool mask or int64 positions


def _bool_list_as_mask(k):
    """A flat list of bools as the NumPy mask torch reads it as (``t[[True, False, True]]``); any
    other key as it is. A list mixing bools and ints holds integers, as torch reads it too."""
    if not isinstance(k, list) or not k or not all(isinstance(v, (bool, np.bool_)) for v in k):
        return k
    return np.array(k, dtype=bool)


def _bool_lists_as_masks(key):
    """``key`` with its lists of bools (itself, or the items of a tuple key) made masks."""
    if isinstance(key, list):
        return _bool_list_as_mask(key)
    if isinstance(key, tuple) and list in map(type, key):  # cheap for the common keys, which hold no list
        return tuple(map(_bool_list_as_mask, key))
    return key


class _BoolKey(tuple):
    """A key that held True or False: the key with None in its place (see _torch_key)."""

    falses: tuple[int, ...] = ()  # the positions in the key that held False


def _torch_key(key):
    """``key`` with torch's other spellings made ones the indexing reads: a range or an inner tuple
    is an index list, True a new dim (None) and False a new dim that the read empties (a
    _BoolKey: torch reads bools as advanced indices, so the read is a copy), and each '...' after
    the first is dropped (torch reads it as covering no dim). A NumPy uint8 array is a mask, as torch
    reads the uint8 tensor it makes."""
    if isinstance(key, np.ndarray) and key.dtype == np.uint8 and key.ndim:
        key = key != 0
    elif isinstance(key, tuple) and any(isinstance(k, np.ndarray) and k.dtype == np.uint8 and k.ndim for k in key):
        key = tuple(k != 0 if isinstance(k, np.ndarray) and k.dtype == np.uint8 and k.ndim else k for k in key)
    if isinstance(key, bool) or _is_scalar_mask(key):
        key = (key,)
    elif isinstance(key, range):
        return list(key)
    if not isinstance(key, tuple):
        return key
    if sum(k is Ellipsis for k in key) < 2 and not any(
        isinstance(k, (bool, range, tuple)) or _is_scalar_mask(k) for k in key
    ):
        return key  # the common keys
    key = tuple(bool(_bool_values(k)) if _is_scalar_mask(k) else k for k in key)  # a 0-d mask is a bool
    where = [i for i, k in enumerate(key) if isinstance(k, bool)]
    if len(where) > 1:  # torch reads them as 0-d masks broadcast together: one new dim, of size 1 if all are True
        if any(_is_mask(k) or _is_index_array(k) for k in key):
            raise IndexError(f"tensor indexing: several True/False with index lists or tensors in {key!r}")
        together = all(key[i] for i in where)
        adjacent = where[-1] - where[0] == len(where) - 1
        rest = [k for k in key if not isinstance(k, bool)]
        at = where[0] if adjacent else 0  # apart, the new dim comes first, as torch's advanced indices
        key = tuple(rest[:at] + [together] + rest[at:])
    out, falses, ellipsis, bools = [], [], False, False
    for k in key:
        if k is Ellipsis:
            if not ellipsis:
                out.append(k)
            ellipsis = True
        elif isinstance(k, bool):
            falses += [] if k else [len(out)]
            bools = True
            out.append(None)
        elif isinstance(k, (range, tuple)):
            out.append(list(k))
        else:
            out.append(k)
    if not bools:
        return tuple(out)
    key = _BoolKey(out)
    key.falses = tuple(falses)
    return key


def _is_scalar_mask(k) -> bool:
    """A 0-d mask (a comparison of 0-d tensors, or a 0-d NumPy bool): torch reads it as True/False."""
    if isinstance(k, np.ndarray):
        return k.dtype == bool and k.ndim == 0
    return isinstance(k, Tensor) and k.ndim == 0 and k.dtype in _MASK_DTYPES


def _false_dims(key: _BoolKey, ndim: int) -> list[int]:
    """The dims of key's result that its Falses make (key holds ints, slices, None and '...')."""
    if any(_is_mask(k) or _is_index_array(k) for k in key):
        raise IndexError("tensor indexing: False together with index lists or tensors is not supported")
    rest = ndim - sum(k is not None and k is not Ellipsis for k in key)
    dims, dim = [], 0
    for i, k in enumerate(key):
        if i in key.falses:
            dims.append(dim)
        dim += rest if k is Ellipsis else int(k is None or isinstance(k, slice))
    return dims


# torch's index tensors: positions (int64, int32) and masks (bool, and uint8 read as one); a
# tensor of another dtype is refused, except a 0-d int8 or int16 one, which is an int (torch's __index__)
_POSITION_DTYPES = ("int64", "int32")
_MASK_DTYPES = ("bool", "uint8")


def _check_index_dtype(k) -> None:
    if (
        isinstance(k, Tensor)
        and k.dtype not in _POSITION_DTYPES + _MASK_DTYPES
        and not (k.ndim == 0 and k.dtype in INT_DTYPES)
    ):
        raise IndexError(
            f"tensor indexing: tensors used as indices must be int64, int32, bool or uint8 tensors, got {k.dtype} "
            f"of shape {tuple(k.shape)}"
        )


def _is_mask(k) -> bool:
    if isinstance(k, np.ndarray):
        return k.dtype == bool and k.ndim > 0
    _check_index_dtype(k)
    return isinstance(k, Tensor) and k.dtype in _MASK_DTYPES and k.ndim > 0


def _is_index_array(k) -> bool:
    """An index tensor, list or NumPy array (a 0-d one is an int, as in the native indexing)."""
    return isinstance(k, list) or (isinstance(k, (Tensor, np.ndarray)) and k.ndim > 0)


def _bool_values(mask) -> np.ndarray:
    """The NumPy bool array a mask stands for: a bool array, or a bool or uint8 tensor (nonzero: true)."""
    if isinstance(mask, np.ndarray):
        return mask
    return mask.detach().numpy() != 0


def _positions_of(k) -> np.ndarray:
    if isinstance(k, Tensor):
        _check_index_dtype(k)
        return k.numpy().astype(np.int64)  # int64 or int32: a bool or uint8 tensor is a mask
    positions = np.asarray(k)
    if positions.size and positions.dtype.kind not in "iu":
        raise IndexError(f"tensor indexing: index lists and arrays must hold integers, got {k!r}")
    return positions.astype(np.int64)


def _mask_of(key, self: Tensor):
    """The boolean NumPy mask key stands for, or None when key is no mask: a bool array, or a
    float32 tensor of zeros and ones (a comparison's result) shaped as self's leading dims."""
    if not _is_mask(key):
        return None
    mask = _bool_values(key)
    if mask.ndim > self.ndim or tuple(mask.shape) != tuple(self.shape[: mask.ndim]):
        raise IndexError(
            f"tensor indexing: mask of shape {tuple(mask.shape)} does not match the tensor's shape {tuple(self.shape)}"
        )
    return mask


def _split_key(key: tuple, self: Tensor, native_get) -> tuple[Tensor, list, tuple]:
    """(view, advanced, basic): the view of self that key's ints, slices, None and '...' select
    (its masks and index arrays read as full slices), the masks and index arrays with the view dims
    they index (each mask is checked against the dims it covers), and that basic key."""
    indices = [_bool_values(k) if _is_mask(k) else _positions_of(k) if _is_index_array(k) else None for k in key]
    covers = [1 if i is None or i.dtype != bool else i.ndim for i in indices]
    rest = self.ndim - sum(n for k, n in zip(key, covers) if k is not None and k is not Ellipsis)
    basic, advanced, dim, input_dim = [], [], 0, 0
    for k, index, n in zip(key, indices, covers):
        if index is not None:  # a mask or positions
            basic += [slice(None)] * n
            advanced.append(_Advanced(dim, input_dim, index))
            dim, input_dim = dim + n, input_dim + n
        elif k is None:
            basic.append(None)
            dim += 1
        elif k is Ellipsis:
            basic.append(k)
            dim, input_dim = dim + rest, input_dim + rest
        else:  # an int (its dim leaves the view) or a slice; the native indexing checks them
            basic.append(k)
            dim, input_dim = dim + isinstance(k, slice), input_dim + 1
    view = native_get(self, tuple(basic))
    for a in advanced:
        covered = tuple(view.shape[a.dim : a.dim + a.index.ndim])
        if a.index.dtype != bool or a.index.shape == covered:
            continue
        if a.index.ndim == 1:
            raise IndexError(
                f"tensor indexing: mask of length {a.index.shape[0]} does not match dim {a.input_dim} of shape "
                f"{tuple(self.shape)}"
            )
        raise IndexError(
            f"tensor indexing: mask of shape {a.index.shape} does not match dims {a.input_dim} to "
            f"{a.input_dim + a.index.ndim - 1} {covered} of shape {tuple(self.shape)}"
        )
    return view, advanced, tuple(basic)


def _linear_index(view: Tensor, advanced: list) -> tuple[list, np.ndarray]:
    """(dims, linear): the view dims indexed, one per index array (a mask gives one per dim it
    covers: its nonzero positions), and the arrays broadcast together as offsets into those dims
    flattened in order."""
    dims, arrays = [], []
    for a in advanced:
        if a.index.dtype == bool:
            dims += range(a.dim, a.dim + a.index.ndim)
            arrays += np.nonzero(a.index)
            continue
        size = view.shape[a.dim]
        bad = (a.index < -size) | (a.index >= size)
        if bad.any():
            raise IndexError(
                f"index {int(a.index[bad].flat[0])} is out of range for dimension {a.input_dim} of size {size}"
            )
        dims.append(a.dim)
        arrays.append(np.where(a.index < 0, a.index + size, a.index))
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise IndexError(
            f"tensor indexing: index arrays of shapes {shapes} (a mask gives one per dim it covers) cannot be "
            "broadcast together"
        ) from None
    linear = np.zeros(arrays[0].shape, np.int64)
    for array, d in zip(arrays, dims):
        linear = linear * view.shape[d] + array
    return dims, linear


def _advanced_read(view: Tensor, advanced: list, native_get) -> Tensor:
    """view[masks and index arrays], as torch reads it: the indexed dims (moved to the front when
    not adjacent) become one, read with one differentiable gather."""
    dims, linear = _linear_index(view, advanced)
    first = dims[0]
    if dims != list(range(first, first + len(dims))):
        view = view.permute(*dims, *(d for d in range(view.ndim) if d not in dims))
        first = 0
    shape, last = tuple(view.shape), first + len(dims)
    flat = view.reshape(*shape[:first], int(np.prod(shape[first:last])), *shape[last:])  # no -1: sizes may be 0
    return native_get(flat, (slice(None),) * first + (_core.tensor(linear, device=view.device),))


def _advanced_write(self: Tensor, key: tuple, value, native_set, native_get) -> None:
    """self[key] = value in place, for a key with masks or index arrays: value (a scalar, or what
    broadcasts to the shape self[key] reads, leading 1s dropped as torch drops them) goes to the
    elements key selects (the last write wins where an index repeats); the others keep theirs.

    The region that key's basic part (ints, slices, None, '...') selects is replaced by
    ``where(selected, value, region)``: in place outside the autograd graph; inside it (self or
    value requires grad) through the native assignment, which records it as torch records
    ``index_put_`` (self then takes the result and its history, as ``op=`` does)."""
    graph = _core.is_grad_enabled() and (self.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
    with no_grad():
        view, advanced, basic = _split_key(key, self, native_get)
        cast = isinstance(value, Tensor) and value.dtype != self.dtype
        if cast:  # torch casts only where its index_put_ becomes a masked_fill_ (one bool mask, one value)
            if len(advanced) != 1 or advanced[0].index.dtype != bool or value.numel() != 1:
                raise TypeError(
                    f"__setitem__: a value of dtype {value.dtype} (shape {tuple(value.shape)}) written through index "
                    f"tensors or lists must have the tensor's dtype {self.dtype} (shape {tuple(self.shape)}), as "
                    f"torch's index_put_ requires; cast it with .to({self.dtype!r})"
                )
            _check_scalar_fits("__setitem__", value.detach().reshape(()).item(), self.dtype)
    if cast:  # first, as torch's masked_fill_: value's gradient is then summed in self's dtype too
        with enable_grad() if graph else no_grad():
            value = value.to(self.dtype)
    with no_grad():
        # the flat offset of each element self[key] reads, in its order (NumPy's rules are torch's here)
        numpy_key, dim = [], 0
        for a in advanced:
            numpy_key += [slice(None)] * (a.dim - dim) + [a.index]
            dim = a.dim + (a.index.ndim if a.index.dtype == bool else 1)
        _linear_index(view, advanced)  # the read's checks and messages
        offsets = np.arange(int(np.prod(view.shape)), dtype=np.int64).reshape(view.shape)[tuple(numpy_key)]
        if not isinstance(value, Tensor) and np.ndim(value) > 0:
            value = _core.tensor(np.asarray(value), dtype=self.dtype, device=self.device)
        shape = ()
        if isinstance(value, Tensor) and value.ndim > 0:
            shape = tuple(value.shape)
            while shape and shape[0] == 1:
                shape = shape[1:]
            try:
                fits = np.broadcast_shapes(shape, offsets.shape) == offsets.shape
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"__setitem__: a value of shape {tuple(value.shape)} cannot be broadcast to the indexed "
                    f"shape {offsets.shape}"
                )
        if offsets.size == 0:
            if graph:
                _record_empty_write(self, basic, value, native_set, native_get)
            return
        source = None
        if isinstance(value, Tensor) and value.ndim > 0:
            source = np.zeros(view.shape, np.int64)  # the element of value each view element takes
            source.reshape(-1)[offsets.reshape(-1)] = np.arange(offsets.size)
        written = np.zeros(view.shape, np.float32)
        written.reshape(-1)[offsets.reshape(-1)] = 1.0
        written = _core.tensor(written, device=self.device)
    with enable_grad() if graph else no_grad():
        every = None  # each write's value element, in offsets' order
        if source is not None:
            every = value.reshape(*(shape or (1,))).expand(*offsets.shape).reshape(-1)
            value = native_get(every, _core.tensor(source, device=self.device))
        if not graph:
            if _reads_a_slot_twice(view):  # (unfold, as_strided): only the selected elements' slots are written
                _put_into_slots(view, offsets.reshape(-1), every if every is not None else value)
            else:
                view.copy_(F.where(written, value, view))
            return
        region = native_get(self, basic)
        out = F.where(written, value, region)
        if isinstance(value, Tensor) and value.requires_grad:
            out = out + _overwritten_writes(offsets.reshape(-1), source, every, value, view.shape, self.device)
        del view, region  # (a live view of self would make a non-dense self keep no layout of its own)
        native_set(self, basic, out)


def _reads_a_slot_twice(t: Tensor) -> bool:
    """Whether two elements of t lie in one storage slot (an overlapping view: unfold, as_strided)."""
    span = 0
    for stride, size in sorted((st, n) for st, n in zip(t.stride(), t.shape) if n > 1):
        if stride <= span:
            return True
        span += (size - 1) * stride
    return False


def _put_into_slots(view: Tensor, flat: np.ndarray, values) -> None:
    """Writes values (one per entry of ``flat``, view's row-major element numbers, or a scalar) into
    the storage slots of those elements of ``view`` only; a slot written twice keeps the last."""
    index = np.unravel_index(flat, tuple(view.shape))
    slots = view.storage_offset() + sum(i * st for i, st in zip(index, view.stride()))
    slots = np.asarray(slots, dtype=np.int64).reshape(-1)
    storage = view.as_strided((int(slots.max()) + 1,), (1,), 0)
    if not isinstance(values, Tensor):
        values = _core.full((slots.size,), float(values), dtype=view.dtype, device=view.device)
    storage.put_(_core.tensor(slots, device=view.device), values.reshape(-1))


def _record_empty_write(self: Tensor, basic, value, native_set, native_get) -> None:
    """A write inside the autograd graph that selects no element: nothing changes, but it is recorded,
    as torch's index_put_ (self takes a history; value, if it requires grad, a zero gradient; a leaf
    that requires grad refuses it)."""
    with enable_grad():
        link = value.reshape(-1)[:0].sum() if isinstance(value, Tensor) and value.requires_grad else 0.0
        native_set(self, basic, native_get(self, basic) + link)


def _overwritten_writes(flat: np.ndarray, source, every, value: Tensor, shape, device):
    """Zero, with the gradient torch's ``index_put_`` gives the writes a repeated index overwrote:
    each still gets the gradient at its position (only the last write's value stays). ``flat``: the
    view offset of each write; ``source``: the write each view element took, or None for a scalar
    value."""
    counts = np.bincount(flat, minlength=int(np.prod(shape)))
    if counts.max(initial=0) <= 1:
        return 0.0
    if source is None:  # a scalar value written count times at a position: count - 1 extra gradients
        extra = _core.tensor(np.maximum(counts - 1, 0).reshape(shape).astype(np.float32), device=device)
        return ((value - value.detach()) * extra).to(value.dtype)
    losers = np.setdiff1d(np.arange(flat.size), source.reshape(-1)[flat])
    lost = every[_core.tensor(losers, device=device)]
    zero = lost - lost.detach()
    positions = _core.tensor(flat[losers], device=device)
    zeros = _core.zeros(int(np.prod(shape)), dtype=value.dtype, device=device)
    return zeros.index_add(0, positions, zero).reshape(shape)


def _install_mask_indexing() -> None:
    native_get, native_set = Tensor.__getitem__, Tensor.__setitem__

    def __getitem__(self, key) -> Tensor:
        key = _torch_key(key)
        if isinstance(key, _BoolKey):  # x[True] / x[False]: a new dim of size 1 / 0, a copy
            if not key.falses:
                return __getitem__(self, tuple(key)).clone()
            out = native_get(self, tuple(key))
            for d in _false_dims(key, self.ndim):
                out = out.narrow(d, 0, 0)
            return out.clone()
        key = _bool_lists_as_masks(key)
        if isinstance(key, tuple):
            # masks, or several index arrays (t[rows, cols]): NumPy's advanced indexing; the native
            # indexing takes one index tensor among basic indices
            if not any(_is_mask(k) for k in key) and sum(_is_index_array(k) for k in key) < 2:
                out = native_get(self, key)
                # an index array makes a new tensor, as torch's, also where None or an int around it
                # left a view of the gather (x[[0, 1], None])
                return out._own_result() if any(_is_index_array(k) for k in key) else out
            return _advanced_read(*_split_key(key, self, native_get)[:2], native_get)._own_result()
        mask = _mask_of(key, self)
        if mask is None:
            out = native_get(self, key)
            return out._own_result() if _is_index_array(key) else out
        return _advanced_read(self, [_Advanced(0, 0, mask)], native_get)._own_result()

    def __setitem__(self, key, value) -> None:
        _check_scalar_fits("__setitem__", value, self.dtype)
        key = _torch_key(key)
        if isinstance(key, _BoolKey):  # x[False] = v selects nothing; x[True] = v writes through None
            if key.falses:
                _false_dims(key, self.ndim)  # its checks
                if _core.is_grad_enabled() and (
                    self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)
                ):
                    _record_empty_write(self, Ellipsis, value, native_set, native_get)
                return None
            key = tuple(key)
        key = _bool_lists_as_masks(key)
        if isinstance(key, tuple) and any(_is_mask(k) or _is_index_array(k) for k in key):
            return _advanced_write(self, key, value, native_set, native_get)
        if _is_index_array(key) and not _is_mask(key) and _mask_of(key, self) is None:
            return _advanced_write(self, (key,), value, native_set, native_get)  # t[idx] = v, as torch's index_put_
        mask = _mask_of(key, self)
        if mask is None:
            return native_set(self, key, value)
        return _advanced_write(self, (mask,), value, native_set, native_get)

    Tensor.__getitem__ = __getitem__
    Tensor.__setitem__ = __setitem__


# ---- NumPy's keyword spellings


def _numpy_keywords(fn, name: str = ""):
    """fn also taking ``axis`` for ``dim`` and ``keepdims`` for ``keepdim``, as torch does; the
    reductions and softmaxes in _DTYPE_NAMES also take ``dtype=``, the dtype the input is cast to
    first (``mask.sum(dtype=md.float32)``), as torch's."""
    takes_dtype = name in _DTYPE_NAMES

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        dtype = None
        if kwargs:
            if "axis" in kwargs:
                if "dim" in kwargs:
                    raise TypeError(f"{fn.__name__}: got both dim and axis")
                kwargs["dim"] = kwargs.pop("axis")
            if "keepdims" in kwargs:
                kwargs["keepdim"] = kwargs.pop("keepdims")
            if takes_dtype and "dtype" in kwargs:
                dtype = kwargs.pop("dtype")
                if dtype is not None:
                    if args and isinstance(args[0], Tensor):
                        args = (args[0].to(dtype), *args[1:])
                    elif isinstance(kwargs.get("input"), Tensor):
                        kwargs["input"] = kwargs["input"].to(dtype)
        out = fn(*args, **kwargs)
        if dtype is not None and isinstance(out, Tensor) and out.dtype in INT_DTYPES and out.dtype != dtype:
            out = out.to(dtype)  # an integer sum in the dtype asked for (it accumulates in int64), as torch's
        return out

    return wrapper


# of those, the ones that take dtype= (the input's dtype for the op)
_DTYPE_NAMES = ("sum", "mean", "prod", "cumsum", "cumprod", "softmax", "log_softmax")

# methods (and md functions) whose dim may be spelled axis
_NUMPY_KEYWORD_NAMES = (
    "sum", "mean", "max", "min", "argmax", "argmin", "std", "var", "prod", "cumsum", "cumprod", "amax",
    "amin", "any", "all", "softmax", "log_softmax", "logsumexp", "norm", "squeeze", "unsqueeze",
    "sort", "argsort", "topk", "diff", "repeat_interleave",
)  # fmt: skip

_FUNCTIONS = {
    "trunc": trunc,
    "fix": trunc,
    "floor": floor,
    "ceil": ceil,
    "round": round,
    "sign": sign,
    "frac": frac,
    "floor_divide": floor_divide,
    "remainder": remainder,
    "fmod": fmod,
    "norm": norm,
    "logsumexp": logsumexp,
    "roll": roll,
    "tril": tril,
    "triu": triu,
    "diag": diag,
    "repeat_interleave": repeat_interleave,
    "outer": outer,
    "ger": outer,
    "diff": diff,
    "sort": sort,
    "argsort": argsort,
    "topk": topk,
    "nonzero": nonzero,
    "bitwise_and": bitwise_and,
    "bitwise_or": bitwise_or,
    "bitwise_xor": bitwise_xor,
    "bitwise_not": bitwise_not,
    "bitwise_left_shift": bitwise_left_shift,
    "bitwise_right_shift": bitwise_right_shift,
    "gcd": gcd,
    "lcm": lcm,
    "logical_and": logical_and,
    "logical_or": logical_or,
    "logical_xor": logical_xor,
    "logical_not": logical_not,
}


def _in_place(fn):
    """``t //= b``, ``t %= b``, ``t &= b``, ``t <<= b``, ... write into t (views and other references
    see it), as torch's."""

    def op(self, other):
        self.copy_(fn(self, other))
        return self

    return op


def _reflected(fn):
    """The method for ``other <op> self``, a Python operand on the left (``True & mask``)."""

    def method(self, other):
        return fn(other, self)

    return method


def install(namespace: dict) -> list[str]:
    """Adds the functions to ``namespace`` (the md package), the methods, operators and keyword
    spellings to Tensor; returns the names added, for ``__all__``."""
    for name, fn in _FUNCTIONS.items():
        if name not in ("ger",):
            setattr(Tensor, name, fn)
    Tensor.__floordiv__ = floor_divide
    Tensor.__rfloordiv__ = lambda self, other: floor_divide(other, self)
    Tensor.__mod__ = remainder
    Tensor.__rmod__ = lambda self, other: remainder(other, self)
    Tensor.__ifloordiv__ = _in_place(floor_divide)
    Tensor.__imod__ = _in_place(remainder)
    for name, fn in (
        ("and", bitwise_and),
        ("or", bitwise_or),
        ("xor", bitwise_xor),
        ("lshift", bitwise_left_shift),
        ("rshift", bitwise_right_shift),
    ):
        setattr(Tensor, f"__{name}__", fn)
        setattr(Tensor, f"__r{name}__", _reflected(fn))
        setattr(Tensor, f"__i{name}__", _in_place(fn))  # (t &= m writes into t, as torch's)
    Tensor.__invert__ = bitwise_not
    _install_mask_indexing()
    namespace.update(_FUNCTIONS)
    if os.environ.get("MINIDIFF_STUBGEN") == "1":
        # tools/gen_stubs.sh: the stubs keep the wrapped functions' own signatures (torch's stubs
        # do not list axis either)
        return sorted(_FUNCTIONS)
    for name in _NUMPY_KEYWORD_NAMES:
        if hasattr(Tensor, name):
            setattr(Tensor, name, _numpy_keywords(getattr(Tensor, name), name))
        if name in namespace:
            namespace[name] = _numpy_keywords(namespace[name], name)
    for name in ("cat", "concat", "concatenate", "stack"):
        if name in namespace:
            namespace[name] = _numpy_keywords(namespace[name])
    return sorted(_FUNCTIONS)
