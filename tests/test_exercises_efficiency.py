"""Mistakes the efficiency chapter's checkers recognise (common checks: test_exercises.py)."""
import numpy as np
from _helpers import rejects

from minillm.exercises.efficiency import (
    check_kv_cache_bytes,
    check_prune_mask,
    check_quantize_int8,
    check_training_flops,
)

CHAPTER = "07-efficiency"  # the `solutions` fixture (conftest.py) loads its solutions.py


def test_quantize_int8_with_one_scale_for_the_whole_matrix_is_rejected(capsys):
    def one_scale(w):
        scale = np.abs(w).max() / 127
        return np.round(w / scale), np.array([[scale]])

    rejects(check_quantize_int8, one_scale, capsys, "one scale per output channel")


def test_kv_cache_without_the_values_is_rejected(capsys):
    rejects(check_kv_cache_bytes, lambda n_l, n_h, d, s, b, nb: n_l * n_h * d * s * b * nb,
            capsys, "keys AND values")


def test_training_flops_of_the_forward_pass_only_are_rejected(capsys):
    rejects(check_training_flops, lambda n, d: 2 * n * d, capsys, "forward pass only")


def test_training_flops_within_ten_percent_are_accepted_and_farther_rejected(capsys):
    assert check_training_flops(lambda n, d: 1.05 * 6 * n * d)      # "about", as the text asks
    assert check_training_flops(lambda n, d: 0.95 * 6 * n * d)
    rejects(check_training_flops, lambda n, d: 8 * n * d, capsys, "4N backward")


def test_prune_mask_that_keeps_the_small_weights_is_rejected(capsys):
    rejects(check_prune_mask, lambda w, s: np.abs(w) < np.quantile(np.abs(w), s), capsys,
            "True means KEEP")


def test_quantize_int8_without_rounding_is_rejected(capsys):
    def unrounded(w):
        scale = np.abs(w).max(axis=1, keepdims=True) / 127
        return w / scale, scale

    rejects(check_quantize_int8, unrounded, capsys, "whole numbers")


def test_quantize_int8_rounded_but_kept_as_floats_is_accepted(capsys):
    def rounded_floats(w):
        scale = np.abs(w).max(axis=1, keepdims=True) / 127
        return np.round(w / scale), scale

    assert check_quantize_int8(rounded_floats)


def test_training_flops_success_message_calls_the_300b_run_hypothetical(solutions, capsys):
    assert check_training_flops(solutions.training_flops)
    out = capsys.readouterr().out
    assert "hypothetical" in out and "GPT-2 small on 300B" not in out
