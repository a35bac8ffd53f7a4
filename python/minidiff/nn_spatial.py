"""Spatial modules of ``torch.nn`` built on the ops of functional_spatial.py: ``Unfold``/``Fold``,
the padding layers (zero, constant, reflection, replication, circular; 1-D, 2-D and 3-D), the
upsampling layers, 1-D pooling, unpooling, ``ChannelShuffle`` and ``BatchNorm1d``. Constructor
signatures, attribute names, reprs and state-dict keys are torch's.
"""

from __future__ import annotations

import numpy as np

from . import functional as F
from .functional_spatial import _adaptive_size_1d, _kernel_stride_padding, _pad_nonconstant, _window_args
from .nn import Upsample, _BatchNorm, _MaxPoolNd, _PythonModule

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveMaxPool1d",
    "AvgPool1d",
    "BatchNorm1d",
    "ChannelShuffle",
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "Fold",
    "MaxPool1d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "Unfold",
    "UpsamplingBilinear2d",
    "UpsamplingNearest2d",
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
]


# ---- unfold / fold


class Unfold(_PythonModule):
    """Sliding blocks as columns, (N, C, H, W) -> (N, C * kh * kw, L) (see ``F.unfold``)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride
        _window_args("Unfold", kernel_size, dilation, padding, stride)  # fail here, not in forward

    def forward(self, input):  # noqa: A002
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, stride={self.stride}"


class Fold(_PythonModule):
    """Sums sliding blocks back into an image, (N, C * kh * kw, L) -> (N, C, *output_size)
    (see ``F.fold``)."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride
        _window_args("Fold", kernel_size, dilation, padding, stride)

    def forward(self, input):  # noqa: A002
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )


# ---- padding layers: (left, right) for 1-D, (left, right, top, bottom) for 2-D, (left, right, top,
# bottom, front, back) for 3-D, as F.pad's order


def _padding(op: str, padding, dims: int) -> tuple[int, ...]:
    """An int (every side) or exactly 2 * dims ints, as a tuple. torch also takes tuples of other
    lengths (then F.pad pads fewer or more dims); here that is a ValueError."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        return (int(padding),) * (2 * dims)
    if isinstance(padding, (tuple, list)) and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in padding
    ):
        if len(padding) != 2 * dims:
            raise ValueError(f"{op}: padding must be an int or {2 * dims} ints, got {tuple(padding)!r}")
        return tuple(int(v) for v in padding)
    raise TypeError(f"{op}: padding must be an int or a tuple of {2 * dims} ints, got {padding!r}")


class _ConstantPadNd(_PythonModule):
    _dims = 1

    def __init__(self, padding, value: float):
        super().__init__()
        self.padding = _padding(type(self).__name__, padding, self._dims)
        self.value = value

    def forward(self, input):  # noqa: A002
        return F.pad(input, self.padding, value=self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with ``value``: ``padding`` is an int or (left, right); negative values
    crop. Any input of at least 1 dim, as torch's."""


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims with ``value``: ``padding`` is an int or (left, right, top,
    bottom); negative values crop."""

    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dims with ``value``: ``padding`` is an int or (left, right, top,
    bottom, front, back); negative values crop."""

    _dims = 3


class ZeroPad1d(ConstantPad1d):
    """Pads the last dim with zeros: ``padding`` is an int or (left, right)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pads the last two dims with zeros: ``padding`` is an int or (left, right, top, bottom)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pads the last three dims with zeros: ``padding`` is an int or 6 ints (see ``ConstantPad3d``)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ModePadNd(_PythonModule):
    _dims = 1
    _mode = "reflect"

    def __init__(self, padding):
        super().__init__()
        self.padding = _padding(type(self).__name__, padding, self._dims)

    def forward(self, input):  # noqa: A002
        return _pad_nonconstant(type(self).__name__, input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_ModePadNd):
    """Pads the last dim of (N, C, L) or (C, L) input with its reflection (the edge is not
    repeated); each side's padding must be smaller than L."""


class ReflectionPad2d(_ModePadNd):
    """Pads H and W of (N, C, H, W) or (C, H, W) input with their reflection;
    ``padding`` = (left, right, top, bottom), each smaller than its dim."""

    _dims = 2


class ReflectionPad3d(_ModePadNd):
    """Pads D, H and W of (N, C, D, H, W) or (C, D, H, W) input with their reflection;
    ``padding`` = (left, right, top, bottom, front, back), each smaller than its dim."""

    _dims = 3


class ReplicationPad1d(_ModePadNd):
    """Pads the last dim of (N, C, L) or (C, L) input by repeating its edge values."""

    _mode = "replicate"


class ReplicationPad2d(_ModePadNd):
    """Pads H and W of (N, C, H, W) or (C, H, W) input by repeating the edge rows and columns."""

    _dims, _mode = 2, "replicate"


class ReplicationPad3d(_ModePadNd):
    """Pads D, H and W of (N, C, D, H, W) or (C, D, H, W) input by repeating the edge values."""

    _dims, _mode = 3, "replicate"


class CircularPad1d(_ModePadNd):
    """Pads the last dim of (N, C, L) or (C, L) input by wrapping around (periodic boundary);
    each side's padding is at most L."""

    _mode = "circular"


class CircularPad2d(_ModePadNd):
    """Pads H and W of (N, C, H, W) or (C, H, W) input by wrapping around."""

    _dims, _mode = 2, "circular"


class CircularPad3d(_ModePadNd):
    """Pads D, H and W of (N, C, D, H, W) or (C, D, H, W) input by wrapping around."""

    _dims, _mode = 3, "circular"


# ---- upsampling layers (torch's subclasses of Upsample)


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling to ``size`` or by ``scale_factor`` (any output size)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling with ``align_corners=True``, as torch's."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


# ---- 1-D pooling and unpooling


class AvgPool1d(_PythonModule):
    """Mean over sliding windows of (N, C, L) or (C, L) input (see ``F.avg_pool1d``); the sizes are
    kept as 1-tuples, as torch's."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        window = _kernel_stride_padding("AvgPool1d", 1, kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = window
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input):  # noqa: A002
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_MaxPoolNd):
    """Maximum over sliding windows of (N, C, L) or (C, L) input (see ``F.max_pool1d``);
    ``return_indices=True`` returns (values, positions)."""

    _dims = 1

    def forward(self, input):  # noqa: A002
        return F.max_pool1d(
            input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices
        )


class AdaptiveAvgPool1d(_PythonModule):
    """Mean over torch's adaptive bins to ``output_size`` (see ``F.adaptive_avg_pool1d``)."""

    def __init__(self, output_size):
        super().__init__()
        _adaptive_size_1d("AdaptiveAvgPool1d", output_size)  # fail here, not in forward
        self.output_size = output_size

    def forward(self, input):  # noqa: A002
        return F.adaptive_avg_pool1d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_PythonModule):
    """Maximum over torch's adaptive bins to ``output_size`` (see ``F.adaptive_max_pool1d``)."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        _adaptive_size_1d("AdaptiveMaxPool1d", output_size)  # fail here, not in forward
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):  # noqa: A002
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _MaxUnpoolNd(_PythonModule):
    _dims = 1

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        window = _kernel_stride_padding(type(self).__name__, self._dims, kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = window

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool1d``: ``forward(input, indices, output_size=None)`` puts
    each value at its index in a zero output (see ``F.max_unpool1d``)."""

    def forward(self, input, indices, output_size=None):  # noqa: A002
        return F.max_unpool1d(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool2d``: ``forward(input, indices, output_size=None)`` puts
    each value at its flat index in a zero (H_out, W_out) plane (see ``F.max_unpool2d``)."""

    _dims = 2

    def forward(self, input, indices, output_size=None):  # noqa: A002
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)


# ---- channel shuffle, batch norm


class ChannelShuffle(_PythonModule):
    """(N, g * k, *) -> channels regrouped as (k, g) (see ``F.channel_shuffle``)."""

    def __init__(self, groups: int):
        super().__init__()
        if not isinstance(groups, int) or isinstance(groups, bool):
            raise TypeError(f"ChannelShuffle: groups must be an int, got {groups!r}")
        self.groups = groups

    def forward(self, input):  # noqa: A002
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input per channel, as torch's (the same state,
    buffers and running-statistics rules as ``BatchNorm2d``: ``momentum=None`` is a cumulative
    average; eval mode without tracked statistics uses the batch's)."""

    def _check_input(self, shape: tuple[int, ...]) -> None:
        if len(shape) not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected 2D (N, C) or 3D (N, C, L) input, got shape {shape}")
