# Text form of attention.ipynb: its cells without their outputs, for reading and diffs.
# Written by `python -m minillm.text_forms`; edit the notebook, not this file.

# %% [markdown] id="1d564af4"
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minillm-course/minillm/blob/main/chapters/02-attention/attention.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/minillm-course/minillm/main?urlpath=lab/tree/chapters/02-attention/attention.ipynb)
#
# # Chapter 2 · Attention math（注意力机制）
#
# *大语言模型原理基础与前沿 — an executable course on how large language models work.*
#
# Every Transformer layer starts with one operation: **attention**. Each token looks at the other
# tokens of its sequence, decides how much each one matters to it, and replaces its own vector by a
# weighted mix of theirs. In this chapter you build that operation from nothing but NumPy, one small
# cell at a time, and check each piece against the `minillm` library and against PyTorch.
#
# 1. A word's meaning depends on its context: similarity → softmax → weighted sum
# 2. The formula, and the library function that implements it
# 3. Why divide by $\sqrt{d_k}$? Measured, not asserted
# 4. Queries, keys and values are learned projections
# 5. Masks: padding, causal, and both together
# 6. Multi-head attention
# 7. The backward pass, checked against `torch.autograd`
# 8. Play with it: temperature, masks and heads in a widget
# 9. Attention inside a real (tiny) minillm model, drawn by bertviz and offline
# 10. Before the Transformer: a recurrent network (RNN, GRU), measured against attention
# 11. Exercises that check themselves

# %% id="bd8ab662"
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

# %% id="012c0258"
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import torch

import minillm  # installed by `pip install -r requirements.txt` (the `-e .` line)
import minillm.np
import minillm.viz

np.set_printoptions(precision=3, suppress=True)
plt.rcParams.update({"figure.dpi": 80, "axes.titlesize": 10})
rng = np.random.default_rng(0)
torch.manual_seed(0)
print(f"minillm {minillm.__version__} imported")

# %% [markdown] id="8d54039a"
# ## 1. A word's meaning depends on its context
#
# Read two sentences:
#
# * *we fished from the river **bank***
# * *we borrowed money from the **bank***
#
# The word is the same; the meaning is not. A model that gives *bank* one fixed vector cannot tell the
# two apart. The fix behind every Transformer is **self-attention（自注意力）**: let each word
# *look at the other words of its sentence* and mix some of them into its own vector.
#
# To see the mechanics with nothing hidden, we give each word a hand-made 4-number vector whose
# features we can read: how much it is about *nature*, about *money*, about an *action*, and how much
# it is just *grammar*. *bank* sits halfway between nature and money.

# %% id="462fc4e1"
features = ["nature", "money", "action", "grammar"]
vectors = {
    "we":       [0.0, 0.0, 0.0, 1.0],
    "from":     [0.0, 0.0, 0.0, 1.0],
    "the":      [0.0, 0.0, 0.0, 1.0],
    "fished":   [1.0, 0.0, 0.5, 0.0],
    "river":    [1.5, 0.0, 0.0, 0.0],
    "borrowed": [0.0, 1.0, 0.5, 0.0],
    "money":    [0.0, 1.5, 0.0, 0.0],
    "bank":     [1.0, 1.0, 0.0, 0.0],
}
sentence_a = "we fished from the river bank".split()
sentence_b = "we borrowed money from the bank".split()

def embed_words(words):
    # (seq, 4): one row per word
    return np.array([vectors[w] for w in words])

X_a, X_b = embed_words(sentence_a), embed_words(sentence_b)
print(X_a.shape, X_b.shape)

# %% [markdown] id="ec142f90"
# **Step 1: similarity.** How related is *bank* to each word of its sentence? The simplest measure
# is the dot product $x_\text{bank} \cdot x_j$: large when two vectors point the same way.

# %% id="613f66e2"
bank_a = X_a[sentence_a.index("bank")]
scores_a = X_a @ bank_a            # (seq,): one score per word of sentence A
for word, s in zip(sentence_a, scores_a):
    print(f"bank · {word:<7} = {s:.2f}")

# %% [markdown] id="875e58fa"
# **Step 2: softmax.** Scores can be any real numbers; we want *weights*: non-negative and summing to
# one, so that the result is an average. The softmax（归一化指数函数）does that and keeps the order
# of the scores:
#
# $$\operatorname{softmax}(s)_j = \frac{e^{s_j}}{\sum_{j'} e^{s_{j'}}}$$
#
# (Subtracting $\max_j s_j$ first changes nothing mathematically and keeps `exp` from overflowing.)

# %% id="635e1faa"
def softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

weights_a = softmax(scores_a)
for word, w in zip(sentence_a, weights_a):
    print(f"weight on {word:<7} = {w:.3f}")
assert np.isclose(weights_a.sum(), 1.0)

# %% [markdown] id="059bb8a9"
# **Step 3: weighted sum.** The new vector of *bank* is the weighted average of the vectors of its
# sentence. We do the same for sentence B and compare the two *banks*.

# %% id="212fb853"
new_bank_a = weights_a @ X_a
bank_b = X_b[sentence_b.index("bank")]
new_bank_b = softmax(X_b @ bank_b) @ X_b

for name, v in [("bank before", bank_a), ("bank in A", new_bank_a), ("bank in B", new_bank_b)]:
    print(f"{name:<12}", "  ".join(f"{f}={x:.2f}" for f, x in zip(features, v)))

nature, money = features.index("nature"), features.index("money")
assert new_bank_a[nature] > new_bank_a[money]   # next to a river, bank leans to nature
assert new_bank_b[money] > new_bank_b[nature]   # next to money, bank leans to money

# %% [markdown] id="87604bb7"
# The same word now has two different vectors, each pulled towards its context. That is all
# attention is. Every word does it at the same time, which in matrix form is three lines: all
# scores $S = XX^\top$, all weights $A = \operatorname{softmax}(S)$ row by row, all outputs $Y = AX$.
# Each row of $A$, the **attention matrix**, says where one word looks. (We write $A$, not
# $W$: from section 2 on, $W$ names learned weight matrices such as $W_Q$.)

# %% id="c0bd70f3"
def self_attend(X):
    A = softmax(X @ X.T)      # (seq, seq): row i = where word i looks
    return A @ X, A

Y_a, A_a = self_attend(X_a)
Y_b, A_b = self_attend(X_b)
assert np.allclose(Y_a[-1], new_bank_a) and np.allclose(Y_b[-1], new_bank_b)
top3_a = {sentence_a[j] for j in np.argsort(A_a[-1])[-3:]}
top3_b = {sentence_b[j] for j in np.argsort(A_b[-1])[-3:]}
assert top3_a == {"bank", "river", "fished"} and top3_b == {"bank", "money", "borrowed"}

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
minillm.viz.plot_attention(A_a, sentence_a, ax=axes[0], annotate=True, title="sentence A")
minillm.viz.plot_attention(A_b, sentence_b, ax=axes[1], annotate=True, title="sentence B")
fig.suptitle("Row 'bank': in A it looks at 'river' and 'fished', in B at 'money' and 'borrowed'")
fig.tight_layout()
plt.show()

# %% [markdown] id="b812a3eb"
# ## 2. The formula
#
# Real attention separates three roles that one vector played above. Each position emits a
# **query（查询）** $q$ ("what am I looking for?"), a **key（键）** $k$ ("what do I contain?") and
# a **value（值）** $v$ ("what do I hand over if chosen?"). With all of them stacked as matrices
# $Q$ (seq_q × $d_k$), $K$ (seq_k × $d_k$), $V$ (seq_k × $d_v$):
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V$$
#
# This is **scaled dot-product attention（缩放点积注意力）**. Section 1 was the special case
# $Q = K = V = X$ without the $\sqrt{d_k}$; section 3 shows why the division matters. In code the
# formula is two lines. `np.swapaxes(k, -1, -2)` transposes the last two axes, so the same code
# works for any leading (batch, heads) axes.

# %% id="5790d9b4"
def attention(q, k, v):
    weights = softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]))
    return weights @ v, weights

q = rng.standard_normal((2, 5, 8))        # (batch, seq_q, d_k)
k = rng.standard_normal((2, 7, 8))        # (batch, seq_k, d_k)
v = rng.standard_normal((2, 7, 3))        # (batch, seq_k, d_v)
ours, ours_w = attention(q, k, v)
lib, lib_w = minillm.np.scaled_dot_product_attention(q, k, v)
print("ours equals minillm.np.scaled_dot_product_attention:",
      np.allclose(ours, lib) and np.allclose(ours_w, lib_w))
print("section 1 equals the library with scale=1:",
      np.allclose(Y_a, minillm.np.scaled_dot_product_attention(X_a, X_a, X_a, scale=1.0)[0]))
assert np.allclose(ours, lib) and np.allclose(ours_w, lib_w)
print("out:", ours.shape, "= (batch, seq_q, d_v)")
print("weights:", ours_w.shape, "= (batch, seq_q, seq_k)")

# %% [markdown] id="e7-box"
# > **原文 vs 实测** · article 002 §4.1
# >
# > *What these boxes are.* This course implements five Chinese articles on how large language
# > models work, its sources, numbered 000 to 004 ([chapter 11](../11-faq/faq.ipynb) answers the
# > questions they end with). Where an article gets something wrong, a box like this one quotes
# > it (**原文**: the article's text), runs or checks it in the cell below (**实测**: measured),
# > and gives the fix (**改正**: correction).
# >
# > **原文** (its attention formula, as written): $\operatorname{Attention}(Q, K, V) =
# > \operatorname{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) W^V$
# >
# > **实测** (the cell below): $W^V$ is the *projection* that makes the values, $V = XW^V$, a
# > (d_model × d_v) matrix of weights; the attention weights are (seq × seq). Multiplied as written:
# >
# > **改正:** multiply by $V = XW^V$, the values of the tokens, as in the formula above.

# %% id="e7-code"
d_model, d_v = 8, 3
W_q, W_k, W_v = (rng.standard_normal((d_model, d)) for d in (d_model, d_model, d_v))


def article_attention(x):                        # softmax(Q K^T / sqrt(d_k)) W^V, as written
    weights = softmax((x @ W_q) @ (x @ W_k).T / np.sqrt(d_model))
    return weights @ W_v, weights


x5 = rng.standard_normal((5, d_model))            # 5 tokens
try:
    article_attention(x5)
except ValueError as err:
    print(f"5 tokens, as written: weights (5, 5) @ W^V {W_v.shape} raises {type(err).__name__}")
x8 = rng.standard_normal((8, d_model))            # 8 tokens = d_model: the shapes happen to fit
written, weights = article_attention(x8)
right = weights @ (x8 @ W_v)
print(f"8 tokens, as written: runs, and differs from weights @ (X W^V) by up to "
      f"{np.abs(written - right).max():.2f}")
assert not np.allclose(written, right)


# %% [markdown] id="e7-after"
# With 5 tokens the product cannot even be formed. With exactly $d_{\text{model}}$ tokens it runs
# and is silently wrong: row $j$ of $W^V$ stands in for token $j$'s value, so what a token hands over
# depends on its *position*, not on its content.

# %% [markdown] id="3302ff1a"
# From here on we use the library: `from minillm.np import scaled_dot_product_attention, softmax`.
# The library's version adds what this one lacks: masks (section 5), a choosable `scale`, shape checks
# with readable errors, and a softmax that survives a row of $-\infty$.

# %% id="ff466251"
from minillm.np import scaled_dot_product_attention, softmax

# %% [markdown] id="bc1c71f3"
# ## 3. Why divide by $\sqrt{d_k}$?
#
# A dot product $q \cdot k = \sum_{i=1}^{d_k} q_i k_i$ is a sum of $d_k$ terms. If the entries of $q$
# and $k$ are independent with mean 0 and variance 1, each product $q_i k_i$ has variance 1, and the
# variances of independent terms add up:
#
# $$\operatorname{Var}(q \cdot k) = d_k, \qquad \operatorname{Var}\!\left(\frac{q \cdot k}{\sqrt{d_k}}\right) = 1.$$
#
# That is the claim. Let us **measure** it on 10 000 random pairs for growing $d_k$.

# %% id="aa954082"
dims = [4, 16, 64, 256, 1024]
var_raw, var_scaled = [], []
for d in dims:
    q = rng.standard_normal((10_000, d))
    k = rng.standard_normal((10_000, d))
    dot = (q * k).sum(axis=-1)
    var_raw.append(dot.var())
    var_scaled.append((dot / np.sqrt(d)).var())
    print(f"d_k={d:5d}   Var(q·k) = {dot.var():8.1f}   Var(q·k)/d_k = {dot.var() / d:.2f}"
          f"   Var(q·k/√d_k) = {(dot / np.sqrt(d)).var():.2f}")

assert np.allclose(np.array(var_raw) / dims, 1, atol=0.05)   # Var(q·k) ≈ d_k, within 5 %
assert np.allclose(var_scaled, 1, atol=0.05)                  # scaled: ≈ 1 whatever d_k

# %% id="36fa7d32"
fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.loglog(dims, var_raw, "o-", label="Var(q·k)")
ax.loglog(dims, dims, "k:", label="the line Var = d_k")
ax.loglog(dims, var_scaled, "s-", label="Var(q·k / √d_k)")
ax.set_xlabel("d_k (dimensions per query/key)")
ax.set_ylabel("variance of the score")
ax.set_title("Raw scores spread out like d_k; scaled scores keep variance 1")
ax.legend()
plt.show()

# %% [markdown] id="7b117ab1"
# Why care about the spread? Because softmax reacts to *differences* between scores. When scores
# differ by tens, $e^{s}$ makes the largest one swamp the rest: softmax **saturates（饱和）** into a
# one-hot vector, attention looks at a single key, and (next cell) learning stops. We measure two
# signs of saturation over 16 keys, for 2 000 random queries:
#
# * the **largest weight** of each row (1/16 = uniform, 1 = one-hot),
# * the **entropy** $-\sum_j w_j \log w_j$ of each row ($\log 16$ = uniform, 0 = one-hot).
#
# And the gradient: the softmax Jacobian is $\partial w_i / \partial s_j = w_i(\delta_{ij} - w_j)$,
# i.e. $J = \operatorname{diag}(w) - ww^\top$. For a one-hot $w$ every entry is 0: the scores get
# **no gradient** and the queries and keys cannot learn. We report the median size (Frobenius norm)
# of $J$.

# %% id="54666592"
n_keys = 16

def saturation(scores):
    # scores: (queries, keys) -> mean max weight, mean entropy, median |J| of the softmax
    w = softmax(scores)
    entropy = -(w * np.log(np.where(w > 0, w, 1.0))).sum(axis=-1)
    jacobian = w[:, :, None] * np.eye(w.shape[-1]) - w[:, :, None] * w[:, None, :]
    return w.max(axis=-1).mean(), entropy.mean(), np.median(np.linalg.norm(jacobian, axis=(1, 2)))

stats = {"raw": [], "scaled": []}
for d in dims:
    q = rng.standard_normal((2_000, d))
    k = rng.standard_normal((n_keys, d))
    stats["raw"].append(saturation(q @ k.T))
    stats["scaled"].append(saturation(q @ k.T / np.sqrt(d)))
raw, scaled = np.array(stats["raw"]), np.array(stats["scaled"])   # columns: max w, entropy, |J|

print(f"uniform over {n_keys} keys: max weight {1 / n_keys:.3f}, entropy {np.log(n_keys):.3f}")
print("  d_k | max weight raw / scaled | entropy raw / scaled | median |J| raw / scaled")
for d, r, s in zip(dims, raw, scaled):
    print(f"{d:5d} | {r[0]:10.3f} / {s[0]:.3f}    | {r[1]:8.3f} / {s[1]:.3f}      "
          f"| {r[2]:9.2e} / {s[2]:.2e}")

# %% id="b4439782"
# The claims of the text, checked at d_k = 1024 (last row):
assert raw[-1, 0] > 0.9 and scaled[-1, 0] < 0.5        # raw rows are nearly one-hot, scaled not
assert raw[-1, 1] < 0.2 and scaled[-1, 1] > 2.0        # raw entropy collapses towards 0
assert raw[-1, 2] < 1e-3 * scaled[-1, 2]               # raw gradient: over 1000x smaller
assert np.ptp(scaled[:, 0]) < 0.05                     # scaled: the same picture for every d_k
print(f"at d_k = 1024 the raw softmax passes back {scaled[-1, 2] / raw[-1, 2]:,.0f}x less gradient "
      "(median) than the scaled one")

# %% id="61f98435"
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
panels = [("largest weight in a row", 1 / n_keys, "uniform: 1/16"),
          ("entropy of a row (nats)", np.log(n_keys), "uniform: log 16"),
          ("median |softmax Jacobian|", None, None)]
for i, (ax, (label, ref, ref_label)) in enumerate(zip(axes, panels)):
    ax.semilogx(dims, raw[:, i], "o-", label="q·k (raw)")
    ax.semilogx(dims, scaled[:, i], "s-", label="q·k / √d_k")
    if ref is not None:
        ax.axhline(ref, color="k", ls=":", label=ref_label)
    ax.set_xlabel("d_k")
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
axes[2].set_yscale("log")
axes[0].set_title("raw scores: rows turn one-hot")
axes[1].set_title("raw scores: entropy collapses")
axes[2].set_title("raw scores: the gradient vanishes")
fig.suptitle("Without 1/√d_k the softmax saturates as d_k grows; with it nothing changes")
fig.tight_layout()
plt.show()

# %% [markdown] id="e13-box"
# > **原文 vs 实测** · article 003 §3.2.1(3)
# >
# > **原文** (in translation): dividing by $\sqrt{d_k}$ eases vanishing or exploding gradients in the
# > deeper layers of the network.
# >
# > **实测** (the cells above, and the one below): the problem appears in *one* softmax, with no
# > depth at all: the variance of a score grows like $d_k$, the softmax saturates, and its own
# > gradient vanishes.
# >
# > **改正:** the scale keeps the scores' variance at 1 whatever $d_k$, so that the softmax stays
# > soft; gradient flow through depth is the job of residual connections and normalization
# > (chapter 3).

# %% id="e13-code"
# One attention softmax, a single layer: the measurement of this section, at each d_k
for d, r, s in zip(dims, raw, scaled):
    print(f"d_k = {d:5d}: median |softmax Jacobian| without the scale {r[2]:.1e}, "
          f"with it {s[2]:.1e} (ratio {s[2] / r[2]:,.1f})")
assert scaled[-1, 2] / raw[-1, 2] > 1000 and scaled[0, 2] / raw[0, 2] < 10


# %% [markdown] id="04cc4b64"
# ## 4. Queries, keys and values are learned projections
#
# In section 1 one vector played all three roles, $Q = K = V = X$. Two things follow, and both are
# limitations:
#
# * the score matrix $XX^\top$ is **symmetric**: *bank* looks at *river* exactly as much as *river*
#   looks at *bank*, although the two may need different things from each other;
# * a word's score with **itself** is its squared length, $x \cdot x = \lVert x \rVert^2$, so among
#   words of similar length it tends to score highest with itself and attend to itself. Not
#   always: the score $x \cdot y = \lVert x \rVert \lVert y \rVert \cos\theta$ beats
#   $\lVert x \rVert^2$ when $y$ is longer in $x$'s direction, which is why, in section 1's figure,
#   *fished* looked more at *river* than at itself. Either way the scores are fixed by the word
#   vectors alone, with nothing to learn.
#
# A Transformer therefore computes the three roles with three learned matrices
# $W_Q, W_K \in \mathbb{R}^{d_\text{model} \times d_k}$, $W_V \in \mathbb{R}^{d_\text{model} \times d_v}$:
#
# $$Q = XW_Q, \quad K = XW_K, \quad V = XW_V.$$
#
# Training (in later chapters) chooses them. Here we check the two limitations on our sentence, then
# that random projections remove the symmetry, and that identity projections give back section 1.

# %% id="a0b89c0e"
print("row 'bank' of sentence A:", "  ".join(f"{w}={x:.2f}" for w, x in zip(sentence_a, A_a[-1])))
assert sentence_a[A_a[-1].argmax()] == "bank"         # bank attends most to itself
assert np.allclose(X_a @ X_a.T, (X_a @ X_a.T).T)       # Q = K: symmetric scores

W_q, W_k, W_v = (rng.standard_normal((4, 4)) for _ in range(3))
S = (X_a @ W_q) @ (X_a @ W_k).T
print("with projections the scores are symmetric:", np.allclose(S, S.T))
assert not np.allclose(S, S.T)

I = np.eye(4)
same = scaled_dot_product_attention(X_a @ I, X_a @ I, X_a @ I, scale=1.0)[0]
print("identity projections give back section 1:", np.allclose(same, Y_a))
assert np.allclose(same, Y_a)

# %% [markdown] id="0491c922"
# ## 5. Masks: padding, causal, and both
#
# Sometimes a query **must not** look at some keys. Two cases matter all the time:
#
# * **Padding mask（填充掩码）.** Sentences in a batch have different lengths; the short ones are
#   filled up with a `<pad>` token so that they fit into one array. Nobody should attend to `<pad>`.
# * **Causal mask（因果掩码）.** A language model predicts the next word; while reading word $i$ it
#   must not peek at words $i+1, i+2, \dots$. Query $i$ may see keys $0..i$ only: a lower triangle.
#
# A mask is a boolean array; in minillm (as in PyTorch's `F.scaled_dot_product_attention`)
# **True = may attend**. Blocked scores are set to $-\infty$ before the softmax, so
# $e^{-\infty} = 0$ gives them weight exactly 0 and the other weights still sum to 1.
# Build both masks by hand and compare them with the library's.

# %% id="545445fa"
vectors["<pad>"] = [0.0, 0.0, 0.0, 0.0]
vectors["lent"] = [0.0, 1.0, 0.5, 0.0]
batch_words = [sentence_a, "the bank lent money".split() + ["<pad>", "<pad>"]]
X = np.stack([embed_words(s) for s in batch_words])                 # (batch=2, seq=6, 4)
is_token = np.array([[w != "<pad>" for w in s] for s in batch_words])  # (batch, seq), True = real
seq = X.shape[1]

our_padding = is_token[:, None, None, :]          # (batch, 1, 1, seq_k): same for every query, head
our_causal = np.tril(np.ones((seq, seq), dtype=bool))   # (seq_q, seq_k): keys 0..i for query i
print("padding mask equals minillm.np.padding_mask:",
      np.array_equal(our_padding, minillm.np.padding_mask(is_token)))
print("causal mask equals minillm.np.causal_mask:",
      np.array_equal(our_causal, minillm.np.causal_mask(seq)))
assert np.array_equal(our_padding, minillm.np.padding_mask(is_token))
assert np.array_equal(our_causal, minillm.np.causal_mask(seq))
print(our_causal.astype(int))

# %% [markdown] id="ee08288e"
# The two masks combine with a logical **and**: a key is visible if it is in the past *and* a real
# token. The shapes broadcast: `(seq, seq) & (batch, 1, 1, seq)` → `(batch, 1, seq, seq)`, one mask per
# sentence, shared by all heads. Below: the short sentence of the batch under each mask. The
# `<pad>` *rows* (queries) still get weights, over the real tokens: they are computed like any
# other row and simply ignored afterwards, because the loss skips padded positions. What matters
# is that no real token looks at a `<pad>` *column*.

# %% id="8e75cb13"
from minillm.np import causal_mask, padding_mask

masks = {"padding only": padding_mask(is_token),
         "causal only": causal_mask(seq),
         "causal & padding": causal_mask(seq) & padding_mask(is_token)}
X_heads = X[:, None]                          # (batch, heads=1, seq, 4): masks expect a heads axis
fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
for ax, (name, mask) in zip(axes, masks.items()):
    _, w = scaled_dot_product_attention(X_heads, X_heads, X_heads, mask, scale=1.0)
    w_short = w[1, 0]                                       # the short sentence, its only head
    minillm.viz.plot_attention(w_short, batch_words[1], ax=ax, annotate=True, title=name)
    blocked = ~np.broadcast_to(mask, w.shape)[1, 0]
    assert np.all(w_short[blocked] == 0)                    # blocked entries: exactly 0
    assert np.allclose(w_short.sum(axis=-1), 1)             # every row still sums to 1
    if "padding" in name:
        assert np.all(w_short[:, ~is_token[1]] == 0)        # nobody looks at <pad>
    if "causal" in name:
        assert np.all(np.triu(w_short, k=1) == 0)           # nobody looks at the future
fig.suptitle("Blocked keys get weight 0: pad columns empty (left), "
             "upper triangle empty (middle), both (right)")
fig.tight_layout()
plt.show()

# %% [markdown] id="87f6a8cf"
# ### A fully masked row gives zeros, not NaN
#
# Can a query see *no key at all*? Yes: for generation, batches are often padded on the **left**, so
# that the last real token of every sentence sits in the last column. With a causal mask, the first
# query of a left-padded sentence may only look at position 0, which is `<pad>`: every key is
# blocked, the row of scores is all $-\infty$, and the textbook softmax computes
# $e^{-\infty - (-\infty)} = e^{\text{NaN}}$. A single NaN then spreads through every later layer.
# minillm's softmax returns a row of zeros instead (so the output of that query is 0).

# %% id="e057935a"
left_padded = np.array([[False, False, True, True, True, True]])  # 2 pads, then 4 real tokens
mask = causal_mask(6) & padding_mask(left_padded)
print("query 0 may attend to:", mask[0, 0, 0], "<- no key at all")

X_left = X_heads[1:, :, [4, 5, 0, 1, 2, 3]]        # the short sentence, pads moved to the left
scores = np.where(mask, X_left @ np.swapaxes(X_left, -1, -2), -np.inf)
with np.errstate(invalid="ignore"):                 # -inf - (-inf) warns; we want to see the NaN
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    textbook = e / e.sum(axis=-1, keepdims=True)
out, w = scaled_dot_product_attention(X_left, X_left, X_left, mask)
print("textbook softmax, row 0:", textbook[0, 0, 0])
print("minillm,          row 0:", w[0, 0, 0], " output:", out[0, 0, 0])
assert np.isnan(textbook[0, 0, 0]).all()
assert np.all(w[0, 0, 0] == 0) and np.all(out[0, 0, 0] == 0) and not np.isnan(w).any()

# %% [markdown] id="4bbe0d9e"
# ## 6. Multi-head attention
#
# One attention pattern per layer is a bottleneck: a word may need to look at the previous word
# *and* at its subject *and* at the end of the sentence. **Multi-head attention（多头注意力）**
# runs $h$ attentions side by side, each in a smaller space of $d_\text{head} = d_\text{model}/h$
# dimensions, and joins them:
#
# $$\operatorname{head}_i = \operatorname{Attention}(XW_Q^{(i)}, XW_K^{(i)}, XW_V^{(i)}), \qquad
# \operatorname{MHA}(X) = \operatorname{concat}(\operatorname{head}_1, \dots, \operatorname{head}_h)\, W_O$$
#
# In practice nobody keeps $h$ separate matrices: one $d_\text{model} \times d_\text{model}$
# projection computes all heads at once, and a reshape **splits** its output into heads. Same cost
# as one big head, $h$ different patterns.
#
# We take the weights from minillm's PyTorch layer `minillm.MultiHeadAttention(d_model=16, n_heads=4)`
# (random, seeded) and convert its `state_dict()` into the NumPy parameter dict, key for key. The word
# vectors are random too, with a wide spread (standard deviation 3), so that even random projections
# give the heads visible preferences. The sentence invites a reading (does *it* look at *cat*?);
# do not read meaning into these maps: the weights are random, so every pattern is an accident
# of the draw. A trained map comes in section 10.

# %% id="7c884c04"
words = "the cat sat on the mat because it was tired".split()
d_model, n_heads = 16, 4
word_vectors = {w: 3 * rng.standard_normal(d_model) for w in dict.fromkeys(words)}
x = np.array([word_vectors[w] for w in words])[None]        # (batch=1, seq=10, d_model=16)

torch.manual_seed(0)
mha_torch = minillm.MultiHeadAttention(d_model, n_heads)
params = {name: t.detach().numpy().astype(np.float64) for name, t in mha_torch.state_dict().items()}
for name, p in params.items():
    print(f"{name:<16} {p.shape}")

# %% [markdown] id="ae69d632"
# **Split and merge.** `(batch, seq, d_model)` → reshape to `(batch, seq, heads, d_head)` → move the
# heads forward: `(batch, heads, seq, d_head)`. Merging undoes it. Every position keeps its own
# numbers; only the grouping changes.
#
# One change of notation ahead: the maths above writes a projection as $Q = XW_Q$ with $W_Q$ of shape
# $d_\text{model} \times d_k$; PyTorch's `nn.Linear` (and so minillm's parameters) stores the weight
# the other way round, `(out, in)`, and computes $y = xW^\top + b$. Same numbers, transposed.

# %% id="4417297e"
def our_split_heads(t, n_heads):
    batch, seq, d = t.shape
    return t.reshape(batch, seq, n_heads, d // n_heads).transpose(0, 2, 1, 3)

def our_merge_heads(t):
    batch, heads, seq, d_head = t.shape
    return t.transpose(0, 2, 1, 3).reshape(batch, seq, heads * d_head)

split = our_split_heads(x, n_heads)
print("split:", x.shape, "->", split.shape, "  merge:", our_merge_heads(split).shape)
print("head 1 of word 0 = dimensions 4..7 of word 0:", np.array_equal(split[0, 1, 0], x[0, 0, 4:8]))
print("equal to the library:", np.array_equal(split, minillm.np.split_heads(x, n_heads))
      and np.array_equal(our_merge_heads(split), minillm.np.merge_heads(split)))
assert np.array_equal(our_merge_heads(split), x)      # merge undoes split
assert np.array_equal(split, minillm.np.split_heads(x, n_heads))

# %% id="8285e191"
def project(name, t):
    # nn.Linear layout: weight (out, in), so y = t W^T + b
    return t @ params[f"{name}.weight"].T + params[f"{name}.bias"]

def our_multi_head_attention(x, mask=None):
    q, k, v = (our_split_heads(project(n, x), n_heads) for n in ("q_proj", "k_proj", "v_proj"))
    heads, weights = scaled_dot_product_attention(q, k, v, mask)    # every head at once
    return project("out_proj", our_merge_heads(heads)), weights

ours, weights = our_multi_head_attention(x)
lib, lib_weights = minillm.np.multi_head_attention(params, x, n_heads=n_heads)
with torch.no_grad():
    twin, _ = mha_torch(torch.tensor(x, dtype=torch.float32))
print("ours equals minillm.np.multi_head_attention:",
      np.allclose(ours, lib) and np.allclose(weights, lib_weights))
print("NumPy equals the PyTorch twin minillm.MultiHeadAttention:",
      np.allclose(lib, twin.numpy(), atol=1e-5))
print("weights:", weights.shape, "= (batch, heads, seq_q, seq_k)")
assert np.allclose(ours, lib) and np.allclose(weights, lib_weights)
assert np.allclose(lib, twin.numpy(), atol=1e-5)

# %% id="3b6ad549"
fig = minillm.viz.plot_heads(
    weights, words, title="Same sentence, same input: each head spreads its attention differently")
plt.show()
favourite = weights[0].argmax(axis=-1)           # (heads, seq): the key each query likes most
differs = [int((favourite[0] != favourite[h]).sum()) for h in range(1, n_heads)]
print("queries whose favourite key differs from head 0's, for heads 1, 2, 3:", differs)
assert min(differs) > 0

# "the" at positions 0 and 4: same vector, so the same row in every head. Attention alone
# does not know where a word stands: the sentence is a bag of vectors.
print("both 'the's attend identically:", np.allclose(weights[0, :, 0], weights[0, :, 4]))
assert np.allclose(weights[0, :, 0], weights[0, :, 4])

# %% [markdown] id="39324381"
# ## 7. The backward pass
#
# To learn $W_Q, W_K, W_V$ we need the gradient of a loss $L$ with respect to $Q$, $K$, $V$. Given
# $dO = \partial L / \partial O$, walk the forward pass $S = s\,QK^\top$ (with $s = 1/\sqrt{d_k}$),
# $A = \operatorname{softmax}(S)$, $O = AV$ backwards, one matrix product at a time:
#
# $$dV = A^\top dO, \qquad dA = dO\,V^\top, \qquad
# dS = A \odot \big(dA - \operatorname{rowsum}(dA \odot A)\big), \qquad
# dQ = s\, dS\, K, \qquad dK = s\, dS^\top Q.$$
#
# The middle formula is the softmax Jacobian $\operatorname{diag}(w) - ww^\top$ from section 3, applied
# row by row without ever building it. A masked entry has $A = 0$, hence $dS = 0$: no gradient flows
# to a key that was not looked at.

# %% id="b5fd5549"
def attention_backward(dout, q, k, v, mask=None):
    scale = 1 / np.sqrt(q.shape[-1])
    _, a = scaled_dot_product_attention(q, k, v, mask)     # a: the attention matrix A
    dv = np.swapaxes(a, -1, -2) @ dout
    da = dout @ np.swapaxes(v, -1, -2)
    ds = a * (da - (da * a).sum(axis=-1, keepdims=True))
    dq = scale * ds @ k
    dk = scale * np.swapaxes(ds, -1, -2) @ q
    return dq, dk, dv

# %% [markdown] id="e44b9d0d"
# The reference is PyTorch's own `torch.nn.functional.scaled_dot_product_attention` (it shares no
# code with minillm) and `torch.autograd`, in float64, with a causal mask. The loss is
# $L = \sum O \odot G$ for a random $G$, so $dO = G$.

# %% id="31041a4f"
q, k, v = (rng.standard_normal((2, 4, 6, 8)) for _ in range(3))   # (batch, heads, seq, d_head)
g = rng.standard_normal((2, 4, 6, 8))
mask = causal_mask(6)

qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
out_t = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=torch.tensor(mask))
(out_t * torch.tensor(g)).sum().backward()

ours = attention_backward(g, q, k, v, mask)
theirs = [t.grad.numpy() for t in (qt, kt, vt)]
library = minillm.np.scaled_dot_product_attention_backward(g, q, k, v, mask)

# %% id="267c1665"
# NBVAL_IGNORE_OUTPUT
# (the exact differences depend on the BLAS library; the bound is asserted)
for name, a, b, c in zip(("dq", "dk", "dv"), ours, theirs, library):
    print(f"{name}: max |ours - torch.autograd| = {np.abs(a - b).max():.1e}, "
          f"max |ours - minillm| = {np.abs(a - c).max():.1e}")
    assert np.abs(a - b).max() < 1e-10 and np.abs(a - c).max() < 1e-10

# %% id="af983b59"
print("dq, dk, dv equal torch.autograd (to 1e-10):",
      all(np.allclose(a, b, rtol=0, atol=1e-10) for a, b in zip(ours, theirs)))
print("... and minillm.np.scaled_dot_product_attention_backward:",
      all(np.allclose(a, c, rtol=0, atol=1e-10) for a, c in zip(ours, library)))
assert all(np.allclose(a, b, rtol=0, atol=1e-10) for a, b in zip(ours, theirs))
assert all(np.allclose(a, c, rtol=0, atol=1e-10) for a, c in zip(ours, library))

# Causal: the last value is seen only by the last query, so only that query sends it gradient.
_, w = scaled_dot_product_attention(q, k, v, mask)
dv = ours[2]
print("gradient of the last value comes from the last query only:",
      np.allclose(dv[..., -1, :], w[..., -1, -1, None] * g[..., -1, :]))
assert np.allclose(dv[..., -1, :], w[..., -1, -1, None] * g[..., -1, :])

# %% [markdown] id="aec93537"
# ## 8. Play with it
#
# The widget recomputes the attention of section 6's layer on *the cat sat on the mat…* and redraws
# one head.
#
# * **temperature** $\tau$ divides the scores once more, $\operatorname{softmax}(QK^\top / (\tau\sqrt{d_k}))$:
#   small $\tau$ sharpens every row towards one-hot (as large $d_k$ did without scaling),
#   large $\tau$ flattens it towards uniform;
# * **causal** hides the future, **padding** pretends the last 3 words are `<pad>`;
# * **head** picks which of the 4 heads is drawn. The title gives the mean entropy of the rows.
#
# (The widget needs a running kernel: run the notebook, then move the sliders.)

# %% id="75bd6f32"
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets
from IPython.display import display

from minillm.np import linear, split_heads, subparams

qkv = [split_heads(linear(subparams(params, name), x), n_heads)
       for name in ("q_proj", "k_proj", "v_proj")]
d_head = d_model // n_heads

def draw(temperature, causal, padding, head):
    mask = np.ones((1, 1, len(words), len(words)), dtype=bool)
    if causal:
        mask = mask & causal_mask(len(words))
    if padding:
        mask = mask & padding_mask(np.arange(len(words))[None] < len(words) - 3)
    _, w = scaled_dot_product_attention(*qkv, mask, scale=1 / (temperature * np.sqrt(d_head)))
    rows = w[0, head]
    entropy = -(rows * np.log(np.where(rows > 0, rows, 1.0))).sum(axis=-1).mean()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    title = f"head {head}, τ = {temperature}: mean row entropy {entropy:.2f} nats"
    minillm.viz.plot_attention(rows, words, ax=ax, annotate=True, title=title)
    plt.show()

wide = {"description_width": "initial"}
controls = {
    # values exact in binary: no float echo from the browser re-running the callback
    "temperature": widgets.SelectionSlider(options=[0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
                                           value=1.0, description="temperature τ", style=wide),
    "causal": widgets.Checkbox(value=False, description="causal mask"),
    "padding": widgets.Checkbox(value=False, description="last 3 = <pad>"),
    "head": widgets.IntSlider(min=0, max=n_heads - 1, value=0, description="head"),
}
boxes = list(controls.values())
display(widgets.VBox([widgets.HBox([widgets.VBox(boxes[:2]), widgets.VBox(boxes[2:])]),
                      widgets.interactive_output(draw, controls)]))

# %% [markdown] id="24bbf23d"
# ## 9. Attention inside a real (tiny) model
#
# Everything above lives inside every layer of a Transformer. minillm's decoder-only language model
# `minillm.DecoderLM` (GPT-style, so its self-attention is causal; chapter 3 builds its layers, and
# `TransformerConfig.tiny(...)` below is just its size: width, layers, heads) returns the attention weights of
# every layer when asked with `need_weights=True`: a list with one `(batch, heads, seq, seq)` tensor
# per layer. Our sentence becomes token ids through a tiny vocabulary: its distinct words.
#
# The model is untrained. With the usual small initial weights (standard deviation 0.02) every
# $q \cdot k$ is tiny, exactly the high-temperature end of the widget: each query spreads its
# attention almost evenly over the keys it may see. We check that, and that the NumPy reference
# `minillm.np.decoder_lm` run on the same weights draws the same maps.

# %% id="3767b06c"
vocab = sorted(set(words))
ids = torch.tensor([[vocab.index(w) for w in words]])          # (batch=1, seq=10)
print(f"vocabulary of {len(vocab)} words:", vocab)
print("ids:", ids.tolist())

torch.manual_seed(0)
cfg = minillm.TransformerConfig.tiny(vocab_size=len(vocab), d_model=32, n_heads=4, n_layers=2,
                                     d_ff=64, max_seq_len=16)
model = minillm.DecoderLM(cfg).eval()
with torch.no_grad():
    _, attentions = model(ids, need_weights=True)
print(len(attentions), "layers, each", tuple(attentions[0].shape), "= (batch, heads, seq, seq)")

seq_len = len(words)
even = np.tril(np.ones((seq_len, seq_len))) / np.arange(1, seq_len + 1)[:, None]  # row i: 1/(i+1)
gap = max(np.abs(a[0].numpy() - even).max() for a in attentions)
print(f"largest gap to 'evenly over the visible keys': {gap:.3f}")
assert gap < 0.05

np_params = {name: t.numpy() for name, t in model.state_dict().items()}
_, np_attentions = minillm.np.decoder_lm(np_params, ids.numpy(), cfg)
print("NumPy reference draws the same maps:",
      all(np.allclose(a.numpy(), b, atol=1e-5) for a, b in zip(attentions, np_attentions)))
assert all(np.allclose(a.numpy(), b, atol=1e-5) for a, b in zip(attentions, np_attentions))

# %% [markdown] id="da5c3f17"
# To give the picture some structure without training, re-draw the weights with standard
# deviation 0.3 instead of 0.02: the scores grow, the softmax sharpens (the low-temperature end of the
# widget), and every head picks favourites of its own, still random, not yet meaningful. Training
# (later chapters) is what turns such patterns into useful ones. First the offline view: one small
# heatmap per layer and head.

# %% id="40345a67"
torch.manual_seed(0)
model.init_weights(std=0.3)
with torch.no_grad():
    _, sharp = model(ids, need_weights=True)
top_small = np.mean([a[0].max(-1).values[:, 3:].mean() for a in attentions])
top_sharp = np.mean([a[0].max(-1).values[:, 3:].mean() for a in sharp])
print(f"mean largest weight of queries 3..9: std 0.02 -> {top_small:.2f}, "
      f"std 0.3 -> {top_sharp:.2f}")
assert top_sharp > 2 * top_small

title = "minillm DecoderLM (random weights, std 0.3): causal, each head its own favourites"
fig = minillm.viz.plot_attention_grid(sharp, words, title=title)
plt.show()

# %% [markdown] id="b2e9e935"
# The same attention in **bertviz**'s interactive views. In the *head view*, hover over a word to see
# where it looks; the colours are the heads of the chosen layer. The *model view* shows every layer
# and head at once; click a cell to enlarge it. bertviz loads its scripts (d3, jQuery) from the
# internet: offline you see a red notice instead, and the grid above shows the same numbers.
# (Untrusted notebooks show no interactive output either: in JupyterLab use *File › Trust Notebook*,
# or re-run the cell.)

# %% id="94494ec7"
from bertviz import head_view, model_view

minillm.viz.show_bertviz(head_view, sharp, words)

# %% id="33d170e6"
minillm.viz.show_bertviz(model_view, sharp, words, display_mode="light")

# %% [markdown] id="d279d073"
# ## 10. Before the Transformer: a recurrent network, measured
#
# Before the Transformer (2017), the usual model of a sequence was a **recurrent neural
# network（循环神经网络）**, an RNN. It reads the tokens one at a time, left to right, and carries
# one vector, its **hidden state（隐藏状态）** $h_t$, which it updates at every step:
#
# $$h_t = \tanh(W_x x_t + W_h h_{t-1} + b), \qquad h_{-1} = 0.$$
#
# Attention itself is older than the Transformer: it was invented *inside* such networks, for
# translation, where an RNN decoder's state queried all the states of an RNN encoder at every
# output word (Bahdanau, Cho and Bengio 2014; Luong, Pham and Manning 2015). What the Transformer
# removed was the recurrence. Two things follow from that one line, and both are what the
# Transformer changed:
#
# * **One step after another.** $h_t$ needs $h_{t-1}$, which needs $h_{t-2}$, and so on: the
#   positions of a sequence cannot be computed at the same time, even in training, where all the
#   tokens are known in advance. Attention computes every position from the inputs at once, in a
#   few matrix products (sections 2 and 6).
# * **The whole past squeezed into one vector.** All the network knows about tokens $0..t$ is
#   $h_t$, whose size is fixed whatever the length. To use a token $D$ steps back it must have
#   carried it through $D$ updates. Attention's query at position $t$ reaches the key of that token
#   directly, in one step.
#
# First the formula in NumPy, checked against PyTorch's own `torch.nn.RNN` with its weights copied
# (PyTorch keeps two bias vectors, `bias_ih` and `bias_hh`; only their sum matters).

# %% id="9f6dcb24"
def rnn_forward(x, W_x, W_h, b):
    # x: (seq, d_in) -> states: (seq, d_hidden). Step t cannot start before step t-1 has ended.
    h = np.zeros(W_h.shape[0])
    states = []
    for x_t in x:
        h = np.tanh(W_x @ x_t + W_h @ h + b)
        states.append(h)
    return np.stack(states)

torch.manual_seed(0)
rnn_torch = torch.nn.RNN(input_size=4, hidden_size=6, batch_first=True).double()  # PyTorch's
p = {name: t.detach().numpy() for name, t in rnn_torch.named_parameters()}
for name, t in p.items():
    print(f"{name:<13} {t.shape}")

x_seq = rng.standard_normal((7, 4))                             # (seq=7, d_in=4)
ours = rnn_forward(x_seq, p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"] + p["bias_hh_l0"])
with torch.no_grad():
    theirs, h_last = rnn_torch(torch.tensor(x_seq)[None])     # batch of 1
print("states:", ours.shape, "= (seq, d_hidden); the last one is all that is left of the past:",
      tuple(h_last.shape), "= (layers, batch, d_hidden)")

# %% id="2c66dec1"
# NBVAL_IGNORE_OUTPUT
# (the exact difference depends on the BLAS library; the bound is asserted)
print(f"max |ours - torch.nn.RNN| = {np.abs(ours - theirs[0].numpy()).max():.1e}")
assert np.abs(ours - theirs[0].numpy()).max() < 1e-12
assert np.allclose(ours[-1], h_last[0, 0].numpy(), rtol=0, atol=1e-12)

# %% [markdown] id="36534cba"
# The whole past of those 7 inputs is now 6 numbers. A plain RNN is hard to train over long
# distances: the gradient that reaches step $t - D$ has passed through $D$ factors of $\tanh'$ and
# $W_h$, and tends to shrink (or blow up) on the way. Practice therefore used gated recurrent
# networks, the **LSTM（长短期记忆网络）** (long short-term memory) and the **GRU（门控循环单元）**
# (gated recurrent unit), whose learned gates decide at every step how much of the state to keep and
# how much to overwrite, so that information (and gradient) can survive longer. They were the
# standard sequence models before the Transformer (with attention on top, from 2014), and they keep
# both properties above.
#
# **A task that needs a long memory.** Sequences of random symbols; at every position $t \ge D$ the
# model must say the symbol it saw $D$ positions back, $x_{t-D}$. The symbols are independent, so
# nothing nearer helps: a model that has not kept $x_{t-D}$ can only guess. Two models of about the
# same size are trained on it in exactly the same way: PyTorch's `torch.nn.GRU` between an embedding
# and an output layer, and a one-layer `minillm.DecoderLM` (causal attention with learned positions,
# section 9). The sequences come from `minillm.tasks.symbol_sequences`, whose `split=` keeps every
# test sequence out of training.

# %% id="993c7146"
from minillm.splits import overlap
from minillm.tasks import sequence_text, symbol_sequences

n_symbols, length, distances, seeds = 8, 40, [2, 8, 16, 32], [0, 1]
steps, batch, lr = 150, 32, 1e-2
train_seqs = {seed: torch.tensor(symbol_sequences(steps * batch, length, n_symbols, seed=seed,
                                                  split="train")) for seed in seeds}
test_seqs = torch.tensor(symbol_sequences(256, length, n_symbols, seed=100, split="test"))
print(f"{n_symbols} symbols, sequences of {length}, distances D = {distances}")
print(f"training: {steps} steps of Adam (learning rate {lr}), batch {batch}, seeds {seeds}")
print(f"test: {len(test_seqs)} sequences; chance accuracy 1/{n_symbols} = {1 / n_symbols:.3f}")

shared = overlap([sequence_text(row) for seqs in train_seqs.values() for row in seqs.numpy()],
                 [sequence_text(row) for row in test_seqs.numpy()])
print("test sequences that also occur in training:", len(shared))
assert not shared

# %% id="45b06277"
class GRUModel(torch.nn.Module):
    # ids (batch, seq) -> (logits (batch, seq, n_symbols), None), the same form as DecoderLM's
    def __init__(self, n_symbols, d_embed=16, d_hidden=48):
        super().__init__()
        self.embed = torch.nn.Embedding(n_symbols, d_embed)
        self.gru = torch.nn.GRU(d_embed, d_hidden, batch_first=True)    # PyTorch's GRU
        self.out = torch.nn.Linear(d_hidden, n_symbols)

    def forward(self, ids):
        states, _ = self.gru(self.embed(ids))          # (batch, seq, d_hidden), step by step
        return self.out(states), None

attention_cfg = minillm.TransformerConfig.tiny(vocab_size=n_symbols, d_model=32, n_heads=2,
                                               n_layers=1, d_ff=64, max_seq_len=length)
makers = {"GRU": lambda: GRUModel(n_symbols), "attention": lambda: minillm.DecoderLM(attention_cfg)}
sizes = {name: sum(t.numel() for t in make().parameters()) for name, make in makers.items()}
for name, size in sizes.items():
    print(f"{name:<10} {size:,} parameters")
assert max(sizes.values()) < 1.05 * min(sizes.values())        # the same size, within 5 %

# %% id="c0f99691"
trained_models = {}   # (make, distance, seed) -> the trained model, to look inside one later

def copy_back_accuracy(make, distance, seed):
    # Train a fresh model to say x[t - distance] at every position t >= distance; test accuracy.
    torch.manual_seed(seed)
    model = make()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        x = train_seqs[seed][step * batch:(step + 1) * batch]
        logits, _ = model(x)
        loss = torch.nn.functional.cross_entropy(logits[:, distance:].reshape(-1, n_symbols),
                                                 x[:, :-distance].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    trained_models[make, distance, seed] = model
    with torch.no_grad():
        logits, _ = model(test_seqs)
    return (logits[:, distance:].argmax(-1) == test_seqs[:, :-distance]).float().mean().item()

threads = torch.get_num_threads()
torch.set_num_threads(1)     # matrices this small gain nothing from being split over threads
accuracy = {name: np.array([[copy_back_accuracy(make, d, seed) for d in distances]
                            for seed in seeds])                 # (seeds, distances)
            for name, make in makers.items()}
torch.set_num_threads(threads)
print("test accuracy, seed 0 / seed 1")
print("distance D " + "".join(f"{d:>12}" for d in distances))
for name, acc in accuracy.items():
    print(f"{name:<10} " + "".join(f"{a0:>7.2f}/{a1:.2f}" for a0, a1 in acc.T))

# %% id="bed59ebb"
gru, att = accuracy["GRU"], accuracy["attention"]
assert att.min() > 0.95                          # attention: right almost always, at every D
assert gru[:, 0].min() > 0.95                    # the GRU too, two steps back
assert gru[:, -1].max() < 2 / n_symbols          # 32 back: the GRU is at chance level
assert (att - gru)[:, distances.index(16):].min() > 0.5   # from D = 16 on, a gap over 0.5
print(f"GRU: {gru[:, 0].min():.2f} at D = {distances[0]} (worse seed), "
      f"{gru[:, -1].max():.2f} at D = {distances[-1]} (better seed; chance {1 / n_symbols:.3f})")
print(f"attention: {att.min():.2f} at every D, both seeds (its lowest result)")

# %% id="fe96e2da"
fig, ax = plt.subplots(figsize=(7, 4))
for (name, acc), marker in zip(accuracy.items(), "os"):
    line, = ax.plot(distances, acc.mean(axis=0), marker + "-", label=f"{name} (mean of 2 seeds)")
    for seed_acc in acc:
        ax.plot(distances, seed_acc, marker, color=line.get_color(), alpha=0.4, ms=4)
ax.axhline(1 / n_symbols, color="k", ls=":", label=f"chance: 1/{n_symbols}")
ax.set_xscale("log", base=2)
ax.set_xticks(distances, [str(d) for d in distances])
ax.set_ylim(0, 1.05)
ax.set_xlabel("distance D (say the symbol D positions back)")
ax.set_ylabel("test accuracy")
ax.set_title(f"Same size, same {steps} steps: "
             "the GRU forgets with distance, attention does not")
ax.legend(fontsize=8)
plt.show()

# %% [markdown] id="att-map-md"
# **A task built for attention.** Be fair to the GRU: this task favours attention by construction.
# The offset $D$ is the same at every position of every sequence, and the attention model learns
# *absolute* positions, so one head only has to learn "look exactly $D$ back", one pattern for every
# query. The GRU, for its part, had 150 steps of training, a small budget for a network whose
# gradient must travel $D$ steps back through its state; how far more training (or a bigger state)
# would take it is not measured here. Below, the trained attention model (seed 0, $D = 8$) reading
# 64 test sequences: from position $D$ on, every query puts its weight on the key $D$ positions
# back, a line parallel to the diagonal (the first $D$ queries have nothing to copy, and no loss).

# %% id="att-map-code"
D = 8
trained = trained_models[makers["attention"], D, 0].eval()
with torch.no_grad():
    _, (att_map,) = trained(test_seqs[:64], need_weights=True)   # 1 layer: (64, heads, seq, seq)
queries = torch.arange(D, length)
on_target = att_map[:, :, queries, queries - D]                    # query t's weight on key t - D
hits = (att_map[:, :, queries].argmax(-1) == queries - D).float()
for h in range(attention_cfg.n_heads):
    print(f"head {h}: mean weight on the key {D} back {on_target[:, h].mean():.2f}, "
          f"its largest weight in {hits[:, h].mean():.0%} of the rows t >= {D}")
assert on_target.mean(dim=(0, 2)).min() > 0.8 and hits.mean() > 0.95

fig, axes = plt.subplots(1, attention_cfg.n_heads, figsize=(10, 4.6))
for h, ax in enumerate(axes):
    ax.imshow(att_map[0, h], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"head {h}")
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
fig.suptitle(f"Trained to say the symbol {D} back: from t = {D} on, query t looks at key t - {D} "
             "(first test sequence)")
fig.tight_layout()
plt.show()

# %% [markdown] id="df2ac420"
# **What makes attention parallel.** Timing is noisy on a shared machine, so we count instead.
# Autograd records every operation of a forward pass, each with the operations whose results it
# needs. The longest chain in that graph is the number of operations that must run **one after
# another**, however many processors there are. We count it for each model on sequences of
# growing length.

# %% id="932f4992"
def sequential_steps(output):
    # The longest chain of operations in autograd's graph that ends at `output`.
    depth, stack = {}, [(output.grad_fn, False)]
    while stack:
        fn, inputs_done = stack.pop()
        parents = [p for p, _ in fn.next_functions if p is not None]
        if inputs_done:
            depth[fn] = 1 + max((depth[p] for p in parents), default=0)
        elif fn not in depth:
            depth[fn] = None                            # visiting: its inputs come first
            stack += [(fn, True)] + [(p, False) for p in parents if p not in depth]
    return depth[output.grad_fn]

torch.manual_seed(0)
depths = {name: [] for name in makers}
seq_lens = [10, 20, 40]
for name, make in makers.items():
    model = make()
    for n in seq_lens:
        logits, _ = model(test_seqs[:1, :n])
        depths[name].append(sequential_steps(logits.sum()))
print("sequence length " + "".join(f"{n:>6}" for n in seq_lens))
for name, d in depths.items():
    print(f"{name:<15} " + "".join(f"{x:>6}" for x in d))
per_token = (depths["GRU"][-1] - depths["GRU"][0]) / (seq_lens[-1] - seq_lens[0])
print(f"GRU: {per_token:.0f} more operations in a row for every extra token; "
      "attention: the same chain whatever the length")
assert len(set(depths["attention"])) == 1
assert np.all(np.diff(depths["GRU"]) / np.diff(seq_lens) == per_token) and per_token >= 1

# %% [markdown] id="636a3a4d"
# That is the first half of the trade. Training the GRU on a sequence of $n$ tokens takes a chain
# of work that grows with $n$; attention's chain does not, so parallel hardware (a GPU) can compute all positions of a
# long sequence at the same time. Generation is the other way round: a Transformer must keep the keys
# and values of every token it has read (the **KV cache** of chapter 7), while the GRU keeps only its
# state. Below, both read the same tokens one at a time, as in generation, and we count the numbers
# each keeps between steps.

# %% id="47c80c65"
from minillm.attention import KVCache

torch.manual_seed(0)
gru_model, att_model = GRUModel(n_symbols), minillm.DecoderLM(attention_cfg)
cache, state = KVCache(attention_cfg.n_layers), None
kept = {"GRU state": [], "attention KV cache": []}
with torch.no_grad():
    for t in range(length):
        token = test_seqs[:1, t:t + 1]                           # (batch=1, 1): the next token
        _, state = gru_model.gru(gru_model.embed(token), state)  # state: (layers, batch, d_hidden)
        att_model(token, cache=cache)
        if t + 1 in seq_lens:
            kept["GRU state"].append(state.numel())
            kept["attention KV cache"].append(sum(k.numel() + v.numel()
                                                  for k, v in zip(cache.keys, cache.values)))
print("tokens read        " + "".join(f"{n:>6}" for n in seq_lens))
for name, counts in kept.items():
    print(f"{name:<18} " + "".join(f"{c:>6}" for c in counts))
assert len(set(kept["GRU state"])) == 1
assert kept["attention KV cache"] == [2 * attention_cfg.n_layers * attention_cfg.d_model * n
                                      for n in seq_lens]

# %% [markdown] id="n2-md"
# **What attention pays for it.** Every attention layer scores every pair of positions: per head an
# $n \times n$ matrix of scores, each a dot product of $d_\text{head}$ numbers. So its time grows
# like $n^2 d$ and, once the weights are stored (as training's backward pass needs them), its
# memory like $n^2$, where the GRU's time and memory grow like $n$ (its work per token,
# about $d_\text{hidden}^2$, does not depend on the length). Measured on the two untrained models,
# made for longer sequences: the attention weights one layer stores, against the states the GRU
# keeps for all positions.

# %% id="n2-code"
long_lens = [256, 512, 1024, 2048]
torch.manual_seed(0)
long_cfg = minillm.TransformerConfig.tiny(vocab_size=n_symbols, d_model=32, n_heads=2,
                                          n_layers=1, d_ff=64, max_seq_len=long_lens[-1])
long_att, long_gru = minillm.DecoderLM(long_cfg).eval(), GRUModel(n_symbols)
stored = {"attention weights, 1 layer": [], "GRU states": []}
with torch.no_grad():
    for n in long_lens:
        tokens = torch.zeros(1, n, dtype=torch.long)
        _, (weights_n,) = long_att(tokens, need_weights=True)   # (1, heads, n, n)
        states_n, _ = long_gru.gru(long_gru.embed(tokens))      # (1, n, d_hidden)
        stored["attention weights, 1 layer"].append(weights_n.numel() * weights_n.element_size())
        stored["GRU states"].append(states_n.numel() * states_n.element_size())
print("sequence length            " + "".join(f"{n:>9}" for n in long_lens))
for name, sizes_n in stored.items():
    print(f"{name:<26} " + "".join(f"{b / 2**20:>6.2f} MB" for b in sizes_n))
growth = {name: np.array(b[1:]) / np.array(b[:-1]) for name, b in stored.items()}
print("each doubling of the length multiplies them by",
      ", ".join(f"{name}: {g.mean():.0f}" for name, g in growth.items()))
assert np.all(growth["attention weights, 1 layer"] == 4) and np.all(growth["GRU states"] == 2)

# %% [markdown] id="13852980"
# **Why Transformers replaced RNNs**, in this section's numbers: training is parallel over positions
# (the chain of operations does not grow with the length), and any two positions are one attention
# step apart, where the GRU must carry a symbol through $D$ updates of one small vector. (At short
# distances the GRU did as well; the gap opened with distance, at the same size and the same number
# of training steps, on a task that favours attention.) **What attention costs** is an $n \times n$ score matrix in every head of
# every layer: stored weights that grew fourfold each time the sequence doubled, against twofold
# for the GRU, and $n^2$ dot products to compute them. (Fused kernels such as FlashAttention avoid
# storing the weights, but still compute all $n^2$ scores; this course does not build them.)
# **What RNNs keep** is a constant memory per generated token, where the KV cache grows with every
# token read. That is one motivation of recent recurrent designs, state-space models
# such as Mamba, and RWKV: a fixed-size state for generation, built so that training can still run in
# parallel over positions. This course does not build them, so it makes no measured claim about
# them.

# %% [markdown] id="08a72982"
# ## 11. Exercises
#
# Replace each `...` with your answer and run the cell: a ✅ means the checker agrees, a ❌ comes with
# a hint. Solutions are in `solutions.py` next to this notebook; try first!

# %% id="72e389f7"
from minillm.exercises.attention import (
    check_attention,
    check_combined_mask,
    check_scale,
    check_scores_grad,
)

# %% [markdown] id="a5eefca3"
# **Exercise 1 — attention from scratch.** Write `my_attention(q, k, v, mask=None)` returning
# `(out, weights)` exactly like `minillm.np.scaled_dot_product_attention`: scaled scores, masked
# scores set to `-np.inf` where the mask is False, softmax over the keys, weighted sum of values.
# You may use `softmax` (imported from `minillm.np` above).

# %% id="890e0a63"
def my_attention(q, k, v, mask=None):
    ...  # your code here


check_attention(my_attention)

# %% [markdown] id="660ff5c5"
# **Exercise 2 — a decoder over a padded batch.** Write `combined_mask(is_token)` that takes
# `is_token` of shape `(batch, seq)` (True = real token) and returns the boolean mask a decoder needs
# (True = may attend), broadcastable to `(batch, heads, seq, seq)`.

# %% id="f9038d55"
def combined_mask(is_token):
    ...  # your code here


check_combined_mask(combined_mask)

# %% [markdown] id="27e2f427"
# **Exercise 3 — the scale, per head.** A model of width $d_\text{model} = 768$ has 12 heads (the
# size of GPT-2 small). Inside each head, the entries of the queries and keys have mean 0 and
# variance 1. By which number must a head's scores $q \cdot k$ be multiplied so that their variance
# is 1? (Think about how many terms one head's dot product sums; `np.sqrt` is allowed.)

# %% id="3c92e714"
scale = ...  # a number

check_scale(scale)

# %% [markdown] id="f32ff789"
# **Exercise 4 — through the log of a softmax.** A language model's loss reads the *log* of its
# softmax weights: for the right next token $y$, $L = -\log a_y$ (chapter 3). Given `weights`
# $= \operatorname{softmax}(S)$ over the last axis and `dlog` $= \partial L / \partial \log A$ of the
# same shape, return $\partial L / \partial S$. No new formula is needed, only section 7's softmax
# backward and the chain rule through $\log$. Then predict: what is $\partial L / \partial S$ when
# `dlog` is $-1$ at $y$ and $0$ elsewhere?

# %% id="10c76ba2"
def scores_grad(weights, dlog):
    ...  # your code here


check_scores_grad(scores_grad)

# %% [markdown] id="673b3b0e"
# ## Summary
#
# | idea | where it lives in minillm |
# |---|---|
# | softmax that survives a fully masked row | `minillm.np.softmax` / `minillm.functional.softmax` |
# | $\operatorname{softmax}(QK^\top/\sqrt{d_k})V$, masks (True = may attend) | `minillm.np.scaled_dot_product_attention`, `causal_mask`, `padding_mask` |
# | its backward pass | `minillm.np.scaled_dot_product_attention_backward` |
# | heads: split, attend, merge, project | `minillm.np.multi_head_attention` ⇄ `minillm.MultiHeadAttention` |
# | a recurrent baseline: one state, updated one token at a time | PyTorch's `torch.nn.RNN`, `torch.nn.GRU`; the task's data: `minillm.tasks.symbol_sequences` |
# | pictures | `minillm.viz.plot_attention`, `plot_heads`, `plot_attention_grid`, `show_bertviz` |
#
# Next: where the vectors $X$ come from (tokens and embeddings), and how a Transformer knows the
# *order* of its words: attention without a mask, as you saw, treats a sentence as a bag of vectors.
# (A causal mask already breaks that symmetry — each position sees a different number of tokens —
# and causal models without any positional encoding do learn positions from it; but every model in
# this course, like most LLMs, is given positions explicitly.)
