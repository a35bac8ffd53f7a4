"""Bool tensors in the layers, losses, data loading and transforms, against torch where it is
installed (values, dtypes, gradients, refusals) and against written-out values without it:
attention masks made by comparisons, bool targets of the promoting losses, op-named refusals
where torch's float kernels refuse a bool, default collation of bools, and bool images."""

import numpy as np
import pytest

import minidiff as md
import minidiff.transforms as T
import minidiff.utils.data as ud

RNG = np.random.default_rng(1234)


def _torch():
    return pytest.importorskip("torch")


def _close(got, want, tol=1e-5):
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=tol, atol=tol)


# ---- attention masks


def test_sdpa_comparison_mask_keeps_positions_as_torch_bool_mask():
    torch = _torch()
    q = RNG.standard_normal((2, 3, 4, 8)).astype(np.float32)
    k = RNG.standard_normal((2, 3, 5, 8)).astype(np.float32)
    v = RNG.standard_normal((2, 3, 5, 6)).astype(np.float32)
    keep = RNG.random((2, 1, 4, 5)) > 0.4
    keep[..., 0] = True
    mq, mk, mv = (md.tensor(a, requires_grad=True) for a in (q, k, v))
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    mask = md.tensor(keep.astype(np.float32)) > 0.5  # a bool tensor, as comparisons give
    assert mask.dtype == "bool"
    got = md.F.scaled_dot_product_attention(mq, mk, mv, attn_mask=mask)
    want = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.tensor(keep))
    _close(got, want)
    got.square().sum().backward()
    want.square().sum().backward()
    for m, t in ((mq, tq), (mk, tk), (mv, tv)):
        _close(m.grad, t.grad, 1e-4)


@pytest.mark.parametrize("mask", [np.ones((4, 5), np.int64), np.ones((4, 5), np.int32), [[1] * 5] * 4])
def test_sdpa_refuses_an_integer_mask(mask):
    q = md.tensor(RNG.standard_normal((2, 4, 8)).astype(np.float32))
    k = md.tensor(RNG.standard_normal((2, 5, 8)).astype(np.float32))
    given = md.tensor(mask) if isinstance(mask, np.ndarray) and mask.dtype == np.int64 else mask
    with pytest.raises(TypeError, match="scaled_dot_product_attention: attn_mask must be bool"):
        md.F.scaled_dot_product_attention(q, k, k, attn_mask=given)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_bool_tensor_masks_block_as_torch(need_weights, batch_first):
    torch = _torch()
    E, H, N, L, S = 8, 2, 3, 4, 5
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(E, H, batch_first=batch_first)
    mm = md.nn.MultiheadAttention(E, H, batch_first=batch_first)
    mm.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = RNG.standard_normal((N, L, E) if batch_first else (L, N, E)).astype(np.float32)
    y = RNG.standard_normal((N, S, E) if batch_first else (S, N, E)).astype(np.float32)
    padding = RNG.random((N, S)) > 0.6
    padding[:, 0] = False
    blocked = RNG.random((N * H, L, S)) > 0.6
    blocked[..., 1] = False
    got, got_w = mm(
        md.tensor(x),
        md.tensor(y),
        md.tensor(y),
        key_padding_mask=md.tensor(padding),
        attn_mask=md.tensor(blocked),
        need_weights=need_weights,
        average_attn_weights=False,
    )
    want, want_w = tm(
        torch.tensor(x),
        torch.tensor(y),
        torch.tensor(y),
        key_padding_mask=torch.tensor(padding),
        attn_mask=torch.tensor(blocked),
        need_weights=need_weights,
        average_attn_weights=False,
    )
    _close(got, want, 1e-4)
    assert (got_w is None) == (want_w is None)
    if want_w is not None:
        _close(got_w, want_w, 1e-4)


def test_square_subsequent_mask_as_bool():
    mask = md.nn.Transformer.generate_square_subsequent_mask(4, dtype=md.bool)
    assert mask.dtype == "bool"
    np.testing.assert_array_equal(mask.numpy(), np.triu(np.ones((4, 4), bool), 1))
    with pytest.raises(TypeError, match="generate_square_subsequent_mask"):
        md.nn.Transformer.generate_square_subsequent_mask(4, dtype="int64")


def test_transformer_with_bool_causal_mask_matches_torch():
    torch = _torch()
    d, T_, S = 8, 4, 5
    torch.manual_seed(0)
    tt = torch.nn.Transformer(d, 2, 1, 1, 16, dropout=0.0).eval()
    mt = md.nn.Transformer(d, 2, 1, 1, 16, dropout=0.0).eval()
    mt.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in tt.state_dict().items()})
    src = RNG.standard_normal((S, 2, d)).astype(np.float32)
    tgt = RNG.standard_normal((T_, 2, d)).astype(np.float32)
    pad = np.array([[False] * 4 + [True], [False] * 5])
    got = mt(
        md.tensor(src),
        md.tensor(tgt),
        tgt_mask=md.nn.Transformer.generate_square_subsequent_mask(T_, dtype=md.bool),
        memory_key_padding_mask=md.tensor(pad),
    )
    with torch.no_grad():
        want = tt(
            torch.tensor(src),
            torch.tensor(tgt),
            tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(T_, dtype=torch.bool),
            memory_key_padding_mask=torch.tensor(pad),
        )
    _close(got, want, 1e-4)


# ---- losses


X = RNG.standard_normal((4, 3)).astype(np.float32)
B = RNG.random((4, 3)) > 0.5


@pytest.mark.parametrize(
    "name, kwargs, bool_input",
    [
        # (torch before 2.13 fails mse_loss's backward with a bool target: "Found dtype Bool but expected Float")
        pytest.param("mse_loss", {}, True, marks=pytest.mark.torch_2_13),
        pytest.param("mse_loss", {"reduction": "none"}, False, marks=pytest.mark.torch_2_13),
        ("smooth_l1_loss", {"beta": 0.5}, True),
        ("huber_loss", {"delta": 0.7, "reduction": "sum"}, False),
    ],
)
def test_promoting_losses_read_a_bool_target_as_zero_one(name, kwargs, bool_input):
    fn = getattr(md.F, name)
    x = md.tensor(X, requires_grad=True)
    got = fn(x, md.tensor(B), **kwargs)
    want = fn(md.tensor(X), md.tensor(B.astype(np.float32)), **kwargs)  # the 0/1 float target
    assert got.dtype == "float32"
    np.testing.assert_allclose(got.detach().numpy(), want.numpy(), rtol=1e-6)
    got.sum().backward()
    x_float = md.tensor(X, requires_grad=True)
    fn(x_float, md.tensor(B.astype(np.float32)), **kwargs).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x_float.grad.numpy(), rtol=1e-6)
    if bool_input:  # torch promotes a bool input too
        flipped = fn(md.tensor(B), md.tensor(X), **kwargs)
        np.testing.assert_allclose(flipped.numpy(), fn(md.tensor(B.astype(np.float32)), md.tensor(X), **kwargs).numpy())
    torch = pytest.importorskip("torch")
    tx = torch.tensor(X, requires_grad=True)
    tw = getattr(torch.nn.functional, name)(tx, torch.tensor(B), **kwargs)
    _close(got, tw)
    if name != "huber_loss":  # torch's huber backward refuses the bool target it took forward
        tw.sum().backward()
        _close(x.grad, tx.grad)


def test_cosine_similarity_reads_one_bool_side_as_zero_one():
    got = md.F.cosine_similarity(md.tensor(X), md.tensor(B))
    want = md.F.cosine_similarity(md.tensor(X), md.tensor(B.astype(np.float32)))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    torch = pytest.importorskip("torch")
    _close(got, torch.nn.functional.cosine_similarity(torch.tensor(X), torch.tensor(B)))


P = 1.0 / (1.0 + np.exp(-X))
F32 = (RNG.random((4, 3)) > 0.5).astype(np.float32)
IDX = np.array([0, 2, 1, 1])

# (op name in the message, call with md tensors) where torch refuses a bool operand
REFUSED = {
    "binary_cross_entropy target": lambda m: md.F.binary_cross_entropy(m(P), m(B)),
    "binary_cross_entropy_with_logits target": lambda m: md.F.binary_cross_entropy_with_logits(m(X), m(B)),
    "binary_cross_entropy_with_logits pos_weight": lambda m: md.F.binary_cross_entropy_with_logits(
        m(X), m(F32), pos_weight=m(B[0])
    ),
    "l1_loss target": lambda m: md.F.l1_loss(m(X), m(B)),
    "huber_loss input": lambda m: md.F.huber_loss(m(B), m(X)),
    "smooth_l1_loss input": lambda m: md.F.smooth_l1_loss(m(B), m(B)),
    "mse_loss input": lambda m: md.F.mse_loss(m(B), m(B)),
    "mse_loss target": lambda m: md.F.mse_loss(m(X), m(B), weight=m(F32)),
    "kl_div target": lambda m: md.F.kl_div(m(X), m(B), reduction="sum"),
    "kl_div input": lambda m: md.F.kl_div(m(IDX[:3].reshape(1, 3).repeat(4, 0)), m(X), reduction="sum"),
    "gaussian_nll_loss target": lambda m: md.F.gaussian_nll_loss(m(X), m(B), m(F32 + 1)),
    "soft_margin_loss input": lambda m: md.F.soft_margin_loss(m(B), m(X)),
    "hinge_embedding_loss input": lambda m: md.F.hinge_embedding_loss(m(B), m(X)),
    "margin_ranking_loss target": lambda m: md.F.margin_ranking_loss(m(X[0]), m(X[1]), m(B[0])),
    "triplet_margin_loss negative": lambda m: md.F.triplet_margin_loss(m(X), m(X + 1), m(B)),
    "pairwise_distance x2": lambda m: md.F.pairwise_distance(m(X), m(B)),
    "cosine_similarity x1": lambda m: md.F.cosine_similarity(m(B), m(B)),
    "cross_entropy target": lambda m: md.F.cross_entropy(m(X), m(B)),
    "cross_entropy weight": lambda m: md.F.cross_entropy(m(X), m(IDX), weight=m(B[0])),
    "cross_entropy input": lambda m: md.F.cross_entropy(m(B), m(IDX)),
    "nll_loss weight": lambda m: md.F.nll_loss(m(X), m(IDX), weight=m(B[0])),
    "nll_loss input": lambda m: md.F.nll_loss(m(B), m(IDX)),
    "relu input": lambda m: md.F.relu(m(B)),
    "silu input": lambda m: md.F.silu(m(B)),
    "leaky_relu input": lambda m: md.F.leaky_relu(m(B)),
    "softplus input": lambda m: md.F.softplus(m(B)),
    "mish input": lambda m: md.F.mish(m(B)),
    "elu input": lambda m: md.F.elu(m(B)),
    "selu input": lambda m: md.F.selu(m(B)),
    "celu input": lambda m: md.F.celu(m(B)),
    "hardtanh input": lambda m: md.F.hardtanh(m(B)),
    "relu6 input": lambda m: md.F.relu6(m(B)),
    "hardswish input": lambda m: md.F.hardswish(m(B)),
    "hardsigmoid input": lambda m: md.F.hardsigmoid(m(B)),
    "softsign input": lambda m: md.F.softsign(m(B)),
    "softshrink input": lambda m: md.F.softshrink(m(B)),
    "hardshrink input": lambda m: md.F.hardshrink(m(B)),
    "tanhshrink input": lambda m: md.F.tanhshrink(m(B)),
    "logsigmoid input": lambda m: md.F.logsigmoid(m(B)),
    "threshold input": lambda m: md.F.threshold(m(B), 0.5, 2.0),
    "glu input": lambda m: md.F.glu(m(B[:, :2])),
    "prelu input": lambda m: md.F.prelu(m(B), m(np.array([0.25], np.float32))),
    "log_softmax input": lambda m: md.F.log_softmax(m(B), -1),
    "softmin input": lambda m: md.F.softmin(m(B), -1),
    "normalize input": lambda m: md.F.normalize(m(B)),
    "rms_norm input": lambda m: md.F.rms_norm(m(B), (3,)),
    "max_pool2d input": lambda m: md.F.max_pool2d(m(B[None]), 1),
    "avg_pool2d input": lambda m: md.F.avg_pool2d(m(B[None]), 1),
    "adaptive_max_pool2d input": lambda m: md.F.adaptive_max_pool2d(m(B[None]), 1),
    "adaptive_avg_pool2d input": lambda m: md.F.adaptive_avg_pool2d(m(B[None]), 1),
    "max_pool1d input": lambda m: md.F.max_pool1d(m(B), 1),
    "avg_pool1d input": lambda m: md.F.avg_pool1d(m(B), 1),
    "batch_norm input": lambda m: md.F.batch_norm(m(B), None, None, training=True),
    "pad input reflect": lambda m: md.F.pad(m(B[None]), (1, 1), mode="reflect"),
    "pad input replicate": lambda m: md.F.pad(m(B[None]), (1, 1), mode="replicate"),
}


@pytest.mark.parametrize("case", REFUSED, ids=REFUSED.keys())
def test_bool_operands_torch_refuses_raise_a_type_error_naming_the_op(case):
    op, name = case.split()[:2]
    with pytest.raises(TypeError, match=rf"^{op}: {name} must (be|hold)"):
        REFUSED[case](md.tensor)
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional

    def as_torch(a):
        return torch.tensor(np.asarray(a))

    saved = md.F
    md.F = tf  # the same call with torch's functional
    try:
        with pytest.raises((RuntimeError, NotImplementedError, TypeError)):
            REFUSED[case](as_torch)
    finally:
        md.F = saved


def test_pad_circular_and_constant_copy_bools():
    b = md.tensor(B[None])
    got = md.F.pad(b, (1, 2), mode="circular")
    assert got.dtype == "bool"
    np.testing.assert_array_equal(got.numpy(), np.pad(B[None], ((0, 0), (0, 0), (1, 2)), mode="wrap"))
    assert md.F.pad(b, (1, 1)).dtype == "bool"


def test_gelu_refuses_bool():
    with pytest.raises(TypeError):
        md.F.gelu(md.tensor(B))


def test_interpolate_nearest_refuses_bool():
    with pytest.raises(TypeError):
        md.F.interpolate(md.tensor(B[None, None]), scale_factor=2, mode="nearest")


# ---- data loading and transforms


class _Items:
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_default_collate_keeps_bools_as_bool_tensors():
    items = [(np.array([i % 2 == 0, True]), i > 1, np.bool_(i == 2), i, 0.5 * i) for i in range(4)]
    arrays, flags, np_flags, ints, floats = next(iter(ud.DataLoader(_Items(items), batch_size=4, shuffle=False)))
    assert (arrays.dtype, flags.dtype, np_flags.dtype, ints.dtype, floats.dtype) == (
        "bool",
        "bool",
        "bool",
        "int64",
        "float32",
    )
    np.testing.assert_array_equal(arrays.numpy(), [[True, True], [False, True], [True, True], [False, True]])
    assert flags.numpy().tolist() == [False, False, True, True]
    assert np_flags.numpy().tolist() == [False, False, True, False]
    rows = np.arange(12).reshape(6, 2) % 3 == 0
    (batch,) = list(ud.DataLoader(rows, batch_size=6, shuffle=False))
    assert batch.dtype == "bool"
    np.testing.assert_array_equal(batch.numpy(), rows)
    (from_fn,) = list(ud.DataLoader(_Items(items), batch_size=4, shuffle=False, collate_fn=lambda xs: rows))
    assert from_fn.dtype == "bool"
    torch = pytest.importorskip("torch")
    want = torch.utils.data.default_collate(items)
    for got, ref in zip((arrays, flags, np_flags), want):
        assert ref.dtype == torch.bool
        np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_bool_images_stay_bool_and_convert_as_torchvision():
    mask = np.array([[True, False, True], [False, False, True]])
    t = T.to_tensor(mask)
    assert t.dtype == "bool" and t.shape == (1, 2, 3)
    np.testing.assert_array_equal(t.numpy()[0], mask)
    Image = pytest.importorskip("PIL.Image")
    pil = Image.fromarray(mask)  # mode "1"
    got = T.pil_to_tensor(pil)
    assert got.dtype == "bool"
    np.testing.assert_array_equal(got.numpy()[0], mask)
    np.testing.assert_array_equal(T.to_tensor(pil).numpy()[0], mask.astype(np.float32))  # 255 * mask / 255
    # torchvision's maximum of a bool is 1: True is 1.0 as float, 128 as uint8
    np.testing.assert_array_equal(T.convert_image_dtype(t, "float32").numpy()[0], mask.astype(np.float32))
    np.testing.assert_array_equal(T.convert_image_dtype(t, "uint8").numpy()[0], mask * 128)
