# Sampling pipelines and image output: determinism for a seed, the DDIM loop against diffusers + PyTorch
# on the same weights and initial noise, classifier-free guidance against separate conditional and
# unconditional passes, diffusers' folder layout both ways, and the PNG grid / .npz writers.
import json

import numpy as np
import pytest
from PIL import Image
from tiny_unet import TINY

import minidiff as md
from minidiff.images import make_grid, save_grid, save_npz, to_uint8
from minidiff.pipelines import DDIMPipeline, DDPMPipeline, load_pipeline


@pytest.fixture(scope="module")
def unet():
    md.manual_seed(1)
    return md.UNet2DModel(**TINY)


@pytest.fixture(scope="module")
def cond_unet():
    md.manual_seed(2)
    return md.UNet2DModel(**TINY, num_class_embeds=4)  # 3 classes + the null class


@pytest.mark.parametrize("cls, steps, eta", [(DDIMPipeline, 8, 0.0), (DDIMPipeline, 8, 1.0), (DDPMPipeline, 6, 0.0)])
def test_deterministic_for_a_seed(unet, cls, steps, eta):
    pipe = cls(unet, cls.scheduler_class())
    a = pipe(3, num_inference_steps=steps, generator=md.Generator(5), eta=eta)
    b = pipe(3, num_inference_steps=steps, generator=md.Generator(5), eta=eta)
    c = pipe(3, num_inference_steps=steps, generator=md.Generator(6), eta=eta)
    assert a.shape == (3, 8, 8, 1) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("cls, eta", [(DDPMPipeline, 0.0), (DDIMPipeline, 1.0), (DDIMPipeline, 0.0)])
def test_forward_batch_size_does_not_change_the_images(unet, cls, eta):
    pipe = cls(unet, cls.scheduler_class())
    whole = pipe(5, num_inference_steps=6, generator=md.Generator(4), eta=eta)
    for chunk in (1, 2, 5, 8):
        parts = pipe(5, num_inference_steps=6, generator=md.Generator(4), eta=eta, forward_batch_size=chunk)
        # the same noise; only the convolutions' float rounding differs between batch sizes
        np.testing.assert_allclose(parts, whole, atol=1e-4, err_msg=f"forward_batch_size={chunk}")
    with pytest.raises(ValueError, match="forward_batch_size must be a positive int"):
        pipe(2, num_inference_steps=2, forward_batch_size=0)


def test_pipeline_converts_a_ddpm_scheduler_for_ddim(unet):
    pipe = DDIMPipeline(unet, md.DDPMScheduler(beta_schedule="squaredcos_cap_v2"))
    assert isinstance(pipe.scheduler, md.DDIMScheduler)
    assert pipe.scheduler.config.beta_schedule == "squaredcos_cap_v2"


def test_ddim_matches_diffusers_on_the_same_weights_and_noise(unet, tmp_path):
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    unet.save_pretrained(tmp_path)
    ref_unet = diffusers.UNet2DModel.from_pretrained(tmp_path).eval()
    ref_sched = diffusers.DDIMScheduler()
    ref_sched.set_timesteps(10)

    ours = DDIMPipeline(unet, md.DDIMScheduler())(4, num_inference_steps=10, generator=md.Generator(3), eta=0.0)
    noise = md.randn((4, 1, 8, 8), generator=md.Generator(3)).numpy()  # the pipeline's first draw
    x = torch.from_numpy(noise)
    with torch.no_grad():
        for t in ref_sched.timesteps:
            x = ref_sched.step(ref_unet(x, t).sample, t, x, eta=0.0).prev_sample
    expected = np.clip(x.numpy().transpose(0, 2, 3, 1) * 0.5 + 0.5, 0, 1)
    np.testing.assert_allclose(ours, expected, atol=2e-4)


def test_guidance_equals_separate_conditional_and_unconditional_passes(cond_unet):
    scale, labels, steps = 3.0, np.array([0, 2, 1]), 5
    ours = DDIMPipeline(cond_unet, md.DDIMScheduler())(
        3, num_inference_steps=steps, generator=md.Generator(0), class_labels=labels, guidance_scale=scale
    )
    sched = md.DDIMScheduler()
    sched.set_timesteps(steps)
    x = md.randn((3, 1, 8, 8), generator=md.Generator(0))
    y = md.tensor(labels, dtype="int64")
    null = md.tensor(np.full(3, 3), dtype="int64")
    cond_unet.eval()
    with md.no_grad():
        for t in sched.timesteps:
            eps_c = cond_unet(x, int(t), y).numpy()
            eps_u = cond_unet(x, int(t), null).numpy()
            eps = md.tensor(eps_u + scale * (eps_c - eps_u))
            x = sched.step(eps, int(t), x).prev_sample
    expected = np.clip(x.numpy().transpose(0, 2, 3, 1) * 0.5 + 0.5, 0, 1)
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_class_labels_select_classes_and_guidance_one_is_plain_conditioning(cond_unet):
    pipe = DDIMPipeline(cond_unet, md.DDIMScheduler())
    a = pipe(2, num_inference_steps=4, generator=md.Generator(0), class_labels=0)
    b = pipe(2, num_inference_steps=4, generator=md.Generator(0), class_labels=[0, 0])
    c = pipe(2, num_inference_steps=4, generator=md.Generator(0), class_labels=[1, 1])
    null = pipe(2, num_inference_steps=4, generator=md.Generator(0))  # unconditional: the null class
    null_explicit = pipe(2, num_inference_steps=4, generator=md.Generator(0), class_labels=3)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.array_equal(null, null_explicit)


def test_bad_arguments(unet, cond_unet):
    pipe = DDIMPipeline(unet, md.DDIMScheduler())
    with pytest.raises(ValueError, match="unconditional"):
        pipe(2, num_inference_steps=2, class_labels=[0, 1])
    with pytest.raises(ValueError, match="batch_size"):
        pipe(0, num_inference_steps=2)
    with pytest.raises(ValueError, match="num_inference_steps"):
        pipe(1, num_inference_steps=0)
    cpipe = DDIMPipeline(cond_unet, md.DDIMScheduler())
    with pytest.raises(ValueError, match=r"class labels must lie in \[0, 4\)"):
        cpipe(2, num_inference_steps=2, class_labels=[0, 7])
    with pytest.raises(ValueError, match="3 class labels for batch_size 2"):
        cpipe(2, num_inference_steps=2, class_labels=[0, 1, 2])
    with pytest.raises(ValueError, match="output_type"):
        pipe(1, num_inference_steps=2, output_type="jpeg")


def test_output_types_and_training_mode_restored(unet):
    pipe = DDIMPipeline(unet, md.DDIMScheduler())
    unet.train()
    raw = pipe(2, num_inference_steps=3, generator=md.Generator(0), output_type="tensor")
    assert unet.training
    pil = pipe(2, num_inference_steps=3, generator=md.Generator(0), output_type="pil")
    arr = pipe(2, num_inference_steps=3, generator=md.Generator(0))
    assert isinstance(raw, md.Tensor) and tuple(raw.shape) == (2, 1, 8, 8)
    np.testing.assert_allclose(arr, np.clip(raw.numpy().transpose(0, 2, 3, 1) * 0.5 + 0.5, 0, 1))
    assert pil[0].size == (8, 8) and pil[0].mode == "L"
    assert np.array_equal(np.asarray(pil[1]), np.rint(arr[1, ..., 0] * 255).astype(np.uint8))


def test_save_and_load_pipeline_folder(unet, tmp_path):
    sched = md.DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    DDPMPipeline(unet, sched).save_pretrained(tmp_path / "pipe")
    index = json.loads((tmp_path / "pipe" / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DModel"] and index["scheduler"] == ["diffusers", "DDPMScheduler"]
    loaded = DDIMPipeline.from_pretrained(tmp_path / "pipe")
    assert isinstance(loaded.scheduler, md.DDIMScheduler)
    assert loaded.scheduler.config.prediction_type == "v_prediction"
    for (n, p), (m, q) in zip(unet.named_parameters(), loaded.unet.named_parameters()):
        assert n == m and np.array_equal(p.numpy(), q.numpy())
    # a bare UNet folder works too, with the default scheduler
    unet.save_pretrained(tmp_path / "bare")
    u, s = load_pipeline(tmp_path / "bare")
    assert isinstance(s, md.DDPMScheduler) and s.config.prediction_type == "epsilon"
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        load_pipeline(tmp_path)
    (tmp_path / "bare" / "scheduler_config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="holds a list, not a JSON object"):
        load_pipeline(tmp_path / "bare")


def test_diffusers_loads_our_pipeline_folder(unet, tmp_path):
    torch = pytest.importorskip("torch")
    diffusers = pytest.importorskip("diffusers")
    DDPMPipeline(unet, md.DDPMScheduler(beta_schedule="squaredcos_cap_v2")).save_pretrained(tmp_path)
    pipe = diffusers.DDPMPipeline.from_pretrained(tmp_path)
    assert pipe.scheduler.config.beta_schedule == "squaredcos_cap_v2"
    ours = dict(unet.named_parameters())
    for name, p in pipe.unet.named_parameters():
        np.testing.assert_array_equal(p.detach().numpy(), ours[name].numpy())
    out = pipe(batch_size=1, num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np")
    assert out.images.shape == (1, 8, 8, 1)


# ---- images


def test_to_uint8_maps_ranges():
    x = np.array([-1.0, -0.5, 0.0, 1.0, 2.0], dtype=np.float32).reshape(5, 1, 1, 1)
    assert to_uint8(x, value_range=(-1, 1)).ravel().tolist() == [0, 64, 128, 255, 255]
    assert to_uint8(x.clip(0, 1), value_range=(0, 1)).ravel().tolist() == [0, 0, 0, 255, 255]
    t = md.tensor(np.zeros((2, 3, 4, 5), dtype=np.float32))  # md tensors are NCHW
    assert to_uint8(t, value_range=(-1, 1)).shape == (2, 4, 5, 3)
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(np.full((1, 2, 2, 1), np.nan))


def test_make_grid_layout():
    images = np.stack([np.full((2, 3, 1), i / 4, dtype=np.float32) for i in range(5)])  # NHWC, 5 tiles of 2x3
    grid = make_grid(images, nrow=3, padding=1, scale=1)
    assert grid.shape == (2 * (2 + 1) + 1, 3 * (3 + 1) + 1, 1)
    assert grid[0].max() == 0 and grid[:, 0].max() == 0  # padding
    for i in range(5):
        r, c = divmod(i, 3)
        tile = grid[1 + r * 3 : 1 + r * 3 + 2, 1 + c * 4 : 1 + c * 4 + 3, 0]
        assert (tile == round(i / 4 * 255)).all()
    assert (grid[4:6, 9:12] == 0).all()  # the empty sixth cell
    big = make_grid(images, nrow=3, padding=1, scale=4)
    assert np.array_equal(big, grid.repeat(4, 0).repeat(4, 1))
    assert make_grid(np.zeros((4, 8, 8, 1))).shape == ((2 * 9 + 1) * 4, (2 * 9 + 1) * 4, 1)  # 8x8 tiles drawn 4x


def test_save_grid_png_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (6, 8, 8, 3)).astype(np.float32)
    grid = save_grid(images, tmp_path / "sub" / "grid.png", nrow=3)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "sub" / "grid.png")), grid)
    save_npz(images, tmp_path / "s.npz", class_labels=[1, 2, 3, 1, 2, 3], seed=4)
    with np.load(tmp_path / "s.npz") as f:
        assert np.array_equal(f["images"], images)
        assert f["labels"].tolist() == [1, 2, 3, 1, 2, 3] and int(f["seed"]) == 4
    gray = save_grid(images[..., :1], tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode == "L" and gray.shape[-1] == 1
