"""torchvision.transforms' names (``md.transforms``): the image pipelines of diffusers' training
examples port by changing the import.

Transforms take PIL images and md tensors (..., C, H, W), as torchvision's v1 transforms do, with
torchvision's signatures, defaults, output sizes and rounding; ``md.transforms.functional`` holds the
functional forms (``to_tensor``, ``resize``, ``crop``, ...). What differs from torchvision:

- Randomness comes from md's default generator (``md.rand`` / ``md.randint``), so ``md.manual_seed``
  makes a pipeline repeatable. Inside an ``md.data`` / ``md.utils.data`` DataLoader, a dataset's
  ``__getitem__`` runs on the prefetch thread, whose default generator is seeded per batch from
  the loader's (seed, epoch, batch): the transforms are repeatable (and resume exactly) and leave
  the training loop's stream alone, where torch's would draw from the global stream. The random
  transforms also take ``generator=`` (an ``md.Generator``), which torchvision's lack.
- float64 does not exist: ``ToTensor`` gives float64 arrays as float32 (torch keeps float64), and
  NumPy's uint16/uint32 (also PIL's "I;16" through ``PILToTensor``) become int32/int64, as
  ``md.tensor`` makes them (torch keeps uint16/uint32).
- Tensor ``Resize`` with ``antialias=True`` (bilinear, bicubic) applies torch's antialiased filters
  (PIL's: a triangle or a Keys cubic with a = -0.5, widened by the downscale factor) as two small
  matrix products, since ``md.F.interpolate`` has no antialias; without it, ``md.F.interpolate``.
- Transforms are plain callables with ``forward``, not ``md.nn.Module`` subclasses.
"""

from __future__ import annotations

import functools
import math
import numbers
import sys
import types
import warnings
from collections.abc import Sequence
from enum import Enum

import numpy as np

from . import _core
from . import functional as F
from ._dtypes import FLOAT_DTYPES as _FLOAT_DTYPES
from ._dtypes import INT_DTYPES as _INT_DTYPES
from ._dtypes import INT_RANGE as _INT_RANGE
from ._dtypes import WIDER_INT

__all__ = [
    "CenterCrop",
    "Compose",
    "ConvertImageDtype",
    "Grayscale",
    "InterpolationMode",
    "Lambda",
    "Normalize",
    "PILToTensor",
    "Pad",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomVerticalFlip",
    "Resize",
    "ToPILImage",
    "ToTensor",
    "functional",
]


class InterpolationMode(Enum):
    """Resampling filters. Tensors take NEAREST, NEAREST_EXACT, BILINEAR and BICUBIC; PIL images all
    (NEAREST_EXACT is PIL's nearest). Where a mode is asked for, PIL's integer constants
    (``PIL.Image.BILINEAR``, ``Image.Resampling.BICUBIC``, ...) are accepted too."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# PIL's resampling constants (Image.NEAREST = 0, LANCZOS = 1, BILINEAR = 2, BICUBIC = 3, BOX = 4, HAMMING = 5)
_MODE_FROM_PIL = {
    0: InterpolationMode.NEAREST,
    1: InterpolationMode.LANCZOS,
    2: InterpolationMode.BILINEAR,
    3: InterpolationMode.BICUBIC,
    4: InterpolationMode.BOX,
    5: InterpolationMode.HAMMING,
}
_PIL_FILTER = {mode: code for code, mode in _MODE_FROM_PIL.items()}
_PIL_FILTER[InterpolationMode.NEAREST_EXACT] = 0
_TENSOR_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic")
_PAD_MODES = ("constant", "edge", "reflect", "symmetric")


# ---- image kinds, sizes and argument checks


def _is_pil(img) -> bool:
    # PIL is imported lazily: if it was never imported, nothing can be a PIL image
    image_module = sys.modules.get("PIL.Image")
    return image_module is not None and isinstance(img, image_module.Image)


def _is_tensor(img) -> bool:
    return isinstance(img, _core.Tensor)


def _check_image(img, where: str) -> None:
    if _is_pil(img):
        return
    if not _is_tensor(img):
        raise TypeError(f"{where}: img should be a PIL Image or an md tensor, got {type(img).__name__}")
    if img.ndim < 2:
        raise ValueError(f"{where}: an image tensor has shape (..., H, W), got shape {list(img.shape)}")


def _dimensions(img, where: str) -> list[int]:
    _check_image(img, where)
    if _is_pil(img):
        return [len(img.getbands()), img.height, img.width]
    shape = list(img.shape)
    return [1 if len(shape) == 2 else shape[-3], shape[-2], shape[-1]]


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _setup_size(size, where: str) -> tuple[int, int]:
    """(h, w) from an int or a sequence of 1 or 2 positive ints, as torchvision's crops read ``size``."""
    if isinstance(size, numbers.Number) and not isinstance(size, bool):
        pair = (int(size), int(size))
    elif isinstance(size, Sequence) and not isinstance(size, str):
        if len(size) not in (1, 2):
            raise ValueError(f"{where}: please provide only two dimensions (h, w) for size, got {tuple(size)}")
        pair = (size[0], size[0]) if len(size) == 1 else tuple(size)
    else:
        raise TypeError(f"{where}: size should be an int or a sequence (h, w), got {type(size).__name__}")
    if not all(_is_int(v) for v in pair):
        raise TypeError(f"{where}: size should hold ints, got {tuple(pair)}")
    if min(pair) < 1:
        raise ValueError(f"{where}: size must be positive, got {tuple(pair)}")
    return int(pair[0]), int(pair[1])


def _interpolation(value, where: str) -> InterpolationMode:
    if isinstance(value, InterpolationMode):
        return value
    if _is_int(value):  # PIL's constants, Image.Resampling members included
        if int(value) not in _MODE_FROM_PIL:
            raise ValueError(f"{where}: {int(value)} is not a PIL resampling constant (0 to 5)")
        return _MODE_FROM_PIL[int(value)]
    raise TypeError(f"{where}: interpolation should be an InterpolationMode or a PIL integer constant, got {value!r}")


def _resize_size(size, max_size, where: str) -> list[int]:
    """torchvision's accepted ``size`` for Resize: [s] (the smaller edge) or [h, w]."""
    if _is_int(size):
        size = [int(size)]
    elif isinstance(size, Sequence) and not isinstance(size, str):
        size = list(size)
        if len(size) not in (1, 2):
            raise ValueError(f"{where}: size must be an int or a 1 or 2 element tuple/list, got {len(size)} elements")
        if not all(_is_int(v) for v in size):
            raise TypeError(f"{where}: size should hold ints, got {size}")
        size = [int(v) for v in size]
    else:
        raise TypeError(f"{where}: size should be an int or a sequence, got {type(size).__name__}")
    if min(size) < 1:
        raise ValueError(f"{where}: size must be positive, got {size}")
    if max_size is not None:
        if len(size) != 1:
            raise ValueError(
                f"{where}: max_size should only be passed if size specifies the length of the smaller edge, "
                f"i.e. size should be an int or a sequence of length 1 (got size={size}, max_size={max_size})"
            )
        if not _is_int(max_size):
            raise TypeError(f"{where}: max_size should be an int, got {max_size!r}")
        if max_size <= size[0]:
            raise ValueError(
                f"{where}: max_size = {max_size} must be strictly greater than the requested size for the "
                f"smaller edge size = {size}"
            )
    return size


def _resized_output_size(height: int, width: int, size: list[int], max_size) -> tuple[int, int]:
    # torchvision's rule: the smaller edge becomes size[0], the longer int(size * long / short)
    if len(size) == 2:
        return size[0], size[1]
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size[0], int(size[0] * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    return new_h, new_w


def _padding_ltrb(padding, where: str) -> list[int]:
    """[left, top, right, bottom] from an int or a sequence of 1, 2 (left/right, top/bottom) or 4."""
    if _is_int(padding):
        return [int(padding)] * 4
    if not isinstance(padding, (tuple, list)):
        raise TypeError(f"{where}: padding should be an int or a tuple/list, got {type(padding).__name__}")
    if len(padding) not in (1, 2, 4):
        raise ValueError(f"{where}: padding must be an int or a 1, 2, or 4 element tuple, not {len(padding)} elements")
    if not all(_is_int(v) for v in padding):
        raise TypeError(f"{where}: padding should hold ints, got {tuple(padding)}")
    p = [int(v) for v in padding]
    if len(p) == 1:
        return p * 4
    if len(p) == 2:
        return [p[0], p[1], p[0], p[1]]
    return p


def _check_fill(fill, where: str) -> None:
    if not isinstance(fill, (numbers.Number, tuple, list)) or isinstance(fill, bool):
        raise TypeError(f"{where}: fill should be a number or a tuple/list of numbers, got {type(fill).__name__}")


def _check_padding_mode(padding_mode, where: str) -> None:
    if padding_mode not in _PAD_MODES:
        raise ValueError(f"{where}: padding_mode should be constant, edge, reflect or symmetric, got {padding_mode!r}")


def _rand(generator) -> float:
    # one uniform draw in [0, 1) from `generator`, the default generator when None
    return _core.rand(1, generator=generator).item()


def _randint(low: int, high: int, generator) -> int:
    return int(_core.randint(low, high, (1,), generator=generator).item())


def _uniform(low: float, high: float, generator) -> float:
    return _core.empty(1, device="cpu").uniform_(low, high, generator=generator).item()


# ---- conversions


def _to_tensor(pic, where: str):
    if not (_is_pil(pic) or isinstance(pic, np.ndarray)):
        raise TypeError(f"{where}: pic should be a PIL Image or ndarray, got {type(pic).__name__}")
    if isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"{where}: pic should be 2/3 dimensional (H, W[, C]), got shape {pic.shape}")
        arr = (pic[:, :, None] if pic.ndim == 2 else pic).transpose(2, 0, 1)
    else:
        # the dtypes torchvision reads each PIL mode as; "1" holds 0/1 and becomes 0/255
        nptype = {"I": np.int32, "I;16": np.int16, "F": np.float32}.get(pic.mode, np.uint8)
        arr = np.array(pic, nptype, copy=True)
        if pic.mode == "1":
            arr = arr * np.uint8(255)
        arr = arr.reshape(pic.height, pic.width, len(pic.getbands())).transpose(2, 0, 1)
    if arr.dtype == np.uint8:  # only uint8 is scaled, as torchvision's (ByteTensor) check
        return _core.tensor(np.ascontiguousarray(arr, dtype=np.float32) / np.float32(255), device="cpu")
    return _array_to_md(arr)  # other dtypes keep their values (and md's dtype for them)


# NumPy's unsigned dtypes md lacks, widened in NumPy first (md.tensor makes them int32/int64 too)


def _array_to_md(arr: np.ndarray):
    return _core.tensor(np.ascontiguousarray(arr, dtype=WIDER_INT.get(arr.dtype, arr.dtype)), device="cpu")


def to_tensor(pic):
    """A PIL image or an (H, W[, C]) array as a (C, H, W) tensor, as torchvision's: uint8 pixels (and
    8-bit PIL modes) become float32 in [0, 1]; other dtypes keep their values and dtype (PIL's "I" is
    int32, "I;16" int16, "F" float32; an int8/int16/int32/int64, float16 or bool array stays so,
    float64 becomes float32 and uint16/uint32 int32/int64, as ``md.tensor`` makes them)."""
    return _to_tensor(pic, "to_tensor")


def _pil_to_tensor(pic, where: str):
    if not _is_pil(pic):
        raise TypeError(f"{where}: pic should be a PIL Image, got {type(pic).__name__}")
    arr = np.array(pic, copy=True).reshape(pic.height, pic.width, len(pic.getbands()))
    return _array_to_md(arr.transpose(2, 0, 1))


def pil_to_tensor(pic):
    """A PIL image as a (C, H, W) tensor of its unscaled values in the dtype NumPy reads it as:
    uint8 for 8-bit modes, bool for "1", int32 for "I", float32 for "F" (as torchvision's); "I;16"
    (NumPy uint16) becomes int32, where torch keeps uint16."""
    return _pil_to_tensor(pic, "pil_to_tensor")


def _to_pil_image(pic, mode, where: str):
    from PIL import Image

    if _is_tensor(pic):
        if pic.ndim not in (2, 3):
            raise ValueError(f"{where}: pic should be 2/3 dimensional (C, H, W), got shape {list(pic.shape)}")
        shape = list(pic.shape)
        if pic.ndim == 3 and shape[0] > 4:
            raise ValueError(f"{where}: pic should not have > 4 channels, got {shape[0]} channels (shape {shape})")
        t = pic.detach()
        if t.dtype in _FLOAT_DTYPES and mode != "F":
            t = t.mul(255).to("uint8")  # torchvision's pic.mul(255).byte(): truncated, and wrapped outside [0, 1]
        if t.dtype == "bfloat16":  # torch's .numpy() refuses it too
            raise TypeError(f"{where}: input type bfloat16 is not supported (shape {shape})")
        arr = t.cpu().numpy()
        if arr.ndim == 3:
            arr = arr.transpose(1, 2, 0)
    elif isinstance(pic, np.ndarray):
        arr, shape = pic, list(pic.shape)
    else:
        raise TypeError(f"{where}: pic should be an md tensor or ndarray, got {type(pic).__name__}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"{where}: pic should be 2/3 dimensional, got shape {shape}")
    if arr.shape[-1] > 4:
        raise ValueError(f"{where}: pic should not have > 4 channels, got {arr.shape[-1]} channels (shape {shape})")
    channels = arr.shape[2]
    if channels == 1:
        arr = arr[:, :, 0]
        expected = {
            np.dtype(np.uint8): "L",
            np.dtype(np.int16): "I;16",
            np.dtype(np.int32): "I",
            np.dtype(np.float32): "F",
        }.get(arr.dtype)
        if mode is not None and mode != expected:
            raise ValueError(
                f"{where}: incorrect mode ({mode}) supplied for input type {arr.dtype}; should be {expected}"
            )
        mode = expected
    else:
        permitted = {2: ["LA"], 3: ["RGB", "YCbCr", "HSV"], 4: ["RGBA", "CMYK", "RGBX"]}[channels]
        if mode is not None and mode not in permitted:
            raise ValueError(
                f"{where}: only modes {permitted} are supported for {channels}-channel inputs, got {mode!r}"
            )
        if mode is None and arr.dtype == np.uint8:
            mode = permitted[0]
    if mode is None:
        raise TypeError(f"{where}: input type {arr.dtype} is not supported (shape {shape})")
    return Image.fromarray(arr, mode=mode)


def to_pil_image(pic, mode=None):
    """A (C, H, W) tensor or an (H, W, C) array as a PIL image, as torchvision's: a float tensor's
    values are multiplied by 255 and truncated into uint8 (unless ``mode`` is "F"); one channel of
    uint8, int16, int32 or float32 is mode "L", "I;16", "I" or "F", 2/3/4 channels of uint8 "LA",
    "RGB", "RGBA"; other dtypes (int64, int8, bool, ...) need a ``mode`` PIL takes for them, or
    raise TypeError. An array's values are taken as they are (a float32 (H, W) array is mode "F")."""
    return _to_pil_image(pic, mode, "to_pil_image")


_DTYPE_NAMES = ("float32", "bfloat16", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")


def _check_dtype(dtype, where: str) -> str:
    if dtype not in _DTYPE_NAMES:
        raise ValueError(f"{where}: dtype must be one of {', '.join(map(repr, _DTYPE_NAMES))}, got {dtype!r}")
    return dtype


def _max_value(dtype: str) -> int:
    # torchvision's _max_value: an integer dtype's largest value; 1 for bool (and the floats)
    return _INT_RANGE[dtype][1] if dtype in _INT_RANGE else 1


def _convert_image_dtype(image, dtype, where: str):
    if not _is_tensor(image):
        raise TypeError(f"{where}: image should be an md tensor, got {type(image).__name__}")
    dtype = _check_dtype(dtype, where)
    if image.dtype == dtype:
        return image
    if image.dtype in _FLOAT_DTYPES:
        if dtype in _FLOAT_DTYPES:
            return image.to(dtype)
        if image.dtype == "float32" and dtype in ("int32", "int64"):
            raise TypeError(
                f"{where}: the cast from {image.dtype} to {dtype} cannot be performed safely (torchvision "
                f"refuses it too; image shape {list(image.shape)})"
            )
        # x * (max + 1 - 1e-3) in the image's dtype, truncated (and wrapped) into the integer dtype
        return image.mul(float(_max_value(dtype)) + 1.0 - 1e-3).to(dtype)
    input_max = float(_max_value(image.dtype))
    if dtype in _FLOAT_DTYPES:
        return image.to(dtype) / input_max
    output_max = float(_max_value(dtype))
    # between integer dtypes (bool's maximum being 1): scaled by a power of two, computed in
    # floats as torchvision does (int64's maximum is 2**63 there)
    if input_max > output_max:
        factor = int((input_max + 1) // (output_max + 1))
        return image.div(factor, rounding_mode="floor").to(dtype)
    factor = int((output_max + 1) // (input_max + 1))
    return image.to(dtype) * factor


def convert_image_dtype(image, dtype="float32"):
    """Converts a tensor image's dtype and scales its values, as torchvision's: an integer image's
    range [0, max] (uint8 0..255, int16 0..32767, ...; a bool's maximum is 1) maps to [0, 1] in
    floats, divided by max; float -> integer is ``x * (max + 1 - 1e-3)`` truncated (values outside
    [0, 1] wrap, as the cast does), float32 -> int32/int64 is refused; integer -> integer divides
    (floor) or multiplies by a power of two ((in_max + 1) // (out_max + 1)); the same dtype returns
    the image itself."""
    return _convert_image_dtype(image, dtype, "convert_image_dtype")


def _normalize(tensor, mean, std, inplace: bool, where: str):
    if not _is_tensor(tensor):
        raise TypeError(f"{where}: input should be an md tensor, got {type(tensor).__name__}")
    if tensor.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{where}: input tensor should be a float tensor, got {tensor.dtype}")
    shape = list(tensor.shape)
    if len(shape) < 3:
        raise ValueError(f"{where}: expected a tensor image of size (..., C, H, W), got shape {shape}")
    mean_arr = np.asarray(mean, dtype=np.float32)
    std_arr = np.asarray(std, dtype=np.float32)
    for name, arr in (("mean", mean_arr), ("std", std_arr)):
        if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, shape[-3])):
            raise ValueError(
                f"{where}: {name} has {arr.size} values for an image with {shape[-3]} channels (shape {shape})"
            )
    if (std_arr == 0).any():
        raise ValueError(f"{where}: std evaluated to zero after conversion to float32, leading to division by zero")
    m = _core.tensor(mean_arr.reshape(-1, 1, 1), device=tensor.device).to(tensor.dtype)
    s = _core.tensor(std_arr.reshape(-1, 1, 1), device=tensor.device).to(tensor.dtype)
    if inplace:
        return tensor.sub_(m).div_(s)
    return (tensor - m) / s


def normalize(tensor, mean, std, inplace=False):
    """``(tensor - mean[c]) / std[c]`` per channel of a float (..., C, H, W) tensor."""
    return _normalize(tensor, mean, std, inplace, "normalize")


# ---- geometry


def _pad_tensor(img, ltrb: list[int], fill, padding_mode: str, where: str):
    if not isinstance(fill, numbers.Number) or isinstance(fill, bool):
        raise TypeError(f"{where}: fill for a tensor image should be a number, got {fill!r}")
    left, top, right, bottom = ltrb
    if min(ltrb) < 0:  # negative padding crops
        h, w = img.shape[-2:]
        img = img[..., max(-top, 0) : h - max(-bottom, 0), max(-left, 0) : w - max(-right, 0)]
        left, top, right, bottom = (max(v, 0) for v in ltrb)
    if padding_mode == "constant":
        return F.pad(img, [left, right, top, bottom], value=float(fill))
    h, w = img.shape[-2:]
    if padding_mode == "reflect" and (max(left, right) >= w or max(top, bottom) >= h):
        raise ValueError(
            f"{where}: reflect padding {[left, top, right, bottom]} must be smaller than the image "
            f"(shape {list(img.shape)})"
        )
    np_mode = {"edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}[padding_mode]
    rows = np.pad(np.arange(h), (top, bottom), mode=np_mode)
    cols = np.pad(np.arange(w), (left, right), mode=np_mode)
    ndim = img.ndim
    img = img.index_select(ndim - 2, _core.tensor(rows, device=img.device))
    return img.index_select(ndim - 1, _core.tensor(cols, device=img.device))


def _pil_fill(fill, img, where: str):
    bands = len(img.getbands())
    if isinstance(fill, (tuple, list)):
        if len(fill) == 1:
            fill = list(fill) * bands
        elif len(fill) != bands:
            raise ValueError(
                f"{where}: the number of elements in fill does not match the number of channels of the image "
                f"({len(fill)} != {bands})"
            )
        return tuple(float(v) if img.mode == "F" else int(v) for v in fill)
    if bands > 1:
        return tuple([int(fill)] * bands)
    return float(fill) if img.mode == "F" else int(fill)


def _pad_pil(img, ltrb: list[int], fill, padding_mode: str, where: str):
    from PIL import Image

    left, top, right, bottom = ltrb
    if padding_mode == "constant":
        color = _pil_fill(fill, img, where)
        if isinstance(color, tuple) and len(color) == 1:
            color = color[0]
        out = Image.new(img.mode, (img.width + left + right, img.height + top + bottom), color)
        out.paste(img, (left, top))  # a negative offset crops
        if img.mode == "P":
            out.putpalette(img.getpalette())
        return out
    if min(ltrb) < 0:
        img = img.crop((max(-left, 0), max(-top, 0), img.width - max(-right, 0), img.height - max(-bottom, 0)))
        left, top, right, bottom = (max(v, 0) for v in ltrb)
    arr = np.asarray(img)
    widths = ((top, bottom), (left, right)) + (((0, 0),) if arr.ndim == 3 else ())
    out = Image.fromarray(np.pad(arr, widths, mode=padding_mode))
    if img.mode == "P":
        out.putpalette(img.getpalette())
    return out


def _pad(img, padding, fill, padding_mode, where: str):
    _check_image(img, where)
    ltrb = _padding_ltrb(padding, where)
    _check_fill(fill, where)
    _check_padding_mode(padding_mode, where)
    if _is_pil(img):
        return _pad_pil(img, ltrb, fill, padding_mode, where)
    return _pad_tensor(img, ltrb, fill, padding_mode, where)


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pads (negative entries crop) by ``padding``: an int, (left/right, top/bottom) or (left, top, right,
    bottom); modes "constant" (``fill``), "edge", "reflect" and "symmetric"."""
    return _pad(img, padding, fill, padding_mode, "pad")


def _crop(img, top: int, left: int, height: int, width: int, where: str):
    _check_image(img, where)
    if _is_pil(img):
        return img.crop((left, top, left + width, top + height))  # PIL fills outside the image with 0
    h, w = img.shape[-2:]
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        ltrb = [
            max(-left + min(0, right), 0),
            max(-top + min(0, bottom), 0),
            max(right - max(w, left), 0),
            max(bottom - max(h, top), 0),
        ]
        return _pad_tensor(img[..., max(top, 0) : bottom, max(left, 0) : right], ltrb, 0, "constant", where)
    return img[..., top:bottom, left:right]


def crop(img, top, left, height, width):
    """The (height, width) region at (top, left); parts outside the image are zeros."""
    return _crop(img, int(top), int(left), int(height), int(width), "crop")


def _center_crop(img, output_size, where: str):
    crop_h, crop_w = _setup_size(output_size, where)
    _, h, w = _dimensions(img, where)
    if crop_w > w or crop_h > h:
        ltrb = [
            (crop_w - w) // 2 if crop_w > w else 0,
            (crop_h - h) // 2 if crop_h > h else 0,
            (crop_w - w + 1) // 2 if crop_w > w else 0,
            (crop_h - h + 1) // 2 if crop_h > h else 0,
        ]
        img = _pad(img, ltrb, 0, "constant", where)
        _, h, w = _dimensions(img, where)
        if crop_w == w and crop_h == h:
            return img
    top, left = int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0))
    return _crop(img, top, left, crop_h, crop_w, where)


def center_crop(img, output_size):
    """The central ``output_size`` region, zero-padded first where the image is smaller."""
    return _center_crop(img, output_size, "center_crop")


def _hflip(img, where: str):
    _check_image(img, where)
    if _is_pil(img):
        return img.transpose(0)  # Image.Transpose.FLIP_LEFT_RIGHT
    return img.flip(-1)


def _vflip(img, where: str):
    _check_image(img, where)
    if _is_pil(img):
        return img.transpose(1)  # Image.Transpose.FLIP_TOP_BOTTOM
    return img.flip(-2)


def hflip(img):
    """Mirrors the image left-right."""
    return _hflip(img, "hflip")


def vflip(img):
    """Mirrors the image top-bottom."""
    return _vflip(img, "vflip")


# ---- resizing


def _triangle(x: np.ndarray) -> np.ndarray:
    return np.maximum(1.0 - np.abs(x), 0.0)


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    # the cubic PIL and torch's antialiased bicubic use: a = -0.5 (plain bicubic uses -0.75)
    a = -0.5
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


@functools.lru_cache(maxsize=64)
def _antialias_weights(n_in: int, n_out: int, mode: str) -> np.ndarray:
    """Resampling matrix (n_out, n_in) of PIL's (and torch's antialiased interpolate's) separable filter:
    each output pixel averages the input pixels under the filter, widened by the scale when shrinking."""
    scale = n_in / n_out
    half_width = 1.0 if mode == "bilinear" else 2.0
    support = half_width * scale if scale >= 1.0 else half_width
    inv_scale = 1.0 / scale if scale >= 1.0 else 1.0
    kernel = _triangle if mode == "bilinear" else _keys_cubic
    weights = np.zeros((n_out, n_in), dtype=np.float64)
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        w = kernel((np.arange(lo, hi) - center + 0.5) * inv_scale)
        total = w.sum()
        weights[i, lo:hi] = w / total if total != 0.0 else w
    return weights.astype(np.float32)


def _resize_tensor(img, out_h: int, out_w: int, mode: str, antialias, where: str):
    if mode not in _TENSOR_MODES:
        raise ValueError(
            f"{where}: interpolation {mode!r} is for PIL images; tensors take {', '.join(_TENSOR_MODES)} "
            f"(image shape {list(img.shape)})"
        )
    shape = list(img.shape)
    h, w = shape[-2:]
    x = img.reshape([int(np.prod(shape[:-2], dtype=np.int64)), 1, h, w])
    if x.dtype != "float32":
        x = x.float()
    if antialias and mode in ("bilinear", "bicubic"):
        if out_h != h:
            x = _core.tensor(_antialias_weights(h, out_h, mode), device=x.device) @ x
        if out_w != w:
            x = x @ _core.tensor(np.ascontiguousarray(_antialias_weights(w, out_w, mode).T), device=x.device)
    else:
        align = False if mode in ("bilinear", "bicubic") else None
        x = F.interpolate(x, size=[out_h, out_w], mode=mode, align_corners=align)
    if img.dtype in _INT_DTYPES:  # rounded back, as torchvision does; bicubic's overshoot clipped for uint8 only
        if img.dtype == "uint8" and mode == "bicubic":
            x = x.clamp(0, 255)
        x = x.round().to(img.dtype)
    elif img.dtype != "float32":  # 16-bit floats and bool: cast back, as torchvision
        x = x.to(img.dtype)
    return x.reshape(shape[:-2] + [out_h, out_w])


def _resize(img, size, interpolation, max_size, antialias, where: str):
    mode = _interpolation(interpolation, where)
    size = _resize_size(size, max_size, where)
    _, h, w = _dimensions(img, where)
    out_h, out_w = _resized_output_size(h, w, size, max_size)
    if (out_h, out_w) == (h, w):
        return img
    if _is_pil(img):
        if antialias is False:
            warnings.warn(
                f"{where}: antialias is always applied to PIL images; antialias=False is ignored", stacklevel=3
            )
        return img.resize((out_w, out_h), _PIL_FILTER[mode])
    return _resize_tensor(img, out_h, out_w, mode.value, antialias, where)


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resizes to ``size`` (h, w), or an int: the smaller edge becomes ``size``, the longer
    ``int(size * long / short)``, capped at ``max_size``. PIL images go through PIL's resize with
    the same filter; tensors as described in the module docstring."""
    return _resize(img, size, interpolation, max_size, antialias, "resize")


def resized_crop(img, top, left, height, width, size, interpolation=InterpolationMode.BILINEAR, antialias=True):
    """``crop`` then ``resize`` to ``size``."""
    img = _crop(img, int(top), int(left), int(height), int(width), "resized_crop")
    return _resize(img, size, interpolation, None, antialias, "resized_crop")


# ---- colour


def _rgb_to_grayscale(img, num_output_channels: int, where: str):
    if num_output_channels not in (1, 3):
        raise ValueError(f"{where}: num_output_channels should be either 1 or 3, got {num_output_channels!r}")
    _check_image(img, where)
    if _is_pil(img):
        from PIL import Image

        gray = img.convert("L")  # ITU-R 601-2 luma, in PIL's integer arithmetic
        if num_output_channels == 3:
            arr = np.asarray(gray)
            gray = Image.fromarray(np.dstack([arr, arr, arr]), "RGB")
        return gray
    shape = list(img.shape)
    if img.ndim < 3 or shape[-3] not in (1, 3):
        raise ValueError(f"{where}: a tensor image needs 1 or 3 channels (..., C, H, W), got shape {shape}")
    if shape[-3] == 1:
        gray = img.clone()
    else:
        dim = img.ndim - 3
        r, g, b = (img.narrow(dim, c, 1) for c in range(3))
        # torchvision's weights for tensors, in the image's float dtype (integers: float32), truncated back
        gray = (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype)
    if num_output_channels == 3:
        return gray.expand(shape[:-3] + [3] + shape[-2:])
    return gray


def rgb_to_grayscale(img, num_output_channels=1):
    """Luma of an RGB image: PIL's ``convert("L")`` for PIL images, ``0.2989 R + 0.587 G + 0.114 B``
    for tensors (torchvision's weights); repeated to 3 channels if asked."""
    return _rgb_to_grayscale(img, num_output_channels, "rgb_to_grayscale")


def to_grayscale(img, num_output_channels=1):
    """``rgb_to_grayscale`` for PIL images only."""
    if not _is_pil(img):
        raise TypeError(f"to_grayscale: img should be a PIL Image, got {type(img).__name__}")
    return _rgb_to_grayscale(img, num_output_channels, "to_grayscale")


def get_dimensions(img) -> list[int]:
    """[channels, height, width] of a PIL image or a tensor (..., [C,] H, W)."""
    return _dimensions(img, "get_dimensions")


def get_image_size(img) -> list[int]:
    """[width, height], as torchvision orders it."""
    _, h, w = _dimensions(img, "get_image_size")
    return [w, h]


def get_image_num_channels(img) -> int:
    return _dimensions(img, "get_image_num_channels")[0]


# ---- transforms


class Compose:
    """Applies ``transforms`` in order."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        lines = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({lines}\n)"


class _Transform:
    """A transform whose work is ``forward``, as torchvision's (torch.nn.Module) transforms."""

    def __call__(self, img):
        return self.forward(img)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Lambda(_Transform):
    """Applies a user function."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Lambda: lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def forward(self, img):
        return self.lambd(img)


class ToTensor(_Transform):
    """PIL image or (H, W[, C]) array -> (C, H, W) tensor; uint8 -> float32 in [0, 1], other dtypes
    kept (see ``to_tensor``)."""

    def forward(self, pic):
        return _to_tensor(pic, "ToTensor")


class PILToTensor(_Transform):
    """PIL image -> (C, H, W) tensor of its unscaled values (uint8 for 8-bit modes; see ``pil_to_tensor``)."""

    def forward(self, pic):
        return _pil_to_tensor(pic, "PILToTensor")


class ToPILImage(_Transform):
    """(C, H, W) tensor or (H, W, C) array -> PIL image; 1 channel: "L" (uint8), "I;16", "I" or "F"
    by dtype; 3: "RGB"; 4: "RGBA"; 2: "LA"; float values times 255, truncated (unless ``mode`` "F")."""

    def __init__(self, mode=None):
        self.mode = mode

    def forward(self, pic):
        return _to_pil_image(pic, self.mode, "ToPILImage")

    def extra_repr(self) -> str:
        return f"mode={self.mode}" if self.mode is not None else ""


class ConvertImageDtype(_Transform):
    """``convert_image_dtype``: to ``dtype`` (any md dtype name), rescaling the values as torchvision's
    (integer images span [0, max], float images [0, 1])."""

    def __init__(self, dtype):
        self.dtype = _check_dtype(dtype, "ConvertImageDtype")

    def forward(self, image):
        return _convert_image_dtype(image, self.dtype, "ConvertImageDtype")

    def extra_repr(self) -> str:
        return f"dtype={self.dtype}"


class Normalize(_Transform):
    """``(x - mean[c]) / std[c]`` per channel of a float (..., C, H, W) tensor; ``inplace`` writes into it."""

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def forward(self, tensor):
        return _normalize(tensor, self.mean, self.std, self.inplace, "Normalize")

    def extra_repr(self) -> str:
        return f"mean={self.mean}, std={self.std}"


class Resize(_Transform):
    """Resizes to ``size`` (h, w), or the smaller edge to an int ``size`` (the longer one
    ``int(size * long / short)``, capped at ``max_size``). PIL images use PIL's resize with the same
    filter as torchvision (always antialiased); tensors see the module docstring."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
        _resize_size(size, max_size, "Resize")  # fail early, with the transform's name
        self.size = size
        self.max_size = max_size
        self.interpolation = _interpolation(interpolation, "Resize")
        self.antialias = antialias

    def forward(self, img):
        return _resize(img, self.size, self.interpolation, self.max_size, self.antialias, "Resize")

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, interpolation={self.interpolation.value}, max_size={self.max_size}, "
            f"antialias={self.antialias}"
        )


class CenterCrop(_Transform):
    """The central (h, w) region; an image smaller than that is zero-padded around first."""

    def __init__(self, size):
        self.size = _setup_size(size, "CenterCrop")

    def forward(self, img):
        return _center_crop(img, self.size, "CenterCrop")

    def extra_repr(self) -> str:
        return f"size={self.size}"


class Pad(_Transform):
    """Pads by ``padding`` (int, (left/right, top/bottom) or (left, top, right, bottom)) with ``fill``
    ("constant") or by "edge", "reflect" or "symmetric" copies of the border."""

    def __init__(self, padding, fill=0, padding_mode="constant"):
        if not isinstance(padding, (numbers.Number, tuple, list)):
            raise TypeError(f"Pad: padding should be an int or a tuple/list, got {type(padding).__name__}")
        _padding_ltrb(padding, "Pad")
        _check_fill(fill, "Pad")
        _check_padding_mode(padding_mode, "Pad")
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def forward(self, img):
        return _pad(img, self.padding, self.fill, self.padding_mode, "Pad")

    def extra_repr(self) -> str:
        return f"padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode}"


class RandomCrop(_Transform):
    """A (h, w) crop at a uniformly drawn position, after optional ``padding`` and, with
    ``pad_if_needed``, padding of a side smaller than the crop (on both sides by the shortfall)."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant", *, generator=None):
        self.size = _setup_size(size, "RandomCrop")
        if padding is not None:
            _padding_ltrb(padding, "RandomCrop")
        _check_fill(fill, "RandomCrop")
        _check_padding_mode(padding_mode, "RandomCrop")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode
        self.generator = generator

    @staticmethod
    def get_params(img, output_size, *, generator=None) -> tuple[int, int, int, int]:
        """(top, left, h, w) of a random crop of ``output_size``."""
        _, h, w = _dimensions(img, "RandomCrop")
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        return _randint(0, h - th + 1, generator), _randint(0, w - tw + 1, generator), th, tw

    def forward(self, img):
        where = "RandomCrop"
        if self.padding is not None:
            img = _pad(img, self.padding, self.fill, self.padding_mode, where)
        _, height, width = _dimensions(img, where)
        if self.pad_if_needed and width < self.size[1]:
            img = _pad(img, [self.size[1] - width, 0], self.fill, self.padding_mode, where)
        if self.pad_if_needed and height < self.size[0]:
            img = _pad(img, [0, self.size[0] - height], self.fill, self.padding_mode, where)
        top, left, h, w = self.get_params(img, self.size, generator=self.generator)
        return _crop(img, top, left, h, w, where)

    def extra_repr(self) -> str:
        return f"size={self.size}, padding={self.padding}"


class RandomResizedCrop(_Transform):
    """A crop of random area (a ``scale`` fraction of the image) and aspect ratio (log-uniform in
    ``ratio``), resized to ``size``: torchvision's 10 attempts, then a central crop clamped to ``ratio``."""

    def __init__(
        self,
        size,
        scale=(0.08, 1.0),
        ratio=(3.0 / 4.0, 4.0 / 3.0),
        interpolation=InterpolationMode.BILINEAR,
        antialias=True,
        *,
        generator=None,
    ):
        self.size = _setup_size(size, "RandomResizedCrop")
        if not isinstance(scale, Sequence) or len(scale) != 2:
            raise TypeError(f"RandomResizedCrop: scale should be a sequence (min, max), got {scale!r}")
        if not isinstance(ratio, Sequence) or len(ratio) != 2:
            raise TypeError(f"RandomResizedCrop: ratio should be a sequence (min, max), got {ratio!r}")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            warnings.warn("RandomResizedCrop: scale and ratio should be of kind (min, max)", stacklevel=2)
        self.interpolation = _interpolation(interpolation, "RandomResizedCrop")
        self.antialias = antialias
        self.scale = scale
        self.ratio = ratio
        self.generator = generator

    @staticmethod
    def get_params(img, scale, ratio, *, generator=None) -> tuple[int, int, int, int]:
        """(top, left, h, w) of a random crop; see the class docstring."""
        _, height, width = _dimensions(img, "RandomResizedCrop")
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * _uniform(scale[0], scale[1], generator)
            aspect_ratio = math.exp(_uniform(log_ratio[0], log_ratio[1], generator))
            w = int(round(math.sqrt(target_area * aspect_ratio)))
            h = int(round(math.sqrt(target_area / aspect_ratio)))
            if 0 < w <= width and 0 < h <= height:
                return _randint(0, height - h + 1, generator), _randint(0, width - w + 1, generator), h, w
        # fallback: a central crop, the whole image unless its aspect ratio is outside `ratio`
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w, h = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            h, w = height, int(round(height * max(ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def forward(self, img):
        top, left, h, w = self.get_params(img, self.scale, self.ratio, generator=self.generator)
        img = _crop(img, top, left, h, w, "RandomResizedCrop")
        return _resize(img, list(self.size), self.interpolation, None, self.antialias, "RandomResizedCrop")

    def extra_repr(self) -> str:
        scale = tuple(round(s, 4) for s in self.scale)
        ratio = tuple(round(r, 4) for r in self.ratio)
        return (
            f"size={self.size}, scale={scale}, ratio={ratio}, interpolation={self.interpolation.value}, "
            f"antialias={self.antialias}"
        )


class RandomHorizontalFlip(_Transform):
    """Mirrors left-right when a uniform draw is below ``p``."""

    def __init__(self, p=0.5, *, generator=None):
        self.p = p
        self.generator = generator

    def forward(self, img):
        if _rand(self.generator) < self.p:
            return _hflip(img, "RandomHorizontalFlip")
        return img

    def extra_repr(self) -> str:
        return f"p={self.p}"


class RandomVerticalFlip(_Transform):
    """Mirrors top-bottom when a uniform draw is below ``p``."""

    def __init__(self, p=0.5, *, generator=None):
        self.p = p
        self.generator = generator

    def forward(self, img):
        if _rand(self.generator) < self.p:
            return _vflip(img, "RandomVerticalFlip")
        return img

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Grayscale(_Transform):
    """``rgb_to_grayscale``: PIL's "L" (ITU-R 601-2 luma) for PIL images, torchvision's weights for
    tensors; ``num_output_channels`` 1 or 3."""

    def __init__(self, num_output_channels=1):
        if num_output_channels not in (1, 3):
            raise ValueError(f"Grayscale: num_output_channels should be either 1 or 3, got {num_output_channels!r}")
        self.num_output_channels = num_output_channels

    def forward(self, img):
        return _rgb_to_grayscale(img, self.num_output_channels, "Grayscale")

    def extra_repr(self) -> str:
        return f"num_output_channels={self.num_output_channels}"


# torchvision.transforms.functional's names, importable as minidiff.transforms.functional
functional = types.ModuleType(__name__ + ".functional", "torchvision.transforms.functional's names (md.transforms).")
for _name in (
    "InterpolationMode",
    "center_crop",
    "convert_image_dtype",
    "crop",
    "get_dimensions",
    "get_image_num_channels",
    "get_image_size",
    "hflip",
    "normalize",
    "pad",
    "pil_to_tensor",
    "resize",
    "resized_crop",
    "rgb_to_grayscale",
    "to_grayscale",
    "to_pil_image",
    "to_tensor",
    "vflip",
):
    setattr(functional, _name, globals()[_name])
functional.__all__ = [n for n in vars(functional) if not n.startswith("_")]
sys.modules[functional.__name__] = functional
del _name
