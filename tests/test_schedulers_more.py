# The fast samplers of md.schedulers (Euler, Euler ancestral, DPM-Solver(++), PNDM/PLMS, LMS) against
# diffusers as the oracle over whole sampling loops, plus torch-free checks: a perfect denoiser recovers
# its x0, DPM-Solver++ of order 1 is DDIM, ancestral noise is the generator's, LMS coefficients are the
# integrals they claim to be, and the pipelines run these schedulers.
#
# Oracle runs: both samplers get the same model output at every step (a fixed NumPy function of the
# sample and timestep, evaluated on diffusers' model input), and every scaled input, prev_sample and x0
# estimate is compared. diffusers keeps alpha_bar in float32, which moves its smallest sigma by ~1e-4
# relative (1 - alpha_bar cancels near t = 0); our tables are float64. So the main runs are "precise":
# diffusers' alpha_bar (and the DPM-Solver log-SNR table) are replaced by our float64 table before its
# set_timesteps, its float32 sigmas are checked against ours, then replaced by our float64 sigmas. Its step
# code then does the float64 scalar arithmetic ours does, and the float32 images agree to rtol 1e-5
# (in practice to the last bit). A few runs with diffusers untouched bound the float32-table effect.
import inspect
import json
import math
import warnings

import numpy as np
import pytest
from tiny_unet import TINY

import minidiff as md
from minidiff.pipelines import DDIMPipeline, DDPMPipeline, load_pipeline
from minidiff.schedulers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
)

NAMES = [
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "PNDMScheduler",
    "LMSDiscreteScheduler",
]
SD = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)  # Stable Diffusion's schedule
RTOL = 1e-5
# diffusers' own np.array(torch_tensor) calls warn under NumPy 2, and it deprecates "dpmsolver" (still supported)
pytestmark = [
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`algorithm_types dpmsolver:FutureWarning"),
]


def _oracle():
    return pytest.importorskip("torch"), pytest.importorskip("diffusers")


def _weights(c_out, c_in=3, seed=0):
    return (np.random.default_rng(seed).standard_normal((c_out, c_in)) * 0.5).astype(np.float32)


def _normal(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _fake_model(x, t, weight):
    """A deterministic stand-in for a U-Net: a channel mix of its input with a timestep-dependent bias."""
    return np.tanh(np.einsum("oc,bchw->bohw", weight, x) + 0.3 * np.sin(float(t) / 97.0)).astype(np.float32)


def _pair(name, **cfg):
    torch, diffusers = _oracle()
    return getattr(md.schedulers, name)(**cfg), getattr(diffusers, name)(**cfg)


def _make_precise(ours, theirs):
    """diffusers' schedule tables replaced by our float64 ones (see the header)."""
    torch, _ = _oracle()
    acp = torch.from_numpy(ours._alphas_cumprod.copy())
    theirs.alphas_cumprod = acp
    if hasattr(theirs, "lambda_t"):
        theirs.alpha_t, theirs.sigma_t = acp.sqrt(), (1 - acp).sqrt()
        theirs.lambda_t = torch.log(theirs.alpha_t) - torch.log(theirs.sigma_t)
    if hasattr(theirs, "final_alpha_cumprod"):
        theirs.final_alpha_cumprod = torch.tensor(ours.final_alpha_cumprod, dtype=torch.float64)


def _set_both(ours, theirs, n, precise=True, table_rtol=0.0, **kw):
    torch, _ = _oracle()
    if precise:
        _make_precise(ours, theirs)
    ours.set_timesteps(n, **kw)
    theirs.set_timesteps(n, **kw)
    ref_ts = theirs.timesteps.numpy()
    assert ours.timesteps.dtype == ("int64" if ref_ts.dtype == np.int64 else "float32")
    if precise:
        np.testing.assert_allclose(ours.timesteps.numpy(), ref_ts, rtol=table_rtol, atol=0)
    else:  # Karras / exponential timesteps come from the float32 log-sigma table there
        np.testing.assert_allclose(ours.timesteps.numpy(), ref_ts, rtol=0, atol=0.01)
    assert ours.num_inference_steps == theirs.num_inference_steps
    if hasattr(theirs, "sigmas"):
        sig = ours.sigmas
        assert isinstance(sig, md.Tensor) and sig.dtype == "float32" and sig.shape == tuple(theirs.sigmas.shape)
        if precise:
            np.testing.assert_allclose(sig.numpy(), theirs.sigmas.numpy(), rtol=table_rtol, atol=0)
            theirs.sigmas = torch.from_numpy(ours._sigmas.copy())
        else:
            np.testing.assert_allclose(sig.numpy(), theirs.sigmas.numpy(), rtol=2e-4)
        assert ours.init_noise_sigma == pytest.approx(float(theirs.init_noise_sigma), rel=1e-6)


def _close(actual, expected, what, rtol=RTOL):
    scale = max(float(np.abs(expected).max()), 1e-3)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def _drive(ours, theirs, *, shape=(2, 3, 5, 4), out_channels=None, seed=0, rtol=RTOL, ours_kw=None, theirs_kw=None):
    """Runs both over their whole timestep loops with identical model outputs; compares every step."""
    torch, _ = _oracle()
    rng = np.random.default_rng(seed)
    weight = _weights(out_channels or shape[1], shape[1], seed)
    x = (rng.standard_normal(shape) * float(theirs.init_noise_sigma)).astype(np.float32)
    mine, ref = md.tensor(x), torch.from_numpy(x)
    ours_kw, theirs_kw = ours_kw or {}, theirs_kw or {}
    assert len(ours.timesteps) == len(theirs.timesteps)
    for i, (t_ours, t_ref) in enumerate(zip(ours.timesteps, theirs.timesteps)):
        model_in_ref = theirs.scale_model_input(ref, t_ref)
        _close(ours.scale_model_input(mine, t_ours).numpy(), model_in_ref.numpy(), f"scale_model_input, step {i}")
        out = _fake_model(model_in_ref.numpy(), t_ref, weight)
        a = ours.step(md.tensor(out), t_ours, mine, **ours_kw)
        b = theirs.step(torch.from_numpy(out), t_ref, ref, **theirs_kw)
        assert isinstance(a.prev_sample, md.Tensor) and a.prev_sample.dtype == "float32"
        _close(a.prev_sample.numpy(), b.prev_sample.numpy(), f"prev_sample, step {i}", rtol)
        if getattr(b, "pred_original_sample", None) is not None:
            _close(a.pred_original_sample.numpy(), b.pred_original_sample.numpy(), f"x0, step {i}", rtol)
        mine, ref = a.prev_sample, b.prev_sample
    assert np.all(np.isfinite(mine.numpy()))
    return mine.numpy()


def _md_noise_for(monkeypatch, module, seed):
    """Makes a diffusers scheduler module draw its noise from md.Generator(seed), so it gets the same
    noise, in the same order, as ours given md.Generator(seed)."""
    torch, diffusers = _oracle()
    twin = md.Generator(seed)

    def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
        return torch.from_numpy(md.randn(tuple(shape), generator=twin).numpy())

    monkeypatch.setattr(getattr(diffusers.schedulers, module), "randn_tensor", randn_tensor)


# ---- config fields and round trips


@pytest.mark.parametrize("name", NAMES)
def test_config_fields_and_defaults_are_diffusers(name):
    _, diffusers = _oracle()
    params = inspect.signature(getattr(diffusers, name).__init__).parameters
    theirs = {k: p.default for k, p in params.items() if k != "self"}
    ours = getattr(md.schedulers, name)
    assert ours._defaults == theirs
    for key, value in ours().config.items():
        assert getattr(diffusers, name)().config[key] == value, key
    assert name in md.schedulers.__all__ and getattr(md.schedulers, name) is ours


@pytest.mark.parametrize("name", NAMES)
def test_from_ddpm_config_like_diffusers(name, tmp_path):
    torch, diffusers = _oracle()
    ddpm_cfg = dict(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction", timestep_spacing="trailing")
    if name == "EulerAncestralDiscreteScheduler":
        ddpm_cfg["prediction_type"] = "epsilon"
    ddpm = DDPMScheduler(**ddpm_cfg)
    ours = getattr(md.schedulers, name).from_config(ddpm.config)
    theirs = getattr(diffusers, name).from_config(diffusers.DDPMScheduler(**ddpm_cfg).config)
    for key, value in ours.config.items():
        assert theirs.config[key] == value, key
    # ours -> diffusers through the folder, and back
    ours.save_config(tmp_path)
    loaded = getattr(diffusers, name).from_pretrained(tmp_path)
    assert {k: loaded.config[k] for k in ours.config} == dict(ours.config)
    back = getattr(md.schedulers, name).from_pretrained(tmp_path)
    assert dict(back.config) == dict(ours.config)
    theirs.save_config(tmp_path / "theirs")
    assert dict(getattr(md.schedulers, name).from_pretrained(tmp_path / "theirs").config) == dict(ours.config)
    _set_both(ours, loaded, 10)
    # in memory only the fields set explicitly pass on: a default DDPM's "leading" spacing does not
    plain = getattr(md.schedulers, name).from_config(DDPMScheduler().config)
    plain_ref = getattr(diffusers, name).from_config(diffusers.DDPMScheduler().config)
    assert {k: plain_ref.config[k] for k in plain.config} == dict(plain.config)
    assert dict(plain.config) == dict(getattr(md.schedulers, name)().config)
    # diffusers' in-memory configs carry their record of defaulted fields, which is honoured
    from_theirs = getattr(md.schedulers, name).from_config(diffusers.DDPMScheduler(**ddpm_cfg).config)
    assert dict(from_theirs.config) == dict(ours.config)


def test_from_config_overrides_and_unknown_fields():
    ddpm = DDPMScheduler(beta_schedule="scaled_linear", steps_offset=1)
    s = DPMSolverMultistepScheduler.from_config(ddpm.config, solver_order=3, use_karras_sigmas=True)
    assert s.config.beta_schedule == "scaled_linear" and s.config.steps_offset == 1
    assert s.config.solver_order == 3 and s.config.use_karras_sigmas
    assert "clip_sample" not in s.config and "variance_type" in s.config and s.config.variance_type is None
    with pytest.raises(TypeError, match="unknown config fields"):
        EulerDiscreteScheduler.from_config(ddpm.config, solver_order=2)
    # DEIS / UniPC solver names load as DPM-Solver++ midpoint, as in diffusers
    s = DPMSolverMultistepScheduler(algorithm_type="deis", solver_type="bh2")
    assert (s.config.algorithm_type, s.config.solver_type) == ("dpmsolver++", "midpoint")


def test_unsupported_options_raise():
    with pytest.raises(NotImplementedError, match="use_beta_sigmas"):
        EulerDiscreteScheduler(use_beta_sigmas=True)
    with pytest.raises(ValueError, match="only one of"):
        EulerDiscreteScheduler(use_karras_sigmas=True, use_exponential_sigmas=True)
    with pytest.raises(ValueError, match="interpolation_type"):
        EulerDiscreteScheduler(interpolation_type="cubic")
    with pytest.raises(ValueError, match="final_sigmas_type"):
        EulerDiscreteScheduler(final_sigmas_type="one")
    with pytest.raises(NotImplementedError, match="thresholding"):
        DPMSolverMultistepScheduler(thresholding=True)
    with pytest.raises(NotImplementedError, match="flow"):
        DPMSolverMultistepScheduler(use_flow_sigmas=True)
    with pytest.raises(NotImplementedError, match="flow"):
        DPMSolverMultistepScheduler(prediction_type="flow_prediction")
    with pytest.raises(NotImplementedError, match="third-order"):
        DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver", solver_order=3, final_sigmas_type="sigma_min")
    with pytest.raises(ValueError, match="final_sigmas_type 'zero' is not supported"):
        DPMSolverMultistepScheduler(algorithm_type="dpmsolver")
    with pytest.raises(ValueError, match="solver_order"):
        DPMSolverMultistepScheduler(solver_order=4)
    with pytest.raises(ValueError, match="algorithm_type"):
        DPMSolverMultistepScheduler(algorithm_type="dpm")
    with pytest.raises(NotImplementedError, match="beta_schedule 'sigmoid'"):
        DPMSolverMultistepScheduler(beta_schedule="sigmoid")
    with pytest.raises(ValueError, match="prediction_type"):
        EulerDiscreteScheduler(prediction_type="noise")
    with pytest.raises(NotImplementedError, match="sample"):
        EulerAncestralDiscreteScheduler(prediction_type="sample")
    with pytest.raises(ValueError, match="prediction_type"):
        PNDMScheduler(prediction_type="sample")
    with pytest.raises(NotImplementedError, match="mu"):
        DPMSolverMultistepScheduler().set_timesteps(10, mu=0.5)


# ---- Euler


EULER_CONFIGS = [
    {},
    dict(**SD, use_karras_sigmas=True),
    dict(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction", timestep_spacing="trailing"),
    dict(timestep_spacing="leading", steps_offset=1, prediction_type="sample"),
    dict(**SD, rescale_betas_zero_snr=True, timestep_spacing="trailing", prediction_type="v_prediction"),
    dict(use_exponential_sigmas=True, final_sigmas_type="sigma_min"),
    dict(**SD, use_karras_sigmas=True, sigma_min=0.1, sigma_max=10.0),
    dict(interpolation_type="log_linear"),
    dict(**SD, timestep_type="continuous", prediction_type="v_prediction"),
]


@pytest.mark.parametrize("n", [10, 20, 50])
@pytest.mark.parametrize("cfg", EULER_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_euler_matches_diffusers(cfg, n):
    ours, theirs = _pair("EulerDiscreteScheduler", **cfg)
    # diffusers makes log-linear sigmas and continuous timesteps (log(sigma) / 4) in float32 from its tables
    float32_tables = cfg.get("interpolation_type") == "log_linear" or cfg.get("timestep_type") == "continuous"
    _set_both(ours, theirs, n, table_rtol=2e-6 if float32_tables else 0.0)
    _drive(ours, theirs)


@pytest.mark.parametrize("name", ["EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "LMSDiscreteScheduler"])
def test_tables_before_set_timesteps_match_diffusers(name):
    ours, theirs = _pair(name, **SD)
    _make_precise(ours, theirs)
    np.testing.assert_array_equal(ours.timesteps.numpy(), theirs.timesteps.numpy().astype(np.float32))
    ref = theirs.sigmas.numpy()
    assert ours.sigmas.shape == ref.shape
    np.testing.assert_allclose(ours.sigmas.numpy(), ref, rtol=2e-4)  # diffusers' init tables are float32
    assert ours.init_noise_sigma == pytest.approx(float(theirs.init_noise_sigma), rel=2e-4)


def test_euler_custom_timesteps_and_sigmas_match_diffusers():
    ours, theirs = _pair("EulerDiscreteScheduler", **SD)
    _set_both(ours, theirs, None, timesteps=[999.0, 750.5, 400.0, 120.25, 3.0])
    _drive(ours, theirs)
    ours, theirs = _pair("EulerDiscreteScheduler", **SD)
    _make_precise(ours, theirs)
    custom = [14.6, 8.0, 3.5, 1.0, 0.3, 0.03, 0.0]
    ours.set_timesteps(sigmas=custom)
    theirs.set_timesteps(sigmas=custom)
    np.testing.assert_allclose(ours.timesteps.numpy(), theirs.timesteps.numpy(), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(ours.sigmas.numpy(), theirs.sigmas.numpy(), rtol=1e-7)
    theirs.sigmas = _oracle()[0].from_numpy(ours._sigmas.copy())
    _drive(ours, theirs)
    with pytest.raises(ValueError, match="exactly one"):
        ours.set_timesteps(10, sigmas=custom)
    with pytest.raises(ValueError, match="use_karras_sigmas"):
        EulerDiscreteScheduler(use_karras_sigmas=True).set_timesteps(timesteps=[999.0, 10.0])


@pytest.mark.parametrize("s_tmin, s_tmax", [(0.0, float("inf")), (1.0, 30.0)])
def test_euler_churn_matches_diffusers_with_the_same_noise(monkeypatch, s_tmin, s_tmax):
    _md_noise_for(monkeypatch, "scheduling_euler_discrete", seed=11)
    ours, theirs = _pair("EulerDiscreteScheduler", **SD)
    _set_both(ours, theirs, 20)
    churn = dict(s_churn=4.0, s_tmin=s_tmin, s_tmax=s_tmax, s_noise=1.003)
    final = _drive(ours, theirs, ours_kw=dict(churn, generator=md.Generator(11)), theirs_kw=churn)
    ours.set_timesteps(20)
    plain = _drive_ours_only(ours, final.shape)
    assert not np.allclose(final, plain)  # the churn did inject noise


def _drive_ours_only(sched, shape, seed=0, **kw):
    rng = np.random.default_rng(seed)
    weight = _weights(shape[1], shape[1], seed)
    x = md.tensor((rng.standard_normal(shape) * float(sched.init_noise_sigma)).astype(np.float32))
    for t in sched.timesteps:
        model_in = sched.scale_model_input(x, t)
        x = sched.step(md.tensor(_fake_model(model_in.numpy(), float(t), weight)), t, x, **kw).prev_sample
    return x.numpy()


def test_euler_step_index_and_begin_index_like_diffusers():
    torch, _ = _oracle()
    ours, theirs = _pair("EulerDiscreteScheduler")
    _set_both(ours, theirs, 10)
    assert ours.step_index is None and ours.begin_index is None
    x = md.randn(1, 3, 2, 2)
    ours.scale_model_input(x, ours.timesteps[3])
    assert ours.step_index == 3  # the first call looks the timestep up
    ours.step(x, ours.timesteps[3], x)
    assert ours.step_index == 4
    ours.step(x, ours.timesteps[0], x)  # later calls follow the counter, whatever timestep is given
    assert ours.step_index == 5
    ours.set_timesteps(10)
    assert ours.step_index is None
    ours.set_begin_index(6)
    theirs.set_begin_index(6)
    ours.scale_model_input(x, ours.timesteps[0])
    assert ours.step_index == 6
    # add_noise: by lookup, or the begin / current step's level once set_begin_index was called
    rng = np.random.default_rng(3)
    x0, noise = (
        rng.standard_normal((3, 2, 4, 4)).astype(np.float32),
        rng.standard_normal((3, 2, 4, 4)).astype(np.float32),
    )
    fresh, ref = _pair("EulerDiscreteScheduler")
    _set_both(fresh, ref, 10)
    ts = fresh.timesteps.numpy()[[0, 4, 9]]
    for begin in (None, 2):
        if begin is not None:
            fresh.set_begin_index(begin)
            ref.set_begin_index(begin)
        got = fresh.add_noise(md.tensor(x0), md.tensor(noise), md.tensor(ts))
        want = ref.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), torch.from_numpy(ts))
        _close(got.numpy(), want.numpy(), f"add_noise begin={begin}")
    with pytest.raises(ValueError, match="not one of the scheduler's timesteps"):
        ours.index_for_timestep(500.5)


def test_euler_rejects_integer_timesteps_and_overstepping():
    s = EulerDiscreteScheduler()
    s.set_timesteps(2)
    x = md.randn(1, 1, 2, 2)
    with pytest.raises(ValueError, match="integer timestep"):
        s.step(x, 999, x)
    with pytest.raises(ValueError, match="integer timestep"):
        s.step(x, md.tensor(999, dtype="int64"), x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in s.timesteps:
            s.step(x, t, x)
        with pytest.raises(ValueError, match="past the last"):
            s.step(x, s.timesteps[-1], x)
    with pytest.raises(ValueError, match="model_output has shape"):
        EulerDiscreteScheduler().step(md.randn(1, 1, 2, 3), 999.0, x)


def test_step_without_scale_model_input_warns():
    s = EulerDiscreteScheduler()
    s.set_timesteps(4)
    x = md.randn(1, 1, 2, 2)
    with pytest.warns(UserWarning, match="scale_model_input"):
        s.step(x, s.timesteps[0], x)


# ---- Euler ancestral


@pytest.mark.parametrize("n", [10, 20, 50])
@pytest.mark.parametrize(
    "cfg",
    [{}, dict(**SD, prediction_type="v_prediction", timestep_spacing="leading"), dict(timestep_spacing="trailing")],
)
def test_euler_ancestral_matches_diffusers_with_the_same_noise(monkeypatch, cfg, n):
    # diffusers draws its noise from torch's generator; here both draw from md.Generator(5), in the same
    # order, so the comparison is exact up to rounding (statistics alone would not catch a wrong sigma_up)
    _md_noise_for(monkeypatch, "scheduling_euler_ancestral_discrete", seed=5)
    ours, theirs = _pair("EulerAncestralDiscreteScheduler", **cfg)
    _set_both(ours, theirs, n)
    _drive(ours, theirs, ours_kw=dict(generator=md.Generator(5)))


def test_euler_ancestral_noise_is_the_generators():
    s = EulerAncestralDiscreteScheduler(**SD)
    s.set_timesteps(6)
    twin = md.Generator(9)
    gen = md.Generator(9)
    x = md.randn((2, 1, 4, 4), generator=md.Generator(1)) * s.init_noise_sigma
    sig = s._sigmas
    for i, t in enumerate(s.timesteps):
        eps = md.randn((2, 1, 4, 4), generator=md.Generator(100 + i))
        s.scale_model_input(x, t)
        got = s.step(eps, t, x, generator=gen).prev_sample.numpy()
        # k-diffusion's ancestral step written out in float64
        up = math.sqrt(sig[i + 1] ** 2 * (sig[i] ** 2 - sig[i + 1] ** 2) / sig[i] ** 2)
        down = math.sqrt(sig[i + 1] ** 2 - up**2)
        noise = md.randn((2, 1, 4, 4), generator=twin).numpy().astype(np.float64)
        want = x.numpy() + eps.numpy() * (down - sig[i]) + noise * up
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
        x = md.tensor(got)
    assert sig[-1] == 0.0
    # two runs with the same seed agree; another seed differs
    a = _drive_ours_only(_fresh_set(EulerAncestralDiscreteScheduler, 8), (2, 3, 4, 4), generator=md.Generator(4))
    b = _drive_ours_only(_fresh_set(EulerAncestralDiscreteScheduler, 8), (2, 3, 4, 4), generator=md.Generator(4))
    c = _drive_ours_only(_fresh_set(EulerAncestralDiscreteScheduler, 8), (2, 3, 4, 4), generator=md.Generator(5))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def _fresh_set(cls, n, **cfg):
    s = cls(**cfg)
    s.set_timesteps(n)
    return s


# ---- DPM-Solver


DPM_CONFIGS = [
    {},
    dict(solver_order=1),
    dict(solver_order=3),
    dict(solver_type="heun"),
    dict(solver_order=3, algorithm_type="dpmsolver", final_sigmas_type="sigma_min"),
    dict(algorithm_type="dpmsolver", solver_type="heun", final_sigmas_type="sigma_min", prediction_type="v_prediction"),
    dict(**SD, use_karras_sigmas=True),
    dict(beta_schedule="squaredcos_cap_v2", use_karras_sigmas=True, lambda_min_clipped=-5.1),
    dict(**SD, use_lu_lambdas=True, solver_order=3),
    dict(use_exponential_sigmas=True),
    dict(prediction_type="v_prediction", timestep_spacing="trailing", rescale_betas_zero_snr=True),
    dict(prediction_type="sample", timestep_spacing="leading", steps_offset=1),
    dict(lower_order_final=False, final_sigmas_type="sigma_min"),
    dict(euler_at_final=True, final_sigmas_type="sigma_min", solver_order=3),
    dict(algorithm_type="dpmsolver", final_sigmas_type="sigma_min", prediction_type="sample"),
]


@pytest.mark.parametrize("n", [10, 20, 50])
@pytest.mark.parametrize("cfg", DPM_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_dpm_solver_matches_diffusers(cfg, n):
    ours, theirs = _pair("DPMSolverMultistepScheduler", **cfg)
    _set_both(ours, theirs, n)
    _drive(ours, theirs)
    assert ours.lower_order_nums == theirs.lower_order_nums and ours.step_index == theirs.step_index


def test_dpm_solver_learned_variance_uses_the_first_channels():
    ours, theirs = _pair("DPMSolverMultistepScheduler", variance_type="learned_range")
    _set_both(ours, theirs, 12)
    _drive(ours, theirs, out_channels=6)  # diffusers keeps channels :3, which are the first half here
    ours.set_timesteps(5)
    with pytest.raises(ValueError, match="twice the sample's channels"):
        ours.step(md.randn(1, 3, 2, 2), ours.timesteps[0], md.randn(1, 3, 2, 2))


@pytest.mark.parametrize(
    "cfg",
    [
        dict(algorithm_type="sde-dpmsolver++"),
        dict(algorithm_type="sde-dpmsolver++", solver_type="heun", solver_order=3),
        dict(algorithm_type="sde-dpmsolver", final_sigmas_type="sigma_min"),
        dict(algorithm_type="sde-dpmsolver", solver_type="heun", final_sigmas_type="sigma_min"),
    ],
)
def test_dpm_solver_sde_matches_diffusers_with_the_same_noise(cfg):
    torch, _ = _oracle()
    ours, theirs = _pair("DPMSolverMultistepScheduler", **cfg)
    _set_both(ours, theirs, 20)
    rng = np.random.default_rng(4)
    weight = _weights(3)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    mine, ref = md.tensor(x), torch.from_numpy(x)
    for i, (t_ours, t_ref) in enumerate(zip(ours.timesteps, theirs.timesteps)):
        out = _fake_model(ref.numpy(), t_ref, weight)
        noise = rng.standard_normal(x.shape).astype(np.float32)
        mine = ours.step(md.tensor(out), t_ours, mine, variance_noise=md.tensor(noise)).prev_sample
        ref = theirs.step(torch.from_numpy(out), t_ref, ref, variance_noise=torch.from_numpy(noise)).prev_sample
        _close(mine.numpy(), ref.numpy(), f"prev_sample, step {i}")
    # with a generator instead, a seed fixes the result
    runs = []
    for seed in (1, 1, 2):
        s = _fresh_set(DPMSolverMultistepScheduler, 8, **cfg)
        runs.append(_drive_ours_only(s, (2, 3, 4, 4), generator=md.Generator(seed)))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_dpm_solver_custom_timesteps_and_add_noise_match_diffusers():
    torch, _ = _oracle()
    ours, theirs = _pair("DPMSolverMultistepScheduler", **SD)
    _set_both(ours, theirs, None, timesteps=[999, 800, 601, 400, 250, 100, 20])
    _drive(ours, theirs)
    rng = np.random.default_rng(2)
    x0, noise = (
        rng.standard_normal((3, 2, 4, 4)).astype(np.float32),
        rng.standard_normal((3, 2, 4, 4)).astype(np.float32),
    )
    ts = np.array([999, 400, 20], dtype=np.int64)
    got = ours.add_noise(md.tensor(x0), md.tensor(noise), md.tensor(ts, dtype="int64"))
    want = theirs.add_noise(torch.from_numpy(x0), torch.from_numpy(noise), torch.from_numpy(ts))
    _close(got.numpy(), want.numpy(), "add_noise")
    # a timestep missing from the schedule maps to the last step, as in diffusers
    assert ours.index_for_timestep(555) == theirs.index_for_timestep(555) == 6


def test_dpm_solver_add_noise_before_set_timesteps_is_the_forward_process():
    # diffusers reads its (ascending) training sigmas at the timestep's position in its descending
    # timesteps here, i.e. the noise level of T - 1 - t; ours uses the level of t itself
    s = DPMSolverMultistepScheduler()
    rng = np.random.default_rng(0)
    x0, noise = (
        rng.standard_normal((3, 1, 2, 2)).astype(np.float32),
        rng.standard_normal((3, 1, 2, 2)).astype(np.float32),
    )
    t = np.array([0, 500, 999])
    got = s.add_noise(md.tensor(x0), md.tensor(noise), t).numpy()
    acp = s._alphas_cumprod[t].reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(got, np.sqrt(acp) * x0 + np.sqrt(1 - acp) * noise, rtol=1e-6, atol=1e-6)
    ddpm = DDPMScheduler().add_noise(md.tensor(x0), md.tensor(noise), t).numpy()
    np.testing.assert_allclose(got, ddpm, atol=1e-6)


def test_dpm_solver_order_one_is_ddim():
    # DPM-Solver++ of order 1 is DDIM (Lu et al. 2022b, sec. 4.1): same timesteps, eta = 0, last step to x0
    ddim = DDIMScheduler(clip_sample=False, set_alpha_to_one=True)
    ddim.set_timesteps(10)
    dpm = DPMSolverMultistepScheduler(solver_order=1)
    dpm.set_timesteps(timesteps=ddim.timesteps.numpy())
    np.testing.assert_array_equal(dpm.timesteps.numpy(), ddim.timesteps.numpy())
    weight = _weights(2, 2)
    x = md.randn((2, 2, 3, 3), generator=md.Generator(0))
    a = b = x
    for t in ddim.timesteps:
        a = ddim.step(md.tensor(_fake_model(a.numpy(), int(t), weight)), t, a).prev_sample
        b = dpm.step(md.tensor(_fake_model(b.numpy(), int(t), weight)), t, b).prev_sample
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-5)


def test_dpm_solver_needs_set_timesteps_and_steps_within_the_schedule():
    s = DPMSolverMultistepScheduler()
    x = md.randn(1, 1, 2, 2)
    with pytest.raises(ValueError, match="set_timesteps"):
        s.step(x, 999, x)
    s.set_timesteps(2)
    for t in s.timesteps:
        s.step(x, t, x)
    with pytest.raises(ValueError, match="past the last"):
        s.step(x, s.timesteps[-1], x)
    with pytest.raises(ValueError, match="exactly one"):
        s.set_timesteps()


# ---- PNDM and LMS


@pytest.mark.parametrize("n", [10, 20, 50])
@pytest.mark.parametrize(
    "cfg",
    [
        dict(skip_prk_steps=True),
        dict(),
        dict(**SD, skip_prk_steps=True, set_alpha_to_one=True, steps_offset=1),
        dict(prediction_type="v_prediction", timestep_spacing="trailing"),
        dict(beta_schedule="squaredcos_cap_v2", timestep_spacing="linspace", skip_prk_steps=True),
    ],
)
def test_pndm_matches_diffusers(cfg, n):
    ours, theirs = _pair("PNDMScheduler", **cfg)
    _set_both(ours, theirs, n)
    np.testing.assert_array_equal(ours.prk_timesteps, theirs.prk_timesteps)
    np.testing.assert_array_equal(ours.plms_timesteps, theirs.plms_timesteps)
    _drive(ours, theirs)


@pytest.mark.parametrize("n", [10, 20, 50])
@pytest.mark.parametrize(
    "cfg",
    [{}, dict(**SD, use_karras_sigmas=True), dict(prediction_type="v_prediction", timestep_spacing="leading"),
     dict(prediction_type="sample", use_exponential_sigmas=True)],
)  # fmt: skip
def test_lms_matches_diffusers(cfg, n):
    ours, theirs = _pair("LMSDiscreteScheduler", **cfg)
    _set_both(ours, theirs, n)
    _drive(ours, theirs)


def test_lms_coefficients_are_the_lagrange_integrals():
    s = LMSDiscreteScheduler(**SD)
    s.set_timesteps(12)
    sig = s._sigmas
    for t in (0, 1, 2, 5, 11):
        order = min(t + 1, 4)
        coeffs = [s.get_lms_coefficient(order, t, j) for j in range(order)]
        # the basis polynomials sum to 1, so the coefficients sum to the interval's length
        assert sum(coeffs) == pytest.approx(sig[t + 1] - sig[t], rel=1e-12)
        grid = np.linspace(sig[t], sig[t + 1], 20001)
        for j, c in enumerate(coeffs):
            basis = np.ones_like(grid)
            for k in range(order):
                if k != j:
                    basis *= (grid - sig[t - k]) / (sig[t - j] - sig[t - k])
            integral = np.sum((basis[1:] + basis[:-1]) * 0.5 * np.diff(grid))
            assert c == pytest.approx(integral, rel=1e-6, abs=1e-12)


# ---- float32 diffusers, untouched


@pytest.mark.parametrize(
    "name, cfg",
    [
        ("EulerDiscreteScheduler", {}),
        ("EulerDiscreteScheduler", dict(**SD, use_karras_sigmas=True)),
        ("DPMSolverMultistepScheduler", dict(solver_order=3)),
        ("DPMSolverMultistepScheduler", dict(**SD, use_karras_sigmas=True, solver_type="heun")),
        ("PNDMScheduler", dict(skip_prk_steps=True)),
        ("LMSDiscreteScheduler", {}),
    ],
)
def test_plain_float32_diffusers_agrees_to_its_table_rounding(name, cfg):
    # diffusers' float32 alpha_bar puts its smallest sigma ~1e-4 (relative) off ours; the samples then
    # agree to a few 1e-5 of their scale
    ours, theirs = _pair(name, **cfg)
    _set_both(ours, theirs, 25, precise=False)
    _drive(ours, theirs, rtol=1e-4)


# ---- torch-free sanity: a perfect denoiser's samples end at its x0


def _perfect_model(sched, x0, ptype):
    """The exact model output for clean image x0, given the model input and its noise level."""

    def model(model_input, t):
        if hasattr(sched, "_sigmas"):  # the model input is alpha_t * x0 + sigma_t * eps at the step's sigma
            sigma = float(sched._sigmas[sched.step_index or 0])
            alpha = 1.0 / math.sqrt(sigma * sigma + 1.0)
            sigma_t = sigma * alpha
        else:
            acp = float(sched._alphas_cumprod[int(t)])
            alpha, sigma_t = math.sqrt(acp), math.sqrt(1.0 - acp)
        x = model_input.astype(np.float64)
        eps = (x - alpha * x0) / sigma_t
        out = {"epsilon": eps, "v_prediction": alpha * eps - sigma_t * x0, "sample": x0}[ptype]
        return md.tensor(out.astype(np.float32))

    return model


@pytest.mark.parametrize(
    "cls, cfg",
    [
        (EulerDiscreteScheduler, {}),
        (EulerDiscreteScheduler, dict(**SD, use_karras_sigmas=True, prediction_type="v_prediction")),
        (EulerDiscreteScheduler, dict(timestep_spacing="leading", prediction_type="sample")),
        (LMSDiscreteScheduler, dict(prediction_type="v_prediction")),
        (DPMSolverMultistepScheduler, {}),
        (DPMSolverMultistepScheduler, dict(solver_order=3, prediction_type="v_prediction", use_karras_sigmas=True)),
        (DPMSolverMultistepScheduler, dict(prediction_type="sample", solver_type="heun")),
        (DPMSolverMultistepScheduler, dict(algorithm_type="dpmsolver", final_sigmas_type="sigma_min")),
        (PNDMScheduler, dict(skip_prk_steps=True, set_alpha_to_one=True)),
        # (not v-prediction: PNDM mixes model outputs of several timesteps before converting v to epsilon at
        # one of them, as diffusers does, which is exact for epsilon only)
        (PNDMScheduler, dict(set_alpha_to_one=True, timestep_spacing="trailing")),
    ],
)
@pytest.mark.parametrize("n", [10, 25])
def test_perfect_denoiser_recovers_x0(cls, cfg, n):
    s = cls(**cfg)
    s.set_timesteps(n)
    x0 = np.linspace(-1, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    noise = np.random.default_rng(0).standard_normal(x0.shape)
    model = _perfect_model(s, x0, s.config.prediction_type)
    if isinstance(s, PNDMScheduler):
        acp = s._alphas_cumprod[int(s.timesteps[0])]
        x = np.sqrt(acp) * x0 + np.sqrt(1 - acp) * noise
    elif isinstance(s, DPMSolverMultistepScheduler):
        alpha = 1.0 / math.sqrt(s._sigmas[0] ** 2 + 1.0)
        x = alpha * x0 + s._sigmas[0] * alpha * noise
    else:  # sigma form: x0 + sigma * noise
        x = x0 + s._sigmas[0] * noise
    x = md.tensor(x.astype(np.float32))
    for t in s.timesteps:
        model_input = s.scale_model_input(x, t)
        x = s.step(model(model_input.numpy(), t), t, x).prev_sample
    # the sampler's error is float32 rounding of samples of size sigma_max, carried to the end
    tol = 1e-5 * max(1.0, float(s._sigmas.max())) if hasattr(s, "_sigmas") else 1e-4
    if cfg.get("final_sigmas_type") == "sigma_min":  # ends at the smallest training noise level instead of 0
        alpha = 1.0 / math.sqrt(s._sigmas[-1] ** 2 + 1.0)
        expected = alpha * x0 + s._sigmas[-1] * alpha * noise
    else:
        expected = x0
    np.testing.assert_allclose(x.numpy(), expected, rtol=0, atol=tol)


def test_timestep_tables_are_md_tensors_over_float64_arrays():
    for cls in (EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, LMSDiscreteScheduler):
        s = _fresh_set(cls, 7)
        assert s._sigmas.dtype == np.float64 and s.sigmas.dtype == "float32" and s.sigmas.shape == (8,)
        assert s.timesteps.dtype == "float32" and s.timesteps.shape == (7,)
        assert s.sigmas is s.sigmas  # made once
        np.testing.assert_array_equal(s.sigmas.numpy(), s._sigmas.astype(np.float32))
        assert s.init_noise_sigma == pytest.approx(float(s._sigmas.max()))
    s = DPMSolverMultistepScheduler()
    assert s.timesteps.dtype == "float32" and s.sigmas.shape == (1000,)
    s.set_timesteps(7)
    assert s.timesteps.dtype == "int64" and s.sigmas.shape == (8,) and s.init_noise_sigma == 1.0
    np.testing.assert_array_equal(s.timesteps.numpy(), [999, 856, 714, 571, 428, 285, 143])
    # Euler's linspace timesteps fall between training steps, with the sigma interpolated there
    e = _fresh_set(EulerDiscreteScheduler, 7)
    assert e.timesteps.numpy()[1] == pytest.approx(832.5)
    train = np.sqrt((1 - e._alphas_cumprod) / e._alphas_cumprod)
    assert e._sigmas[1] == pytest.approx(0.5 * (train[832] + train[833]), rel=1e-12)
    assert e.init_noise_sigma == pytest.approx(train[-1], rel=1e-12)
    lead = _fresh_set(EulerDiscreteScheduler, 7, timestep_spacing="leading")
    assert lead.init_noise_sigma == pytest.approx(math.sqrt(lead._sigmas.max() ** 2 + 1), rel=1e-12)


def test_sigma_form_forward_process_is_ddpms_scaled():
    # before set_timesteps the schedule is every training step, so Euler's x0 + sigma * noise is DDPM's
    # sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) noise divided by sqrt(alpha_bar), and the velocities agree
    rng = np.random.default_rng(5)
    x0, noise = md.tensor(_normal(rng, (3, 2, 4, 4))), md.tensor(_normal(rng, (3, 2, 4, 4)))
    t = np.array([999, 500, 0])
    ddpm = DDPMScheduler()
    for cls in (EulerDiscreteScheduler, LMSDiscreteScheduler):
        s = cls()
        if cls is LMSDiscreteScheduler:
            s.set_timesteps(1000)
        noisy = s.add_noise(x0, noise, md.tensor(t.astype(np.float32)))
        sqrt_acp = np.sqrt(s._alphas_cumprod[t]).reshape(-1, 1, 1, 1)
        np.testing.assert_allclose(noisy.numpy() * sqrt_acp, ddpm.add_noise(x0, noise, t).numpy(), atol=2e-6)
        v = s.get_velocity(x0, noise, t.astype(np.float32))
        np.testing.assert_allclose(v.numpy(), ddpm.get_velocity(x0, noise, t).numpy(), atol=2e-6)
    dpm = DPMSolverMultistepScheduler()
    np.testing.assert_allclose(dpm.get_velocity(x0, noise, t).numpy(), ddpm.get_velocity(x0, noise, t).numpy())
    with pytest.raises(ValueError, match="3 timesteps"):
        EulerDiscreteScheduler().add_noise(x0[:2], noise[:2], [999.0, 500.0, 0.0])
    with pytest.raises(ValueError, match="noise has shape"):
        EulerDiscreteScheduler().add_noise(x0, noise[:2], [999.0])


def test_scale_model_input_divides_by_the_unit_variance_factor():
    s = _fresh_set(EulerDiscreteScheduler, 5, **SD)
    x = md.randn((2, 1, 3, 3), generator=md.Generator(0))
    for i, t in enumerate(s.timesteps):
        got = s.scale_model_input(x, t).numpy()
        np.testing.assert_allclose(got, x.numpy() / math.sqrt(s._sigmas[i] ** 2 + 1), rtol=1e-6)
        s._step_index += 1
    # DDPM-style schedulers leave the input alone
    for cls in (DPMSolverMultistepScheduler, PNDMScheduler):
        assert _fresh_set(cls, 5).scale_model_input(x, 999) is x


# ---- the loop from the diffusers docs, and the pipelines


@pytest.fixture(scope="module")
def unet():
    md.manual_seed(1)
    return md.UNet2DModel(**TINY)


@pytest.mark.parametrize("name", ["DPMSolverMultistepScheduler", "EulerDiscreteScheduler", "LMSDiscreteScheduler"])
def test_sampling_loop_matches_diffusers_on_the_same_unet(unet, tmp_path, name):
    torch, diffusers = _oracle()
    unet.save_pretrained(tmp_path)
    ref_unet = diffusers.UNet2DModel.from_pretrained(tmp_path).eval()
    ddpm = md.DDPMScheduler()
    sched = getattr(md.schedulers, name).from_config(ddpm.config)
    ref = getattr(diffusers, name).from_config(diffusers.DDPMScheduler().config)
    sched.set_timesteps(20)
    ref.set_timesteps(20)
    noise = md.randn((2, 1, 8, 8), generator=md.Generator(3))
    x = noise * sched.init_noise_sigma
    with md.no_grad():
        for t in sched.timesteps:
            x = sched.step(unet(sched.scale_model_input(x, t), t), t, x).prev_sample
    y = torch.from_numpy(noise.numpy()) * ref.init_noise_sigma
    with torch.no_grad():
        for t in ref.timesteps:
            y = ref.step(ref_unet(ref.scale_model_input(y, t), t).sample, t, y).prev_sample
    np.testing.assert_allclose(x.numpy(), y.numpy(), atol=2e-4 * max(1.0, float(np.abs(y.numpy()).max())))


@pytest.mark.parametrize(
    "make",
    [
        lambda: EulerDiscreteScheduler.from_config(DDPMScheduler().config),
        lambda: EulerAncestralDiscreteScheduler(),
        lambda: DPMSolverMultistepScheduler(use_karras_sigmas=True),
        lambda: DPMSolverMultistepScheduler(algorithm_type="sde-dpmsolver++"),
        lambda: PNDMScheduler(skip_prk_steps=True),
        lambda: LMSDiscreteScheduler(),
    ],
)
def test_ddpm_pipeline_runs_fast_samplers(unet, make):
    pipe = DDPMPipeline(unet, make())
    assert type(pipe.scheduler) is type(make())  # used as given, as diffusers' DDPMPipeline does
    a = pipe(3, num_inference_steps=8, generator=md.Generator(5))
    b = pipe(3, num_inference_steps=8, generator=md.Generator(5))
    c = pipe(3, num_inference_steps=8, generator=md.Generator(6))
    assert a.shape == (3, 8, 8, 1) and a.dtype == np.float32 and np.all(np.isfinite(a))
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    raw = pipe(2, num_inference_steps=8, generator=md.Generator(5), output_type="tensor")
    assert np.all(np.isfinite(raw.numpy()))


def test_ddpm_pipeline_with_euler_matches_the_diffusers_loop(unet, tmp_path):
    torch, diffusers = _oracle()
    unet.save_pretrained(tmp_path)
    ref_unet = diffusers.UNet2DModel.from_pretrained(tmp_path).eval()
    ours = DDPMPipeline(unet, EulerDiscreteScheduler())(2, num_inference_steps=15, generator=md.Generator(3))
    ref = diffusers.EulerDiscreteScheduler()
    ref.set_timesteps(15)
    # diffusers' DDPMPipeline itself neither scales the input nor the initial noise; its docs' loop does
    y = torch.from_numpy(md.randn((2, 1, 8, 8), generator=md.Generator(3)).numpy()) * ref.init_noise_sigma
    with torch.no_grad():
        for t in ref.timesteps:
            y = ref.step(ref_unet(ref.scale_model_input(y, t), t).sample, t, y).prev_sample
    expected = np.clip(y.numpy().transpose(0, 2, 3, 1) * 0.5 + 0.5, 0, 1)
    np.testing.assert_allclose(ours, expected, atol=2e-4)


def test_pipeline_timesteps_reach_the_unet_as_floats(unet):
    seen = []

    class Spy:
        config = unet.config

        def parameters(self):
            return unet.parameters()

        training = False

        def eval(self):
            pass

        def __call__(self, sample, timestep, *args):
            seen.append(timestep)
            return unet(sample, timestep, *args)

    DDPMPipeline(Spy(), EulerDiscreteScheduler())(1, num_inference_steps=4, generator=md.Generator(0))
    assert all(isinstance(t, md.Tensor) and t.dtype == "float32" for t in seen)
    assert [float(t.item()) for t in seen] == pytest.approx([999.0, 666.0, 333.0, 0.0])
    seen.clear()
    DDPMPipeline(Spy(), DPMSolverMultistepScheduler())(1, num_inference_steps=4, generator=md.Generator(0))
    assert seen == [999, 749, 500, 250]


def test_pipeline_scheduler_arguments(unet, tmp_path):
    pipe = DDPMPipeline(unet, EulerDiscreteScheduler())
    with pytest.raises(ValueError, match="eta=0.5 is not supported by EulerDiscreteScheduler"):
        pipe(1, num_inference_steps=2, eta=0.5)
    ddim = DDIMPipeline(unet, EulerDiscreteScheduler(beta_schedule="squaredcos_cap_v2"))
    assert isinstance(ddim.scheduler, DDIMScheduler) and ddim.scheduler.config.beta_schedule == "squaredcos_cap_v2"
    assert ddim.scheduler.config.timestep_spacing == "leading"  # Euler's defaulted "linspace" stays behind
    with pytest.raises(TypeError, match="no set_timesteps"):
        DDPMPipeline(unet, object())
    # the folder keeps the scheduler's class, for us and for diffusers
    pipe = DDPMPipeline(unet, DPMSolverMultistepScheduler(solver_order=3))
    pipe.save_pretrained(tmp_path)
    _, loaded = load_pipeline(tmp_path)
    assert isinstance(loaded, DPMSolverMultistepScheduler) and loaded.config.solver_order == 3
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["scheduler"] == ["diffusers", "DPMSolverMultistepScheduler"]
    again = DDPMPipeline.from_pretrained(tmp_path)
    np.testing.assert_array_equal(
        again(1, num_inference_steps=5, generator=md.Generator(2)),
        pipe(1, num_inference_steps=5, generator=md.Generator(2)),
    )
    torch, diffusers = _oracle()
    ref = diffusers.DDPMPipeline.from_pretrained(tmp_path)
    assert type(ref.scheduler).__name__ == "DPMSolverMultistepScheduler" and ref.scheduler.config.solver_order == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"lower_order_final": False},
        {"algorithm_type": "dpmsolver"},
        {"solver_order": 3, "lower_order_final": False},
    ],
)
def test_dpm_solver_step_to_the_same_level_leaves_the_sample(kwargs):
    """Exponential sigmas end at sigma_min, which is also the appended final level: the last step
    has h = 0 and must neither divide by zero nor move the sample."""
    s = md.schedulers.DPMSolverMultistepScheduler(use_exponential_sigmas=True, final_sigmas_type="sigma_min", **kwargs)
    s.set_timesteps(20)
    x = md.tensor(np.random.default_rng(0).standard_normal((1, 1, 2, 2)).astype(np.float32))
    for t in s.timesteps:
        x = s.step(x * 0.3, t, x).prev_sample
    assert np.isfinite(x.numpy()).all()
