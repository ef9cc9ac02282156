"""Solutions to the exercises of chapter 07, Efficiency and compression (try them yourself first!).

Import in the notebook with `import solutions`, e.g.
`check_kv_cache_bytes(solutions.kv_cache_bytes)`.
"""
import numpy as np


def quantize_int8(w):
    """Exercise 1: one scale per row, max|w_row| / 127; q = round(w / scale)."""
    scale = np.abs(w).max(axis=1, keepdims=True) / 127
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def kv_cache_bytes(n_layers, n_heads, d_head, seq, batch, bytes_per_number):
    """Exercise 2: keys and values (2) for every layer, head, dimension, position and row."""
    return 2 * n_layers * n_heads * d_head * seq * batch * bytes_per_number


def training_flops(n_params, n_tokens):
    """Exercise 3: 2N forward + 4N backward per token."""
    return 6 * n_params * n_tokens


def prune_mask(w, sparsity):
    """Exercise 4: drop the round(sparsity * size) entries of smallest |w|."""
    order = np.argsort(np.abs(w).ravel(), kind="stable")
    keep = np.ones(w.size, dtype=bool)
    keep[order[:round(sparsity * w.size)]] = False
    return keep.reshape(w.shape)
