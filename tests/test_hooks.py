"""Tensor.register_hook: hooks on leaf and non-leaf gradients, against hand-derived values and,
where installed, torch's."""

from __future__ import annotations

import numpy as np
import pytest

import minidiff as md


def test_leaf_hook_scales_the_summed_gradient_once():
    calls = []
    x = md.ones(3, requires_grad=True)

    def hook(g):
        calls.append(g.numpy().copy())
        return g * 10

    x.register_hook(hook)
    (x * 2 + x * 3).sum().backward()  # two paths into x: the hook sees their sum, once
    assert len(calls) == 1 and np.allclose(calls[0], 5.0)
    assert np.allclose(x.grad.numpy(), 50.0)


def test_a_hook_returning_none_keeps_the_gradient_and_sees_it():
    seen = []
    w = md.tensor([1.0, 2.0], requires_grad=True)
    w.register_hook(lambda g: seen.append(g.numpy().copy()))
    (w * w).sum().backward()
    assert np.allclose(seen[0], [2.0, 4.0]) and np.allclose(w.grad.numpy(), [2.0, 4.0])


def test_non_leaf_hook_changes_what_flows_to_the_inputs_and_retain_grad_sees_it():
    x = md.ones(2, requires_grad=True)
    z = x * 2
    z.register_hook(lambda g: g * 5)
    z.retain_grad()
    ((z * z).sum() + z.sum()).backward()  # dz = 2z + 1 = 5, hooked 25; dx = 2 * 25
    assert np.allclose(z.grad.numpy(), 25.0) and np.allclose(x.grad.numpy(), 50.0)


def test_hooks_chain_in_registration_order():
    x = md.ones(1, requires_grad=True)
    x.register_hook(lambda g: g + 1)
    x.register_hook(lambda g: g * 3)
    (x * 2).sum().backward()
    assert x.grad.item() == (2 + 1) * 3


def test_remove_takes_the_hook_off_and_the_handle_is_a_context_manager():
    x = md.ones(2, requires_grad=True)
    handle = x.register_hook(lambda g: g * 2)
    handle.remove()
    handle.remove()  # a second remove is a no-op, as torch's
    x.sum().backward()
    assert np.allclose(x.grad.numpy(), 1.0)
    y = md.ones(2, requires_grad=True)
    with y.register_hook(lambda g: g * 7):
        y.sum().backward()
    y.sum().backward()
    assert np.allclose(y.grad.numpy(), 7.0 + 1.0)


def test_autograd_grad_runs_the_hooks():
    x = md.ones(2, requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (gx,) = md.autograd.grad((x * 3).sum(), [x])
    assert np.allclose(gx.numpy(), 30.0) and x.grad is None


def test_parameter_hook_clips_before_the_optimiser():
    lin = md.nn.Linear(4, 1)
    lin.weight.register_hook(lambda g: g.clamp(-0.01, 0.01))
    (lin(md.ones(8, 4) * 100).sum()).backward()
    assert float(lin.weight.grad.abs().max()) <= 0.01 + 1e-9
    assert float(lin.bias.grad.item()) == 8.0  # the bias has no hook


def test_hook_errors_are_python_exceptions():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        md.ones(2).register_hook(lambda g: g)
    b = md.ones(2, requires_grad=True)
    b.register_hook(lambda g: md.ones(3))
    with pytest.raises(RuntimeError, match=r"shape \[3\].*shape \[2\]"):
        (b * 1).sum().backward()
    c = md.ones(2, requires_grad=True)
    c.register_hook(lambda g: 5)
    with pytest.raises(TypeError, match="returned int"):
        (c * 1).sum().backward()

    def failing(g):
        raise KeyError("from the hook")

    d = md.ones(2, requires_grad=True)
    d.register_hook(failing)
    with pytest.raises(KeyError, match="from the hook"):
        (d * 1).sum().backward()


def test_a_hook_may_remove_itself_while_it_runs():
    x = md.ones(1, requires_grad=True)
    handles = []
    handles.append(x.register_hook(lambda g: handles[0].remove() or g * 4))
    (x * 1).sum().backward()
    (x * 1).sum().backward()
    assert x.grad.item() == 4.0 + 1.0


def test_hooks_match_torch_on_a_small_network():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    out = {}
    for lib, make in ((md, md.tensor), (torch, torch.tensor)):
        w = make(wv, requires_grad=True)
        h = make(xv) @ w
        h.register_hook(lambda g: g * (g > 0))
        a = lib.tanh(h)
        a.register_hook(lambda g: g - g.mean())
        w.register_hook(lambda g: g / (1 + g.abs()))
        (a * a).sum().backward()
        out[lib.__name__] = w.grad.detach().numpy() if lib is torch else w.grad.numpy()
    np.testing.assert_allclose(out["minidiff"], out["torch"], rtol=1e-5, atol=1e-6)
