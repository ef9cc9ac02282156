"""Mistakes the efficiency chapter's checkers recognise (common checks: test_exercises.py)."""
import numpy as np
import pytest
import torch
from _helpers import rejects

from minillm.exercises.efficiency import (
    check_kd_loss,
    check_kv_cache_bytes,
    check_prune_mask,
    check_quantize_int8,
    check_training_flops,
)

CHAPTER = "07-efficiency"  # the `solutions` fixture (conftest.py) loads its solutions.py


def test_quantize_int8_with_one_scale_for_the_whole_matrix_is_rejected(capsys):
    def one_scale(w):
        scale = np.abs(w).max() / 127
        return np.round(w / scale), np.array([[scale]])

    rejects(check_quantize_int8, one_scale, capsys, "one scale per output channel")


def test_quantize_int8_without_rounding_is_rejected(capsys):
    def unrounded(w):
        scale = np.abs(w).max(axis=1, keepdims=True) / 127
        return w / scale, scale

    rejects(check_quantize_int8, unrounded, capsys, "whole numbers")


def test_quantize_int8_rounded_but_kept_as_floats_is_accepted(capsys):
    def rounded_floats(w):
        scale = np.abs(w).max(axis=1, keepdims=True) / 127
        return np.round(w / scale), scale

    assert check_quantize_int8(rounded_floats)


# ---- exercise 2: the KV cache with grouped-query attention ----------------------------------
def test_kv_cache_without_the_values_is_rejected(capsys):
    rejects(check_kv_cache_bytes,
            lambda n_l, n_h, n_kv, d, s, b, nb: n_l * n_kv * (d // n_h) * s * b * nb,
            capsys, "keys AND values")


def test_kv_cache_with_a_key_value_head_per_query_head_is_rejected(capsys):
    rejects(check_kv_cache_bytes,
            lambda n_l, n_h, n_kv, d, s, b, nb: 2 * n_l * n_h * (d // n_h) * s * b * nb,
            capsys, "n_kv_heads heads, not n_heads")


def test_kv_cache_with_d_model_wide_heads_is_rejected(capsys):
    rejects(check_kv_cache_bytes,
            lambda n_l, n_h, n_kv, d, s, b, nb: 2 * n_l * n_kv * d * s * b * nb,
            capsys, "d_model / n_heads")


def test_kv_cache_as_a_float_is_accepted(capsys):
    assert check_kv_cache_bytes(lambda n_l, n_h, n_kv, d, s, b, nb:
                                2.0 * n_l * n_kv * d / n_h * s * b * nb)


# ---- exercise 3: training FLOPs, N counted from the shape -----------------------------------
def _flops(attention=4, ff=3, per_token=6, layers=True):
    def training_flops(d_model, n_layers, d_ff, n_tokens):
        n = (n_layers if layers else 1) * (attention * d_model ** 2 + ff * d_model * d_ff)
        return per_token * n * n_tokens
    return training_flops


def test_training_flops_of_the_forward_pass_only_are_rejected(capsys):
    rejects(check_training_flops, _flops(per_token=2), capsys, "forward pass only")


def test_training_flops_of_one_block_are_rejected(capsys):
    rejects(check_training_flops, _flops(layers=False), capsys, "n_layers blocks")


def test_training_flops_with_a_two_matrix_feed_forward_are_rejected(capsys):
    rejects(check_training_flops, _flops(ff=2), capsys, "three matrices")


def test_training_flops_without_attention_are_rejected(capsys):
    rejects(check_training_flops, _flops(attention=0), capsys, "four projections")


def test_training_flops_with_8_per_token_are_rejected_without_giving_the_formula_away(capsys):
    assert not check_training_flops(_flops(per_token=8))
    out = capsys.readouterr().out
    assert "Count N" in out and "6N" not in out and "6 N" not in out


def test_training_flops_with_the_norm_gains_counted_are_accepted(capsys):
    def with_norms(d_model, n_layers, d_ff, n_tokens):
        n = n_layers * (4 * d_model ** 2 + 3 * d_model * d_ff + 2 * d_model) + d_model
        return 6 * n * n_tokens

    assert check_training_flops(with_norms)


def test_training_flops_success_message_names_llama_2_7b(solutions, capsys):
    assert check_training_flops(solutions.training_flops)
    assert "Llama 2 7B" in capsys.readouterr().out


# ---- exercise 4: the pruning mask -----------------------------------------------------------
def test_prune_mask_that_keeps_the_small_weights_is_rejected(capsys):
    rejects(check_prune_mask, lambda w, s: np.abs(w) < np.quantile(np.abs(w), s), capsys,
            "True means KEEP")


def test_prune_mask_ranked_row_by_row_is_rejected(capsys):
    def by_row(w, sparsity):
        keep = np.ones_like(w, dtype=bool)
        for r, row in enumerate(np.abs(w)):
            keep[r, np.argsort(row, kind="stable")[:round(sparsity * row.size)]] = False
        return keep

    rejects(check_prune_mask, by_row, capsys, "whole matrix, not row by row")


def test_prune_mask_ranked_by_signed_value_is_rejected(capsys):
    def signed(w, sparsity):
        keep = np.ones(w.size, dtype=bool)
        keep[np.argsort(w.ravel(), kind="stable")[:round(sparsity * w.size)]] = False
        return keep.reshape(w.shape)

    rejects(check_prune_mask, signed, capsys, "absolute value")


# ---- exercise 5: the distillation loss ------------------------------------------------------
def _log_softmax(z):
    return z - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - z.max(-1, keepdims=True)


def test_kd_loss_with_the_reverse_kl_is_rejected(capsys):
    def reverse(s, t, temperature):
        log_s, log_t = _log_softmax(s / temperature), _log_softmax(t / temperature)
        return temperature ** 2 * (np.exp(log_s) * (log_s - log_t)).sum(-1).mean()

    rejects(check_kd_loss, reverse, capsys, "KL(student ‖ teacher)")


def test_kd_loss_without_t_squared_is_rejected(capsys):
    def no_t2(s, t, temperature):
        log_s, log_t = _log_softmax(s / temperature), _log_softmax(t / temperature)
        return (np.exp(log_t) * (log_t - log_s)).sum(-1).mean()

    rejects(check_kd_loss, no_t2, capsys, "multiply by T²")


def test_kd_loss_as_a_cross_entropy_is_rejected(capsys):
    def cross_entropy(s, t, temperature):
        log_s, log_t = _log_softmax(s / temperature), _log_softmax(t / temperature)
        return temperature ** 2 * -(np.exp(log_t) * log_s).sum(-1).mean()

    rejects(check_kd_loss, cross_entropy, capsys, "teacher's entropy")


def test_kd_loss_in_torch_is_accepted(capsys):
    def in_torch(s, t, temperature):
        log_s = torch.log_softmax(torch.tensor(s) / temperature, -1)
        log_t = torch.log_softmax(torch.tensor(t) / temperature, -1)
        return temperature ** 2 * torch.nn.functional.kl_div(log_s, log_t, log_target=True,
                                                             reduction="batchmean")

    assert check_kd_loss(in_torch)


# ---- no checker raises, whatever the answer -------------------------------------------------
@pytest.mark.parametrize("checker", [check_kv_cache_bytes, check_training_flops, check_kd_loss])
@pytest.mark.parametrize("answer", [[1.0, 2.0], np.array([1, 2]), (3, 4), {"a": 1}, "12",
                                    np.array([[1.0]]), torch.tensor([1.0, 2.0]), float("nan")])
def test_a_number_checker_gives_a_hint_for_anything_but_one_number(checker, answer, capsys):
    rejects(checker, lambda *args: answer, capsys, "Hint")
