"""CUDA device queries (``md.cuda``), as ``torch.cuda``."""

from . import _core


def is_available() -> bool:
    """True when this build has the CUDA backend and a device is visible."""
    return _core.cuda_built() and _core.cuda_device_count() > 0


def device_count() -> int:
    return _core.cuda_device_count()


def get_device_name(index: int = 0) -> str:
    return _core.cuda_device_name(index)


def synchronize() -> None:
    _core.cuda_synchronize()


def memory_allocated() -> int:
    """Bytes held by live CUDA tensors."""
    return _core.cuda_memory_stats()["allocated"]


def max_memory_allocated() -> int:
    return _core.cuda_memory_stats()["peak_allocated"]


def memory_reserved() -> int:
    """Bytes held by the caching allocator, live or cached."""
    return _core.cuda_memory_stats()["reserved"]


def reset_peak_memory_stats() -> None:
    _core.cuda_reset_peak_memory_stats()


def empty_cache() -> None:
    """Returns cached, unused blocks to the driver."""
    _core.cuda_empty_cache()


def manual_seed(seed: int) -> None:
    """One generator serves every device, so this seeds the same stream as ``md.manual_seed``."""
    _core.manual_seed(seed)


__all__ = [
    "device_count",
    "empty_cache",
    "get_device_name",
    "is_available",
    "manual_seed",
    "max_memory_allocated",
    "memory_allocated",
    "memory_reserved",
    "reset_peak_memory_stats",
    "synchronize",
]
