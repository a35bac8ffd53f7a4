"""copy.deepcopy and pickling of tensors and modules, and ``md.save`` / ``md.load``.

``md.save`` writes what ``torch.save`` is used for in training code: tensors and state dicts, in
(Ordered)dicts, lists and tuples with numbers, strings and NumPy arrays, as a pickle. A tensor
pickles as a NumPy copy of its values plus its dtype, device, requires_grad and parameter-ness,
rebuilt by ``rebuild_tensor``; tensors of one file that share memory are written as views of one
flat array (``rebuild_tensor_view``), so they share it again after loading. ``md.load`` reads it
back with an unpickler that by default (``weights_only=True``) refuses every global but those two
functions, NumPy's array reconstruction and the builtin containers, so loading a file cannot run its author's code.

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


def tensor_copy(self: Tensor) -> Tensor:
    """``copy.copy(tensor)``, as torch: a new leaf sharing the tensor's memory, with its
    requires_grad (a parameter stays a parameter)."""
    new = self.detach()
    if self._is_param:
        return Parameter(new, requires_grad=self.requires_grad)
    if self.requires_grad:
        new.requires_grad_(True)
    return new


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
        new = _copy_in_storage(self, memo)
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


def _copy_in_storage(t: Tensor, memo: dict) -> Tensor:
    """t's copy for deepcopy: as torch's, each storage is copied once (the first time one of its
    tensors is), and every tensor of it becomes the same view of the copy, so views stay views."""
    if t.numel() == 0:
        return t.clone()
    key = ("minidiff.Storage", t._storage_key)
    if key not in memo:
        memo[key] = t.as_strided((t._storage_numel,), (1,), 0).clone()
        _keep_alive(t, memo)  # the storage's address is not reused while the memo lives
    return memo[key].as_strided(tuple(t.shape), t.stride(), t.storage_offset())


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


def _bf16_bits(values: np.ndarray) -> np.ndarray:
    # 2 bytes a value (np.require keeps a 0-d array 0-d; ascontiguousarray would make it 1-d)
    return (np.require(values, requirements="C").view(np.uint32) >> 16).astype(np.uint16)


def tensor_reduce_ex(self: Tensor, protocol: int):
    """Pickles a tensor as a NumPy copy of its values with dtype, device, requires_grad and
    parameter-ness (not its graph or ``.grad``, as torch)."""
    data = self.numpy()  # a copy; bfloat16 comes back widened to float32, exactly
    if self.dtype == "bfloat16":
        data = _bf16_bits(data)
    return (rebuild_tensor, (data, self.dtype, str(self.device), self.requires_grad, self._is_param))


# ---- tensors sharing memory (views of one tensor, tied weights' state dict entries)
#
# torch.save writes each storage once and every tensor as (storage, offset, shape, strides), so views
# of one tensor come back sharing memory. minidiff has no storage objects to pickle, so md.save finds
# the tensors of one file whose memory overlaps, writes the span they cover once as a flat array, and
# each of them as a recipe of view ops (reshape, slice, index, permute, unsqueeze, expand) that cut it
# out of that array again. A layout the recipes cannot express is saved as an independent copy.


def _memory_layout(t: Tensor) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(address, shape, strides in elements) of a non-empty tensor."""
    return t.data_ptr(), tuple(t.shape), tuple(t.stride())


def _element_offsets(offset: int, shape: tuple[int, ...], strides: tuple[int, ...]) -> np.ndarray:
    """The flat-storage index of every element of a strided layout, in the layout's shape."""
    index = np.full(shape, offset, dtype=np.int64)
    for dim, (size, stride) in enumerate(zip(shape, strides)):
        index += (np.arange(size, dtype=np.int64) * stride).reshape((-1,) + (1,) * (len(shape) - dim - 1))
    return index


def _view_recipe(offset: int, shape: tuple[int, ...], strides: tuple[int, ...]) -> tuple[list, int] | None:
    """View ops that cut the layout (``offset``, ``shape``, ``strides``) out of a flat storage, and the
    storage length they need; None when these ops cannot express it."""
    real = [d for d, n in enumerate(shape) if n > 1 and strides[d] != 0]
    if any(strides[d] < 0 for d in real):
        return None
    order = sorted(real, key=lambda d: -strides[d])  # outermost (largest stride) first
    sizes = [shape[d] for d in order]
    steps = [strides[d] for d in order]
    ops: list = []
    if not order:  # every element is the one at `offset`
        ops.append(("slice", ((offset, offset + 1, 1),)))
        ops.append(("reshape", ()))
        needed = offset + 1
    elif len(order) == 1:  # every steps[0]-th element
        needed = offset + (sizes[0] - 1) * steps[0] + 1
        ops.append(("slice", ((offset, needed, steps[0]),)))
    else:
        # rows of steps[0] elements, each row split into blocks of the next stride, and so on; in the
        # innermost block (steps[-2] elements), every steps[-1]-th element
        split = [sizes[0]]
        for outer, inner in zip(steps[:-2], steps[1:-1]):
            if outer % inner:
                return None
            split.append(outer // inner)
        split.append(steps[-2])
        needed = offset + sizes[0] * steps[0]
        ops.append(("slice", ((offset, needed, 1),)))
        ops.append(("reshape", tuple(split)))
        last = (sizes[-1] - 1) * steps[-1] + 1
        if any(n > m for n, m in zip(sizes[1:-1], split[1:-1])) or last > steps[-2]:
            return None
        ops.append(("slice", tuple([(0, n, 1) for n in sizes[:-1]] + [(0, last, steps[-1])])))
        ops.append(("permute", tuple(int(i) for i in np.argsort(order))))
    for d in range(len(shape)):
        if d not in real:
            ops.append(("unsqueeze", d))
    if any(n > 1 and strides[d] == 0 for d, n in enumerate(shape)):
        ops.append(("expand", tuple(shape)))
    return ops, needed


def _apply_recipe(flat, ops: list, as_index):
    """Runs a recipe on a flat NumPy array or tensor (``as_index`` turns the slice tuples into indices)."""
    t = flat
    for op, arg in ops:
        if op == "slice":
            t = t[as_index(arg)]
        elif op == "reshape":
            t = t.reshape(arg)
        elif op == "permute":
            t = t.transpose(arg) if isinstance(t, np.ndarray) else t.permute(*arg)
        elif op == "unsqueeze":
            t = np.expand_dims(t, arg) if isinstance(t, np.ndarray) else t.unsqueeze(arg)
        elif op == "expand":
            t = np.broadcast_to(t, arg) if isinstance(t, np.ndarray) else t.expand(*arg)
    return t


def _index(spec: tuple) -> tuple:
    return tuple(s if isinstance(s, int) else slice(*s) for s in spec)


def rebuild_tensor_view(storage_key: int, storage: np.ndarray, dtype: str, device: str, ops: list,
                        requires_grad: bool, is_param: bool, storages=None, map_location=None):  # fmt: skip
    """Rebuilds a tensor saved as a view of a shared flat storage (``_SharingPickler``). ``md.load``
    passes ``storages``, the flat tensors made so far, so that the views of one storage share it.
    Saved files name this function: keep its name and arguments."""
    key = (storage_key, id(storage))
    if storages is None or key not in storages:
        flat = rebuild_tensor(storage, dtype, device, False, False, map_location)
        if storages is not None:
            storages[key] = (flat, storage)  # holding the array keeps its id from being reused
    else:
        flat = storages[key][0]
    with no_grad():
        t = _apply_recipe(flat, ops, _index).detach()
    if is_param:
        return Parameter(t, requires_grad=requires_grad)
    if requires_grad:
        t.requires_grad_(True)
    return t


class _NullWriter:
    def write(self, data) -> int:
        return len(data)


class _TensorFinder(pickle.Pickler):
    """Walks an object as pickling would, collecting its tensors (and writing nothing of worth)."""

    def __init__(self, protocol: int):
        super().__init__(_NullWriter(), protocol=protocol)
        self.tensors: list[Tensor] = []

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            self.tensors.append(obj)
            return (tuple, ())
        if isinstance(obj, np.ndarray):  # skip their bytes
            return (tuple, ())
        return NotImplemented


def _shared_storages(tensors: list[Tensor]) -> dict[int, tuple]:
    """For every tensor whose memory overlaps another's: id(tensor) -> the reduce tuple of its view."""
    spans: dict[tuple[str, str], list] = {}
    for t in tensors:
        if t.numel() == 0:
            continue
        ptr, shape, strides = _memory_layout(t)
        if any(s < 0 for s in strides):
            continue
        size = t.element_size()
        last = ptr + size * sum((n - 1) * s for n, s in zip(shape, strides))
        spans.setdefault((str(t.device), t.dtype), []).append((ptr, last + size, t))
    plans: dict[int, tuple] = {}
    for (device, dtype), members in spans.items():
        members.sort(key=lambda m: m[0])
        groups, end = [], None
        for m in members:
            if end is None or m[0] >= end:
                groups.append([])
            groups[-1].append(m)
            end = m[1] if end is None or m[0] >= end else max(end, m[1])
        for group in groups:
            if len(group) > 1:
                plans.update(_plan_group(group, device, dtype))
    return plans


def _plan_group(group: list, device: str, dtype: str) -> dict[int, tuple]:
    start = group[0][0]
    size = group[0][2].element_size()
    recipes, needed = [], 0
    for ptr, _, t in group:
        _, shape, strides = _memory_layout(t)
        offset, rem = divmod(ptr - start, size)
        recipe = _view_recipe(offset, shape, strides) if rem == 0 else None
        if recipe is not None:
            # the recipe must give exactly the layout's elements (checked on an index storage)
            got = _apply_recipe(np.arange(recipe[1], dtype=np.int64), recipe[0], _index)
            if got.shape != shape or not np.array_equal(got, _element_offsets(offset, shape, strides)):
                recipe = None
        recipes.append(recipe)
        needed = max(needed, recipe[1] if recipe else 0)
    kept = [(t, r[0]) for (_, _, t), r in zip(group, recipes) if r is not None]
    if len(kept) < 2:
        return {}
    storage = None
    for t, ops in kept:
        values = t.numpy()  # bfloat16 widened to float32, exactly
        if storage is None:
            storage = np.zeros(needed, dtype=values.dtype)
        target = _apply_recipe(np.arange(needed, dtype=np.int64), ops, _index)
        storage[target] = values
    if dtype == "bfloat16":
        storage = _bf16_bits(storage)
    key = id(storage)
    return {
        id(t): (rebuild_tensor_view, (key, storage, dtype, device, ops, t.requires_grad, t._is_param))
        for t, ops in kept
    }


class _SharingPickler(pickle.Pickler):
    def __init__(self, file, protocol: int, plans: dict[int, tuple]):
        super().__init__(file, protocol=protocol)
        self._plans = plans

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            plan = self._plans.get(id(obj))
            if plan is not None:
                return plan
        return NotImplemented


def _dump(obj, file, protocol: int) -> None:
    finder = _TensorFinder(protocol)
    finder.dump(obj)
    plans = _shared_storages(finder.tensors) if len(finder.tensors) > 1 else {}
    if plans:
        _SharingPickler(file, protocol, plans).dump(obj)
    else:
        pickle.dump(obj, file, protocol=protocol)


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
    {(__name__, "rebuild_tensor"), (__name__, "rebuild_tensor_view"), ("collections", "OrderedDict")}
    | {("numpy", "ndarray"), ("numpy", "dtype")}
    | {("_codecs", "encode")}
    | {("builtins", n) for n in ("dict", "list", "tuple", "set", "frozenset", "bytes", "bytearray", "complex")}
    | {(f"numpy.{core}.multiarray", n) for core in ("core", "_core") for n in ("_reconstruct", "scalar")}
    | {(f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")}
)


def save(obj, f, pickle_protocol: int = pickle.DEFAULT_PROTOCOL) -> None:
    """Saves ``obj`` (tensors, state dicts, optimizer state dicts, and dicts, lists and tuples of
    them with numbers, strings and NumPy arrays) to ``f``: a path, written atomically (a temporary
    file in the same folder, fsynced, then renamed: never a partial file), or a binary file object.
    Save a model as ``md.save(model.state_dict(), path)``. Tensors sharing memory (views of one
    tensor, the entries of tied weights) come back from ``md.load`` sharing it, as torch's do."""
    if isinstance(f, (str, os.PathLike)):
        atomic_write(f, lambda file: _dump(obj, file, pickle_protocol))
    else:
        _dump(obj, f, pickle_protocol)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, map_location, weights_only: bool):
        super().__init__(file)
        self._map_location = map_location
        self._weights_only = weights_only
        self._storages: dict = {}  # the flat tensors the views of shared storages are cut from

    def find_class(self, module: str, name: str):
        if (module, name) == (__name__, "rebuild_tensor"):
            return functools.partial(rebuild_tensor, map_location=self._map_location)
        if (module, name) == (__name__, "rebuild_tensor_view"):
            return functools.partial(rebuild_tensor_view, storages=self._storages, map_location=self._map_location)
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
            return _load(file, map_location, weights_only, os.fspath(f))
    return _load(f, map_location, weights_only, None)


_ZIP_MAGIC = b"PK\x03\x04"


def _load(file, map_location, weights_only: bool, path: str | None):
    where = f" {path}" if path is not None else ""
    seekable = getattr(file, "seekable", lambda: False)()
    if seekable:
        start = file.tell()
        if file.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC:  # torch.save's format since torch 1.6
            raise pickle.UnpicklingError(
                f"md.load: the file{where} is a zip archive (torch.save's format?), not a pickle md.save writes; "
                "load it with torch and save its tensors as NumPy arrays or a safetensors file"
            )
        file.seek(start)
    try:
        return _Unpickler(file, map_location, weights_only).load()
    except EOFError as e:
        raise EOFError(f"md.load: the file{where} is empty or truncated ({e or 'ran out of input'})") from e
    except pickle.UnpicklingError as e:
        if path is None or path in str(e):
            raise
        raise pickle.UnpicklingError(f"md.load: {path}: {e}") from e
    except Exception as e:  # a corrupt file can fail anywhere in unpickling: keep the type, name the file
        if path is not None:
            e.add_note(f"(while md.load read {path})")
        raise


__all__ = ["load", "save"]
