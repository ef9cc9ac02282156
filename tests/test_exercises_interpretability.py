"""The interpretability chapter's exercise checkers accept the solutions and reject mistakes."""
import numpy as np
import pytest
from _helpers import load_solutions

from minillm.exercises.interpretability import (
    check_digit_mask,
    check_induction_score,
    check_previous_token_score,
)


@pytest.fixture(scope="module")
def solutions():
    return load_solutions("08-interpretability")


def test_solutions_pass(solutions):
    assert check_previous_token_score(solutions.previous_token_score)
    assert check_induction_score(solutions.induction_score)
    assert check_digit_mask(solutions.digit_mask)


def test_placeholders_get_a_hint_not_an_error(capsys):
    assert not check_previous_token_score(...)
    assert not check_induction_score(...)
    assert not check_digit_mask(...)
    assert capsys.readouterr().out.count("❌") == 3


def test_previous_token_sum_instead_of_mean_is_rejected(capsys):
    assert not check_previous_token_score(lambda w: np.diagonal(w, -1).sum())
    assert "average" in capsys.readouterr().out


def test_induction_on_the_occurrence_itself_is_rejected(capsys):
    def on_copy(weights, ids):
        scores = [weights[i, [j for j in range(i) if ids[j] == ids[i]]].sum()
                  for i in range(len(ids)) if ids[i] in ids[:i]]
        return float(np.mean(scores))

    assert not check_induction_score(on_copy)
    assert "AFTER" in capsys.readouterr().out


def test_digit_mask_that_ignores_the_text_so_far_is_rejected():
    assert not check_digit_mask(lambda texts, so_far: [t.isdigit() for t in texts])


def test_a_raising_answer_gets_a_hint(capsys):
    assert not check_digit_mask(lambda texts, so_far: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_induction_by_the_positional_shortcut_is_rejected(capsys):
    def fixed_distance(weights, ids):
        half = len(ids) // 2
        return float(np.mean([weights[i, i - half + 1] for i in range(half, len(ids))]))

    assert not check_induction_score(fixed_distance)
    out = capsys.readouterr().out
    assert "❌" in out and "positional shortcut" in out
