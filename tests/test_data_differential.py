"""Differential tests of md's data loading against torch.utils.data (and of the image loaders and
transforms against the NumPy / PIL rules torchvision follows): loaders over list, range, array and
iterable datasets with every batch_size / drop_last mix, empty datasets, default_collate's nested
and mapping types, random_split's fractions, ToTensor per PIL mode, tensor Resize against torch's
interpolate, CenterCrop's offsets, IDX header parsing, damaged files, and load_dataset's image_size.

Known, documented differences are not tested as bugs: md's collate makes tuples where torch makes
lists, holds floats as float32 (torch keeps float64) and NumPy uint16/uint32 as int32/int64 (torch
keeps them; other integer dtypes are kept, as torch's), keeps None fields, and
converts a collate_fn's NumPy arrays to tensors; samplers and batch_size=None are refused.
Comparisons with torch are skipped when it is not installed."""

from __future__ import annotations

import collections
import gzip
import os
import struct

import numpy as np
import pytest

import minidiff as md
import minidiff.transforms as T
import minidiff.utils.data as ud
from minidiff.data import load_dataset, read_idx

# ---------------------------------------------------------------- helpers


def as_lists(batch):
    """A batch as nested Python lists, md tensors and torch tensors alike (tuples read as lists)."""
    if hasattr(batch, "numpy"):
        return batch.numpy().tolist()
    if isinstance(batch, (list, tuple)):
        return [as_lists(x) for x in batch]
    if isinstance(batch, collections.abc.Mapping):
        return {k: as_lists(v) for k, v in batch.items()}
    return batch


def idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


class Stream(ud.IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


# ---------------------------------------------------------------- DataLoader against torch's


@pytest.mark.parametrize("n", [1, 5, 6])
@pytest.mark.parametrize("batch_size", [1, 2, 3, 7])
@pytest.mark.parametrize("drop_last", [False, True])
def test_loader_batches_and_len_match_torch(n, batch_size, drop_last):
    torch = pytest.importorskip("torch")
    tud = torch.utils.data
    for ours_ds, their_ds in ((list(range(n)), list(range(n))), (np.arange(n), np.arange(n))):
        ours = ud.DataLoader(ours_ds, batch_size=batch_size, drop_last=drop_last)
        theirs = tud.DataLoader(their_ds, batch_size=batch_size, drop_last=drop_last)
        assert len(ours) == len(theirs)
        assert as_lists(list(ours)) == as_lists(list(theirs))
        assert as_lists(list(ours)) == as_lists(list(theirs))  # a second pass: a whole epoch again

    class TorchStream(tud.IterableDataset):
        def __iter__(self):
            return iter(range(n))

    ours = as_lists(list(ud.DataLoader(Stream(n), batch_size=batch_size, drop_last=drop_last)))
    assert ours == as_lists(list(tud.DataLoader(TorchStream(), batch_size=batch_size, drop_last=drop_last)))


def test_loader_empty_dataset_gives_no_batches_as_torch():
    # md.data.DataLoader raised "the dataset is empty" / "drop_last=True leaves no batch" here too
    cases = [([], 2, False), (np.zeros((0, 3), np.float32), 1, False), (list(range(3)), 4, True)]
    for data, batch_size, drop_last in cases:
        loader = ud.DataLoader(data, batch_size=batch_size, drop_last=drop_last)
        assert len(loader) == 0
        assert list(loader) == [] and list(loader) == []
        loader.load_state_dict(loader.state_dict())
        assert list(loader) == []
    x = md.zeros((3, 2), requires_grad=True)  # the graph-keeping path
    assert list(ud.DataLoader(ud.TensorDataset(x), batch_size=4, drop_last=True)) == []
    assert len(ud.DataLoader(ud.TensorDataset(x[:0]), batch_size=2)) == 0
    with pytest.raises(ValueError, match="num_samples=0"):
        ud.DataLoader([], batch_size=2, shuffle=True)
    # md's own loader keeps refusing to train on nothing
    with pytest.raises(ValueError, match="empty"):
        md.data.DataLoader([], 2)
    with pytest.raises(ValueError, match="leaves no batch"):
        md.data.DataLoader(list(range(3)), 4, drop_last=True)
    torch = pytest.importorskip("torch")
    tud = torch.utils.data
    for data, batch_size, drop_last in cases:
        theirs = tud.DataLoader(data, batch_size=batch_size, drop_last=drop_last)
        assert len(theirs) == 0 and list(theirs) == []
    with pytest.raises(ValueError):
        tud.DataLoader([], batch_size=2, shuffle=True)


def test_loader_keeps_torch_attributes():
    g = md.Generator().manual_seed(0)
    loader = ud.DataLoader(list(range(4)), batch_size=2, timeout=3, worker_init_fn=print, pin_memory=True, generator=g)
    assert (loader.num_workers, loader.pin_memory, loader.timeout) == (0, True, 3)
    assert loader.worker_init_fn is print and loader.generator is g
    plain = ud.DataLoader(list(range(4)))
    got = [getattr(plain, a) for a in ("prefetch_factor", "persistent_workers", "generator", "multiprocessing_context")]
    assert got == [None, False, None, None]
    torch = pytest.importorskip("torch")
    theirs = torch.utils.data.DataLoader(list(range(4)))
    names = ("num_workers", "pin_memory", "timeout", "worker_init_fn", "prefetch_factor", "persistent_workers")
    assert [getattr(plain, a) for a in names] == [getattr(theirs, a) for a in names]


# ---------------------------------------------------------------- default_collate


def test_default_collate_values_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    Point = collections.namedtuple("Point", "x y")
    for _ in range(5):
        items = [
            {
                "image": rng.standard_normal((2, 3)).astype(np.float32),
                "label": int(rng.integers(10)),
                "meta": (float(rng.random()), "name", [int(rng.integers(5)), np.int64(3)]),
                "point": Point(np.float32(rng.random()), int(rng.integers(4))),
            }
            for _ in range(4)
        ]
        ours, theirs = ud.default_collate(items), torch.utils.data.default_collate(items)
        assert type(ours["point"]) is Point and type(theirs["point"]) is Point
        want = as_lists(theirs)
        np.testing.assert_allclose(as_lists(ours)["meta"][0], want["meta"][0], rtol=1e-6)  # float64 in torch
        want["meta"][0] = as_lists(ours)["meta"][0]
        np.testing.assert_allclose(as_lists(ours)["point"][0], want["point"][0], rtol=1e-6)
        want["point"][0] = as_lists(ours)["point"][0]
        assert as_lists(ours) == want


def test_collate_keeps_the_mapping_type_as_torch():
    od = [collections.OrderedDict([("b", float(i)), ("a", i)]) for i in range(4)]
    dd = [collections.defaultdict(list, x=np.full(2, i, np.float32)) for i in range(4)]
    for batch in (
        ud.default_collate(od),
        next(iter(ud.DataLoader(od, batch_size=2))),
        next(iter(md.data.DataLoader(od, 2, shuffle=False))),
    ):
        assert type(batch) is collections.OrderedDict and list(batch) == ["b", "a"]
    for batch in (ud.default_collate(dd), next(iter(ud.DataLoader(dd, batch_size=2)))):
        assert type(batch) is collections.defaultdict and batch.default_factory is list
        assert isinstance(batch["x"], md.Tensor)
    # mappings of tensors that require grad (md.stack path) keep their type and the graph
    w = md.tensor(np.ones(2, np.float32), requires_grad=True)
    batch = ud.default_collate([collections.OrderedDict(v=w * i) for i in range(3)])
    assert type(batch) is collections.OrderedDict and batch["v"].requires_grad
    torch = pytest.importorskip("torch")
    assert type(torch.utils.data.default_collate(od)) is collections.OrderedDict
    assert type(torch.utils.data.default_collate(dd)) is collections.defaultdict


# ---------------------------------------------------------------- datasets


@pytest.mark.parametrize(
    "n, lengths",
    [(10, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]), (3, [0.5, 0.5]), (10, [0.1] * 10), (7, (0.2, 0.8)), (10, [3, 7])],
)
def test_random_split_lengths_match_torch(n, lengths):
    torch = pytest.importorskip("torch")
    ours = ud.random_split(range(n), lengths, generator=md.Generator().manual_seed(0))
    theirs = torch.utils.data.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s) == list(range(n))


def test_concat_and_subset_indexing_match_torch():
    torch = pytest.importorskip("torch")
    tud = torch.utils.data
    parts = [[], list(range(3)), [], list(range(10, 12))]
    ours, theirs = ud.ConcatDataset(parts), tud.ConcatDataset(parts)
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    assert [ours[i] for i in range(-5, 5)] == [theirs[i] for i in range(-5, 5)]
    sub, tsub = ud.Subset(range(20), np.array([5, 1, 9])), tud.Subset(range(20), np.array([5, 1, 9]))
    assert [sub[i] for i in range(-3, 3)] == [tsub[i] for i in range(-3, 3)]


def test_image_dataset_rejects_non_integer_indices():
    ds = md.data.Dataset(np.zeros((3, 1, 2, 2), np.float32), np.arange(3))
    assert ds[np.int64(2)][1] == 2 and ds[-1][1] == 2 and ds[md.tensor(1)][1] == 1
    for bad in (1.7, "1"):
        with pytest.raises(TypeError, match="integers"):
            ds[bad]  # was silently int(1.7) == 1
    with pytest.raises(IndexError):
        ds[3]


# ---------------------------------------------------------------- IDX files


def test_idx_header_is_big_endian_and_sizes_above_255_parse(tmp_path):
    a = (np.arange(2 * 3 * 300) % 251).astype(np.uint8).reshape(2, 3, 300)
    (tmp_path / "a").write_bytes(idx_bytes(a))
    np.testing.assert_array_equal(read_idx(str(tmp_path / "a")), a)
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(a)))
    np.testing.assert_array_equal(read_idx(str(tmp_path / "a.gz")), a)
    # little-endian sizes are wrong sizes: the byte count no longer matches
    (tmp_path / "le").write_bytes(bytes([0, 0, 8, 3]) + struct.pack("<3I", *a.shape) + a.tobytes())
    with pytest.raises(ValueError, match="le: IDX header says"):
        read_idx(str(tmp_path / "le"))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "bad magic"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x00", "bad magic"),
        (bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\0" * 4, "type code 0x0d"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 2]), "truncated IDX header"),
        (idx_bytes(np.zeros((2, 3), np.uint8))[:-1], "holds 5 bytes"),
        (idx_bytes(np.zeros((2, 3), np.uint8)) + b"\0", "holds 7 bytes"),
        # sizes whose product overflows int64 (np.prod wrapped to 0 and NumPy's reshape failed)
        (bytes([0, 0, 8, 3]) + struct.pack(">3I", 2**31, 2**31, 2**31), "IDX header says"),
    ],
    ids=["empty", "magic", "type", "short-header", "short-body", "long-body", "overflowing-sizes"],
)
def test_bad_idx_files_name_the_path(tmp_path, data, message):
    path = tmp_path / "bad-images-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as err:
        read_idx(str(path))
    assert str(path) in str(err.value)


def test_damaged_gzip_idx_names_the_path(tmp_path):
    raw = bytearray(gzip.compress(idx_bytes(np.random.default_rng(0).integers(0, 256, (5, 6, 7), dtype=np.uint8))))
    raw[10] ^= 0x55  # the deflate stream itself: zlib.error, which escaped unwrapped
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="cannot read IDX file .*train-images-idx3-ubyte.gz"):
        read_idx(str(path))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(5, dtype=np.uint8)))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist", root=tmp_path)


def test_fashion_mnist_if_installed():
    if not os.path.isdir(md.data.FASHION_MNIST_DIR):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    ds = load_dataset("fashion-mnist", split="test")
    assert ds.images.shape == (10000, 1, 28, 28) and ds.num_classes == 10


# ---------------------------------------------------------------- array files


def test_npz_with_a_damaged_or_object_member_names_the_path(tmp_path):
    path = tmp_path / "crc.npz"
    np.savez(path, images=np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6))
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0xFF  # inside images.npy's data: BadZipFile (bad CRC) when the member is read
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="cannot read array file .*crc.npz"):
        load_dataset(path)
    obj = tmp_path / "obj.npz"
    np.savez(obj, images=np.zeros((2, 3, 3), np.uint8), labels=np.array([None, 1], dtype=object))
    with pytest.raises(ValueError, match="obj.npz"):
        load_dataset(obj)
    np.savez(tmp_path / "none.npz", x=np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="none.npz: an .npz dataset needs an 'images' array"):
        load_dataset(tmp_path / "none.npz")


@pytest.mark.parametrize(
    "shape, layout",
    [
        ((4, 5, 6), "NHW"),
        ((4, 5, 6, 3), "NHWC"),
        ((4, 5, 6, 1), "NHWC"),
        ((4, 3, 5, 6), "NCHW"),
        ((4, 1, 5, 6), "NCHW"),
    ],
)
@pytest.mark.parametrize("kind", ["uint8", "unit", "signed"])
def test_npy_layouts_and_ranges(tmp_path, shape, layout, kind):
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, shape, dtype=np.uint8)
    arr = {"uint8": u8, "unit": u8 / 255.0, "signed": (u8 / 127.5 - 1).astype(np.float32)}[kind]
    np.save(tmp_path / "a.npy", arr)
    images = load_dataset(tmp_path / "a.npy").images
    nchw = {"NHW": lambda a: a[:, None], "NHWC": lambda a: a.transpose(0, 3, 1, 2), "NCHW": lambda a: a}[layout]
    want = nchw(u8) / 127.5 - 1
    np.testing.assert_allclose(images, want, atol=1e-5)


# ---------------------------------------------------------------- image folders and image_size


def torchvision_resize_center_crop(img, size):
    """torchvision's Resize(size) then CenterCrop(size) on a PIL image, written out."""
    from PIL import Image

    w, h = img.size
    nw, nh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BILINEAR)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


@pytest.mark.parametrize("size", [3, 5, 7])
def test_image_folder_image_size_is_torchvision_resize_then_center_crop(tmp_path, size):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(size)
    shapes = [(8, 6), (5, 10), (7, 7), (13, 6), (9, 4), (3, 10), (10, 3)]  # (w, h): odd leftovers included
    for k, (w, h) in enumerate(shapes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"{k}.png")
    ds = load_dataset(tmp_path, image_size=size)
    assert ds.images.shape == (len(shapes), 3, size, size)
    for k in range(len(shapes)):
        want = np.asarray(torchvision_resize_center_crop(Image.open(tmp_path / f"{k}.png"), size))
        np.testing.assert_allclose(ds.images[k], want.transpose(2, 0, 1) / 127.5 - 1, atol=1e-6, err_msg=str(k))


def test_array_image_size_crops_where_torchvision_does(tmp_path):
    # a row ramp 10 tall and 3 wide: Resize(2) makes it 2 x 6 (torchvision truncates 6.67), and
    # CenterCrop(2) keeps rows 2..3 of those 6 (round((6 - 2) / 2) = 2)
    ramp = np.repeat(np.linspace(0, 1, 10, dtype=np.float32)[:, None], 3, axis=1)
    np.save(tmp_path / "r.npy", ramp[None])
    got = load_dataset(tmp_path / "r.npy", image_size=2).images[0, 0]
    Image = pytest.importorskip("PIL.Image")
    want = np.asarray(torchvision_resize_center_crop(Image.fromarray(ramp * 2 - 1), 2))
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_image_folder_modes_read_as_torchvision_converts_them(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(2).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    for mode in ("L", "RGB", "RGBA", "P", "1", "LA", "CMYK"):
        folder = tmp_path / mode
        folder.mkdir()
        path = folder / ("a.jpg" if mode == "CMYK" else "a.png")
        Image.fromarray(rgb).convert(mode).save(path)
        ds = load_dataset(folder)
        saved = Image.open(path)
        gray = ds.channels == 1
        assert gray == (mode in ("L", "1", "LA"))
        want = np.asarray(saved.convert("L"))[None] if gray else np.asarray(saved.convert("RGB")).transpose(2, 0, 1)
        np.testing.assert_allclose(ds.images[0], want / 127.5 - 1, atol=1e-6, err_msg=mode)


# ---------------------------------------------------------------- transforms (torchvision's rules)


def reference_to_tensor(pic):
    if isinstance(pic, np.ndarray):
        a = (pic[:, :, None] if pic.ndim == 2 else pic).transpose(2, 0, 1)
    else:
        nptype = {"I": np.int32, "I;16": np.int16, "F": np.float32}.get(pic.mode, np.uint8)
        a = np.array(pic, nptype, copy=True)
        if pic.mode == "1":
            a = 255 * a
        a = a.reshape(pic.size[1], pic.size[0], len(pic.getbands())).transpose(2, 0, 1)
    return a.astype(np.float32) / np.float32(255) if a.dtype == np.uint8 else a


def test_to_tensor_per_pil_mode_and_array_dtype():
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    pics = [Image.fromarray(rgb).convert(m) for m in ("L", "RGB", "RGBA", "P", "1", "LA", "CMYK", "YCbCr")]
    pics += [
        Image.fromarray(rng.integers(0, 65536, (5, 7)).astype(np.uint16)),  # I;16: read as int16, as torchvision
        Image.fromarray(rng.integers(-5, 70000, (5, 7)).astype(np.int32)),
        Image.fromarray(rng.standard_normal((5, 7)).astype(np.float32)),
    ]
    arrays = [rgb, rgb[..., 0], rgb[:, ::2], rgb.transpose(1, 0, 2), rgb.astype(np.float32) / 255, rgb.astype(np.int16)]
    for pic in pics + arrays:
        got, want = T.ToTensor()(pic).numpy(), reference_to_tensor(pic)
        assert got.shape == want.shape and got.dtype == want.dtype  # int16 / int32 kept, as torchvision
        np.testing.assert_allclose(got, want, err_msg=getattr(pic, "mode", "array"))


@pytest.mark.parametrize("hw", [(7, 9), (5, 12), (33, 17)])
@pytest.mark.parametrize("size", [3, 8, 20, (5, 6), [7]])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
def test_tensor_resize_matches_torch_interpolate(hw, size, mode):
    torch = pytest.importorskip("torch")
    h, w = hw
    x = np.random.default_rng(4).standard_normal((2, 3, h, w)).astype(np.float32)
    got = T.Resize(size, interpolation=T.InterpolationMode(mode))(md.tensor(x)).numpy()
    if isinstance(size, int) or len(size) == 1:  # torchvision's smaller-edge rule
        s = size if isinstance(size, int) else size[0]
        oh, ow = (int(s * h / w), s) if w <= h else (s, int(s * w / h))
    else:
        oh, ow = size
    kw = {} if mode == "nearest" else {"align_corners": False, "antialias": True}
    want = torch.nn.functional.interpolate(torch.from_numpy(x), size=(oh, ow), mode=mode, **kw).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-4, rtol=1e-4)


def reference_center_crop(x, size):
    ch, cw = (size, size) if isinstance(size, int) else (size[0], size[-1])
    h, w = x.shape[-2:]
    if cw > w or ch > h:
        t, b = ((ch - h) // 2, (ch - h + 1) // 2) if ch > h else (0, 0)
        left, r = ((cw - w) // 2, (cw - w + 1) // 2) if cw > w else (0, 0)
        x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(t, b), (left, r)])
        h, w = x.shape[-2:]
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return x[..., top : top + ch, left : left + cw]


@pytest.mark.parametrize("hw", [(7, 9), (8, 8), (5, 12), (1, 1), (6, 3)])
def test_center_crop_offsets_tensor_and_pil(hw):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(5)
    h, w = hw
    for size in [1, 2, 3, 4, 5, (3, 4), (2, 7), [6], (9, 9), (10, 2)]:
        x = rng.standard_normal((3, h, w)).astype(np.float32)
        np.testing.assert_array_equal(T.CenterCrop(size)(md.tensor(x)).numpy(), reference_center_crop(x, size))
        u8 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        got = np.asarray(T.CenterCrop(size)(Image.fromarray(u8))).transpose(2, 0, 1)
        np.testing.assert_array_equal(got, reference_center_crop(u8.transpose(2, 0, 1), size))


def test_pipeline_normalize_flip_and_compose():
    torch = pytest.importorskip("torch")
    Image = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(6).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    pipeline = T.Compose(
        [T.Resize(6), T.CenterCrop(5), T.RandomHorizontalFlip(p=1.0), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)]
    )
    got = pipeline(Image.fromarray(rgb)).numpy()
    resized = np.asarray(Image.fromarray(rgb).resize((int(6 * 11 / 9), 6), Image.BILINEAR))
    cropped = reference_center_crop(resized.transpose(2, 0, 1), 5)[..., ::-1]
    want = (torch.from_numpy(cropped.astype(np.float32) / 255) - 0.5) / 0.5
    np.testing.assert_allclose(got, want.numpy(), atol=1e-6)
    assert T.Lambda(lambda t: t * 2)(md.tensor([1.0])).numpy().tolist() == [2.0]
