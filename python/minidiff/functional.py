"""Differentiable functional ops (``md.functional``, alias ``md.F``), PyTorch's signatures.

The ops are native (``minidiff._core.functional``); the ones defined below (losses, activations,
``pad``'s non-constant modes, pooling, adaptive pooling, pixel (un)shuffle, channel dropout,
``instance_norm``, ``conv1d``, ``conv_transpose1d``, dilated and grouped ``conv2d``/``conv_transpose2d``,
``one_hot``, ``normalize``, ``embedding``'s ``padding_idx``) and ``interpolate``'s composed modes
(resize.py) are composed from them in Python, so their gradients come from the native ops'
backward functions.
"""

from __future__ import annotations

import builtins
import functools
import math
import sys
import warnings

import numpy as np

from ._core import Tensor
from ._core import arange as _arange
from ._core import empty as _empty
from ._core import tensor as _tensor
from ._core.functional import (
    abs,
    acos,
    acosh,
    add,
    asin,
    asinh,
    atan,
    atanh,
    cat,
    clamp,
    cos,
    cosh,
    cumprod,
    cumsum,
    div,
    erf,
    erfc,
    erfinv,
    exp,
    exp2,
    expm1,
    gather,
    gelu,
    group_norm,
    group_norm_silu,
    index_select,
    layer_norm,
    log,
    log1p,
    log2,
    log10,
    matmul,
    maximum,
    mean,
    minimum,
    mul,
    reciprocal,
    sigmoid,
    sin,
    sinh,
    sqrt,
    stack,
    sub,
    sum,
    tan,
    tanh,
    where,
)
from ._core.functional import conv2d as _conv2d_native
from ._core.functional import conv_transpose2d as _conv_transpose2d_native
from ._core.functional import dropout as _dropout_native
from ._core.functional import embedding as _embedding_native
from ._core.functional import linear as _linear_native
from ._core.functional import mse_loss as _mse_loss_native
from ._core.functional import pad as _pad_native
from ._core.functional import relu as _relu_native
from ._core.functional import scaled_dot_product_attention as _fused_attention
from ._core.functional import silu as _silu_native
from ._core.functional import softmax as _softmax_native
from ._dtypes import LOW_FLOATS as _LOW_FLOATS
from ._dtypes import NARROW_INTS as _NARROW_INTS
from ._dtypes import check_float_args as _check_float_args
from .autograd import no_grad as _no_grad
from .resize import interpolate

# the rest of the native unary math (also Tensor methods and md.<name>)
_UNARY_MATH = (
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "cosh", "erf", "erfc", "erfinv", "exp2", "expm1", "log10",
    "log1p", "log2", "reciprocal", "sinh", "tan",
)  # fmt: skip

__all__ = [
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "cosh",
    "erf",
    "erfc",
    "erfinv",
    "exp2",
    "expm1",
    "log10",
    "log1p",
    "log2",
    "reciprocal",
    "sinh",
    "tan",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "avg_pool2d",
    "conv1d",
    "conv_transpose1d",
    "cross_entropy",
    "dropout1d",
    "dropout2d",
    "huber_loss",
    "instance_norm",
    "l1_loss",
    "leaky_relu",
    "log_softmax",
    "max_pool2d",
    "mish",
    "normalize",
    "one_hot",
    "pixel_shuffle",
    "pixel_unshuffle",
    "smooth_l1_loss",
    "softplus",
    "abs",
    "add",
    "cat",
    "clamp",
    "conv2d",
    "conv_transpose2d",
    "cos",
    "cumprod",
    "cumsum",
    "div",
    "dropout",
    "alpha_dropout",
    "feature_alpha_dropout",
    "embedding",
    "exp",
    "gather",
    "gelu",
    "group_norm",
    "group_norm_silu",
    "index_select",
    "interpolate",
    "layer_norm",
    "linear",
    "log",
    "matmul",
    "maximum",
    "mean",
    "minimum",
    "mse_loss",
    "mul",
    "pad",
    "relu",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "sin",
    "softmax",
    "sqrt",
    "stack",
    "sub",
    "sum",
    "tanh",
    "where",
]


# ---- checks shared by the composed ops below

_REDUCTIONS = ("mean", "sum", "none")


def _check_tensor(op: str, name: str, value) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be an md tensor, got {type(value).__name__}")


def _refuse_bool(op: str, **tensors) -> None:
    """torch's float kernels refuse bool tensors (a mask where a float is wanted): an error naming
    the op, rather than a float result or a complaint from an inner ``sub`` or ``neg``."""
    for name, t in tensors.items():
        if isinstance(t, Tensor) and t.dtype == "bool":
            raise TypeError(
                f"{op}: {name} must be a floating-point tensor, got bool of shape {tuple(t.shape)} "
                "(convert a mask with .float())"
            )


def _check_input(op: str, input) -> None:  # noqa: A002
    """An elementwise float op's input: a tensor, not a bool mask (torch's kernels refuse bool)."""
    _check_tensor(op, "input", input)
    _refuse_bool(op, input=input)


def _float32(t):
    """A bfloat16 or float16 tensor as float32, anything else as it is: composed ops of many steps
    compute 16-bit input in float32 and round the result once, as torch's reduced-precision kernels
    do (each step rounding to 16 bits would lose the precision those steps need)."""
    return t.float() if isinstance(t, Tensor) and t.dtype in _LOW_FLOATS else t


def _low_float_once(fn):
    """fn, a composed op of many steps, with bfloat16 or float16 tensor arguments computed in
    float32 and its tensor result rounded to their dtype once (see _float32; both 16-bit dtypes
    together give float32); float32 input takes fn's own path, and so does an in-place call
    (``inplace=True``)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        low = {v.dtype for v in (*args, *kwargs.values()) if isinstance(v, Tensor) and v.dtype in _LOW_FLOATS}
        if kwargs.get("inplace") or not low:
            return fn(*args, **kwargs)
        out = fn(*map(_float32, args), **{k: _float32(v) for k, v in kwargs.items()})
        return out.to(low.pop()) if isinstance(out, Tensor) and out.dtype == "float32" and len(low) == 1 else out

    return wrapper


def _same_float_dtype(op: str, input, **tensors) -> None:  # noqa: A002
    """Some of torch's kernels (nll_loss, cross_entropy, binary_cross_entropy, huber_loss, prelu)
    take no mixed 16-bit and other floats: a TypeError naming the op, rather than a silent promotion."""
    for name, t in tensors.items():
        if isinstance(t, Tensor) and t.dtype != input.dtype and {t.dtype, input.dtype} & set(_LOW_FLOATS):
            raise TypeError(
                f"{op}: {name} of dtype {t.dtype} and shape {tuple(t.shape)} must have the input's dtype "
                f"{input.dtype}, as torch's kernel requires"
            )


def _bool_as_float(t):
    """A bool target as float32 0/1, as torch's promoting loss kernels (mse, smooth L1, Huber) read it."""
    return t.float() if isinstance(t, Tensor) and t.dtype == "bool" else t


def _check_loss_args(op: str, input, target, reduction: str) -> None:  # noqa: A002
    _check_tensor(op, "input", input)
    _check_tensor(op, "target", target)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    # torch broadcasts different shapes with a warning that the result is likely wrong; here it is an error
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} and target of shape {tuple(target.shape)} differ")


def _user_stacklevel() -> int:
    """``warnings.warn``'s stacklevel, for a warning raised in the function that calls this, that
    names the first frame outside minidiff (the user's line, however deep the loss or module is)."""
    frame, level = sys._getframe(2), 2
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "minidiff":
        frame, level = frame.f_back, level + 1
    return level


def _legacy_reduction(op: str, size_average, reduce, reduction: str) -> str:
    """torch's deprecated ``size_average``/``reduce`` turned into the reduction they stand for (None
    counts as True; both set: "mean", only reduce: "sum", else "none"), with torch's warning pointing
    at the user's code; ``reduction`` is then ignored, as torch ignores it. A string there is a
    TypeError: it is a reduction passed in the slot that torch's signature gives size_average."""
    if size_average is None and reduce is None:
        return reduction
    for name, value in (("size_average", size_average), ("reduce", reduce)):
        if isinstance(value, str):
            raise TypeError(
                f"{op}: {name} (deprecated, as in torch) must be a bool or None, got {value!r}; pass the "
                "reduction as reduction=..."
            )
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
        UserWarning,
        stacklevel=_user_stacklevel(),
    )
    return reduction


def _reduction(op: str, size_average, reduce, reduction: str, allowed=_REDUCTIONS) -> str:
    """The reduction a loss (or a loss module) was given, torch's deprecated size_average/reduce
    included (see ``_legacy_reduction``), checked against ``allowed``."""
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    if reduction not in allowed:
        names = ", ".join(repr(r) for r in allowed)
        raise ValueError(f"{op}: reduction must be one of {names}, got {reduction!r}")
    return reduction


def _loss_args(op: str, size_average, reduce, reduction: str, **tensors) -> str:
    """A loss's opening checks: each named argument must be a tensor; returns the reduction (see
    ``_reduction``; its warning points at the user's code)."""
    for name, t in tensors.items():
        _check_tensor(op, name, t)
    return _reduction(op, size_average, reduce, reduction)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    return sum(loss) if reduction == "sum" else mean(loss)


def _dim(op: str, dim: int, ndim: int) -> int:
    """``dim`` as a non-negative index, checked as torch checks it (a 0-d tensor takes 0 or -1)."""
    span = builtins.max(ndim, 1)
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}")
    if not -span <= dim < span:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of {ndim} dimensions")
    return dim % span


def _softmax_dim(op: str, ndim: int, stacklevel: int) -> int:
    """torch's deprecated implicit dim for softmax, log_softmax and softmin called without one (0
    for 0-, 1- and 3-d input, else 1), with torch's warning; ``stacklevel`` counts as torch's
    ``_stacklevel`` does (3, the default: the line that called the op)."""
    warnings.warn(
        f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


# ---- linear and dropout: the native ops, with torch's other argument forms


def linear(input, weight, bias=None):  # noqa: A002
    """``input @ weight.T + bias`` (the native op), as torch's; a 1-D ``weight`` (in_features,)
    gives one output per row, the input's last dim contracted away, as torch's."""
    if isinstance(weight, Tensor) and weight.ndim == 1 and isinstance(input, Tensor):
        if input.ndim == 0 or input.shape[-1] != weight.shape[0]:
            raise ValueError(
                f"linear: input of shape {tuple(input.shape)} does not fit weight of shape {tuple(weight.shape)}"
            )
        out = matmul(input, weight)
        return out if bias is None else out + bias
    return _linear_native(input, weight, bias)


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, *, generator=None):  # noqa: A002
    """Zeroes each element with probability ``p`` and scales the rest by 1 / (1 - p) while
    ``training`` (the native op, drawing from minidiff's generator or ``generator``), as torch's;
    ``inplace=True`` writes the result into the input."""
    return _maybe_in_place("dropout", input, inplace, lambda: _dropout_native(input, p, training, generator=generator))


# SELU's negative saturation, -scale * alpha: alpha dropout sets dropped units to it
_SELU_SATURATION = 1.7580993408473766


def _alpha_dropout(op: str, input, p: float, training: bool, mask_shape: tuple, generator) -> Tensor:  # noqa: A002
    """torch's alpha dropout: kept units ``a * x``, dropped ones ``a * -alpha'`` shifted by ``b``, so
    that zero-mean unit-variance input keeps its mean and variance (a, b from p and SELU's
    saturation); p = 1 gives zeros, as torch's."""
    _check_tensor(op, "input", input)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return input * 0.0
    ones = _tensor(np.ones(mask_shape, dtype=np.float32), device=input.device)
    keep = _dropout_native(ones, p, True, generator=generator) > 0  # 1 kept, 0 dropped
    a = 1.0 / math.sqrt((_SELU_SATURATION**2 * p + 1.0) * (1.0 - p))
    shift = (keep.float() - 1.0) * (_SELU_SATURATION * a) + _SELU_SATURATION * a * p
    return input * (keep * a) + shift


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False, *, generator=None):  # noqa: A002
    """Dropout for SELU networks, as torch's (``training`` defaults to False, as torch's):
    each element is dropped with probability ``p`` to SELU's saturation value, then all are
    scaled and shifted to keep zero mean and unit variance. ``inplace`` writes into the input."""
    op = "alpha_dropout"
    return _maybe_in_place(op, input, inplace, lambda: _alpha_dropout(op, input, p, training, input.shape, generator))


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False, *, generator=None):  # noqa: A002
    """``alpha_dropout`` of whole channels: one draw per (sample, channel) of (N, C, *) input, as torch's."""
    op = "feature_alpha_dropout"
    _check_tensor(op, "input", input)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected an input (N, C, *) of at least 2 dimensions, got shape {tuple(input.shape)}")
    mask_shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    return _maybe_in_place(op, input, inplace, lambda: _alpha_dropout(op, input, p, training, mask_shape, generator))


# ---- attention


def _broadcast_batch(op: str, *tensors):
    """The tensors with their batch dims (all but the last two) broadcast to one shape, as torch's
    attention broadcasts them; unchanged when they agree."""
    batches = [tuple(t.shape[:-2]) for t in tensors]
    if any(t.ndim < 2 for t in tensors):
        shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
        raise ValueError(f"{op}: query, key and value need at least 2 dims, got {shapes}")
    if builtins.all(b == batches[0] for b in batches):
        return tensors
    try:
        batch = np.broadcast_shapes(*batches)
    except ValueError:
        shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
        raise ValueError(f"{op}: the batch dims of query, key and value do not broadcast: {shapes}") from None
    return tuple(t.expand(*batch, *t.shape[-2:]) if tuple(t.shape[:-2]) != batch else t for t in tensors)


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False, scale=None, enable_gqa=False
):
    """``softmax(q @ k^T * scale + mask) @ v`` over the last two dims, as torch's. Without a mask,
    dropout or causality it is the native fused kernel; otherwise it is composed from ops.

    ``attn_mask`` broadcasts to (..., L, S): a bool mask (a bool tensor, as comparisons give, or a
    NumPy bool array) keeps the scores where True; a float tensor is added to the scores (e.g. 0
    and -inf), as torch's. ``dropout_p`` drops attention weights always, as
    torch's does (pass 0.0 when not training). ``enable_gqa`` repeats each key/value head for its
    group of query heads. query, key and value have one dtype (a TypeError otherwise, as torch);
    the composed path computes bfloat16 and float16 in float32 (a float32 mask or one of the query's
    dtype, as torch takes) and rounds the result once."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        _check_tensor("scaled_dot_product_attention", name, t)
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        heads, kv_heads = query.shape[-3], key.shape[-3]
        if kv_heads == 0 or heads % kv_heads:
            raise ValueError(
                f"scaled_dot_product_attention: {heads} query heads are not a multiple of {kv_heads} key/value heads"
            )
        key = key.repeat_interleave(heads // kv_heads, dim=-3)
        value = value.repeat_interleave(heads // kv_heads, dim=-3)
    if len({query.dtype, key.dtype, value.dtype}) > 1:  # as torch: no promotion among q, k and v
        raise TypeError(
            "scaled_dot_product_attention: query, key and value must have one dtype, got "
            f"{query.dtype}, {key.dtype} and {value.dtype}"
        )
    query, key, value = _broadcast_batch("scaled_dot_product_attention", query, key, value)
    if key.shape[-2] == 0 and key.shape[-1] == query.shape[-1]:
        # nothing to attend to: zeros, as torch (the products keep q, k and v in the graph)
        return matmul(matmul(query, key.transpose(-2, -1)), value)
    if attn_mask is None and not is_causal and not dropout_p:
        return _fused_attention(query, key, value, scale=scale)
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both (as torch)")
    if isinstance(attn_mask, Tensor) and attn_mask.dtype in _LOW_FLOATS and attn_mask.dtype != query.dtype:
        # as torch: a float mask is float32 or the query's dtype (float16 with bfloat16 is refused)
        raise TypeError(
            f"scaled_dot_product_attention: a float attn_mask must be float32 or the query's dtype "
            f"{query.dtype}, got {attn_mask.dtype}"
        )
    if query.dtype in _LOW_FLOATS:  # scores, mask (16-bit or float32) and softmax in float32, rounded once
        out = scaled_dot_product_attention(
            query.float(), key.float(), value.float(), _float32(attn_mask), dropout_p, is_causal, scale
        )
        return out.to(query.dtype)
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got {dropout_p}")
    L, S = query.shape[-2], key.shape[-2]
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: query {tuple(query.shape)}, key {tuple(key.shape)} and value "
            f"{tuple(value.shape)} do not fit (..., L, E), (..., S, E), (..., S, Ev)"
        )
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = matmul(query, key.transpose(-2, -1)) * factor
    if is_causal:
        attn_mask = np.tril(np.ones((L, S), dtype=bool))
    if isinstance(attn_mask, np.ndarray) and attn_mask.dtype == bool:
        attn_mask = _tensor(attn_mask, device=query.device)
    if isinstance(attn_mask, Tensor) and attn_mask.dtype == "bool":
        scores = where(attn_mask, scores, float("-inf"))
    elif attn_mask is not None:
        kind = attn_mask.dtype if isinstance(attn_mask, Tensor) else np.asarray(attn_mask).dtype.name
        if kind == "int64" or (not isinstance(attn_mask, Tensor) and np.asarray(attn_mask).dtype.kind != "f"):
            # torch refuses integer masks too: neither keep/block nor additive is meant for sure
            raise TypeError(
                "scaled_dot_product_attention: attn_mask must be bool (True keeps a position) or float (added "
                f"to the scores), got {kind} of shape {tuple(np.shape(attn_mask))}"
            )
        if not isinstance(attn_mask, Tensor):
            attn_mask = _tensor(np.asarray(attn_mask, dtype=np.float32), device=query.device)
        scores = scores + attn_mask
    blocked = None
    if attn_mask is not None:
        # a query that may attend to nothing gets zero weights (torch 2.13 gives 0, not NaN); its
        # scores are zeroed before the softmax too, so that the backward sees no NaN either
        blocked = scores.detach().amax(dim=-1, keepdim=True) == float("-inf")
        scores = where(blocked, 0.0, scores)
    weights = _softmax_native(scores, -1)
    if blocked is not None:
        weights = where(blocked, 0.0, weights)
    if dropout_p:
        weights = dropout(weights, dropout_p, True)
    return matmul(weights, value)


# ---- losses (torch's signatures, deprecated size_average/reduce included: positional calls line up)


def _weighted_loss(op: str, loss: Tensor, weight, shape: tuple, reduction: str) -> Tensor:
    """``loss * weight`` reduced as torch's weighted l1_loss/mse_loss: "mean" divides by the summed
    weights, not by the number of elements; ``weight`` has the input's shape."""
    _check_tensor(op, "weight", weight)
    if tuple(weight.shape) != shape:
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} differs from input of shape {shape}")
    loss = loss * weight
    return sum(loss) / sum(weight) if reduction == "mean" else _reduce(loss, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):  # noqa: A002
    """Mean absolute error, as ``torch.nn.functional.l1_loss`` (the gradient at a zero difference
    is 0). ``reduction`` is "mean", "sum" or "none"; ``weight`` (the input's shape) scales each
    element, "mean" then dividing by the summed weights, as torch 2.13."""
    op = "l1_loss"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    _check_loss_args(op, input, target, reduction)
    _refuse_bool(op, input=input, target=target)  # torch subtracts them, and refuses a bool there
    loss = abs(sub(input, target))
    if weight is not None:
        return _weighted_loss(op, loss, weight, tuple(input.shape), reduction)
    return _reduce(loss, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):  # noqa: A002
    """Mean squared error (the native op), as ``torch.nn.functional.mse_loss``; the input and the
    target have one shape (torch broadcasts them, with a warning). ``weight`` (the input's shape)
    scales each element, "mean" then dividing by the summed weights, as torch 2.13."""
    op = "mse_loss"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    if weight is None:
        if isinstance(input, Tensor) and isinstance(target, Tensor) and input.dtype != target.dtype:
            # torch's kernel promotes one bool side to float (two bools it refuses, as the native op)
            input, target = _bool_as_float(input), _bool_as_float(target)
        return _mse_loss_native(input, target, reduction)
    _check_loss_args(op, input, target, reduction)
    _refuse_bool(op, input=input, target=target)  # torch subtracts them here, and refuses a bool there
    return _weighted_loss(op, (input - target).square(), weight, tuple(input.shape), reduction)


def smooth_l1_loss(
    input,  # noqa: A002
    target,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    beta: float = 1.0,
):
    """``0.5 * d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 * beta`` (d = input - target), as
    torch's; ``beta=0`` is ``l1_loss``. The gradient is ``d / beta`` inside, ``sign(d)`` outside."""
    op = "smooth_l1_loss"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    _check_loss_args(op, input, target, reduction)
    if beta < 0:
        raise ValueError(f"{op}: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    if input.dtype == "bool" and target.dtype == "bool":
        _refuse_bool(op, input=input)
    # torch's kernel reads one bool side as float 0/1
    diff = _bool_as_float(input) - _bool_as_float(target)
    size = diff.abs()
    # (the square of the diffs inside only: an infinite one's gradient was 0 * inf, NaN; a NaN stays)
    inside = where(size >= beta, 0.0, diff).square() * (0.5 / beta)
    return _reduce(where(size < beta, inside, size - 0.5 * beta), reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):  # noqa: A002
    """``0.5 * d**2`` where ``|d| < delta``, else ``delta * (|d| - 0.5 * delta)``, as torch's;
    ``delta * smooth_l1_loss(beta=delta)``. ``weight`` (the input's shape) scales each element's
    loss before the reduction, as in torch 2.13 (torch's huber_loss has no size_average/reduce)."""
    _check_loss_args("huber_loss", input, target, reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    _refuse_bool("huber_loss", input=input)  # torch reads a bool target as 0/1, but refuses a bool input
    _same_float_dtype("huber_loss", input, target=target)  # torch's kernel takes no mixed 16-bit and other floats
    diff = _float32(input) - _float32(_bool_as_float(target))
    size = diff.abs()
    loss = where(size < delta, where(size >= delta, 0.0, diff).square() * 0.5, (size - 0.5 * delta) * delta)
    if input.dtype in _LOW_FLOATS:
        loss = loss.to(input.dtype)  # each element's loss computed in float32 and rounded once, as torch's kernel
    if weight is not None:
        _check_tensor("huber_loss", "weight", weight)
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError(
                f"huber_loss: weight of shape {tuple(weight.shape)} differs from input of shape {tuple(input.shape)}"
            )
        loss = loss * weight
    return _reduce(loss, reduction)


def cross_entropy(
    input,  # noqa: A002
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
):
    """Cross entropy of logits ``input`` (N, C) (also (C,) or (N, C, d1, ...)) against class indices
    ``target`` (int64: (N,), (), (N, d1, ...)) or class probabilities (float, the input's shape), as
    torch's: ``-log_softmax(input)[target]``, each scaled by ``weight[target]`` (a per-class weight
    (C,)). "mean" divides by the summed weights of the targets that are not ``ignore_index`` (by
    the number of samples for probabilities). Label smoothing is not implemented: a nonzero
    ``label_smoothing`` is a ValueError."""
    op = "cross_entropy"
    reduction = _legacy_reduction(op, size_average, reduce, reduction)
    _check_tensor(op, "input", input)
    _check_tensor(op, "target", target)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if label_smoothing != 0.0:
        raise ValueError(f"{op}: label_smoothing is not implemented here, got {label_smoothing}")
    if target.dtype == "int64":  # torch's class-index kernel takes no mixed weight (the probability path promotes)
        _same_float_dtype(op, input, weight=weight)
    if input.dtype in _LOW_FLOATS and "float32" not in (target.dtype, getattr(weight, "dtype", None)):
        # computed in float32 and rounded once, as torch's kernels accumulate; float32 probabilities
        # or weights promote the result to float32 instead (the path below), as torch's
        loss = cross_entropy(
            input.float(), _float32(target), _float32(weight), ignore_index=ignore_index, reduction=reduction
        )
        return loss.to(input.dtype)
    _refuse_bool(op, input=input, weight=weight)
    shape, target_shape = tuple(input.shape), tuple(target.shape)
    if target.dtype == "bool" or target.dtype in _NARROW_INTS:  # torch: neither class indices nor probabilities
        raise TypeError(
            f"{op}: target must hold int64 class indices or float class probabilities, got {target.dtype} of shape "
            f"{target_shape} (convert it with .long() or .float())"
        )
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    classes = shape[class_dim]
    weight_shape = [1] * input.ndim  # weight (C,) broadcast along the class dim
    weight_shape[class_dim] = classes
    if weight is not None:
        _check_tensor(op, "weight", weight)
        if tuple(weight.shape) != (classes,):
            raise ValueError(
                f"{op}: weight must have shape ({classes},) for input of shape {shape}, got {tuple(weight.shape)}"
            )
    logp = log_softmax(input, class_dim)
    if target.dtype != "int64":  # class probabilities
        if target_shape != shape:
            raise ValueError(
                f"{op}: probability target of shape {target_shape} differs from input of shape {shape} "
                f"(class-index targets must be int64, got {target.dtype})"
            )
        weighted = target * logp if weight is None else target * logp * weight.reshape(weight_shape)
        loss = -sum(weighted, class_dim)
        if reduction == "mean":  # per sample, whatever the weights
            return sum(loss) / float(loss.numel())
        return _reduce(loss, reduction)
    expected = shape[:class_dim] + shape[class_dim + 1 :]
    if target_shape != expected:
        raise ValueError(
            f"{op}: class-index target of shape {target_shape} does not match input of shape {shape} "
            f"(expected {expected})"
        )
    kept = target != ignore_index  # a bool mask
    safe = where(kept, target, 0)  # an ignored target picks class 0, then weighs 0
    try:
        picked = gather(logp, class_dim, safe.unsqueeze(class_dim)).squeeze(class_dim)
    except IndexError as e:
        raise IndexError(
            f"{op}: a target is out of range for {classes} classes (input {shape}, target {target_shape})"
        ) from e
    scale = kept if weight is None else index_select(weight, 0, safe.reshape(-1)).reshape(target_shape) * kept
    loss = where(kept, -picked * scale, 0.0)  # an ignored target's loss is +0 whatever its logits (not -0 or NaN)
    if reduction == "mean":
        return _weighted_mean(sum(loss), sum(scale))
    return _reduce(loss, reduction)


def _weighted_mean(total: Tensor, count: Tensor) -> Tensor:
    """total / count, as torch's weighted losses: NaN when count is 0 (every target ignored), with
    zero gradients then (a plain 0 / 0 would send inf * 0 = NaN back through the graph)."""
    empty = (count == 0).detach()
    return total / where(empty, 1.0, count) + where(empty, float("nan"), 0.0)


# ---- activations


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):  # noqa: A002
    """``exp(x) / sum(exp(x), dim)`` (the native op), as torch's; ``dtype`` casts the input first.
    Without ``dim`` torch's deprecated implicit choice applies (0 for 0-, 1- and 3-d input, else 1),
    with torch's warning, ``_stacklevel`` frames up (3: the caller's line)."""
    _check_tensor("softmax", "input", input)
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    return _softmax_native(input, dim)


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):  # noqa: A002
    """``log(softmax(input, dim))`` computed as ``x - max - log(sum(exp(x - max)))``, so large
    logits neither overflow nor lose the small probabilities; ``dtype`` casts the input first.
    Without ``dim`` torch's deprecated implicit choice applies (see ``softmax``)."""
    _check_tensor("log_softmax", "input", input)
    if dtype is not None:
        input = input.to(dtype)
    _refuse_bool("log_softmax", input=input)
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    dim = _dim("log_softmax", dim, input.ndim)
    if input.dtype in _LOW_FLOATS:  # in float32, rounded once (see _float32)
        return log_softmax(input.float(), dim).to(input.dtype)
    if input.ndim == 0:
        return input - input  # one class: log(1) = 0, kept in the graph
    if input.shape[dim] == 0:
        return input - input  # nothing to normalise: the empty result, as softmax gives (max has no empty reduction)
    # the shift cancels in the result and in its gradient, so it needs none of its own
    shifted = input - input.detach().max(dim, keepdim=True).values
    return shifted - log(sum(exp(shifted), dim, keepdim=True))


def _log1p(t: Tensor) -> Tensor:
    """log(1 + t) for t >= 0 to float32 precision (there is no native log1p): where ``1 + t``
    rounds, ``log(u) * t / (u - 1)`` corrects the rounding (Goldberg); where it rounds to 1,
    log1p(t) is t."""
    u = t + 1.0
    rounded_away = (u - 1.0) == 0
    # the inner where keeps the unused branch finite, so its gradient (multiplied by 0) is not NaN
    return where(rounded_away, t, log(u) * t / where(rounded_away, 1.0, u - 1.0))


@_low_float_once
def softplus(input, beta: float = 1.0, threshold: float = 20.0):  # noqa: A002
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``, as torch's;
    accurate for very negative x too (about exp(beta * x), not 0). The gradient is
    ``sigmoid(beta * x)`` (1 above the threshold)."""
    _check_input("softplus", input)
    _check_float_args("softplus", input.dtype, beta, threshold, opmath=True)
    if beta == 0:
        raise ValueError("softplus: beta must be nonzero")
    scaled = input * beta  # z
    positive = scaled > 0
    # softplus(z) = max(z, 0) + log1p(exp(-|z|)): exp never overflows, and log1p's argument stays
    # in (0, 1], where the gradient of _log1p is accurate (at large arguments its correction
    # cancels to about log(z) ulps). At z = 0 the second branch of each where gives slope 1/2.
    soft = where(positive, scaled, 0.0) + _log1p(exp(where(positive, -scaled, scaled)))
    return where(scaled > threshold, input, soft / beta)


def _maybe_in_place(op: str, input, inplace: bool, compute):  # noqa: A002
    """``compute()``, written into ``input`` when ``inplace`` (``Tensor._inplace_``: outside the
    graph the values are overwritten; inside it the tensor takes the result and its history)."""
    return input._inplace_(op + "_", compute) if inplace else compute()


def relu(input, inplace: bool = False):  # noqa: A002
    """``max(x, 0)`` (native; NaN stays NaN). ``inplace=True`` writes the result into ``input``."""
    _check_input("relu", input)
    return _maybe_in_place("relu", input, inplace, lambda: _relu_native(input))


def silu(input, inplace: bool = False):  # noqa: A002
    """``x * sigmoid(x)`` (native). ``inplace=True`` writes the result into ``input``."""
    _check_input("silu", input)
    return _maybe_in_place("silu", input, inplace, lambda: _silu_native(input))


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):  # noqa: A002
    """``x`` where x > 0, else ``negative_slope * x`` (the gradient at 0 is ``negative_slope``, as
    torch's). ``inplace=True`` writes the result into ``input``."""
    _check_input("leaky_relu", input)
    _check_float_args("leaky_relu", input.dtype, negative_slope, opmath=True)
    return _maybe_in_place("leaky_relu", input, inplace, lambda: where(input > 0, input, input * negative_slope))


@_low_float_once
def mish(input, inplace: bool = False):  # noqa: A002
    """``x * tanh(softplus(x))`` (Misra 2019). ``inplace=True`` writes the result into ``input``."""
    _check_input("mish", input)
    return _maybe_in_place("mish", input, inplace, lambda: input * tanh(softplus(input)))


def normalize(input, p: float = 2.0, dim=1, eps: float = 1e-12, out=None):  # noqa: A002
    """``input / max(norm_p(input, dim), eps)``, as torch's, for any p: a positive one (the
    Euclidean p = 2 being the default), ``inf`` / ``-inf`` (the largest / smallest magnitude) and
    0 (the count of nonzeros, without gradient, as torch's). A zero vector stays zero (its gradient
    is ``1 / eps`` times the upstream one, as torch's); eps must fit a float input's dtype, as
    torch's. ``out`` is not supported."""
    if isinstance(input, Tensor):
        _check_float_args("normalize", input.dtype, eps)
    return _normalize(input, p, dim, eps, out)


@_low_float_once
def _normalize(input, p, dim, eps, out):  # noqa: A002
    _check_input("normalize", input)
    if out is not None:
        raise ValueError("normalize: out= is not supported; use the returned tensor")
    p = float(p)
    if p == math.inf:
        norm = abs(input).amax(dim, keepdim=True)
    elif p == -math.inf:
        norm = abs(input).amin(dim, keepdim=True)
    elif p == 0:
        norm = sum(input != 0, dim, keepdim=True).to(input.dtype)  # a count, in the input's dtype, as torch's
    elif p == 1:
        norm = sum(abs(input), dim, keepdim=True)
    elif p == 2 or p > 0:
        if p == 2:
            powered = sum(input * input, dim, keepdim=True)
        else:  # |x|**p taken at 1 where x is 0: its slope there is infinite for p < 1 (torch's is 0)
            nonzero = input != 0
            powered = sum(where(nonzero, abs(where(nonzero, input, 1.0)) ** p, 0.0), dim, keepdim=True)
        positive = powered > 0
        # the root is evaluated at 1 where the norm is 0: its infinite slope there would make the
        # gradient NaN; torch's norm has gradient 0 there too. A NaN sum stays NaN (not 0, which
        # the clamp would make eps), so a vector holding NaN becomes NaN, as torch's
        root = where(positive, powered, 1.0)
        root = sqrt(root) if p == 2 else root ** (1.0 / p)
        norm = where(positive, root, powered)
    else:
        raise ValueError(
            f"normalize: p must be positive, 0 or +-inf, got p={p} for input of shape {tuple(input.shape)}"
        )
    return input / clamp(norm, min=eps)


def embedding(
    input,  # noqa: A002
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
):
    """The rows of ``weight`` (num_embeddings, D) at the int64 indices ``input`` (any shape), giving
    (*input.shape, D), as torch's (the native op). The row ``padding_idx`` (negative counts from the
    end) is returned as it is but gets no gradient, as torch's. ``scale_grad_by_freq`` divides each
    row's gradient by how often its index occurs in ``input``, as torch's. ``max_norm``
    (renormalising rows in place) is not supported (a ValueError); ``sparse=True`` is accepted and
    the gradient is dense."""
    op = "embedding"
    _check_tensor(op, "input", input)
    _check_tensor(op, "weight", weight)
    if max_norm is not None:
        raise ValueError(f"{op}: max_norm (renormalising the looked-up rows in place) is not supported")
    if padding_idx is not None:
        rows = weight.shape[0] if weight.ndim else 0
        if not isinstance(padding_idx, int) or isinstance(padding_idx, bool):
            raise TypeError(f"{op}: padding_idx must be an int, got {padding_idx!r}")
        if not -rows <= padding_idx < rows:
            raise ValueError(f"{op}: padding_idx {padding_idx} must be within num_embeddings ({rows})")
        padding_idx %= rows
    # the padding row's gradient is zeroed, and scale_grad_by_freq applied, in the native backward
    return _embedding_native(input, weight, -1 if padding_idx is None else padding_idx, bool(scale_grad_by_freq))


def one_hot(tensor, num_classes: int = -1):
    """int64 class indices of any shape -> int64 (*shape, num_classes), 1 at each index, as torch's;
    ``num_classes=-1`` takes the largest index + 1. The indices are checked on the host."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot: tensor must be an md tensor, got {type(tensor).__name__}")
    if tensor.dtype != "int64":
        raise TypeError(f"one_hot: the indices must be int64, got {tensor.dtype} of shape {tuple(tensor.shape)}")
    if num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be -1 or non-negative, got {num_classes}")
    values = tensor.numpy()
    if values.size == 0:
        if num_classes == -1:
            raise ValueError(
                f"one_hot: cannot infer the number of classes from an empty tensor of shape {values.shape}"
            )
    else:
        low, high = int(values.min()), int(values.max())
        if low < 0:
            raise ValueError(f"one_hot: class values must be non-negative, got {low}")
        if num_classes == -1:
            num_classes = high + 1
        elif high >= num_classes:
            raise ValueError(f"one_hot: class value {high} is not smaller than num_classes={num_classes}")
    return (tensor.unsqueeze(-1) == _arange(num_classes, device=tensor.device)).to("int64")


# ---- padding and pooling: constant padding is native; the rest is in functional_spatial.py (which
# imports this module, so it is imported where it is used)

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode: str = "constant", value=None):  # noqa: A002
    """Pads (or, with negative entries, crops) the last len(pad) // 2 dims of ``input``, as torch's;
    ``pad`` is (left, right) for the last dim, then (top, bottom) for the one before, and so on.
    "constant" (native) fills with ``value`` (default 0) and takes any rank. "reflect" (about the
    edge, which is not repeated), "replicate" (the edge value) and "circular" (wrapping around) pad
    the last 1, 2 or 3 dims of an input with one or two more dims (2D/3D, 3D/4D, 4D/5D), each side
    less than the dim for reflect and at most the (cropped) dim for circular. torch raises
    NotImplementedError for an unknown mode or rank; here it is a ValueError."""
    if mode == "constant":
        if isinstance(input, Tensor) and builtins.any(p > 0 for p in pad):  # (cropping writes no value)
            _check_float_args("pad", input.dtype, value)
        return _pad_native(input, pad, "constant", 0.0 if value is None else value)
    from .functional_spatial import _pad_nonconstant

    _check_tensor("pad", "input", input)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(map(repr, _PAD_MODES))}, got {mode!r}")
    if value is not None and value != 0:
        raise ValueError(f"pad: mode {mode!r} takes no value, got value={value!r}")
    if not isinstance(pad, (tuple, list)) or not builtins.all(
        isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad
    ):
        raise TypeError(f"pad: pad must be a sequence of ints, got {pad!r}")
    widths, shape = tuple(int(p) for p in pad), tuple(input.shape)
    dims = len(widths) // 2
    if len(widths) % 2:
        raise ValueError(f"pad: the padding length must be divisible by 2, got {widths} for input of shape {shape}")
    if dims not in (1, 2, 3) or input.ndim not in (dims + 1, dims + 2):
        raise ValueError(
            f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of an input with 1 or 2 more dims (2D/3D, 3D/4D, "
            f"4D/5D), got padding {widths} for input of shape {shape}"
        )
    if mode != "circular":  # torch's reflect and replicate kernels refuse bool; circular copies it
        _refuse_bool("pad", input=input)
    return _pad_nonconstant("pad", input, widths, mode)


def avg_pool2d(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
):
    """Mean over sliding ``kernel_size`` windows of (N, C, H, W) or (C, H, W) input, as torch's:
    ``stride`` (default ``kernel_size``), zero ``padding`` (at most half the kernel) counted in
    the divisor when ``count_include_pad``, ``ceil_mode`` (a last, partial window where it starts
    inside the input or its left padding; it divides by its part inside the padded input), and
    ``divisor_override`` (a nonzero int that divides every window's sum instead)."""
    from .functional_spatial import _avg_pool2d

    return _avg_pool2d(
        "avg_pool2d", input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )


def max_pool2d(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """Maximum over sliding ``kernel_size`` windows of (N, C, H, W) or (C, H, W) input, as torch's:
    ``stride`` (default ``kernel_size``), ``padding`` (at most half the kernel; padded taps never
    win), ``dilation`` and ``ceil_mode``.

    Ties: the gradient goes to the first maximum in the window in row-major order, as torch's CPU
    kernel chooses (its CUDA kernel may choose another). A window with NaN gives NaN, with the
    gradient on the first NaN (torch's CPU kernel takes the last). ``return_indices=True`` also
    returns each maximum's flat index h * W + w into its input plane (int64, computed on the host)."""
    from .functional_spatial import _max_pool2d

    return _max_pool2d("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


# ---- adaptive pooling: torch's bins, start = floor(i * in / out), end = ceil((i + 1) * in / out)


def _adaptive_output_size(op: str, output_size, h: int, w: int) -> tuple[int, int]:
    """(out_h, out_w) from an int or a pair whose None entries keep the input's size."""
    if isinstance(output_size, int) and not isinstance(output_size, bool):
        sizes = (output_size, output_size)
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        sizes = tuple(output_size)
    else:
        raise TypeError(f"{op}: output_size must be an int or a pair of ints (or None), got {output_size!r}")
    out = []
    for size, keep in zip(sizes, (h, w)):
        if size is None:
            out.append(keep)
        elif not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"{op}: output_size entries must be ints or None, got {output_size!r}")
        elif size < 0:
            raise ValueError(f"{op}: output_size entries must be non-negative, got {output_size!r}")
        else:
            out.append(size)
    return out[0], out[1]


def _allocate_output(op: str, x: Tensor, out_h: int, out_w: int) -> None:
    """Allocates the (N, C, out_h, out_w) output once, so that one too large for memory fails now,
    with the allocator's error naming its size (as torch's allocation does), not after a long
    build of bin indices."""
    try:
        _empty((x.shape[0], x.shape[1], out_h, out_w), device=x.device)
    except (ValueError, MemoryError) as e:
        raise type(e)(f"{op}: output size ({out_h}, {out_w}) for input {tuple(x.shape)}: {e}") from None


def _adaptive_bins(size_in: int, size_out: int) -> list[tuple[int, int]]:
    # integer arithmetic, so the edges are exact: ceil(a / b) = -(-a // b)
    return [(i * size_in // size_out, -(-(i + 1) * size_in // size_out)) for i in range(size_out)]


def _pool_input(op: str, input, spatial: int):  # noqa: A002
    """(input as (N, C, H, W), batched) for 2-D pooling, or (N, C, 1, L) for 1-D, after torch's
    checks: one or two more dims than ``spatial``, the non-batch ones nonzero, and not bool (torch's
    pooling kernels refuse it)."""
    _check_input(op, input)
    shape = tuple(input.shape)
    if input.ndim not in (spatial + 1, spatial + 2):
        layout = "(C, L) or 3D (N, C, L)" if spatial == 1 else "(C, H, W) or 4D (N, C, H, W)"
        raise ValueError(f"{op}: expected a {spatial + 1}D {layout} input, got shape {shape}")
    # as torch's: the adaptive average pools take zero channels, the adaptive max pools unbatched ones only
    empty_channels = op.startswith("adaptive_avg") or (op.startswith("adaptive_max") and input.ndim == spatial + 1)
    checked = shape[-spatial:] if empty_channels else shape[-spatial - 1 :]
    if 0 in checked:
        raise ValueError(f"{op}: the input's non-batch dimensions must be nonzero, got shape {shape}")
    batched = input.ndim == spatial + 2
    x = input if batched else input.unsqueeze(0)
    return (x if spatial == 2 else x.unsqueeze(2)), batched


def _adaptive_mean(x: Tensor, dim: int, size_out: int) -> Tensor:
    """Mean over each adaptive bin along ``dim`` (2 = H or 3 = W) of (N, C, H, W) ``x``. Equal
    bins (in % out == 0) are a reshape and a mean; otherwise each bin's positions are gathered
    (k of them, k the widest bin; a narrower bin repeats its last one), the repeats masked out and
    the rest weighted by 1 / bin size: overlapping and unequal bins (and out > in) in a few ops,
    and an inf or NaN stays in the bins that hold it (an averaging matrix spread 0 * inf = NaN)."""
    size_in = x.shape[dim]
    n, c, h, w = x.shape
    if size_out and size_in % size_out == 0:
        k = size_in // size_out
        if dim == 2:
            return x.reshape(n, c, size_out, k, w).mean(3)
        return x.reshape(n, c, h, size_out, k).mean(4)
    idx, k = _adaptive_window_indices(size_in, size_out)
    weights = np.zeros((size_out, k), dtype=np.float32)
    for i, (start, end) in enumerate(_adaptive_bins(size_in, size_out)):
        weights[i, : end - start] = 1.0 / (end - start)
    taps = index_select(x, dim, _tensor(idx, device=x.device))  # (..., out * k, ...) along dim
    if dim == 2:
        taps, weights = taps.reshape(n, c, size_out, k, w), weights.reshape(size_out, k, 1)
    else:
        taps = taps.reshape(n, c, h, size_out, k)
    wt = _tensor(np.ascontiguousarray(weights), device=x.device)
    return (where(wt > 0, taps, 0.0) * wt).sum(dim + 1)


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Mean over torch's adaptive bins of (N, C, H, W) or (C, H, W) input, giving (..., out_h,
    out_w) for any output size, larger than the input too. Bins may differ in size and overlap
    (7 -> 3: rows 0-2, 2-4, 4-6). ``output_size`` is an int or a pair; None keeps that size.
    Averaging is separable, so H and W are reduced one after the other."""
    x, batched = _pool_input("adaptive_avg_pool2d", input, 2)
    out_h, out_w = _adaptive_output_size("adaptive_avg_pool2d", output_size, x.shape[2], x.shape[3])
    _allocate_output("adaptive_avg_pool2d", x, out_h, out_w)
    # bfloat16 and float16 averaged in float32 and rounded once, as torch's
    out = _adaptive_mean(_adaptive_mean(_float32(x), 2, out_h), 3, out_w)
    if input.dtype in _LOW_FLOATS:
        out = out.to(input.dtype)
    if not batched:
        out = out.squeeze(0)  # the last other reference to the pooled tensor: taken over, not copied
    return out._own_result()  # a new tensor, as torch's, not a view


def _adaptive_window_indices(size_in: int, size_out: int) -> tuple[np.ndarray, int]:
    """(out * k,) indices of each bin's k = widest-bin positions; a narrower bin repeats its last
    index, which changes neither its maximum nor which position holds the first one."""
    bins = _adaptive_bins(size_in, size_out)
    k = builtins.max((end - start for start, end in bins), default=1)
    rows = [[builtins.min(start + j, end - 1) for j in range(k)] for start, end in bins]
    return np.asarray(rows, dtype=np.int64).reshape(size_out * k), k


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):  # noqa: A002
    """Maximum over torch's adaptive bins (see ``adaptive_avg_pool2d``). The gradient goes to the
    first maximum of each bin in row-major order, as torch's CPU kernel chooses; a bin with NaN
    gives NaN. ``return_indices=True`` also returns each maximum's flat index into its (H, W)
    plane (int64, computed on the host)."""
    op = "adaptive_max_pool2d"
    x, batched = _pool_input(op, input, 2)
    n, c, h, w = x.shape
    out_h, out_w = _adaptive_output_size(op, output_size, h, w)
    _allocate_output(op, x, out_h, out_w)
    rows, kh = _adaptive_window_indices(h, out_h)
    cols, kw = _adaptive_window_indices(w, out_w)
    windows = index_select(x, 2, _tensor(rows, dtype="int64", device=x.device))  # (N, C, out_h * kh, W)
    windows = index_select(windows, 3, _tensor(cols, dtype="int64", device=x.device))  # (..., out_w * kw)
    flat = windows.reshape(n, c, out_h, kh, out_w, kw).permute(0, 1, 2, 4, 3, 5).reshape(n, c, out_h, out_w, kh * kw)
    out, j = flat.max(4)
    if not batched:  # the squeeze holds the maxima's last reference: taken over below, not copied
        out = out.squeeze(0)
    out = out._own_result()  # a new tensor, as torch's, not a view
    if not return_indices:
        return out
    j = j.numpy()  # (N, C, out_h, out_w): position in the window
    picked_rows = rows.reshape(out_h, kh)[np.arange(out_h).reshape(out_h, 1), j // kw]
    picked_cols = cols.reshape(out_w, kw)[np.arange(out_w).reshape(1, out_w), j % kw]
    indices = _tensor((picked_rows * w + picked_cols).astype(np.int64), dtype="int64", device=x.device)
    if not batched:
        indices = indices.squeeze(0)
    return out, indices._own_result()


# ---- pixel (un)shuffle: (*, C * r * r, H, W) <-> (*, C, H * r, W * r), torch's channel order


def _factor(op: str, name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{op}: {name} must be positive, got {value}")
    return value


def pixel_shuffle(input, upscale_factor: int):  # noqa: A002
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r), as torch's: channel ``c * r * r + i * r + j``
    becomes the pixel offset (i, j) of channel c (the sub-pixel convolution layout)."""
    op = "pixel_shuffle"
    _check_tensor(op, "input", input)
    r = _factor(op, "upscale_factor", upscale_factor)
    shape = tuple(input.shape)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dimensions (*, C, H, W), got shape {shape}")
    *batch, channels, h, w = shape
    if channels % (r * r):
        raise ValueError(f"{op}: the {channels} channels of input {shape} are not divisible by {r}*{r}")
    b = len(batch)
    x = input.reshape(*batch, channels // (r * r), r, r, h, w)
    x = x.permute(*range(b), b, b + 3, b + 1, b + 4, b + 2)  # (*, C, H, r, W, r)
    # a new tensor, as torch's: the reshape's copy is taken over; where it is a view of input
    # (r = 1, or sizes of 1), a copy
    return x.reshape(*batch, channels // (r * r), h * r, w * r)._own_result()


def pixel_unshuffle(input, downscale_factor: int):  # noqa: A002
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W), the inverse of ``pixel_shuffle``, as torch's."""
    op = "pixel_unshuffle"
    _check_tensor(op, "input", input)
    r = _factor(op, "downscale_factor", downscale_factor)
    shape = tuple(input.shape)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dimensions (*, C, H, W), got shape {shape}")
    *batch, channels, h, w = shape
    if h % r or w % r:
        raise ValueError(f"{op}: the height and width of input {shape} are not divisible by {r}")
    b = len(batch)
    x = input.reshape(*batch, channels, h // r, r, w // r, r)
    x = x.permute(*range(b), b, b + 2, b + 4, b + 1, b + 3)  # (*, C, r, r, H, W)
    return x.reshape(*batch, channels * r * r, h // r, w // r)._own_result()  # as pixel_shuffle's


# ---- channel dropout: one draw per (sample, channel), from the same generator as dropout


def _feature_dropout(op: str, input, p: float, training: bool, generator) -> Tensor:  # noqa: A002
    """input * mask, the mask (N, C, 1, ...) being 0 with probability p and 1 / (1 - p)
    otherwise: ``dropout`` of ones, so the draw is minidiff's (seeded by ``md.manual_seed`` or
    ``generator``) and the gradient is the upstream one times the mask."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    mask_shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    mask = dropout(_tensor(np.ones(mask_shape, dtype=np.float32), device=input.device), p, True, generator=generator)
    return input * mask


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False, *, generator=None):  # noqa: A002
    """Zeroes whole channels of (N, C, H, W) input with probability ``p`` and scales the rest by
    1 / (1 - p) while ``training``, as torch's. A 3D input is taken as (N, C, L), with torch's
    warning (torch's historical behaviour, not (C, H, W)). ``inplace`` is accepted for torch's
    signature; the result is a new tensor."""
    op = "dropout2d"
    _check_tensor(op, "input", input)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected a 4D (N, C, H, W) input, got shape {tuple(input.shape)}")
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: received a {input.ndim}-D input, which torch deprecates; dropout2d expects 3D or 4D input",
            UserWarning,
            stacklevel=2,
        )
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: received a 3D input: as torch, it is taken as (N, C, L) and whole channels are "
            "dropped per sample (use dropout1d for that)",
            UserWarning,
            stacklevel=2,
        )
    return _feature_dropout(op, input, p, training, generator)


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False, *, generator=None):  # noqa: A002
    """Zeroes whole channels of (N, C, L) or (C, L) input with probability ``p`` and scales the
    rest by 1 / (1 - p) while ``training``, as torch's."""
    op = "dropout1d"
    _check_tensor(op, "input", input)
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2D (C, L) or 3D (N, C, L) input, got shape {tuple(input.shape)}")
    if input.ndim == 2:
        return _feature_dropout(op, input.unsqueeze(0), p, training, generator).squeeze(0)
    return _feature_dropout(op, input, p, training, generator)


# ---- instance norm: group_norm with one group per channel normalises each (sample, channel)


def instance_norm(
    input,  # noqa: A002
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """Normalises each channel of each sample of (N, C, *) input over its spatial positions, as
    torch's, then scales by ``weight`` and shifts by ``bias`` (C,). With ``use_input_stats`` the
    statistics are the input's (``group_norm`` with C groups) and given running statistics are
    updated in place by ``momentum`` with the batch's mean of the per-instance means and of the
    unbiased per-instance variances; without it the running statistics normalise."""
    op = "instance_norm"
    _check_tensor(op, "input", input)
    shape = tuple(input.shape)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected an input (N, C, *) with spatial dimensions, got shape {shape}")
    n, c = shape[0], shape[1]
    spatial = math.prod(shape[2:])
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None:
            _check_tensor(op, name, t)
            if tuple(t.shape) != (c,):
                raise ValueError(
                    f"{op}: {name} must have shape ({c},) for input of shape {shape}, got {tuple(t.shape)}"
                )
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: running_mean and running_var must be given when use_input_stats is False")
        view = (1, c) + (1,) * (input.ndim - 2)
        # 16-bit input in float32 (with float32 or 16-bit statistics), rounded once, as torch's
        x, running_mean, running_var = _float32(input), _float32(running_mean), _float32(running_var)
        out = (x - running_mean.reshape(view)) * (running_var.reshape(view) + eps).rsqrt()
        if weight is not None:
            out = out * _float32(weight).reshape(view)
        if bias is not None:
            out = out + _float32(bias).reshape(view)
        return out.to(input.dtype) if input.dtype in _LOW_FLOATS else out
    if spatial <= 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when training, got input of shape {shape}")
    flat = input.reshape(n, c, spatial)
    if running_mean is not None or running_var is not None:
        with _no_grad():
            values = flat.detach()
            mean_nc = values.mean(2, keepdim=True)  # (N, C, 1)
            var_nc = (values - mean_nc).square().sum(2) / float(spatial - 1)  # (N, C), unbiased
            if running_mean is not None:
                running_mean.mul_(1.0 - momentum).add_(mean_nc.reshape(n, c).mean(0), alpha=momentum)
            if running_var is not None:
                running_var.mul_(1.0 - momentum).add_(var_nc.mean(0), alpha=momentum)
    return group_norm(flat, c, weight, bias, eps).reshape(shape)


# ---- convolutions: the native conv2d / conv_transpose2d for dilation 1 and groups 1; other
# dilations and groups composed around them (functional_spatial.py); conv1d is conv2d over (N, C, 1, L)
# and conv_transpose1d is conv_transpose2d over it


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """2-D convolution (cross-correlation) of (N, C, H, W) or (C, H, W) input with a (O, C / groups,
    kh, kw) weight, as torch's; ``padding`` is an int, a pair, "valid" or "same" (stride 1; the odd
    one after). Dilation 1 and groups 1 run the native op as they are; any other dilation or groups
    is composed around it (a stride-1 dim split into dilation phases, a strided one with zeros
    between the kernel's taps, one native conv per group), gradients from the tape."""
    if groups == 1 and (dilation == 1 or dilation == (1, 1)):
        return _conv2d_native(input, weight, bias, stride, padding, dilation, groups)
    return _f_spatial._conv2d_composed(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):  # noqa: A002
    """Transposed 2-D convolution of (N, C, H, W) or (C, H, W) input with a (C, O / groups, kh, kw)
    weight, as torch's: output (H - 1) * stride - 2 * padding + dilation * (kh - 1) +
    output_padding + 1 (output_padding smaller than the stride or the dilation). Dilation 1 and
    groups 1 run the native op as they are; any other dilation or groups is the native op per group
    with the kernel's taps spread apart, then cropped (functional_spatial.py)."""
    if groups == 1 and (dilation == 1 or dilation == (1, 1)):
        return _conv_transpose2d_native(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _f_spatial._conv_transpose2d_composed(input, weight, bias, stride, padding, output_padding, groups, dilation)


def _single(op: str, name: str, value) -> int:
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int or a 1-tuple of ints, got {value!r}")
    return value


def _pad_last(op: str, x: Tensor, left: int, right: int, mode: str) -> Tensor:
    """``x`` (N, C, L) padded along L by ``mode`` ("zeros", "reflect", "replicate" or "circular",
    as torch's Conv padding_mode), with F.pad's rules."""
    if mode == "zeros":
        return _pad_native(x, (left, right)) if left or right else x
    if mode not in _PAD_MODES[1:]:
        raise ValueError(f"{op}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got {mode!r}")
    from .functional_spatial import _pad_nonconstant

    return _pad_nonconstant(op, x, (left, right), mode)


def _conv1d_padding(op: str, padding, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(left, right) padding; 'same' pads dilation * (k - 1) in all, the odd one on the right, as torch."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a 1-tuple, 'valid' or 'same', got {padding!r}")
        if stride != 1:
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
        total = dilation * (kernel - 1)
        return total // 2, total - total // 2
    size = _single(op, "padding", padding)
    if size < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return size, size


def _conv1d(op: str, input, weight, bias, stride, padding, dilation, groups, padding_mode: str):  # noqa: A002
    _check_tensor(op, "input", input)
    _check_tensor(op, "weight", weight)
    d = _single(op, "dilation", dilation)
    if d <= 0:
        raise ValueError(f"{op}: dilation must be positive, got {dilation!r}")
    g = _f_spatial._conv_groups(op, groups)
    shape, w_shape = tuple(input.shape), tuple(weight.shape)
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2D (C, L) or 3D (N, C, L) input, got shape {shape}")
    if weight.ndim != 3 or w_shape[1] * g != shape[-2] or w_shape[0] % g:
        raise ValueError(
            f"{op}: weight {w_shape} does not fit (out_channels, {shape[-2]} / groups, k) with out_channels "
            f"divisible by groups={g}, for input of shape {shape}"
        )
    step = _single(op, "stride", stride)
    if step <= 0:
        raise ValueError(f"{op}: stride must be positive, got {stride!r}")
    left, right = _conv1d_padding(op, padding, w_shape[2], step, d)
    batched = input.ndim == 3
    x = input if batched else input.unsqueeze(0)
    if left + right and (padding_mode != "zeros" or left != right):
        x, left, right = _pad_last(op, x, left, right, padding_mode), 0, 0
    reach = d * (w_shape[2] - 1) + 1
    if x.shape[-1] + 2 * left < reach:
        raise ValueError(
            f"{op}: the kernel of size {w_shape[2]} (dilation {d}: spanning {reach}) is longer than the padded "
            f"input of shape {shape}"
        )
    out = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, step), (0, left), (1, d), g)  # (N, K, 1, Lo)
    out = out.squeeze(2)  # then the conv's result is held by this view alone
    out = out._own_result()  # taken over, not copied: a new tensor, as torch's
    return out if batched else out.squeeze(0)  # unbatched: a view of that, as torch's


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """1-D convolution (cross-correlation) of (N, C, L) or (C, L) input with a (K, C / groups, k)
    weight, as torch's; ``padding`` is an int, a 1-tuple, "valid" or "same" (any kernel size and
    dilation: an odd total pads the extra position on the right, as torch). It is conv2d over a
    (N, C, 1, L) view, with its dilation and groups."""
    return _conv1d("conv1d", input, weight, bias, stride, padding, dilation, groups, "zeros")


def _conv_transpose1d_length(length: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """The output length of a transposed 1-D conv before output_padding (torch's minimum size)."""
    return (length - 1) * stride - 2 * padding + dilation * (kernel - 1) + 1


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):  # noqa: A002
    """Transposed 1-D convolution of (N, C, L) or (C, L) input with a (C, O / groups, k) weight, as
    torch's: output length (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    (output_padding smaller than the stride or the dilation). It is conv_transpose2d over a
    (N, C, 1, L) view with a (C, O / groups, 1, k) weight, with its dilation and groups."""
    op = "conv_transpose1d"
    _check_tensor(op, "input", input)
    _check_tensor(op, "weight", weight)
    g = _f_spatial._conv_groups(op, groups)
    shape, w_shape = tuple(input.shape), tuple(weight.shape)
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2D (C, L) or 3D (N, C, L) input, got shape {shape}")
    c = shape[-2]
    if weight.ndim != 3 or w_shape[0] != c or c % g:
        raise ValueError(
            f"{op}: weight {w_shape} does not fit ({c}, out_channels / groups, k) with {c} input channels "
            f"divisible by groups={g}, for input of shape {shape}"
        )
    out_channels = w_shape[1] * g
    if bias is not None:
        _check_tensor(op, "bias", bias)
        if tuple(bias.shape) != (out_channels,):
            raise ValueError(
                f"{op}: bias must have shape ({out_channels},) for weight {w_shape}, got {tuple(bias.shape)}"
            )
    step, pad = _single(op, "stride", stride), _single(op, "padding", padding)
    extra, d = _single(op, "output_padding", output_padding), _single(op, "dilation", dilation)
    if step <= 0 or d <= 0:
        raise ValueError(f"{op}: stride and dilation must be positive, got stride={stride!r}, dilation={dilation!r}")
    if pad < 0 or extra < 0:
        raise ValueError(
            f"{op}: padding and output_padding must be non-negative, got padding={padding!r}, "
            f"output_padding={output_padding!r}"
        )
    if extra >= max(step, d):
        raise ValueError(
            f"{op}: output_padding must be smaller than either stride or dilation, got output_padding={extra} "
            f"with stride={step} and dilation={d}"
        )
    length = _conv_transpose1d_length(shape[-1], w_shape[2], step, pad, d) + extra
    if shape[-1] < 1 or length < 1:  # torch's "output size is too small"
        raise ValueError(
            f"{op}: input of shape {shape} with weight {w_shape}, stride={step}, padding={pad}, "
            f"output_padding={extra}, dilation={d} gives output length {length}"
        )
    batched = input.ndim == 3
    x = input if batched else input.unsqueeze(0)
    out = conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, step), (0, pad), (0, extra), g, (1, d))
    out = out.squeeze(2)  # (N, O, Lo); then the conv's result is held by this view alone
    out = out._own_result()  # taken over, not copied: a new tensor, as torch's
    return out if batched else out.squeeze(0)  # unbatched: a view of that, as torch's


# More of torch.nn.functional, composed from the ops above (imported last: they use them).
from . import functional_activations as _f_act  # noqa: E402
from . import functional_attention as _f_attn  # noqa: E402
from . import functional_spatial as _f_spatial  # noqa: E402
from .functional_activations import *  # noqa: E402, F403
from .functional_attention import *  # noqa: E402, F403
from .functional_spatial import *  # noqa: E402, F403

__all__ += _f_act.__all__ + _f_attn.__all__ + _f_spatial.__all__
