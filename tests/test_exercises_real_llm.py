"""Mistakes the real-LLM chapter's checkers recognise (common checks: test_exercises.py)."""
import numpy as np
from _helpers import rejects

from minillm.exercises.real_llm import (
    check_bits_per_weight,
    check_contextual_threshold,
    check_decode_q8_0,
)

CHAPTER = "10-real-llm"  # the `solutions` fixture (conftest.py) loads its solutions.py


def test_bits_per_weight_rejects_forgetting_the_block_scales(capsys):
    codes_only = {"Q8_0": 8, "Q4_1": 4, "Q4_0": 4, "F16": 16, "Q5_0": 5, "Q4_K": 4}
    rejects(check_bits_per_weight, codes_only.get, capsys, "float16")


def _except(solutions, kind, value):
    return lambda k: value if k == kind else solutions.bits_per_weight(k)


def test_bits_per_weight_rejects_a_q5_0_without_its_fifth_bits(solutions, capsys):
    rejects(check_bits_per_weight, _except(solutions, "Q5_0", 4.5), capsys, "fifth")


def test_bits_per_weight_rejects_a_q4_k_without_its_sub_block_scales(solutions, capsys):
    rejects(check_bits_per_weight, _except(solutions, "Q4_K", 4 + 32 / 256), capsys,
            "6-bit scale and a 6-bit minimum")


def test_bits_per_weight_rejects_a_q4_k_without_its_sub_block_minimums(solutions, capsys):
    rejects(check_bits_per_weight, _except(solutions, "Q4_K", 4 + 80 / 256), capsys,
            "minimum as well")


def test_bits_per_weight_rejects_float16_sub_block_scales_in_q4_k(solutions, capsys):
    rejects(check_bits_per_weight, _except(solutions, "Q4_K", 5.0), capsys, "not float16")


def test_bits_per_weight_rejects_q4_k_codes_only(solutions, capsys):
    rejects(check_bits_per_weight, _except(solutions, "Q4_K", 4.0), capsys, "dmin")


def test_contextual_threshold_rejects_averaging_the_log_odds(capsys):
    rejects(check_contextual_threshold, lambda scores: float(np.mean(scores)), capsys,
            "average the probabilities")


def test_contextual_threshold_rejects_a_flipped_sign(solutions, capsys):
    rejects(check_contextual_threshold, lambda s: -solutions.contextual_threshold(s), capsys,
            "sign")


def test_contextual_threshold_rejects_one_input_only(capsys):
    rejects(check_contextual_threshold, lambda scores: float(scores[0]), capsys, "all the")


def test_contextual_threshold_rejects_a_probability_for_a_threshold(capsys):
    def mean_probability(scores):
        return float((1 / (1 + np.exp(-np.asarray(scores)))).mean())

    rejects(check_contextual_threshold, mean_probability, capsys, "log-odds scale")


def test_decode_q8_0_rejects_unsigned_codes(capsys):
    def unsigned(raw):
        return raw[:2].view("<f2").astype(np.float32) * raw[2:].astype(np.float32)

    rejects(check_decode_q8_0, unsigned, capsys, "SIGNED")


def test_decode_q8_0_rejects_a_wrong_scale(solutions, capsys):
    rejects(check_decode_q8_0, lambda raw: 2 * solutions.decode_q8_0_block(raw), capsys,
            "float16")
