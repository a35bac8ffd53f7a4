"""torch.utils.data's names (``md.utils.data``), so data code written for torch runs on md.

The dataset classes follow torch's: ``Dataset`` is the abstract map-style base (not the image
dataset ``md.data.Dataset``), ``TensorDataset`` pairs tensors row by row, ``Subset``,
``ConcatDataset`` and ``random_split`` carve and join datasets. ``DataLoader`` is md's loader
(``md.data.DataLoader``: a seeded, resumable order and a prefetch thread) with torch's signature
and defaults: batch_size 1, no shuffling, the last short batch kept.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import warnings

import numpy as np

from .. import _core
from .. import data as _data

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


def default_collate(batch):
    """One batch from a list of samples, as md's DataLoader makes it (torch's default_collate's rules).

    Arrays, md tensors and numbers stack into md tensors (B, ...); tuples and lists become tuples of
    fields, dicts dicts, strings lists. Stacked md tensors keep their device and dtype; the rest is
    int64 or float32 on the CPU.
    """
    batch = list(batch)
    if not batch:
        raise ValueError("default_collate: the batch is empty")
    return _data._to_tensors(_data._collate(batch, range(len(batch))), None)


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
    accepted as torch accepts them without workers. ``prefetch``, ``random_flip`` and ``device``
    are md's (see ``md.data.DataLoader``).
    """

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

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._resume = True  # the next iteration continues the saved epoch where it stopped

    def __iter__(self):
        # torch starts every iteration at the top of an epoch, so `next(iter(loader))` to look at a
        # batch leaves the training loop after it whole; md.data.DataLoader resumes instead
        if self._position and not self._resume:
            self._epoch, self._position = self._epoch + 1, 0
        self._resume = False
        return super().__iter__()
