"""Transformer layers and whole models, NumPy reference: residual sub-layers, the encoder layer,
the decoder layer with cross-attention, a BERT-style encoder, a decoder-only language model and
the encoder-decoder Transformer.

Hyper-parameters come from one `TransformerConfig`; parameters are a flat dict whose keys are the
PyTorch twin's `state_dict()` keys ("layers.0.self_attn.q_proj.weight", ...).
"""
from __future__ import annotations

import numpy as np

from minillm.checks import check_is_token, check_ndim, check_seq_len, check_token_ids
from minillm.np.attention import (
    causal_mask,
    multi_head_attention,
    multi_head_attention_backward,
    padding_mask,
)
from minillm.np.layers import (
    embedding,
    embedding_backward,
    feed_forward,
    feed_forward_backward,
    linear,
    linear_backward,
    norm,
    norm_backward,
    prefixed,
    subparams,
)
from minillm.np.positional import (
    learned_positions,
    learned_positions_backward,
    sinusoidal_encoding,
)

# ---- residual sub-layers ---------------------------------------------------------------------


def residual(sublayer, norm_params, x, cfg):
    """Wrap a sub-layer with a residual connection and a norm, in either arrangement.

    cfg.norm_first=False (post-LN, the original Transformer): y = Norm(x + Sublayer(x)).
    cfg.norm_first=True  (pre-LN, GPT-2 and most LLMs since):  y = x + Sublayer(Norm(x)).
    sublayer: h (batch, seq, d_model) -> (out (batch, seq, d_model), aux); aux is passed through
    (attention weights, for instance). Returns (y, aux).
    """
    if cfg.norm_first:
        out, aux = sublayer(norm(norm_params, x, cfg.norm, cfg.norm_eps))
        return x + out, aux
    out, aux = sublayer(x)
    return norm(norm_params, x + out, cfg.norm, cfg.norm_eps), aux


def residual_backward(dy, sublayer, sublayer_backward, norm_params, x, cfg):
    """Backward of residual.  dy, x: (batch, seq, d_model).

    pre-LN,  y = x + S(N(x)):  dx = dy + N'(S'(dy))    (the residual path passes dy straight on)
    post-LN, y = N(x + S(x)):  ds = N'(dy) at x + S(x), then dx = ds + S'(ds)
    where S' is sublayer_backward: (dout, h) -> (dh, grads), and N' is norm_backward.
    Returns (dx, sublayer_grads, norm_grads). A sub-layer with a second input (cross-attention
    reads the memory) returns (dh, dmemory, grads); that dmemory is passed on:
    (dx, dmemory, sublayer_grads, norm_grads).
    """
    if cfg.norm_first:
        h = norm(norm_params, x, cfg.norm, cfg.norm_eps)
        dh, *passed_on = sublayer_backward(dy, h)          # passed_on: [grads] or [dmemory, grads]
        dx_norm, norm_grads = norm_backward(dh, norm_params, x, cfg.norm, cfg.norm_eps)
        return dy + dx_norm, *passed_on, norm_grads
    out, _ = sublayer(x)
    ds, norm_grads = norm_backward(dy, norm_params, x + out, cfg.norm, cfg.norm_eps)
    dx_sub, *passed_on = sublayer_backward(ds, x)
    return ds + dx_sub, *passed_on, norm_grads


# ---- layers ----------------------------------------------------------------------------------


def encoder_layer(params, x, cfg, mask=None, cache=None, layer_idx=0):
    """Self-attention then feed-forward, each inside `residual`.

    params keys: self_attn.*, norm1.*, ff.*, norm2.*.  x: (batch, seq, d_model).
    mask: bool broadcastable to (batch, heads, seq, seq), True = may attend. A GPT block is this
    layer with a causal mask. cache: a KVCache whose slot layer_idx holds this layer's keys and
    values of earlier tokens (see multi_head_attention).
    Returns (y (batch, seq, d_model), weights (batch, heads, seq, seq_k)).
    """
    attend = _self_attention(params, cfg, mask, cache, layer_idx)
    x, weights = residual(attend, subparams(params, "norm1"), x, cfg)
    y, _ = residual(_feed_forward(params, cfg), subparams(params, "norm2"), x, cfg)
    return y, weights


def encoder_layer_backward(dy, params, x, cfg, mask=None):
    """Backward of encoder_layer (without a cache).  dy, x: (batch, seq, d_model).

    The two sub-layers in reverse, each through residual_backward: the feed-forward
    (feed_forward_backward), then the self-attention (multi_head_attention_backward).
    Returns (dx (batch, seq, d_model), grads); grads has the keys of params.
    """
    attend = _self_attention(params, cfg, mask)
    attend_backward = _self_attention_backward(params, cfg, mask)
    h, _ = residual(attend, subparams(params, "norm1"), x, cfg)
    dh, g_ff, g_norm2 = residual_backward(dy, _feed_forward(params, cfg),
                                          _feed_forward_backward(params, cfg),
                                          subparams(params, "norm2"), h, cfg)
    dx, g_attn, g_norm1 = residual_backward(dh, attend, attend_backward,
                                            subparams(params, "norm1"), x, cfg)
    return dx, {**prefixed(g_attn, "self_attn"), **prefixed(g_norm1, "norm1"),
                **prefixed(g_ff, "ff"), **prefixed(g_norm2, "norm2")}


def decoder_layer(params, x, memory, cfg, self_mask=None, memory_mask=None, cache=None,
                  layer_idx=0):
    """Masked self-attention, cross-attention over the encoder's output, feed-forward.

    params keys: self_attn.*, norm1.*, cross_attn.*, norm2.*, ff.*, norm3.*.
    x: (batch, seq_q, d_model) decoder states; memory: (batch, seq_k, d_model) encoder outputs.
    self_mask: bool (batch, heads, seq_q, seq_q)-broadcastable, True = may attend (pass a causal
    mask); memory_mask: bool (batch, heads, seq_q, seq_k)-broadcastable (padding of the source).
    cache: a KVCache for the masked self-attention only (the memory does not grow).
    Returns (y, self_weights (batch, heads, seq_q, seq_q),
             cross_weights (batch, heads, seq_q, seq_k)).
    """
    x, self_weights = residual(_self_attention(params, cfg, self_mask, cache, layer_idx),
                               subparams(params, "norm1"), x, cfg)
    x, cross_weights = residual(_cross_attention(params, cfg, memory, memory_mask),
                                subparams(params, "norm2"), x, cfg)
    y, _ = residual(_feed_forward(params, cfg), subparams(params, "norm3"), x, cfg)
    return y, self_weights, cross_weights


def decoder_layer_backward(dy, params, x, memory, cfg, self_mask=None, memory_mask=None):
    """Backward of decoder_layer (without a cache).  dy, x: (batch, seq_q, d_model);
    memory: (batch, seq_k, d_model).

    The three sub-layers in reverse, each through residual_backward: the feed-forward, the
    cross-attention, the masked self-attention. Only the cross-attention reads the memory:
    dmemory = dk W_k + dv W_v of its keys and values (multi_head_attention_backward's dx_kv).
    Returns (dx (batch, seq_q, d_model), dmemory (batch, seq_k, d_model), grads); grads has the
    keys of params.
    """
    attend = _self_attention(params, cfg, self_mask)
    cross = _cross_attention(params, cfg, memory, memory_mask)
    h1, _ = residual(attend, subparams(params, "norm1"), x, cfg)
    h2, _ = residual(cross, subparams(params, "norm2"), h1, cfg)

    dh2, g_ff, g_norm3 = residual_backward(dy, _feed_forward(params, cfg),
                                           _feed_forward_backward(params, cfg),
                                           subparams(params, "norm3"), h2, cfg)
    dh1, dmemory, g_cross, g_norm2 = residual_backward(
        dh2, cross, _cross_attention_backward(params, cfg, memory, memory_mask),
        subparams(params, "norm2"), h1, cfg)
    dx, g_attn, g_norm1 = residual_backward(dh1, attend,
                                            _self_attention_backward(params, cfg, self_mask),
                                            subparams(params, "norm1"), x, cfg)
    grads = {**prefixed(g_attn, "self_attn"), **prefixed(g_norm1, "norm1"),
             **prefixed(g_cross, "cross_attn"), **prefixed(g_norm2, "norm2"),
             **prefixed(g_ff, "ff"), **prefixed(g_norm3, "norm3")}
    return dx, dmemory, grads


# ---- whole models ----------------------------------------------------------------------------


def decoder_lm(params, ids, cfg, is_token=None, cache=None, only_last=False):
    """A decoder-only (GPT-style) language model: token ids -> next-token logits.

    ids: (batch, seq) ints; is_token: optional (batch, seq) bool, False = padding.
    cache: optional KVCache(cfg.n_layers), updated in place: ids are then the tokens after the
    cached ones (generation feeds one at a time) and attend to those too.
    With a cache, is_token flags the cached tokens too: (batch, cached + seq).
    only_last: the logits of the last position only, (batch, 1, vocab): all that choosing the
    next token needs, and the output head (d_model x vocab) is the largest product.
    params keys: tok_emb.weight, pos_emb.weight (learned positions), layers.{i}.*, final_norm.*
    (pre-LN), lm_head.weight (untied). Returns (logits (batch, seq, vocab), attentions), where
    attentions is a list of n_layers arrays (batch, heads, seq, cached + seq).
    """
    if cache is not None:
        cache.check_fits(cfg.n_layers)
    past = 0 if cache is None else cache.seq_len()
    x = embed(params, ids, cfg, offset=past)
    mask = _causal_padding_mask(is_token, np.shape(ids), past)
    attentions = []
    for i in range(cfg.n_layers):
        x, weights = encoder_layer(subparams(params, f"layers.{i}"), x, cfg, mask, cache, i)
        attentions.append(weights)
    return _lm_head(params, x[:, -1:] if only_last else x, cfg), attentions


def decoder_lm_backward(dlogits, params, ids, cfg, is_token=None):
    """Gradients of every parameter of decoder_lm given dlogits = dL/dlogits (batch, seq, vocab).

    The forward is run again, keeping each layer's input; then the chain rule, last step first:
    the head (final norm + lm_head, _lm_head_backward), the layers in reverse
    (encoder_layer_backward with the causal mask), the embeddings (embed_backward). With tied
    embeddings tok_emb.weight gets the sum of the head's and the lookup's gradients.
    Returns grads, keyed like params (ids are integers: no gradient).
    """
    mask = _causal_padding_mask(is_token, np.shape(ids))
    xs = [embed(params, ids, cfg)]
    for i in range(cfg.n_layers):
        xs.append(encoder_layer(subparams(params, f"layers.{i}"), xs[-1], cfg, mask)[0])
    dx, grads = _lm_head_backward(dlogits, params, xs[-1], cfg)
    for i in reversed(range(cfg.n_layers)):
        dx, g = encoder_layer_backward(dx, subparams(params, f"layers.{i}"), xs[i], cfg, mask)
        grads.update(prefixed(g, f"layers.{i}"))
    _add_grads(grads, embed_backward(dx, params, ids, cfg))
    return grads


def encoder(params, ids, cfg, is_token=None, segments=None):
    """A BERT-style encoder: token ids -> contextual vectors, every token sees every other token.

    ids: (batch, seq) ints; is_token: optional (batch, seq) bool, False = padding;
    segments: optional (batch, seq) segment ids (sentence A = 0, B = 1) when cfg.n_segments > 0.
    params keys: tok_emb.weight, pos_emb.weight, seg_emb.weight, emb_norm.*, layers.{i}.*,
    final_norm.* (pre-LN only). Returns (hidden (batch, seq, d_model), attentions).
    """
    x = embed(params, ids, cfg, segments)
    mask = None if is_token is None else _padding_mask(is_token, np.shape(ids))
    attentions = []
    for i in range(cfg.n_layers):
        x, weights = encoder_layer(subparams(params, f"layers.{i}"), x, cfg, mask)
        attentions.append(weights)
    if cfg.norm_first:
        x = norm(subparams(params, "final_norm"), x, cfg.norm, cfg.norm_eps)
    return x, attentions


def encoder_backward(dhidden, params, ids, cfg, is_token=None, segments=None):
    """Gradients of every parameter of encoder given dhidden = dL/dhidden (batch, seq, d_model).

    The forward is run again, keeping each layer's input; then the chain rule, last step first:
    the final norm (pre-LN only), the layers in reverse (encoder_layer_backward), the embeddings
    (embed_backward). Returns grads, keyed like params.
    """
    mask = None if is_token is None else _padding_mask(is_token, np.shape(ids))
    xs = [embed(params, ids, cfg, segments)]
    for i in range(cfg.n_layers):
        xs.append(encoder_layer(subparams(params, f"layers.{i}"), xs[-1], cfg, mask)[0])
    grads, dx = {}, dhidden
    if cfg.norm_first:
        dx, g = norm_backward(dx, subparams(params, "final_norm"), xs[-1], cfg.norm, cfg.norm_eps)
        grads.update(prefixed(g, "final_norm"))
    for i in reversed(range(cfg.n_layers)):
        dx, g = encoder_layer_backward(dx, subparams(params, f"layers.{i}"), xs[i], cfg, mask)
        grads.update(prefixed(g, f"layers.{i}"))
    _add_grads(grads, embed_backward(dx, params, ids, cfg, segments))
    return grads


def encoder_decoder(params, src_ids, tgt_ids, cfg, src_is_token=None, tgt_is_token=None):
    """The original Transformer: the encoder reads the source, the decoder writes the target
    while cross-attending to the encoder's output (the "memory").

    src_ids: (batch, src_seq) ints; tgt_ids: (batch, tgt_seq) ints, the target so far (teacher
    forcing: the true target shifted right behind a start token); *_is_token: optional bool
    flags, False = padding. One vocabulary serves both sides; each has its own embedding table,
    and the head reuses the target's when cfg.tie_embeddings.
    params keys: encoder.* (an encoder's), tok_emb.weight, pos_emb.weight (the target's),
    layers.{i}.* (decoder layers), final_norm.* (pre-LN), lm_head.weight (untied).
    Returns (logits (batch, tgt_seq, vocab), attentions): {"encoder": n_layers × (batch, heads,
    src_seq, src_seq), "decoder_self": … (batch, heads, tgt_seq, tgt_seq), "cross": …
    (batch, heads, tgt_seq, src_seq)}.
    """
    memory, encoder_weights = encoder(subparams(params, "encoder"), src_ids, cfg, src_is_token)
    x = embed(params, tgt_ids, cfg)
    self_mask, memory_mask = _encoder_decoder_masks(src_ids, tgt_ids, src_is_token, tgt_is_token)
    self_weights, cross_weights = [], []
    for i in range(cfg.n_layers):
        x, w_self, w_cross = decoder_layer(subparams(params, f"layers.{i}"), x, memory, cfg,
                                           self_mask, memory_mask)
        self_weights.append(w_self)
        cross_weights.append(w_cross)
    attentions = {"encoder": encoder_weights, "decoder_self": self_weights,
                  "cross": cross_weights}
    return _lm_head(params, x, cfg), attentions


def encoder_decoder_backward(dlogits, params, src_ids, tgt_ids, cfg, src_is_token=None,
                             tgt_is_token=None):
    """Gradients of every parameter of encoder_decoder given dlogits = dL/dlogits (batch,
    tgt_seq, vocab).

    The decoder's chain rule as in decoder_lm_backward, with decoder_layer_backward for each
    layer. The memory feeds every decoder layer's cross-attention, so its gradient is their sum,
    dmemory = sum over layers of dmemory_i (batch, src_seq, d_model), which encoder_backward then
    carries into the encoder. Returns grads, keyed like params.
    """
    memory, _ = encoder(subparams(params, "encoder"), src_ids, cfg, src_is_token)
    self_mask, memory_mask = _encoder_decoder_masks(src_ids, tgt_ids, src_is_token, tgt_is_token)
    xs = [embed(params, tgt_ids, cfg)]
    for i in range(cfg.n_layers):
        xs.append(decoder_layer(subparams(params, f"layers.{i}"), xs[-1], memory, cfg,
                                self_mask, memory_mask)[0])
    dx, grads = _lm_head_backward(dlogits, params, xs[-1], cfg)
    dmemory = np.zeros_like(memory)
    for i in reversed(range(cfg.n_layers)):
        dx, dm, g = decoder_layer_backward(dx, subparams(params, f"layers.{i}"), xs[i], memory,
                                           cfg, self_mask, memory_mask)
        dmemory += dm
        grads.update(prefixed(g, f"layers.{i}"))
    _add_grads(grads, embed_backward(dx, params, tgt_ids, cfg))
    g = encoder_backward(dmemory, subparams(params, "encoder"), src_ids, cfg, src_is_token)
    grads.update(prefixed(g, "encoder"))
    return grads


def _encoder_decoder_masks(src_ids, tgt_ids, src_is_token, tgt_is_token):
    """(self_mask, memory_mask): causal (+ target padding) and source padding (or None)."""
    memory_mask = None if src_is_token is None else _padding_mask(src_is_token, np.shape(src_ids))
    return _causal_padding_mask(tgt_is_token, np.shape(tgt_ids)), memory_mask


# ---- embeddings ------------------------------------------------------------------------------


def embed(params, ids, cfg, segments=None, offset=0):
    """Token embedding + position (learned or sinusoidal; none for RoPE) + segment, then the
    optional embedding norm. ids: (batch, seq) ints at positions offset, offset + 1, ...
    -> (batch, seq, d_model). offset > 0 when earlier tokens are held in a KV cache."""
    ids = np.asarray(ids)
    check_ndim("ids", ids, 2)
    check_token_ids(ids, cfg.vocab_size)
    seq = ids.shape[1]
    check_seq_len(offset + seq, cfg.max_seq_len)
    x = embedding(subparams(params, "tok_emb"), ids)
    if cfg.positional == "learned":
        x = x + learned_positions(subparams(params, "pos_emb"), seq, offset)
    elif cfg.positional == "sinusoidal":
        x = x + sinusoidal_encoding(offset + seq, cfg.d_model)[offset:].astype(x.dtype)
    if cfg.n_segments:
        x = x + embedding(subparams(params, "seg_emb"), _segments(ids, segments))
    if cfg.embedding_norm:
        x = norm(subparams(params, "emb_norm"), x, cfg.norm, cfg.norm_eps)
    return x


def embed_backward(dx, params, ids, cfg, segments=None):
    """Gradients of the embedding tables (and the embedding norm) given dx = dL/d(embed output),
    (batch, seq, d_model).

    The embedding is a sum e = tok[ids] + pos[:seq] + seg[segments] (the tables the config has),
    so each table receives the same de at the rows it gave: embedding_backward and
    learned_positions_backward. With an embedding norm, x = N(e) and de = norm_backward(dx) first.
    Returns grads, keyed like params (a sinusoidal or rotary position has no table).
    """
    grads = {}
    if cfg.embedding_norm:
        summed = _embedding_sum(params, ids, cfg, segments)
        dx, g = norm_backward(dx, subparams(params, "emb_norm"), summed, cfg.norm, cfg.norm_eps)
        grads.update(prefixed(g, "emb_norm"))
    grads.update(prefixed(embedding_backward(dx, subparams(params, "tok_emb"), ids)[1], "tok_emb"))
    if cfg.positional == "learned":
        g = learned_positions_backward(dx, subparams(params, "pos_emb"), ids.shape[1])[1]
        grads.update(prefixed(g, "pos_emb"))
    if cfg.n_segments:
        g = embedding_backward(dx, subparams(params, "seg_emb"), _segments(ids, segments))[1]
        grads.update(prefixed(g, "seg_emb"))
    return grads


def _embedding_sum(params, ids, cfg, segments):
    return embed(params, ids, cfg.replace(embedding_norm=False), segments)


def _segments(ids, segments):
    return np.zeros_like(ids) if segments is None else np.asarray(segments)


# ---- pieces shared by the layers -------------------------------------------------------------


def _rope_base(cfg):
    return cfg.rope_base if cfg.positional == "rope" else None


def _self_attention(params, cfg, mask, cache=None, layer_idx=0):
    p = subparams(params, "self_attn")
    return lambda h: multi_head_attention(p, h, None, mask, cfg.n_heads, _rope_base(cfg),
                                          cache, layer_idx, cfg.n_kv_heads)


def _self_attention_backward(params, cfg, mask):
    p = subparams(params, "self_attn")

    def backward(dout, h):
        dh, _, grads = multi_head_attention_backward(dout, p, h, None, mask, cfg.n_heads,
                                                     _rope_base(cfg), cfg.n_kv_heads)
        return dh, grads
    return backward


def _cross_attention(params, cfg, memory, memory_mask):
    p = subparams(params, "cross_attn")
    return lambda h: multi_head_attention(p, h, memory, memory_mask, cfg.n_heads,
                                          n_kv_heads=cfg.n_kv_heads)


def _cross_attention_backward(params, cfg, memory, memory_mask):
    """(dout, h) -> (dh, dmemory, grads): the queries' and the memory's gradients."""
    p = subparams(params, "cross_attn")
    return lambda dout, h: multi_head_attention_backward(dout, p, h, memory, memory_mask,
                                                         cfg.n_heads, n_kv_heads=cfg.n_kv_heads)


def _feed_forward(params, cfg):
    p = subparams(params, "ff")
    return lambda h: (feed_forward(p, h, cfg.activation), None)


def _feed_forward_backward(params, cfg):
    p = subparams(params, "ff")
    return lambda dout, h: feed_forward_backward(dout, p, h, cfg.activation)


def _causal_padding_mask(is_token, shape, past=0):
    """The causal mask of an input of shape (batch, seq) after `past` cached tokens:
    (seq, past + seq) bool, True = may attend; with is_token, padding keys are hidden too:
    (batch, 1, seq, past + seq). The cache does not remember padding: is_token flags every key,
    (batch, past + seq), the cached tokens' flags first (generation from left-padded prompts
    passes them at each step)."""
    mask = causal_mask(shape[1], past + shape[1])
    return mask if is_token is None else mask & _padding_mask(is_token, shape, past)


def _padding_mask(is_token, shape, past=0):
    """padding_mask(is_token), once is_token is known to hold one flag per token of an input of
    shape (batch, seq), after one per cached token if past > 0."""
    is_token = np.asarray(is_token, dtype=bool)
    check_is_token(is_token, shape, past)
    return padding_mask(is_token)


def _head_weight(params, cfg):
    return params["tok_emb.weight"] if cfg.tie_embeddings else params["lm_head.weight"]


def _lm_head(params, x, cfg):
    if cfg.norm_first:
        x = norm(subparams(params, "final_norm"), x, cfg.norm, cfg.norm_eps)
    return linear({"weight": _head_weight(params, cfg)}, x)


def _lm_head_backward(dlogits, params, x, cfg):
    h = norm(subparams(params, "final_norm"), x, cfg.norm, cfg.norm_eps) if cfg.norm_first else x
    dh, g = linear_backward(dlogits, {"weight": _head_weight(params, cfg)}, h)
    grads = {"tok_emb.weight" if cfg.tie_embeddings else "lm_head.weight": g["weight"]}
    if not cfg.norm_first:
        return dh, grads
    dx, g = norm_backward(dh, subparams(params, "final_norm"), x, cfg.norm, cfg.norm_eps)
    grads.update(prefixed(g, "final_norm"))
    return dx, grads


def _add_grads(grads, more):
    for name, g in more.items():
        grads[name] = grads[name] + g if name in grads else g
