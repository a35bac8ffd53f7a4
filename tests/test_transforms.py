# md.transforms (torchvision.transforms' v1 names) and md.utils.make_grid / save_image, checked
# against NumPy / PIL oracles written from torchvision's documented formulas (torchvision is not
# installed); tensor resizing also against torch.nn.functional.interpolate where torch is installed.
import io
import math

import numpy as np
import pytest
from PIL import Image

import minidiff as md
import minidiff.transforms.functional as TF
from minidiff import transforms as T

# ---- helpers


def rgb(h, w, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def gray(h, w, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8), "L")


def chw(img):
    """ToTensor's oracle: the pixels / 255 as float32 (C, H, W)."""
    arr = np.asarray(img)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return arr.transpose(2, 0, 1).astype(np.float32) / np.float32(255)


def rand_tensor(*shape, seed=0):
    return md.tensor(np.random.default_rng(seed).random(shape, dtype=np.float32))


# ---- conversions


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA", "P"])
def test_to_tensor_pil_matches_pixels_over_255(mode):
    img = rgb(5, 7).convert(mode)
    out = T.ToTensor()(img)
    assert out.dtype == "float32" and tuple(out.shape) == (len(img.getbands()), 5, 7)
    np.testing.assert_array_equal(out.numpy(), chw(img))


def test_to_tensor_special_modes():
    bits = Image.fromarray(np.array([[0, 255, 0], [255, 255, 0]], dtype=np.uint8)).convert("1")
    np.testing.assert_array_equal(T.ToTensor()(bits).numpy(), [[[0, 1, 0], [1, 1, 0]]])
    ints = Image.fromarray(np.array([[3, 70000]], dtype=np.int32), "I")
    out = T.ToTensor()(ints)  # not scaled, int32 as torchvision reads mode "I"
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), [[[3, 70000]]])
    floats = Image.fromarray(np.array([[0.25, 7.5]], dtype=np.float32), "F")
    np.testing.assert_array_equal(T.ToTensor()(floats).numpy(), [[[0.25, 7.5]]])


def test_to_tensor_numpy():
    arr = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(T.ToTensor()(arr).numpy(), arr.transpose(2, 0, 1) / np.float32(255))
    two_d = arr[:, :, 0]
    assert tuple(T.ToTensor()(two_d).shape) == (1, 4, 6)
    floats = np.linspace(-2, 3, 24).reshape(4, 6, 1)  # float64: kept as values (float32 in md)
    out = T.ToTensor()(floats)
    assert out.dtype == "float32"
    np.testing.assert_allclose(out.numpy(), floats.transpose(2, 0, 1), rtol=1e-6)
    assert T.ToTensor()(np.arange(6, dtype=np.int16).reshape(2, 3)).dtype == "int16"  # kept, as torch.from_numpy


def test_to_tensor_errors():
    with pytest.raises(TypeError, match="ToTensor.*list"):
        T.ToTensor()([[1, 2]])
    with pytest.raises(TypeError, match="ToTensor"):
        T.ToTensor()(md.zeros(3, 4, 4))
    with pytest.raises(ValueError, match=r"ToTensor.*\(1, 2, 3, 4\)"):
        T.ToTensor()(np.zeros((1, 2, 3, 4), np.uint8))


def test_pil_to_tensor_keeps_values_as_uint8():
    img = rgb(3, 4)
    out = T.PILToTensor()(img)
    assert out.dtype == "uint8"
    np.testing.assert_array_equal(out.numpy(), np.asarray(img).transpose(2, 0, 1))
    with pytest.raises(TypeError, match="PILToTensor"):
        T.PILToTensor()(np.zeros((3, 4, 3), np.uint8))


@pytest.mark.parametrize("channels,mode", [(1, "L"), (3, "RGB"), (4, "RGBA"), (2, "LA")])
def test_to_pil_image_float_modes_and_truncation(channels, mode):
    x = np.random.default_rng(2).random((channels, 5, 6), dtype=np.float32)
    img = T.ToPILImage()(md.tensor(x))
    assert img.mode == mode and img.size == (6, 5)
    expected = (x.transpose(1, 2, 0) * 255).astype(np.uint8)  # torchvision: times 255, truncated
    np.testing.assert_array_equal(np.asarray(img).reshape(5, 6, channels), expected)


def test_to_pil_image_round_trips_and_other_inputs():
    img = rgb(6, 5)
    back = T.ToPILImage()(T.ToTensor()(img))
    np.testing.assert_array_equal(np.asarray(back), np.asarray(img))
    assert np.asarray(T.ToPILImage()(T.PILToTensor()(img))).tolist() == np.asarray(img).tolist()
    arr = np.asarray(img)
    assert T.ToPILImage()(arr).mode == "RGB"
    f = T.ToPILImage(mode="F")(md.tensor(np.full((1, 2, 2), 0.5, np.float32)))
    assert f.mode == "F" and np.asarray(f)[0, 0] == 0.5
    assert T.ToPILImage()(md.tensor(np.zeros((2, 3), np.float32))).mode == "L"  # (H, W)
    assert repr(T.ToPILImage(mode="RGB")) == "ToPILImage(mode=RGB)" and repr(T.ToPILImage()) == "ToPILImage()"


def test_to_pil_image_errors():
    with pytest.raises(ValueError, match="ToPILImage.*5 channels"):
        T.ToPILImage()(md.zeros(5, 2, 2))
    with pytest.raises(ValueError, match=r"ToPILImage.*\[1, 1, 2, 2\]"):
        T.ToPILImage()(md.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match="ToPILImage.*RGBA"):
        T.ToPILImage(mode="RGBA")(md.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="ToPILImage.*mode"):
        T.ToPILImage(mode="RGB")(md.zeros(1, 2, 2))
    with pytest.raises(TypeError, match="ToPILImage: input type int64 is not supported"):
        T.ToPILImage()(md.tensor(np.array([[[1, 200]]])))  # int64 is not pixels, as in torchvision
    with pytest.raises(TypeError, match="ToPILImage"):
        T.ToPILImage()([1, 2, 3])


def test_convert_image_dtype():
    pixels = md.tensor(np.array([[[0, 1, 128, 255]]], np.uint8))
    as_float = T.ConvertImageDtype(md.float32)(pixels)
    np.testing.assert_array_equal(as_float.numpy(), np.float32([[[0, 1, 128, 255]]]) / np.float32(255))
    x = np.array([[[0.0, 0.5, 0.999, 1.0, 0.00390625]]], np.float32)
    as_uint8 = T.ConvertImageDtype("uint8")(md.tensor(x))
    assert as_uint8.dtype == "uint8"
    # torchvision: x * (255 + 1 - 1e-3), truncated
    np.testing.assert_array_equal(as_uint8.numpy(), (x * np.float32(255.999)).astype(np.uint8))
    assert as_uint8.numpy().tolist() == [[[0, 127, 255, 255, 0]]]
    same = md.tensor(x)
    assert T.ConvertImageDtype(md.float32)(same) is same
    assert T.ConvertImageDtype(md.bfloat16)(same).dtype == "bfloat16"
    with pytest.raises(TypeError, match="ConvertImageDtype: the cast from float32 to int64 cannot be performed"):
        T.ConvertImageDtype(md.int64)(same)
    assert T.ConvertImageDtype(md.float16)(same).dtype == "float16"
    with pytest.raises(ValueError, match="ConvertImageDtype.*float64"):
        T.ConvertImageDtype("float64")


# ---- Normalize


def test_normalize_matches_formula_per_channel():
    x = np.random.default_rng(3).random((2, 3, 4, 5), dtype=np.float32)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    out = T.Normalize(mean, std)(md.tensor(x))
    m, s = np.float32(mean).reshape(3, 1, 1), np.float32(std).reshape(3, 1, 1)
    np.testing.assert_allclose(out.numpy(), (x - m) / s, rtol=1e-6, atol=1e-6)
    one = T.Normalize([0.5], [0.5])(md.tensor(x[0]))  # a single value broadcasts over channels
    np.testing.assert_allclose(one.numpy(), (x[0] - 0.5) / 0.5, rtol=1e-6, atol=1e-6)


def test_normalize_inplace_and_out_of_place():
    x = md.tensor(np.full((1, 2, 2), 1.0, np.float32))
    out = T.Normalize([0.5], [0.25])(x)
    assert x.numpy().tolist() == [[[1.0, 1.0], [1.0, 1.0]]] and out.numpy()[0, 0, 0] == 2.0
    out = T.Normalize([0.5], [0.25], inplace=True)(x)
    assert out is x and x.numpy()[0, 0, 0] == 2.0


def test_normalize_gradient():
    x = md.tensor(np.random.default_rng(4).random((2, 2, 3), dtype=np.float32), requires_grad=True)
    T.Normalize([0.1, 0.2], [0.5, 2.0])(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(np.float32([2.0, 0.5]).reshape(2, 1, 1), (2, 2, 3)))


def test_normalize_errors():
    with pytest.raises(ValueError, match=r"Normalize: mean has 2 values .* 3 channels \(shape \[3, 4, 4\]\)"):
        T.Normalize([0.5, 0.5], [0.5, 0.5, 0.5])(md.zeros(3, 4, 4))
    with pytest.raises(ValueError, match=r"Normalize: std has 3 values .* 1 channels"):
        T.Normalize([0.5], [0.5, 0.5, 0.5])(md.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"Normalize.*\[4, 4\]"):
        T.Normalize([0.5], [0.5])(md.zeros(4, 4))
    with pytest.raises(ValueError, match="Normalize.*zero"):
        T.Normalize([0.5], [0.0])(md.zeros(1, 4, 4))
    with pytest.raises(TypeError, match="Normalize.*float"):
        T.Normalize([0.5], [0.5])(md.tensor(np.zeros((1, 2, 2), np.int64)))
    with pytest.raises(TypeError, match="Normalize"):
        T.Normalize([0.5], [0.5])(rgb(2, 2))


# ---- Resize


def test_resize_int_size_matches_smaller_edge_with_truncation():
    img = rgb(7, 3)  # h=7, w=3: the smaller edge is the width
    out = T.Resize(2)(img)
    assert out.size == (2, 4)  # int(2 * 7 / 3) = 4, not round(4.67)
    assert T.Resize(32)(rgb(40, 50)).size == (40, 32)  # (w, h): int(32 * 50 / 40) = 40
    assert T.Resize([5])(rgb(10, 20)).size == (10, 5)
    t = rand_tensor(2, 3, 7, 3)
    assert tuple(T.Resize(2)(t).shape) == (2, 3, 4, 2)


def test_resize_max_size():
    img = rgb(10, 40)
    assert T.Resize(8, max_size=20)(img).size == (20, 5)  # long edge 32 > 20: 20, short int(20 * 8 / 32)
    assert T.Resize(8, max_size=40)(img).size == (32, 8)
    with pytest.raises(ValueError, match="Resize: max_size = 8 must be strictly greater"):
        T.Resize(8, max_size=8)
    with pytest.raises(ValueError, match="Resize: max_size should only be passed"):
        T.Resize((8, 8), max_size=20)


@pytest.mark.parametrize(
    "mode,pil_filter",
    [
        (T.InterpolationMode.NEAREST, Image.NEAREST),
        (T.InterpolationMode.BILINEAR, Image.BILINEAR),
        (T.InterpolationMode.BICUBIC, Image.BICUBIC),
        (T.InterpolationMode.BOX, Image.BOX),
        (T.InterpolationMode.HAMMING, Image.HAMMING),
        (T.InterpolationMode.LANCZOS, Image.LANCZOS),
    ],
)
@pytest.mark.parametrize("size", [(9, 13), (30, 21)])
def test_resize_pil_uses_the_same_pil_filter(mode, pil_filter, size):
    img = rgb(17, 23)
    out = T.Resize(size, interpolation=mode)(img)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.resize(size[::-1], pil_filter)))
    by_constant = T.Resize(size, interpolation=pil_filter)(img)  # PIL's integer constants
    np.testing.assert_array_equal(np.asarray(by_constant), np.asarray(out))


def test_resize_same_size_returns_input():
    img, t = rgb(8, 8), rand_tensor(3, 8, 8)
    assert T.Resize(8)(img) is img and T.Resize((8, 8))(t) is t


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("shape,size", [((9, 14), (4, 5)), ((6, 5), (13, 11)), ((16, 8), (5, 12))])
def test_resize_tensor_antialias_matches_pil_float_resize(mode, shape, size):
    # PIL's float ("F") resampling is the antialiased filter torch's interpolate(antialias=True) uses
    x = np.random.default_rng(5).random((2,) + shape, dtype=np.float32)
    out = T.Resize(size, interpolation=T.InterpolationMode(mode))(md.tensor(x))
    pil_filter = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[mode]
    expected = np.stack([np.asarray(Image.fromarray(c, "F").resize(size[::-1], pil_filter)) for c in x])
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_resize_tensor_nearest_and_shapes():
    x = np.arange(2 * 3 * 4 * 6, dtype=np.float32).reshape(2, 3, 4, 6)
    out = T.Resize((2, 3), interpolation=T.InterpolationMode.NEAREST)(md.tensor(x))
    np.testing.assert_array_equal(out.numpy(), x[:, :, ::2, ::2])  # torch's nearest: floor(i * in / out)
    assert tuple(T.Resize((5, 7))(md.tensor(x[0, 0])).shape) == (5, 7)  # (H, W)
    with pytest.raises(ValueError, match=r"Resize: interpolation 'lanczos' is for PIL images.*\[2, 3, 4, 6\]"):
        T.Resize(3, interpolation=T.InterpolationMode.LANCZOS)(md.tensor(x))


def test_resize_integer_images_round_and_only_uint8_clamps():
    x = np.random.default_rng(6).integers(0, 256, (3, 9, 7))
    x[:, :, :3], x[:, :, 3:] = 0, 255  # a step: bicubic overshoots on both sides of it
    resize = T.Resize((4, 5), interpolation=T.InterpolationMode.BICUBIC)
    as_float = resize(md.tensor(x.astype(np.float32))).numpy()
    assert as_float.min() < 0 and as_float.max() > 255  # bicubic overshoots: the clamp below is seen
    out = resize(md.tensor(x.astype(np.uint8)))
    assert out.dtype == "uint8"
    np.testing.assert_array_equal(out.numpy(), np.round(np.clip(as_float, 0, 255)))
    wide = resize(md.tensor(x))  # int64 is not pixels: rounded, not clamped, as torchvision
    assert wide.dtype == "int64"
    np.testing.assert_array_equal(wide.numpy(), np.round(as_float))


def test_resize_errors():
    with pytest.raises(ValueError, match=r"Resize: size must be an int or a 1 or 2 element"):
        T.Resize((1, 2, 3))
    with pytest.raises(ValueError, match=r"Resize: size must be positive, got \[0, 4\]"):
        T.Resize((0, 4))
    with pytest.raises(TypeError, match="Resize: size should be an int or a sequence, got float"):
        T.Resize(3.5)
    with pytest.raises(TypeError, match="Resize: interpolation"):
        T.Resize(3, interpolation="bilinear")
    with pytest.raises(ValueError, match="Resize: 9 is not a PIL resampling constant"):
        T.Resize(3, interpolation=9)
    with pytest.raises(TypeError, match="Resize: img should be a PIL Image or an md tensor, got ndarray"):
        T.Resize(3)(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"Resize.*\[4\]"):
        T.Resize(3)(md.zeros(4))


def test_resize_tensor_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for shape, size in [((2, 3, 17, 11), (6, 4)), ((1, 1, 5, 8), (12, 20)), ((3, 9, 9), (4, 7))]:
        x = rng.random(shape, dtype=np.float32)
        for mode in ["nearest", "nearest-exact", "bilinear", "bicubic"]:
            for antialias in (True, False):
                out = T.Resize(size, T.InterpolationMode(mode), antialias=antialias)(md.tensor(x))
                xt = torch.from_numpy(x)[None] if len(shape) == 3 else torch.from_numpy(x)
                aa = antialias and mode in ("bilinear", "bicubic")  # torchvision drops it for the nearest modes
                align = False if mode in ("bilinear", "bicubic") else None
                ref = torch.nn.functional.interpolate(xt, size=size, mode=mode, align_corners=align, antialias=aa)
                ref = ref[0] if len(shape) == 3 else ref
                np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5, err_msg=f"{mode} {aa}")


# ---- crops, flips, padding


@pytest.mark.parametrize("hw,size", [((10, 12), (4, 7)), ((9, 9), 4), ((8, 11), (5, 4)), ((7, 6), (7, 6))])
def test_center_crop_matches_slicing(hw, size):
    img = rgb(*hw)
    ch, cw = (size, size) if isinstance(size, int) else size
    top, left = int(round((hw[0] - ch) / 2.0)), int(round((hw[1] - cw) / 2.0))  # Python's round: half to even
    expected = np.asarray(img)[top : top + ch, left : left + cw]
    np.testing.assert_array_equal(np.asarray(T.CenterCrop(size)(img)), expected)
    t = T.CenterCrop(size)(T.ToTensor()(img))
    np.testing.assert_array_equal(t.numpy(), chw(img)[:, top : top + ch, left : left + cw])


def test_center_crop_larger_than_image_pads_with_zeros():
    img = rgb(3, 4)
    out = np.asarray(T.CenterCrop((6, 7))(img))
    expected = np.zeros((6, 7, 3), np.uint8)
    expected[1:4, 1:5] = np.asarray(img)  # padding (left 1, top 1, right 2, bottom 2)
    np.testing.assert_array_equal(out, expected)
    t = T.CenterCrop((6, 7))(T.ToTensor()(img))
    np.testing.assert_array_equal(t.numpy(), expected.transpose(2, 0, 1) / np.float32(255))


def test_random_crop_is_a_slice_and_seeded():
    img = rgb(12, 15)
    crop = T.RandomCrop((5, 6))
    md.manual_seed(11)
    top, left, h, w = T.RandomCrop.get_params(img, (5, 6))
    md.manual_seed(11)
    out = crop(img)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img)[top : top + h, left : left + w])
    md.manual_seed(11)
    t = crop(T.ToTensor()(img))
    np.testing.assert_array_equal(t.numpy(), chw(img)[:, top : top + 5, left : left + 6])
    # every position is reachable
    md.manual_seed(0)
    seen = {T.RandomCrop.get_params(img, (10, 14))[:2] for _ in range(200)}
    assert seen == {(i, j) for i in range(3) for j in range(2)}


def test_random_crop_padding_and_pad_if_needed():
    img = gray(4, 5)
    out = T.RandomCrop((8, 9), padding=2, fill=7)(img)  # padded to 8 x 9: the only crop is all of it
    np.testing.assert_array_equal(np.asarray(out), np.pad(np.asarray(img), 2, constant_values=7))
    out = T.RandomCrop((6, 9), pad_if_needed=True, padding_mode="edge")(img)
    assert out.size == (9, 6)  # width padded by 4 on both sides (13), height by 2 on both (8), then cropped
    t = T.RandomCrop((6, 9), pad_if_needed=True)(T.ToTensor()(img))
    assert tuple(t.shape) == (1, 6, 9)
    with pytest.raises(
        ValueError, match=r"RandomCrop: required crop size \(6, 9\) is larger than input image size \(4, 5\)"
    ):
        T.RandomCrop((6, 9))(img)
    with pytest.raises(ValueError, match="RandomCrop: please provide only two dimensions"):
        T.RandomCrop((1, 2, 3))
    with pytest.raises(ValueError, match="RandomCrop: padding_mode"):
        T.RandomCrop(3, padding_mode="wrap")


def test_random_crop_generator_is_independent_of_the_default():
    img = rgb(20, 20)
    outs = []
    for burn in (0, 5):
        md.manual_seed(burn)
        md.rand(burn + 1)  # draws from the default generator do not move a transform's own generator
        crop = T.RandomCrop(8, generator=md.Generator(3))
        outs.append([T.RandomCrop.get_params(img, (8, 8), generator=crop.generator) for _ in range(5)])
    assert outs[0] == outs[1]


def test_random_resized_crop_size_and_bounds():
    img = rgb(40, 60)
    md.manual_seed(0)
    out = T.RandomResizedCrop((16, 24))(img)
    assert out.size == (24, 16)
    assert tuple(T.RandomResizedCrop(8)(T.ToTensor()(img)).shape) == (3, 8, 8)
    md.manual_seed(1)
    areas, ratios = [], []
    square = rgb(50, 50)  # every (scale, ratio) in range fits, so the draws show the whole scale range
    for _ in range(600):
        top, left, h, w = T.RandomResizedCrop.get_params(square, (0.08, 1.0), (3 / 4, 4 / 3))
        assert 0 <= top and 0 <= left and top + h <= 50 and left + w <= 50 and h > 0 and w > 0
        areas.append(h * w / (50 * 50))
        ratios.append(w / h)
    # areas cover the scale range (up to the rounding of w and h)
    assert min(areas) < 0.12 and max(areas) > 0.9 and min(areas) > 0.07
    for _ in range(200):  # a wide image: crops stay inside it
        top, left, h, w = T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3))
        assert 0 <= top and 0 <= left and top + h <= 40 and left + w <= 60 and h > 0 and w > 0
    assert min(ratios) < 0.8 and max(ratios) > 1.25
    assert min(ratios) > 0.6 and max(ratios) < 1.7


def test_random_resized_crop_matches_crop_then_resize():
    img = rgb(30, 20)
    md.manual_seed(4)
    top, left, h, w = T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3))
    md.manual_seed(4)
    out = T.RandomResizedCrop(10, interpolation=T.InterpolationMode.BICUBIC)(img)
    expected = img.crop((left, top, left + w, top + h)).resize((10, 10), Image.BICUBIC)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(expected))


def test_random_resized_crop_fallback_is_central_and_ratio_clamped():
    img = rgb(30, 60)  # aspect 2 > 4/3: h = 30, w = round(30 * 4 / 3) = 40, centred
    assert T.RandomResizedCrop.get_params(img, (2.0, 3.0), (3 / 4, 4 / 3)) == (0, 10, 30, 40)
    tall = rgb(60, 30)  # aspect 0.5 < 3/4: w = 30, h = round(30 / 0.75) = 40
    assert T.RandomResizedCrop.get_params(tall, (2.0, 3.0), (3 / 4, 4 / 3)) == (10, 0, 40, 30)
    square = rgb(20, 20)
    assert T.RandomResizedCrop.get_params(square, (2.0, 3.0), (3 / 4, 4 / 3)) == (0, 0, 20, 20)


def test_random_resized_crop_repr_and_errors():
    r = T.RandomResizedCrop(8)
    assert repr(r) == (
        "RandomResizedCrop(size=(8, 8), scale=(0.08, 1.0), ratio=(0.75, 1.3333), "
        "interpolation=bilinear, antialias=True)"
    )
    with pytest.raises(TypeError, match="RandomResizedCrop: scale"):
        T.RandomResizedCrop(8, scale=0.5)
    with pytest.warns(UserWarning, match="RandomResizedCrop: scale and ratio"):
        T.RandomResizedCrop(8, scale=(1.0, 0.5))


@pytest.mark.parametrize("transform,axis", [(T.RandomHorizontalFlip, 1), (T.RandomVerticalFlip, 0)])
def test_flips_p0_p1_and_seeds(transform, axis):
    img = rgb(4, 5)
    t = T.ToTensor()(img)
    for _ in range(5):
        assert T.ToTensor()(transform(p=0.0)(img)).numpy().tolist() == t.numpy().tolist()
        np.testing.assert_array_equal(np.asarray(transform(p=1.0)(img)), np.flip(np.asarray(img), axis))
        np.testing.assert_array_equal(transform(p=1.0)(t).numpy(), np.flip(chw(img), axis + 1))

    def decisions(seed):
        md.manual_seed(seed)
        flip = transform()
        return [flip(t) is not t for _ in range(40)]

    assert decisions(1) == decisions(1)
    assert decisions(1) != decisions(2)
    assert 5 < sum(decisions(1)) < 35


def test_grayscale_pil_is_pil_luma_and_tensor_uses_torchvision_weights():
    img = rgb(6, 7)
    out = T.Grayscale()(img)
    assert out.mode == "L"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.convert("L")))
    three = T.Grayscale(3)(img)
    assert three.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(three), np.repeat(np.asarray(img.convert("L"))[:, :, None], 3, 2))
    x = chw(img)
    expected = np.float32(0.2989) * x[0] + np.float32(0.587) * x[1] + np.float32(0.114) * x[2]
    g = T.Grayscale(3)(md.tensor(x[None]))
    assert tuple(g.shape) == (1, 3, 6, 7)
    np.testing.assert_allclose(g.numpy()[0], np.broadcast_to(expected, (3, 6, 7)), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"Grayscale: a tensor image needs 1 or 3 channels.*\[4, 6, 7\]"):
        T.Grayscale()(md.zeros(4, 6, 7))
    with pytest.raises(ValueError, match="Grayscale: num_output_channels"):
        T.Grayscale(2)


@pytest.mark.parametrize("mode", ["edge", "reflect", "symmetric"])
@pytest.mark.parametrize("padding", [2, (1, 3), (1, 2, 3, 0)])
def test_pad_modes_match_numpy(mode, padding):
    img = rgb(5, 6)
    p = [padding] * 4 if isinstance(padding, int) else (list(padding) * 2 if len(padding) == 2 else list(padding))
    left, top, right, bottom = p
    expected = np.pad(np.asarray(img), ((top, bottom), (left, right), (0, 0)), mode=mode)
    np.testing.assert_array_equal(np.asarray(T.Pad(padding, padding_mode=mode)(img)), expected)
    out = T.Pad(padding, padding_mode=mode)(T.ToTensor()(img)[None])
    np.testing.assert_array_equal(out.numpy()[0], expected.transpose(2, 0, 1) / np.float32(255))


def test_pad_constant_fill_and_negative_padding():
    img = rgb(3, 4)
    out = np.asarray(T.Pad((1, 2), fill=(10, 20, 30))(img))
    expected = np.stack(
        [np.pad(np.asarray(img)[:, :, c], ((2, 2), (1, 1)), constant_values=v) for c, v in enumerate((10, 20, 30))], 2
    )
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(np.asarray(T.Pad(1, fill=9)(img))[0, 0], [9, 9, 9])  # an int fills every band
    t = T.Pad(1, fill=0.5)(md.zeros(2, 2, 2))
    assert tuple(t.shape) == (2, 4, 4) and t.numpy()[0, 0, 0] == 0.5
    cropped = T.Pad((-1, 0, 1, -1))(img)  # left -1 and bottom -1 crop
    np.testing.assert_array_equal(np.asarray(cropped)[:, :3], np.asarray(img)[:2, 1:])
    assert cropped.size == (4, 2)
    t = T.Pad((-1, 0, 1, -1), padding_mode="edge")(T.ToTensor()(img))
    assert tuple(t.shape) == (3, 2, 4)


def test_pad_errors():
    with pytest.raises(ValueError, match="Pad: padding must be an int or a 1, 2, or 4 element tuple, not 3"):
        T.Pad((1, 2, 3))
    with pytest.raises(TypeError, match="Pad: padding"):
        T.Pad("1")
    with pytest.raises(ValueError, match="Pad: padding_mode"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(ValueError, match=r"Pad: the number of elements in fill .* \(2 != 3\)"):
        T.Pad(1, fill=(1, 2))(rgb(2, 2))
    with pytest.raises(TypeError, match="Pad: fill for a tensor image should be a number"):
        T.Pad(1, fill=(1, 2, 3))(md.zeros(3, 2, 2))
    with pytest.raises(ValueError, match=r"Pad: reflect padding .* \(shape \[1, 2, 2\]\)"):
        T.Pad(2, padding_mode="reflect")(md.zeros(1, 2, 2))


def test_interpolation_mode_and_functional_names():
    assert (
        T.InterpolationMode.BILINEAR.value == "bilinear"
        and T.InterpolationMode("bicubic") is T.InterpolationMode.BICUBIC
    )
    assert T.Resize(4, interpolation=Image.Resampling.NEAREST).interpolation is T.InterpolationMode.NEAREST
    assert T.Resize(4, interpolation=Image.LANCZOS).interpolation is T.InterpolationMode.LANCZOS
    img = rgb(6, 8)
    assert TF.get_image_size(img) == [8, 6] and TF.get_dimensions(md.zeros(2, 3, 6, 8)) == [3, 6, 8]
    np.testing.assert_array_equal(np.asarray(TF.crop(img, 1, 2, 3, 4)), np.asarray(img)[1:4, 2:6])
    np.testing.assert_array_equal(TF.hflip(TF.to_tensor(img)).numpy(), chw(img)[:, :, ::-1])
    # a crop reaching outside the image is zero-filled, on tensors as on PIL images
    np.testing.assert_array_equal(TF.crop(TF.to_tensor(img), -1, 6, 3, 4).numpy(), chw(TF.crop(img, -1, 6, 3, 4)))
    assert set(T.__all__) <= set(dir(T)) and "Compose" in md.transforms.__all__


def test_compose_lambda_and_reprs():
    pipeline = T.Compose([T.Lambda(lambda im: im.convert("L")), T.ToTensor(), T.Lambda(lambda t: t * 2)])
    out = pipeline(rgb(3, 3))
    np.testing.assert_allclose(out.numpy(), chw(rgb(3, 3).convert("L")) * 2, rtol=1e-6)
    assert (
        repr(T.Compose([T.CenterCrop(4), T.ToTensor()])) == "Compose(\n    CenterCrop(size=(4, 4))\n    ToTensor()\n)"
    )
    assert repr(T.Resize(32)) == "Resize(size=32, interpolation=bilinear, max_size=None, antialias=True)"
    assert repr(T.Normalize([0.5], [0.5])) == "Normalize(mean=[0.5], std=[0.5])"
    assert repr(T.RandomHorizontalFlip()) == "RandomHorizontalFlip(p=0.5)"
    with pytest.raises(TypeError, match="Lambda: lambd should be callable"):
        T.Lambda(3)


# ---- make_grid / save_image


def test_make_grid_hand_computed():
    images = md.tensor(np.array([[[[1, 2], [3, 4]]], [[[5, 6], [7, 8]]], [[[9, 10], [11, 12]]]], np.float32))
    grid = md.utils.make_grid(images, nrow=2, padding=1, pad_value=0.5)
    p = 0.5
    channel = [
        [p, p, p, p, p, p, p],
        [p, 1, 2, p, 5, 6, p],
        [p, 3, 4, p, 7, 8, p],
        [p, p, p, p, p, p, p],
        [p, 9, 10, p, p, p, p],
        [p, 11, 12, p, p, p, p],
        [p, p, p, p, p, p, p],
    ]
    assert tuple(grid.shape) == (3, 7, 7)  # one channel is shown as RGB
    np.testing.assert_array_equal(grid.numpy(), np.array([channel] * 3, np.float32))


def test_make_grid_shapes_and_defaults():
    x = rand_tensor(10, 3, 5, 4)
    g = md.utils.make_grid(x)  # nrow 8, padding 2: 2 rows
    assert tuple(g.shape) == (3, 2 * (5 + 2) + 2, 8 * (4 + 2) + 2)
    np.testing.assert_array_equal(g.numpy()[:, 2:7, 8:12], x.numpy()[1])
    np.testing.assert_array_equal(g.numpy()[:, 9:14, 2:6], x.numpy()[8])
    assert tuple(md.utils.make_grid(x, nrow=20).shape) == (3, 9, 10 * 6 + 2)
    one = md.utils.make_grid(x[:1], padding=5)
    assert tuple(one.shape) == (3, 5, 4)  # a batch of one: the image itself, unpadded
    assert tuple(md.utils.make_grid(rand_tensor(1, 5, 4)).shape) == (3, 5, 4)
    listed = md.utils.make_grid([x[0], x[1]], padding=0)
    np.testing.assert_array_equal(listed.numpy(), np.concatenate([x.numpy()[0], x.numpy()[1]], 2))


def test_make_grid_normalize():
    x = np.array([[[[-1.0, 0.0], [1.0, 3.0]]], [[[2.0, 2.5], [-3.0, 0.5]]]], np.float32)
    g = md.utils.make_grid(md.tensor(x), padding=0, normalize=True)
    lo, hi = x.min(), x.max()
    expected = np.concatenate([(x[0, 0] - lo) / (hi - lo), (x[1, 0] - lo) / (hi - lo)], 1)
    np.testing.assert_allclose(g.numpy()[0], expected, rtol=1e-6, atol=1e-7)
    g = md.utils.make_grid(md.tensor(x), padding=0, normalize=True, value_range=(-1.0, 1.0))
    expected = np.concatenate([(np.clip(x[i, 0], -1, 1) + 1) / 2 for i in range(2)], 1)
    np.testing.assert_allclose(g.numpy()[0], expected, rtol=1e-6, atol=1e-7)
    g = md.utils.make_grid(md.tensor(x), padding=0, normalize=True, scale_each=True)
    expected = np.concatenate([(x[i, 0] - x[i].min()) / (x[i].max() - x[i].min()) for i in range(2)], 1)
    np.testing.assert_allclose(g.numpy()[0], expected, rtol=1e-6, atol=1e-7)
    assert x.min() == -3.0  # the input was not modified
    with pytest.raises(TypeError, match="make_grid: value_range has to be a tuple"):
        md.utils.make_grid(md.tensor(x), normalize=True, value_range=[0, 1])


def test_make_grid_errors_and_gradient():
    with pytest.raises(TypeError, match="make_grid: tensor or list of tensors expected, got ndarray"):
        md.utils.make_grid(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"make_grid: expected images .* \[1, 2, 3, 4, 5\]"):
        md.utils.make_grid(md.zeros(1, 2, 3, 4, 5))
    x = md.tensor(np.random.default_rng(8).random((3, 1, 2, 2), dtype=np.float32), requires_grad=True)
    md.utils.make_grid(x, nrow=2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 1, 2, 2), 3.0, np.float32))  # each pixel in 3 channels


def test_save_image_round_trip(tmp_path):
    x = np.random.default_rng(9).random((4, 3, 5, 6), dtype=np.float32) * 1.2 - 0.1  # some values out of [0, 1]
    path = tmp_path / "grid.png"
    md.utils.save_image(md.tensor(x), path, nrow=2, padding=1)
    grid = md.utils.make_grid(md.tensor(x), nrow=2, padding=1).numpy()
    expected = np.clip(grid * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), expected)
    buffer = io.BytesIO()
    md.utils.save_image(md.tensor(x), buffer, format="PNG", nrow=4, normalize=True)
    buffer.seek(0)
    with Image.open(buffer) as im:
        assert im.size == (4 * 8 + 2, 9)
        assert np.asarray(im).min() == 0 and np.asarray(im).max() == 255
    with pytest.raises(ValueError, match="save_image: unknown file extension"):
        md.utils.save_image(md.tensor(x), tmp_path / "grid.notanimage")


def test_save_image_rounding_is_torchvision_s():
    # x * 255 + 0.5 truncated: 0.5 / 255 -> 1, and clamping at both ends
    values = np.array([0.0, 0.5 / 255, 0.49 / 255, 1.0, 1.5, -0.2], np.float32)
    buffer = io.BytesIO()
    md.utils.save_image(md.tensor(np.broadcast_to(values, (3, 1, 6)).copy()), buffer, format="PNG")
    buffer.seek(0)
    with Image.open(buffer) as im:
        assert np.asarray(im)[0, :, 0].tolist() == [0, 1, 0, 255, 255, 0]


# ---- end to end


class ShapesDataset(md.utils.data.Dataset):
    """Generated PIL images of varied sizes, run through a torchvision-style pipeline."""

    def __init__(self, n, transform):
        self.images = [rgb(20 + 3 * i, 26 - 2 * i, seed=i) for i in range(n)]
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i])


def test_dataset_pipeline_through_dataloader():
    preprocess = T.Compose(
        [
            T.Resize((16, 16)),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize([0.5], [0.5]),
        ]
    )
    dataset = ShapesDataset(6, preprocess)
    md.manual_seed(0)
    batches = list(md.utils.data.DataLoader(dataset, batch_size=4))
    assert [tuple(b.shape) for b in batches] == [(4, 3, 16, 16), (2, 3, 16, 16)]
    for b in batches:
        assert b.dtype == "float32"
        assert -1.0 <= float(b.min()) and float(b.max()) <= 1.0
    # each item is the resized image, scaled to [-1, 1], maybe mirrored
    first = batches[0].numpy()[0]
    resized = chw(dataset.images[0].resize((16, 16), Image.BILINEAR)) * 2 - 1
    assert np.allclose(first, resized, atol=1e-6) or np.allclose(first, resized[:, :, ::-1], atol=1e-6)
    md.manual_seed(0)
    again = list(md.utils.data.DataLoader(dataset, batch_size=4))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(batches, again))


def test_random_resized_crop_pipeline_is_reproducible():
    pipeline = T.Compose(
        [T.RandomResizedCrop(12), T.RandomVerticalFlip(), T.PILToTensor(), T.ConvertImageDtype(md.float32)]
    )
    img = rgb(30, 40)

    def run(seed):
        md.manual_seed(seed)
        return [pipeline(img).numpy() for _ in range(4)]

    a, b, c = run(5), run(5), run(6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    assert all(x.shape == (3, 12, 12) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1 for x in a)
    assert math.isfinite(float(a[0].sum()))


def test_to_pil_image_scales_float_tensors_but_not_arrays():
    arr = np.random.default_rng(0).random((4, 5)).astype(np.float32)
    img = T.functional.to_pil_image(arr)  # torchvision: an array's values as they are, mode "F"
    assert img.mode == "F"
    np.testing.assert_array_equal(np.asarray(img), arr)
    with pytest.raises(TypeError, match="float32 is not supported"):
        T.functional.to_pil_image(np.zeros((4, 5, 3), np.float32))
    tensor_img = T.functional.to_pil_image(md.tensor(arr[None]))  # a tensor's values times 255
    np.testing.assert_array_equal(np.asarray(tensor_img), (arr * 255).astype(np.uint8))
