"""The committed type stubs of the native module (python/minidiff/_core/*.pyi) describe every public
name and Tensor method of the built module (regenerate with tools/gen_stubs.sh)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import minidiff as md

STUBS = Path(__file__).resolve().parent.parent / "python" / "minidiff" / "_core"


def _stub_names(path: Path) -> tuple[set[str], dict[str, set[str]]]:
    tree = ast.parse(path.read_text())
    names, classes = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            classes[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    return names, classes


@pytest.mark.parametrize(
    "stub, module",
    [
        ("__init__.pyi", md._core),
        ("functional.pyi", md._core.functional),
        ("nn.pyi", md._core.nn),
        ("optim.pyi", md._core.optim),
    ],
)
def test_stub_lists_every_public_name(stub, module):
    names, _ = _stub_names(STUBS / stub)
    public = {n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))}
    missing = public - names
    assert not missing, f"{stub} lacks {sorted(missing)}: run tools/gen_stubs.sh"


def test_stub_lists_every_tensor_method():
    _, classes = _stub_names(STUBS / "__init__.pyi")
    methods = {n for n in dir(md.Tensor) if not n.startswith("_") and callable(getattr(md.Tensor, n))}
    missing = methods - classes["Tensor"]
    assert not missing, f"Tensor stub lacks {sorted(missing)}: run tools/gen_stubs.sh"
