"""md.linalg against torch.linalg (values and gradients on batched float32 inputs) and against NumPy
and finite differences. The factorizations whose results are defined up to signs (qr, eigh, svd)
are compared through what does not depend on them: reconstructions, projections U U^T, squared
entries, singular values, and the gradients of such functions. The oracle tests take the ``torch``
fixture (skipped without torch); the NumPy and finite-difference checks run without it."""

import math

import numpy as np
import pytest
from gradcheck import check_grads

import minidiff as md

RNG = np.random.default_rng(0)  # restarted per test by conftest
L = md.linalg


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def randn(*shape):
    return np.asarray(RNG.standard_normal(shape), dtype=np.float32)


def square(*shape):
    """Well-conditioned square matrices: random plus n I."""
    n = shape[-1]
    return (RNG.standard_normal(shape) + n * np.eye(n)).astype(np.float32)


def spd(*shape):
    """Symmetric positive-definite matrices R R^T + n I."""
    n = shape[-1]
    r = RNG.standard_normal(shape)
    return (r @ np.swapaxes(r, -1, -2) + n * np.eye(n)).astype(np.float32)


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def assert_same(got, want, rtol=1e-4, atol=1e-5, what=""):
    g, w = _np(got), _np(want)
    assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
    np.testing.assert_allclose(g, w.astype(g.dtype), rtol=rtol, atol=atol, err_msg=what)


def check(torch, md_fn, torch_fn, arrays, *, rtol=1e-4, atol=1e-5, grad_rtol=1e-3, grad_atol=1e-4):
    """Both functions on the same float arrays (tensors that require grad): the output compared,
    then the gradients of sum(w * output) for every input."""
    mts = [md.tensor(a, requires_grad=True) for a in arrays]
    tts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = md_fn(*mts), torch_fn(*tts)
    assert_same(out, tout, rtol, atol, "output")
    w = RNG.standard_normal(tuple(tout.shape)).astype(np.float32)
    (tout * torch.tensor(w)).sum().backward()
    (out * md.tensor(w)).sum().backward()
    for i, (m, t) in enumerate(zip(mts, tts)):
        assert m.grad is not None, f"input {i} got no gradient"
        assert_same(m.grad, t.grad, grad_rtol, grad_atol, f"gradient of input {i}")
    return out


# ---- the names


def test_names_and_error_class():
    import minidiff.linalg

    assert "linalg" in md.__all__ and md.linalg is minidiff.linalg
    for name in L.__all__:
        assert callable(getattr(L, name)), name
    names = "vector_norm matrix_norm norm vecdot cross multi_dot matmul diagonal det slogdet inv solve cholesky qr"
    for name in names.split() + ["eigh", "eigvalsh", "svd", "svdvals", "pinv", "lstsq"]:
        assert name in L.__all__, name
    assert issubclass(L.LinAlgError, RuntimeError)


# ---- norms and products (composed ops) against torch


@pytest.mark.parametrize("ord", [2, 1, 3.5, -1, 0.5, math.inf, -math.inf])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (-1, False), ((0, 2), True)])
def test_vector_norm_matches_torch(torch, ord, dim, keepdim):
    check(
        torch,
        lambda x: L.vector_norm(x, ord, dim, keepdim),
        lambda x: torch.linalg.vector_norm(x, ord, dim, keepdim),
        [randn(3, 4, 5)],
    )


def test_vector_norm_of_order_zero_counts_non_zeros(torch):
    a = randn(3, 4)
    a[0, 1] = a[2, 3] = 0.0
    x = md.tensor(a, requires_grad=True)
    out = L.vector_norm(x, 0, dim=-1)
    assert_same(out, torch.linalg.vector_norm(torch.tensor(a), 0, dim=-1))
    out.sum().backward()
    assert np.all(x.grad.numpy() == 0.0)


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf])
def test_matrix_norm_matches_torch(torch, ord):
    check(torch, lambda a: L.matrix_norm(a, ord), lambda a: torch.linalg.matrix_norm(a, ord), [randn(3, 4, 5)])
    check(
        torch,
        lambda a: L.matrix_norm(a, ord, dim=(2, 0), keepdim=True),
        lambda a: torch.linalg.matrix_norm(a, ord, dim=(2, 0), keepdim=True),
        [randn(3, 2, 4)],
    )


@pytest.mark.parametrize(
    "shape,kwargs",
    [
        ((3, 4, 5), {}),
        ((3, 4, 5), {"keepdim": True}),
        ((3, 4, 5), {"dim": 1}),
        ((3, 4, 5), {"dim": (0,), "ord": 1}),
        ((3, 4, 5), {"dim": (0, 1), "ord": "nuc"}),
        ((3, 4, 5), {"dim": (-1, 0)}),
        ((4, 5), {"ord": 2}),
        ((4, 5), {"ord": "fro"}),
        ((4, 5), {"ord": -math.inf}),
        ((5,), {"ord": 3}),
        ((5,), {"ord": math.inf}),
    ],
)
def test_norm_dispatches_as_torch(torch, shape, kwargs):
    check(torch, lambda a: L.norm(a, **kwargs), lambda a: torch.linalg.norm(a, **kwargs), [randn(*shape)])


def test_vecdot_cross_matmul_diagonal_match_torch(torch):
    check(torch, lambda x, y: L.vecdot(x, y), lambda x, y: torch.linalg.vecdot(x, y), [randn(3, 4), randn(4)])
    check(
        torch,
        lambda x, y: L.vecdot(x, y, dim=0),
        lambda x, y: torch.linalg.vecdot(x, y, dim=0),
        [randn(3, 4), randn(3, 1)],
    )
    check(torch, lambda x, y: L.cross(x, y), lambda x, y: torch.linalg.cross(x, y), [randn(2, 4, 3), randn(1, 4, 3)])
    check(
        torch,
        lambda x, y: L.cross(x, y, dim=1),
        lambda x, y: torch.linalg.cross(x, y, dim=1),
        [randn(2, 3, 4), randn(2, 3, 4)],
    )
    check(torch, L.matmul, torch.linalg.matmul, [randn(2, 1, 3, 4), randn(5, 4, 2)])
    check(torch, lambda a: L.diagonal(a), lambda a: torch.linalg.diagonal(a), [randn(2, 3, 4)])
    check(
        torch,
        lambda a: L.diagonal(a, offset=1, dim1=0, dim2=2),
        lambda a: torch.linalg.diagonal(a, offset=1, dim1=0, dim2=2),
        [randn(3, 2, 4)],
    )


@pytest.mark.parametrize(
    "shapes",
    [
        [(4,), (4, 3)],
        [(2, 3), (3,)],
        [(3,), (3, 5), (5,)],
        [(6, 2), (2, 7), (7, 3), (3, 5)],
        [(5,), (5, 2), (2, 9), (9, 4)],
    ],
)
def test_multi_dot_matches_torch(torch, shapes):
    arrays = [randn(*s) for s in shapes]
    check(torch, lambda *t: L.multi_dot(list(t)), lambda *t: torch.linalg.multi_dot(list(t)), arrays)


# ---- determinants, inverses, solves


@pytest.mark.parametrize("shape", [(4, 4), (3, 4, 4), (2, 1, 3, 3)])
def test_det_slogdet_inv_match_torch(torch, shape):
    a = square(*shape)
    check(torch, L.det, torch.linalg.det, [a])
    check(torch, lambda x: L.slogdet(x).logabsdet, lambda x: torch.linalg.slogdet(x).logabsdet, [a])
    check(torch, L.inv, torch.linalg.inv, [a])
    sign, logabsdet = L.slogdet(md.tensor(-a))
    want = torch.linalg.slogdet(torch.tensor(-a))
    assert_same(sign, want.sign)
    assert_same(logabsdet, want.logabsdet)
    assert not sign.requires_grad


def test_det_gradient_of_a_singular_matrix_is_the_cofactor_matrix(torch):
    a = randn(2, 4, 4)
    a[:, 3] = a[:, 0] + a[:, 1]  # rank 3: det 0, gradient the (non-zero) cofactors
    check(torch, L.det, torch.linalg.det, [a], atol=1e-4)


@pytest.mark.parametrize(
    "a_shape,b_shape,left",
    [
        ((4, 4), (4, 2), True),
        ((3, 4, 4), (3, 4, 2), True),
        ((3, 4, 4), (4,), True),  # a 1-D B is a vector
        ((3, 4, 4), (3, 4), True),  # B of shape A.shape[:-1]: a batch of vectors
        ((2, 1, 3, 3), (4, 3, 5), True),  # batch dims broadcast
        ((3, 4, 4), (3, 2, 4), False),
        ((2, 1, 3, 3), (1, 5, 5, 3), False),
    ],
)
def test_solve_matches_torch(torch, a_shape, b_shape, left):
    check(
        torch,
        lambda a, b: L.solve(a, b, left=left),
        lambda a, b: torch.linalg.solve(a, b, left=left),
        [square(*a_shape), randn(*b_shape)],
    )


@pytest.mark.parametrize("shape", [(4, 4), (3, 4, 4), (2, 1, 3, 3)])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_matches_torch(torch, shape, upper):
    check(torch, lambda a: L.cholesky(a, upper=upper), lambda a: torch.linalg.cholesky(a, upper=upper), [spd(*shape)])


def test_cholesky_reads_the_lower_triangle_only():
    a = spd(3, 3)
    b = a.copy()
    b[0, 2] = 100.0
    np.testing.assert_array_equal(L.cholesky(md.tensor(a)).numpy(), L.cholesky(md.tensor(b)).numpy())


# ---- factorizations with sign ambiguities: compared through invariants


def _qr_invariants(lib, mode):
    def fn(a):
        q, r = lib.qr(a, mode=mode)
        # Q R = A, Q Q^T (a projection) and |R| do not depend on the signs of Q's columns
        return (q @ r).sum() * 0.5 + ((q @ q.transpose(-2, -1)) ** 2).sum() + (r.abs() * r.abs()).sum(-1).sum(-1)

    return fn


@pytest.mark.parametrize("shape", [(3, 4, 4), (2, 5, 3), (2, 1, 3, 5)])
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr_matches_torch_up_to_signs(torch, shape, mode):
    a = randn(*shape)
    q, r = L.qr(md.tensor(a), mode=mode)
    tq, tr = torch.linalg.qr(torch.tensor(a), mode=mode)
    assert q.shape == tuple(tq.shape) and r.shape == tuple(tr.shape)
    np.testing.assert_allclose(q.numpy() @ r.numpy(), a, atol=1e-5)
    k = q.shape[-1]
    np.testing.assert_allclose(
        np.swapaxes(q.numpy(), -1, -2) @ q.numpy(), np.broadcast_to(np.eye(k), (*shape[:-2], k, k)), atol=1e-5
    )
    np.testing.assert_array_equal(np.tril(r.numpy(), -1), 0.0)
    assert_same(np.abs(r.numpy()), tr.abs())
    if mode == "complete" and shape[-2] > shape[-1]:
        return  # not differentiable (tested below)
    check(torch, _qr_invariants(L, mode), _qr_invariants(torch.linalg, mode), [a])
    # Q's squared entries: sign-free, through the gQ term alone
    check(torch, lambda x: L.qr(x, mode=mode).Q ** 2, lambda x: torch.linalg.qr(x, mode=mode).Q ** 2, [a])


def test_qr_modes_r_and_complete_gradients_refused():
    x = md.tensor(randn(4, 3), requires_grad=True)
    q, r = L.qr(x, mode="r")
    assert q.shape == (0,) and r.shape == (3, 3)
    with pytest.raises(RuntimeError, match="mode='r'"):
        r.sum().backward()
    q, r = L.qr(md.tensor(randn(4, 3), requires_grad=True), mode="complete")
    assert q.shape == (4, 4)
    with pytest.raises(RuntimeError, match="complete"):
        (q.sum() + r.sum()).backward()


@pytest.mark.parametrize("shape", [(4, 4), (3, 4, 4), (2, 1, 3, 3)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_matches_torch_up_to_signs(torch, shape, uplo):
    a = randn(*shape)  # not symmetric: UPLO picks the triangle that is read
    w, v = L.eigh(md.tensor(a), UPLO=uplo)
    tw, tv = torch.linalg.eigh(torch.tensor(a), UPLO=uplo)
    assert_same(w, tw)
    sym = (
        np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2)
        if uplo == "L"
        else np.triu(a) + np.swapaxes(np.triu(a, 1), -1, -2)
    )
    np.testing.assert_allclose((v.numpy() * w.numpy()[..., None, :]) @ np.swapaxes(v.numpy(), -1, -2), sym, atol=1e-4)
    check(torch, lambda x: L.eigh(x, UPLO=uplo).eigenvalues, lambda x: torch.linalg.eigh(x, UPLO=uplo).eigenvalues, [a])
    check(torch, lambda x: L.eigvalsh(x, UPLO=uplo), lambda x: torch.linalg.eigvalsh(x, UPLO=uplo), [a])
    check(
        torch,
        lambda x: L.eigh(x, UPLO=uplo).eigenvectors ** 2 + L.eigh(x, UPLO=uplo).eigenvalues.unsqueeze(-1),
        lambda x: (
            torch.linalg.eigh(x, UPLO=uplo).eigenvectors ** 2
            + torch.linalg.eigh(x, UPLO=uplo).eigenvalues.unsqueeze(-1)
        ),
        [a],
        grad_rtol=1e-3,
        grad_atol=5e-4,
    )


def _svd_invariants(lib, full_matrices):
    def fn(a):
        u, s, vh = lib.svd(a, full_matrices=full_matrices)
        k = s.shape[-1]
        u, vh = u[..., :, :k], vh[..., :k, :]
        return (u**2) @ (vh**2) * 0.3 + (u * s.unsqueeze(-2)) @ vh

    return fn


@pytest.mark.parametrize("shape", [(3, 4, 4), (2, 5, 3), (2, 1, 3, 5)])
@pytest.mark.parametrize("full_matrices", [True, False])
def test_svd_matches_torch_up_to_signs(torch, shape, full_matrices):
    a = randn(*shape)
    u, s, vh = L.svd(md.tensor(a), full_matrices=full_matrices)
    tu, ts, tvh = torch.linalg.svd(torch.tensor(a), full_matrices=full_matrices)
    assert (u.shape, s.shape, vh.shape) == (tuple(tu.shape), tuple(ts.shape), tuple(tvh.shape))
    assert_same(s, ts)
    k = s.shape[-1]
    np.testing.assert_allclose((u.numpy()[..., :, :k] * s.numpy()[..., None, :]) @ vh.numpy()[..., :k, :], a, atol=1e-5)
    check(torch, _svd_invariants(L, full_matrices), _svd_invariants(torch.linalg, full_matrices), [a])
    check(torch, lambda x: L.svd(x, full_matrices=full_matrices).S, lambda x: torch.linalg.svd(x).S, [a])
    check(torch, L.svdvals, torch.linalg.svdvals, [a])
    # Vh's squared entries alone: the gVh term (with the (I - V V^T) part for a wide A)
    check(
        torch,
        lambda x: L.svd(x, full_matrices=full_matrices).Vh[..., :k, :] ** 2,
        lambda x: torch.linalg.svd(x, full_matrices=full_matrices).Vh[..., :k, :] ** 2,
        [a],
    )


def test_value_gradients_are_finite_for_repeated_values(torch):
    # eigenvalues / singular values alone have a gradient where the vectors' is undefined
    for fn, tfn in [
        (lambda x: L.eigh(x).eigenvalues, lambda x: torch.linalg.eigh(x).eigenvalues),
        (L.eigvalsh, torch.linalg.eigvalsh),
        (lambda x: L.svd(x).S, lambda x: torch.linalg.svd(x).S),
        (L.svdvals, torch.linalg.svdvals),
        (lambda x: L.matrix_norm(x, "nuc"), lambda x: torch.linalg.matrix_norm(x, "nuc")),
        (L.pinv, torch.linalg.pinv),
    ]:
        check(torch, fn, tfn, [np.broadcast_to(np.eye(3, dtype=np.float32) * 2.0, (2, 3, 3)).copy()])


@pytest.mark.parametrize("shape", [(3, 4, 4), (2, 5, 3), (2, 1, 3, 5)])
def test_pinv_matches_torch(torch, shape):
    check(torch, L.pinv, torch.linalg.pinv, [randn(*shape)])
    a = randn(*shape[:-1], shape[-2])
    a = a + np.swapaxes(a, -1, -2)
    check(torch, lambda x: L.pinv(x, hermitian=True), lambda x: torch.linalg.pinv(x, hermitian=True), [a])


def test_pinv_cuts_small_singular_values_as_torch(torch):
    a = randn(2, 5, 4)
    a[..., 3] = a[..., 0] - a[..., 1]  # rank 3
    assert_same(L.pinv(md.tensor(a)), torch.linalg.pinv(torch.tensor(a)), atol=1e-4)
    for kw in [{"atol": 1.0}, {"rtol": 0.5}, {"atol": 0.1, "rtol": 0.3}]:
        assert_same(L.pinv(md.tensor(a), **kw), torch.linalg.pinv(torch.tensor(a), **kw), atol=1e-4, what=str(kw))


@pytest.mark.parametrize("a_shape,b_shape", [((2, 5, 3), (2, 5, 2)), ((2, 3, 5), (2, 3, 2)), ((2, 5, 3), (2, 5))])
def test_lstsq_matches_torch(torch, a_shape, b_shape):
    a, b = randn(*a_shape), randn(*b_shape)
    driver = "gelsd" if a_shape[-2] < a_shape[-1] else None  # torch's gelsy is not minimum-norm there
    check(
        torch,
        lambda x, y: L.lstsq(x, y).solution,
        lambda x, y: torch.linalg.lstsq(x, y, driver=driver).solution,
        [a, b],
    )
    got, want = L.lstsq(md.tensor(a), md.tensor(b)), torch.linalg.lstsq(torch.tensor(a), torch.tensor(b))
    assert got.residuals.shape == tuple(want.residuals.shape) and got.singular_values.shape == (0,)
    np.testing.assert_array_equal(got.rank.numpy(), want.rank.numpy())
    assert got.rank.dtype == "int64"
    if len(b_shape) == 3 and a_shape[-2] > a_shape[-1]:
        got = L.lstsq(md.tensor(a), md.tensor(b), driver="gelsd")
        want = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver="gelsd")
        assert_same(got.residuals, want.residuals)
        assert_same(got.singular_values, want.singular_values)


# ---- finite differences and NumPy (no torch needed)


def _sym(x):
    return (x + x.transpose(-2, -1)) * 0.5


@pytest.mark.parametrize(
    "name,fn,make",
    [
        ("det", L.det, lambda: square(2, 3, 3)),
        ("slogdet", lambda x: L.slogdet(x).logabsdet, lambda: square(2, 3, 3)),
        ("inv", L.inv, lambda: square(2, 3, 3)),
        ("cholesky", lambda x: L.cholesky(_sym(x)), lambda: spd(2, 3, 3)),
        ("cholesky upper", lambda x: L.cholesky(_sym(x), upper=True), lambda: spd(3, 3)),
        ("eigvalsh", lambda x: L.eigvalsh(_sym(x)), lambda: spd(2, 3, 3)),
        ("eigh vectors", lambda x: L.eigh(_sym(x)).eigenvectors ** 2, lambda: spd(3, 3) * np.float32(2.0)),
        ("svdvals", L.svdvals, lambda: randn(2, 3, 4)),
        ("svd U", lambda x: L.svd(x, full_matrices=False).U ** 2, lambda: randn(4, 3)),
        ("qr", lambda x: L.qr(x).R.abs().sum(0) + (L.qr(x).Q ** 2).sum(0), lambda: randn(4, 3)),
        ("pinv", L.pinv, lambda: randn(3, 2)),
    ],
)
def test_gradients_match_finite_differences(name, fn, make):
    check_grads(fn, [make()], eps=1e-3, rtol=5e-3, atol=5e-3)


@pytest.mark.parametrize("b_shape", [(2, 3, 2), (3,)])
def test_solve_gradients_match_finite_differences(b_shape):
    check_grads(lambda a, b: L.solve(a, b), [square(2, 3, 3), randn(*b_shape)], eps=1e-3, rtol=5e-3, atol=5e-3)


def test_factorizations_match_numpy():
    a, s = square(3, 4, 4), spd(3, 4, 4)
    np.testing.assert_allclose(L.det(md.tensor(a)).numpy(), np.linalg.det(a.astype(np.float64)), rtol=1e-5)
    np.testing.assert_allclose(L.inv(md.tensor(a)).numpy(), np.linalg.inv(a.astype(np.float64)), rtol=1e-4, atol=1e-6)
    b = randn(3, 4, 2)
    np.testing.assert_allclose(L.solve(md.tensor(a), md.tensor(b)).numpy(), np.linalg.solve(a, b), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(L.cholesky(md.tensor(s)).numpy(), np.linalg.cholesky(s), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(L.eigvalsh(md.tensor(s)).numpy(), np.linalg.eigvalsh(s), rtol=1e-5)
    np.testing.assert_allclose(L.svdvals(md.tensor(a)).numpy(), np.linalg.svd(a, compute_uv=False), rtol=1e-5)
    np.testing.assert_allclose(L.pinv(md.tensor(a)).numpy(), np.linalg.pinv(a), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        L.matrix_norm(md.tensor(a), "nuc").numpy(), np.linalg.norm(a, "nuc", axis=(-2, -1)), rtol=1e-5
    )
    np.testing.assert_allclose(L.norm(md.tensor(a[0]), -math.inf).numpy(), np.linalg.norm(a[0], -np.inf), rtol=1e-6)
    np.testing.assert_allclose(L.norm(md.tensor(a[0]), 2).numpy(), np.linalg.norm(a[0], 2), rtol=1e-5)
    x = md.tensor(a)
    assert x.device == L.det(x).device == L.svd(x).U.device


def test_no_graph_without_grad():
    x = md.tensor(square(2, 3, 3), requires_grad=True)
    with md.no_grad():
        outs = [L.det(x), L.inv(x), L.svdvals(x), *L.eigh(x), *L.qr(x), L.cholesky(x @ x.transpose(-2, -1))]
    assert not any(o.requires_grad for o in outs)
    y = md.tensor(square(2, 3, 3))
    assert not L.inv(y).requires_grad and not L.svd(y).S.requires_grad


# ---- errors


def test_shape_and_argument_errors():
    v, rect, sq = md.zeros(3), md.zeros(2, 3, 4), md.zeros(2, 3, 3)
    for fn in (L.det, L.inv, L.cholesky, L.eigh, L.eigvalsh, L.slogdet, L.qr, L.svd, L.svdvals, L.pinv):
        with pytest.raises(ValueError, match=r"linalg\.\w+: A must have at least 2 dimensions.*\(3,\)"):
            fn(v)
    for fn in (L.det, L.inv, L.cholesky, L.eigh, L.eigvalsh, L.slogdet):
        with pytest.raises(ValueError, match=r"linalg\.\w+: A must be batches of square matrices.*\(2, 3, 4\)"):
            fn(rect)
    with pytest.raises(ValueError, match=r"linalg.solve.*\(2, 3, 3\).*\(4, 2\).*AX = B"):
        L.solve(sq, md.zeros(4, 2))
    with pytest.raises(ValueError, match=r"linalg.solve.*XA = B"):
        L.solve(sq, md.zeros(2, 3, 4), left=False)
    with pytest.raises(ValueError, match="left=False"):
        L.solve(sq, md.zeros(3), left=False)
    with pytest.raises(ValueError, match="linalg.solve.*do not broadcast"):
        L.solve(sq, md.zeros(4, 3, 1))
    with pytest.raises(TypeError, match="linalg.det.*float32.*int64"):
        L.det(md.zeros(3, 3).long())
    with pytest.raises(TypeError, match="linalg.inv"):
        L.inv(np.eye(3))
    with pytest.raises(ValueError, match="linalg.qr: mode"):
        L.qr(sq, mode="full")
    with pytest.raises(ValueError, match="linalg.eigh: UPLO"):
        L.eigh(sq, UPLO="X")
    with pytest.raises(ValueError, match="linalg.matrix_norm: order 3"):
        L.matrix_norm(sq, 3)
    with pytest.raises(ValueError, match="linalg.matrix_norm.*(different|multiple)"):
        L.matrix_norm(sq, dim=(1, -2))
    with pytest.raises(ValueError, match="linalg.norm.*1-D or 2-D.*\\(2, 3, 3\\)"):
        L.norm(sq, 2)
    with pytest.raises(ValueError, match="linalg.norm.*matrix norm"):
        L.norm(v, "fro")
    with pytest.raises(TypeError, match="linalg.vector_norm: ord"):
        L.vector_norm(v, "fro")
    with pytest.raises(ValueError, match="multi_dot.*at least 2"):
        L.multi_dot([sq[0]])
    with pytest.raises(ValueError, match=r"multi_dot.*inner tensors must be 2-D.*\(3,\)"):
        L.multi_dot([sq[0], v, sq[0]])
    with pytest.raises(ValueError, match=r"multi_dot: tensors\[0\] and tensors\[1\].*\(3, 3\), \(4, 2\)"):
        L.multi_dot([sq[0], md.zeros(4, 2)])
    with pytest.raises(ValueError, match="cross"):
        L.cross(md.zeros(2, 4), md.zeros(2, 4))
    with pytest.raises(ValueError, match="vecdot"):
        L.vecdot(md.zeros(3), md.zeros(2, 4))


def test_singular_and_indefinite_matrices_raise_linalg_error():
    a = square(3, 3, 3)
    a[1] = 0.0
    with pytest.raises(
        L.LinAlgError, match=r"linalg.inv: batch element \(1,\) of the input of shape \(3, 3, 3\) is singular"
    ):
        L.inv(md.tensor(a))
    with pytest.raises(RuntimeError, match=r"linalg.solve: batch element \(1,\).*singular"):
        L.solve(md.tensor(a), md.zeros(3, 3, 2))
    with pytest.raises(L.LinAlgError, match="linalg.inv.*singular"):
        L.inv(md.zeros(2, 2))
    s = spd(2, 3, 3)
    s[1, 1, 1] = -50.0
    with pytest.raises(L.LinAlgError, match=r"linalg.cholesky: batch element \(1,\) .*\(2, 3, 3\).*minor of order 2"):
        L.cholesky(md.tensor(s))
    with pytest.raises(RuntimeError, match="linalg.cholesky.*order 1"):
        L.cholesky(-md.eye(3))
    # the singular matrices that have a determinant: 0, with a finite gradient
    x = md.zeros(3, 3, requires_grad=True)
    L.det(x).backward()
    assert np.all(x.grad.numpy() == 0.0)
