"""md.autograd.grad and Tensor.retain_grad, as torch's: gradients with respect to leaves and
non-leaves without touching the leaves' .grad, weighted outputs, unused inputs, and retained
gradients of intermediate tensors (also filled by autograd.grad, as torch fills them)."""

import numpy as np
import pytest

import minidiff as md


def data(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_grad_of_leaves_and_non_leaves_leaves_dot_grad_alone():
    x = md.tensor(data(0, 3, 4), requires_grad=True)
    w = md.tensor(data(1, 4, 2), requires_grad=True)
    h = x @ w
    y = (h * h).sum()
    gx, gh = md.autograd.grad(y, (x, h))
    np.testing.assert_allclose(gh.numpy(), 2 * h.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(gx.numpy(), gh.numpy() @ w.detach().numpy().T, rtol=1e-5, atol=1e-6)
    assert x.grad is None and w.grad is None  # nothing accumulated
    with pytest.raises(RuntimeError, match="second time"):  # the graph was freed (no retain_graph)
        y.backward()


def test_grad_weights_outputs_and_sums_several():
    x = md.tensor(data(2, 5), requires_grad=True)
    v = data(3, 5)
    (g,) = md.autograd.grad(x * 3.0, x, grad_outputs=md.tensor(v))
    np.testing.assert_allclose(g.numpy(), 3.0 * v, rtol=1e-6)
    (g,) = md.autograd.grad([x.sum(), (x * x).sum()], [x])
    np.testing.assert_allclose(g.numpy(), 1.0 + 2.0 * x.detach().numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="one-element outputs"):
        md.autograd.grad(x * 2.0, x)
    with pytest.raises(ValueError, match="2 grad_outputs for 1 outputs"):
        md.autograd.grad(x.sum(), x, grad_outputs=[None, None])


def test_grad_unused_inputs_and_unsupported_options():
    x = md.tensor(data(4, 3), requires_grad=True)
    z = md.tensor(data(5, 3), requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used in the graph"):
        md.autograd.grad((x * 2.0).sum(), [x, z], retain_graph=True)
    gx, gz = md.autograd.grad((x * 2.0).sum(), [x, z], allow_unused=True, retain_graph=True)
    assert gz is None
    np.testing.assert_array_equal(gx.numpy(), [2.0, 2.0, 2.0])
    _, gz = md.autograd.grad((x * 2.0).sum(), [x, z], materialize_grads=True)
    np.testing.assert_array_equal(gz.numpy(), np.zeros(3, np.float32))
    with pytest.raises(NotImplementedError, match="create_graph"):
        md.autograd.grad(x.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        md.autograd.grad(x.sum(), md.ones(3))


def test_retain_grad_keeps_a_non_leafs_gradient():
    x = md.tensor(data(6, 3, 4), requires_grad=True)
    h = x * 2.0
    assert not h.retains_grad
    h.retain_grad()
    assert h.retains_grad and not x.retains_grad
    x.retain_grad()  # a leaf: nothing to do, as torch
    (h.tanh() * h).sum().backward()
    hv = h.detach().numpy()
    want = np.tanh(hv) + hv * (1 - np.tanh(hv) ** 2)
    np.testing.assert_allclose(h.grad.numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), 2 * want, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        md.ones(2).retain_grad()


def test_grad_and_retain_grad_match_torch():
    torch = pytest.importorskip("torch")
    xn, wn = data(7, 3, 4), data(8, 4, 2)

    def run(lib, ag):
        x, w = lib.tensor(xn, requires_grad=True), lib.tensor(wn, requires_grad=True)
        h = x @ w
        h.retain_grad()
        y = (h.tanh() * h).sum() + (x * x).sum()
        gx, gh, gw = ag.grad(y, [x, h, w], retain_graph=True)
        y.backward()  # h.grad then holds both passes' gradients, as torch's retained hook adds them
        return [gx, gh, gw, h.grad, x.grad, w.grad]

    for ours, theirs in zip(run(md, md.autograd), run(torch, torch.autograd)):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
