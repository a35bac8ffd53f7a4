"""``F.interpolate``: 4-D nearest goes to the native op where the output repeats each input pixel a
whole number of times; other nearest sizes and linear, bilinear, bicubic, trilinear and
nearest-exact are composed here from ``index_select``, ``mul`` and ``add``, so their gradients
come from those ops' backward functions and they run on every device the ops do.

Each mode is separable: the input resizes along each spatial dim in turn (D, H, W). Per output
index, the source taps and their weights are computed on the host with the formulas of torch's CPU
kernels, in float32 as torch computes them for float32 input, so values agree with torch's to
float32 rounding (~1e-6).
"""

from __future__ import annotations

import math

import numpy as np

from ._core import Tensor
from ._core import tensor as _tensor
from ._core.functional import add, index_select, mul
from ._core.functional import interpolate as _interpolate_nearest
from ._dtypes import LOW_FLOATS

_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear")
# the input rank each interpolating mode needs, as torch's (the nearest modes take any of 3-D to 5-D)
_MODE_NDIM = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_LAYOUTS = {3: "3-D (N, C, L)", 4: "4-D (N, C, H, W)", 5: "5-D (N, C, D, H, W)"}
_CUBIC_A = -0.75  # torch's (and OpenCV's) bicubic coefficient


def interpolate(
    input,  # noqa: A002 (torch's argument name)
    size=None,
    scale_factor=None,
    mode: str = "nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias: bool = False,
):
    """Resize a (N, C, L), (N, C, H, W) or (N, C, D, H, W) tensor to ``size`` or by
    ``scale_factor``, as ``torch.nn.functional.interpolate``. Modes: "nearest" (any size; torch's
    source index floor(i * in / out), or floor(i / scale_factor) when a factor is given and not
    recomputed) and "nearest-exact" for every rank; "linear" (3-D), "bilinear" and "bicubic" (4-D)
    and "trilinear" (5-D) for float32, bfloat16 and float16 input (16-bit floats resized in float32
    and rounded once). "area" and ``antialias=True`` are not supported."""
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate: input must be an md tensor, got {type(input).__name__}")
    if input.dtype == "bool":
        raise TypeError(f"interpolate: not supported for a bool tensor (shape {list(input.shape)}), as in torch")
    shape = tuple(input.shape)
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}")
    ndim = _MODE_NDIM.get(mode)
    if len(shape) not in _LAYOUTS or (ndim is not None and len(shape) != ndim):
        needs = _LAYOUTS[ndim] if ndim is not None else f"{_LAYOUTS[3]}, {_LAYOUTS[4]} or {_LAYOUTS[5]}"
        raise ValueError(f"interpolate: mode {mode!r} needs a {needs} input, got {list(shape)}")
    interpolating = ndim is not None
    if align_corners is not None and not interpolating:
        raise ValueError(
            f"interpolate: align_corners can only be set with mode 'linear', 'bilinear', 'bicubic' or "
            f"'trilinear', got {mode!r}"
        )
    if antialias:
        raise ValueError(f"interpolate: antialias=True is not supported (mode {mode!r}, input {list(shape)})")
    if size is not None and scale_factor is not None:
        raise ValueError(f"interpolate: give only one of size ({size!r}) and scale_factor ({scale_factor!r})")
    if recompute_scale_factor and size is not None:
        raise ValueError("interpolate: recompute_scale_factor is not meaningful with an explicit size")
    if size is None and scale_factor is None:
        if mode == "nearest" and len(shape) == 4:  # the native op's default, kept for old code (torch raises)
            return _interpolate_nearest(input, mode="nearest")
        raise ValueError(f"interpolate: give size or scale_factor to resize the input of shape {list(shape)}")
    if interpolating and input.dtype in LOW_FLOATS:
        # resized in float32 and rounded once, as torch's 16-bit kernels accumulate in float32
        out = interpolate(input.float(), size, scale_factor, mode, align_corners, recompute_scale_factor)
        return out.to(input.dtype)
    if interpolating and input.dtype != "float32":
        raise TypeError(
            f"interpolate: mode {mode!r} needs a float32, bfloat16 or float16 input, got {input.dtype} of shape "
            f"{list(shape)}"
        )

    out_size, scales = _output_size(shape, size, scale_factor, recompute_scale_factor)
    spatial = tuple(zip(range(2, len(shape)), shape[2:], out_size, scales))
    if mode == "nearest":
        indices = [_nearest_index(n_in, n_out, scale) for _, n_in, n_out, scale in spatial]
        native = len(shape) == 4 and input.dtype == "float32"
        if native and all(_repeats(index, n_in) for index, n_in in zip(indices, shape[2:])):
            return _interpolate_nearest(input, size=list(out_size), mode="nearest")
    out = input
    for dim, n_in, n_out, scale in spatial:
        if mode == "nearest":
            taps = [(indices[dim - 2], None)]
        elif mode == "nearest-exact":
            taps = [(_nearest_exact_index(n_in, n_out, scale), None)]
        else:
            ratio = _ratio(n_in, n_out, bool(align_corners), scale)
            taps = (_cubic_taps if mode == "bicubic" else _linear_taps)(n_in, n_out, ratio, bool(align_corners))
        out = _resize_dim(out, dim, taps)
    # torch returns a new tensor even when nothing resizes
    return input.clone() if out is input else out


# ---- sizes, source coordinates and weights (host side, NumPy)


def _per_dim(name: str, value, shape) -> tuple:
    """``value`` (one entry, or one per spatial dim) as one entry per spatial dim of ``shape``."""
    n = len(shape) - 2
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            dims = {1: "(L,)", 2: "(H, W)", 3: "(D, H, W)"}[n]
            raise ValueError(
                f"interpolate: {name} {tuple(value)!r} must have {n} entries {dims} for the input of shape "
                f"{list(shape)}"
            )
        return tuple(value)
    return (value,) * n


def _output_size(shape, size, scale_factor, recompute) -> tuple[tuple[int, ...], tuple]:
    """Output spatial size and the scale factors torch passes its kernels: the given factors, or
    None when the size was given or is to be recomputed (then the ratio is in/out)."""
    n = len(shape) - 2
    if size is not None:
        out = _per_dim("size", size, shape)
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in out):
            raise TypeError(f"interpolate: size must be an int or a sequence of {n} ints, got {size!r}")
        scales = (None,) * n
    else:
        factors = _per_dim("scale_factor", scale_factor, shape)
        if not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in factors):
            raise TypeError(
                f"interpolate: scale_factor must be a number or a sequence of {n} numbers, got {scale_factor!r}"
            )
        if not all(math.isfinite(s) and s > 0 for s in factors):
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
        # the float64 product truncated, as torch sizes its output
        out = tuple(int(n * float(s)) for n, s in zip(shape[2:], factors))
        scales = (None,) * n if recompute else tuple(float(s) for s in factors)
    out = tuple(int(v) for v in out)
    if min(shape[2:]) < 1 or min(out) < 1:
        raise ValueError(f"interpolate: input {list(shape)} and output size {out} must be positive")
    return out, scales


def _ratio(n_in: int, n_out: int, align_corners: bool, scale) -> np.float32:
    """Input pixels per output pixel. A given scale factor is used as 1/scale, not in/out, which
    differs from it when in * scale is not an integer (e.g. 5 * 1.7)."""
    if align_corners:
        return np.float32(n_in - 1) / np.float32(n_out - 1) if n_out > 1 else np.float32(0)
    if scale is not None and scale > 0:
        return np.float32(1.0 / scale)
    return np.float32(n_in) / np.float32(n_out)


def _source(n_out: int, ratio: np.float32, align_corners: bool) -> np.ndarray:
    """(n_out,) float32 source coordinate of each output pixel's centre. The product and sum are
    exact in float64 and rounded once, as the fused multiply-add in torch's kernels rounds them."""
    i = np.arange(n_out, dtype=np.float64)
    ratio = np.float64(ratio)
    return (ratio * i if align_corners else ratio * (i + 0.5) - 0.5).astype(np.float32)


def _floor_and_fraction(src: np.ndarray, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's guard: the index is at most n_in - 1 and the fraction stays in [0, 1]."""
    index = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    frac = np.clip(src - index.astype(np.float32), np.float32(0), np.float32(1)).astype(np.float32)
    return index, frac


def _linear_taps(n_in: int, n_out: int, ratio, align_corners: bool) -> list:
    if n_in == n_out:  # torch copies (even when a scale factor gave a ratio other than 1)
        return [(np.arange(n_out, dtype=np.int64), None)]
    # a negative coordinate (the first outputs when upsampling) takes the edge pixel, as OpenCV's
    src = np.maximum(_source(n_out, ratio, align_corners), np.float32(0))
    i0, frac = _floor_and_fraction(src, n_in)
    i1 = i0 + (i0 < n_in - 1)
    return [(i0, np.float32(1) - frac), (i1, frac)]


def _cubic_weights(t: np.ndarray) -> list[np.ndarray]:
    """Keys' cubic convolution weights of the 4 taps at offsets -1, 0, 1, 2 from the floor, for the
    float32 fraction ``t``; evaluated in float64 (nearer torch's fused float32 arithmetic than
    plain float32 is) and rounded to float32."""
    a, t = _CUBIC_A, t.astype(np.float64)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [w.astype(np.float32) for w in (far(t + 1), near(t), near(1 - t), far(2 - t))]


def _cubic_taps(n_in: int, n_out: int, ratio, align_corners: bool) -> list:
    # the coordinate is not clamped: taps past an edge repeat the edge pixel
    i0, frac = _floor_and_fraction(_source(n_out, ratio, align_corners), n_in)
    weights = _cubic_weights(frac)
    return [(np.clip(i0 + k - 1, 0, n_in - 1), w) for k, w in enumerate(weights)]


def _nearest_index(n_in: int, n_out: int, scale) -> np.ndarray:
    """torch's nearest source index: floor(i * ratio) in float32, ratio 1 / scale_factor when a
    factor is passed to the kernel, else in / out; sizes equal and doubled are exact shortcuts, as
    in torch (so 3 -> 6 is i // 2 whatever the factor)."""
    if n_out == n_in:
        return np.arange(n_out, dtype=np.int64)
    if n_out == 2 * n_in:
        return np.arange(n_out, dtype=np.int64) >> 1
    ratio = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n_in) / np.float32(n_out)
    src = np.floor(np.arange(n_out, dtype=np.float32) * ratio).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _repeats(index: np.ndarray, n_in: int) -> bool:
    """True when ``index`` repeats each of the n_in input positions k times in order (i // k), what
    the native op computes. torch's float32 ratio gives other indices for some factors (k = 41:
    1 / 41 rounds down, so floor(41 * ratio) is 0)."""
    k, rest = divmod(index.size, n_in)
    return not rest and bool(np.array_equal(index, np.arange(index.size) // k))


def _nearest_exact_index(n_in: int, n_out: int, scale) -> np.ndarray:
    ratio = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n_in) / np.float32(n_out)
    # torch multiplies in float64 and floors it as a float32
    src = ((np.arange(n_out, dtype=np.float64) + 0.5) * np.float64(ratio)).astype(np.float32)
    return np.minimum(np.floor(src).astype(np.int64), n_in - 1)


# ---- composition on the device


def _is_identity(taps, n_in: int) -> bool:
    """True when the taps copy the input: one tap of weight 1 at index i for output i, the others
    of weight 0 (bicubic at ratio 1 has weights 0, 1, 0, 0)."""
    if len(taps[0][0]) != n_in:
        return False
    copies = 0
    for index, weight in taps:
        if weight is not None and not np.any(weight):
            continue
        if (weight is not None and not np.all(weight == 1)) or not np.array_equal(index, np.arange(n_in)):
            return False
        copies += 1
    return copies == 1


def _resize_dim(x: Tensor, dim: int, taps: list) -> Tensor:
    """sum_k index_select(x, dim, index_k) * weight_k; ``weight`` None means 1."""
    if _is_identity(taps, x.shape[dim]):
        return x
    out = None
    for index, weight in taps:
        term = index_select(x, dim, _tensor(np.ascontiguousarray(index), dtype="int64", device=x.device))
        if weight is not None:
            # (n_out, 1, ...) broadcasts along the dims after ``dim``
            w = weight.reshape((-1,) + (1,) * (x.ndim - 1 - dim))
            term = mul(term, _tensor(np.ascontiguousarray(w), dtype="float32", device=x.device))
        out = term if out is None else add(out, term)
    return out
