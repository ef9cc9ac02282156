"""Positional information, PyTorch twin of `minillm.np.positional`."""
from __future__ import annotations

import functools

import torch
from torch import nn

from minillm.checks import check_ndim, check_seq_len


def sinusoidal_encoding(seq_len, d_model, base=10000.0):
    """(seq_len, d_model): PE[pos, 2i] = sin(pos / base^(2i/d)), PE[pos, 2i+1] = cos(...)."""
    if d_model % 2:
        raise ValueError(f"sinusoidal encodings pair sin and cos: d_model={d_model} must be even")
    pos = torch.arange(seq_len, dtype=torch.float64)[:, None]
    freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.zeros(seq_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


class LearnedPositions(nn.Module):
    """A trainable table of position vectors. weight: (max_seq_len, d_model)."""

    def __init__(self, max_seq_len, d_model):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(max_seq_len, d_model))

    def forward(self, seq_len, offset=0):
        """Rows offset .. offset + seq_len - 1: (seq_len, d_model). offset = positions already
        seen (the tokens held in a KV cache during generation)."""
        check_seq_len(offset + seq_len, self.weight.shape[0])
        return self.weight[offset:offset + seq_len]


def rope_angles(seq_len, d_head, base=10000.0, offset=0, dtype=torch.float32, device=None):
    """(cos, sin), each (seq_len, d_head); half-split: dimension j pairs with j + d_head/2."""
    if d_head % 2:
        raise ValueError(f"rotary embeddings rotate pairs of dimensions: d_head={d_head} is odd")
    inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64, device=device) / d_head)
    pos = torch.arange(offset, offset + seq_len, dtype=torch.float64, device=device)
    angles = pos[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


@functools.lru_cache(maxsize=8)
def _shared_rope_angles(seq_len, d_head, base, offset, dtype, device):
    """rope_angles, computed once and reused: every layer of a model (and q and k within it)
    rotates the same positions, so a forward pass needs them once, not twice per layer. Made
    outside inference mode so that a table first made in it still serves training later.
    Shared: never modified in place."""
    with torch.inference_mode(False):
        return rope_angles(seq_len, d_head, base, offset, dtype, device)


def rotate_half(x):
    """[x1, x2] -> [-x2, x1] on the last dimension."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def rope(x, base=10000.0, offset=0):
    """Rotate each query/key vector by its position. x: (..., seq, d_head) -> same shape."""
    check_ndim("x", x, 2)
    cos, sin = _shared_rope_angles(x.shape[-2], x.shape[-1], base, offset, x.dtype, x.device)
    return x * cos + rotate_half(x) * sin
