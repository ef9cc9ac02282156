"""Checkers for the exercises of chapter 02, attention.

Each checker takes the learner's answer (a function or a number), prints ✅ or ❌ with a hint and
returns True/False. The placeholder `...` (or a function whose body is still `...`, which returns
None) gets "not yet", never an exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import contextlib
import sys

import numpy as np

import minillm.np.attention as minillm_np_attention
from minillm.exercises import TODO, close, is_unanswered, try_answer, verdict
from minillm.np import causal_mask, padding_mask, scaled_dot_product_attention, softmax_backward


def check_attention(my_attention):
    """Exercise 1: my_attention(q, k, v, mask=None) -> (out, weights), the library's formula.

    Tried on random q, k, v (batch 2, heads 3, seq 5, d_head 8): without a mask, with a causal
    mask, and with causal AND padding masks where a pad query at the start of a left-padded row
    sees no key at all (weights 0, not NaN). An answer that hands the work to minillm's own
    scaled_dot_product_attention is caught calling it, however it was imported.
    """
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 3, 5, 8)) for _ in range(3))
    causal = causal_mask(5)
    left_padded = causal & padding_mask(np.array([[True] * 5, [False, False, True, True, True]]))
    masks = [None, causal, left_padded]
    unscaled = scaled_dot_product_attention(q, k, v, scale=1.0)
    inverted = scaled_dot_product_attention(q, k, v, ~causal)
    for mask in masks:
        args = (q, k, v) if mask is None else (q, k, v, mask)
        with _spy_on_library(my_attention) as calls:
            answer, hint = try_answer(my_attention, *args)
        if hint:
            return verdict(False, hint)
        if calls:
            return verdict(False, "your function calls minillm's scaled_dot_product_attention; "
                                  "write the formula yourself (scores, mask, softmax, @ v).")
        if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
            return verdict(False, "return a pair (out, weights), like the library does.")
        if _same(answer, unscaled):
            return verdict(False, "the scores need dividing by sqrt(d_k) = sqrt(q.shape[-1]) "
                                  "before the softmax.")
        if _same(answer, inverted):
            return verdict(False, "mask polarity: in minillm True = may attend, so the scores "
                                  "where the mask is False become -inf.")
        want = scaled_dot_product_attention(q, k, v, mask)
        if mask is left_padded and _nan_only_where_nothing_is_seen(answer[1], want[1]):
            return verdict(False, "a query that may attend to no key at all (a pad query at the "
                                  "start of a left-padded row) has a row of -inf scores, and a "
                                  "plain exp(s) / sum(exp(s)) gives 0/0 = NaN there. Its weights "
                                  "should be 0: use minillm.np.softmax, or handle that row.")
        if not close(answer[1], want[1]):
            return verdict(False, "the weights are off: softmax(q @ k^T / sqrt(d_k)) over the last "
                                  "axis (the keys), with masked scores set to -inf first.")
        if not close(answer[0], want[0]):
            return verdict(False, "the weights are right but out is not: out = weights @ v.")
    return verdict(True, "", "Your attention equals minillm.np.scaled_dot_product_attention, "
                             "fully masked rows included.")


def check_combined_mask(combined_mask):
    """Exercise 2: combined_mask(is_token) -> bool mask for a decoder over a padded batch.

    is_token: (batch, seq) bool, True = real token. The answer must broadcast to
    (batch, heads, seq, seq), True = may attend: causal AND not padding.
    """
    is_token = np.array([[True, True, True, True, False, False],
                         [False, True, True, True, True, True]])
    answer, hint = try_answer(combined_mask, is_token)
    if hint:
        return verdict(False, hint)
    answer = np.asarray(answer)
    want = causal_mask(6) & padding_mask(is_token)
    try:
        answer = np.broadcast_to(answer, want.shape)
    except ValueError:
        return verdict(False, f"a mask of shape {answer.shape} does not broadcast to "
                              f"(batch, heads, seq, seq) = {want.shape}; padding_mask(is_token) "
                              "has shape (batch, 1, 1, seq).")
    if answer.dtype != bool:
        return verdict(False, f"masks are boolean (True = may attend); yours has dtype "
                              f"{answer.dtype}.")
    if np.array_equal(answer, ~want):
        return verdict(False, "the polarity is flipped: in minillm True = may attend.")
    if np.array_equal(answer, causal_mask(6) | padding_mask(is_token)):
        return verdict(False, "a key must pass both tests (in the past AND a real token): "
                              "use &, not |.")
    if np.array_equal(answer, want & is_token[:, None, :, None]):
        return verdict(True, "", "Causal and padding masks combined correctly; hiding the pad "
                                 "queries too is fine (their outputs are never used, and "
                                 "minillm gives a query that sees nothing weights 0).")
    if not np.array_equal(answer, want):
        return verdict(False, "combine minillm.np.causal_mask(seq) with "
                              "minillm.np.padding_mask(is_token).")
    return verdict(True, "", "Causal and padding masks combined correctly.")


def check_scale(scale):
    """Exercise 3: the factor that brings the variance of one head's q·k back to 1, when
    d_model = 768 is split into 12 heads: d_head = 64, so the factor is 1/sqrt(64) = 1/8."""
    if is_unanswered(scale):
        return verdict(False, TODO)
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        return verdict(False, f"give a number, not {type(scale).__name__}.")
    if np.isclose(scale, 1 / np.sqrt(768)):
        return verdict(False, "a head's dot product sums d_head = d_model / heads terms, not "
                              "d_model: each head only sees its own slice of the width.")
    if np.isclose(scale, 1 / 64) or np.isclose(scale, 1 / 768):
        return verdict(False, "that divides the variance by d_k twice: Var(c·s) = c²·Var(s), so "
                              "divide by the standard deviation sqrt(d_head).")
    if np.isclose(scale, 1 / 16):
        return verdict(False, "1/16 = 1/sqrt(256) was the chapter's d_k = 256; how many terms "
                              "does one head's dot product have here?")
    if np.isclose(scale, 1 / 12) or np.isclose(scale, 1 / np.sqrt(12)):
        return verdict(False, "the number of heads does not set the spread of a score; the "
                              "number of terms in one head's dot product does.")
    if scale >= 1:
        return verdict(False, "the scores are too spread out, so the factor must be below 1.")
    return verdict(np.isclose(scale, 1 / 8), "Var(q·k) = d_head for unit-variance entries, and "
                                             "Var(c·s) = c²·Var(s).",
                   "d_head = 768 / 12 = 64, so 1/sqrt(64) = 1/8.")


def check_scores_grad(scores_grad):
    """Exercise 4: scores_grad(weights, dlog) -> dL/dS when the loss reads log softmax(S).

    weights = softmax(S) over the last axis, dlog = dL/d(log weights). By the chain rule
    dL/dweights = dlog / weights, and the softmax backward then gives
    dS = dlog - weights * sum(dlog, over the keys); with dlog = -one-hot(y), dS = weights - one-hot.
    """
    rng = np.random.default_rng(2)
    scores = rng.standard_normal((3, 4, 6))
    weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    dlog = rng.standard_normal(weights.shape)
    answer, hint = try_answer(scores_grad, weights, dlog)
    if hint:
        return verdict(False, hint)
    slips = [
        (softmax_backward(dlog, weights),
         "that is the softmax backward pass of a loss that reads the weights themselves; this "
         "loss reads their log, so first dL/dweights = dlog / weights, then the softmax backward."),
        (dlog / weights,
         "that is dL/dweights; go on through the softmax (section 7's formula) to the scores."),
        (dlog,
         "log a_i = s_i - log sum_j exp(s_j): every log-weight also depends on the other scores "
         "of its row, through that sum."),
        (weights * dlog,
         "that is only the diagonal of the softmax Jacobian applied to dlog; use dlog / weights "
         "as the gradient of the weights first."),
        (dlog - weights * dlog,
         "the second term sums dlog over the keys (the whole row), with keepdims so it "
         "broadcasts."),
    ]
    for slip, slip_hint in slips:
        if close(answer, slip):
            return verdict(False, slip_hint)
    return verdict(close(answer, dlog - weights * dlog.sum(-1, keepdims=True)),
                   "dS = weights * (dlog / weights - sum(dlog, over the keys)), which simplifies.",
                   "dS = dlog - weights * rowsum(dlog). With dlog = -one-hot(y) it is "
                   "weights - one-hot(y): the gradient of the cross-entropy loss with respect to "
                   "the scores (logits), the one every language model trains with.")


@contextlib.contextmanager
def _spy_on_library(my_attention):
    """Within the block, every route to minillm's scaled_dot_product_attention (the minillm
    modules and the learner's own globals, whatever name it was imported as) records a call."""
    library = minillm_np_attention.scaled_dot_product_attention
    calls = []

    def spy(*args, **kwargs):
        calls.append(True)
        return library(*args, **kwargs)

    namespaces = [vars(module) for name, module in list(sys.modules.items())
                  if name.split(".")[0] == "minillm" and module is not None]
    namespaces.append(getattr(my_attention, "__globals__", {}))
    patched = [(ns, name) for ns in namespaces for name, value in list(ns.items())
               if value is library]
    for ns, name in patched:
        ns[name] = spy
    try:
        yield calls
    finally:
        for ns, name in patched:
            ns[name] = library


def _nan_only_where_nothing_is_seen(weights, want):
    """True when weights has NaN, and equals want everywhere else (the naive-softmax mistake)."""
    from minillm.viz import to_numpy

    try:
        weights = np.asarray(to_numpy(weights), dtype=float)
    except Exception:  # noqa: BLE001 - a non-numeric answer is some other mistake
        return False
    nan = np.isnan(weights)
    return (weights.shape == want.shape and bool(nan.any())
            and bool(np.allclose(np.where(nan, 0.0, weights), want)))


def _same(answer, reference):
    return close(answer[0], reference[0]) and close(answer[1], reference[1])
