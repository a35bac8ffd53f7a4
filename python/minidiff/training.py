"""Training (``md.training``): ``TrainingConfig`` and the ``Trainer`` that fits a diffusion U-Net.

One optimisation step: draw a timestep and a noise image per training image (from the trainer's
own seeded generator), noise the whole batch at once with ``scheduler.add_noise``, predict with
the model, take the MSE against the target of ``prediction_type``, backpropagate, clip the global
gradient norm, step AdamW with the learning rate of the schedule, update the EMA of the weights.

Everything random in a run comes from seeded generators whose states go into checkpoints (the
trainer's generator for noise, timesteps and label dropout; the global generator for dropout
layers; the DataLoader's (seed, epoch, position) for the data order), so a run that is killed
and resumed from its latest checkpoint ends with bit-identical weights to one that never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import _core, backends, lr
from . import checkpoint as ckpt
from .data import DataLoader, Dataset, load_dataset
from .images import save_grid, save_npz
from .losses import PREDICTION_TYPES, diffusion_loss
from .optim import EMA, Adam, AdamW, clip_grad_norm_
from .pipelines import DDIMPipeline, DDPMPipeline
from .schedulers import DDIMScheduler, DDPMScheduler

__all__ = [
    "PRESETS",
    "Trainer",
    "TrainingConfig",
    "TrainingDiverged",
    "default_model_config",
    "learning_rate_at",
]

logger = logging.getLogger("minidiff.training")

LR_SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine", "warmup_cosine", "cosine_with_warmup")
OPTIMIZERS = {"adam": Adam, "adamw": AdamW}
SAMPLERS = ("ddpm", "ddim")
MIXED_PRECISION = ("no", "bf16")
METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "training_config.json"


def _f(default, help: str):
    # a dataclass field with its command-line help text
    return dataclasses.field(default=default, metadata={"help": help})


class TrainingDiverged(FloatingPointError):
    """Too many optimiser steps in a row had a NaN/Inf loss or gradient; the message names the last good
    checkpoint."""


@dataclass
class TrainingConfig:
    """Everything a training run needs besides the model and the data; round-trips through JSON/TOML.

    The first eight fields and their defaults are the API contract's. The defaults describe a
    conservative run (Adam-style at 1e-4, constant rate); ``PRESETS`` hold tuned settings, e.g.
    ``TrainingConfig.preset("digits")`` for the few-minute CPU run of ``minidiff train``.
    """

    # -- optimisation
    learning_rate: float = _f(1e-4, "peak learning rate")
    batch_size: int = _f(4, "images per micro-batch")
    num_epochs: int = _f(100, "passes over the data")
    save_every: int = _f(10, "epochs between checkpoints (and sample grids unless sample_every is set); 0 = never")
    beta1: float = _f(0.9, "Adam beta1")
    beta2: float = _f(0.999, "Adam beta2")
    eps: float = _f(1e-8, "Adam epsilon")
    weight_decay: float = _f(0.0, "weight decay (decoupled for adamw, L2 for adam)")
    optimizer: str = _f("adamw", "adam or adamw")
    lr_schedule: str = _f("constant", "constant, constant_with_warmup, linear, cosine or warmup_cosine")
    warmup_steps: int = _f(0, "linear warmup from 0 over this many optimiser steps")
    min_lr: float = _f(0.0, "floor of the cosine schedules")
    max_grad_norm: float = _f(1.0, "clip the global gradient norm to this; 0 = no clipping")
    gradient_accumulation_steps: int = _f(1, "micro-batches averaged into one optimiser step")
    max_steps: int | None = _f(None, "stop after this many optimiser steps (also the schedule's length)")
    max_bad_steps: int = _f(5, "stop after this many steps in a row with a NaN/Inf loss or gradient (each is skipped)")

    # -- exponential moving average of the weights (sampling and the saved model use it)
    use_ema: bool = _f(True, "keep an EMA of the weights for sampling and the saved model")
    ema_decay: float = _f(0.9999, "largest EMA decay")
    ema_min_decay: float = _f(0.0, "smallest EMA decay")
    ema_update_after_step: int = _f(0, "EMA decay is 0 (a plain copy) until this step")
    ema_use_warmup: bool = _f(True, "EMA decay 1 - (1 + step / inv_gamma) ** -power, as diffusers' EMAModel")
    ema_inv_gamma: float = _f(1.0, "EMA warmup inv_gamma")
    ema_power: float = _f(0.75, "EMA warmup power")

    # -- diffusion (used when the Trainer builds its own DDPMScheduler)
    prediction_type: str = _f("epsilon", "what the model predicts: epsilon, v_prediction or sample")
    num_train_timesteps: int = _f(1000, "diffusion steps of the forward process")
    beta_schedule: str = _f("linear", "linear, scaled_linear, squaredcos_cap_v2 or sigmoid")

    # -- data and model
    dataset: str = _f("digits", "a dataset name (digits, fashion-mnist, mnist, cifar10) or a path")
    data_root: str | None = _f(None, "directory of the mnist/cifar10 files")
    image_size: int | None = _f(None, "resize and centre-crop images to this size")
    channels: int | None = _f(None, "convert images to 1 or 3 channels")
    random_flip: bool = _f(False, "mirror images left-right at random")
    model_config: dict | None = _f(None, "UNet2DModel fields (default: sized for the data)")
    class_conditional: bool = _f(False, "condition on labels; the model gets num_classes + 1 class embeddings")
    num_classes: int | None = _f(None, "number of classes (default: from the dataset)")
    label_dropout: float = _f(0.1, "probability of training a label as the null class (classifier-free guidance)")

    # -- run
    seed: int = _f(0, "seed of the noise, timesteps, label dropout, data order and model init")
    device: str = _f("cpu", "cpu or cuda[:N]")
    mixed_precision: str = _f(
        "no",
        "no, or bf16: the matrix products of training steps (conv, linear, attention) take bf16 operands "
        "and accumulate in float32; weights, activations and gradients stay float32 (faster where the hardware "
        "has bf16 arithmetic: CUDA tensor cores, AVX512-BF16 CPUs)",
    )
    output_dir: str | None = _f("runs/minidiff", "run directory; None or '' writes nothing")
    checkpoint_every: int = _f(0, "optimiser steps between checkpoints; 0 = only epoch intervals and the end")
    keep_checkpoints: int = _f(3, "newest checkpoints kept")
    sample_every: int | None = _f(None, "epochs between sample grids; None = save_every; 0 = final grid only")
    num_samples: int = _f(64, "images in each sample grid")
    sampler: str = _f("ddim", "sampler of the grids: ddim or ddpm")
    sample_steps: int = _f(50, "denoising steps of the grids")
    sample_eta: float = _f(0.0, "DDIM eta of the grids")
    sample_seed: int = _f(0, "seed of the grids (the same noise every time)")
    guidance_scale: float = _f(2.0, "classifier-free guidance of the grids of class-conditional models")
    log_every: int = _f(10, "optimiser steps between rows of metrics.jsonl")
    progress: bool = _f(True, "show a progress bar (only on a terminal)")
    num_threads: int | None = _f(None, "CPU threads (default: all cores)")

    def __post_init__(self):
        if self.output_dir == "":
            self.output_dir = None
        # NumPy scalars pass validation but neither JSON nor TOML writes them (nor a checkpoint's state.json,
        # which would fail only after the first stretch of training): plain Python values from here on
        for f in dataclasses.fields(self):
            setattr(self, f.name, _plain(getattr(self, f.name)))
        if isinstance(self.model_config, dict):
            # lists, as JSON and TOML give them back, so a config equals itself after a round trip
            self.model_config = {k: list(v) if isinstance(v, tuple) else v for k, v in self.model_config.items()}
        self.validate()

    def validate(self) -> None:
        """Raises ValueError naming the first field with an invalid value."""

        def positive(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"TrainingConfig.{name} must be a positive int, got {v!r}")

        def non_negative(name, integer=True):
            v = getattr(self, name)
            kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
            if isinstance(v, bool) or not isinstance(v, kinds) or v < 0:
                what = "int" if integer else "number"
                raise ValueError(f"TrainingConfig.{name} must be a non-negative {what}, got {v!r}")

        def choice(name, options):
            v = getattr(self, name)
            try:
                known = v in options and not isinstance(v, bool)
            except TypeError:  # an unhashable value (a list, say) is no option either
                known = False
            if not known:
                raise ValueError(f"TrainingConfig.{name} must be one of {list(options)}, got {v!r}")

        for name in _FLOAT_FIELDS:
            # NaN passes every comparison below (a NaN max_grad_norm would silently turn clipping off)
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
                raise ValueError(f"TrainingConfig.{name} must be a finite number, got {v!r}")
        for name in _BOOL_FIELDS:
            # a JSON "false" is a non-empty string, which Python would take as true
            v = getattr(self, name)
            if not isinstance(v, (bool, np.bool_)):
                raise ValueError(f"TrainingConfig.{name} must be true or false, got {v!r}")
        for name in ("dataset", "device", "output_dir", "data_root"):
            v = getattr(self, name)
            if not isinstance(v, str) and not (v is None and name in ("output_dir", "data_root")):
                raise ValueError(f"TrainingConfig.{name} must be a string, got {v!r}")
        for name in ("batch_size", "num_epochs", "gradient_accumulation_steps", "num_train_timesteps", "max_bad_steps"):
            positive(name)
        for name in ("keep_checkpoints", "num_samples", "sample_steps", "log_every"):
            positive(name)
        for name in ("save_every", "warmup_steps", "checkpoint_every", "ema_update_after_step", "seed", "sample_seed"):
            non_negative(name)
        for name in ("seed", "sample_seed"):
            # md.Generator's range; checked here, as sample_seed would fail only at the first sample grid
            if getattr(self, name) >= 2**64:
                raise ValueError(f"TrainingConfig.{name} must be below 2**64, got {getattr(self, name)!r}")
        for name in ("learning_rate", "eps", "weight_decay", "min_lr", "max_grad_norm", "sample_eta"):
            non_negative(name, integer=False)
        for name in ("max_steps", "sample_every", "num_classes", "image_size", "num_threads"):
            if getattr(self, name) is not None:
                (non_negative if name == "sample_every" else positive)(name)
        for name in ("beta1", "beta2", "ema_decay", "ema_min_decay", "label_dropout"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0 or (name.startswith("beta") and v >= 1.0):
                raise ValueError(f"TrainingConfig.{name} must lie in [0, 1{')' if name.startswith('beta') else ']'}")
        if not self.guidance_scale >= 0:
            raise ValueError(f"TrainingConfig.guidance_scale must be >= 0, got {self.guidance_scale!r}")
        if not self.ema_inv_gamma > 0:  # the EMA warmup divides by it
            raise ValueError(f"TrainingConfig.ema_inv_gamma must be > 0, got {self.ema_inv_gamma!r}")
        choice("optimizer", OPTIMIZERS)
        choice("lr_schedule", LR_SCHEDULES)
        choice("prediction_type", PREDICTION_TYPES)
        choice("sampler", SAMPLERS)
        choice("beta_schedule", ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"))
        choice("mixed_precision", MIXED_PRECISION)
        if self.channels is not None:
            if not isinstance(self.channels, (int, np.integer)):  # 1.0 == 1 would pass the choice below
                raise ValueError(f"TrainingConfig.channels must be one of [1, 3], got {self.channels!r}")
            choice("channels", (1, 3))
        # checked here rather than when the first sample grid fails, after the training it would waste
        if self.sample_steps > self.num_train_timesteps:
            raise ValueError(
                f"TrainingConfig.sample_steps ({self.sample_steps}) cannot exceed num_train_timesteps "
                f"({self.num_train_timesteps})"
            )
        if self.beta_schedule == "sigmoid" and self.sampler == "ddim":
            # diffusers' DDIMScheduler has no sigmoid schedule either; only DDPM samples such a model
            raise ValueError(
                "TrainingConfig: beta_schedule 'sigmoid' cannot be sampled with sampler 'ddim' (DDIMScheduler does "
                "not implement it); use sampler 'ddpm'"
            )
        if self.lr_schedule == "constant" and self.warmup_steps:
            raise ValueError(
                "TrainingConfig: lr_schedule 'constant' has no warmup; use 'constant_with_warmup' "
                f"for warmup_steps={self.warmup_steps}"
            )
        if self.model_config is not None and not isinstance(self.model_config, dict):
            raise ValueError(
                f"TrainingConfig.model_config must be a dict of UNet2DModel fields or None, got {self.model_config!r}"
            )

    # -- construction and files

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides) -> TrainingConfig:
        """A config from a mapping; unknown keys raise ValueError (a typo should not be ignored)."""
        merged = {**dict(data), **overrides}
        unknown = sorted(set(merged) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"TrainingConfig: unknown field(s) {unknown}")
        return cls(**{k: _coerce(k, v) for k, v in merged.items()})

    @classmethod
    def preset(cls, name: str, **overrides) -> TrainingConfig:
        """A named preset (see ``PRESETS``) with ``overrides`` applied."""
        if name not in PRESETS:
            raise ValueError(f"TrainingConfig.preset: unknown preset {name!r}; expected one of {sorted(PRESETS)}")
        return cls.from_dict(PRESETS[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> TrainingConfig:
        return TrainingConfig.from_dict(self.to_dict(), **changes)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainingConfig:
        """Reads a ``.json`` or ``.toml`` file (a TOML file may hold the fields under ``[training]``);
        fields the file leaves out keep their dataclass defaults (see ``read_values``)."""
        return cls.from_dict(cls.read_values(path))

    @classmethod
    def read_values(cls, path: str | os.PathLike) -> dict[str, Any]:
        """The fields a ``.json`` or ``.toml`` config file sets, as a mapping, without filling in defaults.

        Unknown keys raise ValueError; values are only checked once they make a config (``from_dict``).
        ``minidiff train --config`` lays exactly these keys over the preset (or a resumed checkpoint's
        config), so a value equal to the dataclass default still overrides the preset. TOML has no
        null: ``save`` leaves a None field out (``output_dir = ""`` stands for None), and an absent
        field takes the value of the layer below: the dataclass default here, which is None for those
        fields, but the preset's value on the command line. Use JSON to pin a None over a preset.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"TrainingConfig.load: no config file at {path}")
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                data = json.loads(path.read_text(encoding="utf-8"))
            elif suffix == ".toml":
                data = _toml_loads(path.read_text(encoding="utf-8"))
                if set(data) == {"training"}:
                    data = data["training"]
            else:
                raise ValueError(f"TrainingConfig.load: {path} must end in .json or .toml")
        except (ValueError, UnicodeDecodeError) as e:
            if str(e).startswith("TrainingConfig"):
                raise
            raise ValueError(f"TrainingConfig.load: cannot parse {path}: {e}") from None
        if not isinstance(data, dict):
            raise ValueError(f"TrainingConfig.load: {path} must hold a table/object of fields")
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"TrainingConfig.load: {path} has unknown field(s) {unknown}")
        return {k: _coerce(k, v) for k, v in data.items()}

    def save(self, path: str | os.PathLike) -> None:
        """Writes the config as JSON or TOML (by the file's suffix), atomically."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            ckpt.atomic_write_json(path, self.to_dict())
        elif suffix == ".toml":
            ckpt.atomic_write_bytes(path, _toml_dumps(self.to_dict(), _defaults()).encode())
        else:
            raise ValueError(f"TrainingConfig.save: {path} must end in .json or .toml")


def _defaults() -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(TrainingConfig)}


_FLOAT_FIELDS = [f.name for f in dataclasses.fields(TrainingConfig) if f.type == "float"]
_BOOL_FIELDS = [f.name for f in dataclasses.fields(TrainingConfig) if f.type == "bool"]


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars (also inside lists, tuples and dicts) turned into Python's bool/int/float."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _coerce(name: str, value: Any) -> Any:
    # JSON and TOML write 1e-3 and 1.0 as floats but "2" as an int: let an int stand for a float field
    if name in _FLOAT_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


# ---- a minimal TOML reader/writer for flat configs (tomllib is 3.11+, and nothing writes TOML)


def _toml_loads(text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ValueError("reading TOML needs Python 3.11+ or the 'tomli' package; use a .json config") from None
    return tomllib.loads(text)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ValueError(f"cannot write {value!r} ({type(value).__name__}) to TOML")


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string. Not json.dumps: that writes a character beyond U+FFFF as two \\u escapes of
    surrogates, which TOML readers reject, so a config holding one could be saved but never loaded."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:  # control characters must be escaped
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"cannot write {text!r} to TOML: it holds a lone surrogate (U+{code:04X})")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    # a bare key where TOML allows one, else a quoted one
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else _toml_string(key)


def _toml_dumps(data: dict[str, Any], defaults: dict[str, Any]) -> str:
    lines, tables = ["# minidiff training config"], []
    for key, value in data.items():
        if value is None:
            if defaults.get(key) is None:
                continue  # absent means None (see TrainingConfig.read_values)
            if key == "output_dir":
                lines.append(f'{key} = ""  # no output files')
                continue
            raise ValueError(f"TrainingConfig: {key}=None cannot be written to TOML")
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables:
        lines.append(f"\n[{key}]")
        for k, v in table.items():
            if v is None:
                # left out, the field takes UNet2DModel's default when the model is built: the same model
                # only where that default is None
                if key == "model_config" and k in _UNET_NONE_DEFAULTS:
                    continue
                raise ValueError(
                    f"TrainingConfig: TOML cannot hold null for {key}.{k} (left out, it would take the model's "
                    "default instead); save the config as .json"
                )
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


# The UNet2DModel config fields whose default is None: the std::optional fields of UNet2DConfig in
# cpp/nn/unet2d.h without an initialiser (attention_head_dim and mid_block_type are optional too, but
# default to 8 and "UNetMidBlock2D"). Only these may be left out of a TOML file for a None;
# test_training.py checks the set against a built model's config.
_UNET_NONE_DEFAULTS = frozenset(
    (
        "sample_size",
        "time_embedding_dim",
        "attn_norm_num_groups",
        "class_embed_type",
        "num_class_embeds",
        "num_train_timesteps",
    )
)


# ---- model configs and presets

DIGITS_MODEL = dict(
    sample_size=8,
    in_channels=1,
    out_channels=1,
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=8,
)


def default_model_config(image_size: int, channels: int, num_class_embeds: int | None = None) -> dict[str, Any]:
    """A UNet2DModel config sized for ``image_size``: halve the resolution down to 4-7 pixels,
    attention at the lowest level only. 8x8 gives the digits model above; 28x28 (Fashion-MNIST)
    a 3-level (64, 128, 128) model; 32x32 RGB a 4-level (64, 128, 128, 256) model."""
    if image_size <= 8:
        cfg = dict(DIGITS_MODEL, sample_size=image_size, in_channels=channels, out_channels=channels)
    else:
        levels = 1
        while image_size / 2**levels >= 4 and levels < 4:
            levels += 1
        widths = (64, 128, 128, 256)[:levels]
        cfg = dict(
            sample_size=image_size,
            in_channels=channels,
            out_channels=channels,
            block_out_channels=widths,
            layers_per_block=2,
            down_block_types=("DownBlock2D",) * (levels - 1) + ("AttnDownBlock2D",),
            up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (levels - 1),
        )
    if num_class_embeds:
        cfg["num_class_embeds"] = int(num_class_embeds)
    return cfg


PRESETS: dict[str, dict[str, Any]] = {
    # The dataclass defaults.
    "none": {},
    # `minidiff train` with no arguments: recognisable 8x8 digits in a few minutes on two CPU cores.
    "digits": dict(
        dataset="digits",
        model_config=DIGITS_MODEL,
        batch_size=128,
        learning_rate=2e-3,
        lr_schedule="cosine",
        warmup_steps=100,
        num_epochs=75,
        save_every=25,
        checkpoint_every=500,
        ema_decay=0.999,
        output_dir="runs/digits",
        sample_steps=50,
        num_samples=64,
    ),
    # 28x28 Fashion-MNIST (Debian's dataset-fashion-mnist): hours on a CPU, minutes on a GPU.
    "fashion-mnist": dict(
        dataset="fashion-mnist",
        batch_size=128,
        learning_rate=5e-4,
        lr_schedule="cosine",
        warmup_steps=500,
        num_epochs=30,
        save_every=5,
        checkpoint_every=2000,
        ema_decay=0.9995,
        output_dir="runs/fashion-mnist",
    ),
}


# ---- learning rate


def learning_rate_at(config: TrainingConfig, step: int, total_steps: int | None) -> float:
    """The learning rate of ``config.lr_schedule`` for optimiser step ``step`` (0-based) of ``total_steps``."""
    name, base, warmup = config.lr_schedule, config.learning_rate, config.warmup_steps
    if name == "constant":
        return lr.constant_schedule(step, base)
    if name == "constant_with_warmup":
        return lr.constant_with_warmup_schedule(step, warmup, base)
    if total_steps is None:
        raise ValueError(
            f"Trainer: lr_schedule {name!r} needs the run's length; set TrainingConfig.max_steps "
            "or call Trainer.train, which computes it"
        )
    if name == "linear":
        return lr.linear_schedule(step, total_steps, base, warmup)
    # cosine, warmup_cosine and cosine_with_warmup: linear warmup, then half a cosine down to min_lr
    if warmup == 0:
        return lr.cosine_lr_schedule(step, total_steps, base, config.min_lr)
    if config.min_lr == 0.0:
        return lr.warmup_cosine_schedule(step, warmup, total_steps, base)
    if step < warmup:
        return lr.constant_with_warmup_schedule(step, warmup, base)
    return lr.cosine_lr_schedule(step - warmup, max(0, total_steps - warmup), base, config.min_lr)


# ---- the trainer


def _as_tensor(x, dtype: str, device: str):
    if isinstance(x, _core.Tensor):
        return x if str(x.device) == device else x.to(device)
    return _core.tensor(np.asarray(x), dtype=dtype, device=device)


class _MetricsLog:
    """Appends JSON rows to ``metrics.jsonl``; on resume, drops rows after the resumed step."""

    def __init__(self, path: Path | None, resume_step: int | None):
        self.path = path
        self.checkpoint_steps: set[int] = set()  # of the checkpoint rows kept on resume
        if path is None:
            return
        if resume_step is not None and path.is_file():
            kept = []
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    step = int(row.get("step", 0))
                except (ValueError, TypeError, AttributeError):
                    continue  # a line cut short by the crash (or edited into something that is no row)
                if step <= resume_step:
                    kept.append(line)
                    if row.get("type") == "checkpoint":
                        self.checkpoint_steps.add(step)
            ckpt.atomic_write_bytes(path, ("".join(line + "\n" for line in kept)).encode())
        elif resume_step is None and path.is_file():
            path.unlink()  # a fresh run in an old directory starts a fresh log

    def write(self, row: dict[str, Any]) -> None:
        if self.path is None:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


class Trainer:
    """Trains a UNet2DModel for denoising diffusion with ``config`` (a ``TrainingConfig``).

    ``noise_scheduler`` is the forward process (a DDPMScheduler; built from the config when None);
    its ``prediction_type`` must match the config's. The optimiser and the EMA are created for the
    first model passed to ``train_step``/``train`` and kept while the same model is passed again.
    """

    def __init__(self, config: TrainingConfig | None = None, noise_scheduler=None):
        config = TrainingConfig() if config is None else config
        if not isinstance(config, TrainingConfig):
            raise TypeError(f"Trainer: config must be a TrainingConfig, got {type(config).__name__}")
        if noise_scheduler is None:
            noise_scheduler = DDPMScheduler(
                num_train_timesteps=config.num_train_timesteps,
                beta_schedule=config.beta_schedule,
                prediction_type=config.prediction_type,
            )
        elif noise_scheduler.config.prediction_type != config.prediction_type:
            raise ValueError(
                f"Trainer: the noise scheduler predicts {noise_scheduler.config.prediction_type!r} but the config "
                f"trains {config.prediction_type!r}; make them agree so sampling undoes what training learned"
            )
        if config.sampler == "ddim":
            # the sample grids convert the scheduler; fail now rather than after the training
            try:
                DDIMScheduler.from_config(noise_scheduler.config)
            except NotImplementedError as e:
                raise ValueError(
                    f"Trainer: sampler 'ddim' cannot sample with this noise scheduler ({e}); use sampler 'ddpm'"
                ) from None
        self.config = config
        self.noise_scheduler = noise_scheduler
        self.device = str(_core.Device(config.device))
        # noise, timesteps and label dropout; its state is checkpointed
        self.generator = _core.Generator(config.seed)
        self.global_step = 0  # optimiser steps taken
        self.micro_step = 0  # micro-batches accumulated towards the next optimiser step
        self.total_steps: int | None = config.max_steps
        self.model = None
        self.optimizer = None
        self.ema: EMA | None = None
        self.loader: DataLoader | None = None
        self.epoch_losses: list[float] = []  # mean loss of each completed epoch
        self._epoch_loss_sum = 0.0
        self._epoch_loss_count = 0
        self._grad_norm = None
        self.skipped_steps = 0  # optimiser steps skipped for a non-finite loss or gradient, in all
        self._bad_in_a_row = 0
        self._accumulation_bad = False  # a micro-batch of the pending accumulation had a non-finite loss
        self._stop_requested = False  # set by Ctrl-C during train(); honoured at the next step boundary
        self._last_checkpoint_step: int | None = None
        self._step_losses: list[float] = []
        self._null_class: int | None = None
        self._loader_state: dict | None = None
        self.current_lr = learning_rate_at(config, 0, config.max_steps) if config.max_steps else config.learning_rate

    # -- set-up

    @property
    def output_dir(self) -> Path | None:
        return Path(self.config.output_dir) if self.config.output_dir else None

    @property
    def checkpoint_dir(self) -> Path | None:
        return self.output_dir / ckpt.CHECKPOINTS_DIR if self.output_dir else None

    def prepare(self, model) -> None:
        """Moves ``model`` to the config's device and builds its optimiser and EMA (once per model)."""
        if model is self.model:
            return
        cfg = self.config
        model.to(self.device)
        model.train()
        num_class_embeds = model.config.get("num_class_embeds")
        if cfg.class_conditional:
            if not num_class_embeds:
                raise ValueError(
                    "Trainer: class_conditional=True needs a model built with num_class_embeds = num_classes + 1 "
                    "(the extra class is the null label of classifier-free guidance)"
                )
            self._null_class = int(num_class_embeds) - 1
        else:
            self._null_class = None
        params = list(model.parameters())
        opt_cls = OPTIMIZERS[cfg.optimizer]
        self.optimizer = opt_cls(params, lr=cfg.learning_rate, **self._optimizer_settings())
        # built after the optimiser, so the shadows mirror its flat parameter arena
        self.ema = EMA(model, **self._ema_settings()) if cfg.use_ema else None
        self.model = model
        self.micro_step = 0

    def _ema_settings(self) -> dict[str, Any]:
        cfg = self.config
        return dict(
            decay=cfg.ema_decay,
            min_decay=cfg.ema_min_decay,
            update_after_step=cfg.ema_update_after_step,
            use_ema_warmup=cfg.ema_use_warmup,
            inv_gamma=cfg.ema_inv_gamma,
            power=cfg.ema_power,
        )

    def _optimizer_settings(self) -> dict[str, Any]:
        cfg = self.config
        return dict(betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay)

    # -- one step

    def _labels_for_step(self, class_labels, batch: int):
        """Labels with label dropout applied (class-conditional runs), or None."""
        if self._null_class is None:
            return None
        if class_labels is None:
            raise ValueError("Trainer: class_conditional=True but the batch has no labels")
        labels = class_labels.numpy() if isinstance(class_labels, _core.Tensor) else np.asarray(class_labels)
        labels = labels.astype(np.int64).reshape(-1)
        if labels.size != batch:
            raise ValueError(f"Trainer: {labels.size} labels for a batch of {batch} images")
        if labels.size and (labels.min() < 0 or labels.max() >= self._null_class):
            raise ValueError(
                f"Trainer: labels must lie in [0, {self._null_class}) for a model with num_class_embeds="
                f"{self._null_class + 1} (the last index is the null class), got [{labels.min()}, {labels.max()}]"
            )
        # drawn even when label_dropout is 0 so the random stream does not depend on it
        drop = _core.rand((batch,), generator=self.generator).numpy() < self.config.label_dropout
        labels = np.where(drop, self._null_class, labels)
        return _core.tensor(labels, dtype="int64", device=self.device)

    def compute_loss(self, model, images, class_labels=None):
        """The diffusion loss of one batch (a scalar md tensor with its graph), drawing noise and timesteps."""
        x0 = _as_tensor(images, "float32", self.device)
        if x0.ndim != 4:
            raise ValueError(f"Trainer: images must be a batch (B, C, H, W), got shape {tuple(x0.shape)}")
        batch = x0.shape[0]
        sched = self.noise_scheduler
        noise = _core.randn(tuple(x0.shape), generator=self.generator, device=self.device)
        timesteps = sched.sample_timesteps(batch, generator=self.generator, device=self.device)
        noisy = sched.add_noise(x0, noise, timesteps)
        labels = self._labels_for_step(class_labels, batch)
        output = model(noisy, timesteps, labels)
        return diffusion_loss(output, self.config.prediction_type, sched, x0, noise, timesteps)

    def train_step(self, model, images, class_labels=None) -> float:
        """One micro-batch: loss, backward and, every ``gradient_accumulation_steps`` calls, the optimiser
        step (clip, lr schedule, AdamW, EMA). Returns the batch's loss.

        A NaN or Inf loss (or gradient) does not reach the weights: that optimiser step is skipped
        and counted (``skipped_steps``); ``max_bad_steps`` skipped steps in a row raise
        ``TrainingDiverged``, naming the last good checkpoint.
        """
        self.prepare(model)
        if isinstance(images, _core.Tensor) and images.dtype != "float32":
            images = images.to("float32")  # integer images from a custom dataset (the loader keeps their dtype)
        k = self.config.gradient_accumulation_steps
        with self._matmul_precision():
            loss = self.compute_loss(model, images, class_labels)
            value = loss.item()
            if math.isfinite(value):
                (loss * (1.0 / k) if k > 1 else loss).backward()
                self._step_losses.append(value)
            else:
                self._accumulation_bad = True  # no backward: the whole accumulated step will be skipped
        self.micro_step += 1
        if self.micro_step >= k:
            self.optimizer_step()
        return value

    @contextlib.contextmanager
    def _matmul_precision(self):
        """bf16 matrix products for the forward and backward pass of a mixed_precision="bf16" run; the
        previous precision comes back afterwards (sampling and the optimiser are float32)."""
        if self.config.mixed_precision != "bf16":
            yield
            return
        before = backends.get_float32_matmul_precision()
        backends.set_float32_matmul_precision("medium")
        try:
            yield
        finally:
            backends.set_float32_matmul_precision(before)

    def optimizer_step(self) -> None:
        """Clips, sets the scheduled learning rate, steps the optimiser and the EMA, zeroes the gradients.

        Skips the update (and counts it) when a micro-batch loss or the gradient norm is not finite."""
        if self.micro_step == 0:
            return
        cfg = self.config
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        # the global norm is computed either way (one fused pass); clipping only when asked
        norm = clip_grad_norm_(params, cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf"))
        self._grad_norm = norm if cfg.max_grad_norm > 0 else None
        if self._accumulation_bad or not math.isfinite(float(norm)):
            self._skip_step(None if self._accumulation_bad else float(norm))
            return
        self._bad_in_a_row = 0
        self.current_lr = learning_rate_at(cfg, self.global_step, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = self.current_lr
        self.optimizer.step()
        self.optimizer.zero_grad()
        if self.ema is not None:
            self.ema.step(self.model)
        self.global_step += 1
        self.micro_step = 0

    def _skip_step(self, grad_norm: float | None) -> None:
        self.optimizer.zero_grad()
        self.micro_step = 0
        self._accumulation_bad = False
        self._step_losses = []
        self.skipped_steps += 1
        self._bad_in_a_row += 1
        what = "loss" if grad_norm is None else f"gradient norm ({grad_norm})"
        logger.warning(
            "step %d: non-finite %s, update skipped (%d in a row, %d in all)",
            self.global_step,
            what,
            self._bad_in_a_row,
            self.skipped_steps,
        )
        if self._bad_in_a_row >= self.config.max_bad_steps:
            last = self._last_checkpoint_step
            where = (
                f"the last good checkpoint is {self.checkpoint_dir / ckpt.step_dir_name(last)}"
                if last is not None and self.checkpoint_dir is not None
                else "no checkpoint was written yet"
            )
            raise TrainingDiverged(
                f"training diverged: {self._bad_in_a_row} steps in a row had a non-finite {what} "
                f"(step {self.global_step}); {where}. Lower learning_rate or set max_grad_norm, then resume."
            )

    # -- sampling

    def sample(self, model, num_samples: int | None = None, class_labels=None, use_ema: bool = True) -> np.ndarray:
        """Images (N, H, W, C) in [0, 1] from the EMA weights (the raw weights are put back exactly)."""
        cfg = self.config
        n = cfg.num_samples if num_samples is None else num_samples
        scheduler_cls, pipeline_cls = (
            (DDIMScheduler, DDIMPipeline) if cfg.sampler == "ddim" else (DDPMScheduler, DDPMPipeline)
        )
        pipe = pipeline_cls(model, scheduler_cls.from_config(self.noise_scheduler.config))
        guidance = 1.0
        if class_labels is None and model.config.get("num_class_embeds") and cfg.class_conditional:
            class_labels = np.arange(n) % (int(model.config["num_class_embeds"]) - 1)
        if class_labels is not None:
            guidance = cfg.guidance_scale
        generator = _core.Generator(cfg.sample_seed)
        swap = use_ema and self.ema is not None and model is self.model
        if swap:
            self.ema.store(model)
            self.ema.copy_to(model)
        try:
            return pipe(
                n,
                num_inference_steps=cfg.sample_steps,
                generator=generator,
                class_labels=class_labels,
                guidance_scale=guidance,
                eta=cfg.sample_eta,
            )
        finally:
            if swap:
                self.ema.restore(model)

    def save_samples(self, model, name: str) -> Path | None:
        """Writes ``samples/<name>.png`` (a grid) and ``samples/<name>.npz`` under the output directory."""
        if self.output_dir is None:
            return None
        images = self.sample(model)
        num_class_embeds = model.config.get("num_class_embeds")
        labels = None
        nrow = None
        if self.config.class_conditional and num_class_embeds:
            nrow = int(num_class_embeds) - 1  # one column per class
            labels = np.arange(len(images)) % nrow
        folder = self.output_dir / "samples"
        path = folder / f"{name}.png"
        save_grid(images, path, nrow=nrow)
        save_npz(
            images, folder / f"{name}.npz", class_labels=labels, seed=self.config.sample_seed, step=self.global_step
        )
        return path

    def save_pretrained(self, model, path: str | os.PathLike, use_ema: bool = True) -> None:
        """Writes the (EMA) model with its noise scheduler as a diffusers pipeline folder."""
        swap = use_ema and self.ema is not None and model is self.model
        if swap:
            self.ema.store(model)
            self.ema.copy_to(model)
        try:
            DDPMPipeline(model, self.noise_scheduler).save_pretrained(path)
        finally:
            if swap:
                self.ema.restore(model)

    # -- checkpoints

    def _named_params(self) -> list[str]:
        return [name for name, _ in self.model.named_parameters()]

    def state_tensors(self) -> dict[str, dict[str, np.ndarray]]:
        names = self._named_params()
        tensors = {"model": {k: v.numpy() for k, v in self.model.state_dict().items()}}
        if self.ema is not None:
            tensors["ema"] = {n: s.numpy() for n, s in zip(names, self.ema.shadow_params)}
        opt_state = self.optimizer.state_dict()["state"]
        tensors["optimizer"] = {}
        for i, n in enumerate(names):
            tensors["optimizer"][f"exp_avg.{n}"] = opt_state[i]["exp_avg"]
            tensors["optimizer"][f"exp_avg_sq.{n}"] = opt_state[i]["exp_avg_sq"]
        return tensors

    def save_checkpoint(self) -> Path | None:
        """Writes a checkpoint of the current step under ``output_dir/checkpoints`` (between steps only)."""
        if self.checkpoint_dir is None or self.model is None:
            return None
        if self.micro_step != 0:
            raise RuntimeError("Trainer.save_checkpoint: gradients of an unfinished accumulation step are pending")
        from . import __version__

        opt_state = self.optimizer.state_dict()
        param_steps = [int(opt_state["state"][i]["step"]) for i in range(len(opt_state["state"]))]
        ema_state = None
        if self.ema is not None:
            ema_state = {k: v for k, v in self.ema.state_dict().items() if k != "shadow_params"}
        state = {
            "epoch": self.loader.epoch if self.loader is not None else 0,
            "epoch_loss_sum": self._epoch_loss_sum,
            "epoch_loss_count": self._epoch_loss_count,
            "skipped_steps": self.skipped_steps,
            "bad_steps_in_a_row": self._bad_in_a_row,
            "cpu_threads": _core.get_num_threads(),
            "epoch_losses": list(self.epoch_losses),
            "total_steps": self.total_steps,
            "dataloader": self.loader.state_dict() if self.loader is not None else None,
            "generators": {
                "trainer": list(self.generator.get_state()),
                "default": list(_core.default_generator().get_state()),
            },
            "optimizer": {
                "class": type(self.optimizer).__name__,
                "step": max(param_steps, default=0),
                # each parameter's own count: one without a gradient (frozen, unused) is not stepped, and Adam's
                # bias correction of the others must not take its count on resume
                "param_steps": param_steps,
                "param_groups": [{k: v for k, v in g.items() if k != "params"} for g in opt_state["param_groups"]],
            },
            "ema": ema_state,
            "config": self.config.to_dict(),
            "scheduler_class": type(self.noise_scheduler).__name__,
            "scheduler_config": dict(self.noise_scheduler.config),
            "model_config": {k: list(v) if isinstance(v, tuple) else v for k, v in self.model.config.items()},
            "minidiff_version": __version__,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        path = ckpt.save_checkpoint(
            self.checkpoint_dir, self.global_step, self.state_tensors(), state, keep=self.config.keep_checkpoints
        )
        self._last_checkpoint_step = self.global_step
        return path

    def load_checkpoint(self, path: str | os.PathLike, model=None) -> ckpt.Checkpoint:
        """Restores model, EMA, optimiser, counters, generators and data order from a checkpoint.

        ``path`` is a checkpoint directory, a checkpoints folder or a run's output directory
        (then its latest checkpoint is used). Call ``train`` afterwards to continue; ``train(...,
        resume_from=path)`` does both. The state comes from the checkpoint, the settings (Adam's
        betas, eps and weight decay, the EMA's decays) from this trainer's config; a warning names
        the settings that differ from the stored config.
        """
        model = self.model if model is None else model
        if model is None:
            raise ValueError("Trainer.load_checkpoint: pass the model to load into")
        checkpoint = ckpt.load_checkpoint(path)
        state, tensors = checkpoint.state, checkpoint.tensors
        where = checkpoint.path
        # everything is checked before anything is written: a checkpoint that does not fit leaves the model,
        # the optimiser and the counters as they were
        self._check_checkpoint(checkpoint, model)
        self._warn_config_differences(state.get("config", {}), state.get("scheduler_config"), where)
        threads, saved_threads = self.config.num_threads or _core.get_num_threads(), state.get("cpu_threads")
        if saved_threads is not None and saved_threads != threads and self.device == "cpu":
            warnings.warn(
                f"resuming {where} with {threads} CPU threads where it ran with {saved_threads}: the run goes on "
                "correctly, but its sums split differently, so it will not match an uninterrupted run bit for bit "
                "(set num_threads to keep them equal)",
                UserWarning,
                stacklevel=2,
            )
        self.prepare(model)
        names = self._named_params()
        try:
            model.load_state_dict(tensors["model"], strict=True)
        except (KeyError, ValueError, RuntimeError) as e:
            raise ckpt.CheckpointError(f"checkpoint {where}: model.safetensors does not fit the model: {e}") from None

        if self.ema is not None:
            # the counters from the checkpoint, the settings from this config (flags given with a resume
            # override the stored config; _warn_config_differences names the changes)
            shadows = [tensors["ema"][n] for n in names]
            self.ema.load_state_dict({**state["ema"], **self._ema_settings(), "shadow_params": shadows})

        opt_tensors = tensors["optimizer"]
        opt_meta = state["optimizer"]
        steps = opt_meta.get("param_steps") or [opt_meta["step"]] * len(names)  # older checkpoints: one count
        per_param = {
            i: {"step": steps[i], "exp_avg": opt_tensors[f"exp_avg.{n}"], "exp_avg_sq": opt_tensors[f"exp_avg_sq.{n}"]}
            for i, n in enumerate(names)
        }
        # as for the EMA: Adam's moments and step from the checkpoint, its hyperparameters from this config (the
        # learning rate is set by the schedule at every step)
        groups = [
            dict(g, **self._optimizer_settings(), params=list(range(len(names)))) for g in opt_meta["param_groups"]
        ]
        self.optimizer.load_state_dict({"state": per_param, "param_groups": groups})
        self.optimizer.zero_grad()

        self.global_step = int(state["step"])
        self.micro_step = 0
        self._step_losses = []
        self._epoch_loss_sum = float(state.get("epoch_loss_sum", 0.0))
        self._epoch_loss_count = int(state.get("epoch_loss_count", 0))
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self._bad_in_a_row = int(state.get("bad_steps_in_a_row", 0))  # a divergence keeps counting across a resume
        self._accumulation_bad = False
        self.epoch_losses = [float(v) for v in state.get("epoch_losses", [])]
        self.generator.set_state(tuple(state["generators"]["trainer"]))
        _core.default_generator().set_state(tuple(state["generators"]["default"]))
        # applied now to the loader of a train call, else kept for the next one (see train)
        self._loader_state = state.get("dataloader")
        if self.loader is not None and self._loader_state is not None:
            self.loader.load_state_dict(self._loader_state)
            self._loader_state = None
        self._last_checkpoint_step = self.global_step
        return checkpoint

    def _check_checkpoint(self, checkpoint: ckpt.Checkpoint, model) -> None:
        """Raises CheckpointError/ValueError where ``checkpoint`` is no Trainer checkpoint or does not fit
        ``model`` and this config; writes nothing."""
        state, tensors, where = checkpoint.state, checkpoint.tensors, checkpoint.path
        lacking = [k for k in ("optimizer", "generators", "model_config") if not isinstance(state.get(k), dict)]
        lacking += [f"{g}.safetensors" for g in ("model", "optimizer") if g not in tensors]
        if lacking:
            raise ckpt.CheckpointError(f"checkpoint {where} is not a Trainer checkpoint: it lacks {', '.join(lacking)}")
        for key, value in state["model_config"].items():
            mine = model.config.get(key)
            if isinstance(mine, tuple):
                mine = list(mine)
            if key in model.config and mine != value:
                raise ValueError(
                    f"Trainer.load_checkpoint: {where} holds a model with {key}={value!r}, this model has {mine!r}"
                )
        saved_class, mine = state["optimizer"].get("class"), OPTIMIZERS[self.config.optimizer].__name__
        if saved_class != mine:
            raise ValueError(f"Trainer.load_checkpoint: {where} was trained with {saved_class}, this run uses {mine}")
        own, saved = model.state_dict(), tensors["model"]
        missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
        wrong = [k for k in sorted(set(own) & set(saved)) if np.shape(saved[k]) != tuple(own[k].shape)]
        if missing or unexpected or wrong:
            raise ckpt.CheckpointError(
                f"checkpoint {where}: model.safetensors does not fit the model (missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}, other shapes {wrong[:3]}; {len(missing)}, {len(unexpected)} and "
                f"{len(wrong)} in all)"
            )
        params = list(model.named_parameters())
        needed = {"optimizer": [(f"{m}.{n}", p) for n, p in params for m in ("exp_avg", "exp_avg_sq")]}
        if self.config.use_ema:
            if "ema" not in tensors or not isinstance(state.get("ema"), dict):
                raise ckpt.CheckpointError(f"checkpoint {where} has no EMA weights but use_ema=True")
            needed["ema"] = [(n, p) for n, p in params]
        for group, entries in needed.items():
            bad = [k for k, p in entries if k not in tensors[group] or np.shape(tensors[group][k]) != tuple(p.shape)]
            if bad:
                raise ckpt.CheckpointError(f"checkpoint {where}: {group}.safetensors lacks or misshapes {bad[:3]}")
        steps = state["optimizer"].get("param_steps")
        if "step" not in state["optimizer"] or (steps is not None and len(steps) != len(params)):
            raise ckpt.CheckpointError(f"checkpoint {where}: its optimizer entry does not fit the model's parameters")
        for name in ("trainer", "default"):
            if name not in state["generators"]:
                raise ckpt.CheckpointError(f"checkpoint {where} lacks the state of the {name} generator")

    def _warn_config_differences(self, saved: dict[str, Any], saved_scheduler: dict | None, where) -> None:
        # fields that change the trajectory of the weights; the rest (output, logging, length) may differ
        trajectory = (
            "learning_rate batch_size beta1 beta2 eps weight_decay optimizer lr_schedule warmup_steps min_lr "
            "max_grad_norm gradient_accumulation_steps prediction_type num_train_timesteps beta_schedule "
            "label_dropout class_conditional random_flip seed use_ema ema_decay ema_min_decay ema_update_after_step "
            "ema_use_warmup ema_power ema_inv_gamma mixed_precision dataset data_root image_size channels"
        ).split()
        mine = self.config.to_dict()
        changed = [f"{k}: {saved[k]!r} -> {mine[k]!r}" for k in trajectory if k in saved and saved[k] != mine[k]]
        if saved_scheduler is not None:
            # a noise scheduler passed to the Trainer need not follow the config's fields; compared as state.json
            # holds it, field by field where both have the field (a newer version may add some)
            ours = json.loads(json.dumps(dict(self.noise_scheduler.config), default=str))
            changed += [
                f"noise scheduler {k}: {saved_scheduler[k]!r} -> {ours[k]!r}"
                for k in sorted(set(saved_scheduler) & set(ours))
                if saved_scheduler[k] != ours[k]
            ]
        if changed:
            warnings.warn(
                f"resuming {where} with a different config ({'; '.join(changed)}); "
                "the run will not match an uninterrupted one",
                stacklevel=3,
            )

    # -- the loop

    def _as_dataset(self, dataset) -> Any:
        cfg = self.config
        if dataset is None:
            dataset = cfg.dataset
        if isinstance(dataset, (str, os.PathLike)):
            return load_dataset(
                dataset,
                image_size=cfg.image_size,
                channels=cfg.channels,
                random_flip=cfg.random_flip,
                root=cfg.data_root,
            )
        if isinstance(dataset, np.ndarray):
            return Dataset(dataset)
        return dataset

    def _check_data(self, model, dataset) -> None:
        cfg = model.config
        item = dataset[0]
        # (image, label) items, or images alone (the loader then gives image batches)
        first = np.asarray(item[0] if isinstance(item, (tuple, list)) else item)
        size = cfg["sample_size"]
        if size is None:  # diffusers' default; its pipelines (and the sample grids here) need it
            raise ValueError(
                f"Trainer: the model's config has no sample_size, which sampling needs; build it with "
                f"sample_size={first.shape[-1]} (the data has images of shape {first.shape})"
            )
        size = (size, size) if isinstance(size, int) else tuple(size)
        if first.shape != (cfg["in_channels"], *size):
            raise ValueError(
                f"Trainer: the data has images of shape {first.shape} but the model expects "
                f"({cfg['in_channels']}, {size[0]}, {size[1]}) (in_channels, sample_size); set image_size/channels "
                "or build the model for the data"
            )

    def train(
        self,
        model,
        dataset=None,
        num_epochs: int | None = None,
        resume_from: str | os.PathLike | None = None,
        callback: Callable[[Trainer, dict], None] | None = None,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        """Trains ``model`` on ``dataset`` for ``num_epochs`` epochs (default: the config's).

        ``dataset``: an ``md.data.Dataset`` (or anything with ``__len__``/``__getitem__`` giving
        ``(image, label)`` or just the image), a name or path for ``load_dataset``, or an array (N, C, H, W) in
        [-1, 1]; None loads ``config.dataset``. ``resume_from`` ("latest" for the output
        directory's newest checkpoint, or a path) continues an earlier run exactly where its
        checkpoint left it. ``callback(trainer, row)`` runs after every optimiser step. Calling
        ``train`` again on the same trainer and model continues (a larger ``num_epochs`` extends).

        A fresh run refuses an output directory that already holds checkpoints (they would mix
        with the new ones) unless ``overwrite=True``, which deletes them first; so does a run resumed
        from a checkpoint outside the output directory (its metrics log then starts afresh there).

        Writes under ``config.output_dir``: ``metrics.jsonl``, ``samples/epoch-XXXX.png`` (and
        ``.npz``), ``samples/final.png``, ``checkpoints/step-XXXXXX/`` and ``model/`` (the EMA
        weights as a diffusers pipeline folder). Returns a summary dict.
        """
        cfg = self.config
        num_epochs = cfg.num_epochs if num_epochs is None else int(num_epochs)
        if cfg.num_threads:
            _core.set_num_threads(cfg.num_threads)
        dataset = self._as_dataset(dataset)
        self.prepare(model)
        self._check_data(model, dataset)
        # a second call on the same data continues the data order where the first left it
        previous = None
        if self.loader is not None and len(self.loader.dataset) == len(dataset):
            previous = self.loader.state_dict()
        elif self._loader_state is not None:
            # a checkpoint read with load_checkpoint before the first train call: continue its data order
            previous = self._loader_state
        self._loader_state = None
        self.loader = DataLoader(
            dataset,
            cfg.batch_size,
            shuffle=True,
            drop_last=len(dataset) >= cfg.batch_size,
            seed=cfg.seed,
            random_flip=cfg.random_flip,
            device=self.device,
        )
        if previous is not None:
            self.loader.load_state_dict(previous)
        k = cfg.gradient_accumulation_steps
        steps_per_epoch = math.ceil(len(self.loader) / k)
        self.total_steps = steps_per_epoch * num_epochs
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)

        resumed_from = None
        target = foreign = None
        if resume_from is not None:
            target = resume_from
            if str(resume_from) == "latest":
                if self.output_dir is None:
                    raise ValueError("Trainer.train: resume_from='latest' needs config.output_dir")
                target = self.output_dir
            target = ckpt.resolve_checkpoint(target)
            # a checkpoint of another directory (a copy, a branch of a run): this run's checkpoints and metrics
            # go to output_dir, where they must not replace or prune those of the run that lives there
            own_root = self.checkpoint_dir.resolve() if self.checkpoint_dir is not None else None
            foreign = own_root is not None and target.resolve().parent != own_root
        if ((resume_from is None and previous is None) or foreign) and self.checkpoint_dir is not None:
            existing = ckpt.list_checkpoints(self.checkpoint_dir)
            if existing and not overwrite:
                if foreign:
                    raise FileExistsError(
                        f"{self.output_dir} already holds the checkpoints of another run (newest: {existing[-1].name}) "
                        f"and resuming {target} there would replace or prune them; choose another output directory "
                        "(--out), or overwrite=True to delete them first"
                    )
                raise FileExistsError(
                    f"{self.output_dir} already holds checkpoints (newest: {existing[-1].name}); resume with "
                    "resume_from='latest' (--resume latest), or start over with overwrite=True (--overwrite) "
                    "or another output directory"
                )
            if existing:
                shutil.rmtree(self.checkpoint_dir)
        if resume_from is not None:
            checkpoint = self.load_checkpoint(target, model)
            resumed_from = checkpoint.path
            logger.info("resumed from %s (step %d, epoch %d)", checkpoint.path, self.global_step, self.loader.epoch)

        out = self.output_dir
        # a log in the output directory is this run's own to continue, unless the checkpoint came from elsewhere
        continuing = (resumed_from is not None and not foreign) or previous is not None
        metrics = _MetricsLog(out / METRICS_FILE if out else None, self.global_step if continuing else None)
        own = self.checkpoint_dir / ckpt.step_dir_name(self.global_step) if self.checkpoint_dir else None
        if resumed_from is not None and own is not None and Path(resumed_from).resolve() == own.resolve():
            if self.global_step not in metrics.checkpoint_steps:
                # the run was killed between publishing this checkpoint and logging it
                metrics.write(
                    {"type": "checkpoint", "step": self.global_step, "epoch": self.loader.epoch, "path": str(own)}
                )
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            self.config.save(out / CONFIG_FILE)

        bar = self._progress_bar()
        sample_every = cfg.save_every if cfg.sample_every is None else cfg.sample_every
        start_time = time.perf_counter()
        window_start, window_images = time.perf_counter(), 0
        images_per_s = 0.0
        stopped = False
        restore_sigint = self._defer_sigint()
        try:
            while not stopped and self.global_step < self.total_steps and self.loader.epoch < num_epochs:
                epoch = self.loader.epoch
                epoch_start = time.perf_counter()
                if bar is not None:
                    bar.set_description(f"epoch {epoch + 1}/{num_epochs}")
                for batch in self.loader:
                    images, labels = batch[:2] if isinstance(batch, tuple) else (batch, None)
                    loss = self.train_step(model, images, labels if cfg.class_conditional else None)
                    self._epoch_loss_sum += loss
                    self._epoch_loss_count += 1
                    window_images += images.shape[0]
                    epoch_done = self.loader.epoch != epoch
                    if epoch_done and self.micro_step:
                        self.optimizer_step()  # the epoch ran out: a partial accumulation makes one step
                    stepped = self.micro_step == 0
                    if stepped:
                        row = self._after_step(epoch)
                        now = time.perf_counter()
                        if now - window_start >= 0.5 or images_per_s == 0.0:  # a rate over >= 0.5 s
                            images_per_s = window_images / max(now - window_start, 1e-9)
                            window_start, window_images = now, 0
                        row["images_per_s"] = round(images_per_s, 2)
                        if bar is not None:
                            postfix = {"loss": f"{row['loss']:.4f}", "lr": f"{row['lr']:.2e}"}
                            bar.set_postfix(postfix, img_s=f"{images_per_s:.0f}", refresh=False)
                            bar.update(1)
                        if self.global_step % cfg.log_every == 0 or self.global_step == self.total_steps:
                            metrics.write(row)
                    if epoch_done:
                        # before any step checkpoint, so a checkpoint never falls between an epoch's
                        # last batch and its bookkeeping
                        self._end_epoch(model, epoch, epoch_start, metrics, sample_every, num_epochs)
                    if stepped:
                        if cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0:
                            self._checkpoint(metrics, self.loader.epoch)
                        if callback is not None:
                            callback(self, row)
                        if self._stop_requested:
                            # Ctrl-C: the step is complete, so this checkpoint resumes exactly
                            self._checkpoint(metrics, self.loader.epoch)
                            raise KeyboardInterrupt(
                                f"interrupted after step {self.global_step}; "
                                + (
                                    f"checkpoint saved in {self.checkpoint_dir}"
                                    if self.checkpoint_dir
                                    else "nothing saved (no output_dir)"
                                )
                            )
                        if self.global_step >= self.total_steps:
                            stopped = True
                            break
        finally:
            restore_sigint()
            self._stop_requested = False
            if bar is not None:
                bar.close()

        if self.output_dir is not None:
            self._checkpoint(metrics, self.loader.epoch)
            final = self.save_samples(model, "final")
            metrics.write({"type": "sample", "step": self.global_step, "path": str(final)})
            self.save_pretrained(model, self.output_dir / "model")
        elapsed = time.perf_counter() - start_time
        return {
            "global_step": self.global_step,
            "epoch": self.loader.epoch,
            "epoch_losses": list(self.epoch_losses),
            "final_loss": self.epoch_losses[-1] if self.epoch_losses else None,
            # mean loss of the steps of an epoch that max_steps cut short (None when none)
            "partial_epoch_loss": (self._epoch_loss_sum / self._epoch_loss_count if self._epoch_loss_count else None),
            "partial_epoch_steps": self._epoch_loss_count,
            "seconds": elapsed,
            "resumed_from": str(resumed_from) if resumed_from else None,
            "output_dir": str(self.output_dir) if self.output_dir else None,
        }

    def _defer_sigint(self):
        """While training, a first Ctrl-C finishes the current step, saves a checkpoint and then raises
        KeyboardInterrupt; a second one interrupts at once. Returns the function that undoes this."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGINT)
        if previous in (signal.SIG_IGN, None):  # the process ignores Ctrl-C (started in the background)
            return lambda: None

        def handler(signum, frame):
            if self._stop_requested:
                signal.signal(signal.SIGINT, previous)
                raise KeyboardInterrupt
            self._stop_requested = True
            logger.warning("interrupt: finishing the current step and saving a checkpoint (Ctrl-C again to abort)")

        signal.signal(signal.SIGINT, handler)
        return lambda: signal.signal(signal.SIGINT, previous)

    def _after_step(self, epoch: int) -> dict[str, Any]:
        losses, self._step_losses = self._step_losses, []
        row = {
            "type": "step",
            "step": self.global_step,
            "epoch": epoch,
            "loss": float(np.mean(losses)) if losses else float("nan"),
            "lr": self.current_lr,
            "skipped_steps": self.skipped_steps,
        }
        if self._grad_norm is not None:
            row["grad_norm"] = self._grad_norm.item()
        if self.ema is not None and self.ema.cur_decay_value is not None:
            row["ema_decay"] = self.ema.cur_decay_value
        return row

    def _checkpoint(self, metrics: _MetricsLog, epoch: int) -> None:
        if self._last_checkpoint_step == self.global_step:
            return  # this step is saved already (an epoch interval and a step interval can coincide)
        path = self.save_checkpoint()
        if path is not None:
            metrics.write({"type": "checkpoint", "step": self.global_step, "epoch": epoch, "path": str(path)})
            logger.debug("checkpoint %s", path)

    def _end_epoch(self, model, epoch, epoch_start, metrics, sample_every, num_epochs) -> None:
        cfg = self.config
        mean = self._epoch_loss_sum / max(1, self._epoch_loss_count)
        self.epoch_losses.append(mean)
        seconds = time.perf_counter() - epoch_start
        metrics.write(
            {"type": "epoch", "epoch": epoch, "step": self.global_step, "mean_loss": mean, "seconds": round(seconds, 3)}
        )
        logger.info(
            "epoch %d/%d: mean loss %.5f (step %d, %.1f s)", epoch + 1, num_epochs, mean, self.global_step, seconds
        )
        self._epoch_loss_sum, self._epoch_loss_count = 0.0, 0
        done = epoch + 1
        if cfg.save_every and done % cfg.save_every == 0 and done < num_epochs:
            self._checkpoint(metrics, done)
        if sample_every and done % sample_every == 0 and done < num_epochs and self.output_dir is not None:
            path = self.save_samples(model, f"epoch-{done:04d}")
            metrics.write({"type": "sample", "step": self.global_step, "epoch": epoch, "path": str(path)})

    def _progress_bar(self):
        if not self.config.progress or not sys.stderr.isatty():
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:  # a declared dependency, but training must not fail for want of a progress bar
            logger.debug("tqdm is not installed: no progress bar")
            return None

        return tqdm(
            total=self.total_steps,
            initial=self.global_step,
            unit="step",
            dynamic_ncols=True,
            desc=f"epoch {self.loader.epoch + 1}" if self.loader is not None else None,
        )
