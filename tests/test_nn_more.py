"""More torch names composed in Python from md ops: adaptive pooling, pixel (un)shuffle, channel
dropout, instance norm, conv1d and the parameter containers. Values and every gradient against
torch, torch's state_dict keys and reprs, dropout's structure and seeding, and the errors."""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import minidiff as md

RNG = np.random.default_rng(0)


def randn(*shape, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def run_md(fn, *arrays):
    """fn on md tensors made from arrays (all require grad); backward with a random upstream
    gradient. Returns (value, [grads], upstream)."""
    tensors = [md.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    g = randn(*out.shape)
    out.backward(md.tensor(g))
    return out.numpy(), [t.grad.numpy() if t.grad is not None else None for t in tensors], g


def run_torch(torch, fn, *arrays, grad_out):
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    out.backward(torch.tensor(grad_out))
    return out.detach().numpy(), [t.grad.numpy() if t.grad is not None else None for t in tensors]


def assert_matches_torch(torch, md_fn, torch_fn, *arrays, rtol=1e-5, atol=1e-5):
    value, grads, g = run_md(md_fn, *arrays)
    expected, expected_grads = run_torch(torch, torch_fn, *arrays, grad_out=g)
    assert value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=rtol, atol=atol)
    for i, (got, want) in enumerate(zip(grads, expected_grads)):
        assert (got is None) == (want is None), f"gradient {i}: md {got is not None}, torch {want is not None}"
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"gradient of argument {i}")


def copy_from_torch(ours, ref) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})


def assert_module_matches_torch(torch, ours, ref, x: np.ndarray, rtol=1e-5, atol=1e-5) -> None:
    """Forward and backward of a module pair with the same weights: the output, the input's
    gradient and every parameter's gradient, by torch's names."""
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_m, out_t = ours(xm), ref(xt)
    g = randn(*out_t.shape)
    out_m.backward(md.tensor(g))
    out_t.backward(torch.tensor(g))
    np.testing.assert_allclose(out_m.numpy(), out_t.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=rtol, atol=atol)
    ours_params = dict(ours.named_parameters())
    for name, p in ref.named_parameters():
        assert ours_params[name].grad is not None, f"no gradient for {name}"
        np.testing.assert_allclose(ours_params[name].grad.numpy(), p.grad.numpy(), rtol=rtol, atol=atol, err_msg=name)


# ---- adaptive pooling

ADAPTIVE_CASES = [
    ((7, 7), 3),  # overlapping bins: rows 0-2, 2-4, 4-6
    ((8, 8), 4),  # equal bins: reshape and mean
    ((5, 5), 5),  # identity
    ((6, 6), (2, 4)),  # H divides, W does not
    ((7, 9), (None, 4)),  # None keeps H
    ((6, 5), (3, None)),  # None keeps W
    ((3, 3), 5),  # output larger than input: bins repeat rows
    ((4, 6), (5, 13)),
    ((5, 7), 1),  # global pool
    ((1, 1), (3, 2)),
]


@pytest.mark.parametrize("in_hw, output_size", ADAPTIVE_CASES)
@pytest.mark.parametrize("batched", [True, False])
def test_adaptive_avg_pool2d_matches_torch(in_hw, output_size, batched):
    torch = pytest.importorskip("torch")
    x = randn(2, 3, *in_hw) if batched else randn(3, *in_hw)
    assert_matches_torch(
        torch,
        lambda t: md.F.adaptive_avg_pool2d(t, output_size),
        lambda t: torch.nn.functional.adaptive_avg_pool2d(t, output_size),
        x,
    )


def test_adaptive_avg_pool2d_bins_by_hand():
    # 5 -> 3 along W: bins [0, 2), [1, 4), [3, 5)
    x = md.tensor(np.arange(5, dtype=np.float32).reshape(1, 1, 1, 5), requires_grad=True)
    out = md.F.adaptive_avg_pool2d(x, (1, 3))
    np.testing.assert_allclose(out.numpy().ravel(), [0.5, 2.0, 3.5])
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy().ravel(), [0.5, 0.5 + 1 / 3, 1 / 3, 1 / 3 + 0.5, 0.5], rtol=1e-6)


def test_adaptive_avg_pool2d_zero_output_and_empty_batch_as_torch():
    torch = pytest.importorskip("torch")
    x = randn(1, 2, 4, 4)
    assert md.F.adaptive_avg_pool2d(md.tensor(x), (0, 2)).shape == (1, 2, 0, 2)
    assert tuple(torch.nn.functional.adaptive_avg_pool2d(torch.tensor(x), (0, 2)).shape) == (1, 2, 0, 2)
    assert md.F.adaptive_avg_pool2d(md.tensor(randn(0, 2, 7, 4)), 3).shape == (0, 2, 3, 3)


@pytest.mark.parametrize("output_size", [3, (2, 4), (None, 2), (5, 8)])
def test_adaptive_avg_pool2d_module_matches_torch(output_size):
    torch = pytest.importorskip("torch")
    ours, ref = md.nn.AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size)
    assert repr(ours) == repr(ref)
    assert_module_matches_torch(torch, ours, ref, randn(2, 3, 7, 6))
    assert ours.state_dict() == {}


@pytest.mark.parametrize("in_hw, output_size", ADAPTIVE_CASES)
def test_adaptive_max_pool2d_matches_torch(in_hw, output_size):
    torch = pytest.importorskip("torch")
    x = randn(2, 3, *in_hw)
    assert_matches_torch(
        torch,
        lambda t: md.F.adaptive_max_pool2d(t, output_size),
        lambda t: torch.nn.functional.adaptive_max_pool2d(t, output_size),
        x,
    )
    _, indices = md.F.adaptive_max_pool2d(md.tensor(x), output_size, return_indices=True)
    _, expected = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), output_size, return_indices=True)
    assert indices.dtype == "int64"
    np.testing.assert_array_equal(indices.numpy(), expected.numpy())


def test_adaptive_max_pool2d_ties_go_to_the_first_as_torch_cpu():
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 1, 5, 5), dtype=np.float32)  # every bin is a tie
    assert_matches_torch(
        torch,
        lambda t: md.F.adaptive_max_pool2d(t, 3),
        lambda t: torch.nn.functional.adaptive_max_pool2d(t, 3),
        x,
    )


def test_adaptive_max_pool2d_module_unbatched_and_indices():
    torch = pytest.importorskip("torch")
    x = randn(3, 7, 5)
    ours = md.nn.AdaptiveMaxPool2d((3, 2), return_indices=True)
    ref = torch.nn.AdaptiveMaxPool2d((3, 2), return_indices=True)
    assert repr(ours) == repr(ref)
    (out, idx), (want, want_idx) = ours(md.tensor(x)), ref(torch.tensor(x))
    np.testing.assert_array_equal(out.numpy(), want.numpy())
    np.testing.assert_array_equal(idx.numpy(), want_idx.numpy())


@pytest.mark.parametrize("op", ["adaptive_avg_pool2d", "adaptive_max_pool2d"])
def test_adaptive_pool_errors_name_the_op(op):
    fn = getattr(md.F, op)
    with pytest.raises(ValueError, match=op):
        fn(md.randn(4, 4), 2)  # 2D
    with pytest.raises(ValueError, match=op):
        fn(md.randn(1, 2, 0, 4), 2)  # empty H
    with pytest.raises(ValueError, match=op):
        fn(md.randn(1, 2, 4, 4), -1)
    with pytest.raises(TypeError, match=op):
        fn(md.randn(1, 2, 4, 4), (2.0, 2))
    with pytest.raises(TypeError, match=op):
        fn(md.randn(1, 2, 4, 4), (1, 2, 3))
    with pytest.raises(TypeError, match=op):
        fn(np.zeros((1, 2, 4, 4), np.float32), 2)
    with pytest.raises(TypeError, match="AdaptiveAvgPool2d"):
        md.nn.AdaptiveAvgPool2d("3")


# ---- pixel shuffle


@pytest.mark.parametrize(
    "shape, r", [((2, 8, 3, 5), 2), ((1, 18, 2, 3), 3), ((4, 2, 3), 2), ((2, 3, 8, 2, 2), 2), ((1, 5, 4, 4), 1)]
)
def test_pixel_shuffle_matches_torch(shape, r):
    torch = pytest.importorskip("torch")
    assert_matches_torch(
        torch,
        lambda t: md.F.pixel_shuffle(t, r),
        lambda t: torch.nn.functional.pixel_shuffle(t, r),
        randn(*shape),
    )


@pytest.mark.parametrize("shape, r", [((2, 2, 4, 6), 2), ((1, 3, 6, 9), 3), ((3, 4, 2), 2), ((2, 3, 1, 4, 6), 2)])
def test_pixel_unshuffle_matches_torch(shape, r):
    torch = pytest.importorskip("torch")
    assert_matches_torch(
        torch,
        lambda t: md.F.pixel_unshuffle(t, r),
        lambda t: torch.nn.functional.pixel_unshuffle(t, r),
        randn(*shape),
    )


def test_pixel_shuffle_channel_order_by_hand_and_round_trip():
    # channel c * r * r + i * r + j lands at pixel offset (i, j) of channel c
    x = np.arange(8, dtype=np.float32).reshape(1, 8, 1, 1)
    out = md.F.pixel_shuffle(md.tensor(x), 2).numpy()
    np.testing.assert_array_equal(out[0, 0], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(out[0, 1], [[4, 5], [6, 7]])
    y = randn(2, 12, 3, 4)
    back = md.F.pixel_unshuffle(md.F.pixel_shuffle(md.tensor(y), 2), 2).numpy()
    np.testing.assert_array_equal(back, y)


def test_pixel_shuffle_modules_and_errors():
    torch = pytest.importorskip("torch")
    assert repr(md.nn.PixelShuffle(2)) == repr(torch.nn.PixelShuffle(2))
    assert repr(md.nn.PixelUnshuffle(3)) == repr(torch.nn.PixelUnshuffle(3))
    x = randn(2, 8, 3, 3)
    np.testing.assert_array_equal(
        md.nn.PixelShuffle(2)(md.tensor(x)).numpy(), torch.nn.PixelShuffle(2)(torch.tensor(x)).numpy()
    )
    with pytest.raises(ValueError, match="pixel_shuffle"):
        md.F.pixel_shuffle(md.randn(1, 3, 2, 2), 2)  # 3 channels, not divisible by 4
    with pytest.raises(ValueError, match="pixel_unshuffle"):
        md.F.pixel_unshuffle(md.randn(1, 3, 3, 2), 2)  # height 3
    with pytest.raises(ValueError, match="pixel_shuffle"):
        md.F.pixel_shuffle(md.randn(4, 4), 2)
    with pytest.raises(ValueError, match="pixel_shuffle"):
        md.F.pixel_shuffle(md.randn(1, 4, 2, 2), 0)
    with pytest.raises(TypeError, match="pixel_unshuffle"):
        md.F.pixel_unshuffle(md.randn(1, 4, 2, 2), 2.0)
    with pytest.raises(TypeError, match="PixelShuffle"):
        md.nn.PixelShuffle("2")


# ---- channel dropout


def _channel_scales(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The factor each (sample, channel) was multiplied by, after checking it is one per channel."""
    ratio = out / x
    per_channel = ratio.reshape(ratio.shape[0], ratio.shape[1], -1)
    np.testing.assert_allclose(per_channel, per_channel[:, :, :1].repeat(per_channel.shape[2], 2), rtol=1e-6)
    return per_channel[:, :, 0]


@pytest.mark.parametrize("p", [0.25, 0.5, 0.8])
def test_dropout2d_zeroes_whole_channels_and_scales(p):
    x = np.abs(randn(8, 64, 3, 4)) + 0.5
    xm = md.tensor(x, requires_grad=True)
    md.manual_seed(123)
    out = md.F.dropout2d(xm, p)
    scales = _channel_scales(out.numpy(), x)
    kept = scales != 0
    np.testing.assert_allclose(scales[kept], 1.0 / (1.0 - p), rtol=1e-6)
    assert abs(1.0 - kept.mean() - p) < 0.06  # 512 channels
    # the gradient is the same mask
    out.sum().backward()
    np.testing.assert_allclose(xm.grad.numpy()[:, :, 0, 0], scales, rtol=1e-6)


def test_dropout2d_follows_the_seed_and_generator():
    x = md.ones(4, 16, 2, 2)
    md.manual_seed(7)
    a = md.F.dropout2d(x).numpy()
    md.manual_seed(7)
    b = md.F.dropout2d(x).numpy()
    c = md.F.dropout2d(x).numpy()  # the generator moved on
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    d = md.F.dropout2d(x, generator=md.Generator(3)).numpy()
    e = md.F.dropout2d(x, generator=md.Generator(3)).numpy()
    np.testing.assert_array_equal(d, e)


def test_dropout2d_edge_probabilities_and_eval():
    x = md.tensor(randn(2, 3, 4, 4))
    np.testing.assert_array_equal(md.F.dropout2d(x, 0.0).numpy(), x.numpy())
    np.testing.assert_array_equal(md.F.dropout2d(x, 1.0).numpy(), np.zeros((2, 3, 4, 4), np.float32))
    np.testing.assert_array_equal(md.F.dropout2d(x, 0.5, training=False).numpy(), x.numpy())
    m = md.nn.Dropout2d(0.9)
    m.eval()
    np.testing.assert_array_equal(m(x).numpy(), x.numpy())
    m.train()
    md.manual_seed(0)
    assert (m(md.ones(4, 32, 2, 2)).numpy() == 0).any()


def test_dropout2d_3d_input_is_n_c_l_with_a_warning_as_torch():
    x = np.abs(randn(6, 32, 5)) + 0.5
    with pytest.warns(UserWarning, match="dropout2d"):
        out = md.F.dropout2d(md.tensor(x), 0.5).numpy()
    scales = _channel_scales(out, x)
    assert scales.shape == (6, 32) and (scales == 0).any() and (scales != 0).any()


def test_dropout1d_channels_batched_and_unbatched():
    x = np.abs(randn(4, 32, 6)) + 0.5
    md.manual_seed(1)
    scales = _channel_scales(md.F.dropout1d(md.tensor(x), 0.5).numpy(), x)
    assert (scales == 0).any() and np.allclose(scales[scales != 0], 2.0)
    y = np.abs(randn(32, 6)) + 0.5
    out = md.nn.Dropout1d(0.5)(md.tensor(y)).numpy()
    assert out.shape == (32, 6)
    per_channel = (out / y)[:, :1]
    np.testing.assert_allclose(out / y, per_channel.repeat(6, 1), rtol=1e-6)


def test_dropout_nd_modules_repr_and_errors():
    torch = pytest.importorskip("torch")
    assert repr(md.nn.Dropout2d(0.3)) == repr(torch.nn.Dropout2d(0.3))
    assert repr(md.nn.Dropout1d()) == repr(torch.nn.Dropout1d())
    with pytest.raises(ValueError, match="Dropout2d"):
        md.nn.Dropout2d(1.5)
    with pytest.raises(ValueError, match="dropout2d"):
        md.F.dropout2d(md.ones(2, 3, 4, 4), -0.1)
    with pytest.raises(ValueError, match="dropout1d"):
        md.F.dropout1d(md.ones(2, 3, 4, 5))
    with pytest.raises(TypeError, match="dropout2d"):
        md.F.dropout2d(np.ones((2, 3, 4, 4)))


# ---- instance norm


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 4, 3, 3), (3, 2, 7)])
@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_matches_torch(shape, affine):
    torch = pytest.importorskip("torch")
    x = randn(*shape, scale=3.0) + 1.0
    c = shape[1]
    if affine:
        w, b = randn(c) + 1.0, randn(c)
        assert_matches_torch(
            torch,
            lambda t, wt, bt: md.F.instance_norm(t, weight=wt, bias=bt, eps=1e-3),
            lambda t, wt, bt: torch.nn.functional.instance_norm(t, weight=wt, bias=bt, eps=1e-3),
            x,
            w,
            b,
            atol=1e-4,
        )
    else:
        assert_matches_torch(torch, md.F.instance_norm, torch.nn.functional.instance_norm, x, atol=1e-4)


@pytest.mark.torch_2_13
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("unbatched", [False, True])
def test_instance_norm2d_module_matches_torch(affine, unbatched):
    torch = pytest.importorskip("torch")
    ours, ref = md.nn.InstanceNorm2d(3, affine=affine), torch.nn.InstanceNorm2d(3, affine=affine)
    assert repr(ours) == repr(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    if affine:
        with torch.no_grad():
            ref.weight.copy_(torch.tensor(randn(3) + 1.0))
            ref.bias.copy_(torch.tensor(randn(3)))
        copy_from_torch(ours, ref)
    x = randn(3, 6, 5) if unbatched else randn(2, 3, 6, 5)
    assert_module_matches_torch(torch, ours, ref, x, atol=1e-4)


@pytest.mark.torch_2_13
def test_instance_norm2d_running_stats_as_torch():
    torch = pytest.importorskip("torch")
    kwargs = dict(affine=True, track_running_stats=True, momentum=0.3)
    ours, ref = md.nn.InstanceNorm2d(4, **kwargs), torch.nn.InstanceNorm2d(4, **kwargs)
    assert repr(ours) == repr(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for _ in range(2):  # training: input statistics, running ones updated
        x = randn(3, 4, 5, 6, scale=2.0) + 0.5
        assert_module_matches_torch(torch, ours, ref, x, atol=1e-4)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(
            ours.state_dict()[name].numpy(), ref.state_dict()[name].numpy(), rtol=1e-5, atol=1e-6, err_msg=name
        )
    assert abs(ours.running_mean.numpy()).max() > 0.01  # moved from 0
    ours.eval()
    ref.eval()  # eval: the running statistics normalise
    assert_module_matches_torch(torch, ours, ref, randn(2, 4, 3, 3), atol=1e-4)


def test_instance_norm_errors():
    with pytest.raises(ValueError, match="instance_norm"):
        md.F.instance_norm(md.randn(2, 3, 1, 1))  # one spatial element
    with pytest.raises(ValueError, match="instance_norm"):
        md.F.instance_norm(md.randn(2, 3))
    with pytest.raises(ValueError, match="instance_norm"):
        md.F.instance_norm(md.randn(2, 3, 4, 4), weight=md.ones(4))
    with pytest.raises(ValueError, match="instance_norm"):
        md.F.instance_norm(md.randn(2, 3, 4, 4), use_input_stats=False)
    with pytest.raises(ValueError, match="InstanceNorm2d"):
        md.nn.InstanceNorm2d(3)(md.randn(2, 3, 4, 4, 4))
    with pytest.raises(ValueError, match="InstanceNorm2d"):
        md.nn.InstanceNorm2d(3, affine=True)(md.randn(2, 4, 4, 4))
    with pytest.warns(UserWarning, match="InstanceNorm2d"):
        md.nn.InstanceNorm2d(3)(md.randn(2, 4, 4, 4))  # affine=False: num_features unused, as torch warns


# ---- conv1d


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs",
    [
        ((2, 3, 10), (4, 3, 3), {}),
        ((2, 3, 10), (4, 3, 3), {"stride": 2, "padding": 1}),
        ((1, 2, 9), (5, 2, 4), {"padding": (2,), "stride": (3,)}),
        ((2, 3, 8), (4, 3, 5), {"padding": "same"}),
        ((2, 3, 8), (4, 3, 4), {"padding": "same"}),  # even kernel: the extra position on the right
        ((2, 3, 8), (4, 3, 3), {"padding": "valid"}),
        ((3, 11), (2, 3, 3), {"padding": 1}),  # unbatched
    ],
)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv1d_matches_torch(x_shape, w_shape, kwargs, with_bias):
    torch = pytest.importorskip("torch")
    arrays = [randn(*x_shape), randn(*w_shape)] + ([randn(w_shape[0])] if with_bias else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on 'same' with an even kernel
        assert_matches_torch(
            torch,
            lambda x, w, *b: md.F.conv1d(x, w, *b, **kwargs),
            lambda x, w, *b: torch.nn.functional.conv1d(x, w, *b, **kwargs),
            *arrays,
            atol=1e-4,
        )


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding, stride, bias", [(1, 1, True), (2, 2, False), ("same", 1, True)])
def test_conv1d_module_matches_torch(padding_mode, padding, stride, bias):
    torch = pytest.importorskip("torch")
    kwargs = dict(stride=stride, padding=padding, bias=bias, padding_mode=padding_mode)
    ours, ref = md.nn.Conv1d(3, 5, 3, **kwargs), torch.nn.Conv1d(3, 5, 3, **kwargs)
    assert repr(ours) == repr(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in ref.state_dict().items()
    }
    copy_from_torch(ours, ref)
    assert_module_matches_torch(torch, ours, ref, randn(2, 3, 9), atol=1e-4)
    assert (ours.kernel_size, ours.stride, ours.dilation, ours.groups) == (
        ref.kernel_size,
        ref.stride,
        ref.dilation,
        ref.groups,
    )


def test_conv1d_module_init_as_torch():
    torch = pytest.importorskip("torch")
    md.manual_seed(0)  # the spread checks below are statistical: fixed draws keep them from flaking
    torch.manual_seed(0)
    ours, ref = md.nn.Conv1d(16, 32, 5), torch.nn.Conv1d(16, 32, 5)
    bound = 1.0 / math.sqrt(16 * 5)  # kaiming_uniform(a=sqrt(5)) and the bias's, both 1 / sqrt(fan_in)
    for name in ("weight", "bias"):
        got, want = ours.state_dict()[name].numpy(), ref.state_dict()[name].detach().numpy()
        assert np.abs(got).max() <= bound and np.abs(want).max() <= bound
        assert np.abs(got).max() > 0.8 * bound  # spread over the whole range, not a narrower one
        assert abs(got.std() - want.std()) < 0.25 * want.std()
    assert ours.weight.requires_grad and ours.bias.requires_grad


def test_conv1d_errors():
    x, w = md.randn(2, 3, 10), md.randn(4, 3, 3)
    with pytest.raises(ValueError, match="conv1d"):
        md.F.conv1d(x, w, dilation=0)
    with pytest.raises(ValueError, match="conv1d"):
        md.F.conv1d(x, w, groups=3)  # 4 output channels in 3 groups
    with pytest.raises(ValueError, match="conv1d"):
        md.F.conv1d(x, md.randn(4, 2, 3))  # channels differ
    with pytest.raises(ValueError, match="conv1d"):
        md.F.conv1d(md.randn(2, 3, 4, 4), w)  # 4D input
    with pytest.raises(ValueError, match="conv1d"):
        md.F.conv1d(x, w, padding="same", stride=2)
    with pytest.raises(ValueError, match="conv1d"):
        md.F.conv1d(x, w, padding="full")
    with pytest.raises(ValueError, match="conv1d"):
        md.F.conv1d(md.randn(2, 3, 2), w)  # kernel longer than the input
    with pytest.raises(TypeError, match="conv1d"):
        md.F.conv1d(x, w, stride=(1, 1))
    with pytest.raises(ValueError, match="Conv1d"):
        md.nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv1d"):
        md.nn.Conv1d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="Conv1d"):
        md.nn.Conv1d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Conv1d"):
        md.nn.Conv1d(3, 4, 3, padding=3, padding_mode="reflect")(md.randn(1, 3, 3))


# ---- parameter containers


def test_parameter_list_registers_as_torch():
    torch = pytest.importorskip("torch")
    a, b = randn(3), randn(2, 2)
    ours = md.nn.ParameterList([md.nn.Parameter(md.tensor(a)), md.tensor(b)])  # a plain tensor is wrapped
    ref = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(a)), torch.tensor(b)])
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["0", "1"]
    assert len(ours) == 2 and len(list(ours.parameters())) == 2
    assert all(p.requires_grad for p in ours)
    assert ours[-1] is ours[1] and ours[1] is list(ours.parameters())[1]
    np.testing.assert_array_equal(ours[1].numpy(), b)
    ref_values = [randn(3), randn(2, 2)]
    copy_from_torch(ours, torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(v)) for v in ref_values]))
    np.testing.assert_array_equal(ours[0].numpy(), ref_values[0])
    np.testing.assert_array_equal(ours[1].numpy(), ref_values[1])
    assert repr(ours) == (
        "ParameterList(\n    (0): Parameter containing: [float32 of size 3]\n"
        "    (1): Parameter containing: [float32 of size 2x2]\n)"
    )
    assert repr(md.nn.ParameterList()) == "ParameterList()"


def test_parameter_list_mutation_and_gradients():
    pl = md.nn.ParameterList()
    pl.append(md.ones(2))
    pl.extend([md.ones(2) * 2.0])
    pl += [md.ones(2) * 3.0]
    assert len(pl) == 3 and list(pl.state_dict()) == ["0", "1", "2"]
    pl[1] = md.nn.Parameter(md.zeros(2))
    assert list(pl.state_dict()) == ["0", "1", "2"]
    np.testing.assert_array_equal(pl[1].numpy(), [0.0, 0.0])
    sliced = pl[1:]
    assert isinstance(sliced, md.nn.ParameterList) and len(sliced) == 2 and sliced[0] is pl[1]
    with pytest.raises(IndexError, match="ParameterList"):
        pl[3]  # noqa: B018
    with pytest.raises(TypeError, match="ParameterList"):
        pl.append(3.0)
    total = pl[0].sum() * 1.0 + pl[2].sum() * 5.0
    total.backward()
    np.testing.assert_array_equal(pl[0].grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(pl[2].grad.numpy(), [5.0, 5.0])


def test_parameter_dict_registers_as_torch():
    torch = pytest.importorskip("torch")
    values = {"w": randn(3), "b": randn(2), "scale": randn(1)}
    ours = md.nn.ParameterDict({k: md.tensor(v) for k, v in values.items()})
    ref = torch.nn.ParameterDict({k: torch.tensor(v) for k, v in values.items()})
    # a plain dict's keys are sorted, as torch's ParameterDict sorts them
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["b", "scale", "w"]
    assert ours.keys() == ["b", "scale", "w"] and len(ours) == 3 and "b" in ours and "z" not in ours
    np.testing.assert_array_equal(ours["scale"].numpy(), values["scale"])
    assert ours["b"] is list(ours.parameters())[0] and ours["w"].requires_grad
    ordered = OrderedDict([("z", md.ones(1)), ("a", md.ones(1))])
    ref_ordered = OrderedDict([("z", torch.ones(1)), ("a", torch.ones(1))])
    assert md.nn.ParameterDict(ordered).keys() == list(torch.nn.ParameterDict(ref_ordered).keys()) == ["z", "a"]
    new = {k: randn(*v.shape) for k, v in values.items()}
    copy_from_torch(ours, torch.nn.ParameterDict({k: torch.tensor(v) for k, v in new.items()}))
    for k, v in new.items():
        np.testing.assert_array_equal(ours[k].numpy(), v)
    assert repr(md.nn.ParameterDict({"a": md.ones(2, 3)})) == (
        "ParameterDict(\n    (a): Parameter containing: [float32 of size 2x3]\n)"
    )


def test_parameter_dict_mutation_and_nesting():
    named_like_a_method = md.nn.ParameterDict({"keys": md.ones(1)})  # torch refuses this key; here it works
    assert named_like_a_method.keys() == ["keys"] and named_like_a_method["keys"].shape == (1,)
    pd = md.nn.ParameterDict([("a", md.ones(2)), ("b", md.ones(3))])
    pd["a"] = md.zeros(4)  # replaced in place
    pd["c"] = md.ones(1)
    assert list(pd.state_dict()) == ["a", "b", "c"] and pd["a"].shape == (4,)
    del pd["b"]
    assert pd.keys() == ["a", "c"]
    assert pd.pop("c").shape == (1,) and pd.keys() == ["a"]
    assert pd.get("missing") is None and pd.setdefault("d", md.ones(2)).shape == (2,)
    with pytest.raises(KeyError):
        pd["missing"]  # noqa: B018
    with pytest.raises(KeyError):
        del pd["missing"]
    with pytest.raises(KeyError, match="ParameterDict"):
        pd["x.y"] = md.ones(1)
    with pytest.raises(TypeError, match="ParameterDict"):
        pd[3] = md.ones(1)
    with pytest.raises(TypeError, match="ParameterDict"):
        pd["e"] = [1.0]
    pd.clear()
    assert len(pd) == 0 and pd.state_dict() == {}

    class Net(md.nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = md.nn.ParameterList([md.ones(2)])
            self.extra = md.nn.ParameterDict({"shift": md.zeros(2)})

        def forward(self, x):
            return x * self.scales[0] + self.extra["shift"]

    net = Net()
    assert list(net.state_dict()) == ["scales.0", "extra.shift"]
    assert isinstance(net.scales, md.nn.ParameterList) and isinstance(net.extra, md.nn.ParameterDict)
    net(md.tensor(np.array([3.0, 4.0], np.float32))).sum().backward()
    np.testing.assert_array_equal(net.scales[0].grad.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(net.extra["shift"].grad.numpy(), [1.0, 1.0])
    assert "(scales): ParameterList(" in repr(net)


def test_names_are_exported():
    for name in (
        "adaptive_avg_pool2d", "adaptive_max_pool2d", "pixel_shuffle", "pixel_unshuffle", "dropout1d", "dropout2d",
        "instance_norm", "conv1d",
    ):  # fmt: skip
        assert name in md.F.__all__ and callable(getattr(md.nn.functional, name))
    for name in (
        "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "PixelShuffle", "PixelUnshuffle", "Dropout1d", "Dropout2d",
        "InstanceNorm2d", "Conv1d", "ParameterList", "ParameterDict", "Identity", "Softmax",
    ):  # fmt: skip
        assert name in md.nn.__all__ and issubclass(getattr(md.nn, name), md.nn.Module)


def test_adaptive_avg_pool_keeps_non_finite_values_in_their_bins():
    torch = pytest.importorskip("torch")
    x = np.arange(49.0, dtype=np.float32).reshape(1, 1, 7, 7)
    x[0, 0, 0, 0] = np.inf
    x[0, 0, 6, 6] = np.nan
    for size in (3, (2, 5), (4, 3)):
        got = md.F.adaptive_avg_pool2d(md.tensor(x), size).numpy()
        want = torch.nn.functional.adaptive_avg_pool2d(torch.tensor(x), size).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.torch_2_13
def test_layer_norm_bias_false_and_repr_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((3, 4, 8)).astype(np.float32)
    for kwargs in ({}, {"bias": False}, {"elementwise_affine": False}, {"eps": 1e-6}):
        ours, theirs = md.nn.LayerNorm(8, **kwargs), torch.nn.LayerNorm(8, **kwargs)
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        with torch.no_grad():
            for p in theirs.parameters():
                p.uniform_(-1, 1)
        ours.load_state_dict({k: md.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
        np.testing.assert_allclose(ours(md.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)
    assert md.nn.LayerNorm((4, 8)).normalized_shape == (4, 8)


def test_register_parameter_and_buffer_none_read_none_as_torch():
    class M(md.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_parameter("bias", None)
            self.register_buffer("running", None)
            self.register_buffer("scratch", None, persistent=False)

    m = M()
    assert m.bias is None and m.running is None and m.scratch is None
    assert list(m.state_dict()) == [] and list(m.parameters()) == [] and list(m.buffers()) == []
    m.running = md.ones(2)  # a buffer registered as None takes the tensor, persistent as registered
    m.scratch = md.zeros(1)
    m.bias = md.nn.Parameter(md.zeros(3))
    assert list(m.state_dict()) == ["bias", "running"]
    assert [n for n, _ in m.named_buffers()] == ["running", "scratch"]
    assert m.running.numpy().tolist() == [1.0, 1.0]
    m.register_buffer("running", None)  # and back to None
    assert m.running is None and list(m.state_dict()) == ["bias"]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "zeros"])
@pytest.mark.parametrize("kwargs", [{"padding": 1}, {"padding": (2, 1), "stride": 2}, {"padding": "same"}])
def test_conv2d_padding_modes_match_torch(mode, kwargs):
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Conv2d(3, 4, 3, padding_mode=mode, **kwargs)
    ours = md.nn.Conv2d(3, 4, 3, padding_mode=mode, **kwargs)
    ours.load_state_dict({k: md.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    assert ours.padding_mode == mode
    x, g = randn(2, 3, 7, 6), randn(*theirs(torch.zeros(2, 3, 7, 6)).shape)
    xt, xm = torch.tensor(x, requires_grad=True), md.tensor(x, requires_grad=True)
    yt, ym = theirs(xt), ours(xm)
    yt.backward(torch.tensor(g))
    ym.backward(md.tensor(g))
    np.testing.assert_allclose(ym.numpy(), yt.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), atol=2e-6)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-5, atol=2e-5)
    if kwargs != {"padding": "same"}:  # torch prints padding=same; minidiff the pair it resolves to
        assert repr(ours) == repr(theirs)


def test_conv2d_padding_mode_reflect_against_numpy_and_errors():
    x = randn(1, 2, 5, 4)
    conv = md.nn.Conv2d(2, 1, 3, padding=1, padding_mode="reflect", bias=False)
    w = conv.weight.detach().numpy()
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    want = np.zeros((1, 1, 5, 4), np.float32)
    for i in range(5):
        for j in range(4):
            want[0, 0, i, j] = (padded[0, :, i : i + 3, j : j + 3] * w[0]).sum()
    np.testing.assert_allclose(conv(md.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="padding_mode must be"):
        md.nn.Conv2d(2, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match=r"Conv2d: padding \(5, 5\) must be smaller .* \(4\) of input \[1, 2, 5, 4\]"):
        md.nn.Conv2d(2, 1, 3, padding=5, padding_mode="reflect")(md.tensor(x))
