"""Mixture of experts（混合专家, MoE）: a router sends each token to k of n feed-forward experts.

A Switch / GShard-style MoE layer replaces a Transformer block's feed-forward network:

    probs = softmax(router(x))                 (tokens, n_experts)
    top-k experts e_1..e_k of each token, with gates g_j = probs[e_j] (not renormalised)
    y = sum_j g_j * expert_{e_j}(x)

Only k experts run per token, so a model with n experts has n times the feed-forward weights
but the compute of k. The gates carry the language-model loss's gradient into the router.
A load-balancing loss n * sum_i f_i * P_i (f_i: share of the tokens * k assignments sent to
expert i, P_i: mean router probability of expert i) is 1.0 when routing and probabilities are
both uniform and at most n (one expert takes every token with probability 1); it pushes towards
balance, but is not a measure of it (it can fall below 1.0). Without it, a router tends to send
most tokens to a few experts.

`use_moe(model, n_experts, k)` puts an MoEFeedForward into every layer of a DecoderLM (or any
model whose layers call `self.ff(h)`); after a forward pass, `moe_aux_loss(model)` sums the
layers' balancing losses and `moe_routes(model)` returns the experts each token went to.
"""
from __future__ import annotations

import torch
from torch import nn

from minillm.checks import check_last_dim
from minillm.generate import model_device
from minillm.layers import FeedForward, Linear


def top_k_routing(logits, k):
    """Pick the k most probable experts of every token.

    logits: (tokens, n_experts) router scores. Returns (gates (tokens, k), experts (tokens, k)
    long, probs (tokens, n_experts)): probs = softmax(logits); experts in order of decreasing
    probability; gates = their probabilities, not renormalised (Switch Transformer).
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be (tokens, n_experts), got shape {tuple(logits.shape)}")
    if not 1 <= k <= logits.shape[-1]:
        raise ValueError(f"k must lie in 1 .. n_experts={logits.shape[-1]}, got {k}")
    probs = torch.softmax(logits, dim=-1)
    gates, experts = probs.topk(k, dim=-1)
    return gates, experts, probs


def load_balancing_loss(probs, experts):
    """n_experts * sum_i f_i * P_i (Switch Transformer's loss; f_i counts all k choices).

    probs: (tokens, n_experts) router probabilities; experts: (tokens, k) chosen experts.
    f_i = share of the tokens * k assignments that went to expert i (a count of top-k choices:
    piecewise constant, so no gradient); P_i = mean of probs[:, i] (differentiable: the gradient
    n_experts * f_i pushes probability away from busy experts). With k = 1 this is Switch's loss;
    GShard's auxiliary loss counts only each token's first (top-1) expert in f_i, whatever k.
    1.0 when both are uniform; at most n_experts, reached when one expert takes every token
    with probability 1.
    """
    n_experts = probs.shape[-1]
    counts = torch.bincount(experts.flatten(), minlength=n_experts).to(probs.dtype)
    f = counts / experts.numel()
    return n_experts * (f * probs.mean(dim=0)).sum()


class MoEFeedForward(nn.Module):
    """n_experts FeedForward networks and a router; each token runs through k of them.

    router: Linear(d_model, n_experts, bias=False); experts: ModuleList of FeedForward(d_model,
    d_ff). x: (..., d_model) -> (..., d_model).
    After each forward: aux_loss (scalar tensor, load_balancing_loss of this batch) and
    last_experts ((..., k) long, the chosen experts of each token, detached).
    """

    def __init__(self, d_model, d_ff, n_experts, k=1, activation="gelu", bias=True):
        super().__init__()
        if n_experts < 1:
            raise ValueError(f"n_experts must be a positive integer, got {n_experts}")
        if not 1 <= k <= n_experts:
            raise ValueError(f"k must lie in 1 .. n_experts={n_experts}, got {k}")
        self.k = k
        self.router = Linear(d_model, n_experts, bias=False)
        self.experts = nn.ModuleList(FeedForward(d_model, d_ff, activation, bias)
                                     for _ in range(n_experts))
        self.aux_loss, self.last_experts = None, None

    def forward(self, x):
        check_last_dim("x", x, self.router.in_features, "d_model")
        tokens = x.reshape(-1, x.shape[-1])                          # (tokens, d_model)
        gates, experts, probs = top_k_routing(self.router(tokens), self.k)
        out = torch.zeros_like(tokens)
        for e, expert in enumerate(self.experts):
            rows, slot = (experts == e).nonzero(as_tuple=True)      # tokens that chose e
            if len(rows):
                weighted = gates[rows, slot, None] * expert(tokens[rows])
                out = out.index_add(0, rows, weighted)
        self.aux_loss = load_balancing_loss(probs, experts)
        self.last_experts = experts.detach().reshape(*x.shape[:-1], self.k)
        return out.reshape(x.shape)


def use_moe(model, n_experts, k=1, d_ff=None, std=0.02):
    """Replace the `ff` of every layer in model.layers by an MoEFeedForward; returns model.

    d_ff: each expert's hidden width (default: the model's cfg.d_ff, so that with k=1 a token
    uses exactly the dense model's feed-forward compute). New weights: Normal(0, std), biases
    0, as DecoderLM initialises its own.
    """
    cfg = model.cfg
    for layer in model.layers:
        if not hasattr(layer, "ff"):
            raise ValueError(f"{type(layer).__name__} has no feed-forward `ff` to replace")
        moe = MoEFeedForward(cfg.d_model, d_ff or cfg.d_ff, n_experts, k, cfg.activation,
                             cfg.bias)
        for name, p in moe.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            else:
                nn.init.normal_(p, 0.0, std)
        layer.ff = moe.to(model_device(model))
    return model


def moe_layers(model):
    """The MoEFeedForward modules of model, in order."""
    return [m for m in model.modules() if isinstance(m, MoEFeedForward)]


def moe_aux_loss(model):
    """Sum of the load-balancing losses of the model's MoE layers, from its last forward."""
    layers = moe_layers(model)
    if not layers or any(m.aux_loss is None for m in layers):
        raise ValueError("no MoE layer has run yet: call use_moe(model, ...) and run a forward "
                         "pass first")
    return sum(m.aux_loss for m in layers)


def moe_routes(model):
    """The experts each token went to in the last forward: list of n_layers (..., k) tensors."""
    return [m.last_experts for m in moe_layers(model)]
