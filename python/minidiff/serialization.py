"""copy.deepcopy and pickling of tensors and modules, and ``md.save`` / ``md.load``.

``md.save`` writes what ``torch.save`` is used for in training code: tensors and state dicts, in
(Ordered)dicts, lists and tuples with numbers, strings and NumPy arrays, as a pickle. A tensor
pickles as a NumPy copy of its values plus its dtype, device, requires_grad and parameter-ness,
rebuilt by ``rebuild_tensor``. ``md.load`` reads it back with an unpickler that by default
(``weights_only=True``) refuses every global but that function, NumPy's array reconstruction and
the builtin containers, so loading a file cannot run its author's code.

A module does not pickle (save its ``state_dict()``); it deep-copies: a native layer copies itself
in C++, a module written in Python is rebuilt here from its registry and ``__dict__``.

``minidiff/__init__.py`` installs the ``*_deepcopy`` / ``*_reduce_ex`` functions on the classes.
"""

from __future__ import annotations

import copy
import functools
import os
import pickle

import numpy as np

from . import _core
from ._core.nn import ModuleList as _NativeModuleList
from .autograd import no_grad
from .checkpoint import atomic_write
from .nn import Module, Parameter, _is_native, _registered_children

Tensor = _core.Tensor

# ---- copy.deepcopy


def _keep_alive(obj, memo: dict) -> None:
    # copy.deepcopy's own device: while the memo lives, ids (and tensors' _impl_id) are not reused
    memo.setdefault(id(memo), []).append(obj)


def _tensor_key(t: Tensor) -> tuple[str, int]:
    # every Python handle of one tensor (one from the registry, one from __dict__) has its own id()
    return ("minidiff.Tensor", t._impl_id)


def tensor_deepcopy(self: Tensor, memo: dict) -> Tensor:
    """``copy.deepcopy(tensor)``, as torch: leaves only; a clone that keeps requires_grad and
    parameter-ness; a plain tensor's ``.grad`` is copied too (a parameter's is not, as in torch)."""
    if not self.is_leaf:
        raise RuntimeError(
            "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the "
            "moment (detach() the tensor first)"
        )
    key = _tensor_key(self)
    if key in memo:
        return memo[key]
    with no_grad():
        new = self.clone()
    if self._is_param:
        new = Parameter(new, requires_grad=self.requires_grad)
    else:
        if self.requires_grad:
            new.requires_grad_(True)
        if self.grad is not None:
            new.grad = copy.deepcopy(self.grad, memo)
    memo[key] = new
    _keep_alive(self, memo)
    return new


def _native_base(cls: type) -> type:
    return next(c for c in cls.__mro__ if _is_native(c))


def module_deepcopy(self: Module, memo: dict) -> Module:
    """``copy.deepcopy(module)``: an independent module of the same class, with the same parameter
    names and order, tied weights still tied, requires_grad and train/eval mode kept."""
    cls = type(self)
    base = _native_base(cls)
    if base is Module or base is _NativeModuleList:
        # a module written in Python (or a bare Module / ModuleList): rebuilt from its registry
        new = cls.__new__(cls)
        base.__init__(new)
        memo[id(self)] = new
        new.train(self.training)  # first: train() would set the children's mode too
        _copy_registry(self, new, memo)
    else:
        new = self._deep_copy()  # a native layer: it and its native children, copied in C++
        if cls is not base:
            try:
                new.__class__ = cls
            except TypeError as e:
                raise TypeError(
                    f"copy.deepcopy: cannot copy a {cls.__name__}, a Python subclass of the native "
                    f"{base.__name__} with an instance layout of its own; declare __slots__ = () in the class"
                ) from e
        _adopt_native_copy(self, new, memo)
    _copy_instance_dict(self, new, memo)
    return new


def _copy_registry(self: Module, new: Module, memo: dict) -> None:
    """Registers on ``new`` copies of what ``self`` registers itself, in its order."""
    for name, p in self.named_parameters(recurse=False):
        q = copy.deepcopy(p, memo)
        new.register_parameter(name, q)
        q.requires_grad_(p.requires_grad)
    for name in self._absent_names():
        new._declare_absent(name)
    for name, t, persistent in self._own_buffers():
        if t is not None:
            new.register_buffer(name, copy.deepcopy(t, memo), persistent)
    for name, child in _registered_children(self):
        new.register_module(name, copy.deepcopy(child, memo))


def _adopt_native_copy(self: Module, new: Module, memo: dict) -> None:
    """``new`` is the C++ copy of ``self``, made without this deepcopy's memo. Where a tensor or a
    module was copied already (a weight tied to one outside this layer, a block used twice) use
    that copy; a child written in Python, which C++ copied as a bare Module, is copied in Python."""
    memo[id(self)] = new
    _keep_alive(self, memo)
    for (name, p), (_, q) in zip(self.named_parameters(recurse=False), new.named_parameters(recurse=False)):
        key = _tensor_key(p)
        if key in memo:
            new.register_parameter(name, memo[key])
            memo[key].requires_grad_(p.requires_grad)
        else:
            memo[key] = q
            _keep_alive(p, memo)
    for (name, t, persistent), (_, u, _) in zip(self._own_buffers(), new._own_buffers()):
        if t is None:
            continue
        key = _tensor_key(t)
        if key in memo:
            new.register_buffer(name, memo[key], persistent)
        else:
            memo[key] = u
            _keep_alive(t, memo)
    for (name, child), (_, child_copy) in zip(list(_registered_children(self)), list(_registered_children(new))):
        if id(child) in memo:
            new.register_module(name, memo[id(child)])
        elif _is_native(type(child)):
            _adopt_native_copy(child, child_copy, memo)
            _copy_instance_dict(child, child_copy, memo)
        else:
            new.register_module(name, copy.deepcopy(child, memo))


def _copy_instance_dict(self: Module, new: Module, memo: dict) -> None:
    # straight into __dict__: Module.__setattr__ would register modules and parameters a second time
    # (the ones found here are the Python handles of registered ones, which the memo maps to their copies)
    target = vars(new)
    for name, value in vars(self).items():
        target[name] = copy.deepcopy(value, memo)


def module_copy(self: Module):
    raise TypeError(
        f"copy.copy of a {type(self).__name__} is not supported (the copy would share the parameters); "
        "use copy.deepcopy"
    )


# ---- pickling


def rebuild_tensor(data: np.ndarray, dtype: str, device: str, requires_grad: bool, is_param: bool, map_location=None):
    """Rebuilds a pickled tensor (``tensor_reduce_ex``'s output). Saved files name this function:
    keep its name and arguments."""
    if dtype == "bfloat16":
        data = (data.astype(np.uint32) << 16).view(np.float32)  # the stored bits, widened exactly
    t = _core.tensor(data, dtype=dtype, device=device if map_location is None else map_location)
    if is_param:
        return Parameter(t, requires_grad=requires_grad)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor_reduce_ex(self: Tensor, protocol: int):
    """Pickles a tensor as a NumPy copy of its values with dtype, device, requires_grad and
    parameter-ness (not its graph or ``.grad``, as torch)."""
    data = self.numpy()  # a copy; bfloat16 comes back widened to float32, exactly
    if self.dtype == "bfloat16":
        # 2 bytes a value (np.require keeps a 0-d array 0-d; ascontiguousarray would make it 1-d)
        data = (np.require(data, requirements="C").view(np.uint32) >> 16).astype(np.uint16)
    return (rebuild_tensor, (data, self.dtype, str(self.device), self.requires_grad, self._is_param))


def module_reduce_ex(self: Module, protocol: int):
    raise TypeError(
        f"cannot pickle a {type(self).__name__}: save its state dict, md.save(model.state_dict(), path), "
        "and load it into a new model with model.load_state_dict(md.load(path))"
    )


# ---- md.save / md.load

# The globals a weights_only load accepts: this module's rebuild function, NumPy's array and scalar
# reconstruction (numpy.core before NumPy 2, numpy._core after; _frombuffer for pickle protocol 5),
# the containers, and _codecs.encode (pickle protocol 2 writes bytes as a call to it, and empty bytes,
# which an empty array pickles to, as a call to bytes()).
_WEIGHTS_ONLY_GLOBALS = frozenset(
    {(__name__, "rebuild_tensor"), ("collections", "OrderedDict"), ("numpy", "ndarray"), ("numpy", "dtype")}
    | {("_codecs", "encode")}
    | {("builtins", n) for n in ("dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray", "complex")}
    | {(f"numpy.{core}.multiarray", n) for core in ("core", "_core") for n in ("_reconstruct", "scalar")}
    | {(f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")}
)


def save(obj, f, pickle_protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    """Saves ``obj`` (tensors, state dicts, optimizer state dicts, and dicts, lists and tuples of
    them with numbers, strings and NumPy arrays) to ``f``: a path, written atomically (a temporary
    file in the same folder, fsynced, then renamed: never a partial file), or a binary file object.
    Save a model as ``md.save(model.state_dict(), path)``."""
    if isinstance(f, (str, os.PathLike)):
        atomic_write(f, lambda file: pickle.dump(obj, file, protocol=pickle_protocol))
    else:
        pickle.dump(obj, f, protocol=pickle_protocol)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, map_location, weights_only: bool):
        super().__init__(file)
        self._map_location = map_location
        self._weights_only = weights_only

    def find_class(self, module: str, name: str):
        if (module, name) == (__name__, "rebuild_tensor"):
            return functools.partial(rebuild_tensor, map_location=self._map_location)
        if module == "__builtin__":  # pickle protocols 0-2 name builtins as Python 2 did
            module = "builtins"
        if self._weights_only and (module, name) not in _WEIGHTS_ONLY_GLOBALS:
            raise pickle.UnpicklingError(
                f"md.load(weights_only=True): the file needs the global {module}.{name}, which is not allowed "
                "(only tensors, NumPy arrays, numbers, strings and containers are); if you trust the file, "
                "pass weights_only=False"
            )
        return super().find_class(module, name)


def load(f, map_location=None, weights_only: bool = True):
    """Loads what ``md.save`` wrote, from a path or a binary file object. ``map_location``
    ("cpu", "cuda", an ``md.device``) puts every tensor on that device; None keeps the saved one.
    ``weights_only`` (the default) refuses any object but tensors, arrays, numbers, strings and
    containers; ``weights_only=False`` unpickles anything (only for files you trust)."""
    if map_location is not None and not isinstance(map_location, (str, _core.Device)):
        raise TypeError(f"md.load: map_location must be None, a device string or md.device, got {map_location!r}")
    if map_location is not None:
        map_location = _core.Device(str(map_location))  # a bad name fails here, before reading
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as file:
            return _Unpickler(file, map_location, weights_only).load()
    return _Unpickler(f, map_location, weights_only).load()


__all__ = ["load", "save"]
