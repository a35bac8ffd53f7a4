"""Property-based bad-input suite over the public tensor API (hypothesis).

Every call either works and agrees with NumPy, or raises a Python exception (ValueError, TypeError,
IndexError, MemoryError, RuntimeError) with a message; the process never crashes. Shapes include
empty dims, inputs include NaN/Inf, non-contiguous and non-float32 NumPy arrays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidiff as md

ERRORS = (ValueError, TypeError, IndexError, MemoryError, RuntimeError)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

small_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
floats = st.floats(allow_nan=True, allow_infinity=True, width=32)


def arrays(shape=small_shapes, elements=floats):
    return hnp.arrays(np.float32, shape, elements=elements)


def expect_error_message(exc: BaseException) -> None:
    assert isinstance(exc, ERRORS), f"unexpected exception type {type(exc).__name__}: {exc}"
    assert str(exc), "an error must say what went wrong"


def same(a: np.ndarray, b: np.ndarray, rtol=1e-5, atol=1e-6) -> None:
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


# ---- elementwise and broadcasting


@FAST
@given(a=arrays(), b=arrays(), op=st.sampled_from(["add", "sub", "mul", "div"]))
def test_binary_broadcasting_matches_numpy_or_raises(a, b, op):
    fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op]
    try:
        with np.errstate(all="ignore"):
            expected = fn(a, b)
    except ValueError:
        with pytest.raises(ValueError, match=op):
            getattr(md.F, op)(md.tensor(a), md.tensor(b))
        return
    got = getattr(md.F, op)(md.tensor(a), md.tensor(b)).numpy()
    same(got, expected.astype(np.float32), rtol=1e-5, atol=1e-30)


@FAST
@given(
    a=arrays(elements=st.floats(-100, 100, width=32) | st.sampled_from([np.nan, np.inf, -np.inf])),
    name=st.sampled_from(["exp", "sigmoid", "tanh", "silu", "relu", "abs", "sqrt", "log", "sin"]),
)
def test_unary_ops_survive_nan_inf_and_match_numpy(a, name):
    refs = {
        "exp": np.exp,
        "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
        "tanh": np.tanh,
        "silu": lambda x: x / (1 + np.exp(-x)),
        "relu": lambda x: np.maximum(x, 0),  # NaN stays NaN, as in torch
        "abs": np.abs,
        "sqrt": np.sqrt,
        "log": np.log,
        "sin": np.sin,
    }
    with np.errstate(all="ignore"):
        expected = refs[name](a.astype(np.float64)).astype(np.float32)
    got = getattr(md.F, name)(md.tensor(a)).numpy()
    assert got.shape == a.shape
    # NaN where NumPy has NaN; elsewhere close (tiny results may be flushed to zero)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=2e-6, atol=1e-30 + 1e-37)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(expected)], expected[~finite & ~np.isnan(expected)])


# ---- reductions, shapes and indexing


@FAST
@given(a=arrays(), dim=st.integers(-6, 6), keepdim=st.booleans())
def test_sum_over_any_dim(a, dim, keepdim):
    if a.ndim == 0 and dim not in (0, -1):
        with pytest.raises(IndexError):
            md.tensor(a).sum(dim=dim)
        return
    if a.ndim > 0 and not -a.ndim <= dim < a.ndim:
        with pytest.raises(IndexError, match="out of range"):
            md.tensor(a).sum(dim=dim, keepdim=keepdim)
        return
    got = md.tensor(a).sum(dim=dim, keepdim=keepdim).numpy()
    with np.errstate(over="ignore"):  # a float32 result overflows to inf where the exact sum exceeds its range
        expected = np.asarray(a.astype(np.float64).sum(axis=dim if a.ndim else None, keepdims=keepdim), np.float32)
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, equal_nan=True)


@FAST
@given(a=arrays(), new=st.lists(st.integers(-1, 5), max_size=4))
def test_reshape_valid_iff_numpy_accepts(a, new):
    try:
        expected = a.reshape(new)
    except ValueError:
        with pytest.raises(ERRORS) as e:
            md.tensor(a).reshape(new)
        expect_error_message(e.value)
        return
    np.testing.assert_array_equal(md.tensor(a).reshape(new).numpy(), expected)


index_item = st.one_of(
    st.integers(-5, 5),
    st.slices(5),
    st.none(),
    st.just(Ellipsis),
)


@FAST
@given(
    a=arrays(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4)),
    key=st.lists(index_item, min_size=1, max_size=4).map(tuple),
)
def test_indexing_matches_numpy(a, key):
    assume(sum(k is Ellipsis for k in key) <= 1)
    assume(all(not isinstance(k, slice) or k.step is None or k.step > 0 for k in key))
    try:
        expected = a[key]
    except IndexError:
        with pytest.raises(IndexError):
            md.tensor(a)[key]
        return
    got = md.tensor(a)[key].numpy()
    np.testing.assert_array_equal(got, expected)


# ---- NumPy interop


@FAST
@given(
    data=st.data(),
    dtype=st.sampled_from(
        [
            np.float16,
            np.float32,
            np.float64,
            np.int8,
            np.int16,
            np.int32,
            np.int64,
            np.uint8,
            np.uint16,
            np.uint64,
            np.bool_,
        ]
    ),
)
def test_numpy_dtypes_and_layouts(data, dtype):
    a = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)))
    view = data.draw(st.sampled_from(["plain", "transposed", "reversed", "strided"]))
    if view == "transposed":
        a = a.T
    elif view == "reversed":
        a = a[::-1]
    elif view == "strided":
        a = a[::2]
    if a.dtype == np.uint64:
        assume(bool((a <= np.iinfo(np.int64).max).all()))
    with np.errstate(over="ignore"):  # float64 values beyond float32's range become inf, as in NumPy
        t = md.tensor(a)
        float16 = a.dtype == np.float16  # kept, as torch's
        # integers keep their dtype where minidiff has it (uint16 as int32, uint32 and uint64 as int64)
        wider = {"uint16": "int32", "uint32": "int64", "uint64": "int64"}
        ints = wider.get(a.dtype.name, a.dtype.name)
        expected = (
            a.astype(ints) if a.dtype.kind in "iu" else a if a.dtype.kind == "b" or float16 else a.astype(np.float32)
        )
    kind = ints if a.dtype.kind in "iu" else "bool" if a.dtype.kind == "b" else "float16" if float16 else "float32"
    assert t.dtype == kind
    np.testing.assert_array_equal(t.numpy(), expected)


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["a", "b"]), np.array([object()], dtype=object)])
def test_unsupported_numpy_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError):
        md.tensor(bad)


@pytest.mark.parametrize("shape", [(2**40, 2**30), (2**62,), (-1, 3)])
def test_impossible_sizes_raise_instead_of_crashing(shape):
    with pytest.raises((MemoryError, ValueError)) as e:
        md.zeros(*shape)
    expect_error_message(e.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/meminfo")
def test_a_block_larger_than_memory_and_swap_is_refused_before_it_is_asked_for():
    # Where the kernel overcommits (the GPU machines), the system would grant such a block and kill
    # the process when its pages were touched; the allocator refuses it up front with a MemoryError.
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    total = sum(int(fields[k].split()[0]) * 1024 for k in ("MemTotal", "SwapTotal"))
    with pytest.raises(MemoryError, match="more than this machine's memory and swap") as e:
        md.empty(total // 4 + 1024, dtype=md.float32)
    expect_error_message(e.value)
    assert md.empty(1024).numel() == 1024  # and the allocator still works


# ---- layers with random (often invalid) geometry


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(0, 2),
    c=st.integers(0, 3),
    h=st.integers(0, 6),
    w=st.integers(0, 6),
    k=st.integers(1, 3),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    wc=st.integers(0, 3),
    stride=st.integers(-1, 3),
    pad=st.integers(-1, 2),
)
def test_conv2d_geometry_is_checked(n, c, h, w, k, kh, kw, wc, stride, pad):
    x = md.randn(n, c, h, w)
    weight = md.randn(k, wc, kh, kw)
    valid = wc == c and stride > 0 and pad >= 0 and h + 2 * pad >= kh and w + 2 * pad >= kw
    if not valid:
        with pytest.raises(ValueError, match="conv2d") as e:
            md.F.conv2d(x, weight, None, stride, pad)
        expect_error_message(e.value)
        return
    y = md.F.conv2d(x, weight, None, stride, pad)
    assert y.shape == (n, k, (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1)
    assert np.isfinite(y.numpy()).all()


@settings(max_examples=80, deadline=None)
@given(c=st.integers(0, 8), groups=st.integers(-1, 9), hw=st.integers(0, 5))
def test_group_norm_groups_are_checked(c, groups, hw):
    x = md.randn(2, c, hw, hw)
    if groups <= 0 or c % groups != 0:
        with pytest.raises(ValueError, match="group_norm"):
            md.F.group_norm(x, groups)
        return
    y = md.F.group_norm(x, groups)
    assert y.shape == x.shape


@settings(max_examples=80, deadline=None)
@given(
    m=st.integers(0, 4),
    k1=st.integers(0, 4),
    k2=st.integers(0, 4),
    n=st.integers(0, 4),
    batch=st.sampled_from([(), (2,), (1,), (3, 1)]),
)
def test_matmul_shapes(m, k1, k2, n, batch):
    a = np.ones(batch + (m, k1), np.float32)
    b = np.ones((n if batch else 1,)[:0] + (k2, n), np.float32)
    try:
        expected = a @ b
    except ValueError:
        with pytest.raises(ValueError, match="matmul"):
            md.tensor(a) @ md.tensor(b)
        return
    np.testing.assert_array_equal((md.tensor(a) @ md.tensor(b)).numpy(), expected)


def test_mixed_dtype_and_rank_errors_name_the_op():
    with pytest.raises(TypeError, match="conv2d"):
        md.F.conv2d(md.tensor(np.ones((1, 1, 3, 3), np.int64)), md.randn(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"linear: .*\[2, 3\]"):
        md.F.linear(md.randn(2, 3), md.randn(4, 5))
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):
        md.F.scaled_dot_product_attention(md.randn(2, 3, 4), md.randn(2, 3, 5), md.randn(2, 3, 4))
    with pytest.raises(IndexError, match="embedding"):
        md.F.embedding(md.tensor(np.array([5])), md.randn(3, 2))
    with pytest.raises(ValueError, match="mse_loss"):
        md.F.mse_loss(md.randn(2), md.randn(3))


# ---- configs, checkpoints and dataset files with random content

config_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(-2, 64), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "learning_rate",
                "batch_size",
                "num_epochs",
                "save_every",
                "beta1",
                "beta2",
                "eps",
                "weight_decay",
                "optimizer",
                "lr_schedule",
                "warmup_steps",
                "max_grad_norm",
                "gradient_accumulation_steps",
                "prediction_type",
                "device",
                "label_dropout",
                "ema_decay",
                "max_bad_steps",
                "sampler",
                "keep_checkpoints",
                "no_such_field",
            ]
        ),
        config_values,
        max_size=4,
    )
)
def test_training_config_accepts_or_names_the_bad_field(fields):
    from minidiff.training import TrainingConfig

    try:
        cfg = TrainingConfig.from_dict(fields)
    except ERRORS as e:
        expect_error_message(e)
        assert any(name in str(e) for name in fields), f"error does not name a field: {e}"
        return
    cfg.validate()
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg


@settings(max_examples=100, deadline=None)
@given(
    content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode), suffix=st.sampled_from([".json", ".toml"])
)
def test_malformed_config_files_raise(tmp_path_factory, content, suffix):
    from minidiff.training import TrainingConfig

    path = tmp_path_factory.mktemp("cfg") / f"run{suffix}"
    path.write_bytes(content)
    try:
        TrainingConfig.load(path)
    except ERRORS as e:
        expect_error_message(e)


@pytest.fixture(scope="module")
def saved_checkpoint(tmp_path_factory):
    from minidiff import checkpoint as ckpt

    root = tmp_path_factory.mktemp("ckpt")
    arrays = {"w": np.arange(64, dtype=np.float32).reshape(8, 8), "b": np.ones(3, np.float32)}
    path = ckpt.save_checkpoint(root, 7, {"model": arrays, "ema": arrays}, {"note": "x"})
    return path


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_checkpoints_are_rejected_by_name(saved_checkpoint, tmp_path_factory, data):
    import shutil

    from minidiff import checkpoint as ckpt

    target = tmp_path_factory.mktemp("damaged") / saved_checkpoint.name
    shutil.copytree(saved_checkpoint, target)
    name = data.draw(st.sampled_from(["model.safetensors", "ema.safetensors", "state.json"]))
    blob = bytearray((target / name).read_bytes())
    action = data.draw(st.sampled_from(["flip", "truncate", "append", "delete", "garbage"]))
    if action == "flip":
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] ^= 1 << data.draw(st.integers(0, 7))
    elif action == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif action == "append":
        blob += data.draw(st.binary(min_size=1, max_size=16))
    elif action == "garbage":
        blob = bytearray(data.draw(st.binary(max_size=64)))
    if action == "delete":
        (target / name).unlink()
    else:
        (target / name).write_bytes(bytes(blob))
    try:
        loaded = ckpt.load_checkpoint(target)
    except ERRORS as e:
        expect_error_message(e)
        assert name in str(e) or "state.json" in str(e), f"error does not name the damaged file: {e}"
        return
    # only a change that leaves every JSON value intact (whitespace) may load, and then exactly
    assert name == "state.json" and loaded.step == 7 and loaded.state["note"] == "x"
    np.testing.assert_array_equal(loaded.tensors["model"]["w"], np.arange(64, dtype=np.float32).reshape(8, 8))


@settings(max_examples=100, deadline=None)
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".npy", ".npz", ".png", ".jpg"]))
def test_random_dataset_files_raise_naming_the_file(tmp_path_factory, content, suffix):
    folder = tmp_path_factory.mktemp("data")
    path = folder / f"images{suffix}"
    path.write_bytes(content)
    target = path if suffix in (".npy", ".npz") else folder
    try:
        md.data.load_dataset(str(target))
    except (*ERRORS, FileNotFoundError) as e:
        expect_error_message(e)
        assert path.name in str(e) or str(folder) in str(e), f"error does not name the file: {e}"
