"""Mistakes the language-model chapter's checkers recognise (common checks: test_exercises.py)."""
from collections import Counter

import numpy as np
import pytest
import torch
from _helpers import rejects

from minillm.exercises.language_models import (
    check_bigram_matrix,
    check_most_frequent_pair,
    check_perplexity,
    check_sequence_prob,
)

CHAPTER = "01-language-models"  # the `solutions` fixture (conftest.py) loads its solutions.py


def test_answers_in_other_number_types_are_accepted(solutions, capsys):
    assert check_perplexity(lambda p: torch.tensor(solutions.perplexity_of(p)))
    assert check_sequence_prob(lambda f, ids: np.float32(solutions.sequence_prob(f, ids)))
    assert check_bigram_matrix(lambda ids, v: torch.tensor(solutions.bigram_matrix(ids, v)))
    assert check_most_frequent_pair(lambda wc: list(solutions.most_frequent_pair(wc)))


# --- exercise 1: the chain rule ---------------------------------------------------------------

def test_sequence_prob_of_independent_tokens_is_rejected(capsys):
    rejects(check_sequence_prob, lambda f, ids: np.prod([f([], w) for w in ids]), capsys,
             "not independent")


def test_sequence_prob_conditioned_on_the_previous_token_only_is_rejected(capsys):
    def bigram(f, ids):
        return np.prod([f(ids[max(0, t - 1):t], ids[t]) for t in range(len(ids))])

    rejects(check_sequence_prob, bigram, capsys, "bigram approximation")


def test_sequence_prob_conditioned_on_the_last_two_tokens_only_is_rejected(capsys):
    def trigram(f, ids):
        return np.prod([f(ids[max(0, t - 2):t], ids[t]) for t in range(len(ids))])

    rejects(check_sequence_prob, trigram, capsys, "last two tokens")


def test_sequence_prob_without_the_first_token_is_rejected(capsys):
    def skips_first(f, ids):
        return np.prod([f(ids[:t], ids[t]) for t in range(1, len(ids))])

    rejects(check_sequence_prob, skips_first, capsys, "first token")


def test_sequence_log_prob_is_rejected_with_a_hint(capsys):
    def log_prob(f, ids):
        return sum(np.log(f(ids[:t], ids[t])) for t in range(len(ids)))

    rejects(check_sequence_prob, log_prob, capsys, "log-probability")


def test_sequence_prob_that_raises_becomes_a_hint(capsys):
    rejects(check_sequence_prob, lambda f, ids: f(ids), capsys, "raised TypeError")


# --- exercise 2: the bigram matrix ------------------------------------------------------------

def bigram_counts(ids, vocab_size):
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    return counts


def test_bigram_joint_probabilities_are_rejected(capsys):
    rejects(check_bigram_matrix, lambda ids, v: bigram_counts(ids, v) / (len(ids) - 1), capsys,
             "joint")


def test_bigram_matrix_transposed_is_rejected(solutions, capsys):
    rejects(check_bigram_matrix, lambda ids, v: solutions.bigram_matrix(ids, v).T, capsys,
             "swapped")


def test_bigram_matrix_dividing_by_all_occurrences_is_rejected(capsys):
    def counts_the_last_token(ids, v):
        return bigram_counts(ids, v) / np.bincount(ids, minlength=v)[:, None]

    rejects(check_bigram_matrix, counts_the_last_token, capsys, "ids[:-1]")


def test_bigram_matrix_counted_with_fancy_index_plus_equals_is_rejected(capsys):
    def plus_equals(ids, v):
        counts = np.zeros((v, v))
        counts[ids[:-1], ids[1:]] += 1
        return counts / counts.sum(axis=1, keepdims=True)

    rejects(check_bigram_matrix, plus_equals, capsys, "np.add.at")


def test_bigram_matrix_with_add_one_smoothing_is_rejected(capsys):
    def add_one(ids, v):
        counts = bigram_counts(ids, v) + 1
        return counts / counts.sum(axis=1, keepdims=True)

    rejects(check_bigram_matrix, add_one, capsys, "no smoothing")


def test_bigram_matrix_of_the_wrong_shape_is_rejected(solutions, capsys):
    rejects(check_bigram_matrix, lambda ids, v: solutions.bigram_matrix(ids, v)[:-1], capsys,
             "(vocab_size, vocab_size)")


# --- exercise 3: perplexity -------------------------------------------------------------------

@pytest.mark.parametrize("wrong, hint", [
    (lambda p: np.exp(-np.log(p).sum()), "mean"),
    (lambda p: -np.log(p).mean(), "its exp"),
    (lambda p: np.exp(np.log(p).mean()), "minus sign"),
    (lambda p: 1 / np.mean(p), "log-probabilities"),
    (lambda p: 2 ** -np.log(p).mean(), "natural log"),
    (lambda p: "4.18", "one number"),
    (lambda p: np.exp(-np.log(p)), "one number"),
])
def test_perplexity_mistakes_are_rejected_with_their_hint(wrong, hint, capsys):
    rejects(check_perplexity, wrong, capsys, hint)


# --- exercise 4: one step of BPE training -----------------------------------------------------

def test_pair_counted_once_per_word_is_rejected(capsys):
    def unweighted(word_counts):
        pairs = Counter(pair for word in word_counts for pair in zip(word, word[1:]))
        return pairs.most_common(1)[0][0]

    rejects(check_most_frequent_pair, unweighted, capsys, "word's count")


def test_pair_counted_once_per_word_it_occurs_in_is_rejected(capsys):
    def distinct_pairs(word_counts):
        pairs = Counter()
        for word, count in word_counts.items():
            for pair in set(zip(word, word[1:])):
                pairs[pair] += count
        return pairs.most_common(1)[0][0]

    rejects(check_most_frequent_pair, distinct_pairs, capsys, "every occurrence")


def test_perplexity_given_as_a_string_is_rejected(solutions, capsys):
    rejects(check_perplexity, lambda p: str(solutions.perplexity_of(p)), capsys, "one number")


def test_pair_returned_as_the_merged_string_is_rejected(solutions, capsys):
    rejects(check_most_frequent_pair, lambda wc: "".join(solutions.most_frequent_pair(wc)),
             capsys, "tuple")


def test_pair_counted_over_characters_instead_of_symbols_is_rejected(capsys):
    def characters(word_counts):
        pairs = Counter()
        for word, count in word_counts.items():
            text = "".join(word)
            for pair in zip(text, text[1:]):
                pairs[pair] += count
        return pairs.most_common(1)[0][0]

    rejects(check_most_frequent_pair, characters, capsys, "adjacent pair")


def test_pair_exercise_data_has_no_ties():
    from minillm.exercises.language_models import _PAIR_CASES, _pair_counts

    for word_counts in _PAIR_CASES:
        (_, first), (_, second) = _pair_counts(word_counts, weighted=True).most_common(2)
        assert first > second
