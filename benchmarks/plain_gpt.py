"""A plain PyTorch GPT: the benchmark's measure of what minillm's own code costs.

The same shape and the same math as minillm's GPT-2-style DecoderLM as the benchmark builds it
(`TransformerConfig.gpt2_like`: learned positions, pre-LN LayerNorm, tanh-GELU, biases, the
output head tied to the token embeddings, separate q, k and v projections, the fused causal
attention kernel), written as plainly as possible: no input checks, no masks, no options.
Whatever minillm is slower than this, it spends on its own overhead.

`from_minillm(model)` copies a DecoderLM's weights in; tests/test_benchmarks_smoke.py checks that
the two then give the same logits.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, d_model, n_heads, d_ff):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.up = nn.Linear(d_model, d_ff)
        self.down = nn.Linear(d_ff, d_model)

    def forward(self, x):
        batch, seq, d_model = x.shape
        h = self.norm1(x)
        # (batch, seq, d_model) -> (batch, heads, seq, d_head)
        q, k, v = (proj(h).view(batch, seq, self.n_heads, -1).transpose(1, 2)
                   for proj in (self.q, self.k, self.v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(a.transpose(1, 2).reshape(batch, seq, d_model))
        return x + self.down(F.gelu(self.up(self.norm2(x)), approximate="tanh"))


class PlainGPT(nn.Module):
    def __init__(self, vocab_size, max_seq_len, d_model, n_layers, n_heads, d_ff):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_seq_len, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff) for _ in range(n_layers))
        self.final_norm = nn.LayerNorm(d_model)

    def forward(self, ids):
        """ids: (batch, seq) -> logits (batch, seq, vocab)."""
        x = self.tok_emb(ids) + self.pos_emb.weight[:ids.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x) @ self.tok_emb.weight.T      # the head is tied


def from_minillm(model):
    """A PlainGPT holding a copy of a DecoderLM's weights (its config must be gpt2_like with the
    head tied, as the benchmark's is)."""
    cfg = model.cfg
    if not (cfg.norm == "layer" and cfg.norm_first and cfg.activation == "gelu_tanh"
            and cfg.positional == "learned" and cfg.bias and cfg.tie_embeddings
            and cfg.n_kv_heads is None and cfg.norm_eps == 1e-5):
        raise ValueError(f"PlainGPT is GPT-2's recipe with a tied head only, got {cfg}")
    plain = PlainGPT(cfg.vocab_size, cfg.max_seq_len, cfg.d_model, cfg.n_layers, cfg.n_heads,
                     cfg.d_ff)
    names = {"norm1": "norm1", "self_attn.q_proj": "q", "self_attn.k_proj": "k",
             "self_attn.v_proj": "v", "self_attn.out_proj": "out", "norm2": "norm2",
             "ff.up": "up", "ff.down": "down"}
    source = model.state_dict()
    state = {name: source[name] for name in ("tok_emb.weight", "pos_emb.weight",
                                              "final_norm.weight", "final_norm.bias")}
    for i in range(cfg.n_layers):
        for ours, theirs in names.items():
            for kind in ("weight", "bias"):
                state[f"blocks.{i}.{theirs}.{kind}"] = source[f"layers.{i}.{ours}.{kind}"]
    plain.load_state_dict({k: v.detach().clone() for k, v in state.items()})
    return plain
