"""The names of minidiff/tensor_math.py against NumPy (values) and PyTorch (gradients, and the
semantics NumPy does not share): rounding at ties, NaN, inf and past 2^23; % and // with either
sign; norms with zero gradient at zero; logsumexp of -inf rows; shape ops; sort/topk with ties and
NaN; nonzero; boolean-mask reads and writes; NumPy's axis=/keepdims= spellings."""

import numpy as np
import pytest

import minidiff as md


def rng(seed=0):
    return np.random.default_rng(seed)


EDGES = np.array(
    [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49999997, -0.49999997, 1e-8, 3.7, -3.7, 8388607.5, -8388607.5,
     8388608.0, 1e10, -1e10, np.inf, -np.inf, np.nan],
    dtype=np.float32,
)  # fmt: skip


@pytest.mark.parametrize(
    "name,ref",
    [("floor", np.floor), ("ceil", np.ceil), ("trunc", np.trunc), ("round", np.round),
     ("sign", lambda a: np.where(np.isnan(a), 0.0, np.sign(a)))],  # torch's sign(NaN) is 0
)  # fmt: skip
def test_rounding_matches_numpy_at_the_edges(name, ref):
    x = np.concatenate([EDGES, (rng(1).standard_normal(200) * 10).astype(np.float32)])
    got = getattr(md, name)(md.tensor(x)).numpy()
    want = ref(x)
    np.testing.assert_array_equal(got, want)  # exact, NaN where NaN
    assert np.array_equal(getattr(md.tensor(x), name)().numpy(), got, equal_nan=True)  # the method


def test_round_decimals_and_frac():
    x = np.array([1.2345, -2.5551, 10.05], dtype=np.float32)
    got = md.round(md.tensor(x), decimals=2).numpy()
    want = np.round(x.astype(np.float32) * np.float32(100)) / np.float32(100)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(md.frac(md.tensor(x)).numpy(), x - np.trunc(x), rtol=1e-6)


def test_rounding_of_int64_is_the_input():
    t = md.tensor(np.array([-3, 0, 7]))
    for name in ("floor", "ceil", "trunc", "round"):
        assert getattr(md, name)(t).dtype == "int64"
        np.testing.assert_array_equal(getattr(md, name)(t).numpy(), [-3, 0, 7])
    np.testing.assert_array_equal(md.sign(t).numpy(), [-1, 0, 1])


@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round", "sign"])
def test_rounding_has_zero_gradient(name):
    x = md.tensor(np.array([0.3, -1.7, 2.5], dtype=np.float32), requires_grad=True)
    y = getattr(md, name)(x)
    assert y.requires_grad
    (y * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    with md.no_grad():
        assert not getattr(md, name)(x).requires_grad


@pytest.mark.parametrize("b", [3.0, -3.0, 0.75, -1.25])
def test_remainder_floor_divide_fmod_match_numpy(b):
    a = np.concatenate([(rng(2).standard_normal(100) * 7).astype(np.float32), [0.0, -6.0, 6.0, 7.5]]).astype(np.float32)
    t = md.tensor(a)
    np.testing.assert_allclose((t % b).numpy(), np.mod(a, np.float32(b)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal((t // b).numpy(), np.floor_divide(a, np.float32(b)))
    np.testing.assert_allclose(md.fmod(t, b).numpy(), np.fmod(a, np.float32(b)), rtol=1e-5, atol=1e-5)
    # tensor on the right, and tensor-tensor
    np.testing.assert_allclose((10.0 % md.tensor(np.abs(a) + 1)).numpy(), np.mod(10.0, np.abs(a) + 1), rtol=1e-5)
    bb = np.full_like(a, b)
    np.testing.assert_allclose(md.remainder(t, md.tensor(bb)).numpy(), np.mod(a, bb), rtol=1e-5, atol=1e-5)


def test_int64_floor_division_and_remainder_stay_int64():
    t = md.tensor(np.array([-7, -1, 0, 5, 9]))
    q, r = t // 3, t % 3
    assert q.dtype == "int64" and r.dtype == "int64"
    np.testing.assert_array_equal(q.numpy(), np.array([-7, -1, 0, 5, 9]) // 3)
    np.testing.assert_array_equal(r.numpy(), np.array([-7, -1, 0, 5, 9]) % 3)


def test_remainder_gradients_match_torch():
    torch = pytest.importorskip("torch")
    a = (rng(3).standard_normal(20) * 5).astype(np.float32)
    b = (np.abs(rng(4).standard_normal(20)) + 0.5).astype(np.float32)
    ta, tb = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    (md.remainder(ta, tb) * md.tensor(np.arange(20, dtype=np.float32))).sum().backward()
    xa, xb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (torch.remainder(xa, xb) * torch.arange(20.0)).sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), xa.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(tb.grad.numpy(), xb.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    "p,dim,keepdim",
    [("fro", None, False), (2, 1, False), (2, (0, 2), True), (1, -1, False), (float("inf"), 1, True),
     (float("-inf"), None, False), (3, 1, False), (0.5, 2, False), (0, 1, False)],
)  # fmt: skip
def test_norm_values_and_gradients_match_torch(p, dim, keepdim):
    torch = pytest.importorskip("torch")
    x = rng(5).standard_normal((3, 4, 5)).astype(np.float32)
    x[0, 1, :] = 0.0
    t = md.tensor(x, requires_grad=True)
    y = md.norm(t, p=p, dim=dim, keepdim=keepdim)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.norm(tx, p=p, dim=dim, keepdim=keepdim)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    if p not in (0,):
        g = rng(6).standard_normal(ty.shape).astype(np.float32)
        y.backward(md.tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_norm_of_zeros_has_zero_gradient_and_the_method_form():
    t = md.zeros((4,), requires_grad=True)
    n = t.norm()
    assert float(n) == 0.0
    n.backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros(4))
    x = md.tensor(np.array([[3.0, 4.0]], dtype=np.float32))
    assert float(x.norm(dim=1)[0]) == pytest.approx(5.0)


def test_logsumexp_matches_torch_with_infinite_rows():
    torch = pytest.importorskip("torch")
    x = (rng(7).standard_normal((3, 5)) * 30).astype(np.float32)
    x[1, :] = -np.inf
    x[2, 0] = np.inf
    for dim, keepdim in ((1, False), (0, True), ((0, 1), False)):
        got = md.logsumexp(md.tensor(x), dim, keepdim).numpy()
        want = torch.logsumexp(torch.tensor(x), dim, keepdim).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5)
    y = (rng(8).standard_normal((2, 6)) * 50).astype(np.float32)
    t, ty = md.tensor(y, requires_grad=True), torch.tensor(y, requires_grad=True)
    md.logsumexp(t, 1).sum().backward()
    torch.logsumexp(ty, 1).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), ty.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_roll_tril_triu_diag_match_numpy():
    x = rng(9).standard_normal((3, 4)).astype(np.float32)
    t = md.tensor(x)
    np.testing.assert_array_equal(md.roll(t, 1, 0).numpy(), np.roll(x, 1, 0))
    np.testing.assert_array_equal(t.roll((-1, 6), (0, 1)).numpy(), np.roll(x, (-1, 6), (0, 1)))
    np.testing.assert_array_equal(md.roll(t, 5).numpy(), np.roll(x, 5))
    for k in (-2, 0, 1, 5):
        np.testing.assert_array_equal(md.tril(t, k).numpy(), np.tril(x, k))
        np.testing.assert_array_equal(t.triu(k).numpy(), np.triu(x, k))
    nan = x.copy()
    nan[0, 3] = np.nan
    assert md.tril(md.tensor(nan)).numpy()[0, 3] == 0.0  # masked, not multiplied
    for k in (-1, 0, 2):
        np.testing.assert_array_equal(md.diag(t, k).numpy(), np.diag(x, k))
        np.testing.assert_array_equal(md.diag(md.tensor(x[0]), k).numpy(), np.diag(x[0], k))


def test_repeat_interleave_outer_diff_match_numpy():
    x = rng(10).standard_normal((2, 3)).astype(np.float32)
    t = md.tensor(x)
    np.testing.assert_array_equal(t.repeat_interleave(2, dim=1).numpy(), np.repeat(x, 2, axis=1))
    np.testing.assert_array_equal(md.repeat_interleave(t, [1, 3], dim=0).numpy(), np.repeat(x, [1, 3], axis=0))
    np.testing.assert_array_equal(md.repeat_interleave(t, 2).numpy(), np.repeat(x, 2))
    np.testing.assert_allclose(md.outer(t[0], t[1]).numpy(), np.outer(x[0], x[1]), rtol=1e-6)
    np.testing.assert_allclose(md.diff(t, dim=1).numpy(), np.diff(x, axis=1), rtol=1e-6)
    np.testing.assert_allclose(t.diff(n=2, dim=1).numpy(), np.diff(x, n=2, axis=1), rtol=1e-6)
    pre = md.zeros((2, 1))
    np.testing.assert_allclose(
        md.diff(t, dim=1, prepend=pre).numpy(), np.diff(x, axis=1, prepend=np.zeros((2, 1))), rtol=1e-6
    )
    with pytest.raises(ValueError, match="repeat_interleave"):
        md.repeat_interleave(t, [1, 2, 3], dim=0)


def test_shape_ops_carry_gradients():
    torch = pytest.importorskip("torch")
    x = rng(11).standard_normal((3, 4)).astype(np.float32)
    g = rng(12).standard_normal((3, 4)).astype(np.float32)
    for fn, tfn in (
        (lambda a: md.roll(a, 2, 1), lambda a: torch.roll(a, 2, 1)),
        (lambda a: md.tril(a, -1), lambda a: torch.tril(a, -1)),
        (lambda a: md.diff(a, dim=0, append=a[:1]), lambda a: torch.diff(a, dim=0, append=a[:1])),
    ):
        t, tx = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        fn(t).backward(md.tensor(g[: fn(t).shape[0]]))
        tfn(tx).backward(torch.tensor(g[: tfn(tx).shape[0]]))
        np.testing.assert_allclose(t.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def test_sort_argsort_topk_match_torch_with_ties_and_nan():
    torch = pytest.importorskip("torch")
    x = np.array([[3.0, 1.0, np.nan, 1.0, -2.0, 3.0], [0.0, 5.0, 5.0, -1.0, np.inf, 2.0]], dtype=np.float32)
    for descending in (False, True):
        got = md.sort(md.tensor(x), dim=1, descending=descending)
        want = torch.sort(torch.tensor(x), dim=1, descending=descending, stable=True)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        assert got.indices.dtype == "int64"
    want = torch.argsort(torch.tensor(x), dim=0, stable=True)
    np.testing.assert_array_equal(md.argsort(md.tensor(x), 0).numpy(), want.numpy())
    y = rng(13).standard_normal((4, 7)).astype(np.float32)
    for largest in (True, False):
        v, i = md.tensor(y).topk(3, dim=1, largest=largest)
        tv, ti = torch.topk(torch.tensor(y), 3, dim=1, largest=largest)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
    t, ty = md.tensor(y, requires_grad=True), torch.tensor(y, requires_grad=True)
    (md.topk(t, 2, dim=0).values * 2.0).sum().backward()
    (torch.topk(ty, 2, dim=0).values * 2.0).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), ty.grad.numpy())
    with pytest.raises(ValueError, match="topk"):
        md.topk(md.tensor(y), 8, dim=1)


def test_nonzero_and_boolean_mask_reads():
    x = rng(14).standard_normal((3, 4)).astype(np.float32)
    t = md.tensor(x, requires_grad=True)
    np.testing.assert_array_equal(md.nonzero(t > 0).numpy(), np.argwhere(x > 0))
    rows, cols = (t > 0).nonzero(as_tuple=True)
    np.testing.assert_array_equal(rows.numpy(), np.nonzero(x > 0)[0])
    np.testing.assert_array_equal(cols.numpy(), np.nonzero(x > 0)[1])
    sel = t[t > 0]
    np.testing.assert_array_equal(sel.numpy(), x[x > 0])
    sel.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), (x > 0).astype(np.float32))
    row_mask = np.array([True, False, True])
    np.testing.assert_array_equal(t[row_mask].detach().numpy(), x[row_mask])  # a NumPy bool mask over rows
    np.testing.assert_array_equal(t[md.tensor(row_mask)].detach().numpy(), x[row_mask])
    with pytest.raises(IndexError, match="bool or uint8"):
        t[md.tensor(np.array([0.0, 1.0, 0.0], dtype=np.float32))]
    with pytest.raises(IndexError, match="shape"):
        t[np.array([True, False])]
    np.testing.assert_array_equal(t[1:, None].detach().numpy(), x[1:, None])  # other keys unchanged


def test_boolean_mask_writes():
    x = rng(15).standard_normal((3, 4)).astype(np.float32)
    t = md.tensor(x)
    t[t < 0] = 0.0
    np.testing.assert_array_equal(t.numpy(), np.where(x < 0, 0.0, x))
    u = md.tensor(x)
    mask = x > 0.3
    values = np.arange(mask.sum(), dtype=np.float32) + 100
    u[md.tensor(mask)] = md.tensor(values)
    want = x.copy()
    want[mask] = values
    np.testing.assert_array_equal(u.numpy(), want)
    w = md.tensor(x)
    w[np.array([False, True, False])] = md.tensor(np.array([7.0, 8.0, 9.0, 10.0], dtype=np.float32))
    want = x.copy()
    want[1] = [7.0, 8.0, 9.0, 10.0]
    np.testing.assert_array_equal(w.numpy(), want)
    v = md.tensor(x)
    v[0, 1] = 5.0  # ints and slices still go to the native assignment
    assert v.numpy()[0, 1] == 5.0


def test_numpy_keyword_spellings():
    x = rng(16).standard_normal((2, 3)).astype(np.float32)
    t = md.tensor(x)
    np.testing.assert_allclose(t.sum(axis=0).numpy(), x.sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(md.mean(t, axis=1, keepdims=True).numpy(), x.mean(axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(md.cumsum(t, axis=1).numpy(), np.cumsum(x, axis=1), rtol=1e-6)
    np.testing.assert_allclose(md.cumprod(t, axis=0).numpy(), np.cumprod(x, axis=0), rtol=1e-6)
    assert md.cat([t, t], axis=1).shape == (2, 6)
    assert md.stack([t, t], axis=0).shape == (2, 2, 3)
    np.testing.assert_array_equal(t.argmax(axis=1).numpy(), x.argmax(axis=1))
    np.testing.assert_allclose(t.max(axis=0).values.numpy(), x.max(axis=0))
    np.testing.assert_allclose(t.std(axis=0).numpy(), x.std(axis=0, ddof=1), rtol=1e-5)
    np.testing.assert_array_equal(md.sort(t, axis=0).values.numpy(), np.sort(x, axis=0))
    np.testing.assert_array_equal(t.argsort(axis=1).numpy(), np.argsort(x, axis=1, kind="stable"))
    with pytest.raises(TypeError, match="both dim and axis"):
        t.sum(dim=0, axis=1)


# ---- found by review: exact division results, NaN norms, empty inputs, aliasing


def test_floor_division_and_remainders_are_exact_near_integer_quotients():
    torch = pytest.importorskip("torch")
    a = np.array([1.0, 7.5, 1e7, -1.0, 0.3, -7.25], dtype=np.float32)
    for b in (0.1, 3.3, -0.7):
        t, ta = md.tensor(a), torch.tensor(a)
        np.testing.assert_array_equal((t // b).numpy(), (ta // b).numpy())
        np.testing.assert_allclose((t % b).numpy(), (ta % b).numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(md.fmod(t, b).numpy(), torch.fmod(ta, b).numpy(), rtol=1e-6, atol=1e-7)
    big = md.tensor(np.array([2**40 + 3, -(2**40) - 3]))  # int64 beyond float32's integers
    np.testing.assert_array_equal((big // 7).numpy(), np.array([2**40 + 3, -(2**40) - 3]) // 7)
    np.testing.assert_array_equal((big % 7).numpy(), np.array([2**40 + 3, -(2**40) - 3]) % 7)
    with pytest.raises(ZeroDivisionError):
        md.tensor(np.array([7])) // 0
    with pytest.raises(ZeroDivisionError):
        md.tensor(np.array([7])) % 0


def test_in_place_floor_division_and_remainder_write_into_the_tensor():
    x = md.tensor(np.array([5.0, -7.0, 9.0], dtype=np.float32))
    view = x[1:]
    x //= 2
    np.testing.assert_array_equal(view.numpy(), [-4.0, 4.0])
    x %= 3
    np.testing.assert_array_equal(x.numpy(), [2.0, 2.0, 1.0])


def test_norm_keeps_nan_handles_negative_p_and_keepdim():
    torch = pytest.importorskip("torch")
    x = np.array([[np.nan, 1.0], [1.0, 1.0], [0.0, 2.0]], dtype=np.float32)
    for p in (2, 3, -1, -2, 1):
        for dim, keepdim in ((1, False), (None, False), (None, True)):
            got = md.norm(md.tensor(x), p=p, dim=dim, keepdim=keepdim)
            want = torch.norm(torch.tensor(x), p=p, dim=dim, keepdim=keepdim)
            assert got.shape == tuple(want.shape)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_empty_and_zero_dim_inputs():
    torch = pytest.importorskip("torch")
    for shape in ((0,), (0, 3)):
        v, i = md.sort(md.zeros(shape), descending=True)
        assert v.shape == shape and i.shape == shape and i.dtype == "int64"
    assert md.nonzero(md.tensor(3.0)).shape == (1, 0)
    assert md.nonzero(md.tensor(0.0)).shape == (0, 0)
    got = md.logsumexp(md.zeros((0, 3)), 0).numpy()
    np.testing.assert_array_equal(got, torch.logsumexp(torch.zeros(0, 3), 0).numpy())


def test_results_do_not_alias_their_inputs():
    b = md.tensor(np.array([5, 7]))
    for name in ("floor", "ceil", "trunc", "round"):
        c = getattr(md, name)(b)
        c += 1
        np.testing.assert_array_equal(b.numpy(), [5, 7])
    z = md.tensor(np.array([1.0, 2.0], dtype=np.float32))
    d = md.diff(z, n=0)
    d += 1
    np.testing.assert_array_equal(z.numpy(), [1.0, 2.0])


def test_mask_assignment_of_a_value_that_needs_grad_is_recorded():
    # as torch's index_put_: x takes the result and its history; the gradient reaches v
    x = md.tensor(np.array([1.0, -2.0, 3.0], dtype=np.float32))
    v = md.tensor(np.array([7.0, 8.0], dtype=np.float32), requires_grad=True)
    x[x > 0] = v
    assert x.requires_grad
    np.testing.assert_array_equal(x.detach().numpy(), [7.0, -2.0, 8.0])
    (x * md.tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32))).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [1.0, 3.0])
    y = md.tensor(np.array([1.0, -2.0, 3.0], dtype=np.float32))
    with md.no_grad():
        y[y > 0] = v
    assert not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), [7.0, -2.0, 8.0])


def test_repeat_interleave_broadcasts_one_repeat():
    x = md.tensor(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    np.testing.assert_array_equal(
        md.repeat_interleave(x, md.tensor(np.array([3])), 0).numpy(), np.repeat(x.numpy(), 3, 0)
    )


def test_flip_takes_dims_as_torch_does():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    t = md.tensor(x)
    np.testing.assert_array_equal(t.flip(0, 1).numpy(), x[::-1, ::-1])  # varargs, as torch's method
    np.testing.assert_array_equal(t.flip([0]).numpy(), x[::-1])
    np.testing.assert_array_equal(md.flip(t, dims=(1,)).numpy(), x[:, ::-1])
    with pytest.raises(TypeError, match="flip"):
        t.flip()


def test_one_dim_masks_inside_tuple_indices():
    torch = pytest.importorskip("torch")
    x = rng(20).standard_normal((2, 3, 4)).astype(np.float32)
    t, tt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    m = np.array([True, False, True, True])
    cases = [
        (lambda a, mm: a[:, :, mm], md.tensor(m), torch.tensor(m)),
        (lambda a, mm: a[..., mm], m, torch.tensor(m)),
        (lambda a, mm: a[0, :, mm], md.tensor(x[0, 0]) > 0, torch.tensor(x[0, 0]) > 0),
        (lambda a, mm: a[None, 1, mm], np.array([True, False, True]), torch.tensor([True, False, True])),
    ]
    for fn, mine, theirs in cases:
        np.testing.assert_array_equal(fn(t, mine).detach().numpy(), fn(tt, theirs).detach().numpy())
    t[:, :, md.tensor(m)].sum().backward()
    tt[:, :, torch.tensor(m)].sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())
    with pytest.raises(IndexError, match="does not match"):
        t[:, np.array([True, False])]


@pytest.mark.parametrize("p", [float("inf"), float("-inf")])
@pytest.mark.parametrize("dim", [1, None])
def test_inf_norms_split_the_gradient_between_ties_as_torch(p, dim):
    x = np.array([[1.0, -3.0, 3.0, 2.0], [0.0, 0.0, 0.0, 0.0], [5.0, 1.0, -5.0, 5.0]], np.float32)
    t = md.tensor(x, requires_grad=True)
    y = t.norm(p, dim)
    y.sum().backward()
    a = np.abs(x)
    want = a.max(axis=dim) if p > 0 else a.min(axis=dim)
    np.testing.assert_array_equal(y.numpy(), want)
    ties = a == (np.expand_dims(want, dim) if dim is not None else want)
    count = ties.sum(axis=dim, keepdims=True)
    np.testing.assert_allclose(t.grad.numpy(), np.sign(x) * ties / count, rtol=1e-6)


def test_zero_norm_counts_and_stays_in_the_graph_with_zero_gradients():
    t = md.tensor(np.array([[1.0, 0.0, 2.0], [0.0, 0.0, np.inf]], np.float32), requires_grad=True)
    n = t.norm(0, 1)
    np.testing.assert_array_equal(n.numpy(), [2.0, 1.0])
    n.sum().backward()  # torch runs this backward too, with zero gradients
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros((2, 3), np.float32))
