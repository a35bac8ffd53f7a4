# The Trainer and TrainingConfig: schedule values, config files, the loss of each prediction type
# against its closed-form target, gradient accumulation as the mean of micro-batch gradients, label
# dropout, EMA sampling that puts the raw weights back bit for bit, a real digits run whose loss
# falls well below its start, and a crashed-and-resumed run ending with exactly the weights of an
# uninterrupted one.
import json
import math

import numpy as np
import pytest
from tiny_unet import TINY

import minidiff as md
from minidiff.training import PRESETS, Trainer, TrainingConfig, default_model_config, learning_rate_at

SMALL = dict(TINY, block_out_channels=(16, 32))


def tiny(seed=0, **extra):
    md.manual_seed(seed)
    return md.UNet2DModel(**{**TINY, **extra})


def weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def digits():
    return md.data.load_dataset("digits")


def quiet(tmp_path=None, **kw):
    base = dict(output_dir=str(tmp_path) if tmp_path else None, progress=False, num_samples=4, sample_steps=3)
    return TrainingConfig(**{**base, **kw})


# ---- config


def test_config_defaults_follow_the_api_contract():
    c = TrainingConfig()
    assert (c.learning_rate, c.batch_size, c.num_epochs, c.save_every) == (1e-4, 4, 100, 10)
    assert (c.beta1, c.beta2, c.eps, c.weight_decay) == (0.9, 0.999, 1e-8, 0.0)
    assert md.TrainingConfig is TrainingConfig and md.Trainer is Trainer


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_config_round_trips_through_files(tmp_path, suffix):
    c = TrainingConfig(
        learning_rate=3e-4,
        batch_size=32,
        lr_schedule="cosine",
        warmup_steps=50,
        min_lr=1e-6,
        max_steps=1000,
        model_config=default_model_config(8, 1, 11),
        class_conditional=True,
        output_dir=None,
        eps=1e-8,
        device="cuda:0",
        sample_every=None,
    )
    c.save(tmp_path / f"c{suffix}")
    back = TrainingConfig.load(tmp_path / f"c{suffix}")
    assert back == c
    assert back.model_config["block_out_channels"] == [32, 64]  # tuples come back as lists; the model takes both


def test_toml_config_with_a_training_table_and_int_for_float(tmp_path):
    (tmp_path / "c.toml").write_text('[training]\nlearning_rate = 1\nbatch_size = 16\nlr_schedule = "linear"\n')
    c = TrainingConfig.load(tmp_path / "c.toml")
    assert c.learning_rate == 1.0 and isinstance(c.learning_rate, float) and c.batch_size == 16


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['lerning_rate'\]"):
        TrainingConfig.from_dict({"lerning_rate": 1e-3})
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        TrainingConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainingConfig(lr_schedule="exp")
    with pytest.raises(ValueError, match="prediction_type"):
        TrainingConfig(prediction_type="x0")
    with pytest.raises(ValueError, match="constant_with_warmup"):
        TrainingConfig(lr_schedule="constant", warmup_steps=10)
    with pytest.raises(ValueError, match="label_dropout"):
        TrainingConfig(label_dropout=1.5)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot parse"):
        TrainingConfig.load(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError):
        TrainingConfig.load(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="unknown preset"):
        TrainingConfig.preset("imagenet")


@pytest.mark.parametrize("name", ["use_ema", "ema_use_warmup", "random_flip", "class_conditional", "progress"])
def test_bool_fields_must_be_bools(name):
    # a JSON "false" or "no" is a non-empty string, which would read as true
    for value in ("false", "no", 0, None):
        with pytest.raises(ValueError, match=f"TrainingConfig.{name} must be true or false"):
            TrainingConfig.from_dict({name: value})
    assert getattr(TrainingConfig.from_dict({name: False}), name) is False


def test_string_fields_must_be_strings():
    for name, value in [("dataset", 3), ("device", None), ("output_dir", 5), ("data_root", ["x"])]:
        with pytest.raises(ValueError, match=f"TrainingConfig.{name} must be a string"):
            TrainingConfig.from_dict({name: value})
    assert TrainingConfig(output_dir=None, data_root=None).data_root is None


@pytest.mark.parametrize(
    "name", ["learning_rate", "min_lr", "max_grad_norm", "sample_eta", "guidance_scale", "eps", "ema_power"]
)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_float_fields_must_be_finite(name, value):
    # NaN passes `v < 0`: a NaN max_grad_norm turned clipping off, a NaN learning rate trained NaNs
    with pytest.raises(ValueError, match=f"TrainingConfig.{name} must be a finite number"):
        TrainingConfig.from_dict({name: value})


def test_sampling_settings_are_checked_before_training():
    with pytest.raises(ValueError, match=r"sample_steps \(2000\) cannot exceed num_train_timesteps \(1000\)"):
        TrainingConfig(sample_steps=2000)
    with pytest.raises(ValueError, match=r"sample_steps \(50\) cannot exceed num_train_timesteps \(10\)"):
        TrainingConfig(num_train_timesteps=10, sample_steps=50)
    assert TrainingConfig(num_train_timesteps=10, sample_steps=10).sample_steps == 10
    # DDIMScheduler (as diffusers') has no sigmoid schedule: the grids would fail after the whole run
    with pytest.raises(ValueError, match="beta_schedule 'sigmoid'.*sampler 'ddim'.*use sampler 'ddpm'"):
        TrainingConfig(beta_schedule="sigmoid")
    assert TrainingConfig(beta_schedule="sigmoid", sampler="ddpm").sampler == "ddpm"
    with pytest.raises(ValueError, match="sampler 'ddim' cannot sample.*sigmoid.*use sampler 'ddpm'"):
        Trainer(TrainingConfig(), md.DDPMScheduler(beta_schedule="sigmoid"))


def test_read_values_gives_only_the_keys_in_the_file(tmp_path):
    (tmp_path / "c.json").write_text('{"batch_size": 4, "learning_rate": 1}')
    values = TrainingConfig.read_values(tmp_path / "c.json")
    assert values == {"batch_size": 4, "learning_rate": 1.0} and isinstance(values["learning_rate"], float)
    (tmp_path / "c.toml").write_text('[training]\nnum_epochs = 100\noutput_dir = ""\n')
    assert TrainingConfig.read_values(tmp_path / "c.toml") == {"num_epochs": 100, "output_dir": ""}
    (tmp_path / "bad.toml").write_text("num_epoch = 3\n")
    with pytest.raises(ValueError, match=r"bad.toml has unknown field\(s\) \['num_epoch'\]"):
        TrainingConfig.read_values(tmp_path / "bad.toml")


def test_toml_refuses_a_null_model_field_whose_default_is_not_null(tmp_path):
    # left out of the file, attention_head_dim would come back as the model's default 8: another model
    c = TrainingConfig(model_config=dict(TINY, attention_head_dim=None))
    with pytest.raises(ValueError, match=r"TOML cannot hold null for model_config.attention_head_dim.*\.json"):
        c.save(tmp_path / "c.toml")
    c.save(tmp_path / "c.json")
    assert TrainingConfig.load(tmp_path / "c.json") == c
    # a None the model defaults to anyway may be left out
    c = TrainingConfig(model_config=dict(TINY, num_class_embeds=None, time_embedding_dim=None))
    c.save(tmp_path / "d.toml")
    back = TrainingConfig.load(tmp_path / "d.toml")
    assert md.UNet2DModel(**back.model_config).config == md.UNet2DModel(**c.model_config).config


def test_unet_fields_that_default_to_none():
    from minidiff.training import _UNET_NONE_DEFAULTS

    # exactly the fields a model built without them reports as None (cpp/nn/unet2d.h's UNet2DConfig)
    config = md.UNet2DModel(**{k: v for k, v in TINY.items() if k not in _UNET_NONE_DEFAULTS}).config
    assert {k for k, v in config.items() if v is None} == _UNET_NONE_DEFAULTS
    assert config["attention_head_dim"] == 8 and config["mid_block_type"] == "UNetMidBlock2D"


def test_digits_preset():
    c = TrainingConfig.preset("digits")
    assert c.dataset == "digits" and c.output_dir == "runs/digits"
    assert md.UNet2DModel(**c.model_config).config == md.UNet2DModel(**PRESETS["digits"]["model_config"]).config
    assert TrainingConfig.preset("digits", batch_size=7).batch_size == 7


# ---- learning-rate schedules


def test_schedule_values():
    def cfg(name, **kw):
        return TrainingConfig(lr_schedule=name, learning_rate=1.0, **kw)

    assert [learning_rate_at(cfg("constant"), s, None) for s in (0, 5, 10**6)] == [1.0, 1.0, 1.0]
    w = cfg("constant_with_warmup", warmup_steps=4)
    assert [learning_rate_at(w, s, None) for s in (0, 1, 2, 4, 100)] == [0.0, 0.25, 0.5, 1.0, 1.0]
    lin = cfg("linear", warmup_steps=2)
    assert [learning_rate_at(lin, s, 10) for s in (0, 1, 2, 6, 10, 12)] == [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    # cosine without warmup: 0.5 * (1 + cos(pi * s / T)) from 1 down to min_lr
    cos = cfg("cosine", min_lr=0.1)
    for s in (0, 25, 50, 75, 100, 150):
        expected = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, 100) / 100))
        assert learning_rate_at(cos, s, 100) == pytest.approx(expected, abs=1e-12)
    # warmup, then a cosine over the remaining steps
    wc = cfg("warmup_cosine", warmup_steps=10)
    assert learning_rate_at(wc, 5, 110) == pytest.approx(0.5)
    assert learning_rate_at(wc, 60, 110) == pytest.approx(0.5)
    assert learning_rate_at(wc, 110, 110) == pytest.approx(0.0, abs=1e-12)
    wc_floor = cfg("cosine", warmup_steps=10, min_lr=0.2)
    assert learning_rate_at(wc_floor, 5, 110) == pytest.approx(0.5)
    assert learning_rate_at(wc_floor, 60, 110) == pytest.approx(0.2 + 0.8 * 0.5)
    assert learning_rate_at(wc_floor, 200, 110) == pytest.approx(0.2)
    # the md.lr functions the issue names, at hand-computed points
    assert md.lr.cosine_lr_schedule(50, 100, 1e-3, 1e-5) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)
    assert md.lr.warmup_cosine_schedule(5, 10, 110, 2e-3) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="max_steps"):
        learning_rate_at(cfg("cosine"), 0, None)


def test_trainer_applies_the_schedule_each_step():
    cfg = quiet(lr_schedule="linear", learning_rate=1e-2, warmup_steps=2, max_steps=6, batch_size=4)
    trainer = Trainer(cfg)
    model = tiny()
    images = np.zeros((4, 1, 8, 8), dtype=np.float32)
    seen = []
    for _ in range(6):
        trainer.train_step(model, images)
        seen.append(trainer.optimizer.param_groups[0]["lr"])
    assert seen == pytest.approx([0.0, 5e-3, 1e-2, 7.5e-3, 5e-3, 2.5e-3])


# ---- losses


@pytest.mark.parametrize("ptype", ["epsilon", "v_prediction", "sample"])
def test_loss_of_each_prediction_type_matches_its_closed_form_target(ptype):
    sched = md.DDPMScheduler(prediction_type=ptype)
    trainer = Trainer(quiet(prediction_type=ptype, seed=3), sched)
    model = tiny()
    x0 = np.random.default_rng(0).uniform(-1, 1, (5, 1, 8, 8)).astype(np.float32)
    trainer.prepare(model)
    state = trainer.generator.get_state()
    loss = trainer.compute_loss(model, x0).item()
    # replay the same draws and compute the target with NumPy
    g = md.Generator(0)
    g.set_state(state)
    noise = md.randn((5, 1, 8, 8), generator=g)
    t = sched.sample_timesteps(5, generator=g)
    ab = sched.alphas_cumprod[t.numpy()].reshape(-1, 1, 1, 1)
    noisy = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * noise.numpy()
    with md.no_grad():
        out = model(md.tensor(noisy.astype(np.float32)), t).numpy()
    target = {
        "epsilon": noise.numpy(),
        "v_prediction": np.sqrt(ab) * noise.numpy() - np.sqrt(1 - ab) * x0,
        "sample": x0,
    }[ptype]
    assert loss == pytest.approx(float(np.mean((out - target) ** 2)), rel=1e-4)


def test_mse_loss_and_its_errors():
    a = md.tensor(np.array([[1.0, 2.0]], dtype=np.float32))
    b = md.tensor(np.array([[0.0, 4.0]], dtype=np.float32))
    assert md.losses.mse_loss(a, b).item() == pytest.approx(2.5)
    with pytest.raises(ValueError, match="shape"):
        md.losses.mse_loss(a, md.zeros((2, 1)))
    with pytest.raises(TypeError):
        md.losses.mse_loss(np.zeros(2), b)


def test_scheduler_and_config_must_agree_on_prediction_type():
    with pytest.raises(ValueError, match="predicts 'epsilon'.*'v_prediction'"):
        Trainer(TrainingConfig(prediction_type="v_prediction"), md.DDPMScheduler())


# ---- steps


def _grads_at_step(trainer, model, images):
    captured = {}
    real_step = trainer.optimizer.step

    def capture():
        captured.update({n: p.grad.numpy().copy() for n, p in model.named_parameters()})
        real_step()

    trainer.optimizer.step = capture
    return captured


def test_gradient_accumulation_averages_micro_batches():
    rng = np.random.default_rng(0)
    batches = [rng.uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32) for _ in range(2)]
    # k=2: one optimiser step whose gradient is the mean of the two micro-batch gradients
    acc_model = tiny()
    acc = Trainer(quiet(gradient_accumulation_steps=2, max_grad_norm=0.0, use_ema=False))
    acc.prepare(acc_model)
    got = _grads_at_step(acc, acc_model, None)
    acc.train_step(acc_model, batches[0])
    assert acc.global_step == 0 and not got
    acc.train_step(acc_model, batches[1])
    assert acc.global_step == 1
    # k=1 with lr 0 (weights unchanged between steps): the two gradients separately, same random draws
    ref_model = tiny()
    ref = Trainer(quiet(learning_rate=0.0, max_grad_norm=0.0, use_ema=False))
    ref.prepare(ref_model)
    per_batch = []
    for b in batches:
        g = _grads_at_step(ref, ref_model, None)
        ref.train_step(ref_model, b)
        per_batch.append(dict(g))
    for name in got:
        np.testing.assert_allclose(got[name], (per_batch[0][name] + per_batch[1][name]) / 2, rtol=1e-4, atol=1e-6)


def test_clipping_limits_the_gradient_norm():
    model = tiny()
    trainer = Trainer(quiet(max_grad_norm=1e-3, use_ema=False))
    trainer.prepare(model)
    got = _grads_at_step(trainer, model, None)
    trainer.train_step(model, np.random.default_rng(0).uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32))
    total = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in got.values()))
    assert total == pytest.approx(1e-3, rel=1e-3)
    assert trainer._grad_norm.item() > 1e-3  # the norm before clipping is reported


def test_label_dropout():
    model = tiny(num_class_embeds=11)
    labels = np.arange(1000) % 10
    for p, expected in ((0.0, 0.0), (1.0, 1.0), (0.3, 0.3)):
        trainer = Trainer(quiet(class_conditional=True, label_dropout=p))
        trainer.prepare(model)
        out = trainer._labels_for_step(md.tensor(labels, dtype="int64"), 1000).numpy()
        dropped = out == 10
        assert dropped.mean() == pytest.approx(expected, abs=0.05)
        assert np.array_equal(out[~dropped], labels[~dropped])
    with pytest.raises(ValueError, match="no labels"):
        trainer.train_step(model, np.zeros((2, 1, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        trainer.train_step(model, np.zeros((2, 1, 8, 8), dtype=np.float32), np.array([3, 10]))
    with pytest.raises(ValueError, match="num_class_embeds"):
        Trainer(quiet(class_conditional=True)).prepare(tiny())


def test_sampling_uses_ema_weights_and_restores_the_raw_weights_exactly():
    model = tiny()
    trainer = Trainer(quiet(learning_rate=5e-3, ema_decay=0.9, num_samples=3, sample_steps=4))
    images = np.random.default_rng(0).uniform(-1, 1, (8, 1, 8, 8)).astype(np.float32)
    for _ in range(5):
        trainer.train_step(model, images)
    raw = weights(model)
    shadows = [s.numpy().copy() for s in trainer.ema.shadow_params]
    assert any(not np.array_equal(s, p) for s, p in zip(shadows, raw.values()))  # the EMA differs from the weights
    samples = trainer.sample(model)
    after = weights(model)
    assert all(np.array_equal(raw[k], after[k]) for k in raw)
    # the same sampler on a copy holding the EMA weights gives the same images
    ema_model = tiny()
    ema_model.load_state_dict({n: s for (n, _), s in zip(model.named_parameters(), shadows)})
    pipe = md.DDIMPipeline(ema_model, md.DDIMScheduler())
    assert np.array_equal(samples, pipe(3, num_inference_steps=4, generator=md.Generator(0)))
    assert not np.array_equal(samples, trainer.sample(model, use_ema=False))


def test_data_and_model_shapes_must_agree(tmp_path):
    with pytest.raises(ValueError, match=r"images of shape \(1, 4, 4\).*expects \(1, 8, 8\)"):
        Trainer(quiet()).train(tiny(), np.zeros((8, 1, 4, 4), dtype=np.float32))


# ---- whole runs


def test_digits_training_loss_falls_well_below_its_start(digits, tmp_path):
    md.manual_seed(0)
    model = md.UNet2DModel(**SMALL)
    cfg = quiet(
        tmp_path,
        batch_size=64,
        learning_rate=3e-3,
        lr_schedule="cosine",
        warmup_steps=10,
        num_epochs=6,
        save_every=3,
        num_samples=8,
        sample_steps=5,
        log_every=5,
    )
    result = Trainer(cfg).train(model, digits)
    losses = result["epoch_losses"]
    assert len(losses) == 6 and result["global_step"] == 6 * (len(digits) // 64)
    assert losses[-1] < 0.3 * losses[0], losses
    assert losses[-1] < 0.2

    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if r["type"] == "epoch"]
    assert [r["mean_loss"] for r in epochs] == losses
    steps = [r for r in rows if r["type"] == "step"]
    assert steps and all({"loss", "lr", "images_per_s", "grad_norm"} <= set(r) for r in steps)
    # every log_every steps, and the last step
    assert [r["step"] for r in steps] == list(range(5, result["global_step"] + 1, 5)) + [result["global_step"]]
    assert (tmp_path / "samples" / "epoch-0003.png").is_file() and (tmp_path / "samples" / "final.png").is_file()
    with np.load(tmp_path / "samples" / "final.npz") as f:
        assert f["images"].shape == (8, 8, 8, 1)
    # the saved model is the EMA model, in diffusers' pipeline layout
    saved = md.UNet2DModel.from_pretrained(tmp_path / "model", subfolder="unet")
    for (n, p), s in zip(saved.named_parameters(), last_checkpoint_ema(tmp_path)):
        assert np.array_equal(p.numpy(), s), n
    assert TrainingConfig.load(tmp_path / "training_config.json") == cfg


def last_checkpoint_ema(out):
    c = md.checkpoint.load_checkpoint(out)
    md.manual_seed(0)
    names = [n for n, _ in md.UNet2DModel(**SMALL).named_parameters()]
    return [c.tensors["ema"][n] for n in names]


class Crash(Exception):
    pass


def _run(out, crash_at=None, resume=None, **overrides):
    settings = dict(
        batch_size=16,
        learning_rate=3e-3,
        lr_schedule="cosine",
        warmup_steps=2,
        num_epochs=3,
        save_every=0,
        checkpoint_every=4,
        keep_checkpoints=2,
        gradient_accumulation_steps=2,
        class_conditional=True,
        prediction_type="v_prediction",
        random_flip=True,
    )
    cfg = quiet(out, **{**settings, **overrides})
    model = tiny(num_class_embeds=11, dropout=0.2)
    rng = np.random.default_rng(0)
    data = md.data.Dataset(rng.uniform(-1, 1, (70, 1, 8, 8)), rng.integers(0, 10, 70))
    trainer = Trainer(cfg)

    def crash(t, row):
        if crash_at is not None and t.global_step == crash_at:
            raise Crash

    try:
        trainer.train(model, data, callback=crash, resume_from=resume)
    except Crash:
        pass
    return model, trainer


@pytest.mark.parametrize("mixed_precision", ["no", "bf16"])
def test_interrupted_and_resumed_run_ends_with_identical_weights(tmp_path, mixed_precision):
    # 70 images / 16 = 4 micro-batches = 2 steps an epoch, 6 steps in all; checkpoints every 4 steps.
    # Dropout, label dropout, flips, v-prediction and accumulation all draw random numbers.
    straight, t_straight = _run(tmp_path / "a", mixed_precision=mixed_precision)
    assert t_straight.global_step == 6
    # dies one step after the step-4 checkpoint (mid-epoch 2)
    _, t_crashed = _run(tmp_path / "b", crash_at=5, mixed_precision=mixed_precision)
    assert t_crashed.global_step == 5
    assert md.checkpoint.load_checkpoint(tmp_path / "b").step == 4
    resumed, t_resumed = _run(tmp_path / "b", resume="latest", mixed_precision=mixed_precision)
    assert t_resumed.global_step == 6
    a, b = weights(straight), weights(resumed)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    for x, y in zip(t_straight.ema.shadow_params, t_resumed.ema.shadow_params):
        assert np.array_equal(x.numpy(), y.numpy())
    assert t_straight.epoch_losses == t_resumed.epoch_losses
    # the final checkpoints agree too, file for file
    ca, cb = md.checkpoint.load_checkpoint(tmp_path / "a"), md.checkpoint.load_checkpoint(tmp_path / "b")
    assert ca.state["files"] == cb.state["files"]
    # the metrics log holds no duplicated steps from the lost step 5
    steps = [json.loads(r)["step"] for r in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)


def test_resume_in_another_trainer_with_train_step_continues_the_same_stream(tmp_path):
    # checkpoint written at an epoch boundary (save_every) and read back with load_checkpoint
    model, trainer = _run(tmp_path, num_epochs=1, checkpoint_every=0, save_every=1)
    c = md.checkpoint.load_checkpoint(tmp_path)
    assert c.step == 2 and c.state["dataloader"]["epoch"] == 1 and c.state["dataloader"]["position"] == 0
    other = Trainer(trainer.config)
    fresh = tiny(seed=9, num_class_embeds=11, dropout=0.2)
    other.load_checkpoint(tmp_path, fresh)
    assert other.global_step == 2
    assert other.generator.get_state() == trainer.generator.get_state()
    assert all(np.array_equal(v, weights(model)[k]) for k, v in weights(fresh).items())


def test_writes_nothing_without_an_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = Trainer(quiet(max_steps=2, batch_size=4)).train(tiny(), np.zeros((8, 1, 8, 8), dtype=np.float32))
    assert result["global_step"] == 2 and list(tmp_path.iterdir()) == []


def test_result_reports_the_loss_of_an_unfinished_epoch():
    images = np.random.default_rng(0).uniform(-1, 1, (32, 1, 8, 8)).astype(np.float32)
    steps = []
    cut = Trainer(quiet(batch_size=8, max_steps=6)).train(tiny(), images, callback=lambda t, row: steps.append(row))
    assert len(cut["epoch_losses"]) == 1 and cut["partial_epoch_steps"] == 2  # 4 steps an epoch
    np.testing.assert_allclose(cut["partial_epoch_loss"], np.mean([r["loss"] for r in steps[4:]]), rtol=1e-6)
    whole = Trainer(quiet(batch_size=8, max_steps=8)).train(tiny(), images)
    assert len(whole["epoch_losses"]) == 2 and whole["partial_epoch_loss"] is None
    assert whole["partial_epoch_steps"] == 0


def test_a_second_train_call_continues(tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, (24, 1, 8, 8)).astype(np.float32)
    cfg = quiet(batch_size=8, learning_rate=2e-3)  # a constant rate, so the run's length does not matter
    once = tiny()
    Trainer(cfg).train(once, images, num_epochs=2)
    twice = tiny()
    trainer = Trainer(cfg)
    trainer.train(twice, images, num_epochs=1)
    result = trainer.train(twice, images, num_epochs=2)
    assert result["global_step"] == 6 and len(result["epoch_losses"]) == 2
    a, b = weights(once), weights(twice)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_fresh_run_refuses_a_directory_with_checkpoints(tmp_path):
    images = np.zeros((8, 1, 8, 8), dtype=np.float32)
    cfg = quiet(tmp_path, batch_size=8, max_steps=2, save_every=0)
    Trainer(cfg).train(tiny(), images)
    with pytest.raises(FileExistsError, match="already holds checkpoints.*resume"):
        Trainer(cfg).train(tiny(), images)
    Trainer(cfg.replace(max_steps=1)).train(tiny(), images, overwrite=True)
    assert [p.name for p in md.checkpoint.list_checkpoints(tmp_path / "checkpoints")] == ["step-000001"]


def test_resume_logs_a_checkpoint_that_a_kill_left_unlogged(tmp_path):
    # killed after the checkpoint's directory was renamed into place but before its metrics row
    images = np.random.default_rng(0).uniform(-1, 1, (16, 1, 8, 8)).astype(np.float32)
    cfg = quiet(tmp_path, batch_size=8, max_steps=2, save_every=0, log_every=1)
    Trainer(cfg).train(tiny(), images)
    log = tmp_path / "metrics.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    kept = rows[: next(i for i, r in enumerate(rows) if r["type"] == "checkpoint")]
    log.write_text("".join(json.dumps(r) + "\n" for r in kept))
    Trainer(cfg.replace(max_steps=3)).train(tiny(), images, resume_from="latest")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    checkpoints = [(r["step"], r["epoch"], r["path"]) for r in rows if r["type"] == "checkpoint"]
    ck = tmp_path / "checkpoints"
    assert checkpoints == [(2, 1, str(ck / "step-000002")), (3, 1, str(ck / "step-000003"))]
