"""``md.UNet2DModel``: diffusers' UNet2DModel on the native core, with diffusers' config and
folder format (``config.json`` + ``diffusion_pytorch_model.safetensors``)."""

from __future__ import annotations

import json
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
        return cls(**{k: v for k, v in dict(config).items() if not k.startswith("_")})

    @classmethod
    def from_pretrained(cls, path, subfolder: str | None = None, device=None) -> UNet2DModel:
        """Reads a diffusers folder: ``config.json`` and ``diffusion_pytorch_model.safetensors``."""
        from safetensors.numpy import load_file

        folder = Path(path) / subfolder if subfolder else Path(path)
        config_path = folder / CONFIG_NAME
        weights_path = folder / WEIGHTS_NAME
        if not config_path.is_file():
            raise FileNotFoundError(f"UNet2DModel.from_pretrained: no {CONFIG_NAME} in {folder}")
        if not weights_path.is_file():
            raise FileNotFoundError(f"UNet2DModel.from_pretrained: no {WEIGHTS_NAME} in {folder}")
        try:
            config = json.loads(config_path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"UNet2DModel.from_pretrained: {config_path} is not valid JSON: {e}") from e
        model = cls.from_config(config)
        try:
            state = load_file(str(weights_path))
        except Exception as e:  # safetensors raises its own error types
            raise ValueError(f"UNet2DModel.from_pretrained: cannot read {weights_path}: {e}") from e
        model.load_state_dict(_rename_old_keys(state), strict=True)
        if device is not None:
            model.to(device)
        return model

    def save_pretrained(self, path) -> None:
        """Writes a folder that diffusers' ``UNet2DModel.from_pretrained`` loads (each file atomically)."""
        from safetensors.numpy import save

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"_class_name": "UNet2DModel", "_diffusers_version": "0.30.0", **self.config}
        config = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
        state = {k: np.ascontiguousarray(v.numpy()) for k, v in self.state_dict().items()}
        atomic_write_bytes(folder / WEIGHTS_NAME, save(state, metadata={"format": "pt"}))
        atomic_write_bytes(folder / CONFIG_NAME, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
