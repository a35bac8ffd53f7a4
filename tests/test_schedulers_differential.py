"""Differential tests of md.schedulers and md.pipelines against diffusers, aimed at the corners the per-scheduler
tests leave out: the forward process broadcasting one image over a batch of timesteps, schedules that repeat
or revisit a noise level (DPM-Solver with num_inference_steps == num_train_timesteps, Euler ancestral on a
zero-terminal-SNR table), and the pipeline arguments diffusers' pipelines take (per-image generator lists,
output_type="pt", use_clipped_model_output), with the pipeline's sampling loop checked step by step against
diffusers' scheduler driving the same stand-in model.

The model is a fixed NumPy function of the sample and timestep, so both libraries see the same outputs.
Where diffusers produces NaN (a division by a zero step) the comparison stops before that step and the
rest of our run is checked against what the step should do. Skipped when torch or diffusers is missing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minidiff as md
from minidiff.pipelines import DDIMPipeline, DDPMPipeline
from minidiff.schedulers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    LMSDiscreteScheduler,
)

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
torch.set_num_threads(2)

pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`algorithm_types dpmsolver:FutureWarning"),
]


def _normal(seed, shape, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _fake_model(x, t, weight):
    """A deterministic stand-in for a U-Net: a channel mix of its input with a timestep-dependent bias."""
    return np.tanh(np.einsum("oc,bchw->bohw", weight, x) + 0.3 * np.sin(float(t) / 97.0)).astype(np.float32)


def _close(actual, expected, what, rtol=1e-4):
    scale = max(float(np.abs(expected).max()), 1e-3)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


# ---- forward process: diffusers unsqueezes its per-timestep coefficients to (B, 1, ..., 1) and broadcasts


def _forward_pair(name, set_steps):
    ours, theirs = getattr(md.schedulers, name)(), getattr(diffusers, name)()
    if set_steps:
        ours.set_timesteps(10)
        theirs.set_timesteps(10)
    return ours, theirs


@pytest.mark.parametrize(
    "name, set_steps",
    [
        ("DDPMScheduler", False),
        ("DDIMScheduler", False),
        ("EulerDiscreteScheduler", True),
        ("LMSDiscreteScheduler", True),
        ("DPMSolverMultistepScheduler", True),
    ],
)
@pytest.mark.parametrize(
    "x_shape, noise_shape",
    [((1, 2, 3, 3), (3, 2, 3, 3)), ((1, 2, 3, 3), (1, 2, 3, 3)), ((3, 2, 3, 3), (1, 2, 3, 3)), ((1, 5), (3, 5))],
)
def test_add_noise_broadcasts_one_image_over_many_timesteps(name, set_steps, x_shape, noise_shape):
    # the forward process of one image at several noise levels, as in diffusers' tutorials
    ours, theirs = _forward_pair(name, set_steps)
    t = theirs.timesteps[[1, 4, 7]]
    x0, noise = _normal(0, x_shape), _normal(1, noise_shape)
    expected = theirs.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), t).numpy()
    for timesteps in (md.tensor(t.numpy()), t.numpy(), t.numpy().tolist()):
        got = ours.add_noise(md.tensor(x0), md.tensor(noise), timesteps).numpy()
        assert got.shape == expected.shape
        _close(got, expected, f"{name} add_noise {x_shape} + {noise_shape}", rtol=2e-5)


@pytest.mark.parametrize("name", ["DDPMScheduler", "DDIMScheduler"])
def test_get_velocity_broadcasts_like_diffusers(name):
    ours, theirs = _forward_pair(name, False)
    t = np.array([3, 500, 999])
    x0, noise = _normal(0, (1, 2, 3, 3)), _normal(1, (3, 2, 3, 3))
    expected = theirs.get_velocity(torch.from_numpy(x0), torch.from_numpy(noise), torch.from_numpy(t)).numpy()
    got = ours.get_velocity(md.tensor(x0), md.tensor(noise), md.tensor(t, dtype="int64")).numpy()
    assert got.shape == expected.shape == (3, 2, 3, 3)
    _close(got, expected, "get_velocity", rtol=2e-5)


def test_forward_process_still_rejects_shapes_that_do_not_broadcast():
    for s in (DDPMScheduler(), EulerDiscreteScheduler()):
        if isinstance(s, EulerDiscreteScheduler):
            s.set_timesteps(10)
        t = s.timesteps.numpy()[[0, 1, 2]]
        with pytest.raises(ValueError, match="3 timesteps for samples of shape"):
            s.add_noise(md.randn(2, 1, 3, 3), md.randn(2, 1, 3, 3), t)
        with pytest.raises(ValueError, match="noise has shape"):
            s.add_noise(md.randn(2, 1, 3, 3), md.randn(3, 1, 3, 3), t[:1])
        with pytest.raises(TypeError, match="noise must be an md tensor"):
            s.add_noise(md.randn(2, 1, 3, 3), np.zeros((2, 1, 3, 3), np.float32), t[:1])


# ---- schedules that repeat or revisit a noise level


def _drive(ours, theirs, shape=(2, 3, 4, 4), seed=0, x0=None, stop_at=None):
    """Runs both loops on the same model outputs (ours alone from ``stop_at`` on); compares every step."""
    rng = np.random.default_rng(seed)
    weight = (rng.standard_normal((shape[1], shape[1])) * 0.5).astype(np.float32)
    x = (rng.standard_normal(shape) * float(theirs.init_noise_sigma)).astype(np.float32)
    mine, ref = md.tensor(x), torch.from_numpy(x)
    for i, (t_ours, t_ref) in enumerate(zip(ours.timesteps, theirs.timesteps)):
        model_in = ours.scale_model_input(mine, t_ours)
        out = _fake_model(model_in.numpy(), float(t_ours), weight)
        a = ours.step(md.tensor(out), t_ours, mine)
        if stop_at is None or i < stop_at:
            b = theirs.step(torch.from_numpy(out), t_ref, theirs.scale_model_input(ref, t_ref))
            _close(a.prev_sample.numpy(), b.prev_sample.numpy(), f"prev_sample, step {i}")
            ref = b.prev_sample
        mine = a.prev_sample
        assert np.all(np.isfinite(mine.numpy())), f"step {i}"
    return mine.numpy()


def _repeated_index(timesteps: np.ndarray) -> int:
    """The position of the second of two equal timesteps."""
    return int(np.flatnonzero(timesteps[1:] == timesteps[:-1])[0]) + 1


@pytest.mark.parametrize(
    "cfg",
    [
        dict(solver_order=2),
        dict(solver_order=3),
        dict(solver_order=2, algorithm_type="dpmsolver", final_sigmas_type="sigma_min"),
        dict(solver_order=3, solver_type="heun", lower_order_final=False),
    ],
)
def test_dpm_solver_with_a_repeated_timestep_takes_no_zero_division(cfg):
    # "linspace" with num_inference_steps == num_train_timesteps rounds two timesteps to one (18, 18 here):
    # the step after the repeat has h_0 = 0; diffusers divides by it (NaN), we took a ZeroDivisionError
    ours = DPMSolverMultistepScheduler(num_train_timesteps=37, **cfg)
    theirs = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=37, **cfg)
    ours.set_timesteps(37)
    theirs.set_timesteps(37)
    np.testing.assert_array_equal(ours.timesteps.numpy(), theirs.timesteps.numpy())
    repeat = _repeated_index(ours.timesteps.numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # diffusers' 0 / 0
        _drive(ours, theirs, stop_at=repeat - 1)  # the step onto the repeat is h = 0: NaN there for order 3


@pytest.mark.parametrize("solver_order", [2, 3])
def test_dpm_solver_with_a_repeated_timestep_still_denoises_a_perfect_model(solver_order):
    # with the model that knows x0, every order must land on x0 whatever the schedule's repeats
    x0 = np.clip(_normal(3, (2, 1, 4, 4), 0.5), -1, 1)
    s = DPMSolverMultistepScheduler(num_train_timesteps=37, solver_order=solver_order)
    s.set_timesteps(37)
    x = md.tensor(_normal(4, (2, 1, 4, 4)))
    for t in s.timesteps:
        acp = float(s._alphas_cumprod[int(t)])
        eps = (x.numpy() - np.sqrt(acp) * x0) / np.sqrt(1 - acp)
        x = s.step(md.tensor(eps.astype(np.float32)), t, x).prev_sample
    np.testing.assert_allclose(x.numpy(), x0, atol=1e-4)


def test_euler_ancestral_on_a_zero_snr_table_steps_through_the_rising_sigma():
    # rescale_betas_zero_snr caps alpha_bar_T at 2^-24, so sigma_T (4096) is below sigma_(T-1): a fine schedule
    # steps up once. sigma_up is then the root of a negative number (NaN in diffusers); it was a math domain
    # error here, and is now zero (a deterministic step to the higher level)
    cfg = dict(rescale_betas_zero_snr=True)
    ours, theirs = EulerAncestralDiscreteScheduler(**cfg), diffusers.EulerAncestralDiscreteScheduler(**cfg)
    ours.set_timesteps(500)
    theirs.set_timesteps(500)
    rising = int(np.flatnonzero(np.diff(ours._sigmas[:-1]) > 0)[0])  # the step from sigmas[rising] goes up
    generator = md.Generator(0)
    x = md.tensor(_normal(0, (1, 2, 3, 3), ours.init_noise_sigma))
    for i, t in enumerate(ours.timesteps[: rising + 3]):
        model_in = ours.scale_model_input(x, t)
        out = ours.step(md.tensor(_fake_model(model_in.numpy(), float(t), np.eye(2, dtype=np.float32))), t, x,
                        generator=generator)  # fmt: skip
        assert np.all(np.isfinite(out.prev_sample.numpy())), f"step {i}"
        x = out.prev_sample
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs.set_timesteps(500)
        sig = theirs.sigmas
        theirs._step_index = rising
        theirs.is_scale_input_called = True
        r = theirs.step(torch.zeros(1, 2, 3, 3), theirs.timesteps[rising], torch.ones(1, 2, 3, 3)).prev_sample
    assert float(sig[rising + 1]) > float(sig[rising]) and not np.all(np.isfinite(r.numpy()))


# ---- pipelines


class _FakeUNet:
    """What a pipeline asks of its U-Net, around _fake_model: config, parameters, train/eval, __call__."""

    def __init__(self, channels=2, size=4, seed=0):
        self.config = {"sample_size": size, "in_channels": channels, "num_class_embeds": None}
        self.weight = (np.random.default_rng(seed).standard_normal((channels, channels)) * 0.5).astype(np.float32)
        self.training = False
        self.calls = []

    def parameters(self):
        return iter(())

    def eval(self):
        self.training = False
        return self

    def train(self, mode=True):
        self.training = mode
        return self

    def __call__(self, sample, timestep):
        t = timestep.item() if isinstance(timestep, md.Tensor) else timestep
        self.calls.append(t)
        return md.tensor(_fake_model(sample.numpy(), t, self.weight))


def _diffusers_ddim_loop(unet, x, n, eta=0.0, noises=None, **step_kw):
    """diffusers' DDIMPipeline loop on our stand-in model from initial noise x, the images in [0, 1] NHWC."""
    sched = diffusers.DDIMScheduler()
    sched.set_timesteps(n)
    image = torch.from_numpy(x)
    for i, t in enumerate(sched.timesteps):
        out = torch.from_numpy(_fake_model(image.numpy(), int(t), unet.weight))
        kw = dict(step_kw)
        if eta > 0:
            kw["variance_noise"] = torch.from_numpy(noises[i])
        image = sched.step(out, t, image, eta=eta, **kw).prev_sample
    return (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("n", [1, 7, 50, 1000])
def test_ddim_pipeline_is_diffusers_ddim_loop(n):
    unet = _FakeUNet()
    images = DDIMPipeline(unet)(2, num_inference_steps=n, generator=md.Generator(3))
    x = md.randn((2, 2, 4, 4), generator=md.Generator(3)).numpy()
    expected = _diffusers_ddim_loop(unet, x, n)
    assert images.shape == (2, 4, 4, 2) and images.dtype == np.float32
    _close(images, expected, f"n={n}")
    assert len(unet.calls) == n and all(isinstance(t, int) for t in unet.calls)
    with pytest.raises(ValueError, match="cannot exceed"):
        DDIMPipeline(unet)(1, num_inference_steps=1001)


@pytest.mark.parametrize("cls, eta", [(DDIMPipeline, 0.0), (DDIMPipeline, 1.0), (DDPMPipeline, 0.0)])
def test_pipeline_takes_one_generator_per_image_like_diffusers(cls, eta):
    # diffusers' pipelines take a list of generators, image i drawing all its noise from generator i alone,
    # so an image of a batch can be regenerated by itself; a plain md.Generator was all we took
    unet = _FakeUNet()
    pipe = cls(unet)
    both = pipe(2, num_inference_steps=5, eta=eta, generator=[md.Generator(10), md.Generator(11)])
    for i, seed in enumerate((10, 11)):
        alone = pipe(1, num_inference_steps=5, eta=eta, generator=md.Generator(seed))
        np.testing.assert_allclose(both[i], alone[0], rtol=0, atol=1e-6, err_msg=f"image {i}")
    with pytest.raises(ValueError, match="1 generators for batch_size 2"):
        pipe(2, num_inference_steps=2, generator=[md.Generator(1)])


def test_pipeline_generator_list_matches_diffusers_loop_with_the_same_noise():
    unet = _FakeUNet()
    gens = [md.Generator(5), md.Generator(6)]
    images = DDIMPipeline(unet)(2, num_inference_steps=4, eta=1.0, generator=gens)
    # replay: each generator gives its image's initial noise, then its share of every step's noise
    twins = [md.Generator(5), md.Generator(6)]
    x = np.concatenate([md.randn((1, 2, 4, 4), generator=g).numpy() for g in twins])
    noises = [np.concatenate([md.randn((1, 2, 4, 4), generator=g).numpy() for g in twins]) for _ in range(4)]
    _close(images, _diffusers_ddim_loop(unet, x, 4, eta=1.0, noises=noises), "eta=1 with generator list")


def test_scheduler_step_takes_a_generator_list():
    s = DDPMScheduler()
    s.set_timesteps(10)
    x = md.randn(2, 1, 3, 3)
    out = md.zeros(2, 1, 3, 3)
    t = s.timesteps[0]
    a = s.step(out, t, x, generator=[md.Generator(1), md.Generator(2)]).prev_sample.numpy()
    b = s.step(out[1:], t, x[1:], generator=md.Generator(2)).prev_sample.numpy()
    np.testing.assert_allclose(a[1:], b, atol=1e-6)
    with pytest.raises(ValueError, match="one per image"):
        s.step(out, t, x, generator=[md.Generator(1)])
    e = EulerAncestralDiscreteScheduler()
    e.set_timesteps(5)
    with pytest.warns(UserWarning, match="scale_model_input"):
        prev = e.step(out, e.timesteps[0], x, generator=[md.Generator(1), md.Generator(2)]).prev_sample
    assert prev.shape == (2, 1, 3, 3)


def test_pipeline_output_type_pt_is_diffusers():
    # diffusers' output_type="pt": the images (N, C, H, W) in [0, 1], not NHWC NumPy
    unet = _FakeUNet()
    pipe = DDIMPipeline(unet)
    pt = pipe(2, num_inference_steps=3, generator=md.Generator(0), output_type="pt")
    arr = pipe(2, num_inference_steps=3, generator=md.Generator(0))
    raw = pipe(2, num_inference_steps=3, generator=md.Generator(0), output_type="tensor")
    assert isinstance(pt, md.Tensor) and pt.shape == (2, 2, 4, 4)
    np.testing.assert_allclose(pt.numpy().transpose(0, 2, 3, 1), arr, atol=0)
    np.testing.assert_allclose(pt.numpy(), np.clip(raw.numpy() * 0.5 + 0.5, 0, 1), atol=1e-7)
    with pytest.raises(ValueError, match="'pt'"):
        pipe(1, num_inference_steps=1, output_type="latent")


def test_pipeline_use_clipped_model_output_reaches_ddim_step():
    unet = _FakeUNet()
    pipe = DDIMPipeline(unet)
    x = md.randn((2, 2, 4, 4), generator=md.Generator(2)).numpy()
    clipped = pipe(2, num_inference_steps=6, generator=md.Generator(2), use_clipped_model_output=True)
    _close(clipped, _diffusers_ddim_loop(unet, x, 6, use_clipped_model_output=True), "use_clipped_model_output")
    plain = pipe(2, num_inference_steps=6, generator=md.Generator(2))
    assert not np.allclose(clipped, plain, atol=1e-4)  # the fake model's x0 estimates do get clipped
    with pytest.raises(ValueError, match="use_clipped_model_output is not supported by DDPMScheduler"):
        DDPMPipeline(unet)(1, num_inference_steps=2, use_clipped_model_output=True)


def test_pipeline_runs_samplers_from_a_ddpm_config_like_diffusers():
    # DDPMPipeline runs the scheduler it is given; with Euler the loop is diffusers' generic loop
    unet = _FakeUNet()
    ours = EulerDiscreteScheduler.from_config(DDPMScheduler().config)
    theirs = diffusers.EulerDiscreteScheduler.from_config(diffusers.DDPMScheduler().config)
    assert ours.config.timestep_spacing == theirs.config.timestep_spacing
    images = DDPMPipeline(unet, ours)(1, num_inference_steps=6, generator=md.Generator(1))
    theirs.set_timesteps(6)
    x = torch.from_numpy(md.randn((1, 2, 4, 4), generator=md.Generator(1)).numpy()) * theirs.init_noise_sigma
    for t in theirs.timesteps:
        out = _fake_model(theirs.scale_model_input(x, t).numpy(), float(t), unet.weight)
        x = theirs.step(torch.from_numpy(out), t, x).prev_sample
    _close(images, (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy(), "Euler via DDPMPipeline")


def test_lms_and_ddim_share_the_forward_process_broadcast():
    lms = LMSDiscreteScheduler()
    lms.set_timesteps(10)
    ddim = DDIMScheduler()
    x0, noise = md.tensor(_normal(0, (1, 1, 2, 2))), md.tensor(_normal(1, (4, 1, 2, 2)))
    assert lms.add_noise(x0, noise, lms.timesteps.numpy()[:4]).shape == (4, 1, 2, 2)
    assert ddim.add_noise(x0, noise, [1, 2, 3, 4]).shape == (4, 1, 2, 2)
