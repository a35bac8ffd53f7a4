"""Modules (``md.nn``): PyTorch's names, implemented in the native core.

Subclass ``md.nn.Module`` from Python as in PyTorch: assigning a module or a parameter to an
attribute registers it, ``parameters()`` / ``state_dict()`` walk the tree, and calling the module
runs ``forward``.
"""

from __future__ import annotations

from ._core.nn import (
    Attention,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Embedding,
    GroupNorm,
    Identity,
    LayerNorm,
    Linear,
    Module,
    Parameter,
    SiLU,
)
from ._core.nn import ModuleList as _NativeModuleList


class ModuleList(_NativeModuleList):
    """A list of modules, registered as children "0", "1", ... It keeps the Python objects, so
    modules defined in Python (with their own ``forward`` and attributes) come back as they went in."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def extend(self, modules) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def _replace_all(self, modules: list) -> None:
        # children are named by position ("0", "1", ...), as torch names them: re-register in order
        for i in range(len(self)):
            setattr(self, str(i), None)
        self.extend(modules)

    def insert(self, index: int, module) -> None:
        items = list(self)
        items.insert(index, module)
        self._replace_all(items)

    def __setitem__(self, index: int, module) -> None:
        items = list(self)
        items[index] = module  # IndexError for an index out of range, as a list
        self._replace_all(items)

    def __delitem__(self, index) -> None:
        items = list(self)
        del items[index]
        self._replace_all(items)

    def __iadd__(self, modules) -> ModuleList:
        return self.extend(modules)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList([super(ModuleList, self).__getitem__(i) for i in range(len(self))[index]])
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"ModuleList index {index} is out of range for {len(self)} modules")
        return super().__getitem__(index)


__all__ = [
    "Attention",
    "Conv2d",
    "ConvTranspose2d",
    "Dropout",
    "Embedding",
    "GroupNorm",
    "Identity",
    "LayerNorm",
    "Linear",
    "Module",
    "ModuleList",
    "Parameter",
    "SiLU",
]
