# DDPM / DDIM schedulers against diffusers as the oracle: schedules, timesteps, the forward process and
# every reverse-step variant (beta schedule x prediction type x variance type x spacing x clipping),
# plus config round trips, noise handling and input checks.
#
# Tolerances: diffusers keeps its schedules in float32, we keep them in float64, so the schedules agree to
# float32 rounding accumulated over a 1000-term cumulative product (a few 1e-7 absolute; 2e-6 is the
# bound used). Tensor results are float32 on both sides and computed with the same formulas in the same
# order, so they agree to a few float32 ulps of their magnitude (O(1) values -> 1e-5 absolute).
import json

import numpy as np
import pytest

import minidiff as md
from minidiff.schedulers import DDIMScheduler, DDPMScheduler, SchedulerConfig

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

BETA_SCHEDULES = ["linear", "scaled_linear", "squaredcos_cap_v2"]
PREDICTION_TYPES = ["epsilon", "v_prediction", "sample"]
SPACINGS = ["leading", "trailing", "linspace"]
DDPM_VARIANCES = ["fixed_small", "fixed_small_log", "fixed_large", "learned_range", "learned"]

ATOL = 1e-5


def _pair(kind, precise=False, **cfg):
    """Our scheduler and diffusers' with the same config.

    With ``precise`` diffusers' schedule tensors are replaced by our float64 arrays, so its step code runs
    in float64 on float64 inputs: the oracle is then diffusers' formulas without float32 schedule rounding
    (which costs diffusers up to ~1e-3 relative in 1 - alpha_bar near t = 0).
    """
    ours = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler}[kind](**cfg)
    theirs = {"ddpm": diffusers.DDPMScheduler, "ddim": diffusers.DDIMScheduler}[kind](**cfg)
    if precise:
        theirs.betas = torch.from_numpy(ours._betas)
        theirs.alphas = torch.from_numpy(ours._alphas)
        theirs.alphas_cumprod = torch.from_numpy(ours._alphas_cumprod)
        if kind == "ddpm":
            theirs.one = torch.tensor(1.0, dtype=torch.float64)
        else:
            theirs.final_alpha_cumprod = torch.tensor(ours.final_alpha_cumprod, dtype=torch.float64)
    return ours, theirs


def _tt(x, precise):
    return torch.tensor(x, dtype=torch.float64 if precise else torch.float32)


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _fake_model(x, t, weight):
    """A deterministic stand-in for a U-Net: a channel mix of the sample with a timestep-dependent bias."""
    return np.tanh(np.einsum("oc,bchw->bohw", weight, x) + 0.3 * np.sin(t / 97.0)).astype(np.float32)


# ---- schedules


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
@pytest.mark.parametrize("beta_schedule", BETA_SCHEDULES)
@pytest.mark.parametrize("zero_snr", [False, True])
def test_schedule_arrays_match_diffusers(kind, beta_schedule, zero_snr):
    ours, theirs = _pair(kind, beta_schedule=beta_schedule, rescale_betas_zero_snr=zero_snr)
    for name in ("betas", "alphas", "alphas_cumprod"):
        # the arithmetic reads float64 arrays; the public tables are float32 tensors, as diffusers'
        exact = getattr(ours, "_" + name)
        assert isinstance(exact, np.ndarray) and exact.dtype == np.float64 and exact.shape == (1000,)
        table = getattr(ours, name)
        assert isinstance(table, md.Tensor) and table.dtype == "float32" and table.shape == (1000,)
        np.testing.assert_array_equal(table.numpy(), exact.astype(np.float32))
        assert getattr(ours, name) is table  # made once
    if not zero_snr:
        for name in ("betas", "alphas"):
            np.testing.assert_allclose(getattr(ours, name), _np(getattr(theirs, name)), rtol=0, atol=2e-6)
    else:
        # diffusers' float32 rescale loses ~3e-6 to cancellation near the end (alpha_bar -> 0), so the
        # oracle for the betas is its rescale function run in float64 on the plain schedule
        from diffusers.schedulers.scheduling_ddpm import rescale_zero_terminal_snr

        plain = type(ours)(beta_schedule=beta_schedule)._betas
        ref = rescale_zero_terminal_snr(torch.from_numpy(plain)).numpy()
        np.testing.assert_allclose(ours._betas, ref, rtol=1e-12, atol=1e-15)
        assert ours._alphas_cumprod[-1] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(ours._alphas_cumprod, _np(theirs.alphas_cumprod), rtol=0, atol=2e-6)
    assert np.all(np.diff(ours._alphas_cumprod) < 0)


def test_sigmoid_schedule_ddpm_only():
    ours, theirs = _pair("ddpm", beta_schedule="sigmoid")
    np.testing.assert_allclose(ours.alphas_cumprod, _np(theirs.alphas_cumprod), atol=2e-6)
    with pytest.raises(NotImplementedError, match="sigmoid"):
        DDIMScheduler(beta_schedule="sigmoid")


def test_trained_betas_and_final_alpha():
    betas = np.linspace(1e-3, 0.05, 20)
    ours, theirs = _pair("ddim", num_train_timesteps=20, trained_betas=betas.tolist(), set_alpha_to_one=False)
    np.testing.assert_allclose(ours._betas, betas, rtol=1e-15)
    np.testing.assert_allclose(ours.alphas_cumprod, _np(theirs.alphas_cumprod), atol=2e-7)
    assert ours.final_alpha_cumprod == pytest.approx(1 - 1e-3)
    assert DDIMScheduler(num_train_timesteps=20, trained_betas=betas).final_alpha_cumprod == 1.0
    with pytest.raises(ValueError, match="trained_betas has 20 entries"):
        DDPMScheduler(num_train_timesteps=30, trained_betas=betas)


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("steps_offset", [0, 1])
@pytest.mark.parametrize("n", [1, 7, 10, 50, 333, 999])
def test_timesteps_match_diffusers(kind, spacing, steps_offset, n):
    ours, theirs = _pair(kind, timestep_spacing=spacing, steps_offset=steps_offset)
    np.testing.assert_array_equal(ours.timesteps, np.arange(1000)[::-1])
    assert ours.num_inference_steps is None
    ours.set_timesteps(n)
    theirs.set_timesteps(n)
    assert isinstance(ours.timesteps, md.Tensor) and ours.timesteps.dtype == "int64"
    np.testing.assert_array_equal(ours.timesteps, _np(theirs.timesteps))
    assert ours.num_inference_steps == n


def test_ddpm_custom_timesteps():
    ours, theirs = _pair("ddpm")
    custom = [900, 500, 120, 3, 0]
    ours.set_timesteps(timesteps=custom)
    theirs.set_timesteps(timesteps=custom)
    np.testing.assert_array_equal(ours.timesteps, _np(theirs.timesteps))
    assert [ours.previous_timestep(t) for t in custom] == [int(theirs.previous_timestep(t)) for t in custom]
    with pytest.raises(ValueError, match="descending"):
        ours.set_timesteps(timesteps=[1, 5])
    with pytest.raises(ValueError, match="either"):
        ours.set_timesteps(5, timesteps=custom)


# ---- forward process


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
@pytest.mark.parametrize("beta_schedule", BETA_SCHEDULES)
def test_add_noise_and_velocity_match_diffusers(kind, beta_schedule):
    ours, theirs = _pair(kind, beta_schedule=beta_schedule)
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-1, 1, (6, 3, 5, 4)).astype(np.float32)
    noise = rng.standard_normal((6, 3, 5, 4)).astype(np.float32)
    t = np.array([0, 1, 250, 500, 998, 999], dtype=np.int64)
    ref_noisy = _np(theirs.add_noise(torch.tensor(x0), torch.tensor(noise), torch.tensor(t)))
    ref_v = _np(theirs.get_velocity(torch.tensor(x0), torch.tensor(noise), torch.tensor(t)))
    for t_arg in (md.tensor(t, dtype="int64"), t, t.tolist()):
        noisy = ours.add_noise(md.tensor(x0), md.tensor(noise), t_arg)
        v = ours.get_velocity(md.tensor(x0), md.tensor(noise), t_arg)
        assert isinstance(noisy, md.Tensor) and noisy.shape == x0.shape and noisy.dtype == "float32"
        # diffusers forms 1 - alpha_bar in float32: at t = 1 (alpha_bar ~ 0.9998) that cancellation costs
        # ~eps32 / (2 sqrt(1 - alpha_bar)) ~ 2e-6 in the noise coefficient, times |noise| <= ~3
        np.testing.assert_allclose(noisy.numpy(), ref_noisy, rtol=0, atol=1e-5)
        np.testing.assert_allclose(v.numpy(), ref_v, rtol=0, atol=1e-5)
        # against the float64 formulas we are within float32 rounding of the result
        acp = ours._alphas_cumprod[t].reshape(-1, 1, 1, 1)  # the float64 table the arithmetic reads
        np.testing.assert_allclose(noisy.numpy(), np.sqrt(acp) * x0 + np.sqrt(1 - acp) * noise, rtol=0, atol=1e-6)
        np.testing.assert_allclose(v.numpy(), np.sqrt(acp) * noise - np.sqrt(1 - acp) * x0, rtol=0, atol=1e-6)


def test_add_noise_single_timestep_broadcasts():
    s = DDPMScheduler()
    x0, noise = md.randn(3, 2, 4, 4), md.randn(3, 2, 4, 4)
    a = s.add_noise(x0, noise, 321).numpy()
    b = s.add_noise(x0, noise, md.tensor([321, 321, 321], dtype="int64")).numpy()
    c = s.add_noise(x0, noise, md.tensor(321, dtype="int64")).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_add_noise_is_differentiable_through_samples():
    s = DDPMScheduler()
    x0 = md.randn(2, 1, 3, 3, requires_grad=True)
    noise = md.randn(2, 1, 3, 3)
    s.add_noise(x0, noise, [10, 900]).sum().backward()
    expect = np.sqrt(s.alphas_cumprod[[10, 900]]).reshape(2, 1, 1, 1) * np.ones((2, 1, 3, 3))
    np.testing.assert_allclose(x0.grad.numpy(), expect, atol=1e-6)


def test_forward_process_input_checks():
    s = DDIMScheduler()
    x0, noise = md.randn(2, 1, 3, 3), md.randn(2, 1, 3, 3)
    with pytest.raises(IndexError, match=r"add_noise: timesteps must lie in \[0, 1000\)"):
        s.add_noise(x0, noise, md.tensor([3, 1000], dtype="int64"))
    with pytest.raises(IndexError, match="add_noise"):
        s.add_noise(x0, noise, [-1, 3])
    with pytest.raises(TypeError, match="int64"):
        s.add_noise(x0, noise, md.tensor([3.0, 4.0]))
    with pytest.raises(TypeError, match="integers"):
        s.add_noise(x0, noise, np.array([3.5, 4.0]))
    with pytest.raises(ValueError, match="3 timesteps"):
        s.add_noise(x0, noise, [1, 2, 3])
    with pytest.raises(ValueError, match="noise has shape"):
        s.get_velocity(x0, md.randn(2, 1, 3, 4), [1, 2])


def test_sample_timesteps():
    s = DDPMScheduler(num_train_timesteps=50)
    t = s.sample_timesteps(4000, generator=md.Generator(7))
    assert isinstance(t, md.Tensor) and t.dtype == "int64" and t.shape == (4000,)
    v = t.numpy()
    assert v.min() == 0 and v.max() == 49
    counts = np.bincount(v, minlength=50)
    assert counts.min() > 40 and counts.max() < 130  # 80 expected per bin
    np.testing.assert_array_equal(v, s.sample_timesteps(4000, generator=md.Generator(7)).numpy())
    assert not np.array_equal(v, s.sample_timesteps(4000, generator=md.Generator(8)).numpy())


# ---- reverse steps


def _ddpm_reference_step(theirs, model_out, t, sample, seed, precise=False):
    """diffusers' step with a seeded generator, and the exact noise it drew (drawn again from the seed).

    Returns float32 arrays; the noise is rounded to float32 to feed our step.
    """
    dtype = torch.float64 if precise else torch.float32
    out = theirs.step(_tt(model_out, precise), int(t), _tt(sample, precise), generator=torch.manual_seed(seed))
    noise = torch.randn(sample.shape, generator=torch.manual_seed(seed), dtype=dtype).numpy()
    f32 = lambda a: _np(a).astype(np.float32)  # noqa: E731
    return f32(out.prev_sample), f32(out.pred_original_sample), noise.astype(np.float32)


@pytest.mark.parametrize("beta_schedule", BETA_SCHEDULES)
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
@pytest.mark.parametrize("variance_type", DDPM_VARIANCES)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("clip_sample", [True, False])
def test_ddpm_step_matches_diffusers(beta_schedule, prediction_type, variance_type, spacing, clip_sample):
    cfg = dict(
        beta_schedule=beta_schedule,
        prediction_type=prediction_type,
        variance_type=variance_type,
        timestep_spacing=spacing,
        clip_sample=clip_sample,
    )
    ours, theirs = _pair("ddpm", precise=True, **cfg)
    ours.set_timesteps(10)  # skipped steps: the posterior between non-adjacent noise levels
    theirs.set_timesteps(10)
    rng = np.random.default_rng(2)
    C = 2
    out_c = 2 * C if variance_type in ("learned", "learned_range") else C
    sample = rng.standard_normal((2, C, 4, 4)).astype(np.float32)
    for i, t in enumerate(ours.timesteps):
        model_out = rng.uniform(-1.5, 1.5, (2, out_c, 4, 4)).astype(np.float32)
        if variance_type == "learned":  # the second half is a variance: keep it positive
            model_out[:, C:] = rng.uniform(1e-3, 0.2, (2, C, 4, 4))
        ref_prev, ref_x0, noise = _ddpm_reference_step(theirs, model_out, t, sample, seed=100 + i, precise=True)
        out = ours.step(md.tensor(model_out), t, md.tensor(sample), variance_noise=md.tensor(noise))
        np.testing.assert_allclose(out.pred_original_sample.numpy(), ref_x0, rtol=1e-5, atol=ATOL)
        np.testing.assert_allclose(out.prev_sample.numpy(), ref_prev, rtol=1e-5, atol=ATOL)
        sample = ref_prev


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_ddpm_step_without_set_timesteps_matches_diffusers(prediction_type):
    ours, theirs = _pair("ddpm", precise=True, prediction_type=prediction_type, beta_schedule="squaredcos_cap_v2")
    rng = np.random.default_rng(3)
    sample = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    for t in (999, 998, 500, 1, 0):
        model_out = rng.uniform(-1, 1, sample.shape).astype(np.float32)
        ref_prev, ref_x0, noise = _ddpm_reference_step(theirs, model_out, t, sample, seed=t, precise=True)
        out = ours.step(md.tensor(model_out), t, md.tensor(sample), variance_noise=md.tensor(noise))
        np.testing.assert_allclose(out.prev_sample.numpy(), ref_prev, rtol=1e-5, atol=ATOL)
        np.testing.assert_allclose(out.pred_original_sample.numpy(), ref_x0, rtol=1e-5, atol=ATOL)


def test_ddpm_last_step_adds_no_noise():
    s = DDPMScheduler()
    x, m = md.randn(1, 1, 4, 4), md.randn(1, 1, 4, 4)
    a = s.step(m, 0, x, generator=md.Generator(1)).prev_sample.numpy()
    b = s.step(m, 0, x, generator=md.Generator(2)).prev_sample.numpy()
    np.testing.assert_array_equal(a, b)
    c = s.step(m, 5, x, generator=md.Generator(1)).prev_sample.numpy()
    d = s.step(m, 5, x, generator=md.Generator(2)).prev_sample.numpy()
    assert not np.allclose(c, d)


def test_ddpm_noise_comes_from_md_randn_with_the_generator():
    s = DDPMScheduler(variance_type="fixed_large")
    x, m = md.randn(2, 3, 4, 4), md.randn(2, 3, 4, 4)
    drawn = s.step(m, 400, x, generator=md.Generator(11)).prev_sample.numpy()
    given = s.step(m, 400, x, variance_noise=md.randn(2, 3, 4, 4, generator=md.Generator(11))).prev_sample
    np.testing.assert_array_equal(drawn, given.numpy())
    mean = s.step(m, 400, x, variance_noise=md.zeros(2, 3, 4, 4)).prev_sample.numpy()
    implied_noise = (drawn - mean) / np.sqrt(s.betas[400])
    assert abs(implied_noise.mean()) < 0.3 and 0.7 < implied_noise.std() < 1.3


@pytest.mark.parametrize("beta_schedule", BETA_SCHEDULES)
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("clip_sample", [True, False])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_step_matches_diffusers(beta_schedule, prediction_type, spacing, clip_sample, eta):
    cfg = dict(
        beta_schedule=beta_schedule,
        prediction_type=prediction_type,
        timestep_spacing=spacing,
        clip_sample=clip_sample,
    )
    ours, theirs = _pair("ddim", precise=True, **cfg)
    ours.set_timesteps(8)
    theirs.set_timesteps(8)
    rng = np.random.default_rng(4)
    sample = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    for t in ours.timesteps:
        model_out = rng.uniform(-1.5, 1.5, sample.shape).astype(np.float32)
        noise = rng.standard_normal(sample.shape).astype(np.float32)
        for use_clipped in (False, True):
            ref = theirs.step(
                _tt(model_out, True),
                int(t),
                _tt(sample, True),
                eta=eta,
                use_clipped_model_output=use_clipped,
                variance_noise=_tt(noise, True),
            )
            out = ours.step(
                md.tensor(model_out),
                t,
                md.tensor(sample),
                eta=eta,
                use_clipped_model_output=use_clipped,
                variance_noise=md.tensor(noise),
            )
            np.testing.assert_allclose(out.prev_sample.numpy(), _np(ref.prev_sample), rtol=1e-5, atol=ATOL)
            np.testing.assert_allclose(
                out.pred_original_sample.numpy(), _np(ref.pred_original_sample), rtol=1e-5, atol=ATOL
            )
        sample = _np(ref.prev_sample).astype(np.float32)


@pytest.mark.parametrize("set_alpha_to_one", [True, False])
def test_ddim_final_step_alpha(set_alpha_to_one):
    ours, theirs = _pair("ddim", set_alpha_to_one=set_alpha_to_one, clip_sample=False)
    ours.set_timesteps(10)
    theirs.set_timesteps(10)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    m = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    t = int(ours.timesteps[-1])  # prev_timestep < 0: uses final_alpha_cumprod
    ref = _np(theirs.step(torch.tensor(m), t, torch.tensor(x)).prev_sample)
    got = ours.step(md.tensor(m), t, md.tensor(x)).prev_sample.numpy()
    np.testing.assert_allclose(got, ref, atol=ATOL)
    if set_alpha_to_one:  # lands exactly on the predicted x0
        x0 = ours.step(md.tensor(m), t, md.tensor(x)).pred_original_sample.numpy()
        np.testing.assert_allclose(got, x0, atol=1e-6)


def test_ddim_eta_noise_uses_the_generator_and_sigma():
    s = DDIMScheduler(clip_sample=False)
    s.set_timesteps(20)
    t = int(s.timesteps[5])
    x, m = md.randn(2, 3, 8, 8), md.randn(2, 3, 8, 8)
    det = s.step(m, t, x, eta=0.0).prev_sample.numpy()
    a = s.step(m, t, x, eta=1.0, generator=md.Generator(3)).prev_sample.numpy()
    b = s.step(m, t, x, eta=1.0, variance_noise=md.randn(2, 3, 8, 8, generator=md.Generator(3))).prev_sample
    np.testing.assert_array_equal(a, b.numpy())
    assert not np.allclose(a, det)
    with pytest.raises(ValueError, match="either generator or variance_noise"):
        s.step(m, t, x, eta=1.0, generator=md.Generator(3), variance_noise=md.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="eta"):
        s.step(m, t, x, eta=5.0)


def test_ddim_50_step_loop_matches_diffusers():
    ours, theirs = _pair("ddim", beta_schedule="scaled_linear", clip_sample=False)
    ours.set_timesteps(50)
    theirs.set_timesteps(50)
    rng = np.random.default_rng(6)
    weight = (rng.standard_normal((3, 3)) * 0.4).astype(np.float32)
    start = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    xa, xb = md.tensor(start), torch.tensor(start)
    for t in ours.timesteps:
        xa = ours.step(md.tensor(_fake_model(xa.numpy(), t, weight)), t, xa).prev_sample
        xb = theirs.step(torch.tensor(_fake_model(xb.numpy(), t, weight)), int(t), xb).prev_sample
    ref = _np(xb)
    assert np.abs(ref).max() > 0.5  # a non-trivial trajectory, not everything clipped to a constant
    np.testing.assert_allclose(xa.numpy(), ref, rtol=0, atol=1e-4)


def test_ddpm_20_step_loop_with_shared_noise_matches_diffusers():
    ours, theirs = _pair("ddpm", prediction_type="v_prediction", variance_type="fixed_small_log")
    ours.set_timesteps(20)
    theirs.set_timesteps(20)
    rng = np.random.default_rng(7)
    weight = (rng.standard_normal((3, 3)) * 0.4).astype(np.float32)
    xa = xb = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    xa = md.tensor(xa)
    for i, t in enumerate(ours.timesteps):
        ref_prev, _, noise = _ddpm_reference_step(theirs, _fake_model(xb, t, weight), t, xb, seed=i)
        xa = ours.step(md.tensor(_fake_model(xa.numpy(), t, weight)), t, xa, variance_noise=md.tensor(noise))
        xa = xa.prev_sample
        xb = ref_prev
    np.testing.assert_allclose(xa.numpy(), xb, rtol=0, atol=1e-4)


def test_step_accepts_tensor_timesteps_and_tuple_output():
    s = DDIMScheduler()
    s.set_timesteps(10)
    x, m = md.randn(1, 1, 2, 2), md.randn(1, 1, 2, 2)
    t = int(s.timesteps[3])
    a = s.step(m, t, x).prev_sample.numpy()
    b, x0 = s.step(m, md.tensor(t, dtype="int64"), x, return_dict=False)
    c, _ = s.step(m, np.int64(t), x)
    np.testing.assert_array_equal(a, b.numpy())
    np.testing.assert_array_equal(a, c.numpy())
    assert s.scale_model_input(x, t) is x


def test_step_input_checks():
    s = DDIMScheduler()
    x = md.randn(1, 1, 2, 2)
    with pytest.raises(ValueError, match="set_timesteps"):
        s.step(x, 10, x)
    s.set_timesteps(10)
    with pytest.raises(ValueError, match="model_output has shape"):
        s.step(md.randn(1, 2, 2, 2), 900, x)
    with pytest.raises(IndexError, match="1000"):
        s.step(x, 1000, x)
    with pytest.raises(ValueError, match="cannot exceed"):
        s.set_timesteps(1001)
    p = DDPMScheduler()
    p.set_timesteps(10)
    with pytest.raises(ValueError, match="not one of scheduler.timesteps"):
        p.step(x, 901, x)
    with pytest.raises(ValueError, match="twice the sample's channels"):
        DDPMScheduler(variance_type="learned_range").step(x, 5, x)


# ---- configs


def test_config_validation():
    with pytest.raises(ValueError, match="prediction_type"):
        DDPMScheduler(prediction_type="noise")
    with pytest.raises(ValueError, match="timestep_spacing"):
        DDIMScheduler(timestep_spacing="uniform")
    with pytest.raises(ValueError, match="variance_type"):
        DDPMScheduler(variance_type="huge")
    with pytest.raises(NotImplementedError, match="thresholding"):
        DDIMScheduler(thresholding=True)
    with pytest.raises(NotImplementedError, match="fixed_large_log"):
        DDPMScheduler(variance_type="fixed_large_log")
    with pytest.raises(NotImplementedError, match="beta_schedule"):
        DDPMScheduler(beta_schedule="quadratic")
    with pytest.raises(ValueError, match="num_train_timesteps"):
        DDPMScheduler(num_train_timesteps=0)


def test_config_access_and_from_config():
    s = DDPMScheduler(num_train_timesteps=200, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    assert isinstance(s.config, SchedulerConfig)
    assert s.config.num_train_timesteps == 200 and s.config["beta_schedule"] == "squaredcos_cap_v2"
    assert len(s) == 200
    with pytest.raises(AttributeError, match="read-only"):
        s.config.num_train_timesteps = 3
    with pytest.raises(AttributeError, match="no field"):
        _ = s.config.not_a_field
    # DDIM from a DDPM config: DDPM-only fields (variance_type) are ignored, as in diffusers
    d = DDIMScheduler.from_config(s.config, clip_sample=False)
    assert d.config.prediction_type == "v_prediction" and d.config.clip_sample is False
    np.testing.assert_array_equal(d.alphas_cumprod, s.alphas_cumprod)
    with pytest.raises(TypeError, match="unknown config fields"):
        DDIMScheduler.from_config(s.config, variance_type="fixed_large")


def test_save_config_loads_in_diffusers_and_back(tmp_path):
    s = DDIMScheduler(
        num_train_timesteps=500,
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        timestep_spacing="trailing",
        set_alpha_to_one=False,
        steps_offset=1,
    )
    path = s.save_config(tmp_path / "sched")
    data = json.loads(open(path).read())
    assert data["_class_name"] == "DDIMScheduler" and data["beta_end"] == 0.012
    theirs = diffusers.DDIMScheduler.from_pretrained(tmp_path / "sched")
    for k, v in s.config.items():
        assert theirs.config[k] == v, k
    np.testing.assert_allclose(s.alphas_cumprod, _np(theirs.alphas_cumprod), atol=2e-6)
    back = DDIMScheduler.from_pretrained(tmp_path / "sched")
    assert dict(back.config) == dict(s.config)


def test_from_pretrained_reads_diffusers_folders(tmp_path):
    theirs = diffusers.DDPMScheduler(
        num_train_timesteps=100, variance_type="fixed_large", prediction_type="sample", clip_sample_range=2.0
    )
    theirs.save_pretrained(tmp_path / "pipe" / "scheduler")
    for path, sub in (
        (tmp_path / "pipe" / "scheduler", None),
        (tmp_path / "pipe", None),
        (tmp_path / "pipe", "scheduler"),
    ):
        ours = DDPMScheduler.from_pretrained(path, subfolder=sub)
        assert ours.config.variance_type == "fixed_large" and ours.config.clip_sample_range == 2.0
        assert ours.config.num_train_timesteps == 100 and len(ours.alphas_cumprod) == 100
    assert DDPMScheduler.from_config(str(tmp_path / "pipe" / "scheduler" / "scheduler_config.json")).config == (
        ours.config
    )
    # a live diffusers config (with its bookkeeping keys) converts directly
    direct = DDIMScheduler.from_config(theirs.config)
    assert direct.config.prediction_type == "sample" and direct.config.num_train_timesteps == 100
    with pytest.raises(FileNotFoundError, match="scheduler_config.json"):
        DDPMScheduler.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "scheduler_config.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad/scheduler_config.json"):
        DDPMScheduler.from_pretrained(tmp_path / "bad")


@pytest.mark.cuda
def test_add_noise_and_step_on_cuda_match_cpu():
    if not md.cuda.is_available():
        pytest.skip("no CUDA device")
    s = DDIMScheduler(clip_sample=True)
    s.set_timesteps(10)
    rng = np.random.default_rng(8)
    x0 = rng.uniform(-1, 1, (4, 3, 8, 8)).astype(np.float32)
    noise = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    t = np.array([0, 10, 500, 999])
    cpu = s.add_noise(md.tensor(x0), md.tensor(noise), md.tensor(t, dtype="int64")).numpy()
    gpu = s.add_noise(
        md.tensor(x0, device="cuda"),
        md.tensor(noise, device="cuda"),
        md.tensor(t, dtype="int64", device="cuda"),
    )
    assert str(gpu.device).startswith("cuda")
    np.testing.assert_allclose(gpu.numpy(), cpu, atol=1e-6)
    with pytest.raises(IndexError, match="add_noise"):
        s.add_noise(
            md.tensor(x0, device="cuda"),
            md.tensor(noise, device="cuda"),
            md.tensor([0, 1, 2, 1000]).cuda().long(),
        )
    step_cpu = s.step(md.tensor(noise), 901, md.tensor(x0), eta=1.0, variance_noise=md.tensor(x0))
    step_gpu = s.step(
        md.tensor(noise, device="cuda"),
        901,
        md.tensor(x0, device="cuda"),
        eta=1.0,
        variance_noise=md.tensor(x0).cuda(),
    )
    np.testing.assert_allclose(step_gpu.prev_sample.numpy(), step_cpu.prev_sample.numpy(), atol=1e-5)
    drawn = s.step(
        md.tensor(noise, device="cuda"), 901, md.tensor(x0, device="cuda"), eta=1.0, generator=md.Generator(1)
    )
    assert str(drawn.prev_sample.device).startswith("cuda")


@pytest.mark.parametrize("kind", ["ddpm", "ddim"])
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_zero_terminal_snr_first_step_is_clipped_not_nan(kind, prediction_type):
    # alpha_bar is exactly 0 at the last timestep, so an epsilon model's x0 = (x - eps) / 0 is +-inf;
    # clipping must turn it into +-clip_sample_range as in diffusers (a clamp written as x + relu(...)
    # gave inf - inf = NaN there)
    ours, theirs = _pair(
        kind, rescale_betas_zero_snr=True, prediction_type=prediction_type, timestep_spacing="trailing"
    )
    ours.set_timesteps(10)
    theirs.set_timesteps(10)
    rng = np.random.default_rng(5)
    x, eps = (rng.standard_normal((2, 1, 4, 4)).astype(np.float32) for _ in range(2))
    t = int(ours.timesteps[0])
    assert t == 999
    kw = {"variance_noise": md.zeros(2, 1, 4, 4)} if kind == "ddpm" else {}
    got = ours.step(md.tensor(eps), t, md.tensor(x), **kw)
    want = theirs.step(torch.from_numpy(eps), t, torch.from_numpy(x))
    x0 = got.pred_original_sample.numpy()
    assert np.isfinite(x0).all() and np.abs(x0).max() <= 1.0
    np.testing.assert_allclose(x0, _np(want.pred_original_sample), rtol=0, atol=ATOL)
    if kind == "ddim":  # (diffusers' DDPM step draws its own noise)
        np.testing.assert_allclose(got.prev_sample.numpy(), _np(want.prev_sample), rtol=0, atol=ATOL)


def test_tables_are_tensors_as_in_diffusers_training_scripts():
    # the idioms of diffusers' examples (compute_snr, add_noise written out by hand)
    s = DDPMScheduler()
    timesteps = md.tensor(np.array([3, 500, 999]), dtype="int64")
    alphas_cumprod = s.alphas_cumprod.to(device=timesteps.device)
    sqrt_alpha_prod = (alphas_cumprod[timesteps] ** 0.5).flatten()
    sqrt_one_minus = ((1 - alphas_cumprod[timesteps]) ** 0.5).flatten()
    want = np.sqrt(s._alphas_cumprod[[3, 500, 999]])
    np.testing.assert_allclose(sqrt_alpha_prod.numpy(), want, rtol=1e-6)
    snr = (sqrt_alpha_prod / sqrt_one_minus) ** 2
    np.testing.assert_allclose(snr.numpy(), want**2 / (1 - want**2), rtol=1e-4)
    s.set_timesteps(5)
    assert [int(t) for t in s.timesteps] == [800, 600, 400, 200, 0]
    assert s.timesteps.dtype == "int64"
    s.timesteps = [9, 4, 1]  # assignment takes arrays, lists or tensors, as the float64/int64 tables
    assert s._timesteps.dtype == np.int64 and s.timesteps.numpy().tolist() == [9, 4, 1]


def test_assigning_a_table_reaches_the_coefficients_of_tensor_timesteps():
    s = DDPMScheduler(num_train_timesteps=10)
    x0, noise = md.ones((2, 1, 2, 2)), md.zeros((2, 1, 2, 2))
    t = md.tensor(np.array([3, 3]), dtype="int64")
    s.add_noise(x0, noise, t)  # builds the per-device coefficient table
    s.alphas_cumprod = md.ones(10) * 0.25
    np.testing.assert_allclose(s.add_noise(x0, noise, t).numpy(), 0.5, rtol=1e-6)
    np.testing.assert_allclose(s.add_noise(x0, noise, np.array([3, 3])).numpy(), 0.5, rtol=1e-6)


def test_schedulers_deep_copy_and_pickle():
    import copy
    import pickle

    s = DDIMScheduler(num_train_timesteps=50, beta_schedule="squaredcos_cap_v2")
    s.set_timesteps(5)
    for other in (copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert other.config == s.config and other.config.num_train_timesteps == 50
        np.testing.assert_array_equal(other.timesteps.numpy(), s.timesteps.numpy())
        x, eps = md.ones((1, 1, 2, 2)), md.zeros((1, 1, 2, 2))
        t = int(s.timesteps[0])
        np.testing.assert_array_equal(other.step(eps, t, x).prev_sample.numpy(), s.step(eps, t, x).prev_sample.numpy())
