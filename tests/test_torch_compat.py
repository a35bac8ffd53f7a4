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
    from minidiff.nn.utils import clip_grad_value_

    assert clip_grad_value_ is md.optim.clip_grad_value_


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
    assert md.full((2,), 7.0).dtype == "float32" and md.full((2,), True).dtype == "bool"
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


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.9),
        dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        dict(lr=0.05, momentum=0.5, dampening=0.3, maximize=True),
    ],
)
def test_sgd_and_schedulers_match_torch(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0, x = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((5, 4)).astype(np.float32)
    mw, tw = md.nn.Parameter(md.tensor(w0)), torch.nn.Parameter(torch.tensor(w0))
    mo, to = md.optim.SGD([mw], **kw), torch.optim.SGD([tw], **kw)
    ms = md.optim.get_cosine_schedule_with_warmup(mo, 2, 6)
    ts = torch.optim.lr_scheduler.LambdaLR(
        to, lambda s: s / 2 if s < 2 else max(0.0, 0.5 * (1 + math.cos(math.pi * (s - 2) / 4)))
    )
    for _ in range(5):
        mo.zero_grad()
        to.zero_grad()
        (md.tensor(x) @ mw.T).square().sum().backward()
        (torch.tensor(x) @ tw.T).square().sum().backward()
        mo.step()
        to.step()
        ms.step()
        ts.step()
        assert ms.get_last_lr() == pytest.approx(ts.get_last_lr())
    np.testing.assert_allclose(mw.numpy(), tw.detach().numpy(), rtol=1e-5, atol=1e-6)
    if kw.get("momentum"):
        restored = md.optim.SGD([md.nn.Parameter(md.tensor(w0))], **kw)
        restored.load_state_dict(mo.state_dict())
        (buf,) = [s["momentum_buffer"] for s in restored.state.values()]
        np.testing.assert_array_equal(buf.numpy(), mo.state[mw]["momentum_buffer"].numpy())


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_cosine_annealing_lr_matches_torch():
    torch = pytest.importorskip("torch")
    mo = md.optim.AdamW(md.nn.Linear(2, 2).parameters(), lr=0.1)
    to = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    from minidiff.optim.lr_scheduler import CosineAnnealingLR

    ms, ts = CosineAnnealingLR(mo, T_max=7, eta_min=0.01), torch.optim.lr_scheduler.CosineAnnealingLR(to, 7, 0.01)
    for _ in range(9):
        assert mo.param_groups[0]["lr"] == pytest.approx(to.param_groups[0]["lr"])
        ms.step()
        ts.step()


def test_tensor_shape_methods_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((2, 3, 4)).astype(np.float32)
    m, t = md.tensor(x), torch.tensor(x)
    pairs = [
        *zip(m.split(3, 2), t.split(3, 2)),
        *zip(m.split([1, 2], 1), t.split([1, 2], 1)),
        *zip(m.unbind(1), t.unbind(1)),
        (m.repeat(2, 1, 3), t.repeat(2, 1, 3)),
        (m.repeat(2, 2, 1, 1), t.repeat(2, 2, 1, 1)),
        (m.narrow(2, 1, 2), t.narrow(2, 1, 2)),
        (m.amax((0, 2)), t.amax((0, 2))),
        (m.amin(1, keepdim=True), t.amin(1, keepdim=True)),
        (m.log_softmax(1), t.log_softmax(1)),
        (md.sum(m, 1), torch.sum(t, 1)),
        (md.permute(m, (2, 0, 1)), torch.permute(t, (2, 0, 1))),
        (m.any(), t.any().float()),
        ((m > 5).all(1), (t > 5).all(1).float()),
        (m.clip(-0.5, 0.5), t.clip(-0.5, 0.5)),
        (m.new_full((2,), 3.0), t.new_full((2,), 3.0)),
    ]
    for a, b in pairs:
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    g = md.tensor(x, requires_grad=True)
    g.repeat(2, 1, 1).sum().backward()
    assert (g.grad.numpy() == 2.0).all()
    c = md.tensor([1.0, 5.0, -3.0])
    c.clamp_(0, 2)
    assert c.numpy().tolist() == [1.0, 2.0, 0.0]
    assert sorted(md.randperm(6).numpy().tolist()) == list(range(6)) and md.eye(3).numpy().trace() == 3.0


def test_conv2d_takes_torchs_arguments():
    conv = md.nn.Conv2d(3, 4, 3, padding="same")
    assert conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
    assert conv(md.ones(1, 3, 5, 5)).shape == (1, 4, 5, 5)
    assert md.F.conv2d(md.ones(1, 3, 5, 5), conv.weight, None, 1, "valid", 1, 1).shape == (1, 4, 3, 3)
    assert md.nn.Conv2d(3, 3, 3, groups=3).weight.shape == (3, 1, 3, 3)  # depthwise
    with pytest.raises(ValueError, match="divisible by groups"):
        md.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="stride 1"):
        md.nn.Conv2d(3, 4, 3, stride=2, padding="same")
    assert md.F.conv2d(md.ones(1, 3, 5, 5), conv.weight, dilation=2).shape == (1, 4, 1, 1)


def test_in_place_forms_are_exact_and_copies_are_copies():
    x = md.tensor([np.inf, -np.inf, 3e38, -3e38, 0.5])
    x.clamp_(-1.0, 0.1)
    np.testing.assert_array_equal(x.numpy(), np.array([0.1, -1.0, 0.1, -1.0, 0.1], np.float32))
    assert md.tensor([1e8]).lerp_(md.tensor([1.0]), 1.0).item() == 1.0
    y = md.ones(2)
    for z in (y.to("cpu", copy=True), y.to(copy=True), y.to("float32", copy=True)):
        z.add_(1.0)
    assert y.numpy().tolist() == [1.0, 1.0]
    with pytest.raises(IndexError, match="squeeze"):
        md.zeros((2, 1, 1)).squeeze((5,))
    with pytest.raises(ValueError, match="appears multiple times"):
        md.zeros((2, 1, 1)).squeeze((1, 1))
    w = md.ones(2, requires_grad=True)
    h = w * 1.0
    h.clamp_(0.0, 0.5)  # inside the graph: h takes the clamped result and its history
    h.sum().backward()
    assert w.grad.numpy().tolist() == [0.0, 0.0]


def test_full_takes_tensors_and_unsigned_fills():
    assert md.full((2,), md.tensor(3.0)).dtype == "float32"
    assert md.full((2,), md.tensor(3, dtype="int64")).numpy().tolist() == [3, 3]
    assert md.full((2,), np.uint8(3)).dtype == "int64"
    assert md.full_like(md.zeros(2), md.tensor(1.0)).numpy().tolist() == [1.0, 1.0]


def test_handles_stay_the_optimisers_and_buffers_take_new_values():
    enc = md.nn.Linear(2, 2)
    opt = md.optim.SGD(enc.parameters(), lr=0.1, momentum=0.9)
    head = md.nn.Module()
    head.tied = enc.weight.requires_grad_(True)  # requires_grad_ returns the same object
    assert head.tied is enc.weight is opt.param_groups[0]["params"][0]

    class WithBuffer(md.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", md.zeros(2))

    m = WithBuffer()
    m.count = md.ones(2)  # a registered buffer takes the new tensor, as in torch
    assert m.count.numpy().tolist() == [1.0, 1.0] and m.state_dict()["count"].numpy().tolist() == [1.0, 1.0]
    assert next(m.buffers()) is m.count


def test_trainer_takes_a_dataset_of_images_alone(tmp_path):
    class Images:
        def __init__(self):
            self.x = np.random.default_rng(0).uniform(-1, 1, (16, 1, 8, 8)).astype(np.float32)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i]

    cfg = md.TrainingConfig(
        batch_size=8, num_epochs=1, use_ema=False, sample_every=0, checkpoint_every=0, save_every=0,
        progress=False, output_dir=str(tmp_path), model_config=dict(
            sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
            down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
            norm_num_groups=4,
        ),
    )  # fmt: skip
    model = md.UNet2DModel(**cfg.model_config)
    result = md.Trainer(cfg, md.DDPMScheduler(num_train_timesteps=50)).train(model, Images())
    assert len(result["epoch_losses"]) == 1 and np.isfinite(result["epoch_losses"][0])


def test_threads_meeting_one_tensor_get_one_handle():
    import threading

    from minidiff import handles

    lin = md.nn.Linear(2, 2)
    raw = [md.nn._native_getattr(lin, "bias") for _ in range(8)]  # eight fresh handles of one tensor
    del lin
    got, barrier = [], threading.Barrier(8)

    def run(t):
        barrier.wait()
        got.append(handles.canonical(t))

    threads = [threading.Thread(target=run, args=(t,)) for t in raw]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len({id(h) for h in got}) == 1
