"""Sampling pipelines (``md.pipelines``): DDPM and DDIM generation from a trained UNet2DModel.

``DDPMPipeline(unet, scheduler)(batch_size, num_inference_steps, generator)`` runs the reverse
process from Gaussian noise and returns images as a NumPy array (N, H, W, C) in [0, 1], as
diffusers' pipelines do with ``output_type="np"``. All randomness (the initial noise and every
stochastic step) comes from ``generator``, so a seed fixes the images. As in diffusers,
DDPMPipeline runs whatever scheduler it is given (Euler, DPM-Solver++, ... from
``md.schedulers``): the loop scales the model input with ``scheduler.scale_model_input``, starts
from noise of std ``scheduler.init_noise_sigma`` and passes the timesteps as the scheduler gives them.

Class-conditional models (``num_class_embeds`` set) are trained with label dropout to a "null"
class, the last embedding index; sampling with ``guidance_scale`` s != 1 applies classifier-free
guidance, ``out = out_null + s * (out_cond - out_null)``, with the conditional and the null
halves evaluated in one batched forward pass.

Folders use diffusers' pipeline layout (``model_index.json``, ``unet/``, ``scheduler/``), so
``diffusers.DDPMPipeline.from_pretrained`` reads what ``save_pretrained`` writes and vice versa.
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from pathlib import Path

import numpy as np

from . import _core, schedulers
from . import functional as F
from .autograd import no_grad
from .checkpoint import atomic_write_json
from .schedulers import CONFIG_NAME as SCHEDULER_CONFIG_NAME
from .schedulers import DDIMScheduler, DDPMScheduler, _as_numpy, _randn
from .schedulers_more import _explicit_fields
from .unet import CONFIG_NAME as UNET_CONFIG_NAME
from .unet import UNet2DModel

__all__ = ["DDIMPipeline", "DDPMPipeline", "DiffusionPipeline", "load_pipeline"]

MODEL_INDEX = "model_index.json"


class ImageArray(np.ndarray):
    """The (N, H, W, C) images a pipeline returns: a NumPy array that also answers ``.images``
    (itself, as a plain array), as diffusers' ImagePipelineOutput does. Arithmetic on it gives
    plain arrays."""

    @property
    def images(self) -> np.ndarray:
        return self.view(np.ndarray)

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        out = np.asarray(obj).view(np.ndarray)
        return out[()] if return_scalar else out


class ImageList(list):
    """The PIL images a pipeline returns (``output_type="pil"``), also as ``.images``."""

    @property
    def images(self) -> list:
        return list(self)


def _model_device(unet) -> str:
    first = next(unet.parameters(), None)
    return str(first.device) if first is not None else "cpu"


def _null_class(unet) -> int | None:
    n = unet.config.get("num_class_embeds")
    return int(n) - 1 if n else None


def _class_label_tensor(class_labels, batch_size: int, num_class_embeds: int, device: str):
    """An int64 tensor (batch_size,) from an int, a sequence, a NumPy array or an md tensor."""
    labels = _as_numpy(class_labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"pipeline: class_labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64).reshape(-1)
    if labels.size == 1:
        labels = np.full(batch_size, labels[0], dtype=np.int64)
    if labels.size != batch_size:
        raise ValueError(f"pipeline: {labels.size} class labels for batch_size {batch_size}")
    if labels.min() < 0 or labels.max() >= num_class_embeds:
        raise ValueError(
            f"pipeline: class labels must lie in [0, {num_class_embeds}) (the model's num_class_embeds; "
            f"{num_class_embeds - 1} is the null class), got values in [{labels.min()}, {labels.max()}]"
        )
    return _core.tensor(labels, dtype="int64", device=device)


def _timestep_for_model(t, device: str):
    """The U-Net's timestep argument: a Python int for integer schedules (as before), else a float32
    value on the model's device (Euler's timesteps fall between training steps; a Python float would
    be truncated, as diffusers truncates it)."""
    if isinstance(t, _core.Tensor):
        integer, value = t.dtype == "int64", t.item()
    else:
        array = np.asarray(t)
        integer, value = array.dtype.kind in "iu", array.item()
    if integer:
        return int(value)
    return _core.tensor(np.asarray(value, dtype=np.float32), dtype="float32", device=device)


class DiffusionPipeline:
    """Shared sampling loop; subclasses fix the default scheduler class and the default step count."""

    scheduler_class: type = DDPMScheduler
    # False: any scheduler with set_timesteps / timesteps / step is used as given (diffusers' DDPMPipeline)
    convert_scheduler = True
    default_num_inference_steps = 50

    def __init__(self, unet, scheduler=None):
        if scheduler is None:
            scheduler = self.scheduler_class()
        elif not isinstance(scheduler, self.scheduler_class):
            if self.convert_scheduler:
                # diffusers' DDIMPipeline converts whatever scheduler it is given the same way, passing on
                # only the fields that scheduler was given (so an Euler's "linspace" default stays behind)
                scheduler = self.scheduler_class.from_config(_explicit_fields(scheduler.config))
            else:
                missing = [a for a in ("set_timesteps", "step", "timesteps") if not hasattr(scheduler, a)]
                if missing:
                    raise TypeError(f"{type(self).__name__}: the scheduler has no {', '.join(missing)}")
        self.unet = unet
        self.scheduler = scheduler

    @property
    def device(self) -> str:
        return _model_device(self.unet)

    def _step_kwargs(self, eta: float, generator, use_clipped_model_output=None) -> dict:
        """``eta``, ``generator`` and ``use_clipped_model_output`` for ``scheduler.step``, each only where
        its signature takes it (and where given, for the last)."""
        params = inspect.signature(self.scheduler.step).parameters
        name = type(self.scheduler).__name__
        kwargs = {}
        if "eta" in params:
            kwargs["eta"] = eta
        elif eta != 0.0:
            raise ValueError(f"{type(self).__name__}: eta={eta} is not supported by {name}")
        if "generator" in params:
            kwargs["generator"] = generator
        if use_clipped_model_output is not None:
            if "use_clipped_model_output" not in params:
                raise ValueError(f"{type(self).__name__}: use_clipped_model_output is not supported by {name}")
            kwargs["use_clipped_model_output"] = bool(use_clipped_model_output)
        return kwargs

    def _model_output(self, sample, timestep, labels, guidance_scale: float):
        if labels is None:
            return self.unet(sample, timestep)
        if guidance_scale == 1.0:
            return self.unet(sample, timestep, labels)
        null = _core.full(tuple(labels.shape), _null_class(self.unet), dtype="int64", device=labels.device)
        both = self.unet(F.cat([sample, sample], 0), timestep, F.cat([labels, null], 0))
        conditional, unconditional = both.chunk(2, 0)
        return unconditional + (conditional - unconditional) * guidance_scale

    def _chunked_model_output(self, sample, timestep, labels, guidance_scale: float, chunk: int | None):
        """The model output for all images, in forward passes of at most ``chunk`` images each."""
        n = sample.shape[0]
        if chunk is None or chunk >= n:
            return self._model_output(sample, timestep, labels, guidance_scale)
        outs = []
        for first in range(0, n, chunk):
            part = slice(first, min(first + chunk, n))
            outs.append(
                self._model_output(sample[part], timestep, None if labels is None else labels[part], guidance_scale)
            )
        return F.cat(outs, 0)

    def __call__(
        self,
        batch_size: int = 1,
        num_inference_steps: int | None = None,
        generator=None,
        class_labels=None,
        guidance_scale: float = 1.0,
        eta: float = 0.0,
        output_type: str = "np",
        progress: bool = False,
        forward_batch_size: int | None = None,
        return_dict: bool = True,
        use_clipped_model_output: bool | None = None,
    ):
        """Generates ``batch_size`` images.

        ``class_labels`` (one int for all, or one per image) selects classes of a class-conditional
        model; without them such a model samples unconditionally (the null class). ``eta``
        controls DDIM's stochasticity (0 = deterministic); DDPM ignores it, and a scheduler whose
        ``step`` has no ``eta`` (Euler, DPM-Solver, ...) accepts only eta=0. ``output_type``:
        "np" (NumPy (N, H, W, C) in [0, 1]), "pil" (a list of PIL images), "pt" (an md tensor
        (N, C, H, W) in [0, 1], as diffusers' "pt") or "tensor" (the raw md tensor (N, C, H, W) in
        [-1, 1]). ``generator`` is one md.Generator or, as in diffusers, a list of one per image (image
        i then depends on generator[i] alone: it is what a batch of one gets from that generator).
        ``use_clipped_model_output`` goes to ``scheduler.step`` where given (DDIM).
        ``forward_batch_size`` caps the images of one U-Net forward pass (default: all ``batch_size``)
        to bound memory; the noise is still drawn for all images at once, so it does not change the
        images beyond the float rounding of batched convolutions.

        The result is the images themselves; NumPy and PIL results also answer ``.images``, so
        diffusers' spelling ``pipe(...).images`` works (a "tensor" result does not), and
        ``return_dict=False`` gives the tuple ``(images,)``.
        """
        images = self._generate(
            batch_size, num_inference_steps, generator, class_labels, guidance_scale, eta, output_type, progress,
            forward_batch_size, use_clipped_model_output,
        )  # fmt: skip
        if not return_dict:
            return (images,)
        if isinstance(images, np.ndarray):
            return images.view(ImageArray)
        return images if isinstance(images, _core.Tensor) else ImageList(images)

    def _generate(
        self, batch_size, num_inference_steps, generator, class_labels, guidance_scale, eta, output_type, progress,
        forward_batch_size, use_clipped_model_output=None,
    ):  # fmt: skip
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"{type(self).__name__}: batch_size must be a positive int, got {batch_size!r}")
        if forward_batch_size is not None and (
            isinstance(forward_batch_size, bool)
            or not isinstance(forward_batch_size, (int, np.integer))
            or forward_batch_size < 1
        ):
            raise ValueError(
                f"{type(self).__name__}: forward_batch_size must be a positive int or None, got {forward_batch_size!r}"
            )
        if output_type not in ("np", "numpy", "pil", "pt", "tensor"):
            raise ValueError(
                f"{type(self).__name__}: output_type must be 'np', 'pil', 'pt' or 'tensor', got {output_type!r}"
            )
        if isinstance(generator, (list, tuple)) and len(generator) != batch_size:
            raise ValueError(
                f"{type(self).__name__}: {len(generator)} generators for batch_size {batch_size}; pass one per image"
            )
        steps = self.default_num_inference_steps if num_inference_steps is None else num_inference_steps
        cfg = self.unet.config
        device = self.device
        null = _null_class(self.unet)
        labels = None
        if class_labels is not None:
            if null is None:
                raise ValueError(
                    f"{type(self).__name__}: class_labels given but the model is unconditional "
                    "(num_class_embeds is None)"
                )
            labels = _class_label_tensor(class_labels, batch_size, null + 1, device)
        elif null is not None:
            labels = _core.full((batch_size,), null, dtype="int64", device=device)
            guidance_scale = 1.0  # the null class is the unconditional model: nothing to guide towards
        if guidance_scale < 0:
            raise ValueError(f"{type(self).__name__}: guidance_scale must be >= 0, got {guidance_scale}")

        size = cfg["sample_size"]
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        shape = (int(batch_size), int(cfg["in_channels"]), h, w)
        self.scheduler.set_timesteps(steps)
        timesteps = self.scheduler.timesteps
        step_kwargs = self._step_kwargs(eta, generator, use_clipped_model_output)
        scale_model_input = getattr(self.scheduler, "scale_model_input", None)
        if progress:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # a declared dependency; sampling does not need it
                tqdm = None
            if tqdm is not None:
                timesteps = tqdm(timesteps, desc="sampling", leave=False)

        was_training = self.unet.training
        self.unet.eval()
        try:
            with no_grad():
                sample = _randn(type(self).__name__, shape, generator, device) * self.scheduler.init_noise_sigma
                for t in timesteps:
                    model_input = sample if scale_model_input is None else scale_model_input(sample, t)
                    out = self._chunked_model_output(
                        model_input, _timestep_for_model(t, device), labels, float(guidance_scale), forward_batch_size
                    )
                    # one step over all images: its noise, drawn for the whole batch, does not depend on the chunks
                    sample = self.scheduler.step(out, t, sample, **step_kwargs).prev_sample
        finally:
            if was_training:
                self.unet.train()
        if output_type == "tensor":
            return sample
        if output_type == "pt":
            return (sample * 0.5 + 0.5).clamp(0.0, 1.0)
        images = np.clip(sample.numpy().transpose(0, 2, 3, 1) * 0.5 + 0.5, 0.0, 1.0).astype(np.float32)
        if output_type == "pil":
            from PIL import Image

            pixels = np.rint(images * 255.0).astype(np.uint8)
            return [Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p) for p in pixels]
        return images

    # -- folders

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, device=None, scheduler=None):
        """Loads a pipeline folder (``unet/`` + ``scheduler/``) or a bare UNet folder.

        A bare UNet folder (``config.json`` + weights) may hold a ``scheduler_config.json``; without
        one the scheduler has its default config. ``scheduler`` overrides whatever the folder holds.
        """
        with warnings.catch_warnings():
            if scheduler is not None:  # the folder's scheduler is not used: no word about its class
                warnings.filterwarnings("ignore", message=".*which minidiff does not implement")
            unet, folder_scheduler = load_pipeline(path, device=device)
        return cls(unet, scheduler if scheduler is not None else folder_scheduler)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Writes ``model_index.json``, ``unet/`` and ``scheduler/`` in diffusers' layout."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(folder / "unet")
        sched_dir = folder / "scheduler"
        sched_dir.mkdir(exist_ok=True)
        from . import __version__

        atomic_write_json(
            sched_dir / SCHEDULER_CONFIG_NAME,
            {"_class_name": type(self.scheduler).__name__, "_minidiff_version": __version__, **self.scheduler.config},
        )
        atomic_write_json(
            folder / MODEL_INDEX,
            {
                "_class_name": type(self).__name__,
                "_diffusers_version": "0.30.0",
                "scheduler": ["diffusers", type(self.scheduler).__name__],
                "unet": ["diffusers", "UNet2DModel"],
            },
        )


class DDPMPipeline(DiffusionPipeline):
    """Ancestral DDPM sampling (Ho et al. 2020); ``num_inference_steps`` defaults to 1000.

    Like diffusers' DDPMPipeline it runs any scheduler it is given as is (e.g. a
    ``DPMSolverMultistepScheduler.from_config(ddpm_scheduler.config)`` for 20-step sampling).
    """

    scheduler_class = DDPMScheduler
    convert_scheduler = False
    default_num_inference_steps = 1000


class DDIMPipeline(DiffusionPipeline):
    """DDIM sampling (Song et al. 2021); ``eta`` = 0 is deterministic given the initial noise."""

    scheduler_class = DDIMScheduler
    default_num_inference_steps = 50


# the scheduler classes by the name a config's "_class_name" gives
_SCHEDULERS = {name: getattr(schedulers, name) for name in schedulers.__all__ if name.endswith("Scheduler")}


def load_pipeline(path: str | os.PathLike, device=None):
    """``(unet, scheduler)`` from a pipeline folder or a bare UNet folder (see ``from_pretrained``)."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"no model folder at {folder}")
    if (folder / "unet" / UNET_CONFIG_NAME).is_file():
        unet_dir, sched_dir = folder / "unet", folder / "scheduler"
    elif (folder / UNET_CONFIG_NAME).is_file():
        unet_dir, sched_dir = folder, folder
    else:
        raise FileNotFoundError(
            f"{folder} is not a model folder: expected unet/{UNET_CONFIG_NAME} (a pipeline) or {UNET_CONFIG_NAME}"
        )
    unet = UNet2DModel.from_pretrained(unet_dir, device=device)
    sched_file = sched_dir / SCHEDULER_CONFIG_NAME
    if sched_file.is_file():
        try:
            config = json.loads(sched_file.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ValueError(f"cannot read scheduler config {sched_file}: {e}") from None
        if not isinstance(config, dict):
            raise ValueError(f"scheduler config {sched_file} holds a {type(config).__name__}, not a JSON object")
        name = config.get("_class_name")
        scheduler_cls = _SCHEDULERS.get(name, DDPMScheduler)
        if name is not None and name not in _SCHEDULERS:
            # the noise schedule is the same, the sampling method is not: say so rather than switch silently
            warnings.warn(
                f"{sched_file} names {name}, which minidiff does not implement; sampling with DDPMScheduler "
                f"on the same noise schedule (pass scheduler= to choose one of {sorted(_SCHEDULERS)})",
                stacklevel=3,
            )
        scheduler = scheduler_cls.from_config(config)
    else:
        scheduler = DDPMScheduler()
    return unet, scheduler
