"""torch's scatter, index-update, selection, searching, counting and random-sampling functions,
composed from native differentiable ops: ``scatter``/``scatter_add``/``scatter_reduce``,
``index_add``/``index_copy``/``index_fill``/``index_reduce``, ``masked_select``/``masked_scatter``,
``take``/``take_along_dim``/``put``, ``argwhere``, ``searchsorted``/``bucketize``, ``unique``,
``unique_consecutive``, ``bincount``, ``histogram``, ``multinomial``, ``normal``, ``bernoulli``
and the in-place random fills (``bernoulli_``, ``exponential_``, ``random_``, ...). ``install()`` adds
them as ``md.*`` functions and, where torch has one, as Tensor methods (with the in-place ``_`` forms).

There is no native scatter. A scatter is a reduction of source elements grouped by destination:
the indices (which carry no gradient) are sorted on the host, each group is gathered with
``index_select`` into a row padded to a power of two with the reduction's identity, and the rows
are reduced with ``sum``/``prod``/``amax``. Groups of similar size share one padded matrix, so the
memory stays under twice the source's and the op count under ~log2(largest group); every source
element is gathered once, so the gradient is the exact adjoint (``gather`` of the upstream
gradient), as torch's. int64 values (no gradient) are reduced exactly on the host with NumPy.
Random draws come from md's counter-based generators (``md.rand``), so a seeded generator gives the
same samples on every device.
"""

from __future__ import annotations

import builtins
import math
import numbers
from collections import namedtuple

import numpy as np

from . import _core
from . import functional as F
from ._core import Tensor
from ._dtypes import FLOAT_MAX, INT_DTYPES, INT_RANGE, LOW_FLOATS, NARROW_INTS, check_float_args
from ._dtypes import check_scalar_fits as _check_scalar_fits
from .autograd import no_grad
from .tensor_math import nonzero
from .tensor_more import _in_place
from .tensor_ops import _dim_list, _narrow_ints_in_int64, prod

_REDUCE_IDENTITY = {"sum": 0.0, "prod": 1.0, "amax": -math.inf, "amin": math.inf}
_INT64_IDENTITY = {"sum": 0, "prod": 1, "amax": np.iinfo(np.int64).min, "amin": np.iinfo(np.int64).max}
_INT64_UFUNC = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


# ---- argument checks


def _tensor(op: str, name: str, value) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be an md tensor, got {type(value).__name__}")
    return value


def _index_values(op: str, index, name: str = "index") -> np.ndarray:
    """An int64 index tensor's values on the host (they carry no gradient)."""
    _tensor(op, name, index)
    if index.dtype != "int64":
        raise TypeError(f"{op}: {name} must be an int64 tensor, got {index.dtype} of shape {tuple(index.shape)}")
    return index.numpy()


def _dim(op: str, dim, ndim: int) -> int:
    return _dim_list(op, dim, ndim)[0]


def _check_range(op: str, idx: np.ndarray, size: int, dim: int, negative: bool = False) -> np.ndarray:
    """idx checked against a dim of ``size`` (``[-size, size)`` with ``negative``, wrapped), or an
    IndexError in torch's words."""
    low = -size if negative else 0
    bad = (idx < low) | (idx >= size)
    if bad.any():
        raise IndexError(f"{op}: index {int(idx[bad].flat[0])} is out of bounds for dimension {dim} with size {size}")
    return np.where(idx < 0, idx + size, idx) if negative else idx


def _same_dtype(op: str, x: Tensor, other: Tensor, name: str) -> None:
    if other.dtype != x.dtype:
        raise TypeError(f"{op}: expected {name} to have the dtype of self ({x.dtype}), got {other.dtype}")


def _device_index(values: np.ndarray, like: Tensor) -> Tensor:
    return _core.tensor(np.ascontiguousarray(values, dtype=np.int64), dtype="int64", device=like.device)


def _graph(*tensors) -> bool:
    return _core.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in tensors)


def _zero_grad_of(values: Tensor, *inputs) -> Tensor:
    """values (computed outside the graph) with a zero gradient for each input that requires grad,
    as torch gives for sampling functions (normal, bernoulli): the result requires grad then."""
    for t in inputs:
        if _graph(t):
            values = F.where(_core.zeros(values.shape, device=values.device), t, values)
    return values


# ---- grouped reductions (the scatter kernel written with gather and sum)


def _reduce_rows(values: Tensor, dest: np.ndarray, slots: int, reduce: str) -> Tensor:
    """(slots, R): row s reduces the rows of ``values`` (N, R) whose ``dest`` is s, with ``reduce``
    ("sum", "prod", "amax", "amin", "mean"); a slot no row reaches holds the identity (0 for
    mean). Differentiable for float values (amax/amin: see ``_extreme_rows``)."""
    n, r = values.shape
    if values.dtype == "int64":
        return _reduce_rows_int64(values, dest, slots, reduce)
    if values.dtype in LOW_FLOATS:  # in float32, rounded once (the mean's counts and ties are float32)
        return _reduce_rows(values.float(), dest, slots, reduce).to(values.dtype)
    if values.dtype == "bool":  # sum/amax: any, prod/amin: all, counted in int64
        if reduce == "mean":
            raise TypeError("scatter_reduce: reduce='mean' is not supported for bool tensors, as in torch")
        counted = {"sum": "sum", "amax": "sum", "prod": "prod", "amin": "prod"}[reduce]
        return _reduce_rows_int64(values.long(), dest, slots, counted) != 0
    if reduce == "mean":
        counts = np.bincount(dest, minlength=slots).astype(np.float32)
        total = _reduce_rows(values, dest, slots, "sum")
        return total / _core.tensor(np.maximum(counts, 1.0).reshape(slots, 1), device=values.device)
    if reduce in ("amax", "amin") and _graph(values):
        return _extreme_rows(values, dest, slots, reduce)
    counts = np.bincount(dest, minlength=slots)
    identity = _core.full((1, r), _REDUCE_IDENTITY[reduce], dtype=values.dtype, device=values.device)
    padded = F.cat([values, identity], 0)  # row n: the padding
    order = np.argsort(dest, kind="stable")
    starts = np.cumsum(counts) - counts
    occupied = np.flatnonzero(counts)
    # each group padded to the power of two at or above its size: at most twice the rows
    widths = np.zeros(slots, np.int64)
    widths[occupied] = 1 << np.ceil(np.log2(counts[occupied])).astype(np.int64)
    pieces, row_of_slot, next_row = [], np.zeros(slots, np.int64), 0
    for width in np.unique(widths[occupied]):
        ids = occupied[widths[occupied] == width]
        cols = np.arange(width)
        pos = starts[ids][:, None] + cols
        rows_index = np.where(cols < counts[ids][:, None], order[np.minimum(pos, n - 1)], n)
        rows = padded.index_select(0, _device_index(rows_index.reshape(-1), values))
        if width == 1:
            pieces.append(rows)
        else:
            rows = rows.reshape(len(ids), int(width), r)
            if reduce == "sum":
                pieces.append(rows.sum(1))
            elif reduce == "prod":
                pieces.append(prod(rows, 1))
            else:
                pieces.append(rows.amax(1) if reduce == "amax" else rows.amin(1))
        row_of_slot[ids] = np.arange(next_row, next_row + len(ids))
        next_row += len(ids)
    if len(occupied) < slots:
        pieces.append(identity)
        row_of_slot[counts == 0] = next_row
    if next_row == slots and len(pieces) == 1:
        return pieces[0]  # one group per slot, in order
    joined = F.cat(pieces, 0) if len(pieces) > 1 else pieces[0]
    return joined.index_select(0, _device_index(row_of_slot, values))


def _extreme_rows(values: Tensor, dest: np.ndarray, slots: int, reduce: str) -> Tensor:
    """amax/amin by group with torch's gradient: shared evenly between the elements equal to the
    result (a tie splits it), not given to the first."""
    dest_t = _device_index(dest, values)
    with no_grad():
        result = _reduce_rows(values.detach(), dest, slots, reduce)
        winners = (values.detach() == result.index_select(0, dest_t)).float()
        ties = _reduce_rows(winners, dest, slots, "sum").clamp(1.0, None)
        weight = winners / ties.index_select(0, dest_t)
        finite = winners * (values.detach().abs() < math.inf)  # an infinite winner keeps no gradient
    share = _reduce_rows(F.where(finite, values - values.detach(), 0.0) * weight, dest, slots, "sum")
    return result + share


def _reduce_rows_int64(values: Tensor, dest: np.ndarray, slots: int, reduce: str) -> Tensor:
    """int64 reductions on the host, exact (the native max and sum of int64 are not all exact past
    2^24); mean floor-divides, as torch's."""
    v = values.numpy()
    base = "sum" if reduce == "mean" else reduce
    out = np.full((slots, v.shape[1]), _INT64_IDENTITY[base], np.int64)
    _INT64_UFUNC[base].at(out, dest, v)
    if reduce == "mean":
        out = np.floor_divide(out, np.maximum(np.bincount(dest, minlength=slots), 1)[:, None])
    return _core.tensor(out, dtype="int64", device=values.device)


# ---- scatter


def _scatter_setup(op: str, input, dim, index, src=None):
    """(x, d, src_flat, lin): input checked, the dim, src's elements that index covers as an (M, 1)
    column (None without src), and each one's destination as an offset into x flattened."""
    x = _tensor(op, "self", input)
    idx = _index_values(op, index)
    d = _dim(op, dim, x.ndim)
    xs, js = tuple(x.shape) or (1,), tuple(idx.shape) or (1,)
    if idx.ndim != x.ndim and idx.size:
        raise ValueError(
            f"{op}: index of shape {tuple(index.shape)} must have the number of dims of self, of shape {tuple(x.shape)}"
        )
    idx = idx.reshape(js) if idx.size else np.zeros((0,) * len(xs), np.int64)
    ss = None
    if isinstance(src, Tensor):
        _same_dtype(op, x, src, "src")
        ss = tuple(src.shape) or (1,)
        if len(ss) != len(xs) and idx.size:
            raise ValueError(
                f"{op}: src of shape {tuple(src.shape)} must have the number of dims of self {tuple(x.shape)}"
            )
    if idx.size:
        too_big = any(j > s for k, (j, s) in enumerate(zip(js, xs)) if k != d) or (
            ss is not None and any(j > s for j, s in zip(js, ss))
        )
        if too_big:
            with_src = f" and to be no larger than src {tuple(src.shape)}" if ss is not None else ""
            raise ValueError(
                f"{op}: expected index {tuple(index.shape)} to be no larger than self {tuple(x.shape)} apart from "
                f"dimension {d}{with_src}"
            )
    _check_range(op, idx, xs[d], d)
    strides = np.cumprod((1,) + xs[:0:-1])[::-1]
    lin = np.zeros(idx.shape, np.int64)
    for k, (j, stride) in enumerate(zip(idx.shape, strides)):
        coord = idx if k == d else np.arange(j).reshape([-1 if i == k else 1 for i in range(idx.ndim)])
        lin = lin + coord * int(stride)
    lin = lin.reshape(-1)
    src_flat = None
    if ss is not None:
        s = src.reshape(ss)
        if idx.shape != ss:
            s = s[tuple(slice(0, j) for j in idx.shape)]
        src_flat = s.reshape(len(lin), 1)
    return x, d, src_flat, lin


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``out[..., index[i][j], ...] += src[i][j]`` along ``dim``, duplicate indices accumulating, as
    torch's. Gradients: the upstream gradient for self, its ``gather`` at index for src."""
    x, _, src_flat, lin = _scatter_setup("scatter_add", input, dim, index, _tensor("scatter_add", "src", src))
    if not len(lin):
        return x.clone()
    return x + _reduce_rows(src_flat, lin, x.numel(), "sum").reshape(*x.shape)


_SCATTER_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True):
    """Each element of self reduced ("sum", "prod", "mean", "amax", "amin") with the src elements
    scattered to it (and itself unless ``include_self=False`` and something is scattered to it),
    with torch's values and gradients (amax/amin split theirs between ties; int64 mean floors).
    One deliberate difference: with ``include_self=False`` a self element left out of its slot is
    not counted as a tie (torch counts it when it equals the result, so the src elements get only
    part of the gradient and the rest is lost)."""
    op = "scatter_reduce"
    if reduce not in _SCATTER_REDUCES:
        raise ValueError(f"{op}: reduce must be one of {', '.join(_SCATTER_REDUCES)}, got {reduce!r}")
    x, _, src_flat, lin = _scatter_setup(op, input, dim, index, _tensor(op, "src", src))
    return _reduce_with_self(x.reshape(-1, 1), src_flat, lin, reduce, include_self).reshape(*x.shape)


def _reduce_with_self(rows: Tensor, src_rows: Tensor, dest: np.ndarray, reduce: str, include_self: bool) -> Tensor:
    """rows (n, R) each reduced with the src_rows sent to it: self's rows go in as elements of
    their own slot (those reached by src leave with ``include_self=False``)."""
    n = rows.shape[0]
    if not len(dest):
        return rows.clone()
    keep = np.arange(n)
    if not include_self:
        reached = np.zeros(n, bool)
        reached[dest] = True
        keep = np.flatnonzero(~reached)
        rows = rows.index_select(0, _device_index(keep, rows))
    values = F.cat([rows, src_rows], 0)
    return _reduce_rows(values, np.concatenate([keep, dest]), n, reduce)


def _last_writer(dest: np.ndarray, slots: int) -> tuple[np.ndarray, np.ndarray]:
    """(written, source): which slots dest reaches, and the position in dest of the last write to
    each (0 where none)."""
    source = np.zeros(slots, np.int64)
    source[dest] = np.arange(len(dest))  # NumPy's fancy assignment keeps the last of repeats
    written = np.zeros(slots, np.float32)
    written[dest] = 1.0
    return written, source


def _with_overwritten_grad(out: Tensor, src_rows: Tensor, dest: np.ndarray, source: np.ndarray) -> Tensor:
    """out (slots, R), whose slots took the src_rows (N, R) that wrote last (``source``), with the
    gradient at each slot given to the earlier writers too, as torch's (its src gradient is the
    upstream gradient gathered at index, overwritten or not). Each earlier row enters as
    ``where(finite, row.detach(), 0) - where(finite, row, 0)``: exactly +0 (out - 0 keeps out's
    bits, -0.0 included) with gradient -1 (an infinite or NaN row gets none)."""
    earlier = np.flatnonzero(source[dest] != np.arange(len(dest)))
    if not len(earlier) or not _graph(src_rows):
        return out
    rows = src_rows.index_select(0, _device_index(earlier, src_rows))
    with no_grad():
        finite = rows.detach().abs() < math.inf
    zero = F.where(finite, rows.detach(), 0.0) - F.where(finite, rows, 0.0)
    return out - _reduce_rows(zero, dest[earlier], out.shape[0], "sum")


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None) -> Tensor:
    """self with ``src[i][j]`` (or the number ``value``) written at ``index[i][j]`` along ``dim``.
    Where an index repeats the last write wins (torch leaves it undefined); every src element gets
    the gradient at its destination, overwritten or not, as torch's. ``reduce="add"`` or
    ``"multiply"`` is torch's legacy form: ``scatter_add`` / ``scatter_reduce(..., "prod")``."""
    op = "scatter"
    if (src is None) == (value is None):
        raise TypeError(f"{op}: expected exactly one of src (a tensor) and value (a number)")
    if value is None and not isinstance(src, Tensor):
        src, value = None, src  # scatter(dim, index, 2.0): torch's value overload
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{op}: value must be a number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if value is not None and not isinstance(value, numbers.Number):
        raise TypeError(f"{op}: value must be a number, got {type(value).__name__}")
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise ValueError(f"{op}: reduce must be 'add' or 'multiply', got {reduce!r}")
        x = _tensor(op, "self", input)
        if src is None:
            _check_scalar_fits(op, value, x.dtype, True)
            src = _core.full(tuple(index.shape), value, dtype=x.dtype, device=x.device)
        if reduce == "add":
            return scatter_add(x, dim, index, src)
        return scatter_reduce(x, dim, index, src, "prod")
    x, _, src_flat, lin = _scatter_setup(op, input, dim, index, src)
    if not len(lin):
        return x.clone()
    written, source = _last_writer(lin, x.numel())
    mask = _core.tensor(written.reshape(x.shape), device=x.device)
    if src_flat is None:
        return F.where(mask, _fill_value(op, value, x), x)
    out = F.where(mask, src_flat.reshape(-1).index_select(0, _device_index(source, x)).reshape(*x.shape), x)
    return _with_overwritten_grad(out.reshape(-1, 1), src_flat, lin, source).reshape(*x.shape)


# ---- index_* (whole slices along a dim)


def _index_setup(op: str, input, dim, index, source=None, negative: bool = False):
    """(x_rows, idx, src_rows, back): self as (n, R) rows along dim, the checked 1-D index, source as
    (k, R) rows (None without source), and back(rows) -> a tensor of self's shape."""
    x = _tensor(op, "self", input)
    d = _dim(op, dim, x.ndim)
    idx = _index_values(op, index)
    if idx.ndim > 1:
        raise IndexError(f"{op}: index is supposed to be a vector, got shape {tuple(index.shape)}")
    idx = idx.reshape(-1)
    moved = x.movedim(d, 0) if x.ndim else x.reshape(1)
    shape = tuple(moved.shape)
    n, r = shape[0], math.prod(shape[1:])
    idx = _check_range(op, idx, n, d, negative)
    src_rows = None
    if source is not None:
        _tensor(op, "source", source)
        _same_dtype(op, x, source, "source")
        s = source.movedim(d, 0) if source.ndim else source.reshape(1)
        if source.ndim != x.ndim or tuple(s.shape[1:]) != shape[1:] or s.shape[0] != len(idx):
            raise ValueError(
                f"{op}: source of shape {tuple(source.shape)} must have self's shape {tuple(x.shape)} apart from "
                f"dim {d}, whose size must be the index's length {len(idx)}"
            )
        src_rows = s.reshape(len(idx), r)

    def back(rows: Tensor) -> Tensor:
        out = rows.reshape(*shape)
        return out.movedim(0, d) if x.ndim else out.reshape(())

    return moved.reshape(n, r), idx, src_rows, back


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """``out.select(dim, index[i]) += alpha * source.select(dim, i)``, repeats accumulating."""
    rows, idx, src_rows, back = _index_setup("index_add", input, dim, index, _tensor("index_add", "source", source))
    check_float_args("index_add", rows.dtype, alpha)
    if rows.dtype in ("int64", "bool"):  # torch casts alpha to self's dtype: 2.5 adds twice, any nonzero once
        alpha = builtins.int(alpha) if rows.dtype == "int64" else builtins.bool(alpha)
    if not len(idx) or alpha is False:
        return input.clone()
    added = _reduce_rows(src_rows, idx, rows.shape[0], "sum")
    return back(rows + (added * alpha if alpha is not True and alpha != 1 else added))


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """self with ``source.select(dim, i)`` written at ``index[i]`` along dim (last write wins; each
    source slice gets the gradient at its destination, overwritten or not, as torch's)."""
    rows, idx, src_rows, back = _index_setup("index_copy", input, dim, index, _tensor("index_copy", "source", source))
    if not len(idx):
        return input.clone()
    written, source_row = _last_writer(idx, rows.shape[0])
    mask = _core.tensor(written.reshape(-1, 1), device=rows.device)
    out = F.where(mask, src_rows.index_select(0, _device_index(source_row, rows)), rows)
    return back(_with_overwritten_grad(out, src_rows, idx, source_row))


def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """self with ``value`` (a number or a 0-d tensor, which gets the gradient) in the slices
    ``index`` selects along dim (negative indices count from the end, as torch's)."""
    if isinstance(value, Tensor) and value.ndim:
        raise ValueError(f"index_fill: value must be a number or a 0-dim tensor, got shape {tuple(value.shape)}")
    rows, idx, _, back = _index_setup("index_fill", input, dim, index, negative=True)
    written = np.zeros((rows.shape[0], 1), np.float32)
    written[idx] = 1.0
    return back(F.where(_core.tensor(written, device=rows.device), _fill_value("index_fill", value, rows), rows))


def _fill_value(op: str, value, x: Tensor):
    """A fill value for x: in x's dtype where that is an integer or bool (the native where would read
    a number as float32 there), as torch casts it; a float number (or 0-d tensor) as it is. A number
    x's dtype cannot hold (NaN into int64, 300 into uint8) raises, as torch's."""
    _check_scalar_fits(op, value.detach().reshape(()).item() if isinstance(value, Tensor) else value, x.dtype, True)
    if x.dtype not in (*INT_DTYPES, "bool"):
        return value
    if isinstance(value, Tensor):
        return value.to(x.dtype) if value.dtype != x.dtype else value
    return _core.full((), value, dtype=x.dtype, device=x.device)


_INDEX_REDUCES = ("prod", "mean", "amax", "amin")


def index_reduce(input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True):
    """The slices of self at ``index`` along dim reduced ("prod", "mean", "amax", "amin") with those
    of source, as ``scatter_reduce`` does elementwise."""
    op = "index_reduce"
    if reduce not in _INDEX_REDUCES:
        raise ValueError(f"{op}: reduce must be one of {', '.join(_INDEX_REDUCES)}, got {reduce!r}")
    rows, idx, src_rows, back = _index_setup(op, input, dim, index, _tensor(op, "source", source))
    # torch's CPU kernel has bool prod/amax/amin with include_self, for self of two or more dims only
    if rows.dtype == "bool" and (reduce == "mean" or not include_self or input.ndim < 2):
        raise TypeError(
            f"{op}: reduce={reduce!r} with include_self={include_self} is not supported for bool tensors of "
            f"{input.ndim} dims (self of shape {list(input.shape)}), as in torch"
        )
    return back(_reduce_with_self(rows, src_rows, idx, reduce, include_self))


# ---- masks, take, put


def _mask_array(op: str, mask) -> np.ndarray:
    """A mask (a float32 0/1 tensor, as comparisons give here, or a NumPy bool array) on the host."""
    if isinstance(mask, np.ndarray) and mask.dtype == bool:
        return mask
    if not isinstance(mask, Tensor):
        raise TypeError(f"{op}: mask must be an md tensor of zeros and ones or a NumPy bool array")
    values = mask.detach().numpy()
    if not np.isin(values, (0, 1)).all():
        raise TypeError(
            f"{op}: mask of shape {tuple(mask.shape)} ({mask.dtype}) must hold only zeros and ones (a comparison's "
            "result)"
        )
    return values.astype(bool)


def _broadcast(op: str, *shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"{op}: shapes {', '.join(map(str, shapes))} cannot be broadcast together") from None


def masked_select(input: Tensor, mask) -> Tensor:
    """The elements of input where mask is true (the two broadcast together), as a 1-D tensor."""
    x = _tensor("masked_select", "input", input)
    m = _mask_array("masked_select", mask)
    shape = _broadcast("masked_select", tuple(x.shape), m.shape)
    picked = np.flatnonzero(np.broadcast_to(m, shape))
    return x.expand(*shape).reshape(-1).index_select(0, _device_index(picked, x))


def masked_scatter(input: Tensor, mask, source: Tensor) -> Tensor:
    """input with the elements where mask is true replaced, in order, by source's first elements."""
    op = "masked_scatter"
    x, s = _tensor(op, "input", input), _tensor(op, "source", source)
    _same_dtype(op, x, s, "source")
    m = _mask_array(op, mask)
    shape = _broadcast(op, tuple(x.shape), m.shape)
    m = np.broadcast_to(m, shape)
    count = int(m.sum())
    if count > s.numel():
        raise ValueError(f"{op}: mask selects {count} elements, but source of shape {tuple(s.shape)} has {s.numel()}")
    x = x.expand(*shape)
    if count == 0:
        return x.clone()
    position = np.maximum(np.cumsum(m.reshape(-1)) - 1, 0)
    taken = s.reshape(-1).index_select(0, _device_index(position, x)).reshape(*shape)
    return F.where(_core.tensor(m.astype(np.float32), device=x.device), taken, x)


def take(input: Tensor, index: Tensor) -> Tensor:
    """input's elements at ``index`` (any shape; negative counts from the end) in the flattened
    input, shaped as index."""
    x = _tensor("take", "input", input)
    idx = _check_range("take", _index_values("take", index), x.numel(), 0, negative=True)
    # a new tensor, as torch's: the reshape views the gather, whose buffer is taken over (no copy)
    return x.reshape(-1).index_select(0, _device_index(idx.reshape(-1), x)).reshape(*idx.shape)._own_result()


def take_along_dim(input: Tensor, indices: Tensor, dim=None) -> Tensor:
    """``gather`` with input and indices broadcast together apart from dim (negative indices count
    from the end, as torch's); with dim None, of the flattened tensors (indices in [0, numel))."""
    op = "take_along_dim"
    x = _tensor(op, "input", input)
    idx = _index_values(op, indices, "indices")
    if dim is None:  # torch's flattened form takes no negative index, unlike the other
        idx = _check_range(op, idx.reshape(-1), x.numel(), 0)
        return x.reshape(-1).index_select(0, _device_index(idx, x))
    d = _dim(op, dim, x.ndim)
    if idx.ndim != x.ndim:
        raise ValueError(
            f"{op}: input of shape {tuple(x.shape)} and indices of shape {idx.shape} need the same number of dims"
        )
    if x.ndim == 0:
        picked = x.reshape(1).index_select(0, _device_index(_check_range(op, idx.reshape(1), 1, d, True), x))
        picked = picked.reshape(())  # the gather's last other reference dropped: taken over, not copied
        return picked._own_result()
    outer = _broadcast(op, *(tuple(s[:d]) + (1,) + tuple(s[d + 1 :]) for s in (tuple(x.shape), idx.shape)))
    idx = _check_range(op, idx, x.shape[d], d, negative=True)
    xb = x.expand(*(x.shape[d] if k == d else n for k, n in enumerate(outer)))
    idx = np.broadcast_to(idx, tuple(idx.shape[d] if k == d else n for k, n in enumerate(outer)))
    return F.gather(xb, d, _device_index(idx, x))


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """input (as if flattened) with ``source``'s elements written (or added, with ``accumulate``)
    at ``index`` (negative counts from the end)."""
    x, s = _tensor("put", "input", input), _tensor("put", "source", source)
    idx = _check_range("put", _index_values("put", index), x.numel(), 0, negative=True).reshape(-1)
    _same_dtype("put", x, s, "source")
    if s.numel() != len(idx):
        raise ValueError(
            f"put: index of shape {tuple(index.shape)} and source of shape {tuple(s.shape)} must have the same "
            "number of elements"
        )
    flat = x.reshape(-1)
    if accumulate:
        out = index_add(flat, 0, _device_index(idx, x), s.reshape(-1))
    else:
        out = index_copy(flat, 0, _device_index(idx, x), s.reshape(-1))
    return out.reshape(*x.shape)


def argwhere(input: Tensor) -> Tensor:
    """The (n, ndim) int64 indices of the non-zero elements, as ``nonzero(input)``."""
    return nonzero(_tensor("argwhere", "input", input))


# ---- searching and counting


def _host_values(op: str, name: str, value) -> tuple[np.ndarray, object]:
    """(values, device): a tensor's values on the host, or a Python number as a 0-d array."""
    if isinstance(value, Tensor):
        return value.detach().numpy(), value.device
    if isinstance(value, numbers.Real):
        return np.asarray(value), None
    raise TypeError(f"{op}: {name} must be an md tensor or a number, got {type(value).__name__}")


def _no_int32(op: str, out_int32: bool) -> None:
    if out_int32:
        raise TypeError(f"{op}: out_int32=True is not supported (minidiff has no int32 dtype); the result is int64")


def searchsorted(
    sorted_sequence: Tensor, input, *, out_int32: bool = False, right: bool = False, side=None, sorter=None
):
    """For each value of input, the index in the sorted last dim of ``sorted_sequence`` where it
    would be inserted to keep the order: the first such (``side="left"``) or the last
    (``right=True`` / ``side="right"``). A 1-D sequence serves every value; otherwise its leading
    dims match input's. ``sorter`` holds the indices that sort an unsorted sequence."""
    op = "searchsorted"
    seq_t = _tensor(op, "sorted_sequence", sorted_sequence)
    if seq_t.dtype == "bool" and (isinstance(input, (bool, np.bool_)) or getattr(input, "dtype", None) == "bool"):
        raise TypeError(f"{op}: bool sorted_sequence and input are not supported, as in torch (use .long())")
    _no_int32(op, out_int32)
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"{op}: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise ValueError(f"{op}: side and right can't be set to opposites, got side of left while right was True")
        right = side == "right"
    seq = seq_t.detach().numpy()
    values, device = _host_values(op, "input", input)
    if seq.ndim == 0:
        raise ValueError(f"{op}: sorted_sequence must have at least one dim, got a 0-dim tensor")
    if sorter is not None:
        order = _index_values(op, sorter, "sorter")
        if order.shape != seq.shape:
            raise ValueError(f"{op}: sorter of shape {order.shape} must have the shape of sorted_sequence {seq.shape}")
        _check_range(op, order, seq.shape[-1], seq.ndim - 1)
        seq = np.take_along_axis(seq, order, -1)
    way = "right" if right else "left"
    if seq.ndim == 1:
        out = np.searchsorted(seq, values, side=way)
    else:
        if values.ndim != seq.ndim or values.shape[:-1] != seq.shape[:-1]:
            raise ValueError(
                f"{op}: the leading dims of sorted_sequence {seq.shape} and input {values.shape} must match (or "
                "sorted_sequence must be 1-D)"
            )
        rows_seq, rows_val = seq.reshape(-1, seq.shape[-1]), values.reshape(-1, values.shape[-1])
        out = np.stack([np.searchsorted(a, v, side=way) for a, v in zip(rows_seq, rows_val)]).reshape(values.shape)
    return _core.tensor(np.asarray(out, np.int64), dtype="int64", device=device or seq_t.device)


def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """Each value's bucket in the 1-D increasing ``boundaries``: i with ``boundaries[i-1] < x <=
    boundaries[i]`` (``boundaries[i-1] <= x < boundaries[i]`` with ``right=True``)."""
    b = _tensor("bucketize", "boundaries", boundaries)
    if b.ndim != 1:
        raise ValueError(f"bucketize: boundaries must be 1-D, got shape {tuple(b.shape)}")
    _no_int32("bucketize", out_int32)
    return searchsorted(b, input, right=right)


def _unique_result(values, inverse, counts, device, dtype, return_inverse: bool, return_counts: bool):
    out = _core.tensor(np.ascontiguousarray(values), dtype=dtype, device=device)
    result = [out]
    if return_inverse:
        # np.require, not ascontiguousarray: a 0-d input's inverse stays 0-d
        result.append(_core.tensor(np.require(inverse, np.int64, "C"), dtype="int64", device=device))
    if return_counts:
        result.append(_core.tensor(np.ascontiguousarray(counts, np.int64), dtype="int64", device=device))
    return out if len(result) == 1 else tuple(result)


def _selected_dim_only_empty(op: str, shape: tuple, d: int) -> None:
    """torch's unique along a dim refuses a zero-size dim other than the selected one."""
    if any(n == 0 for k, n in enumerate(shape) if k != d):
        raise ValueError(
            f"{op}: input of shape {shape} has zero-size dims other than the selected dim {d}, so unique "
            "cannot be applied"
        )


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim=None):  # noqa: A002
    """The distinct values of input in increasing order (of the flattened tensor, or the distinct
    slices along ``dim``), with the inverse indices (input's shape, or along dim) and counts when
    asked: a tensor, or a tuple as torch's. The values carry no gradient, as torch's. ``sorted``
    is accepted; the result is always sorted (torch's CPU result is too)."""
    x = _tensor("unique", "input", input)
    a = x.detach().numpy()
    if dim is None:
        values, inverse, counts = np.unique(a.reshape(-1), return_inverse=True, return_counts=True, equal_nan=False)
        inverse = inverse.reshape(a.shape)
    else:
        d = _dim("unique", dim, x.ndim)
        _selected_dim_only_empty("unique", a.shape, d)
        values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True, axis=d)
        inverse = inverse.reshape(-1)
    return _unique_result(values, inverse, counts, x.device, x.dtype, return_inverse, return_counts)


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """input with each run of equal consecutive values (or slices along ``dim``) kept once, and
    the inverse indices and run lengths when asked, as torch's."""
    x = _tensor("unique_consecutive", "input", input)
    a = x.detach().numpy()
    d = None if dim is None else _dim("unique_consecutive", dim, x.ndim)
    if d is not None:
        _selected_dim_only_empty("unique_consecutive", a.shape, d)
    rows = a.reshape(-1, 1) if d is None else np.moveaxis(a, d, 0).reshape(a.shape[d], a.size // max(a.shape[d], 1))
    n = rows.shape[0]
    change = np.ones(n, bool)
    if n > 1:
        change[1:] = (rows[1:] != rows[:-1]).any(axis=1) if rows.shape[1] else False
    starts = np.flatnonzero(change)
    inverse = np.cumsum(change) - 1
    counts = np.diff(np.append(starts, n))
    if d is None:
        values, inverse = a.reshape(-1)[starts], inverse.reshape(a.shape)
    else:
        values = np.take(a, starts, axis=d)
    return _unique_result(values, inverse, counts, x.device, x.dtype, return_inverse, return_counts)


def bincount(input: Tensor, weights=None, minlength: int = 0) -> Tensor:
    """The number of times each value occurs in the 1-D non-negative int64 input (length
    ``max(input) + 1``, at least ``minlength``); with ``weights`` (1-D, input's length) their sums
    instead, float32 and differentiable in weights (torch's is not)."""
    x = _tensor("bincount", "input", input)
    idx = _index_values("bincount", x, "input")
    if idx.ndim != 1 or (idx < 0).any():
        raise ValueError(f"bincount: input must be a 1-D tensor of non-negative integers, got shape {idx.shape}")
    if minlength < 0:
        raise ValueError(f"bincount: minlength must be non-negative, got {minlength}")
    size = max(int(idx.max()) + 1 if idx.size else 0, int(minlength))
    if weights is None:
        return _core.tensor(np.bincount(idx, minlength=size).astype(np.int64), dtype="int64", device=x.device)
    w = _tensor("bincount", "weights", weights)
    if tuple(w.shape) != idx.shape:
        raise ValueError(f"bincount: weights of shape {tuple(w.shape)} must have input's shape {idx.shape}")
    if w.dtype != "float32":
        w = w.to("float32")
    return _reduce_rows(w.reshape(-1, 1), idx, size, "sum").reshape(size)


HistogramResult = namedtuple("histogram", ["hist", "bin_edges"])


def histogram(input: Tensor, bins=100, *, range=None, weight=None, density: bool = False):  # noqa: A002
    """(hist, bin_edges): counts (or summed ``weight``) of input's elements in the bins, ``bins``
    equal ones over ``range`` (the data's range by default) or the given increasing edges; the last
    bin includes its right edge, as torch's."""
    from .tensor_ops import linspace

    op = "histogram"
    x = _tensor(op, "input", input)
    if x.dtype in (*INT_DTYPES, "bool"):
        raise TypeError(f"{op}: input must be a floating-point tensor, got {x.dtype}")
    if {x.dtype, bins.dtype if isinstance(bins, Tensor) else x.dtype} & set(LOW_FLOATS):
        # torch's 16-bit histogram takes only edges of its dtype (its kernel computes the equal bins' edges in float32)
        if not isinstance(bins, Tensor):
            raise TypeError(f"{op}: {x.dtype} input needs bins given as a {x.dtype} tensor of edges, as torch's")
        if bins.dtype != x.dtype:
            raise TypeError(f"{op}: input ({x.dtype}) and bins ({bins.dtype}) must have the same dtype, as torch's")
    a = x.detach().numpy().reshape(-1)
    if isinstance(bins, Tensor):
        edges = bins.detach().numpy().astype(np.float32)
        if edges.ndim != 1 or edges.size < 2 or (np.diff(edges) < 0).any():
            raise ValueError(f"{op}: bins must be a 1-D increasing tensor of at least 2 edges, got {edges}")
    else:
        if int(bins) <= 0:
            raise ValueError(f"{op}: bins must be > 0, got {bins}")
        if range is not None:
            check_float_args(op, x.dtype, *range, opmath=True)
            low, high = (float(v) for v in range)
        elif a.size:
            low, high = float(a.min()), float(a.max())
        else:
            low, high = 0.0, 1.0  # an empty input's default range, as torch's and NumPy's
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"{op}: range [{low}, {high}] is not finite (input of shape {tuple(x.shape)})")
        if low > high:
            raise ValueError(f"{op}: range must have min <= max, got {range}")
        if low == high:
            low, high = low - 0.5, high + 0.5  # NumPy's and torch's widening of an empty range
        edges = linspace(low, high, int(bins) + 1).numpy()
    w = None
    if weight is not None:
        w = _tensor(op, "weight", weight).detach().numpy().reshape(-1)
        if w.shape != a.shape:
            raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} must have input's shape {tuple(x.shape)}")
    pos = np.searchsorted(edges, a, side="right") - 1
    pos[a == edges[-1]] = len(edges) - 2
    ok = (pos >= 0) & (pos < len(edges) - 1)
    hist = np.bincount(pos[ok], weights=None if w is None else w[ok], minlength=len(edges) - 1).astype(np.float64)
    if density:
        hist = hist / (hist.sum() * np.diff(edges.astype(np.float64)))
    device, dtype = x.device, x.dtype
    return HistogramResult(
        _core.tensor(hist.astype(np.float32), dtype=dtype, device=device),
        _core.tensor(edges.astype(np.float32), dtype=dtype, device=device),
    )


# ---- random sampling


def _uniforms(shape, generator) -> np.ndarray:
    """Uniform [0, 1) numbers from the generator (md's default without one), on the host."""
    return _core.rand(tuple(shape), generator=generator).numpy().astype(np.float64)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """``num_samples`` category indices (int64) drawn per row of the non-negative weights input (1-D
    or 2-D, rows need not sum to 1), with or without replacement, as torch's."""
    op = "multinomial"
    x = _tensor(op, "input", input)
    if x.dtype in (*INT_DTYPES, "bool"):
        raise TypeError(f"{op}: input must be a floating-point tensor of weights, got {x.dtype}")
    p = x.detach().numpy().astype(np.float64)
    if p.ndim not in (1, 2):
        raise ValueError(f"{op}: prob_dist must be 1 or 2 dim, got shape {p.shape}")
    rows = p.reshape(-1, p.shape[-1])
    k = int(num_samples)
    if k <= 0:
        raise ValueError(f"{op}: cannot sample num_samples={num_samples} <= 0 samples")
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise ValueError(f"{op}: probability tensor contains either inf, nan or element < 0")
    if rows.size == 0 or (rows.sum(axis=1) <= 0).any():
        raise ValueError(f"{op}: invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement:
        if k > rows.shape[1]:
            raise ValueError(
                f"{op}: cannot sample n_sample={k} > prob_dist.size(-1)={rows.shape[1]} samples without replacement"
            )
        if ((rows > 0).sum(axis=1) < k).any():
            raise ValueError(
                f"{op}: invalid multinomial distribution (with replacement=False, not enough categories of non-zero "
                "weight to sample)"
            )
    if replacement:
        cdf = np.cumsum(rows, axis=1)
        u = _uniforms((len(rows), k), generator) * cdf[:, -1:]
        out = np.stack([np.searchsorted(c, v, side="right") for c, v in zip(cdf, u)])
        last = rows.shape[1] - 1 - np.argmax(rows[:, ::-1] > 0, axis=1)  # rounding can never pick past it
        out = np.minimum(out, last[:, None])
    else:
        # the exponential race: each category's arrival time is Exp(weight); the first k to arrive
        # are a draw without replacement, in order
        with np.errstate(divide="ignore"):
            keys = -np.log1p(-_uniforms(rows.shape, generator)) / rows
        out = np.argsort(keys, axis=1, kind="stable")[:, :k]
    out = out.reshape(p.shape[:-1] + (k,)).astype(np.int64)
    return _core.tensor(out, dtype="int64", device=x.device)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad: bool = False):
    """Normal samples with the given mean and std (tensors, broadcast together, or numbers; numbers
    both need ``size``). The result has a zero gradient for tensor mean and std, as torch's (it is
    not reparameterised: write ``mean + std * md.randn(...)`` for that)."""
    op = "normal"
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    for name, v in (("mean", mean), ("std", std)):
        if not isinstance(v, (Tensor, numbers.Real)):
            raise TypeError(f"{op}: {name} must be an md tensor or a number, got {type(v).__name__}")
    if isinstance(mean, Tensor) and mean.dtype == "bool":
        raise TypeError(f"{op}: a bool mean (shape {list(mean.shape)}) is not supported, as in torch")
    if tensors:
        if size is not None:
            raise TypeError(f"{op}: size is only taken when mean and std are both numbers")
        shape = _broadcast(op, *(tuple(t.shape) for t in tensors))
        device = tensors[0].device
    else:
        if size is None:
            raise TypeError(f"{op}: with a number mean and std, size is required")
        shape = (int(size),) if isinstance(size, numbers.Integral) else tuple(int(s) for s in size)
    if isinstance(std, Tensor):
        if std.numel() and float(std.detach().amin().item()) < 0:
            raise ValueError(f"{op}: expects all elements of std >= 0.0")
    elif std < 0:
        raise ValueError(f"{op}: expects std >= 0.0, got {std}")
    with no_grad():
        noise = _core.randn(shape, generator=generator, device=device)
        m = mean.detach() if isinstance(mean, Tensor) else mean
        s = std.detach() if isinstance(std, Tensor) else std
        out = noise * s + m
    if dtype is None and tensors and tensors[0].dtype in LOW_FLOATS:
        dtype = tensors[0].dtype  # as torch's: mean's dtype (std's for a number mean), float32 std or not
    if dtype is not None and dtype != out.dtype:
        out = out.to(dtype)
    out = _zero_grad_of(out, *tensors)
    return out.requires_grad_() if requires_grad else out


def _bernoulli_values(op: str, shape, p, device, dtype, generator) -> Tensor:
    if isinstance(p, Tensor):
        pv = p.detach()
        if pv.numel() and (float(pv.amin().item()) < 0 or float(pv.amax().item()) > 1):
            raise ValueError(f"{op}: all probabilities must be in [0, 1]")
    elif not 0 <= p <= 1:
        raise ValueError(f"{op}: expects 0 <= p <= 1, got p={p}")
    else:
        pv = p
    with no_grad():
        u = _core.rand(tuple(shape), generator=generator, device=device)
        out = u < pv
    return out.to(dtype) if dtype != out.dtype else out


def bernoulli(input: Tensor, p=None, *, generator=None) -> Tensor:
    """0/1 samples of input's shape and dtype: 1 with probability input's element (or ``p``, a
    number, when given). Its gradient is zero, as torch's."""
    x = _tensor("bernoulli", "input", input)
    if p is None and x.dtype == "bool":
        raise TypeError(f"bernoulli: bool probabilities (shape {list(x.shape)}) are not supported, as in torch")
    prob = x.detach() if p is None else p
    if isinstance(prob, Tensor) and prob.dtype == "int64":
        prob = prob.to("float32")
    out = _bernoulli_values("bernoulli", x.shape, prob, x.device, x.dtype, generator)
    return _zero_grad_of(out, x)


def _bernoulli_(self: Tensor, p=0.5, *, generator=None) -> Tensor:
    """In place: 1 with probability p (a number or a tensor broadcast to self), else 0."""
    if isinstance(p, Tensor):
        _broadcast("bernoulli_", tuple(self.shape), tuple(p.shape))
    return self._inplace_(
        "bernoulli_", lambda: _bernoulli_values("bernoulli_", self.shape, p, self.device, self.dtype, generator)
    )


def _sampled_(name: str, self: Tensor, transform, generator, integers: bool = False) -> Tensor:
    """In place: self filled with transform(uniforms in [0, 1)) (host float64), in self's dtype
    (an integer dtype only for a distribution of ``integers``, as torch's)."""
    if self.dtype in INT_DTYPES:
        if not integers:
            raise TypeError(f"{name}: expects a floating-point tensor, got {self.dtype} of shape {tuple(self.shape)}")
        out = _core.tensor(np.asarray(transform(_uniforms(self.shape, generator)), np.int64), device=self.device)
        return self._inplace_(name, lambda: out.to(self.dtype) if self.dtype != "int64" else out)
    values = transform(_uniforms(self.shape, generator))
    out = _core.tensor(np.asarray(values, np.float32), device=self.device)
    return self._inplace_(name, lambda: out.to(self.dtype) if self.dtype != "float32" else out)


def _exponential_(self: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    """In place: exponential samples of rate ``lambd`` (> 0)."""
    if not lambd > 0:
        raise ValueError(f"exponential_: expects lambd > 0.0, got {lambd}")
    return _sampled_("exponential_", self, lambda u: -np.log1p(-u) / lambd, generator)


def _geometric_(self: Tensor, p: float, *, generator=None) -> Tensor:
    """In place: the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
    if not 0 < p < 1:
        raise ValueError(f"geometric_: expects p in (0, 1), got {p}")
    return _sampled_(
        "geometric_", self, lambda u: np.ceil(np.log1p(-u) / math.log1p(-p)).clip(1), generator, integers=True
    )


def _cauchy_(self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    if not sigma > 0:
        raise ValueError(f"cauchy_: expects sigma > 0.0, got {sigma}")
    return _sampled_("cauchy_", self, lambda u: median + sigma * np.tan(math.pi * (u - 0.5)), generator)


def _log_normal_(self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    if not std > 0:
        raise ValueError(f"log_normal_: expects std > 0.0, got {std}")
    if self.dtype in INT_DTYPES:
        raise TypeError(f"log_normal_: expects a floating-point tensor, got {self.dtype} of shape {tuple(self.shape)}")
    with no_grad():
        z = _core.randn(tuple(self.shape), generator=generator, device=self.device)
    return self._inplace_("log_normal_", lambda: F.exp(z * std + mean).to(self.dtype))


def _random_(self: Tensor, *args, generator=None, **kwargs) -> Tensor:
    """In place: integers uniform in [from, to - 1] (``random_(from, to)``), [0, to - 1]
    (``random_(to)``), or [0, 2^24] for float32 and [0, 2^63 - 1] for int64 (``random_()``)."""
    bounds = list(args)
    if "from" in kwargs:
        bounds = [kwargs.pop("from")] + bounds
    if "to" in kwargs:
        bounds.append(kwargs.pop("to"))
    if kwargs or len(bounds) > 2:
        raise TypeError(f"random_: expected random_(from=0, to=None, *, generator=None), got {args} {kwargs}")
    if len(bounds) == 1:
        bounds = [0, bounds[0]]
    low = int(bounds[0]) if bounds else 0
    high = bounds[1] if len(bounds) > 1 else None
    if high is None:
        # torch's defaults: the dtype's whole integers (float32: the 2^24 + 1 it holds exactly)
        defaults = {"int64": 2**63 - 1, "bool": 2, "bfloat16": 2**8 + 1, "float16": 2**11 + 1}
        defaults.update({d: INT_RANGE[d][1] + 1 for d in NARROW_INTS})
        high = defaults.get(self.dtype, 2**24 + 1)
    high = int(high)
    if low >= high:
        raise ValueError(f"random_: expects 'from' to be less than 'to', but got from={low} >= to={high}")
    # both ends must be values of the dtype, as torch checks them (float32 takes any: torch warns)
    most = {"bool": 1, **{d: r[1] for d, r in INT_RANGE.items()}, "bfloat16": FLOAT_MAX["bfloat16"]}
    most["float16"] = FLOAT_MAX["float16"]
    least = {"bool": 0, **{d: r[0] for d, r in INT_RANGE.items()}}.get(self.dtype, -most.get(self.dtype, math.inf))
    most = most.get(self.dtype, math.inf)
    for what, value in (("from", low), ("to - 1", high - 1)):
        if not least <= value <= most:
            raise ValueError(f"random_: {what} = {value} is out of bounds for {self.dtype}")
    span = high - low
    u = _uniforms(self.shape, generator)
    if span <= 2**24:
        values = low + np.minimum(np.floor(u * span), span - 1).astype(np.int64)
    else:  # two draws for a wide range: float64 products of one uniform lose the low bits
        v = _uniforms(self.shape, generator)
        wide = (np.floor(u * 2**31).astype(np.int64) << 31) | np.floor(v * 2**31).astype(np.int64)
        values = low + (wide % span if span < 2**62 else wide)
    out = _core.tensor(np.asarray(values, np.int64), dtype="int64", device=self.device)
    return self._inplace_("random_", lambda: out.to(self.dtype) if self.dtype != "int64" else out)


# ---- install


_FUNCTIONS = {
    "scatter": scatter,
    "scatter_add": scatter_add,
    "scatter_reduce": scatter_reduce,
    "index_add": index_add,
    "index_copy": index_copy,
    "index_fill": index_fill,
    "index_reduce": index_reduce,
    "masked_select": masked_select,
    "masked_scatter": masked_scatter,
    "take": take,
    "take_along_dim": take_along_dim,
    "put": put,
    "argwhere": argwhere,
    "searchsorted": searchsorted,
    "bucketize": bucketize,
    "unique": unique,
    "unique_consecutive": unique_consecutive,
    "bincount": bincount,
    "histogram": histogram,
    "multinomial": multinomial,
    "normal": normal,
    "bernoulli": bernoulli,
}

# torch has these as Tensor methods too (not searchsorted, bucketize and normal)
_METHOD_NAMES = (
    "scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_fill", "index_reduce",
    "masked_select", "masked_scatter", "take", "take_along_dim", "put", "argwhere", "unique",
    "unique_consecutive", "bincount", "histogram", "multinomial", "bernoulli",
)  # fmt: skip

_IN_PLACE = ("scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_fill", "index_reduce",
             "masked_scatter", "put")  # fmt: skip

_RANDOM_METHODS = {
    "bernoulli_": _bernoulli_,
    "exponential_": _exponential_,
    "geometric_": _geometric_,
    "cauchy_": _cauchy_,
    "log_normal_": _log_normal_,
    "random_": _random_,
}


# uint8, int8, int16 and int32 tensors go through these in int64: the values keep the input's
# dtype (wrapped once), the counts and indices stay int64
# (index_fill fills in the input's own dtype: _fill_value checks the value against it)
for _name in ("scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_reduce", "masked_scatter",
              "take", "take_along_dim", "put", "unique", "unique_consecutive"):  # fmt: skip
    _FUNCTIONS[_name] = _narrow_ints_in_int64(1)(_FUNCTIONS[_name])
for _name in ("argwhere", "searchsorted", "bucketize", "bincount"):
    _FUNCTIONS[_name] = _narrow_ints_in_int64(0)(_FUNCTIONS[_name])


def install(namespace: dict) -> list[str]:
    """Adds the functions to ``namespace`` (the md package) and the methods to Tensor; returns the
    names added, for ``__all__``. A name md or Tensor has already keeps its definition."""
    methods = {name: _FUNCTIONS[name] for name in _METHOD_NAMES}
    methods.update({f"{name}_": _in_place(f"{name}_", _FUNCTIONS[name]) for name in _IN_PLACE})
    methods.update(_RANDOM_METHODS)
    for name, fn in methods.items():
        if not hasattr(Tensor, name):
            setattr(Tensor, name, fn)
    added = [name for name in _FUNCTIONS if name not in namespace]
    namespace.update({name: _FUNCTIONS[name] for name in added})
    return sorted(added)
