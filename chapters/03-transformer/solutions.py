"""Solutions to the exercises of chapter 03, Transformer layers (try them yourself first!).

Import in the notebook with `import solutions` (the notebook runs in this folder), e.g.
`check_rope_pairs(solutions.rope_pairs)`.
"""
import numpy as np
import torch


def rope_pairs(x):
    """Exercise 1: RoPE on neighbouring pairs (x[2j], x[2j+1]), as in the RoPE paper."""
    seq, d = x.shape[-2:]
    theta = 10000.0 ** (-np.arange(0, d, 2) / d)          # (d/2,)
    angle = np.arange(seq)[:, None] * theta                # (seq, d/2)
    cos, sin = np.cos(angle), np.sin(angle)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


# Exercise 2: 2 * 48 * 192 = 3 * 48 * d_ff, so d_ff = 2/3 * 192 = 128.
swiglu_d_ff = 128


def article_mask(seq_len):
    """Exercise 3: nn.TransformerEncoder's boolean masks say True = blocked: the later keys."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool).triu(diagonal=1)


def leaks_future(model, seq_len, vocab_size):
    """Exercise 4: change token t + 1, for every t; did any output at positions 0..t move?"""
    ids = np.random.default_rng(0).integers(vocab_size, size=(1, seq_len))
    before = model(ids)
    for t in range(seq_len - 1):
        changed = ids.copy()
        changed[0, t + 1] = (ids[0, t + 1] + 1) % vocab_size
        if not np.allclose(model(changed)[:, : t + 1], before[:, : t + 1]):
            return True
    return False


def adam_update(p, g, m, v, t, lr, betas=(0.9, 0.999), eps=1e-8):
    """Exercise 5: one Adam step with the bias correction; t = 1, 2, ... counts the steps."""
    beta1, beta2 = betas
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    m_hat = m / (1 - beta1**t)             # m and v start at 0: undo their pull towards 0
    v_hat = v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
