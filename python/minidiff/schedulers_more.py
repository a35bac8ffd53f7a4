"""diffusers' fast samplers on minidiff's scheduler base: Euler, Euler ancestral, DPM-Solver++ multistep,
PNDM / PLMS and LMS, with diffusers' config fields, method names, step bookkeeping and numerics.

The Karras-style samplers (Euler, Euler ancestral, LMS, DPM-Solver) work with noise levels
``sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)`` instead of alpha_bar. As in diffusers they keep a
``sigmas`` table (one entry per inference step plus the final level), a ``step_index`` that every
``step`` advances (the timestep passed to ``step`` only seeds it on the first call, or
``set_begin_index`` does), and float32 ``timesteps`` for Euler and LMS (they can fall between training
steps). The tables are float64 host arrays shown as float32 md tensors, like DDPM's and DDIM's; the
per-step coefficients are computed from them in float64, and images are float32 md tensors throughout.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np

from . import _core
from .schedulers import (
    DDIMScheduler,
    SchedulerConfig,
    SchedulerOutput,
    _as_numpy,
    _check_broadcast,
    _check_choice,
    _check_same_shape,
    _check_tensors,
    _coefficient_shape,
    _randn,
    _Scheduler,
    _single_timestep,
    _step_output,
    _timestep_int,
)

__all__ = [
    "DPMSolverMultistepScheduler",
    "EulerAncestralDiscreteScheduler",
    "EulerAncestralDiscreteSchedulerOutput",
    "EulerDiscreteScheduler",
    "EulerDiscreteSchedulerOutput",
    "LMSDiscreteScheduler",
    "LMSDiscreteSchedulerOutput",
    "PNDMScheduler",
]

EulerDiscreteSchedulerOutput = SchedulerOutput
EulerAncestralDiscreteSchedulerOutput = SchedulerOutput
LMSDiscreteSchedulerOutput = SchedulerOutput

# _Scheduler._setup reads these DDPM/DDIM fields; the samplers here have none of them
_NO_CLIPPING = {"thresholding": False, "clip_sample": False, "clip_sample_range": 1.0, "rescale_betas_zero_snr": False}


# ---- timesteps and noise levels (host, float64)


def _timestep_value(op: str, timestep) -> float:
    """One timestep (an md tensor or NumPy array with one element, or a number) as a Python float."""
    if isinstance(timestep, (_core.Tensor, np.ndarray)):
        return float(_single_timestep(op, timestep))
    if isinstance(timestep, bool) or not isinstance(timestep, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: timestep must be a number or a one-element tensor, got {type(timestep).__name__}")
    return float(timestep)


def _is_integer_timestep(timestep) -> bool:
    if isinstance(timestep, _core.Tensor):
        return timestep.dtype == "int64"
    if isinstance(timestep, np.ndarray):
        return timestep.dtype.kind in "iu"
    return isinstance(timestep, (int, np.integer)) and not isinstance(timestep, bool)


def _host_timesteps(op: str, timesteps) -> np.ndarray:
    array = _as_numpy(timesteps)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{op}: timesteps must be numbers, got an array of dtype {array.dtype}")
    return array.reshape(-1)


def _sigma_to_t(sigmas: np.ndarray, log_sigmas: np.ndarray) -> np.ndarray:
    """The (fractional) training timesteps of noise levels ``sigmas``: linear interpolation in log sigma.

    ``log_sigmas`` (T,) ascends with t; a sigma outside the table's range clamps to its ends.
    """
    sigmas = np.asarray(sigmas, dtype=np.float64)
    log_sigma = np.log(np.maximum(sigmas, 1e-10)).reshape(-1)
    # the last table entry at or below each log sigma, kept one short of the end so it has an upper neighbour
    below = (log_sigma[None, :] - log_sigmas[:, None]) >= 0  # (T, N)
    low = np.cumsum(below, axis=0).argmax(axis=0).clip(max=log_sigmas.size - 2)
    lo, hi = log_sigmas[low], log_sigmas[low + 1]
    w = np.clip((lo - log_sigma) / (lo - hi), 0.0, 1.0)
    return ((1.0 - w) * low + w * (low + 1)).reshape(sigmas.shape)


def _karras_sigmas(sigma_min: float, sigma_max: float, n: int, rho: float = 7.0) -> np.ndarray:
    # Karras et al. 2022, eq. 5: evenly spaced in sigma^(1/rho), from sigma_max down to sigma_min
    ramp = np.linspace(0.0, 1.0, n)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return (hi + ramp * (lo - hi)) ** rho


def _vp_alpha_sigma(sigma: float) -> tuple[float, float]:
    """(alpha_t, sigma_t) of the variance-preserving process at noise level sigma = sigma_t / alpha_t."""
    alpha = 1.0 / math.sqrt(sigma * sigma + 1.0)
    return alpha, sigma * alpha


def _log_snr(alpha: float, sigma: float) -> float:
    # lambda = log(alpha / sigma); the clean end (sigma = 0) is +inf, where exp(-h) is exactly 0
    return math.inf if sigma == 0.0 else math.log(alpha) - math.log(sigma)


def _scheduler_classes() -> list[type]:
    found, todo = [], [_Scheduler]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if not sub.__name__.startswith("_") and hasattr(sub, "_defaults"):
                found.append(sub)
    return found


def _same_value(a, b) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):  # array-like values
        return False


def _explicit_fields(config) -> dict[str, Any]:
    """The fields of an in-memory scheduler config that were set explicitly.

    diffusers' ``from_config(other.config)`` takes only the fields the other scheduler was given (its
    config records the rest in ``_use_default_values``), so a default DDPM config does not impose DDPM's
    "leading" spacing on Euler or DPM-Solver. minidiff's SchedulerConfig keeps no such record: the fields
    equal to the defaults of the scheduler class whose fields the config has count as not given.
    """
    data = dict(config)
    defaulted = data.pop("_use_default_values", None)
    if defaulted is not None:
        return {k: v for k, v in data.items() if k not in set(defaulted)}
    if isinstance(config, SchedulerConfig):
        for cls in _scheduler_classes():
            if set(cls._defaults) == set(data):
                return {k: v for k, v in data.items() if not _same_value(v, cls._defaults[k])}
    return data


def _check_not_an_index(op: str, timestep) -> None:
    if _is_integer_timestep(timestep):
        raise ValueError(
            f"{op}: got an integer timestep ({timestep!r}); pass an entry of scheduler.timesteps, "
            "not its index (as from enumerate(timesteps))"
        )


class _DiffusersFromConfig:
    """What the schedulers of this module share with each other but not with DDPM and DDIM."""

    def _setup_fields(self, cfg: dict[str, Any]) -> None:
        # _Scheduler._setup with DDPM's clipping fields off; the config keeps only this class's fields
        merged = {**_NO_CLIPPING, **cfg}
        self._setup(merged)
        self.config = SchedulerConfig({k: merged[k] for k in cfg})

    @classmethod
    def from_config(cls, config, **overrides):
        """A scheduler from another scheduler's config (or a config file / folder), with ``overrides``.

        As in diffusers, an in-memory config passes on only the fields its scheduler was given
        explicitly; a config read from a file passes on all fields this class knows.
        """
        if not isinstance(config, (str, os.PathLike)):
            config = _explicit_fields(config)
        return super().from_config(config, **overrides)


class _SigmaScheduler(_DiffusersFromConfig, _Scheduler):
    """What the sigma-parameterised samplers share: the sigma and timestep tables, diffusers' step index
    bookkeeping, index lookups by timestep value, and the forward process written with sigmas."""

    # diffusers' `index_for_timestep` raises for a timestep not in the schedule; DPM-Solver takes the last step
    _missing_timestep_is_last = False

    def _setup_sigmas(self, cfg: dict[str, Any]) -> None:
        self._setup_fields(cfg)
        if cfg.get("rescale_betas_zero_snr"):
            # zero terminal SNR makes sigma_T infinite; diffusers caps alpha_bar_T at 2^-24 (sigma_T ~ 4096)
            acp = self._alphas_cumprod.copy()
            acp[-1] = 2.0**-24
            self._alphas_cumprod = acp
        self._step_index: int | None = None
        self._begin_index: int | None = None

    # -- tables: float64 sigmas; timesteps float32 (Euler, LMS) or int64 (DPM-Solver after set_timesteps)

    def _train_sigmas(self) -> np.ndarray:
        acp = self._alphas_cumprod
        return np.sqrt((1.0 - acp) / acp)  # (T,) ascending in t

    def _get_timesteps(self):
        return self._public_table("timesteps", "int64" if self._timesteps.dtype.kind in "iu" else "float32")

    def _put_timesteps(self, value) -> None:
        array = _as_numpy(value)
        self._set_table("timesteps", array, np.int64 if array.dtype.kind in "iu" else np.float32)

    timesteps = property(_get_timesteps, _put_timesteps)
    sigmas = property(
        lambda self: self._public_table("sigmas", "float32"), lambda self, v: self._set_table("sigmas", v, np.float64)
    )

    def _sigma_bounds(self, in_sigmas: np.ndarray) -> tuple[float, float]:
        sigma_min = self.config.get("sigma_min")
        sigma_max = self.config.get("sigma_max")
        return (
            float(in_sigmas[-1]) if sigma_min is None else float(sigma_min),
            float(in_sigmas[0]) if sigma_max is None else float(sigma_max),
        )

    def _convert_to_karras(self, in_sigmas: np.ndarray, num_inference_steps: int) -> np.ndarray:
        """Karras et al.'s rho = 7 schedule between the ends of ``in_sigmas`` (descending), or the config's
        ``sigma_min`` / ``sigma_max`` where the scheduler has them."""
        return _karras_sigmas(*self._sigma_bounds(in_sigmas), num_inference_steps)

    def _convert_to_exponential(self, in_sigmas: np.ndarray, num_inference_steps: int) -> np.ndarray:
        """Noise levels evenly spaced in log sigma between the ends of ``in_sigmas`` (descending)."""
        sigma_min, sigma_max = self._sigma_bounds(in_sigmas)
        return np.exp(np.linspace(math.log(sigma_max), math.log(sigma_min), num_inference_steps))

    def _spaced_float_timesteps(self, n: int) -> np.ndarray:
        # as _spaced_timesteps, but kept in float32: linspace timesteps fall between training steps
        if self.config.timestep_spacing == "linspace":
            T = self.config.num_train_timesteps
            return np.ascontiguousarray(np.linspace(0, T - 1, n, dtype=np.float32)[::-1])
        return self._spaced_timesteps(n).astype(np.float32)

    def _interpolated_sigmas(self, steps: np.ndarray) -> np.ndarray:
        """The noise levels of (fractional) timesteps ``steps``, linearly interpolated in the training sigmas."""
        train = self._train_sigmas()
        return np.interp(steps.astype(np.float64), np.arange(train.size), train)

    def _respaced(self, levels: np.ndarray, steps: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` levels and timesteps: Karras or exponential spacing between the ends of ``levels`` where the
        config asks for it (with the timesteps of those levels), else ``levels`` and ``steps`` as given."""
        if self.config.get("use_karras_sigmas"):
            levels = self._convert_to_karras(levels, n)
        elif self.config.get("use_exponential_sigmas"):
            levels = self._convert_to_exponential(levels, n)
        else:
            return levels, steps
        return levels, _sigma_to_t(levels, np.log(self._train_sigmas())).astype(np.float32)

    def _set_schedule(self, sigmas: np.ndarray, timesteps: np.ndarray) -> None:
        # a new inference schedule (sigmas with the final level appended): sampling starts over at its first step
        self._sigmas = np.ascontiguousarray(sigmas, dtype=np.float64)
        self._timesteps = timesteps
        self._step_index = None
        self._begin_index = None

    # -- step index bookkeeping (diffusers' names)

    @property
    def step_index(self) -> int | None:
        """The position in ``timesteps`` of the next ``step``; None until the first step or scaling."""
        return self._step_index

    @property
    def begin_index(self) -> int | None:
        """Where sampling starts when set by ``set_begin_index`` (image-to-image); else None."""
        return self._begin_index

    def set_begin_index(self, begin_index: int = 0) -> None:
        """Makes the first ``step`` start at ``timesteps[begin_index]`` instead of looking its timestep up."""
        self._begin_index = int(begin_index)

    def index_for_timestep(self, timestep, schedule_timesteps=None) -> int:
        """The position of ``timestep`` in the schedule; the second of two matches (a schedule entered part
        way, as image-to-image does, must not repeat a noise level)."""
        op = f"{type(self).__name__}.index_for_timestep"
        if schedule_timesteps is None:
            schedule = self._timesteps
        else:
            schedule = _host_timesteps(op, schedule_timesteps)
        value = _timestep_value(op, timestep)
        if schedule.dtype == np.float32:
            hits = np.flatnonzero(schedule == np.float32(value))  # compared in float32, as torch does
        else:
            hits = np.flatnonzero(schedule == value)
        if hits.size == 0:
            if self._missing_timestep_is_last:
                return int(schedule.size - 1)
            raise ValueError(f"{op}: timestep {value} is not one of the scheduler's timesteps {schedule}")
        return int(hits[1] if hits.size > 1 else hits[0])

    def _init_step_index(self, timestep) -> None:
        # the first step (or scaling) of a schedule finds where it starts
        if self._step_index is None:
            self._step_index = self.index_for_timestep(timestep) if self._begin_index is None else self._begin_index

    def _step_sigmas(self, op: str, timestep) -> tuple[float, float]:
        """(sigma, sigma_next) of the current step; the first step finds its index from ``timestep``."""
        self._init_step_index(timestep)
        i = self._step_index
        if i + 1 >= self._sigmas.size:
            raise ValueError(
                f"{op}: step {i} is past the last of the {self._sigmas.size - 1} steps; call set_timesteps again"
            )
        return float(self._sigmas[i]), float(self._sigmas[i + 1])

    # -- model input and output in sigma form

    def _scale_for_sigma(self, sample, timestep):
        self._init_step_index(timestep)
        sigma = float(self._sigmas[self._step_index])
        self.is_scale_input_called = True
        return sample / math.sqrt(sigma * sigma + 1.0)

    def _begin_step(self, op: str, model_output, timestep, sample) -> tuple[float, float]:
        """Checks a step's inputs (warning if the model input was not scaled); the step's (sigma, sigma_next)."""
        _check_tensors(op, sample, model_output, "sample", "model_output")
        if not self.is_scale_input_called:
            warnings.warn(
                f"{op}: scale_model_input was not called before step; the model saw an unscaled sample",
                stacklevel=3,
            )
        return self._step_sigmas(op, timestep)

    def _end_step(self, return_dict: bool, prev_sample, *pred_original_sample):
        self._step_index += 1
        return _step_output(return_dict, prev_sample, *pred_original_sample)

    def _pred_original_sigma(self, model_output, sample, sigma: float, sigma_hat: float):
        """x0 from the model output at noise level sigma (sample scaled as x_t / alpha_t)."""
        ptype = self.config.prediction_type
        if ptype == "epsilon":
            return sample - model_output * sigma_hat
        if ptype == "v_prediction":
            return model_output * (-sigma / math.sqrt(sigma * sigma + 1.0)) + sample / (sigma * sigma + 1.0)
        return model_output

    # -- forward process

    def _indices_of(self, op: str, timesteps) -> np.ndarray:
        return np.array([self.index_for_timestep(t) for t in _host_timesteps(op, timesteps)], dtype=np.int64)

    def _add_noise_indices(self, op: str, timesteps) -> np.ndarray:
        if self._begin_index is None:
            return self._indices_of(op, timesteps)
        ts = _host_timesteps(op, timesteps)
        if self._step_index is not None:
            return np.full(ts.size, self._step_index, dtype=np.int64)
        return np.full(ts.size, self._begin_index, dtype=np.int64)

    def _per_sample(self, op: str, values: np.ndarray, like, *others):
        """float32 md tensor (B, 1, ..., 1) of per-timestep coefficients of like's rank on like's device;
        they must broadcast with like and ``others`` (as in diffusers, one image may take B timesteps)."""
        shape = _coefficient_shape(op, values.size, like, *others)
        host = np.ascontiguousarray(values.astype(np.float32).reshape(shape))
        return _core.tensor(host, dtype="float32", device=str(like.device))

    def _per_sample_alpha_sigma(self, op: str, sigma: np.ndarray, like, *others):
        """alpha_t and sigma_t of the variance-preserving process at noise levels ``sigma``, as _per_sample."""
        alpha = 1.0 / np.sqrt(sigma * sigma + 1.0)
        return self._per_sample(op, alpha, like, *others), self._per_sample(op, sigma * alpha, like, *others)

    def _noise_sigmas(self, op: str, timesteps) -> np.ndarray:
        return self._sigmas[self._add_noise_indices(op, timesteps)]

    def add_noise(self, original_samples, noise, timesteps):
        """Forward diffusion in sigma form, ``x0 + sigma * noise``, at each timestep's noise level.

        Each timestep is looked up in ``timesteps`` (or, once ``set_begin_index`` was called, the current
        step's level is used for all), as diffusers does.
        """
        op = f"{type(self).__name__}.add_noise"
        _check_broadcast(op, original_samples, noise, "original_samples", "noise")
        sigma = self._per_sample(op, self._noise_sigmas(op, timesteps), original_samples, noise)
        return original_samples + noise * sigma

    def get_velocity(self, sample, noise, timesteps):
        """The v-prediction target ``alpha_t * noise - sigma_t * x0`` at each timestep's schedule entry.

        diffusers' Euler reads ``alphas_cumprod`` at the schedule position of the timestep (its index in
        ``timesteps``, not the timestep), which is another noise level; here the level is that entry's sigma.
        """
        op = f"{type(self).__name__}.get_velocity"
        _check_broadcast(op, sample, noise, "sample", "noise")
        alpha, sigma = self._per_sample_alpha_sigma(op, self._sigmas[self._indices_of(op, timesteps)], sample, noise)
        return alpha * noise - sigma * sample


class EulerDiscreteScheduler(_SigmaScheduler):
    """Euler's method on the probability-flow ODE in sigma form (Karras et al. 2022, Algorithm 2).

    ``scale_model_input`` divides the sample by ``sqrt(sigma^2 + 1)`` (the model was trained on x_t, the
    sampler walks x_t / alpha_t); ``s_churn`` > 0 adds Karras' stochastic churn. Not implemented:
    ``use_beta_sigmas`` (needs SciPy's beta quantiles).
    """

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        prediction_type: str = "epsilon",
        interpolation_type: str = "linear",
        use_karras_sigmas: bool = False,
        use_exponential_sigmas: bool = False,
        use_beta_sigmas: bool = False,
        sigma_min: float | None = None,
        sigma_max: float | None = None,
        timestep_spacing: str = "linspace",
        timestep_type: str = "discrete",
        steps_offset: int = 0,
        rescale_betas_zero_snr: bool = False,
        final_sigmas_type: str = "zero",
    ):
        cfg = {k: v for k, v in locals().items() if k in self._defaults}
        name = type(self).__name__
        _check_sigma_spacing_options(name, cfg)
        _check_choice(name, "interpolation_type", interpolation_type, ("linear", "log_linear"))
        _check_choice(name, "timestep_type", timestep_type, ("discrete", "continuous"))
        _check_choice(name, "final_sigmas_type", final_sigmas_type, ("zero", "sigma_min"))
        self._setup_sigmas(cfg)
        train = self._train_sigmas()[::-1]
        self._sigmas = np.concatenate([train, [0.0]])
        T = self.config.num_train_timesteps
        self._timesteps = self._continuous_or(train, np.linspace(0, T - 1, T)[::-1])
        self.is_scale_input_called = False

    def _continuous_or(self, sigmas: np.ndarray, discrete: np.ndarray) -> np.ndarray:
        # v-prediction models with continuous time (EDM-style) are conditioned on c_noise = log(sigma) / 4
        if self.config.timestep_type == "continuous" and self.config.prediction_type == "v_prediction":
            return (0.25 * np.log(sigmas)).astype(np.float32)
        return np.ascontiguousarray(discrete, dtype=np.float32)

    @property
    def init_noise_sigma(self) -> float:
        """The standard deviation of the starting noise: the largest sigma (with the unit variance of
        x_T / alpha_T added under "leading" spacing, as diffusers does)."""
        max_sigma = float(self._sigmas.max())
        if self.config.timestep_spacing in ("linspace", "trailing"):
            return max_sigma
        return math.sqrt(max_sigma * max_sigma + 1.0)

    def scale_model_input(self, sample, timestep):
        """``sample / sqrt(sigma^2 + 1)``: the model's input at the current step's noise level."""
        return self._scale_for_sigma(sample, timestep)

    def set_timesteps(self, num_inference_steps: int | None = None, device=None, timesteps=None, sigmas=None) -> None:
        """Chooses the inference schedule: ``timesteps`` (float32, descending) and ``sigmas`` (one more).

        Give one of ``num_inference_steps``, custom ``timesteps`` or custom ``sigmas`` (the final level
        included). ``device`` is accepted for diffusers compatibility and ignored (tables stay on the host).
        """
        name = f"{type(self).__name__}.set_timesteps"
        cfg = self.config
        given = [x is not None for x in (num_inference_steps, timesteps, sigmas)]
        if sum(given) != 1:
            raise ValueError(f"{name}: pass exactly one of num_inference_steps, timesteps or sigmas")
        if timesteps is not None:
            for field in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"):
                if cfg[field]:
                    raise ValueError(f"{name}: custom timesteps cannot be combined with {field}=True")
            if cfg.timestep_type == "continuous" and cfg.prediction_type == "v_prediction":
                raise ValueError(f"{name}: custom timesteps cannot be combined with continuous v-prediction time")
        train = self._train_sigmas()
        log_train = np.log(train)
        if sigmas is not None:
            levels = np.asarray(sigmas, dtype=np.float64).reshape(-1)
            if levels.size < 2:
                raise ValueError(f"{name}: custom sigmas need at least two entries (the last is the final level)")
            self.num_inference_steps = int(levels.size - 1)
            steps = _sigma_to_t(levels[:-1], log_train).astype(np.float32)
        else:
            if timesteps is not None:
                steps = np.asarray(timesteps, dtype=np.float32).reshape(-1)
                n = int(steps.size)
            else:
                n = self._check_num_steps(num_inference_steps)
                steps = self._spaced_float_timesteps(n)
            self.num_inference_steps = n
            if cfg.interpolation_type == "linear":
                levels = self._interpolated_sigmas(steps)
            else:  # log_linear: n + 1 levels evenly spaced in log sigma; the timesteps stay as spaced
                levels = np.exp(np.linspace(math.log(train[-1]), math.log(train[0]), n + 1))
            levels, steps = self._respaced(levels, steps, n)
            last = train[0] if cfg.final_sigmas_type == "sigma_min" else 0.0
            levels = np.concatenate([levels, [last]])
        self._set_schedule(levels, self._continuous_or(levels[:-1], steps))  # levels: float64 here

    def step(
        self,
        model_output,
        timestep,
        sample,
        s_churn: float = 0.0,
        s_tmin: float = 0.0,
        s_tmax: float = float("inf"),
        s_noise: float = 1.0,
        generator=None,
        return_dict: bool = True,
    ):
        """One Euler step from ``sigmas[step_index]`` to ``sigmas[step_index + 1]``.

        ``timestep`` must be an entry of ``timesteps`` (an integer index raises ValueError, as in
        diffusers). With ``s_churn`` > 0 and sigma in [s_tmin, s_tmax] the sample is first noised up to
        ``sigma_hat = sigma * (1 + gamma)``, gamma = min(s_churn / steps, sqrt(2) - 1), with
        ``md.randn(..., generator=generator)`` noise scaled by ``s_noise``. Returns
        ``SchedulerOutput(prev_sample, pred_original_sample)`` (a tuple if ``return_dict`` is False).
        """
        op = f"{type(self).__name__}.step"
        _check_not_an_index(op, timestep)
        sigma, sigma_next = self._begin_step(op, model_output, timestep, sample)
        gamma = min(s_churn / (self._sigmas.size - 1), 2**0.5 - 1) if s_tmin <= sigma <= s_tmax else 0.0
        sigma_hat = sigma * (gamma + 1.0)
        if gamma > 0:
            noise = _randn(op, model_output.shape, generator, model_output.device)
            sample = sample + noise * (s_noise * math.sqrt(sigma_hat**2 - sigma**2))
        x0 = self._pred_original_sigma(model_output, sample, sigma, sigma_hat)
        derivative = (sample - x0) / sigma_hat
        prev_sample = sample + derivative * (sigma_next - sigma_hat)
        return self._end_step(return_dict, prev_sample, x0)


class EulerAncestralDiscreteScheduler(_SigmaScheduler):
    """Ancestral Euler sampling (Karras et al. 2022 / k-diffusion's ``sample_euler_ancestral``).

    Each step goes deterministically down to ``sigma_down`` and adds fresh noise of std ``sigma_up``,
    ``sigma_down^2 + sigma_up^2 = sigma_next^2``; the noise is ``md.randn(..., generator=generator)``,
    drawn on every step (also the last, where sigma_up = 0) so the generator advances as in diffusers.
    ``prediction_type="sample"`` is not implemented (as in diffusers).
    """

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        prediction_type: str = "epsilon",
        timestep_spacing: str = "linspace",
        steps_offset: int = 0,
        rescale_betas_zero_snr: bool = False,
    ):
        cfg = {k: v for k, v in locals().items() if k in self._defaults}
        if prediction_type == "sample":
            raise NotImplementedError(f"{type(self).__name__}: prediction_type 'sample' is not implemented")
        self._setup_sigmas(cfg)
        T = self.config.num_train_timesteps
        self._sigmas = np.concatenate([self._train_sigmas()[::-1], [0.0]])
        self._timesteps = np.linspace(0, T - 1, T)[::-1].astype(np.float32)
        self.is_scale_input_called = False

    init_noise_sigma = EulerDiscreteScheduler.init_noise_sigma
    scale_model_input = EulerDiscreteScheduler.scale_model_input

    def set_timesteps(self, num_inference_steps: int, device=None) -> None:
        """Chooses ``timesteps`` (float32, descending) and ``sigmas`` (interpolated, then 0).

        ``device`` is accepted for diffusers compatibility and ignored.
        """
        self.num_inference_steps = self._check_num_steps(num_inference_steps)
        steps = self._spaced_float_timesteps(self.num_inference_steps)
        self._set_schedule(np.concatenate([self._interpolated_sigmas(steps), [0.0]]), steps)

    def step(self, model_output, timestep, sample, generator=None, return_dict: bool = True):
        """One ancestral step from ``sigmas[step_index]`` to ``sigmas[step_index + 1]``.

        Returns ``SchedulerOutput(prev_sample, pred_original_sample)`` (a tuple if ``return_dict`` is False).
        """
        op = f"{type(self).__name__}.step"
        _check_not_an_index(op, timestep)
        sigma, sigma_next = self._begin_step(op, model_output, timestep, sample)
        x0 = self._pred_original_sigma(model_output, sample, sigma, sigma)
        # a step up in sigma (zero-SNR tables rise again at their capped last entry) adds no noise: sigma_up
        # would be the root of a negative number (NaN in diffusers), so it goes to sigma_next deterministically
        sigma_up = math.sqrt(max(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2, 0.0))
        sigma_down = math.sqrt(max(sigma_next**2 - sigma_up**2, 0.0))
        derivative = (sample - x0) / sigma
        prev_sample = sample + derivative * (sigma_down - sigma)
        noise = _randn(op, model_output.shape, generator, model_output.device)
        prev_sample = prev_sample + noise * sigma_up
        return self._end_step(return_dict, prev_sample, x0)


class LMSDiscreteScheduler(_SigmaScheduler):
    """Linear multistep sampling in sigma form (k-diffusion's ``sample_lms``).

    The update integrates the Lagrange polynomial through the last ``order`` derivatives d x / d sigma
    over [sigma_i, sigma_i+1]; the integrals are exact polynomial integrals (diffusers uses SciPy's
    adaptive quadrature, which is exact for these cubic and lower polynomials up to its tolerance).
    Not implemented: ``use_beta_sigmas``.
    """

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        use_karras_sigmas: bool = False,
        use_exponential_sigmas: bool = False,
        use_beta_sigmas: bool = False,
        prediction_type: str = "epsilon",
        timestep_spacing: str = "linspace",
        steps_offset: int = 0,
    ):
        cfg = {k: v for k, v in locals().items() if k in self._defaults}
        _check_sigma_spacing_options(type(self).__name__, cfg)
        self._setup_sigmas(cfg)
        self.is_scale_input_called = False
        self.derivatives: list = []
        self.set_timesteps(self.config.num_train_timesteps)

    init_noise_sigma = EulerDiscreteScheduler.init_noise_sigma
    scale_model_input = EulerDiscreteScheduler.scale_model_input

    def set_timesteps(self, num_inference_steps: int, device=None) -> None:
        """Chooses ``timesteps`` (float32, descending) and ``sigmas`` (then 0); clears the derivative history.

        ``device`` is accepted for diffusers compatibility and ignored.
        """
        n = self.num_inference_steps = self._check_num_steps(num_inference_steps)
        steps = self._spaced_float_timesteps(n)
        levels, steps = self._respaced(self._interpolated_sigmas(steps), steps, n)
        self._set_schedule(np.concatenate([levels, [0.0]]), steps)
        self.derivatives = []

    def get_lms_coefficient(self, order: int, t: int, current_order: int) -> float:
        """The integral over [sigmas[t], sigmas[t + 1]] of the Lagrange basis polynomial that is 1 at
        ``sigmas[t - current_order]`` and 0 at the other ``order - 1`` nodes ``sigmas[t - k]``."""
        nodes = self._sigmas[t - np.arange(order)]
        others = np.delete(nodes, current_order)
        basis = np.polynomial.Polynomial.fromroots(others) if others.size else np.polynomial.Polynomial([1.0])
        basis = basis / np.prod(nodes[current_order] - others)
        antiderivative = basis.integ()
        return float(antiderivative(self._sigmas[t + 1]) - antiderivative(self._sigmas[t]))

    def step(self, model_output, timestep, sample, order: int = 4, return_dict: bool = True):
        """One linear multistep step of order ``min(order, steps so far + 1)``.

        Returns ``SchedulerOutput(prev_sample, pred_original_sample)`` (a tuple if ``return_dict`` is False).
        """
        op = f"{type(self).__name__}.step"
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"{op}: order must be a positive int, got {order!r}")
        sigma, _ = self._begin_step(op, model_output, timestep, sample)
        x0 = self._pred_original_sigma(model_output, sample, sigma, sigma)
        self.derivatives.append((sample - x0) / sigma)
        if len(self.derivatives) > order:
            self.derivatives.pop(0)
        order = min(self._step_index + 1, int(order))
        coeffs = [self.get_lms_coefficient(order, self._step_index, k) for k in range(order)]
        update = None
        for coeff, derivative in zip(coeffs, reversed(self.derivatives)):
            term = derivative * coeff
            update = term if update is None else update + term
        return self._end_step(return_dict, sample + update, x0)


def _check_sigma_spacing_options(name: str, cfg: dict[str, Any]) -> None:
    chosen = [k for k in ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas") if cfg.get(k)]
    if len(chosen) > 1:
        raise ValueError(f"{name}: only one of {chosen} can be True")
    if cfg.get("use_beta_sigmas"):
        raise NotImplementedError(
            f"{name}: use_beta_sigmas=True (beta-distribution sigma spacing) is not implemented in minidiff; "
            "use use_karras_sigmas or use_exponential_sigmas"
        )


class DPMSolverMultistepScheduler(_SigmaScheduler):
    """DPM-Solver (Lu et al. 2022) and DPM-Solver++ (Lu et al. 2022b), multistep, orders 1-3.

    ``algorithm_type``: "dpmsolver++" (default; the solver works on the data prediction x0),
    "dpmsolver" (on the noise prediction), and their SDE variants "sde-dpmsolver++" / "sde-dpmsolver"
    (noise from ``variance_noise`` or ``md.randn(..., generator=generator)``). Earlier model outputs are
    kept in ``model_outputs``; near the end the order drops (``lower_order_final``, ``euler_at_final``)
    as in diffusers. Not implemented (NotImplementedError): thresholding, flow matching
    (``use_flow_sigmas``, ``prediction_type="flow_prediction"``, dynamic shifting), ``use_beta_sigmas``,
    and order 3 with "sde-dpmsolver" (diffusers has no update for it either). With
    ``variance_type="learned"`` / ``"learned_range"`` the model outputs 2C channels and the first C are
    used (diffusers keeps the first 3, i.e. assumes RGB); any other value (such as DDPM's "fixed_small",
    which ``from_config(ddpm.config)`` brings along) means a plain C-channel output, as in diffusers.
    """

    _missing_timestep_is_last = True
    _algorithms = ("dpmsolver", "dpmsolver++", "sde-dpmsolver", "sde-dpmsolver++")

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        solver_order: int = 2,
        prediction_type: str = "epsilon",
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        sample_max_value: float = 1.0,
        algorithm_type: str = "dpmsolver++",
        solver_type: str = "midpoint",
        lower_order_final: bool = True,
        euler_at_final: bool = False,
        use_karras_sigmas: bool = False,
        use_exponential_sigmas: bool = False,
        use_beta_sigmas: bool = False,
        use_lu_lambdas: bool = False,
        use_flow_sigmas: bool = False,
        flow_shift: float = 1.0,
        final_sigmas_type: str = "zero",
        lambda_min_clipped: float = -float("inf"),
        variance_type: str | None = None,
        timestep_spacing: str = "linspace",
        steps_offset: int = 0,
        rescale_betas_zero_snr: bool = False,
        use_dynamic_shifting: bool = False,
        time_shift_type: str = "exponential",
    ):
        cfg = {k: v for k, v in locals().items() if k in self._defaults}
        name = type(self).__name__
        # names diffusers maps onto these solvers (configs of DEIS / UniPC models load as DPM-Solver++ midpoint)
        if cfg["algorithm_type"] == "deis":
            cfg["algorithm_type"] = "dpmsolver++"
        if cfg["solver_type"] in ("logrho", "bh1", "bh2"):
            cfg["solver_type"] = "midpoint"
        _check_choice(name, "algorithm_type", cfg["algorithm_type"], self._algorithms)
        _check_choice(name, "solver_type", cfg["solver_type"], ("midpoint", "heun"))
        _check_choice(name, "final_sigmas_type", final_sigmas_type, ("zero", "sigma_min"))
        if variance_type is not None and not isinstance(variance_type, str):
            raise ValueError(f"{name}: variance_type must be a string or None, got {variance_type!r}")
        if isinstance(solver_order, bool) or solver_order not in (1, 2, 3):
            raise ValueError(f"{name}: solver_order must be 1, 2 or 3, got {solver_order!r}")
        if thresholding:
            raise NotImplementedError(f"{name}: thresholding=True (dynamic thresholding) is not implemented")
        if prediction_type == "flow_prediction" or use_flow_sigmas or use_dynamic_shifting:
            raise NotImplementedError(
                f"{name}: flow matching (use_flow_sigmas, prediction_type='flow_prediction', use_dynamic_shifting) "
                "is not implemented"
            )
        _check_sigma_spacing_options(name, cfg)
        if cfg["algorithm_type"] == "sde-dpmsolver" and solver_order == 3:
            raise NotImplementedError(f"{name}: algorithm_type 'sde-dpmsolver' has no third-order update")
        if cfg["algorithm_type"] in ("dpmsolver", "sde-dpmsolver") and final_sigmas_type == "zero":
            raise ValueError(
                f"{name}: final_sigmas_type 'zero' is not supported with algorithm_type {cfg['algorithm_type']!r} "
                "(its noise-prediction update divides by sigma = 0); use final_sigmas_type='sigma_min'"
            )
        self._setup_sigmas(cfg)
        T = self.config.num_train_timesteps
        self._sigmas = self._train_sigmas()  # (T,) ascending in t until set_timesteps, as in diffusers
        self._timesteps = np.linspace(0, T - 1, T, dtype=np.float32)[::-1].copy()
        self.model_outputs: list = [None] * solver_order
        self.lower_order_nums = 0

    def _lambdas(self) -> np.ndarray:
        acp = self._alphas_cumprod
        return np.log(np.sqrt(acp)) - np.log(np.sqrt(1.0 - acp))  # (T,) log-SNR / 2, descending in t

    def set_timesteps(self, num_inference_steps: int | None = None, device=None, mu=None, timesteps=None) -> None:
        """Chooses ``timesteps`` (int64, descending) and ``sigmas`` (one more: the final level); resets the
        solver's history. Give ``num_inference_steps`` or custom ``timesteps``. ``device`` is accepted for
        diffusers compatibility and ignored."""
        name = f"{type(self).__name__}.set_timesteps"
        cfg = self.config
        if mu is not None:
            raise NotImplementedError(f"{name}: mu (dynamic shifting for flow matching) is not implemented")
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError(f"{name}: pass exactly one of num_inference_steps or timesteps")
        T = cfg.num_train_timesteps
        if timesteps is not None:
            for field in ("use_karras_sigmas", "use_lu_lambdas", "use_exponential_sigmas"):
                if cfg[field]:
                    raise ValueError(f"{name}: custom timesteps cannot be combined with {field}=True")
            steps = np.asarray(timesteps).astype(np.int64).reshape(-1)
            self._check_timesteps_range(name, steps)
            n = int(steps.size)
        else:
            n = self._check_num_steps(num_inference_steps)
            # timesteps whose log-SNR falls below lambda_min_clipped are never visited
            clipped = int(np.searchsorted(self._lambdas()[::-1], cfg.lambda_min_clipped))
            last = T - clipped
            if cfg.timestep_spacing == "linspace":
                steps = np.linspace(0, last - 1, n + 1).round()[::-1][:-1].astype(np.int64)
            elif cfg.timestep_spacing == "leading":
                ratio = last // (n + 1)
                steps = (np.arange(n + 1) * ratio).round()[::-1][:-1].astype(np.int64) + cfg.steps_offset
            else:  # trailing
                steps = np.arange(last, 0, -T / n).round().astype(np.int64) - 1
        train = self._train_sigmas()
        log_train = np.log(train)
        # with the cosine schedule diffusers keeps the fractional timesteps (truncated by the int64 cast)
        round_steps = cfg.beta_schedule != "squaredcos_cap_v2"
        if cfg.use_karras_sigmas:
            levels = self._convert_to_karras(train[::-1], n)
            steps = _sigma_to_t(levels, log_train)
            steps = steps.round() if round_steps else steps
        elif cfg.use_lu_lambdas:
            # evenly spaced in lambda = -log(sigma) (Lu et al.'s "logSNR" spacing)
            lo, hi = float(log_train[0]), float(log_train[-1])
            levels = np.exp(hi + np.linspace(0.0, 1.0, n) * (lo - hi))
            steps = _sigma_to_t(levels, log_train)
            steps = steps.round() if round_steps else steps
        elif cfg.use_exponential_sigmas:
            levels = self._convert_to_exponential(train[::-1], n)
            steps = _sigma_to_t(levels, log_train)
        else:
            levels = np.interp(steps, np.arange(T), train)
        last_sigma = train[0] if cfg.final_sigmas_type == "sigma_min" else 0.0
        self._set_schedule(np.concatenate([levels, [last_sigma]]), np.ascontiguousarray(steps.astype(np.int64)))
        self.num_inference_steps = int(self._timesteps.size)
        self.model_outputs = [None] * cfg.solver_order
        self.lower_order_nums = 0

    def _sigma_to_alpha_sigma_t(self, sigma: float) -> tuple[float, float]:
        return _vp_alpha_sigma(float(sigma))

    def convert_model_output(self, model_output, sample=None):
        """The model output in the solver's variable: x0 for DPM-Solver++, epsilon for DPM-Solver."""
        op = f"{type(self).__name__}.convert_model_output"
        if sample is None:
            raise ValueError(f"{op}: sample is required")
        cfg = self.config
        if cfg.variance_type in ("learned", "learned_range") and cfg.prediction_type == "epsilon":
            channels = sample.shape[1]
            if model_output.ndim < 2 or model_output.shape[1] != 2 * channels:
                raise ValueError(
                    f"{op}: variance_type {cfg.variance_type!r} needs a model output with twice the sample's "
                    f"channels, got model_output {tuple(model_output.shape)} for sample {tuple(sample.shape)}"
                )
            model_output = model_output[:, :channels]
        _check_same_shape(op, sample, model_output, "sample", "model_output")
        alpha_t, sigma_t = self._sigma_to_alpha_sigma_t(self._sigmas[self._step_index])
        ptype = cfg.prediction_type
        if cfg.algorithm_type in ("dpmsolver++", "sde-dpmsolver++"):
            if ptype == "epsilon":
                return (sample - model_output * sigma_t) / alpha_t
            if ptype == "v_prediction":
                return sample * alpha_t - model_output * sigma_t
            return model_output
        if ptype == "epsilon":
            return model_output
        if ptype == "v_prediction":
            return model_output * alpha_t + sample * sigma_t
        return (sample - model_output * alpha_t) / sigma_t

    def _levels(self, *offsets: int) -> list[tuple[float, float, float]]:
        # (alpha, sigma, lambda) at sigmas[step_index + offset] for each offset
        out = []
        for k in offsets:
            alpha, sigma = self._sigma_to_alpha_sigma_t(self._sigmas[self._step_index + k])
            out.append((alpha, sigma, _log_snr(alpha, sigma)))
        return out

    def dpm_solver_first_order_update(self, model_output, sample=None, noise=None):
        """One first-order step (DDIM in these variables) from ``sigmas[step_index]`` to the next level."""
        (alpha_t, sigma_t, lambda_t), (alpha_s, sigma_s, lambda_s) = self._levels(1, 0)
        h = lambda_t - lambda_s
        algo = self.config.algorithm_type
        if algo == "dpmsolver++":
            return sample * (sigma_t / sigma_s) - model_output * (alpha_t * math.expm1(-h))
        if algo == "dpmsolver":
            return sample * (alpha_t / alpha_s) - model_output * (sigma_t * math.expm1(h))
        if algo == "sde-dpmsolver++":
            e = math.exp(-2.0 * h)
            return (
                sample * (sigma_t / sigma_s * math.exp(-h))
                + model_output * (alpha_t * (1.0 - e))
                + noise * (sigma_t * math.sqrt(1.0 - e))
            )
        return (  # sde-dpmsolver
            sample * (alpha_t / alpha_s)
            - model_output * (2.0 * (sigma_t * math.expm1(h)))
            + noise * (sigma_t * math.sqrt(math.expm1(2.0 * h)))
        )

    def multistep_dpm_solver_second_order_update(self, model_output_list, sample=None, noise=None):
        """One second-order multistep step from the last two converted model outputs."""
        (alpha_t, sigma_t, lambda_t), (alpha_s0, sigma_s0, lambda_s0), (_, _, lambda_s1) = self._levels(1, 0, -1)
        m0, m1 = model_output_list[-1], model_output_list[-2]
        h, h_0 = lambda_t - lambda_s0, lambda_s0 - lambda_s1
        if h == 0.0:  # a step to the same noise level (a schedule ending at sigma_min twice): no change
            return sample * (sigma_t / sigma_s0)
        if h_0 == 0.0:
            # the previous step stayed at its level (a schedule that repeats a timestep, as "linspace" with
            # num_inference_steps == num_train_timesteps does): no slope to extrapolate, so a first-order step
            # (diffusers divides by r0 = 0 and gives NaN)
            return self.dpm_solver_first_order_update(m0, sample=sample, noise=noise)
        r0 = h_0 / h
        D0, D1 = m0, (m0 - m1) * (1.0 / r0)
        algo, solver = self.config.algorithm_type, self.config.solver_type
        if algo == "dpmsolver++":
            c0 = alpha_t * math.expm1(-h)
            c1 = 0.5 * c0 if solver == "midpoint" else -(alpha_t * (math.expm1(-h) / h + 1.0))
            return sample * (sigma_t / sigma_s0) - D0 * c0 - D1 * c1
        if algo == "dpmsolver":
            c0 = sigma_t * math.expm1(h)
            c1 = 0.5 * c0 if solver == "midpoint" else sigma_t * (math.expm1(h) / h - 1.0)
            return sample * (alpha_t / alpha_s0) - D0 * c0 - D1 * c1
        if algo == "sde-dpmsolver++":
            e = math.exp(-2.0 * h)
            c0 = alpha_t * (1.0 - e)
            c1 = 0.5 * c0 if solver == "midpoint" else alpha_t * ((1.0 - e) / (-2.0 * h) + 1.0)
            return (
                sample * (sigma_t / sigma_s0 * math.exp(-h))
                + D0 * c0
                + D1 * c1
                + noise * (sigma_t * math.sqrt(1.0 - e))
            )
        c0 = 2.0 * (sigma_t * math.expm1(h))  # sde-dpmsolver
        c1 = sigma_t * math.expm1(h) if solver == "midpoint" else 2.0 * (sigma_t * (math.expm1(h) / h - 1.0))
        return sample * (alpha_t / alpha_s0) - D0 * c0 - D1 * c1 + noise * (sigma_t * math.sqrt(math.expm1(2.0 * h)))

    def multistep_dpm_solver_third_order_update(self, model_output_list, sample=None, noise=None):
        """One third-order multistep step from the last three converted model outputs."""
        levels = self._levels(1, 0, -1, -2)
        (alpha_t, sigma_t, lambda_t), (alpha_s0, sigma_s0, lambda_s0) = levels[0], levels[1]
        lambda_s1, lambda_s2 = levels[2][2], levels[3][2]
        m0, m1, m2 = model_output_list[-1], model_output_list[-2], model_output_list[-3]
        h, h_0, h_1 = lambda_t - lambda_s0, lambda_s0 - lambda_s1, lambda_s1 - lambda_s2
        if h == 0.0:  # as in the second-order step (diffusers gives NaN here)
            return sample * (sigma_t / sigma_s0)
        if h_0 == 0.0 or h_1 == 0.0:  # a repeated level among the last three: as in the second-order step
            if h_0 == 0.0:
                return self.dpm_solver_first_order_update(m0, sample=sample, noise=noise)
            return self.multistep_dpm_solver_second_order_update(model_output_list, sample=sample, noise=noise)
        r0, r1 = h_0 / h, h_1 / h
        D1_0, D1_1 = (m0 - m1) * (1.0 / r0), (m1 - m2) * (1.0 / r1)
        D1 = D1_0 + (D1_0 - D1_1) * (r0 / (r0 + r1))
        D2 = (D1_0 - D1_1) * (1.0 / (r0 + r1))
        algo = self.config.algorithm_type
        if algo == "dpmsolver++":
            em = math.expm1(-h)
            return (
                sample * (sigma_t / sigma_s0)
                - m0 * (alpha_t * em)
                + D1 * (alpha_t * (em / h + 1.0))
                - D2 * (alpha_t * ((em + h) / h**2 - 0.5))
            )
        if algo == "dpmsolver":
            ep = math.expm1(h)
            return (
                sample * (alpha_t / alpha_s0)
                - m0 * (sigma_t * ep)
                - D1 * (sigma_t * (ep / h - 1.0))
                - D2 * (sigma_t * ((ep - h) / h**2 - 0.5))
            )
        e = math.exp(-2.0 * h)  # sde-dpmsolver++
        return (
            sample * (sigma_t / sigma_s0 * math.exp(-h))
            + m0 * (alpha_t * (1.0 - e))
            + D1 * (alpha_t * ((1.0 - e) / (-2.0 * h) + 1.0))
            + D2 * (alpha_t * ((1.0 - e - 2.0 * h) / (2.0 * h) ** 2 - 0.5))
            + noise * (sigma_t * math.sqrt(1.0 - e))
        )

    def step(self, model_output, timestep, sample, generator=None, variance_noise=None, return_dict: bool = True):
        """One multistep DPM-Solver step from ``sigmas[step_index]`` to ``sigmas[step_index + 1]``.

        The order is ``solver_order``, lowered for the first steps (too little history) and, per
        ``lower_order_final`` / ``euler_at_final`` / ``final_sigmas_type="zero"``, for the last ones.
        Returns ``SchedulerOutput(prev_sample)`` (``(prev_sample,)`` if ``return_dict`` is False).
        """
        op = f"{type(self).__name__}.step"
        if self.num_inference_steps is None:
            raise ValueError(f"{op}: call set_timesteps(num_inference_steps) before step")
        if not isinstance(sample, _core.Tensor) or not isinstance(model_output, _core.Tensor):
            raise TypeError(f"{op}: model_output and sample must be md tensors")
        self._step_sigmas(op, timestep)
        cfg = self.config
        n = self._timesteps.size
        short = cfg.lower_order_final and n < 15
        at_last = self._step_index == n - 1
        lower_order_final = at_last and (cfg.euler_at_final or short or cfg.final_sigmas_type == "zero")
        lower_order_second = self._step_index == n - 2 and short

        converted = self.convert_model_output(model_output, sample=sample)
        self.model_outputs = self.model_outputs[1:] + [converted]

        noise = None
        if cfg.algorithm_type.startswith("sde-"):
            noise = self._noise(op, converted, generator, variance_noise)

        if cfg.solver_order == 1 or self.lower_order_nums < 1 or lower_order_final:
            prev_sample = self.dpm_solver_first_order_update(converted, sample=sample, noise=noise)
        elif cfg.solver_order == 2 or self.lower_order_nums < 2 or lower_order_second:
            prev_sample = self.multistep_dpm_solver_second_order_update(self.model_outputs, sample=sample, noise=noise)
        else:
            prev_sample = self.multistep_dpm_solver_third_order_update(self.model_outputs, sample=sample, noise=noise)
        if self.lower_order_nums < cfg.solver_order:
            self.lower_order_nums += 1
        return self._end_step(return_dict, prev_sample)

    def _noise_sigmas(self, op: str, timesteps) -> np.ndarray:
        if self.num_inference_steps is None:
            # before set_timesteps diffusers indexes its (ascending) training sigmas by the position in its
            # descending timesteps, the level of timestep T - 1 - t; the level of t itself is meant
            ts = _host_timesteps(op, timesteps)
            if np.any(ts != np.round(ts)):
                raise ValueError(f"{op}: timesteps must be integers before set_timesteps, got {ts}")
            idx = ts.astype(np.int64)
            self._check_timesteps_range(op, idx)
            return self._sigmas[idx]
        return super()._noise_sigmas(op, timesteps)

    def add_noise(self, original_samples, noise, timesteps):
        """Forward diffusion ``alpha_t * x0 + sigma_t * noise`` at each timestep's noise level (looked up
        in ``timesteps`` after ``set_timesteps``, as diffusers does)."""
        op = f"{type(self).__name__}.add_noise"
        _check_broadcast(op, original_samples, noise, "original_samples", "noise")
        alpha, sigma = self._per_sample_alpha_sigma(op, self._noise_sigmas(op, timesteps), original_samples, noise)
        return alpha * original_samples + sigma * noise

    get_velocity = _Scheduler.get_velocity


class PNDMScheduler(_DiffusersFromConfig, _Scheduler):
    """Pseudo numerical methods for diffusion models (Liu et al. 2022): Runge-Kutta warm-up steps, then
    linear multistep (PLMS) steps on DDIM's transfer function.

    ``skip_prk_steps=True`` gives PLMS alone (as Stable Diffusion uses it): its first step is a
    second-order Heun-like pair, so ``timesteps`` repeats one entry. Without it the first 12 calls are
    the Runge-Kutta stages of 3 steps (``prk_timesteps``). ``prediction_type`` is "epsilon" or "v_prediction".
    """

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        skip_prk_steps: bool = False,
        set_alpha_to_one: bool = False,
        prediction_type: str = "epsilon",
        timestep_spacing: str = "leading",
        steps_offset: int = 0,
    ):
        cfg = {k: v for k, v in locals().items() if k in self._defaults}
        _check_choice(type(self).__name__, "prediction_type", prediction_type, ("epsilon", "v_prediction"))
        self._setup_fields(cfg)
        self.final_alpha_cumprod = 1.0 if set_alpha_to_one else float(self._alphas_cumprod[0])
        self.pndm_order = 4
        self.cur_model_output = None
        self.counter = 0
        self.cur_sample = None
        self.ets: list = []
        self.prk_timesteps: np.ndarray | None = None
        self.plms_timesteps: np.ndarray | None = None

    def set_timesteps(self, num_inference_steps: int, device=None) -> None:
        """Chooses ``timesteps`` (int64): the Runge-Kutta stages' then the multistep steps'. Resets the
        history. ``device`` is accepted for diffusers compatibility and ignored."""
        n = self.num_inference_steps = self._check_num_steps(num_inference_steps)
        T = self.config.num_train_timesteps
        base = self._spaced_timesteps(n)[::-1]  # ascending
        if self.config.skip_prk_steps:
            # the first multistep step is taken twice (predictor at t, corrector from t - step), hence the repeat
            self.prk_timesteps = np.array([], dtype=np.int64)
            self.plms_timesteps = np.concatenate([base[:-1], base[-2:-1], base[-1:]])[::-1].copy()
        else:
            # four Runge-Kutta stages per step over the three highest steps, at t, t - step/2 (twice) and t - step
            half = T // n // 2
            stages = np.repeat(base[-self.pndm_order :], 2) + np.tile(np.array([0, half]), self.pndm_order)
            self.prk_timesteps = np.repeat(stages[:-1], 2)[1:-1][::-1].copy()
            self.plms_timesteps = base[:-3][::-1].copy()
        self._timesteps = np.concatenate([self.prk_timesteps, self.plms_timesteps]).astype(np.int64)
        self.ets = []
        self.counter = 0
        self.cur_model_output = None
        self.cur_sample = None

    def step(self, model_output, timestep, sample, return_dict: bool = True):
        """The next Runge-Kutta stage or multistep step (by the call count since ``set_timesteps``).

        Returns ``SchedulerOutput(prev_sample)`` (``(prev_sample,)`` if ``return_dict`` is False).
        """
        if not self.config.skip_prk_steps and self.counter < self._num_prk_steps():
            return self.step_prk(model_output, timestep, sample, return_dict=return_dict)
        return self.step_plms(model_output, timestep, sample, return_dict=return_dict)

    def _num_prk_steps(self) -> int:
        return 0 if self.prk_timesteps is None else len(self.prk_timesteps)

    def _begin(self, op: str, model_output, timestep, sample) -> int:
        if self.num_inference_steps is None:
            raise ValueError(f"{op}: call set_timesteps(num_inference_steps) before step")
        _check_tensors(op, sample, model_output, "sample", "model_output")
        return _timestep_int(op, timestep)

    def step_prk(self, model_output, timestep, sample, return_dict: bool = True):
        """One Runge-Kutta stage; every fourth call completes a step with the stages' weighted average."""
        op = f"{type(self).__name__}.step_prk"
        t = self._begin(op, model_output, timestep, sample)
        if self.counter >= self._num_prk_steps():
            raise ValueError(f"{op}: the {self._num_prk_steps()} Runge-Kutta stages are done")
        n = self.num_inference_steps
        T = self.config.num_train_timesteps
        prev_t = t - (0 if self.counter % 2 else T // n // 2)
        t = int(self.prk_timesteps[self.counter // 4 * 4])
        stage = self.counter % 4
        if stage == 0:
            self.cur_model_output = model_output * (1 / 6)
            self.ets.append(model_output)
            self.cur_sample = sample
        elif stage in (1, 2):
            self.cur_model_output = self.cur_model_output + model_output * (1 / 3)
        else:
            model_output = self.cur_model_output + model_output * (1 / 6)
            self.cur_model_output = None
        base = self.cur_sample if self.cur_sample is not None else sample
        prev_sample = self._get_prev_sample(base, t, prev_t, model_output)
        self.counter += 1
        return _step_output(return_dict, prev_sample)

    def step_plms(self, model_output, timestep, sample, return_dict: bool = True):
        """One linear multistep step (Adams-Bashforth on the last up to four model outputs)."""
        op = f"{type(self).__name__}.step_plms"
        t = self._begin(op, model_output, timestep, sample)
        if not self.config.skip_prk_steps and len(self.ets) < 3:
            raise ValueError(f"{op}: the multistep steps need the 12 Runge-Kutta stages (step_prk) run first")
        stride = self.config.num_train_timesteps // self.num_inference_steps
        prev_t = t - stride
        if self.counter != 1:
            self.ets = self.ets[-3:] + [model_output]
        else:
            # the corrector half of the first step: from the first timestep again, with the averaged slope
            prev_t, t = t, t + stride
        ets = self.ets
        if len(ets) == 1 and self.counter == 0:
            self.cur_sample = sample
        elif len(ets) == 1 and self.counter == 1:
            model_output = (model_output + ets[-1]) / 2
            sample, self.cur_sample = self.cur_sample, None
        elif len(ets) == 2:
            model_output = (ets[-1] * 3 - ets[-2]) / 2
        elif len(ets) == 3:
            model_output = (ets[-1] * 23 - ets[-2] * 16 + ets[-3] * 5) / 12
        else:
            model_output = (ets[-1] * 55 - ets[-2] * 59 + ets[-3] * 37 - ets[-4] * 9) * (1 / 24)
        prev_sample = self._get_prev_sample(sample, t, prev_t, model_output)
        self.counter += 1
        return _step_output(return_dict, prev_sample)

    _alpha_prods = DDIMScheduler._alpha_prods

    def _get_prev_sample(self, sample, t: int, prev_t: int, model_output):
        # eq. 11 of Liu et al.: DDIM's deterministic transfer from t to prev_t written with the noise estimate
        T = self.config.num_train_timesteps
        if not 0 <= t < T or prev_t >= T:
            raise IndexError(f"{type(self).__name__}.step: timestep {t} -> {prev_t} outside [0, {T})")
        alpha_prod_t, alpha_prod_t_prev = self._alpha_prods(t, prev_t)
        beta_prod_t = 1.0 - alpha_prod_t
        beta_prod_t_prev = 1.0 - alpha_prod_t_prev
        if self.config.prediction_type == "v_prediction":
            model_output = model_output * alpha_prod_t**0.5 + sample * beta_prod_t**0.5
        sample_coeff = (alpha_prod_t_prev / alpha_prod_t) ** 0.5
        denom = alpha_prod_t * beta_prod_t_prev**0.5 + (alpha_prod_t * beta_prod_t * alpha_prod_t_prev) ** 0.5
        return sample * sample_coeff - model_output * ((alpha_prod_t_prev - alpha_prod_t) / denom)
