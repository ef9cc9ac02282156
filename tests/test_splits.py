"""Train and test sets that cannot overlap: every generator's split="train" and split="test" are
disjoint by construction, repeat no text, are the same in every process, and refuse an n that
their side cannot supply, naming the largest possible n."""
import doctest
import os
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm.splits
from minillm.grammar import DEFAULT_VOCABULARY, Grammar, sentiment_pairs
from minillm.splits import normalise, overlap, split_of
from minillm.tasks import (
    instruction_kind,
    instruction_set,
    sentiment_task,
    spam_task,
    stdlib_topic_task,
)


def texts_of(make, n, seed, split):
    """The texts a generator makes, whatever its return shape."""
    out = make(n, seed=seed, split=split)
    if make is instruction_set:
        return [instruction for instruction, _ in out]
    if make is sentiment_pairs:
        return [pair.en for pair in out]
    return out[0]


SMALL_GENERATORS = [sentiment_task, spam_task, instruction_set, sentiment_pairs]


@settings(max_examples=25, deadline=None)
@given(make=st.sampled_from(SMALL_GENERATORS), n=st.integers(1, 40),
       train_seed=st.integers(0, 10**6), test_seed=st.integers(0, 10**6))
def test_train_and_test_never_share_a_text(make, n, train_seed, test_seed):
    train = texts_of(make, n, train_seed, "train")
    test = texts_of(make, n, test_seed, "test")
    assert overlap(train, test) == []
    assert all(split_of(t) == "train" for t in train) and all(split_of(t) == "test" for t in test)


@settings(max_examples=25, deadline=None)
@given(make=st.sampled_from(SMALL_GENERATORS), n=st.integers(1, 40), seed=st.integers(0, 10**6),
       split=st.sampled_from(["train", "test"]))
def test_a_side_repeats_no_text_and_a_seed_gives_the_same_texts(make, n, seed, split):
    texts = texts_of(make, n, seed, split)
    assert len(texts) == n
    assert len({normalise(t) for t in texts}) == n
    assert texts == texts_of(make, n, seed, split)


def test_topic_train_and_test_are_disjoint():
    train, _ = stdlib_topic_task(200, seed=1, split="train")
    test, _ = stdlib_topic_task(300, seed=2, split="test")
    assert overlap(train, test) == []
    assert len(set(test)) == 300


def test_a_review_and_its_translation_are_on_the_same_side():
    en, labels = sentiment_task(60, seed=3, language="en", split="test")
    zh, labels_zh = sentiment_task(60, seed=3, language="zh", split="test")
    assert labels == labels_zh and len(set(zh)) == 60
    train_pairs = sentiment_pairs(2000, seed=0, split="train")
    assert overlap([p.zh for p in train_pairs], zh) == []


@pytest.mark.parametrize("seed", range(5))
def test_grammar_sentences_are_split_by_their_english(seed):
    grammar = Grammar(seed=0)
    train = [p.en for p in grammar.sample(300, seed=seed, split="train")]
    test = [p.en for p in grammar.sample(300, seed=seed + 100, split="test")]
    assert overlap(train, test) == []
    assert grammar.sample(50, seed=seed, split="train") == grammar.sample(50, seed=seed,
                                                                         split="train")


def test_split_of_ignores_case_and_spacing_and_is_about_half_and_half():
    assert split_of("The movie is  good\n") == split_of("the movie is good")
    sides = [split_of(f"sentence number {i}") for i in range(2000)]
    assert 0.45 < sides.count("test") / len(sides) < 0.55


def test_overlap_lists_the_test_texts_seen_in_training_after_normalising():
    train = ["the movie is good", "Free  tea"]
    test = ["THE movie is good", "the song is boring", "free tea", "the movie is good"]
    assert overlap(train, test) == ["THE movie is good", "free tea", "the movie is good"]
    assert overlap([], test) == [] and overlap(train, []) == []
    assert normalise("  A\tB  c ") == "a b c"


def test_the_docstring_examples_hold():
    assert doctest.testmod(minillm.splits).failed == 0


SIDES_IN_A_PROCESS = """
from minillm.splits import split_of
from minillm.tasks import instruction_set, sentiment_task, spam_task
print(repr((
    [split_of(t) for t in ("the cat eats", "the movie is good", "猫吃鱼", "x")],
    sentiment_task(20, seed=1, split="test"),
    spam_task(20, seed=1, split="train"),
    instruction_set(10, seed=1, split="test"),
)))
"""


def test_the_split_is_the_same_in_every_process_whatever_the_hash_seed():
    outputs = []
    for hash_seed in ("1", "987"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", SIDES_IN_A_PROCESS], env=env, check=True,
                              capture_output=True, text=True)
        outputs.append(done.stdout)
    here = repr(([split_of(t) for t in ("the cat eats", "the movie is good", "猫吃鱼", "x")],
                 sentiment_task(20, seed=1, split="test"), spam_task(20, seed=1, split="train"),
                 instruction_set(10, seed=1, split="test")))
    assert outputs[0] == outputs[1] == here + "\n"


def largest_in(error):
    return int(re.search(r"at most (\d+)", str(error.value)).group(1))


@pytest.mark.parametrize("make", [instruction_set, spam_task, sentiment_task])
def test_too_large_n_is_refused_naming_the_largest(make):
    with pytest.raises(ValueError, match="at most") as error:
        make(100_000, split="train")
    largest = largest_in(error)
    assert len(texts_of(make, largest, 0, "train")) == largest       # the largest n works
    with pytest.raises(ValueError, match="at most"):
        make(largest + 1, split="train")


def test_a_small_sentiment_space_runs_out_with_a_clear_error():
    with pytest.raises(ValueError, match="at most") as error:
        sentiment_pairs(97, constructions=("plain",), split="test")
    largest = largest_in(error)
    everything = sentiment_pairs(largest, constructions=("plain",), split="test")
    train = sentiment_pairs(96 - largest, constructions=("plain",), split="train")
    assert len({p.en for p in everything} | {p.en for p in train}) == 96   # all 96 plain reviews


def test_topic_refuses_too_large_n_naming_the_largest():
    with pytest.raises(ValueError, match="at most") as error:
        stdlib_topic_task(5000, split="test")
    largest = largest_in(error)
    assert len(stdlib_topic_task(largest, split="test")[0]) == largest
    with pytest.raises(ValueError, match="at most"):
        stdlib_topic_task(largest + 1, split="test")


def test_a_grammar_with_no_sentence_on_a_side_stops_with_an_error():
    one_sentence = {"subject": "cat", "verb": "eat", "object": "fish", "subject_det": "the",
                    "object_det": "the", "subject_adj": None, "object_adj": None,
                    "negated": False, "place": None, "time": None, "tense": "present"}
    grammar = Grammar(DEFAULT_VOCABULARY)
    side = split_of(grammar.sample(1, seed=0, fixed=one_sentence)[0].en)
    other = "train" if side == "test" else "test"
    assert len(grammar.sample(3, seed=0, fixed=one_sentence, split=side)) == 3
    with pytest.raises(ValueError, match=f"on the {other} side"):
        grammar.sample(1, seed=0, fixed=one_sentence, split=other)


@pytest.mark.parametrize("make", [instruction_set, spam_task, sentiment_task, stdlib_topic_task,
                                  sentiment_pairs])
def test_an_unknown_split_is_refused(make):
    with pytest.raises(ValueError, match="split must be"):
        make(5, split="validation")


def test_every_instruction_has_a_kind_and_a_foreign_one_is_refused():
    kinds = {instruction_kind(q) for q, _ in instruction_set(40, seed=0, split="test")}
    assert kinds == {"type", "opposite", "upper", "repeat"}
    with pytest.raises(ValueError, match="not one of"):
        instruction_kind("Translate cat into Chinese.")
