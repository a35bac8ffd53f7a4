"""int64 arithmetic keeps integers, as torch does: + - * ** maximum minimum clamp neg abs of int64
operands give int64 (exact past 2^24, wrapping around on overflow), comparisons of int64 are exact,
and an int64 tensor meeting a float (tensor or Python scalar) or true division gives float32.
NumPy is the oracle for values; torch, where installed, for the result dtypes."""

import operator

import numpy as np
import pytest

import minidiff as md

BIG = 2**40  # far past float32's exact integers (2^24)


def ints(*shape, seed=0, lo=-50, hi=50):
    return np.random.default_rng(seed).integers(lo, hi, size=shape).astype(np.int64) + BIG


def t(a):
    return md.tensor(np.asarray(a, dtype=np.int64), dtype="int64")


OPS = [operator.add, operator.sub, operator.mul]


@pytest.mark.parametrize("op", OPS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((), (3,)), ((0, 2), (2,))])
def test_tensor_tensor_arithmetic_is_exact_int64(op, shapes):
    a, b = ints(*shapes[0], seed=1), ints(*shapes[1], seed=2) - BIG  # products stay inside int64
    got = op(t(a), t(b))
    assert got.dtype == "int64"
    np.testing.assert_array_equal(got.numpy(), op(a, b))


@pytest.mark.parametrize("op", OPS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("scalar", [3, -7, True, np.int64(5), np.int32(-2), np.uint8(9)])
def test_tensor_int_scalar_arithmetic_is_int64_both_ways(op, scalar):
    a = ints(2, 5, seed=3)
    np.testing.assert_array_equal(op(t(a), scalar).numpy(), op(a, np.int64(scalar)))
    np.testing.assert_array_equal(op(scalar, t(a)).numpy(), op(np.int64(scalar), a))
    assert op(t(a), scalar).dtype == "int64" and op(scalar, t(a)).dtype == "int64"


def test_non_contiguous_operands():
    a = ints(4, 6, seed=4)
    x = t(a).transpose(0, 1)  # (6, 4) strided view
    np.testing.assert_array_equal((x + x[:, :1]).numpy(), a.T + a.T[:, :1])
    np.testing.assert_array_equal((x * 2 - 1).numpy(), a.T * 2 - 1)


def test_overflow_wraps_around_as_torch():
    a = t([2**62, np.iinfo(np.int64).max, np.iinfo(np.int64).min])
    with np.errstate(over="ignore"):
        want_mul = np.array([2**62, np.iinfo(np.int64).max, np.iinfo(np.int64).min], np.int64) * np.int64(4)
    np.testing.assert_array_equal((a * 4).numpy(), want_mul)
    assert (a[1:2] + 1).numpy().tolist() == [np.iinfo(np.int64).min]
    assert (a[2:3] - 1).numpy().tolist() == [np.iinfo(np.int64).max]


def test_neg_abs_maximum_minimum_clamp_stay_int64():
    a = ints(7, seed=5) - BIG - 25 + BIG * np.array([1, -1, 1, -1, 1, -1, 0])
    x = t(a)
    for got, want in [
        (-x, -a),
        (abs(x), np.abs(a)),
        (x.abs(), np.abs(a)),
        (md.maximum(x, t(a[::-1].copy())), np.maximum(a, a[::-1])),
        (md.minimum(x, t(a[::-1].copy())), np.minimum(a, a[::-1])),
        (x.clamp(-BIG, BIG + 3), np.clip(a, -BIG, BIG + 3)),
        (x.clamp(min=0), np.maximum(a, 0)),
        (md.clamp(x, max=-1), np.minimum(a, -1)),
        (x.clamp(5, 2), np.full_like(a, 2)),  # min > max gives max, as torch
    ]:
        assert got.dtype == "int64"
        np.testing.assert_array_equal(got.numpy(), want)


def test_comparisons_are_exact_past_float32():
    a = np.array([BIG, BIG + 1, BIG - 1, -BIG], np.int64)
    x, y = t(a), t(np.full(4, BIG, np.int64))
    for op in (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge):
        want = op(a, BIG)
        got_t, got_s = op(x, y), op(x, BIG)
        assert got_t.dtype == "bool" and got_s.dtype == "bool"  # masks, as torch's
        np.testing.assert_array_equal(got_t.numpy(), want)
        np.testing.assert_array_equal(got_s.numpy(), want)
    # the reflected forms (int on the left) compare exactly too
    np.testing.assert_array_equal((BIG < x).numpy(), BIG < a)


def test_float_operands_division_and_pow_give_float32():
    x = t([1, 2, 3])
    assert (x + 0.5).dtype == "float32"
    assert (x * md.tensor([1.0, 2.0, 3.0])).dtype == "float32"
    assert (x / 2).dtype == "float32" and (x / x).dtype == "float32"
    np.testing.assert_allclose((x / 2).numpy(), [0.5, 1.0, 1.5])
    assert x.clamp(0.5).dtype == "float32"
    assert (x**0.5).dtype == "float32"
    assert (x < 2.5).numpy().tolist() == [1.0, 1.0, 0.0]


def test_in_place_int_arithmetic_stays_exact():
    x = t([BIG, 5, -3])
    x += 1
    x *= 3
    x -= t([0, 1, 2])
    assert x.dtype == "int64"
    assert x.numpy().tolist() == [(BIG + 1) * 3, 17, -8]
    with pytest.raises(TypeError, match="int64"):
        x += 0.5


def test_index_arithmetic_indexes_without_a_cast():
    """The sampler idiom: prev = t - step indexes the schedule directly."""
    table = md.arange(10).float() * 10
    steps = md.tensor(np.array([9, 5, 3]), dtype="int64")
    prev = steps - 3
    assert table[prev.clamp(min=0)].numpy().tolist() == [60.0, 20.0, 0.0]
    assert table[(steps + 1) % 10].numpy().tolist() == [0.0, 60.0, 40.0]


def test_dtypes_match_torch():
    torch = pytest.importorskip("torch")
    a = np.array([3, -4, 5], np.int64)
    pairs = [
        (lambda x: x + 1, "int64"),
        (lambda x: x * x, "int64"),
        (lambda x: 2 - x, "int64"),
        (lambda x: -x, "int64"),
        (lambda x: x + 1.0, "float32"),
        (lambda x: x / 2, "float32"),
        (lambda x: x.clamp(0, 4), "int64"),
        (lambda x: x.clamp(0.5), "float32"),
    ]
    for f, name in pairs:
        want = f(torch.tensor(a))
        got = f(t(a))
        assert str(want.dtype) == "torch." + name == "torch." + got.dtype
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_int_pow_is_exact_and_refuses_negative_exponents():
    a = np.array([3, -2, 0, 7, 1], np.int64)
    for k in (0, 1, 2, 5, 13):
        got = t(a) ** k
        assert got.dtype == "int64"
        np.testing.assert_array_equal(got.numpy(), a**k)
    assert (t([BIG + 1]) ** 1).numpy().tolist() == [BIG + 1]
    with pytest.raises(ValueError, match="negative integer powers"):
        t(a) ** -1
    assert (t(a) ** 2.0).dtype == "float32"


def wrapping_pow(base: int, exponent: int) -> int:
    """torch's int64 ``base ** exponent``: wraps around modulo 2^64; a negative exponent gives 0
    unless the base is 1 or -1."""
    if exponent < 0:
        return 1 if base == 1 else (-1 if exponent % 2 else 1) if base == -1 else 0
    r = pow(base, exponent, 2**64)
    return r - 2**64 if r >= 2**63 else r


def test_int_tensor_pow_is_exact_int64_as_torch():
    a = np.array([[3, -2, 0, 7, 1, -1, 2, BIG + 3]], np.int64)
    b = np.array([[0], [1], [5], [13], [40], [63], [64], [-1], [-2], [-3]], np.int64)  # broadcast (10, 8)
    got = t(a) ** t(b)
    assert got.dtype == "int64" and got.shape == (10, 8)
    want = [[wrapping_pow(int(x), int(k)) for x in a[0]] for k in b[:, 0]]
    np.testing.assert_array_equal(got.numpy(), np.array(want, np.int64))
    np.testing.assert_array_equal(md.pow(t(a), t(b)).numpy(), got.numpy())
    # an int scalar base: 2 ** t, exact up to 2^62 and wrapping past it
    got = 2 ** t([0, 3, 40, 62, 63, 64])
    assert got.dtype == "int64"
    assert got.numpy().tolist() == [wrapping_pow(2, k) for k in (0, 3, 40, 62, 63, 64)]
    assert (2.0 ** t([1, 2])).dtype == "float32"
    torch = pytest.importorskip("torch")
    ta, tb = torch.tensor(a), torch.tensor(b)
    np.testing.assert_array_equal((t(a) ** t(b)).numpy(), (ta**tb).numpy())
    np.testing.assert_array_equal((3 ** t(b)).numpy(), (3**tb).numpy())


def test_clamp_takes_tensor_bounds_with_torch_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    lo = rng.standard_normal((4,)).astype(np.float32) - 0.5
    hi = lo + np.abs(rng.standard_normal((3, 1))).astype(np.float32)
    x[0, 0] = lo[0]  # a tie with the lower bound: the gradient goes to the input, as torch's
    xs = [md.tensor(v, requires_grad=True) for v in (x, lo, hi)]
    ts = [torch.tensor(v, requires_grad=True) for v in (x, lo, hi)]
    out, want = md.clamp(xs[0], xs[1], xs[2]), torch.clamp(ts[0], ts[1], ts[2])
    np.testing.assert_array_equal(out.numpy(), want.detach().numpy())
    g = rng.standard_normal((3, 4)).astype(np.float32)
    out.backward(md.tensor(g))
    want.backward(torch.tensor(g))
    for a, b in zip(xs, ts):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-6)
    np.testing.assert_array_equal(xs[0].detach().clamp(max=md.tensor(hi)).numpy(), np.minimum(x, hi))
    with pytest.raises(TypeError, match="clamp: min must be a number"):
        xs[0].clamp("0")


@pytest.mark.parametrize(
    "shape,dim", [((7,), None), ((3, 5), 0), ((3, 5), 1), ((2, 3, 4), 1), ((2, 3, 4), -1), ((0, 3), 0)]
)
def test_sum_max_cumsum_cumprod_prod_of_int64_are_exact_int64(shape, dim):
    a = ints(*shape, seed=11, lo=-3, hi=4)  # near 2^40: float32 would round every one
    x = t(a)
    s = x.sum() if dim is None else x.sum(dim)
    assert s.dtype == "int64"
    np.testing.assert_array_equal(s.numpy(), a.sum() if dim is None else a.sum(dim))
    if a.size:
        m = x.max() if dim is None else x.max(dim).values
        assert m.dtype == "int64"
        np.testing.assert_array_equal(m.numpy(), a.max() if dim is None else a.max(dim))
        if dim is not None:
            np.testing.assert_array_equal(x.max(dim).indices.numpy(), a.argmax(dim))
    d = 0 if dim is None else dim
    small = a - BIG  # products stay within int64
    for got, want in [(md.cumsum(x, d), np.cumsum(a, d)), (md.cumprod(t(small), d), np.cumprod(small, d)),
                      (t(small).prod(d), np.prod(small, d))]:  # fmt: skip
        assert got.dtype == "int64"
        np.testing.assert_array_equal(got.numpy(), want)
    assert t(small).prod().numpy() == np.prod(small)


def test_int64_reductions_keepdim_ties_and_empty():
    a = np.array([[BIG, BIG + 2, BIG + 2], [-1, -1, -5]], np.int64)
    r = t(a).max(1, keepdim=True)
    assert r.values.numpy().tolist() == [[BIG + 2], [-1]] and r.indices.numpy().tolist() == [[1], [0]]  # first tie
    assert t(a).sum(1, keepdim=True).numpy().tolist() == [[3 * BIG + 4], [-7]]
    assert t(np.zeros((0,), np.int64)).sum().numpy() == 0 and t(np.zeros((0,), np.int64)).sum().dtype == "int64"
    assert t(np.zeros((0,), np.int64)).prod().numpy() == 1 and t(np.zeros((0,), np.int64)).prod().dtype == "int64"
    assert t(a).mean().dtype == "float32"  # torch refuses int64 mean; minidiff gives float32


@pytest.mark.parametrize(
    "shapes",
    [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,))],
)
def test_int64_matmul_is_exact_int64(shapes):
    a = ints(*shapes[0], seed=3) - BIG + 2**30  # products near 2^60: exact in int64, not in float
    b = ints(*shapes[1], seed=4) - BIG + 2**29
    got = t(a) @ t(b)
    assert got.dtype == "int64"
    np.testing.assert_array_equal(got.numpy(), np.matmul(a, b))
    np.testing.assert_array_equal(md.matmul(t(a), t(b)).numpy(), np.matmul(a, b))


def test_int64_matmul_wraps_empty_and_large_blocks():
    big = np.full((2, 3), 2**62, np.int64)
    np.testing.assert_array_equal((t(big) @ t(np.full((3, 1), 4, np.int64))).numpy(), np.zeros((2, 1), np.int64))
    assert (t(np.zeros((0, 3))) @ t(np.zeros((3, 2)))).shape == (0, 2)
    np.testing.assert_array_equal((t(np.zeros((2, 0))) @ t(np.zeros((0, 3)))).numpy(), np.zeros((2, 3), np.int64))
    # more rows than one block of products (2^22) holds: the blocks meet exactly
    a, b = ints(300, 200, seed=5, lo=-9, hi=9) - BIG, ints(200, 150, seed=6, lo=-9, hi=9) - BIG
    np.testing.assert_array_equal((t(a) @ t(b)).numpy(), a @ b)
    with pytest.raises(TypeError, match="matmul"):
        t(a) @ md.ones(200, 2)


def test_int64_einsum_is_exact_int64():
    a, b = ints(2, 3, 4, seed=7) - BIG + 2**30, ints(2, 4, 5, seed=8) - BIG + 2**29
    got = md.einsum("bij,bjk->bik", t(a), t(b))
    assert got.dtype == "int64"
    np.testing.assert_array_equal(got.numpy(), np.einsum("bij,bjk->bik", a, b))
    np.testing.assert_array_equal(md.einsum("bij,bij->b", t(a), t(a)).numpy(), np.einsum("bij,bij->b", a, a))
    np.testing.assert_array_equal(md.einsum("ii->i", t(a[0, :3, :3])).numpy(), np.diagonal(a[0, :3, :3]))
