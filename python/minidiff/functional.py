"""Differentiable functional ops (``md.functional``, alias ``md.F``), PyTorch's signatures.

The ops are native (``minidiff._core.functional``); the few defined below are composed from them.
"""

from ._core.functional import (
    abs,
    add,
    cat,
    clamp,
    conv2d,
    conv_transpose2d,
    cos,
    cumprod,
    cumsum,
    div,
    dropout,
    embedding,
    exp,
    gather,
    gelu,
    group_norm,
    group_norm_silu,
    index_select,
    interpolate,
    layer_norm,
    linear,
    log,
    matmul,
    maximum,
    mean,
    minimum,
    mse_loss,
    mul,
    pad,
    relu,
    scaled_dot_product_attention,
    sigmoid,
    silu,
    sin,
    softmax,
    sqrt,
    stack,
    sub,
    sum,
    tanh,
    where,
)

__all__ = [
    "l1_loss",
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


def l1_loss(input, target, reduction: str = "mean"):  # noqa: A002 (torch's argument name)
    """Mean absolute error, as ``torch.nn.functional.l1_loss`` (the gradient at a zero difference
    is 0). ``reduction`` is "mean", "sum" or "none"."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"l1_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"l1_loss: input of shape {tuple(input.shape)} and target of shape {tuple(target.shape)} differ"
        )
    diff = abs(sub(input, target))
    if reduction == "none":
        return diff
    return sum(diff) if reduction == "sum" else mean(diff)
