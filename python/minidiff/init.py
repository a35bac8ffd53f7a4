"""Weight initialisation (``md.nn.init``), as ``torch.nn.init``: each function fills its tensor in
place under no_grad and returns it. Fans are torch's: for a weight of shape (out, in, *kernel),
fan_in = in * prod(kernel) and fan_out = out * prod(kernel). The random draws come from
minidiff's generator (``md.manual_seed`` or ``generator=``), so the values differ from torch's for
one seed; the distributions are torch's. ``sparse_`` draws its zero rows from ``generator`` too
(torch's ignores it there).
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from . import _core
from ._core import Tensor
from .autograd import no_grad
from .tensor_ops import randperm, where

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (out, in, *kernel), as torch's private helper of that name."""
    if tensor.ndim < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
            f"(init: a weight needs 2 or more dimensions, got shape {tuple(tensor.shape)})"
        )
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


_fans = _calculate_fan_in_and_fan_out


def calculate_gain(nonlinearity: str, param=None) -> float:
    """torch's recommended gain for ``nonlinearity`` (1 for the linear and conv functions and
    sigmoid, 5/3 tanh, sqrt(2) relu, sqrt(2 / (1 + slope**2)) leaky_relu, 3/4 selu)."""
    if nonlinearity in _LINEAR_FNS:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number (calculate_gain: leaky_relu)")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity} (calculate_gain)")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    with no_grad():
        tensor.uniform_(a, b, generator=generator)
    return tensor


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    with no_grad():
        tensor.normal_(mean, std, generator=generator)
    return tensor


def constant_(tensor: Tensor, val: float) -> Tensor:
    with no_grad():
        tensor.fill_(val)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    """fan_in or fan_out by ``mode`` (either case, as torch's private helper of that name)."""
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float:
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def _empty_noop(tensor: Tensor) -> bool:
    """torch's kaiming inits leave a zero-element tensor as it is, with a warning (before any fan check)."""
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
) -> Tensor:
    if _empty_noop(tensor):
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
) -> Tensor:
    if _empty_noop(tensor):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None
) -> Tensor:
    """N(mean, std**2) restricted to [a, b], by rejection as torch's: values outside are redrawn
    from the normal while the interval holds most of the mass, else from a uniform on [a, b]
    accepted with the normal's density (so a narrow or far interval is sampled as well)."""
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )

    def cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    with no_grad():
        if tensor.numel() == 0:
            return tensor
        # the bounds as the tensor's dtype rounds them, so the test agrees with the stored values
        lo = _core.tensor(float(a), dtype=tensor.dtype, device="cpu").item()
        hi = _core.tensor(float(b), dtype=tensor.dtype, device="cpu").item()
        fresh = _core.empty(tuple(tensor.shape), dtype=tensor.dtype, device=tensor.device)
        if cdf((b - mean) / std) - cdf((a - mean) / std) > 0.3:
            tensor.normal_(mean, std, generator=generator)
            while True:
                outside = (tensor < lo) + (tensor > hi)
                if not outside.any().item():
                    break
                tensor.copy_(where(outside, fresh.normal_(mean, std, generator=generator), tensor))
        else:
            mode = max(a, min(mean, b))
            log_peak = -0.5 * ((mode - mean) / std) ** 2
            accept = _core.empty(tuple(tensor.shape), dtype=tensor.dtype, device=tensor.device)

            def rejected(x: Tensor) -> Tensor:  # 1 where x fails the density test
                log_pdf = ((x - mean) / std).square() * -0.5 - log_peak
                return accept.uniform_(0.0, 1.0, generator=generator).log() > log_pdf

            tensor.uniform_(a, b, generator=generator)
            pending = rejected(tensor)
            while pending.any().item():
                fresh.uniform_(a, b, generator=generator)
                tensor.copy_(where(pending, fresh, tensor))
                pending = pending * rejected(fresh)
    return tensor


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix (ones on the main diagonal) in a 2-d tensor."""
    if tensor.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported (eye_: got shape {tuple(tensor.shape)})")
    with no_grad():
        tensor.copy_(_core.tensor(np.eye(*tensor.shape, dtype=np.float32), dtype=tensor.dtype, device=tensor.device))
    return tensor


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """The Dirac delta in a 3-, 4- or 5-d convolution weight (out, in, *kernel): a convolution
    with it passes min(out / groups, in) channels of each group through unchanged."""
    shape = tuple(tensor.shape)
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"Only tensors with 3, 4, or 5 dimensions are supported (dirac_: got shape {shape})")
    if shape[0] % groups != 0:
        raise ValueError(f"dim 0 must be divisible by groups (dirac_: shape {shape}, groups {groups})")
    out_per_group = shape[0] // groups
    centre = tuple(k // 2 for k in shape[2:])
    delta = np.zeros(shape, dtype=np.float32)
    for g in range(groups):
        for d in range(min(out_per_group, shape[1])):
            delta[(g * out_per_group + d, d) + centre] = 1.0
    with no_grad():
        tensor.copy_(_core.tensor(delta, dtype=tensor.dtype, device=tensor.device))
    return tensor


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2013), the trailing dimensions
    flattened: the Q of a Gaussian matrix's QR with the signs of R's diagonal, as torch's."""
    if tensor.ndim < 2:
        raise ValueError(
            f"Only tensors with 2 or more dimensions are supported (orthogonal_: got shape {tuple(tensor.shape)})"
        )
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    with no_grad():
        flat = _core.empty((rows, cols), device="cpu").normal_(0.0, 1.0, generator=generator).numpy().astype(np.float64)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # Q uniform over the orthogonal group (Mezzadri 2006)
    if rows < cols:
        q = q.T
    values = (q * gain).astype(np.float32).reshape(tuple(tensor.shape))
    with no_grad():
        tensor.copy_(_core.tensor(values, dtype=tensor.dtype, device=tensor.device))
    return tensor


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator=None) -> Tensor:
    """N(0, std**2) values in a 2-d tensor, with ``ceil(sparsity * rows)`` of each column's
    entries, at random rows, set to zero (Martens 2010)."""
    if tensor.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported (sparse_: got shape {tuple(tensor.shape)})")
    rows, cols = tensor.shape
    num_zeros = math.ceil(sparsity * rows)
    with no_grad():
        tensor.normal_(0.0, std, generator=generator)
        keep = np.ones((rows, cols), dtype=np.float32)
        for col in range(cols):
            zero_rows = randperm(rows, generator=generator).numpy()[:num_zeros]
            keep[zero_rows, col] = 0.0
        tensor.mul_(_core.tensor(keep, dtype=tensor.dtype, device=tensor.device))
    return tensor


def _deprecated(new):
    """torch's old names without the underscore (``init.normal``), with its FutureWarning."""
    old = new.__name__[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(
            f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new.__name__}`.", FutureWarning, stacklevel=2
        )
        return new(*args, **kwargs)

    deprecated_init.__name__ = old
    deprecated_init.__doc__ = f"Deprecated: use ``{new.__name__}``."
    return deprecated_init


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
