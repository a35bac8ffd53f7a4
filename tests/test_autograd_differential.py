"""Autograd semantics of minidiff against torch's (the oracle): grad modes as context managers and
decorators, md.autograd.backward and md.autograd.grad, requires_grad propagation, accumulation,
retain_grad and hooks, in-place changes inside and outside the graph, and saved-tensor checks.
Differences whose cause lies outside minidiff/autograd.py are strict xfails naming the file."""

import warnings

import numpy as np
import pytest

import minidiff as md

torch = pytest.importorskip("torch")


def pair(values, requires_grad=False):
    a = np.asarray(values, dtype=np.float32)
    m = md.tensor(a)
    if requires_grad:
        m.requires_grad_(True)
    return m, torch.tensor(a, requires_grad=requires_grad)


def both(fn):
    """fn(lib) on minidiff and torch: the results, or the exception types."""
    out = []
    for lib in (md, torch):
        try:
            out.append(fn(lib))
        except Exception as e:  # noqa: BLE001 - the type is what is compared
            out.append(type(e))
    return out


def mk(lib, values, requires_grad=False):
    a = np.asarray(values, dtype=np.float32)
    if lib is torch:
        return torch.tensor(a, requires_grad=requires_grad)
    t = md.tensor(a)
    return t.requires_grad_(True) if requires_grad else t


# ---------------------------------------------------------------- grad modes


def test_nested_modes_match_torch_including_inference_mode_false():
    def modes(lib):
        r = []
        with lib.no_grad():
            r.append(lib.is_grad_enabled())
            with lib.inference_mode(False):  # torch turns gradients on here
                r.append(lib.is_grad_enabled())
            with lib.enable_grad():
                r.append(lib.is_grad_enabled())
                with lib.inference_mode():
                    r.append(lib.is_grad_enabled())
                    with lib.inference_mode(False):
                        r.append(lib.is_grad_enabled())
                    r.append(lib.is_grad_enabled())
                with lib.set_grad_enabled(False):
                    r.append(lib.is_grad_enabled())
                r.append(lib.is_grad_enabled())
        r.append(lib.is_grad_enabled())
        return r

    got, want = both(modes)
    assert got == want


def test_inference_mode_false_as_decorator_enables_grad():
    def run(lib):
        @lib.inference_mode(False)
        def f():
            return lib.is_grad_enabled()

        with lib.no_grad():
            return f(), lib.is_grad_enabled()

    got, want = both(run)
    assert got == want == (True, False)


def test_is_inference_mode_enabled_tracks_torch():
    def run(lib):
        flag = lib.is_inference_mode_enabled if lib is torch else md.autograd.is_inference_mode_enabled
        r = [flag()]
        with lib.inference_mode():
            r.append(flag())
            with lib.inference_mode(False):
                r.append(flag())
            with lib.no_grad():
                r.append(flag())
            r.append(flag())
        r.append(flag())

        @lib.inference_mode()
        def gen():
            yield flag()
            yield flag()

        r.append([(v, flag()) for v in gen()])
        try:
            with lib.inference_mode():
                raise KeyError
        except KeyError:
            pass
        r.append(flag())
        return r

    got, want = both(run)
    assert got == want


def test_top_level_is_inference_mode_enabled():
    with md.inference_mode():
        assert md.is_inference_mode_enabled()


def test_decorators_and_generators_match_torch():
    def run(lib):
        @lib.no_grad()
        def a():
            return lib.is_grad_enabled()

        @lib.no_grad
        def b():
            return lib.is_grad_enabled()

        @lib.enable_grad()
        def c():
            return lib.is_grad_enabled()

        @lib.inference_mode
        def d():
            return lib.is_grad_enabled()

        @lib.set_grad_enabled(False)
        def e():
            return lib.is_grad_enabled()

        @lib.no_grad()
        def gen():
            got = yield lib.is_grad_enabled()
            yield (got, lib.is_grad_enabled())

        @lib.enable_grad()
        @lib.no_grad()
        def nested():
            return lib.is_grad_enabled()

        with lib.no_grad():
            inside = (c(), lib.is_grad_enabled())
        g = gen()
        first = next(g)
        outside = lib.is_grad_enabled()
        second = g.send("x")
        return a(), b(), d(), e(), lib.is_grad_enabled(), inside, first, outside, second, nested()

    got, want = both(run)
    assert got == want


def test_set_grad_enabled_call_and_type_check():
    def run(lib):
        x = mk(lib, [1.0, 2.0], True)
        lib.set_grad_enabled(False)
        y = x * 2
        lib.set_grad_enabled(True)
        with lib.set_grad_enabled(False):
            z = x * 2
        return y.requires_grad, z.requires_grad, lib.is_grad_enabled()

    got, want = both(run)
    assert got == want
    with pytest.raises(TypeError):
        md.set_grad_enabled(1)


# ---------------------------------------------------------------- md.autograd.backward


def test_autograd_backward_several_tensors_and_grad_tensors():
    def run(lib):
        x = mk(lib, [1.0, -2.0, 3.0], True)
        h = x * 3
        seen = []
        h.register_hook(lambda g: seen.append(g.tolist()))
        a, b = h * 2, (h * h).sum()
        with lib.no_grad():  # torch's backward runs under no_grad too
            lib.autograd.backward([a, b], [mk(lib, [1.0, 2.0, 3.0]), None])
        return x.grad.tolist(), seen

    (got, got_seen), (want, want_seen) = both(run)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert len(got_seen) == len(want_seen) == 1  # one pass: the shared node's hook fires once
    np.testing.assert_allclose(got_seen[0], want_seen[0], rtol=1e-6)


def test_autograd_backward_single_tensor_retain_graph_and_accumulation():
    def run(lib):
        x = mk(lib, [1.0, 2.0], True)
        y = x * x
        lib.autograd.backward(y, grad_tensors=mk(lib, [1.0, 1.0]), retain_graph=True)
        lib.autograd.backward(y.sum())
        lib.autograd.backward((x * 3).sum())
        return x.grad.tolist()

    got, want = both(run)
    assert got == want


def test_autograd_backward_errors():
    for fn in (
        lambda lib: lib.autograd.backward([mk(lib, [1.0, 2.0], True) * 2]),  # non-scalar, no gradient
        lambda lib: lib.autograd.backward([mk(lib, [1.0, 2.0])]),  # does not require grad
        lambda lib: lib.autograd.backward([mk(lib, [2.0], True) * 2] * 2, [mk(lib, [1.0])]),  # too few gradients
    ):
        got, want = both(fn)
        assert got is want is RuntimeError
    x = md.tensor(np.ones(2, np.float32)).requires_grad_(True)
    y = (x * x).sum()
    md.autograd.backward(y)
    with pytest.raises(RuntimeError, match="second time"):
        md.autograd.backward(y)
    with pytest.raises(NotImplementedError, match="create_graph"):
        md.autograd.backward((x * x).sum(), create_graph=True)


# ---------------------------------------------------------------- md.autograd.grad


@pytest.mark.torch_2_13
def test_grad_empty_inputs_raises_as_torch():
    got, want = both(lambda lib: lib.autograd.grad((mk(lib, [1.0, 2.0], True) ** 2).sum(), []))
    assert got is want is RuntimeError


def test_grad_casts_grad_outputs_of_another_dtype():
    def run(lib):
        x = mk(lib, [1.0, 2.0], True)
        y = x * x
        (g1,) = lib.autograd.grad(y, x, grad_outputs=mk(lib, [1.0, 2.0]).long(), retain_graph=True)
        (g2,) = lib.autograd.grad(y, x, grad_outputs=mk(lib, [1.0, 2.0]).bfloat16())
        return g1.tolist(), g2.tolist(), str(g1.dtype)[-7:]

    got, want = both(run)
    assert got == want


def test_grad_options_match_torch():
    def run(lib):
        x, z = mk(lib, [1.0, 2.0], True), mk(lib, [3.0, 4.0], True)
        h = x * z
        y = (h * h).sum()
        gx, gz, gh = lib.autograd.grad(y, [x, z, h], retain_graph=True)
        gu = lib.autograd.grad(y, [x, mk(lib, [0.0], True)], allow_unused=True, retain_graph=True)[1]
        gm = lib.autograd.grad(y, [mk(lib, [0.0, 0.0], True)], materialize_grads=True, retain_graph=True)[0]
        (gl,) = lib.autograd.grad([h, y], x, grad_outputs=[mk(lib, [1.0, -1.0]), None])
        return [g.tolist() for g in (gx, gz, gh, gm, gl)], gu, x.grad, gx.requires_grad

    got, want = both(run)
    assert got == want
    errors = [
        lambda lib: lib.autograd.grad((mk(lib, [1.0], True) * 2).sum(), mk(lib, [1.0])),  # input without grad
        lambda lib: lib.autograd.grad(mk(lib, [1.0]).sum(), mk(lib, [1.0], True)),  # output without grad
        lambda lib: lib.autograd.grad(mk(lib, [1.0, 2.0], True) * 2, mk(lib, [1.0], True)),  # non-scalar
        lambda lib: lib.autograd.grad((mk(lib, [1.0], True) * 2).sum(), mk(lib, [1.0], True)),  # unused
    ]
    for fn in errors:
        got, want = both(fn)
        assert got is want is RuntimeError
    got, want = both(
        lambda lib: lib.autograd.grad(
            mk(lib, [1.0], True).sum(), [mk(lib, [1.0], True)], allow_unused=False, materialize_grads=True
        )
    )
    assert got is want is ValueError


def test_grad_twice_without_retain_graph_raises():
    def run(lib):
        x = mk(lib, [1.0, 2.0], True)
        y = (x.exp() * x).sum()
        lib.autograd.grad(y, x)
        lib.autograd.grad(y, x)

    got, want = both(run)
    assert got is want is RuntimeError


# ---------------------------------------------------------------- tensors in the graph


def test_requires_grad_propagation_and_leaf_flags():
    def run(lib):
        x = mk(lib, [1.0, 2.0], True)
        y = x * 2
        d = y.detach()
        flags = [(x > 1).requires_grad, x.long().requires_grad, (x.long() * 2).requires_grad, d.requires_grad]
        flags += [x.argmax().requires_grad, x.sum().requires_grad, x.is_leaf, y.is_leaf, d.is_leaf]
        flags += [x.grad_fn is None, y.grad_fn is None, d.grad_fn is None, x.clone().is_leaf]
        y.requires_grad_(True)
        flags.append(y.requires_grad)
        return flags

    got, want = both(run)
    assert got == want
    for fn in (
        lambda lib: setattr(mk(lib, [1.0], True) * 2, "requires_grad", False),
        lambda lib: mk(lib, [1.0]).retain_grad(),
        lambda lib: mk(lib, [1.0]).register_hook(lambda g: g),
        lambda lib: mk(lib, [1.0], True).add_(1),
    ):
        got, want = both(fn)
        assert got is want is RuntimeError


def test_accumulation_retain_grad_hooks_and_reuse():
    def run(lib):
        x = mk(lib, [1.0, -2.0, 3.0], True)
        order = []
        y = x * x + x * 3  # x used twice
        y.register_hook(lambda g: order.append("h1"))
        y.retain_grad()
        y.register_hook(lambda g: (order.append("h2"), g * 10)[1])
        (y * y).sum().backward()
        (x.view(3, 1).expand(3, 2) * mk(lib, [[1.0, 2.0]] * 3)).sum().backward()
        x.grad.zero_()
        (x[1:] * 2).sum().backward()
        return order, y.grad.tolist(), x.grad.tolist(), y.retains_grad, x.retains_grad

    got, want = both(run)
    assert got == want


def test_in_place_ops_on_non_leaves_inside_the_graph():
    def run(lib):
        x = mk(lib, [1.0, 2.0, 3.0], True)
        w = mk(lib, [5.0], True)
        y = x * 1
        y += x
        y.mul_(x)
        y.clamp_(0, 10)
        y[1] = w[0] * 3
        (y * y).sum().backward()
        return x.grad.tolist(), w.grad.tolist(), y.tolist()

    got, want = both(run)
    assert got == want


def test_saved_tensor_modified_in_place_raises():
    def exp_out(lib):
        x = mk(lib, [1.0, 2.0], True)
        y = x.exp()
        with lib.no_grad():
            y.add_(1)
        y.sum().backward()

    def mul_leaf(lib):
        x = mk(lib, [1.0, 2.0], True)
        y = x * x
        with lib.no_grad():
            x[0] = 5.0
        y.sum().backward()

    def sigmoid_out(lib):
        x = mk(lib, [1.0, 2.0], True)
        y = x.sigmoid()
        with lib.no_grad():
            y.mul_(2)
        y.sum().backward()

    def mul_other(lib):
        a, b = mk(lib, [1.0, 2.0], True), mk(lib, [3.0, 4.0])
        y = a * b
        b.add_(1)
        y.sum().backward()

    for fn in (exp_out, mul_leaf, sigmoid_out, mul_other):
        got, want = both(fn)
        assert got is want is RuntimeError, fn.__name__


def test_backward_twice_and_non_scalar_errors():
    def twice(lib):
        x = mk(lib, [1.0, 2.0], True)
        y = (x * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        r = x.grad.tolist()
        y.backward()
        return r

    def non_scalar(lib):
        (mk(lib, [1.0, 2.0], True) * 2).backward()

    for fn in (twice, non_scalar):
        got, want = both(fn)
        assert got is want is RuntimeError


# ---------------------------------------------------------------- differences outside autograd.py


def test_tensor_backward_casts_gradient_dtype():
    x = md.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
    (x * x).backward(md.tensor(np.array([1.0, 1.0], np.float32)).long())
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_detach_in_place():
    x = md.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
    y = x * 2
    y.detach_()
    assert not y.requires_grad and y.is_leaf and y.grad_fn is None


def test_non_leaf_grad_access_warns():
    x = md.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
    y = x * 2
    with pytest.warns(UserWarning, match="not a leaf"):
        assert y.grad is None


def test_grad_assignment_of_a_list_is_a_type_error():
    x = md.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
    with pytest.raises(TypeError):
        x.grad = [1.0, 2.0]


def test_grad_fn_is_a_node():
    x = md.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
    assert (x * 2).grad_fn.name() == "MulBackward0"


def test_tensor_backward_inputs():
    x = md.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
    w = md.tensor(np.array([3.0, 4.0], np.float32)).requires_grad_(True)
    (x * w).sum().backward(inputs=[x])
    assert w.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_reading_grad_of_non_leaf_is_none():
    x = md.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (x * 2).grad is None


def _np(t):
    return t.detach().numpy()


def test_grad_fn_names_and_next_functions_as_torch():
    for L in (md, torch):
        x = L.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
        w = L.tensor(np.array([3.0, 4.0], np.float32)).requires_grad_(True)
        y = (x * w).sum()
        assert y.grad_fn.name() == "SumBackward0" and repr(y).endswith("grad_fn=<SumBackward0>)")
        ((mul, _),) = y.grad_fn.next_functions
        assert mul.name() == "MulBackward0" and y.grad_fn is y.grad_fn
        leaves = [fn.variable for fn, _ in mul.next_functions]
        assert [fn.name() for fn, _ in mul.next_functions] == ["torch::autograd::AccumulateGrad"] * 2
        np.testing.assert_array_equal(_np(leaves[0]), [1.0, 2.0])
        np.testing.assert_array_equal(_np(leaves[1]), [3.0, 4.0])
        c = L.tensor(np.array([1.0, 1.0], np.float32))
        assert (x * c).grad_fn.next_functions[1][0] is None  # an input that does not require grad


@pytest.mark.parametrize("how", ["method", "function"])
def test_backward_inputs_as_torch(how):
    def run(L):
        x = L.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
        w = L.tensor(np.array([3.0, 4.0], np.float32)).requires_grad_(True)
        u = L.tensor(np.array([1.0, 1.0], np.float32)).requires_grad_(True)
        q = L.tensor(np.array([5.0, 5.0], np.float32)).requires_grad_(True)
        x.grad = L.tensor(np.array([10.0, 10.0], np.float32))  # accumulates onto it
        m = x * w
        n = (m * 3).sum() + 0 * u.sum()
        inputs = [x, u, q, m]
        n.backward(inputs=inputs) if how == "method" else L.autograd.backward(n, inputs=inputs)
        return [None if t.grad is None else _np(t.grad) for t in (x, w, u, q, m)], m.retains_grad

    (mg, mr), (tg, tr) = run(md), run(torch)
    assert mr == tr
    for a, b in zip(mg, tg):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b)


def test_backward_inputs_errors_as_torch():
    for L in (md, torch):
        x = L.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
        with pytest.raises(RuntimeError, match="cannot be empty"):
            (x * 2).sum().backward(inputs=[])
        with pytest.raises(RuntimeError):
            (x * 2).sum().backward(inputs=[L.ones(2)])


def test_detach_in_place_of_a_view_raises_as_torch():
    for L in (md, torch):
        x = L.tensor(np.array([1.0, 2.0], np.float32)).requires_grad_(True)
        with pytest.raises(RuntimeError, match="view"):
            (x * 2)[:1].detach_()
        y = x * 2
        assert y.detach_() is y


# ---- in-place changes through views inside the graph (torch's CopySlices)

VIEW_PROGRAMS = {
    "row of a product": "h = x * 1\nh[0].mul_(2)\nout = (h * h).sum()",
    "column plus a leaf": "h = x * 1\nv = h[:, 1]\nv.add_(w[:3])\nout = (h ** 2).sum()",
    "copy into a plain tensor": "b = L.zeros(3, 4)\nb[1:3].copy_(x[:2])\nout = (b * b).sum()",
    "add a leaf into a plain tensor": "b = L.zeros(3, 4)\nb[1].add_(w)\nout = (b * b).sum()",
    "other view used after": "h = x * 1\na = h[0]\nc = h[1]\nc.mul_(3)\nout = (a * c).sum() + (h * h).sum()",
    "view multiplied by a leaf": "h = x * 1\nc = h[1]\nc.mul_(w)\nout = (h[0] * h[1]).sum() + (h ** 3).sum()",
    "setitem into a view": "h = x * 1\nh[0][1] = w[0]\nout = (h ** 2).sum()",
    "clamp_ of a transposed row": "h = x * 1\nh.t()[1].clamp_(0.6, 0.9)\nout = (h ** 2).sum()",
    "div_ of a reshaped slice": "h = (x * 1).reshape(12)\nh[2:5].div_(w[:3])\nout = (h ** 2).sum()",
    "old view of a plain tensor": "b = L.zeros(3, 4)\ng = b[2]\nb[2].add_(w)\nout = (g * g).sum() + 0 * x.sum()",
    "view of a view": "h = x * 1\nh.unsqueeze(0)[0, 1].mul_(5)\nout = (h ** 2).sum()",
    "diagonal": "h = x * 1\nh.diagonal().mul_(5)\nout = (h ** 2).sum()",
    "twice through one view": "h = x * 1\nv = h[2]\nv.add_(w)\nv.mul_(3)\nout = (h ** 2).sum() + v.sum()",
    "row of a transposed clone": "h = (x * 1).t().clone()\nh[0].mul_(w[:3])\nout = (h * h).sum()",
    "old column of a transposed clone": "h = (x * 1).t().clone()\ng = h[:, 1]\nh[1:3].add_(1)\n"
    "out = (g * g).sum() + (h ** 2).sum()",
    "diagonal of a transposed clone": "h = (x * 1).t().clone()\nh.diagonal().mul_(3)\nout = (h ** 3).sum()",
    "copy into a transposed plain tensor": "b = L.zeros(4, 3).t()\nb.copy_(x)\nout = (b * b).sum()",
}


def _run_view_program(L, program):
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7 + 0.5
    x = L.tensor(a, requires_grad=True)
    w = L.tensor(a[0] * 2, requires_grad=True)
    env = {"x": x, "w": w, "L": L}
    exec(program, env)
    env["out"].backward()
    return [_np(env["out"])] + [None if t.grad is None else _np(t.grad) for t in (x, w)]


@pytest.mark.parametrize("name", list(VIEW_PROGRAMS))
def test_in_place_change_through_a_view_as_torch(name):
    for m, t in zip(_run_view_program(md, VIEW_PROGRAMS[name]), _run_view_program(torch, VIEW_PROGRAMS[name])):
        assert (m is None) == (t is None)
        if m is not None:
            np.testing.assert_allclose(m, t, rtol=1e-5, atol=1e-5)


def test_old_view_takes_the_new_history_when_next_used():
    for L in (md, torch):
        x = L.tensor(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), requires_grad=True)
        h = x * 1
        g = h[0]
        h[0].mul_(2)  # through another view of h
        assert g.requires_grad and g.grad_fn.name() == "AsStridedBackward0"
        np.testing.assert_array_equal(_np(g), [2.0, 4.0])


def test_in_place_change_through_a_view_where_torch_refuses_is_right():
    # torch raises (mul_ saved the view's old values); minidiff computes on a copy of them: the
    # gradient of sum(h) for h = 2x with h[1:, ::2] squared in place, against finite differences
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7 + 0.5
    x = md.tensor(a, requires_grad=True)
    h = x * 2
    v = h[1:, ::2]
    v.mul_(v)
    h.sum().backward()
    want = np.full_like(a, 2.0)
    want[1:, ::2] = 8 * a[1:, ::2]  # d(4 x^2)/dx
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-6)


def test_in_place_change_of_a_view_of_a_leaf_that_requires_grad_raises_as_torch():
    for L in (md, torch):
        x = L.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            x[1:].mul_(2)
