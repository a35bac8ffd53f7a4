"""Differential tests of md.optim.lr_scheduler against torch.optim.lr_scheduler, and of
md.training_utils.EMAModel's decay against diffusers', aimed at what test_lr_scheduler_more.py
and test_optimization.py leave out: CyclicLR and CosineAnnealingWarmRestarts (every mode, Adam's
betas and SGD's momentum, fractional ``step(epoch)``), resuming with ``last_epoch >= 0``,
``step(epoch)`` jumps, two schedulers on one optimiser, the state_dict's keys, and torch's
warnings (``get_lr()`` outside ``step()``, ``scheduler.step()`` before ``optimizer.step()``).

Values are compared for exact equality: the schedulers are written in torch's (recursive or
closed) form so they agree float for float. Tests that need torch or diffusers skip without them;
a few hand-computed curves run without."""

from __future__ import annotations

import copy
import math
import pickle
import warnings

import pytest

import minidiff as md

S = md.optim.lr_scheduler
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
LRS = (0.1, 0.03, 0.7)  # three parameter groups with different base lrs


def md_optimizer(kind: str = "sgd", lrs=LRS):
    groups = [{"params": [md.nn.Parameter(md.zeros(2))], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return md.optim.SGD(groups, lr=0.5, momentum=0.9)
    return md.optim.Adam(groups, lr=0.5, betas=(0.9, 0.99))


def torch_optimizer(torch, kind: str = "sgd", lrs=LRS):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=0.5, momentum=0.9)
    return torch.optim.Adam(groups, lr=0.5, betas=(0.9, 0.99))


def lrs_of(opt) -> list[float]:
    return [g["lr"] for g in opt.param_groups]


def momenta(opt) -> list[float]:
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def assert_same(mo, to, ms, ts, where: str) -> None:
    assert lrs_of(mo) == lrs_of(to), where
    assert momenta(mo) == momenta(to), where
    assert ms.get_last_lr() == ts.get_last_lr(), where
    assert ms.last_epoch == ts.last_epoch, where


class HalvingScale:
    """A scale_fn that is a callable object: CyclicLR's state_dict saves its __dict__."""

    def __init__(self, base: float = 0.5):
        self.base = base

    def __call__(self, x: float) -> float:
        return self.base**x


CYCLIC = {
    "triangular": lambda M, o, **k: M.CyclicLR(o, 0.01, 0.1, step_size_up=4, **k),
    "per_group": lambda M, o, **k: M.CyclicLR(
        o,
        [0.01, 0.02, 0.03],
        [0.1, 0.2, 0.3],
        step_size_up=3,
        step_size_down=7,
        base_momentum=[0.7, 0.8, 0.85],
        max_momentum=0.95,
        **k,
    ),  # fmt: skip
    "triangular2": lambda M, o, **k: M.CyclicLR(o, 0.01, 0.1, 2, 5, mode="triangular2", **k),
    "exp_range": lambda M, o, **k: M.CyclicLR(o, 0.01, 0.1, 5, mode="exp_range", gamma=0.97, scale_mode="cycle", **k),
    "scale_fn_iterations": lambda M, o, **k: M.CyclicLR(
        o, 0.01, 0.1, 5, scale_fn=lambda x: 1 / (x + 1), scale_mode="iterations", **k
    ),
    "scale_fn_any_mode": lambda M, o, **k: M.CyclicLR(o, 0.01, 0.1, 3, mode="custom", scale_fn=lambda x: 0.9**x, **k),
    "no_momentum": lambda M, o, **k: M.CyclicLR(o, 0.01, 0.1, 3, cycle_momentum=False, **k),
    "no_way_down": lambda M, o, **k: M.CyclicLR(o, 0.01, 0.1, step_size_up=3, step_size_down=0, **k),
}
WARM_RESTARTS = {
    "T_0": lambda M, o, **k: M.CosineAnnealingWarmRestarts(o, 5, **k),
    "T_mult_2": lambda M, o, **k: M.CosineAnnealingWarmRestarts(o, 3, 2, 0.001, **k),
    "T_mult_3_int_eta": lambda M, o, **k: M.CosineAnnealingWarmRestarts(o, 1, 3, 0, **k),
}
NEW = CYCLIC | WARM_RESTARTS
OLD = {
    "step": lambda M, o, **k: M.StepLR(o, 4, 0.5, **k),
    "multistep": lambda M, o, **k: M.MultiStepLR(o, [3, 7, 7, 15], 0.3, **k),
    "exponential": lambda M, o, **k: M.ExponentialLR(o, 0.9, **k),
    "constant": lambda M, o, **k: M.ConstantLR(o, 0.25, 6, **k),
    "linear": lambda M, o, **k: M.LinearLR(o, 0.1, 0.9, 8, **k),
    "polynomial": lambda M, o, **k: M.PolynomialLR(o, 9, 1.7, **k),
    "cosine": lambda M, o, **k: M.CosineAnnealingLR(o, 7, 0.01, **k),
    "lambda": lambda M, o, **k: M.LambdaLR(o, [lambda e: 0.97**e, lambda e: 1 / (1 + e), lambda e: e % 3], **k),
    "multiplicative": lambda M, o, **k: M.MultiplicativeLR(o, lambda e: 0.9, **k),
}


# ---------------------------------------------------------------- CyclicLR, CosineAnnealingWarmRestarts


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", sorted(NEW))
def test_new_schedulers_match_torch_with_a_state_dict_round_trip(name, kind):
    torch = pytest.importorskip("torch")
    build = NEW[name]
    mo, to = md_optimizer(kind), torch_optimizer(torch, kind)
    ms, ts = build(S, mo), build(torch.optim.lr_scheduler, to)
    assert_same(mo, to, ms, ts, "after construction")
    for i in range(1, 50):
        if i == 23:  # resume md's run from pickled state dicts, torch's goes on
            saved_opt, saved_sched = pickle.dumps(mo.state_dict()), pickle.dumps(ms.state_dict())
            mo = md_optimizer(kind)
            ms = build(S, mo)
            mo.load_state_dict(pickle.loads(saved_opt))
            ms.load_state_dict(pickle.loads(saved_sched))
        mo.step()
        to.step()
        ms.step()
        ts.step()
        assert_same(mo, to, ms, ts, f"step {i}")
        assert getattr(ms, "T_cur", None) == getattr(ts, "T_cur", None)
    ours, theirs = ms.state_dict(), ts.state_dict()
    assert set(ours) == set(theirs)
    for key in set(theirs) - {"_last_lr", "base_lrs"}:
        assert ours[key] == theirs[key], key


@pytest.mark.parametrize("name", sorted(NEW))
def test_new_schedulers_resume_with_last_epoch_and_jump_with_step_epoch_like_torch(name):
    torch = pytest.importorskip("torch")
    build = NEW[name]
    for start in (0, 3, 10):
        mo, to = md_optimizer(), torch_optimizer(torch)
        for opt in (mo, to):
            for g in opt.param_groups:
                g["initial_lr"], g["lr"] = g["lr"], g["lr"] * 0.77
        ms, ts = build(S, mo, last_epoch=start), build(torch.optim.lr_scheduler, to, last_epoch=start)
        for i in range(8):
            assert_same(mo, to, ms, ts, f"resumed at {start}, step {i}")
            ms.step()
            ts.step()
    mo, to = md_optimizer(), torch_optimizer(torch)
    ms, ts = build(S, mo), build(torch.optim.lr_scheduler, to)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # step(epoch) is deprecated for CyclicLR
        for epoch in (1, 5, 3, 20, 0, 7, 2.5, 0.1, 13.7, 100, 45.25):
            ms.step(epoch)
            ts.step(epoch)
            assert_same(mo, to, ms, ts, f"step({epoch})")
            ms.step()
            ts.step()
            assert_same(mo, to, ms, ts, f"step({epoch}) then step()")


@pytest.mark.parametrize("name", sorted(NEW))
def test_new_schedulers_after_another_scheduler_on_the_same_optimizer_like_torch(name):
    torch = pytest.importorskip("torch")
    mo, to = md_optimizer(), torch_optimizer(torch)
    S.StepLR(mo, 3)  # sets initial_lr; the groups' lr then moves away from it
    torch.optim.lr_scheduler.StepLR(to, 3)
    for opt in (mo, to):
        for g in opt.param_groups:
            g["lr"] *= 0.0625
    ms, ts = NEW[name](S, mo), NEW[name](torch.optim.lr_scheduler, to)
    for i in range(12):
        assert_same(mo, to, ms, ts, f"step {i}")
        ms.step()
        ts.step()


def test_cyclic_scale_fn_object_state_like_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = HalvingScale(), HalvingScale()
    ms = S.CyclicLR(md_optimizer(), 0.01, 0.1, 3, scale_fn=ours)
    ts = torch.optim.lr_scheduler.CyclicLR(torch_optimizer(torch), 0.01, 0.1, 3, scale_fn=theirs)
    ours.base = theirs.base = 0.3
    state = ms.state_dict()
    assert state["_scale_fn_custom"] == ts.state_dict()["_scale_fn_custom"] == {"base": 0.3}
    fresh = HalvingScale()
    S.CyclicLR(md_optimizer(), 0.01, 0.1, 3, scale_fn=fresh).load_state_dict(state)
    assert fresh.base == 0.3
    assert "_scale_fn_custom" in state  # loading leaves the caller's dict as it was
    plain = S.CyclicLR(md_optimizer(), 0.01, 0.1, 3, scale_fn=lambda x: 1.0)
    assert plain.state_dict()["_scale_fn_custom"] is None


BAD_NEW = {
    "unknown mode": lambda M, o: M.CyclicLR(o, 0.01, 0.1, mode="sawtooth"),
    "base_lr per group": lambda M, o: M.CyclicLR(o, [0.01], 0.1),
    "max_lr per group": lambda M, o: M.CyclicLR(o, 0.01, [0.1, 0.2]),
    "T_0 zero": lambda M, o: M.CosineAnnealingWarmRestarts(o, 0),
    "T_0 float": lambda M, o: M.CosineAnnealingWarmRestarts(o, 2.0),
    "T_mult zero": lambda M, o: M.CosineAnnealingWarmRestarts(o, 2, 0),
    "T_mult float": lambda M, o: M.CosineAnnealingWarmRestarts(o, 2, 1.5),
    "eta_min str": lambda M, o: M.CosineAnnealingWarmRestarts(o, 2, eta_min="0"),
    "negative epoch": lambda M, o: M.CosineAnnealingWarmRestarts(o, 2).step(-1),
}


@pytest.mark.parametrize("name", sorted(BAD_NEW))
def test_new_schedulers_bad_arguments_raise_value_error_like_torch(name):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        BAD_NEW[name](torch.optim.lr_scheduler, torch_optimizer(torch))
    with pytest.raises(ValueError):
        BAD_NEW[name](S, md_optimizer())


def test_cyclic_needs_momentum_or_betas():
    class NoMomentum:
        def __init__(self):
            self.param_groups = [{"lr": 0.1}]
            self.defaults = {"lr": 0.1}

        def step(self):
            pass

    with pytest.raises(ValueError, match="momentum"):
        S.CyclicLR(NoMomentum(), 0.01, 0.1)
    sched = S.CyclicLR(NoMomentum(), 0.01, 0.1, step_size_up=2, cycle_momentum=False)
    sched.optimizer.step()
    sched.step()
    assert sched.get_last_lr() == pytest.approx([0.055])


def test_cyclic_by_hand():
    opt = md_optimizer("adam", lrs=(0.5,))
    sched = S.CyclicLR(opt, 0.1, 0.5, step_size_up=2, step_size_down=4, mode="triangular2")
    seen_lr, seen_beta = [], []
    for _ in range(14):
        seen_lr.append(opt.param_groups[0]["lr"])
        seen_beta.append(opt.param_groups[0]["betas"][0])
        opt.step()
        sched.step()
    first = [0.1, 0.3, 0.5, 0.4, 0.3, 0.2]  # up in 2 steps, down in 4; the second cycle has half the height
    assert seen_lr == pytest.approx(first + [0.1, 0.2, 0.3, 0.25, 0.2, 0.15] + [0.1, 0.15])
    assert seen_beta[:6] == pytest.approx([0.9, 0.85, 0.8, 0.825, 0.85, 0.875])
    assert opt.param_groups[0]["betas"][1] == 0.99  # only beta1 cycles
    assert opt.param_groups[0]["initial_lr"] == 0.1 and sched.base_lrs == [0.1]  # the lr is set before initial_lr


def test_warm_restarts_by_hand():
    opt = md_optimizer(lrs=(1.0,))
    sched = S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=0.0)
    seen = []
    for _ in range(8):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    half, quarter = 0.5, 0.5 * (1 + math.cos(math.pi / 4))
    # periods of 2, 4, 8 steps, each restarting at the base lr
    assert seen == pytest.approx([1.0, half, 1.0, quarter, half, 1 - quarter, 1.0, 0.5 * (1 + math.cos(math.pi / 8))])
    sched.step(6.5)  # inside the third period (it starts at 6): T_cur 0.5 of T_i 8
    assert sched.T_i == 8 and sched.T_cur == pytest.approx(0.5) and sched.last_epoch == 6
    assert sched.get_last_lr() == pytest.approx([0.5 * (1 + math.cos(math.pi * 0.5 / 8))])


# ---------------------------------------------------------------- the other schedulers' corners


@pytest.mark.parametrize("name", sorted(OLD))
def test_resume_step_epoch_and_second_scheduler_match_torch(name):
    torch = pytest.importorskip("torch")
    build = OLD[name]
    for start in (0, 3, 10):
        mo, to = md_optimizer(), torch_optimizer(torch)
        for opt in (mo, to):
            for g in opt.param_groups:
                g["initial_lr"], g["lr"] = g["lr"], g["lr"] * 0.77
        ms, ts = build(S, mo, last_epoch=start), build(torch.optim.lr_scheduler, to, last_epoch=start)
        for i in range(10):
            assert_same(mo, to, ms, ts, f"resumed at {start}, step {i}")
            ms.step()
            ts.step()
    mo, to = md_optimizer(), torch_optimizer(torch)
    build(S, mo)
    build(torch.optim.lr_scheduler, to)
    ms, ts = build(S, mo), build(torch.optim.lr_scheduler, to)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in (1, 2, 5, 3, 9, 20, 0, 7, 7, 14):
            ms.step(epoch)
            ts.step(epoch)
            assert_same(mo, to, ms, ts, f"step({epoch})")


@pytest.mark.parametrize("name", sorted(OLD | NEW))
def test_state_dict_keys_match_torch(name):
    torch = pytest.importorskip("torch")
    mo, to = md_optimizer(), torch_optimizer(torch)
    ms, ts = (OLD | NEW)[name](S, mo), (OLD | NEW)[name](torch.optim.lr_scheduler, to)
    mo.step()
    to.step()
    ms.step()
    ts.step()
    assert set(ms.state_dict()) == set(ts.state_dict())


# ---------------------------------------------------------------- torch's warnings


def _warnings_of(fn) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("name", sorted(OLD | NEW))
def test_get_lr_outside_step_warns_like_torch(name):
    torch = pytest.importorskip("torch")
    build = (OLD | NEW)[name]
    theirs = _warnings_of(lambda: build(torch.optim.lr_scheduler, torch_optimizer(torch)).get_lr())
    ours = _warnings_of(lambda: build(S, md_optimizer()).get_lr())
    assert len(ours) == len(theirs) == 1
    assert "get_last_lr()" in ours[0]
    quiet = _warnings_of(lambda: [build(S, md_optimizer()).get_last_lr()])
    assert quiet == []


def test_scheduler_step_before_optimizer_step_warns_like_torch():
    torch = pytest.importorskip("torch")
    for lib, opt in ((torch.optim.lr_scheduler, torch_optimizer(torch)), (S, md_optimizer())):
        sched = lib.StepLR(opt, 2)
        assert any("before `optimizer.step()`" in m for m in _warnings_of(sched.step)), lib
        assert _warnings_of(sched.step) == []  # only the first step is checked
    for lib, opt in ((torch.optim.lr_scheduler, torch_optimizer(torch)), (S, md_optimizer("adam"))):
        sched = lib.ExponentialLR(opt, 0.9)
        assert _warnings_of(lambda o=opt, s=sched: (o.step(), s.step())) == []
        assert opt.step() is None


def test_overridden_optimizer_step_warns():
    opt = md_optimizer()
    sched = S.StepLR(opt, 2)
    opt.step = lambda closure=None: None  # replaced after the scheduler wrapped it
    assert any("overridden" in m for m in _warnings_of(sched.step))


def test_tracked_optimizer_still_pickles_and_copies():
    opt = md_optimizer()
    sched = S.StepLR(opt, 2)
    S.ExponentialLR(opt, 0.5)  # a second scheduler does not wrap step again
    assert opt.step.func is type(opt).step
    for clone in (pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)):
        assert clone.step.optimizer is clone
        clone.step()
        assert clone._opt_called
    opt.step()
    assert _warnings_of(sched.step) == []


def test_not_an_optimizer_raises_type_error_like_torch():
    torch = pytest.importorskip("torch")
    for lib in (torch.optim.lr_scheduler, S):
        with pytest.raises(TypeError):
            lib.StepLR(object(), 2)
        with pytest.raises(TypeError):
            lib.CyclicLR(object(), 0.01, 0.1)


# ---------------------------------------------------------------- EMAModel's decay


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"decay": 0.9},
        {"use_ema_warmup": True},
        {"use_ema_warmup": True, "inv_gamma": 10, "power": 0.75, "update_after_step": 3},
        {"min_decay": 0.95, "decay": 0.9},
        {"decay": 1.0, "update_after_step": 5},
        {"use_ema_warmup": True, "power": 0},
    ],
)
def test_ema_model_decay_schedule_matches_diffusers(settings):
    torch = pytest.importorskip("torch")
    training_utils = pytest.importorskip("diffusers.training_utils")
    ours = md.training_utils.EMAModel([md.nn.Parameter(md.zeros(2))], **settings)
    theirs = training_utils.EMAModel([torch.nn.Parameter(torch.zeros(2))], **settings)
    assert [ours.get_decay(s) for s in range(40)] == [theirs.get_decay(s) for s in range(40)]
