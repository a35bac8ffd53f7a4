"""minidiff's dtype names, shared by the Python layers (the native core defines the dtypes)."""

import math

import numpy as np

# The float dtypes, and the 16-bit ones among them: stored in 16 bits, computed in float32 and
# rounded once, as torch's bfloat16 and float16 kernels compute.
FLOAT_DTYPES = ("float32", "bfloat16", "float16")
LOW_FLOATS = ("bfloat16", "float16")
# The integer dtypes, and the narrow ones among them: stored narrow, computed in int64 and wrapped
# back once, as torch's integer arithmetic wraps.
INT_DTYPES = ("int64", "int32", "int16", "int8", "uint8")
NARROW_INTS = ("int32", "int16", "int8", "uint8")
# each integer dtype's range, [low, high]
INT_RANGE = {
    "int64": (-(2**63), 2**63 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int8": (-128, 127),
    "uint8": (0, 255),
}
# NumPy's unsigned integers past uint8 have no minidiff dtype: md.tensor widens them exactly
WIDER_INT = {np.dtype(np.uint16): np.int32, np.dtype(np.uint32): np.int64, np.dtype(np.uint64): np.int64}
INT_BITS = {"int64": 64, "int32": 32, "int16": 16, "int8": 8, "uint8": 8}
# torch's promotion kinds: a result of a higher kind wins (bool < int < float)
KINDS = {"bool": 0, "float32": 2, "bfloat16": 2, "float16": 2, **dict.fromkeys(INT_DTYPES, 1)}
DTYPE_SIZES = {"float32": 4, "bfloat16": 2, "float16": 2, "bool": 1, **{d: INT_BITS[d] // 8 for d in INT_DTYPES}}


def promote_types(a: str, b: str) -> str:
    """torch's promotion lattice: the same dtype stays; a higher kind wins (bool < integers <
    floats); two integers give the wider (uint8 with int8: int16); float32 with a 16-bit float, and
    bfloat16 with float16, give float32."""
    if a == b:
        return a
    if KINDS[a] != KINDS[b]:
        return a if KINDS[a] > KINDS[b] else b
    if KINDS[a] == 2:
        return "float32"
    if {a, b} == {"uint8", "int8"}:
        return "int16"
    return a if DTYPE_SIZES[a] >= DTYPE_SIZES[b] else b


# the largest finite value of each float dtype
FLOAT_MAX = {"float32": 3.4028234663852886e38, "bfloat16": 3.3895313892515355e38, "float16": 65504.0}

_INT64_RANGE = (-(2**63), 2**63)


def check_scalar_fits(op: str, value, dtype: str, unsigned: bool = False) -> None:
    """Raises ValueError, as torch refuses them, for a number that ``dtype`` cannot hold: NaN, an
    infinity or a float outside int64's range for int64, a finite float or an integer past the
    largest float32 / bfloat16 / float16 for those (torch's ``t[k] = 1e39`` makes a 16-bit float
    inf: ``op`` "__setitem__" does too), and an integer outside int64's range for any dtype
    (``unsigned``: torch's fill ops take [2**63, 2**64) too, except for int64); for a narrow integer
    dtype, a number outside its range (an integer from -255 for uint8, which wraps). A NumPy array
    value is checked elementwise for int64."""
    if isinstance(value, np.ndarray):
        if dtype == "int64" and value.dtype.kind == "f" and value.size:
            bad = ~np.isfinite(value) | (value < -(2.0**63)) | (value >= 2.0**63)
            if bad.any():
                raise ValueError(f"{op}: the value {value[bad].flat[0]} cannot be converted to int64 without overflow")
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return
    if dtype in NARROW_INTS:  # torch's checked conversion: an integer from -255 wraps into uint8, a float must fit
        low, high = INT_RANGE[dtype]
        integral = isinstance(value, (int, np.integer))
        low = -high if integral and dtype == "uint8" else low
        if not (low <= (int(value) if integral else float(value)) <= high):  # (NaN and infinities fail)
            raise ValueError(f"{op}: the value {value} cannot be converted to {dtype} without overflow")
        return
    past_float = dtype in FLOAT_MAX and not (op == "__setitem__" and dtype in LOW_FLOATS)
    if isinstance(value, (int, np.integer)):
        low, high = _INT64_RANGE
        high = 2**64 if unsigned and dtype != "int64" else high
        if not low <= int(value) < high:
            raise ValueError(f"{op}: the integer {value} does not fit in int64 (tensor of dtype {dtype})")
        if past_float and abs(int(value)) > FLOAT_MAX[dtype]:
            raise ValueError(f"{op}: the value {value} cannot be converted to {dtype} without overflow")
        return
    value = float(value)
    if dtype == "int64":
        fits = np.isfinite(value) and -(2.0**63) <= value < 2.0**63
    elif past_float:
        fits = not np.isfinite(value) or abs(value) <= FLOAT_MAX[dtype]
    else:  # bool takes any number (nonzero is True)
        fits = True
    if not fits:
        raise ValueError(f"{op}: the value {value} cannot be converted to {dtype} without overflow")


def past_float16(value) -> bool:
    """Whether ``value`` is a number (not a bool) that some float dtype cannot hold: finite and
    past float16's largest value (every float dtype holds the rest, infinities and NaN included)."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):
        return abs(int(value)) > FLOAT_MAX["float16"]
    if isinstance(value, (float, np.floating)):
        return math.isfinite(value) and abs(value) > FLOAT_MAX["float16"]
    return False


def check_float_args(op: str, dtype, *values, opmath: bool = False) -> None:
    """check_scalar_fits for the number arguments (bounds, alpha, eps, ...) of an op on a ``dtype``
    tensor, where that is a float dtype: torch converts them to that dtype, or to float32 where its
    kernel computes in float32 (``opmath``: a float16 tensor then takes 1e5, no float dtype 1e39).
    Tensors, None and the arguments of ops on other dtypes are left alone. ``dtype`` may be a
    function giving it (a promotion), called only for a number past float16's range."""
    for v in values:
        if past_float16(v):
            break
    else:
        return
    if callable(dtype):
        dtype = dtype()
    if dtype in FLOAT_MAX:
        for value in values:
            check_scalar_fits(op, value, "float32" if opmath else dtype)
