"""torch.utils.data's names (``md.utils.data``), so data code written for torch runs on md.

The dataset classes follow torch's: ``Dataset`` is the abstract map-style base (not the image
dataset ``md.data.Dataset``), ``TensorDataset`` pairs tensors row by row, ``Subset``,
``ConcatDataset`` and ``random_split`` carve and join datasets. ``DataLoader`` is md's loader
(``md.data.DataLoader``: a seeded, resumable order and a prefetch thread) with torch's signature
and defaults: batch_size 1, no shuffling, the last short batch kept. Over md tensors that require
grad (a ``TensorDataset`` of them, or such a tensor) its batches keep the graph, as torch's: they
are indexed and stacked with md ops when asked for, not on the prefetch thread. As torch's, it
gives no batches (and ``len`` 0) over an empty dataset, or with ``drop_last`` over fewer samples
than ``batch_size``, where ``md.data.DataLoader`` raises.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import warnings
import weakref
from collections.abc import Mapping

import numpy as np

from .. import _core
from .. import data as _data
from .._core.functional import stack as _stack

__all__ = [
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "Subset",
    "TensorDataset",
    "default_collate",
    "get_worker_info",
    "random_split",
]


class Dataset:
    """A map-style dataset: subclasses give ``__getitem__`` (and usually ``__len__``).

    ``a + b`` is ``ConcatDataset([a, b])``.
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} is a Dataset without __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """An iterable-style dataset: subclasses give ``__iter__``, yielding samples in order.

    The DataLoader batches what it yields and cannot shuffle it; ``a + b`` is ``ChainDataset([a, b])``.
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} is an IterableDataset without __iter__")

    def __add__(self, other: IterableDataset) -> ChainDataset:
        return ChainDataset([self, other])


def _rows(t) -> int:
    shape = getattr(t, "shape", None)
    if shape is None or len(shape) == 0:
        got = f"a 0-d {type(t).__name__}" if shape is not None else f"a {type(t).__name__}"
        raise ValueError(f"TensorDataset: each tensor needs a first axis of samples, got {got}")
    return int(shape[0])


class TensorDataset(Dataset):
    """Item i is ``tuple(t[i] for t in tensors)``: md tensors or NumPy arrays sharing their first axis."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: needs at least one tensor")
        sizes = [_rows(t) for t in tensors]
        if any(n != sizes[0] for n in sizes):
            raise ValueError(f"TensorDataset: the tensors' first dimensions differ: {sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return _rows(self.tensors[0])


def _index_list(indices):
    # an md tensor's or an array's items are 0-d tensors / NumPy scalars: ints index any dataset
    if isinstance(indices, (_core.Tensor, np.ndarray)):
        return [int(i) for i in np.asarray(indices).reshape(-1)]
    return indices


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order: ``subset[i]`` is ``dataset[indices[i]]``.

    ``indices`` is kept as given (md tensors and arrays become lists of ints); negative ``i``
    counts from the end of ``indices``, as list indexing does.
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = _index_list(indices)

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return [self.dataset[self.indices[i]] for i in idx]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """The items of several map-style datasets, one after another.

    ``cumulative_sizes[k]`` is the number of items in datasets 0..k; negative indices count from
    the end of the whole. Out-of-range indices raise IndexError (torch raises ValueError for
    indices below -len).
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: needs at least one dataset")
        for k, d in enumerate(self.datasets):
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset: datasets[{k}] is an IterableDataset; join those with ChainDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        n = len(self)
        i = operator.index(idx)
        if not -n <= i < n:
            raise IndexError(f"ConcatDataset index {idx} out of range for {n} items")
        if i < 0:
            i += n
        k = bisect.bisect_right(self.cumulative_sizes, i)  # the first dataset that ends after i
        return self.datasets[k][i - (self.cumulative_sizes[k - 1] if k else 0)]


class ChainDataset(IterableDataset):
    """The items of several iterable datasets, one after another."""

    def __init__(self, datasets):
        self.datasets = list(datasets)

    def __iter__(self):
        for k, d in enumerate(self.datasets):
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset: datasets[{k}] is a {type(d).__name__}, not an IterableDataset")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


def _split_lengths(n: int, lengths) -> list[int]:
    """Integer lengths from ``lengths``, which are counts or fractions of ``n`` summing to 1."""
    lengths = list(lengths)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        # torch's rule: floor each share, then hand the rest out one by one from the first split on
        for k, f in enumerate(lengths):
            if not 0 <= f <= 1:
                raise ValueError(f"random_split: fraction {f} at index {k} is not between 0 and 1")
        counts = [math.floor(n * f) for f in lengths]
        for k in range(n - sum(counts)):
            counts[k % len(counts)] += 1
        for k, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"random_split: split {k} is empty", stacklevel=3)
        return counts
    for c in lengths:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0:
            raise ValueError(f"random_split: lengths must be counts >= 0 or fractions summing to 1, got {lengths}")
    if total != n:
        raise ValueError(f"random_split: the lengths {lengths} sum to {total}, not the dataset's {n} items")
    return [int(c) for c in lengths]


def random_split(dataset, lengths, generator: _core.Generator | None = None) -> list[Subset]:
    """Splits ``dataset`` into non-overlapping ``Subset``s of the given lengths, in a random order.

    ``lengths`` are counts summing to ``len(dataset)`` or fractions summing to 1; fractions are
    floored and the items left over go one each to the splits in turn, as torch does. The order is
    ``md.randperm(n, generator=generator)`` (the default generator when None), so a seeded
    generator gives the same splits every run (not the same ones as torch's generator).
    """
    from ..tensor_ops import randperm

    n = len(dataset)
    counts = _split_lengths(n, lengths)
    order = np.asarray(randperm(n, generator=generator)).tolist()
    ends = itertools.accumulate(counts)
    return [Subset(dataset, order[end - c : end]) for end, c in zip(ends, counts)]


def _requires_grad(items: list) -> bool:
    return any(isinstance(x, _core.Tensor) and x.requires_grad for x in items)


def _collate_keeping_graph(items: list, indices, path: str = ""):
    """``_data._collate`` then ``_data._to_tensors``, except that a field of md tensors some of
    which require grad is ``md.stack``-ed, as torch's default_collate stacks tensors: the batch
    stays in the graph (the host path through NumPy would detach it)."""
    first = items[0]
    if isinstance(first, Mapping) and all(isinstance(x, Mapping) and x.keys() == first.keys() for x in items):
        fields = {key: _collate_keeping_graph([x[key] for x in items], indices, f"{path}[{key!r}]") for key in first}
        return _data._rebuild_mapping(first, fields)
    if isinstance(first, (tuple, list)) and all(isinstance(x, (tuple, list)) and len(x) == len(first) for x in items):
        fields = [_collate_keeping_graph([x[j] for x in items], indices, f"{path}[{j}]") for j in range(len(first))]
        return _data._rebuild(first, fields)
    if all(isinstance(x, _core.Tensor) for x in items) and _requires_grad(items):
        for k, x in enumerate(items):
            if (tuple(x.shape), x.dtype, str(x.device)) != (tuple(first.shape), first.dtype, str(first.device)):
                raise ValueError(
                    f"DataLoader: {_data._where(indices[k], path)} is a {x.dtype} tensor of shape {tuple(x.shape)} on "
                    f"{x.device} but {_data._where(indices[0], path)} a {first.dtype} tensor of shape "
                    f"{tuple(first.shape)} on {first.device}; the samples of a batch must stack into one tensor"
                )
        return _stack(items)
    # nothing here requires grad: the host path (its checks and messages, its dtypes)
    return _data._to_tensors(_data._collate(items, indices, path), None)


def default_collate(batch):
    """One batch from a list of samples, as md's DataLoader makes it (torch's default_collate's rules).

    Arrays, md tensors and numbers stack into md tensors (B, ...); tuples and lists become tuples of
    fields, dicts dicts (other mappings keep their type, as in torch), strings lists. Stacked md
    tensors keep their device and dtype; the rest goes to the CPU, integers in their dtype (uint8 stays
    uint8; NumPy uint16 becomes int32, uint32 int64), floats float32 (float16 kept). md tensors that
    require grad are stacked with ``md.stack``, so the batch keeps their graph, as torch's.
    """
    batch = list(batch)
    if not batch:
        raise ValueError("default_collate: the batch is empty")
    return _collate_keeping_graph(batch, range(len(batch)))


def _keeps_graph(dataset) -> bool:
    """Whether the items of ``dataset`` are rows of md tensors that require grad: an md tensor, a
    ``TensorDataset``, or a ``Subset`` or ``ConcatDataset`` of them. A loader over such a dataset
    makes its batches on the consumer's thread, as torch's (see ``_GraphBatches``)."""
    if isinstance(dataset, _core.Tensor):
        return dataset.requires_grad
    if isinstance(dataset, TensorDataset):
        return _requires_grad(dataset.tensors)
    if isinstance(dataset, Subset):
        return _keeps_graph(dataset.dataset)
    if isinstance(dataset, ConcatDataset):
        return any(_keeps_graph(d) for d in dataset.datasets)
    return False


class _GraphBatches:
    """The batches of one epoch of ``loader`` (the same order as its prefetch thread would give:
    ``_data._epoch_plan``), each made when asked for on the consumer's thread: ``dataset[i]``
    indexed and stacked with md ops, so that the batch keeps the graph to the dataset's tensors
    and reads their current values (the prefetch thread works ahead in NumPy, detached). Random
    draws made in ``__getitem__`` come from the consumer thread's default generator, as torch's
    with ``num_workers=0``."""

    def __init__(self, loader: DataLoader):
        if loader.random_flip:
            raise ValueError(
                "DataLoader: random_flip=True is not supported over tensors that require grad; flip in the model"
            )
        self._loader = loader
        self._epoch = loader._epoch
        self._next = loader._position
        self._stop = len(loader)
        self._order, _ = _data._epoch_plan(loader.seed, self._epoch, len(loader.dataset), loader.shuffle, False)
        self._closed = False

    def __iter__(self):
        return self

    def __next__(self):
        if self._closed or self._next >= self._stop:
            self.close()
            raise StopIteration
        loader, b = self._loader, self._next
        idx = self._order[b * loader.batch_size : (b + 1) * loader.batch_size]
        items = [loader.dataset[int(i)] for i in idx]
        if loader.collate_fn is not None:
            batch = _data._to_tensors(loader.collate_fn(items), loader.device)
        else:
            batch = _collate_keeping_graph(items, idx)
        if loader.device is not None:
            batch = _to_device(batch, loader.device)
        # the batch is delivered: only now does it count towards the resumable position
        self._next = b + 1
        if self._next >= self._stop:
            loader._epoch, loader._position = self._epoch + 1, 0
        else:
            loader._epoch, loader._position = self._epoch, self._next
        return batch

    def close(self) -> None:
        """Ends the iteration: further ``next`` calls raise StopIteration."""
        self._closed = True


def _to_device(batch, device: str):
    """The batch with its md tensors on ``device`` (``Tensor.to``: the graph is kept)."""
    if isinstance(batch, _core.Tensor):
        return batch if str(batch.device) == device else batch.to(device)
    if isinstance(batch, tuple):
        return _data._rebuild(batch, [_to_device(x, device) for x in batch])
    if isinstance(batch, list):
        return [_to_device(x, device) for x in batch]
    if isinstance(batch, Mapping):
        return _data._rebuild_mapping(batch, {k: _to_device(v, device) for k, v in batch.items()})
    return batch


def get_worker_info():
    """None: batches are made by one prefetch thread, never in worker processes (torch's main-process answer)."""
    return None


class DataLoader(_data.DataLoader):
    """``md.data.DataLoader`` with torch's signature and defaults.

    ``batch_size`` defaults to 1, ``shuffle`` to False and ``drop_last`` to False, as in torch, and
    every ``iter(loader)`` starts a whole epoch (after ``load_state_dict``, the first one resumes).
    A shuffled order comes from ``seed`` if given, else from a seed drawn from ``generator`` (the
    default generator when None, so ``md.manual_seed`` makes it repeatable); random draws a dataset
    makes in ``__getitem__`` (random transforms) come from a stream seeded per batch from it, on the
    prefetch thread (see ``md.data.DataLoader``). Samplers are not
    supported; the worker options (``num_workers`` must be 0, ``worker_init_fn``, ``timeout``) are
    accepted as torch accepts them without workers, and kept as attributes as torch keeps them. An
    empty dataset (or ``drop_last`` with fewer samples than ``batch_size``) gives no batches, as in
    torch (``shuffle=True`` over an empty dataset is torch's ValueError). ``prefetch``,
    ``random_flip`` and ``device`` are md's (see ``md.data.DataLoader``).
    """

    _allows_empty_epochs = True

    def __init__(
        self,
        dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler=None,
        batch_sampler=None,
        num_workers: int = 0,
        collate_fn=None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator: _core.Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
        seed: int | None = None,
        prefetch: int = 2,
        random_flip: bool | None = None,
        device=None,
    ):
        if sampler is not None or batch_sampler is not None:
            raise ValueError(
                "DataLoader: sampler= and batch_sampler= are not supported; shuffle=True draws a seeded order "
                "(seed=, generator=), and Subset or random_split picks the items"
            )
        if batch_size is None:
            raise ValueError("DataLoader: batch_size=None (no batching) is not supported; use batch_size=1")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout must be >= 0, got {timeout!r}")
        for name, value, default in (
            ("multiprocessing_context", multiprocessing_context, None),
            ("prefetch_factor", prefetch_factor, None),
            ("persistent_workers", persistent_workers, False),
        ):
            if num_workers == 0 and value != default:
                raise ValueError(f"DataLoader: {name}={value!r} needs worker processes (num_workers > 0)")
        if shuffle and not isinstance(dataset, IterableDataset) and len(dataset) == 0:
            raise ValueError("DataLoader: shuffle=True over an empty dataset (num_samples=0), as torch's RandomSampler")
        user_generator = generator
        if seed is None and generator is None:
            # the loader's seed (its order, and the per-batch streams of random draws made in the
            # dataset on the prefetch thread) comes from the default generator: md.manual_seed
            # makes both repeatable
            generator = _core.default_generator()
        super().__init__(
            dataset,
            batch_size,
            shuffle=bool(shuffle),
            drop_last=drop_last,
            seed=seed,
            prefetch=prefetch,
            random_flip=random_flip,
            device=device,
            collate_fn=collate_fn,
            num_workers=num_workers,
            pin_memory=pin_memory,
            generator=generator,
        )
        self._resume = False
        # torch's attributes, for code that reads them back
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = user_generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.pin_memory_device = pin_memory_device
        self.in_order = in_order

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._resume = True  # the next iteration continues the saved epoch where it stopped

    def __iter__(self):
        # torch starts every iteration at the top of an epoch, so `next(iter(loader))` to look at a
        # batch leaves the training loop after it whole; md.data.DataLoader resumes instead
        if self._position and not self._resume:
            self._epoch, self._position = self._epoch + 1, 0
        self._resume = False
        if not self._iterable and _keeps_graph(self.dataset):
            # rows of tensors that require grad: batches in the graph, made on this thread
            self._close_active()
            it = _GraphBatches(self)
            self._active = weakref.ref(it)
            return it
        return super().__iter__()
