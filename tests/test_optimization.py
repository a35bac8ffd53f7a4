"""minidiff.optimization (diffusers' LR-schedule factories and get_scheduler) and
minidiff.training_utils (EMAModel, compute_snr, ...) against diffusers: the lr sequences step by
step and exactly, get_scheduler's errors, EMAModel's shadows, decay, store/restore/copy_to, state
and folders. Hand-computed values and NumPy references run without torch."""

from __future__ import annotations

import json
import math
import random
import types

import numpy as np
import pytest
from tiny_unet import TINY

import minidiff as md
import minidiff.optimization as mo
import minidiff.training_utils as tu

LRS = (0.1, 0.03)  # two parameter groups with different base lrs
DEFAULT_LR = 0.05  # the optimiser's default lr: polynomial decay reads it, not the groups' lrs

pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")


def md_optimizer(lrs=LRS, resume_from=None):
    groups = [{"params": [md.nn.Parameter(md.zeros(2))], "lr": lr} for lr in lrs]
    if resume_from is not None:  # a resumed scheduler needs the groups' initial_lr
        for g, lr in zip(groups, lrs):
            g["initial_lr"] = lr
    return md.optim.SGD(groups, lr=DEFAULT_LR)


def torch_optimizer(torch, lrs=LRS, resume_from=None):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    if resume_from is not None:
        for g, lr in zip(groups, lrs):
            g["initial_lr"] = lr
    return torch.optim.SGD(groups, lr=DEFAULT_LR)


def lr_sequence(make, opt, steps: int) -> list[list[float]]:
    """The groups' lrs after construction and after each of ``steps`` steps."""
    sched = make(opt)
    out = [[g["lr"] for g in opt.param_groups]]
    for _ in range(steps):
        sched.step()
        out.append([g["lr"] for g in opt.param_groups])
    assert out[-1] == sched.get_last_lr()
    return out


def assert_same_lrs(name: str, *args, steps: int, last_epoch: int = -1, **kwargs):
    torch = pytest.importorskip("torch")
    ref = pytest.importorskip("diffusers.optimization")
    resume = last_epoch if last_epoch >= 0 else None
    ours = lr_sequence(
        lambda o: getattr(mo, name)(o, *args, last_epoch=last_epoch, **kwargs), md_optimizer(resume_from=resume), steps
    )
    theirs = lr_sequence(
        lambda o: getattr(ref, name)(o, *args, last_epoch=last_epoch, **kwargs),
        torch_optimizer(torch, resume_from=resume),
        steps,
    )
    assert ours == theirs  # both compute in Python floats: equal, not close


# ---- every factory against diffusers, float for float


@pytest.mark.parametrize("last_epoch", [-1, 4])
def test_constant_matches_diffusers(last_epoch):
    assert_same_lrs("get_constant_schedule", steps=6, last_epoch=last_epoch)


@pytest.mark.parametrize("warmup", [0, 1, 5, 10])
@pytest.mark.parametrize("last_epoch", [-1, 3])
def test_constant_with_warmup_matches_diffusers(warmup, last_epoch):
    assert_same_lrs("get_constant_schedule_with_warmup", warmup, steps=15, last_epoch=last_epoch)


@pytest.mark.parametrize("warmup,total", [(0, 10), (3, 10), (10, 10), (5, 23), (12, 10)])
@pytest.mark.parametrize("last_epoch", [-1, 6])
def test_linear_matches_diffusers(warmup, total, last_epoch):
    assert_same_lrs("get_linear_schedule_with_warmup", warmup, total, steps=total + 6, last_epoch=last_epoch)


@pytest.mark.parametrize("f_min,f_max", [(0.1, 1.0), (0.2, 0.7), (0.0, 1.3), (0.05, 0.9)])
@pytest.mark.parametrize("warmup", [3, 7])
def test_linear_floor_and_peak_match_diffusers(f_min, f_max, warmup):
    # warmup 7 with f_max 0.7 or 0.9 catches the order of f_max * step / warmup (rounding)
    assert_same_lrs("get_linear_schedule_with_warmup", warmup, 13, steps=18, f_min=f_min, f_max=f_max)


@pytest.mark.parametrize("warmup,total,cycles", [(0, 10, 0.5), (3, 20, 0.5), (2, 15, 1.5), (4, 12, 2), (6, 6, 0.5)])
@pytest.mark.parametrize("last_epoch", [-1, 5])
def test_cosine_matches_diffusers(warmup, total, cycles, last_epoch):
    # past num_training_steps diffusers' cosine rises again; that is compared too
    assert_same_lrs("get_cosine_schedule_with_warmup", warmup, total, cycles, steps=total + 8, last_epoch=last_epoch)


@pytest.mark.parametrize("warmup,total,cycles", [(0, 10, 1), (3, 20, 3), (2, 17, 2), (5, 5, 1), (1, 30, 4)])
@pytest.mark.parametrize("last_epoch", [-1, 7])
def test_cosine_with_hard_restarts_matches_diffusers(warmup, total, cycles, last_epoch):
    assert_same_lrs(
        "get_cosine_with_hard_restarts_schedule_with_warmup",
        warmup,
        total,
        cycles,
        steps=total + 5,
        last_epoch=last_epoch,
    )


@pytest.mark.parametrize(
    "warmup,total,lr_end,power", [(0, 10, 1e-7, 1.0), (3, 20, 1e-4, 2.0), (2, 15, 0.0, 0.5), (5, 12, 1e-3, 3.0)]
)
@pytest.mark.parametrize("last_epoch", [-1, 4])
def test_polynomial_matches_diffusers(warmup, total, lr_end, power, last_epoch):
    assert_same_lrs(
        "get_polynomial_decay_schedule_with_warmup",
        warmup,
        total,
        lr_end,
        power,
        steps=total + 5,
        last_epoch=last_epoch,
    )


@pytest.mark.parametrize(
    "rules", ["1:10,0.1:20,0.01:30,0.005", "0.5", "2:5,1:3,0.25", "1:3,0.5:3,0.1", "0.1:0,0.2", " 1:4, 0.3:8 ,0.7"]
)
@pytest.mark.parametrize("last_epoch", [-1, 2])
def test_piecewise_constant_matches_diffusers(rules, last_epoch):
    assert_same_lrs("get_piecewise_constant_schedule", rules, steps=35, last_epoch=last_epoch)


GET_SCHEDULER_CASES = [
    ("constant", {}),
    ("constant_with_warmup", dict(num_warmup_steps=4)),
    ("linear", dict(num_warmup_steps=3, num_training_steps=14)),
    ("cosine", dict(num_warmup_steps=2, num_training_steps=12, num_cycles=3)),  # num_cycles does not reach cosine
    ("cosine_with_restarts", dict(num_warmup_steps=2, num_training_steps=20, num_cycles=3)),
    ("polynomial", dict(num_warmup_steps=1, num_training_steps=11, power=2.5)),
    ("piecewise_constant", dict(step_rules="1:3,0.5:7,0.2")),
    ("linear", dict(num_warmup_steps=0, num_training_steps=9, step_rules="1:2,0.5", num_cycles=7, power=3.0)),
]


@pytest.mark.parametrize("name,kwargs", GET_SCHEDULER_CASES)
@pytest.mark.parametrize("last_epoch", [-1, 3])
@pytest.mark.parametrize("as_enum", [False, True])
def test_get_scheduler_matches_diffusers(name, kwargs, last_epoch, as_enum):
    torch = pytest.importorskip("torch")
    ref = pytest.importorskip("diffusers.optimization")
    resume = last_epoch if last_epoch >= 0 else None
    ours_name = mo.SchedulerType(name) if as_enum else name
    theirs_name = ref.SchedulerType(name) if as_enum else name
    ours = lr_sequence(
        lambda o: mo.get_scheduler(ours_name, o, last_epoch=last_epoch, **kwargs), md_optimizer(resume_from=resume), 25
    )
    theirs = lr_sequence(
        lambda o: ref.get_scheduler(theirs_name, o, last_epoch=last_epoch, **kwargs),
        torch_optimizer(torch, resume_from=resume),
        25,
    )
    assert ours == theirs


def test_scheduler_type_matches_diffusers():
    ref = pytest.importorskip("diffusers.optimization")
    assert [(t.name, t.value) for t in mo.SchedulerType] == [(t.name, t.value) for t in ref.SchedulerType]
    assert {k.value: v.__name__ for k, v in mo.TYPE_TO_SCHEDULER_FUNCTION.items()} == {
        k.value: v.__name__ for k, v in ref.TYPE_TO_SCHEDULER_FUNCTION.items()
    }


# ---- errors, against diffusers's


def _error(fn):
    with pytest.raises(Exception) as info:
        fn()
    return info.value


MISSING_ARGUMENT_CASES = [
    ("linear", {}, "num_warmup_steps"),
    ("cosine", {}, "num_warmup_steps"),
    ("cosine_with_restarts", {}, "num_warmup_steps"),
    ("polynomial", {}, "num_warmup_steps"),
    ("constant_with_warmup", {}, "num_warmup_steps"),
    ("linear", dict(num_warmup_steps=2), "num_training_steps"),
    ("cosine", dict(num_warmup_steps=2), "num_training_steps"),
    ("cosine_with_restarts", dict(num_warmup_steps=2), "num_training_steps"),
    ("polynomial", dict(num_warmup_steps=2), "num_training_steps"),
]


@pytest.mark.parametrize("name,kwargs,missing", MISSING_ARGUMENT_CASES)
def test_get_scheduler_missing_arguments_match_diffusers(name, kwargs, missing):
    torch = pytest.importorskip("torch")
    ref = pytest.importorskip("diffusers.optimization")
    ours = _error(lambda: mo.get_scheduler(name, md_optimizer(), **kwargs))
    theirs = _error(lambda: ref.get_scheduler(name, torch_optimizer(torch), **kwargs))
    assert type(ours) is type(theirs) is ValueError
    assert str(ours) == str(theirs)
    assert f"`{missing}`" in str(ours)


@pytest.mark.parametrize("name,kwargs,missing", MISSING_ARGUMENT_CASES)
def test_get_scheduler_missing_arguments_without_torch(name, kwargs, missing):
    with pytest.raises(ValueError, match=f"SchedulerType.{name.upper()} requires `{missing}`"):
        mo.get_scheduler(name, md_optimizer(), **kwargs)


def test_get_scheduler_missing_step_rules():
    # diffusers fails inside the factory (AttributeError on None.split); ours names the argument
    with pytest.raises(ValueError, match="SchedulerType.PIECEWISE_CONSTANT requires `step_rules`"):
        mo.get_scheduler("piecewise_constant", md_optimizer())
    with pytest.raises(TypeError, match="step_rules must be a string"):
        mo.get_piecewise_constant_schedule(md_optimizer(), None)


BAD_ARGUMENT_CASES = [
    (lambda m, o: m.get_scheduler("cosine_annealing", o, num_warmup_steps=1, num_training_steps=5), "cosine_annealing"),
    (lambda m, o: m.get_polynomial_decay_schedule_with_warmup(o, 1, 5, lr_end=DEFAULT_LR), "lr_end"),
    (lambda m, o: m.get_polynomial_decay_schedule_with_warmup(o, 1, 5, lr_end=1.0), "lr_end"),
    (lambda m, o: m.get_piecewise_constant_schedule(o, "1:10,abc"), "step_rules"),
    (lambda m, o: m.get_piecewise_constant_schedule(o, "1-10,0.1"), "step_rules"),
    (lambda m, o: m.get_piecewise_constant_schedule(o, "1:ten,0.1"), "step_rules"),
    (lambda m, o: m.get_piecewise_constant_schedule(o, ""), "step_rules"),
]


@pytest.mark.parametrize("make,word", BAD_ARGUMENT_CASES)
def test_bad_arguments_raise_like_diffusers(make, word):
    torch = pytest.importorskip("torch")
    ref = pytest.importorskip("diffusers.optimization")
    ours = _error(lambda: make(mo, md_optimizer()))
    theirs = _error(lambda: make(ref, torch_optimizer(torch)))
    assert type(ours) is type(theirs) is ValueError, (ours, theirs)
    assert word in str(ours)


def test_polynomial_equal_warmup_and_total_fails_at_that_step_like_diffusers():
    # diffusers divides by num_training_steps - num_warmup_steps at that one step; so do we
    sched = mo.get_polynomial_decay_schedule_with_warmup(md_optimizer(), 3, 3)
    sched.step()
    sched.step()
    with pytest.raises(ZeroDivisionError):
        sched.step()


# ---- known values, without torch


def _multipliers(make, steps: int) -> list[float]:
    opt = md_optimizer(lrs=(1.0,))
    return [lrs[0] for lrs in lr_sequence(make, opt, steps)]


def test_known_values():
    assert _multipliers(lambda o: mo.get_constant_schedule_with_warmup(o, 4), 5) == [0, 0.25, 0.5, 0.75, 1, 1]
    assert _multipliers(lambda o: mo.get_linear_schedule_with_warmup(o, 2, 10), 11) == pytest.approx(
        [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0, 0], abs=1e-15
    )
    floor_peak = _multipliers(lambda o: mo.get_linear_schedule_with_warmup(o, 2, 6, f_min=0.2, f_max=0.8), 8)
    assert floor_peak == pytest.approx([0, 0.4, 0.8, 0.65, 0.5, 0.35, 0.2, 0.2, 0.2], abs=1e-15)
    cosine = _multipliers(lambda o: mo.get_cosine_schedule_with_warmup(o, 0, 4), 6)
    down, up = (1 + math.sqrt(0.5)) / 2, (1 - math.sqrt(0.5)) / 2
    assert cosine == pytest.approx([1, down, 0.5, up, 0, up, 0.5], abs=1e-15)  # past the end it rises again
    restarts = _multipliers(lambda o: mo.get_cosine_with_hard_restarts_schedule_with_warmup(o, 0, 8, num_cycles=2), 9)
    assert restarts == pytest.approx([1, down, 0.5, up, 1, down, 0.5, up, 0, 0], abs=1e-15)
    opt = md.optim.SGD([md.nn.Parameter(md.zeros(1))], lr=1.0)
    poly = [
        lrs[0] for lrs in lr_sequence(lambda o: mo.get_polynomial_decay_schedule_with_warmup(o, 0, 4, 0.0, 2.0), opt, 6)
    ]
    assert poly == pytest.approx([1, 0.5625, 0.25, 0.0625, 0, 0, 0], abs=1e-15)
    piecewise = _multipliers(lambda o: mo.get_piecewise_constant_schedule(o, "1:2,0.5:4,0.1"), 6)
    assert piecewise == [1, 1, 0.5, 0.5, 0.1, 0.1, 0.1]
    # get_scheduler: "cosine" keeps its half cycle whatever num_cycles says, as in diffusers
    assert (
        _multipliers(lambda o: mo.get_scheduler("cosine", o, num_warmup_steps=0, num_training_steps=4, num_cycles=3), 6)
        == cosine
    )
    # resuming: the first lr is the schedule at last_epoch + 1
    opt = md_optimizer(lrs=(1.0,), resume_from=5)
    sched = mo.get_linear_schedule_with_warmup(opt, 2, 10, last_epoch=5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5) and sched.last_epoch == 6


def test_polynomial_reads_the_default_lr():
    # lr_init is optimizer.defaults["lr"] (diffusers' rule), so groups with other lrs end at lr_end * lr / lr_init
    opt = md_optimizer(lrs=(0.1, 0.03))
    sched = mo.get_polynomial_decay_schedule_with_warmup(opt, 0, 4, lr_end=0.01)
    for _ in range(6):
        sched.step()
    assert sched.get_last_lr() == pytest.approx([0.1 * 0.01 / DEFAULT_LR, 0.03 * 0.01 / DEFAULT_LR], rel=1e-15)


def test_module_exports():
    S = md.optim.lr_scheduler
    for name in mo.__all__:
        assert getattr(mo, name) is getattr(S, name)
    assert mo.SchedulerType("cosine_with_restarts") is mo.SchedulerType.COSINE_WITH_RESTARTS
    with pytest.raises(ValueError, match="not a valid SchedulerType.*'linear'"):
        mo.get_scheduler("warmup_cosine", md_optimizer())
    assert isinstance(mo.get_scheduler("constant", md_optimizer()), mo.LambdaLR)


def test_scheduler_state_round_trip():
    opt = md_optimizer()
    sched = mo.get_scheduler("cosine_with_restarts", opt, num_warmup_steps=2, num_training_steps=20, num_cycles=2)
    for _ in range(7):
        sched.step()
    state = sched.state_dict()
    opt2 = md_optimizer()
    sched2 = mo.get_scheduler("cosine_with_restarts", opt2, num_warmup_steps=2, num_training_steps=20, num_cycles=2)
    sched2.load_state_dict(state)
    for _ in range(5):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()


# ---- EMAModel against diffusers


def _twins(torch, seed: int = 0):
    """A tiny md.nn.Linear and its torch twin with the same values."""
    rng = np.random.default_rng(seed)
    ours = md.nn.Linear(4, 3)
    theirs = torch.nn.Linear(4, 3)
    with md.no_grad(), torch.no_grad():
        for p, r in zip(ours.parameters(), theirs.parameters()):
            value = rng.standard_normal(tuple(p.shape)).astype(np.float32)
            p.copy_(md.tensor(value))
            r.copy_(torch.tensor(value))
    return ours, theirs


def _perturb(torch, ours, theirs, rng) -> None:
    with md.no_grad(), torch.no_grad():
        for p, r in zip(ours.parameters(), theirs.parameters()):
            delta = rng.standard_normal(tuple(p.shape)).astype(np.float32)
            p.copy_(p + md.tensor(delta))
            r.copy_(r + torch.tensor(delta))


def _assert_params(ours_list, theirs_list, exact: bool = False) -> None:
    assert len(ours_list) == len(theirs_list)
    for a, b in zip(ours_list, theirs_list):
        a = a.numpy() if isinstance(a, md.Tensor) else np.asarray(a)
        b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            # float32: ours is decay * s + (1 - decay) * p, diffusers' s - (1 - decay) * (s - p)
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-7)


EMA_SETTINGS = [
    dict(),
    dict(decay=0.9, min_decay=0.0, update_after_step=0, use_ema_warmup=False),
    dict(decay=0.999, min_decay=0.3, update_after_step=3, use_ema_warmup=False),
    dict(decay=0.99, use_ema_warmup=True, inv_gamma=1.0, power=2 / 3),
    dict(decay=0.95, min_decay=0.1, update_after_step=2, use_ema_warmup=True, inv_gamma=2.5, power=0.75),
    dict(decay=0.5, use_ema_warmup=True, inv_gamma=1, power=1),
]


@pytest.mark.parametrize("settings", EMA_SETTINGS)
@pytest.mark.parametrize("fused", [False, True])
def test_ema_model_matches_diffusers(settings, fused):
    torch = pytest.importorskip("torch")
    ref = pytest.importorskip("diffusers.training_utils")
    ours, theirs = _twins(torch)
    if fused:
        md.optim.AdamW(ours.parameters())  # parameters tile an arena: the update is one fused pass
    ema = tu.EMAModel(ours.parameters(), **settings)
    ema_ref = ref.EMAModel(theirs.parameters(), **settings)
    rng = np.random.default_rng(1)
    for step in range(1, 16):
        _perturb(torch, ours, theirs, rng)
        ema.step(ours.parameters())
        ema_ref.step(theirs.parameters())
        assert ema.optimization_step == ema_ref.optimization_step == step
        assert ema.cur_decay_value == ema_ref.cur_decay_value  # same Python float formula
        assert ema.get_decay(step + 40) == ema_ref.get_decay(step + 40)
        _assert_params(ema.shadow_params, ema_ref.shadow_params)


def test_ema_model_frozen_parameters_are_copied_like_diffusers():
    torch = pytest.importorskip("torch")
    ref = pytest.importorskip("diffusers.training_utils")
    ours, theirs = _twins(torch, seed=2)
    ours.bias.requires_grad_(False)
    theirs.bias.requires_grad_(False)
    ema = tu.EMAModel(ours.parameters(), decay=0.9)
    ema_ref = ref.EMAModel(theirs.parameters(), decay=0.9)
    rng = np.random.default_rng(3)
    for _ in range(5):
        _perturb(torch, ours, theirs, rng)
        ema.step(ours.parameters())
        ema_ref.step(theirs.parameters())
    _assert_params(ema.shadow_params, ema_ref.shadow_params)
    np.testing.assert_array_equal(ema.shadow_params[1].numpy(), ours.bias.numpy())  # the frozen bias: a copy
    assert not np.allclose(ema.shadow_params[0].numpy(), ours.weight.numpy())


def test_ema_model_store_copy_restore_match_diffusers():
    torch = pytest.importorskip("torch")
    ref = pytest.importorskip("diffusers.training_utils")
    ours, theirs = _twins(torch, seed=4)
    ema = tu.EMAModel(ours.parameters(), decay=0.8, use_ema_warmup=True, power=1.0)
    ema_ref = ref.EMAModel(theirs.parameters(), decay=0.8, use_ema_warmup=True, power=1.0)
    rng = np.random.default_rng(5)
    for _ in range(6):
        _perturb(torch, ours, theirs, rng)
        ema.step(ours.parameters())
        ema_ref.step(theirs.parameters())
    trained = [p.numpy().copy() for p in ours.parameters()]
    ema.store(ours.parameters())
    ema_ref.store(theirs.parameters())
    _assert_params(ema.temp_stored_params, ema_ref.temp_stored_params, exact=True)
    ema.copy_to(ours.parameters())
    ema_ref.copy_to(theirs.parameters())
    _assert_params(list(ours.parameters()), list(theirs.parameters()))
    _assert_params(list(ours.parameters()), ema.shadow_params, exact=True)
    ema.restore(ours.parameters())
    ema_ref.restore(theirs.parameters())
    _assert_params(list(ours.parameters()), trained, exact=True)
    _assert_params(list(ours.parameters()), list(theirs.parameters()), exact=True)
    assert ema.temp_stored_params is None and ema_ref.temp_stored_params is None
    with pytest.raises(RuntimeError, match="store"):
        ema.restore(ours.parameters())


def test_ema_model_state_dict_round_trips_with_diffusers():
    torch = pytest.importorskip("torch")
    ref = pytest.importorskip("diffusers.training_utils")
    settings = dict(decay=0.97, min_decay=0.2, update_after_step=1, use_ema_warmup=True, inv_gamma=1.5, power=0.8)
    ours, theirs = _twins(torch, seed=6)
    ema = tu.EMAModel(ours.parameters(), **settings)
    ema_ref = ref.EMAModel(theirs.parameters(), **settings)
    rng = np.random.default_rng(7)
    for _ in range(4):
        _perturb(torch, ours, theirs, rng)
        ema.step(ours.parameters())
        ema_ref.step(theirs.parameters())
    state, state_ref = ema.state_dict(), ema_ref.state_dict()
    assert list(state) == list(state_ref)
    assert {k: v for k, v in state.items() if k != "shadow_params"} == {
        k: v for k, v in state_ref.items() if k != "shadow_params"
    }
    _assert_params(state["shadow_params"], state_ref["shadow_params"])

    # diffusers' state (torch tensors) into ours, ours (as torch tensors) into diffusers'
    fresh_ours, fresh_theirs = _twins(torch, seed=8)
    loaded = tu.EMAModel(fresh_ours.parameters())
    loaded.load_state_dict(state_ref)
    loaded_ref = ref.EMAModel(fresh_theirs.parameters())
    loaded_ref.load_state_dict(state | {"shadow_params": [torch.tensor(s.numpy()) for s in state["shadow_params"]]})
    for key in ("decay", "min_decay", "optimization_step", "update_after_step", "use_ema_warmup", "inv_gamma", "power"):
        assert getattr(loaded, key) == getattr(loaded_ref, key) == settings.get(key, state_ref[key])
    _assert_params(loaded.shadow_params, state_ref["shadow_params"], exact=True)
    _assert_params(loaded_ref.shadow_params, state["shadow_params"], exact=True)
    # and both go on from step 4 the same way
    for _ in range(3):
        _perturb(torch, ours, theirs, rng)
        loaded.step(ours.parameters())
        loaded_ref.step(theirs.parameters())
        assert loaded.cur_decay_value == loaded_ref.cur_decay_value
        _assert_params(loaded.shadow_params, loaded_ref.shadow_params)


@pytest.mark.filterwarnings("ignore:It is deprecated to pass a pretrained model name or path")
def test_ema_model_save_pretrained_loads_in_diffusers_and_back(tmp_path):
    pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    ref = pytest.importorskip("diffusers.training_utils")
    md.manual_seed(0)
    model = md.UNet2DModel(**TINY)
    ema = tu.EMAModel(
        model.parameters(), decay=0.9, use_ema_warmup=True, model_cls=md.UNet2DModel, model_config=model.config
    )
    rng = np.random.default_rng(9)
    for _ in range(3):
        with md.no_grad():
            for p in model.parameters():
                p.copy_(p + md.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.1))
        ema.step(model.parameters())
    ema.save_pretrained(tmp_path / "ours")
    theirs = ref.EMAModel.from_pretrained(str(tmp_path / "ours"), diffusers.UNet2DModel)
    for key in ("decay", "min_decay", "optimization_step", "update_after_step", "use_ema_warmup", "inv_gamma", "power"):
        assert getattr(theirs, key) == getattr(ema, key)
    # compare by name: write each EMA into a model of its library
    ema.copy_to(model.parameters())
    ref_model = diffusers.UNet2DModel(**TINY)
    theirs.copy_to(ref_model.parameters())
    ours_state = {k: v.numpy() for k, v in model.state_dict().items()}
    ref_state = {k: v.detach().numpy() for k, v in ref_model.state_dict().items()}
    assert ours_state.keys() == ref_state.keys()
    for k in ours_state:
        np.testing.assert_array_equal(ours_state[k], ref_state[k], err_msg=k)

    theirs.optimization_step = 11
    theirs.save_pretrained(str(tmp_path / "theirs"))
    back = tu.EMAModel.from_pretrained(tmp_path / "theirs", md.UNet2DModel)
    assert back.optimization_step == 11 and back.use_ema_warmup is True and back.decay == 0.9
    _assert_params(back.shadow_params, ema.shadow_params, exact=True)
    assert back.model_cls is md.UNet2DModel and dict(back.model_config) == dict(model.config)


def test_compute_snr_matches_diffusers():
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    ref = pytest.importorskip("diffusers.training_utils")
    for kw in (dict(), dict(beta_schedule="squaredcos_cap_v2"), dict(num_train_timesteps=50, beta_end=0.05)):
        sched = diffusers.DDPMScheduler(**kw)
        ours_sched = types.SimpleNamespace(alphas_cumprod=md.tensor(sched.alphas_cumprod.numpy()))
        n = sched.config.num_train_timesteps
        rng = np.random.default_rng(10)
        for shape in [(), (7,), (2, 3)]:
            t = rng.integers(0, n, size=shape).astype(np.int64)
            if t.ndim:
                t.flat[0] = 0
                t.flat[-1] = n - 1
            ours = tu.compute_snr(ours_sched, md.tensor(t))
            theirs = ref.compute_snr(sched, torch.tensor(t))
            assert tuple(ours.shape) == tuple(theirs.shape) and ours.dtype == "float32"
            # torch's `** 0.5` on the CPU is a vectorised pow, not the correctly rounded sqrt we use:
            # some values differ in the last bit or two
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=5e-7, atol=0)


def test_compute_loss_weighting_for_sd3_matches_diffusers():
    torch = pytest.importorskip("torch")
    ref = pytest.importorskip("diffusers.training_utils")
    sigmas = np.random.default_rng(11).uniform(0.02, 1.0, size=(3, 4)).astype(np.float32)
    for scheme in ("sigma_sqrt", "cosmap", "none"):
        ours = tu.compute_loss_weighting_for_sd3(scheme, md.tensor(sigmas))
        theirs = ref.compute_loss_weighting_for_sd3(scheme, torch.tensor(sigmas))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, err_msg=scheme)


# ---- EMAModel and the helpers without torch


def _linear_with(weight, bias):
    lin = md.nn.Linear(weight.shape[1], weight.shape[0])
    with md.no_grad():
        lin.weight.copy_(md.tensor(weight))
        lin.bias.copy_(md.tensor(bias))
    return lin


def test_ema_model_numpy_reference():
    rng = np.random.default_rng(12)
    w, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    lin = _linear_with(w, b)
    ema = tu.EMAModel(lin.parameters(), decay=0.9, update_after_step=1)
    shadow = [w.astype(np.float64), b.astype(np.float64)]
    decays = []
    for step in range(1, 9):
        w, b = w + rng.standard_normal(w.shape).astype(np.float32), b + rng.standard_normal(b.shape).astype(np.float32)
        with md.no_grad():
            lin.weight.copy_(md.tensor(w))
            lin.bias.copy_(md.tensor(b))
        ema.step(lin.parameters())
        k = max(0, step - 1 - 1)
        d = 0.0 if k == 0 else min((1 + k) / (10 + k), 0.9)
        decays.append(ema.cur_decay_value)
        assert ema.cur_decay_value == d
        shadow = [d * s + (1 - d) * p for s, p in zip(shadow, (w, b))]
        for got, want in zip(ema.shadow_params, shadow):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    assert decays[:4] == [0.0, 0.0, 2 / 11, 3 / 12]
    warm = tu.EMAModel(lin.parameters(), use_ema_warmup=True, inv_gamma=1.0, power=1.0)
    assert [warm.get_decay(s) for s in (1, 2, 3, 5)] == pytest.approx([0.0, 0.5, 2 / 3, 0.8], rel=1e-15)


def test_ema_model_store_copy_restore_without_torch():
    lin = _linear_with(np.ones((2, 3), np.float32), np.zeros(2, np.float32))
    ema = tu.EMAModel(lin.parameters(), decay=0.5)
    with md.no_grad():
        lin.weight.copy_(md.full((2, 3), 3.0))
    ema.step(lin.parameters())  # first step: decay 0, the shadow takes the weights
    ema.step(lin.parameters())
    np.testing.assert_array_equal(ema.shadow_params[0].numpy(), np.full((2, 3), 3.0, np.float32))
    with md.no_grad():
        lin.weight.copy_(md.full((2, 3), 5.0))
    ema.step(lin.parameters())  # third step: decay min((1 + 2) / (10 + 2), 0.5) = 0.25
    assert ema.cur_decay_value == 0.25
    np.testing.assert_array_equal(ema.shadow_params[0].numpy(), np.full((2, 3), 0.25 * 3.0 + 0.75 * 5.0, np.float32))
    ema.store(lin.parameters())
    ema.copy_to(lin.parameters())
    np.testing.assert_array_equal(lin.weight.numpy(), ema.shadow_params[0].numpy())
    ema.restore(lin.parameters())
    np.testing.assert_array_equal(lin.weight.numpy(), np.full((2, 3), 5.0, np.float32))
    with pytest.raises(RuntimeError, match="store"):
        ema.restore(lin.parameters())
    with pytest.raises(ValueError, match="expected 2 parameters, got 1"):
        ema.copy_to([lin.weight])


def test_ema_model_state_checks_and_round_trip():
    lin = md.nn.Linear(3, 2)
    ema = tu.EMAModel(lin.parameters(), decay=0.9, min_decay=0.1, use_ema_warmup=True)
    for _ in range(3):
        ema.step(lin.parameters())
    state = ema.state_dict()
    assert list(state) == [
        "decay", "min_decay", "optimization_step", "update_after_step", "use_ema_warmup", "inv_gamma", "power",
        "shadow_params",
    ]  # fmt: skip
    other = tu.EMAModel(md.nn.Linear(3, 2).parameters())
    other.load_state_dict(state | {"shadow_params": [s.numpy() for s in state["shadow_params"]]})
    for key in ("decay", "min_decay", "optimization_step", "use_ema_warmup"):
        assert getattr(other, key) == state[key]
    _assert_params(other.shadow_params, state["shadow_params"], exact=True)
    other.load_state_dict({"optimization_step": np.int64(7), "power": 1})  # missing keys keep their values
    assert other.optimization_step == 7 and type(other.optimization_step) is int and other.power == 1
    before = [s.numpy().copy() for s in other.shadow_params]
    bad = [
        ({"decay": 1.5}, "decay"),
        ({"min_decay": "0.1"}, "min_decay"),
        ({"optimization_step": 2.5}, "optimization_step"),
        ({"use_ema_warmup": 1}, "use_ema_warmup"),
        ({"inv_gamma": None}, "inv_gamma"),
        ({"shadow_params": [np.zeros((2, 3), np.float32), np.zeros(3, np.float32)]}, "shape"),
        ({"shadow_params": [np.zeros((2, 3), np.float32)]}, "1 shadow_params given"),
        ({"shadow_params": np.zeros(3)}, "must be a list"),
    ]
    for entry, word in bad:
        with pytest.raises(ValueError, match=word):
            other.load_state_dict(entry)
        _assert_params(other.shadow_params, before, exact=True)  # nothing written
    assert other.optimization_step == 7


def test_ema_model_arguments():
    lin = md.nn.Linear(3, 2)
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['decay_rate'\\]"):
        tu.EMAModel(lin.parameters(), decay_rate=0.9)
    with pytest.warns(FutureWarning, match="max_value"):
        ema = tu.EMAModel(lin.parameters(), max_value=0.7, min_value=None)
    assert ema.decay == 0.7
    with pytest.warns(FutureWarning, match="module"):
        ema = tu.EMAModel(lin)
    assert ema.use_ema_warmup is True  # diffusers' rule for a module
    ema = tu.EMAModel(iter(lin.parameters()), foreach=True)  # an iterator works; foreach changes nothing
    ema.step(lin.parameters())
    _assert_params(ema.shadow_params, list(lin.parameters()), exact=True)
    with pytest.raises(NotImplementedError, match="dtype=bfloat16"):
        ema.to(dtype=md.bfloat16)
    shadows = [s.numpy().copy() for s in ema.shadow_params]
    ema.to("cpu", dtype=md.float32)
    ema.pin_memory()
    _assert_params(ema.shadow_params, shadows, exact=True)
    with pytest.raises(ValueError, match="model_cls"):
        ema.save_pretrained("unused")
    assert isinstance(ema, md.optim.EMA)


def test_ema_model_save_and_load_pretrained_without_torch(tmp_path):
    md.manual_seed(1)
    model = md.UNet2DModel(**TINY)
    ema = tu.EMAModel(model.parameters(), decay=0.95, update_after_step=2, model_cls=md.UNet2DModel,
                      model_config=model.config)  # fmt: skip
    for _ in range(5):
        with md.no_grad():
            for p in model.parameters():
                p.copy_(p * 0.5 + 1.0)
        ema.step(model.parameters())
    ema.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["decay"] == 0.95 and config["optimization_step"] == 5 and config["update_after_step"] == 2
    back = tu.EMAModel.from_pretrained(tmp_path, md.UNet2DModel)
    assert back.optimization_step == 5 and back.decay == 0.95 and back.update_after_step == 2
    _assert_params(back.shadow_params, ema.shadow_params, exact=True)
    # the folder is an ordinary model folder holding the EMA weights
    plain = md.UNet2DModel.from_config({k: v for k, v in config.items() if k not in ema.state_dict()})
    assert sorted(plain.config) == sorted(model.config)


def test_compute_snr_numpy_reference():
    sched = md.DDPMScheduler(num_train_timesteps=100)
    table = sched.alphas_cumprod.numpy()
    t = np.array([[0, 5, 99], [50, 50, 1]], np.int64)
    snr = tu.compute_snr(sched, md.tensor(t))
    a, s = np.sqrt(table[t]), np.sqrt(np.float32(1) - table)[t]
    np.testing.assert_array_equal(snr.numpy(), np.square(a / s))
    np.testing.assert_allclose(snr.numpy(), table[t] / (1 - table[t]), rtol=1e-5)
    assert tu.compute_snr(sched, [3, 4]).shape == (2,)
    with pytest.raises(TypeError, match="int64"):
        tu.compute_snr(sched, md.tensor(np.array([1.0], np.float32)))


def test_sd3_helpers_numpy_reference():
    sigmas = np.array([0.1, 0.5, 0.9], np.float32)
    got = tu.compute_loss_weighting_for_sd3("cosmap", md.tensor(sigmas)).numpy()
    np.testing.assert_allclose(got, 2 / (np.pi * (1 - 2 * sigmas + 2 * sigmas**2)), rtol=1e-6)
    np.testing.assert_allclose(
        tu.compute_loss_weighting_for_sd3("sigma_sqrt", md.tensor(sigmas)).numpy(), sigmas**-2.0, rtol=1e-6
    )
    np.testing.assert_array_equal(tu.compute_loss_weighting_for_sd3("other", md.tensor(sigmas)).numpy(), np.ones(3))
    g = md.Generator()
    g.manual_seed(5)
    u = md.rand(6, generator=g).numpy()
    g.manual_seed(5)
    mode = tu.compute_density_for_timestep_sampling("mode", 6, mode_scale=1.29, generator=g).numpy()
    np.testing.assert_allclose(mode, 1 - u - 1.29 * (np.cos(np.pi * u / 2) ** 2 - 1 + u), rtol=1e-5, atol=1e-6)
    g.manual_seed(5)
    z = md.randn(6, generator=g).numpy()
    g.manual_seed(5)
    logit = tu.compute_density_for_timestep_sampling("logit_normal", 6, logit_mean=0.3, logit_std=2.0, generator=g)
    np.testing.assert_allclose(logit.numpy(), 1 / (1 + np.exp(-(z * 2.0 + 0.3))), rtol=1e-5)
    g.manual_seed(5)
    np.testing.assert_array_equal(tu.compute_density_for_timestep_sampling("uniform", 6, generator=g).numpy(), u)
    with pytest.raises(ValueError, match="logit_mean"):
        tu.compute_density_for_timestep_sampling("logit_normal", 2)


def test_set_seed_repeats_every_generator():
    draws = []
    for _ in range(2):
        tu.set_seed(123)
        draws.append((random.random(), np.random.rand(), md.rand(3).numpy().tolist()))
    assert draws[0] == draws[1]
