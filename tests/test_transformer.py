"""F.rms_norm, nn.RMSNorm, nn.MultiheadAttention (F.multi_head_attention_forward) and the transformer
layers: outputs and input/parameter gradients against torch modules with the same weights (eval
mode), masks of each kind, dropout in training mode, torch's parameter names and initialisation,
NumPy and finite-difference checks that run without torch, errors, and a short training run."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from gradcheck import check_grads, softmax_ref

import minidiff as md

RNG = np.random.default_rng(0)
TOL = dict(rtol=1e-5, atol=1e-5)


def randn(*shape, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# ---- helpers: the same module in torch and in minidiff


def load_from_torch(module, torch_module) -> None:
    """Copies torch_module's weights into module; the state-dict keys must be torch's, in order."""
    state = torch_module.state_dict()
    assert list(module.state_dict()) == list(state)
    module.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in state.items()})


def md_mask(mask):
    """A mask for minidiff: bool masks stay NumPy bool arrays, float masks become md tensors."""
    if mask is None or mask.dtype == bool:
        return mask
    return md.tensor(mask)


def torch_mask(torch, mask):
    return None if mask is None else torch.tensor(mask)


def run_both(torch, module, torch_module, arrays, call_md, call_torch, seed=1):
    """Runs both modules on the same arrays (the inputs require grad), backpropagates the same
    random gradient into every float output and returns (md results, torch results): outputs,
    input gradients, then parameter gradients by name."""
    module.eval()
    torch_module.eval()
    xs = [md.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    outs = call_md(module, *xs)
    touts = call_torch(torch_module, *ts)
    outs = outs if isinstance(outs, tuple) else (outs,)
    touts = touts if isinstance(touts, tuple) else (touts,)
    assert len(outs) == len(touts)
    r = np.random.default_rng(seed)
    loss, tloss = 0.0, 0.0
    for o, t in zip(outs, touts):
        assert (o is None) == (t is None)
        if o is None:
            continue
        assert tuple(o.shape) == tuple(t.shape)
        g = r.standard_normal(tuple(t.shape)).astype(np.float32)
        loss = loss + (o * md.tensor(g)).sum()
        tloss = tloss + (t * torch.tensor(g)).sum()
    loss.backward()
    tloss.backward()
    got = [o.numpy() for o in outs if o is not None] + [None if x.grad is None else x.grad.numpy() for x in xs]
    want = [t.detach().numpy() for t in touts if t is not None] + [
        None if t.grad is None else t.grad.numpy() for t in ts
    ]
    params = dict(module.named_parameters())
    tparams = dict(torch_module.named_parameters())
    assert list(params) == list(tparams)
    for name, tp in tparams.items():
        got.append(params[name].grad.numpy())
        want.append(tp.grad.numpy())
    return got, want


def assert_all_close(got, want, **tol):
    tol = tol or TOL
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert (g is None) == (w is None), f"result {i}: a gradient on one side only"
        if g is None:
            continue
        assert g.shape == w.shape, f"result {i}: shape {g.shape} != {w.shape}"
        np.testing.assert_allclose(g, w, err_msg=f"result {i}", **tol)


def mha_pair(torch, *args, **kwargs):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(*args, **kwargs)
    if kwargs.get("bias", True):  # torch zeroes the biases: give them values, so their use is checked
        with torch.no_grad():
            tm.in_proj_bias.normal_()
            tm.out_proj.bias.normal_()
    m = md.nn.MultiheadAttention(*args, **kwargs)
    load_from_torch(m, tm)
    return m, tm


# ---- RMS norm


@pytest.mark.parametrize(
    "shape, normalized_shape", [((2, 3, 8), 8), ((4, 6), (6,)), ((2, 3, 4, 5), (4, 5)), ((7,), [7])]
)
@pytest.mark.parametrize("eps", [None, 1e-3])
@pytest.mark.parametrize("with_weight", [True, False])
def test_rms_norm_matches_torch(shape, normalized_shape, eps, with_weight):
    torch = pytest.importorskip("torch")
    x = randn(*shape, scale=2.0)
    # torch's F.rms_norm takes a tuple or list only; md's takes an int too, as the module does
    norm_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    w = randn(*norm_shape) if with_weight else None
    arrays = [x] + ([w] if with_weight else [])
    xs = [md.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = md.F.rms_norm(xs[0], normalized_shape, xs[1] if with_weight else None, eps)
    ty = torch.nn.functional.rms_norm(ts[0], norm_shape, ts[1] if with_weight else None, eps)
    g = randn(*shape)
    y.backward(md.tensor(g))
    ty.backward(torch.tensor(g))
    assert_all_close([y.numpy()] + [a.grad.numpy() for a in xs], [ty.detach().numpy()] + [t.grad.numpy() for t in ts])


def test_rms_norm_module_matches_torch():
    torch = pytest.importorskip("torch")
    for args, kwargs in [((8,), {}), (((3, 8),), {"eps": 1e-4}), ((8,), {"elementwise_affine": False})]:
        tm = torch.nn.RMSNorm(*args, **kwargs)
        m = md.nn.RMSNorm(*args, **kwargs)
        assert repr(m) == repr(tm)
        if tm.weight is not None:
            with torch.no_grad():
                tm.weight.normal_()
        load_from_torch(m, tm)
        got, want = run_both(torch, m, tm, [randn(2, 3, 8, scale=3.0)], lambda mod, x: mod(x), lambda mod, x: mod(x))
        assert_all_close(got, want)


def test_rms_norm_numpy_reference_and_gradients():
    x = randn(3, 5, scale=2.0)
    w = randn(5)
    got = md.F.rms_norm(md.tensor(x), 5, md.tensor(w), 1e-6).numpy()
    x64 = x.astype(np.float64)
    want = x64 / np.sqrt((x64**2).mean(-1, keepdims=True) + 1e-6) * w
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # eps=None is float32's machine epsilon: it decides the result for tiny inputs
    tiny = np.full((4,), 1e-4, np.float32)
    expected = 1e-4 / math.sqrt(1e-8 + float(np.finfo(np.float32).eps))
    np.testing.assert_allclose(md.F.rms_norm(md.tensor(tiny), 4).numpy(), expected, rtol=1e-5)
    check_grads(lambda a, b: md.F.rms_norm(a, (5,), b), [x, w])
    m = md.nn.RMSNorm(5)
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    np.testing.assert_array_equal(m.weight.numpy(), np.ones(5, np.float32))
    assert list(md.nn.RMSNorm(5, elementwise_affine=False).state_dict()) == []


def test_rms_norm_errors():
    with pytest.raises(ValueError, match=r"rms_norm.*\(2, 3\)"):
        md.F.rms_norm(md.randn(2, 3), 4)
    with pytest.raises(ValueError, match=r"rms_norm: weight of shape \(3,\)"):
        md.F.rms_norm(md.randn(2, 4), 4, md.ones(3))
    with pytest.raises(ValueError, match="RMSNorm: normalized_shape"):
        md.nn.RMSNorm(0)
    with pytest.raises(TypeError, match="rms_norm: input"):
        md.F.rms_norm(np.ones(4, np.float32), 4)


# ---- MultiheadAttention against torch


MHA_CONFIGS = [
    dict(kwargs={}, L=5, S=5, batched=True, self_attn=True),
    dict(kwargs={"batch_first": True}, L=5, S=5, batched=True, self_attn=True),
    dict(kwargs={}, L=4, S=6, batched=True, self_attn=False),
    dict(kwargs={"batch_first": True}, L=4, S=6, batched=True, self_attn=False),
    dict(kwargs={}, L=4, S=6, batched=False, self_attn=False),
    dict(kwargs={"batch_first": True}, L=5, S=5, batched=False, self_attn=True),
    dict(kwargs={"kdim": 6, "vdim": 10}, L=4, S=7, batched=True, self_attn=False),
    dict(kwargs={"kdim": 6, "vdim": 10, "batch_first": True}, L=4, S=7, batched=False, self_attn=False),
    dict(kwargs={"bias": False}, L=5, S=3, batched=True, self_attn=False),
    dict(kwargs={"add_bias_kv": True}, L=5, S=5, batched=True, self_attn=True),
    dict(kwargs={"add_zero_attn": True, "batch_first": True}, L=3, S=5, batched=True, self_attn=False),
    dict(kwargs={"add_bias_kv": True, "add_zero_attn": True}, L=3, S=4, batched=False, self_attn=False),
]


def mha_inputs(cfg, E, N=3):
    kw = cfg["kwargs"]
    kdim, vdim = kw.get("kdim", E), kw.get("vdim", E)
    L, S = cfg["L"], cfg["S"]

    def shape(length, features):
        if not cfg["batched"]:
            return (length, features)
        return (N, length, features) if kw.get("batch_first") else (length, N, features)

    if cfg["self_attn"]:
        return [randn(*shape(L, E))]
    return [randn(*shape(L, E)), randn(*shape(S, kdim)), randn(*shape(S, vdim))]


def mha_call(need_weights, average, **mask_kwargs):
    def call(mod, *xs):
        q, k, v = (xs[0], xs[0], xs[0]) if len(xs) == 1 else xs
        return mod(q, k, v, need_weights=need_weights, average_attn_weights=average, **mask_kwargs)

    return call


@pytest.mark.parametrize("cfg", MHA_CONFIGS, ids=lambda c: f"{c['kwargs']}-L{c['L']}S{c['S']}-b{int(c['batched'])}")
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
def test_multihead_attention_matches_torch(cfg, need_weights, average):
    torch = pytest.importorskip("torch")
    E, H = 8, 2
    m, tm = mha_pair(torch, E, H, **cfg["kwargs"])
    arrays = mha_inputs(cfg, E)
    got, want = run_both(torch, m, tm, arrays, mha_call(need_weights, average), mha_call(need_weights, average))
    assert_all_close(got, want)
    if need_weights:
        L, S = cfg["L"], cfg["S"] + cfg["kwargs"].get("add_bias_kv", 0) + cfg["kwargs"].get("add_zero_attn", 0)
        heads = () if average else (H,)
        batch = (3,) if cfg["batched"] else ()
        assert got[1].shape == batch + heads + (L, S)


def make_masks(kind, N, H, L, S):
    """(attn_mask, key_padding_mask) as NumPy arrays of the given kind; no query is fully blocked."""
    r = np.random.default_rng(7)
    attn = kpm = None
    if kind.startswith("bool2d"):
        attn = r.random((L, S)) > 0.6
        attn[:, 0] = False
    elif kind.startswith("float2d"):
        attn = r.standard_normal((L, S)).astype(np.float32)
        attn[1, 2] = -np.inf
    elif kind.startswith("bool3d"):
        attn = r.random((N * H, L, S)) > 0.6
        attn[..., 1] = False
    elif kind.startswith("float3d"):
        attn = r.standard_normal((N * H, L, S)).astype(np.float32)
    if kind.endswith("kpm_bool") or kind == "kpm_bool":
        kpm = np.zeros((N, S), bool)
        kpm[0, -2:] = True
        kpm[-1, 0] = True
    elif kind.endswith("kpm_float") or kind == "kpm_float":
        kpm = r.standard_normal((N, S)).astype(np.float32)
        kpm[0, -1] = -np.inf
    return attn, kpm


MASK_KINDS = [
    "bool2d",
    "float2d",
    "bool3d",
    "float3d",
    "kpm_bool",
    "kpm_float",
    "bool2d+kpm_bool",
    "float3d+kpm_float",
    "bool3d+kpm_bool",
]


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_masks_match_torch(kind, need_weights, batch_first):
    torch = pytest.importorskip("torch")
    E, H, N, L, S = 8, 2, 3, 4, 6
    m, tm = mha_pair(torch, E, H, batch_first=batch_first)
    attn, kpm = make_masks(kind, N, H, L, S)
    q_shape, kv_shape = ((N, L, E), (N, S, E)) if batch_first else ((L, N, E), (S, N, E))
    arrays = [randn(*q_shape), randn(*kv_shape)]
    got, want = run_both(
        torch,
        m,
        tm,
        arrays,
        lambda mod, q, kv: mod(q, kv, kv, md_mask(kpm), need_weights, md_mask(attn)),
        lambda mod, q, kv: mod(q, kv, kv, torch_mask(torch, kpm), need_weights, torch_mask(torch, attn)),
    )
    assert_all_close(got, want)


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_unbatched_masks_match_torch(need_weights):
    torch = pytest.importorskip("torch")
    E, H, L, S = 8, 4, 5, 3
    m, tm = mha_pair(torch, E, H, add_zero_attn=True)
    r = np.random.default_rng(3)
    for attn, kpm in [
        (r.random((L, S)) > 0.7, np.array([False, True, False])),
        (r.standard_normal((H, L, S)).astype(np.float32), r.standard_normal(S).astype(np.float32)),
    ]:
        got, want = run_both(
            torch,
            m,
            tm,
            [randn(L, E), randn(S, E)],
            lambda mod, q, kv, kpm=kpm, attn=attn: mod(q, kv, kv, md_mask(kpm), need_weights, md_mask(attn)),
            lambda mod, q, kv, kpm=kpm, attn=attn: mod(
                q, kv, kv, torch_mask(torch, kpm), need_weights, torch_mask(torch, attn)
            ),
        )
        assert_all_close(got, want)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("with_kpm", [False, True])
def test_multihead_attention_is_causal_matches_torch(need_weights, with_kpm):
    torch = pytest.importorskip("torch")
    E, H, N, L = 8, 2, 2, 5
    m, tm = mha_pair(torch, E, H, batch_first=True)
    causal = np.triu(np.ones((L, L), bool), 1)
    kpm = np.array([[False] * L, [False] * (L - 1) + [True]]) if with_kpm else None
    got, want = run_both(
        torch,
        m,
        tm,
        [randn(N, L, E)],
        lambda mod, x: mod(x, x, x, md_mask(kpm), need_weights, causal, is_causal=True),
        lambda mod, x: mod(x, x, x, torch_mask(torch, kpm), need_weights, torch.tensor(causal), is_causal=True),
    )
    assert_all_close(got, want)


@pytest.mark.parametrize("need_weights", [True, False])
def test_multi_head_attention_forward_static_kv_matches_torch(need_weights):
    """The functional form with separate projection weights and precomputed (static) keys and values."""
    torch = pytest.importorskip("torch")
    E, H, N, L, S = 8, 2, 3, 4, 5
    arrays = [randn(L, N, E), randn(S, N, 3), randn(S, N, 5), randn(E, E), randn(E, 3), randn(E, 5), randn(3 * E)]
    arrays += [randn(E, E), randn(N * H, S, E // H), randn(N * H, S, E // H)]
    mask = randn(L, S)

    def call(F, mask):
        def fn(_module, q, k, v, wq, wk, wv, b, wo, sk, sv):
            return F.multi_head_attention_forward(
                q, k, v, E, H, None, b, None, None, False, 0.0, wo, None, training=False, attn_mask=mask,
                need_weights=need_weights, use_separate_proj_weight=True, q_proj_weight=wq, k_proj_weight=wk,
                v_proj_weight=wv, static_k=sk, static_v=sv, average_attn_weights=False,
            )  # fmt: skip

        return fn

    module, torch_module = md.nn.Identity(), torch.nn.Identity()
    got, want = run_both(
        torch, module, torch_module, arrays, call(md.F, md.tensor(mask)), call(torch.nn.functional, torch.tensor(mask))
    )
    assert_all_close(got, want)
    # the key and value projections are unused (static ones replace them): no gradient, as in torch
    first_input = 1 + need_weights
    assert got[first_input + 1] is None and got[first_input + 4] is None


def test_multihead_attention_fully_masked_query_as_torch():
    """A query that may attend to nothing: zeros through scaled_dot_product_attention, NaN through
    the explicit softmax (need_weights=True), as in torch."""
    torch = pytest.importorskip("torch")
    m, tm = mha_pair(torch, 4, 2)
    x = randn(3, 2, 4)
    kpm = np.array([[True, True, True], [False, True, False]])
    with torch.no_grad():
        for need_weights in (False, True):
            out = m(md.tensor(x), md.tensor(x), md.tensor(x), kpm, need_weights)[0].numpy()
            tout = tm(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm), need_weights=need_weights)[0]
            np.testing.assert_allclose(out, tout.numpy(), **TOL)  # NaN where torch has NaN
            assert np.isnan(out[:, 0]).all() == need_weights
            assert np.isfinite(out[:, 1]).all()


def test_multihead_attention_state_dict_and_repr_match_torch():
    torch = pytest.importorskip("torch")
    for kwargs in [{}, {"kdim": 3, "vdim": 5}, {"bias": False}, {"add_bias_kv": True}]:
        tm = torch.nn.MultiheadAttention(8, 4, **kwargs)
        m = md.nn.MultiheadAttention(8, 4, **kwargs)
        assert list(m.state_dict()) == list(tm.state_dict())
        for (name, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
            assert tuple(p.shape) == tuple(tp.shape), name
        assert repr(m) == repr(tm)
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias"):
            assert (getattr(m, name) is None) == (getattr(tm, name) is None), name
        assert (m.bias_k is None) == (tm.bias_k is None)
        assert m.head_dim == tm.head_dim and m._qkv_same_embed_dim == tm._qkv_same_embed_dim


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_transformer_layers_state_dict_match_torch():
    torch = pytest.importorskip("torch")
    pairs = [
        (md.nn.TransformerEncoderLayer(8, 2, 16), torch.nn.TransformerEncoderLayer(8, 2, 16)),
        (md.nn.TransformerEncoderLayer(8, 2, 16, bias=False), torch.nn.TransformerEncoderLayer(8, 2, 16, bias=False)),
        (md.nn.TransformerDecoderLayer(8, 2, 16), torch.nn.TransformerDecoderLayer(8, 2, 16)),
        (md.nn.Transformer(8, 2, 2, 1, 16), torch.nn.Transformer(8, 2, 2, 1, 16)),
    ]
    for m, tm in pairs:
        assert list(m.state_dict()) == list(tm.state_dict())
        shapes = {k: tuple(v.shape) for k, v in tm.state_dict().items()}
        assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == shapes


# ---- transformer layers against torch


LAYER_CONFIGS = [
    dict(activation="relu", norm_first=False, batch_first=False),
    dict(activation="gelu", norm_first=True, batch_first=True),
    dict(activation="relu", norm_first=True, batch_first=False, bias=False),
    dict(activation="gelu", norm_first=False, batch_first=True, layer_norm_eps=1e-3),
]


def layer_pair(torch, md_cls, torch_cls, d_model, nhead, dim_ff, **kwargs):
    torch.manual_seed(0)
    tm = torch_cls(d_model, nhead, dim_ff, **kwargs)
    with torch.no_grad():  # torch starts the norms at ones/zeros and biases at zeros: give them values
        for name, p in tm.named_parameters():
            if p.ndim == 1:
                p.normal_(mean=1.0 if "norm" in name and name.endswith("weight") else 0.0, std=0.3)
    m = md_cls(d_model, nhead, dim_ff, **kwargs)
    load_from_torch(m, tm)
    return m, tm


def seq(batch_first, N, L, E, batched=True):
    if not batched:
        return randn(L, E)
    return randn(N, L, E) if batch_first else randn(L, N, E)


@pytest.mark.parametrize("cfg", LAYER_CONFIGS, ids=str)
@pytest.mark.parametrize("masks", ["none", "bool", "float", "causal"])
def test_encoder_layer_matches_torch(cfg, masks):
    torch = pytest.importorskip("torch")
    E, H, N, L = 8, 2, 3, 5
    m, tm = layer_pair(torch, md.nn.TransformerEncoderLayer, torch.nn.TransformerEncoderLayer, E, H, 16, **cfg)
    mask = kpm = None
    is_causal = False
    if masks == "bool":
        mask, kpm = np.triu(np.ones((L, L), bool), 2), np.zeros((N, L), bool)
        kpm[1, -1] = True
    elif masks == "float":
        mask, kpm = randn(L, L), randn(N, L)
    elif masks == "causal":
        mask, is_causal = np.triu(np.ones((L, L), bool), 1), True
    got, want = run_both(
        torch,
        m,
        tm,
        [seq(cfg["batch_first"], N, L, E)],
        lambda mod, x: mod(x, md_mask(mask), md_mask(kpm), is_causal),
        lambda mod, x: mod(x, torch_mask(torch, mask), torch_mask(torch, kpm), is_causal),
    )
    assert_all_close(got, want)


def test_encoder_layer_unbatched_and_callable_activation_match_torch():
    torch = pytest.importorskip("torch")
    E, L = 8, 4
    torch.manual_seed(1)
    tm = torch.nn.TransformerEncoderLayer(E, 4, 12, activation=torch.nn.GELU(approximate="tanh"))
    m = md.nn.TransformerEncoderLayer(E, 4, 12, activation=md.nn.GELU(approximate="tanh"))
    load_from_torch(m, tm)
    assert m.activation_relu_or_gelu == tm.activation_relu_or_gelu == 2
    got, want = run_both(torch, m, tm, [randn(L, E)], lambda mod, x: mod(x), lambda mod, x: mod(x))
    assert_all_close(got, want)
    m2 = md.nn.TransformerEncoderLayer(E, 4, 12, activation=lambda x: md.F.silu(x))
    tm2 = torch.nn.TransformerEncoderLayer(E, 4, 12, activation=torch.nn.functional.silu)
    load_from_torch(m2, tm2)
    assert m2.activation_relu_or_gelu == 0
    got, want = run_both(torch, m2, tm2, [randn(L, 2, E)], lambda mod, x: mod(x), lambda mod, x: mod(x))
    assert_all_close(got, want)


@pytest.mark.parametrize("cfg", LAYER_CONFIGS, ids=str)
@pytest.mark.parametrize("masks", ["none", "bool", "float"])
def test_decoder_layer_matches_torch(cfg, masks):
    torch = pytest.importorskip("torch")
    E, H, N, L, S = 8, 2, 2, 4, 6
    m, tm = layer_pair(torch, md.nn.TransformerDecoderLayer, torch.nn.TransformerDecoderLayer, E, H, 12, **cfg)
    masks_np = [None] * 4
    if masks == "bool":
        tgt_kpm = np.zeros((N, L), bool)
        tgt_kpm[0, -1] = True
        mem_kpm = np.zeros((N, S), bool)
        mem_kpm[1, :2] = True
        masks_np = [np.triu(np.ones((L, L), bool), 1), np.random.default_rng(2).random((L, S)) > 0.8, tgt_kpm, mem_kpm]
    elif masks == "float":
        masks_np = [randn(L, L), randn(L, S), randn(N, L), randn(N, S)]
    got, want = run_both(
        torch,
        m,
        tm,
        [seq(cfg["batch_first"], N, L, E), seq(cfg["batch_first"], N, S, E)],
        lambda mod, t, mem: mod(t, mem, *[md_mask(a) for a in masks_np]),
        lambda mod, t, mem: mod(t, mem, *[torch_mask(torch, a) for a in masks_np]),
    )
    assert_all_close(got, want)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_and_decoder_stacks_match_torch(batch_first, norm_first):
    torch = pytest.importorskip("torch")
    E, H, N, L, S = 8, 4, 2, 5, 3
    torch.manual_seed(2)
    kwargs = dict(dim_feedforward=16, batch_first=batch_first, norm_first=norm_first, activation="gelu")
    tenc = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(E, H, **kwargs), 3, torch.nn.LayerNorm(E), enable_nested_tensor=False
    )
    enc = md.nn.TransformerEncoder(md.nn.TransformerEncoderLayer(E, H, **kwargs), 3, md.nn.LayerNorm(E))
    load_from_torch(enc, tenc)
    mask = np.triu(np.ones((L, L), bool), 1)
    kpm = np.zeros((N, L), bool)
    kpm[1, -2:] = True
    got, want = run_both(
        torch,
        enc,
        tenc,
        [seq(batch_first, N, L, E)],
        lambda mod, x: mod(x, mask, kpm),
        lambda mod, x: mod(x, torch.tensor(mask), torch.tensor(kpm)),
    )
    assert_all_close(got, want)

    tdec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(E, H, **kwargs), 2)
    dec = md.nn.TransformerDecoder(md.nn.TransformerDecoderLayer(E, H, **kwargs), 2)
    load_from_torch(dec, tdec)
    tgt_mask = np.triu(np.ones((S, S), bool), 1)
    got, want = run_both(
        torch,
        dec,
        tdec,
        [seq(batch_first, N, S, E), seq(batch_first, N, L, E)],
        lambda mod, t, mem: mod(t, mem, tgt_mask=tgt_mask, memory_key_padding_mask=kpm, tgt_is_causal=True),
        lambda mod, t, mem: mod(
            t, mem, tgt_mask=torch.tensor(tgt_mask), memory_key_padding_mask=torch.tensor(kpm), tgt_is_causal=True
        ),
    )
    assert_all_close(got, want)


def test_transformer_matches_torch():
    torch = pytest.importorskip("torch")
    E, H, N, L, S = 8, 2, 2, 5, 4
    torch.manual_seed(3)
    tm = torch.nn.Transformer(E, H, 2, 2, 16, batch_first=True)
    m = md.nn.Transformer(E, H, 2, 2, 16, batch_first=True)
    load_from_torch(m, tm)
    tgt_mask = md.nn.Transformer.generate_square_subsequent_mask(S)
    np.testing.assert_array_equal(tgt_mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(S).numpy())
    got, want = run_both(
        torch,
        m,
        tm,
        [randn(N, L, E), randn(N, S, E)],
        lambda mod, src, tgt: mod(src, tgt, tgt_mask=tgt_mask),
        lambda mod, src, tgt: mod(src, tgt, tgt_mask=torch.tensor(tgt_mask.numpy())),
    )
    assert_all_close(got, want)


# ---- initialisation and copies


def test_multihead_attention_initialisation_is_torchs():
    md.manual_seed(0)
    m = md.nn.MultiheadAttention(64, 4, add_bias_kv=True)
    w = m.in_proj_weight.numpy()
    bound = math.sqrt(6.0 / (64 + 3 * 64))  # xavier uniform of (3E, E)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.05)
    np.testing.assert_array_equal(m.in_proj_bias.numpy(), 0.0)
    np.testing.assert_array_equal(m.out_proj.bias.numpy(), 0.0)
    assert np.abs(m.out_proj.weight.numpy()).max() <= 1.0 / math.sqrt(64)  # Linear's own init
    assert tuple(m.bias_k.shape) == (1, 1, 64) and m.bias_k.numpy().std() > 0
    sep = md.nn.MultiheadAttention(8, 2, kdim=4, vdim=6)
    assert [n for n, _ in sep.named_parameters()] == [
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]
    assert np.abs(sep.k_proj_weight.numpy()).max() <= math.sqrt(6.0 / (8 + 4))


def test_encoder_clones_are_deep_copies():
    layer = md.nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", norm_first=True)
    enc = md.nn.TransformerEncoder(layer, 3)
    assert [name for name, _ in enc.named_children()] == ["layers"]
    assert len(enc.layers) == 3 and enc.num_layers == 3
    for clone in enc.layers:
        assert type(clone) is md.nn.TransformerEncoderLayer and clone is not layer
        assert clone.norm_first and clone.activation is md.F.gelu
        np.testing.assert_array_equal(clone.self_attn.in_proj_weight.numpy(), layer.self_attn.in_proj_weight.numpy())
    with md.no_grad():
        enc.layers[0].linear1.weight.fill_(0.5)
    assert not np.allclose(enc.layers[1].linear1.weight.numpy(), 0.5)
    assert not np.allclose(layer.linear1.weight.numpy(), 0.5)
    assert len({id(p) for p in enc.parameters()}) == 3 * len(list(layer.parameters()))
    dec = md.nn.TransformerDecoder(md.nn.TransformerDecoderLayer(8, 2, 16), 2, md.nn.LayerNorm(8))
    assert list(dec.state_dict())[-2:] == ["norm.weight", "norm.bias"]
    assert copy.deepcopy(dec).layers[1].multihead_attn.embed_dim == 8


# ---- dropout in training mode


def test_multihead_attention_dropout():
    x = md.tensor(randn(2, 6, 8))
    m = md.nn.MultiheadAttention(8, 2, dropout=0.0, batch_first=True)
    m.train()
    out_train, w_train = m(x, x, x)
    m.eval()
    out_eval, w_eval = m(x, x, x)
    np.testing.assert_array_equal(out_train.numpy(), out_eval.numpy())
    np.testing.assert_array_equal(w_train.numpy(), w_eval.numpy())

    m = md.nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    m.eval()
    ref_out, ref_w = m(x, x, x, average_attn_weights=False)
    m.train()
    md.manual_seed(11)
    out1, w1 = m(x, x, x, average_attn_weights=False)
    md.manual_seed(11)
    out2, w2 = m(x, x, x, average_attn_weights=False)
    np.testing.assert_array_equal(out1.numpy(), out2.numpy())  # same seed, same draw
    assert not np.allclose(out1.numpy(), ref_out.numpy())
    w1 = w1.numpy()
    dropped = w1 == 0
    assert 0.2 < dropped.mean() < 0.8
    np.testing.assert_allclose(w1[~dropped], 2.0 * ref_w.numpy()[~dropped], rtol=1e-5)  # kept ones scaled by 1/(1-p)
    out3, _ = m(x, x, x, need_weights=False)  # the scaled_dot_product_attention path drops too
    assert not np.allclose(out3.numpy(), ref_out.numpy())
    m.eval()
    np.testing.assert_array_equal(m(x, x, x, need_weights=False)[0].numpy(), m(x, x, x, need_weights=False)[0].numpy())


def test_encoder_layer_dropout_only_in_training():
    x = md.tensor(randn(5, 2, 8))
    layer = md.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3)
    layer.eval()
    ref = layer(x).numpy()
    np.testing.assert_array_equal(layer(x).numpy(), ref)
    layer.train()
    assert not np.allclose(layer(x).numpy(), ref)
    no_drop = md.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    no_drop.train()
    a = no_drop(x).numpy()
    no_drop.eval()
    np.testing.assert_allclose(no_drop(x).numpy(), a, rtol=1e-6, atol=1e-6)


# ---- without torch: NumPy attention and finite differences


def identity_mha(E, H, **kwargs):
    m = md.nn.MultiheadAttention(E, H, **kwargs)
    with md.no_grad():
        m.in_proj_weight.copy_(md.tensor(np.concatenate([np.eye(E, dtype=np.float32)] * 3)))
        m.in_proj_bias.zero_()
        m.out_proj.weight.copy_(md.tensor(np.eye(E, dtype=np.float32)))
        m.out_proj.bias.zero_()
    return m


def numpy_mha(q, k, v, H, mask=None):
    """Attention per head of (L, N, E) q, (S, N, E) k and v with identity projections, in float64;
    ``mask`` (N, L, S) is added to the scores. Returns the output and the per-head weights."""
    L, N, E = q.shape
    hd = E // H
    qh = q.astype(np.float64).reshape(L, N, H, hd).transpose(1, 2, 0, 3)  # (N, H, L, hd)
    kh = k.astype(np.float64).reshape(-1, N, H, hd).transpose(1, 2, 0, 3)
    vh = v.astype(np.float64).reshape(-1, N, H, hd).transpose(1, 2, 0, 3)
    scores = qh @ kh.transpose(0, 1, 3, 2) / math.sqrt(hd)
    if mask is not None:
        scores = scores + mask[:, None]
    w = softmax_ref(scores, -1)
    out = (w @ vh).transpose(2, 0, 1, 3).reshape(L, N, E)
    return out, w


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_against_numpy(need_weights):
    E, H, N, L, S = 8, 2, 2, 3, 5
    m = identity_mha(E, H)
    q, kv = randn(L, N, E), randn(S, N, E)
    kpm = np.zeros((N, S), bool)
    kpm[0, 1] = kpm[1, -1] = True
    out, w = m(md.tensor(q), md.tensor(kv), md.tensor(kv), key_padding_mask=kpm, need_weights=need_weights)
    ref_out, ref_w = numpy_mha(q, kv, kv, H, np.where(kpm, -np.inf, 0.0)[:, None, :])
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-5, atol=1e-6)
    if need_weights:
        np.testing.assert_allclose(w.numpy(), ref_w.mean(1), rtol=1e-5, atol=1e-6)
        assert (w.numpy()[0, :, 1] == 0).all() and (w.numpy()[1, :, -1] == 0).all()
    else:
        assert w is None
    # unbatched, batch_first ignored: (L, E) in, (L, E) out, (H, L, S) weights
    m.batch_first = True
    out, w = m(md.tensor(q[:, 0]), md.tensor(kv[:, 0]), md.tensor(kv[:, 0]), average_attn_weights=False)
    ref_out, ref_w = numpy_mha(q[:, :1], kv[:, :1], kv[:, :1], H)
    np.testing.assert_allclose(out.numpy(), ref_out[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(w.numpy(), ref_w[0], rtol=1e-5, atol=1e-6)


def test_multi_head_attention_forward_gradients_by_finite_differences():
    E, H, N, L, S = 4, 2, 2, 3, 4
    r = np.random.default_rng(5)
    w_in = (r.standard_normal((3 * E, E)) * 0.5).astype(np.float32)
    b_in = (r.standard_normal(3 * E) * 0.1).astype(np.float32)
    w_out = (r.standard_normal((E, E)) * 0.5).astype(np.float32)
    mask = r.standard_normal((L, S)).astype(np.float32)

    def fn(q, kv, w, b, wo):
        out, _ = md.F.multi_head_attention_forward(
            q, kv, kv, E, H, w, b, None, None, False, 0.0, wo, None, training=False, attn_mask=mask
        )
        return out

    check_grads(fn, [randn(L, N, E), randn(S, N, E), w_in, b_in, w_out], eps=1e-2, rtol=2e-3, atol=2e-3)


def test_encoder_layer_gradients_by_finite_differences():
    md.manual_seed(4)
    layer = md.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, norm_first=True, batch_first=True)
    layer.eval()
    kpm = np.array([[False, False, True], [False, False, False]])
    check_grads(lambda x: layer(x, src_key_padding_mask=kpm), [randn(2, 3, 4)], eps=1e-3, rtol=3e-3, atol=3e-3)


# ---- errors


def test_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match="embed_dim 10 must be divisible by num_heads 3"):
        md.nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="greater than 0"):
        md.nn.MultiheadAttention(0, 1)
    m = md.nn.MultiheadAttention(8, 2)
    x = md.randn(4, 2, 8)
    with pytest.raises(ValueError, match=r"MultiheadAttention: expected query with 8 features.*\(4, 2, 6\)"):
        m(md.randn(4, 2, 6), x, x)
    with pytest.raises(ValueError, match=r"key \(4, 2, 8\) and value \(2, 8\)"):
        m(x, x, md.randn(2, 8))
    with pytest.raises(ValueError, match=r"key shape \(4, 2, 8\) does not match value shape \(5, 2, 8\)"):
        m(x, x, md.randn(5, 2, 8))
    with pytest.raises(ValueError, match=r"query should be .* got shape \(8,\)"):
        m(md.randn(8), md.randn(8), md.randn(8))
    with pytest.raises(ValueError, match=r"2-D attn_mask must have shape \(4, 4\), got \(4, 5\)"):
        m(x, x, x, attn_mask=np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match=r"3-D attn_mask must have shape \(4, 4, 4\), got \(2, 4, 4\)"):
        m(x, x, x, attn_mask=md.zeros(2, 4, 4))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(2, 4\).*\(2, 3\)"):
        m(x, x, x, key_padding_mask=np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match=r"key_padding_mask must be 2-D, got shape \(4,\)"):
        m(x, x, x, key_padding_mask=np.zeros(4, bool))
    with pytest.raises(TypeError, match="only bool .* attn_mask"):
        m(x, x, x, attn_mask=np.zeros((4, 4), np.int32))
    with pytest.raises(ValueError, match="is_causal is a hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(TypeError, match="MultiheadAttention: query must be an md tensor"):
        m(np.zeros((4, 2, 8), np.float32), x, x)
    sep = md.nn.MultiheadAttention(8, 2, kdim=3, vdim=5)
    with pytest.raises(ValueError, match=r"expected key with 3 features.*\(4, 2, 8\)"):
        sep(x, x, md.randn(4, 2, 5))
    with pytest.raises(ValueError, match=r"expected an embedding dimension of 8.*\(4, 2, 6\)"):
        md.F.multi_head_attention_forward(
            md.randn(4, 2, 6), x, x, 8, 2, m.in_proj_weight, None, None, None, False, 0.0, m.out_proj.weight, None
        )
    with pytest.raises(ValueError, match="activation should be relu/gelu, not swish"):
        md.nn.TransformerEncoderLayer(8, 2, activation="swish")
    layer = md.nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: expected src .* got \(4, 2, 6\)"):
        layer(md.randn(4, 2, 6))
    t = md.nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(ValueError, match=r"batch sizes of src \(4, 2, 8\) and tgt \(3, 3, 8\)"):
        t(x, md.randn(3, 3, 8))


# ---- a short training run


def test_encoder_training_reduces_loss():
    md.manual_seed(0)
    enc = md.nn.TransformerEncoder(
        md.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=True), 2, md.nn.RMSNorm(8)
    )
    head = md.nn.Linear(8, 1)
    params = list(enc.parameters()) + list(head.parameters())
    opt = md.optim.Adam(params, lr=1e-2)
    x = md.tensor(randn(4, 6, 8))
    target = md.tensor(randn(4, 6, 1))  # a fixed target per token: the model must use attention and the MLP
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = md.F.mse_loss(head(enc(x)), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(p.grad is not None for p in params)


def test_rms_norm_of_bfloat16_input_with_a_float32_weight_is_bfloat16():
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    norm = md.nn.RMSNorm(4)
    with md.no_grad():
        norm.weight.copy_(md.tensor([0.5, 1.0, 2.0, -1.0]))
    y = norm(md.tensor(x).to("bfloat16"))
    assert y.dtype == "bfloat16"
    want = x / np.sqrt((x * x).mean(-1, keepdims=True) + np.finfo(np.float32).eps) * [0.5, 1.0, 2.0, -1.0]
    np.testing.assert_allclose(y.float().numpy(), want, rtol=1e-2, atol=1e-2)  # one bf16 rounding


def test_transformer_layer_and_dropout_reprs_match_torch():
    torch = pytest.importorskip("torch")
    assert repr(md.nn.Dropout(0.1, inplace=True)) == repr(torch.nn.Dropout(0.1, inplace=True))
    for ours, theirs in [
        (md.nn.TransformerEncoderLayer(8, 2, 16), torch.nn.TransformerEncoderLayer(8, 2, 16)),
        (
            md.nn.TransformerDecoderLayer(8, 2, 16, norm_first=True),
            torch.nn.TransformerDecoderLayer(8, 2, 16, norm_first=True),
        ),
    ]:
        assert repr(ours) == repr(theirs)
