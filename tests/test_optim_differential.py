"""Differential checks of md.optim (Adam, AdamW, SGD, clip_grad_norm_, EMA), md.training_utils.EMAModel
and the learning-rate schedulers against torch and diffusers: both sides get the same parameters and
the same gradients (set through ``.grad``) and must follow the same trajectory, to float32 rounding
for the optimisers and to double rounding for the schedules. Also the regression tests of the bugs
this hunt found (zero_grad(set_to_none=False), load_state_dict, error_if_nonfinite, ...)."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest

import minidiff as md

SHAPES = [(5, 3), (3,), (0,), (7,), (2, 2)]
TOL = dict(rtol=1e-5, atol=1e-6)


def make_params(torch, shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ours = [md.nn.Parameter(md.tensor(v)) for v in values]
    ref = [torch.nn.Parameter(torch.tensor(v)) for v in values] if torch is not None else None
    return ours, ref


def make_grads(steps, shapes=SHAPES, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(steps)]


def set_grads(torch, ours, ref, grads, mask=None):
    """The same gradients on both sides; where ``mask`` is False the gradient is None (skipped)."""
    for i, g in enumerate(grads):
        keep = mask is None or mask[i]
        ours[i].grad = md.tensor(g) if keep else None
        if ref is not None:
            ref[i].grad = torch.tensor(g) if keep else None


def assert_params_close(ours, ref, **tol):
    for i, (a, b) in enumerate(zip(ours, ref)):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), err_msg=f"parameter {i}", **(tol or TOL))


# ---- Adam / AdamW / SGD trajectories


OPTIMIZERS = {
    "adam": ("Adam", dict()),
    "adam_l2": ("Adam", dict(weight_decay=0.1)),
    "adam_betas_zero": ("Adam", dict(betas=(0.0, 0.0))),
    "adam_beta2_small": ("Adam", dict(betas=(0.99, 0.5), eps=1.0)),
    "adam_eps_zero": ("Adam", dict(eps=0.0)),
    "adamw": ("AdamW", dict()),
    "adamw_decoupled": ("AdamW", dict(weight_decay=0.3, betas=(0.0, 0.999))),
    "sgd": ("SGD", dict(lr=0.05)),
    "sgd_momentum": ("SGD", dict(momentum=0.9, dampening=0.3, weight_decay=0.05)),
    "sgd_nesterov": ("SGD", dict(momentum=0.8, nesterov=True, weight_decay=0.1)),
    "sgd_maximize": ("SGD", dict(momentum=0.9, maximize=True)),
}


def _two_groups(params):
    return [
        {"params": params[:2], "lr": 0.01, "weight_decay": 0.1},
        {"params": params[2:], "lr": 0.003},
    ]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_trajectory_matches_torch_with_groups_skips_and_changes(name):
    """Two groups with their own lr/weight_decay, random gradients set to None at some steps
    (torch skips those: no decay, no state advance), a zero-size parameter, and hyperparameters
    changed between steps; 40 steps."""
    torch = pytest.importorskip("torch")
    kind, kw = OPTIMIZERS[name]
    ours, ref = make_params(torch)
    opt = getattr(md.optim, kind)(_two_groups(ours), **kw)
    opt_ref = getattr(torch.optim, kind)(_two_groups(ref), **kw)
    grads = make_grads(40)
    rng = np.random.default_rng(5)
    for step in range(40):
        set_grads(torch, ours, ref, grads[step], rng.random(len(SHAPES)) > 0.3)
        if step == 10:
            for o in (opt, opt_ref):
                o.param_groups[0]["lr"] = 0.05
                o.param_groups[1]["weight_decay"] = 0.2
                if kind == "SGD":
                    o.param_groups[1]["momentum"] = 0.5 if o.param_groups[1]["momentum"] else 0.0
                else:
                    o.param_groups[1]["betas"] = (0.5, 0.9)
                    o.param_groups[0]["eps"] = 1e-3
        opt.step()
        opt_ref.step()
        assert_params_close(ours, ref)
    if kind != "SGD":
        theirs = opt_ref.state_dict()["state"]
        mine = opt.state_dict()["state"]
        assert [int(theirs[i]["step"]) if i in theirs else 0 for i in range(len(SHAPES))] == [
            mine[i]["step"] for i in range(len(SHAPES))
        ]


@pytest.mark.parametrize("kind", ["Adam", "AdamW", "SGD"])
def test_state_dict_round_trip_mid_run_equals_an_uninterrupted_run(kind):
    """Rebuilding the parameters and the optimiser from (pickled) state dicts at step 17 continues
    bit for bit, also with per-parameter step counts that differ (skipped gradients)."""
    kw = dict(momentum=0.9) if kind == "SGD" else dict(weight_decay=0.05)

    def build(ps):
        return getattr(md.optim, kind)(_two_groups(ps), **kw)

    a, _ = make_params(None)
    b, _ = make_params(None)
    opt_a, opt_b = build(a), build(b)
    grads = make_grads(40)
    rng = np.random.default_rng(5)
    for step in range(40):
        mask = rng.random(len(SHAPES)) > 0.3
        set_grads(None, a, None, grads[step], mask)
        set_grads(None, b, None, grads[step], mask)
        opt_a.step()
        opt_b.step()
        if step == 17:
            saved = pickle.loads(pickle.dumps(opt_b.state_dict()))
            b = [md.nn.Parameter(md.tensor(p.numpy().copy())) for p in b]
            opt_b = build(b)
            opt_b.load_state_dict(saved)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


@pytest.mark.parametrize("kind", ["Adam", "AdamW"])
def test_load_torch_state_dict_resets_parameters_it_has_no_state_for(kind):
    """Bug: torch creates a parameter's state at its first step, so its state_dict has no entry for
    a parameter that never had a gradient. Loading such a state kept this optimiser's own moments
    and step count for that parameter instead of starting it afresh, so the run diverged from torch."""
    torch = pytest.importorskip("torch")
    shapes = [(5, 3), (3,), (7,)]
    ours, ref = make_params(torch, shapes)
    opt = getattr(md.optim, kind)(ours, lr=0.01, weight_decay=0.05)
    opt_ref = getattr(torch.optim, kind)(ref, lr=0.01, weight_decay=0.05)
    grads = make_grads(30, shapes)
    for step in range(10):  # torch: parameter 1 never gets a gradient, so it has no state
        set_grads(torch, ours, ref, grads[step], [True, False, True])
        opt_ref.step()
    for step in range(3):  # ours: every parameter gets state of its own, to be replaced
        set_grads(torch, ours, None, grads[20 + step])
        opt.step()
    with md.no_grad():
        for a, b in zip(ours, ref):
            a.copy_(md.tensor(b.detach().numpy()))
    opt.load_state_dict(opt_ref.state_dict())
    assert opt.state_dict()["state"][1]["step"] == 0
    for step in range(10, 30):
        set_grads(torch, ours, ref, grads[step])
        opt.step()
        opt_ref.step()
    assert_params_close(ours, ref)


@pytest.mark.parametrize("kind", ["Adam", "AdamW", "SGD"])
def test_zero_grad_without_set_to_none_leaves_absent_gradients_none(kind):
    """Bug: Adam/AdamW.zero_grad(set_to_none=False) gave every parameter a zero gradient, also a
    frozen one and one whose gradient was None; the next step() then updated them (AdamW decayed
    frozen weights, their step counts advanced). torch zeroes only the gradients that exist."""
    torch = pytest.importorskip("torch")
    ours, ref = make_params(torch, [(3,), (4,), (2,)])
    for p in (ours[1], ref[1]):
        p.requires_grad_(False)
    kw = dict(momentum=0.9, weight_decay=0.1) if kind == "SGD" else dict(weight_decay=0.1)
    opt = getattr(md.optim, kind)(ours, lr=0.1, **kw)
    opt_ref = getattr(torch.optim, kind)(ref, lr=0.1, **kw)
    for step in range(4):
        opt.zero_grad(set_to_none=False)
        opt_ref.zero_grad(set_to_none=False)
        assert ours[1].grad is None and ref[1].grad is None
        assert (ours[2].grad is None) == (ref[2].grad is None)
        if ours[2].grad is not None:
            np.testing.assert_array_equal(ours[2].grad.numpy(), np.zeros(2, np.float32))
        g = np.full(3, 1.0 + step, np.float32)
        ours[0].grad, ref[0].grad = md.tensor(g), torch.tensor(g)
        if step == 1:  # parameter 2 gets a gradient once, then keeps a zeroed one
            ours[2].grad, ref[2].grad = md.ones(2), torch.ones(2)
        opt.step()
        opt_ref.step()
        assert_params_close(ours, ref)
    if kind != "SGD":
        assert [s["step"] for s in opt.state_dict()["state"].values()] == [4, 0, 3]


def test_zero_grad_without_set_to_none_with_backward_and_a_late_parameter():
    """Parameter 1 takes no part in the loss for three steps (its gradient stays None and it is
    skipped), then joins: backward writes its gradient and it starts its own step count."""
    torch = pytest.importorskip("torch")
    ours, ref = make_params(torch, [(3,), (2,)])
    opt, opt_ref = md.optim.AdamW(ours, lr=0.1), torch.optim.AdamW(ref, lr=0.1)
    for step in range(6):
        opt.zero_grad(set_to_none=False)
        opt_ref.zero_grad(set_to_none=False)
        assert (ours[1].grad is None) == (ref[1].grad is None) == (step <= 3)
        (ours[0] * ours[0]).sum().backward()
        (ref[0] * ref[0]).sum().backward()
        if step >= 3:
            (ours[1] * ours[1] * 2.0).sum().backward()
            (ref[1] * ref[1] * 2.0).sum().backward()
        opt.step()
        opt_ref.step()
        assert_params_close(ours, ref)
    assert [s["step"] for s in opt.state_dict()["state"].values()] == [6, 3]


def test_same_parameter_in_two_groups_raises_like_torch():
    """Bug: torch refuses a parameter listed in two groups; SGD here updated it twice per step and
    Adam failed only at step() with a message about moved parameters."""
    p, q = md.nn.Parameter(md.ones(3)), md.nn.Parameter(md.ones(2))
    for kind in ("Adam", "AdamW", "SGD"):
        with pytest.raises(ValueError, match="more than one parameter group"):
            getattr(md.optim, kind)([{"params": [p]}, {"params": [q, p]}], lr=0.1)


@pytest.mark.parametrize("kind", ["Adam", "AdamW", "SGD"])
def test_add_param_group_after_some_steps_matches_torch(kind):
    torch = pytest.importorskip("torch")
    ours, ref = make_params(torch, [(4,), (3, 2), (5,)])
    kw = dict(momentum=0.9) if kind == "SGD" else dict(weight_decay=0.05)
    opt = getattr(md.optim, kind)(ours[:1], lr=0.02, **kw)
    opt_ref = getattr(torch.optim, kind)(ref[:1], lr=0.02, **kw)
    grads = make_grads(20, [(4,), (3, 2), (5,)])
    for step in range(20):
        if step == 6:
            opt.add_param_group({"params": ours[1:], "lr": 0.005})
            opt_ref.add_param_group({"params": ref[1:], "lr": 0.005})
            assert [sorted(k for k in g if k != "params") for g in opt.param_groups][1] == sorted(
                k for k in opt.param_groups[0] if k != "params"
            )
            with pytest.raises(ValueError, match="more than one parameter group"):
                opt.add_param_group({"params": [ours[2]]})
        n = 3 if step >= 6 else 1
        set_grads(torch, ours[:n], ref[:n], grads[step][:n])
        opt.step()
        opt_ref.step()
    assert_params_close(ours, ref)
    assert len(opt.state_dict()["param_groups"]) == 2


def test_adam_refuses_amsgrad_or_maximize_it_would_ignore():
    """Bug: a torch state_dict (or a user) setting group["amsgrad"] or group["maximize"] to True
    was taken silently and the fused step ignored it; now step() says it is not supported."""
    torch = pytest.importorskip("torch")
    ref = [torch.nn.Parameter(torch.ones(3))]
    for flag in ("amsgrad", "maximize"):
        ours = [md.nn.Parameter(md.ones(3))]
        opt = md.optim.Adam(ours, lr=0.1)
        opt.load_state_dict(torch.optim.Adam(ref, lr=0.1, **{flag: True}).state_dict())
        ours[0].grad = md.ones(3)
        with pytest.raises(NotImplementedError, match=flag):
            opt.step()
        np.testing.assert_array_equal(ours[0].numpy(), np.ones(3, np.float32))
    opt = md.optim.AdamW([md.nn.Parameter(md.ones(2))])
    opt.load_state_dict(torch.optim.AdamW(ref).state_dict())  # all False: fine
    opt.step()


# ---- gradient clipping


CLIP_CASES = [
    dict(max_norm=1.0),
    dict(max_norm=100.0),
    dict(max_norm=float("inf")),
    dict(max_norm=0.5, foreach=True),
    dict(max_norm=0.5, foreach=False),
    dict(max_norm=2.0, norm_type=2),
    dict(max_norm=2.0, error_if_nonfinite=True),
    dict(max_norm=0.5, norm_type=1),
    dict(max_norm=0.5, norm_type=3.0),
    dict(max_norm=0.5, norm_type=float("inf")),
    dict(max_norm=0.0),
    dict(max_norm=0.0, norm_type=float("inf")),
]


@pytest.mark.parametrize("arena", [False, True], ids=["loose", "arena"])
@pytest.mark.parametrize("case", range(len(CLIP_CASES)))
def test_clip_grad_norm_matches_torch(case, arena):
    torch = pytest.importorskip("torch")
    kw = CLIP_CASES[case]
    ours, ref = make_params(torch)
    if arena:
        md.optim.AdamW(ours)
    # torch's inf-norm refuses an empty gradient ("no identity"); the zero-size parameter then has none
    empty_grad = kw.get("norm_type") != float("inf")
    set_grads(torch, ours, ref, make_grads(1)[0], [True, False, empty_grad, True, True])
    norm = md.optim.clip_grad_norm_(ours, **kw)
    norm_ref = torch.nn.utils.clip_grad_norm_(ref, **kw)
    assert isinstance(norm, md.Tensor) and norm.shape == ()
    assert float(norm) == pytest.approx(float(norm_ref), rel=1e-6)
    for a, b in zip(ours, ref):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_single_tensor_module_generator_and_empty():
    torch = pytest.importorskip("torch")
    p, t = md.nn.Parameter(md.ones(4)), torch.nn.Parameter(torch.ones(4))
    p.grad, t.grad = md.full((4,), 3.0), torch.full((4,), 3.0)
    assert float(md.optim.clip_grad_norm_(p, 1.0)) == float(torch.nn.utils.clip_grad_norm_(t, 1.0)) == 6.0
    np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-6)
    ours, ref = make_params(torch)
    set_grads(torch, ours, ref, make_grads(1)[0])
    n = md.optim.clip_grad_norm_((q for q in ours), 0.3)
    assert float(n) == pytest.approx(float(torch.nn.utils.clip_grad_norm_((q for q in ref), 0.3)), rel=1e-6)
    assert float(md.optim.clip_grad_norm_([], 1.0)) == float(torch.nn.utils.clip_grad_norm_([], 1.0)) == 0.0
    lin = md.nn.Linear(3, 2)
    lin.weight.grad = md.full((2, 3), 2.0)
    assert float(md.optim.clip_grad_norm_(lin, 1.0)) == pytest.approx(math.sqrt(24.0), rel=1e-6)


@pytest.mark.parametrize("arena", [False, True], ids=["loose", "arena"])
def test_clip_grad_norm_inf_gradient_matches_torch(arena):
    torch = pytest.importorskip("torch")
    ours, ref = make_params(torch)
    if arena:
        md.optim.Adam(ours)
    grads = make_grads(1)[0]
    grads[3][2] = np.inf
    set_grads(torch, ours, ref, grads)
    assert float(md.optim.clip_grad_norm_(ours, 1.0)) == float(torch.nn.utils.clip_grad_norm_(ref, 1.0)) == math.inf
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


@pytest.mark.parametrize("arena", [False, True], ids=["loose", "arena"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_clip_grad_norm_error_if_nonfinite_leaves_the_gradients_alone(arena, bad):
    """Bug: with error_if_nonfinite=True the gradients were already scaled (by NaN or 0) when the
    error was raised; torch raises before it touches them."""
    torch = pytest.importorskip("torch")
    ours, ref = make_params(torch)
    if arena:
        md.optim.AdamW(ours)
    grads = make_grads(1)[0]
    grads[0][1, 1] = bad
    set_grads(torch, ours, ref, grads)
    with pytest.raises(RuntimeError, match="non-?finite"):
        md.optim.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(ref, 1.0, error_if_nonfinite=True)
    for a, b, g in zip(ours, ref, grads):
        np.testing.assert_array_equal(a.grad.numpy(), g)
        np.testing.assert_array_equal(b.grad.numpy(), g)


def test_clip_grad_norm_of_an_assigned_transposed_gradient():
    g = np.arange(6, dtype=np.float32).reshape(2, 3)
    p = md.nn.Parameter(md.ones((3, 2)))
    p.grad = md.tensor(g).transpose(0, 1)
    norm = md.optim.clip_grad_norm_([p], 1.0)
    assert float(norm) == pytest.approx(float(np.sqrt((g * g).sum())), rel=1e-6)
    np.testing.assert_allclose(p.grad.numpy(), g.T / (float(norm) + 1e-6), rtol=1e-6)


# ---- EMA


def test_ema_model_follows_diffusers_through_a_state_dict_resume():
    torch = pytest.importorskip("torch")
    training_utils = pytest.importorskip("diffusers.training_utils")
    shapes = [(5, 3), (3,), (7,)]
    grads = make_grads(50, shapes)
    settings = [
        dict(),
        dict(use_ema_warmup=True, power=0.75, inv_gamma=2.0),
        dict(update_after_step=5, min_decay=0.3, decay=0.95),
    ]
    for kw in settings:
        ours, ref = make_params(torch, shapes)
        ema, ema_ref = md.training_utils.EMAModel(ours, **kw), training_utils.EMAModel(ref, **kw)
        for step in range(50):
            with md.no_grad(), torch.no_grad():
                for a, b, g in zip(ours, ref, grads[step]):
                    a.copy_(a + md.tensor(g) * 0.1)
                    b.add_(torch.tensor(g) * 0.1)
            ema.step(ours)
            ema_ref.step(ref)
            assert ema.cur_decay_value == ema_ref.cur_decay_value
            if step == 20:
                state = ema_ref.state_dict()
                ema = md.training_utils.EMAModel(ours, **kw)
                ema.load_state_dict({**state, "shadow_params": [s.numpy() for s in state["shadow_params"]]})
        for a, b in zip(ema.shadow_params, ema_ref.shadow_params):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def test_ema_load_state_dict_does_not_truncate_to_the_type_of_the_current_value():
    """Bug: EMA.load_state_dict converted each loaded value to the type of the current one, so an
    EMA built with decay=1 or power=1 (ints) loaded decay 0.999 as 0 and power 0.75 as 0."""
    p = md.nn.Parameter(md.ones(3))
    ema = md.optim.EMA([p], decay=1, power=1, inv_gamma=2, min_decay=0)
    ema.load_state_dict(
        {"decay": 0.999, "power": 0.75, "inv_gamma": 1.5, "min_decay": 0.25, "shadow_params": [np.ones(3, np.float32)]}
    )
    assert (ema.decay, ema.power, ema.inv_gamma, ema.min_decay) == (0.999, 0.75, 1.5, 0.25)
    ema.load_state_dict({"optimization_step": np.int64(7), "use_ema_warmup": np.True_, "shadow_params": [np.ones(3)]})
    assert ema.optimization_step == 7 and type(ema.optimization_step) is int and ema.use_ema_warmup is True


# ---- learning-rate schedulers


def _sched_opts(torch, kind="sgd", lrs=(0.1, 0.03)):
    mine = [{"params": [md.nn.Parameter(md.zeros(2))], "lr": lr} for lr in lrs]
    theirs = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    if kind == "sgd":
        return md.optim.SGD(mine, lr=0.5, momentum=0.9), torch.optim.SGD(theirs, lr=0.5, momentum=0.9)
    return md.optim.AdamW(mine, lr=0.5), torch.optim.AdamW(theirs, lr=0.5)


RESUMABLE = {
    "step": lambda M, o, e: M.StepLR(o, 7, 0.5, last_epoch=e),
    "multistep": lambda M, o, e: M.MultiStepLR(o, [5, 12, 12, 30], 0.3, last_epoch=e),
    "exponential": lambda M, o, e: M.ExponentialLR(o, 0.97, last_epoch=e),
    "constant": lambda M, o, e: M.ConstantLR(o, 0.25, 8, last_epoch=e),
    "linear": lambda M, o, e: M.LinearLR(o, 0.05, 0.8, 17, last_epoch=e),
    "polynomial": lambda M, o, e: M.PolynomialLR(o, 25, 2.0, last_epoch=e),
    "cosine": lambda M, o, e: M.CosineAnnealingLR(o, 10, 0.001, last_epoch=e),
    "cosine_t1": lambda M, o, e: M.CosineAnnealingLR(o, 1, last_epoch=e),
    "lambdas": lambda M, o, e: M.LambdaLR(o, [lambda s: 1 / (1 + s), lambda s: 0.9**s], last_epoch=e),
    "multiplicative": lambda M, o, e: M.MultiplicativeLR(o, lambda s: 0.95, last_epoch=e),
    "one_cycle": lambda M, o, e: M.OneCycleLR(o, 0.5, total_steps=130, last_epoch=e),
    "one_cycle_three_phase": lambda M, o, e: M.OneCycleLR(
        o, [0.5, 0.2], total_steps=130, three_phase=True, anneal_strategy="linear", last_epoch=e
    ),
    "sequential": lambda M, o, e: M.SequentialLR(
        o, [M.LinearLR(o, 0.1, total_iters=5), M.CosineAnnealingLR(o, 40, 1e-4)], [5], last_epoch=e
    ),
    "sequential_nested_chain": lambda M, o, e: M.SequentialLR(
        o,
        [M.LinearLR(o, 0.1, total_iters=4), M.ChainedScheduler([M.ExponentialLR(o, 0.9), M.StepLR(o, 3, 0.5)])],
        [4],
        last_epoch=e,
    ),
}


def _same_lrs(ms, ts, mo, to, where):
    assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12, abs=0), where
    assert [g["lr"] for g in mo.param_groups] == pytest.approx([g["lr"] for g in to.param_groups], rel=1e-12), where
    assert ms.last_epoch == ts.last_epoch, where


def _run_side_by_side(ms, ts, mo, to, steps):
    """Steps both for ``steps`` steps (or until both raise the same error, as OneCycleLR past its end)."""
    for i in range(steps):
        _same_lrs(ms, ts, mo, to, f"step {i}")
        errors = []
        for s in (ts, ms):
            try:
                s.step()
                errors.append(None)
            except Exception as e:  # noqa: BLE001 (the two must fail alike)
                errors.append(type(e))
        assert errors[0] == errors[1], f"step {i}: {errors}"
        if errors[0] is not None:
            return


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_scheduler_matches_torch_for_130_steps_and_resumed_by_last_epoch(name):
    torch = pytest.importorskip("torch")
    build = RESUMABLE[name]
    mo, to = _sched_opts(torch, "adamw" if "cycle" in name else "sgd")
    _run_side_by_side(build(md.optim.lr_scheduler, mo, -1), build(torch.optim.lr_scheduler, to, -1), mo, to, 135)
    for last_epoch in (0, 1, 13):  # resuming: the groups carry initial_lr, the scheduler the step count
        mo, to = _sched_opts(torch)
        for o in (mo, to):
            for g, lr in zip(o.param_groups, (0.1, 0.03)):
                g.update(initial_lr=lr, lr=lr * 0.37, max_lr=0.5, min_lr=0.5 / 25e4, max_momentum=0.95)
                g["base_momentum"] = 0.85
        ms, ts = build(md.optim.lr_scheduler, mo, last_epoch), build(torch.optim.lr_scheduler, to, last_epoch)
        _run_side_by_side(ms, ts, mo, to, 40)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", ["step", "multistep", "exponential", "constant", "linear", "polynomial", "cosine"])
def test_scheduler_step_with_epoch_uses_the_closed_form_like_torch(name):
    torch = pytest.importorskip("torch")
    mo, to = _sched_opts(torch)
    ms, ts = RESUMABLE[name](md.optim.lr_scheduler, mo, -1), RESUMABLE[name](torch.optim.lr_scheduler, to, -1)
    for epoch in (3, 3, 10, 7, 50, 0, 120, 8):
        ms.step(epoch)
        ts.step(epoch)
        _same_lrs(ms, ts, mo, to, f"epoch {epoch}")


@pytest.mark.parametrize(
    "kw",
    [
        dict(mode="max", threshold_mode="abs", threshold=0.05),
        dict(threshold_mode="abs", threshold=0.1, cooldown=3, patience=2, factor=0.5, min_lr=[0.01, 0.001]),
        dict(patience=0, factor=0.9, eps=1e-3),
    ],
)
def test_reduce_on_plateau_follows_torch_on_a_random_walk_with_nan(kw):
    torch = pytest.importorskip("torch")
    mo, to = _sched_opts(torch)
    ms, ts = md.optim.lr_scheduler.ReduceLROnPlateau(mo, **kw), torch.optim.lr_scheduler.ReduceLROnPlateau(to, **kw)
    walk = np.random.default_rng(0).standard_normal(200).cumsum()
    walk[[14, 90]] = np.nan
    for i, value in enumerate(walk):
        ms.step(float(value))
        ts.step(float(value))
        assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12), i
        assert ms.num_bad_epochs == ts.num_bad_epochs and ms.cooldown_counter == ts.cooldown_counter, i


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "name,warmup,total",
    [
        (name, warmup, total)
        for name in ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant_with_warmup")
        for warmup, total in ((0, 50), (50, 50), (0, 1), (5, 0))
        if not (name == "polynomial" and warmup == total)  # diffusers divides by zero (test_optimization.py)
    ],
)
def test_get_scheduler_edges_match_diffusers(name, warmup, total):
    """Step 0, warmup == total, a single step and no training steps at all, and 80 steps past the end."""
    torch = pytest.importorskip("torch")
    optimization = pytest.importorskip("diffusers.optimization")
    mo, to = _sched_opts(torch, "adamw")
    kw = dict(num_warmup_steps=warmup, num_training_steps=total, num_cycles=3, power=2.0)
    ms, ts = md.optimization.get_scheduler(name, mo, **kw), optimization.get_scheduler(name, to, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(total + 80):
            assert ms.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12, abs=0), i
            ms.step()
            ts.step()


def test_clip_grad_value_matches_torch():
    torch = pytest.importorskip("torch")
    ours, ref = make_params(torch)
    set_grads(torch, ours, ref, make_grads(2)[0], [True, False, True, True, True])
    md.optim.clip_grad_value_(ours, 0.3)
    torch.nn.utils.clip_grad_value_(ref, 0.3)
    for a, b in zip(ours, ref):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


@pytest.mark.parametrize("cls", ["Adam", "AdamW", "SGD"])
def test_named_parameters_as_torch_213(cls):
    torch = pytest.importorskip("torch")
    ours, theirs = md.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    ours.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    opt = getattr(md.optim, cls)(ours.named_parameters(), lr=0.1)
    ref = getattr(torch.optim, cls)(theirs.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ref.param_groups[0]["param_names"] == ["weight", "bias"]
    x = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    for _ in range(3):
        ours(md.tensor(x)).square().sum().backward()
        theirs(torch.tensor(x)).square().sum().backward()
        opt.step()
        ref.step()
        opt.zero_grad()
        ref.zero_grad()
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
