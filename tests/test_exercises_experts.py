"""The experts chapter's exercise checkers accept the solutions and reject typical mistakes."""
import numpy as np
import pytest
from _helpers import load_solutions, rejects, unanswered

from minillm.exercises.experts import (
    check_balance_loss,
    check_moe_params,
    check_patchify,
    check_route,
)


@pytest.fixture(scope="module")
def solutions():
    return load_solutions("09-experts")


def test_checkers_accept_the_solutions(solutions, capsys):
    assert check_route(solutions.route)
    assert check_balance_loss(solutions.balance_loss)
    assert check_patchify(solutions.patchify_2x2)
    assert check_moe_params(solutions.moe_params)
    assert capsys.readouterr().out.count("✅") == 4


@pytest.mark.parametrize("checker", [check_route, check_balance_loss, check_patchify,
                                     check_moe_params])
def test_unanswered_cells_get_a_todo_not_an_error(checker, capsys):
    rejects(checker, unanswered, capsys, "replace the `...`")


def test_route_rejects_raw_logits_and_renormalised_gates(solutions, capsys):
    def raw(logits, k):
        experts, _ = solutions.route(logits, k)
        return experts, np.take_along_axis(np.asarray(logits), experts, axis=1)

    def renormalised(logits, k):
        experts, gates = solutions.route(logits, k)
        return experts, gates / gates.sum(axis=1, keepdims=True)

    rejects(check_route, raw, capsys, "PROBABILITIES")
    rejects(check_route, renormalised, capsys, "renormalise")


def test_balance_loss_rejects_a_missing_factor(solutions, capsys):
    def no_factor(probs, experts):
        return solutions.balance_loss(probs, experts) / probs.shape[1]

    rejects(check_balance_loss, no_factor, capsys, "multiply by the number of experts")


def test_patchify_rejects_a_plain_reshape(capsys):
    rejects(check_patchify, lambda image: np.asarray(image).reshape(16, 4), capsys, "reshape")


def test_moe_params_rejects_counting_without_biases(capsys):
    def no_biases(d_model, d_ff, n_experts, k):
        expert = 2 * d_model * d_ff
        return n_experts * expert + d_model * n_experts, k * expert + d_model * n_experts

    rejects(check_moe_params, no_biases, capsys, "biases")


def test_balance_loss_success_does_not_call_1_a_minimum(solutions, capsys):
    assert check_balance_loss(solutions.balance_loss)
    out = capsys.readouterr().out
    assert "not its minimum" in out and "0.893" in out


def test_route_that_renormalises_is_told_it_is_this_chapters_choice(solutions, capsys):
    def renormalised(logits, k):
        experts, gates = solutions.route(logits, k)
        return experts, gates / gates.sum(axis=1, keepdims=True)

    rejects(check_route, renormalised, capsys, "Mixtral")


def test_patchify_listing_each_patch_column_first_gets_the_reshape_hint(capsys):
    def column_first(image):
        return image.reshape(4, 2, 4, 2).transpose(0, 2, 3, 1).reshape(16, 4)

    rejects(check_patchify, column_first, capsys, "(4, 2, 4, 2)")
