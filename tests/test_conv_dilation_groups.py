"""Dilated and grouped convolutions (F.conv2d, F.conv_transpose2d, F.conv1d and their modules),
composed around the native ungrouped, undilated ops: values and input, weight and bias gradients
against torch (the oracle) and against a float64 NumPy reference with finite differences; the
modules' state dicts, reprs and initialisation; the errors; and that dilation 1 with groups 1 is
still the native op and the native layer."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from gradcheck import check_grads, conv2d_ref

import minidiff as md

torch = pytest.importorskip("torch")
tF = torch.nn.functional

# torch warns that an even kernel with padding="same" and an odd dilation pads a copy of the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

RNG = np.random.default_rng(0)
TOL = 1e-4


def _arrays(*shapes):
    return [RNG.standard_normal(s).astype(np.float32) for s in shapes]


def _against_torch(ours, theirs, arrays):
    """Output and every gradient of ours(*md tensors) and theirs(*torch tensors), on the same data
    and the same random output gradient."""
    xs = [md.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, want = ours(*xs), theirs(*ts)
    assert tuple(out.shape) == tuple(want.shape)
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=TOL, atol=TOL)
    g = RNG.standard_normal(tuple(want.shape)).astype(np.float32)
    out.backward(md.tensor(g))
    want.backward(torch.tensor(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=TOL, atol=TOL, err_msg=f"gradient {i}")


# ---- F.conv2d: (N, C, H, W, out, kh, kw, stride, padding, dilation, groups). Together they run each
# composed path: stride-1 dims split into dilation phases, strided dims with a spread kernel, one
# native conv per group, depthwise as a sum over taps (with and without a channel multiplier).
CONV2D_CASES = [
    (2, 4, 9, 11, 6, 3, 3, 1, 1, 2, 1),
    (2, 4, 9, 11, 6, 3, 3, 1, 0, (2, 3), 1),
    (2, 4, 10, 9, 6, 3, 3, 2, 1, 2, 1),  # stride and dilation: the spread kernel
    (3, 4, 12, 11, 6, 2, 3, (2, 1), (1, 2), (3, 2), 1),  # one dim of each kind
    (2, 6, 8, 9, 9, 3, 3, 1, 1, 1, 3),
    (2, 8, 9, 7, 4, 1, 3, 1, (0, 1), 1, 4),  # one output channel per group
    (2, 4, 9, 11, 6, 3, 2, 1, "same", (2, 3), 2),  # "same": dilation * (k - 1), the odd one after
    (2, 4, 9, 11, 8, 2, 2, 1, "same", 3, 2),
    (1, 4, 9, 11, 6, 3, 3, 2, "valid", 2, 2),
    (2, 6, 10, 7, 6, 3, 3, 2, 1, 2, 6),  # depthwise
    (2, 4, 12, 12, 8, 3, 5, (2, 1), (1, 2), (1, 3), 4),  # depthwise, 2 outputs per channel
    (2, 5, 7, 8, 5, 3, 3, 1, "same", 2, 5),
    (2, 3, 9, 10, 6, 3, 2, 3, (2, 0), 1, 3),
]


@pytest.mark.parametrize("n, c, h, w, o, kh, kw, stride, padding, dilation, groups", CONV2D_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(n, c, h, w, o, kh, kw, stride, padding, dilation, groups, bias):
    arrays = _arrays((n, c, h, w), (o, c // groups, kh, kw), (o,))
    args = stride, padding, dilation, groups
    if bias:
        _against_torch(lambda x, k, b: md.F.conv2d(x, k, b, *args), lambda x, k, b: tF.conv2d(x, k, b, *args), arrays)
    else:
        _against_torch(
            lambda x, k: md.F.conv2d(x, k, None, *args), lambda x, k: tF.conv2d(x, k, None, *args), arrays[:2]
        )


@pytest.mark.parametrize("groups, dilation", [(2, 1), (1, 2), (4, 3), (2, (1, 2))])
def test_conv2d_unbatched_and_keyword_forms(groups, dilation):
    x, k, b = _arrays((4, 7, 8), (8, 4 // groups, 3, 3), (8,))
    kw = dict(stride=(1, 2), padding=(2, 1), dilation=dilation, groups=groups)
    _against_torch(lambda x, k, b: md.F.conv2d(x, k, b, **kw), lambda x, k, b: tF.conv2d(x, k, b, **kw), [x, k, b])
    # dilation 1 spelled as a list, with groups: the composed path, the same numbers
    x4 = RNG.standard_normal((2, 4, 7, 8)).astype(np.float32)
    got = md.F.conv2d(md.tensor(x4), md.tensor(k), None, 1, 1, [1, 1], groups).numpy()
    want = tF.conv2d(torch.tensor(x4), torch.tensor(k), None, 1, 1, 1, groups).numpy()
    np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)


# ---- F.conv_transpose2d: (N, C, H, W, out, kh, kw, stride, padding, output_padding, dilation, groups)
CONV_T_CASES = [
    (2, 4, 5, 6, 6, 3, 3, 1, 0, 0, 2, 1),
    (2, 4, 5, 6, 6, 3, 2, 2, 1, 1, 2, 2),
    (1, 4, 5, 6, 4, 3, 3, 1, 2, 1, 2, 4),  # output_padding < dilation (not < stride): allowed
    (2, 6, 4, 5, 9, 2, 3, (2, 3), (0, 1), (1, 2), (1, 2), 3),
    (2, 2, 3, 3, 2, 3, 3, 1, 0, 1, 2, 1),  # output_padding past the full output: zeros, then the bias
    (2, 6, 4, 4, 6, 3, 3, 2, 1, 0, 1, 6),
    (2, 4, 4, 5, 8, 4, 4, 2, (1, 2), (1, 0), 1, 2),
]


@pytest.mark.parametrize("n, c, h, w, o, kh, kw, stride, padding, output_padding, dilation, groups", CONV_T_CASES)
def test_conv_transpose2d_matches_torch(n, c, h, w, o, kh, kw, stride, padding, output_padding, dilation, groups):
    arrays = _arrays((n, c, h, w), (c, o // groups, kh, kw), (o,))
    args = stride, padding, output_padding, groups, dilation
    _against_torch(
        lambda x, k, b: md.F.conv_transpose2d(x, k, b, *args),
        lambda x, k, b: tF.conv_transpose2d(x, k, b, *args),
        arrays,
    )
    # unbatched, no bias, keywords
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    _against_torch(
        lambda x, k: md.F.conv_transpose2d(x, k, **kw),
        lambda x, k: tF.conv_transpose2d(x, k, **kw),
        [arrays[0][0], arrays[1]],
    )


# ---- F.conv1d: (N, C, L, out, k, stride, padding, dilation, groups)
CONV1D_CASES = [
    (2, 4, 13, 6, 3, 1, "same", 2, 2),
    (2, 4, 13, 8, 4, 2, 1, 3, 4),
    (1, 3, 9, 3, 2, 1, "same", 3, 3),
    (3, 4, 12, 4, 4, 1, "same", 1, 2),
    (2, 6, 16, 4, 3, 3, (2,), 2, 2),
    (2, 4, 11, 8, 5, 1, "valid", 2, 1),
]


@pytest.mark.parametrize("n, c, length, o, k, stride, padding, dilation, groups", CONV1D_CASES)
def test_conv1d_matches_torch(n, c, length, o, k, stride, padding, dilation, groups):
    arrays = _arrays((n, c, length), (o, c // groups, k), (o,))
    args = stride, padding, dilation, groups
    _against_torch(lambda x, w, b: md.F.conv1d(x, w, b, *args), lambda x, w, b: tF.conv1d(x, w, b, *args), arrays)
    _against_torch(
        lambda x, w: md.F.conv1d(x, w, None, *args),
        lambda x, w: tF.conv1d(x, w, None, *args),
        [arrays[0][0], arrays[1]],
    )


# ---- the modules: torch's weights loaded into ours give torch's outputs and gradients


def _load_torch_state(ours, theirs):
    ours.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})


def _check_module(ours, theirs, input_shape):
    _load_torch_state(ours, theirs)
    assert repr(ours) == repr(theirs)
    assert ours.dilation == theirs.dilation and ours.groups == theirs.groups and ours.padding == theirs.padding
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    x = RNG.standard_normal(input_shape).astype(np.float32)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, want = ours(xm), theirs(xt)
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=TOL, atol=TOL)
    g = RNG.standard_normal(tuple(want.shape)).astype(np.float32)
    out.backward(md.tensor(g))
    want.backward(torch.tensor(g))
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=TOL, atol=TOL)
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), rtol=TOL, atol=TOL, err_msg=name)


@pytest.mark.parametrize(
    "kernel, kw",
    [
        (3, dict(dilation=2, groups=2, padding="same", padding_mode="reflect")),
        ((3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 3), groups=4, padding_mode="circular")),
        (3, dict(groups=4, bias=False)),
        (3, dict(dilation=2, padding=2, padding_mode="replicate")),
        (2, dict(dilation=3, padding="same", groups=2)),
        (3, dict(dilation=(1, 2), padding="valid", groups=2, padding_mode="reflect")),
        (3, dict(padding=1)),  # the native layer
    ],
)
def test_conv2d_module_matches_torch(kernel, kw):
    in_channels, out_channels = 4, 8
    _check_module(
        md.nn.Conv2d(in_channels, out_channels, kernel, **kw),
        torch.nn.Conv2d(in_channels, out_channels, kernel, **kw),
        (2, 4, 9, 10),
    )
    _check_module(md.nn.Conv2d(4, 8, kernel, **kw), torch.nn.Conv2d(4, 8, kernel, **kw), (4, 9, 10))  # unbatched


@pytest.mark.parametrize(
    "kw",
    [
        dict(dilation=2, groups=2, stride=2, output_padding=1, padding=1),
        dict(stride=1, dilation=2, output_padding=1),
        dict(groups=4, stride=(2, 1), output_padding=(1, 0), bias=False),
        dict(stride=2),  # the native layer
    ],
)
def test_conv_transpose2d_module_matches_torch(kw):
    ours, theirs = md.nn.ConvTranspose2d(4, 8, 3, **kw), torch.nn.ConvTranspose2d(4, 8, 3, **kw)
    assert ours.output_padding == theirs.output_padding
    _check_module(ours, theirs, (2, 4, 5, 6))


@pytest.mark.parametrize(
    "kw",
    [
        dict(dilation=2, groups=2, padding="same", padding_mode="reflect"),
        dict(dilation=3, groups=4, stride=2, padding=1, bias=False),
        dict(groups=2, padding="same", padding_mode="circular"),
    ],
)
def test_conv1d_module_matches_torch(kw):
    _check_module(md.nn.Conv1d(4, 8, 4, **kw), torch.nn.Conv1d(4, 8, 4, **kw), (2, 4, 13))


@pytest.mark.parametrize(
    "make, fan_in",
    [
        (lambda: md.nn.Conv2d(8, 12, (3, 2), groups=4), 2 * 6),
        (lambda: md.nn.Conv2d(8, 8, 3, groups=8, dilation=2), 1 * 9),
        (lambda: md.nn.ConvTranspose2d(8, 12, 3, groups=4), 3 * 9),  # torch's fan-in: weight dim 1 * kernel area
        (lambda: md.nn.Conv1d(6, 4, 5, groups=2), 3 * 5),
    ],
)
def test_grouped_modules_draw_as_torch(make, fan_in):
    bound = 1 / math.sqrt(fan_in)
    for _ in range(3):  # the largest of a few hundred uniform draws nears the bound
        m = make()
        for p in (m.weight, m.bias):
            values = np.abs(p.numpy())
            assert values.max() <= bound and values.max() > (0.8 * bound if p is m.weight else 0.3 * bound)


def test_plain_settings_are_the_native_layers_and_op():
    conv = md.nn.Conv2d(3, 4, 3, padding=1)
    assert type(conv) is md._core.nn.Conv2d and isinstance(conv, md.nn.Conv2d)
    assert type(md.nn.Conv2d(3, 4, 3, dilation=(1, 1), groups=1)) is md._core.nn.Conv2d
    assert type(md.nn.ConvTranspose2d(3, 4, 3, stride=2)) is md._core.nn.ConvTranspose2d
    grouped = md.nn.Conv2d(4, 4, 3, groups=2)
    assert type(grouped) is md.nn.Conv2d and isinstance(grouped, md._core.nn.Conv2d)
    assert issubclass(md._core.nn.Conv2d, md.nn.Conv2d) and issubclass(md.nn.Conv2d, md._core.nn.Conv2d)
    assert isinstance(md.nn.ConvTranspose2d(4, 4, 3, groups=2), md.nn.ConvTranspose2d)
    assert not isinstance(md.nn.Linear(2, 2), md.nn.Conv2d)
    # F.conv2d / F.conv_transpose2d with dilation 1 and groups 1: the native op, one node
    x = md.randn(1, 4, 6, 6, requires_grad=True)
    assert md.F.conv2d(x, md.randn(2, 4, 3, 3), None, 1, 1, 1, 1).grad_fn.name() == "Conv2dBackward0"
    assert md.F.conv2d(x, md.randn(2, 4, 3, 3), dilation=(1, 1)).grad_fn.name() == "Conv2dBackward0"
    assert md.F.conv_transpose2d(x, md.randn(4, 2, 3, 3), stride=2).grad_fn.name() == "ConvTranspose2dBackward0"
    assert md.F.conv2d(x, md.randn(2, 4, 3, 3), dilation=2).grad_fn.name() != "Conv2dBackward0"


def test_subclasses_and_copies():
    class Plain(md.nn.Conv2d):
        pass

    class Grouped(md.nn.Conv2d):
        __slots__ = ()  # as any Python subclass of a native layer, for copy.deepcopy

        def __init__(self):
            super().__init__(4, 6, 3, padding="same", dilation=2, groups=2)

    plain, grouped = Plain(3, 4, 3, padding=1), Grouped()
    assert type(plain) is Plain and not isinstance(md.nn.Conv2d(3, 4, 3), Plain)
    x = md.randn(2, 3, 6, 7)
    want = md.F.conv2d(x, plain.weight, plain.bias, 1, 1)
    np.testing.assert_allclose(plain(x).numpy(), want.numpy(), rtol=TOL, atol=TOL)
    assert repr(grouped) == "Grouped(4, 6, kernel_size=(3, 3), stride=(1, 1), padding=same, dilation=(2, 2), groups=2)"
    for m in (grouped, md.nn.Conv2d(4, 6, 3, dilation=2, groups=2, padding_mode="reflect", padding=1)):
        twin = copy.deepcopy(m)
        assert type(twin) is type(m) and twin.groups == 2 and twin.dilation == (2, 2) and twin.padding == m.padding
        x = md.randn(2, 4, 7, 8)
        np.testing.assert_array_equal(twin(x).numpy(), m(x).numpy())
        with md.no_grad():
            twin.weight.mul_(2.0)
        assert not np.allclose(twin(x).numpy(), m(x).numpy())  # its own weight


def test_grouped_module_trains():
    m = md.nn.Conv2d(4, 4, 3, padding=1, groups=4, dilation=2)
    opt = md.optim.SGD(m.parameters(), lr=0.1)
    x, target = md.randn(2, 4, 8, 8), md.randn(2, 4, 6, 6)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = md.F.mse_loss(m(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


# ---- bad input: errors naming the op and the shapes


def test_functional_errors():
    x = md.randn(2, 6, 8, 8)
    with pytest.raises(
        ValueError, match=r"conv2d: input of shape \(2, 6, 8, 8\) has 6 channels.*\(4, 2, 3, 3\).*groups=2"
    ):
        md.F.conv2d(x, md.randn(4, 2, 3, 3), groups=2)
    with pytest.raises(
        ValueError, match=r"conv2d: the 6 channels of input \(2, 6, 8, 8\) are not divisible by groups=4"
    ):
        md.F.conv2d(x, md.randn(4, 2, 3, 3), groups=4)
    with pytest.raises(ValueError, match=r"conv2d: the 4 output channels of weight \(4, 2, 3, 3\).*groups=3"):
        md.F.conv2d(x, md.randn(4, 2, 3, 3), groups=3)
    with pytest.raises(ValueError, match="conv2d: groups must be positive"):
        md.F.conv2d(x, md.randn(4, 6, 3, 3), groups=0)
    with pytest.raises(TypeError, match="conv2d: groups must be an int"):
        md.F.conv2d(x, md.randn(4, 3, 3, 3), groups=2.0)
    with pytest.raises(ValueError, match="conv2d: dilation must be positive"):
        md.F.conv2d(x, md.randn(4, 6, 3, 3), dilation=0)
    with pytest.raises(TypeError, match="conv2d: dilation"):
        md.F.conv2d(x, md.randn(4, 6, 3, 3), dilation=(1, 2, 3))
    with pytest.raises(ValueError, match="conv2d: padding='same' needs stride 1"):
        md.F.conv2d(x, md.randn(4, 3, 3, 3), stride=2, padding="same", groups=2)
    with pytest.raises(
        ValueError, match=r"conv2d: weight of shape \(4, 6, 3, 3\) with dilation \(4, 4\) spans \(9, 9\)"
    ):
        md.F.conv2d(x, md.randn(4, 6, 3, 3), dilation=4)
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(4,\)"):
        md.F.conv2d(x, md.randn(4, 3, 3, 3), md.randn(3), groups=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d: the 6 channels of input .* groups=4"):
        md.F.conv_transpose2d(x, md.randn(6, 2, 3, 3), groups=4)
    with pytest.raises(
        ValueError, match=r"conv_transpose2d: input of shape \(2, 6, 8, 8\) has 6 channels.*\(4, 2, 3, 3\)"
    ):
        md.F.conv_transpose2d(x, md.randn(4, 2, 3, 3), groups=2)
    with pytest.raises(
        ValueError, match="conv_transpose2d: output_padding must be smaller than either stride or dilation"
    ):
        md.F.conv_transpose2d(x, md.randn(6, 2, 3, 3), stride=2, output_padding=2, dilation=2, groups=2)
    with pytest.raises(ValueError, match="conv_transpose2d: .* gives output size"):
        md.F.conv_transpose2d(md.randn(1, 2, 1, 1), md.randn(2, 1, 1, 1), padding=1, dilation=2, groups=2)
    with pytest.raises(ValueError, match=r"conv1d: weight \(4, 2, 3\) does not fit.*groups=2"):
        md.F.conv1d(md.randn(2, 6, 10), md.randn(4, 2, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv1d: the kernel of size 3 \(dilation 5: spanning 11\)"):
        md.F.conv1d(md.randn(2, 6, 10), md.randn(4, 6, 3), dilation=5)


def test_module_errors():
    with pytest.raises(
        ValueError, match=r"Conv2d: in_channels \(6\) and out_channels \(4\) must both be divisible by groups \(4\)"
    ):
        md.nn.Conv2d(6, 4, 3, groups=4)
    with pytest.raises(ValueError, match=r"Conv2d: .*out_channels \(6\).*groups \(4\)"):
        md.nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="Conv2d: groups must be positive"):
        md.nn.Conv2d(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match="Conv2d: dilation must be positive"):
        md.nn.Conv2d(4, 4, 3, dilation=(1, 0))
    with pytest.raises(ValueError, match="Conv2d: padding='same' needs stride 1"):
        md.nn.Conv2d(4, 4, 3, stride=2, padding="same", dilation=2)
    with pytest.raises(ValueError, match="Conv2d: padding must be"):
        md.nn.Conv2d(4, 4, 3, padding="full", groups=2)
    with pytest.raises(ValueError, match="ConvTranspose2d: in_channels \\(6\\) and out_channels \\(4\\)"):
        md.nn.ConvTranspose2d(6, 4, 3, groups=4)
    with pytest.raises(
        ValueError, match="ConvTranspose2d: output_padding must be smaller than either stride or dilation"
    ):
        md.nn.ConvTranspose2d(4, 4, 3, stride=2, dilation=2, output_padding=2)
    with pytest.raises(ValueError, match=r"Conv1d: in_channels \(3\) and out_channels \(4\)"):
        md.nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv1d: invalid .* dilation 0"):
        md.nn.Conv1d(4, 4, 3, dilation=0)


# ---- without torch as the oracle: a float64 NumPy reference and finite differences


def _dilated_grouped_ref(x, w, b, stride, pads, dilation, groups):
    """float64 grouped, dilated cross-correlation: the kernel's taps spread apart by zeros, then
    gradcheck.conv2d_ref (direct loops) per group."""
    (dh, dw), (o, cg, kh, kw) = dilation, w.shape
    spread = np.zeros((o, cg, (kh - 1) * dh + 1, (kw - 1) * dw + 1))
    spread[:, :, ::dh, ::dw] = w
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), pads[0], pads[1]))
    parts = [conv2d_ref(a, k, None, stride) for a, k in zip(np.split(xp, groups, 1), np.split(spread, groups, 0))]
    return np.concatenate(parts, 1) + b.astype(np.float64)[None, :, None, None]


@pytest.mark.parametrize(
    "c, o, kernel, stride, padding, pads, dilation, groups",
    [
        (4, 6, (3, 3), (1, 1), 1, ((1, 1), (1, 1)), (2, 2), 2),
        (4, 4, (2, 3), (2, 1), "valid", ((0, 0), (0, 0)), (3, 2), 1),
        (4, 8, (2, 2), (1, 1), "same", ((1, 2), (1, 2)), (3, 3), 4),
        (3, 3, (3, 3), (2, 2), (1, 0), ((1, 1), (0, 0)), (1, 2), 3),
    ],
)
def test_conv2d_against_numpy_and_finite_differences(c, o, kernel, stride, padding, pads, dilation, groups):
    x, w, b = _arrays((2, c, 9, 8), (o, c // groups, *kernel), (o,))

    def conv(x, w, b):
        return md.F.conv2d(x, w, b, stride, padding, dilation, groups)

    got = conv(md.tensor(x), md.tensor(w), md.tensor(b)).numpy()
    np.testing.assert_allclose(got, _dilated_grouped_ref(x, w, b, stride, pads, dilation, groups), rtol=TOL, atol=TOL)
    check_grads(conv, [x[:1], w, b])


@pytest.mark.parametrize(
    "stride, padding, output_padding, dilation, groups",
    [((2, 2), 1, 1, 2, 2), ((1, 1), 0, 1, 2, 1), ((2, 1), (0, 1), (1, 0), (1, 2), 4)],
)
def test_conv_transpose2d_is_the_adjoint_and_matches_finite_differences(
    stride, padding, output_padding, dilation, groups
):
    """<conv_transpose2d(y, w), x> == <y, conv2d(x, w)> for the conv2d it transposes (same stride,
    padding, dilation, groups; x the transposed conv's output size), and its gradients by finite differences."""
    y, w, b = _arrays((2, 4, 4, 5), (4, 8 // groups, 3, 3), (8,))
    out = md.F.conv_transpose2d(md.tensor(y), md.tensor(w), None, stride, padding, output_padding, groups, dilation)
    x = RNG.standard_normal(tuple(out.shape)).astype(np.float32)
    forward = md.F.conv2d(md.tensor(x), md.tensor(w), None, stride, padding, dilation, groups)
    # output_padding past the stride (allowed below the dilation) gives conv2d an extra row: not in y's range
    assert forward.shape[:2] == y.shape[:2] and forward.shape[2] >= y.shape[2] and forward.shape[3] >= y.shape[3]
    forward = forward[:, :, : y.shape[2], : y.shape[3]]
    lhs = float(np.sum(out.numpy().astype(np.float64) * x))
    rhs = float(np.sum(forward.numpy().astype(np.float64) * y))
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs))
    check_grads(
        lambda y, w, b: md.F.conv_transpose2d(y, w, b, stride, padding, output_padding, groups, dilation), [y[:1], w, b]
    )
