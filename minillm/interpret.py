"""Looking inside a trained Transformer: what each attention head does, and what it is for.

- hidden states after every layer:            `layer_states`
- where a head looks, as a score per head:    `attention_to` on a target pattern from
                                              `previous_token_targets`, `next_token_targets`,
                                              `token_targets` ([CLS], [SEP]...),
                                              `induction_targets`
- every layer x head at once:                 `head_scores`
- what a head is for (remove it, measure):    `ablate_heads`

A head's score for a pattern is the attention mass it puts on the pattern's keys, averaged over
the queries that have such a key: 1 = it looks only there, 0 = never.
"""
from __future__ import annotations

import torch

from minillm.attention import causal_mask, masked_heads
from minillm.checks import check_ndim
from minillm.transformer import DecoderLM, Encoder


# ---- hidden states -------------------------------------------------------------------------
def layer_states(body, ids, is_token=None):
    """The residual stream after the embeddings and after every layer of an Encoder or a
    DecoderLM: a list of n_layers + 1 tensors (batch, seq, d_model), entry 0 the embeddings.
    ids: (batch, seq); is_token: (batch, seq) bool, False = padding. No final norm is applied."""
    if not isinstance(body, (Encoder, DecoderLM)):
        raise ValueError(f"body must be a minillm Encoder or DecoderLM, got {type(body).__name__}")
    states, _ = body.residual_stream(body.embed(ids), is_token)
    return states


# ---- target patterns: (batch, seq_q, seq_k) bool, True = a key the role looks at -------------
def previous_token_targets(batch, seq):
    """Query i's target is key i - 1 (the first query has none)."""
    return torch.ones(seq, seq, dtype=torch.bool).tril(-1).triu(-1).expand(batch, seq, seq)


def next_token_targets(batch, seq):
    """Query i's target is key i + 1 (only a bidirectional model can look there)."""
    return torch.ones(seq, seq, dtype=torch.bool).triu(1).tril(1).expand(batch, seq, seq)


def token_targets(ids, token_id):
    """Every query's targets are the keys holding token_id (e.g. [SEP]). ids: (batch, seq)."""
    check_ndim("ids", ids, 2)
    seq = ids.shape[1]
    return (ids == token_id)[:, None, :].expand(-1, seq, -1)


def induction_targets(ids):
    """Induction: query i looks at the token *after* an earlier occurrence of its own token,
    key j with ids[j - 1] == ids[i] and j <= i ("... A B ... A" -> look at B, predict B).
    ids: (batch, seq) -> (batch, seq, seq) bool."""
    check_ndim("ids", ids, 2)
    seq = ids.shape[1]
    same = ids[:, :, None] == ids[:, None, :]                   # (batch, i, j): ids[i] == ids[j]
    after = torch.zeros_like(same)
    after[:, :, 1:] = same[:, :, :-1]                           # ids[i] == ids[j - 1]
    return after & causal_mask(seq, device=ids.device)


# ---- scores --------------------------------------------------------------------------------
def attention_to(weights, targets, query_mask=None):
    """How much each head attends to the targets: (heads,) scores in [0, 1].

    weights: (batch, heads, seq_q, seq_k); targets: (batch, seq_q, seq_k) bool; query_mask:
    (batch, seq_q) bool, the queries to average over (default: those with at least one target).
    """
    check_ndim("weights", weights, 4)
    if targets.shape != weights.shape[:1] + weights.shape[2:]:
        raise ValueError(f"targets of shape {tuple(targets.shape)} do not match weights "
                         f"(batch, heads, seq_q, seq_k) = {tuple(weights.shape)}")
    has_target = targets.any(dim=-1)
    query_mask = has_target if query_mask is None else query_mask & has_target
    if not query_mask.any():
        raise ValueError("no query has a target key: nothing to score")
    mass = (weights * targets[:, None].to(weights.dtype)).sum(dim=-1)   # (batch, heads, seq_q)
    picked = query_mask[:, None].expand_as(mass)
    return (mass * picked).sum(dim=(0, 2)) / picked[:, 0].sum()


def head_scores(attentions, targets, query_mask=None):
    """attention_to for every layer: attentions, a list of n_layers (batch, heads, seq, seq)
    -> (n_layers, heads) scores."""
    return torch.stack([attention_to(w, targets, query_mask) for w in attentions])


# ---- ablation ------------------------------------------------------------------------------
def ablate_heads(model, heads):
    """Inside the `with`, the given heads contribute nothing: their slice of the input to each
    layer's self_attn.out_proj (the merged heads, (batch, seq, heads * d_head)) is zeroed.

    heads: a list of (layer, head) pairs. The hooks are removed on leaving, whatever happens.
    The same switch the pruning chapter uses: `minillm.attention.masked_heads`.
    """
    return masked_heads(model, heads)
