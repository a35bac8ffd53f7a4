"""The CUDA backend against the CPU path: every op's forward and backward on the same random inputs,
random streams identical between devices for one seed, device-mixing and out-of-memory errors, and
memory returning to its baseline. Skipped as a whole where ``md.cuda.is_available()`` is False.

Tolerances: the tight checks run with ``md.backends.allow_tf32 = False`` (exact float32 GEMMs; the
CPU and GPU then differ only by summation order and 1-2 ulp in libm functions). The TF32 checks
state their looser bounds: TF32 keeps 10 mantissa bits, so products carry ~1e-3 relative error.
"""

import numpy as np
import pytest
from bf16_ref import bf16
from gradcheck import conv2d_grads_ref, conv2d_ref

import minidiff as md
import minidiff.functional as F

pytestmark = pytest.mark.cuda
if not md.cuda.is_available():
    pytest.skip("no CUDA device (or a build without the CUDA backend)", allow_module_level=True)

DEV = "cuda"


@pytest.fixture(autouse=True)
def exact_float32():
    md.backends.allow_tf32 = False
    yield
    md.backends.allow_tf32 = True


def rng(seed=0):
    return np.random.default_rng(seed)


def randn(r, *shape, scale=1.0):
    return (r.standard_normal(shape) * scale).astype(np.float32)


def run_on(device, fn, arrays, grad, out_grad_seed=99):
    """fn(*tensors) on device; returns [output, grads of the float inputs...] as NumPy arrays."""
    xs = []
    for a in arrays:
        is_float = a.dtype == np.float32
        xs.append(md.tensor(a, device=device, requires_grad=grad and is_float))
    y = fn(*xs)
    assert str(y.device).startswith(device), f"output on {y.device}, expected {device}"
    res = [y.numpy()]
    if grad:
        gy = randn(rng(out_grad_seed), *y.shape)
        y.backward(md.tensor(gy, device=device))
        for x in xs:
            if x.requires_grad:
                assert x.grad is not None
                assert str(x.grad.device).startswith(device)
                res.append(x.grad.numpy())
    return res


def check(fn, arrays, rtol=1e-5, atol=1e-5, grad=True):
    want = run_on("cpu", fn, arrays, grad)
    got = run_on(DEV, fn, arrays, grad)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        what = "output" if i == 0 else f"gradient of input {i - 1}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=what)


# ---- device queries


def test_device_queries():
    assert md.cuda.device_count() >= 1
    assert isinstance(md.cuda.get_device_name(0), str) and md.cuda.get_device_name(0)
    md.cuda.synchronize()


def test_host_round_trip_and_dtypes():
    r = rng(1)
    x = randn(r, 3, 5, 7)
    t = md.tensor(x, device=DEV)
    assert t.is_cuda
    np.testing.assert_array_equal(t.numpy(), x)
    np.testing.assert_array_equal(t.cpu().numpy(), x)
    i = md.tensor(np.arange(-5, 20, dtype=np.int64), device=DEV)
    np.testing.assert_array_equal(i.numpy(), np.arange(-5, 20))
    # casts: f32 -> bf16 -> f32 equals the CPU's rounding; f32 -> int64 truncates
    b_gpu = t.to("bfloat16").to("float32").numpy()
    b_cpu = md.tensor(x).to("bfloat16").to("float32").numpy()
    np.testing.assert_array_equal(b_gpu, b_cpu)
    np.testing.assert_array_equal(t.long().numpy(), md.tensor(x).long().numpy())
    np.testing.assert_array_equal(i.float().numpy(), np.arange(-5, 20, dtype=np.float32))


def test_strided_copies_views_and_fills():
    r = rng(2)
    x = randn(r, 4, 6, 8)
    for fn in [
        lambda t: t.permute(2, 0, 1).contiguous(),
        lambda t: t[1:4:2, ::3, 1:].contiguous(),
        lambda t: t.transpose(0, 2).reshape(-1),
        lambda t: t[:, :1, :].expand(4, 6, 8).contiguous(),
        lambda t: md.cat([t, t * 2.0], 1),
        lambda t: F.pad(t, [1, 2, 0, 3], value=0.5),
        lambda t: md.stack([t[0], t[1]], 0),
    ]:
        check(fn, [x])
    z = md.zeros((1000,), device=DEV)
    np.testing.assert_array_equal(z.numpy(), np.zeros(1000, np.float32))
    f = md.full((7, 3), 2.5, device=DEV)
    np.testing.assert_array_equal(f.numpy(), np.full((7, 3), 2.5, np.float32))
    np.testing.assert_array_equal(md.arange(0, 10, 1, device=DEV).numpy(), np.arange(10, dtype=np.float32))


# ---- elementwise

UNARY = {
    "neg": lambda t: -t,
    "exp": F.exp,
    "log": F.log,
    "sqrt": F.sqrt,
    "rsqrt": lambda t: t.rsqrt(),
    "sin": F.sin,
    "cos": F.cos,
    "abs": F.abs,
    "square": lambda t: t.square(),
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    r = rng(3)
    x = randn(r, 13, 57, scale=2.0)
    if name in ("log", "sqrt", "rsqrt"):
        x = np.abs(x) + 0.1
    # CUDA's libm functions are within 2 ulp, glibc's within 1
    check(UNARY[name], [x], rtol=1e-5, atol=1e-6)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "maximum": md.maximum,
    "minimum": md.minimum,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((4, 1, 6), (5, 6)), ((3, 7), (3, 7)), ((2, 3, 4), (1,)), ((), (5,))])
def test_binary_broadcast(name, shapes):
    r = rng(4)
    a, b = randn(r, *shapes[0]), randn(r, *shapes[1])
    if name == "pow":
        a = np.abs(a) + 0.5
    if name == "div":
        b = np.sign(b) * (np.abs(b) + 0.5)
    check(BINARY[name], [a, b], rtol=1e-5, atol=1e-6)


def test_pow_gradients_at_zero_base():
    # torch's values where the formulas meet 0 * inf, the same on both devices (inf and NaN included)
    a = np.array([0.0, 0.0, 0.0, 0.0, 2.0, -2.0, 0.0], dtype=np.float32)
    b = np.array([2.0, 0.0, 0.5, -1.0, 3.0, 2.0, 1.0], dtype=np.float32)
    check(lambda x, y: x**y, [a, b], rtol=1e-6, atol=0.0)


def test_clamp_maximum_relu_at_nan_inf_and_ties_match_the_cpu():
    # NaN propagation, gradients at the bounds and at ties (halved): the same rules on both devices
    x = np.array([np.nan, -np.inf, -2.0, -1.0, 0.0, 1.0, 3.0, np.inf], np.float32)
    y = np.array([np.nan, 0.0, -2.0, 1.0, 0.0, np.nan, 2.0, 1.0], np.float32)
    check(lambda t: t.clamp(-1.0, 1.0), [x], rtol=0, atol=0)
    check(F.relu, [x], rtol=0, atol=0)
    check(md.maximum, [x, y], rtol=0, atol=0)
    check(md.minimum, [x, y], rtol=0, atol=0)


def test_binary_on_transposed_operands():
    r = rng(5)
    a, b = randn(r, 6, 9), randn(r, 9, 6)
    check(lambda x, y: x * y.transpose(0, 1) + x.transpose(0, 1).transpose(0, 1), [a, b])


def test_scalar_ops():
    r = rng(6)
    x = np.abs(randn(r, 8, 9)) + 0.5
    for fn in [
        lambda t: t * 2.5,
        lambda t: 2.5 / t,
        lambda t: t - 1.0,
        lambda t: 3.0 - t,
        lambda t: t**2,
        lambda t: 2.0**t,
        lambda t: t / 3.0,
    ]:
        check(fn, [x], rtol=1e-5, atol=1e-6)


# ---- reductions


@pytest.mark.parametrize(
    "shape,dim,keepdim",
    [
        ((5, 6, 7), (), False),
        ((5, 6, 7), (0,), False),
        ((5, 6, 7), (1, 2), True),
        ((5, 6, 7), (-1,), False),
        ((300, 1000), (0,), False),
        ((3, 70000), (1,), False),
        ((100000,), (0,), False),
    ],
)
def test_sum_and_mean(shape, dim, keepdim):
    r = rng(7)
    x = randn(r, *shape)
    d = list(dim) if dim else None
    check(lambda t: t.sum(dim=d, keepdim=keepdim), [x], rtol=1e-5, atol=1e-4)
    check(lambda t: t.mean(dim=d, keepdim=keepdim), [x], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,dim", [((6, 50), 1), ((6, 50), 0), ((4, 5, 6), 1), ((1000,), None)])
def test_max_with_ties(shape, dim):
    r = rng(8)
    x = np.round(randn(r, *shape) * 2.0)  # ties: the first occurrence gets the gradient
    check(lambda t: t.max(dim=dim).values if dim is not None else t.max(), [x], rtol=0, atol=0)


# ---- matrix products


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((7, 9), (9, 5)),
        ((3, 7, 9), (9, 5)),
        ((3, 7, 9), (3, 9, 5)),
        ((2, 1, 4, 8), (3, 8, 2)),
        ((9,), (9, 4)),
    ],
)
def test_matmul(sa, sb):
    r = rng(9)
    check(lambda a, b: a @ b, [randn(r, *sa), randn(r, *sb)], rtol=1e-5, atol=1e-5)


def test_matmul_transposed_views():
    r = rng(10)
    a, b = randn(r, 4, 9, 7), randn(r, 4, 5, 9)
    check(lambda x, y: x.mT @ y.mT, [a, b], rtol=1e-5, atol=1e-5)


def test_linear():
    r = rng(11)
    x, w, b = randn(r, 6, 5, 20), randn(r, 12, 20), randn(r, 12)
    check(lambda x, w, b: F.linear(x, w, b), [x, w, b], rtol=1e-5, atol=1e-5)
    check(lambda x, w: F.linear(x, w), [x, w], rtol=1e-5, atol=1e-5)


def test_matmul_tf32_is_close():
    md.backends.allow_tf32 = True
    r = rng(12)
    a, b = randn(r, 64, 256), randn(r, 256, 48)
    got = (md.tensor(a, device=DEV) @ md.tensor(b, device=DEV)).numpy()
    want = a.astype(np.float64) @ b.astype(np.float64)
    # TF32: ~1e-3 relative error per product; entries are ~sqrt(256) = 16
    np.testing.assert_allclose(got, want, rtol=1e-2, atol=0.1)


@pytest.mark.parametrize("batched", [False, True])
def test_matmul_bf16_mode_multiplies_rounded_operands(batched):
    r = rng(13)
    shape_a, shape_b = ((3, 64, 256), (3, 256, 48)) if batched else ((64, 256), (256, 48))
    a, b = randn(r, *shape_a), randn(r, *shape_b)
    md.set_float32_matmul_precision("medium")
    try:
        got = (md.tensor(a, device=DEV) @ md.tensor(b, device=DEV)).numpy()
    finally:
        md.set_float32_matmul_precision("highest")
    want = bf16(a) @ bf16(b)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    # bf16 tensor cores multiply bf16 operands and accumulate in float32: errors of bf16's size
    # (whatever rounding cuBLAS's conversion uses), far above TF32's and float32's
    rounded_err = np.abs(want - exact).mean()
    assert 0.3 * rounded_err < np.abs(got - exact).mean() < 3 * rounded_err
    np.testing.assert_allclose(got, want, atol=2e-2 * np.abs(want).max())


def test_conv2d_bf16_mode_has_bf16_sized_errors():
    r = rng(14)
    x, w = randn(r, 4, 16, 14, 14), randn(r, 24, 16, 3, 3)
    exact = F.conv2d(md.tensor(x), md.tensor(w), padding=1).numpy().astype(np.float64)  # CPU, float32
    rounded = F.conv2d(md.tensor(bf16(x).astype(np.float32)), md.tensor(bf16(w).astype(np.float32)), padding=1)
    rounded_err = np.abs(rounded.numpy() - exact).mean()
    md.set_float32_matmul_precision("medium")
    try:
        got = F.conv2d(md.tensor(x, device=DEV), md.tensor(w, device=DEV), padding=1).numpy()
    finally:
        md.set_float32_matmul_precision("highest")
    assert 0.3 * rounded_err < np.abs(got - exact).mean() < 3 * rounded_err


@pytest.mark.parametrize(
    "x_shape,w_shape,stride,padding",
    [
        ((4, 8, 9, 9), (6, 8, 3, 3), 1, 1),  # 3x3, wide layout under auto
        ((3, 5, 24, 24), (4, 5, 3, 3), 1, 1),  # 576 pixels: batched under auto
        ((3, 6, 10, 11), (5, 6, 3, 3), 2, 1),
        ((2, 8, 7, 6), (5, 8, 1, 1), 1, 0),  # pointwise
        ((2, 4, 9, 8), (3, 4, 4, 3), (2, 1), (0, 2)),
    ],
)
def test_conv2d_bf16_mode_is_the_float32_conv_of_rounded_operands(
    x_shape, w_shape, stride, padding, conv_layout, workspace
):
    # In bf16 mode every product takes bf16-rounded operands: the forward is the float32 conv of
    # bf16(x) and bf16(w); dweight pairs bf16(x) with bf16(dout); dinput bf16(w) with bf16(dout).
    # So the CPU in exact float32 on the rounded arrays is an oracle up to summation order.
    r = rng(17)
    x, w, b = randn(r, *x_shape), randn(r, *w_shape, scale=0.3), randn(r, w_shape[0])
    conv = lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding)  # noqa: E731
    y_shape = run_on("cpu", conv, [x, w, b], grad=False)[0].shape
    gy = randn(rng(18), *y_shape)
    rx, rw, rgy = (bf16(a).astype(np.float32) for a in (x, w, gy))

    def forward_backward(device, x, w, gy):
        xt, wt, bt = (md.tensor(a, device=device, requires_grad=True) for a in (x, w, b))
        y = conv(xt, wt, bt)
        y.backward(md.tensor(gy, device=device))
        return y.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()

    y_want = forward_backward("cpu", rx, rw, gy)[0]
    _, dx_want, dw_want, _ = forward_backward("cpu", rx, rw, rgy)
    md.set_float32_matmul_precision("medium")
    try:
        y, dx, dw, db = forward_backward(DEV, x, w, gy)
    finally:
        md.set_float32_matmul_precision("highest")
    for got, want in ((y, y_want), (dx, dx_want), (dw, dw_want)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    np.testing.assert_allclose(db, gy.sum(axis=(0, 2, 3)), rtol=1e-4, atol=1e-4)  # the bias is no product


# ---- convolution
# The CUDA conv2d has two layouts for its products (per-image batched GEMMs, or the chunk's images
# side by side in one wide GEMM); "auto" picks by map size. Each conv test runs in all three.
CONV_LAYOUTS = ["auto", "batched", "wide"]


@pytest.fixture(params=["default", "tiny"])
def workspace(request):
    # "tiny": 64 KiB of scratch per call, so conv2d and attention split every batch into chunks
    # of an image or two (and conv2d's dweight products accumulate across the chunks)
    if request.param == "default":
        yield request.param
        return
    before = md._core.cuda_set_workspace_budget(1 << 16)
    yield request.param
    md._core.cuda_set_workspace_budget(before)


@pytest.fixture(params=CONV_LAYOUTS)
def conv_layout(request):
    before = md._core.cuda_conv_layout()
    md._core.set_cuda_conv_layout(request.param)
    yield request.param
    md._core.set_cuda_conv_layout(before)


def check_conv(arrays, stride, padding, rtol=1e-4, atol=1e-4, tf32=False):
    """F.conv2d on the GPU, output and gradients, against the float64 reference (the CPU conv2d is no
    oracle here: its Winograd F(4x4, 3x3) rounds more than a float32 GEMM)."""
    fn = lambda x, w, *b: F.conv2d(x, w, *b, stride=stride, padding=padding)  # noqa: E731
    got = run_on(DEV, fn, arrays, grad=True)
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    x, w, *b = arrays
    gy = randn(rng(99), *got[0].shape)  # the output gradient run_on used
    dx, dw, db = conv2d_grads_ref(x, w, gy, pair(stride), pair(padding))
    want = [conv2d_ref(x, w, *b, stride=pair(stride), padding=pair(padding)), dx, dw] + ([db] if b else [])
    assert len(got) == len(want)
    for i, (g, ww) in enumerate(zip(got, want)):
        what = "output" if i == 0 else f"gradient of input {i - 1}"
        # tf32: errors relative to the tensor's largest entry (a TF32 sum errs by ~5e-4 of its
        # terms' spread, which is the result's scale for these random sums, not each entry's)
        tol = dict(rtol=0, atol=3e-3 * np.abs(ww).max()) if tf32 else dict(rtol=rtol, atol=atol)
        np.testing.assert_allclose(g, ww, err_msg=what, **tol)


CONV_CASES = [
    ((2, 3, 9, 9), (4, 3, 3, 3), 1, 1, True),
    ((3, 5, 10, 11), (6, 5, 3, 3), 2, 1, True),
    ((2, 8, 7, 6), (5, 8, 1, 1), 1, 0, True),
    ((2, 4, 9, 8), (3, 4, 4, 3), (2, 1), (0, 2), False),
    ((1, 2, 5, 5), (2, 2, 5, 5), 3, 2, True),
    ((4, 16, 16, 16), (32, 16, 3, 3), 1, 1, True),
    # long dweight products (depth = images * P*Q = 16384, 6003: cuBLAS splits such depths)
    ((16, 8, 32, 32), (16, 8, 3, 3), 1, 1, True),
    ((9, 5, 23, 29), (7, 5, 3, 3), 1, 1, False),
]


@pytest.mark.parametrize("x_shape,w_shape,stride,padding,bias", CONV_CASES)
def test_conv2d(x_shape, w_shape, stride, padding, bias, conv_layout, workspace):
    r = rng(13)
    arrays = [randn(r, *x_shape), randn(r, *w_shape, scale=0.2)]
    if bias:
        arrays.append(randn(r, w_shape[0]))
    check_conv(arrays, stride, padding)


def _random_conv_case(seed):
    # batches around the CPU's 16-image lane threshold, maps down to 1x1, strides 1-3, every
    # padding up to the kernel's reach, 1x1 to 5x5 kernels (the CUDA kernels split flat indices
    # with cuda/divmod.h, so each dim's size reaches them as a divisor)
    r = np.random.default_rng(1000 + seed)
    R, S = (int(v) for v in r.choice([1, 2, 3, 5], size=2))
    sh, sw = (int(v) for v in r.integers(1, 4, size=2))
    ph, pw = int(r.integers(0, R)), int(r.integers(0, S))
    H = int(r.integers(max(1, R - 2 * ph), 20))
    W = int(r.integers(max(1, S - 2 * pw), 20))
    N, C, K = int(r.choice([1, 3, 15, 17, 33])), int(r.integers(1, 20)), int(r.integers(1, 20))
    return (N, C, H, W), (K, C, R, S), (sh, sw), (ph, pw), bool(r.integers(0, 2))


@pytest.mark.parametrize("seed", range(24))
def test_conv2d_random_geometries(seed, conv_layout):
    x_shape, w_shape, stride, padding, bias = _random_conv_case(seed)
    r = rng(14 + seed)
    arrays = [randn(r, *x_shape), randn(r, *w_shape, scale=0.2)]
    if bias:
        arrays.append(randn(r, w_shape[0]))
    check_conv(arrays, stride, padding)


@pytest.fixture
def implicit_tf32():
    """The implicit-GEMM layout with TF32 on, the only mode its kernels run in."""
    before = md._core.cuda_conv_layout()
    md._core.set_cuda_conv_layout("implicit")
    md.backends.allow_tf32 = True
    yield
    md._core.set_cuda_conv_layout(before)


@pytest.mark.parametrize("case", range(len(CONV_CASES) + 24))
def test_conv2d_implicit_gemm_tf32(case, implicit_tf32):
    # the table's geometries, then the random ones: the forward (any stride) and the stride-1
    # input gradient come from the implicit kernels, the rest from the wide layout
    if case < len(CONV_CASES):
        x_shape, w_shape, stride, padding, bias = CONV_CASES[case]
    else:
        x_shape, w_shape, stride, padding, bias = _random_conv_case(case - len(CONV_CASES))
    r = rng(16 + case)
    arrays = [randn(r, *x_shape), randn(r, *w_shape, scale=0.2)]
    if bias:
        arrays.append(randn(r, w_shape[0]))
    check_conv(arrays, stride, padding, tf32=True)


def test_conv2d_implicit_layout_is_exact_without_tf32():
    # with TF32 off the implicit layout falls back to the float32 GEMMs
    before = md._core.cuda_conv_layout()
    md._core.set_cuda_conv_layout("implicit")
    try:
        r = rng(17)
        check_conv([randn(r, 4, 16, 16, 16), randn(r, 32, 16, 3, 3, scale=0.2), randn(r, 32)], 1, 1)
    finally:
        md._core.set_cuda_conv_layout(before)


@pytest.mark.parametrize("needs", ["input", "weight"])
def test_conv2d_backward_of_one_operand(needs, conv_layout):
    # only dinput (frozen weights) or only dweight: the wide layout's dout swap serves both
    r = rng(15)
    x, w, b = randn(r, 5, 6, 9, 9), randn(r, 7, 6, 3, 3, scale=0.2), randn(r, 7)
    gy = randn(r, 5, 7, 9, 9)
    got = []
    for device in ("cpu", DEV):
        xt = md.tensor(x, device=device, requires_grad=needs == "input")
        wt = md.tensor(w, device=device, requires_grad=needs == "weight")
        y = F.conv2d(xt, wt, md.tensor(b, device=device), padding=1)
        y.backward(md.tensor(gy, device=device))
        got.append((xt if needs == "input" else wt).grad.numpy())
    np.testing.assert_allclose(got[1], got[0], rtol=1e-4, atol=1e-4)


def test_conv2d_tf32_is_close():
    md.backends.allow_tf32 = True
    r = rng(14)
    x, w = randn(r, 2, 32, 16, 16), randn(r, 16, 32, 3, 3, scale=0.1)
    got = F.conv2d(md.tensor(x, device=DEV), md.tensor(w, device=DEV), padding=1).numpy()
    want = F.conv2d(md.tensor(x), md.tensor(w), padding=1).numpy()
    # 288 products of ~1e-3 relative error each, entries of size ~1.7
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-2)


# ---- normalisation, softmax, attention


# the backward's channel sums: one warp per (n, c) for (3, 8, 5, 6), one block per (n, c) for maps
# over 4096 pixels (1, 8, 70, 60)
@pytest.mark.parametrize("shape", [(3, 8, 5, 6), (1, 8, 70, 60)])
@pytest.mark.parametrize("groups", [1, 4, 8])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("fuse_silu", [False, True])
def test_group_norm(shape, groups, affine, fuse_silu):
    r = rng(15)
    x = randn(r, *shape, scale=3.0) + 2.0
    fn = F.group_norm_silu if fuse_silu else F.group_norm
    if affine:
        check(lambda x, w, b: fn(x, groups, w, b, 1e-5), [x, randn(r, 8), randn(r, 8)], rtol=1e-4, atol=1e-5)
    else:
        check(lambda x: fn(x, groups, None, None, 1e-5), [x], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fuse_silu", [False, True])
def test_group_norm_rows_not_filling_the_last_block(fuse_silu):
    # 1 * 12 (n, c) rows at 8 warps per block: the second block holds 4
    r = rng(16)
    fn = F.group_norm_silu if fuse_silu else F.group_norm
    arrays = [randn(r, 1, 12, 4, 4, scale=2.0), randn(r, 12), randn(r, 12)]
    check(lambda x, w, b: fn(x, 3, w, b, 1e-5), arrays, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("d", [7, 64, 1000])
def test_layer_norm(d):
    r = rng(16)
    x, w, b = randn(r, 5, 7, d, scale=2.0), randn(r, d), randn(r, d)
    check(lambda x, w, b: F.layer_norm(x, (d,), w, b, 1e-5), [x, w, b], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape,dim", [((6, 49), -1), ((3, 1024), -1), ((4, 5, 6), 1), ((2, 3000), 1)])
def test_softmax(shape, dim):
    r = rng(17)
    check(lambda t: F.softmax(t, dim), [randn(r, *shape, scale=4.0)], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("q_shape,k_len,dv", [((2, 4, 16, 32), 16, 32), ((3, 49, 8), 20, 12), ((1, 2, 64, 16), 64, 16)])
def test_scaled_dot_product_attention(q_shape, k_len, dv, workspace):
    r = rng(18)
    *batch, lq, d = q_shape
    q = randn(r, *q_shape)
    k = randn(r, *batch, k_len, d)
    v = randn(r, *batch, k_len, dv)
    check(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), [q, k, v], rtol=1e-4, atol=1e-5)


# ---- resampling, embedding, dropout, loss


@pytest.mark.parametrize("scale", [2, (1, 3)])
def test_interpolate_nearest(scale):
    r = rng(19)
    x = randn(r, 2, 3, 5, 4)
    check(lambda t: F.interpolate(t, scale_factor=scale, mode="nearest"), [x], rtol=0, atol=1e-6)


def test_embedding():
    r = rng(20)
    w = randn(r, 10, 16)
    idx = r.integers(0, 10, size=(4, 25)).astype(np.int64)  # repeated indices accumulate
    check(lambda i, w: F.embedding(i, w), [idx, w], rtol=1e-5, atol=1e-5)


def test_embedding_out_of_range_is_an_index_error():
    w = md.zeros((10, 4), device=DEV)
    with pytest.raises(IndexError):
        F.embedding(md.tensor(np.array([1, 10], dtype=np.int64), device=DEV), w)


def test_dropout_mask_is_the_same_on_both_devices():
    r = rng(21)
    x = randn(r, 64, 33)
    outs = []
    for device in ("cpu", DEV):
        g = md.Generator(1234)
        t = md.tensor(x, device=device, requires_grad=True)
        y = F.dropout(t, 0.3, True, generator=g)
        y.backward(md.ones_like(y))
        outs.append((y.numpy(), t.grad.numpy()))
    np.testing.assert_array_equal(outs[1][0], outs[0][0])
    np.testing.assert_array_equal(outs[1][1], outs[0][1])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    r = rng(22)
    a, b = randn(r, 16, 3, 8, 8), randn(r, 16, 3, 8, 8)
    check(lambda a, b: F.mse_loss(a, b, reduction=reduction), [a, b], rtol=1e-5, atol=1e-6)


# ---- random numbers


def test_random_streams_are_the_same_on_both_devices():
    for make in [
        lambda device, g: md.rand((1001, 7), generator=g, device=device),
        lambda device, g: md.randint(-3, 1000, (999,), generator=g, device=device),
    ]:
        a = make("cpu", md.Generator(77)).numpy()
        b = make(DEV, md.Generator(77)).numpy()
        np.testing.assert_array_equal(b, a)
    a = md.randn((5003,), generator=md.Generator(78)).numpy()
    b = md.randn((5003,), generator=md.Generator(78), device=DEV).numpy()
    # Box-Muller through logf/sinf/cosf: CUDA's and glibc's may differ in the last bit or two
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    # the same generator advances identically whichever device draws
    g_cpu, g_gpu = md.Generator(9), md.Generator(9)
    md.rand((10,), generator=g_cpu)
    md.rand((10,), generator=g_gpu, device=DEV)
    np.testing.assert_array_equal(
        md.rand((6,), generator=g_gpu, device=DEV).numpy(), md.rand((6,), generator=g_cpu).numpy()
    )


# ---- errors


def test_mixing_devices_is_a_value_error():
    a = md.ones((3, 4))
    b = md.ones((3, 4), device=DEV)
    with pytest.raises(ValueError):
        a + b
    with pytest.raises(ValueError):
        a @ b.transpose(0, 1)
    with pytest.raises(ValueError):
        F.conv2d(md.ones((1, 2, 5, 5), device=DEV), md.ones((3, 2, 3, 3)))
    with pytest.raises(ValueError):
        F.mse_loss(a, b)


def test_out_of_memory_is_a_memory_error_naming_the_size():
    with pytest.raises(MemoryError, match="bytes"):
        md.empty((10**15 // 4,), device=DEV)
    # the device still works afterwards
    np.testing.assert_array_equal((md.ones((3,), device=DEV) * 2.0).numpy(), np.full(3, 2.0, np.float32))


# ---- memory


def test_memory_returns_to_baseline_after_many_steps():
    md.cuda.synchronize()
    base = md.cuda.memory_allocated()
    r = rng(23)
    w = md.tensor(randn(r, 8, 3, 3, 3, scale=0.2), device=DEV, requires_grad=True)
    gn_w = md.tensor(np.ones(8, np.float32), device=DEV, requires_grad=True)
    x = md.tensor(randn(r, 4, 3, 16, 16), device=DEV)
    target = md.tensor(randn(r, 4, 8, 16, 16), device=DEV)
    after_setup = md.cuda.memory_allocated()
    assert after_setup > base
    for _ in range(30):
        y = F.group_norm_silu(F.conv2d(x, w, padding=1), 4, gn_w, None, 1e-5)
        loss = F.mse_loss(y, target)
        loss.backward()
        with md.no_grad():
            w.copy_(w - w.grad * 0.01)
        w.grad = None
        gn_w.grad = None
        del y, loss
    md.cuda.synchronize()
    # steady state: nothing is kept from one step to the next
    assert md.cuda.memory_allocated() == after_setup
    assert md.cuda.max_memory_allocated() >= after_setup
    assert md.cuda.memory_reserved() >= md.cuda.memory_allocated()
    del w, gn_w, x, target
    assert md.cuda.memory_allocated() == base
    md.cuda.empty_cache()
    assert md.cuda.memory_reserved() >= md.cuda.memory_allocated()


# ---- optimiser (once md.optim is bound)


def test_adam_matches_cpu():
    optim = getattr(md, "optim", None)
    if optim is None or not hasattr(optim, "Adam"):
        pytest.skip("md.optim.Adam is not available in this build yet")
    r = rng(24)
    w0 = randn(r, 40, 30)
    grads = [randn(r, 40, 30) for _ in range(4)]
    results = []
    for device in ("cpu", DEV):
        w = md.tensor(w0, device=device, requires_grad=True)
        opt = optim.Adam([w], lr=1e-2, weight_decay=0.01)
        for g in grads:
            opt.zero_grad()
            (w * md.tensor(g, device=device)).sum().backward()
            opt.step()
        results.append(w.numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_matches_cpu():
    optim = getattr(md, "optim", None)
    if optim is None or not hasattr(optim, "clip_grad_norm_"):
        pytest.skip("md.optim.clip_grad_norm_ is not available in this build yet")
    r = rng(25)
    g = randn(r, 50, 20, scale=3.0)
    norms, grads = [], []
    for device in ("cpu", DEV):
        w = md.tensor(np.zeros((50, 20), np.float32), device=device, requires_grad=True)
        (w * md.tensor(g, device=device)).sum().backward()
        norms.append(float(optim.clip_grad_norm_([w], 1.0)))
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(norms[1], norms[0], rtol=1e-5)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-7)


# ---- the model

# A small UNet2DModel with every block kind a diffusion model here uses (resnets, attention,
# down/upsampling, timestep embedding).
UNET_SMALL = dict(
    sample_size=8,
    in_channels=1,
    out_channels=1,
    block_out_channels=(32, 64),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    norm_num_groups=8,
)


def test_unet_training_step_matches_cpu():
    if not hasattr(md, "UNet2DModel") or not hasattr(getattr(md, "optim", None), "Adam"):
        pytest.skip("md.UNet2DModel or md.optim.Adam does not exist in this build yet")
    r = rng(26)
    x0, noise = randn(r, 4, 1, 8, 8), randn(r, 4, 1, 8, 8)
    noisy = (0.8 * x0 + 0.6 * noise).astype(np.float32)
    t = np.array([3, 250, 600, 999], dtype=np.int64)
    lr = 1e-3
    reference = md.UNet2DModel(**UNET_SMALL)
    results = {}
    for device in ("cpu", DEV):
        model = md.UNet2DModel(**UNET_SMALL)
        model.load_state_dict(reference.state_dict())
        model.to(device)
        opt = md.optim.Adam(model.parameters(), lr=lr)
        losses, grads = [], {}
        for step in range(2):
            opt.zero_grad()
            pred = model(md.tensor(noisy, device=device), md.tensor(t, device=device))
            loss = F.mse_loss(pred, md.tensor(noise, device=device))
            loss.backward()
            if step == 0:
                grads = {name: p.grad.numpy() for name, p in model.named_parameters()}
            opt.step()
            losses.append(loss.item())
        params = {name: p.numpy() for name, p in model.named_parameters()}
        results[device] = (losses, grads, params)
    (cpu_losses, cpu_grads, cpu_params), (gpu_losses, gpu_grads, gpu_params) = results["cpu"], results[DEV]
    np.testing.assert_allclose(gpu_losses[0], cpu_losses[0], rtol=1e-4)
    np.testing.assert_allclose(gpu_losses[1], cpu_losses[1], rtol=1e-3)
    # float32 through ~30 layers in a different summation order: each gradient within 1e-3 of its
    # tensor's largest entry
    bad = [name for name, g in cpu_grads.items() if np.abs(gpu_grads[name] - g).max() > 1e-3 * np.abs(g).max() + 1e-6]
    assert not bad, f"gradients differ: {bad[:5]}"
    # Adam moves each weight by about lr * sign(grad) per step, so weights whose gradient is at the
    # level of the cross-device noise may move the other way: bounded by 2 steps * 2 lr, and rare
    diffs = np.concatenate([np.abs(gpu_params[n] - p).ravel() for n, p in cpu_params.items()])
    assert diffs.max() <= 4 * lr + 1e-6
    assert diffs.mean() <= 0.02 * lr


def test_trainer_checkpoint_and_sampling_on_cuda(tmp_path):
    """The whole Python pipeline on the device: Trainer (noise, timesteps, EMA, clipping), a
    checkpoint round trip and DDIM sampling; the first losses agree with the CPU run (one generator
    serves both devices)."""
    from minidiff.training import Trainer, TrainingConfig

    data = np.random.default_rng(0).uniform(-1, 1, (32, 1, 8, 8)).astype(np.float32)
    losses = {}
    for device in ("cpu", DEV):
        cfg = TrainingConfig(
            output_dir=str(tmp_path / device.replace(":", "")),
            progress=False,
            batch_size=16,
            num_epochs=2,
            learning_rate=1e-3,
            num_samples=4,
            sample_steps=3,
            save_every=1,
            device=device,
        )
        md.manual_seed(0)
        model = md.UNet2DModel(**UNET_SMALL)
        trainer = Trainer(cfg)
        md.backends.allow_tf32 = False
        try:
            result = trainer.train(model, data)
        finally:
            md.backends.allow_tf32 = True
        losses[device] = result["epoch_losses"]
        images = trainer.sample(model, num_samples=4)
        assert images.shape == (4, 8, 8, 1) and np.isfinite(images).all()
        resumed = Trainer(cfg)
        md.manual_seed(1)
        other = md.UNet2DModel(**UNET_SMALL)
        resumed.load_checkpoint(tmp_path / device.replace(":", ""), other)
        assert str(other.device).startswith(device.split(":")[0])
        for (name, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    np.testing.assert_allclose(losses[DEV][0], losses["cpu"][0], rtol=1e-3)


def test_trainer_bf16_mixed_precision_on_cuda():
    """TrainingConfig.mixed_precision="bf16" on the device: the steps run, the precision comes back,
    and the losses stay near the float32 run's (bf16 operands change them by well under 1%)."""
    from minidiff.training import Trainer, TrainingConfig

    data = np.random.default_rng(0).uniform(-1, 1, (16, 1, 8, 8)).astype(np.float32)
    losses = {}
    for mode in ("no", "bf16"):
        cfg = TrainingConfig(output_dir=None, progress=False, batch_size=16, device=DEV, mixed_precision=mode)
        md.manual_seed(0)
        model = md.UNet2DModel(**UNET_SMALL).to(DEV)
        trainer = Trainer(cfg)
        losses[mode] = [trainer.train_step(model, data) for _ in range(3)]
        assert md.get_float32_matmul_precision() == "highest"
    assert np.isfinite(losses["bf16"]).all()
    np.testing.assert_allclose(losses["bf16"], losses["no"], rtol=2e-2)


# ---- selection, gathering and scans (cuda/index.cu)


def test_where_gather_index_select_and_scans_match_the_cpu():
    r = rng(40)
    x = randn(r, 3, 4, 5)
    cond = (r.random((3, 1, 5)) > 0.5).astype(np.float32)
    other = randn(r, 4, 5)
    check(lambda a, b: md.where(md.tensor(cond, device=str(a.device)), a, b), [x, other])
    idx = r.integers(0, 4, size=(3, 6, 5)).astype(np.int64)  # repeated indices: atomic accumulation
    check(lambda a, i: a.gather(1, i), [x, idx])
    check(lambda a, i: a[:, i], [x, np.array([[3, -1], [0, 0]], np.int64)])
    xz = x.copy()
    xz[1, 2, 3] = 0.0
    for dim in (0, 1, 2):
        check(lambda a, d=dim: a.cumsum(d), [x], rtol=1e-5, atol=1e-5)
        check(lambda a, d=dim: a.cumprod(d), [xz], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stride, padding, output_padding", [(2, 1, 0), (1, 1, 0), (2, 1, 1), (3, 2, 2)])
def test_conv_transpose2d_matches_the_cpu(stride, padding, output_padding):
    r = rng(41)
    x, w, b = randn(r, 2, 6, 5, 7), randn(r, 6, 4, 4, 4), randn(r, 4)
    check(
        lambda a, ww, bb: md.F.conv_transpose2d(
            a, ww, bb, stride=stride, padding=padding, output_padding=output_padding
        ),
        [x, w, b],
        rtol=1e-4,
        atol=1e-4,
    )


def test_selection_of_int64_and_bfloat16_and_bf16_fills_match_the_cpu():
    big = np.array([2**40 + 1, 5, 2**33 + 3, -7], np.int64)
    for device in ("cpu", DEV):
        t = md.tensor(big, device=device)
        idx = md.tensor(np.array([3, -1, 0]), dtype="int64", device=device)
        assert t[idx].numpy().tolist() == big[[3, -1, 0]].tolist()
        assert t.gather(0, md.tensor(np.array([2, 2]), dtype="int64", device=device)).numpy().tolist() == [big[2]] * 2
        mask = md.tensor([1.0, 0.0, 1.0, 0.0], device=device)
        assert md.where(mask, t, 0).numpy().tolist() == [big[0], 0, big[2], 0]
        h = md.tensor([1.5, -2.25, 3.0], device=device).to("bfloat16")
        assert h[[2, 0]].float().numpy().tolist() == [3.0, 1.5]
        assert md.full((3,), 1.00390625, dtype="bfloat16", device=device).float().numpy().tolist() == [1.0] * 3


def test_int64_arithmetic_and_comparisons_are_exact_on_the_device():
    big = 2**40
    a = np.array([[big + 3, -5, 7], [big, 2**62, -(2**40)]], np.int64)
    b = np.array([big + 1, 3, -7], np.int64)
    x, y = md.tensor(a, device=DEV), md.tensor(b, device=DEV)
    with np.errstate(over="ignore"):
        cases = [
            (x + y, a + b), (x - y, a - b), (x * y, a * b), (md.maximum(x, y), np.maximum(a, b)),
            (md.minimum(x, y), np.minimum(a, b)), (x * 3 - 1, a * 3 - 1), (5 - x, 5 - a), (-x, -a),
            (abs(x), np.abs(a)), (x.clamp(-6, big + 2), np.clip(a, -6, big + 2)), (y**3, b**3),
        ]  # fmt: skip
    for got, want in cases:
        assert got.device.type == "cuda" and got.dtype == "int64"
        np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal((x == y).numpy(), (a == b).astype(np.float32))
    np.testing.assert_array_equal((x > big).numpy(), (a > big).astype(np.float32))


def test_int64_reductions_are_exact_on_the_device():
    big = 2**40
    a = (np.arange(24, dtype=np.int64).reshape(2, 3, 4) % 7 - 3) + big
    x = md.tensor(a, device=DEV)
    for got, want in [(x.sum(), a.sum()), (x.sum(1), a.sum(1)), (x.max(), a.max()), (x.max(2).values, a.max(2)),
                      (x.max(0).indices, a.argmax(0)), (md.cumsum(x, 1), np.cumsum(a, 1)),
                      (md.cumprod(x - big, 2), np.cumprod(a - big, 2))]:  # fmt: skip
        assert got.dtype == "int64" and got.device.type == "cuda"
        np.testing.assert_array_equal(got.numpy(), want)


# ---- the twelfth session's additions, on the device


def test_embedding_padding_idx_and_int64_pow_matmul():
    r = rng(60)
    w = randn(r, 10, 8)
    idx = r.integers(0, 10, size=(3, 7)).astype(np.int64)
    idx[0, :3] = 4  # the padding row, repeated
    check(lambda i, w: F.embedding(i, w, padding_idx=4), [idx, w], rtol=1e-5, atol=1e-5)
    check(lambda i, w: F.embedding(i, w, padding_idx=4, scale_grad_by_freq=True), [idx, w], rtol=1e-5, atol=1e-5)
    a = r.integers(-9, 9, size=(4, 5)).astype(np.int64) + 2**40
    b = r.integers(0, 40, size=(4, 5)).astype(np.int64)
    for fn in (lambda x, y: x**y, lambda x, y: x @ y.T, lambda x, y: 3**y):
        got = fn(md.tensor(a, device=DEV), md.tensor(b, device=DEV))
        want = fn(md.tensor(a), md.tensor(b))
        assert got.dtype == "int64"
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_setitem_inside_the_graph_and_autograd_grad():
    r = rng(61)
    x, v = randn(r, 4, 6), randn(r, 6)

    def fn(x, v):
        y = x * 2.0
        y[1] = v
        y[y > 1.0] = 0.5
        return y * x

    check(fn, [x, v], rtol=1e-5, atol=1e-6)
    t = md.tensor(x, device=DEV, requires_grad=True)
    h = t.tanh()
    h.retain_grad()
    (g,) = md.autograd.grad((h * h).sum(), t, retain_graph=True)
    np.testing.assert_allclose(g.numpy(), 2 * np.tanh(x) * (1 - np.tanh(x) ** 2), rtol=1e-5, atol=1e-6)
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 4 * np.tanh(x), rtol=1e-5, atol=1e-6)  # both passes, as torch


_UNARY_DOMAINS = {"asin": 0.9, "acos": 0.9, "atanh": 0.9, "erfinv": 0.9}


@pytest.mark.parametrize(
    "name",
    ["tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "log1p", "expm1", "log2", "log10",
     "exp2", "erf", "erfc", "erfinv", "reciprocal"],
)  # fmt: skip
def test_unary_math_matches_the_cpu(name):
    r = rng(70)
    x = randn(r, 5, 33)
    if name in _UNARY_DOMAINS:
        x = np.tanh(x) * _UNARY_DOMAINS[name]
    elif name in ("acosh",):
        x = 1.1 + np.abs(x)
    elif name in ("log1p", "log2", "log10", "reciprocal"):
        x = 0.2 + np.abs(x)
    check(lambda t: getattr(md, name)(t), [x], rtol=2e-5, atol=2e-6)


def test_hooks_and_copy_in_the_graph_on_the_device():
    r = rng(71)
    x, z = randn(r, 3, 4), randn(r, 3, 4)

    def fn(x, z):
        h = x * 2.0
        h.register_hook(lambda g: g * 3.0)
        y = x * 1.0
        y.copy_(z)
        return h * y

    check(fn, [x, z], rtol=1e-5, atol=1e-6)
    model = md.UNet2DModel(**UNET_SMALL).to(DEV)
    seen = []
    model.down_blocks[0].resnets[0].norm1.register_forward_hook(lambda m, a, o: seen.append(o.device))
    model(md.zeros((1, 1, 8, 8), device=DEV), md.tensor([3], dtype="int64", device=DEV))
    assert len(seen) == 1 and str(seen[0]).startswith(DEV)


def test_views_and_in_place_changes_through_them_match_the_cpu():
    # the fourteenth session's engine: in-place through views (copy_slices), diagonal/as_strided
    # views, detach aliases, amax ties, fill_ in the graph, a transposed clone's strides
    r = rng(72)
    x, w = randn(r, 4, 5), randn(r, 5)

    def fn(x, w):
        h = x * 1.5
        h[:, 1].mul_(w[:4])
        h.diagonal().add_(1.0)
        old = h[2]
        h[3] = w
        t = (h * 1.0).t().clone()
        t[0].clamp_(-0.5, 0.5)
        h[0, :2].fill_(0.25)
        return (h + old.unsqueeze(0)) * t.t() + h.as_strided((4, 2), (5, 2), 1).sum()

    check(fn, [x, w], rtol=1e-5, atol=1e-6)
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], np.float32)
    check(lambda t: t.amax(1) * t.amin(0).sum(), [a], rtol=1e-6, atol=1e-6)
    b = md.ones(3, device=DEV)
    d = b.detach()
    b.mul_(md.tensor([2.0], device=DEV, requires_grad=True))
    np.testing.assert_array_equal(d.numpy(), [2.0, 2.0, 2.0])


def test_custom_function_on_the_device():
    class Cube(md.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    check(lambda t: Cube.apply(t) * 2.0, [randn(rng(73), 3, 7)], rtol=1e-5, atol=1e-6)


def test_dilated_and_grouped_convolutions_match_the_cpu():
    r = rng(74)
    x, w, wt = randn(r, 2, 4, 9, 9), randn(r, 6, 2, 3, 3, scale=0.3), randn(r, 4, 3, 3, 3, scale=0.3)
    check(lambda a, b: F.conv2d(a, b, padding=2, dilation=2, groups=2), [x, w], rtol=1e-4, atol=1e-5)
    check(lambda a, b: F.conv_transpose2d(a, b, stride=2, dilation=2, groups=2), [x, wt], rtol=1e-4, atol=1e-5)


def test_as_strided_gradients_unfold_and_geometry_in_place_match_the_cpu():
    # the fifteenth session's engine: as_strided's gradient for overlapping views (index_select_backward's
    # scatter-add on the device) and expanded inputs, unfold as a view, t_/unsqueeze_, non-view reductions
    r = rng(75)
    x = randn(r, 3, 8)

    def fn(t):
        y = t * 1.0
        windows = y.unfold(1, 3, 2) * y.as_strided((4, 4), (1, 1), 2).sum()
        z = y[:, :1].expand(3, 5).as_strided((2, 3), (0, 8), 0)
        y.t_().unsqueeze_(0)
        return windows.sum(0) + z.sum() + y.sum() + t.amax(1).sum() + t.max(1)[0].sum()

    check(fn, [x], rtol=1e-5, atol=1e-5)


def test_linalg_on_the_device_matches_the_cpu():
    # md.linalg's factorizations run on the host: the result and the gradient come back to the device
    r = rng(76)
    a = randn(r, 2, 3, 3)
    spd = a @ a.transpose(0, 2, 1) + 3.0 * np.eye(3, dtype=np.float32)
    check(lambda t: md.linalg.det(t) + md.linalg.inv(t).sum() + md.linalg.cholesky(t).sum(), [spd], rtol=1e-4)
    check(lambda t: md.linalg.vector_norm(t, dim=-1) + md.linalg.svdvals(t), [a], rtol=1e-4)


def test_bool_masks_on_the_device_match_the_cpu():
    # the sixteenth session's bool dtype: one-byte copies and views, the casts, comparisons, selection
    r = rng(77)
    x = randn(r, 4, 6)
    x[0, 0] = np.nan
    for dev in ("cpu", DEV):
        t = md.tensor(x, device=dev)
        m = t > 0
        assert m.dtype == "bool" and str(m.device).startswith(dev)
    results = []
    for dev in ("cpu", DEV):
        t = md.tensor(x, device=dev)
        m, m2 = t > 0, t.abs() < 1
        both = m & m2
        out = [
            m.numpy(), (m | m2).numpy(), (~m).numpy(), both.t().contiguous().numpy(), m[:, 1::2].contiguous().numpy(),
            m.sum(1).numpy(), m.float().numpy(), m.long().numpy(), t.bool().numpy(), m.to("bfloat16").float().numpy(),
            md.where(m, t, 0.0).numpy(), t[m].numpy(), m.any(0).numpy(), m.all(1).numpy(), md.isnan(t).numpy(),
            (m * 2).numpy(), (m + t).numpy(), md.cat([m, m2]).numpy(), m.amax(1).numpy(),
            t.masked_fill(m2, 5.0).numpy(),
            md.full((3,), True, device=dev).numpy(), md.tensor(np.array([True, False]), device=dev).numpy(),
        ]  # fmt: skip
        w = md.tensor(x, device=dev, requires_grad=True)
        md.where(w.detach() > 0, w, 0.0).square().sum().backward()
        out.append(w.grad.numpy())
        results.append(out)
    for i, (c, g) in enumerate(zip(*results)):
        assert c.dtype == g.dtype, i
        np.testing.assert_array_equal(g, c, err_msg=f"result {i}")


def test_bf16_math_on_the_device_matches_the_cpu():
    # the sixteenth session's bfloat16 math (float32 compute, one rounding) and bfloat16 leaves
    r = rng(78)
    x, y = randn(r, 3, 4), randn(r, 4, 5)
    results = []
    for dev in ("cpu", DEV):
        a = md.tensor(x, device=dev).to("bfloat16").requires_grad_()
        b = md.tensor(y, device=dev).to("bfloat16").requires_grad_()
        out = (F.silu(a @ b) * 2.0 + 1.0).softmax(-1).sum(0) + a.sum() + (a > 0).sum()
        out.float().sum().backward()
        assert out.dtype == "bfloat16" and a.grad.dtype == "bfloat16"
        results.append([out.float().numpy(), a.grad.float().numpy(), b.grad.float().numpy()])
    for c, g in zip(*results):
        np.testing.assert_allclose(g, c, rtol=1e-2, atol=1e-2)


def test_the_default_device_puts_new_tensors_and_layers_on_the_gpu():
    # md.set_default_device / `with md.device("cuda")` (test_default_device.py checks where the default
    # is consulted on machines without CUDA): what is made inside lands on the GPU and computes there
    x_cpu = md.randn(4, 2)
    try:
        with md.device("cuda"):
            made = [md.zeros(2), md.tensor([1.0, 2.0]), md.randn(3), md.arange(4), md.linspace(0, 1, 3), md.eye(2)]
            assert all(t.device == "cuda:0" for t in made)
            layer, grouped = md.nn.Linear(2, 3), md.nn.Conv2d(2, 4, 3, groups=2, padding=1)
            unet = md.UNet2DModel(
                sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
                down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
            )  # fmt: skip
            for m in (layer, grouped, unet):
                assert all(p.device == "cuda:0" for p in m.parameters())
            assert md.zeros_like(x_cpu).device == "cpu" and md.nn.Linear(2, 3, device="cpu").weight.device == "cpu"
            y = layer(x_cpu.to("cuda"))
            img = md.randn(2, 2, 6, 6)
            loss = y.square().mean() + grouped(img).square().mean()
            loss = loss + unet(md.randn(2, 1, 8, 8), md.tensor([3, 7])).sample.square().mean()
            loss.backward()
            assert layer.weight.grad.device == "cuda:0" and unet.conv_in.weight.grad.device == "cuda:0"
            np.testing.assert_allclose(
                y.cpu().numpy(), x_cpu.numpy() @ layer.weight.cpu().numpy().T + layer.bias.cpu().numpy(), rtol=1e-5
            )
        assert md.get_default_device() == "cpu" and md.zeros(1).device == "cpu"
        md.set_default_device("cuda")
        assert md.ones(2).device == "cuda:0"
    finally:
        md.set_default_device(None)
