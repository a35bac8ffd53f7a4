"""More of ``torch.nn`` (in ``md.nn``): the activation, loss and distance modules over the ops of
functional_activations.py, with torch's constructor signatures, attribute names, buffers and
reprs, so a torch module's ``state_dict()`` loads into its twin here.

``inplace=True`` writes into the input as ``F``'s in-place variants do (see
functional_activations.py). The losses accept torch's deprecated ``size_average``/``reduce``.
"""

from __future__ import annotations

import warnings

from . import _core, init
from . import functional as F
from .functional_activations import _reduction
from .nn import Module, Parameter

__all__ = [
    # activations
    "CELU",
    "ELU",
    "GLU",
    "Hardshrink",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "LogSigmoid",
    "LogSoftmax",
    "PReLU",
    "ReLU6",
    "RReLU",
    "SELU",
    "Softmax2d",
    "Softmin",
    "Softshrink",
    "Softsign",
    "Tanhshrink",
    "Threshold",
    # losses
    "BCELoss",
    "BCEWithLogitsLoss",
    "CosineEmbeddingLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "KLDivLoss",
    "MarginRankingLoss",
    "NLLLoss",
    "PoissonNLLLoss",
    "SoftMarginLoss",
    "TripletMarginLoss",
    # distances
    "CosineSimilarity",
    "PairwiseDistance",
]


def _inplace_repr(inplace: bool, first: bool = False) -> str:
    if not inplace:
        return ""
    return "inplace=True" if first else ", inplace=True"


# ---- activations


class _ExponentialUnit(Module):
    """ELU's and CELU's ``alpha`` and ``inplace``, and repr."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace_repr(self.inplace)


class ELU(_ExponentialUnit):
    """``x`` where x > 0, else ``alpha * (exp(x) - 1)`` (see ``F.elu``)."""

    def forward(self, input):  # noqa: A002 (torch's argument name)
        return F.elu(input, self.alpha, self.inplace)


class CELU(_ExponentialUnit):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` (see ``F.celu``)."""

    def forward(self, input):  # noqa: A002
        return F.celu(input, self.alpha, self.inplace)


class SELU(Module):
    """Scaled ELU with torch's constants (see ``F.selu``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.selu(input, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, first=True)


class Hardtanh(Module):
    """``x`` clamped to [min_val, max_val] (see ``F.hardtanh``). torch's deprecated ``min_value``
    and ``max_value`` are accepted with its warning."""

    def __init__(
        self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False, min_value=None, max_value=None
    ):
        super().__init__()
        if min_value is not None:
            warnings.warn("Hardtanh: keyword argument `min_value` is deprecated and renamed to `min_val`", stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("Hardtanh: keyword argument `max_value` is deprecated and renamed to `max_val`", stacklevel=2)
            max_val = max_value
        if not max_val > min_val:
            raise ValueError(f"{type(self).__name__}: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + _inplace_repr(self.inplace)


class ReLU6(Hardtanh):
    """``min(max(x, 0), 6)``: ``Hardtanh(0, 6)``, as torch's."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace_repr(self.inplace, first=True)


class Hardsigmoid(Module):
    """``relu6(x + 3) / 6`` (see ``F.hardsigmoid``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.hardsigmoid(input, self.inplace)


class Hardswish(Module):
    """``x * relu6(x + 3) / 6`` (see ``F.hardswish``)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.hardswish(input, self.inplace)


class Softsign(Module):
    """``x / (1 + |x|)``."""

    def forward(self, input):  # noqa: A002
        return F.softsign(input)


class _Shrink(Module):
    """Softshrink's and Hardshrink's ``lambd``, and repr."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def extra_repr(self) -> str:
        return str(self.lambd)


class Softshrink(_Shrink):
    """Shrinks toward 0 by ``lambd``, zero inside [-lambd, lambd] (see ``F.softshrink``)."""

    def forward(self, input):  # noqa: A002
        return F.softshrink(input, self.lambd)


class Hardshrink(_Shrink):
    """``x`` outside [-lambd, lambd], else 0 (see ``F.hardshrink``)."""

    def forward(self, input):  # noqa: A002
        return F.hardshrink(input, self.lambd)


class Tanhshrink(Module):
    """``x - tanh(x)``."""

    def forward(self, input):  # noqa: A002
        return F.tanhshrink(input)


class LogSigmoid(Module):
    """``log(sigmoid(x))``, stable for large |x| (see ``F.logsigmoid``)."""

    def forward(self, input):  # noqa: A002
        return F.logsigmoid(input)


class _SoftmaxOverDim(Module):
    """Softmin's and LogSoftmax's ``dim`` (None: torch's deprecated implicit choice), and repr."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(_SoftmaxOverDim):
    """``softmax(-x, dim)``; without ``dim``, torch's deprecated implicit choice (with its warning)."""

    def forward(self, input):  # noqa: A002
        # without dim, the warning names the line that called the module (F.softmin's frame + 2)
        stacklevel = F._user_stacklevel() + 2 if self.dim is None else 3
        return F.softmin(input, self.dim, _stacklevel=stacklevel)


class LogSoftmax(_SoftmaxOverDim):
    """``log(softmax(x, dim))``, computed stably (see ``F.log_softmax``); without ``dim``, torch's
    deprecated implicit choice (with its warning)."""

    def forward(self, input):  # noqa: A002
        stacklevel = F._user_stacklevel() + 2 if self.dim is None else 3  # as Softmin's
        return F.log_softmax(input, self.dim, _stacklevel=stacklevel)


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W) input (dim -3), as torch's."""

    def forward(self, input):  # noqa: A002
        if input.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected a 3D or 4D input, got shape {tuple(input.shape)}")
        return F.softmax(input, input.ndim - 3)


class GLU(Module):
    """Gated linear unit over ``dim`` (see ``F.glu``)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, input):  # noqa: A002
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """``x`` where x > 0, else ``weight * x`` with a learned slope: one (``num_parameters=1``) or
    one per channel (dim 1 of the input), each starting at ``init``; the parameter is "weight"
    (num_parameters,), as torch's."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, int) or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive int, got {num_parameters!r}")
        self.num_parameters = num_parameters
        self.init = init
        options = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
        self.weight = Parameter(_core.empty(num_parameters, **options))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input):  # noqa: A002
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Threshold(Module):
    """``x`` where x > threshold, else ``value`` (see ``F.threshold``)."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + _inplace_repr(self.inplace)


class RReLU(Module):
    """Randomized leaky ReLU: random negative slopes in [lower, upper] while training (drawn from
    minidiff's generator), their mean in eval mode (see ``F.rrelu``)."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + _inplace_repr(self.inplace)


# ---- losses: criterion(input, target), the reduction checked when built


class _LossModule(Module):
    _reductions = ("mean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = _reduction(type(self).__name__, size_average, reduce, reduction, self._reductions)


class _WeightedLossModule(_LossModule):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        _optional_buffer(self, "weight", weight)


def _optional_buffer(module: Module, name: str, tensor) -> None:
    """A buffer (in the state dict, as torch's) when given; else the attribute is None."""
    if tensor is not None:
        module.register_buffer(name, tensor)
    else:
        setattr(module, name, None)


class BCELoss(_WeightedLossModule):
    """Binary cross entropy of probabilities (see ``F.binary_cross_entropy``); ``weight`` is a
    buffer, as torch's."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_LossModule):
    """Binary cross entropy of logits (see ``F.binary_cross_entropy_with_logits``); ``weight`` and
    ``pos_weight`` are buffers, as torch's."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        _optional_buffer(self, "weight", weight)
        _optional_buffer(self, "pos_weight", pos_weight)

    def forward(self, input, target):  # noqa: A002
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class NLLLoss(_WeightedLossModule):
    """Negative log likelihood of log-probabilities at class indices (see ``F.nll_loss``); a class
    ``weight`` is a buffer, as torch's."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None, reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):  # noqa: A002
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class KLDivLoss(_LossModule):
    """Pointwise KL divergence (see ``F.kl_div``); ``reduction="batchmean"`` is the KL divergence."""

    _reductions = ("mean", "sum", "none", "batchmean")

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):  # noqa: A002
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class GaussianNLLLoss(_LossModule):
    """Gaussian negative log likelihood; ``forward(input, target, var)`` (see ``F.gaussian_nll_loss``)."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(None, None, reduction)
        self.full = full
        self.eps = eps

    def forward(self, input, target, var):  # noqa: A002
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class PoissonNLLLoss(_LossModule):
    """Poisson negative log likelihood (see ``F.poisson_nll_loss``)."""

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        size_average=None,
        eps: float = 1e-8,
        reduce=None,
        reduction: str = "mean",
    ):
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(
            log_input, target, log_input=self.log_input, full=self.full, eps=self.eps, reduction=self.reduction
        )


class CosineEmbeddingLoss(_LossModule):
    """``forward(input1, input2, target)``: 1 - cos for target 1, max(0, cos - margin) for -1
    (see ``F.cosine_embedding_loss``)."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class MarginRankingLoss(_LossModule):
    """``forward(input1, input2, target)``: max(0, -target * (input1 - input2) + margin)."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class HingeEmbeddingLoss(_LossModule):
    """``x`` for target 1, max(0, margin - x) for -1 (see ``F.hinge_embedding_loss``)."""

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):  # noqa: A002
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


class SoftMarginLoss(_LossModule):
    """``log(1 + exp(-target * input))`` (see ``F.soft_margin_loss``)."""

    def forward(self, input, target):  # noqa: A002
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class TripletMarginLoss(_LossModule):
    """``forward(anchor, positive, negative)``: max(0, margin + d(a, p) - d(a, n)) (see
    ``F.triplet_margin_loss``)."""

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        size_average=None,
        reduce=None,
        reduction: str = "mean",
    ):
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: margin must be greater than 0, got {margin}")
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(
            anchor, positive, negative, self.margin, self.p, self.eps, self.swap, reduction=self.reduction
        )


# ---- distances


class CosineSimilarity(Module):
    """Cosine similarity of x1 and x2 over ``dim`` (see ``F.cosine_similarity``)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """p-norm of ``x1 - x2 + eps`` over the last dimension (see ``F.pairwise_distance``); the
    order is the attribute ``norm``, as torch's."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
