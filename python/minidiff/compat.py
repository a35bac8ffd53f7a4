"""torch's process-level utilities (``md.compile``, RNG state, dtype info and promotion, print
options, determinism switches) for code written for PyTorch; each says what it really does here.

``install(namespace)`` adds the ones the package lacks to ``md`` and returns their names.
"""

from __future__ import annotations

import math
import secrets
import sys
import warnings

import numpy as np

from . import _core
from ._dtypes import FLOAT_DTYPES, INT_BITS, INT_DTYPES, INT_RANGE, KINDS
from ._dtypes import promote_types as _promote_types

# ---- md.compile

_COMPILE_MODES = (None, "default", "lite", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile(  # noqa: A001 (torch's name)
    model=None,
    *,
    fullgraph: bool = False,
    dynamic=None,
    backend="inductor",
    mode=None,
    options=None,
    disable: bool = False,
):
    """Returns ``model`` itself: minidiff has no graph compiler, so nothing is traced or compiled
    and every argument but ``mode``'s check is ignored (the native ops already run as they would).

    As torch's it is also a decorator, bare (``@md.compile``) or with arguments
    (``@md.compile(mode="max-autotune")``). ``mode`` must be one of torch's, and ``mode`` and
    ``options`` may not both be given.
    """
    if mode not in _COMPILE_MODES:
        raise RuntimeError(f"md.compile: unrecognized mode={mode!r}, expected one of {list(_COMPILE_MODES)}")
    if mode is not None and options is not None:
        raise RuntimeError("md.compile: either mode or options can be specified, but both can't be specified")
    if model is None:
        return lambda fn: compile(
            fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode, options=options, disable=disable
        )
    if not callable(model):
        raise TypeError(f"md.compile: model must be a module or a function, got {type(model).__name__}")
    return model


# ---- random state: the default generator's (seed, offset)


def get_rng_state() -> tuple[int, int]:
    """The default generator's state, a ``(seed, offset)`` tuple (torch returns a ByteTensor):
    minidiff's generator is counter based, so these two numbers are its whole state. Pass it to
    ``set_rng_state`` to repeat the draws that followed."""
    return _core.default_generator().get_state()


def set_rng_state(new_state) -> None:
    """Restores a state from ``get_rng_state`` (or ``Generator.get_state``) into the default generator."""
    if not isinstance(new_state, (tuple, list)) or len(new_state) != 2:
        raise TypeError(
            "set_rng_state: expected minidiff's (seed, offset) state from md.get_rng_state(), "
            f"got {type(new_state).__name__} {new_state!r:.80}"
        )
    seed_value, offset = new_state
    for value in (seed_value, offset):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**64:
            raise ValueError(f"set_rng_state: seed and offset must be integers in [0, 2**64), got {new_state!r}")
    _core.default_generator().set_state((int(seed_value), int(offset)))


def seed() -> int:
    """Seeds the default generator with a nondeterministic 63-bit number (from the OS) and returns it."""
    value = secrets.randbits(63)
    _core.manual_seed(value)
    return value


def initial_seed() -> int:
    """The seed the default generator was last seeded with (``manual_seed``, ``seed``, ``set_rng_state``)."""
    return _core.default_generator().initial_seed()


# ---- dtypes: info, default and promotion

_FLOAT_DTYPES = FLOAT_DTYPES


def _dtype_name(dtype, what: str) -> str:
    """minidiff's name for a dtype spelling the native core accepts ("float", np.float32, md.long, ...)."""
    if isinstance(dtype, str) and dtype in KINDS:
        return dtype
    try:
        return _core.empty(0, dtype=dtype, device="cpu").dtype
    except TypeError as exc:
        raise TypeError(f"{what}: {exc}") from None


class finfo:  # noqa: N801 (torch's name)
    """Machine limits of a float dtype (float32, bfloat16 or float16), as ``torch.finfo``; no argument: the
    default dtype."""

    def __init__(self, dtype=None) -> None:
        name = _dtype_name("float32" if dtype is None else dtype, "md.finfo")
        if name not in _FLOAT_DTYPES:
            raise TypeError(f"md.finfo: requires a floating point dtype (float32, bfloat16 or float16), got {name}")
        self.dtype = name
        if name == "float32":
            info = np.finfo(np.float32)
            self.bits = 32
            self.eps, self.max, self.min = float(info.eps), float(info.max), float(info.min)
            self.tiny = self.smallest_normal = float(info.smallest_normal)
            self.resolution = 10.0 ** -int(info.precision)  # 1e-06, as torch's (NumPy's is float32's 1e-6)
        elif name == "float16":  # 5 exponent bits, 10 stored mantissa bits
            self.bits = 16
            self.eps = 2.0**-10
            self.max, self.min = 65504.0, -65504.0
            self.tiny = self.smallest_normal = 2.0**-14
            self.resolution = 0.001  # 10 ** -(decimal digits): float16 holds 3
        else:  # 8 exponent bits as float32's, 7 stored mantissa bits
            self.bits = 16
            self.eps = 2.0**-7
            self.max = (2.0 - 2.0**-7) * 2.0**127
            self.min = -self.max
            self.tiny = self.smallest_normal = 2.0**-126
            self.resolution = 0.01  # 10 ** -(decimal digits): bfloat16 holds 2

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution}, min={self.min:e}, max={self.max:e}, eps={self.eps:e}, "
            f"smallest_normal={self.smallest_normal:e}, tiny={self.tiny:e}, dtype={self.dtype})"
        )


class iinfo:  # noqa: N801 (torch's name)
    """Limits of an integer dtype (int64, int32, int16, int8 or uint8), as ``torch.iinfo``."""

    def __init__(self, dtype) -> None:
        name = _dtype_name(dtype, "md.iinfo")
        if name not in INT_DTYPES:
            raise TypeError(f"md.iinfo: requires an integer dtype ({', '.join(INT_DTYPES)}), got {name}")
        self.dtype = name
        self.bits = INT_BITS[name]
        self.min, self.max = INT_RANGE[name]

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


def get_default_dtype() -> str:
    """float32: what ``md.tensor`` and the factories give for float data; minidiff has no other."""
    return "float32"


def set_default_dtype(d) -> None:
    """Accepts float32 (already the default); any other dtype raises TypeError, as minidiff's
    float data is float32 unless asked for (float64 does not exist)."""
    name = _dtype_name(d, "md.set_default_dtype")
    if name != "float32":
        raise TypeError(f"md.set_default_dtype: minidiff's default dtype can only be float32, got {name}")


def _category(operand, what: str) -> tuple[str, bool]:
    """(dtype, is_tensor): a tensor's dtype, or the kind a Python/NumPy scalar brings to an op."""
    if isinstance(operand, _core.Tensor):
        return operand.dtype, True
    if isinstance(operand, (bool, np.bool_)):
        return "bool", False
    if isinstance(operand, (int, np.integer)):
        return "int64", False
    if isinstance(operand, (float, np.floating)):
        return "float32", False
    raise TypeError(f"{what}: expected tensors or Python/NumPy real scalars, got {type(operand).__name__}")


def result_type(tensor1, tensor2) -> str:
    """The dtype an arithmetic op (``+``, ``*``, ...) gives for these operands, by torch's rules:
    ``promote_types`` of the tensors with dims (a higher kind wins, bool < integers < floats; two
    integers give the wider, uint8 with int8 int16; float32 with a 16-bit float float32), where a
    0-d tensor, and then a number (an int counts as int64, a float as float32), decides only when it
    is of a higher kind."""
    from .tensor_ops import _result_dtype  # (tensor_ops imports the package)

    for x in (tensor1, tensor2):
        _category(x, "md.result_type")
    return _result_dtype(tensor1, tensor2)


def promote_types(type1, type2) -> str:
    """torch's promotion lattice on minidiff's dtypes: the same dtype stays; a higher kind wins
    (bool < integers < floats); two integers give the wider (uint8 with int8: int16); float32 with
    a 16-bit float, and bfloat16 with float16, give float32, as torch's."""
    return _promote_types(_dtype_name(type1, "md.promote_types"), _dtype_name(type2, "md.promote_types"))


def can_cast(from_, to) -> bool:
    """torch's casting rule: False only to a lower kind (a float to an integer or bool, an integer to bool)."""
    a, b = _dtype_name(from_, "md.can_cast"), _dtype_name(to, "md.can_cast")
    return KINDS[a] <= KINDS[b]


# ---- print options: Tensor repr prints with NumPy's array2string, which these are threaded into

_print_options: dict = {}
_PROFILES = {
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"threshold": sys.maxsize},
}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """How tensors print, as ``torch.set_printoptions``: the options go to the NumPy ``array2string``
    that formats a tensor's repr (NumPy's own printing is left alone). minidiff's defaults are NumPy's
    (precision 8, threshold 1000, edgeitems 3, linewidth 75; torch's precision is 4, linewidth 80).

    ``profile``: ``"default"`` restores minidiff's defaults, ``"short"`` is torch's (precision 2,
    edgeitems 2), ``"full"`` prints every element. ``sci_mode``: True prints every float in
    scientific notation, False never (NumPy's ``suppress``), None lets NumPy choose; as torch's, a
    call without it goes back to None.
    """
    if profile is not None:
        if profile == "default":
            _print_options.clear()
        elif profile in _PROFILES:
            _print_options.update(_PROFILES[profile])
        else:
            raise ValueError(f"md.set_printoptions: unknown profile {profile!r} (expected default, short or full)")
    if precision is not None:
        _print_options["precision"] = int(precision)
    if threshold is not None:
        _print_options["threshold"] = sys.maxsize if threshold == math.inf else int(threshold)
    if edgeitems is not None:
        _print_options["edgeitems"] = int(edgeitems)
    if linewidth is not None:
        _print_options["linewidth"] = int(linewidth)
    _print_options.pop("suppress", None)
    _print_options.pop("formatter", None)
    if sci_mode is False:
        _print_options["suppress"] = True
    elif sci_mode is True:
        digits = _print_options.get("precision", np.get_printoptions()["precision"])
        _print_options["formatter"] = {"float_kind": lambda x: f"{x:.{digits}e}"}


def _install_repr() -> None:
    native_repr = _core.Tensor.__repr__
    if getattr(native_repr, "_md_print_options", False):
        return

    def __repr__(self) -> str:
        if not _print_options:
            return native_repr(self)
        with np.printoptions(**_print_options):
            return native_repr(self)

    __repr__._md_print_options = True
    _core.Tensor.__repr__ = __repr__


# ---- determinism

_deterministic = {"mode": False, "warn_only": False}

# CUDA kernels that add with atomicAdd, in an order that changes from run to run (cpp/cuda)
_NONDETERMINISTIC_CUDA = (
    "the backward of embedding (nn.Embedding, F.embedding), gather and index_select (and indexing with index arrays)"
)


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Records the flag (``are_deterministic_algorithms_enabled``). What minidiff guarantees
    whatever it says: CPU kernels give the same bits run to run for a given thread count; CUDA
    kernels do too (one stream, cuBLAS on it, reductions through fixed partials, no atomics),
    except {ops} on CUDA, which add with atomicAdd. The native core cannot refuse those, so turning
    the flag on where CUDA is available warns once that they stay nondeterministic (torch would
    raise when one runs, or warn with ``warn_only``).
    """
    mode = bool(mode)
    _deterministic.update(mode=mode, warn_only=bool(warn_only))
    if mode:
        from . import cuda

        if cuda.is_available():
            warnings.warn(
                f"md.use_deterministic_algorithms(True): on CUDA {_NONDETERMINISTIC_CUDA} use atomicAdd and "
                "stay nondeterministic; minidiff cannot refuse them",
                UserWarning,
                stacklevel=2,
            )


use_deterministic_algorithms.__doc__ = use_deterministic_algorithms.__doc__.format(ops=_NONDETERMINISTIC_CUDA)


def are_deterministic_algorithms_enabled() -> bool:
    return _deterministic["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _deterministic["warn_only"]


_NAMES = {
    "compile": compile,
    "get_rng_state": get_rng_state,
    "set_rng_state": set_rng_state,
    "seed": seed,
    "initial_seed": initial_seed,
    "finfo": finfo,
    "iinfo": iinfo,
    "get_default_dtype": get_default_dtype,
    "set_default_dtype": set_default_dtype,
    "result_type": result_type,
    "promote_types": promote_types,
    "can_cast": can_cast,
    "set_printoptions": set_printoptions,
    "use_deterministic_algorithms": use_deterministic_algorithms,
    "are_deterministic_algorithms_enabled": are_deterministic_algorithms_enabled,
    "is_deterministic_algorithms_warn_only_enabled": is_deterministic_algorithms_warn_only_enabled,
}


def install(namespace: dict) -> list[str]:
    """Adds the names ``namespace`` (the md package) lacks and threads the print options into
    Tensor's repr; returns the names added, for ``__all__``."""
    added = [name for name in _NAMES if name not in namespace]
    namespace.update({name: _NAMES[name] for name in added})
    _install_repr()
    return added
