"""Selection, indexing and scan ops (where, gather, index_select, t[idx], cumsum, cumprod),
conv_transpose2d, and the torch names composed from ops in minidiff/tensor_ops.py: NumPy
references and finite differences, and torch where it is installed."""

from __future__ import annotations

import numpy as np
import pytest
from gradcheck import check_grads

import minidiff as md


def rng(seed=0):
    return np.random.default_rng(seed)


def randn(r, *shape):
    return r.standard_normal(shape).astype(np.float32)


def i64(a):
    return md.tensor(np.asarray(a), dtype="int64")


# ---- where


def test_where_selects_broadcasts_and_routes_gradients():
    r = rng()
    cond = (r.random((3, 1, 5)) > 0.5).astype(np.float32)
    a, b = randn(r, 4, 5), randn(r, 1, 5)
    out = md.where(md.tensor(cond), md.tensor(a), md.tensor(b))
    np.testing.assert_array_equal(out.numpy(), np.where(cond != 0, a, b))
    check_grads(lambda x, y: md.where(md.tensor(cond), x, y), [a, b])


def test_where_takes_numbers_and_never_leaks_nan_gradients():
    x = md.tensor([1.0, -2.0, np.inf], requires_grad=True)
    y = md.where(x > 0, x, 0.0)
    np.testing.assert_array_equal(y.numpy(), [1.0, 0.0, np.inf])
    # the unselected branch gets an exact zero even when the upstream gradient is NaN
    y.backward(md.tensor([1.0, np.nan, 2.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 2.0])
    assert md.where(md.tensor([np.nan]), 1.0, 2.0).item() == 1.0  # NaN is true, as bool(nan)


def test_where_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="where"):
        md.where(md.ones(3), md.ones(4), 0.0)


# ---- gather and index_select


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_gather_matches_take_along_axis_and_accumulates_repeated_indices(dim):
    r = rng(1)
    x = randn(r, 4, 5, 6)
    shape = [3, 4, 5]
    idx = r.integers(0, x.shape[dim], size=shape)
    # torch's gather reads only the leading part of the other dims when the index is smaller
    ref_x = x[tuple(slice(0, s) if d != dim % 3 else slice(None) for d, s in enumerate(shape))]
    np.testing.assert_array_equal(md.tensor(x).gather(dim, i64(idx)).numpy(), np.take_along_axis(ref_x, idx, axis=dim))
    check_grads(lambda t: t.gather(dim, i64(idx)), [x])


def test_gather_checks_index_dtype_rank_and_range():
    x = md.ones((2, 3))
    with pytest.raises(TypeError, match="gather: index must be an int64"):
        x.gather(1, md.tensor([[0.0]]))
    with pytest.raises(ValueError, match="as many dimensions"):
        x.gather(1, i64([0]))
    with pytest.raises(IndexError, match=r"gather: index out of range.*\[0, 3\]"):
        x.gather(1, i64([[0, 3]]))
    with pytest.raises(IndexError, match="out of range"):
        x.gather(1, i64([[-1]]))


def test_index_select_and_tensor_indexing():
    r = rng(2)
    x = randn(r, 4, 5, 6)
    t = md.tensor(x)
    np.testing.assert_array_equal(t.index_select(1, i64([4, 0, 0])).numpy(), x[:, [4, 0, 0]])
    np.testing.assert_array_equal(t[i64([3, 1])].numpy(), x[[3, 1]])
    np.testing.assert_array_equal(t[[0, -1]].numpy(), x[[0, -1]])  # negatives count from the end
    idx = np.array([[0, 2], [4, -5]])
    np.testing.assert_array_equal(t[1:, idx].numpy(), x[1:, idx])
    np.testing.assert_array_equal(t[..., np.array([1, 1])].numpy(), x[..., [1, 1]])
    np.testing.assert_array_equal(t[None, 0, i64(2)].numpy(), x[None, 0, 2])
    check_grads(lambda a: a[:, i64(idx)], [x])
    with pytest.raises(IndexError, match="index_select: index out of range"):
        t.index_select(0, i64([-1]))  # torch.index_select takes no negative indices
    with pytest.raises(IndexError, match="must be int64"):  # a 2-D float tensor among other keys
        t[:, md.tensor(np.array([[1.0, 0.0]], dtype=np.float32))]
    with pytest.raises(IndexError, match="must be int64, int32, bool or uint8"):  # float tensors: as torch
        t[:, md.tensor(np.array([0.0, 1.0], dtype=np.float32))]
    with pytest.raises(IndexError, match="must be int64, int32, bool or uint8"):  # not even a 0/1 one as a mask
        t[md.tensor(np.array([0.0, 1.0, 0.0, 1.0, 1.0], dtype=np.float32))]
    np.testing.assert_array_equal(t[[0, 2], [1, 0]].numpy(), x[[0, 2], [1, 0]])  # pairs, as torch/NumPy
    np.testing.assert_array_equal(t[:, [0, 2], [1, 1]].numpy(), x[:, [0, 2], [1, 1]])
    check_grads(lambda a: a[[0, 2, 0], [1, 0, 1]], [x])  # a repeated pair accumulates
    with pytest.raises(IndexError, match="out of range"):
        t[[4]]
    u = md.tensor(x)
    u[[0, 2]] = 1.0  # torch's index_put_
    u[i64([1])] = md.tensor(np.full((1, 5, 6), 7.0, np.float32))
    want = x.copy()
    want[[0, 2]], want[[1]] = 1.0, 7.0
    np.testing.assert_array_equal(u.numpy(), want)


def test_indexing_a_schedule_by_timesteps_as_tutorials_do():
    alphas_cumprod = md.cumprod(1.0 - md.linspace(1e-4, 0.02, 300), 0)
    t = md.randint(0, 300, (16,))
    ref = alphas_cumprod.numpy()[t.numpy()]
    np.testing.assert_array_equal(alphas_cumprod[t].numpy(), ref)
    np.testing.assert_array_equal(alphas_cumprod.gather(-1, t).numpy(), ref)


# ---- scans


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_and_cumprod_match_numpy_and_finite_differences(dim):
    r = rng(3)
    x = randn(r, 3, 4, 5)
    np.testing.assert_allclose(md.tensor(x).cumsum(dim).numpy(), np.cumsum(x, axis=dim), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(md.tensor(x).cumprod(dim).numpy(), np.cumprod(x, axis=dim), rtol=1e-5, atol=1e-6)
    check_grads(lambda t: t.cumsum(dim), [x])
    check_grads(lambda t: t.cumprod(dim), [x * 0.5 + np.sign(x)])


def test_cumprod_gradient_is_exact_with_zeros():
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0], np.float32)
    t = md.tensor(x, requires_grad=True)
    t.cumprod(0).sum().backward()
    # d/dx_k sum_j prod_{i<=j} x_i, by hand: only the terms whose product skips the zeros survive
    expected = [1.0, 2.0 + 2 * 3.0, 0.0, 0.0, 0.0]
    np.testing.assert_array_equal(t.grad.numpy(), expected)


def test_scans_of_int64_and_0d_and_empty():
    np.testing.assert_array_equal(md.cumsum(i64([1, 2, 3]), 0).numpy(), [1.0, 3.0, 6.0])
    assert md.cumprod(md.tensor(3.0), 0).item() == 3.0
    assert md.cumsum(md.zeros((0, 3)), 0).shape == (0, 3)


# ---- conv_transpose2d


@pytest.mark.parametrize(
    "cin, cout, k, stride, padding, output_padding",
    [(3, 4, 4, 2, 1, 0), (2, 3, 3, 1, 1, 0), (2, 2, 3, 2, 1, 1), (4, 2, 1, 1, 0, 0), (2, 3, 5, 3, 2, 2)],
)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(cin, cout, k, stride, padding, output_padding):
    r = rng(4)
    x = randn(r, 2, cin, 4, 5)
    w = randn(r, cin, cout, k, k)
    y = md.F.conv_transpose2d(md.tensor(x), md.tensor(w), stride=stride, padding=padding, output_padding=output_padding)
    assert y.shape == (2, cout, (4 - 1) * stride - 2 * padding + k + output_padding,
                       (5 - 1) * stride - 2 * padding + k + output_padding)  # fmt: skip
    # <conv_transpose(x), z> == <x, conv2d(z)> for the conv2d it transposes
    z = randn(r, *y.shape)
    cz = md.F.conv2d(md.tensor(z), md.tensor(w), stride=stride, padding=padding).numpy()
    lhs = float(np.sum(y.numpy().astype(np.float64) * z))
    rhs = float(np.sum(x.astype(np.float64) * cz))
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs))
    b = randn(r, cout)
    check_grads(
        lambda a, ww, bb: md.F.conv_transpose2d(
            a, ww, bb, stride=stride, padding=padding, output_padding=output_padding
        ),
        [x, w, b],
    )


def test_conv_transpose2d_module_and_bad_arguments():
    m = md.nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    assert m.weight.shape == (8, 4, 4, 4) and m.bias.shape == (4,)
    bound = 1 / np.sqrt(4 * 16)  # torch's fan-in of a transposed conv: out_channels * kernel area
    assert 0.9 * bound < np.abs(m.weight.numpy()).max() <= bound  # in_channels * area would give 0.71 * bound
    assert m(md.randn(2, 8, 7, 7)).shape == (2, 4, 14, 14)
    assert md.nn.ConvTranspose2d(2, 2, 3, bias=False).bias is None
    with pytest.raises(ValueError, match="output_padding"):
        md.F.conv_transpose2d(md.randn(1, 2, 3, 3), md.randn(2, 2, 3, 3), stride=1, output_padding=1)
    with pytest.raises(ValueError, match="conv_transpose2d: input of shape"):
        md.F.conv_transpose2d(md.randn(1, 3, 3, 3), md.randn(2, 2, 3, 3))
    with pytest.raises(ValueError, match="groups"):
        md.nn.ConvTranspose2d(3, 2, 3, groups=2)  # 3 input channels in 2 groups


# ---- the names composed in tensor_ops.py


def test_reductions_composed_from_ops():
    r = rng(5)
    x = randn(r, 3, 4, 5)
    x[0, 0, :2] = x[0, 0, 2]  # ties: the first index wins, as in torch and NumPy
    t = md.tensor(x)
    assert t.min().item() == x.min()
    res = t.min(1)
    np.testing.assert_array_equal(res.values.numpy(), x.min(1))
    np.testing.assert_array_equal(res.indices.numpy(), x.argmin(1))
    assert t.argmax().item() == x.argmax()
    np.testing.assert_array_equal(t.argmax(2).numpy(), x.argmax(2))
    np.testing.assert_array_equal(t.argmin(0, keepdim=True).numpy(), x.argmin(0)[None])
    np.testing.assert_allclose(t.var().numpy(), x.var(ddof=1), rtol=1e-5)
    np.testing.assert_allclose(t.var((0, 2), keepdim=True).numpy(), x.var((0, 2), ddof=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(t.std(1, unbiased=False).numpy(), x.std(1), rtol=1e-5)
    assert np.isnan(md.tensor([1.0]).std().item())
    np.testing.assert_allclose(t.prod(1).numpy(), x.prod(1), rtol=1e-5)
    np.testing.assert_allclose(t.prod().numpy(), x.prod(), rtol=1e-4)
    assert t.prod(1, keepdim=True).shape == (3, 1, 5)
    check_grads(lambda a: a.var(2), [x])
    check_grads(lambda a: a.prod(1), [x])


def test_elementwise_names_composed_from_ops():
    x = np.array([1.0, np.nan, np.inf, -np.inf, 0.0], np.float32)
    t = md.tensor(x)
    np.testing.assert_array_equal(md.isnan(t).numpy(), np.isnan(x))
    np.testing.assert_array_equal(md.isfinite(t).numpy(), np.isfinite(x))
    np.testing.assert_array_equal(md.isinf(t).numpy(), np.isinf(x))
    y = md.tensor([[1.0, -2.0], [3.0, -4.0]])
    np.testing.assert_array_equal(y.masked_fill(y < 0, 0.5).numpy(), [[1.0, 0.5], [3.0, 0.5]])
    np.testing.assert_array_equal(y.flip(1).numpy(), [[-2.0, 1.0], [-4.0, 3.0]])
    np.testing.assert_array_equal(md.flip(y, (0, 1)).numpy(), [[-4.0, 3.0], [-2.0, 1.0]])
    np.testing.assert_allclose(md.lerp(y, md.zeros((2, 2)), 0.25).numpy(), y.numpy() * 0.75)
    assert md.allclose(y, y.numpy() + 1e-9) and not md.allclose(y, y.numpy() + 1e-3)
    assert md.full_like(y, 7.0).numpy().tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert md.rand_like(y).shape == (2, 2) and md.empty_like(y).shape == (2, 2)
    assert md.exp is md.F.exp and md.matmul is md.F.matmul


def test_linspace_values():
    np.testing.assert_allclose(md.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1.0])
    assert md.linspace(0, 1, 0).shape == (0,)
    assert md.linspace(3, 9, 1).numpy().tolist() == [3.0]
    v = md.linspace(1e-4, 0.02, 1000).numpy()
    assert v[0] == np.float32(1e-4) and v[-1] == np.float32(0.02)
    with pytest.raises(ValueError, match="linspace"):
        md.linspace(0, 1, -1)


# ---- against torch


def test_against_torch():
    torch = pytest.importorskip("torch")
    r = rng(6)
    x = randn(r, 3, 4, 5)
    for args in [(0, 1, 5), (1e-4, 0.02, 1000), (-3, 7.5, 7), (2, -1, 4), (0.1, 0.9, 333)]:
        np.testing.assert_array_equal(md.linspace(*args).numpy(), torch.linspace(*args).numpy())
    t, tt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    idx = r.integers(0, 4, size=(3, 2, 5))
    outs = [
        (t.gather(1, i64(idx)), tt.gather(1, torch.tensor(idx))),
        (t.cumprod(2), tt.cumprod(2)),
        (t.cumsum(0), tt.cumsum(0)),
        (t[:, [3, -1]], tt[:, [3, -1]]),
        (md.where(t > 0, t, t * 2), torch.where(tt > 0, tt, tt * 2)),
        (t.var(1), tt.var(1)),
        (t.prod(2), tt.prod(2)),
        (t.flip((0, 2)), tt.flip((0, 2))),
        (t.min(2).values, tt.min(2).values),
    ]
    for m_out, t_out in outs:
        np.testing.assert_allclose(m_out.numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = sum(((o[0] * (k + 1)).sum() for k, o in enumerate(outs)), md.zeros(()))
    sum(((o[1] * (k + 1)).sum() for k, o in enumerate(outs)), torch.zeros(())).backward()
    g.backward()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-4, atol=1e-4)

    xw, ww, bw = randn(r, 2, 6, 5, 5), randn(r, 6, 3, 4, 4), randn(r, 3)
    m_in = [md.tensor(a, requires_grad=True) for a in (xw, ww, bw)]
    t_in = [torch.tensor(a, requires_grad=True) for a in (xw, ww, bw)]
    y = md.F.conv_transpose2d(*m_in, stride=2, padding=1, output_padding=1)
    ty = torch.nn.functional.conv_transpose2d(*t_in, stride=2, padding=1, output_padding=1)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    gy = randn(r, *ty.shape)
    y.backward(md.tensor(gy))
    ty.backward(torch.tensor(gy))
    for a, b in zip(m_in, t_in):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-4)


# ---- regressions found by probing against torch


def test_negative_indices_do_not_round_the_others_on_long_dimensions():
    x = np.random.default_rng(7).standard_normal(2**24 + 12).astype(np.float32)
    picks = [16777217, 16777219, -2]
    np.testing.assert_array_equal(md.tensor(x)[picks].numpy(), x[picks])


def test_std_gradient_is_zero_where_the_std_is_zero():
    v = np.full((4, 3), 2.0, np.float32)
    v[:, 1] = [1, 2, 3, 4]
    t = md.tensor(v, requires_grad=True)
    t.std(0).sum().backward()
    g = t.grad.numpy()
    assert np.all(np.isfinite(g)) and np.all(g[:, [0, 2]] == 0.0) and np.all(g[:, 1] != 0.0)


def test_scans_accumulate_in_double_on_the_cpu():
    x = np.full(2_000_000, 0.1, np.float32)
    ref = np.cumsum(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(md.tensor(x).cumsum(0).numpy(), ref, rtol=1e-6)
    # 1e30 * 1e30 overflows float32 but not the running product, so the zero still wins
    np.testing.assert_array_equal(
        md.tensor([1e30, 1e30, 0.0, 1e-30]).cumprod(0).numpy(), np.array([1e30, np.inf, 0.0, 0.0], np.float32)
    )


def test_selection_keeps_int64_exact():
    big = [2**40 + 1, 5, 2**33 + 3]
    t = md.tensor(np.array(big), dtype="int64")
    for out, ref in [
        (t[[0, 2]], [big[0], big[2]]),
        (t.index_select(0, i64([2])), [big[2]]),
        (t.flip(0), big[::-1]),
        (t.gather(0, i64([1, 0])), [5, big[0]]),
        (md.where(md.tensor([1.0, 0.0, 1.0]), t, 0), [big[0], 0, big[2]]),
    ]:
        assert out.dtype == "int64" and out.numpy().tolist() == ref
    alphas = md.linspace(0.1, 0.9, 5)
    order = i64([4, 0])
    # an int64 index selected from an int64 index is still an index
    np.testing.assert_array_equal(alphas[order[i64([1, 0])]].numpy(), alphas.numpy()[[0, 4]])


def test_index_results_are_new_tensors_and_0d_index_select_keeps_the_dim():
    x = md.randn(4, 3, requires_grad=True)
    y = x[[0, 2]]
    y += 1.0  # a copy, as torch's advanced indexing: in-place is fine inside the graph
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0]])
    assert md.randn(4, 5, 6).index_select(1, md.tensor(2, dtype="int64")).shape == (4, 1, 6)
    assert md.randn(4, 5, 6)[:, md.tensor(2, dtype="int64")].shape == (4, 6)


def test_where_and_masked_fill_take_numpy_scalars():
    x = md.tensor([1.0, -1.0])
    np.testing.assert_array_equal(x.masked_fill(x < 0, np.float32(-1e9)).numpy(), [1.0, -1e9])
    np.testing.assert_array_equal(md.where(x > 0, x, np.int64(0)).numpy(), [1.0, 0.0])


def test_composed_names_at_the_edges():
    assert md.tensor(2.0).prod(0).item() == 2.0 and md.tensor(2.0).flip(0).item() == 2.0
    with pytest.raises(IndexError, match="var: dimension out of range"):
        md.ones(3, 4).var(5)
    with pytest.raises(IndexError, match="cumsum"):
        md.cumsum(md.tensor(2.0), 7)
    with pytest.raises(ValueError, match="flip: dim 0 appears multiple times"):
        md.ones(3).flip((0, 0))
    x = np.random.default_rng(8).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(md.tensor(x).var(()).item(), x.var(ddof=1), rtol=1e-5)
    assert md.tensor(x).var(1, False).shape == (3,) and md.tensor(x).var(False).item() == pytest.approx(x.var(), 1e-5)
    assert md.tensor([3.0, 4.0]).var(correction=3).item() == np.inf
    assert type(md.ones(2, 2).min(1)).__name__ == "min"
    assert md.min(md.ones(2), other=md.zeros(2)).numpy().tolist() == [0.0, 0.0]
    assert md.tensor([1e8]).lerp(md.tensor([1e-8]), 1.0).item() == np.float32(1e-8)
    empty = md.zeros((0, 3), requires_grad=True)
    empty.prod(0).sum().backward()
    assert empty.grad.shape == (0, 3)
    assert md.full_like(md.ones(2, dtype="bfloat16"), 3.0).dtype == "bfloat16"
    assert md.rand_like(md.ones(2, dtype="bfloat16")).dtype == "bfloat16"
    assert md.full_like(md.ones(2), 1.0, requires_grad=True).requires_grad


def test_bfloat16_selection_keeps_its_dtype_and_its_gradient():
    x = md.tensor([1.5, -2.25, 3.0, 0.5])
    h = x.to("bfloat16")
    assert md.where(md.tensor([1.0, 0.0, 1.0, 0.0]), h, md.zeros(4, dtype="bfloat16")).dtype == "bfloat16"
    assert h.gather(0, i64([3, 0])).float().numpy().tolist() == [0.5, 1.5]
    w = md.tensor([1.5, -2.25, 3.0, 0.5], requires_grad=True)
    out = md.where(md.tensor([1.0, 0.0, 1.0, 0.0]), w.to("bfloat16"), (w * 2).to("bfloat16"))
    assert out.dtype == "bfloat16"
    out.float().sum().backward()
    assert w.grad.numpy().tolist() == [1.0, 2.0, 1.0, 2.0]
    g = md.tensor([1.0, 2.0], requires_grad=True)
    g.to("bfloat16").gather(0, i64([1, 1])).float().sum().backward()
    assert g.grad.numpy().tolist() == [0.0, 2.0]


def test_int64_extremes_are_exact():
    v = np.array([[2**40 + 1, 2**40, 2**40 + 3], [1, 2, 0]])
    t = md.tensor(v, dtype="int64")
    assert t.argmin().item() == v.argmin() and t.argmax().item() == v.argmax()
    assert t.min().item() == v.min() and t.min().dtype == "int64"
    r = t.min(1)
    assert r.values.numpy().tolist() == v.min(1).tolist() and r.indices.numpy().tolist() == v.argmin(1).tolist()
    assert t.argmax(0, keepdim=True).numpy().tolist() == [v.argmax(0).tolist()]
    assert md.tensor(3.0).var(keepdim=True).shape == ()
