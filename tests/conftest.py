"""Test-wide settings. CI (MINIDIFF_CI=1, set by .ci/run) runs the property tests derandomized, so a
run is repeatable and a landing is never decided by a lucky draw; locally every run explores new
cases.

Test modules that draw their data from a module-level NumPy generator (``RNG``, ``_RNG`` or
``rng``) get it restarted before each test from a seed of the module's and the test's names: a
test's data then does not depend on which tests ran before it in its process (pytest-xdist hands
tests to workers differently from run to run), so a failure repeats."""

import os
import re
import zlib
from importlib import metadata

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("MINIDIFF_CI"):
    settings.load_profile("ci")


def _torch_version():
    try:
        return tuple(int(x) for x in re.findall(r"\d+", metadata.version("torch"))[:2])
    except metadata.PackageNotFoundError:
        return None


def pytest_collection_modifyitems(config, items):
    # Tests marked torch_2_13 check minidiff against torch 2.13's API or fixes (the `bias=` argument of
    # the norm layers and their reprs, narrow_copy's derivative, mixed-dtype mse_loss backward). With
    # an older torch (the GPU machine has 2.11) they would report torch's differences as ours.
    version = _torch_version()
    if version is None or version >= (2, 13):
        return
    skip = pytest.mark.skip(reason=f"compares with torch 2.13; torch {metadata.version('torch')} is installed")
    for item in items:
        if "torch_2_13" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _test_device():
    # MINIDIFF_TEST_DEVICE=cuda runs a test file's minidiff side on the GPU: every tensor and layer made
    # without a device named lands there (md.set_default_device), while torch's side stays on the CPU.
    # Meant for the differential files on a GPU machine (benchmarks/gpu_check.sh, DEVICE_DIFFERENTIAL);
    # tests of CPU specifics (threads, the allocator, .device == "cpu") do not hold there.
    device = os.environ.get("MINIDIFF_TEST_DEVICE")
    if not device:
        yield
        return
    import minidiff as md

    md.set_default_device(device)
    try:
        yield
    finally:
        md.set_default_device(None)


@pytest.fixture(autouse=True)
def _restart_module_generators(request):
    module = request.module
    seed = zlib.crc32(f"{module.__name__}::{request.node.name}".encode())
    for name in ("RNG", "_RNG", "rng"):
        if isinstance(getattr(module, name, None), np.random.Generator):
            setattr(module, name, np.random.default_rng(seed))
