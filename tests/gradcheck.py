"""Finite-difference gradient checks and NumPy references shared by the op tests.

Our ops compute in float32, so the check perturbs each float32 input element in float64 on the
NumPy side, rounds the perturbed value back to float32 (the step actually taken is measured after
that rounding), evaluates the op without autograd and differentiates the float64 scalar
sum(w * f(x)) by central differences. The analytic side is the same scalar's gradient from
`backward(w)`, read from `.grad`.
"""

from __future__ import annotations

import math

import numpy as np

import minidiff as md


def to_md(a, requires_grad: bool = False):
    """A float32 (or int64 for integer arrays) minidiff tensor holding a."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a.astype(np.float32)
    return md.tensor(a, requires_grad=requires_grad)


def _is_float(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def numeric_grads(fn, arrays, w, wrt, eps):
    """Central-difference gradients of sum(w * fn(*arrays)) with respect to arrays[i], i in wrt."""
    base = [np.asarray(a, np.float32) if _is_float(a) else a for a in arrays]

    def loss(args):
        with md.no_grad():
            out = fn(*[to_md(a) if isinstance(a, np.ndarray) else a for a in args])
        return float(np.sum(out.numpy().astype(np.float64) * w))

    grads = []
    for i in wrt:
        x = base[i]
        g = np.zeros(x.shape, np.float64)
        for j in np.ndindex(x.shape):
            v = float(x[j])
            plus, minus = np.float32(v + eps), np.float32(v - eps)
            args = list(base)
            xp = x.copy()
            xp[j] = plus
            args[i] = xp
            lp = loss(args)
            xm = x.copy()
            xm[j] = minus
            args[i] = xm
            lm = loss(args)
            g[j] = (lp - lm) / (float(plus) - float(minus))
        grads.append(g)
    return grads


def check_grads(fn, arrays, *, wrt=None, eps=1e-2, rtol=2e-3, atol=2e-3, seed=0):
    """Asserts that backward() of fn(*tensors) matches central finite differences.

    arrays: NumPy arrays (float ones become float32 tensors, integer ones int64 tensors) or other
    values passed through unchanged. wrt: indices of the inputs to differentiate (default: every
    float array). Returns the analytic gradients for further checks.
    """
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if _is_float(a)]
    tensors = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray):
            tensors.append(to_md(a, requires_grad=i in wrt))
        else:
            tensors.append(a)
    out = fn(*tensors)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(md.tensor(w))
    analytic = []
    for i in wrt:
        g = tensors[i].grad
        assert g is not None, f"input {i} got no gradient"
        assert g.shape == tensors[i].shape, f"input {i}: grad shape {g.shape} != {tensors[i].shape}"
        analytic.append(g.numpy().astype(np.float64))
    numeric = numeric_grads(fn, arrays, w.astype(np.float64), wrt, eps)
    for i, a, n in zip(wrt, analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
    return analytic


# ---- NumPy references (float64)

_erf = np.vectorize(math.erf, otypes=[np.float64])


def sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-x))


def gelu_ref(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def conv2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0)):
    """Direct convolution (cross-correlation, as in PyTorch), NCHW / KCRS."""
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    sh, sw = stride
    ph, pw = padding
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    P = (H + 2 * ph - R) // sh + 1
    Q = (W + 2 * pw - S) // sw + 1
    out = np.zeros((N, K, P, Q))
    for r in range(R):
        for s in range(S):
            patch = xp[:, :, r : r + sh * (P - 1) + 1 : sh, s : s + sw * (Q - 1) + 1 : sw]
            out += np.einsum("ncpq,kc->nkpq", patch, w[:, :, r, s].astype(np.float64))
    if b is not None:
        out += b.astype(np.float64)[None, :, None, None]
    return out


def conv2d_grads_ref(x, w, gy, stride=(1, 1), padding=(0, 0)):
    """Gradients (dx, dw, db) of sum(gy * conv2d(x, w, b)) in float64, by the same patches as
    conv2d_ref, scattered instead of gathered."""
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    sh, sw = stride
    ph, pw = padding
    P, Q = gy.shape[2:]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dw = np.zeros((K, C, R, S))
    gy = gy.astype(np.float64)
    for r in range(R):
        for s in range(S):
            win = (slice(None), slice(None), slice(r, r + sh * (P - 1) + 1, sh), slice(s, s + sw * (Q - 1) + 1, sw))
            dw[:, :, r, s] = np.einsum("nkpq,ncpq->kc", gy, xp[win])
            dxp[win] += np.einsum("nkpq,kc->ncpq", gy, w[:, :, r, s].astype(np.float64))
    return dxp[:, :, ph : ph + H, pw : pw + W], dw, gy.sum(axis=(0, 2, 3))


def group_norm_ref(x, groups, weight=None, bias=None, eps=1e-5):
    N, C = x.shape[:2]
    xg = x.astype(np.float64).reshape(N, groups, -1)
    mu = xg.mean(axis=2, keepdims=True)
    var = xg.var(axis=2, keepdims=True)
    y = ((xg - mu) / np.sqrt(var + eps)).reshape(x.shape)
    shape = (1, C) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def layer_norm_ref(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    x = x.astype(np.float64)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def attention_ref(q, k, v, scale=None):
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    s = np.matmul(q.astype(np.float64), np.swapaxes(k.astype(np.float64), -1, -2)) * scale
    return np.matmul(softmax_ref(s, -1), v.astype(np.float64))
