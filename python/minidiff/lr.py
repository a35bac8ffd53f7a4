"""Learning-rate schedules (``md.lr``): plain functions of the step number.

Each function returns the learning rate itself (not a multiplier), so a training loop can write
``opt.param_groups[0]["lr"] = schedule(step)`` without an optimiser wrapper. The warmup and decay
shapes follow the multipliers of ``diffusers.optimization`` (LambdaLR times the base lr), so a run
that switches between the two libraries sees the same curve:

* warmup is linear from 0: step 0 gives 0.0, step ``s < warmup_steps`` gives ``base_lr * s / warmup_steps``,
  and step ``warmup_steps`` gives ``base_lr``;
* decays reach their floor at ``total_steps`` and stay there afterwards. (diffusers' cosine keeps
  following the cosine past ``num_training_steps``, so its learning rate climbs again there; we clamp,
  which is the only place the two differ.)
"""

from __future__ import annotations

import inspect
import math
from typing import Callable

__all__ = [
    "constant_schedule",
    "constant_with_warmup_schedule",
    "cosine_lr_schedule",
    "get_schedule",
    "linear_schedule",
    "warmup_cosine_schedule",
]


def _check_step(fn: str, current_step: int) -> None:
    if current_step < 0:
        raise ValueError(f"{fn}: current_step must be >= 0, got {current_step}")


def _check_nonneg(fn: str, name: str, value: int) -> None:
    if value < 0:
        raise ValueError(f"{fn}: {name} must be >= 0, got {value}")


def _warmup_fraction(current_step: int, warmup_steps: int) -> float:
    # max(1, .) keeps warmup_steps == 0 well defined; the caller only asks while current_step < warmup_steps.
    return float(current_step) / float(max(1, warmup_steps))


def constant_schedule(current_step: int, base_lr: float) -> float:
    """``base_lr`` at every step."""
    _check_step("constant_schedule", current_step)
    return float(base_lr)


def constant_with_warmup_schedule(current_step: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warmup from 0 (at step 0) to ``base_lr`` (at ``warmup_steps``), then constant."""
    _check_step("constant_with_warmup_schedule", current_step)
    _check_nonneg("constant_with_warmup_schedule", "warmup_steps", warmup_steps)
    if current_step < warmup_steps:
        return base_lr * _warmup_fraction(current_step, warmup_steps)
    return float(base_lr)


def linear_schedule(current_step: int, total_steps: int, base_lr: float, warmup_steps: int = 0) -> float:
    """Linear warmup over ``warmup_steps``, then a linear decay that reaches 0 at ``total_steps``."""
    _check_step("linear_schedule", current_step)
    _check_nonneg("linear_schedule", "warmup_steps", warmup_steps)
    _check_nonneg("linear_schedule", "total_steps", total_steps)
    if current_step < warmup_steps:
        return base_lr * _warmup_fraction(current_step, warmup_steps)
    remaining = float(total_steps - current_step) / float(max(1, total_steps - warmup_steps))
    return base_lr * max(0.0, remaining)


def cosine_lr_schedule(current_step: int, total_steps: int, base_lr: float, min_lr: float) -> float:
    """Half a cosine from ``base_lr`` at step 0 down to ``min_lr`` at ``total_steps``; ``min_lr`` after."""
    _check_step("cosine_lr_schedule", current_step)
    _check_nonneg("cosine_lr_schedule", "total_steps", total_steps)
    progress = min(1.0, float(current_step) / float(max(1, total_steps)))
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_schedule(current_step: int, warmup_steps: int, total_steps: int, base_lr: float) -> float:
    """Linear warmup from 0 to ``base_lr`` over ``warmup_steps``, then half a cosine to 0 at ``total_steps``.

    Step 0 gives 0.0 when ``warmup_steps > 0`` (as diffusers' ``get_cosine_schedule_with_warmup``) and
    ``base_lr`` when ``warmup_steps == 0``.
    """
    _check_step("warmup_cosine_schedule", current_step)
    _check_nonneg("warmup_cosine_schedule", "warmup_steps", warmup_steps)
    _check_nonneg("warmup_cosine_schedule", "total_steps", total_steps)
    if current_step < warmup_steps:
        return base_lr * _warmup_fraction(current_step, warmup_steps)
    progress = float(current_step - warmup_steps) / float(max(1, total_steps - warmup_steps))
    progress = min(1.0, progress)
    return base_lr * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


_SCHEDULES: dict[str, Callable[..., float]] = {
    "constant": constant_schedule,
    "constant_with_warmup": constant_with_warmup_schedule,
    "cosine": cosine_lr_schedule,
    "cosine_with_warmup": warmup_cosine_schedule,
    "linear": linear_schedule,
    "warmup_cosine": warmup_cosine_schedule,
}


def get_schedule(name: str, **kwargs) -> Callable[[int], float]:
    """A callable ``step -> lr`` for the schedule ``name`` with its other arguments bound.

    ``get_schedule("cosine", total_steps=1000, base_lr=1e-4, min_lr=1e-6)(step)``. Missing or unknown
    arguments raise TypeError here rather than at the first step.
    """
    if name not in _SCHEDULES:
        raise ValueError(f"get_schedule: unknown schedule {name!r}; expected one of {sorted(_SCHEDULES)}")
    fn = _SCHEDULES[name]
    try:
        inspect.signature(fn).bind(0, **kwargs)
    except TypeError as e:
        params = [p for p in inspect.signature(fn).parameters if p != "current_step"]
        raise TypeError(f"get_schedule({name!r}): {e}; {fn.__name__} takes {params}") from None

    def schedule(current_step: int) -> float:
        return fn(current_step, **kwargs)

    schedule.__name__ = f"{fn.__name__}[{name}]"
    return schedule
