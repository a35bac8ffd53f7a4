#!/usr/bin/env bash
# Regenerates the type stubs of the native module (python/minidiff/_core/*.pyi) from a built
# minidiff with pybind11-stubgen (a developer tool, not a dependency): run after changing bindings.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
python -m pybind11_stubgen minidiff._core -o "$out" --numpy-array-use-type-var
rm -rf python/minidiff/_core
cp -r "$out/minidiff/_core" python/minidiff/_core
rm -rf "$out"
ruff format -q python/minidiff/_core  # first: the generator writes long lines that check would reject
ruff check --fix -q python/minidiff/_core
echo "stubs written to python/minidiff/_core/"
