"""Spatial ops of ``torch.nn.functional`` composed from minidiff's ops: ``unfold``/``fold``, 1-D
and 2-D pooling with torch's windows (``F.max_pool2d``/``avg_pool2d`` are these), unpooling,
adaptive 1-D pooling, the non-constant modes of ``F.pad``, ``channel_shuffle``, ``batch_norm``,
the deprecated ``upsample`` aliases, and the dilated and grouped convolutions behind ``F.conv2d``,
``F.conv_transpose2d`` and ``F.conv1d`` (their dilation-1, groups-1 forms are the native ops).

Every sliding-window op reads its windows with ``index_select`` (one per spatial dim) from the
input, extended by one fill slot (0 or -inf) that padded taps point at; ``fold`` is the adjoint,
a sum of a few ``index_select``s (one per overlap level, not per pixel). The index tables are
computed on the host from the shapes, so gradients come from ``index_select``'s backward. Only
the returned max-pooling indices and ``max_unpool``'s indices are read back to the host.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ._core import Tensor, is_grad_enabled
from ._core import tensor as _tensor
from ._core.functional import _pad_by_mode, cat, index_select, pad, where
from ._core.functional import conv2d as _conv2d_native
from ._core.functional import conv_transpose2d as _conv_transpose2d_native
from ._dtypes import LOW_FLOATS as _LOW_FLOATS
from .autograd import no_grad as _no_grad
from .functional import (
    _check_input,
    _check_tensor,
    _float32,
    _pool_input,
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    interpolate,
)

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "avg_pool1d",
    "batch_norm",
    "channel_shuffle",
    "fold",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "unfold",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
]


# ---- argument checks


def _ints(op: str, name: str, value, n: int) -> tuple[int, ...]:
    """``value`` (an int, or a sequence of 1 or n ints) as n ints, as torch's _single/_pair."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    if (
        isinstance(value, (tuple, list))
        and len(value) in (1, n)
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        return tuple(int(v) for v in value) * (n if len(value) == 1 else 1)
    what = "an int" if n == 1 else f"an int or a sequence of {n} ints"
    raise TypeError(f"{op}: {name} must be {what}, got {value!r}")


def _positive(op: str, name: str, values: tuple[int, ...], minimum: int = 1) -> tuple[int, ...]:
    if any(v < minimum for v in values):
        rule = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{op}: {name} must be {rule}, got {values}")
    return values


def _index(positions: np.ndarray, device) -> Tensor:
    return _tensor(np.ascontiguousarray(positions, dtype=np.int64), dtype="int64", device=device)


def _pad_spec(ndim: int, dim: int, left: int, right: int) -> list[int]:
    """F.pad's list (last dim first) padding only ``dim``."""
    spec = [0] * (2 * (ndim - dim))
    spec[-2], spec[-1] = left, right
    return spec


# ---- window tables (host) and their gathers (device)


def _positions(size: int, out: int, kernel: int, stride: int, padding: int, dilation: int) -> np.ndarray:
    """(out, kernel) input position of each window tap; -1 where the tap falls outside the input
    (in the padding, or past it in ceil mode)."""
    pos = np.arange(out).reshape(out, 1) * stride + np.arange(kernel).reshape(1, kernel) * dilation - padding
    return np.where((pos >= 0) & (pos < size), pos, -1)


def _is_prefix(flat: np.ndarray) -> bool:
    return bool(flat.size) and bool(np.array_equal(flat, np.arange(flat.size)))


def _take(x: Tensor, dim: int, positions: np.ndarray, fill: float) -> Tensor:
    """``x`` indexed along ``dim`` by ``positions`` (flattened); -1 reads ``fill``. Windows that
    tile the input (stride == kernel, no padding or dilation) are a slice, not a gather."""
    flat = positions.reshape(-1)
    size = x.shape[dim]
    if _is_prefix(flat):
        return x if flat.size == size else x.narrow(dim, 0, flat.size)
    if (flat < 0).any():
        x = pad(x, _pad_spec(x.ndim, dim, 0, 1), value=fill)  # the fill slot, at index `size`
        flat = np.where(flat < 0, size, flat)
    return index_select(x, dim, _index(flat, x.device))


def _take_windows(x: Tensor, rows: np.ndarray, cols: np.ndarray, fill: float) -> Tensor:
    """(N, C, oh * kh, ow * kw) taps of (N, C, H, W) ``x`` at ``rows`` (oh, kh) and ``cols``
    (ow, kw). Windows that tile the input (what most networks pool with) are one slice, not a
    gather per dim: in the backward one padded copy instead of two."""
    flat_rows, flat_cols = rows.reshape(-1), cols.reshape(-1)
    if _is_prefix(flat_rows) and _is_prefix(flat_cols):
        if (flat_rows.size, flat_cols.size) == tuple(x.shape[2:]):
            return x
        return x[:, :, : flat_rows.size, : flat_cols.size]
    return _take(_take(x, 2, rows, fill), 3, cols, fill)


def _put_sum(t: Tensor, dim: int, positions: np.ndarray, size: int) -> Tensor:
    """The adjoint of ``_take(·, dim, positions, 0)``: a tensor of length ``size`` along ``dim``
    whose entry h is the sum of t's entries whose position is h (-1 entries are dropped). The
    entries are split by how many earlier ones share their position; each split is one
    ``index_select`` from ``t`` plus a zero slot, so a kernel overlapping itself m times costs m
    gathers."""
    flat = positions.reshape(-1)
    n = flat.size
    if _is_prefix(flat):
        return t if n == size else pad(t, _pad_spec(t.ndim, dim, 0, size - n))
    valid = np.flatnonzero(flat >= 0)
    order = valid[np.argsort(flat[valid], kind="stable")]  # entries grouped by target
    targets = flat[order]
    rank = np.arange(targets.size) - np.searchsorted(targets, targets, side="left")
    padded = pad(t, _pad_spec(t.ndim, dim, 0, 1))  # zero slot at index n
    out = None
    for level in range(int(rank.max()) + 1 if rank.size else 1):
        source = np.full(size, n, dtype=np.int64)
        chosen = rank == level
        source[targets[chosen]] = order[chosen]
        term = index_select(padded, dim, _index(source, t.device))
        out = term if out is None else out + term
    return out


# ---- F.pad's reflect, replicate and circular modes (also the padding layers and Conv1d's padding_mode)


def _pad_nonconstant(op: str, input, padding: tuple[int, ...], mode: str):  # noqa: A002
    """``input`` padded on its last len(padding) // 2 dims by ``mode`` ("reflect", "replicate",
    "circular"; ``padding`` in F.pad's order, last dim first) by the native ``_pad_by_mode``, also
    behind ``nn.Conv2d``'s padding modes: one ``index_select`` per padded dim, so the gradient sums
    into the positions each padded value repeats. Negative padding crops first; circular padding
    wraps within what is left (torch reads unwritten memory where it wraps further; a ValueError
    here). The input has one or two more dims than are padded, as torch's; reflect and replicate
    need every dim but the batch dim nonzero."""
    dims = len(padding) // 2
    shape = tuple(input.shape)
    if input.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{op}: expected a {dims + 1}D or {dims + 2}D input, got shape {shape}")
    if mode != "circular" and 0 in shape[-dims - 1 :]:
        raise ValueError(f"{op}: the input's non-batch dimensions must be nonzero, got shape {shape}")
    return _pad_by_mode(input, list(padding), mode, op)


# ---- unfold / fold: (N, C, H, W) <-> (N, C * kh * kw, L), torch's channel-major block layout


def _window_args(op: str, kernel_size, dilation, padding, stride):
    kernel = _positive(op, "kernel_size", _ints(op, "kernel_size", kernel_size, 2))
    dil = _positive(op, "dilation", _ints(op, "dilation", dilation, 2))
    pads = _positive(op, "padding", _ints(op, "padding", padding, 2), minimum=0)
    steps = _positive(op, "stride", _ints(op, "stride", stride, 2))
    return kernel, dil, pads, steps


def _blocks(op: str, spatial, kernel, dilation, padding, stride) -> tuple[int, int]:
    """The number of sliding blocks along H and W; at least one each, or a ValueError."""
    sizes = zip(spatial, kernel, dilation, padding, stride)
    blocks = tuple((s + 2 * p - d * (k - 1) - 1) // st + 1 for s, k, d, p, st in sizes)
    if min(blocks) < 1:
        raise ValueError(
            f"{op}: spatial size {tuple(spatial)} with kernel_size={kernel}, dilation={dilation}, padding={padding}, "
            f"stride={stride} gives {blocks} sliding blocks; each must be at least one"
        )
    return blocks


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002 (torch's argument name)
    """Sliding blocks of (N, C, H, W) or (C, H, W) input as columns: (N, C * kh * kw, L), L the
    number of blocks (row-major), channel c's tap (i, j) in row ``c * kh * kw + i * kw + j``, as
    torch's (im2col). Zero padding; blocks that tile the input (ViT/DiT patches) are a reshape."""
    op = "unfold"
    _check_tensor(op, "input", input)
    shape = tuple(input.shape)
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3D (C, H, W) or 4D (N, C, H, W) input, got shape {shape}")
    kernel, dil, pads, steps = _window_args(op, kernel_size, dilation, padding, stride)
    x = input if input.ndim == 4 else input.unsqueeze(0)
    n, c, h, w = x.shape
    oh, ow = _blocks(op, (h, w), kernel, dil, pads, steps)
    kh, kw = kernel
    rows = _positions(h, oh, kh, steps[0], pads[0], dil[0])  # (oh, kh)
    cols = _positions(w, ow, kw, steps[1], pads[1], dil[1])  # (ow, kw)
    windows = _take_windows(x, rows, cols, 0.0)  # (N, C, oh * kh, ow * kw)
    out = windows.reshape(n, c, oh, kh, ow, kw).permute(0, 1, 3, 5, 2, 4).reshape(n, c * kh * kw, oh * ow)
    del windows  # where out is a view of the gather, its last other reference: taken over below, not copied
    if input.ndim == 3:
        out = out.squeeze(0)
    return out._own_result()  # a new tensor, as torch's (a copy where out is a view of input)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):  # noqa: A002
    """Sums sliding blocks (N, C * kh * kw, L) or (C * kh * kw, L) back into (N, C, H, W), as
    torch's (col2im): overlapping taps add up, taps in the padding are dropped; the adjoint of
    ``unfold``, so ``fold(unfold(x))`` is x times each pixel's number of blocks."""
    op = "fold"
    _check_tensor(op, "input", input)
    shape = tuple(input.shape)
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2D (C * kh * kw, L) or 3D (N, C * kh * kw, L) input, got shape {shape}")
    h, w = _positive(op, "output_size", _ints(op, "output_size", output_size, 2))
    kernel, dil, pads, steps = _window_args(op, kernel_size, dilation, padding, stride)
    oh, ow = _blocks(op, (h, w), kernel, dil, pads, steps)
    kh, kw = kernel
    x = input if input.ndim == 3 else input.unsqueeze(0)
    n, channels, blocks = x.shape
    if channels % (kh * kw):
        raise ValueError(
            f"{op}: dimension 1 of input {shape} ({channels}) is not divisible by the kernel's {kh}*{kw} taps"
        )
    if blocks != oh * ow:
        raise ValueError(
            f"{op}: input {shape} holds {blocks} blocks, but output_size={(h, w)} with kernel_size={kernel}, "
            f"dilation={dil}, padding={pads}, stride={steps} has {oh} * {ow} = {oh * ow} sliding blocks"
        )
    c = channels // (kh * kw)
    t = x.reshape(n, c, kh, kw, oh, ow).permute(0, 1, 4, 2, 5, 3).reshape(n, c, oh * kh, ow * kw)
    out = _put_sum(t, 2, _positions(h, oh, kh, steps[0], pads[0], dil[0]), h)  # (N, C, H, ow * kw)
    out = _put_sum(out, 3, _positions(w, ow, kw, steps[1], pads[1], dil[1]), w)  # (N, C, H, W)
    if input.ndim == 2:
        out = out.squeeze(0)
    return out._own_result()  # a new tensor, as torch's (a copy where out is a view of input)


# ---- dilated and grouped convolutions: F.conv2d / F.conv_transpose2d (and conv1d, the modules)
# with dilation or groups other than 1, composed around the native undilated, ungrouped ops


def _conv_groups(op: str, groups) -> int:
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if groups <= 0:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    return int(groups)


def _conv_channels(op: str, in_channels: int, out_channels: int, groups) -> int:
    """``groups`` checked against a conv layer's channels, as torch's _ConvNd."""
    g = _conv_groups(op, groups)
    if in_channels % g or out_channels % g:
        raise ValueError(
            f"{op}: in_channels ({in_channels}) and out_channels ({out_channels}) must both be divisible by "
            f"groups ({g})"
        )
    return g


def _conv_padding(op: str, padding, kernel, dilation, stride) -> tuple[tuple[int, int], ...]:
    """(before, after) zero padding of each spatial dim: ints, "valid", or "same" (stride 1), which
    pads dilation * (kernel - 1) in all, the odd one after, as torch."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, {n} ints, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' needs stride 1, got {tuple(stride)}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    pads = _positive(op, "padding", _ints(op, "padding", padding, n), minimum=0)
    return tuple((p, p) for p in pads)


def _conv_operands(op: str, input, weight, bias, groups, transposed: bool) -> tuple[int, int]:  # noqa: A002
    """(groups, out_channels) of a conv of ``input`` (N, C, H, W) or (C, H, W) by ``weight``:
    (out, C / groups, kh, kw), or (C, out / groups, kh, kw) when ``transposed``; shapes checked."""
    _check_tensor(op, "input", input)
    _check_tensor(op, "weight", weight)
    g = _conv_groups(op, groups)
    shape, w_shape = tuple(input.shape), tuple(weight.shape)
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3D (C, H, W) or 4D (N, C, H, W) input, got shape {shape}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: expected a 4D weight, got shape {w_shape}")
    c = shape[-3]
    if c % g:
        raise ValueError(f"{op}: the {c} channels of input {shape} are not divisible by groups={g}")
    if transposed:
        if w_shape[0] != c:
            raise ValueError(
                f"{op}: input of shape {shape} has {c} channels, but weight of shape {w_shape} expects {w_shape[0]}"
            )
        out_channels = w_shape[1] * g
    else:
        if w_shape[1] * g != c:
            raise ValueError(
                f"{op}: input of shape {shape} has {c} channels, but weight of shape {w_shape} with groups={g} "
                f"expects {w_shape[1] * g}"
            )
        if w_shape[0] % g:
            raise ValueError(
                f"{op}: the {w_shape[0]} output channels of weight {w_shape} are not divisible by groups={g}"
            )
        out_channels = w_shape[0]
    if bias is not None:
        _check_tensor(op, "bias", bias)
        if tuple(bias.shape) != (out_channels,):
            raise ValueError(
                f"{op}: bias must have shape ({out_channels},) for weight {w_shape}, got {tuple(bias.shape)}"
            )
    return g, out_channels


def _dilate_kernel(weight: Tensor, dilation) -> Tensor:
    """(O, I, kh, kw) ``weight`` with dilation - 1 zeros between neighbouring taps:
    (O, I, (kh - 1) * dh + 1, (kw - 1) * dw + 1), in the graph, so its gradient is the taps'."""
    (dh, dw), (o, i, kh, kw) = dilation, tuple(weight.shape)
    if (dh, dw) == (1, 1):
        return weight
    spread = pad(weight.reshape(o, i, kh, 1, kw, 1), [0, dw - 1, 0, 0, 0, dh - 1])  # (O, I, kh, dh, kw, dw)
    return spread.reshape(o, i, kh * dh, kw * dw)[:, :, : (kh - 1) * dh + 1, : (kw - 1) * dw + 1]


def _per_group(conv, x: Tensor, weight: Tensor, bias, groups: int) -> Tensor:
    """``conv(x_g, weight_g, bias_g)`` of each of ``groups`` channel blocks (weight and bias split
    along dim 0), concatenated along channels."""
    if groups == 1:
        return conv(x, weight, bias)
    biases = bias.chunk(groups, 0) if bias is not None else [None] * groups
    return cat([conv(*block) for block in zip(x.chunk(groups, 1), weight.chunk(groups, 0), biases)], 1)


def _depthwise_taps(x: Tensor, weight: Tensor, bias, stride, dilation, out_size) -> Tensor:
    """Depthwise conv of zero-padded (N, C, Hp, Wp) ``x`` by a (C * m, 1, kh, kw) ``weight`` (groups
    = C, output channel c * m + j reads channel c): the sum over the kernel's taps of the strided
    input window under the tap times that tap's per-channel weights, all elementwise."""
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    m = o // c
    (sh, sw), (dh, dw), (oh, ow) = stride, dilation, out_size
    taps = weight.reshape(c, m, kh, kw)
    out = None
    for i in range(kh):
        for j in range(kw):
            window = x[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw]
            if m == 1:
                term = window * taps[:, 0, i, j].reshape(1, c, 1, 1)  # (N, C, oh, ow)
            else:
                term = window.reshape(n, c, 1, oh, ow) * taps[:, :, i, j].reshape(1, c, m, 1, 1)  # (N, C, m, oh, ow)
            out = term if out is None else out + term
    out = out.reshape(n, o, oh, ow)
    return out if bias is None else out + bias.reshape(1, o, 1, 1)


def _conv2d_composed(input, weight, bias, stride, padding, dilation, groups):  # noqa: A002
    """``F.conv2d`` with any dilation and groups. Along a dim with stride 1 the padded input is split
    into ``dilation`` phases (every d-th row, moved into the batch), each convolved with the
    undilated kernel, and the outputs interleaved: the native conv's FLOPs (and its Winograd
    path) stay those of the undilated kernel. Along a strided dim the kernel gets zeros between
    its taps instead. Each group is one native conv, the results concatenated; a depthwise conv
    (one input channel per group) is a sum of elementwise products over the taps instead."""
    op = "conv2d"
    g, _ = _conv_operands(op, input, weight, bias, groups, transposed=False)
    steps = _positive(op, "stride", _ints(op, "stride", stride, 2))
    dil = _positive(op, "dilation", _ints(op, "dilation", dilation, 2))
    kernel = tuple(weight.shape[2:])
    pads = _conv_padding(op, padding, kernel, dil, steps)
    batched = input.ndim == 4
    x = input if batched else input.unsqueeze(0)
    n, c, h, w = x.shape
    padded = tuple(size + a + b for size, (a, b) in zip((h, w), pads))
    reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dil))
    if any(p < r for p, r in zip(padded, reach)):
        raise ValueError(
            f"{op}: weight of shape {tuple(weight.shape)} with dilation {dil} spans {reach}, more than the "
            f"padded input {padded} (input of shape {tuple(input.shape)}, padding {pads})"
        )
    out_size = tuple((p - r) // s + 1 for p, r, s in zip(padded, reach, steps))
    (top, bottom), (left, right) = pads
    if g > 1 and weight.shape[1] == 1:  # depthwise: no per-group ops (their backward grows as groups squared)
        x = pad(x, [left, right, top, bottom]) if top or bottom or left or right else x
        out = _depthwise_taps(x, weight, bias, steps, dil, out_size)._own_result()  # no view of the taps' sum
        return out if batched else out.squeeze(0)  # unbatched: a view of the batched result, as torch's
    phases = tuple(d if s == 1 else 1 for s, d in zip(steps, dil))
    spread = tuple(1 if s == 1 else d for s, d in zip(steps, dil))
    extra = tuple(-p % ph for p, ph in zip(padded, phases))  # up to whole phases: rows no kept output reads
    if top or left or bottom + extra[0] or right + extra[1]:
        x = pad(x, [left, right + extra[1], top, bottom + extra[0]])
    ph, pw = phases
    if phases != (1, 1):
        qh, qw = (padded[0] + extra[0]) // ph, (padded[1] + extra[1]) // pw
        x = x.reshape(n, c, qh, ph, qw, pw).permute(3, 5, 0, 1, 2, 4).reshape(ph * pw * n, c, qh, qw)
    out = _per_group(lambda a, b, bb: _conv2d_native(a, b, bb, steps, 0), x, _dilate_kernel(weight, spread), bias, g)
    if phases != (1, 1):  # (ph * pw * N, O, oh, ow) -> (N, O, oh * ph, ow * pw): phase r of row q is row q * ph + r
        o, oh, ow = out.shape[1:]
        out = out.reshape(ph, pw, n, o, oh, ow).permute(2, 3, 4, 0, 5, 1).reshape(n, o, oh * ph, ow * pw)
        if (oh * ph, ow * pw) != out_size:
            out = out[:, :, : out_size[0], : out_size[1]]
    out = out._own_result()  # a new tensor, as torch's, not a view of the interleaved phases or the crop
    return out if batched else out.squeeze(0)  # unbatched: a view of the batched result, as torch's


def _conv_transpose2d_composed(input, weight, bias, stride, padding, output_padding, groups, dilation):  # noqa: A002
    """``F.conv_transpose2d`` with any dilation and groups: the native op (no padding) per group
    with the kernel's taps spread apart by the dilation, giving the full (N, O, (H - 1) * s +
    d * (kh - 1) + 1, ...) output; then ``padding`` is cropped off both ends and
    ``output_padding`` given back at the end (zeros past the full output, as torch), and the bias
    added (it covers those zeros too)."""
    op = "conv_transpose2d"
    g, out_channels = _conv_operands(op, input, weight, bias, groups, transposed=True)
    steps = _positive(op, "stride", _ints(op, "stride", stride, 2))
    pads = _positive(op, "padding", _ints(op, "padding", padding, 2), minimum=0)
    extra = _positive(op, "output_padding", _ints(op, "output_padding", output_padding, 2), minimum=0)
    dil = _positive(op, "dilation", _ints(op, "dilation", dilation, 2))
    if any(e >= max(s, d) for e, s, d in zip(extra, steps, dil)):
        raise ValueError(
            f"{op}: output_padding must be smaller than either stride or dilation, got output_padding={extra} "
            f"with stride={steps} and dilation={dil}"
        )
    batched = input.ndim == 4
    x = input if batched else input.unsqueeze(0)
    size = tuple(x.shape[2:])
    full = tuple((i - 1) * s + d * (k - 1) + 1 for i, s, d, k in zip(size, steps, dil, weight.shape[2:]))
    out_size = tuple(f - 2 * p + e for f, p, e in zip(full, pads, extra))
    if min(out_size) < 0:  # an empty output is torch's
        raise ValueError(
            f"{op}: input of shape {tuple(input.shape)} with weight {tuple(weight.shape)}, stride={steps}, "
            f"padding={pads}, output_padding={extra}, dilation={dil} gives output size {out_size}"
        )
    kernel = _dilate_kernel(weight, dil)
    out = _per_group(lambda a, b, _: _conv_transpose2d_native(a, b, None, steps, 0, 0), x, kernel, None, g)
    (pt, pl), (eh, ew) = pads, extra
    if pads != (0, 0) or extra != (0, 0):
        out = pad(out, [-pl, ew - pl, -pt, eh - pt])  # negative: cropped
    if bias is not None:
        out = out + bias.reshape(1, out_channels, 1, 1)
    out = out._own_result()  # a new tensor, as torch's, not a view of the crop
    return out if batched else out.squeeze(0)  # unbatched: a view of the batched result, as torch's


# ---- general-window pooling on (N, C, H, W); the 1-D ops are these with H = 1


def _pool_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """torch's pooling_output_shape: in ceil mode the last window must start inside the input or
    its left padding."""
    out = (size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _kernel_stride_padding(op: str, n: int, kernel_size, stride, padding):
    """The window of pooling and unpooling as n ints each: a positive kernel, a positive stride (the
    kernel when None or empty, as torch's) and a non-negative padding."""
    kernel = _positive(op, "kernel_size", _ints(op, "kernel_size", kernel_size, n))
    none = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    steps = kernel if none else _positive(op, "stride", _ints(op, "stride", stride, n))
    pads = _positive(op, "padding", _ints(op, "padding", padding, n), minimum=0)
    return kernel, steps, pads


def _pool_args(op: str, n: int, kernel_size, stride, padding, dilation):
    kernel, steps, pads = _kernel_stride_padding(op, n, kernel_size, stride, padding)
    dil = _positive(op, "dilation", _ints(op, "dilation", dilation, n))
    # torch checks half the kernel (not the dilated one), so every window holds an input value
    if any(p > k // 2 for k, p in zip(kernel, pads)):
        raise ValueError(
            f"{op}: padding should be at most half of kernel size, got padding={pads}, kernel_size={kernel}"
        )
    return kernel, steps, pads, dil


def _pool_geometry(op: str, x: Tensor, kernel, steps, pads, dil, ceil_mode: bool, shape):
    _, _, h, w = x.shape
    out = tuple(_pool_size(s, k, st, p, d, ceil_mode) for s, k, st, p, d in zip((h, w), kernel, steps, pads, dil))
    if min(out) < 1:
        raise ValueError(
            f"{op}: input of shape {shape} with kernel_size={kernel}, stride={steps}, padding={pads}, "
            f"dilation={dil} gives output size {out}, which is too small"
        )
    rows = _positions(h, out[0], kernel[0], steps[0], pads[0], dil[0])
    cols = _positions(w, out[1], kernel[1], steps[1], pads[1], dil[1])
    return rows, cols


def _first_inside(positions: np.ndarray) -> np.ndarray:
    """``positions`` (out, kernel) with each padding tap (-1) pointing at its window's first input
    position instead (a window wholly in the padding keeps -1)."""
    first = np.take_along_axis(positions, (positions >= 0).argmax(1)[:, None], 1)
    return np.where(positions >= 0, positions, first)


def _max_pool(op: str, x: Tensor, rows: np.ndarray, cols: np.ndarray, return_indices: bool):
    """Window maxima of (N, C, H, W) x and, if asked, the flat index h * W + w of each maximum
    (the first in row-major window order). A padding tap reads its window's first input row or
    column, not -inf: the maximum is the same, and where every input value is -inf the first one
    wins and takes the gradient, as torch's (a -inf padding tap ahead of it would take it)."""
    n, c, _, w = x.shape
    (oh, kh), (ow, kw) = rows.shape, cols.shape
    rows, cols = _first_inside(rows), _first_inside(cols)
    windows = _take_windows(x, rows, cols, -math.inf)  # (N, C, oh * kh, ow * kw)
    flat = windows.reshape(n, c, oh, kh, ow, kw).permute(0, 1, 2, 4, 3, 5).reshape(n, c, oh, ow, kh * kw)
    best = flat.max(4)
    if not return_indices:
        return best.values, None
    table = (rows.reshape(oh, 1, kh, 1) * w + cols.reshape(1, ow, 1, kw)).reshape(oh, ow, kh * kw)
    j = best.indices.numpy()  # (N, C, oh, ow): the winning tap
    picked = table[np.arange(oh).reshape(oh, 1), np.arange(ow).reshape(1, ow), j]
    return best.values, _index(picked, x.device)


def _avg_pool(x: Tensor, rows, cols, steps, pads, count_include_pad: bool, divisor_override) -> Tensor:
    """Window means of (N, C, H, W) x (padding taps read 0) with torch's divisors: the window
    clipped to the padded input (``count_include_pad``) or to the input, or ``divisor_override``."""
    if x.dtype in _LOW_FLOATS:  # summed and divided in float32, rounded once, as torch's
        return _avg_pool(x.float(), rows, cols, steps, pads, count_include_pad, divisor_override).to(x.dtype)
    n, c, h, w = x.shape
    (oh, kh), (ow, kw) = rows.shape, cols.shape
    windows = _take_windows(x, rows, cols, 0.0).reshape(n, c, oh, kh, ow, kw)
    if divisor_override is not None:
        return windows.sum((3, 5)) / float(divisor_override)
    counts = []
    for size, out, k, s, p in ((h, oh, kh, steps[0], pads[0]), (w, ow, kw, steps[1], pads[1])):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)
        counts.append(end - start if count_include_pad else np.minimum(end, size) - np.maximum(start, 0))
    divisor = (counts[0].reshape(oh, 1) * counts[1].reshape(1, ow)).astype(np.float32)
    if (divisor == kh * kw).all():  # every window whole: one op, not a sum and a division
        return windows.mean((3, 5))
    if (divisor == divisor.flat[0]).all():
        return windows.sum((3, 5)) / float(divisor.flat[0])
    return windows.sum((3, 5)) / _tensor(divisor, device=x.device)


def _tiles(x: Tensor, kernel, steps, pads, dil, ceil_mode: bool):
    """(oh, ow) when the windows tile the top-left of (N, C, H, W) ``x`` (stride == kernel, no
    padding or dilation; ceil mode only where it adds no window), else None. Such pooling (what
    most networks do) is a reshape, with no index tables to build on the host."""
    (h, w), (kh, kw) = x.shape[2:], kernel
    if steps != kernel or pads != (0, 0) or dil != (1, 1) or h < kh or w < kw:
        return None
    if ceil_mode and (h % kh or w % kw):
        return None
    return h // kh, w // kw


def _tiled_windows(x: Tensor, kernel, tiles) -> Tensor:
    """(N, C, oh, kh, ow, kw) windows of x; rows and columns past the last window are dropped."""
    n, c, h, w = x.shape
    (kh, kw), (oh, ow) = kernel, tiles
    if (oh * kh, ow * kw) != (h, w):
        x = x[:, :, : oh * kh, : ow * kw]
    return x.reshape(n, c, oh, kh, ow, kw)


def _max_pool2d(op: str, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):  # noqa: A002
    """``F.max_pool2d`` (and ``max_pool2d_with_indices``): maxima, or (maxima, indices)."""
    x, batched = _pool_input(op, input, 2)
    kernel, steps, pads, dil = _pool_args(op, 2, kernel_size, stride, padding, dilation)
    tiles = None if return_indices else _tiles(x, kernel, steps, pads, dil, ceil_mode)
    if tiles is not None:
        n, c, (oh, ow), (kh, kw) = x.shape[0], x.shape[1], tiles, kernel
        # each window's values in row-major order, so max picks the first maximum in that order
        flat = _tiled_windows(x, kernel, tiles).permute(0, 1, 2, 4, 3, 5).reshape(n, c, oh, ow, kh * kw)
        out = flat.max(4).values
        if not batched:  # the squeeze then holds the maxima's last reference: taken over, not copied
            out = out.squeeze(0)
        return out._own_result()  # a new tensor, as torch's, not a view
    rows, cols = _pool_geometry(op, x, kernel, steps, pads, dil, ceil_mode, tuple(input.shape))
    out, indices = _max_pool(op, x, rows, cols, return_indices)
    if not batched:  # the squeezes then hold the last references: taken over below, not copied
        out, indices = out.squeeze(0), (None if indices is None else indices.squeeze(0))
    out = out._own_result()  # new tensors, as torch's, not views
    return (out, indices._own_result()) if return_indices else out


def _avg_pool2d(op: str, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):  # noqa: A002
    """``F.avg_pool2d``: window means with torch's divisors."""
    x, batched = _pool_input(op, input, 2)
    kernel, steps, pads, _ = _pool_args(op, 2, kernel_size, stride, padding, 1)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or isinstance(divisor_override, bool):
            raise TypeError(f"{op}: divisor_override must be an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must be nonzero, got {divisor_override}")
    tiles = _tiles(x, kernel, steps, pads, (1, 1), ceil_mode)
    if tiles is not None:
        windows = _tiled_windows(x, kernel, tiles)
        out = windows.mean((3, 5)) if divisor_override is None else windows.sum((3, 5)) / float(divisor_override)
    else:
        rows, cols = _pool_geometry(op, x, kernel, steps, pads, (1, 1), ceil_mode, tuple(input.shape))
        out = _avg_pool(x, rows, cols, steps, pads, count_include_pad, divisor_override)
    if not batched:  # the squeeze then holds out's last reference: taken over below, not copied
        out = out.squeeze(0)
    return out._own_result()  # a new tensor, as torch's, not a view


def max_pool2d_with_indices(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """(maxima, indices) of ``F.max_pool2d``, whatever ``return_indices`` says, as torch's."""
    return _max_pool2d("max_pool2d_with_indices", input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool1d_with_indices(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """(maxima, indices) of ``max_pool1d``, whatever ``return_indices`` says, as torch's."""
    return _max_pool1d("max_pool1d_with_indices", input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _max_pool1d(op, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):  # noqa: A002
    x, batched = _pool_input(op, input, 1)
    kernel, steps, pads, dil = _pool_args(op, 1, kernel_size, stride, padding, dilation)
    rows, cols = _pool_geometry(
        op, x, (1,) + kernel, (1,) + steps, (0,) + pads, (1,) + dil, ceil_mode, tuple(input.shape)
    )
    out, indices = _max_pool(op, x, rows, cols, return_indices)  # H = 1: the index is the position in L
    out = out.squeeze(2) if batched else out.squeeze(2).squeeze(0)
    if not return_indices:
        # as torch's: outside autograd a new tensor (the squeeze takes over the maxima's buffer, held
        # nowhere else), in it a view of max_pool1d_with_indices' maxima
        return out if x.requires_grad and is_grad_enabled() else out._own_result()
    return out, (indices.squeeze(2) if batched else indices.squeeze(2).squeeze(0))


def max_pool1d(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """Maximum over sliding windows of (N, C, L) or (C, L) input, as torch's: ``stride``
    (default ``kernel_size``), ``padding`` (at most half the kernel; padded taps never
    win), ``dilation`` and ``ceil_mode``. ``return_indices=True`` also returns each maximum's
    position in L (int64). Ties go to the first maximum; a window with NaN gives NaN."""
    return _max_pool1d("max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool1d(
    input,  # noqa: A002
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
):
    """Mean over sliding windows of (N, C, L) or (C, L) input, as torch's: ``stride`` (default
    ``kernel_size``), zero ``padding`` (at most half the kernel) counted in the divisor when
    ``count_include_pad``, and ``ceil_mode`` (a window past the padded end divides by the part
    that is inside)."""
    op = "avg_pool1d"
    x, batched = _pool_input(op, input, 1)
    kernel, steps, pads, dil = _pool_args(op, 1, kernel_size, stride, padding, 1)
    kernel, steps, pads = (1,) + kernel, (1,) + steps, (0,) + pads
    rows, cols = _pool_geometry(op, x, kernel, steps, pads, (1, 1), ceil_mode, tuple(input.shape))
    out = _avg_pool(x, rows, cols, steps, pads, count_include_pad, None).squeeze(2)
    return out if batched else out.squeeze(0)  # a view of the 2-D pool's result, as torch's


# ---- adaptive 1-D pooling: the 2-D ops over (N, C, 1, L)


def _adaptive_size_1d(op: str, output_size) -> int:
    """The output length of adaptive 1-D pooling: an int or a 1-tuple, non-negative."""
    (size,) = _positive(op, "output_size", _ints(op, "output_size", output_size, 1), minimum=0)
    return size


def _adaptive_1d(op: str, input, output_size):  # noqa: A002
    x, batched = _pool_input(op, input, 1)  # (N, C, 1, L)
    size = _adaptive_size_1d(op, output_size)
    return (x if batched else x.squeeze(0)), size  # (N, C, 1, L) or (C, 1, L)


def adaptive_avg_pool1d(input, output_size):  # noqa: A002
    """Mean over torch's adaptive bins of (N, C, L) or (C, L) input, giving (..., output_size);
    bins may differ in size and overlap (see ``F.adaptive_avg_pool2d``)."""
    x, size = _adaptive_1d("adaptive_avg_pool1d", input, output_size)
    return adaptive_avg_pool2d(x, (1, size)).squeeze(-2)  # a view of the 2-D pool's result, as torch's


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):  # noqa: A002
    """Maximum over torch's adaptive bins of (N, C, L) or (C, L) input; ``return_indices=True``
    also returns each maximum's position in L (int64). Ties go to the first maximum."""
    x, size = _adaptive_1d("adaptive_max_pool1d", input, output_size)
    if not return_indices:
        return adaptive_max_pool2d(x, (1, size)).squeeze(-2)  # a view of the 2-D pool's result, as torch's
    out, indices = adaptive_max_pool2d(x, (1, size), True)
    return out.squeeze(-2), indices.squeeze(-2)  # the flat index h * L + l with h = 0 is l


def adaptive_max_pool1d_with_indices(input, output_size, return_indices: bool = False):  # noqa: A002
    """(maxima, indices) of ``adaptive_max_pool1d``, whatever ``return_indices`` says, as torch's."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices: bool = False):  # noqa: A002
    """(maxima, indices) of ``adaptive_max_pool2d``, whatever ``return_indices`` says, as torch's."""
    return adaptive_max_pool2d(input, output_size, True)


# ---- unpooling: each input value goes to its index in the (larger) output plane, zeros elsewhere


def _unpool_output_size(op: str, spatial, kernel, steps, pads, output_size) -> tuple[int, ...]:
    """torch's _unpool_output_size: the default (in - 1) * stride + kernel - 2 * padding, or a
    given size (optionally with N and C in front) within stride of it."""
    default = tuple((s - 1) * st + k - 2 * p for s, k, st, p in zip(spatial, kernel, steps, pads))
    if output_size is None:
        sizes = default
    else:
        if not isinstance(output_size, (tuple, list)):
            raise TypeError(f"{op}: output_size must be a sequence of ints, got {output_size!r}")
        sizes = tuple(int(v) for v in output_size)
        if len(sizes) == len(kernel) + 2:
            sizes = sizes[2:]
        if len(sizes) != len(kernel):
            raise ValueError(
                f"{op}: output_size should be a sequence containing {len(kernel)} or {len(kernel) + 2} elements, "
                f"but it has a length of {len(output_size)}"
            )
        for d, (size, base, st) in enumerate(zip(sizes, default, steps)):
            if not base - st < size < base + st:
                raise ValueError(
                    f"{op}: invalid output_size {tuple(output_size)} (dim {d} must be between {base - st} and "
                    f"{base + st}, exclusive)"
                )
    if min(sizes) < 1:
        raise ValueError(f"{op}: input spatial size {tuple(spatial)} gives an empty output {sizes}")
    return sizes


def _unpool(op: str, x: Tensor, indices: Tensor, plane: int) -> Tensor:
    """(N, C, plane) output of (N, C, P) x whose values go to the flat positions ``indices``.

    The output gathers, per position, the last input that names it (torch's CPU kernel writes in
    order, so the last one stays); the gradient of every input is the upstream gradient at its
    index, as torch's backward gathers it, also for inputs that name an already-named position
    (overlapping pooling windows): those join the graph as ``v - v.detach()`` (0 in value)."""
    n, c, p = x.shape
    idx = indices.numpy().reshape(n * c, p)
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise ValueError(f"{op}: found an invalid max index {bad} for an output plane of {plane} positions")
    rows = np.repeat(np.arange(n * c), p)
    flat = (rows * plane + idx.reshape(-1)).astype(np.int64)  # target in the (N * C * plane) output
    sources = np.tile(np.arange(p), n * c) + rows * (p + 1)  # source in the (N * C * (P + 1)) input
    order = np.argsort(flat, kind="stable")
    targets = flat[order]
    # rank 0 is the last writer of each target, 1 the one before, ...
    ends = np.searchsorted(targets, targets, side="right")
    rank = ends - 1 - np.arange(targets.size)
    padded = pad(x, (0, 1)).reshape(n * c * (p + 1))  # zero slot at each plane's end
    empty = p  # the zero slot of plane 0
    out = None
    for level in range(int(rank.max()) + 1 if rank.size else 1):
        source = np.full(n * c * plane, empty, dtype=np.int64)
        chosen = rank == level
        source[targets[chosen]] = sources[order[chosen]]
        term = index_select(padded, 0, _index(source, x.device))
        if level == 0:
            out = term
        else:
            value = term.detach()
            out = out + where(value.isfinite(), term - value, 0.0)
    return out.reshape(n, c, plane)


def _unpool_nd(op: str, spatial: int, input, indices, kernel_size, stride, padding, output_size):  # noqa: A002
    _check_tensor(op, "input", input)
    _check_tensor(op, "indices", indices)
    shape = tuple(input.shape)
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: expected a {spatial + 1}D or {spatial + 2}D input, got shape {shape}")
    if indices.dtype != "int64":
        raise TypeError(f"{op}: indices must be int64, got {indices.dtype}")
    if tuple(indices.shape) != shape:
        raise ValueError(f"{op}: indices of shape {tuple(indices.shape)} differ from input of shape {shape}")
    kernel, steps, pads = _kernel_stride_padding(op, spatial, kernel_size, stride, padding)
    sizes = _unpool_output_size(op, shape[-spatial:], kernel, steps, pads, output_size)
    batched = input.ndim == spatial + 2
    lead = shape[:2] if batched else (1, shape[0])
    plane = math.prod(shape[-spatial:])
    out = _unpool(op, input.reshape(*lead, plane), indices.reshape(*lead, plane), math.prod(sizes))
    return out.reshape(*(shape[:-spatial]), *sizes)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    """The partial inverse of ``max_pool2d``: (N, C, H, W) or (C, H, W) values go to their
    ``indices`` (flat h * W_out + w, from max pooling with indices) in a zero (H_out, W_out)
    plane, H_out = (H - 1) * stride + kernel - 2 * padding unless ``output_size`` says otherwise,
    as torch's. Out-of-range indices are a ValueError (the indices are checked on the host)."""
    return _unpool_nd("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):  # noqa: A002
    """The partial inverse of ``max_pool1d`` on (N, C, L) or (C, L) input (see ``max_unpool2d``)."""
    return _unpool_nd("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


# ---- channel shuffle, batch norm


def channel_shuffle(input, groups: int):  # noqa: A002
    """(N, C, *) with C = g * k viewed as (N, g, k, *), transposed to (N, k, g, *), as torch's
    (ShuffleNet): channel ``i * k + j`` moves to ``j * g + i``."""
    op = "channel_shuffle"
    _check_tensor(op, "input", input)
    shape = tuple(input.shape)
    if input.ndim <= 2:
        raise ValueError(f"{op}: expected an input of more than 2 dimensions (N, C, *), got shape {shape}")
    if not isinstance(groups, int) or isinstance(groups, bool):
        raise TypeError(f"{op}: groups must be an int, got {groups!r}")
    if groups <= 0:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    n, c, *rest = shape
    if c % groups:
        raise ValueError(f"{op}: the {c} channels of input {shape} are not divisible by groups={groups}")
    # a new tensor, as torch's: the reshape's copy is taken over; where the reshapes are views of
    # input (one group, or one channel per group), a copy
    return input.reshape(n, groups, c // groups, *rest).transpose(1, 2).reshape(shape)._own_result()


def _update_running(stat: Tensor, batch: Tensor, momentum: float, alpha: float) -> None:
    """``stat = (1 - momentum) * stat + alpha * batch`` in place; a statistic of another dtype than
    the batch's (16-bit running statistics of 16-bit input, normalised in float32) is updated
    in float32 and rounded once, as torch's."""
    if stat.dtype == batch.dtype:
        stat.mul_(1.0 - momentum).add_(batch, alpha=alpha)
    else:
        stat.copy_(stat.float() * (1.0 - momentum) + batch.float() * alpha)


def batch_norm(
    input,  # noqa: A002
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """Normalises each channel of (N, C, *) input, as torch's: with ``training`` by the batch's
    mean and biased variance over every dim but C, updating given running statistics in place by
    ``momentum`` (the variance unbiased); otherwise by ``running_mean`` and ``running_var``. Then
    scales by ``weight`` and shifts by ``bias`` (C,)."""
    op = "batch_norm"
    _check_input(op, input)
    shape = tuple(input.shape)
    if input.ndim < 2:
        raise ValueError(f"{op}: expected an input (N, C, *) of at least 2 dimensions, got shape {shape}")
    c = shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None:
            _check_tensor(op, name, t)
            if tuple(t.shape) != (c,):
                raise ValueError(
                    f"{op}: {name} must have shape ({c},) for input of shape {shape}, got {tuple(t.shape)}"
                )
    if input.dtype in _LOW_FLOATS:
        # normalised in float32 (float32 or 16-bit weights and statistics alike) and rounded once,
        # as torch's mixed-precision kernel; given running statistics are updated in place
        x, weight, bias = input.float(), _float32(weight), _float32(bias)
        if not training:
            running_mean, running_var = _float32(running_mean), _float32(running_var)
        out = batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
        return out.to(input.dtype)
    view = (1, c) + (1,) * (input.ndim - 2)
    count = input.numel() // c if c else 0
    if training and count == 0:  # an empty batch: an empty output, still in the graph; no statistics change
        centered, var = input, None
    elif training:
        if count == 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got input of shape {shape}")
        dims = (0,) + tuple(range(2, input.ndim))
        mean = input.mean(dim=dims, keepdim=True)
        centered = input - mean
        var = centered.square().mean(dim=dims, keepdim=True)  # biased, as torch normalises
        with _no_grad():
            if running_mean is not None:
                _update_running(running_mean, mean.detach().reshape(c), momentum, momentum)
            if running_var is not None:
                unbiased = momentum * count / (count - 1)
                _update_running(running_var, var.detach().reshape(c), momentum, unbiased)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: running_mean and running_var must be given when training is False")
        var = running_var.reshape(view)
        centered = input - running_mean.reshape(view)
    out = centered if var is None else centered * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(view)
    if bias is not None:
        out = out + bias.reshape(view)
    return out


# ---- upsampling aliases (deprecated in torch, kept for old code)


def upsample(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None):  # noqa: A002
    """Deprecated alias of ``interpolate`` (with torch's warning); 4-D input."""
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):  # noqa: A002
    """Deprecated: ``interpolate(..., mode="nearest")`` (with torch's warning), any output size."""
    warnings.warn("nn.functional.upsample_nearest is deprecated. Use nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input, size=None, scale_factor=None):  # noqa: A002
    """Deprecated: ``interpolate(..., mode="bilinear", align_corners=True)`` (with torch's warning)."""
    warnings.warn("nn.functional.upsample_bilinear is deprecated. Use nn.functional.interpolate instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, "bilinear", True)
