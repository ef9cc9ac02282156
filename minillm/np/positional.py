"""Positional information: sinusoidal encodings, learned position tables, rotary embeddings (RoPE).

Attention by itself is blind to order: permute the tokens and the outputs permute with them.
These functions put the position back in.
"""
from __future__ import annotations

import numpy as np

from minillm.checks import check_ndim, check_seq_len


def sinusoidal_encoding(seq_len, d_model, base=10000.0):
    """The original Transformer's table, (seq_len, d_model):

    PE[pos, 2i] = sin(pos / base^(2i/d_model)),  PE[pos, 2i+1] = cos(pos / base^(2i/d_model)).
    It has no parameters; it is added to the token embeddings.
    """
    if d_model % 2:
        raise ValueError(f"sinusoidal encodings pair sin and cos: d_model={d_model} must be even")
    pos = np.arange(seq_len)[:, None]
    freq = base ** (-np.arange(0, d_model, 2) / d_model)
    table = np.zeros((seq_len, d_model))
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq)
    return table


def learned_positions(params, seq_len, offset=0):
    """Rows offset .. offset + seq_len - 1 of a learned table (the first seq_len rows by default).

    params: weight (max_seq_len, d) -> (seq_len, d). offset = positions already seen (the tokens
    held in a KV cache during generation).
    """
    check_seq_len(offset + seq_len, params["weight"].shape[0])
    return params["weight"][offset:offset + seq_len]


def learned_positions_backward(dy, params, seq_len):
    """Backward of y = W[:seq_len] (offset 0, as in training).  dy: (..., seq_len, d).

    dW[p] = the sum of dy[..., p, :] over the batch for p < seq_len; rows past seq_len get 0.
    Returns (None, {weight: (max_seq_len, d)}): positions are not an input with a gradient.
    """
    dweight = np.zeros_like(params["weight"])
    dweight[:seq_len] = dy.reshape(-1, seq_len, dy.shape[-1]).sum(axis=0)
    return None, {"weight": dweight}


def rope_angles(seq_len, d_head, base=10000.0, offset=0):
    """(cos, sin), each (seq_len, d_head): position p rotates pair i by angle p * base^(-2i/d_head).

    Half-split layout (Llama, Hugging Face): dimension j is paired with j + d_head/2.
    """
    if d_head % 2:
        raise ValueError(f"rotary embeddings rotate pairs of dimensions: d_head={d_head} is odd")
    inv_freq = base ** (-np.arange(0, d_head, 2) / d_head)
    angles = np.arange(offset, offset + seq_len)[:, None] * inv_freq[None, :]
    angles = np.concatenate([angles, angles], axis=-1)
    return np.cos(angles), np.sin(angles)


def rotate_half(x):
    """[x1, x2] -> [-x2, x1] on the last dimension: a 90° turn of every (j, j + d/2) pair."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rope(x, base=10000.0, offset=0):
    """Rotate each query/key vector by its position: x cos + rotate_half(x) sin.

    x: (..., seq, d_head), positions offset, offset+1, ... -> same shape. Because rotations
    compose, the score q_m . k_n then depends only on the offset m - n.
    """
    check_ndim("x", x, 2)
    cos, sin = rope_angles(x.shape[-2], x.shape[-1], base, offset)
    return x * cos.astype(x.dtype) + rotate_half(x) * sin.astype(x.dtype)


def rope_backward(dy, base=10000.0, offset=0):
    """dL/dx of y = rope(x): a rotation's gradient is the inverse rotation (by minus the angle),
    dx = dy cos - rotate_half(dy sin).  dy: (..., seq, d_head) -> dx of the same shape."""
    cos, sin = rope_angles(dy.shape[-2], dy.shape[-1], base, offset)
    return dy * cos.astype(dy.dtype) - rotate_half(dy * sin.astype(dy.dtype))
