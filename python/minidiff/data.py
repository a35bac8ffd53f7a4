"""Image datasets and a prefetching, resumable batch loader (``md.data``).

``load_dataset`` turns each supported source into one in-memory ``Dataset``: float32 images
(N, C, H, W) scaled to [-1, 1], the range diffusion models are trained in, plus optional int64
labels. ``DataLoader`` shuffles with a NumPy generator derived from (seed, epoch), so the order of
any epoch can be rebuilt from two integers; that is what makes ``state_dict`` / ``load_state_dict``
resume a run on exactly the batches it would have seen. A background thread assembles the next
batches (gather or collate, flip) while the model trains on the current one; the batch's NumPy
arrays become md tensors on the consumer's thread, so device copies happen in the same order as
the rest of the work (items that are md tensors already, and a ``collate_fn``'s work, are handled
on the prefetch thread). Any
other map-style dataset, or a plain array, is batched too, its items collated field by field as
torch's ``default_collate`` does; so is an ``md.utils.data.IterableDataset``, in the order it yields.
"""

from __future__ import annotations

import copy
import gzip
import itertools
import math
import operator
import os
import pickle
import queue
import struct
import threading
import weakref
import zlib
from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np

from . import _core
from ._dtypes import WIDER_INT

__all__ = ["DataLoader", "Dataset", "load_dataset"]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

_FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
_CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
_SPLIT_NAMES = ("train", "test", "val", "valid", "validation")  # subfolders that make a tree a split layout


class Dataset:
    """Images (N, C, H, W) float32 in [-1, 1] and optional int64 labels (N,), held in memory.

    ``dataset[i]`` is ``(image (C, H, W) float32, label int)``, the label -1 when the dataset has
    none. With ``random_flip`` set, ``dataset[i]`` mirrors the image left-right half the time (from
    the dataset's own generator); ``DataLoader`` draws its own seeded flips instead and reads the
    unflipped images through ``get_batch``.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray | None = None,
        *,
        class_names: list[str] | None = None,
        source: str = "",
        random_flip: bool = False,
        seed: int | None = None,
    ):
        images = np.ascontiguousarray(images, dtype=np.float32)
        if images.ndim != 4:
            raise ValueError(f"Dataset: images must be (N, C, H, W), got shape {images.shape} ({source})")
        if images.shape[0] == 0:  # nothing to train on or to size a model by; say so before an IndexError does
            raise ValueError(f"Dataset: {source or 'the array'} holds no images (shape {images.shape})")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.dtype.kind not in "iu":
                raise ValueError(f"Dataset: labels must be integers, got dtype {labels.dtype} ({source})")
            labels = labels.astype(np.int64).reshape(-1)
            if labels.shape[0] != images.shape[0]:
                raise ValueError(f"Dataset: {images.shape[0]} images but {labels.shape[0]} labels ({source})")
            if labels.size and labels.min() < 0:
                raise ValueError(f"Dataset: labels must be >= 0, got {labels.min()} ({source})")
        self.images = images
        self.labels = labels
        self.class_names = class_names
        self.source = source
        self.random_flip = bool(random_flip)
        self._rng = np.random.default_rng(seed)

    @property
    def num_classes(self) -> int | None:
        """Number of classes, or None when there are no labels."""
        if self.labels is None:
            return None
        top = int(self.labels.max()) + 1 if self.labels.size else 0
        return max(top, len(self.class_names or ()))

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        return self.images.shape[2], self.images.shape[3]

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        n = len(self)
        try:
            i = operator.index(index)  # a float or a string is an error, as for arrays, not a truncated int
        except TypeError:
            raise TypeError(f"Dataset indices must be integers, got {type(index).__name__} {index!r}") from None
        if not -n <= i < n:
            raise IndexError(f"Dataset index {index} out of range for {n} images")
        image = self.images[i]
        if self.random_flip and self._rng.random() < 0.5:
            image = image[:, :, ::-1]
        label = int(self.labels[i]) if self.labels is not None else -1
        return np.array(image), label

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Images (B, C, H, W) and labels (B,) (or None) at ``indices``, unflipped; copies."""
        labels = self.labels[indices] if self.labels is not None else None
        return self.images[indices], labels

    def __repr__(self) -> str:
        return (
            f"Dataset({len(self)} images, channels={self.channels}, size={self.image_size}, "
            f"num_classes={self.num_classes}, source={self.source!r})"
        )


# ---- pixel conversions (all sources end as float32 (N, C, H, W) in [-1, 1])


def _uint8_to_unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def _float_to_unit(images: np.ndarray, value_range, where: str) -> np.ndarray:
    images = images.astype(np.float32)
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{where}: image values must be finite")
    lo, hi = (float(images.min()), float(images.max())) if images.size else (0.0, 0.0)
    if value_range is None:
        # values all in [0, 1] are read as [0, 1] images; otherwise they must already be in [-1, 1]
        value_range = (0, 1) if lo >= 0.0 and hi <= 1.0 else (-1, 1)
    value_range = tuple(value_range)
    if value_range == (0, 1):
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"{where}: value_range (0, 1) but values span [{lo}, {hi}]")
        return images * np.float32(2.0) - np.float32(1.0)
    if value_range == (-1, 1):
        if lo < -1.0 or hi > 1.0:
            raise ValueError(f"{where}: float images must lie in [0, 1] or [-1, 1], got values in [{lo}, {hi}]")
        return images
    raise ValueError(f"{where}: value_range must be None, (0, 1) or (-1, 1), got {value_range}")


def _set_channels(images: np.ndarray, channels: int | None, where: str) -> np.ndarray:
    c = images.shape[1]
    if channels is None or channels == c:
        return images
    if c == 1 and channels == 3:
        return np.repeat(images, 3, axis=1)
    if c == 3 and channels == 1:
        # ITU-R 601-2 luma, the weights Pillow uses for RGB -> L
        w = np.array([0.299, 0.587, 0.114], dtype=np.float32).reshape(1, 3, 1, 1)
        return (images * w).sum(axis=1, keepdims=True, dtype=np.float32)
    raise ValueError(f"{where}: cannot turn {c}-channel images into {channels} channels (expected 1 or 3)")


def _crop_box(w: int, h: int, size: int) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    # torchvision's Resize(size) then CenterCrop(size), as diffusers' training scripts chain them:
    # the shorter side becomes `size`, the longer int(size * long / short); the crop starts at
    # round((new - size) / 2)
    nw, nh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    left, top = int(round((nw - size) / 2.0)), int(round((nh - size) / 2.0))
    return (nw, nh), (left, top, left + size, top + size)


def _resize_array(images: np.ndarray, size: int | None) -> np.ndarray:
    """Resizes float images (N, C, H, W): shorter side to ``size`` (bilinear, antialiased), centre crop."""
    if size is None:
        return images
    n, c, h, w = images.shape
    if h == size and w == size:
        return images
    from PIL import Image

    (nw, nh), box = _crop_box(w, h, size)
    out = np.empty((n, c, size, size), dtype=np.float32)
    for i in range(n):
        for ch in range(c):
            img = Image.fromarray(images[i, ch]).resize((nw, nh), Image.BILINEAR, box=None)
            out[i, ch] = np.asarray(img.crop(box), dtype=np.float32)
    # bilinear interpolation cannot leave [-1, 1], but keep rounding from doing so
    return np.clip(out, -1.0, 1.0, out=out)


def _check_size(size, where: str) -> int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{where}: image_size must be a positive int, got {size!r}")
    return int(size)


# ---- sources


def _load_digits(split: str) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    from sklearn.datasets import load_digits

    if split not in ("train", "all"):
        raise ValueError(f"load_dataset('digits'): the bundled digits have one split, 'train'; got {split!r}")
    d = load_digits()
    images = (d.images.astype(np.float32) / np.float32(8.0) - np.float32(1.0))[:, None]  # 0..16 -> [-1, 1]
    return images, d.target.astype(np.int64), [str(i) for i in range(10)], "sklearn digits"


def _open_maybe_gz(path: str):
    with open(path, "rb") as f:
        head = f.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file (raw or gzip-compressed) of unsigned bytes into a NumPy uint8 array."""
    try:
        with _open_maybe_gz(path) as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # a damaged .gz raises zlib.error
        raise ValueError(f"cannot read IDX file {path}: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise ValueError(f"{path}: only unsigned-byte IDX files are supported (type code {data[2]:#04x})")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    count = math.prod(shape)  # Python ints: a damaged header's huge sizes must not wrap around
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != count:
        raise ValueError(f"{path}: IDX header says shape {shape} ({count} bytes) but holds {body.size} bytes")
    return body.reshape(shape)


def _find_idx(root: str, prefix: str, kind: str) -> str:
    # e.g. train-images-idx3-ubyte[.gz], also the dotted variant train-images.idx3-ubyte
    dims = "3" if kind == "images" else "1"
    stems = [f"{prefix}-{kind}-idx{dims}-ubyte", f"{prefix}-{kind}.idx{dims}-ubyte"]
    candidates = [os.path.join(root, s + ext) for s in stems for ext in ("", ".gz")]
    for c in candidates:
        if os.path.isfile(c):
            return c
    raise FileNotFoundError(f"no {prefix} {kind} IDX file in {root} (looked for {', '.join(candidates)})")


def _load_idx_dir(root: str, split: str, name: str):
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"load_dataset({name!r}): split must be 'train' or 'test', got {split!r}")
    img_path, lbl_path = _find_idx(root, prefix, "images"), _find_idx(root, prefix, "labels")
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3:
        raise ValueError(f"{img_path}: expected images (N, H, W), got shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{lbl_path}: expected {images.shape[0]} labels, got shape {labels.shape}")
    classes = _FASHION_CLASSES if name == "fashion-mnist" else [str(i) for i in range(10)]
    return _uint8_to_unit(images)[:, None], labels.astype(np.int64), classes, img_path


def _is_idx_dir(path: str) -> bool:
    try:
        _find_idx(path, "train", "images")
        return True
    except FileNotFoundError:
        try:
            _find_idx(path, "t10k", "images")
            return True
        except FileNotFoundError:
            return False


def _unpickle(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except FileNotFoundError:
        raise
    except Exception as e:  # a damaged pickle can raise almost anything
        raise ValueError(f"cannot read CIFAR-10 batch {path}: {e}") from None


def _load_cifar10(root: str, split: str):
    if split == "train":
        files = [os.path.join(root, f"data_batch_{i}") for i in range(1, 6)]
    elif split == "test":
        files = [os.path.join(root, "test_batch")]
    else:
        raise ValueError(f"load_dataset('cifar10'): split must be 'train' or 'test', got {split!r}")
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 batch file(s) missing: {', '.join(missing)}")
    images, labels = [], []
    for f in files:
        batch = _unpickle(f)
        data = batch.get(b"data", batch.get("data")) if isinstance(batch, dict) else None
        lab = batch.get(b"labels", batch.get("labels")) if isinstance(batch, dict) else None
        if data is None or lab is None:
            raise ValueError(f"{f}: not a CIFAR-10 batch (expected a dict with 'data' and 'labels')")
        data = np.asarray(data)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{f}: expected uint8 data (N, 3072), got {data.dtype} {data.shape}")
        lab = np.asarray(lab, dtype=np.int64)
        if lab.shape != (data.shape[0],):
            raise ValueError(f"{f}: {data.shape[0]} images but labels of shape {lab.shape}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
    classes = _CIFAR10_CLASSES
    meta = os.path.join(root, "batches.meta")
    if os.path.isfile(meta):
        names = _unpickle(meta)
        names = names.get(b"label_names", names.get("label_names")) if isinstance(names, dict) else None
        if names:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return _uint8_to_unit(np.concatenate(images)), np.concatenate(labels), classes, root


def _is_cifar_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "data_batch_1")) or os.path.isfile(os.path.join(path, "test_batch"))


def _array_to_nchw(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim == 4:
        # channels-last when the last axis looks like channels, else channels-first
        if arr.shape[-1] in (1, 3):
            return arr.transpose(0, 3, 1, 2)
        if arr.shape[1] in (1, 3):
            return arr
    raise ValueError(
        f"{where}: expected images of shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C in (1, 3), got {arr.shape}"
    )


class _MissingImages(Exception):
    pass


def _load_array_file(path: str, value_range):
    labels = None
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            # an .npz's members are read here: a damaged or object-dtype member fails now
            with loaded:
                if "images" not in loaded.files:
                    raise _MissingImages(loaded.files)
                arr = loaded["images"]
                if "labels" in loaded.files:
                    labels = loaded["labels"]
        else:
            arr = loaded
    except _MissingImages as e:
        raise ValueError(f"{path}: an .npz dataset needs an 'images' array, found {e.args[0]}") from None
    except Exception as e:
        raise ValueError(f"cannot read array file {path}: {e}") from None
    if labels is not None and (labels.ndim != 1 or labels.dtype.kind not in "iu"):
        raise ValueError(f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    images = _array_to_nchw(arr, path)
    if labels is not None and labels.shape[0] != images.shape[0]:
        raise ValueError(f"{path}: {images.shape[0]} images but {labels.shape[0]} labels")
    if images.dtype == np.uint8:
        images = _uint8_to_unit(images)
    elif images.dtype.kind == "f":
        images = _float_to_unit(images, value_range, path)
    else:
        raise ValueError(f"{path}: images must be uint8 (0..255) or floating point, got dtype {images.dtype}")
    return images, labels, None, path


def _list_images(root: str) -> list[str]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for f in sorted(filenames):
            if f.lower().endswith(_IMAGE_EXTENSIONS) and not f.startswith("."):
                files.append(os.path.join(dirpath, f))
    return files


def _load_image_folder(root: str, image_size: int | None, channels: int | None):
    from PIL import Image, UnidentifiedImageError

    files = _list_images(root)
    if not files:
        raise ValueError(f"no PNG/JPEG images found under {root}")
    rel_dirs = [os.path.relpath(os.path.dirname(f), root) for f in files]
    top = [d.split(os.sep)[0] for d in rel_dirs]
    labelled = any(d != "." for d in top)
    if labelled:
        stray = [f for f, d in zip(files, top) if d == "."]
        if stray:
            raise ValueError(
                f"{root}: images are in class subfolders, but {stray[0]} lies at the top level; "
                "move it into a class folder"
            )
    class_names = sorted(set(top)) if labelled else None

    opened = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                opened.append(im.copy())
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise ValueError(f"cannot read image {f}: {e}") from None
    if channels is None:
        channels = 1 if all(im.mode in _GRAY_MODES for im in opened) else 3
    if channels not in (1, 3):
        raise ValueError(f"load_dataset({root!r}): channels must be 1 or 3, got {channels}")
    mode = "L" if channels == 1 else "RGB"

    arrays = []
    first_size = None
    for f, im in zip(files, opened):
        if im.mode in ("I", "I;16", "F"):
            # 16-bit / float grayscale: Pillow's convert to L or RGB clips rather than scales
            a = np.asarray(im, dtype=np.float64)
            peak = 65535.0 if im.mode != "F" else max(1.0, float(a.max()))
            im = Image.fromarray(np.clip(a / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
        im = im.convert(mode)
        if image_size is not None:
            (nw, nh), box = _crop_box(im.width, im.height, image_size)
            if (nw, nh) != im.size:
                im = im.resize((nw, nh), Image.BILINEAR)
            im = im.crop(box)
        elif first_size is None:
            first_size = im.size
        elif im.size != first_size:
            raise ValueError(
                f"{f} is {im.size[0]}x{im.size[1]} but earlier images are {first_size[0]}x{first_size[1]}; "
                "pass image_size to resize them all"
            )
        a = np.asarray(im, dtype=np.uint8)
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    images = _uint8_to_unit(np.stack(arrays))
    labels = np.array([class_names.index(d) for d in top], dtype=np.int64) if labelled else None
    return images, labels, class_names, root


_NAMES = ("digits", "mnist", "fashion-mnist", "fashion_mnist", "cifar10", "cifar-10")


def load_dataset(
    name_or_path: str | os.PathLike = "digits",
    split: str = "train",
    image_size: int | None = None,
    channels: int | None = None,
    random_flip: bool = False,
    *,
    root: str | os.PathLike | None = None,
    value_range=None,
    seed: int | None = None,
) -> Dataset:
    """Loads a dataset as float32 images (N, C, H, W) in [-1, 1] with optional labels.

    ``name_or_path``:

    * ``"digits"``: scikit-learn's bundled 8x8 digits (1797 images, 10 classes; one split, "train").
    * ``"fashion-mnist"`` / ``"mnist"``: IDX files (raw or .gz) in ``root``; for Fashion-MNIST
      ``root`` defaults to Debian's ``/usr/share/datasets/fashion-mnist`` (package dataset-fashion-mnist).
      ``split`` "train" or "test" picks ``train-*`` or ``t10k-*``.
    * ``"cifar10"``: the python pickle batches (``data_batch_1..5`` / ``test_batch``) in ``root``.
    * a directory: IDX files or CIFAR-10 batches are recognised by their names; otherwise it is an
      image folder, read recursively (PNG/JPEG). If it has a subfolder named ``split`` that one is
      read. Images in subfolders are labelled by the sorted subfolder names.
    * a ``.npy`` file of images (N, H, W), (N, H, W, C) or (N, C, H, W) (C = 1 or 3; a last axis of
      size 1 or 3 is read as channels), or an ``.npz`` with ``images`` and optional ``labels``.
      uint8 arrays are 0..255. Float arrays are taken as [0, 1] images when all values lie in [0, 1],
      else they must lie in [-1, 1]; ``value_range=(0, 1)`` or ``(-1, 1)`` says which explicitly.

    ``image_size`` resizes (shorter side, bilinear with antialiasing) and centre-crops to a square,
    with the sizes and offsets of torchvision's ``Resize(image_size)`` then ``CenterCrop(image_size)``;
    ``channels`` (1 or 3) converts grayscale <-> RGB; ``random_flip`` is the default for loaders
    built on the dataset. A missing path raises FileNotFoundError; unreadable files and arrays of the
    wrong shape raise ValueError naming the file.
    """
    image_size = _check_size(image_size, "load_dataset")
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"load_dataset: channels must be 1, 3 or None, got {channels!r}")
    name = os.fspath(name_or_path)
    key = name.lower()
    if key in _NAMES:
        if key == "digits":
            images, labels, classes, source = _load_digits(split)
        elif key in ("mnist", "fashion-mnist", "fashion_mnist"):
            canonical = "mnist" if key == "mnist" else "fashion-mnist"
            if root is None and canonical == "mnist":
                raise FileNotFoundError("load_dataset('mnist'): pass root= the directory holding the MNIST IDX files")
            base = os.fspath(root) if root is not None else FASHION_MNIST_DIR
            if not os.path.isdir(base):
                hint = " (install Debian's dataset-fashion-mnist or pass root=)" if root is None else ""
                raise FileNotFoundError(f"load_dataset({name!r}): directory {base} does not exist{hint}")
            images, labels, classes, source = _load_idx_dir(base, split, canonical)
        else:
            if root is None:
                raise FileNotFoundError("load_dataset('cifar10'): pass root= the cifar-10-batches-py directory")
            base = os.fspath(root)
            if not os.path.isdir(base):
                raise FileNotFoundError(f"load_dataset('cifar10'): directory {base} does not exist")
            images, labels, classes, source = _load_cifar10(base, split)
    elif os.path.isdir(name):
        if _is_idx_dir(name):
            images, labels, classes, source = _load_idx_dir(name, split, "mnist")
        elif _is_cifar_dir(name):
            images, labels, classes, source = _load_cifar10(name, split)
        else:
            folder = os.path.join(name, split) if split and os.path.isdir(os.path.join(name, split)) else name
            present = sorted(s for s in _SPLIT_NAMES if os.path.isdir(os.path.join(name, s)))
            if folder == name and present:
                # a tree laid out in splits without the one asked for: its other splits are not this one
                raise ValueError(f"load_dataset({name!r}): no {split!r} subfolder (it has {present})")
            images, labels, classes, source = _load_image_folder(folder, image_size, channels)
    elif os.path.isfile(name):
        if not name.lower().endswith((".npy", ".npz")):
            raise ValueError(f"load_dataset: {name} is not a .npy/.npz file or a directory")
        images, labels, classes, source = _load_array_file(name, value_range)
    else:
        raise FileNotFoundError(
            f"load_dataset: {name} is neither a known dataset name {list(_NAMES[:5])} nor an existing path"
        )
    images = _resize_array(images, image_size)  # before channel changes: fewer planes to resize
    images = _set_channels(images, channels, source)
    return Dataset(images, labels, class_names=classes, source=source, random_flip=random_flip, seed=seed)


# ---- loader


class _WorkerError:
    def __init__(self, exc: BaseException):
        self.exc = exc


_DONE = object()


def _epoch_plan(seed: int, epoch: int, n: int, shuffle: bool, flip: bool):
    """The order and the flips of one epoch, a pure function of (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n) if shuffle else np.arange(n)
    flips = rng.random(n) < 0.5 if flip else None
    return order, flips


# ---- collation (on the prefetch thread: dataset items -> one batch of NumPy arrays)


def _where(index, path: str) -> str:
    return f"dataset[{index}]{path}"  # e.g. dataset[5]['images'][0]


def _kind(x) -> str:
    if x is None:
        return "None"
    if isinstance(x, (str, bytes)):
        return "str"
    if isinstance(x, Mapping):
        return "dict"
    if isinstance(x, (tuple, list)):
        return "sequence"
    return "array"  # ndarray, md Tensor, number, or anything else np.asarray can read


def _rebuild(like, fields: list) -> tuple:
    # a namedtuple keeps its type (and field names), any other sequence becomes a tuple
    return type(like)(*fields) if hasattr(like, "_fields") else tuple(fields)


def _rebuild_mapping(like: Mapping, fields: dict) -> Mapping:
    """``fields`` in a mapping of ``like``'s type, as torch's default_collate keeps it: a mutable
    mapping is copied and updated (an OrderedDict, a defaultdict with its factory), another is
    built from a dict; a plain dict when its type cannot be."""
    if type(like) is dict:
        return fields
    try:
        if isinstance(like, MutableMapping):
            clone = copy.copy(like)
            clone.update(fields)
            return clone
        return type(like)(fields)
    except TypeError:
        return fields


class _TensorRows(np.ndarray):
    """A host array of rows taken from md tensors, remembering their device and dtype.

    torch stacks tensors where they are; the prefetch thread works in NumPy, so the batch field
    carries the tensors' device and dtype to ``_to_tensors``, which makes it an md tensor there.
    """

    md_device: str | None = None
    md_dtype: str | None = None

    def __array_finalize__(self, obj):  # slices, fancy indexing and astype keep the origin
        self.md_device = getattr(obj, "md_device", None)
        self.md_dtype = getattr(obj, "md_dtype", None)


def _tensor_rows(a: np.ndarray, like: _core.Tensor) -> _TensorRows:
    rows = a.view(_TensorRows)
    rows.md_device, rows.md_dtype = str(like.device), str(like.dtype)
    return rows


# NumPy's integer dtypes that md lacks, as md.tensor makes them (torch keeps uint16/uint32/uint64)


def _as_batch_array(a: np.ndarray, what: str) -> np.ndarray:
    """``a`` in the dtypes md tensors hold, as torch's collate keeps a dtype: uint8, int8, int16,
    int32 and int64 kept (uint16 as int32, uint32/uint64 as int64, as ``md.tensor`` makes them),
    float16 kept and the other floats as float32, bools as bool."""
    if a.dtype.kind in "iu":
        return a.astype(WIDER_INT.get(a.dtype, a.dtype), copy=False)
    if a.dtype.kind == "f":
        return a if a.dtype == np.float16 else a.astype(np.float32, copy=False)
    if a.dtype.kind == "b":
        return a
    raise TypeError(f"DataLoader: {what} has dtype {a.dtype}; batches hold integers, floats and bools")


def _md_dtype_name(dtype: np.dtype) -> str:
    """The md dtype a NumPy array of ``dtype`` (integer, float or bool) becomes in a batch."""
    if dtype.kind in "iu":
        return np.dtype(WIDER_INT.get(dtype, dtype)).name
    if dtype.kind == "b":
        return "bool"
    return "float16" if dtype == np.float16 else "float32"


def _collate(items: list, indices, path: str = ""):
    """One batch from a list of dataset items, field by field, as torch's default_collate does.

    Arrays, md tensors and numbers are stacked along a new first axis (B, ...); tuples and lists
    become a tuple of collated fields, dicts a dict; strings a list; a field that is None in every
    item stays None. A field of md tensors remembers their device and dtype (``_TensorRows``).
    ``indices`` are the items' dataset indices, for error messages.
    """
    first, kind = items[0], _kind(items[0])
    for k, x in enumerate(items):
        if _kind(x) != kind:
            raise TypeError(
                f"DataLoader: {_where(indices[k], path)} has type {type(x).__name__} but "
                f"{_where(indices[0], path)} has type {type(first).__name__}"
            )
    if kind == "None":
        return None
    if kind == "str":
        return list(items)
    if kind in ("dict", "sequence"):
        describe = (lambda y: f"keys {list(y)}") if kind == "dict" else (lambda y: f"{len(y)} fields")
        for k, x in enumerate(items):
            if (x.keys() != first.keys()) if kind == "dict" else (len(x) != len(first)):
                this, that = _where(indices[k], path), _where(indices[0], path)
                raise ValueError(f"DataLoader: {this} has {describe(x)} but {that} has {describe(first)}")
        if kind == "dict":
            fields = {key: _collate([x[key] for x in items], indices, f"{path}[{key!r}]") for key in first}
            return _rebuild_mapping(first, fields)
        return _rebuild(first, [_collate([x[j] for x in items], indices, f"{path}[{j}]") for j in range(len(first))])
    arrays = [np.asarray(x) for x in items]
    tensors = all(isinstance(x, _core.Tensor) for x in items)
    for k, (x, a) in enumerate(zip(items, arrays)):
        if a.dtype.kind not in "iufb":
            raise TypeError(
                f"DataLoader: {_where(indices[k], path)} has type {type(x).__name__} (dtype {a.dtype}); items must be "
                "arrays, tensors, numbers, strings or None, or tuples, lists and dicts of them"
            )
        if a.shape != arrays[0].shape:
            raise ValueError(
                f"DataLoader: {_where(indices[k], path)} has shape {a.shape} but {_where(indices[0], path)} has "
                f"{arrays[0].shape}; the samples of a batch must have one shape"
            )
        if tensors and (str(x.device), x.dtype) != (str(first.device), first.dtype):
            raise ValueError(
                f"DataLoader: {_where(indices[k], path)} is a {x.dtype} tensor on {x.device} but "
                f"{_where(indices[0], path)} a {first.dtype} tensor on {first.device}; a batch is one tensor"
            )
    batch = _as_batch_array(np.stack(arrays), _where(indices[0], path))
    return _tensor_rows(batch, first) if tensors else batch


def _fetch(source, idx: np.ndarray, collate_fn):
    """The batch of the samples at ``idx``, in NumPy arrays; ``source`` is the dataset or its array."""
    if collate_fn is not None:
        return collate_fn([source[int(i)] for i in idx])
    if isinstance(source, np.ndarray):
        return _as_batch_array(source[idx], "the dataset array")  # fancy indexing: a copy
    if hasattr(source, "get_batch"):
        images, labels = source.get_batch(idx)
        # an array of its own, since the flips write into it
        images = np.require(images, np.float32, ["C", "W", "O"])
        return images, None if labels is None else np.asarray(labels, dtype=np.int64)
    return _collate([source[int(i)] for i in idx], idx)


def _flip(batch, flips: np.ndarray) -> None:
    """Mirrors, in place, the images (the batch, or its first field) left-right where ``flips`` is set."""
    images = batch[0] if isinstance(batch, tuple) else batch
    if not isinstance(images, np.ndarray) or images.ndim < 3:
        got = f"a {type(batch).__name__} batch"
        if images is not batch:
            got += f" whose first field is a {type(images).__name__}"
        if isinstance(images, np.ndarray):
            got += f" of shape {images.shape}"
        raise TypeError(
            f"DataLoader: random_flip mirrors images (B, ..., W), the batch itself or its first field; got {got}"
        )
    if flips.any():
        images[flips] = images[flips][..., ::-1]


def _seed_batch_draws(seed: int, epoch: int, b: int) -> None:
    """Gives the prefetch thread a default generator of its own for batch b, seeded from (seed,
    epoch, b): random transforms in a dataset's ``__getitem__`` (md.transforms draw from the
    default generator) are then the same in every run and on resume, whatever the thread timing,
    and leave the training loop's stream (noise, timesteps) alone. torch, which fetches on the
    main thread with ``num_workers=0``, draws them from the global stream instead."""
    state = np.random.SeedSequence([seed, epoch, b + 1]).generate_state(1, np.uint64)  # b = -1: before batch 0
    _core._set_thread_default_generator(int(state[0]))


def _map_batches(source, collate_fn, order, flips, batch_size, start, stop_batch, seed=0, epoch=0):
    """(b, batch, last) for batches start..stop_batch-1 of a map-style dataset in ``order``."""
    for b in range(start, stop_batch):
        _seed_batch_draws(seed, epoch, b)
        idx = order[b * batch_size : (b + 1) * batch_size]
        batch = _fetch(source, idx, collate_fn)
        if flips is not None:
            _flip(batch, flips[b * batch_size : (b + 1) * batch_size])
        yield b, batch, b + 1 >= stop_batch


def _iterable_batches(dataset, collate_fn, batch_size, drop_last, start, seed=0, epoch=0):
    """(b, batch, last) for an iterable dataset, from a fresh iterator whose first ``start`` batches are skipped.

    Its length is unknown, so each batch is sent once the next one is read (or found missing):
    that is how the last batch is known, and the epoch ends with it.
    """
    _seed_batch_draws(seed, epoch, -1)  # what the dataset draws when its iterator starts
    items = iter(dataset)
    for _ in itertools.islice(items, start * batch_size):
        pass

    def take(b):
        _seed_batch_draws(seed, epoch, b)
        chunk = list(itertools.islice(items, batch_size))
        return chunk if chunk and (len(chunk) == batch_size or not drop_last) else None

    b, chunk = start, take(start)
    while chunk is not None:
        following = take(b + 1)
        first = b * batch_size  # the items' positions in the stream name them in collation errors
        batch = collate_fn(chunk) if collate_fn is not None else _collate(chunk, range(first, first + len(chunk)))
        yield b, batch, following is None
        b, chunk = b + 1, following


def _put(out: queue.Queue, item, stop: threading.Event) -> bool:
    """Puts ``item``, waiting while the queue is full; False if ``stop`` was set first."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _worker(batches, out: queue.Queue, stop: threading.Event):
    # Runs on the prefetch thread; holds no reference to the iterator, so dropping the iterator
    # lets it be collected and set `stop`.
    try:
        while True:
            if stop.is_set():  # checked before each batch is made, so closing waits for one at most
                return
            item = next(batches, _DONE)
            if item is _DONE:
                break
            if not _put(out, item, stop):
                return
    except BaseException as e:  # handed to the consumer, which re-raises it
        item = _WorkerError(e)
    _put(out, item, stop)


def _to_tensors(batch, device: str | None):
    """The batch with each numeric NumPy array in it made an md tensor; on the consumer's thread.

    The tensors go to ``device``; with None, rows of md tensors go back to those tensors' device
    (as torch's collate stacks them there) and the rest to the CPU.
    """
    if isinstance(batch, np.ndarray) and batch.dtype.kind in "iufb":
        dtype = getattr(batch, "md_dtype", None) or _md_dtype_name(batch.dtype)
        where = device or getattr(batch, "md_device", None) or "cpu"
        array = np.asarray(batch)
        if array.dtype in WIDER_INT:  # a collate_fn's uint16/uint32/uint64, widened in NumPy
            array = array.astype(WIDER_INT[array.dtype])
        return _core.tensor(array, dtype=dtype, device=where)
    if isinstance(batch, tuple):
        return _rebuild(batch, [_to_tensors(x, device) for x in batch])
    if isinstance(batch, list):
        return [_to_tensors(x, device) for x in batch]
    if isinstance(batch, Mapping):
        return _rebuild_mapping(batch, {k: _to_tensors(v, device) for k, v in batch.items()})
    return batch


class _LoaderIterator:
    def __init__(self, loader: DataLoader):
        self._loader = loader
        self._epoch = loader._epoch
        start = loader._position
        if loader._iterable:
            batches = _iterable_batches(
                loader.dataset, loader.collate_fn, loader.batch_size, loader.drop_last, start, loader.seed, self._epoch
            )
        else:
            n = len(loader.dataset)
            order, flips = _epoch_plan(loader.seed, self._epoch, n, loader.shuffle, loader.random_flip)
            batch_size, stop = loader.batch_size, len(loader)
            batches = _map_batches(
                loader._source, loader.collate_fn, order, flips, batch_size, start, stop, loader.seed, self._epoch
            )
        self._ended = False  # whether the epoch's last batch was delivered
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, loader.prefetch))
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(
            target=_worker,
            args=(batches, self._queue, self._stop),
            name="minidiff-data-prefetch",
            daemon=True,
        )
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._closed:
            raise StopIteration
        while True:
            try:
                item = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    self.close()
                    raise RuntimeError("DataLoader: the prefetch thread ended without a result") from None
        loader = self._loader
        if item is _DONE:
            self.close()
            if not self._ended:  # an iterable dataset that had no (further) batch: its epoch is over
                loader._epoch, loader._position = self._epoch + 1, 0
            raise StopIteration
        if isinstance(item, _WorkerError):
            self.close()
            raise item.exc
        b, batch, last = item
        batch = _to_tensors(batch, loader.device)
        # the batch is delivered: only now does it count towards the resumable position
        if last:
            self._ended = True
            loader._epoch, loader._position = self._epoch + 1, 0
        else:
            loader._epoch, loader._position = self._epoch, b + 1
        return batch

    def close(self) -> None:
        """Stops the prefetch thread and waits for it; further ``next`` calls raise StopIteration."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        while True:  # unblock a worker waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class DataLoader:
    """Batches of a dataset's samples as md tensors, collated as torch's ``default_collate`` does.

    What a batch is depends on the dataset:

    * a ``Dataset`` (from ``load_dataset``): ``(images (B, C, H, W) float32, labels (B,) int64 or None)``;
    * a NumPy array or md Tensor (N, ...): one tensor (B, ...) of its rows; an md Tensor is copied
      to host memory once, when the loader is made;
    * any other map-style dataset (``len(dataset)`` and ``dataset[i]``): its items collated field
      by field. Arrays, md tensors and numbers stack into one tensor (B, ...); tuples and lists
      become a tuple of collated fields, dicts a dict; strings a list; a field that is None in
      every item stays None. Items that disagree (shape, type, keys, length) raise ValueError or
      TypeError naming the item, e.g. ``dataset[5]['images']``.

    Integers keep their dtype (uint8, int8, int16, int32, int64; Python ints are int64) as torch's
    default_collate keeps it, except that NumPy uint16 becomes int32 and uint32/uint64 int64 (md has
    no unsigned dtype past uint8); floats become float32 (NumPy float16 stays float16; torch keeps
    float64), bools bool tensors; a field stacked from md tensors keeps their dtype. Batches go to
    ``device``; with None (the default), fields stacked from md tensors (or rows of an md Tensor
    dataset) stay on those tensors' device, as torch's collate leaves them, and the rest go to the CPU.

    An iterable dataset (``md.utils.data.IterableDataset``) is batched in the order it yields items,
    ``batch_size`` at a time, the last short batch dropped with ``drop_last``; it cannot be shuffled
    (``shuffle`` defaults to True for map-style datasets, False for iterable ones, where True is a
    ValueError, as in torch) or flipped by the loader. Each iteration after an epoch's end starts a
    fresh iterator; resuming mid-epoch skips the items of the batches already delivered, which
    repeats the run's batches only if the dataset yields the same items each time.

    ``collate_fn`` replaces the collation: it is called on the prefetch thread with the list of
    ``dataset[i]`` of a batch, and NumPy arrays in what it returns (also inside tuples, lists and
    dicts) become md tensors on ``device`` (the CPU when None).

    Shuffling draws each epoch's order from ``numpy.random.default_rng([seed, epoch])``: a fixed
    seed gives the same sequence of epochs on every run, each epoch in a new order. Without a
    seed, one is drawn from ``generator`` (an ``md.Generator``) if given, else from the OS. Iteration
    always continues where the last delivered batch left off (so breaking out of a loop and
    iterating again resumes the epoch); an epoch ends after its last batch. ``state_dict()``
    captures (seed, epoch, position) and ``load_state_dict`` restores them, after which iteration
    yields exactly the batches the original run had left. ``random_flip`` (default: the dataset's
    setting) mirrors images left-right with probability 1/2, drawn from the same per-epoch stream;
    the images are the batch itself or, for tuple batches, its first field. With ``collate_fn``
    the loader draws no flips (``random_flip=True`` is an error; flip in the dataset or collate_fn).
    Random draws the dataset makes itself (``md.transforms`` in ``__getitem__``) come from the
    prefetch thread's default generator, seeded per batch from (seed, epoch, batch): they repeat
    on every run and on resume, and do not touch the training loop's default generator.

    ``prefetch`` batches are prepared ahead on a background thread, which stops when the iterator
    is exhausted, closed, or garbage-collected (e.g. after ``break``); an exception raised while
    preparing a batch is re-raised in the consuming thread. torch's ``num_workers`` (0 only: there
    is one prefetch thread, sized by ``prefetch``) and ``pin_memory`` (no effect) are accepted so
    code written for torch's DataLoader runs.
    """

    # an empty dataset, or drop_last with fewer samples than batch_size, is an error here (a
    # training loop would wait forever); torch's loader (md.utils.data) gives zero batches instead
    _allows_empty_epochs = False

    def __init__(
        self,
        dataset,
        batch_size: int,
        shuffle: bool | None = None,
        drop_last: bool = True,
        seed: int | None = None,
        prefetch: int = 2,
        random_flip: bool | None = None,
        device: Any = None,
        *,
        collate_fn=None,
        num_workers: int = 0,
        pin_memory: bool = False,
        generator: _core.Generator | None = None,
    ):
        from .utils.data import IterableDataset  # md.utils.data builds on this module

        iterable = isinstance(dataset, IterableDataset)
        if shuffle is None:
            shuffle = not iterable
        if iterable and shuffle:
            raise ValueError(f"DataLoader: an IterableDataset ({type(dataset).__name__}) cannot be shuffled")
        if iterable and random_flip:
            raise ValueError("DataLoader: random_flip=True with an IterableDataset; flip in the dataset")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(prefetch, (int, np.integer)) or prefetch < 1:
            raise ValueError(f"DataLoader: prefetch must be a positive int, got {prefetch!r}")
        if num_workers != 0:
            raise ValueError(
                f"DataLoader: num_workers must be 0, got {num_workers!r}; batches are prepared on one prefetch "
                "thread (prefetch= sets how many batches it works ahead)"
            )
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        if collate_fn is not None and random_flip:
            raise ValueError("DataLoader: random_flip=True with a collate_fn; flip in the dataset or the collate_fn")
        source = dataset
        if collate_fn is None and isinstance(dataset, (np.ndarray, _core.Tensor)):
            source = np.asarray(dataset)  # an md Tensor: a host copy, so the prefetch thread runs no md ops
            if source.ndim == 0:
                raise ValueError("DataLoader: a dataset array needs a first axis of samples, got a 0-d array")
            _as_batch_array(source[:0], "the dataset array")  # its dtype, checked now rather than per batch
            if isinstance(dataset, _core.Tensor):
                source = _tensor_rows(source, dataset)
        if not iterable and not self._allows_empty_epochs:
            n = len(dataset)
            if n == 0:
                raise ValueError("DataLoader: the dataset is empty")
            if drop_last and batch_size > n:
                raise ValueError(
                    f"DataLoader: batch_size {batch_size} exceeds the {n} samples and drop_last=True leaves no batch"
                )
        if seed is None and generator is not None:
            hi, lo = (int(v) for v in np.asarray(_core.randint(0, 2**31, (2,), generator=generator)))
            seed = hi << 31 | lo
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy % (2**63))
        self.prefetch = int(prefetch)
        if random_flip is None:
            random_flip = getattr(dataset, "random_flip", False) and collate_fn is None and not iterable
        self.random_flip = bool(random_flip)
        self.collate_fn = collate_fn
        self._source = source  # what the prefetch thread reads: the dataset, or its array
        self._iterable = iterable
        self.device = None if device is None else str(device)  # None: where the items' tensors are, else the CPU
        self._epoch = 0
        self._position = 0
        self._active: weakref.ref | None = None

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def epoch(self) -> int:
        """The epoch the next batch comes from."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Starts ``epoch`` from its first batch at the next iteration."""
        self._close_active()
        self._epoch, self._position = int(epoch), 0

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self._epoch, "position": self._position}

    def load_state_dict(self, state: dict) -> None:
        missing = {"seed", "epoch", "position"} - set(state)
        if missing:
            raise ValueError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        position = int(state["position"])
        if position < 0 or not self._iterable and position >= max(1, len(self)):
            end = "..." if self._iterable else len(self)  # an iterable dataset's epoch has no known end
            raise ValueError(f"DataLoader.load_state_dict: position {position} outside [0, {end})")
        self._close_active()
        self.seed, self._epoch, self._position = int(state["seed"]), int(state["epoch"]), position

    def _close_active(self) -> None:
        it = self._active() if self._active is not None else None
        if it is not None:
            it.close()
        self._active = None

    def __iter__(self) -> _LoaderIterator:
        # two live iterators would both advance the position: the older one is closed
        self._close_active()
        it = _LoaderIterator(self)
        self._active = weakref.ref(it)
        return it

    def __repr__(self) -> str:
        try:
            size = f"{len(self.dataset)} samples, batch_size={self.batch_size}, batches={len(self)}"
        except TypeError:  # an iterable dataset of unknown length
            size = f"an iterable {type(self.dataset).__name__}, batch_size={self.batch_size}"
        return (
            f"DataLoader({size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed}, epoch={self._epoch})"
        )
