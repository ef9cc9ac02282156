"""Transformer layers and whole models, PyTorch twin of `minillm.np.transformer`.

`state_dict()` keys equal the NumPy reference's parameter names, so the two run the same weights.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from minillm.attention import MultiHeadAttention, padding_mask, shared_causal_mask
from minillm.checks import check_is_token, check_ndim, check_seq_len
from minillm.config import TransformerConfig
from minillm.layers import Embedding, FeedForward, Linear, build_norm
from minillm.positional import LearnedPositions, sinusoidal_encoding


def residual(sublayer, norm, x, cfg):
    """post-LN (cfg.norm_first=False): Norm(x + Sublayer(x)); pre-LN: x + Sublayer(Norm(x)).

    sublayer: h (batch, seq, d_model) -> (out, aux). Returns (y, aux).
    """
    if cfg.norm_first:
        out, aux = sublayer(norm(x))
        return x + out, aux
    out, aux = sublayer(x)
    return norm(x + out), aux


def as_token_ids(name, ids, device):
    """ids as the (batch, seq) integer tensor an embedding table reads: a list or NumPy array
    becomes a tensor on device, and uint8, int8 or int16 ids become int64 (torch's embedding
    reads only int32 and int64). Anything else is refused with a sentence saying what was
    expected."""
    if not isinstance(ids, torch.Tensor):
        array = np.asarray(ids) if _rectangular(ids) else None
        if array is None or array.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be a (batch, seq) array of integer token ids, got "
                             f"{type(ids).__name__} {_preview(ids)}")
        ids = torch.as_tensor(array.astype(np.int64) if array.dtype.kind in "iu" else array,
                              device=device)
    check_ndim(name, ids, 2)
    if ids.ndim > 2:
        raise ValueError(f"{name} must be (batch, seq), got shape {tuple(ids.shape)}: one row "
                         "of token ids per sequence")
    if ids.dtype in (torch.uint8, torch.int8, torch.int16):
        ids = ids.long()
    return ids


def _rectangular(ids):
    try:
        np.asarray(ids)
    except (ValueError, TypeError):
        return False
    return True


def _preview(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _padding_mask(is_token, shape, device, past=0):
    """padding_mask(is_token) on device, once is_token is known to hold one flag per token of an
    input of shape (batch, seq), after one per cached token if past > 0."""
    is_token = torch.as_tensor(is_token, dtype=torch.bool)
    check_is_token(is_token, shape, past)
    return padding_mask(is_token).to(device)


def _causal_padding_mask(is_token, shape, device, past=0):
    """The causal mask of an input of shape (batch, seq) after `past` cached tokens:
    (seq, past + seq) bool, True = may attend; with is_token, padding keys are hidden too:
    (batch, 1, seq, past + seq). The cache does not remember padding: is_token flags every key,
    (batch, past + seq), the cached tokens' flags first (generation from left-padded prompts
    passes them at each step)."""
    mask = shared_causal_mask(shape[1], past + shape[1], device=device)
    return mask if is_token is None else mask & _padding_mask(is_token, shape, device, past)


def _run_layers(layers, x, mask, need_weights, cache=None):
    """Each layer in turn on x: (batch, seq, d_model). Returns (states: n_layers + 1 tensors
    (batch, seq, d_model), entry 0 = x, attentions: n_layers weights, or None each)."""
    states, attentions = [x], []
    for i, layer in enumerate(layers):
        x, weights = layer(x, mask, need_weights, cache, i)
        states.append(x)
        attentions.append(weights)
    return states, attentions


def lm_logits(model, hidden):
    """A DecoderLM's output head on hidden states (batch, seq, d_model), final norm already
    applied (as `minillm.finetune.run_layers` gives them) -> logits (batch, seq, vocab). The head
    is tied to tok_emb unless cfg says not."""
    head = model.tok_emb.weight if model.cfg.tie_embeddings else model.lm_head.weight
    return hidden @ head.T


def _logits(model, x):
    """Final norm (pre-LN only), then the output head."""
    if model.cfg.norm_first:
        x = model.final_norm(x)
    return lm_logits(model, x)


def _dropout(dropout, x):
    """dropout(x), skipping the call when it would return x unchanged (p = 0: every model of the
    course but the ones that study dropout)."""
    return dropout(x) if dropout.p else x


def _norm(cfg):
    return build_norm(cfg.d_model, cfg.norm, cfg.norm_eps, cfg.bias)


def _feed_forward(cfg):
    return FeedForward(cfg.d_model, cfg.d_ff, cfg.activation, cfg.bias)


def _attention(cfg, rotary):
    rope_base = cfg.rope_base if rotary and cfg.positional == "rope" else None
    return MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.bias, rope_base, cfg.n_kv_heads)


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each inside `residual`. A GPT block is this layer with a
    causal mask. Submodules: self_attn, norm1, ff, norm2."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.self_attn, self.norm1 = _attention(cfg, rotary=True), _norm(cfg)
        self.ff, self.norm2 = _feed_forward(cfg), _norm(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, mask=None, need_weights=False, cache=None, layer_idx=0):
        """x: (batch, seq, d_model); mask: bool, True = may attend; cache: a KVCache whose slot
        layer_idx holds this layer's keys and values of earlier tokens (see MultiHeadAttention).
        Returns (y (batch, seq, d_model), weights (batch, heads, seq, seq_k) or None)."""
        def attend(h):
            return self._drop(self.self_attn(h, None, mask, need_weights, cache, layer_idx))

        x, weights = residual(attend, self.norm1, x, self.cfg)
        y, _ = residual(self._feed_forward, self.norm2, x, self.cfg)
        return y, weights

    def _drop(self, out_and_weights):
        out, weights = out_and_weights
        return _dropout(self.dropout, out), weights

    def _feed_forward(self, h):
        return _dropout(self.dropout, self.ff(h)), None


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention over the encoder's output, feed-forward.
    Submodules: self_attn, norm1, cross_attn, norm2, ff, norm3."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.self_attn, self.norm1 = _attention(cfg, rotary=True), _norm(cfg)
        self.cross_attn, self.norm2 = _attention(cfg, rotary=False), _norm(cfg)
        self.ff, self.norm3 = _feed_forward(cfg), _norm(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, memory, self_mask=None, memory_mask=None, need_weights=False,
                cache=None, layer_idx=0):
        """x: (batch, seq_q, d_model); memory: (batch, seq_k, d_model) encoder outputs; cache: a
        KVCache for the masked self-attention only (the memory does not grow).
        Returns (y, self_weights (batch, heads, seq_q, seq_q), cross_weights (batch, heads, seq_q,
        seq_k)); the weights are None unless need_weights."""
        def attend(h):
            return self._drop(self.self_attn(h, None, self_mask, need_weights, cache, layer_idx))

        def cross_attend(h):
            return self._drop(self.cross_attn(h, memory, memory_mask, need_weights))

        x, self_w = residual(attend, self.norm1, x, self.cfg)
        x, cross_w = residual(cross_attend, self.norm2, x, self.cfg)
        y, _ = residual(self._feed_forward, self.norm3, x, self.cfg)
        return y, self_w, cross_w

    def _drop(self, out_and_weights):
        out, weights = out_and_weights
        return _dropout(self.dropout, out), weights

    def _feed_forward(self, h):
        return _dropout(self.dropout, self.ff(h)), None


class _Embedded(nn.Module):
    """Token + position (+ segment) embeddings, shared by DecoderLM, Encoder and EncoderDecoder
    (whose own embeddings are the target's)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = Embedding(cfg.vocab_size, cfg.d_model)
        if cfg.positional == "learned":
            self.pos_emb = LearnedPositions(cfg.max_seq_len, cfg.d_model)
        if cfg.n_segments:
            self.seg_emb = Embedding(cfg.n_segments, cfg.d_model)
        if cfg.embedding_norm:
            self.emb_norm = _norm(cfg)
        self.emb_dropout = nn.Dropout(cfg.dropout)

    def embed(self, ids, segments=None, offset=0):
        """ids: (batch, seq) ints at positions offset, offset + 1, ... -> (batch, seq, d_model).
        offset > 0 when earlier tokens are held in a KV cache."""
        ids = as_token_ids("ids", ids, self.tok_emb.weight.device)
        x = self.tok_emb(ids)                # checks the ids: integers in [0, vocab_size)
        seq = ids.shape[1]
        check_seq_len(offset + seq, self.cfg.max_seq_len)
        if self.cfg.positional == "learned":
            x = x + self.pos_emb(seq, offset)
        elif self.cfg.positional == "sinusoidal":
            table = sinusoidal_encoding(offset + seq, self.cfg.d_model)[offset:]
            x = x + table.to(x.dtype).to(x.device)
        if self.cfg.n_segments:
            x = x + self.seg_emb(torch.zeros_like(ids) if segments is None
                                 else self._segment_ids(segments, ids))
        if self.cfg.embedding_norm:
            x = self.emb_norm(x)
        return _dropout(self.emb_dropout, x)

    def _segment_ids(self, segments, ids):
        """segments as a tensor: (batch, seq) ints in [0, n_segments), one per token of ids."""
        segments = as_token_ids("segments", segments, ids.device)
        if segments.shape != ids.shape:
            raise ValueError(f"segments of shape {tuple(segments.shape)} do not match ids of "
                             f"shape {tuple(ids.shape)}: give one segment id per token")
        lo, hi = int(segments.min()), int(segments.max())
        if lo < 0 or hi >= self.cfg.n_segments:
            raise ValueError(f"segments must lie in [0, {self.cfg.n_segments}), got values "
                             f"from {lo} to {hi}")
        return segments

    def init_weights(self, std=0.02):
        """Normal(0, std) for matrices and embeddings, zeros for biases, ones for norm gains."""
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.ndim == 1:
                nn.init.ones_(p)
            else:
                nn.init.normal_(p, 0.0, std)
        return self


class DecoderLM(_Embedded):
    """A decoder-only (GPT-style) language model: token ids -> next-token logits.

    Submodules: tok_emb, pos_emb (learned positions), layers, final_norm (pre-LN), lm_head
    (only when cfg.tie_embeddings is False; otherwise the head reuses tok_emb.weight).
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        if cfg.norm_first:
            self.final_norm = _norm(cfg)
        if not cfg.tie_embeddings:
            self.lm_head = Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.init_weights()

    def forward(self, ids, is_token=None, need_weights=False, cache=None, only_last=False):
        """ids: (batch, seq) ints; is_token: optional (batch, seq) bool, False = padding.
        cache: optional KVCache(cfg.n_layers), updated in place: ids are then the tokens after
        the cached ones (generation feeds one at a time) and attend to those too.
        With a cache, is_token flags the cached tokens too: (batch, cached + seq).
        only_last: the logits of the last position only, (batch, 1, vocab): all that choosing
        the next token needs, and the output head (d_model x vocab) is the largest product.
        Returns (logits (batch, seq, vocab), attentions: list of n_layers (batch, heads, seq,
        cached + seq) tensors, or None unless need_weights)."""
        if cache is not None:
            cache.check_fits(self.cfg.n_layers)
        past = 0 if cache is None else cache.seq_len()
        states, attentions = self.residual_stream(self.embed(ids, offset=past), is_token,
                                                  need_weights, cache)
        return _logits(self, states[-1][:, -1:] if only_last else states[-1]), attentions

    def residual_stream(self, x, is_token=None, need_weights=False, cache=None):
        """The layers on input embeddings x: (batch, seq, d_model), as forward runs them after
        `embed` (is_token and cache as in forward). Returns (states: a list of n_layers + 1
        tensors (batch, seq, d_model), entry 0 = x, entry i the residual stream after layer i,
        before the final norm; attentions as forward returns them)."""
        past = 0 if cache is None else cache.seq_len()
        mask = _causal_padding_mask(is_token, x.shape[:2], x.device, past)
        states, attentions = _run_layers(self.layers, x, mask, need_weights, cache)
        return states, attentions if need_weights else None


class Encoder(_Embedded):
    """A BERT-style encoder: every token sees every other (non-padding) token.

    Submodules: tok_emb, pos_emb, seg_emb, emb_norm, layers, final_norm (pre-LN only).
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__(cfg)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        if cfg.norm_first:
            self.final_norm = _norm(cfg)
        self.init_weights()

    def forward(self, ids, is_token=None, segments=None, need_weights=False):
        """ids: (batch, seq) ints; is_token: (batch, seq) bool, False = padding; segments:
        (batch, seq) segment ids. Returns (hidden (batch, seq, d_model), attentions or None)."""
        states, attentions = self.residual_stream(self.embed(ids, segments), is_token,
                                                  need_weights)
        x = self.final_norm(states[-1]) if self.cfg.norm_first else states[-1]
        return x, attentions

    def residual_stream(self, x, is_token=None, need_weights=False):
        """The layers on input embeddings x: (batch, seq, d_model), as forward runs them after
        `embed`. Returns (states: a list of n_layers + 1 tensors (batch, seq, d_model), entry 0
        = x, entry i the residual stream after layer i, before the final norm; attentions as
        forward returns them)."""
        mask = None if is_token is None else _padding_mask(is_token, x.shape[:2], x.device)
        states, attentions = _run_layers(self.layers, x, mask, need_weights)
        return states, attentions if need_weights else None


class EncoderDecoder(_Embedded):
    """The original Transformer: an encoder reads the source; a decoder writes the target one
    token at a time, cross-attending to the encoder's output (the "memory").

    One vocabulary (cfg.vocab_size) serves source and target, so one tokenizer does both; each
    side has its own embedding table, and the output head reuses the target's unless
    cfg.tie_embeddings is False. Source and target may each be cfg.max_seq_len tokens long.
    With cfg.positional="rope", positions enter through the rotations of the self-attentions
    only: cross-attention compares decoder and encoder states without rotating them (like T5,
    whose relative positions live in self-attention), so where a source word sits is known to
    the memory only as far as the encoder's self-attention wrote it into the states.
    Submodules: encoder (an Encoder), tok_emb and pos_emb (the target's), layers (DecoderLayers),
    final_norm (pre-LN), lm_head (untied only).
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__(cfg)
        self.encoder = Encoder(cfg)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layers))
        if cfg.norm_first:
            self.final_norm = _norm(cfg)
        if not cfg.tie_embeddings:
            self.lm_head = Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.init_weights()

    def forward(self, src_ids, tgt_ids, src_is_token=None, tgt_is_token=None, need_weights=False):
        """src_ids: (batch, src_seq) ints; tgt_ids: (batch, tgt_seq) ints, the target so far
        (teacher forcing: the true target shifted right behind a start token); *_is_token:
        optional bool flags, False = padding.
        Returns (logits (batch, tgt_seq, vocab), attentions or None unless need_weights):
        {"encoder": n_layers × (batch, heads, src_seq, src_seq),
         "decoder_self": n_layers × (batch, heads, tgt_seq, tgt_seq),
         "cross": n_layers × (batch, heads, tgt_seq, src_seq)}."""
        memory, encoder_weights = self.encode(src_ids, src_is_token, need_weights)
        logits, self_weights, cross_weights = self.decode(tgt_ids, memory, src_is_token,
                                                          tgt_is_token, need_weights)
        if not need_weights:
            return logits, None
        return logits, {"encoder": encoder_weights, "decoder_self": self_weights,
                        "cross": cross_weights}

    def encode(self, src_ids, src_is_token=None, need_weights=False):
        """Run the encoder once per source: (memory (batch, src_seq, d_model), weights or None)."""
        return self.encoder(src_ids, src_is_token, need_weights=need_weights)

    def decode(self, tgt_ids, memory, src_is_token=None, tgt_is_token=None, need_weights=False,
               cache=None):
        """tgt_ids: (batch, seq) after the tokens held in cache (an optional KVCache of the
        masked self-attention); memory: encode's output. Returns (logits (batch, seq, vocab),
        self-attention weights, cross-attention weights), the weights lists or None."""
        past = 0 if cache is None else cache.seq_len()
        x = self.embed(tgt_ids, offset=past)
        self_mask = _causal_padding_mask(tgt_is_token, tgt_ids.shape, tgt_ids.device, past)
        memory_mask = None if src_is_token is None else _padding_mask(
            src_is_token, memory.shape[:2], memory.device)     # one flag per source token
        self_weights, cross_weights = [], []
        for i, layer in enumerate(self.layers):
            x, w_self, w_cross = layer(x, memory, self_mask, memory_mask, need_weights, cache, i)
            self_weights.append(w_self)
            cross_weights.append(w_cross)
        if not need_weights:
            return _logits(self, x), None, None
        return _logits(self, x), self_weights, cross_weights
