"""``md.UNet2DModel``: diffusers' UNet2DModel on the native core, with diffusers' config and
folder format (``config.json`` + ``diffusion_pytorch_model.safetensors``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from . import _core
from .checkpoint import atomic_write_bytes

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"

# Keys of the deprecated attention blocks in old diffusers checkpoints, and their current names.
_OLD_ATTENTION_KEYS = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


class FrozenConfig(dict):
    """The model config: a dict whose entries are also attributes (``model.config.in_channels``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no field '{name}'") from None

    def __setitem__(self, key, value):
        raise TypeError("the config of a built model cannot be changed; build a new model instead")


def _native_config(config: dict) -> tuple[dict, dict]:
    """Splits a diffusers config into what the native model is built from and the values its config
    must report as given, where diffusers reads a value more loosely than the native parser:
    a ``(height, width)`` sample_size, ``time_embedding_dim=0`` (diffusers' ``or``: the default
    width), block types with the old ``UNetRes`` prefix, and a ``None`` down/upsample_type ("conv")."""
    native, shown = dict(config), {}
    size = config.get("sample_size")
    if isinstance(size, (list, tuple)):
        if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size):
            raise ValueError(f"UNet2DModel: sample_size must be an int or a (height, width) pair, got {size!r}")
        shown["sample_size"] = tuple(int(s) for s in size)
        native["sample_size"] = int(size[0])  # the native config holds one int; the pair is reported above
    width = config.get("time_embedding_dim")
    if isinstance(width, (int, np.integer)) and not isinstance(width, bool) and width == 0:
        shown["time_embedding_dim"] = 0
        native["time_embedding_dim"] = None
    for key in ("down_block_types", "up_block_types"):
        types = config.get(key)
        if isinstance(types, (list, tuple)) and any(isinstance(t, str) and t.startswith("UNetRes") for t in types):
            shown[key] = tuple(types)
            native[key] = [t[len("UNetRes") :] if isinstance(t, str) and t.startswith("UNetRes") else t for t in types]
    for key in ("downsample_type", "upsample_type"):
        if key in config and config[key] in (None, ""):
            shown[key] = config[key]
            native[key] = "conv"
    return native, shown


def _weights_name(variant: str | None) -> str:
    """diffusers' file name: ``diffusion_pytorch_model[.variant].safetensors``."""
    if variant is None:
        return WEIGHTS_NAME
    stem, ext = WEIGHTS_NAME.rsplit(".", 1)
    return f"{stem}.{variant}.{ext}"


# safetensors dtype names -> how their bytes read in NumPy (bf16: the upper halves of float32s)
_SAFETENSORS_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "BF16": "<u2", "I64": "<i8", "I32": "<i4"}


def _read_safetensors(path: Path) -> dict:
    """The tensors of a safetensors file as NumPy arrays: the floats (F32, F16, F64 and BF16, which
    ``safetensors.numpy`` cannot read) as float32, exactly widened; the integers as int64. Any
    inconsistency in the file is a ValueError naming it."""
    data = memoryview(path.read_bytes())

    def bad(why):
        return ValueError(f"UNet2DModel.from_pretrained: {path} is not a valid safetensors file ({why})")

    if len(data) < 8:
        raise bad("shorter than its header size")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise bad(f"header of {size} bytes in a file of {len(data)}")
    try:
        header = json.loads(bytes(data[8 : 8 + size]))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise bad(f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    body = data[8 + size :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], [int(n) for n in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise bad(f"entry {name!r} lacks dtype, shape or data_offsets") from None
        if dtype not in _SAFETENSORS_DTYPES:
            raise bad(f"{name!r} has dtype {dtype}, which minidiff does not read")
        if not 0 <= begin <= end <= len(body):
            raise bad(f"{name!r} lies outside the file")
        raw = np.frombuffer(body[begin:end], dtype=_SAFETENSORS_DTYPES[dtype])
        if raw.size * raw.itemsize != end - begin or raw.size != int(np.prod(shape, dtype=np.int64)):
            raise bad(f"{name!r} holds {end - begin} bytes for shape {shape} of {dtype}")
        if dtype == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        out[name] = raw.reshape(shape).astype(np.int64 if dtype.startswith("I") else np.float32)
    return out


def _check_float32(op: str, dtype) -> None:
    """torch_dtype= of diffusers' loaders: the model holds float32 weights (bf16 is a training
    option, ``TrainingConfig.mixed_precision``), so float32 or None only."""
    if dtype is not None and str(dtype).rsplit(".", 1)[-1] not in ("float32", "float"):
        raise ValueError(
            f"UNet2DModel.{op}: torch_dtype={dtype} is not supported (the model holds float32 weights; "
            "for bf16 training use TrainingConfig.mixed_precision='bf16')"
        )


def _rename_old_keys(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if len(parts) >= 2 and parts[-2] in _OLD_ATTENTION_KEYS:
            key = ".".join(parts[:-2] + [_OLD_ATTENTION_KEYS[parts[-2]], parts[-1]])
        out[key] = value
    return out


class UNet2DModel(_core.nn.UNet2DModel):
    """diffusers' UNet2DModel: same config fields, same parameter names, same outputs.

    ``model(sample, timestep, class_labels=None)`` returns the predicted tensor (which also has a
    ``.sample`` attribute, like diffusers' output object).
    """

    config_name = CONFIG_NAME
    # no instance layout of its own (attributes still go to the native class's __dict__), so a copy
    # the native layer makes of itself can take this class: what copy.deepcopy does (serialization.py)
    __slots__ = ()

    def __init__(self, **config):
        native, shown = _native_config(config)
        super().__init__(**native)
        # a plain attribute: copy.deepcopy carries it over (serialization._copy_instance_dict)
        self._config_as_given = shown

    @property
    def config(self) -> FrozenConfig:
        return FrozenConfig({**self._config_dict, **getattr(self, "_config_as_given", {})})

    @property
    def dtype(self) -> str:
        return "float32"

    @classmethod
    def from_config(cls, config: dict) -> UNet2DModel:
        """The model a diffusers config describes. As diffusers', fields starting with ``_`` are
        metadata, and fields this version does not know are left out with a warning (the
        constructor itself refuses them)."""
        known = set(_core.nn.UNet2DModel._config_fields())
        fields = {k: v for k, v in dict(config).items() if not k.startswith("_")}
        unknown = sorted(k for k in fields if k not in known)
        if unknown:
            warnings.warn(
                f"UNet2DModel: the config fields {unknown} are not expected and will be ignored",
                UserWarning,
                stacklevel=2,
            )
        return cls(**{k: v for k, v in fields.items() if k in known})

    @classmethod
    def from_pretrained(
        cls,
        path,
        subfolder: str | None = None,
        device=None,
        *,
        variant: str | None = None,
        torch_dtype=None,
        use_safetensors: bool | None = None,
        low_cpu_mem_usage: bool = True,
    ) -> UNet2DModel:
        """Reads a diffusers folder: ``config.json`` and ``diffusion_pytorch_model[.variant].safetensors``
        (float32, float16 or bf16 weights, read as float32). ``torch_dtype`` may be float32 or None;
        ``use_safetensors=False`` is refused (minidiff reads no pickled ``.bin`` weights);
        ``low_cpu_mem_usage`` is accepted and changes nothing (the weights are read once)."""
        _check_float32("from_pretrained", torch_dtype)
        if use_safetensors is False:
            raise ValueError("UNet2DModel.from_pretrained: use_safetensors=False is not supported (safetensors only)")
        folder = Path(path) / subfolder if subfolder else Path(path)
        config_path = folder / CONFIG_NAME
        weights_path = folder / _weights_name(variant)
        if not config_path.is_file():
            raise FileNotFoundError(f"UNet2DModel.from_pretrained: no {CONFIG_NAME} in {folder}")
        if not weights_path.is_file():
            raise FileNotFoundError(f"UNet2DModel.from_pretrained: no {weights_path.name} in {folder}")
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"UNet2DModel.from_pretrained: {config_path} is not valid JSON: {e}") from e
        model = cls.from_config(config)
        model.load_state_dict(_rename_old_keys(_read_safetensors(weights_path)), strict=True)
        if device is not None:
            model.to(device)
        return model

    def save_pretrained(
        self, path, *, safe_serialization: bool = True, variant: str | None = None, push_to_hub: bool = False
    ) -> None:
        """Writes a folder that diffusers' ``UNet2DModel.from_pretrained`` loads (each file
        atomically), the weights in ``diffusion_pytorch_model[.variant].safetensors``. Safetensors
        only (``safe_serialization=False`` is refused) and no hub upload."""
        from safetensors.numpy import save

        if not safe_serialization:
            raise ValueError(
                "UNet2DModel.save_pretrained: safe_serialization=False is not supported (safetensors only)"
            )
        if push_to_hub:
            raise ValueError(
                "UNet2DModel.save_pretrained: push_to_hub is not supported (minidiff writes local folders)"
            )

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"_class_name": "UNet2DModel", "_diffusers_version": "0.30.0", **self.config}
        config = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
        state = {k: np.ascontiguousarray(v.numpy()) for k, v in self.state_dict().items()}
        atomic_write_bytes(folder / _weights_name(variant), save(state, metadata={"format": "pt"}))
        atomic_write_bytes(folder / CONFIG_NAME, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
