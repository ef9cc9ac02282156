"""Mistakes the pretraining chapter's checkers recognise (common checks: test_exercises.py)."""

import numpy as np
import torch
from _helpers import rejects

from minillm.exercises.pretraining import (
    EXAMPLE_SIMILARITY,
    _random_embeddings,
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


def test_nucleus_without_renormalising_is_rejected(solutions, capsys):
    def unnormalised(probs, top_p):
        kept = solutions.nucleus(probs, top_p) > 0
        return np.where(kept, probs, 0.0)

    rejects(check_nucleus, unnormalised, capsys, "renormalise")


# ---- exercise 4: NSP by word overlap ------------------------------------------------------
def test_nsp_rule_that_always_says_next_is_rejected(nsp_texts, capsys):
    rejects(check_nsp_rule, lambda a, b: True, capsys, "right on", nsp_texts)


def test_nsp_rule_must_answer_with_a_bool(nsp_texts, capsys):
    rejects(check_nsp_rule, lambda a, b: 0.3, capsys, "True or False", nsp_texts)


def test_info_nce_in_both_directions_gets_the_one_direction_hint(solutions, capsys):
    def symmetric(s, t):
        return (solutions.info_nce(s, t) + solutions.info_nce(s.T, t)) / 2

    rejects(check_info_nce, symmetric, capsys, "one direction only")
