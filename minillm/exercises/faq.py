"""Checkers for the exercises of chapter 11, Questions and answers.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict. The placeholder `...` (or a function whose body is still `...`) gets "not yet", never an
exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import random
from collections import Counter

import numpy as np

from minillm.exercises import as_float, try_answer, verdict

# ---- exercise 1: choose on validation, report on test ----------------------------------------
# {learning rate: (validation loss, test loss)}: in each, the best test loss is at another rate
# than the best validation loss, so choosing by the test set gives itself away.
SWEEPS = ({3e-4: (3.7, 3.7), 1e-3: (3.0, 3.1), 3e-3: (2.7, 2.72), 1e-2: (2.68, 2.76),
           3e-2: (3.0, 3.07)},
          {0.1: (1.20, 1.31), 0.3: (1.10, 1.25), 1.0: (1.15, 1.19), 3.0: (1.9, 2.0)},
          {1e-4: (0.9, 0.8), 1e-3: (0.5, 0.61), 1e-2: (0.52, 0.55)})


def check_choose_and_report(choose_and_report):
    """Exercise 1: choose_and_report(sweep) -> (chosen learning rate, the loss to report), where
    sweep = {learning rate: (validation loss, test loss)}."""
    for sweep in SWEEPS:
        answer, hint = try_answer(choose_and_report, dict(sweep))
        if hint:
            return verdict(False, hint)
        try:
            lr, reported = answer
            lr, reported = as_float(lr), as_float(reported)
        except (TypeError, ValueError):
            lr = reported = None
        if lr is None or reported is None:
            return verdict(False, "return a pair of numbers: (the chosen learning rate, the "
                                  "loss you report).")
        chosen = min(sweep, key=lambda rate: sweep[rate][0])
        by_test = min(sweep, key=lambda rate: sweep[rate][1])
        if np.isclose(lr, by_test) and not np.isclose(lr, chosen):
            return verdict(False, "you chose the rate with the lowest TEST loss: then the test "
                                  "set has been used to choose, and its number flatters too. "
                                  "Choose by the validation loss (the first of the pair).")
        if not np.isclose(lr, chosen):
            return verdict(False, "choose the rate whose validation loss (the first number of "
                                  "its pair) is lowest.")
        if np.isclose(reported, sweep[chosen][0]) and not np.isclose(reported, sweep[chosen][1]):
            return verdict(False, "that is the chosen run's validation loss, the number you chose "
                                  "by; report its test loss (the second number).")
        if not np.isclose(reported, sweep[chosen][1]):
            return verdict(False, "report the test loss of the run you chose, not the best test "
                                  "loss of any run.")
    return verdict(True, "", "Chosen on validation, reported on a test set that played no part "
                             "in the choice.")


# ---- exercise 2: augmentation at equal size ----------------------------------------------------
def _augmented_set(seed):
    """(texts, labels, n_real): n_real real reviews first, then augmented copies of them."""
    rng = random.Random(seed)
    n_real = 6 + seed
    real = [f"review {i} is {'good' if i % 2 else 'bad'}" for i in range(n_real)]
    labels = [i % 2 for i in range(n_real)]
    copies = [(f"copy {j} of review {i} is {'good' if i % 2 else 'bad'}", i % 2)
              for j in range(3) for i in range(n_real)]
    rng.shuffle(copies)
    return real + [t for t, _ in copies], labels + [lab for _, lab in copies], n_real


def check_equal_size(equal_size):
    """Exercise 2: equal_size(texts, labels, n_real, size, seed) -> (texts, labels): the first
    n_real texts (the real reviews) and size - n_real of the others, drawn without replacement;
    each label still next to its own text."""
    for seed in range(3):
        texts, labels, n_real = _augmented_set(seed)
        label_of = dict(zip(texts, labels))
        size = n_real + 5 + seed
        answer, hint = try_answer(equal_size, list(texts), list(labels), n_real, size, seed)
        if hint:
            return verdict(False, hint)
        try:
            got_texts, got_labels = (list(part) for part in answer)
        except (TypeError, ValueError):
            return verdict(False, "return a pair (texts, labels), two lists of the same length.")
        if len(got_texts) != len(got_labels):
            return verdict(False, "texts and labels must have the same length.")
        if len(got_texts) == size - n_real and len(got_texts) != size:
            return verdict(False, f"`size` is the size of the whole set: the {n_real} real "
                                  f"reviews plus {size - n_real} augmented ones.")
        if len(got_texts) != size:
            return verdict(False, f"asked for size={size}, you returned {len(got_texts)} texts.")
        if got_texts[:n_real] != texts[:n_real]:
            return verdict(False, "keep the real reviews, all of them, first: only the augmented "
                                  "copies are subsampled.")
        if any(count > 1 for count in Counter(got_texts).values()):
            return verdict(False, "a text appears twice: draw without replacement "
                                  "(random.Random(seed).sample).")
        if any(t not in label_of for t in got_texts):
            return verdict(False, "return texts from the set you were given.")
        if any(label_of[t] != lab for t, lab in zip(got_texts, got_labels)):
            return verdict(False, "a label no longer sits next to its own text: draw the same "
                                  "positions from texts and from labels (draw indices, or pairs), "
                                  "never shuffle the two lists separately.")
    return verdict(True, "", "Now an augmentation is compared with real data and with another "
                             "augmentation at the same number of texts.")


# ---- exercise 3: abstain near the threshold ----------------------------------------------------
def _scored(seed):
    """(scores, labels, threshold): log-odds whose errors sit near the threshold."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 200)
    threshold = 0.5 + seed
    scores = threshold + (2 * labels - 1) * rng.gamma(2.0, 1.0, 200) + rng.normal(0, 1.2, 200)
    return scores, labels, threshold


def _abstain(scores, labels, threshold, margin):
    answered = np.abs(scores - threshold) > margin
    right = (scores > threshold).astype(int) == labels
    return float(right[answered].mean()), float(answered.mean())


def check_abstain(abstain):
    """Exercise 3: abstain(scores, labels, threshold, margin) -> (accuracy on the answered
    examples, share answered); an example is answered when |score - threshold| > margin, and its
    answer is 1 when score > threshold."""
    for seed, margin in ((0, 0.5), (1, 1.0), (2, 2.0)):
        scores, labels, threshold = _scored(seed)
        answer, hint = try_answer(abstain, scores.copy(), labels.copy(), threshold, margin)
        if hint:
            return verdict(False, hint)
        try:
            accuracy, share = (as_float(part) for part in answer)
        except (TypeError, ValueError):
            accuracy = share = None
        if accuracy is None or share is None:
            return verdict(False, "return a pair of numbers: (accuracy on the answered "
                                  "examples, share of the examples answered).")
        want_accuracy, want_share = _abstain(scores, labels, threshold, margin)
        if np.isclose(share, 1 - want_share) and not np.isclose(share, want_share):
            return verdict(False, "that is the share of examples it abstains on; return the "
                                  "share it answers.")
        right = (scores > threshold).astype(int) == labels
        answered = np.abs(scores - threshold) > margin
        if np.isclose(accuracy, (right & answered).mean()):
            return verdict(False, "an abstention is not a wrong answer: divide the right answers "
                                  "by the number of examples answered, not by all of them.")
        around_zero = np.abs(scores) > margin
        if (np.isclose(accuracy, right[around_zero].mean())
                and np.isclose(share, around_zero.mean())):
            return verdict(False, "abstain near the THRESHOLD, |score - threshold| <= margin, "
                                  "not near 0: the calibrated threshold is where the model is "
                                  "least sure.")
        if not (np.isclose(accuracy, want_accuracy) and np.isclose(share, want_share)):
            return verdict(False, "answer where |score - threshold| > margin; the answer is 1 "
                                  "when score > threshold; accuracy over the answered ones only.")
    scores, labels, threshold = _scored(0)
    everything = _abstain(scores, labels, threshold, 0.0)[0]
    accuracy, share = _abstain(scores, labels, threshold, 1.0)
    return verdict(True, "", f"On the first test set, abstaining within 1.0 of the threshold "
                             f"raises accuracy from {everything:.2f} to {accuracy:.2f} on the "
                             f"{share:.0%} it still answers: a gain paid for in questions left "
                             "unanswered.")
