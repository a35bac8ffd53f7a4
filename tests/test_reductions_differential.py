"""Reductions, scans, sorting and selection against torch: values and gradients, edge cases
(NaN, infinities, ties, zeros, 0-d and empty inputs). Each regression test failed before its fix;
the xfail tests pin differences whose cause lies outside tensor_math.py / tensor_more.py /
einsum.py."""

import math

import numpy as np
import pytest

import minidiff as md

torch = pytest.importorskip("torch")

INF, NAN = math.inf, math.nan


def _grads(md_fn, torch_fn, a: np.ndarray, weight_seed: int = 0):
    """(md value, md grad, torch value, torch grad) of fn(a) under a random upstream gradient."""
    x = md.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    out_m, out_t = md_fn(x), torch_fn(t)
    w = np.random.default_rng(weight_seed).standard_normal(tuple(out_t.shape)).astype(np.float32)
    (out_m * md.tensor(w)).sum().backward()
    (out_t * torch.tensor(w)).sum().backward()
    grad_t = np.zeros(a.shape, np.float32) if t.grad is None else t.grad.numpy()  # torch's p=0 norm: None
    return out_m.detach().numpy(), x.grad.numpy(), out_t.detach().numpy(), grad_t


def _assert_same(md_fn, torch_fn, a, rtol=1e-5, atol=1e-6):
    vm, gm, vt, gt = _grads(md_fn, torch_fn, np.asarray(a, dtype=np.float32))
    assert vm.shape == vt.shape
    np.testing.assert_allclose(vm, vt, rtol=rtol, atol=atol, equal_nan=True)
    np.testing.assert_allclose(gm, gt, rtol=rtol, atol=atol, equal_nan=True)


# ---- norm


@pytest.mark.parametrize("p", [INF, -INF])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_norm_inf_of_an_infinite_element_is_inf(p, dim):
    # was NaN: the tie-splitting gradient trick computed inf + (inf - inf)
    a = [[1.0, -INF, 3.0], [2.0, 0.5, INF]]
    _assert_same(lambda x: md.norm(x, p, dim), lambda t: torch.norm(t, p, dim), a)


@pytest.mark.parametrize("p", [INF, -INF])
def test_norm_inf_of_a_nan_slice_has_zero_gradient(p):
    # was NaN for every element: no element ties with a NaN extreme, and 0 / 0 followed
    a = [[1.0, NAN, 3.0], [2.0, -4.0, 4.0]]
    _assert_same(lambda x: md.norm(x, p), lambda t: torch.norm(t, p), a)
    _assert_same(lambda x: md.norm(x, p, 1), lambda t: torch.norm(t, p, 1), a)


@pytest.mark.parametrize("p", [-1, -2, -0.5])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_norm_negative_p_with_zeros_has_zero_gradient(p, dim):
    # a zero element makes the norm 0; torch's gradient is 0 there, was NaN (inf * 0)
    a = [[1.0, 0.0, 3.0], [2.0, -1.5, 0.5], [0.0, 0.0, 2.0]]
    _assert_same(lambda x: md.norm(x, p, dim), lambda t: torch.norm(t, p, dim), a)


def test_norm_of_int64_is_float_for_every_p():
    # p=1 gave int64 while every other p gave float32 (torch refuses int64 altogether)
    x = md.tensor(np.array([[3, -4], [0, 1]], dtype=np.int64))
    for p in (1, 2, "fro", INF, 0, 3):
        out = md.norm(x, p)
        assert out.dtype == "float32", p
        expected = torch.norm(torch.tensor([[3.0, -4.0], [0.0, 1.0]]), p).item()
        assert out.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("p", ["fro", 1, 0, 3, 0.5])
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 1)])
def test_norm_matches_torch(p, dim):
    a = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    a[1, 2] = 0.0
    _assert_same(lambda x: md.norm(x, p, dim, True), lambda t: torch.norm(t, p, dim, True), a, rtol=1e-4, atol=1e-5)


# ---- logaddexp / logcumsumexp / logsumexp


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp_gradient_at_equal_infinities_is_nan(name):
    # torch's is NaN (exp(inf - inf)); was 1/2 and 1/2
    a = np.array([-INF, INF, INF, 1.0, 2.0, -INF], np.float32)
    b = np.array([-INF, INF, 1.0, -INF, 2.0, 3.0], np.float32)
    xm, ym = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    xt, yt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    getattr(md, name)(xm, ym).sum().backward()
    getattr(torch, name)(xt, yt).sum().backward()
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(ym.grad.numpy(), yt.grad.numpy(), rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize(
    "row",
    [
        [-INF, -INF, 1.0, 2.0],  # a -inf prefix: NaN gradients there, as torch's (was 1/2, 1/4)
        [-INF, -INF, -INF],
        [1.0, INF, 2.0],  # +inf: NaN at it (was the finite sum of the later gradients)
        [INF, -INF, INF, INF],
        [0.0, -1.0, 5.0, INF],
        [1.0, -INF, -INF, 2.0, -INF],  # -inf inside: zero gradient, finite elsewhere
        [1.0, NAN, 2.0],
    ],
)
def test_logcumsumexp_gradient_with_infinities(row):
    _assert_same(lambda x: md.logcumsumexp(x, 0), lambda t: torch.logcumsumexp(t, 0), row, rtol=1e-5)


def test_logcumsumexp_random_masks_match_torch():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((6, 9)).astype(np.float32) * 3
    a[rng.random(a.shape) < 0.3] = -INF
    a[0, :4] = -INF
    for dim in (0, 1, -1):
        md_fn, torch_fn = (lambda x, d=dim: md.logcumsumexp(x, d)), (lambda t, d=dim: torch.logcumsumexp(t, d))
        _assert_same(md_fn, torch_fn, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dim", [0, 1, (0, 1)])
def test_logsumexp_with_infinite_rows(dim):
    a = [[-INF, -INF, -INF], [1.0, 2.0, -INF], [INF, 0.0, 1.0]]
    _assert_same(lambda x: md.logsumexp(x, dim), lambda t: torch.logsumexp(t, dim), a)


# ---- median / quantile


@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
@pytest.mark.parametrize("q", [0.3, [0.25, 0.75]])
def test_quantile_of_a_0d_tensor_with_keepdim_keeps_its_shape(name, q):
    # torch gives () (a q vector: (len(q),)) for a 0-d input, keepdim or not; was (1,)
    def fn(lib, x):
        qq = lib.tensor(np.array(q, np.float32)) if isinstance(q, list) else q
        return getattr(lib, name)(x, qq, dim=0, keepdim=True)

    _assert_same(lambda x: fn(md, x), lambda t: fn(torch, t), np.float32(1.5))


@pytest.mark.parametrize("name", ["median", "nanmedian"])
def test_median_of_an_empty_tensor_stays_in_the_graph(name):
    # torch's NaN result has a grad_fn and a zero gradient; md's did not require grad
    _assert_same(lambda x: getattr(md, name)(x), lambda t: getattr(torch, name)(t), np.zeros((0, 3), np.float32))


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("dim", [None, 0, -1])
def test_quantile_matches_torch(interpolation, dim):
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, -1.0, 5.0, 4.5]], np.float32)
    for name in ("quantile", "nanquantile"):
        md_quantile, torch_quantile = getattr(md, name), getattr(torch, name)
        for q in (0.0, 0.3, 0.5, 1.0):
            _assert_same(
                lambda x, f=md_quantile, q=q: f(x, q, dim, interpolation=interpolation),
                lambda t, f=torch_quantile, q=q: f(t, q, dim, interpolation=interpolation),
                a,
            )


@pytest.mark.parametrize("name", ["median", "nanmedian"])
@pytest.mark.parametrize("dim", [0, -1])
def test_median_with_nan_matches_torch(name, dim):
    a = np.array([[1.0, NAN, 3.0, 0.0], [NAN, 2.0, NAN, 2.0], [0.0, -1.0, 5.0, INF]], np.float32)
    _assert_same(lambda x: getattr(md, name)(x, dim)[0], lambda t: getattr(torch, name)(t, dim)[0], a)
    indices = getattr(md, name)(md.tensor(a), dim)[1].numpy()
    assert np.array_equal(indices, getattr(torch, name)(torch.tensor(a), dim)[1])


# ---- sorting, scans and selections that already matched (guards)


@pytest.mark.parametrize("descending", [False, True])
def test_sort_with_nan_and_ties_matches_torch_stable(descending):
    a = np.array([[1.0, NAN, 3.0, 3.0, -INF], [2.0, 2.0, NAN, NAN, INF]], np.float32)
    vm, im = md.sort(md.tensor(a), -1, descending)
    vt, it = torch.sort(torch.tensor(a), dim=-1, descending=descending, stable=True)
    np.testing.assert_array_equal(vm.numpy(), vt.numpy())
    np.testing.assert_array_equal(im.numpy(), it.numpy())
    _assert_same(
        lambda x: md.sort(x, 0, descending)[0],
        lambda t: torch.sort(t, dim=0, descending=descending, stable=True)[0],
        a,
    )


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("k", [0, 1, 3, 4])
def test_topk_values_match_torch(largest, k):
    a = np.array([[1.0, NAN, 3.0, 0.0], [4.0, 2.0, -1.0, 7.0], [0.0, -1.0, 5.0, INF]], np.float32)
    _assert_same(lambda x: md.topk(x, k, largest=largest)[0], lambda t: torch.topk(t, k, largest=largest)[0], a)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dim", [0, -1])
def test_cummax_cummin_ties_and_nan_match_torch(name, dim):
    a = np.array([[1.0, 3.0, 3.0, 0.0], [NAN, 2.0, 2.0, 2.0], [0.0, 3.0, NAN, 5.0]], np.float32)
    vm, im = getattr(md, name)(md.tensor(a), dim)
    vt, it = getattr(torch, name)(torch.tensor(a), dim)
    np.testing.assert_array_equal(vm.numpy(), vt.numpy())
    np.testing.assert_array_equal(im.numpy(), it.numpy())
    _assert_same(lambda x: getattr(md, name)(x, dim)[0], lambda t: getattr(torch, name)(t, dim)[0], a)


def test_shapes_and_selections_match_torch():
    a = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    cases = [
        (lambda m, x: m.diff(x, 2, -1, prepend=x[:, :1], append=x[:, :2] * 2), None),
        (lambda m, x: m.diff(x, 5, 0), None),
        (lambda m, x: m.roll(x, (1, -3), (0, 1)), None),
        (lambda m, x: m.roll(x, -5), None),
        (lambda m, x: m.tril(x, -1) + m.triu(x, 2), None),
        (lambda m, x: m.diagonal(x, 1, 1, 0), None),
        (lambda m, x: m.trace(x), None),
        (lambda m, x: m.diag(x[0], -1), None),
        (lambda m, x: m.einsum("ii->i", x[:, :3]), None),
        (lambda m, x: m.einsum("ij,kj->", x, x), None),
        (lambda m, x: m.einsum("...j,j", x, x[0]), None),
        (lambda m, x: m.nansum(x, 1), None),
        (lambda m, x: m.var_mean(x, 0, correction=0)[0], None),
    ]
    for fn, _ in cases:
        _assert_same(lambda x, fn=fn: fn(md, x), lambda t, fn=fn: fn(torch, t), a, rtol=1e-5, atol=1e-5)


def test_einsum_int64_matches_torch():
    rng = np.random.default_rng(2)
    a, b = rng.integers(-4, 4, (2, 3)), rng.integers(-4, 4, (3, 3))
    for eq, ops in (("ij,jk->ik", (a, b)), ("ii->", (b,)), ("ij,ij->i", (a, a))):
        out = md.einsum(eq, *[md.tensor(o) for o in ops])
        assert out.dtype == "int64"
        np.testing.assert_array_equal(out.numpy(), torch.einsum(eq, *[torch.tensor(o) for o in ops]).numpy())


# ---- differences once caused outside these files (fixed)


def test_any_all_with_empty_dim_tuple():
    a = np.array([[0.0, 1.0], [0.0, 0.0]], np.float32)
    assert tuple(md.any(md.tensor(a), ()).shape) == tuple(torch.any(torch.tensor(a), ()).shape) == (2, 2)


def test_unique_keeps_each_nan():
    a = np.array([1.0, NAN, NAN, 2.0], np.float32)
    assert md.unique(md.tensor(a)).shape == torch.unique(torch.tensor(a)).shape == (4,)


def test_unique_inverse_of_0d_input():
    _, inverse = md.unique(md.tensor(1.5), return_inverse=True)
    assert tuple(inverse.shape) == tuple(torch.unique(torch.tensor(1.5), return_inverse=True)[1].shape) == ()


@pytest.mark.parametrize("dim, keepdim", [((), False), (1, False), (0, True), ((0, 1), False), ((-1, 0), True)])
@pytest.mark.parametrize("op", ["amax", "amin"])
def test_amax_amin_share_the_gradient_among_ties_as_torch(op, dim, keepdim):
    a = np.array([[1.0, 2.0, 2.0, 1.0], [5.0, 5.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    out = []
    for L in (md, torch):
        x = L.tensor(a, requires_grad=True)
        y = getattr(x, op)(dim, keepdim)
        (y * L.tensor(np.arange(1.0, y.numel() + 1, dtype=np.float32).reshape(tuple(y.shape)))).sum().backward()
        out.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-6)
