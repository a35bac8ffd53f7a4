"""torch.nn.functional's transformer pieces, composed from md ops: ``rms_norm`` and
``multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs), so gradients come from the
native ops' backward functions.

A boolean mask (a bool tensor, as comparisons give, or a NumPy bool array) means True = not allowed;
a float one is added to the attention scores, as torch's.
"""

from __future__ import annotations

import math

import numpy as np

from ._core import Tensor
from ._core import tensor as _tensor
from ._core import zeros as _zeros
from ._core.functional import cat, dropout, linear, matmul, pad, softmax
from ._dtypes import LOW_FLOATS

# functional.py imports this module at its end, once scaled_dot_product_attention is defined
from .functional import scaled_dot_product_attention, where

__all__ = ["multi_head_attention_forward", "rms_norm"]

_FLOAT32_EPS = float(np.finfo(np.float32).eps)


def _check_tensor(op: str, name: str, value) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{op}: {name} must be an md tensor, got {type(value).__name__}")


# ---- RMS norm


def _normalized_shape(op: str, normalized_shape) -> tuple[int, ...]:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(f"{op}: normalized_shape must be a positive int or a non-empty tuple of them, got {shape}")
    return shape


def rms_norm(input, normalized_shape, weight=None, eps=None):  # noqa: A002 (torch's argument name)
    """``x / sqrt(mean(x**2) + eps) * weight``, the mean over the last ``len(normalized_shape)``
    dims, as torch's. ``eps=None`` is float32's machine epsilon, which torch uses for float32 and
    for bfloat16 and float16 alike (16-bit input is normalised in float32 and cast back, as torch's)."""
    op = "rms_norm"
    _check_tensor(op, "input", input)
    if input.dtype in ("bool", "int64"):  # torch's kernel is for floating types only
        raise TypeError(f"{op}: input must be a floating-point tensor, got {input.dtype} of shape {tuple(input.shape)}")
    norm_shape = _normalized_shape(op, normalized_shape)
    shape = tuple(input.shape)
    if shape[len(shape) - len(norm_shape) :] != norm_shape or len(shape) < len(norm_shape):
        raise ValueError(
            f"{op}: given normalized_shape={list(norm_shape)}, expected input with shape [*, "
            f"{', '.join(map(str, norm_shape))}], but got input of shape {shape}"
        )
    if weight is not None:
        _check_tensor(op, "weight", weight)
        if tuple(weight.shape) != norm_shape:
            raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} differs from normalized_shape {norm_shape}")
    eps = _FLOAT32_EPS if eps is None else float(eps)
    x = input.float() if input.dtype in LOW_FLOATS else input
    dims = tuple(range(len(shape) - len(norm_shape), len(shape)))
    out = x * (x.square().mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None:
        out = out * (weight.float() if weight.dtype in LOW_FLOATS else weight)
    return out.to(input.dtype) if out.dtype != input.dtype else out


# ---- multi-head attention


def _float_mask(op: str, name: str, mask, device, dtype: str = "float32") -> Tensor | None:
    """torch's _canonical_mask: a boolean mask (a bool tensor or NumPy array, True = not allowed)
    becomes an additive one of the query's ``dtype`` (-inf where True, else 0); a float mask (an md
    tensor, a NumPy float array) is kept as it is."""
    if mask is None:
        return None
    if isinstance(mask, Tensor):
        if mask.dtype == "int64":
            raise TypeError(f"{op}: only bool and floating types of {name} are supported, got an int64 tensor")
        return where(mask, float("-inf"), 0.0).to(dtype) if mask.dtype == "bool" else mask
    array = np.asarray(mask)
    if array.dtype == bool:
        return _tensor(np.where(array, -np.inf, 0.0).astype(np.float32), device=device).to(dtype)
    if array.dtype.kind != "f":
        raise TypeError(f"{op}: only bool and floating types of {name} are supported, got dtype {array.dtype}")
    return _tensor(array.astype(np.float32), device=device)


def _mha_shape_check(op: str, query, key, value, key_padding_mask, attn_mask, num_heads: int) -> bool:
    """True for batched (3-D) input, False for unbatched (2-D), as torch's check; masks are given
    as anything with a ``shape`` (md tensors, NumPy arrays)."""
    q, k, v = tuple(query.shape), tuple(key.shape), tuple(value.shape)
    kpm = None if key_padding_mask is None else tuple(np.shape(key_padding_mask))
    mask = None if attn_mask is None else tuple(np.shape(attn_mask))
    if len(q) not in (2, 3):
        raise ValueError(f"{op}: query should be an unbatched 2-D or a batched 3-D tensor, got shape {q}")
    batched = len(q) == 3
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if len(k) != len(q) or len(v) != len(q):
        raise ValueError(f"{op}: for {kind} query {q}, key {k} and value {v} must be {len(q)}-D too")
    if kpm is not None and len(kpm) != len(q) - 1:
        raise ValueError(f"{op}: for {kind} query {q}, key_padding_mask must be {len(q) - 1}-D, got shape {kpm}")
    if mask is not None:
        if len(mask) not in (2, 3):
            raise ValueError(f"{op}: attn_mask must be 2-D or 3-D, got shape {mask}")
        if not batched and len(mask) == 3 and mask != (num_heads, q[0], k[0]):
            raise ValueError(
                f"{op}: for unbatched query {q} and key {k}, a 3-D attn_mask must have shape "
                f"{(num_heads, q[0], k[0])}, got {mask}"
            )
    return batched


def _in_projection(op: str, query, key, value, embed_dim, in_proj_weight, in_proj_bias, separate) -> tuple:
    """q, k, v projected to embed_dim: one matmul for self-attention, as torch's packed path."""
    E = embed_dim
    if separate is None:
        if in_proj_weight is None:
            raise ValueError(f"{op}: use_separate_proj_weight is False but in_proj_weight is None")
        if tuple(in_proj_weight.shape) != (3 * E, E):
            raise ValueError(f"{op}: in_proj_weight must have shape {(3 * E, E)}, got {tuple(in_proj_weight.shape)}")
        if tuple(key.shape) != tuple(value.shape):
            raise ValueError(f"{op}: key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")
        if key.shape[-1] != E:
            raise ValueError(f"{op}: key and value of shape {tuple(key.shape)} must have embed_dim {E} features")
        if query is key and key is value:
            return linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)
        weights = in_proj_weight.chunk(3)
        biases = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
    else:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise ValueError(
                f"{op}: key's sequence and batch dims {tuple(key.shape[:2])} do not match value's "
                f"{tuple(value.shape[:2])}"
            )
        weights = separate
        biases = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
        for name, w, x in zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), weights, (query, key, value)):
            if w is None:
                raise ValueError(f"{op}: use_separate_proj_weight is True but {name} is None")
            if tuple(w.shape) != (E, x.shape[-1]):
                raise ValueError(
                    f"{op}: {name} must have shape {(E, x.shape[-1])} for input of shape {tuple(x.shape)}, "
                    f"got {tuple(w.shape)}"
                )
    if in_proj_bias is not None and tuple(in_proj_bias.shape) != (3 * E,):
        raise ValueError(f"{op}: in_proj_bias must have shape {(3 * E,)}, got {tuple(in_proj_bias.shape)}")
    return tuple(linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))


def _unsqueeze_keeping_identity(query, key, value, dim: int) -> tuple:
    """query, key and value unsqueezed at ``dim``, each distinct tensor once, keeping ``query is
    key`` and ``key is value``: self-attention then projects with one matmul."""
    q = query.unsqueeze(dim)
    k = q if key is query else key.unsqueeze(dim)
    v = k if value is key else value.unsqueeze(dim)
    return q, k, v


def _check_static(op: str, name: str, static, rows: int, head_dim: int) -> None:
    _check_tensor(op, name, static)
    if static.ndim != 3 or static.shape[0] != rows or static.shape[2] != head_dim:
        raise ValueError(f"{op}: {name} must have shape ({rows}, S, {head_dim}), got {tuple(static.shape)}")


def multi_head_attention_forward(
    query,
    key,
    value,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight,
    in_proj_bias,
    bias_k,
    bias_v,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight,
    out_proj_bias,
    training: bool = True,
    key_padding_mask=None,
    need_weights: bool = True,
    attn_mask=None,
    use_separate_proj_weight: bool = False,
    q_proj_weight=None,
    k_proj_weight=None,
    v_proj_weight=None,
    static_k=None,
    static_v=None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
):
    """Multi-head attention of (L, N, E) query over (S, N, Ek) key and (S, N, Ev) value (or
    unbatched (L, E), (S, Ek), (S, Ev)), as torch's: returns ``(attn_output, attn_weights)``, the
    weights (N, L, S) averaged over heads, (N, num_heads, L, S) with ``average_attn_weights=False``,
    or None when ``need_weights=False``.

    ``attn_mask`` is (L, S) or (N * num_heads, L, S), ``key_padding_mask`` (N, S) (or (S,)): a
    bool mask (a bool tensor or NumPy array) is True where attention is not allowed (it becomes an
    additive mask of the query's dtype), a float mask is added to the scores; an int64 one is a
    TypeError, as in torch, and so is a float mask of another dtype than the query's when
    ``need_weights`` (torch's baddbmm takes one dtype). With ``need_weights=False``
    the attention is ``F.scaled_dot_product_attention`` (a query that may attend to nothing gets
    zeros, as torch's); with weights it is an explicit softmax (such a query gives NaN, as torch's).
    ``is_causal`` is a hint that ``attn_mask`` is the causal mask, which must be given, as in torch.
    Dropout acts on the attention weights when ``training``."""
    op = "multi_head_attention_forward"
    for name, t in (("query", query), ("key", key), ("value", value)):
        _check_tensor(op, name, t)
    batched = _mha_shape_check(op, query, key, value, key_padding_mask, attn_mask, num_heads)
    query_shape = tuple(query.shape)  # for the messages, as given
    key_padding_mask = _float_mask(op, "key_padding_mask", key_padding_mask, query.device, query.dtype)
    if not batched:
        query, key, value = _unsqueeze_keeping_identity(query, key, value, 1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    L, N, E = query.shape
    if key.shape[1] != N or value.shape[1] != N:
        raise ValueError(
            f"{op}: query {query_shape}, key {tuple(key.shape)} and value {tuple(value.shape)} must have the same "
            f"batch size (dim 1 of (L, N, E); dim 0 with batch_first)"
        )
    if is_causal and attn_mask is None:
        raise ValueError(
            f"{op}: is_causal is a hint that attn_mask is the causal mask: give attn_mask too "
            "(nn.Transformer.generate_square_subsequent_mask makes it)"
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # scaled_dot_product_attention applies the causal mask itself
    else:
        attn_mask = _float_mask(op, "attn_mask", attn_mask, query.device, query.dtype)
        if key_padding_mask is not None:
            is_causal = False  # the merged mask is not causal any more
    if E != embed_dim_to_check:
        raise ValueError(
            f"{op}: expected an embedding dimension of {embed_dim_to_check}, got query of shape {query_shape}"
        )
    if num_heads <= 0 or E % num_heads:
        raise ValueError(f"{op}: embed_dim {E} is not divisible by num_heads {num_heads}")
    head_dim = E // num_heads
    separate = (q_proj_weight, k_proj_weight, v_proj_weight) if use_separate_proj_weight else None
    q, k, v = _in_projection(op, query, key, value, E, in_proj_weight, in_proj_bias, separate)  # (L|S, N, E)
    S = k.shape[0]

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (L, S):
                raise ValueError(f"{op}: a 2-D attn_mask must have shape {(L, S)}, got {tuple(attn_mask.shape)}")
            attn_mask = attn_mask.unsqueeze(0)
        elif tuple(attn_mask.shape) != (N * num_heads, L, S):
            raise ValueError(
                f"{op}: a 3-D attn_mask must have shape {(N * num_heads, L, S)}, got {tuple(attn_mask.shape)}"
            )
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise ValueError(f"{op}: bias_k and bias_v cannot be added to static_k and static_v")
        k = cat([k, bias_k.reshape(1, 1, E).repeat(1, N, 1)], 0)  # (S + 1, N, E)
        v = cat([v, bias_v.reshape(1, 1, E).repeat(1, N, 1)], 0)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    elif (bias_k is None) != (bias_v is None):
        raise ValueError(f"{op}: give both bias_k and bias_v or neither")

    q = q.reshape(L, N * num_heads, head_dim).transpose(0, 1)  # (N * H, L, hd)
    if static_k is None:
        k = k.reshape(k.shape[0], N * num_heads, head_dim).transpose(0, 1)  # (N * H, S, hd)
    else:
        _check_static(op, "static_k", static_k, N * num_heads, head_dim)
        k = static_k
    if static_v is None:
        v = v.reshape(v.shape[0], N * num_heads, head_dim).transpose(0, 1)
    else:
        _check_static(op, "static_v", static_v, N * num_heads, head_dim)
        v = static_v
    if add_zero_attn:
        zeros = _zeros((N * num_heads, 1, head_dim), dtype=q.dtype, device=q.device)
        k, v = cat([k, zeros], 1), cat([v, zeros], 1)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    S = k.shape[1]

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (N, S):
            raise ValueError(
                f"{op}: key_padding_mask must have shape {(N, S)} (batch, source length), got "
                f"{tuple(key_padding_mask.shape)}"
            )
        # (N, S) -> (N * H, 1, S): the same padding for every head
        padding = key_padding_mask.reshape(N, 1, 1, S).expand(N, num_heads, 1, S).reshape(N * num_heads, 1, S)
        attn_mask = padding if attn_mask is None else attn_mask + padding
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
    if not training:
        dropout_p = 0.0

    if need_weights:
        if attn_mask is not None and attn_mask.dtype != q.dtype:  # as torch's (its baddbmm takes one dtype)
            raise TypeError(
                f"{op}: with need_weights=True a float attn_mask or key_padding_mask must have the query's dtype "
                f"{q.dtype}, got {attn_mask.dtype} (pass it as {q.dtype}, or as a bool mask)"
            )
        scores = matmul(q * math.sqrt(1.0 / head_dim), k.transpose(1, 2))  # (N * H, L, S)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = softmax(scores, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p, True)
        out = matmul(weights, v).transpose(0, 1).reshape(L * N, E)
        out = linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
        weights = weights.reshape(N, num_heads, L, S)
        if average_attn_weights:
            weights = weights.mean(1)
        if not batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights

    if attn_mask is not None:
        rows = attn_mask.shape[0]
        attn_mask = attn_mask.unsqueeze(0) if rows == 1 else attn_mask.reshape(N, num_heads, -1, S)
    q = q.reshape(N, num_heads, L, head_dim)
    k = k.reshape(N, num_heads, S, head_dim)
    v = v.reshape(N, num_heads, S, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)  # (N, H, L, hd)
    out = out.permute(2, 0, 1, 3).reshape(L * N, E)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
    return (out if batched else out.squeeze(1)), None
