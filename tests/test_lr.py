# Learning-rate schedules: values at the key steps, shape (monotonic pieces), argument checks, and the
# multipliers of diffusers.optimization as the oracle.
import math

import pytest

from minidiff import lr


def test_cosine_lr_schedule_key_steps():
    f = lr.cosine_lr_schedule
    assert f(0, 100, 1.0, 0.1) == pytest.approx(1.0)
    assert f(50, 100, 1.0, 0.1) == pytest.approx(0.55)
    assert f(100, 100, 1.0, 0.1) == pytest.approx(0.1)
    assert f(25, 100, 2.0, 0.0) == pytest.approx(1.0 + math.cos(math.pi / 4))
    # clamped after total_steps
    assert f(150, 100, 1.0, 0.1) == pytest.approx(0.1)
    assert f(10**6, 100, 1.0, 0.1) == pytest.approx(0.1)


def test_cosine_lr_schedule_monotone_and_bounded():
    vals = [lr.cosine_lr_schedule(s, 200, 3e-4, 1e-5) for s in range(260)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))
    assert all(1e-5 - 1e-15 <= v <= 3e-4 + 1e-15 for v in vals)
    assert vals[0] > vals[100] > vals[199]


def test_warmup_cosine_key_steps():
    f = lr.warmup_cosine_schedule
    # warmup: 0 at step 0, linear, base_lr at warmup_steps
    assert f(0, 10, 110, 1.0) == 0.0
    assert f(1, 10, 110, 1.0) == pytest.approx(0.1)
    assert f(5, 10, 110, 1.0) == pytest.approx(0.5)
    assert f(10, 10, 110, 1.0) == pytest.approx(1.0)
    assert f(60, 10, 110, 1.0) == pytest.approx(0.5)
    assert f(110, 10, 110, 1.0) == pytest.approx(0.0, abs=1e-15)
    assert f(200, 10, 110, 1.0) == pytest.approx(0.0, abs=1e-15)
    # without warmup, step 0 is base_lr
    assert f(0, 0, 100, 2.0) == pytest.approx(2.0)


def test_warmup_cosine_monotone_pieces():
    vals = [lr.warmup_cosine_schedule(s, 20, 120, 1e-3) for s in range(150)]
    warm, decay = vals[:21], vals[20:]
    assert all(a < b for a, b in zip(warm, warm[1:]))
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert max(vals) == pytest.approx(1e-3)


def test_constant_and_constant_with_warmup():
    assert [lr.constant_schedule(s, 0.5) for s in (0, 1, 1000)] == [0.5, 0.5, 0.5]
    f = lr.constant_with_warmup_schedule
    assert f(0, 4, 1.0) == 0.0
    assert f(2, 4, 1.0) == pytest.approx(0.5)
    assert f(4, 4, 1.0) == 1.0
    assert f(400, 4, 1.0) == 1.0
    assert f(0, 0, 1.0) == 1.0


def test_linear_schedule():
    f = lr.linear_schedule
    assert f(0, 100, 1.0) == pytest.approx(1.0)
    assert f(50, 100, 1.0) == pytest.approx(0.5)
    assert f(100, 100, 1.0) == 0.0
    assert f(120, 100, 1.0) == 0.0
    assert f(0, 100, 1.0, warmup_steps=10) == 0.0
    assert f(5, 100, 1.0, warmup_steps=10) == pytest.approx(0.5)
    assert f(10, 100, 1.0, warmup_steps=10) == pytest.approx(1.0)
    assert f(55, 100, 1.0, warmup_steps=10) == pytest.approx(0.5)
    vals = [f(s, 100, 1.0, warmup_steps=10) for s in range(10, 130)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="current_step"):
        lr.cosine_lr_schedule(-1, 10, 1.0, 0.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        lr.warmup_cosine_schedule(0, -3, 10, 1.0)
    with pytest.raises(ValueError, match="unknown schedule"):
        lr.get_schedule("exponential", base_lr=1.0)
    with pytest.raises(TypeError, match="total_steps"):
        lr.get_schedule("cosine", base_lr=1.0, min_lr=0.0)
    with pytest.raises(TypeError):
        lr.get_schedule("constant", base_lr=1.0, warmup=3)


def test_get_schedule_names():
    kw = dict(total_steps=100, base_lr=1.0)
    cases = {
        "constant": (dict(base_lr=1.0), lambda s: lr.constant_schedule(s, 1.0)),
        "linear": (dict(kw, warmup_steps=5), lambda s: lr.linear_schedule(s, 100, 1.0, 5)),
        "cosine": (dict(kw, min_lr=0.1), lambda s: lr.cosine_lr_schedule(s, 100, 1.0, 0.1)),
        "cosine_with_warmup": (dict(kw, warmup_steps=5), lambda s: lr.warmup_cosine_schedule(s, 5, 100, 1.0)),
        "warmup_cosine": (dict(kw, warmup_steps=5), lambda s: lr.warmup_cosine_schedule(s, 5, 100, 1.0)),
        "constant_with_warmup": (
            dict(warmup_steps=5, base_lr=1.0),
            lambda s: lr.constant_with_warmup_schedule(s, 5, 1.0),
        ),
    }
    for name, (kwargs, ref) in cases.items():
        sched = lr.get_schedule(name, **kwargs)
        for s in (0, 3, 5, 50, 100, 130):
            assert sched(s) == ref(s), (name, s)


# ---- parity with diffusers.optimization (LambdaLR multipliers times the base lr)


def _diffusers_lrs(make, base_lr, steps):
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=base_lr)
    sched = make(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("warmup,total", [(0, 50), (1, 50), (10, 60), (7, 7), (13, 100)])
def test_parity_with_diffusers(warmup, total):
    opt_mod = pytest.importorskip("diffusers.optimization")
    base = 3e-4
    n = total + 1  # diffusers' cosine rises again after total_steps; we clamp there, so compare up to it
    ours_and_theirs = [
        (
            lambda s: lr.warmup_cosine_schedule(s, warmup, total, base),
            lambda o: opt_mod.get_cosine_schedule_with_warmup(o, warmup, total),
        ),
        (
            lambda s: lr.linear_schedule(s, total, base, warmup_steps=warmup),
            lambda o: opt_mod.get_linear_schedule_with_warmup(o, warmup, total),
        ),
        (
            lambda s: lr.constant_with_warmup_schedule(s, warmup, base),
            lambda o: opt_mod.get_constant_schedule_with_warmup(o, warmup),
        ),
        (lambda s: lr.constant_schedule(s, base), lambda o: opt_mod.get_constant_schedule(o)),
    ]
    for ours, make in ours_and_theirs:
        theirs = _diffusers_lrs(make, base, n)
        mine = [ours(s) for s in range(n)]
        assert mine == pytest.approx(theirs, rel=1e-12, abs=1e-18)
    # past the end the linear schedule agrees too (both floor at 0)
    make = lambda o: opt_mod.get_linear_schedule_with_warmup(o, warmup, total)  # noqa: E731
    theirs = _diffusers_lrs(make, base, total + 20)
    assert [lr.linear_schedule(s, total, base, warmup) for s in range(total + 20)] == pytest.approx(
        theirs, rel=1e-12, abs=1e-18
    )


def test_cosine_without_floor_matches_diffusers_without_warmup():
    opt_mod = pytest.importorskip("diffusers.optimization")
    theirs = _diffusers_lrs(lambda o: opt_mod.get_cosine_schedule_with_warmup(o, 0, 40), 1.0, 41)
    assert [lr.cosine_lr_schedule(s, 40, 1.0, 0.0) for s in range(41)] == pytest.approx(theirs, abs=1e-12)
