"""torch's process-level utilities on minidiff (python/minidiff/compat.py, backends.py, cuda.py):
md.compile, RNG state, dtype info and promotion, print options, determinism, md.backends and the
md.cuda queries, checked for what they really do (torch, where installed, is the oracle)."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

import minidiff as md

NO_CUDA = not md.cuda.is_available()


# ---- md.compile


def test_compile_returns_the_same_module_and_function():
    model = md.nn.Linear(2, 3)
    assert md.compile(model) is model
    assert md.compile(model, mode="max-autotune", fullgraph=True, dynamic=False, backend="eager") is model

    def fn(x):
        return x * 2

    assert md.compile(fn) is fn
    assert md.compile(fn, disable=True) is fn


def test_compile_as_a_decorator_with_and_without_arguments():
    @md.compile
    def double(x):
        return x * 2

    @md.compile(mode="reduce-overhead")
    def triple(x):
        return x * 3

    assert double.__name__ == "double" and triple.__name__ == "triple"
    assert float(double(md.tensor(2.0)).item()) == 4.0
    assert float(triple(md.tensor(2.0)).item()) == 6.0


def test_compile_checks_mode_and_options_as_torch():
    for mode in (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"):
        md.compile(lambda x: x, mode=mode)
    with pytest.raises(RuntimeError, match="mode"):
        md.compile(lambda x: x, mode="fastest")
    with pytest.raises(RuntimeError, match="both"):
        md.compile(lambda x: x, mode="default", options={})
    with pytest.raises(TypeError, match="md.compile"):
        md.compile(5)


# ---- random state


def _draws():
    return np.concatenate([md.randn(7).numpy(), md.rand(3).numpy(), md.randint(0, 1000, (5,)).numpy()])


def test_rng_state_round_trip_repeats_the_draws():
    md.manual_seed(123)
    _draws()
    state = md.get_rng_state()
    first = _draws()
    _draws()
    md.set_rng_state(state)
    np.testing.assert_array_equal(_draws(), first)
    # a Generator's state is the same kind of object
    g = md.Generator(7)
    md.set_rng_state(g.get_state())
    a = md.randn(4).numpy()
    np.testing.assert_array_equal(a, md.randn(4, generator=md.Generator(7)).numpy())


def test_set_rng_state_refuses_other_states():
    with pytest.raises(TypeError, match="set_rng_state"):
        md.set_rng_state(np.zeros(5056, dtype=np.uint8))
    with pytest.raises(ValueError, match="set_rng_state"):
        md.set_rng_state((-1, 0))
    with pytest.raises(ValueError, match="set_rng_state"):
        md.set_rng_state((1.5, 0))


def test_seed_is_nondeterministic_and_initial_seed_reports_it():
    s1 = md.seed()
    assert isinstance(s1, int) and md.initial_seed() == s1
    a = md.randn(4).numpy()
    md.manual_seed(s1)
    np.testing.assert_array_equal(md.randn(4).numpy(), a)
    s2 = md.seed()
    assert s2 != s1  # 63 random bits: equal once in 2**63
    md.manual_seed(42)
    assert md.initial_seed() == 42


def test_cuda_manual_seed_all_seeds_the_shared_generator():
    md.manual_seed(5)
    a = md.randn(6).numpy()
    md.cuda.manual_seed_all(5)
    np.testing.assert_array_equal(md.randn(6).numpy(), a)


@pytest.mark.skipif(not NO_CUDA, reason="checks the answers without CUDA")
def test_cuda_rng_without_cuda_as_torch_cpu_build():
    md.manual_seed(9)
    state = md.get_rng_state()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        md.cuda.get_rng_state()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        md.cuda.initial_seed()
    assert md.cuda.seed() is None
    md.cuda.set_rng_state((1, 2))
    md.cuda.set_rng_state_all([(1, 2)])
    assert md.get_rng_state() == state  # nothing touched the shared generator
    assert md.cuda.get_rng_state_all() == []


@pytest.fixture
def fake_cuda(monkeypatch):
    """md.cuda's Python logic as it runs where CUDA is available (the device calls stubbed)."""
    monkeypatch.setattr(md.cuda, "is_available", lambda: True)
    monkeypatch.setattr(md.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(md.cuda, "synchronize", lambda: None)
    monkeypatch.setattr(md._core, "cuda_device_name", lambda index=0: "Fake GPU")


def test_cuda_rng_with_cuda_is_the_shared_generator(fake_cuda):
    md.manual_seed(11)
    state = md.cuda.get_rng_state()
    assert state == md.get_rng_state() and md.cuda.initial_seed() == 11
    a = md.randn(5).numpy()
    md.cuda.set_rng_state(state)
    np.testing.assert_array_equal(md.randn(5).numpy(), a)
    assert md.cuda.get_rng_state_all() == [md.get_rng_state()]
    assert isinstance(md.cuda.seed(), type(None)) and md.initial_seed() != 11


# ---- md.cuda devices, streams and events


@pytest.mark.skipif(not NO_CUDA, reason="checks the answers without CUDA")
def test_cuda_queries_without_cuda():
    assert md.cuda.is_bf16_supported() is False
    for call in (
        md.cuda.current_device,
        lambda: md.cuda.set_device(0),
        md.cuda.get_device_properties,
        lambda: md.cuda.Event(enable_timing=True),
        md.cuda.Stream,
        md.cuda.current_stream,
    ):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            call()
    md.cuda.set_device(-1)  # a no-op, as torch's


@pytest.mark.skipif(not NO_CUDA, reason="compares with torch's CPU-only build")
def test_cuda_queries_match_torch_cpu_build():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("torch sees a GPU")
    assert md.cuda.is_bf16_supported() == torch.cuda.is_bf16_supported()
    assert md.cuda.get_rng_state_all() == list(torch.cuda.get_rng_state_all())
    for name in ("current_device", "get_device_properties", "current_stream"):
        with pytest.raises((AssertionError, RuntimeError)):
            getattr(torch.cuda, name)()
        with pytest.raises(RuntimeError):
            getattr(md.cuda, name)()


def test_cuda_device_logic(fake_cuda):
    assert md.cuda.current_device() == 0
    md.cuda.set_device(0)
    md.cuda.set_device("cuda:0")
    with pytest.raises(ValueError, match="device 0 only"):
        md.cuda.set_device(1)
    props = md.cuda.get_device_properties(0)
    assert props.name == "Fake GPU"
    with pytest.raises(AttributeError, match="does not report total_memory"):
        props.total_memory  # noqa: B018
    assert md.cuda.is_bf16_supported() is True


def test_cuda_event_times_host_observed_intervals(fake_cuda):
    start, end = md.cuda.Event(enable_timing=True), md.cuda.Event(enable_timing=True)
    with pytest.raises(RuntimeError, match="recorded"):
        start.elapsed_time(end)
    start.record()
    time.sleep(0.02)
    end.record()
    end.synchronize()
    assert 15.0 <= start.elapsed_time(end) < 2000.0
    with pytest.raises(RuntimeError, match="enable_timing"):
        md.cuda.Event().elapsed_time(end)
    s = md.cuda.current_stream()
    assert s == md.cuda.Stream() and s.query()
    with md.cuda.stream(md.cuda.Stream()):
        s.wait_stream(md.cuda.current_stream())
    assert isinstance(s.record_event(), md.cuda.Event)


# ---- dtypes


def test_finfo_iinfo_values():
    f = md.finfo(md.float32)
    assert (f.bits, f.eps, f.max, f.min) == (32, 2.0**-23, 3.4028234663852886e38, -3.4028234663852886e38)
    assert f.tiny == f.smallest_normal == 2.0**-126 and f.resolution == 1e-6 and f.dtype == "float32"
    b = md.finfo(md.bfloat16)
    assert (b.bits, b.eps, b.max, b.tiny, b.resolution) == (16, 0.0078125, 3.3895313892515355e38, 2.0**-126, 0.01)
    assert md.finfo().dtype == md.finfo("float").dtype == md.finfo(np.float32).dtype == "float32"
    i = md.iinfo(md.int64)
    assert (i.bits, i.max, i.min, i.dtype) == (64, 2**63 - 1, -(2**63), "int64")
    assert md.iinfo(md.long).max == 2**63 - 1
    with pytest.raises(TypeError, match="finfo"):
        md.finfo(md.int64)
    with pytest.raises(TypeError, match="iinfo"):
        md.iinfo(md.float32)
    with pytest.raises(TypeError, match="finfo"):
        md.finfo("float64")


def test_finfo_iinfo_match_torch():
    torch = pytest.importorskip("torch")
    for ours, theirs in ((md.float32, torch.float32), (md.bfloat16, torch.bfloat16)):
        a, b = md.finfo(ours), torch.finfo(theirs)
        for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
            assert getattr(a, field) == getattr(b, field), field
    a, b = md.iinfo(md.int64), torch.iinfo(torch.int64)
    for field in ("bits", "max", "min", "dtype"):
        assert getattr(a, field) == getattr(b, field), field


def test_default_dtype():
    assert md.get_default_dtype() == md.float32 == md.tensor(1.5).dtype
    md.set_default_dtype(md.float32)
    md.set_default_dtype("float")
    for other in (md.int64, md.bfloat16, "float64"):
        with pytest.raises(TypeError, match="set_default_dtype"):
            md.set_default_dtype(other)
    assert md.get_default_dtype() == "float32"


def test_result_type_follows_the_ops():
    operands = [
        md.ones(3),
        md.ones(3, dtype="int64"),
        md.tensor(2.0),
        md.tensor(2),
        2,
        2.5,
        True,
        np.float64(1.5),
        np.int64(3),
    ]
    for a in operands:
        for b in operands:
            if not any(isinstance(x, md.Tensor) for x in (a, b)):
                continue
            assert md.result_type(a, b) == (a + b).dtype, (a, b)
            assert md.result_type(a, b) == (a * b).dtype, (a, b)
    assert md.result_type(1, 2) == "int64" and md.result_type(1, 2.0) == "float32"
    bf = md.ones(3, dtype="bfloat16")
    for other in (md.ones(3), md.tensor(2.0), md.tensor(2), md.ones(3, dtype="bool"), 2, 2.5, True, bf):
        assert md.result_type(bf, other) == (bf + other).dtype == (other * bf).dtype, other
    assert md.result_type(md.tensor(1.0, dtype="bfloat16"), md.tensor(2.0)) == "float32"


def test_promote_types_and_can_cast_match_torch():
    torch = pytest.importorskip("torch")
    pairs = {"float32": torch.float32, "int64": torch.int64, "bfloat16": torch.bfloat16}
    for a, ta in pairs.items():
        for b, tb in pairs.items():
            assert md.promote_types(a, b) == str(torch.promote_types(ta, tb)).removeprefix("torch."), (a, b)
            assert md.can_cast(a, b) == torch.can_cast(ta, tb), (a, b)
    assert md.promote_types(md.long, np.float32) == "float32"
    assert (md.ones(2, dtype="int64") + md.ones(2)).dtype == md.promote_types(md.int64, md.float32)


# ---- print options


@pytest.fixture
def print_defaults():
    yield
    md.set_printoptions(profile="default")


def test_printoptions_change_the_repr(print_defaults):
    x = md.tensor([1.123456789, -2.5, 1000.25])
    native = repr(x)
    md.set_printoptions(precision=2)
    assert repr(x) == "tensor([   1.12,   -2.5 , 1000.25])"
    md.set_printoptions(linewidth=20)  # precision stays 2, as torch's
    assert repr(x).count("\n") == 2 and "1.12" in repr(x)
    md.set_printoptions(sci_mode=True, linewidth=200)
    assert "1.12e+00" in repr(x) and "1.00e+03" in repr(x)
    md.set_printoptions(sci_mode=False, precision=3)
    assert "e+" not in repr(x) and "1.123" in repr(x)
    md.set_printoptions(threshold=5, edgeitems=2)
    assert "..." in repr(md.arange(10.0)) and "..." not in repr(md.arange(5.0))
    md.set_printoptions(profile="full")
    assert "..." not in repr(md.arange(2000))
    md.set_printoptions(profile="short")
    assert "1.12" in repr(x)
    md.set_printoptions(profile="default")
    assert repr(x) == native
    assert str(x) == native


def test_printoptions_leave_numpy_alone(print_defaults):
    before = np.get_printoptions()
    md.set_printoptions(precision=1, linewidth=40, sci_mode=True)
    repr(md.ones(3))
    assert np.get_printoptions() == before
    with pytest.raises(ValueError, match="profile"):
        md.set_printoptions(profile="long")


# ---- determinism


def test_deterministic_flag_is_recorded():
    assert md.are_deterministic_algorithms_enabled() is False
    try:
        with warnings.catch_warnings():
            if NO_CUDA:
                warnings.simplefilter("error")  # on the CPU every kernel is deterministic: nothing to say
            md.use_deterministic_algorithms(True, warn_only=True)
        assert md.are_deterministic_algorithms_enabled() is True
        assert md.is_deterministic_algorithms_warn_only_enabled() is True
    finally:
        md.use_deterministic_algorithms(False)
    assert md.are_deterministic_algorithms_enabled() is False
    assert md.is_deterministic_algorithms_warn_only_enabled() is False


def test_deterministic_mode_warns_about_atomic_kernels_on_cuda(fake_cuda):
    try:
        with pytest.warns(UserWarning, match="embedding"):
            md.use_deterministic_algorithms(True)
    finally:
        md.use_deterministic_algorithms(False)


def test_cpu_kernels_repeat_bit_for_bit():
    md.manual_seed(0)
    w = md.randn((16, 8), requires_grad=True)
    x = md.randn((4, 16))

    def grads():
        w.grad = None
        loss = (md.F.silu(x @ w) ** 2).sum()
        loss.backward()
        return w.grad.numpy().copy()

    np.testing.assert_array_equal(grads(), grads())


# ---- md.backends


@pytest.fixture
def tf32_calls(monkeypatch):
    calls = []
    real = md._core.set_allow_tf32

    def record(on):
        calls.append(on)
        real(on)

    monkeypatch.setattr(md._core, "set_allow_tf32", record)
    yield calls
    md.set_float32_matmul_precision("high")


def test_torch_tf32_switches_drive_the_native_one(tf32_calls):
    md.backends.cuda.matmul.allow_tf32 = False
    assert tf32_calls == [False]
    assert md.backends.allow_tf32 is False and md.backends.cudnn.allow_tf32 is False
    assert md.get_float32_matmul_precision() == "highest"
    md.backends.cudnn.allow_tf32 = True
    assert tf32_calls == [False, True]
    assert md.backends.cuda.matmul.allow_tf32 is True and md.get_float32_matmul_precision() == "high"
    md.set_float32_matmul_precision("highest")
    assert md.backends.cuda.matmul.allow_tf32 is False and md.backends.cudnn.allow_tf32 is False


def test_cudnn_flags_are_recorded_and_other_backends_answer():
    import minidiff.backends.cudnn as cudnn

    assert cudnn is md.backends.cudnn
    assert (cudnn.benchmark, cudnn.deterministic, cudnn.enabled) == (False, False, True)
    try:
        cudnn.benchmark = True
        cudnn.deterministic = True
        assert md.backends.cudnn.benchmark is True and md.backends.cudnn.deterministic is True
    finally:
        cudnn.benchmark = False
        cudnn.deterministic = False
    assert cudnn.is_available() is False and cudnn.version() is None
    assert md.backends.cuda.is_built() == md._core.build_info()["cuda"]
    assert md.backends.mps.is_available() is False


# ---- the package


def test_names_are_exported():
    for name in (
        "compile",
        "get_rng_state",
        "set_rng_state",
        "seed",
        "initial_seed",
        "finfo",
        "iinfo",
        "get_default_dtype",
        "set_default_dtype",
        "result_type",
        "promote_types",
        "can_cast",
        "set_printoptions",
        "use_deterministic_algorithms",
        "are_deterministic_algorithms_enabled",
    ):
        assert name in md.__all__ and callable(getattr(md, name)), name
    assert md.is_floating_point(md.ones(1)) and not md.is_floating_point(md.ones(1, dtype="int64"))
