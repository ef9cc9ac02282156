"""The offline fine-tuning tasks are deterministic, balanced, labelled as documented."""
import numpy as np
import pytest

from minillm.splits import split_of
from minillm.tasks import (
    TOPICS,
    instruction_set,
    overlap,
    sentiment_task,
    sequence_text,
    spam_task,
    stdlib_topic_snippets,
    stdlib_topic_task,
    symbol_sequences,
)


@pytest.mark.parametrize("make", [sentiment_task, spam_task, stdlib_topic_task])
def test_a_seed_gives_the_same_texts_and_labels(make):
    texts, labels = make(40, seed=3)
    assert (texts, labels) == make(40, seed=3)
    assert len(texts) == len(labels) == 40
    assert make(40, seed=4)[0] != texts


def test_spam_is_balanced_and_shares_words_with_ham():
    texts, labels = spam_task(100)
    assert sum(labels) == 50
    ham = " ".join(t for t, y in zip(texts, labels) if y == 0).lower()
    assert "free" in ham and "call" in ham


def test_sentiment_keeps_the_grammar_labels_in_both_languages():
    en, labels = sentiment_task(50, seed=1, language="en")
    zh, labels_zh = sentiment_task(50, seed=1, language="zh")
    assert labels == labels_zh
    assert all(t.isascii() for t in en) and not any(t.isascii() for t in zh)
    assert "the movie is not bad" not in en or labels[en.index("the movie is not bad")] == 1


def test_topics_are_balanced_and_snippets_do_not_name_the_module():
    texts, labels = stdlib_topic_task(41)
    assert sorted(set(labels)) == list(range(len(TOPICS)))
    assert max(labels.count(k) for k in range(4)) - min(labels.count(k) for k in range(4)) <= 1
    snippets = stdlib_topic_snippets()
    assert all(len(s) >= 30 for s in snippets.values())
    assert all(t.startswith(("def ", "class ")) for t in texts)


def test_instructions_have_one_right_response():
    pairs = instruction_set(200, seed=0)
    assert pairs == instruction_set(200, seed=0)
    answers = dict(pairs)
    assert answers.get("What is the type of 3.5?", "float") == "float"
    assert all(r for _, r in pairs)


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="positive integer"):
        spam_task(bad)


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="language"):
        sentiment_task(5, language="fr")


def test_symbol_sequences_are_seeded_ints_in_range():
    seqs = symbol_sequences(50, 12, 5, seed=2)
    assert seqs.shape == (50, 12) and seqs.dtype == np.int64
    assert seqs.min() >= 0 and seqs.max() <= 4
    assert np.array_equal(seqs, symbol_sequences(50, 12, 5, seed=2))
    assert not np.array_equal(seqs, symbol_sequences(50, 12, 5, seed=3))


def test_symbol_sequences_train_and_test_never_share_a_sequence():
    train = symbol_sequences(400, 6, 4, seed=0, split="train")   # 4096 possible, many collide
    test = symbol_sequences(400, 6, 4, seed=0, split="test")
    train_texts, test_texts = [sequence_text(r) for r in train], [sequence_text(r) for r in test]
    assert overlap(train_texts, test_texts) == []
    assert {split_of(t) for t in train_texts} == {"train"}
    assert {split_of(t) for t in test_texts} == {"test"}
    assert len(set(train_texts)) == 400                             # no repeats within a side


def test_sequence_text_joins_symbol_ids():
    assert sequence_text(np.array([3, 0, 7])) == "3 0 7"


@pytest.mark.parametrize("kwargs, words", [
    (dict(n=5, length=0, n_symbols=4), "length"),
    (dict(n=5, length=4, n_symbols=1), "n_symbols"),
    (dict(n=5, length=2.5, n_symbols=4), "length"),
    (dict(n=100, length=2, n_symbols=4, split="test"), "too few"),
    (dict(n=5, length=4, n_symbols=4, split="dev"), "split"),
])
def test_symbol_sequences_refuse_bad_settings(kwargs, words):
    with pytest.raises(ValueError, match=words):
        symbol_sequences(**kwargs)
