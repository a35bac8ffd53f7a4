"""The names of minidiff/tensor_scatter.py: scatter / index updates against NumPy's ``ufunc.at``
and finite differences (no torch needed), then against PyTorch for values and gradients (ties,
duplicates, include_self, negative dims, empty indices); selection, searching and counting against
NumPy and torch; random sampling checked statistically with fixed seeds, for determinism, shapes and
dtypes; bad input raising errors that name the op."""

import numpy as np
import pytest
from gradcheck import check_grads

import minidiff as md

RNG = np.random.default_rng(0)

UFUNC = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def scatter_ref(x, dim, index, src, reduce, include_self=True):
    """NumPy's scatter_reduce: every index position's destination, then ufunc.at (float64)."""
    out = x.astype(np.float64).copy()
    dest = list(np.indices(index.shape))
    dest[dim] = index
    dest = tuple(dest)
    sel = src[tuple(slice(0, n) for n in index.shape)].astype(np.float64)
    count = np.ones(x.shape) if include_self else np.zeros(x.shape)
    if not include_self:
        reached = np.zeros(x.shape, bool)
        reached[dest] = True
        ident = {"sum": 0.0, "mean": 0.0, "prod": 1.0, "amax": -np.inf, "amin": np.inf}[reduce]
        out[reached] = ident
    np.add.at(count, dest, 1)
    UFUNC["sum" if reduce == "mean" else reduce].at(out, dest, sel)
    if reduce == "mean":
        out = out / np.maximum(count, 1)
    return out


def arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ---- scatter family against NumPy and finite differences


@pytest.mark.parametrize("shape,dim,ishape", [((5,), 0, (7,)), ((4, 6), 1, (3, 9)), ((3, 4, 5), -2, (2, 7, 4))])
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_numpy(shape, dim, ishape, reduce, include_self):
    x = arr(*shape)
    d = dim % len(shape)
    ishape_fit = tuple(min(i, s) if k != d else i for k, (i, s) in enumerate(zip(ishape, shape)))
    src = arr(*(i + 1 for i in ishape_fit))
    index = RNG.integers(0, shape[d], ishape_fit)
    got = md.scatter_reduce(md.tensor(x), dim, md.tensor(index), md.tensor(src), reduce, include_self=include_self)
    np.testing.assert_allclose(got.numpy(), scatter_ref(x, d, index, src, reduce, include_self), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax"])
def test_scatter_reduce_gradients_by_finite_differences(reduce):
    x, src = arr(3, 4), arr(4, 4)
    index = np.array([[0, 1, 2, 0], [2, 2, 1, 0], [0, 0, 0, 1], [1, 2, 0, 2]])
    fn = lambda a, s: md.scatter_reduce(a, 0, md.tensor(index), s, reduce, include_self=False)  # noqa: E731
    check_grads(fn, [x, src])
    check_grads(lambda a, s: md.scatter_add(a, -1, md.tensor(index[:3]), s), [x, src])


def test_scatter_add_large_skewed_groups_match_numpy():
    # one destination takes most of the elements, others few: the padded groups of several widths
    n = 5000
    index = np.where(RNG.random(n) < 0.7, 3, RNG.integers(0, 50, n))
    src = arr(n)
    x = arr(50)
    got = md.zeros(50).scatter_add(0, md.tensor(index), md.tensor(src)) + md.tensor(x)
    want = x.astype(np.float64).copy()
    np.add.at(want, index, src)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-4)
    counts = md.bincount(md.tensor(index), md.tensor(np.ones(n, np.float32)), minlength=60)
    np.testing.assert_array_equal(counts.numpy(), np.bincount(index, minlength=60))


def test_scatter_add_gradient_is_the_gather_of_the_upstream_gradient():
    x, src = md.tensor(arr(4, 3), requires_grad=True), md.tensor(arr(6, 3), requires_grad=True)
    index = RNG.integers(0, 4, (6, 3))
    out = x.scatter_add(0, md.tensor(index), src)
    g = arr(4, 3)
    out.backward(md.tensor(g))
    np.testing.assert_array_equal(x.grad.numpy(), g)
    np.testing.assert_array_equal(src.grad.numpy(), np.take_along_axis(g, index, 0))


def test_scatter_int64_is_exact_and_mean_floors():
    big = 2**40
    x = md.tensor(np.array([big, 1, -4], np.int64))
    index = md.tensor(np.array([0, 0, 2, 2]))
    src = md.tensor(np.array([3, big, 1, 1], np.int64))
    np.testing.assert_array_equal(x.scatter_add(0, index, src).numpy(), [2 * big + 3, 1, -2])
    np.testing.assert_array_equal(x.scatter_reduce(0, index, src, "amax").numpy(), [big, 1, 1])
    np.testing.assert_array_equal(x.scatter_reduce(0, index, src, "mean").numpy(), [(2 * big + 3) // 3, 1, -1])
    assert x.scatter_add(0, index, src).dtype == "int64"


def test_scatter_writes_src_or_value():
    x = arr(3, 4)
    index = np.array([[2, 0, 1, 2], [0, 1, 2, 0]])  # unique along dim 0 per column
    src = arr(2, 4)
    want = x.copy()
    np.put_along_axis(want, index, src, 0)
    np.testing.assert_array_equal(md.scatter(md.tensor(x), 0, md.tensor(index), md.tensor(src)).numpy(), want)
    want = x.copy()
    np.put_along_axis(want, index, 7.5, 0)
    np.testing.assert_array_equal(md.tensor(x).scatter(0, md.tensor(index), 7.5).numpy(), want)
    np.testing.assert_array_equal(md.tensor(x).scatter(0, md.tensor(index), value=7.5).numpy(), want)
    legacy = md.tensor(x).scatter(0, md.tensor(index), 2.0, reduce="multiply").numpy()
    want = x.copy()
    np.multiply.at(want, (index, np.arange(4)[None].repeat(2, 0)), 2.0)
    np.testing.assert_allclose(legacy, want)


def test_index_ops_match_numpy_with_gradients():
    x, source = arr(5, 3), arr(4, 3)
    index = np.array([4, 0, 4, 2])
    want = x.astype(np.float64).copy()
    np.add.at(want, index, 2.0 * source)
    got = md.tensor(x).index_add(0, md.tensor(index), md.tensor(source), alpha=2.0)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    check_grads(lambda a, s: md.index_add(a, 0, md.tensor(index), s, alpha=-1.5), [x, source])
    check_grads(lambda a, s: md.index_add(a, 1, md.tensor(np.array([2, 2, 0])), s), [arr(2, 3), arr(2, 3)])
    check_grads(lambda a, s: md.index_reduce(a, 0, md.tensor(index), s, "prod"), [x, source])
    check_grads(lambda a, v: md.index_fill(a, -1, md.tensor(np.array([0, -1])), v), [x, np.float32(0.5)])
    uniq = np.array([3, 0, 1])
    want = x.copy()
    want[uniq] = source[:3]
    np.testing.assert_array_equal(md.index_copy(md.tensor(x), 0, md.tensor(uniq), md.tensor(source[:3])).numpy(), want)


def test_selection_ops_match_numpy():
    x = arr(3, 4)
    mask = RNG.random((3, 4)) > 0.5
    np.testing.assert_array_equal(md.masked_select(md.tensor(x), md.tensor(mask.astype(np.float32))).numpy(), x[mask])
    np.testing.assert_array_equal(md.tensor(x).masked_select(mask[0]).numpy(), x[np.broadcast_to(mask[0], (3, 4))])
    source = arr(12)
    want = x.copy()
    want[mask] = source[: mask.sum()]
    np.testing.assert_array_equal(md.masked_scatter(md.tensor(x), mask, md.tensor(source)).numpy(), want)
    index = np.array([[0, -1], [5, 11]])
    np.testing.assert_array_equal(md.take(md.tensor(x), md.tensor(index)).numpy(), np.take(x, index))
    ind = RNG.integers(0, 4, (3, 2))
    np.testing.assert_array_equal(
        md.take_along_dim(md.tensor(x), md.tensor(ind), 1).numpy(), np.take_along_axis(x, ind, 1)
    )
    np.testing.assert_array_equal(
        md.take_along_dim(md.tensor(x), md.tensor(ind)).numpy(), x.reshape(-1)[ind.reshape(-1)]
    )
    want = x.copy().reshape(-1)
    np.add.at(want, [1, 1, -1], [1.0, 2.0, 3.0])
    got = md.tensor(x).put(md.tensor(np.array([1, 1, -1])), md.tensor(np.array([1.0, 2.0, 3.0], np.float32)), True)
    np.testing.assert_allclose(got.numpy().reshape(-1), want, rtol=1e-6)
    check_grads(lambda a: md.masked_select(a, mask), [x])
    check_grads(lambda a, s: md.masked_scatter(a, mask, s), [x, source])
    check_grads(lambda a: md.take_along_dim(a, md.tensor(ind), 1), [x])
    np.testing.assert_array_equal(md.argwhere(md.tensor(x * mask)).numpy(), np.argwhere(x * mask))


def test_searching_and_counting_match_numpy():
    seq = np.sort(arr(10))
    v = np.concatenate([arr(7), seq[[0, 3, 9]]])
    for right in (False, True):
        side = "right" if right else "left"
        want = np.searchsorted(seq, v, side=side)
        np.testing.assert_array_equal(md.searchsorted(md.tensor(seq), md.tensor(v), right=right).numpy(), want)
        np.testing.assert_array_equal(md.searchsorted(md.tensor(seq), md.tensor(v), side=side).numpy(), want)
        np.testing.assert_array_equal(md.bucketize(md.tensor(v), md.tensor(seq), right=right).numpy(), want)
    out = md.searchsorted(md.tensor(seq), 0.25)
    assert out.shape == () and out.dtype == "int64" and out.item() == np.searchsorted(seq, 0.25)
    a = RNG.integers(-3, 3, (4, 5))
    values, inverse, counts = md.unique(md.tensor(a), return_inverse=True, return_counts=True)
    wv, wi, wc = np.unique(a, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(values.numpy(), wv)
    np.testing.assert_array_equal(inverse.numpy(), wi.reshape(a.shape))
    np.testing.assert_array_equal(counts.numpy(), wc)
    x = md.tensor(np.array([1, 1, 2, 2, 3, 1, 1, 2]))
    vals, inv, cnt = x.unique_consecutive(return_inverse=True, return_counts=True)
    assert vals.tolist() == [1, 2, 3, 1, 2] and cnt.tolist() == [2, 2, 1, 2, 1]
    assert inv.tolist() == [0, 0, 1, 1, 2, 3, 3, 4]
    b = RNG.integers(0, 6, 30)
    np.testing.assert_array_equal(md.bincount(md.tensor(b), minlength=9).numpy(), np.bincount(b, minlength=9))
    w = arr(30)
    np.testing.assert_allclose(md.bincount(md.tensor(b), md.tensor(w)).numpy(), np.bincount(b, w), rtol=1e-5, atol=1e-6)
    check_grads(lambda ww: md.bincount(md.tensor(b), ww, minlength=8), [w])
    assert md.bincount(md.tensor(np.zeros(0, np.int64))).shape == (0,)


def test_empty_indices_leave_the_tensor_unchanged():
    x = md.tensor(arr(3, 4), requires_grad=True)
    empty = md.tensor(np.zeros((0, 4), np.int64))
    for out in (
        x.scatter_add(0, empty, md.zeros((2, 4))),
        x.scatter_reduce(0, empty, md.zeros((2, 4)), "amax"),
        x.scatter(0, empty, 1.0),
        x.index_add(1, md.tensor(np.zeros(0, np.int64)), md.zeros((3, 0))),
    ):
        np.testing.assert_array_equal(out.numpy(), x.detach().numpy())
        assert out.requires_grad
    assert md.take(x, md.tensor(np.zeros((0, 2), np.int64))).shape == (0, 2)
    assert md.masked_select(x, md.zeros((3, 4))).shape == (0,)


def test_in_place_variants_write_into_self():
    x = md.zeros(3, 2)
    view = x[0]
    index = md.tensor(np.array([[0, 1], [0, 0]]))
    assert x.scatter_add_(0, index, md.ones(2, 2)) is x
    np.testing.assert_array_equal(x.numpy(), [[2, 1], [0, 1], [0, 0]])
    np.testing.assert_array_equal(view.numpy(), [2, 1])  # views see it, as torch's
    x.index_fill_(0, md.tensor(np.array([2])), 5.0)
    x.scatter_(1, md.tensor(np.array([[1], [0], [0]])), -1.0)
    np.testing.assert_array_equal(x.numpy(), [[2, -1], [-1, 1], [-1, 5]])
    x.put_(md.tensor(np.array([0])), md.tensor(np.array([9.0], np.float32)))
    x.masked_scatter_(x < 0, md.tensor(np.array([7.0, 8.0, 9.0], np.float32)))
    np.testing.assert_array_equal(x.numpy(), [[9, 7], [8, 1], [9, 5]])
    leaf = md.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="index_add_"):
        leaf.index_add_(0, md.tensor(np.array([0])), md.ones(1))
    # inside the graph: the result and its history, gradient to both operands
    a = md.tensor(arr(3), requires_grad=True)
    s = md.tensor(arr(2), requires_grad=True)
    y = a * 1.0
    y.index_add_(0, md.tensor(np.array([1, 1])), s)
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1, 1, 1])
    np.testing.assert_array_equal(s.grad.numpy(), [1, 1])


def ix(*values):
    """An int64 index tensor."""
    return md.tensor(np.array(values, np.int64))


@pytest.mark.parametrize(
    "call,error,words",
    [
        (lambda: md.zeros(3).scatter_add(0, ix(3), md.ones(1)), IndexError, "scatter_add.*out of bounds"),
        (lambda: md.zeros(3).scatter_add(0, ix(-1), md.ones(1)), IndexError, "scatter_add"),
        (lambda: md.zeros(3).scatter_add(0, md.tensor(np.array([0.0], np.float32)), md.ones(1)), TypeError, "int64"),
        (lambda: md.zeros(3, 2).scatter_add(0, ix(0), md.ones(1)), ValueError, r"\(1,\).*\(3, 2\)"),
        (lambda: md.zeros(2, 2).scatter_add(0, ix(*[[0] * 3] * 2), md.ones(2, 3)), ValueError, "no larger"),
        (lambda: md.zeros(3).scatter_add(0, ix(0), md.tensor(np.array([1]))), TypeError, "dtype"),
        (lambda: md.zeros(3).scatter_reduce(0, ix(0), md.ones(1), "max"), ValueError, "amax"),
        (lambda: md.zeros(3).scatter(0, ix(0), 1.0, reduce="max"), ValueError, "scatter"),
        (lambda: md.zeros(3).scatter_add(2, ix(0), md.ones(1)), IndexError, "scatter_add"),
        (lambda: md.zeros(3, 2).index_add(0, ix(0, 1), md.ones(2, 3)), ValueError, r"index_add.*\(2, 3\)"),
        (lambda: md.zeros(3, 2).index_add(0, ix([0]), md.ones(1, 2)), IndexError, "vector"),
        (lambda: md.zeros(3).index_copy(0, ix(5), md.ones(1)), IndexError, "index_copy"),
        (lambda: md.zeros(3).masked_select(md.tensor(np.array([0.5, 1, 0], np.float32))), TypeError, "masked_select"),
        (lambda: md.zeros(3).masked_select(md.ones(2)), ValueError, "masked_select"),
        (lambda: md.masked_scatter(md.zeros(3), md.ones(3), md.ones(2)), ValueError, "masked_scatter"),
        (lambda: md.take(md.zeros(3), ix(3)), IndexError, "take"),
        (lambda: md.searchsorted(md.zeros(3), md.zeros(2), right=True, side="left"), ValueError, "opposites"),
        (lambda: md.searchsorted(md.zeros(2, 3), md.zeros(3, 2)), ValueError, "searchsorted"),
        (lambda: md.bucketize(md.zeros(2), md.zeros(2), out_int32=True), TypeError, "int32"),
        (lambda: md.bincount(ix(-1)), ValueError, "bincount"),
        (lambda: md.bincount(md.zeros(2)), TypeError, "bincount"),
        (lambda: md.multinomial(md.tensor(np.array([1.0, 0.0], np.float32)), 2), ValueError, "multinomial"),
        (lambda: md.multinomial(md.tensor(np.array([1.0, -1.0], np.float32)), 1), ValueError, "multinomial"),
        (lambda: md.multinomial(md.zeros(2, 2, 2), 1), ValueError, "multinomial"),
        (lambda: md.normal(0.0, -1.0, (2,)), ValueError, "normal"),
        (lambda: md.normal(0.0, 1.0), TypeError, "size"),
        (lambda: md.bernoulli(md.full((2,), 1.5)), ValueError, "bernoulli"),
        (lambda: md.zeros(2).exponential_(0.0), ValueError, "exponential_"),
        (lambda: md.zeros(2).random_(5, 2), ValueError, "random_"),
    ],
)  # fmt: skip
def test_bad_input_raises_naming_the_op(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ---- random sampling: distributions, determinism, shapes


def test_multinomial_distribution_and_determinism():
    p = np.array([0.1, 0.0, 0.3, 0.6], np.float32)
    draws = md.multinomial(md.tensor(p * 5), 20000, replacement=True, generator=md.Generator(1))
    assert draws.shape == (20000,) and draws.dtype == "int64"
    freq = np.bincount(draws.numpy(), minlength=4) / 20000
    assert freq[1] == 0
    np.testing.assert_allclose(freq, p, atol=0.015)
    again = md.multinomial(md.tensor(p * 5), 20000, replacement=True, generator=md.Generator(1))
    np.testing.assert_array_equal(draws.numpy(), again.numpy())
    other = md.multinomial(md.tensor(p * 5), 20000, replacement=True, generator=md.Generator(2))
    assert not np.array_equal(draws.numpy(), other.numpy())
    # without replacement: distinct, zero-weight last, first draw distributed as p
    rows = md.tensor(np.tile(p, (4000, 1)))
    out = md.multinomial(rows, 3, generator=md.Generator(3)).numpy()
    assert out.shape == (4000, 3)
    assert all(len(set(r)) == 3 and 1 not in r for r in out)
    np.testing.assert_allclose(np.bincount(out[:, 0], minlength=4) / 4000, p, atol=0.03)
    # the second draw given the first is 3: the rest renormalised
    second = out[out[:, 0] == 3, 1]
    np.testing.assert_allclose(np.bincount(second, minlength=4)[[0, 2]] / len(second), [0.25, 0.75], atol=0.04)


def test_normal_forms_statistics_and_zero_gradient():
    g = md.Generator(5)
    x = md.normal(2.0, 3.0, (20000,), generator=g)
    assert x.shape == (20000,) and x.dtype == "float32"
    assert abs(x.numpy().mean() - 2.0) < 0.1 and abs(x.numpy().std() - 3.0) < 0.1
    mean = md.tensor(np.array([[-5.0], [5.0]], np.float32), requires_grad=True)
    std = md.tensor(np.array([0.5, 1.0, 2.0], np.float32), requires_grad=True)
    y = md.normal(mean, std, generator=md.Generator(0))
    assert y.shape == (2, 3) and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(mean.grad.numpy(), 0)
    np.testing.assert_array_equal(std.grad.numpy(), 0)
    big = md.normal(md.full((10000,), -1.0), 0.5, generator=md.Generator(1)).numpy()
    assert abs(big.mean() + 1.0) < 0.05 and abs(big.std() - 0.5) < 0.03
    a = md.normal(0.0, md.full((50,), 2.0), generator=md.Generator(9)).numpy()
    np.testing.assert_array_equal(a, md.normal(0.0, md.full((50,), 2.0), generator=md.Generator(9)).numpy())


def test_bernoulli_and_in_place_fills():
    p = md.tensor(np.array([0.0, 0.2, 0.9, 1.0] * 5000, np.float32), requires_grad=True)
    b = md.bernoulli(p, generator=md.Generator(4))
    assert b.shape == p.shape and b.dtype == "float32" and b.requires_grad
    freq = b.detach().numpy().reshape(-1, 4).mean(0)
    np.testing.assert_allclose(freq, [0.0, 0.2, 0.9, 1.0], atol=0.015)
    assert freq[0] == 0 and freq[3] == 1
    b.sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), 0)
    assert abs(md.bernoulli(md.zeros(10000), 0.3).numpy().mean() - 0.3) < 0.02
    t = md.zeros(20000)
    assert t.bernoulli_(0.25, generator=md.Generator(1)) is t and abs(t.numpy().mean() - 0.25) < 0.015
    t.bernoulli_(md.full((20000,), 0.75))
    assert abs(t.numpy().mean() - 0.75) < 0.015
    e = md.zeros(20000).exponential_(2.0, generator=md.Generator(2)).numpy()
    assert e.min() >= 0 and abs(e.mean() - 0.5) < 0.02 and abs(np.median(e) - np.log(2) / 2) < 0.02
    r = md.zeros(20000, dtype="int64").random_(3, 7, generator=md.Generator(3)).numpy()
    assert set(np.unique(r)) == {3, 4, 5, 6}
    np.testing.assert_allclose(np.bincount(r)[3:] / 20000, 0.25, atol=0.015)
    r = md.zeros(1000).random_(10).numpy()
    assert r.min() >= 0 and r.max() <= 9 and np.array_equal(r, np.round(r))
    geo = md.zeros(20000).geometric_(0.25, generator=md.Generator(4)).numpy()
    assert geo.min() >= 1 and abs(geo.mean() - 4.0) < 0.15
    c = md.zeros(20000).cauchy_(1.0, 2.0, generator=md.Generator(5)).numpy()
    assert abs(np.median(c) - 1.0) < 0.1 and abs(np.percentile(c, 75) - 3.0) < 0.15
    ln = md.zeros(20000).log_normal_(0.5, 0.25, generator=md.Generator(6)).numpy()
    assert abs(np.log(ln).mean() - 0.5) < 0.01 and abs(np.log(ln).std() - 0.25) < 0.01
    fill1 = md.zeros(100).exponential_(generator=md.Generator(7)).numpy()
    np.testing.assert_array_equal(fill1, md.zeros(100).exponential_(generator=md.Generator(7)).numpy())
    with pytest.raises(RuntimeError, match="bernoulli_"):
        md.zeros(3, requires_grad=True).bernoulli_()


# ---- against torch


def _pair(torch, a, requires_grad=True):
    return md.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def _compare(torch, got, want, grads, rtol=1e-5, atol=1e-6):
    g = RNG.standard_normal(tuple(want.shape)).astype(np.float32)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=rtol, atol=atol)
    got.backward(md.tensor(g))
    want.backward(torch.tensor(g))
    for m, t in grads:
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)


CASES = [
    ((6,), 0, (9,)),
    ((3, 5), 0, (4, 5)),
    ((3, 5), -1, (3, 8)),
    ((2, 3, 4), 1, (2, 5, 4)),
    ((4, 2, 3), -3, (2, 2, 3)),
]


@pytest.mark.parametrize("shape,dim,ishape", CASES)
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_matches_torch(shape, dim, ishape, reduce, include_self):
    torch = pytest.importorskip("torch")
    # small integers make ties, which amax/amin split the gradient between
    x = RNG.integers(-2, 3, shape).astype(np.float32)
    src = RNG.integers(-2, 3, ishape).astype(np.float32)
    if reduce == "prod":
        x, src = arr(*shape), arr(*ishape)
    if not include_self:
        # torch counts an excluded self element equal to the result among the ties (then drops its
        # share), so the src shares do not add up to the gradient; ours split it between src only
        x = x + 0.5
    index = RNG.integers(0, shape[dim], ishape)
    (mx, tx), (ms, ts) = _pair(torch, x), _pair(torch, src)
    got = mx.scatter_reduce(dim, md.tensor(index), ms, reduce, include_self=include_self)
    want = tx.scatter_reduce(dim, torch.tensor(index), ts, reduce, include_self=include_self)
    _compare(torch, got, want, [(mx, tx), (ms, ts)])


@pytest.mark.parametrize("shape,dim,ishape", CASES)
def test_scatter_add_and_scatter_match_torch(shape, dim, ishape):
    torch = pytest.importorskip("torch")
    x, src = arr(*shape), arr(*ishape)
    index = RNG.integers(0, shape[dim], ishape)
    (mx, tx), (ms, ts) = _pair(torch, x), _pair(torch, src)
    _compare(torch, md.scatter_add(mx, dim, md.tensor(index), ms), torch.scatter_add(tx, dim, torch.tensor(index), ts),
             [(mx, tx), (ms, ts)])  # fmt: skip
    # unique indices along dim (torch's scatter with repeats is nondeterministic)
    n = shape[dim]
    perm = np.argsort(RNG.random(tuple(n if k == (dim % len(shape)) else s for k, s in enumerate(ishape))), axis=dim)
    uniq = np.take(perm, np.arange(min(n, ishape[dim])), axis=dim)
    small = src[tuple(slice(0, s) for s in uniq.shape)].copy()
    (mx, tx), (ms, ts) = _pair(torch, x), _pair(torch, small)
    _compare(torch, md.scatter(mx, dim, md.tensor(uniq), ms), torch.scatter(tx, dim, torch.tensor(uniq), ts),
             [(mx, tx), (ms, ts)])  # fmt: skip
    (mx, tx) = _pair(torch, x)
    _compare(torch, mx.scatter(dim, md.tensor(uniq), -2.5), tx.scatter(dim, torch.tensor(uniq), -2.5), [(mx, tx)])


def test_scatter_0d_and_legacy_reduce_match_torch():
    torch = pytest.importorskip("torch")
    got = md.zeros(()).scatter(0, md.tensor(np.array(0)), md.tensor(np.float32(5.0)))
    assert got.shape == () and got.item() == 5.0
    x, index = arr(3, 4), RNG.integers(0, 3, (2, 4))
    for reduce in ("add", "multiply"):
        got = md.tensor(x).scatter(0, md.tensor(index), 1.5, reduce=reduce).numpy()
        want = torch.tensor(x).scatter(0, torch.tensor(index), 1.5, reduce=reduce).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta")
@pytest.mark.parametrize("shape,dim", [((5,), 0), ((5, 3), 0), ((2, 5, 3), 1), ((3, 2, 5), -1)])
def test_index_ops_match_torch(shape, dim):
    torch = pytest.importorskip("torch")
    n = shape[dim]
    index = RNG.integers(0, n, 7)  # repeats
    sshape = tuple(7 if k == dim % len(shape) else s for k, s in enumerate(shape))
    x, source = RNG.integers(-2, 3, shape).astype(np.float32), RNG.integers(-2, 3, sshape).astype(np.float32)
    ti = torch.tensor(index)
    (mx, tx), (ms, ts) = _pair(torch, x), _pair(torch, source)
    _compare(torch, mx.index_add(dim, md.tensor(index), ms, alpha=0.5), tx.index_add(dim, ti, ts, alpha=0.5),
             [(mx, tx), (ms, ts)])  # fmt: skip
    for reduce in ("prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            xs, ss = (arr(*shape), arr(*sshape)) if reduce == "prod" else (x, source)
            xs = xs if include_self else xs + 0.5  # no tie with an excluded self (see scatter_reduce's test)
            (mx, tx), (ms, ts) = _pair(torch, xs), _pair(torch, ss)
            got = mx.index_reduce(dim, md.tensor(index), ms, reduce, include_self=include_self)
            want = tx.index_reduce(dim, ti, ts, reduce, include_self=include_self)
            _compare(torch, got, want, [(mx, tx), (ms, ts)])
    uniq = RNG.permutation(n)[: min(n, 3)]
    cshape = tuple(len(uniq) if k == dim % len(shape) else s for k, s in enumerate(shape))
    (mx, tx), (ms, ts) = _pair(torch, x), _pair(torch, arr(*cshape))
    _compare(torch, mx.index_copy(dim, md.tensor(uniq), ms), tx.index_copy(dim, torch.tensor(uniq), ts),
             [(mx, tx), (ms, ts)])  # fmt: skip
    (mx, tx), (mv, tv) = _pair(torch, x), _pair(torch, np.float32(3.0))
    fill = np.array([0, n - 1, 0])  # torch's backward fails on the negative indices its forward takes
    negative = mx.index_fill(dim, md.tensor(np.array([-1])), 3.0).detach().numpy()
    np.testing.assert_array_equal(negative, tx.index_fill(dim, torch.tensor([-1]), 3.0).detach().numpy())
    _compare(torch, mx.index_fill(dim, md.tensor(fill), mv), tx.index_fill(dim, torch.tensor(fill), tv),
             [(mx, tx), (mv, tv)])  # fmt: skip


def test_selection_ops_match_torch():
    torch = pytest.importorskip("torch")
    x = arr(2, 3, 4)
    mask = RNG.random((3, 4)) > 0.4
    (mx, tx) = _pair(torch, x)
    _compare(
        torch, mx.masked_select(md.tensor(mask.astype(np.float32))), tx.masked_select(torch.tensor(mask)), [(mx, tx)]
    )
    (mx, tx), (ms, ts) = _pair(torch, x), _pair(torch, arr(30))
    _compare(torch, mx.masked_scatter(mask, ms), tx.masked_scatter(torch.tensor(mask), ts), [(mx, tx), (ms, ts)])
    index = RNG.integers(-24, 24, (3, 5))
    (mx, tx) = _pair(torch, x)
    _compare(torch, mx.take(md.tensor(index)), tx.take(torch.tensor(index)), [(mx, tx)])
    for dim, ishape in ((1, (2, 6, 1)), (-1, (1, 3, 7)), (None, (4, 5))):
        idx = RNG.integers(-x.shape[dim if dim is not None else 0], x.shape[dim if dim is not None else 0], ishape)
        if dim is None:
            idx = RNG.integers(0, 24, ishape)
        (mx, tx) = _pair(torch, x)
        _compare(torch, md.take_along_dim(mx, md.tensor(idx), dim), torch.take_along_dim(tx, torch.tensor(idx), dim),
                 [(mx, tx)])  # fmt: skip
    for accumulate in (False, True):
        put_index = np.array([3, -1, 7, 0]) if not accumulate else np.array([3, 3, -1, 23])
        (mx, tx), (ms, ts) = _pair(torch, x), _pair(torch, arr(2, 2))
        _compare(torch, mx.put(md.tensor(put_index), ms, accumulate), tx.put(torch.tensor(put_index), ts, accumulate),
                 [(mx, tx), (ms, ts)])  # fmt: skip
    z = (RNG.random((3, 4)) > 0.5).astype(np.float32)
    np.testing.assert_array_equal(md.tensor(z).argwhere().numpy(), torch.argwhere(torch.tensor(z)).numpy())


def test_searching_and_unique_match_torch():
    torch = pytest.importorskip("torch")
    seq = np.sort(RNG.integers(0, 6, (3, 8)).astype(np.float32), axis=-1)  # repeats
    v = RNG.integers(-1, 7, (3, 5)).astype(np.float32)
    for kw in ({}, {"right": True}, {"side": "right"}, {"side": "left"}):
        got = md.searchsorted(md.tensor(seq), md.tensor(v), **kw).numpy()
        np.testing.assert_array_equal(got, torch.searchsorted(torch.tensor(seq), torch.tensor(v), **kw).numpy())
        got = md.searchsorted(md.tensor(seq[0]), md.tensor(v), **kw).numpy()
        np.testing.assert_array_equal(got, torch.searchsorted(torch.tensor(seq[0]), torch.tensor(v), **kw).numpy())
    unsorted = RNG.standard_normal(6).astype(np.float32)
    sorter = np.argsort(unsorted)
    got = md.searchsorted(md.tensor(unsorted), md.tensor(v), sorter=md.tensor(sorter)).numpy()
    want = torch.searchsorted(torch.tensor(unsorted), torch.tensor(v), sorter=torch.tensor(sorter)).numpy()
    np.testing.assert_array_equal(got, want)
    for right in (False, True):
        got = md.bucketize(md.tensor(v), md.tensor(seq[1]), right=right).numpy()
        np.testing.assert_array_equal(got, torch.bucketize(torch.tensor(v), torch.tensor(seq[1]), right=right).numpy())
    a = RNG.integers(0, 3, (4, 3)).astype(np.float32)
    a[2] = a[0]
    for dim in (None, 0, 1):
        for inv in (False, True):
            for cnt in (False, True):
                got = md.unique(md.tensor(a), return_inverse=inv, return_counts=cnt, dim=dim)
                want = torch.unique(torch.tensor(a), return_inverse=inv, return_counts=cnt, dim=dim)
                got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
                assert len(got) == len(want)
                for g, w in zip(got, want):
                    np.testing.assert_array_equal(g.numpy(), w.numpy())
                got = md.unique_consecutive(md.tensor(a), return_inverse=inv, return_counts=cnt, dim=dim)
                want = torch.unique_consecutive(torch.tensor(a), return_inverse=inv, return_counts=cnt, dim=dim)
                got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
                for g, w in zip(got, want):
                    np.testing.assert_array_equal(g.numpy(), w.numpy())
    b = RNG.integers(0, 5, 20)
    np.testing.assert_array_equal(
        md.bincount(md.tensor(b), minlength=7).numpy(), torch.bincount(torch.tensor(b), minlength=7).numpy()
    )
    h = arr(200)
    w = np.abs(arr(200))
    for kw in ({"bins": 6}, {"bins": 4, "range": (-1.0, 2.0), "density": True}):
        got = md.histogram(md.tensor(h), weight=md.tensor(w), **kw)
        want = torch.histogram(torch.tensor(h), weight=torch.tensor(w), **kw)
        np.testing.assert_allclose(got.hist.numpy(), want.hist.numpy(), rtol=1e-5)
        np.testing.assert_array_equal(got.bin_edges.numpy(), want.bin_edges.numpy())
    edges = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    got = md.histogram(md.tensor(h), md.tensor(edges.numpy()))
    np.testing.assert_array_equal(got.hist.numpy(), torch.histogram(torch.tensor(h), edges).hist.numpy())


def test_sampling_gradients_match_torch():
    torch = pytest.importorskip("torch")
    # torch's normal and bernoulli are not reparameterised: a zero gradient, and a result in the graph
    for mdfn, tfn in ((lambda m: md.normal(m, 1.0), lambda m: torch.normal(m, 1.0)),
                      (lambda p: md.bernoulli(p), lambda p: torch.bernoulli(p))):  # fmt: skip
        mp, tp = _pair(torch, np.full(4, 0.5, np.float32))
        got, want = mdfn(mp), tfn(tp)
        assert got.requires_grad == want.requires_grad
        got.sum().backward()
        want.sum().backward()
        np.testing.assert_array_equal(mp.grad.numpy(), tp.grad.numpy())


# ---- CUDA against the CPU (skipped without a device)


@pytest.mark.cuda
@pytest.mark.skipif(not md.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x, src = arr(4, 5), arr(6, 5)
    index = RNG.integers(0, 4, (6, 5))
    results = {}
    for device in ("cpu", "cuda"):
        a = md.tensor(x, device=device, requires_grad=True)
        s = md.tensor(src, device=device, requires_grad=True)
        i = md.tensor(index, device=device)
        out = a.scatter_reduce(0, i, s, "amax") + a.scatter_add(0, i, s) + a.index_add(0, i[:, 0], s)
        out = md.masked_scatter(out, out > 0, s.reshape(-1)) * 1.0
        out.sum().backward()
        picked = md.masked_select(out, out > 0)
        results[device] = [out.detach().cpu().numpy(), a.grad.cpu().numpy(), s.grad.cpu().numpy(), picked.cpu().numpy()]
        results[device].append(md.multinomial(a.detach().abs(), 3, generator=md.Generator(1)).cpu().numpy())
        results[device].append(md.searchsorted(md.tensor(np.sort(x[0]), device=device), a.detach()).cpu().numpy())
    for c, g in zip(results["cpu"], results["cuda"]):
        np.testing.assert_allclose(c, g, rtol=1e-5, atol=1e-6)
