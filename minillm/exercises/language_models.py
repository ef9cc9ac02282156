"""Checkers for the exercises of chapter 01, language models and tokens.

Each checker takes the learner's answer (a function), prints ✅ or ❌ with a hint and returns a
Verdict (true when right). The placeholder `...` (or a function whose body is still `...`, which
returns None) gets "not yet", never an exception, so "Run All" goes through an unsolved chapter.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from minillm.exercises import as_float, close, try_answer, verdict
from minillm.ngram import NGramModel

# The chain-rule exercise's model: an 8-gram over 4 tokens, longer than every test sequence, so
# that each conditional depends on the whole prefix (a 2-token window gives another answer).
_CHAIN_TRAIN = [0, 1, 2, 3, 0, 1, 1, 2, 0, 3, 3, 1, 2, 2, 0, 1, 3, 0, 2, 1, 0, 0, 1, 2]
_CHAIN_SEQUENCES = ([2, 0, 1, 3, 1, 2, 0], [1, 1, 0])


def check_sequence_prob(sequence_prob):
    """Exercise 1: sequence_prob(cond_prob, ids) -> P(ids) by the chain rule.

    cond_prob(context, next_id) gives P(next_id | context) for a context list of any length;
    the answer must be the product over t of cond_prob(ids[:t], ids[t]).
    """
    model = NGramModel(8, 4, "add_k", k=0.5).fit(_CHAIN_TRAIN)

    def cond_prob(context, next_id):
        return model.prob(list(context), next_id)

    for ids in _CHAIN_SEQUENCES:
        answer, hint = try_answer(sequence_prob, cond_prob, list(ids))
        if hint:
            return verdict(False, hint)
        answer = as_float(answer)
        if answer is None:
            return verdict(False, "return one number, the probability of the whole sequence.")
        wrong = {
            "unigram": np.prod([cond_prob([], w) for w in ids]),
            "bigram": np.prod([cond_prob(ids[max(0, t - 1):t], ids[t]) for t in range(len(ids))]),
            "window": np.prod([cond_prob(ids[max(0, t - 2):t], ids[t]) for t in range(len(ids))]),
            "no first": np.prod([cond_prob(ids[:t], ids[t]) for t in range(1, len(ids))]),
        }
        want = np.exp(model.log_likelihood(ids))
        if np.isclose(answer, want, rtol=1e-5, atol=0):
            continue
        if np.isclose(answer, wrong["unigram"]):
            return verdict(False, "that multiplies P(w_t) with no context: the tokens are not "
                                  "independent. Condition each token on the ones before it, "
                                  "cond_prob(ids[:t], ids[t]).")
        if np.isclose(answer, wrong["bigram"]):
            return verdict(False, "conditioning on the previous token only is the bigram "
                                  "approximation, not the chain rule: pass the whole prefix "
                                  "ids[:t].")
        if np.isclose(answer, wrong["window"]):
            return verdict(False, "that conditions on the last two tokens only (a trigram "
                                  "approximation): the chain rule conditions on the whole "
                                  "prefix ids[:t].")
        if np.isclose(answer, wrong["no first"]):
            return verdict(False, "the first token has a probability too: P(w_1) = "
                                  "cond_prob([], ids[0]).")
        if np.isclose(answer, np.log(want)):
            return verdict(False, "that is the log-probability; return the probability itself "
                                  "(the product).")
        return verdict(False, "P(w_1 ... w_T) = product over t = 0 .. T-1 of "
                              "cond_prob(ids[:t], ids[t]).")
    return verdict(True, "", "That is the chain rule: the product of the conditionals.")


def check_bigram_matrix(bigram_matrix):
    """Exercise 2: bigram_matrix(ids, vocab_size) -> (V, V) array, row a = P(next | a).

    The maximum-likelihood estimate: P[a, b] = c(a, b) / (how often a is followed by anything).
    Tried on ids in which every token is followed by something at least once.
    """
    rng = np.random.default_rng(3)
    cases = [(np.array([0, 1, 2, 0, 2, 2, 1, 0, 1, 3, 0, 2, 3, 3]), 4),
             (np.append(np.arange(6), rng.integers(0, 6, size=200)), 6)]
    for ids, vocab_size in cases:
        answer, hint = try_answer(bigram_matrix, ids.copy(), vocab_size)
        if hint:
            return verdict(False, hint)
        counts = np.zeros((vocab_size, vocab_size))
        np.add.at(counts, (ids[:-1], ids[1:]), 1)
        want = counts / counts.sum(axis=1, keepdims=True)
        if np.shape(answer) != want.shape:
            return verdict(False, f"return a (vocab_size, vocab_size) = {want.shape} array, "
                                  f"not {np.shape(answer)}.")
        if close(answer, want):
            continue
        if close(answer, counts / counts.sum()):
            return verdict(False, "that is the joint P(a, b): each row must be a distribution "
                                  "over the next token, so divide by the row's total.")
        if close(answer, want.T):
            return verdict(False, "rows and columns are swapped: row = the previous token "
                                  "(the context), column = the next token.")
        once = np.zeros((vocab_size, vocab_size))
        once[ids[:-1], ids[1:]] += 1        # a repeated pair is counted once: NumPy's += trap
        if close(answer, once / once.sum(axis=1, keepdims=True)):
            return verdict(False, "counts[ids[:-1], ids[1:]] += 1 adds 1 only once for a pair "
                                  "that occurs several times (NumPy buffers the fancy index): "
                                  "use np.add.at(counts, (ids[:-1], ids[1:]), 1).")
        ends_counted = counts / np.bincount(ids, minlength=vocab_size)[:, None]
        if close(answer, ends_counted):
            return verdict(False, "the last token is followed by nothing: count how often a "
                                  "is a context, i.e. in ids[:-1] (then every row sums to 1).")
        return verdict(False, "no smoothing here: P[a, b] = c(a, b) / sum over b' of "
                              "c(a, b'), counted over the pairs (ids[t], ids[t + 1]).")
    return verdict(True, "", "Your bigram matrix is the counted estimate; every row sums to 1.")


def check_perplexity(perplexity):
    """Exercise 3: perplexity(token_probs) -> exp(mean negative log-probability).

    token_probs: (T,) the probabilities a model gave the tokens that actually came next.
    """
    cases = [np.array([0.5, 0.25, 0.125, 0.5, 0.1]), np.full(6, 1 / 40)]
    for probs in cases:
        answer, hint = try_answer(perplexity, probs.copy())
        if hint:
            return verdict(False, hint)
        answer = as_float(answer)
        if answer is None:
            return verdict(False, "return one number.")
        nll = -np.log(probs)
        if np.isclose(answer, np.exp(nll.mean())):
            continue
        if np.isclose(answer, np.exp(nll.sum())):
            return verdict(False, "that is exp of the total: take the mean over the tokens, so "
                                  "that a longer text is not more 'perplexing'.")
        if np.isclose(answer, nll.mean()):
            return verdict(False, "that is the mean negative log-likelihood (the loss); "
                                  "perplexity is its exp.")
        if np.isclose(answer, np.exp(-nll.mean())):
            return verdict(False, "a perplexity is at least 1: a minus sign is missing.")
        if np.isclose(answer, 1 / probs.mean()) or np.isclose(answer, 2 ** nll.mean()):
            return verdict(False, "average the log-probabilities (natural log), then exp: "
                                  "exp(-mean(log p)).")
        return verdict(False, "PPL = exp(-(1/T) sum_t log p_t).")
    return verdict(True, "", "Perplexity = exp(mean NLL): a uniform guess over 40 tokens "
                             "scores 40.")


# One step of BPE training: the data of the first case makes "count each word once", "count a
# pair once per word" (the run of four spaces holds ' ' + ' ' three times) and "count within one
# word" give other answers than the right one.
_PAIR_CASES = [
    {("h", "u", "g"): 10, ("p", "u", "g"): 5, ("p", "u", "n"): 12, ("b", "u", "n"): 4,
     ("h", "u", "g", "s"): 5, ("f", "u", "n"): 1, ("r", "u", "n"): 1, (" ", " ", " ", " "): 7},
    {("h", "ug"): 10, ("p", "ug"): 5, ("p", "u", "n"): 12, ("b", "u", "n"): 4,
     ("h", "ug", "s"): 5, ("ug", "ug"): 9},
]


def check_most_frequent_pair(most_frequent_pair):
    """Exercise 4: most_frequent_pair(word_counts) -> the pair BPE merges next.

    word_counts: {word as a tuple of symbols: how often the word occurs}; the answer is the
    adjacent pair (left, right) with the largest count, summed over all words, weighted by
    their counts.
    """
    for word_counts in _PAIR_CASES:
        answer, hint = try_answer(most_frequent_pair, dict(word_counts))
        if hint:
            return verdict(False, hint)
        want = _pair_counts(word_counts, weighted=True).most_common(1)[0][0]
        if isinstance(answer, str):
            return verdict(False, f"return the pair as a tuple (left, right), e.g. {want!r}, "
                                  f"not the merged string.")
        if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
            return verdict(False, "return a pair (left, right) of two adjacent symbols.")
        answer = tuple(answer)
        if answer == want:
            continue
        once_per_word = _pair_counts(word_counts, weighted=True, once_per_word=True)
        if answer == once_per_word.most_common(1)[0][0]:
            return verdict(False, "a pair can occur several times in one word (a run of four "
                                  "spaces holds ' ' + ' ' three times): count every occurrence.")
        if answer == _pair_counts(word_counts, weighted=False).most_common(1)[0][0]:
            return verdict(False, "each word counts as often as it occurs: add the word's count "
                                  "for every occurrence of a pair, not 1.")
        return verdict(False, "count every adjacent pair (word[i], word[i + 1]) of every "
                              "word, weighted by the word's count; return the largest.")
    return verdict(True, "", "That is the pair BPE merges next.")


def _pair_counts(word_counts, weighted, once_per_word=False):
    counts = Counter()
    for word, count in word_counts.items():
        pairs = zip(word, word[1:])
        for pair in set(pairs) if once_per_word else pairs:
            counts[pair] += count if weighted else 1
    return counts
