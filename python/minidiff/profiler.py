"""Where time goes: per-op wall-time totals of forward ops and backward closures.

    with md.profiler.profile() as prof:
        trainer.train_step(model, images)
    print(prof.table())

Only the outermost op is timed (an op built from other ops counts once), so the totals add up to
the time spent in the engine. On CUDA each op is synchronised before and after (``sync=True``),
which makes the per-op times honest and the whole run slower.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import _core


@dataclass
class OpTotal:
    name: str
    calls: int
    seconds: float


class profile:
    """Context manager collecting per-op totals. One at a time: the totals are the process's, so a
    nested (or concurrent) profile raises RuntimeError instead of resetting the outer one's."""

    _active = False

    def __init__(self, sync: bool = True):
        self.sync = sync
        self.totals: list[OpTotal] = []
        self.wall_seconds = 0.0

    def __enter__(self) -> profile:
        if profile._active:
            raise RuntimeError("md.profiler.profile: another profile is active (nested profiles are not supported)")
        profile._active = True
        _core.profiler_reset()
        _core.profiler_enable(True, self.sync)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> bool:
        self.wall_seconds = time.perf_counter() - self._t0
        _core.profiler_enable(False)
        profile._active = False
        snap = _core.profiler_snapshot()
        self.totals = sorted(
            (OpTotal(name, calls, seconds) for name, (calls, seconds) in snap.items()),
            key=lambda t: -t.seconds,
        )
        return False

    def table(self, limit: int = 30) -> str:
        engine = sum(t.seconds for t in self.totals)
        lines = [
            f"{'op':42} {'calls':>7} {'total ms':>10} {'share':>7}",
            "-" * 70,
        ]
        for t in self.totals[:limit]:
            share = t.seconds / engine if engine else 0.0
            lines.append(f"{t.name:42} {t.calls:>7} {t.seconds * 1e3:>10.2f} {share:>6.1%}")
        lines.append("-" * 70)
        lines.append(f"{'ops total':42} {'':>7} {engine * 1e3:>10.2f}")
        lines.append(f"{'wall time':42} {'':>7} {self.wall_seconds * 1e3:>10.2f}")
        return "\n".join(lines)


__all__ = ["OpTotal", "profile"]
