"""Checkers for the exercises of chapter 07, Efficiency and compression.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict; an unanswered `...` gets "not yet", never an exception.
"""
from __future__ import annotations

import numpy as np
import torch

from minillm import scaling
from minillm.distill import distillation_loss
from minillm.exercises import as_float, as_numbers, close, try_answer, verdict
from minillm.prune import magnitude_mask
from minillm.quantize import dequantize, quantize_per_channel

# (n_layers, n_heads, n_kv_heads, d_model, seq, batch, bytes_per_number)
KV_CASES = [(2, 4, 4, 64, 64, 1, 4), (2, 4, 1, 64, 50, 3, 4), (80, 64, 8, 8192, 4096, 1, 2),
            (12, 12, 12, 768, 1024, 8, 2), (1, 1, 1, 1, 1, 1, 1)]
LLAMA2_70B = KV_CASES[2]          # 80 layers, 64 query heads sharing 8 key/value heads
# (d_model, n_layers, d_ff, n_tokens)
FLOP_CASES = [(64, 2, 172, 1_000_000), (4096, 32, 11008, 2 * 10 ** 12), (8, 1, 24, 10)]
LLAMA2_7B = FLOP_CASES[1]         # Llama 2 7B's blocks, trained on 2 trillion tokens
KD_CASES = [(0, 2.0), (1, 3.0), (2, 1.0)]   # (seed, temperature); logits (5 positions, 7 tokens)


def _weights(seed, shape=(6, 10)):
    return np.random.default_rng(seed).standard_normal(shape)


# ---- exercise 1: int8 per-channel quantization ----------------------------------------------
def check_quantize_int8(quantize_int8):
    """quantize_int8(w (out, in) array) -> (q (out, in) ints, scale (out, 1) floats)."""
    for seed in range(4):
        w = _weights(seed)
        answer, hint = try_answer(quantize_int8, w.copy())
        if hint:
            return verdict(False, hint)
        try:
            q, scale = (np.asarray(a, dtype=float) for a in answer)
        except (TypeError, ValueError):
            return verdict(False, "return a pair (q, scale).")
        want_q, want_scale = quantize_per_channel(torch.tensor(w, dtype=torch.float32), 8)
        if scale.size == 1 and want_scale.numel() > 1:
            return verdict(False, "one scale per output channel (row): max|w| of that row / 127, "
                                  "not one for the whole matrix.")
        if not close(scale.reshape(-1), want_scale.reshape(-1).double().numpy(), atol=1e-6):
            return verdict(False, "scale = max over the row of |w|, divided by 127.")
        if q.shape != w.shape:
            return verdict(False, f"q has the shape of w, {w.shape}; yours has {q.shape}.")
        if not np.array_equal(q, np.round(q)):
            return verdict(False, "q must hold whole numbers: w / scale has fractions, and "
                                  "int8 stores none. Round it (np.round), then .astype(np.int8).")
        if not np.array_equal(q, want_q.double().numpy()):
            return verdict(False, "q = round(w / scale), an integer in [-127, 127].")
    error = np.abs(dequantize(want_q, want_scale).numpy() - w).max()
    return verdict(True, "", f"Your int8 weights equal minillm.quantize's; round-trip error "
                             f"{error:.4f} ≤ scale/2.")


# ---- exercise 2: KV-cache bytes with grouped-query attention --------------------------------
def _kv_bytes(n_layers, n_heads, n_kv_heads, d_model, seq, batch, bytes_per_number):
    return 2 * n_layers * n_kv_heads * (d_model // n_heads) * seq * batch * bytes_per_number


def check_kv_cache_bytes(kv_cache_bytes):
    """kv_cache_bytes(n_layers, n_heads, n_kv_heads, d_model, seq, batch, bytes_per_number) -> the
    bytes of keys and values cached: 2 · n_layers · n_kv_heads · (d_model / n_heads) · seq · batch
    · bytes_per_number."""
    for case in KV_CASES:
        n_layers, n_heads, n_kv_heads, d_model, seq, batch, nbytes = case
        answer, hint = try_answer(kv_cache_bytes, *case)
        if hint:
            return verdict(False, hint)
        got = as_float(answer)
        if got is None:
            return verdict(False, f"return one number (bytes), not {type(answer).__name__}.")
        want = _kv_bytes(*case)
        every_head = want * n_heads // n_kv_heads
        if np.isclose(got, want):
            continue
        if np.isclose(got, want / 2):
            return verdict(False, "the cache keeps keys AND values: two tensors per layer.")
        if n_kv_heads != n_heads and np.isclose(got, every_head):
            return verdict(False, "with grouped-query attention the query heads share the "
                                  "key/value heads: the cache holds n_kv_heads heads, not n_heads.")
        if np.isclose(got, want * n_heads):
            return verdict(False, "each head is d_head = d_model / n_heads numbers wide, "
                                  "not d_model.")
        return verdict(False, f"for {case} expected {want:,} bytes, got {answer!r}. Per token and "
                              "layer the cache keeps a key and a value for each key/value head.")
    gib = _kv_bytes(*LLAMA2_70B) / 2 ** 30
    return verdict(True, "", f"Llama 2 70B (80 layers, 64 query heads sharing 8 key/value heads, "
                             f"d_model 8192, fp16) caches {gib:.2f} GiB for one 4096-token "
                             f"sequence; with a key/value head per query head it would be "
                             f"{gib * 8:.0f} GiB.")


# ---- exercise 3: training FLOPs of a model you count yourself -------------------------------
def _block_weights(d_model, n_layers, d_ff, attention=4, ff=3):
    return n_layers * (attention * d_model * d_model + ff * d_model * d_ff)


def check_training_flops(training_flops):
    """training_flops(d_model, n_layers, d_ff, n_tokens) -> ≈ 6 N D with N the blocks' weights,
    N = n_layers · (4 d_model² + 3 d_model d_ff) (within 5%: norm gains may be counted or not)."""
    for d_model, n_layers, d_ff, n_tokens in FLOP_CASES:
        answer, hint = try_answer(training_flops, d_model, n_layers, d_ff, n_tokens)
        if hint:
            return verdict(False, hint)
        got = as_float(answer)
        if got is None:
            return verdict(False, f"return one number (FLOPs), not {type(answer).__name__}.")
        n = _block_weights(d_model, n_layers, d_ff)
        if np.isclose(got, scaling.training_flops(n, n_tokens), rtol=0.05, atol=0):
            continue
        mistakes = [
            (2 * n * n_tokens, "2N per token is the forward pass only; the backward pass costs "
                               "twice the forward."),
            (6 * n * n_tokens / n_layers, "every one of the n_layers blocks has its own weights."),
            (6 * _block_weights(d_model, n_layers, d_ff, ff=2) * n_tokens,
             "a SwiGLU feed-forward has three matrices (gate, up and down), not two."),
            (6 * _block_weights(d_model, n_layers, d_ff, attention=0) * n_tokens,
             "attention's four projections (q, k, v, out) are weights too."),
            (6 * _block_weights(d_model, n_layers, d_ff, ff=0) * n_tokens,
             "the feed-forward's three matrices are weights too."),
        ]
        for wrong, mistake in mistakes:      # a wrong formula that a case cannot tell from the
            if np.isclose(got, wrong, rtol=0.05, atol=0):      # right one was accepted above
                return verdict(False, mistake)
        return verdict(False, f"for d_model {d_model}, {n_layers} layer(s), d_ff {d_ff} and "
                              f"{n_tokens:,} tokens you gave {got:.3g}. Count N, the weights of "
                              "all the blocks, then price each training token (§4).")
    n = _block_weights(*LLAMA2_7B[:3])
    return verdict(True, "", f"Llama 2 7B's blocks hold N = {n / 1e9:.2f}e9 weights; its 2 "
                             f"trillion training tokens cost about {6 * n * LLAMA2_7B[3]:.1e} "
                             "FLOPs.")


# ---- exercise 4: a magnitude-pruning mask ---------------------------------------------------
def check_prune_mask(prune_mask):
    """prune_mask(w array, sparsity) -> bool array, False at the smallest-|w| entries."""
    for seed, sparsity in [(0, 0.5), (1, 0.25), (2, 0.9), (3, 0.0)]:
        w = _weights(seed)
        answer, hint = try_answer(prune_mask, w.copy(), sparsity)
        if hint:
            return verdict(False, hint)
        want = magnitude_mask(torch.tensor(w), sparsity).numpy()
        got = as_numbers(answer)
        if got is None or got.shape != w.shape:
            return verdict(False, f"return a mask shaped like w, {w.shape}.")
        if np.array_equal(got.astype(bool), ~want):
            return verdict(False, "True means KEEP: the large |w| survive.")
        if not np.array_equal(got.astype(bool), want):
            by_row = np.stack([magnitude_mask(torch.tensor(r), sparsity).numpy() for r in w])
            if np.array_equal(got.astype(bool), by_row):
                return verdict(False, "rank |w| over the whole matrix, not row by row: the "
                                      "smallest entries may sit in any rows.")
            signed = np.ones(w.size, dtype=bool)
            signed[np.argsort(w.ravel(), kind="stable")[:round(sparsity * w.size)]] = False
            if np.array_equal(got.astype(bool), signed.reshape(w.shape)):
                return verdict(False, "rank by |w| (absolute value): a large negative weight "
                                      "matters as much as a large positive one.")
            return verdict(False, f"drop the round(sparsity × size) = {int((~want).sum())} "
                                  "entries of smallest |w| over the whole matrix, keep the rest.")
    return verdict(True, "", "Your mask equals minillm.prune.magnitude_mask.")


# ---- exercise 5: the distillation loss ------------------------------------------------------
def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def check_kd_loss(kd_loss):
    """kd_loss(student_logits, teacher_logits, temperature) -> T² · KL(softmax(z_t/T) ‖
    softmax(z_s/T)), averaged over positions; logits: (positions, vocab) arrays."""
    for seed, temperature in KD_CASES:
        rng = np.random.default_rng(seed)
        student, teacher = rng.standard_normal((2, 5, 7)) * 2
        answer, hint = try_answer(kd_loss, student.copy(), teacher.copy(), temperature)
        if hint:
            return verdict(False, hint)
        got = as_float(answer)
        if got is None:
            return verdict(False, f"return one number (the loss), not {type(answer).__name__}.")
        want = float(distillation_loss(torch.tensor(student), torch.tensor(teacher), temperature))
        if np.isclose(got, want, rtol=1e-4, atol=1e-8):
            continue
        p_s, p_t = _softmax(student / temperature), _softmax(teacher / temperature)
        kl_rows = (p_t * (np.log(p_t) - np.log(p_s))).sum(-1)
        t2 = temperature ** 2
        reverse = t2 * (p_s * (np.log(p_s) - np.log(p_t))).sum(-1).mean()
        cold_s, cold_t = _softmax(student), _softmax(teacher)
        no_temperature = t2 * (cold_t * (np.log(cold_t) - np.log(cold_s))).sum(-1).mean()
        cross_entropy = t2 * -(p_t * np.log(p_s)).sum(-1).mean()
        mistakes = [
            (reverse, "that is KL(student ‖ teacher); the forward KL weights log(p_t / p_s) by "
                      "the teacher's p_t."),
            (kl_rows.mean(), "multiply by T²: without it the soft targets' gradient shrinks like "
                             "1/T²."),
            (no_temperature, "divide both logits by T before the softmax."),
            (t2 * kl_rows.sum(), "average over the positions (rows), do not add them up."),
            (cross_entropy, "that is the cross-entropy H(p_t, p_s) = KL + H(p_t): subtract the "
                            "teacher's entropy, or sum p_t · (log p_t − log p_s)."),
        ]
        for wrong, mistake in mistakes:
            if np.isclose(got, wrong, rtol=1e-4, atol=1e-8):
                return verdict(False, mistake)
        return verdict(False, f"for T = {temperature} expected {want:.4f}, got {got:.4f}.")
    return verdict(True, "", "Your loss equals minillm.distill.distillation_loss.")
