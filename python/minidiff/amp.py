"""Mixed precision with torch's names (``md.autocast``, ``md.amp.autocast``, ``md.amp.GradScaler``).

minidiff's mixed precision is the bf16 matmul mode (``md.set_float32_matmul_precision("medium")``,
see ``md.backends``): inside ``autocast(dtype=md.bfloat16)`` every matrix product (matmul,
linear, conv2d, attention) multiplies bf16-rounded operands and accumulates in float32. Unlike
torch's autocast, results stay float32 tensors (so no casts are needed around the block, and
memory does not shrink). float16 has no kernels here: asking for it raises.

bf16 keeps float32's exponent range, so gradients need no loss scaling: ``GradScaler`` exists so
that torch training loops run unchanged, and passes everything through (scale 1).
"""

from __future__ import annotations

import functools

from . import _core
from .backends import get_float32_matmul_precision, set_float32_matmul_precision

_BF16 = ("bfloat16", "bf16")


class autocast:  # noqa: N801 (torch's name)
    """Context manager (or decorator) running the block's matrix products on bf16 operands.

    ``device_type`` ("cuda" or "cpu") is accepted as torch's first argument; the mode is
    process-wide, as minidiff has one matmul precision. Blocks nest: each restores the precision
    it found. ``enabled=False`` runs the block in float32 (TF32 on CUDA), also inside an enabled one.
    """

    def __init__(self, device_type: str = "cuda", dtype=None, enabled: bool = True, cache_enabled=None):
        if device_type not in ("cuda", "cpu"):
            raise ValueError(f"autocast: device_type must be 'cuda' or 'cpu', got {device_type!r}")
        dtype = "bfloat16" if dtype is None else str(dtype).replace("torch.", "")
        if enabled and dtype not in _BF16:
            raise TypeError(
                f"autocast: minidiff's mixed precision is bfloat16 (bf16 operands, float32 results); got dtype {dtype}"
            )
        self.device_type = device_type
        self.dtype = "bfloat16"
        self.enabled = bool(enabled)
        self._saved: list[str] = []

    def __enter__(self):
        precision = get_float32_matmul_precision()
        self._saved.append(precision)
        if self.enabled:
            set_float32_matmul_precision("medium")
        elif precision == "medium":  # a disabled block runs in float32, as torch's
            set_float32_matmul_precision("high")
        return self

    def __exit__(self, *exc) -> None:
        set_float32_matmul_precision(self._saved.pop())

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, self.dtype, self.enabled):
                return fn(*args, **kwargs)

        return wrapper


def is_autocast_enabled(device_type: str | None = None) -> bool:
    return bool(_core.matmul_bf16())


class GradScaler:
    """torch's loss scaler, as a pass-through: bf16 training needs no loss scaling (its exponent
    range is float32's), so ``scale(loss)`` is ``loss``, ``step(optimizer)`` steps it (skipping the
    step when a gradient holds inf or NaN, as torch's scaler does) and ``get_scale()`` is 1."""

    def __init__(self, device: str = "cuda", init_scale: float = 65536.0, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):  # fmt: skip
        self.enabled = bool(enabled)
        # kept only for state_dict, so that torch's GradScaler.load_state_dict reads ours
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)

    def scale(self, outputs):
        return outputs

    def unscale_(self, optimizer) -> None:
        """Nothing to unscale (kept so ``clip_grad_norm_`` after ``unscale_`` ports unchanged)."""

    def step(self, optimizer, *args, **kwargs):
        if self.enabled and not _grads_finite(optimizer):
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        pass

    def get_scale(self) -> float:
        return 1.0

    def is_enabled(self) -> bool:
        return self.enabled

    def state_dict(self) -> dict:
        """torch's keys (a checkpoint's scaler state loads into torch's GradScaler), the scale 1, plus ``enabled``."""
        return {
            "scale": 1.0,
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": 0,
            "enabled": self.enabled,
        }

    def load_state_dict(self, state: dict) -> None:
        """Reads ours or torch's (whose scale is ignored: ours stays 1)."""
        self.enabled = bool(state.get("enabled", self.enabled))
        self._growth_factor = float(state.get("growth_factor", self._growth_factor))
        self._backoff_factor = float(state.get("backoff_factor", self._backoff_factor))
        self._growth_interval = int(state.get("growth_interval", self._growth_interval))


def _grads_finite(optimizer) -> bool:
    """Whether every gradient is finite: the global norm in one fused pass (max_norm inf scales
    nothing) and one number back to the host; only when that overflows (|g| above ~1e19 squares
    past float32) are the gradients themselves looked at."""
    import math

    import numpy as np

    from .optim import _clip_grad_norm

    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not params or math.isfinite(float(_clip_grad_norm(params, math.inf))):
        return True
    return all(np.isfinite(p.grad.numpy()).all() for p in params)
