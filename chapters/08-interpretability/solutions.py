"""Solutions to the exercises of chapter 08, Interpretability and generalization (try them
yourself first!). Import in the notebook with `import solutions`."""
import re

import numpy as np


def previous_token_score(weights):
    """Exercise 1: mean over queries i = 1 .. seq-1 of the weight on key i - 1."""
    weights = np.asarray(weights)
    return float(np.mean(np.diagonal(weights, offset=-1)))


def induction_score(weights, ids):
    """Exercise 2: for each query whose token occurred before, the weight on the keys right
    after the earlier occurrences; averaged over those queries."""
    weights = np.asarray(weights)
    scores = []
    for i in range(len(ids)):
        keys = [j for j in range(1, i + 1) if ids[j - 1] == ids[i]]
        if keys:
            scores.append(weights[i, keys].sum())
    return float(np.mean(scores))


def number_mask(token_texts, text_so_far):
    """Exercise 3: a token is allowed when the text it makes can still become a decimal number
    (digits, one dot, digits): "12." is not one yet, but "12.5" is."""
    can_complete = re.compile(r"(\d+(\.\d*)?)?")
    return [can_complete.fullmatch(text_so_far + t) is not None for t in token_texts]


def rome_update(W, k, v, C):
    """Exercise 4: the update ΔW with (W + ΔW) k = v that changes the outputs least on keys of
    covariance C: (v - W k) (C⁻¹k)ᵀ / (kᵀ C⁻¹ k)."""
    direction = np.linalg.solve(C, k)                   # C⁻¹k, without forming C⁻¹
    return np.outer(v - W @ k, direction) / (direction @ k)
