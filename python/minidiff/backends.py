"""Backend switches (``md.backends``), as ``torch.backends``, and the float32 matmul precision.

``md.backends.allow_tf32`` (default True) lets CUDA matrix products and convolutions use TF32
tensor cores; setting it forwards the choice to the native core.

``md.set_float32_matmul_precision(p)`` sets the precision of every float32 matrix product
(matmul, linear, conv2d, attention), with PyTorch's names:

- ``"highest"``: exact float32 products everywhere (TF32 off);
- ``"high"``: TF32 tensor cores on CUDA (the same as ``allow_tf32 = True``, the default);
- ``"medium"``: operands rounded to bfloat16, products accumulated in float32. CUDA runs these on
  bf16 tensor cores, CPUs with AVX512-BF16 on their bf16 dot-product instructions (about twice
  the float32 rate); other CPUs round copies of the operands for their float32 kernels (the same
  numbers, slower). Tensors, weights, gradients and all other ops stay float32, so memory use does
  not change. ``TrainingConfig.mixed_precision = "bf16"`` trains this way.
"""

from __future__ import annotations

import sys
import types

from . import _core

PRECISIONS = ("highest", "high", "medium")


class _Backends(types.ModuleType):
    _allow_tf32 = True

    @property
    def allow_tf32(self) -> bool:
        return self._allow_tf32

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        self._allow_tf32 = bool(value)
        _core.set_allow_tf32(bool(value))


def set_float32_matmul_precision(precision: str) -> None:
    """``"highest"``, ``"high"`` or ``"medium"`` (bf16 operands); see the module's docstring."""
    if precision not in PRECISIONS:
        raise ValueError(f"set_float32_matmul_precision: expected one of {list(PRECISIONS)}, got {precision!r}")
    sys.modules[__name__].allow_tf32 = precision != "highest"
    _core.set_matmul_bf16(precision == "medium")


def get_float32_matmul_precision() -> str:
    if _core.matmul_bf16():
        return "medium"
    return "high" if sys.modules[__name__].allow_tf32 else "highest"


sys.modules[__name__].__class__ = _Backends
_core.set_allow_tf32(True)
