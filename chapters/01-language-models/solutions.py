"""Solutions to the exercises of chapter 01, language models and tokens (try them yourself first!).

Import in the notebook with `import solutions` (the notebook runs in this folder), e.g.
`check_perplexity(solutions.perplexity_of)`.
"""
from collections import Counter

import numpy as np


def sequence_prob(cond_prob, ids):
    """Exercise 1: the chain rule, P(w_1 ... w_T) = prod_t P(w_t | w_1 ... w_{t-1})."""
    prob = 1.0
    for t in range(len(ids)):
        prob *= cond_prob(ids[:t], ids[t])
    return prob


def bigram_matrix(ids, vocab_size):
    """Exercise 2: P[a, b] = c(a, b) / c(a followed by anything), counted over adjacent pairs."""
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    return counts / counts.sum(axis=1, keepdims=True)


def perplexity_of(token_probs):
    """Exercise 3: exp of the mean negative log-probability of the tokens that came next."""
    return np.exp(-np.mean(np.log(token_probs)))


def most_frequent_pair(word_counts):
    """Exercise 4: the adjacent pair with the largest count over all words, weighted by how
    often each word occurs."""
    pairs = Counter()
    for word, count in word_counts.items():
        for pair in zip(word, word[1:]):
            pairs[pair] += count
    return max(pairs, key=pairs.get)
