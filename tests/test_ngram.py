"""The n-gram baseline: smoothed counts that follow the formulas, a chain rule that adds up to 1,
clear errors, and fast enough for a chapter."""
from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm.ngram import NGramModel

TOY = [0, 1, 2, 0, 1, 1, 2, 0, 2, 2, 1, 0, 1, 2, 3]   # vocabulary 5: token 4 never occurs


def naive_distribution(train, n, vocab_size, smoothing, k, context):
    """The module docstring's formulas, with counts found by scanning the training ids."""
    context = list(context)[len(context) - min(len(context), n - 1):]

    def counts_after(history):
        counts = np.zeros(vocab_size)
        for t in range(len(history), len(train)):
            if list(train[t - len(history):t]) == list(history):
                counts[train[t]] += 1
        return counts

    pseudo = k * vocab_size
    probs = np.full(vocab_size, 1 / vocab_size)
    if smoothing == "add_k":
        counts = counts_after(context)
        return (counts + pseudo * probs) / (counts.sum() + pseudo)
    for j in range(len(context) + 1):
        counts = counts_after(context[len(context) - j:])
        probs = (counts + pseudo * probs) / (counts.sum() + pseudo)
    return probs


ids_lists = st.lists(st.integers(0, 3), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(train=ids_lists, test=ids_lists, n=st.integers(1, 4),
       smoothing=st.sampled_from(["add_k", "interpolated"]), k=st.sampled_from([0.05, 0.5, 2.0]))
def test_probabilities_follow_the_smoothing_formulas(train, test, n, smoothing, k):
    model = NGramModel(n, 4, smoothing, k).fit(train)
    for t in range(len(test) + 1):
        want = naive_distribution(train, n, 4, smoothing, k, test[:t])
        assert np.allclose(model.next_distribution(test[:t]), want)
    scored = [np.log(naive_distribution(train, n, 4, smoothing, k, test[:t])[test[t]])
              for t in range(len(test))]
    assert np.allclose(model.token_log_probs(test), scored)


@pytest.mark.parametrize("smoothing", ["add_k", "interpolated"])
@pytest.mark.parametrize("context", [[], [0], [1, 2], [4, 4], [3, 0, 1, 2], [2, 4, 0]])
def test_next_distribution_sums_to_one_for_seen_unseen_and_empty_contexts(smoothing, context):
    probs = NGramModel(3, 5, smoothing, k=0.1).fit(TOY).next_distribution(context)
    assert probs.shape == (5,)
    assert np.isclose(probs.sum(), 1.0) and (probs > 0).all()


@pytest.mark.parametrize("smoothing", ["add_k", "interpolated"])
def test_chain_rule_probabilities_of_all_sequences_of_a_length_sum_to_one(smoothing):
    model = NGramModel(3, 3, smoothing, k=0.3).fit([0, 1, 2, 2, 1, 0, 0, 1])
    total = sum(np.exp(model.log_likelihood(seq)) for seq in itertools.product(range(3), repeat=4))
    assert np.isclose(total, 1.0)


def test_log_likelihood_is_the_chain_rule_over_next_distribution():
    model = NGramModel(3, 5).fit(TOY)
    seq = [1, 2, 0, 4, 1, 2]
    chain = sum(np.log(model.prob(seq[:t], seq[t])) for t in range(len(seq)))
    assert np.isclose(model.log_likelihood(seq), chain)
    assert np.isclose(model.perplexity(seq), np.exp(-chain / len(seq)))


def test_count_is_how_often_a_token_followed_the_context():
    model = NGramModel(3, 5).fit(TOY)
    assert model.count([0, 1], 2) == 2 and model.count([0, 1], 1) == 1
    assert model.count([1], 2) == 3 and model.count([], 1) == 5
    assert model.count([4, 4], 0) == 0          # an unseen context counts nothing
    assert model.count([9 % 5, 0, 1], 2) == 2   # only the last n - 1 tokens matter


def test_a_uniform_model_has_perplexity_equal_to_the_vocabulary_size():
    model = NGramModel(1, 7).fit(list(range(7)) * 3)
    assert np.allclose(model.next_distribution([]), 1 / 7)
    assert np.isclose(model.perplexity([3, 1, 4, 1, 5]), 7.0)


def test_add_k_and_interpolated_are_the_same_unigram_model():
    a = NGramModel(1, 5, "add_k", k=0.3).fit(TOY)
    b = NGramModel(1, 5, "interpolated", k=0.3).fit(TOY)
    assert np.allclose(a.next_distribution([2]), b.next_distribution([2]))


def test_interpolated_model_falls_back_to_the_shorter_context_when_the_context_is_unseen():
    model = NGramModel(3, 5, "interpolated").fit(TOY)
    assert model.count([4], 0) == 0
    assert np.allclose(model.next_distribution([4, 1]), NGramModel(2, 5).fit(TOY)
                       .next_distribution([1]))
    assert np.allclose(model.next_distribution([1, 4]), NGramModel(1, 5).fit(TOY)
                       .next_distribution([]))


def test_add_k_model_is_uniform_after_an_unseen_context():
    model = NGramModel(2, 5, "add_k", k=1.0).fit(TOY)
    assert np.allclose(model.next_distribution([4]), 0.2)


def test_smaller_k_trusts_the_counts_more():
    seen = [NGramModel(2, 5, "add_k", k=k).fit(TOY).prob([0], 1) for k in (1.0, 0.1, 0.01)]
    assert seen[0] < seen[1] < seen[2] < 1
    assert np.isclose(seen[2], (3 + 0.01) / (4 + 0.05))   # 0 -> 1 three times out of four


def test_longer_contexts_fit_the_training_text_better():
    text = np.array(list(b"the cat sat on the mat, the cat ate the rat. " * 3))
    ppl = [NGramModel(n, 256, "add_k", k=0.01).fit(text).perplexity(text) for n in (1, 2, 3, 4)]
    assert ppl == sorted(ppl, reverse=True)


def test_lists_arrays_and_tensors_give_the_same_model():
    models = [NGramModel(3, 5).fit(ids) for ids in (TOY, np.array(TOY), torch.tensor(TOY))]
    for model in models:
        assert model.log_likelihood(torch.tensor([1, 2, 0])) == models[0].log_likelihood([1, 2, 0])


def test_generate_continues_the_context_and_repeats_with_the_same_seed():
    model = NGramModel(3, 5).fit(TOY)
    sample = model.generate([0, 1], 20, seed=3)
    assert sample[:2] == [0, 1] and len(sample) == 22
    assert all(isinstance(i, int) and 0 <= i < 5 for i in sample)
    assert sample == model.generate([0, 1], 20, seed=3)
    assert model.generate([], 0, seed=1) == []


def test_generate_follows_a_deterministic_text():
    model = NGramModel(2, 5, "add_k", k=1e-9).fit([0, 1, 2, 3] * 10)
    assert model.generate([0], 8, seed=0) == [0, 1, 2, 3, 0, 1, 2, 3, 0]


def test_generate_with_a_generator_continues_its_stream():
    model = NGramModel(2, 5).fit(TOY)
    rng = np.random.default_rng(7)
    first, second = model.generate([], 10, generator=rng), model.generate([], 10, generator=rng)
    both = model.generate([], 10, generator=np.random.default_rng(7))
    assert first == both and second != first


def test_fits_a_char_level_5gram_on_the_pydoc_text_in_under_two_seconds():
    from minillm.data import pydoc_corpus

    text = "\n".join(doc.text for doc in pydoc_corpus())
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in chars])[np.searchsorted(chars, list(text))]
    start = time.perf_counter()
    model = NGramModel(5, len(chars)).fit(ids)
    assert time.perf_counter() - start < 2.0
    assert 1.5 < model.perplexity(ids[:20_000]) < 4.0


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"n": 0, "vocab_size": 5}, "n must be an integer >= 1"),
    ({"n": 2.0, "vocab_size": 5}, "n must be an integer >= 1"),
    ({"n": True, "vocab_size": 5}, "n must be an integer >= 1"),
    ({"n": 2, "vocab_size": 0}, "vocab_size must be a positive integer"),
    ({"n": 2, "vocab_size": 5, "smoothing": "kneser_ney"}, "smoothing must be one of"),
    ({"n": 2, "vocab_size": 5, "k": 0}, "k must be > 0"),
    ({"n": 2, "vocab_size": 5, "k": -1.0}, "k must be > 0"),
])
def test_bad_settings_are_refused_with_a_clear_message(kwargs, words):
    with pytest.raises(ValueError, match=words):
        NGramModel(**kwargs)


@pytest.mark.parametrize("ids, words", [
    ([], "ids is empty"),
    ([0, 5, 1], "token id 5 at position 1 is out of range"),
    ([0, -1], "token id -1 at position 1 is out of range"),
    ([[0, 1], [1, 2]], "one flat sequence"),
    ([0.5, 1.0], "must be integers"),
    ([True, False], "must be integers"),
])
def test_bad_ids_are_refused_by_fit_and_by_scoring(ids, words):
    with pytest.raises(ValueError, match=words):
        NGramModel(2, 5).fit(ids)
    with pytest.raises(ValueError, match=words):
        NGramModel(2, 5).fit(TOY).log_likelihood(ids)


def test_out_of_range_next_token_and_context_are_refused():
    model = NGramModel(2, 5).fit(TOY)
    with pytest.raises(ValueError, match="token id 7 is out of range"):
        model.prob([0], 7)
    with pytest.raises(ValueError, match="out of range"):
        model.next_distribution([0, 9])


def test_using_a_model_before_fit_names_the_fix():
    for use in (lambda m: m.next_distribution([0]), lambda m: m.perplexity([0]),
                lambda m: m.generate([], 3, seed=0), lambda m: m.count([0], 1)):
        with pytest.raises(ValueError, match=r"call fit\(ids\) first"):
            use(NGramModel(2, 5))


def test_generate_refuses_a_negative_length_and_two_sources_of_randomness():
    model = NGramModel(2, 5).fit(TOY)
    with pytest.raises(ValueError, match="n_tokens must be an integer >= 0"):
        model.generate([0], -1)
    with pytest.raises(ValueError, match="seed or generator, not both"):
        model.generate([0], 3, seed=0, generator=np.random.default_rng(0))


def test_context_seen_marks_positions_whose_whole_context_occurred_in_training():
    model = NGramModel(3, 5).fit(TOY)
    # contexts before positions 2..5: (0, 1) seen, (1, 4) unseen, (4, 0) unseen, (0, 1) seen
    assert model.context_seen([0, 1, 4, 0, 1, 2]).tolist() == [False, False, True, False, False,
                                                               True]
    assert NGramModel(1, 5).fit(TOY).context_seen([4, 4]).all()


def test_repr_names_the_settings_and_the_training_size():
    model = NGramModel(2, 5, "add_k", k=0.5)
    assert repr(model) == "NGramModel(n=2, vocab_size=5, smoothing='add_k', k=0.5; not fitted)"
    assert repr(model.fit(TOY)).endswith("fitted on 15 tokens)")
