"""``diffusers.optimization`` for minidiff: the learning-rate schedule factories and ``get_scheduler``
under diffusers' names, so a training script ports by changing its import to
``from minidiff.optimization import get_scheduler``. They take any md optimiser and return
``md.optim.lr_scheduler.LambdaLR``; the code lives in lr_scheduler.py.
"""

from __future__ import annotations

from .lr_scheduler import (
    TYPE_TO_SCHEDULER_FUNCTION,
    LambdaLR,
    SchedulerType,
    get_constant_schedule,
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_cosine_with_hard_restarts_schedule_with_warmup,
    get_linear_schedule_with_warmup,
    get_piecewise_constant_schedule,
    get_polynomial_decay_schedule_with_warmup,
    get_scheduler,
)

__all__ = [
    "TYPE_TO_SCHEDULER_FUNCTION",
    "LambdaLR",
    "SchedulerType",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_linear_schedule_with_warmup",
    "get_piecewise_constant_schedule",
    "get_polynomial_decay_schedule_with_warmup",
    "get_scheduler",
]
