"""Transformer layers and whole models, PyTorch twin of `minillm.np.transformer`.

`state_dict()` keys equal the NumPy reference's parameter names, so the two run the same weights.
"""
from __future__ import annotations

import torch
from torch import nn

from minillm.attention import MultiHeadAttention, causal_mask, padding_mask
from minillm.checks import check_is_token, check_ndim, check_seq_len, check_token_ids
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


def _padding_mask(ids, is_token):
    """padding_mask(is_token) on ids' device, once is_token is known to hold one flag per token."""
    is_token = torch.as_tensor(is_token, dtype=torch.bool)
    check_is_token(is_token, ids)
    return padding_mask(is_token).to(ids.device)


def _norm(cfg):
    return build_norm(cfg.d_model, cfg.norm, cfg.norm_eps, cfg.bias)


def _feed_forward(cfg):
    return FeedForward(cfg.d_model, cfg.d_ff, cfg.activation, cfg.bias)


def _attention(cfg, rotary):
    rope_base = cfg.rope_base if rotary and cfg.positional == "rope" else None
    return MultiHeadAttention(cfg.d_model, cfg.n_heads, cfg.bias, rope_base)


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each inside `residual`. A GPT block is this layer with a
    causal mask. Submodules: self_attn, norm1, ff, norm2."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.self_attn, self.norm1 = _attention(cfg, rotary=True), _norm(cfg)
        self.ff, self.norm2 = _feed_forward(cfg), _norm(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, mask=None, need_weights=False):
        """x: (batch, seq, d_model); mask: bool, True = may attend.
        Returns (y (batch, seq, d_model), weights (batch, heads, seq, seq) or None)."""
        def attend(h):
            return self._drop(self.self_attn(h, None, mask, need_weights))

        x, weights = residual(attend, self.norm1, x, self.cfg)
        y, _ = residual(self._feed_forward, self.norm2, x, self.cfg)
        return y, weights

    def _drop(self, out_and_weights):
        out, weights = out_and_weights
        return self.dropout(out), weights

    def _feed_forward(self, h):
        return self.dropout(self.ff(h)), None


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

    def forward(self, x, memory, self_mask=None, memory_mask=None, need_weights=False):
        """x: (batch, seq_q, d_model); memory: (batch, seq_k, d_model) encoder outputs.
        Returns (y, self_weights (batch, heads, seq_q, seq_q), cross_weights (batch, heads, seq_q,
        seq_k)); the weights are None unless need_weights."""
        def attend(h):
            return self._drop(self.self_attn(h, None, self_mask, need_weights))

        def cross_attend(h):
            return self._drop(self.cross_attn(h, memory, memory_mask, need_weights))

        x, self_w = residual(attend, self.norm1, x, self.cfg)
        x, cross_w = residual(cross_attend, self.norm2, x, self.cfg)
        y, _ = residual(self._feed_forward, self.norm3, x, self.cfg)
        return y, self_w, cross_w

    def _drop(self, out_and_weights):
        out, weights = out_and_weights
        return self.dropout(out), weights

    def _feed_forward(self, h):
        return self.dropout(self.ff(h)), None


class _Embedded(nn.Module):
    """Token + position (+ segment) embeddings, shared by DecoderLM and Encoder."""

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

    def embed(self, ids, segments=None):
        """ids: (batch, seq) ints -> (batch, seq, d_model)."""
        check_ndim("ids", ids, 2)
        check_token_ids(ids, self.cfg.vocab_size)
        seq = ids.shape[1]
        check_seq_len(seq, self.cfg.max_seq_len)
        x = self.tok_emb(ids)
        if self.cfg.positional == "learned":
            x = x + self.pos_emb(seq)
        elif self.cfg.positional == "sinusoidal":
            x = x + sinusoidal_encoding(seq, self.cfg.d_model).to(x.dtype).to(x.device)
        if self.cfg.n_segments:
            x = x + self.seg_emb(torch.zeros_like(ids) if segments is None else segments)
        if self.cfg.embedding_norm:
            x = self.emb_norm(x)
        return self.emb_dropout(x)

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

    def forward(self, ids, is_token=None, need_weights=False):
        """ids: (batch, seq) ints; is_token: optional (batch, seq) bool, False = padding.
        Returns (logits (batch, seq, vocab), attentions: list of n_layers (batch, heads, seq, seq)
        tensors, or None unless need_weights)."""
        x = self.embed(ids)
        mask = causal_mask(ids.shape[1], device=ids.device)
        if is_token is not None:
            mask = mask & _padding_mask(ids, is_token)
        attentions = []
        for layer in self.layers:
            x, weights = layer(x, mask, need_weights)
            attentions.append(weights)
        if self.cfg.norm_first:
            x = self.final_norm(x)
        head = self.tok_emb.weight if self.cfg.tie_embeddings else self.lm_head.weight
        return x @ head.T, attentions if need_weights else None


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
        x = self.embed(ids, segments)
        mask = None if is_token is None else _padding_mask(ids, is_token)
        attentions = []
        for layer in self.layers:
            x, weights = layer(x, mask, need_weights)
            attentions.append(weights)
        if self.cfg.norm_first:
            x = self.final_norm(x)
        return x, attentions if need_weights else None
