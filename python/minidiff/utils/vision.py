"""torchvision.utils' image grids (``md.utils.make_grid``, ``md.utils.save_image``).

These follow torchvision: float tiles laid out on a ``pad_value`` canvas, single-channel batches
shown as RGB, a batch of one returned without padding, and pixels quantised as
``x * 255 + 0.5`` clamped and truncated. ``md.images.make_grid`` / ``save_grid`` are md's own
sample sheets (uint8 from the start, nearest-neighbour upscaling, padding 1, round-to-nearest), so
they give different pixels and are kept separate; the grid here is built from md ops (cat, clamp),
so it keeps the input's device and its gradients.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np

from .. import _core
from .. import functional as F
from ..checkpoint import atomic_write_bytes

__all__ = ["make_grid", "save_image"]


def _as_batch(tensor):
    if isinstance(tensor, list):
        for t in tensor:
            if not isinstance(t, _core.Tensor):
                raise TypeError(
                    f"make_grid: tensor or list of tensors expected, got a list containing {type(t).__name__}"
                )
        if not tensor:
            raise ValueError("make_grid: the list of tensors is empty")
        tensor = F.stack(tensor, 0)
    elif not isinstance(tensor, _core.Tensor):
        raise TypeError(f"make_grid: tensor or list of tensors expected, got {type(tensor).__name__}")
    shape = list(tensor.shape)
    if tensor.ndim == 2:  # one image (H, W)
        tensor = tensor.unsqueeze(0)
    if tensor.ndim == 3:  # one image (C, H, W)
        if tensor.shape[0] == 1:
            tensor = F.cat([tensor, tensor, tensor], 0)
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4:
        raise ValueError(f"make_grid: expected images (B, C, H, W), (C, H, W) or (H, W), got shape {shape}")
    if tensor.shape[0] == 0:
        raise ValueError(f"make_grid: the batch is empty (shape {shape})")
    if tensor.shape[1] == 1:  # single-channel images are shown as RGB
        tensor = F.cat([tensor, tensor, tensor], 1)
    return tensor


def _normalized(t, value_range):
    low, high = value_range if value_range is not None else (float(t.min()), float(t.max()))
    return (t.clamp(low, high) - low) / max(high - low, 1e-5)


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    """Tiles images (B, C, H, W) (or a list of (C, H, W)) into one (C, H', W') image, ``nrow`` per row,
    ``padding`` pixels of ``pad_value`` between and around them; 1-channel images become 3-channel.
    ``normalize`` maps ``value_range`` (default: the min and max, of each image with ``scale_each``)
    to [0, 1] after clamping. A batch of one comes back as that image, unpadded."""
    tensor = _as_batch(tensor)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError(f"make_grid: value_range has to be a tuple (min, max), got {value_range!r}")
        if scale_each:
            tensor = F.stack([_normalized(t, value_range) for t in tensor.unbind(0)], 0)
        else:
            tensor = _normalized(tensor, value_range)
    n, c, h, w = tensor.shape
    if n == 1:
        return tensor.squeeze(0)
    if not isinstance(nrow, int) or nrow < 1 or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"make_grid: nrow must be an int >= 1 and padding an int >= 0, got {nrow!r}, {padding!r}")
    cols = min(nrow, n)
    rows = int(math.ceil(n / cols))

    def fill(height, width):
        return _core.full((c, height, width), float(pad_value), dtype=tensor.dtype, device=tensor.device)

    row_gap = fill(padding, cols * (w + padding) + padding)
    pieces = [row_gap]
    for r in range(rows):
        row = [fill(h, padding)]
        for k in range(r * cols, (r + 1) * cols):
            row += [tensor[k] if k < n else fill(h, w), fill(h, padding)]
        pieces += [F.cat(row, 2), row_gap]
    return F.cat(pieces, 1)


def _extension_format(path: str) -> str:
    from PIL import Image

    ext = os.path.splitext(path)[1].lower()
    formats = Image.registered_extensions()
    if ext not in formats:
        raise ValueError(f"save_image: unknown file extension {ext!r} for {path!r}; pass format=")
    return formats[ext]


def save_image(tensor, fp, format=None, **kwargs):  # noqa: A002 (torchvision's argument name)
    """Writes ``make_grid(tensor, **kwargs)`` as an image file (a path or a file object), pixels
    ``clamp(x * 255 + 0.5, 0, 255)`` truncated to uint8. A path is written atomically (a temporary
    file, then renamed); its format comes from the extension unless ``format`` is given."""
    from PIL import Image

    grid = make_grid(tensor, **kwargs)
    arr = grid.detach().cpu().float().numpy()
    pixels = np.clip(arr * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    image = Image.fromarray(np.ascontiguousarray(pixels))
    if isinstance(fp, (str, os.PathLike)):
        path = os.fspath(fp)
        buffer = io.BytesIO()
        image.save(buffer, format=format or _extension_format(path))
        atomic_write_bytes(path, buffer.getvalue())
    else:
        image.save(fp, format=format)
