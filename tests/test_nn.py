"""md.nn: Python subclassing, registration, state dicts, layers against torch.nn."""

from __future__ import annotations

import numpy as np
import pytest

import minidiff as md


class TwoLayer(md.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = md.nn.Linear(4, 8)
        self.fc2 = md.nn.Linear(8, 2)
        self.scale = md.nn.Parameter(md.ones(2))
        self.not_a_param = md.ones(3)

    def forward(self, x):
        return self.fc2(md.F.silu(self.fc1(x))) * self.scale


def test_python_subclass_registers_children_and_parameters():
    net = TwoLayer()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert list(net.state_dict()) == names
    y = net(md.randn(5, 4))
    assert y.shape == (5, 2)
    y.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(float(p.grad.abs().sum()) == 0.0 for p in net.parameters())
    net.zero_grad()  # torch's default: None
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_and_strictness():
    a, b = TwoLayer(), TwoLayer()
    b.load_state_dict(a.state_dict())
    x = md.randn(3, 4)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    sd = a.state_dict()
    del sd["fc1.bias"]
    with pytest.raises(ValueError, match=r"missing keys: fc1\.bias"):
        b.load_state_dict(sd)
    result = b.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == []
    sd["fc1.bias"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match="shape mismatch"):
        b.load_state_dict(sd)


def test_train_eval_propagate_and_return_self():
    net = TwoLayer()
    assert net.eval() is net and not net.fc1.training
    assert net.train() is net and net.fc2.training


def test_module_list_and_repr():
    layers = md.nn.ModuleList([md.nn.Linear(2, 2), md.nn.SiLU()])
    layers.append(md.nn.Linear(2, 1))
    assert len(layers) == 3
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert "Linear(in_features=2, out_features=2" in repr(layers)
    with pytest.raises(IndexError):
        layers[5]


def test_missing_forward_is_a_type_error():
    class NoForward(md.nn.Module):
        pass

    with pytest.raises(TypeError, match="does not define forward"):
        NoForward()(md.ones(1))


def test_default_initialisation_bounds():
    md.manual_seed(0)
    lin = md.nn.Linear(100, 50)
    bound = 1 / np.sqrt(100)
    w = lin.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    conv = md.nn.Conv2d(8, 4, 3)
    assert np.abs(conv.weight.numpy()).max() <= 1 / np.sqrt(72)
    gn = md.nn.GroupNorm(2, 4)
    np.testing.assert_array_equal(gn.weight.numpy(), np.ones(4, np.float32))
    emb = md.nn.Embedding(1000, 16).weight.numpy()
    assert abs(emb.std() - 1.0) < 0.05


def test_layers_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 6, 6)).astype(np.float32)
    for ours, ref in (
        (md.nn.Conv2d(8, 4, 3, stride=2, padding=1), torch.nn.Conv2d(8, 4, 3, stride=2, padding=1)),
        (md.nn.GroupNorm(4, 8), torch.nn.GroupNorm(4, 8)),
    ):
        ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
        np.testing.assert_allclose(ours(md.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(), atol=1e-5)
    seq = rng.standard_normal((2, 5, 8)).astype(np.float32)
    ln, ln_ref = md.nn.LayerNorm(8), torch.nn.LayerNorm(8)
    np.testing.assert_allclose(ln(md.tensor(seq)).numpy(), ln_ref(torch.tensor(seq)).detach().numpy(), atol=1e-5)


def test_attention_module_matches_diffusers():
    torch = pytest.importorskip("torch")
    attention_processor = pytest.importorskip("diffusers.models.attention_processor")
    torch.manual_seed(0)
    ref = attention_processor.Attention(
        32,
        heads=4,
        dim_head=8,
        norm_num_groups=8,
        residual_connection=True,
        rescale_output_factor=2.0,
        bias=True,
        upcast_softmax=True,
        _from_deprecated_attn_block=True,
    )
    ours = md.nn.Attention(
        32, heads=4, dim_head=8, norm_num_groups=8, residual_connection=True, rescale_output_factor=2.0, bias=True
    )
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 32, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(ours(md.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(), atol=1e-5)
    # the defaults are diffusers' too: no to_q/k/v biases, so the state dicts load strictly both ways
    plain_ref, plain = attention_processor.Attention(16, heads=2, dim_head=8), md.nn.Attention(16, heads=2, dim_head=8)
    assert sorted(plain.state_dict()) == sorted(plain_ref.state_dict())


def test_parameters_a_layer_was_built_without_read_as_none():
    assert md.nn.Linear(2, 3, bias=False).bias is None
    assert md.nn.Conv2d(2, 3, 3, bias=False).bias is None
    gn, ln = md.nn.GroupNorm(2, 4, affine=False), md.nn.LayerNorm(4, elementwise_affine=False)
    assert gn.weight is None and gn.bias is None and ln.weight is None and ln.bias is None
    assert [n for n, _ in md.nn.Linear(2, 3, bias=False).named_parameters()] == ["weight"]
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nothing'"):
        md.nn.Linear(2, 3).nothing  # noqa: B018


def test_module_list_keeps_python_modules():
    class Block(md.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = md.nn.Linear(4, 4)
            self.tag = "block"

        def forward(self, x):
            return self.lin(x) * 2.0

    class Net(md.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = md.nn.ModuleList([Block() for _ in range(3)])  # no other reference to them

    net = Net()
    x = md.ones(1, 4)
    assert net.blocks[0](x).shape == (1, 4) and net.blocks[-1].tag == "block"
    assert [type(b).__name__ for b in net.blocks] == ["Block"] * 3
    assert len(net.blocks[1:]) == 2 and isinstance(net.blocks[1:], md.nn.ModuleList)
    assert len(net.state_dict()) == 6
    net.blocks.extend([Block()])
    assert len(net.blocks) == 4 and len(net.state_dict()) == 8
    with pytest.raises(IndexError, match="ModuleList index 7 is out of range for 4 modules"):
        net.blocks[7]


def test_module_list_insert_set_and_delete_keep_positional_names():
    lst = md.nn.ModuleList([md.nn.Linear(1, 1), md.nn.Linear(2, 2)])
    lst.insert(1, md.nn.Linear(3, 3))
    assert [m.in_features for m in lst] == [1, 3, 2]
    lst[0] = md.nn.Linear(4, 4)
    del lst[2]
    lst += [md.nn.Linear(5, 5)]
    assert [m.in_features for m in lst] == [4, 3, 5]
    assert list(lst.state_dict()) == [f"{i}.{p}" for i in range(3) for p in ("weight", "bias")]
    assert lst.state_dict()["0.weight"].shape == (4, 4)


def test_a_plain_tensor_cannot_replace_a_parameter():
    lin = md.nn.Linear(2, 3)
    with pytest.raises(TypeError, match="cannot assign a plain tensor to parameter 'weight'"):
        lin.weight = md.ones(3, 2)
    lin.weight = md.nn.Parameter(md.ones(3, 2))  # a Parameter replaces it, as in torch
    assert float(lin.state_dict()["weight"].numpy().sum()) == 6.0


def test_registering_a_frozen_parameter_keeps_it_frozen():
    m = md.nn.Module()
    p = md.nn.Parameter(md.ones(2), requires_grad=False)
    m.p = p
    assert not p.requires_grad and not m.p.requires_grad
    m.register_parameter("q", p)
    assert not m.q.requires_grad
    # Parameter(t) is a new tensor sharing t's storage, as torch's: t keeps its own flag
    q = md.nn.Parameter(p)
    assert q.requires_grad and not p.requires_grad and not m.p.requires_grad
    x = md.ones(2)
    frozen = md.nn.Parameter(x, requires_grad=False)
    with md.no_grad():
        frozen.add_(1.0)
    assert x.numpy().tolist() == [2.0, 2.0] and not frozen.requires_grad
    x.requires_grad_()
    assert not frozen.requires_grad


def test_state_dict_lists_each_modules_parameters_then_buffers_then_children():
    net = md.nn.Sequential(md.nn.BatchNorm2d(2), md.nn.Linear(2, 2))
    assert list(net.state_dict()) == [
        "0.weight",
        "0.bias",
        "0.running_mean",
        "0.running_var",
        "0.num_batches_tracked",
        "1.weight",
        "1.bias",
    ]


def test_repr_names_python_modules_by_class_with_their_extra_repr():
    class Scaled(md.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = md.nn.Linear(2, 3)

        def extra_repr(self):
            return "scale=2"

    text = repr(md.nn.ModuleList([Scaled()]))
    assert text.startswith("ModuleList(\n  (0): Scaled(\n    scale=2\n    (inner): Linear(in_features=2, out_features")
