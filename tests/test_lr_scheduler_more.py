"""md.optim.lr_scheduler's StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR, PolynomialLR,
MultiplicativeLR, CosineAnnealingLR, SequentialLR, ChainedScheduler, OneCycleLR and
ReduceLROnPlateau against torch's, step by step, over several parameter groups and through a
state_dict round trip; a few hand-computed curves run without torch."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import minidiff as md

S = md.optim.lr_scheduler
LRS = (0.1, 0.03)  # two parameter groups with different base lrs
TIGHT = dict(rel=1e-12, abs=1e-18)

pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")


def md_optimizer(kind: str, lrs=LRS):
    groups = [{"params": [md.nn.Parameter(md.zeros(3))], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return md.optim.SGD(groups, lr=0.5, momentum=0.9)
    return md.optim.AdamW(groups, lr=0.5, betas=(0.9, 0.99))


def torch_optimizer(torch, kind: str, lrs=LRS):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(3))], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=0.5, momentum=0.9)
    return torch.optim.AdamW(groups, lr=0.5, betas=(0.9, 0.99))


def momenta(opt) -> list[float]:
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def assert_same(ms, ts, mo, to, where: str) -> None:
    assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), **TIGHT), where
    assert [g["lr"] for g in mo.param_groups] == pytest.approx([g["lr"] for g in to.param_groups], **TIGHT), where
    assert momenta(mo) == pytest.approx(momenta(to), **TIGHT), where


def compare_with_torch(build, kind: str = "sgd", steps: int = 60, resume_at: int | None = 23) -> None:
    """Steps ``build(lr_scheduler_module, optimizer)`` in md and torch side by side; at ``resume_at``
    md's optimiser and scheduler are rebuilt from (pickled) state dicts, as when resuming a run,
    while torch's carry on undisturbed."""
    torch = pytest.importorskip("torch")
    mo, to = md_optimizer(kind), torch_optimizer(torch, kind)
    ms, ts = build(S, mo), build(torch.optim.lr_scheduler, to)
    assert_same(ms, ts, mo, to, "after construction")
    for i in range(1, steps + 1):
        if i == resume_at:
            saved_opt, saved_sched = pickle.dumps(mo.state_dict()), pickle.dumps(ms.state_dict())
            mo = md_optimizer(kind)
            ms = build(S, mo)  # torch's order: the scheduler first, then the optimiser's state
            mo.load_state_dict(pickle.loads(saved_opt))
            ms.load_state_dict(pickle.loads(saved_sched))
            assert_same(ms, ts, mo, to, "after the round trip")
        mo.step()
        to.step()
        ms.step()
        ts.step()
        assert_same(ms, ts, mo, to, f"step {i}")
        assert getattr(ms, "last_epoch", None) == getattr(ts, "last_epoch", None)


CASES = {
    "step": lambda M, o: M.StepLR(o, step_size=7, gamma=0.5),
    "step_default_gamma": lambda M, o: M.StepLR(o, 3),
    "multistep": lambda M, o: M.MultiStepLR(o, milestones=[30, 5, 12, 12], gamma=0.3),
    "exponential": lambda M, o: M.ExponentialLR(o, gamma=0.93),
    "constant_default": lambda M, o: M.ConstantLR(o),
    "constant": lambda M, o: M.ConstantLR(o, factor=0.25, total_iters=8),
    "linear_default": lambda M, o: M.LinearLR(o),
    "linear_warmup": lambda M, o: M.LinearLR(o, start_factor=0.05, end_factor=0.8, total_iters=17),
    "linear_decay": lambda M, o: M.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=40),
    "polynomial_default": lambda M, o: M.PolynomialLR(o),
    "polynomial": lambda M, o: M.PolynomialLR(o, total_iters=25, power=2.0),
    "polynomial_sqrt": lambda M, o: M.PolynomialLR(o, total_iters=40, power=0.5),
    "multiplicative": lambda M, o: M.MultiplicativeLR(o, lambda e: 0.95 if e % 2 else 0.99),
    "cosine_restarts": lambda M, o: M.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "cosine_to_zero": lambda M, o: M.CosineAnnealingLR(o, T_max=45),
    "sequential_warmup_cosine": lambda M, o: M.SequentialLR(
        o, [M.LinearLR(o, start_factor=0.1, total_iters=5), M.CosineAnnealingLR(o, T_max=40, eta_min=1e-4)], [5]
    ),
    "sequential_three": lambda M, o: M.SequentialLR(
        o, [M.ConstantLR(o, factor=0.5, total_iters=3), M.ExponentialLR(o, 0.9), M.StepLR(o, 4, 0.5)], [6, 20]
    ),
    "sequential_exponential_chain": lambda M, o: M.SequentialLR(
        o, [M.ExponentialLR(o, 0.8), M.ExponentialLR(o, 0.95), M.PolynomialLR(o, 20, 1.5)], milestones=[10, 30]
    ),
    "chained_exponential_step": lambda M, o: M.ChainedScheduler([M.ExponentialLR(o, 0.97), M.StepLR(o, 5, 0.5)]),
    "chained_linear_cosine": lambda M, o: M.ChainedScheduler(
        [M.LinearLR(o, start_factor=0.2, total_iters=10), M.CosineAnnealingLR(o, T_max=25, eta_min=0.002)]
    ),
    "chained_multistep_constant": lambda M, o: M.ChainedScheduler(
        [M.ConstantLR(o, factor=0.5, total_iters=4), M.MultiStepLR(o, [3, 9], gamma=0.2)], optimizer=o
    ),
}


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_scheduler_matches_torch_step_by_step(name, kind):
    compare_with_torch(CASES[name], kind)


ONE_CYCLE = {
    "cos": dict(max_lr=0.5, total_steps=60),
    "linear_three_phase": dict(max_lr=[0.4, 0.07], total_steps=70, anneal_strategy="linear", three_phase=True),
    "cos_three_phase": dict(max_lr=0.5, epochs=6, steps_per_epoch=11, pct_start=0.25, three_phase=True),
    "custom": dict(
        max_lr=[1.0, 0.2],
        total_steps=50,
        pct_start=0.4,
        div_factor=10.0,
        final_div_factor=100.0,
        base_momentum=[0.8, 0.7],
        max_momentum=0.98,
    ),  # fmt: skip
    "no_momentum": dict(max_lr=0.3, total_steps=45, cycle_momentum=False),
}


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
@pytest.mark.parametrize("name", sorted(ONE_CYCLE))
def test_one_cycle_matches_torch_lrs_and_momenta(name, kind):
    kw = ONE_CYCLE[name]
    total = kw.get("total_steps") or kw["epochs"] * kw["steps_per_epoch"]
    compare_with_torch(lambda M, o: M.OneCycleLR(o, **kw), kind, steps=total, resume_at=total // 2)


def test_one_cycle_refuses_to_step_past_total_steps_as_torch():
    torch = pytest.importorskip("torch")
    mo, to = md_optimizer("sgd"), torch_optimizer(torch, "sgd")
    ms, ts = S.OneCycleLR(mo, 1.0, total_steps=4), torch.optim.lr_scheduler.OneCycleLR(to, 1.0, total_steps=4)
    for _ in range(4):
        ms.step()
        ts.step()
    with pytest.raises(ValueError):
        ts.step()
    with pytest.raises(ValueError, match="OneCycleLR"):
        ms.step()


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_one_cycle_momentum_reaches_the_optimiser_update(kind):
    """The cycled betas[0] / momentum is read by md's optimiser at each step: the weights follow
    torch's, and would not if the cycle were only written into the groups."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4)).astype(np.float32)
    xs = rng.standard_normal((30, 5, 4)).astype(np.float32)

    def train(lib, cycle_momentum: bool):
        w = md.nn.Parameter(md.tensor(w0)) if lib is md else torch.nn.Parameter(torch.tensor(w0))
        opt = lib.optim.SGD([w], lr=0.1, momentum=0.9) if kind == "sgd" else lib.optim.AdamW([w], lr=0.1)
        sched = lib.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=0.05, total_steps=len(xs), base_momentum=0.5, max_momentum=0.95, cycle_momentum=cycle_momentum
        )
        for x in xs:
            opt.zero_grad()
            x = md.tensor(x) if lib is md else torch.tensor(x)
            ((x @ w.T).square().sum() * 0.1).backward()
            opt.step()
            sched.step()
        return w.detach().numpy() if lib is torch else w.numpy()

    ours, theirs = train(md, True), train(torch, True)
    np.testing.assert_allclose(ours, theirs, rtol=2e-4, atol=2e-5)
    # the test can tell: without the cycle the weights end elsewhere
    assert np.abs(train(md, False) - theirs).max() > 1e-3


# ---- ReduceLROnPlateau

PLATEAU_METRICS = [
    5.0, 4.0, 4.0, 3.9999, 4.0, 4.1, 3.0, 3.0, 3.0, 3.0, 2.9997, 3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0,
    1.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9,
    0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9,
]  # fmt: skip

PLATEAU = {
    "defaults": dict(),
    "patience": dict(patience=2, factor=0.5),
    "rel_threshold": dict(patience=1, threshold=1e-3, factor=0.3),
    "abs_threshold": dict(patience=1, threshold=0.05, threshold_mode="abs", factor=0.5),
    "cooldown": dict(patience=1, cooldown=3, factor=0.5),
    "min_lr": dict(patience=0, factor=0.2, min_lr=0.004),
    "min_lr_per_group": dict(patience=0, factor=0.5, min_lr=[0.01, 0.001]),
    "eps": dict(patience=0, factor=0.5, eps=0.01),
    "max": dict(mode="max", patience=1, factor=0.5),
    "max_abs_cooldown": dict(mode="max", patience=2, threshold=0.2, threshold_mode="abs", cooldown=2),
}


@pytest.mark.parametrize("name", sorted(PLATEAU))
def test_reduce_on_plateau_matches_torch(name):
    torch = pytest.importorskip("torch")
    kw = PLATEAU[name]
    metrics = [-m for m in PLATEAU_METRICS] if kw.get("mode") == "max" else PLATEAU_METRICS
    mo, to = md_optimizer("adamw"), torch_optimizer(torch, "adamw")
    ms, ts = S.ReduceLROnPlateau(mo, **kw), torch.optim.lr_scheduler.ReduceLROnPlateau(to, **kw)
    reductions = 0
    for i, metric in enumerate(metrics):
        if i == len(metrics) // 2:
            state = pickle.loads(pickle.dumps(ms.state_dict()))
            assert "optimizer" not in state
            mo2 = md_optimizer("adamw")
            mo2.load_state_dict(mo.state_dict())
            mo, ms = mo2, S.ReduceLROnPlateau(mo2)  # default arguments: everything comes from the state
            ms.load_state_dict(state)
        before = ms.get_last_lr()
        mo.step()
        to.step()
        if i % 3 == 0:  # a 0-d tensor, as a loss is (float32 in both)
            ms.step(md.tensor(metric))
            ts.step(torch.tensor(metric))
        else:
            ms.step(metric)
            ts.step(metric)
        reductions += ms.get_last_lr() != before
        assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), **TIGHT), f"step {i}"
        assert [g["lr"] for g in mo.param_groups] == pytest.approx([g["lr"] for g in to.param_groups], **TIGHT)
        assert (ms.num_bad_epochs, ms.cooldown_counter, ms.best) == (ts.num_bad_epochs, ts.cooldown_counter, ts.best)
    assert reductions > 0  # every configuration above reaches a plateau


# ---- without torch: hand-computed curves


def sgd(lr: float = 1.0, momentum: float = 0.0):
    return md.optim.SGD([md.nn.Parameter(md.zeros(2))], lr=lr, momentum=momentum)


def lrs_over(scheduler, steps: int) -> list[float]:
    out = scheduler.get_last_lr()
    for _ in range(steps):
        scheduler.optimizer.step()
        scheduler.step()
        out += scheduler.get_last_lr()
    return out


def test_step_multistep_exponential_by_hand():
    assert lrs_over(S.StepLR(sgd(), step_size=3, gamma=0.5), 7) == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])
    assert lrs_over(S.MultiStepLR(sgd(), milestones=[2, 5, 5], gamma=0.1), 6) == pytest.approx(
        [1, 1, 0.1, 0.1, 0.1, 0.001, 0.001]
    )
    assert lrs_over(S.ExponentialLR(sgd(2.0), gamma=0.5), 3) == pytest.approx([2, 1, 0.5, 0.25])


def test_constant_linear_polynomial_by_hand():
    assert lrs_over(S.ConstantLR(sgd(0.3), factor=0.5, total_iters=2), 3) == pytest.approx([0.15, 0.15, 0.3, 0.3])
    assert lrs_over(S.LinearLR(sgd(0.3)), 6) == pytest.approx([0.1, 0.14, 0.18, 0.22, 0.26, 0.3, 0.3])
    assert lrs_over(S.PolynomialLR(sgd(), total_iters=4, power=2.0), 5) == pytest.approx(
        [1, 0.5625, 0.25, 0.0625, 0, 0]
    )


def test_sequential_and_chained_by_hand():
    opt = sgd()
    seq = S.SequentialLR(opt, [S.ConstantLR(opt, factor=0.5, total_iters=2), S.ExponentialLR(opt, 0.5)], [3])
    # the exponential restarts from initial_lr at the milestone
    assert lrs_over(seq, 5) == pytest.approx([0.5, 0.5, 1.0, 1.0, 0.5, 0.25])
    opt = sgd()
    chained = S.ChainedScheduler([S.ExponentialLR(opt, 0.5), S.StepLR(opt, 2, 0.1)])
    assert lrs_over(chained, 5) == pytest.approx([0.5**k * 0.1 ** (k // 2) for k in range(6)])


def test_one_cycle_linear_by_hand():
    opt = sgd(momentum=0.9)
    sched = S.OneCycleLR(
        opt, max_lr=1.0, total_steps=10, pct_start=0.5, anneal_strategy="linear", div_factor=10, final_div_factor=10
    )
    lrs, moms = [opt.param_groups[0]["lr"]], [opt.param_groups[0]["momentum"]]
    for _ in range(9):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
    # up from 0.1 to 1 over steps 0..4, down to 0.01 over steps 4..9; momentum the other way
    assert lrs == pytest.approx([0.1 + 0.9 * k / 4 for k in range(5)] + [1 - 0.99 * k / 5 for k in range(1, 6)])
    assert moms == pytest.approx([0.95 - 0.1 * k / 4 for k in range(5)] + [0.85 + 0.1 * k / 5 for k in range(1, 6)])
    assert opt.param_groups[0]["initial_lr"] == pytest.approx(0.1)
    assert opt.param_groups[0]["min_lr"] == pytest.approx(0.01)


def test_reduce_on_plateau_by_hand():
    opt = sgd()
    sched = S.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=1)
    seen = []
    for metric in [5, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3]:
        sched.step(metric)
        seen.append(sched.get_last_lr()[0])
    # 3 bad steps (> patience 2) halve it; the next bad step falls in the cooldown and does not
    # count; 3 is an improvement, and 3 bad steps after it halve it again
    assert seen == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_state_dict_round_trip_without_torch():
    opt = sgd(0.2)
    warm = S.SequentialLR(opt, [S.LinearLR(opt, 0.25, total_iters=4), S.CosineAnnealingLR(opt, 12)], [4])
    for _ in range(6):
        warm.step()
    state = pickle.loads(pickle.dumps(warm.state_dict()))
    assert "optimizer" not in state and len(state["_schedulers"]) == 2
    opt2 = sgd(0.2)
    again = S.SequentialLR(opt2, [S.LinearLR(opt2, 0.25, total_iters=4), S.CosineAnnealingLR(opt2, 12)], [4])
    opt2.load_state_dict(opt.state_dict())
    again.load_state_dict(state)
    assert lrs_over(again, 8) == lrs_over(warm, 8)
    assert again.get_last_lr() == pytest.approx([0.2 * (1 + np.cos(np.pi * 10 / 12)) / 2])


def test_bad_arguments_raise():
    opt = sgd()
    with pytest.raises(ValueError, match="milestones"):
        S.SequentialLR(opt, [S.ExponentialLR(opt, 0.9), S.StepLR(opt, 2)], milestones=[])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        S.ChainedScheduler([S.ExponentialLR(opt, 0.9), S.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="another optimizer"):
        S.SequentialLR(opt, [S.ExponentialLR(opt, 0.9), S.StepLR(sgd(), 2)], milestones=[3])
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="max_lr"):
        S.OneCycleLR(opt, max_lr=[1.0, 2.0], total_steps=5)
    with pytest.raises(ValueError, match="factor"):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode"):
        S.ReduceLROnPlateau(opt, mode="best")
    with pytest.raises(ValueError, match="start_factor"):
        S.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="factor"):
        S.ConstantLR(opt, factor=1.5)
