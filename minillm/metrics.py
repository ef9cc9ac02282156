"""Metrics for applications: accuracy and the confusion matrix (classification), exact match and
BLEU (translation, generation), and the alignment error rate (word alignment).

Everything takes plain Python lists (tokens are lists of strings, labels lists of ints) and
returns plain numbers or NumPy arrays, so a metric reads the same in any chapter.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np


def _check_same_length(name_a, a, name_b, b):
    if len(a) != len(b):
        raise ValueError(f"{name_a} has {len(a)} items but {name_b} has {len(b)}: "
                         "give one per example")
    if len(a) == 0:
        raise ValueError(f"{name_a} is empty: there is nothing to score")


# ---- classification ------------------------------------------------------------------------
def accuracy(y_true, y_pred):
    """Share of examples where the predicted label equals the true one: a float in [0, 1]."""
    y_true, y_pred = list(y_true), list(y_pred)
    _check_same_length("y_true", y_true, "y_pred", y_pred)
    return sum(int(t == p) for t, p in zip(y_true, y_pred)) / len(y_true)


def confusion_matrix(y_true, y_pred, n_classes):
    """(n_classes, n_classes) int array: entry [t, p] counts examples of true class t predicted
    as p. The diagonal holds the correct ones; row t sums to the number of examples of class t."""
    y_true, y_pred = np.asarray(list(y_true)), np.asarray(list(y_pred))
    _check_same_length("y_true", y_true, "y_pred", y_pred)
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.min() < 0 or labels.max() >= n_classes:
            raise ValueError(f"{name} holds labels outside 0..{n_classes - 1}: "
                             f"{sorted(set(labels.tolist()))[:10]}")
    matrix = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def per_class_recall(matrix):
    """(n_classes,) float array: recall of class t = matrix[t, t] / (examples of class t);
    nan for a class with no examples."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {matrix.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(matrix) / matrix.sum(axis=1)


# ---- translation and generation ------------------------------------------------------------
def exact_match(candidates, references):
    """Share of candidates (token lists or strings) exactly equal to their reference."""
    candidates, references = list(candidates), list(references)
    _check_same_length("candidates", candidates, "references", references)
    return sum(list(c) == list(r) for c, r in zip(candidates, references)) / len(candidates)


def ngrams(tokens, n):
    """Counter of the n-grams (tuples of n tokens) in tokens."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    tokens = list(tokens)
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def modified_precision(candidate, reference, n):
    """(clipped matches, candidate n-grams) for one sentence: each candidate n-gram counts at
    most as often as it occurs in the reference (so "the the the" earns one "the" against
    "the cat"). BLEU's precision is the ratio of the two, summed over a corpus."""
    counts, ref_counts = ngrams(candidate, n), ngrams(reference, n)
    clipped = sum(min(count, ref_counts[gram]) for gram, count in counts.items())
    return clipped, sum(counts.values())


def brevity_penalty(candidate_length, reference_length):
    """exp(1 - r / c) when the candidates are shorter than the references (c < r), else 1."""
    if candidate_length == 0:
        return 0.0
    if candidate_length >= reference_length:
        return 1.0
    return math.exp(1 - reference_length / candidate_length)


def bleu(candidates, references, max_n=4):
    """Corpus BLEU (Papineni et al., 2002) with one reference per candidate, in [0, 1].

    candidates, references: lists of token lists. BLEU = BP * exp(mean over n = 1..max_n of
    log p_n), p_n = (clipped n-gram matches summed over the corpus) / (candidate n-grams summed
    over the corpus), BP = brevity_penalty(total candidate length, total reference length).
    0 when some p_n is 0 (no smoothing).
    """
    candidates, references = list(candidates), list(references)
    _check_same_length("candidates", candidates, "references", references)
    for name, sentences in (("candidates", candidates), ("references", references)):
        if any(isinstance(s, str) for s in sentences):
            raise ValueError(f"{name} must be token lists (e.g. sentence.split()), not strings")
    log_precisions = []
    for n in range(1, max_n + 1):
        matched, total = np.sum([modified_precision(c, r, n) for c, r in
                                 zip(candidates, references)], axis=0)
        if matched == 0:
            return 0.0
        log_precisions.append(math.log(matched / total))
    c = sum(len(s) for s in candidates)
    r = sum(len(s) for s in references)
    return brevity_penalty(c, r) * math.exp(sum(log_precisions) / max_n)


# ---- word alignment ------------------------------------------------------------------------
def alignment_error_rate(predicted, sure, possible=None):
    """AER (Och & Ney, 2003) of a predicted word alignment, in [0, 1], lower is better.

    predicted, sure, possible: collections of (source index, target index) links; possible
    (which includes sure) defaults to sure. AER = 1 - (|A ∩ S| + |A ∩ P|) / (|A| + |S|).
    """
    predicted, sure = set(map(tuple, predicted)), set(map(tuple, sure))
    possible = sure if possible is None else set(map(tuple, possible)) | sure
    if not predicted and not sure:
        raise ValueError("predicted and sure alignments are both empty: AER is undefined")
    return 1 - (len(predicted & sure) + len(predicted & possible)) / (len(predicted) + len(sure))
