"""Element-wise and row-wise functions, PyTorch twin of `minillm.np.functional`.

Same names, same arguments, same formulas; autograd supplies the backward passes.
"""
from __future__ import annotations

import math

import torch

from minillm.checks import check_targets
from minillm.np.functional import _SQRT_2_OVER_PI


def softmax(x, axis=-1):
    """Stable softmax along `axis`; an all -inf row (every key masked) gives zeros, not NaN."""
    m = x.amax(dim=axis, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(x - m)
    total = e.sum(dim=axis, keepdim=True)
    return e / torch.where(total == 0, torch.ones_like(total), total)


def log_softmax(x, axis=-1):
    """x - max - log(sum(exp(x - max)))."""
    shifted = x - x.amax(dim=axis, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim=axis, keepdim=True))


def cross_entropy(logits, targets, ignore_index=-100):
    """Mean of -log softmax(logits)[target] over positions whose target is not ignore_index.

    logits: (..., vocab); targets: (...) integer class ids. Returns a scalar tensor.
    """
    check_targets(logits, targets, ignore_index)
    logp = log_softmax(logits)
    keep = targets != ignore_index
    picked = logp.gather(-1, torch.where(keep, targets, 0).unsqueeze(-1)).squeeze(-1)
    return -(picked * keep).sum() / keep.sum().clamp(min=1)


def relu(x):
    """max(x, 0), element-wise."""
    return torch.clamp(x, min=0)


def gelu(x, approximate="none"):
    """x * Phi(x): exact with erf ("none") or GPT-2's tanh approximation ("tanh")."""
    if approximate == "tanh":
        return 0.5 * x * (1.0 + torch.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    if approximate == "none":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x):
    """x * sigmoid(x)."""
    return x * torch.sigmoid(x)
