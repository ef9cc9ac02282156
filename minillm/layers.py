"""Layers with weights, PyTorch twin of `minillm.np.layers`.

Parameter names and layouts equal the NumPy reference's dict keys, so
`{k: v.numpy() for k, v in module.state_dict().items()}` runs the same layer in NumPy.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minillm.checks import check_last_dim, check_token_ids
from minillm.config import ACTIVATIONS
from minillm.functional import gelu, relu, silu


class Linear(nn.Linear):
    """y = x W^T + b.  weight: (out, in), bias: (out,).  x: (..., in) -> (..., out)."""

    def forward(self, x):
        check_last_dim("x", x, self.in_features, "in_features")
        return super().forward(x)


class Embedding(nn.Embedding):
    """Look up rows of the table.  weight: (vocab, d).  ids: (...) ints -> (..., d)."""

    def forward(self, ids):
        check_token_ids(ids, self.num_embeddings)
        return super().forward(ids)


class LayerNorm(nn.Module):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last dimension. x: (..., d)."""

    def __init__(self, d_model, eps=1e-5, bias=True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model)) if bias else None

    def forward(self, x):
        check_last_dim("x", x, self.weight.shape[0])
        # PyTorch's fused kernel for the formula above (tests: equal to the NumPy reference)
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight over the last dimension. x: (..., d)."""

    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        check_last_dim("x", x, self.weight.shape[0])
        # PyTorch's fused kernel for the formula above (tests: equal to the NumPy reference)
        return F.rms_norm(x, self.weight.shape, self.weight, self.eps)


def build_norm(d_model, kind="layer", eps=1e-5, bias=True):
    """LayerNorm (kind="layer") or RMSNorm (kind="rms"): the twin of `minillm.np.norm`."""
    if kind == "layer":
        return LayerNorm(d_model, eps, bias)
    if kind == "rms":
        return RMSNorm(d_model, eps)
    raise ValueError(f"norm kind must be 'layer' or 'rms', got {kind!r}")


_ACTIVATIONS = {"relu": relu, "gelu": gelu, "gelu_tanh": lambda x: gelu(x, "tanh")}


class FeedForward(nn.Module):
    """Position-wise feed-forward network: down(act(up(x))), or SwiGLU when activation="swiglu".

    up: (d_ff, d_model), down: (d_model, d_ff); SwiGLU adds gate: (d_ff, d_model).
    x: (..., d_model) -> (..., d_model).
    """

    def __init__(self, d_model, d_ff, activation="gelu", bias=True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        if activation == "swiglu":
            self.gate = Linear(d_model, d_ff, bias=bias)
        self.up = Linear(d_model, d_ff, bias=bias)
        self.down = Linear(d_ff, d_model, bias=bias)

    def forward(self, x):
        if self.activation == "swiglu":
            return self.down(silu(self.gate(x)) * self.up(x))
        return self.down(_ACTIVATIONS[self.activation](self.up(x)))


class SwiGLU(FeedForward):
    """SwiGLU feed-forward (Llama): down(silu(gate(x)) * up(x)). x: (..., d_model)."""

    def __init__(self, d_model, d_ff, bias=False):
        super().__init__(d_model, d_ff, "swiglu", bias)
