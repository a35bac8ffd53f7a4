"""Tensor basics against torch: creation (tensor/as_tensor/from_numpy, *_like, arange, linspace,
logspace, eye, randint, randperm, full), conversions (to/type/float/long/bfloat16/bool) and the
Python protocols (iter, contains, format) and metadata (stride, itemsize, nbytes, ndimension)."""

import numpy as np
import pytest

import minidiff as md

torch = pytest.importorskip("torch")


def _same(ours, theirs):
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.dtype == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.float().numpy(), theirs.float().numpy())


# ---- creation


def test_as_tensor_returns_the_tensor_itself_when_nothing_changes():
    t = md.ones(2, requires_grad=True)
    assert md.as_tensor(t) is t
    assert md.as_tensor(t, dtype=md.float32) is t
    assert md.as_tensor(t, dtype=md.bfloat16).dtype == "bfloat16"


def test_from_numpy_takes_only_numpy_arrays():
    with pytest.raises(TypeError, match="np.ndarray"):
        md.from_numpy([1, 2])
    assert md.from_numpy(np.arange(3)).tolist() == [0, 1, 2]


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"])
def test_like_functions_take_dtype_and_requires_grad(name):
    fn = getattr(md, name)
    x = md.zeros(2, 3, dtype=md.bfloat16)
    assert fn(x).dtype == "bfloat16"  # randn_like used to give float32
    assert fn(x, dtype=md.float32).dtype == "float32"
    out = fn(x, dtype=md.float32, requires_grad=True)
    assert out.requires_grad and out.is_leaf and tuple(out.shape) == (2, 3)
    assert fn(x, memory_format=md.preserve_format).shape == (2, 3)
    if name in ("zeros_like", "ones_like", "empty_like"):
        assert fn(x, dtype=md.int64).dtype == "int64"


@pytest.mark.parametrize("name", ["rand_like", "randn_like"])
def test_random_like_refuses_int64_as_torch(name):
    with pytest.raises(TypeError, match="floating"):
        getattr(md, name)(md.zeros(2, dtype=md.int64))


def test_randint_like():
    x = md.zeros(1000)
    r = md.randint_like(x, 3, 6)
    assert r.dtype == "float32" and r.shape == (1000,)
    assert r.min().item() == 3 and r.max().item() == 5
    assert md.randint_like(md.zeros(4, dtype=md.int64), 2).dtype == "int64"


def test_full_refuses_nonfinite_int_fill_and_multi_element_tensor_fill():
    with pytest.raises(ValueError, match="int64"):
        md.full((2,), float("nan"), dtype=md.int64)
    with pytest.raises(TypeError, match="one-element"):
        md.full((2,), md.tensor([3.0, 4.0]))
    assert md.full((2,), md.tensor([3.0])).tolist() == [3.0, 3.0]


@pytest.mark.parametrize("args", [(-3,), (0, -1, 0.25), (1, 0, 0.1), (0, 5, -1), (7, 2, 1)])
def test_arange_bounds_inconsistent_with_step_raise_as_torch(args):
    with pytest.raises(RuntimeError):
        torch.arange(*args)
    with pytest.raises(ValueError, match="inconsistent with step sign"):
        md.arange(*args)


def test_arange_keywords_bfloat16_and_requires_grad():
    _same(md.arange(end=5), torch.arange(end=5))
    _same(md.arange(start=1, end=7, step=2), torch.arange(start=1, end=7, step=2))
    _same(md.arange(1, 7, step=2), torch.arange(1, 7, step=2))
    _same(md.arange(5, dtype=md.bfloat16), torch.arange(5, dtype=torch.bfloat16))
    assert md.arange(5.0, requires_grad=True).requires_grad
    for args in [(5,), (2, 7, 2), (7, 2, -2), (0, 1, 0.25), (2.5, 7), (0, 10, 3)]:
        _same(md.arange(*args), torch.arange(*args))


@pytest.mark.parametrize("start,end,steps", [(0, 10, 4), (-3, 7, 5), (0.5, 9.9, 6), (7, -2, 7), (0, 10, 1), (0, 1, 0)])
def test_linspace_int64_as_torch(start, end, steps):
    _same(md.linspace(start, end, steps, dtype=md.int64), torch.linspace(start, end, steps, dtype=torch.int64))


@pytest.mark.parametrize("start,end,steps,base", [(0, 2, 3, 10.0), (0, 3, 4, 2), (-2, 2, 9, 10.0), (1, -1, 5, 3.0)])
def test_logspace_as_torch(start, end, steps, base):
    ours, theirs = md.logspace(start, end, steps, base=base), torch.logspace(start, end, steps, base=base)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    assert ours.dtype == "float32"


def test_eye_and_randperm_keywords():
    assert md.eye(2, requires_grad=True).requires_grad
    p = md.randperm(5, dtype=md.float32)
    assert p.dtype == "float32" and sorted(p.tolist()) == [0.0, 1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError):
        md.randperm(-1)


def test_randint_keyword_forms():
    assert md.randint(5, size=(3,)).shape == (3,)  # was a pybind11 cast error
    assert md.randint(0, 5, size=(2, 2)).shape == (2, 2)
    r = md.randint(low=2, high=4, size=(500,))
    assert r.dtype == "int64" and r.min().item() == 2 and r.max().item() == 3
    assert md.randint(0, 5, (3,), dtype=md.int64).dtype == "int64"


# ---- conversions


def test_to_takes_positional_non_blocking_and_copy():
    t = md.zeros(2)
    _same(t.to(md.int64, False), torch.zeros(2).to(torch.int64, False))
    _same(t.to("cpu", md.int64, False), torch.zeros(2).to("cpu", torch.int64, False))
    assert t.to(md.zeros(1, dtype=md.int64), True).dtype == "int64"
    assert t.to(md.float32, False, True) is not t


def test_to_returns_the_tensor_itself_when_nothing_changes():
    t = md.zeros(2)
    assert t.to(md.float32) is t and t.to("cpu") is t and t.to(t) is t
    assert t.float() is t and t.cpu() is t and t.contiguous() is t
    assert t.to(md.float32, copy=True) is not t


def test_bfloat16_int64_conversions_as_torch():
    values = [-1.5, 2.75, -0.5, 300.0]
    _same(md.tensor(values, dtype=md.bfloat16).long(), torch.tensor(values, dtype=torch.bfloat16).long())
    _same(md.tensor(values, dtype=md.bfloat16).to(md.int64), torch.tensor(values, dtype=torch.bfloat16).to(torch.int64))
    ints = [257, 259, 2**30 + 2**22 + 1, -7]
    _same(md.tensor(ints).to(md.bfloat16), torch.tensor(ints).to(torch.bfloat16))
    _same(md.tensor(ints).bfloat16(), torch.tensor(ints).bfloat16())
    assert md.tensor([1.0], dtype=md.bfloat16).type_as(md.tensor([1])).dtype == "int64"


def test_unsupported_dtype_conversions_refuse_clearly():
    t = md.zeros(2)
    for name in ("double",):
        with pytest.raises(TypeError, match="minidiff has no"):
            getattr(t, name)()


def test_bool_is_a_float_mask():
    values = [0.0, -2.0, float("nan"), 0.5]
    assert md.tensor(values).bool().tolist() == [float(v) for v in torch.tensor(values).bool().tolist()]


def test_type_names_and_conversion():
    assert md.zeros(1).type() == torch.zeros(1).type() == "torch.FloatTensor"
    assert md.zeros(1, dtype=md.int64).type() == torch.zeros(1, dtype=torch.int64).type()
    assert md.zeros(1, dtype=md.bfloat16).type() == torch.zeros(1, dtype=torch.bfloat16).type()
    assert md.zeros(1).type(md.int64).dtype == "int64"
    assert md.zeros(1).type("torch.LongTensor").dtype == "int64"


# ---- protocols and metadata


def test_iterating_a_0d_tensor_raises():
    with pytest.raises(TypeError, match="0-d"):
        list(torch.tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        list(md.tensor(1.0))
    assert [r.tolist() for r in md.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]


@pytest.mark.parametrize("dtype", ["float32", "int64", "bfloat16"])
def test_contains_as_torch(dtype):
    data = [[1.0, 2.0], [3.0, 4.0]]
    ours, theirs = md.tensor(data, dtype=dtype), torch.tensor(data, dtype=getattr(torch, dtype))
    for element in (3, 5, 2.0, 2.5):
        assert (element in ours) == (element in theirs)
    assert (md.tensor([3.0, 4.0]) in ours) == (torch.tensor([3.0, 4.0]) in theirs)
    assert (0 in md.tensor(0.0)) == (0 in torch.tensor(0.0))
    with pytest.raises(TypeError):
        "a" in ours  # noqa: B015


def test_metadata_as_torch():
    for dtype in ("float32", "int64", "bfloat16"):
        ours, theirs = md.zeros(2, 3, dtype=dtype), torch.zeros(2, 3, dtype=getattr(torch, dtype))
        assert ours.itemsize == theirs.itemsize == ours.element_size()
        assert ours.nbytes == theirs.nbytes
        assert ours.ndimension() == theirs.ndimension()
        assert ours.t().stride(0) == theirs.t().stride(0) and ours.stride(-1) == theirs.stride(-1)
        assert ours.stride() == theirs.stride()
    assert md.tensor(1.0).ndimension() == 0


def test_clone_and_new_zeros_keywords():
    t = md.arange(6.0).reshape(2, 3)
    assert t.clone(memory_format=md.preserve_format).tolist() == t.tolist()
    assert t.clone(memory_format=md.contiguous_format).is_contiguous()
    assert t.new_zeros(size=(2, 3)).shape == torch.zeros(1).new_zeros(size=(2, 3)).shape


# ---- differences whose cause is outside this area (native code)


def test_tensor_from_too_large_int_raises():
    with pytest.raises((OverflowError, ValueError, RuntimeError)):
        md.tensor([2**63])


def test_zeros_size_keyword():
    assert md.zeros(size=(2, 3)).shape == (2, 3)
    assert md.ones(size=[4]).shape == (4,) and md.empty(size=(0, 2)).shape == (0, 2)
    with pytest.raises(TypeError, match="not both"):
        md.zeros(2, size=(2,))


@pytest.mark.parametrize(
    "expr", ["x.t()", "x.reshape(2, 3).t()", "x.reshape(1, 2, 3).permute(2, 0, 1)", "x[::2]", "x.reshape(2, 3)[:, 1:]",
             "x.reshape(3, 2)[None].expand(2, 3, 2)", "x.reshape(6, 1)"]
)  # fmt: skip
def test_clone_preserves_strides(expr):
    def run(L):
        x = L.arange(6.0).reshape(6, 1) if "reshape(6, 1)" in expr else L.arange(6.0)
        x = x.reshape(2, 3) if expr == "x.t()" else x
        v = eval(expr, {"x": x})
        c, k = v.clone(), v.clone(memory_format=L.contiguous_format)
        c.add_(1)  # a copy: the source does not change
        return c.stride(), k.stride(), c.numpy(), v.numpy()

    for a, b in zip(run(md), run(torch)):
        assert a == b if isinstance(a, tuple) else np.array_equal(a, b)


def test_clone_of_a_transpose_keeps_its_gradient():
    x = md.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3), requires_grad=True)
    (x.t().clone() * md.tensor(np.arange(6.0, dtype=np.float32).reshape(3, 2))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(6.0).reshape(3, 2).T)
