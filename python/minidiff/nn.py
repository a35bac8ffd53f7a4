"""Modules (``md.nn``): PyTorch's names, implemented in the native core.

Subclass ``md.nn.Module`` from Python as in PyTorch: assigning a module or a parameter to an
attribute registers it, ``parameters()`` / ``state_dict()`` walk the tree, and calling the module
runs ``forward``.
"""

from ._core.nn import (
    Attention,
    Conv2d,
    Dropout,
    Embedding,
    GroupNorm,
    Identity,
    LayerNorm,
    Linear,
    Module,
    ModuleList,
    Parameter,
    SiLU,
)

__all__ = [
    "Attention",
    "Conv2d",
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
