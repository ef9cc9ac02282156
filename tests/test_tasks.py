"""The offline fine-tuning tasks are deterministic, balanced, labelled as documented."""
import pytest

from minillm.tasks import (
    TOPICS,
    instruction_set,
    sentiment_task,
    spam_task,
    stdlib_topic_snippets,
    stdlib_topic_task,
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
