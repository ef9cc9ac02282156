"""Mistakes the applications chapter's checkers recognise (common checks: test_exercises.py)."""
import math

import numpy as np
from _helpers import rejects

from minillm.exercises.applications import (
    check_aer,
    check_modified_precision,
    check_pass_at_k,
    check_recall,
)

CHAPTER = "06-applications"  # the `solutions` fixture (conftest.py) loads its solutions.py


def test_modified_precision_without_clipping_is_rejected(capsys):
    def unclipped(candidate, reference, n):
        grams = [tuple(candidate[i:i + n]) for i in range(len(candidate) - n + 1)]
        ref = {tuple(reference[i:i + n]) for i in range(len(reference) - n + 1)}
        return sum(g in ref for g in grams), len(grams)

    rejects(check_modified_precision, unclipped, capsys, "clipping")


def test_aer_as_one_minus_precision_is_rejected(capsys):
    def one_minus_precision(predicted, sure, possible):
        return 1 - len(predicted & sure) / len(predicted)

    rejects(check_aer, one_minus_precision, capsys, "precision and recall")


def test_aer_that_ignores_the_possible_links_is_rejected(capsys):
    def sure_only(predicted, sure, possible):
        return 1 - 2 * len(predicted & sure) / (len(predicted) + len(sure))

    rejects(check_aer, sure_only, capsys, "only possible is no error")


def test_aer_as_one_minus_f1_is_rejected_with_och_and_neys_sum(capsys):
    def one_minus_f1(predicted, sure, possible):
        precision = len(predicted & possible) / len(predicted)
        recall = len(predicted & sure) / len(sure)
        return 1 - 2 * precision * recall / (precision + recall)

    rejects(check_aer, one_minus_f1, capsys, "add the two counts")


def test_recall_computed_as_precision_is_rejected(capsys):
    rejects(check_recall, lambda m: np.diag(m) / np.asarray(m).sum(axis=0), capsys,
            "that is precision")


def test_recall_typed_in_for_one_matrix_is_rejected_without_showing_the_answer(capsys):
    from minillm.exercises.applications import CONFUSION
    from minillm.metrics import per_class_recall

    typed_in = per_class_recall(CONFUSION).tolist()
    assert not check_recall(lambda m: typed_in)
    out = capsys.readouterr().out
    assert "❌" in out and "any matrix" in out
    assert str(np.round(typed_in, 3).tolist()) not in out


def test_pass_at_k_with_replacement_is_rejected(capsys):
    rejects(check_pass_at_k, lambda n, c, k: 1 - (1 - c / n) ** k, capsys, "with* replacement")


def test_pass_at_k_as_pass_at_one_is_rejected(capsys):
    rejects(check_pass_at_k, lambda n, c, k: c / n, capsys, "c/n is pass@1")


def test_pass_at_k_as_a_sum_of_chances_is_rejected(capsys):
    rejects(check_pass_at_k, lambda n, c, k: min(1.0, k * c / n), capsys, "do not add up")


def test_pass_at_k_without_the_complement_is_rejected(capsys):
    rejects(check_pass_at_k, lambda n, c, k: math.comb(n - c, k) / math.comb(n, k), capsys,
            "all k samples fail")


def test_pass_at_k_solution_agrees_with_a_simulation(solutions):
    rng = np.random.default_rng(1)
    n, c, k = 12, 3, 5
    drawn = np.array([rng.permutation(n)[:k] for _ in range(40_000)])
    assert abs((drawn < c).any(axis=1).mean() - solutions.pass_at_k(n, c, k)) < 0.01
