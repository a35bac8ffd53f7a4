"""The bf16 rounding oracle of the bf16 matmul tests (test_mixed_precision.py, test_cuda.py)."""

import numpy as np


def bf16(x):
    """x rounded to the nearest bfloat16 (ties to even), as float64."""
    u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32).astype(np.float64)
