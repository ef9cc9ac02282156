"""Checkers for the exercises of chapter 10, A real LLM, end to end.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict. The placeholder `...` (or a function whose body is still `...`) gets "not yet", never an
exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import numpy as np

from minillm.exercises import as_float, close, try_answer, verdict
from minillm.np.quants import dequantize_q8_0

# bits per stored number: the bytes (or bits) stored for a block, times 8, over its numbers
EXPECTED_BITS = {"Q8_0": 34 * 8 / 32, "Q4_1": 20 * 8 / 32, "Q4_0": 18 * 8 / 32, "F16": 16.0,
                 "Q5_0": (16 + 32 * 5) / 32,                          # d; 4 + 1 bits per code
                 "Q4_K": (16 + 16 + 8 * (6 + 6) + 256 * 4) / 256}     # d, dmin; 8 x (s, m); codes
CODES_ONLY = {"Q8_0": 8.0, "Q4_1": 4.0, "Q4_0": 4.0, "F16": 16.0, "Q5_0": 5.0, "Q4_K": 4.0}
# the usual slips on the two formats that need thought
KNOWN_SLIPS = {
    "Q5_0": {4.5: "Q5_0's codes have 5 bits: 4 in a nibble (16 bytes for 32 codes) and the fifth "
                  "packed with the other 31 into 4 bytes."},
    "Q4_K": {4 + 32 / 256: "Q4_K's 8 sub-blocks each store a 6-bit scale and a 6-bit minimum too: "
                           "count them with d and dmin over the 256 numbers.",
             4 + (32 + 8 * 6) / 256: "each sub-block stores a 6-bit minimum as well as its 6-bit "
                                     "scale.",
             5.0: "Q4_K's sub-block scales and minimums are 6 bits each, not float16; only d and "
                  "dmin (one of each per 256 numbers) are float16."},
}


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
        for slip, slip_hint in KNOWN_SLIPS.get(kind, {}).items():
            if abs(answer - slip) < 1e-9:
                return verdict(False, slip_hint)
        if kind == "Q4_K" and abs(answer - CODES_ONLY[kind]) < 1e-9:
            return verdict(False, "Q4_K also stores d and dmin (float16) per 256 numbers and a "
                                  "6-bit scale and minimum per sub-block of 32.")
        if kind != "F16" and abs(answer - CODES_ONLY[kind]) < 1e-9:
            return verdict(False, f"{kind} also stores float16 numbers for the whole block "
                                  "(d, and m for Q4_1): spread their bits over its 32 numbers.")
        return verdict(False, f"{kind}: count the bits stored for one block (codes, scales and "
                              "minimums), divided by the numbers in the block.")
    return verdict(True, "", "Q8_0 8.5, Q4_1 5, Q4_0 4.5, Q5_0 5.5, Q4_K 4.5 and F16 16 bits per "
                             "number: Q5_0 costs more than Q4_1; Q4_K costs as little as Q4_0 yet "
                             "keeps a scale and a minimum for every 32 numbers, because it stores "
                             "them in 6 bits against one float16 pair per 256.")


# ---- exercise 2: calibrate with several content-free inputs (Zhao et al. 2021) -----------
def _contextual_threshold(content_free_log_odds):
    p_positive = 1 / (1 + np.exp(-np.asarray(content_free_log_odds, dtype=float)))
    mean = p_positive.mean()                      # average the PROBABILITIES, not the log-odds
    return float(np.log(mean) - np.log1p(-mean))


# content-free log-odds where the usual mistakes give clearly different thresholds
THRESHOLD_CASES = [[3.0, -1.0, 0.5], [4.0, 0.0, -2.0], [1.5, 2.5, -0.5], [0.8]]


def check_contextual_threshold(contextual_threshold):
    """Exercise 2: contextual_threshold(content_free_log_odds) -> the threshold on a review's
    log-odds log p(Positive) - log p(Negative) above which it is called positive."""
    for case in THRESHOLD_CASES:
        answer, hint = try_answer(contextual_threshold, np.array(case))
        if hint:
            return verdict(False, hint)
        value = as_float(answer)
        if value is None:
            return verdict(False, f"return one number (a threshold on the log-odds), got "
                                  f"{answer!r}.")
        expected = _contextual_threshold(case)
        if abs(value - expected) < 1e-6:
            continue
        if abs(value + expected) < 1e-6:
            return verdict(False, "the sign is flipped: a content-free input that leans positive "
                                  "must RAISE the threshold.")
        if abs(value - np.mean(case)) < 1e-6:
            return verdict(False, "you averaged the log-odds; Zhao et al. average the "
                                  "probabilities p(Positive) = sigmoid(log-odds) of the inputs, "
                                  "then take the log-odds of that average.")
        if abs(value - case[0]) < 1e-6 and len(case) > 1:
            return verdict(False, "use all the content-free inputs, not only the first.")
        if abs(value - (1 / (1 + np.exp(-np.asarray(case)))).mean()) < 1e-6:
            return verdict(False, "that is the mean probability; the threshold is on the "
                                  "log-odds scale: log(p / (1 - p)).")
        return verdict(False, f"for content-free log-odds {case} expected {expected:+.4f}, got "
                              f"{value:+.4f}.")
    return verdict(True, "", "For [3, -1, 0.5] the threshold is +0.47; averaging the log-odds "
                             "would give +0.83.")


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
