"""Element-wise and row-wise functions, PyTorch twin of `minillm.np.functional`.

Same names, same arguments, same formulas; autograd supplies the backward passes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from minillm.checks import check_targets


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


# The activations below run PyTorch's fused kernels (one pass over memory instead of one per
# operation) for the formulas in their docstrings; the tests check them against the NumPy reference.

def relu(x):
    """max(x, 0), element-wise."""
    return F.relu(x)


def gelu(x, approximate="none"):
    """x * Phi(x): exact, 0.5 x (1 + erf(x / sqrt 2)) ("none"), or GPT-2's tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) ("tanh")."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return F.gelu(x, approximate=approximate)


def silu(x):
    """x * sigmoid(x)."""
    return F.silu(x)
