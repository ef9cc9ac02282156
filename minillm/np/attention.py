"""Attention: masks, scaled dot-product attention and multi-head attention (NumPy reference).

Mask convention, everywhere in minillm: a boolean array, **True = may attend**, broadcastable to
the scores' shape (batch, heads, seq_q, seq_k). (That is PyTorch's `F.scaled_dot_product_attention`
convention; `nn.MultiheadAttention` uses the opposite one.)
During generation a `KVCache` keeps the keys and values of the tokens already read.
Grouped-query attention (n_kv_heads < n_heads) gives several query heads one shared key/value
head: `repeat_kv` copies each key/value head to its group before the scores, and its backward
sums the group's gradients back into the shared head.
"""
from __future__ import annotations

import numpy as np

from minillm.checks import (
    check_cache_continues,
    check_cache_layers,
    check_kv_heads,
    check_last_dim,
    check_mask,
    check_ndim,
    check_qkv,
)
from minillm.np.functional import softmax, softmax_backward
from minillm.np.layers import linear, linear_backward, prefixed, subparams
from minillm.np.positional import rope, rope_backward


def causal_mask(seq_q, seq_k=None):
    """(seq_q, seq_k) bool, True = may attend: query i sees keys 0..i (and nothing after).

    When seq_k > seq_q (new queries appended to cached keys), the queries are the *last*
    seq_q positions, so query i sees keys 0..i + (seq_k - seq_q).
    """
    seq_k = seq_q if seq_k is None else seq_k
    return np.tril(np.ones((seq_q, seq_k), dtype=bool), k=seq_k - seq_q)


def padding_mask(is_token):
    """(batch, 1, 1, seq_k) bool from is_token: (batch, seq_k) bool, True = a real token.

    Padding keys are hidden from every query of every head.
    """
    is_token = np.asarray(is_token, dtype=bool)
    check_ndim("is_token", is_token, 2)
    return is_token[:, None, None, :]


def scaled_dot_product_attention(q, k, v, mask=None, scale=None):
    """softmax(q k^T * scale, masked) v.

    q: (..., seq_q, d_head), k: (..., seq_k, d_head), v: (..., seq_k, d_v).
    mask: bool broadcastable to (..., seq_q, seq_k), True = may attend. None = attend to all.
    scale: defaults to 1 / sqrt(d_head).
    Returns (out, weights): out (..., seq_q, d_v); weights (..., seq_q, seq_k), rows sum to 1
    (a query whose keys are all masked gets weights 0 and output 0, not NaN).
    """
    check_qkv(q, k, v)
    scores = q @ np.swapaxes(k, -1, -2) * _scale(q, scale)
    check_mask(mask, scores.shape)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


def scaled_dot_product_attention_backward(dout, q, k, v, mask=None, scale=None):
    """Gradients (dq, dk, dv) of out = W v, W = softmax(S), S = q k^T * scale (masked).

    dout: (..., seq_q, d_v), dL/dout; q, k, v, mask, scale as in scaled_dot_product_attention.
        dv = W^T dout                                  (..., seq_k, d_v)
        dW = dout v^T,  dS = W * (dW - sum_keys(dW * W))   (softmax_backward; masked: W = 0)
        dq = dS k * scale                              (..., seq_q, d_head)
        dk = dS^T q * scale                            (..., seq_k, d_head)
    """
    _, weights = scaled_dot_product_attention(q, k, v, mask, scale)
    dv = np.swapaxes(weights, -1, -2) @ dout
    dweights = dout @ np.swapaxes(v, -1, -2)
    dscores = softmax_backward(dweights, weights) * _scale(q, scale)   # masked entries: weight 0
    return dscores @ k, np.swapaxes(dscores, -1, -2) @ q, dv


def split_heads(x, n_heads):
    """(batch, seq, d_model) -> (batch, heads, seq, d_head)."""
    batch, seq, d_model = x.shape
    return x.reshape(batch, seq, n_heads, d_model // n_heads).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(batch, heads, seq, d_head) -> (batch, seq, heads * d_head)."""
    batch, heads, seq, d_head = x.shape
    return x.transpose(0, 2, 1, 3).reshape(batch, seq, heads * d_head)


def repeat_kv(x, n_rep):
    """(batch, kv_heads, seq, d_head) -> (batch, kv_heads * n_rep, seq, d_head): key/value head j
    serves query heads j * n_rep ... (j + 1) * n_rep - 1 (grouped-query attention; n_rep =
    n_heads // n_kv_heads). n_rep = 1 returns x itself."""
    if n_rep == 1:
        return x
    return np.repeat(x, n_rep, axis=1)


def repeat_kv_backward(dx, n_rep):
    """Gradient of repeat_kv: (batch, kv_heads * n_rep, seq, d_head) -> (batch, kv_heads, seq,
    d_head). A shared head was used by every query head of its group, so it receives the sum of
    their gradients."""
    if n_rep == 1:
        return dx
    batch, heads, seq, d_head = dx.shape
    return dx.reshape(batch, heads // n_rep, n_rep, seq, d_head).sum(axis=2)


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
            setattr(shared, name, [None if k is None else np.broadcast_to(k, (batch, *k.shape[1:]))
                                   for k in getattr(self, name)])
        return shared

    def append(self, layer_idx, k, v):
        """Add the new tokens' k, v: (batch, kv_heads, seq_new, d_head); return all keys and
        values, (batch, kv_heads, seq_so_far + seq_new, d_head) each."""
        check_cache_layers(len(self.keys), layer_idx + 1)
        if self.keys[layer_idx] is not None:
            check_cache_continues(self.keys[layer_idx], k)
            k = np.concatenate([self.keys[layer_idx], k], axis=-2)
            v = np.concatenate([self.values[layer_idx], v], axis=-2)
        self.keys[layer_idx], self.values[layer_idx] = k, v
        return k, v


def multi_head_attention(params, x_q, x_kv=None, mask=None, n_heads=1, rope_base=None,
                         cache=None, layer_idx=0, n_kv_heads=None):
    """Project, split into heads, attend, merge, project back.

    params: {"q_proj.weight", "k_proj.weight", "v_proj.weight", "out_proj.weight"} in the
            (out, in) layout of nn.Linear: q_proj and out_proj (d_model, d_model), k_proj and
            v_proj (n_kv_heads * d_head, d_model); plus ".bias" (out,) if any.
    x_q:  (batch, seq_q, d_model) the queries' inputs.
    x_kv: (batch, seq_k, d_model) the keys' and values' inputs; None = x_q (self-attention),
          otherwise cross-attention (e.g. decoder queries over encoder outputs).
    mask: bool broadcastable to (batch, n_heads, seq_q, seq_k), True = may attend.
    rope_base: if given, rotate q and k by their positions (rotary embeddings) before the scores.
    cache: a KVCache (self-attention only). The new k, v are appended to those cached for
          layer_idx and the queries attend over all of them, so seq_k = cached + seq_q (the mask
          must cover them all: `causal_mask(seq_q, seq_k)`); rotary positions continue after the
          cached ones. The cache holds the n_kv_heads shared heads.
    n_kv_heads: key/value heads (grouped-query attention); None = n_heads. Query head h reads
          key/value head h // (n_heads // n_kv_heads).
    Returns (out, weights): out (batch, seq_q, d_model); weights (batch, n_heads, seq_q, seq_k).
    """
    if cache is not None and x_kv is not None:
        raise ValueError("a KV cache holds self-attention keys; cross-attention (x_kv given) "
                         "takes its keys from x_kv")
    n_kv_heads = _kv_heads(n_heads, n_kv_heads)
    offset = 0 if cache is None else cache.seq_len(layer_idx)
    q, k, v = _project_qkv(params, x_q, x_kv, n_heads, rope_base, offset, n_kv_heads)
    if cache is not None:
        k, v = cache.append(layer_idx, k, v)
    group = n_heads // n_kv_heads
    heads, weights = scaled_dot_product_attention(q, repeat_kv(k, group), repeat_kv(v, group),
                                                  mask)
    out = linear(subparams(params, "out_proj"), merge_heads(heads))
    return out, weights


def multi_head_attention_backward(dout, params, x_q, x_kv=None, mask=None, n_heads=1,
                                  rope_base=None, n_kv_heads=None):
    """Backward of multi_head_attention (without a cache).  dout: (batch, seq_q, d_model).

    The chain rule, last step first: out_proj (linear_backward); per head, attention
    (scaled_dot_product_attention_backward); each shared key/value head sums the gradients of
    the query heads of its group (repeat_kv_backward); RoPE rotates back (rope_backward); then
    the three projections: dx_q = dq W_q, dx_kv = dk W_k + dv W_v.
    Returns (dx_q (batch, seq_q, d_model), dx_kv (batch, seq_k, d_model), grads): for
    self-attention x feeds q, k and v, so dx_q holds dq W_q + dk W_k + dv W_v and dx_kv is None.
    grads has the same keys as params.
    """
    self_attention = x_kv is None
    x_kv = x_q if self_attention else x_kv
    n_kv_heads = _kv_heads(n_heads, n_kv_heads)
    group = n_heads // n_kv_heads
    q, k, v = _project_qkv(params, x_q, x_kv, n_heads, rope_base, 0, n_kv_heads)
    k, v = repeat_kv(k, group), repeat_kv(v, group)
    heads, _ = scaled_dot_product_attention(q, k, v, mask)

    grads = {}
    dmerged, g = linear_backward(dout, subparams(params, "out_proj"), merge_heads(heads))
    grads.update(prefixed(g, "out_proj"))
    dq, dk, dv = scaled_dot_product_attention_backward(split_heads(dmerged, n_heads), q, k, v, mask)
    dk, dv = repeat_kv_backward(dk, group), repeat_kv_backward(dv, group)
    if rope_base is not None:
        dq, dk = rope_backward(dq, rope_base), rope_backward(dk, rope_base)
    dx_q, g = linear_backward(merge_heads(dq), subparams(params, "q_proj"), x_q)
    grads.update(prefixed(g, "q_proj"))
    dx_k, g = linear_backward(merge_heads(dk), subparams(params, "k_proj"), x_kv)
    grads.update(prefixed(g, "k_proj"))
    dx_v, g = linear_backward(merge_heads(dv), subparams(params, "v_proj"), x_kv)
    grads.update(prefixed(g, "v_proj"))
    dx_kv = dx_k + dx_v
    if self_attention:
        return dx_q + dx_kv, None, grads
    return dx_q, dx_kv, grads


def _kv_heads(n_heads, n_kv_heads):
    """n_kv_heads, or n_heads when None, once it is known to divide n_heads."""
    if n_kv_heads is None:
        return n_heads
    check_kv_heads(n_heads, n_kv_heads)
    return n_kv_heads


def _project_qkv(params, x_q, x_kv, n_heads, rope_base, offset, n_kv_heads):
    """q: (batch, n_heads, seq_q, d_head); k, v: (batch, n_kv_heads, seq_k, d_head), rotated."""
    x_kv = x_q if x_kv is None else x_kv
    check_ndim("x_q", x_q, 3)
    check_ndim("x_kv", x_kv, 3)
    d_model = params["q_proj.weight"].shape[1]
    check_last_dim("x_q", x_q, d_model, "d_model")
    check_last_dim("x_kv", x_kv, d_model, "d_model")
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    if x_q.shape[0] != x_kv.shape[0]:
        raise ValueError(f"x_q has batch {x_q.shape[0]} but x_kv has batch {x_kv.shape[0]}")
    d_head, d_kv = d_model // n_heads, params["k_proj.weight"].shape[0]
    if d_kv != n_kv_heads * d_head:
        raise ValueError(f"k_proj.weight has {d_kv} output rows, but n_kv_heads={n_kv_heads} "
                         f"heads of d_head={d_head} need {n_kv_heads * d_head}: "
                         f"with grouped-query attention pass n_kv_heads={d_kv // d_head}")
    q = split_heads(linear(subparams(params, "q_proj"), x_q), n_heads)
    k = split_heads(linear(subparams(params, "k_proj"), x_kv), n_kv_heads)
    v = split_heads(linear(subparams(params, "v_proj"), x_kv), n_kv_heads)
    if rope_base is not None:
        q, k = rope(q, rope_base, offset), rope(k, rope_base, offset)
    return q, k, v


def _scale(q, scale):
    return 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
