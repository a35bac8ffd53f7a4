"""Grad-mode context managers, usable as decorators too (as in PyTorch): ``with md.no_grad():``,
``@md.no_grad()`` or ``@md.no_grad``, and ``md.set_grad_enabled(mode)`` as a call as well."""

from __future__ import annotations

import functools
import inspect

from . import _core


class _GradMode:
    _mode: bool

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        if cls is not set_grad_enabled and len(args) == 1 and not kwargs and callable(args[0]):
            return self(args[0])  # @md.no_grad without parentheses
        return self

    def __enter__(self):
        self._prev = _core.is_grad_enabled()
        _core.set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev)
        return False

    def _clone(self) -> _GradMode:
        return self.__class__()

    def __call__(self, fn):
        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(fn, self._clone)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self._clone():
                return fn(*args, **kwargs)

        return wrapper


def _wrap_generator(fn, make_mode):
    """A generator function whose body runs under the mode at every resumption (the caller's mode
    applies between them), with send, throw and close passed through."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        gen = fn(*args, **kwargs)
        try:
            with make_mode():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with make_mode():
                        gen.close()
                    raise
                except BaseException as e:  # thrown in by the caller: passed to the wrapped generator
                    with make_mode():
                        response = gen.throw(e)
                else:
                    with make_mode():
                        response = gen.send(request)
        except StopIteration as stop:  # the wrapped generator returned: so does this one
            return stop.value

    return wrapper


class no_grad(_GradMode):
    """Disables recording on the tape: ``with md.no_grad(): ...``."""

    _mode = False


class inference_mode(_GradMode):
    """torch.inference_mode: here the same as no_grad (``inference_mode(False)`` changes
    nothing), as a context manager or a decorator."""

    _flag = True  # (also when used as @md.inference_mode, without a call)

    def __init__(self, mode: bool = True):
        self._flag = mode

    def __enter__(self):
        self._prev = _core.is_grad_enabled()
        _core.set_grad_enabled(self._prev and not self._flag)
        return self

    def _clone(self) -> _GradMode:
        return inference_mode(self._flag)


class enable_grad(_GradMode):
    """Re-enables recording inside a ``no_grad`` block."""

    _mode = True


class set_grad_enabled(_GradMode):
    """Sets grad mode now, as a call (``md.set_grad_enabled(False)``), and when used as a context
    manager (``with md.set_grad_enabled(train): ...``) restores the previous mode on exit."""

    def __init__(self, mode: bool):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {mode!r}")
        self._prev = _core.is_grad_enabled()
        self._mode = mode
        _core.set_grad_enabled(self._mode)

    def __enter__(self):
        return self  # the mode was set by the call

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev)
        return False

    def _clone(self) -> _GradMode:
        clone = _GradMode.__new__(no_grad if not self._mode else enable_grad)
        return clone

    def __call__(self, fn):
        # as a decorator the mode applies inside fn only: undo the call's immediate setting
        _core.set_grad_enabled(self._prev)
        return super().__call__(fn)
