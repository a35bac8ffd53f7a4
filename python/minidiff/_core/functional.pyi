"""
differentiable ops
"""

from __future__ import annotations

import collections.abc
import typing

import minidiff._core

__all__: list[str] = [
    "abs",
    "acos",
    "acosh",
    "add",
    "amax",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "cat",
    "clamp",
    "conv2d",
    "conv_transpose2d",
    "cos",
    "cosh",
    "cumprod",
    "cumsum",
    "div",
    "dropout",
    "embedding",
    "erf",
    "erfc",
    "erfinv",
    "exp",
    "exp2",
    "expm1",
    "gather",
    "gelu",
    "group_norm",
    "group_norm_silu",
    "index_select",
    "interpolate",
    "layer_norm",
    "linear",
    "log",
    "log10",
    "log1p",
    "log2",
    "matmul",
    "maximum",
    "mean",
    "minimum",
    "mse_loss",
    "mul",
    "pad",
    "reciprocal",
    "relu",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "sin",
    "sinh",
    "softmax",
    "sqrt",
    "stack",
    "sub",
    "sum",
    "tan",
    "tanh",
    "where",
]

def _pad_by_mode(
    input: minidiff._core.Tensor,
    pad: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex],
    mode: str,
    op: str = "pad",
) -> minidiff._core.Tensor:
    """
    pad() by 'reflect', 'replicate' or 'circular', errors naming op (F.pad, padding layers, conv padding_mode).
    """

def abs(arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def acos(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def acosh(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def add(arg0: minidiff._core.Tensor, arg1: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def amax(input: minidiff._core.Tensor, dim: typing.Any = None, keepdim: bool = False) -> minidiff._core.Tensor:
    """
    The largest values over dim (all dims when None or empty); ties share the gradient evenly, as torch's
    """

def asin(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def asinh(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def atan(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def atanh(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def cat(
    tensors: collections.abc.Sequence[minidiff._core.Tensor], dim: typing.SupportsInt | typing.SupportsIndex = 0
) -> minidiff._core.Tensor: ...
def clamp(input: minidiff._core.Tensor, min: typing.Any = None, max: typing.Any = None) -> minidiff._core.Tensor: ...
def conv2d(
    input: minidiff._core.Tensor,
    weight: minidiff._core.Tensor,
    bias: typing.Any = None,
    stride: typing.Any = 1,
    padding: typing.Any = 0,
    dilation: typing.Any = 1,
    groups: typing.SupportsInt | typing.SupportsIndex = 1,
) -> minidiff._core.Tensor: ...
def conv_transpose2d(
    input: minidiff._core.Tensor,
    weight: minidiff._core.Tensor,
    bias: typing.Any = None,
    stride: typing.Any = 1,
    padding: typing.Any = 0,
    output_padding: typing.Any = 0,
    groups: typing.SupportsInt | typing.SupportsIndex = 1,
    dilation: typing.Any = 1,
) -> minidiff._core.Tensor: ...
def cos(arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def cosh(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def cumprod(input: minidiff._core.Tensor, dim: typing.SupportsInt | typing.SupportsIndex) -> minidiff._core.Tensor: ...
def cumsum(input: minidiff._core.Tensor, dim: typing.SupportsInt | typing.SupportsIndex) -> minidiff._core.Tensor: ...
def div(arg0: minidiff._core.Tensor, arg1: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def dropout(
    input: minidiff._core.Tensor,
    p: typing.SupportsFloat | typing.SupportsIndex = 0.5,
    training: bool = True,
    *,
    generator: typing.Any = None,
) -> minidiff._core.Tensor: ...
def embedding(
    input: minidiff._core.Tensor,
    weight: minidiff._core.Tensor,
    padding_idx: typing.SupportsInt | typing.SupportsIndex = -1,
    scale_grad_by_freq: bool = False,
) -> minidiff._core.Tensor: ...
def erf(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def erfc(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def erfinv(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def exp(arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def exp2(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def expm1(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def gather(
    input: minidiff._core.Tensor, dim: typing.SupportsInt | typing.SupportsIndex, index: minidiff._core.Tensor
) -> minidiff._core.Tensor: ...
def gelu(input: minidiff._core.Tensor, approximate: str = "none") -> minidiff._core.Tensor: ...
def group_norm(
    input: minidiff._core.Tensor,
    num_groups: typing.SupportsInt | typing.SupportsIndex,
    weight: typing.Any = None,
    bias: typing.Any = None,
    eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05,
) -> minidiff._core.Tensor: ...
def group_norm_silu(
    input: minidiff._core.Tensor,
    num_groups: typing.SupportsInt | typing.SupportsIndex,
    weight: typing.Any = None,
    bias: typing.Any = None,
    eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05,
) -> minidiff._core.Tensor:
    """
    silu(group_norm(x)) in one pass
    """

def index_select(
    input: minidiff._core.Tensor, dim: typing.SupportsInt | typing.SupportsIndex, index: minidiff._core.Tensor
) -> minidiff._core.Tensor: ...
def interpolate(
    input: minidiff._core.Tensor, size: typing.Any = None, scale_factor: typing.Any = None, mode: str = "nearest"
) -> minidiff._core.Tensor: ...
def layer_norm(
    input: minidiff._core.Tensor,
    normalized_shape: typing.Any,
    weight: typing.Any = None,
    bias: typing.Any = None,
    eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05,
) -> minidiff._core.Tensor: ...
def linear(
    input: minidiff._core.Tensor, weight: minidiff._core.Tensor, bias: typing.Any = None
) -> minidiff._core.Tensor: ...
def log(arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def log10(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def log1p(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def log2(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def matmul(arg0: minidiff._core.Tensor, arg1: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def maximum(input: minidiff._core.Tensor, other: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def mean(input: minidiff._core.Tensor, dim: typing.Any = None, keepdim: bool = False) -> minidiff._core.Tensor: ...
def minimum(input: minidiff._core.Tensor, other: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def mse_loss(
    input: minidiff._core.Tensor, target: minidiff._core.Tensor, reduction: str = "mean"
) -> minidiff._core.Tensor: ...
def mul(arg0: minidiff._core.Tensor, arg1: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def pad(
    input: minidiff._core.Tensor,
    pad: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex],
    mode: str = "constant",
    value: typing.SupportsFloat | typing.SupportsIndex = 0.0,
) -> minidiff._core.Tensor: ...
def reciprocal(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def relu(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def scaled_dot_product_attention(
    query: minidiff._core.Tensor, key: minidiff._core.Tensor, value: minidiff._core.Tensor, *, scale: typing.Any = None
) -> minidiff._core.Tensor: ...
def sigmoid(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def silu(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def sin(arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def sinh(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def softmax(input: minidiff._core.Tensor, dim: typing.SupportsInt | typing.SupportsIndex) -> minidiff._core.Tensor: ...
def sqrt(arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def stack(
    tensors: collections.abc.Sequence[minidiff._core.Tensor], dim: typing.SupportsInt | typing.SupportsIndex = 0
) -> minidiff._core.Tensor: ...
def sub(arg0: minidiff._core.Tensor, arg1: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def sum(input: minidiff._core.Tensor, dim: typing.Any = None, keepdim: bool = False) -> minidiff._core.Tensor: ...
def tan(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def tanh(input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
def where(condition: typing.Any, input: typing.Any, other: typing.Any) -> minidiff._core.Tensor: ...
