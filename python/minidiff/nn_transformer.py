"""torch.nn's attention and transformer modules, in Python on the ops: ``RMSNorm``,
``MultiheadAttention``, ``TransformerEncoderLayer`` / ``TransformerEncoder``,
``TransformerDecoderLayer`` / ``TransformerDecoder`` and ``Transformer``. Parameter names, shapes
and initialisation are torch's, so ``load_state_dict`` of a torch module's weights gives the same
outputs.

Masks follow ``F.multi_head_attention_forward``: a boolean mask (a bool tensor or NumPy array) is
True where attention is not allowed, a float mask is added to the scores. torch's inference fast paths
(nested tensors, fused encoder layers) are not used: every call runs the ops below, which give
torch's slow-path results (torch's nested fast path zeroes padded positions; here they are
computed as usual).
"""

from __future__ import annotations

import copy
import math

import numpy as np

from . import _core, init
from . import functional as F
from . import functional_attention as _attn
from .nn import GELU, Dropout, LayerNorm, Linear, Module, ModuleList, Parameter, ReLU

__all__ = [
    "MultiheadAttention",
    "RMSNorm",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
]


# ---- RMS norm


class RMSNorm(Module):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the last ``len(normalized_shape)`` dims, as
    torch's (see ``F.rms_norm``); ``eps=None`` is float32's machine epsilon. ``weight`` starts
    at ones."""

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True):
        super().__init__()
        self.normalized_shape = _attn._normalized_shape("RMSNorm", normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(_core.ones(*self.normalized_shape)) if elementwise_affine else None

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input):  # noqa: A002 (torch's argument name)
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


# ---- multi-head attention


class NonDynamicallyQuantizableLinear(Linear):
    """torch's name for MultiheadAttention's ``out_proj``: a Linear (so the repr matches torch's)."""

    __slots__ = ()  # a native layer's subclass: copy.deepcopy needs its instance layout unchanged


class MultiheadAttention(Module):
    """Multi-head attention, as torch's: ``forward(query, key, value)`` returns ``(attn_output,
    attn_weights)`` (see ``F.multi_head_attention_forward`` for shapes and masks).

    Parameters under torch's names and initialisation: ``in_proj_weight`` (3E, E) (xavier
    uniform), or ``q_proj_weight``, ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) when
    kdim or vdim differ from E; ``in_proj_bias`` (3E,) and ``out_proj.bias`` zeros; ``bias_k`` and
    ``bias_v`` (1, 1, E) (xavier normal) with ``add_bias_kv``. ``dropout`` acts on the attention
    weights while training, drawn from minidiff's generator. With ``batch_first`` batched inputs
    and outputs are (N, L, E); unbatched ones are (L, E) either way."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
    ):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"MultiheadAttention: embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} "
                f"and num_heads={num_heads}"
            )
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(_core.empty(3 * embed_dim, embed_dim))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.q_proj_weight = Parameter(_core.empty(embed_dim, embed_dim))
            self.k_proj_weight = Parameter(_core.empty(embed_dim, self.kdim))
            self.v_proj_weight = Parameter(_core.empty(embed_dim, self.vdim))
            self.in_proj_weight = None
        self.in_proj_bias = Parameter(_core.empty(3 * embed_dim)) if bias else None
        if add_bias_kv:
            self.bias_k = Parameter(_core.empty(1, 1, embed_dim))
            self.bias_v = Parameter(_core.empty(1, 1, embed_dim))
        else:
            self.bias_k = self.bias_v = None
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias)
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights: bool = True,
        attn_mask=None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        op = "MultiheadAttention"
        for name, t in (("query", query), ("key", key), ("value", value)):
            _attn._check_tensor(op, name, t)
        # every check before the transposes, so the errors name the module and the shapes as given
        batched = _attn._mha_shape_check(op, query, key, value, key_padding_mask, attn_mask, self.num_heads)
        self._check_shapes(query, key, value, batched)
        if self.batch_first and batched:
            # (N, L, E) -> (L, N, E), once per distinct tensor: self-attention stays one matmul
            query, key, value = _transpose_keeping_identity(query, key, value)
        out, weights = F.multi_head_attention_forward(
            query,
            key,
            value,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            self.bias_k,
            self.bias_v,
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
        )
        if self.batch_first and batched:
            out = out.transpose(1, 0)
        return out, weights

    def _check_shapes(self, query, key, value, batched: bool) -> None:
        """The feature sizes (embed_dim, kdim, vdim), and for batch_first batched input one batch
        size and one source length for key and value, named in the (N, L, E) layout the caller
        used (F.multi_head_attention_forward checks them too, but after the transposes)."""
        op = "MultiheadAttention"
        shapes = {"query": tuple(query.shape), "key": tuple(key.shape), "value": tuple(value.shape)}
        for name, dim in (("query", self.embed_dim), ("key", self.kdim), ("value", self.vdim)):
            if shapes[name][-1] != dim:
                raise ValueError(f"{op}: expected {name} with {dim} features (the last dim), got shape {shapes[name]}")
        if not (self.batch_first and batched):
            return
        if len({shape[0] for shape in shapes.values()}) != 1:
            raise ValueError(
                f"{op}: query {shapes['query']}, key {shapes['key']} and value {shapes['value']} must have the "
                "same batch size (dim 0 of (N, L, E) with batch_first)"
            )
        if shapes["key"][1] != shapes["value"][1]:
            raise ValueError(
                f"{op}: key {shapes['key']} and value {shapes['value']} must have the same source length "
                "(dim 1 of (N, S, E) with batch_first)"
            )


def _transpose_keeping_identity(query, key, value) -> tuple:
    q = query.transpose(1, 0)
    k = q if key is query else key.transpose(1, 0)
    v = k if value is key else value.transpose(1, 0)
    return q, k, v


# ---- transformer layers


def _activation(owner: str, activation):
    """torch's choice: "relu" and "gelu" name F.relu and F.gelu; anything else must be callable
    (a function or a module, e.g. ``md.nn.GELU(approximate="tanh")``)."""
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu
        if activation == "gelu":
            return F.gelu
        raise ValueError(f"{owner}: activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise TypeError(f"{owner}: activation must be 'relu', 'gelu' or a callable, got {type(activation).__name__}")
    return activation


def _layer_norm(d_model: int, eps: float, bias: bool) -> LayerNorm:
    return LayerNorm(d_model, eps=eps, bias=bias)


def _check_d_model(owner: str, name: str, x, d_model: int) -> None:
    _attn._check_tensor(owner, name, x)
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        raise ValueError(
            f"{owner}: expected {name} of shape (S, {d_model}) or 3-D with {d_model} features (d_model) last, "
            f"got {tuple(x.shape)}"
        )


class _TransformerLayer(Module):
    """TransformerEncoderLayer's and TransformerDecoderLayer's constructor (torch's signature, the
    same for both) and self-attention block. The decoder adds ``multihead_attn`` (attention over
    the encoder's memory) and a third norm and dropout; torch's order of the submodules, so the
    state dict and repr are torch's."""

    _cross_attention = False

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation="relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
    ):
        super().__init__()
        cross = self._cross_attention
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first)
        if cross:
            self.multihead_attn = MultiheadAttention(
                d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first
            )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)
        self.norm_first = norm_first
        self.norm1 = _layer_norm(d_model, layer_norm_eps, bias)
        self.norm2 = _layer_norm(d_model, layer_norm_eps, bias)
        if cross:
            self.norm3 = _layer_norm(d_model, layer_norm_eps, bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if cross:
            self.dropout3 = Dropout(dropout)
        activation = _activation(type(self).__name__, activation)
        if not cross:  # torch's encoder layer keeps this flag (for its fused fast path); its decoder does not
            if activation is F.relu or isinstance(activation, ReLU):
                self.activation_relu_or_gelu = 1
            elif activation is F.gelu or isinstance(activation, GELU):
                self.activation_relu_or_gelu = 2
            else:
                self.activation_relu_or_gelu = 0
        self.activation = activation

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal: bool):
        x = self.self_attn(
            x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False, is_causal=is_causal
        )[0]
        return self.dropout1(x)


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention then a feed-forward block, each with a residual connection and a LayerNorm,
    as torch's (post-norm, or pre-norm with ``norm_first``): submodules ``self_attn``,
    ``linear1``, ``dropout``, ``linear2``, ``norm1``, ``norm2``, ``dropout1``, ``dropout2``.
    ``activation`` is "relu", "gelu" or a callable; ``bias=False`` drops the biases of the
    linear layers, the attention and the norms."""

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        _check_d_model("TransformerEncoderLayer", "src", src, self.self_attn.embed_dim)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, attention over the encoder's ``memory``, then a feed-forward block, each
    with a residual connection and a LayerNorm, as torch's: submodules ``self_attn``,
    ``multihead_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1`` to ``norm3`` and
    ``dropout1`` to ``dropout3``."""

    _cross_attention = True

    def forward(
        self,
        tgt,
        memory,
        tgt_mask=None,
        memory_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ):
        d_model = self.self_attn.embed_dim
        _check_d_model("TransformerDecoderLayer", "tgt", tgt, d_model)
        _check_d_model("TransformerDecoderLayer", "memory", memory, d_model)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal: bool):
        x = self.multihead_attn(
            x,
            mem,
            mem,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
        )[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _clones(owner: str, layer: Module, num_layers: int) -> ModuleList:
    """``num_layers`` independent deep copies of ``layer``, as torch's (children "0", "1", ...)."""
    if not isinstance(layer, Module):
        raise TypeError(f"{owner}: the layer must be a Module, got {type(layer).__name__}")
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 0:
        raise ValueError(f"{owner}: num_layers must be a non-negative int, got {num_layers!r}")
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...) applied in
    order, then ``norm`` if given, as torch's. ``enable_nested_tensor`` and ``mask_check`` are
    kept for torch's signature; nested tensors are never used here. ``is_causal=None`` is taken
    as False (torch would detect a causal ``mask``; the result is the same)."""

    def __init__(
        self,
        encoder_layer: Module,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ):
        super().__init__()
        self.layers = _clones("TransformerEncoder", encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool | None = None):
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, is_causal=bool(is_causal), src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` (``layers.0``, ...) applied in order, each
    attending to ``memory``, then ``norm`` if given, as torch's. ``tgt_is_causal=None`` is taken
    as False (the result is the same as torch's detection of a causal ``tgt_mask``)."""

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = _clones("TransformerDecoder", decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        tgt,
        memory,
        tgt_mask=None,
        memory_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ):
        output = tgt
        for layer in self.layers:
            output = layer(
                output,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=bool(tgt_is_causal),
                memory_is_causal=memory_is_causal,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """torch's encoder-decoder Transformer: an ``encoder`` (TransformerEncoder of
    ``num_encoder_layers`` layers and a final LayerNorm) and a ``decoder`` (likewise), or
    ``custom_encoder`` / ``custom_decoder``. Every parameter of two or more dims is redrawn
    xavier uniform, as torch's."""

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation="relu",
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
    ):
        super().__init__()
        layer_args = (
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
        )
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(*layer_args)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, _layer_norm(d_model, layer_norm_eps, bias))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(*layer_args)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, _layer_norm(d_model, layer_norm_eps, bias))
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(
        self,
        src,
        tgt,
        src_mask=None,
        tgt_mask=None,
        memory_mask=None,
        src_key_padding_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ):
        batched = src.ndim == 3
        batch_dim = 0 if self.batch_first else 1
        if batched and (tgt.ndim != 3 or src.shape[batch_dim] != tgt.shape[batch_dim]):
            raise ValueError(
                f"Transformer: the batch sizes of src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must be equal "
                f"(batch_first={self.batch_first})"
            )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(
                f"Transformer: the feature sizes of src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must equal "
                f"d_model={self.d_model}"
            )
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None):
        """(sz, sz) float mask: -inf above the diagonal, 0 elsewhere (position i attends to 0..i).
        With ``dtype="bool"`` (``md.bool``) it is True above the diagonal (not allowed), as torch's;
        ``dtype="bfloat16"`` or ``"float16"`` gives the float mask in that dtype."""
        if dtype == "bool":  # torch's full(-inf) of bools is True, then the same triu
            mask = np.triu(np.ones((sz, sz), dtype=bool), 1)
            return _core.tensor(mask) if device is None else _core.tensor(mask, device=device)
        if dtype not in (None, "float32", "float", "bfloat16", "float16", "half"):
            raise TypeError(
                "generate_square_subsequent_mask: only float32, bfloat16, float16 and bool masks are made here, "
                f"got dtype {dtype!r}"
            )
        mask = np.triu(np.full((sz, sz), -math.inf, dtype=np.float32), 1)
        mask = _core.tensor(mask) if device is None else _core.tensor(mask, device=device)
        return mask.to(dtype) if dtype in ("bfloat16", "float16", "half") else mask  # a 16-bit model's, as torch's
