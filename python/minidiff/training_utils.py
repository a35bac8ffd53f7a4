"""``diffusers.training_utils`` for minidiff: ``EMAModel`` with diffusers' signature and state (on
md.optim.EMA's fused core), and the helpers that need no torch: ``set_seed``, ``compute_snr``,
``compute_loss_weighting_for_sd3`` and ``compute_density_for_timestep_sampling``. A training
script ports by changing its import to ``from minidiff.training_utils import EMAModel``.
"""

from __future__ import annotations

import json
import math
import numbers
import random
import warnings
from pathlib import Path

import numpy as np

from . import _core
from ._core import Tensor
from .autograd import no_grad
from .checkpoint import atomic_write_bytes
from .optim import EMA, _as_param_list
from .unet import CONFIG_NAME, WEIGHTS_NAME

__all__ = [
    "EMAModel",
    "compute_density_for_timestep_sampling",
    "compute_loss_weighting_for_sd3",
    "compute_snr",
    "set_seed",
]

# What diffusers' EMAModel.state_dict holds besides shadow_params, in its order; save_pretrained
# writes these into the model's config.json and from_pretrained takes them out again.
_EMA_FIELDS = ("decay", "min_decay", "optimization_step", "update_after_step", "use_ema_warmup", "inv_gamma", "power")


def _deprecated(message: str) -> None:
    warnings.warn(message, FutureWarning, stacklevel=3)


class EMAModel(EMA):
    """diffusers' ``EMAModel``: ``EMAModel(unet.parameters(), decay=..., use_ema_warmup=...)``, then
    ``step(params)`` after each optimiser step, ``store``/``copy_to``/``restore`` around sampling,
    ``state_dict``/``load_state_dict`` with diffusers' keys, ``save_pretrained``/``from_pretrained``
    with a model class that has ``from_config``/``save_pretrained`` (``md.UNet2DModel``).

    Differs from diffusers: the shadows are float32 md tensors updated in one fused pass
    (``foreach`` and ``pin_memory()`` change nothing; ``to(dtype=...)`` other than float32 raises);
    ``step`` needs the parameters on the shadows' device (``to(device)`` first), and ``copy_to`` and
    ``restore`` move values across devices; assigning ``shadow_params`` copies the values in;
    unknown keyword arguments raise TypeError (diffusers ignores them).
    """

    def __init__(
        self,
        parameters,
        decay: float = 0.9999,
        min_decay: float = 0.0,
        update_after_step: int = 0,
        use_ema_warmup: bool = False,
        inv_gamma: float = 1.0,
        power: float = 2 / 3,
        foreach: bool = False,
        model_cls=None,
        model_config=None,
        **kwargs,
    ):
        unknown = sorted(set(kwargs) - {"max_value", "min_value", "device"})
        if unknown:
            raise TypeError(f"EMAModel: unexpected keyword arguments {unknown}")
        if isinstance(parameters, _core.nn.Module):
            _deprecated(
                "EMAModel: passing a module is deprecated (as in diffusers); pass module.parameters(). "
                "A module turns use_ema_warmup on, as in diffusers."
            )
            parameters = parameters.parameters()
            use_ema_warmup = True
        if kwargs.get("max_value") is not None:
            _deprecated("EMAModel: max_value is deprecated (as in diffusers); use decay")
            decay = kwargs["max_value"]
        if kwargs.get("min_value") is not None:
            _deprecated("EMAModel: min_value is deprecated (as in diffusers); use min_decay")
            min_decay = kwargs["min_value"]
        super().__init__(
            list(parameters),
            decay=decay,
            min_decay=min_decay,
            update_after_step=update_after_step,
            use_ema_warmup=use_ema_warmup,
            inv_gamma=inv_gamma,
            power=power,
        )
        self.foreach = foreach
        self.model_cls = model_cls
        self.model_config = model_config
        self.temp_stored_params: list | None = None
        if kwargs.get("device") is not None:
            _deprecated("EMAModel: device is deprecated (as in diffusers); call to(device)")
            self.to(device=kwargs["device"])

    # -- averaging

    def step(self, parameters) -> None:
        """One EMA update; a parameter with ``requires_grad=False`` is copied, not averaged (diffusers' rule)."""
        if isinstance(parameters, _core.nn.Module):
            _deprecated("EMAModel.step: passing a module is deprecated (as in diffusers); pass module.parameters()")
        params = _as_param_list(parameters)
        super().step(params)
        frozen = [i for i, p in enumerate(params) if not p.requires_grad]
        if frozen:
            with no_grad():
                for i in frozen:
                    self._core.shadow(i).copy_(params[i])

    def _check_count(self, who: str, params: list) -> None:
        if len(params) != len(self._core):
            raise ValueError(f"EMAModel.{who}: expected {len(self._core)} parameters, got {len(params)}")

    def copy_to(self, parameters) -> None:
        """Writes the averaged weights into ``parameters`` (moved to their device if need be)."""
        params = _as_param_list(parameters)
        self._check_count("copy_to", params)
        shadows = self.shadow_params
        if all(s.device == p.device for s, p in zip(shadows, params)):
            self._core.copy_to(params)  # checks the shapes
            return
        _copy_values("EMAModel.copy_to", shadows, params)

    def store(self, parameters) -> None:
        """Keeps a host copy of ``parameters`` for ``restore`` (``temp_stored_params``)."""
        self.temp_stored_params = [p.detach().cpu().clone() for p in _as_param_list(parameters)]

    def restore(self, parameters) -> None:
        """Puts the values saved by ``store`` back into ``parameters`` and drops the copy."""
        if self.temp_stored_params is None:
            raise RuntimeError("EMAModel.restore: no weights were stored; call store() first")
        params = _as_param_list(parameters)
        if len(params) != len(self.temp_stored_params):
            raise ValueError(
                f"EMAModel.restore: {len(self.temp_stored_params)} parameters were stored, got {len(params)}"
            )
        _copy_values("EMAModel.restore", self.temp_stored_params, params)
        self.temp_stored_params = None

    # -- placement

    def to(self, device=None, dtype=None, non_blocking: bool = False) -> None:
        """Moves the shadows to ``device`` (``non_blocking`` changes nothing: the copy is synchronous)."""
        if dtype is not None and str(dtype) not in ("float32", "torch.float32"):
            raise NotImplementedError(
                f"EMAModel.to: the shadows are float32 in minidiff, dtype={dtype} is not supported"
            )
        if device is None:
            return
        shadows = self.shadow_params
        moved = [s.to(device) for s in shadows]
        if all(m.device == s.device for m, s in zip(moved, shadows)):
            return
        self._core = _core.optim.EMACore(moved)

    def pin_memory(self) -> None:
        """No effect: minidiff has no pinned host memory (diffusers pins the shadows for offloading)."""

    # -- state

    @property
    def shadow_params(self) -> list:
        """The averaged weights, one md tensor per parameter (views of the core's buffer)."""
        return [self._core.shadow(i) for i in range(len(self._core))]

    @shadow_params.setter
    def shadow_params(self, values) -> None:
        if not isinstance(values, (list, tuple)):
            raise ValueError(f"EMAModel: shadow_params must be a list, got {type(values).__name__}")
        if len(values) != len(self._core):
            raise ValueError(f"EMAModel: {len(values)} shadow_params given, the EMA has {len(self._core)}")
        _copy_values("EMAModel.shadow_params", list(values), self.shadow_params)

    def state_dict(self) -> dict:
        """diffusers' keys; ``shadow_params`` are the live shadow tensors (references, as in diffusers)."""
        return {key: getattr(self, key) for key in _EMA_FIELDS} | {"shadow_params": self.shadow_params}

    def load_state_dict(self, state_dict: dict) -> None:
        """Takes any of diffusers' keys (missing ones keep their value); checks them as diffusers
        does, but accepts any real number where diffusers wants a float or an int."""
        values = {key: _checked_field(key, state_dict.get(key, getattr(self, key))) for key in _EMA_FIELDS}
        if not 0.0 <= values["decay"] <= 1.0:
            raise ValueError(f"EMAModel.load_state_dict: decay must be in [0, 1], got {values['decay']}")
        shadows = state_dict.get("shadow_params")
        if shadows is not None:
            self.shadow_params = shadows  # every shape is checked before anything is written
        for key, value in values.items():
            setattr(self, key, value)

    # -- diffusers' folder format (the EMA weights in a model folder, its state in config.json)

    def save_pretrained(self, path) -> None:
        """Writes ``model_cls`` holding the EMA weights to ``path``, with the EMA state added to its config.json."""
        if self.model_cls is None:
            raise ValueError("EMAModel.save_pretrained needs model_cls, given to EMAModel(...)")
        if self.model_config is None:
            raise ValueError("EMAModel.save_pretrained needs model_config, given to EMAModel(...)")
        model = self.model_cls.from_config(self.model_config)
        self.copy_to(model.parameters())
        model.save_pretrained(path)
        config_path = Path(path) / CONFIG_NAME
        config = json.loads(config_path.read_text())
        config.update({key: getattr(self, key) for key in _EMA_FIELDS})
        atomic_write_bytes(config_path, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())

    @classmethod
    def from_pretrained(cls, path, model_cls, foreach: bool = False) -> EMAModel:
        """Reads a folder written by ``save_pretrained`` (ours or diffusers'): the model's config
        and weights, and the EMA state from the config."""
        from safetensors.numpy import load_file

        folder = Path(path)
        config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        for needed in (config_path, weights_path):
            if not needed.is_file():
                raise FileNotFoundError(f"EMAModel.from_pretrained: no {needed.name} in {folder}")
        config = json.loads(config_path.read_text())
        ema_state = {key: config.pop(key) for key in _EMA_FIELDS if key in config}
        model = model_cls.from_config(config)
        model.load_state_dict(load_file(str(weights_path)), strict=True)
        ema = cls(model.parameters(), model_cls=model_cls, model_config=model.config, foreach=foreach)
        ema.load_state_dict(ema_state)
        return ema


def _checked_field(key: str, value):
    """An EMA state value as a Python bool/int/float, or ValueError naming the field."""
    if key == "use_ema_warmup":
        ok = isinstance(value, (bool, np.bool_))
        kind = bool
    else:
        ok = isinstance(value, numbers.Integral if key.endswith("_step") else numbers.Real) and not isinstance(
            value, (bool, np.bool_)
        )
        kind = int if key.endswith("_step") else float
    if not ok:
        raise ValueError(f"EMAModel.load_state_dict: invalid {key} {value!r}")
    return value if type(value) in (int, float, bool) else kind(value)


def _copy_values(who: str, sources: list, targets: list) -> None:
    """targets[i] <- sources[i] (md tensors, NumPy arrays or anything np.asarray takes), on the
    targets' devices; every shape is checked before anything is written."""
    moved = []
    for i, (src, dst) in enumerate(zip(sources, targets)):
        if isinstance(src, Tensor):
            src = src.to(dst.device)
        else:
            src = _core.tensor(np.asarray(src, dtype=np.float32), device=dst.device)
        if tuple(src.shape) != tuple(dst.shape):
            raise ValueError(f"{who}: tensor {i} has shape {tuple(src.shape)}, expected {tuple(dst.shape)}")
        moved.append(src)
    with no_grad():
        for src, dst in zip(moved, targets):
            dst.copy_(src)


# ---- helpers of diffusers' training scripts


def set_seed(seed: int) -> None:
    """Seeds Python's ``random``, NumPy's global generator and minidiff's (one generator serves every device)."""
    random.seed(seed)
    np.random.seed(seed)
    _core.manual_seed(seed)


def compute_snr(noise_scheduler, timesteps) -> Tensor:
    """The signal-to-noise ratio ``alphas_cumprod / (1 - alphas_cumprod)`` at ``timesteps``, as
    ``(sqrt(a) / sqrt(1 - a)) ** 2`` in float32 like diffusers (Min-SNR loss weighting); the
    result has the shape and device of ``timesteps``."""
    table = noise_scheduler.alphas_cumprod
    if not isinstance(table, Tensor):
        table = _core.tensor(np.ascontiguousarray(np.asarray(table, dtype=np.float32)))
    if not isinstance(timesteps, Tensor):
        timesteps = _core.tensor(np.asarray(timesteps, dtype=np.int64))
    if timesteps.dtype != "int64":
        raise TypeError(f"compute_snr: timesteps must be an int64 tensor, got {timesteps.dtype}")
    if table.ndim != 1:
        raise ValueError(f"compute_snr: alphas_cumprod must be 1-D, got shape {tuple(table.shape)}")
    alpha = table.sqrt().to(timesteps.device)[timesteps].float()
    sigma = (1.0 - table).sqrt().to(timesteps.device)[timesteps].float()
    return (alpha / sigma).square()


def compute_density_for_timestep_sampling(
    weighting_scheme: str,
    batch_size: int,
    logit_mean: float | None = None,
    logit_std: float | None = None,
    mode_scale: float | None = None,
    device="cpu",
    generator=None,
) -> Tensor:
    """SD3's density for sampling timesteps, as numbers ``u`` in (0, 1) of shape (batch_size,):
    ``"logit_normal"`` gives sigmoid(N(logit_mean, logit_std)), ``"mode"`` bends uniform draws by
    ``mode_scale``, anything else is uniform. Same formulas as diffusers; the draws come from
    minidiff's generator, so they are not torch's numbers."""
    if weighting_scheme == "logit_normal":
        if logit_mean is None or logit_std is None:
            raise ValueError("compute_density_for_timestep_sampling: 'logit_normal' needs logit_mean and logit_std")
        u = _core.randn(batch_size, generator=generator, device=device) * logit_std + logit_mean
        return u.sigmoid()
    u = _core.rand(batch_size, generator=generator, device=device)
    if weighting_scheme == "mode":
        if mode_scale is None:
            raise ValueError("compute_density_for_timestep_sampling: 'mode' needs mode_scale")
        return 1 - u - mode_scale * ((math.pi * u / 2).cos() ** 2 - 1 + u)
    return u


def compute_loss_weighting_for_sd3(weighting_scheme: str, sigmas=None) -> Tensor:
    """SD3's loss weights from the flow-matching sigmas: ``"sigma_sqrt"`` gives sigma**-2,
    ``"cosmap"`` 2 / (pi * (1 - 2 sigma + 2 sigma**2)), anything else ones."""
    if sigmas is None:
        raise ValueError(f"compute_loss_weighting_for_sd3: weighting_scheme {weighting_scheme!r} needs sigmas")
    if weighting_scheme == "sigma_sqrt":
        return (sigmas**-2.0).float()
    if weighting_scheme == "cosmap":
        bot = 1 - 2 * sigmas + 2 * sigmas**2
        return 2 / (math.pi * bot)
    return _core.ones_like(sigmas)
