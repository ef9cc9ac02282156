"""Checkers for the exercises of chapter 08, Interpretability and generalization.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict. The placeholder `...` (or a function whose body is still `...`) gets "not yet", never
an exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import numpy as np
import torch

from minillm.constrained import allowed_tokens
from minillm.exercises import as_float, try_answer, verdict
from minillm.interpret import attention_to, induction_targets, previous_token_targets

TOKEN_TEXTS = ["7", "42", "x", " 1", "", "0", "3.5", "99", "a1", "!"]


def _random_attention(seed, seq=8):
    """A causal attention matrix (seq, seq): rows sum to 1, no weight on the future."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(seq, seq, generator=g) * 2
    scores = scores.masked_fill(~torch.ones(seq, seq, dtype=torch.bool).tril(), float("-inf"))
    return scores.softmax(dim=-1).numpy()


def _as_float(answer):
    value = as_float(answer)
    return value, None if value is not None else f"return one number, not {type(answer).__name__}."


# ---- exercise 1: previous-token score ------------------------------------------------------
def previous_token_score(weights):
    """The reference: mean over queries 1..seq-1 of weights[i, i - 1]."""
    w = torch.as_tensor(weights)[None, None]
    return attention_to(w, previous_token_targets(1, w.shape[-1])).item()


def check_previous_token_score(score_fn):
    """Exercise 1: score_fn(weights) -> the previous-token score of one (seq, seq) matrix."""
    for seed in range(4):
        weights = _random_attention(seed)
        answer, hint = try_answer(score_fn, weights.copy())
        if hint:
            return verdict(False, hint)
        value, hint = _as_float(answer)
        if hint:
            return verdict(False, hint)
        expected = previous_token_score(weights)
        if not np.isclose(value, expected, atol=1e-5):
            if np.isclose(value, np.diagonal(weights, -1).sum(), atol=1e-5):
                return verdict(False, "average over the queries that have a previous token, "
                                      "do not sum.")
            if np.isclose(value, np.diagonal(weights, -1).sum() / len(weights), atol=1e-5):
                return verdict(False, "query 0 has no previous token: divide by seq - 1.")
            return verdict(False, "take weights[i, i - 1] (row = query, column = key) for "
                                  "i = 1 .. seq - 1 and average.")
    return verdict(True, "", "Your score equals minillm.interpret.attention_to with "
                             "previous_token_targets.")


# ---- exercise 2: induction score -----------------------------------------------------------
def induction_score(weights, ids):
    """The reference: attention mass on the token after an earlier occurrence of the query's
    token, averaged over the queries whose token occurred before."""
    w = torch.as_tensor(weights)[None, None]
    return attention_to(w, induction_targets(torch.as_tensor(ids)[None])).item()


def _induction_case(seed, half=4):
    g = torch.Generator().manual_seed(100 + seed)
    first = torch.randperm(20, generator=g)[:half]
    return _random_attention(seed, 2 * half), torch.cat([first, first]).tolist()


# Sequences that are not one block repeated at a fixed distance: a token repeated inside the
# first half, a repeat that starts late, a partial repeat. There the induction targets are not
# at position i - seq/2 + 1, so only an answer that follows the tokens passes.
IRREGULAR_IDS = [[3, 7, 3, 9, 5, 7, 3, 9, 5, 2],
                 [11, 12, 1, 2, 3, 4, 5, 1, 2, 3],
                 [6, 8, 6, 8, 4, 6, 8, 4]]


def _irregular_cases():
    return [(_random_attention(10 + n, len(ids)), ids) for n, ids in enumerate(IRREGULAR_IDS)]


def _fixed_distance_shortcut(weights, ids):
    """The positional shortcut: weights[i, i - seq/2 + 1] averaged over the second half."""
    half = len(ids) // 2
    return float(np.mean([weights[i, i - half + 1] for i in range(half, len(ids))]))


def check_induction_score(score_fn):
    """Exercise 2: score_fn(weights, ids) -> the induction score of one (seq, seq) matrix over
    the token ids of a sequence that repeats: four sequences repeated exactly, then three
    irregular ones (IRREGULAR_IDS) that the positional shortcut gets wrong."""
    cases = [_induction_case(seed) for seed in range(4)] + _irregular_cases()
    for weights, ids in cases:
        answer, hint = try_answer(score_fn, weights.copy(), list(ids))
        if hint:
            return verdict(False, hint)
        value, hint = _as_float(answer)
        if hint:
            return verdict(False, hint)
        expected = induction_score(weights, ids)
        if not np.isclose(value, expected, atol=1e-5):
            same = torch.as_tensor(ids)[:, None] == torch.as_tensor(ids)[None]
            on_copy = (torch.as_tensor(weights) * (same & torch.ones_like(same).tril(-1))).sum(-1)
            if np.isclose(value, on_copy[len(ids) // 2:].mean().item(), atol=1e-5):
                return verdict(False, "look at the token AFTER the earlier occurrence (key j "
                                      "with ids[j - 1] == ids[i]), not the occurrence itself.")
            if np.isclose(value, _fixed_distance_shortcut(weights, ids), atol=1e-5):
                return verdict(False, f"on ids {list(ids)} the repeat is not one block at a fixed "
                                      "distance: key i - seq/2 + 1 is a positional shortcut. "
                                      "Follow the tokens: keys j <= i with ids[j - 1] == ids[i], "
                                      "for every query i whose token occurred before.")
            return verdict(False, "for each query i whose token appeared before, add the "
                                  "weights on keys j <= i with ids[j - 1] == ids[i]; average "
                                  "over those queries.")
    return verdict(True, "", "Your score equals minillm.interpret.attention_to with "
                             "induction_targets.")


# ---- exercise 3: a digits-only mask --------------------------------------------------------
def check_digit_mask(mask_fn):
    """Exercise 3: mask_fn(token_texts, text_so_far) -> one bool per token, True where the text
    stays digits only."""
    for text_so_far in ["", "12", "1x"]:
        answer, hint = try_answer(mask_fn, list(TOKEN_TEXTS), text_so_far)
        if hint:
            return verdict(False, hint)
        try:
            got = [bool(a) for a in answer]
        except TypeError:
            return verdict(False, "return a list with one True/False per token.")
        expected = allowed_tokens(TOKEN_TEXTS, text_so_far,
                                  lambda t: t == "" or t.isdigit()).tolist()
        if got != expected:
            if len(got) != len(expected):
                return verdict(False, f"return one flag per token ({len(expected)}).")
            wrong = [t for t, a, b in zip(TOKEN_TEXTS, got, expected) if a != b]
            return verdict(False, f"check the whole text text_so_far + token, e.g. for "
                                  f"text_so_far={text_so_far!r} your flags for {wrong} are wrong "
                                  "(a space, a dot or a letter is not a digit).")
    return verdict(True, "", "Your mask equals minillm.constrained.allowed_tokens with a "
                             "digits-only rule.")
