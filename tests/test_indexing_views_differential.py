"""Differential tests of indexing and views against torch: values, gradients and shared storage.

Passing tests pin edge cases where minidiff already matches torch; ``xfail(strict=True)`` tests
record real differences (the reason names the file where the cause lies).
"""

import numpy as np
import pytest

import minidiff as md

torch = pytest.importorskip("torch")

SHAPE = (3, 4, 5)


def _data(shape=SHAPE, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _np(t):
    return np.asarray(t.detach().numpy())


def _i(lib, values):
    return lib.tensor(np.asarray(values, dtype=np.int64))


def _check(fn, shape=SHAPE, grad=True):
    """fn(x, lib) on torch and minidiff: the same values, and the same gradient of a weighted sum."""
    a = _data(shape)
    xt, xm = torch.tensor(a, requires_grad=grad), md.tensor(a, requires_grad=grad)
    rt, rm = fn(xt, torch), fn(xm, md)
    if not isinstance(rt, (tuple, list)):
        rt, rm = (rt,), (rm,)
    assert len(rt) == len(rm)
    for t, m in zip(rt, rm):
        assert tuple(t.shape) == tuple(m.shape)
        np.testing.assert_allclose(_np(m), _np(t), rtol=1e-6, atol=1e-6)
    if not grad:
        return
    weights = [_data(tuple(t.shape), seed=i + 7) for i, t in enumerate(rt)]
    sum(((t * torch.tensor(w)).sum() for t, w in zip(rt, weights)), torch.tensor(0.0)).backward()
    sum(((m * md.tensor(w)).sum() for m, w in zip(rm, weights)), md.tensor(0.0)).backward()
    np.testing.assert_allclose(_np(xm.grad), _np(xt.grad), rtol=1e-6, atol=1e-6)


# ---- reads (values and gradients)

READS = {
    "negative ints": lambda x, L: x[-1, -2],
    "steps": lambda x, L: x[::2, 1::3],
    "negative bounds": lambda x, L: x[-2:, :-1],
    "slice past the end": lambda x, L: x[5:10],
    "slice reversed bounds": lambda x, L: x[3:1],
    "huge slice bounds": lambda x, L: x[-100:100:3],
    "None mixed": lambda x, L: x[None, 1, None, :, None],
    "ellipsis middle": lambda x, L: x[0, ..., 2],
    "ellipsis then None": lambda x, L: x[..., None],
    "list with repeats": lambda x, L: x[[0, 2, 0]],
    "negative list": lambda x, L: x[[-1, 0]],
    "NumPy 2-d positions": lambda x, L: x[np.array([[2, 0], [1, 1]])],
    "NumPy int32 positions": lambda x, L: x[np.array([1, 0], dtype=np.int32)],
    "two arrays": lambda x, L: x[_i(L, [0, 2]), _i(L, [1, 3])],
    "arrays broadcast": lambda x, L: x[_i(L, [[0], [2]]), _i(L, [1, 3, 0])],
    "arrays separated by a slice": lambda x, L: x[_i(L, [0, 2]), :, _i(L, [1, 3])],
    "2-d arrays separated by a slice": lambda x, L: x[_i(L, [[0], [2]]), 1:3, _i(L, [[1, 2, 3]])],
    "arrays separated by None": lambda x, L: x[_i(L, [0, 2]), None, _i(L, [1, 3])],
    "adjacent arrays in the middle": lambda x, L: x[:, _i(L, [0, 2]), _i(L, [1, 3])],
    "int separating arrays": lambda x, L: x[_i(L, [0, 2]), 1, _i(L, [1, 3])],
    "int then slice then array": lambda x, L: x[1, :, _i(L, [1, 3])],
    "array with step": lambda x, L: x[_i(L, [0, 2]), ::2],
    "array after ellipsis": lambda x, L: x[..., _i(L, [0, 1])],
    "0-d int64 index": lambda x, L: x[L.tensor(1)],
    "0-d int64 with array": lambda x, L: x[L.tensor(1), _i(L, [0, 2])],
    "empty int64 index": lambda x, L: x[_i(L, np.zeros(0, np.int64))],
    "empty 2-d index": lambda x, L: x[_i(L, np.zeros((2, 0), np.int64))],
    "empty lists separated": lambda x, L: x[[], :, []],
    "duplicate pairs": lambda x, L: x[_i(L, [0, 0, 2]), _i(L, [1, 1, 1])],
    "NumPy bool": lambda x, L: x[np.array([True, False, True])],
    "NumPy bool in dim 1": lambda x, L: x[:, np.array([True, False, True, False])],
    "bool list": lambda x, L: x[[True, False, True]],
    "comparison mask": lambda x, L: x[x > 0],
    "mask with fewer dims": lambda x, L: x[x[:, :, 0] > 0],
    "2-d mask then int": lambda x, L: x[x[:, :, 0] > 0, 2],
    "int then 2-d mask": lambda x, L: x[1, x[0] > 0],
    "None then mask": lambda x, L: x[None, x[:, 0, 0] > 0],
    "mask, ellipsis, mask": lambda x, L: x[x[:, 0, 0] > 0, ..., x[0, 0] > 0],
    "all-false mask": lambda x, L: x[x > 100],
}


@pytest.mark.parametrize("name", list(READS))
def test_read_matches_torch(name):
    _check(READS[name])


ERRORS = {
    "int out of range": lambda x, L: x[3],
    "negative int out of range": lambda x, L: x[-4],
    "too many indices": lambda x, L: x[0, 0, 0, 0],
    "array out of range": lambda x, L: x[_i(L, [3])],
    "negative array out of range": lambda x, L: x[_i(L, [-4])],
    "list out of range": lambda x, L: x[[0, 5]],
    "mask of the wrong length": lambda x, L: x[np.array([True, False])],
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_index_errors_are_index_errors(name):
    for lib, x in ((torch, torch.tensor(_data())), (md, md.tensor(_data()))):
        with pytest.raises(IndexError):
            ERRORS[name](x, lib)


def test_negative_step_refused_as_torch():
    with pytest.raises(ValueError):
        torch.tensor(_data())[::-1]
    with pytest.raises(ValueError):
        md.tensor(_data())[::-1]


def test_nested_list_indexes_as_numpy():
    # torch 2.x still reads x[[[0, 1], [2, 0]]] as x[[0, 1], [2, 0]] (deprecated); minidiff follows
    # NumPy (and torch's announced behaviour): one 2-d index array
    a = _data()
    np.testing.assert_array_equal(_np(md.tensor(a)[[[0, 1], [2, 0]]]), a[np.array([[0, 1], [2, 0]])])


# ---- writes outside the graph


def _value(shape):
    return lambda x, L: L.tensor(np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 100)


WRITES = {
    "negative ints": (lambda x, L: (-1, -1), lambda x, L: 7.0),
    "steps, broadcast": (lambda x, L: (slice(None, None, 2), slice(1, None, 2)), _value((1, 5))),
    "None": (lambda x, L: (None, 0), _value((4, 5))),
    "ellipsis": (lambda x, L: (Ellipsis, 0), _value((4,))),
    "list": (lambda x, L: [0, 2], _value((2, 4, 5))),
    "list, broadcast": (lambda x, L: [0, 2], _value((5,))),
    "duplicate rows": (lambda x, L: _i(L, [0, 0]), lambda x, L: 3.0),
    "duplicates take the last": (lambda x, L: (_i(L, [0, 0, 1]), 0, 0), _value((3,))),
    "two arrays": (lambda x, L: (_i(L, [0, 2]), _i(L, [1, 3])), _value((2, 5))),
    "arrays separated by a slice": (lambda x, L: (_i(L, [0, 2]), slice(None), _i(L, [1, 3])), _value((2, 4))),
    "separated, broadcast": (lambda x, L: (_i(L, [0, 2]), slice(None), _i(L, [1, 3])), _value((4,))),
    "adjacent arrays": (lambda x, L: (slice(None), _i(L, [0, 2]), _i(L, [1, 3])), _value((3, 2))),
    "int, slice, array": (lambda x, L: (1, slice(None), _i(L, [1, 3])), _value((4, 2))),
    "NumPy positions": (lambda x, L: np.array([2, 1]), lambda x, L: -1.0),
    "NumPy bool": (lambda x, L: np.array([True, False, True]), lambda x, L: -1.0),
    "bool list": (lambda x, L: [True, False, True], lambda x, L: 2.0),
    "comparison mask": (lambda x, L: x > 0, lambda x, L: 0.0),
    "mask, values": (
        lambda x, L: x > 0,
        lambda x, L: L.tensor(np.arange(int((x > 0).sum().item()), dtype=np.float32)),
    ),
    "mask with fewer dims": (lambda x, L: x[:, :, 0] > 0, _value((5,))),
    "mask in dim 1": (lambda x, L: (slice(None), x[0, :, 0] > 0), lambda x, L: 9.0),
    "empty index": (lambda x, L: _i(L, np.zeros(0, np.int64)), lambda x, L: 9.0),
    "negative array": (lambda x, L: _i(L, [-1]), lambda x, L: 9.0),
    "0-d value": (lambda x, L: slice(None), lambda x, L: L.tensor(3.0)),
    "ellipsis only": (lambda x, L: Ellipsis, lambda x, L: 2.0),
    "array, leading 1s in the value": (lambda x, L: (_i(L, [0, 1]), 0), _value((1, 2, 5))),
}


@pytest.mark.parametrize("name", list(WRITES))
def test_write_matches_torch(name):
    key, value = WRITES[name]
    xt, xm = torch.tensor(_data()), md.tensor(_data())
    xt[key(xt, torch)] = value(xt, torch)
    xm[key(xm, md)] = value(xm, md)
    np.testing.assert_array_equal(_np(xm), _np(xt))


@pytest.mark.parametrize("name", ["array out of range", "int out of range"])
def test_write_out_of_range_is_index_error(name):
    key = (lambda L: _i(L, [3])) if name == "array out of range" else (lambda L: 3)
    for lib in (torch, md):
        with pytest.raises(IndexError):
            lib.zeros(*SHAPE)[key(lib)] = 1.0


def test_compound_assignment_through_indices():
    for stmt in ("x[:, ::2] += 1", "x[L.tensor([0, 0])] += 1", "x[x == 0] += 2", "x[[1, 0], [2, 2]] -= 1"):
        xt, xm = torch.zeros(2, 3), md.zeros(2, 3)
        exec(stmt, {"x": xt, "L": torch})
        exec(stmt, {"x": xm, "L": md})
        np.testing.assert_array_equal(_np(xm), _np(xt), err_msg=stmt)


def test_overlapping_self_assignment_reads_before_writing():
    # torch refuses x[1:] = x[:-1]; minidiff gives NumPy's result (the source read first)
    a = np.arange(6.0, dtype=np.float32)
    x = md.tensor(a)
    x[1:] = x[:-1]
    b = a.copy()
    b[1:] = b[:-1].copy()
    np.testing.assert_array_equal(_np(x), b)


# ---- writes inside the graph


def test_setitem_in_graph_gradients():
    def run(L):
        x = L.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4), requires_grad=True)
        w = L.tensor(np.arange(4.0, dtype=np.float32) + 1, requires_grad=True)
        y = x * 1
        y[1] = w * 2
        y[_i(L, [0, 2]), 1:3] = w[:2]
        y[y > 5] = w[3]
        (y * L.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4))).sum().backward()
        return y, x.grad, w.grad

    for m, t in zip(run(md), run(torch)):
        np.testing.assert_allclose(_np(m), _np(t), rtol=1e-6)


def test_setitem_in_graph_leading_ones_through_an_index_array():
    def run(L):
        x = L.tensor(_data((3, 4)), requires_grad=True)
        v = L.tensor(np.ones((1, 1, 4), np.float32), requires_grad=True)
        y = x * 1
        y[_i(L, [1])] = v
        (y * L.tensor(_data((3, 4), seed=3))).sum().backward()
        return y, x.grad, v.grad

    for m, t in zip(run(md), run(torch)):
        np.testing.assert_allclose(_np(m), _np(t), rtol=1e-6)


def test_setitem_under_no_grad_keeps_the_leaf_gradient():
    def run(L):
        x = L.tensor(_data((3, 4)), requires_grad=True)
        with L.no_grad():
            x[0] = 1.0
            x[x > 0.5] = 0.0
            x[_i(L, [2])] = 3.0
        (x * 2).sum().backward()
        return x, x.grad

    for m, t in zip(run(md), run(torch)):
        np.testing.assert_array_equal(_np(m), _np(t))


@pytest.mark.parametrize("value_shape", [(2,), ()])
def test_setitem_duplicate_index_value_gradient(value_shape):
    grads = []
    for L in (torch, md):
        v = L.tensor(np.full(value_shape, 2.0, np.float32), requires_grad=True)
        y = L.zeros(3)
        y = y * 1.0  # a non-leaf: the write joins the graph
        y[_i(L, [0, 0])] = v
        (y * L.tensor([3.0, 5.0, 7.0])).sum().backward()
        grads.append(_np(v.grad))
    np.testing.assert_array_equal(grads[1], grads[0])  # torch: [1, 1] and 2.0


# ---- basic setitem: value conversions torch makes


@pytest.mark.parametrize("key,value_shape", [(0, (1, 3)), ((slice(None), 0), (1, 2)), ((None, 0), (1, 1, 3))])
def test_basic_setitem_value_with_leading_ones(key, value_shape):
    xt, xm = torch.zeros(2, 3), md.zeros(2, 3)
    xt[key] = torch.ones(*value_shape)
    xm[key] = md.ones(*value_shape)
    np.testing.assert_array_equal(_np(xm), _np(xt))


@pytest.mark.parametrize("direction", ["int64 into float32", "float32 into int64"])
def test_basic_setitem_casts_the_value(direction):
    out = []
    for L in (torch, md):
        if direction == "int64 into float32":
            x, v = L.zeros(2, 3), L.tensor([1, 2, 3])
        else:
            x, v = L.zeros(2, 3, dtype=L.int64), L.tensor([1.5, 2.5, -3.5])
        x[0] = v
        out.append(_np(x))
    np.testing.assert_array_equal(out[1], out[0])


# ---- torch's other spellings of keys: Python bools, several ellipses, ranges and inner tuples

KEYS = {
    "True": lambda x, L: x[True],
    "False": lambda x, L: x[False],
    "None, True, int": lambda x, L: x[None, True, 0],
    "True after ellipsis": lambda x, L: x[..., True],
    "False among slices": lambda x, L: x[1:, False, None],
    "False after ellipsis": lambda x, L: x[0, ..., False],
    "two ellipses": lambda x, L: x[..., ...],
    "int between ellipses": lambda x, L: x[..., 0, ...],
    "three ellipses": lambda x, L: x[0, ..., 1, ..., ...],
    "range": lambda x, L: x[range(2)],
    "range of a later dim": lambda x, L: x[0, range(1, 3)],
    "inner tuple": lambda x, L: x[(0, 1),],
    "inner tuples, two dims": lambda x, L: x[(1, 0), (2, 1)],
    "inner tuple after ellipsis": lambda x, L: x[..., (0, 2)],
}


@pytest.mark.parametrize("name", list(KEYS))
def test_torch_key_spellings_read(name):
    _check(KEYS[name], grad="False" not in name)


@pytest.mark.parametrize("name", list(KEYS))
def test_torch_key_spellings_write(name):
    out = []
    for L in (torch, md):
        x = L.tensor(_data(SHAPE))
        KEYS[name](x, L)  # the read is valid
        key = _key_of(KEYS[name])
        x[key] = -1.0
        out.append(_np(x))
    np.testing.assert_array_equal(out[1], out[0])


def _key_of(read):
    """The key a KEYS entry reads with (it indexes a recorder once)."""

    class Recorder:
        def __getitem__(self, key):
            return key

    return read(Recorder(), None)


@pytest.mark.parametrize(
    "key",
    ["True, ..., False", "True, True", "0, True, True, 1", "True, 0, True", "1:, False, False", "True, ..., True",
     "None, True, 1, True"],
)  # fmt: skip
def test_several_bools_in_a_key_as_torch(key):
    _check(lambda x, L: eval(f"x[{key}]", {"x": x}), grad="False" not in key)


def test_bools_with_index_lists_are_refused_clearly():
    x = md.tensor(_data(SHAPE))
    with pytest.raises(IndexError, match="several True/False with index lists"):
        x[True, [0, 1], True]
    with pytest.raises(IndexError, match="False together with index lists"):
        x[False, [0, 1]]


# ---- views share storage

VIEWS = [
    "x[1:]", "x[:, 1]", "x[0]", "x[..., ::2]", "x.transpose(0, 2)", "x.permute(2, 0, 1)", "x.unsqueeze(1)",
    "x[0:1].squeeze(0)", "x.narrow(2, 1, 2)", "x.view(6, 4)", "x.reshape(6, 4)", "x.view(-1)", "x.flatten()",
    "x.unbind(1)[1]", "x.split(2, dim=2)[1]", "x.chunk(2, dim=2)[1]", "x.split([1, 3], dim=2)[1]",
    "x.movedim(0, 2)", "x.mT", "x.swapaxes(0, 1)", "x[None]", "x[...]", "x.unflatten(2, (2, 2))", "x.detach()",
    "x[0].t()", "x.view(6, 2, 2).permute(2, 0, 1)[1]",
]  # fmt: skip


@pytest.mark.parametrize("expr", VIEWS)
def test_view_write_reaches_base_and_back(expr):
    for write_view in (True, False):
        out = []
        for L in (torch, md):
            x = L.tensor(np.arange(24.0, dtype=np.float32).reshape(2, 3, 4))
            v = eval(expr, {"x": x})
            if write_view:
                v.add_(100)
            else:
                x.mul_(2)
            out.append((_np(x).copy(), _np(v).copy()))
        np.testing.assert_array_equal(out[1][0], out[0][0], err_msg=expr)
        np.testing.assert_array_equal(out[1][1], out[0][1], err_msg=expr)


@pytest.mark.parametrize("expr", ["x.transpose(0, 1).contiguous()", "x.clone()", "x[[0]]", "x[x > -1]", "x.flip(0)"])
def test_copies_do_not_share(expr):
    x = md.tensor(np.arange(24.0, dtype=np.float32).reshape(2, 3, 4))
    c = eval(expr, {"x": x})
    before = _np(c).copy()
    x.mul_(2)
    np.testing.assert_array_equal(_np(c), before)


def test_setitem_through_chained_views():
    for stmt in ("x[0][1] = 4.0", "x.T[0] = 4.0", "x[:, 1][0] = 9.0", "x.view(-1)[::2] = 1.0", "x[0].fill_(3)"):
        xt, xm = torch.zeros(2, 3), md.zeros(2, 3)
        exec(stmt, {"x": xt})
        exec(stmt, {"x": xm})
        np.testing.assert_array_equal(_np(xm), _np(xt), err_msg=stmt)


def test_view_written_under_no_grad_changes_the_graph_input():
    def run(L):
        x = L.tensor(_data((3, 4)), requires_grad=True)
        y = x * 1
        with L.no_grad():
            y[1:].mul_(0)
        (y * y).sum().backward()
        return y, x.grad

    for m, t in zip(run(md), run(torch)):
        np.testing.assert_allclose(_np(m), _np(t), rtol=1e-6)


def test_diagonal_is_a_view():
    for L in (torch, md):
        x = L.zeros(3, 3)
        x.diagonal().fill_(1)
        np.testing.assert_array_equal(_np(x), np.eye(3, dtype=np.float32))


@pytest.mark.parametrize(
    "expr",
    ["x.transpose(0, 1).view(4, 3, 5)", "x.transpose(1, 2).view(3, 5, 2, 2)", "x[:, 1:3].view(3, 2, 5)",
     "x[::2].view(2, 20)", "x.transpose(0, 2).view(5, 2, 2, 3)", "x.transpose(0, 1)[:, :, None].view(4, 3, 1, 5)"],
)  # fmt: skip
def test_view_of_non_contiguous_with_compatible_strides(expr):
    _check(lambda x, L: eval(expr, {"x": x}))


@pytest.mark.parametrize(
    "expr",
    ["x.diagonal()", "x.diagonal(1)", "x.diagonal(-2)", "x.diagonal(0, 1, 2)", "x.diagonal(2, -1, 0)",
     "x.diagonal(-1, 2, 1)", "x.diagonal(7)", "x.diagonal(-9, 0, 2)", "x.transpose(0, 2).diagonal(1)",
     "x[:, ::2].diagonal(0, 0, 2)", "md_or_torch.diagonal(x, 1, 1, 2)"],
)  # fmt: skip
def test_diagonal_values_gradients_and_views(expr):
    _check(lambda x, L: eval(expr, {"x": x, "md_or_torch": L}))
    for L in (torch, md):  # a view: a write through it changes x
        x = L.zeros(*SHAPE)
        eval(expr, {"x": x, "md_or_torch": L}).add_(1)
        if L is torch:
            want = x.numpy()
        else:
            np.testing.assert_array_equal(x.numpy(), want)


AS_STRIDED = [((2, 2), (1, 2), None), ((3,), (5,), 1), ((2, 3), (6, 2), 4), ((0, 4), (1, 1), 7), ((), (), 11),
              ((2, 2, 2), (20, 5, 1), 2)]  # fmt: skip


@pytest.mark.parametrize("size, stride, offset", AS_STRIDED)
def test_as_strided(size, stride, offset):
    _check(lambda x, L: x.as_strided(size, stride, offset) if offset is not None else x.as_strided(size, stride))
    for L in (torch, md):
        x = L.tensor(_data())
        v = x.as_strided(size, stride, offset)
        assert v.storage_offset() == (0 if offset is None else offset) and tuple(v.stride()) == stride


def test_as_strided_refusals():
    x = md.tensor(_data())
    with pytest.raises(ValueError, match="as_strided: size"):
        x.as_strided((100,), (1,))  # past the storage
    with pytest.raises(ValueError, match="as_strided: negative"):
        x.as_strided((2,), (-1,), 5)


# as_strided's gradient for any geometry, as torch's: elements the view reads twice add up, an
# input that reads a slot more than once (expand) shares it out, slots outside the input drop out
AS_STRIDED_GRADS = {
    "reads twice": lambda x, L: x.as_strided((3, 3), (1, 1)),
    "transposed input": lambda x, L: x.transpose(0, 1).as_strided((2, 5), (1, 3), 2),
    "sliced input, view past it": lambda x, L: x[1:, ::2].as_strided((4, 3), (2, 7), 9),
    "view before the input": lambda x, L: x[1:].as_strided((3, 2), (4, 1), 3),
    "expanded input": lambda x, L: x[:, :1, :1].expand(3, 4, 5).as_strided((2, 3), (0, 20), 0),
    "unfold, overlapping": lambda x, L: x.unfold(2, 3, 1),
    "unfold of a transpose": lambda x, L: x.transpose(1, 2).unfold(1, 2, 2).unfold(0, 2, 1),
}


@pytest.mark.parametrize("name", list(AS_STRIDED_GRADS))
def test_as_strided_gradients_any_geometry(name):
    _check(AS_STRIDED_GRADS[name])


# ---- gather, index_select, take_along_dim, take: repeated indices


def _gather_idx(L):
    return _i(L, np.array([[[4, 4, 0]] * 4] * 3))


GATHERS = {
    "gather repeated": lambda x, L: x.gather(1, _i(L, np.zeros((3, 2, 5), np.int64))),
    "gather dim -1": lambda x, L: L.gather(x, -1, _gather_idx(L)),
    "gather smaller index": lambda x, L: L.gather(x, 0, _i(L, [[[2, 2]]])),
    "index_select repeated": lambda x, L: x.index_select(1, _i(L, [3, 3, 0, 3])),
    "index_select dim -1": lambda x, L: L.index_select(x, -1, _i(L, [4, 4])),
    "index_select empty": lambda x, L: x.index_select(1, _i(L, np.zeros(0, np.int64))),
    "index_select 0-d": lambda x, L: x.index_select(1, L.tensor(2)),
    "take_along_dim repeated": lambda x, L: L.take_along_dim(x, _i(L, [[[1, 1, 1]]]), dim=2),
    "take_along_dim flat": lambda x, L: L.take_along_dim(x, _i(L, [5, 5, 59])),
    "take_along_dim argmax": lambda x, L: L.take_along_dim(x, x.argmax(dim=1, keepdim=True), dim=1),
    "take repeated and negative": lambda x, L: L.take(x, _i(L, [[0, 0], [59, -1]])),
}


@pytest.mark.parametrize("name", list(GATHERS))
def test_gather_family_matches_torch(name):
    _check(GATHERS[name])


# ---- split, chunk, unbind, movedim and friends

SHAPES = {
    "split uneven": lambda x, L: x.split(2, dim=2),
    "split sizes with 0": lambda x, L: x.split([1, 0, 4], dim=2),
    "split larger than dim": lambda x, L: x.split(10, dim=1),
    "split dim -2": lambda x, L: L.split(x, 3, dim=-2),
    "chunk uneven": lambda x, L: x.chunk(3, dim=2),
    "chunk more than size": lambda x, L: x.chunk(10, dim=2),
    "chunk 5 into 4": lambda x, L: x.chunk(4, dim=2),
    "chunk 6 rows into 4": lambda x, L: x.reshape(6, 10).chunk(4),
    "unbind": lambda x, L: x.unbind(),
    "unbind -1": lambda x, L: L.unbind(x, -1),
    "movedim tuples": lambda x, L: x.movedim((0, 1), (2, 0)),
    "movedim -1": lambda x, L: L.movedim(x, -1, 0),
    "moveaxis": lambda x, L: L.moveaxis(x, 0, -1),
    "narrow negative start": lambda x, L: x.narrow(-1, -3, 2),
    "narrow tensor start": lambda x, L: x.narrow(2, L.tensor(1), 2),
    "squeeze dims tuple": lambda x, L: x[:, :1, :1].squeeze((1, 2)),
    "squeeze non-1": lambda x, L: x.squeeze(0),
    "expand -1": lambda x, L: x[:, :1].expand(-1, 4, -1),
    "expand new dim": lambda x, L: x.expand(2, 3, 4, 5),
    "reshape non-contiguous": lambda x, L: x.transpose(0, 1).reshape(-1),
    "transpose contiguous": lambda x, L: x.transpose(0, 2).contiguous(),
    "diagonal offset": lambda x, L: x.diagonal(1, 0, 2),
    "diagonal negative offset": lambda x, L: x.diagonal(-2, 1, 2),
    "split partly used": lambda x, L: x.split([1, 3], 1)[0] * 2,
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_shape_ops_match_torch(name):
    _check(SHAPES[name])


@pytest.mark.parametrize("op", ["chunk", "split"])
def test_split_chunk_of_empty_dim(op):
    _check((lambda x, L: x[:0].chunk(3)) if op == "chunk" else (lambda x, L: x[:, :0].split(2, 1)), grad=False)
