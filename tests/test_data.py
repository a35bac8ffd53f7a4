# Datasets from every supported source (all written by the test itself, except scikit-learn's bundled
# digits), scaling to [-1, 1], labels, resizing and cropping, error messages that name the file, and the
# DataLoader's determinism, epochs, drop_last, resumption and prefetch-thread lifetime.
import gc
import gzip
import pickle
import struct
import threading
import time

import numpy as np
import pytest
from PIL import Image

import minidiff as md
from minidiff import data
from minidiff.data import DataLoader, Dataset, load_dataset

# ---- helpers


def write_idx(path, array, compress=False):
    array = np.asarray(array, dtype=np.uint8)
    payload = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def make_idx_dir(root, n_train=6, n_test=4, compress=False, size=(5, 4)):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, *size), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255  # both ends of the range appear
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        ext = ".gz" if compress else ""
        write_idx(root / f"{prefix}-images-idx3-ubyte{ext}", images, compress)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{ext}", labels, compress)
        out[prefix] = (images, labels)
    return out


def thread_count_settles(baseline, timeout=2.0):
    deadline = time.monotonic() + timeout
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    return threading.active_count() == baseline and not any(
        t.name == "minidiff-data-prefetch" for t in threading.enumerate()
    )


def collect(loader, n=None):
    out = []
    for i, (x, y) in enumerate(loader):
        out.append((x.numpy(), None if y is None else y.numpy()))
        if n is not None and i + 1 == n:
            break
    return out


def small_dataset(n=10, labels=True, random_flip=False):
    # image k is filled with the value k / n (and a left-right ramp so flips are visible)
    images = np.zeros((n, 1, 2, 3), dtype=np.float32)
    for k in range(n):
        images[k] = k / n
        images[k, :, :, 0] -= 0.05
    return Dataset(images, np.arange(n) if labels else None, random_flip=random_flip)


def ids_of(images):
    return np.rint(images[:, 0, 0, 1] * 10).astype(int)


# ---- digits


def test_digits_default():
    from sklearn.datasets import load_digits

    ds = load_dataset()
    ref = load_digits()
    assert isinstance(ds, Dataset) and len(ds) == 1797
    assert ds.images.shape == (1797, 1, 8, 8) and ds.images.dtype == np.float32
    np.testing.assert_allclose(ds.images[:, 0], ref.images / 8.0 - 1.0, atol=1e-7)
    assert ds.images.min() == -1.0 and ds.images.max() == 1.0
    assert ds.labels.dtype == np.int64 and np.array_equal(ds.labels, ref.target)
    assert ds.num_classes == 10
    image, label = ds[5]
    assert image.shape == (1, 8, 8) and image.dtype == np.float32 and label == ref.target[5]
    with pytest.raises(ValueError, match="one split"):
        load_dataset("digits", split="test")


def test_digits_resized_rgb():
    ds = load_dataset("digits", image_size=16, channels=3)
    assert ds.images.shape == (1797, 3, 16, 16)
    assert ds.images.min() >= -1.0 and ds.images.max() <= 1.0
    np.testing.assert_array_equal(ds.images[:, 0], ds.images[:, 2])
    # the resize is Pillow's bilinear resize of the float image
    src = load_dataset("digits").images[7, 0]
    ref = np.asarray(Image.fromarray(src).resize((16, 16), Image.BILINEAR))
    np.testing.assert_allclose(ds.images[7, 0], np.clip(ref, -1, 1), atol=1e-6)


# ---- IDX (mnist / fashion-mnist)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files(tmp_path, compress):
    written = make_idx_dir(tmp_path / "mnist", compress=compress)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        ds = load_dataset("mnist", split=split, root=tmp_path / "mnist")
        images, labels = written[prefix]
        assert ds.images.shape == (len(images), 1, 5, 4)
        np.testing.assert_allclose(ds.images[:, 0], images / 127.5 - 1.0, atol=1e-6)
        assert ds.images[0, 0, 0, 0] == -1.0 and ds.images[0, 0, 0, 1] == 1.0
        np.testing.assert_array_equal(ds.labels, labels)
        assert ds.class_names == [str(i) for i in range(10)]
    # a directory of IDX files is recognised by path too
    by_path = load_dataset(tmp_path / "mnist", split="test")
    np.testing.assert_array_equal(by_path.images, load_dataset("mnist", split="test", root=tmp_path / "mnist").images)


def test_fashion_mnist_default_dir(tmp_path, monkeypatch):
    make_idx_dir(tmp_path / "fm", compress=True)
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", str(tmp_path / "fm"))
    ds = load_dataset("fashion-mnist", image_size=8)
    assert ds.images.shape == (6, 1, 8, 8) and ds.class_names[0] == "T-shirt/top"
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


@pytest.mark.skipif(
    not __import__("os").path.isdir(data.FASHION_MNIST_DIR), reason="dataset-fashion-mnist not installed"
)
def test_fashion_mnist_debian_package():
    ds = load_dataset("fashion-mnist", split="test")
    assert ds.images.shape == (10000, 1, 28, 28) and ds.num_classes == 10
    assert np.array_equal(np.bincount(ds.labels), np.full(10, 1000))


def test_idx_errors_name_the_file(tmp_path):
    make_idx_dir(tmp_path / "d")
    bad = tmp_path / "d" / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*bad magic"):
        load_dataset("mnist", root=tmp_path / "d")
    write_idx(bad, np.zeros((3, 2, 2)))
    bad.write_bytes(bad.read_bytes()[:-2])  # truncated body
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*holds 10 bytes"):
        load_dataset("mnist", root=tmp_path / "d")
    write_idx(bad, np.zeros((3, 2, 2)))  # 3 images, 6 labels
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte: expected 3 labels"):
        load_dataset("mnist", root=tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k labels"):
        load_dataset("mnist", split="test", root=tmp_path / "d")
    with pytest.raises(FileNotFoundError, match="root="):
        load_dataset("mnist")


# ---- CIFAR-10


def make_cifar_dir(root, per_batch=2):
    root.mkdir()
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(root / name, "wb") as f:
            pickle.dump({b"data": d, b"labels": labels, b"batch_label": name.encode()}, f)
        batches[name] = (d, labels)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)]}, f)
    return batches


def test_cifar10(tmp_path):
    batches = make_cifar_dir(tmp_path / "cifar-10-batches-py")
    ds = load_dataset("cifar10", root=tmp_path / "cifar-10-batches-py")
    assert ds.images.shape == (10, 3, 32, 32) and ds.num_classes == 10
    raw, labels = batches["data_batch_3"]
    # row k of a batch holds 1024 red, then 1024 green, then 1024 blue values, each row-major
    img = ds.images[4]
    np.testing.assert_allclose(img[1, 2, 5], raw[0, 1024 + 2 * 32 + 5] / 127.5 - 1, atol=1e-6)
    np.testing.assert_allclose(img[2, 31, 0], raw[0, 2048 + 31 * 32] / 127.5 - 1, atol=1e-6)
    assert ds.labels[4] == labels[0] and ds.class_names[3] == "class3"
    test = load_dataset(tmp_path / "cifar-10-batches-py", split="test", channels=1)
    assert test.images.shape == (2, 1, 32, 32)
    rgb = load_dataset("cifar10", split="test", root=tmp_path / "cifar-10-batches-py").images
    np.testing.assert_allclose(test.images[:, 0], 0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2], atol=1e-6)


def test_cifar10_errors(tmp_path):
    make_cifar_dir(tmp_path / "c")
    (tmp_path / "c" / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        load_dataset("cifar10", root=tmp_path / "c")
    (tmp_path / "c" / "test_batch").write_bytes(b"this is not a pickle")
    with pytest.raises(ValueError, match="test_batch"):
        load_dataset("cifar10", split="test", root=tmp_path / "c")
    with open(tmp_path / "c" / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"test_batch: expected uint8 data \(N, 3072\)"):
        load_dataset("cifar10", split="test", root=tmp_path / "c")


# ---- image folders


def save_png(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode).save(path)


def test_image_folder_labels_and_scaling(tmp_path):
    root = tmp_path / "imgs"
    save_png(root / "dog" / "a.png", np.full((6, 6, 3), 255))
    save_png(root / "cat" / "b.png", np.zeros((6, 6, 3)))
    save_png(root / "dog" / "deeper" / "c.jpg", np.full((6, 6, 3), 128))
    save_png(root / "cat" / "d.png", np.tile(np.arange(0, 252, 42, dtype=np.uint8), (6, 1)), "L")
    ds = load_dataset(root)
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2
    assert ds.images.shape == (4, 3, 6, 6)  # a colour image present: RGB
    # files are read in sorted order: cat/b, cat/d, dog/a, dog/deeper/c
    np.testing.assert_array_equal(ds.labels, [0, 0, 1, 1])
    assert np.all(ds.images[0] == -1.0) and np.all(ds.images[2] == 1.0)
    np.testing.assert_allclose(ds.images[3], 128 / 127.5 - 1, atol=2 / 127.5)  # JPEG is lossy
    np.testing.assert_allclose(ds.images[1, 0, 0], np.arange(0, 252, 42) / 127.5 - 1, atol=1e-6)


def test_image_folder_grayscale_unlabelled_and_split(tmp_path):
    root = tmp_path / "g"
    for i in range(3):
        save_png(root / f"{i}.png", np.full((4, 5), 60 * i), "L")
    ds = load_dataset(root)
    assert ds.images.shape == (3, 1, 4, 5) and ds.labels is None and ds.num_classes is None
    assert ds[1][1] == -1
    rgb = load_dataset(root, channels=3)
    assert rgb.images.shape == (3, 3, 4, 5)
    # a subfolder named after the split is used when present
    save_png(tmp_path / "s" / "train" / "x" / "0.png", np.zeros((4, 4)), "L")
    save_png(tmp_path / "s" / "test" / "y" / "0.png", np.zeros((4, 4)), "L")
    assert load_dataset(tmp_path / "s", split="test").class_names == ["y"]


def test_image_folder_resize_and_center_crop(tmp_path):
    # 20 wide x 40 tall, white in the top and bottom 8 rows: after scaling the width to 10 and
    # cropping the centre 10 x 10 (original rows 10..29, whose 2x-downscale filter reaches rows 9..30)
    # only black remains
    img = np.zeros((40, 20), dtype=np.uint8)
    img[:8] = 255
    img[32:] = 255
    save_png(tmp_path / "r" / "tall.png", img, "L")
    wide = np.zeros((8, 16, 3), dtype=np.uint8)
    wide[:, :3] = 255  # 16x8 -> 20x10, crop columns 5..14 = source 3.6..12.4: the white is cut off
    save_png(tmp_path / "r" / "wide.png", wide)
    ds = load_dataset(tmp_path / "r", image_size=10, channels=1)
    assert ds.images.shape == (2, 1, 10, 10)
    np.testing.assert_array_equal(ds.images[0], -1.0)
    assert ds.images[1].max() == pytest.approx(-1.0, abs=1e-6)
    # when the shorter side already fits, only the centred crop happens: rows 10..29 of a row ramp
    ramp = np.repeat((np.arange(40) * 6).astype(np.uint8)[:, None], 20, axis=1)
    save_png(tmp_path / "ramp" / "r.png", ramp, "L")
    crop = load_dataset(tmp_path / "ramp", image_size=20).images
    assert crop.shape == (1, 1, 20, 20)
    np.testing.assert_allclose(crop[0, 0], ramp[10:30] / 127.5 - 1, atol=1e-6)


def test_image_folder_errors(tmp_path):
    save_png(tmp_path / "e" / "ok.png", np.zeros((4, 4)), "L")
    (tmp_path / "e" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match="broken.png"):
        load_dataset(tmp_path / "e")
    save_png(tmp_path / "m" / "a.png", np.zeros((4, 4)), "L")
    save_png(tmp_path / "m" / "b.png", np.zeros((4, 6)), "L")
    with pytest.raises(ValueError, match="b.png is 6x4.*image_size"):
        load_dataset(tmp_path / "m")
    assert load_dataset(tmp_path / "m", image_size=4).images.shape == (2, 1, 4, 4)
    save_png(tmp_path / "x" / "cls" / "a.png", np.zeros((4, 4)), "L")
    save_png(tmp_path / "x" / "stray.png", np.zeros((4, 4)), "L")
    with pytest.raises(ValueError, match="stray.png"):
        load_dataset(tmp_path / "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no PNG/JPEG images found under .*empty"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        load_dataset(tmp_path / "does-not-exist")


# ---- arrays


def test_npy_layouts_and_scaling(tmp_path):
    rng = np.random.default_rng(2)
    u8 = rng.integers(0, 256, (5, 6, 7), dtype=np.uint8)
    np.save(tmp_path / "a.npy", u8)
    ds = load_dataset(tmp_path / "a.npy")
    assert ds.images.shape == (5, 1, 6, 7) and ds.labels is None
    np.testing.assert_allclose(ds.images[:, 0], u8 / 127.5 - 1, atol=1e-6)

    nhwc = rng.integers(0, 256, (3, 6, 7, 3), dtype=np.uint8)
    np.save(tmp_path / "b.npy", nhwc)
    np.testing.assert_allclose(
        load_dataset(tmp_path / "b.npy").images, nhwc.transpose(0, 3, 1, 2) / 127.5 - 1, atol=1e-6
    )

    unit = rng.uniform(0, 1, (3, 3, 6, 7)).astype(np.float32)
    np.save(tmp_path / "c.npy", unit)
    np.testing.assert_allclose(load_dataset(tmp_path / "c.npy").images, unit * 2 - 1, atol=1e-6)

    signed = rng.uniform(-1, 1, (3, 1, 6, 7))
    np.save(tmp_path / "d.npy", signed)
    np.testing.assert_allclose(load_dataset(tmp_path / "d.npy").images, signed, atol=1e-6)
    # the automatic rule reads all-non-negative floats as [0, 1]; value_range overrides it
    np.testing.assert_allclose(load_dataset(tmp_path / "c.npy", value_range=(-1, 1)).images, unit, atol=1e-7)

    ds = load_dataset(tmp_path / "b.npy", image_size=4, channels=1)
    assert ds.images.shape == (3, 1, 4, 4)


def test_npz_with_labels(tmp_path):
    images = np.zeros((4, 8, 8, 1), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([3, 1, 0, 3]))
    ds = load_dataset(tmp_path / "d.npz")
    assert ds.images.shape == (4, 1, 8, 8) and ds.labels.dtype == np.int64
    assert ds.num_classes == 4 and ds[0][1] == 3
    np.savez(tmp_path / "nolabels.npz", images=images)
    assert load_dataset(tmp_path / "nolabels.npz").labels is None


def test_array_errors_name_the_file(tmp_path):
    np.save(tmp_path / "shape.npy", np.zeros((4, 5, 7, 9), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"shape.npy: expected images .* got \(4, 5, 7, 9\)"):
        load_dataset(tmp_path / "shape.npy")
    np.save(tmp_path / "flat.npy", np.zeros((4, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="flat.npy"):
        load_dataset(tmp_path / "flat.npy")
    np.save(tmp_path / "range.npy", np.full((2, 3, 3), 7.0))
    with pytest.raises(ValueError, match=r"range.npy: float images must lie in \[0, 1\] or \[-1, 1\]"):
        load_dataset(tmp_path / "range.npy")
    np.save(tmp_path / "int16.npy", np.zeros((2, 3, 3), dtype=np.int16))
    with pytest.raises(ValueError, match="int16.npy.*uint8"):
        load_dataset(tmp_path / "int16.npy")
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match="corrupt.npy"):
        load_dataset(tmp_path / "corrupt.npy")
    np.savez(tmp_path / "nokey.npz", pixels=np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="nokey.npz.*'images'"):
        load_dataset(tmp_path / "nokey.npz")
    np.savez(tmp_path / "mismatch.npz", images=np.zeros((2, 3, 3)), labels=np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="mismatch.npz: 2 images but 3 labels"):
        load_dataset(tmp_path / "mismatch.npz")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="notes.txt"):
        load_dataset(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_dataset(tmp_path / "missing.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"empty.npy holds no images \(shape \(0, 1, 8, 8\)\)"):
        load_dataset(tmp_path / "empty.npy")
    np.savez(tmp_path / "empty.npz", images=np.zeros((0, 8, 8, 3)), labels=np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="empty.npz holds no images"):
        load_dataset(tmp_path / "empty.npz")
    with pytest.raises(ValueError, match="holds no images"):
        Dataset(np.zeros((0, 1, 8, 8), np.float32))


def test_dataset_random_flip_in_getitem():
    ds = small_dataset(random_flip=True)
    flipped = sum(not np.array_equal(ds[3][0], ds.images[3]) for _ in range(200))
    assert 60 < flipped < 140
    for _ in range(10):
        img = ds[3][0]
        assert np.array_equal(img, ds.images[3]) or np.array_equal(img, ds.images[3][:, :, ::-1])


# ---- DataLoader


def test_loader_batches_types_and_len():
    ds = small_dataset(10)
    loader = DataLoader(ds, batch_size=4, seed=0)
    assert len(loader) == 2
    batches = list(loader)
    assert len(batches) == 2
    x, y = batches[0]
    assert isinstance(x, md.Tensor) and x.shape == (4, 1, 2, 3) and x.dtype == "float32"
    assert isinstance(y, md.Tensor) and y.shape == (4,) and y.dtype == "int64"
    seen = np.concatenate([b[1].numpy() for b in batches])
    assert len(set(seen.tolist())) == 8  # drop_last: 8 distinct samples, 2 left out
    np.testing.assert_array_equal(ids_of(np.concatenate([b[0].numpy() for b in batches])), seen)

    keep = DataLoader(ds, batch_size=4, drop_last=False, shuffle=False)
    assert len(keep) == 3
    sizes = [b[0].shape[0] for b in keep]
    assert sizes == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in keep]), np.arange(10))
    assert next(iter(DataLoader(small_dataset(4, labels=False), 2)))[1] is None
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(ds, batch_size=11)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)


def test_loader_determinism_and_epochs():
    ds = small_dataset(12)
    a = DataLoader(ds, 3, seed=5)
    b = DataLoader(ds, 3, seed=5)
    ea1, ea2 = collect(a), collect(a)
    eb1, eb2 = collect(b), collect(b)
    for u, v in zip(ea1 + ea2, eb1 + eb2):
        np.testing.assert_array_equal(u[0], v[0])
        np.testing.assert_array_equal(u[1], v[1])
    order1 = np.concatenate([y for _, y in ea1])
    order2 = np.concatenate([y for _, y in ea2])
    assert sorted(order1) == list(range(12)) and sorted(order2) == list(range(12))
    assert not np.array_equal(order1, order2)  # a new permutation each epoch
    other = np.concatenate([y for _, y in collect(DataLoader(ds, 3, seed=6))])
    assert not np.array_equal(order1, other)
    assert a.epoch == 2


def test_loader_resume_matches_uninterrupted_run():
    ds = small_dataset(10)
    for flip in (False, True):
        ref_loader = DataLoader(ds, 3, seed=11, random_flip=flip)
        reference = collect(ref_loader) + collect(ref_loader) + collect(ref_loader)  # 3 epochs x 3 batches

        run = DataLoader(ds, 3, seed=11, random_flip=flip)
        first = collect(run) + collect(run, n=2)  # one epoch and two batches of the next
        state = run.state_dict()
        assert state["epoch"] == 1 and state["position"] == 2

        resumed = DataLoader(ds, 3, seed=999, random_flip=flip)
        resumed.load_state_dict(state)
        rest = collect(resumed) + collect(resumed)
        got = first + rest
        assert len(got) == len(reference) == 9
        for u, v in zip(got, reference):
            np.testing.assert_array_equal(u[0], v[0])
            np.testing.assert_array_equal(u[1], v[1])
        # the original loader also continues its epoch after the break
        np.testing.assert_array_equal(collect(run)[0][1], reference[5][1])


def test_loader_random_flip():
    ds = small_dataset(40)
    loader = DataLoader(ds, 40, seed=3, random_flip=True)
    ((x, y),) = collect(loader)
    originals = ds.images[y]
    mirrored = originals[..., ::-1]
    is_orig = np.all(x == originals, axis=(1, 2, 3))
    is_mirr = np.all(x == mirrored, axis=(1, 2, 3))
    assert np.all(is_orig | is_mirr)
    assert 8 < is_mirr.sum() < 32
    assert DataLoader(small_dataset(4, random_flip=True), 2).random_flip  # the dataset's default
    ((x2, y2),) = collect(DataLoader(ds, 40, seed=3, random_flip=False))
    np.testing.assert_array_equal(x2, ds.images[y2])


def test_loader_state_dict_validation():
    loader = DataLoader(small_dataset(10), 3, seed=1)
    with pytest.raises(ValueError, match="missing keys"):
        loader.load_state_dict({"epoch": 0})
    with pytest.raises(ValueError, match="position 7"):
        loader.load_state_dict({"seed": 1, "epoch": 0, "position": 7})
    loader.set_epoch(4)
    assert loader.state_dict() == {"seed": 1, "epoch": 4, "position": 0}


def test_generic_dataset_and_device():
    class Squares:
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return np.full((1, 2, 2), i, dtype=np.float32), i

    x, y = next(iter(DataLoader(Squares(), 3, shuffle=False, device="cpu")))
    np.testing.assert_array_equal(y.numpy(), [0, 1, 2])
    np.testing.assert_array_equal(x.numpy()[:, 0, 0, 0], [0, 1, 2])
    assert str(x.device) == "cpu"


# ---- the prefetch thread


def test_prefetch_thread_stops_after_break():
    gc.collect()
    baseline = threading.active_count()
    loader = DataLoader(small_dataset(40), 2, seed=0, prefetch=1)
    for i, _ in enumerate(loader):
        if i == 1:
            assert threading.active_count() == baseline + 1
            break
    assert thread_count_settles(baseline)
    # explicit close, and an iterator dropped without being exhausted
    it = iter(loader)
    next(it)
    it.close()
    assert thread_count_settles(baseline)
    with pytest.raises(StopIteration):
        next(it)
    it = iter(loader)
    next(it)
    del it
    gc.collect()
    assert thread_count_settles(baseline)
    # a full epoch ends its thread too
    list(loader)
    assert thread_count_settles(baseline)


def test_prefetch_worker_exception_reaches_consumer():
    class Faulty(Dataset):
        def get_batch(self, indices):
            if 7 in indices:
                raise KeyError(f"sample 7 is unreadable (batch {sorted(indices.tolist())})")
            return super().get_batch(indices)

    gc.collect()
    baseline = threading.active_count()
    base = small_dataset(10)
    loader = DataLoader(Faulty(base.images, base.labels), 2, shuffle=False)
    got = []
    with pytest.raises(KeyError, match="sample 7 is unreadable"):
        for x, _ in loader:
            got.append(x)
    assert len(got) == 3  # batches before the faulty one were delivered
    assert thread_count_settles(baseline)
    assert loader.state_dict()["position"] == 3


def test_a_new_iterator_closes_the_previous_one():
    gc.collect()
    baseline = threading.active_count()
    loader = DataLoader(small_dataset(20), 2, seed=0)
    first = iter(loader)
    next(first)
    second = iter(loader)
    with pytest.raises(StopIteration):
        next(first)
    next(second)
    second.close()
    del first, second
    assert thread_count_settles(baseline)


def test_prefetch_thread_stops_on_keyboard_interrupt():
    gc.collect()
    baseline = threading.active_count()
    loader = DataLoader(small_dataset(40), 2, seed=0, prefetch=2)
    with pytest.raises(KeyboardInterrupt):
        for i, _ in enumerate(loader):
            if i == 2:
                raise KeyboardInterrupt  # as Ctrl-C in the training loop
    gc.collect()
    assert thread_count_settles(baseline)
    # the loader stays usable and resumes where the interrupted iteration stopped
    assert loader.state_dict()["position"] == 3
    rest = collect(loader)
    assert len(rest) == len(loader) - 3


def test_sixteen_bit_grayscale_is_scaled_for_rgb_too(tmp_path):
    root = tmp_path / "g16"
    root.mkdir()
    Image.fromarray(np.full((8, 8), 30000, np.uint16)).save(root / "a.png")  # opens as mode I;16
    gray = load_dataset(root).images
    rgb = load_dataset(root, channels=3).images  # Pillow's convert("RGB") clipped it to white
    assert rgb.shape == (1, 3, 8, 8)
    np.testing.assert_allclose(rgb, np.broadcast_to(gray, rgb.shape))
    assert abs(float(gray.max()) - (round(30000 / 65535 * 255) / 127.5 - 1)) < 1e-6


def test_a_split_layout_without_the_split_asked_for_is_an_error(tmp_path):
    save_png(tmp_path / "s" / "train" / "a" / "0.png", np.zeros((4, 4)), "L")
    save_png(tmp_path / "s" / "train" / "b" / "0.png", np.zeros((4, 4)), "L")
    with pytest.raises(ValueError, match="no 'test' subfolder \\(it has \\['train'\\]\\)"):
        load_dataset(tmp_path / "s", split="test")
    assert load_dataset(tmp_path / "s", split="train").class_names == ["a", "b"]
