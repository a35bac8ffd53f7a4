#!/usr/bin/env bash
# Regenerates the type stubs of the native module (python/minidiff/_core/*.pyi) from a built
# minidiff with pybind11-stubgen (a developer tool, not a dependency): run after changing bindings.
# MINIDIFF_STUBGEN=1 leaves out the wrappers that add NumPy's axis=/keepdims= spellings
# (minidiff/tensor_math.py), so the stubs show each method's own signature.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
MINIDIFF_STUBGEN=1 python -m pybind11_stubgen minidiff._core -o "$out" --numpy-array-use-type-var
rm -rf python/minidiff/_core
cp -r "$out/minidiff/_core" python/minidiff/_core
rm -rf "$out"
# Tensor methods written in Python (minidiff/tensor_ops.py: installed when the package imports) are
# plain functions whose first argument is named input, as torch's functions; the generator takes
# them for static methods. They are methods: the first argument is the tensor.
python - <<'PY'
import re
path = "python/minidiff/_core/__init__.pyi"
text = open(path).read()
text = re.sub(r"@staticmethod\n(\s+)def (\w+)\(input: Tensor(, )?", lambda m: f"def {m.group(2)}(self{m.group(3) or ''}", text)
open(path, "w").write(text)
PY
ruff format -q python/minidiff/_core  # first: the generator writes long lines that check would reject
ruff check --fix -q python/minidiff/_core
echo "stubs written to python/minidiff/_core/"
