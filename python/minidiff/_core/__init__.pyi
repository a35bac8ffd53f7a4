"""
minidiff native core: tensors, ops, tape autograd, layers and optimisers
"""

from __future__ import annotations

import collections.abc
import typing

from . import functional, nn, optim

__all__: list[str] = [
    "AccumulateGrad",
    "Device",
    "Generator",
    "Node",
    "RemovableHandle",
    "Tensor",
    "arange",
    "build_info",
    "cpu_empty_cache",
    "cpu_memory_stats",
    "cpu_reset_peak_memory_stats",
    "cpu_winograd_tile",
    "cuda_built",
    "cuda_conv_layout",
    "cuda_device_count",
    "cuda_device_name",
    "cuda_empty_cache",
    "cuda_memory_stats",
    "cuda_reset_peak_memory_stats",
    "cuda_set_workspace_budget",
    "cuda_synchronize",
    "default_generator",
    "empty",
    "full",
    "functional",
    "get_default_device",
    "get_num_threads",
    "is_grad_enabled",
    "manual_seed",
    "matmul_bf16",
    "nn",
    "ones",
    "ones_like",
    "optim",
    "profiler_enable",
    "profiler_reset",
    "profiler_snapshot",
    "rand",
    "randint",
    "randn",
    "randn_like",
    "set_allow_tf32",
    "set_cpu_winograd_tile",
    "set_cuda_conv_layout",
    "set_default_device",
    "set_grad_enabled",
    "set_matmul_bf16",
    "set_num_threads",
    "tensor",
    "zeros",
    "zeros_like",
]

class Device:
    def __enter__(self) -> Device: ...
    def __eq__(self, arg0: typing.Any) -> bool: ...
    def __exit__(self, *args) -> None: ...
    def __hash__(self) -> int: ...
    def __init__(self, device: str) -> None: ...
    def __repr__(self) -> str: ...
    def __str__(self) -> str: ...
    @property
    def index(self) -> typing.Any: ...
    @property
    def type(self) -> str: ...

class Generator:
    def __init__(self, seed: typing.Any = 0, device: typing.Any = None) -> None: ...
    def get_state(self) -> tuple[int, int]: ...
    def initial_seed(self) -> int: ...
    def manual_seed(self, seed: typing.Any) -> Generator: ...
    def set_state(self, arg0: tuple) -> None: ...
    @property
    def device(self) -> Device: ...

class Node:
    """
    Tensor.grad_fn: the backward node of the op that made a tensor (torch's torch.autograd.graph.Node)
    """
    def __repr__(self) -> str: ...
    def name(self) -> str: ...
    @property
    def next_functions(self) -> tuple: ...

class AccumulateGrad:
    """
    The node of Node.next_functions that accumulates a leaf's .grad
    """
    def __repr__(self) -> str: ...
    def name(self) -> str: ...
    @property
    def next_functions(self) -> tuple: ...
    @property
    def variable(self) -> ...: ...

class RemovableHandle:
    """
    What register_hook and the module hooks return: remove() takes the hook off
    """
    def __enter__(self) -> typing.Any: ...
    def __exit__(self, *args) -> None: ...
    def remove(self) -> None: ...
    @property
    def id(self) -> int: ...

class Tensor:
    __array_priority__: typing.ClassVar[int] = 1000
    grad: typing.Any
    requires_grad: bool
    @staticmethod
    def __and__(input, other) -> Tensor:
        """
        ``input & other``: of two masks (bool tensors, as comparisons give, or Python bools) the
            bool mask where both are true; of integer tensors (and ints) the bitwise and in torch's result
            dtype, exact, computed on the host with NumPy (integer tensors never require grad). A float
            tensor is a TypeError, as torch refuses floats.
        """
    def __floordiv__(self, other) -> Tensor:
        """
        ``a // b``: the quotient rounded down (torch's semantics since 1.13), exact: computed on the
            host from the remainder, as torch does. Its gradient is zero for both operands (torch's
            backward raises).
        """
    def __invert__(self) -> Tensor:
        """
        ``~input``: a bool mask's complement, or an integer tensor's bitwise not, ``-x - 1`` (exact,
            wrapping in its dtype as torch's). A float tensor is a TypeError.
        """
    @staticmethod
    def __lshift__(input, other) -> Tensor:
        """
        ``input << other`` of integers (and bools, as 0/1 int64), in torch's result dtype: wrapped,
            and 0 where the shift is negative or not less than the dtype's width, as torch's.
        """
    def __mod__(self, other) -> Tensor:
        """
        ``a % b`` with the sign of b (Python's and torch's ``remainder``), exact. Its gradient is 1
            for a and ``-(a // b)`` for b, as torch's.
        """
    @staticmethod
    def __or__(input, other) -> Tensor:
        """
        ``input | other``: masks give the bool mask where either is true; integers the bitwise or
            (see ``bitwise_and``).
        """
    @staticmethod
    def __rshift__(input, other) -> Tensor:
        """
        ``input >> other``, arithmetic (the sign fills in), in torch's result dtype; a shift that is
            negative or not less than the dtype's width gives -1 for a negative input and 0 otherwise, as torch's.
        """
    @staticmethod
    def __xor__(input, other) -> Tensor:
        """
        ``input ^ other``: masks give the bool mask where exactly one is true; integers the bitwise
            exclusive or (see ``bitwise_and``).
        """
    @staticmethod
    def absolute(*args, **kwargs):
        """
        abs(self: minidiff._core.Tensor) -> minidiff._core.Tensor
        """
    @staticmethod
    def addbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
        """
        ``beta * input + alpha * sum_b(batch1[b] @ batch2[b])``.
        """
    @staticmethod
    def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:
        """
        ``input + value * tensor1 / tensor2`` (Adam's step).
        """
    @staticmethod
    def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:
        """
        ``input + value * tensor1 * tensor2`` (the optimizers' update).
        """
    @staticmethod
    def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:
        """
        ``beta * input + alpha * (mat1 @ mat2)``.
        """
    @staticmethod
    def addmv(input, mat, vec, *, beta=1, alpha=1) -> Tensor:
        """
        ``beta * input + alpha * (mat @ vec)``.
        """
    def all(self, dim=None, keepdim: bool = False) -> Tensor:
        """
        A bool mask: true where every element is nonzero (NaN counts as nonzero, as in torch; uint8
            0/1 for a uint8 input).
        """
    def allclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool: ...
    def amax(self, dim=tuple(), keepdim: bool = False) -> Tensor:
        """
        The largest values over ``dim`` (an int or several; all dims when empty); tied maxima
            share the gradient evenly, as torch's.
        """
    def amin(self, dim=tuple(), keepdim: bool = False) -> Tensor: ...
    @staticmethod
    def aminmax(input, *, dim=None, keepdim: bool = False) -> tuple:
        """
        (min, max) over ``dim`` (all elements by default).
        """
    def any(self, dim=None, keepdim: bool = False) -> Tensor:
        """
        A bool mask: true where some element is nonzero (uint8 0/1 for a uint8 input, as torch's).
            With ``dim`` None and ``keepdim`` every dim stays, of size 1, as torch's.
        """
    @staticmethod
    def arccos(*args, **kwargs):
        """
        acos(self: minidiff._core.Tensor) -> minidiff._core.Tensor
        """
    @staticmethod
    def arccosh(*args, **kwargs):
        """
        acosh(self: minidiff._core.Tensor) -> minidiff._core.Tensor
        """
    @staticmethod
    def arcsin(*args, **kwargs):
        """
        asin(self: minidiff._core.Tensor) -> minidiff._core.Tensor
        """
    @staticmethod
    def arcsinh(*args, **kwargs):
        """
        asinh(self: minidiff._core.Tensor) -> minidiff._core.Tensor
        """
    @staticmethod
    def arctan(*args, **kwargs):
        """
        atan(self: minidiff._core.Tensor) -> minidiff._core.Tensor
        """
    @staticmethod
    def arctan2(input, other) -> Tensor:
        """
        The angle of the point (other, input) in [-pi, pi], with the signs of zeros and infinities
            read as C's atan2. Gradients: ``other / r^2`` and ``-input / r^2``, 0 at the origin, as torch's.
            Where one operand is infinite (or NaN) torch's gradient for the other is NaN (inf * 0); these
            are 0 (a deliberate difference).
        """
    @staticmethod
    def arctanh(*args, **kwargs):
        """
        atanh(self: minidiff._core.Tensor) -> minidiff._core.Tensor
        """
    def argmax(self, dim=None, keepdim: bool = False) -> Tensor:
        """
        Index of the largest element (of the flattened tensor when ``dim`` is None); ties give the
            first, as in torch.
        """
    def argmin(self, dim=None, keepdim: bool = False) -> Tensor: ...
    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor: ...
    def argwhere(self) -> Tensor:
        """
        The (n, ndim) int64 indices of the non-zero elements, as ``nonzero(input)``.
        """
    @staticmethod
    def atan2(input, other) -> Tensor:
        """
        The angle of the point (other, input) in [-pi, pi], with the signs of zeros and infinities
            read as C's atan2. Gradients: ``other / r^2`` and ``-input / r^2``, 0 at the origin, as torch's.
            Where one operand is infinite (or NaN) torch's gradient for the other is NaN (inf * 0); these
            are 0 (a deliberate difference).
        """
    @staticmethod
    def baddbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
        """
        ``beta * input + alpha * bmm(batch1, batch2)`` (attention scores with a bias).
        """
    def bernoulli(self, p=None, *, generator=None) -> Tensor:
        """
        0/1 samples of input's shape and dtype: 1 with probability input's element (or ``p``, a
            number, when given). Its gradient is zero, as torch's.
        """
    def bincount(self, weights=None, minlength: int = 0) -> Tensor:
        """
        The number of times each value occurs in the 1-D non-negative int64 input (length
            ``max(input) + 1``, at least ``minlength``); with ``weights`` (1-D, input's length) their sums
            instead, float32 and differentiable in weights (torch's is not).
        """
    @staticmethod
    def bitwise_and(input, other) -> Tensor:
        """
        ``input & other``: of two masks (bool tensors, as comparisons give, or Python bools) the
            bool mask where both are true; of integer tensors (and ints) the bitwise and in torch's result
            dtype, exact, computed on the host with NumPy (integer tensors never require grad). A float
            tensor is a TypeError, as torch refuses floats.
        """
    @staticmethod
    def bitwise_left_shift(input, other) -> Tensor:
        """
        ``input << other`` of integers (and bools, as 0/1 int64), in torch's result dtype: wrapped,
            and 0 where the shift is negative or not less than the dtype's width, as torch's.
        """
    def bitwise_not(self) -> Tensor:
        """
        ``~input``: a bool mask's complement, or an integer tensor's bitwise not, ``-x - 1`` (exact,
            wrapping in its dtype as torch's). A float tensor is a TypeError.
        """
    @staticmethod
    def bitwise_or(input, other) -> Tensor:
        """
        ``input | other``: masks give the bool mask where either is true; integers the bitwise or
            (see ``bitwise_and``).
        """
    @staticmethod
    def bitwise_right_shift(input, other) -> Tensor:
        """
        ``input >> other``, arithmetic (the sign fills in), in torch's result dtype; a shift that is
            negative or not less than the dtype's width gives -1 for a negative input and 0 otherwise, as torch's.
        """
    @staticmethod
    def bitwise_xor(input, other) -> Tensor:
        """
        ``input ^ other``: masks give the bool mask where exactly one is true; integers the bitwise
            exclusive or (see ``bitwise_and``).
        """
    def bmm(self, mat2: Tensor) -> Tensor:
        """
        The batched product of (B, N, M) and (B, M, P) tensors, (B, N, P), as torch's: both are 3-D
            with one batch size (no broadcasting: ``matmul`` broadcasts).
        """
    @staticmethod
    def broadcast_to(input, size) -> Tensor:
        """
        input expanded to ``size`` (-1 keeps a dim), a view, as ``expand``.
        """
    def ceil(self) -> Tensor: ...
    def clamp(self, min=None, max=None) -> Tensor:
        """
        ``input`` limited to [min, max] (numbers or tensors that broadcast with it; either may be
            None), as torch's; a finite number bound past a float input's largest value is a ValueError,
            as torch refuses it (``clamp(max=1e5)`` of a float16 tensor).
        """
    @staticmethod
    def clamp_max(input, max) -> Tensor: ...
    @staticmethod
    def clamp_min(input, min) -> Tensor: ...
    @staticmethod
    def copysign(input, other) -> Tensor:
        """
        ``|input|`` with the sign of other (-0.0 counts as negative). Gradient: the ratio of the
            result to input (0 where input is 0) for input, 0 for other, as torch's.
        """
    @staticmethod
    def count_nonzero(input, dim=None) -> Tensor:
        """
        The number of non-zero elements over ``dim`` (all by default), int64.
        """
    @staticmethod
    def cross(input, other, dim=None) -> Tensor:
        """
        The cross product of the 3-vectors along ``dim`` (the other dims broadcast; both tensors have
            the same number of dims). Without dim: the first dim of input of size 3, as torch.cross (which
            warns that this default is deprecated; ``torch.linalg.cross`` uses -1).
        """
    @staticmethod
    def cummax(input, dim: int):
        """
        (values, indices): the running maximum along dim and where each came from.
        """
    @staticmethod
    def cummin(input, dim: int):
        """
        (values, indices): the running minimum along dim and where each came from.
        """
    @staticmethod
    def deg2rad(input) -> Tensor: ...
    def diag(self, diagonal: int = 0) -> Tensor:
        """
        A 1-D tensor's diagonal matrix, or a 2-D tensor's diagonal (``diagonal`` above the main).
        """
    @staticmethod
    def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        """
        Matrices (in dims dim1, dim2 of the result, which has one dim more) whose ``offset``
            diagonal holds input's last dim, zeros elsewhere.
        """
    @staticmethod
    def diagonal(input, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """
        The diagonal ``offset`` above the main one of the (dim1, dim2) planes, as the last dim: a
            view, as torch's.
        """
    def diff(self, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
        """
        The n-th forward difference along dim (after ``prepend`` and ``append``), as torch's; of
            bools, the ``!=`` of neighbours (torch's logical_xor).
        """
    @staticmethod
    def dist(input, other, p=2) -> Tensor:
        """
        The p-norm of ``input - other`` (broadcast): 0-d, for any p (0, inf and -inf included),
            as ``norm``.
        """
    @staticmethod
    def divide(input, other, *, rounding_mode=None) -> Tensor:
        """
        ``input / other``; ``rounding_mode="trunc"`` rounds the quotient toward zero, ``"floor"``
            down (both exact, computed on the host as ``md.floor_divide``; int64 operands then stay int64,
            and their gradient is zero, as torch's).
        """
    @staticmethod
    def dot(input, tensor) -> Tensor:
        """
        The inner product of two 1-D tensors of one length.
        """
    @staticmethod
    def dsplit(input, indices_or_sections=None, *, sections=None, indices=None) -> tuple:
        """
        ``tensor_split`` along dim 2 of a tensor of 3 or more dims; an int must divide it evenly.
        """
    def equal(self, other: Tensor) -> bool:
        """
        True when both have the same shape and the same values (NaN equals nothing), as torch's.
        """
    def fix(self) -> Tensor: ...
    def flip(self, *args, dims=None) -> Tensor:
        """
        The elements in reverse order along each of ``dims`` (a sequence, or ints: ``t.flip(0, 1)``
            as torch's method takes them).
        """
    @staticmethod
    def fliplr(input) -> Tensor: ...
    @staticmethod
    def flipud(input) -> Tensor: ...
    @staticmethod
    def float_power(input, exponent) -> Tensor:
        """
        ``input ** exponent``, in float32 (torch computes in float64; minidiff has no float64), for
            bfloat16 and float16 operands too.
        """
    def floor(self) -> Tensor: ...
    def floor_divide(self, other) -> Tensor:
        """
        ``a // b``: the quotient rounded down (torch's semantics since 1.13), exact: computed on the
            host from the remainder, as torch does. Its gradient is zero for both operands (torch's
            backward raises).
        """
    def fmod(self, other) -> Tensor:
        """
        The remainder with the sign of a (C's fmod), exact. Its gradient is 1 for a and
            ``-trunc(a / b)`` for b, as torch's.
        """
    def frac(self) -> Tensor: ...
    def gcd(self, other: Tensor) -> Tensor:
        """
        The greatest common divisor of integer tensors, elementwise (``gcd(0, 0)`` is 0; the result
            is not negative but where it wraps: int8's ``gcd(-128, 0)``), in torch's result dtype.
        """
    def ger(self, vec2: Tensor) -> Tensor: ...
    @staticmethod
    def heaviside(input, values) -> Tensor:
        """
        0 for negative input, 1 for positive, ``values`` at 0 (a tensor, as torch requires); zero
            gradient.
        """
    @staticmethod
    def histc(input, bins: int = 100, min=0, max=0) -> Tensor:
        """
        Counts of the elements in ``bins`` equal-width bins over [min, max] (the data's range when
            both are 0; elements outside are not counted), of input's float dtype, no gradient. 16-bit
            counts are the exact ones rounded (torch's counts in bfloat16 stop growing at 256).
        """
    def histogram(self, bins=100, *, range=None, weight=None, density: bool = False):
        """
        (hist, bin_edges): counts (or summed ``weight``) of input's elements in the bins, ``bins``
            equal ones over ``range`` (the data's range by default) or the given increasing edges; the last
            bin includes its right edge, as torch's.
        """
    @staticmethod
    def hsplit(input, indices_or_sections=None, *, sections=None, indices=None) -> tuple:
        """
        ``tensor_split`` along dim 1 (dim 0 of a 1-D tensor); an int must divide that dim evenly.
        """
    @staticmethod
    def hypot(input, other) -> Tensor:
        """
        ``sqrt(input^2 + other^2)`` without overflow (scaled by the larger magnitude); inf when
            either is infinite, NaN included, as C's hypot.
        """
    def index_add(self, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
        """
        ``out.select(dim, index[i]) += alpha * source.select(dim, i)``, repeats accumulating.
        """
    def index_copy(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
        """
        self with ``source.select(dim, i)`` written at ``index[i]`` along dim (last write wins; each
            source slice gets the gradient at its destination, overwritten or not, as torch's).
        """
    def index_fill(self, dim: int, index: Tensor, value) -> Tensor:
        """
        self with ``value`` (a number or a 0-d tensor, which gets the gradient) in the slices
            ``index`` selects along dim (negative indices count from the end, as torch's).
        """
    @staticmethod
    def index_put(input, indices, values, accumulate: bool = False) -> Tensor:
        """
        input with ``values`` written (added, with ``accumulate``) at ``input[indices]``: a tuple of
            int64 index tensors (broadcast together) or bool masks for the leading dims; values
            broadcast to the indexed shape and have input's dtype. Repeated positions: the last write wins
            (accumulate adds them all), and every value gets the gradient at its position, as torch's.
        """
    def index_reduce(self, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True):
        """
        The slices of self at ``index`` along dim reduced ("prod", "mean", "amax", "amin") with those
            of source, as ``scatter_reduce`` does elementwise.
        """
    @staticmethod
    def inner(input, other) -> Tensor:
        """
        The sum of products over the last dims (a product when either is 0-d).
        """
    @staticmethod
    def is_complex(input) -> bool:
        """
        False: minidiff has no complex dtypes.
        """
    @staticmethod
    def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
        """
        A bool mask: ``|input - other| <= atol + rtol * |other|``, or equal (infinities), or both
            NaN with ``equal_nan``.
        """
    def isfinite(self) -> Tensor: ...
    @staticmethod
    def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
        """
        A bool mask of ``elements``' shape: true where the element is among ``test_elements`` (a
            tensor or a number), as torch's; computed on the host.
        """
    def isinf(self) -> Tensor: ...
    def isnan(self) -> Tensor:
        """
        A bool mask: true where input is NaN.
        """
    @staticmethod
    def isneginf(input) -> Tensor:
        """
        A bool mask, true where input is -inf.
        """
    @staticmethod
    def isposinf(input) -> Tensor:
        """
        A bool mask, true where input is +inf.
        """
    @staticmethod
    def isreal(input) -> Tensor:
        """
        A bool mask of trues (every minidiff dtype is real).
        """
    @staticmethod
    def kron(input, other) -> Tensor:
        """
        The Kronecker product: dims paired from the right (the shorter padded with 1s), sizes
            multiplied.
        """
    @staticmethod
    def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):
        """
        (values, indices): the k-th smallest element of each slice along dim (k from 1; NaN counts as
            the largest) and its position. Among equal values the position is that of a stable sort; torch's
            quickselect may pick another of the equal elements.
        """
    def lcm(self, other: Tensor) -> Tensor:
        """
        The least common multiple of integer tensors, elementwise (0 where either is 0), computed as
            torch's: ``abs(a / gcd * b)`` with the product wrapped in the result dtype.
        """
    @staticmethod
    def ldexp(input, other) -> Tensor:
        """
        ``input * 2 ** other`` (a float result).
        """
    def lerp(self, end, weight) -> Tensor:
        """
        ``input + weight * (end - input)``, computed from the nearer end as torch does, so weight 1
            gives ``end`` exactly. A bfloat16 or float16 input is computed in float32 and rounded once, as
            torch's kernel; as torch, ``end`` (and a ``weight`` with dims) must then have its dtype.
        """
    @staticmethod
    def logaddexp(input, other) -> Tensor:
        """
        ``log(exp(input) + exp(other))`` without overflow.
        """
    @staticmethod
    def logaddexp2(input, other) -> Tensor:
        """
        ``log2(2^input + 2^other)`` without overflow.
        """
    @staticmethod
    def logcumsumexp(input, dim: int) -> Tensor:
        """
        ``log(cumsum(exp(x)))`` along dim without overflow or underflow: a log-space scan of
            ``logaddexp`` (log2(n) steps, each over the whole tensor).
        """
    def logical_and(self, other) -> Tensor:
        """
        A float32 mask (there is no bool dtype): 1 where both are nonzero (NaN counts as nonzero),
            as torch's; any dtypes, broadcast together.
        """
    def logical_not(self) -> Tensor:
        """
        A float32 mask: 1 where input is zero (NaN counts as nonzero, so gives 0).
        """
    def logical_or(self, other) -> Tensor:
        """
        A float32 mask: 1 where either is nonzero.
        """
    def logical_xor(self, other) -> Tensor:
        """
        A float32 mask: 1 where exactly one is nonzero.
        """
    @staticmethod
    def logit(input, eps=None) -> Tensor:
        """
        ``log(p / (1 - p))``; with ``eps``, p clamped to [eps, 1 - eps] first (zero gradient
            outside, as torch's; eps must fit a float input's dtype). Without eps the gradient
            ``1 / (p (1 - p))`` is NaN outside [0, 1] and infinite at 0 and 1, as torch's.
        """
    def logsumexp(self, dim, keepdim: bool = False) -> Tensor:
        """
        ``log(sum(exp(x), dim))`` without overflow: the largest value is taken out first.
        """
    def masked_fill(self, mask, value) -> Tensor:
        """
        ``value`` where ``mask`` is true (nonzero), else ``input``; the mask broadcasts with the
            input and a tensor value is 0-d, as torch's.
        """
    def masked_scatter(self, mask, source: Tensor) -> Tensor:
        """
        input with the elements where mask is true replaced, in order, by source's first elements.
        """
    def masked_select(self, mask) -> Tensor:
        """
        The elements of input where mask is true (the two broadcast together), as a 1-D tensor.
        """
    @staticmethod
    def median(input, dim=None, keepdim: bool = False):
        """
        Without dim: the lower median of all elements (NaN if any is NaN). With dim: (values,
            indices), the lower median of each slice and its position (a NaN and its position where the
            slice has one).
        """
    def min(self, dim=None, keepdim: bool = False, *, other=None):
        """
        ``min(t)``: the smallest element; ``min(t, dim)``: (values, indices) as ``max``;
            ``min(t, other)``: the elementwise minimum.
        """
    def mm(self, mat2: Tensor) -> Tensor:
        """
        The product of (N, M) and (M, P) matrices, as torch's: both are 2-D (``matmul`` takes any).
        """
    @staticmethod
    def mode(input, dim: int = -1, keepdim: bool = False):
        """
        (values, indices): the most frequent value of each slice along dim (the smallest of those
            tied), and its last position, as torch's CPU kernel gives for short slices (for slices longer
            than 16, torch's index is that of any of the equal elements; its value is the same). NaNs count
            as equal to each other here (torch's result for NaN depends on its sort).
        """
    def moveaxis(self, source, destination) -> Tensor:
        """
        ``input`` with its dims ``source`` (an int or a sequence) at the positions ``destination``,
            the other dims keeping their order, as torch's (a view: a permute).
        """
    def movedim(self, source, destination) -> Tensor:
        """
        ``input`` with its dims ``source`` (an int or a sequence) at the positions ``destination``,
            the other dims keeping their order, as torch's (a view: a permute).
        """
    @staticmethod
    def msort(input) -> Tensor:
        """
        The values sorted along dim 0 (``sort(input, dim=0).values``).
        """
    def multinomial(self, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
        """
        ``num_samples`` category indices (int64) drawn per row of the non-negative weights input (1-D
            or 2-D, rows need not sum to 1), with or without replacement, as torch's.
        """
    @staticmethod
    def multiply(input, other) -> Tensor: ...
    @staticmethod
    def mv(input, vec) -> Tensor:
        """
        The product of an (N, M) matrix and an (M,) vector, (N,).
        """
    @staticmethod
    def nan_to_num(input, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
        """
        NaN, inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default 0 and the
            largest and smallest finite value of input's dtype); zero gradient where replaced, as torch's.
        """
    @staticmethod
    def nanmean(input, dim=None, keepdim: bool = False) -> Tensor:
        """
        The mean over ``dim`` of the elements that are not NaN (NaN when there are none).
        """
    @staticmethod
    def nanmedian(input, dim=None, keepdim: bool = False):
        """
        ``median`` of the elements that are not NaN (NaN for a slice of NaN only).
        """
    @staticmethod
    def nanquantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
        """
        ``quantile`` of the elements that are not NaN (NaN for a slice of NaN only).
        """
    @staticmethod
    def nansum(input, dim=None, keepdim: bool = False) -> Tensor:
        """
        The sum over ``dim`` with NaN read as 0 (their gradient is 0).
        """
    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        """
        The ``length`` elements of ``dim`` from ``start`` (negative counts from the end; an int or a
            one-element int64 tensor), a view, as torch's: a range past the end of the dim raises.
        """
    @staticmethod
    def narrow_copy(input, dim: int, start: int, length: int) -> Tensor:
        """
        ``narrow`` as a new contiguous tensor (not a view).
        """
    @staticmethod
    def negative(input) -> Tensor: ...
    def nonzero(self, *, as_tuple: bool = False):
        """
        Indices of the non-zero elements: (n, ndim) int64, or one int64 tensor per dim.
        """
    def norm(self, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
        """
        The vector p-norm over ``dim`` (all elements by default): p = 2 / "fro", 1, inf, -inf, 0
            (the count of non-zeros) or any other number.
        """
    def outer(self, vec2: Tensor) -> Tensor: ...
    @staticmethod
    def positive(input) -> Tensor:
        """
        input itself, as torch's (which refuses a bool tensor).
        """
    def prod(self, dim=None, keepdim: bool = False) -> Tensor:
        """
        Product over ``dim`` (of all elements when None); its gradient is exact with zeros in the
            input (it is the last running product of ``cumprod``).
        """
    def put(self, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
        """
        input (as if flattened) with ``source``'s elements written (or added, with ``accumulate``)
            at ``index`` (negative counts from the end).
        """
    @staticmethod
    def quantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
        """
        The q-th quantiles over ``dim`` (all elements by default); q a float or a 1-D tensor (its
            dim comes first in the result). A slice with a NaN gives NaN.
        """
    @staticmethod
    def rad2deg(input) -> Tensor: ...
    @staticmethod
    def ravel(input) -> Tensor: ...
    def remainder(self, other) -> Tensor:
        """
        ``a % b`` with the sign of b (Python's and torch's ``remainder``), exact. Its gradient is 1
            for a and ``-(a // b)`` for b, as torch's.
        """
    @staticmethod
    def renorm(input, p, dim: int, maxnorm) -> Tensor:
        """
        Each slice along ``dim`` whose p-norm (over the other dims) exceeds ``maxnorm`` scaled to
            that norm (``maxnorm / (norm + 1e-7)``), the others unchanged; the gradient includes the
            norm's, as torch's.
        """
    def repeat(self, *sizes) -> Tensor:
        """
        Tiles the tensor ``sizes[i]`` times along each dim, as torch's ``repeat``.
        """
    def repeat_interleave(self, repeats, dim=None) -> Tensor: ...
    def roll(self, shifts, dims=None) -> Tensor:
        """
        The elements shifted by ``shifts`` along ``dims`` (ints or sequences of one length; a dim may
            repeat), wrapping around; without ``dims`` over the flattened tensor, as torch's.
        """
    @staticmethod
    def rot90(input, k: int = 1, dims=(0, 1)) -> Tensor:
        """
        input rotated by 90 degrees k times, from the first of ``dims`` toward the second.
        """
    def round(self, *, decimals: int = 0) -> Tensor:
        """
        Half to even, as torch (and NumPy). With decimals, ``round(x * 10**d) / 10**d`` (for d < 0,
            ``round(x / 10**-d) * 10**-d``), the power taken in float32 as torch's: |d| > 38 gives NaN.
        """
    def scatter(self, dim: int, index: Tensor, src=None, *, value=None, reduce=None) -> Tensor:
        """
        self with ``src[i][j]`` (or the number ``value``) written at ``index[i][j]`` along ``dim``.
            Where an index repeats the last write wins (torch leaves it undefined); every src element gets
            the gradient at its destination, overwritten or not, as torch's. ``reduce="add"`` or
            ``"multiply"`` is torch's legacy form: ``scatter_add`` / ``scatter_reduce(..., "prod")``.
        """
    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        """
        ``out[..., index[i][j], ...] += src[i][j]`` along ``dim``, duplicate indices accumulating, as
            torch's. Gradients: the upstream gradient for self, its ``gather`` at index for src.
        """
    def scatter_reduce(self, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True):
        """
        Each element of self reduced ("sum", "prod", "mean", "amax", "amin") with the src elements
            scattered to it (and itself unless ``include_self=False`` and something is scattered to it),
            with torch's values and gradients (amax/amin split theirs between ties; int64 mean floors).
            One deliberate difference: with ``include_self=False`` a self element left out of its slot is
            not counted as a tie (torch counts it when it equals the result, so the src elements get only
            part of the gradient and the rest is lost).
        """
    @staticmethod
    def select(input, dim: int, index: int) -> Tensor:
        """
        The slice at ``index`` along ``dim``, that dim removed: a view, as torch's.
        """
    @staticmethod
    def sgn(input) -> Tensor:
        """
        ``sign`` (for real tensors torch's sgn is sign).
        """
    def sign(self) -> Tensor: ...
    @staticmethod
    def signbit(input) -> Tensor:
        """
        A bool mask: true where the sign bit is set, -0.0 included (the sign of a NaN is not read:
            false).
        """
    @staticmethod
    def sinc(input) -> Tensor:
        """
        ``sin(pi x) / (pi x)``, 1 at 0 (where its gradient is 0).
        """
    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """
        (values, indices), values differentiable (gathered at the indices); the order is stable.
        """
    def split(self, split_size_or_sections, dim: int = 0) -> tuple:
        """
        Pieces of ``split_size`` along dim (the last may be smaller), or of the given sizes.
        """
    def std(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
        """
        The square root of ``var``; where it is 0 the gradient is 0, as torch's (not NaN).
        """
    @staticmethod
    def subtract(input, other, *, alpha=1) -> Tensor:
        """
        ``input - alpha * other``, as torch's.
        """
    def swapaxes(self, axis0: int, axis1: int) -> Tensor:
        """
        ``transpose(axis0, axis1)`` (NumPy's name), as torch's.
        """
    def swapdims(self, dim0: int, dim1: int) -> Tensor:
        """
        ``transpose(dim0, dim1)``, as torch's.
        """
    def take(self, index: Tensor) -> Tensor:
        """
        input's elements at ``index`` (any shape; negative counts from the end) in the flattened
            input, shaped as index.
        """
    def take_along_dim(self, indices: Tensor, dim=None) -> Tensor:
        """
        ``gather`` with input and indices broadcast together apart from dim (negative indices count
            from the end, as torch's); with dim None, of the flattened tensors (indices in [0, numel)).
        """
    @staticmethod
    def tensor_split(
        input, indices_or_sections=None, dim: int = 0, *, sections=None, indices=None, tensor_indices_or_sections=None
    ) -> tuple:
        """
        Views of input split along dim into ``sections`` nearly equal pieces (an int) or at the given
            indices (a sequence, or an int64 tensor: 0-d for sections, 1-d for indices), as torch's.
        """
    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True): ...
    @staticmethod
    def trace(input) -> Tensor:
        """
        The sum of a 2-D tensor's main diagonal.
        """
    def tril(self, diagonal: int = 0) -> Tensor: ...
    def triu(self, diagonal: int = 0) -> Tensor: ...
    @staticmethod
    def true_divide(input, other) -> Tensor: ...
    def trunc(self) -> Tensor: ...
    def unbind(self, dim: int = 0) -> tuple: ...
    def unflatten(self, dim: int, sizes) -> Tensor:
        """
        ``dim`` split into ``sizes`` (a sequence of ints, one of which may be -1: the size the others
            leave), a view where the layout allows, as torch's: (N, 3 * 8 * 8) -> (N, 3, 8, 8) with
            ``unflatten(x, 1, (3, 8, 8))``.
        """
    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim=None):
        """
        The distinct values of input in increasing order (of the flattened tensor, or the distinct
            slices along ``dim``), with the inverse indices (input's shape, or along dim) and counts when
            asked: a tensor, or a tuple as torch's. The values carry no gradient, as torch's. ``sorted``
            is accepted; the result is always sorted (torch's CPU result is too).
        """
    def unique_consecutive(self, return_inverse: bool = False, return_counts: bool = False, dim=None):
        """
        input with each run of equal consecutive values (or slices along ``dim``) kept once, and
            the inverse indices and run lengths when asked, as torch's.
        """
    def var(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None) -> Tensor:
        """
        Variance over ``dim`` (every dim when None) with Bessel's correction by default, as torch;
            also torch's older forms ``var(unbiased)`` and ``var(dim, unbiased, keepdim)``.
        """
    @staticmethod
    def vdot(input, other) -> Tensor:
        """
        The inner product of two 1-D tensors of one length (real tensors: ``dot``).
        """
    @staticmethod
    def vsplit(input, indices_or_sections=None, *, sections=None, indices=None) -> tuple:
        """
        ``tensor_split`` along dim 0 of a tensor of 2 or more dims; an int must divide it evenly.
        """
    @staticmethod
    def xlogy(input, other) -> Tensor:
        """
        ``input * log(other)``, 0 where input is 0 (unless other is NaN), as torch's. The gradient
            for input is ``log(other)`` (0 where input is 0 and other <= 0), for other ``input / other``.
        """
    def __abs__(self) -> Tensor: ...
    def __add__(self, arg0: typing.Any) -> typing.Any: ...
    def __array__(
        self, dtype: typing.Any = None, copy: typing.Any = None
    ) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]: ...
    def __bool__(self) -> bool: ...
    def __contains__(self, element) -> bool:
        """
        ``element in t``: whether some element of ``t`` equals ``element`` (a number, or a tensor
            that broadcasts with ``t``, compared as torch's ``(element == t).any()``).
        """
    def __copy__(self) -> Tensor:
        """
        ``copy.copy(tensor)``, as torch: a new leaf sharing the tensor's memory, with its
            requires_grad (a parameter stays a parameter).
        """
    def __deepcopy__(self, memo: dict) -> Tensor:
        """
        ``copy.deepcopy(tensor)``, as torch: leaves only; a clone that keeps requires_grad and
            parameter-ness; a plain tensor's ``.grad`` is copied too (a parameter's is not, as in torch).
        """
    def __eq__(self, arg0: typing.Any) -> typing.Any: ...
    def __float__(self) -> float: ...
    def __format__(self, spec: str) -> str:
        """
        ``f"{loss:.4f}"`` formats a 0-d tensor's value, as torch.
        """
    def __ge__(self, arg0: typing.Any) -> typing.Any: ...
    def __getitem__(self, key) -> Tensor: ...
    def __gt__(self, arg0: typing.Any) -> typing.Any: ...
    def __hash__(self) -> int: ...
    def __iadd__(self, arg0: typing.Any) -> typing.Any: ...
    def __iand__(self, other): ...
    def __ifloordiv__(self, other): ...
    def __ilshift__(self, other): ...
    def __imod__(self, other): ...
    def __imul__(self, arg0: typing.Any) -> typing.Any: ...
    def __index__(self) -> int:
        """
        A one-element integer tensor used where Python wants an int (``range(t)``, ``lst[t]``).
        """
    def __int__(self) -> int: ...
    def __ior__(self, other): ...
    def __irshift__(self, other): ...
    def __isub__(self, arg0: typing.Any) -> typing.Any: ...
    def __iter__(self):
        """
        The sub-tensors along dim 0, as torch's; a 0-d tensor cannot be iterated.
        """
    def __itruediv__(self, arg0: typing.Any) -> typing.Any: ...
    def __ixor__(self, other): ...
    def __le__(self, arg0: typing.Any) -> typing.Any: ...
    def __len__(self) -> int: ...
    def __lt__(self, arg0: typing.Any) -> typing.Any: ...
    def __matmul__(self, arg0: typing.Any) -> Tensor: ...
    def __mul__(self, arg0: typing.Any) -> typing.Any: ...
    def __ne__(self, arg0: typing.Any) -> typing.Any: ...
    def __neg__(self) -> Tensor: ...
    def __pos__(self) -> Tensor: ...
    def __pow__(self, exponent): ...
    def __radd__(self, arg0: typing.Any) -> typing.Any: ...
    def __rand__(self, other): ...
    def __reduce_ex__(self, protocol: int):
        """
        Pickles a tensor as a NumPy copy of its values with dtype, device, requires_grad and
            parameter-ness (not its graph or ``.grad``, as torch).
        """
    def __repr__(self) -> str: ...
    def __rfloordiv__(self, other): ...
    def __rlshift__(self, other): ...
    def __rmatmul__(self, arg0: typing.Any) -> Tensor: ...
    def __rmod__(self, other): ...
    def __rmul__(self, arg0: typing.Any) -> typing.Any: ...
    def __ror__(self, other): ...
    def __rpow__(self, arg0: typing.Any) -> typing.Any: ...
    def __rrshift__(self, other): ...
    def __rsub__(self, arg0: typing.Any) -> typing.Any: ...
    def __rtruediv__(self, arg0: typing.Any) -> typing.Any: ...
    def __rxor__(self, other): ...
    def __setitem__(self, key, value) -> None: ...
    def __sub__(self, arg0: typing.Any) -> typing.Any: ...
    def __truediv__(self, arg0: typing.Any) -> typing.Any: ...
    def _diagonal(
        self,
        offset: typing.SupportsInt | typing.SupportsIndex = 0,
        dim1: typing.SupportsInt | typing.SupportsIndex = 0,
        dim2: typing.SupportsInt | typing.SupportsIndex = 1,
    ) -> Tensor: ...
    def _geometry_inplace_(self, name: str, view_op: collections.abc.Callable) -> typing.Any: ...
    def _inplace_(
        self, name: str, compute: collections.abc.Callable, operand_requires_grad: bool = False
    ) -> typing.Any: ...
    def _is_view(self) -> bool: ...
    def _own_result(self) -> Tensor: ...
    def abs(self) -> Tensor: ...
    def abs_(self, *args, **kwargs):
        """
        In place: ``abs(self, ...)`` written into self.
        """
    def absolute_(self, *args, **kwargs):
        """
        In place: ``absolute(self, ...)`` written into self.
        """
    def acos(self) -> Tensor: ...
    def acos_(self, *args, **kwargs):
        """
        In place: ``acos(self, ...)`` written into self.
        """
    def acosh(self) -> Tensor: ...
    def acosh_(self, *args, **kwargs):
        """
        In place: ``acosh(self, ...)`` written into self.
        """
    def add(self, other, *, alpha=1): ...
    def add_(self, other, *, alpha=1): ...
    def addbmm_(self, *args, **kwargs):
        """
        In place: ``addbmm(self, ...)`` written into self.
        """
    def addcdiv_(self, *args, **kwargs):
        """
        In place: ``addcdiv(self, ...)`` written into self.
        """
    def addcmul_(self, *args, **kwargs):
        """
        In place: ``addcmul(self, ...)`` written into self.
        """
    def addmm_(self, *args, **kwargs):
        """
        In place: ``addmm(self, ...)`` written into self.
        """
    def addmv_(self, *args, **kwargs):
        """
        In place: ``addmv(self, ...)`` written into self.
        """
    def apply_(self, callable) -> Tensor:
        """
        ``callable(v)`` for each element (a Python float, or int for an integer dtype), written into
            self; CPU only, and refused for a tensor that requires grad, as torch's.
        """
    def arccos_(self, *args, **kwargs):
        """
        In place: ``arccos(self, ...)`` written into self.
        """
    def arccosh_(self, *args, **kwargs):
        """
        In place: ``arccosh(self, ...)`` written into self.
        """
    def arcsin_(self, *args, **kwargs):
        """
        In place: ``arcsin(self, ...)`` written into self.
        """
    def arcsinh_(self, *args, **kwargs):
        """
        In place: ``arcsinh(self, ...)`` written into self.
        """
    def arctan2_(self, *args, **kwargs):
        """
        In place: ``arctan2(self, ...)`` written into self.
        """
    def arctan_(self, *args, **kwargs):
        """
        In place: ``arctan(self, ...)`` written into self.
        """
    def arctanh_(self, *args, **kwargs):
        """
        In place: ``arctanh(self, ...)`` written into self.
        """
    def as_strided(
        self,
        size: typing.Any,
        stride: typing.Any,
        storage_offset: typing.SupportsInt | typing.SupportsIndex | None = None,
    ) -> Tensor:
        """
        A view of this tensor's storage with the given size, strides and offset (in elements)
        """
    def as_strided_(self, *args, **kwargs):
        """
        In-place ``as_strided``: this tensor becomes the view ``as_strided`` returns (torch's).
        """
    def asin(self) -> Tensor: ...
    def asin_(self, *args, **kwargs):
        """
        In place: ``asin(self, ...)`` written into self.
        """
    def asinh(self) -> Tensor: ...
    def asinh_(self, *args, **kwargs):
        """
        In place: ``asinh(self, ...)`` written into self.
        """
    def atan(self) -> Tensor: ...
    def atan2_(self, *args, **kwargs):
        """
        In place: ``atan2(self, ...)`` written into self.
        """
    def atan_(self, *args, **kwargs):
        """
        In place: ``atan(self, ...)`` written into self.
        """
    def atanh(self) -> Tensor: ...
    def atanh_(self, *args, **kwargs):
        """
        In place: ``atanh(self, ...)`` written into self.
        """
    def backward(
        self,
        gradient: typing.Any = None,
        retain_graph: typing.Any = None,
        create_graph: bool = False,
        inputs: typing.Any = None,
    ) -> None: ...
    def baddbmm_(self, *args, **kwargs):
        """
        In place: ``baddbmm(self, ...)`` written into self.
        """
    def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
        """
        In place: 1 with probability p (a number or a tensor broadcast to self), else 0.
        """
    def bfloat16(self): ...
    def bitwise_and_(self, *args, **kwargs):
        """
        In place: ``bitwise_and(self, ...)`` written into self.
        """
    def bitwise_left_shift_(self, *args, **kwargs):
        """
        In place: ``bitwise_left_shift(self, ...)`` written into self.
        """
    def bitwise_not_(self, *args, **kwargs):
        """
        In place: ``bitwise_not(self, ...)`` written into self.
        """
    def bitwise_or_(self, *args, **kwargs):
        """
        In place: ``bitwise_or(self, ...)`` written into self.
        """
    def bitwise_right_shift_(self, *args, **kwargs):
        """
        In place: ``bitwise_right_shift(self, ...)`` written into self.
        """
    def bitwise_xor_(self, *args, **kwargs):
        """
        In place: ``bitwise_xor(self, ...)`` written into self.
        """
    def bool(self) -> Tensor: ...
    def byte(self): ...
    def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor: ...
    def ceil_(self, *args, **kwargs):
        """
        In place: ``ceil(self, ...)`` written into self.
        """
    def char(self): ...
    def chunk(
        self, chunks: typing.SupportsInt | typing.SupportsIndex, dim: typing.SupportsInt | typing.SupportsIndex = 0
    ) -> list[Tensor]: ...
    def clamp_(self, min=None, max=None) -> Tensor:
        """
        In place, as the other in-place ops (outside the graph it writes; inside it rebases).
        """
    def clamp_max_(self, *args, **kwargs):
        """
        In place: ``clamp_max(self, ...)`` written into self.
        """
    def clamp_min_(self, *args, **kwargs):
        """
        In place: ``clamp_min(self, ...)`` written into self.
        """
    def clip(self, min=None, max=None): ...
    def clip_(self, min=None, max=None) -> Tensor:
        """
        In place, as the other in-place ops (outside the graph it writes; inside it rebases).
        """
    def clone(self, *, memory_format=None) -> Tensor:
        """
        A copy; a transposed (dense) tensor keeps its strides unless ``memory_format`` is
            ``contiguous_format``, as torch's.
        """
    def contiguous(self, memory_format=None) -> Tensor:
        """
        The tensor itself when it is contiguous, else a contiguous copy, as torch's.
        """
    def copy_(self, arg0: Tensor) -> Tensor: ...
    def copysign_(self, *args, **kwargs):
        """
        In place: ``copysign(self, ...)`` written into self.
        """
    def cos(self) -> Tensor: ...
    def cos_(self, *args, **kwargs):
        """
        In place: ``cos(self, ...)`` written into self.
        """
    def cosh(self) -> Tensor: ...
    def cosh_(self, *args, **kwargs):
        """
        In place: ``cosh(self, ...)`` written into self.
        """
    def cpu(self): ...
    def cuda(self) -> Tensor: ...
    def cumprod(self, dim: typing.SupportsInt | typing.SupportsIndex) -> Tensor: ...
    def cumsum(self, dim: typing.SupportsInt | typing.SupportsIndex) -> Tensor: ...
    def cumsum_(self, *args, **kwargs):
        """
        In place: ``cumsum(self, ...)`` written into self.
        """
    def data_ptr(self) -> int: ...
    def deg2rad_(self, *args, **kwargs):
        """
        In place: ``deg2rad(self, ...)`` written into self.
        """
    def detach(self) -> Tensor: ...
    def detach_(self) -> typing.Any:
        """
        Makes this tensor a leaf that does not require grad, in place
        """
    def dim(self) -> int: ...
    def div(self, other, *, rounding_mode=None):
        """
        ``input / other``; ``rounding_mode="trunc"`` rounds the quotient toward zero, ``"floor"``
            down (both exact, computed on the host as ``md.floor_divide``; int64 operands then stay int64,
            and their gradient is zero, as torch's).
        """
    def div_(self, other, *, rounding_mode=None):
        """
        In-place ``div`` (``rounding_mode`` as ``div``).
        """
    def divide_(self, *args, **kwargs):
        """
        In place: ``divide(self, ...)`` written into self.
        """
    def double(self, *args, **kwargs): ...
    def element_size(self) -> int: ...
    def eq(self, other): ...
    def erf(self) -> Tensor: ...
    def erf_(self, *args, **kwargs):
        """
        In place: ``erf(self, ...)`` written into self.
        """
    def erfc(self) -> Tensor: ...
    def erfc_(self, *args, **kwargs):
        """
        In place: ``erfc(self, ...)`` written into self.
        """
    def erfinv(self) -> Tensor: ...
    def erfinv_(self, *args, **kwargs):
        """
        In place: ``erfinv(self, ...)`` written into self.
        """
    def exp(self) -> Tensor: ...
    def exp2(self) -> Tensor: ...
    def exp2_(self, *args, **kwargs):
        """
        In place: ``exp2(self, ...)`` written into self.
        """
    def exp_(self, *args, **kwargs):
        """
        In place: ``exp(self, ...)`` written into self.
        """
    def expand(self, *args) -> Tensor: ...
    def expand_as(self, other): ...
    def expm1(self) -> Tensor: ...
    def expm1_(self, *args, **kwargs):
        """
        In place: ``expm1(self, ...)`` written into self.
        """
    def exponential_(self, lambd: float = 1.0, *, generator=None) -> Tensor:
        """
        In place: exponential samples of rate ``lambd`` (> 0).
        """
    @typing.overload
    def fill_(self, arg0: Tensor) -> Tensor: ...
    @typing.overload
    def fill_(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> Tensor: ...
    def fix_(self, *args, **kwargs):
        """
        In place: ``fix(self, ...)`` written into self.
        """
    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """
        The dims start_dim..end_dim flattened into one (a view where the layout allows, else a copy); the
            tensor itself when that is one dim, as torch's.
        """
    def float(self): ...
    def floor_(self, *args, **kwargs):
        """
        In place: ``floor(self, ...)`` written into self.
        """
    def floor_divide_(self, *args, **kwargs):
        """
        In place: ``floor_divide(self, ...)`` written into self.
        """
    def fmod_(self, *args, **kwargs):
        """
        In place: ``fmod(self, ...)`` written into self.
        """
    def frac_(self, *args, **kwargs):
        """
        In place: ``frac(self, ...)`` written into self.
        """
    def gather(self, dim: typing.SupportsInt | typing.SupportsIndex, index: Tensor) -> Tensor: ...
    def gcd_(self, *args, **kwargs):
        """
        In place: ``gcd(self, ...)`` written into self.
        """
    def ge(self, other): ...
    def geometric_(self, p: float, *, generator=None) -> Tensor:
        """
        In place: the number of Bernoulli(p) trials up to the first success (1, 2, ...).
        """
    def gt(self, other): ...
    def half(self): ...
    def heaviside_(self, *args, **kwargs):
        """
        In place: ``heaviside(self, ...)`` written into self.
        """
    def hypot_(self, *args, **kwargs):
        """
        In place: ``hypot(self, ...)`` written into self.
        """
    def index_add_(self, *args, **kwargs):
        """
        In place: ``index_add(self, ...)`` written into self.
        """
    def index_copy_(self, *args, **kwargs):
        """
        In place: ``index_copy(self, ...)`` written into self.
        """
    def index_fill_(self, *args, **kwargs):
        """
        In place: ``index_fill(self, ...)`` written into self.
        """
    def index_put_(self, *args, **kwargs):
        """
        In place: ``index_put(self, ...)`` written into self.
        """
    def index_reduce_(self, *args, **kwargs):
        """
        In place: ``index_reduce(self, ...)`` written into self.
        """
    def index_select(self, dim: typing.SupportsInt | typing.SupportsIndex, index: Tensor) -> Tensor: ...
    def int(self): ...
    def is_contiguous(self) -> bool: ...
    def is_floating_point(self): ...
    def is_pinned(self, device=None) -> bool:
        """
        False: minidiff never page-locks memory.
        """
    def is_shared(self) -> bool:
        """
        False for a CPU tensor (its memory is the process's own, as a new torch tensor's); True on
            CUDA, as torch reports for CUDA storage.
        """
    def item(self) -> typing.Any: ...
    def lcm_(self, *args, **kwargs):
        """
        In place: ``lcm(self, ...)`` written into self.
        """
    def ldexp_(self, *args, **kwargs):
        """
        In place: ``ldexp(self, ...)`` written into self.
        """
    def le(self, other): ...
    def lerp_(self, end, weight) -> Tensor:
        """
        In place: ``lerp(self, end, weight)`` (the EMA update ``ema.lerp_(p, 1 - decay)``).
        """
    def log(self) -> Tensor: ...
    def log10(self) -> Tensor: ...
    def log10_(self, *args, **kwargs):
        """
        In place: ``log10(self, ...)`` written into self.
        """
    def log1p(self) -> Tensor: ...
    def log1p_(self, *args, **kwargs):
        """
        In place: ``log1p(self, ...)`` written into self.
        """
    def log2(self) -> Tensor: ...
    def log2_(self, *args, **kwargs):
        """
        In place: ``log2(self, ...)`` written into self.
        """
    def log_(self, *args, **kwargs):
        """
        In place: ``log(self, ...)`` written into self.
        """
    def log_normal_(self, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor: ...
    def log_softmax(self, dim=None): ...
    def logical_and_(self, *args, **kwargs):
        """
        In place: ``logical_and(self, ...)`` written into self.
        """
    def logical_not_(self, *args, **kwargs):
        """
        In place: ``logical_not(self, ...)`` written into self.
        """
    def logical_or_(self, *args, **kwargs):
        """
        In place: ``logical_or(self, ...)`` written into self.
        """
    def logical_xor_(self, *args, **kwargs):
        """
        In place: ``logical_xor(self, ...)`` written into self.
        """
    def logit_(self, *args, **kwargs):
        """
        In place: ``logit(self, ...)`` written into self.
        """
    def long(self): ...
    def lt(self, other): ...
    def map_(self, tensor: Tensor, callable) -> Tensor:
        """
        ``callable(a, b)`` for each element a of self and b of ``tensor`` (broadcast to self's
            shape, same dtype), written into self; CPU only, refused where either requires grad.
        """
    def masked_fill_(self, *args, **kwargs):
        """
        In place: ``masked_fill(self, ...)`` written into self.
        """
    def masked_scatter_(self, *args, **kwargs):
        """
        In place: ``masked_scatter(self, ...)`` written into self.
        """
    def matmul(self, other): ...
    def max(self, dim: typing.Any = None, keepdim: bool = False) -> typing.Any: ...
    def maximum(self, other): ...
    def mean(self, dim: typing.Any = None, keepdim: bool = False) -> Tensor: ...
    def minimum(self, other): ...
    def mul(self, other): ...
    def mul_(self, other: typing.Any) -> typing.Any: ...
    def multiply_(self, *args, **kwargs):
        """
        In place: ``multiply(self, ...)`` written into self.
        """
    def nan_to_num_(self, *args, **kwargs):
        """
        In place: ``nan_to_num(self, ...)`` written into self.
        """
    def ndimension(self): ...
    def ne(self, other): ...
    def neg(self) -> Tensor: ...
    def neg_(self, *args, **kwargs):
        """
        In place: ``neg(self, ...)`` written into self.
        """
    def negative_(self, *args, **kwargs):
        """
        In place: ``negative(self, ...)`` written into self.
        """
    def nelement(self): ...
    def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False, **kwargs) -> Tensor: ...
    def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor: ...
    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False, **kwargs) -> Tensor: ...
    def new_tensor(self, data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor: ...
    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False, **kwargs) -> Tensor: ...
    def normal_(
        self,
        mean: typing.SupportsFloat | typing.SupportsIndex = 0.0,
        std: typing.SupportsFloat | typing.SupportsIndex = 1.0,
        *,
        generator: typing.Any = None,
    ) -> Tensor: ...
    def numel(self) -> int: ...
    def numpy(self) -> numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]: ...
    def permute(self, *args) -> Tensor: ...
    def pin_memory(self, device=None) -> Tensor:
        """
        torch pins CPU memory for an accelerator: without CUDA this raises, as torch without an
            accelerator does; with CUDA it returns a contiguous CPU copy (minidiff does not page-lock it,
            and ``is_pinned()`` stays False). A CUDA tensor cannot be pinned.
        """
    def pow(self, exponent): ...
    def pow_(self, *args, **kwargs):
        """
        In place: ``pow(self, ...)`` written into self.
        """
    def put_(self, *args, **kwargs):
        """
        In place: ``put(self, ...)`` written into self.
        """
    def rad2deg_(self, *args, **kwargs):
        """
        In place: ``rad2deg(self, ...)`` written into self.
        """
    def random_(self, *args, generator=None, **kwargs) -> Tensor:
        """
        In place: integers uniform in [from, to - 1] (``random_(from, to)``), [0, to - 1]
            (``random_(to)``), or [0, 2^24] for float32 and [0, 2^63 - 1] for int64 (``random_()``).
        """
    def reciprocal(self): ...
    def reciprocal_(self, *args, **kwargs):
        """
        In place: ``reciprocal(self, ...)`` written into self.
        """
    def register_hook(self, hook: collections.abc.Callable) -> RemovableHandle:
        """
        Registers hook(grad) -> Tensor or None, run on this tensor's gradient in each backward (returns a handle)
        """
    def relu(self) -> Tensor: ...
    def relu_(self, *args, **kwargs):
        """
        In place: ``relu(self, ...)`` written into self.
        """
    def remainder_(self, *args, **kwargs):
        """
        In place: ``remainder(self, ...)`` written into self.
        """
    def renorm_(self, *args, **kwargs):
        """
        In place: ``renorm(self, ...)`` written into self.
        """
    def requires_grad_(self, requires_grad: bool = True) -> typing.Any: ...
    def reshape(self, *args) -> Tensor: ...
    def reshape_as(self, other): ...
    def retain_grad(self) -> None: ...
    def round_(self, *args, **kwargs):
        """
        In place: ``round(self, ...)`` written into self.
        """
    def rsqrt(self) -> Tensor: ...
    def rsqrt_(self, *args, **kwargs):
        """
        In place: ``rsqrt(self, ...)`` written into self.
        """
    def scatter_(self, *args, **kwargs):
        """
        In place: ``scatter(self, ...)`` written into self.
        """
    def scatter_add_(self, *args, **kwargs):
        """
        In place: ``scatter_add(self, ...)`` written into self.
        """
    def scatter_reduce_(self, *args, **kwargs):
        """
        In place: ``scatter_reduce(self, ...)`` written into self.
        """
    def sgn_(self, *args, **kwargs):
        """
        In place: ``sgn(self, ...)`` written into self.
        """
    def share_memory_(self) -> Tensor:
        """
        self, unchanged: minidiff's storage cannot be moved to shared memory, so unlike torch's the
            elements are not shared with processes started afterwards (``is_shared()`` stays False).
        """
    def short(self): ...
    def sigmoid(self) -> Tensor: ...
    def sigmoid_(self, *args, **kwargs):
        """
        In place: ``sigmoid(self, ...)`` written into self.
        """
    def sign_(self, *args, **kwargs):
        """
        In place: ``sign(self, ...)`` written into self.
        """
    def sin(self) -> Tensor: ...
    def sin_(self, *args, **kwargs):
        """
        In place: ``sin(self, ...)`` written into self.
        """
    def sinc_(self, *args, **kwargs):
        """
        In place: ``sinc(self, ...)`` written into self.
        """
    def sinh(self) -> Tensor: ...
    def sinh_(self, *args, **kwargs):
        """
        In place: ``sinh(self, ...)`` written into self.
        """
    def size(self, dim: typing.Any = None) -> typing.Any: ...
    def softmax(self, dim: typing.SupportsInt | typing.SupportsIndex) -> Tensor: ...
    def sqrt(self) -> Tensor: ...
    def sqrt_(self, *args, **kwargs):
        """
        In place: ``sqrt(self, ...)`` written into self.
        """
    def square(self) -> Tensor: ...
    def square_(self, *args, **kwargs):
        """
        In place: ``square(self, ...)`` written into self.
        """
    def squeeze(self, dim=None) -> Tensor:
        """
        ``squeeze()``, ``squeeze(dim)`` or ``squeeze((d0, d1, ...))`` (torch 2's tuple form).
        """
    def squeeze_(self, *args, **kwargs):
        """
        In-place ``squeeze``: this tensor becomes the view ``squeeze`` returns (torch's).
        """
    def storage_offset(self) -> int: ...
    def stride(self, dim=None):
        """
        The strides (in elements), or the stride of ``dim``, as torch's.
        """
    def sub(self, other, *, alpha=1): ...
    def sub_(self, other, *, alpha=1): ...
    def subtract_(self, *args, **kwargs):
        """
        In place: ``subtract(self, ...)`` written into self.
        """
    def sum(self, dim: typing.Any = None, keepdim: bool = False) -> Tensor: ...
    def sum_to_size(self, *size) -> Tensor:
        """
        ``self`` summed down to ``size``, a shape that broadcasts to self's (over the leading dims self
            has more and the dims where ``size`` is 1), as torch's; differentiable.
        """
    def swapaxes_(self, *args, **kwargs):
        """
        In-place ``swapaxes``: this tensor becomes the view ``swapaxes`` returns (torch's).
        """
    def swapdims_(self, *args, **kwargs):
        """
        In-place ``swapdims``: this tensor becomes the view ``swapdims`` returns (torch's).
        """
    def t(self) -> Tensor: ...
    def t_(self, *args, **kwargs):
        """
        In-place ``t``: this tensor becomes the view ``t`` returns (torch's).
        """
    def tan(self) -> Tensor: ...
    def tan_(self, *args, **kwargs):
        """
        In place: ``tan(self, ...)`` written into self.
        """
    def tanh(self) -> Tensor: ...
    def tanh_(self, *args, **kwargs):
        """
        In place: ``tanh(self, ...)`` written into self.
        """
    def tile(self, *dims) -> Tensor:
        """
        ``t.tile(2, 1)`` or ``t.tile((2, 1))``, as torch's method.
        """
    def to(self, *args, dtype=None, device=None, non_blocking: bool = False, copy: bool = False) -> Tensor:
        """
        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)`` or keywords, each
            optionally followed by ``non_blocking`` and ``copy``, as torch; ``non_blocking`` is accepted
            (copies here are synchronous), ``copy`` forces a new tensor. With nothing to change it returns
            the tensor itself, as torch's.
        """
    def tolist(self) -> typing.Any: ...
    def transpose(
        self, arg0: typing.SupportsInt | typing.SupportsIndex, arg1: typing.SupportsInt | typing.SupportsIndex
    ) -> Tensor: ...
    def transpose_(self, *args, **kwargs):
        """
        In-place ``transpose``: this tensor becomes the view ``transpose`` returns (torch's).
        """
    def tril_(self, *args, **kwargs):
        """
        In place: ``tril(self, ...)`` written into self.
        """
    def triu_(self, *args, **kwargs):
        """
        In place: ``triu(self, ...)`` written into self.
        """
    def true_divide_(self, *args, **kwargs):
        """
        In place: ``true_divide(self, ...)`` written into self.
        """
    def trunc_(self, *args, **kwargs):
        """
        In place: ``trunc(self, ...)`` written into self.
        """
    def type(self, dtype=None, non_blocking: bool = False) -> Tensor | str:
        """
        ``t.type()``: torch's type name ("torch.FloatTensor", "torch.cuda.LongTensor", ...);
            ``t.type(dtype)``: ``t.to(dtype)`` (a dtype or one of those names).
        """
    def type_as(self, other): ...
    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        """
        All windows of ``size`` elements along ``dimension``, ``step`` apart, in a new last dim (that
            dim's length becomes the window count), as torch's: always a view (as_strided), whose gradient
            sums over the windows that share an element.
        """
    def uniform_(
        self,
        a: typing.SupportsFloat | typing.SupportsIndex = 0.0,
        b: typing.SupportsFloat | typing.SupportsIndex = 1.0,
        *,
        generator: typing.Any = None,
    ) -> Tensor: ...
    def unsqueeze(self, dim: typing.SupportsInt | typing.SupportsIndex) -> Tensor: ...
    def unsqueeze_(self, *args, **kwargs):
        """
        In-place ``unsqueeze``: this tensor becomes the view ``unsqueeze`` returns (torch's).
        """
    def view(self, *args) -> Tensor: ...
    def view_as(self, other): ...
    def where(self, condition, other): ...
    def xlogy_(self, *args, **kwargs):
        """
        In place: ``xlogy(self, ...)`` written into self.
        """
    def zero_(self) -> Tensor: ...
    @property
    def T(self) -> Tensor: ...
    @property
    def _base(self) -> typing.Any: ...
    @property
    def _impl_id(self) -> int: ...
    @property
    def _is_param(self) -> bool: ...
    @property
    def _storage_key(self) -> int: ...
    @property
    def _storage_numel(self) -> int: ...
    @property
    def _version(self) -> int: ...
    @property
    def data(self) -> Tensor:
        """
        The tensor's values outside autograd (its storage, no history), as torch's ``.data``.
        """
    @data.setter
    def data(self, value: Tensor) -> None: ...
    @property
    def device(self) -> Device: ...
    @property
    def dtype(self) -> str: ...
    @property
    def grad_fn(self) -> typing.Any: ...
    @property
    def is_cuda(self) -> bool: ...
    @property
    def is_leaf(self) -> bool: ...
    @property
    def itemsize(self) -> int: ...
    @property
    def mT(self) -> Tensor: ...
    @property
    def nbytes(self): ...
    @property
    def ndim(self) -> int: ...
    @property
    def retains_grad(self) -> bool: ...
    @property
    def sample(self): ...
    @property
    def shape(self) -> tuple: ...

def _anomaly_check_nan() -> bool: ...
def _anomaly_enabled() -> bool: ...
def _custom_function_node(name: str, output: ..., inputs: list, backward: collections.abc.Callable) -> ...: ...
def _grad(outputs: list, grad_outputs: list, inputs: list, retain_graph: bool) -> list:
    """
    md.autograd.grad's engine: gradients of outputs (weighted by grad_outputs) w.r.t. inputs.
    """

def _set_anomaly(enabled: bool, check_nan: bool = True) -> None: ...
def _set_thread_default_generator(seed: typing.SupportsInt | typing.SupportsIndex | None) -> None:
    """
    Gives the calling thread its own default generator with this seed (None: the process's again).
    """

def arange(
    start: typing.Any,
    end: typing.Any = None,
    step: typing.Any = None,
    *,
    dtype: typing.Any = None,
    device: typing.Any = None,
) -> Tensor: ...
def build_info() -> dict: ...
def cpu_empty_cache() -> None: ...
def cpu_memory_stats() -> dict: ...
def cpu_reset_peak_memory_stats() -> None: ...
def cpu_winograd_tile() -> int: ...
def cuda_built() -> bool: ...
def cuda_conv_layout() -> str: ...
def cuda_device_count() -> int: ...
def cuda_device_name(index: typing.SupportsInt | typing.SupportsIndex = 0) -> str: ...
def cuda_empty_cache() -> None: ...
def cuda_memory_stats() -> dict: ...
def cuda_reset_peak_memory_stats() -> None: ...
def cuda_set_workspace_budget(nbytes: typing.SupportsInt | typing.SupportsIndex) -> int: ...
def cuda_synchronize() -> None: ...
def default_generator() -> Generator: ...
def empty(
    *args, size: typing.Any = None, dtype: typing.Any = None, device: typing.Any = None, requires_grad: bool = False
) -> Tensor: ...
def full(
    size: typing.Any,
    fill_value: typing.Any,
    *,
    dtype: typing.Any = None,
    device: typing.Any = None,
    requires_grad: bool = False,
) -> Tensor: ...
def get_default_device() -> Device: ...
def get_num_threads() -> int: ...
def is_grad_enabled() -> bool: ...
def manual_seed(seed: typing.Any) -> Generator: ...
def matmul_bf16() -> bool: ...
def ones(
    *args, size: typing.Any = None, dtype: typing.Any = None, device: typing.Any = None, requires_grad: bool = False
) -> Tensor: ...
def ones_like(arg0: Tensor) -> Tensor: ...
def profiler_enable(on: bool, synchronize_cuda: bool = True) -> None: ...
def profiler_reset() -> None: ...
def profiler_snapshot() -> dict: ...
def rand(
    *args,
    generator: typing.Any = None,
    dtype: typing.Any = None,
    device: typing.Any = None,
    requires_grad: bool = False,
) -> Tensor: ...
def randint(
    low: typing.SupportsInt | typing.SupportsIndex,
    high: typing.Any = None,
    size: typing.Any = None,
    *,
    generator: typing.Any = None,
    dtype: typing.Any = None,
    device: typing.Any = None,
) -> Tensor: ...
def randn(
    *args,
    generator: typing.Any = None,
    dtype: typing.Any = None,
    device: typing.Any = None,
    requires_grad: bool = False,
) -> Tensor: ...
def randn_like(input: Tensor, *, generator: typing.Any = None) -> Tensor: ...
def set_allow_tf32(on: bool) -> None: ...
def set_cpu_winograd_tile(tile: typing.SupportsInt | typing.SupportsIndex) -> None: ...
def set_cuda_conv_layout(layout: str) -> None: ...
def set_default_device(device: typing.Any) -> None: ...
def set_grad_enabled(mode: bool) -> None: ...
def set_matmul_bf16(on: bool) -> None: ...
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None: ...
def tensor(
    data: typing.Any, dtype: typing.Any = None, device: typing.Any = None, requires_grad: bool = False
) -> Tensor: ...
def zeros(
    *args, size: typing.Any = None, dtype: typing.Any = None, device: typing.Any = None, requires_grad: bool = False
) -> Tensor: ...
def zeros_like(arg0: Tensor) -> Tensor: ...
