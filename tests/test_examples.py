"""The examples under examples/ run and learn (a short run of each)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

import minidiff as md

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_from_scratch_tutorial_port_learns_and_writes_its_outputs(tmp_path):
    example = load_example("from_scratch")
    losses = example.main(["--steps", "60", "--batch-size", "64", "--samples", "4", "--out", str(tmp_path)])
    assert len(losses) == 60 and all(np.isfinite(losses))
    # the L1 loss on the noise starts near E|N(0,1)| = 0.8 and must fall well below it
    assert np.mean(losses[:5]) > 0.6 and np.mean(losses[-10:]) < 0.45, (losses[:5], losses[-10:])
    assert (tmp_path / "samples.png").stat().st_size > 0
    state = md.load(tmp_path / "model.pt")
    model = example.TinyUNet()
    model.load_state_dict(state)
    assert "downs.0.bnorm1.running_mean" in state and state["downs.0.bnorm1.num_batches_tracked"].item() == 60


def test_attention_unet_port_learns_with_transforms_and_multihead_attention(tmp_path):
    example = load_example("attention_unet")
    losses = example.main(
        ["--steps", "60", "--batch-size", "32", "--noise-steps", "50", "--samples", "2", "--out", str(tmp_path)]
    )
    assert len(losses) == 60 and all(np.isfinite(losses))
    # the MSE on the noise starts near (or above) 1 and must fall well below it
    assert np.mean(losses[:5]) > 0.8 and np.mean(losses[-10:]) < 0.5, (losses[:5], losses[-10:])
    assert (tmp_path / "samples.png").stat().st_size > 0
    state = md.load(tmp_path / "model.pt")
    assert "sa1.mha.in_proj_weight" in state and "sa1.mha.out_proj.weight" in state
    model = example.AttentionUNet()
    model.load_state_dict(state)
