"""Shifts, gcd/lcm and the in-place bitwise operators on every integer dtype: NumPy is the oracle
for the values (the shift rules are torch's: 0, or the sign for >>, where the shift is negative or
not less than the width), torch (where installed) for the dtypes and edge cases together."""

import numpy as np
import pytest

import minidiff as md

INTS = ["uint8", "int8", "int16", "int32", "int64"]
RNG = np.random.default_rng(11)


def values(dtype, n=40):
    info = np.iinfo(dtype)
    return RNG.integers(max(info.min, -(2**40)), min(info.max, 2**40), n, endpoint=True).astype(dtype)


@pytest.mark.parametrize("dtype", INTS)
def test_shifts_follow_torchs_rules_for_every_width(dtype):
    bits = np.iinfo(dtype).bits
    x = values(dtype)
    s = RNG.integers(-2, bits + 3, x.size).astype(dtype if dtype != "uint8" else "int64")
    s = s.astype(dtype) if dtype != "uint8" else np.abs(s).astype(dtype)
    wide, ws = x.astype(np.int64), s.astype(np.int64)
    valid = (ws >= 0) & (ws < bits)
    left = np.where(valid, wide << np.where(valid, ws, 0), 0).astype(dtype)
    right = np.where(valid, wide >> np.where(valid, ws, 0), np.where(wide < 0, -1, 0)).astype(dtype)
    t, ts = md.tensor(x), md.tensor(s)
    assert (t << ts).dtype == dtype
    np.testing.assert_array_equal((t << ts).numpy(), left)
    np.testing.assert_array_equal((t >> ts).numpy(), right)
    np.testing.assert_array_equal(md.bitwise_left_shift(t, 3).numpy(), (wide << 3).astype(dtype))
    np.testing.assert_array_equal((5 << md.tensor(np.array([1, 2], dtype))).numpy(), np.array([10, 20], dtype))


@pytest.mark.parametrize("dtype", INTS)
def test_gcd_and_lcm_wrap_into_the_dtype(dtype):
    a, b = values(dtype), values(dtype)
    a[:3], b[:3] = 0, [0, 5, 0]
    x, y = md.tensor(a), md.tensor(b)
    np.testing.assert_array_equal(md.gcd(x, y).numpy(), np.gcd(a.astype(np.int64), b.astype(np.int64)).astype(dtype))
    g = np.gcd(a.astype(np.int64), b.astype(np.int64))
    with np.errstate(over="ignore"):  # torch's abs(a / gcd * b): int32 and int64 products wrap first
        product = (a.astype(np.int64) // np.where(g == 0, 1, g) * b.astype(np.int64)).astype(
            dtype if np.iinfo(dtype).bits >= 32 else np.int64
        )
    np.testing.assert_array_equal(x.lcm(y).numpy(), np.where(g == 0, 0, np.abs(product)).astype(dtype))
    with pytest.raises(TypeError, match="gcd: other must be a Tensor"):
        md.gcd(x, 4)
    with pytest.raises(TypeError, match="gcd: not supported for a float32"):
        md.gcd(x.float(), y)


@pytest.mark.parametrize("dtype", INTS)
def test_in_place_bitwise_operators_write_into_the_tensor(dtype):
    a, b = values(dtype, 6), values(dtype, 6)
    x = md.tensor(a)
    view = x[:3]
    x &= md.tensor(b)
    np.testing.assert_array_equal(view.numpy(), (a & b)[:3])  # the view sees it: written in place
    x |= 1
    x ^= md.tensor(b)
    x <<= 1
    x >>= 1
    want = (((((a & b) | 1) ^ b).astype(np.int64) << 1).astype(dtype).astype(np.int64) >> 1).astype(dtype)
    np.testing.assert_array_equal(x.numpy(), want)
    assert x.dtype == dtype


def test_shifts_refuse_floats_and_two_bools():
    with pytest.raises(TypeError, match="bitwise_left_shift.*float32"):
        md.tensor([1.5]) << 1
    with pytest.raises(TypeError, match="two bools"):
        md.tensor([True]) >> md.tensor([False])
    assert (md.tensor([True, False]) << 2).numpy().tolist() == [4, 0]  # a bool counts as int64 0/1


torch = pytest.importorskip("torch")

CASES = {
    "lshift": lambda L, x, y: x << y,
    "rshift": lambda L, x, y: x >> y,
    "lshift_scalar": lambda L, x, y: x << 3,
    "rlshift": lambda L, x, y: 3 << (y.abs() % 9) if x.dtype != L.uint8 else 3 << y,
    "gcd": lambda L, x, y: L.gcd(x, y),
    "lcm": lambda L, x, y: L.lcm(x, y),
    "mixed_shift": lambda L, x, y: x << y.long(),
}


@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch(dtype, case):
    bits = np.iinfo(dtype).bits
    a = values(dtype)
    b = RNG.integers(0 if dtype == "uint8" else -2, bits + 3, a.size).astype(dtype)
    got = CASES[case](md, md.tensor(a), md.tensor(b))
    want = CASES[case](torch, torch.tensor(a), torch.tensor(b))
    assert got.dtype == str(want.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(got.numpy(), want.numpy())
