"""Indexing writes and the scatter/index ops with mixed dtypes (float32, int64, bfloat16, bool
destinations; values of another dtype, Python numbers, NumPy arrays), inside and outside autograd:
result dtypes, values, gradients and refusals as torch's. Checked against torch where it is
installed, and against NumPy or by hand without it."""

import numpy as np
import pytest

import minidiff as md

pytestmark = pytest.mark.filterwarnings(r"ignore:index_reduce\(\) is in beta")

DTYPES = ("float32", "int64", "bfloat16", "bool")
A = np.array([[1.25, -2.0, 0.0, 3.5], [4.0, 0.5, -1.0, 2.0], [-3.0, 1.0, 2.5, 0.0]], np.float32)
MASK = np.array([[True, False, True, False]] * 3)
W = np.arange(12, dtype=np.float32).reshape(3, 4)  # weights of the loss, so gradients differ per element


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _tensor(lib, values, dtype, requires_grad=False):
    """values (NumPy) as a lib tensor of dtype (minidiff or torch)."""
    values = np.asarray(values)
    if dtype == "bool":
        t = lib.tensor(values.astype(bool))
    elif dtype == "int64":
        t = lib.tensor(values.astype(np.int64))
    else:
        t = lib.tensor(values.astype(np.float32))
        t = t.to(lib.bfloat16) if dtype == "bfloat16" else t
    return t.requires_grad_(True) if requires_grad else t


def _desc(t):
    """(dtype, shape, values) of a minidiff or torch tensor, for comparing the two."""
    if t is None:
        return None
    dtype = str(t.dtype).removeprefix("torch.")
    t = t.detach()
    values = (t.float() if dtype == "bfloat16" else t).numpy()
    return dtype, tuple(values.shape), values.tolist()


def _raises(fn) -> bool:
    try:
        fn()
    except Exception:
        return True
    return False


# ---- tensor values of another dtype: torch's index_put_ refuses them, except through one bool mask


KEYS = {
    "idx": lambda L: L.tensor(np.array([2, 0])),
    "list": lambda L: [0, 2],
    "idx2": lambda L: (L.tensor(np.array([0, 2])), L.tensor(np.array([3, 1]))),
    "slice_idx": lambda L: (slice(None), L.tensor(np.array([1, 3]))),
    "mask_idx": lambda L: (L.tensor(np.array([True, False, True])), L.tensor(np.array([0, 1]))),
}


@pytest.mark.parametrize("key", sorted(KEYS))
@pytest.mark.parametrize(
    "dst,src", [("float32", "int64"), ("int64", "float32"), ("bfloat16", "float32"), ("bool", "int64")]
)
def test_setitem_with_index_arrays_refuses_another_dtype(key, dst, src):
    x = _tensor(md, A, dst)
    value = _tensor(md, np.array(1.0), src)
    with pytest.raises(TypeError, match=r"__setitem__: a value of dtype"):
        x[KEYS[key](md)] = value
    assert _desc(x) == _desc(_tensor(md, A, dst))  # nothing written


@pytest.mark.parametrize("key", sorted(KEYS))
def test_setitem_with_index_arrays_refuses_another_dtype_as_torch(torch, key):
    x = _tensor(torch, A, "float32")
    with pytest.raises(RuntimeError, match="Index put requires the source and destination dtypes match"):
        x[KEYS[key](torch)] = torch.tensor(1)


MASK_KEYS = {
    "mask": lambda L: L.tensor(MASK),
    "np_mask": lambda L: MASK,
    "rows": lambda L: L.tensor(np.array([True, False, True])),
    "bool_list": lambda L: [True, False, True],
    "slice_mask": lambda L: (slice(None), L.tensor(np.array([True, False, True, True]))),
    "int_mask": lambda L: (1, L.tensor(np.array([True, False, True, True]))),
}


@pytest.mark.parametrize("key", sorted(MASK_KEYS))
@pytest.mark.parametrize("dst", DTYPES)
@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("shape", [(), (1,)])
def test_setitem_one_mask_casts_one_value_as_torch(torch, key, dst, src, shape):
    def run(L):
        x = _tensor(L, A, dst)
        x[MASK_KEYS[key](L)] = _tensor(L, np.full(shape, -2.75), src)
        return _desc(x)

    assert run(md) == run(torch)


@pytest.mark.parametrize("dst,src", [("bfloat16", "float32"), ("float32", "bfloat16")])
def test_setitem_one_mask_other_dtype_gradient_as_torch(torch, dst, src):
    """The value is cast to the tensor's dtype first, so its gradient is summed in that dtype
    (bfloat16: 810 rounds to 808, as torch's)."""

    def run(L):
        v = _tensor(L, np.array([0.5]), src, requires_grad=True)
        x = _tensor(L, np.arange(60).reshape(3, 4, 5), dst) * 1
        x[:, L.tensor(np.array([True, False, True, False]))] = v
        weights = L.tensor(np.arange(60, dtype=np.float32).reshape(3, 4, 5))
        (grad,) = (torch.autograd.grad if L is torch else md.autograd.grad)((x.float() * weights).sum(), [v])
        return _desc(x), _desc(grad)

    assert run(md) == run(torch)


# ---- bfloat16 values that require grad, written twice at a position


@pytest.mark.parametrize(
    "key,shape",
    [
        (lambda L: L.tensor(np.array([1, 1, 0])), (3, 4)),
        (lambda L: (L.tensor(np.array([0, 1, 0])), L.tensor(np.array([3, 1, 3]))), (3,)),
        (lambda L: (slice(None), L.tensor(np.array([1, 3, 1]))), (3, 3)),
        (lambda L: L.tensor(np.array([2, 2])), ()),
    ],
)
@pytest.mark.parametrize("dst_grad", [False, True])
def test_setitem_bfloat16_repeated_index_gradient(torch, key, shape, dst_grad):
    def run(L):
        leaf = _tensor(L, A, "bfloat16", requires_grad=dst_grad)
        x = leaf * 1 if dst_grad else leaf.clone()
        v = _tensor(L, np.arange(np.prod(shape)).reshape(shape) / 4 - 1, "bfloat16", requires_grad=True)
        x[key(L)] = v
        loss = (x.float() * L.tensor(W)).sum()
        leaves = [leaf, v] if dst_grad else [v]
        grads = (torch.autograd.grad if L is torch else md.autograd.grad)(loss, leaves)
        return _desc(x), *map(_desc, grads)

    assert run(md) == run(torch)


def test_setitem_bfloat16_repeated_index_gradient_by_hand():
    """Every write gets the gradient at its position, the overwritten one too, in bfloat16."""
    x = md.zeros(3, 4, dtype="bfloat16")
    v = md.tensor(np.array([[1.0] * 4, [2.0] * 4], np.float32)).to("bfloat16").requires_grad_(True)
    x[md.tensor(np.array([1, 1]))] = v
    (grad,) = md.autograd.grad((x.float() * md.tensor(W)).sum(), [v])
    assert grad.dtype == "bfloat16"
    assert x.float().numpy()[1].tolist() == [2.0] * 4
    np.testing.assert_array_equal(grad.float().numpy(), np.stack([W[1], W[1]]))


# ---- numbers the tensor's dtype cannot hold


BAD_NUMBERS = [
    ("int64", float("nan")),
    ("int64", float("inf")),
    ("int64", -float("inf")),
    ("int64", 1e30),
    ("int64", 2**63),
    ("float32", 1e39),
    ("float32", 2**70),
    ("bool", -(2**64)),
]
SETITEM_KEYS = [1, slice(1, None), (Ellipsis, 0), [0, 2], np.array([True, False, True])]


@pytest.mark.parametrize("dtype,value", BAD_NUMBERS)
@pytest.mark.parametrize("key", SETITEM_KEYS, ids=["int", "slice", "ellipsis", "list", "mask"])
def test_setitem_refuses_a_number_the_dtype_cannot_hold(dtype, value, key):
    x = _tensor(md, np.array([1.0, 0.0, 2.0]), dtype)
    with pytest.raises(ValueError, match=r"__setitem__: the (value|integer) .* (without overflow|does not fit)"):
        x[key] = value
    assert _desc(x) == _desc(_tensor(md, np.array([1.0, 0.0, 2.0]), dtype))


@pytest.mark.parametrize("dtype,value", BAD_NUMBERS)
def test_setitem_refuses_a_number_the_dtype_cannot_hold_as_torch(torch, dtype, value):
    x = _tensor(torch, np.array([1.0, 0.0, 2.0]), dtype)
    with pytest.raises((RuntimeError, ValueError, OverflowError)):
        x[[0, 2]] = value


FILL_OPS = {
    "index_fill": lambda L, x, v: x.index_fill(0, L.tensor([1]), v),
    "index_fill_": lambda L, x, v: x.index_fill_(0, L.tensor([1]), v),
    "scatter": lambda L, x, v: x.scatter(0, L.tensor([2]), v),
    "scatter_": lambda L, x, v: x.scatter_(0, L.tensor([2]), v),
    "scatter_add_value": lambda L, x, v: x.scatter(0, L.tensor([2]), v, reduce="add"),
    "masked_fill_": lambda L, x, v: x.masked_fill_(L.tensor(np.array([True, False, True])), v),
}


@pytest.mark.parametrize("op", sorted(FILL_OPS))
@pytest.mark.parametrize(
    "dtype,value", [("int64", float("nan")), ("int64", float("inf")), ("int64", 1e19), ("bfloat16", 1e39)]
)
def test_fill_ops_refuse_a_number_the_dtype_cannot_hold(op, dtype, value):
    x = _tensor(md, np.array([1.0, 0.0, 2.0]), dtype)
    name = op.removesuffix("_add_value").rstrip("_")
    with pytest.raises(ValueError, match=rf"{name}_?: the value .* without overflow"):
        FILL_OPS[op](md, x, value)
    if op in ("index_fill", "index_fill_", "masked_fill_") and dtype == "int64":  # (scatter's value is a number)
        with pytest.raises(ValueError, match="without overflow"):
            FILL_OPS[op](md, x, md.tensor(value))  # a 0-d tensor value is read as its number, as torch's


@pytest.mark.parametrize("op", sorted(FILL_OPS))
def test_fill_ops_refuse_a_number_the_dtype_cannot_hold_as_torch(torch, op):
    with pytest.raises(RuntimeError, match="without overflow"):
        FILL_OPS[op](torch, torch.tensor([1, 0, 2]), float("nan"))


@pytest.mark.parametrize("op", sorted(FILL_OPS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [3.75, -0.5, True, 2**40 + 1, float("inf")])
def test_fill_ops_cast_numbers_they_can_hold_as_torch(torch, op, dtype, value):
    if dtype == "int64" and value == float("inf"):
        return
    results = []
    for L in (md, torch):
        x = _tensor(L, np.array([1.0, 0.0, 2.0]), dtype)
        results.append(_desc(FILL_OPS[op](L, x, value)))
    assert results[0] == results[1]


def test_setitem_bfloat16_takes_a_float_past_its_range_as_inf_as_torch():
    """torch's t[k] = 1e39 makes a bfloat16 element inf (its fill ops refuse the number)."""
    x = md.zeros(3, dtype="bfloat16")
    x[[0, 2]] = 1e39
    assert x.float().numpy().tolist() == [np.inf, 0.0, np.inf]


def test_setitem_numpy_int64_refuses_nan():
    x = md.zeros(3, dtype="int64")
    with pytest.raises(ValueError, match="__setitem__: the value nan"):
        x[[0, 1]] = np.array([1.0, np.nan])


# ---- index_put: one bool mask and one value casts it (torch's masked_fill_ path)


@pytest.mark.parametrize("dst", DTYPES)
@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("in_place", [False, True])
def test_index_put_one_mask_one_value_casts_as_torch(torch, dst, src, in_place):
    def run(L):
        x = _tensor(L, A, dst)
        args = ((L.tensor(MASK),), _tensor(L, np.array(-1.5), src))
        return _desc(x.index_put_(*args) if in_place else x.index_put(*args))

    assert run(md) == run(torch)


@pytest.mark.parametrize(
    "indices,value,accumulate",
    [
        (lambda L: (L.tensor(np.array([0, 2])),), np.array(1.0), False),  # int64 positions
        (lambda L: (L.tensor(MASK),), np.array([1.0] * 6), False),  # several values
        (lambda L: (L.tensor(MASK),), np.array(1.0), True),  # accumulate
    ],
)
def test_index_put_other_dtype_refused_elsewhere(torch, indices, value, accumulate):
    for L, error in ((md, TypeError), (torch, RuntimeError)):
        x = _tensor(L, A, "float32")
        with pytest.raises(error):
            x.index_put_(indices(L), _tensor(L, value, "int64"), accumulate=accumulate)


def test_index_put_one_mask_casts_without_torch():
    x = md.tensor(np.array([[1, 2], [3, 4]], np.int64))
    out = x.index_put((md.tensor(np.array([[True, False], [False, True]])),), md.tensor(np.float32(-2.75)))
    assert out.dtype == "int64" and out.numpy().tolist() == [[-2, 2], [3, -2]]
    with pytest.raises(ValueError, match="index_put: the value nan"):
        x.index_put((md.tensor(np.array([[True, False], [False, True]])),), md.tensor(np.float32("nan")))


def test_index_put_one_mask_bfloat16_value_gradient_as_torch(torch):
    def run(L):
        v = _tensor(L, np.array(0.75), "bfloat16", requires_grad=True)
        out = _tensor(L, A, "float32").index_put((L.tensor(MASK),), v)
        (grad,) = (torch.autograd.grad if L is torch else md.autograd.grad)((out * L.tensor(W)).sum(), [v])
        return _desc(out), _desc(grad)

    assert run(md) == run(torch)


# ---- index_add's alpha is cast to an int64 or bool tensor's dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [2, 2.5, -1, 0, True, False])
@pytest.mark.parametrize("in_place", [False, True])
def test_index_add_alpha_as_torch(torch, dtype, alpha, in_place):
    def run(L):
        x = _tensor(L, np.array([[1, 0, 1], [0, 0, 1]]), dtype)
        source = _tensor(L, np.array([[1, 1, 0], [0, 1, 1]]), dtype)
        args = (0, L.tensor(np.array([1, 0])), source)
        return _desc(x.index_add_(*args, alpha=alpha) if in_place else x.index_add(*args, alpha=alpha))

    assert run(md) == run(torch)


def test_index_add_alpha_int64_and_bool_without_torch():
    x = md.tensor(np.array([10, 20, 30], np.int64))
    out = x.index_add(0, md.tensor(np.array([2, 0])), md.tensor(np.array([1, 3], np.int64)), alpha=2.5)
    assert out.dtype == "int64" and out.numpy().tolist() == [16, 20, 32]  # alpha 2.5 adds twice
    b = md.tensor(np.array([False, False, True]))
    out = b.index_add(0, md.tensor(np.array([0])), md.tensor(np.array([True])), alpha=-1)
    assert out.dtype == "bool" and out.numpy().tolist() == [True, False, True]
    assert b.index_add(0, md.tensor(np.array([0])), md.tensor(np.array([True])), alpha=0).numpy().tolist() == [
        False,
        False,
        True,
    ]


# ---- index_reduce of bool tensors: prod/amax/amin with self, as torch's


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_index_reduce_bool_as_torch(torch, reduce, include_self, ndim):
    def run(L):
        x = _tensor(L, np.array([[1, 0, 1], [0, 0, 1]]).reshape((2, 3, 1)[:ndim] if ndim > 1 else (6,)), "bool")
        source = _tensor(L, np.array([1, 1, 0, 0, 1, 1, 1, 0, 0][: 9 if ndim > 1 else 3]), "bool")
        source = source.reshape((3, 3, 1)[:ndim] if ndim > 1 else (3,))
        return _desc(x.index_reduce(0, L.tensor(np.array([0, 0, 1])), source, reduce, include_self=include_self))

    if _raises(lambda: run(torch)):
        with pytest.raises(TypeError, match="index_reduce: reduce="):
            run(md)
    else:
        assert run(md) == run(torch)


def test_index_reduce_bool_without_torch():
    x = md.tensor(np.array([[True, False], [True, True]]))
    source = md.tensor(np.array([[True, True], [False, True]]))
    index = md.tensor(np.array([0, 1]))
    assert x.index_reduce(0, index, source, "amax").numpy().tolist() == [[True, True], [True, True]]
    assert x.index_reduce(0, index, source, "amin").numpy().tolist() == [[True, False], [False, True]]
    assert x.index_reduce_(0, index, source, "prod").dtype == "bool"


# ---- NumPy values: minidiff takes them (torch refuses), cast to the tensor's dtype as a number is


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", SETITEM_KEYS, ids=["int", "slice", "ellipsis", "list", "mask"])
@pytest.mark.parametrize("value", [np.array(-2.5, np.float32), np.array([1.5, -0.5], np.float32), np.array([1, 0])])
def test_setitem_numpy_values_as_torch_tensor_values(torch, dtype, key, value):
    def run(L):
        x = _tensor(L, np.array([1.0, 0.0, 2.0]), dtype)
        v = value if L is md else torch.tensor(value).to(x.dtype)
        x[(L.tensor(key) if L is torch and isinstance(key, np.ndarray) else key)] = v
        return _desc(x)

    if value.ndim and not isinstance(key, (list, np.ndarray, slice)):  # a 2-long value into one element
        assert _raises(lambda: run(md)) and _raises(lambda: run(torch))
        return
    assert run(md) == run(torch)


# ---- native causes (not fixed here)


@pytest.mark.parametrize("op", ["zero_", "fill_", "copy_"])
def test_bfloat16_fill_in_graph(op):
    x = md.ones(3, 4).to("bfloat16").requires_grad_(True)
    y = x * 1
    {"zero_": lambda: y.zero_(), "fill_": lambda: y.fill_(2.0), "copy_": lambda: y.copy_(md.ones(3, 4))}[op]()
    assert y.dtype == "bfloat16"


def test_fill_with_a_tensor_value_gives_it_the_gradient():
    v = md.tensor(np.float32(2.0)).requires_grad_(True)
    y = md.ones(3) * 1
    y.fill_(v * 1)
    (grad,) = md.autograd.grad(y.sum(), [v], allow_unused=True)
    assert grad is not None and grad.item() == 3.0


@pytest.mark.parametrize("op,value", [("fill_", float("nan")), ("fill_", 1e30), ("full", 1e30), ("masked_fill", 1e30)])
def test_numbers_int64_cannot_hold_refused_by_fill_and_full(op, value):
    """(the native fill_ and full, which masked_fill uses)"""
    x = md.zeros(3, dtype="int64")
    with pytest.raises(ValueError):
        if op == "fill_":
            x.fill_(value)
        elif op == "full":
            md.full((2,), value, dtype="int64")
        else:
            x.masked_fill(md.tensor(np.array([True, False, True])), value)
