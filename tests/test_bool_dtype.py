"""The bool dtype: masks from comparisons and the logical ops, promotion with int64 and float32,
reductions, selection and in-place writes, each checked against torch where it is installed and
against NumPy without it."""

import numpy as np
import pytest
from dtype_ref import described

import minidiff as md

X = np.array([1.0, np.nan, -2.0, 0.0], np.float32)
M = np.array([True, False, True, False])
M2 = np.array([False, False, True, True])
I = np.array([1, 0, -3, 7], np.int64)


def _env(lib):
    return dict(
        L=lib, np=np, x=lib.tensor(X.copy()), m=lib.tensor(M.copy()), m2=lib.tensor(M2.copy()), i=lib.tensor(I.copy())
    )


# expressions whose result (dtype and values) must be torch's
EXPRESSIONS = [
    "x > 0", "x == x", "x != 0.0", "i >= 0", "i < 2", "m == m2", "m == 1", "m == True", "x > m",
    "m & m2", "m | m2", "m ^ m2", "~m", "m & True", "True | m", "m ^ True", "m & i", "i | m", "m | 1",
    "L.logical_and(m, m2)", "L.logical_or(m, x)", "L.logical_xor(x, m)", "L.logical_not(x)", "x.logical_not()",
    "L.isnan(x)", "L.isinf(x)", "L.isfinite(x)", "L.isfinite(i)", "L.isfinite(m)", "L.isclose(x, x)",
    "L.signbit(x)", "L.isposinf(x)", "L.isin(i, L.tensor([7, 1]))",
    "m.sum()", "m.sum(0)", "m.sum(0, keepdim=True)", "m.cumsum(0)", "m.prod()", "m.any()", "m.all()", "m.max()",
    "m.min()", "m.amax()", "m.amin()", "L.any(x)", "L.all(x)", "m.float().mean()",
    "m * x", "x * m", "m + x", "x / m", "m * 2", "m + 1", "m ** 2", "2 ** m", "m / 2", "m // 1", "m % 2", "m * 2.5",
    "m + m2", "m * m2", "L.maximum(m, m2)", "L.minimum(m, m2)", "m.long() + i", "i + m", "i * m", "i == m",
    "m.exp()", "m.sign()", "m.float()", "m.long()", "x.bool()", "i.bool()", "m.to(L.float32)", "x.to(L.bool)",
    "x[m]", "x[~m]", "L.masked_select(x, m)", "x.masked_fill(m, 0.5)", "i.masked_fill(m, 5)",
    "m.masked_fill(m2, False)",
    "L.where(m, x, 0.0)", "L.where(m, m, m2)", "L.where(m, i, m)", "L.where(m)", "m.nonzero()", "L.argwhere(m)",
    "L.count_nonzero(m)", "L.zeros(3, dtype=L.bool)", "L.ones(3, dtype=L.bool)", "L.full((2,), True)",
    "L.full_like(x, True)", "L.zeros_like(m)", "m.new_ones(2)", "L.tensor([True, False])", "L.tensor(np.array([True]))",
    "m.reshape(2, 2)", "m.view(2, 2).t()", "m.flip(0)", "L.cat([m, m2])", "L.stack([m, m2])", "m.repeat(2)",
    "m.expand(2, 4)", "m.unique()", "L.sort(m)", "m.gather(0, L.tensor([3, 0]))", "m[L.tensor([1, 2])]", "m[1:]",
    "m[None, :, None]", "m.roll(1)", "L.tril(L.ones(3, 3, dtype=L.bool))", "m.is_floating_point()",
    "m.element_size()", "m.tolist()", "m[0].item()", "bool(m[1])", "float(m[0])", "int(m[0])",
    "L.equal(m, m)", "L.equal(m, m2)", "L.equal(x[:1], x[:1])", "m.sum(dtype=L.float32)",
    "L.sum(m, dtype=L.float32)", "m.cumsum(0, dtype=L.float32)", "i.mean(dtype=L.float32)", "m.prod(dtype=L.float32)",
    "i.sum(dtype=L.float32)", "i.cumprod(0, dtype=L.float32)",
]  # fmt: skip


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_bool_results_match_torch(expr):
    torch = pytest.importorskip("torch")
    want, got = eval(expr, _env(torch)), eval(expr, _env(md))  # noqa: S307 (the test's own expressions)
    assert described(got) == described(want), expr


# statements that change x, m or i in place
STATEMENTS = [
    "m[0] = False", "m[m2] = False", "m[1:] = True", "m[L.tensor([0, 2])] = False", "m.fill_(True)", "m.zero_()",
    "m &= m2", "m |= m2", "m ^= m2", "m += m2", "m *= m2", "m.copy_(x > 0)", "m.copy_(x)", "m.masked_fill_(m2, True)",
    "m.logical_not_()", "m.logical_and_(m2)", "m.logical_or_(m2)", "m.bitwise_xor_(m2)", "m.bitwise_not_()",
    "x[m] = 0.0", "x[m] = L.tensor([5.0, 6.0])", "x.masked_fill_(m, 7.0)", "i[m] = 4", "x += m", "x *= m", "i += m",
    "x.copy_(m)", "m.index_put_((L.tensor([1]),), L.tensor(True))", "m.scatter_(0, L.tensor([1]), L.tensor([True]))",
]  # fmt: skip


@pytest.mark.parametrize("stmt", STATEMENTS)
def test_bool_in_place_matches_torch(stmt):
    torch = pytest.importorskip("torch")
    results = []
    for lib in (torch, md):
        env = _env(lib)
        exec(stmt, env)  # noqa: S102
        results.append(described([env[k] for k in ("x", "m", "i")]))
    assert results[1] == results[0], stmt


@pytest.mark.parametrize(
    "expr", ["m - 1", "1 - m", "m - 1.0", "1.0 - m", "m - m2", "x - m", "m - x", "-m", "m.float() - m", "m.sub(m2)"]
)
def test_subtracting_or_negating_a_bool_raises_as_torch(expr):
    env = _env(md)
    with pytest.raises(TypeError, match=r"(sub|rsub|neg).*bool.*(~|logical)"):
        eval(expr, env)  # noqa: S307
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="bool"):
        eval(expr, _env(torch))  # noqa: S307


def test_bool_values_without_torch():
    x, m = md.tensor(X), md.tensor(M)
    gt = x > 0
    assert gt.dtype == "bool" and gt.numpy().dtype == np.bool_
    np.testing.assert_array_equal(gt.numpy(), X > 0)
    np.testing.assert_array_equal((m & (x == x)).numpy(), M & ~np.isnan(X))
    assert m.sum().dtype == "int64" and m.sum().item() == 2
    assert (m * 3).dtype == "int64" and (m * 3).tolist() == [3, 0, 3, 0]
    assert (m * 0.5).dtype == "float32" and (m + md.tensor(I)).tolist() == (M + I).tolist()
    np.testing.assert_array_equal(md.where(m, x, -1.0).numpy(), np.where(M, X, -1.0))
    np.testing.assert_array_equal(x[m].numpy(), X[M])
    # the cast: nonzero (NaN included) is true, and back 0/1
    assert md.tensor([0.0, -0.0, np.nan, 2.5, -1e-30]).bool().tolist() == [False, False, True, True, True]
    assert md.tensor([0, 3, -1]).bool().tolist() == [False, True, True]
    assert md.tensor([True, False]).to("bfloat16").float().tolist() == [1.0, 0.0]
    assert md.tensor([0.0, 0.5, -0.0], dtype="bfloat16").bool().tolist() == [False, True, False]
    assert md.tensor([True, False]).long().to("bfloat16").tolist() == [1.0, 0.0]
    # views and copies of one-byte elements
    big = md.tensor(np.arange(24).reshape(2, 3, 4) % 3 == 0)
    np.testing.assert_array_equal(
        big.permute(2, 0, 1).contiguous().numpy(), (np.arange(24).reshape(2, 3, 4) % 3 == 0).transpose(2, 0, 1)
    )
    assert md.tensor(True).item() is True and repr(md.tensor([True])) == "tensor([True])"


def test_bool_tensors_cannot_require_grad_but_gate_gradients():
    with pytest.raises(TypeError, match="float32"):
        md.tensor([True]).requires_grad_()
    w = md.tensor([1.0, -2.0, 3.0], requires_grad=True)
    keep = w.detach() > 0
    (w * keep).sum().backward()
    assert w.grad.tolist() == [1.0, 0.0, 1.0]
    w.grad = None
    md.where(keep, w, 0.0).square().sum().backward()
    assert w.grad.tolist() == [2.0, 0.0, 6.0]


def test_bool_attention_masks_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 5, 4)).astype(np.float32) for _ in range(3))
    keep = rng.random((5, 5)) > 0.4
    keep[:, 0] = True  # every query sees something
    got = md.F.scaled_dot_product_attention(md.tensor(q), md.tensor(k), md.tensor(v), attn_mask=md.tensor(keep))
    want = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask=torch.tensor(keep)
    )
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    # the comparison's mask means the same as the NumPy one
    scores = md.tensor(keep.astype(np.float32))
    again = md.F.scaled_dot_product_attention(md.tensor(q), md.tensor(k), md.tensor(v), attn_mask=scores > 0.5)
    np.testing.assert_array_equal(again.numpy(), got.numpy())
    # nn.MultiheadAttention: True blocks, as torch's
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    mm = md.nn.MultiheadAttention(8, 2, batch_first=True)
    mm.load_state_dict({n: md.tensor(p.detach().numpy()) for n, p in tm.state_dict().items()})
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    pad = np.array([[False] * 4 + [True], [False] * 5])
    causal = np.triu(np.ones((5, 5), bool), 1)
    want, _ = tm(*[torch.tensor(x)] * 3, key_padding_mask=torch.tensor(pad), attn_mask=torch.tensor(causal))
    got, _ = mm(*[md.tensor(x)] * 3, key_padding_mask=md.tensor(pad), attn_mask=md.tensor(causal))
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_bool_tensors_save_and_load(tmp_path):
    m = md.tensor(M)
    md.save({"mask": m, "view": m[1:]}, tmp_path / "masks.pt")
    back = md.load(tmp_path / "masks.pt")
    assert back["mask"].dtype == "bool" and back["mask"].tolist() == M.tolist()
    assert back["view"].tolist() == M[1:].tolist()


def test_promotion_helpers_know_bool():
    assert md.result_type(md.tensor([True]), True) == "bool"
    assert md.result_type(md.tensor([True]), 1) == "int64"
    assert md.result_type(md.tensor([True]), md.tensor([1.0])) == "float32"
    assert md.promote_types(md.bool, md.int64) == "int64" and md.promote_types("bool", "float32") == "float32"
    assert md.can_cast(md.bool, md.int64) and not md.can_cast(md.int64, md.bool)
    assert not md.can_cast(md.float32, md.bool)
    torch = pytest.importorskip("torch")
    assert str(torch.promote_types(torch.bool, torch.int64)).endswith("int64")
    assert not torch.can_cast(torch.int64, torch.bool) and torch.can_cast(torch.bool, torch.int64)
