"""Differential tests of attention, the transformer layers and the spatial ops against PyTorch (CPU,
float32): F.scaled_dot_product_attention with bool / float / broadcast masks and causality,
nn.MultiheadAttention's options and masks, the encoder and decoder layers, F.interpolate on 3-D, 4-D
and 5-D input, pooling with padding, ceil mode and dilation, unfold / fold and the padding layers.
Values and the gradients of every leaf are compared for the same upstream gradient.

Skipped when torch is not installed."""

from __future__ import annotations

import numpy as np
import pytest

import minidiff as md
import minidiff.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
torch.set_num_threads(2)

TOL = {"rtol": 1e-4, "atol": 1e-5}


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def leaves(*arrays):
    """The same arrays as minidiff and torch leaves that require grad."""
    ours = [md.tensor(a, requires_grad=True) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, ref


def assert_close(ours, ref, what="output", tol=TOL):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    ours = ours.numpy() if isinstance(ours, md.Tensor) else np.asarray(ours)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    np.testing.assert_allclose(ours, ref, **tol, equal_nan=True, err_msg=what)


def assert_same_grads(out, ref_out, ours, ref, tol=TOL):
    """Backward of both outputs with one random upstream gradient; the leaves' gradients agree."""
    g = randn(*ref_out.shape, seed=99)
    out.backward(md.tensor(g))
    ref_out.backward(torch.tensor(g))
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert (a.grad is None) == (b.grad is None), f"leaf {i}: gradient presence differs"
        if b.grad is not None:
            assert_close(a.grad, b.grad, f"gradient of leaf {i}", tol)


def check(fn_ours, fn_ref, *arrays, tol=TOL):
    ours, ref = leaves(*arrays)
    out, ref_out = fn_ours(*ours), fn_ref(*ref)
    assert_close(out, ref_out, tol=tol)
    assert_same_grads(out, ref_out, ours, ref, tol)


def load_from_torch(ours, ref):
    sd = ref.state_dict()
    assert set(ours.state_dict()) == set(sd)
    ours.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in sd.items()})


# ---------------------------------------------------------------- scaled_dot_product_attention

SDPA_SHAPES = [
    ((3, 4), (5, 4), (5, 6)),
    ((2, 3, 4), (2, 5, 4), (2, 5, 6)),
    ((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 6)),
    ((2, 1, 2, 3, 4), (2, 1, 2, 5, 4), (2, 1, 2, 5, 6)),
    ((2, 2, 1, 4), (2, 2, 5, 4), (2, 2, 5, 6)),  # Lq = 1
    ((2, 2, 3, 4), (2, 2, 1, 4), (2, 2, 1, 6)),  # Lk = 1
    ((2, 2, 3, 1), (2, 2, 5, 1), (2, 2, 5, 1)),  # head dim 1
    ((2, 6, 4), (2, 3, 4), (2, 3, 6)),  # Lq > Lk
]


def _sdpa_masks(L, S):
    rng = np.random.default_rng(5)
    boolean = rng.random((L, S)) > 0.5
    boolean[0] = False  # row 0 may attend to nothing
    floats = randn(L, S, seed=6)
    floats[0] = -np.inf
    return [
        ("none", None, None, {}),
        ("causal", None, None, {"is_causal": True}),
        ("scale", None, None, {"scale": 0.3}),
        ("dropout 0", None, None, {"dropout_p": 0.0}),
        ("bool", boolean, torch.tensor(boolean), {}),
        ("float md", md.tensor(floats), torch.tensor(floats), {}),
        ("float numpy", floats, torch.tensor(floats), {}),
    ]


@pytest.mark.parametrize("shapes", SDPA_SHAPES, ids=str)
def test_sdpa_matches_torch(shapes):
    q, k, v = (randn(*s, seed=i) for i, s in enumerate(shapes))
    for name, mask, ref_mask, kwargs in _sdpa_masks(shapes[0][-2], shapes[1][-2]):
        ours, ref = leaves(q, k, v)
        out = F.scaled_dot_product_attention(*ours, attn_mask=mask, **kwargs)
        ref_out = TF.scaled_dot_product_attention(*ref, attn_mask=ref_mask, **kwargs)
        assert_close(out, ref_out, name)
        assert_same_grads(out, ref_out, ours, ref)


def test_sdpa_broadcast_mask_and_gqa():
    q, k, v = randn(2, 4, 3, 4, seed=1), randn(2, 2, 5, 4, seed=2), randn(2, 2, 5, 6, seed=3)
    check(
        lambda *t: F.scaled_dot_product_attention(*t, enable_gqa=True, is_causal=True),
        lambda *t: TF.scaled_dot_product_attention(*t, enable_gqa=True, is_causal=True),
        q,
        k,
        v,
    )
    mask = np.random.default_rng(7).random((2, 1, 1, 5)) > 0.3
    check(
        lambda *t: F.scaled_dot_product_attention(*t, attn_mask=mask, enable_gqa=True),
        lambda *t: TF.scaled_dot_product_attention(*t, attn_mask=torch.tensor(mask), enable_gqa=True),
        q,
        k,
        v,
    )


def test_sdpa_broadcasts_batch_dims():
    check(
        F.scaled_dot_product_attention,
        TF.scaled_dot_product_attention,
        randn(2, 3, 4, seed=1),
        randn(1, 5, 4, seed=2),
        randn(1, 5, 6, seed=3),
    )


@pytest.mark.parametrize("is_causal", [False, True])
def test_sdpa_empty_key_length_gives_zeros(is_causal):
    q, k, v = md.tensor(randn(2, 3, 4), requires_grad=True), md.zeros((2, 0, 4)), md.zeros((2, 0, 6))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    np.testing.assert_array_equal(out.numpy(), np.zeros((2, 3, 6), np.float32))
    out.sum().backward()  # as torch's: a zero gradient for the query
    np.testing.assert_array_equal(q.grad.numpy(), np.zeros((2, 3, 4), np.float32))


def test_sdpa_batch_dims_that_do_not_broadcast_are_named():
    with pytest.raises(ValueError, match="scaled_dot_product_attention.*do not broadcast"):
        F.scaled_dot_product_attention(md.zeros((2, 3, 4)), md.zeros((3, 5, 4)), md.zeros((3, 5, 4)))


# ---------------------------------------------------------------- MultiheadAttention

KPM = np.array([[False, True, False, False, True], [False, False, True, True, False]])
MASK_2D = np.array([[False, True, False, True, False], [True, False, False, False, True], [False] * 5])
MASK_3D = np.random.default_rng(3).random((4, 3, 5)) > 0.6
MASK_3D[:, :, 0] = False


def _as_float(mask):
    return np.where(mask, -np.inf, 0.0).astype(np.float32)


def _mha_inputs(batch_first, batched, kdim, vdim, E=8, L=3, S=5, N=2):
    def shape(T, D):
        return ((N, T, D) if batch_first else (T, N, D)) if batched else (T, D)

    return randn(*shape(L, E), seed=1), randn(*shape(S, kdim or E), seed=2), randn(*shape(S, vdim or E), seed=3)


def _mha_check(module_kwargs, call_kwargs=None, batched=True, self_attention=False):
    call_kwargs = dict(call_kwargs or {})
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(8, module_kwargs.pop("num_heads", 2), **module_kwargs).eval()
    ours = md.nn.MultiheadAttention(8, ref.num_heads, **module_kwargs).eval()
    load_from_torch(ours, ref)
    q, k, v = _mha_inputs(ref.batch_first, batched, ref.kdim, ref.vdim, S=3 if self_attention else 5)
    if self_attention:
        mq, tq = leaves(q)
        args, ref_args, leaves_ours, leaves_ref = (mq[0],) * 3, (tq[0],) * 3, mq, tq
    else:
        leaves_ours, leaves_ref = leaves(q, k, v)
        args, ref_args = leaves_ours, leaves_ref
    ref_kwargs = {key: torch.tensor(val) if isinstance(val, np.ndarray) else val for key, val in call_kwargs.items()}
    ours_kwargs = {
        key: md.tensor(val) if isinstance(val, np.ndarray) and val.dtype != bool else val
        for key, val in call_kwargs.items()
    }
    out, weights = ours(*args, **ours_kwargs)
    ref_out, ref_weights = ref(*ref_args, **ref_kwargs)
    assert_close(out, ref_out)
    assert (weights is None) == (ref_weights is None)
    if ref_weights is not None:
        assert_close(weights, ref_weights, "attention weights")
    assert_same_grads(out, ref_out, leaves_ours + list(ours.parameters()), leaves_ref + list(ref.parameters()))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
def test_mha_layouts_and_weights(batch_first, batched, need_weights, average):
    call = {"need_weights": need_weights, "average_attn_weights": average}
    _mha_check({"batch_first": batch_first}, call, batched)
    _mha_check({"batch_first": batch_first}, call, batched, self_attention=True)


@pytest.mark.parametrize(
    "options",
    [
        {"kdim": 6, "vdim": 5},
        {"bias": False},
        {"add_bias_kv": True},
        {"add_zero_attn": True},
        {"add_bias_kv": True, "add_zero_attn": True},
        {"num_heads": 1},
        {"num_heads": 8},
    ],
    ids=str,
)
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_options(options, need_weights):
    _mha_check(dict(options), {"need_weights": need_weights})
    _mha_check(dict(options), {"need_weights": need_weights}, batched=False)


@pytest.mark.parametrize(
    "masks",
    [
        {"key_padding_mask": KPM},
        {"key_padding_mask": _as_float(KPM)},
        {"attn_mask": MASK_2D},
        {"attn_mask": _as_float(MASK_2D)},
        {"attn_mask": MASK_3D, "key_padding_mask": KPM},
        {"attn_mask": _as_float(MASK_3D), "key_padding_mask": _as_float(KPM)},
    ],
    ids=["kpm bool", "kpm float", "2d bool", "2d float", "3d+kpm bool", "3d+kpm float"],
)
@pytest.mark.parametrize("options", [{}, {"add_bias_kv": True}, {"add_zero_attn": True}], ids=str)
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_masks(masks, options, need_weights):
    _mha_check(dict(options), {**masks, "need_weights": need_weights})


def test_mha_causal_and_fully_padded():
    causal = np.triu(np.ones((3, 3), bool), 1)
    for need_weights in (True, False):
        call = {"attn_mask": causal, "is_causal": True, "need_weights": need_weights}
        _mha_check({}, call, self_attention=True)
        _mha_check({}, {**call, "key_padding_mask": KPM[:, :3]}, self_attention=True)
        padded = KPM.copy()
        padded[0] = True  # batch 0 may attend to nothing
        _mha_check({}, {"key_padding_mask": padded, "need_weights": need_weights})


def test_mha_batch_mismatch_names_the_op():
    # was "view: shape [5, 4, 4] is invalid ...", from deep inside the head split
    mha = md.nn.MultiheadAttention(8, 2)
    with pytest.raises(ValueError, match=r"multi_head_attention_forward: .*same batch size"):
        mha(md.randn((3, 2, 8)), md.randn((5, 3, 8)), md.randn((5, 3, 8)))
    layer = md.nn.TransformerDecoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match="same batch size"):
        layer(md.randn((3, 2, 8)), md.randn((4, 3, 8)))


# ---------------------------------------------------------------- transformer layers


def _layer_check(ours, ref, inputs, ours_kwargs, ref_kwargs, tol=TOL):
    load_from_torch(ours, ref)
    ours.eval()
    ref.eval()
    mine, theirs = leaves(*inputs)
    out, ref_out = ours(*mine, **ours_kwargs), ref(*theirs, **ref_kwargs)
    assert_close(out, ref_out, tol=tol)
    assert_same_grads(out, ref_out, mine + list(ours.parameters()), theirs + list(ref.parameters()), tol)


TOL_LAYER = {"rtol": 1e-4, "atol": 1e-4}


@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer(activation, batch_first, norm_first):
    ref_act = (lambda x: TF.gelu(x, approximate="tanh")) if activation == "callable" else activation
    our_act = md.nn.GELU(approximate="tanh") if activation == "callable" else activation
    torch.manual_seed(0)
    ref = torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0, ref_act, batch_first=batch_first, norm_first=norm_first)
    ours = md.nn.TransformerEncoderLayer(8, 2, 16, 0.0, our_act, batch_first=batch_first, norm_first=norm_first)
    x = randn(*((2, 4, 8) if batch_first else (4, 2, 8)), seed=1)
    causal = np.triu(np.ones((4, 4), bool), 1)
    kpm = np.array([[False, False, True, False], [False, True, False, True]])
    masks = {"src_mask": causal, "src_key_padding_mask": kpm}
    _layer_check(ours, ref, [x], masks, {k: torch.tensor(v) for k, v in masks.items()}, TOL_LAYER)
    causal_float = _as_float(causal)
    _layer_check(
        ours,
        ref,
        [x[0] if batch_first else x[:, 0]],  # unbatched
        {"src_mask": md.tensor(causal_float), "is_causal": True},
        {"src_mask": torch.tensor(causal_float), "is_causal": True},
        TOL_LAYER,
    )


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_and_stacks(batch_first, norm_first):
    torch.manual_seed(0)
    layer_args = (8, 2, 16, 0.0)
    layer_kwargs = {"batch_first": batch_first, "norm_first": norm_first}
    ref = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(*layer_args, **layer_kwargs), 2, torch.nn.LayerNorm(8)
    )
    ours = md.nn.TransformerDecoder(md.nn.TransformerDecoderLayer(*layer_args, **layer_kwargs), 2, md.nn.LayerNorm(8))
    for p in ref.parameters():
        p.data.normal_()
    tgt = randn(*((2, 4, 8) if batch_first else (4, 2, 8)), seed=1)
    memory = randn(*((2, 5, 8) if batch_first else (5, 2, 8)), seed=2)
    masks = {
        "tgt_mask": np.triu(np.ones((4, 4), bool), 1),
        "memory_mask": np.random.default_rng(1).random((4, 5)) > 0.7,
        "tgt_key_padding_mask": np.array([[False, False, True, False], [False, True, False, False]]),
        "memory_key_padding_mask": np.array([[False, False, True, False, True], [False] * 5]),
    }
    _layer_check(ours, ref, [tgt, memory], masks, {k: torch.tensor(v) for k, v in masks.items()}, TOL_LAYER)

    torch.manual_seed(0)
    ref = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(*layer_args, **layer_kwargs),
        2,
        torch.nn.LayerNorm(8),
        enable_nested_tensor=False,
    )
    ours = md.nn.TransformerEncoder(md.nn.TransformerEncoderLayer(*layer_args, **layer_kwargs), 2, md.nn.LayerNorm(8))
    masks = {"mask": masks["tgt_mask"], "src_key_padding_mask": masks["tgt_key_padding_mask"]}
    _layer_check(ours, ref, [tgt], masks, {k: torch.tensor(v) for k, v in masks.items()}, TOL_LAYER)


def test_transformer():
    torch.manual_seed(0)
    ref = torch.nn.Transformer(8, 2, 1, 1, 16, 0.0, batch_first=True)
    ours = md.nn.Transformer(8, 2, 1, 1, 16, 0.0, batch_first=True)
    mask = md.nn.Transformer.generate_square_subsequent_mask(4)
    ref_mask = torch.nn.Transformer.generate_square_subsequent_mask(4)
    assert_close(mask, ref_mask)
    src, tgt = randn(2, 5, 8, seed=1), randn(2, 4, 8, seed=2)
    _layer_check(ours, ref, [src, tgt], {"tgt_mask": mask}, {"tgt_mask": ref_mask}, TOL_LAYER)


# ---------------------------------------------------------------- interpolate


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 3, 5), {"size": 8, "mode": "nearest"}),
        ((2, 3, 7), {"size": (3,), "mode": "nearest"}),
        ((2, 3, 5), {"scale_factor": 1.7, "mode": "nearest"}),
        ((2, 3, 5), {"scale_factor": 2, "mode": "nearest"}),
        ((2, 3, 5), {"size": 13, "mode": "nearest-exact"}),
        ((2, 3, 5), {"size": 8, "mode": "linear"}),
        ((2, 3, 7), {"size": 3, "mode": "linear", "align_corners": True}),
        ((2, 3, 5), {"scale_factor": 2.5, "mode": "linear", "recompute_scale_factor": True}),
        ((2, 3, 1), {"size": 4, "mode": "linear"}),
        ((1, 2, 3, 4, 5), {"size": (4, 6, 3), "mode": "nearest"}),
        ((1, 2, 3, 4, 5), {"scale_factor": 2, "mode": "nearest"}),
        ((1, 2, 3, 4, 5), {"size": 5, "mode": "nearest-exact"}),
        ((1, 2, 3, 4, 5), {"size": (4, 6, 3), "mode": "trilinear"}),
        ((1, 2, 3, 4, 5), {"scale_factor": (0.5, 2, 1.3), "mode": "trilinear", "align_corners": True}),
        ((1, 2, 4, 4, 4), {"size": (8, 8, 10), "mode": "trilinear", "align_corners": False}),
    ],
    ids=str,
)
def test_interpolate_3d_and_5d(shape, kwargs):
    # were ValueErrors ("input must be 4-D")
    check(lambda x: F.interpolate(x, **kwargs), lambda x: TF.interpolate(x, **kwargs), randn(*shape, seed=1))


def test_upsample_module_3d():
    check(
        md.nn.Upsample(scale_factor=3, mode="linear"), torch.nn.Upsample(scale_factor=3, mode="linear"), randn(2, 3, 4)
    )


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic"])
@pytest.mark.parametrize(
    "resize",
    [{"size": (5, 7)}, {"size": (2, 17)}, {"scale_factor": 1.7}, {"scale_factor": (2, 0.75)}, {"scale_factor": 0.3}],
    ids=str,
)
def test_interpolate_4d(mode, resize):
    for align in [None] if mode.startswith("nearest") else [False, True]:
        kwargs = {**resize, "mode": mode, "align_corners": align}
        check(
            lambda x, kw=kwargs: F.interpolate(x, **kw),
            lambda x, kw=kwargs: TF.interpolate(x, **kw),
            randn(2, 2, 7, 8, seed=2),
        )


@pytest.mark.parametrize(
    "x, kwargs, match",
    [
        (md.zeros((2, 3, 4)), {"size": 2, "mode": "bilinear"}, r"interpolate: mode 'bilinear' needs a 4-D"),
        (md.zeros((1, 2, 3, 4)), {"size": 2, "mode": "linear"}, r"interpolate: mode 'linear' needs a 3-D"),
        (md.zeros((1, 2, 3, 4)), {"size": 2, "mode": "trilinear"}, r"interpolate: mode 'trilinear' needs a 5-D"),
        (md.zeros((2, 2)), {"size": 2}, r"interpolate: .*3-D .*4-D .*5-D.*\[2, 2\]"),
        (md.zeros((1, 1, 2, 2, 2)), {"size": (2, 2)}, r"interpolate: size .* 3 entries"),
        (md.zeros((1, 1, 2)), {"size": 2, "align_corners": True}, "interpolate: align_corners"),
        (md.zeros((1, 1, 2)), {}, "interpolate: give size or scale_factor"),
    ],
)
def test_interpolate_rank_errors(x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.interpolate(x, **kwargs)


# ---------------------------------------------------------------- pooling


def test_max_pool_all_minus_inf_window_gradient_goes_to_first_input():
    # a -inf padding tap ahead of the first input value used to win the tie and swallow the gradient
    x = np.full((1, 1, 3, 3), -np.inf, np.float32)
    check(lambda t: F.max_pool2d(t, 3, 1, 1), lambda t: TF.max_pool2d(t, 3, 1, 1), x)
    x = np.array([[[[1, -np.inf], [-np.inf, -np.inf]]]], np.float32)
    check(lambda t: F.max_pool2d(t, 2, 1, 1), lambda t: TF.max_pool2d(t, 2, 1, 1), x)
    x = np.array([[[-np.inf, -np.inf, 2.0, -np.inf]]], np.float32)
    check(lambda t: F.max_pool1d(t, 3, 1, 1), lambda t: TF.max_pool1d(t, 3, 1, 1), x)
    ours, ref = (
        F.max_pool2d(md.tensor(x[None]), (1, 3), 2, (0, 1), 1, True, True),
        TF.max_pool2d(torch.tensor(x[None]), (1, 3), 2, (0, 1), 1, True, True),
    )
    np.testing.assert_array_equal(ours[1].numpy(), ref[1].numpy())


@pytest.mark.parametrize("hw", [(5, 5), (6, 7), (3, 8)])
@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), ((2, 3), (2, 1), (1, 1)), (3, 1, 1)])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pooling(hw, kernel, stride, padding, ceil_mode):
    x = randn(2, 2, *hw, seed=1)
    x[0, 0, 0, :2] = x[0, 0, 0, 2]  # ties
    for dilation in (1, 2):
        try:
            TF.max_pool2d(torch.tensor(x), kernel, stride, padding, dilation, ceil_mode)
        except RuntimeError:
            continue  # an empty output in torch too
        ours, ref = leaves(x)
        out = F.max_pool2d(ours[0], kernel, stride, padding, dilation, ceil_mode, True)
        ref_out = TF.max_pool2d(ref[0], kernel, stride, padding, dilation, ceil_mode, True)
        np.testing.assert_array_equal(out[1].numpy(), ref_out[1].numpy())
        assert_close(out[0], ref_out[0])
        assert_same_grads(out[0], ref_out[0], ours, ref)
    for count_include_pad in (True, False):
        for divisor in (None, 3):
            args = (kernel, stride, padding, ceil_mode, count_include_pad, divisor)
            check(lambda t, a=args: F.avg_pool2d(t, *a), lambda t, a=args: TF.avg_pool2d(t, *a), x)


@pytest.mark.parametrize("length", [5, 8])
@pytest.mark.parametrize("kernel, stride, padding, dilation", [(2, None, 0, 1), (3, 2, 1, 1), (3, 1, 1, 2)])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pooling_1d(length, kernel, stride, padding, dilation, ceil_mode):
    x = randn(2, 3, length, seed=2)
    check(
        lambda t: F.max_pool1d(t, kernel, stride, padding, dilation, ceil_mode),
        lambda t: TF.max_pool1d(t, kernel, stride, padding, dilation, ceil_mode),
        x,
    )
    if dilation == 1:
        for cip in (True, False):
            check(
                lambda t, c=cip: F.avg_pool1d(t, kernel, stride, padding, ceil_mode, c),
                lambda t, c=cip: TF.avg_pool1d(t, kernel, stride, padding, ceil_mode, c),
                x,
            )


@pytest.mark.parametrize("output_size", [1, 3, (2, 5), (None, 2), 9])
def test_adaptive_pooling(output_size):
    x = randn(2, 2, 7, 4, seed=3)
    check(lambda t: F.adaptive_avg_pool2d(t, output_size), lambda t: TF.adaptive_avg_pool2d(t, output_size), x)
    check(lambda t: F.adaptive_max_pool2d(t, output_size), lambda t: TF.adaptive_max_pool2d(t, output_size), x)
    size = output_size if isinstance(output_size, int) else 3
    check(lambda t: F.adaptive_avg_pool1d(t, size), lambda t: TF.adaptive_avg_pool1d(t, size), x[0])
    check(lambda t: F.adaptive_max_pool1d(t, size), lambda t: TF.adaptive_max_pool1d(t, size), x[0])


# ---------------------------------------------------------------- unfold / fold, shuffles, padding


@pytest.mark.parametrize(
    "kernel, dilation, padding, stride", [(2, 1, 0, 1), (3, 2, 1, 2), ((2, 3), (1, 2), (0, 2), (2, 1)), (1, 1, 1, 3)]
)
def test_unfold_fold(kernel, dilation, padding, stride):
    x = randn(2, 3, 5, 6, seed=4)
    check(
        lambda t: F.unfold(t, kernel, dilation, padding, stride),
        lambda t: TF.unfold(t, kernel, dilation, padding, stride),
        x,
    )
    cols = TF.unfold(torch.tensor(x), kernel, dilation, padding, stride).numpy()
    check(
        lambda t: F.fold(t, (5, 6), kernel, dilation, padding, stride),
        lambda t: TF.fold(t, (5, 6), kernel, dilation, padding, stride),
        cols,
    )


def test_pixel_and_channel_shuffles():
    check(lambda t: F.pixel_shuffle(t, 2), lambda t: TF.pixel_shuffle(t, 2), randn(2, 1, 8, 3, 4))
    check(lambda t: F.pixel_unshuffle(t, 3), lambda t: TF.pixel_unshuffle(t, 3), randn(2, 2, 6, 9))
    check(lambda t: F.channel_shuffle(t, 3), lambda t: TF.channel_shuffle(t, 3), randn(2, 6, 3, 2))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "shape, pad",
    [
        ((2, 3, 5), (1, 2)),
        ((3, 4, 5), (1, 1, 2, 2)),
        ((2, 3, 4, 5), (-1, 2, 1, -2)),
        ((1, 2, 3, 4, 5), (1, 0, 2, 1, 0, 1)),
    ],
)
def test_pad_modes(mode, shape, pad):
    check(lambda t: F.pad(t, pad, mode), lambda t: TF.pad(t, pad, mode), randn(*shape))


@pytest.mark.parametrize(
    "name, args",
    [
        ("ReflectionPad3d", (1,)),
        ("ReplicationPad3d", ((1, 0, 2, 1, 0, 1),)),
        ("CircularPad3d", (1,)),
        ("ZeroPad3d", ((1, 2, 0, 1, 1, 0),)),
        ("ConstantPad3d", (1, 2.5)),
    ],
)
@pytest.mark.parametrize("batched", [True, False])
def test_padding_3d_modules(name, args, batched):
    # were missing from md.nn
    ours, ref = getattr(md.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(ref)
    check(ours, ref, randn(*((1, 2, 3, 4, 5) if batched else (2, 3, 4, 5))))


@pytest.mark.parametrize(
    "name, args",
    [
        ("ReflectionPad1d", (2,)),
        ("ReflectionPad2d", ((1, 2, 0, 3),)),
        ("ReplicationPad2d", (2,)),
        ("CircularPad1d", (2,)),
        ("ZeroPad2d", (1,)),
        ("ConstantPad1d", (2, 3.5)),
    ],
)
def test_padding_modules(name, args):
    ours, ref = getattr(md.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(ref)
    shape = (2, 3, 5) if name.endswith("1d") else (2, 3, 4, 5)
    check(ours, ref, randn(*shape))
