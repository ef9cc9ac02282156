"""Checkers for the exercises of chapter 03, Transformer layers.

Each checker takes the learner's answer (a function or a number), prints ✅ or ❌ with a hint and
returns True/False. The placeholder `...` (or a function whose body is still `...`, which returns
None) gets "not yet", never an exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import numpy as np

from minillm.exercises import TODO, close, is_unanswered, try_answer, verdict
from minillm.np import rope


def check_rope_pairs(rope_pairs):
    """Exercise 1: rope_pairs(x) rotates neighbouring pairs (x[2j], x[2j+1]) by m * theta_j.

    x: (..., seq, d_head). Tried on random x of shape (2, 3, 6, 8) against minillm.np.rope
    applied to the renumbered dimensions (neighbours (2j, 2j+1) become the pair (j, j + d/2)).
    """
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 8))
    answer, hint = try_answer(rope_pairs, x)
    if hint:
        return verdict(False, hint)
    if np.shape(answer) != x.shape:
        return verdict(False, f"the result must have the shape of x, {x.shape}; yours has "
                              f"{np.shape(answer)}.")
    if close(answer, rope(x)):
        return verdict(False, "that is the half-split layout of section 1.2 (pair j = dimensions "
                              "j and j + d/2); here pair j is dimensions 2j and 2j + 1.")
    if close(answer, _rope_pairs(x, direction=-1)):
        return verdict(False, "you turn the wrong way: x'[2j] = x[2j] cos - x[2j+1] sin and "
                              "x'[2j+1] = x[2j] sin + x[2j+1] cos.")
    return verdict(close(answer, _rope_pairs(x)),
                   "pair j = (x[..., 2j], x[..., 2j+1]) turns by angle m * theta_j, with "
                   "theta_j = 10000 ** (-2j / d) for j = 0 .. d/2 - 1 and m the row (position).",
                   "Your RoPE equals minillm.np.rope with the dimensions renumbered.")


def _rope_pairs(x, direction=1):
    """The neighbour-pair layout through the library: renumber, rotate, number back."""
    d = x.shape[-1]
    order = np.r_[0:d:2, 1:d:2]        # even dimensions first: neighbours become (j, j + d/2)
    out = np.empty_like(x)
    turned = rope(x[..., order]) if direction == 1 else _rope_backwards(x[..., order])
    out[..., order] = turned
    return out


def _rope_backwards(x):
    """rope with every angle negated (a learner's sign slip)."""
    flipped = x.copy()
    half = x.shape[-1] // 2
    flipped[..., half:] *= -1           # reflect, rotate, reflect back = rotate the other way
    out = rope(flipped)
    out[..., half:] *= -1
    return out


def check_swiglu_d_ff(d_ff):
    """Exercise 2: the SwiGLU width with the weights of a GELU FFN of d_model=48, d_ff=192."""
    if is_unanswered(d_ff):
        return verdict(False, TODO)
    if isinstance(d_ff, str):
        return verdict(False, "give a number, not a string.")
    try:
        value = float(d_ff)
    except (TypeError, ValueError):
        return verdict(False, f"give a number, not {type(d_ff).__name__}.")
    if value == 192:
        return verdict(False, "with the same d_ff, SwiGLU's three matrices hold 1.5 times the "
                              "weights of the GELU network's two: it must be narrower.")
    if value == 64:
        return verdict(False, "the GELU network has TWO matrices of 48 x 192; set "
                              "3 * 48 * d_ff equal to 2 * 48 * 192.")
    return verdict(value == 128, "count the weights of each network (biases ignored): how many "
                                 "matrices does each have, and what shape is each one? Then make "
                                 "the two totals equal.",
                   "d_ff = 2/3 * 192 = 128: the '8/3 d_model' of Llama's recipe.")


# Added to a score, anything at or below this makes exp() vanish (exp(-1e4) = 0 in float64).
_BLOCKS_LIKE_MINUS_INF = -1e4


def check_article_mask(article_mask):
    """Exercise 3: article_mask(seq_len) -> a causal mask in nn.TransformerEncoder's convention.

    Accepted: a torch tensor, bool with True = BLOCKED above the diagonal, or float with 0 on and
    below the diagonal and -inf above it; a huge negative number instead of -inf (-1e9, or
    torch.finfo(dtype).min as Hugging Face uses) blocks just as well and is accepted too. A NumPy
    array is not: nn.TransformerEncoder refuses it. The mask is finally run through a real
    nn.TransformerEncoder, which must accept it and hide every later token.
    """
    import torch

    seq = 5
    answer, hint = try_answer(article_mask, seq)
    if hint:
        return verdict(False, hint)
    if not torch.is_tensor(answer):
        return verdict(False, f"return a torch tensor, not {type(answer).__name__}: "
                              "nn.TransformerEncoder accepts only a torch.Tensor as its mask "
                              "(torch.ones(...).triu(...) builds one; torch.from_numpy turns an "
                              "array into one).")
    mask = answer
    if tuple(mask.shape) != (seq, seq):
        return verdict(False, f"article_mask({seq}) must have shape ({seq}, {seq}); yours has "
                              f"{tuple(mask.shape)}.")
    later = torch.ones(seq, seq, dtype=torch.bool).triu(diagonal=1)    # key after the query
    if mask.dtype == torch.bool:
        blocked = mask
    elif mask.is_floating_point():
        huge_negative = mask <= _BLOCKS_LIKE_MINUS_INF
        if not bool(torch.all((mask == 0) | huge_negative)):
            return verdict(False, "a float mask is ADDED to the scores: 0 where a position may "
                                  "attend, -inf (float('-inf')) where it may not. A number such "
                                  "as -1 only nudges a score; it does not hide the key.")
        blocked = huge_negative
    else:
        return verdict(False, f"use a bool or a float mask; yours has dtype {mask.dtype}.")
    if torch.equal(blocked, ~later):
        return verdict(False, "that is minillm's convention (True = may attend). For "
                              "nn.TransformerEncoder a True entry means BLOCKED: flip it.")
    if torch.equal(blocked, later | torch.eye(seq, dtype=torch.bool)):
        return verdict(False, "the diagonal is blocked too: a position may see itself, block "
                              "only the later ones (triu with diagonal=1).")
    if not torch.equal(blocked, later):
        return verdict(False, "block exactly the keys after each query: the upper triangle above "
                              "the diagonal.")
    return verdict(*_causal_in_an_encoder(mask),
                   "With this mask the article's model is a real GPT: a real "
                   "nn.TransformerEncoder, given it, never lets an output see a later token.")


def _causal_in_an_encoder(mask):
    """(True, '') if a small nn.TransformerEncoder takes `mask` and hides every later token from
    every output (a change to the last token moves no earlier output); else (False, hint)."""
    import torch
    from torch import nn

    seq = mask.shape[0]
    with torch.random.fork_rng():                       # (leaves the learner's random state alone)
        torch.manual_seed(0)
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False).eval()
        x = torch.randn(1, seq, 8)
    changed = x.clone()
    changed[0, -1] += 1.0                               # the last token only
    try:
        with torch.no_grad():
            moved = (encoder(changed, mask=mask) - encoder(x, mask=mask))[0, :-1].abs().max()
    except Exception as error:  # noqa: BLE001 - whatever the encoder says is the hint
        return False, (f"nn.TransformerEncoder refuses this mask: {type(error).__name__}: "
                       f"{error}")
    if moved.item() > 1e-6:
        return False, ("in a real nn.TransformerEncoder an earlier output still moves when the "
                       "last token changes: block every later key.")
    return True, ""


def check_leak_test(leaks_future):
    """Exercise 4: leaks_future(model, seq_len, vocab_size) -> True if an output sees the future.

    model: ids (1, seq_len) ints in [0, vocab_size) -> outputs (1, seq_len, features); output t
    may depend on tokens 0..t only. Tried on seven small models, two causal and five that leak
    (one only from token 1 into output 0, one only from token 4 into output 3, one only from the
    last token into output 2), each twice in two orders, each hidden behind a nameless callable.
    Every model accepts any length from 1 token up, so both kinds of test pass: change a token and
    compare, or run the prefix ids[:, :t + 1] and compare with the full run.
    """
    models = _leak_test_models()
    # Every model twice, in two orders: an answer that counts its calls cannot learn the key.
    order = list(models) + list(np.random.default_rng(6).permutation(list(models)))
    verdicts = {}
    for name in order:
        model, leaks = models[name]
        answer, hint = try_answer(leaks_future, _Model(model), 8, 10)
        if hint:
            return verdict(False, hint)
        if not isinstance(answer, (bool, np.bool_)):
            return verdict(False, f"return True or False, not {type(answer).__name__}.")
        verdicts[name] = verdicts.get(name, True) and bool(answer) == leaks
    if not verdicts["causal"] or not verdicts["causal, positions matter"]:
        return verdict(False, "your test accuses a causal model. After changing token t + 1, "
                              "outputs t + 1, t + 2, ... may change; only outputs 0..t must not.")
    if not verdicts["sees every token"] or not verdicts["sees the next token"]:
        return verdict(False, "your test misses a model that reads the next token: change token "
                              "t + 1 and compare the outputs at positions 0..t.")
    if not verdicts["sees the last token at position 2"]:
        return verdict(False, "a model can leak at one position only, from far ahead: change "
                              "every token in turn (t + 1 = 1, 2, ..., seq_len - 1).")
    if not verdicts["position 0 sees token 1"]:
        return verdict(False, "your test misses a model whose output 0 reads token 1 (and no "
                              "other leak): changing only the last token is not enough. Change "
                              "every token in turn (t + 1 = 1, 2, ..., seq_len - 1).")
    if not verdicts["position 3 sees token 4"]:
        return verdict(False, "your test misses a model whose output 3 reads token 4 (and no "
                              "other leak): changing the first and the last tokens is not "
                              "enough. Change every token in turn (t + 1 = 1, 2, ..., "
                              "seq_len - 1).")
    return verdict(True, "", "Your test tells the causal models from the leaking ones.")


class _Model:
    """A model with no name to read: the answer must test what it does, not what it is called."""

    def __init__(self, function):
        self._function = function

    def __call__(self, ids):
        return self._function(ids)

    def __repr__(self):
        return "model"


def _leak_test_models():
    """{name: (model, leaks)}: each model maps ids (1, seq) to outputs (1, seq, 3)."""
    table = np.random.default_rng(5).standard_normal((10, 3))

    def causal(ids):
        return np.cumsum(table[ids], axis=1)

    def causal_positional(ids):
        return table[ids] * np.arange(1, ids.shape[1] + 1)[None, :, None]

    def sees_everything(ids):
        return np.broadcast_to(table[ids].sum(axis=1, keepdims=True), table[ids].shape).copy()

    def sees_next(ids):
        out = table[ids].copy()
        out[:, :-1] += table[ids[:, 1:]]
        return out

    # Every model takes any length, so a test that runs a prefix ids[:, :t + 1] works too.
    def sees_last_at_2(ids):
        out = np.cumsum(table[ids], axis=1)
        if ids.shape[1] > 2:
            out[:, 2] += table[ids[:, -1]]
        return out

    def first_sees_second(ids):
        out = np.cumsum(table[ids], axis=1)
        if ids.shape[1] > 1:
            out[:, 0] += table[ids[:, 1]]
        return out

    def fourth_sees_fifth(ids):
        out = np.cumsum(table[ids], axis=1)
        if ids.shape[1] > 4:
            out[:, 3] += table[ids[:, 4]]
        return out

    return {"causal": (causal, False), "causal, positions matter": (causal_positional, False),
            "sees every token": (sees_everything, True), "sees the next token": (sees_next, True),
            "sees the last token at position 2": (sees_last_at_2, True),
            "position 0 sees token 1": (first_sees_second, True),
            "position 3 sees token 4": (fourth_sees_fifth, True)}


def check_adam_update(adam_update):
    """Exercise 5: adam_update(p, g, m, v, t, lr, betas, eps) -> the new (p, m, v) of one Adam
    step, with the bias correction, t = 1, 2, ... the number of the step.

    Tried for four steps on a (3, 4) array from m = v = 0, each step fed the answer's own m and v,
    against minillm.np.optim.adam_step; the typical slips (no bias correction, one of the two
    corrections, steps counted from 0, no square root) get their own hints.
    """
    rng = np.random.default_rng(7)
    start = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) * scale for scale in (1.0, 0.5, 2.0, 1.0)]
    trajectory, hint = _run_adam_answer(adam_update, start, grads)
    if hint:
        return verdict(False, hint)
    if close(trajectory, _adam_trajectory(start, grads)):
        return verdict(True, "", "Your Adam step equals minillm.np.optim.adam_step (and "
                                 "torch.optim.Adam).")
    slips = {
        "no_correction": "m and v start at 0, so for the first steps they are too small: divide "
                         "m by (1 - beta1**t) and v by (1 - beta2**t) before the update (the bias "
                         "correction).",
        "m_only": "correct v too: v_hat = v / (1 - beta2**t).",
        "v_only": "correct m too: m_hat = m / (1 - beta1**t).",
        "t_from_0": "t is the number of this step counting from 1: at the first step the "
                    "correction divides m by 1 - beta1**1 = 0.1.",
        "no_sqrt": "divide by the square root of v_hat: p - lr * m_hat / (sqrt(v_hat) + eps).",
    }
    for slip, slip_hint in slips.items():
        if close(trajectory, _adam_trajectory(start, grads, slip)):
            return verdict(False, slip_hint)
    return verdict(False, "m = beta1 * m + (1 - beta1) * g and v = beta2 * v + (1 - beta2) * g**2; "
                          "then m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t) and "
                          "p - lr * m_hat / (sqrt(v_hat) + eps). Return (p, m, v).")


_ADAM_SETTINGS = {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8}


def _run_adam_answer(adam_update, start, grads):
    """(the answer's p after each step, stacked; None) or (None, hint)."""
    p, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    trajectory = []
    for t, g in enumerate(grads, start=1):
        answer, hint = try_answer(adam_update, p.copy(), g.copy(), m.copy(), v.copy(), t,
                                  _ADAM_SETTINGS["lr"], _ADAM_SETTINGS["betas"],
                                  _ADAM_SETTINGS["eps"])
        if hint:
            return None, hint
        if not isinstance(answer, (tuple, list)) or len(answer) != 3:
            return None, (f"return the new (p, m, v), three arrays; yours returned "
                          f"{type(answer).__name__}.")
        p, m, v = (np.asarray(part, dtype=float) if _numeric(part) else None for part in answer)
        if any(part is None or part.shape != start.shape for part in (p, m, v)):
            return None, f"p, m and v must all be arrays of p's shape {start.shape}."
        if not np.all(np.isfinite(p)):
            return None, (f"at step t = {t} your p holds nan or inf: is something divided by 0 "
                          f"(1 - beta**t is 0 only for t = 0; t starts at 1) or the square root "
                          f"taken of a negative v (v averages g**2)?")
        trajectory.append(p)
    return np.stack(trajectory), None


def _numeric(part):
    try:
        np.asarray(part, dtype=float)
    except (TypeError, ValueError):
        return False
    return True


def _adam_trajectory(start, grads, slip=None):
    """p after each step of Adam (minillm.np.optim.adam_step), or of a learner's slip."""
    from minillm.np.optim import adam_step

    lr, (beta1, beta2), eps = _ADAM_SETTINGS["lr"], _ADAM_SETTINGS["betas"], _ADAM_SETTINGS["eps"]
    p, m, v, trajectory, state = start.copy(), 0.0, 0.0, [], {}
    for t, g in enumerate(grads, start=1):
        if slip is None:
            adam_step({"p": p}, {"p": g}, state, lr, betas=(beta1, beta2), eps=eps)
        else:
            m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g**2
            t_used = t + 1 if slip == "t_from_0" else t
            m_hat = m if slip in ("no_correction", "v_only") else m / (1 - beta1**t_used)
            v_hat = v if slip in ("no_correction", "m_only") else v / (1 - beta2**t_used)
            p = p - lr * m_hat / ((v_hat if slip == "no_sqrt" else np.sqrt(v_hat)) + eps)
        trajectory.append(p.copy())
    return np.stack(trajectory)
