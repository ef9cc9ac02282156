"""Mistakes the experts chapter's checkers recognise (common checks: test_exercises.py)."""
import numpy as np
from _helpers import rejects

from minillm.exercises.experts import (
    check_balance_loss,
    check_moe_lm_params,
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


MIXTRAL = (4096, 14336, 32, 8, 2, 32, 8, 32000)


def test_moe_lm_params_recovers_mixtrals_reported_sizes(solutions, capsys):
    total, active = solutions.moe_lm_params(*MIXTRAL)
    assert round(total / 1e9, 1) == 46.7 and round(active / 1e9, 1) == 12.9
    assert check_moe_lm_params(solutions.moe_lm_params)
    out = capsys.readouterr().out
    assert "46.70 B total, 12.88 B active" in out and "not 56 B" in out


def test_moe_lm_params_accepts_leaving_out_norms_and_routers(solutions, capsys):
    def no_norms_or_router(d_model, d_ff, n_layers, n_experts, k, n_heads, n_kv_heads, vocab):
        attention = 2 * d_model * d_model + 2 * d_model * n_kv_heads * (d_model // n_heads)
        shared = n_layers * attention + 2 * vocab * d_model
        return (shared + n_layers * n_experts * 3 * d_model * d_ff,
                shared + n_layers * k * 3 * d_model * d_ff)

    assert check_moe_lm_params(no_norms_or_router)


def test_moe_lm_params_rejects_two_matrix_experts(solutions, capsys):
    def gelu_experts(d_model, d_ff, n_layers, n_experts, k, *rest):
        total, active = solutions.moe_lm_params(d_model, d_ff, n_layers, n_experts, k, *rest)
        return (total - n_layers * n_experts * d_model * d_ff,
                active - n_layers * k * d_model * d_ff)

    rejects(check_moe_lm_params, gelu_experts, capsys, "THREE matrices")


def test_moe_lm_params_rejects_full_key_value_heads(solutions, capsys):
    def no_gqa(d_model, d_ff, n_layers, n_experts, k, n_heads, n_kv_heads, vocab):
        return solutions.moe_lm_params(d_model, d_ff, n_layers, n_experts, k, n_heads, n_heads,
                                       vocab)

    rejects(check_moe_lm_params, no_gqa, capsys, "grouped-query")


def test_moe_lm_params_rejects_tied_or_missing_embeddings(solutions, capsys):
    def tied(d_model, d_ff, n_layers, n_experts, k, n_heads, n_kv_heads, vocab):
        total, active = solutions.moe_lm_params(d_model, d_ff, n_layers, n_experts, k, n_heads,
                                                n_kv_heads, vocab)
        return total - vocab * d_model, active - vocab * d_model

    def missing(d_model, d_ff, n_layers, n_experts, k, n_heads, n_kv_heads, vocab):
        return solutions.moe_lm_params(d_model, d_ff, n_layers, n_experts, k, n_heads,
                                       n_kv_heads, 0)

    rejects(check_moe_lm_params, tied, capsys, "not tied")
    rejects(check_moe_lm_params, missing, capsys, "input embedding and the output")


def test_moe_lm_params_rejects_an_active_count_of_the_experts_alone(solutions, capsys):
    def experts_only(d_model, d_ff, n_layers, n_experts, k, *rest):
        total, _ = solutions.moe_lm_params(d_model, d_ff, n_layers, n_experts, k, *rest)
        return total, n_layers * k * 3 * d_model * d_ff

    rejects(check_moe_lm_params, experts_only, capsys, "shared part")


def test_balance_loss_names_the_top1_and_per_token_conventions(solutions, capsys):
    def first_only(probs, experts):
        return solutions.balance_loss(probs, np.asarray(experts)[:, :1])

    def per_token(probs, experts):
        return solutions.balance_loss(probs, experts) * np.shape(experts)[1]

    rejects(check_balance_loss, first_only, capsys, "GShard")
    rejects(check_balance_loss, per_token, capsys, "tokens * k")


def test_balance_loss_success_does_not_call_1_a_minimum(solutions, capsys):
    assert check_balance_loss(solutions.balance_loss)
    out = capsys.readouterr().out
    assert "not its minimum" in out and "0.893" in out
    assert "gives 1.000, the same as a 2:2 split" in out


def test_route_that_renormalises_is_told_it_is_this_chapters_choice(solutions, capsys):
    def renormalised(logits, k):
        experts, gates = solutions.route(logits, k)
        return experts, gates / gates.sum(axis=1, keepdims=True)

    rejects(check_route, renormalised, capsys, "Mixtral")


def test_patchify_listing_each_patch_column_first_gets_the_reshape_hint(capsys):
    def column_first(image):
        return image.reshape(4, 2, 4, 2).transpose(0, 2, 3, 1).reshape(16, 4)

    rejects(check_patchify, column_first, capsys, "(4, 2, 4, 2)")
