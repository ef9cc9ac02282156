"""Mistakes the interpretability chapter's checkers recognise (common checks: test_exercises.py)."""
import re

import numpy as np
from _helpers import rejects

from minillm.exercises.interpretability import (
    check_induction_score,
    check_number_mask,
    check_previous_token_score,
    check_rome_update,
)


def test_previous_token_sum_instead_of_mean_is_rejected(capsys):
    rejects(check_previous_token_score, lambda w: np.diagonal(w, -1).sum(), capsys, "average")


def test_induction_on_the_occurrence_itself_is_rejected(capsys):
    def on_copy(weights, ids):
        scores = [weights[i, [j for j in range(i) if ids[j] == ids[i]]].sum()
                  for i in range(len(ids)) if ids[i] in ids[:i]]
        return float(np.mean(scores))

    rejects(check_induction_score, on_copy, capsys, "AFTER")


def test_induction_by_the_positional_shortcut_is_rejected(capsys):
    def fixed_distance(weights, ids):
        half = len(ids) // 2
        return float(np.mean([weights[i, i - half + 1] for i in range(half, len(ids))]))

    rejects(check_induction_score, fixed_distance, capsys, "positional shortcut")


def test_number_mask_that_asks_is_it_valid_now_is_rejected(capsys):
    def valid_now(texts, so_far):
        return [re.fullmatch(r"\d+\.\d+", so_far + t) is not None for t in texts]

    rejects(check_number_mask, valid_now, capsys, "can still be completed")


def test_number_mask_with_the_digits_only_rule_is_rejected(capsys):
    rejects(check_number_mask, lambda texts, so_far: [(so_far + t).isdigit() or so_far + t == ""
                                                      for t in texts], capsys, "still be")


def test_number_mask_that_allows_a_second_dot_is_rejected(capsys):
    def two_dots(texts, so_far):
        return [re.fullmatch(r"[\d.]*", so_far + t) is not None for t in texts]

    rejects(check_number_mask, two_dots, capsys, "can never become")


def test_number_mask_that_ignores_the_text_so_far_is_rejected(capsys):
    def token_alone(texts, so_far):
        return [re.fullmatch(r"(\d+(\.\d*)?)?", t) is not None for t in texts]

    rejects(check_number_mask, token_alone, capsys, "text_so_far + token")


def test_number_mask_that_divides_by_zero_gets_a_hint(capsys):
    rejects(check_number_mask, lambda texts, so_far: 1 / 0, capsys, "ZeroDivisionError")


def test_edit_along_the_key_itself_is_rejected_with_its_cost(capsys):
    rejects(check_rome_update, lambda W, k, v, C: np.outer(v - W @ k, k) / (k @ k), capsys,
            "np.linalg.solve(C, k)")


def test_edit_along_c_times_k_is_rejected(capsys):
    rejects(check_rome_update, lambda W, k, v, C: np.outer(v - W @ k, C @ k) / (k @ C @ k),
            capsys, "not C @ k")


def test_edit_without_the_normalisation_is_rejected(capsys):
    rejects(check_rome_update, lambda W, k, v, C: np.outer(v - W @ k, np.linalg.solve(C, k)),
            capsys, "divide by")


def test_edit_that_adds_v_instead_of_what_is_missing_is_rejected(capsys):
    def adds_v(W, k, v, C):
        direction = np.linalg.solve(C, k)
        return np.outer(v, direction) / (direction @ k)

    rejects(check_rome_update, adds_v, capsys, "v - W k")


def test_edit_returned_transposed_is_rejected(capsys):
    def transposed(W, k, v, C):
        direction = np.linalg.solve(C, k)
        return np.outer(direction, v - W @ k) / (direction @ k)

    rejects(check_rome_update, transposed, capsys, "(d_out, d_in)")


def test_edit_that_returns_the_new_matrix_is_rejected(capsys):
    def new_matrix(W, k, v, C):
        direction = np.linalg.solve(C, k)
        return W + np.outer(v - W @ k, direction) / (direction @ k)

    rejects(check_rome_update, new_matrix, capsys, "not the new matrix")


def test_edit_that_maps_k_to_v_another_way_is_told_its_cost(capsys):
    def other_direction(W, k, v, C):
        direction = k + np.ones_like(k)
        return np.outer(v - W @ k, direction) / (direction @ k)

    rejects(check_rome_update, other_direction, capsys, "the least is")
