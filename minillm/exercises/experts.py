"""Checkers for the exercises of chapter 09, Domain experts and mixture of experts.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict. The placeholder `...` (or a function whose body is still `...`) gets "not yet", never an
exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import numpy as np
import torch

from minillm.exercises import as_numbers, close, try_answer, verdict
from minillm.moe import MoEFeedForward, load_balancing_loss, top_k_routing
from minillm.vit import patchify

# Routed 2:1 by argmax, yet the balancing loss is below 1.0 (0.89): 1.0 is no lower bound.
NOT_A_LOWER_BOUND_PROBS = np.array([[0.51, 0.49], [0.51, 0.49], [0.0, 1.0]])
EXAMPLE_LOGITS = np.array([[2.0, 0.5, 1.0, -1.0], [0.0, 0.0, 3.0, 1.0], [1.0, 2.0, 0.0, 0.5]])


# ---- exercise 1: top-k routing ------------------------------------------------------------
def check_route(route):
    """Exercise 1: route(logits, k) -> (experts (tokens, k) ints, gates (tokens, k) floats)."""
    rng = np.random.default_rng(0)
    cases = [(EXAMPLE_LOGITS, 1), (EXAMPLE_LOGITS, 2), (rng.normal(size=(6, 5)), 3)]
    for logits, k in cases:
        answer, hint = try_answer(route, logits.copy(), k)
        if hint:
            return verdict(False, hint)
        gates, experts, _ = top_k_routing(torch.tensor(logits), k)
        try:
            got_experts, got_gates = (np.asarray(a) for a in answer)
        except (TypeError, ValueError):
            return verdict(False, "return a pair (experts, gates), each of shape (tokens, k).")
        if got_experts.shape != (len(logits), k) or not np.array_equal(got_experts,
                                                                        experts.numpy()):
            return verdict(False, "experts[t] are the k largest logits' indices of token t, "
                                  "most probable first: shape (tokens, k).")
        if close(got_gates, np.take_along_axis(logits, experts.numpy(), axis=1)):
            return verdict(False, "the gates are softmax PROBABILITIES of the chosen experts, "
                                  "not their raw logits.")
        if not close(got_gates, gates.numpy()):
            return verdict(False, "gate = softmax(logits of the token over ALL experts) at the "
                                  "chosen expert; do not renormalise over the k chosen ones "
                                  "(Mixtral and GShard do; minillm's MoE, like Switch, keeps "
                                  "the raw probabilities).")
    return verdict(True, "", "Your routing equals minillm.moe.top_k_routing.")


# ---- exercise 2: the load-balancing loss --------------------------------------------------
def check_balance_loss(balance_loss):
    """Exercise 2: balance_loss(probs, experts) -> n_experts * sum_i f_i * P_i (a float)."""
    rng = np.random.default_rng(1)
    cases = [(np.full((4, 2), 0.5), np.array([[0], [1], [0], [1]])),
             (np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]]),
              np.array([[0], [0], [0], [1]]))]
    for _ in range(2):
        probs = rng.dirichlet(np.ones(4), size=10)
        cases.append((probs, np.argsort(-probs, axis=1)[:, :2]))
    for probs, experts in cases:
        answer, hint = try_answer(balance_loss, probs.copy(), experts.copy())
        if hint:
            return verdict(False, hint)
        expected = float(load_balancing_loss(torch.tensor(probs), torch.tensor(experts)))
        try:
            value = float(answer)
        except (TypeError, ValueError):
            return verdict(False, f"return one number, not {type(answer).__name__}.")
        if not np.isclose(value, expected, atol=1e-6):
            return verdict(False, _balance_hint(value, expected, probs))
    uneven = float(load_balancing_loss(torch.tensor(NOT_A_LOWER_BOUND_PROBS),
                                       torch.tensor(NOT_A_LOWER_BOUND_PROBS.argmax(1))[:, None]))
    return verdict(True, "", "Your loss equals minillm.moe.load_balancing_loss. It is 1.0 when "
                             "routing and probabilities are both uniform, but 1.0 is not its "
                             f"minimum: probs {NOT_A_LOWER_BOUND_PROBS.tolist()} route 2:1 yet "
                             f"give {uneven:.3f}. It is a differentiable push toward balance, "
                             "not a measure of it.")


def _balance_hint(value, expected, probs):
    n_experts = probs.shape[1]
    if np.isclose(value * n_experts, expected, atol=1e-6):
        return ("multiply by the number of experts, so that uniform routing with uniform "
                "probabilities gives 1.0.")
    return "f_i = (assignments to expert i) / (tokens * k); P_i = mean of probs[:, i]; " \
           "loss = n_experts * sum_i f_i * P_i."


# ---- exercise 3: patches ------------------------------------------------------------------
def check_patchify(patchify_2x2):
    """Exercise 3: patchify_2x2(image (8, 8)) -> (16, 4) array of 2 x 2 patches, row by row."""
    image = np.arange(64.0).reshape(8, 8)
    answer, hint = try_answer(patchify_2x2, image.copy())
    if hint:
        return verdict(False, hint)
    expected = patchify(torch.tensor(image)[None], 2)[0].numpy()
    got = as_numbers(answer)
    if got is None:
        return verdict(False, f"return an array of pixel values, not {type(answer).__name__}.")
    if got.shape != expected.shape:
        return verdict(False, f"an 8 x 8 image has 16 patches of 4 pixels: shape (16, 4), not "
                              f"{got.shape}.")
    if close(got, image.reshape(16, 4)):
        return verdict(False, "a plain reshape takes 4 pixels of ONE row; a patch is 2 pixels "
                              "of row r and the 2 below them in row r + 1.")
    if not close(got, expected):
        return verdict(False, "patch i covers rows 2*(i // 4), +1 and columns 2*(i % 4), +1; "
                              "its 4 values are [top-left, top-right, bottom-left, bottom-right]. "
                              "One way: reshape to (4, 2, 4, 2) = (patch row, row in patch, "
                              "patch column, column in patch), then transpose the middle axes.")
    return verdict(True, "", "Your patches equal minillm.vit.patchify(images, 2).")


# ---- exercise 4: parameters per token -----------------------------------------------------
def check_moe_params(moe_params):
    """Exercise 4: moe_params(d_model, d_ff, n_experts, k) -> (total, active per token)."""
    for d_model, d_ff, n_experts, k in ((64, 256, 4, 1), (64, 256, 8, 2), (16, 24, 3, 3)):
        answer, hint = try_answer(moe_params, d_model, d_ff, n_experts, k)
        if hint:
            return verdict(False, hint)
        moe = MoEFeedForward(d_model, d_ff, n_experts, k)
        total = sum(p.numel() for p in moe.parameters())
        per_expert = sum(p.numel() for p in moe.experts[0].parameters())
        active = total - (n_experts - k) * per_expert
        try:
            got = tuple(int(a) for a in answer)
        except (TypeError, ValueError):
            return verdict(False, "return a pair of integers (total, active).")
        if got != (total, active):
            return verdict(False, "count the weights AND biases of one expert (up: d_model x "
                                  "d_ff + d_ff, down: d_ff x d_model + d_model) and the router "
                                  "(d_model x n_experts, no bias): total has all n experts, "
                                  "active only the k a token uses.")
    return verdict(True, "", "Right: n experts multiply the weights, while a token pays for k.")
