"""Mistakes the pretraining chapter's checkers recognise (common checks: test_exercises.py)."""

import re
from collections import Counter

import numpy as np
import torch
from _helpers import prose_sentences, rejects

from minillm.data import pydoc_corpus, split_documents
from minillm.exercises.pretraining import (
    EXAMPLE_SIMILARITY,
    _random_embeddings,
    best_overlap_accuracy,
    check_info_nce,
    check_mask_one,
    check_nsp_rule,
    check_nucleus,
)
from minillm.objectives import contrastive_loss

CHAPTER = "04-pretraining"  # the `solutions` fixture (conftest.py) loads its solutions.py


# ---- exercise 1: 80/10/10 masking ----------------------------------------------------------
def test_masking_every_picked_token_is_rejected(solutions, capsys):
    def always_mask(ids, u_pick, u_action, random_ids, mask_id):
        inputs, labels = solutions.mask_one(ids, u_pick, [0.0] * len(ids), random_ids, mask_id)
        return inputs, labels

    rejects(check_mask_one, always_mask, capsys, "not every picked token")


def test_labels_on_every_token_are_rejected(solutions, capsys):
    def labels_everywhere(ids, u_pick, u_action, random_ids, mask_id):
        inputs, _ = solutions.mask_one(ids, u_pick, u_action, random_ids, mask_id)
        return inputs, list(ids)

    rejects(check_mask_one, labels_everywhere, capsys, "-100")


def test_labels_holding_the_replacement_are_rejected(solutions, capsys):
    def labels_of_inputs(ids, u_pick, u_action, random_ids, mask_id):
        inputs, labels = solutions.mask_one(ids, u_pick, u_action, random_ids, mask_id)
        return inputs, [i if label != -100 else -100 for i, label in zip(inputs, labels)]

    rejects(check_mask_one, labels_of_inputs, capsys, "ORIGINAL")


def test_swapped_random_and_unchanged_shares_are_rejected(solutions, capsys):
    def swapped(ids, u_pick, u_action, random_ids, mask_id):
        # random replacement for u_action >= 0.9 and unchanged for 0.8 <= u_action < 0.9
        flipped = [a if a < 0.8 else a + 0.1 if a < 0.9 else a - 0.1 for a in u_action]
        return solutions.mask_one(ids, u_pick, flipped, random_ids, mask_id)

    rejects(check_mask_one, swapped, capsys, "u_action")


# ---- exercise 2: InfoNCE -------------------------------------------------------------------
def test_info_nce_solution_equals_the_library_on_random_embeddings(solutions):
    for seed in range(3):
        a, b = _random_embeddings(seed)
        cosines = (torch.nn.functional.normalize(a, dim=-1)
                   @ torch.nn.functional.normalize(b, dim=-1).T).numpy()
        assert np.isclose(solutions.info_nce(cosines, 0.1), float(contrastive_loss(a, b, 0.1)))


def test_info_nce_of_the_2x2_example_by_hand(solutions):
    row0 = -np.log(np.exp(9) / (np.exp(9) + np.exp(2)))
    row1 = -np.log(np.exp(7) / (np.exp(4) + np.exp(7)))
    assert np.isclose(solutions.info_nce(EXAMPLE_SIMILARITY, 0.1), (row0 + row1) / 2)


def test_info_nce_without_temperature_is_rejected(solutions, capsys):
    rejects(check_info_nce, lambda s, t: solutions.info_nce(s, 1.0), capsys, "temperature")


def test_info_nce_over_columns_is_rejected(solutions, capsys):
    rejects(check_info_nce, lambda s, t: solutions.info_nce(s.T, t), capsys, "ROW")


def test_info_nce_with_the_wrong_sign_is_rejected(solutions, capsys):
    rejects(check_info_nce, lambda s, t: -solutions.info_nce(s, t), capsys, "MINUS")


# ---- exercise 3: top-p ---------------------------------------------------------------------
def test_nucleus_that_drops_the_crossing_token_is_rejected(capsys):
    def strict(probs, top_p):
        order = np.argsort(-probs)
        kept = np.zeros_like(probs)
        total = 0.0
        for i in order:
            if total + probs[i] > top_p:
                break
            kept[i], total = probs[i], total + probs[i]
        if kept.sum() == 0:
            kept[order[0]] = probs[order[0]]
        return kept / kept.sum()

    rejects(check_nucleus, strict, capsys, "reach top_p")


def test_nucleus_that_keeps_one_more_token_at_an_exact_tie_gets_the_tie_hint(capsys):
    # the old Hugging Face way: drop where the running total exceeds top_p, shifted right by one
    def cumsum_shifted(probs, top_p):
        order = np.argsort(-probs, kind="stable")
        remove = np.cumsum(probs[order]) > top_p
        remove[1:], remove[0] = remove[:-1].copy(), False
        kept = np.zeros_like(probs)
        kept[order[~remove]] = probs[order[~remove]]
        return kept / kept.sum()

    rejects(check_nucleus, cumsum_shifted, capsys, "one token too many")


def test_nucleus_without_renormalising_is_rejected(solutions, capsys):
    def unnormalised(probs, top_p):
        kept = solutions.nucleus(probs, top_p) > 0
        return np.where(kept, probs, 0.0)

    rejects(check_nucleus, unnormalised, capsys, "renormalise")


# ---- exercise 4: NSP by shared words, better than the overlap rule --------------------------
def _overlap(a, b):
    words_a, words_b = (set(re.findall(r"[a-z]+", s.lower())) for s in (a, b))
    return len(words_a & words_b) / max(1, len(words_a | words_b))


def test_nsp_rule_that_always_says_next_is_rejected(nsp_texts, capsys):
    rejects(check_nsp_rule, lambda a, b: True, capsys, "right on", nsp_texts)


def test_nsp_rule_must_answer_with_a_bool(nsp_texts, capsys):
    rejects(check_nsp_rule, lambda a, b: 0.3, capsys, "True or False", nsp_texts)


def test_the_chapters_overlap_rule_is_not_enough(nsp_texts, capsys):
    # the review's free pass: section 3's overlap() above 0.1, not 3 points better than the best t
    rejects(check_nsp_rule, lambda a, b: _overlap(a, b) > 0.1, capsys, "best threshold",
            nsp_texts)


def test_the_overlap_rule_at_its_best_threshold_is_not_enough(nsp_texts, capsys):
    _, threshold = best_overlap_accuracy(nsp_texts)
    rejects(check_nsp_rule, lambda a, b: _overlap(a, b) > threshold, capsys, "best threshold",
            nsp_texts)


def test_a_table_of_the_labels_is_rejected(nsp_texts, capsys):
    labels = {(a, b): is_next for a, b, is_next in nsp_texts}
    rejects(check_nsp_rule, lambda a, b: labels.get((a, b), False), capsys, "another order",
            nsp_texts)


def test_a_rule_that_reads_word_order_is_rejected(nsp_texts, capsys):
    def starts_like_a_continuation(a, b):
        return b.split()[0] in {"It", "This", "The", "If", "In"} or _overlap(a, b) > 0.1

    rejects(check_nsp_rule, starts_like_a_continuation, capsys, "another order", nsp_texts)


def test_a_table_keyed_by_word_sets_is_too_good_to_be_a_rule(nsp_texts, capsys):
    def key(a, b):
        return frozenset(re.findall(r"[a-z]+", a.lower())), \
            frozenset(re.findall(r"[a-z]+", b.lower()))

    labels = {key(a, b): is_next for a, b, is_next in nsp_texts}
    rejects(check_nsp_rule, lambda a, b: labels.get(key(a, b), False), capsys,
            "more than shared words can tell", nsp_texts)


def test_a_rule_that_ignores_the_commonest_training_words_passes(nsp_texts, capsys):
    # another idea than the solution's stop list: drop the 20 words found in most training
    # sentences (counted once per sentence: a word's spread, not its repeats)
    train_docs, _ = split_documents(pydoc_corpus(), valid_fraction=0.1, seed=0)
    counts = Counter(word for doc in train_docs for sentence in prose_sentences(doc.text)
                     for word in set(re.findall(r"[a-z]+", sentence.lower())))
    common = {w for w, _ in counts.most_common(20)}

    def rare_word_shared(a, b):
        words_a, words_b = (set(re.findall(r"[a-z]+", s.lower())) - common for s in (a, b))
        return bool(words_a & words_b)

    assert check_nsp_rule(rare_word_shared, nsp_texts)
    assert "✅" in capsys.readouterr().out


def _training_sentence_counts():
    # in how many training sentences each word occurs (once per sentence: its spread)
    train_docs, _ = split_documents(pydoc_corpus(), valid_fraction=0.1, seed=0)
    sentences = [s for doc in train_docs for s in prose_sentences(doc.text)]
    counts = Counter(word for s in sentences for word in set(re.findall(r"[a-z]+", s.lower())))
    return counts, len(sentences)


def test_a_rule_that_weighs_shared_words_by_rarity_passes(nsp_texts, capsys):
    # the exercise's other hint, done the textbook way: the IDF-weighted sum of the shared words,
    # at a round threshold not tuned on the pairs (the review found the bar out of its reach)
    counts, n = _training_sentence_counts()

    def rare_words_weigh_enough(a, b):
        shared = set(re.findall(r"[a-z]+", a.lower())) & set(re.findall(r"[a-z]+", b.lower()))
        return sum(np.log(n / (1 + counts[w])) for w in shared) > 4

    assert check_nsp_rule(rare_words_weigh_enough, nsp_texts)
    assert "✅" in capsys.readouterr().out


def test_the_checker_scores_each_distinct_pair_once(nsp_texts):
    # the same pairs twice over score the same: repeats carry no weight
    assert best_overlap_accuracy(nsp_texts) == best_overlap_accuracy(list(nsp_texts) * 2)
    assert len(set(nsp_texts)) < len(nsp_texts)        # the fixture does repeat pairs


def test_info_nce_in_both_directions_gets_the_one_direction_hint(solutions, capsys):
    def symmetric(s, t):
        return (solutions.info_nce(s, t) + solutions.info_nce(s.T, t)) / 2

    rejects(check_info_nce, symmetric, capsys, "one direction only")
