"""Checkers for the exercises of chapter 07, Efficiency and compression.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict; an unanswered `...` gets "not yet", never an exception.
"""
from __future__ import annotations

import numpy as np
import torch

from minillm import scaling
from minillm.exercises import as_numbers, close, try_answer, verdict
from minillm.prune import magnitude_mask
from minillm.quantize import dequantize, quantize_per_channel

KV_CASES = [  # (n_layers, n_heads, d_head, seq, batch, bytes_per_number)
    (2, 4, 16, 64, 1, 4), (32, 32, 128, 4096, 1, 2), (12, 12, 64, 1024, 8, 2), (1, 1, 1, 1, 1, 1)]
FLOP_CASES = [(1_000_000, 1_000), (124_000_000, 300_000_000_000), (7, 3)]  # (n_params, n_tokens)


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


# ---- exercise 2: KV-cache bytes -------------------------------------------------------------
def check_kv_cache_bytes(kv_cache_bytes):
    """kv_cache_bytes(n_layers, n_heads, d_head, seq, batch, bytes_per_number) -> int."""
    for case in KV_CASES:
        answer, hint = try_answer(kv_cache_bytes, *case)
        if hint:
            return verdict(False, hint)
        want = 2 * int(np.prod(case))
        if answer == want / 2:
            return verdict(False, "the cache keeps keys AND values: two tensors per layer.")
        if answer != want:
            return verdict(False, f"for {case} expected {want:,} bytes, got {answer!r}.")
    gib = 2 * np.prod(KV_CASES[1]) / 2 ** 30
    return verdict(True, "", f"A 7B-sized model (32 layers × 32 heads × 128, fp16) needs "
                             f"{gib:.1f} GiB of cache for one 4096-token sequence.")


# ---- exercise 3: training FLOPs -------------------------------------------------------------
def check_training_flops(training_flops):
    """training_flops(n_params, n_tokens) -> float, ≈ 6 N D (within 10%, as the exercise asks)."""
    for n_params, n_tokens in FLOP_CASES:
        answer, hint = try_answer(training_flops, n_params, n_tokens)
        if hint:
            return verdict(False, hint)
        if as_numbers(answer) is None:
            return verdict(False, f"return one number, not {type(answer).__name__}.")
        want = scaling.training_flops(n_params, n_tokens)
        if np.isclose(answer, 2 * n_params * n_tokens):
            return verdict(False, "2N per token is the forward pass only; backward costs twice "
                                  "the forward.")
        if not np.isclose(answer, want, rtol=0.1, atol=0):
            return verdict(False, "each token costs 2N FLOPs forward and 4N backward.")
    return verdict(True, "", "6 N D: a hypothetical 124M-parameter model (GPT-2 small's size, "
                             "embeddings included) trained on 300B tokens would take "
                             f"{6 * FLOP_CASES[1][0] * FLOP_CASES[1][1]:.2e} FLOPs.")


# ---- exercise 4: a magnitude-pruning mask ---------------------------------------------------
def check_prune_mask(prune_mask):
    """prune_mask(w array, sparsity) -> bool array, False at the smallest-|w| entries."""
    for seed, sparsity in [(0, 0.5), (1, 0.25), (2, 0.9), (3, 0.0)]:
        w = _weights(seed)
        answer, hint = try_answer(prune_mask, w.copy(), sparsity)
        if hint:
            return verdict(False, hint)
        want = magnitude_mask(torch.tensor(w), sparsity).numpy()
        got = np.asarray(answer)
        if got.shape != w.shape:
            return verdict(False, f"return a mask shaped like w, {w.shape}.")
        if np.array_equal(got.astype(bool), ~want):
            return verdict(False, "True means KEEP: the large |w| survive.")
        if not np.array_equal(got.astype(bool), want):
            small = magnitude_mask(torch.tensor(w), sparsity).numpy()
            return verdict(False, "rank by |w| (absolute value), drop round(sparsity × size) "
                                  f"entries; expected {int((~small).sum())} False.")
    return verdict(True, "", "Your mask equals minillm.prune.magnitude_mask.")
