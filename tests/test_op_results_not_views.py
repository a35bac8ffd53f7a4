"""Tests against PyTorch that ops which are no view ops in torch (reductions along a dim, topk,
median, quantile, repeat, tile, kron, take, rot90, pixel_shuffle, F.unfold / F.fold, pools and
convolutions of unbatched input, advanced indexing, Function.apply with several outputs, ...)
return a tensor of their own, though minidiff composes many of them from view ops: ``_is_view()``
is torch's, ``detach_()`` takes the result, and an in-place write into the result leaves the input
as torch's leaves it, also for the degenerate arguments (a repeat of ones, pixel_shuffle by 1, a
kernel of 1) where the composing views are views of the input itself. Skipped when torch is not
installed."""

from __future__ import annotations

import numpy as np
import pytest

import minidiff as md
import minidiff.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(0)  # restarted per test by conftest.py


def _libs(x):
    """(the tensor module, its functional module) of x's library: each case runs on both."""
    return (torch, TF) if isinstance(x, torch.Tensor) else (md, F)


def _index(x, values):
    return _libs(x)[0].tensor(values)


def _ones(x, *shape):
    return _libs(x)[0].ones(*shape)


# (id, input shape, fn(x) -> a tensor or a tuple of them)
CASES = [
    # tensor_math.py
    ("logsumexp_dim0", (3, 4), lambda x: x.logsumexp(0)),
    ("logsumexp_dim-1", (5,), lambda x: x.logsumexp(-1)),
    ("logsumexp_1x1", (1, 1), lambda x: x.logsumexp(0)),
    ("logsumexp_empty", (0, 3), lambda x: x.logsumexp(0)),
    ("topk", (3, 4), lambda x: x.topk(2, 0)),
    ("topk_all", (3, 4), lambda x: x.topk(4, -1)),
    ("roll", (3, 4), lambda x: x.roll(2)),
    ("roll_0", (3, 4), lambda x: x.roll(0)),
    ("roll_whole_turn", (3, 4), lambda x: x.roll(12)),
    ("diag_1d", (4,), lambda x: x.diag(1)),
    ("diag_1d_one", (1,), lambda x: x.diag()),
    ("index_list_none", (3, 4), lambda x: x[[0, -1], None]),
    ("index_none_list", (3, 4), lambda x: x[None, [0, 1]]),
    ("index_all_rows", (3, 4), lambda x: x[[0, 1, 2]]),
    ("index_tensor_none", (5,), lambda x: x[_index(x, [0, 4]), None]),
    ("argmax_dim", (3, 4), lambda x: x.argmax(0)),
    ("argmin_dim", (3, 4), lambda x: x.argmin(-1)),
    # tensor_more.py
    ("median_all", (3, 4), lambda x: x.median()),
    ("median_all_one", (1,), lambda x: x.median()),
    ("nanmedian_all", (5,), lambda x: x.nanmedian()),
    ("median_dim", (3, 4), lambda x: x.median(0)),
    ("median_dim_1x1", (1, 1), lambda x: x.median(-1)),
    ("nanmedian_dim", (3, 4), lambda x: x.nanmedian(-1)),
    ("mode_dim", (3, 4), lambda x: x.mode(0)),
    ("kthvalue", (3, 4), lambda x: x.kthvalue(2, -1)),
    ("quantile_dim", (3, 4), lambda x: x.quantile(0.3, 0)),
    ("quantile_lower", (3, 4), lambda x: x.quantile(0.3, -1, interpolation="lower")),
    ("quantile_all", (3, 4), lambda x: x.quantile(0.5)),
    ("nanquantile_dim", (5,), lambda x: x.nanquantile(0.3, 0)),
    ("nanmean_dim", (3, 4), lambda x: x.nanmean(0)),
    ("nanmean_all", (3, 4), lambda x: x.nanmean()),
    ("nanmean_0d", (), lambda x: x.nanmean()),
    ("rot90_1", (3, 4), lambda x: x.rot90(1, (0, 1))),
    ("rot90_3", (2, 3, 4), lambda x: x.rot90(-1, (1, 2))),
    ("rot90_0", (3, 4), lambda x: x.rot90(0, (0, 1))),
    ("rot90_4", (3, 4), lambda x: x.rot90(4, (0, 1))),
    ("kron", (2, 3), lambda x: _libs(x)[0].kron(x, x)),
    ("kron_one_element", (2, 3), lambda x: _libs(x)[0].kron(x, _ones(x, 1, 1))),
    ("kron_one_element_first", (2, 3), lambda x: _libs(x)[0].kron(_ones(x, 1), x)),
    ("diag_embed", (3, 4), lambda x: x.diag_embed()),
    ("diag_embed_dims", (3, 4), lambda x: x.diag_embed(1, 0, 2)),
    # tensor_scatter.py
    ("take", (3, 4), lambda x: x.take(_index(x, [[0, 5], [11, 2]]))),
    ("take_all", (3, 4), lambda x: x.take(_index(x, list(range(12))))),
    # tensor_ops.py
    ("repeat", (3, 4), lambda x: x.repeat(2, 3)),
    ("repeat_new_dim", (3, 4), lambda x: x.repeat(2, 1, 1)),
    ("repeat_ones", (3, 4), lambda x: x.repeat(1, 1)),
    ("repeat_ones_new_dims", (3, 4), lambda x: x.repeat(1, 1, 1, 1)),
    ("repeat_0d", (), lambda x: x.repeat(3)),
    ("tile", (5,), lambda x: x.tile((2,))),
    ("tile_ones", (3, 4), lambda x: x.tile((1, 1, 1))),
    # functional.py / functional_spatial.py
    ("avg_pool2d_unbatched", (3, 4, 4), lambda x: _libs(x)[1].avg_pool2d(x, 2)),
    ("avg_pool2d_kernel_1", (3, 4, 4), lambda x: _libs(x)[1].avg_pool2d(x, 1)),
    ("max_pool2d_unbatched", (3, 4, 4), lambda x: _libs(x)[1].max_pool2d(x, 2)),
    ("max_pool2d_indices", (2, 3, 4, 4), lambda x: _libs(x)[1].max_pool2d(x, 3, 1, 1, return_indices=True)),
    ("max_pool2d_indices_unbatched", (3, 4, 4), lambda x: _libs(x)[1].max_pool2d(x, 2, return_indices=True)),
    ("adaptive_avg_pool2d_unbatched", (3, 5, 5), lambda x: _libs(x)[1].adaptive_avg_pool2d(x, 2)),
    ("adaptive_avg_pool2d_same", (3, 4, 4), lambda x: _libs(x)[1].adaptive_avg_pool2d(x, 4)),
    ("adaptive_max_pool2d", (2, 3, 5, 5), lambda x: _libs(x)[1].adaptive_max_pool2d(x, 2, True)),
    ("adaptive_max_pool2d_unbatched", (3, 5, 5), lambda x: _libs(x)[1].adaptive_max_pool2d(x, 2, True)),
    ("max_pool1d", (2, 3, 8), lambda x: _libs(x)[1].max_pool1d(x, 2)),
    ("max_pool1d_unbatched", (3, 8), lambda x: _libs(x)[1].max_pool1d(x, 2)),
    ("conv1d", (2, 3, 8), lambda x: _libs(x)[1].conv1d(x, _ones(x, 4, 3, 3))),
    ("conv1d_unbatched", (3, 8), lambda x: _libs(x)[1].conv1d(x, _ones(x, 4, 3, 3))),
    ("conv2d_groups", (2, 4, 5, 5), lambda x: _libs(x)[1].conv2d(x, _ones(x, 4, 2, 3, 3), groups=2)),
    ("conv2d_depthwise", (2, 4, 5, 5), lambda x: _libs(x)[1].conv2d(x, _ones(x, 4, 1, 3, 3), groups=4)),
    ("conv2d_depthwise_unbatched", (4, 5, 5), lambda x: _libs(x)[1].conv2d(x, _ones(x, 4, 1, 3, 3), groups=4)),
    ("conv2d_dilated", (2, 4, 5, 5), lambda x: _libs(x)[1].conv2d(x, _ones(x, 4, 4, 2, 2), dilation=2)),
    (
        "conv_transpose2d_groups",
        (2, 4, 5, 5),
        lambda x: _libs(x)[1].conv_transpose2d(x, _ones(x, 4, 1, 3, 3), groups=2),
    ),
    ("unfold", (2, 3, 4, 4), lambda x: _libs(x)[1].unfold(x, 2)),
    ("unfold_unbatched", (3, 4, 4), lambda x: _libs(x)[1].unfold(x, 3)),
    ("unfold_kernel_1", (2, 3, 4, 4), lambda x: _libs(x)[1].unfold(x, 1)),
    ("unfold_kernel_1_unbatched", (3, 4, 4), lambda x: _libs(x)[1].unfold(x, 1)),
    ("fold_unbatched", (12, 9), lambda x: _libs(x)[1].fold(x, (4, 4), 2)),
    ("fold_kernel_1", (2, 3, 16), lambda x: _libs(x)[1].fold(x, (4, 4), 1)),
    ("pixel_shuffle", (2, 8, 3, 3), lambda x: _libs(x)[1].pixel_shuffle(x, 2)),
    ("pixel_shuffle_unbatched", (8, 3, 3), lambda x: _libs(x)[1].pixel_shuffle(x, 2)),
    ("pixel_shuffle_1", (2, 8, 3, 3), lambda x: _libs(x)[1].pixel_shuffle(x, 1)),
    ("pixel_unshuffle", (2, 2, 4, 4), lambda x: _libs(x)[1].pixel_unshuffle(x, 2)),
    ("pixel_unshuffle_1", (2, 2, 4, 4), lambda x: _libs(x)[1].pixel_unshuffle(x, 1)),
    ("channel_shuffle", (2, 4, 3, 3), lambda x: _libs(x)[1].channel_shuffle(x, 2)),
    ("channel_shuffle_1", (2, 4, 3, 3), lambda x: _libs(x)[1].channel_shuffle(x, 1)),
    ("channel_shuffle_all", (2, 4, 3), lambda x: _libs(x)[1].channel_shuffle(x, 4)),
    # ending in a sum
    ("dot", (5,), lambda x: _libs(x)[0].dot(x, x + 1)),
    ("vdot", (5,), lambda x: _libs(x)[0].vdot(x, x + 1)),
    ("trace", (3, 4), lambda x: x.trace()),
    ("cosine_similarity", (3, 4), lambda x: _libs(x)[1].cosine_similarity(x, x + 1, dim=0)),
    ("l1_loss_sum", (3, 4), lambda x: _libs(x)[1].l1_loss(x, x * 0.5, reduction="sum")),
    ("huber_loss_sum", (3, 4), lambda x: _libs(x)[1].huber_loss(x, x * 0.5, reduction="sum")),
    ("smooth_l1_loss_sum", (), lambda x: _libs(x)[1].smooth_l1_loss(x, x * 0.5, reduction="sum")),
    ("dist_1", (3, 4), lambda x: _libs(x)[0].dist(x, x * 0.5, 1)),
    ("cross_entropy_sum", (3, 4), lambda x: _libs(x)[1].cross_entropy(x, _index(x, [0, 1, 2]), reduction="sum")),
    ("kl_div_0d", (), lambda x: _libs(x)[1].kl_div(x, x.exp(), reduction="sum")),
    ("einsum_column_sums", (3, 4), lambda x: _libs(x)[0].einsum("ij->j", x)),
    ("einsum_total", (3, 4), lambda x: _libs(x)[0].einsum("ij,ij->", x, x)),
]

IDS = [c[0] for c in CASES]


def _outputs(r) -> list:
    return list(r) if isinstance(r, tuple) else [r]


def _run(case, requires_grad: bool):
    """(torch's outputs, ours, torch's input, our input) for one case."""
    _, shape, fn = case
    a = RNG.standard_normal(shape).astype(np.float32)
    x_ref = torch.tensor(a, requires_grad=requires_grad)
    x = md.tensor(a, requires_grad=requires_grad)
    return _outputs(fn(x_ref)), _outputs(fn(x)), x_ref, x


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_is_view_as_torch(case, requires_grad):
    refs, ours, _, _ = _run(case, requires_grad)
    assert len(ours) == len(refs)
    for ref, out in zip(refs, ours):
        assert out._is_view() == ref._is_view(), f"_is_view() {out._is_view()}, torch's {ref._is_view()}"
        assert tuple(out.shape) == tuple(ref.shape)
        np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_detach_in_place_takes_the_result(case):
    refs, ours, _, _ = _run(case, True)
    for ref, out in zip(refs, ours):
        if ref._is_view():
            continue  # torch's refuses some views; not these ops' concern
        out.detach_()
        assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_in_place_write_leaves_the_input(case):
    refs, ours, x_ref, x = _run(case, False)
    for ref, out in zip(refs, ours):
        if ref.numel():
            ref.add_(7)
            out.add_(7)
    np.testing.assert_array_equal(x.numpy(), x_ref.numpy())


class _ThreeOutputs(md.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2, x * 3, (x * 4).sum(0)

    @staticmethod
    def backward(ctx, a, b, c):
        return a * 2 + b * 3 + c * 4


class _ThreeOutputsTorch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2, x * 3, (x * 4).sum(0)

    @staticmethod
    def backward(ctx, a, b, c):
        return a * 2 + b * 3 + c * 4


def test_function_apply_outputs_are_no_views():
    a = RNG.standard_normal((3, 4)).astype(np.float32)
    x, x_ref = md.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ours, refs = _ThreeOutputs.apply(x), _ThreeOutputsTorch.apply(x_ref)
    assert [o._is_view() for o in ours] == [r._is_view() for r in refs] == [False] * 3
    sum((o * (i + 1)).sum() for i, o in enumerate(ours)).backward()
    sum((r * (i + 1)).sum() for i, r in enumerate(refs)).backward()
    np.testing.assert_allclose(x.grad.numpy(), x_ref.grad.numpy(), rtol=1e-6)
    # each output a tensor of its own: writing one changes no other
    before = [o.detach().numpy().copy() for o in ours]
    with md.no_grad():
        ours[2].add_(1)
    for o, b in zip(ours[:2], before[:2]):
        np.testing.assert_array_equal(o.detach().numpy(), b)
    ours[0].detach_()
    assert not ours[0].requires_grad
