"""Attention, PyTorch twin of `minillm.np.attention`.

Mask convention, as everywhere in minillm: bool, **True = may attend**, broadcastable to
(batch, heads, seq_q, seq_k). When the weights are not needed (training, generation) attention
runs through PyTorch's fused `F.scaled_dot_product_attention`; ask for `need_weights=True` to get
the weights for pictures (the explicit formula, the same numbers up to float rounding).
During generation a `KVCache` keeps the keys and values of the tokens already read.
Grouped-query attention (n_kv_heads < n_heads): `repeat_kv` gives each query head its group's
shared key/value head; `grouped_query_attention` lets the fused kernel read the shared heads
without copying them. `masked_heads` switches chosen heads off, for pruning (`minillm.prune`) and
ablation (`minillm.interpret`).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from minillm.checks import (
    check_cache_continues,
    check_cache_layers,
    check_kv_heads,
    check_last_dim,
    check_mask,
    check_ndim,
    check_qkv,
)
from minillm.functional import softmax
from minillm.layers import Linear
from minillm.positional import rope


def causal_mask(seq_q, seq_k=None, device=None):
    """(seq_q, seq_k) bool, True = may attend: query i sees keys 0..i + (seq_k - seq_q)."""
    seq_k = seq_q if seq_k is None else seq_k
    return torch.ones(seq_q, seq_k, dtype=torch.bool, device=device).tril(diagonal=seq_k - seq_q)


_SHARED_CAUSAL = {}          # (seq_q, seq_k, device) -> the shared mask; the newest 64 kept


def shared_causal_mask(seq_q, seq_k=None, device=None):
    """causal_mask(seq_q, seq_k, device), made once and shared: the mask a model passes to its
    layers when nothing is padded. Attention knows this very tensor without reading it (every
    key visible when seq_q = 1, exactly causal when seq_q = seq_k), where another mask costs a
    comparison per layer. Shared: never modify it in place. Made outside inference mode so that
    a mask first made in it still serves training later."""
    seq_k = seq_q if seq_k is None else seq_k
    device = torch.empty(0).device if device is None else torch.device(device)   # the default
    key = (seq_q, seq_k, device)
    if key not in _SHARED_CAUSAL:
        if len(_SHARED_CAUSAL) >= 64:
            del _SHARED_CAUSAL[next(iter(_SHARED_CAUSAL))]
        with torch.inference_mode(False):
            _SHARED_CAUSAL[key] = causal_mask(seq_q, seq_k, device)
    return _SHARED_CAUSAL[key]


def _is_shared_causal(mask):
    """True if mask is the very tensor shared_causal_mask gave for its shape and device."""
    return mask.ndim == 2 and _SHARED_CAUSAL.get((*mask.shape, mask.device)) is mask


def padding_mask(is_token):
    """(batch, 1, 1, seq_k) bool from is_token: (batch, seq_k) bool, True = a real token."""
    is_token = torch.as_tensor(is_token, dtype=torch.bool)
    check_ndim("is_token", is_token, 2)
    return is_token[:, None, None, :]


def scaled_dot_product_attention(q, k, v, mask=None, scale=None, need_weights=True):
    """softmax(q k^T * scale, masked) v.

    q: (..., seq_q, d_head), k: (..., seq_k, d_head), v: (..., seq_k, d_v).
    mask: bool broadcastable to (..., seq_q, seq_k), True = may attend.
    Returns (out (..., seq_q, d_v), weights (..., seq_q, seq_k) or None if not need_weights).
    A query whose keys are all masked gets output 0 (and weights 0), not NaN.
    """
    check_qkv(q, k, v)
    mask = _checked_mask(mask, q, k, v)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if not need_weights:
        return _fused_attention(q, k, v, mask, scale), None
    scores = q @ k.transpose(-1, -2) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


def _is_plain_causal(mask):
    """True if mask is exactly causal_mask(seq, seq): the fused kernel's is_causal path can then
    skip the masked half of the scores instead of reading a mask."""
    return (mask.ndim == 2 and mask.shape[0] == mask.shape[1]
            and torch.equal(mask, causal_mask(mask.shape[0], device=mask.device)))


def grouped_query_attention(q, k, v, mask=None):
    """scaled_dot_product_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep), mask,
    need_weights=False)'s output without making the copies: PyTorch's fused kernel reads each
    shared key/value head for its whole group of query heads (enable_gqa).

    q: (batch, heads, seq_q, d_head); k, v: (batch, kv_heads, seq_k, d_head) with heads =
    kv_heads * n_rep; mask: bool broadcastable to (batch, heads, seq_q, seq_k), True = may
    attend. Returns out: (batch, heads, seq_q, d_head)."""
    check_ndim("q", q, 4)
    check_kv_heads(q.shape[1], k.shape[1])
    check_qkv(q[:, :k.shape[1]], k, v)       # the shapes, for one query head of each group
    mask = _checked_mask(mask, q, k, v)
    return _fused_attention(q, k, v, mask, 1.0 / math.sqrt(q.shape[-1]))


def _checked_mask(mask, q, k, v):
    """mask as a tensor on q's device, once q, k and v are known to share a dtype and mask to
    fit the scores (..., seq_q, seq_k)."""
    if not q.dtype == k.dtype == v.dtype:
        raise ValueError(f"q, k and v must share one dtype, got {q.dtype}, {k.dtype} and "
                         f"{v.dtype}: convert them, e.g. k.to(q.dtype)")
    if mask is not None and not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(np.asarray(mask), device=q.device)
    check_mask(mask, (*q.shape[:-1], k.shape[-2]))
    return mask


def _fused_attention(q, k, v, mask, scale):
    """scaled_dot_product_attention's output through PyTorch's fused kernel. k and v may hold
    fewer heads than q (grouped-query attention, from grouped_query_attention)."""
    # The model's shared causal mask is known without reading it: one query row sees every
    # key; a square one is exactly causal; any other query sees key 0 at least.
    shared = mask is not None and _is_shared_causal(mask)
    if mask is not None and (mask.shape[0] == 1 if shared else mask.all()):
        # Every query may see every key (one new token read through a KV cache): the kernel
        # is several times faster without a mask to read than with one that hides nothing.
        mask, shared = None, False
    grouped = q.ndim >= 3 and q.shape[-3] != k.shape[-3]
    if mask is not None and (mask.shape[0] == mask.shape[1] if shared
                             else _is_plain_causal(mask)):
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale,
                                             enable_gqa=grouped)
        return _nan_where_explicit_is_nan(out, q, k, v)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale,
                                         enable_gqa=grouped)
    # some kernels give NaN for a query that sees no key: make it 0
    if mask is not None and not shared:
        sees_nothing = ~mask.any(dim=-1, keepdim=True)
        if sees_nothing.any():
            out = out.masked_fill(sees_nothing, 0.0)
    return _nan_where_explicit_is_nan(out, q, k, v)


def _nan_where_explicit_is_nan(out, q, k, v):
    """out with NaN wherever a nan or inf input could make the explicit path's output NaN: a
    query row holding one, and every query of a (batch, head) whose keys or values hold one (a
    few more places than the explicit path, never fewer). Some fused kernels return 0 there
    instead, which would hide a diverging run. Finite inputs give out unchanged."""
    if math.isfinite(q.sum().item() + k.sum().item() + v.sum().item()):
        return out   # a nan or inf anywhere makes its sum nan or inf: one cheap test, usually
    bad = ~torch.isfinite(q).all(dim=-1, keepdim=True)                  # (..., seq_q, 1)
    for x in (k, v):
        x_bad = ~torch.isfinite(x).flatten(-2).all(dim=-1)[..., None, None]
        if x.ndim >= 3 and x.shape[-3] != q.shape[-3]:      # grouped: one head per group
            x_bad = repeat_kv(x_bad, q.shape[-3] // x.shape[-3])
        bad = bad | x_bad
    return out.masked_fill(bad, float("nan"))


def split_heads(x, n_heads):
    """(batch, seq, d_model) -> (batch, heads, seq, d_head)."""
    batch, seq, d_model = x.shape
    return x.view(batch, seq, n_heads, d_model // n_heads).transpose(1, 2)


def merge_heads(x):
    """(batch, heads, seq, d_head) -> (batch, seq, heads * d_head)."""
    batch, heads, seq, d_head = x.shape
    return x.transpose(1, 2).reshape(batch, seq, heads * d_head)


def repeat_kv(x, n_rep):
    """(batch, kv_heads, seq, d_head) -> (batch, kv_heads * n_rep, seq, d_head): key/value head j
    serves query heads j * n_rep ... (j + 1) * n_rep - 1 (grouped-query attention; n_rep =
    n_heads // n_kv_heads). n_rep = 1 returns x itself."""
    if n_rep == 1:
        return x
    return x.repeat_interleave(n_rep, dim=1)


class KVCache:
    """The keys and values of every token a model has already read, kept for generation.

    Generating token t+1 needs the keys and values of tokens 0..t, and those of 0..t-1 were
    computed at the previous step: the cache keeps them, so each step feeds only the new token.
    keys[layer], values[layer]: (batch, kv_heads, seq_so_far, d_head), None before the first step;
    with grouped-query attention only the n_kv_heads shared heads are kept, not their copies.
    """

    def __init__(self, n_layers):
        self.keys = [None] * n_layers
        self.values = [None] * n_layers

    def seq_len(self, layer_idx=0):
        """How many positions layer_idx holds: the position of the next token fed to it."""
        keys = self.keys[layer_idx]
        return 0 if keys is None else keys.shape[-2]

    def check_fits(self, n_layers):
        """A model with n_layers layers may use this cache: it must hold at least as many."""
        check_cache_layers(len(self.keys), n_layers)

    def for_batch(self, batch):
        """A new cache in which each of `batch` sequences continues this cache's one sequence:
        prompt caching. Read a shared prefix (a few-shot prompt) once, then score many
        continuations of it in one batch. The prefix's keys and values are shared, not copied;
        appending to the new cache leaves this one as it was. This cache must hold batch 1."""
        if self.keys[0] is None or self.keys[0].shape[0] != 1:
            raise ValueError("for_batch needs a cache that has read one sequence (batch 1), got "
                             + ("an empty cache" if self.keys[0] is None
                                else f"batch {self.keys[0].shape[0]}"))
        shared = type(self)(len(self.keys))
        for name in ("keys", "values"):
            setattr(shared, name, [None if k is None else k.expand(batch, *k.shape[1:])
                                   for k in getattr(self, name)])
        return shared

    def append(self, layer_idx, k, v):
        """Add the new tokens' k, v: (batch, kv_heads, seq_new, d_head); return all keys and
        values, (batch, kv_heads, seq_so_far + seq_new, d_head) each."""
        check_cache_layers(len(self.keys), layer_idx + 1)
        if self.keys[layer_idx] is not None:
            check_cache_continues(self.keys[layer_idx], k)
            k = torch.cat([self.keys[layer_idx], k], dim=-2)
            v = torch.cat([self.values[layer_idx], v], dim=-2)
        self.keys[layer_idx], self.values[layer_idx] = k, v
        return k, v


class MultiHeadAttention(nn.Module):
    """Project, split into heads, attend, merge, project back.

    q_proj, out_proj: Linear(d_model, d_model); k_proj, v_proj: Linear(d_model, n_kv_heads *
    d_head). rope_base: if given, rotate q and k by position (rotary embeddings) before the
    scores. n_kv_heads: key/value heads (grouped-query attention), None = n_heads; query head h
    reads key/value head h // (n_heads // n_kv_heads).
    """

    def __init__(self, d_model, n_heads, bias=True, rope_base=None, n_kv_heads=None):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        check_kv_heads(n_heads, n_kv_heads)
        self.n_heads, self.n_kv_heads, self.rope_base = n_heads, n_kv_heads, rope_base
        d_kv = n_kv_heads * (d_model // n_heads)
        self.q_proj = Linear(d_model, d_model, bias=bias)
        self.k_proj = Linear(d_model, d_kv, bias=bias)
        self.v_proj = Linear(d_model, d_kv, bias=bias)
        self.out_proj = Linear(d_model, d_model, bias=bias)

    def forward(self, x_q, x_kv=None, mask=None, need_weights=False, cache=None, layer_idx=0):
        """x_q: (batch, seq_q, d_model) queries' inputs; x_kv: (batch, seq_k, d_model) keys' and
        values' inputs, None = x_q (self-attention); mask: bool broadcastable to
        (batch, heads, seq_q, seq_k), True = may attend.
        cache: a KVCache (self-attention only). The new k, v are appended to those cached for
        layer_idx and the queries attend over all of them, so seq_k = cached + seq_q (the mask
        must cover them all: `causal_mask(seq_q, seq_k)`); rotary positions continue after the
        cached ones. The cache holds the n_kv_heads shared heads.
        Returns (out (batch, seq_q, d_model), weights (batch, heads, seq_q, seq_k) or None)."""
        if cache is not None and x_kv is not None:
            raise ValueError("a KV cache holds self-attention keys; cross-attention (x_kv given) "
                             "takes its keys from x_kv")
        x_kv = x_q if x_kv is None else x_kv
        check_ndim("x_q", x_q, 3)
        check_ndim("x_kv", x_kv, 3)
        check_last_dim("x_q", x_q, self.q_proj.in_features, "d_model")
        check_last_dim("x_kv", x_kv, self.k_proj.in_features, "d_model")
        if x_q.shape[0] != x_kv.shape[0]:
            raise ValueError(f"x_q has batch {x_q.shape[0]} but x_kv has batch {x_kv.shape[0]}")
        q = split_heads(self.q_proj(x_q), self.n_heads)
        k = split_heads(self.k_proj(x_kv), self.n_kv_heads)
        v = split_heads(self.v_proj(x_kv), self.n_kv_heads)
        offset = 0 if cache is None else cache.seq_len(layer_idx)
        if self.rope_base is not None:
            q, k = rope(q, self.rope_base, offset), rope(k, self.rope_base, offset)
        if cache is not None:
            k, v = cache.append(layer_idx, k, v)
        if need_weights:     # the explicit formula: one key/value head per query head
            group = self.n_heads // self.n_kv_heads
            heads, weights = scaled_dot_product_attention(
                q, repeat_kv(k, group), repeat_kv(v, group), mask, need_weights=True)
        else:
            heads, weights = grouped_query_attention(q, k, v, mask), None
        return self.out_proj(merge_heads(heads)), weights


# ---- switching heads off (pruning, ablation) --------------------------------------------
def attention_layers(model):
    """The model's MultiHeadAttention modules, in order (one per layer of a DecoderLM)."""
    return [m for m in model.modules() if isinstance(m, MultiHeadAttention)]


@contextmanager
def masked_heads(model, heads):
    """Run model with some attention heads switched off.

    heads: iterable of (layer, head) pairs, indices into attention_layers(model). A forward
    pre-hook on that layer's out_proj zeroes columns head*d_head:(head+1)*d_head of its input
    (batch, seq, heads * d_head), which is where merge_heads put that head's output.
    """
    layers = attention_layers(model)
    keep = {}
    for layer, head in heads:
        if not (0 <= layer < len(layers) and 0 <= head < layers[layer].n_heads):
            raise ValueError(f"no head ({layer}, {head}): (layer, head) is outside the model's "
                             f"{len(layers)} attention layers x {layers[0].n_heads} heads")
        attn = layers[layer]
        d_head = attn.out_proj.in_features // attn.n_heads
        mask = keep.setdefault(layer, torch.ones(attn.out_proj.in_features))
        mask[head * d_head:(head + 1) * d_head] = 0
    handles = [layers[layer].out_proj.register_forward_pre_hook(_times(mask))
               for layer, mask in keep.items()]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def _times(mask):
    def hook(module, inputs):
        return (inputs[0] * mask.to(inputs[0].device, inputs[0].dtype),)
    return hook
