"""The dtype paths of the device kernels against NumPy oracles: casts between float32, int64,
bfloat16, float16 and bool (NaN/inf/out-of-range to int64, ties, overflow, subnormals, -0.0), and
between the integers (uint8, int8, int16, int32, int64: wrapping, sign and zero extension),
one- and two-byte strided copies, ``where`` over every dtype, int64 and bool reductions and scans,
int64 elementwise ops with broadcasting and scalars, and the unary math ops at special values.

Everything runs on ``DEV``: CUDA where ``md.cuda.is_available()``, else the CPU, so the file passes
here and checks the CUDA kernels when a GPU is lent (benchmarks/gpu_check.sh runs it). Inputs are
built with NumPy, moved to DEV, and results come back with ``.cpu().numpy()``. The oracles are
independent of minidiff: NumPy's float16 rounding, bf16_ref.bf16 for bfloat16, NumPy int64
arithmetic (wrapping), INT64_MIN for float->int64 of NaN/inf/|x| >= 2**63, and CPU torch float32
for the unary special values (those tests only, skipped without torch)."""

import numpy as np
import pytest
from bf16_ref import bf16

import minidiff as md

DEV = "cuda" if md.cuda.is_available() else "cpu"
INT64_MIN = np.iinfo(np.int64).min
_R = np.random.default_rng(2024)


def on(a, dtype=None):
    """The NumPy array a as a tensor on DEV (optionally cast there)."""
    t = md.tensor(np.array(a, order="C"), device=DEV)
    assert str(t.device).startswith(DEV)
    return t if dtype is None else t.to(dtype)


def back(t, dtype=None):
    """The DEV tensor t as a NumPy array, checking its device and dtype; bfloat16 comes back widened."""
    assert str(t.device).startswith(DEV), f"result on {t.device}, expected {DEV}"
    if dtype is not None:
        assert t.dtype == dtype, f"dtype {t.dtype}, expected {dtype}"
    return (t.float() if t.dtype == "bfloat16" else t).cpu().numpy()


def same_float_bits(got, want):
    """got and want (float16 or float32 arrays) equal bit for bit, any NaN matching any NaN."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    ui = np.uint16 if got.dtype == np.float16 else np.uint32
    ok = (got.view(ui) == want.view(ui)) | (np.isnan(got) & np.isnan(want))
    assert ok.all(), f"differ at {np.argwhere(~ok)[:8].tolist()}: got {got[~ok][:8]}, want {want[~ok][:8]}"


def int64_oracle(v):
    """float64 values (exactly the stored floats) cast to int64: truncation, INT64_MIN for NaN, inf, |x| >= 2**63."""
    v = np.asarray(v, np.float64)
    out = np.full(v.shape, INT64_MIN, np.int64)
    ok = np.isfinite(v) & (np.abs(v) < 2.0**63)
    out[ok] = np.trunc(v[ok]).astype(np.int64)
    return out


def bf16_f32(x):
    """x rounded to bfloat16, as float32 (bit-comparable); NaN stays NaN (bf16() carries some payloads into 0)."""
    x = np.asarray(x, np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), bf16(np.nan_to_num(x, nan=0.0)).astype(np.float32))


def f16_f32(x):
    """x rounded to float16, as float32."""
    with np.errstate(over="ignore"):
        return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)


# ---- casts to int64

SPECIAL = [np.nan, np.inf, -np.inf, 1e19, -1e19, -(2.0**63), 9.2e18, 2.5, -2.5]
FINITE_MIX = [0.0, -0.0, 0.99, -0.99, 1.5, -1.5, 2.0**62, -(2.0**62), 2.0**40 + 3.0, 65504.0, -7.0, 1e-40]


@pytest.mark.parametrize("src", ["float32", "bfloat16", "float16"])
def test_float_to_int64_nan_inf_and_out_of_range(src):
    f32 = np.array(SPECIAL + FINITE_MIX, np.float32)
    with np.errstate(over="ignore"):
        stored = {"float32": f32, "bfloat16": bf16_f32(f32), "float16": f32.astype(np.float16)}[src]
    t = on(f32, src)
    got = back(t.long(), "int64")
    np.testing.assert_array_equal(got, int64_oracle(stored.astype(np.float64)))
    np.testing.assert_array_equal(back(t.to(md.int64), "int64"), got)
    # the listed values, from float32 (where each is representable as a float32 value)
    if src == "float32":
        assert got[: len(SPECIAL)].tolist() == [INT64_MIN] * 6 + [int(np.float32(9.2e18)), 2, -2]


def test_float_to_int64_on_a_strided_view_and_large_arrays():
    v = (_R.standard_normal(50_000) * np.exp(_R.uniform(0, 46, 50_000))).astype(np.float32)
    v[::97] = np.nan
    v[1::101] = np.inf
    v[2::103] = -np.inf
    a = v.reshape(200, 250)
    t = on(a)
    np.testing.assert_array_equal(back(t.long(), "int64"), int64_oracle(a))
    np.testing.assert_array_equal(back(t.t().long(), "int64"), int64_oracle(a.T))
    np.testing.assert_array_equal(back(t[:, 3::7].long(), "int64"), int64_oracle(a[:, 3::7]))


# ---- casts to and from bool


def test_casts_to_bool_from_every_dtype():
    tiny = np.float32(1e-45)  # the smallest float32 subnormal
    f32 = np.array([0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, tiny, -tiny, 1e-39, 2.5, -1.0], np.float32)
    want32 = f32 != 0  # NaN != 0 is True
    np.testing.assert_array_equal(back(on(f32).bool(), "bool"), want32)
    # bfloat16 keeps float32's exponent range: 1e-39 and the 2**-133 subnormal survive, 1e-45 rounds to 0
    b = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 2.0**-133, -(2.0**-133), 1e-39, 1e-45, 0.5], np.float32)
    np.testing.assert_array_equal(back(on(b, "bfloat16").bool(), "bool"), bf16(b) != 0)
    assert back(on(b, "bfloat16").bool()).tolist() == [False, False] + [True] * 6 + [False, True]
    # float16: the subnormal 2**-24 is true, -0.0 and a value below half of it (rounds to 0) are false
    h = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 2.0**-24, -(2.0**-24), 2.0**-26, 6e-5, 70000.0], np.float32)
    with np.errstate(over="ignore"):
        h16 = h.astype(np.float16)
    np.testing.assert_array_equal(back(on(h16).bool(), "bool"), h16 != 0)
    np.testing.assert_array_equal(back(on(h).half().bool(), "bool"), h16 != 0)
    assert back(on(h16).bool()).tolist() == [False, False] + [True] * 5 + [False, True, True]
    # int64: any nonzero, the high bits included
    i = np.array([0, 1, -1, 2**32, 2**62, INT64_MIN, 2**63 - 1, -(2**40)], np.int64)
    np.testing.assert_array_equal(back(on(i).bool(), "bool"), i != 0)
    assert back(on(i).bool()).tolist() == [False] + [True] * 7


def test_casts_from_bool_to_every_dtype():
    m = _R.random((37, 29)) > 0.5
    t = on(m)
    assert t.dtype == "bool"
    np.testing.assert_array_equal(back(t.float(), "float32"), m.astype(np.float32))
    np.testing.assert_array_equal(back(t.long(), "int64"), m.astype(np.int64))
    np.testing.assert_array_equal(back(t.bfloat16(), "bfloat16"), m.astype(np.float32))
    same_float_bits(back(t.half(), "float16"), m.astype(np.float16))
    # a strided bool source (the cast reads one-byte elements through strides)
    np.testing.assert_array_equal(back(t.t().long(), "int64"), m.T.astype(np.int64))
    same_float_bits(back(t[::2, 1::3].half(), "float16"), m[::2, 1::3].astype(np.float16))
    np.testing.assert_array_equal(back(t[1::2].float(), "float32"), m[1::2] * 1.0)
    # bool -> bool and a round trip through each dtype
    for d in ("float32", "int64", "bfloat16", "float16"):
        np.testing.assert_array_equal(back(t.to(d).bool(), "bool"), m)


def test_casts_between_int64_and_the_floats():
    i = np.array([0, 1, -1, 255, 256, 257, 2049, 65504, 65519, 65520, 70000, 2**24 + 1, 2**40 + 1, -(2**40) - 1,
                  2**62, INT64_MIN, 2**63 - 1], np.int64)  # fmt: skip
    t = on(i)
    f32 = i.astype(np.float32)  # round to nearest even
    same_float_bits(back(t.float(), "float32"), f32)
    same_float_bits(back(t.bfloat16(), "bfloat16"), bf16_f32(f32))
    with np.errstate(over="ignore"):
        same_float_bits(back(t.half(), "float16"), f32.astype(np.float16))
    # and back: the exact floats truncate to the same integers; out-of-range ones give INT64_MIN
    np.testing.assert_array_equal(back(t.float().long(), "int64"), int64_oracle(f32))
    np.testing.assert_array_equal(back(t.bfloat16().long(), "int64"), int64_oracle(bf16(f32)))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(back(t.half().long(), "int64"), int64_oracle(f32.astype(np.float16)))


# ---- float32 -> bfloat16 / float16 rounding, bit for bit


def _rounding_inputs():
    f16 = np.arange(2**16, dtype=np.uint16).view(np.float16)
    f16 = f16[np.isfinite(f16)].astype(np.float64)
    with np.errstate(over="ignore"):
        up = np.nextafter(f16.astype(np.float16), np.float16(np.inf)).astype(np.float64)
    mid16 = ((f16 + up) / 2).astype(np.float32)  # float16 ties (exact in float32)
    # bfloat16 ties: float32 bit patterns whose low 16 bits are 0x8000, over every exponent
    hi = _R.integers(0, 2**16, 20_000, dtype=np.uint64).astype(np.uint32)
    tie = ((hi << 16) | 0x8000).astype(np.uint32).view(np.float32)
    tie = tie[~np.isnan(tie)]
    rand = _R.integers(0, 2**32, 50_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    rand = rand[~np.isnan(rand)]
    edges = np.array([0.0, -0.0, np.inf, -np.inf, 65504, 65519.996, 65520, 65536, 3.4e38, -3.4e38,
                      3.3961776e38, 3.3961778e38, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0001, -(2.0**-25),
                      2.0**-14, 2.0**-14 * (1 - 2**-11), 6.0e-8, 1e-45, -1e-45, 1e-40, 1.1754942e-38,
                      1.00390625, 1.01171875, 1.0009766, 1.0014648, 1.0004883, -1.0004883], np.float32)  # fmt: skip
    return np.concatenate([edges, mid16, np.nextafter(mid16, np.float32(0)), tie, np.nextafter(tie, np.float32(0)),
                           rand]).astype(np.float32)  # fmt: skip


def test_float32_to_float16_rounds_as_numpy_bit_for_bit():
    x = _rounding_inputs()
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    got = back(on(x).half(), "float16")
    same_float_bits(got, want)
    assert got.view(np.uint16)[1] == 0x8000  # -0.0 keeps its sign
    # the float16 subnormals and -0.0 widen back exactly, on the device
    sub = np.arange(0, 0x400, dtype=np.uint16).view(np.float16)
    sub = np.concatenate([sub, -sub])
    same_float_bits(back(on(sub).float(), "float32"), sub.astype(np.float32))
    same_float_bits(back(on(sub).float().half(), "float16"), sub)
    # NaN stays NaN (either sign), +-inf stays inf
    nan = np.array([np.nan, -np.nan, np.inf, -np.inf], np.float32)
    same_float_bits(back(on(nan).half()), nan.astype(np.float16))


def test_float32_to_bfloat16_rounds_as_the_oracle_bit_for_bit():
    x = _rounding_inputs()
    got = back(on(x).bfloat16(), "bfloat16")
    same_float_bits(got, bf16_f32(x))
    assert got.view(np.uint32)[1] == 0x80000000  # -0.0
    assert got[2] == np.inf and got[3] == -np.inf
    assert np.isinf(got[np.abs(x) >= 3.3961778e38]).all()  # past the largest bfloat16: inf
    # NaN stays NaN (a quiet and a signalling payload)
    nan = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FFFFFFF], np.uint32).view(np.float32)
    assert np.isnan(back(on(nan).bfloat16())).all()
    # bfloat16 <-> float16 through float32: float16 keeps the bfloat16 value's rounding of 8 bits
    b = bf16_f32(_R.standard_normal(5000).astype(np.float32) * 100)
    with np.errstate(over="ignore"):
        same_float_bits(back(on(b).bfloat16().half(), "float16"), b.astype(np.float16))
    h = (_R.standard_normal(5000) * 100).astype(np.float16)
    same_float_bits(back(on(h).bfloat16(), "bfloat16"), bf16_f32(h.astype(np.float32)))


# ---- strided copies of one- and two-byte elements


def _copies():
    """(name, fn) pairs of strided views copied into new contiguous tensors, applied alike to NumPy and minidiff."""
    return [
        ("cols 1::3", lambda t: t[:, 1::3]),
        ("transpose", lambda t: t.T if isinstance(t, np.ndarray) else t.t()),
        ("every other row and col", lambda t: t[1::2, ::2]),
        ("col block", lambda t: t[3:40, 5:9]),
    ]


@pytest.mark.parametrize("dtype", ["bool", "float16", "uint8", "int16", "int32"])
def test_strided_two_dim_copies(dtype):
    r = _R.standard_normal((61, 47)).astype(np.float32)
    a = (r > 0.3) if dtype == "bool" else r.astype(np.float16) if dtype == "float16" else (r * 100).astype(dtype)
    t = on(a)
    assert t.dtype == dtype
    for name, fn in _copies():
        want = np.ascontiguousarray(fn(a))
        for how in ("contiguous", "clone"):  # (clone keeps a dense transpose's strides, as torch's)
            got = getattr(fn(t), how)()
            assert how == "clone" or got.is_contiguous(), name
            np.testing.assert_array_equal(back(got, dtype), want, err_msg=name)
            if dtype == "float16":
                same_float_bits(back(got), want)
    # odd widths: the copy must not touch bytes past each row
    for n in (1, 3, 5, 7, 9, 17, 33):
        v = a[:, :n]
        np.testing.assert_array_equal(back(t[:, :n].t().contiguous()), np.ascontiguousarray(v.T), err_msg=str(n))


@pytest.mark.parametrize("dtype", ["bool", "float16", "int8", "int32"])
def test_expanded_and_permuted_copies(dtype):
    row = _R.standard_normal((1, 301)).astype(np.float32)
    row = (row > 0) if dtype == "bool" else row.astype(np.float16) if dtype == "float16" else (row * 100).astype(dtype)
    t = on(row)
    exp = t.expand(13, 301)
    assert exp.stride()[0] == 0
    np.testing.assert_array_equal(back(exp.contiguous(), dtype), np.broadcast_to(row, (13, 301)))
    col = on(np.ascontiguousarray(row.T)).expand(301, 6).contiguous()
    np.testing.assert_array_equal(back(col, dtype), np.broadcast_to(row.T, (301, 6)))
    # eight dims, permuted, cloned
    shape = (2, 3, 1, 4, 2, 3, 2, 5)
    r = _R.standard_normal(shape).astype(np.float32)
    a = (r > 0) if dtype == "bool" else r.astype(np.float16) if dtype == "float16" else (r * 100).astype(dtype)
    perm = (7, 2, 5, 0, 6, 3, 1, 4)
    got = on(a).permute(*perm).clone()
    assert tuple(got.shape) == a.transpose(perm).shape
    np.testing.assert_array_equal(back(got, dtype), a.transpose(perm))
    got = on(a).permute(*perm).contiguous().reshape(-1)
    np.testing.assert_array_equal(back(got, dtype), a.transpose(perm).reshape(-1))
    # a view with steps in dims 3, 5 and 7
    v = on(a)[:, :, :, 1::2, :, ::2, :, 1::2].contiguous()
    np.testing.assert_array_equal(back(v, dtype), a[:, :, :, 1::2, :, ::2, :, 1::2])


# ---- where


def _where_case(dtype, shape=(7, 9)):
    r = _R.standard_normal((2, *shape)).astype(np.float32)
    if dtype == "bool":
        return r[0] > 0, r[1] > 0.5
    if dtype == "int64":
        return (r[0] * 1000).astype(np.int64) + 2**40, (r[1] * 1000).astype(np.int64) - 2**40 - 1
    if dtype == "bfloat16":
        return bf16_f32(r[0]), bf16_f32(r[1])
    return r[0].astype(np.float16), r[1].astype(np.float16)


@pytest.mark.parametrize("dtype", ["bool", "int64", "bfloat16", "float16"])
def test_where_with_a_bool_condition_on_every_dtype(dtype):
    c = _R.random((7, 9)) > 0.4
    x, y = _where_case(dtype)
    tx, ty = on(x, dtype), on(y, dtype)
    got = back(md.where(on(c), tx, ty), dtype)
    want = np.where(c, x, y)
    if dtype == "float16":
        same_float_bits(got, want)
    else:
        np.testing.assert_array_equal(got, want)
    # strided operands and condition
    got = back(md.where(on(c).t(), tx.t(), ty.t()), dtype)
    np.testing.assert_array_equal(got, np.where(c.T, x.T, y.T))
    # a (3, 1, 5) condition broadcast against (4, 1) and (5,) operands
    c3 = _R.random((3, 1, 5)) > 0.5
    x2, y2 = _where_case(dtype, (4, 1))[0], _where_case(dtype, (5,))[1]
    got = back(md.where(on(c3), on(x2, dtype), on(y2, dtype)), dtype)
    assert got.shape == (3, 4, 5)
    np.testing.assert_array_equal(got, np.where(c3, x2, y2))
    # empty shapes
    e = md.where(on(np.zeros((0, 9), bool)), tx[:0], ty[:0])
    assert tuple(e.shape) == (0, 9) and e.dtype == dtype
    e = md.where(on(np.zeros((3, 0), bool)), on(np.zeros((3, 0), x.dtype), dtype), on(np.zeros((1, 0), y.dtype), dtype))
    assert tuple(e.shape) == (3, 0) and back(e, dtype).size == 0


def test_where_special_float_values_and_int64_extremes():
    c = np.array([True, False, True, False, True, False])
    x = np.array([np.nan, 1.0, -0.0, 2.0, np.inf, 0.0], np.float32)
    y = np.array([0.0, np.nan, 1.0, -0.0, 0.0, -np.inf], np.float32)
    same_float_bits(back(md.where(on(c), on(x), on(y)), "float32"), np.where(c, x, y))
    same_float_bits(back(md.where(on(c), on(x).half(), on(y).half()), "float16"), np.where(c, x, y).astype(np.float16))
    same_float_bits(back(md.where(on(c), on(x).bfloat16(), on(y).bfloat16()), "bfloat16"), np.where(c, x, y))
    i = np.array([INT64_MIN, 2**63 - 1, 2**40, -(2**40), 2**40 + 1, -1], np.int64)
    j = i[::-1].copy()
    np.testing.assert_array_equal(back(md.where(on(c), on(i), on(j)), "int64"), np.where(c, i, j))
    # a 0-d condition, and a scalar other operand with the int64 tensor
    np.testing.assert_array_equal(back(md.where(on(np.array(True)), on(i), on(j)), "int64"), i)
    np.testing.assert_array_equal(back(md.where(on(c), on(i), 0), "int64"), np.where(c, i, 0))


# ---- int64 and bool reductions and scans


def test_int64_sum_wraps_and_sums_over_empty_dims():
    big = np.array([[2**62, 2**62, 2**62, 5], [2**63 - 1, 1, 0, 0], [INT64_MIN, -1, 3, -3]], np.int64)
    t = on(big)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(back(t.sum(1), "int64"), big.sum(1))
        np.testing.assert_array_equal(back(t.sum(0), "int64"), big.sum(0))
        assert back(t.sum(), "int64") == big.sum()
        np.testing.assert_array_equal(back(t.prod(1), "int64"), big.prod(1))
    # long rows that wrap, summed by the device's tree
    long = np.full((3, 5000), 2**52 + 7, np.int64)
    long[1] = _R.integers(-(2**62), 2**62, 5000)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(back(on(long).sum(1), "int64"), long.sum(1))
        assert back(on(long).sum(), "int64") == long.sum()
        np.testing.assert_array_equal(back(on(long).t().sum(0), "int64"), long.sum(1))
    empty = np.zeros((4, 0), np.int64)
    assert back(on(empty).sum(1), "int64").tolist() == [0] * 4
    assert back(on(empty).prod(1), "int64").tolist() == [1] * 4
    assert back(on(empty).sum(0), "int64").shape == (0,)
    assert back(on(empty).sum(), "int64") == 0


def test_int64_max_min_argmax_with_equal_values_and_ties():
    eq = np.full((5, 1000), 2**40 + 3, np.int64)
    t = on(eq)
    mx = t.max(1)
    assert back(mx.values, "int64").tolist() == [2**40 + 3] * 5
    assert back(mx.indices, "int64").tolist() == [0] * 5
    assert back(t.min(1).indices, "int64").tolist() == [0] * 5
    assert back(t.argmax(1), "int64").tolist() == [0] * 5 and back(t.argmin(1), "int64").tolist() == [0] * 5
    assert back(t.t().argmax(0), "int64").tolist() == [0] * 5
    # ties later in the row: the first occurrence wins, as NumPy's argmax
    r = _R.integers(-3, 4, (64, 777)).astype(np.int64) * (2**41)
    r[5, [100, 500, 700]] = 2**62
    r[6, [3, 4]] = INT64_MIN
    t = on(r)
    for dim in (0, 1):
        np.testing.assert_array_equal(back(t.max(dim).values, "int64"), r.max(dim))
        np.testing.assert_array_equal(back(t.max(dim).indices, "int64"), r.argmax(dim))
        np.testing.assert_array_equal(back(t.min(dim).indices, "int64"), r.argmin(dim))
        np.testing.assert_array_equal(back(t.argmax(dim), "int64"), r.argmax(dim))
        np.testing.assert_array_equal(back(t.amax(dim), "int64"), r.max(dim))
        np.testing.assert_array_equal(back(t.amin(dim), "int64"), r.min(dim))
    assert back(t.max(), "int64") == 2**62 and back(t.min(), "int64") == INT64_MIN
    assert back(t.argmax(), "int64") == r.argmax() and back(t.argmin(), "int64") == r.argmin()


def test_int64_amin_of_int64_min():
    r = np.array([[0, 5], [INT64_MIN, 1], [3, 2]], np.int64)
    t = on(r)
    np.testing.assert_array_equal(back(t.min(0).values, "int64"), r.min(0))  # (min with a dim is right)
    np.testing.assert_array_equal(back(t.amin(0), "int64"), r.min(0))
    assert back(t.amin(), "int64") == INT64_MIN
    assert back(md.aminmax(t).min, "int64") == INT64_MIN


def test_bool_sums_any_and_all():
    n = 1_048_583  # ~10**6, not a power of two
    m = _R.random(n) < 0.3
    t = on(m)
    assert back(t.sum(), "int64") == m.sum()
    assert back(md.count_nonzero(t)) == m.sum()
    m2 = m[: 1000 * 1048].reshape(1000, 1048)
    t2 = on(m2)
    np.testing.assert_array_equal(back(t2.sum(0), "int64"), m2.sum(0))
    np.testing.assert_array_equal(back(t2.sum(1), "int64"), m2.sum(1))
    g = _R.random((40, 33)) < 0.9
    g[:, 4] = True
    g[7] = True
    g[9] = False
    for x in (g, g.T.copy(), np.zeros((5, 6), bool), np.ones((5, 6), bool)):
        tx = on(x)
        np.testing.assert_array_equal(back(tx.any(0), "bool"), x.any(0))
        np.testing.assert_array_equal(back(tx.all(1), "bool"), x.all(1))
        np.testing.assert_array_equal(back(tx.any(1), "bool"), x.any(1))
        np.testing.assert_array_equal(back(tx.all(0), "bool"), x.all(0))
        assert bool(back(tx.any(), "bool")) == x.any() and bool(back(tx.all(), "bool")) == x.all()
    tg = on(g)
    np.testing.assert_array_equal(back(tg.t().all(1), "bool"), g.T.all(1))
    e = on(np.zeros((0, 3), bool))
    assert back(e.any(0)).tolist() == [False] * 3 and back(e.all(0)).tolist() == [True] * 3


def test_int64_and_bool_scans_along_inner_and_outer_dims():
    a = _R.integers(-5, 6, (6, 7, 50)).astype(np.int64)
    a[0, 0, 0] = 2**62  # wraps in the cumsum
    a[1, 1, 1] = 2**62
    t = on(a)
    with np.errstate(over="ignore"):
        for dim in (0, 1, 2):
            np.testing.assert_array_equal(back(md.cumsum(t, dim), "int64"), np.cumsum(a, dim), err_msg=f"sum {dim}")
            np.testing.assert_array_equal(back(t.cumprod(dim), "int64"), np.cumprod(a, dim), err_msg=f"prod {dim}")
        np.testing.assert_array_equal(back(t.permute(2, 0, 1).cumsum(0), "int64"), np.cumsum(a.transpose(2, 0, 1), 0))
    # cumprod that wraps past INT64_MAX (3**40 > 2**63)
    p = np.full((2, 60), 3, np.int64)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(back(on(p).cumprod(1), "int64"), np.cumprod(p, 1))
    m = _R.random((9, 300)) < 0.6
    tm = on(m)
    for dim in (0, 1):
        np.testing.assert_array_equal(back(tm.cumsum(dim), "int64"), np.cumsum(m, dim, dtype=np.int64))
        np.testing.assert_array_equal(back(tm.cumprod(dim), "int64"), np.cumprod(m, dim, dtype=np.int64))
    np.testing.assert_array_equal(back(tm.t().cumsum(1), "int64"), np.cumsum(m.T, 1, dtype=np.int64))


# ---- int64 elementwise


def test_int64_binary_ops_broadcast_with_transposed_operands():
    a = _R.integers(-(2**45), 2**45, (8, 5)).astype(np.int64)
    a[0, 0] = 2**63 - 1  # wraps in +, *
    b = _R.integers(-(2**20), 2**20, (5, 8)).astype(np.int64)
    b[b == 0] = 3
    c = _R.integers(-9, 10, (5,)).astype(np.int64)
    ta, tb, tc = on(a), on(b).t(), on(c)
    bt = b.T
    with np.errstate(over="ignore"):
        for name, got, want in [
            ("+", ta + tb, a + bt), ("-", ta - tb, a - bt), ("*", ta * tb, a * bt),
            ("max", md.maximum(ta, tb), np.maximum(a, bt)), ("min", md.minimum(ta, tb), np.minimum(a, bt)),
            ("+row", ta + tc, a + c), ("*col", ta.t() * on(c[:, None]), a.T * c[:, None]),
            ("-row", tc - ta, c - a), ("neg", -ta, -a), ("abs", ta.abs(), np.abs(a)),
            ("//", ta // tb, a // bt), ("%", ta % tb, a % bt),
        ]:  # fmt: skip
            np.testing.assert_array_equal(back(got, "int64"), want, err_msg=name)
    for name, got, want in [
        ("==", ta == tb, a == bt), ("!=", ta != tb, a != bt), ("<", ta < tc, a < c),
        (">=", tb >= ta, bt >= a), ("<=", ta <= ta.t().t(), a <= a), (">", tc > ta, c > a),
    ]:  # fmt: skip
        np.testing.assert_array_equal(back(got, "bool"), want, err_msg=name)


def test_int64_scalar_first_forms_and_powers():
    x = np.array([0, 1, 2, 3, -4, 40, 2**40, -(2**40)], np.int64)
    t = on(x)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(back(5 - t, "int64"), 5 - x)
        np.testing.assert_array_equal(back(7 + t, "int64"), 7 + x)
        np.testing.assert_array_equal(back(-3 * t, "int64"), -3 * x)
        np.testing.assert_array_equal(back(t * (2**23), "int64"), x * (2**23))  # wraps
    for name, got, want in [("5 > x", 5 > t, 5 > x), ("5 <= x", 5 <= t, 5 <= x), ("x == 2", t == 2, x == 2),
                            ("2**40 == x", 2**40 == t, x == 2**40), ("x != 1", t != 1, x != 1)]:  # fmt: skip
        np.testing.assert_array_equal(back(got, "bool"), want, err_msg=name)
    e = np.arange(0, 70, dtype=np.int64)
    te = on(e)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(back(3**te, "int64"), np.int64(3) ** e)  # wraps past 3**39
        np.testing.assert_array_equal(back(2**te, "int64"), np.int64(2) ** e)  # 2**63 and beyond wrap to 0 / MIN
    np.testing.assert_array_equal(back(te**2, "int64"), e**2)
    # x ** y with bases 1, -1, 0, 2 and nonnegative exponents, broadcast (4, 1) against (70,)
    bases = np.array([[1], [-1], [0], [2]], np.int64)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(back(on(bases) ** te, "int64"), bases**e)
    assert back(on(bases) ** te)[2, 0] == 1  # 0 ** 0
    assert back(on(bases) ** te)[1, :4].tolist() == [1, -1, 1, -1]


def test_int64_zero_dim_and_empty_operands():
    s = on(np.array(2**40 + 1, np.int64))
    assert tuple(s.shape) == () and s.dtype == "int64"
    x = np.array([[1, -2, 3], [4, 5, -6]], np.int64)
    t = on(x)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(back(t * s, "int64"), x * (2**40 + 1))
        np.testing.assert_array_equal(back(s - t, "int64"), (2**40 + 1) - x)
        assert back(s + s, "int64") == 2**41 + 2 and back(s * 2).shape == ()
    np.testing.assert_array_equal(back(t > s, "bool"), x > 2**40 + 1)
    e = on(np.zeros((0, 3), np.int64))
    for got in (e + t[0], e * s, t[0] - e, e == t[1], 5 - e, md.maximum(e, t[:1])):
        assert tuple(got.shape) == (0, 3)
        assert back(got).size == 0
    assert (e == t[1]).dtype == "bool" and (e + t[0]).dtype == "int64"


# ---- unary math at special values, against CPU torch

UNARY = ["asin", "acos", "acosh", "atanh", "erfinv", "log1p", "log2", "log10", "reciprocal", "sinh", "cosh", "exp2"]
SPECIAL_X = np.array(
    [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1.0000001, -1.0000001, 0.99999994, -0.99999994, 0.5, -0.5, 2.0,
     -2.0, 1e-30, -1e-30, 1e-40, -1e-40, 1e30, -1e30, 88.7, 89.5, -88.7, -89.5, 127.9, 128.0, 128.5, -149.0, -150.0,
     -160.0, 710.0, -0.99, 0.999, 1e-7, 3.0],
    np.float32,
)  # fmt: skip


def _unary_torch(torch, name, x):
    """Forward and gradient (of sum) of torch's float32 op."""
    tx = torch.tensor(x).requires_grad_()
    y = getattr(torch, name)(tx)
    y.backward(torch.ones_like(y))
    return y.detach().numpy(), tx.grad.numpy()


def _unary_md(name, x, dtype):
    tx = on(x).to(dtype).requires_grad_()
    y = getattr(md, name)(tx)
    y.backward(md.ones_like(y))
    assert tx.grad.dtype == dtype
    return back(y, dtype).astype(np.float32), back(tx.grad, dtype).astype(np.float32)


def _same_special(got, want, rtol, atol, what):
    """The same NaN, +inf and -inf positions, and close finite values."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN pattern")
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), err_msg=f"{what}: +inf pattern")
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), err_msg=f"{what}: -inf pattern")
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("name", UNARY)
def test_unary_special_values_forward_and_gradient_float32(name):
    torch = pytest.importorskip("torch")
    y, g = _unary_md(name, SPECIAL_X, "float32")
    ty, tg = _unary_torch(torch, name, SPECIAL_X)
    _same_special(y, ty, 2e-6, 1e-30, f"{name} forward")
    _same_special(g, tg, 2e-5, 1e-30, f"{name} gradient")
    # the signs of zero results (sinh(-0), asin(-0), log1p(-0), ... keep -0.0)
    zero = ty == 0
    np.testing.assert_array_equal(np.signbit(y[zero]), np.signbit(ty[zero]), err_msg=f"{name}: sign of zero")
    # on a strided view of a larger array: the special values among random finite ones
    big = np.concatenate([SPECIAL_X, (_R.standard_normal(4000) * 3).astype(np.float32)]).reshape(-1, 4)
    got = back(getattr(md, name)(on(big).t()), "float32")
    want = getattr(torch, name)(torch.tensor(big).t()).numpy()
    _same_special(got, want, 2e-6, 1e-30, f"{name} strided")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name", UNARY)
def test_unary_special_values_on_16_bit_floats(name, dtype):
    """The 16-bit result (and gradient) is torch's float32 value at the rounded input, rounded once: within one
    16-bit step (torch's own float16 gradients round each intermediate, so they are no oracle here)."""
    torch = pytest.importorskip("torch")
    rnd = bf16_f32 if dtype == "bfloat16" else f16_f32
    x = rnd(SPECIAL_X)
    y, g = _unary_md(name, SPECIAL_X, dtype)
    ty, tg = _unary_torch(torch, name, x)
    ty, tg = rnd(ty), rnd(tg)
    step = 2.0**-7 if dtype == "bfloat16" else 2.0**-10  # the largest relative spacing of the format
    tiny = 2.0**-133 if dtype == "bfloat16" else 2.0**-24
    _same_special(y, ty, step, tiny, f"{name} {dtype} forward")
    _same_special(g, tg, step, tiny, f"{name} {dtype} gradient")
    zero = ty == 0
    np.testing.assert_array_equal(np.signbit(y[zero]), np.signbit(ty[zero]), err_msg=f"{name}: sign of zero")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_acosh_gradient_at_minus_one_is_plus_inf_as_torch(dtype):
    _, g = _unary_md("acosh", np.array([-1.0, 1.0], np.float32), dtype)
    assert g.tolist() == [np.inf, np.inf]


NARROW = ["uint8", "int8", "int16", "int32"]


@pytest.mark.parametrize("dst", [*NARROW, "int64", "bool"])
@pytest.mark.parametrize("src", [*NARROW, "int64", "bool"])
def test_casts_between_the_integers_wrap_as_numpy(src, dst):
    big = np.array([-(2**40) - 3, -(2**31), -129, -128, -1, 0, 1, 127, 128, 255, 256, 32768, 2**31 - 1, 2**33 + 7])
    a = (big != 0) if src == "bool" else big.astype(src)
    want = (a != 0) if dst == "bool" else a.astype(dst)
    np.testing.assert_array_equal(back(on(a).to(dst), dst), want)
    np.testing.assert_array_equal(back(on(np.tile(a, 1000)).to(dst), dst), np.tile(want, 1000))  # many blocks


@pytest.mark.parametrize("dtype", NARROW)
def test_narrow_integers_to_and_from_the_floats(dtype):
    a = np.array([-2.75, -1.5, -0.5, 0.0, 0.5, 1.5, 100.5, 126.5], np.float32)  # (exact in every float)
    want = np.trunc(a).astype(np.int64).astype(dtype)
    for f in ("float32", "float16", "bfloat16"):
        np.testing.assert_array_equal(back(on(a).to(f).to(dtype), dtype), want)
    ints = np.arange(-128, 128).astype(dtype)
    np.testing.assert_array_equal(back(on(ints).float(), "float32"), ints.astype(np.float32))
    same_float_bits(back(on(ints).half(), "float16"), ints.astype(np.float16))


@pytest.mark.parametrize("dtype", NARROW)
def test_narrow_integer_arithmetic_and_reductions_on_the_device(dtype):
    info = np.iinfo(dtype)
    a = _R.integers(max(info.min, -300), min(info.max, 300), (37, 29), endpoint=True).astype(dtype)
    b = _R.integers(max(info.min, -300), min(info.max, 300), (29,), endpoint=True).astype(dtype)
    x, y = on(a), on(b)
    wide = a.astype(np.int64), b.astype(np.int64)
    np.testing.assert_array_equal(back(x + y, dtype), (wide[0] + wide[1]).astype(dtype))
    np.testing.assert_array_equal(back(x.t() * 3 - 7, dtype), (wide[0].T * 3 - 7).astype(dtype))
    np.testing.assert_array_equal(back(x.sum(0), "int64"), wide[0].sum(0))
    np.testing.assert_array_equal(back(x.amax(1), dtype), a.max(1))
    np.testing.assert_array_equal(back(x.min(0).values, dtype), a.min(0))
    np.testing.assert_array_equal(back(x.cumsum(1), "int64"), wide[0].cumsum(1))
    np.testing.assert_array_equal(back(x < y, "bool"), a < b)
    np.testing.assert_array_equal(back(md.where(x > 0, x, y), dtype), np.where(a > 0, a, b))
    np.testing.assert_array_equal(back(md.full((3,), -1, dtype=dtype, device=DEV), dtype), np.full(3, -1).astype(dtype))
