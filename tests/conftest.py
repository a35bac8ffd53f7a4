"""Test-wide settings. CI (MINIDIFF_CI=1, set by .ci/run) runs the property tests derandomized, so a
run is repeatable and a landing is never decided by a lucky draw; locally every run explores new
cases.

Test modules that draw their data from a module-level NumPy generator (``RNG``, ``_RNG`` or
``rng``) get it restarted before each test from a seed of the module's and the test's names: a
test's data then does not depend on which tests ran before it in its process (pytest-xdist hands
tests to workers differently from run to run), so a failure repeats."""

import os
import zlib

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("MINIDIFF_CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _restart_module_generators(request):
    module = request.module
    seed = zlib.crc32(f"{module.__name__}::{request.node.name}".encode())
    for name in ("RNG", "_RNG", "rng"):
        if isinstance(getattr(module, name, None), np.random.Generator):
            setattr(module, name, np.random.default_rng(seed))
