"""Tensors as API.md describes them: creation functions, NumPy interop, properties, seeded
generators, autograd semantics (accumulation, sum-once, no_grad, detach, freed graphs), memory
returning to its baseline, and the errors that bad input raises."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import minidiff as md
import minidiff.functional as F


def allocated() -> int:
    return md._core.cpu_memory_stats()["allocated"]


# ---------------------------------------------------------------- creation


@pytest.mark.parametrize("shape_args,shape", [((2, 3), (2, 3)), (((2, 3),), (2, 3)), (([4],), (4,)), ((5,), (5,))])
@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "randn", "rand"])
def test_creation_shapes_as_ints_or_tuples(fn, shape_args, shape):
    t = getattr(md, fn)(*shape_args)
    assert t.shape == shape
    assert t.dtype == "float32"
    assert t.device == "cpu"
    if fn == "zeros":
        np.testing.assert_array_equal(t.numpy(), np.zeros(shape))
    if fn == "ones":
        np.testing.assert_array_equal(t.numpy(), np.ones(shape))


def test_scalar_shape_creation():
    assert md.zeros(()).shape == ()
    assert md.ones(()).item() == 1.0


def test_full_and_dtypes():
    np.testing.assert_array_equal(md.full((2, 2), 3.5).numpy(), np.full((2, 2), 3.5, np.float32))
    np.testing.assert_array_equal(md.full(3, -1.0).numpy(), np.full(3, -1.0, np.float32))
    i = md.ones(2, 3, dtype="int64")
    assert i.dtype == "int64"
    assert i.numpy().dtype == np.int64
    assert md.zeros(2, dtype=np.float32).dtype == "float32"
    assert md.zeros(2, dtype=md.int64).dtype == "int64"
    assert md.zeros(2, dtype="float16").dtype == md.zeros(2, dtype=np.float16).dtype == "float16"
    with pytest.raises(TypeError, match="float64"):
        md.zeros(2, dtype="float64")


def test_randn_and_rand_distributions():
    md.manual_seed(0)
    n = md.randn(200_000).numpy().astype(np.float64)
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1.0) < 0.01
    u = md.rand(200_000).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005
    # each decile holds about a tenth of the draws
    hist, _ = np.histogram(u, bins=10, range=(0, 1))
    assert np.all(np.abs(hist / u.size - 0.1) < 0.005)


def test_randint_forms_and_range():
    md.manual_seed(1)
    a = md.randint(3, 9, (1000,))
    assert a.dtype == "int64" and a.shape == (1000,)
    v = a.numpy()
    assert v.min() == 3 and v.max() == 8
    assert md.randint(10, (2, 3)).shape == (2, 3)
    assert md.randint(0, 10, 4).shape == (4,)
    b = md.randint(5, (5000,)).numpy()
    assert set(np.unique(b)) == {0, 1, 2, 3, 4}
    with pytest.raises(ValueError, match="randint"):
        md.randint(5, 5, (3,))


def test_arange():
    # int bounds give int64 and any float float32, as in torch; arithmetic promotes int64 to float32
    assert md.arange(5).dtype == "int64" and md.arange(1, 2, 0.25).dtype == "float32"
    assert md.arange(5.0).dtype == "float32" and md.arange(5, dtype="float32").dtype == "float32"
    np.testing.assert_array_equal(md.arange(5).numpy(), np.arange(5))
    half = md.arange(4) * 0.5
    assert half.dtype == "float32"
    np.testing.assert_array_equal(half.numpy(), [0, 0.5, 1, 1.5])
    np.testing.assert_allclose(md.arange(3).exp().numpy(), np.exp(np.arange(3)), rtol=1e-6)
    assert md.nn.Embedding(5, 2)(md.arange(3)).shape == (3, 2)  # indices, as in torch
    # reductions of int64 run in float32 too (torch keeps int64; the values agree up to 2^24)
    assert md.arange(6).sum().item() == 15 and md.arange(6).mean().item() == 2.5
    values, indices = md.arange(6).max(0)
    assert values.item() == 5 and indices.item() == 5 and md.arange(6).max().item() == 5
    with pytest.raises(TypeError, match="arange: end must be a number"):
        md.arange("5")
    np.testing.assert_array_equal(md.arange(1, 2, 0.25).numpy(), np.arange(1, 2, 0.25, dtype=np.float32))
    np.testing.assert_array_equal(md.arange(10, 0, -3).numpy(), np.array([10, 7, 4, 1], np.float32))
    i = md.arange(2, 7, dtype="int64")
    assert i.dtype == "int64"
    np.testing.assert_array_equal(i.numpy(), np.arange(2, 7))
    assert md.arange(3, 3).shape == (0,)
    with pytest.raises(ValueError, match="arange"):
        md.arange(0, 5, 0)


# ---------------------------------------------------------------- NumPy interop


def test_tensor_from_numpy_dtypes():
    t = md.tensor(np.arange(6.0).reshape(2, 3))  # float64 -> float32
    assert t.dtype == "float32" and t.shape == (2, 3)
    np.testing.assert_array_equal(t.numpy(), np.arange(6.0, dtype=np.float32).reshape(2, 3))
    i = md.tensor(np.arange(4, dtype=np.int32))  # integers keep their dtype, as torch's
    assert i.dtype == "int32" and i.numpy().dtype == np.int32
    np.testing.assert_array_equal(i.numpy(), np.arange(4))
    assert md.tensor(np.arange(3, dtype=np.uint8)).dtype == "uint8"
    assert md.tensor(np.arange(3, dtype=np.uint16)).dtype == "int32"  # (minidiff has no uint16)
    assert md.tensor(np.arange(3, dtype=np.int64)).dtype == "int64"
    b = md.tensor(np.array([True, False, True]))  # bool stays bool, as torch's
    assert b.dtype == "bool" and b.numpy().dtype == np.bool_
    np.testing.assert_array_equal(b.numpy(), [True, False, True])
    assert md.tensor([True, False]).dtype == "bool"
    assert md.tensor(np.array([1.5, 0.0]), dtype="bool").tolist() == [True, False]
    assert md.tensor(np.zeros(2, np.float16)).dtype == "float16"  # as torch's
    assert md.tensor(np.zeros(2, np.float64)).dtype == "float32"  # (no float64)
    # an explicit dtype wins
    assert md.tensor(np.arange(3), dtype="float32").dtype == "float32"
    np.testing.assert_array_equal(md.tensor(np.array([1.7, -2.2]), dtype="int64").numpy(), [1, -2])


def test_tensor_from_python_values():
    assert md.tensor([1, 2, 3]).dtype == "int64"
    assert md.tensor([1.0, 2, 3]).dtype == "float32"
    s = md.tensor(3.5)
    assert s.shape == () and s.item() == 3.5
    assert md.tensor(7).item() == 7
    nested = md.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert nested.shape == (2, 2)
    # a tensor argument is copied, not aliased
    src = md.zeros(3)
    copy = md.tensor(src)
    src.fill_(1.0)
    np.testing.assert_array_equal(copy.numpy(), np.zeros(3))


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(24.0).reshape(4, 6)[:, ::2],
        np.arange(24.0).reshape(4, 6).T,
        np.arange(24.0).reshape(2, 3, 4)[:, ::-1, 1:],
        np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        np.broadcast_to(np.arange(3.0), (4, 3)),
    ],
    ids=["strided", "transposed", "reversed", "fortran", "broadcast"],
)
def test_tensor_from_non_contiguous_arrays(arr):
    t = md.tensor(arr)
    assert t.shape == arr.shape
    assert t.is_contiguous()
    np.testing.assert_array_equal(t.numpy(), arr.astype(np.float32))


def test_numpy_and_asarray_are_copies():
    t = md.ones(2, 3)
    a = t.numpy()
    assert a.dtype == np.float32 and a.shape == (2, 3)
    a[0, 0] = 5.0
    assert t.numpy()[0, 0] == 1.0
    b = np.asarray(t)
    assert b.dtype == np.float32
    np.testing.assert_array_equal(b, np.ones((2, 3)))
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    # a non-contiguous view comes out in its logical order
    v = md.tensor(np.arange(6.0).reshape(2, 3)).transpose(0, 1)
    np.testing.assert_array_equal(v.numpy(), np.arange(6.0).reshape(2, 3).T)
    np.testing.assert_array_equal(md.tensor(np.arange(5)).numpy(), np.arange(5))


def test_item():
    assert md.tensor([2.5]).item() == 2.5
    assert isinstance(md.tensor([[4]]).item(), int)
    assert md.ones(3, 4).sum().item() == 12.0
    with pytest.raises(ValueError, match=r"item.*\[2\]"):
        md.ones(2).item()


def test_tensor_rejects_unsupported_data():
    with pytest.raises(TypeError, match="tensor.*<U1"):
        md.tensor(np.array(["a"]))
    with pytest.raises(TypeError, match="tensor.*complex"):
        md.tensor(np.array([1 + 2j]))
    with pytest.raises(TypeError, match="tensor"):
        md.tensor([[1, 2], [3]])
    with pytest.raises(ValueError, match="non-finite"):
        md.tensor(np.array([np.nan]), dtype="int64")


# ---------------------------------------------------------------- properties


def test_properties():
    t = md.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.ndim == 3 and t.dim() == 3
    assert t.numel() == 24
    assert t.dtype == "float32" and t.dtype == md.float32
    assert t.device == "cpu" and str(t.device) == "cpu"
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert len(t) == 2
    assert not t.requires_grad and t.grad is None and t.is_leaf
    e = md.zeros(0, 5)
    assert e.numel() == 0 and e.shape == (0, 5)


def test_to_cpu_is_identity_and_cuda_is_a_clear_error_without_cuda():
    t = md.ones(3)
    assert t.to("cpu").device == "cpu"
    assert t.cpu().device == "cpu"
    if not md.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            t.cuda()


def test_contiguous_clone_detach():
    x = md.tensor(np.arange(6.0).reshape(2, 3))
    tt = x.transpose(0, 1)
    assert not tt.is_contiguous()
    c = tt.contiguous()
    assert c.is_contiguous()
    np.testing.assert_array_equal(c.numpy(), np.arange(6.0).reshape(2, 3).T)
    cl = x.clone()
    cl.fill_(0.0)
    assert x.numpy().sum() == 15.0
    d = x.detach()
    d.fill_(2.0)  # detach shares storage
    np.testing.assert_array_equal(x.numpy(), np.full((2, 3), 2.0))


# ---------------------------------------------------------------- generators


def test_manual_seed_reproducible():
    md.manual_seed(42)
    a = md.randn(100).numpy()
    b = md.rand(10).numpy()
    md.manual_seed(42)
    np.testing.assert_array_equal(md.randn(100).numpy(), a)
    np.testing.assert_array_equal(md.rand(10).numpy(), b)
    md.manual_seed(43)
    assert not np.array_equal(md.randn(100).numpy(), a)


def test_generators_are_independent_streams():
    g1, g2 = md.Generator(1), md.Generator(1)
    a = md.randn(50, generator=g1).numpy()
    md.randn(1000)  # draws from the default generator do not disturb g2
    b = md.randn(50, generator=g2).numpy()
    np.testing.assert_array_equal(a, b)
    c = md.randn(50, generator=md.Generator(2)).numpy()
    assert not np.array_equal(a, c)
    # successive draws from one generator differ
    assert not np.array_equal(md.randn(50, generator=g1).numpy(), a)


def test_generator_state_resumes_exactly():
    g = md.Generator(7)
    md.randn(13, generator=g)
    state = g.get_state()
    first = md.randn(21, generator=g).numpy()
    ints = md.randint(0, 100, (9,), generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(md.randn(21, generator=g).numpy(), first)
    np.testing.assert_array_equal(md.randint(0, 100, (9,), generator=g).numpy(), ints)
    h = md.Generator(0)
    h.set_state(state)  # a fresh generator takes over the stream
    np.testing.assert_array_equal(md.randn(21, generator=h).numpy(), first)
    assert g.initial_seed() == 7
    g.manual_seed(7)
    assert g.get_state() == (7, 0)
    with pytest.raises(ValueError, match="set_state"):
        g.set_state((1, 2, 3))


def test_draws_do_not_depend_on_how_they_are_split():
    # the stream is counter based: an element's value depends only on its position
    g = md.Generator(3)
    whole = md.rand(8, generator=g).numpy()
    g.manual_seed(3)
    a = md.rand(4, generator=g).numpy()
    b = md.rand(4, generator=g).numpy()
    np.testing.assert_array_equal(np.concatenate([a, b]), whole)


# ---------------------------------------------------------------- autograd


def test_grads_accumulate_across_backwards():
    x = md.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0, 9.0])
    x.grad = None
    x.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 1.0])


def test_tensor_used_twice_sums_once():
    x = md.tensor([1.0, -2.0], requires_grad=True)
    y = x * 2.0
    z = y * y + y  # y feeds two consumers
    z.sum().backward()
    # dz/dx = (2y + 1) * 2
    np.testing.assert_allclose(x.grad.numpy(), (2 * np.array([2.0, -4.0]) + 1) * 2)
    w = md.tensor([3.0], requires_grad=True)
    (w + w + w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0])


def test_diamond_graph():
    x = md.tensor([0.5, 1.5], requires_grad=True)
    a = x.exp()
    b = a.sin()
    c = a.cos()
    (b * c).sum().backward()
    e = np.exp([0.5, 1.5])
    np.testing.assert_allclose(x.grad.numpy(), np.cos(2 * e) * e, rtol=1e-5)


def test_no_grad_records_nothing():
    x = md.ones(3, requires_grad=True)
    assert md.is_grad_enabled()
    with md.no_grad():
        assert not md.is_grad_enabled()
        y = x * 2
        with md.enable_grad():
            z = x * 2
    assert md.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()

    @md.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


def test_detach_and_requires_grad_():
    x = md.ones(3, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    y = (x * d).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])
    t = md.zeros(2)
    assert t.requires_grad_() is not None and t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad
    with pytest.raises(TypeError, match="float32"):
        md.zeros(2, dtype="int64").requires_grad_()
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).requires_grad_(False)


def test_freed_graph_raises_and_retain_graph_allows_a_second_backward():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()
    x.grad = None
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    e = np.exp([1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), 2 * (e + e * np.array([1.0, 2.0])), rtol=1e-6)


def test_non_scalar_backward_needs_a_gradient():
    x = md.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"one-element.*\[2, 3\]"):
        y.backward()
    y.backward(md.full((2, 3), 0.5))
    np.testing.assert_allclose(x.grad.numpy(), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"backward.*\[3\].*\[2, 3\]"):
        (x * 2).backward(md.ones(3))
    x.grad = None
    (x * 2).backward(np.ones((2, 3)))  # a NumPy gradient is accepted
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.ones((2, 3)))


def test_grad_flows_only_to_inputs_that_require_it():
    a = md.ones(2, requires_grad=True)
    b = md.ones(2)
    (a * b).sum().backward()
    assert a.grad is not None and b.grad is None


def test_backward_of_a_leaf_sets_its_grad():
    x = md.ones(3, requires_grad=True)
    x.backward(md.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])


def test_grad_assignment_checks_shape():
    x = md.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"grad.*\[2\].*\[3\]"):
        x.grad = md.ones(2)


def test_inplace_on_a_tensor_that_requires_grad_is_refused():
    x = md.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad cannot change in place"):
        x.fill_(0.0)
    with md.no_grad():
        x.fill_(0.0)  # allowed outside autograd (optimisers, initialisers)
    np.testing.assert_array_equal(x.numpy(), np.zeros(3))


def test_deep_chain_backward_does_not_overflow_the_stack():
    x = md.ones(4, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(4, 1.0001**5000), rtol=1e-3)


# ---------------------------------------------------------------- memory


def _train_steps(w, steps):
    for _ in range(steps):
        h = md.randn(16, 32)
        out = F.mse_loss(F.silu(F.linear(h, w)).softmax(-1), md.zeros(16, 32))
        out.backward()


def test_memory_returns_to_baseline_after_many_steps():
    gc.collect()
    base = allocated()
    w = md.randn(32, 32, requires_grad=True)
    _train_steps(w, 3)
    steady = allocated()
    _train_steps(w, 200)
    assert allocated() == steady  # nothing grows per step: the graph is freed after backward
    del w
    gc.collect()
    assert allocated() == base


def test_graph_without_backward_is_freed_with_its_output():
    gc.collect()
    base = allocated()
    x = md.randn(1000, requires_grad=True)
    y = F.softmax(x * 2.0, 0).exp().sum()
    assert allocated() > base
    del y
    # only x itself (4000 bytes, rounded to the 64-byte alignment) remains: no cycle keeps the graph
    assert allocated() - base == 4032
    del x
    assert allocated() == base


def test_retained_graph_is_freed_when_dropped():
    gc.collect()
    base = allocated()
    x = md.randn(500, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    del y
    del x
    assert allocated() == base


# ---------------------------------------------------------------- errors name the op and the shapes


@pytest.mark.parametrize(
    "fn,exc,pattern",
    [
        (lambda: md.zeros(2, 3) + md.zeros(4, 3), ValueError, r"add.*\[2, 3\].*\[4, 3\]"),
        (lambda: md.zeros(2, 3) * md.zeros(2, 4), ValueError, r"mul.*\[2, 3\].*\[2, 4\]"),
        (lambda: md.zeros(2, 3) - md.zeros(3, 2), ValueError, r"sub.*\[2, 3\].*\[3, 2\]"),
        (lambda: md.zeros(2, 3) / md.zeros(5), ValueError, r"div.*\[2, 3\].*\[5\]"),
        # (operands of matrix products must share a float dtype, as torch's)
        (lambda: md.zeros(2, 2) @ md.zeros(2, 2).to("bfloat16"), TypeError, r"matmul.*bfloat16 and float32"),
        (lambda: md.zeros(2, 3) @ md.zeros(4, 5), ValueError, r"matmul.*\[2, 3\].*\[4, 5\]"),
        (lambda: md.zeros(2, 3).reshape(4, 2), ValueError, r"(reshape|view).*\[4, 2\].*\[2, 3\]"),
        (lambda: md.zeros(2, 3).permute(0), ValueError, r"permute.*\[2, 3\]"),
        (lambda: md.zeros(2, 3).sum(dim=2), IndexError, r"sum.*dim 2"),
        (lambda: md.zeros(2, 3).transpose(0, 5), IndexError, r"transpose.*dim 5"),
        (lambda: md.zeros(2, 3).max(dim=3), IndexError, r"max.*dim 3"),
        (lambda: md.zeros(0).max(), ValueError, r"max.*\[0\]"),
        (lambda: md.zeros(2, 3).expand(3, 3), ValueError, r"expand.*\[2, 3\].*\[3, 3\]"),
        (lambda: F.linear(md.zeros(3), md.zeros(2, 4)), ValueError, r"linear.*\[3\].*\[2, 4\]"),
        (lambda: F.conv2d(md.zeros(1, 2, 4), md.zeros(1, 2, 3, 3)), ValueError, r"conv2d.*\[1, 2, 4\]"),
        (lambda: F.group_norm(md.zeros(4), 2), ValueError, r"group_norm.*\[4\]"),
        (lambda: F.softmax(md.zeros(2, 3), 2), IndexError, r"softmax.*dim 2"),
        (lambda: F.mse_loss(md.zeros(3), md.zeros(3, dtype="int64")), TypeError, r"mse_loss.*int64"),
        (lambda: F.embedding(md.zeros(3), md.zeros(4, 2)), TypeError, r"embedding.*float32"),
        (lambda: md.zeros(3)[5], IndexError, r"index 5.*size 3"),
        (lambda: md.zeros(3)[0, 0], IndexError, r"too many indices.*\[3\]"),
        (lambda: md.zeros(2, 3).view(-1, -1), ValueError, r"view.*-1"),
        (lambda: md.randn(2, -3), ValueError, r"negative dimension.*\[2, -3\]"),
        (lambda: md.zeros(2) + "a", TypeError, r"unsupported operand"),
    ],
    ids=lambda v: "" if callable(v) or isinstance(v, type) else v,
)
def test_errors_name_the_op_and_shapes(fn, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fn()


# ---------------------------------------------------------------- NumPy values mixed with tensors


@pytest.mark.parametrize(
    "expr",
    [
        lambda t: t * np.float32(2),
        lambda t: np.float32(2) * t,
        lambda t: np.float64(2) * t,
        lambda t: t + np.int64(2),
        lambda t: np.int64(2) + t,
        lambda t: np.float32(2) - t,
        lambda t: np.float32(2) / t,
        lambda t: np.float32(2) ** t,
        lambda t: t ** np.float32(2),
        lambda t: np.ones(3, np.float32) * t,
        lambda t: np.ones(3) + t,
        lambda t: np.ones(3) - t,
        lambda t: np.ones(3) / t,
        lambda t: np.full(3, 2.0) ** t,
        lambda t: np.full((2, 3), 2.0) @ t,
        lambda t: t * np.array(2.0),
    ],
)
def test_numpy_operands_keep_the_graph(expr):
    # these used to return NumPy arrays (through __array__), silently dropping autograd
    x = np.array([0.5, 1.0, 2.0])
    t = md.tensor(x, requires_grad=True)
    out = expr(t)
    assert isinstance(out, md.Tensor)
    np.testing.assert_allclose(out.numpy(), expr(x), rtol=1e-6)
    out.sum().backward()
    assert t.grad is not None


def test_numpy_integers_as_shapes_dims_and_pairs():
    n = np.int64(3)
    assert md.zeros(n).shape == (3,)
    assert md.randn(n, np.int32(2)).shape == (3, 2)
    assert md.ones(2, 3).reshape(np.int64(6)).shape == (6,)
    assert md.ones(2, 3).sum(dim=np.int64(1)).shape == (2,)
    assert F.conv2d(md.ones(1, 1, 5, 5), md.ones(1, 1, 1, 1), stride=np.int64(2)).shape == (1, 1, 3, 3)
    with pytest.raises(TypeError, match="zeros"):
        md.zeros(2.0)
    with pytest.raises(TypeError, match="reshape"):
        md.ones(2, 3).reshape(2.0, 3)


def test_functional_sum_mean_take_int_dims():
    x = md.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(F.sum(x, 1).numpy(), [3.0, 12.0])
    np.testing.assert_array_equal(F.mean(x, dim=(0, 1)).numpy(), 2.5)
    assert F.sum(x).item() == 15.0


def test_python_abs():
    t = md.tensor([-1.5, 2.0], requires_grad=True)
    out = abs(t)
    np.testing.assert_array_equal(out.numpy(), [1.5, 2.0])
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [-1.0, 1.0])


def test_backward_into_a_user_assigned_non_contiguous_grad():
    x = md.ones(2, 3, requires_grad=True)
    x.grad = md.ones(3, 2).transpose(0, 1)
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 3.0))


def test_gradient_dtype_is_checked():
    x = md.ones(3, requires_grad=True)
    (x * 2).backward(md.ones(3, dtype="int64"))  # an int64 gradient is cast to the output's dtype, as torch's
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    with pytest.raises(TypeError, match="grad.*int64"):
        x.grad = md.ones(3, dtype="int64")


# ---------------------------------------------------------------- in-place ops and saved-tensor versions


def test_augmented_assignment_writes_in_place():
    a = md.ones(3)
    b = a
    b += 1  # b is still a: both see the change, as in torch
    assert b is a
    np.testing.assert_array_equal(a.numpy(), [2, 2, 2])
    a *= md.tensor([1.0, 2.0, 3.0])
    a -= 1
    a /= 2
    np.testing.assert_array_equal(a.numpy(), [0.5, 1.5, 2.5])
    rows = md.zeros(2, 3)
    rows += md.arange(3.0)  # the other operand broadcasts to the tensor's shape
    np.testing.assert_array_equal(rows.numpy(), [[0, 1, 2], [0, 1, 2]])
    with pytest.raises(ValueError, match=r"add_: the result has shape \[2, 3\]"):
        x = md.ones(3)
        x += md.ones(2, 3)  # but the tensor does not grow


def test_augmented_assignment_on_a_view_changes_the_base():
    base = md.zeros(3, 4)
    view = base[1:, ::2]
    view += 5
    base[0] = md.tensor([1.0, 2.0, 3.0, 4.0])
    base[:, 3] = 7
    want = np.array([[1, 2, 3, 7], [5, 0, 5, 7], [5, 0, 5, 7]], np.float32)
    np.testing.assert_array_equal(base.numpy(), want)
    y = md.tensor([[1.0, 2.0, 3.0]])
    y[0] *= 2  # __getitem__, __imul__ on the view, then __setitem__ of the same elements
    np.testing.assert_array_equal(y.numpy(), [[2, 4, 6]])


def test_in_place_methods_and_a_hand_written_sgd_step():
    lin = md.nn.Linear(2, 1)
    w0 = lin.weight.numpy().copy()
    lin(md.ones(4, 2)).sum().backward()
    grad = lin.weight.grad.numpy().copy()
    with md.no_grad():
        for p in lin.parameters():
            p -= 0.1 * p.grad
    np.testing.assert_allclose(lin.weight.numpy(), w0 - 0.1 * grad, rtol=1e-6)
    t = md.ones(2, 3)
    assert t.add_(md.ones(3), alpha=-2) is t
    np.testing.assert_array_equal(t.numpy(), -np.ones((2, 3)))
    t.sub_(1.5, alpha=2).mul_(2).div_(md.tensor([1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(t.numpy(), [[-8, -4, -2]] * 2)


def test_in_place_ops_refuse_what_autograd_would_need():
    leaf = md.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="add_: a leaf tensor that requires grad cannot change in place"):
        leaf += 1
    with pytest.raises(RuntimeError, match="__setitem__: a leaf tensor that requires grad cannot change in place"):
        leaf[0] = 1.0
    with md.no_grad():
        leaf += 1  # an update outside the graph is fine
    np.testing.assert_array_equal(leaf.numpy(), [2, 2, 2])


def test_in_place_ops_inside_the_graph_give_torchs_gradients():
    # out += residual in a forward, and an input that takes a tensor requiring grad in place
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x_np, w_np = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((3, 3)).astype(np.float32)

    def run(lib, x, w):
        h = x @ w
        h += x  # rebased here, written in place in torch
        h *= 2.0
        h -= x.exp()
        z = lib.zeros(4, 3) if lib is md else torch.zeros(4, 3)
        z += h  # z did not require grad; now it does, through h
        return (z * z).sum()

    mx, mw = md.tensor(x_np, requires_grad=True), md.tensor(w_np, requires_grad=True)
    tx, tw = torch.tensor(x_np, requires_grad=True), torch.tensor(w_np, requires_grad=True)
    lm, lt = run(md, mx, mw), run(torch, tx, tw)
    lm.backward()
    lt.backward()
    np.testing.assert_allclose(lm.item(), lt.item(), rtol=1e-5)
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mw.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "change",
    [
        lambda saved: saved.fill_(5.0),
        lambda saved: saved.copy_(md.zeros(3)),
        lambda saved: saved.add_(1.0),
        lambda saved: saved.__imul__(2.0),
        lambda saved: saved.__setitem__(0, 9.0),
        lambda saved: saved[1:].zero_(),
        lambda saved: saved.normal_(),
    ],
)
def test_backward_refuses_a_saved_tensor_changed_in_place(change):
    x = md.ones(3, requires_grad=True)
    w = md.ones(3)
    y = (x * w).sum()  # mul saves w for x's gradient
    with md.no_grad():
        change(w)
    with pytest.raises(RuntimeError, match="'mul' saved for its gradient was modified by an in-place operation"):
        y.backward()


def test_backward_refuses_a_saved_output_changed_in_place():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # exp's backward reads its output
    with md.no_grad():
        y.zero_()
    with pytest.raises(RuntimeError, match="'exp' saved"):
        y.sum().backward()


def test_changes_autograd_does_not_read_are_allowed():
    x = md.ones(3, requires_grad=True)
    w = md.ones(3)
    y = (x + w).sum()  # add saves nothing
    w.fill_(5.0)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1, 1])
    z = (x * md.ones(3)).sum()
    z.backward()  # a change made after the backward is fine too
    assert x.grad is not None


def test_optimizer_step_before_backward_is_an_error():
    lin = md.nn.Linear(3, 2)
    opt = md.optim.Adam(lin.parameters(), lr=0.1)
    loss = lin(md.ones(4, 3, requires_grad=True)).sum()  # the input's gradient reads the weight
    loss.backward(retain_graph=True)
    opt.step()  # the weight that linear saved has changed
    with pytest.raises(RuntimeError, match="'linear' saved"):
        loss.backward()


def test_copy_between_overlapping_views_reads_before_writing():
    x = md.arange(4.0).reshape(2, 2)
    x.copy_(x.T)
    np.testing.assert_array_equal(x.numpy(), [[0, 2], [1, 3]])
    y = md.arange(6.0)
    y[1:].copy_(y[:-1])
    np.testing.assert_array_equal(y.numpy(), [0, 0, 1, 2, 3, 4])
    z = md.arange(6.0)
    z[1:] = z[:-1]
    np.testing.assert_array_equal(z.numpy(), [0, 0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="copy_: the destination repeats elements"):
        md.zeros(1).expand(4).copy_(md.tensor([1.0, 2.0, 3.0, 4.0]))


def test_set_grad_enabled_is_a_call_a_context_manager_and_a_decorator():
    assert md.is_grad_enabled()
    with md.set_grad_enabled(False):
        assert not md.is_grad_enabled()
        with md.set_grad_enabled(True):
            assert md.is_grad_enabled()
        assert not md.is_grad_enabled()
    assert md.is_grad_enabled()
    md.set_grad_enabled(False)
    try:
        assert not md.is_grad_enabled()
    finally:
        md.set_grad_enabled(True)

    @md.set_grad_enabled(False)
    def inside():
        return md.is_grad_enabled()

    assert md.is_grad_enabled() and inside() is False and md.is_grad_enabled()


def test_module_attributes_before_super_init_are_a_clear_error():
    class Forgot(md.nn.Module):
        def __init__(self, what):
            self.plain = 3  # a plain attribute is fine, as in torch
            if what == "module":
                self.fc = md.nn.Linear(2, 2)
            elif what == "parameter":
                self.w = md.nn.Parameter(md.ones(2))
            else:
                self.missing  # noqa: B018

    with pytest.raises(AttributeError, match=r"cannot assign 'fc' \(a module\) before Module.__init__"):
        Forgot("module")
    with pytest.raises(AttributeError, match=r"cannot assign 'w' \(a parameter\)"):
        Forgot("parameter")
    with pytest.raises(AttributeError, match="has not been called"):
        Forgot("read")


def test_size_and_range_overflows_are_errors():
    with pytest.raises(ValueError, match="randint: the range"):
        md.randint(-(2**63), 2**63 - 1, (4,))
    with pytest.raises(ValueError, match="randint: the range"):
        md.randint(-(2**62), 2**62, (4,))
    with pytest.raises(ValueError, match="expand: .*too many elements"):
        md.ones(1).expand(2**62, 2**62)
    with pytest.raises(ValueError, match="normal_: std"):
        md.ones(3).normal_(0.0, -1.0)
    with pytest.raises(ValueError, match="uniform_"):
        md.ones(3).uniform_(1.0, 0.0)


def test_mean_loss_of_nothing_is_nan_and_stays_in_the_graph():
    a = md.zeros(0, 3, requires_grad=True)
    loss = F.mse_loss(a, md.zeros(0, 3))
    assert np.isnan(loss.item()) and loss.requires_grad
    loss.backward()
    assert a.grad.shape == (0, 3)


def test_arguments_python_cannot_convert_get_errors_naming_the_op():
    x, w, t = md.ones(1, 2, 4, 4), md.ones(3, 2, 3, 3), md.ones(3, 4)
    with pytest.raises(TypeError, match="conv2d: bias must be a Tensor or None, got 5"):
        F.conv2d(x, w, bias=5)
    with pytest.raises(TypeError, match="group_norm: weight must be a Tensor or None"):
        F.group_norm(x, 1, weight=[1.0, 2.0])
    with pytest.raises(IndexError, match="index 9223372036854775808 is out of range for dimension 0"):
        t[2**63]
    with pytest.raises(ValueError, match="sum: the integer 9223372036854775808 does not fit in int64"):
        t.sum(2**63)


@pytest.mark.parametrize(
    "op,change",
    [
        ("exp", "input"),  # exp, sqrt, tanh, sigmoid, relu read their output
        ("sqrt", "input"),
        ("relu", "input"),
        ("log", "output"),  # log, sin, silu, ... read their input
        ("sin", "output"),
        ("silu", "output"),
        ("neg", "input"),  # neg reads neither
        ("neg", "output"),
    ],
)
def test_changing_what_a_backward_does_not_read_is_allowed(op, change):
    fns = {"exp": md.Tensor.exp, "sqrt": md.Tensor.sqrt, "relu": F.relu, "log": md.Tensor.log,
           "sin": md.Tensor.sin, "silu": F.silu, "neg": md.Tensor.neg}  # fmt: skip
    leaf = md.tensor([0.5, 1.5, 2.0], requires_grad=True)
    x = leaf * 1.0  # a non-leaf, so it may change in place
    y = fns[op](x)
    want = None
    with md.no_grad():
        (x if change == "input" else y).mul_(3.0)
    y.sum().backward()  # torch allows these too
    want = {"exp": np.exp, "sqrt": lambda v: 0.5 / np.sqrt(v), "relu": lambda v: np.ones_like(v),
            "log": lambda v: 1 / v, "sin": np.cos, "silu": None, "neg": lambda v: -np.ones_like(v)}[op]  # fmt: skip
    if want is not None:
        v = np.array([0.5, 1.5, 2.0], np.float32)
        np.testing.assert_allclose(leaf.grad.numpy(), want(v), rtol=1e-5)


def test_operands_no_gradient_reads_may_change():
    # data fed to a first layer, then an optimiser step (or any change of the weight) before the
    # backward: the weight's gradient reads only the data, so torch allows it and so do we
    lin = md.nn.Linear(3, 2)
    other = md.nn.Linear(1, 1)
    opt = md.optim.Adam([*lin.parameters(), *other.parameters()], lr=0.1)
    loss = lin(md.ones(4, 3)).sum()
    opt.step()
    with md.no_grad():
        other.weight.mul_(2.0)  # another parameter of the same optimiser
    loss.backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), np.full((2, 3), 4.0))
    p = md.ones(3, requires_grad=True)
    d = md.ones(3)
    y = (d * p).sum()
    with md.no_grad():
        p.mul_(2.0)  # p's own value is not read by its gradient (d is)
    y.backward()
    np.testing.assert_array_equal(p.grad.numpy(), [1, 1, 1])


def test_in_place_fills_of_non_contiguous_views():
    x = md.zeros(3, 4)
    x[:, 1].fill_(2.0)
    x.T[3].zero_()
    x[::2, 2:].fill_(5.0)
    want = np.zeros((3, 4), np.float32)
    want[:, 1] = 2
    want[::2, 2:] = 5
    want[:, 3] = np.where(np.arange(3) % 2 == 0, 5, 0)
    np.testing.assert_array_equal(x.numpy(), want)
    y = md.zeros(4, 6)
    md.manual_seed(3)
    y[:, ::2].normal_()
    md.manual_seed(3)
    ref = md.zeros(4, 3).normal_()
    np.testing.assert_array_equal(y.numpy()[:, ::2], ref.numpy())
    assert np.all(y.numpy()[:, 1::2] == 0)
    y.T.uniform_(2.0, 3.0)
    assert np.all((y.numpy() >= 2) & (y.numpy() < 3))


def test_scalar_to_a_tensor_power_at_base_zero_has_torchs_gradient():
    torch = pytest.importorskip("torch")
    a = np.array([0.0, 1.0, 2.5], np.float32)
    m, t = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (0.0**m).sum().backward()
    (0.0**t).sum().backward()
    np.testing.assert_array_equal(m.grad.numpy(), t.grad.numpy())
    m2, t2 = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (2.0**m2).sum().backward()
    (2.0**t2).sum().backward()
    np.testing.assert_allclose(m2.grad.numpy(), t2.grad.numpy(), rtol=1e-6)


def test_grad_mode_decorators_without_parentheses_and_on_generators():
    @md.no_grad
    def plain():
        return md.is_grad_enabled()

    @md.no_grad()
    def gen():
        got = yield md.is_grad_enabled()
        yield got, md.is_grad_enabled()
        return "done"

    assert plain() is False and md.is_grad_enabled()
    it = gen()
    assert next(it) is False and md.is_grad_enabled()  # the caller's mode between resumptions
    assert it.send(5) == (5, False) and md.is_grad_enabled()
    with pytest.raises(StopIteration) as stop:
        next(it)
    assert stop.value.value == "done"
    with md.no_grad():

        @md.enable_grad
        def inside():
            return md.is_grad_enabled()

        assert inside() is True and not md.is_grad_enabled()
    with pytest.raises(TypeError, match="set_grad_enabled: mode must be a bool"):
        md.set_grad_enabled(0)


def test_max_with_a_tensor_is_the_elementwise_maximum_and_bad_dims_name_the_op():
    x = md.tensor([[1.0, 5.0], [7.0, 2.0]])
    np.testing.assert_array_equal(x.max(md.tensor([3.0, 3.0])).numpy(), [[3, 5], [7, 3]])
    with pytest.raises(TypeError, match="max: dim must be an int"):
        x.max(dim=(0, 1))
    with pytest.raises(ValueError, match="max: the integer"):
        x.max(dim=2**70)


def test_max_indices_changed_in_place_do_not_steer_the_gradient():
    # the indices returned are a copy of those the backward keeps (torch raises at backward instead)
    x = md.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], requires_grad=True)
    values, indices = x.max(1)
    with md.no_grad():
        indices.fill_(2)  # would steer the gradient (or, out of range, write past the buffer)
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    kept_values, kept = x.max(1, keepdim=True)  # keepdim: the indices are the saved ones, so a change is caught
    with md.no_grad():
        kept.fill_(2)
    with pytest.raises(RuntimeError, match="'max' saved"):
        kept_values.sum().backward()


def test_in_place_change_of_a_view_inside_the_graph_reaches_its_base():
    # as torch's: the base sees the new values, and its gradient goes through the change
    w = md.tensor(np.arange(4.0, dtype=np.float32), requires_grad=True)
    h = w * 2.0
    v = h[1:3]
    v *= v  # the product's gradient needs v's old values
    np.testing.assert_array_equal(h.numpy(), [0.0, 4.0, 16.0, 6.0])
    h.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 8.0, 16.0, 2.0])  # d(4 w^2)/dw = 8 w inside
    leaf = md.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf tensor of shape \\[4\\] that requires grad"):
        q = leaf[0:2]
        q += 1


def test_comparisons_give_masks_as_torch_does():
    # bool masks, as torch's; `if t == 0:` works as in torch
    torch = pytest.importorskip("torch")
    a = np.array([1.0, np.nan, 3.0, -2.0], np.float32)
    b = np.array([1.0, np.nan, 2.0, 5.0], np.float32)
    ma, mb, ta, tb = md.tensor(a), md.tensor(b), torch.from_numpy(a), torch.from_numpy(b)
    for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        got = getattr(ma, op)(mb)
        assert got.dtype == "bool" and got.numpy().dtype == np.bool_
        np.testing.assert_array_equal(got.numpy(), getattr(ta, op)(tb).numpy())
        np.testing.assert_array_equal(getattr(ma, op)(2.0).numpy(), getattr(ta, op)(2.0).numpy())
    np.testing.assert_array_equal((2.0 < ma).numpy(), [False, False, True, False])
    t = md.full((1,), 0, dtype="int64")
    assert bool(t == 0) and not bool(t != 0)
    assert (t == None) is False and (t != None) is True  # noqa: E711 (identity fallback)
    p = md.ones(3)
    assert p in {p} and len({md.ones(2): 1, md.ones(2): 2}) == 2  # hashed by identity, as in torch


def test_randint_takes_torchs_dtype_argument():
    assert md.randint(0, 10, (3,), dtype=md.int64).dtype == "int64"
    assert md.randint(0, 10, (3,), dtype=md.uint8).dtype == "uint8"
    with pytest.raises(TypeError, match="randint: dtype must be an integer dtype"):
        md.randint(0, 10, (3,), dtype=md.float32)
    with pytest.raises(ValueError, match="randint"):  # bounds past the dtype, as torch refuses them
        md.randint(0, 300, (3,), dtype=md.uint8)


def test_int64_in_place_arithmetic_with_ints_stays_int64():
    a = md.arange(4)
    a += 1
    a *= 3
    a -= md.arange(4)
    a += np.int64(2)
    assert a.dtype == "int64"
    np.testing.assert_array_equal(a.numpy(), [5, 7, 9, 11])
    for change in (lambda: a.__iadd__(0.5), lambda: a.__itruediv__(2), lambda: a.__iadd__(md.ones(4))):
        with pytest.raises(TypeError, match=r"cannot be written into an integer tensor \(int64\)"):
            change()
    np.testing.assert_array_equal(a.numpy(), [5, 7, 9, 11])


def test_max_over_a_dim_of_an_empty_tensor():
    values, indices = md.zeros(0, 3).max(1)  # another dimension is empty: empty results, as torch
    assert values.shape == indices.shape == (0,) and indices.dtype == "int64"
    with pytest.raises(ValueError, match="max: cannot reduce dimension 1 of size 0"):
        md.zeros(3, 0).max(1)
