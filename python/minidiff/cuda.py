"""CUDA device queries (``md.cuda``), as ``torch.cuda``.

minidiff runs CUDA work on device 0, on one stream, with one random generator shared by every
device (``md.manual_seed`` and ``md.cuda.manual_seed`` seed the same stream of numbers). Without a
usable GPU the queries that need one raise RuntimeError (torch raises on its CPU-only builds too),
while ``is_available``, ``device_count``, ``is_bf16_supported``, ``manual_seed(_all)``, ``seed``
and ``set_rng_state`` answer or do nothing, as torch's do there.
"""

from __future__ import annotations

import contextlib
import time

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


def manual_seed_all(seed: int) -> None:
    """The same as ``manual_seed``: the one shared generator serves every device."""
    _core.manual_seed(seed)


# ---- the shared generator seen from md.cuda


def _require_cuda(what: str) -> None:
    if not is_available():
        reason = "built without the CUDA backend" if not _core.cuda_built() else "no CUDA device is visible"
        raise RuntimeError(f"md.cuda.{what}: CUDA is not available ({reason})")


def get_rng_state(device=None):
    """The shared generator's ``(seed, offset)`` state (torch returns a ByteTensor); raises without CUDA.

    minidiff has one generator for every device, so this equals ``md.get_rng_state()`` and
    ``set_rng_state`` rewinds the CPU's draws too.
    """
    _require_cuda("get_rng_state")
    return _core.default_generator().get_state()


def set_rng_state(new_state, device=None) -> None:
    """Restores a state from ``get_rng_state`` into the shared generator (the CPU's too, see there).

    Without CUDA it does nothing, as torch's on a machine without CUDA (its call waits for a CUDA
    initialisation that never comes).
    """
    if is_available():
        from .compat import set_rng_state as _set_rng_state

        _set_rng_state(new_state)


def get_rng_state_all() -> list:
    """One state per visible device (all the shared generator's); ``[]`` without CUDA."""
    return [_core.default_generator().get_state()] * device_count() if is_available() else []


def set_rng_state_all(new_states) -> None:
    """Restores the first state (every device shares one generator); nothing without CUDA."""
    states = list(new_states)
    if states:
        set_rng_state(states[0])


def seed() -> None:
    """Seeds the shared generator nondeterministically (``md.seed()``); nothing without CUDA, as torch."""
    if is_available():
        from .compat import seed as _seed

        _seed()


def initial_seed() -> int:
    """The shared generator's seed (``md.initial_seed()``); raises without CUDA, as torch."""
    _require_cuda("initial_seed")
    return _core.default_generator().initial_seed()


# ---- devices


def _device_index(device, what: str) -> int:
    if device is None:
        return 0
    if isinstance(device, int):
        return device
    if isinstance(device, str):
        device = _core.Device(device)
    if isinstance(device, _core.Device):
        if device.type != "cuda":
            raise ValueError(f"md.cuda.{what}: expected a CUDA device, got {device}")
        return device.index
    raise TypeError(f"md.cuda.{what}: expected a device index, 'cuda:N' or md.device, got {device!r}")


def current_device() -> int:
    """0: minidiff runs all CUDA work on device 0. Raises without CUDA, as torch."""
    _require_cuda("current_device")
    return 0


def set_device(device) -> None:
    """Accepts device 0 (the one minidiff uses); a negative index does nothing, as torch's."""
    index = _device_index(device, "set_device")
    if index < 0:
        return
    _require_cuda("set_device")
    if index != 0:
        raise ValueError(f"md.cuda.set_device: minidiff runs CUDA work on device 0 only, got device {index}")


class _DeviceProperties:
    """What ``get_device_properties`` knows: ``name`` (and ``index``). The native core does not
    report ``total_memory``, ``major``/``minor`` or ``multi_processor_count``; asking for them raises
    AttributeError saying so."""

    _UNREPORTED = ("total_memory", "major", "minor", "multi_processor_count", "uuid", "is_integrated")

    def __init__(self, index: int, name: str) -> None:
        self.index = index
        self.name = name

    def __getattr__(self, name: str):
        if name in _DeviceProperties._UNREPORTED:
            raise AttributeError(f"md.cuda.get_device_properties: minidiff's native core does not report {name}")
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"_CudaDeviceProperties(name='{self.name}', index={self.index})"


def get_device_properties(device=None) -> _DeviceProperties:
    """The device's ``name``; see ``_DeviceProperties`` for what is not reported. Raises without CUDA."""
    _require_cuda("get_device_properties")
    index = _device_index(device, "get_device_properties")
    return _DeviceProperties(index, _core.cuda_device_name(index))


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """True when CUDA is available: minidiff's CUDA build targets sm_90 and its kernels read and
    write bfloat16 there (the ``"medium"`` matmul precision runs bf16 tensor cores). False without."""
    return is_available()


# ---- streams and events


class Stream:
    """A handle to minidiff's one CUDA stream, where all its work runs in submission order.

    ``md.cuda.Stream()`` does not create a second stream: it is another handle to the same one, so
    code written for several streams computes the same results, without overlap between them;
    ``wait_stream``/``wait_event`` have nothing to wait for. Raises without CUDA, as torch's.
    """

    def __init__(self, device=None, priority: int = 0) -> None:
        _require_cuda("Stream")
        self.device = _core.Device(f"cuda:{_device_index(device, 'Stream')}")
        self.priority = priority

    def synchronize(self) -> None:
        synchronize()

    def query(self) -> bool:
        """Blocks until the stream's work is done, then True (minidiff cannot poll a stream)."""
        synchronize()
        return True

    def wait_stream(self, stream) -> None:
        """Nothing to do: both are the same stream, whose work runs in order."""

    def wait_event(self, event) -> None:
        """Nothing to do: the event was recorded on this same stream."""

    def record_event(self, event=None):
        event = Event() if event is None else event
        event.record(self)
        return event

    def __eq__(self, other) -> bool:
        return isinstance(other, Stream)

    def __hash__(self) -> int:
        return hash(Stream)

    def __repr__(self) -> str:
        return f"<md.cuda.Stream device={self.device} (minidiff's one stream)>"


def current_stream(device=None) -> Stream:
    """minidiff's one stream (see ``Stream``). Raises without CUDA."""
    return Stream(device)


def default_stream(device=None) -> Stream:
    return Stream(device)


@contextlib.contextmanager
def stream(s):
    """Runs the block on ``s``, which is minidiff's one stream anyway (``None`` is accepted, as torch's)."""
    if s is not None and not isinstance(s, Stream):
        raise TypeError(f"md.cuda.stream: expected an md.cuda.Stream or None, got {s!r}")
    yield s


class Event:
    """A point on minidiff's stream, for timing as ``torch.cuda.Event(enable_timing=True)``.

    The native core has no CUDA events, so ``record()`` synchronizes the device and reads the host
    clock (``time.perf_counter``): ``elapsed_time`` is the host-observed time between the two points,
    with every kernel before each point finished. That is what a GPU event measures when the host
    keeps the GPU busy, but each ``record()`` stalls the host until the GPU is idle. Raises without
    CUDA, as torch's.
    """

    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False) -> None:
        _require_cuda("Event")
        if interprocess:
            raise ValueError("md.cuda.Event: interprocess events are not supported by minidiff")
        self.enable_timing = enable_timing
        self._time: float | None = None

    def record(self, stream=None) -> None:
        synchronize()
        self._time = time.perf_counter()

    def synchronize(self) -> None:
        synchronize()

    def query(self) -> bool:
        """True: the work before ``record()`` finished when it returned."""
        return True

    def wait(self, stream=None) -> None:
        """Nothing to do: the work before the event finished when it was recorded."""

    def elapsed_time(self, end_event: Event) -> float:
        """Milliseconds from this event's ``record()`` to ``end_event``'s."""
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("md.cuda.Event.elapsed_time: both events must be created with enable_timing=True")
        if self._time is None or end_event._time is None:
            raise RuntimeError("md.cuda.Event.elapsed_time: both events must be recorded first")
        return (end_event._time - self._time) * 1000.0


__all__ = [
    "Event",
    "Stream",
    "current_device",
    "current_stream",
    "default_stream",
    "device_count",
    "empty_cache",
    "get_device_name",
    "get_device_properties",
    "get_rng_state",
    "get_rng_state_all",
    "initial_seed",
    "is_available",
    "is_bf16_supported",
    "manual_seed",
    "manual_seed_all",
    "max_memory_allocated",
    "memory_allocated",
    "memory_reserved",
    "reset_peak_memory_stats",
    "seed",
    "set_device",
    "set_rng_state",
    "set_rng_state_all",
    "stream",
    "synchronize",
]
