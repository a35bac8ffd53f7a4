"""bf16 matrix products: ``md.set_float32_matmul_precision("medium")`` and
``TrainingConfig.mixed_precision = "bf16"``.

On the CPU the mode multiplies operands rounded to bfloat16 (in the AVX512-BF16 kernel where the
build has it, else as rounded copies for the float32 BLAS) and accumulates in float32; a product of
two bf16 values is exact in float32, so matmul and linear must equal a float64 product of the
rounded operands up to float32 accumulation error (tests/cpp/test_gemm_bf16.cpp checks every
transpose and blocking case of the kernel). Winograd convolutions
round in the transformed domain, so their oracle is weaker: an error of the size the rounded
operands give, and far above float32's. The CUDA twins are in test_cuda.py.
"""

import numpy as np
import pytest
from bf16_ref import bf16
from tiny_unet import TINY

import minidiff as md
import minidiff.functional as F
from minidiff.training import Trainer, TrainingConfig


@pytest.fixture(autouse=True)
def restore_precision():
    before = md.get_float32_matmul_precision()
    yield
    md.set_float32_matmul_precision(before)


def randn(r, *shape):
    return r.standard_normal(shape).astype(np.float32)


def test_precision_names_round_trip_and_drive_tf32():
    assert md.get_float32_matmul_precision() == "high"  # allow_tf32 defaults to True
    md.set_float32_matmul_precision("highest")
    assert md.get_float32_matmul_precision() == "highest" and md.backends.allow_tf32 is False
    md.set_float32_matmul_precision("medium")
    assert md.get_float32_matmul_precision() == "medium" and md._core.matmul_bf16()
    md.set_float32_matmul_precision("high")
    assert md.get_float32_matmul_precision() == "high" and md.backends.allow_tf32 and not md._core.matmul_bf16()
    with pytest.raises(ValueError, match="set_float32_matmul_precision.*'low'"):
        md.set_float32_matmul_precision("low")


def test_cuda_conv_layout_switch_round_trips_and_rejects_unknown_names():
    # a tuning switch of the CUDA conv2d (tests/test_cuda.py runs every layout); present on every build
    before = md._core.cuda_conv_layout()
    assert before in ("auto", "batched", "wide", "implicit")
    try:
        for name in ("wide", "implicit", "batched", "auto"):
            md._core.set_cuda_conv_layout(name)
            assert md._core.cuda_conv_layout() == name
        with pytest.raises(ValueError, match="conv layout.*'sideways'"):
            md._core.set_cuda_conv_layout("sideways")
        assert md._core.cuda_conv_layout() == "auto"
    finally:
        md._core.set_cuda_conv_layout(before)


def test_cuda_workspace_budget_switch_returns_the_previous_budget_and_rejects_nonpositive():
    # a test hook of the CUDA conv2d/attention chunking (tests/test_cuda.py); present on every build
    before = md._core.cuda_set_workspace_budget(1 << 16)
    try:
        assert before > 0
        assert md._core.cuda_set_workspace_budget(1 << 20) == 1 << 16
        with pytest.raises(ValueError, match="workspace_budget.*positive"):
            md._core.cuda_set_workspace_budget(0)
    finally:
        md._core.cuda_set_workspace_budget(before)


def test_bf16_rounding_oracle():
    # ties go to even, NaN and infinities pass, the top of the float range rounds to infinity
    x = np.array([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-9, -2.5, np.inf, 3.4e38], np.float32)
    np.testing.assert_array_equal(bf16(x), [1.0, 1 + 4 * 2**-8, 1.0, -2.5, np.inf, np.inf])


@pytest.mark.parametrize(
    "shape_a, shape_b, transpose",
    [
        ((37, 300), (300, 45), False),
        ((256, 512), (512, 300), False),
        ((300, 64), (300, 40), True),
        ((3, 20, 50), (3, 50, 70), False),
    ],
)
def test_matmul_medium_multiplies_the_rounded_operands(shape_a, shape_b, transpose):
    r = np.random.default_rng(0)
    a, b = randn(r, *shape_a), randn(r, *shape_b)
    md.set_float32_matmul_precision("medium")
    ta = md.tensor(a).transpose(-2, -1) if transpose else md.tensor(a)
    got = (ta @ md.tensor(b)).numpy()
    a64 = np.swapaxes(bf16(a), -2, -1) if transpose else bf16(a)
    want = a64 @ bf16(b)
    exact = (np.swapaxes(a, -2, -1) if transpose else a).astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(want).max()
    assert np.abs(got - want).max() < 1e-5 * scale
    assert np.abs(got - exact).max() > 1e-4 * scale  # the rounding did happen
    md.set_float32_matmul_precision("highest")
    assert np.abs((ta @ md.tensor(b)).numpy() - exact).max() < 1e-5 * scale


def test_linear_medium_forward_and_backward_use_rounded_operands():
    r = np.random.default_rng(1)
    x, w, bias, g = randn(r, 64, 96), randn(r, 40, 96), randn(r, 40), randn(r, 64, 40)
    md.set_float32_matmul_precision("medium")
    xt, wt, bt = (md.tensor(v, requires_grad=True) for v in (x, w, bias))
    y = F.linear(xt, wt, bt)
    y.backward(md.tensor(g))
    tol = 1e-5 * 30
    np.testing.assert_allclose(y.numpy(), bf16(x) @ bf16(w).T + bias, atol=tol)
    np.testing.assert_allclose(xt.grad.numpy(), bf16(g) @ bf16(w), atol=tol)
    np.testing.assert_allclose(wt.grad.numpy(), bf16(g).T @ bf16(x), atol=tol)
    np.testing.assert_allclose(bt.grad.numpy(), g.sum(0), atol=1e-4)  # a sum, not a product: exact


def conv_ref(x, w, stride, padding):
    """float64 cross-correlation of (N, C, H, W) with (K, C, R, S)."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    P, Q = (H - R) // stride + 1, (W - S) // stride + 1
    out = np.zeros((N, K, P, Q))
    for i in range(R):
        for j in range(S):
            patch = x[:, :, i : i + stride * P : stride, j : j + stride * Q : stride]
            out += np.einsum("nchw,kc->nkhw", patch, w[:, :, i, j])
    return out


def conv_weight_grad_ref(x, g, w_shape, stride, padding):
    """float64 dW of conv_ref for the output gradient g."""
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    P, Q = g.shape[2:]
    dw = np.zeros(w_shape)
    for i in range(w_shape[2]):
        for j in range(w_shape[3]):
            patch = x[:, :, i : i + stride * P : stride, j : j + stride * Q : stride]
            dw[:, :, i, j] = np.einsum("nkpq,ncpq->kc", g, patch)
    return dw


@pytest.mark.parametrize(
    "x_shape, w_shape, stride, padding",
    [
        ((4, 16, 14, 14), (24, 16, 3, 3), 1, 1),  # Winograd
        ((8, 32, 4, 4), (32, 32, 3, 3), 1, 1),  # Winograd on a small map
        ((4, 16, 14, 14), (16, 16, 3, 3), 2, 1),  # im2col
        ((4, 32, 8, 8), (16, 32, 1, 1), 1, 0),  # 1x1
    ],
)
def test_conv2d_medium_has_bf16_sized_errors(x_shape, w_shape, stride, padding):
    r = np.random.default_rng(2)
    x, w = randn(r, *x_shape), randn(r, *w_shape)
    exact = conv_ref(x.astype(np.float64), w.astype(np.float64), stride, padding)
    rounded_err = np.abs(conv_ref(bf16(x), bf16(w), stride, padding) - exact).mean()

    md.set_float32_matmul_precision("highest")
    fp32_err = np.abs(F.conv2d(md.tensor(x), md.tensor(w), stride=stride, padding=padding).numpy() - exact).mean()
    md.set_float32_matmul_precision("medium")
    xt, wt = md.tensor(x, requires_grad=True), md.tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, stride=stride, padding=padding)
    err = np.abs(y.numpy() - exact).mean()
    assert 0.3 * rounded_err < err < 3 * rounded_err
    assert err > 30 * fp32_err

    # the backward products are rounded too: their errors against float64 are bf16-sized
    g = randn(r, *y.shape)
    y.backward(md.tensor(g))
    dw_exact = conv_weight_grad_ref(x.astype(np.float64), g.astype(np.float64), w.shape, stride, padding)
    dw_err = np.abs(wt.grad.numpy() - dw_exact).mean() / np.abs(dw_exact).mean()
    assert 1e-4 < dw_err < 2e-2


def test_attention_medium_rounds_scores_and_values():
    # 16 keys of 8 dims: the CPU's small-sequence path in float32, the rounded GEMMs in bf16 mode
    r = np.random.default_rng(3)
    q, k, v = randn(r, 2, 4, 16, 8), randn(r, 2, 4, 16, 8), randn(r, 2, 4, 16, 8)
    md.set_float32_matmul_precision("medium")
    got = F.scaled_dot_product_attention(md.tensor(q), md.tensor(k), md.tensor(v)).numpy()
    s = bf16(q) @ np.swapaxes(bf16(k), -1, -2) / np.sqrt(8)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    want = bf16(p) @ bf16(v)
    np.testing.assert_allclose(got, want, atol=2e-5)


def tiny_run(mixed_precision, steps=3):
    md.manual_seed(0)
    model = md.UNet2DModel(**TINY)
    cfg = TrainingConfig(batch_size=8, output_dir=None, progress=False, use_ema=False, mixed_precision=mixed_precision)
    trainer = Trainer(cfg)
    images = np.random.default_rng(0).uniform(-1, 1, (8, 1, 8, 8)).astype(np.float32)
    losses = [trainer.train_step(model, images) for _ in range(steps)]
    return losses, {k: v.numpy() for k, v in model.state_dict().items()}


def test_trainer_bf16_steps_differ_slightly_and_restore_the_precision():
    md.set_float32_matmul_precision("highest")
    exact_losses, exact_weights = tiny_run("no")
    bf16_losses, bf16_weights = tiny_run("bf16")
    assert md.get_float32_matmul_precision() == "highest"  # restored after each step
    assert all(np.isfinite(bf16_losses))
    rel = [abs(a - b) / a for a, b in zip(exact_losses, bf16_losses)]
    assert max(rel) < 1e-2
    assert rel[0] > 1e-7  # the first forward pass already ran in bf16
    w = "down_blocks.0.resnets.0.conv1.weight"
    assert not np.array_equal(exact_weights[w], bf16_weights[w])
    np.testing.assert_allclose(bf16_weights[w], exact_weights[w], atol=1e-3)


def test_mixed_precision_is_a_validated_config_field(tmp_path):
    with pytest.raises(ValueError, match="mixed_precision"):
        TrainingConfig(mixed_precision="fp16")
    cfg = TrainingConfig(mixed_precision="bf16")
    cfg.save(tmp_path / "c.json")
    assert TrainingConfig.load(tmp_path / "c.json").mixed_precision == "bf16"
    assert TrainingConfig.from_dict({}).mixed_precision == "no"
