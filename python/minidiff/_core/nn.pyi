"""
modules
"""

from __future__ import annotations

import collections.abc
import typing

import minidiff._core

__all__: list[str] = [
    "Attention",
    "Conv2d",
    "ConvTranspose2d",
    "DownBlock2D",
    "Downsample2D",
    "Dropout",
    "Embedding",
    "GroupNorm",
    "Identity",
    "LayerNorm",
    "Linear",
    "Module",
    "ModuleList",
    "Parameter",
    "ResnetBlock2D",
    "SiLU",
    "TimestepEmbedding",
    "Timesteps",
    "UNet2DModel",
    "UNetMidBlock2D",
    "UpBlock2D",
    "Upsample2D",
]

class Module:
    training: bool
    @staticmethod
    def __repr__(module: Module) -> str:
        """
        torch's layout: the class name (a native layer's own, such as "AttnDownBlock2D"), its
            ``extra_repr()``, then each child's repr indented under its name. A module whose native part
            was never built (its constructor raised; pytest prints such a half-made ``self`` in tracebacks)
            prints as ``Name(<not built>)``: its native methods would read unset memory.
        """
    def __call__(self, *args, **kwargs) -> typing.Any: ...
    def __copy__(self): ...
    def __deepcopy__(self, memo: dict) -> Module:
        """
        ``copy.deepcopy(module)``: an independent module of the same class, with the same parameter
            names and order, tied weights still tied, requires_grad and train/eval mode kept.
        """
    def __delattr__(self, name: str) -> None:
        """
        ``del module.name`` unregisters a parameter, buffer or child, as torch's.
        """
    def __getattr__(self, name: str): ...
    def __init__(self) -> None: ...
    def __reduce_ex__(self, protocol: int): ...
    def __setattr__(self, name: str, value) -> None:
        """
        torch's rules: a Parameter registers (replacing a buffer or module of that name), a module
            registers (replacing a buffer), a tensor or None replaces a buffer; a parameter takes only a
            Parameter or None, a module only a module or None, a buffer only a tensor or None (else a
            TypeError, leaving the registry as it was).
        """
    def _absent_names(self) -> list[str]: ...
    def _declare_absent(self, arg0: str) -> None: ...
    def _deep_copy(self) -> Module: ...
    def _own_buffers(self) -> list: ...
    def _type_name(self) -> str: ...
    def add_module(self, name: str, module) -> None: ...
    def apply(self, fn) -> Module:
        """
        Calls ``fn`` on every submodule (children first) and on the module itself, as torch (a child
            registered twice, once).
        """
    def bfloat16(self): ...
    def buffers(self, recurse: bool = True): ...
    def children(self): ...
    def cpu(self) -> typing.Any: ...
    def cuda(self) -> typing.Any: ...
    def double(self): ...
    def eval(self) -> Module: ...
    def extra_repr(self) -> str: ...
    def float(self) -> Module: ...
    def forward(self, *args, **kwargs) -> typing.Any: ...
    def get_buffer(self, target: str):
        """
        The buffer at a dotted path.
        """
    def get_parameter(self, target: str):
        """
        The parameter at a dotted path (``model.get_parameter("down_blocks.0.resnets.0.conv1.weight")``).
        """
    def get_submodule(self, target: str) -> Module: ...
    def half(self): ...
    def load_state_dict(self, state_dict: dict, strict: bool = True) -> typing.Any: ...
    def modules(self): ...
    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True): ...
    def named_children(self):
        """
        The children by name, in registration order; as torch's, a module registered under two names
            comes once, under its first.
        """
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """
        The module and its descendants, depth first, each once (a block used twice is listed under
            its first name) unless ``remove_duplicate=False``, as torch's.
        """
    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True): ...
    def num_parameters(self) -> int: ...
    def parameters(self, recurse: bool = True): ...
    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None: ...
    def register_forward_hook(
        self,
        hook: collections.abc.Callable,
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> minidiff._core.RemovableHandle:
        """
        hook(module, args, output) -> None or a new output, run after each forward
        """
    def register_forward_pre_hook(
        self, hook: collections.abc.Callable, *, prepend: bool = False, with_kwargs: bool = False
    ) -> minidiff._core.RemovableHandle:
        """
        hook(module, args) -> None or new args, run before each forward (returns a handle)
        """
    def register_full_backward_hook(
        self, hook: collections.abc.Callable, *, prepend: bool = False
    ) -> minidiff._core.RemovableHandle:
        """
        hook(module, grad_input, grad_output) -> None or new grad_input, run in each backward
        """
    def register_full_backward_pre_hook(
        self, hook: collections.abc.Callable, *, prepend: bool = False
    ) -> minidiff._core.RemovableHandle:
        """
        hook(module, grad_output) -> None or new grad_output, run in each backward
        """
    def register_module(self, name: str, module) -> None: ...
    def register_parameter(self, name: str, param) -> None: ...
    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """
        Sets requires_grad on every parameter (freezing a model: ``ema.requires_grad_(False)``).
        """
    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """
        torch's ``state_dict(destination=None, prefix="", keep_vars=False)`` (also positionally, as
            torch still accepts): detached tensors sharing the module's storage, or with ``keep_vars``
            the parameters and buffers themselves.
        """
    def to(self, *args, device=None, dtype=None, non_blocking: bool = False) -> Module:
        """
        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` or keywords, as torch.
            Parameters are float32: a dtype other than float32 is a TypeError.
        """
    def train(self, mode: bool = True) -> Module:
        """
        Sets training mode here and in every child through the child's own ``train`` (a subclass's
            override, such as one keeping a frozen part in eval mode, runs as in torch).
        """
    def zero_grad(self, set_to_none: bool = True) -> None:
        """
        Zeroes every .grad in place (gradients are kept, as views of the optimizer's arena)
        """
    @property
    def _is_built(self) -> bool: ...
    @property
    def device(self) -> minidiff._core.Device: ...

class Linear(Module):
    def __init__(
        self,
        in_features: typing.SupportsInt | typing.SupportsIndex,
        out_features: typing.SupportsInt | typing.SupportsIndex,
        bias: bool = True,
        *,
        device: typing.Any = None,
        dtype: typing.Any = None,
    ) -> None: ...
    def forward(self, input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
    @property
    def in_features(self) -> int: ...
    @property
    def out_features(self) -> int: ...

class Conv2d(Module):
    def __init__(
        self,
        in_channels: typing.SupportsInt | typing.SupportsIndex,
        out_channels: typing.SupportsInt | typing.SupportsIndex,
        kernel_size: typing.Any,
        stride: typing.Any = 1,
        padding: typing.Any = 0,
        dilation: typing.Any = 1,
        groups: typing.SupportsInt | typing.SupportsIndex = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        device: typing.Any = None,
        dtype: typing.Any = None,
    ) -> None: ...
    def forward(self, input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
    @property
    def dilation(self) -> tuple[int, int]: ...
    @property
    def groups(self) -> int: ...
    @property
    def in_channels(self) -> int: ...
    @property
    def kernel_size(self) -> tuple[int, int]: ...
    @property
    def out_channels(self) -> int: ...
    @property
    def padding(self) -> tuple[int, int]: ...
    @property
    def padding_mode(self) -> str: ...
    @property
    def stride(self) -> tuple[int, int]: ...

class ConvTranspose2d(Module):
    def __init__(
        self,
        in_channels: typing.SupportsInt | typing.SupportsIndex,
        out_channels: typing.SupportsInt | typing.SupportsIndex,
        kernel_size: typing.Any,
        stride: typing.Any = 1,
        padding: typing.Any = 0,
        output_padding: typing.Any = 0,
        groups: typing.SupportsInt | typing.SupportsIndex = 1,
        bias: bool = True,
        dilation: typing.Any = 1,
        *,
        device: typing.Any = None,
        dtype: typing.Any = None,
    ) -> None: ...
    def forward(self, input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
    @property
    def dilation(self) -> tuple[int, int]: ...
    @property
    def groups(self) -> int: ...
    @property
    def in_channels(self) -> int: ...
    @property
    def kernel_size(self) -> tuple[int, int]: ...
    @property
    def out_channels(self) -> int: ...
    @property
    def output_padding(self) -> tuple[int, int]: ...
    @property
    def padding(self) -> tuple[int, int]: ...
    @property
    def stride(self) -> tuple[int, int]: ...

class GroupNorm(Module):
    def __init__(
        self,
        num_groups: typing.SupportsInt | typing.SupportsIndex,
        num_channels: typing.SupportsInt | typing.SupportsIndex,
        eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05,
        affine: bool = True,
        *,
        bias: bool = True,
        device: typing.Any = None,
        dtype: typing.Any = None,
    ) -> None: ...
    def forward(self, input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
    def forward_silu(self, arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
    @property
    def affine(self) -> bool: ...
    @property
    def eps(self) -> float: ...
    @property
    def num_channels(self) -> int: ...
    @property
    def num_groups(self) -> int: ...

class LayerNorm(Module):
    def __init__(
        self,
        normalized_shape: typing.Any,
        eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        device: typing.Any = None,
        dtype: typing.Any = None,
    ) -> None: ...
    def forward(self, input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
    @property
    def elementwise_affine(self) -> bool: ...
    @property
    def eps(self) -> float: ...
    @property
    def normalized_shape(self) -> tuple: ...

class SiLU(Module):
    def __init__(self) -> None: ...
    def forward(self, input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...

class Identity(Module):
    def __init__(self, *args, **kwargs) -> None: ...
    def forward(self, input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...

class Dropout(Module):
    def __init__(self, p: typing.SupportsFloat | typing.SupportsIndex = 0.5, inplace: bool = False) -> None: ...
    def forward(self, input: typing.Any) -> typing.Any: ...
    @property
    def inplace(self) -> bool: ...
    @property
    def p(self) -> float: ...
    @p.setter
    def p(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None: ...

class Embedding(Module):
    scale_grad_by_freq: bool
    sparse: bool
    @classmethod
    def from_pretrained(
        cls,
        embeddings,
        freeze: bool = True,
        padding_idx=None,
        max_norm=None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ):
        """
        torch's ``Embedding.from_pretrained``: an Embedding holding a copy of the 2-D
            ``embeddings`` (num_embeddings, embedding_dim), its padding row included as given, frozen
            (no gradient) unless ``freeze=False``.
        """
    def __init__(
        self,
        num_embeddings: typing.SupportsInt | typing.SupportsIndex,
        embedding_dim: typing.SupportsInt | typing.SupportsIndex,
        padding_idx: typing.Any = None,
        max_norm: typing.Any = None,
        norm_type: typing.SupportsFloat | typing.SupportsIndex = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        *,
        device: typing.Any = None,
        dtype: typing.Any = None,
    ) -> None: ...
    def forward(self, input: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
    @property
    def embedding_dim(self) -> int: ...
    @property
    def num_embeddings(self) -> int: ...
    @property
    def padding_idx(self) -> typing.Any: ...

class ModuleList(Module):
    @staticmethod
    def __repr__(module: Module) -> str:
        """
        torch's ModuleList layout: a run of entries that print alike is one line, ``(0-2): 3 x Linear(...)``.
        """
    def __getitem__(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> Module: ...
    def __init__(self, modules: typing.Any = None) -> None: ...
    def __iter__(self) -> collections.abc.Iterator: ...
    def __len__(self) -> int: ...
    def append(self, arg0: Module) -> typing.Any: ...

class Attention(Module):
    def __init__(
        self,
        query_dim: typing.SupportsInt | typing.SupportsIndex,
        heads: typing.SupportsInt | typing.SupportsIndex = 8,
        dim_head: typing.SupportsInt | typing.SupportsIndex = 64,
        norm_num_groups: typing.Any = None,
        eps: typing.SupportsFloat | typing.SupportsIndex = 1e-05,
        rescale_output_factor: typing.SupportsFloat | typing.SupportsIndex = 1.0,
        residual_connection: bool = False,
        bias: bool = False,
        dropout: typing.SupportsFloat | typing.SupportsIndex = 0.0,
    ) -> None: ...
    def forward(self, arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...
    @property
    def dim_head(self) -> int: ...
    @property
    def heads(self) -> int: ...

class Timesteps(Module):
    def __init__(
        self,
        num_channels: typing.SupportsInt | typing.SupportsIndex,
        flip_sin_to_cos: bool,
        downscale_freq_shift: typing.SupportsFloat | typing.SupportsIndex,
    ) -> None: ...
    def forward(self, arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...

class TimestepEmbedding(Module):
    def __init__(
        self,
        in_channels: typing.SupportsInt | typing.SupportsIndex,
        time_embed_dim: typing.SupportsInt | typing.SupportsIndex,
    ) -> None: ...
    def forward(self, arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...

class ResnetBlock2D(Module):
    def forward(self, input_tensor: minidiff._core.Tensor, temb: minidiff._core.Tensor) -> minidiff._core.Tensor: ...

class Downsample2D(Module):
    def forward(self, arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...

class Upsample2D(Module):
    def forward(self, arg0: minidiff._core.Tensor) -> minidiff._core.Tensor: ...

class DownBlock2D(Module):
    pass

class UNetMidBlock2D(Module):
    pass

class UpBlock2D(Module):
    pass

class UNet2DModel(Module):
    @staticmethod
    def _config_fields() -> list:
        """
        The config field names the model is built from
        """
    def __init__(self, **kwargs) -> None: ...
    def forward(
        self,
        sample: minidiff._core.Tensor,
        timestep: typing.Any,
        class_labels: typing.Any = None,
        return_dict: bool = True,
    ) -> typing.Any: ...
    @property
    def _config_dict(self) -> dict: ...

def Parameter(data: minidiff._core.Tensor, requires_grad: bool = True) -> minidiff._core.Tensor:
    """
    Marks a tensor as a parameter (a leaf that requires grad)
    """
