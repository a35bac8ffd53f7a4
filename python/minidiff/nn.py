"""Modules (``md.nn``): PyTorch's names, implemented in the native core.

Subclass ``md.nn.Module`` from Python as in PyTorch: assigning a module or a parameter to an
attribute registers it, ``parameters()`` / ``state_dict()`` walk the tree, and calling the module
runs ``forward``.

The containers (``Sequential``, ``ModuleDict``, ``ParameterList``, ``ParameterDict``), the
activations, the losses, the pooling layers (adaptive ones too), ``Unflatten``, ``BatchNorm2d``,
``InstanceNorm1d``/``InstanceNorm2d``, ``PixelShuffle``/``PixelUnshuffle``, ``Dropout1d``/``Dropout2d``,
``AlphaDropout``/``FeatureAlphaDropout``, ``Conv1d`` and ``ConvTranspose1d`` are written here in Python from
the ops, for code ported from torch tutorials (as is ``Embedding.from_pretrained``); so are ``Conv2d`` and
``ConvTranspose2d`` with dilation or groups other than 1 (with both 1 they are the native layers).
"""

from __future__ import annotations

import math
import operator
import types
import warnings
from collections import OrderedDict

from . import _core, handles, init  # noqa: F401 (init: md.nn.init, as torch.nn.init)
from . import functional as F
from ._core.nn import (
    Attention,
    Dropout,
    Embedding,
    GroupNorm,
    Identity,
    LayerNorm,
    Linear,
    Module,
    Parameter,
)
from ._core.nn import Conv2d as _NativeConv2d
from ._core.nn import ConvTranspose2d as _NativeConvTranspose2d
from ._core.nn import ModuleList as _NativeModuleList
from .autograd import no_grad
from .functional_spatial import _conv_channels, _conv_padding, _ints, _pad_nonconstant, _pool_args, _positive
from .optim import clip_grad_norm_, clip_grad_value_


class ModuleList(_NativeModuleList):
    """A list of modules, registered as children "0", "1", ... It keeps the Python objects, so
    modules defined in Python (with their own ``forward`` and attributes) come back as they went in."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module) -> ModuleList:
        _check_module("ModuleList.append", module)
        return super().append(module)

    def extend(self, modules) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def _replace_all(self, modules: list) -> None:
        # children are named by position ("0", "1", ...), as torch names them: re-register in order
        for i in range(len(self)):
            _unregister(self, str(i))
        self.extend(modules)

    def insert(self, index: int, module) -> None:
        _check_module("ModuleList.insert", module)  # before anything changes
        items = list(self)
        items.insert(index, module)
        self._replace_all(items)

    def __setitem__(self, index: int, module) -> None:
        _check_module("ModuleList", module)
        items = list(self)
        items[index] = module  # IndexError for an index out of range, as a list
        self._replace_all(items)

    def __delitem__(self, index) -> None:
        items = list(self)
        del items[index]
        self._replace_all(items)

    def pop(self, index=-1):
        """Removes and returns the module at ``index`` (the last by default); the rest are renumbered."""
        module = self[index]
        del self[index]
        return module

    def __iadd__(self, modules) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other) -> ModuleList:
        return ModuleList(list(self) + list(other))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList([super(ModuleList, self).__getitem__(i) for i in range(len(self))[index]])
        return super().__getitem__(_list_position("ModuleList", index, len(self), "modules"))


def _list_position(owner: str, index, size: int, items: str) -> int:
    """A container's ``index`` (negative counts from the end) as a position in [0, size), or
    torch's IndexError naming the index as given."""
    index = operator.index(index)
    if not -size <= index < size:
        raise IndexError(f"{owner} index {index} is out of range for {size} {items}")
    return index % size


def _check_module(owner: str, module) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{owner}: {type(module).__name__} is not a Module")


# ---- written in Python from the ops


def _is_native(cls: type) -> bool:
    return cls.__module__ == _core.nn.__name__


def _module_repr(module: Module) -> str:
    """torch's layout: the class name (a native layer's own, such as "AttnDownBlock2D"), its
    ``extra_repr()``, then each child's repr indented under its name. A module whose native part
    was never built (its constructor raised; pytest prints such a half-made ``self`` in tracebacks)
    prints as ``Name(<not built>)``: its native methods would read unset memory."""
    if not module._is_built:
        return f"{type(module).__name__}(<not built>)"
    name = module._type_name() if _is_native(type(module)) else type(module).__name__
    # the native list: a child registered as None prints as "(name): None", as torch's
    lines = [f"  ({k}): " + repr(child).replace("\n", "\n  ") for k, child in _native_named_children(module)]
    extra = module.extra_repr()
    if not lines:
        return f"{name}({extra})"
    if extra:  # torch's layout: the settings on their own line above the children
        lines.insert(0, "  " + extra.replace("\n", "\n  "))
    return f"{name}(\n" + "\n".join(lines) + "\n)"


def _module_list_repr(module: Module) -> str:
    """torch's ModuleList layout: a run of entries that print alike is one line, ``(0-2): 3 x Linear(...)``."""
    if not module._is_built:
        return _module_repr(module)
    texts = [repr(child).replace("\n", "\n  ") for child in module]
    lines, start = [], 0
    for end in range(1, len(texts) + 1):
        if end < len(texts) and texts[end] == texts[start]:
            continue
        label = f"({start})" if end - start == 1 else f"({start}-{end - 1}): {end - start} x"
        lines.append(f"{label}: {texts[start]}" if end - start == 1 else f"{label} {texts[start]}")
        start = end
    name = type(module).__name__
    return f"{name}(\n  " + "\n  ".join(lines) + "\n)" if lines else f"{name}()"


# every module, native or written in Python, prints this way (a subclass may override __repr__)
Module.__repr__ = _module_repr
_NativeModuleList.__repr__ = _module_list_repr


# ---- torch's Module methods that the native core leaves to Python

_native_named_parameters = Module.named_parameters
_native_named_children = Module.named_children
_native_state_dict = Module.state_dict
_native_train = Module.train
_native_getattr, _native_setattr = Module.__getattr__, Module.__setattr__
_native_register_parameter, _native_register_buffer = Module.register_parameter, Module.register_buffer
_native_register_module = Module.register_module


def _require_built(module: Module, what: str) -> None:
    """The native methods of a module whose ``Module.__init__`` has not run would use the unset
    memory of its C++ part (register_parameter there crashed the process): an AttributeError, as
    torch's (its registries do not exist yet either)."""
    if not module._is_built:
        raise AttributeError(
            f"{type(module).__name__}.{what}: Module.__init__() has not been called (call super().__init__() first)"
        )


def _registered_children(module: Module):
    """(name, child) for each registered child, in registration order: a module registered under two
    names comes under both (the containers count their entries with it, and copy.deepcopy rebuilds
    the registry from it); a child registered as None is left out."""
    _require_built(module, "named_children")
    for name, child in _native_named_children(module):
        if child is not None:
            yield name, child


def _named_children(self: Module):
    """The children by name, in registration order; as torch's, a module registered under two names
    comes once, under its first."""
    seen = set()
    for name, child in _registered_children(self):
        if id(child) not in seen:
            seen.add(id(child))
            yield name, child


def _children(self: Module):
    for _, child in self.named_children():
        yield child


Module.named_children = _named_children
Module.children = _children


def _own_parameters(module: Module) -> list:
    return _native_named_parameters(module, "", False)


def _own_buffers(module: Module) -> list:
    return [(name, t) for name, t, _ in module._own_buffers() if t is not None]


def _named_modules(self: Module, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
    """The module and its descendants, depth first, each once (a block used twice is listed under
    its first name) unless ``remove_duplicate=False``, as torch's."""
    _require_built(self, "named_modules")
    if memo is None:
        memo = set()
    if self in memo:
        return
    if remove_duplicate:
        memo.add(self)
    yield prefix, self
    for name, child in _native_named_children(self):
        if child is not None:
            yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)


def _modules(self: Module):
    for _, module in self.named_modules():
        yield module


def _named_members(self: Module, members, prefix: str, recurse: bool, remove_duplicate: bool):
    """torch's walk for named_parameters / named_buffers: each module's own tensors, module by
    module; a tensor registered twice (tied weights) once, under its first name, unless
    ``remove_duplicate=False``."""
    _require_built(self, members.__name__.replace("_own", "named"))
    modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
    seen = set()
    for module_prefix, module in modules:
        for name, t in members(module):
            if remove_duplicate:
                if t._impl_id in seen:
                    continue
                seen.add(t._impl_id)
            yield (f"{module_prefix}.{name}" if module_prefix else name), handles.canonical(t)


def _named_parameters(self: Module, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
    _require_built(self, "named_parameters")
    if recurse and remove_duplicate:  # the common call, listed by the core
        for name, p in _native_named_parameters(self, prefix, True):
            yield name, handles.canonical(p)
        return
    yield from _named_members(self, _own_parameters, prefix, recurse, remove_duplicate)


def _parameters(self: Module, recurse: bool = True):
    for _, p in self.named_parameters(recurse=recurse):
        yield p


def _named_buffers(self: Module, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
    yield from _named_members(self, _own_buffers, prefix, recurse, remove_duplicate)


def _buffers(self: Module, recurse: bool = True):
    for _, t in self.named_buffers(recurse=recurse):
        yield t


def _state_entries(module: Module, prefix: str):
    """The tensors themselves (not detached) in the native state_dict's order: each module's
    parameters, then its persistent buffers, then its children's (a module registered twice under
    both names, as torch's)."""
    for name, p in _own_parameters(module):
        yield prefix + name, handles.canonical(p)
    for name, t, persistent in module._own_buffers():
        if t is not None and persistent:
            yield prefix + name, handles.canonical(t)
    for name, child in _native_named_children(module):
        if child is not None:
            yield from _state_entries(child, f"{prefix}{name}.")


def _state_dict(self: Module, *args, destination=None, prefix: str = "", keep_vars: bool = False):
    """torch's ``state_dict(destination=None, prefix="", keep_vars=False)`` (also positionally, as
    torch still accepts): detached tensors sharing the module's storage, or with ``keep_vars``
    the parameters and buffers themselves."""
    _require_built(self, "state_dict")
    if len(args) > 3:
        raise TypeError(f"state_dict() takes at most 3 positional arguments, got {len(args)}")
    destination, prefix, keep_vars = (*args, *(destination, prefix, keep_vars)[len(args) :])
    if destination is None:
        destination = OrderedDict()
    items = _state_entries(self, prefix) if keep_vars else _native_state_dict(self).items()
    for key, t in items:
        destination[key if keep_vars else prefix + key] = t
    return destination


def _is_built(module: Module) -> bool:
    # False until Module.__init__ ran: the native methods would read the unset memory of its C++ part
    return module._is_built


def _slot(module: Module, name: str) -> str | None:
    """What ``name`` is registered as in this module: "parameter" (also a parameter registered as
    None, or one a native layer was built without), "module", "buffer" (also one registered as
    None), or None."""
    if (
        any(n == name for n, _ in _own_parameters(module))
        or name in vars(module).get("_none_params", ())
        or name in module._absent_names()
    ):
        return "parameter"
    if any(n == name for n, _ in _native_named_children(module)):
        return "module"
    if name in vars(module).get("_none_buffers", {}) or any(b[0] == name for b in module._own_buffers()):
        return "buffer"
    return None


def _unregister(module: Module, name: str) -> None:
    """Drops whatever ``name`` is registered as, and the attribute that stood for it."""
    _native_register_parameter(module, name, None)  # the native unregister: parameter, buffer or child
    state = vars(module)
    state.get("_child_objects", {}).pop(name, None)
    state.get("_none_buffers", {}).pop(name, None)
    state.get("_none_params", set()).discard(name)
    state.pop(name, None)


def _check_name(module: Module, kind: str, name, slot: str) -> None:
    """torch's checks of a name to register: a string, not empty, without ".", and not an
    attribute of another kind (TypeError, then KeyError)."""
    _require_built(module, f"register_{kind}")
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if not name:
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got {name!r}')
    if _slot(module, name) != slot and hasattr(module, name):
        raise KeyError(f"attribute '{name}' already exists")


def _getattr(self: Module, name: str):
    try:
        value = _native_getattr(self, name)
    except AttributeError:
        # a child registered as None (register_module(name, None)) reads None, as torch's
        if _is_built(self) and any(n == name and c is None for n, c in _native_named_children(self)):
            return None
        raise
    return handles.canonical(value) if isinstance(value, _core.Tensor) else value


def _setattr(self: Module, name: str, value) -> None:
    """torch's rules: a Parameter registers (replacing a buffer or module of that name), a module
    registers (replacing a buffer), a tensor or None replaces a buffer; a parameter takes only a
    Parameter or None, a module only a module or None, a buffer only a tensor or None (else a
    TypeError, leaving the registry as it was)."""
    if not _is_built(self):  # the native setattr refuses modules and parameters here
        _native_setattr(self, name, value)
        return
    slot = _slot(self, name)
    is_param = isinstance(value, _core.Tensor) and value._is_param
    if is_param:
        if slot in ("module", "buffer"):
            _unregister(self, name)
    elif slot == "parameter":
        if value is None:
            self.register_parameter(name, None)
            return
        if isinstance(value, _core.Tensor):  # it would stay registered with its old value under the new attribute
            raise TypeError(
                f"cannot assign a plain tensor to parameter '{name}' (md.nn.Parameter or None expected; to "
                "change its values, use copy_ under no_grad)"
            )
        raise TypeError(
            f"cannot assign '{type(value).__name__}' as parameter '{name}' (md.nn.Parameter or None expected)"
        )
    elif isinstance(value, Module):
        if slot == "buffer":
            _unregister(self, name)
        vars(self).get("_child_objects", {}).pop(name, None)  # the attribute keeps the new one alive
    elif slot == "module":
        if value is not None:
            raise TypeError(
                f"cannot assign '{type(value).__name__}' as child module '{name}' (md.nn.Module or None expected)"
            )
        _unregister(self, name)
        object.__setattr__(self, name, None)
        return
    elif slot == "buffer":
        if value is not None and not isinstance(value, _core.Tensor):
            raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (a tensor or None expected)")
        persistent = vars(self).get("_none_buffers", {}).get(name)
        if persistent is None:
            persistent = next(p for n, _, p in self._own_buffers() if n == name)
        self.register_buffer(name, value, persistent)  # a new value replaces it; None empties it
        return
    _native_setattr(self, name, value)
    if is_param:
        # attribute access returns what sits in __dict__: make that the tensor's one handle
        object.__setattr__(self, name, handles.adopt(value))


def _delattr(self: Module, name: str) -> None:
    """``del module.name`` unregisters a parameter, buffer or child, as torch's."""
    if _is_built(self) and _slot(self, name) is not None:
        _unregister(self, name)
        return
    object.__delattr__(self, name)


def _dir(self: Module) -> list[str]:
    """The attributes plus the registered names (buffers and children live outside ``__dict__``);
    names starting with a digit (a container's entries) left out, as torch's."""
    names = set(object.__dir__(self))
    if _is_built(self):
        names.update(n for n, _ in _own_parameters(self))
        names.update(b[0] for b in self._own_buffers())
        names.update(n for n, _ in _native_named_children(self))
    return sorted(n for n in names if not n[:1].isdigit())


def _register_parameter(self: Module, name: str, param) -> None:
    _check_name(self, "parameter", name, "parameter")
    if param is not None and not (isinstance(param, _core.Tensor) and param._is_param):
        raise TypeError(
            f"cannot assign '{type(param).__name__}' object to parameter '{name}' (md.nn.Parameter or None required)"
        )
    _native_register_parameter(self, name, param)
    state = vars(self)
    if param is not None:
        state.get("_none_params", set()).discard(name)
        state.pop(name, None)  # an attribute set earlier would hide the new parameter
        handles.adopt(param)
    else:  # as torch: the attribute reads None, and nothing is in parameters() or the state dict
        state.setdefault("_none_params", set()).add(name)
        object.__setattr__(self, name, None)


def _register_buffer(self: Module, name: str, tensor, persistent: bool = True) -> None:
    _check_name(self, "buffer", name, "buffer")
    if tensor is not None and not isinstance(tensor, _core.Tensor):
        raise TypeError(
            f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (a tensor or None required)"
        )
    if tensor is None:  # as torch: the attribute reads None, and nothing is in buffers() or the state dict
        _native_register_parameter(self, name, None)  # the native unregister: drops a buffer of that name too
        object.__setattr__(self, name, None)
        self.__dict__.setdefault("_none_buffers", {})[name] = persistent
        return
    if name in self.__dict__.get("_none_buffers", {}):
        del self._none_buffers[name]
        self.__dict__.pop(name, None)  # the None that stood for it
    _native_register_buffer(self, name, tensor, persistent)
    handles.adopt(tensor)


def _add_child(parent: Module, name: str, module) -> None:
    """Registers ``module`` (or None) as the child ``name`` and keeps its Python object alive: the
    native registry holds only its C++ part, so a module defined in Python would come back as a
    bare ``Module`` once the caller dropped it. Unlike attribute assignment it leaves the instance
    ``__dict__`` alone (but drops an attribute of that name, which would hide the new child)."""
    _native_register_module(parent, name, module)
    state = vars(parent)
    state.pop(name, None)
    if module is not None:
        state.setdefault("_child_objects", {})[name] = module
    else:
        state.get("_child_objects", {}).pop(name, None)


def _register_module(self: Module, name: str, module) -> None:
    if module is not None and not isinstance(module, Module):
        raise TypeError(f"{type(module).__name__} is not a Module subclass")
    _check_name(self, "module", name, "module")
    _add_child(self, name, module)


Module.named_parameters = _named_parameters
Module.parameters = _parameters
Module.named_buffers = _named_buffers
Module.buffers = _buffers
Module.named_modules = _named_modules
Module.modules = _modules
Module.state_dict = _state_dict
Module.__getattr__ = _getattr
Module.__setattr__ = _setattr
Module.__delattr__ = _delattr
Module.__dir__ = _dir
Module.register_parameter = _register_parameter
Module.register_buffer = _register_buffer
Module.register_module = _register_module
Module.add_module = _register_module


def _requires_grad_(self: Module, requires_grad: bool = True) -> Module:
    """Sets requires_grad on every parameter (freezing a model: ``ema.requires_grad_(False)``)."""
    for p in self.parameters():
        p.requires_grad_(requires_grad)
    return self


def _apply(self: Module, fn) -> Module:
    """Calls ``fn`` on every submodule (children first) and on the module itself, as torch (a child
    registered twice, once)."""
    for child in self.children():
        child.apply(fn)
    fn(self)
    return self


def _train(self: Module, mode: bool = True) -> Module:
    """Sets training mode here and in every child through the child's own ``train`` (a subclass's
    override, such as one keeping a frozen part in eval mode, runs as in torch)."""
    _require_built(self, "train")
    if not isinstance(mode, bool):
        raise ValueError(f"train: the training mode must be a bool, got {mode!r}")
    _native_train(self, mode)
    for child in self.children():
        child.train(mode)
    return self


def _eval(self: Module) -> Module:
    return self.train(False)


def _get_submodule(self: Module, target: str) -> Module:
    module = self
    for part in target.split(".") if target else []:
        found = dict(_registered_children(module)).get(part)
        if found is None:
            raise AttributeError(f"{type(module).__name__} has no submodule {part!r} (looking up {target!r})")
        module = found
    return module


def _get_tensor(self: Module, target: str, kind: str, members):
    module_path, _, name = target.rpartition(".")
    module = self.get_submodule(module_path)
    found = dict(members(module)).get(name)
    if found is None:
        if hasattr(module, name):
            raise AttributeError(f"{type(module).__name__}.{name} is not a {kind} (looking up {target!r})")
        raise AttributeError(f"{type(module).__name__} has no attribute {name!r} (looking up {target!r})")
    return handles.canonical(found)


def _get_parameter(self: Module, target: str):
    """The parameter at a dotted path (``model.get_parameter("down_blocks.0.resnets.0.conv1.weight")``)."""
    return _get_tensor(self, target, "parameter", _own_parameters)


def _get_buffer(self: Module, target: str):
    """The buffer at a dotted path."""
    return _get_tensor(self, target, "buffer", _own_buffers)


def _float(self: Module) -> Module:
    return self  # parameters are float32 already


_native_to = Module.to


def _to(self: Module, *args, device=None, dtype=None, non_blocking: bool = False) -> Module:
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` or keywords, as torch.
    Parameters are float32: a dtype other than float32 is a TypeError."""
    _require_built(self, "to")
    for arg in args:
        if isinstance(arg, _core.Tensor):  # the tensor's device and dtype
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, str) and arg in ("float32", "float"):
            dtype = arg
        elif arg is not None:
            device = arg
    if isinstance(device, str) and device in ("bfloat16", "float16", "half", "float64", "double", "int64"):
        device, dtype = None, device
    if dtype not in (None, "float32", "float"):
        raise TypeError(
            f"Module.to: parameters are float32 here; dtype {dtype!r} is not supported (for bfloat16 training "
            "use mixed_precision='bf16', which rounds the operands of the matrix products)"
        )
    return _native_to(self, device) if device is not None else self


Module.requires_grad_ = _requires_grad_
Module.apply = _apply
Module.train = _train
Module.eval = _eval
Module.get_submodule = _get_submodule
Module.get_parameter = _get_parameter
Module.get_buffer = _get_buffer
Module.float = _float
Module.to = _to
# torch's dtype casts: float32 is the one parameter dtype here, so these name what is not supported
Module.half = lambda self: self.to("float16")
Module.double = lambda self: self.to("float64")
Module.bfloat16 = lambda self: self.to("bfloat16")


# ---- where new layers live: torch's device= and dtype= factory arguments, and the default device


def _place_new_layer(layer: Module, device) -> None:
    """Moves a layer just built on the CPU to ``device``, or else to the default device
    (``md.set_default_device``, ``with md.device(...)``), as the native constructors do
    (cpp/python/nn.cpp's placed(), which also checks ``dtype``); for the grouped and dilated
    convolutions made here, whose native part is built on the CPU first."""
    target = _core.get_default_device() if device is None else device
    if str(target) != "cpu":
        _native_to(layer, target)


def _set_child(parent: Module, name: str, module: Module) -> None:
    """Registers ``module`` as the child ``name`` of a container, keeping its Python object alive.
    A child named like a method ("keys", "forward") does not hide the method, and is allowed."""
    owner = type(parent).__name__
    if not isinstance(name, str):
        raise TypeError(f"{owner}: a module name must be a string, got {type(name).__name__}")
    if not isinstance(module, Module):
        raise TypeError(f"{owner}: {type(module).__name__} is not a Module")
    if not name or "." in name:
        raise KeyError(f'{owner}: a module name must be non-empty and cannot contain ".", got {name!r}')
    _add_child(parent, name, module)


def _remove_child(parent: Module, name: str) -> None:
    _unregister(parent, name)


class _PythonModule(Module):
    """Base of the modules below (their settings show in the repr through ``extra_repr``)."""


class Sequential(_PythonModule):
    """Modules applied in order: ``Sequential(a, b, c)(x)`` is ``c(b(a(x)))``.

    Children are named "0", "1", ... or, for ``Sequential(OrderedDict(...))``, by the keys, as
    torch names them (parameters ``"0.weight"``, ...). Indexing with a slice returns a Sequential
    of the same modules under their names.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                _set_child(self, name, module)
        else:
            for i, module in enumerate(args):
                _set_child(self, str(i), module)

    def forward(self, input):  # noqa: A002 (torch's argument name)
        for module in self:
            input = module(input)
        return input

    def __len__(self) -> int:
        return len(list(_registered_children(self)))

    def __iter__(self):
        return (module for _, module in _registered_children(self))

    def __getitem__(self, index):
        items = list(_registered_children(self))
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[_list_position("Sequential", index, len(items), "modules")][1]

    def append(self, module: Module) -> Sequential:
        _set_child(self, str(len(self)), module)
        return self

    def extend(self, modules) -> Sequential:
        for module in modules:
            self.append(module)
        return self

    def _position(self, index) -> int:
        return _list_position("Sequential", index, len(self), "modules")

    def _renumber(self, modules: list) -> None:
        # after a deletion or an insertion the children are "0", "1", ... again, as torch renames them
        for name, _ in list(_registered_children(self)):
            _remove_child(self, name)
        for i, module in enumerate(modules):
            _set_child(self, str(i), module)

    def __setitem__(self, index, module: Module) -> None:
        """Replaces the module at ``index`` under its name."""
        _check_module("Sequential", module)
        _set_child(self, list(_registered_children(self))[self._position(index)][0], module)

    def __delitem__(self, index) -> None:
        modules = list(self)
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[self._position(index)]
        self._renumber(modules)

    def insert(self, index: int, module: Module) -> Sequential:
        _check_module("Sequential.insert", module)
        modules = list(self)
        index = operator.index(index)
        if not -len(modules) <= index <= len(modules):
            raise IndexError(f"Sequential.insert: index {index} is out of range for {len(modules)} modules")
        modules.insert(index, module)
        self._renumber(modules)
        return self

    def pop(self, index) -> Module:
        module = self[index]
        del self[index]
        return module

    def __add__(self, other) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential + : only a Sequential can be added, got {type(other).__name__}")
        return Sequential(*self, *other)

    def __iadd__(self, other) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential += : only a Sequential can be added, got {type(other).__name__}")
        return self.extend(list(other))


class ModuleDict(_PythonModule):
    """A dict of modules, registered as children named by their keys (parameters ``"key.weight"``).
    Keeps insertion order; assigning to an existing key replaces the module in its place."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        for name, module in _registered_children(self):
            if name == key:
                return module
        raise KeyError(key)

    def __setitem__(self, key: str, module: Module) -> None:
        _set_child(self, key, module)

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 (KeyError for a missing key, as a dict)
        _remove_child(self, key)

    def __contains__(self, key) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(list(_registered_children(self)))

    def __iter__(self):
        return iter(self.keys())

    def keys(self) -> list[str]:
        return [name for name, _ in _registered_children(self)]

    def values(self) -> list[Module]:
        return [module for _, module in _registered_children(self)]

    def items(self) -> list[tuple[str, Module]]:
        return list(_registered_children(self))

    def update(self, modules) -> None:
        """Adds the modules of a mapping, or of an iterable of (key, module) pairs, in order."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for pair in pairs:
            key, module = pair
            self[key] = module

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        for key in self.keys():
            del self[key]


def _as_parameter(owner: str, value):
    """A tensor as a parameter, as torch's containers wrap one (sharing its storage)."""
    if not isinstance(value, _core.Tensor):
        raise TypeError(f"{owner}: only tensors (parameters) can be held, got {type(value).__name__}")
    return value if value._is_param else Parameter(value)


def _put_parameter(module: Module, name: str, param) -> None:
    """A container's entry: registered without register_parameter's check against attributes, so
    a key named like a method ("keys") is allowed, as in the module containers."""
    _native_register_parameter(module, name, param)
    vars(module).pop(name, None)
    handles.adopt(param)


def _parameters_repr(module: Module, items) -> str:
    """torch's layout for the parameter containers: one "(name): Parameter containing: [...]" line each."""
    lines = []
    for key, p in items:
        size = "x".join(str(d) for d in p.shape)
        device = "" if str(p.device) == "cpu" else f" ({p.device})"
        lines.append(f"    ({key}): Parameter containing: [{p.dtype} of size {size}{device}]")
    name = type(module).__name__
    return f"{name}(\n" + "\n".join(lines) + "\n)" if lines else f"{name}()"


class ParameterList(_PythonModule):
    """A list of parameters, registered as "0", "1", ..., as torch names them (``parameters()``,
    ``state_dict()``); a plain tensor is wrapped as a Parameter sharing its storage. Only tensors
    can be held (torch's ParameterList takes other objects too)."""

    def __init__(self, values=None):
        super().__init__()
        if values is not None:
            self.extend(values)

    def __len__(self) -> int:
        return sum(1 for _ in self.named_parameters(recurse=False))

    def _index(self, index) -> int:
        return _list_position("ParameterList", index, len(self), "parameters")

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ParameterList([self[i] for i in range(len(self))[index]])
        return Module.__getattr__(self, str(self._index(index)))

    def __setitem__(self, index, param) -> None:
        _put_parameter(self, str(self._index(index)), _as_parameter("ParameterList", param))

    def __iter__(self):
        return iter([self[i] for i in range(len(self))])

    def __iadd__(self, parameters) -> ParameterList:
        return self.extend(parameters)

    def append(self, value) -> ParameterList:
        _put_parameter(self, str(len(self)), _as_parameter("ParameterList", value))
        return self

    def extend(self, values) -> ParameterList:
        for value in values:
            self.append(value)
        return self

    def __repr__(self) -> str:
        return _parameters_repr(self, enumerate(self))


class ParameterDict(_PythonModule):
    """A dict of parameters, registered under their keys, as torch's (``state_dict()`` keys are the
    keys); a plain tensor is wrapped as a Parameter sharing its storage. Keeps insertion order;
    assigning to an existing key replaces the parameter in its place."""

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def _own(self) -> dict:
        return dict(self.named_parameters(recurse=False))

    def __getitem__(self, key: str):
        if key not in self._own():
            raise KeyError(key)
        return Module.__getattr__(self, key)  # the registry, not a method of the same name

    def __setitem__(self, key: str, value) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict: keys must be strings, got {type(key).__name__}")
        if not key or "." in key:
            raise KeyError(f'ParameterDict: a key must be non-empty and cannot contain ".", got {key!r}')
        _put_parameter(self, key, _as_parameter("ParameterDict", value))

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 (KeyError for a missing key, as a dict)
        _unregister(self, key)

    def __contains__(self, key) -> bool:
        return key in self._own()

    def __len__(self) -> int:
        return len(self._own())

    def __iter__(self):
        return iter(self.keys())

    def keys(self) -> list[str]:
        return list(self._own())

    def values(self) -> list:
        return [self[key] for key in self.keys()]

    def items(self) -> list[tuple[str, object]]:
        return [(key, self[key]) for key in self.keys()]

    def get(self, key: str, default=None):
        return self[key] if key in self else default

    def setdefault(self, key: str, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, parameters) -> None:
        """Adds the parameters of a mapping or of an iterable of (key, tensor) pairs. As torch's: an
        OrderedDict, a ParameterDict or pairs keep their order, a plain dict's keys are sorted."""
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs = list(parameters.items())
        elif hasattr(parameters, "items"):
            pairs = sorted(parameters.items())
        else:
            pairs = parameters
        for pair in pairs:
            key, value = pair
            self[key] = value

    def pop(self, key: str):
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        for key in self.keys():
            del self[key]

    def copy(self) -> ParameterDict:
        return ParameterDict(self.items())

    def __repr__(self) -> str:
        return _parameters_repr(self, self.items())


class ReLU(_PythonModule):
    """max(x, 0). ``inplace=True`` writes the result into the input (see ``F.relu``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class SiLU(_PythonModule):
    """``x * sigmoid(x)``. ``inplace=True`` writes the result into the input (see ``F.silu``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class GELU(_PythonModule):
    """Gaussian error linear unit: exact (``approximate="none"``) or its tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(_PythonModule):
    def forward(self, input):  # noqa: A002
        return F.sigmoid(input)


class Tanh(_PythonModule):
    def forward(self, input):  # noqa: A002
        return F.tanh(input)


class LeakyReLU(_PythonModule):
    """``x`` where x > 0, else ``negative_slope * x``. ``inplace=True`` writes the result into the input."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.leaky_relu(input, self.negative_slope, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Mish(_PythonModule):
    """``x * tanh(softplus(x))``. ``inplace=True`` writes the result into the input."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.mish(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softplus(_PythonModule):
    """``log(1 + exp(beta * x)) / beta``, linear above ``threshold`` (see ``F.softplus``)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):  # noqa: A002
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(_PythonModule):
    """Softmax over ``dim``; without one, torch's deprecated implicit choice (with torch's warning,
    at the line that called the module): dim 0 for 0-, 1- and 3-d input, else dim 1."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):  # noqa: A002
        if self.dim is None:  # the warning names the line that called the module (F.softmax's frame + 2)
            return F.softmax(input, None, _stacklevel=F._user_stacklevel() + 2)
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Flatten(_PythonModule):
    """Flattens dimensions ``start_dim`` to ``end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(_PythonModule):
    """Splits dimension ``dim`` into ``unflattened_size`` (a tuple or list of ints, one of which may
    be -1): (N, 3 * 8 * 8) -> (N, 3, 8, 8) with ``Unflatten(1, (3, 8, 8))``."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise TypeError(f"Unflatten: dim must be an int, got {dim!r} (named dimensions are not supported)")
        if not isinstance(unflattened_size, (tuple, list)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in unflattened_size
        ):
            raise TypeError(f"Unflatten: unflattened_size must be a tuple or list of ints, got {unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input):  # noqa: A002
        shape = tuple(input.shape)
        ndim = len(shape)
        if not -ndim <= self.dim < ndim:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for input of shape {shape}")
        d = self.dim % ndim
        sizes = list(self.unflattened_size)
        known = math.prod(v for v in sizes if v != -1)
        if sizes.count(-1) == 1 and known > 0:  # -1 takes what the others leave
            sizes[sizes.index(-1)] = shape[d] // known
        if any(v < 0 for v in sizes) or math.prod(sizes) != shape[d]:
            raise ValueError(
                f"Unflatten: sizes {tuple(self.unflattened_size)} do not multiply up to dimension {self.dim} "
                f"(size {shape[d]}) of the input of shape {shape}"
            )
        return input.reshape(*shape[:d], *sizes, *shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Upsample(_PythonModule):
    """``F.interpolate`` as a module: give ``size`` or ``scale_factor``; ``mode`` is "nearest",
    "nearest-exact", "bilinear" or "bicubic"."""

    def __init__(
        self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None, recompute_scale_factor=None
    ):
        super().__init__()
        self.size = size
        # torch keeps a single factor as a float (its repr says scale_factor=2.0)
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) else scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):  # noqa: A002
        return F.interpolate(
            input,
            size=self.size,
            scale_factor=self.scale_factor,
            mode=self.mode,
            align_corners=self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        what = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return f"{what}, mode={self.mode!r}"


def _norm_init(self, num_features, eps, momentum, affine, track_running_stats, bias) -> None:
    """BatchNorm2d's and InstanceNorm2d's shared state, under torch's names: the affine weight and
    bias, and the running-statistics buffers when tracked."""
    self.num_features = num_features
    self.eps = eps
    self.momentum = momentum
    self.affine = affine
    self.track_running_stats = track_running_stats
    self.weight = Parameter(_core.ones(num_features)) if affine else None
    self.bias = Parameter(_core.zeros(num_features)) if affine and bias else None
    if track_running_stats:
        self.register_buffer("running_mean", _core.zeros(num_features))
        self.register_buffer("running_var", _core.ones(num_features))
        self.register_buffer("num_batches_tracked", _core.tensor(0, dtype="int64"))
    else:
        self.running_mean = self.running_var = self.num_batches_tracked = None


def _reset_running_stats(self) -> None:
    """torch's: running mean 0, running variance 1, no batch counted (when the statistics are tracked)."""
    if self.track_running_stats:
        init.zeros_(self.running_mean)
        init.ones_(self.running_var)
        init.zeros_(self.num_batches_tracked)


def _reset_norm_parameters(self) -> None:
    """torch's: the running statistics reset, the affine weight 1 and bias 0."""
    self.reset_running_stats()
    if self.weight is not None:
        init.ones_(self.weight)
    if self.bias is not None:
        init.zeros_(self.bias)


class _BatchNorm(_PythonModule):
    """BatchNorm1d's and BatchNorm2d's state, forward and repr (torch's ``_BatchNorm``); a subclass
    checks the input's rank in ``_check_input``. ``F.batch_norm`` normalises and updates the
    running statistics; this decides which statistics and what factor, as torch's module does."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__()
        _norm_init(self, num_features, eps, momentum, affine, track_running_stats, bias)
        if device is not None or dtype is not None:  # torch's factory arguments (the int64 counter stays)
            self.to(device=device, dtype=dtype)

    reset_running_stats = _reset_running_stats
    reset_parameters = _reset_norm_parameters

    def _check_input(self, shape: tuple[int, ...]) -> None:
        raise NotImplementedError

    def forward(self, input):  # noqa: A002
        shape = tuple(input.shape)
        self._check_input(shape)
        if shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}: expected {self.num_features} channels, got input of shape {shape}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input over N, H and W, per channel, as torch's.

    Training normalises with the batch's mean and biased variance and updates the running
    statistics (with the unbiased variance) by ``momentum``, or by a cumulative average when
    ``momentum`` is None; eval mode normalises with the running statistics. Buffers
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` (int64) are in the state dict
    under torch's names. ``bias=False`` (keyword, as in torch 2.13) keeps an affine weight only.
    Gradients come from the ops.
    """

    def _check_input(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 4:
            raise ValueError(f"BatchNorm2d: expected 4D input (N, C, H, W), got shape {shape}")
        # checked here (before num_batches_tracked counts the batch), with this module's message
        if (self.training or self.running_mean is None) and shape[0] * shape[2] * shape[3] == 1:
            raise ValueError(f"BatchNorm2d: expected more than 1 value per channel when training, got {shape}")


# ---- pooling (torch's windows: stride, padding, dilation, ceil_mode; see F.avg_pool2d, F.max_pool2d)


class AvgPool2d(_PythonModule):
    """Mean over sliding ``kernel_size`` windows (see ``F.avg_pool2d``). Bad sizes are a
    ValueError here, at construction (torch's at the first forward)."""

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override=None,
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size  # as torch stores (and prints) it
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        _pool_args("AvgPool2d", 2, kernel_size, stride, padding, 1)  # fail here, not in forward

    def forward(self, input):  # noqa: A002
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _MaxPoolNd(_PythonModule):
    """MaxPool1d's and MaxPool2d's arguments (kept as given, the stride defaulting to the kernel,
    as torch stores them), checked at construction, and repr."""

    _dims = 2

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        dilation=1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        _pool_args(type(self).__name__, self._dims, kernel_size, stride, padding, dilation)  # fail here, not in forward

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool2d(_MaxPoolNd):
    """Maximum over sliding ``kernel_size`` windows (see ``F.max_pool2d``; ties: the first in
    row-major order, as torch's CPU kernel); ``return_indices=True`` returns (values, indices).
    Bad sizes are a ValueError here, at construction (torch's at the first forward)."""

    def forward(self, input):  # noqa: A002
        return F.max_pool2d(
            input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices
        )


class AdaptiveAvgPool2d(_PythonModule):
    """Mean over torch's adaptive bins, to ``output_size`` (an int or a pair; None keeps that
    size) whatever the input's size (see ``F.adaptive_avg_pool2d``)."""

    def __init__(self, output_size):
        super().__init__()
        F._adaptive_output_size("AdaptiveAvgPool2d", output_size, 1, 1)  # fail here, not in forward
        self.output_size = output_size

    def forward(self, input):  # noqa: A002
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(_PythonModule):
    """Maximum over torch's adaptive bins (see ``F.adaptive_max_pool2d``)."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        F._adaptive_output_size("AdaptiveMaxPool2d", output_size, 1, 1)
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):  # noqa: A002
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# ---- pixel (un)shuffle, channel dropout, instance norm, conv1d (composed in functional.py)


class PixelShuffle(_PythonModule):
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r), torch's channel order (see ``F.pixel_shuffle``)."""

    def __init__(self, upscale_factor: int):
        super().__init__()
        self.upscale_factor = F._factor("PixelShuffle", "upscale_factor", upscale_factor)

    def forward(self, input):  # noqa: A002
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(_PythonModule):
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W), the inverse of ``PixelShuffle``."""

    def __init__(self, downscale_factor: int):
        super().__init__()
        self.downscale_factor = F._factor("PixelUnshuffle", "downscale_factor", downscale_factor)

    def forward(self, input):  # noqa: A002
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class _DropoutNd(_PythonModule):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L) input with probability ``p`` while training,
    scaling the rest by 1 / (1 - p); identity in eval mode. Draws from minidiff's generator."""

    def forward(self, input):  # noqa: A002
        return F.dropout1d(input, self.p, self.training)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) input with probability ``p`` while training, scaling
    the rest by 1 / (1 - p); identity in eval mode. Draws from minidiff's generator (seeded by
    ``md.manual_seed``). 3D input is taken as (N, C, L), with torch's warning."""

    def forward(self, input):  # noqa: A002
        return F.dropout2d(input, self.p, self.training)


class AlphaDropout(_DropoutNd):
    """Dropout for SELU networks (see ``F.alpha_dropout``): while training each element is
    dropped with probability ``p`` to SELU's saturation value and all are scaled and shifted to
    keep zero mean and unit variance; identity in eval mode. Draws from minidiff's generator."""

    def forward(self, input):  # noqa: A002
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """``AlphaDropout`` of whole channels of (N, C, *) input (see ``F.feature_alpha_dropout``)."""

    def forward(self, input):  # noqa: A002
        return F.feature_alpha_dropout(input, self.p, self.training)


def _embedding_from_pretrained(
    cls,
    embeddings,
    freeze: bool = True,
    padding_idx=None,
    max_norm=None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
):
    """torch's ``Embedding.from_pretrained``: an Embedding holding a copy of the 2-D
    ``embeddings`` (num_embeddings, embedding_dim), its padding row included as given, frozen
    (no gradient) unless ``freeze=False``."""
    if not isinstance(embeddings, _core.Tensor):
        raise TypeError(f"Embedding.from_pretrained: embeddings must be an md tensor, got {type(embeddings).__name__}")
    if embeddings.ndim != 2:
        raise ValueError(
            f"Embedding.from_pretrained: embeddings must be 2-D (num_embeddings, embedding_dim), "
            f"got shape {tuple(embeddings.shape)}"
        )
    rows, cols = embeddings.shape
    embedding = cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)
    embedding.to(embeddings.device)
    with no_grad():
        embedding.weight.copy_(embeddings)
    embedding.weight.requires_grad_(not freeze)
    return embedding


Embedding.from_pretrained = classmethod(_embedding_from_pretrained)


class _InstanceNorm(_PythonModule):
    """InstanceNorm1d's and InstanceNorm2d's state, forward and repr (torch's ``_InstanceNorm``):
    each channel of each sample is normalised over its ``_dims`` spatial dims, batched or not."""

    _dims = 2
    _layout = "(C, H, W)", "(N, C, H, W)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        *,
        bias: bool = True,
    ):
        super().__init__()
        _norm_init(self, num_features, eps, momentum, affine, track_running_stats, bias)

    reset_running_stats = _reset_running_stats
    reset_parameters = _reset_norm_parameters

    def forward(self, input):  # noqa: A002
        op = type(self).__name__
        shape = tuple(input.shape)
        if len(shape) not in (self._dims + 1, self._dims + 2):
            unbatched, batched = self._layout
            raise ValueError(
                f"{op}: expected {self._dims + 1}D {unbatched} or {self._dims + 2}D {batched} input, got shape {shape}"
            )
        channels = shape[-self._dims - 1]
        if channels != self.num_features:
            if self.affine or self.track_running_stats:
                raise ValueError(f"{op}: expected {self.num_features} channels, got input of shape {shape}")
            warnings.warn(
                f"{op}: the input's {channels} channels do not match num_features={self.num_features} "
                "(unused, as affine=False)",
                UserWarning,
                stacklevel=2,
            )
        batched = len(shape) == self._dims + 2
        out = F.instance_norm(
            input if batched else input.unsqueeze(0),
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )
        return out if batched else out.squeeze(0)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class InstanceNorm1d(_InstanceNorm):
    """Normalises each channel of each sample of (N, C, L) or (C, L) input over L, as torch's
    (the same state, buffers and rules as ``InstanceNorm2d``)."""

    _dims = 1
    _layout = "(C, L)", "(N, C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Normalises each channel of each sample of (N, C, H, W) or (C, H, W) input over H and W, as
    torch's; ``affine=True`` adds a per-channel weight and bias (``bias=False``, keyword, keeps the
    weight only). With ``track_running_stats=True`` training updates ``running_mean`` and
    ``running_var`` (buffers, with ``num_batches_tracked`` as torch's, which instance norm leaves
    at 0) and eval mode normalises with them."""


def _conv_extra_repr(m) -> str:
    """torch's ``_ConvNd.extra_repr``: settings at their defaults left out (as the native Conv2d's)."""
    text = f"{m.in_channels}, {m.out_channels}, kernel_size={m.kernel_size}, stride={m.stride}"
    if m.padding != (0,) * len(m.padding):  # "same" / "valid" always print, as torch's
        text += f", padding={m.padding}"
    if m.dilation != (1,) * len(m.dilation):
        text += f", dilation={m.dilation}"
    output_padding = getattr(m, "output_padding", (0,))
    if output_padding != (0,) * len(output_padding):
        text += f", output_padding={output_padding}"
    if m.groups != 1:
        text += f", groups={m.groups}"
    if m.bias is None:
        text += ", bias=False"
    if getattr(m, "padding_mode", "zeros") != "zeros":
        text += f", padding_mode={m.padding_mode}"
    return text


def _reset_conv(m, fan_in: int) -> None:
    """torch's draw: kaiming_uniform with a = sqrt(5) (bound 1 / sqrt(fan_in)), the bias within that bound."""
    init.kaiming_uniform_(m.weight, a=math.sqrt(5))
    if m.bias is not None:
        bound = 1.0 / math.sqrt(fan_in)
        init.uniform_(m.bias, -bound, bound)


class Conv1d(_PythonModule):
    """1-D convolution of (N, C, L) or (C, L) input, as torch's: ``weight`` (out, in / groups, k)
    and ``bias`` (out,) drawn as torch draws them (uniform within 1 / sqrt(in / groups * k):
    kaiming_uniform with a = sqrt(5)). ``padding`` is an int, a 1-tuple, "valid" or "same";
    ``padding_mode`` is "zeros", "reflect", "replicate" or "circular"; any ``dilation`` and
    ``groups`` (dividing both channel counts). It runs as conv2d over a (N, C, 1, L) view."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
    ):
        super().__init__()
        op = "Conv1d"
        k = F._single(op, "kernel_size", kernel_size)
        step = F._single(op, "stride", stride)
        d = F._single(op, "dilation", dilation)
        if in_channels <= 0 or out_channels <= 0 or k <= 0 or step <= 0 or d <= 0:
            raise ValueError(
                f"{op}: invalid channels ({in_channels}, {out_channels}), kernel_size {kernel_size!r}, "
                f"stride {stride!r} or dilation {dilation!r}"
            )
        g = _conv_channels(op, in_channels, out_channels, groups)
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(
                f"{op}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', got {padding_mode!r}"
            )
        F._conv1d_padding(op, padding, k, step, d)  # fail here, not in forward
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (k,)
        self.stride = (step,)
        self.padding = padding if isinstance(padding, str) else (F._single(op, "padding", padding),)
        self.dilation = (d,)
        self.groups = g
        self.padding_mode = padding_mode
        self.weight = Parameter(_core.empty(out_channels, in_channels // g, k))
        self.bias = Parameter(_core.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's draw: kaiming_uniform with a = sqrt(5) (bound 1 / sqrt(fan_in)), the bias within that bound."""
        _reset_conv(self, self.in_channels // self.groups * self.kernel_size[0])

    def forward(self, input):  # noqa: A002
        args = self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups, self.padding_mode
        return F._conv1d("Conv1d", input, *args)

    def extra_repr(self) -> str:
        return _conv_extra_repr(self)


class _NativeWhenPlain(type(_NativeConv2d)):
    """Metaclass of ``Conv2d`` and ``ConvTranspose2d``: ``isinstance``/``issubclass`` count the
    native layer (what the class builds for dilation 1 and groups 1, and what native models hold)
    as the class's own."""

    def __instancecheck__(cls, obj) -> bool:
        native = cls.__dict__.get("_native")
        return type.__instancecheck__(cls, obj) or (native is not None and type.__instancecheck__(native, obj))

    def __subclasscheck__(cls, sub) -> bool:
        native = cls.__dict__.get("_native")
        return type.__subclasscheck__(cls, sub) or (native is not None and type.__subclasscheck__(native, sub))


def _plain_conv(settings, args, kwargs) -> bool:
    """Whether a conv layer's arguments have dilation 1 and groups 1 (the native layer); arguments
    that do not bind go to the native constructor too, for its TypeError."""
    try:
        dilation, groups = settings(*args, **kwargs)
    except TypeError:
        return True
    return groups == 1 and (dilation == 1 or dilation == (1, 1))


def _conv2d_settings(
    in_channels,
    out_channels,
    kernel_size,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    bias=True,
    padding_mode="zeros",
    *,
    device=None,
    dtype=None,
):
    return dilation, groups


def _conv_transpose2d_settings(
    in_channels,
    out_channels,
    kernel_size,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    bias=True,
    dilation=1,
    *,
    device=None,
    dtype=None,
):
    return dilation, groups


class Conv2d(_NativeConv2d, metaclass=_NativeWhenPlain):
    """2-D convolution of (N, C, H, W) or (C, H, W) input, as torch's: ``weight`` (out, in / groups,
    kh, kw) and ``bias`` (out,) drawn as torch's (uniform within 1 / sqrt(in / groups * kh * kw)).
    With dilation 1 and groups 1 this builds the native layer, as before (``isinstance`` holds);
    other dilations and groups (dividing both channel counts) are this subclass, whose forward is
    ``F.conv2d``'s composed path after ``padding_mode``'s padding. ``padding`` is an int, a pair,
    "valid" or "same" (kept as given, as torch's)."""

    __slots__ = ()  # copy.deepcopy re-types the native copy
    _native = _NativeConv2d

    def __new__(cls, *args, **kwargs):
        if cls is Conv2d and _plain_conv(_conv2d_settings, args, kwargs):
            return _NativeConv2d(*args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        device=None,
        dtype=None,
    ):
        op = "Conv2d"
        dil = _positive(op, "dilation", _ints(op, "dilation", dilation, 2))
        plain = groups == 1 and dil == (1, 1)  # a subclass's: the native forward
        # the native layer checks the channels, kernel, stride and padding mode; a composed one's
        # padding is checked and kept here, its weight replaced by one of the grouped shape
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding if plain else 0,
            1,
            1,
            bias,
            padding_mode,
            device="cpu",  # (placed at the end, with the grouped weight)
            dtype=dtype,
        )
        g = _conv_channels(op, in_channels, out_channels, groups)
        _conv_padding(op, padding, self.kernel_size, dil, self.stride)  # fail here, not in forward
        self._padding = padding if isinstance(padding, str) else _ints(op, "padding", padding, 2)
        self._dilation, self._groups = dil, g
        if not plain:
            self.weight = Parameter(_core.empty(out_channels, in_channels // g, *self.kernel_size, device="cpu"))
            self.reset_parameters()
        _place_new_layer(self, device)

    dilation = property(lambda self: self._dilation, doc="(dh, dw)")
    groups = property(lambda self: self._groups, doc="the number of channel groups")
    padding = property(lambda self: self._padding, doc='(ph, pw), "same" or "valid", as given')

    def reset_parameters(self) -> None:
        """torch's draw: kaiming_uniform with a = sqrt(5) (bound 1 / sqrt(fan_in)), the bias within that bound."""
        _reset_conv(self, self.in_channels // self._groups * self.kernel_size[0] * self.kernel_size[1])

    def forward(self, input):  # noqa: A002
        if self._groups == 1 and self._dilation == (1, 1):
            return _NativeConv2d.forward(self, input)
        if self.padding_mode == "zeros":
            return F.conv2d(input, self.weight, self.bias, self.stride, self._padding, self._dilation, self._groups)
        (top, bottom), (left, right) = _conv_padding(
            "Conv2d", self._padding, self.kernel_size, self._dilation, self.stride
        )
        x = _pad_nonconstant("Conv2d", input, (left, right, top, bottom), self.padding_mode)
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self._dilation, self._groups)

    def extra_repr(self) -> str:
        return _conv_extra_repr(self)


class ConvTranspose2d(_NativeConvTranspose2d, metaclass=_NativeWhenPlain):
    """Transposed 2-D convolution of (N, C, H, W) or (C, H, W) input, as torch's: ``weight`` (in,
    out / groups, kh, kw) and ``bias`` (out,) drawn as torch's (uniform within 1 / sqrt(out / groups
    * kh * kw)). With dilation 1 and groups 1 this builds the native layer, as before
    (``isinstance`` holds); other dilations and groups are this subclass, whose forward is
    ``F.conv_transpose2d``'s composed path (output_padding smaller than the stride or the dilation)."""

    __slots__ = ()
    _native = _NativeConvTranspose2d

    def __new__(cls, *args, **kwargs):
        if cls is ConvTranspose2d and _plain_conv(_conv_transpose2d_settings, args, kwargs):
            return _NativeConvTranspose2d(*args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        *,
        device=None,
        dtype=None,
    ):
        op = "ConvTranspose2d"
        dil = _positive(op, "dilation", _ints(op, "dilation", dilation, 2))
        plain = groups == 1 and dil == (1, 1)
        # the native layer checks its output_padding against the stride only: a composed one's is checked here
        extra = output_padding if plain else 0
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, extra, 1, bias, 1, device="cpu", dtype=dtype
        )
        g = _conv_channels(op, in_channels, out_channels, groups)
        extra = _positive(op, "output_padding", _ints(op, "output_padding", output_padding, 2), minimum=0)
        if any(e >= max(s, d) for e, s, d in zip(extra, self.stride, dil)):
            raise ValueError(
                f"{op}: output_padding must be smaller than either stride or dilation, got output_padding={extra} "
                f"with stride={self.stride} and dilation={dil}"
            )
        self._output_padding, self._dilation, self._groups = extra, dil, g
        if not plain:
            self.weight = Parameter(_core.empty(in_channels, out_channels // g, *self.kernel_size, device="cpu"))
            self.reset_parameters()
        _place_new_layer(self, device)

    dilation = property(lambda self: self._dilation, doc="(dh, dw)")
    groups = property(lambda self: self._groups, doc="the number of channel groups")
    output_padding = property(lambda self: self._output_padding, doc="(oph, opw)")

    def reset_parameters(self) -> None:
        """torch's draw: kaiming_uniform with a = sqrt(5), fan_in = out / groups * kh * kw (the weight's
        dim 1, as torch reads a transposed conv's weight), the bias within that bound."""
        _reset_conv(self, self.out_channels // self._groups * self.kernel_size[0] * self.kernel_size[1])

    def forward(self, input):  # noqa: A002
        if self._groups == 1 and self._dilation == (1, 1):
            return _NativeConvTranspose2d.forward(self, input)
        return F.conv_transpose2d(
            input, self.weight, self.bias, self.stride, self.padding, self._output_padding, self._groups, self._dilation
        )

    def extra_repr(self) -> str:
        return _conv_extra_repr(self)


class ConvTranspose1d(_PythonModule):
    """Transposed 1-D convolution of (N, C, L) or (C, L) input, as torch's: ``weight`` (in, out /
    groups, k) and ``bias`` (out,) drawn as torch's (uniform within 1 / sqrt(out / groups * k), the
    fan-in torch reads from a transposed conv's weight, as ConvTranspose2d's). Any ``dilation`` and
    ``groups`` (dividing both channel counts); output_padding smaller than the stride or the
    dilation; only the "zeros" ``padding_mode``, as torch's. ``forward(input, output_size)`` picks
    the output_padding that gives that length, as torch's. It runs as ``F.conv_transpose1d``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
    ):
        super().__init__()
        op = "ConvTranspose1d"
        if padding_mode != "zeros":
            raise ValueError(f'{op}: only the "zeros" padding mode is supported, got padding_mode={padding_mode!r}')
        k = F._single(op, "kernel_size", kernel_size)
        step = F._single(op, "stride", stride)
        d = F._single(op, "dilation", dilation)
        pad = F._single(op, "padding", padding)
        extra = F._single(op, "output_padding", output_padding)
        if in_channels <= 0 or out_channels <= 0 or k <= 0 or step <= 0 or d <= 0 or pad < 0 or extra < 0:
            raise ValueError(
                f"{op}: invalid channels ({in_channels}, {out_channels}), kernel_size {kernel_size!r}, "
                f"stride {stride!r}, padding {padding!r}, output_padding {output_padding!r} or dilation {dilation!r}"
            )
        if extra >= max(step, d):
            raise ValueError(
                f"{op}: output_padding must be smaller than either stride or dilation, got output_padding={extra} "
                f"with stride={step} and dilation={d}"
            )
        g = _conv_channels(op, in_channels, out_channels, groups)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (k,)
        self.stride = (step,)
        self.padding = (pad,)
        self.output_padding = (extra,)
        self.dilation = (d,)
        self.groups = g
        self.padding_mode = padding_mode
        self.weight = Parameter(_core.empty(in_channels, out_channels // g, k))
        self.bias = Parameter(_core.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's draw: kaiming_uniform with a = sqrt(5), fan_in = out / groups * k (the weight's dim 1,
        as torch reads a transposed conv's weight), the bias within that bound."""
        _reset_conv(self, self.out_channels // self.groups * self.kernel_size[0])

    def _output_padding_for(self, input, output_size) -> int:  # noqa: A002
        """torch's ``_ConvTransposeNd._output_padding``: ``output_size`` is (L_out,) or the whole
        output shape; the output_padding that gives that length (within [min, min + stride - 1])."""
        op = "ConvTranspose1d"
        F._check_tensor(op, "input", input)
        if input.ndim not in (2, 3):
            raise ValueError(f"{op}: expected a 2D (C, L) or 3D (N, C, L) input, got shape {tuple(input.shape)}")
        try:
            sizes = [operator.index(size) for size in output_size]
        except TypeError:
            raise TypeError(f"{op}: output_size must be a sequence of ints, got {output_size!r}") from None
        leading = input.ndim - 1  # (N, C) or (C,)
        if len(sizes) == leading + 1:
            sizes = sizes[leading:]
        if len(sizes) != 1:
            raise ValueError(
                f"{op}: for {input.ndim}D input, output_size must have 1 or {leading + 1} elements "
                f"(got {len(sizes)}: {output_size!r})"
            )
        (k,), (step,), (pad,), (d,) = self.kernel_size, self.stride, self.padding, self.dilation
        smallest = F._conv_transpose1d_length(input.shape[-1], k, step, pad, d)
        if not smallest <= sizes[0] <= smallest + step - 1:
            raise ValueError(
                f"{op}: requested an output size of {sizes}, but valid sizes range from [{smallest}] to "
                f"[{smallest + step - 1}] (for an input of shape {tuple(input.shape)})"
            )
        return sizes[0] - smallest

    def forward(self, input, output_size=None):  # noqa: A002
        extra = self.output_padding if output_size is None else self._output_padding_for(input, output_size)
        return F.conv_transpose1d(
            input, self.weight, self.bias, self.stride, self.padding, extra, self.groups, self.dilation
        )

    def extra_repr(self) -> str:
        return _conv_extra_repr(self)


# ---- losses: ``criterion(input, target)``, torch's signatures (deprecated size_average/reduce included)


class _Loss(_PythonModule):
    """torch's ``_Loss``: the reduction, from torch's deprecated ``size_average``/``reduce`` when
    given (with torch's warning, at construction), checked here rather than at the first call."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = F._reduction(type(self).__name__, size_average, reduce, reduction)


class MSELoss(_Loss):
    """Mean squared error."""

    def forward(self, input, target):  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error."""

    def forward(self, input, target):  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Squared below ``beta``, absolute above (see ``F.smooth_l1_loss``)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Squared below ``delta``, ``delta``-scaled absolute above (see ``F.huber_loss``); as torch's,
    without size_average/reduce."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):  # noqa: A002
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class CrossEntropyLoss(_Loss):
    """Cross entropy of logits against class indices or probabilities (see ``F.cross_entropy``).
    A class ``weight`` is a buffer (in the state dict as "weight", as torch's); label smoothing is
    not implemented."""

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ):
        super().__init__(size_average, reduce, reduction)
        if label_smoothing != 0.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing is not implemented here, got {label_smoothing}")
        if weight is not None:
            self.register_buffer("weight", weight)
        else:
            self.weight = None
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):  # noqa: A002
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


# torch's submodule paths: md.nn.functional (md.F), md.nn.init, md.nn.utils.clip_grad_norm_
functional = F


utils = types.ModuleType(__name__ + ".utils", "torch.nn.utils' names: clip_grad_norm_, clip_grad_value_.")
utils.clip_grad_norm_ = clip_grad_norm_
utils.clip_grad_value_ = clip_grad_value_


__all__ = [
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AlphaDropout",
    "Attention",
    "AvgPool2d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "CrossEntropyLoss",
    "Dropout",
    "Dropout1d",
    "Dropout2d",
    "Embedding",
    "FeatureAlphaDropout",
    "Flatten",
    "GELU",
    "GroupNorm",
    "HuberLoss",
    "Identity",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "MaxPool2d",
    "Mish",
    "Module",
    "ModuleDict",
    "ModuleList",
    "MSELoss",
    "Parameter",
    "ParameterDict",
    "ParameterList",
    "PixelShuffle",
    "PixelUnshuffle",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SiLU",
    "SmoothL1Loss",
    "Softmax",
    "Softplus",
    "Tanh",
    "Unflatten",
    "Upsample",
]

# More of torch.nn's modules (imported last: they subclass Module and use the layers above).
from . import nn_activations as _nn_act  # noqa: E402
from . import nn_spatial as _nn_spatial  # noqa: E402
from . import nn_transformer as _nn_transformer  # noqa: E402
from .nn_activations import *  # noqa: E402, F403
from .nn_spatial import *  # noqa: E402, F403
from .nn_transformer import *  # noqa: E402, F403

__all__ += _nn_act.__all__ + _nn_spatial.__all__ + _nn_transformer.__all__
