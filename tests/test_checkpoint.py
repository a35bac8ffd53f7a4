# Checkpoint files: round trip, the `latest` pointer, keeping the last K, crash safety (a failed or
# killed save never leaves a half-written checkpoint where a reader looks), and a clear CheckpointError
# naming the file for every kind of damage (missing, truncated, corrupted, unparsable state).
import json
import os
import shutil

import numpy as np
import pytest
from tiny_unet import TINY

import minidiff as md
from minidiff import checkpoint as ckpt
from minidiff.checkpoint import CheckpointError


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "model": {"a.weight": rng.standard_normal((3, 4)).astype(np.float32), "b": np.arange(5, dtype=np.float32)},
        "ema": {"a.weight": rng.standard_normal((3, 4)).astype(np.float32)},
    }


def save(root, step, seed=0, keep=None):
    return ckpt.save_checkpoint(root, step, arrays(seed), {"epoch": 1, "note": "x"}, keep=keep)


def test_round_trip_and_latest(tmp_path):
    root = tmp_path / "checkpoints"
    path = save(root, 7)
    assert path == root / "step-000007"
    assert sorted(p.name for p in path.iterdir()) == ["ema.safetensors", "model.safetensors", "state.json"]
    assert (root / "latest").read_text().strip() == "step-000007"
    c = ckpt.load_checkpoint(root)
    assert c.step == 7 and c.path == path and c.state["epoch"] == 1 and c.state["note"] == "x"
    for group, tensors in arrays(0).items():
        assert set(c.tensors[group]) == set(tensors)
        for k, v in tensors.items():
            assert np.array_equal(c.tensors[group][k], v)
    # a run directory holding checkpoints/ resolves the same way
    assert ckpt.load_checkpoint(tmp_path).path == path
    assert ckpt.load_checkpoint(path).path == path
    state = json.loads((path / "state.json").read_text())
    assert set(state["files"]) == {"model.safetensors", "ema.safetensors"}
    assert all(len(v["sha256"]) == 64 for v in state["files"].values())


def test_latest_moves_and_keep_last_k(tmp_path):
    root = tmp_path / "ck"
    for step in (10, 20, 30, 40, 50):
        save(root, step, seed=step, keep=3)
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-000030", "step-000040", "step-000050"]
    assert ckpt.load_checkpoint(root).step == 50
    assert ckpt.load_checkpoint(root, which=40).step == 40
    with pytest.raises(FileNotFoundError, match="step 10"):
        ckpt.resolve_checkpoint(root, which=10)


def test_saving_the_same_step_again_replaces_it(tmp_path):
    root = tmp_path / "ck"
    save(root, 5, seed=1)
    save(root, 5, seed=2)
    c = ckpt.load_checkpoint(root)
    assert np.array_equal(c.tensors["model"]["a.weight"], arrays(2)["model"]["a.weight"])
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


def test_failed_save_leaves_previous_checkpoint_and_latest(tmp_path, monkeypatch):
    root = tmp_path / "ck"
    save(root, 1)
    calls = {"n": 0}
    real = ckpt._serialise_tensors

    def failing(tensors, step):
        calls["n"] += 1
        if calls["n"] == 2:  # the second file of the new checkpoint
            raise OSError("disk full")
        return real(tensors, step)

    monkeypatch.setattr(ckpt, "_serialise_tensors", failing)
    with pytest.raises(OSError, match="disk full"):
        save(root, 2)
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-000001"]  # no temporaries left
    assert ckpt.load_checkpoint(root).step == 1


def test_leftover_temporary_dir_of_a_killed_save_is_ignored_then_removed(tmp_path):
    root = tmp_path / "ck"
    save(root, 1)
    # what a process killed mid-save leaves: a hidden temporary directory with some of the files
    partial = root / ".tmp-step-000002-abc"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"\x00" * 10)
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-000001"]
    assert ckpt.load_checkpoint(root).step == 1
    save(root, 3)
    assert not partial.exists()


def test_kill_while_pruning_leaves_nothing_behind_after_the_next_save(tmp_path, monkeypatch):
    root = tmp_path / "ck"
    for step in (1, 2, 3):
        save(root, step)

    class Killed(BaseException):
        pass

    def killed_rmtree(path, ignore_errors=False):
        # kill -9 in the middle of the deletion: state.json is gone, the rest is not
        for state in list(os.walk(path)):
            if "state.json" in state[2]:
                os.unlink(os.path.join(state[0], "state.json"))
        raise Killed

    real_rmtree = shutil.rmtree
    monkeypatch.setattr(shutil, "rmtree", killed_rmtree)
    with pytest.raises(Killed):
        ckpt.prune_checkpoints(root, 1)
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-000002", "step-000003"]
    assert not (root / "step-000001").exists()  # out of sight before the deletion began
    (root / ".latest.k2j4x_8a.tmp").write_text("step-0")  # a killed atomic write of `latest`
    save(root, 4, keep=1)
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-000004"]


def test_files_and_directories_follow_the_umask(tmp_path):
    # mkstemp and mkdtemp create 0600 files and 0700 directories whatever the umask
    for umask, file_mode, dir_mode in [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)]:
        before = os.umask(umask)
        try:
            root = tmp_path / f"ck-{umask:o}"
            path = save(root, 1)
            md.manual_seed(0)
            md.UNet2DModel(**TINY).save_pretrained(tmp_path / f"model-{umask:o}")
        finally:
            os.umask(before)
        assert path.stat().st_mode & 0o777 == dir_mode
        for file in [*path.iterdir(), root / "latest", *(tmp_path / f"model-{umask:o}").iterdir()]:
            assert file.stat().st_mode & 0o777 == file_mode, file


def test_without_latest_file_the_newest_complete_checkpoint_is_used(tmp_path):
    root = tmp_path / "ck"
    save(root, 1)
    save(root, 2)
    (root / "latest").unlink()
    (root / "step-000009").mkdir()  # no state.json: not a complete checkpoint
    assert ckpt.load_checkpoint(root).step == 2


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate", r"model\.safetensors is truncated"),
        ("flip", r"model\.safetensors is corrupt"),
        ("delete", r"model\.safetensors is missing"),
        ("state_truncate", r"state\.json is truncated or corrupt"),
        ("state_delete", r"state\.json is missing"),
    ],
)
def test_damaged_checkpoint_raises_clear_error(tmp_path, damage, message):
    path = save(tmp_path, 3)
    model_file, state_file = path / "model.safetensors", path / "state.json"
    if damage == "truncate":
        model_file.write_bytes(model_file.read_bytes()[:-7])
    elif damage == "flip":
        data = bytearray(model_file.read_bytes())
        data[-1] ^= 0xFF
        model_file.write_bytes(bytes(data))
    elif damage == "delete":
        model_file.unlink()
    elif damage == "state_truncate":
        state_file.write_text(state_file.read_text()[:40])
    else:
        state_file.unlink()
    with pytest.raises(CheckpointError, match=message) as info:
        ckpt.load_checkpoint(tmp_path)
    assert "step-000003" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_latest_naming_a_missing_directory(tmp_path):
    save(tmp_path, 3)
    (tmp_path / "latest").write_text("step-000099\n")
    with pytest.raises(CheckpointError, match="step-000099"):
        ckpt.load_checkpoint(tmp_path)


def test_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ckpt.load_checkpoint(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no checkpoint found"):
        ckpt.load_checkpoint(tmp_path)


def test_newer_format_version_is_refused(tmp_path):
    path = save(tmp_path, 1)
    state = json.loads((path / "state.json").read_text())
    state["format_version"] = 99
    (path / "state.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="format version 99"):
        ckpt.load_checkpoint(tmp_path)


def test_trainer_resume_from_corrupt_checkpoint_names_the_file(tmp_path):
    cfg = md.TrainingConfig(
        batch_size=8, max_steps=2, output_dir=str(tmp_path), num_samples=2, sample_steps=2, save_every=0
    )
    md.manual_seed(0)
    model = md.UNet2DModel(**TINY)
    images = np.random.default_rng(0).uniform(-1, 1, (16, 1, 8, 8)).astype(np.float32)
    md.Trainer(cfg).train(model, images)
    path = ckpt.resolve_checkpoint(tmp_path)
    opt_file = path / "optimizer.safetensors"
    opt_file.write_bytes(opt_file.read_bytes()[: opt_file.stat().st_size // 2])
    md.manual_seed(0)
    fresh = md.UNet2DModel(**TINY)
    with pytest.raises(CheckpointError, match=r"optimizer\.safetensors is truncated"):
        md.Trainer(cfg.replace(max_steps=4)).train(fresh, images, resume_from="latest")


def test_trainer_checkpoint_holds_everything_needed(tmp_path):
    cfg = md.TrainingConfig(
        batch_size=8, max_steps=3, output_dir=str(tmp_path), num_samples=2, sample_steps=2, save_every=0
    )
    md.manual_seed(0)
    model = md.UNet2DModel(**TINY)
    images = np.random.default_rng(0).uniform(-1, 1, (20, 1, 8, 8)).astype(np.float32)
    trainer = md.Trainer(cfg)
    trainer.train(model, images)
    c = ckpt.load_checkpoint(tmp_path)
    assert c.step == 3
    names = [n for n, _ in model.named_parameters()]
    assert set(c.tensors["model"]) == set(model.state_dict())
    assert set(c.tensors["ema"]) == set(names)
    assert set(c.tensors["optimizer"]) == {f"{m}.{n}" for m in ("exp_avg", "exp_avg_sq") for n in names}
    for n, p in model.named_parameters():
        assert np.array_equal(c.tensors["model"][n], p.numpy())
    for n, s in zip(names, trainer.ema.shadow_params):
        assert np.array_equal(c.tensors["ema"][n], s.numpy())
    state = c.state
    assert state["optimizer"]["step"] == 3 and state["optimizer"]["class"] == "AdamW"
    assert state["dataloader"] == trainer.loader.state_dict()
    assert state["generators"]["trainer"] == list(trainer.generator.get_state())
    assert md.TrainingConfig.from_dict(state["config"]) == cfg
    assert state["scheduler_config"]["num_train_timesteps"] == 1000
    assert md.UNet2DModel.from_config(state["model_config"]).config == model.config
