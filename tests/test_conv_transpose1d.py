"""F.conv_transpose1d and nn.ConvTranspose1d, composed as conv_transpose2d over a (N, C, 1, L) view:
values and input, weight and bias gradients against torch (the oracle) and against a float64 NumPy
reference with finite differences (no torch needed); the module's state dict from torch's, repr,
initialisation and ``output_size``; that the result is a tensor of its own (a view of it when
unbatched, as torch's); and the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradcheck import check_grads

import minidiff as md

RNG = np.random.default_rng(0)
TOL = 1e-4


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _arrays(*shapes):
    return [RNG.standard_normal(s).astype(np.float32) for s in shapes]


def conv_transpose1d_ref(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """float64 transposed conv of x (N, C, L) by w (C, O / groups, k): each input position i
    scatters its taps to i * stride + j * dilation of the full output, which is then cropped by
    padding at both ends and given output_padding zeros at the end."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n, c, length = x.shape
    _, o_g, k = w.shape
    c_g = c // groups
    full = (length - 1) * stride + dilation * (k - 1) + 1
    out = np.zeros((n, o_g * groups, full + output_padding))  # (N, O, full + output_padding)
    for g in range(groups):
        xs = x[:, g * c_g : (g + 1) * c_g]  # (N, C / groups, L)
        for j in range(k):
            contrib = np.einsum("ncl,co->nol", xs, w[g * c_g : (g + 1) * c_g, :, j])  # (N, O / groups, L)
            start = j * dilation
            out[:, g * o_g : (g + 1) * o_g, start : start + (length - 1) * stride + 1 : stride] += contrib
    out = out[:, :, padding : full - padding + output_padding]
    return out if b is None else out + np.asarray(b, np.float64).reshape(1, -1, 1)


# (N or None for unbatched, C, L, out, k, stride, padding, output_padding, groups, dilation)
CASES = [
    (2, 4, 7, 6, 3, 1, 0, 0, 1, 1),  # the native op as it is
    (3, 4, 6, 6, 3, 2, 1, 1, 1, 1),
    (2, 4, 5, 6, 4, 3, 2, 2, 1, 1),
    (2, 4, 7, 6, 3, 1, 2, 1, 1, 2),  # output_padding below the dilation
    (2, 4, 6, 6, 3, 2, 1, 1, 2, 2),  # groups and dilation
    (3, 6, 5, 4, 2, 3, 0, 2, 2, 1),
    (None, 4, 6, 6, 3, 2, 1, 0, 2, 2),  # unbatched
    (None, 4, 5, 2, 1, 1, 0, 0, 1, 1),
    (1, 2, 4, 2, 3, (2,), (1,), (1,), 2, (1,)),  # 1-tuples, one channel per group
]
IDS = [f"case{i}" for i in range(len(CASES))]


def _case_arrays(case):
    n, c, length, o, k, _, _, _, groups, _ = case
    x_shape = (c, length) if n is None else (n, c, length)
    return _arrays(x_shape, (c, o // groups, k), (o,))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_matches_torch_values_and_gradients(torch, case):
    args = case[5:]
    x, w, b = _case_arrays(case)
    for use_bias in (True, False):
        xs = [md.tensor(a, requires_grad=True) for a in (x, w, b)]
        ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
        out = md.F.conv_transpose1d(xs[0], xs[1], xs[2] if use_bias else None, *args)
        want = torch.nn.functional.conv_transpose1d(ts[0], ts[1], ts[2] if use_bias else None, *args)
        assert tuple(out.shape) == tuple(want.shape)
        np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=TOL, atol=TOL)
        g = RNG.standard_normal(tuple(want.shape)).astype(np.float32)
        out.backward(md.tensor(g))
        want.backward(torch.tensor(g))
        for i, (m, t) in enumerate(zip(xs, ts)):
            if i == 2 and not use_bias:
                assert m.grad is None
                continue
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=TOL, atol=TOL, err_msg=f"gradient {i}")


@pytest.mark.parametrize("case", [CASES[i] for i in (1, 4, 6)], ids=["strided", "grouped_dilated", "unbatched"])
def test_matches_numpy_and_finite_differences(case):
    stride, padding, output_padding, groups, dilation = case[5:]
    x, w, b = _case_arrays(case)
    out = md.F.conv_transpose1d(md.tensor(x), md.tensor(w), md.tensor(b), *case[5:])
    batched = x if x.ndim == 3 else x[None]
    want = conv_transpose1d_ref(batched, w, b, stride, padding, output_padding, groups, dilation)
    np.testing.assert_allclose(out.numpy(), want if x.ndim == 3 else want[0], rtol=TOL, atol=TOL)
    check_grads(lambda xt, wt, bt: md.F.conv_transpose1d(xt, wt, bt, *case[5:]), [x, w, b])


def test_result_is_its_own_tensor_and_unbatched_a_view_of_it():
    x, w = _arrays((2, 3, 5), (3, 2, 3))
    for groups, dilation in ((1, 1), (1, 2)):  # the native op and the composed one
        out = md.F.conv_transpose1d(md.tensor(x), md.tensor(w), stride=2, groups=groups, dilation=dilation)
        assert not out._is_view()
        out.add_(1)  # writes no input
        one = md.F.conv_transpose1d(md.tensor(x[0]), md.tensor(w), stride=2, dilation=dilation)
        assert one._is_view()  # as torch's: the unbatched result is a view of the batched one
    xt = md.tensor(x)
    md.F.conv_transpose1d(xt, md.tensor(w)).mul_(0)
    np.testing.assert_array_equal(xt.numpy(), x)


def test_unbatched_is_a_view_as_torchs(torch):
    x, w = _arrays((3, 5), (3, 2, 3))
    want = torch.nn.functional.conv_transpose1d(torch.tensor(x), torch.tensor(w))
    assert md.F.conv_transpose1d(md.tensor(x), md.tensor(w))._is_view() == want._is_view()


# ---- the module

MODULE_KWARGS = [
    dict(),
    dict(stride=2, padding=1, output_padding=1, bias=False),
    dict(stride=3, padding=2, output_padding=2, groups=2, dilation=2),
    dict(stride=(2,), padding=(1,), output_padding=(1,), dilation=(2,), groups=4),
]


@pytest.mark.parametrize("kw", MODULE_KWARGS, ids=[f"kw{i}" for i in range(len(MODULE_KWARGS))])
def test_module_matches_torch(torch, kw):
    ours, theirs = md.nn.ConvTranspose1d(4, 8, 3, **kw), torch.nn.ConvTranspose1d(4, 8, 3, **kw)
    assert repr(ours) == repr(theirs)
    for name in ("kernel_size", "stride", "padding", "output_padding", "dilation", "groups", "padding_mode"):
        assert getattr(ours, name) == getattr(theirs, name), name
    ours.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    for shape in ((2, 4, 6), (4, 5)):
        (x,) = _arrays(shape)
        xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, want = ours(xm), theirs(xt)
        np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=TOL, atol=TOL)
        g = RNG.standard_normal(tuple(want.shape)).astype(np.float32)
        ours.zero_grad()
        theirs.zero_grad()
        out.backward(md.tensor(g))
        want.backward(torch.tensor(g))
        np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=TOL, atol=TOL)
        grads = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), rtol=TOL, atol=TOL, err_msg=name)


def test_module_output_size_as_torchs(torch):
    ours, theirs = (
        md.nn.ConvTranspose1d(2, 3, 3, stride=3, padding=1),
        torch.nn.ConvTranspose1d(2, 3, 3, stride=3, padding=1),
    )
    ours.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    (x,) = _arrays((2, 2, 5))
    for size in ([13], [14], (15,), [2, 3, 15]):
        out, want = ours(md.tensor(x), output_size=size), theirs(torch.tensor(x), output_size=size)
        np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=TOL, atol=TOL)
    out, want = ours(md.tensor(x[0]), output_size=[3, 14]), theirs(torch.tensor(x[0]), output_size=[3, 14])
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=TOL, atol=TOL)
    with pytest.raises(ValueError, match=r"ConvTranspose1d: requested an output size of \[16\].*from \[13\] to \[15\]"):
        ours(md.tensor(x), output_size=[16])
    with pytest.raises(ValueError, match="ConvTranspose1d: for 3D input, output_size must have 1 or 3 elements"):
        ours(md.tensor(x), output_size=[3, 14])
    with pytest.raises(TypeError, match="ConvTranspose1d: output_size must be a sequence of ints"):
        ours(md.tensor(x), output_size=14)


def test_module_state_repr_and_draw_without_torch():
    conv = md.nn.ConvTranspose1d(6, 4, 5, stride=2, output_padding=1, groups=2, bias=False)
    assert (
        repr(conv) == "ConvTranspose1d(6, 4, kernel_size=(5,), stride=(2,), output_padding=(1,), groups=2, bias=False)"
    )
    assert repr(md.nn.ConvTranspose1d(2, 3, 1)) == "ConvTranspose1d(2, 3, kernel_size=(1,), stride=(1,))"
    assert [(k, tuple(v.shape)) for k, v in conv.state_dict().items()] == [("weight", (6, 2, 5))]
    assert isinstance(conv, md.nn.Module) and "ConvTranspose1d" in md.nn.__all__
    assert "conv_transpose1d" in md.F.__all__
    bound = 1 / math.sqrt(1 * 5)  # torch's fan-in: the weight's dim 1 (out / groups = 1) * k, not in / groups * k
    md.manual_seed(0)
    draws = [md.nn.ConvTranspose1d(12, 2, 5, groups=2) for _ in range(30)]
    for name in ("weight", "bias"):  # the largest of many uniform draws nears the bound
        values = np.abs(np.concatenate([getattr(m, name).numpy().ravel() for m in draws]))
        assert bound * 0.8 < values.max() <= bound, name
    (x,) = _arrays((2, 6, 4))
    want = conv_transpose1d_ref(x, conv.weight.numpy(), None, 2, 0, 1, 2, 1)
    np.testing.assert_allclose(conv(md.tensor(x)).numpy(), want, rtol=TOL, atol=TOL)


# ---- errors


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda x, w: md.F.conv_transpose1d(x, w, stride=2, output_padding=2),
            ValueError,
            "output_padding must be smaller",
        ),
        (lambda x, w: md.F.conv_transpose1d(x, w, output_padding=1), ValueError, r"output_padding=1 with stride=1"),
        (lambda x, w: md.F.conv_transpose1d(x, w, stride=(2, 2)), TypeError, "conv_transpose1d: stride must be an int"),
        (lambda x, w: md.F.conv_transpose1d(x, w, padding=1.5), TypeError, "padding must be an int or a 1-tuple"),
        (lambda x, w: md.F.conv_transpose1d(x, w, dilation=0), ValueError, "dilation must be positive"),
        (lambda x, w: md.F.conv_transpose1d(x, w, padding=-1), ValueError, "must be non-negative"),
        (lambda x, w: md.F.conv_transpose1d(x, w, groups=3), ValueError, r"weight \(4, 3, 3\) does not fit.*groups=3"),
        (lambda x, w: md.F.conv_transpose1d(x, w, groups=0), ValueError, "groups must be positive"),
        (lambda x, w: md.F.conv_transpose1d(x[0:1, 0:3], w), ValueError, r"weight \(4, 3, 3\) does not fit \(3,"),
        (lambda x, w: md.F.conv_transpose1d(x.reshape(1, 2, 4, 5), w), ValueError, r"expected a 2D \(C, L\)"),
        (lambda x, w: md.F.conv_transpose1d(x, w.reshape(4, 9)), ValueError, r"weight \(4, 9\) does not fit"),
        (lambda x, w: md.F.conv_transpose1d(x, w, md.zeros(4)), ValueError, r"bias must have shape \(3,\)"),
        (lambda x, w: md.F.conv_transpose1d(x, w, padding=4), ValueError, "gives output length -1"),
        (lambda x, w: md.F.conv_transpose1d(x.numpy(), w), TypeError, "conv_transpose1d: input must be an md tensor"),
    ],
)
def test_functional_errors(call, error, match):
    x, w = md.randn(2, 4, 5), md.randn(4, 3, 3)
    with pytest.raises(error, match=match):
        call(x, w)


def test_module_errors():
    with pytest.raises(ValueError, match='ConvTranspose1d: only the "zeros" padding mode'):
        md.nn.ConvTranspose1d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"ConvTranspose1d: in_channels \(3\) and out_channels \(4\)"):
        md.nn.ConvTranspose1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="ConvTranspose1d: output_padding must be smaller"):
        md.nn.ConvTranspose1d(2, 2, 3, stride=2, output_padding=2)
    with pytest.raises(TypeError, match="ConvTranspose1d: kernel_size must be an int or a 1-tuple"):
        md.nn.ConvTranspose1d(2, 2, (3, 3))
    with pytest.raises(ValueError, match="ConvTranspose1d: invalid .* stride 0"):
        md.nn.ConvTranspose1d(2, 2, 3, stride=0)
    with pytest.raises(ValueError, match=r"conv_transpose1d: weight \(2, 2, 3\) does not fit \(3,"):
        md.nn.ConvTranspose1d(2, 2, 3)(md.randn(1, 3, 4))
