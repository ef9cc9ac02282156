"""Mistakes the interpretability chapter's checkers recognise (common checks: test_exercises.py)."""
import numpy as np
from _helpers import rejects

from minillm.exercises.interpretability import (
    check_digit_mask,
    check_induction_score,
    check_previous_token_score,
)


def test_previous_token_sum_instead_of_mean_is_rejected(capsys):
    rejects(check_previous_token_score, lambda w: np.diagonal(w, -1).sum(), capsys, "average")


def test_induction_on_the_occurrence_itself_is_rejected(capsys):
    def on_copy(weights, ids):
        scores = [weights[i, [j for j in range(i) if ids[j] == ids[i]]].sum()
                  for i in range(len(ids)) if ids[i] in ids[:i]]
        return float(np.mean(scores))

    rejects(check_induction_score, on_copy, capsys, "AFTER")


def test_digit_mask_that_ignores_the_text_so_far_is_rejected(capsys):
    rejects(check_digit_mask, lambda texts, so_far: [t.isdigit() for t in texts], capsys,
            "text_so_far + token")


def test_digit_mask_that_divides_by_zero_gets_a_hint(capsys):
    rejects(check_digit_mask, lambda texts, so_far: 1 / 0, capsys, "ZeroDivisionError")


def test_induction_by_the_positional_shortcut_is_rejected(capsys):
    def fixed_distance(weights, ids):
        half = len(ids) // 2
        return float(np.mean([weights[i, i - half + 1] for i in range(half, len(ids))]))

    rejects(check_induction_score, fixed_distance, capsys, "positional shortcut")
