"""Module forward hooks (register_forward_pre_hook / register_forward_hook): on layers called from
Python, on modules written in Python, and on the submodules of a native UNet2DModel, whose native
forward runs them too; against torch's semantics and, where installed, diffusers' hooked outputs."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from tiny_unet import TINY

import minidiff as md

_CFG = dict(TINY, attention_head_dim=8)  # heads of 8 channels: 2 heads at 16 channels


def test_forward_hook_sees_args_and_output_and_may_replace_it():
    lin = md.nn.Linear(2, 3)
    seen = []
    lin.register_forward_hook(lambda m, args, out: seen.append((m, args, out)))
    x = md.ones(4, 2)
    y = lin(x)
    ((m, args, out),) = seen
    assert m is lin and isinstance(args, tuple) and args[0] is x and out is y
    lin.register_forward_hook(lambda m, args, out: out * 0 + 7)
    assert np.all(lin(x).numpy() == 7.0)


def test_pre_hook_replaces_arguments_one_value_or_a_tuple():
    lin = md.nn.Linear(2, 2, bias=False)
    with md.no_grad():
        lin.weight.copy_(md.tensor(np.eye(2, dtype=np.float32)))
    handle = lin.register_forward_pre_hook(lambda m, args: args[0] * 3)  # one value: the one argument
    np.testing.assert_array_equal(lin(md.ones(1, 2)).numpy(), [[3.0, 3.0]])
    handle.remove()
    lin.register_forward_pre_hook(lambda m, args: (args[0] + 1,))
    np.testing.assert_array_equal(lin(md.ones(1, 2)).numpy(), [[2.0, 2.0]])


def test_order_prepend_and_remove():
    lin = md.nn.Linear(1, 1)
    calls = []
    lin.register_forward_pre_hook(lambda m, a: calls.append("pre1"))
    lin.register_forward_pre_hook(lambda m, a: calls.append("pre0"), prepend=True)
    h = lin.register_forward_hook(lambda m, a, o: calls.append("post1"))
    lin.register_forward_hook(lambda m, a, o: calls.append("post0"), prepend=True)
    lin(md.ones(1, 1))
    assert calls == ["pre0", "pre1", "post0", "post1"]
    calls.clear()
    h.remove()
    h.remove()  # a second remove is a no-op
    lin(md.ones(1, 1))
    assert calls == ["pre0", "pre1", "post0"]


def test_hooks_with_kwargs_on_a_python_module():
    class Scaled(md.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = md.nn.Linear(2, 2)

        def forward(self, x, scale=1.0):
            return self.lin(x) * scale

    m = Scaled()
    base = m(md.ones(1, 2)).numpy()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": 10.0}), with_kwargs=True)
    seen = {}
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.update(kwargs), with_kwargs=True)
    np.testing.assert_allclose(m(md.ones(1, 2)).numpy(), base * 10, rtol=1e-6)
    assert seen == {"scale": 10.0}
    with pytest.raises(TypeError, match="with_kwargs=True must return None or a tuple"):
        m.register_forward_pre_hook(lambda mod, args, kwargs: 3, with_kwargs=True)
        m(md.ones(1, 2))


def test_children_called_through_sequential_run_their_hooks():
    seq = md.nn.Sequential(md.nn.Linear(2, 3), md.nn.SiLU(), md.nn.Linear(3, 1))
    shapes = []
    for layer in seq:
        layer.register_forward_hook(lambda m, a, o: shapes.append(tuple(o.shape)))
    seq(md.ones(5, 2))
    assert shapes == [(5, 3), (5, 3), (5, 1)]


def test_hooks_inside_a_native_unet_run_and_change_its_output():
    model = md.UNet2DModel(**_CFG).eval()
    x, t = md.randn((2, 1, 8, 8), generator=md.Generator(0)), md.tensor([3, 500], dtype="int64")
    seen = []
    model.down_blocks[1].attentions[0].register_forward_hook(
        lambda m, a, o: seen.append((type(m).__name__, tuple(o.shape)))
    )
    model.mid_block.resnets[0].register_forward_hook(lambda m, a, o: seen.append(("resnet", len(a))))
    model.up_blocks[0].register_forward_hook(lambda m, a, o: seen.append(("up", tuple(o.shape))))
    base = model(x, t).sample.numpy()
    assert seen == [("Attention", (2, 16, 4, 4)), ("resnet", 2), ("up", (2, 16, 8, 8))]
    # a pre-hook zeroing conv_in's input makes the output that of a zero sample
    handle = model.conv_in.register_forward_pre_hook(lambda m, a: (a[0] * 0,))
    np.testing.assert_allclose(model(x, t).sample.numpy(), model(md.zeros((2, 1, 8, 8)), t).sample.numpy())
    handle.remove()
    np.testing.assert_allclose(model(x, t).sample.numpy(), base)


def test_a_hook_on_a_fused_norm_sees_the_norm_output_and_keeps_the_result():
    model = md.UNet2DModel(**_CFG).eval()
    x, t = md.randn((2, 1, 8, 8), generator=md.Generator(1)), md.tensor([3, 500], dtype="int64")
    base = model(x, t).sample.numpy()
    means = []
    model.down_blocks[0].resnets[0].norm1.register_forward_hook(lambda m, a, o: means.append(float(o.mean())))
    np.testing.assert_allclose(model(x, t).sample.numpy(), base, rtol=1e-5, atol=1e-6)
    assert abs(means[0]) < 1e-5  # the group norm's own output (zero mean), not SiLU's


def test_gradients_flow_through_hook_replacements_in_a_native_model():
    model = md.UNet2DModel(**_CFG)
    handle = model.conv_out.register_forward_hook(lambda m, a, o: o * 2)
    x, t = md.randn((1, 1, 8, 8), generator=md.Generator(2)), md.tensor([10], dtype="int64")
    model(x, t).sample.sum().backward()
    doubled = model.conv_in.weight.grad.numpy().copy()
    handle.remove()
    model.zero_grad()
    model(x, t).sample.sum().backward()
    np.testing.assert_allclose(doubled, 2 * model.conv_in.weight.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_a_deep_copy_keeps_the_hooks_as_its_own():
    model = md.UNet2DModel(**_CFG)
    calls = []
    handle = model.mid_block.attentions[0].register_forward_hook(lambda m, a, o: calls.append(m))
    twin = copy.deepcopy(model)
    handle.remove()  # the original's hook only
    x, t = md.zeros((1, 1, 8, 8)), md.tensor([1], dtype="int64")
    model(x, t)
    assert calls == []
    twin(x, t)
    assert len(calls) == 1 and calls[0] is twin.mid_block.attentions[0]


def test_native_hook_errors_name_the_hook():
    model = md.UNet2DModel(**_CFG)
    model.conv_in.register_forward_hook(lambda m, a, o: "no")
    with pytest.raises(TypeError, match="returned a str"):
        model(md.zeros((1, 1, 8, 8)), md.tensor([1], dtype="int64"))
    lin = md.nn.Linear(1, 1)
    with pytest.raises(ValueError, match="always_call"):
        lin.register_forward_hook(lambda m, a, o: None, always_call=True)


def test_hooked_submodule_outputs_match_diffusers():
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    ref = diffusers.UNet2DModel(**_CFG).eval()
    ours = md.UNet2DModel(**_CFG).eval()
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    names = ["conv_in", "down_blocks.0.resnets.0.norm1", "down_blocks.1.attentions.0", "mid_block.resnets.1",
             "up_blocks.0", "up_blocks.1.resnets.0.conv_shortcut", "conv_norm_out"]  # fmt: skip
    got, want = {}, {}
    for name in names:
        ours.get_submodule(name).register_forward_hook(lambda m, a, o, n=name: got.__setitem__(n, o.numpy()))
        ref.get_submodule(name).register_forward_hook(
            lambda m, a, o, n=name: want.__setitem__(n, (o[0] if isinstance(o, tuple) else o).detach().numpy())
        )
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    ours(md.tensor(x), md.tensor([3, 700], dtype="int64"))
    with torch.no_grad():
        ref(torch.tensor(x), torch.tensor([3, 700]))
    assert set(got) == set(names)
    for name in names:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4, err_msg=name)


def _backward_hook_trace(lib):
    lin = lib.nn.Linear(3, 2)
    with lib.no_grad():
        lin.weight.copy_(lib.tensor(np.arange(6, dtype=np.float32).reshape(2, 3) / 10))
        lin.bias.zero_()
    seen = []

    def arrays(gs):
        return [None if g is None else np.asarray(g.detach().numpy(), np.float64).round(5).tolist() for g in gs]

    lin.register_full_backward_pre_hook(lambda m, go: seen.append(("pre", arrays(go))))
    lin.register_full_backward_hook(lambda m, gi, go: seen.append(("full", arrays(gi), arrays(go))))
    x = lib.tensor(np.ones((1, 3), np.float32), requires_grad=True)
    (lin(x) * 2).sum().backward()
    with warnings.catch_warnings():  # torch warns that the hook fires with no input gradient
        warnings.simplefilter("ignore")
        (lin(lib.tensor(np.ones((1, 3), np.float32))) * 3).sum().backward()
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0,))
    y = lib.tensor(np.ones((1, 3), np.float32), requires_grad=True)
    lin(y).sum().backward()
    return seen, y.grad.numpy().tolist()


def test_backward_hooks_order_arguments_and_replacement():
    seen, grad = _backward_hook_trace(md)
    assert [s[0] for s in seen] == ["pre", "full", "pre", "full", "pre", "full"]
    assert seen[1] == ("full", [[[0.6, 1.0, 1.4]]], [[[2.0, 2.0]]])
    assert seen[3] == ("full", [None], [[[3.0, 3.0]]])  # no input requires grad: None, as torch
    assert grad == [[0.0, 0.0, 0.0]]  # the last hook replaced grad_input
    torch = pytest.importorskip("torch")
    assert _backward_hook_trace(torch) == (seen, grad)


def test_backward_pre_hook_replaces_grad_output_and_handles_remove():
    lin = md.nn.Linear(2, 2)
    x = md.ones(1, 2, requires_grad=True)
    lin(x).sum().backward()
    plain = x.grad.numpy().copy()
    x.grad = None
    handle = lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 5,))
    lin(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 5 * plain, rtol=1e-6)
    handle.remove()
    x.grad = None
    lin(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), plain, rtol=1e-6)


def test_backward_hooks_inside_a_native_unet_match_diffusers():
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    ref = diffusers.UNet2DModel(**_CFG)
    ours = md.UNet2DModel(**_CFG)
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    names = ["down_blocks.1.attentions.0", "mid_block.resnets.0", "conv_out"]
    got, want = {}, {}

    def keep(store, name):
        def hook(m, grad_input, grad_output):
            store[name] = [None if g is None else np.asarray(g.detach().numpy()) for g in (*grad_input, *grad_output)]

        return hook

    for name in names:
        ours.get_submodule(name).register_full_backward_hook(keep(got, name))
        ref.get_submodule(name).register_full_backward_hook(keep(want, name))
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    ours(md.tensor(x, requires_grad=True), md.tensor([3, 700], dtype="int64")).sample.square().sum().backward()
    ref(torch.tensor(x, requires_grad=True), torch.tensor([3, 700])).sample.square().sum().backward()
    for name in names:
        assert len(got[name]) == len(want[name]), name
        for g, w in zip(got[name], want[name]):
            assert (g is None) == (w is None), name
            if g is not None:
                np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=name)
