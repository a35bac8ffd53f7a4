"""
optimisers (cores; see minidiff.optim for the user classes)
"""

from __future__ import annotations

import collections.abc
import typing

import minidiff._core

__all__: list[str] = ["AdamCore", "EMACore", "clip_grad_norm_"]

class AdamCore:
    def __init__(self, params: collections.abc.Sequence[minidiff._core.Tensor]) -> None: ...
    def exp_avg(self, index: typing.SupportsInt | typing.SupportsIndex) -> minidiff._core.Tensor: ...
    def exp_avg_sq(self, index: typing.SupportsInt | typing.SupportsIndex) -> minidiff._core.Tensor: ...
    def set_step_count(
        self, index: typing.SupportsInt | typing.SupportsIndex, steps: typing.SupportsInt | typing.SupportsIndex
    ) -> None: ...
    def step(
        self,
        lr: typing.SupportsFloat | typing.SupportsIndex,
        beta1: typing.SupportsFloat | typing.SupportsIndex,
        beta2: typing.SupportsFloat | typing.SupportsIndex,
        eps: typing.SupportsFloat | typing.SupportsIndex,
        weight_decay: typing.SupportsFloat | typing.SupportsIndex,
        decoupled: bool,
    ) -> None: ...
    def step_count(self, index: typing.SupportsInt | typing.SupportsIndex) -> int: ...
    def zero_grad(self, set_to_none: bool = True) -> None: ...
    @property
    def num_params(self) -> int: ...
    @property
    def params(self) -> list[minidiff._core.Tensor]: ...

class EMACore:
    def __init__(self, params: collections.abc.Sequence[minidiff._core.Tensor]) -> None: ...
    def __len__(self) -> int: ...
    def copy_to(self, params: collections.abc.Sequence[minidiff._core.Tensor]) -> None: ...
    def restore(self, params: collections.abc.Sequence[minidiff._core.Tensor]) -> None: ...
    def shadow(self, index: typing.SupportsInt | typing.SupportsIndex) -> minidiff._core.Tensor: ...
    def store(self, params: collections.abc.Sequence[minidiff._core.Tensor]) -> None: ...
    def update(
        self,
        params: collections.abc.Sequence[minidiff._core.Tensor],
        decay: typing.SupportsFloat | typing.SupportsIndex,
    ) -> None: ...

def clip_grad_norm_(
    parameters: typing.Any, max_norm: typing.SupportsFloat | typing.SupportsIndex
) -> minidiff._core.Tensor:
    """
    Scales gradients in place so their global L2 norm is at most max_norm; returns the norm before clipping
    """
