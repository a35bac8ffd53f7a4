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


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False):
    """Scales the gradients of ``parameters`` (a tensor, an iterable of them or a module) so their
    global L2 norm is at most ``max_norm``; returns the norm before clipping (a 0-d tensor), as
    torch. One fused pass in the core; ``norm_type`` 2 only."""
    if float(norm_type) != 2.0:
        raise ValueError(f"clip_grad_norm_: only norm_type=2 is supported, got {norm_type}")
    norm = _clip_grad_norm(_as_param_list(parameters), float(max_norm))
    if error_if_nonfinite and not math.isfinite(float(norm)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of the gradients is {float(norm)} (error_if_nonfinite=True)"
        )
    return norm


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
        groups = _param_groups(params, type(self).__name__)
        self.param_groups: list[dict] = []
        self._cores = []
        for g in groups:
            group = {**self.defaults, **g, "params": _as_param_list(g["params"])}
            self.param_groups.append(group)
            self._cores.append(_core.optim.AdamCore(group["params"]))

    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group, core in zip(self.param_groups, self._cores):
            beta1, beta2 = group["betas"]
            core.step(float(group["lr"]), beta1, beta2, group["eps"], group["weight_decay"], self._decoupled)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Sets every gradient to None (``set_to_none``, torch's default) or to zero in place."""
        for core in self._cores:
            core.zero_grad(set_to_none)

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
                if entry is None:
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
        groups = _param_groups(params, "SGD")
        self.param_groups = [{**self.defaults, **g, "params": _as_param_list(g["params"])} for g in groups]
        self.state: dict = {}

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
        for key in (
            "decay",
            "min_decay",
            "update_after_step",
            "use_ema_warmup",
            "inv_gamma",
            "power",
            "constant_decay",
            "optimization_step",
        ):
            if key in state:
                setattr(self, key, type(getattr(self, key))(state[key]))
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
