"""bfloat16 through the functional API and the losses: composed ops given bfloat16 tensors return
bfloat16 where torch does (a float32 constant with dims must not win the promotion), compute their
many steps in float32 and round once, keep bfloat16 gradients, and refuse the mixed dtypes torch
refuses with a TypeError naming the op. The float32 result rounded once is the oracle without
torch; with torch installed, dtypes, values and gradients are compared with torch's."""

import numpy as np
import pytest
from bf16_ref import bf16

import minidiff as md

F = md.nn.functional


def _bf(a, grad=False):
    """A bfloat16 md tensor of ``a`` (its values rounded to bfloat16), a leaf when ``grad``."""
    t = md.tensor(np.asarray(a, np.float32), dtype="bfloat16")
    return t.requires_grad_() if grad else t


def _rounded(a):
    return bf16(np.asarray(a, np.float32))


def _data(shape, seed=0, scale=1.0):
    return _rounded(np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _rounded_once(got, float32_result):
    """``got`` is bfloat16 and equals the float32 result rounded to bfloat16."""
    assert got.dtype == "bfloat16"
    np.testing.assert_array_equal(got.float().numpy(), bf16(float32_result.detach().numpy()))


# ---- the float32 result rounded once (no torch needed)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: F.interpolate(x, size=(7, 9), mode="bilinear"),
        lambda x: F.interpolate(x, size=(3, 8), mode="bicubic", align_corners=True),
        lambda x: F.interpolate(x[0], size=11, mode="linear"),
        lambda x: F.interpolate(x[:, None], size=(2, 5, 6), mode="trilinear"),
        lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
        lambda x: F.avg_pool2d(x, 2, ceil_mode=True),
        lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
        lambda x: F.adaptive_avg_pool1d(x[0], 3),
        lambda x: F.batch_norm(x, md.zeros(3) + 0.5, md.ones(3) * 2.0, md.ones(3) * 1.5, md.zeros(3) - 1.0),
        lambda x: F.instance_norm(x, md.zeros(3) + 0.5, md.ones(3) * 2.0, use_input_stats=False),
    ],
    ids=["bilinear", "bicubic", "linear", "trilinear", "avg_pool", "avg_pool_ceil", "adaptive2d", "adaptive1d",
         "batch_norm_eval", "instance_norm_stats"],
)  # fmt: skip
def test_composed_ops_round_the_float32_result_once(call):
    x = _data((2, 3, 4, 5), seed=1, scale=2.0)
    xb = _bf(x, grad=True)
    out = call(xb)
    _rounded_once(out, call(md.tensor(x)))
    out.float().sum().backward()
    assert xb.grad.dtype == "bfloat16" and xb.grad.shape == xb.shape


def test_attention_with_float_masks_in_bfloat16():
    q, k, v = _data((2, 2, 5, 8), 2), _data((2, 2, 6, 8), 3), _data((2, 2, 6, 8), 4)
    mask = np.linspace(-2.0, 2.0, 30, dtype=np.float32).reshape(5, 6)
    leaves = [_bf(a, grad=True) for a in (q, k, v)]
    for m in (md.tensor(mask), _bf(mask)):  # float32 and bfloat16 masks, as torch takes both
        out = F.scaled_dot_product_attention(*leaves, attn_mask=m)
        want = F.scaled_dot_product_attention(md.tensor(q), md.tensor(k), md.tensor(v), attn_mask=m.float())
        _rounded_once(out, want)
    out.float().sum().backward()
    assert all(t.grad.dtype == "bfloat16" for t in leaves)
    causal = F.scaled_dot_product_attention(*leaves, is_causal=True)
    _rounded_once(causal, F.scaled_dot_product_attention(md.tensor(q), md.tensor(k), md.tensor(v), is_causal=True))


def _mha_args(seed=0):
    r = np.random.default_rng(seed)
    sq = _bf(_rounded(r.standard_normal((5, 2, 8))), grad=True)
    w = [_bf(_rounded(r.standard_normal(s) * 0.3)) for s in ((24, 8), (24,), (8, 8), (8,))]
    return sq, w


@pytest.mark.parametrize("need_weights", [True, False])
def test_multi_head_attention_masks_and_zero_attn_in_bfloat16(need_weights):
    sq, (inw, inb, ow, ob) = _mha_args()
    causal = md.tensor(np.triu(np.ones((5, 5), bool), 1))
    padding = md.tensor(np.array([[False] * 4 + [True], [False] * 5]))
    masks = (dict(attn_mask=causal), dict(key_padding_mask=padding), dict(attn_mask=causal, key_padding_mask=padding))
    for kw in masks:
        out, weights = F.multi_head_attention_forward(
            sq, sq, sq, 8, 2, inw, inb, None, None, True, 0.0, ow, ob, training=False, need_weights=need_weights, **kw
        )
        assert out.dtype == "bfloat16" and out.shape == (5, 2, 8)
        assert weights is None or weights.dtype == "bfloat16"
        assert bool(md.isfinite(out.float()).all())
    out.float().sum().backward()
    assert sq.grad.dtype == "bfloat16"


def test_losses_return_bfloat16():
    r = np.random.default_rng(5)
    logits = _bf(_rounded(r.standard_normal((4, 6)) * 3), grad=True)
    target = md.tensor(np.array([0, 5, 2, 3]))
    x = logits.detach().float().numpy()
    logp = x - x.max(1, keepdims=True) - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True))
    picked = -logp[np.arange(4), [0, 5, 2, 3]]
    for loss, want in [
        (F.cross_entropy(logits, target), picked.mean()),
        (F.cross_entropy(logits, target, ignore_index=2), np.delete(picked, 2).mean()),
        (F.nll_loss(F.log_softmax(logits, 1), target), picked.mean()),
        (F.cross_entropy(logits[0], target[0]), picked[0]),
    ]:
        assert loss.dtype == "bfloat16"
        np.testing.assert_allclose(float(loss.float().item()), want, rtol=2**-8)
    loss.float().backward()
    assert logits.grad.dtype == "bfloat16"
    p, q = _bf(r.uniform(0.1, 0.9, (4, 6))), _bf(r.uniform(0.1, 0.9, (4, 6)))
    assert F.binary_cross_entropy(p, q, weight=md.ones(4, 6) * 2.0).dtype == "bfloat16"
    assert F.binary_cross_entropy_with_logits(logits, q, pos_weight=md.ones(6) * 2.0).dtype == "bfloat16"
    # torch's result has the target's dtype (its loss is built in place on 1 - target)
    assert F.binary_cross_entropy_with_logits(logits.float(), q).dtype == "bfloat16"
    assert F.binary_cross_entropy_with_logits(logits, q.float()).dtype == "float32"
    signs = md.tensor(np.sign(r.standard_normal((4, 6))).astype(np.float32))
    assert F.soft_margin_loss(logits, signs).dtype == "bfloat16"  # the input's dtype, as torch's
    assert F.gaussian_nll_loss(logits, q, 0.5).dtype == "bfloat16"
    assert F.normalize(logits, p=0, dim=1).dtype == "bfloat16"
    assert F.cross_entropy(logits, q.float()).dtype == "float32"  # float32 probabilities promote, as torch


def test_batch_norm_bfloat16_running_statistics():
    x = _rounded(_data((4, 3, 5), seed=6, scale=2.0) + 1.0)
    mean, var = md.zeros(3, dtype="bfloat16"), md.ones(3, dtype="bfloat16")
    out = F.batch_norm(_bf(x), mean, var, training=True, momentum=0.25)
    assert out.dtype == "bfloat16" and mean.dtype == "bfloat16"
    want_mean = 0.25 * x.mean((0, 2))
    want_var = 0.75 + 0.25 * x.var((0, 2), ddof=1)
    np.testing.assert_allclose(mean.float().numpy(), want_mean, rtol=2**-8)
    np.testing.assert_allclose(var.float().numpy(), want_var, rtol=2**-8)
    f32_mean = md.zeros(3)
    F.batch_norm(_bf(x), f32_mean, md.ones(3), md.ones(3), md.zeros(3), training=True, momentum=0.25)
    np.testing.assert_allclose(f32_mean.numpy(), want_mean, rtol=1e-6)


def test_generate_square_subsequent_mask_bfloat16():
    mask = md.nn.Transformer.generate_square_subsequent_mask(3, dtype=md.bfloat16)
    assert mask.dtype == "bfloat16"
    np.testing.assert_array_equal(mask.float().numpy(), np.triu(np.full((3, 3), -np.inf, np.float32), 1))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda b, f: F.cross_entropy(b, md.tensor([0, 1]), weight=f[0]), "cross_entropy: weight of dtype float32"),
        (lambda b, f: F.cross_entropy(f, md.tensor([0, 1]), weight=b[0]), "cross_entropy: weight of dtype bfloat16"),
        (lambda b, f: F.nll_loss(b, md.tensor([0, 1]), weight=f[0]), "nll_loss: weight"),
        (lambda b, f: F.binary_cross_entropy(b.sigmoid(), f.sigmoid()), "binary_cross_entropy: target"),
        (lambda b, f: F.huber_loss(b, f), "huber_loss: target"),
        (lambda b, f: F.prelu(b, f[0]), "prelu: weight"),
        (lambda b, f: F.scaled_dot_product_attention(b, f, f, is_causal=True), "scaled_dot_product_attention"),
        (lambda b, f: F.scaled_dot_product_attention(b, b, f), "scaled_dot_product_attention"),
    ],
)
def test_mixed_dtypes_torch_refuses_are_type_errors(call, match):
    b = _bf(_data((2, 2), 7))
    with pytest.raises(TypeError, match=match):
        call(b, b.float())


def test_mha_float32_mask_with_bfloat16_weights_needed_is_a_type_error():
    sq, (inw, inb, ow, ob) = _mha_args()
    args = (sq, sq, sq, 8, 2, inw, inb, None, None, False, 0.0, ow, ob)
    with pytest.raises(TypeError, match="multi_head_attention_forward: .*attn_mask"):
        F.multi_head_attention_forward(*args, training=False, attn_mask=md.zeros(5, 5))
    # without the weights it is scaled_dot_product_attention's, which takes a float32 mask, as torch's
    out, _ = F.multi_head_attention_forward(*args, training=False, attn_mask=md.zeros(5, 5), need_weights=False)
    assert out.dtype == "bfloat16"


def test_in_place_bfloat16_takes_a_float32_operand():
    a = md.zeros(3, dtype="bfloat16")
    a.add_(md.ones(3) * 0.5)
    np.testing.assert_array_equal(a.float().numpy(), [0.5, 0.5, 0.5])


# ---- against torch: dtype, values and gradients

EXPRESSIONS = [
    "F.cross_entropy(v, t)", "F.cross_entropy(v, t, weight=c)", "F.cross_entropy(v, t, ignore_index=2)",
    "F.cross_entropy(v, t, reduction='none')", "F.cross_entropy(v, pb)", "F.cross_entropy(v, pf)",
    "F.cross_entropy(x, L.zeros(2, 4, 5, dtype=L.int64))", "F.nll_loss(v, t)", "F.nll_loss(v, t, weight=c)",
    "F.binary_cross_entropy(p, pb)", "F.binary_cross_entropy(p, pb, weight=pf)",
    "F.binary_cross_entropy_with_logits(v, pb)", "F.binary_cross_entropy_with_logits(v, pb, pos_weight=cf)",
    "F.binary_cross_entropy_with_logits(v, pb, weight=pf, reduction='none')",
    "F.binary_cross_entropy_with_logits(v.float(), pb)", "F.soft_margin_loss(v, sg)",
    "F.gaussian_nll_loss(v, u, 0.5)", "F.gaussian_nll_loss(v, u, p)",
    "F.kl_div(F.log_softmax(v, 1), pb, reduction='batchmean')",
    "F.poisson_nll_loss(v, pb)", "F.huber_loss(v, u, delta=0.5)", "F.smooth_l1_loss(v, u, beta=0.5)",
    "F.cosine_embedding_loss(v, u, L.tensor([1, -1, 1, -1]))", "F.triplet_margin_loss(v, u, p)",
    "F.normalize(x, p=0, dim=1)", "F.normalize(x, p=3, dim=1)", "F.cosine_similarity(v, u)",
    "F.pairwise_distance(v, u)",
    "F.batch_norm(x, L.zeros(3), L.ones(3))", "F.batch_norm(x, L.zeros(3), L.ones(3), cf[:3], cf[:3])",
    "F.batch_norm(x, None, None, cf[:3], cf[:3], training=True)",
    "F.instance_norm(x, L.zeros(3), L.ones(3), use_input_stats=False)", "F.group_norm(x, 3, cf[:3], cf[:3])",
    "F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)", "F.avg_pool2d(x, 2, ceil_mode=True)",
    "F.avg_pool1d(s, 3, 2, 1, count_include_pad=False)", "F.adaptive_avg_pool2d(x, (3, 2))",
    "F.adaptive_avg_pool1d(s, 3)", "F.adaptive_max_pool2d(x, (3, 2))", "F.max_pool2d(x, 3, 1, 1)",
    "F.interpolate(x, size=(7, 9), mode='bilinear')", "F.interpolate(x, scale_factor=1.7, mode='bilinear')",
    "F.interpolate(x, size=(7, 9), mode='bicubic', align_corners=True)", "F.interpolate(s, size=11, mode='linear')",
    "F.interpolate(x[:, None], size=(3, 5, 6), mode='trilinear')",
    "F.interpolate(x, size=(7, 9), mode='nearest-exact')",
    "F.pad(x, (1, 2, 2, 1), mode='reflect')", "F.unfold(x, 2)", "F.softplus(v * 30)", "F.mish(v * 10)",
    "F.logsigmoid(v * 30)", "F.selu(v)", "F.hardswish(v * 4)", "F.glu(v)", "F.softmin(v, 1)", "F.prelu(v, cb)",
    "F.scaled_dot_product_attention(q, k, k, attn_mask=mf)", "F.scaled_dot_product_attention(q, k, k, attn_mask=mb)",
    "F.scaled_dot_product_attention(q, k, k, is_causal=True)",
    "F.scaled_dot_product_attention(q, k, k, attn_mask=L.ones(5, 6, dtype=L.bool).tril())",
]  # fmt: skip


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_bf16_functional_matches_torch(expr):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    arrays = dict(
        x=_data((2, 3, 4, 5), 10, 1.5),
        s=_data((2, 3, 7), 11),
        v=_data((4, 6), 12, 2.0),
        u=_data((4, 6), 13),
        p=_rounded(r.uniform(0.05, 0.95, (4, 6))).astype(np.float32),
        q=_data((2, 2, 5, 8), 14),
        k=_data((2, 2, 6, 8), 15),
    )
    fixed = dict(
        pb=_rounded(r.uniform(0.05, 0.95, (4, 6))).astype(np.float32),
        pf=r.uniform(0.05, 0.95, (4, 6)).astype(np.float32),
        c=_rounded(r.uniform(0.1, 3.0, (6,))).astype(np.float32),
        cf=r.uniform(0.1, 3.0, (6,)).astype(np.float32),
        cb=_rounded(r.uniform(0.1, 0.5, (6,))).astype(np.float32),
        sg=np.sign(r.standard_normal((4, 6))).astype(np.float32),
        mf=np.linspace(-2.0, 2.0, 30, dtype=np.float32).reshape(5, 6),
        mb=_rounded(np.linspace(-2.0, 2.0, 30)).astype(np.float32).reshape(5, 6),
    )
    results = []
    for lib in (torch, md):
        leaves = {name: lib.tensor(a).to(lib.bfloat16).requires_grad_() for name, a in arrays.items()}
        env = dict(L=lib, F=lib.nn.functional, t=lib.tensor(np.array([0, 5, 2, 3])), **leaves)
        for name, a in fixed.items():  # float32 ("...f") or bfloat16, not leaves
            env[name] = lib.tensor(a) if name.endswith("f") else lib.tensor(a).to(lib.bfloat16)
        out = eval(expr, env)  # noqa: S307 (the test's own expressions)
        weights = np.random.default_rng(1).standard_normal(tuple(out.shape)).astype(np.float32)
        (out.float() * lib.tensor(weights)).sum().backward()
        grads = {n: (str(t.grad.dtype).removeprefix("torch."), t.grad.float().numpy()) for n, t in leaves.items()
                 if t.grad is not None}  # fmt: skip
        results.append((str(out.dtype).removeprefix("torch."), out.detach().float().numpy(), grads))
    (t_dtype, t_vals, t_grads), (m_dtype, m_vals, m_grads) = results
    assert m_dtype == t_dtype
    # one bfloat16 rounding apart at most (torch rounds some intermediate steps in bfloat16)
    np.testing.assert_allclose(m_vals, t_vals, rtol=2e-2, atol=2e-2, equal_nan=True)
    assert sorted(m_grads) == sorted(t_grads)
    for name, (dtype, grad) in t_grads.items():
        assert m_grads[name][0] == dtype
        np.testing.assert_allclose(m_grads[name][1], grad, rtol=3e-2, atol=3e-2, equal_nan=True)
