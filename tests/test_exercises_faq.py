"""Mistakes the FAQ chapter's checkers recognise (common checks: test_exercises.py)."""
import random

import numpy as np
from _helpers import rejects

from minillm.exercises.faq import check_abstain, check_choose_and_report, check_equal_size

CHAPTER = "11-faq"  # the `solutions` fixture (conftest.py) loads its solutions.py


def test_choosing_by_the_test_loss_is_rejected(capsys):
    def by_test(sweep):
        chosen = min(sweep, key=lambda lr: sweep[lr][1])
        return chosen, sweep[chosen][1]

    rejects(check_choose_and_report, by_test, capsys, "lowest TEST loss")


def test_reporting_the_validation_loss_is_rejected(capsys):
    def reports_validation(sweep):
        chosen = min(sweep, key=lambda lr: sweep[lr][0])
        return chosen, sweep[chosen][0]

    rejects(check_choose_and_report, reports_validation, capsys, "validation loss, the number")


def test_reporting_the_best_test_loss_of_any_run_is_rejected(capsys):
    def best_test(sweep):
        chosen = min(sweep, key=lambda lr: sweep[lr][0])
        return chosen, min(test for _, test in sweep.values())

    rejects(check_choose_and_report, best_test, capsys, "not the best test loss")


def test_subsampling_the_real_reviews_too_is_rejected(capsys):
    def everything_sampled(texts, labels, n_real, size, seed):
        keep = sorted(random.Random(seed).sample(range(len(texts)), size))
        return [texts[i] for i in keep], [labels[i] for i in keep]

    rejects(check_equal_size, everything_sampled, capsys, "keep the real reviews")


def test_adding_size_new_texts_is_rejected(capsys):
    def size_new(texts, labels, n_real, size, seed):
        return texts[n_real:n_real + size - n_real], labels[n_real:size]

    rejects(check_equal_size, size_new, capsys, "size of the whole set")


def test_shuffling_texts_and_labels_separately_is_rejected(solutions, capsys):
    def separately(texts, labels, n_real, size, seed):
        kept_texts, kept_labels = solutions.equal_size(texts, labels, n_real, size, seed)
        new_labels = kept_labels[n_real:]
        new_labels = new_labels[1:] + new_labels[:1]      # each new label moves one place
        return kept_texts, kept_labels[:n_real] + new_labels

    rejects(check_equal_size, separately, capsys, "next to its own text")


def test_drawing_with_replacement_is_rejected(capsys):
    def with_replacement(texts, labels, n_real, size, seed):
        keep = list(range(n_real)) + [n_real] * (size - n_real)
        return [texts[i] for i in keep], [labels[i] for i in keep]

    rejects(check_equal_size, with_replacement, capsys, "appears twice")


def test_counting_abstentions_as_wrong_is_rejected(capsys):
    def over_all(scores, labels, threshold, margin):
        answered = np.abs(scores - threshold) > margin
        right = (scores > threshold).astype(int) == labels
        return float((right & answered).mean()), float(answered.mean())

    rejects(check_abstain, over_all, capsys, "not a wrong answer")


def test_the_share_abstained_is_rejected(solutions, capsys):
    def share_abstained(scores, labels, threshold, margin):
        accuracy, share = solutions.abstain(scores, labels, threshold, margin)
        return accuracy, 1 - share

    rejects(check_abstain, share_abstained, capsys, "share it answers")


def test_abstaining_near_zero_is_rejected(capsys):
    def near_zero(scores, labels, threshold, margin):
        answered = np.abs(scores) > margin
        right = (scores > threshold).astype(int) == labels
        return float(right[answered].mean()), float(answered.mean())

    rejects(check_abstain, near_zero, capsys, "THRESHOLD")
