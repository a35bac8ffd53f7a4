"""``md.linalg``: torch.linalg's most used functions for float32 tensors with any batch dims.

Norms, products and ``diagonal`` are composed from the differentiable ops, so their gradients come
from the tape. The factorizations (det, slogdet, inv, solve, cholesky, qr, eigh, svd, pinv, lstsq)
run on the host: the input is copied to the CPU, factored by NumPy in float64, and the float32
result is moved back to the input's device. Each is an ``md.autograd.Function`` whose backward is
the standard matrix-backprop formula (as in torch's derivatives) written with minidiff ops, so the
gradient's products run on the input's device; the few inverses and solves a backward needs go to
the host too.

Shape and argument errors are ValueError / TypeError, as in the rest of minidiff (torch raises
RuntimeError for both); a singular or non-positive-definite matrix is ``LinAlgError``, a
RuntimeError, as torch's.
"""

from __future__ import annotations

import math
import numbers
from collections import namedtuple

import numpy as np

from . import _core
from . import functional as F
from . import tensor_math as _tm
from . import tensor_more as _tmore
from . import tensor_ops as _to
from ._core import Tensor
from ._dtypes import LOW_FLOATS
from .autograd import Function

_EPS32 = float(np.finfo(np.float32).eps)

SlogdetResult = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
QRResult = namedtuple("linalg_qr", ["Q", "R"])
EighResult = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("linalg_svd", ["U", "S", "Vh"])
LstsqResult = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])


class LinAlgError(RuntimeError):
    """A matrix the operation cannot handle: singular (inv, solve) or not positive-definite
    (cholesky). A RuntimeError, as ``torch.linalg.LinAlgError``."""


# ---- checks and host transfers


def _float_tensor(op: str, t, name: str, low_float: bool = False) -> Tensor:
    """t checked as a float32 tensor (or bfloat16 / float16, for the ops torch computes in them: the
    norms and products; its factorizations refuse them)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be an md tensor, got {type(t).__name__}")
    if t.dtype != "float32" and not (low_float and t.dtype in LOW_FLOATS):
        wanted = "a float32, bfloat16 or float16" if low_float else "a float32"
        raise TypeError(f"{op}: {name} must be {wanted} tensor, got {t.dtype} of shape {tuple(t.shape)}")
    return t


def _same_dtype(op: str, **tensors) -> None:
    """A TypeError where the operands' dtypes differ (torch promotes none of these ops' operands)."""
    if len({t.dtype for t in tensors.values()}) > 1:
        listed = ", ".join(f"{name} {t.dtype}" for name, t in tensors.items())
        raise TypeError(f"{op}: expected operands of one dtype, got {listed}")


def _norm_input(op: str, x: Tensor, dtype) -> Tensor:
    """x in the norm's dtype: ``dtype`` may widen a 16-bit float to float32, as torch's (never narrow)."""
    if dtype is None:
        return x
    dtype = _to._dtype(dtype)
    if dtype == x.dtype:
        return x
    if dtype == "float32" and x.dtype in LOW_FLOATS:
        return x.float()
    raise TypeError(f"{op}: dtype must be float32 or x's {x.dtype} (no narrowing), got {dtype!r}")


def _matrices(op: str, A, name: str = "A", square: bool = False) -> Tensor:
    """A checked as a batch of matrices (*, m, n), square ones where the op needs them."""
    A = _float_tensor(op, A, name)
    if A.ndim < 2:
        raise ValueError(f"{op}: {name} must have at least 2 dimensions, got shape {tuple(A.shape)}")
    if square and A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{op}: {name} must be batches of square matrices, got shape {tuple(A.shape)}")
    return A


def _host(t: Tensor) -> np.ndarray:
    """t's values on the CPU in float64, where the factorizations run."""
    return np.asarray(t.detach().to("cpu").numpy(), dtype=np.float64)


def _like(a, like: Tensor) -> Tensor:
    """A float32 tensor of a's values on like's device."""
    return _core.tensor(np.array(a, dtype=np.float32, order="C"), device=like.device)


def _mT(t: Tensor) -> Tensor:
    return t.transpose(-2, -1)


def _eye(n: int, like: Tensor) -> Tensor:
    return _to.eye(n, device=like.device)


def _is_zero(g: Tensor) -> bool:
    """True for a gradient the output never got (Function hands it in as zeros): the formulas
    then skip the terms that divide by eigen/singular value gaps, which would be 0/0 for repeated
    values."""
    return g.abs().sum().item() == 0.0


def _batch_index(shape: tuple, flat: int) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _host_inv(op: str, a: np.ndarray, shape: tuple) -> np.ndarray:
    """np.linalg.inv with torch's error: which batch element is singular."""
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        batch = a.shape[:-2]
        flat = a.reshape(-1, *a.shape[-2:])
        bad = next((i for i, m in enumerate(flat) if _singular(m)), 0)
        where = f"batch element {_batch_index(batch, bad)} of " if batch else ""
        raise LinAlgError(f"{op}: {where}the input of shape {shape} is singular") from None


def _singular(m: np.ndarray) -> bool:
    try:
        np.linalg.inv(m)
    except np.linalg.LinAlgError:
        return True
    return False


def _inv_of(op: str, t: Tensor) -> Tensor:
    """inv(t) computed on the host, on t's device (for the backward formulas)."""
    return _like(_host_inv(op, _host(t), tuple(t.shape)), t)


# ---- norms and products, composed from the differentiable ops


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002 (torch's names)
    """The vector ``ord``-norm of x over ``dim`` (all elements by default): any float, ``inf``
    (largest magnitude), ``-inf`` (smallest) or 0 (the count of non-zeros)."""
    x = _float_tensor("linalg.vector_norm", x, "x", low_float=True)
    if isinstance(ord, bool) or not isinstance(ord, numbers.Real):
        raise TypeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    x = _norm_input("linalg.vector_norm", x, dtype)
    return _tm.norm(x, float(ord), dim=dim, keepdim=keepdim)


def _dim_pair(op: str, dim, ndim: int) -> tuple[int, int]:
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise ValueError(f"{op}: dim must be a 2-tuple of ints, got {dim!r}")
    d0, d1 = _to._dim_list(op, list(dim), ndim)
    if d0 == d1:
        raise ValueError(f"{op}: dims must be different, got {tuple(dim)}")
    return d0, d1


def _keep_or_drop(r: Tensor, d0: int, d1: int, keepdim: bool) -> Tensor:
    """r with the reduced dims (d0, d1) of size 1 put back (keepdim) or dropped."""
    shape = list(r.shape)
    if keepdim:
        for d in sorted((d0, d1)):
            shape.insert(d, 1)
    return r.reshape(*shape) if tuple(shape) != tuple(r.shape) else r


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """The matrix norm over the dims ``dim`` (the others are batch dims): ``'fro'``, ``'nuc'``
    (the sum of singular values), ``inf`` / ``-inf`` (the largest / smallest absolute row sum),
    1 / -1 (column sum), 2 / -2 (the largest / smallest singular value). The singular values come
    from ``svdvals``, which runs on the host."""
    op = "linalg.matrix_norm"
    A = _norm_input(op, _float_tensor(op, A, "A", low_float=True), dtype)
    if A.ndim < 2:
        raise ValueError(f"{op}: A must have at least 2 dimensions, got shape {tuple(A.shape)}")
    d0, d1 = _dim_pair(op, dim, A.ndim)
    if A.dtype in LOW_FLOATS:
        if ord in ("nuc", 2, -2):
            raise TypeError(f"{op}: order {ord!r} needs singular values, not computed in {A.dtype} (as torch's)")
        # in float32, rounded once, as torch's kernels (a 16-bit row sum would round at each step)
        return matrix_norm(A.float(), ord, dim, keepdim).to(A.dtype)
    if ord == "fro":
        return _tm.norm(A, 2.0, dim=[d0, d1], keepdim=keepdim)
    if ord in ("nuc", 2, -2):
        s = svdvals(_to.movedim(A, (d0, d1), (-2, -1)))
        r = s.sum(dim=-1) if ord == "nuc" else (s.amax(dim=-1) if ord == 2 else s.amin(dim=-1))
        return _keep_or_drop(r, d0, d1, keepdim)
    if ord in (1, -1, math.inf, -math.inf) and not isinstance(ord, (bool, str)):
        # 1: the largest column sum (sum over rows d0, extreme over columns d1); inf: rows
        summed, across = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = A.abs().sum(dim=summed, keepdim=keepdim)
        if not keepdim and summed < across:
            across -= 1
        # (the reduction drops the dims itself: a reshape of its result would be a view, torch's is none)
        return sums.amax(dim=across, keepdim=keepdim) if ord > 0 else sums.amin(dim=across, keepdim=keepdim)
    raise ValueError(f"{op}: order {ord!r} is not supported (A of shape {tuple(A.shape)})")


def norm(A, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A002
    """torch.linalg.norm: a vector norm when ``dim`` is an int or one dim, a matrix norm when it
    is two; without dim, the 2-norm of all elements when ``ord`` is None, else the vector norm of
    a 1-D A or the matrix norm of a 2-D A."""
    op = "linalg.norm"
    A = _float_tensor(op, A, "A", low_float=True)
    if dim is not None:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
        if len(dims) == 1:
            if isinstance(ord, str):
                raise ValueError(f"{op}: order {ord!r} is a matrix norm, but dim {dim!r} names one dim")
            return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        raise ValueError(f"{op}: dim must be an int or a tuple of 1 or 2 ints, got {dim!r}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 1:
        if isinstance(ord, str):
            raise ValueError(f"{op}: order {ord!r} is a matrix norm, but A has shape {tuple(A.shape)}")
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    if A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    raise ValueError(f"{op}: with ord and no dim, A must be 1-D or 2-D, got shape {tuple(A.shape)}")


def vecdot(x, y, *, dim: int = -1) -> Tensor:
    """The dot product of x and y (broadcast) along ``dim``."""
    x, y = _float_tensor("linalg.vecdot", x, "x", True), _float_tensor("linalg.vecdot", y, "y", True)
    _same_dtype("linalg.vecdot", x=x, y=y)
    _to._broadcast_shape("linalg.vecdot", x=x, y=y)
    return (x * y).sum(dim=dim)


def cross(x, y, *, dim: int = -1) -> Tensor:
    """The cross product of the 3-vectors along ``dim``; the other dims broadcast (x and y have
    the same number of dims)."""
    return _tmore.cross(_float_tensor("linalg.cross", x, "x", True), _float_tensor("linalg.cross", y, "y", True), dim)


def matmul(input, other) -> Tensor:  # noqa: A002 (torch's argument name)
    """``input @ other``, as md.matmul."""
    return F.matmul(input, other)


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The ``offset`` diagonal of the matrices in dims (dim1, dim2), as the last dim: a view."""
    return _tmore.diagonal(_float_tensor("linalg.diagonal", A, "A", True), offset, dim1, dim2)


def _chain_order(sizes: list[int]) -> list[list[int]]:
    """split[i][j]: where the cheapest product of matrices i..j splits (the textbook dynamic
    programme over the chain's dims ``sizes``)."""
    n = len(sizes) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def multi_dot(tensors) -> Tensor:
    """The product of a chain of matrices, multiplied in the cheapest order; the first may be a
    1-D row vector and the last a 1-D column vector (their dim is dropped from the result)."""
    op = "linalg.multi_dot"
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: expected a list of tensors, got {type(tensors).__name__}")
    if len(tensors) < 2:
        raise ValueError(f"{op}: expected at least 2 tensors, got {len(tensors)}")
    ts = [_float_tensor(op, t, f"tensors[{i}]", True) for i, t in enumerate(tensors)]
    _same_dtype(op, **{f"tensors[{i}]": t for i, t in enumerate(ts)})
    last = len(ts) - 1
    for i, t in enumerate(ts):
        allowed = (1, 2) if i in (0, last) else (2,)
        if t.ndim not in allowed:
            what = "the first and last tensors must be 1-D or 2-D" if i in (0, last) else "inner tensors must be 2-D"
            raise ValueError(f"{op}: {what}, got tensors[{i}] of shape {tuple(t.shape)}")
    row, col = ts[0].ndim == 1, ts[-1].ndim == 1
    mats = list(ts)
    if row:
        mats[0] = mats[0].unsqueeze(0)
    if col:
        mats[-1] = mats[-1].unsqueeze(-1)
    for i in range(last):
        if mats[i].shape[1] != mats[i + 1].shape[0]:
            shapes = ", ".join(str(tuple(t.shape)) for t in ts)
            raise ValueError(f"{op}: tensors[{i}] and tensors[{i + 1}] cannot be multiplied (shapes {shapes})")
    split = _chain_order([mats[0].shape[0]] + [m.shape[1] for m in mats])

    def product(i: int, j: int) -> Tensor:
        if i == j:
            return mats[i]
        k = split[i][j]
        return product(i, k) @ product(k + 1, j)

    out = product(0, last)
    if row and col:
        return out.reshape(())
    if row:
        return out.reshape(out.shape[1])
    if col:
        return out.reshape(out.shape[0])
    return out


# ---- determinants and inverses (host factorizations)


def _cofactors(a: np.ndarray) -> np.ndarray:
    """det(A) * inv(A)^T, the gradient of det, from the SVD A = U S V^T: det(U) det(V) U
    diag(prod_{j != i} s_j) V^T, which stays finite (and right) for singular A. A matrix with a NaN or
    infinite entry (whose SVD does not converge) gets det(A) inv(A)^T as it comes, as torch's (NaN)."""
    bad = ~np.isfinite(a).all(axis=(-2, -1))
    if bad.any():
        out = _cofactors(np.where(bad[..., None, None], 0.0, a))
        with np.errstate(all="ignore"):
            try:
                rest = np.linalg.det(a[bad])[..., None, None] * np.swapaxes(np.linalg.inv(a[bad]), -1, -2)
            except np.linalg.LinAlgError:
                rest = np.nan
        out[bad] = rest
        return out
    u, s, vt = np.linalg.svd(a)
    ones = np.ones_like(s[..., :1])
    before = np.cumprod(np.concatenate([ones, s[..., :-1]], -1), -1)  # prod of s_j, j < i
    after = np.cumprod(np.concatenate([ones, s[..., :0:-1]], -1), -1)[..., ::-1]  # j > i
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return sign[..., None, None] * ((u * (before * after)[..., None, :]) @ vt)


class _Det(Function):
    @staticmethod
    def forward(ctx, A):
        a = _host(A)  # (*, n, n)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(_like(_cofactors(a), A))
        with np.errstate(invalid="ignore"):  # a NaN matrix: NaN, without NumPy's warning (as torch's)
            return _like(np.linalg.det(a), A)  # (*)

    @staticmethod
    def backward(ctx, grad):
        (cofactors,) = ctx.saved_tensors
        return grad.unsqueeze(-1).unsqueeze(-1) * cofactors


def det(A) -> Tensor:
    """The determinant of each matrix of A (*, n, n), shape (*). Runs on the host (NumPy, float64);
    the gradient ``det(A) inv(A)^T`` comes from an SVD, so it is right for singular A too."""
    return _Det.apply(_matrices("linalg.det", A, square=True))


class _Slogdet(Function):
    @staticmethod
    def forward(ctx, A):
        a = _host(A)
        sign, logabsdet = np.linalg.slogdet(a)
        if ctx.needs_input_grad[0]:
            # the gradient of log|det A| is inv(A)^T; a singular A (logabsdet -inf) gets pinv's
            inverse = np.linalg.pinv(a) if np.any(sign == 0) else np.linalg.inv(a)
            ctx.save_for_backward(_like(np.swapaxes(inverse, -1, -2), A))
        sign, logabsdet = _like(sign, A), _like(logabsdet, A)
        ctx.mark_non_differentiable(sign)
        return sign, logabsdet

    @staticmethod
    def backward(ctx, grad_sign, grad_logabsdet):
        (inverse_t,) = ctx.saved_tensors
        return grad_logabsdet.unsqueeze(-1).unsqueeze(-1) * inverse_t


def slogdet(A) -> SlogdetResult:
    """(sign, logabsdet) of det(A) for A (*, n, n), both (*); the sign has no gradient. Runs on
    the host (NumPy, float64)."""
    return SlogdetResult(*_Slogdet.apply(_matrices("linalg.slogdet", A, square=True)))


class _Inv(Function):
    @staticmethod
    def forward(ctx, A):
        out = _like(_host_inv("linalg.inv", _host(A), tuple(A.shape)), A)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (inverse,) = ctx.saved_tensors
        inverse_t = _mT(inverse)
        return -(inverse_t @ grad @ inverse_t)


def inv(A) -> Tensor:
    """The inverse of each matrix of A (*, n, n); LinAlgError for a singular one. Runs on the
    host (NumPy, float64)."""
    return _Inv.apply(_matrices("linalg.inv", A, square=True))


def _host_solve(op: str, A: Tensor, B: Tensor) -> Tensor:
    """solve(A, B) for A (*, n, n), B (*, n, k) of the same batch, on the host."""
    a = _host(A)
    try:
        x = np.linalg.solve(a, _host(B))
    except np.linalg.LinAlgError:
        _host_inv(op, a, tuple(A.shape))  # raises, naming the singular batch element
        raise
    return _like(x, A)


class _Solve(Function):
    @staticmethod
    def forward(ctx, A, B):
        X = _host_solve("linalg.solve", A, B)  # (*, n, k)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, grad):
        A, X = ctx.saved_tensors
        grad_B = _host_solve("linalg.solve", _mT(A), grad)  # A^-T grad
        grad_A = -(grad_B @ _mT(X)) if ctx.needs_input_grad[0] else None
        return grad_A, grad_B


def _is_vector_rhs(A: Tensor, B: Tensor) -> bool:
    """torch's rule: B is a (batch of) vector(s) when it is 1-D or has shape A.shape[:-1]."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def _broadcast_batches(op: str, A: Tensor, B: Tensor) -> tuple[Tensor, Tensor]:
    """A and B expanded to one batch shape (the tape sums the gradients back)."""
    try:
        batch = tuple(np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2])))
    except ValueError:
        raise ValueError(
            f"{op}: the batch dims of A {tuple(A.shape)} and B {tuple(B.shape)} do not broadcast"
        ) from None
    if tuple(A.shape[:-2]) != batch:
        A = A.expand(*batch, *A.shape[-2:])
    if tuple(B.shape[:-2]) != batch:
        B = B.expand(*batch, *B.shape[-2:])
    return A, B


def solve(A, B, *, left: bool = True) -> Tensor:
    """X with A X = B (``left=False``: X A = B) for A (*, n, n) and B (*, n, k), or B (*, n) a
    batch of vectors (as torch: 1-D, or shape A.shape[:-1]); the batch dims broadcast.
    LinAlgError for a singular A. Runs on the host (NumPy, float64); the gradient solves with
    A^T there too."""
    op = "linalg.solve"
    A = _matrices(op, A, square=True)
    B = _float_tensor(op, B, "B")
    vector = _is_vector_rhs(A, B)
    if vector and not left:
        raise ValueError(f"{op}: a vector B of shape {tuple(B.shape)} is not supported with left=False")
    if vector:
        B = B.unsqueeze(-1)
    if B.ndim < 2:
        raise ValueError(f"{op}: B must have at least 1 dimension, got shape {tuple(B.shape)}")
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        b = tuple(B.shape[-2:])
        equation = "AX = B" if left else "XA = B"
        raise ValueError(
            f"{op}: incompatible shapes of A {tuple(A.shape)} and B {tuple(B.shape)} for the equation "
            f"{equation} ({n}x{n} and {b[0]}x{b[1]})"
        )
    A, B = _broadcast_batches(op, A, B)
    if not left:  # X A = B  <=>  A^T X^T = B^T; a new tensor, as torch's, not a view of the solve's
        return _mT(_Solve.apply(_mT(A), _mT(B)))._own_result()
    if vector:
        return _Solve.apply(A, B).squeeze(-1)._own_result()
    return _Solve.apply(A, B)


def _triangle(a: np.ndarray, upper: bool, unitriangular: bool) -> np.ndarray:
    """The triangle of a that solve_triangular reads (the other entries ignored; a unit diagonal
    where ``unitriangular``)."""
    t = np.triu(a) if upper else np.tril(a)
    if unitriangular:
        t = t.copy()
        idx = np.arange(a.shape[-1])
        t[..., idx, idx] = 1.0
    return t


def _substitute(t: np.ndarray, b: np.ndarray, upper: bool) -> np.ndarray:
    """X with T X = B by substitution, row by row across the batch: a zero on the diagonal gives
    inf or NaN, as torch's (no LinAlgError)."""
    n = t.shape[-1]
    x = np.zeros(np.broadcast_shapes(t.shape[:-2], b.shape[:-2]) + b.shape[-2:], np.float64)
    rows = range(n - 1, -1, -1) if upper else range(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in rows:
            known = slice(i + 1, n) if upper else slice(0, i)
            rest = b[..., i, :] - np.einsum("...j,...jk->...k", t[..., i, known], x[..., known, :])
            x[..., i, :] = rest / t[..., i, i : i + 1]
    return x


class _SolveTriangular(Function):
    @staticmethod
    def forward(ctx, A, B, upper, unitriangular):
        t = _triangle(_host(A), upper, unitriangular)
        X = _like(_substitute(t, _host(B), upper), A)
        ctx.upper, ctx.unitriangular = upper, unitriangular
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx, grad):
        A, X = ctx.saved_tensors
        t = _triangle(_host(A), ctx.upper, ctx.unitriangular)
        # grad_B = T^-T grad (T^T is triangular the other way); grad_A = -grad_B X^T on T's triangle
        grad_B = _like(_substitute(np.swapaxes(t, -1, -2), _host(grad), not ctx.upper), A)
        grad_A = None
        if ctx.needs_input_grad[0]:
            full = -(grad_B @ _mT(X))
            grad_A = (
                full.triu(1 if ctx.unitriangular else 0) if ctx.upper else full.tril(-1 if ctx.unitriangular else 0)
            )
        return grad_A, grad_B, None, None


def solve_triangular(A, B, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """X with A X = B (``left=False``: X A = B) for a triangular A (*, n, n), read from its upper
    or lower triangle only (``unitriangular``: a diagonal of ones, not read), and B (*, n, k) (or
    (*, k, n) for ``left=False``); the batch dims broadcast. As torch's, a zero on the diagonal gives
    inf or NaN rather than an error. Runs on the host (NumPy, float64), differentiable in A (its
    triangle) and B."""
    op = "linalg.solve_triangular"
    A = _matrices(op, A, square=True)
    B = _matrices(op, B, name="B")
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        equation = "AX = B" if left else "XA = B"
        raise ValueError(
            f"{op}: incompatible shapes of A {tuple(A.shape)} and B {tuple(B.shape)} for the equation {equation}"
        )
    A, B = _broadcast_batches(op, A, B)
    if not left:  # X A = B  <=>  A^T X^T = B^T, with the triangle flipped
        return _mT(_SolveTriangular.apply(_mT(A), _mT(B), not upper, bool(unitriangular)))._own_result()
    return _SolveTriangular.apply(A, B, bool(upper), bool(unitriangular))


def matrix_rank(A, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The number of singular values (eigenvalue magnitudes for ``hermitian``, which reads the lower
    triangle) above max(atol, rtol * the largest), rtol defaulting to eps * max(m, n) as torch's;
    an int64 tensor of A's batch shape, no gradient."""
    op = "linalg.matrix_rank"
    A = _matrices(op, A, square=bool(hermitian))
    a = _host(A)
    if hermitian:
        a = np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2)
        s = np.abs(np.linalg.eigvalsh(a)) if a.size else np.zeros(a.shape[:-1])
    else:
        s = np.linalg.svd(a, compute_uv=False) if a.size else np.zeros((*a.shape[:-2], min(a.shape[-2:])))
    tol = _tolerance(op, s, a.shape[-2], a.shape[-1], atol, rtol)
    return _core.tensor(np.asarray((s > tol).sum(axis=-1), np.int64), dtype="int64", device=A.device)


# ---- factorizations (host)


def _not_positive_definite(a: np.ndarray, shape: tuple) -> LinAlgError:
    flat = a.reshape(-1, *a.shape[-2:])
    for b, m in enumerate(flat):
        for order in range(1, m.shape[-1] + 1):
            try:
                np.linalg.cholesky(m[:order, :order])
            except np.linalg.LinAlgError:
                where = f"batch element {_batch_index(a.shape[:-2], b)} of " if a.ndim > 2 else ""
                return LinAlgError(
                    f"linalg.cholesky: {where}the input of shape {shape} is not positive-definite "
                    f"(the leading minor of order {order} is not positive-definite)"
                )
    return LinAlgError(f"linalg.cholesky: the input of shape {shape} is not positive-definite")


class _Cholesky(Function):
    @staticmethod
    def forward(ctx, A, upper):
        a = _host(A)
        try:
            lower = np.linalg.cholesky(a)  # reads the lower triangle only, as torch's
        except np.linalg.LinAlgError:
            raise _not_positive_definite(a, tuple(A.shape)) from None
        L = _like(lower, A)
        ctx.save_for_backward(L)
        ctx.upper = upper
        return _mT(L).contiguous() if upper else L

    @staticmethod
    def backward(ctx, grad):
        # torch's formula: with P = tril(L^T gL) and S = P + tril(P, -1)^T, halved,
        # gA = L^-T S L^-1 (symmetric)
        (L,) = ctx.saved_tensors
        grad_L = _mT(grad) if ctx.upper else grad
        P = (_mT(L) @ grad_L).tril()
        S = 0.5 * (P + _mT(P.tril(-1)))
        L_inv = _inv_of("linalg.cholesky", L)
        return _mT(L_inv) @ S @ L_inv, None


def cholesky(A, *, upper: bool = False) -> Tensor:
    """The Cholesky factor L (A = L L^T; ``upper``: U = L^T, A = U^T U) of each symmetric
    positive-definite matrix of A (*, n, n); only the lower triangle is read. LinAlgError for a
    matrix that is not positive-definite. Runs on the host (NumPy, float64)."""
    A = _matrices("linalg.cholesky", A, square=True)
    return _Cholesky.apply(A, bool(upper))


def _qr_backward_tall(Q: Tensor, R: Tensor, grad_Q: Tensor, grad_R: Tensor) -> Tensor:
    """gA for A = QR with m >= n (R square): M = triu(gR R^T - Q^T gQ) copied to its lower half,
    gA = (gQ + Q M) R^-T, torch's formula."""
    M = (grad_R @ _mT(R) - _mT(Q) @ grad_Q).triu()
    M = M + _mT(M.triu(1))
    return (grad_Q + Q @ M) @ _mT(_inv_of("linalg.qr", R))


class _QR(Function):
    @staticmethod
    def forward(ctx, A, mode):
        a = _host(A)
        ctx.mode = mode
        if mode == "r":
            R = _like(np.linalg.qr(a, mode="r"), A)
            Q = _core.zeros((0,), device=A.device)
            ctx.mark_non_differentiable(Q)
            return Q, R
        q, r = np.linalg.qr(a, mode=mode)
        Q, R = _like(q, A), _like(r, A)
        ctx.save_for_backward(Q, R)
        return Q, R

    @staticmethod
    def backward(ctx, grad_Q, grad_R):
        mode = ctx.mode
        if mode == "r":
            raise RuntimeError(
                "linalg.qr: the gradient depends on Q, which mode='r' does not compute; use mode='reduced'"
            )
        Q, R = ctx.saved_tensors
        m, n = Q.shape[-2], R.shape[-1]
        if mode == "complete" and m > n:
            raise RuntimeError(
                f"linalg.qr: mode='complete' is not differentiable when rows > columns (A of shape "
                f"{(*Q.shape[:-2], m, n)})"
            )
        if m >= n:
            return _qr_backward_tall(Q, R, grad_Q, grad_R), None
        # wide A = Q [R1 R2]: X = Q R1 is a square QR and R2 = Q^T Y, which adds Y gR2^T to gQ
        R1, R2 = R[..., :, :m], R[..., :, m:]
        grad_R1, grad_R2 = grad_R[..., :, :m], grad_R[..., :, m:]
        Y = Q @ R2
        grad_X = _qr_backward_tall(Q, R1, grad_Q + Y @ _mT(grad_R2), grad_R1)
        return F.cat([grad_X, Q @ grad_R2], -1), None


def qr(A, mode: str = "reduced") -> QRResult:
    """(Q, R) with A = QR, Q's columns orthonormal and R upper triangular, for A (*, m, n).
    ``mode``: 'reduced' (Q (*, m, k), R (*, k, n), k = min(m, n)), 'complete' (Q (*, m, m)) or 'r'
    (R only; Q is empty, and there is no gradient). The signs are LAPACK's (R's diagonal may be
    negative), as torch's. Runs on the host (NumPy, float64)."""
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    A = _matrices("linalg.qr", A)
    return QRResult(*_QR.apply(A, mode))


def _check_uplo(op: str, UPLO) -> str:
    if UPLO not in ("L", "U"):
        raise ValueError(f"{op}: UPLO must be 'L' or 'U', got {UPLO!r}")
    return UPLO


class _Eigh(Function):
    @staticmethod
    def forward(ctx, A, UPLO):
        w, v = np.linalg.eigh(_host(A), UPLO=UPLO)
        values, vectors = _like(w, A), _like(v, A)
        ctx.save_for_backward(values, vectors)
        return values, vectors

    @staticmethod
    def backward(ctx, grad_values, grad_vectors):
        # torch's formula: gA = V (skew(V^T gV) / E + diag(gL)) V^T, E_ij = L_j - L_i
        values, V = ctx.saved_tensors
        inner = _tmore.diag_embed(grad_values)
        if not _is_zero(grad_vectors):
            VtgV = _mT(V) @ grad_vectors
            gaps = values.unsqueeze(-2) - values.unsqueeze(-1) + _eye(values.shape[-1], values)
            inner = inner + 0.5 * (VtgV - _mT(VtgV)) / gaps
        return V @ inner @ _mT(V), None


def eigh(A, UPLO: str = "L") -> EighResult:
    """(eigenvalues (*, n) in ascending order, eigenvectors (*, n, n) as columns) of each
    symmetric matrix of A (*, n, n), read from its lower (``UPLO='L'``) or upper triangle. Each
    eigenvector's sign is arbitrary; the gradient through the eigenvectors is undefined (infinite)
    for repeated eigenvalues, as torch's. Runs on the host (NumPy, float64)."""
    op = "linalg.eigh"
    return EighResult(*_Eigh.apply(_matrices(op, A, square=True), _check_uplo(op, UPLO)))


class _Eigvalsh(Function):
    @staticmethod
    def forward(ctx, A, UPLO):
        if ctx.needs_input_grad[0]:
            w, v = np.linalg.eigh(_host(A), UPLO=UPLO)
            ctx.save_for_backward(_like(v, A))
        else:
            w = np.linalg.eigvalsh(_host(A), UPLO=UPLO)
        return _like(w, A)

    @staticmethod
    def backward(ctx, grad):
        (V,) = ctx.saved_tensors
        return (V * grad.unsqueeze(-2)) @ _mT(V), None


def eigvalsh(A, UPLO: str = "L") -> Tensor:
    """The eigenvalues (*, n), ascending, of each symmetric matrix of A (*, n, n), as ``eigh``;
    the gradient ``V diag(g) V^T`` is defined for repeated eigenvalues too. Runs on the host
    (NumPy, float64)."""
    op = "linalg.eigvalsh"
    return _Eigvalsh.apply(_matrices(op, A, square=True), _check_uplo(op, UPLO))


class _SVD(Function):
    @staticmethod
    def forward(ctx, A, full_matrices):
        u, s, vt = np.linalg.svd(_host(A), full_matrices=full_matrices)
        U, S, Vh = _like(u, A), _like(s, A), _like(vt, A)
        k = s.shape[-1]
        ctx.save_for_backward(U[..., :, :k], S, Vh[..., :k, :])
        return U, S, Vh

    @staticmethod
    def backward(ctx, grad_U, grad_S, grad_Vh):
        U, S, Vh = ctx.saved_tensors  # (*, m, k), (*, k), (*, k, n)
        k = S.shape[-1]
        # full_matrices: the columns of U (rows of Vh) past k do not enter the gradient, as torch's
        grad_U, grad_Vh = grad_U[..., :, :k], grad_Vh[..., :k, :]
        has_U, has_Vh = not _is_zero(grad_U), not _is_zero(grad_Vh)
        m, n = U.shape[-2], Vh.shape[-1]
        inner = _tmore.diag_embed(grad_S)
        if has_U or has_Vh:
            # torch's formula: off the diagonal ((U^T gU - gU^T U) S + S (Vh gVh^T - ...)) / E,
            # E_ij = s_j^2 - s_i^2
            S2 = S * S
            gaps = S2.unsqueeze(-2) - S2.unsqueeze(-1) + _eye(k, S)
            off = None
            if has_U:
                UtgU = _mT(U) @ grad_U
                off = (UtgU - _mT(UtgU)) * S.unsqueeze(-2)
            if has_Vh:
                VhgV = Vh @ _mT(grad_Vh)
                term = S.unsqueeze(-1) * (VhgV - _mT(VhgV))
                off = term if off is None else off + term
            inner = inner + off / gaps
        if m > n and has_U:  # the part of gU outside U's columns: (I - U U^T) gU S^-1
            gUSinv = grad_U / S.unsqueeze(-2)
            return (U @ inner + gUSinv - U @ (_mT(U) @ gUSinv)) @ Vh, None
        if m < n and has_Vh:
            SinvgVh = grad_Vh / S.unsqueeze(-1)
            return U @ (inner @ Vh + SinvgVh - (SinvgVh @ _mT(Vh)) @ Vh), None
        return U @ inner @ Vh, None


def svd(A, full_matrices: bool = True) -> SVDResult:
    """(U, S, Vh) with A = U diag(S) Vh for A (*, m, n): S (*, k) descending, k = min(m, n); U
    (*, m, m) and Vh (*, n, n) with ``full_matrices``, else (*, m, k) and (*, k, n). The singular
    vectors' signs are arbitrary; the gradient through U or Vh is undefined (infinite) for repeated
    singular values (and, for a non-square A, for a zero one), as torch's; with full_matrices the
    columns past k take no part in it. Runs on the host (NumPy, float64)."""
    A = _matrices("linalg.svd", A)
    return SVDResult(*_SVD.apply(A, bool(full_matrices)))


class _Svdvals(Function):
    @staticmethod
    def forward(ctx, A):
        if ctx.needs_input_grad[0]:
            u, s, vt = np.linalg.svd(_host(A), full_matrices=False)
            ctx.save_for_backward(_like(u, A), _like(vt, A))
        else:
            s = np.linalg.svd(_host(A), compute_uv=False)
        return _like(s, A)

    @staticmethod
    def backward(ctx, grad):
        U, Vh = ctx.saved_tensors
        return (U * grad.unsqueeze(-2)) @ Vh


def svdvals(A) -> Tensor:
    """The singular values (*, k), descending, of A (*, m, n); the gradient ``U diag(g) Vh`` is
    defined for repeated singular values too. Runs on the host (NumPy, float64)."""
    return _Svdvals.apply(_matrices("linalg.svdvals", A))


def _tolerance(op: str, s: np.ndarray, m: int, n: int, atol, rtol) -> np.ndarray:
    """torch's cut-off for small singular values: max(atol, rtol * largest), with rtol defaulting
    to eps * max(m, n) (or 0 when only a positive atol is given)."""
    for name, v in (("atol", atol), ("rtol", rtol)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
            raise TypeError(f"{op}: {name} must be a number or None, got {type(v).__name__}")
    if rtol is None:
        rtol = 0.0 if atol is not None and atol > 0 else _EPS32 * max(m, n)
    largest = s.max(axis=-1, keepdims=True) if s.shape[-1] else np.zeros((*s.shape[:-1], 1))
    return np.maximum(float(atol or 0.0), float(rtol) * largest)


class _Pinv(Function):
    @staticmethod
    def forward(ctx, A, atol, rtol, hermitian):
        a = _host(A)
        if hermitian:  # the lower triangle, mirrored, as torch reads it
            a = np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2)
        u, s, vt = np.linalg.svd(a, full_matrices=False)
        tol = _tolerance("linalg.pinv", s, a.shape[-2], a.shape[-1], atol, rtol)
        s_inv = np.where(s > tol, 1.0 / np.where(s > tol, s, 1.0), 0.0)
        out = _like(np.swapaxes(vt, -1, -2) @ (s_inv[..., :, None] * np.swapaxes(u, -1, -2)), A)
        ctx.save_for_backward(A, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        # the derivative of the pseudo-inverse (Golub and Pereyra), as torch's pinv_backward
        A, P = ctx.saved_tensors  # (*, m, n), (*, n, m)
        m, n = A.shape[-2], A.shape[-1]
        Pt, gt = _mT(P), _mT(grad)
        if m <= n:
            K = gt @ P
            KPt = K @ Pt
            out = -_mT(P @ K) + KPt - (A @ P) @ KPt + (Pt @ P) @ (gt - K @ A)
        else:
            K = P @ gt
            PtK = Pt @ K
            out = -_mT(K @ P) + ((gt - A @ K) @ P) @ Pt + PtK - (PtK @ P) @ A
        return out, None, None, None


def pinv(A, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudo-inverse (*, n, m) of A (*, m, n), from its SVD: singular values at
    most max(atol, rtol * the largest) count as zero (rtol defaults to eps * max(m, n), as
    torch's). ``hermitian`` reads only the lower triangle of a square A. Runs on the host (NumPy,
    float64)."""
    A = _matrices("linalg.pinv", A, square=bool(hermitian))
    return _Pinv.apply(A, atol, rtol, bool(hermitian))


def lstsq(A, B, rcond=None, *, driver=None) -> LstsqResult:
    """The least-squares (minimum-norm, for an under-determined or rank-deficient A) solution of
    A X = B for A (*, m, n) and B (*, m, k) or a batch of vectors (*, m), as ``pinv(A) @ B`` (the
    SVD runs on the host), differentiable in A and B. As torch's default 'gelsy' driver, the
    residuals and singular values are empty and the rank is returned (int64); 'gelsd' and 'gelss'
    add the singular values, and the residuals ||AX - B||^2 per column when m > n and A has full
    rank."""
    op = "linalg.lstsq"
    if driver not in (None, "gels", "gelsy", "gelsd", "gelss"):
        raise ValueError(f"{op}: driver must be one of gels, gelsy, gelsd, gelss, got {driver!r}")
    driver = driver or "gelsy"
    A = _matrices(op, A)
    B = _float_tensor(op, B, "B")
    vector = _is_vector_rhs(A, B)
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.ndim < 2 or Bm.shape[-2] != A.shape[-2]:
        raise ValueError(f"{op}: A of shape {tuple(A.shape)} and B of shape {tuple(B.shape)} have different rows")
    m, n = A.shape[-2], A.shape[-1]
    rtol = rcond if rcond is not None and rcond > 0 else None
    X = pinv(A, rtol=rtol) @ Bm
    empty = _core.zeros((0,), device=A.device)
    s = np.linalg.svd(_host(A), compute_uv=False)
    tol = _tolerance(op, s, m, n, None, rtol)
    ranks = (s > tol).sum(axis=-1)
    rank = _core.tensor(ranks.astype(np.int64), dtype="int64", device=A.device)
    residuals = empty
    if driver != "gelsy" and m > n and bool(np.all(ranks == n)):
        residuals = ((A @ X - Bm) ** 2).sum(dim=-2)
    if driver == "gels":
        rank = _core.zeros((0,), dtype="int64", device=A.device)
    singular_values = _like(s, A) if driver in ("gelsd", "gelss") else empty
    return LstsqResult(X.squeeze(-1) if vector else X, residuals, rank, singular_values)


__all__ = [
    "LinAlgError",
    "cholesky",
    "cross",
    "det",
    "diagonal",
    "eigh",
    "eigvalsh",
    "inv",
    "lstsq",
    "matmul",
    "matrix_norm",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_triangular",
    "svd",
    "svdvals",
    "vecdot",
    "vector_norm",
]
