"""Mistakes the applications chapter's checkers recognise (common checks: test_exercises.py)."""
import numpy as np
from _helpers import rejects

from minillm.exercises.applications import check_aer, check_modified_precision, check_recall


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
