"""Solutions to the exercises of chapter 04, Pretraining objectives (try them yourself first!).

Import in the notebook with `import solutions` (the notebook runs in this folder), e.g.
`check_mask_one(solutions.mask_one)`.
"""
import re

import numpy as np


def mask_one(ids, u_pick, u_action, random_ids, mask_id):
    """Exercise 1: BERT's 80/10/10 for one sequence, from the given random numbers."""
    inputs, labels = [], []
    for token, pick, action, random_id in zip(ids, u_pick, u_action, random_ids):
        if pick >= 0.15:                       # not picked: unchanged, not scored
            inputs.append(token)
            labels.append(-100)
            continue
        if action < 0.8:
            inputs.append(mask_id)
        elif action < 0.9:
            inputs.append(random_id)
        else:
            inputs.append(token)
        labels.append(token)
    return inputs, labels


def info_nce(similarity, temperature):
    """Exercise 2: mean over rows of -log softmax(row / T)[i] at the diagonal."""
    scores = np.asarray(similarity, dtype=float) / temperature
    scores = scores - scores.max(axis=1, keepdims=True)            # the same softmax, no overflow
    log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    return float(-np.mean(np.diag(log_probs)))


def nucleus(probs, top_p):
    """Exercise 3: keep the most likely tokens until their total reaches top_p, renormalise."""
    probs = np.asarray(probs, dtype=float)
    order = np.argsort(-probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]            # the total of the tokens ahead
    kept = np.zeros_like(probs)
    kept[order[before < top_p]] = probs[order[before < top_p]]
    return kept / kept.sum()


# Words any two English sentences may share, whatever their topic: no evidence either way.
EVERYWHERE = set("a an the is are be of to in on and or for with as by it this that if not can"
                 .split())


def predict_is_next(a, b):
    """Exercise 4: a shared word that is not everywhere ("the", "is", ...) means the same topic.

    The overlap rule counts "the" as much as "coroutine"; two sentences from different topics
    share the small words all the time, and a real next sentence usually repeats a topic word.
    """
    words_a = set(re.findall(r"[a-z]+", a.lower())) - EVERYWHERE
    words_b = set(re.findall(r"[a-z]+", b.lower())) - EVERYWHERE
    return len(words_a & words_b) > 0
