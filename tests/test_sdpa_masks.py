"""F.scaled_dot_product_attention's torch arguments beyond the fused kernel: attn_mask (float masks
added, NumPy bool masks kept where True, broadcast), is_causal (square and not), dropout_p and
enable_gqa; values and gradients against torch."""

import numpy as np
import pytest

import minidiff as md
import minidiff.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def rng(seed=0):
    return np.random.default_rng(seed)


def qkv(r, b=2, h=3, L=5, S=7, E=4, Ev=6, kv_heads=None):
    kvh = kv_heads or h
    return (
        r.standard_normal((b, h, L, E)).astype(np.float32),
        r.standard_normal((b, kvh, S, E)).astype(np.float32),
        r.standard_normal((b, kvh, S, Ev)).astype(np.float32),
    )


def both(arrays, md_kwargs, torch_kwargs, grad_seed=1):
    """Outputs and input gradients of minidiff and torch for the same arguments."""
    mt = [md.tensor(a, requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = F.scaled_dot_product_attention(*mt, **md_kwargs)
    ty = TF.scaled_dot_product_attention(*tt, **torch_kwargs)
    g = rng(grad_seed).standard_normal(tuple(ty.shape)).astype(np.float32)
    y.backward(md.tensor(g))
    ty.backward(torch.tensor(g))
    return [y.numpy()] + [t.grad.numpy() for t in mt], [ty.detach().numpy()] + [t.grad.numpy() for t in tt]


def assert_all_close(got, want, tol=1e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("mask_shape", [(5, 7), (2, 1, 5, 7), (2, 3, 5, 7), (1, 7)])
def test_float_masks_are_added(mask_shape):
    r = rng(2)
    arrays = qkv(r)
    mask = r.standard_normal(mask_shape).astype(np.float32)
    mask[..., 0] = -np.inf  # a blocked key, as additive masks block
    got, want = both(arrays, {"attn_mask": md.tensor(mask)}, {"attn_mask": torch.tensor(mask)})
    assert_all_close(got, want)


def test_bool_masks_keep_where_true():
    r = rng(3)
    arrays = qkv(r)
    keep = r.random((2, 1, 5, 7)) > 0.4
    keep[..., 2] = True  # no row fully masked (torch and minidiff would both give NaN there)
    got, want = both(arrays, {"attn_mask": keep}, {"attn_mask": torch.tensor(keep)})
    assert_all_close(got, want)
    # the same mask spelled as an additive float mask
    additive = md.where(md.tensor(keep), 0.0, float("-inf"))
    y = F.scaled_dot_product_attention(*[md.tensor(a) for a in arrays], attn_mask=additive)
    np.testing.assert_allclose(y.numpy(), want[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("L,S", [(6, 6), (4, 7), (7, 4)])
def test_is_causal(L, S):
    arrays = qkv(rng(4), L=L, S=S)
    got, want = both(arrays, {"is_causal": True, "scale": 0.3}, {"is_causal": True, "scale": 0.3})
    assert_all_close(got, want)


def test_enable_gqa_repeats_key_value_heads():
    arrays = qkv(rng(5), h=6, kv_heads=2)
    got, want = both(arrays, {"enable_gqa": True}, {"enable_gqa": True})
    assert_all_close(got, want)
    with pytest.raises(ValueError, match="multiple"):
        a = qkv(rng(6), h=5, kv_heads=2)
        F.scaled_dot_product_attention(*[md.tensor(x) for x in a], enable_gqa=True)


def test_without_extras_it_is_the_fused_kernel_and_matches_the_composed_path():
    arrays = qkv(rng(7))
    fused = F.scaled_dot_product_attention(*[md.tensor(a) for a in arrays]).numpy()
    zero_mask = F.scaled_dot_product_attention(*[md.tensor(a) for a in arrays], attn_mask=md.zeros((5, 7))).numpy()
    np.testing.assert_allclose(fused, zero_mask, rtol=1e-5, atol=1e-6)


def test_dropout():
    arrays = [md.tensor(a) for a in qkv(rng(8))]
    plain = F.scaled_dot_product_attention(*arrays).numpy()
    np.testing.assert_array_equal(F.scaled_dot_product_attention(*arrays, dropout_p=1.0).numpy(), 0 * plain)
    md.manual_seed(0)
    dropped = F.scaled_dot_product_attention(*arrays, dropout_p=0.5).numpy()
    assert dropped.shape == plain.shape and not np.allclose(dropped, plain)
    # the dropped weights are scaled by 1 / (1 - p): averaged over many draws, the output is the plain one
    md.manual_seed(1)
    mean = np.mean([F.scaled_dot_product_attention(*arrays, dropout_p=0.5).numpy() for _ in range(400)], axis=0)
    np.testing.assert_allclose(mean, plain, atol=0.15)


def test_bad_arguments_raise():
    a = [md.tensor(x) for x in qkv(rng(9))]
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(*a, attn_mask=md.zeros((5, 7)), is_causal=True)
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(*a, dropout_p=1.5)
    with pytest.raises(ValueError, match="do not fit"):
        F.scaled_dot_product_attention(a[0], a[1], md.zeros((2, 3, 6, 6)), is_causal=True)


def test_a_query_with_nothing_to_attend_gets_zeros_as_in_torch():
    arrays = qkv(rng(10), b=1, h=1, L=2, S=3)
    keep = np.array([[True, True, False], [False, False, False]])
    got, want = both(arrays, {"attn_mask": keep}, {"attn_mask": torch.tensor(keep)})
    assert not np.isnan(got[0]).any()
    assert_all_close(got, want)


def test_a_query_that_attends_to_nothing_leaves_finite_gradients_as_torch():
    torch = pytest.importorskip("torch")
    q = np.random.default_rng(4).standard_normal((2, 1, 3, 4)).astype(np.float32)
    mask = np.array([[0.0, 0.0, 0.0], [-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 0.0]], np.float32)
    g = np.random.default_rng(5).standard_normal((2, 1, 3, 4)).astype(np.float32)
    qm = md.tensor(q, requires_grad=True)
    out = md.F.scaled_dot_product_attention(qm, qm, qm, attn_mask=md.tensor(mask))
    out.backward(md.tensor(g))
    qt = torch.tensor(q, requires_grad=True)
    want = torch.nn.functional.scaled_dot_product_attention(qt, qt, qt, attn_mask=torch.tensor(mask))
    want.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), atol=1e-6)
    assert np.isfinite(qm.grad.numpy()).all()
    np.testing.assert_allclose(qm.grad.numpy(), qt.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_a_fully_padded_sequence_leaves_finite_weight_gradients():
    layer = md.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    x = md.randn(2, 3, 8, requires_grad=True)
    layer(x, src_key_padding_mask=np.array([[0, 0, 0], [1, 1, 1]], bool))[0].sum().backward()
    assert np.isfinite(layer.self_attn.in_proj_weight.grad.numpy()).all()
    assert np.isfinite(x.grad.numpy()).all()
