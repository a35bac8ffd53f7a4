# Regressions of the training pipeline (Trainer, checkpoints, the command line, md.save/md.load):
# a checkpoint read with load_checkpoint and then trained on continues its data order; --resume latest
# finds a run where a fresh run with the same arguments wrote it; settings given with a resume take effect;
# a failed or killed re-save of a step keeps the old checkpoint; rotation after resuming from an earlier
# checkpoint keeps the resumed run's newest; a changed noise schedule is named on resume; no tqdm means
# no progress bar, not a crash; Ctrl-C without an output directory claims no checkpoint; flags that
# would be ignored are refused; a scheduler class minidiff lacks is named when a folder is loaded; and
# md.load reads protocol-2 files holding empty arrays.
import io
import json
import logging
import os
import signal
import sys
import tempfile
import warnings

import numpy as np
import pytest
import tiny_unet

import minidiff as md
from minidiff import checkpoint as ckpt
from minidiff import cli
from minidiff.schedulers import DDPMScheduler
from minidiff.training import Trainer, TrainingConfig

TINY_JSON = json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in tiny_unet.TINY.items()})


def tiny(seed=0):
    md.manual_seed(seed)
    return md.UNet2DModel(**tiny_unet.TINY)


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def images(n=40, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 1, 8, 8)).astype(np.float32)


def config(out=None, **kw):
    base = dict(
        output_dir=str(out) if out else None,
        progress=False,
        num_samples=4,
        sample_steps=2,
        batch_size=8,
        learning_rate=1e-3,
        save_every=0,
        sample_every=0,
    )
    return TrainingConfig(**{**base, **kw})


class Stop(Exception):
    pass


def stop_at(step):
    def callback(trainer, row):
        if trainer.global_step == step:
            raise Stop

    return callback


# ---- Trainer


def test_load_checkpoint_then_train_continues_the_data_order(tmp_path):
    # Trainer.load_checkpoint's docstring: "Call train afterwards to continue". The data order restarted
    # at epoch 0 instead: the checkpoint's loader state was kept but never given to train's loader.
    x = images(40)  # 5 batches an epoch
    cfg = config(tmp_path / "a", num_epochs=2, checkpoint_every=3)
    straight = tiny()
    Trainer(cfg).train(straight, x)
    with pytest.raises(Stop):
        Trainer(cfg.replace(output_dir=str(tmp_path / "b"))).train(tiny(), x, callback=stop_at(4))
    trainer = Trainer(cfg.replace(output_dir=str(tmp_path / "c")))
    resumed = tiny(seed=5)
    trainer.load_checkpoint(tmp_path / "b", resumed)
    assert trainer.global_step == 3
    trainer.train(resumed, x)
    assert trainer.global_step == 10 and trainer.loader.epoch == 2
    a, b = weights(straight), weights(resumed)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_settings_given_with_a_resume_take_effect(tmp_path):
    # the stored config's Adam and EMA settings came back from optimizer/EMA state and silently beat the
    # config of the resumed run (minidiff train --resume latest --weight-decay 0.1 warned, then ran with 0.0)
    x = images(32)
    cfg = config(tmp_path, max_steps=2, ema_decay=0.999, weight_decay=0.0)
    Trainer(cfg).train(tiny(), x)
    changed = dict(beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1, ema_decay=0.5, ema_power=0.5)
    changed.update(ema_min_decay=0.1, ema_update_after_step=1, ema_use_warmup=False, ema_inv_gamma=2.0)
    trainer = Trainer(cfg.replace(max_steps=3, **changed))
    with pytest.warns(UserWarning, match="different config.*weight_decay: 0.0 -> 0.1.*ema_min_decay"):
        trainer.train(tiny(), x, resume_from="latest")
    group = trainer.optimizer.param_groups[0]
    assert group["betas"] == (0.8, 0.99) and group["eps"] == 1e-6 and group["weight_decay"] == 0.1
    ema = trainer.ema
    assert (ema.decay, ema.min_decay, ema.update_after_step, ema.use_ema_warmup) == (0.5, 0.1, 1, False)
    assert (ema.power, ema.inv_gamma) == (0.5, 2.0)
    assert ema.optimization_step == 3  # the counters still come from the checkpoint
    # the same settings as stored: nothing to warn about, and the run still resumes exactly (test_training)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(cfg.replace(max_steps=4, **changed)).train(tiny(), x, resume_from="latest")


def test_resuming_with_another_noise_schedule_warns(tmp_path):
    # a noise scheduler passed to the Trainer is not described by the config fields that are compared
    x = images(16)
    cfg = config(tmp_path, max_steps=1)
    Trainer(cfg).train(tiny(), x)
    other = Trainer(cfg.replace(max_steps=2), DDPMScheduler(beta_schedule="squaredcos_cap_v2"))
    with pytest.warns(UserWarning, match="noise scheduler beta_schedule: 'linear' -> 'squaredcos_cap_v2'"):
        other.train(tiny(), x, resume_from="latest")


def test_training_without_tqdm_shows_no_progress_bar(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.setattr(sys, "stderr", Terminal())
    result = Trainer(config(max_steps=2, progress=True)).train(tiny(), images(16))
    assert result["global_step"] == 2
    pipe = md.DDIMPipeline(tiny(), DDPMScheduler())
    assert pipe(1, num_inference_steps=2, generator=md.Generator(0), progress=True).shape == (1, 8, 8, 1)


def test_cli_logs_without_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    handler = cli._TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    record = logging.LogRecord("minidiff", 20, __file__, 1, "epoch %d done", (3,), None)
    handler.emit(record)
    assert capsys.readouterr().err == "epoch 3 done\n"  # not a "--- Logging error ---" traceback


def test_ctrl_c_without_an_output_dir_does_not_claim_a_checkpoint(monkeypatch, capsys):
    def interrupt(trainer, row):
        os.kill(os.getpid(), signal.SIGINT)  # honoured after this step

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt, match="after step 1; nothing saved"):  # was "checkpoint saved"
            Trainer(config(max_steps=3)).train(tiny(), images(16), callback=interrupt)
    finally:
        signal.signal(signal.SIGINT, previous)

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "train", interrupted)
    args = ["train", "--data", "digits", "--out", "", "--model-config", TINY_JSON, "--no-progress"]
    assert cli.main(args) == 130
    err = capsys.readouterr().err
    assert "Nothing was saved (no output directory)" in err and "--out None" not in err


# ---- checkpoints


def arrays(value):
    return {"model": {"w": np.full(3, value, dtype=np.float32)}}


def test_failed_save_of_the_same_step_again_keeps_the_previous_one(tmp_path, monkeypatch):
    # the old step-5 was moved aside, the new one never arrived, and the old one was lost with the
    # hidden directory (latest named a step that did not exist)
    root = tmp_path / "ck"
    ckpt.save_checkpoint(root, 5, arrays(1.0), {})
    real = os.replace

    def full_disk_at_the_final_rename(src, dst):
        if os.path.basename(os.fspath(src)).startswith(".tmp-step-000005"):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", full_disk_at_the_final_rename)
    with pytest.raises(OSError, match="No space left"):
        ckpt.save_checkpoint(root, 5, arrays(2.0), {})
    monkeypatch.setattr(os, "replace", real)
    assert np.array_equal(ckpt.load_checkpoint(root).tensors["model"]["w"], np.ones(3))
    ckpt.save_checkpoint(root, 6, arrays(3.0), {})
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-000005", "step-000006"]


def test_kill_between_the_renames_of_a_same_step_save_keeps_the_previous_one(tmp_path):
    # what kill -9 leaves after the old checkpoint was moved aside and before the new one was renamed in
    root = tmp_path / "ck"
    ckpt.save_checkpoint(root, 4, arrays(0.0), {})
    ckpt.save_checkpoint(root, 5, arrays(1.0), {})

    def move_aside():
        holder = root / ".old-step-000005-abc123"
        holder.mkdir()
        os.replace(root / "step-000005", holder / "step-000005")

    move_aside()
    assert ckpt.load_checkpoint(root).step == 5  # `latest` still names it
    move_aside()
    ckpt.save_checkpoint(root, 6, arrays(3.0), {}, keep=5)  # its clean-up must not delete it
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-000004", "step-000005", "step-000006"]
    assert np.array_equal(ckpt.load_checkpoint(root, which=5).tensors["model"]["w"], np.ones(3))


def test_rotation_after_resuming_from_an_earlier_checkpoint_keeps_the_resumed_runs_newest(tmp_path):
    # keep_checkpoints counted the steps left from the abandoned run beyond the resumed step as the newest:
    # the resumed run's own checkpoints were deleted and the stale ones kept
    x = images(32)
    cfg = config(tmp_path, max_steps=8, checkpoint_every=2, keep_checkpoints=3)
    Trainer(cfg).train(tiny(), x)
    root = tmp_path / "checkpoints"
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-000004", "step-000006", "step-000008"]
    Trainer(cfg.replace(max_steps=7)).train(tiny(), x, resume_from=root / "step-000004")
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-000004", "step-000006", "step-000007"]
    assert ckpt.load_checkpoint(root).step == 7


def test_atomic_write_names_the_file_when_no_temporary_can_be_made(tmp_path, monkeypatch):
    def refused(dir, prefix, suffix):
        raise PermissionError(13, "Permission denied", os.path.join(dir, prefix + "k2j4x_8a" + suffix))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(PermissionError) as info:
        ckpt.atomic_write_bytes(tmp_path / "grid.png", b"x")
    assert info.value.filename == str(tmp_path / "grid.png")


# ---- the command line


@pytest.fixture
def npz_data(tmp_path):
    ds = md.data.load_dataset("digits")
    path = tmp_path / "digits32.npz"
    np.savez(path, images=(ds.images[:32, 0] + 1) / 2, labels=ds.labels[:32])
    return path


def test_resume_latest_finds_the_run_where_a_fresh_run_wrote_it(tmp_path, npz_data, monkeypatch):
    # without --out a run on digits32.npz writes runs/digits32, but --resume latest looked in runs/minidiff
    monkeypatch.chdir(tmp_path)
    common = ["--data", npz_data.name, "--no-progress", "--sample-steps", "2", "--num-samples", "4"]
    fresh = ["train", *common, "--model-config", TINY_JSON, "--batch-size", "16", "--max-steps", "2"]
    assert cli.main(fresh) == 0
    assert ckpt.load_checkpoint(tmp_path / "runs" / "digits32").step == 2
    assert cli.main(["train", "--resume", "latest", *common, "--max-steps", "3"]) == 0
    assert ckpt.load_checkpoint(tmp_path / "runs" / "digits32").step == 3
    assert cli.main(["train", "--resume", "auto", *common, "--max-steps", "4"]) == 0
    assert ckpt.load_checkpoint(tmp_path / "runs" / "digits32").step == 4
    assert not (tmp_path / "runs" / "minidiff").exists()


def test_overwrite_with_resume_is_refused(tmp_path, capsys):
    assert cli.main(["train", "--resume", "latest", "--overwrite", "--out", str(tmp_path)]) == 1
    assert "--overwrite starts afresh and --resume latest continues" in capsys.readouterr().err


@pytest.fixture
def model_dir(tmp_path):
    path = tmp_path / "model"
    md.DDPMPipeline(tiny(), DDPMScheduler()).save_pretrained(path)
    return str(path)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--steps", "0"], "--steps: expected a positive integer, got 0"),  # was the default 50 (1000 for ddpm)
        (["--nrow", "0"], "--nrow: expected a positive integer, got 0"),  # was the default layout
        (["--seed", "-1"], "--seed: expected an integer in [0, 2**64), got -1"),  # was pybind's signature dump
    ],
)
def test_sample_refuses_numbers_it_would_ignore(model_dir, tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit):
        cli.main(["sample", "--model", model_dir, "--n", "2", "--out", str(tmp_path / "g.png"), *flags])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "g.png").exists()


def test_guidance_for_an_unconditional_model_is_refused(model_dir, tmp_path, capsys):
    args = ["sample", "--model", model_dir, "--n", "2", "--steps", "2", "--out", str(tmp_path / "g.png")]
    assert cli.main([*args, "--guidance", "3"]) == 1
    assert "--guidance 3.0: classifier-free guidance needs class labels" in capsys.readouterr().err
    assert cli.main(args) == 0


def test_a_scheduler_class_minidiff_lacks_is_named_not_swapped_silently(tmp_path):
    # a diffusers folder saved with another sampler was loaded as DDPMScheduler without a word
    md.DDPMPipeline(tiny(), DDPMScheduler()).save_pretrained(tmp_path)
    path = tmp_path / "scheduler" / "scheduler_config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "_class_name": "UniPCMultistepScheduler"}))
    with pytest.warns(UserWarning, match="UniPCMultistepScheduler, which minidiff does not implement"):
        pipe = md.DDPMPipeline.from_pretrained(tmp_path)
    assert type(pipe.scheduler) is DDPMScheduler
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        md.DDPMPipeline.from_pretrained(tmp_path, scheduler=md.schedulers.EulerDiscreteScheduler())


# ---- md.save / md.load


@pytest.mark.parametrize("value", [b"", np.zeros((0, 3), np.float32)])
def test_protocol_2_files_with_empty_bytes_load(tmp_path, value):
    # protocol 2 (torch.save's default) pickles empty bytes as a call to bytes(), which was refused
    md.save({"x": value}, tmp_path / "f.pt", pickle_protocol=2)
    loaded = md.load(tmp_path / "f.pt")["x"]
    assert type(loaded) is type(value) and np.array_equal(np.asarray(loaded), np.asarray(value))
    state = {"w": md.zeros((0, 3))}
    md.save(state, tmp_path / "t.pt", pickle_protocol=2)
    assert md.load(tmp_path / "t.pt")["w"].shape == (0, 3)
