"""More of ``torch.nn.functional`` (in ``md.F``): activations, losses and distances, composed in
Python from the differentiable ops, with torch's signatures, defaults and gradients (the gradient
at each kink is the one torch's backward gives, checked against torch in tests/test_activations.py).

``inplace=True`` and the trailing-underscore variants (``elu_``, ``hardtanh_``, ...) write into
the input as the other in-place ops do (``Tensor._inplace_``): outside the graph they overwrite
its storage; inside it they rebase the tensor onto the new value, so earlier views do not see
it. A leaf that requires grad cannot change in place (a RuntimeError, as in torch).

The losses accept torch's deprecated ``size_average``/``reduce`` (turned into a ``reduction``
with torch's warning by functional.py's ``_reduction``, shared with the losses there and the loss
modules) so that positional calls line up with torch's.
"""

from __future__ import annotations

import builtins
import math
import numbers
import warnings

import numpy as np

from ._core import Tensor, is_grad_enabled
from ._core import full as _full
from ._core import rand as _rand
from ._dtypes import FLOAT_DTYPES as _FLOAT_DTYPES
from ._dtypes import FLOAT_MAX as _FLOAT_MAX
from ._dtypes import LOW_FLOATS as _LOW_FLOATS
from ._dtypes import check_float_args as _check_float_args
from .autograd import no_grad as _no_grad
from .functional import (
    _REDUCTIONS,
    _bool_as_float,
    _check_input,
    _check_tensor,
    _dim,
    _float32,
    _log1p,
    _loss_args,
    _low_float_once,
    _maybe_in_place,
    _reduce,
    _reduction,
    _refuse_bool,
    _same_float_dtype,
    _softmax_dim,
    _weighted_mean,
    clamp,
    exp,
    gather,
    index_select,
    leaky_relu,
    log,
    relu,
    sigmoid,
    softmax,
    softplus,
    sqrt,
    tanh,
    where,
)

__all__ = [
    # activations
    "celu",
    "celu_",
    "elu",
    "elu_",
    "glu",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hardtanh_",
    "leaky_relu_",
    "logsigmoid",
    "prelu",
    "relu6",
    "relu_",
    "rrelu",
    "rrelu_",
    "selu",
    "selu_",
    "softmin",
    "softshrink",
    "softsign",
    "tanhshrink",
    "threshold",
    "threshold_",
    # losses
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "kl_div",
    "margin_ranking_loss",
    "nll_loss",
    "poisson_nll_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    # distances
    "cosine_similarity",
    "pairwise_distance",
]

# torch's SELU constants (Klambauer et al. 2017)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# ---- helpers


def _records(*tensors) -> bool:
    """Whether an op on these tensors is recorded on the tape (some requires grad, grad mode on)."""
    return is_grad_enabled() and builtins.any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


def _with_gradient(value: Tensor, x: Tensor, slope: Tensor) -> Tensor:
    """``value`` (computed off the tape) whose gradient with respect to ``x`` is ``slope`` (a
    finite tensor, also off the tape): ``value + slope * (x - x)``, the added term being exactly
    zero. Used where torch's backward is not the derivative of an accurate composition."""
    if not _records(x):
        return value
    return value + slope * (x - x.detach())


def _expm1(x: Tensor) -> Tensor:
    """``exp(x) - 1`` to float32 precision, with gradient ``exp(x)``. ``exp(x) - 1`` alone loses
    the digits of small |x|; Kahan's ``(u - 1) * x / log(u)`` (u = exp(x)) corrects the rounding
    of u for |x| < 1. Where exp overflows (celu with a negative alpha) the value is inf and the
    gradient inf, as torch's."""
    u = exp(x)
    with _no_grad():
        xd, ud = x.detach(), u.detach()
        exact = ud == 1.0  # exp(x) rounded to 1: expm1(x) is x
        kahan = where(exact, xd, (ud - 1.0) * xd / log(where(exact, 2.0, ud)))
        value = where(xd.abs() < 1.0, kahan, ud - 1.0)
        overflow = ud == math.inf
    if not _records(x):
        return value
    # u - ud is 0 and its gradient is exp(x); but inf - inf is NaN, so where exp overflows u
    # itself is the value (the where sends those elements no gradient through u - ud)
    return where(overflow, u, value + (u - ud))


_in_place = _maybe_in_place  # compute() written into input when inplace (see the module docstring)


def _check_float(op: str, name: str, value, input=None, opmath: bool = True) -> float:  # noqa: A002
    """``value`` as a float (a bool or a number, as torch's), refused where it does not fit
    ``input``'s float dtype (float32 with ``opmath``: torch's kernel computes in float32)."""
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__}")
    if input is not None:
        _check_float_args(op, input.dtype, value, opmath=opmath)
    return float(value)


# ---- activations


@_low_float_once
def elu(input, alpha: float = 1.0, inplace: bool = False):  # noqa: A002 (torch's argument name)
    """``x`` where x > 0, else ``alpha * (exp(x) - 1)`` (accurate near 0), as torch's; the gradient
    at 0 is ``alpha``, as torch's backward gives."""
    _check_input("elu", input)
    alpha = _check_float("elu", "alpha", alpha, input)
    return _in_place("elu", input, inplace, lambda: _elu(input, alpha, 1.0, 1.0))


def _elu(x: Tensor, alpha: float, scale: float, input_scale: float) -> Tensor:
    """torch's elu kernel: ``scale * x`` where x > 0, else ``alpha * scale * expm1(input_scale * x)``."""
    positive = x > 0
    negative_part = _expm1(where(positive, 0.0, x) * input_scale) * (alpha * scale)
    return where(positive, x * scale if scale != 1.0 else x, negative_part)


def elu_(input, alpha: float = 1.0):  # noqa: A002
    """In place ``elu``."""
    return elu(input, alpha, inplace=True)


@_low_float_once
def selu(input, inplace: bool = False):  # noqa: A002
    """``scale * elu(x, alpha)`` with torch's constants (alpha ~ 1.6733, scale ~ 1.0507)."""
    _check_input("selu", input)
    return _in_place("selu", input, inplace, lambda: _elu(input, _SELU_ALPHA, _SELU_SCALE, 1.0))


def selu_(input):  # noqa: A002
    """In place ``selu``."""
    return selu(input, inplace=True)


@_low_float_once
def celu(input, alpha: float = 1.0, inplace: bool = False):  # noqa: A002
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``, as torch's (gradient 1 at 0);
    ``alpha=0`` is a ValueError."""
    _check_input("celu", input)
    alpha = _check_float("celu", "alpha", alpha, input)
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0")
    return _in_place("celu", input, inplace, lambda: _elu(input, alpha, 1.0, 1.0 / alpha))


def celu_(input, alpha: float = 1.0):  # noqa: A002
    """In place ``celu``."""
    return celu(input, alpha, inplace=True)


def _hardtanh(x: Tensor, min_val: float, max_val: float) -> Tensor:
    # torch's backward passes the gradient strictly inside (min_val, max_val) only; NaN stays NaN
    return where(x <= min_val, min_val, where(x >= max_val, max_val, x))


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):  # noqa: A002
    """``x`` clamped to [min_val, max_val], as torch's: the gradient is 1 strictly inside and 0 at
    and beyond the bounds."""
    _check_input("hardtanh", input)
    _check_float_args("hardtanh", input.dtype, min_val, max_val)
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return _in_place("hardtanh", input, inplace, lambda: _hardtanh(input, min_val, max_val))


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0):  # noqa: A002
    """In place ``hardtanh``."""
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace: bool = False):  # noqa: A002
    """``hardtanh(x, 0, 6)``, as torch's (gradient 0 at 0 and at 6)."""
    _check_input("relu6", input)
    return _in_place("relu6", input, inplace, lambda: _hardtanh(input, 0, 6))  # int bounds: int64 stays int64


def relu_(input):  # noqa: A002
    """In place ``relu``."""
    _check_input("relu_", input)
    return input._inplace_("relu_", lambda: relu(input))


def leaky_relu_(input, negative_slope: float = 0.01):  # noqa: A002
    """In place ``leaky_relu``."""
    _check_input("leaky_relu_", input)
    return input._inplace_("leaky_relu_", lambda: leaky_relu(input, negative_slope))


def _inside(x: Tensor, low: float, high: float) -> tuple[Tensor, Tensor]:
    """(mask, masked): where low < x < high (false for NaN), and x there, 0 elsewhere. A branch
    computed on ``masked`` has a finite slope where ``where`` does not pick it: on x itself, its
    slope at +-inf (or NaN) would turn the zero gradient ``where`` sends it into NaN."""
    inside = (x > low) * (x < high)
    return inside, where(inside, x, 0.0)


@_low_float_once
def hardsigmoid(input, inplace: bool = False):  # noqa: A002
    """``relu6(x + 3) / 6``, as torch's: the gradient is 1/6 strictly inside (-3, 3), else 0 (at
    NaN too; NaN stays NaN)."""
    _check_input("hardsigmoid", input)

    def compute():
        inside, x = _inside(input, -3.0, 3.0)
        return where(inside, (x + 3.0) / 6.0, where(input <= -3.0, 0.0, where(input >= 3.0, 1.0, input.detach())))

    return _in_place("hardsigmoid", input, inplace, compute)


@_low_float_once
def hardswish(input, inplace: bool = False):  # noqa: A002
    """``x * relu6(x + 3) / 6`` (Howard et al. 2019), as torch's: the gradient is ``x / 3 + 1/2``
    strictly inside (-3, 3), 0 at and below -3 (-inf included), 1 at and above 3 (inf included)."""
    _check_input("hardswish", input)

    def compute():
        inside, x = _inside(input, -3.0, 3.0)
        # x * 0 below -3: -0.0, and NaN at -inf, as torch's x * relu6(x + 3) / 6; x itself from 3
        # up, and at NaN (whose gradient is 1 in torch's scalar kernel)
        return where(inside, x * (x + 3.0) / 6.0, where(input <= -3.0, input * 0.0, input))

    return _in_place("hardswish", input, inplace, compute)


def softsign(input):  # noqa: A002
    """``x / (1 + |x|)``."""
    _check_input("softsign", input)
    return input / (input.abs() + 1.0)


def softshrink(input, lambd: float = 0.5):  # noqa: A002
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0 (gradient 0 on the
    closed interval; NaN stays NaN), as torch's. A negative ``lambd`` is a ValueError."""
    _check_input("softshrink", input)
    lambd = _check_float("softshrink", "lambd", lambd)
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be non-negative, got {lambd}")
    if not lambd <= _FLOAT_MAX.get(input.dtype, math.inf):  # inf and NaN too, as torch's
        raise ValueError(f"softshrink: lambd must be at most {input.dtype}'s largest value, got {lambd}")
    inside = (input >= -lambd) * (input <= lambd)  # false for NaN, which stays NaN
    return where(inside, 0.0, where(input > lambd, input - lambd, input + lambd))


def hardshrink(input, lambd: float = 0.5):  # noqa: A002
    """``x`` where |x| > lambd, else 0 (gradient 0 on the closed interval; NaN stays NaN), as torch's."""
    _check_input("hardshrink", input)
    lambd = _check_float("hardshrink", "lambd", lambd, input, opmath=False)
    return where((input >= -lambd) * (input <= lambd), 0.0, input)  # NaN stays NaN


def tanhshrink(input):  # noqa: A002
    """``x - tanh(x)``."""
    _check_input("tanhshrink", input)
    return input - tanh(input)


def logsigmoid(input):  # noqa: A002
    """``log(sigmoid(x)) = -softplus(-x)``, finite and accurate for large |x| (about x for very
    negative x, about -exp(-x) for large x); the gradient is ``sigmoid(-x)`` (1/2 at 0)."""
    _check_input("logsigmoid", input)
    return -softplus(-input, 1.0, math.inf)


def softmin(input, dim=None, _stacklevel: int = 3, dtype=None):  # noqa: A002
    """``softmax(-x, dim)``; without ``dim`` torch's deprecated implicit choice, with torch's
    warning ``_stacklevel`` frames up (see ``softmax``); ``dtype`` casts the input first."""
    _check_tensor("softmin", "input", input)
    if dtype is not None:
        input = input.to(dtype)
    _refuse_bool("softmin", input=input)
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    return softmax(-input, _dim("softmin", dim, input.ndim))


@_low_float_once
def glu(input, dim: int = -1):  # noqa: A002
    """Gated linear unit: ``a * sigmoid(b)``, a and b the two halves of ``input`` along ``dim``."""
    op = "glu"
    _check_input(op, input)
    if input.ndim == 0:
        raise ValueError(f"{op}: does not support scalars because halving size must be even")
    d = _dim(op, dim, input.ndim)
    size = input.shape[d]
    if size % 2:
        raise ValueError(
            f"{op}: halving dimension must be even, but dimension {d} of input {tuple(input.shape)} is size {size}"
        )
    a, b = input.narrow(d, 0, size // 2), input.narrow(d, size // 2, size // 2)
    return a * sigmoid(b)


def prelu(input, weight):  # noqa: A002
    """``x`` where x > 0, else ``weight * x``; ``weight`` is one slope (numel 1) or one per channel
    (C,), the channels being dim 1 of the input, as torch's. The gradient at 0 is ``weight``."""
    op = "prelu"
    _check_input(op, input)
    _check_tensor(op, "weight", weight)
    _refuse_bool(op, weight=weight)
    _same_float_dtype(op, input, weight=weight)  # torch's prelu does not promote
    shape, w_shape = tuple(input.shape), tuple(weight.shape)
    if weight.ndim > 1:
        raise ValueError(f"{op}: expected weight to be a scalar or 1D tensor, got shape {w_shape}")
    count = weight.numel()
    if count == 1:
        slope = weight.reshape(())
    else:
        if input.ndim == 0:
            raise ValueError(f"{op}: a 0-d input takes a single slope, got weight of shape {w_shape}")
        channels = shape[1] if input.ndim > 1 else 1
        if channels != count:
            raise ValueError(
                f"{op}: weight of shape {w_shape} has {count} slopes, but input of shape {shape} "
                f"has {channels} channels"
            )
        slope = weight.reshape((1, count) + (1,) * (input.ndim - 2))
    return where(input > 0, input, input * slope)


def threshold(input, threshold: float, value: float, inplace: bool = False):  # noqa: A002
    """``x`` where x > threshold, else ``value`` (NaN stays NaN), as torch's."""
    _check_input("threshold", input)
    _check_float_args("threshold", input.dtype, threshold, opmath=True)
    _check_float_args("threshold", input.dtype, value)
    return _in_place("threshold", input, inplace, lambda: where(input <= threshold, value, input))


_threshold = threshold  # threshold_'s argument named threshold hides the function


def threshold_(input, threshold: float, value: float):  # noqa: A002
    """In place ``threshold``."""
    return _threshold(input, threshold, value, inplace=True)


def rrelu(
    input,  # noqa: A002
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
    *,
    generator=None,
):
    """Randomized leaky ReLU (Xu et al. 2015): ``x`` where x > 0, else ``a * x``. While
    ``training`` each element draws its slope ``a`` uniformly from [lower, upper] (minidiff's
    generator: ``md.manual_seed`` or ``generator``, which torch's F.rrelu lacks); otherwise ``a``
    is ``(lower + upper) / 2``. The gradient at 0 is the slope, as torch's."""
    op = "rrelu"
    _check_input(op, input)
    checked = input if training else None  # (in eval leaky_relu checks their mean)
    lower, upper = _check_float(op, "lower", lower, checked), _check_float(op, "upper", upper, checked)
    if lower > upper:
        raise ValueError(f"{op}: lower bound ({lower}) should be less than or equal to the upper bound ({upper})")

    def compute():
        if not training:
            return leaky_relu(input, (lower + upper) / 2.0)
        slopes = _rand(tuple(input.shape), generator=generator, device=input.device) * (upper - lower) + lower
        return where(input > 0, input, input * slopes)

    return _in_place(op, input, inplace, compute)


def rrelu_(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, *, generator=None):  # noqa: A002
    """In place ``rrelu``."""
    return rrelu(input, lower, upper, training, inplace=True, generator=generator)


# ---- losses


def _same_shape(op: str, input, target) -> None:  # noqa: A002
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"{op}: target of shape {tuple(target.shape)} must have the shape of input {tuple(input.shape)}"
        )


def _broadcast(op: str, **shapes) -> tuple[int, ...]:
    """The broadcast shape of the named shapes, or a ValueError naming them."""
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        named = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"{op}: shapes do not broadcast: {named}") from None


def _check_fits(op: str, name: str, t, shape: tuple[int, ...]) -> None:
    """``t`` (a per-element weight) must broadcast to ``shape`` without growing it."""
    _check_tensor(op, name, t)
    try:
        fits = tuple(np.broadcast_shapes(shape, tuple(t.shape))) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: {name} of shape {tuple(t.shape)} does not broadcast to the input's shape {shape}")


def _all_in_unit_interval(t: Tensor) -> bool:
    """Whether every element is in [0, 1] (NaN is not): a host check, as torch's kernel makes."""
    if t.numel() == 0:
        return True
    with _no_grad():
        inside = (t.detach() >= 0.0) * (t.detach() <= 1.0)
        return bool(inside.amin().item() == 1.0)


def binary_cross_entropy(
    input,  # noqa: A002
    target,
    weight=None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
):
    """``-weight * (t * log(x) + (1 - t) * log(1 - x))`` for probabilities ``input`` x and targets
    t in [0, 1] (the same shape), as torch's: each log is clamped to >= -100, so x = 0 or 1 gives
    a finite loss, and the input's gradient is torch's ``(x - t) / max(x * (1 - x), 1e-12)``.
    ``weight`` broadcasts to the input's shape. The range check reads the values on the host.
    Unlike torch, ``weight`` may require grad (it gets the loss's derivative), and the target's
    gradient is that of the clamped logs: finite at x = 0 or 1, where torch's ``-logit(x)`` is
    infinite (the tape has no way to give an infinite slope under a finite value)."""
    op = "binary_cross_entropy"
    reduction = _loss_args(op, size_average, reduce, reduction, input=input, target=target)
    _refuse_bool(op, input=input, target=target)
    _same_shape(op, input, target)
    shape = tuple(input.shape)
    if weight is not None:
        _check_fits(op, "weight", weight, shape)
    _same_float_dtype(op, input, target=target)
    if input.dtype in _LOW_FLOATS:  # computed in float32 and rounded once, as torch's kernel
        loss = binary_cross_entropy(input.float(), target.float(), _float32(weight), reduction=reduction)
        return loss.to(input.dtype)
    if not _all_in_unit_interval(input):
        raise ValueError(f"{op}: all elements of input (shape {shape}) should be between 0 and 1")
    if not _all_in_unit_interval(target):
        raise ValueError(f"{op}: all elements of target (shape {shape}) should be between 0 and 1")
    x = input.detach()
    with _no_grad():
        log_x = clamp(log(x), min=-100.0)
        log_1mx = clamp(_log1p(-x), min=-100.0)  # log1p(-x), as torch: accurate for small x
    # torch's order of operations; target (and weight) are on the tape, the input through _with_gradient
    loss = (target - 1.0) * log_1mx - target * log_x
    if weight is not None:
        loss = loss * weight
    if _records(input):
        with _no_grad():
            slope = (x - target.detach()) / clamp(x * (1.0 - x), min=1e-12)
            if weight is not None:
                slope = slope * weight.detach()
        loss = _with_gradient(loss, input, slope)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input,  # noqa: A002
    target,
    weight=None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight=None,
):
    """``binary_cross_entropy(sigmoid(x), t)`` computed from the logits ``input`` x as
    ``(1 - t) * x - l * logsigmoid(x)``, l = ``(pos_weight - 1) * t + 1``, as torch's: finite and
    accurate for any x. ``weight`` and ``pos_weight`` (e.g. (C,) against (N, C)) broadcast to the
    input's shape; the target has the input's shape."""
    op = "binary_cross_entropy_with_logits"
    reduction = _loss_args(op, size_average, reduce, reduction, input=input, target=target)
    _refuse_bool(op, input=input, target=target, pos_weight=pos_weight)
    _same_shape(op, input, target)
    if {input.dtype, target.dtype} & set(_LOW_FLOATS) and target.dtype in _FLOAT_DTYPES:
        # computed in float32; the elementwise loss has the target's dtype, as torch's (which builds it
        # in place on 1 - target), and is reduced from there
        loss = binary_cross_entropy_with_logits(
            _float32(input), _float32(target), _float32(weight), reduction="none", pos_weight=_float32(pos_weight)
        )
        return _reduce(loss.to(target.dtype), reduction)
    shape = tuple(input.shape)
    log_sig = logsigmoid(input)
    if pos_weight is not None:
        _check_fits(op, "pos_weight", pos_weight, shape)
        loss = (1.0 - target) * input - ((pos_weight - 1.0) * target + 1.0) * log_sig
    else:
        loss = (1.0 - target) * input - log_sig
    if weight is not None:
        _check_fits(op, "weight", weight, shape)
        loss = loss * weight
    return _reduce(loss, reduction)


def nll_loss(
    input,  # noqa: A002
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
):
    """Negative log likelihood of log-probabilities ``input`` (N, C) (also (C,) or (N, C, d1, ...))
    at class indices ``target`` (int64: (N,), (), (N, d1, ...)), as torch's: ``-input[target]``
    scaled by ``weight[target]`` (a per-class weight (C,)). Targets equal to ``ignore_index``
    add nothing; "mean" divides by the summed weights of the others (NaN when all are ignored)."""
    op = "nll_loss"
    reduction = _loss_args(op, size_average, reduce, reduction, input=input, target=target)
    shape, target_shape = tuple(input.shape), tuple(target.shape)
    if target.dtype != "int64":
        raise TypeError(f"{op}: target must hold int64 class indices, got {target.dtype} of shape {target_shape}")
    _refuse_bool(op, input=input, weight=weight)
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    classes = shape[class_dim]
    expected = shape[:class_dim] + shape[class_dim + 1 :]
    if target_shape != expected:
        raise ValueError(
            f"{op}: target of shape {target_shape} does not match input of shape {shape} (expected {expected})"
        )
    if weight is not None:
        _check_tensor(op, "weight", weight)
        if tuple(weight.shape) != (classes,):
            raise ValueError(
                f"{op}: weight must have shape ({classes},) for input of shape {shape}, got {tuple(weight.shape)}"
            )
    _same_float_dtype(op, input, weight=weight)
    if input.dtype in _LOW_FLOATS:  # the weighted mean in float32, rounded once, as torch's kernel
        return nll_loss(input.float(), target, _float32(weight), ignore_index=ignore_index, reduction=reduction).to(
            input.dtype
        )
    kept = target != ignore_index  # a bool mask
    safe = where(kept, target, 0)  # an ignored target picks class 0, then weighs 0
    try:
        picked = gather(input, class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    except IndexError as e:
        raise IndexError(f"{op}: a target is out of range for {classes} classes (input {shape})") from e
    scale = kept if weight is None else index_select(weight, 0, safe.reshape(-1)).reshape(target_shape) * kept
    loss = where(kept, -picked * scale, 0.0)  # an ignored target's loss is +0 whatever its input (not -0 or NaN)
    if reduction == "mean":
        return _weighted_mean(loss.sum(), scale.sum())
    return _reduce(loss, reduction)


def _xlogy_self(t: Tensor) -> Tensor:
    """``t * log(t)``, 0 where t == 0 (torch's xlogy(t, t)); NaN for negative t, as torch."""
    nonzero = t != 0
    return where(nonzero, t * log(where(nonzero, t, 1.0)), 0.0)


def kl_div(
    input,  # noqa: A002
    target,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    log_target: bool = False,
):
    """Pointwise KL divergence ``target * (log(target) - input)`` for log-probabilities ``input``
    (0 where target is 0), or ``exp(target) * (target - input)`` with ``log_target``, as torch's.
    ``reduction`` "batchmean" divides the sum by the batch size (input.shape[0]), which is the KL
    divergence; "mean" divides by every element and warns, as torch. The two broadcast."""
    op = "kl_div"
    _check_tensor(op, "input", input)
    _check_tensor(op, "target", target)
    for name, t in (("input", input), ("target", target)):
        if t.dtype in ("bool", "int64"):  # torch: "Integral inputs not supported"
            raise TypeError(f"{op}: {name} must be a floating-point tensor, got {t.dtype} of shape {tuple(t.shape)}")
    if size_average is not None or reduce is not None:
        reduction = _reduction(op, size_average, reduce, reduction)
    else:
        reduction = _reduction(op, None, None, reduction, _REDUCTIONS + ("batchmean",))
        if reduction == "mean":
            warnings.warn(
                "kl_div: reduction 'mean' divides the total loss by both the batch size and the support size. "
                "'batchmean' divides only by the batch size, and aligns with the KL div math definition. "
                "'mean' will be changed to behave the same as 'batchmean' in the next major release (as in torch).",
                UserWarning,
                stacklevel=2,
            )
    _broadcast(op, input=tuple(input.shape), target=tuple(target.shape))
    if log_target:
        loss = exp(target) * (target - input)
    else:
        loss = _xlogy_self(target) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / float(input.shape[0]) if input.ndim else total
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):  # noqa: A002
    """Gaussian negative log likelihood ``0.5 * (log(var) + (input - target)**2 / var)`` (+
    ``0.5 * log(2 pi)`` when ``full``), as torch's. ``var`` is the input's shape, or that shape with
    one dimension of size 1 (or the last one missing), or a float. It is clamped to >= ``eps`` for
    the value only (the gradient passes as if unclamped, as torch's no_grad clamp does); a
    negative entry is a ValueError (a host check, as torch's)."""
    op = "gaussian_nll_loss"
    _check_tensor(op, "input", input)
    _check_tensor(op, "target", target)
    _refuse_bool(op, input=input, target=target, var=var)
    _check_float_args(op, input.dtype, eps)
    shape = tuple(input.shape)
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(f"{op}: var has negative entry/entries")
        var = _full(shape, float(var), dtype=input.dtype, device=input.device)  # torch's full_like(input, var)
    _check_tensor(op, "var", var)
    with _no_grad():
        if var.numel() and (var.detach() < 0).amax().item() > 0:
            raise ValueError(f"{op}: var has negative entry/entries")
    var_shape = tuple(var.shape)
    if var_shape != shape:
        if shape[:-1] == var_shape:  # homoscedastic: one variance per sample
            var = var.unsqueeze(-1)
        elif not (
            len(var_shape) == len(shape) and builtins.sum(v for s, v in zip(shape, var_shape) if s != v) == 1
        ):  # one dimension of size 1 broadcasts
            raise ValueError(f"{op}: var of shape {var_shape} is of incorrect size for input of shape {shape}")
    reduction = _reduction(op, None, None, reduction)
    clamped = clamp(var.detach(), min=eps)
    var = clamped + (var - var.detach()) if _records(var) else clamped
    loss = (log(var) + (input - target).square() / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def poisson_nll_loss(
    input,  # noqa: A002
    target,
    log_input: bool = True,
    full: bool = False,
    size_average=None,
    eps: float = 1e-8,
    reduce=None,
    reduction: str = "mean",
):
    """Poisson negative log likelihood, as torch's: ``exp(input) - target * input`` when
    ``log_input`` (input is the log-rate), else ``input - target * log(input + eps)``; ``full``
    adds Stirling's approximation of ``log(target!)`` where target > 1. The two broadcast."""
    op = "poisson_nll_loss"
    reduction = _loss_args(op, size_average, reduce, reduction, input=input, target=target)
    _broadcast(op, input=tuple(input.shape), target=tuple(target.shape))
    if log_input:
        loss = exp(input) - target * input
    else:
        loss = input - target * log(input + eps)
    if full:
        big = target > 1.0
        t = where(big, target, 2.0)  # the masked-out branch stays finite, so its gradient is 0, not NaN
        stirling = t * log(t) - t + log(t * (2.0 * math.pi)) * 0.5
        loss = loss + where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def cosine_embedding_loss(
    input1,
    input2,
    target,
    margin: float = 0.0,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
):
    """``1 - cos(x1, x2)`` where target is 1, ``max(0, cos(x1, x2) - margin)`` where it is -1
    (0 elsewhere), for (N, D) inputs and a (N,) target, or (D,) inputs and a 0-d target, as
    torch's (cos uses ``sqrt((|x1|^2 + 1e-12) * (|x2|^2 + 1e-12))``)."""
    op = "cosine_embedding_loss"
    reduction = _loss_args(op, size_average, reduce, reduction, input1=input1, input2=input2, target=target)
    s1, s2, st = tuple(input1.shape), tuple(input2.shape), tuple(target.shape)
    if target.ndim not in (0, 1):
        raise ValueError(f"{op}: expected a 0-d or 1-d target, got shape {st} (multi-target is not supported)")
    want = 2 if target.ndim == 1 else 1
    if input1.ndim != want or s1 != s2 or (want == 2 and s1[0] != st[0]):
        raise ValueError(
            f"{op}: a target of shape {st} expects two {want}-d inputs of one shape"
            + (f" ({st[0]}, D)" if want == 2 else "")
            + f", got input1 {s1} and input2 {s2}"
        )
    d = target.ndim
    prod = (input1 * input2).sum(d)
    mag1 = (input1 * input1).sum(d) + 1e-12
    mag2 = (input2 * input2).sum(d) + 1e-12
    cos = prod / sqrt(mag1 * mag2)
    pos = where(target == 1, 1.0 - cos, 0.0)
    neg = where(target == -1, clamp(cos - margin, min=0.0), 0.0)
    return _reduce(pos + neg, reduction)


def margin_ranking_loss(
    input1,
    input2,
    target,
    margin: float = 0.0,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
):
    """``max(0, -target * (input1 - input2) + margin)`` (target 1: input1 should rank higher), as
    torch's; the three have one number of dimensions and broadcast."""
    op = "margin_ranking_loss"
    reduction = _loss_args(op, size_average, reduce, reduction, input1=input1, input2=input2, target=target)
    _refuse_bool(op, input1=input1, input2=input2, target=target)  # torch negates the target, subtracts the inputs
    if not input1.ndim == input2.ndim == target.ndim:
        raise ValueError(
            f"{op}: all input tensors should have the same number of dimensions, got input1 "
            f"{tuple(input1.shape)}, input2 {tuple(input2.shape)} and target {tuple(target.shape)}"
        )
    _broadcast(op, input1=tuple(input1.shape), input2=tuple(input2.shape), target=tuple(target.shape))
    return _reduce(clamp(-target * (input1 - input2) + margin, min=0.0), reduction)


def hinge_embedding_loss(
    input,  # noqa: A002
    target,
    margin: float = 1.0,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
):
    """``x`` where target is 1, ``max(0, margin - x)`` where it is -1, as torch's (an element with
    another target gets both terms, as torch's kernel gives); the two broadcast."""
    op = "hinge_embedding_loss"
    reduction = _loss_args(op, size_average, reduce, reduction, input=input, target=target)
    _refuse_bool(op, input=input)  # a bool target is read as 0/1, as torch's
    _broadcast(op, input=tuple(input.shape), target=tuple(target.shape))
    _check_float_args(op, input.dtype, margin)
    margin_part = where(target != 1, clamp(margin - input, min=0.0), 0.0)
    self_part = where(target != -1, input, 0.0)
    return _reduce(margin_part + self_part, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):  # noqa: A002
    """``log(1 + exp(-target * input))``, as torch's, computed as a softplus: finite (and with a
    finite gradient) where torch's ``log1p(exp(.))`` overflows, for -target * input > 88."""
    op = "soft_margin_loss"
    reduction = _loss_args(op, size_average, reduce, reduction, input=input, target=target)
    _refuse_bool(op, input=input)  # a bool target is read as 0/1, as torch's
    _broadcast(op, input=tuple(input.shape), target=tuple(target.shape))
    loss = softplus(-_float32(input) * _float32(target), 1.0, math.inf)  # 16-bit floats computed in float32
    # the input's dtype, as torch's (its kernel writes into a tensor like the input)
    return _reduce(loss.to(input.dtype) if input.dtype in _LOW_FLOATS else loss, reduction)


def triplet_margin_loss(
    anchor,
    positive,
    negative,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
):
    """``max(0, margin + d(anchor, positive) - d(anchor, negative))``, d = ``pairwise_distance``
    with ``p`` and ``eps``; ``swap`` takes the smaller of d(anchor, negative) and
    d(positive, negative) (Balntas et al. 2016), as torch's."""
    op = "triplet_margin_loss"
    reduction = _loss_args(op, size_average, reduce, reduction, anchor=anchor, positive=positive, negative=negative)
    _refuse_bool(op, anchor=anchor, positive=positive, negative=negative)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise ValueError(
            f"{op}: anchor, positive and negative must have the same number of dimensions, got "
            f"{tuple(anchor.shape)}, {tuple(positive.shape)} and {tuple(negative.shape)}"
        )
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = dist_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce(clamp(dist_pos - dist_neg + margin, min=0.0), reduction)


# ---- distances


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """``norm_p(x1 - x2 + eps)`` over the last dimension (of the broadcast shape), as torch's; the
    gradient of a zero difference is 0."""
    op = "pairwise_distance"
    _check_tensor(op, "x1", x1)
    _check_tensor(op, "x2", x2)
    _refuse_bool(op, x1=x1, x2=x2)  # torch subtracts them, and refuses a bool there
    shape = _broadcast(op, x1=tuple(x1.shape), x2=tuple(x2.shape))
    diff = x1 - x2 + eps
    if not shape:  # 0-d: the norm of one number
        if p == 0:
            return (diff != 0).to(diff.dtype)
        return diff.abs()
    return diff.norm(p, len(shape) - 1, keepdim)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """``sum(x1 / max(|x1|, eps) * x2 / max(|x2|, eps), dim)`` over the broadcast shape, as torch's:
    each input is divided by its own norm first (the result stays in [-1, 1]), and the clamp to
    ``eps`` applies to the values only (torch's no_grad clamp), so a zero vector's gradient is
    that of ``x1 / eps``."""
    op = "cosine_similarity"
    _check_tensor(op, "x1", x1)
    _check_tensor(op, "x2", x2)
    if x1.dtype == "bool" and x2.dtype == "bool":  # one bool side is read as 0/1, as torch's
        _refuse_bool(op, x1=x1)
    x1, x2 = _bool_as_float(x1), _bool_as_float(x2)
    _check_float_args(op, x1.dtype, eps, opmath=True)
    shape = _broadcast(op, x1=tuple(x1.shape), x2=tuple(x2.shape))
    d = _dim(op, dim, len(shape))
    if tuple(x1.shape) != shape:
        x1 = x1.expand(*shape)
    if tuple(x2.shape) != shape:
        x2 = x2.expand(*shape)

    def unit(x: Tensor) -> Tensor:
        n = x.norm(2, d, True)
        clamped = clamp(n.detach(), min=eps)
        return x / (clamped + (n - n.detach()) if _records(n) else clamped)

    return (unit(x1) * unit(x2)).sum(d)
