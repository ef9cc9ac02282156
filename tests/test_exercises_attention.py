"""Mistakes the attention chapter's checkers recognise (common checks: test_exercises.py)."""

import numpy as np
import pytest
from _helpers import rejects

from minillm.exercises.attention import (
    check_attention,
    check_combined_mask,
    check_scale,
    check_scores_grad,
)
from minillm.np import causal_mask, padding_mask, softmax

CHAPTER = "02-attention"  # the `solutions` fixture (conftest.py) loads its solutions.py


def test_attention_without_sqrt_dk_scaling_is_rejected(capsys):
    def unscaled(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -1, -2)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        weights = softmax(scores)
        return weights @ v, weights

    rejects(check_attention, unscaled, capsys, "sqrt(d_k)")


def test_attention_with_flipped_mask_polarity_is_rejected(solutions, capsys):
    def flipped(q, k, v, mask=None):
        return solutions.my_attention(q, k, v, None if mask is None else ~mask)

    rejects(check_attention, flipped, capsys, "polarity")


def test_attention_that_raises_becomes_a_hint(capsys):
    def broken(q, k, v, mask=None):
        return q @ k  # wrong shapes: (.., 5, 8) @ (.., 5, 8)

    rejects(check_attention, broken, capsys, "raised ValueError")


def test_combined_mask_with_flipped_polarity_is_rejected(solutions, capsys):
    rejects(check_combined_mask, lambda is_token: ~solutions.combined_mask(is_token), capsys,
             "polarity")


def test_combined_mask_with_or_instead_of_and_is_rejected(capsys):
    def either(is_token):
        return causal_mask(is_token.shape[1]) | padding_mask(is_token)

    rejects(check_combined_mask, either, capsys, "&")


def test_combined_mask_of_integers_is_rejected(solutions, capsys):
    rejects(check_combined_mask, lambda t: solutions.combined_mask(t).astype(int), capsys, "dtype")


@pytest.mark.parametrize("wrong", [1 / 16, 1 / 256, 8, 64, 1.0, "1/8"])
def test_scale_other_than_one_over_sqrt_d_head_is_rejected(wrong, capsys):
    rejects(check_scale, wrong, capsys, "Hint")


def test_scale_with_d_model_instead_of_d_head_gets_the_per_head_hint(capsys):
    rejects(check_scale, 1 / np.sqrt(768), capsys, "d_head = d_model / heads")


def test_scale_that_divides_by_d_head_gets_the_variance_hint(capsys):
    rejects(check_scale, 1 / 64, capsys, "standard deviation")


def test_scale_copied_from_the_chapter_gets_a_hint_to_count_terms(capsys):
    rejects(check_scale, 1 / 16, capsys, "how many terms")


def test_scale_computed_as_a_numpy_expression_is_accepted(capsys):
    assert check_scale(1 / np.sqrt(768 / 12))
    assert check_scale(np.float32(0.125))


def test_scores_grad_that_uses_the_plain_softmax_backward_is_rejected(capsys):
    # Section 7's formula with dlog in place of dweights: the log is forgotten.
    rejects(check_scores_grad,
            lambda w, dlog: w * (dlog - (dlog * w).sum(-1, keepdims=True)), capsys, "their log")


def test_scores_grad_that_stops_at_the_weights_is_rejected(capsys):
    rejects(check_scores_grad, lambda w, dlog: dlog / w, capsys, "go on through the softmax")


def test_scores_grad_that_ignores_the_normalising_sum_is_rejected(capsys):
    rejects(check_scores_grad, lambda w, dlog: dlog, capsys, "other scores")


def test_scores_grad_without_summing_over_the_row_is_rejected(capsys):
    rejects(check_scores_grad, lambda w, dlog: dlog - w * dlog, capsys, "whole row")


def test_scores_grad_by_the_chain_rule_through_section_7s_formula_is_accepted(capsys):
    def chain_rule(w, dlog):
        dweights = dlog / w
        return w * (dweights - (dweights * w).sum(-1, keepdims=True))

    assert check_scores_grad(chain_rule)
    assert "cross-entropy" in capsys.readouterr().out


def test_attention_that_calls_the_library_is_caught(capsys):
    import minillm.np

    def by_module(q, k, v, mask=None):
        return minillm.np.scaled_dot_product_attention(q, k, v, mask)

    rejects(check_attention, by_module, capsys, "calls minillm's")


def test_attention_that_calls_the_library_under_another_name_is_caught(capsys):
    from minillm.np.attention import scaled_dot_product_attention as sdpa

    namespace = {"sdpa": sdpa}
    exec("def renamed(q, k, v, mask=None):\n    return sdpa(q, k, v, mask)\n", namespace)
    rejects(check_attention, namespace["renamed"], capsys, "calls minillm's")
    assert namespace["sdpa"] is sdpa  # the checker puts the library function back


def test_attention_with_a_naive_softmax_gets_the_fully_masked_row_hint(capsys):
    def naive(q, k, v, mask=None):
        scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        with np.errstate(invalid="ignore"):
            e = np.exp(scores - scores.max(-1, keepdims=True))
            weights = e / e.sum(-1, keepdims=True)
        return weights @ v, weights

    rejects(check_attention, naive, capsys, "NaN")


def test_combined_mask_that_also_hides_pad_queries_is_accepted(capsys):
    def keys_and_queries(is_token):
        both = is_token[:, None, :, None] & is_token[:, None, None, :]
        return causal_mask(is_token.shape[1]) & both

    assert check_combined_mask(keys_and_queries)
    assert "pad queries" in capsys.readouterr().out
