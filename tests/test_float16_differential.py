"""float16 against torch's float16, through the Python layers: single-kernel ops that minidiff
composes in Python (lerp, addcmul, addcdiv, selu, celu, hardsigmoid, hardswish, glu, huber_loss,
renorm) compute 16-bit input in float32 and round once, as torch's kernels; what torch refuses
(mixed dtypes in lerp, a mask of the other 16-bit dtype in attention, clamp bounds past the
dtype's largest value) is refused; normal's result takes mean's dtype; the loaders keep NumPy
float16. The float32 result rounded once is the oracle without torch; with torch installed,
dtypes, values and errors are compared with torch's too."""

import re

import numpy as np
import pytest

import minidiff as md

F = md.nn.functional
LOWS = ["float16", "bfloat16"]
_R = np.random.default_rng(1616)


def _data(shape, scale=3.0, shift=0.0):
    """Values that float16 and bfloat16 both hold exactly (8 significant bits)."""
    a = (_R.standard_normal(shape) * scale + shift).astype(np.float32)
    return md.tensor(a).to("bfloat16").float().numpy()


DATA = {
    "a": _data(2000),
    "b": _data(2000),
    "c": np.abs(_data(2000, scale=1.0)) + 0.25,
    "w": _data(2000, scale=0.5, shift=0.5),
    "m": _data((40, 50), scale=1.0),
}

# ops torch runs as one 16-bit kernel (float32 inside, one rounding): minidiff composes them
ROUNDED_ONCE = [
    ("lerp_scalar", lambda L, a, b, c, w, m: L.lerp(a, b, 0.3)),
    ("lerp_far_end", lambda L, a, b, c, w, m: L.lerp(a, b, 0.7)),
    ("lerp_tensor_weight", lambda L, a, b, c, w, m: L.lerp(a, b, w)),
    ("addcmul", lambda L, a, b, c, w, m: L.addcmul(a, b, c, value=0.37)),
    ("addcdiv", lambda L, a, b, c, w, m: L.addcdiv(a, b, c, value=0.37)),
    ("selu", lambda L, a, b, c, w, m: L.nn.functional.selu(a)),
    ("celu", lambda L, a, b, c, w, m: L.nn.functional.celu(a, 0.3)),
    ("hardsigmoid", lambda L, a, b, c, w, m: L.nn.functional.hardsigmoid(a)),
    ("hardswish", lambda L, a, b, c, w, m: L.nn.functional.hardswish(a)),
    ("glu", lambda L, a, b, c, w, m: L.nn.functional.glu(m, -1)),
    ("huber_none", lambda L, a, b, c, w, m: L.nn.functional.huber_loss(a, b, reduction="none", delta=0.3)),
]


def _md_inputs(dtype, grad=False):
    out = {k: md.tensor(v).to(dtype) for k, v in DATA.items()}
    return {k: t.requires_grad_() for k, t in out.items()} if grad else out


@pytest.mark.parametrize("low", LOWS)
@pytest.mark.parametrize("name,fn", ROUNDED_ONCE, ids=[c[0] for c in ROUNDED_ONCE])
def test_single_kernel_ops_round_the_float32_result_once(name, fn, low):
    ins = _md_inputs(low, grad=True)
    out = fn(md, **ins)
    assert out.dtype == low
    ref_ins = {k: t.detach().float().requires_grad_() for k, t in ins.items()}
    ref = fn(md, **ref_ins)
    np.testing.assert_array_equal(out.float().numpy(), ref.detach().to(low).float().numpy())
    # the gradients: of the input's dtype, the float32 ones rounded once (the upstream is exact)
    out.backward(md.ones(out.shape, dtype=low))
    ref.backward(md.ones(ref.shape))
    for k, t in ins.items():
        if t.grad is not None:
            assert t.grad.dtype == low
            np.testing.assert_array_equal(t.grad.float().numpy(), ref_ins[k].grad.to(low).float().numpy())


@pytest.mark.parametrize("name,fn", ROUNDED_ONCE, ids=[c[0] for c in ROUNDED_ONCE])
def test_single_kernel_ops_match_torch_float16(name, fn):
    torch = pytest.importorskip("torch")
    got = fn(md, **_md_inputs("float16")).float().numpy()
    want = fn(torch, **{k: torch.tensor(v).half() for k, v in DATA.items()})
    assert want.dtype == torch.float16
    want = want.float().numpy()
    # torch's kernels round once too (a few elements differ in the last bit where they fuse a multiply-add)
    assert (got != want).mean() < 0.01
    np.testing.assert_allclose(got, want, rtol=2**-10, atol=1e-6)


def test_renorm_scales_in_float32():
    x = md.tensor(DATA["m"]).half()
    got = md.renorm(x, 2, 0, 1.0)
    want = md.renorm(x.float(), 2, 0, 1.0).half()
    assert got.dtype == "float16"
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


# ---- what torch refuses


def test_lerp_refuses_mixed_dtypes_with_a_16_bit_float_as_torch():
    a, b = md.tensor(DATA["a"][:8]).half(), md.tensor(DATA["b"][:8]).half()
    with pytest.raises(TypeError, match="lerp: expected end"):
        md.lerp(a, b.float(), 0.3)
    with pytest.raises(TypeError, match="lerp: expected end"):
        md.lerp(a.float(), b, 0.3)
    with pytest.raises(TypeError, match="lerp: expected end"):
        md.lerp(a, b.bfloat16(), 0.3)
    with pytest.raises(TypeError, match="lerp: expected weight"):
        a.lerp(b, md.ones(8) * 0.5)
    # a 0-d weight of another float dtype is taken, as torch's
    assert md.lerp(a, b, md.tensor(0.3)).dtype == "float16"
    assert md.lerp(a.float(), b.float(), md.tensor(0.3).half()).dtype == "float32"
    ema = a.clone()
    ema.lerp_(b, 0.1)
    np.testing.assert_array_equal(ema.float().numpy(), md.lerp(a.float(), b.float(), 0.1).half().float().numpy())


def test_attention_refuses_a_mask_of_the_other_16_bit_dtype():
    q = md.tensor(_data((1, 2, 3, 4), scale=1.0)).half()
    with pytest.raises(TypeError, match="attn_mask must be float32 or the query's dtype float16, got bfloat16"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=md.zeros(3, 3).bfloat16())
    with pytest.raises(TypeError, match="attn_mask must be float32 or the query's dtype float32, got float16"):
        F.scaled_dot_product_attention(q.float(), q.float(), q.float(), attn_mask=md.zeros(3, 3).half())
    for mask in (md.zeros(3, 3), md.zeros(3, 3).half()):  # float32 or the query's dtype: taken
        assert F.scaled_dot_product_attention(q, q, q, attn_mask=mask).dtype == "float16"


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.clamp(max=1e5),
        lambda x: md.clamp(x, min=-65520.0),
        lambda x: md.clip(x, -1e5, 1.0),
        lambda x: x.clip(max=70000),
        lambda x: md.clamp_min(x, -1e5),
        lambda x: x.clamp_max(1e5),
        lambda x: x.clone().clamp_(max=65505.0),
    ],
    ids=["method", "function", "clip", "clip_int", "clamp_min", "clamp_max", "in_place"],
)
def test_clamp_refuses_a_bound_past_float16_as_torch(call):
    x = md.tensor([1.0, -2.0, 3.0]).half()
    with pytest.raises(ValueError, match="cannot be converted to float16 without overflow"):
        call(x)


def test_clamp_takes_the_largest_float16_and_infinities():
    x = md.tensor([1e5, -1e5, 3.0]).half()  # inf, -inf, 3
    assert x.clamp(-65504.0, 65504.0).tolist() == [65504.0, -65504.0, 3.0]
    assert x.clamp(float("-inf"), float("inf")).tolist() == [float("inf"), float("-inf"), 3.0]
    assert md.tensor([1.0]).clamp(max=1e38).tolist() == [1.0]
    with pytest.raises(ValueError, match="float32 without overflow"):
        md.tensor([1.0]).clamp(max=1e39)


def test_normal_takes_the_dtype_of_mean_as_torch():
    h4, f4, b4 = md.zeros(4).half(), md.ones(4), md.ones(4).bfloat16()
    assert md.normal(h4, f4).dtype == "float16"  # a float32 std does not win
    assert md.normal(h4, b4).dtype == "float16"
    assert md.normal(md.zeros(()).half(), f4).dtype == "float16"
    assert md.normal(md.zeros(()), md.ones(4).half()).dtype == "float32"
    assert md.normal(f4, md.ones(4).half()).dtype == "float32"
    assert md.normal(0.0, md.ones(4).half()).dtype == "float16"  # a number mean: std's


def test_normal_dtypes_match_torch():
    torch = pytest.importorskip("torch")
    dts = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    for mean_dtype in dts:
        for std_dtype in dts:
            for mean_shape, std_shape in (((4,), (4,)), ((), (4,)), ((4,), ())):
                got = md.normal(md.zeros(mean_shape).to(mean_dtype), md.ones(std_shape).to(std_dtype))
                mean, std = torch.zeros(mean_shape, dtype=dts[mean_dtype]), torch.ones(std_shape, dtype=dts[std_dtype])
                assert dts[got.dtype] == torch.normal(mean, std).dtype, (mean_dtype, mean_shape, std_dtype, std_shape)


# ---- loaders


def test_collate_keeps_numpy_float16_as_torch():
    from minidiff.utils.data import DataLoader, default_collate

    items = [np.full((2,), 1.5 * i, np.float16) for i in range(4)]
    batch = default_collate(items)
    assert batch.dtype == "float16" and batch.tolist() == [[0.0, 0.0], [1.5, 1.5], [3.0, 3.0], [4.5, 4.5]]
    assert default_collate([np.float16(1.5), np.float16(2.5)]).dtype == "float16"
    assert default_collate([np.float32(1.5), np.float32(2.5)]).dtype == "float32"
    pairs = [(a, i) for i, a in enumerate(items)]
    for loader in (DataLoader(pairs, batch_size=2), md.data.DataLoader(pairs, batch_size=2)):
        x, y = next(iter(loader))
        assert x.dtype == "float16" and y.dtype == "int64"
    assert next(iter(DataLoader(np.stack(items), batch_size=2))).dtype == "float16"
    assert next(iter(DataLoader([{"x": a} for a in items], batch_size=2)))["x"].dtype == "float16"


def test_collate_dtypes_match_torch():
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    from minidiff.utils.data import default_collate

    for items in ([np.ones(3, np.float16)] * 2, [np.float16(1.0)] * 2, [np.ones(3, np.float32)] * 2):
        assert str(torch_collate(items).dtype) == "torch." + default_collate(items).dtype


# ---- the C++ core


def test_repr_shows_the_float16_values():
    x = md.tensor([65504.0, 1.1, -2.5e-7], dtype=md.half)
    printed = [float(s) for s in re.findall(r"-?\d+\.?\d*(?:e[+-]?\d+)?", repr(x).split("dtype")[0])]
    assert np.array_equal(np.float32(printed), x.float().numpy())
