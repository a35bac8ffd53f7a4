"""Tensor functions built in Python from native ops: the torch names that need no kernel of their
own (``linspace``, ``min``/``argmax``, ``var``/``std``, ``prod``, ``flip``, ``isnan``, ``allclose``,
``masked_fill``, ``movedim``, ``unflatten``, ``bmm``/``mm``, ...). ``install()`` adds them as ``md.*``
functions and, where torch has one, as Tensor methods. Gradients come from the ops they are written with.

Where a native op would report a bad call in the words of an inner op (``md.stack`` as
"unsqueeze", ``clamp`` as "lt", ``md.full`` as pybind11's "Unable to cast"), the wrapper here
checks the call first, so the error names the op the user called.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import math
import numbers
import operator
from collections import namedtuple

import numpy as np

from . import _core
from . import functional as F
from ._core import Tensor
from ._dtypes import (
    DTYPE_SIZES,
    FLOAT_DTYPES,
    INT_DTYPES,
    KINDS,
    LOW_FLOATS,
    NARROW_INTS,
    check_float_args,
    check_scalar_fits,
    past_float16,
    promote_types,
)

# ---- creation


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` values from ``start`` to ``end`` inclusive, computed as torch does (a float32
    step, the first half counted up from ``start`` and the second half down from ``end``), so the
    two libraries give the same float32 bits. A bfloat16 or float16 result is those values rounded
    (torch computes them in 16-bit steps, which differ in the last bit); an int64 one truncates
    values stepped in float64 from the bounds truncated to int64, as torch's."""
    steps = operator.index(steps)
    if steps < 0:
        raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
    dtype = _dtype(dtype) or "float32"
    start, end = (v.item() if isinstance(v, Tensor) else v for v in (start, end))
    if steps > 1 or steps == 1 and dtype == "float32":  # (torch's one step converts only a float32 start)
        check_float_args("linspace", dtype, start, end if steps > 1 else None)
    with np.errstate(over="ignore", invalid="ignore"):  # infinite bounds give inf and NaN, as torch's
        if dtype == "int64":
            s, e, step_type = np.float64(int(start)), np.float64(int(end)), np.float64
        else:
            s, e, step_type = np.float32(start), np.float32(end), np.float32
        if steps == 1:
            values = np.array([s], dtype=np.float64)
        else:
            step = (e - s) / step_type(builtins.max(steps - 1, 1))
            # torch's kernel multiplies and adds with one rounding (a fused multiply-add); in float64 the
            # product of two float32 values is exact, so one rounding to float32 at the end matches it
            i = np.arange(steps, dtype=np.float64)
            d = np.float64
            values = np.where(i < steps // 2, d(s) + d(step) * i, d(e) - d(step) * (steps - 1 - i))
        values = np.trunc(values).astype(np.int64) if dtype == "int64" else values.astype(np.float32)
    if requires_grad and dtype not in FLOAT_DTYPES:
        raise TypeError(f"linspace: only float tensors can require gradients, got {dtype}")
    return _core.tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def logspace(start, end, steps, base: float = 10.0, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``base ** linspace(start, end, steps)``, as torch's (the exponents stepped in float32, the
    power taken in float64 and rounded once)."""
    dtype = _dtype(dtype) or "float32"
    if steps > 1:
        check_float_args("logspace", dtype, *(v.item() if isinstance(v, Tensor) else v for v in (start, end)))
    exponents = linspace(start, end, steps).numpy().astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # past float32's range: inf, as torch's
        values = np.power(np.float64(base), exponents)
        values = np.trunc(values).astype(np.int64) if dtype == "int64" else values.astype(np.float32)
    if requires_grad and dtype not in FLOAT_DTYPES:
        raise TypeError(f"logspace: only float tensors can require gradients, got {dtype}")
    return _core.tensor(values, dtype=dtype, device=device, requires_grad=requires_grad)


def _dtype(dtype) -> str | None:
    """``dtype`` (a name, a NumPy or Python type) as minidiff's name for it, None kept; the native
    op raises for a dtype minidiff has not."""
    return None if dtype is None else _core.empty((0,), dtype=dtype, device="cpu").dtype


def _requiring_grad(out: Tensor, requires_grad: bool) -> Tensor:
    return out.requires_grad_() if requires_grad else out


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` holding ``fill_value`` (a number, or a one-element tensor), as torch's:
    float32 for a float, int64 for an int, unless ``dtype`` says otherwise."""
    if isinstance(fill_value, complex) or not isinstance(fill_value, (numbers.Real, np.bool_, Tensor)):
        raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__} ({fill_value!r})")
    if isinstance(fill_value, Tensor) and fill_value.numel() != 1:
        raise TypeError(f"full: fill_value must be a number or a one-element tensor, got shape {fill_value.shape}")
    value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
    if _dtype(dtype) == "int64" and isinstance(value, numbers.Real) and not math.isfinite(value):
        raise ValueError(f"full: fill_value {value} cannot be converted to int64 without overflow")
    return _core.full(size, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def _like_dtype(op: str, input: Tensor, dtype) -> str:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be an md tensor, got {type(input).__name__}")
    return _dtype(dtype) or input.dtype


def _check_memory_format(op: str, memory_format) -> None:
    if memory_format not in (None, preserve_format, contiguous_format):
        raise ValueError(f"{op}: memory_format {memory_format!r} is not supported (only preserve/contiguous)")


def full_like(
    input: Tensor, fill_value, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None
) -> Tensor:
    _check_memory_format("full_like", memory_format)
    dtype = _like_dtype("full_like", input, dtype)
    out = full(input.shape, fill_value, dtype=dtype, device=device or input.device)
    return _requiring_grad(out, requires_grad)


def zeros_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    """Zeros of ``input``'s shape (and dtype and device unless given), as torch's."""
    _check_memory_format("zeros_like", memory_format)
    out = _core.zeros(input.shape, dtype=_like_dtype("zeros_like", input, dtype), device=device or input.device)
    return _requiring_grad(out, requires_grad)


def ones_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    _check_memory_format("ones_like", memory_format)
    out = _core.ones(input.shape, dtype=_like_dtype("ones_like", input, dtype), device=device or input.device)
    return _requiring_grad(out, requires_grad)


def empty_like(input: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    _check_memory_format("empty_like", memory_format)
    out = _core.empty(input.shape, dtype=_like_dtype("empty_like", input, dtype), device=device or input.device)
    return _requiring_grad(out, requires_grad)


def _random_like(op: str, native, input: Tensor, dtype, device, generator, requires_grad: bool) -> Tensor:
    """Random numbers of ``input``'s shape in its floating dtype (or ``dtype``); torch refuses int64."""
    dtype = _like_dtype(op, input, dtype)
    if dtype in (*INT_DTYPES, "bool"):
        raise TypeError(f"{op}: random floating-point numbers need a floating dtype, got {dtype}")
    out = native(input.shape, generator=generator, device=device or input.device)
    out = out.to(dtype) if dtype != "float32" else out
    return _requiring_grad(out, requires_grad)


def rand_like(
    input: Tensor, *, dtype=None, device=None, generator=None, requires_grad: bool = False, memory_format=None
) -> Tensor:
    _check_memory_format("rand_like", memory_format)
    return _random_like("rand_like", _core.rand, input, dtype, device, generator, requires_grad)


def randn_like(
    input: Tensor, *, dtype=None, device=None, generator=None, requires_grad: bool = False, memory_format=None
) -> Tensor:
    """Standard normal numbers of ``input``'s shape, in its dtype (a 16-bit float stays one), as torch's."""
    _check_memory_format("randn_like", memory_format)
    return _random_like("randn_like", _core.randn, input, dtype, device, generator, requires_grad)


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, Tensor) and value.ndim == 0


def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad: bool = False, **bounds):
    """``randint(high, size)``, ``randint(low, high, size)`` or keywords (``low=``, ``high=``,
    ``size=``): integers in [low, high), int64 unless ``dtype`` names another integer dtype, as
    torch's (float dtypes are refused)."""
    if set(bounds) - {"low", "high"}:
        raise TypeError(f"randint: unexpected keyword arguments {sorted(set(bounds) - {'low', 'high'})}")
    args = list(args)
    if size is None and args and (not _is_int(args[-1]) or len(args) == 3):  # (low, high, n) as a 1-d size
        size = args.pop()
    given = [*([bounds["low"]] if "low" in bounds else []), *args, *([bounds["high"]] if "high" in bounds else [])]
    if size is None or len(given) not in (1, 2):
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    low, high = (0, given[0]) if len(given) == 1 else given
    size = (size,) if _is_int(size) else tuple(size)
    dtype = _dtype(dtype) or "int64"
    if dtype not in INT_DTYPES:  # minidiff's choice (torch's also draws floats), pinned in test_tensor.py
        raise TypeError(f"randint: dtype must be an integer dtype, got {dtype!r}")
    out = _core.randint(
        operator.index(low), operator.index(high), size, generator=generator, dtype=dtype, device=device
    )
    return _requiring_grad(out, requires_grad)


def randint_like(input: Tensor, *args, dtype=None, device=None, generator=None, requires_grad: bool = False):
    """``randint_like(input, high)`` or ``randint_like(input, low, high)``: integers in [low, high)
    of ``input``'s shape and dtype, as torch's."""
    if len(args) not in (1, 2):
        raise TypeError("randint_like: expected randint_like(input, high) or randint_like(input, low, high)")
    dtype = _like_dtype("randint_like", input, dtype)
    out = randint(*args, tuple(input.shape), generator=generator, device=device or input.device)
    return _requiring_grad(_cast(out, dtype), requires_grad)


def arange(*args, start=None, end=None, step=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``arange(end)``, ``arange(start, end[, step])`` or keywords, as torch's: int64 when every bound
    is an int, float32 otherwise; bounds the step cannot reach from ``start`` raise, as torch's."""
    if len(args) > 3:
        raise TypeError(f"arange: at most 3 positional arguments, got {len(args)}")
    if len(args) == 1 and end is None:
        args, end = (), args[0]
    named = {"start": start, "end": end, "step": step}
    for name, value in zip(("start", "end", "step"), args):
        if named[name] is not None:
            raise TypeError(f"arange: {name} given twice")
        named[name] = value
    start, end, step = (0 if named["start"] is None else named["start"]), named["end"], named["step"]
    if end is None:
        raise TypeError("arange: missing end")
    step = 1 if step is None else step
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    start, end, step = (int(v) if isinstance(v, (bool, np.bool_)) else v for v in (start, end, step))
    values = [float(v) for v in (start, end, step)]
    if builtins.all(math.isfinite(v) for v in values) and values[2] != 0:
        if not (values[2] > 0 and values[1] >= values[0] or values[2] < 0 and values[1] <= values[0]):
            raise ValueError(
                f"arange: upper bound and lower bound inconsistent with step sign (start={start}, end={end}, "
                f"step={step})"
            )
    dtype = _dtype(dtype)
    native_dtype = "float32" if dtype in LOW_FLOATS else "int64" if dtype in NARROW_INTS else dtype
    out = _core.arange(start, end, step, dtype=native_dtype, device=device)
    return _requiring_grad(out.to(dtype) if dtype != native_dtype else out, requires_grad)


# ---- reductions


def _dim_list(op: str, dim, ndim: int) -> list[int]:
    """dim (an int or a sequence of ints) as non-negative dims in the order given, checked as torch
    checks them: in [-ndim, ndim - 1] (a 0-d tensor takes 0 or -1) and none repeated."""
    span = builtins.max(ndim, 1)
    out = []
    for d in (dim,) if isinstance(dim, int) else dim:
        d = operator.index(d)
        if not -span <= d < span:
            raise IndexError(
                f"{op}: dimension out of range (expected to be in range of [{-span}, {span - 1}], but got {d})"
            )
        d %= span
        if d in out:
            raise ValueError(f"{op}: dim {d} appears multiple times in the list of dims")
        out.append(d)
    return out


def _dims(op: str, dim, ndim: int) -> tuple[int, ...]:
    """dim (None, an int or a sequence; None and () mean every dim) as sorted non-negative dims,
    checked as torch checks them; a 0-d tensor's dims are ()."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    out = _dim_list(op, dim, ndim)
    return tuple(sorted(out)) if ndim else ()


# torch.min(dim) returns torch.return_types.min; ours is the same kind of named pair
_MinResult = namedtuple("min", ["values", "indices"])


def _int64_extreme(input: Tensor, dim, keepdim: bool, smallest: bool):
    """min/max/argmin/argmax of an int64 tensor, exactly (the native max runs in float32, exact
    only to 2^24): on the host, as NumPy, then back to the tensor's device. Returns (values,
    indices), each None-dim reduced over all elements."""
    a = input.numpy()
    pick = np.argmin if smallest else np.argmax
    if dim is None:
        flat = int(pick(a.reshape(-1))) if a.size else None
        if flat is None:
            raise ValueError(f"{'min' if smallest else 'max'}: the tensor of shape {tuple(input.shape)} is empty")
        values, indices = np.array(a.reshape(-1)[flat]), np.array(flat)
    else:
        indices = pick(a, axis=dim)
        values = np.take_along_axis(a, np.expand_dims(indices, dim), dim).squeeze(dim)
        if keepdim:
            indices, values = np.expand_dims(indices, dim), np.expand_dims(values, dim)
    device = input.device
    return (
        _core.tensor(values.astype(np.int64), dtype="int64", device=device),
        _core.tensor(np.asarray(indices, np.int64), dtype="int64", device=device),
    )


def min(input: Tensor, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001 (torch's name)
    """``min(t)``: the smallest element; ``min(t, dim)``: (values, indices) as ``max``;
    ``min(t, other)``: the elementwise minimum."""
    if other is not None or isinstance(dim, Tensor):
        return F.minimum(input, dim if other is None else other)
    if input.dtype in ("bool", *NARROW_INTS):  # through int64, as the native max of these (-x would wrap)
        out = min(input.long(), dim, keepdim)
        return out.to(input.dtype) if dim is None else _MinResult(out.values.to(input.dtype), out.indices)
    if input.dtype == "int64":
        if dim is None:
            return _int64_extreme(input, None, False, True)[0]
        (d,) = _dims("min", dim, input.ndim) or (0,)
        return _MinResult(*_int64_extreme(input, d, keepdim, True)) if input.ndim else _MinResult(input, input * 0)
    if dim is None:
        return -((-input).max())
    (d,) = _dims("min", dim, input.ndim) or (0,)
    result = (-input).max(d, keepdim)
    return _MinResult(-result.values, result.indices)


def argmax(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (of the flattened tensor when ``dim`` is None); ties give the
    first, as in torch."""
    return _arg_extreme("argmax", input, dim, keepdim, smallest=False)


def argmin(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return _arg_extreme("argmin", input, dim, keepdim, smallest=True)


def _arg_extreme(op: str, input: Tensor, dim, keepdim: bool, smallest: bool) -> Tensor:
    if input.dtype == "bool":
        raise TypeError(f"{op}: bool input (shape {list(input.shape)}) is not supported, as in torch; use .long()")
    d = None if dim is None else (_dims(op, dim, input.ndim) or (0,))[0]
    if input.dtype in NARROW_INTS:  # in int64 (-x would wrap)
        input = input.long()
    if input.dtype == "int64" and input.ndim:
        idx = _int64_extreme(input, d, keepdim and d is not None, smallest)[1]
    else:
        x = input.detach()  # (no graph: a view's read here must not refresh its history, as torch's argmax)
        x = -x if smallest else x
        idx = x.reshape(-1).max(0).indices if d is None else x.max(d, keepdim).indices
    return idx.reshape([1] * input.ndim) if keepdim and d is None else idx


def var(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """Variance over ``dim`` (every dim when None) with Bessel's correction by default, as torch;
    also torch's older forms ``var(unbiased)`` and ``var(dim, unbiased, keepdim)``."""
    if isinstance(dim, bool):  # var(False): torch's var(unbiased) overload
        dim, unbiased = None, dim
    if input.dtype in LOW_FLOATS:  # in float32, rounded once: a 16-bit mean would shift every deviation
        return var(input.float(), dim, unbiased, keepdim, correction=correction).to(input.dtype)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dims = _dims("var", dim, input.ndim)
    n = 1
    for d in dims:
        n *= input.shape[d]
    if not dims:  # a 0-d tensor: one element (keepdim keeps it 0-d)
        dims, input, keepdim = (0,), input.reshape(1), False
    centred = input - input.mean(dims, keepdim=True)
    total = (centred * centred).sum(dims, keepdim=keepdim)
    # no degrees of freedom left: 0 / 0 = NaN and x / 0 = inf, as torch
    return total / builtins.max(n - correction, 0)


def std(input: Tensor, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
    """The square root of ``var``; where it is 0 the gradient is 0, as torch's (not NaN)."""
    if input.dtype in LOW_FLOATS:  # in float32, rounded once (as var)
        return std(input.float(), dim, unbiased, keepdim, correction=correction).to(input.dtype)
    v = var(input, dim, unbiased, keepdim, correction=correction)
    positive = v > 0
    # sqrt is evaluated at 1 where v is 0, so its infinite slope there never meets the gradient
    return F.where(positive, F.where(positive, v, 1.0).sqrt(), v)


def prod(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Product over ``dim`` (of all elements when None); its gradient is exact with zeros in the
    input (it is the last running product of ``cumprod``)."""
    if dim is None:
        flat = input.reshape(-1)
        # the empty product is 1, kept in the graph (a zero gradient) through the sum of nothing
        out = _last(F.cumprod(flat, 0), 0) if flat.shape[0] else flat.sum() + 1  # int64 stays int64
        return (out.reshape([1] * input.ndim) if keepdim else out).clone()  # (a new tensor, not a view)
    (d,) = _dims("prod", dim, input.ndim) or (None,)
    if d is None:  # a 0-d tensor is its own product
        return F.cumprod(input, 0).clone()
    if input.shape[d] == 0:
        return input.sum(d, keepdim=keepdim) + 1
    out = _last(F.cumprod(input, d), d)
    return (out.unsqueeze(d) if keepdim else out).clone()


def _last(t: Tensor, dim: int) -> Tensor:
    index = [builtins.slice(None)] * t.ndim
    index[dim] = -1
    return t[tuple(index)]


# ---- elementwise and selection


def where(condition, input=None, other=None):
    """``input`` where ``condition`` is true (nonzero), else ``other`` (numbers allowed); with the
    condition alone, ``nonzero(condition, as_tuple=True)``, as torch's."""
    if input is None and other is None:
        from .tensor_math import nonzero  # (tensor_math imports this module)

        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: give both input and other, or neither (where(condition) is nonzero's tuple)")
    # a number operand of a float32 result is a float32 one for torch
    check_float_args("where", lambda: "float32" if _result_dtype(input, other) == "float32" else None, input, other)
    return _where(condition, input, other)


def _where(condition, input, other):
    """where(condition, input, other) with no check of its numbers (nan_to_num's are any floats)."""
    if builtins.any(_is_bool(v) for v in (input, other)):  # the native where reads bools as float32 0/1
        dtype = _result_dtype(input, other)
        device = condition.device if isinstance(condition, Tensor) else None
        input, other = (_as_dtype_operand(v, dtype, device) for v in (input, other))
    elif builtins.any(isinstance(v, Tensor) and v.dtype in LOW_FLOATS and not v.ndim for v in (input, other)):
        # the native where makes a 0-d 16-bit float tensor and a number float32: the number goes in
        # as a 0-d tensor of the result's dtype (the 16-bit one, as torch's)
        dtype = _result_dtype(input, other)
        device = condition.device if isinstance(condition, Tensor) else None
        input, other = (
            v if isinstance(v, Tensor) else _core.full((), v, dtype=dtype, device=device) for v in (input, other)
        )
    return F.where(condition, input, other)


_KINDS = KINDS


def _is_bool(v) -> bool:
    """A bool tensor or a Python (or NumPy) bool."""
    return isinstance(v, (bool, np.bool_)) or isinstance(v, Tensor) and v.dtype == "bool"


def _result_dtype(*operands) -> str:
    """torch's result dtype of tensors and numbers: the dimensioned tensors' dtype, replaced by the
    0-d tensors' or then the numbers' only where theirs is of a higher kind (bool < int < float; a
    number gives int64 or float32)."""
    tiers = (
        [v.dtype for v in operands if isinstance(v, Tensor) and v.ndim],
        [v.dtype for v in operands if isinstance(v, Tensor) and not v.ndim],
        [
            "bool" if isinstance(v, (bool, np.bool_)) else "int64" if isinstance(v, numbers.Integral) else "float32"
            for v in operands
            if v is not None and not isinstance(v, Tensor)
        ],
    )
    out = None
    for dtypes in tiers:
        if not dtypes:
            continue
        best = functools.reduce(promote_types, dtypes)
        if out is None or _KINDS[best] > _KINDS[out]:
            out = best
    return out


def _narrow_ints_in_int64(operands: int = 2):
    """For an op written for int64 (and floats): where one of its first ``operands`` arguments is a
    uint8, int8, int16 or int32 tensor, the op runs on int64 copies of the narrow tensors and an
    int64 result (or the values of a (values, indices) result) wraps once into torch's result dtype,
    as torch's integer kernels compute; float and bool results, and indices, stay as they are.
    ``operands`` 0: the op's results are all counts or indices (int64 whatever the input)."""

    def decorate(fn):
        signature = inspect.signature(fn)
        names = list(signature.parameters)[:operands]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not builtins.any(isinstance(v, Tensor) and v.dtype in NARROW_INTS for v in (*args, *kwargs.values())):
                return fn(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            values = [bound.arguments.get(name) for name in names]
            dtype = _result_dtype(*(v for v in values if isinstance(v, (Tensor, numbers.Number)))) if names else None
            for name in signature.parameters:
                v = bound.arguments.get(name)
                if isinstance(v, Tensor) and v.dtype in NARROW_INTS:
                    bound.arguments[name] = v.long()
            out = fn(*bound.args, **bound.kwargs)
            if dtype not in NARROW_INTS:
                return out
            if isinstance(out, Tensor):
                return out.to(dtype) if out.dtype == "int64" else out
            if isinstance(out, tuple) and out and isinstance(out[0], Tensor) and out[0].dtype == "int64":
                fields = (out[0].to(dtype), *out[1:])  # (values, indices, ...): the values
                return type(out)(*fields) if hasattr(out, "_fields") else fields
            return out

        wrapper.__signature__ = signature  # (for help() and the type stubs)
        return wrapper

    return decorate


def _as_dtype_operand(v, dtype: str, device):
    """A tensor or a number as an operand of ``dtype``: a tensor converted, a number kept for a
    float dtype (as a 0-d tensor of ``dtype`` otherwise)."""
    if isinstance(v, Tensor):
        return v if v.dtype == dtype else v.to(dtype)
    if dtype in FLOAT_DTYPES:
        return float(v)
    return _core.full((), v, dtype=dtype, device=device)


def _broadcast_shape(op: str, **operands) -> tuple[int, ...]:
    """The broadcast shape of the named operands that are tensors (numbers and None broadcast with
    anything), or a ValueError naming the op and the shapes, raised before an inner op would raise
    it in its own name."""
    shapes = {name: tuple(v.shape) for name, v in operands.items() if isinstance(v, Tensor)}
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        listed = ", ".join(f"{name} of shape {shape}" for name, shape in shapes.items())
        raise ValueError(f"{op}: {listed} cannot be broadcast together") from None


def masked_fill(input: Tensor, mask, value) -> Tensor:
    """``value`` where ``mask`` is true (nonzero), else ``input``; the mask broadcasts with the
    input and a tensor value is 0-d, as torch's."""
    _broadcast_shape("masked_fill", input=input, mask=mask)
    if isinstance(value, Tensor) and value.ndim:
        raise ValueError(
            f"masked_fill: only a 0-dimensional value tensor is supported, got one of shape {tuple(value.shape)}"
        )
    check_scalar_fits("masked_fill", value.detach().item() if isinstance(value, Tensor) else value, input.dtype, True)
    if input.dtype in (*INT_DTYPES, "bool", *LOW_FLOATS):  # the result keeps input's dtype, as torch's
        value = value.to(input.dtype) if isinstance(value, Tensor) else full((), value, dtype=input.dtype)
        value = value.to(input.device) if value.device != input.device else value
    return F.where(mask, value, input)


def lerp(input: Tensor, end, weight) -> Tensor:
    """``input + weight * (end - input)``, computed from the nearer end as torch does, so weight 1
    gives ``end`` exactly. A bfloat16 or float16 input is computed in float32 and rounded once, as
    torch's kernel; as torch, ``end`` (and a ``weight`` with dims) must then have its dtype."""
    _broadcast_shape("lerp", input=input, end=end, weight=weight)
    check_float_args("lerp", input.dtype, weight, opmath=True)
    operands = {"end": end, "weight": weight if isinstance(weight, Tensor) and weight.ndim else None}
    if builtins.any(isinstance(v, Tensor) and v.dtype in LOW_FLOATS for v in (input, *operands.values())):
        for name, v in operands.items():
            if isinstance(v, Tensor) and v.dtype != input.dtype:
                raise TypeError(f"lerp: expected {name} to have the input's dtype {input.dtype}, got {v.dtype}")
    if input.dtype in LOW_FLOATS:
        low = lerp(input.float(), *(v.float() if isinstance(v, Tensor) else v for v in (end, weight)))
        return low.to(input.dtype)
    diff = end - input
    if isinstance(weight, Tensor):
        return F.where(weight.abs() < 0.5, input + weight * diff, end - diff * (1 - weight))
    return input + weight * diff if builtins.abs(weight) < 0.5 else end - diff * (1 - weight)


def flip(input: Tensor, *args, dims=None) -> Tensor:
    """The elements in reverse order along each of ``dims`` (a sequence, or ints: ``t.flip(0, 1)``
    as torch's method takes them)."""
    if dims is None:
        if not args:
            raise TypeError("flip: missing dims")
        dims = args[0] if len(args) == 1 else args
    elif args:
        raise TypeError("flip: dims given twice")
    out = input
    for d in _dims("flip", dims, input.ndim):
        n = out.shape[d]
        out = out.index_select(d, _core.arange(n - 1, -1, -1, device=out.device))
    return input.clone() if out is input else out  # always a new tensor, as torch's


def isnan(input: Tensor) -> Tensor:
    """A bool mask: true where input is NaN."""
    return input != input


def isfinite(input: Tensor) -> Tensor:
    if input.dtype in ("int64", "bool"):
        return _core.ones(input.shape, dtype="bool", device=input.device)
    return (input - input) == 0


def isinf(input: Tensor) -> Tensor:
    if input.dtype in ("int64", "bool"):
        return _core.zeros(input.shape, dtype="bool", device=input.device)
    return input.abs() == math.inf


def allclose(input: Tensor, other, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    mixed = {input.dtype, other.dtype} if isinstance(other, Tensor) and input.dtype != other.dtype else set()
    if mixed and not mixed <= {"float32", "int64"}:
        raise TypeError(f"allclose: input ({input.dtype}) and other ({other.dtype}) must have one dtype, as torch's")
    b = other.numpy() if isinstance(other, Tensor) else other
    return bool(np.allclose(input.numpy(), b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both have the same shape and the same values (NaN equals nothing), as torch's."""
    for name, t in (("input", input), ("other", other)):
        if not isinstance(t, Tensor):
            raise TypeError(f"equal: {name} must be an md tensor, got {type(t).__name__}")
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(np.array_equal(input.detach().numpy(), other.detach().numpy()))


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """A bool mask of ``elements``' shape: true where the element is among ``test_elements`` (a
    tensor or a number), as torch's; computed on the host."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin: expected a Tensor among elements and test_elements")
    if builtins.any(_is_bool(v) for v in (elements, test_elements)):
        raise TypeError("isin: bool elements or test_elements are not supported, as in torch; use .long()")
    like = elements if isinstance(elements, Tensor) else test_elements
    host = [v.detach().numpy() if isinstance(v, Tensor) else np.asarray(v) for v in (elements, test_elements)]
    out = np.isin(host[0], host[1], assume_unique=assume_unique, invert=invert)
    return _core.tensor(np.array(out, dtype=bool), device=like.device)


# ---- Python protocols and torch conveniences on Tensor


def _int(self: Tensor) -> int:
    return int(self.item())


def _index(self: Tensor) -> int:
    """A one-element integer tensor used where Python wants an int (``range(t)``, ``lst[t]``)."""
    if self.dtype not in INT_DTYPES or self.numel() != 1:
        raise TypeError(
            f"only integer tensors of one element can be converted to an index, got {self.dtype} of shape {self.shape}"
        )
    return int(self.item())


def _format(self: Tensor, spec: str) -> str:
    """``f"{loss:.4f}"`` formats a 0-d tensor's value, as torch."""
    if self.ndim == 0:
        return format(self.item(), spec)
    if spec:
        raise TypeError(f"unsupported format string {spec!r} for a tensor of shape {self.shape}")
    return str(self)


def _data_get(self: Tensor) -> Tensor:
    """The tensor's values outside autograd (its storage, no history), as torch's ``.data``."""
    return self.detach()


def _data_set(self: Tensor, value: Tensor) -> None:
    if tuple(value.shape) != tuple(self.shape):
        raise ValueError(f".data = ...: a tensor of shape {tuple(value.shape)} for one of shape {tuple(self.shape)}")
    with F._no_grad():  # the values only: copy_ inside the graph would give the detached handle a history
        self.detach().copy_(value)


def _operand_grad(*values) -> bool:
    return builtins.any(isinstance(v, Tensor) and v.requires_grad for v in values)


def _lerp_(self: Tensor, end, weight) -> Tensor:
    """In place: ``lerp(self, end, weight)`` (the EMA update ``ema.lerp_(p, 1 - decay)``)."""
    return self._inplace_("lerp_", lambda: lerp(self, end, weight), _operand_grad(end, weight))


_native_to = Tensor.to
_native_squeeze = Tensor.squeeze


def _as_dtype(value) -> str | None:
    """``value``'s dtype name when it names a dtype (rather than a device), else None."""
    if isinstance(value, (str, type, np.dtype)):
        try:
            return _dtype(value)
        except (TypeError, ValueError):
            return None
    return None


def _to(self: Tensor, *args, dtype=None, device=None, non_blocking: bool = False, copy: bool = False) -> Tensor:
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)`` or keywords, each
    optionally followed by ``non_blocking`` and ``copy``, as torch; ``non_blocking`` is accepted
    (copies here are synchronous), ``copy`` forces a new tensor. With nothing to change it returns
    the tensor itself, as torch's."""
    rest = list(args)
    flags = []
    while rest and isinstance(rest[-1], (bool, np.bool_)):  # to(dtype, non_blocking, copy)
        flags.insert(0, bool(rest.pop()))
    if len(flags) > 2 or len(rest) > 2:
        raise TypeError(f"Tensor.to: too many positional arguments {list(args)!r}")
    copy = flags[1] if len(flags) == 2 else copy
    for i, arg in enumerate(rest):
        if isinstance(arg, Tensor):  # to(other): other's device and dtype
            device, dtype = device or arg.device, dtype or arg.dtype
        elif i == 0 and len(rest) == 1 and _as_dtype(arg) is not None:
            dtype = arg
        elif i == 0:
            device = arg
        else:
            dtype = arg
    out = _native_to(self, device=device) if device is not None else self
    if dtype is not None:
        out = _cast(out, _dtype(dtype))
    if out._impl_id == self._impl_id:  # the native to() returns the same tensor in a new handle
        return self.clone() if copy else self
    return out


def _cast(t: Tensor, dtype: str) -> Tensor:
    """``t`` as ``dtype``; a 16-bit float and int64 convert through float32, as torch's conversions
    do (int64 to a 16-bit float rounds to float32 first; the other way is exact in float32)."""
    if t.dtype != dtype and {t.dtype, dtype} <= {"int64", *LOW_FLOATS}:
        return _native_to(_native_to(t, "float32"), dtype)
    return _native_to(t, dtype)


def _squeeze(self: Tensor, dim=None) -> Tensor:
    """``squeeze()``, ``squeeze(dim)`` or ``squeeze((d0, d1, ...))`` (torch 2's tuple form)."""
    if isinstance(dim, (tuple, list)):
        out = self
        for d in reversed(_dims("squeeze", dim, self.ndim)):
            out = _native_squeeze(out, d)
        return out
    return _native_squeeze(self, dim)


def _iter(self: Tensor):
    """The sub-tensors along dim 0, as torch's; a 0-d tensor cannot be iterated."""
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self[i] for i in range(self.shape[0]))


def _contains(self: Tensor, element) -> bool:
    """``element in t``: whether some element of ``t`` equals ``element`` (a number, or a tensor
    that broadcasts with ``t``, compared as torch's ``(element == t).any()``)."""
    if not isinstance(element, (Tensor, numbers.Number, np.number)) or isinstance(element, complex):
        raise TypeError(f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a {type(element)}")
    values = self.float() if self.dtype in LOW_FLOATS else self
    if isinstance(element, Tensor) and element.dtype in LOW_FLOATS:
        element = element.float()
    return bool((values == element).sum().item() > 0)


_DTYPE_SIZES = DTYPE_SIZES
_TYPE_NAMES = {
    "float32": "FloatTensor",
    "int64": "LongTensor",
    "int32": "IntTensor",
    "int16": "ShortTensor",
    "int8": "CharTensor",
    "uint8": "ByteTensor",
    "bfloat16": "BFloat16Tensor",
    "float16": "HalfTensor",
    "bool": "BoolTensor",
}


def _element_size(self: Tensor) -> int:
    return _DTYPE_SIZES[self.dtype]


def _type(self: Tensor, dtype=None, non_blocking: bool = False) -> Tensor | str:
    """``t.type()``: torch's type name ("torch.FloatTensor", "torch.cuda.LongTensor", ...);
    ``t.type(dtype)``: ``t.to(dtype)`` (a dtype or one of those names)."""
    if dtype is None:
        prefix = "torch.cuda." if self.is_cuda else "torch."
        return prefix + _TYPE_NAMES[self.dtype]
    if isinstance(dtype, str) and dtype.startswith("torch."):
        name = dtype.removeprefix("torch.").removeprefix("cuda.")
        named = {v: k for k, v in _TYPE_NAMES.items()}
        if name not in named:
            raise TypeError(f"type: unsupported tensor type {dtype!r} (minidiff has {sorted(_TYPE_NAMES.values())})")
        out = self.to(named[name])
        return out.cuda() if dtype.startswith("torch.cuda.") else out
    return self.to(dtype)


def _unsupported_dtype(method: str, torch_dtype: str):
    def convert(self: Tensor, *args, **kwargs):
        raise TypeError(
            f"{method}(): minidiff has no {torch_dtype} dtype (it has float32, bfloat16, float16, int64, int32, "
            "int16, int8, uint8 and bool); use .float() or .long()"
        )

    convert.__name__ = convert.__qualname__ = method
    return convert


def _stride(self: Tensor, dim=None):
    """The strides (in elements), or the stride of ``dim``, as torch's."""
    strides = _native_stride(self)
    if dim is None:
        return strides
    (d,) = _dim_list("stride", dim, self.ndim)
    return strides[d] if self.ndim else 1


def _clone(self: Tensor, *, memory_format=None) -> Tensor:
    """A copy; a transposed (dense) tensor keeps its strides unless ``memory_format`` is
    ``contiguous_format``, as torch's."""
    _check_memory_format("clone", memory_format)
    if memory_format == contiguous_format and not self.is_contiguous():
        return _native_contiguous(self)
    return _native_clone(self)


def _contiguous(self: Tensor, memory_format=None) -> Tensor:
    """The tensor itself when it is contiguous, else a contiguous copy, as torch's."""
    _check_memory_format("contiguous", memory_format)
    out = _native_contiguous(self)
    return self if out._impl_id == self._impl_id else out


def _flatten(self: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """The dims start_dim..end_dim flattened into one (a view where the layout allows, else a copy); the
    tensor itself when that is one dim, as torch's."""
    out = _native_flatten(self, start_dim, end_dim)
    return self if out._impl_id == self._impl_id else out


_native_contiguous = Tensor.contiguous
_native_flatten = Tensor.flatten
_native_stride = Tensor.stride
_native_clone = Tensor.clone
# torch's memory formats: clone keeps a transposed tensor's strides under the first; the others
# make row-major tensors
preserve_format = "preserve_format"
contiguous_format = "contiguous_format"

_PROTOCOLS = {
    "__int__": _int,
    "__index__": _index,
    "__format__": _format,
    "data": property(_data_get, _data_set),
    "lerp_": _lerp_,
    "to": _to,
    "squeeze": _squeeze,
    "__iter__": _iter,
    "__contains__": _contains,
    "type": _type,
    "bfloat16": lambda self: self.to("bfloat16"),
    "half": lambda self: self.to("float16"),
    "float": lambda self: self.to("float32"),
    "long": lambda self: self.to("int64"),
    "cpu": lambda self: self.to("cpu"),
    "contiguous": _contiguous,
    "flatten": _flatten,
    "int": lambda self: self.to("int32"),
    "double": _unsupported_dtype("double", "float64"),
    "short": lambda self: self.to("int16"),
    "char": lambda self: self.to("int8"),
    "byte": lambda self: self.to("uint8"),
    "ndimension": lambda self: self.ndim,
    "element_size": _element_size,
    "itemsize": property(_element_size),
    "nbytes": property(lambda self: self.numel() * _element_size(self)),
    "stride": _stride,
    "clone": _clone,
}

# ---- shape and creation helpers torch has as Tensor methods


def split(input: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of ``split_size`` along dim (the last may be smaller), or of the given sizes."""
    (d,) = _dims("split", dim, input.ndim)
    n = input.shape[d]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [builtins.min(split_size_or_sections, n - i) for i in range(0, n, split_size_or_sections)] or [0]
    else:
        sizes = [int(k) for k in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to {n}, the size of dim {d} of {tuple(input.shape)}")
    out, start = [], 0
    for k in sizes:
        index = [builtins.slice(None)] * input.ndim
        index[d] = builtins.slice(start, start + k)
        out.append(input[tuple(index)])
        start += k
    return tuple(out)


def unbind(input: Tensor, dim: int = 0) -> tuple:
    (d,) = _dims("unbind", dim, input.ndim)
    return tuple(input[(builtins.slice(None),) * d + (i,)] for i in range(input.shape[d]))


def repeat(input: Tensor, *sizes) -> Tensor:
    """Tiles the tensor ``sizes[i]`` times along each dim, as torch's ``repeat``."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < input.ndim:
        raise ValueError(f"repeat: {len(sizes)} repeat counts for a tensor of {input.ndim} dimensions")
    shape = (1,) * (len(sizes) - input.ndim) + tuple(input.shape)
    out_shape = [r * n for r, n in zip(sizes, shape)]
    repeated = [i for i, r in enumerate(sizes) if r != 1]
    if input.numel() == 0 or not repeated:  # a copy, as torch's: the reshape alone is a view of the input
        return input.reshape(out_shape).clone()
    interleaved, expanded = [], []
    for r, n in zip(sizes, shape):
        interleaved += [1, n] if r != 1 else [n]  # a dim repeated once needs no repeat dim
        expanded += [r, n] if r != 1 else [n]
    # the last reshape copies the expanded tensor and views the copy: that copy is taken over, so
    # the result is a new tensor, as torch's, without a second copy
    return input.reshape(interleaved).expand(*expanded).reshape(out_shape)._own_result()


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The ``length`` elements of ``dim`` from ``start`` (negative counts from the end; an int or a
    one-element int64 tensor), a view, as torch's: a range past the end of the dim raises."""
    shape = tuple(input.shape)
    if input.ndim == 0:
        raise ValueError("narrow: cannot be applied to a 0-dim tensor")
    (d,) = _dims("narrow", dim, input.ndim)
    start, length, size = operator.index(start), operator.index(length), shape[d]
    if not -size <= start <= size:
        raise IndexError(
            f"narrow: start out of range (expected to be in range of [{-size}, {size}], but got {start}) "
            f"for dim {d} of shape {shape}"
        )
    if start < 0:
        start += size
    if length < 0:
        raise ValueError(f"narrow: length must be non-negative, got {length}")
    if start + length > size:
        raise ValueError(
            f"narrow: start ({start}) + length ({length}) exceeds dimension size ({size}) of dim {d} of shape {shape}"
        )
    index = [builtins.slice(None)] * input.ndim
    index[d] = builtins.slice(start, start + length)
    return input[tuple(index)]


def movedim(input: Tensor, source, destination) -> Tensor:
    """``input`` with its dims ``source`` (an int or a sequence) at the positions ``destination``,
    the other dims keeping their order, as torch's (a view: a permute)."""
    src = _dim_list("movedim", source, input.ndim)
    dst = _dim_list("movedim", destination, input.ndim)
    if len(src) != len(dst):
        raise ValueError(
            f"movedim: source {source!r} ({len(src)} dims) and destination {destination!r} ({len(dst)} dims) "
            "must name the same number of dims"
        )
    if input.ndim == 0:
        return input.view(())
    order = [-1] * input.ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(d for d in range(input.ndim) if d not in src)
    return input.permute(*(o if o >= 0 else next(rest) for o in order))


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """``transpose(axis0, axis1)`` (NumPy's name), as torch's."""
    return _swap("swapaxes", input, axis0, axis1)


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """``transpose(dim0, dim1)``, as torch's."""
    return _swap("swapdims", input, dim0, dim1)


def _swap(op: str, input: Tensor, dim0: int, dim1: int) -> Tensor:
    (d0,), (d1,) = _dim_list(op, dim0, input.ndim), _dim_list(op, dim1, input.ndim)
    return input.transpose(d0, d1) if input.ndim else input.view(())


def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """``dim`` split into ``sizes`` (a sequence of ints, one of which may be -1: the size the others
    leave), a view where the layout allows, as torch's: (N, 3 * 8 * 8) -> (N, 3, 8, 8) with
    ``unflatten(x, 1, (3, 8, 8))``."""
    shape = tuple(input.shape)
    (d,) = _dim_list("unflatten", dim, input.ndim)
    if input.ndim == 0:
        raise IndexError("unflatten: a 0-dim tensor has no dim to unflatten")
    given = tuple(operator.index(s) for s in sizes)
    sizes = list(given)
    if not sizes:
        raise ValueError("unflatten: sizes must be non-empty")
    if sizes.count(-1) > 1 or builtins.any(s < -1 for s in sizes):
        raise ValueError(f"unflatten: sizes {given} may hold one -1 and otherwise sizes >= 0")
    known = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if known == 0:
            raise ValueError(
                f"unflatten: the -1 in sizes {given} is ambiguous for dim {d} (size {shape[d]}) of shape {shape}"
            )
        sizes[sizes.index(-1)] = shape[d] // known
    if math.prod(sizes) != shape[d]:
        raise ValueError(
            f"unflatten: sizes {given} don't multiply up to the size of dim {d} ({shape[d]}) of shape {shape}"
        )
    return input.reshape(*shape[:d], *sizes, *shape[d + 1 :])


def amax(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """The largest values over ``dim`` (an int or several; all dims when empty); tied maxima
    share the gradient evenly, as torch's."""
    dims = _dims("amax", dim, input.ndim)
    return _core.functional.amax(input, list(dims), keepdim)


def amin(input: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    if input.dtype == "bool":  # every element true: all()
        return ~amax(~input, dim, keepdim)
    if input.dtype in INT_DTYPES:  # -1 - x reverses the order without overflow (-x of the least wraps)
        return -1 - amax(-1 - input, dim, keepdim)
    return -amax(-input, dim, keepdim)


def any(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 (torch's name)
    """A bool mask: true where some element is nonzero (uint8 0/1 for a uint8 input, as torch's).
    With ``dim`` None and ``keepdim`` every dim stays, of size 1, as torch's."""
    out = _count_reduce(input != 0, dim, keepdim) > 0
    return out.to("uint8") if input.dtype == "uint8" else out


def all(input: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """A bool mask: true where every element is nonzero (NaN counts as nonzero, as in torch; uint8
    0/1 for a uint8 input)."""
    out = _count_reduce(input == 0, dim, keepdim) == 0
    return out.to("uint8") if input.dtype == "uint8" else out


def _count_reduce(mask: Tensor, dim, keepdim: bool) -> Tensor:
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        return mask  # an empty tuple of dims reduces none, as torch's any/all
    if dim is not None:
        return mask.sum(dim, keepdim=keepdim)
    total = mask.sum()
    return total.reshape([1] * mask.ndim) if keepdim else total


def _new(fill):
    def method(self: Tensor, *size, dtype=None, device=None, requires_grad: bool = False, **kwargs) -> Tensor:
        if set(kwargs) - {"size"} or (size and kwargs):
            raise TypeError(f"new tensor: unexpected arguments {sorted(kwargs)} with size {size}")
        size = kwargs.get("size", size)
        size = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        out = fill(size, dtype=dtype or self.dtype, device=device or self.device)
        return out.requires_grad_() if requires_grad else out

    return method


def _new_full(self: Tensor, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    out = full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device)
    return out.requires_grad_() if requires_grad else out


def _new_tensor(self: Tensor, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _core.tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)


_native_clamp = Tensor.clamp


def clamp(input: Tensor, min=None, max=None) -> Tensor:  # noqa: A001, A002 (torch's names)
    """``input`` limited to [min, max] (numbers or tensors that broadcast with it; either may be
    None), as torch's; a finite number bound past a float input's largest value is a ValueError,
    as torch refuses it (``clamp(max=1e5)`` of a float16 tensor)."""
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        _broadcast_shape("clamp", input=input, min=min, max=max)
    if isinstance(input, Tensor):
        check_float_args("clamp", input.dtype, min, max)
    if isinstance(input, Tensor) and input.dtype == "bool":  # the native clamp would give float32
        dtype = _result_dtype(input, min, max)
        bounds = [v for v in (min, max) if v is not None]
        if dtype == "bool":
            # torch clamps bools only by one bool tensor bound (its maximum / minimum)
            if len(bounds) != 1 or not isinstance(bounds[0], Tensor):
                raise TypeError(
                    f"clamp: not supported for a bool tensor (shape {list(input.shape)}) with these bounds, as in "
                    "torch (only one bool tensor bound is); convert it with .long() or .float()"
                )
        else:
            input = input.to(dtype)
    return _native_clamp(input, min, max)


def _clamp_(self: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 (torch's argument names)
    """In place, as the other in-place ops (outside the graph it writes; inside it rebases)."""

    def compute():
        out = self.clamp(min, max)  # float32 bounds with dims make it float32: rounded back, as torch's
        return out.to(self.dtype) if self.dtype in LOW_FLOATS and out.dtype == "float32" else out

    return self._inplace_("clamp_", compute)


_native_add_, _native_sub_, _native_pow, _native_dunder_pow = Tensor.add_, Tensor.sub_, Tensor.pow, Tensor.__pow__


def _alpha(self: Tensor, other, alpha, op: str):
    """``alpha``, refused as torch's ``add(alpha=)`` refuses it: past the result's float dtype, a bool
    for a result that is not bool, a float for an integer or bool result."""
    if isinstance(alpha, (bool, np.bool_, float, np.floating)):
        dtype = _result_dtype(self, other)
        if isinstance(alpha, (bool, np.bool_)) and dtype != "bool":
            raise TypeError(f"{op}: a bool alpha is only supported for bool results, got {dtype}, as torch's")
        if isinstance(alpha, (float, np.floating)) and dtype not in FLOAT_DTYPES:
            raise TypeError(f"{op}: alpha must not be a float for {dtype} operands, got {alpha}, as torch's")
    if alpha != 1 and past_float16(alpha):
        check_float_args(op, _result_dtype(self, other), alpha)
    return alpha


def _add_sub_(native, op: str):
    """``add_``/``sub_`` with alpha: the operand is scaled here, so integers times an int alpha stay
    integers (a bool alpha of bool operands is a truth value)."""

    def method(self: Tensor, other, *, alpha=1):
        if alpha.__class__ is int and alpha == 1:
            return native(self, other)
        return native(self, _scaled(self, other, alpha, op))

    method.__name__ = method.__qualname__ = op
    return method


def _scaled(self: Tensor, other, alpha, op: str):
    alpha = _alpha(self, other, alpha, op)
    if isinstance(alpha, (bool, np.bool_)):  # a bool result: alpha counts as a truth value, as torch's
        return other if alpha else other & False
    if isinstance(other, Tensor) and other.dtype in INT_DTYPES:  # scaled in the result's dtype, not a narrower one
        dtype = _result_dtype(self, other)
        other = other.to(dtype) if dtype in INT_DTYPES and dtype != other.dtype else other
    return other * alpha


def _pow(self: Tensor, exponent, native):
    """``self ** exponent``; a number exponent must fit a 16-bit float tensor's dtype, as torch's."""
    if self.dtype in LOW_FLOATS:
        check_float_args("pow", self.dtype, exponent)
    return native(self, exponent)


def _t(self: Tensor) -> Tensor:
    if self.ndim > 2:
        raise ValueError(f"t() expects a tensor of at most 2 dimensions, got shape {tuple(self.shape)}")
    return self[...] if self.ndim < 2 else self.transpose(0, 1)  # a new view all the same, as torch's


def pow(input, exponent) -> Tensor:  # noqa: A001 (torch's name)
    """``md.pow(t, e)`` or ``md.pow(number, t)``."""
    return input**exponent


def _matrix_operands(op: str, input, mat2, ndim: int, names: tuple[str, str]) -> None:
    for name, t in zip(names, (input, mat2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be an md tensor, got {type(t).__name__}")
        if t.ndim != ndim:
            kind = "a 3D tensor" if ndim == 3 else "a matrix"
            raise ValueError(f"{op}: {name} must be {kind}, got shape {tuple(t.shape)}")


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """The batched product of (B, N, M) and (B, M, P) tensors, (B, N, P), as torch's: both are 3-D
    with one batch size (no broadcasting: ``matmul`` broadcasts)."""
    _matrix_operands("bmm", input, mat2, 3, ("batch1", "batch2"))
    (b, _, m), (b2, m2, _) = input.shape, mat2.shape
    if (b2, m2) != (b, m):
        raise ValueError(
            f"bmm: expected the first two dimensions of batch2 to be ({b}, {m}) for batch1 of shape "
            f"{tuple(input.shape)}, got batch2 of shape {tuple(mat2.shape)}"
        )
    return F.matmul(input, mat2)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """The product of (N, M) and (M, P) matrices, as torch's: both are 2-D (``matmul`` takes any)."""
    _matrix_operands("mm", input, mat2, 2, ("mat1", "mat2"))
    if input.shape[1] != mat2.shape[0]:
        raise ValueError(
            f"mm: mat1 and mat2 shapes cannot be multiplied ({input.shape[0]}x{input.shape[1]} and "
            f"{mat2.shape[0]}x{mat2.shape[1]})"
        )
    return F.matmul(input, mat2)


_native_stack = F.stack


def stack(tensors, dim: int = 0) -> Tensor:
    """The tensors (of one shape) joined along a new dim ``dim`` (in [-ndim - 1, ndim]), as torch's."""
    tensors = list(tensors)
    if tensors and isinstance(tensors[0], Tensor):
        (dim,) = _dim_list("stack", dim, tensors[0].ndim + 1)
    return _native_stack(tensors, dim)


_SHAPE_METHODS = {
    "split": split,
    "unbind": unbind,
    "repeat": repeat,
    "narrow": narrow,
    "movedim": movedim,
    "moveaxis": movedim,
    "swapaxes": swapaxes,
    "swapdims": swapdims,
    "unflatten": unflatten,
    "bmm": bmm,
    "mm": mm,
    "matmul": lambda self, other: F.matmul(self, other),
    "clamp": clamp,
    "amax": amax,
    "amin": amin,
    "any": any,
    "all": all,
    "expand_as": lambda self, other: self.expand(*other.shape),
    "view_as": lambda self, other: self.view(*other.shape),
    "reshape_as": lambda self, other: self.reshape(*other.shape),
    "type_as": lambda self, other: self.to(other.dtype),
    "t": _t,
    "is_floating_point": lambda self: self.dtype in FLOAT_DTYPES,
    "nelement": lambda self: self.numel(),
    "new_zeros": _new(_core.zeros),
    "new_ones": _new(_core.ones),
    "new_empty": _new(_core.empty),
    "new_full": _new_full,
    "new_tensor": _new_tensor,
    "add": lambda self, other, *, alpha=1: (
        self + (other if alpha.__class__ is int and alpha == 1 else _scaled(self, other, alpha, "add"))
    ),
    "sub": lambda self, other, *, alpha=1: (
        self - (other if alpha.__class__ is int and alpha == 1 else _scaled(self, other, alpha, "sub"))
    ),
    "add_": _add_sub_(_native_add_, "add_"),
    "sub_": _add_sub_(_native_sub_, "sub_"),
    "pow": lambda self, exponent: _pow(self, exponent, _native_pow),
    "__pow__": lambda self, exponent: _pow(self, exponent, _native_dunder_pow),
    "mul": lambda self, other: self * other,
    "div": lambda self, other: self / other,
    "eq": lambda self, other: self == other,
    "ne": lambda self, other: self != other,
    "lt": lambda self, other: self < other,
    "le": lambda self, other: self <= other,
    "gt": lambda self, other: self > other,
    "ge": lambda self, other: self >= other,
    "minimum": lambda self, other: F.minimum(self, other),
    "maximum": lambda self, other: F.maximum(self, other),
    "clip": lambda self, min=None, max=None: self.clamp(min, max),  # noqa: A002
    "clamp_": _clamp_,
    "clip_": _clamp_,
    "reciprocal": lambda self: 1.0 / self,
    "log_softmax": lambda self, dim=None: F.log_softmax(self, dim),
}


# ---- top-level function forms of Tensor methods (torch.sum(x, 1), torch.permute(x, dims), ...)


def _method_alias(name: str):
    def fn(input: Tensor, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``md.{name}(t, ...)`` is ``t.{name}(...)``."
    return fn


_FUNCTION_FORMS = (
    "sum", "mean", "max", "square", "rsqrt", "relu", "softmax", "permute", "reshape", "flatten",
    "transpose", "squeeze", "unsqueeze", "chunk", "numel", "is_floating_point", "clip", "neg", "log_softmax",
)  # fmt: skip


def from_numpy(array) -> Tensor:
    """A tensor holding a copy of ``array`` (torch shares the memory; minidiff copies), a NumPy
    array as torch requires."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(array).__name__})")
    return _core.tensor(array, device="cpu")  # (the host, whatever the default device: as torch's)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor: a tensor of the wanted dtype and device is returned itself, as torch's."""
    if isinstance(data, Tensor):
        return data.to(device=device or data.device, dtype=dtype)
    return _core.tensor(data, dtype=dtype, device=device)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0..n-1 (int64 unless ``dtype`` says otherwise), from the given (or
    the default) generator."""
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"randperm: n must be non-negative, got {n}")
    keys = _core.rand((n,), generator=generator, device="cpu").numpy()  # (drawn on the host, as before)
    dtype = _dtype(dtype) or "int64"
    out = _core.tensor(np.argsort(keys, kind="stable").astype(np.int64), dtype=dtype, device=device)
    return _requiring_grad(out, requires_grad)


def eye(n: int, m: int | None = None, *, dtype="float32", device=None, requires_grad: bool = False) -> Tensor:
    n, m = operator.index(n), operator.index(n if m is None else m)
    if n < 0 or m < 0:
        raise ValueError(f"eye: n and m must be non-negative, got n={n}, m={m}")
    out = _core.tensor(np.eye(n, m, dtype=np.float32), dtype=dtype, device=device)
    return _requiring_grad(out, requires_grad)


# names that are plain aliases of md.functional
_ALIASES = (
    "abs", "cos", "cumprod", "cumsum", "exp", "gather", "index_select", "log", "matmul", "sigmoid", "sin",
    "sqrt", "tanh", *F._UNARY_MATH,
)  # fmt: skip

# torch's NumPy-style spellings of the inverse functions
_ARC_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh",
              "arctanh": "atanh"}  # fmt: skip

_FUNCTIONS = {
    "allclose": allclose,
    "equal": equal,
    "isin": isin,
    "argmax": argmax,
    "argmin": argmin,
    "empty_like": empty_like,
    "logspace": logspace,
    "randint_like": randint_like,
    "randperm": randperm,
    "preserve_format": preserve_format,
    "contiguous_format": contiguous_format,
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
    "equal": equal,
    "isin": isin,
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
    "where": lambda self, condition, other: where(condition, self, other),
}


def install(namespace: dict) -> list[str]:
    """Adds the functions to ``namespace`` (the md package) and the methods to Tensor; returns the
    names added, for ``__all__``."""
    for name, fn in {**_METHODS, **_PROTOCOLS, **_SHAPE_METHODS}.items():
        setattr(Tensor, name, fn)
    for arc, name in _ARC_NAMES.items():
        setattr(Tensor, arc, getattr(Tensor, name))
    added = dict(_FUNCTIONS)
    added.update({name: getattr(F, name) for name in _ALIASES})
    added.update({arc: getattr(F, name) for arc, name in _ARC_NAMES.items()})
    added.update({name: _method_alias(name) for name in _FUNCTION_FORMS})
    added.update(
        split=split, unbind=unbind, amax=amax, amin=amin, any=any, all=all, concat=F.cat, concatenate=F.cat,
        bmm=bmm, mm=mm, from_numpy=from_numpy, as_tensor=as_tensor, is_tensor=is_tensor,
        eye=eye, pi=math.pi, pow=pow, movedim=movedim, moveaxis=movedim, swapaxes=swapaxes,
        swapdims=swapdims, unflatten=unflatten,
    )  # fmt: skip
    namespace.update(added)
    # names the package defines itself (listed in its __all__), checked here before the native op
    namespace.update(
        stack=stack, clamp=clamp, full=full, arange=arange, randint=randint, zeros_like=zeros_like,
        ones_like=ones_like, randn_like=randn_like,
    )  # fmt: skip
    from . import tensor_math  # its keyword spellings wrap the functions added above

    return sorted(set(added) | set(tensor_math.install(namespace)))
