# md.utils.data, torch.utils.data's names: Dataset / IterableDataset bases, TensorDataset, Subset,
# ConcatDataset, ChainDataset, random_split, default_collate and the torch-flavoured DataLoader,
# checked against torch.utils.data where torch is installed and against values written out here.
import warnings

import numpy as np
import pytest

import minidiff as md
import minidiff.utils.data as ud
from minidiff.utils.data import (
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)

# ---- helpers


class Squares(Dataset):
    """A user's map-style dataset: item i is (a (2, 3) float array filled with i*i, the label i % 3)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not -self.n <= i < self.n:
            raise IndexError(i)
        i %= self.n
        return np.full((2, 3), i * i, dtype=np.float32), i % 3


class Count(IterableDataset):
    """Yields (float [i, -i], i) for i in 0..n-1; a fresh pass each time it is iterated."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        for i in range(self.n):
            yield np.array([i, -i], dtype=np.float32), i


def xy(n=10):
    x = md.tensor(np.arange(2 * n, dtype=np.float32).reshape(n, 2))  # row i is [2i, 2i + 1]
    y = md.tensor(np.arange(n) * 10)
    return x, y


def labels_of(batches):
    return np.concatenate([b[1].numpy() for b in batches]).tolist()


# ---- import paths


def test_import_paths():
    import minidiff.utils
    import minidiff.utils.data

    assert md.utils is minidiff.utils and md.utils.data is minidiff.utils.data is ud
    assert "utils" in md.__all__
    assert issubclass(ud.DataLoader, md.data.DataLoader)
    # md.data.Dataset is still the in-memory image dataset, not torch's abstract base
    assert ud.Dataset is not md.data.Dataset and hasattr(md.data.Dataset, "get_batch")
    for name in ud.__all__:
        assert hasattr(ud, name), name


# ---- Dataset / IterableDataset bases


def test_dataset_base_and_add():
    with pytest.raises(NotImplementedError):
        Dataset()[0]
    with pytest.raises(NotImplementedError):
        iter(IterableDataset())
    a, b = Squares(3), Squares(2)
    both = a + b
    assert isinstance(both, ConcatDataset) and both.datasets == [a, b]
    assert len(both) == 5 and both.cumulative_sizes == [3, 5]
    assert both[3][1] == 0 and both[4][0][0, 0] == 1.0  # b[0], b[1]
    chained = Count(2) + Count(3)
    assert isinstance(chained, ChainDataset)
    assert [i for _, i in chained] == [0, 1, 0, 1, 2]


# ---- TensorDataset


def test_tensor_dataset_items():
    x, y = xy(5)
    ds = TensorDataset(x, y)
    assert len(ds) == 5 and ds.tensors == (x, y)
    item = ds[3]
    assert isinstance(item, tuple) and len(item) == 2
    assert isinstance(item[0], md.Tensor) and item[0].numpy().tolist() == [6.0, 7.0]
    assert int(item[1]) == 30
    assert ds[-1][0].numpy().tolist() == [8.0, 9.0]
    # NumPy arrays, alone or beside md tensors
    a = np.arange(15).reshape(5, 3)
    mixed = TensorDataset(a, y)
    assert mixed[2][0].tolist() == [6, 7, 8] and int(mixed[2][1]) == 20
    with pytest.raises(IndexError):
        ds[5]


def test_tensor_dataset_matches_torch():
    torch = pytest.importorskip("torch")
    a, b = np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32), np.arange(6)
    ours = TensorDataset(md.tensor(a), md.tensor(b))
    theirs = torch.utils.data.TensorDataset(torch.from_numpy(a), torch.from_numpy(b))
    assert len(ours) == len(theirs)
    for i in [0, 4, -1, -6]:
        for got, want in zip(ours[i], theirs[i]):
            np.testing.assert_array_equal(np.asarray(got), want.numpy())


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match=r"differ: \[4, 3\]"):
        TensorDataset(md.zeros(4, 2), md.zeros(3))
    with pytest.raises(ValueError, match=r"\[2, 2, 5\]"):
        TensorDataset(np.zeros(2), np.zeros((2, 1)), np.zeros(5))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(np.float32(1.0))
    with pytest.raises(ValueError, match="first axis"):
        TensorDataset([1, 2, 3])


# ---- Subset and ConcatDataset


def test_subset_indexing_matches_torch():
    base = list(range(100, 110))
    indices = [7, 2, 9, 0]
    s = Subset(base, indices)
    assert len(s) == 4 and s.indices == indices
    assert [s[i] for i in range(4)] == [107, 102, 109, 100]
    assert s[-1] == 100 and s[-4] == 107
    assert s[[0, 2]] == [107, 109]
    for bad in (4, -5):
        with pytest.raises(IndexError):
            s[bad]
    # indices given as an md tensor or an array index by their values
    assert Subset(base, md.tensor(np.array([3, 1])))[0] == 103
    assert Subset(base, np.array([3, 1]))[1] == 101
    torch = pytest.importorskip("torch")
    t = torch.utils.data.Subset(base, indices)
    assert [s[i] for i in range(-4, 4)] == [t[i] for i in range(-4, 4)]
    for bad in (4, -5):
        with pytest.raises(IndexError):
            t[bad]


def test_concat_dataset_indexing_matches_torch():
    parts = [list(range(3)), list(range(10, 15)), [], list(range(20, 22))]
    c = ConcatDataset(parts)
    assert len(c) == 10 and c.cumulative_sizes == [3, 8, 8, 10]
    want = [0, 1, 2, 10, 11, 12, 13, 14, 20, 21]
    assert [c[i] for i in range(10)] == want
    assert [c[i] for i in range(-10, 0)] == want
    assert c[np.int64(8)] == 20
    with pytest.raises(IndexError, match="10 out of range for 10"):
        c[10]
    with pytest.raises(IndexError, match="-11"):  # torch raises ValueError here
        c[-11]
    torch = pytest.importorskip("torch")
    t = torch.utils.data.ConcatDataset(parts)
    assert t.cumulative_sizes == c.cumulative_sizes
    assert [t[i] for i in range(-10, 10)] == [c[i] for i in range(-10, 10)]
    with pytest.raises(IndexError):
        t[10]


def test_concat_dataset_errors():
    with pytest.raises(ValueError, match="at least one"):
        ConcatDataset([])
    with pytest.raises(TypeError, match="IterableDataset"):
        ConcatDataset([Squares(2), Count(2)])
    with pytest.raises(TypeError, match="not an IterableDataset"):
        list(ChainDataset([Count(1), Squares(2)]))


# ---- random_split


@pytest.mark.parametrize(
    "n, fractions, want",
    [
        (10, [0.3, 0.3, 0.4], [3, 3, 4]),
        (11, [0.3, 0.3, 0.4], [4, 3, 4]),  # floors 3, 3, 4; the one left over goes to split 0
        (7, [0.3, 0.3, 0.4], [3, 2, 2]),  # floors 2, 2, 2
        (5, [1 / 3] * 3, [2, 2, 1]),
        (13, [0.1] * 10, [2, 2, 2, 1, 1, 1, 1, 1, 1, 1]),
        (100, [0.8, 0.2], [80, 20]),
        (9, [0.25, 0.25, 0.5], [3, 2, 4]),
    ],
)
def test_random_split_fraction_lengths(n, fractions, want):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = random_split(range(n), fractions, generator=md.Generator().manual_seed(0))
    assert [len(s) for s in splits] == want
    assert sorted(i for s in splits for i in s.indices) == list(range(n))  # disjoint, covering
    torch = pytest.importorskip("torch")
    theirs = torch.utils.data.random_split(range(n), fractions, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in theirs] == want


def test_random_split_empty_split_warns_as_torch():
    with pytest.warns(UserWarning, match="split 1 is empty"):
        splits = random_split(range(1), [0.5, 0.5])
    assert [len(s) for s in splits] == [1, 0]
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning):
        assert [len(s) for s in torch.utils.data.random_split(range(1), [0.5, 0.5])] == [1, 0]


def test_random_split_counts_order_and_generator():
    ds = Squares(20)
    a = random_split(ds, [5, 15], generator=md.Generator().manual_seed(7))
    b = random_split(ds, [5, 15], generator=md.Generator().manual_seed(7))
    c = random_split(ds, [5, 15], generator=md.Generator().manual_seed(8))
    assert all(isinstance(s, Subset) and s.dataset is ds for s in a)
    assert [s.indices for s in a] == [s.indices for s in b]
    assert [s.indices for s in a] != [s.indices for s in c]
    order = a[0].indices + a[1].indices
    assert sorted(order) == list(range(20)) and order != list(range(20))
    # the order is md.randperm's with that generator
    assert order == md.randperm(20, generator=md.Generator().manual_seed(7)).numpy().tolist()
    assert a[1][0][1] == order[5] % 3  # items read through to the dataset
    # the default generator: md.manual_seed makes it repeatable
    md.manual_seed(3)
    d = random_split(ds, [0.5, 0.5])
    md.manual_seed(3)
    assert [s.indices for s in random_split(ds, [0.5, 0.5])] == [s.indices for s in d]


def test_random_split_errors_match_torch():
    for lengths in ([3, 3], [5, 6], [0.5, 0.4], [1.5, -0.5], [-1, 11], [2.5, 7.5]):
        with pytest.raises(ValueError):
            random_split(range(10), lengths)
    torch = pytest.importorskip("torch")
    for lengths in ([3, 3], [5, 6], [0.5, 0.4], [1.5, -0.5]):
        with pytest.raises(ValueError):
            torch.utils.data.random_split(range(10), lengths)


# ---- DataLoader


@pytest.mark.parametrize("drop_last", [True, False])
def test_loader_over_tensor_dataset(drop_last):
    x, y = xy(10)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=3, drop_last=drop_last))
    sizes = [3, 3, 3] if drop_last else [3, 3, 3, 1]
    assert [tuple(b[0].shape) for b in batches] == [(s, 2) for s in sizes]
    assert [tuple(b[1].shape) for b in batches] == [(s,) for s in sizes]
    for xb, yb in batches:
        assert isinstance(xb, md.Tensor) and xb.dtype == "float32" and str(xb.device) == "cpu"
        assert isinstance(yb, md.Tensor) and yb.dtype == "int64"
    # not shuffled by default: rows in order, each x row matching its label
    got_x = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_array_equal(got_x, x.numpy()[: sum(sizes)])
    assert labels_of(batches) == [10 * i for i in range(sum(sizes))]
    torch = pytest.importorskip("torch")
    t = torch.utils.data.TensorDataset(torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy()))
    theirs = list(torch.utils.data.DataLoader(t, batch_size=3, drop_last=drop_last))
    assert len(theirs) == len(batches)
    for ours, want in zip(batches, theirs):
        assert len(ours) == len(want) == 2
        for g, w in zip(ours, want):
            np.testing.assert_array_equal(g.numpy(), w.numpy())


@pytest.mark.parametrize("drop_last", [True, False])
def test_loader_shuffle_covers_each_index_once(drop_last):
    x, y = xy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=3, shuffle=True, drop_last=drop_last, seed=1)
    assert len(loader) == (3 if drop_last else 4)
    seen = []
    for _ in range(2):  # two epochs, each a permutation of its own
        batches = list(loader)
        for xb, yb in batches:  # rows stay paired with their labels
            np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy() / 5)
        labels = [v // 10 for v in labels_of(batches)]
        assert len(labels) == len(set(labels)) == (9 if drop_last else 10)
        assert set(labels) <= set(range(10)) and labels != sorted(labels)
        seen.append(labels)
    assert seen[0] != seen[1]


def test_loader_torch_defaults():
    ds = Squares(5)
    loader = DataLoader(ds)
    assert (loader.batch_size, loader.shuffle, loader.drop_last) == (1, False, False)
    batches = list(loader)
    assert len(batches) == len(loader) == 5
    assert [int(b[1].numpy()[0]) for b in batches] == [0, 1, 2, 0, 1]
    # md.data's loader keeps its own defaults
    plain = md.data.DataLoader(ds, 2)
    assert plain.shuffle and plain.drop_last and len(plain) == 2


def test_loader_shuffle_seed_sources():
    ds = TensorDataset(np.arange(30))

    def order(loader):
        return np.concatenate([b[0].numpy() for b in loader]).tolist()

    g1, g2 = md.Generator().manual_seed(5), md.Generator().manual_seed(5)
    assert order(DataLoader(ds, 4, shuffle=True, generator=g1)) == order(DataLoader(ds, 4, shuffle=True, generator=g2))
    md.manual_seed(11)
    first = order(DataLoader(ds, 4, shuffle=True))
    md.manual_seed(11)
    assert order(DataLoader(ds, 4, shuffle=True)) == first and first != list(range(30))
    assert order(DataLoader(ds, 4, shuffle=True, seed=2)) == order(md.data.DataLoader(ds, 4, True, False, seed=2))


def test_user_dataset_through_loader_matches_torch():
    ds = Squares(7)
    batches = list(DataLoader(ds, batch_size=3))
    assert len(batches) == 3
    images, labels = batches[2]
    assert tuple(images.shape) == (1, 2, 3) and images.dtype == "float32"
    assert labels.dtype == "int64" and labels.numpy().tolist() == [0]
    np.testing.assert_array_equal(batches[1][0].numpy()[:, 0, 0], [9.0, 16.0, 25.0])
    torch = pytest.importorskip("torch")
    theirs = list(torch.utils.data.DataLoader(ds, batch_size=3))
    for ours, want in zip(batches, theirs):
        np.testing.assert_array_equal(ours[0].numpy(), want[0].numpy())
        np.testing.assert_array_equal(ours[1].numpy(), want[1].numpy())


def test_loader_over_random_split_and_concat():
    x, y = xy(12)
    train, val = random_split(TensorDataset(x, y), [0.75, 0.25], generator=md.Generator().manual_seed(0))
    got = labels_of(DataLoader(train, batch_size=4)) + labels_of(DataLoader(val, batch_size=4))
    assert sorted(got) == [10 * i for i in range(12)]
    assert labels_of(DataLoader(val, batch_size=4)) == [10 * i for i in val.indices]
    both = TensorDataset(x, y) + TensorDataset(x, y)
    assert labels_of(DataLoader(both, batch_size=5)) == [10 * i for i in range(12)] * 2


def test_loader_keeps_tensor_items_dtype():
    x = md.tensor(np.linspace(0, 1, 8, dtype=np.float32).reshape(4, 2)).to("bfloat16")
    (xb,) = next(iter(DataLoader(TensorDataset(x), batch_size=4)))
    assert xb.dtype == "bfloat16" and tuple(xb.shape) == (4, 2)
    # an explicit device still decides where batches go
    xb, yb = next(iter(DataLoader(TensorDataset(*xy(4)), batch_size=2, device="cpu")))
    assert str(xb.device) == "cpu" and str(yb.device) == "cpu"


def test_loader_mixed_tensor_items_error():
    class Mixed(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            t = md.tensor(np.ones(3, dtype=np.float32))
            return t.to("bfloat16") if i else t

    with pytest.raises(ValueError, match=r"dataset\[1\] is a bfloat16 tensor on cpu but dataset\[0\] a float32"):
        next(iter(DataLoader(Mixed(), batch_size=2)))


@pytest.mark.cuda
@pytest.mark.skipif(not md.cuda.is_available(), reason="needs a CUDA device")
def test_loader_keeps_tensor_items_device():
    x, y = xy(6)
    cuda = TensorDataset(x.to("cuda"), y)
    xb, yb = next(iter(DataLoader(cuda, batch_size=3)))
    assert str(xb.device).startswith("cuda") and str(yb.device) == "cpu"
    np.testing.assert_array_equal(xb.to("cpu").numpy(), x.numpy()[:3])
    xb, _ = next(iter(DataLoader(cuda, batch_size=3, device="cpu")))
    assert str(xb.device) == "cpu"
    (rows,) = [next(iter(md.data.DataLoader(x.to("cuda"), 3, shuffle=False)))]
    assert str(rows.device).startswith("cuda")


def test_loader_unsupported_options():
    ds = Squares(4)
    with pytest.raises(ValueError, match="sampler"):
        DataLoader(ds, sampler=[0, 1])
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=2)
    with pytest.raises(ValueError, match="batch_size=None"):
        DataLoader(ds, batch_size=None)
    for kw in ({"prefetch_factor": 2}, {"persistent_workers": True}, {"timeout": -1}):
        with pytest.raises(ValueError):
            DataLoader(ds, **kw)
    DataLoader(ds, worker_init_fn=print, timeout=5, pin_memory=True)  # accepted, as torch does without workers
    torch = pytest.importorskip("torch")
    for kw in ({"prefetch_factor": 2}, {"persistent_workers": True}, {"timeout": -1}):
        with pytest.raises(ValueError):
            torch.utils.data.DataLoader(ds, **kw)


# ---- IterableDataset through the loader


@pytest.mark.parametrize("drop_last", [True, False])
def test_iterable_dataset_batches_match_torch(drop_last):
    loader = DataLoader(Count(7), batch_size=3, drop_last=drop_last)
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == ([(3, 2)] * 2 + ([] if drop_last else [(1, 2)]))
    assert labels_of(batches) == list(range(6 if drop_last else 7))
    assert labels_of(loader) == labels_of(batches)  # the next epoch, a fresh pass
    torch = pytest.importorskip("torch")

    class TorchCount(torch.utils.data.IterableDataset):
        __iter__ = Count.__iter__

        def __init__(self, n):
            self.n = n

    theirs = list(torch.utils.data.DataLoader(TorchCount(7), batch_size=3, drop_last=drop_last))
    assert len(theirs) == len(batches)
    for ours, want in zip(batches, theirs):
        np.testing.assert_array_equal(ours[0].numpy(), want[0].numpy())
        np.testing.assert_array_equal(ours[1].numpy(), want[1].numpy())


def test_iterable_dataset_rules():
    with pytest.raises(ValueError, match="cannot be shuffled"):
        DataLoader(Count(4), batch_size=2, shuffle=True)
    with pytest.raises(ValueError, match="cannot be shuffled"):
        md.data.DataLoader(Count(4), 2, shuffle=True)
    with pytest.raises(ValueError, match="random_flip"):
        DataLoader(Count(4), batch_size=2, random_flip=True)
    # md.data's loader does not shuffle iterable datasets by default, and honours drop_last
    plain = md.data.DataLoader(Count(5), 2)
    assert not plain.shuffle and labels_of(plain) == [0, 1, 2, 3]
    with pytest.raises(TypeError):
        len(DataLoader(Count(4), batch_size=2))  # no __len__, as in torch

    class Sized(Count):
        def __len__(self):
            return self.n

    assert len(DataLoader(Sized(7), batch_size=3)) == 3
    assert len(DataLoader(Sized(7), batch_size=3, drop_last=True)) == 2
    assert "iterable Count" in repr(DataLoader(Count(4), batch_size=2))
    assert "iterable ChainDataset" in repr(DataLoader(Count(4) + Count(1), batch_size=2))
    assert list(DataLoader(Count(2), batch_size=3, drop_last=True)) == []  # too few items: no batch


def test_iterable_dataset_resumes_and_counts_epochs():
    loader = DataLoader(Count(7), batch_size=2)
    it = iter(loader)
    assert next(it)[1].numpy().tolist() == [0, 1]
    del it
    state = loader.state_dict()
    assert (state["epoch"], state["position"]) == (0, 1)
    assert labels_of(loader) == [0, 1, 2, 3, 4, 5, 6]  # a new iteration starts a whole epoch, as torch's
    assert loader.state_dict()["epoch"] == 2 and loader.state_dict()["position"] == 0
    other = DataLoader(Count(7), batch_size=2)
    other.load_state_dict(state)
    assert labels_of(other) == [2, 3, 4, 5, 6]  # a loaded state resumes the rest of its epoch
    # breaking after the last batch still ends the epoch
    for _ in loader:
        pass
    it = iter(loader)
    for _ in range(4):
        next(it)
    assert loader.state_dict()["epoch"] == 4 and labels_of(loader)[:2] == [0, 1]


# ---- default_collate


def test_default_collate_matches_torch():
    items = [(np.full((2,), i, dtype=np.float32), i, {"k": md.tensor(np.array([i, i + 1]))}) for i in range(3)]
    images, labels, d = default_collate(items)
    assert images.dtype == "float32" and tuple(images.shape) == (3, 2)
    assert labels.dtype == "int64" and labels.numpy().tolist() == [0, 1, 2]
    assert isinstance(d["k"], md.Tensor) and d["k"].numpy().tolist() == [[0, 1], [1, 2], [2, 3]]
    with pytest.raises(ValueError, match="empty"):
        default_collate([])
    torch = pytest.importorskip("torch")
    theirs = torch.utils.data.default_collate([(a, i) for a, i, _ in items])
    np.testing.assert_array_equal(images.numpy(), theirs[0].numpy())
    np.testing.assert_array_equal(labels.numpy(), theirs[1].numpy())


def test_get_worker_info_is_none():
    assert ud.get_worker_info() is None


def test_peeking_at_a_batch_leaves_the_next_loop_whole_as_in_torch():
    ds = TensorDataset(md.tensor(np.arange(12, dtype=np.float32)))
    loader = DataLoader(ds, batch_size=3, shuffle=True, seed=0)
    (first,) = next(iter(loader))
    assert first.shape == (3,)
    seen = np.concatenate([b[0].numpy() for b in loader])
    assert sorted(seen.tolist()) == list(range(12))  # four batches, every item once
    # after load_state_dict the next iteration resumes the saved epoch
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    other = DataLoader(ds, batch_size=3, shuffle=True, seed=0)
    other.load_state_dict(state)
    assert len(list(other)) == 3


class _RandomItems(md.utils.data.Dataset):
    """Items drawn from the default generator, as a dataset with random transforms draws them."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return md.rand((3,)) + i


def _epoch_of_draws(seed, draws_between=0):
    loader = md.utils.data.DataLoader(_RandomItems(), batch_size=4, shuffle=True, seed=seed)
    batches, main = [], []
    for batch in loader:
        batches.append(batch.numpy())
        main.append(md.randn((draws_between,)).numpy() if draws_between else None)  # the training loop's draws
    return np.concatenate(batches), main


def test_random_draws_in_a_dataset_are_repeatable_and_leave_the_main_stream_alone():
    md.manual_seed(0)
    first, main_a = _epoch_of_draws(seed=5, draws_between=7)
    md.manual_seed(0)
    again, main_b = _epoch_of_draws(seed=5, draws_between=3)  # a different training loop in between
    np.testing.assert_array_equal(first, again)  # the dataset's draws do not depend on the loop's
    md.manual_seed(0)
    want = md.randn((7,)).numpy()
    np.testing.assert_array_equal(main_a[0], want)  # nor the loop's on the prefetch thread's
    other, _ = _epoch_of_draws(seed=6)
    assert not np.allclose(np.sort(first, axis=None), np.sort(other, axis=None))


def test_random_draws_in_a_dataset_resume_mid_epoch_exactly():
    loader = md.utils.data.DataLoader(_RandomItems(), batch_size=4, shuffle=True, seed=3)
    it = iter(loader)
    next(it)
    state = loader.state_dict()
    rest = [b.numpy() for b in it]
    resumed = md.utils.data.DataLoader(_RandomItems(), batch_size=4, shuffle=True, seed=99)
    resumed.load_state_dict(state)
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in resumed]), np.concatenate(rest))
