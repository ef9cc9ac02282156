"""Checkers for the exercises of chapter 09, Domain experts and mixture of experts.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict. The placeholder `...` (or a function whose body is still `...`) gets "not yet", never an
exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import numpy as np
import torch

from minillm.exercises import as_numbers, close, try_answer, verdict
from minillm.moe import load_balancing_loss, top_k_routing
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
            return verdict(False, _balance_hint(value, expected, probs, experts))
    uneven = float(load_balancing_loss(torch.tensor(NOT_A_LOWER_BOUND_PROBS),
                                       torch.tensor(NOT_A_LOWER_BOUND_PROBS.argmax(1))[:, None]))
    uniform = torch.full((4, 2), 0.5, dtype=torch.float64)
    three_to_one = float(load_balancing_loss(uniform, torch.tensor([[0], [0], [0], [1]])))
    return verdict(True, "", "Your loss equals minillm.moe.load_balancing_loss. With uniform "
                             "probabilities (0.5, 0.5), routing 3 of 4 tokens to expert 0 gives "
                             f"{three_to_one:.3f}, the same as a 2:2 split: with every P_i = 1/n "
                             "the loss is 1 whatever the f_i, so it penalises uneven routing "
                             "only where the router's probabilities are uneven too. And 1.0 is "
                             "not its minimum: probs "
                             f"{NOT_A_LOWER_BOUND_PROBS.tolist()} route 2:1 yet give "
                             f"{uneven:.3f}. It is a differentiable push toward balance, not a "
                             "measure of it.")


def _balance_hint(value, expected, probs, experts):
    n_experts = probs.shape[1]
    if np.isclose(value * n_experts, expected, atol=1e-6):
        return ("multiply by the number of experts, so that uniform routing with uniform "
                "probabilities gives 1.0.")
    k = experts.shape[1]
    if k > 1 and np.isclose(value, k * expected, atol=1e-6):
        return ("f_i is a share of the tokens * k assignments: divide the counts by "
                "tokens * k, not by the number of tokens.")
    first_only = np.bincount(experts[:, 0], minlength=n_experts) / len(experts)
    if k > 1 and np.isclose(value, n_experts * np.sum(first_only * probs.mean(0)), atol=1e-6):
        return ("you counted only each token's first expert (GShard's convention); this "
                "exercise counts all k choices: f_i = (assignments to expert i) / (tokens * k).")
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


# ---- exercise 4: Mixtral's parameters -----------------------------------------------------
# (d_model, d_ff, n_layers, n_experts, k, n_heads, n_kv_heads, vocab_size, reported total and
# active, in billions): Mixtral 8x7B and 8x22B, as Mistral AI describes them.
MIXTRAL_CONFIGS = {"Mixtral 8x7B": ((4096, 14336, 32, 8, 2, 32, 8, 32000), 46.7, 12.9),
                   "Mixtral 8x22B": ((6144, 16384, 56, 8, 2, 48, 8, 32768), 141, 39)}


def moe_lm_counts(d_model, d_ff, n_layers, n_experts, k, n_heads, n_kv_heads, vocab_size):
    """The parts of a Mixtral-style MoE language model, in weights (no biases anywhere).

    Per layer: attention with grouped-query heads (q and o: d x d; k and v: d x n_kv_heads *
    d_head, d_head = d / n_heads), a router (d x n_experts), n_experts SwiGLU experts of 3
    matrices d x d_ff, two RMSNorm weights (d); then input embedding and output matrix (vocab x
    d each, not tied) and a final norm (d). Returns a dict of counts.
    """
    d_head = d_model // n_heads
    return {"attention": n_layers * (2 * d_model * d_model + 2 * d_model * n_kv_heads * d_head),
            "expert": n_layers * 3 * d_model * d_ff,            # one expert in every layer
            "router": n_layers * d_model * n_experts,
            "norms": (2 * n_layers + 1) * d_model,
            "embeddings": 2 * vocab_size * d_model}


def _mixtral_totals(c, n_experts, k):
    shared = c["attention"] + c["router"] + c["norms"] + c["embeddings"]
    return shared + n_experts * c["expert"], shared + k * c["expert"]


def check_moe_lm_params(moe_lm_params):
    """Exercise 4: moe_lm_params(d_model, d_ff, n_layers, n_experts, k, n_heads, n_kv_heads,
    vocab_size) -> (total, active per token) of a Mixtral-style model. Norms and routers are
    under 0.01 % of the total: counting them or not is accepted (0.1 % tolerance)."""
    lines = []
    for name, (config, reported_total, reported_active) in MIXTRAL_CONFIGS.items():
        answer, hint = try_answer(moe_lm_params, *config)
        if hint:
            return verdict(False, hint)
        try:
            got = tuple(float(a) for a in answer)
            if len(got) != 2:
                raise ValueError
        except (TypeError, ValueError):
            return verdict(False, "return a pair of numbers (total, active).")
        c = moe_lm_counts(*config)
        n_experts, k = config[3], config[4]
        total, active = _mixtral_totals(c, n_experts, k)
        if not (np.isclose(got[0], total, rtol=1e-3) and np.isclose(got[1], active, rtol=1e-3)):
            return verdict(False, _mixtral_hint(got, c, config, total, active))
        lines.append(f"{name}: {total / 1e9:.2f} B total, {active / 1e9:.2f} B active "
                     f"(reported: {reported_total} B, {reported_active} B)")
    c = moe_lm_counts(*MIXTRAL_CONFIGS["Mixtral 8x7B"][0])
    shared = c["attention"] + c["router"] + c["norms"] + c["embeddings"]
    return verdict(True, "", "Right. " + "; ".join(lines) + ". '8x7B' is not 56 B: only the "
                   f"feed-forward experts are replicated ({c['expert'] / 1e9:.2f} B per expert "
                   f"over all layers), while attention, router, norms and embeddings "
                   f"({shared / 1e9:.2f} B) exist once; one expert plus the shared part is a "
                   f"{(shared + c['expert']) / 1e9:.1f} B dense model, the '7B'. A token uses "
                   "2 experts plus the shared part, not 2 x 7 B.")


def _mixtral_hint(got, c, config, total, active):
    n_experts, k = config[3], config[4]
    d_model, n_layers, n_heads = config[0], config[2], config[5]
    full_kv = dict(c, attention=n_layers * 4 * d_model * d_model)
    gelu = dict(c, expert=c["expert"] * 2 // 3)
    tied = dict(c, embeddings=c["embeddings"] // 2)
    no_embeddings = dict(c, embeddings=0)
    mistakes = [
        (_mixtral_totals(gelu, n_experts, k), "a SwiGLU expert has THREE matrices (gate, up: "
         "d_model x d_ff; down: d_ff x d_model), not two."),
        (_mixtral_totals(full_kv, n_experts, k), f"grouped-query attention: k and v project to "
         f"n_kv_heads * d_head = n_kv_heads * d_model / n_heads values, not d_model (here "
         f"{n_heads} query heads share {config[6]} key/value heads)."),
        (_mixtral_totals(tied, n_experts, k), "the input embedding and the output matrix are two "
         "separate vocab_size x d_model matrices (not tied)."),
        (_mixtral_totals(no_embeddings, n_experts, k), "count the input embedding and the output "
         "matrix too (vocab_size x d_model each)."),
    ]
    for (t, a), hint in mistakes:
        if np.isclose(got[0], t, rtol=1e-3) or np.isclose(got[1], a, rtol=1e-3):
            return hint
    if np.isclose(got[0], total, rtol=1e-3):
        if np.isclose(got[1], k * c["expert"], rtol=1e-3):
            return ("active: a token also runs through attention and the embeddings, which "
                    "every token uses: add the shared part to its k experts.")
        return (f"total is right; active counts the shared part (attention, router, norms, "
                f"embeddings) and only k = {k} experts per layer.")
    return ("per layer: attention (q, o: d x d; k, v: d x n_kv_heads * d_head), a router, "
            "n_experts SwiGLU experts of 3 matrices; then two vocab x d matrices. Total has all "
            "n_experts experts, active only k.")
