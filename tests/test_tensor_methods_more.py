"""The last section of minidiff/tensor_more.py against PyTorch (values, index dtypes, gradients,
views and errors): select, narrow_copy, unfold, tensor_split / hsplit / vsplit / dsplit,
index_put(_), masked_fill_, cumsum_, logical_not_, tril_ / triu_, ger, cross, renorm, dist,
is_complex, msort, kthvalue, mode, apply_ / map_ and the memory methods (share_memory_, pin_memory).
The oracle tests take the ``torch`` fixture (skipped without torch); the NumPy checks at the end run
without it."""

import math
import warnings

import numpy as np
import pytest

import minidiff as md

RNG = np.random.default_rng(0)  # restarted per test by conftest


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def randn(*shape):
    return np.asarray(RNG.standard_normal(shape), dtype=np.float32)


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def assert_same(got, want, rtol=1e-5, atol=1e-6, what=""):
    """md result against torch (or NumPy): shape, dtype kind (int64 stays int64) and values."""
    g, w = _np(got), _np(want)
    if w.dtype == bool:  # torch's bool is minidiff's float32 0/1
        w = w.astype(np.float32)
    assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
    if w.dtype == np.int64:
        assert g.dtype == np.int64, f"{what}: expected int64, got {g.dtype}"
    np.testing.assert_allclose(g, w.astype(g.dtype), rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def check(torch, md_fn, torch_fn, arrays, *, grad=True, rtol=1e-5, atol=1e-6, grad_rtol=1e-4, grad_atol=1e-5):
    """Both functions on the same arrays (float arrays become tensors that require grad); every
    output compared, then the gradients of sum(w * first output) for every float input."""
    floats = [isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in arrays]
    mts = [md.tensor(a, requires_grad=grad and f) if isinstance(a, np.ndarray) else a for a, f in zip(arrays, floats)]
    tts = [
        torch.tensor(a, requires_grad=grad and f) if isinstance(a, np.ndarray) else a for a, f in zip(arrays, floats)
    ]
    outs, touts = md_fn(*mts), torch_fn(*tts)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    touts = list(touts) if isinstance(touts, tuple) else [touts]
    assert len(outs) == len(touts)
    for i, (o, t) in enumerate(zip(outs, touts)):
        assert_same(o, t, rtol, atol, f"output {i}")
    if not grad or not any(floats) or not touts[0].requires_grad:
        return outs
    w = RNG.standard_normal(tuple(touts[0].shape)).astype(np.float32)
    (touts[0] * torch.tensor(w)).sum().backward()
    assert outs[0].requires_grad
    (outs[0] * md.tensor(w)).sum().backward()
    for m, t, f in zip(mts, tts, floats):
        if f:
            want = t.grad if t.grad is not None else torch.zeros_like(t)
            got = m.grad if m.grad is not None else md.zeros(m.shape)
            assert_same(got, want, grad_rtol, grad_atol, "gradient")
    return outs


def _index(a):
    return md.tensor(np.asarray(a, dtype=np.int64))


# ---- the names


def test_names_are_installed():
    methods = ["select", "masked_fill_", "index_put_", "index_put", "narrow_copy", "unfold", "cumsum_",
               "logical_not_", "ger", "cross", "tril_", "triu_", "renorm", "renorm_", "dist", "is_complex", "msort",
               "kthvalue", "mode", "tensor_split", "hsplit", "vsplit", "dsplit", "share_memory_", "is_shared",
               "pin_memory", "is_pinned", "apply_", "map_"]  # fmt: skip
    for name in methods:
        assert hasattr(md.tensor([1.0]), name), name
    for name in ["select", "index_put", "narrow_copy", "cross", "renorm", "dist", "msort", "kthvalue", "mode",
                 "tensor_split", "hsplit", "vsplit", "dsplit", "is_complex", "ger", "tril", "triu"]:  # fmt: skip
        assert callable(getattr(md, name)), name
    for name in ["select", "index_put", "tensor_split", "kthvalue", "mode", "cross", "dist", "is_complex"]:
        assert name in md.__all__, name
    assert not hasattr(md, "unfold")  # torch.unfold does not exist (F.unfold is im2col)
    assert not md.is_complex(md.zeros((2,))) and not md.zeros(()).is_complex()


# ---- select, narrow_copy


@pytest.mark.parametrize("shape,dim,index", [((3, 4), 0, 1), ((3, 4), 1, -1), ((2, 3, 4), -2, 2), ((5,), 0, -5)])
def test_select_matches_torch(torch, shape, dim, index):
    check(torch, lambda x: md.select(x, dim, index), lambda x: torch.select(x, dim, index), [randn(*shape)])
    check(torch, lambda x: x.select(dim=dim, index=index), lambda x: x.select(dim=dim, index=index), [randn(*shape)])


def test_select_is_a_view_and_in_place_through_it_keeps_the_graph(torch):
    x = md.zeros((3, 4))
    x.select(1, 2).fill_(7.0)
    np.testing.assert_array_equal(x.numpy()[:, 2], [7.0, 7.0, 7.0])
    assert x.numpy().sum() == 21.0
    a = randn(3, 4)
    leaf, tleaf = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = leaf * 2.0, tleaf * 2.0
    y.select(0, 1).exp_()
    ty.select(0, 1).exp_()
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_same(y, ty)
    assert_same(leaf.grad, tleaf.grad, 1e-4, 1e-5)


def test_select_errors():
    x = md.zeros((3, 4))
    with pytest.raises(IndexError, match=r"select.*4.*\(3, 4\).*1"):
        x.select(1, 4)
    with pytest.raises(IndexError, match="select"):
        x.select(1, -5)
    with pytest.raises(IndexError, match="select"):
        x.select(2, 0)
    with pytest.raises(IndexError, match="select.*0-dim"):
        md.zeros(()).select(0, 0)
    with pytest.raises(TypeError, match="select"):
        x.select(0, 1.5)


@pytest.mark.torch_2_13
@pytest.mark.parametrize("dim,start,length", [(0, 1, 2), (1, -3, 2), (1, 4, 0), (-1, 0, 4)])
def test_narrow_copy_matches_torch_and_is_not_a_view(torch, dim, start, length):
    out = check(torch, lambda x: md.narrow_copy(x, dim, start, length),
                lambda x: torch.narrow_copy(x, dim, start, length), [randn(3, 4)])[0]  # fmt: skip
    assert out.is_contiguous()
    x = md.ones((3, 4))
    c = x.narrow_copy(dim, start, length)
    c.fill_(5.0)
    assert x.numpy().sum() == 12.0  # a copy


def test_narrow_copy_errors():
    x = md.zeros((3, 4))
    with pytest.raises(ValueError, match=r"narrow_copy.*\(3, 4\)"):
        x.narrow_copy(1, 2, 3)
    with pytest.raises(IndexError, match="narrow_copy"):
        x.narrow_copy(1, 5, 0)
    with pytest.raises(IndexError, match="narrow_copy"):
        x.narrow_copy(2, 0, 1)


# ---- unfold

UNFOLDS = [((7,), 0, 3, 1), ((7,), 0, 2, 2), ((7,), 0, 3, 5), ((3, 8), 1, 3, 2), ((3, 8), 0, 2, 1),
           ((2, 5, 4), 1, 5, 1), ((2, 5, 4), -1, 1, 3), ((3, 4), 1, 0, 1), ((0, 4), 1, 2, 1),
           ((4, 6), 1, 6, 6)]  # fmt: skip


@pytest.mark.parametrize("shape,dim,size,step", UNFOLDS)
def test_unfold_matches_torch(torch, shape, dim, size, step):
    check(torch, lambda x: x.unfold(dim, size, step), lambda x: x.unfold(dim, size, step), [randn(*shape)])


@pytest.mark.parametrize("dim,size,step", [(0, 2, 1), (1, 3, 1), (1, 2, 2)])
def test_unfold_of_a_transposed_input_matches_torch(torch, dim, size, step):
    check(torch, lambda x: x.t().unfold(dim, size, step), lambda x: x.t().unfold(dim, size, step), [randn(4, 5)])
    with md.no_grad():  # a view then (values only)
        check(torch, lambda x: x.t().unfold(dim, size, step), lambda x: x.t().unfold(dim, size, step), [randn(4, 5)],
              grad=False)  # fmt: skip


def test_unfold_is_a_view_outside_the_graph(torch):
    a = np.arange(10, dtype=np.float32)
    x, tx = md.tensor(a), torch.tensor(a)
    w, tw = x.unfold(0, 3, 2), tx.unfold(0, 3, 2)
    assert w.stride() == tw.stride() and w.storage_offset() == tw.storage_offset()
    x.mul_(2.0)  # the windows see the base's change
    np.testing.assert_array_equal(w.numpy(), (tw * 2).numpy())
    ints = md.tensor(np.arange(6)).unfold(0, 2, 2)
    assert ints.dtype == "int64" and ints.numpy().tolist() == [[0, 1], [2, 3], [4, 5]]


def test_unfold_int_kwargs_and_errors(torch):
    scalar = np.array(3.0, dtype=np.float32)  # a 0-d tensor: one window of one element
    check(torch, lambda x: x.unfold(dimension=0, size=1, step=1), lambda x: x.unfold(0, 1, 1), [scalar])
    x = md.zeros((3, 4))
    with pytest.raises(ValueError, match="unfold.*4.*5"):
        x.unfold(1, 5, 1)
    with pytest.raises(ValueError, match="unfold.*step"):
        x.unfold(1, 2, 0)
    with pytest.raises(ValueError, match="unfold.*size"):
        x.unfold(1, -1, 1)
    with pytest.raises(IndexError, match="unfold"):
        x.unfold(2, 1, 1)


# ---- tensor_split, hsplit, vsplit, dsplit

SPLITS = [3, 4, 10, 1, [2, 5], [2, -1, 9, 1], [], (0, 0), [7]]


@pytest.mark.parametrize("how", SPLITS)
def test_tensor_split_matches_torch(torch, how):
    a = randn(2, 7)
    x, tx = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    outs, touts = md.tensor_split(x, how, dim=1), torch.tensor_split(tx, how, dim=1)
    assert len(outs) == len(touts)
    for o, t in zip(outs, touts):
        assert_same(o, t)
    ws = [randn(*t.shape) for t in touts]
    sum((o * md.tensor(w)).sum() for o, w in zip(outs, ws)).backward()
    sum((t * torch.tensor(w)).sum() for t, w in zip(touts, ws)).backward()
    assert_same(x.grad, tx.grad)


def test_tensor_split_forms_and_views(torch):
    a = np.arange(7, dtype=np.float32)
    x, tx = md.tensor(a), torch.tensor(a)
    for kwargs in ({"sections": 3}, {"indices": [2, 5]}, {"tensor_indices_or_sections": None}):
        if kwargs.get("tensor_indices_or_sections", 0) is None:
            got = x.tensor_split(tensor_indices_or_sections=_index([1, 3]))
            want = tx.tensor_split(torch.tensor([1, 3]))
        else:
            got, want = x.tensor_split(**kwargs), torch.tensor_split(tx, **kwargs)
        assert [o.numpy().tolist() for o in got] == [t.tolist() for t in want]
    got = x.tensor_split(_index(3))  # a 0-d tensor: sections
    assert [o.shape[0] for o in got] == [3, 2, 2]
    x.tensor_split(2)[1].fill_(-1.0)  # pieces are views
    assert x.numpy().tolist() == [0, 1, 2, 3, -1, -1, -1]


def test_tensor_split_errors():
    x = md.zeros((2, 7))
    with pytest.raises(ValueError, match="tensor_split.*larger than 0"):
        x.tensor_split(0)
    with pytest.raises(ValueError, match="tensor_split.*0 dims"):
        md.zeros(()).tensor_split(1)
    with pytest.raises(TypeError, match="tensor_split.*int64"):
        x.tensor_split(md.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="tensor_split.*one-dimensional"):
        x.tensor_split(_index([[1, 2]]))
    with pytest.raises(TypeError, match="tensor_split"):
        x.tensor_split([1.5])
    with pytest.raises(TypeError, match="tensor_split.*exactly one"):
        x.tensor_split(2, sections=2)
    with pytest.raises(IndexError, match="tensor_split"):
        x.tensor_split(2, dim=2)


@pytest.mark.parametrize("name,shape,how", [("hsplit", (7,), [2]), ("hsplit", (3, 4, 2), 2), ("hsplit", (3, 4), [1, 3]),
                                            ("vsplit", (4, 3), 2), ("vsplit", (4, 3, 2), [3]), ("dsplit", (2, 3, 6), 3),
                                            ("dsplit", (2, 3, 6, 1), [1, 4])])  # fmt: skip
def test_hsplit_vsplit_dsplit_match_torch(torch, name, shape, how):
    a = randn(*shape)
    for got, want in ((getattr(md, name)(md.tensor(a), how), getattr(torch, name)(torch.tensor(a), how)),
                      (getattr(md.tensor(a), name)(how), getattr(torch.tensor(a), name)(how))):  # fmt: skip
        assert len(got) == len(want)
        for o, t in zip(got, want):
            assert_same(o, t)


def test_hsplit_vsplit_dsplit_errors():
    with pytest.raises(ValueError, match=r"hsplit.*dimension 0.*7.*2"):
        md.hsplit(md.zeros((7,)), 2)
    with pytest.raises(ValueError, match="hsplit.*at least 1"):
        md.hsplit(md.zeros(()), [1])
    with pytest.raises(ValueError, match=r"vsplit.*at least 2.*\(4,\)"):
        md.vsplit(md.zeros((4,)), 2)
    with pytest.raises(ValueError, match="dsplit.*at least 3"):
        md.zeros((2, 2)).dsplit(2)
    with pytest.raises(ValueError, match="hsplit"):
        md.hsplit(md.zeros((2, 4)), 0)


# ---- index_put, index_put_, masked_fill_


def _index_put_cases():
    return [
        ((3, 4), [[0, 2]], (), False),  # whole rows, a 0-d value
        ((3, 4), [[0, 2], [1, 3]], (2,), False),
        ((3, 4), [[0, 2, 0], [1, 1, 1]], (3,), True),  # repeats add up
        ((3, 4), [[-1, 0]], (4,), False),
        ((2, 3, 4), [[[0], [1]], [1, 2]], (2, 2, 4), False),  # index tensors broadcast
        ((2, 3, 4), [[1, 1]], (1, 4), True),
        ((5,), [[1, 1, 1]], (3,), True),
        ((5,), [[]], (), False),
    ]


@pytest.mark.parametrize("shape,indices,vshape,accumulate", _index_put_cases())
def test_index_put_matches_torch(torch, shape, indices, vshape, accumulate):
    arrays = [np.asarray(i, dtype=np.int64) for i in indices]

    def md_fn(x, v):
        return md.index_put(x, tuple(md.tensor(a) for a in arrays), v, accumulate)

    def torch_fn(x, v):
        return torch.index_put(x, tuple(torch.tensor(a) for a in arrays), v, accumulate)

    check(torch, md_fn, torch_fn, [randn(*shape), randn(*vshape)])
    check(torch, lambda x, v: x.index_put(tuple(md.tensor(a) for a in arrays), v, accumulate=accumulate),
          lambda x, v: x.index_put(tuple(torch.tensor(a) for a in arrays), v, accumulate=accumulate),
          [randn(*shape), randn(*vshape)])  # fmt: skip


def test_index_put_last_write_wins_and_every_value_gets_its_gradient(torch):
    v = md.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = md.zeros((5,)).index_put((_index([1, 1, 1]),), v)
    assert out.numpy().tolist() == [0, 3, 0, 0, 0]
    (out * md.tensor([1.0, 5.0, 1.0, 1.0, 1.0])).sum().backward()
    tv = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (
        torch.zeros(5).index_put((torch.tensor([1, 1, 1]),), tv) * torch.tensor([1.0, 5.0, 1.0, 1.0, 1.0])
    ).sum().backward()
    assert_same(v.grad, tv.grad)


def test_index_put_with_masks_matches_torch_bool_masks(torch):
    a, m = randn(3, 4), RNG.random((3, 4)) > 0.5
    check(torch, lambda x, v: md.index_put(x, (md.tensor(m),), v),
          lambda x, v: torch.index_put(x, (torch.tensor(m),), v), [a, randn()])  # fmt: skip
    rows = np.array([True, False, True])
    check(torch, lambda x, v: md.index_put(x, (md.tensor(rows.astype(np.uint8)),), v, True),
          lambda x, v: torch.index_put(x, (torch.tensor(rows),), v, True), [a, randn(4)])  # fmt: skip


def test_index_put_int64():
    x = md.tensor(np.arange(6).reshape(2, 3))
    out = x.index_put((_index([1]), _index([2])), md.tensor(np.array([10])), accumulate=True)
    assert out.dtype == "int64" and out.numpy().tolist() == [[0, 1, 2], [3, 4, 15]]


def test_index_put_in_place_matches_torch(torch):
    a, v = randn(3, 4), randn(2, 4)
    idx = np.array([2, 0])
    x, tx = md.tensor(a), torch.tensor(a)
    assert x.index_put_((md.tensor(idx),), md.tensor(v)) is x
    tx.index_put_((torch.tensor(idx),), torch.tensor(v))
    assert_same(x, tx)
    # inside the graph: a non-leaf written through a view, values that require grad
    leaf, tleaf = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    mv, tv = md.tensor(v[:, :2], requires_grad=True), torch.tensor(v[:, :2], requires_grad=True)
    y, ty = leaf * 3.0, tleaf * 3.0
    y[:, 1:3].index_put_((md.tensor(idx),), mv, accumulate=True)
    ty[:, 1:3].index_put_((torch.tensor(idx),), tv, accumulate=True)
    w = randn(3, 4)
    (y * y * md.tensor(w)).sum().backward()
    (ty * ty * torch.tensor(w)).sum().backward()
    assert_same(y, ty)
    assert_same(leaf.grad, tleaf.grad, 1e-4, 1e-5)
    assert_same(mv.grad, tv.grad, 1e-4, 1e-5)
    with pytest.raises(RuntimeError, match="index_put_.*leaf"):
        md.tensor(a, requires_grad=True).index_put_((md.tensor(idx),), md.tensor(v))


def test_index_put_errors():
    x = md.zeros((3, 4))
    with pytest.raises(IndexError, match=r"index_put.*5.*dimension 0.*3"):
        x.index_put((_index([0, 5]),), md.tensor(1.0))
    with pytest.raises(IndexError, match="index_put.*too many"):
        x.index_put((_index([0]), _index([0]), _index([0])), md.tensor(1.0))
    with pytest.raises(ValueError, match=r"index_put.*\(3,\).*\(2, 4\)"):
        x.index_put((_index([0, 2]),), md.ones((3,)))
    with pytest.raises(TypeError, match="index_put.*dtype"):
        x.index_put((_index([0]),), md.tensor(np.array(1)))
    with pytest.raises(IndexError, match="index_put.*int64"):
        x.index_put((md.tensor([0.0, 2.0]),), md.tensor(1.0))
    with pytest.raises(TypeError, match="index_put.*tuple"):
        x.index_put(_index([0]), md.tensor(1.0))
    with pytest.raises(TypeError, match="index_put.*values"):
        x.index_put((_index([0]),), 1.0)
    with pytest.raises(IndexError, match="index_put.*broadcast"):
        x.index_put((_index([0, 1]), _index([0, 1, 2])), md.tensor(1.0))


@pytest.mark.parametrize("mshape", [(3, 4), (4,), (3, 1)])
def test_masked_fill_in_place_matches_torch(torch, mshape):
    a, m = randn(3, 4), RNG.random(mshape) > 0.4
    x, tx = md.tensor(a), torch.tensor(a)
    assert x.masked_fill_(md.tensor(m.astype(np.float32)), -2.5) is x
    tx.masked_fill_(torch.tensor(m), -2.5)
    assert_same(x, tx)
    # in the graph, with a 0-d value tensor that requires grad
    leaf, tleaf = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    val, tval = md.tensor(0.5, requires_grad=True), torch.tensor(0.5, requires_grad=True)
    y, ty = leaf * 1.5, tleaf * 1.5
    y.masked_fill_(md.tensor(m.astype(np.float32)), val)
    ty.masked_fill_(torch.tensor(m), tval)
    w = randn(3, 4)
    (y * y * md.tensor(w)).sum().backward()
    (ty * ty * torch.tensor(w)).sum().backward()
    assert_same(leaf.grad, tleaf.grad, 1e-4, 1e-5)
    assert_same(val.grad, tval.grad, 1e-4, 1e-5)


def test_masked_fill_in_place_errors():
    with pytest.raises(ValueError, match=r"masked_fill_.*\(2, 3, 4\).*\(3, 4\)"):
        md.zeros((3, 4)).masked_fill_(md.zeros((2, 3, 4)), 1.0)
    with pytest.raises(ValueError, match="masked_fill"):
        md.zeros((3, 4)).masked_fill_(md.zeros((3, 4)), md.zeros((2,)))
    with pytest.raises(RuntimeError, match="masked_fill_.*leaf"):
        md.zeros((3,), requires_grad=True).masked_fill_(md.zeros((3,)), 1.0)


# ---- cumsum_, logical_not_, tril_, triu_, renorm_


@pytest.mark.parametrize(
    "name,args", [("cumsum_", (1,)), ("cumsum_", (-2,)), ("tril_", ()), ("tril_", (-1,)), ("triu_", (1,)),
                  ("triu_", ()), ("renorm_", (2, 0, 1.5)), ("renorm_", (1, 1, 0.5))],
)  # fmt: skip
def test_in_place_forms_match_torch(torch, name, args):
    a = randn(3, 4)
    x, tx = md.tensor(a), torch.tensor(a)
    view = x[1:]
    assert getattr(x, name)(*args) is x
    getattr(tx, name)(*args)
    assert_same(x, tx)
    assert_same(view, tx[1:])  # a view sees the change
    leaf, tleaf = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = leaf * 1.5, tleaf * 1.5
    getattr(y, name)(*args)
    getattr(ty, name)(*args)
    w = randn(3, 4)
    (y * md.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_same(leaf.grad, tleaf.grad, 1e-4, 1e-5)
    with pytest.raises(RuntimeError, match=f"{name}.*leaf"):
        getattr(md.tensor(a, requires_grad=True), name)(*args)


def test_in_place_forms_on_views_and_ints(torch):
    a = randn(4, 4)
    x, tx = md.tensor(a), torch.tensor(a)
    x[1:, 1:].tril_()
    tx[1:, 1:].tril_()
    assert_same(x, tx)
    i = md.tensor(np.array([[1, 2], [3, 4]]))
    i.cumsum_(0)
    assert i.dtype == "int64" and i.numpy().tolist() == [[1, 2], [4, 6]]
    with pytest.raises(TypeError, match="cumsum_"):
        md.zeros((2,)).cumsum_(0, dtype="int64")


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_logical_not_in_place_matches_torch(torch, dtype):
    a = np.array([[1.5, 0.0, -2.0], [0.0, np.nan, 3.0]], dtype=np.float32)
    if dtype == "int64":
        a = np.nan_to_num(a).astype(np.int64)
    x, tx = md.tensor(a), torch.tensor(a)
    assert x.logical_not_() is x
    tx.logical_not_()
    assert x.dtype == dtype
    assert_same(x, tx)


# ---- products and norms


def test_ger_matches_torch(torch):
    check(torch, lambda a, b: a.ger(b), lambda a, b: a.ger(b), [randn(3), randn(4)])
    check(torch, md.ger, torch.ger, [randn(2), randn(5)])


@pytest.mark.parametrize("sa,sb,dim", [((3,), (3,), None), ((4, 3), (4, 3), None), ((3, 5), (3, 5), None),
                                       ((2, 4, 3), (1, 4, 3), -1), ((2, 3, 4), (2, 3, 1), 1),
                                       ((5, 3), (1, 3), 1)])  # fmt: skip
def test_cross_matches_torch(torch, sa, sb, dim):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about the default dim
        check(
            torch,
            lambda a, b: md.cross(a, b, dim=dim),
            lambda a, b: torch.cross(a, b, dim=dim),
            [randn(*sa), randn(*sb)],
        )
        check(torch, lambda a, b: a.cross(b, dim), lambda a, b: a.cross(b, dim), [randn(*sa), randn(*sb)])
    ia, ib = (RNG.integers(-5, 5, s).astype(np.int64) for s in (sa, sb))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(md.cross(md.tensor(ia), md.tensor(ib), dim), torch.cross(torch.tensor(ia), torch.tensor(ib), dim))


def test_cross_errors():
    with pytest.raises(ValueError, match=r"cross.*same number of dimensions.*\(2, 3, 3\).*\(3, 3\)"):
        md.cross(md.zeros((2, 3, 3)), md.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"cross.*no dimension of size 3.*\(4, 4\)"):
        md.cross(md.zeros((4, 4)), md.zeros((4, 4)))
    with pytest.raises(ValueError, match="cross.*dimension 1 must have length 3"):
        md.cross(md.zeros((3, 4)), md.zeros((3, 4)), dim=1)
    with pytest.raises(ValueError, match="cross.*length 3"):
        md.cross(md.zeros((4, 3, 1)), md.zeros((4, 1, 3)))
    with pytest.raises(ValueError, match="cross.*broadcast"):
        md.cross(md.zeros((2, 3)), md.zeros((4, 3)), dim=1)


@pytest.mark.parametrize("p,dim,maxnorm", [(2, 0, 1.0), (1, 1, 2.0), (3, 0, 0.5), (math.inf, 1, 0.7), (0.5, 0, 4.0),
                                           (2, -1, 100.0), (2, 1, 0.0)])  # fmt: skip
def test_renorm_matches_torch(torch, p, dim, maxnorm):
    check(torch, lambda x: md.renorm(x, p, dim, maxnorm), lambda x: torch.renorm(x, p, dim, maxnorm), [randn(3, 4)])
    check(
        torch, lambda x: x.renorm(p=p, dim=dim, maxnorm=maxnorm), lambda x: x.renorm(p, dim, maxnorm), [randn(2, 3, 2)]
    )


def test_renorm_errors():
    with pytest.raises(ValueError, match=r"renorm.*2 dimensions.*\(3,\)"):
        md.renorm(md.zeros((3,)), 2, 0, 1.0)
    with pytest.raises(ValueError, match="renorm.*maxnorm"):
        md.renorm(md.zeros((3, 2)), 2, 0, -1.0)
    for p in (0, -1):
        with pytest.raises(ValueError, match="renorm.*non-positive"):
            md.renorm(md.zeros((3, 2)), p, 0, 1.0)
    with pytest.raises(TypeError, match="renorm.*int64"):
        md.renorm(md.tensor(np.ones((2, 2), np.int64)), 2, 0, 1.0)


@pytest.mark.parametrize("p", [2, 1, 3, 0.5, 0, math.inf, -math.inf])
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((2, 1, 3), (4, 1)), ((5,), ())])
def test_dist_matches_torch(torch, p, sa, sb):
    grad = p != 0  # torch's backward of dist(p=0) fails; ours is zero (checked below)
    check(torch, lambda a, b: md.dist(a, b, p), lambda a, b: torch.dist(a, b, p), [randn(*sa), randn(*sb)], grad=grad)
    check(torch, lambda a, b: a.dist(b, p=p), lambda a, b: a.dist(b, p=p), [randn(*sa), randn(*sb)], grad=grad)
    if not grad:
        a = md.tensor(randn(*sa), requires_grad=True)
        md.dist(a, md.tensor(randn(*sb)), p).backward()
        assert not a.grad.numpy().any()


def test_dist_at_zero_distance_has_torch_gradient(torch):
    a = randn(4)
    check(torch, lambda x, y: md.dist(x, y), lambda x, y: torch.dist(x, y), [a, a.copy()])
    with pytest.raises(TypeError, match="dist.*int64"):
        md.dist(md.tensor(np.array([1, 2])), md.tensor(np.array([1, 3])))
    with pytest.raises(ValueError, match=r"dist.*\(3,\).*\(4,\)"):
        md.dist(md.zeros((3,)), md.zeros((4,)))


# ---- order statistics: msort, kthvalue, mode


def test_msort_matches_torch(torch):
    check(torch, md.msort, torch.msort, [randn(5, 3)])
    check(torch, lambda x: x.msort(), lambda x: x.msort(), [randn(6)])
    check(torch, md.msort, torch.msort, [randn()])
    a = np.array([[3, 1], [1, 2], [2, 0]], dtype=np.int64)
    assert_same(md.msort(md.tensor(a)), torch.msort(torch.tensor(a)))


def _distinct(*shape):
    """Values without ties (so every position is determined), shuffled."""
    return np.asarray(RNG.permutation(int(np.prod(shape))).reshape(shape) * 0.37 - 3.0, dtype=np.float32)


@pytest.mark.parametrize("shape,k,dim,keepdim", [((7,), 1, -1, False), ((7,), 7, 0, True), ((3, 5), 3, 1, False),
                                                 ((4, 5), 2, 0, True), ((2, 3, 4), 4, -1, False),
                                                 ((), 1, 0, False)])  # fmt: skip
def test_kthvalue_matches_torch(torch, shape, k, dim, keepdim):
    a = _distinct(*shape)
    check(torch, lambda x: md.kthvalue(x, k, dim, keepdim), lambda x: torch.kthvalue(x, k, dim, keepdim), [a])
    out = check(torch, lambda x: x.kthvalue(k, dim=dim, keepdim=keepdim), lambda x: x.kthvalue(k, dim, keepdim), [a])
    assert md.kthvalue(md.tensor(a), k, dim).values is not None and len(out) == 2


def test_kthvalue_ties_nan_and_ints(torch):
    a = np.array([3.0, 1.0, 3.0, 1.0, 2.0], dtype=np.float32)  # small: torch's ties follow a stable sort
    for k in range(1, 6):
        got, want = md.tensor(a).kthvalue(k), torch.tensor(a).kthvalue(k)
        assert (got.values.item(), got.indices.item()) == (want.values.item(), want.indices.item())
        assert isinstance(got, tuple) and got._fields == ("values", "indices")
    n = np.array([3.0, np.nan, 1.0], dtype=np.float32)
    got, want = md.tensor(n).kthvalue(3), torch.tensor(n).kthvalue(3)
    assert math.isnan(got.values.item()) and got.indices.item() == want.indices.item() == 1
    i = np.array([[5, 1, 4], [2, 9, 7]], dtype=np.int64)
    got, want = md.kthvalue(md.tensor(i), 2), torch.kthvalue(torch.tensor(i), 2)
    assert_same(got.values, want.values)
    assert_same(got.indices, want.indices)


def test_kthvalue_errors():
    with pytest.raises(IndexError, match=r"kthvalue.*k=4.*\(2, 3\)"):
        md.kthvalue(md.zeros((2, 3)), 4)
    with pytest.raises(IndexError, match="kthvalue"):
        md.zeros((2, 3)).kthvalue(0)
    with pytest.raises(IndexError, match="kthvalue"):
        md.zeros((2, 3)).kthvalue(1, dim=2)


@pytest.mark.parametrize("shape,dim,keepdim,high", [((6,), -1, False, 3), ((4, 9), 1, False, 4), ((9, 4), 0, True, 3),
                                                    ((2, 3, 16), -1, False, 5), ((3, 5), 0, False, 100),
                                                    ((), 0, False, 2), ((0, 4), 1, False, 2)])  # fmt: skip
def test_mode_matches_torch(torch, shape, dim, keepdim, high):
    a = np.asarray(RNG.integers(0, high, shape) - 1.0, dtype=np.float32)
    check(torch, lambda x: md.mode(x, dim, keepdim), lambda x: torch.mode(x, dim, keepdim), [a])
    out = check(torch, lambda x: x.mode(dim=dim, keepdim=keepdim), lambda x: x.mode(dim, keepdim), [a])
    assert out[1].dtype == "int64"
    ints = a.astype(np.int64)
    got, want = md.tensor(ints).mode(dim, keepdim), torch.tensor(ints).mode(dim, keepdim)
    assert_same(got.values, want.values)
    assert_same(got.indices, want.indices)


def test_mode_of_long_slices_has_torch_values_and_a_matching_index(torch):
    a = RNG.integers(0, 6, (5, 200)).astype(np.float32)
    got, want = md.mode(md.tensor(a)), torch.mode(torch.tensor(a))
    assert_same(got.values, want.values)  # the index of equal elements is implementation-defined in torch
    np.testing.assert_array_equal(np.take_along_axis(a, got.indices.numpy()[:, None], 1)[:, 0], want.values.numpy())


def test_mode_errors():
    with pytest.raises(IndexError, match=r"mode.*dim 0.*\(0, 3\)"):
        md.mode(md.zeros((0, 3)), 0)
    with pytest.raises(IndexError, match="mode"):
        md.zeros((2, 3)).mode(2)


# ---- apply_, map_, memory


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_apply_and_map_match_torch(torch, dtype):
    a = np.array([[1.0, -2.5, 3.0], [0.5, 4.0, -1.0]], dtype=np.float32)
    b = np.array([2.0, -1.0, 0.5], dtype=np.float32)
    if dtype == "int64":
        a, b = a.astype(np.int64), b.astype(np.int64)
    x, tx = md.tensor(a), torch.tensor(a)
    seen, tseen = [], []
    assert x.apply_(lambda v: seen.append(type(v)) or v * 2.7 - 1) is x
    tx.apply_(lambda v: tseen.append(type(v)) or v * 2.7 - 1)
    assert seen == tseen
    assert_same(x, tx)
    assert x.map_(md.tensor(b), lambda u, w: u * w + 1) is x
    tx.map_(torch.tensor(b), lambda u, w: u * w + 1)
    assert_same(x, tx)
    view = x[1]
    view.apply_(lambda v: 0)
    assert x.numpy()[1].tolist() == [0, 0, 0]


def test_apply_and_map_refuse_grad_and_bad_results(torch):
    y = md.tensor([1.0, 2.0], requires_grad=True) * 1.0
    for call in (lambda: y.apply_(abs), lambda: md.zeros((2,)).map_(y, max), lambda: y.map_(md.zeros((2,)), max)):
        with pytest.raises(RuntimeError, match="requires grad"):
            call()
    with md.no_grad(), pytest.raises(RuntimeError, match="apply_.*requires grad"):
        md.tensor([1.0], requires_grad=True).apply_(abs)  # as torch, also under no_grad
    with pytest.raises(TypeError, match="apply_.*NoneType"):
        md.zeros((2,)).apply_(lambda v: None)
    with pytest.raises(TypeError, match="map_.*dtype"):
        md.zeros((2,)).map_(md.tensor(np.array([1, 2])), max)
    with pytest.raises(ValueError, match=r"map_.*\(2,\).*\(3,\)"):
        md.zeros((2,)).map_(md.zeros((3,)), max)
    with pytest.raises(ValueError, match=r"map_.*\(2, 2\).*\(2,\)"):
        md.zeros((2,)).map_(md.zeros((2, 2)), max)
    t = torch.zeros(2)
    with pytest.raises(TypeError):
        t.apply_(lambda v: None)  # torch refuses it too


def test_memory_methods_match_torch(torch):
    x, tx = md.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])
    assert x.is_shared() is tx.is_shared() is False
    assert x.share_memory_() is x
    assert x.is_pinned() is tx.is_pinned() is False
    if not md.cuda.is_available() and not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="accelerator"):
            x.pin_memory()
        with pytest.raises(RuntimeError):
            tx.pin_memory()
    elif md.cuda.is_available():
        p = x.pin_memory()
        assert p is not x and p.numpy().tolist() == [1.0, 2.0] and not p.is_pinned()


# ---- torch-free checks (NumPy)


def test_unfold_without_torch():
    a = RNG.standard_normal((3, 10)).astype(np.float32)
    size, step = 4, 3
    want = np.stack([a[:, i : i + size] for i in range(0, 10 - size + 1, step)], axis=1)
    x = md.tensor(a, requires_grad=True)
    out = x.unfold(1, size, step)
    np.testing.assert_array_equal(out.detach().numpy(), want)
    out.sum().backward()  # each element's gradient is the number of windows holding it
    counts = np.zeros(10, np.float32)
    for i in range(0, 10 - size + 1, step):
        counts[i : i + size] += 1
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(counts, (3, 10)))


def test_index_put_and_split_without_torch():
    a = np.zeros((3, 4), np.float32)
    idx = (np.array([0, 2, 0]), np.array([1, 3, 1]))
    want = a.copy()
    np.add.at(want, idx, [1.0, 2.0, 3.0])
    got = md.tensor(a).index_put((_index(idx[0]), _index(idx[1])), md.tensor([1.0, 2.0, 3.0]), accumulate=True)
    np.testing.assert_array_equal(got.numpy(), want)
    b = np.arange(10, dtype=np.float32)
    for how in (3, [2, 7], [8, 3]):
        pieces = md.tensor_split(md.tensor(b), how)
        np_pieces = np.array_split(b, how) if isinstance(how, int) else np.split(b, how) if how[0] < how[1] else None
        if np_pieces is None:  # a decreasing index: an empty piece, then the rest from it
            np_pieces = [b[: how[0]], b[how[0] : how[1]], b[how[1] :]]
        assert [p.numpy().tolist() for p in pieces] == [p.tolist() for p in np_pieces]


def test_order_statistics_and_cross_without_torch():
    a = RNG.standard_normal((4, 6)).astype(np.float32)
    got = md.kthvalue(md.tensor(a), 3, dim=1)
    np.testing.assert_array_equal(got.values.numpy(), np.sort(a, axis=1)[:, 2])
    np.testing.assert_array_equal(got.indices.numpy(), np.argsort(a, axis=1, kind="stable")[:, 2])
    m = md.mode(md.tensor([[2.0, 1.0, 2.0, 1.0, 5.0], [7.0, 7.0, 0.0, 7.0, 0.0]]))
    assert m.values.numpy().tolist() == [1.0, 7.0] and m.indices.numpy().tolist() == [3, 3]
    u, v = RNG.standard_normal((5, 3)).astype(np.float32), RNG.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(
        md.cross(md.tensor(u), md.tensor(v), dim=1).numpy(), np.cross(u, v), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(md.dist(md.tensor(u), md.tensor(v)).item(), np.linalg.norm(u - v), rtol=1e-5)
    r = md.renorm(md.tensor(u), 2, 0, 1.0).numpy()
    norms = np.linalg.norm(u, axis=1)
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), np.minimum(norms, 1.0), rtol=1e-5)


# ---- in-place geometry: t_, transpose_, swapdims_, swapaxes_, squeeze_, unsqueeze_, as_strided_

GEOMETRY_CHAINS = {
    "t_": lambda y: y.t_(),
    "transpose_ swapdims_": lambda y: y.unsqueeze_(0).transpose_(0, 2).swapdims_(1, 2),
    "swapaxes_ squeeze_": lambda y: y.unsqueeze_(1).swapaxes_(0, 2).squeeze_(),
    "squeeze_ dims": lambda y: y.unsqueeze_(0).unsqueeze_(2).squeeze_((0, 2)),
    "as_strided_ dense": lambda y: y.as_strided_((3, 2), (1, 3), 0),
}


@pytest.mark.parametrize("name", list(GEOMETRY_CHAINS))
def test_geometry_in_place_matches_torch(torch, name):
    a = randn(2, 3)
    out = []
    for lib in (md, torch):
        x = lib.tensor(a, requires_grad=True)
        y = x * 1
        v = y[0]  # a view taken before: it keeps its own geometry
        r = GEOMETRY_CHAINS[name](y)
        assert r is y, "returns the tensor itself"
        y.mul_(2)  # an in-place change after it reaches v, and the gradient
        w = lib.tensor(np.arange(y.numel(), dtype=np.float32).reshape(tuple(y.shape)))
        ((y * w).sum() + v.sum()).backward()
        out.append((tuple(y.shape), tuple(y.stride()), y.detach().numpy(), v.detach().numpy(), x.grad.numpy()))
    (ms, mst, my, mv, mg), (ts, tst, ty, tv, tg) = out
    assert (ms, mst) == (ts, tst)
    for got, want in ((my, ty), (mv, tv), (mg, tg)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_geometry_in_place_of_a_view_changes_its_base_through_it(torch):
    a = randn(3, 4)
    out = []
    for lib in (md, torch):
        x = lib.tensor(a, requires_grad=True)
        y = x * 1
        v = y[1:, :2]
        v.t_()
        assert v._is_view() and tuple(v.shape) == (2, 2)
        v.add_(lib.tensor(np.array([[10.0, 20.0], [30.0, 40.0]], np.float32)))
        (y * lib.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))).sum().backward()
        out.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1])


def test_geometry_in_place_refusals_and_no_grad():
    x = md.tensor(randn(2, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="t_: a leaf tensor that requires grad"):
        x.t_()
    with pytest.raises(RuntimeError, match="squeeze_: .* a view of a leaf"):
        x[0:1].squeeze_(0)
    with md.no_grad():  # outside the graph a leaf may change its geometry (as torch's)
        x.t_()
    assert tuple(x.shape) == (3, 2) and x.is_leaf and x.requires_grad
    with pytest.raises(IndexError, match="unsqueeze"):
        md.ones(2).unsqueeze_(5)
    t = md.tensor(np.arange(6, dtype=np.float32))
    t.as_strided_((2, 2), (1, 2), 1)  # numpy oracle: the elements at offset 1 + i + 2 j
    np.testing.assert_array_equal(t.numpy(), np.array([[1.0, 3.0], [2.0, 4.0]], np.float32))


def test_copies_of_more_than_eight_dims():
    # the native copy takes 8 dims once merged; beyond that it copies one index of the first dim at a time
    # (clone and contiguous of 9 dims raised; repeat of 9 dims by counts above 1 recursed without end)
    a = np.arange(2**8 * 3, dtype=np.float32).reshape([2] * 8 + [3])
    x = md.tensor(a)
    np.testing.assert_array_equal(x.clone().numpy(), a)
    np.testing.assert_array_equal(x.permute(*reversed(range(9))).contiguous().numpy(), a.transpose())
    np.testing.assert_array_equal(x.transpose(0, 8).clone().numpy(), a.swapaxes(0, 8))
    for reps in ([1] * 8 + [2], [2] * 9, [2] * 10, [1] * 9):
        r = x.repeat(*reps)
        np.testing.assert_array_equal(r.numpy(), np.tile(a, reps))
        assert not r._is_view()
    g = md.tensor(a, requires_grad=True)
    g.transpose(0, 8).repeat(*([1] * 8 + [2])).sum().backward()
    np.testing.assert_array_equal(g.grad.numpy(), np.full(a.shape, 2.0, np.float32))


@pytest.mark.parametrize(
    "shape, size",
    [((2, 3, 4), (3, 1)), ((2, 3, 4), ((1, 3, 1),)), ((2, 3, 4), (4,)), ((2, 3, 4), ((),)), ((5, 1), (1, 1)),
     ((0, 3), (1, 3)), ((3,), (3,))],
)  # fmt: skip
def test_sum_to_size_matches_torch(torch, shape, size):
    out = check(torch, lambda t: t.sum_to_size(*size), lambda t: t.sum_to_size(*size), [RNG.standard_normal(shape)])
    assert out[0].shape == tuple(torch.zeros(shape).sum_to_size(*size).shape)


def test_sum_to_size_of_the_same_size_is_the_tensor_and_bad_sizes_raise():
    x = md.randn(2, 3)
    assert x.sum_to_size(2, 3) is x
    for bad in [(2, 1, 3), (2,), (2, 2)]:
        with pytest.raises(RuntimeError, match=r"sum_to_size: size \[.*\] is not expandable to size \[2, 3\]"):
            x.sum_to_size(*bad)
    with pytest.raises(TypeError, match="missing the size"):
        x.sum_to_size()
    with pytest.raises(TypeError, match="must be ints"):
        x.sum_to_size(2.0, 3)
