"""Solutions to the exercises of chapter 02, attention (try them yourself first!).

Import in the notebook with `import solutions` (the notebook runs in this folder), e.g.
`check_attention(solutions.my_attention)`.
"""
import numpy as np

from minillm.np import causal_mask, padding_mask, softmax


def my_attention(q, k, v, mask=None):
    """Exercise 1: softmax(q k^T / sqrt(d_k), masked) v; returns (out, weights)."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


def combined_mask(is_token):
    """Exercise 2: a decoder over a padded batch sees the past AND only real tokens."""
    return causal_mask(is_token.shape[1]) & padding_mask(is_token)


# Exercise 3: Var(q·k) = d_k = 256, so the standard deviation is 16 and the scale is 1/16.
scale = 1 / np.sqrt(256)


def scores_grad(weights, dweights):
    """Exercise 4: the softmax backward pass, dS = W * (dW - sum(dW * W) over the keys)."""
    return weights * (dweights - np.sum(dweights * weights, axis=-1, keepdims=True))
