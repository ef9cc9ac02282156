"""Solutions to the exercises of chapter 11, Questions and answers (try them yourself first!).

Import in the notebook with `import solutions` (the notebook runs in this folder), e.g.
`check_abstain(solutions.abstain)`.
"""
import random

import numpy as np


def choose_and_report(sweep):
    """Exercise 1: the rate with the lowest validation loss, and that run's test loss."""
    chosen = min(sweep, key=lambda lr: sweep[lr][0])
    return chosen, sweep[chosen][1]


def equal_size(texts, labels, n_real, size, seed):
    """Exercise 2: the real reviews, then size - n_real augmented ones drawn without replacement
    (positions drawn once, so that each label stays with its text)."""
    picked = random.Random(seed).sample(range(n_real, len(texts)), size - n_real)
    keep = list(range(n_real)) + sorted(picked)
    return [texts[i] for i in keep], [labels[i] for i in keep]


def abstain(scores, labels, threshold, margin):
    """Exercise 3: answer only where the score is more than `margin` from the threshold."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    answered = np.abs(scores - threshold) > margin
    right = (scores > threshold).astype(int) == labels
    return float(right[answered].mean()), float(answered.mean())
