"""The efficiency chapter's exercise checkers accept the solutions and reject typical mistakes."""
import numpy as np
import pytest
from _helpers import load_solutions

from minillm.exercises.efficiency import (
    check_kv_cache_bytes,
    check_prune_mask,
    check_quantize_int8,
    check_training_flops,
)


@pytest.fixture(scope="module")
def solutions():
    return load_solutions("07-efficiency")


def test_checkers_accept_the_solutions(solutions):
    assert check_quantize_int8(solutions.quantize_int8)
    assert check_kv_cache_bytes(solutions.kv_cache_bytes)
    assert check_training_flops(solutions.training_flops)
    assert check_prune_mask(solutions.prune_mask)


def test_unanswered_exercises_get_a_hint_not_an_error(capsys):
    for check in (check_quantize_int8, check_kv_cache_bytes, check_training_flops,
                  check_prune_mask):
        assert not check(...)
    assert capsys.readouterr().out.count("❌") == 4


def test_typical_mistakes_are_rejected(capsys):
    def one_scale(w):
        scale = np.abs(w).max() / 127
        return np.round(w / scale), np.array([[scale]])

    assert not check_quantize_int8(one_scale)
    assert not check_kv_cache_bytes(lambda n_l, n_h, d, s, b, nb: n_l * n_h * d * s * b * nb)
    assert not check_training_flops(lambda n, d: 2 * n * d)
    assert not check_prune_mask(lambda w, s: np.abs(w) < np.quantile(np.abs(w), s))
    out = capsys.readouterr().out
    assert "one scale per output channel" in out and "keys AND values" in out
    assert "forward pass only" in out


def test_quantize_int8_without_rounding_is_rejected(capsys):
    def unrounded(w):
        scale = np.abs(w).max(axis=1, keepdims=True) / 127
        return w / scale, scale

    assert not check_quantize_int8(unrounded)
    out = capsys.readouterr().out
    assert "❌" in out and "whole numbers" in out


def test_quantize_int8_rounded_but_kept_as_floats_is_accepted(capsys):
    def rounded_floats(w):
        scale = np.abs(w).max(axis=1, keepdims=True) / 127
        return np.round(w / scale), scale

    assert check_quantize_int8(rounded_floats)


def test_training_flops_success_message_calls_the_300b_run_hypothetical(solutions, capsys):
    assert check_training_flops(solutions.training_flops)
    out = capsys.readouterr().out
    assert "hypothetical" in out and "GPT-2 small on 300B" not in out
