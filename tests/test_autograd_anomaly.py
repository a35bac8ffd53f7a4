"""md.autograd.detect_anomaly / set_detect_anomaly, as torch's: a backward node that returns NaN
raises RuntimeError naming the node and the forward line that made it; the mode is restored on
exit; nodes made outside it carry no stack."""

import warnings

import numpy as np
import pytest

import minidiff as md


def _nan_backward(lib):
    x = lib.tensor(np.array([0.0, 1.0], np.float32), requires_grad=True)
    y = lib.sqrt(x)  # the forward line the error names
    return x, (y * 0).sum()  # d sqrt(0) = inf, times 0: NaN


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    assert not md.is_anomaly_enabled()  # no test leaves it on


def test_nan_gradient_raises_with_the_node_and_the_forward_stack():
    with md.autograd.detect_anomaly():
        x, loss = _nan_backward(md)
        with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan values in its 0th output") as e:
            loss.backward()
    assert "y = lib.sqrt(x)  # the forward line the error names" in str(e.value)
    assert "test_autograd_anomaly.py" in str(e.value)


def test_without_anomaly_mode_or_check_nan_the_nan_goes_through():
    x, loss = _nan_backward(md)
    loss.backward()
    assert np.isnan(x.grad.numpy()[0])
    with md.autograd.detect_anomaly(check_nan=False):
        assert md.is_anomaly_enabled() and not md.is_anomaly_check_nan_enabled()
        x, loss = _nan_backward(md)
        loss.backward()
    assert md.is_anomaly_check_nan_enabled()


def test_a_node_made_before_the_mode_has_no_stack():
    x, loss = _nan_backward(md)
    with md.autograd.set_detect_anomaly(True):
        with pytest.raises(RuntimeError, match="made before anomaly detection was enabled"):
            loss.backward()


def test_set_detect_anomaly_as_a_call_and_detect_anomaly_as_a_decorator():
    md.autograd.set_detect_anomaly(True)
    try:
        assert md.is_anomaly_enabled()
    finally:
        md.autograd.set_detect_anomaly(False)
    assert not md.is_anomaly_enabled()

    @md.autograd.detect_anomaly()
    def step():
        assert md.is_anomaly_enabled()
        _, loss = _nan_backward(md)
        loss.backward()

    with pytest.raises(RuntimeError, match="SqrtBackward0"):
        step()
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        with md.autograd.detect_anomaly():
            pass


def test_custom_function_and_a_later_node_are_named():
    class Bad(md.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    with md.autograd.detect_anomaly():
        x = md.tensor(np.ones(3, np.float32), requires_grad=True)
        with pytest.raises(RuntimeError, match="Function 'BadBackward' returned nan"):
            (Bad.apply(x) * 3).sum().backward()
        y = md.tensor(np.array([1.0, -1.0], np.float32), requires_grad=True)
        with pytest.raises(RuntimeError, match="'MulBackward0'"):
            md.log(y * 0).sum().backward()  # log's node returns inf (1 / 0); the mul's (inf * 0) the NaN


def test_node_names_match_torch():
    torch = pytest.importorskip("torch")
    for lib in (md, torch):
        with lib.autograd.detect_anomaly():
            _, loss = _nan_backward(lib)
            with pytest.raises(RuntimeError, match="Function 'SqrtBackward0' returned nan values in its 0th output"):
                loss.backward()
