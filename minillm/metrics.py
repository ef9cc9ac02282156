"""Metrics for applications: accuracy and the confusion matrix (classification), exact match and
BLEU (translation, generation), ROUGE (summarization), and the alignment error rate (word
alignment).

Everything takes plain Python lists (tokens are lists of strings, labels lists of ints) and
returns plain numbers or NumPy arrays, so a metric reads the same in any chapter.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import NamedTuple

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


# ---- summarization -------------------------------------------------------------------------
class Overlap(NamedTuple):
    """A candidate's overlap with its reference: precision = matches / candidate length,
    recall = matches / reference length, f1 = their harmonic mean (0 when both are 0)."""
    precision: float
    recall: float
    f1: float


def _overlap(matches, candidate_length, reference_length):
    precision = matches / candidate_length if candidate_length else 0.0
    recall = matches / reference_length if reference_length else 0.0
    f1 = 2 * precision * recall / (precision + recall) if matches else 0.0
    return Overlap(precision, recall, f1)


def _check_tokens(candidate, reference):
    for name, tokens in (("candidate", candidate), ("reference", reference)):
        if isinstance(tokens, str):
            raise ValueError(f"{name} must be a token list (e.g. text.lower().split()), "
                             "not a string")


def rouge_n(candidate, reference, n=1):
    """ROUGE-N (Lin, 2004) of one candidate summary against one reference, as an Overlap.

    candidate, reference: token lists. Matches are the n-grams the two share, each counted at
    most as often as it occurs in either (clipped, as in BLEU); recall divides them by the
    reference's n-grams, which is the ROUGE of the paper's title (Recall-Oriented ...).
    """
    _check_tokens(candidate, reference)
    counts, ref_counts = ngrams(candidate, n), ngrams(reference, n)
    matches = sum((counts & ref_counts).values())
    return _overlap(matches, sum(counts.values()), sum(ref_counts.values()))


def longest_common_subsequence(a, b):
    """Length of the longest sequence of tokens found in both a and b in the same order, not
    necessarily next to each other: ("the cat sat", "the black cat") -> 2 ("the cat")."""
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1],
                                                                           current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidate, reference):
    """ROUGE-L of one candidate against one reference, as an Overlap: the longest common
    subsequence (see longest_common_subsequence) over the candidate's and the reference's
    lengths. Rewards words in the reference's order without asking them to be adjacent."""
    _check_tokens(candidate, reference)
    candidate, reference = list(candidate), list(reference)
    return _overlap(longest_common_subsequence(candidate, reference), len(candidate),
                    len(reference))


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
