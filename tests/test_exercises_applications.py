"""The applications chapter's exercise checkers accept the solutions and reject typical mistakes."""
import numpy as np
import pytest
from _helpers import load_solutions

from minillm.exercises.applications import check_aer, check_modified_precision, check_recall


@pytest.fixture(scope="module")
def solutions():
    return load_solutions("06-applications")


def test_modified_precision_accepts_the_solution_and_rejects_unclipped_counts(solutions, capsys):
    assert check_modified_precision(solutions.clipped_matches)

    def unclipped(candidate, reference, n):
        grams = [tuple(candidate[i:i + n]) for i in range(len(candidate) - n + 1)]
        ref = {tuple(reference[i:i + n]) for i in range(len(reference) - n + 1)}
        return sum(g in ref for g in grams), len(grams)

    assert not check_modified_precision(unclipped)
    assert "clipping" in capsys.readouterr().out


def test_aer_accepts_the_solution_and_rejects_one_minus_precision(solutions, capsys):
    assert check_aer(solutions.aer)
    assert not check_aer(lambda predicted, sure: 1 - len(predicted & sure) / len(predicted))
    assert "precision and recall" in capsys.readouterr().out


def test_recall_accepts_the_solution_and_rejects_precision(solutions, capsys):
    assert check_recall(solutions.recall_per_class)
    assert not check_recall(lambda m: np.diag(m) / np.asarray(m).sum(axis=0))
    assert "that is precision" in capsys.readouterr().out


def test_unsolved_placeholders_get_a_hint_not_an_error(capsys):
    def todo(*args):
        ...

    assert not check_modified_precision(...)
    assert not check_aer(todo)
    assert not check_recall(todo)
    assert capsys.readouterr().out.count("❌") == 3


def test_recall_typed_in_for_one_matrix_is_rejected_without_showing_the_answer(capsys):
    from minillm.exercises.applications import CONFUSION
    from minillm.metrics import per_class_recall

    typed_in = per_class_recall(CONFUSION).tolist()
    assert not check_recall(lambda m: typed_in)
    out = capsys.readouterr().out
    assert "❌" in out and "any matrix" in out
    assert str(np.round(typed_in, 3).tolist()) not in out
