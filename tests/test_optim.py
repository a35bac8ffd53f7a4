"""Adam/AdamW, gradient clipping and EMA against PyTorch / diffusers, plus state round trips."""

from __future__ import annotations

import numpy as np
import pytest

import minidiff as md


def _problem(seed=0):
    """A few parameters of assorted shapes and a fixed quadratic-ish loss of them."""
    rng = np.random.default_rng(seed)
    shapes = [(5, 3), (3,), (2, 3, 3, 3), (7,)]
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    targets = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return values, targets


def _md_loss(params, targets):
    total = None
    for p, t in zip(params, targets):
        term = ((p - md.tensor(t)) ** 2 * (p * 0.5).sin()).sum()
        total = term if total is None else total + term
    return total


@pytest.mark.parametrize("kind", ["Adam", "AdamW"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_twenty_steps_match_torch(kind, weight_decay):
    torch = pytest.importorskip("torch")
    values, targets = _problem()
    ours = [md.nn.Parameter(md.tensor(v)) for v in values]
    ref = [torch.tensor(v, requires_grad=True) for v in values]
    opt = getattr(md.optim, kind)(ours, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    opt_ref = getattr(torch.optim, kind)(ref, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    for _ in range(20):
        opt.zero_grad()
        _md_loss(ours, targets).backward()
        opt.step()
        opt_ref.zero_grad()
        sum(((p - torch.tensor(t)) ** 2 * torch.sin(p * 0.5)).sum() for p, t in zip(ref, targets)).backward()
        opt_ref.step()
    for p, r in zip(ours, ref):
        np.testing.assert_allclose(p.numpy(), r.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_lr_change_through_param_groups_takes_effect():
    p = md.nn.Parameter(md.ones(4))
    opt = md.optim.Adam([p], lr=0.1)
    (p * 2.0).sum().backward()
    opt.param_groups[0]["lr"] = 0.0
    opt.step()
    np.testing.assert_array_equal(p.numpy(), np.ones(4, np.float32))
    opt.param_groups[0]["lr"] = 0.1
    opt.step()
    assert np.all(p.numpy() < 1.0)


def test_parameters_are_rehomed_but_model_sees_updates():
    model = md.nn.Linear(3, 2)
    weight = model.weight
    before = weight.numpy().copy()
    opt = md.optim.Adam(model.parameters(), lr=0.1)
    model(md.ones(4, 3)).sum().backward()
    assert weight.grad is not None
    opt.step()
    assert not np.allclose(model.weight.numpy(), before)
    np.testing.assert_array_equal(model.weight.numpy(), weight.numpy())


def test_state_dict_round_trip_continues_identically():
    values, targets = _problem(1)

    def run(steps, split=None):
        params = [md.nn.Parameter(md.tensor(v)) for v in values]
        opt = md.optim.AdamW(params, lr=1e-2)
        for i in range(steps):
            if split is not None and i == split:
                state = opt.state_dict()
                saved = [p.numpy().copy() for p in params]
                params = [md.nn.Parameter(md.tensor(v)) for v in saved]
                opt = md.optim.AdamW(params, lr=5.0)  # hyperparameters come back from the state
                opt.load_state_dict(state)
            opt.zero_grad()
            _md_loss(params, targets).backward()
            opt.step()
        return [p.numpy() for p in params]

    for a, b in zip(run(10), run(10, split=4)):
        np.testing.assert_array_equal(a, b)


def test_optimizer_errors():
    with pytest.raises(ValueError, match="empty parameter list"):
        md.optim.Adam([])
    with pytest.raises(ValueError, match="betas"):
        md.optim.Adam([md.nn.Parameter(md.ones(2))], betas=(1.5, 0.9))
    p = md.nn.Parameter(md.ones(2))
    with pytest.raises(ValueError, match="more than once"):
        md.optim.Adam([p, p])
    model = md.nn.Linear(2, 2)
    opt = md.optim.Adam(model.parameters())
    md.optim.Adam(model.parameters())  # re-homes the parameters into a second arena
    with pytest.raises(RuntimeError, match="no longer lives in this optimizer's arena"):
        opt.step()


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    values, targets = _problem(2)
    for max_norm in (0.5, 1e6):
        ours = [md.nn.Parameter(md.tensor(v)) for v in values]
        ref = [torch.tensor(v, requires_grad=True) for v in values]
        md.optim.Adam(ours)  # grads become views of one arena: the fused single-span path
        _md_loss(ours, targets).backward()
        sum(((p - torch.tensor(t)) ** 2 * torch.sin(p * 0.5)).sum() for p, t in zip(ref, targets)).backward()
        norm = md.optim.clip_grad_norm_(ours, max_norm)
        norm_ref = torch.nn.utils.clip_grad_norm_(ref, max_norm)
        assert float(norm) == pytest.approx(float(norm_ref), rel=1e-5)
        for p, r in zip(ours, ref):
            np.testing.assert_allclose(p.grad.numpy(), r.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_without_arena():
    values, targets = _problem(3)
    ours = [md.nn.Parameter(md.tensor(v)) for v in values]
    _md_loss(ours, targets).backward()
    grads = [p.grad.numpy().copy() for p in ours]
    total = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))
    norm = md.optim.clip_grad_norm_(ours, total / 4)
    assert float(norm) == pytest.approx(total, rel=1e-5)
    for p, g in zip(ours, grads):
        np.testing.assert_allclose(p.grad.numpy(), g / 4, rtol=1e-4)


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_matches_diffusers(warmup):
    torch = pytest.importorskip("torch")
    training_utils = pytest.importorskip("diffusers.training_utils")
    values, _ = _problem(4)
    ours = [md.nn.Parameter(md.tensor(v)) for v in values]
    ref = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    kw = dict(decay=0.999, min_decay=0.1, update_after_step=2, use_ema_warmup=warmup, inv_gamma=1.5, power=0.75)
    ema = md.optim.EMA(ours, **kw)
    ema_ref = training_utils.EMAModel(ref, **kw)
    rng = np.random.default_rng(0)
    for step in range(1, 31):
        with md.no_grad():
            for p, r in zip(ours, ref):
                delta = rng.standard_normal(p.shape).astype(np.float32)
                p.copy_(p + md.tensor(delta))
                with torch.no_grad():
                    r.add_(torch.tensor(delta))
        ema.step(ours)
        ema_ref.step(ref)
        assert ema.cur_decay_value == pytest.approx(ema_ref.cur_decay_value, abs=1e-12)
        assert ema.get_decay(step) == pytest.approx(ema_ref.get_decay(step), abs=1e-12)
    for s, r in zip(ema.shadow_params, ema_ref.shadow_params):
        np.testing.assert_allclose(s.numpy(), r.numpy(), rtol=1e-5, atol=1e-5)


def test_ema_copy_store_restore_and_fused_path():
    model = md.nn.Linear(4, 3)
    md.optim.Adam(model.parameters())  # tiled arena: the EMA update is one fused pass
    ema = md.optim.EMA(model, decay=0.5, constant_decay=True)
    original = [p.numpy().copy() for p in model.parameters()]
    with md.no_grad():
        for p in model.parameters():
            p.copy_(p * 0.0 + 2.0)
    ema.step(model)
    expected = [0.5 * o + 0.5 * 2.0 for o in original]
    for s, e in zip(ema.shadow_params, expected):
        np.testing.assert_allclose(s.numpy(), e, rtol=1e-6)
    ema.store(model)
    ema.copy_to(model)
    for p, e in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-6)
    ema.restore(model)
    for p in model.parameters():
        np.testing.assert_array_equal(p.numpy(), np.full(p.shape, 2.0, np.float32))
    state = ema.state_dict()
    ema2 = md.optim.EMA(model, decay=0.1)
    ema2.load_state_dict(state)
    assert ema2.decay == 0.5 and ema2.optimization_step == 1
    for a, b in zip(ema.shadow_params, ema2.shadow_params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_gradients_set_to_none_or_replaced_are_taken_back():
    # torch idioms that drop the arena's gradient views: p.grad = None before a backward (the
    # backward then makes a fresh gradient), and assigning p.grad; the step must use those values
    torch = pytest.importorskip("torch")
    values, _ = _problem(1)
    ours = [md.nn.Parameter(md.tensor(v)) for v in values]
    ref = [torch.tensor(v, requires_grad=True) for v in values]
    opt, topt = md.optim.Adam(ours, lr=0.1), torch.optim.Adam(ref, lr=0.1)
    for step in range(3):
        for p in ours:
            p.grad = None
        sum((p * p).sum() for p in ours).backward()
        topt.zero_grad()
        sum((p * p).sum() for p in ref).backward()
        if step == 2:  # an assigned gradient
            g = np.full(values[0].shape, 0.25, np.float32)
            ours[0].grad = md.tensor(g)
            ref[0].grad = torch.from_numpy(g)
        opt.step()
        topt.step()
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    opt.zero_grad(set_to_none=False)  # and the gradients are arena views again, zeroed in place
    assert all(np.all(p.grad.numpy() == 0) for p in ours)
    opt.zero_grad()  # torch's default: None
    assert all(p.grad is None for p in ours)


@pytest.mark.parametrize("decoupled", [False, True])
def test_frozen_and_unused_parameters_are_left_alone_as_in_torch(decoupled):
    # torch skips a parameter whose .grad is None: no weight decay, no momentum, no step count
    torch = pytest.importorskip("torch")
    ours_cls, ref_cls = (md.optim.AdamW, torch.optim.AdamW) if decoupled else (md.optim.Adam, torch.optim.Adam)
    values, _ = _problem(3)
    ours = [md.nn.Parameter(md.tensor(v)) for v in values]
    ref = [torch.tensor(v, requires_grad=True) for v in values]
    ours[1].requires_grad_(False)  # frozen
    ref[1].requires_grad_(False)
    opt, topt = ours_cls(ours, lr=0.1, weight_decay=0.1), ref_cls(ref, lr=0.1, weight_decay=0.1)
    for step in range(4):
        used = [0, 2, 3] if step % 2 == 0 else [0, 3]  # parameter 2 gets no gradient every other step
        opt.zero_grad()
        topt.zero_grad()
        sum((ours[i] * ours[i]).sum() for i in used).backward()
        sum((ref[i] * ref[i]).sum() for i in used).backward()
        assert (ours[2].grad is None) == (ref[2].grad is None)
        opt.step()
        topt.step()
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours[1].numpy(), values[1])
    steps = [s["step"] for s in opt.state_dict()["state"].values()]
    assert steps == [4, 0, 2, 4]  # per parameter, as torch counts them
    again = ours_cls([md.nn.Parameter(md.tensor(v)) for v in values], lr=0.1)
    again.load_state_dict(opt.state_dict())
    assert [s["step"] for s in again.state_dict()["state"].values()] == steps


def test_a_gradient_the_user_holds_keeps_its_values():
    # torch's zero_grad() sets .grad to None: a tensor taken from p.grad before keeps its values,
    # through the next backward and step
    p = md.nn.Parameter(md.ones(3))
    opt = md.optim.Adam([p], lr=0.1)
    (p * 3.0).sum().backward()
    held = p.grad
    opt.zero_grad()
    (p * 4.0).sum().backward()
    opt.step()
    np.testing.assert_array_equal(held.numpy(), [3, 3, 3])
    np.testing.assert_array_equal(p.grad.numpy(), [4, 4, 4])
    np.testing.assert_allclose(p.numpy(), [0.9, 0.9, 0.9], rtol=1e-6)  # Adam's first step is lr * sign
    acc = p.grad
    p.grad = None
    (p * 2.0).sum().backward()
    np.testing.assert_array_equal((p.grad + acc).numpy(), [6, 6, 6])


def test_an_assigned_transposed_gradient_is_used_as_assigned():
    torch = pytest.importorskip("torch")
    v = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    g = np.array([[1.0, 2.0], [-3.0, 4.0]], np.float32)
    p, t = md.nn.Parameter(md.tensor(v)), torch.tensor(v, requires_grad=True)
    opt, topt = md.optim.Adam([p], lr=0.1), torch.optim.Adam([t], lr=0.1)
    (p * md.tensor(g)).sum().backward()
    p.grad = p.grad.T
    t.grad = torch.from_numpy(g).T
    opt.step()
    topt.step()
    np.testing.assert_allclose(p.numpy(), t.detach().numpy(), rtol=1e-6)


def test_a_nan_clip_does_not_poison_later_steps_after_module_zero_grad():
    model = md.nn.Linear(3, 4)
    md.optim.Adam(model.parameters())  # gradients in one arena, clipped as one span with padding
    (model(md.ones(2, 3)) * float("nan")).sum().backward()
    assert np.isnan(float(md.optim.clip_grad_norm_(model.parameters(), 1.0)))
    model.zero_grad()
    model(md.ones(2, 3)).sum().backward()
    assert np.isfinite(float(md.optim.clip_grad_norm_(model.parameters(), 1.0)))
