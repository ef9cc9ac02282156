"""Mistakes the real-LLM chapter's checkers recognise (common checks: test_exercises.py)."""
import numpy as np
from _helpers import rejects

from minillm.exercises.real_llm import (
    check_bits_per_weight,
    check_decode_q8_0,
    check_kv_cache_bytes,
)

CHAPTER = "10-real-llm"  # the `solutions` fixture (conftest.py) loads its solutions.py


def test_bits_per_weight_rejects_forgetting_the_block_scales(capsys):
    codes_only = {"Q8_0": 8, "Q4_1": 4, "Q4_0": 4, "F16": 16}
    rejects(check_bits_per_weight, codes_only.get, capsys, "float16")


def test_kv_cache_rejects_one_cached_head_per_query_head(solutions, capsys):
    def per_query_head(n_layers, n_heads, n_kv_heads, d_head, seq, size):
        return solutions.kv_cache_bytes(n_layers, n_heads, n_heads, d_head, seq, size)

    rejects(check_kv_cache_bytes, per_query_head, capsys, "n_kv_heads")


def test_kv_cache_rejects_forgetting_the_values(solutions, capsys):
    def keys_only(*args):
        return solutions.kv_cache_bytes(*args) // 2

    rejects(check_kv_cache_bytes, keys_only, capsys, "AND values")


def test_decode_q8_0_rejects_unsigned_codes(capsys):
    def unsigned(raw):
        return raw[:2].view("<f2").astype(np.float32) * raw[2:].astype(np.float32)

    rejects(check_decode_q8_0, unsigned, capsys, "SIGNED")


def test_decode_q8_0_rejects_a_wrong_scale(solutions, capsys):
    rejects(check_decode_q8_0, lambda raw: 2 * solutions.decode_q8_0_block(raw), capsys,
            "float16")
