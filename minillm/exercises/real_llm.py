"""Checkers for the exercises of chapter 10, A real LLM, end to end.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict. The placeholder `...` (or a function whose body is still `...`) gets "not yet", never an
exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import numpy as np

from minillm.exercises import close, try_answer, verdict
from minillm.np.quants import dequantize_q8_0

# bits per stored number: the block's bytes * 8 / its 32 numbers
EXPECTED_BITS = {"Q8_0": 34 * 8 / 32, "Q4_1": 20 * 8 / 32, "Q4_0": 18 * 8 / 32, "F16": 16.0}
CODES_ONLY = {"Q8_0": 8.0, "Q4_1": 4.0, "Q4_0": 4.0, "F16": 16.0}


# ---- exercise 1: bits per weight ----------------------------------------------------------
def check_bits_per_weight(bits_per_weight):
    """Exercise 1: bits_per_weight(kind) -> bits per stored number, e.g. 5.0 for "Q4_1"."""
    for kind, expected in EXPECTED_BITS.items():
        answer, hint = try_answer(bits_per_weight, kind)
        if hint:
            return verdict(False, hint)
        try:
            answer = float(answer)
        except (TypeError, ValueError):
            return verdict(False, f"return a number of bits, got {answer!r} for {kind!r}.")
        if abs(answer - expected) < 1e-9:
            continue
        if kind != "F16" and abs(answer - CODES_ONLY[kind]) < 1e-9:
            return verdict(False, f"{kind} also stores float16 numbers for the whole block "
                                  "(d, and m for Q4_1): spread their bits over its 32 numbers.")
        return verdict(False, f"{kind}: count the bytes of one block of 32 numbers, times 8, "
                              "divided by 32.")
    return verdict(True, "", "Q8_0 8.5, Q4_1 5, Q4_0 4.5 and F16 16 bits per number.")


# ---- exercise 2: the KV cache with grouped-query attention --------------------------------
def _kv_bytes(n_layers, n_heads, n_kv_heads, d_head, seq, bytes_per_number):
    return 2 * n_layers * n_kv_heads * d_head * seq * bytes_per_number


def check_kv_cache_bytes(kv_cache_bytes):
    """Exercise 2: kv_cache_bytes(n_layers, n_heads, n_kv_heads, d_head, seq, bytes_per_number)
    -> bytes of keys and values kept for one sequence of seq tokens."""
    cases = [(30, 9, 3, 64, 1, 4), (30, 9, 3, 64, 2048, 2), (32, 32, 8, 128, 8192, 2),
             (2, 4, 4, 16, 10, 4)]
    for case in cases:
        answer, hint = try_answer(kv_cache_bytes, *case)
        if hint:
            return verdict(False, hint)
        expected = _kv_bytes(*case)
        if answer == expected:
            continue
        n_layers, n_heads, n_kv_heads, d_head, seq, size = case
        if answer == _kv_bytes(n_layers, n_heads, n_heads, d_head, seq, size):
            return verdict(False, "only the n_kv_heads shared key/value heads are cached, not "
                                  "one per query head.")
        if answer == expected // 2:
            return verdict(False, "the cache keeps keys AND values: two tensors per layer.")
        return verdict(False, f"for {case} expected {expected:,} bytes, got {answer!r}: "
                              "2 x layers x kv heads x d_head x tokens x bytes per number.")
    return verdict(True, "", "SmolLM2 keeps 46,080 bytes per token in float32.")


# ---- exercise 3: decode a Q8_0 block by hand -----------------------------------------------
def example_q8_0_blocks():
    """Three Q8_0 blocks (34 bytes each) with known scales and signed codes."""
    rng = np.random.default_rng(0)
    blocks = []
    for scale in (0.01, 0.5, 2.0):
        d = np.array([scale], dtype="<f2").view(np.uint8)
        q = rng.integers(-127, 128, size=32).astype(np.int8).view(np.uint8)
        blocks.append(np.concatenate([d, q]))
    return blocks


def check_decode_q8_0(decode_q8_0_block):
    """Exercise 3: decode_q8_0_block(raw: 34 uint8) -> 32 float32 numbers."""
    for raw in example_q8_0_blocks():
        answer, hint = try_answer(decode_q8_0_block, raw.copy())
        if hint:
            return verdict(False, hint)
        expected = dequantize_q8_0(raw)
        if close(answer, expected):
            continue
        unsigned = raw[:2].view("<f2").astype(np.float32) * raw[2:].astype(np.float32)
        if close(answer, unsigned):
            return verdict(False, "the 32 codes are SIGNED bytes (int8): view them as np.int8 "
                                  "before multiplying.")
        return verdict(False, "bytes 0-1 are d as a little-endian float16 (view('<f2')), bytes "
                              "2-33 the int8 codes q; return d * q as 32 float32 numbers.")
    return verdict(True, "", "Your decoder equals minillm.np.quants.dequantize_q8_0.")
