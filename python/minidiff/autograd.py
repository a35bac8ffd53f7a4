"""Grad-mode context managers, usable as decorators too (as in PyTorch): ``with md.no_grad():``,
``@md.no_grad()`` or ``@md.no_grad``, and ``md.set_grad_enabled(mode)`` as a call as well."""

from __future__ import annotations

import functools
import inspect
import threading

from . import _core
from ._dtypes import FLOAT_DTYPES

_state = threading.local()  # per thread, as torch's grad and inference modes


def is_inference_mode_enabled() -> bool:
    """``torch.is_inference_mode_enabled``: True inside ``inference_mode()`` (not after an inner
    ``inference_mode(False)``) on this thread."""
    return getattr(_state, "inference", False)


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
    """torch.inference_mode: here no_grad that ``is_inference_mode_enabled()`` reports (tensors made
    in it are ordinary ones); ``inference_mode(False)`` turns gradients on inside it, as torch's
    does, as a context manager or a decorator."""

    _flag = True  # (also when used as @md.inference_mode, without a call)

    def __init__(self, mode: bool = True):
        self._flag = bool(mode)

    def __enter__(self):
        self._prev = _core.is_grad_enabled()
        self._prev_inference = is_inference_mode_enabled()
        _core.set_grad_enabled(not self._flag)
        _state.inference = self._flag
        return self

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._prev)
        _state.inference = self._prev_inference
        return False

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


# ---- anomaly detection (torch.autograd.detect_anomaly / set_detect_anomaly)


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on (``detect_anomaly`` / ``set_detect_anomaly``)."""
    return _core._anomaly_enabled()


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection also checks every backward node's gradients for NaN."""
    return _core._anomaly_check_nan()


class set_detect_anomaly:
    """Anomaly detection on or off, as torch's: a call, or a context manager that restores the
    previous setting. While it is on, each node the forward records keeps the Python stack that
    made it, and (with ``check_nan``) a backward node that returns a gradient holding NaN raises
    RuntimeError naming the node (``MulBackward0``) and that stack. It slows the forward (a stack
    per node) and the backward (each gradient read on the host): for debugging only."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._prev = (_core._anomaly_enabled(), _core._anomaly_check_nan())
        _core._set_anomaly(bool(mode), bool(check_nan))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _core._set_anomaly(*self._prev)
        return False


class detect_anomaly:
    """``with md.autograd.detect_anomaly():`` (or as a decorator): anomaly detection on inside,
    as ``set_detect_anomaly(True, check_nan)``; warns on entry that it is slow, as torch does."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        import warnings

        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
            "enabled for debugging.",
            UserWarning,
            stacklevel=2,
        )
        self._prev = (_core._anomaly_enabled(), _core._anomaly_check_nan())
        _core._set_anomaly(True, self.check_nan)
        return self

    def __exit__(self, *exc):
        _core._set_anomaly(*self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


def _as_tuple(what: str, x) -> tuple:
    if isinstance(x, _core.Tensor):
        return (x,)
    if isinstance(x, (list, tuple)):
        return tuple(x)
    raise TypeError(f"grad: {what} must be a tensor or a sequence of tensors, got {type(x).__name__}")


def _cast_like(g, t):
    """A gradient of another dtype is cast to its tensor's (as torch casts an int64 or 16-bit float
    gradient of a float32 output)."""
    if isinstance(g, _core.Tensor) and isinstance(t, _core.Tensor) and g.dtype != t.dtype:
        if t.dtype in FLOAT_DTYPES:
            return g.to(t.dtype)
    return g


def backward(
    tensors,
    grad_tensors=None,
    retain_graph=None,
    create_graph: bool = False,
    grad_variables=None,
    inputs=None,
):
    """``torch.autograd.backward``: accumulates into the leaves' ``.grad`` the gradients of
    ``tensors``, each weighted by its entry of ``grad_tensors`` (None means 1 for a one-element
    tensor), in one pass over the graph, which is freed unless ``retain_graph``. With ``inputs``,
    only those tensors (leaves or not) get their gradients accumulated into ``.grad``; one the
    graph does not reach keeps its ``.grad``. ``create_graph`` is not supported
    (NotImplementedError)."""
    if grad_variables is not None:
        if grad_tensors is not None:
            raise RuntimeError("backward: pass grad_tensors or grad_variables, not both")
        grad_tensors = grad_variables
    if create_graph:
        raise NotImplementedError("backward: create_graph=True (higher-order gradients) is not supported")
    tensors = _as_tuple("tensors", tensors)
    if not tensors:
        raise RuntimeError("backward: no tensors to differentiate")
    grads = (None,) * len(tensors) if grad_tensors is None else _as_tuple("grad_tensors", grad_tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"backward: got {len(tensors)} tensors and {len(grads)} gradients")
    for i, (t, g) in enumerate(zip(tensors, grads)):
        if not isinstance(t, _core.Tensor):
            raise TypeError(f"backward: tensors[{i}] must be a tensor, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"backward: element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None and t.numel() != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs, got shape {list(t.shape)} "
                f"for element {i}"
            )
        if g is not None and not isinstance(g, _core.Tensor):
            raise TypeError(f"backward: grad_tensors[{i}] must be a tensor or None, got {type(g).__name__}")
        if g is not None and tuple(g.shape) != tuple(t.shape):
            raise ValueError(f"backward: gradient of shape {list(g.shape)} for a tensor of shape {list(t.shape)}")
    grads = tuple(_cast_like(g, t) for g, t in zip(grads, tensors))
    if inputs is not None:
        _backward_into(tensors, grads, inputs, bool(retain_graph))
        return
    if len(tensors) == 1:
        tensors[0].backward(grads[0], retain_graph=bool(retain_graph))
        return
    # several tensors: one scalar sum(<t_i, g_i>) whose backward hands each t_i its g_i, so that
    # every node of a shared graph runs (and its hooks fire) once, as in torch's single pass
    with enable_grad():
        total = None
        for t, g in zip(tensors, grads):
            term = t.sum() if g is None else (t * g.detach()).sum()
            total = term if total is None else total + term
    total.backward(retain_graph=bool(retain_graph))


def _backward_into(tensors, grads, inputs, retain_graph: bool) -> None:
    """backward(inputs=...): the gradients with respect to ``inputs`` only, added to their ``.grad``."""
    inputs = (inputs,) if isinstance(inputs, _core.Tensor) else tuple(inputs)
    if not inputs:
        raise RuntimeError("backward: the inputs argument cannot be empty")
    for i, t in enumerate(inputs):
        if not isinstance(t, _core.Tensor):
            raise TypeError(f"backward: inputs[{i}] must be a tensor, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"backward: inputs[{i}] (shape {list(t.shape)}) does not require grad")
    found = _core._grad(list(tensors), list(grads), list(inputs), retain_graph)
    with no_grad():
        for t, g in zip(inputs, found):
            if g is None or (not t.is_leaf and t.retains_grad):  # unreached, or given its gradient already
                continue
            if not t.is_leaf:
                t.retain_grad()  # as torch's: a non-leaf input keeps its gradient from now on
            t.grad = g if t.grad is None else t.grad + g


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused=None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
):
    """``torch.autograd.grad``: the gradients of ``outputs`` (each weighted by its entry of
    ``grad_outputs``; None means 1 for a one-element output) with respect to ``inputs``, leaves or
    not, as a tuple; no leaf's ``.grad`` is touched (a tensor that retains its gradient gets it,
    as in torch). An input the outputs do not reach is a RuntimeError,
    None with ``allow_unused=True``, zeros with ``materialize_grads=True``. The graph is freed
    unless ``retain_graph``. Higher-order gradients (``create_graph=True``) and
    ``is_grads_batched`` are not supported (NotImplementedError)."""
    if create_graph:
        raise NotImplementedError("grad: create_graph=True (higher-order gradients) is not supported")
    if is_grads_batched:
        raise NotImplementedError("grad: is_grads_batched=True is not supported")
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("grad: materialize_grads=True needs allow_unused to be None or True")
    outputs, inputs = _as_tuple("outputs", outputs), _as_tuple("inputs", inputs)
    if not inputs:
        raise RuntimeError("grad: `inputs` argument to `grad()` cannot be empty.")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    else:
        grad_outputs = _as_tuple("grad_outputs", grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for name, items in (("outputs", outputs), ("inputs", inputs)):
        for i, t in enumerate(items):
            if not isinstance(t, _core.Tensor):
                raise TypeError(f"grad: {name}[{i}] must be a tensor, got {type(t).__name__}")
    grad_outputs = tuple(_cast_like(g, t) for g, t in zip(grad_outputs, outputs))
    grads = _core._grad(list(outputs), list(grad_outputs), list(inputs), bool(retain_graph))
    result = []
    for t, g in zip(inputs, grads):
        if g is None and materialize_grads:
            g = _core.zeros(*t.shape, device=t.device)
        elif g is None and not allow_unused:
            raise RuntimeError(
                "grad: one of the differentiated tensors appears to not have been used in the graph; "
                "set allow_unused=True if this is the desired behavior"
            )
        result.append(g)
    return tuple(result)


# ---- custom autograd functions (torch.autograd.Function)


def _geometry(t) -> tuple:
    return tuple(t.shape), t.stride(), t.storage_offset()


def _expands_to(shape: tuple, target: tuple) -> bool:
    """Whether a tensor of ``shape`` broadcasts to ``target`` (torch's is_expandable_to)."""
    if len(shape) > len(target):
        return False
    return all(s == t or s == 1 for s, t in zip(reversed(shape), reversed(target)))


def _sum_to(g, shape: tuple):
    """g summed down to ``shape``, which broadcasts to g's shape: over the leading dims g has more,
    and over the dims where ``shape`` is 1 (torch's sum_to)."""
    lead = g.ndim - len(shape)
    dims = list(range(lead)) + [lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1]
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g.reshape(shape)


class FunctionCtx:
    """The ``ctx`` of a Function: what forward (or setup_context) leaves for backward."""

    def __init__(self, needs_input_grad: tuple):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._saved: tuple = ()
        self._aliases: tuple = ()
        self._versions: tuple = ()
        self._non_differentiable: list = []

    def save_for_backward(self, *tensors) -> None:
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, _core.Tensor):
                raise TypeError(f"save_for_backward: argument {i} is a {type(t).__name__}, not a tensor or None")
        # the tensors themselves (backward gets them as they are: requires_grad and history kept, as
        # torch's), and detach() handles sharing their storage and version counter, taken now: an
        # in-place change bumps the counter, or (inside the graph, where nothing else views the
        # tensor) gives the tensor new memory; either is caught when backward asks for them
        self._saved = tensors
        self._aliases = tuple(None if t is None else t.detach() for t in tensors)
        self._versions = tuple(None if t is None else t._version for t in self._aliases)

    @property
    def saved_tensors(self) -> tuple:
        for i, (t, alias, version) in enumerate(zip(self._saved, self._aliases, self._versions)):
            if t is None:
                continue
            if alias._version != version or t._storage_key != alias._storage_key:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: saved tensor {i} of shape {tuple(t.shape)} is at version {t._version}; expected "
                    f"version {version} instead"
                )
            if _geometry(t) != _geometry(alias):  # t_(), swapdims_(), squeeze_(), ... (torch's bump the version)
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: saved tensor {i} of shape {tuple(alias.shape)} now has shape {tuple(t.shape)} "
                    f"and strides {t.stride()}"
                )
        return self._saved

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable.extend(tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors) -> None:
        raise NotImplementedError(
            "Function: ctx.mark_dirty (a forward that changes its inputs in place) is not supported"
        )


def once_differentiable(fn):
    """torch's decorator for a backward that is not differentiable itself: every minidiff backward
    is (there are no higher-order gradients), so it returns ``fn`` unchanged."""
    return fn


class Function:
    """``torch.autograd.Function``: an op with a forward and a backward written by the user.
    Subclass it with static methods ``forward(ctx, *args)`` (or ``forward(*args)`` and
    ``setup_context(ctx, inputs, output)``) and ``backward(ctx, *grad_outputs)`` returning one
    gradient (or None) per argument of forward, and call ``MyFunction.apply(*args)``. Forward runs
    without recording; its tensor outputs (a tensor or a tuple holding tensors) join the graph
    through one node whose backward calls yours (several outputs are packed into one buffer, so an
    unused output's gradient is zeros even with ``set_materialize_grads(False)``, where torch's is
    None). Not supported: ``mark_dirty``, higher-order gradients (``create_graph``), ``vmap``."""

    @staticmethod
    def forward(*args, **kwargs):
        raise NotImplementedError("Function: a subclass must define forward")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("Function: setup_context is not defined")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("Function: a subclass must define backward to be differentiated")

    vjp = backward

    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__}: call {type(self).__name__}.apply(...), not the class itself")

    @classmethod
    def apply(cls, *args, **kwargs):
        needs = tuple(isinstance(a, _core.Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        separate_setup = cls.setup_context is not Function.setup_context
        with no_grad():
            output = cls.forward(*args, **kwargs) if separate_setup else cls.forward(ctx, *args, **kwargs)
            if separate_setup:
                cls.setup_context(ctx, args, output)
        if not (_core.is_grad_enabled() and any(needs)):
            return output
        single = not isinstance(output, tuple)
        outputs = (output,) if single else output
        marked = {id(t) for t in ctx._non_differentiable}
        diff = [
            i
            for i, o in enumerate(outputs)
            if isinstance(o, _core.Tensor) and id(o) not in marked and o.dtype in FLOAT_DTYPES
        ]
        if not diff:
            return output
        tensors = [(i, a) for i, a in enumerate(args) if isinstance(a, _core.Tensor)]
        # each tensor input's shape and dtype at the forward (an in-place change may reshape it later)
        metas = [(i, tuple(a.shape), a.dtype) for i, a in tensors]
        shapes = [tuple(outputs[i].shape) for i in diff]
        sizes = [outputs[i].numel() for i in diff]

        def run_backward(grad):
            if len(diff) == 1:
                pieces = [grad.reshape(shapes[0])]
            else:
                pieces, start = [], 0
                for shape, n in zip(shapes, sizes):
                    pieces.append(grad[start : start + n].reshape(shape))
                    start += n
            grads = [None] * len(outputs)
            for i, piece in zip(diff, pieces):
                grads[i] = piece
            for i, o in enumerate(outputs):  # the non-differentiable outputs
                if grads[i] is None and isinstance(o, _core.Tensor) and ctx.materialize_grads:
                    grads[i] = _core.zeros(*o.shape, device=o.device)
            with no_grad():
                result = cls.backward(ctx, *grads)
            result = result if isinstance(result, tuple) else (result,)
            if len(result) < len(args) or any(g is not None for g in result[len(args) :]):
                raise RuntimeError(
                    f"function {cls.__name__}Backward returned an incorrect number of gradients "
                    f"(expected {len(args)}, got {len(result)})"
                )
            out = []
            for i, shape, dtype in metas:
                g = result[i]
                if g is not None and not needs[i]:
                    g = None  # torch drops a gradient for an input that does not need one
                if g is not None:
                    if not isinstance(g, _core.Tensor):
                        raise TypeError(
                            f"function {cls.__name__}Backward returned a {type(g).__name__} as the gradient of "
                            f"argument {i}; expected a tensor or None"
                        )
                    if tuple(g.shape) != shape and _expands_to(shape, tuple(g.shape)):
                        g = _sum_to(g, shape)  # a gradient of the broadcast shape: summed down, as torch's
                        # (Tensor.sum_to_size, tensor_more.py, is the same for users)
                    if tuple(g.shape) != shape:
                        raise RuntimeError(
                            f"function {cls.__name__}Backward returned an invalid gradient at index {i} - got "
                            f"{list(g.shape)} but expected shape compatible with {list(shape)}"
                        )
                    if g.dtype != dtype:
                        g = g.to(dtype)
                out.append(g)
            return out

        with no_grad():
            flat = [outputs[i].reshape(-1) for i in diff]
            packed = outputs[diff[0]] if len(diff) == 1 else _core.functional.cat(flat, 0)
        node = _core._custom_function_node(f"{cls.__name__}Backward", packed, [a for _, a in tensors], run_backward)
        results = list(outputs)
        if len(diff) == 1:
            results[diff[0]] = node
        else:
            start = 0
            for i, shape, n in zip(diff, shapes, sizes):
                results[i] = node[start : start + n].reshape(shape)
                start += n
            # tensors of their own, as torch's outputs, not views of the packed node: with node's
            # handle dropped, each is a copy but the last, which takes over node's buffer
            del node
            for i in diff:
                results[i] = results[i]._own_result()
        return results[0] if single else tuple(results)


class _FunctionModule:
    """``md.autograd.function``: where torch keeps Function, FunctionCtx and once_differentiable."""

    Function = Function
    FunctionCtx = FunctionCtx
    once_differentiable = staticmethod(once_differentiable)


function = _FunctionModule()
