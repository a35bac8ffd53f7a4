"""Training faults: NaN/Inf losses and gradients are skipped and counted, a run that keeps diverging
stops naming its last good checkpoint, Ctrl-C saves a checkpoint that resumes exactly, a full disk
leaves the previous checkpoint intact, and a process killed with SIGKILL while saving never leaves
a corrupt ``latest``."""

from __future__ import annotations

import errno
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from tiny_unet import TINY

import minidiff as md
from minidiff import checkpoint as ckpt
from minidiff.training import Trainer, TrainingConfig, TrainingDiverged


def tiny(seed=0):
    md.manual_seed(seed)
    return md.UNet2DModel(**TINY)


def config(tmp_path=None, **kw):
    base = dict(
        output_dir=str(tmp_path) if tmp_path else None,
        progress=False,
        num_samples=4,
        sample_steps=2,
        batch_size=16,
        learning_rate=1e-3,
        save_every=0,
        sample_every=0,
    )
    return TrainingConfig(**{**base, **kw})


def images(n=64, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 1, 8, 8)).astype(np.float32)


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


class Poisoned(Trainer):
    """Makes the loss (mode 'loss') or only the gradient (mode 'grad') non-finite at chosen steps."""

    def __init__(self, cfg, bad_calls, mode="loss"):
        super().__init__(cfg)
        self.bad_calls, self.mode, self.calls = set(bad_calls), mode, 0

    def compute_loss(self, model, x, labels=None):
        loss = super().compute_loss(model, x, labels)
        self.calls += 1
        if self.calls not in self.bad_calls:
            return loss
        if self.mode == "loss":
            return loss * float("nan")
        # value unchanged (+0), gradient NaN: d sqrt(u)/du at u = 0 is inf, times du/dp = 0
        p = next(model.parameters())
        return loss + ((p * 0.0).sum()).sqrt()


@pytest.mark.parametrize("mode", ["loss", "grad"])
def test_non_finite_step_is_skipped_and_counted(mode):
    model = tiny()
    trainer = Poisoned(config(), bad_calls={2}, mode=mode)
    x = images(16)
    trainer.train_step(model, x)  # step 1: fine
    before = weights(model)
    value = trainer.train_step(model, x)  # call 2: poisoned
    assert math.isfinite(value) == (mode == "grad")
    assert trainer.skipped_steps == 1 and trainer.global_step == 1
    after = weights(model)
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])
    trainer.train_step(model, x)  # recovers
    assert trainer.global_step == 2 and trainer._bad_in_a_row == 0
    assert all(np.isfinite(v).all() for v in weights(model).values())
    # no poisoned gradient lingers (the step ends with zero_grad, which sets them to None as in torch)
    assert all(p.grad is None or np.isfinite(p.grad.numpy()).all() for p in model.parameters())


def test_gradient_accumulation_skips_the_whole_step():
    model = tiny()
    trainer = Poisoned(config(gradient_accumulation_steps=2), bad_calls={1})
    x = images(16)
    before = weights(model)
    trainer.train_step(model, x)  # poisoned micro-batch
    trainer.train_step(model, x)  # completes the accumulation: skipped as a whole
    assert trainer.global_step == 0 and trainer.skipped_steps == 1
    for k, v in weights(model).items():
        np.testing.assert_array_equal(v, before[k])


def test_too_many_bad_steps_in_a_row_stop_the_run_naming_the_checkpoint(tmp_path):
    model = tiny()
    cfg = config(tmp_path, max_bad_steps=3, checkpoint_every=2, num_epochs=5)
    trainer = Poisoned(cfg, bad_calls=set(range(5, 100)))
    with pytest.raises(TrainingDiverged) as e:
        trainer.train(model, images(64))
    msg = str(e.value)
    assert "3 steps in a row" in msg
    assert str(tmp_path / "checkpoints" / "step-000004") in msg
    assert trainer.skipped_steps == 3 and trainer.global_step == 4
    ckpt.load_checkpoint(tmp_path / "checkpoints" / "step-000004")  # the named checkpoint is good


def test_ctrl_c_checkpoints_the_finished_step_and_resumes_exactly(tmp_path):
    data = images(64)
    straight = tiny()
    Trainer(config(tmp_path / "a", num_epochs=3)).train(straight, data)

    def interrupt(trainer, row):
        if trainer.global_step == 5:
            os.kill(os.getpid(), signal.SIGINT)  # delivered mid-run; honoured after this step

    interrupted = tiny()
    t = Trainer(config(tmp_path / "b", num_epochs=3))
    # a process started in the background ignores SIGINT; this test wants Python's default handler
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt, match="checkpoint saved"):
            t.train(interrupted, data, callback=interrupt)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the trainer put it back
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (tmp_path / "b" / "checkpoints" / "latest").read_text().strip() == "step-000005"

    resumed = tiny(seed=123)  # different initial weights: everything must come from the checkpoint
    Trainer(config(tmp_path / "b", num_epochs=3)).train(resumed, data, resume_from="latest")
    a, b = weights(straight), weights(resumed)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_full_disk_at_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = tiny()
    trainer = Trainer(config(tmp_path, checkpoint_every=2, num_epochs=1))
    x = images(16)
    for _ in range(2):
        trainer.train_step(model, x)
    first = trainer.save_checkpoint()
    trainer.train_step(model, x)
    real_write = ckpt.atomic_write_bytes
    calls = {"n": 0}

    def failing_write(path, data):
        calls["n"] += 1
        if calls["n"] == 2:  # the second file of the new checkpoint
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, data)

    monkeypatch.setattr(ckpt, "atomic_write_bytes", failing_write)
    with pytest.raises(OSError, match="No space left"):
        trainer.save_checkpoint()
    monkeypatch.setattr(ckpt, "atomic_write_bytes", real_write)
    root = tmp_path / "checkpoints"
    assert (root / "latest").read_text().strip() == first.name
    assert [p.name for p in ckpt.list_checkpoints(root)] == [first.name]
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]
    assert ckpt.load_checkpoint(root).step == 2


def test_flipped_byte_is_detected(tmp_path):
    model = tiny()
    trainer = Trainer(config(tmp_path))
    trainer.train_step(model, images(16))
    path = trainer.save_checkpoint()
    target = path / "model.safetensors"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(ckpt.CheckpointError, match="model.safetensors"):
        ckpt.load_checkpoint(path)


SAVER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import minidiff as md
    from minidiff import checkpoint as ckpt

    root = sys.argv[1]
    arrays = {"w": np.arange(1 << 20, dtype=np.float32)}
    ckpt.save_checkpoint(root, 1, {"model": arrays}, {"note": "first"})
    real = ckpt.atomic_write_bytes

    def slow(path, data):
        print("writing", path, flush=True)
        time.sleep(0.3)
        real(path, data)
        time.sleep(0.3)

    ckpt.atomic_write_bytes = slow
    print("second", flush=True)
    ckpt.save_checkpoint(root, 2, {"model": arrays, "ema": arrays, "optimizer": arrays}, {"note": "second"})
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("kill_after_lines", [2, 3, 4])
def test_sigkill_while_saving_never_corrupts_latest(tmp_path, kill_after_lines):
    root = tmp_path / "ckpts"
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True, env=env)
    lines = []
    deadline = time.time() + 60
    while len(lines) < kill_after_lines and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
    proc.kill()  # SIGKILL mid-save
    proc.wait()
    assert lines and lines[0].startswith("second"), lines
    assert "done\n" not in lines
    latest = ckpt.load_checkpoint(root)  # verifies every checksum
    assert latest.step == 1 and latest.state["note"] == "first"
    # the next save clears the debris and works
    ckpt.save_checkpoint(root, 3, {"model": {"w": np.zeros(3, np.float32)}}, {})
    assert ckpt.load_checkpoint(root).step == 3
    assert not [p for p in Path(root).iterdir() if p.name.startswith(".tmp-")]


def test_a_divergence_keeps_counting_across_a_checkpoint_and_resume(tmp_path):
    # a checkpoint written after skipped steps (Ctrl-C, or save_checkpoint) keeps the count of bad
    # steps in a row: a resumed run that keeps diverging stops as soon as the uninterrupted one would
    model = tiny()
    trainer = Poisoned(config(tmp_path, max_bad_steps=3), bad_calls={2, 3})
    x = images(16)
    for _ in range(3):
        trainer.train_step(model, x)
    assert trainer.global_step == 1 and trainer._bad_in_a_row == 2
    trainer.save_checkpoint()
    resumed = Poisoned(config(tmp_path, max_bad_steps=3), bad_calls={1})
    resumed.load_checkpoint(tmp_path, tiny(1))
    assert resumed._bad_in_a_row == 2
    with pytest.raises(TrainingDiverged, match="3 steps in a row"):
        resumed.train_step(resumed.model, x)


def test_resuming_with_another_thread_count_warns(tmp_path):
    model = tiny()
    trainer = Trainer(config(tmp_path))
    trainer.train_step(model, images(16))
    trainer.save_checkpoint()
    threads = md.get_num_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same count: no warning
        Trainer(config(tmp_path)).load_checkpoint(tmp_path, tiny())
    with pytest.warns(UserWarning, match=f"with {threads + 1} CPU threads where it ran with {threads}"):
        Trainer(config(tmp_path, num_threads=threads + 1)).load_checkpoint(tmp_path, tiny())
