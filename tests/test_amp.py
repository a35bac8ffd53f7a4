"""md.autocast / md.amp: the bf16 matmul mode inside a block (and restored after it), and the
pass-through GradScaler of torch training loops."""

import math

import numpy as np
import pytest
from bf16_ref import bf16

import minidiff as md


def rng(seed=0):
    return np.random.default_rng(seed)


def test_autocast_multiplies_bf16_operands_and_restores_the_precision():
    a = rng(1).standard_normal((16, 64)).astype(np.float32)
    b = rng(2).standard_normal((64, 8)).astype(np.float32)
    before = md.get_float32_matmul_precision()
    exact = (md.tensor(a) @ md.tensor(b)).numpy()
    with md.autocast("cpu", dtype=md.bfloat16) as ctx:
        assert ctx.dtype == "bfloat16" and md.amp.is_autocast_enabled()
        got = md.tensor(a) @ md.tensor(b)
    assert got.dtype == "float32"  # results stay float32, unlike torch's autocast
    want = bf16(a).astype(np.float64) @ bf16(b).astype(np.float64)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    assert np.abs(got.numpy() - exact).max() > 1e-4  # it did round
    assert md.get_float32_matmul_precision() == before
    np.testing.assert_array_equal((md.tensor(a) @ md.tensor(b)).numpy(), exact)


def test_autocast_nests_disables_and_decorates():
    before = md.get_float32_matmul_precision()
    with md.amp.autocast("cuda"):
        with md.autocast("cuda", enabled=False):
            # a disabled block runs in float32 inside an enabled one, as torch's
            assert md.get_float32_matmul_precision() == "high" and not md.amp.is_autocast_enabled()
        assert md.get_float32_matmul_precision() == "medium"
        with md.autocast("cuda"):
            pass
        assert md.get_float32_matmul_precision() == "medium"
    assert md.get_float32_matmul_precision() == before

    @md.autocast("cpu")
    def precision():
        return md.get_float32_matmul_precision()

    assert precision() == "medium" and md.get_float32_matmul_precision() == before
    with pytest.raises(RuntimeError):
        with md.autocast("cpu"):
            raise RuntimeError("inside")
    assert md.get_float32_matmul_precision() == before  # restored on the way out of an error


def test_autocast_rejects_float16_and_unknown_devices():
    with pytest.raises(TypeError, match="bfloat16"):
        md.autocast("cuda", dtype="float16")
    with pytest.raises(ValueError, match="device_type"):
        md.autocast("tpu")
    md.autocast("cuda", dtype="float16", enabled=False)  # disabled: any dtype, as torch


def _model_and_opt(seed):
    md.manual_seed(seed)
    model = md.nn.Linear(4, 3)
    return model, md.optim.SGD(model.parameters(), lr=0.1)


def test_grad_scaler_passes_a_step_through_and_skips_non_finite_ones():
    x = md.tensor(rng(3).standard_normal((5, 4)).astype(np.float32))
    plain, plain_opt = _model_and_opt(0)
    scaled, scaled_opt = _model_and_opt(0)
    scaler = md.amp.GradScaler()
    plain(x).sum().backward()
    plain_opt.step()
    loss = scaled(x).sum()
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0 and scaler.is_enabled()
    scaler.scale(loss).backward()
    scaler.unscale_(scaled_opt)
    scaler.step(scaled_opt)
    scaler.update()
    for p, q in zip(plain.parameters(), scaled.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())

    before = [p.numpy().copy() for p in scaled.parameters()]
    scaled_opt.zero_grad()
    (scaled(x).sum() * math.inf).backward()  # inf and NaN gradients: the step is skipped
    scaler.step(scaled_opt)
    for p, b in zip(scaled.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)
    state = scaler.state_dict()
    other = md.amp.GradScaler(enabled=False)
    other.load_state_dict(state)
    assert other.is_enabled()


def test_grad_scaler_steps_with_large_finite_gradients():
    model, opt = _model_and_opt(1)
    scaler = md.amp.GradScaler()
    w = model.weight
    w.grad = md.tensor(np.full(w.shape, 1e20, dtype=np.float32))  # the squared norm overflows float32
    before = w.numpy().copy()
    scaler.step(opt)
    assert not np.array_equal(w.numpy(), before)
    np.testing.assert_array_equal(w.grad.numpy(), np.full(w.shape, 1e20, dtype=np.float32))  # unscaled
