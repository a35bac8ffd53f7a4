# DataLoader collation of datasets other than md.data.Dataset: a NumPy array or md Tensor as the
# dataset, and map-style datasets whose items are single images, numbers, tuples of any arity, lists,
# dicts and nestings of them, checked against torch.utils.data.DataLoader(shuffle=False) where torch
# is installed (and against values written out here where it is not); errors that name the item;
# torch's num_workers / pin_memory / collate_fn arguments.
import collections
import gc
import threading
import time

import numpy as np
import pytest

import minidiff as md
from minidiff.data import DataLoader, Dataset

# ---- helpers


class Items:
    """A map-style dataset (len and [] only) whose item i is make(i)."""

    def __init__(self, n, make):
        self.n, self.make = n, make

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.make(i)


def image(i, shape=(3, 4, 4), dtype=np.float32):
    # distinct values per item and per pixel, so a wrong order or a wrong field shows
    return (np.arange(np.prod(shape)).reshape(shape) + 100 * i).astype(dtype)


def md_dtype_of(np_dtype):
    """The md dtype of a batch whose torch counterpart (as NumPy) has ``np_dtype``: integers keep
    their dtype as torch's default_collate keeps it, except uint16 -> int32 and uint32/uint64 ->
    int64 (md has no wider unsigned dtype); float16 stays, other floats are float32 (no float64)."""
    if np_dtype.kind in "iu":
        return {"uint16": "int32", "uint32": "int64", "uint64": "int64"}.get(np_dtype.name, np_dtype.name)
    if np_dtype.kind == "b":
        return "bool"
    return "float16" if np_dtype == np.float16 else "float32"


def md_batches(dataset, batch_size, **kw):
    return list(DataLoader(dataset, batch_size, shuffle=False, **kw))


def torch_batches(dataset, batch_size, drop_last=True, **kw):
    torch = pytest.importorskip("torch")
    return list(torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=drop_last, **kw))


def assert_same(got, want, where="batch"):
    """``got`` (an md DataLoader batch) holds what ``want`` (torch's) does, in md's dtypes and containers."""
    import torch

    if isinstance(want, (torch.Tensor, np.ndarray)):
        w = want.numpy() if isinstance(want, torch.Tensor) else want
        assert isinstance(got, md.Tensor), f"{where}: {type(got).__name__}, expected an md tensor"
        expected_dtype = md_dtype_of(w.dtype)
        assert got.dtype == expected_dtype, f"{where}: dtype {got.dtype}, expected {expected_dtype} (torch: {w.dtype})"
        assert tuple(got.shape) == w.shape, f"{where}: shape {tuple(got.shape)} != {w.shape}"
        np.testing.assert_array_equal(got.numpy(), w.astype(expected_dtype), err_msg=where)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), f"{where}: {got!r}"
        for k in want:
            assert_same(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, (list, tuple)) and all(isinstance(s, str) for s in want):
        assert got == list(want), f"{where}: {got!r} != {want!r}"
    elif isinstance(want, (list, tuple)):
        # torch gives a list for tuple items; md a tuple (the (images, labels) pairs it always gave)
        assert isinstance(got, tuple) and len(got) == len(want), f"{where}: {got!r}"
        for j, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{j}]")
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def assert_matches_torch(dataset, batch_size, drop_last=True):
    want = torch_batches(dataset, batch_size, drop_last=drop_last)
    got = md_batches(dataset, batch_size, drop_last=drop_last)
    assert len(got) == len(want) > 0
    for b, (g, w) in enumerate(zip(got, want)):
        assert_same(g, w, f"batch {b}")


def thread_count_settles(baseline, timeout=2.0):
    deadline = time.monotonic() + timeout
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    return threading.active_count() == baseline


# ---- a NumPy array or md Tensor as the dataset


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_array_dataset_batches_are_one_tensor(channels):
    # the reported case: with 2 channels the loader used to split channel 0 from "labels" in channel 1
    arr = np.random.default_rng(channels).uniform(-1, 1, (8, channels, 4, 4))
    batches = md_batches(arr, 2)
    assert len(batches) == 4
    for b, x in enumerate(batches):
        assert isinstance(x, md.Tensor) and x.dtype == "float32" and x.shape == (2, channels, 4, 4)
        np.testing.assert_array_equal(x.numpy(), arr[2 * b : 2 * b + 2].astype(np.float32))


@pytest.mark.parametrize(
    "arr",
    [
        np.random.default_rng(0).uniform(-1, 1, (7, 2, 4, 4)),  # float64 -> float32
        np.arange(7 * 3).reshape(7, 3).astype(np.uint8),  # uint8 stays uint8, as torch's
        np.arange(7, dtype=np.int32),
        np.arange(7 * 2).reshape(7, 2).astype(np.int8) - 5,
        np.arange(7, dtype=np.int16) * 1000,
        np.arange(7, dtype=np.uint16) * 9000,  # torch keeps uint16; md: int32
        np.arange(7 * 2, dtype=np.uint32).reshape(7, 2) * 300_000_000,  # torch keeps uint32; md: int64
        np.arange(7, dtype=np.float16) / 3,
    ],
    ids=["float64-images", "uint8-rows", "int32-scalars", "int8-rows", "int16", "uint16", "uint32", "float16"],
)
def test_array_dataset_matches_torch(arr):
    assert_matches_torch(arr, 3)
    assert_matches_torch(arr, 3, drop_last=False)  # a last batch of 1


def test_md_tensor_dataset():
    t = md.tensor(np.arange(24, dtype=np.float32).reshape(6, 4))
    batches = md_batches(t, 4, drop_last=False)
    assert [x.shape for x in batches] == [(4, 4), (2, 4)]
    np.testing.assert_array_equal(np.concatenate([x.numpy() for x in batches]), t.numpy())
    labels = md.tensor(np.arange(6))
    assert labels.dtype == "int64"
    (y,) = md_batches(labels, 6)
    assert y.dtype == "int64" and y.numpy().tolist() == list(range(6))


def test_array_dataset_shuffle_resume_and_flip():
    arr = np.zeros((12, 1, 2, 3), np.float32)
    arr[:, 0, :, :] = np.arange(12)[:, None, None]
    arr[:, 0, :, 0] -= 0.25  # a left-right asymmetry, so a flip shows

    def ids(x):
        return np.rint(x.numpy()[:, 0, 0, 1]).astype(int).tolist()

    loader = DataLoader(arr, 3, seed=4)
    epoch = [ids(x) for x in loader]
    assert sorted(sum(epoch, [])) == list(range(12)) and sum(epoch, []) != list(range(12))
    assert [ids(x) for x in DataLoader(arr, 3, seed=4)] == epoch  # a seed gives its order again
    # break after two batches, resume from the state in a new loader: the rest of the same epoch
    run = DataLoader(arr, 3, seed=4)
    it = iter(run)
    first = [ids(next(it)), ids(next(it))]
    it.close()
    resumed = DataLoader(arr, 3, seed=0)
    resumed.load_state_dict(run.state_dict())
    assert first + [ids(x) for x in resumed] == epoch

    (x,) = list(DataLoader(arr, 12, seed=1, random_flip=True))
    rows = arr[ids(x)]
    flipped = np.all(x.numpy() == rows[..., ::-1], axis=(1, 2, 3))
    assert np.all(flipped | np.all(x.numpy() == rows, axis=(1, 2, 3)))
    assert 0 < flipped.sum() < 12
    np.testing.assert_array_equal(arr[:, 0, 0, 0], np.arange(12) - 0.25)  # the dataset itself is untouched


def test_array_dataset_errors():
    with pytest.raises(ValueError, match="DataLoader: .*0-d"):
        DataLoader(np.array(3.0), 1)
    with pytest.raises(TypeError, match="DataLoader: the dataset array has dtype <U1"):
        DataLoader(np.array(["a", "b"]), 1)
    with pytest.raises(ValueError, match="DataLoader: the dataset is empty"):
        DataLoader(np.zeros((0, 3)), 1)


# ---- map-style datasets with other items, against torch


CASES = {
    "image only": lambda i: image(i),
    "float64 image only": lambda i: image(i, (1, 2, 2), np.float64),
    "uint8 image only": lambda i: image(i, (2, 2), np.uint8),
    "int only": lambda i: 3 * i - 5,
    "float only": lambda i: i / 3,
    "bool only": lambda i: i % 2 == 0,
    "numpy scalars": lambda i: (np.float64(i / 7), np.int16(i), np.bool_(i > 2)),
    "narrow numpy scalars": lambda i: (np.uint8(249 + i), np.int8(-i), np.int32(i << 20), np.uint16(60000 + i)),
    "narrow images": lambda i: {"u8": image(i, (2, 3), np.uint8), "i16": image(i, (3,), np.int16) - 7},
    "dict": lambda i: {"images": image(i), "label": i % 3, "name": f"img{i}"},
    "triple": lambda i: (image(i), i, 0.5 * i),
    "single-field tuple": lambda i: (image(i, (2,)),),
    "list pair": lambda i: [image(i, (2, 3)), i],
    "nested": lambda i: ({"x": image(i, (2,)), "pair": (i, [i + 1.5, image(i, (1,))])}, f"s{i}"),
}


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_items_collate_as_torch_does(make):
    ds = Items(7, make)
    assert_matches_torch(ds, 3)
    assert_matches_torch(ds, 3, drop_last=False)


def test_md_tensor_items_collate_as_their_arrays():
    # torch cannot collate md tensors, so the reference is the same items as NumPy arrays
    as_md = Items(6, lambda i: {"images": md.tensor(image(i)), "label": md.tensor(np.array(i))})
    as_np = Items(6, lambda i: {"images": image(i), "label": np.int64(i)})
    for got, want in zip(md_batches(as_md, 2), md_batches(as_np, 2)):
        assert got["images"].dtype == "float32" and got["label"].dtype == "int64"
        np.testing.assert_array_equal(got["images"].numpy(), want["images"].numpy())
        np.testing.assert_array_equal(got["label"].numpy(), want["label"].numpy())


@pytest.mark.parametrize("npdtype", ["uint8", "int8", "int16", "int32", "int64", "uint16", "uint32"])
def test_integer_dtypes_collate_as_torch_keeps_them(npdtype):
    # NumPy oracles (torch's default_collate keeps each integer dtype; md has no uint16/uint32)
    want = md_dtype_of(np.dtype(npdtype))
    top = np.iinfo(npdtype).max
    rows = (np.arange(6 * 3).reshape(6, 3) * 7 + top - 120).astype(npdtype)  # values near the dtype's top
    arrays = Items(6, lambda i: {"x": rows[i], "s": rows[i, 0], "t": md.tensor(rows[i].astype(want))})
    for b, batch in enumerate(md_batches(arrays, 2)):
        for key, expected in (("x", rows[2 * b : 2 * b + 2]), ("s", rows[2 * b : 2 * b + 2, 0])):
            assert batch[key].dtype == want, (key, batch[key].dtype)
            np.testing.assert_array_equal(batch[key].numpy(), expected.astype(want))
        assert batch["t"].dtype == want  # md tensors keep theirs
        np.testing.assert_array_equal(batch["t"].numpy(), rows[2 * b : 2 * b + 2].astype(want))
    (whole,) = md_batches(rows, 6)  # an array dataset's rows
    assert whole.dtype == want
    np.testing.assert_array_equal(whole.numpy(), rows.astype(want))
    # a collate_fn's arrays become tensors of the same dtypes
    (made,) = md_batches(Items(6, lambda i: i), 6, collate_fn=lambda xs: rows[np.array(xs)])
    assert made.dtype == want
    np.testing.assert_array_equal(made.numpy(), rows.astype(want))
    got = md.utils.data.default_collate([rows[0], rows[1]])
    assert got.dtype == want
    np.testing.assert_array_equal(got.numpy(), rows[:2].astype(want))


def test_uint8_images_stay_uint8_and_train_as_float():
    # uint8 pixels (PILToTensor's) arrive as uint8, not int64; python ints stay int64
    ds = Items(4, lambda i: (np.full((1, 2, 2), 250 + i, np.uint8), i))
    x, y = md_batches(ds, 4)[0]
    assert (x.dtype, y.dtype) == ("uint8", "int64")
    assert x.numpy()[:, 0, 0, 0].tolist() == [250, 251, 252, 253]
    assert x.float().numpy().max() == 253.0  # no wrap on the way to float


def test_items_without_torch():
    # the values written out, so these checks run where torch is not installed
    (x,) = md_batches(Items(3, image), 3)
    assert isinstance(x, md.Tensor) and x.shape == (3, 3, 4, 4)
    np.testing.assert_array_equal(x.numpy(), np.stack([image(0), image(1), image(2)]))

    b = md_batches(Items(4, lambda i: {"images": image(i, (1, 2, 2)), "label": i, "name": f"n{i}"}), 2)[1]
    assert list(b) == ["images", "label", "name"]
    assert b["images"].shape == (2, 1, 2, 2) and b["images"].numpy()[1, 0, 0, 0] == 300
    assert b["label"].dtype == "int64" and b["label"].numpy().tolist() == [2, 3]
    assert b["name"] == ["n2", "n3"]

    a, i, f = md_batches(Items(4, lambda i: (image(i, (2,)), i, i / 2)), 4)[0]
    assert (a.shape, i.dtype, f.dtype) == ((4, 2), "int64", "float32")
    assert f.numpy().tolist() == [0.0, 0.5, 1.0, 1.5]

    # a field that is None in every item stays None (an unlabelled (image, None) pair, as before)
    x, y = md_batches(Items(4, lambda i: (image(i), None)), 2)[0]
    assert y is None and x.shape == (2, 3, 4, 4)

    Pair = collections.namedtuple("Pair", "image label")
    p = md_batches(Items(4, lambda i: Pair(image(i, (2,)), i)), 2)[0]
    assert type(p) is Pair and p.label.numpy().tolist() == [0, 1]


def test_pairs_collate_as_the_dataset_fast_path():
    # the same (image, label) pairs through __getitem__ and through Dataset.get_batch, shuffled and
    # flipped: identical batches, so the generic path keeps the order, flips and dtypes of the fast one
    rng = np.random.default_rng(3)
    ds = Dataset(rng.uniform(-1, 1, (10, 1, 3, 4)).astype(np.float32), np.arange(10) % 4)
    plain = Items(len(ds), ds.__getitem__)
    for flip in (False, True):
        fast = list(DataLoader(ds, 3, seed=9, random_flip=flip))
        slow = list(DataLoader(plain, 3, seed=9, random_flip=flip))
        assert len(fast) == len(slow) == 3
        for (x1, y1), (x2, y2) in zip(fast, slow):
            assert (x2.dtype, y2.dtype) == ("float32", "int64")
            np.testing.assert_array_equal(x1.numpy(), x2.numpy())
            np.testing.assert_array_equal(y1.numpy(), y2.numpy())


# ---- bad items


@pytest.mark.parametrize(
    "make, error, message",
    [
        (
            lambda i: image(i, (1 if i == 4 else 3, 2, 2)),
            ValueError,
            r"dataset\[4\] has shape \(1, 2, 2\) but dataset\[3\]",
        ),
        (
            lambda i: (image(i), {"a": 1} if i == 4 else 1),
            TypeError,
            r"dataset\[4\]\[1\] has type dict but dataset\[3\]\[1\] has type int",
        ),
        (
            lambda i: {"images": image(i)} if i == 5 else {"images": image(i), "y": i},
            ValueError,
            r"dataset\[5\] has keys \['images'\]",
        ),
        (
            lambda i: (image(i), i, i) if i == 4 else (image(i), i),
            ValueError,
            r"dataset\[4\] has 3 fields but dataset\[3\] has 2",
        ),
        (
            lambda i: {"images": image(i), "y": None if i == 5 else i},
            TypeError,
            r"dataset\[5\]\['y'\] has type NoneType",
        ),
        (lambda i: (image(i), object() if i == 3 else i), TypeError, r"dataset\[3\]\[1\] has type object"),
        (lambda i: (image(i), 1j if i == 3 else i), TypeError, r"dataset\[3\]\[1\] has type complex"),
    ],
    ids=["ragged", "mixed types", "dict keys", "tuple length", "None and int", "object", "complex"],
)
def test_bad_items_name_the_item(make, error, message):
    gc.collect()
    baseline = threading.active_count()
    loader = DataLoader(Items(6, make), 3, shuffle=False)
    delivered = []
    with pytest.raises(error, match="DataLoader: " + message):
        for b in loader:
            delivered.append(b)
    assert len(delivered) == 1  # the batch of items 0..2 came through; the second holds the bad item
    assert loader.state_dict()["position"] == 1
    assert thread_count_settles(baseline)


def test_random_flip_needs_images():
    with pytest.raises(TypeError, match="DataLoader: random_flip mirrors images.*got a dict batch"):
        list(DataLoader(Items(4, lambda i: {"images": image(i)}), 2, random_flip=True))
    with pytest.raises(TypeError, match=r"got a tuple batch whose first field is a ndarray of shape \(2,\)"):
        list(DataLoader(Items(4, lambda i: (i, image(i))), 2, random_flip=True))
    # a tuple's first field is the images: only it is mirrored
    pairs = Items(40, lambda i: (image(i, (1, 1, 3)), image(i, (1, 1, 3))))
    ((x, y),) = md_batches(pairs, 40, random_flip=True)
    mirrored = np.any(x.numpy() != y.numpy(), axis=(1, 2, 3))
    assert 0 < mirrored.sum() < 40
    np.testing.assert_array_equal(x.numpy()[mirrored], y.numpy()[mirrored][..., ::-1])
    np.testing.assert_array_equal(y.numpy(), np.stack([image(i, (1, 1, 3)) for i in range(40)]))


# ---- torch's arguments


def test_num_workers_and_pin_memory():
    arr = np.zeros((4, 2), np.float32)
    assert len(list(DataLoader(arr, 2, num_workers=0, pin_memory=False))) == 2
    assert len(list(DataLoader(arr, 2, pin_memory=True))) == 2  # no pinned memory here: no effect
    with pytest.raises(ValueError, match="DataLoader: num_workers must be 0, got 2; .*one prefetch thread"):
        DataLoader(arr, 2, num_workers=2)


def test_collate_fn():
    seen = []

    def collate(items):
        seen.append(list(items))
        return {"images": np.stack([im for im, _ in items]), "labels": [lbl for _, lbl in items], "n": len(items)}

    ds = Items(5, lambda i: (image(i, (2, 2)), f"c{i}"))
    batches = md_batches(ds, 2, drop_last=False, collate_fn=collate)
    assert len(batches) == 3 and [len(s) for s in seen] == [2, 2, 1]
    assert all(isinstance(it, tuple) and it[1] == f"c{k}" for k, it in enumerate(sum(seen, [])))
    b = batches[1]
    assert isinstance(b["images"], md.Tensor) and b["images"].dtype == "float32"  # its arrays become md tensors
    np.testing.assert_array_equal(b["images"].numpy(), np.stack([image(2, (2, 2)), image(3, (2, 2))]))
    assert b["labels"] == ["c2", "c3"] and b["n"] == 2  # everything else as it returned it

    try:
        import torch
    except ImportError:
        return
    ref = list(torch.utils.data.DataLoader(ds, batch_size=2, shuffle=False, collate_fn=collate))
    for g, w in zip(batches, ref):
        assert_same(g["images"], w["images"])
        assert g["labels"] == w["labels"]


def test_collate_fn_and_flips():
    with pytest.raises(ValueError, match="DataLoader: random_flip=True with a collate_fn"):
        DataLoader(Items(4, image), 2, collate_fn=list, random_flip=True)
    # a Dataset that flips by default: with a collate_fn the loader draws no flips of its own
    ds = Dataset(np.zeros((4, 1, 2, 2), np.float32), random_flip=True)
    assert DataLoader(ds, 2, collate_fn=list).random_flip is False
    with pytest.raises(TypeError, match="DataLoader: collate_fn must be callable"):
        DataLoader(ds, 2, collate_fn="stack")
