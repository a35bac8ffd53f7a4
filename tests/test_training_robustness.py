# Robustness of the training workflow: resuming exactly (also with frozen parameters and after a save
# that died half-way), never writing over another run's checkpoints, configs that survive their files
# (NumPy values, any string in TOML), checkpoints that do not fit failing before they change anything,
# and the command line's resume and sample paths. Each test here failed before the fix it guards.
import json
import shutil

import numpy as np
import pytest
from tiny_unet import TINY

import minidiff as md
import minidiff.checkpoint as ckpt
from minidiff import cli
from minidiff.training import Trainer, TrainingConfig

TINY_JSON = json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in TINY.items()})


def tiny(seed=0):
    md.manual_seed(seed)
    return md.UNet2DModel(**TINY)


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def images(n=32):
    return np.random.default_rng(0).uniform(-1, 1, (n, 1, 8, 8)).astype(np.float32)


def config(out=None, **kw):
    base = dict(
        output_dir=str(out) if out else None,
        progress=False,
        num_samples=2,
        sample_steps=2,
        batch_size=8,
        learning_rate=3e-3,
        max_steps=6,
        save_every=0,
        checkpoint_every=2,
        log_every=1,
    )
    return TrainingConfig(**{**base, **kw})


class Crash(Exception):
    pass


def crash_at(step):
    def callback(trainer, row):
        if trainer.global_step == step:
            raise Crash

    return callback


# ---- resuming exactly


def test_resume_with_a_frozen_parameter_is_exact(tmp_path):
    # A parameter without a gradient is not stepped, so Adam's step counts differ per parameter; the
    # checkpoint kept only the first parameter's count (0 here) and gave it to all on resume.
    def run(out, callback=None, resume=None):
        model = tiny()
        model.conv_in.weight.requires_grad_(False)
        trainer = Trainer(config(out))
        try:
            trainer.train(model, images(), callback=callback, resume_from=resume)
        except Crash:
            pass
        return model, trainer

    straight, t_straight = run(tmp_path / "a")
    run(tmp_path / "b", callback=crash_at(3))
    resumed, t_resumed = run(tmp_path / "b", resume="latest")
    assert same_weights(straight, resumed)
    steps = [s["step"] for s in t_resumed.optimizer.state_dict()["state"].values()]
    assert steps[0] == 0 and set(steps[1:]) == {6}


def test_a_save_that_dies_half_way_keeps_the_previous_checkpoint_and_resumes_exactly(tmp_path, monkeypatch):
    straight = tiny()
    Trainer(config(tmp_path / "a")).train(straight, images())
    write = ckpt.atomic_write_bytes

    def full_disk(path, data):
        if "step-000004" in str(path) and path.name == "optimizer.safetensors":
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device", str(path))
        write(path, data)

    monkeypatch.setattr(ckpt, "atomic_write_bytes", full_disk)
    with pytest.raises(OSError, match="No space left"):
        Trainer(config(tmp_path / "b")).train(tiny(), images())
    monkeypatch.setattr(ckpt, "atomic_write_bytes", write)
    # nothing half-written is left where a reader looks
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir()) == ["latest", "step-000002"]
    assert ckpt.load_checkpoint(tmp_path / "b").step == 2
    resumed = tiny()
    Trainer(config(tmp_path / "b")).train(resumed, images(), resume_from="latest")
    assert same_weights(straight, resumed)

    def losses(out):
        rows = (json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines())
        return [(r["step"], r["loss"]) for r in rows if r["type"] == "step"]

    assert losses(tmp_path / "a") == losses(tmp_path / "b")


# ---- another run's checkpoints


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resuming_a_copied_checkpoint_never_touches_the_run_in_the_output_dir(tmp_path):
    # The config stored in a copied run still names the original's output_dir: resuming the copy's step 2
    # there replaced the original's step-4 checkpoint, pointed its `latest` at the copy and cut its metrics.
    cfg = config(tmp_path / "x", max_steps=8, keep_checkpoints=3)
    Trainer(cfg).train(tiny(), images())
    shutil.copytree(tmp_path / "x", tmp_path / "y")
    before = _snapshot(tmp_path / "x")
    copied = tmp_path / "y" / "checkpoints" / "step-000004"
    with pytest.raises(FileExistsError, match="checkpoints of another run"):
        Trainer(cfg.replace(max_steps=6)).train(tiny(), images(), resume_from=copied)
    assert _snapshot(tmp_path / "x") == before
    # into a directory of its own it goes on, with a log of its own steps only
    Trainer(cfg.replace(max_steps=6, output_dir=str(tmp_path / "z"))).train(tiny(), images(), resume_from=copied)
    rows = [json.loads(line) for line in (tmp_path / "z" / "metrics.jsonl").read_text().splitlines()]
    assert min(r["step"] for r in rows) == 5 and ckpt.load_checkpoint(tmp_path / "z").step == 6
    assert _snapshot(tmp_path / "x") == before


def test_cli_resume_from_a_path_continues_in_that_run_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "d.npy"
    np.save(data, (images(32) + 1) / 2)
    args = ["train", "--data", str(data), "--model-config", TINY_JSON, "--out", "runs/a", "--batch-size", "8"]
    args += ["--max-steps", "2", "--sample-steps", "2", "--num-samples", "2", "--no-progress"]
    assert cli.main(args) == 0
    shutil.copytree("runs/a", "runs/b")
    before = _snapshot(tmp_path / "runs" / "a")
    resume = ["train", "--resume", "runs/b/checkpoints/step-000002", "--max-steps", "3", "--no-progress"]
    assert cli.main(resume) == 0
    assert _snapshot(tmp_path / "runs" / "a") == before
    assert ckpt.load_checkpoint("runs/b").step == 3


# ---- configs


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_numpy_values_make_a_config_that_saves_and_trains(tmp_path, suffix):
    # they passed validation, then json.dumps raised TypeError (and TOML a ValueError)
    c = config(
        tmp_path / "run",
        batch_size=np.int64(8),
        learning_rate=np.float64(1e-3),
        use_ema=np.bool_(True),
        max_steps=np.int32(1),
        model_config={**TINY, "sample_size": np.int64(8)},
    )
    c.save(tmp_path / f"c{suffix}")
    assert TrainingConfig.load(tmp_path / f"c{suffix}") == c
    assert type(c.batch_size) is int and type(c.use_ema) is bool
    Trainer(c).train(md.UNet2DModel(**c.model_config), images(8))
    assert ckpt.load_checkpoint(tmp_path / "run").step == 1


def test_toml_round_trips_any_string(tmp_path):
    # json.dumps wrote U+1F600 as a surrogate pair of \u escapes, which TOML readers reject
    c = TrainingConfig(output_dir='runs/\U0001f600 é "q" \\ \t\x7f', dataset="digits")
    c.save(tmp_path / "c.toml")
    assert TrainingConfig.load(tmp_path / "c.toml") == c


def test_seeds_beyond_the_generators_range_are_refused_by_the_config():
    # sample_seed failed only at the first sample grid, after the training
    for name in ("seed", "sample_seed"):
        with pytest.raises(ValueError, match=f"TrainingConfig.{name} must be below 2\\*\\*64"):
            TrainingConfig(**{name: 2**64})
        assert getattr(TrainingConfig(**{name: 2**64 - 1}), name) == 2**64 - 1
    with pytest.raises(ValueError, match="TrainingConfig.channels must be one of"):
        TrainingConfig(channels=1.0)


# ---- checkpoints that do not fit


@pytest.fixture
def run_dir(tmp_path):
    Trainer(config(tmp_path / "run", max_steps=2)).train(tiny(), images(16))
    return tmp_path / "run"


@pytest.mark.parametrize("case", ["other optimizer", "no EMA weights"])
def test_a_checkpoint_that_does_not_fit_changes_nothing(run_dir, case):
    # the model's weights were loaded before the optimiser class and the EMA weights were checked
    if case == "other optimizer":
        source, trainer, message = run_dir, Trainer(config(optimizer="adam")), "trained with AdamW"
    else:
        source = run_dir.parent / "no-ema"
        Trainer(config(source, max_steps=2, use_ema=False)).train(tiny(), images(16))
        trainer, message = Trainer(config()), "no EMA weights"
    model = tiny(seed=5)
    before = weights(model)
    with pytest.raises(ValueError, match=message):
        trainer.load_checkpoint(source, model)
    assert same_weights_as(model, before)
    assert trainer.global_step == 0 and trainer.model is None


def same_weights_as(model, saved):
    return all(np.array_equal(v, saved[k]) for k, v in weights(model).items())


def test_a_checkpoint_that_is_not_a_trainers_gives_a_clear_error(tmp_path, capsys):
    # md.checkpoint.save_checkpoint of other tensors: KeyError tracebacks from train --resume and sample
    model = tiny()
    tensors = {"model": {k: v.numpy() for k, v in model.state_dict().items()}}
    path = ckpt.save_checkpoint(tmp_path / "ck", 1, tensors, {"note": "mine"})
    with pytest.raises(ckpt.CheckpointError, match="not a Trainer checkpoint"):
        Trainer(config()).load_checkpoint(path, model)
    assert cli.main(["sample", "--model", str(path), "--out", str(tmp_path / "s.png")]) == 1
    assert "not a Trainer checkpoint" in capsys.readouterr().err


def test_metrics_rows_that_are_not_rows_do_not_stop_a_resume(run_dir):
    log = run_dir / "metrics.jsonl"
    log.write_text(log.read_text() + "[1]\n12\n" + '{"step": null}\n')
    Trainer(config(run_dir, max_steps=3)).train(tiny(), images(16), resume_from="latest")
    assert ckpt.load_checkpoint(run_dir).step == 3


# ---- minidiff sample


def test_sample_from_a_run_without_its_final_model_uses_the_latest_checkpoint(run_dir, tmp_path, monkeypatch):
    # a run stopped before its end has checkpoints but no model/ folder yet
    monkeypatch.chdir(tmp_path)
    common = ["--n", "3", "--steps", "2", "--seed", "4", "--no-progress"]
    assert cli.main(["sample", "--model", str(run_dir / "checkpoints" / "step-000002"), "--out", "a.png", *common]) == 0
    shutil.rmtree(run_dir / "model")
    for i, where in enumerate([run_dir, run_dir / "checkpoints"]):
        assert cli.main(["sample", "--model", str(where), "--out", f"b{i}.png", *common]) == 0
        np.testing.assert_array_equal(np.load(f"b{i}.npz")["images"], np.load("a.npz")["images"])


@pytest.mark.parametrize("flag", ["--eta", "--guidance"])
def test_sample_refuses_non_finite_numbers_as_a_usage_error(flag, capsys):
    # --eta nan sampled the whole batch, then failed on NaN images
    with pytest.raises(SystemExit) as e:
        cli.main(["sample", "--model", "x", flag, "nan"])
    assert e.value.code == 2 and "finite" in capsys.readouterr().err
