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

torch's submodules, for code that sets them:

- ``md.backends.cuda.matmul.allow_tf32`` and ``md.backends.cudnn.allow_tf32`` are both views of the
  one native TF32 switch above, which covers matrix products and convolutions together: setting
  either sets both (torch keeps two switches, defaulting to False and True; minidiff's is True).
- ``md.backends.cudnn``: minidiff does not use cuDNN (its convolutions are its own kernels over
  cuBLAS), so ``cudnn.is_available()`` is False. ``benchmark`` is recorded and changes nothing (no
  algorithm search happens), ``deterministic`` is recorded and changes nothing (the convolution
  kernels are deterministic already: no atomics, a fixed summation order), ``enabled`` is recorded
  and changes nothing (there is no cuDNN path to turn off).
- ``md.backends.cuda.is_built()`` says whether this build has the CUDA backend;
  ``md.backends.mps.is_available()`` is False (no Metal backend).
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


def _backends() -> _Backends:
    return sys.modules[__name__]


class _Matmul:
    """``md.backends.cuda.matmul``: ``allow_tf32`` is the native TF32 switch (``md.backends.allow_tf32``)."""

    @property
    def allow_tf32(self) -> bool:
        return _backends().allow_tf32

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        _backends().allow_tf32 = value

    def __repr__(self) -> str:
        return f"<md.backends.cuda.matmul allow_tf32={self.allow_tf32}>"


class _CudaBackend(types.ModuleType):
    matmul = _Matmul()

    @staticmethod
    def is_built() -> bool:
        """True when this build of minidiff has the CUDA backend (a GPU need not be present)."""
        return _core.cuda_built()


class _Cudnn(types.ModuleType):
    # recorded only: minidiff has no cuDNN path for these to change (see the module's docstring)
    benchmark = False
    deterministic = False
    enabled = True

    @property
    def allow_tf32(self) -> bool:
        return _backends().allow_tf32

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        _backends().allow_tf32 = value

    @staticmethod
    def is_available() -> bool:
        """False: minidiff does not use cuDNN."""
        return False

    @staticmethod
    def version() -> None:
        """None, as torch's when cuDNN is not available."""
        return None


class _Mps(types.ModuleType):
    @staticmethod
    def is_available() -> bool:
        """False: minidiff has no Metal (MPS) backend."""
        return False

    @staticmethod
    def is_built() -> bool:
        return False


cuda = _CudaBackend(__name__ + ".cuda", "CUDA backend switches, as torch.backends.cuda")
cudnn = _Cudnn(__name__ + ".cudnn", "cuDNN switches, as torch.backends.cudnn: recorded only (no cuDNN)")
mps = _Mps(__name__ + ".mps", "torch.backends.mps: never available in minidiff")
for _sub in (cuda, cudnn, mps):
    sys.modules[_sub.__name__] = _sub


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
