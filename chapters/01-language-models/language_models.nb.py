# Text form of language_models.ipynb: its cells without their outputs, for reading and diffs.
# Written by `python -m minillm.text_forms`; edit the notebook, not this file.

# %% [markdown] id="a23c30d2"
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minillm-course/minillm/blob/main/chapters/01-language-models/language_models.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/minillm-course/minillm/main?urlpath=lab/tree/chapters/01-language-models/language_models.ipynb)
#
# # Chapter 1 · Language models and tokens（语言模型与分词）
#
# *大语言模型原理基础与前沿 — an executable course on how large language models work.*
#
# A large language model does one thing: it reads the text so far and gives **a probability to
# every token that could come next**. Chatting, translating and coding are that one step, repeated.
# This chapter builds the whole idea with the simplest model that does it, one that *counts*, and
# asks the question every later model must answer too: what is a token?
#
# 1. A language model: a probability for every next token
# 2. The chain rule: the probability of a whole text, right and wrong, computed (and an
#    article's reversed formula, checked)
# 3. Real text, and characters as tokens
# 4. A model by counting: bigrams (and why counting *is* training), n-grams, smoothing
# 5. Perplexity: how surprised a model is; longer contexts, overfitting, samples; what
#    removing stop words does to a language model
# 6. Subword tokens: byte-level BPE, its training loop written out, merge by merge
# 7. Characters vs BPE vs WordPiece on English, code and Chinese
# 8. Our BPE next to Hugging Face `tokenizers`
# 9. Play with it: BPE merges and n-gram samples in widgets
# 10. Exercises that check themselves

# %% id="minillm-setup"
# Setup: on Colab (or any Python without minillm) install the course's library
# (JupyterLab from a clone and Binder already have it: there this cell does nothing).
import importlib.util
import subprocess
import sys
from pathlib import Path

if importlib.util.find_spec("minillm") is None:
    from importlib.metadata import version

    course = Path("minillm-course").resolve()
    if not course.is_dir():
        url = "https://github.com/minillm-course/minillm"
        subprocess.check_call(["git", "clone", "--depth", "1", url, str(course)])
    keep_torch = [f"torch=={version('torch')}"] if importlib.util.find_spec("torch") else []
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "-e",
                           f"{course}[course]", *keep_torch])
    sys.path.insert(0, str(course))   # an editable install is seen by new processes only
    importlib.invalidate_caches()

# %% id="1352da13"
# %matplotlib inline
import html
import platform
import re
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

import minillm
from minillm.data import pydoc_corpus, split_documents, stdlib_corpus
from minillm.grammar import Grammar
from minillm.ngram import NGramModel
from minillm.pretrained import minilm_tokenizer
from minillm.splits import overlap
from minillm.tokenizers import BPETokenizer, CharTokenizer

np.set_printoptions(precision=3, suppress=True)
plt.rcParams.update({"figure.dpi": 80, "axes.titlesize": 10})
print(f"minillm {minillm.__version__} imported; Python {platform.python_version()}")

# %% [markdown] id="b7c1a26f"
# ## 1. A probability for every next token
#
# Fix a **vocabulary（词表）** $\mathcal{V}$ of tokens: characters, words or pieces of words (section 6).
# A **language model（语言模型）** is a rule that, given the tokens so far $w_{<t} = w_1 \dots w_{t-1}$,
# returns a probability for every possible next token:
#
# $$P(w_t = v \mid w_{<t}) \quad \text{for every } v \in \mathcal{V}, \qquad
# P(\cdot \mid w_{<t}) \ge 0, \quad \sum_{v \in \mathcal{V}} P(v \mid w_{<t}) = 1 .$$
#
# *Generating* text is drawing a token from that distribution, appending it, and asking again.
# *Training* is making the probabilities of real text high. Models differ only in how they compute
# $P(\cdot \mid w_{<t})$ from the context: this chapter counts; from chapter 2 on, a Transformer
# computes it. But first: why is a next-token distribution enough to score a *whole* text?

# %% [markdown] id="842e14c8"
# ## 2. The chain rule: the probability of a whole text
#
# The definition of a conditional probability, $P(A, B) = P(A)\,P(B \mid A)$, applied again and again,
# gives the **chain rule of probability（概率的链式法则）**. It is exact, with no assumption:
#
# $$P(w_1, w_2, \dots, w_T) = P(w_1)\,P(w_2 \mid w_1)\,P(w_3 \mid w_1, w_2) \cdots
# = \prod_{t=1}^{T} P(w_t \mid w_{<t}) .$$
#
# Each token is conditioned on **all** the tokens before it ($w_{<1}$ is empty). Two other products
# are often written in its place, and neither is equal to the joint probability:
#
# * $\prod_t P(w_t)$ treats the tokens as independent, as if word order and context did not matter;
# * $\prod_t P(w_t \mid w_{t-1})$ keeps only the previous token: the **Markov assumption（马尔可夫假设）**
#   of a bigram model. A useful *approximation* (section 4 builds it), not an identity.
#
# A language small enough to list settles it: eight three-word sentences and their probabilities.
# In it, what follows *cat* depends on the first word too: *the cat* mostly *sleeps*, *a cat* mostly *eats*.

# %% id="4f72dec4"
joint = {
    ("the", "cat", "sleeps"): 0.20, ("the", "cat", "eats"): 0.10,
    ("the", "dog", "barks"): 0.25,  ("the", "dog", "sleeps"): 0.05,
    ("a", "cat", "sleeps"): 0.05,   ("a", "cat", "eats"): 0.15,
    ("a", "dog", "barks"): 0.10,    ("a", "dog", "sleeps"): 0.10,
}
assert np.isclose(sum(joint.values()), 1.0)


def prefix_prob(prefix):
    # P(w_1 ... w_k = prefix): add up the sentences that start with it
    return sum(p for sentence, p in joint.items() if sentence[:len(prefix)] == tuple(prefix))


def cond_prob(context, word):
    # the definition of a conditional: P(word | context) = P(context, word) / P(context)
    return prefix_prob((*context, word)) / prefix_prob(context)


def chain_rule(sentence):
    return np.prod([cond_prob(sentence[:t], sentence[t]) for t in range(len(sentence))])


print("P(the) =", cond_prob((), "the"), "  P(cat | the) =", cond_prob(("the",), "cat"),
      "  P(sleeps | the, cat) =", round(cond_prob(("the", "cat"), "sleeps"), 4))

# %% [markdown] id="62db75f2"
# The two look-alikes, computed from the same table: $P(w_t)$ is the probability that position $t$
# holds the word, whatever the rest of the sentence; $P(w_t \mid w_{t-1})$ looks at the previous
# word only.

# %% id="71ce64be"
def position_prob(t, word):
    return sum(p for sentence, p in joint.items() if sentence[t] == word)


def independent(sentence):                    # prod_t P(w_t): wrong
    return np.prod([position_prob(t, w) for t, w in enumerate(sentence)])


def previous_word_only(sentence):             # P(w_1) prod_t P(w_t | w_{t-1}): an approximation
    p = position_prob(0, sentence[0])
    for t in range(1, len(sentence)):
        pair = sum(q for s, q in joint.items() if s[t - 1:t + 1] == sentence[t - 1:t + 1])
        p *= pair / position_prob(t - 1, sentence[t - 1])
    return p


impossible = ("the", "cat", "barks")
print(f"{'sentence':<18} {'joint':>6} {'chain rule':>11} {'prod P(w_t)':>12} {'P(w_t|w_t-1)':>13}")
for sentence in [*joint, impossible]:
    print(f"{' '.join(sentence):<18} {joint.get(sentence, 0.0):6.3f} {chain_rule(sentence):11.3f} "
          f"{independent(sentence):12.3f} {previous_word_only(sentence):13.3f}")

assert all(np.isclose(chain_rule(s), p) for s, p in joint.items())       # exact, every sentence
assert not all(np.isclose(independent(s), p) for s, p in joint.items())
assert not all(np.isclose(previous_word_only(s), p) for s, p in joint.items())
assert independent(impossible) > 0        # gives probability to a sentence that never occurs

# %% [markdown] id="4ed23e3d"
# The chain rule reproduces every probability of the table; the other two columns do not, and the
# product of independent words even gives probability to *the cat barks*, which never occurs. So a
# model that can give next-token probabilities $P(\cdot \mid w_{<t})$ for any context already
# defines the probability of every text of a given length. For texts of *any* length one more token
# is needed: an **end-of-sequence** token such as `</s>`, whose probability says "the text stops
# here"; then, provided the model does end every text sooner or later (a model fitted by counting
# does), the probabilities of all finite texts add up to 1. (This toy language has only
# three-word sentences, so it needs none; the n-gram models of sections 4–5 treat the corpus as
# one long stream and need none either; section 6's tokenizer has one, for the models of later
# chapters.) What remains is to *estimate* those conditionals from data.

# %% [markdown] id="e1-box"
# > **原文 vs 实测** · article 000 §4.1
# >
# > **原文** (the article's formula for a language model, as written there):
# > $P(x \mid w_1, \dots, w_n) = \prod_{i=1}^{n} P(w_i \mid x)$, with $x$ the text.
# >
# > **实测** (the cell below): on the table above, each factor $P(w_i \mid x)$ asks how likely
# > word $i$ is *when the whole text is already given*, and that is 1, for every word of every
# > sentence.
# >
# > **改正:** the conditioning runs the other way, each word given the words *before* it: the chain
# > rule $\prod_i P(w_i \mid w_{<i})$ above.

# %% id="e1-code"
def given_the_text(sentence, t):
    # P(word t | the whole sentence x): among the sentences equal to x, the share with that word
    matches = [p for s, p in joint.items() if s == sentence]
    return sum(p for s, p in joint.items() if s == sentence and s[t] == sentence[t]) / sum(matches)


reversed_scores = {s: np.prod([given_the_text(s, t) for t in range(3)]) for s in joint}
print("prod_i P(w_i | x), sentence by sentence:", [float(v) for v in reversed_scores.values()])
print(f"summed over the {len(joint)} sentences: {sum(reversed_scores.values()):.1f} "
      f"(the chain rule's probabilities sum to {sum(chain_rule(s) for s in joint):.1f})")
assert all(v == 1.0 for v in reversed_scores.values())   # every text 'certain': no model at all


# %% [markdown] id="e1-after"
# Every sentence scores 1, so the eight "probabilities" add up to 8: the formula ranks no text
# above another and cannot generate anything, since it needs the text before it can score the first
# word. (The article's 001 §4.1 has a similar slip: its next-token formula,
# $P(w_t \mid w_{<t}) = \frac{1}{Z}\exp\big(\sum_i \alpha_i \cdot \mathrm{Attention}(w_t, w_i) \cdot \beta_i\big)$,
# lets attention look at the very token being predicted and never says what $\alpha$ and $\beta$
# are; the correct form, a softmax over scores computed from $w_{<t}$
# only, is the one chapters 2–4 build.)

# %% [markdown] id="924d9536"
# ## 3. Real text, and characters as tokens
#
# Every Python installation carries a few hundred thousand characters of English technical prose
# (with grammar rules and code examples in it): the language reference behind `help("if")`. The course ships a frozen copy of it, taken from
# Python 3.11.7 (`assets/corpora/`), so that your numbers are the ones on this page whatever Python
# you run; `minillm.data.pydoc_corpus()` returns it as one document per help topic
# (`pydoc_corpus(source="python")` would read your own Python's version instead). We hold whole
# **documents** out for validation（验证集）, so that the model is always scored on text it has never
# seen: `split_documents(valid_fraction=0.1)` takes documents until they hold at least 10 % of the
# characters, so the share can come out a little higher (printed below), and then drops any held-out
# topic whose text is word for word a training topic's (`else` repeats `if`): scoring it would
# measure memory, not prediction.

# %% id="4e5658e4"
docs = pydoc_corpus()
train_docs, valid_docs = split_documents(docs, valid_fraction=0.1, seed=0)
train_text = "\n\n".join(d.text for d in train_docs)
valid_text = "\n\n".join(d.text for d in valid_docs)
print(f"{len(docs)} help topics: {len(train_docs)} for training ({len(train_text):,} characters), "
      f"{len(valid_docs)} for validation ({len(valid_text):,} characters)")
print(f"validation: {len(valid_docs) / len(docs):.0%} of the topics, "
      f"{len(valid_text) / (len(train_text) + len(valid_text)):.1%} of the characters")
seen = overlap([d.text for d in train_docs], [d.text for d in valid_docs])
print(f"validation topics whose text is also a training topic's: {len(seen)}")
assert not seen
print("validation topics:", ", ".join(d.name for d in valid_docs))
print()
print(train_text[:300])

# %% [markdown] id="519e9a6d"
# The simplest tokenizer（分词器）: one token per character. Its vocabulary is every character of the
# training text, plus `<unk>`, which stands for any character it has never seen (section 7 needs it).
# Encoding turns text into a sequence of integer ids; decoding turns them back.

# %% id="c029dcfc"
chars = CharTokenizer.train(train_text, special_tokens=["<unk>"])
V = chars.vocab_size
train_ids = np.array(chars.encode(train_text))
valid_ids = np.array(chars.encode(valid_text))
print(f"vocabulary: {V} tokens, <unk> and {V - 1} characters:")
print(repr("".join(chars.id_to_token(i) for i in range(1, V))))
print("'Python' ->", chars.encode("Python"), "->", repr(chars.decode(chars.encode("Python"))))
assert chars.decode(valid_ids) == valid_text                  # nothing lost
assert chars.special_tokens["<unk>"] not in valid_ids          # no unseen character in validation

# %% [markdown] id="b1122793"
# ## 4. A model by counting
#
# **Bigrams（二元语法）.** Keep only the previous token (the Markov assumption of section 2) and
# estimate each conditional by counting, in the training text, how often $a$ is followed by $b$:
#
# $$P(b \mid a) = \frac{c(a, b)}{c(a)}, \qquad c(a) = \sum_{b'} c(a, b') .$$
#
# After *q*, English almost always has *u*:

# %% id="149a4bdd"
pair_counts = Counter(zip(train_ids[:-1].tolist(), train_ids[1:].tolist()))
q, u = chars.token_to_id("q"), chars.token_to_id("u")
after_q = {chars.id_to_token(b): c for (a, b), c in pair_counts.items() if a == q}
c_q = sum(after_q.values())
print(f"'q' is followed by something {c_q} times:", after_q)
print(f"P(u | q) = {after_q['u']} / {c_q} = {after_q['u'] / c_q:.3f}")

# %% [markdown] id="f0d9b8d3"
# `minillm.ngram.NGramModel` keeps exactly these counts (for every context length up to $n-1$, in
# sorted NumPy arrays, so that it is fast). Its raw counts equal ours, for every pair:

# %% id="5d6e4a0e"
bigram = NGramModel(2, V).fit(train_ids)
assert all(bigram.count([a], b) == c for (a, b), c in pair_counts.items())
print(bigram)
print(f"{len(pair_counts):,} distinct pairs counted; library counts equal ours for all of them")

# %% [markdown] id="m2-md"
# **Counting is training.** Why divide counts at all? Because $c(a, b) / c(a)$ is exactly the
# table that gives the training text the highest probability: the **maximum-likelihood
# estimate（最大似然估计）**. Later chapters get their probabilities a different way: a table of free
# scores (logits), turned into probabilities by a softmax, and pushed by gradient descent to lower
# the average negative log-likelihood of the training text. Done here on a $|\mathcal{V}| \times
# |\mathcal{V}|$ table of scores, it arrives at the counts. (The gradient of the loss of context
# $a$ with respect to its scores is simply $\mathrm{softmax}(W_a) - P_{\text{counted}}(\cdot \mid a)$;
# each context takes its own step, so rare ones learn as fast as common ones. The curve below is
# the loss of the whole text, in which context $a$ weighs $c(a)/N$: stepping each row by its own
# gradient is that descent with a step rescaled per row, and it has the same minimum.)

# %% id="m2-code"
counts = np.zeros((V, V))
np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)       # counts[a, b] = c(a, b)
context_counts = counts.sum(axis=1, keepdims=True)
seen = context_counts[:, 0] > 0
counted = np.divide(counts, context_counts, out=np.zeros_like(counts), where=context_counts > 0)


def mean_nll(probs):        # the average negative log-likelihood of the training pairs, in nats
    return -np.sum(counts[counts > 0] * np.log(probs[counts > 0])) / counts.sum()


def softmax_rows(scores):
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


scores, curve = np.zeros((V, V)), []
for _ in range(2000):
    probs = softmax_rows(scores)
    curve.append(mean_nll(probs))
    scores -= 2.0 * (probs - counted) * seen[:, None]          # gradient descent, step size 2
gap = np.abs(softmax_rows(scores) - counted)[seen].max()
print(f"loss of the counted table: {mean_nll(counted):.4f} nats per character")
print(f"gradient descent: {curve[0]:.4f} at step 0, {curve[200]:.4f} at 200, "
      f"{curve[-1]:.4f} at {len(curve)}; largest |P_learned - P_counted| = {gap:.4f}")
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(curve, label="softmax table, gradient descent")
ax.axhline(mean_nll(counted), color="k", ls="--", label="counted table (maximum likelihood)")
ax.set_ylim(2.4, 3.2)
ax.set_xlabel("step")
ax.set_ylabel("training loss (nats per character)")
ax.set_title("Training a bigram table by gradient descent arrives at the counts")
ax.legend()
plt.show()
assert curve[-1] - mean_nll(counted) < 0.01 and gap < 0.01 and np.all(np.diff(curve) <= 1e-12)


# %% [markdown] id="cc7b0a22"
# **The zero problem.** A pair never seen in training gets $c(a, b) = 0$, so probability 0, and by the
# chain rule the probability of any text containing it is 0: its log-likelihood is $-\infty$. Even a
# bigram model meets pairs in the validation text that training never showed it:

# %% id="79061a99"
valid_pairs = Counter(zip(valid_ids[:-1].tolist(), valid_ids[1:].tolist()))
unseen = [pair for pair in valid_pairs if pair not in pair_counts]
print(f"{len(unseen)} of the {len(valid_pairs):,} distinct character pairs of the validation text "
      "never occur in training, e.g.", [chars.decode(pair) for pair in unseen[:6]])
assert unseen

# %% [markdown] id="0f03cf1e"
# **Smoothing（平滑）** moves a little probability to what was never seen. Two ways, both in
# `NGramModel(n, vocab_size, smoothing, k)`:
#
# * **add-k** (Lidstone; $k = 1$ is Laplace): pretend every token followed every context $k$ more
#   times, $\;P(b \mid a) = \dfrac{c(a, b) + k}{c(a) + k\,|\mathcal{V}|}$.
# * **interpolated**: spread the same $k\,|\mathcal{V}|$ pseudo-counts by the *shorter* context's
#   distribution instead of uniformly, recursively down to the uniform $P_0(w) = 1/|\mathcal{V}|$:
#   $$P_m(w \mid h) = \frac{c(h, w) + k\,|\mathcal{V}|\,P_{m-1}(w \mid h')}{c(h) + k\,|\mathcal{V}|},$$
#   where $h'$ is $h$ without its oldest token. A context seen often trusts its own counts: their
#   weight is $\frac{c(h)}{c(h) + k|\mathcal{V}|}$, which grows with the count (printed below for
#   *q*); a context never seen ($c(h) = 0$) simply *is* its shorter context.
#
# (For the curious: this is a Dirichlet prior centred on the shorter context's distribution, a close
# relative of Witten–Bell smoothing; Jelinek–Mercer interpolation uses fixed weights λ tuned on
# held-out text instead. Real n-gram systems used Kneser–Ney smoothing, which subtracts a fixed
# discount from every count and builds the shorter-context distribution from **continuation
# counts** — in how many *different* contexts a token appears, not how often — so that *Francisco*,
# frequent but almost only after *San*, is not guessed after every word. Ours is simpler and enough
# to show the idea.)
#
# Both formulas by hand, for $P(u \mid q)$, against the library:

# %% id="eafab6b1"
k = 0.5
add_k = (after_q["u"] + k) / (c_q + k * V)
unigram_u = (np.sum(train_ids == u) + k) / (len(train_ids) + k * V)   # P_1(u): add-k on no context
interpolated = (after_q["u"] + k * V * unigram_u) / (c_q + k * V)
library = {s: NGramModel(2, V, smoothing=s, k=k).fit(train_ids).prob([q], u)
           for s in ("add_k", "interpolated")}
print(f"'q' was a context {c_q} times: its own counts get weight {c_q / (c_q + k * V):.2f}")
print(f"add-k:        ours {add_k:.6f}  library {library['add_k']:.6f}")
print(f"interpolated: ours {interpolated:.6f}  library {library['interpolated']:.6f}")
assert np.isclose(add_k, library["add_k"]) and np.isclose(interpolated, library["interpolated"])

# %% [markdown] id="4fad76b5"
# **n-grams（n 元语法）.** Nothing stops us at one token of context: an $n$-gram model conditions on the
# previous $n - 1$ tokens. The longer the context, the sharper the guess, as long as the context was
# seen often enough in training. What comes after *"the functi"*, for growing $n$:

# %% id="e82e8616"
context = "the functi"
orders = [1, 2, 3, 5]
shown = {" ": "␣", "\n": "⏎"}
fig, axes = plt.subplots(1, len(orders), figsize=(12, 2.8), sharey=True)
for ax, n in zip(axes, orders):
    probs = NGramModel(n, V).fit(train_ids).next_distribution(chars.encode(context))
    top = np.argsort(probs)[::-1][:6]
    ax.bar([shown.get(c, c) for c in chars.decode(top)], probs[top])
    ax.set_title(f"n = {n}: context {context[len(context) - (n - 1):]!r}" if n > 1
                 else "n = 1: no context")
    ax.set_xlabel("next character")
axes[0].set_ylabel("probability")
fig.suptitle(f"What follows {context!r}? A longer context makes the model surer: 'o' (function)")
fig.tight_layout()
plt.show()
assert chars.id_to_token(int(probs.argmax())) == "o" and probs.max() > 0.9

# %% [markdown] id="47aebfff"
# ## 5. Perplexity: how surprised is the model?
#
# A good model gives the text that actually comes next a high probability. The average negative
# log-probability per token (the **cross-entropy（交叉熵）** loss every later chapter trains with, in
# nats: natural-log units; divide by $\ln 2$ for bits) measures it, and **perplexity（困惑度）** is its exponential:
#
# $$\mathrm{PPL} = \exp\Big(-\frac{1}{T} \sum_{t=1}^{T} \log P(w_t \mid w_{<t})\Big)
# = P(w_1 \dots w_T)^{-1/T} .$$
#
# A model that guesses uniformly among $|\mathcal{V}|$ tokens has perplexity exactly $|\mathcal{V}|$,
# so perplexity reads as "the model is as unsure as a uniform choice among PPL tokens". Lower is
# better; 1 is perfect. Only compare perplexities over the same tokens (section 7 shows why).

# %% id="976f5057"
def perplexity(log_probs):
    return np.exp(-np.mean(log_probs))


uniform = np.full(len(valid_ids), np.log(1 / V))     # log P(w_t) = log(1/V) for every token
print(f"uniform model over {V} tokens: perplexity {perplexity(uniform):.2f}")
assert np.isclose(perplexity(uniform), V)

trigram = NGramModel(3, V).fit(train_ids)
ours = perplexity(trigram.token_log_probs(valid_ids))   # log P(w_t | up to 2 tokens before it)
print(f"trigram on the validation text: perplexity {ours:.2f} "
      f"(library: {trigram.perplexity(valid_ids):.2f})")
assert np.isclose(ours, trigram.perplexity(valid_ids))

# %% [markdown] id="d94fcc97"
# **Longer contexts: better or worse?** We fit $n = 1 \dots 6$ and score both the training text and
# the validation text, first with add-k ($k = 0.01$), then interpolated ($k = 0.1$). Add-k hands its
# pseudo-counts to a *uniform* guess, so its $k$ must be tiny; interpolation hands them to the shorter
# context's sensible guess and can afford more. (These two values of $k$ were picked
# by hand while looking at this validation text. Strictly, choosing them is a form of fitting, and
# should be done on a third split of its own, so the validation numbers below flatter the n-gram
# models a little.) We also count
# how many validation positions have a context of $n - 1$ characters that training never showed.

# %% id="93fed010"
ns = range(1, 7)
table = {"train add-k": [], "valid add-k": [], "train interp.": [], "valid interp.": [],
         "unseen context": []}
models = {}                                   # the interpolated models, kept for sampling
for n in ns:
    add_k_model = NGramModel(n, V, "add_k", k=0.01).fit(train_ids)
    models[n] = NGramModel(n, V, "interpolated", k=0.1).fit(train_ids)
    table["train add-k"].append(add_k_model.perplexity(train_ids))
    table["valid add-k"].append(add_k_model.perplexity(valid_ids))
    table["train interp."].append(models[n].perplexity(train_ids))
    table["valid interp."].append(models[n].perplexity(valid_ids))
    table["unseen context"].append(1 - models[n].context_seen(valid_ids)[n - 1:].mean())

print(f"{'n':>2} {'train add-k':>12} {'valid add-k':>12} {'train interp.':>14} "
      f"{'valid interp.':>14} {'unseen contexts':>16}")
for i, n in enumerate(ns):
    print(f"{n:>2} {table['train add-k'][i]:>12.2f} {table['valid add-k'][i]:>12.2f} "
          f"{table['train interp.'][i]:>14.2f} {table['valid interp.'][i]:>14.2f} "
          f"{table['unseen context'][i]:>16.1%}")

# %% id="ebd51d47"
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
for name, style in [("train add-k", "o--"), ("valid add-k", "o-"), ("train interp.", "s--"),
                    ("valid interp.", "s-")]:
    ax.plot(list(ns), table[name], style, label=name)
ax.set_yscale("log")
ax.set_yticks([2, 3, 4, 6, 10, 20, 30], labels=["2", "3", "4", "6", "10", "20", "30"])
ax.minorticks_off()
ax.set_xlabel("n (the model sees n - 1 characters)")
ax.set_ylabel("perplexity per character (log scale)")
ax.set_title("Training perplexity keeps falling; with add-k the validation\n"
             "perplexity turns up at n = 6, interpolation keeps it down")
ax.legend()
ax2.bar(list(ns), 100 * np.array(table["unseen context"]))
ax2.set_xlabel("n")
ax2.set_ylabel("% of validation positions")
ax2.set_title("Why: validation contexts of n - 1 characters\nthat training never showed")
fig.tight_layout()
plt.show()

assert np.all(np.diff(table["train add-k"]) < 0)                  # training: always better
best = int(np.argmin(table["valid add-k"])) + 1
assert best == 5 and table["valid add-k"][5] > table["valid add-k"][4]    # validation turns up
assert np.all(np.diff(table["valid interp."]) < 0)                # interpolation: no turn
assert np.all(np.diff(table["unseen context"]) >= 0) and table["unseen context"][-1] > 0.1
print(f"add-k is best at n = {best} on validation; interpolated 6-gram: "
      f"{table['valid interp.'][-1]:.2f}, the baseline a Transformer must beat (chapter 4)")
ppl6 = table["valid interp."][-1]
print(f"in bits: log2({ppl6:.2f}) = {np.log2(ppl6):.2f} bits per character (Shannon, 1951: "
      "0.6-1.3 bits for printed English in a 27-letter alphabet, not directly comparable)")


def space_runs(text):        # the share of positions where a space follows a space
    return sum(a == b == " " for a, b in zip(text, text[1:])) / len(text)


print(f"a space after a space: {space_runs(train_text):.1%} of the training text, "
      f"{space_runs(valid_text):.1%} of the validation text")
assert space_runs(valid_text) > 1.5 * space_runs(train_text)

# %% [markdown] id="1a50a70f"
# That is **overfitting（过拟合）** in its purest form. With 5 characters of context, more than one
# validation position in ten has a context that training never showed: the counts are
# **sparse（稀疏）**. Add-k then falls back to a uniform guess, and validation perplexity rises while
# training perplexity keeps falling. (At n = 2 the validation text even scores a little *better*
# than the training text with add-k, 11.00 against 11.86, while at n = 1 it scores worse, 27.74
# against 25.57: the 18 held-out topics are a different mix of text — more tables and indented
# examples, so more runs of spaces (counted in the cell above), which a bigram predicts easily and a
# unigram does not. Only the trend with n says something about overfitting.)
# Interpolation mixes the shorter contexts in at every position, and leans on them entirely
# where a context was never seen, which postpones the problem
# but cannot solve it: counting cannot share what it learned about *the function* with *a function*
# or *this method*. Learned vectors can (chapters 2–4).
#
# **Samples.** Generating from a model is the chain rule run forwards: draw $w_t$ from
# $P(\cdot \mid w_{<t})$, append, repeat. The same prompt, the same seed, growing $n$. (One seed
# means one stream of random numbers: where two models agree on what follows a context, they draw the
# same characters, which is why the last samples can end alike. A "real word" is any word of the
# training text: stitched non-words such as *metaclass_getit* can slip through as several real
# ones.)

# %% id="4fe1feac"
train_words = set(re.findall(r"[A-Za-z]+", train_text))
real_word_share = {}
for n in ns:
    sample = chars.decode(models[n].generate(chars.encode("The "), 120, seed=0))
    words = re.findall(r"[A-Za-z]{2,}", sample)
    real_word_share[n] = np.mean([w in train_words for w in words])
    print(f"n={n} ({real_word_share[n]:4.0%} real words): {sample!r}\n")
assert real_word_share[6] > 0.6 > 0.2 > real_word_share[1]

# %% [markdown] id="e4-box"
# > **原文 vs 实测** · article 001 §3.2(1)
# >
# > **原文** (its data preparation for training a language model): remove stop words（停用词: *the*,
# > *a*, *of*, …) and punctuation from the text first.
# >
# > **实测** (the cell below): train the same 5-gram model on the training text with a list of common
# > stop words and every punctuation mark removed, and score both models on the real validation text.
# >
# > **改正:** a language model must *generate* those tokens, so it must see them: keep every
# > character (a tokenizer that keeps every byte, section 6, makes it automatic). Stop-word removal
# > belongs to old bag-of-words retrieval and classification, not to language modelling.

# %% id="e4-code"
STOP_WORDS = {"the", "a", "an", "of", "to", "and", "or", "in", "is", "are", "be", "it", "that",
              "this", "for", "on", "as", "with", "by", "if", "not", "from", "at", "which"}


def strip_stop_words_and_punctuation(text):
    words = re.findall(r"[A-Za-z0-9]+", text)                  # punctuation and line breaks go
    return " ".join(w for w in words if w.lower() not in STOP_WORDS)


valid_words = re.findall(r"[A-Za-z0-9]+", valid_text)
stop_share = np.mean([w.lower() in STOP_WORDS for w in valid_words])
punct_share = np.mean([not (c.isalnum() or c.isspace()) for c in valid_text])
stripped_ids = np.array(chars.encode(strip_stop_words_and_punctuation(train_text)))
stripped_model = NGramModel(5, V, "interpolated", k=0.1).fit(stripped_ids)
stripped_valid = np.array(chars.encode(strip_stop_words_and_punctuation(valid_text)))
print(f"validation text: {stop_share:.0%} of its words are on the stop list, "
      f"{punct_share:.0%} of its characters are punctuation")
print(f"perplexity on the real validation text:     trained on real text "
      f"{models[5].perplexity(valid_ids):.2f}, trained on stripped text "
      f"{stripped_model.perplexity(valid_ids):.2f}")
print(f"perplexity on the stripped validation text: trained on real text "
      f"{models[5].perplexity(stripped_valid):.2f}, trained on stripped text "
      f"{stripped_model.perplexity(stripped_valid):.2f}")
print("a sample from the stripped model:",
      repr(chars.decode(stripped_model.generate(chars.encode("The "), 100, seed=0))))
assert stripped_model.perplexity(valid_ids) > 20 * models[5].perplexity(valid_ids)
assert stripped_model.perplexity(stripped_valid) < models[5].perplexity(stripped_valid)


# %% [markdown] id="e4-after"
# On real text the stripped model is well over a hundred times more perplexed: it never learned
# where a comma, a line break or *the* goes, and real text is full of them. Scored on stripped text,
# it even looks *better* than the honest model — the trap of comparing perplexities over different
# text (section 7 meets the same trap with different tokens).

# %% [markdown] id="9030e7db"
# ## 6. Subword tokens: byte-pair encoding
#
# Characters make a small vocabulary but long sequences: a model must spend its context, and its
# compute, on single letters. Whole words make short sequences but a huge vocabulary, and a word
# never seen in training has no token at all. **Subword（子词）** tokenizers sit in between: frequent
# words are one token, rare words are spelled with a few pieces.
#
# **Byte-pair encoding（字节对编码, BPE）**, in the byte-level form of GPT-2, GPT-4 and Llama 3, learns its
# pieces. (Llama 1 and 2 use SentencePiece's BPE instead: over Unicode characters, with the space
# kept as a visible symbol `▁`, pieces that never cross a word boundary or a change of script,
# every digit its own token, and bytes only as a fallback for characters it does not know. Two
# other subword algorithms are common: BERT's **WordPiece** merges the pair that most raises the
# likelihood of the training text, count(ab) / (count(a)·count(b)), rather than the most frequent
# one; the **Unigram** model of SentencePiece, used by T5, starts from a large vocabulary and prunes
# the pieces that matter least.) Byte-level BPE:
#
# 1. write the text as UTF-8 **bytes**: 256 base tokens, so *every* string can be encoded, Chinese and
#    emoji included, and nothing is ever unknown;
# 2. cut it into words with GPT-2's regular expression, a word keeping its leading space
#    (`' world'`):
#    `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` —
#    contractions, letters, numbers, other symbols, each with an optional space in front; a run of
#    spaces gives up its last space to the word after it (`\s+(?!\S)`), which is why a lone `' '`
#    can appear before `' #'` below;
# 3. count every adjacent pair of tokens inside the words; **merge** the most frequent pair into a new
#    token; repeat until the vocabulary has the size you asked for.
#
# A Chinese character is 3 bytes in UTF-8, a Latin letter 1:

# %% id="80378a62"
for text in ["a", "é", "大", "大语言模型"]:
    print(f"{text!r}: {len(text)} character(s) -> {len(text.encode('utf-8'))} bytes "
          f"{list(text.encode('utf-8'))}")
print(BPETokenizer.pre_tokenize("Hello, world! x = 42  # 你好"))

# %% [markdown] id="f873074c"
# We train a byte-level BPE with a vocabulary of 1000 on the training topics: 4 special tokens
# (`<pad>` fills short rows of a batch, `<s>` and `</s>` mark where a text starts and ends — the
# end-of-sequence token of section 2 — and `<mask>` hides a token for chapter 4's masked language
# model), 256 bytes, and 740 merges. The first merges join
# what this text repeats most: runs of spaces (indented examples), dashes (underlined headings),
# then *␣t*, *in*, *he*, and soon *␣the*.

# %% id="9f2442ca"
train_start = time.perf_counter()
bpe = BPETokenizer.train([d.text for d in train_docs], vocab_size=1000)
bpe_seconds = time.perf_counter() - train_start
assert bpe.vocab_size == 1000 and len(bpe.merges) == 740
assert bpe.merges[:2] == [(b" ", b" "), (b"-", b"-")] and (b" t", b"he") in bpe.merges[:12]


def readable(token_bytes):
    # a token's bytes as text: a space shows as ␣, a newline as ⏎, a byte cut out of a
    # character (or one that is not printable) as \xe5
    text = token_bytes.decode("utf-8", errors="backslashreplace")
    text = text.replace(" ", "␣").replace("\n", "⏎")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


# the library shows a token the same way; later chapters call it
assert all(readable(bpe.token_bytes(i)) == bpe.token_text(i) for i in range(bpe.vocab_size))


print(f"vocabulary {bpe.vocab_size} = {len(bpe.special_tokens)} special + 256 bytes "
      f"+ {len(bpe.merges)} merges")
for rank in range(24):
    left, right = bpe.merges[rank]
    end = "\n" if rank % 4 == 3 else ""
    print(f"{rank:>3}: {readable(left):>4} + {readable(right):<4} -> {readable(left + right):<8}",
          end=end)
print("last merges:", ", ".join(readable(left + right) for left, right in bpe.merges[-8:]))

# %% [markdown] id="m1-md"
# **The training loop, written out.** Step 3 above in a dozen lines: count the words once, then
# repeat — count every adjacent pair inside the words (each word weighted by how often it occurs),
# merge the most frequent pair everywhere (ties: the pair of smaller symbol ids), and give the new
# symbol the next id. Our loop recounts every pair at every step; the library's
# `BPETokenizer.train` only updates the counts in the words a merge touched, which is why it can
# learn 740 merges in a moment. The two must agree:

# %% id="m1-code"
def merge_pair(symbols, pair, new_id):
    out, i = [], 0
    while i < len(symbols):
        if symbols[i:i + 2] == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def train_bpe(word_counts, n_merges):
    words = Counter({tuple(w.encode("utf-8")): c for w, c in word_counts.items()})   # bytes 0-255
    symbols = [bytes([b]) for b in range(256)]          # symbol id -> its bytes
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        best = min(pairs, key=lambda p: (-pairs[p], p))   # most frequent; ties: smaller ids
        merges.append((symbols[best[0]], symbols[best[1]]))
        symbols.append(symbols[best[0]] + symbols[best[1]])
        merged = Counter()
        for word, count in words.items():
            merged[merge_pair(word, best, len(symbols) - 1)] += count
        words = merged
    return merges


word_counts = Counter(w for d in train_docs for w in BPETokenizer.pre_tokenize(d.text))
our_merges = train_bpe(word_counts, 30)
print(f"{len(word_counts):,} distinct words; our first 30 merges equal the library's: "
      f"{our_merges == bpe.merges[:30]}")
assert our_merges == bpe.merges[:30]


# %% [markdown] id="dad4a1e8"
# **Encoding** replays the merges on a new word: start from its bytes, and as long as some adjacent
# pair is a learned merge, apply the one learned **earliest** (lowest rank). A frequent word ends as
# one token; a rare one stays in pieces. The cell below does exactly that and records every step,
# then checks the result against the library's `bpe.encode`.

# %% id="bfe2afd3"
merge_rank = {pair: rank for rank, pair in enumerate(bpe.merges)}


def merge_steps(word):
    # [(rank of the merge applied or None, list of token bytes)], from bytes to the final tokens
    tokens = [bytes([b]) for b in word.encode("utf-8")]
    steps = [(None, tokens)]
    while True:
        pairs = zip(tokens, tokens[1:])
        ranked = [(merge_rank[pair], pair) for pair in pairs if pair in merge_rank]
        if not ranked:
            return steps
        rank, pair = min(ranked)
        merged, i = [], 0
        while i < len(tokens):
            if tokens[i:i + 2] == list(pair):
                merged.append(pair[0] + pair[1])
                i += 2
            else:
                merged.append(tokens[i])
                i += 1
        tokens = merged
        steps.append((rank, tokens))


for word in [" expression", " tokenization"]:
    final = merge_steps(word)[-1][1]
    print(f"{word!r}: {len(merge_steps(word)) - 1} merges -> {[readable(t) for t in final]}")
    assert final == [bpe.token_bytes(i) for i in bpe.encode(word)]

# %% id="e26d51c1"
def draw_merge_steps(ax, word):
    steps = merge_steps(word)
    n_bytes = len(word.encode("utf-8"))
    for row, (rank, tokens) in enumerate(steps):
        x = 0
        for token in tokens:
            width = len(token)
            shade = plt.cm.Blues(0.15 + 0.6 * width / n_bytes)    # darker = more bytes
            ax.add_patch(plt.Rectangle((x + 0.05, -row - 0.4), width - 0.1, 0.8, color=shade))
            ax.text(x + width / 2, -row, readable(token), ha="center", va="center", fontsize=9)
            x += width
        label = "bytes" if rank is None else f"merge #{rank}"
        ax.text(-0.3, -row, label, ha="right", va="center", fontsize=8)
    ax.set_xlim(-4, n_bytes + 0.2)
    ax.set_ylim(-len(steps) + 0.4, 0.6)
    ax.axis("off")
    ax.set_title(f"{word!r}: {len(steps[-1][1])} token(s) after {len(steps) - 1} merges")


fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
for ax, word in zip(axes, [" expression", " tokenization"]):
    draw_merge_steps(ax, word)
fig.suptitle("BPE assembles a word merge by merge, earliest-learned first: a frequent word "
             "becomes one token, a rare one stays in pieces")
fig.tight_layout()
plt.show()

# %% [markdown] id="9cca7e71"
# ## 7. Characters vs BPE vs WordPiece, on English, code and Chinese
#
# Four tokenizers, and three kinds of held-out text:
#
# * **characters** (section 3), trained on the English topics;
# * **BPE (English)**, the tokenizer of section 6;
# * **BPE (mixed)**: the same algorithm and size, trained on English topics, Python source files and
#   Chinese sentences from `minillm.grammar`;
# * **WordPiece**, BERT's tokenizer, with the real 30 522-token vocabulary of the pretrained
#   all-MiniLM-L6-v2 model (`minillm.tokenizers.WordPieceTokenizer`, loaded by `minillm.pretrained.minilm_tokenizer`; tested equal to Hugging Face's in the library's tests). It
#   lowercases, drops accents and whitespace, and writes a piece inside a word as `##piece`.
#
# The test texts: the validation topics (English technical prose), the held-out tenth of the
# standard-library modules (Python code: 20 files of the frozen copy of the standard library), and a
# **toy** Chinese text: the course's own title followed by 300 sentences from `minillm.grammar`,
# the small generator of English–Chinese sentence pairs (猫在河边睡觉。 "The cat sleeps by the
# river.") that chapters 4, 6 and 8 use. It has few distinct characters, and the mixed BPE trained on
# other sentences of the same grammar has seen nearly all of them (printed below), so its Chinese
# column measures a familiar, templated text, not Chinese at large.

# %% id="cc4c7e0c"
code_train, code_valid = split_documents(stdlib_corpus(), valid_fraction=0.1, seed=0)
grammar = Grammar(seed=0)
title = "大语言模型原理基础与前沿"
tests = {
    "English prose": valid_text,
    "Python code": "\n\n".join(d.text for d in code_valid),
    "Chinese (toy grammar)": title + "。" + "".join(p.zh + "。"
                                                 for p in grammar.sample(300, seed=1)),
}
mixed_texts = ([d.text for d in train_docs] + [d.text for d in code_train[:20]]
               + ["".join(p.zh + "。" for p in grammar.sample(3000, seed=0))])
bpe_mixed = BPETokenizer.train(mixed_texts, vocab_size=1000)
wordpiece = minilm_tokenizer()                   # a WordPieceTokenizer

tokenizers = {
    "characters": (chars, chars.encode, "<unk>"),
    "BPE (English)": (bpe, bpe.encode, None),
    "BPE (mixed)": (bpe_mixed, bpe_mixed.encode, None),
    "WordPiece": (wordpiece, lambda text: wordpiece.encode(text, add_special_tokens=False),
                  "[UNK]"),
}
for name, text in tests.items():
    print(f"{name}: {len(text):,} characters, {len(text.encode('utf-8')):,} bytes")
toy_chars = set(tests["Chinese (toy grammar)"])
print(f"the toy Chinese text uses {len(toy_chars)} distinct characters; "
      f"{len(toy_chars - set(mixed_texts[-1]))} of them are missing from the mixed BPE's "
      "Chinese training sentences")
assert len(code_valid) == 20, len(code_valid)

# %% id="4b63931c"
stats = {}   # (tokenizer, text) -> tokens, bytes per token, unknown share, exact round trip
for tok_name, (tokenizer, encode, unk) in tokenizers.items():
    for text_name, text in tests.items():
        ids = encode(text)
        unknown = np.mean(np.array(ids) == tokenizer.token_to_id(unk)) if unk else 0.0
        stats[tok_name, text_name] = (len(ids), len(text.encode("utf-8")) / len(ids), unknown,
                                      tokenizer.decode(ids) == text)

print(f"{'tokenizer':<14} {'vocab':>6} | " + " | ".join(f"{t:^31}" for t in tests))
print(f"{'':<14} {'':>6} | " + " | ".join(f"{'tokens':>8} {'B/token':>7} {'unk':>6} {'exact':>6}"
                                          for _ in tests))
for tok_name, (tokenizer, _, _) in tokenizers.items():
    cells = [stats[tok_name, t] for t in tests]
    print(f"{tok_name:<14} {tokenizer.vocab_size:>6} | " + " | ".join(
        f"{n:>8,} {bpt:>7.2f} {unk:>6.2%} {str(exact):>6}" for n, bpt, unk, exact in cells))

# %% id="50bb26d4"
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
width = 0.2
for i, tok_name in enumerate(tokenizers):
    x = np.arange(len(tests)) + (i - 1.5) * width
    lossy = [not stats[tok_name, t][3] for t in tests]     # cannot give the text back
    axes[0].bar(x, [stats[tok_name, t][1] for t in tests], width, label=tok_name,
                hatch=["//" if bad else "" for bad in lossy], edgecolor="white")
    axes[1].bar(x, [100 * stats[tok_name, t][2] for t in tests], width, label=tok_name)
for ax, ylabel, ax_title in [
        (axes[0], "UTF-8 bytes per token (higher = shorter sequences)",
         "BPE trained on English packs ~2.8 bytes per token of prose, but Chinese falls\n"
         "back to single bytes (hatched: the text cannot be rebuilt from the tokens)"),
        (axes[1], "% of tokens that are unknown (<unk> / [UNK])",
         "Byte-level BPE never meets an unknown symbol;\n"
         "characters and WordPiece lose most Chinese characters")]:
    ax.set_xticks(range(len(tests)), [t.replace(" (", "\n(") for t in tests])
    ax.set_ylabel(ylabel)
    ax.set_title(ax_title)
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% id="5d868ce6"
# The claims of the figure, checked:
zh = "Chinese (toy grammar)"
assert 2.6 < stats["BPE (English)", "English prose"][1] < 3.0
assert np.isclose(stats["BPE (English)", zh][1], 1.0, atol=0.01)     # bytes, one by one
assert stats["BPE (mixed)", zh][1] > 2 * stats["BPE (English)", zh][1]
# byte-level BPE: nothing unknown, every text back exactly
assert all(stats[b, t][2] == 0 and stats[b, t][3] for b in ("BPE (English)", "BPE (mixed)")
           for t in tests)
assert stats["characters", zh][2] > 0.9 and stats["WordPiece", zh][2] > 0.5
assert not stats["WordPiece", "Python code"][3]           # lowercased, whitespace gone: lossy
assert 0 < stats["characters", "Python code"][2] < 0.01   # a few code symbols are <unk>
# the mixed BPE: a little worse on English, better on code and Chinese
assert stats["BPE (mixed)", "English prose"][1] < stats["BPE (English)", "English prose"][1]
assert stats["BPE (mixed)", "Python code"][1] > stats["BPE (English)", "Python code"][1]

# %% [markdown] id="f9117357"
# Reading the table: BPE keeps every text exactly (*exact*: decoding gives back the very same
# string), whatever it contains. The character tokenizer knows only the characters of its training
# text, so every Chinese character, and a few symbols of the code, become `<unk>`. WordPiece's high
# bytes per token comes partly from its size, 30 522 tokens against BPE's 1000 (trained on far more
# text, too), and on code it is partly an illusion: it lowercases and **throws the whitespace
# away**, indentation included, so the code cannot be rebuilt from its tokens. And the tokenizer's
# *training data* decides what it compresses: the mixed BPE gives up a little English to learn
# Python and the toy grammar's Chinese words. Those are not Chinese words in general: on the course
# title below, which is not grammar text, the mixed BPE needs almost as many tokens as the English
# one (the counts are in the first column).
#
# The course title, token by token, in each tokenizer (each coloured box is one token; `\xe5` is a
# byte cut out of a character):

# %% id="5d6c1433"
from IPython.display import HTML, display

PALETTE = ["#fde2e4", "#dfe7fd", "#e2ece9", "#fff1c1", "#e8dff5", "#d7f0db"]


def tokens_html(pieces):
    spans = "".join(
        f'<span style="background:{PALETTE[i % len(PALETTE)]};padding:1px 3px;margin:1px;'
        f'border-radius:3px;font-family:monospace;white-space:pre">{html.escape(p)}</span>'
        for i, p in enumerate(pieces))
    return f'<div style="line-height:2">{spans}</div>'


def pieces(tokenizer, ids):
    if isinstance(tokenizer, BPETokenizer):
        return [readable(tokenizer.token_bytes(i)) for i in ids]
    return [tokenizer.id_to_token(i) for i in ids]


rows = "".join(f"<tr><td style='text-align:left'>{name} ({len(encode(title))} tokens)</td>"
               f"<td style='text-align:left'>{tokens_html(pieces(tokenizer, encode(title)))}"
               "</td></tr>"
               for name, (tokenizer, encode, _) in tokenizers.items())
display(HTML(f"<table>{rows}</table>"))
print("tokens for the title:", ", ".join(f"{name} {len(encode(title))}"
                                         for name, (_, encode, _) in tokenizers.items()))

# %% [markdown] id="743032a1"
# **Perplexity depends on the tokens.** An n-gram model over BPE tokens predicts bigger units, so its
# per-*token* perplexity is much higher than a character model's, and the two numbers cannot be
# compared. What can be compared is the total log-likelihood of the same text, divided by its
# number of **characters** (nats per character; $\log \mathrm{PPL}$ for the character model):

# %% id="9d729ac8"
bpe_train, bpe_valid = np.array(bpe.encode(train_text)), np.array(bpe.encode(valid_text))
per_char = {f"characters, n={n}": -models[n].log_likelihood(valid_ids) / len(valid_text)
            for n in (3, 6)}
per_token = {f"characters, n={n}": models[n].perplexity(valid_ids) for n in (3, 6)}
for n in (2, 3, 4):
    bpe_model = NGramModel(n, bpe.vocab_size).fit(bpe_train)
    per_char[f"BPE tokens, n={n}"] = -bpe_model.log_likelihood(bpe_valid) / len(valid_text)
    per_token[f"BPE tokens, n={n}"] = bpe_model.perplexity(bpe_valid)
print(f"{'model':<18} {'PPL per token':>14} {'nats per char':>14}")
for name in per_char:
    print(f"{name:<18} {per_token[name]:>14.2f} {per_char[name]:>14.3f}")
assert per_token["BPE tokens, n=4"] > 5 * per_token["characters, n=6"]
assert abs(per_char["BPE tokens, n=4"] - per_char["characters, n=6"]) < 0.05

# %% [markdown] id="74cebebc"
# Per token the BPE model looks about ten times worse; per character the two best models are
# equally good. Every comparison between models in this course, and between real LLMs with different tokenizers,
# has to be made per character or per byte (or on the same tokens).
#
# ## 8. Our BPE next to Hugging Face `tokenizers`
#
# Hugging Face's `tokenizers` library (written in Rust) trains the same byte-level BPE. Trained on the
# same text with the same vocabulary size, it should compress the same, and learn (nearly) the same
# merges: ties between equally frequent pairs may be broken differently. Timings first (they vary
# from run to run). Do not read too much into the encoding time: both libraries keep a cache of the
# words they have already split, and the text here is one long string of the same few thousand
# words, so both mostly look words up; Hugging Face's Rust pays off in training, and in
# `encode_batch`, which encodes many texts at once in parallel.

# %% id="24b0b9b1"
# NBVAL_IGNORE_OUTPUT
# (timings vary from run to run: the tests do not compare this cell's output)
from tokenizers import ByteLevelBPETokenizer

start = time.perf_counter()
hf_bpe = ByteLevelBPETokenizer()
hf_bpe.train_from_iterator([d.text for d in train_docs], vocab_size=1000, min_frequency=1,
                           special_tokens=list(bpe.special_tokens), show_progress=False)
hf_seconds = time.perf_counter() - start

english = tests["English prose"] * 5
timings = {}
for name, encode in [("minillm", bpe.encode), ("Hugging Face", lambda t: hf_bpe.encode(t).ids)]:
    start = time.perf_counter()
    encode(english)
    timings[name] = time.perf_counter() - start
print(f"training on {len(train_text):,} characters: minillm {bpe_seconds:.2f} s, "
      f"Hugging Face {hf_seconds:.2f} s")
for name, seconds in timings.items():
    print(f"encoding {len(english):,} characters with {name}: {seconds:.2f} s "
          f"({len(english) / seconds / 1e6:.1f} M characters per second)")

# %% [markdown] id="byte-to-char-md"
# To compare merges we need a common spelling. GPT-2 writes each of the 256 bytes as one printable
# character (the printable ones as themselves, the others — space, newline, control bytes — as
# characters from higher up in Unicode, e.g. the space as `Ġ`), so that a merge can be stored as
# two readable strings in a text file: `Ġ t` is *␣ + t*. minillm's `merges.txt` uses the same
# table, `minillm.tokenizers.BYTE_TO_CHAR`.

# %% id="a62c16ac"
import json

from minillm.tokenizers import BYTE_TO_CHAR

print(f"{'text':<14} {'minillm B/token':>16} {'Hugging Face B/token':>21}")
for name, text in tests.items():
    ours = len(text.encode("utf-8")) / len(bpe.encode(text))
    theirs = len(text.encode("utf-8")) / len(hf_bpe.encode(text).ids)
    print(f"{name:<14} {ours:>16.3f} {theirs:>21.3f}")
    assert abs(ours - theirs) / theirs < 0.005          # the same compression, within 0.5 %

# HF writes a merge as "Ġ t", each byte by its printable stand-in (as minillm's merges.txt)
hf_merges = [" ".join(m) if isinstance(m, list) else m
             for m in json.loads(hf_bpe.to_str())["model"]["merges"]]
our_merges = [" ".join("".join(BYTE_TO_CHAR[b] for b in part) for part in pair)
              for pair in bpe.merges]
shared = len(set(our_merges) & set(hf_merges))
print(f"merges learned by both: {shared} of {len(our_merges)}; the first 20 in the same order: "
      f"{our_merges[:20] == hf_merges[:20]}")
# ties between equally frequent pairs are broken differently, and one different merge changes
# the counts after it: a few merges differ
assert shared > 0.9 * len(our_merges)

# %% [markdown] id="8b00c0f2"
# ## 9. Play with it
#
# **BPE, merge by merge.** Type any text and move the slider: the text is tokenized with only the
# first *k* merges of our BPE (0 = raw bytes, 740 = all of them). Watch frequent English words
# snap together early, code take longer, and Chinese stay in bytes.
#
# (The widgets need a running kernel: run the notebook, then move the sliders.)

# %% id="eaa5befc"
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets


def show_merges(text, k):
    partial = BPETokenizer(bpe.merges[:k], special_tokens=list(bpe.special_tokens))
    ids = partial.encode(text)
    display(HTML(f"<b>{k} merges: {len(ids)} tokens, "
                 f"{len(text.encode('utf-8')) / max(len(ids), 1):.2f} bytes per token</b>"
                 + tokens_html(pieces(partial, ids))))


merge_controls = {
    "text": widgets.Textarea(value="The expression evaluates the function's arguments.\n"
                                   "def square(x):\n    return x ** 2  # 大语言模型",
                             layout=widgets.Layout(width="90%", height="80px")),
    "k": widgets.IntSlider(value=100, min=0, max=len(bpe.merges), step=1, description="merges k",
                           continuous_update=False),
}
display(widgets.VBox([merge_controls["text"], merge_controls["k"],
                      widgets.interactive_output(show_merges, merge_controls)]))

# %% [markdown] id="ebc3230d"
# **n-gram samples.** Pick the order $n$, a prompt and a seed; the interpolated model of section 5
# writes 200 characters.

# %% id="48071e90"
# NBVAL_IGNORE_OUTPUT
def show_sample(n, prompt, seed):
    unknown = sorted(set(prompt) - set(train_text))
    if unknown:
        print(f"the model has never seen {unknown}: use characters from the training text")
        return
    print(chars.decode(models[n].generate(chars.encode(prompt), 200, seed=seed)))


sample_controls = {
    "n": widgets.IntSlider(value=4, min=1, max=6, description="order n", continuous_update=False),
    "prompt": widgets.Text(value="A class ", description="prompt"),
    "seed": widgets.IntSlider(value=0, min=0, max=20, description="seed", continuous_update=False),
}
display(widgets.VBox([widgets.HBox(list(sample_controls.values())),
                      widgets.interactive_output(show_sample, sample_controls)]))

# %% [markdown] id="b0b6e53c"
# ## 10. Exercises
#
# Replace each `...` with your answer and run the cell: a ✅ means the checker agrees, a ❌ comes with
# a hint. Solutions are in `solutions.py` next to this notebook; try first!

# %% id="f4a396de"
from minillm.exercises.language_models import (
    check_bigram_matrix,
    check_most_frequent_pair,
    check_perplexity,
    check_sequence_prob,
)

# %% [markdown] id="737444da"
# **Exercise 1 — the chain rule.** Write `sequence_prob(cond_prob, ids)` that returns the probability
# of the whole sequence `ids` (a list of token ids), where `cond_prob(context, next_id)` gives
# the probability that `next_id` comes after `context`, a list of ids of any length (possibly
# empty).

# %% id="e0e8362f"
def sequence_prob(cond_prob, ids):
    ...  # your code here


check_sequence_prob(sequence_prob)

# %% [markdown] id="dfe2df6d"
# **Exercise 2 — a bigram model by counting.** Write `bigram_matrix(ids, vocab_size)` that returns the
# `(vocab_size, vocab_size)` array of unsmoothed estimates $P[a, b] = P(b \mid a) = c(a, b) / c(a)$
# from a NumPy array of ids (every token is followed by something at least once). Each row must sum
# to 1.

# %% id="fddae8f8"
def bigram_matrix(ids, vocab_size):
    ...  # your code here


check_bigram_matrix(bigram_matrix)

# %% [markdown] id="e347a382"
# **Exercise 3 — perplexity by hand.** A model gave the tokens that actually came next the
# probabilities `token_probs` (a NumPy array). Return the perplexity.

# %% id="86efd710"
def perplexity_of(token_probs):
    ...  # your code here


check_perplexity(perplexity_of)

# %% [markdown] id="b3076c8d"
# **Exercise 4 — one step of BPE training.** `word_counts` maps each word, written as a tuple of its
# current symbols, to how often it occurs, e.g. `{("h", "u", "g"): 10, ("p", "u", "g"): 5,
# ("h", "u", "g", "s"): 5}` before any merge, or `{("h", "ug"): 10, ("p", "ug"): 5,
# ("h", "ug", "s"): 5}` after the merge of `u` and `g`. Return the adjacent pair `(left, right)` that BPE merges next.

# %% id="d7bc6bbe"
def most_frequent_pair(word_counts):
    ...  # your code here


check_most_frequent_pair(most_frequent_pair)

# %% [markdown] id="d5ec57bd"
# ## Summary
#
# | idea | where it lives in minillm |
# |---|---|
# | chain rule: $P(w_1 \dots w_T) = \prod_t P(w_t \mid w_{<t})$ | `NGramModel.log_likelihood` (a sum of logs) |
# | n-gram model: counts, add-k and interpolated smoothing | `minillm.ngram.NGramModel(n, vocab_size, smoothing, k)` |
# | perplexity = exp(mean negative log-likelihood) | `NGramModel.perplexity`, `token_log_probs` |
# | sampling: the chain rule run forwards | `NGramModel.generate` |
# | counting = maximum likelihood = what gradient descent finds | (section 4, by hand) |
# | corpora with a document-level validation split | `minillm.data.pydoc_corpus`, `stdlib_corpus`, `split_documents` |
# | characters, byte-level BPE (its training loop), WordPiece | `minillm.tokenizers.CharTokenizer`, `BPETokenizer`, `WordPieceTokenizer` |
# | keep every token a model must generate (no stop-word removal) | section 5 |
#
# Next, **chapter 2 (attention)**: instead of looking up the last few tokens in a table of counts, a
# model *computes* a representation of the context, letting every token look at every other one.
# In **chapter 4 (pretraining)** a small Transformer is trained on these same help topics and
# scored, per character, against the n-gram baseline of section 5: the number to beat.
#
# **Further reading.** C. E. Shannon, *Prediction and entropy of printed English* (1951); S. F. Chen
# and J. Goodman, *An empirical study of smoothing techniques for language modeling* (1999);
# Y. Bengio et al., *A neural probabilistic language model* (2003); R. Sennrich, B. Haddow and
# A. Birch, *Neural machine translation of rare words with subword units* (2016, BPE for NLP);
# A. Radford et al., *Language models are unsupervised multitask learners* (2019, byte-level BPE);
# T. Kudo and J. Richardson, *SentencePiece* (2018); D. Jurafsky and J. H. Martin, *Speech and
# Language Processing*, chapter 3 (n-gram language models).
