"""uint8, int8, int16 and int32: stored narrow, computed in int64 and wrapped once, as torch's
integer kernels compute. NumPy is the oracle for the casts, wrapping and promotion; torch (where
installed) for the op-by-op sweep."""

import numpy as np
import pytest

import minidiff as md

NARROW = ["uint8", "int8", "int16", "int32"]
RNG = np.random.default_rng(7)


def ints(dtype, shape=(3, 4)):
    info = np.iinfo(dtype)
    return RNG.integers(max(info.min, -200), min(info.max, 200) + 1, shape).astype(dtype)


@pytest.mark.parametrize("dtype", NARROW)
def test_numpy_round_trip_keeps_dtype_and_bytes(dtype):
    a = ints(dtype)
    t = md.tensor(a)
    assert t.dtype == dtype and t.element_size() == np.dtype(dtype).itemsize
    assert t.numpy().dtype == np.dtype(dtype)
    np.testing.assert_array_equal(t.numpy(), a)
    np.testing.assert_array_equal(t.T.contiguous().numpy(), a.T)  # a strided copy of narrow elements
    np.testing.assert_array_equal(t[:, ::2].numpy(), a[:, ::2])
    assert md.iinfo(dtype).min == np.iinfo(dtype).min and md.iinfo(dtype).max == np.iinfo(dtype).max


def test_unsigned_numpy_arrays_past_uint8_widen_exactly():
    for dtype, want in (("uint16", "int32"), ("uint32", "int64")):
        a = np.array([0, 1, 3, 40000, np.iinfo(dtype).max], dtype)
        t = md.tensor(a)
        assert t.dtype == want
        np.testing.assert_array_equal(t.numpy(), a.astype(np.int64))


@pytest.mark.parametrize("dtype", NARROW)
def test_casts_wrap_as_numpy(dtype):
    big = np.array([-(2**40) - 3, -129, -1, 0, 127, 128, 255, 256, 300, 2**31 + 5], np.int64)
    np.testing.assert_array_equal(md.tensor(big).to(dtype).numpy(), big.astype(dtype))
    a = ints(dtype)
    for other in ("int64", "float32", "float16", "bool"):
        np.testing.assert_array_equal(md.tensor(a).to(other).numpy(), a.astype(other))
    floats = np.array([-2.7, -0.5, 0.0, 1.9, 100.5], np.float32)  # truncated toward zero
    np.testing.assert_array_equal(md.tensor(floats).to(dtype).numpy(), np.trunc(floats).astype(np.int64).astype(dtype))
    np.testing.assert_array_equal(md.tensor([True, False]).to(dtype).numpy(), np.array([1, 0], dtype))


@pytest.mark.parametrize("dtype", NARROW)
def test_arithmetic_wraps_once_in_the_dtype(dtype):
    a, b = ints(dtype), ints(dtype)
    x, y = md.tensor(a), md.tensor(b)
    wide = a.astype(np.int64), b.astype(np.int64)
    for got, want in [
        (x + y, wide[0] + wide[1]),
        (x - y, wide[0] - wide[1]),
        (x * y, wide[0] * wide[1]),
        (x * 3 + 300, wide[0] * 3 + 300),
        (-x, -wide[0]),
        (x.abs(), np.abs(wide[0])),
        (x**2, wide[0] ** 2),
        (x.maximum(y), np.maximum(*wide)),
        (x & y, wide[0] & wide[1]),
        (x | 5, wide[0] | 5),
        (~x, ~wide[0]),
        (x // 7, wide[0] // 7),
        (x % 7, wide[0] % 7),
    ]:
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.numpy(), want.astype(dtype))
    assert (x / 2).dtype == "float32" and (x + 0.5).dtype == "float32"
    np.testing.assert_allclose((x / 2).numpy(), wide[0] / 2)
    assert (x < y).dtype == "bool"
    np.testing.assert_array_equal((x < y).numpy(), a < b)
    x += y  # in place: wrapped into x's dtype
    np.testing.assert_array_equal(x.numpy(), (wide[0] + wide[1]).astype(dtype))
    with pytest.raises(TypeError, match=rf"written into an integer tensor \({dtype}\)"):
        x += 1.5


@pytest.mark.parametrize("dtype", NARROW)
def test_reductions_sum_in_int64_and_keep_extremes(dtype):
    a = ints(dtype)
    x = md.tensor(a)
    assert x.sum().dtype == "int64" and x.sum().item() == a.astype(np.int64).sum()
    np.testing.assert_array_equal(x.cumsum(1).numpy(), a.astype(np.int64).cumsum(1))
    assert x.sum(dtype=dtype).dtype == dtype
    assert x.max().dtype == dtype and x.max().item() == a.max()
    assert x.min().item() == a.min()  # (-x would wrap: the minimum reverses the order without it)
    values, indices = x.max(1)
    np.testing.assert_array_equal(values.numpy(), a.max(1))
    assert indices.dtype == "int64"
    np.testing.assert_array_equal(x.argmin(0).numpy(), a.argmin(0))
    np.testing.assert_array_equal(x.sort(1).values.numpy(), np.sort(a, 1))
    assert x.sort(1).values.dtype == dtype


def test_promotion_follows_torchs_lattice():
    pairs = {
        ("uint8", "int8"): "int16",
        ("uint8", "int16"): "int16",
        ("int8", "int32"): "int32",
        ("int32", "int64"): "int64",
        ("uint8", "bool"): "uint8",
        ("int32", "float16"): "float16",
        ("int16", "float32"): "float32",
    }
    for (a, b), want in pairs.items():
        assert md.promote_types(a, b) == want == md.promote_types(b, a)
        x, y = md.ones(2, dtype=a), md.ones(2, dtype=b)
        assert (x + y).dtype == want
        assert md.cat([x, y]).dtype == want
        assert md.where(md.tensor([True, False]), x, y).dtype == want
    v = md.ones(2, dtype="int32")
    assert (v + md.tensor(5)).dtype == "int32"  # a 0-d int64 tensor does not widen a vector
    assert (v + md.tensor([5])).dtype == "int64"
    assert (v + md.tensor(5.0)).dtype == "float32"  # a 0-d tensor of a higher kind decides
    assert md.can_cast("int32", "int8") and not md.can_cast("int32", "bool")


@pytest.mark.parametrize("dtype", NARROW)
def test_creation_and_fill_refuse_values_past_the_dtype(dtype):
    info = np.iinfo(dtype)
    assert md.full((2,), info.max, dtype=dtype).numpy().tolist() == [info.max] * 2
    with pytest.raises(ValueError, match=f"cannot be converted to {dtype}"):
        md.full((2,), info.max + 1, dtype=dtype)
    with pytest.raises(ValueError, match=f"cannot be converted to {dtype}"):
        md.tensor([info.max + 1], dtype=dtype)
    np.testing.assert_array_equal(md.arange(5, dtype=dtype).numpy(), np.arange(5, dtype=dtype))
    assert md.zeros(3, dtype=dtype).dtype == dtype
    r = md.randint(0, 100, (50,), dtype=dtype)
    assert r.dtype == dtype and 0 <= r.min().item() and r.max().item() < 100
    with pytest.raises(TypeError, match="only floating tensors"):
        md.zeros(2, dtype=dtype).requires_grad_()


def test_index_tensors_take_int32_positions_and_uint8_masks():
    a = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    t = md.tensor(a)
    np.testing.assert_array_equal(t[md.tensor([2, 0], dtype="int32")].numpy(), a[[2, 0]])
    np.testing.assert_array_equal(t[md.tensor([1, 0, 1], dtype="uint8")].numpy(), a[[True, False, True]])
    np.testing.assert_array_equal(t.index_select(1, md.tensor([3, 1], dtype="int32")).numpy(), a[:, [3, 1]])
    idx = md.tensor([[0], [2], [1]], dtype="int32")
    np.testing.assert_array_equal(t.gather(1, idx).numpy(), np.take_along_axis(a, np.array([[0], [2], [1]]), 1))
    emb = md.F.embedding(md.tensor([2, 0], dtype="int32"), t)
    np.testing.assert_array_equal(emb.numpy(), a[[2, 0]])
    with pytest.raises(IndexError, match="int64, int32, bool or uint8"):
        t[md.tensor([1, 0], dtype="int16")]
    with pytest.raises(IndexError, match="int64, int32, bool or uint8"):
        t[md.tensor([1.0, 0.0, 1.0])]  # a float 0/1 tensor is no mask, as in torch


def test_integer_tensors_with_numpy_integer_arrays_stay_integers():
    u = md.tensor([250, 3], dtype="uint8")
    assert (u + np.array([10, 1], np.uint8)).dtype == "uint8"
    np.testing.assert_array_equal((u + np.array([10, 1], np.uint8)).numpy(), np.array([4, 4], np.uint8))
    assert (u + np.array([10, 1])).dtype == "int64"  # NumPy's int64 array has dims: it decides
    assert (u * [1.5, 2.0]).dtype == "float32"
    assert (md.tensor([1.0]) + np.array([2])).dtype == "float32"


def test_alpha_scales_in_the_result_dtype_and_numpy_scalars_write_in_place():
    wide = md.tensor([0]).add(md.tensor([200], dtype="uint8"), alpha=2)
    assert wide.dtype == "int64" and wide.item() == 400  # not 144: uint8's 400 would wrap
    mixed = md.tensor([200], dtype="uint8").add(md.tensor([100], dtype="int8"), alpha=2)
    assert mixed.dtype == "int16" and mixed.item() == 400
    t = md.zeros(1, dtype="int64")
    t.add_(md.tensor([200], dtype="uint8"), alpha=2)
    assert t.item() == 400
    u = md.tensor([250], dtype="uint8")
    u += np.uint8(1)
    u -= np.uint16(2)
    assert u.dtype == "uint8" and u.item() == 249
    big = md.tensor(np.array([1, 2, 300], dtype=">i4"))  # a big-endian array is converted, not copied
    assert big.dtype == "int32" and big.numpy().tolist() == [1, 2, 300]
    assert md.tensor(np.array([1.5, -2.0], dtype=">f2")).numpy().tolist() == [1.5, -2.0]


def test_bitwise_ops_refuse_floats():
    with pytest.raises(TypeError, match="bitwise_and.*float32"):
        md.tensor([1.0, 0.0]) & md.tensor([1.0, 1.0])
    with pytest.raises(TypeError, match="bitwise_not.*float32"):
        ~md.tensor([1.0, 0.0])
    assert (md.tensor([True, False]) & md.tensor([True, True])).dtype == "bool"


def test_uint8_images_round_trip_through_float():
    img = RNG.integers(0, 256, (2, 1, 4, 4)).astype(np.uint8)
    x = md.tensor(img)
    f = x.float() / 255
    np.testing.assert_allclose(f.numpy(), img / 255, rtol=1e-6)
    back = (f * 255).round().to("uint8")
    np.testing.assert_array_equal(back.numpy(), img)
    up = md.F.interpolate(x, scale_factor=2, mode="nearest")
    assert up.dtype == "uint8"
    np.testing.assert_array_equal(up.numpy(), img.repeat(2, 2).repeat(2, 3))
    assert "dtype=uint8" in repr(x[0, 0, 0])


def extremes(dtype):
    info = np.iinfo(dtype)
    return np.array([[info.min, info.max, 0, 1], [5, info.min, 2, info.max], [0, 3, 0, 7]], dtype)


@pytest.mark.parametrize("dtype", NARROW)
def test_min_and_argmin_do_not_negate_in_the_dtype(dtype):
    a = extremes(dtype)  # (-x wraps: the least value of int8 is its own negation, and -x of uint8 is 256 - x)
    x = md.tensor(a)
    assert x.min().dtype == dtype and x.min().item() == a.min() and md.min(x).item() == a.min()
    values, indices = x.min(1)
    np.testing.assert_array_equal(values.numpy(), a.min(1))
    np.testing.assert_array_equal(indices.numpy(), a.argmin(1))
    assert x.argmin().item() == a.argmin()
    np.testing.assert_array_equal(x.argmin(0, keepdim=True).numpy(), a.argmin(0)[None])


@pytest.mark.parametrize("dtype", NARROW)
def test_number_values_past_the_dtype_are_refused(dtype):
    info = np.iinfo(dtype)
    x = md.tensor(extremes(dtype))
    for call in (
        lambda: x.clamp(max=info.max + 1),
        lambda: x.clamp_min(info.min - 256),
        lambda: md.where(x > 0, x, info.max + 1),
        lambda: x.masked_fill(x > 0, info.max + 1),
        lambda: x.masked_fill(x > 0, info.min - 0.5),
        lambda: x.index_fill(0, md.tensor([0]), info.max + 1),
        lambda: x.clone().apply_(lambda v: info.max + 1),
    ):
        with pytest.raises(ValueError, match=f"cannot be converted to {dtype}"):
            call()
    assert x.masked_fill(x > 0, 2.5).dtype == dtype  # a float value is truncated into the dtype, as torch's
    np.testing.assert_array_equal(x.index_fill(0, md.tensor([0]), 9).numpy()[0], [9, 9, 9, 9])


@pytest.mark.parametrize("dtype", NARROW)
def test_random_fills_in_the_dtype(dtype):
    info = np.iinfo(dtype)
    r = md.zeros(4000, dtype=dtype).random_()  # [0, max], as torch's
    assert r.dtype == dtype and r.min().item() >= 0 and r.max().item() > info.max // 2
    with pytest.raises(ValueError, match="out of bounds"):
        md.zeros(2, dtype=dtype).random_(0, int(info.max) + 2)
    for fill in ("exponential_", "cauchy_", "log_normal_"):
        with pytest.raises(TypeError, match="floating-point"):
            getattr(md.zeros(2, dtype=dtype), fill)()
    with pytest.raises(TypeError, match="floating dtype"):
        md.rand_like(md.zeros(2, dtype=dtype))
    assert md.zeros(50, dtype=dtype).geometric_(0.5).dtype == dtype


@pytest.mark.parametrize("dtype", NARROW)
def test_integer_tensors_as_python_ints(dtype):
    k = md.tensor(2, dtype=dtype)
    assert [10, 11, 12][k] == 12 and list(range(k)) == [0, 1]
    a = np.arange(20).reshape(4, 5)
    if dtype != "uint8":  # (a 0-d uint8 tensor is a mask, as torch's)
        assert md.tensor(a)[k].numpy().tolist() == a[2].tolist()  # a 0-d integer tensor is an int
        assert md.tensor(a)[:, k].numpy().tolist() == a[:, 2].tolist()
    got = []
    md.tensor(np.array([2**31 - 1, 3], "int64")).to(dtype).apply_(lambda v: got.append(v) or v)
    assert all(type(v) is int for v in got)


def test_numpy_uint8_index_arrays_are_masks():
    a = np.arange(12).reshape(3, 4)
    mask = np.array([1, 0, 1], np.uint8)
    np.testing.assert_array_equal(md.tensor(a)[mask].numpy(), a[mask != 0])
    np.testing.assert_array_equal(md.tensor(a)[:, np.array([0, 1, 1, 0], np.uint8)].numpy(), a[:, [1, 2]])


def test_resize_rounds_uint8_images():
    from minidiff import transforms as T

    img = np.array([[[0, 255, 0, 255], [255, 0, 255, 0], [10, 200, 30, 250], [0, 0, 255, 255]]], np.uint8)
    for mode in (T.InterpolationMode.BILINEAR, T.InterpolationMode.BICUBIC):
        resize = T.Resize((3, 5), interpolation=mode, antialias=True)
        got, as_float = resize(md.tensor(img)), resize(md.tensor(img.astype(np.float32)))
        assert got.dtype == "uint8"  # rounded, bicubic's overshoot clamped to 0..255, as torchvision's
        np.testing.assert_array_equal(got.numpy(), np.round(np.clip(as_float.numpy(), 0, 255)))


# ---- against torch, op by op

torch = pytest.importorskip("torch")

OPS = {
    "neg": lambda L, x, y: -x,
    "abs": lambda L, x, y: x.abs(),
    "sign": lambda L, x, y: x.sign(),
    "square": lambda L, x, y: x.square(),
    "sin": lambda L, x, y: x.sin(),
    "relu": lambda L, x, y: x.relu(),
    "round": lambda L, x, y: x.round(),
    "clamp": lambda L, x, y: x.clamp(-3, 50),
    "clamp_float": lambda L, x, y: x.clamp(-3.5, 50),
    "sum": lambda L, x, y: x.sum(1),
    "prod": lambda L, x, y: x[0].prod(),
    "cumprod": lambda L, x, y: x.cumprod(1),
    "amax": lambda L, x, y: x.amax(1),
    "amin": lambda L, x, y: x.amin(0),
    "any": lambda L, x, y: x.any(),
    "median": lambda L, x, y: x.median(),
    "topk": lambda L, x, y: x.topk(2, 1)[0],
    "unique": lambda L, x, y: x.unique(),
    "tril": lambda L, x, y: x.tril(),
    "roll": lambda L, x, y: x.roll(1, 1),
    "diff": lambda L, x, y: x.diff(dim=1),
    "add": lambda L, x, y: x + y,
    "mul_scalar": lambda L, x, y: x * 200,
    "rsub": lambda L, x, y: 5 - x,
    "true_divide": lambda L, x, y: x / (y.abs() + 1),
    "floor_divide": lambda L, x, y: x // (y.abs() + 1),
    "remainder": lambda L, x, y: x % (y.abs() + 1),
    "fmod": lambda L, x, y: x.fmod(7),
    "pow": lambda L, x, y: x**2,
    "rpow": lambda L, x, y: 2 ** (x.abs() % 5),
    "xor": lambda L, x, y: x ^ y,
    "not": lambda L, x, y: ~x,
    "eq": lambda L, x, y: x == y,
    "maximum": lambda L, x, y: x.maximum(y),
    "where_scalar": lambda L, x, y: L.where(x > y, x, 5),
    "where_float": lambda L, x, y: L.where(x > y, x, 2.5),
    "masked_fill": lambda L, x, y: x.masked_fill(x > 3, 9),
    "matmul": lambda L, x, y: x @ y.t(),
    "dot": lambda L, x, y: x[0].dot(y[0]),
    "heaviside": lambda L, x, y: x.heaviside(y),
    "copysign": lambda L, x, y: x.copysign(y),
    "scatter_add": lambda L, x, y: x.scatter_add(1, L.tensor([[0, 1], [1, 1], [2, 0]]), y[:, :2]),
    "add_int64": lambda L, x, y: x + y.long(),
    "add_0d_int64": lambda L, x, y: x + y[0, 0].long(),
    "add_float16": lambda L, x, y: x + y.half(),
    "cat_int64": lambda L, x, y: L.cat([x, y.long()]),
    "setitem": lambda L, x, y: x.clone().__setitem__(x > 0, 5) or x,
    "masked_fill_float": lambda L, x, y: x.masked_fill(x > 0, 2.5),
    "masked_fill_tensor": lambda L, x, y: x.masked_fill(x > 0, L.tensor(3.5)),
    "div_trunc": lambda L, x, y: x.div(y.abs() + 1, rounding_mode="trunc"),
    "div_trunc_scalar": lambda L, x, y: x.div(3, rounding_mode="trunc"),
    "vdot": lambda L, x, y: L.vdot(x[0] * 50, y[0]),
    "nan_to_num": lambda L, x, y: x.nan_to_num(),
    "index_fill": lambda L, x, y: x.index_fill(1, L.tensor([0, 2]), -1),
    "min": lambda L, x, y: x.min(),
    "min_dim": lambda L, x, y: x.min(1, keepdim=True).values,
    "argmin": lambda L, x, y: x.argmin(1),
    "repeat_interleave_int32": lambda L, x, y: L.tensor([1, 2]).repeat_interleave(L.tensor([2, 3], dtype=L.int32)),
}


def _torch_dtype(name):
    return getattr(torch, name)


@pytest.mark.parametrize("dtype", NARROW)
@pytest.mark.parametrize("op", sorted(OPS))
def test_matches_torch(dtype, op):
    a, b = ints(dtype), ints(dtype)
    fn = OPS[op]
    got = fn(md, md.tensor(a), md.tensor(b))
    want = fn(torch, torch.tensor(a), torch.tensor(b))
    assert got.dtype == str(want.dtype).removeprefix("torch.")
    g, w = got.float().numpy() if got.dtype == "float16" else got.numpy(), want.numpy()
    if w.dtype.kind == "f":
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=1e-3)
    else:
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", NARROW)
def test_extremes_match_torch(dtype):
    a = extremes(dtype)
    for fn in (
        lambda L, x: x.min(),
        lambda L, x: x.min(0),
        lambda L, x: x.argmin(1),
        lambda L, x: L.vdot(x[0], x[1]),
        lambda L, x: x.clamp(min=-1 if dtype == "uint8" else -128),
        lambda L, x: x.index_fill(0, L.tensor([1]), -1),
    ):
        got, want = fn(md, md.tensor(a)), fn(torch, torch.tensor(a))
        got, want = (got, want) if isinstance(want, torch.Tensor) else (got[0], want[0])
        assert got.dtype == str(want.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("dtype", NARROW)
def test_narrow_class_targets_are_refused_clearly(dtype):
    # torch takes uint8 class indices of a (N, C) input only ((N, C, d) refuses them): md takes int64 alone
    target = md.tensor([0, 1, 2], dtype=dtype)
    with pytest.raises(TypeError, match=f"int64 class indices or float class probabilities, got {dtype}"):
        md.nn.functional.cross_entropy(md.ones(3, 4), target)
    with pytest.raises(TypeError, match=f"int64 class indices or float class probabilities, got {dtype}"):
        md.nn.functional.cross_entropy(md.ones(3, 3), md.tensor(np.eye(3), dtype=dtype))  # no probabilities either
    with pytest.raises(TypeError, match=f"int64 class indices, got {dtype}"):
        md.nn.functional.nll_loss(md.ones(3, 4), target)
