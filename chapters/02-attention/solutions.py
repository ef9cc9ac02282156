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


# Exercise 3: each head sees d_head = 768 / 12 = 64 dimensions, so Var(q·k) = 64, the standard
# deviation is 8 and the scale is 1/8 (not 1/sqrt(768): a head's dot product has 64 terms).
scale = 1 / np.sqrt(768 // 12)


def scores_grad(weights, dlog):
    """Exercise 4: through log(softmax). The chain rule gives dL/dweights = dlog / weights;
    section 7's softmax backward, weights * (dweights - rowsum(dweights * weights)), then
    simplifies to dlog - weights * rowsum(dlog). (With dlog = -one-hot: weights - one-hot.)"""
    return dlog - weights * np.sum(dlog, axis=-1, keepdims=True)
