"""minidiff: diffusion models trained on a small native engine.

The tensor, autograd, layer and optimiser machinery lives in the C++ extension ``minidiff._core``;
this package re-exports it under PyTorch's names and adds the diffusion pipeline in Python.
"""

import os as _os
import sys as _sys

# How long an idle OpenMP thread spins before it sleeps. A training step opens hundreds of
# parallel regions, and waking a sleeping thread for each cost the digits step 20% (passive wait:
# 102 ms, 870 context switches per step; a short spin: 84-87 ms, 30 per step). Spinning long
# steals the CPU from the thread doing the work when the machine has other load (libgomp's
# default spin made a step 3x slower on a busy 2-core machine), so the spin is short: 1000 rounds,
# tens of microseconds, which with one core taken by another process cost 12% against passive
# waiting (183 vs 164 ms). libgomp reads this when _core loads it, so it is set first; an
# explicit GOMP_SPINCOUNT or OMP_WAIT_POLICY in the environment wins.
if "GOMP_SPINCOUNT" not in _os.environ and "OMP_WAIT_POLICY" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "1000"

from . import _core, backends, cuda, data, functional, lr, nn, optim, profiler, schedulers
from . import functional as F
from ._core import (
    Device,
    Generator,
    Tensor,
    arange,
    default_generator,
    empty,
    full,
    is_grad_enabled,
    manual_seed,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from .autograd import (
    enable_grad,
    inference_mode,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .backends import get_float32_matmul_precision, set_float32_matmul_precision
from .schedulers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
)
from .unet import UNet2DModel

# diffusers' UNet2DModel returns an output object with .sample; ours returns the tensor itself,
# which answers .sample too, so code written for either works.
Tensor.sample = property(lambda self: self)

__version__ = _core.build_info()["version"]

float32 = "float32"
int64 = "int64"
bfloat16 = "bfloat16"
float16 = "float16"
half = "float16"
long = "int64"
int32 = "int32"
int16 = "int16"
short = "int16"
int8 = "int8"
uint8 = "uint8"
bool = "bool"  # noqa: A001 (torch's name; shadows the builtin inside this module only)


def device(spec: str) -> Device:
    """A device object, as ``torch.device``: ``md.device("cuda:0")``. As a context manager it is
    the default device inside its block (``with md.device("cuda"): x = md.zeros(3)``)."""
    return Device(spec)


def set_default_device(device) -> None:
    """The device of tensors and layers made without one named (factories such as ``md.zeros``,
    ``md.tensor`` and ``md.randn``, and the parameters of new layers), as
    ``torch.set_default_device``; None restores the CPU. ``*_like`` functions and ``md.from_numpy``
    are unaffected, and ``md.Generator()`` stays on the CPU."""
    _core.set_default_device(device)


def get_default_device() -> Device:
    """The device that ``set_default_device`` (or the innermost ``with md.device(...)`` block) set:
    ``device('cpu')`` unless changed."""
    return _core.get_default_device()


def cat(tensors, dim=0):
    return functional.cat(tensors, dim)


def stack(tensors, dim=0):
    return functional.stack(tensors, dim)


def clamp(input, min=None, max=None):  # noqa: A002 (torch's argument names)
    return functional.clamp(input, min, max)


def maximum(input, other):  # noqa: A002
    return functional.maximum(input, other)


def minimum(input, other):  # noqa: A002
    return functional.minimum(input, other)


def set_num_threads(n: int) -> None:
    """Threads for CPU kernels (OpenMP) and matrix products (OpenBLAS)."""
    _core.set_num_threads(n)


def get_num_threads() -> int:
    return _core.get_num_threads()


__all__ = [
    "DDIMScheduler",
    "DDPMScheduler",
    "DPMSolverMultistepScheduler",
    "Device",
    "EulerAncestralDiscreteScheduler",
    "EulerDiscreteScheduler",
    "F",
    "Generator",
    "LMSDiscreteScheduler",
    "PNDMScheduler",
    "Tensor",
    "UNet2DModel",
    "arange",
    "backends",
    "bfloat16",
    "bool",
    "float16",
    "half",
    "cat",
    "clamp",
    "cuda",
    "data",
    "default_generator",
    "device",
    "empty",
    "enable_grad",
    "float32",
    "full",
    "functional",
    "get_float32_matmul_precision",
    "get_num_threads",
    "inference_mode",
    "is_inference_mode_enabled",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "is_grad_enabled",
    "lr",
    "manual_seed",
    "maximum",
    "minimum",
    "nn",
    "no_grad",
    "ones",
    "ones_like",
    "optim",
    "profiler",
    "rand",
    "randint",
    "randn",
    "randn_like",
    "schedulers",
    "set_float32_matmul_precision",
    "set_grad_enabled",
    "set_num_threads",
    "set_default_device",
    "get_default_device",
    "stack",
    "tensor",
    "utils",
    "zeros",
    "zeros_like",
]

# torch's import paths: import minidiff.nn.functional as F, minidiff.nn.init, minidiff.nn.utils
_sys.modules[__name__ + ".nn.functional"] = functional
_sys.modules[__name__ + ".nn.init"] = nn.init
_sys.modules[__name__ + ".nn.utils"] = nn.utils
_sys.modules[__name__ + ".optim.lr_scheduler"] = optim.lr_scheduler

# ---- tensor functions written in Python on the ops (linspace, min, argmax, var, flip, where, ...)
from . import tensor_ops as _tensor_ops  # noqa: E402

__all__ += _tensor_ops.install(globals())

# more of torch's tensor functions: elementwise math, reductions and shapes (tensor_more); scatter,
# index updates, searching and random sampling (tensor_scatter)
from . import tensor_more as _tensor_more  # noqa: E402
from . import tensor_scatter as _tensor_scatter  # noqa: E402

__all__ += _tensor_more.install(globals())
__all__ += _tensor_scatter.install(globals())

# einsum is written on permute/reshape/matmul; the function replaces its module's name in md
from .einsum import einsum  # noqa: E402

__all__ += ["einsum"]

# torch.linalg (md.linalg.det, solve, svd, norm, ...): norms composed from the ops, factorizations
# on the host with NumPy
from . import linalg  # noqa: E402

__all__ += ["linalg"]

# ---- training, sampling and their file formats (pure Python on top of the names above)
from . import checkpoint, images, losses, pipelines, training  # noqa: E402
from .pipelines import DDIMPipeline, DDPMPipeline  # noqa: E402
from .training import Trainer, TrainingConfig  # noqa: E402

__all__ += [
    "DDIMPipeline",
    "DDPMPipeline",
    "Trainer",
    "TrainingConfig",
    "checkpoint",
    "images",
    "losses",
    "pipelines",
    "training",
]

# ---- copy.deepcopy, pickling, md.save / md.load
from . import serialization  # noqa: E402
from .serialization import load, save  # noqa: E402

Tensor.__copy__ = serialization.tensor_copy
Tensor.__deepcopy__ = serialization.tensor_deepcopy
Tensor.__reduce_ex__ = serialization.tensor_reduce_ex
nn.Module.__deepcopy__ = serialization.module_deepcopy
nn.Module.__copy__ = serialization.module_copy
nn.Module.__reduce_ex__ = serialization.module_reduce_ex

__all__ += ["load", "save", "serialization"]

# torch.utils.data's names (md.utils.data.DataLoader, TensorDataset, random_split, ...) and mixed
# precision with torch's names (md.autocast: the bf16 matmul mode in a block; md.amp.GradScaler)
from . import amp, utils  # noqa: E402
from .amp import autocast  # noqa: E402

__all__ += ["amp", "autocast"]

# torchvision.transforms' names for image datasets (md.transforms.Compose, ToTensor, Normalize, ...),
# and diffusers' training helpers (md.optimization.get_scheduler, md.training_utils.EMAModel)
from . import optimization, training_utils, transforms  # noqa: E402

__all__ += ["optimization", "training_utils", "transforms"]

# torch's process-level utilities (md.compile, RNG state, finfo/iinfo, printing options, determinism)
from . import compat as _compat  # noqa: E402

__all__ += _compat.install(globals())

# torch's short names of int32 (last: the module's own code above keeps the builtin int)
int = "int32"  # noqa: A001
