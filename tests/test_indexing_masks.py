"""Boolean masks (a comparison's float32 0/1 tensor, or a NumPy bool array) and int64 index arrays
inside tuple keys, read and written as torch does: against NumPy, whose boolean indexing has
torch's semantics wherever no int sits among the masks, against torch (values, gradients of reads,
results of writes), and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import minidiff as md

_ = slice(None)

MASKS = {
    "m2": np.array([True, False]),
    "m2b": np.array([True, True]),
    "m3": np.array([True, False, True]),
    "m4": np.array([False, True, True, False]),
    "m5": np.array([True, False, True, True, False]),
    "m23": np.array([[True, False, True], [False, True, True]]),
    "m34": np.random.default_rng(3).random((3, 4)) > 0.5,
    "m45": np.random.default_rng(4).random((4, 5)) > 0.4,
    "m234": np.random.default_rng(5).random((2, 3, 4)) > 0.5,
    "none34": np.zeros((3, 4), bool),
    "all34": np.ones((3, 4), bool),
}

# (tensor shape, key as a function of M (a mask by name) and I (int positions), NumPy agrees):
# NumPy counts an int among masks as an index array (torch selects first), so where a slice
# separates them the advanced dims land elsewhere than in torch
CASES = [
    ((2, 3, 4, 5), lambda M, I: (0, M("m34")), True),
    ((2, 3, 4, 5), lambda M, I: (..., M("m45")), True),
    ((2, 3, 4, 5), lambda M, I: (_, M("m34"), slice(1, None)), True),
    ((2, 3, 4, 5), lambda M, I: (_, M("m34")), True),
    ((2, 3, 4, 5), lambda M, I: (M("m23"),), True),
    ((2, 3, 4, 5), lambda M, I: (M("m23"), 1), True),
    ((2, 3, 4, 5), lambda M, I: (M("m234"), slice(1, 3)), True),
    ((2, 3, 4, 5), lambda M, I: (M("m2"), _, M("m4")), True),  # separated: to the front
    ((2, 3, 4, 5), lambda M, I: (M("m2b"), _, _, I([1, 4])), True),
    ((2, 3, 4, 5), lambda M, I: (None, M("m2"), ..., M("m5")), True),
    ((2, 3, 4, 5), lambda M, I: (_, M("m34"), None), True),
    ((2, 3, 4, 5), lambda M, I: (I([[0], [1]]), M("m34")), True),  # (2, 1) broadcasts with (n,)
    ((2, 3, 4, 5), lambda M, I: (slice(None, None, 2), M("m3"), _, slice(1, 4, 2)), True),
    ((2, 3, 4, 5), lambda M, I: (_, M("none34")), True),
    ((2, 3, 4, 5), lambda M, I: (_, M("all34"), -1), True),
    ((2, 3, 4, 5), lambda M, I: (M("m2b"), M("m3")), True),
    ((2, 3, 4, 5), lambda M, I: (_, M("m3"), M("m4")), True),
    ((2, 3, 4, 5), lambda M, I: (..., M("m4"), _), True),
    ((2, 3, 4, 5), lambda M, I: (_, 1, M("m45")), True),
    ((2, 3, 4, 5), lambda M, I: (M("m2"), 0, _, M("m5")), True),
    ((2, 3, 4, 5), lambda M, I: (1, _, M("m45")), False),  # torch: (3, n); NumPy: (n, 3)
    ((2, 3, 4, 5), lambda M, I: (0, M("m3"), _, I([-1, 0])), False),
    ((3, 4), lambda M, I: (M("m3"), slice(1, None)), True),
    ((3, 4), lambda M, I: (_, M("m4")), True),
    ((3, 4), lambda M, I: (M("m34"),), True),
    ((3, 4), lambda M, I: (M("m3"), I([3, -1])), True),
    ((5,), lambda M, I: (None, M("m5")), True),
    ((5,), lambda M, I: (M("m5"), None), True),
]
IDS = [f"case{i}" for i in range(len(CASES))]
NUMPY_CASES = [c for c in CASES if c[2]]
NUMPY_IDS = [i for i, c in zip(IDS, CASES) if c[2]]


def comparison_mask(name):
    """The mask as minidiff's comparisons give it: float32 zeros and ones."""
    return md.tensor(MASKS[name].astype(np.float32)) > 0.5


def md_key(fn, numpy_masks=False):
    mask = (lambda name: MASKS[name]) if numpy_masks else comparison_mask
    return fn(mask, lambda i: md.tensor(np.asarray(i, np.int64)))


def numpy_key(fn):
    return fn(lambda name: MASKS[name], lambda i: np.asarray(i, np.int64))


def torch_key(torch, fn):
    return fn(lambda name: torch.tensor(MASKS[name]), lambda i: torch.tensor(i, dtype=torch.int64))


def data(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- reads


@pytest.mark.parametrize("numpy_masks", [False, True])
@pytest.mark.parametrize("shape,fn,_agrees", NUMPY_CASES, ids=NUMPY_IDS)
def test_reads_match_numpy(shape, fn, _agrees, numpy_masks):
    x = data(shape)
    t = md.tensor(x, requires_grad=True)
    want = x[numpy_key(fn)]
    got = t[md_key(fn, numpy_masks)]
    assert tuple(got.shape) == want.shape
    np.testing.assert_array_equal(got.detach().numpy(), want)
    # no position repeats, so each selected element's gradient is its weight
    w = data(want.shape, seed=1)
    (got * md.tensor(w)).sum().backward()
    grad = np.zeros(shape, np.float32)
    grad[numpy_key(fn)] = w
    np.testing.assert_array_equal(t.grad.numpy(), grad)


@pytest.mark.parametrize("shape,fn,_agrees", CASES, ids=IDS)
def test_reads_and_gradients_match_torch(shape, fn, _agrees):
    torch = pytest.importorskip("torch")
    x = data(shape)
    t, tt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got, want = t[md_key(fn)], tt[torch_key(torch, fn)]
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    w = data(tuple(want.shape), seed=1)
    (got * md.tensor(w)).sum().backward()
    (want * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())


def test_a_read_repeating_positions_sums_their_gradients():
    torch = pytest.importorskip("torch")
    x = data((3, 4))
    t, tt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mask, idx = np.array([True, False, True]), [[1, 1], [3, 0], [1, 1]]
    got = t[mask, md.tensor(np.asarray(idx, np.int64))]
    want = tt[torch.tensor(mask), torch.tensor(idx)]
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    w = data((3, 2), seed=2)
    (got * md.tensor(w)).sum().backward()
    (want * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_a_whole_mask_reads_as_the_same_mask_in_a_tuple():
    x = data((2, 3, 4))
    t = md.tensor(x)
    for mask in (MASKS["m23"], MASKS["m234"], MASKS["m2"]):
        np.testing.assert_array_equal(t[mask].numpy(), x[mask])
        np.testing.assert_array_equal(t[(mask,)].numpy(), x[mask])
        np.testing.assert_array_equal(t[md.tensor(mask)].numpy(), x[mask])
        np.testing.assert_array_equal(t[md.tensor(mask.astype(np.uint8))].numpy(), x[mask])  # uint8: a mask


def test_reads_of_a_view_and_of_int64_tensors():
    x = np.arange(60).reshape(3, 4, 5)
    t = md.tensor(x)
    assert t.dtype == "int64"
    np.testing.assert_array_equal(t[1:, MASKS["m45"]].numpy(), x[1:, MASKS["m45"]])
    view = md.tensor(x.astype(np.float32))[:, 1:3].permute(2, 0, 1)  # (5, 3, 2), not contiguous
    mask = np.array([[True, False], [False, False], [True, True]])
    np.testing.assert_array_equal(view[1:4, mask].numpy(), x[:, 1:3].transpose(2, 0, 1)[1:4, mask])


# ---- writes


def write_values(shape, fn, seed):
    """A scalar, a value of the shape key reads, one broadcast along the leading dims, and one with
    a leading 1 (torch drops it), for the case's shape."""
    result = data(shape)[numpy_key(fn)].shape
    full = data(result, seed)
    values = [9.5, full]
    if result:
        values += [data(result[-1:], seed + 1), full[None]]
    return values


@pytest.mark.parametrize("shape,fn,_agrees", NUMPY_CASES, ids=NUMPY_IDS)
def test_writes_match_numpy(shape, fn, _agrees):
    x = data(shape)
    for value in write_values(shape, fn, seed=3)[:3]:  # NumPy keeps no leading 1 of a value
        for numpy_masks in (False, True):
            t = md.tensor(x)
            t[md_key(fn, numpy_masks)] = value if np.isscalar(value) else md.tensor(value)
            want = x.copy()
            want[numpy_key(fn)] = value
            np.testing.assert_array_equal(t.numpy(), want)


@pytest.mark.parametrize("shape,fn,_agrees", CASES, ids=IDS)
def test_writes_match_torch(shape, fn, _agrees):
    torch = pytest.importorskip("torch")
    x = data(shape)
    result = tuple(torch.tensor(x)[torch_key(torch, fn)].shape)
    values = [9.5, data(result, 3)]
    if result:
        values += [data(result[-1:], 4), values[1][None, None]]
    for value in values:
        t, tt = md.tensor(x), torch.tensor(x)
        t[md_key(fn)] = value if np.isscalar(value) else md.tensor(value)
        tt[torch_key(torch, fn)] = value if np.isscalar(value) else torch.tensor(value)
        np.testing.assert_array_equal(t.numpy(), tt.numpy())


@pytest.mark.parametrize(
    "key",
    [
        lambda I: (_, I([2, 0])),
        lambda I: (I([1, 0, 2]), slice(1, None)),
        lambda I: (I([[2], [0]]), ..., 1),
        lambda I: (None, _, 1, I([4, -1])),
        lambda I: (slice(1, None), I([0, 3]), np.array([False, True, False, False, True])),
    ],
    ids=["slice-idx", "idx-slice", "2d-idx-int", "none-int-idx", "idx-and-mask"],
)
def test_int64_index_writes_with_slices_match_torch_and_numpy(key):
    x = data((3, 4, 5))
    t = md.tensor(x)
    want = x.copy()
    positions = want[key(np.asarray)]
    value = data(positions.shape, seed=4)
    t[key(lambda i: md.tensor(np.asarray(i, np.int64)))] = md.tensor(value)
    want[key(np.asarray)] = value
    np.testing.assert_array_equal(t.numpy(), want)
    u = md.tensor(x)
    u[key(list)] = -1.0  # lists of positions too
    want = x.copy()
    want[key(np.asarray)] = -1.0
    np.testing.assert_array_equal(u.numpy(), want)


def test_writes_land_in_the_viewed_tensor():
    torch = pytest.importorskip("torch")
    x = data((3, 4, 5))
    base, tbase = md.tensor(x), torch.tensor(x)
    view, tview = base[1:, :, ::2], tbase[1:, :, ::2]
    mask = np.array([[True, False, True], [False, False, True]])
    view[:, 2, mask[0]] = md.tensor(np.array([1.0, 2.0], np.float32))
    tview[:, 2, torch.tensor(mask[0])] = torch.tensor([1.0, 2.0])
    view[0, 1:, mask[1]] = 7.0
    tview[0, 1:, torch.tensor(mask[1])] = 7.0
    np.testing.assert_array_equal(base.numpy(), tbase.numpy())


def test_writes_take_numpy_values_lists_and_int64_tensors():
    x = data((2, 3, 4))
    mask = MASKS["m3"]
    t = md.tensor(x)
    t[_, mask] = np.arange(4, dtype=np.float32)
    t[MASKS["m2"]] = np.float32(2.5)  # the whole-key path takes NumPy values too
    u = md.tensor(x)
    u[x > 0] = np.arange((x > 0).sum(), dtype=np.float32)
    want = x.copy()
    want[:, mask] = np.arange(4)
    want[MASKS["m2"]] = 2.5
    np.testing.assert_array_equal(t.numpy(), want)
    want = x.copy()
    want[x > 0] = np.arange((x > 0).sum())
    np.testing.assert_array_equal(u.numpy(), want)
    ints = md.tensor(np.arange(24).reshape(2, 3, 4))
    ints[1, mask] = [5, 6, 7, 8]
    ints[:, MASKS["m34"]] = 0
    want = np.arange(24).reshape(2, 3, 4)
    want[1, mask] = [5, 6, 7, 8]
    want[:, MASKS["m34"]] = 0
    assert ints.dtype == "int64"
    np.testing.assert_array_equal(ints.numpy(), want)


def test_writes_that_select_nothing_leave_the_tensor():
    x = data((2, 3, 4))
    t = md.tensor(x)
    t[_, MASKS["none34"]] = 1.0
    t[_, MASKS["none34"]] = md.tensor(np.zeros((2, 0), np.float32))
    t[_, MASKS["none34"]] = md.tensor(np.zeros((1,), np.float32))
    np.testing.assert_array_equal(t.numpy(), x)


def test_writes_into_a_leaf_that_requires_grad_are_refused_and_values_that_do_are_recorded():
    x = data((2, 3))
    mask = np.array([True, False, True])
    leaf = md.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad cannot change in place"):
        leaf[0, mask] = 1.0
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad cannot change in place"):
        leaf[mask[:2]] = 1.0
    np.testing.assert_array_equal(leaf.detach().numpy(), x)
    # a value that requires grad: recorded as torch's index_put_, through a mask or positions
    value = md.tensor(np.array([7.0, 8.0], np.float32), requires_grad=True)
    for key in ((1, mask), (1, md.tensor(np.array([0, 2])))):
        t = md.tensor(x)
        t[key] = value
        assert t.requires_grad
        (t * 2.0).sum().backward()
        np.testing.assert_array_equal(value.grad.numpy(), [2.0, 2.0])
        value.grad = None
    t = md.tensor(x)
    with md.no_grad():
        t[1, mask] = value
        leaf[0, mask] = 1.0
    want = x.copy()
    want[1, mask] = [7.0, 8.0]
    np.testing.assert_array_equal(t.numpy(), want)
    assert leaf.detach().numpy()[0, 0] == 1.0 and leaf.detach().numpy()[0, 1] == x[0, 1]


# ---- errors


def test_a_mask_that_does_not_match_its_dims_names_the_shapes():
    t = md.tensor(data((2, 3, 4)))
    with pytest.raises(
        IndexError, match=r"mask of shape \(2, 2\) does not match dims 1 to 2 \(3, 4\) of shape \(2, 3, 4\)"
    ):
        t[:, np.ones((2, 2), bool)]
    with pytest.raises(IndexError, match=r"mask of shape \(3, 4\) does not match dims 0 to 1 \(2, 3\)"):
        t[md.tensor(np.ones((3, 4), bool)), ...]
    with pytest.raises(
        IndexError, match=r"mask of shape \(4, 3\) does not match dims 1 to 2 \(3, 4\) of shape \(2, 3, 4\)"
    ):
        t[0, np.ones((4, 3), bool)] = 1.0
    with pytest.raises(IndexError, match=r"mask of length 2 does not match dim 1 of shape \(2, 3, 4\)"):
        t[..., np.ones(2, bool), :] = 1.0
    with pytest.raises(IndexError, match=r"mask of shape \(3, 4\) does not match the tensor's shape \(2, 3, 4\)"):
        t[np.ones((3, 4), bool)] = 1.0  # the whole-key message, as before


def test_bad_index_values_and_shapes_raise_index_errors():
    t = md.tensor(data((2, 3, 4)))
    with pytest.raises(IndexError, match="must be int64, int32, bool or uint8"):
        t[0, md.tensor(np.full((3, 4), 0.5, np.float32))]
    with pytest.raises(IndexError, match="must be int64, int32, bool or uint8"):
        t[0, md.tensor(np.ones((3, 4), np.int16))]
    with pytest.raises(IndexError, match="too many indices"):
        t[_, MASKS["m34"], 0]
    with pytest.raises(IndexError, match=r"shapes \(2,\), \(3,\).*cannot be broadcast"):
        t[MASKS["m2b"], _, np.array([True, True, True, False])]
    with pytest.raises(IndexError, match="index 4 is out of range for dimension 2 of size 4"):
        t[MASKS["m2"], _, [4]]
    with pytest.raises(IndexError, match="index -5 is out of range for dimension 2 of size 4"):
        t[0, :, md.tensor(np.array([-5]))] = 0.0
    with pytest.raises(IndexError, match="must hold integers"):
        t[MASKS["m2"], [0.5]]
    with pytest.raises(IndexError, match="out of range"):  # several index arrays read as NumPy's pairs
        t[[0], [9]]
    with pytest.raises(ValueError, match="cannot be broadcast"):  # a lone index array assigns as index_put_
        t[[0]] = md.zeros((2, 2))


def test_a_value_that_does_not_broadcast_names_the_shapes():
    x = data((2, 3, 4))
    t = md.tensor(x)
    with pytest.raises(ValueError, match=r"__setitem__: a value of shape \(3,\) cannot be broadcast to .*\(2, 2, 4\)"):
        t[:, MASKS["m3"]] = md.tensor(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"shape \(2, 5\) cannot be broadcast to the indexed shape \(4, 4\)"):
        t[MASKS["m23"]] = np.zeros((2, 5), np.float32)
    np.testing.assert_array_equal(t.numpy(), x)
