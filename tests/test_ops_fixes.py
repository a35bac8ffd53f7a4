"""Tests against PyTorch of the names added to the tensor API in Python (``&``, ``|``, ``^``, ``~``,
``logical_*``, ``bitwise_*``, ``movedim``/``moveaxis``, ``swapaxes``/``swapdims``, ``unflatten``,
checked ``bmm``/``mm``, ``F.embedding``'s ``padding_idx``) and of the corners fixed alongside them
that tests/test_ops_differential.py does not pin (the division family's gradients and special
values, dims checked as torch checks them, activations' gradients at +-inf, errors naming the op
the user called). Values, gradients, shapes and errors are compared with torch's; torch's bool
results read as minidiff's float32 masks. Skipped when torch is not installed."""

from __future__ import annotations

import numpy as np
import pytest

import minidiff as md
import minidiff.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(0)  # restarted per test by conftest.py


def _values(t) -> np.ndarray:
    """A tensor's values as NumPy, torch's bools as float32 0/1 (minidiff's masks)."""
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()
    return a.astype(np.float32) if a.dtype == bool else a


def _dtype(t) -> str:
    name = str(t.dtype).replace("torch.", "")
    return {"bool": "float32", "float": "float32", "long": "int64"}.get(name, name)


def assert_same(ours, ref, exact: bool = False, rtol: float = 1e-5, atol: float = 1e-6):
    """One shape, one dtype (bool as float32), NaN where torch has NaN, values equal (``exact``:
    bit for bit but for the sign of zero) or close."""
    assert tuple(ours.shape) == tuple(ref.shape), f"shape {tuple(ours.shape)} != torch's {tuple(ref.shape)}"
    assert _dtype(ours) == _dtype(ref), f"dtype {ours.dtype} != torch's {ref.dtype}"
    a, b = _values(ours), _values(ref)
    if exact:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def both(fn, *arrays, grad: bool = True, exact: bool = False, upstream=None):
    """fn on minidiff and torch leaves made from arrays (float ones require grad when ``grad``);
    compares the results and, for a float result, the leaves' gradients for ``upstream`` (ones
    by default)."""
    leaves = {}
    for lib in (md, torch):
        leaves[lib] = [
            lib.tensor(a, requires_grad=grad and np.asarray(a).dtype.kind == "f") for a in map(np.asarray, arrays)
        ]
    om, ot = fn(md, *leaves[md]), fn(torch, *leaves[torch])
    assert_same(om, ot, exact)
    if not ot.requires_grad:
        return
    w = np.ones(tuple(ot.shape), np.float32) if upstream is None else np.broadcast_to(upstream, tuple(ot.shape))
    om.backward(md.tensor(np.ascontiguousarray(w, np.float32)))
    ot.backward(torch.tensor(np.ascontiguousarray(w, np.float32)))
    for lm, lt in zip(leaves[md], leaves[torch]):
        if lt.requires_grad:
            assert_same(lm.grad, lt.grad, exact)


def raises_like_torch(call, op: str, *fragments):
    """call(md) raises an exception naming op (and each fragment), and call(torch) raises too."""
    with pytest.raises(Exception):  # noqa: B017 (torch's class varies; ours is checked below)
        call(torch)
    with pytest.raises((ValueError, TypeError, IndexError, RuntimeError, OverflowError)) as info:
        call(md)
    message = str(info.value)
    for part in (op, *fragments):
        assert str(part) in message, message
    return info.value


# ---------------------------------------------------------------- fmod / remainder / floor_divide


def _divisions():
    """Random operands at several scales, and quotients just below and above integers."""
    a = np.concatenate([RNG.standard_normal(4000) * s for s in (1.0, 10.0, 1e3)]).astype(np.float32)
    b = np.concatenate([RNG.standard_normal(4000) * s for s in (0.3, 1.0, 7.0)]).astype(np.float32)
    k = RNG.integers(-50, 50, 2000).astype(np.float32)
    near_b = (RNG.standard_normal(2000) + 0.1).astype(np.float32)
    near_a = (k * near_b * (1 + RNG.choice([-1, 1], 2000) * 1e-7)).astype(np.float32)
    return np.concatenate([a, near_a]), np.concatenate([b, near_b])


@pytest.mark.parametrize("op", ["fmod", "remainder"])
def test_division_gradients_equal_torch_bit_for_bit(op):
    a, b = _divisions()
    both(lambda lib, x, y: getattr(lib, op)(x, y), a, b, exact=True)


def test_fmod_gradient_wrt_divisor_is_the_truncated_float32_quotient():
    a, b = np.float32(1.1622362), np.float32(0.37810677)
    assert np.fmod(a, b) > 0 and np.trunc((a - np.fmod(a, b)) / b) == 2  # the old formula's answer
    both(lambda lib, x, y: lib.fmod(x, y), np.array([a]), np.array(b), exact=True)


@pytest.mark.parametrize("op", ["fmod", "remainder"])
def test_division_special_values_match_torch(op):
    inf = np.inf
    a = np.array([1.0, -1.0, 7.5, 1e38, -1e38, 3.0, 0.0, 1.0, -2.0, np.nan, 2.0], np.float32)
    b = np.array([inf, inf, 2.0, 1e-10, 3e-10, 0.0, 0.0, -inf, 3.0, 1.0, np.nan], np.float32)
    if op == "remainder":  # torch's gradient at b = +-inf is remainder's -floor(a / inf): 1 for a < 0,
        keep = ~np.isinf(b)  # which is held at 0 here (the docstring of _zero_with_slope)
        both(lambda lib, x, y: lib.remainder(x, y), a, b, grad=False)
        a, b = a[keep], b[keep]
    both(lambda lib, x, y: getattr(lib, op)(x, y), a, b)


def test_floor_divide_gradient_is_zero_for_both_operands():
    a = md.tensor([7.0, -7.5, 3.0], requires_grad=True)
    b = md.tensor([2.0, 2.0, -0.5], requires_grad=True)
    out = md.floor_divide(a, b)
    np.testing.assert_array_equal(out.numpy(), [3.0, -4.0, -6.0])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 0.0)
    np.testing.assert_array_equal(b.grad.numpy(), 0.0)


@pytest.mark.parametrize("op", ["fmod", "remainder", "floor_divide", "%", "//"])
@pytest.mark.parametrize("operands", ["tensors", "tensor_number", "number_tensor", "int64"])
def test_division_family_of_zero_d_operands_is_zero_d(op, operands):
    def call(lib):
        a, b = {
            "tensors": (lib.tensor(5.5), lib.tensor(-2.0)),
            "tensor_number": (lib.tensor(5.5), -2.0),
            "number_tensor": (5.5, lib.tensor(-2.0)),
            "int64": (lib.tensor(7), lib.tensor(-2)),
        }[operands]
        if op == "%":
            return a % b
        if op == "//":
            return a // b
        if not isinstance(a, (md.Tensor, torch.Tensor)):
            a = lib.tensor(a)
        return getattr(lib, op)(a, b)

    assert_same(call(md), call(torch), exact=True)


# ---------------------------------------------------------------- normalize, log_softmax, any/all


@pytest.mark.parametrize(
    "x,dim",
    [
        ([[np.nan, 1.0], [3.0, 4.0]], 1),
        ([[np.nan, 1.0], [3.0, 4.0]], 0),
        ([[0.0, 0.0], [np.inf, 1.0]], 1),
        ([[0.0, 0.0], [1.0, 2.0]], 1),
    ],
)
@pytest.mark.parametrize("p", [2.0, 1.0])
def test_normalize_special_values_as_torch(x, dim, p):
    x = np.array(x, np.float32)
    if p == 1.0 and np.isinf(x).any():
        pytest.skip("inf / inf")
    both(lambda lib, t: (F if lib is md else TF).normalize(t, p=p, dim=dim), x)


@pytest.mark.parametrize("shape,dim", [((3, 0), -1), ((3, 0), 1), ((0,), 0), ((2, 0, 4), 1), ((0, 3), -1)])
def test_log_softmax_over_empty_dims(shape, dim):
    x = np.zeros(shape, np.float32)
    both(lambda lib, t: (F if lib is md else TF).log_softmax(t, dim), x)


@pytest.mark.parametrize("op", ["any", "all"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 1, 3), (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_any_all_without_dim(op, shape, keepdim):
    x = (RNG.standard_normal(shape) > 0).astype(np.float32) * RNG.standard_normal(shape).astype(np.float32)
    both(lambda lib, t: getattr(t, op)(dim=None, keepdim=keepdim), x, grad=False)
    both(lambda lib, t: getattr(lib, op)(t, dim=None, keepdim=keepdim), x, grad=False)
    ours = getattr(md.tensor(x), op)(dim=None, keepdim=keepdim)
    assert tuple(ours.shape) == ((1,) * len(shape) if keepdim else ())


# ---------------------------------------------------------------- narrow


@pytest.mark.parametrize("start,length", [(0, 4), (4, 0), (-1, 1), (-4, 2), (1, 3)])
def test_narrow_in_range_matches_torch(start, length):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    both(lambda lib, t: t.narrow(1, start, length) * 2, x)
    both(lambda lib, t: t.narrow(-1, lib.tensor(start), length), x)


@pytest.mark.parametrize(
    "start,length,fragments",
    [(3, 2, ("start (3)", "length (2)", "size (4)")), (5, 1, ("5", "[-4, 4]")), (-5, 1, ("-5",)), (1, -1, ("-1",))],
)
def test_narrow_out_of_range_raises_naming_start_length_and_size(start, length, fragments):
    raises_like_torch(lambda lib: lib.zeros((3, 4)).narrow(1, start, length), "narrow", *fragments)


def test_narrow_of_a_zero_d_tensor_raises():
    raises_like_torch(lambda lib: lib.tensor(1.0).narrow(0, 0, 1), "narrow", "0-dim")


# ---------------------------------------------------------------- dims out of range


DIM_CALLS = {
    "logsumexp": lambda lib, x, d: lib.logsumexp(x, d),
    "norm": lambda lib, x, d: x.norm(dim=d),
    "sort": lambda lib, x, d: x.sort(d).values,
    "argsort": lambda lib, x, d: x.argsort(d),
    "topk": lambda lib, x, d: x.topk(1, d).values,
    "diff": lambda lib, x, d: x.diff(dim=d),
    "roll": lambda lib, x, d: x.roll(1, d),
    "repeat_interleave": lambda lib, x, d: x.repeat_interleave(2, dim=d),
    "movedim": lambda lib, x, d: lib.movedim(x, d, 0),
    "swapaxes": lambda lib, x, d: lib.swapaxes(x, 0, d),
    "unflatten": lambda lib, x, d: x.unflatten(d, (1, -1)),
    "stack": lambda lib, x, d: lib.stack([x, x], d + 1 if d > 0 else d - 1),  # its range is one wider
}


@pytest.mark.parametrize("op", list(DIM_CALLS))
@pytest.mark.parametrize("dim", [2, -3, 5])
def test_out_of_range_dim_raises_index_error_as_torch(op, dim):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    call = DIM_CALLS[op]
    with pytest.raises(IndexError):
        call(torch, torch.tensor(x), dim)
    with pytest.raises(IndexError) as info:
        call(md, md.tensor(x), dim)
    message = str(info.value)
    span = 3 if op == "stack" else 2
    shown = (dim + 1 if dim > 0 else dim - 1) if op == "stack" else dim
    assert op in message and f"[{-span}, {span - 1}], but got {shown})" in message, message


@pytest.mark.parametrize("op", [k for k in DIM_CALLS if k != "stack"])
@pytest.mark.parametrize("dim", [0, 1, -1, -2])
def test_in_range_dims_match_torch(op, dim):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    grad = op not in ("argsort",)
    both(lambda lib, t: DIM_CALLS[op](lib, t, dim) * 1.0, x, grad=grad)


def test_diff_of_a_zero_d_tensor_raises():
    raises_like_torch(lambda lib: lib.tensor(1.0).diff(), "diff", "one-dimensional")


# ---------------------------------------------------------------- bmm / mm


@pytest.mark.parametrize("method", [False, True])
def test_bmm_and_mm_match_torch(method):
    a, b = RNG.standard_normal((2, 3, 4)).astype(np.float32), RNG.standard_normal((2, 4, 5)).astype(np.float32)
    c, d = RNG.standard_normal((3, 4)).astype(np.float32), RNG.standard_normal((4, 5)).astype(np.float32)
    if method:
        both(lambda lib, x, y: x.bmm(y), a, b)
        both(lambda lib, x, y: x.mm(y), c, d)
    else:
        both(lambda lib, x, y: lib.bmm(x, y), a, b)
        both(lambda lib, x, y: lib.mm(x, y), c, d)


@pytest.mark.parametrize(
    "op,shapes,fragments",
    [
        ("bmm", ((5, 4), (4, 5)), ("batch1", "3D", "(5, 4)")),
        ("bmm", ((2, 5, 4), (4, 5)), ("batch2", "3D", "(4, 5)")),
        ("bmm", ((2, 5, 4), (3, 4, 5)), ("(2, 4)", "(3, 4, 5)")),
        ("bmm", ((2, 5, 4), (2, 3, 5)), ("(2, 4)", "(2, 3, 5)")),
        ("bmm", ((1, 5, 4), (2, 4, 5)), ("(1, 4)", "(2, 4, 5)")),  # no broadcasting, as torch
        ("mm", ((2, 5, 4), (4, 5)), ("mat1", "matrix", "(2, 5, 4)")),
        ("mm", ((5, 4), (4,)), ("mat2", "matrix", "(4,)")),
        ("mm", ((5, 4), (3, 5)), ("5x4", "3x5")),
    ],
)
def test_bmm_and_mm_errors_name_the_op_and_shapes(op, shapes, fragments):
    def call(lib):
        x, y = (lib.zeros(s) for s in shapes)
        return getattr(lib, op)(x, y)

    raises_like_torch(call, op, *fragments)
    with pytest.raises(ValueError, match=op):
        getattr(md.zeros(shapes[0]), op)(md.zeros(shapes[1]))


# ---------------------------------------------------------------- activations at +-inf and NaN

SPECIAL = np.array([np.inf, -np.inf, 5.0, -5.0, 0.0, 3.0, -3.0, 1.0, -1.0, 30.0, -30.0], np.float32)

ACTIVATIONS = {
    "hardswish": lambda f, x: f.hardswish(x),
    "hardsigmoid": lambda f, x: f.hardsigmoid(x),
    "relu6": lambda f, x: f.relu6(x),
    "hardtanh": lambda f, x: f.hardtanh(x, -2.0, 2.0),
    "softshrink": lambda f, x: f.softshrink(x, 0.5),
    "hardshrink": lambda f, x: f.hardshrink(x, 0.5),
    "elu": lambda f, x: f.elu(x),
    "celu": lambda f, x: f.celu(x, 0.5),
    "selu": lambda f, x: f.selu(x),
    "leaky_relu": lambda f, x: f.leaky_relu(x, 0.1),
    "threshold": lambda f, x: f.threshold(x, 1.0, -2.0),
    "softplus": lambda f, x: f.softplus(x, 2.0, 10.0),
    "softplus_default": lambda f, x: f.softplus(x),
    "logsigmoid": lambda f, x: f.logsigmoid(x),
    "mish": lambda f, x: f.mish(x),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_gradients_at_infinities_match_torch(name):
    act = ACTIVATIONS[name]
    both(lambda lib, t: act(F if lib is md else TF, t), SPECIAL)


@pytest.mark.parametrize("position", [0, 5, 16])
def test_hardsigmoid_gradient_at_nan_is_zero(position):
    x = np.linspace(-4, 4, 17).astype(np.float32)
    x[position] = np.nan
    both(lambda lib, t: (F if lib is md else TF).hardsigmoid(t), x)


def test_hardswish_keeps_nan_and_signed_zero():
    x = np.array([np.nan, -4.0, -np.inf], np.float32)
    out = F.hardswish(md.tensor(x)).numpy()
    ref = TF.hardswish(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_array_equal(np.signbit(out[1]), np.signbit(ref[1]))


# ---------------------------------------------------------------- errors name the op called


@pytest.mark.parametrize(
    "op,call",
    [
        ("clamp", lambda lib: lib.zeros((3, 4)).clamp(lib.zeros((3,)), None)),
        ("clamp", lambda lib: lib.clamp(lib.zeros((3, 4)), None, lib.zeros((2, 4)))),
        ("lerp", lambda lib: lib.zeros((3,)).lerp(lib.zeros((3,)), lib.zeros((2,)))),
        ("masked_fill", lambda lib: lib.zeros((3,)).masked_fill(lib.zeros((3,)) > 0, lib.zeros((2,)))),
        ("full", lambda lib: lib.full((2,), None)),
        ("full", lambda lib: lib.full((2,), "a")),
        ("full", lambda lib: lib.full_like(lib.zeros((2,)), "a")),
        ("stack", lambda lib: lib.stack([lib.zeros((2, 3))], -4)),
        ("roll", lambda lib: lib.zeros((3, 4)).roll((1, 1), (0, 2))),
    ],
    ids=["clamp_method", "clamp_max", "lerp_weight", "masked_fill_value", "full_none", "full_str", "full_like", "stack",
         "roll_second_dim"],
)  # fmt: skip
def test_errors_name_the_op_called(op, call):
    raises_like_torch(call, op)


def test_checked_wrappers_keep_their_results():
    x = md.tensor([[-2.0, 0.5], [3.0, 1.0]])
    np.testing.assert_array_equal(md.clamp(x, md.tensor([0.0, 0.0]), md.tensor(1.0)).numpy(), [[0, 0.5], [1, 1]])
    np.testing.assert_array_equal(x.clamp(max=md.tensor(0.75)).numpy(), [[-2, 0.5], [0.75, 0.75]])
    assert md.full((2,), True).numpy().tolist() == [1.0, 1.0]
    assert md.full((2,), np.int64(3)).dtype == "int64"
    assert md.full((1,), md.tensor(2.5)).numpy().tolist() == [2.5]
    assert md.stack([md.zeros((2,)), md.ones((2,))], -1).shape == (2, 2)
    assert md.stack((md.zeros((2,)) for _ in range(3)), axis=0).shape == (3, 2)


# ---------------------------------------------------------------- & | ^ ~ and logical_*

A_MASK = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]], np.float32)
B_MASK = np.array([1, 1, 0, 0], np.float32)
A64 = np.array([[7, -7, 0, 3], [-1, 5, 2, -8], [2**63 - 1, -(2**63), 1, 12345678901234]], np.int64)
B64 = np.array([2, -3, 2**62 + 5, -1], np.int64)


def _operand(lib, a):
    """A comparison-made mask (torch: bool) for a float 0/1 array, an int64 tensor otherwise."""
    return lib.tensor(a) > 0.5 if a.dtype == np.float32 else lib.tensor(a)


BINARY_BITWISE = {
    "&": lambda x, y: x & y,
    "|": lambda x, y: x | y,
    "^": lambda x, y: x ^ y,
    "bitwise_and": lambda x, y: x.bitwise_and(y),
    "bitwise_or": lambda x, y: x.bitwise_or(y),
    "bitwise_xor": lambda x, y: x.bitwise_xor(y),
}


@pytest.mark.parametrize("op", list(BINARY_BITWISE))
@pytest.mark.parametrize(
    "a,b",
    [(A_MASK, B_MASK), (B_MASK, A_MASK), (A64, B64), (B64, A64), (A_MASK, B64), (A64, B_MASK)],
    ids=["masks", "masks_bcast", "int64", "int64_bcast", "mask_int64", "int64_mask"],
)
def test_bitwise_ops_match_torch(op, a, b):
    f = BINARY_BITWISE[op]
    assert_same(f(_operand(md, a), _operand(md, b)), f(_operand(torch, a), _operand(torch, b)), exact=True)


@pytest.mark.parametrize("op", ["&", "|", "^"])
@pytest.mark.parametrize("scalar", [True, False, 1, 0, 6, -(2**62)])
@pytest.mark.parametrize("kind", ["mask", "int64"])
def test_bitwise_ops_with_python_scalars_both_sides(op, scalar, kind):
    f = BINARY_BITWISE[op]
    a = A_MASK if kind == "mask" else A64
    for lib_args in (lambda lib: (_operand(lib, a), scalar), lambda lib: (scalar, _operand(lib, a))):
        assert_same(f(*lib_args(md)), f(*lib_args(torch)), exact=True)


@pytest.mark.parametrize("kind", ["mask", "int64", "zero_d_int64"])
def test_invert_matches_torch(kind):
    a = {"mask": A_MASK, "int64": A64, "zero_d_int64": np.array(-(2**63), np.int64)}[kind]
    assert_same(~_operand(md, a), ~_operand(torch, a), exact=True)
    assert_same(_operand(md, a).bitwise_not(), _operand(torch, a).bitwise_not(), exact=True)
    assert_same(md.bitwise_not(_operand(md, a)), torch.bitwise_not(_operand(torch, a)), exact=True)


def test_masks_combine_as_the_readme_says():
    x = md.tensor([-2.0, -0.5, 0.5, 2.0])
    inside = (x > -1) & (x < 1)
    assert inside.dtype == "bool" and inside.numpy().tolist() == [0, 1, 1, 0]
    assert ((x < -1) | (x > 1)).numpy().tolist() == [1, 0, 0, 1]
    assert (~inside).numpy().tolist() == [1, 0, 0, 1]
    assert x[(x > 0) & (x < 1)].numpy().tolist() == [0.5]
    mask = x > 0
    mask &= x < 1  # Python falls back to & and rebinds the name
    assert mask.numpy().tolist() == [0, 0, 1, 0]


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.tensor([0.5, 1.0]) & lib.tensor([1.0, 0.0]),
        lambda lib: lib.tensor([2.0, 1.0]) | True,
        lambda lib: lib.tensor([float("nan"), 1.0]) ^ lib.tensor([1.0, 0.0]),
        lambda lib: ~lib.tensor([0.25, 1.0]),
        lambda lib: (lib.tensor([1.0, 0.0]) > 0) & 1.5,
    ],
    ids=["and_half", "or_two", "xor_nan", "invert_quarter", "float_scalar"],
)
def test_bitwise_ops_refuse_floats_other_than_masks(call):
    with pytest.raises((TypeError, RuntimeError, NotImplementedError)):
        call(torch)  # a float tensor (or scalar) is no bool for torch
    with pytest.raises(TypeError, match="bitwise|other than 0 and 1|bools or ints"):
        call(md)


def test_bitwise_shape_and_overflow_errors_name_the_op():
    with pytest.raises(ValueError, match=r"bitwise_and \(&\).*\(3,\).*\(2,\)"):
        md.tensor([1, 2, 3]) & md.tensor([1, 2])
    with pytest.raises(OverflowError):
        torch.tensor([3]) & 2**70
    with pytest.raises(OverflowError):
        md.tensor([3]) & 2**70


LOGICAL = ["logical_and", "logical_or", "logical_xor"]
FLOATS = np.array([[0.0, -0.0, 2.5, np.nan], [np.inf, 0.0, -1.0, 1e-30]], np.float32)
OTHER = np.array([0.0, 3.0, np.nan, -0.0], np.float32)


@pytest.mark.parametrize("op", LOGICAL)
@pytest.mark.parametrize("form", ["function", "method"])
@pytest.mark.parametrize(
    "a,b", [(FLOATS, OTHER), (OTHER, FLOATS), (A64, B64), (FLOATS, A64[:2]), (A_MASK, B_MASK)], ids=str
)
def test_logical_ops_match_torch(op, form, a, b):
    def call(lib):
        x, y = lib.tensor(a), lib.tensor(b)
        return getattr(lib, op)(x, y) if form == "function" else getattr(x, op)(y)

    assert_same(call(md), call(torch), exact=True)


@pytest.mark.parametrize("a", [FLOATS, A64, np.array(0.0, np.float32), np.zeros((0, 2), np.float32)], ids=str)
def test_logical_not_matches_torch(a):
    assert_same(md.logical_not(md.tensor(a)), torch.logical_not(torch.tensor(a)), exact=True)
    assert_same(md.tensor(a).logical_not(), torch.tensor(a).logical_not(), exact=True)


def test_logical_ops_take_python_numbers_and_check_shapes():
    x = md.tensor([0.0, 2.0])
    assert md.logical_and(x, True).numpy().tolist() == [0, 1]
    assert md.logical_or(0, x).numpy().tolist() == [0, 1]
    assert md.logical_xor(x, 1.5).numpy().tolist() == [1, 0]
    with pytest.raises(ValueError, match="logical_or"):
        md.logical_or(md.zeros((3,)), md.zeros((2,)))
    with pytest.raises(TypeError, match="logical_and"):
        md.logical_and(x, "a")


def test_logical_results_hold_no_gradient():
    x = md.tensor([0.0, 2.0], requires_grad=True)
    assert not md.logical_and(x, x).requires_grad
    assert not md.logical_not(x).requires_grad


# ---------------------------------------------------------------- movedim, swapaxes, unflatten

X4 = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)


@pytest.mark.parametrize(
    "source,destination",
    [(0, -1), (-1, 0), (1, 2), ((0, 1), (2, 3)), ((3, 0), (0, 3)), ([0, 2], [1, 0]), ((), ()), ((1, 2), (1, 2))],
    ids=str,
)
@pytest.mark.parametrize("name", ["movedim", "moveaxis"])
def test_movedim_matches_torch(name, source, destination):
    both(lambda lib, t: getattr(lib, name)(t * 1.0, source, destination), X4)
    both(lambda lib, t: getattr(t, name)(source, destination) * 1.0, X4)


@pytest.mark.parametrize(
    "source,destination,fragment",
    [((0, 1), (1,), "same number"), ((0, 0), (1, 2), "multiple times"), ((0,), (4,), "but got 4")],
)
def test_movedim_errors(source, destination, fragment):
    raises_like_torch(lambda lib: lib.movedim(lib.zeros((2, 3, 4, 5)), source, destination), "movedim", fragment)


@pytest.mark.parametrize("name", ["swapaxes", "swapdims"])
@pytest.mark.parametrize("d0,d1", [(0, 1), (-1, 0), (2, 2), (1, -2)])
def test_swapaxes_matches_torch(name, d0, d1):
    both(lambda lib, t: getattr(lib, name)(t, d0, d1) * 1.0, X4)
    both(lambda lib, t: getattr(t, name)(d0, d1) * 1.0, X4)


def test_movedim_and_swapaxes_of_zero_d_tensors():
    for lib in (md, torch):
        x = lib.tensor(3.0)
        assert tuple(lib.movedim(x, 0, -1).shape) == ()
        assert tuple(lib.swapaxes(x, 0, -1).shape) == ()


@pytest.mark.parametrize(
    "dim,sizes",
    [(1, (3, 1)), (-1, (5, 1)), (0, (-1,)), (2, (2, -1)), (2, [-1, 2]), (3, (1, 5, 1)), (0, (1, 2))],
    ids=str,
)
def test_unflatten_matches_torch(dim, sizes):
    both(lambda lib, t: lib.unflatten(t, dim, sizes) * 1.0, X4)
    both(lambda lib, t: t.unflatten(dim, sizes) * 1.0, X4)


def test_unflatten_of_an_empty_dim():
    both(lambda lib, t: t.unflatten(0, (-1, 2)) * 1.0, np.zeros((0, 3), np.float32))


@pytest.mark.parametrize(
    "dim,sizes,fragment",
    [
        (1, (), "non-empty"),
        (1, (2, 2), "multiply up"),
        (1, (4, -1), "multiply up"),
        (1, (-1, -1), "-1"),
        (1, (-2, -3), "-1"),
    ],
    ids=str,
)
def test_unflatten_errors(dim, sizes, fragment):
    raises_like_torch(lambda lib: lib.zeros((2, 6, 3)).unflatten(dim, sizes), "unflatten", fragment)


def test_unflatten_ambiguous_minus_one():
    raises_like_torch(lambda lib: lib.zeros((0, 3)).unflatten(0, (0, -1)), "unflatten", "ambiguous")


# ---------------------------------------------------------------- F.embedding(padding_idx=...)


@pytest.mark.parametrize("padding_idx", [None, 0, 2, -1, -4])
def test_embedding_padding_idx_matches_torch(padding_idx):
    weight = RNG.standard_normal((4, 3)).astype(np.float32)
    idx = np.array([[0, 2, 2], [3, 0, 1]], np.int64)
    upstream = RNG.standard_normal((2, 3, 3)).astype(np.float32)

    def call(lib, w, i):
        return (F if lib is md else TF).embedding(i, w, padding_idx=padding_idx)

    both(call, weight, idx, upstream=upstream)


def test_embedding_padding_row_gradient_is_zero_and_its_value_kept():
    weight = md.tensor(np.arange(12, dtype=np.float32).reshape(4, 3), requires_grad=True)
    out = F.embedding(md.tensor([1, 1, 3]), weight, padding_idx=1)
    np.testing.assert_array_equal(out.numpy()[0], [3, 4, 5])
    out.sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy(), [[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1]])


@pytest.mark.parametrize(
    "kwargs,fragment",
    [({"padding_idx": 4}, "padding_idx"), ({"padding_idx": -5}, "padding_idx"), ({"max_norm": 1.0}, "max_norm")],
    ids=str,
)
def test_embedding_refusals(kwargs, fragment):
    with pytest.raises(ValueError, match=f"embedding.*{fragment}"):
        F.embedding(md.tensor([0]), md.zeros((4, 3)), **kwargs)
    if "padding_idx" in kwargs:
        with pytest.raises(AssertionError):  # torch's own check
            TF.embedding(torch.tensor([0]), torch.zeros((4, 3)), **kwargs)


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
def test_embedding_module_padding_idx_matches_torch(padding_idx):
    torch = pytest.importorskip("torch")
    ref = torch.nn.Embedding(5, 3, padding_idx=padding_idx)
    ours = md.nn.Embedding(5, 3, padding_idx=padding_idx)
    assert repr(ours) == repr(ref) and ours.padding_idx == ref.padding_idx
    if padding_idx is not None:  # the padding row starts at zero
        np.testing.assert_array_equal(ours.weight.numpy()[ref.padding_idx], np.zeros(3, np.float32))
    ours.load_state_dict({"weight": md.tensor(ref.weight.detach().numpy())})
    idx = np.array([[0, 3, 4], [4, 4, 1]])
    out, out_ref = ours(md.tensor(idx)), ref(torch.tensor(idx))
    (out * out).sum().backward()
    (out_ref * out_ref).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), out_ref.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-6)


def test_embedding_module_options_and_errors():
    emb = md.nn.Embedding(4, 2, padding_idx=1, sparse=True)
    out = emb(md.tensor(np.array([1, 1, 2])))
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[1], [0.0, 0.0])  # repeated padding rows too
    np.testing.assert_array_equal(emb.weight.grad.numpy()[2], [1.0, 1.0])
    with pytest.raises(ValueError, match="padding_idx must be within num_embeddings"):
        md.nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(ValueError, match="max_norm"):
        md.nn.Embedding(4, 2, max_norm=1.0)


def test_copy_inside_the_graph_records_as_torch():
    x = md.ones(3, requires_grad=True)
    y = x * 2
    z = md.full((3,), 5.0, requires_grad=True)
    y.copy_(z)  # a non-leaf takes src's values and history (it raised)
    assert np.all(y.numpy() == 5.0) and y.requires_grad
    y.sum().backward()
    assert np.all(z.grad.numpy() == 1.0)
    w = md.ones(2, 3)  # a plain tensor copying one that requires grad joins the graph (it dropped it)
    w.copy_(z)
    assert w.requires_grad
    (w * w).sum().backward()
    assert np.all(z.grad.numpy() == 1.0 + 2 * 2 * 5.0)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x.copy_(z)
    p = md.zeros(3)
    p.data = z  # .data = writes the values only
    assert np.all(p.numpy() == 5.0) and not p.requires_grad
