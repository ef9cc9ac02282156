"""Mistakes the Transformer chapter's checkers recognise (common checks: test_exercises.py)."""

import numpy as np
import pytest
import torch
from _helpers import rejects

from minillm.exercises.transformer import (
    _causal_in_an_encoder,
    check_adam_update,
    check_article_mask,
    check_leak_test,
    check_rope_pairs,
    check_swiglu_d_ff,
)
from minillm.np import rope

CHAPTER = "03-transformer"  # the `solutions` fixture (conftest.py) loads its solutions.py


# ---- exercise 1: RoPE on neighbouring pairs ---------------------------------------------------


def test_rope_pairs_in_the_half_split_layout_is_rejected(capsys):
    rejects(check_rope_pairs, rope, capsys, "half-split")


def test_rope_pairs_turning_the_wrong_way_is_rejected(solutions, capsys):
    def backwards(x):
        flipped = x.copy()
        flipped[..., 1::2] *= -1               # reflect each pair, rotate, reflect back
        out = solutions.rope_pairs(flipped)
        out[..., 1::2] *= -1
        return out

    rejects(check_rope_pairs, backwards, capsys, "wrong way")


def test_rope_pairs_with_the_wrong_speeds_is_rejected(solutions, capsys):
    def per_dimension_speed(x):
        seq, d = x.shape[-2:]
        angle = np.arange(seq)[:, None] * 10000.0 ** (-np.arange(d // 2) / d)   # j, not 2j
        even, odd = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = even * np.cos(angle) - odd * np.sin(angle)
        out[..., 1::2] = even * np.sin(angle) + odd * np.cos(angle)
        return out

    rejects(check_rope_pairs, per_dimension_speed, capsys, "theta_j")


def test_rope_pairs_that_raises_becomes_a_hint(capsys):
    rejects(check_rope_pairs, lambda x: x @ np.ones(3), capsys, "raised ValueError")


# ---- exercise 2: SwiGLU's width ---------------------------------------------------------------


@pytest.mark.parametrize("wrong, hint_word", [(192, "three matrices"), (64, "TWO matrices"),
                                              (96, "Hint"), ("128", "string")])
def test_swiglu_width_other_than_128_is_rejected(wrong, hint_word, capsys):
    rejects(check_swiglu_d_ff, wrong, capsys, hint_word)


def test_swiglu_width_as_a_float_is_accepted(capsys):
    assert check_swiglu_d_ff(128.0)


# ---- exercise 3: the article's mask -----------------------------------------------------------


def test_article_mask_in_minillms_convention_is_rejected(capsys):
    rejects(check_article_mask, lambda n: torch.ones(n, n, dtype=torch.bool).tril(), capsys,
             "BLOCKED")


def test_article_mask_that_blocks_the_diagonal_is_rejected(capsys):
    rejects(check_article_mask, lambda n: torch.ones(n, n, dtype=torch.bool).triu(), capsys,
             "diagonal")


def test_article_mask_of_ones_and_zeros_is_rejected(capsys):
    rejects(check_article_mask, lambda n: torch.ones(n, n).triu(diagonal=1), capsys, "-inf")


def test_article_mask_as_pytorchs_float_mask_in_float32_or_float64_is_accepted(capsys):
    square_mask = torch.nn.Transformer.generate_square_subsequent_mask
    assert check_article_mask(square_mask)
    assert check_article_mask(lambda n: square_mask(n, dtype=torch.float64))
    assert capsys.readouterr().out.count("✅") == 2


@pytest.mark.parametrize("as_numpy", [
    lambda n: np.triu(np.full((n, n), -np.inf), 1),            # the float mask, in NumPy
    lambda n: np.triu(np.ones((n, n), dtype=bool), 1),         # the bool mask, in NumPy
])
def test_article_mask_as_a_numpy_array_is_rejected(as_numpy, capsys):
    # nn.TransformerEncoder refuses an ndarray mask ("must be None or torch.Tensor")
    rejects(check_article_mask, as_numpy, capsys, "torch tensor")


def test_article_mask_is_tried_in_a_real_encoder(solutions):
    ok, _ = _causal_in_an_encoder(solutions.article_mask(5))
    assert ok
    ok, hint = _causal_in_an_encoder(torch.ones(5, 5, dtype=torch.bool).tril())   # blocks the past
    assert not ok and "earlier output still moves" in hint
    ok, hint = _causal_in_an_encoder(solutions.article_mask(5)[None])              # (1, 5, 5)
    assert not ok and "refuses this mask" in hint


# ---- exercise 4: the leak test ----------------------------------------------------------------


def _leak_test(compare_outputs, positions):
    """A learner's leak test that changes token t + 1 for t in positions and compares
    compare_outputs(out, t) before and after."""
    def leaks_future(model, seq_len, vocab_size):
        ids = np.random.default_rng(0).integers(vocab_size, size=(1, seq_len))
        before = model(ids)
        for t in positions(seq_len):
            changed = ids.copy()
            changed[0, t + 1] = (ids[0, t + 1] + 1) % vocab_size
            if not np.allclose(compare_outputs(model(changed), t), compare_outputs(before, t)):
                return True
        return False
    return leaks_future


def test_leak_test_that_compares_every_output_is_rejected(capsys):
    every_output = _leak_test(lambda out, t: out, lambda n: range(n - 1))
    rejects(check_leak_test, every_output, capsys, "accuses a causal model")


def test_leak_test_that_changes_only_the_second_token_is_rejected(capsys):
    second_token_only = _leak_test(lambda out, t: out[:, : t + 1], lambda n: [0])
    rejects(check_leak_test, second_token_only, capsys, "every token in turn")


def test_leak_test_that_runs_prefixes_is_accepted(capsys):
    # Chapter 3's own leak test: output t from the prefix ids[:, :t + 1] equals output t of the
    # full run. The hidden models must take a prefix of any length, one token included.
    def prefix_truncation(model, seq_len, vocab_size):
        ids = np.random.default_rng(0).integers(vocab_size, size=(1, seq_len))
        full = model(ids)
        return any(not np.allclose(model(ids[:, : t + 1])[:, t], full[:, t])
                   for t in range(seq_len))

    assert check_leak_test(prefix_truncation)
    assert "✅" in capsys.readouterr().out


def test_leak_test_that_runs_prefixes_but_skips_short_ones_is_rejected(capsys):
    # Starting at prefixes of 3 tokens misses the model whose output 0 reads token 1.
    def from_three_tokens(model, seq_len, vocab_size):
        ids = np.random.default_rng(0).integers(vocab_size, size=(1, seq_len))
        full = model(ids)
        return any(not np.allclose(model(ids[:, : t + 1])[:, t], full[:, t])
                   for t in range(2, seq_len))

    rejects(check_leak_test, from_three_tokens, capsys, "output 0 reads token 1")


@pytest.mark.parametrize("constant", [True, False])
def test_leak_test_with_a_constant_answer_is_rejected(constant, capsys):
    rejects(check_leak_test, lambda model, seq_len, vocab_size: constant, capsys, "Hint")


def test_leak_test_returning_a_non_boolean_is_rejected(capsys):
    rejects(check_leak_test, lambda model, seq_len, vocab_size: "yes", capsys, "True or False")


def test_article_mask_with_a_huge_negative_instead_of_minus_inf_is_accepted(capsys):
    def minus_a_billion(n):
        return torch.zeros(n, n).masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), -1e9)

    def finfo_min(n):
        blocked = torch.ones(n, n, dtype=torch.bool).triu(1)
        return torch.zeros(n, n).masked_fill(blocked, torch.finfo(torch.float32).min)

    assert check_article_mask(minus_a_billion)
    assert check_article_mask(finfo_min)
    assert capsys.readouterr().out.count("✅") == 2


def test_article_mask_with_a_small_negative_is_rejected(capsys):
    rejects(check_article_mask,
            lambda n: torch.zeros(n, n).masked_fill(torch.ones(n, n).triu(1).bool(), -1.0),
            capsys, "nudges")


def test_leak_test_that_changes_only_the_first_and_the_last_tokens_is_rejected(capsys):
    # Two probes: change token 1 and compare output 0; change the last token and compare outputs
    # 0..seq_len-2. Both leaks at the ends are caught; a leak in the middle (output 3 reads token 4)
    # is not.
    two_probes = _leak_test(lambda out, t: out[:, : t + 1], lambda n: [0, n - 2])
    rejects(check_leak_test, two_probes, capsys, "output 3 reads token 4")


def test_leak_test_that_changes_every_other_token_is_rejected(capsys):
    every_other = _leak_test(lambda out, t: out[:, : t + 1], lambda n: range(0, n - 1, 2))
    rejects(check_leak_test, every_other, capsys, "output 3 reads token 4")


def test_leak_test_that_changes_only_the_last_token_is_rejected(capsys):
    last_token_only = _leak_test(lambda out, t: out[:, : t + 1], lambda n: [n - 2])
    rejects(check_leak_test, last_token_only, capsys, "output 0 reads token 1")


def test_leak_test_that_reads_the_models_name_is_rejected(capsys):
    def by_name(model, seq_len, vocab_size):
        name = getattr(model, "__name__", type(model).__name__)
        return not name.startswith("causal")

    rejects(check_leak_test, by_name, capsys, "accuses a causal model")


def test_leak_test_that_counts_its_calls_is_rejected(capsys):
    answers = iter([False, False, True, True, True, True, True] * 2)   # the first order's key
    rejects(check_leak_test, lambda model, seq_len, vocab_size: next(answers), capsys, "Hint")


# ---- exercise 5: Adam's step with its bias correction -----------------------------------------


def adam_with(correct_m=True, correct_v=True, t_shift=0, root=np.sqrt, g_power=2):
    """A learner's Adam step, right by default, with one slip switched on by an argument."""
    def adam_update(p, g, m, v, t, lr, betas=(0.9, 0.999), eps=1e-8):
        beta1, beta2 = betas
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**g_power
        m_hat = m / (1 - beta1 ** (t + t_shift)) if correct_m else m
        v_hat = v / (1 - beta2 ** (t + t_shift)) if correct_v else v
        return p - lr * m_hat / (root(v_hat) + eps), m, v
    return adam_update


def test_adam_update_the_reference_is_written_as_a_learner_would_passes(capsys):
    assert check_adam_update(adam_with())
    assert "✅" in capsys.readouterr().out


def test_adam_update_in_place_on_p_passes(capsys):
    def in_place(p, g, m, v, t, lr, betas=(0.9, 0.999), eps=1e-8):
        new_p, m, v = adam_with()(p, g, m, v, t, lr, betas, eps)
        p[...] = new_p
        return p, m, v

    assert check_adam_update(in_place)


@pytest.mark.parametrize("slip, hint_word", [
    (dict(correct_m=False, correct_v=False), "bias correction"),
    (dict(correct_v=False), "correct v too"),
    (dict(correct_m=False), "correct m too"),
    (dict(t_shift=1), "counting from 1"),
    (dict(t_shift=-1), "divided by 0"),
    (dict(root=lambda x: x), "square root"),
    (dict(g_power=1), "nan or inf"),
])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")     # the slips divide by 0, take sqrt(-1)
def test_adam_update_with_a_typical_slip_gets_its_hint(slip, hint_word, capsys):
    rejects(check_adam_update, adam_with(**slip), capsys, hint_word)


def test_adam_update_that_returns_only_p_is_rejected(capsys):
    rejects(check_adam_update, lambda p, g, m, v, t, lr, betas, eps: p - lr * g, capsys,
            "(p, m, v)")


def test_adam_update_with_the_wrong_betas_gets_the_formula(capsys):
    def swapped(p, g, m, v, t, lr, betas=(0.9, 0.999), eps=1e-8):
        return adam_with()(p, g, m, v, t, lr, betas[::-1], eps)

    rejects(check_adam_update, swapped, capsys, "beta1 * m + (1 - beta1) * g")
