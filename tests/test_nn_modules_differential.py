"""Differential checks of the modules of nn_transformer.py, nn_activations.py and nn_spatial.py
against torch's: state-dict keys, reprs, outputs and input/parameter gradients after loading a
torch module's weights, in train and eval mode; error messages that name the module and the shapes
as the caller gave them; and, as strict xfails, the differences whose cause lies elsewhere."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import minidiff as md

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-5, atol=1e-5)


def randn(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def load_from_torch(module, torch_module) -> None:
    state = torch_module.state_dict()
    assert list(module.state_dict()) == list(state)
    module.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in state.items()})


def md_masks(kwargs: dict) -> dict:
    """Bool masks stay NumPy bool arrays (minidiff's boolean masks), float ones become md tensors."""
    return {k: v if not isinstance(v, np.ndarray) or v.dtype == bool else md.tensor(v) for k, v in kwargs.items()}


def torch_masks(kwargs: dict) -> dict:
    return {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


def check_against_torch(module, torch_module, arrays, kwargs=None, train=False):
    """Same inputs (requiring grad), same random output gradient: outputs, input gradients and
    parameter gradients (by torch's names) must agree."""
    kwargs = kwargs or {}
    module.train(train)
    torch_module.train(train)
    xs = [md.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    outs = module(*xs, **md_masks(kwargs))
    touts = torch_module(*ts, **torch_masks(kwargs))
    outs = outs if isinstance(outs, tuple) else (outs,)
    touts = touts if isinstance(touts, tuple) else (touts,)
    assert len(outs) == len(touts)
    loss, tloss = 0.0, 0.0
    for o, t in zip(outs, touts):
        assert (o is None) == (t is None)
        if o is None:
            continue
        assert tuple(o.shape) == tuple(t.shape)
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), **TOL)
        g = randn(*t.shape)
        loss = loss + (o * md.tensor(g)).sum()
        tloss = tloss + (t * torch.tensor(g)).sum()
    loss.backward()
    tloss.backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), **TOL)
    params, tparams = dict(module.named_parameters()), dict(torch_module.named_parameters())
    assert list(params) == list(tparams)
    for name, tp in tparams.items():
        np.testing.assert_allclose(params[name].grad.numpy(), tp.grad.numpy(), err_msg=name, **TOL)


# ---- MultiheadAttention


def mha_pair(*args, **kwargs):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(*args, **kwargs)
    if kwargs.get("bias", True):  # torch zeroes the biases: give them values so their use is checked
        with torch.no_grad():
            tm.in_proj_bias.normal_()
            tm.out_proj.bias.normal_()
    m = md.nn.MultiheadAttention(*args, **kwargs)
    assert repr(m) == repr(tm)
    load_from_torch(m, tm)
    return m, tm


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"bias": False},
        {"add_bias_kv": True, "add_zero_attn": True},
        {"kdim": 6, "vdim": 5},
        {"batch_first": True, "kdim": 6, "vdim": 5, "add_bias_kv": True},
    ],
)
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
def test_multihead_attention_masks_match_torch(options, need_weights, average):
    E, H, L, S, N = 8, 2, 3, 4, 2
    m, tm = mha_pair(E, H, **options)
    kdim, vdim = options.get("kdim", E), options.get("vdim", E)

    def shape(length, dim):
        return (N, length, dim) if options.get("batch_first") else (length, N, dim)

    arrays = [randn(*shape(L, E)), randn(*shape(S, kdim)), randn(*shape(S, vdim))]
    padding = np.zeros((N, S), bool)
    padding[0, -1] = True
    float_mask = randn(N * H, L, S)
    for masks in (
        {"key_padding_mask": padding, "attn_mask": np.triu(np.ones((L, S), bool), 2)},
        {"attn_mask": float_mask},
    ):
        kwargs = dict(masks, need_weights=need_weights, average_attn_weights=average)
        check_against_torch(m, tm, arrays, kwargs)
    unbatched = [randn(L, E), randn(S, kdim), randn(S, vdim)]
    check_against_torch(m, tm, unbatched, {"key_padding_mask": padding[0], "need_weights": need_weights})


def test_multihead_attention_batch_first_errors_name_the_shapes_as_given():
    # regression: with batch_first the batch-size, source-length and feature checks ran after the
    # (N, L, E) -> (L, N, E) transposes, so the errors named the transposed shapes
    m = md.nn.MultiheadAttention(8, 2, batch_first=True)

    def x(*shape):
        return md.tensor(randn(*shape))

    with pytest.raises(ValueError, match=r"MultiheadAttention: query \(2, 3, 8\), key \(3, 4, 8\) .*batch size"):
        m(x(2, 3, 8), x(3, 4, 8), x(3, 4, 8))
    with pytest.raises(ValueError, match=r"MultiheadAttention: key \(2, 4, 8\) and value \(2, 5, 8\) .*source length"):
        m(x(2, 3, 8), x(2, 4, 8), x(2, 5, 8))
    with pytest.raises(ValueError, match=r"MultiheadAttention: expected key with 8 features .*\(2, 4, 7\)"):
        m(x(2, 3, 8), x(2, 4, 7), x(2, 4, 7))


# ---- transformer layers


def layer_pair(name, *args, md_activation=None, torch_activation=None, **kwargs):
    torch.manual_seed(0)
    tkw = dict(kwargs, activation=torch_activation) if torch_activation is not None else kwargs
    mkw = dict(kwargs, activation=md_activation) if md_activation is not None else kwargs
    tm = getattr(torch.nn, name)(*args, **tkw)
    m = getattr(md.nn, name)(*args, **mkw)
    load_from_torch(m, tm)
    return m, tm


LAYER_OPTIONS = [
    {},
    {"norm_first": True, "bias": False},
    {"batch_first": True, "layer_norm_eps": 1e-3},
    {"activation": "gelu", "norm_first": True},
]


@pytest.mark.parametrize("options", LAYER_OPTIONS)
@pytest.mark.parametrize("train", [False, True])
def test_encoder_and_decoder_layers_match_torch(options, train):
    d, H, L, S, N = 8, 2, 3, 4, 2
    bf = options.get("batch_first", False)

    def shape(length):
        return (N, length, d) if bf else (length, N, d)

    causal = np.triu(np.full((L, L), -np.inf, np.float32), 1)
    padding = np.zeros((N, L), bool)
    padding[1, 0] = True
    m, tm = layer_pair("TransformerEncoderLayer", d, H, 16, dropout=0.0, **options)
    check_against_torch(m, tm, [randn(*shape(L))], {"src_mask": causal, "is_causal": True}, train)
    check_against_torch(m, tm, [randn(*shape(L))], {"src_key_padding_mask": padding}, train)
    check_against_torch(m, tm, [randn(L, d)], {}, train)
    m, tm = layer_pair("TransformerDecoderLayer", d, H, 16, dropout=0.0, **options)
    memory_padding = np.zeros((N, S), bool)
    memory_padding[0, 1] = True
    kwargs = {"tgt_mask": causal, "tgt_is_causal": True, "memory_key_padding_mask": memory_padding}
    check_against_torch(m, tm, [randn(*shape(L)), randn(*shape(S))], kwargs, train)
    check_against_torch(m, tm, [randn(L, d), randn(S, d)], {}, train)


def test_transformer_with_callable_activation_matches_torch():
    d, L, S, N = 8, 3, 4, 2
    m, tm = layer_pair(
        "Transformer",
        d,
        2,
        2,
        1,
        16,
        dropout=0.0,
        md_activation=md.nn.functional.silu,
        torch_activation=torch.nn.functional.silu,
    )
    causal = np.triu(np.full((L, L), -np.inf, np.float32), 1)
    padding = np.zeros((N, S), bool)
    padding[1, 2] = True
    kwargs = {"tgt_mask": causal, "src_key_padding_mask": padding, "memory_key_padding_mask": padding}
    check_against_torch(m, tm, [randn(S, N, d), randn(L, N, d)], kwargs)


def test_decoder_stack_keeps_a_module_activation():
    # deliberate: torch's TransformerDecoderLayer.__setstate__ finds no "activation" in __dict__ when
    # the activation is a submodule, so the deep copies TransformerDecoder makes run F.relu; here each
    # copy keeps the layer's activation, as TransformerEncoder's copies do in torch too
    d, L, S = 8, 3, 4
    layer, tlayer = layer_pair(
        "TransformerDecoderLayer",
        d,
        2,
        16,
        dropout=0.0,
        md_activation=md.nn.GELU(approximate="tanh"),
        torch_activation=torch.nn.GELU(approximate="tanh"),
    )
    stack = md.nn.TransformerDecoder(layer, 2).eval()
    assert all(type(copy_.activation) is md.nn.GELU for copy_ in stack.layers)
    tlayer.eval()
    x, mem = randn(L, 1, d), randn(S, 1, d)
    with torch.no_grad():  # the same layer (the same weights) twice: what the stack must compute
        want = tlayer(tlayer(torch.tensor(x), torch.tensor(mem)), torch.tensor(mem)).numpy()
    np.testing.assert_allclose(stack(md.tensor(x), md.tensor(mem)).numpy(), want, **TOL)


@pytest.mark.torch_2_13
def test_encoder_layer_repr_with_float_dropout_zero():
    torch.manual_seed(0)
    assert repr(md.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)) == repr(
        torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    )


# ---- activations and losses


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("CELU", {"alpha": 0.5}),
        ("ELU", {"alpha": 2.0}),
        ("SELU", {}),
        ("Hardtanh", {"min_val": -2, "max_val": 0.5}),
        ("ReLU6", {}),
        ("Hardswish", {}),
        ("Softshrink", {"lambd": 1.5}),
        ("Hardshrink", {}),
        ("Softmin", {"dim": 1}),
        ("LogSoftmax", {"dim": -1}),
        ("Softmax2d", {}),
        ("GLU", {"dim": 1}),
        ("PReLU", {"num_parameters": 4, "init": 0.1}),
        ("Threshold", {"threshold": 0.5, "value": -2.0}),
        ("RReLU", {"lower": 0.2, "upper": 0.2}),
    ],
)
@pytest.mark.parametrize("train", [False, True])
def test_activation_modules_match_torch(name, kwargs, train):
    m, tm = getattr(md.nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(m) == repr(tm)
    load_from_torch(m, tm)
    check_against_torch(m, tm, [randn(2, 4, 3, 6) * 3], train=train)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_match_torch(reduction):
    p = (1 / (1 + np.exp(-randn(3, 4)))).astype(np.float32)
    y = (randn(3, 4) > 0).astype(np.float32)
    sign = np.sign(randn(5)).astype(np.float32)
    w = np.abs(randn(4))
    cases = [
        ("BCELoss", {"weight": w}, [p], [y]),
        ("BCEWithLogitsLoss", {"weight": w, "pos_weight": np.abs(randn(4))}, [randn(3, 4)], [y]),
        ("KLDivLoss", {"log_target": True}, [randn(3, 4), randn(3, 4)], []),
        ("GaussianNLLLoss", {"full": True}, [randn(3, 4), randn(3, 4), np.abs(randn(3, 1))], []),
        ("PoissonNLLLoss", {"log_input": False, "full": True}, [np.abs(randn(3, 4)), np.abs(randn(3, 4)) * 3], []),
        ("CosineEmbeddingLoss", {"margin": 0.3}, [randn(5, 4), randn(5, 4)], [sign]),
        ("MarginRankingLoss", {"margin": 0.5}, [randn(5), randn(5)], [sign]),
        ("HingeEmbeddingLoss", {"margin": 0.3}, [randn(5)], [sign]),
        ("SoftMarginLoss", {}, [randn(5)], [sign]),
        ("TripletMarginLoss", {"margin": 0.5, "p": 1.0, "swap": True}, [randn(5, 4), randn(5, 4), randn(5, 4)], []),
    ]
    for name, kwargs, arrays, fixed in cases:
        mk = {k: md.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        m = getattr(md.nn, name)(**mk, reduction=reduction)
        tm = getattr(torch.nn, name)(**torch_masks(kwargs), reduction=reduction)
        assert repr(m) == repr(tm) and list(m.state_dict()) == list(tm.state_dict()), name
        xs = [md.tensor(a, requires_grad=True) for a in arrays]
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        out = m(*xs, *[md.tensor(a) for a in fixed])
        tout = tm(*ts, *[torch.tensor(a) for a in fixed])
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), err_msg=name, **TOL)
        g = randn(*tout.shape)
        (out * md.tensor(g)).sum().backward()
        (tout * torch.tensor(g)).sum().backward()
        for x, t in zip(xs, ts):
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), err_msg=name, **TOL)


# ---- spatial modules


@pytest.mark.parametrize(
    "name, args, shape",
    [
        ("Unfold", ((2, 3), 1, 1, (2, 1)), (2, 3, 5, 6)),
        ("Fold", ((5, 5), (2, 3), 1, 1, 2), (2, 6, 9)),
        ("ConstantPad2d", ((-1, 2, 1, -2), 1.5), (2, 3, 5, 4)),
        ("ReflectionPad2d", ((1, 2, 0, 3),), (3, 5, 4)),
        ("ReplicationPad3d", ((1, 2, 0, 1, 2, 0),), (1, 2, 4, 5, 4)),
        ("CircularPad1d", ((-1, 2),), (2, 3, 5)),
        ("UpsamplingBilinear2d", (None, (1.5, 2.0)), (2, 3, 4, 5)),
        ("AvgPool1d", (3, 2, 1, True, False), (2, 3, 9)),
        ("MaxPool1d", (2, 2, 1, 2, True), (2, 3, 10)),
        ("AdaptiveMaxPool1d", (4, True), (2, 3, 10)),
        ("ChannelShuffle", (3,), (2, 6, 3, 3)),
        pytest.param("BatchNorm1d", (3, 1e-3, None), (4, 3, 5), marks=pytest.mark.torch_2_13),  # (its repr)
    ],
)
@pytest.mark.parametrize("train", [False, True])
def test_spatial_modules_match_torch(name, args, shape, train):
    m, tm = getattr(md.nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(m) == repr(tm)
    if name == "BatchNorm1d":
        with torch.no_grad():
            tm.weight.normal_()
            tm.running_var.uniform_(0.5, 2.0)
    load_from_torch(m, tm)
    if name == "AdaptiveMaxPool1d":  # (values, indices): compare the indices, then the values as usual
        x = randn(*shape)
        np.testing.assert_array_equal(m(md.tensor(x))[1].numpy(), tm(torch.tensor(x))[1].numpy())
        m.return_indices = tm.return_indices = False
    check_against_torch(m, tm, [randn(*shape)], train=train)
    if name == "BatchNorm1d":
        for key, value in tm.state_dict().items():
            np.testing.assert_allclose(m.state_dict()[key].numpy(), value.numpy(), err_msg=key, **TOL)


def test_batch_norm_1d_takes_device_and_dtype():
    m = md.nn.BatchNorm1d(3, device="cpu", dtype="float32")
    assert tuple(m.weight.shape) == (3,) and m.weight.dtype == m.running_mean.dtype == "float32"
    assert m.num_batches_tracked.dtype == "int64"
    with pytest.raises(TypeError, match="bfloat16"):  # parameters are float32 in minidiff
        md.nn.BatchNorm1d(3, dtype="bfloat16")
    assert repr(md.nn.Dropout(0.0)) == repr(torch.nn.Dropout(0.0)) == "Dropout(p=0.0, inplace=False)"


def test_modules_deep_copy_keeps_weights():
    m, _ = mha_pair(8, 2, kdim=6, vdim=5, add_bias_kv=True)
    c = copy.deepcopy(m)
    for (name, p), (_, q) in zip(m.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
