"""Checkers for the exercises of chapter 08, Interpretability and generalization.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict. The placeholder `...` (or a function whose body is still `...`) gets "not yet", never
an exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from minillm.constrained import allowed_tokens
from minillm.editing import rank_one_update
from minillm.exercises import as_float, as_numbers, try_answer, verdict
from minillm.interpret import attention_to, induction_targets, previous_token_targets


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


# ---- exercise 3: a mask for a rule that is not prefix-closed --------------------------------
NUMBER_TOKENS = ["7", "42", "x", " 1", "", "0", "3.5", ".", ".5", "5.", "99", "a1", "!"]
NUMBER_SO_FAR = ["", "12", "12.", "1.5", "1x"]


def is_number(text):
    """The rule of exercise 3: a decimal number, digits, one dot, digits ("3.14")."""
    return re.fullmatch(r"\d+\.\d+", text) is not None


def can_become_number(text):
    """True when some continuation of text is a decimal number: "", "12", "12." and "1.5" can,
    "." and "1.5." cannot."""
    return re.fullmatch(r"(\d+(\.\d*)?)?", text) is not None


def check_number_mask(mask_fn):
    """Exercise 3: mask_fn(token_texts, text_so_far) -> one bool per token, True where
    text_so_far + token can still be completed to a decimal number."""
    for text_so_far in NUMBER_SO_FAR:
        answer, hint = try_answer(mask_fn, list(NUMBER_TOKENS), text_so_far)
        if hint:
            return verdict(False, hint)
        try:
            got = [bool(a) for a in answer]
        except TypeError:
            return verdict(False, "return a list with one True/False per token.")
        expected = allowed_tokens(NUMBER_TOKENS, text_so_far, can_become_number).tolist()
        if got == expected:
            continue
        if len(got) != len(expected):
            return verdict(False, f"return one flag per token ({len(expected)}).")
        if text_so_far and got == [can_become_number(t) for t in NUMBER_TOKENS]:
            return verdict(False, f"check the whole text text_so_far + token: with "
                                  f"text_so_far={text_so_far!r} your flags look at the token "
                                  "alone.")
        wrong = [text_so_far + t for t, a, b in zip(NUMBER_TOKENS, got, expected) if a != b]
        # the most telling slip first: a text that is not a number yet but can become one
        not_yet = [t for t in wrong if can_become_number(t) and not is_number(t)]
        if not_yet:
            return verdict(False, f"{not_yet[0]!r} is not a decimal number yet, but it can still "
                                  "be completed (add digits, or a dot and digits): allow it. The "
                                  "mask asks 'can this still become valid?', not 'is it valid "
                                  "now?'.")
        if is_number(wrong[0]):
            return verdict(False, f"{wrong[0]!r} is a decimal number: allow it.")
        return verdict(False, f"{wrong[0]!r} can never become a decimal number (digits, one dot, "
                              "digits), whatever comes next: block it.")
    return verdict(True, "", "Your mask equals minillm.constrained.allowed_tokens with the prefix "
                             "rule 'can still become a decimal number'.")


# ---- exercise 4: the editing update --------------------------------------------------------
def rome_update(weight, key, value, cov):
    """The reference: minillm.editing.rank_one_update, on NumPy arrays."""
    update = rank_one_update(*(torch.as_tensor(a) for a in (weight, key, value, cov)))
    return update.numpy()


def _edit_case(seed, d_out=4, d_in=6):
    """W (d_out, d_in), k (d_in,), v (d_out,), C (d_in, d_in): keys with correlated features, so
    that C is far from the identity."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d_in, d_in))
    keys = rng.standard_normal((50, d_in)) @ mixing
    cov = keys.T @ keys / len(keys) + 0.01 * np.eye(d_in)
    return (rng.standard_normal((d_out, d_in)), rng.standard_normal(d_in),
            rng.standard_normal(d_out), cov)


def edit_cost(update, cov):
    """tr(ΔW C ΔWᵀ): the mean squared change of the outputs over keys with covariance C."""
    return float(np.trace(update @ cov @ update.T))


def _edit_hint(answer, weight, key, value, cov):
    """A hint for a wrong update, recognising the usual slips."""
    missing = value - weight @ key
    direction = np.linalg.solve(cov, key)
    expected = np.outer(missing, direction) / (direction @ key)
    if answer.shape == expected.T.shape and answer.shape != expected.shape:
        return ("ΔW has W's shape (d_out, d_in): np.outer(v - W @ k, C⁻¹k), the value's change "
                "times the key direction.")
    if answer.shape != expected.shape:
        return f"return ΔW with W's shape {expected.shape}, got {answer.shape}."
    if np.allclose(answer, weight + expected):
        return "return the update ΔW, not the new matrix W + ΔW."
    plain = np.outer(missing, key) / (key @ key)
    if np.allclose(answer, plain):
        return (f"your ΔW maps k to v, but along k itself (the C = I update): it costs "
                f"tr(ΔW C ΔWᵀ) = {edit_cost(plain, cov):.3f} on typical keys, the C⁻¹k update "
                f"{edit_cost(expected, cov):.3f}. Use the direction C⁻¹k = np.linalg.solve(C, k).")
    if np.allclose(answer, np.outer(missing, cov @ key) / (key @ cov @ key)):
        return "use C⁻¹k (np.linalg.solve(C, k)), not C @ k."
    if np.allclose(answer, np.outer(missing, direction)):
        return "divide by kᵀC⁻¹k, so that ΔW k = v - W k exactly."
    if np.allclose(answer, np.outer(value, direction) / (direction @ key)):
        return "ΔW k must add what is missing, v - W k, not v itself."
    if np.allclose((weight + answer) @ key, value, atol=1e-6):
        return (f"(W + ΔW) k = v holds, but this ΔW costs tr(ΔW C ΔWᵀ) = "
                f"{edit_cost(answer, cov):.3f} on typical keys; the least is "
                f"{edit_cost(expected, cov):.3f}, reached by (v - Wk)(C⁻¹k)ᵀ / (kᵀC⁻¹k).")
    return "(W + ΔW) @ k should equal v: ΔW = np.outer(v - W @ k, C⁻¹k) / (kᵀ C⁻¹k)."


def check_rome_update(update_fn):
    """Exercise 4: update_fn(W, k, v, C) -> ΔW (d_out, d_in), the rank-one update after which
    (W + ΔW) k = v that changes the outputs on typical keys (covariance C) least."""
    for seed in range(3):
        weight, key, value, cov = _edit_case(seed)
        answer, hint = try_answer(update_fn, weight.copy(), key.copy(), value.copy(), cov.copy())
        if hint:
            return verdict(False, hint)
        answer = as_numbers(answer)
        if answer is None:
            return verdict(False, "return ΔW as a NumPy array (d_out, d_in).")
        if answer.shape != weight.shape or not np.allclose(answer, rome_update(weight, key, value,
                                                                                cov), atol=1e-6):
            return verdict(False, _edit_hint(answer, weight, key, value, cov))
    weight, key, value, cov = _edit_case(0)
    plain = np.outer(value - weight @ key, key) / (key @ key)
    return verdict(True, "", f"Your update equals minillm.editing.rank_one_update. On typical keys "
                             f"it costs tr(ΔW C ΔWᵀ) = "
                             f"{edit_cost(rome_update(weight, key, value, cov), cov):.3f}; the "
                             f"plain update along k, which also maps k to v, costs "
                             f"{edit_cost(plain, cov):.3f}.")
