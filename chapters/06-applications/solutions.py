"""Solutions to the exercises of chapter 06, Applications (try them yourself first!).

Import in the notebook with `import solutions` (the notebook runs in this folder), e.g.
`check_aer(solutions.aer)`.
"""
import math
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
    """Exercise 2: 1 - (|A∩S| + |A∩P|) / (|A| + |S|).

    With P = S the numerator is 2|A∩S|, and 2|A∩S| / (|A| + |S|) is F1: dividing it by
    |A| |S| gives 2 / (|S| / |A∩S| + |A| / |A∩S|) = 2 / (1/precision + 1/recall), the harmonic
    mean of precision |A∩S|/|A| and recall |A∩S|/|S|.
    """
    predicted, sure = set(predicted), set(sure)
    possible = set(possible) | sure
    hits = len(predicted & sure) + len(predicted & possible)
    return 1 - hits / (len(predicted) + len(sure))


def recall_per_class(matrix):
    """Exercise 3: the diagonal over each row's sum (rows are the true classes)."""
    matrix = np.asarray(matrix)
    return np.diag(matrix) / matrix.sum(axis=1)


def pass_at_k(n, c, k):
    """Exercise 4: the chance that k of the n samples, drawn without replacement, include one of
    the c that pass. All k fail in C(n - c, k) of the C(n, k) ways to choose them.

    1 - (1 - c/n)^k would draw with replacement (the same sample twice): as an estimate of
    the model's pass@k from n samples it is biased low (Chen et al., 2021).
    """
    return 1 - math.comb(n - c, k) / math.comb(n, k)
