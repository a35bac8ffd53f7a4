"""Noise schedulers (``md.schedulers``): DDPM and DDIM with diffusers' config fields and semantics.

The schedules themselves (betas, alphas, their cumulative products, inference timesteps) are tiny,
so they live on the host: float64 (timesteps int64) NumPy arrays that the arithmetic reads, shown
as diffusers shows them: ``betas``, ``alphas`` and ``alphas_cumprod`` are float32 md tensors and
``timesteps`` an int64 one (``scheduler.alphas_cumprod.to(device)[t]`` works as with diffusers).
Everything that touches images (``add_noise``, ``get_velocity``, ``step``) is md tensor
arithmetic on the tensors' own device; per-sample coefficients are gathered there with an
embedding lookup, so a CUDA batch of timesteps never has to visit the host.

The arithmetic follows diffusers 0.2x step by step (same formulas, same timestep spacing rules,
including DDIM's ``prev_timestep = t - num_train_timesteps // num_inference_steps`` for every spacing),
so a model trained with one library samples identically with the other. The schedules are
computed in float64 where diffusers uses float32, which moves results by float32 rounding only.
Configs round-trip through diffusers' ``scheduler_config.json``.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from . import functional as F

__all__ = [
    "DDIMScheduler",
    "DDIMSchedulerOutput",
    "DDPMScheduler",
    "DDPMSchedulerOutput",
    "SchedulerConfig",
    "SchedulerOutput",
]

CONFIG_NAME = "scheduler_config.json"

_PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
_SPACINGS = ("leading", "trailing", "linspace")


class SchedulerConfig(Mapping):
    """A read-only mapping of a scheduler's config that also allows ``config.field`` access."""

    def __init__(self, data: Mapping[str, Any]):
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __getattr__(self, name):
        if name.startswith("__") or name == "_data":  # copy/pickle probe before _data exists
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"scheduler config has no field {name!r}") from None

    def __reduce__(self):
        return (SchedulerConfig, (self._data,))

    def __setattr__(self, name, value):
        raise AttributeError("scheduler config is read-only; build a new scheduler with from_config(config, **changes)")

    def __repr__(self):
        return f"SchedulerConfig({self._data!r})"


@dataclass
class SchedulerOutput:
    """What ``step`` returns: the sample at the previous timestep and the model's estimate of x0."""

    prev_sample: Any
    pred_original_sample: Any = None

    def __iter__(self):
        # lets callers unpack ``prev, x0 = scheduler.step(...)`` as with return_dict=False
        return iter((self.prev_sample, self.pred_original_sample))


DDPMSchedulerOutput = SchedulerOutput
DDIMSchedulerOutput = SchedulerOutput


# ---- beta schedules (float64, on the host)


def _betas_squaredcos_cap_v2(num_train_timesteps: int, max_beta: float = 0.999) -> np.ndarray:
    # Nichol & Dhariwal's cosine schedule: alpha_bar(t) = cos^2((t + s) / (1 + s) * pi / 2), s = 0.008,
    # discretised as beta_i = 1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), capped so no step is pure noise.
    t = np.arange(num_train_timesteps + 1, dtype=np.float64) / num_train_timesteps
    alpha_bar = np.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    return np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], max_beta)


def _rescale_zero_terminal_snr(betas: np.ndarray) -> np.ndarray:
    # Lin et al. 2023, Algorithm 1: shift and scale sqrt(alpha_bar) so the last step has zero signal.
    sqrt_ab = np.sqrt(np.cumprod(1.0 - betas))
    first, last = sqrt_ab[0], sqrt_ab[-1]
    sqrt_ab = (sqrt_ab - last) * (first / (first - last))
    ab = sqrt_ab**2
    alphas = np.concatenate([ab[:1], ab[1:] / ab[:-1]])
    return 1.0 - alphas


def _make_betas(cls_name: str, cfg: Mapping[str, Any], schedules: tuple[str, ...]) -> np.ndarray:
    n = cfg["num_train_timesteps"]
    if cfg["trained_betas"] is not None:
        betas = np.asarray(cfg["trained_betas"], dtype=np.float64)
        if betas.ndim != 1 or betas.size == 0:
            raise ValueError(f"{cls_name}: trained_betas must be a non-empty 1-D sequence, got shape {betas.shape}")
    elif cfg["beta_schedule"] == "linear":
        betas = np.linspace(cfg["beta_start"], cfg["beta_end"], n, dtype=np.float64)
    elif cfg["beta_schedule"] == "scaled_linear":
        betas = np.linspace(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, n, dtype=np.float64) ** 2
    elif cfg["beta_schedule"] == "squaredcos_cap_v2":
        betas = _betas_squaredcos_cap_v2(n)
    elif cfg["beta_schedule"] == "sigmoid" and "sigmoid" in schedules:
        x = np.linspace(-6.0, 6.0, n, dtype=np.float64)
        betas = 1.0 / (1.0 + np.exp(-x)) * (cfg["beta_end"] - cfg["beta_start"]) + cfg["beta_start"]
    else:
        raise NotImplementedError(
            f"{cls_name}: beta_schedule {cfg['beta_schedule']!r} is not implemented; expected one of {list(schedules)}"
        )
    if cfg["rescale_betas_zero_snr"]:
        betas = _rescale_zero_terminal_snr(betas)
    return betas


# ---- shared machinery


def _check_choice(name: str, field: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}: {field} must be one of {list(choices)}, got {value!r}")


def _as_numpy(x) -> np.ndarray:
    """An md tensor's values, or anything else through np.asarray."""
    return x.numpy() if isinstance(x, _core.Tensor) else np.asarray(x)


def _single_timestep(op: str, timestep):
    """The Python number in a one-element md tensor or NumPy array."""
    if isinstance(timestep, _core.Tensor):
        if timestep.numel() != 1:
            raise ValueError(f"{op}: expected a single timestep, got a tensor of shape {tuple(timestep.shape)}")
        return timestep.item()
    if timestep.size != 1:
        raise ValueError(f"{op}: expected a single timestep, got an array of shape {timestep.shape}")
    return timestep.reshape(()).item()


def _timestep_int(op: str, timestep) -> int:
    if isinstance(timestep, (_core.Tensor, np.ndarray)):
        timestep = _single_timestep(op, timestep)
    if isinstance(timestep, (float, np.floating)):
        if not float(timestep).is_integer():
            raise ValueError(f"{op}: timestep must be an integer, got {timestep}")
    elif not isinstance(timestep, (int, np.integer)) or isinstance(timestep, bool):
        raise TypeError(f"{op}: timestep must be an int, got {type(timestep).__name__}")
    return int(timestep)


class _Scheduler:
    """Config handling, schedules and the forward process shared by DDPM and DDIM."""

    order = 1
    init_noise_sigma = 1.0
    _beta_schedules: tuple[str, ...] = ("linear", "scaled_linear", "squaredcos_cap_v2")
    _defaults: dict[str, Any]  # the config fields and their defaults, from the signature of __init__

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # as diffusers' register_to_config: the config fields are the named arguments of the class's own
        # __init__ (added to its parent's, if any); a class without its own __init__ keeps its parent's
        if "__init__" in cls.__dict__ and "_defaults" not in cls.__dict__:
            params = inspect.signature(cls.__init__).parameters.values()
            named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
            own = {p.name: p.default for p in params if p.kind in named and p.name != "self"}
            cls._defaults = {**getattr(cls, "_defaults", {}), **own}

    def _setup(self, cfg: dict[str, Any]) -> None:
        name = type(self).__name__
        n = cfg["num_train_timesteps"]
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name}: num_train_timesteps must be a positive int, got {n!r}")
        cfg["num_train_timesteps"] = int(n)
        if cfg["trained_betas"] is not None:
            cfg["trained_betas"] = [float(b) for b in np.asarray(cfg["trained_betas"], dtype=np.float64).ravel()]
        _check_choice(name, "prediction_type", cfg["prediction_type"], _PREDICTION_TYPES)
        _check_choice(name, "timestep_spacing", cfg["timestep_spacing"], _SPACINGS)
        if cfg["thresholding"]:
            raise NotImplementedError(
                f"{name}: thresholding=True (dynamic thresholding, Imagen) is not implemented in minidiff; "
                "use clip_sample=True with clip_sample_range instead"
            )
        if cfg["clip_sample"] and not cfg["clip_sample_range"] > 0:
            raise ValueError(f"{name}: clip_sample_range must be positive, got {cfg['clip_sample_range']!r}")

        self.config = SchedulerConfig(cfg)
        betas = _make_betas(name, cfg, self._beta_schedules)
        if cfg["trained_betas"] is not None and betas.size != n:
            raise ValueError(f"{name}: trained_betas has {betas.size} entries but num_train_timesteps is {n}")
        if not (np.all(betas > 0) and np.all(betas <= 1)):
            raise ValueError(f"{name}: betas must lie in (0, 1], got range [{betas.min()}, {betas.max()}]")
        self._betas = betas  # (T,) float64
        self._alphas = 1.0 - betas  # (T,) float64
        self._alphas_cumprod = np.cumprod(self._alphas)  # (T,) float64
        self.num_inference_steps: int | None = None
        self._timesteps = np.arange(n, dtype=np.int64)[::-1].copy()
        self._tables: dict[str, Any] = {}
        self._public: dict[str, tuple[np.ndarray, Any]] = {}

    # -- the tables as diffusers exposes them: md tensors on the host (float32; timesteps int64),
    # made once from the float64 NumPy arrays (_betas, ...) that step() and the coefficients read

    def _public_table(self, name: str, dtype: str):
        source = getattr(self, "_" + name)
        cached = self._public.get(name)
        if cached is None or cached[0] is not source:
            cached = (source, _core.tensor(np.ascontiguousarray(source), dtype=dtype))
            self._public[name] = cached
        return cached[1]

    def _set_table(self, name: str, value, dtype) -> None:
        setattr(self, "_" + name, np.array(_as_numpy(value), dtype=dtype).reshape(-1))
        self._tables.clear()  # the per-device coefficient tables come from the old values

    betas = property(
        lambda self: self._public_table("betas", "float32"), lambda self, v: self._set_table("betas", v, np.float64)
    )
    alphas = property(
        lambda self: self._public_table("alphas", "float32"), lambda self, v: self._set_table("alphas", v, np.float64)
    )
    alphas_cumprod = property(
        lambda self: self._public_table("alphas_cumprod", "float32"),
        lambda self, v: self._set_table("alphas_cumprod", v, np.float64),
    )
    timesteps = property(
        lambda self: self._public_table("timesteps", "int64"), lambda self, v: self._set_table("timesteps", v, np.int64)
    )

    # -- config I/O (diffusers' scheduler_config.json)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | str | os.PathLike, **overrides):
        """A scheduler from a config mapping (or a config file / folder), with ``overrides`` applied.

        Keys this class does not know (diffusers' bookkeeping keys starting with ``_``, or fields of the
        other scheduler such as DDPM's ``variance_type`` given to DDIM) are ignored, as diffusers does.
        """
        if isinstance(config, (str, os.PathLike)):
            config = cls.load_config(config)
        kwargs = {k: v for k, v in dict(config).items() if k in cls._defaults}
        unknown = [k for k in overrides if k not in cls._defaults]
        if unknown:
            raise TypeError(f"{cls.__name__}.from_config: unknown config fields {unknown}")
        kwargs.update(overrides)
        return cls(**kwargs)

    @staticmethod
    def load_config(path: str | os.PathLike, subfolder: str | None = None) -> dict[str, Any]:
        """Reads ``scheduler_config.json`` from a file, a scheduler folder or a pipeline folder."""
        path = os.fspath(path)
        if subfolder:
            path = os.path.join(path, subfolder)
        candidates = [path] if path.endswith(".json") else []
        candidates += [os.path.join(path, CONFIG_NAME), os.path.join(path, "scheduler", CONFIG_NAME)]
        for file in candidates:
            if os.path.isfile(file):
                try:
                    with open(file, encoding="utf-8") as f:
                        data = json.load(f)
                except (OSError, ValueError) as e:
                    raise ValueError(f"cannot read scheduler config {file}: {e}") from None
                if not isinstance(data, dict):
                    raise ValueError(f"scheduler config {file} must hold a JSON object")
                return data
        raise FileNotFoundError(f"no {CONFIG_NAME} found at {path} (looked for {', '.join(candidates)})")

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, subfolder: str | None = None, **overrides):
        """Loads a diffusers scheduler folder (or a pipeline folder with a ``scheduler/`` subfolder)."""
        return cls.from_config(cls.load_config(path, subfolder), **overrides)

    def save_config(self, save_directory: str | os.PathLike) -> str:
        """Writes ``scheduler_config.json`` (diffusers' format) into ``save_directory``; returns its path."""
        from . import __version__

        os.makedirs(save_directory, exist_ok=True)
        data = {"_class_name": type(self).__name__, "_minidiff_version": __version__}
        data.update(dict(self.config))
        file = os.path.join(os.fspath(save_directory), CONFIG_NAME)
        with open(file, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        return file

    save_pretrained = save_config

    def __len__(self) -> int:
        return self.config.num_train_timesteps

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "trained_betas")
        return f"{type(self).__name__}({fields})"

    # -- inference timesteps

    def _check_num_steps(self, num_inference_steps) -> int:
        n = num_inference_steps
        T = self.config.num_train_timesteps
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(
                f"{type(self).__name__}.set_timesteps: num_inference_steps must be a positive int, got {n!r}"
            )
        if n > T:
            raise ValueError(
                f"{type(self).__name__}.set_timesteps: num_inference_steps ({n}) cannot exceed "
                f"num_train_timesteps ({T})"
            )
        return int(n)

    def _spaced_timesteps(self, n: int) -> np.ndarray:
        T = self.config.num_train_timesteps
        spacing = self.config.timestep_spacing
        if spacing == "linspace":
            ts = np.linspace(0, T - 1, n).round()[::-1].astype(np.int64)
        elif spacing == "leading":
            ts = (np.arange(n) * (T // n)).round()[::-1].astype(np.int64) + self.config.steps_offset
        else:  # trailing
            ts = np.round(np.arange(T, 0, -T / n)).astype(np.int64) - 1
        return ts.copy()

    # -- forward process

    def _check_timesteps_range(self, op: str, ts: np.ndarray) -> None:
        T = self.config.num_train_timesteps
        if ts.size and (ts.min() < 0 or ts.max() >= T):
            raise IndexError(f"{op}: timesteps must lie in [0, {T}), got values in [{ts.min()}, {ts.max()}]")

    def _table(self, device) -> Any:
        # (T, 2) float32: [sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)], one copy per device
        key = str(device)
        if key not in self._tables:
            acp = self._alphas_cumprod
            host = np.stack([np.sqrt(acp), np.sqrt(1.0 - acp)], axis=1).astype(np.float32)
            self._tables[key] = _core.tensor(host, dtype="float32", device=key)
        return self._tables[key]

    def _coefficients(self, op: str, timesteps, like, *others):
        """sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t) per timestep, shaped (B, 1, ..., 1) to like's rank
        on like's device; they must broadcast with like and ``others``."""
        if not isinstance(like, _core.Tensor):
            raise TypeError(f"{op}: expected md tensors, got {type(like).__name__}")
        device = like.device
        if isinstance(timesteps, _core.Tensor):
            if timesteps.dtype != "int64":
                raise TypeError(f"{op}: timesteps must be an int64 tensor, got {timesteps.dtype}")
            t = timesteps.reshape(-1)
            if str(t.device) != str(device):
                t = t.to(device)
            try:
                coef = F.embedding(t, self._table(device))  # (B, 2)
            except IndexError:
                self._check_timesteps_range(op, timesteps.numpy().reshape(-1))
                raise
        else:
            ts = np.asarray(timesteps)
            if ts.dtype.kind not in "iu":
                raise TypeError(f"{op}: timesteps must be integers, got an array of dtype {ts.dtype}")
            ts = ts.astype(np.int64).reshape(-1)
            self._check_timesteps_range(op, ts)
            acp = self._alphas_cumprod[ts]
            host = np.stack([np.sqrt(acp), np.sqrt(1.0 - acp)], axis=1).astype(np.float32)
            coef = _core.tensor(host, dtype="float32", device=str(device))
        shape = _coefficient_shape(op, coef.shape[0], like, *others)
        return coef[:, 0].reshape(shape), coef[:, 1].reshape(shape)

    def add_noise(self, original_samples, noise, timesteps):
        """Forward diffusion: ``sqrt(alpha_bar_t) * x0 + sqrt(1 - alpha_bar_t) * noise`` per sample.

        ``timesteps`` is an int64 md tensor (any device; moved to the samples' device), a NumPy
        array, a list or an int; it holds one timestep per sample, or one for the whole batch. As in
        diffusers the coefficients are shaped (B, 1, ..., 1) and broadcast: one image (batch 1) with B
        timesteps (and B noises) gives B noisy images.
        """
        _check_broadcast("add_noise", original_samples, noise, "original_samples", "noise")
        a, s = self._coefficients("add_noise", timesteps, original_samples, noise)
        return a * original_samples + s * noise

    def get_velocity(self, sample, noise, timesteps):
        """The v-prediction target ``sqrt(alpha_bar_t) * noise - sqrt(1 - alpha_bar_t) * x0``."""
        _check_broadcast("get_velocity", sample, noise, "sample", "noise")
        a, s = self._coefficients("get_velocity", timesteps, sample, noise)
        return a * noise - s * sample

    def sample_timesteps(self, batch_size: int, generator=None, device="cpu"):
        """Uniform random training timesteps: an int64 md tensor (batch_size,) in [0, num_train_timesteps)."""
        return _core.randint(0, self.config.num_train_timesteps, (int(batch_size),), generator=generator, device=device)

    def scale_model_input(self, sample, timestep=None):
        """Identity: DDPM and DDIM feed the model the sample as is (kept for pipeline interchangeability)."""
        return sample

    # -- reverse-step helpers

    def _pred_original(self, model_output, sample, alpha_prod_t: float):
        beta_prod_t = 1.0 - alpha_prod_t
        ptype = self.config.prediction_type
        if ptype == "epsilon":
            x0 = (sample - model_output * beta_prod_t**0.5) / alpha_prod_t**0.5
        elif ptype == "sample":
            x0 = model_output
        else:  # v_prediction
            x0 = sample * alpha_prod_t**0.5 - model_output * beta_prod_t**0.5
        if self.config.clip_sample:
            x0 = x0.clamp(-float(self.config.clip_sample_range), float(self.config.clip_sample_range))
        return x0

    def _noise(self, op: str, model_output, generator, variance_noise):
        if variance_noise is not None:
            if generator is not None:
                raise ValueError(f"{op}: pass either generator or variance_noise, not both")
            _check_same_shape(op, model_output, variance_noise, "model_output", "variance_noise")
            return variance_noise
        return _randn(op, model_output.shape, generator, model_output.device)


def _randn(op: str, shape, generator, device):
    """``md.randn(shape, generator=generator, device=device)``; ``generator`` may also be a list of one
    generator per image (diffusers' per-image generators): image i's noise then comes from generator[i]
    alone, so it does not depend on the other images of the batch."""
    if isinstance(generator, (list, tuple)):
        shape = tuple(shape)
        if not shape or len(generator) != shape[0]:
            raise ValueError(f"{op}: {len(generator)} generators for noise of shape {shape}; pass one per image")
        return F.cat([_core.randn((1, *shape[1:]), generator=g, device=device) for g in generator], 0)
    return _core.randn(shape, generator=generator, device=device)


def _check_same_shape(op: str, a, b, a_name: str, b_name: str) -> None:
    if not isinstance(b, _core.Tensor):
        raise TypeError(f"{op}: {b_name} must be an md tensor, got {type(b).__name__}")
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{op}: {a_name} has shape {tuple(a.shape)} but {b_name} has shape {tuple(b.shape)}")


def _check_broadcast(op: str, a, b, a_name: str, b_name: str) -> None:
    """Both md tensors, of shapes that broadcast together (diffusers' forward process broadcasts)."""
    for x, name in ((a, a_name), (b, b_name)):
        if not isinstance(x, _core.Tensor):
            raise TypeError(f"{op}: {name} must be an md tensor, got {type(x).__name__}")
    try:
        np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
    except ValueError:
        raise ValueError(f"{op}: {a_name} has shape {tuple(a.shape)} but {b_name} has shape {tuple(b.shape)}") from None


def _coefficient_shape(op: str, num_timesteps: int, like, *others) -> tuple[int, ...]:
    """(B, 1, ..., 1) of like's rank for B per-timestep coefficients, as diffusers unsqueezes them; checks
    that they broadcast with the samples ``like`` and ``others``."""
    shape = (num_timesteps,) + (1,) * max(like.ndim - 1, 0)
    try:
        np.broadcast_shapes(shape, tuple(like.shape), *(tuple(x.shape) for x in others))
    except ValueError:
        raise ValueError(f"{op}: {num_timesteps} timesteps for samples of shape {tuple(like.shape)}") from None
    return shape


def _check_tensors(op: str, a, b, a_name: str, b_name: str) -> None:
    """Both md tensors, of one shape."""
    if not isinstance(a, _core.Tensor):
        raise TypeError(f"{op}: {a_name} must be an md tensor, got {type(a).__name__}")
    _check_same_shape(op, a, b, a_name, b_name)


def _step_output(return_dict: bool, prev_sample, *pred_original_sample):
    """What ``step`` returns: a SchedulerOutput, or with return_dict=False the tuple of its fields given."""
    if not return_dict:
        return (prev_sample, *pred_original_sample)
    return SchedulerOutput(prev_sample, *pred_original_sample)


class DDPMScheduler(_Scheduler):
    """Denoising diffusion probabilistic models (Ho et al. 2020), ancestral sampling.

    ``set_timesteps(n)`` with ``n < num_train_timesteps`` skips steps: each step then jumps to the next
    entry of ``timesteps`` and uses the posterior between those two noise levels, as diffusers does.
    ``variance_type``: "fixed_small" (posterior variance), "fixed_small_log" (the same, via its log),
    "fixed_large" (beta_t), "learned" and "learned_range" (the model outputs 2C channels, the second
    half the variance or its interpolation weight).
    """

    _beta_schedules = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid")
    _variance_types = ("fixed_small", "fixed_small_log", "fixed_large", "learned", "learned_range")

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        variance_type: str = "fixed_small",
        clip_sample: bool = True,
        prediction_type: str = "epsilon",
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        clip_sample_range: float = 1.0,
        sample_max_value: float = 1.0,
        timestep_spacing: str = "leading",
        steps_offset: int = 0,
        rescale_betas_zero_snr: bool = False,
    ):
        cfg = {k: v for k, v in locals().items() if k in self._defaults}
        if variance_type == "fixed_large_log":
            raise NotImplementedError(
                "DDPMScheduler: variance_type 'fixed_large_log' is not implemented (diffusers' version "
                "takes the square root of a log-variance, which is NaN); use 'fixed_large'"
            )
        _check_choice("DDPMScheduler", "variance_type", variance_type, self._variance_types)
        self._setup(cfg)
        self.custom_timesteps = False

    @property
    def variance_type(self) -> str:
        return self.config.variance_type

    def set_timesteps(self, num_inference_steps: int | None = None, device=None, timesteps=None) -> None:
        """Chooses the inference timesteps (``self.timesteps``, an int64 tensor, descending).

        ``timesteps`` may instead give a custom strictly descending list. ``device`` is accepted for
        diffusers compatibility and ignored: timesteps stay on the host, where ``step`` reads them.
        """
        T = self.config.num_train_timesteps
        if num_inference_steps is not None and timesteps is not None:
            raise ValueError("DDPMScheduler.set_timesteps: pass either num_inference_steps or timesteps, not both")
        if timesteps is not None:
            ts = np.asarray(timesteps, dtype=np.int64).reshape(-1)
            if ts.size == 0 or np.any(ts[1:] >= ts[:-1]):
                raise ValueError(f"DDPMScheduler.set_timesteps: custom timesteps must be strictly descending, got {ts}")
            if ts[0] >= T or ts[-1] < 0:
                raise ValueError(f"DDPMScheduler.set_timesteps: custom timesteps must lie in [0, {T}), got {ts}")
            self._timesteps = ts.copy()
            self.num_inference_steps = int(ts.size)
            self.custom_timesteps = True
            return
        if num_inference_steps is None:
            raise ValueError("DDPMScheduler.set_timesteps: pass num_inference_steps or timesteps")
        self.num_inference_steps = self._check_num_steps(num_inference_steps)
        self.custom_timesteps = False
        self._timesteps = self._spaced_timesteps(self.num_inference_steps)

    def previous_timestep(self, timestep) -> int:
        """The timestep the next ``step`` lands on: the next entry of ``timesteps`` (-1 after the last)."""
        t = _timestep_int("DDPMScheduler.previous_timestep", timestep)
        if self.custom_timesteps or self.num_inference_steps:
            where = np.nonzero(self._timesteps == t)[0]
            if where.size == 0:
                raise ValueError(
                    f"DDPMScheduler.step: timestep {t} is not one of scheduler.timesteps {self._timesteps}"
                )
            i = int(where[0])
            return int(self._timesteps[i + 1]) if i + 1 < self._timesteps.size else -1
        return t - 1

    def _posterior(self, t: int, prev_t: int):
        alpha_prod_t = float(self._alphas_cumprod[t])
        alpha_prod_t_prev = float(self._alphas_cumprod[prev_t]) if prev_t >= 0 else 1.0
        current_beta_t = 1.0 - alpha_prod_t / alpha_prod_t_prev
        variance = (1.0 - alpha_prod_t_prev) / (1.0 - alpha_prod_t) * current_beta_t
        return alpha_prod_t, alpha_prod_t_prev, current_beta_t, max(variance, 1e-20)

    def step(
        self,
        model_output,
        timestep,
        sample,
        generator=None,
        return_dict: bool = True,
        *,
        eta: float = 0.0,
        variance_noise=None,
    ):
        """One reverse step from ``timestep`` to ``previous_timestep(timestep)``.

        Returns ``SchedulerOutput(prev_sample, pred_original_sample)`` (a tuple if ``return_dict`` is
        False). Noise for t > 0 is ``md.randn(..., generator=generator, device=sample.device)`` unless
        ``variance_noise`` gives it. ``eta`` is accepted so one sampling loop can drive DDPM and DDIM
        alike; DDPM's noise level is set by ``variance_type`` and ``eta`` does not change it.
        """
        del eta
        op = "DDPMScheduler.step"
        t = _timestep_int(op, timestep)
        T = self.config.num_train_timesteps
        if not 0 <= t < T:
            raise IndexError(f"{op}: timestep {t} outside [0, {T})")
        if not isinstance(sample, _core.Tensor) or not isinstance(model_output, _core.Tensor):
            raise TypeError(f"{op}: model_output and sample must be md tensors")
        prev_t = self.previous_timestep(t)

        predicted_variance = None
        vtype = self.config.variance_type
        if vtype in ("learned", "learned_range"):
            if model_output.ndim < 2 or model_output.shape[1] != 2 * sample.shape[1]:
                raise ValueError(
                    f"{op}: variance_type {vtype!r} needs a model output with twice the sample's channels, "
                    f"got model_output {tuple(model_output.shape)} for sample {tuple(sample.shape)}"
                )
            model_output, predicted_variance = model_output.chunk(2, 1)
        if tuple(model_output.shape) != tuple(sample.shape):
            raise ValueError(
                f"{op}: model_output has shape {tuple(model_output.shape)} but sample has shape {tuple(sample.shape)}"
            )

        alpha_prod_t, alpha_prod_t_prev, current_beta_t, variance = self._posterior(t, prev_t)
        beta_prod_t = 1.0 - alpha_prod_t
        beta_prod_t_prev = 1.0 - alpha_prod_t_prev
        current_alpha_t = alpha_prod_t / alpha_prod_t_prev

        x0 = self._pred_original(model_output, sample, alpha_prod_t)
        # posterior mean q(x_prev | x_t, x0), eq. 7 of Ho et al. with alpha_t taken between the two steps
        x0_coeff = alpha_prod_t_prev**0.5 * current_beta_t / beta_prod_t
        xt_coeff = current_alpha_t**0.5 * beta_prod_t_prev / beta_prod_t
        prev_sample = x0 * x0_coeff + sample * xt_coeff

        if t > 0:
            noise = self._noise(op, model_output, generator, variance_noise)
            if vtype in ("fixed_small", "fixed_small_log"):
                prev_sample = prev_sample + noise * math.sqrt(variance)
            elif vtype == "fixed_large":
                prev_sample = prev_sample + noise * math.sqrt(current_beta_t)
            elif vtype == "learned":
                prev_sample = prev_sample + noise * predicted_variance.sqrt()
            else:  # learned_range: interpolate the log-variance between the two fixed choices
                min_log, max_log = math.log(variance), math.log(current_beta_t)
                frac = (predicted_variance + 1.0) * 0.5
                log_variance = frac * max_log + (1.0 - frac) * min_log
                prev_sample = prev_sample + noise * (log_variance * 0.5).exp()

        return _step_output(return_dict, prev_sample, x0)


class DDIMScheduler(_Scheduler):
    """Denoising diffusion implicit models (Song et al. 2021).

    ``eta`` = 0 gives the deterministic sampler; ``eta`` = 1 adds the DDPM posterior's noise. The noise
    variance sigma_t^2 is taken out of the direction term, so every eta keeps the marginals.
    ``set_alpha_to_one`` makes the last step land on alpha_bar = 1 (a clean image) instead of alpha_bar_0.
    """

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas=None,
        clip_sample: bool = True,
        set_alpha_to_one: bool = True,
        steps_offset: int = 0,
        prediction_type: str = "epsilon",
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        clip_sample_range: float = 1.0,
        sample_max_value: float = 1.0,
        timestep_spacing: str = "leading",
        rescale_betas_zero_snr: bool = False,
    ):
        cfg = {k: v for k, v in locals().items() if k in self._defaults}
        self._setup(cfg)
        self.final_alpha_cumprod = 1.0 if set_alpha_to_one else float(self._alphas_cumprod[0])

    def set_timesteps(self, num_inference_steps: int, device=None) -> None:
        """Chooses the inference timesteps (``self.timesteps``, an int64 tensor, descending).

        ``device`` is accepted for diffusers compatibility and ignored (timesteps stay on the host).
        """
        self.num_inference_steps = self._check_num_steps(num_inference_steps)
        self._timesteps = self._spaced_timesteps(self.num_inference_steps)

    def _alpha_prods(self, t: int, prev_t: int) -> tuple[float, float]:
        alpha_prod_t = float(self._alphas_cumprod[t])
        alpha_prod_t_prev = float(self._alphas_cumprod[prev_t]) if prev_t >= 0 else self.final_alpha_cumprod
        return alpha_prod_t, alpha_prod_t_prev

    def _get_variance(self, t: int, prev_t: int) -> float:
        alpha_prod_t, alpha_prod_t_prev = self._alpha_prods(t, prev_t)
        return (1.0 - alpha_prod_t_prev) / (1.0 - alpha_prod_t) * (1.0 - alpha_prod_t / alpha_prod_t_prev)

    def step(
        self,
        model_output,
        timestep,
        sample,
        eta: float = 0.0,
        use_clipped_model_output: bool = False,
        generator=None,
        variance_noise=None,
        return_dict: bool = True,
    ):
        """One DDIM step from ``timestep`` to ``timestep - num_train_timesteps // num_inference_steps``.

        Returns ``SchedulerOutput(prev_sample, pred_original_sample)`` (a tuple if ``return_dict`` is
        False). With ``eta > 0`` the noise is ``variance_noise`` or ``md.randn(..., generator=generator,
        device=sample.device)``.
        """
        op = "DDIMScheduler.step"
        if self.num_inference_steps is None:
            raise ValueError(f"{op}: call set_timesteps(num_inference_steps) before step")
        t = _timestep_int(op, timestep)
        T = self.config.num_train_timesteps
        if not 0 <= t < T:
            raise IndexError(f"{op}: timestep {t} outside [0, {T})")
        if eta < 0:
            raise ValueError(f"{op}: eta must be >= 0, got {eta}")
        _check_tensors(op, sample, model_output, "sample", "model_output")
        prev_t = t - T // self.num_inference_steps

        alpha_prod_t, alpha_prod_t_prev = self._alpha_prods(t, prev_t)
        beta_prod_t = 1.0 - alpha_prod_t
        ptype = self.config.prediction_type
        x0 = self._pred_original(model_output, sample, alpha_prod_t)
        if use_clipped_model_output:
            # the epsilon consistent with the clipped x0
            eps = (sample - x0 * alpha_prod_t**0.5) / beta_prod_t**0.5
        elif ptype == "epsilon":
            eps = model_output
        elif ptype == "v_prediction":
            eps = model_output * alpha_prod_t**0.5 + sample * beta_prod_t**0.5
        else:  # "sample": epsilon from the raw model output, before any clipping
            eps = (sample - model_output * alpha_prod_t**0.5) / beta_prod_t**0.5

        std_dev_t = eta * self._get_variance(t, prev_t) ** 0.5
        direction_var = 1.0 - alpha_prod_t_prev - std_dev_t**2
        if direction_var < 0:
            if direction_var < -1e-12:
                raise ValueError(
                    f"{op}: eta={eta} asks for more noise than the step from t={t} to t={prev_t} holds "
                    f"(1 - alpha_bar_prev - sigma^2 = {direction_var:.3g} < 0)"
                )
            direction_var = 0.0
        prev_sample = x0 * alpha_prod_t_prev**0.5 + eps * direction_var**0.5

        if eta > 0:
            noise = self._noise(op, model_output, generator, variance_noise)
            prev_sample = prev_sample + noise * std_dev_t

        return _step_output(return_dict, prev_sample, x0)


# More of diffusers' schedulers (Euler, DPM-Solver, ...), built on _Scheduler (imported last).
from . import schedulers_more as _more  # noqa: E402
from .schedulers_more import *  # noqa: E402, F403

__all__ += _more.__all__
