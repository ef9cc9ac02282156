"""Checkers for the exercises of chapter 04, Pretraining objectives.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict. The placeholder `...` (or a function whose body is still `...`, which returns None) gets
"not yet", never an exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from minillm.data import IGNORE_INDEX
from minillm.exercises import TODO, as_numbers, close, is_unanswered, try_answer, verdict
from minillm.generate import next_token_probs
from minillm.objectives import mask_tokens

MASK_ID, VOCAB, SPECIAL = 3, 30, (0, 1, 2)


# ---- exercise 1: BERT's 80/10/10 ----------------------------------------------------------
def check_mask_one(mask_one):
    """Exercise 1: mask_one(ids, u_pick, u_action, random_ids, mask_id) -> (inputs, labels).

    The checker draws the same random numbers as `mask_tokens` (one generator, in its order),
    passes them to mask_one, and compares with what `mask_tokens` made of them.
    """
    for seed in range(6):
        ids, draws, expected = _masking_case(seed)
        answer, hint = try_answer(mask_one, ids.tolist(), *draws, MASK_ID)
        if hint:
            return verdict(False, hint)
        problem = _masking_problem(answer, ids, draws, expected)
        if problem:
            return verdict(False, problem)
    return verdict(True, "", "Your masking equals minillm.objectives.mask_tokens, draw for draw.")


def _masking_case(seed, length=40):
    """(ids, (u_pick, u_action, random_ids), (inputs, labels) from mask_tokens) for one seed."""
    ids = torch.randint(len(SPECIAL) + 1, VOCAB, (length,), generator=torch.Generator()
                        .manual_seed(100 + seed))
    generator = torch.Generator().manual_seed(seed)
    u_pick = torch.rand(ids.shape, generator=generator)
    u_action = torch.rand(ids.shape, generator=generator)
    ordinary = torch.tensor([i for i in range(VOCAB) if i not in (*SPECIAL, MASK_ID)])
    random_ids = ordinary[torch.randint(len(ordinary), ids.shape, generator=generator)]
    expected = mask_tokens(ids, None, MASK_ID, VOCAB, SPECIAL, p=0.15,
                           generator=torch.Generator().manual_seed(seed))
    draws = (u_pick.tolist(), u_action.tolist(), random_ids.tolist())
    return ids, draws, expected


def _masking_problem(answer, ids, draws, expected):
    """A hint if answer is not (inputs, labels) equal to expected, else None."""
    try:
        inputs, labels = answer
        inputs = torch.as_tensor(np.asarray(inputs), dtype=torch.long)
        labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    except (TypeError, ValueError):
        return "return a pair (inputs, labels) of lists of ids."
    if inputs.shape != ids.shape or labels.shape != ids.shape:
        return f"inputs and labels must each have one entry per token ({len(ids)})."
    want_inputs, want_labels = expected
    u_pick, u_action, _ = (torch.tensor(d) for d in draws)
    picked = u_pick < 0.15
    if not torch.equal(labels, want_labels):
        if torch.equal(labels, ids):
            return "labels hold the original id only where a token was picked; -100 elsewhere " \
                   "(the loss skips those)."
        if torch.equal(labels == IGNORE_INDEX, ~picked):
            return "label the picked tokens with their ORIGINAL id, not what they became."
        return "a token is picked when u_pick[i] < 0.15; labels[i] = ids[i] there, -100 elsewhere."
    if torch.equal(inputs, want_inputs):
        return None
    if torch.equal(inputs, torch.where(picked, MASK_ID, ids)):
        return "not every picked token becomes mask_id: u_action < 0.8 -> mask_id, 0.8 <= " \
               "u_action < 0.9 -> random_ids[i], otherwise the token stays."
    if not torch.equal(inputs[~picked], ids[~picked]):
        return "tokens that were not picked must stay exactly as they were."
    return "for a picked token: mask_id if u_action[i] < 0.8, random_ids[i] if 0.8 <= " \
           "u_action[i] < 0.9, the original id otherwise."


# ---- exercise 2: InfoNCE -------------------------------------------------------------------
EXAMPLE_SIMILARITY = np.array([[0.9, 0.2], [0.4, 0.7]])


def check_info_nce(info_nce):
    """Exercise 2: info_nce(similarity, temperature) -> the InfoNCE loss (a float).

    similarity[i, j] = cos(a_i, b_j). Tried on the 2 x 2 example at temperature 0.1, then on
    the cosines of random embeddings against minillm.objectives.contrastive_loss.
    """
    cases = [(EXAMPLE_SIMILARITY, 0.1)] + [_random_case(seed) for seed in range(3)]
    for similarity, temperature in cases:
        answer, hint = try_answer(info_nce, similarity.copy(), temperature)
        if hint:
            return verdict(False, hint)
        try:
            value = float(answer)
        except (TypeError, ValueError):
            return verdict(False, f"return one number (the mean loss), not "
                                  f"{type(answer).__name__}.")
        if not np.isclose(value, _info_nce(similarity, temperature), atol=1e-5):
            return verdict(False, _info_nce_hint(value, similarity, temperature))
    return verdict(True, "", f"For the 2 x 2 example the loss is "
                             f"{_info_nce(EXAMPLE_SIMILARITY, 0.1):.4f}; your function equals "
                             "contrastive_loss.")


def _random_case(seed):
    """(cosines of random embeddings a_i, b_j, temperature): n = 2 + seed pairs."""
    a, b = _random_embeddings(seed)
    similarity = (torch.nn.functional.normalize(a, dim=-1)
                  @ torch.nn.functional.normalize(b, dim=-1).T).numpy()
    return similarity, 0.05 * (seed + 1)


def _random_embeddings(seed):
    generator = torch.Generator().manual_seed(seed)
    n = 2 + seed
    return (torch.randn(n, 8, generator=generator, dtype=torch.float64),
            torch.randn(n, 8, generator=generator, dtype=torch.float64))


def _info_nce(similarity, temperature):
    """The reference: contrastive_loss on unit vectors with these cosines is this number."""
    scores = torch.as_tensor(similarity, dtype=torch.float64) / temperature
    return float(torch.nn.functional.cross_entropy(scores, torch.arange(len(scores))))


def _info_nce_hint(value, similarity, temperature):
    if np.isclose(value, _info_nce(similarity, 1.0), atol=1e-5):
        return "divide the similarities by the temperature before the softmax."
    if np.isclose(value, _info_nce(similarity.T, temperature), atol=1e-5):
        return "row i is a_i against every b_j: softmax over j (along each ROW), positive at j = i."
    if np.isclose(value, -_info_nce(similarity, temperature), atol=1e-5):
        return "the loss is MINUS the mean log-probability of the positive pair."
    both_ways = (_info_nce(similarity, temperature) + _info_nce(similarity.T, temperature)) / 2
    if np.isclose(value, both_ways, atol=1e-5):
        return ("that is CLIP's symmetric loss, the mean of both directions. Section 5's loss "
                "goes one direction only: each a_i picks its b_i among all b_j (softmax along "
                "each row).")
    return "loss = mean over i of -log( exp(s_ii / T) / sum_j exp(s_ij / T) )."


# ---- exercise 3: top-p ---------------------------------------------------------------------
EXAMPLE_PROBS = np.array([0.05, 0.4, 0.1, 0.3, 0.15])


def check_nucleus(nucleus):
    """Exercise 3: nucleus(probs, top_p) -> the renormalised top-p distribution (1-D array)."""
    rng = np.random.default_rng(0)
    cases = [(EXAMPLE_PROBS, 0.6), (EXAMPLE_PROBS, 0.7), (EXAMPLE_PROBS, 1.0),
             (EXAMPLE_PROBS, 0.2)]
    cases += [(rng.dirichlet(np.ones(12)), p) for p in (0.3, 0.5, 0.9)]
    for probs, top_p in cases:
        answer, hint = try_answer(nucleus, probs.copy(), top_p)
        if hint:
            return verdict(False, hint)
        got = as_numbers(answer)
        if got is None:
            return verdict(False, f"return an array of probabilities, not "
                                  f"{type(answer).__name__}.")
        if not close(got, _nucleus(probs, top_p), atol=1e-6):
            return verdict(False, _nucleus_hint(got, probs, top_p))
    return verdict(True, "", "Your nucleus equals next_token_probs(..., top_p=...).")


def _nucleus(probs, top_p):
    logits = torch.log(torch.as_tensor(probs, dtype=torch.float64))
    return next_token_probs(logits, 1.0, None, top_p).numpy()


def _nucleus_hint(answer, probs, top_p):
    answer = np.asarray(answer, dtype=float)
    if answer.shape != probs.shape:
        return f"return one probability per token: shape {probs.shape}, not {answer.shape}."
    if not np.isclose(answer.sum(), 1.0):
        return "renormalise: the kept probabilities must sum to 1."
    kept = answer > 0
    expected_kept = _nucleus(probs, top_p) > 0
    if kept.sum() == expected_kept.sum() + 1:
        return "you kept one token too many. When the total reaches top_p exactly (0.4 + 0.3 " \
               "with top_p = 0.7), stop there: keep a token while the total BEFORE it is below " \
               "top_p. (The test `cumsum > top_p`, shifted by one, also keeps the next token.)"
    if kept.sum() == expected_kept.sum() - 1:
        return "keep the token whose probability makes the total reach top_p, too (with top_p " \
               "= 0.6 and probabilities 0.4, 0.3, ... keep both)."
    return "sort from most to least likely; keep tokens while the total BEFORE them is below " \
           "top_p; zero the rest; renormalise. The result stays in the original token order."


# ---- exercise 4: NSP by shared words, better than the overlap rule --------------------------
NSP_MARGIN = 0.03        # how far the learner's rule must beat the best overlap threshold
TOO_GOOD = 0.95          # no rule that reads only words gets near this on the chapter's pairs


def _words(sentence):
    return set(re.findall(r"[a-z]+", sentence.lower()))


def distinct_pairs(pairs):
    """The pairs [(a, b, is_next), ...] without repeats, in their first order.

    nsp_pairs draws with replacement, and a few topics hold only so many consecutive sentences:
    among the chapter's 2000 pairs the real next pairs repeat, so the checker scores each pair once.
    """
    return list(dict.fromkeys((a, b, bool(is_next)) for a, b, is_next in pairs))


def balanced_accuracy(answers, labels):
    """The mean of the accuracy on the real next pairs and on the random ones (0.5 for a rule
    that always gives the same answer, whatever the share of each class)."""
    answers, labels = np.asarray(answers, dtype=bool), np.asarray(labels, dtype=bool)
    return float((answers[labels].mean() + (~answers[~labels]).mean()) / 2)


def best_overlap_accuracy(pairs):
    """(balanced accuracy, threshold): the chapter's word-overlap rule at its best threshold.

    `overlap(a, b) > t` for t = 0, 0.01, ..., 0.5, scored on the distinct pairs themselves: the
    baseline as generous as it can be.
    """
    pairs = distinct_pairs(pairs)
    overlaps = np.array([len(_words(a) & _words(b)) / max(1, len(_words(a) | _words(b)))
                         for a, b, _ in pairs])
    labels = [is_next for _, _, is_next in pairs]
    scores = [(balanced_accuracy(overlaps > t, labels), t)
              for t in np.round(np.arange(0, 0.51, 0.01), 2)]
    return max(scores)


def _reordered(sentence, generator):
    """The sentence's whitespace-separated pieces in another order: the same words."""
    pieces = sentence.split()
    return " ".join(pieces[i] for i in generator.permutation(len(pieces)))


def check_nsp_rule(predict_is_next, pairs):
    """Exercise 4: predict_is_next(a, b) -> bool, scored on pairs = [(a, b, is_next), ...].

    Each distinct pair counts once, and the score is the balanced accuracy (real next pairs and
    random pairs weigh the same). A rule that reads words must give the same answer when the
    words of each sentence come in another order (a table of the pairs' labels does not); it
    passes when it beats the chapter's word-overlap rule at its best threshold by NSP_MARGIN,
    and is not suspiciously perfect.
    """
    if is_unanswered(predict_is_next):
        return verdict(False, TODO)
    pairs = distinct_pairs(pairs)
    answers = []
    for a, b, _ in pairs:
        answer, hint = try_answer(predict_is_next, a, b)
        if hint:
            return verdict(False, hint)
        if not isinstance(answer, (bool, np.bool_)):
            return verdict(False, f"return True or False, not {type(answer).__name__}.")
        answers.append(bool(answer))
    generator = np.random.default_rng(0)
    changed = 0
    for (a, b, _), answer in zip(pairs, answers):
        again, hint = try_answer(predict_is_next, _reordered(a, generator),
                                 _reordered(b, generator))
        if hint:
            return verdict(False, f"on a pair whose words were put in another order, {hint}")
        changed += bool(again) != answer
    if changed:
        return verdict(False, f"your rule changed its answer on {changed} of {len(pairs)} pairs "
                       "when the words of each sentence were put in another order. Use only the "
                       "words the two sentences share, not their order, and not a table of the "
                       "labels of `nsp_texts` or of which sentence follows which in the text.")
    labels = np.array([is_next for _, _, is_next in pairs])
    answers = np.array(answers)
    accuracy = balanced_accuracy(answers, labels)
    parts = (f"right on {answers[labels].mean():.1%} of the {labels.sum()} real next pairs and "
             f"{(~answers[~labels]).mean():.1%} of the {(~labels).sum()} random ones: balanced "
             f"accuracy {accuracy:.1%}")
    if accuracy > TOO_GOOD:
        return verdict(False, f"{parts}. That is more than shared words can tell: is your rule "
                       "reading the labels (of `nsp_texts`, or the source text) rather than the "
                       "words?")
    baseline, threshold = best_overlap_accuracy(pairs)
    if accuracy < baseline + NSP_MARGIN:
        return verdict(False, f"your rule is {parts}; the word-overlap rule of section 3 gets "
                       f"{baseline:.1%} at its best threshold ({threshold}). Beat it by "
                       f"{NSP_MARGIN * 100:.0f} points. Not every shared word is evidence: which "
                       "words do two sentences from different topics share anyway? Leave them "
                       "out, and see whether a pair still shares a word.")
    return verdict(True, "", f"Your rule is {parts}, against {baseline:.1%} for the overlap rule "
                   "at its best threshold, without reading for meaning: a negative pair comes "
                   "from another topic, and topic is visible in the words that are not "
                   "everywhere.")
