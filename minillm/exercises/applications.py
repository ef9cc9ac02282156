"""Checkers for the exercises of chapter 06, Applications.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict. The placeholder `...` (or a function whose body is still `...`) gets "not yet", never an
exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import math

import numpy as np

from minillm.exercises import as_float, as_numbers, close, try_answer, verdict
from minillm.metrics import alignment_error_rate, modified_precision, per_class_recall

# (candidate, reference) token lists: repeated words, a perfect match, no match at all
PRECISION_CASES = [
    ("the the the the the the the".split(), "the cat is on the mat".split()),
    ("the cat sat on the mat".split(), "the cat is on the mat".split()),
    ("猫 猫 吃 了 鱼 鱼".split(), "猫 昨天 吃 了 鱼".split()),
    ("a b".split(), "c d".split()),
]
# (predicted links A, sure links S, possible links P ⊇ S): (English index, Chinese index)
AER_CASES = [
    ({(0, 0), (1, 2), (2, 1)}, {(0, 0), (1, 2), (2, 1)}, {(0, 0), (1, 2), (2, 1)}),
    ({(0, 0), (1, 2), (2, 2)}, {(0, 0), (1, 2), (2, 1)}, {(0, 0), (1, 2), (2, 1)}),
    ({(0, 0)}, {(0, 0), (1, 1), (2, 2), (3, 3)}, {(0, 0), (1, 1), (2, 2), (3, 3)}),
    # a possible link (1, 2) predicted: no error; a possible link (2, 3) left out: no error either
    ({(0, 0), (1, 1), (1, 2)}, {(0, 0), (1, 1)}, {(0, 0), (1, 1), (1, 2), (2, 3)}),
    ({(0, 0), (0, 1), (1, 2), (2, 2)}, {(0, 0), (2, 2), (3, 3)}, {(0, 0), (1, 2), (2, 2), (3, 3)}),
    ({(0, 1), (1, 1)}, {(0, 0), (1, 1)}, {(0, 0), (0, 1), (1, 1)}),
]
CONFUSION = np.array([[40, 10, 0], [5, 25, 20], [0, 0, 30]])


# ---- exercise 1: BLEU's modified n-gram precision -----------------------------------------
def check_modified_precision(clipped_matches):
    """Exercise 1: clipped_matches(candidate, reference, n) -> (clipped matches, n-grams)."""
    for candidate, reference in PRECISION_CASES:
        for n in (1, 2, 3):                      # n = 3: "a b" is shorter than n, no n-grams
            answer, hint = try_answer(clipped_matches, list(candidate), list(reference), n)
            if hint:
                return verdict(False, hint)
            want = modified_precision(candidate, reference, n)
            try:
                got = tuple(int(v) for v in answer)
            except (TypeError, ValueError):
                return verdict(False, "return a pair of integers (clipped matches, total n-grams).")
            if got == want:
                continue
            if got[1] == want[1] and got[0] > want[0]:
                return verdict(False, f"for {' '.join(candidate)!r} vs {' '.join(reference)!r} "
                               f"(n={n}) you count {got[0]} matches, {want[0]} after clipping: "
                               "an n-gram earns at most as many matches as it occurs in the "
                               "reference.")
            return verdict(False, f"for {' '.join(candidate)!r} vs {' '.join(reference)!r} "
                           f"(n={n}) expected {want}, got {got}; the total counts every n-gram "
                           "of the candidate.")
    return verdict(True, "", "Your clipped counts equal minillm.metrics.modified_precision.")


# ---- exercise 2: alignment error rate with sure and possible links -------------------------
def check_aer(aer):
    """Exercise 2: aer(predicted, sure, possible) -> float, possible ⊇ sure (Och & Ney's AER)."""
    for predicted, sure, possible in AER_CASES:
        answer, hint = try_answer(aer, set(predicted), set(sure), set(possible))
        if hint:
            return verdict(False, hint)
        if as_numbers(answer) is None:
            return verdict(False, f"return one number, not {type(answer).__name__}.")
        want = alignment_error_rate(predicted, sure, possible)
        if close(np.float64(answer), np.float64(want)):
            continue
        a, s, p = len(predicted), len(sure), len(possible)
        hit_s, hit_p = len(predicted & sure), len(predicted & possible)
        precision, recall = hit_p / a, hit_s / s
        wrong = {  # a mistake: its hint
            1 - 2 * hit_s / (a + s):
                "a predicted link that is only possible is no error: count the hits in P too.",
            1 - 2 * hit_p / (a + p):
                "only the sure links must be found: the denominator holds |S|, not |P|.",
            1 - hit_s / a: "AER uses precision and recall together, not 1 - precision.",
            1 - precision: "AER uses precision and recall together, not 1 - precision.",
            1 - recall: "AER uses precision and recall together, not 1 - recall.",
            1 - 2 * precision * recall / (precision + recall) if precision + recall else 1.0:
                "close: that is 1 - F1 of precision |A∩P|/|A| and recall |A∩S|/|S|, the "
                "harmonic mean of two ratios. Och & Ney add the two counts instead, over the sum "
                "of the two denominators (the two agree only when P = S).",
        }
        for value, mistake in wrong.items():
            if close(np.float64(answer), np.float64(value)):
                return verdict(False, mistake)
        return verdict(False, f"for predicted={sorted(predicted)}, sure={sorted(sure)}, "
                       f"possible={sorted(possible)} expected {want:.4f}, got {answer}.")
    return verdict(True, "", "Your AER equals minillm.metrics.alignment_error_rate. Predicting "
                   "every link loses precision, predicting one loses recall: |A| and |S| in the "
                   "denominator punish both.")


# ---- exercise 3: per-class recall ----------------------------------------------------------
def check_recall(recall_per_class):
    """Exercise 3: recall_per_class(matrix) -> (n_classes,) array, rows = true classes.

    Tried on the chapter's 3 x 3 matrix and on two random ones (4 x 4 and 2 x 2), so a list of
    numbers typed in cannot pass; a hint never shows the expected answer.
    """
    rng = np.random.default_rng(7)
    matrices = [CONFUSION, rng.integers(1, 20, size=(4, 4)), rng.integers(1, 20, size=(2, 2))]
    for matrix in matrices:
        answer, hint = try_answer(recall_per_class, matrix.copy())
        if hint:
            return verdict(False, hint)
        want = per_class_recall(matrix)
        if close(answer, want):
            continue
        precision = np.diag(matrix) / matrix.sum(axis=0)
        if close(answer, precision):
            return verdict(False, "that is precision (divided by the column sums, the "
                                  "predictions); recall divides by the row sums, the true "
                                  "examples of each class.")
        return verdict(False, f"wrong on a {len(matrix)} x {len(matrix)} confusion matrix: "
                              "recall of class i is the diagonal entry over the sum of row i, "
                              "one number per class, for any matrix you are given.")
    want = per_class_recall(CONFUSION)
    return verdict(True, "", f"Recall per class: {np.round(want, 3).tolist()}.")


# ---- exercise 4: the unbiased pass@k estimator ---------------------------------------------
# (n samples, c of them pass, k): small cases, every sample failing or passing, c close to n
# (fewer than k failures: some passing sample is always drawn), and Codex's n = 200
PASS_CASES = [(10, 3, 1), (10, 3, 2), (10, 0, 5), (10, 10, 5), (5, 3, 3), (20, 5, 10),
              (200, 13, 100), (200, 1, 10)]


def _pass_at_k(n, c, k):
    """1 - C(n - c, k) / C(n, k): the chance that k of the n samples, drawn without
    replacement, hold at least one that passes (Chen et al., 2021)."""
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def check_pass_at_k(pass_at_k):
    """Exercise 4: pass_at_k(n, c, k) -> float, the unbiased estimate of pass@k from n samples
    of which c pass. Its hints name the usual mistakes; a simulation confirms the right one."""
    for n, c, k in PASS_CASES:
        answer, hint = try_answer(pass_at_k, n, c, k)
        if hint:
            return verdict(False, hint)
        got = as_float(answer)
        if got is None:
            return verdict(False, f"return one number, not {type(answer).__name__}.")
        want = _pass_at_k(n, c, k)
        if close(np.float64(got), np.float64(want)):
            continue
        wrong = {  # a mistake: its hint
            1 - (1 - c / n) ** k:
                "that is 1 - (1 - c/n)^k, the chance for k draws *with* replacement: it may "
                "draw the same sample twice, and as an estimate from n samples it is biased "
                "low. Draw k different samples of the n.",
            c / n: "c/n is pass@1; pass@k asks that at least one of k samples passes.",
            min(1.0, k * c / n): "chances of 'at least one' do not add up: compute the chance "
                                 "that all k fail, and take its complement.",
            math.comb(n - c, k) / math.comb(n, k):
                "that is the chance that all k samples fail: pass@k is its complement.",
        }
        for value, mistake in wrong.items():
            if close(np.float64(got), np.float64(value)):
                return verdict(False, mistake)
        return verdict(False, f"for n={n}, c={c}, k={k} expected {want:.4f}, got {got:.4f}: "
                       "count the ways to choose k samples among the n - c that fail.")
    rng = np.random.default_rng(0)
    n, c, k = 20, 5, 4
    drawn = np.array([rng.permutation(n)[:k] for _ in range(20_000)])
    simulated = (drawn < c).any(axis=1).mean()       # samples 0 .. c-1 are the ones that pass
    return verdict(True, "", f"Unbiased pass@k. For n={n}, c={c}, k={k} yours gives "
                   f"{pass_at_k(n, c, k):.3f}; drawing {k} of the {n} samples 20,000 times "
                   f"finds a passing one in {simulated:.3f} of the draws.")
