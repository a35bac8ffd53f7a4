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


class set_grad_enabled(_GradMode):
    """Sets grad mode now, as a call (``md.set_grad_enabled(False)``), and when used as a context
    manager (``with md.set_grad_enabled(train): ...``) restores the previous mode on exit."""

    def __init__(self, mode: bool):
        self._prev = _core.is_grad_enabled()
        self._mode = bool(mode)
        _core.set_grad_enabled(self._mode)

    def __enter__(self):
        return self  # the mode was set by the call

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        # as a decorator the mode applies inside fn only: undo the call's immediate setting
        _core.set_grad_enabled(self._prev)
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper
