"""Pruning（剪枝）: remove weights (unstructured) or whole attention heads (structured).

- Magnitude pruning zeroes the fraction `sparsity` of a weight's entries with the smallest |w|.
- Head masking multiplies a head's output by 0 before out_proj, which removes the head exactly
  as if its rows of out_proj's input were cut out; its importance is how much the loss rises.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from minillm.attention import attention_layers, masked_heads


def _check_sparsity(sparsity):
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be a fraction in [0, 1], got {sparsity}")


def magnitude_mask(weight, sparsity):
    """bool tensor shaped like weight, False at the round(sparsity * numel) entries of smallest
    |w| (ties broken by position), True = keep."""
    _check_sparsity(sparsity)
    n_drop = round(sparsity * weight.numel())
    keep = torch.ones(weight.numel(), dtype=torch.bool, device=weight.device)
    order = torch.argsort(weight.detach().abs().flatten(), stable=True)
    keep[order[:n_drop]] = False
    return keep.view_as(weight)


def magnitude_prune(model, sparsity):
    """A copy of model in which every Linear weight has its `sparsity` smallest-|w| entries set to
    0 (each matrix pruned on its own). Embedding tables and norms are left as they are."""
    _check_sparsity(sparsity)
    pruned = copy.deepcopy(model)
    with torch.no_grad():
        for module in pruned.modules():
            if isinstance(module, nn.Linear):
                module.weight.mul_(magnitude_mask(module.weight, sparsity))
    return pruned.eval()


def head_importance(model, loss_of):
    """{(layer, head): loss with that head masked - loss with all heads}, one head at a time.

    loss_of(model) -> float, e.g. `lambda m: evaluate(m, causal_lm_loss, valid_batches)`."""
    base = loss_of(model)
    scores = {}
    for layer, attn in enumerate(attention_layers(model)):
        for head in range(attn.n_heads):
            with masked_heads(model, [(layer, head)]):
                scores[(layer, head)] = loss_of(model) - base
    return scores
