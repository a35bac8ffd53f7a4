# The `minidiff` command line: info, the flags and config files of train (and that no arguments means
# the digits preset), resuming (also after the process is killed with SIGKILL mid-run), clear errors,
# and sample writing a PNG grid plus .npz deterministically from a model folder, a run or a checkpoint.
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tiny_unet
from PIL import Image

import minidiff as md
from minidiff import cli
from minidiff.training import TrainingConfig

# as a JSON config file gives it back: lists, not tuples
TINY = {k: list(v) if isinstance(v, tuple) else v for k, v in tiny_unet.TINY.items()}
PYTHONPATH = str(Path(md.__file__).resolve().parent.parent)


def run_module(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=PYTHONPATH + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "minidiff", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """64 digits with labels, as an .npz dataset."""
    ds = md.data.load_dataset("digits")
    path = tmp_path_factory.mktemp("data") / "digits64.npz"
    np.savez(path, images=(ds.images[:64, 0] + 1) / 2, labels=ds.labels[:64])
    return str(path)


def tiny_train_args(data_file, out, *extra):
    return [
        "train",
        "--data",
        data_file,
        "--model-config",
        json.dumps(TINY),
        "--out",
        str(out),
        "--batch-size",
        "16",
        "--epochs",
        "2",
        "--lr",
        "2e-3",
        "--sample-steps",
        "3",
        "--num-samples",
        "4",
        "--save-every",
        "1",
        "--no-progress",
        *extra,
    ]


def test_info():
    result = run_module("info")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0].split() == ["minidiff", md.__version__]
    assert "BLAS" in result.stdout and "CUDA devices" in result.stdout
    info = json.loads(run_module("info", "--json").stdout)
    assert info["minidiff"] == md.__version__
    build = md._core.build_info()  # thread counts may differ: other tests change this process's
    assert all(info["build"][k] == build[k] for k in ("version", "cuda", "blas", "compiler"))
    assert info["cuda_available"] == md.cuda.is_available()


def test_no_command_prints_help():
    result = run_module()
    assert result.returncode == 2 and "train" in result.stdout and "sample" in result.stdout


def test_train_without_arguments_is_the_digits_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--save-config", "c.json"]) == 0
    assert TrainingConfig.load(tmp_path / "c.json") == TrainingConfig.preset("digits")
    assert cli.main(["train", "--batch-size", "32", "--no-use-ema", "--save-config", "d.toml"]) == 0
    assert TrainingConfig.load(tmp_path / "d.toml") == TrainingConfig.preset("digits", batch_size=32, use_ema=False)


def test_config_file_then_flags(tmp_path):
    (tmp_path / "c.toml").write_text('batch_size = 8\nlearning_rate = 5e-4\nlr_schedule = "linear"\nseed = 3\n')
    out = tmp_path / "c.json"
    assert cli.main(["train", "--config", str(tmp_path / "c.toml"), "--seed", "4", "--save-config", str(out)]) == 0
    c = TrainingConfig.load(out)
    # the file overrides the (digits) preset, the flag overrides the file
    assert (c.batch_size, c.learning_rate, c.lr_schedule, c.seed) == (8, 5e-4, "linear", 4)
    assert c.dataset == "digits" and c.output_dir == "runs/digits"


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_config_file_values_equal_to_the_defaults_still_override_the_preset(tmp_path, monkeypatch, suffix):
    # batch_size 4, learning_rate 1e-4 and num_epochs 100 are the dataclass defaults; the digits preset
    # has 128, 2e-3 and 75
    monkeypatch.chdir(tmp_path)
    args = ["train", "--lr", "1e-4", "--epochs", "100", "--batch-size", "4", "--save-config", f"c1{suffix}"]
    assert cli.main(args) == 0
    assert cli.main(["train", "--config", f"c1{suffix}", "--save-config", f"c2{suffix}"]) == 0
    c1, c2 = TrainingConfig.load(f"c1{suffix}"), TrainingConfig.load(f"c2{suffix}")
    assert (c2.batch_size, c2.learning_rate, c2.num_epochs) == (4, 1e-4, 100)
    assert c2 == c1


def test_config_file_overrides_the_config_of_a_resumed_checkpoint(tmp_path, data_file):
    out = tmp_path / "run"
    assert cli.main(tiny_train_args(data_file, out, "--max-steps", "1")) == 0  # trained at lr 2e-3
    (tmp_path / "c.json").write_text('{"learning_rate": 1e-4}')  # the dataclass default
    saved = tmp_path / "resolved.json"
    args = ["train", "--resume", "latest", "--out", str(out), "--config", str(tmp_path / "c.json")]
    assert cli.main(args + ["--save-config", str(saved)]) == 0
    c = TrainingConfig.load(saved)
    assert c.learning_rate == 1e-4 and c.batch_size == 16 and c.model_config == TINY


def test_train_resume_and_sample(tmp_path, data_file, capsys):
    out = tmp_path / "run"
    assert cli.main(tiny_train_args(data_file, out)) == 0
    for name in ("metrics.jsonl", "training_config.json", "samples/epoch-0001.png", "samples/final.png"):
        assert (out / name).is_file(), name
    assert (out / "model" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    config = TrainingConfig.load(out / "training_config.json")
    assert config.batch_size == 16 and config.learning_rate == 2e-3 and config.model_config == TINY
    assert md.checkpoint.load_checkpoint(out).step == 8  # 64 / 16 = 4 steps an epoch

    # continue for one more epoch: the checkpoint's config plus the flags given
    assert cli.main(["train", "--resume", "latest", "--out", str(out), "--epochs", "3", "--no-progress"]) == 0
    assert md.checkpoint.load_checkpoint(out).step == 12
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if r["type"] == "epoch"] == [0, 1, 2]
    assert TrainingConfig.load(out / "training_config.json").learning_rate == 2e-3

    # sampling from the final model, the run directory and a checkpoint
    grid = tmp_path / "grid.png"
    args = ["sample", "--model", str(out / "model"), "--n", "6", "--steps", "3", "--seed", "1", "--out", str(grid)]
    assert cli.main(args) == 0
    first = np.load(tmp_path / "grid.npz")["images"]
    assert first.shape == (6, 8, 8, 1) and 0 <= first.min() and first.max() <= 1
    png = np.asarray(Image.open(grid))
    assert png.shape == ((2 * 9 + 1) * 4, (3 * 9 + 1) * 4)  # 3 columns x 2 rows of 8x8 tiles, drawn 4x
    assert cli.main(args[:-2] + ["--out", str(tmp_path / "again.png")]) == 0
    assert np.array_equal(np.load(tmp_path / "again.npz")["images"], first)
    assert cli.main(args[:2] + [str(out)] + args[3:-2] + ["--out", str(tmp_path / "run.png")]) == 0
    assert np.array_equal(np.load(tmp_path / "run.npz")["images"], first)  # a run directory means its model/
    ck = md.checkpoint.resolve_checkpoint(out)
    assert cli.main(args[:2] + [str(ck)] + args[3:-2] + ["--out", str(tmp_path / "ck.png")]) == 0
    assert np.array_equal(np.load(tmp_path / "ck.npz")["images"], first)  # the checkpoint's EMA weights
    ddpm = ["sample", "--model", str(out), "--sampler", "ddpm", "--steps", "4", "--n", "2", "--out"]
    assert cli.main(ddpm + [str(tmp_path / "ddpm.png"), "--npz", str(tmp_path / "x.npz")]) == 0
    assert np.load(tmp_path / "x.npz")["images"].shape == (2, 8, 8, 1)
    assert cli.main(["sample", "--model", str(out), "--class", "3", "--out", str(tmp_path / "c.png")]) == 1
    assert "unconditional" in capsys.readouterr().err
    # the other samplers on the trained schedule: finite images, repeatable per seed
    for sampler in ("euler", "euler-a", "dpm", "pndm", "lms"):
        base = ["sample", "--model", str(out), "--sampler", sampler, "--steps", "4", "--n", "2", "--out"]
        assert cli.main(base + [str(tmp_path / f"{sampler}.png")]) == 0, sampler
        assert cli.main(base + [str(tmp_path / f"{sampler}2.png")]) == 0, sampler
        got = np.load(tmp_path / f"{sampler}.npz")["images"]
        assert got.shape == (2, 8, 8, 1) and np.isfinite(got).all()
        np.testing.assert_array_equal(got, np.load(tmp_path / f"{sampler}2.npz")["images"])
    assert cli.main(["sample", "--model", str(out), "--sampler", "dpm", "--eta", "0.5", "--out", str(grid)]) == 1
    assert "only the ddim sampler takes eta" in capsys.readouterr().err


def test_class_conditional_train_and_guided_sample(tmp_path, data_file):
    out = tmp_path / "cond"
    model_config = dict(TINY, num_class_embeds=11)
    args = tiny_train_args(data_file, out, "--class-conditional", "--epochs", "1")
    args[args.index("--model-config") + 1] = json.dumps(model_config)
    assert cli.main(args) == 0
    grid = tmp_path / "g.png"
    base = ["sample", "--model", str(out), "--n", "4", "--steps", "3", "--out", str(grid)]
    assert cli.main(base + ["--class", "3", "--guidance", "2.5"]) == 0
    assert np.load(tmp_path / "g.npz")["labels"].tolist() == [3, 3, 3, 3]
    assert cli.main(base + ["--class", "1,2"]) == 0
    assert np.load(tmp_path / "g.npz")["labels"].tolist() == [1, 2, 1, 2]
    assert cli.main(base) == 0  # default: every class in turn
    assert np.load(tmp_path / "g.npz")["labels"].tolist() == [0, 1, 2, 3]
    assert cli.main(base + ["--class", "10"]) == 1


def test_class_conditional_flag_adds_class_embeddings_to_a_preset_model(tmp_path, data_file):
    out = tmp_path / "cond-preset"
    args = ["train", "--data", data_file, "--preset", "digits", "--class-conditional", "--out", str(out)]
    args += ["--batch-size", "16", "--max-steps", "1", "--num-samples", "2", "--sample-steps", "2", "--no-progress"]
    assert cli.main(args) == 0
    model_config = TrainingConfig.load(out / "training_config.json").model_config
    assert model_config["num_class_embeds"] == 11 and model_config["block_out_channels"] == [32, 64]


def test_profile_prints_per_op_times_and_writes_nothing(tmp_path, data_file, capsys):
    out = tmp_path / "prof"
    args = tiny_train_args(data_file, out, "--profile", "2", "--gradient-accumulation-steps", "2")
    assert cli.main(args + ["--mixed-precision", "bf16"]) == 0
    text = capsys.readouterr().out
    assert "2 optimiser step(s) of batch 16 x 2 micro-batch(es) on cpu, mixed_precision=bf16" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.split()}
    # 2 steps x 2 micro-batches, each with the same convolutions
    assert int(rows["conv2d"][1]) % 4 == 0 and int(rows["conv2d_backward"][1]) == int(rows["conv2d"][1])
    assert "adam_step" in rows and float(rows["wall"][2]) > 0
    assert not out.exists()
    assert md.get_float32_matmul_precision() == "high"  # the bf16 steps restored it
    with pytest.raises(SystemExit) as exc:
        cli.main(tiny_train_args(data_file, out, "--profile", "0"))
    assert exc.value.code == 2 and "--profile: expected a positive integer, got 0" in capsys.readouterr().err


def test_default_model_is_sized_for_the_data(tmp_path, data_file):
    out = tmp_path / "auto"
    args = tiny_train_args(data_file, out, "--max-steps", "1")
    del args[args.index("--model-config") : args.index("--model-config") + 2]
    assert cli.main(args) == 0
    model_config = TrainingConfig.load(out / "training_config.json").model_config
    assert model_config["sample_size"] == 8 and model_config["block_out_channels"] == [32, 64]


def test_errors_are_reported_clearly(tmp_path, data_file, capsys):
    assert cli.main(["train", "--resume", "latest", "--out", str(tmp_path / "empty"), "--no-progress"]) == 1
    assert "no checkpoint" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"batch_sise": 3}')
    assert cli.main(["train", "--config", str(tmp_path / "bad.json")]) == 1
    assert "batch_sise" in capsys.readouterr().err
    assert cli.main(["train", "--data", str(tmp_path / "nothing.npz"), "--no-progress"]) == 1
    assert "nothing.npz" in capsys.readouterr().err
    np.save(tmp_path / "empty.npy", np.zeros((0, 8, 8), np.uint8))
    assert cli.main(["train", "--data", str(tmp_path / "empty.npy"), "--no-progress"]) == 1
    assert "empty.npy holds no images" in capsys.readouterr().err
    (tmp_path / "types.json").write_text('{"use_ema": "false", "class_conditional": "no"}')
    assert cli.main(["train", "--config", str(tmp_path / "types.json"), "--save-config", str(tmp_path / "x.json")]) == 1
    assert "use_ema must be true or false" in capsys.readouterr().err
    for flags, field in [
        (["--lr", "nan"], "learning_rate"),
        (["--max-grad-norm", "nan"], "max_grad_norm"),
        (["--lr", "inf"], "learning_rate"),
        (["--sample-eta", "nan"], "sample_eta"),
        (["--sample-steps", "2000"], "sample_steps"),
        (["--num-train-timesteps", "10", "--sample-steps", "50"], "sample_steps"),
        (["--beta-schedule", "sigmoid"], "beta_schedule"),
    ]:
        assert cli.main(["train", *flags, "--save-config", str(tmp_path / "x.json")]) == 1, flags
        err = capsys.readouterr().err
        assert err.startswith("minidiff: error: TrainingConfig") and field in err, flags
    assert not (tmp_path / "x.json").exists()
    assert cli.main(["sample", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "x.png")]) == 1
    assert "no model folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["train", "--batch-size", "many"])

    out = tmp_path / "run"
    assert cli.main(tiny_train_args(data_file, out, "--max-steps", "2")) == 0
    state = md.checkpoint.resolve_checkpoint(out) / "ema.safetensors"
    state.write_bytes(state.read_bytes()[:100])
    assert cli.main(["train", "--resume", "latest", "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "ema.safetensors is truncated" in err and "step-000002" in err
    # a fresh run in a directory with checkpoints needs --resume or --overwrite
    assert cli.main(tiny_train_args(data_file, out, "--max-steps", "1")) == 1
    assert "already holds checkpoints" in capsys.readouterr().err
    assert cli.main(tiny_train_args(data_file, out, "--max-steps", "1", "--overwrite")) == 0
    assert md.checkpoint.load_checkpoint(out).step == 1
    # --resume auto starts fresh where there is nothing to resume
    fresh = tmp_path / "fresh"
    assert cli.main(tiny_train_args(data_file, fresh, "--max-steps", "1", "--resume", "auto")) == 0
    assert md.checkpoint.load_checkpoint(fresh).step == 1


def test_os_errors_are_reported_without_a_traceback(tmp_path, data_file, capsys):
    (tmp_path / "afile").touch()
    out = tmp_path / "afile" / "sub"
    assert cli.main(tiny_train_args(data_file, out, "--max-steps", "1")) == 1  # NotADirectoryError
    err = capsys.readouterr().err.splitlines()[-1]  # after the log line announcing the run
    assert err == f"minidiff: error: {out}: Not a directory"
    run = tmp_path / "run"
    assert cli.main(tiny_train_args(data_file, run, "--max-steps", "1")) == 0
    (tmp_path / "grids").mkdir()
    args = ["sample", "--model", str(run), "--n", "2", "--steps", "2", "--out", str(tmp_path / "grids")]
    assert cli.main(args) == 1  # IsADirectoryError
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith(f"minidiff: error: {tmp_path / 'grids'}: is a directory")
    assert list((tmp_path / "grids").iterdir()) == []


def test_a_full_disk_is_reported_with_the_file(tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    assert cli.main(["train", "--save-config", str(tmp_path / "c.json")]) == 1
    assert capsys.readouterr().err == f"minidiff: error: {tmp_path / 'c.json'}: No space left on device\n"
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_sampler_and_batch_size_errors(tmp_path, capsys):
    # a model trained with the sigmoid schedule, which DDIM does not implement (as in diffusers)
    md.manual_seed(0)
    sigmoid = md.DDPMScheduler(beta_schedule="sigmoid")
    md.pipelines.DDPMPipeline(md.UNet2DModel(**TINY), sigmoid).save_pretrained(tmp_path / "model")
    base = ["sample", "--model", str(tmp_path / "model"), "--n", "2", "--steps", "2"]
    assert cli.main(base + ["--sampler", "ddim", "--out", str(tmp_path / "a.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("minidiff: error: --sampler ddim: ") and "sigmoid" in err and "--sampler ddpm" in err
    assert cli.main(base + ["--sampler", "ddpm", "--out", str(tmp_path / "b.png")]) == 0
    for bad in ("0", "-1"):
        with pytest.raises(SystemExit) as exc:
            cli.main(base + ["--batch-size", bad])
        assert exc.value.code == 2
        assert f"--batch-size: expected a positive integer, got {bad}" in capsys.readouterr().err


def test_sample_images_do_not_depend_on_the_batch_size(tmp_path):
    md.manual_seed(0)
    md.pipelines.DDPMPipeline(md.UNet2DModel(**TINY)).save_pretrained(tmp_path / "model")
    for sampler, eta in [("ddpm", "0"), ("ddim", "1")]:
        images = {}
        for batch in ("1", "2", "5"):
            out = tmp_path / f"{sampler}-{batch}.png"
            args = ["sample", "--model", str(tmp_path / "model"), "--sampler", sampler, "--eta", eta, "--n", "5"]
            assert cli.main(args + ["--steps", "6", "--seed", "3", "--batch-size", batch, "--out", str(out)]) == 0
            images[batch] = np.load(out.with_suffix(".npz"))["images"]
        # equal up to the float rounding of convolutions over batches of different sizes
        np.testing.assert_allclose(images["1"], images["5"], atol=1e-4, err_msg=sampler)
        np.testing.assert_allclose(images["2"], images["5"], atol=1e-4, err_msg=sampler)


def test_killed_run_resumes_to_the_same_weights(tmp_path, data_file):
    # A run killed with SIGKILL (no chance to clean up) and resumed with --resume latest ends with the
    # weights of a run that was never interrupted. All three runs use this process's thread count: the
    # killed one is a subprocess, which would take every core (16 on the GPU machine, where this test
    # failed) while an xdist worker here may have fewer, and sums split by another count differ.
    threads = str(md.get_num_threads())
    common = ["--epochs", "30", "--batch-size", "8", "--checkpoint-every", "5", "--save-every", "0"]
    common += ["--num-threads", threads]
    straight = tmp_path / "straight"
    assert cli.main(tiny_train_args(data_file, straight, *common)) == 0

    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=PYTHONPATH + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "minidiff", *tiny_train_args(data_file, killed, *common)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latest = killed / "checkpoints" / "latest"
    deadline = time.monotonic() + 240
    while not latest.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step_at_kill = md.checkpoint.load_checkpoint(killed).step
    assert step_at_kill < 240, "the run finished before it could be killed"
    assert (
        cli.main(["train", "--resume", "latest", "--out", str(killed), "--no-progress", "--num-threads", threads]) == 0
    )

    a = md.checkpoint.load_checkpoint(straight)
    b = md.checkpoint.load_checkpoint(killed)
    assert a.step == b.step == 240
    for group in ("model", "ema", "optimizer"):
        assert a.tensors[group].keys() == b.tensors[group].keys()
        for k in a.tensors[group]:
            assert np.array_equal(a.tensors[group][k], b.tensors[group][k]), (group, k)


@pytest.mark.parametrize("source", ["npy", "npz", "png-folder", "idx", "cifar10"])
def test_train_reads_every_data_format(tmp_path, source):
    # the files are written with test_data.py's helpers; every source is resized to 8x8 gray for one model
    from test_data import make_cifar_dir, make_idx_dir, save_png

    rng = np.random.default_rng(0)
    extra, embeds = [], None
    if source == "npy":
        data = tmp_path / "x.npy"
        np.save(data, rng.integers(0, 256, (6, 8, 8), dtype=np.uint8))
    elif source == "npz":
        data = tmp_path / "x.npz"
        np.savez(data, images=rng.uniform(0, 1, (6, 8, 8, 1)), labels=np.arange(6) % 3)
        extra, embeds = ["--class-conditional", "--num-classes", "3"], 4
    elif source == "png-folder":
        data = tmp_path / "imgs"
        for i in range(6):
            save_png(data / ("a" if i % 2 else "b") / f"{i}.png", rng.integers(0, 256, (12, 10, 3)))
        extra, embeds = ["--image-size", "8", "--channels", "1", "--class-conditional"], 3  # 2 folders
    elif source == "idx":
        data = tmp_path / "idx"
        make_idx_dir(data, n_train=6, size=(10, 10))
        extra = ["--image-size", "8"]
    else:
        data = tmp_path / "cifar"
        make_cifar_dir(data)
        extra = ["--image-size", "8", "--channels", "1"]
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(out), "--batch-size", "2", "--max-steps", "2"]
    args += ["--sample-steps", "2", "--num-samples", "2", "--no-progress", "--save-every", "0", *extra]
    assert cli.main(args) == 0
    config = TrainingConfig.load(out / "training_config.json")
    assert config.model_config["sample_size"] == 8 and config.model_config["in_channels"] == 1
    assert config.model_config.get("num_class_embeds") == embeds  # classes + the null class
    assert md.checkpoint.load_checkpoint(out).step == 2


def test_a_model_config_without_sample_size_takes_the_data_size(data_file, tmp_path):
    # diffusers' UNet2DModel defaults sample_size to None; sampling needs it, so it comes from the data
    config = {k: v for k, v in TINY.items() if k != "sample_size"}
    args = tiny_train_args(data_file, tmp_path / "run", "--max-steps", "1")
    args[args.index("--model-config") + 1] = json.dumps(config)
    result = run_module(*args)
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "run" / "model" / "unet" / "config.json").read_text())
    assert saved["sample_size"] == 8
    trainer = md.training.Trainer(TrainingConfig(output_dir=None, max_steps=1, progress=False))
    with pytest.raises(ValueError, match="no sample_size, which sampling needs; build it with sample_size=8"):
        trainer.train(md.UNet2DModel(**config), md.data.load_dataset("digits"))
