"""Mistakes the experts chapter's checkers recognise (common checks: test_exercises.py)."""
import numpy as np
from _helpers import rejects

from minillm.exercises.experts import (
    check_balance_loss,
    check_moe_params,
    check_patchify,
    check_route,
)

CHAPTER = "09-experts"  # the `solutions` fixture (conftest.py) loads its solutions.py


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
