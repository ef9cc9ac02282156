"""minillm.metrics: BLEU and ROUGE on hand-computed and textbook examples, AER, confusion matrix."""
import math

import numpy as np
import pytest

from minillm.metrics import (
    accuracy,
    alignment_error_rate,
    bleu,
    brevity_penalty,
    confusion_matrix,
    exact_match,
    longest_common_subsequence,
    modified_precision,
    ngrams,
    per_class_recall,
    rouge_l,
    rouge_n,
)

CANDIDATE = "the cat sat on the mat".split()
REFERENCE = "the cat is on the mat".split()


def test_modified_precision_clips_repeated_words_papineni_example():
    # Papineni et al. (2002), section 2.1: "the" x 7 against "the cat is on the mat" -> 2/7
    assert modified_precision(["the"] * 7, REFERENCE, 1) == (2, 7)


def test_modified_precision_counts_each_order_by_hand():
    assert modified_precision(CANDIDATE, REFERENCE, 1) == (5, 6)
    assert modified_precision(CANDIDATE, REFERENCE, 2) == (3, 5)   # the cat, on the, the mat
    assert modified_precision(CANDIDATE, REFERENCE, 3) == (1, 4)   # on the mat
    assert modified_precision(CANDIDATE, REFERENCE, 4) == (0, 3)


def test_bleu_is_the_geometric_mean_of_the_precisions():
    assert bleu([CANDIDATE], [REFERENCE], max_n=2) == pytest.approx(math.sqrt(5 / 6 * 3 / 5))
    assert bleu([CANDIDATE], [REFERENCE], max_n=3) == pytest.approx(0.5)
    assert bleu([CANDIDATE], [REFERENCE], max_n=4) == 0.0          # no 4-gram matches
    assert bleu([REFERENCE], [REFERENCE]) == pytest.approx(1.0)


def test_bleu_sums_counts_over_the_corpus_before_dividing():
    pair = ([CANDIDATE, REFERENCE], [REFERENCE, REFERENCE])
    p = [(5 + 6) / 12, (3 + 5) / 10, (1 + 4) / 8]
    assert bleu(*pair, max_n=3) == pytest.approx(np.prod(p) ** (1 / 3))


def test_brevity_penalty_punishes_short_candidates_only():
    assert brevity_penalty(2, 6) == pytest.approx(math.exp(-2))
    assert brevity_penalty(6, 6) == 1.0 and brevity_penalty(9, 6) == 1.0
    assert bleu([["the", "cat"]], [REFERENCE], max_n=2) == pytest.approx(math.exp(-2))


def test_ngrams_and_exact_match():
    assert ngrams("a b a b".split(), 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert exact_match([["a", "b"], ["c"]], [["a", "b"], ["d"]]) == 0.5


def test_alignment_error_rate_by_hand():
    sure = {(0, 0), (1, 2), (2, 1)}
    assert alignment_error_rate(sure, sure) == 0.0
    assert alignment_error_rate({(0, 1), (1, 0)}, sure) == 1.0
    # 2 of 3 predicted links are sure: 1 - (2 + 2) / (3 + 3)
    assert alignment_error_rate({(0, 0), (1, 2), (2, 2)}, sure) == pytest.approx(1 / 3)
    # a link that is only possible counts once, in the numerator's |A ∩ P|
    assert alignment_error_rate({(0, 0), (2, 2)}, {(0, 0)}, possible={(2, 2)}) == \
        pytest.approx(1 - 3 / 3)


def test_confusion_matrix_matches_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    ours = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(ours, sklearn_metrics.confusion_matrix(y_true, y_pred))
    assert accuracy(y_true, y_pred) == pytest.approx(np.trace(ours) / 50)
    np.testing.assert_allclose(per_class_recall(ours),
                               sklearn_metrics.recall_score(y_true, y_pred, average=None))


def test_metrics_reject_bad_input_clearly():
    with pytest.raises(ValueError, match="one per example"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        confusion_matrix([0, 2], [0, 1], 2)
    with pytest.raises(ValueError, match="token lists"):
        bleu(["the cat"], ["the cat"])
    with pytest.raises(ValueError, match="undefined"):
        alignment_error_rate(set(), set())
    with pytest.raises(ValueError, match="token list"):
        rouge_n("the cat", ["the", "cat"])
    with pytest.raises(ValueError, match="token list"):
        rouge_l(["the", "cat"], "the cat")


def test_rouge_n_by_hand():
    # shared unigrams: the (2, clipped to the reference's 2), cat, on, mat = 5 of 6 and 6
    score = rouge_n(CANDIDATE, REFERENCE, 1)
    assert score.precision == pytest.approx(5 / 6) and score.recall == pytest.approx(5 / 6)
    # bigrams: the cat, on the, the mat = 3 of 5 and 5
    assert rouge_n(CANDIDATE, REFERENCE, 2).f1 == pytest.approx(3 / 5)
    # recall over the reference: a one-word candidate has full precision, low recall
    score = rouge_n(["cat"], REFERENCE, 1)
    assert (score.precision, score.recall) == (1.0, pytest.approx(1 / 6))
    assert score.f1 == pytest.approx(2 * 1 * (1 / 6) / (1 + 1 / 6))
    # repeats are clipped: "the the the" shares two "the" with a reference holding two
    assert rouge_n("the the the".split(), REFERENCE, 1).precision == pytest.approx(2 / 3)
    assert rouge_n(["dog"], REFERENCE, 1) == (0.0, 0.0, 0.0)


def test_rouge_l_by_hand():
    assert longest_common_subsequence("the cat sat".split(), "the black cat".split()) == 2
    assert longest_common_subsequence([], ["a"]) == 0
    # "the cat on the mat" in order: 5 of 6 both ways
    assert rouge_l(CANDIDATE, REFERENCE).f1 == pytest.approx(5 / 6)
    # the same words in reverse order: ROUGE-1 is perfect, ROUGE-L is not
    backwards = REFERENCE[::-1]
    assert rouge_n(backwards, REFERENCE, 1).f1 == 1.0
    assert rouge_l(backwards, REFERENCE).f1 == pytest.approx(3 / 6)   # "the ... is ... the"


def test_rouge_is_symmetric_in_precision_and_recall():
    rng = np.random.default_rng(0)
    words = "a b c d the cat".split()
    for _ in range(200):
        a = list(rng.choice(words, rng.integers(1, 10)))
        b = list(rng.choice(words, rng.integers(1, 10)))
        for score in (lambda x, y: rouge_n(x, y, 1), lambda x, y: rouge_n(x, y, 2), rouge_l):
            ab, ba = score(a, b), score(b, a)
            assert ab.precision == pytest.approx(ba.recall) and ab.f1 == pytest.approx(ba.f1)
            assert 0 <= ab.f1 <= 1
        assert rouge_l(a, b).f1 <= rouge_n(a, b, 1).f1 + 1e-12    # order can only cost
