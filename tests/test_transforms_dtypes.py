# md.transforms with md's uint8/int8/int16/int32 dtypes, as torchvision's: PILToTensor and ToTensor
# keep the dtypes torchvision gives, ConvertImageDtype's rules for every pair of dtypes, ToPILImage
# by dtype, Resize's rounding of integer images and Grayscale in the image's dtype. torchvision is not
# installed: its functions are written out below in torch (from torchvision's source) and serve as
# oracles where torch is installed; NumPy oracles pin the same rules where it is not.
import numpy as np
import pytest
from PIL import Image

import minidiff as md
from minidiff import transforms as T

INTS = ["uint8", "int8", "int16", "int32", "int64"]
FLOATS = ["float32", "bfloat16", "float16"]
ALL = FLOATS + INTS + ["bool"]

# values per input dtype: an integer dtype's extremes and some pixels; floats in [0, 1] and outside
VALUES = {
    "uint8": [0, 1, 2, 127, 128, 200, 254, 255],
    "int8": [-128, -1, 0, 1, 63, 64, 126, 127],
    "int16": [-32768, -129, -1, 0, 1, 255, 16384, 32767],
    "int32": [-(2**31), -70000, -1, 0, 1, 65535, 2**30, 2**31 - 1],
    "int64": [-(2**63), -(2**40), -1, 0, 1, 2**40, 2**62, 2**63 - 1],
    "bool": [False, True, True, False, True, False, False, True],
    "float": [0.0, 1.0 / 255, 0.25, 0.5, 0.75, 0.999, 1.0, 0.0039],
    "float_outside": [-0.2, -1.0, 1.5, 2.0, -0.004, 1.001, 3.3, -2.5],
}


def md_tensor(values, dtype):
    """An md tensor of ``dtype`` holding ``values`` (float ones rounded into the 16-bit floats by md)."""
    if dtype in FLOATS:
        return md.tensor(np.array(values, np.float32)).to(dtype)
    return md.tensor(np.array(values, dtype))


def as_numpy(t):
    """An md or torch tensor's values as a NumPy array (16-bit floats widened to float32)."""
    if t.dtype in ("bfloat16", "float16") or str(t.dtype) in ("torch.bfloat16", "torch.float16"):
        t = t.float()
    return t.numpy()


def to_torch(torch, t):
    return torch.from_numpy(as_numpy(t)).to(getattr(torch, t.dtype))


# ---- torchvision's functions, in torch (torchvision/transforms/_functional_tensor.py, functional.py)


def tv_max_value(torch, dtype):
    return {
        torch.uint8: 255,
        torch.int8: 127,
        torch.int16: 32767,
        torch.int32: 2147483647,
        torch.int64: 9223372036854775807,
    }.get(dtype, 1)


def tv_convert_image_dtype(torch, image, dtype):
    if image.dtype == dtype:
        return image
    if image.is_floating_point():
        if torch.tensor(0, dtype=dtype).is_floating_point():
            return image.to(dtype)
        if (image.dtype == torch.float32 and dtype in (torch.int32, torch.int64)) or (
            image.dtype == torch.float64 and dtype == torch.int64
        ):
            raise RuntimeError(f"The cast from {image.dtype} to {dtype} cannot be performed safely.")
        eps = 1e-3
        max_val = float(tv_max_value(torch, dtype))
        return image.mul(max_val + 1.0 - eps).to(dtype)
    input_max = float(tv_max_value(torch, image.dtype))
    if torch.tensor(0, dtype=dtype).is_floating_point():
        return image.to(dtype) / input_max
    output_max = float(tv_max_value(torch, dtype))
    if input_max > output_max:
        factor = int((input_max + 1) // (output_max + 1))
        return torch.div(image, factor, rounding_mode="floor").to(dtype)
    factor = int((output_max + 1) // (input_max + 1))
    return image.to(dtype) * factor


def tv_resize(torch, img, size, interpolation, antialias):
    # F_t.resize: _cast_squeeze_in to float32, interpolate, clamp uint8 bicubic, round integers back
    if antialias and interpolation not in ("bilinear", "bicubic"):
        antialias = False
    out_dtype = img.dtype
    need_cast = out_dtype not in (torch.float32, torch.float64)
    x = img.to(torch.float32) if need_cast else img
    align = False if interpolation in ("bilinear", "bicubic") else None
    x = torch.nn.functional.interpolate(
        x[None], size=size, mode=interpolation, align_corners=align, antialias=antialias
    )
    if interpolation == "bicubic" and out_dtype == torch.uint8:
        x = x.clamp(min=0, max=255)
    x = x[0]
    if need_cast:
        if out_dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
            x = torch.round(x)
        x = x.to(out_dtype)
    return x


# ---- ConvertImageDtype


def out_of_range_cast(src, dst):
    """True where torch's float -> integer cast is undefined (a product outside int32/int64, or inf):
    torch's and md's results there are whatever the hardware gives."""
    return src in ("float16", "bfloat16") and dst in ("int32", "int64")


@pytest.mark.parametrize("dst", ALL)
@pytest.mark.parametrize("src", ALL)
def test_convert_image_dtype_matches_torchvision_for_every_pair(src, dst):
    torch = pytest.importorskip("torch")
    sets = ["float", "float_outside"] if src in FLOATS else [src]
    for key in sets:
        x = md_tensor(VALUES[key], src)
        xt = to_torch(torch, x)
        try:
            want = tv_convert_image_dtype(torch, xt, getattr(torch, dst))
        except RuntimeError as e:
            with pytest.raises(TypeError, match=f"ConvertImageDtype: the cast from {src} to {dst} cannot be"):
                T.ConvertImageDtype(dst)(x)
            assert "cannot be performed safely" in str(e)
            continue
        got = T.ConvertImageDtype(dst)(x)
        assert got.dtype == dst
        if src == dst:
            assert got is x
        if out_of_range_cast(src, dst):
            continue
        np.testing.assert_array_equal(as_numpy(got), as_numpy(want), err_msg=f"{src} -> {dst} ({key})")


def test_convert_image_dtype_refusals_as_torchvision():
    x = md.tensor(np.float32([[[0.5]]]))
    for dst in ("int32", "int64"):
        with pytest.raises(TypeError, match=f"convert_image_dtype: the cast from float32 to {dst}"):
            T.functional.convert_image_dtype(x, dst)
    # torchvision checks float32 only: the 16-bit floats go through (values past the dtype wrap)
    assert T.functional.convert_image_dtype(md.tensor(np.float32([0.25])).to("bfloat16"), "int32").dtype == "int32"
    with pytest.raises(TypeError, match="convert_image_dtype: image should be an md tensor, got ndarray"):
        T.functional.convert_image_dtype(np.zeros((1, 2, 2), np.uint8), "float32")
    with pytest.raises(ValueError, match="ConvertImageDtype: dtype must be one of"):
        T.ConvertImageDtype("uint16")


def test_convert_image_dtype_numpy_oracles():
    # the same rules written out in NumPy, so they are checked where torch is not installed
    u8 = np.array(VALUES["uint8"], np.uint8)
    got = T.functional.convert_image_dtype(md.tensor(u8), "float32")
    np.testing.assert_array_equal(got.numpy(), u8.astype(np.float32) / np.float32(255))
    i16 = np.array(VALUES["int16"], np.int16)
    got = T.functional.convert_image_dtype(md.tensor(i16), "float32")
    np.testing.assert_array_equal(got.numpy(), i16.astype(np.float32) / np.float32(32767))
    i64 = np.array([0, 2**62, 2**63 - 1], np.int64)  # an int64 image spans [0, 2**63 - 1], not 0..255
    got = T.functional.convert_image_dtype(md.tensor(i64), "float32").numpy()
    np.testing.assert_allclose(got, [0.0, 0.5, 1.0], rtol=1e-6)
    assert T.functional.convert_image_dtype(md.tensor(np.array([255], np.int64)), "float32").item() < 1e-16

    f = np.array(VALUES["float"] + VALUES["float_outside"], np.float32)
    for dst, top in (("uint8", 255), ("int8", 127), ("int16", 32767)):
        got = T.functional.convert_image_dtype(md.tensor(f), dst)
        want = np.trunc(f * np.float32(top + 1 - 1e-3)).astype(np.int64).astype(dst)  # truncated, then wrapped
        assert got.dtype == dst
        np.testing.assert_array_equal(got.numpy(), want, err_msg=dst)
    assert T.functional.convert_image_dtype(md.tensor(np.float32([0.0, 1e-9, 0.6])), "bool").numpy().tolist() == [
        False,
        True,
        True,
    ]

    # integers: powers of two, floor division going down, multiplication (wrapping) going up
    pairs = [
        ("int16", "uint8", lambda a: (a // 128).astype(np.uint8)),
        ("uint8", "int8", lambda a: (a // 2).astype(np.int8)),
        ("int64", "uint8", lambda a: (a // 2**55).astype(np.uint8)),
        ("int32", "int16", lambda a: (a // 2**16).astype(np.int16)),
        ("uint8", "int16", lambda a: a.astype(np.int16) * 128),
        ("int8", "uint8", lambda a: (a.astype(np.int64) * 2).astype(np.uint8)),  # -1 -> 255 -> 510 -> 254
        ("uint8", "int64", lambda a: a.astype(np.int64) * 2**55),
        ("int16", "int32", lambda a: a.astype(np.int32) * 65536),
        ("bool", "uint8", lambda a: a.astype(np.uint8) * 128),
        ("bool", "int64", lambda a: a.astype(np.int64) * 2**62),
        ("uint8", "bool", lambda a: a >= 128),
    ]
    for src, dst, rule in pairs:
        a = np.array(VALUES[src], src)
        got = T.functional.convert_image_dtype(md.tensor(a), dst)
        assert got.dtype == dst, (src, dst)
        np.testing.assert_array_equal(got.numpy(), rule(a), err_msg=f"{src} -> {dst}")
    assert T.functional.convert_image_dtype(md.tensor(np.array([True, False])), "float32").numpy().tolist() == [1, 0]


def test_pil_to_tensor_then_convert_round_trips():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8))
    t = T.PILToTensor()(img)
    f = T.ConvertImageDtype(md.float32)(t)
    np.testing.assert_array_equal(f.numpy(), np.asarray(img).transpose(2, 0, 1) / np.float32(255))
    back = T.ConvertImageDtype(md.uint8)(f)
    assert back.dtype == "uint8"
    np.testing.assert_array_equal(back.numpy(), t.numpy())
    assert np.asarray(T.ToPILImage()(back)).tolist() == np.asarray(img).tolist()


# ---- PILToTensor / ToTensor


def pil_images():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    pics = {m: Image.fromarray(rgb).convert(m) for m in ("L", "RGB", "RGBA", "P", "1", "LA", "CMYK", "YCbCr")}
    pics["I;16"] = Image.fromarray(rng.integers(0, 65536, (5, 7)).astype(np.uint16))
    pics["I"] = Image.fromarray(rng.integers(-5, 70000, (5, 7)).astype(np.int32))
    pics["F"] = Image.fromarray(rng.standard_normal((5, 7)).astype(np.float32))
    assert [p.mode for p in pics.values()] == list(pics)
    return pics


# torchvision's dtype per mode, through np.array(pic) (PILToTensor) and its mode table (ToTensor)
PIL_TO_TENSOR_DTYPE = {"1": "bool", "I;16": "int32", "I": "int32", "F": "float32"}  # torch: I;16 -> uint16
TO_TENSOR_DTYPE = {"I;16": "int16", "I": "int32", "F": "float32"}


def test_pil_to_tensor_dtypes_and_values():
    for mode, pic in pil_images().items():
        got = T.PILToTensor()(pic)
        want = np.array(pic, copy=True).reshape(pic.height, pic.width, -1).transpose(2, 0, 1)
        assert got.dtype == PIL_TO_TENSOR_DTYPE.get(mode, "uint8"), mode
        assert tuple(got.shape) == want.shape
        np.testing.assert_array_equal(got.numpy(), want, err_msg=mode)
        assert T.functional.pil_to_tensor(pic).dtype == got.dtype


def test_pil_to_tensor_against_torch():
    torch = pytest.importorskip("torch")
    for mode, pic in pil_images().items():
        want = torch.as_tensor(np.array(pic, copy=True)).view(pic.size[1], pic.size[0], -1).permute(2, 0, 1)
        got = T.PILToTensor()(pic)
        expected = {torch.uint16: "int32"}.get(want.dtype, str(want.dtype).replace("torch.", ""))
        assert got.dtype == expected, mode
        np.testing.assert_array_equal(got.numpy(), want.to(torch.int64 if mode == "I;16" else want.dtype).numpy())


def test_to_tensor_pil_modes():
    for mode, pic in pil_images().items():
        got = T.ToTensor()(pic)
        assert got.dtype == TO_TENSOR_DTYPE.get(mode, "float32"), mode
        nptype = {"I": np.int32, "I;16": np.int16, "F": np.float32}.get(mode, np.uint8)
        a = np.array(pic, nptype, copy=True)
        a = (255 * a if mode == "1" else a).reshape(pic.height, pic.width, -1).transpose(2, 0, 1)
        want = a.astype(np.float32) / np.float32(255) if a.dtype == np.uint8 else a
        np.testing.assert_array_equal(got.numpy(), want, err_msg=mode)


# NumPy dtype -> md dtype of ToTensor (torch.from_numpy keeps each; md has no float64/uint16/uint32)
ARRAY_DTYPES = {
    "uint8": "float32",  # scaled
    "int8": "int8",
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "uint16": "int32",
    "uint32": "int64",
    "float16": "float16",
    "float32": "float32",
    "float64": "float32",
    "bool": "bool",
}


@pytest.mark.parametrize("npdtype", list(ARRAY_DTYPES))
def test_to_tensor_arrays_keep_their_dtype(npdtype):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 120, (4, 6, 3)).astype(npdtype)
    if npdtype in ("int8", "int16", "int32", "int64"):
        a[0, 0] = -np.arange(1, 4)  # negatives are kept, not taken as pixels
    got = T.ToTensor()(a)
    assert got.dtype == ARRAY_DTYPES[npdtype]
    want = a.transpose(2, 0, 1)
    want = want.astype(np.float32) / np.float32(255) if npdtype == "uint8" else want
    np.testing.assert_array_equal(as_numpy(got), want.astype(as_numpy(got).dtype))
    assert tuple(T.ToTensor()(a[:, :, 0]).shape) == (1, 4, 6)


@pytest.mark.parametrize("npdtype", list(ARRAY_DTYPES))
def test_to_tensor_arrays_against_torch(npdtype):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(3).integers(0, 256, (5, 4, 2)).astype(npdtype)
    img = torch.from_numpy(a.transpose(2, 0, 1)).contiguous()  # torchvision's to_tensor for arrays
    if img.dtype == torch.uint8:
        img = img.to(dtype=torch.get_default_dtype()).div(255)
    got = T.ToTensor()(a)
    np.testing.assert_array_equal(as_numpy(got), as_numpy(img).astype(as_numpy(got).dtype))


# ---- ToPILImage


@pytest.mark.parametrize("channels,mode", [(1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")])
def test_to_pil_image_takes_uint8_tensors(channels, mode):
    a = np.random.default_rng(4).integers(0, 256, (channels, 3, 5), dtype=np.uint8)
    img = T.ToPILImage()(md.tensor(a))
    assert img.mode == mode and img.size == (5, 3)
    np.testing.assert_array_equal(np.asarray(img).reshape(3, 5, channels), a.transpose(1, 2, 0))


def test_to_pil_image_by_dtype():
    i16 = np.array([[[3, 1000, 32767]]], np.int16)
    try:  # torchvision hands int16 to PIL as mode "I;16", which newer Pillows refuse for int16 arrays
        want = Image.fromarray(i16[0], mode="I;16")
    except ValueError as e:
        with pytest.raises(ValueError, match=str(e)):
            T.ToPILImage()(md.tensor(i16))
    else:
        img = T.ToPILImage()(md.tensor(i16))
        assert img.mode == "I;16"
        np.testing.assert_array_equal(np.asarray(img), np.asarray(want))
    i32 = np.array([[[-3, 1000, 70000]]], np.int32)
    img = T.ToPILImage()(md.tensor(i32))
    assert img.mode == "I"
    np.testing.assert_array_equal(np.asarray(img), i32[0])
    with pytest.raises(ValueError, match=r"ToPILImage: incorrect mode \(L\) supplied for input type int32"):
        T.ToPILImage(mode="L")(md.tensor(i32))
    for dtype in ("int64", "int8", "bool"):  # no PIL mode for them, as in torchvision
        with pytest.raises(TypeError, match=f"ToPILImage: input type {dtype} is not supported"):
            T.ToPILImage()(md.zeros(3, 2, 2).to(dtype))
        with pytest.raises(TypeError, match=f"ToPILImage: input type {dtype} is not supported"):
            T.ToPILImage()(md.zeros(1, 2, 2).to(dtype))
    with pytest.raises(ValueError, match=r"ToPILImage: incorrect mode \(F\) supplied for input type float16"):
        T.ToPILImage(mode="F")(md.zeros(1, 2, 2).half())  # torch's numpy() gives float16: no mode
    with pytest.raises(TypeError, match="ToPILImage: input type bfloat16 is not supported"):
        T.ToPILImage(mode="F")(md.zeros(1, 2, 2).bfloat16())


def test_to_pil_image_float_tensors_wrap_as_torch_byte():
    torch = pytest.importorskip("torch")
    x = np.array([[[0.0, 0.5, 0.999, 1.0, -0.1, 1.2, -1.0, 0.1234]]], np.float32)
    for dtype in FLOATS:
        t = md.tensor(x).to(dtype)
        got = np.asarray(T.ToPILImage()(t))
        want = to_torch(torch, t).mul(255).byte().numpy()[0]  # torchvision: pic.mul(255).byte()
        np.testing.assert_array_equal(got, want, err_msg=dtype)
    assert np.asarray(T.ToPILImage()(md.tensor(x))).tolist() == [[0, 127, 254, 255, 231, 50, 1, 31]]


# ---- Resize of integer images


@pytest.mark.parametrize("dtype", INTS + ["bool", "float16", "bfloat16"])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
def test_resize_integer_images_against_torchvision(dtype, mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    top = {"int8": 127, "uint8": 255}.get(dtype, 1000)
    low = {"uint8": 0, "bool": 0}.get(dtype, -top - 1)
    a = rng.integers(low, top + 1, (2, 9, 8))
    a[:, ::2, ::3] = top  # sharp edges at the extremes: bicubic overshoots past the dtype's range
    a[:, 1::4, 1::2] = low
    x = md.tensor(a).to(dtype) if dtype != "bool" else md.tensor(a > 0)
    xt = to_torch(torch, x)
    for size, antialias in (((4, 5), True), ((4, 5), False), ((13, 11), True)):
        got = T.Resize(size, interpolation=T.InterpolationMode(mode), antialias=antialias)(x)
        want = tv_resize(torch, xt, list(size), mode, antialias)
        assert got.dtype == dtype
        g, w = as_numpy(got), as_numpy(want)
        if dtype in ("float16", "bfloat16"):
            np.testing.assert_allclose(g, w, rtol=1e-2, atol=1e-2)
        else:
            # the float32 results differ in the last bits (md's antialias is matrix products), which
            # can move a value across .5 only at a very few pixels
            assert np.mean(g != w) <= 0.02, f"{mode} {size} {antialias}: {np.argwhere(g != w)}"
            diff = np.abs(g.astype(np.int64) - w.astype(np.int64))
            assert (diff[g != w] == 1).all() if dtype != "bool" else True


def test_resize_uint8_clamps_and_int16_wraps_nowhere():
    a = np.zeros((1, 8, 8), np.int64)
    a[:, :, 4:] = 255
    x = T.Resize((8, 5), interpolation=T.InterpolationMode.BICUBIC)
    as_float = x(md.tensor(a.astype(np.float32))).numpy()
    assert as_float.min() < -1 and as_float.max() > 256
    u8 = x(md.tensor(a.astype(np.uint8)))
    np.testing.assert_array_equal(u8.numpy(), np.round(np.clip(as_float, 0, 255)))
    i16 = x(md.tensor(a.astype(np.int16)))
    assert i16.dtype == "int16"
    np.testing.assert_array_equal(i16.numpy(), np.round(as_float))  # no clamp: torchvision clamps uint8 only


# ---- Grayscale keeps the dtype


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int64", "float32", "float16", "bfloat16"])
def test_grayscale_against_torchvision(dtype):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(6).integers(0, 256, (2, 3, 4, 5))
    x = md.tensor(a).to(dtype) if dtype not in FLOATS else md.tensor((a / 255).astype(np.float32)).to(dtype)
    got = T.Grayscale(3)(x)
    r, g, b = to_torch(torch, x).unbind(dim=-3)
    want = (0.2989 * r + 0.587 * g + 0.114 * b).to(getattr(torch, dtype)).unsqueeze(-3).expand(2, 3, 4, 5)
    assert got.dtype == dtype
    np.testing.assert_array_equal(as_numpy(got), as_numpy(want))


def test_grayscale_uint8_truncates():
    a = np.array([[[10]], [[200]], [[255]]], np.uint8)
    got = T.Grayscale()(md.tensor(a))
    assert got.dtype == "uint8"
    assert got.item() == int(np.float32(0.2989) * 10 + np.float32(0.587) * 200 + np.float32(0.114) * 255)
