"""Optimisers (``md.optim``): Adam, AdamW and SGD with PyTorch's interface, EMA, gradient
clipping, and (from lr_scheduler.py) torch's and diffusers' learning-rate schedulers.

Adam's and AdamW's update runs in the native core as one fused pass over a flat arena holding
every parameter of a group (see ``cpp/optim``); SGD is written with in-place ops, one small update
per parameter; this module keeps the hyperparameters in
``param_groups`` so that learning-rate schedules can change them between steps, as in PyTorch.
Creating an optimiser re-homes the parameters (and their gradients) into the arena; the model
keeps the same tensors. As in torch, ``zero_grad()`` sets the gradients to None (the next backward
writes into the arena again) and ``step()`` leaves a parameter whose gradient is None alone.
"""

from __future__ import annotations

import math

import numpy as np

from . import _core, handles
from ._core import Tensor
from ._core.optim import clip_grad_norm_ as _clip_grad_norm
from .autograd import no_grad

__all__ = [
    "EMA",
    "SGD",
    "Adam",
    "AdamW",
    "clip_grad_norm_",
    "clip_grad_value_",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_linear_schedule_with_warmup",
    "get_piecewise_constant_schedule",
    "get_polynomial_decay_schedule_with_warmup",
    "get_scheduler",
    "lr_scheduler",
]


def clip_grad_norm_(
    parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None
):
    """Scales the gradients of ``parameters`` (a tensor, an iterable of them or a module) in place
    by ``max_norm / (total_norm + 1e-6)`` when that is below 1, ``total_norm`` being the
    ``norm_type``-norm of all of them together (``inf``: the largest magnitude); returns the norm
    before clipping (a 0-d tensor), as torch. The L2 norm of contiguous gradients is one fused pass
    in the core; other norms, ``max_norm=0`` and strided gradients take per-tensor ops. ``foreach``
    changes nothing. With ``error_if_nonfinite`` a NaN or infinite norm raises before any gradient
    is scaled, as in torch."""
    params = _as_param_list(parameters)
    norm_type, max_norm = float(norm_type), float(max_norm)
    grads = [p.grad for p in params if isinstance(p, Tensor) and p.grad is not None]
    if norm_type != 2.0 or max_norm <= 0.0 or not all(g.is_contiguous() for g in grads):
        return _clip_grads_by_ops(grads, max_norm, norm_type, error_if_nonfinite)
    if error_if_nonfinite:
        norm = _clip_grad_norm(params, math.inf)  # the norm alone: the core scales as it computes it
        _check_finite_norm(norm)
    return _clip_grad_norm(params, max_norm)


def _check_finite_norm(norm: Tensor) -> None:
    if not math.isfinite(float(norm)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of the gradients is {float(norm)}, non-finite "
            "(error_if_nonfinite=True); the gradients are left as they are"
        )


def _clip_grads_by_ops(grads: list, max_norm: float, norm_type: float, error_if_nonfinite: bool) -> Tensor:
    """clip_grad_norm_ as torch writes it: the norm of the per-tensor norms, then every gradient
    multiplied in place by the clamped coefficient."""
    with no_grad():
        if not grads:
            return _core.zeros(())
        if norm_type == math.inf:
            norms = [g.abs().max() if g.numel() else _core.zeros(()) for g in grads]
            total = _core.functional.stack([n.to(grads[0].device) for n in norms]).max()
        else:
            norms = [g.norm(norm_type) for g in grads]
            total = _core.functional.stack([n.to(grads[0].device) for n in norms]).norm(norm_type)
        if error_if_nonfinite:
            _check_finite_norm(total)
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.device))
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamps every gradient of ``parameters`` in place to [-clip_value, clip_value], as torch's."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_param_list(parameters):
            if isinstance(p, Tensor) and p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def _as_param_list(params) -> list:
    """The parameters as a list of their one Python handles (handles.py), so ``opt.state[p]`` and
    ``p in group["params"]`` find the objects the model hands out."""
    if isinstance(params, _core.nn.Module):
        params = params.parameters()
    elif isinstance(params, Tensor):
        params = [params]
    return [handles.canonical(p) if isinstance(p, Tensor) else p for p in params]


def _param_groups(params, owner: str) -> list[dict]:
    """An optimiser's ``params`` argument (parameters, a module, or a list of group dicts) as a
    list of group dicts; their ``params`` are normalised by each optimiser with _as_param_list."""
    params = list(params) if not isinstance(params, (Tensor, _core.nn.Module)) else _as_param_list(params)
    if not params:
        raise ValueError(f"{owner} got an empty parameter list")
    return params if isinstance(params[0], dict) else [{"params": params}]


def _new_group(optimizer, param_group: dict) -> dict:
    """``param_group`` with the optimiser's defaults filled in and its params normalised; a
    parameter that another group already holds raises ValueError, as in torch."""
    if not isinstance(param_group, dict):
        raise TypeError(
            f"{type(optimizer).__name__}: a parameter group must be a dict, got {type(param_group).__name__}"
        )
    if isinstance(param_group.get("params"), set):
        raise TypeError(f"{type(optimizer).__name__}: parameters must be an ordered collection, not a set")
    params = list(param_group["params"]) if not isinstance(param_group["params"], Tensor) else param_group["params"]
    names = None
    if isinstance(params, list) and params and all(isinstance(p, tuple) and len(p) == 2 for p in params):
        names, params = [n for n, _ in params], [p for _, p in params]  # named_parameters(), as torch 2.13
    group = {**optimizer.defaults, **param_group, "params": _as_param_list(params)}
    if names is not None:
        group["param_names"] = names
    held = {id(p) for g in optimizer.param_groups for p in g["params"]}
    if any(id(p) in held for p in group["params"]):
        raise ValueError(f"{type(optimizer).__name__}: some parameters appear in more than one parameter group")
    return group


def _deepcopy_optimizer(self, memo: dict):
    """``copy.deepcopy`` of an optimiser, as torch's: the copy steps copies of the parameters (the
    copies a model copied in the same deepcopy holds) and starts from a copy of the state."""
    import copy

    groups = []
    for group in self.param_groups:
        settings = {k: copy.deepcopy(v, memo) for k, v in group.items() if k != "params"}
        groups.append({**settings, "params": [copy.deepcopy(p, memo) for p in group["params"]]})
    new = type(self)(groups, **self.defaults)
    memo[id(self)] = new
    new.load_state_dict(self.state_dict())  # the state's arrays are copied into the new one's
    return new


class Adam:
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` adds an L2 term to the gradient."""

    _decoupled = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(f"{type(self).__name__}: invalid lr={lr}, eps={eps} or weight_decay={weight_decay}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{type(self).__name__}: betas must be two numbers in [0, 1), got {betas}")
        self.defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        self.param_groups: list[dict] = []
        self._cores = []
        for g in _param_groups(params, type(self).__name__):
            self.add_param_group(g)

    def add_param_group(self, param_group: dict) -> None:
        """Adds a group (its own arena; keys it lacks come from the defaults), as torch's."""
        group = _new_group(self, param_group)
        core = _core.optim.AdamCore(group["params"])
        self.param_groups.append(group)
        self._cores.append(core)

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for flag in ("amsgrad", "maximize"):  # torch's keys, e.g. from a torch state_dict
                if group.get(flag):
                    raise NotImplementedError(f"{type(self).__name__}: {flag}=True is not supported")
        for group, core in zip(self.param_groups, self._cores):
            beta1, beta2 = group["betas"]
            core.step(float(group["lr"]), beta1, beta2, group["eps"], group["weight_decay"], self._decoupled)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Sets every gradient to None (``set_to_none``, torch's default) or zeroes the gradients
        in place; a gradient that is None (a frozen or unused parameter) stays None, as in torch,
        so that step() still skips it."""
        for group, core in zip(self.param_groups, self._cores):
            absent = [] if set_to_none else [p for p in group["params"] if p.grad is None]
            core.zero_grad(set_to_none)  # set_to_none=False gives every parameter a zeroed slot
            for p in absent:
                p.grad = None

    @property
    def state(self) -> dict:
        out = {}
        for core in self._cores:
            for i, p in enumerate(core.params):
                out[handles.canonical(p)] = {
                    "step": core.step_count(i),
                    "exp_avg": core.exp_avg(i),
                    "exp_avg_sq": core.exp_avg_sq(i),
                }
        return out

    def state_dict(self) -> dict:
        """PyTorch's layout: per-parameter state keyed by index, and the groups' hyperparameters."""
        state, groups, index = {}, [], 0
        for group, core in zip(self.param_groups, self._cores):
            ids = []
            for i in range(len(group["params"])):
                state[index] = {
                    "step": core.step_count(i),
                    "exp_avg": core.exp_avg(i).numpy(),
                    "exp_avg_sq": core.exp_avg_sq(i).numpy(),
                }
                ids.append(index)
                index += 1
            groups.append({k: v for k, v in group.items() if k != "params"} | {"params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"load_state_dict: {len(groups)} parameter groups in the state, {len(self.param_groups)} here"
            )
        state = state_dict["state"]
        for saved, group, core in zip(groups, self.param_groups, self._cores):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"load_state_dict: a group has {len(saved['params'])} parameters in the state, "
                    f"{len(group['params'])} here"
                )
            for k, v in saved.items():
                if k != "params":
                    group[k] = tuple(v) if k == "betas" else v
            for i, pid in enumerate(saved["params"]):
                entry = state.get(pid, state.get(str(pid)))
                if entry is None:  # no state saved (torch makes it at the first step): start afresh
                    with no_grad():
                        core.exp_avg(i).zero_()
                        core.exp_avg_sq(i).zero_()
                    core.set_step_count(i, 0)
                    continue
                p = group["params"][i]
                for key, dst in (("exp_avg", core.exp_avg(i)), ("exp_avg_sq", core.exp_avg_sq(i))):
                    value = np.asarray(entry[key], dtype=np.float32)
                    if value.shape != tuple(p.shape):
                        raise ValueError(
                            f"load_state_dict: {key} of parameter {pid} has shape {value.shape}, "
                            f"the parameter has {tuple(p.shape)}"
                        )
                    with no_grad():
                        dst.copy_(_core.tensor(value, device=p.device))
                core.set_step_count(i, int(np.asarray(entry["step"])))

    __deepcopy__ = _deepcopy_optimizer

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in g if k != "params"):
                lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr * weight_decay``."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class SGD:
    """Stochastic gradient descent with torch's momentum, dampening, Nesterov and weight decay,
    written with in-place ops (one small update per parameter; Adam/AdamW are the fused ones)."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: invalid lr={lr}, momentum={momentum} or weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs a positive momentum and zero dampening")
        self.defaults = {
            "lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
            "nesterov": nesterov, "maximize": maximize,
        }  # fmt: skip
        self.param_groups: list[dict] = []
        self.state: dict = {}
        for g in _param_groups(params, "SGD"):
            self.add_param_group(g)

    def add_param_group(self, param_group: dict) -> None:
        """Adds a group (keys it lacks come from the defaults), as torch's."""
        self.param_groups.append(_new_group(self, param_group))

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    d = -p.grad if group["maximize"] else p.grad
                    if group["weight_decay"]:
                        d = d + p * group["weight_decay"]
                    if group["momentum"]:
                        buf = self.state.setdefault(p, {}).get("momentum_buffer")
                        if buf is None:
                            buf = d.clone()
                            self.state[p]["momentum_buffer"] = buf
                        else:
                            buf.mul_(group["momentum"])
                            buf.add_(d, alpha=1.0 - group["dampening"])
                        d = d + buf * group["momentum"] if group["nesterov"] else buf
                    p.add_(d, alpha=-group["lr"])
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    with no_grad():
                        p.grad.zero_()

    def state_dict(self) -> dict:
        index = {p: i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        state = {index[p]: {"momentum_buffer": s["momentum_buffer"].numpy()} for p, s in self.state.items()}
        groups, start = [], 0
        for g in self.param_groups:
            n = len(g["params"])
            groups.append({k: v for k, v in g.items() if k != "params"} | {"params": list(range(start, start + n))})
            start += n
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        params = [p for g in self.param_groups for p in g["params"]]
        if len(state_dict["param_groups"]) != len(self.param_groups):
            raise ValueError(
                f"SGD.load_state_dict: {len(state_dict['param_groups'])} parameter groups in the state, "
                f"{len(self.param_groups)} here"
            )
        for i, s in state_dict["state"].items():
            shape = tuple(np.shape(s["momentum_buffer"]))
            if int(i) >= len(params) or shape != tuple(params[int(i)].shape):
                raise ValueError(f"SGD.load_state_dict: momentum buffer {i} of shape {shape} fits no parameter here")
        for saved, group in zip(state_dict["param_groups"], self.param_groups):
            group.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            self.state[p] = {"momentum_buffer": _core.tensor(np.asarray(s["momentum_buffer"]), device=p.device)}


class EMA:
    """Exponential moving average of a model's weights, as diffusers' ``EMAModel``.

    The decay at optimisation step ``s`` (counting from ``update_after_step``) is
    ``min(decay, max(min_decay, f(s)))`` with ``f(s) = 1 - (1 + s / inv_gamma) ** -power`` when
    ``use_ema_warmup`` and ``f(s) = (1 + s) / (10 + s)`` otherwise; ``constant_decay=True`` uses
    ``decay`` at every step. The update runs in the core as one fused pass.
    """

    def __init__(
        self,
        model,
        decay: float = 0.9999,
        min_decay: float = 0.0,
        update_after_step: int = 0,
        use_ema_warmup: bool = False,
        inv_gamma: float = 1.0,
        power: float = 2 / 3,
        constant_decay: bool = False,
    ):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA: decay must be in [0, 1], got {decay}")
        self.decay = decay
        self.min_decay = min_decay
        self.update_after_step = update_after_step
        self.use_ema_warmup = use_ema_warmup
        self.inv_gamma = inv_gamma
        self.power = power
        self.constant_decay = constant_decay
        self.optimization_step = 0
        self.cur_decay_value = None
        params = _as_param_list(model)
        self._core = _core.optim.EMACore(params)

    def get_decay(self, optimization_step: int) -> float:
        if self.constant_decay:
            return self.decay
        step = max(0, optimization_step - self.update_after_step - 1)
        if step <= 0:
            return 0.0
        if self.use_ema_warmup:
            value = 1 - (1 + step / self.inv_gamma) ** -self.power
        else:
            value = (1 + step) / (10 + step)
        return max(min(value, self.decay), self.min_decay)

    def step(self, model) -> None:
        self.optimization_step += 1
        decay = self.get_decay(self.optimization_step)
        self.cur_decay_value = decay
        self._core.update(_as_param_list(model), decay)

    def copy_to(self, model) -> None:
        """Writes the averaged weights into ``model`` (or a list of parameters)."""
        self._core.copy_to(_as_param_list(model))

    def store(self, model) -> None:
        """Saves the current weights, to be put back by ``restore``."""
        self._core.store(_as_param_list(model))

    def restore(self, model) -> None:
        self._core.restore(_as_param_list(model))

    @property
    def shadow_params(self) -> list:
        return [self._core.shadow(i) for i in range(len(self._core))]

    def state_dict(self) -> dict:
        return {
            "decay": self.decay,
            "min_decay": self.min_decay,
            "update_after_step": self.update_after_step,
            "use_ema_warmup": self.use_ema_warmup,
            "inv_gamma": self.inv_gamma,
            "power": self.power,
            "constant_decay": self.constant_decay,
            "optimization_step": self.optimization_step,
            "shadow_params": [s.numpy() for s in self.shadow_params],
        }

    def load_state_dict(self, state: dict) -> None:
        shadows = state["shadow_params"]
        if len(shadows) != len(self._core):
            raise ValueError(f"EMA.load_state_dict: {len(shadows)} shadow tensors in the state, {len(self._core)} here")
        kinds = {
            "decay": float,
            "min_decay": float,
            "update_after_step": int,
            "use_ema_warmup": bool,
            "inv_gamma": float,
            "power": float,
            "constant_decay": bool,
            "optimization_step": int,
        }  # by field, not by the current value's type: EMA(decay=1) must still load 0.999
        for key, kind in kinds.items():
            if key in state:
                setattr(self, key, kind(state[key]))
        with no_grad():
            for i, value in enumerate(shadows):
                dst = self._core.shadow(i)
                value = np.asarray(value, dtype=np.float32)
                if value.shape != tuple(dst.shape):
                    raise ValueError(
                        f"EMA.load_state_dict: shadow {i} has shape {value.shape}, expected {tuple(dst.shape)}"
                    )
                dst.copy_(_core.tensor(value, device=dst.device))


# torch's torch.optim.lr_scheduler, and diffusers.optimization's factories
from . import lr_scheduler  # noqa: E402
from .lr_scheduler import (  # noqa: E402
    get_constant_schedule,
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_cosine_with_hard_restarts_schedule_with_warmup,
    get_linear_schedule_with_warmup,
    get_piecewise_constant_schedule,
    get_polynomial_decay_schedule_with_warmup,
    get_scheduler,
)
