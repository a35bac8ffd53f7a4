"""md.autograd.Function (torch.autograd.Function): user-written forward and backward, against
finite differences and, where installed, torch's own Function with the same code."""

import numpy as np
import pytest

import minidiff as md


def _functions(L):
    class Cube(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    class MulAdd(L.autograd.Function):  # torch's newer style: forward without ctx, setup_context
        @staticmethod
        def forward(x, w, k):
            return x * w + k, (x * w).sum()

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, w, k = inputs
            ctx.save_for_backward(x, w)
            ctx.k = k

        @staticmethod
        def backward(ctx, g_out, g_sum):
            x, w = ctx.saved_tensors
            return (g_out + g_sum) * w, (g_out + g_sum) * x, None

    class Sort(L.autograd.Function):  # an index output that is not differentiable
        @staticmethod
        def forward(ctx, x):
            values, indices = x.sort()
            ctx.mark_non_differentiable(indices)
            ctx.save_for_backward(indices)
            return values, indices

        @staticmethod
        def backward(ctx, g_values, g_indices):
            (indices,) = ctx.saved_tensors
            return L.zeros(*g_values.shape).scatter(-1, indices, g_values)

    return Cube, MulAdd, Sort


def _program(L, a, b):
    Cube, MulAdd, Sort = _functions(L)
    x = L.tensor(a, requires_grad=True)
    w = L.tensor(b, requires_grad=True)
    product, total = MulAdd.apply(Cube.apply(x), w, 2.0)
    values, indices = Sort.apply(product)
    loss = (values * L.tensor(b)).sum() + total * 3
    loss.backward()
    return loss, x, w, values, indices


def _data():
    rng = np.random.default_rng(0)
    return rng.uniform(0.5, 1.5, (3, 4)).astype(np.float32), rng.uniform(-1, 1, (3, 4)).astype(np.float32)


def test_gradients_match_finite_differences():
    a, b = _data()
    _, x, w, _, _ = _program(md, a, b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    np.testing.assert_allclose(x.grad.numpy(), _central(lambda v: _program_value(v, b64, b64), a64), rtol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), _central(lambda v: _program_value(a64, v, b64), b64), rtol=1e-4)


def _central(f, a, eps=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        hi, lo = a.copy(), a.copy()
        hi[i] += eps
        lo[i] -= eps
        g[i] = (f(hi) - f(lo)) / (2 * eps)
    return g


def _program_value(a, b, weights):
    cubed = a**3
    product = cubed * b + 2.0
    return (np.sort(product, -1) * weights).sum() + 3 * (cubed * b).sum()


def test_matches_torch():
    torch = pytest.importorskip("torch")
    a, b = _data()
    mine, theirs = _program(md, a, b), _program(torch, a, b)
    np.testing.assert_allclose(mine[0].item(), theirs[0].item(), rtol=1e-6)
    for m, t in zip(mine[1:3], theirs[1:3]):
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert mine[3].grad_fn.name() == theirs[3].grad_fn.name() == "SortBackward"
    assert not mine[4].requires_grad and mine[4].dtype == "int64"


def test_outside_the_graph_the_forward_output_is_returned():
    Cube, _, _ = _functions(md)
    x = md.tensor([1.0, 2.0])
    y = Cube.apply(x)
    assert not y.requires_grad and y.tolist() == [1.0, 8.0]
    with md.no_grad():
        assert not Cube.apply(md.tensor([2.0], requires_grad=True)).requires_grad


def test_needs_input_grad_kwargs_and_materialize_grads():
    seen = {}

    class Two(md.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, scale=1.0):
            seen["needs"] = ctx.needs_input_grad
            ctx.set_materialize_grads(False)
            return x * scale, y * scale

        @staticmethod
        def backward(ctx, gx, gy):
            seen["grads"] = (gx.tolist(), gy.tolist())
            return gx * 2, None

    x, y = md.tensor([1.0, 2.0], requires_grad=True), md.tensor([3.0])
    a, _ = Two.apply(x, y, scale=5.0)
    a.sum().backward()
    # the unused output's gradient is zeros (torch's is None with set_materialize_grads(False))
    assert seen == {"needs": (True, False), "grads": ([1.0, 1.0], [0.0])}
    assert x.grad.tolist() == [2.0, 2.0]


def test_hooks_retain_graph_and_repeated_backward():
    Cube, _, _ = _functions(md)
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x)
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.sum().backward(retain_graph=True)
    y.sum().backward()
    assert seen == [[1.0, 1.0], [1.0, 1.0]] and x.grad.tolist() == [6.0, 24.0]


class _Bad(md.autograd.Function):
    @staticmethod
    def forward(ctx, x, how):
        ctx.how = how
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return {
            "too many": lambda: (g, None, g),
            "shape": lambda: (g.sum(), None),
            "type": lambda: ([1.0], None),
            "raises": lambda: (1 / 0, None),
        }[ctx.how]()


@pytest.mark.parametrize(
    "how, error, match",
    [("too many", RuntimeError, "incorrect number of gradients"), ("shape", RuntimeError, "invalid gradient"),
     ("type", TypeError, "expected a tensor"), ("raises", ZeroDivisionError, "division by zero")],
)  # fmt: skip
def test_bad_backwards_raise_clearly(how, error, match):
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = _Bad.apply(x, how)
    with pytest.raises(error, match=match):
        y.sum().backward()


class _Broadcasting(md.autograd.Function):
    # a backward that returns each gradient in the output's (broadcast) shape, as user code often does
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y + x

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * (y + 1), g * x


@pytest.mark.parametrize("xs, ys", [((1,), (3,)), ((2, 1), (3,)), ((3,), (4, 1, 3)), ((), (2, 2)), ((2, 3), (2, 3))])
def test_a_gradient_of_the_broadcast_shape_is_summed_down_to_the_input_as_torchs(xs, ys):
    # torch reduces a returned gradient whose shape the input broadcasts to (fuzz seed 181 #83: minidiff raised)
    r = np.random.default_rng(0)
    a, b = r.standard_normal(xs).astype(np.float32), r.standard_normal(ys).astype(np.float32)
    x, y = md.tensor(a, requires_grad=True), md.tensor(b, requires_grad=True)
    out = _Broadcasting.apply(x, y)
    w = r.standard_normal(tuple(out.shape)).astype(np.float32)
    out.backward(md.tensor(w))
    shape = np.broadcast_shapes(xs, ys)
    gx, gy = w * (np.broadcast_to(b, shape) + 1), w * np.broadcast_to(a, shape)

    def sum_to(g, target):
        lead = g.ndim - len(target)
        g = g.sum(axis=tuple(range(lead)))
        return g.sum(axis=tuple(i for i, n in enumerate(target) if n == 1), keepdims=True).reshape(target)

    np.testing.assert_allclose(x.grad.numpy(), sum_to(gx, xs), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), sum_to(gy, ys), rtol=1e-5, atol=1e-6)
    assert x.grad.shape == xs and y.grad.shape == ys


def test_a_gradient_the_input_does_not_broadcast_to_still_raises():
    class Wrong(md.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return md.ones(2, 4)  # (3,) does not broadcast to (2, 4)

    x = md.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"invalid gradient at index 0 - got \[2, 4\] but expected shape compatible"):
        Wrong.apply(x).sum().backward()


def test_misuse_raises():
    with pytest.raises(RuntimeError, match="apply"):
        _Bad()

    class Dirty(md.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x

    with pytest.raises(NotImplementedError, match="mark_dirty"):
        Dirty.apply(md.tensor([1.0], requires_grad=True))
    assert md.autograd.function.once_differentiable(len) is len


def test_saved_tensors_are_the_tensors_saved_so_checkpointing_recomputes_with_grad():
    # torch.utils.checkpoint's pattern: backward re-runs the forward on a detached copy that requires
    # grad as the saved input does; a saved tensor without its requires_grad loses the gradient
    class Checkpoint(md.autograd.Function):
        @staticmethod
        def forward(ctx, run, x):
            ctx.run = run
            ctx.save_for_backward(x)
            with md.no_grad():
                return run(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            d = x.detach()
            d.requires_grad = x.requires_grad
            with md.enable_grad():
                out = ctx.run(d)
            md.autograd.backward(out, g)
            return None, d.grad

    a = np.array([1.0, 2.0, -0.5], np.float32)
    x = md.tensor(a, requires_grad=True)
    Checkpoint.apply(lambda t: (t * 3).sin(), x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.cos(3 * a), rtol=1e-6)
    w = md.tensor(a, requires_grad=True) * 2
    out = Checkpoint.apply(lambda t: t * t, w)
    with md.no_grad():
        w.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace"):  # the version check stays
        out.sum().backward()
