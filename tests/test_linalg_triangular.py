"""md.linalg.solve_triangular and matrix_rank: NumPy oracles and finite differences here, torch's
values and gradients where torch is installed."""

import numpy as np
import pytest
from gradcheck import check_grads

import minidiff as md

RNG = np.random.default_rng(5)


def triangular(*shape):
    # the other triangle holds noise: solve_triangular must not read it
    return RNG.standard_normal(shape).astype(np.float32) + 3 * np.eye(shape[-1], dtype=np.float32)


def system(left):
    """(A, B) of a batch of two 4x4 systems, B on A's left or right."""
    return triangular(2, 4, 4), RNG.standard_normal((2, 4, 3) if left else (2, 3, 4)).astype(np.float32)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_reads_one_triangle_and_solves(upper, left, unit):
    a, b = system(left)
    x = md.linalg.solve_triangular(md.tensor(a), md.tensor(b), upper=upper, left=left, unitriangular=unit)
    t = np.triu(a) if upper else np.tril(a)
    if unit:
        t[..., np.arange(4), np.arange(4)] = 1.0
    want = (
        np.linalg.solve(t, b)
        if left
        else np.swapaxes(np.linalg.solve(np.swapaxes(t, -1, -2), np.swapaxes(b, -1, -2)), -1, -2)
    )
    np.testing.assert_allclose(x.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("upper", [False, True])
def test_solve_triangular_gradients_by_finite_differences(upper):
    def fn(a, b):
        return md.linalg.solve_triangular(a, b, upper=upper)

    check_grads(fn, [triangular(3, 3), RNG.standard_normal((3, 2))], eps=1e-3, rtol=5e-3, atol=5e-3)


def test_solve_triangular_broadcasts_batches_and_gives_inf_for_a_zero_diagonal():
    a = triangular(4, 4)
    b = RNG.standard_normal((3, 1, 4, 2)).astype(np.float32)
    x = md.linalg.solve_triangular(md.tensor(a), md.tensor(b), upper=False)
    assert tuple(x.shape) == (3, 1, 4, 2)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(np.tril(a), b), rtol=1e-5, atol=1e-5)
    x = md.linalg.solve_triangular(md.tensor([[0.0, 0.0], [1.0, 1.0]]), md.tensor([[1.0], [1.0]]), upper=False)
    assert np.isinf(x.numpy()).all()  # no LinAlgError, as torch's
    with pytest.raises(ValueError, match="incompatible shapes"):
        md.linalg.solve_triangular(md.tensor(a), md.ones(3, 2), upper=True)


def test_matrix_rank_counts_singular_values_above_the_tolerance():
    a = RNG.standard_normal((3, 5, 2)).astype(np.float32) @ RNG.standard_normal((3, 2, 4)).astype(np.float32)
    r = md.linalg.matrix_rank(md.tensor(a))
    assert r.dtype == "int64" and r.numpy().tolist() == [2, 2, 2]
    assert md.linalg.matrix_rank(md.tensor(np.eye(3, dtype=np.float32) * [1.0, 1e-3, 1e-9])).item() == 2
    assert md.linalg.matrix_rank(md.tensor(np.diag([3.0, 2.0, 0.5]).astype(np.float32)), atol=1.0).item() == 2
    s = np.diag([2.0, -1.0, 0.0]).astype(np.float32)
    assert md.linalg.matrix_rank(md.tensor(s), hermitian=True).item() == 2


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular_matches_torch(upper, left, unit):
    a, b = system(left)
    g = RNG.standard_normal(b.shape).astype(np.float32)
    ma, mb = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    x = md.linalg.solve_triangular(ma, mb, upper=upper, left=left, unitriangular=unit)
    tx = torch.linalg.solve_triangular(ta, tb, upper=upper, left=left, unitriangular=unit)
    (x * md.tensor(g)).sum().backward()
    (tx * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.detach().numpy(), tx.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ma.grad.numpy(), ta.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mb.grad.numpy(), tb.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"atol": 1.0}, {"rtol": 0.5}, {"hermitian": True}])
def test_matrix_rank_matches_torch(kw):
    a = RNG.standard_normal((4, 3, 3)).astype(np.float32)
    a = a + np.swapaxes(a, -1, -2) if kw.get("hermitian") else a
    a[0] = np.outer([1, 2, 3], [1, 0, 1])
    got = md.linalg.matrix_rank(md.tensor(a), **kw)
    want = torch.linalg.matrix_rank(torch.tensor(a), **kw)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
