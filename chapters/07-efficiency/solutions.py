"""Solutions to the exercises of chapter 07, Efficiency and compression (try them yourself first!).

Import in the notebook with `import solutions`, e.g.
`check_kv_cache_bytes(solutions.kv_cache_bytes)`.
"""
import numpy as np


def quantize_int8(w):
    """Exercise 1: one scale per row, max|w_row| / 127; q = round(w / scale)."""
    scale = np.abs(w).max(axis=1, keepdims=True) / 127
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def kv_cache_bytes(n_layers, n_heads, n_kv_heads, d_model, seq, batch, bytes_per_number):
    """Exercise 2: keys and values (2) for every layer, key/value head, dimension of a head,
    position and row. The query heads share the n_kv_heads key/value heads, each d_model / n_heads
    wide."""
    d_head = d_model // n_heads
    return 2 * n_layers * n_kv_heads * d_head * seq * batch * bytes_per_number


def training_flops(d_model, n_layers, d_ff, n_tokens):
    """Exercise 3: N = the blocks' weights (attention's q, k, v, out: 4 d_model², SwiGLU's gate,
    up, down: 3 d_model d_ff, in each of n_layers blocks); then 2N forward + 4N backward per
    token."""
    n_params = n_layers * (4 * d_model * d_model + 3 * d_model * d_ff)
    return 6 * n_params * n_tokens


def prune_mask(w, sparsity):
    """Exercise 4: drop the round(sparsity * size) entries of smallest |w|."""
    order = np.argsort(np.abs(w).ravel(), kind="stable")
    keep = np.ones(w.size, dtype=bool)
    keep[order[:round(sparsity * w.size)]] = False
    return keep.reshape(w.shape)


def kd_loss(student_logits, teacher_logits, temperature):
    """Exercise 5: T² · KL(p_t ‖ p_s) with p = softmax(logits / T), averaged over positions."""
    def log_softmax(z):
        z = z / temperature
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    log_p_s, log_p_t = log_softmax(student_logits), log_softmax(teacher_logits)
    kl = (np.exp(log_p_t) * (log_p_t - log_p_s)).sum(axis=-1)
    return temperature ** 2 * kl.mean()
