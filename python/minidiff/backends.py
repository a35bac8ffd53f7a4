"""Backend switches (``md.backends``), as ``torch.backends``.

``md.backends.allow_tf32`` (default True) lets CUDA matrix products and convolutions use TF32
tensor cores; setting it forwards the choice to the native core.
"""

import sys
import types

from . import _core


class _Backends(types.ModuleType):
    _allow_tf32 = True

    @property
    def allow_tf32(self) -> bool:
        return self._allow_tf32

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        self._allow_tf32 = bool(value)
        _core.set_allow_tf32(bool(value))


sys.modules[__name__].__class__ = _Backends
_core.set_allow_tf32(True)
