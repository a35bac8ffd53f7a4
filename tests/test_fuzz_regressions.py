"""Inputs that crashed the process or hung it, found by tools/fuzz_native.py: each must now be a
Python exception (or torch's result) quickly. The crashes run in a child process, so that a
regression fails this test instead of killing the test run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import minidiff as md

_CRASHERS = {
    # a tensor of several elements where an int, a dim or a shape goes read a failed __index__
    "zeros_of_a_tensor": "md.zeros(md.tensor([2, 3]))",
    "sum_over_a_tensor_dim": "md.randn(3).sum(md.tensor([0, 0]))",
    "reshape_to_a_tensor": "md.randn(2).reshape(md.randn(2))",
    "shape_list_with_a_tensor": "md.zeros([md.randn(2)])",
    # 4 * 2**62 repeats wrapped around to 0 in NumPy's count
    "repeat_interleave_overflow": "md.randn(4).repeat_interleave(2**62)",
    # each hung (a 2**40-digit power, Python lists of 2**62 bin indices)
    "round_huge_decimals": "md.round(md.randn(3), decimals=2**40)",
    "adaptive_pool_huge_output": "md.F.adaptive_avg_pool1d(md.randn(2, 3), [2**62])",
    "adaptive_max_pool_huge_output": "md.F.adaptive_max_pool2d(md.randn(1, 2, 3, 3), (2**31, 2**31))",
}


@pytest.mark.parametrize("name", sorted(_CRASHERS))
def test_former_crashers_raise_or_return(name):
    script = f"""
import minidiff as md
try:
    {_CRASHERS[name]}
except (TypeError, ValueError, IndexError, MemoryError) as e:
    print("raised", type(e).__name__)
else:
    print("returned")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(("raised", "returned")), result.stdout


def test_round_with_decimals_beyond_float32_is_nan_as_torch():
    x = md.tensor([1.5, 2.345678, -3.1])
    assert np.isnan(md.round(x, decimals=39).numpy()).all()
    assert np.isnan(md.round(x, decimals=-39).numpy()).all()
    np.testing.assert_allclose(md.round(md.tensor([1234.5678]), decimals=-2).numpy(), [1200.0])
    np.testing.assert_allclose(md.round(md.tensor([1234.5678]), decimals=2).numpy(), [1234.57], rtol=1e-6)


def test_a_tensor_of_several_elements_is_no_index():
    with pytest.raises(TypeError, match="one element"):
        md.zeros(md.tensor([2, 3]))
    assert md.zeros(md.tensor(3)).shape == (3,)  # one element: an index, as torch


def test_seeds_as_torch_takes_them():
    for seed in (-5, -1, -(2**63), 2**64 - 1):
        md.manual_seed(seed)
        assert md.default_generator().initial_seed() == seed % 2**64
    assert md.Generator(-3).initial_seed() == 2**64 - 3
    for bad in (2**64, -(2**63) - 1):
        with pytest.raises(ValueError, match="manual_seed: the seed"):
            md.manual_seed(bad)
    with pytest.raises(TypeError, match="must be an int"):
        md.manual_seed(1.5)
    md.manual_seed(0)
