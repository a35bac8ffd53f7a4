"""Still more of torch's tensor functions, composed from the differentiable ops so gradients come
from the tape: the named arithmetic (``add(alpha=)``, ``div(rounding_mode=)``, ``addcmul``,
``baddbmm``, ...), elementwise math (``atan2``, ``hypot``, ``logaddexp``, ``xlogy``, ``nan_to_num``,
``isclose``, ...), products (``dot``, ``tensordot``, ``kron``, ``mv``), shapes (``tile``,
``broadcast_to``, ``rot90``, ``diagonal``, ``diag_embed``), order statistics (``median``,
``quantile``, ``cummax``), NaN-ignoring reductions, ``cdist``, ``histc``, and the in-place Tensor
variants (``exp_``, ``atan2_``, ``addcmul_``, ...). ``install()`` adds each name that md or Tensor
does not already have.

Where torch returns a bool tensor these do too (as ``md.isnan`` does). Positions (``median``'s
indices, ``tril_indices``) are int64, as in torch; those that depend on the data are computed on
the host, as tensor_math's ``sort`` is, and the values are gathered with the differentiable ops.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import math
import numbers
from collections import namedtuple

import numpy as np

from . import _core
from . import functional as F
from . import tensor_math as _tm
from . import tensor_ops as _to
from ._core import Tensor
from ._dtypes import FLOAT_MAX, INT_DTYPES, KINDS, check_float_args
from ._dtypes import LOW_FLOATS as _LOW_FLOATS
from .autograd import _expands_to, _sum_to, no_grad
from .tensor_math import _refuse_bool
from .tensor_ops import _broadcast_shape, _dim_list, _dims, _narrow_ints_in_int64

_INF = math.inf

MedianResult = namedtuple("median", ["values", "indices"])
NanmedianResult = namedtuple("nanmedian", ["values", "indices"])
CummaxResult = namedtuple("cummax", ["values", "indices"])
CumminResult = namedtuple("cummin", ["values", "indices"])
AminmaxResult = namedtuple("aminmax", ["min", "max"])


def _tensor(op: str, input, name: str = "input") -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: {name} must be an md tensor, got {type(input).__name__}")
    return input


def _is_number(v) -> bool:
    return isinstance(v, (numbers.Real, np.bool_))


def _pair(op: str, input, other) -> tuple[Tensor, Tensor]:
    """Both operands as float tensors on one device (a number becomes a 0-d tensor), checked to
    broadcast; the float math below has no int64 kernels, so int64 and bool operands are
    converted, as torch promotes them."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"{op}: expected a Tensor operand, got {type(input).__name__} and {type(other).__name__}")
    like = input if isinstance(input, Tensor) else other
    out = []
    for v in (input, other):
        if not isinstance(v, Tensor):
            if not _is_number(v):
                raise TypeError(f"{op}: operands must be tensors or numbers, got {type(v).__name__}")
            v = _core.tensor(float(v), device=like.device)
        out.append(v.float() if v.dtype in ("int64", "bool") else v)
    _broadcast_shape(op, input=out[0], other=out[1])
    return out[0], out[1]


def _unary(op: str, input) -> Tensor:
    x = _tensor(op, input)
    return x.float() if x.dtype in ("int64", "bool") else x


def _low_float_in_float32(operands: int):
    """For a composed float op: where one of its first ``operands`` arguments is a bfloat16 or
    float16 tensor, the op runs on float32 copies of its 16-bit tensors and the result is rounded
    once to torch's dtype (the 16-bit one, or float32 beside a float32 tensor with dims), as torch's
    16-bit kernels compute in float32; each step rounded to 16 bits would lose digits (``sinc(100.5)`` takes the
    sine of ``pi * 100.5`` rounded to 316) and constants or converted int64 operands in float32
    with dims would make the result float32. float32 operands take the op's own path."""

    def decorate(fn):
        signature = inspect.signature(fn)
        names = list(signature.parameters)[:operands]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not builtins.any(
                isinstance(v, Tensor) and v.dtype in _LOW_FLOATS for v in (*args[:operands], *kwargs.values())
            ):
                return fn(*args, **kwargs)  # (no 16-bit operand: no binding of the arguments to names)
            bound = signature.bind(*args, **kwargs)
            values = [bound.arguments.get(name) for name in names]
            if not builtins.any(isinstance(v, Tensor) and v.dtype in _LOW_FLOATS for v in values):
                return fn(*args, **kwargs)
            dtype = _to._result_dtype(*values)
            for name in signature.parameters:
                v = bound.arguments.get(name)
                if isinstance(v, Tensor) and v.dtype in _LOW_FLOATS:
                    bound.arguments[name] = v.float()
            out = fn(*bound.args, **bound.kwargs)
            return out.to(dtype) if dtype in _LOW_FLOATS and out.dtype == "float32" else out

        wrapper.__signature__ = signature  # (for help() and the type stubs)
        return wrapper

    return decorate


def _refuse_mixed_low_float(op: str, **tensors) -> None:
    """A TypeError where a bfloat16 or float16 operand meets one of another dtype in a product torch
    refuses to promote (dot, addmm, ...; md's matmul refuses them too)."""
    dtypes = {t.dtype for t in tensors.values()}
    if dtypes & set(_LOW_FLOATS) and len(dtypes) > 1:
        listed = ", ".join(f"{name} {t.dtype}" for name, t in tensors.items())
        raise TypeError(f"{op}: expected operands of one dtype, got {listed}")


def _mask(t: Tensor) -> Tensor:
    """A float32 0/1 mask outside the graph (comparisons have no gradient)."""
    return t.detach().float() if t.dtype != "float32" else t.detach()


# ---- the named arithmetic


def add(input, other, *, alpha=1) -> Tensor:
    """``input + alpha * other``, as torch's (either operand may be a number)."""
    _check_operands("add", input, other)
    _to._alpha(input, other, alpha, "add")
    if alpha != 1 and builtins.all(isinstance(v, Tensor) and v.dtype == "bool" for v in (input, other)):
        return input | other if alpha else input.clone()  # bools: alpha counts as a truth value, as torch's
    return input + (_to._scaled(input, other, alpha, "add") if alpha != 1 else other)


def sub(input, other, *, alpha=1) -> Tensor:
    """``input - alpha * other``, as torch's."""
    _check_operands("sub", input, other)
    _to._alpha(input, other, alpha, "sub")
    return input - (_to._scaled(input, other, alpha, "sub") if alpha != 1 else other)


def mul(input, other) -> Tensor:
    _check_operands("mul", input, other)
    return input * other


def _check_operands(op: str, input, other) -> None:
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"{op}: expected a Tensor operand, got {type(input).__name__} and {type(other).__name__}")
    _broadcast_shape(op, input=input, other=other)


def _trunc_quotient(x, y):
    if x.dtype == np.int64:
        q = np.sign(x) * np.sign(y) * (np.abs(x) // np.abs(y))
    else:
        q = np.trunc(np.divide(x, y))  # the float32 quotient truncated, as torch's kernel
    return q, q


def div(input, other, *, rounding_mode=None) -> Tensor:
    """``input / other``; ``rounding_mode="trunc"`` rounds the quotient toward zero, ``"floor"``
    down (both exact, computed on the host as ``md.floor_divide``; int64 operands then stay int64,
    and their gradient is zero, as torch's)."""
    _check_operands("div", input, other)
    if rounding_mode is None:
        return input / other
    if rounding_mode == "floor":
        return _tm.floor_divide(input, other)
    if rounding_mode == "trunc":
        return _trunc_divide(input, other)
    raise ValueError(f"div: expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}")


@_narrow_ints_in_int64(2)
def _trunc_divide(input, other) -> Tensor:
    return _tm._division("div", input, other, _trunc_quotient, lambda q: np.zeros_like(q), grad_a=False)


def true_divide(input, other) -> Tensor:
    return div(input, other)


# ---- elementwise math


def signbit(input) -> Tensor:
    """A bool mask: true where the sign bit is set, -0.0 included (the sign of a NaN is not read:
    false)."""
    x = _tensor("signbit", input)
    with no_grad():
        x = x.detach()
        if x.dtype in ("int64", "bool"):
            return x < 0
        return (x < 0) | ((x == 0) & ((1.0 / F.where(x == 0, x, 1.0)) < 0))


@_low_float_in_float32(2)  # (the branch constants are float32)
def atan2(input, other) -> Tensor:
    """The angle of the point (other, input) in [-pi, pi], with the signs of zeros and infinities
    read as C's atan2. Gradients: ``other / r^2`` and ``-input / r^2``, 0 at the origin, as torch's.
    Where one operand is infinite (or NaN) torch's gradient for the other is NaN (inf * 0); these
    are 0 (a deliberate difference)."""
    y, x = _pair("atan2", input, other)
    with no_grad():
        yd, xd = y.detach(), x.detach()
        both_inf = _to.isinf(yd) * _to.isinf(xd)
        first = (xd.abs() >= yd.abs()) + both_inf > 0  # |y / x| <= 1 (NaN: the second branch)
        x_neg, y_neg = signbit(xd), signbit(yd)
        origin = (xd == 0) * (yd == 0)
    # infinities in both: the angle of the unit signs (pi/4, 3pi/4, ...)
    y = F.where(both_inf, F.where(y_neg, -1.0, 1.0), y)
    x = F.where(both_inf, F.where(x_neg, -1.0, 1.0), x)
    num = F.where(first, y, x)
    num = F.where(origin, num.detach(), num)  # its signed zero is the value; no gradient there
    den = F.where(first, x, y)
    den = F.where(den == 0, 1.0, den)  # only 0/0, where the numerator is 0 too
    r = F.atan(num / den)
    near_x = F.where(x_neg, r + F.where(y_neg, -math.pi, math.pi), r)
    near_y = F.where(y_neg, -math.pi / 2, math.pi / 2) - r
    return F.where(first, near_x, near_y)


@_low_float_in_float32(2)
def hypot(input, other) -> Tensor:
    """``sqrt(input^2 + other^2)`` without overflow (scaled by the larger magnitude); inf when
    either is infinite, NaN included, as C's hypot."""
    a, b = _pair("hypot", input, other)
    with no_grad():
        m = F.maximum(a.detach().abs(), b.detach().abs())
        scale = F.where((m > 0) * (m < _INF), m, 1.0)
        infinite = _to.isinf(a.detach()) + _to.isinf(b.detach()) > 0
    out = scale * ((a / scale) ** 2 + (b / scale) ** 2).sqrt()
    return F.where(infinite, _INF, out)


def _logaddexp(op: str, input, other, exp, log_base: float, nan_ties=(-_INF, _INF)) -> Tensor:
    a, b = _pair(op, input, other)
    with no_grad():
        ad, bd = a.detach(), b.detach()
        a_more, b_more, tie = ad > bd, ad < bd, ad == bd
        infinite_tie = tie * builtins.sum(ad == v for v in nan_ties)
    # the larger operand, split evenly at a tie so the gradients are torch's 1/2 and 1/2 there; at
    # equal infinities (those in nan_ties) torch's are NaN (exp(inf - inf)): log(exp(t)) is t there
    # with a NaN gradient
    split = a * 0.5 + b * 0.5
    if _core.is_grad_enabled() and (a.requires_grad or b.requires_grad):  # the values are the same
        a_inf, b_inf = (F.log(F.exp(F.where(infinite_tie, t, 0.0))) for t in (a, b))
        split = F.where(infinite_tie, a_inf * 0.5 + b_inf * 0.5, split)
    larger = F.where(a_more, a, F.where(b_more, b, split))
    gap = F.where(tie, 0.0, a - b).abs()  # equal infinities: no inf - inf
    return larger + F.log1p(exp(-gap)) / log_base


@_low_float_in_float32(2)
def logaddexp(input, other) -> Tensor:
    """``log(exp(input) + exp(other))`` without overflow."""
    return _logaddexp("logaddexp", input, other, F.exp, 1.0)


@_low_float_in_float32(2)
def logaddexp2(input, other) -> Tensor:
    """``log2(2^input + 2^other)`` without overflow."""
    return _logaddexp("logaddexp2", input, other, F.exp2, math.log(2.0))


def logit(input, eps=None) -> Tensor:
    """``log(p / (1 - p))``; with ``eps``, p clamped to [eps, 1 - eps] first (zero gradient
    outside, as torch's; eps must fit a float input's dtype). Without eps the gradient
    ``1 / (p (1 - p))`` is NaN outside [0, 1] and infinite at 0 and 1, as torch's."""
    if isinstance(input, Tensor):
        check_float_args("logit", input.dtype, eps)
    return _logit(input, eps)


@_low_float_in_float32(1)
def _logit(input, eps=None) -> Tensor:
    x = _unary("logit", input)
    if eps is not None:
        c = x.clamp(eps, 1.0 - eps)
        out = F.log(c / (1.0 - c))
        if x.requires_grad and _core.is_grad_enabled():  # a NaN input has a NaN gradient, as torch's kernel
            with no_grad():
                nan_in = x.detach() != x.detach()
            out = F.where(nan_in, F.where(nan_in, x, 0.0) * math.nan, out)
        return out
    if not (x.requires_grad and _core.is_grad_enabled()):
        return F.log(x / (1.0 - x))
    # each branch sees a safe input where it is not taken, so no NaN reaches the others' gradient
    with no_grad():
        xd = x.detach()
        outside = (xd < 0) + (xd > 1) > 0
        edge = (xd == 0) + (xd == 1) > 0
        inside = (outside + edge) == 0
    xi = F.where(inside, x, 0.5)
    xe = F.where(edge, x, 0.5) + 0.0  # -0.0 as +0.0: torch's gradient at -0.0 is that at 0.0
    at_edge = F.log(xe) - F.log1p(-xe)  # -inf at 0 and inf at 1, with gradient 1/p + 1/(1 - p)
    nan_outside = F.where(outside, x, 0.0) * math.nan  # NaN, and a NaN gradient
    return F.where(outside, nan_outside, F.where(edge, at_edge, F.log(xi / (1.0 - xi))))


@_low_float_in_float32(2)
def xlogy(input, other) -> Tensor:
    """``input * log(other)``, 0 where input is 0 (unless other is NaN), as torch's. The gradient
    for input is ``log(other)`` (0 where input is 0 and other <= 0), for other ``input / other``."""
    x, y = _pair("xlogy", input, other)
    with no_grad():
        zero_x = x.detach() == 0
        # log is taken of 1 where x is 0 and y <= 0 (the result is 0 there): no -inf * 0 = NaN
        safe = zero_x * (y.detach() <= 0)
        zero_inf = zero_x * _to.isinf(y.detach())
    return F.where(zero_inf, 0.0, x * F.log(F.where(safe, 1.0, y)))


@_low_float_in_float32(2)
@_narrow_ints_in_int64(2)
def copysign(input, other) -> Tensor:
    """``|input|`` with the sign of other (-0.0 counts as negative). Gradient: the ratio of the
    result to input (0 where input is 0) for input, 0 for other, as torch's."""
    x, y = _pair("copysign", input, other)
    out = F.where(signbit(y), -x.abs(), x.abs())
    if y.requires_grad and _core.is_grad_enabled():  # zeros for other, as torch gives (not None)
        out = F.where(_core.zeros(out.shape, device=out.device), y, out)
    return out


@_low_float_in_float32(2)
@_narrow_ints_in_int64(2)
def heaviside(input, values) -> Tensor:
    """0 for negative input, 1 for positive, ``values`` at 0 (a tensor, as torch requires); zero
    gradient."""
    x = _tensor("heaviside", input)
    if not isinstance(values, Tensor):
        raise TypeError(f"heaviside: values must be a tensor, got {type(values).__name__}")
    _broadcast_shape("heaviside", input=x, values=values)
    if "bool" in (x.dtype, values.dtype):
        if x.dtype != values.dtype:
            raise TypeError(f"heaviside: input ({x.dtype}) and values ({values.dtype}) must have one dtype, as torch's")
        with no_grad():  # a bool input is never negative: True stays, False takes values
            return x.detach() | values.detach()
    with no_grad():
        out = F.where(x.detach() == 0, values.detach(), (x.detach() > 0).float())
    if x.dtype == "int64" and values.dtype == "int64":
        return out.long()
    return _tm._with_zero_grad(out, x if x.requires_grad else values)


def float_power(input, exponent) -> Tensor:
    """``input ** exponent``, in float32 (torch computes in float64; minidiff has no float64), for
    bfloat16 and float16 operands too."""
    if isinstance(input, Tensor):
        input = _unary("float_power", input).float()
    if isinstance(exponent, Tensor):
        exponent = _unary("float_power", exponent).float()
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise TypeError("float_power: expected a Tensor operand")
    return input**exponent


def nan_to_num(input, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
    """NaN, inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default 0 and the
    largest and smallest finite value of input's dtype); zero gradient where replaced, as torch's."""
    x = _tensor("nan_to_num", input)
    if x.dtype in (*INT_DTYPES, "bool"):
        return x.clone()
    largest = FLOAT_MAX[x.dtype]  # (float32's max would round to inf in a 16-bit float)
    posinf = largest if posinf is None else posinf
    neginf = -largest if neginf is None else neginf
    with no_grad():
        xd = x.detach()
        is_nan, is_pos, is_neg = xd != xd, xd == _INF, xd == -_INF
    # md's where: the native one makes a 0-d 16-bit float tensor and a number float32
    where = _to._where
    return where(is_nan, float(nan), where(is_pos, float(posinf), where(is_neg, float(neginf), x)))


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """A bool mask: ``|input - other| <= atol + rtol * |other|``, or equal (infinities), or both
    NaN with ``equal_nan``."""
    a = _tensor("isclose", input)
    if not isinstance(other, Tensor):
        raise TypeError(f"isclose: other must be an md tensor, got {type(other).__name__}")
    if rtol < 0 or atol < 0:
        raise ValueError(f"isclose: rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    _broadcast_shape("isclose", input=a, other=other)
    if a.dtype != other.dtype and {a.dtype, other.dtype} & {"bool", *_LOW_FLOATS}:
        raise TypeError(f"isclose: input ({a.dtype}) and other ({other.dtype}) must have one dtype, as torch's")
    with no_grad():
        a, b = a.detach(), other.detach()
        if a.dtype == "int64" and b.dtype == "int64" and rtol == 0 and atol == 0:
            return a == b
        a, b = a.float(), b.float()
        finite = _to.isfinite(a) * _to.isfinite(b)
        close = (a - b).abs() <= atol + rtol * b.abs()
        out = (a == b) + finite * close
        if equal_nan:
            out = out + (a != a) * (b != b)
        return out > 0


def isposinf(input) -> Tensor:
    """A bool mask, true where input is +inf."""
    x = _tensor("isposinf", input)
    with no_grad():
        return x.detach() == _INF


def isneginf(input) -> Tensor:
    """A bool mask, true where input is -inf."""
    x = _tensor("isneginf", input)
    with no_grad():
        return x.detach() == -_INF


def isreal(input) -> Tensor:
    """A bool mask of trues (every minidiff dtype is real)."""
    x = _tensor("isreal", input)
    return _core.ones(x.shape, dtype="bool", device=x.device)


def clamp_min(input, min) -> Tensor:  # noqa: A002 (torch's argument name)
    return _to.clamp(input, min, None)


def clamp_max(input, max) -> Tensor:  # noqa: A002
    return _to.clamp(input, None, max)


def sgn(input) -> Tensor:
    """``sign`` (for real tensors torch's sgn is sign)."""
    return _tm.sign(input)


def positive(input) -> Tensor:
    """input itself, as torch's (which refuses a bool tensor)."""
    _refuse_bool("positive", input)
    return _tensor("positive", input)


def negative(input) -> Tensor:
    return -_tensor("negative", input)


@_low_float_in_float32(2)
def ldexp(input, other) -> Tensor:
    """``input * 2 ** other`` (a float result)."""
    x, e = _pair("ldexp", input, other)
    return x * F.exp2(e)


def deg2rad(input) -> Tensor:
    return _unary("deg2rad", input) * (math.pi / 180.0)


def rad2deg(input) -> Tensor:
    return _unary("rad2deg", input) * (180.0 / math.pi)


@_low_float_in_float32(1)
def sinc(input) -> Tensor:
    """``sin(pi x) / (pi x)``, 1 at 0 (where its gradient is 0)."""
    x = _unary("sinc", input)
    zero = x.detach() == 0
    px = F.where(zero, 1.0, x) * math.pi
    return F.where(zero, 1.0, F.sin(px) / px)


# ---- products


def _ndim_check(op: str, t, ndims, name: str) -> Tensor:
    t = _tensor(op, t, name)
    if t.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{op}: {name} must be {want}, got shape {tuple(t.shape)}")
    return t


@_narrow_ints_in_int64(2)
def dot(input, tensor) -> Tensor:  # noqa: A002 (torch's argument names)
    """The inner product of two 1-D tensors of one length."""
    a = _ndim_check("dot", input, (1,), "input")
    b = _ndim_check("dot", tensor, (1,), "tensor")
    _refuse_bool("dot", a, b)
    _refuse_mixed_low_float("dot", input=a, tensor=b)
    if a.shape != b.shape:
        raise ValueError(f"dot: inconsistent tensor sizes {tuple(a.shape)} and {tuple(b.shape)}")
    return (a * b).sum()


@_narrow_ints_in_int64(2)
def vdot(input, other) -> Tensor:
    """The inner product of two 1-D tensors of one length (real tensors: ``dot``)."""
    a = _ndim_check("vdot", input, (1,), "input")
    b = _ndim_check("vdot", other, (1,), "other")
    _refuse_bool("vdot", a, b)
    _refuse_mixed_low_float("vdot", input=a, other=b)
    if a.shape != b.shape:
        raise ValueError(f"vdot: inconsistent tensor sizes {tuple(a.shape)} and {tuple(b.shape)}")
    return (a * b).sum()


def mv(input, vec) -> Tensor:
    """The product of an (N, M) matrix and an (M,) vector, (N,)."""
    m = _ndim_check("mv", input, (2,), "input")
    v = _ndim_check("mv", vec, (1,), "vec")
    if m.shape[1] != v.shape[0]:
        raise ValueError(f"mv: size mismatch, got input {tuple(m.shape)} and vec {tuple(v.shape)}")
    return F.matmul(m, v)


def tensordot(a, b, dims=2) -> Tensor:
    """The sum of products over ``dims``: an int (a's last dims with b's first) or a pair of lists
    of dims (a's, b's); the result has a's other dims, then b's."""
    a, b = _tensor("tensordot", a, "a"), _tensor("tensordot", b, "b")
    if isinstance(dims, Tensor):
        raise TypeError("tensordot: dims as a tensor is not supported; pass an int or a pair of lists")
    if isinstance(dims, numbers.Integral):
        n = int(dims)
        if n < 0:
            raise ValueError(f"tensordot: expects dims >= 0, but got dims={n}")
        if n > a.ndim or n > b.ndim:
            raise ValueError(f"tensordot: dims={n} exceeds the dims of a {tuple(a.shape)} or b {tuple(b.shape)}")
        dims_a, dims_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        try:
            dims_a, dims_b = dims
        except (TypeError, ValueError):
            raise TypeError(f"tensordot: dims must be an int or a pair of lists of dims, got {dims!r}") from None
        dims_a = [dims_a] if isinstance(dims_a, int) else list(dims_a)
        dims_b = [dims_b] if isinstance(dims_b, int) else list(dims_b)
        if len(dims_a) != len(dims_b):
            raise ValueError(f"tensordot: both dimension lists should have same length, got {dims_a} and {dims_b}")
        dims_a = _dim_list("tensordot", dims_a, a.ndim) if dims_a else []
        dims_b = _dim_list("tensordot", dims_b, b.ndim) if dims_b else []
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise ValueError(
                f"tensordot: contracted dimensions need to match, but first has size {a.shape[da]} in dim {da} "
                f"and second has size {b.shape[db]} in dim {db} (a {tuple(a.shape)}, b {tuple(b.shape)})"
            )
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    k = int(np.prod([a.shape[d] for d in dims_a], dtype=np.int64))
    out_shape = [a.shape[d] for d in free_a] + [b.shape[d] for d in free_b]
    m = int(np.prod([a.shape[d] for d in free_a], dtype=np.int64))
    n = int(np.prod([b.shape[d] for d in free_b], dtype=np.int64))
    am = a.permute(*free_a, *dims_a).reshape(m, k) if a.ndim else a.reshape(1, 1)
    bm = b.permute(*dims_b, *free_b).reshape(k, n) if b.ndim else b.reshape(1, 1)
    return F.matmul(am, bm).reshape(*out_shape)


def inner(input, other) -> Tensor:
    """The sum of products over the last dims (a product when either is 0-d)."""
    a, b = _tensor("inner", input), _tensor("inner", other, "other")
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"inner: the last dimensions of input {tuple(a.shape)} and other {tuple(b.shape)} must match")
    return tensordot(a, b, ([-1], [-1]))


def kron(input, other) -> Tensor:
    """The Kronecker product: dims paired from the right (the shorter padded with 1s), sizes
    multiplied."""
    a, b = _tensor("kron", input), _tensor("kron", other, "other")
    n = builtins.max(a.ndim, b.ndim)
    sa = [1] * (n - a.ndim) + list(a.shape)
    sb = [1] * (n - b.ndim) + list(b.shape)
    ai = a.reshape(*[v for s in sa for v in (s, 1)]) if n else a
    bi = b.reshape(*[v for s in sb for v in (1, s)]) if n else b
    return (ai * bi).reshape(*[x * y for x, y in zip(sa, sb)])._own_result()  # the product's buffer, no view


def _scaled_sum(op: str, input, product: Tensor, beta, alpha) -> Tensor:
    """``beta * input + alpha * product``; beta = 0 ignores input's values (NaN and inf too), as
    torch does, though input must still broadcast (its gradient is then zero). beta and alpha must
    fit float32 (addmv: the dtype), as torch's."""
    check_float_args(op, product.dtype, beta, alpha, opmath=op != "addmv")
    _refuse_mixed_low_float(op, input=input, product=product)
    _broadcast_shape(op, input=input, product=product)
    if tuple(np.broadcast_shapes(tuple(input.shape), tuple(product.shape))) != tuple(product.shape):
        raise ValueError(
            f"{op}: input of shape {tuple(input.shape)} does not broadcast to the product's shape "
            f"{tuple(product.shape)}"
        )
    out = product * alpha if alpha != 1 else product
    if beta == 0:
        if input.requires_grad and _core.is_grad_enabled():
            return F.where(_core.zeros(out.shape, device=out.device), input, out)  # zero gradient for input
        return out
    return out + (input * beta if beta != 1 else input)


def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)``."""
    return _scaled_sum("addmm", _tensor("addmm", input), _to.mm(mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``."""
    return _scaled_sum("addmv", _tensor("addmv", input), mv(mat, vec), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)`` (attention scores with a bias)."""
    return _scaled_sum("baddbmm", _tensor("baddbmm", input), _to.bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * sum_b(batch1[b] @ batch2[b])``."""
    return _scaled_sum("addbmm", _tensor("addbmm", input), _to.bmm(batch1, batch2).sum(0), beta, alpha)


@_low_float_in_float32(3)
def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:
    """``input + value * tensor1 * tensor2`` (the optimizers' update)."""
    _broadcast_shape("addcmul", input=input, tensor1=tensor1, tensor2=tensor2)
    check_float_args("addcmul", lambda: _to._result_dtype(input, tensor1, tensor2), value, opmath=True)
    prod = tensor1 * tensor2
    return input + (prod * value if value != 1 else prod)


@_low_float_in_float32(3)
def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:
    """``input + value * tensor1 / tensor2`` (Adam's step)."""
    _broadcast_shape("addcdiv", input=input, tensor1=tensor1, tensor2=tensor2)
    check_float_args("addcdiv", lambda: _to._result_dtype(input, tensor1, tensor2), value, opmath=True)
    if all(isinstance(t, Tensor) and t.dtype in (*INT_DTYPES, "bool") for t in (tensor1, tensor2)):  # as torch's
        raise TypeError("addcdiv: integer division of tensors is no longer supported; use a float tensor")
    quot = tensor1 / tensor2
    return input + (quot * value if value != 1 else quot)


# ---- shapes


def tile(input, dims) -> Tensor:
    """input repeated ``dims`` times along each dim; dims shorter than input's rank are padded with
    1s in front, as torch's."""
    x = _tensor("tile", input)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if any(d < 0 for d in dims):
        raise ValueError(f"tile: negative repeats {dims} for shape {tuple(x.shape)}")
    dims = (1,) * (x.ndim - len(dims)) + dims
    return x.repeat(*dims)


def _tile_method(self, *dims) -> Tensor:
    """``t.tile(2, 1)`` or ``t.tile((2, 1))``, as torch's method."""
    if len(dims) == 1 and not isinstance(dims[0], numbers.Integral):
        dims = dims[0]
    return tile(self, dims)


def broadcast_to(input, size) -> Tensor:
    """input expanded to ``size`` (-1 keeps a dim), a view, as ``expand``."""
    x = _tensor("broadcast_to", input)
    size = tuple(int(s) for s in size)
    lead = len(size) - x.ndim
    ok = lead >= 0
    if ok:
        for i, s in enumerate(size):
            have = x.shape[i - lead] if i >= lead else None
            if have is None and s < 0 or have is not None and s != -1 and have != 1 and have != s:
                ok = False
    if not ok:
        raise ValueError(f"broadcast_to: the shape {tuple(x.shape)} cannot be broadcast to {size}")
    return x.expand(*size)


def ravel(input) -> Tensor:
    return _tensor("ravel", input).reshape(-1)


def t(input) -> Tensor:
    """A 2-D tensor's transpose; a 0-D or 1-D tensor as it is."""
    return _tensor("t", input).t()


def fliplr(input) -> Tensor:
    x = _tensor("fliplr", input)
    if x.ndim < 2:
        raise ValueError(f"fliplr: input must be >= 2-d, got shape {tuple(x.shape)}")
    return _to.flip(x, (1,))


def flipud(input) -> Tensor:
    x = _tensor("flipud", input)
    if x.ndim < 1:
        raise ValueError(f"flipud: input must be >= 1-d, got shape {tuple(x.shape)}")
    return _to.flip(x, (0,))


def rot90(input, k: int = 1, dims=(0, 1)) -> Tensor:
    """input rotated by 90 degrees k times, from the first of ``dims`` toward the second."""
    x = _tensor("rot90", input)
    dims = list(dims)
    if len(dims) != 2:
        raise ValueError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise ValueError(f"rot90: expected total dims >= 2, but got shape {tuple(x.shape)}")
    d0, d1 = (_dim_list("rot90", d, x.ndim)[0] for d in dims)
    if d0 == d1:
        raise ValueError(f"rot90: expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k %= 4
    if k == 1:  # the flip's new tensor, transposed and taken over: no view, as torch's
        return _to.flip(x, (d1,)).transpose(d0, d1)._own_result()
    if k == 2:
        return _to.flip(x, (d0, d1))
    if k == 3:
        return _to.flip(x, (d0,)).transpose(d0, d1)._own_result()
    return x.clone()


def _diagonal_positions(rows: int, cols: int, offset: int) -> np.ndarray:
    i = np.arange(builtins.max(builtins.min(rows + builtins.min(offset, 0), cols - builtins.max(offset, 0)), 0))
    return ((i - builtins.min(offset, 0)) * cols + i + builtins.max(offset, 0)).astype(np.int64)


def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal ``offset`` above the main one of the (dim1, dim2) planes, as the last dim: a
    view, as torch's."""
    x = _tensor("diagonal", input)
    return x._diagonal(int(offset), int(dim1), int(dim2))


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims dim1, dim2 of the result, which has one dim more) whose ``offset``
    diagonal holds input's last dim, zeros elsewhere."""
    x = _tensor("diag_embed", input)
    if x.ndim < 1:
        raise ValueError("diag_embed: expected a tensor of at least 1 dim, got a 0-d tensor")
    d1, d2 = _dim_list("diag_embed", [dim1, dim2], x.ndim + 1)
    length = x.shape[-1]
    n = length + builtins.abs(offset)
    source = np.full(n * n, length, dtype=np.int64)  # the zero appended after input's elements
    source[_diagonal_positions(n, n, offset)] = np.arange(length)
    padded = F.cat([x, _core.zeros((*x.shape[:-1], 1), dtype=x.dtype, device=x.device)], -1)
    out = padded.index_select(-1, _core.tensor(source, device=x.device)).reshape(*x.shape[:-1], n, n)
    out = _to.movedim(out, (-2, -1), (d1, d2))  # the only reference left to the gather's buffer
    return out._own_result()  # a new tensor, as torch's, not a view of that buffer


def trace(input) -> Tensor:
    """The sum of a 2-D tensor's main diagonal."""
    x = _ndim_check("trace", input, (2,), "input")
    _refuse_bool("trace", x)
    return diagonal(x).sum()


def _tri_indices(op: str, row: int, col: int, offset: int, dtype, device, lower: bool) -> Tensor:
    if dtype not in ("int64", None):
        raise TypeError(f"{op}: dtype must be int64, got {dtype}")
    if row < 0 or col < 0:
        raise ValueError(f"{op}: row and col must be non-negative, got {row} and {col}")
    keep = np.tri(row, col, offset, dtype=bool) if lower else ~np.tri(row, col, offset - 1, dtype=bool)
    r, c = np.nonzero(keep)
    return _core.tensor(np.stack([r, c]).astype(np.int64).reshape(2, -1), dtype="int64", device=device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype="int64", device=None) -> Tensor:
    """The (2, N) int64 positions of the lower triangle (``offset`` above the main diagonal
    included), row by row."""
    return _tri_indices("tril_indices", row, col, offset, dtype, device, lower=True)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype="int64", device=None) -> Tensor:
    """The (2, N) int64 positions of the upper triangle, row by row."""
    return _tri_indices("triu_indices", row, col, offset, dtype, device, lower=False)


# ---- reductions


def count_nonzero(input, dim=None) -> Tensor:
    """The number of non-zero elements over ``dim`` (all by default), int64."""
    x = _tensor("count_nonzero", input)
    dims = _dims("count_nonzero", dim, x.ndim)
    with no_grad():
        nz = x.detach() != 0
        return (nz.sum(dims) if dims else nz).long()


def nansum(input, dim=None, keepdim: bool = False) -> Tensor:
    """The sum over ``dim`` with NaN read as 0 (their gradient is 0)."""
    x = _tensor("nansum", input)
    if x.dtype in (*INT_DTYPES, "bool"):  # no NaN; integers and bools sum in int64
        return x.sum(_dims("nansum", dim, x.ndim), keepdim=keepdim)
    dims = _dims("nansum", dim, x.ndim)
    clean = _to.where(x.detach() != x.detach(), 0.0, x)  # (md's where keeps a 0-d 16-bit float x in its dtype)
    return clean.sum(dims, keepdim=keepdim) if dims else clean.clone()


@_low_float_in_float32(1)
def nanmean(input, dim=None, keepdim: bool = False) -> Tensor:
    """The mean over ``dim`` of the elements that are not NaN (NaN when there are none)."""
    x = _tensor("nanmean", input)
    if x.dtype in ("int64", "bool"):
        raise TypeError(f"nanmean: expected a floating point tensor, got {x.dtype}")
    dims = _dims("nanmean", dim, x.ndim)
    if not dims:  # a 0-d tensor: as a slice of one
        return nanmean(x.reshape(1), 0).reshape(())._own_result()
    with no_grad():
        xd = x.detach()
        count = (xd == xd).sum(dims, keepdim=True)
        # a slice of NaN only: its NaN goes in (the mean is NaN, and so is torch's gradient there)
        dropped = (xd != xd) * (count > 0)
        count = F.where(count > 0, count, math.nan)
    mean = F.where(dropped, 0.0, x).sum(dims, keepdim=True) / count
    if keepdim:
        return mean
    mean = mean.squeeze(dims)  # the last other reference to the quotient: it is taken over, not copied
    return mean._own_result()


def var_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> tuple:
    """(var, mean) over ``dim``, as ``md.var`` and ``mean`` (``correction=`` or ``unbiased=``)."""
    x = _tensor("var_mean", input)
    if isinstance(dim, bool):  # var_mean(t, False): torch's var_mean(unbiased) overload
        dim, unbiased = None, dim
    v = _to.var(x, dim, unbiased, keepdim, correction=correction)
    return v, _mean(x, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> tuple:
    """(std, mean) over ``dim``, as ``md.std`` and ``mean``."""
    x = _tensor("std_mean", input)
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    s = _to.std(x, dim, unbiased, keepdim, correction=correction)
    return s, _mean(x, dim, keepdim)


def _mean(x: Tensor, dim, keepdim: bool) -> Tensor:
    dims = _dims("mean", dim, x.ndim)
    if not dims:
        return x.clone()
    return x.mean(dims, keepdim=keepdim)


def aminmax(input, *, dim=None, keepdim: bool = False) -> tuple:
    """(min, max) over ``dim`` (all elements by default)."""
    x = _tensor("aminmax", input)
    if x.numel() == 0 and (dim is None or x.ndim == 0 or x.shape[_dim_list("aminmax", dim, x.ndim)[0]] == 0):
        raise ValueError(f"aminmax: cannot compute on an empty tensor of shape {tuple(x.shape)} (dim={dim})")
    if dim is None:
        lo, hi = x.amin(), x.amax()
        if keepdim:
            lo, hi = lo.reshape([1] * x.ndim), hi.reshape([1] * x.ndim)
        return AminmaxResult(lo, hi)
    (d,) = _dim_list("aminmax", dim, x.ndim)
    if x.ndim == 0:
        return AminmaxResult(x.clone(), x.clone())
    return AminmaxResult(x.amin(d, keepdim=keepdim), x.amax(d, keepdim=keepdim))


def _gather_dim(values: Tensor, dim: int, positions: np.ndarray, keepdim: bool) -> Tensor:
    idx = _core.tensor(np.ascontiguousarray(positions, dtype=np.int64), dtype="int64", device=values.device)
    out = values.gather(dim, idx)
    if keepdim:
        return out
    out = out.squeeze(dim)  # the last other reference to the gather: it is taken over, not copied
    return out._own_result()  # a new tensor, as torch's reductions give, not a view


def _median_dim(op: str, input, dim, keepdim: bool, ignore_nan: bool, result):
    x = _tensor(op, input)
    _refuse_bool(op, x)
    (d,) = _dim_list(op, dim, x.ndim)
    if x.ndim == 0:
        return result(x.clone(), _core.zeros((), dtype="int64", device=x.device))
    n = x.shape[d]
    if n == 0:
        raise IndexError(f"{op}: expected reduction dim {d} of shape {tuple(x.shape)} to have non-zero size")
    values, indices = _tm.sort(x, d)  # stable, NaN last
    nan_count = np.isnan(x.detach().numpy()).sum(axis=d, keepdims=True) if x.dtype != "int64" else 0
    nan_count = np.broadcast_to(nan_count, [1 if i == d else s for i, s in enumerate(x.shape)])
    if ignore_nan:
        k = np.maximum((n - nan_count - 1) // 2, 0)  # an all-NaN slice: its first NaN
    else:
        k = np.where(nan_count > 0, n - nan_count, (n - 1) // 2)  # a NaN: the first NaN
    v = _gather_dim(values, d, k, keepdim)
    i = _gather_dim(indices, d, k, keepdim)
    return result(v, i)


def _median_all(op: str, input, ignore_nan: bool) -> Tensor:
    """The lower median of all elements; its gradient is split evenly between the elements equal
    to it, as torch's."""
    x = _tensor(op, input)
    _refuse_bool(op, x)
    flat = x.reshape(-1)
    if flat.shape[0] == 0:
        if x.dtype == "int64":
            return flat.sum()
        return _tm._with_zero_grad(_core.full((), math.nan, device=x.device), flat.sum())  # in the graph, as torch's
    value = _median_dim(op, flat, 0, False, ignore_nan, MedianResult).values
    if not (x.requires_grad and _core.is_grad_enabled()):
        return value
    with no_grad():
        vd = value.detach()
        ties = F.where(vd != vd, flat.detach() != flat.detach(), flat.detach() == vd)
    shared = F.where(ties, flat, 0.0).sum() / ties.sum()  # NaN elsewhere must not reach the sum
    return vd + (shared - shared.detach())


def median(input, dim=None, keepdim: bool = False):
    """Without dim: the lower median of all elements (NaN if any is NaN). With dim: (values,
    indices), the lower median of each slice and its position (a NaN and its position where the
    slice has one)."""
    if dim is None:
        return _median_all("median", input, ignore_nan=False)
    return _median_dim("median", input, dim, keepdim, False, MedianResult)


def nanmedian(input, dim=None, keepdim: bool = False):
    """``median`` of the elements that are not NaN (NaN for a slice of NaN only)."""
    if dim is None:
        return _median_all("nanmedian", input, ignore_nan=True)
    return _median_dim("nanmedian", input, dim, keepdim, True, NanmedianResult)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op: str, input, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool) -> Tensor:
    x = _tensor(op, input)
    if x.dtype != "float32":  # bfloat16 and float16 too, as torch's
        raise TypeError(f"{op}: input tensor must be float32, got {x.dtype}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"{op}: interpolation must be one of linear, lower, higher, midpoint or nearest, got {interpolation!r}"
        )
    q_tensor = None
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise ValueError(f"{op}: q must be a scalar or 1D tensor, got shape {tuple(q.shape)}")
        qs, q_is_vector = q.detach().numpy().astype(np.float32).reshape(-1), q.ndim == 1
        if q.requires_grad and _core.is_grad_enabled() and interpolation == "linear":
            q_tensor = q.reshape(-1)  # linear interpolation is differentiable in q, as torch's
    else:
        qs, q_is_vector = np.array([q], dtype=np.float32), False
    if ((qs < 0) | (qs > 1) | np.isnan(qs)).any():
        raise ValueError(f"{op}: q values must be in the range [0, 1], got {qs.tolist()}")
    if x.numel() == 0:
        raise ValueError(f"{op}: input tensor must be non-empty, got shape {tuple(x.shape)}")
    if dim is None:
        work, d = x.reshape(-1), 0
        out_shape = [1] * x.ndim if keepdim else []
    else:
        (d,) = _dim_list(op, dim, x.ndim)
        work = x if x.ndim else x.reshape(1)
        out_shape = [1 if i == d else s for i, s in enumerate(work.shape)] if keepdim else [
            s for i, s in enumerate(work.shape) if i != d
        ]  # fmt: skip
        if x.ndim == 0:  # keepdim or not, as torch's
            out_shape = []
    n = work.shape[d]
    values = _tm.sort(work, d).values
    nan_count = np.isnan(work.detach().numpy()).sum(axis=d, keepdims=True)
    # ranks in float32, as torch's
    last = (n - nan_count - 1 if ignore_nan else np.full(nan_count.shape, n - 1)).astype(np.float32)
    results = []
    for i, qv in enumerate(qs):
        rank = np.float32(qv) * last
        if not ignore_nan:
            fixed = nan_count > 0
            rank = np.where(fixed, np.float32(n - 1), rank)  # a NaN, the last in sorted order (torch's rule)
        else:
            fixed = last < 0
            rank = np.where(fixed, np.float32(0), rank)  # all NaN: a NaN
        if interpolation == "nearest":
            rank = np.round(rank)  # half to even, as torch's
        below = np.floor(rank).astype(np.int64)
        above = np.ceil(rank).astype(np.int64)
        if interpolation == "lower":
            above = below
        elif interpolation == "higher":
            below = above
        lo = _gather_dim(values, d, below, True)
        if interpolation in ("lower", "higher", "nearest"):
            r = lo
        else:
            hi = _gather_dim(values, d, above, True)
            if interpolation == "midpoint":
                weight = np.full(rank.shape, 0.5, np.float32)
            else:
                weight = (rank - below).astype(np.float32)
            weight = _core.tensor(weight, device=x.device)
            if q_tensor is not None:  # the weight's value, with the gradient d(rank)/dq
                slope = _core.tensor(np.where(fixed, 0, last).astype(np.float32), device=x.device)
                weight = weight + (q_tensor[i] - q_tensor[i].detach()) * slope
            r = _to.lerp(lo, hi, weight)
        results.append(r.reshape(*out_shape))
    if q_is_vector and not results:  # an empty q: (0, *out_shape), in the graph as torch's
        return _core.zeros((0, *out_shape), device=x.device) + work.narrow(d, 0, 0).sum()
    if q_is_vector:
        return F.stack(results, 0)
    lo = hi = r = None  # the reshape's base, no longer held here: taken over below, not copied
    return results[0]._own_result()  # a new tensor, as torch's, not a view


def quantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """The q-th quantiles over ``dim`` (all elements by default); q a float or a 1-D tensor (its
    dim comes first in the result). A slice with a NaN gives NaN."""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, ignore_nan=False)


def nanquantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """``quantile`` of the elements that are not NaN (NaN for a slice of NaN only)."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, ignore_nan=True)


def _cumulative_extreme(op: str, input, dim, largest: bool, result):
    """Running max (min) along dim and the position it came from (the latest of equal values;
    a NaN propagates, with the position of the latest NaN), as torch's."""
    x = _tensor(op, input)
    (d,) = _dim_list(op, dim, x.ndim)
    if x.ndim == 0:
        return result(x.clone(), _core.zeros((), dtype="int64", device=x.device))
    a = np.moveaxis(x.detach().numpy(), d, -1)
    n = a.shape[-1]
    if n == 0 or a.size == 0:
        return result(x.clone(), _core.zeros(x.shape, dtype="int64", device=x.device))
    acc = np.maximum.accumulate if largest else np.minimum.accumulate
    with np.errstate(invalid="ignore"):
        run = acc(a, axis=-1)  # NaN propagates
        prev = np.concatenate([a[..., :1], run[..., :-1]], axis=-1)
        better = (a >= prev) if largest else (a <= prev)
        if a.dtype.kind == "f":
            take = np.isnan(a) | (~np.isnan(prev) & better)
        else:
            take = better
    take[..., 0] = True
    pos = np.where(take, np.arange(n), 0)
    idx = np.moveaxis(np.maximum.accumulate(pos, axis=-1), -1, d)
    return result(_gather_dim(x, d, idx, True), _core.tensor(np.ascontiguousarray(idx), dtype="int64", device=x.device))


def cummax(input, dim: int):
    """(values, indices): the running maximum along dim and where each came from."""
    return _cumulative_extreme("cummax", input, dim, True, CummaxResult)


def cummin(input, dim: int):
    """(values, indices): the running minimum along dim and where each came from."""
    return _cumulative_extreme("cummin", input, dim, False, CumminResult)


@_low_float_in_float32(1)
def logcumsumexp(input, dim: int) -> Tensor:
    """``log(cumsum(exp(x)))`` along dim without overflow or underflow: a log-space scan of
    ``logaddexp`` (log2(n) steps, each over the whole tensor)."""
    x = _unary("logcumsumexp", input)
    (d,) = _dim_list("logcumsumexp", dim, x.ndim)
    if x.ndim == 0:
        return x.clone()
    if _core.is_grad_enabled() and x.requires_grad:
        # torch's gradient, exp(x_i - out_j) summed, is NaN (exp(inf - inf)) at +inf inputs and in
        # a prefix of -inf (where out is -inf), not the scan's finite tie splits (1/2, 1/4, ...):
        # there x goes in as log(exp(x)), the same value with a NaN gradient
        with no_grad():
            xd = _mask(x)
            nan_grad = (xd == _INF) + (_scan(xd, d, F.maximum, -_INF) == -_INF) > 0
        x = F.where(nan_grad, F.log(F.exp(F.where(nan_grad, x, 0.0))), x)
    out = _scan(x, d, lambda a, b: _logaddexp("logcumsumexp", a, b, F.exp, 1.0, nan_ties=()), -_INF)
    return out if out is not x else x.clone()


def _scan(x: Tensor, d: int, combine, identity: float) -> Tensor:
    """The inclusive scan of ``combine`` along dim d: log2(n) steps, each over the whole tensor."""
    n = x.shape[d]
    out, shift = x, 1
    while shift < n:
        pad = _core.full([shift if i == d else s for i, s in enumerate(x.shape)], identity, device=x.device)
        out = combine(out, F.cat([pad, out.narrow(d, 0, n - shift)], d))
        shift *= 2
    return out


def cdist(x1, x2, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M), (..., P, R), the
    batch dims broadcast. Computed directly from the differences (torch may use a matrix product
    for p = 2, which differs in the last digits); only the default ``compute_mode`` is taken (the
    others choose torch's algorithm). Zero distances get zero gradient, as torch's."""
    a, b = _tensor("cdist", x1, "x1"), _tensor("cdist", x2, "x2")
    if {a.dtype, b.dtype} & set(_LOW_FLOATS):
        raise TypeError(f"cdist: not implemented for {a.dtype} and {b.dtype} (x1, x2), as torch's; use .float()")
    if compute_mode != "use_mm_for_euclid_dist_if_necessary":
        raise ValueError(
            f"cdist: compute_mode={compute_mode!r} is not supported; only the default "
            "'use_mm_for_euclid_dist_if_necessary' is"
        )
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"cdist: only supports at least 2D tensors, got x1 {tuple(a.shape)} and x2 {tuple(b.shape)}")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"cdist: x1 and x2 must have the same number of columns, got x1 {tuple(a.shape)} and x2 {tuple(b.shape)}"
        )
    if not isinstance(p, numbers.Real) or p < 0 or p != p:
        raise ValueError(f"cdist: only supports non-negative p values, got {p}")
    try:
        np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    except ValueError:
        raise ValueError(
            f"cdist: the batch dims of x1 {tuple(a.shape)} and x2 {tuple(b.shape)} cannot be broadcast"
        ) from None
    diff = a.unsqueeze(-2) - b.unsqueeze(-3)  # (..., P, R, M)
    if diff.shape[-1] == 0:
        return diff.sum(-1)
    if p == _INF:
        # torch's gradient gives each coordinate at the maximum the whole of it (a tie is not split)
        size = diff.abs()
        with no_grad():
            dist = size.detach().amax(-1)
            at_max = (size.detach() == dist.unsqueeze(-1)) * (dist.unsqueeze(-1) < _INF)
        return dist + F.where(at_max, size - size.detach(), 0.0).sum(-1)
    return _tm.norm(diff, p if p != 2 else 2, dim=-1)


def histc(input, bins: int = 100, min=0, max=0) -> Tensor:  # noqa: A002 (torch's argument names)
    """Counts of the elements in ``bins`` equal-width bins over [min, max] (the data's range when
    both are 0; elements outside are not counted), of input's float dtype, no gradient. 16-bit
    counts are the exact ones rounded (torch's counts in bfloat16 stop growing at 256)."""
    x = _tensor("histc", input)
    _refuse_bool("histc", x)
    if bins <= 0:
        raise ValueError(f"histc: bins must be > 0, got {bins}")
    check_float_args("histc", x.dtype, min, max)
    a = x.detach().numpy().astype(np.float32).reshape(-1)
    lo, hi = float(min), float(max)
    if lo > hi:
        raise ValueError(f"histc: max must be larger than min, got min={lo} and max={hi}")
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"histc: range of [{lo}, {hi}] is not finite")
    inside = a[(a >= lo) & (a <= hi)]
    pos = ((inside.astype(np.float64) - lo) * bins / (hi - lo)).astype(np.int64)
    pos = np.minimum(pos, bins - 1)
    counts = np.bincount(pos, minlength=bins).astype(np.float32)
    return _core.tensor(counts, dtype=x.dtype if x.dtype in _LOW_FLOATS else "float32", device=x.device)


# ---- in-place Tensor variants


def _operand_grad(*values) -> bool:
    return builtins.any(isinstance(v, Tensor) and v.requires_grad for v in values)


def _in_place(name: str, fn):
    """``t.name_(...)``: ``fn(t, ...)`` written into t through ``Tensor._inplace_``: outside the
    graph it overwrites t's elements (views see it); inside it (t or an operand requires grad) t
    takes the result and its history; a leaf that requires grad raises, as torch's."""

    def compute(self, args, kwargs):
        out = fn(self, *args, **kwargs)
        # a float32 result goes into a 16-bit float tensor rounded (torch casts an in-place result to
        # self's dtype where the kind allows: x.copysign_(float32) on bfloat16 x)
        return out.to(self.dtype) if self.dtype in _LOW_FLOATS and out.dtype == "float32" else out

    def method(self, *args, **kwargs):
        operands = builtins.any(_operand_grad(v) for v in (*args, *kwargs.values()))
        return self._inplace_(name, lambda: compute(self, args, kwargs), operands)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In place: ``{name[:-1]}(self, ...)`` written into self."
    return method


_FUNCTIONS = {
    "add": add,
    "sub": sub,
    "subtract": sub,
    "mul": mul,
    "multiply": mul,
    "div": div,
    "divide": div,
    "true_divide": true_divide,
    "atan2": atan2,
    "arctan2": atan2,
    "hypot": hypot,
    "logaddexp": logaddexp,
    "logaddexp2": logaddexp2,
    "logit": logit,
    "xlogy": xlogy,
    "copysign": copysign,
    "signbit": signbit,
    "heaviside": heaviside,
    "float_power": float_power,
    "nan_to_num": nan_to_num,
    "isclose": isclose,
    "isposinf": isposinf,
    "isneginf": isneginf,
    "isreal": isreal,
    "clamp_min": clamp_min,
    "clamp_max": clamp_max,
    "sgn": sgn,
    "positive": positive,
    "negative": negative,
    "ldexp": ldexp,
    "deg2rad": deg2rad,
    "rad2deg": rad2deg,
    "sinc": sinc,
    "dot": dot,
    "vdot": vdot,
    "mv": mv,
    "inner": inner,
    "tensordot": tensordot,
    "kron": kron,
    "addmm": addmm,
    "addmv": addmv,
    "addbmm": addbmm,
    "baddbmm": baddbmm,
    "addcmul": addcmul,
    "addcdiv": addcdiv,
    "tile": tile,
    "broadcast_to": broadcast_to,
    "ravel": ravel,
    "t": t,
    "fliplr": fliplr,
    "flipud": flipud,
    "rot90": rot90,
    "diagonal": diagonal,
    "diag_embed": diag_embed,
    "trace": trace,
    "tril_indices": tril_indices,
    "triu_indices": triu_indices,
    "count_nonzero": count_nonzero,
    "nansum": nansum,
    "nanmean": nanmean,
    "var_mean": var_mean,
    "std_mean": std_mean,
    "aminmax": aminmax,
    "median": median,
    "nanmedian": nanmedian,
    "quantile": quantile,
    "nanquantile": nanquantile,
    "cummax": cummax,
    "cummin": cummin,
    "logcumsumexp": logcumsumexp,
    "cdist": cdist,
    "histc": histc,
}

# md functions that are not Tensor methods in torch
_NOT_METHODS = {"tensordot", "tril_indices", "triu_indices", "cdist", "var_mean", "std_mean"}

# in-place methods: each is its out-of-place form written into the tensor
_IN_PLACE = (
    "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "abs", "neg", "reciprocal", "rsqrt", "square",
    "log1p", "expm1", "erf", "erfc", "erfinv", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh",
    "atanh", "log2", "log10", "exp2", "floor", "ceil", "round", "trunc", "frac", "fix", "sign", "sgn",
    "negative", "relu", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "absolute",
    "clamp_min", "clamp_max", "atan2", "arctan2", "hypot", "logit", "xlogy", "copysign", "nan_to_num",
    "ldexp", "deg2rad", "rad2deg", "sinc", "heaviside", "pow", "addcmul", "addcdiv", "addmm", "addmv",
    "baddbmm", "addbmm", "subtract", "multiply", "divide", "true_divide", "fmod", "remainder", "floor_divide",
    "sigmoid",
)  # fmt: skip


def install(namespace: dict) -> list[str]:
    """Adds the functions to ``namespace`` (the md package) and the methods to Tensor, each only
    where that name is not taken already; returns the names added, for ``__all__``."""
    added = []
    for name, fn in {**_FUNCTIONS, **_MORE_FUNCTIONS}.items():
        if name not in namespace:
            namespace[name] = fn
            added.append(name)
        if name not in _NOT_METHODS and not hasattr(Tensor, name):
            setattr(Tensor, name, _tile_method if fn is tile else fn)
    for name, fn in _MORE_METHODS.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, fn)
    if "absolute" not in namespace:
        namespace["absolute"] = F.abs
        added.append("absolute")
    if not hasattr(Tensor, "absolute"):
        Tensor.absolute = Tensor.abs
    for name in dict.fromkeys(_IN_PLACE):
        inplace = name + "_"
        if hasattr(Tensor, inplace) or not hasattr(Tensor, name):
            continue
        setattr(Tensor, inplace, _in_place(inplace, getattr(Tensor, name)))
    # the native Tensor.div / div_ know no rounding_mode: these take it, the plain call stays native
    native_div, native_div_ = Tensor.div, Tensor.div_
    rounded_div_ = _in_place("div_", lambda self, other, rounding_mode: div(self, other, rounding_mode=rounding_mode))

    def div_method(self, other, *, rounding_mode=None):
        return native_div(self, other) if rounding_mode is None else div(self, other, rounding_mode=rounding_mode)

    def div_in_place(self, other, *, rounding_mode=None):
        return native_div_(self, other) if rounding_mode is None else rounded_div_(self, other, rounding_mode)

    div_method.__doc__, div_in_place.__doc__ = div.__doc__, "In-place ``div`` (``rounding_mode`` as ``div``)."
    Tensor.div, Tensor.div_ = div_method, div_in_place
    return added


# ---- selection, splitting, windows and index writes (Tensor.select, unfold, tensor_split,
# index_put, kthvalue, mode, cross, renorm, dist, ...), and the CPU-only per-element and memory
# methods (apply_, map_, share_memory_, pin_memory)
#
# select, narrow-style pieces and unfold are views (indexing, as_strided, whose gradient adds up
# over overlapping windows). Order statistics (kthvalue, mode)
# find their positions on the host, as median does, and gather the values with the
# differentiable ops.

KthvalueResult = namedtuple("kthvalue", ["values", "indices"])
ModeResult = namedtuple("mode", ["values", "indices"])


def _int_arg(op: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, Tensor)):
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__}")
    if isinstance(value, Tensor):
        if value.dtype != "int64" or value.numel() != 1:
            raise TypeError(f"{op}: {name} must be an int, got a {value.dtype} tensor of shape {tuple(value.shape)}")
        return int(value.item())
    return int(value)


def _along(d: int, key) -> tuple:
    """An indexing key that applies ``key`` (an int or a slice) to dim d only: a view."""
    return (slice(None),) * d + (key,)


def select(input, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim``, that dim removed: a view, as torch's."""
    x = _tensor("select", input)
    if x.ndim == 0:
        raise IndexError("select: cannot be applied to a 0-dim tensor")
    (d,) = _dim_list("select", _int_arg("select", "dim", dim), x.ndim)
    i, n = _int_arg("select", "index", index), x.shape[d]
    if not -n <= i < n:
        raise IndexError(f"select: index {i} out of range for tensor of size {tuple(x.shape)} at dimension {d}")
    return x[_along(d, i % n)]


def narrow_copy(input, dim: int, start: int, length: int) -> Tensor:
    """``narrow`` as a new contiguous tensor (not a view)."""
    x = _tensor("narrow_copy", input)
    if x.ndim == 0:
        raise IndexError("narrow_copy: cannot be applied to a 0-dim tensor")
    (d,) = _dim_list("narrow_copy", _int_arg("narrow_copy", "dim", dim), x.ndim)
    start, length, n = _int_arg("narrow_copy", "start", start), _int_arg("narrow_copy", "length", length), x.shape[d]
    if not -n <= start <= n:
        raise IndexError(f"narrow_copy: start {start} out of range for dim {d} of shape {tuple(x.shape)}")
    start %= builtins.max(n, 1)
    if length < 0 or start + length > n:
        raise ValueError(
            f"narrow_copy: start ({start}) + length ({length}) exceeds dimension size ({n}) of dim {d} of "
            f"shape {tuple(x.shape)}"
        )
    return x[_along(d, slice(start, start + length))].clone()


def unfold(self, dimension: int, size: int, step: int) -> Tensor:
    """All windows of ``size`` elements along ``dimension``, ``step`` apart, in a new last dim (that
    dim's length becomes the window count), as torch's: always a view (as_strided), whose gradient
    sums over the windows that share an element."""
    x = _tensor("unfold", self)
    (d,) = _dim_list("unfold", _int_arg("unfold", "dimension", dimension), x.ndim)
    size, step = _int_arg("unfold", "size", size), _int_arg("unfold", "step", step)
    n = x.shape[d] if x.ndim else 1
    if size < 0:
        raise ValueError(f"unfold: size is {size} but must be >= 0 (input of shape {tuple(x.shape)})")
    if size > n:
        raise ValueError(f"unfold: maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise ValueError(f"unfold: step is {step} but must be > 0 (input of shape {tuple(x.shape)})")
    count = (n - size) // step + 1
    if x.ndim == 0:
        return x.reshape(1)
    shape = [*x.shape[:d], count, *x.shape[d + 1 :], size]
    strides = list(x.stride())
    strides[d] = strides[d] * step
    return x.as_strided(shape, [*strides, x.stride()[d]], x.storage_offset())


def _split_points(op: str, indices_or_sections, n: int) -> list[tuple[int, int]]:
    """(start, end) slices of a dim of size n: ``sections`` pieces (the first n % sections one
    longer) or the pieces between the given indices (Python slice rules: negative counts from the
    end, an index before the previous one gives an empty piece), as torch's tensor_split."""
    v = indices_or_sections
    if isinstance(v, Tensor):
        if v.dtype != "int64":
            raise TypeError(f"{op}: expected tensor_indices_or_sections to have dtype int64, but got {v.dtype}")
        if v.ndim > 1:
            raise ValueError(
                f"{op}: expected tensor_indices_or_sections to be a zero-dimensional or one-dimensional tensor, "
                f"but got one of shape {tuple(v.shape)}"
            )
        v = int(v.item()) if v.ndim == 0 else [int(i) for i in v.numpy()]
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        sections = int(v)
        if sections <= 0:
            raise ValueError(f"{op}: number of sections must be larger than 0, got {sections}")
        small, extra = divmod(n, sections)
        bounds = np.concatenate([[0], np.cumsum([small + 1] * extra + [small] * (sections - extra))])
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    if not isinstance(v, (list, tuple)) or builtins.any(
        isinstance(i, bool) or not isinstance(i, numbers.Integral) for i in v
    ):
        raise TypeError(f"{op}: indices_or_sections must be an int, a sequence of ints or an int64 tensor, got {v!r}")
    bounds = [0, *(int(i) for i in v)]
    return [(a, b) for a, b in zip(bounds, bounds[1:])] + [(bounds[-1], None)]


def _pieces(x: Tensor, d: int, points) -> tuple:
    return tuple(x[_along(d, slice(a, b))] for a, b in points)


def _one_of(op: str, indices_or_sections, **alternatives):
    """torch's overloads name the argument ``sections``, ``indices`` or (the docs)
    ``indices_or_sections``: exactly one of them."""
    given = [v for v in (indices_or_sections, *alternatives.values()) if v is not None]
    if len(given) != 1:
        names = ", ".join(["indices_or_sections", *alternatives])
        raise TypeError(f"{op}: expected exactly one of {names}, got {len(given)}")
    return given[0]


def tensor_split(input, indices_or_sections=None, dim: int = 0, *, sections=None, indices=None,
                 tensor_indices_or_sections=None) -> tuple:  # fmt: skip
    """Views of input split along dim into ``sections`` nearly equal pieces (an int) or at the given
    indices (a sequence, or an int64 tensor: 0-d for sections, 1-d for indices), as torch's."""
    x = _tensor("tensor_split", input)
    v = _one_of("tensor_split", indices_or_sections, sections=sections, indices=indices,
                tensor_indices_or_sections=tensor_indices_or_sections)  # fmt: skip
    if x.ndim == 0:
        raise ValueError("tensor_split: expected at least a 1-dimensional tensor, but got a tensor with 0 dims")
    (d,) = _dim_list("tensor_split", _int_arg("tensor_split", "dim", dim), x.ndim)
    return _pieces(x, d, _split_points("tensor_split", v, x.shape[d]))


def _dim_split(op: str, input, indices_or_sections, sections, indices, min_ndim: int, dim: int) -> tuple:
    x = _tensor(op, input)
    v = _one_of(op, indices_or_sections, sections=sections, indices=indices)
    if x.ndim < min_ndim:
        raise ValueError(f"{op}: requires a tensor with at least {min_ndim} dims, but got shape {tuple(x.shape)}")
    d = dim if dim >= 0 or x.ndim > 1 else 0
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        n = x.shape[d]
        if v == 0 or n % v:
            raise ValueError(
                f"{op}: attempted to split along dimension {d}, but the size of the dimension {n} is not divisible "
                f"by the split_size {v} (input of shape {tuple(x.shape)})"
            )
    elif isinstance(v, Tensor):
        raise TypeError(f"{op}: indices_or_sections must be an int or a sequence of ints, got a tensor")
    return _pieces(x, d, _split_points(op, v, x.shape[d]))


def hsplit(input, indices_or_sections=None, *, sections=None, indices=None) -> tuple:
    """``tensor_split`` along dim 1 (dim 0 of a 1-D tensor); an int must divide that dim evenly."""
    x = _tensor("hsplit", input)
    return _dim_split("hsplit", x, indices_or_sections, sections, indices, 1, 1 if x.ndim > 1 else 0)


def vsplit(input, indices_or_sections=None, *, sections=None, indices=None) -> tuple:
    """``tensor_split`` along dim 0 of a tensor of 2 or more dims; an int must divide it evenly."""
    return _dim_split("vsplit", input, indices_or_sections, sections, indices, 2, 0)


def dsplit(input, indices_or_sections=None, *, sections=None, indices=None) -> tuple:
    """``tensor_split`` along dim 2 of a tensor of 3 or more dims; an int must divide it evenly."""
    return _dim_split("dsplit", input, indices_or_sections, sections, indices, 3, 2)


def _index_arrays(op: str, x: Tensor, indices) -> list[np.ndarray]:
    """The index tensors as host int64 arrays, one per indexed dim: a bool mask (or a float32 0/1
    one) covering k dims becomes its k nonzero() position arrays, as torch's bool masks do."""
    if isinstance(indices, Tensor) or not isinstance(indices, (tuple, list)):
        raise TypeError(f"{op}: indices must be a tuple of tensors, got {type(indices).__name__}")
    if not indices:
        raise ValueError(f"{op}: indices must hold at least one tensor (input of shape {tuple(x.shape)})")
    arrays = []
    for i, t in enumerate(indices):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a Tensor as element {i} of indices, got {type(t).__name__}")
        a = t.detach().numpy()
        if t.dtype in ("int64", "int32"):
            arrays.append(a.astype(np.int64))
            continue
        if t.dtype not in ("bool", "uint8"):  # (a uint8 index is a mask, as torch's)
            raise IndexError(
                f"{op}: tensors used as indices must be int64, int32, bool or uint8 tensors, got {t.dtype} of shape "
                f"{tuple(t.shape)}"
            )
        a = a != 0
        first = len(arrays)
        if first + a.ndim > x.ndim or tuple(x.shape[first : first + a.ndim]) != a.shape:
            raise IndexError(
                f"{op}: the mask of shape {a.shape} at index {i} does not match the shape {tuple(x.shape)} of "
                f"the indexed tensor starting at dim {first}"
            )
        arrays.extend(np.nonzero(a))
    if len(arrays) > x.ndim:
        raise IndexError(f"{op}: too many indices for tensor of dimension {x.ndim} (got {len(arrays)})")
    for d, a in enumerate(arrays):
        n = x.shape[d]
        if a.size and (a.min() < -n or a.max() >= n):
            bad = a.min() if a.min() < -n else a.max()
            raise IndexError(f"{op}: index {bad} is out of bounds for dimension {d} with size {n}")
    return arrays


def index_put(input, indices, values, accumulate: bool = False) -> Tensor:
    """input with ``values`` written (added, with ``accumulate``) at ``input[indices]``: a tuple of
    int64 index tensors (broadcast together) or bool masks for the leading dims; values
    broadcast to the indexed shape and have input's dtype. Repeated positions: the last write wins
    (accumulate adds them all), and every value gets the gradient at its position, as torch's."""
    x = _tensor("index_put", input)
    v = _tensor("index_put", values, "values")
    arrays = _index_arrays("index_put", x, indices)
    if v.dtype != x.dtype:
        # torch writes one value through one bool mask as masked_fill_, which casts it
        one_mask = len(indices) == 1 and indices[0].dtype != "int64" and v.numel() == 1 and not accumulate
        if not one_mask:
            raise TypeError(
                f"index_put: values ({v.dtype}, shape {tuple(v.shape)}) must have the dtype of input ({x.dtype}, "
                f"shape {tuple(x.shape)})"
            )
        _tm._check_scalar_fits("index_put", v.detach().reshape(()).item(), x.dtype)
        v = v.to(x.dtype)
    try:
        arrays = np.broadcast_arrays(*arrays)
    except ValueError:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise IndexError(
            f"index_put: shape mismatch: indexing tensors of shapes {shapes} cannot be broadcast"
        ) from None
    k, rest = len(arrays), tuple(x.shape[len(arrays) :])
    target = (*arrays[0].shape, *rest)
    try:
        fits = np.broadcast_shapes(tuple(v.shape), target) == target
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"index_put: shape mismatch: values of shape {tuple(v.shape)} cannot be broadcast to indexing result "
            f"of shape {target} (input of shape {tuple(x.shape)})"
        )
    inner = math.prod(rest)
    heads = np.ravel_multi_index(tuple(a % builtins.max(n, 1) for a, n in zip(arrays, x.shape[:k])), x.shape[:k])
    flat = (heads.reshape(-1, 1) * inner + np.arange(inner)).reshape(-1).astype(np.int64)
    if flat.size == 0:  # nothing written, but values stay in the graph (a zero gradient), as torch's
        return x.clone() + v.reshape(-1)[:0].sum() if v.requires_grad and _core.is_grad_enabled() else x.clone()
    index = _core.tensor(flat, dtype="int64", device=x.device)
    return x.put(index, v.expand(*target).reshape(-1), accumulate=bool(accumulate))


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):
    """(values, indices): the k-th smallest element of each slice along dim (k from 1; NaN counts as
    the largest) and its position. Among equal values the position is that of a stable sort; torch's
    quickselect may pick another of the equal elements."""
    x = _tensor("kthvalue", input)
    _refuse_bool("kthvalue", x)
    (d,) = _dim_list("kthvalue", _int_arg("kthvalue", "dim", dim), x.ndim)
    k, n = _int_arg("kthvalue", "k", k), x.shape[d] if x.ndim else 1
    if not 1 <= k <= n:
        raise IndexError(f"kthvalue: selected number k={k} out of range for dim {d} of shape {tuple(x.shape)}")
    if x.ndim == 0:
        return KthvalueResult(x.clone(), _core.zeros((), dtype="int64", device=x.device))
    a = np.moveaxis(x.detach().numpy(), d, -1)
    order = _tm._sort_order(a, descending=False)[..., k - 1 : k]
    pos = np.moveaxis(order, -1, d).astype(np.int64)
    values = _gather_dim(x, d, pos, keepdim)
    idx = _core.tensor(np.array(pos if keepdim else pos.squeeze(d), order="C"), dtype="int64", device=x.device)
    return KthvalueResult(values, idx)


def _mode_positions(a: np.ndarray) -> np.ndarray:
    """For each row of a (rows, n): the position of its mode, the smallest of the most frequent
    values (NaNs count as equal to each other and larger than numbers), at its last occurrence."""
    rows, n = a.shape
    order = np.argsort(a, axis=-1, kind="stable")  # NaN last; equal values keep their order
    s = np.take_along_axis(a, order, -1)
    same = s[:, 1:] == s[:, :-1]
    if a.dtype.kind == "f":
        same |= np.isnan(s[:, 1:]) & np.isnan(s[:, :-1])
    run = np.concatenate([np.zeros((rows, 1), np.int64), np.cumsum(~same, axis=1)], axis=1)
    counts = np.bincount((run + np.arange(rows)[:, None] * n).reshape(-1), minlength=rows * n).reshape(rows, n)
    best = counts.argmax(axis=1)  # the first of the most frequent runs: the smallest value
    last = n - 1 - np.argmax((run == best[:, None])[:, ::-1], axis=1)
    return order[np.arange(rows), last]


def mode(input, dim: int = -1, keepdim: bool = False):
    """(values, indices): the most frequent value of each slice along dim (the smallest of those
    tied), and its last position, as torch's CPU kernel gives for short slices (for slices longer
    than 16, torch's index is that of any of the equal elements; its value is the same). NaNs count
    as equal to each other here (torch's result for NaN depends on its sort)."""
    x = _tensor("mode", input)
    (d,) = _dim_list("mode", _int_arg("mode", "dim", dim), x.ndim)
    if x.ndim == 0:
        return ModeResult(x.clone(), _core.zeros((), dtype="int64", device=x.device))
    n = x.shape[d]
    if n == 0:
        raise IndexError(f"mode: expected reduction dim {d} of shape {tuple(x.shape)} to have non-zero size")
    a = np.moveaxis(x.detach().numpy(), d, -1)
    pos = _mode_positions(a.reshape(-1, n)).reshape(*a.shape[:-1], 1) if a.size else np.zeros((*a.shape[:-1], 1))
    pos = np.moveaxis(pos, -1, d).astype(np.int64)
    values = _gather_dim(x, d, pos, keepdim)
    idx = _core.tensor(np.array(pos if keepdim else pos.squeeze(d), order="C"), dtype="int64", device=x.device)
    return ModeResult(values, idx)


def msort(input) -> Tensor:
    """The values sorted along dim 0 (``sort(input, dim=0).values``)."""
    x = _tensor("msort", input)
    return _tm.sort(x, 0).values if x.ndim else x.clone()


def cross(input, other, dim=None) -> Tensor:
    """The cross product of the 3-vectors along ``dim`` (the other dims broadcast; both tensors have
    the same number of dims). Without dim: the first dim of input of size 3, as torch.cross (which
    warns that this default is deprecated; ``torch.linalg.cross`` uses -1)."""
    a, b = _tensor("cross", input), _tensor("cross", other, "other")
    shapes = f"input of shape {tuple(a.shape)} and other of shape {tuple(b.shape)}"
    if a.ndim != b.ndim:
        raise ValueError(f"cross: inputs must have the same number of dimensions, got {shapes}")
    if dim is None:
        d = next((i for i, s in enumerate(a.shape) if s == 3), None)
        if d is None:
            raise ValueError(f"cross: no dimension of size 3 in input of shape {tuple(a.shape)}")
    else:
        (d,) = _dim_list("cross", _int_arg("cross", "dim", dim), a.ndim)
    if a.ndim == 0 or a.shape[d] != 3 or b.shape[d] != 3:
        raise ValueError(f"cross: inputs dimension {d} must have length 3, got {shapes}")
    _broadcast_shape("cross", input=a, other=b)  # dim d is 3 in both
    if a.dtype != b.dtype:
        raise TypeError(f"cross: input ({a.dtype}) and other ({b.dtype}) must have the same dtype")
    nxt, prev = (_core.tensor(np.array(p, dtype=np.int64), device=a.device) for p in ((1, 2, 0), (2, 0, 1)))
    return a.index_select(d, nxt) * b.index_select(d, prev) - a.index_select(d, prev) * b.index_select(d, nxt)


def _float_only(op: str, *tensors) -> None:
    for t in tensors:
        if isinstance(t, Tensor) and t.dtype == "int64":
            raise TypeError(f"{op}: expected a floating point input, got int64 of shape {tuple(t.shape)}")


@_low_float_in_float32(1)
def renorm(input, p, dim: int, maxnorm) -> Tensor:
    """Each slice along ``dim`` whose p-norm (over the other dims) exceeds ``maxnorm`` scaled to
    that norm (``maxnorm / (norm + 1e-7)``), the others unchanged; the gradient includes the
    norm's, as torch's."""
    x = _tensor("renorm", input)
    _float_only("renorm", x)
    if x.ndim < 2:
        raise ValueError(f"renorm: input needs at least 2 dimensions, got shape {tuple(x.shape)}")
    (d,) = _dim_list("renorm", _int_arg("renorm", "dim", dim), x.ndim)
    if not _is_number(p) or not p > 0:
        raise ValueError(f"renorm: non-positive norm p={p!r} is not supported (input of shape {tuple(x.shape)})")
    if not _is_number(maxnorm) or not maxnorm >= 0:
        raise ValueError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm!r}")
    others = [i for i in range(x.ndim) if i != d]
    norm = _tm.norm(x, float(p), dim=others, keepdim=True)
    with no_grad():
        over = norm.detach() > maxnorm
    return x * F.where(over, float(maxnorm) / (norm + 1e-7), 1.0)


def dist(input, other, p=2) -> Tensor:
    """The p-norm of ``input - other`` (broadcast): 0-d, for any p (0, inf and -inf included),
    as ``norm``."""
    _tensor("dist", input)
    _tensor("dist", other, "other")
    _float_only("dist", input, other)
    _broadcast_shape("dist", input=input, other=other)
    if not _is_number(p):
        raise TypeError(f"dist: p must be a number, got {type(p).__name__}")
    return _tm.norm(input - other, float(p))


def is_complex(input) -> bool:
    """False: minidiff has no complex dtypes."""
    _tensor("is_complex", input)
    return False


# ---- in-place forms and the CPU-only per-element / memory methods


def _masked_fill_into(self: Tensor, mask, value) -> Tensor:
    shape = _broadcast_shape("masked_fill_", input=self, mask=mask)
    if shape != tuple(self.shape):
        raise ValueError(
            f"masked_fill_: the mask of shape {tuple(mask.shape)} does not broadcast to the tensor's shape "
            f"{tuple(self.shape)}"
        )
    if not isinstance(value, Tensor) or value.ndim == 0:  # (masked_fill refuses the other tensors)
        number = value.detach().item() if isinstance(value, Tensor) else value
        _tm._check_scalar_fits("masked_fill_", number, self.dtype, True)
    return _to.masked_fill(self, mask, value)


def _cumsum_into(self: Tensor, dim: int, *, dtype=None) -> Tensor:
    if dtype is not None and dtype != self.dtype:
        raise TypeError(f"cumsum_: dtype {dtype} differs from the tensor's {self.dtype} (shape {tuple(self.shape)})")
    return self.cumsum(dim)


def _in_dtype(out: Tensor, like: Tensor) -> Tensor:
    return out if out.dtype == like.dtype else out.to(like.dtype)


_KINDS = KINDS


def _into_self(fn, name: str):
    """``fn(self, other)`` in self's dtype, for an in-place form; a result of a higher kind (int64
    into a bool tensor) raises, as torch's."""

    def into(self, other):
        out = fn(self, other)
        if _KINDS[out.dtype] > _KINDS[self.dtype]:
            raise TypeError(f"{name}_: the result type {out.dtype} can't be cast to self's dtype {self.dtype}")
        return _in_dtype(out, self)

    return into


def _logical_not_into(self: Tensor) -> Tensor:
    """The mask in self's dtype; it carries no gradient (torch's logical_not has none)."""
    return _in_dtype(_tm.logical_not(self), self)


def _refuse_grad(op: str, t: Tensor) -> None:
    if t.requires_grad:
        raise RuntimeError(f"Can't call {op}() on a tensor that requires grad. Use t.detach().{op}() instead.")
    if t.is_cuda:
        raise TypeError(f"{op}: only implemented on CPU tensors, got one on {t.device}")


def _python_scalar(dtype: str):
    return int if dtype in INT_DTYPES else float


def _from_python(op: str, results, like: Tensor) -> Tensor:
    for r in results:
        if not isinstance(r, numbers.Real):
            raise TypeError(f"{op}: the callable must return a real number, not {type(r).__name__}")
    conv = _python_scalar(like.dtype)
    if like.dtype in INT_DTYPES:  # (a narrow dtype's range checked as torch's; the values wrap into it)
        for r in results:
            _tm._check_scalar_fits(op, r, like.dtype, True)
    host = np.array([conv(r) for r in results], dtype=np.int64 if like.dtype in INT_DTYPES else np.float32)
    out = _core.tensor(host.reshape(like.shape), device=like.device)
    return out.to(like.dtype) if out.dtype != like.dtype else out


def apply_(self: Tensor, callable) -> Tensor:  # noqa: A002 (torch's argument name)
    """``callable(v)`` for each element (a Python float, or int for an integer dtype), written into
    self; CPU only, and refused for a tensor that requires grad, as torch's."""
    _refuse_grad("apply_", _tensor("apply_", self, "self"))
    conv = _python_scalar(self.dtype)
    out = _from_python("apply_", [callable(conv(v)) for v in self.detach().numpy().reshape(-1)], self)
    return self._inplace_("apply_", lambda: out, False)


def map_(self: Tensor, tensor: Tensor, callable) -> Tensor:  # noqa: A002 (torch's argument names)
    """``callable(a, b)`` for each element a of self and b of ``tensor`` (broadcast to self's
    shape, same dtype), written into self; CPU only, refused where either requires grad."""
    _refuse_grad("map_", _tensor("map_", self, "self"))
    _refuse_grad("map_", _tensor("map_", tensor, "tensor"))
    if tensor.dtype != self.dtype:
        raise TypeError(f"map_: expected tensor of dtype {self.dtype}, got {tensor.dtype}")
    if _broadcast_shape("map_", self=self, tensor=tensor) != tuple(self.shape):
        raise ValueError(f"map_: tensor of shape {tuple(tensor.shape)} does not broadcast to shape {tuple(self.shape)}")
    conv = _python_scalar(self.dtype)
    a = self.detach().numpy().reshape(-1)
    b = np.broadcast_to(tensor.detach().numpy(), tuple(self.shape)).reshape(-1)
    out = _from_python("map_", [callable(conv(u), conv(w)) for u, w in zip(a, b)], self)
    return self._inplace_("map_", lambda: out, False)


def share_memory_(self: Tensor) -> Tensor:
    """self, unchanged: minidiff's storage cannot be moved to shared memory, so unlike torch's the
    elements are not shared with processes started afterwards (``is_shared()`` stays False)."""
    return self


def is_shared(self: Tensor) -> bool:
    """False for a CPU tensor (its memory is the process's own, as a new torch tensor's); True on
    CUDA, as torch reports for CUDA storage."""
    return bool(self.is_cuda)


def pin_memory(self: Tensor, device=None) -> Tensor:
    """torch pins CPU memory for an accelerator: without CUDA this raises, as torch without an
    accelerator does; with CUDA it returns a contiguous CPU copy (minidiff does not page-lock it,
    and ``is_pinned()`` stays False). A CUDA tensor cannot be pinned."""
    if self.is_cuda:
        raise RuntimeError(f"pin_memory: cannot pin a tensor on {self.device}; only dense CPU tensors can be pinned")
    if device is not None and str(device).startswith("cpu"):
        raise RuntimeError("pin_memory: CPU device type not an accelerator.")
    from . import cuda

    if not cuda.is_available():
        raise RuntimeError("pin_memory: Cannot access accelerator device when none is available.")
    return self.clone()


def is_pinned(self: Tensor, device=None) -> bool:
    """False: minidiff never page-locks memory."""
    return False


def _geometry_in_place(name: str):
    """Tensor.<name> (t_, squeeze_, as_strided_, ...): the tensor takes the shape, strides and
    offset of the view op's result, and inside the autograd graph its history; no element moves."""
    view_name = name[:-1]

    def method(self, *args, **kwargs):
        return self._geometry_inplace_(name, lambda: getattr(self, view_name)(*args, **kwargs))

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place ``{view_name}``: this tensor becomes the view ``{view_name}`` returns (torch's)."
    return method


_GEOMETRY_IN_PLACE = ("t_", "transpose_", "swapdims_", "swapaxes_", "squeeze_", "unsqueeze_", "as_strided_")

_MORE_FUNCTIONS = {
    "select": select,
    "narrow_copy": narrow_copy,
    "tensor_split": tensor_split,
    "hsplit": hsplit,
    "vsplit": vsplit,
    "dsplit": dsplit,
    "index_put": index_put,
    "kthvalue": kthvalue,
    "mode": mode,
    "msort": msort,
    "cross": cross,
    "renorm": renorm,
    "dist": dist,
    "is_complex": is_complex,
    "ger": _tm.outer,
}


# Tensor methods with no md.* function in torch (their in-place forms written through _inplace_)
def sum_to_size(self: Tensor, *size) -> Tensor:
    """``self`` summed down to ``size``, a shape that broadcasts to self's (over the leading dims self
    has more and the dims where ``size`` is 1), as torch's; differentiable."""
    if not size:
        raise TypeError("sum_to_size: missing the size (ints, or one tuple of them)")
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in shape):
        raise TypeError(f"sum_to_size: size must be ints, got {shape!r}")
    shape = tuple(int(n) for n in shape)
    if not _expands_to(shape, tuple(self.shape)):
        raise RuntimeError(f"sum_to_size: size {list(shape)} is not expandable to size {list(self.shape)}")
    return self if shape == tuple(self.shape) else _sum_to(self, shape)


_MORE_METHODS = {
    "sum_to_size": sum_to_size,
    "unfold": unfold,
    "masked_fill_": _in_place("masked_fill_", _masked_fill_into),
    "index_put_": _in_place("index_put_", index_put),
    "cumsum_": _in_place("cumsum_", _cumsum_into),
    "logical_not_": _in_place("logical_not_", _logical_not_into),
    **{
        f"{name}_": _in_place(f"{name}_", _into_self(getattr(_tm, name), name))
        for name in (
            "logical_and",
            "logical_or",
            "logical_xor",
            "bitwise_and",
            "bitwise_or",
            "bitwise_xor",
            "bitwise_left_shift",
            "bitwise_right_shift",
            "gcd",
            "lcm",
        )
    },
    "bitwise_not_": _in_place("bitwise_not_", lambda self: _tm.bitwise_not(self)),
    "tril_": _in_place("tril_", _tm.tril),
    "triu_": _in_place("triu_", _tm.triu),
    "renorm_": _in_place("renorm_", renorm),
    "apply_": apply_,
    "map_": map_,
    "share_memory_": share_memory_,
    "is_shared": is_shared,
    "pin_memory": pin_memory,
    "is_pinned": is_pinned,
    **{name: _geometry_in_place(name) for name in _GEOMETRY_IN_PLACE},
}
