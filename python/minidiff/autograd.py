"""Grad-mode context managers, usable as decorators too (as in PyTorch)."""

from __future__ import annotations

import functools

from . import _core


class _GradMode:
    _mode: bool

    def __enter__(self):
        self._prev = _core.is_grad_enabled()
        _core.set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Disables recording on the tape: ``with md.no_grad(): ...``."""

    _mode = False


class enable_grad(_GradMode):
    """Re-enables recording inside a ``no_grad`` block."""

    _mode = True
