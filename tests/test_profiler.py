"""md.profiler: per-op totals of a training step."""

import minidiff as md


def test_profile_collects_forward_and_backward_ops():
    model = md.nn.Conv2d(2, 4, 3, padding=1)
    x = md.randn(2, 2, 6, 6)
    with md.profiler.profile() as prof:
        loss = md.F.mse_loss(model(x), md.zeros(2, 4, 6, 6))
        loss.backward()
    names = {t.name for t in prof.totals}
    assert {"conv2d", "conv2d_backward", "mse_loss", "mse_loss_backward"} <= names
    conv = next(t for t in prof.totals if t.name == "conv2d")
    assert conv.calls == 1 and conv.seconds > 0
    assert sum(t.seconds for t in prof.totals) <= prof.wall_seconds
    assert "conv2d_backward" in prof.table()
    # switched off afterwards: nothing more is recorded
    model(x)
    assert md._core.profiler_snapshot() == {t.name: (t.calls, t.seconds) for t in prof.totals}


def test_nested_profiles_are_refused_instead_of_resetting_the_outer_one():
    import pytest

    x = md.randn(4, 4)
    with md.profiler.profile() as outer:
        md.F.silu(x)
        with pytest.raises(RuntimeError, match="another profile is active"):
            with md.profiler.profile():
                pass
        md.F.tanh(x)
    assert {"silu", "tanh"} <= {t.name for t in outer.totals}
    with md.profiler.profile() as again:  # usable again afterwards
        md.F.relu(x)
    assert "relu" in {t.name for t in again.totals}
