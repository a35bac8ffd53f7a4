"""The torch spellings that ported code types: Module generators and helpers, md.nn.init, the
import paths, Tensor protocols (int, index, format, .data), to(...) forms, md.full's dtype,
inference_mode, and the pipelines' .images."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minidiff as md


def net():
    return md.nn.Sequential(md.nn.Linear(4, 8), md.nn.ReLU(), md.nn.Linear(8, 2))


def test_module_iterators_are_generators_as_in_torch():
    m = net()
    assert next(m.parameters()).shape == (8, 4)
    for name in ("parameters", "named_parameters", "buffers", "named_buffers", "children", "named_children"):
        it = getattr(m, name)()
        assert iter(it) is it, name
    assert [n for n, _ in m.named_modules()] == ["", "0", "1", "2"]
    assert len(list(m.parameters())) == 4
    # optimisers and clipping take the generators
    opt = md.optim.AdamW(m.parameters(), lr=1e-3)
    m(md.ones(3, 4)).sum().backward()
    norm = md.optim.clip_grad_norm_(m.parameters(), 1.0)
    assert float(norm) > 0
    opt.step()


def test_requires_grad_apply_get_submodule_float_and_to():
    m = net()
    assert m.requires_grad_(False) is m and not any(p.requires_grad for p in m.parameters())
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Sequential"]
    assert m.get_submodule("2") is m[2] and m.get_submodule("") is m
    with pytest.raises(AttributeError, match="no submodule '5'"):
        m.get_submodule("5")
    assert m.float() is m and m.to("cpu") is m and m.to(dtype="float32") is m and m.to("cpu", "float32") is m
    with pytest.raises(TypeError, match="float32"):
        m.to(dtype="bfloat16")


def test_init_functions_fill_in_place_with_torchs_fans():
    w = md.empty((64, 32, 3, 3))
    fan_in, fan_out = 32 * 9, 64 * 9
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    assert md.nn.init.xavier_uniform_(w) is w
    assert 0.95 * bound < np.abs(w.numpy()).max() <= bound
    md.nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2.0 / fan_in)) < 0.05 * math.sqrt(2.0 / fan_in)
    md.nn.init.zeros_(w)
    assert not w.numpy().any()
    md.nn.init.constant_(w, 0.5)
    assert (w.numpy() == 0.5).all()
    with pytest.raises(ValueError, match="2 or more dimensions"):
        md.nn.init.xavier_uniform_(md.empty((3,)))
    torch = pytest.importorskip("torch")
    for g in ("relu", "tanh", "linear", "leaky_relu"):
        assert md.nn.init.calculate_gain(g) == pytest.approx(torch.nn.init.calculate_gain(g))


def test_torch_import_paths():
    import minidiff.nn.functional as F
    import minidiff.nn.init as init
    from minidiff.nn.utils import clip_grad_norm_

    assert F is md.F and init is md.nn.init and clip_grad_norm_ is md.optim.clip_grad_norm_
    with pytest.raises(ValueError, match="norm_type=2"):
        clip_grad_norm_(net().parameters(), 1.0, norm_type=1)


def test_tensor_protocols():
    t = md.tensor(3, dtype="int64")
    assert int(t) == 3 and list(range(t)) == [0, 1, 2] and ["a", "b", "c", "d"][t] == "d"
    assert f"{md.tensor(0.123456):.3f}" == "0.123" and f"{md.ones(2)}" == str(md.ones(2))
    with pytest.raises(TypeError, match="index"):
        [1, 2][md.tensor(1.0)]
    with pytest.raises(TypeError, match="format"):
        f"{md.ones(2):.2f}"


def test_data_and_lerp_for_hand_written_ema():
    p = md.nn.Parameter(md.ones(3))
    ema = md.zeros(3)
    with md.no_grad():
        ema.lerp_(p, 0.25)
    np.testing.assert_allclose(ema.numpy(), [0.25] * 3)
    ema.data.mul_(2.0)  # .data: the values, outside autograd
    np.testing.assert_allclose(ema.numpy(), [0.5] * 3)
    p.data = md.full((3,), 2.0)
    assert p.requires_grad and p.numpy().tolist() == [2.0] * 3
    with pytest.raises(ValueError, match=r"\.data"):
        p.data = md.ones(4)


def test_to_forms_and_squeeze_tuples():
    x = md.ones(2, 1, 3, 1)
    assert x.to("cpu", non_blocking=True).shape == x.shape
    assert x.to(md.tensor(1, dtype="int64")).dtype == "int64"
    assert x.to("cpu", "bfloat16").dtype == "bfloat16"
    assert x.to(copy=True) is not x
    assert x.squeeze((1, 3)).shape == (2, 3) and x.squeeze(-1).shape == (2, 1, 3)


def test_full_infers_int64_from_an_integer_fill():
    assert md.full((2,), 7).dtype == "int64" and md.full((2,), np.int64(7)).dtype == "int64"
    assert md.full((2,), 7.0).dtype == "float32" and md.full((2,), True).dtype == "float32"
    assert md.full((2,), 7, dtype="float32").dtype == "float32"
    alphas = md.linspace(0.1, 0.9, 5)
    assert alphas.gather(-1, md.full((3,), 4)).numpy().tolist() == [alphas.numpy()[4]] * 3


def test_inference_mode():
    with md.inference_mode():
        assert not md.is_grad_enabled()
    with md.inference_mode(False):
        assert md.is_grad_enabled()

    @md.inference_mode()
    def f():
        return md.is_grad_enabled()

    @md.inference_mode
    def g():
        return md.is_grad_enabled()

    assert not f() and not g() and md.is_grad_enabled()


def test_pipeline_output_answers_images_and_return_dict():
    unet = md.UNet2DModel(
        sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4,
    )  # fmt: skip
    pipe = md.DDIMPipeline(unet, md.DDIMScheduler(num_train_timesteps=50))
    out = pipe(batch_size=2, num_inference_steps=2, generator=md.Generator(0))
    assert isinstance(out, np.ndarray) and out.shape == (2, 8, 8, 1)
    assert type(out.images) is np.ndarray and np.array_equal(out.images, out)
    (again,) = pipe(batch_size=2, num_inference_steps=2, generator=md.Generator(0), return_dict=False)
    assert np.array_equal(again, out)
    pil = pipe(batch_size=1, num_inference_steps=2, generator=md.Generator(0), output_type="pil")
    assert len(pil.images) == 1


def test_a_parameter_is_one_python_object():
    class Model(md.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = md.nn.Parameter(md.ones(2))
            self.lin = md.nn.Linear(2, 2)
            self.register_buffer("stat", md.zeros(2))

    m = Model()
    assert m.lin.weight is m.lin.weight and m.scale is next(m.parameters())
    assert [p is q for p, q in zip(m.parameters(), m.parameters())] == [True] * 3
    assert m.lin.weight in set(m.parameters()) and m.stat is next(m.buffers())
    assert {p: name for name, p in m.named_parameters()}[m.lin.bias] == "lin.bias"
    opt = md.optim.Adam(m.parameters(), lr=0.1)
    m.lin(md.ones(1, 2)).sum().backward()
    opt.step()
    assert opt.state[m.lin.weight]["step"] == 1 and opt.param_groups[0]["params"][1] is m.lin.weight
