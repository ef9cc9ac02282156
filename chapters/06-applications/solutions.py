"""Solutions to the exercises of chapter 06, Applications (try them yourself first!).

Import in the notebook with `import solutions` (the notebook runs in this folder), e.g.
`check_aer(solutions.aer)`.
"""
from collections import Counter

import numpy as np


def clipped_matches(candidate, reference, n):
    """Exercise 1: (matches clipped by the reference's counts, number of candidate n-grams)."""
    def grams(tokens):
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))

    counts, ref_counts = grams(candidate), grams(reference)
    clipped = sum(min(count, ref_counts[gram]) for gram, count in counts.items())
    return clipped, sum(counts.values())


def aer(predicted, sure, possible):
    """Exercise 2: 1 - (|A∩S| + |A∩P|) / (|A| + |S|); with P = S this is 1 - F1."""
    predicted, sure = set(predicted), set(sure)
    possible = set(possible) | sure
    hits = len(predicted & sure) + len(predicted & possible)
    return 1 - hits / (len(predicted) + len(sure))


def recall_per_class(matrix):
    """Exercise 3: the diagonal over each row's sum (rows are the true classes)."""
    matrix = np.asarray(matrix)
    return np.diag(matrix) / matrix.sum(axis=1)
