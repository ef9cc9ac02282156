"""Solutions to the exercises of chapter 09, Domain experts and mixture of experts (try them
yourself first!).

Import in the notebook with `import solutions` (the notebook runs in this folder), e.g.
`check_route(solutions.route)`.
"""
import numpy as np


def route(logits, k):
    """Exercise 1: softmax over all experts, keep the k most probable (most probable first)."""
    logits = np.asarray(logits, dtype=float)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    experts = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return experts, np.take_along_axis(probs, experts, axis=1)


def balance_loss(probs, experts):
    """Exercise 2: n_experts * sum_i f_i * P_i."""
    n_experts = probs.shape[1]
    f = np.bincount(np.ravel(experts), minlength=n_experts) / np.size(experts)
    return float(n_experts * np.sum(f * probs.mean(axis=0)))


def patchify_2x2(image):
    """Exercise 3: split rows and columns into (block, offset) pairs, bring the blocks first."""
    blocks = np.asarray(image).reshape(4, 2, 4, 2)        # (block row, row, block col, col)
    return blocks.transpose(0, 2, 1, 3).reshape(16, 4)


def moe_lm_params(d_model, d_ff, n_layers, n_experts, k, n_heads, n_kv_heads, vocab_size):
    """Exercise 4: (all weights of a Mixtral-style model, the weights one token uses)."""
    d_head = d_model // n_heads
    attention = 2 * d_model * d_model + 2 * d_model * n_kv_heads * d_head   # q, o; k, v
    expert = 3 * d_model * d_ff                                             # SwiGLU: gate, up, down
    router, norms = d_model * n_experts, 2 * d_model
    shared = n_layers * (attention + router + norms) + d_model + 2 * vocab_size * d_model
    return shared + n_layers * n_experts * expert, shared + n_layers * k * expert
