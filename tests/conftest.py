"""Test-wide settings. CI (MINIDIFF_CI=1, set by .ci/run) runs the property tests derandomized, so a
run is repeatable and a landing is never decided by a lucky draw; locally every run explores new
cases."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("MINIDIFF_CI"):
    settings.load_profile("ci")
