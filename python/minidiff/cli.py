"""The ``minidiff`` command: ``train``, ``sample`` and ``info`` (also ``python -m minidiff``).

``minidiff train`` with no arguments trains the small digits U-Net on scikit-learn's bundled 8x8
digits (the "digits" preset) and writes sample grids, metrics, checkpoints and the final model
under ``runs/digits/``. Every ``TrainingConfig`` field is also a flag (``--learning-rate``,
``--no-use-ema``, ...); values come from, in increasing priority: the dataclass defaults, the
preset, a ``--config`` file (JSON or TOML), the flags given. ``--resume latest`` continues a run
from its newest checkpoint with the configuration stored in it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main"]

# flags with a short spelling, listed first, besides the field's own (--learning-rate etc.)
_ALIASES = {
    "dataset": ["--data"],
    "output_dir": ["--out"],
    "num_epochs": ["--epochs"],
    "learning_rate": ["--lr"],
}


class _TqdmHandler(logging.StreamHandler):
    """Log lines that do not break a running progress bar."""

    def emit(self, record):
        try:
            try:
                from tqdm import tqdm
            except ImportError:  # then there are no progress bars either (see Trainer._progress_bar)
                print(self.format(record), file=sys.stderr)
            else:
                tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def _setup_logging(verbose: bool) -> None:
    log = logging.getLogger("minidiff")
    if not any(isinstance(h, _TqdmHandler) for h in log.handlers):
        handler = _TqdmHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


def _error(msg: str) -> int:
    print(f"minidiff: error: {msg}", file=sys.stderr)
    return 1


# ---- argument types


def _optional(convert):
    def parse(text: str):
        if text.lower() in ("none", "null", ""):
            return None
        return convert(text)

    parse.__name__ = convert.__name__
    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**64:  # md.Generator's range
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**64), got {value}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _json_or_file(text: str) -> dict:
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else json.loads(Path(text).read_text("utf-8"))
    except OSError as e:
        raise argparse.ArgumentTypeError(f"neither JSON nor a readable file: {e}") from None
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError("expected a JSON object of UNet2DModel fields")
    return data


def _field_parser(field: dataclasses.Field):
    kind = str(field.type)
    if kind.startswith("dict"):
        return _optional(_json_or_file)
    base = {"int": int, "float": float, "str": str}.get(kind.split(" |")[0])
    if base is None:
        raise TypeError(f"no command-line parser for field {field.name} of type {kind}")
    return _optional(base) if "None" in kind else base


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    from .training import TrainingConfig

    group = parser.add_argument_group(
        "training config", "every TrainingConfig field; [dataclass default], which a preset may change"
    )
    for f in dataclasses.fields(TrainingConfig):
        flags = _ALIASES.get(f.name, []) + [f"--{f.name.replace('_', '-')}"]
        help_text = f"{f.metadata.get('help', '')} [{f.default!r}]"
        if str(f.type) == "bool":
            group.add_argument(
                *flags, dest=f.name, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text
            )
        else:
            kind = str(f.type).split(" |")[0]
            metavar = {"int": "N", "float": "X", "str": "S", "dict": "JSON"}.get(kind, "X")
            group.add_argument(
                *flags, dest=f.name, type=_field_parser(f), default=argparse.SUPPRESS, metavar=metavar, help=help_text
            )


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .training import PRESETS

    parser = argparse.ArgumentParser(
        prog="minidiff",
        description="Train and sample DDPM/DDIM diffusion models on the minidiff engine.",
    )
    parser.add_argument("--version", action="version", version=f"minidiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{train,sample,info}")

    train = sub.add_parser(
        "train",
        help="train a diffusion U-Net (no arguments: the digits preset on the CPU)",
        description=(
            "Train a UNet2DModel. Values come from the dataclass defaults, then --preset, then --config, then "
            "the flags given. With no arguments: the 'digits' preset (1,050 steps on the bundled 8x8 digits, "
            "a few minutes on a CPU), writing runs/digits/."
        ),
    )
    train.add_argument("--config", metavar="FILE", help="a TrainingConfig as .json or .toml")
    train.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="named settings (default: the dataset's preset if there is one, e.g. 'digits', else 'none')",
    )
    train.add_argument(
        "--resume",
        metavar="WHERE",
        help="'latest' (the output directory's newest checkpoint), 'auto' (latest if any, else start fresh), "
        "or a checkpoint directory; the run continues with the checkpoint's config plus any flags given, in the "
        "run directory that holds the checkpoint unless --out (or --config) names another",
    )
    train.add_argument(
        "--overwrite", action="store_true", help="start afresh in an output directory that holds checkpoints"
    )
    train.add_argument("--save-config", metavar="FILE", help="write the resolved config (.json/.toml) and exit")
    train.add_argument(
        "--profile",
        nargs="?",
        type=_positive_int,
        const=3,
        metavar="STEPS",
        help="time STEPS training steps of this config (default 3, after a warm-up step) per op, print the "
        "table and exit; writes nothing",
    )
    train.add_argument("-v", "--verbose", action="store_true", help="log every checkpoint")
    _add_config_flags(train)

    sample = sub.add_parser(
        "sample",
        help="generate images from a trained model",
        description="Generate images and save them as a PNG grid plus an .npz of the raw [0, 1] images (N, H, W, C).",
    )
    sample.add_argument(
        "--model",
        required=True,
        metavar="DIR",
        help="a pipeline folder (model_index.json, unet/, scheduler/), a UNet folder, a run directory "
        "(its model/; its latest checkpoint while it has none), a checkpoints folder (its latest), or a "
        "checkpoint directory (its EMA weights)",
    )
    sample.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    sample.add_argument(
        "--sampler",
        choices=list(_SAMPLERS),
        default="ddim",
        help="ddim, ddpm, euler, euler-a (ancestral), dpm (DPM-Solver++ order 2), pndm or lms (default ddim)",
    )
    sample.add_argument(
        "--steps",
        type=_positive_int,
        help="denoising steps (default: 50 for DDIM, 1000 for DDPM, 20 for dpm, 30 for euler and euler-a, "
        "50 for pndm and lms)",
    )
    sample.add_argument("--eta", type=_finite_float, default=0.0, help="DDIM noise (0 = deterministic; DDIM only)")
    sample.add_argument("--seed", type=_seed, default=0)
    sample.add_argument("--out", default="samples.png", metavar="PNG", help="grid image (default samples.png)")
    sample.add_argument("--npz", metavar="FILE", help="raw images (default: the --out path with .npz)")
    sample.add_argument(
        "--class",
        dest="class_labels",
        metavar="C",
        help="class-conditional models: a class index, a comma list to cycle through, 'all' (default: "
        "each class in turn, one per grid column) or 'none' (unconditional)",
    )
    sample.add_argument(
        "--guidance", type=_finite_float, default=1.0, help="classifier-free guidance scale (default 1)"
    )
    sample.add_argument(
        "--batch-size",
        type=_positive_int,
        metavar="N",
        help="images per forward pass (default: all at once); changes the images only by float rounding",
    )
    sample.add_argument("--nrow", type=_positive_int, help="grid columns (default: near-square, or one per class)")
    sample.add_argument("--scale", type=int, help="integer upscaling of the grid (default: tiles ~32 px)")
    sample.add_argument("--device", default="cpu")
    sample.add_argument("--no-progress", dest="progress", action="store_false")

    info = sub.add_parser("info", help="version, build options, BLAS, CUDA devices")
    info.add_argument("--json", action="store_true", help="print a JSON object")
    return parser


# ---- train


def _resolve_train_config(args: argparse.Namespace):
    """(config, checkpoint_path or None, explicit flags) from the parsed arguments."""
    from . import checkpoint as ckpt
    from .training import TrainingConfig

    fields = set(TrainingConfig.field_names())
    flags = {k: v for k, v in vars(args).items() if k in fields}
    # the keys the file holds, each overriding the preset even where it equals the dataclass default
    file_values = TrainingConfig.read_values(args.config) if args.config else {}

    resume_path = None
    if args.resume:
        if args.resume in ("latest", "auto"):
            # where a fresh run with these arguments writes its checkpoints
            out = _fresh_values(args, flags, file_values)["output_dir"]
            if not out:
                raise ValueError("--resume latest needs an output directory (--out)")
            try:
                resume_path = ckpt.resolve_checkpoint(out)
            except FileNotFoundError:
                if args.resume == "latest":
                    raise FileNotFoundError(
                        f"--resume latest: no checkpoint in {Path(out) / ckpt.CHECKPOINTS_DIR} "
                        "(use --resume auto to start fresh when there is none)"
                    ) from None
        else:
            resume_path = ckpt.resolve_checkpoint(args.resume)
    if resume_path is not None:
        run_dir = _run_dir_of(resume_path)
        if run_dir is not None and "output_dir" not in flags and "output_dir" not in file_values:
            # the run goes on where its checkpoint lies, not in the output_dir stored in it: a copied or
            # moved run would otherwise write into (and prune) the checkpoints of the original
            flags["output_dir"] = str(run_dir)
        saved = ckpt.load_checkpoint(resume_path).state
        base = saved.get("config", {})
        config = TrainingConfig.from_dict({**base, **file_values, **flags})
        return config, resume_path, flags

    return TrainingConfig.from_dict(_fresh_values(args, flags, file_values)), None, flags


def _run_dir_of(checkpoint: Path) -> Path | None:
    """The output directory of a Trainer checkpoint ``<run>/checkpoints/step-N``, or None for one elsewhere."""
    from . import checkpoint as ckpt

    root = Path(checkpoint).parent
    if root.name != ckpt.CHECKPOINTS_DIR:  # e.g. "." for a checkpoint given from inside checkpoints/
        root = root.resolve()
    return root.parent if root.name == ckpt.CHECKPOINTS_DIR else None


def _fresh_values(args: argparse.Namespace, flags: dict[str, Any], file_values: dict[str, Any]) -> dict[str, Any]:
    """The config fields of a run that does not resume: the preset, then the config file, then the flags; the
    output directory defaults to runs/<dataset name>."""
    from .training import PRESETS

    preset = args.preset or _default_preset(flags.get("dataset", file_values.get("dataset", "digits")))
    values = {**PRESETS[preset], **file_values, **flags}
    if "output_dir" not in values:
        name = Path(str(values.get("dataset", "digits"))).name or "data"
        values["output_dir"] = str(Path("runs") / Path(name).stem)
    return values


def _default_preset(dataset: str) -> str:
    from .training import PRESETS

    return dataset if dataset in PRESETS and dataset != "none" else "none"


def _cmd_train(args: argparse.Namespace) -> int:
    import minidiff as md

    from .training import Trainer, default_model_config

    _setup_logging(args.verbose)
    log = logging.getLogger("minidiff.cli")
    if args.overwrite and args.resume:
        # a resumed run keeps its checkpoints, so --overwrite would be ignored
        return _error(f"--overwrite starts afresh and --resume {args.resume} continues a run: pass one of them")
    config, resume_path, _ = _resolve_train_config(args)
    if args.save_config:
        config.save(args.save_config)
        print(f"wrote {args.save_config}")
        return 0
    if config.device.startswith("cuda") and not md.cuda.is_available():
        return _error(f"--device {config.device}: this build or machine has no CUDA device (see `minidiff info`)")
    if config.num_threads:
        md.set_num_threads(config.num_threads)

    trainer = Trainer(config)
    dataset = trainer._as_dataset(config.dataset)
    embeds = None
    if config.class_conditional:
        num_classes = config.num_classes or dataset.num_classes
        if not num_classes:
            return _error(f"--class-conditional: the dataset {config.dataset!r} has no labels")
        embeds = num_classes + 1  # the last embedding is the null class of classifier-free guidance
    if config.model_config is None:
        height, width = dataset.image_size
        if height != width:
            return _error(f"images are {height}x{width}; pass --image-size to crop them square")
        config = config.replace(model_config=default_model_config(height, dataset.channels, embeds))
        trainer = Trainer(config)
    else:
        model_config = dict(config.model_config)
        if embeds and not model_config.get("num_class_embeds"):
            # a preset's (unconditional) model, asked to be class-conditional
            model_config["num_class_embeds"] = embeds
        if model_config.get("sample_size") is None:  # diffusers' default: the sampling size comes from the data
            height, width = dataset.image_size
            model_config["sample_size"] = height if height == width else [height, width]
        if model_config != config.model_config:
            config = config.replace(model_config=model_config)
            trainer = Trainer(config)
    md.manual_seed(config.seed)
    model = md.UNet2DModel(**config.model_config)
    if args.profile:
        # max_steps: the learning-rate schedules need the run's length
        profile_config = trainer.config.replace(output_dir=None, max_steps=args.profile + 1)
        return _profile_training(profile_config, model, dataset, args.profile)
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "training a %.2fM-parameter U-Net on %s (%d images %s) for %d epochs, batch %d, on %s -> %s",
        n_params / 1e6,
        config.dataset,
        len(dataset),
        "x".join(str(s) for s in (dataset.channels, *dataset.image_size)),
        config.num_epochs,
        config.batch_size,
        config.device,
        config.output_dir or "(no output)",
    )
    start = time.perf_counter()
    try:
        result = trainer.train(model, dataset, resume_from=resume_path, overwrite=args.overwrite)
    except KeyboardInterrupt:
        last = trainer._last_checkpoint_step
        where = f"step {last}" if last is not None else "none yet"
        then = (
            f"Continue with: minidiff train --resume latest --out {config.output_dir}"
            if config.output_dir
            else "Nothing was saved (no output directory)."
        )
        print(f"\ninterrupted at step {trainer.global_step}; last checkpoint: {where}. {then}", file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - start
    losses = result["epoch_losses"]
    if result.get("partial_epoch_loss") is not None:  # max_steps stopped the run inside an epoch
        loss = f"mean loss of the last {result['partial_epoch_steps']} steps (an unfinished epoch) "
        loss += f"{result['partial_epoch_loss']:.5f}"
    else:
        loss = f"final epoch loss {losses[-1]:.5f}" if losses else "no epoch finished"
    log.info("done: %d steps in %.1f s; %s", result["global_step"], elapsed, loss)
    if config.output_dir:
        out = Path(config.output_dir)
        log.info("samples: %s", out / "samples" / "final.png")
        log.info("model:   %s  (minidiff sample --model %s)", out / "model", out / "model")
    return 0


def _profile_training(config, model, dataset, steps: int) -> int:
    """minidiff train --profile: per-op times of `steps` optimiser steps after one warm-up step."""
    import minidiff as md

    from .data import DataLoader
    from .training import Trainer

    trainer = Trainer(config)
    k = config.gradient_accumulation_steps
    loader = DataLoader(dataset, config.batch_size, shuffle=True, seed=config.seed, device=trainer.device)

    def batches():
        while True:
            yield from loader

    feed = batches()

    def one_step():
        for _ in range(k):
            images, labels = next(feed)
            trainer.train_step(model, images, labels if config.class_conditional else None)

    one_step()  # warm-up: first-call allocations and caches
    with md.profiler.profile() as prof:
        for _ in range(steps):
            one_step()
    print(
        f"{steps} optimiser step(s) of batch {config.batch_size} x {k} micro-batch(es) on {config.device}, "
        f"mixed_precision={config.mixed_precision}: {prof.wall_seconds / steps * 1e3:.1f} ms per step"
    )
    print(prof.table())
    return 0


# ---- sample


def _load_for_sampling(path: Path, device: str):
    """(unet, scheduler) from a model folder, a run directory or a checkpoint directory."""
    from . import checkpoint as ckpt
    from .pipelines import load_pipeline
    from .schedulers import DDIMScheduler, DDPMScheduler
    from .unet import UNet2DModel

    if (path / "model").is_dir() and not (path / "config.json").is_file():
        path = path / "model"
    elif (path / ckpt.CHECKPOINTS_DIR).is_dir() or (path / ckpt.LATEST_FILE).is_file():
        # a run without model/ (stopped before its end) or a checkpoints folder: its newest checkpoint
        path = ckpt.resolve_checkpoint(path)
    if (path / ckpt.STATE_FILE).is_file():
        c = ckpt.load_checkpoint(path)
        if not isinstance(c.state.get("model_config"), dict) or "model" not in c.tensors:
            raise ckpt.CheckpointError(f"checkpoint {c.path} is not a Trainer checkpoint: it holds no model config")
        unet = UNet2DModel.from_config(c.state["model_config"])
        weights = {**c.tensors["model"], **c.tensors.get("ema", {})}  # the EMA weights where there are any
        unet.load_state_dict(weights, strict=True)
        cls = DDIMScheduler if c.state.get("scheduler_class") == "DDIMScheduler" else DDPMScheduler
        return unet.to(device), cls.from_config(c.state["scheduler_config"])
    return load_pipeline(path, device=device)


def _parse_classes(text: str | None, n: int, num_classes: int | None):
    if num_classes is None:
        if text not in (None, "none"):
            raise ValueError("--class: the model is unconditional (it has no num_class_embeds)")
        return None
    if text == "none":
        return None
    if text is None or text == "all":
        return np.arange(n) % num_classes
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--class: expected an int, a comma list, 'all' or 'none', got {text!r}") from None
    if not values or min(values) < 0 or max(values) >= num_classes:
        raise ValueError(f"--class: classes must lie in [0, {num_classes}), got {text!r}")
    return np.resize(np.asarray(values, dtype=np.int64), n)


# --sampler: the scheduler class (md.schedulers) and default steps of each; ddim and ddpm keep
# their pipelines' defaults
_SAMPLERS = {
    "ddim": (None, None),
    "ddpm": (None, None),
    "euler": ("EulerDiscreteScheduler", 30),
    "euler-a": ("EulerAncestralDiscreteScheduler", 30),
    "dpm": ("DPMSolverMultistepScheduler", 20),
    "pndm": ("PNDMScheduler", 50),
    "lms": ("LMSDiscreteScheduler", 50),
}


def _cmd_sample(args: argparse.Namespace) -> int:
    import minidiff as md

    from .images import save_grid, save_npz
    from .pipelines import DDIMPipeline, DDPMPipeline

    if args.n < 1:
        return _error(f"--n must be positive, got {args.n}")
    if args.device.startswith("cuda") and not md.cuda.is_available():
        return _error(f"--device {args.device}: this build or machine has no CUDA device")
    unet, scheduler = _load_for_sampling(Path(args.model), args.device)
    embeds = unet.config.get("num_class_embeds")
    num_classes = int(embeds) - 1 if embeds else None
    labels = _parse_classes(args.class_labels, args.n, num_classes)
    class_name, default_steps = _SAMPLERS[args.sampler]
    if args.eta and args.sampler != "ddim":
        return _error(f"--eta {args.eta}: only the ddim sampler takes eta, not --sampler {args.sampler}")
    if args.guidance != 1.0 and labels is None:
        # the pipeline would sample unconditionally and drop the scale without a word
        what = "the model is unconditional" if num_classes is None else "--class none samples unconditionally"
        return _error(f"--guidance {args.guidance}: classifier-free guidance needs class labels, but {what}")
    try:
        if class_name is not None:  # the trained schedule, sampled with another method
            scheduler = getattr(md.schedulers, class_name).from_config(scheduler.config)
        pipe = (DDIMPipeline if args.sampler == "ddim" else DDPMPipeline)(unet, scheduler)
    except NotImplementedError as e:  # e.g. DDIM has no sigmoid beta schedule (nor has diffusers')
        return _error(f"--sampler {args.sampler}: {e}; try --sampler ddpm")
    start = time.perf_counter()
    # one call for all images: the noise is drawn for all n at once, so --batch-size (the chunks of
    # the forward passes) changes the images of a seed only by the float rounding of the convolutions
    images = pipe(
        args.n,
        num_inference_steps=args.steps or default_steps,
        generator=md.Generator(args.seed),
        class_labels=labels,
        guidance_scale=args.guidance,
        eta=args.eta,
        progress=args.progress and sys.stderr.isatty(),
        forward_batch_size=args.batch_size,
    )
    elapsed = time.perf_counter() - start
    nrow = args.nrow or (num_classes if labels is not None and args.class_labels in (None, "all") else None)
    save_grid(images, args.out, nrow=nrow, scale=args.scale)
    npz = args.npz or str(Path(args.out).with_suffix(".npz"))
    save_npz(images, npz, class_labels=labels, seed=args.seed, sampler=args.sampler, eta=args.eta)
    print(f"{args.n} images in {elapsed:.1f} s -> {args.out}, {npz}")
    return 0


# ---- info


def _info() -> dict[str, Any]:
    import minidiff as md

    build = dict(md._core.build_info())
    info: dict[str, Any] = {
        "minidiff": md.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "build": build,
        "threads": md.get_num_threads(),
        "cuda_built": bool(build.get("cuda")),
        "cuda_available": md.cuda.is_available(),
        "cuda_devices": [],
    }
    if md.cuda.is_available():
        info["cuda_devices"] = [md.cuda.get_device_name(i) for i in range(md.cuda.device_count())]
    from importlib import metadata

    versions = {}
    # distribution metadata, not imports: importing torch alone takes seconds
    for name in ("numpy", "safetensors", "pillow", "tqdm", "scikit-learn", "scipy-openblas32", "torch", "diffusers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info["packages"] = versions
    return info


def _cmd_info(args: argparse.Namespace) -> int:
    info = _info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    build = info["build"]
    rows = [
        ("minidiff", info["minidiff"]),
        ("python", f"{info['python']} ({info['platform']})"),
        ("compiler", build.get("compiler")),
        ("BLAS", build.get("blas")),
        ("threads", f"{info['threads']} (OpenMP {build.get('openmp_threads')}, BLAS {build.get('blas_threads')})"),
        ("CUDA backend", "built" if info["cuda_built"] else "not built (CPU only)"),
        ("CUDA devices", ", ".join(info["cuda_devices"]) or "none"),
    ]
    rows += [(name, version or "not installed") for name, version in info["packages"].items()]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {"train": _cmd_train, "sample": _cmd_sample, "info": _cmd_info}
    try:
        return handlers[args.command](args)
    # CheckpointError is a ValueError; FloatingPointError (a diverged loss) an ArithmeticError;
    # OSError covers a missing file, a file where a directory should be, a full disk, no permission
    except (ValueError, TypeError, ArithmeticError, NotImplementedError, OSError) as e:
        if os.environ.get("MINIDIFF_DEBUG"):
            raise
        return _error(_describe(e))


def _describe(e: Exception) -> str:
    """The message of an error; the path and the system's reason for an OSError from the OS."""
    if isinstance(e, OSError) and e.strerror and e.filename is not None:
        paths = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else str(e.filename)
        return f"{paths}: {e.strerror}"
    return str(e)
