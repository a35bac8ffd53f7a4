"""Image output (``md.images``): sample batches to uint8 pixels, PNG grids and ``.npz`` archives.

Sampling produces small images (8x8 digits, 28x28 Fashion-MNIST) that are unreadable at their
native size, so grids are upscaled by an integer factor with nearest-neighbour resampling: every
model pixel stays a crisp square. Files are written to a temporary name and renamed, so a grid
that a viewer is watching never appears half-written.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np

from . import _core
from .checkpoint import atomic_write_bytes

__all__ = ["make_grid", "save_grid", "save_npz", "to_uint8"]


def _as_nhwc(images, layout: str | None) -> np.ndarray:
    """A float NumPy array (N, H, W, C) from an md tensor (NCHW) or a NumPy array (NHWC or NCHW)."""
    if isinstance(images, _core.Tensor):
        arr = images.numpy()
        layout = layout or "NCHW"
    else:
        arr = np.asarray(images)
    if arr.ndim == 3:  # (N, H, W): one channel
        arr = arr[..., None]
        layout = "NHWC"
    if arr.ndim != 4:
        raise ValueError(f"images: expected a batch (N, H, W, C) or (N, C, H, W), got shape {arr.shape}")
    if layout is None:
        # channels-last unless only the second axis looks like a channel count
        layout = "NCHW" if arr.shape[-1] not in (1, 3, 4) and arr.shape[1] in (1, 3, 4) else "NHWC"
    if layout == "NCHW":
        arr = arr.transpose(0, 2, 3, 1)
    elif layout != "NHWC":
        raise ValueError(f"images: layout must be 'NHWC' or 'NCHW', got {layout!r}")
    if arr.shape[-1] not in (1, 3, 4):
        raise ValueError(f"images: expected 1, 3 or 4 channels, got shape {arr.shape} ({layout})")
    return arr


def to_uint8(images, value_range: tuple[float, float] = (0.0, 1.0), layout: str | None = None) -> np.ndarray:
    """Pixels (N, H, W, C) uint8 from float images spanning ``value_range``; values outside are clipped.

    uint8 input passes through unchanged. ``layout`` ("NHWC" or "NCHW") is guessed from the shape
    when not given; md tensors are taken as NCHW.
    """
    arr = _as_nhwc(images, layout)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ValueError(f"to_uint8: value_range must be (low, high) with high > low, got {value_range}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError("to_uint8: images contain NaN or infinite values (did training diverge?)")
    unit = (arr - lo) / (hi - lo)
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


def _auto_scale(height: int, width: int) -> int:
    # small images grow to about 32 pixels per side, so an 8x8 digit is drawn 4x
    return max(1, 32 // max(height, width))


def make_grid(
    images,
    nrow: int | None = None,
    padding: int = 1,
    pad_value: int = 0,
    scale: int | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    layout: str | None = None,
) -> np.ndarray:
    """Tiles a batch into one uint8 image (H, W, C) with C = 1 or 3.

    ``nrow`` images per row (default: a near-square grid); ``padding`` pixels of ``pad_value``
    between and around tiles, at the native resolution; then the whole grid is enlarged
    ``scale`` times (default: enough to make each tile about 32 pixels across).
    """
    pixels = to_uint8(images, value_range, layout)
    n, h, w, c = pixels.shape
    if n == 0:
        raise ValueError("make_grid: the batch is empty")
    if c == 4:
        pixels, c = pixels[..., :3], 3
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if nrow < 1 or padding < 0:
        raise ValueError(f"make_grid: nrow must be >= 1 and padding >= 0, got nrow={nrow}, padding={padding}")
    scale = _auto_scale(h, w) if scale is None else int(scale)
    if scale < 1:
        raise ValueError(f"make_grid: scale must be a positive int, got {scale}")
    cols, rows = min(nrow, n), math.ceil(n / nrow)
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), pad_value, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y : y + h, x : x + w] = pixels[i]
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid


def save_grid(images, path: str | os.PathLike, **grid_kwargs) -> np.ndarray:
    """Writes ``make_grid(images, **grid_kwargs)`` as a PNG at ``path``; returns the grid."""
    from PIL import Image

    grid = make_grid(images, **grid_kwargs)
    image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return grid


def save_npz(images, path: str | os.PathLike, class_labels=None, **metadata) -> None:
    """Writes the raw float images (N, H, W, C) and optional labels to a compressed ``.npz``.

    ``metadata`` values (seed, sampler, steps, ...) are stored as 0-d arrays next to ``images``.
    """
    arrays = {"images": np.ascontiguousarray(_as_nhwc(images, None), dtype=np.float32)}
    if class_labels is not None:
        arrays["labels"] = np.asarray(class_labels, dtype=np.int64).reshape(-1)
    for key, value in metadata.items():
        if value is not None:
            arrays[key] = np.asarray(value)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
