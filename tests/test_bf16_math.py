"""bfloat16 math: ops given bfloat16 tensors compute in float32 and round the result back once, as
torch's bfloat16 kernels do; gradients reach bfloat16 leaves as bfloat16. Checked against a NumPy
rounding oracle, and against torch (dtype, values and gradients) where it is installed."""

import numpy as np
import pytest
from bf16_ref import bf16

import minidiff as md

F = md.nn.functional


def _arrays(seed=0):
    r = np.random.default_rng(seed)
    x = bf16(r.standard_normal((2, 3)) * 1.5).astype(np.float32)
    y = bf16(r.standard_normal((2, 3)) + 0.1).astype(np.float32)
    return x, y


def test_elementwise_results_are_the_float32_ones_rounded_once():
    x, y = _arrays()
    bx, by = md.tensor(x, dtype="bfloat16"), md.tensor(y, dtype="bfloat16")
    for got, want in [
        (bx + by, x + y),
        (bx * by, x * y),
        (bx / by, x / y),
        (bx * 3.0, x * 3.0),
        (bx.exp(), np.exp(x)),
        (bx.sum(1), x.sum(1)),
        (bx.mean(), x.mean()),
        (bx @ by.t(), x @ y.T),
    ]:
        assert got.dtype == "bfloat16"
        np.testing.assert_array_equal(got.float().numpy(), bf16(np.asarray(want, np.float32)))


def test_promotion_as_torch():
    bx = md.ones((2, 3), dtype="bfloat16")
    assert (bx + md.ones(3)).dtype == "float32"  # a float32 tensor with dims wins
    assert (bx + md.tensor(2.0)).dtype == "bfloat16"  # a 0-d one does not
    assert (bx * md.tensor([1, 2, 3])).dtype == "bfloat16" and (bx + True).dtype == "bfloat16"
    assert (bx > 0).dtype == "bool" and md.where(bx > 0, bx, 0.0).dtype == "bfloat16"
    with pytest.raises(TypeError, match="matmul.*bfloat16 and float32"):
        bx @ md.ones(3, 2)


def test_bf16_leaves_take_bf16_gradients():
    x, y = _arrays(1)
    bx = md.tensor(x, dtype="bfloat16", requires_grad=True)
    (bx * md.tensor(y, dtype="bfloat16")).sum().backward()
    assert bx.grad.dtype == "bfloat16"
    np.testing.assert_array_equal(bx.grad.float().numpy(), bf16(y))
    w = md.zeros(3, dtype="bfloat16")
    md.nn.init.normal_(w)
    assert w.dtype == "bfloat16" and bool((w != 0).any())
    with pytest.raises(TypeError, match="int64"):
        md.tensor([1, 2]).requires_grad_()


EXPRESSIONS = [
    "x + y", "x - y", "x * y", "x / y", "x ** 2", "x * 2", "x + 1.5", "2 - x", "3 / x", "2 ** x", "x + f", "x * f0",
    "-x", "x.exp()", "x.log()", "x.abs()", "x.sqrt()", "x.sin()", "x.tanh()", "x.sigmoid()", "F.relu(x)", "F.silu(x)",
    "F.gelu(x)", "F.gelu(x, approximate='tanh')", "F.softplus(x)", "F.leaky_relu(x, 0.1)", "F.elu(x)", "F.mish(x)",
    "x.square()", "x.reciprocal()", "x.sum()", "x.sum(0)", "x.mean(1)", "x.amax(1)", "x.max()", "x.max(1)[0]",
    "x.min()", "x.var()", "x.std(1)", "x.norm()", "x.logsumexp(1)", "x.softmax(-1)", "x.log_softmax(-1)",
    "x.cumsum(1)", "x.prod(1)", "x.clamp(-1, 1)", "L.maximum(x, y)", "L.minimum(x, y)", "L.where(x > 0, x, y)",
    "L.where(x > 0, x, 0.0)", "x.round()", "x.floor()", "x.ceil()", "x.trunc()", "x @ y.t()", "F.linear(x, y)",
    "F.layer_norm(x, (3,))", "F.mse_loss(x, y)", "F.l1_loss(x, y)", "F.smooth_l1_loss(x, y)", "F.normalize(x, dim=1)",
    "L.atan2(x, y)", "L.lerp(x, y, 0.3)", "L.cat([x, y]).sum(0)", "x.unsqueeze(0).expand(2, 2, 3).sum()",
    "F.pad(x, (1, 1))", "x.t() @ y", "x.abs().log1p()", "x.clamp(min=0).pow(0.5)", "F.hardtanh(x)", "F.softmax(x, 0)",
    "F.group_norm(x.reshape(1, 2, 3), 2)", "F.conv2d(x.reshape(1, 1, 2, 3), y[:1, :2].reshape(1, 1, 1, 2))",
    "F.scaled_dot_product_attention(x[None], y[None], x[None])", "F.embedding(L.tensor([1, 0]), x)",
]  # fmt: skip


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_bf16_ops_match_torch(expr):
    torch = pytest.importorskip("torch")
    results = []
    for lib in (torch, md):
        x0, y0 = _arrays()
        x = lib.tensor(x0).to(lib.bfloat16).requires_grad_()
        y = lib.tensor(y0).to(lib.bfloat16).requires_grad_()
        env = dict(L=lib, F=lib.nn.functional, x=x, y=y, f=lib.tensor(np.ones(3, np.float32)), f0=lib.tensor(2.0))
        out = eval(expr, env)  # noqa: S307 (the test's own expressions)
        out.float().sum().backward()
        grads = [None if t.grad is None else (str(t.grad.dtype), t.grad.float().numpy()) for t in (x, y)]
        results.append((str(out.dtype).removeprefix("torch."), out.float().detach().numpy(), grads))
    (t_dtype, t_vals, t_grads), (m_dtype, m_vals, m_grads) = results
    assert m_dtype == t_dtype
    # one bfloat16 rounding apart at most (torch rounds some intermediate steps in bfloat16)
    np.testing.assert_allclose(m_vals, t_vals, rtol=2e-2, atol=2e-2, equal_nan=True)
    for tg, mg in zip(t_grads, m_grads):
        assert (tg is None) == (mg is None)
        if tg is not None:
            assert mg[0] == tg[0].removeprefix("torch.")
            np.testing.assert_allclose(mg[1], tg[1], rtol=3e-2, atol=3e-2, equal_nan=True)
