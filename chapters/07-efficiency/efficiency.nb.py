# Text form of efficiency.ipynb: its cells without their outputs, for reading and diffs.
# Written by `python -m minillm.text_forms`; edit the notebook, not this file.

# %% [markdown] id="47a098aa"
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minillm-course/minillm/blob/main/chapters/07-efficiency/efficiency.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/minillm-course/minillm/main?urlpath=lab/tree/chapters/07-efficiency/efficiency.ipynb)
#
# # Chapter 7 · Efficiency and compression（模型压缩与效率）
#
# *大语言模型原理基础与前沿 — an executable course on how large language models work.*
#
# A trained language model is a pile of float32 numbers and a recipe of matrix multiplications.
# Serving it costs memory (the weights, and the KV cache that grows with every generated token) and
# arithmetic (about $2N$ FLOPs per token for $N$ weights). This chapter takes chapter 4's pretrained
# GPT (`minillm.pretrained.load_pydoc_gpt`) and makes it cheaper in three ways, measuring what each
# costs in quality; then it counts what a token costs, spreads training over two processes, and
# asks what a bigger model buys:
#
# 1. **Quantization（量化）**: store weights as int8 or int4 instead of float32.
# 2. **Pruning（剪枝）**: zero the smallest weights, or mask whole attention heads.
# 3. **Knowledge distillation（知识蒸馏）**: train a small student on the teacher's soft targets.
# 4. **The KV cache and FLOPs per token**: the memory formula and the $2N$ / $6N$ rules, checked
#    against measured tensors and counted FLOPs.
# 5. **Data parallelism（数据并行）** and **tensor parallelism（张量并行）**: PyTorch's
#    DistributedDataParallel on two processes gives the weights one process gets, and one layer
#    split across two processes gives one process's output and gradients.
# 6. **Scaling laws**: a sweep of five model sizes, loss against parameters and compute,
#    measured small.
#
# Every number below is computed by a cell, and the important ones are asserted.

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

# %% id="6a70f193"
# %matplotlib inline
import sys
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from minillm import DecoderLM, TransformerConfig, scaling
from minillm.attention import KVCache
from minillm.data import causal_lm_batches, concat_ids, eval_windows, pydoc_corpus, split_documents
from minillm.distill import distillation_loss, distillation_objective
from minillm.objectives import causal_lm_loss
from minillm.pretrained import load_pydoc_gpt
from minillm.prune import head_importance, magnitude_prune, masked_heads
from minillm.quantize import (
    QuantizedLinear,
    dequantize,
    model_nbytes,
    quantize_model,
    quantize_per_channel,
)
from minillm.train import TrainConfig, batches_by_step, evaluate, pick_device, train

torch.manual_seed(0)
device = pick_device("auto")
gpt, tokenizer = load_pydoc_gpt()
gpt = gpt.to(device)
print(f"device: {device}; the pydoc GPT: {sum(p.numel() for p in gpt.parameters()):,} parameters, "
      f"{gpt.cfg.n_layers} layers, {gpt.cfg.n_heads} heads, d_model {gpt.cfg.d_model}")

# %% [markdown] id="9eb38aad"
# Quality is measured as in chapter 4 (and `tests/test_pretrained_checkpoint.py`): the validation
# help topics, encoded and joined with `</s>`, cut into windows of 64 tokens; the loss is the mean
# next-token cross-entropy, and perplexity（困惑度）is $e^{\text{loss}}$. To keep the chapter fast we
# score the first 4 batches of 32 windows (8,192 tokens) everywhere.

# %% id="dbfd84fe"
train_docs, valid_docs = split_documents(pydoc_corpus(), valid_fraction=0.1, seed=0)
sep = tokenizer.special_tokens["</s>"]
valid_ids = concat_ids(valid_docs, tokenizer.encode, sep)
train_ids = concat_ids(train_docs, tokenizer.encode, sep)
valid_batches = eval_windows(valid_ids, 64, 32)[:4]


def perplexity(model):
    return float(np.exp(evaluate(model, causal_lm_loss, valid_batches)))


base_ppl = perplexity(gpt)
print(f"the float32 GPT: perplexity {base_ppl:.2f} on {sum(x.numel() for x, _ in valid_batches):,} "
      "validation tokens")

# %% [markdown] id="4c2a7ad1"
# ## 1. Post-training quantization: int8 and int4 weights
#
# A float32 weight takes 4 bytes. **Per-channel** quantization gives each output row $w$ of a
# Linear layer its own scale and stores small integers:
#
# $$s = \frac{\max_j |w_j|}{q_\max},\qquad q_j = \operatorname{round}(w_j / s) \in [-q_\max, q_\max],
# \qquad \hat w_j = q_j\, s,$$
#
# with $q_\max = 127$ for int8 and $7$ for int4. The grid is symmetric around 0, so int4 uses the
# 15 levels $-7 \dots 7$ and leaves its 16th code ($-8$) unused (int8: 255 of 256). The rounding
# error is at most $s/2$ per weight. One scale per row (not per matrix) matters: a single large
# weight elsewhere in the matrix would otherwise make the step $s$ coarse for every row.
# `minillm.quantize` does this; here it is by hand on one row, checked against the library, and
# then compared with one scale for the whole matrix.

# %% id="315ade21"
w = gpt.layers[0].ff.up.weight.detach().cpu()
row = w[0]
s = row.abs().max() / 127
q = torch.clamp(torch.round(row / s), -127, 127)
lib_q, lib_s = quantize_per_channel(w, bits=8)
assert torch.equal(q.to(torch.int8), lib_q[0]) and torch.isclose(s, lib_s[0, 0])
err = (q * s - row).abs().max()
print(f"row 0 of layers.0.ff.up: scale {s:.5f}, max |w - ŵ| = {err:.5f} ≤ s/2 = {s / 2:.5f}")
assert err <= s / 2 + 1e-7

# int4 on the whole matrix: one scale per row, or one scale for the matrix (per tensor)
per_row = float((dequantize(*quantize_per_channel(w, bits=4)) - w).abs().mean())
s_tensor = w.abs().max() / 7
per_tensor = float((torch.clamp(torch.round(w / s_tensor), -7, 7) * s_tensor - w).abs().mean())
print(f"int4, all of layers.0.ff.up: mean |w - ŵ| = {per_row:.5f} with a scale per row, "
      f"{per_tensor:.5f} with one scale for the matrix ({per_tensor / per_row:.2f}x)")
assert per_row < per_tensor

# %% [markdown] id="53e61046"
# `quantize_model(model, bits)` swaps every Linear (attention projections, feed-forward, the output
# head) for a `QuantizedLinear` that keeps the integers and the scales. The embedding table and the
# norm gains stay float32. Size is counted in bytes, int4 numbers counted as if packed two per byte
# (the library keeps them one per `int8` for simplicity), plus one float32 scale per row. Cost is
# counted, not timed: `forward_flops` counts, with PyTorch's `FlopCounterMode` (more on it in §4),
# the FLOPs of the matrix products that one forward pass runs, per token. A stopwatch would say less
# here: on the shared 2-core machine that runs this notebook, the time to score a model this small
# changes from run to run, and it measures Python's own overhead as much as arithmetic.

# %% id="6430976f"
def forward_flops(model):
    # FLOPs per token of one forward pass on 4 validation windows, as PyTorch counts them
    # (need_weights=True: attention runs as matrix products the counter sees, §4)
    x = valid_batches[0][0][:4].to(device)
    with FlopCounterMode(display=False) as count, torch.no_grad():
        model(x, need_weights=True)
    return count.get_total_flops() / x.numel()


quantized = {"float32": gpt, "int8": quantize_model(gpt, 8), "int4": quantize_model(gpt, 4)}
rows = {}
for name, model in quantized.items():
    rows[name] = {"bytes": model_nbytes(model), "ppl": perplexity(model),
                  "flops": forward_flops(model)}

# %% id="03c408d4"
base = rows["float32"]
print(f"{'weights':<10}{'size (bytes)':>14}{'size ratio':>12}{'FLOPs/token':>13}{'perplexity':>12}")
for name, r in rows.items():
    print(f"{name:<10}{r['bytes']:>14,}{base['bytes'] / r['bytes']:>11.2f}x"
          f"{r['flops']:>13,.0f}{r['ppl']:>12.2f}")
assert rows["int8"]["flops"] == rows["int4"]["flops"] == base["flops"]   # the same products

# %% id="80b9755f"
ratio8 = rows["float32"]["bytes"] / rows["int8"]["bytes"]
ratio4 = rows["float32"]["bytes"] / rows["int4"]["bytes"]
delta8 = rows["int8"]["ppl"] - base_ppl
delta4 = rows["int4"]["ppl"] - base_ppl
linear_params = sum(m.weight.numel() for m in gpt.modules() if isinstance(m, torch.nn.Linear))
all_params = sum(p.numel() for p in gpt.parameters())
print(f"Linear weights: {linear_params:,} of {all_params:,} parameters")
linear_f32 = sum(p.numel() * 4 for m in gpt.modules() if isinstance(m, torch.nn.Linear)
                 for p in m.parameters())
linear_shrink = {name: linear_f32 / sum(m.nbytes() for m in quantized[name].modules()
                                        if isinstance(m, QuantizedLinear))
                 for name in ("int8", "int4")}
print(f"the Linear layers alone: {linear_shrink['int8']:.2f}x smaller in int8, "
      f"{linear_shrink['int4']:.2f}x in int4 (integers + one float32 scale per row)")
print(f"int8: {ratio8:.2f}x smaller, perplexity {rows['int8']['ppl']:.2f} ({delta8:+.3f})")
print(f"int4: {ratio4:.2f}x smaller, perplexity {rows['int4']['ppl']:.2f} ({delta4:+.3f})")
assert ratio8 > 2 and ratio4 > ratio8            # the float32 embedding table limits the ratio
assert 3.5 < linear_shrink["int8"] < 4 and 6.5 < linear_shrink["int4"] < 8
assert abs(delta8) < 0.05 * base_ppl             # int8: within 5% of the float model
assert delta4 > delta8 and delta4 < 0.25 * base_ppl

# %% [markdown] id="95470be6"
# int8 costs almost nothing; int4 (only 15 levels per row) costs more. The Linear layers shrink
# 3.78× and 7.18× (printed above; a little less than 32/8 and 32/4, because each row also keeps
# a float32 scale); the whole model shrinks less because the token-embedding table stays float32
# here. Arithmetic: this `QuantizedLinear` is *weight-only* quantization — it turns the integers back
# into floats before multiplying, so it saves memory but not arithmetic (the FLOPs column is the
# same for all three; ours even writes a float32 copy of the weights on every call, so it cannot be
# faster). On a big model, whose generation speed is limited
# by reading weights from memory, quantization speeds things up only with kernels that read the
# integers and dequantize inside the matrix product (weight-only int8/int4 kernels, such as
# bitsandbytes' or Marlin's); real int8 kernels multiply the integers directly. And the integers
# need not come from rounding to the nearest level, as here: **GPTQ** (Frantar et al., 2023) and
# **AWQ** (Lin et al., 2024) are quantization *algorithms* that use a small calibration set of
# inputs to choose the integers (GPTQ corrects each rounding error with the remaining weights of
# the row; AWQ rescales the channels that meet large activations first). They, more than
# round-to-nearest, are how int4 is made usable on large models; LLM.int8() (Dettmers et al., 2022)
# keeps the few outlier activation channels in 16 bits.
#
# The picture shows one weight row, row 0 of `layers.0.ff.up`, before and after int4
# quantization, and the error it makes. With a running kernel, the sliders below it redraw it for
# any Linear layer, row and bit width.

# %% id="2ee16531"
def draw_quantized_row(layer, bits, row):
    weight = gpt.get_submodule(layer).weight.detach().cpu()
    q, scale = quantize_per_channel(weight, bits)
    original, restored = weight[row].numpy(), dequantize(q, scale)[row].numpy()
    order = np.argsort(original)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.plot(original[order], ".", ms=3, label="float32 weight")
    ax.step(range(len(order)), restored[order], where="mid", lw=1, label=f"int{bits} ŵ = q·s")
    ax.set_xlabel("weights of the row, sorted")
    ax.set_ylabel("value")
    rel = np.abs(restored - original).mean() / np.abs(original).mean()
    ax.set_title(f"{layer} row {row}: {2 ** bits - 1} levels, mean |error| = {rel:.1%} of mean |w|")
    ax.legend(loc="upper left")
    plt.show()


draw_quantized_row("layers.0.ff.up", bits=4, row=0)

# %% id="quant-widget"
# NBVAL_IGNORE_OUTPUT
# (the line above tells the course's tests not to compare this cell's output: a widget's state
# is not text that a fresh run reproduces)
import ipywidgets as widgets

linear_names = [n for n, m in gpt.named_modules() if isinstance(m, torch.nn.Linear)]


def rows_of(layer):
    return gpt.get_submodule(layer).weight.shape[0]


quant_controls = {
    "layer": widgets.Dropdown(options=linear_names, value="layers.0.ff.up", description="layer"),
    "bits": widgets.IntSlider(value=4, min=2, max=8, description="bits", continuous_update=False),
    "row": widgets.IntSlider(value=0, min=0, max=rows_of("layers.0.ff.up") - 1, description="row",
                             continuous_update=False),
}


def fit_row_slider(change):
    # every layer has its own number of rows: ff.up has d_ff, lm_head one per vocabulary token
    quant_controls["row"].max = rows_of(change["new"]) - 1


quant_controls["layer"].observe(fit_row_slider, names="value")
display(widgets.VBox([widgets.HBox(list(quant_controls.values())),
                      widgets.interactive_output(draw_quantized_row, quant_controls)]))

# %% [markdown] id="49df4d80"
# ## 2. Pruning: unstructured weights and structured heads
#
# **Magnitude pruning** sets the fraction $p$ of each weight matrix's entries with the smallest
# $|w|$ to zero (no retraining here). Sparse weights only save memory or time with sparse storage
# or kernels, so what we measure is the price in quality.

# %% id="3d25d176"
sparsities = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7]
prune_ppl = [perplexity(magnitude_prune(gpt, p)) for p in sparsities]
for p, ppl in zip(sparsities, prune_ppl):
    print(f"sparsity {p:.0%}: perplexity {ppl:.2f}")
assert prune_ppl[1] < 1.05 * base_ppl              # 10% of the weights are nearly free
assert all(a <= b for a, b in zip(prune_ppl, prune_ppl[1:]))
assert prune_ppl[-1] > 2 * base_ppl                # 70% without retraining breaks the model

# %% [markdown] id="e70cde87"
# **Structured pruning** removes whole units — here attention heads. How much does the model need
# head $h$ of layer $\ell$? Mask it and measure: importance $= \text{loss}(\text{head masked}) -
# \text{loss}$, the quantity that Michel et al. (2019, "Are Sixteen Heads Really Better than One?")
# estimate with a gradient to decide which heads to remove. `masked_heads` zeroes the head's slice of `out_proj`'s input
# (columns $h\,d_\text{head}$ to $(h+1)\,d_\text{head}$ of the merged heads) with a forward
# pre-hook, so the model's code is untouched. The heads are only *masked*: the model keeps every
# weight and does every product, so this section measures what losing heads costs in quality, not
# what it saves. Deleting a head for real would remove its rows of $W_q, W_k, W_v$ and its columns
# of $W_o$, $4\,d_\text{model}\,d_\text{head}$ weights; we do not build that smaller model here.
#
# The ranking is chosen on 4 batches of *training* text (a **calibration set**), not on the
# validation batches: the pruning curves below are scored on those, and a ranking chosen on the data
# it is scored on would flatter it. The price is noise: 4 batches are a small sample, and the
# differences between the cheapest heads are small. So the next cell also measures the same score on
# the validation batches, to show how much of the calibration ranking carries over.

# %% id="6babac68"
def valid_loss(model):
    return evaluate(model, causal_lm_loss, valid_batches)


_measured = {}


def masked_valid_loss(removed):
    # validation loss with the heads in `removed` masked; each set of heads is measured once
    key = frozenset(removed)
    if key not in _measured:
        with masked_heads(gpt, sorted(key)):
            _measured[key] = valid_loss(gpt)
    return _measured[key]


calibration_batches = eval_windows(train_ids, 64, 32)[:4]      # training text, not validation
importance = head_importance(gpt, lambda m: evaluate(m, causal_lm_loss, calibration_batches))
heads = sorted(importance, key=importance.get)          # least important first
on_valid = {head: masked_valid_loss([head]) - masked_valid_loss([]) for head in heads}
valid_rank = {head: rank for rank, head in enumerate(sorted(heads, key=on_valid.get), 1)}
print("loss increase when one head is masked, ranked on calibration text:")
print(f"{'rank':>4}  {'layer, head':>11}  {'calibration':>11}  {'validation':>10}  validation rank")
for rank, head in enumerate(heads, 1):
    print(f"{rank:>4}  {head[0]:>8}, {head[1]}  {importance[head]:>+11.3f}  "
          f"{on_valid[head]:>+10.3f}  {valid_rank[head]:>15}")
agreement = np.corrcoef(range(1, len(heads) + 1), [valid_rank[h] for h in heads])[0, 1]
print(f"rank correlation of the two orders: {agreement:.2f}; calibration's cheapest head is "
      f"number {valid_rank[heads[0]]} of {len(heads)} on validation text")

# %% id="420a5646"
def ppl_removing(order):
    # perplexity after masking the first 0, 1, ..., all-but-one heads of `order`
    return [float(np.exp(masked_valid_loss(order[:k]))) for k in range(len(order))]


RANDOM_ORDERS = 5
by_importance = ppl_removing(heads)
rng = np.random.default_rng(0)
at_random_all = np.array([ppl_removing([heads[i] for i in rng.permutation(len(heads))])
                          for _ in range(RANDOM_ORDERS)])
at_random = at_random_all.mean(axis=0)
print(f"validation perplexity with k heads masked (none masked: {by_importance[0]:.2f})")
print(f"{'k':>2}  {'calibration order':>17}  random order: mean of {RANDOM_ORDERS} (min to max)")
for k in range(1, len(heads)):
    print(f"{k:>2}  {by_importance[k]:>17.2f}  {at_random[k]:.2f} ({at_random_all[:, k].min():.2f} "
          f"to {at_random_all[:, k].max():.2f})")
n = len(heads) // 2
assert by_importance[n] < at_random[n]
assert by_importance[1] > at_random[1] and by_importance[2] > at_random[2]   # not for 1 or 2
assert all(by_importance[k] < at_random_all[:, k].min() for k in range(3, len(heads) - 1))

# %% id="f69de12c"
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
ax1.plot([p * 100 for p in sparsities], prune_ppl, "o-")
ax1.axhline(base_ppl, color="gray", ls=":", label="unpruned")
ax1.set_xlabel("weights pruned by magnitude (%)")
ax1.set_ylabel("perplexity")
ax1.set_yscale("log")
ax1.set_title("Unstructured pruning: free at first, then a cliff")
ax1.legend()
ax2.plot(by_importance, "o-", label="least important first (calibration text)")
ax2.plot(at_random, "s--", label=f"random order (mean of {RANDOM_ORDERS})")
ax2.fill_between(range(len(heads)), at_random_all.min(axis=0), at_random_all.max(axis=0),
                 color="C1", alpha=0.15, label="random orders: min to max")
ax2.set_xlabel("attention heads masked")
ax2.set_ylabel("validation perplexity")
ax2.set_title("Head pruning: the calibration score pays off\nonce several heads go")
ax2.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown] id="heads-words"
# What the table and the figure show: the calibration score pays off only once several heads go.
# With one or two heads masked, the calibration order is worse than the average random order
# (44.36 and 45.94 against 42.98 and 45.17): its first pick, layer 0 head 0, is the cheapest head on
# calibration text but number 6 of 8 on validation text, and the cheapest head on validation text,
# layer 0 head 1, is calibration's number 3. The calibration differences between the cheapest heads
# (+0.111, +0.127, +0.135) are smaller than the changes from calibration to validation text, so 4
# batches cannot order them; the two orders agree only loosely (rank correlation 0.60). What the
# score does get right is which heads matter most — layer 1's heads 2 and 0 come last in both
# orders — and from three heads masked on, the calibration order beats all five random orders.

# %% [markdown] id="f93f4ccc"
# ## 3. Knowledge distillation
#
# A student with far fewer weights learns from the teacher's whole next-token distribution, softened
# by a temperature $T$, instead of from the one correct token alone:
#
# $$\mathcal{L} = \alpha\, T^2\, \mathrm{KL}\big(\mathrm{softmax}(z_t/T)\,\|\,\mathrm{softmax}(z_s/T)\big)
# + (1-\alpha)\,\mathrm{CE}(z_s, y).$$
#
# At each position, $z_t$ and $z_s$ are the teacher's and the student's logits (one number per
# vocabulary token), $y$ is the token that actually comes next, $T$ is the temperature (above 1 it
# flattens both distributions) and $\alpha$ weighs the soft targets against the label.
#
# The soft targets say which wrong tokens are *almost* right — far more signal per example than a
# one-hot label. (The $T^2$ keeps the gradient's size roughly independent of $T$: the soft targets' gradient
# shrinks like $1/T^2$ when $T$ is large.) The KL is the *forward* one, teacher ‖ student: the student
# pays wherever the teacher puts probability and it does not, so it learns to cover all of the
# teacher's likely tokens (mass-covering). For generating text, MiniLLM (Gu et al., 2024) argues
# for the reverse KL, student ‖ teacher, which lets a small student concentrate on the teacher's
# main modes instead of spreading thin. A first check: the loss is zero when the student equals
# the teacher.

# %% id="a5acfd5b"
logits = torch.randn(2, 5, 10, generator=torch.Generator().manual_seed(0))
print(f"KD loss to itself: {float(distillation_loss(logits, logits)):.4f}; "
      f"to other logits: {float(distillation_loss(logits, logits.flip(0))):.3f}")
assert float(distillation_loss(logits, logits)) < 1e-6

# %% [markdown] id="2d0b5b73"
# The student: one layer, $d_\text{model}=32$. It is trained twice with the same seed, steps and
# batches — once on the labels alone ($\alpha=0$), once with the teacher ($\alpha=0.9$, $T=2$) —
# with the course's training loop. We picked $\alpha$ and $T$ and did not tune them: no other values
# were tried. The comparison is per step, not per FLOP: the distilled run also runs the teacher
# forward on every batch, and the cell after next prints what that adds.

# %% id="eb0df630"
student_cfg = TransformerConfig.llama_like(vocab_size=tokenizer.vocab_size, d_model=32, n_heads=2,
                                           n_layers=1, d_ff=86, max_seq_len=64)
kd_cfg = TrainConfig(steps=150, batch_size=16, lr=5e-3, warmup_steps=10, eval_every=150, seed=0,
                     device=str(device))
students = {}
for label, alpha, objective in [("labels only", 0.0, "cross-entropy on the labels"),
                                ("distilled", 0.9, "0.9 x T^2 x KL to the teacher + 0.1 x "
                                                   "cross-entropy")]:
    torch.manual_seed(0)
    students[label] = DecoderLM(student_cfg)
    history = train(students[label], distillation_objective(gpt, temperature=2.0, alpha=alpha),
                    batches_by_step(lambda: causal_lm_batches(train_ids, 64, 16, seed=0)), kd_cfg,
                    progress=False)
    print(f"{label:>12}: {len(history['loss'])} steps, last training loss "
          f"{history['loss'][-1]:.3f} ({objective})")

# %% id="8b760d11"
student_ppl = {label: perplexity(model) for label, model in students.items()}
student_params = sum(p.numel() for p in students["distilled"].parameters())
teacher_params = sum(p.numel() for p in gpt.parameters())
print(f"student: {student_params:,} parameters ({student_params / teacher_params:.0%} of the "
      "teacher's)")
for label, ppl in student_ppl.items():
    print(f"{label:>12}: perplexity {ppl:.1f}")
print(f"teacher: perplexity {base_ppl:.2f}")
assert student_ppl["distilled"] < 0.95 * student_ppl["labels only"]

# what a training step costs per token, by the 2N / 6N rules of §4 (N outside the embeddings)
n_student = scaling.non_embedding_parameters(students["distilled"])
n_teacher = scaling.non_embedding_parameters(gpt)
labels_cost, distilled_cost = 6 * n_student, 6 * n_student + 2 * n_teacher
print(f"FLOPs per training token: labels only 6 x {n_student:,} = {labels_cost:,}; distilled "
      f"also runs the teacher forward, + 2 x {n_teacher:,} = {distilled_cost:,} "
      f"({distilled_cost / labels_cost:.1f}x as much)")

# %% [markdown] id="51331179"
# ## 4. The KV cache and FLOPs per token
#
# Generating with a KV cache keeps, for every layer, the keys and the values of every token read so
# far: two tensors of shape (batch, heads, seq, d_head). In bytes:
#
# $$\text{KV bytes} = 2 \times n_\text{layers} \times n_\text{heads} \times d_\text{head} \times
# \text{seq} \times \text{batch} \times \text{bytes per number}.$$
#
# Fill a `KVCache` by feeding a prompt and then single tokens, and compare.

# %% id="421daabb"
cfg = gpt.cfg
batch, prompt_len, new_tokens = 3, 20, 30
cache = KVCache(cfg.n_layers)
ids = torch.randint(cfg.vocab_size, (batch, prompt_len), generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    logits, _ = gpt(ids.to(device), cache=cache)
    for _ in range(new_tokens):
        logits, _ = gpt(logits[:, -1:].argmax(-1), cache=cache)
seq = cache.seq_len()
measured = sum(t.numel() * t.element_size() for t in cache.keys + cache.values)
formula = 2 * cfg.n_layers * cfg.n_heads * cfg.d_head * seq * batch * 4
print(f"seq {seq}, batch {batch}: measured {measured:,} bytes, formula {formula:,} bytes")
assert measured == formula

# %% [markdown] id="gqa-md"
# **Grouped-query attention** (GQA) shrinks this cache at its source: groups of query
# heads share one key head and one value head, so the cache keeps $n_\text{kv heads}$ heads instead
# of $n_\text{heads}$ ($n_\text{kv heads} = 1$ is multi-query attention). Llama 2 70B and SmolLM2
# (chapter 8 prints its shape) use it. The course's attention takes `n_kv_heads`; the same
# generation with one shared key/value head, in a model with the same $d_\text{model}$, layers and
# query heads (its key and value projections shrink to one head's width; the model is untrained: we
# measure memory here, and what sharing costs in quality needs a training run):

# %% id="gqa-cache"
gqa_cfg = cfg.replace(n_kv_heads=1)
torch.manual_seed(0)
gqa_model = DecoderLM(gqa_cfg).to(device).eval()
gqa_cache = KVCache(cfg.n_layers)
with torch.no_grad():
    logits, _ = gqa_model(ids.to(device), cache=gqa_cache)
    for _ in range(new_tokens):
        logits, _ = gqa_model(logits[:, -1:].argmax(-1), cache=gqa_cache)
gqa_measured = sum(t.numel() * t.element_size() for t in gqa_cache.keys + gqa_cache.values)
gqa_formula = 2 * cfg.n_layers * gqa_cfg.kv_heads * cfg.d_head * seq * batch * 4
print(f"{cfg.n_heads} query heads sharing {gqa_cfg.kv_heads} key/value head: "
      f"{gqa_measured:,} bytes (formula {gqa_formula:,}), {measured / gqa_measured:.0f}x less "
      f"than {measured:,}")
assert gqa_measured == gqa_formula == measured // cfg.n_heads

# %% [markdown] id="a4bb4766"
# Each weight of a matrix product is used once per token in a multiply and an add: a forward pass
# costs about $2N$ FLOPs per token, where $N$ = `scaling.non_embedding_parameters` counts every
# weight outside the embedding table (which is only looked up). That $N$ also holds the norm
# gains, which multiply elementwise and do no matrix product; they are few, and the cell below
# counts them separately. Backward costs twice the forward: for every product $Y = XW$ it
# computes two products of the same size, $\partial L/\partial X = \partial L/\partial Y\, W^\top$ (to
# pass the gradient on) and $\partial L/\partial W = X^\top \partial L/\partial Y$ (for the update), so
# training costs about $6N$. Attention's own products add
# $4\, n_\text{layers}\, \text{seq}\, d_\text{model}$ per token: in each layer a query takes a
# dot product of width $d_\text{model}$ (all heads together) with each of the seq keys for
# $QK^\top$, $2\,\text{seq}\,d_\text{model}$ FLOPs, and as many again for $AV$. PyTorch's `FlopCounterMode` counts
# the FLOPs of every matrix product that actually runs, for the operations it has a formula for. We
# ask for the attention weights, so attention runs as explicit matrix products the counter sees.
# Without them, the model calls PyTorch's fused `scaled_dot_product_attention`: on a GPU the counter
# counts its flash and memory-efficient kernels too, but on a CPU it has no formula for the kernel
# that runs and counts nothing for attention (the last line below shows which happened here).

# %% id="a51e3f37"
seq_len = 64
x, y = valid_batches[0][0][:4].to(device), valid_batches[0][1][:4].to(device)
tokens = x.numel()
N = scaling.non_embedding_parameters(gpt)          # every weight outside the table
attention = 4 * cfg.n_layers * seq_len * cfg.d_model


def lm_loss_explicit(model, x, y):
    logits, _ = model(x, need_weights=True)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())


with FlopCounterMode(display=False) as forward_count:
    with torch.no_grad():
        gpt(x, need_weights=True)
with FlopCounterMode(display=False) as train_count:
    lm_loss_explicit(gpt, x, y).backward()
gpt.zero_grad(set_to_none=True)
forward_per_token = forward_count.get_total_flops() / tokens
train_per_token = train_count.get_total_flops() / tokens
norm_gains = N - linear_params                    # RMSNorm gains: no matrix product
print(f"N = {N:,} weights outside the embedding table: {linear_params:,} in Linear layers + "
      f"{norm_gains:,} norm gains")
print(f"forward:  {forward_per_token:,.0f} FLOPs/token counted; 2N = {2 * N:,} "
      f"(ratio {forward_per_token / (2 * N):.3f}); 2 x Linear weights + attention = "
      f"{2 * linear_params + attention:,}")
print(f"training: {train_per_token:,.0f} FLOPs/token counted; 6N = {6 * N:,} "
      f"(ratio {train_per_token / (6 * N):.3f}); training / forward = "
      f"{train_per_token / forward_per_token:.3f}")
with FlopCounterMode(display=False) as fused_count:
    with torch.no_grad():
        gpt(x)                                    # fused attention: scaled_dot_product_attention
fused_per_token = fused_count.get_total_flops() / tokens
print(f"forward with fused attention on {device.type}: {fused_per_token:,.0f} FLOPs/token counted "
      f"(2 x Linear weights = {2 * linear_params:,})")
assert forward_per_token == 2 * linear_params + attention      # exactly: the norms do no product
if device.type == "cpu":
    assert fused_per_token == 2 * linear_params   # the counter sees no FLOPs in the CPU kernel
assert abs(train_per_token / forward_per_token - 3) < 0.05
assert abs(train_per_token / (6 * N) - 1) < 0.15

# %% [markdown] id="4fc9969d"
# ## 5. Data-parallel training with DistributedDataParallel
#
# With several GPUs (or machines), **data parallelism** gives each worker a full copy of the model
# and a slice of every batch. After the backward pass, DDP averages the gradients across workers
# (an all-reduce), so every copy takes the *same* step — the step one process would take on the
# whole batch. `minillm/ddp.py` is such a training script; here `torchrun` (`python -m
# torch.distributed.run`, from this notebook's Python) starts two CPU workers talking over the
# `gloo` backend on 127.0.0.1, one thread each, for 5 SGD steps of a tiny GPT on a global batch of 8
# (4 rows per worker). Then the same steps run in this one process on all 8 rows.

# %% id="ab0eba2d"
from minillm.ddp import tiny_config, train_data_parallel, train_single_process

with tempfile.TemporaryDirectory() as run_dir:
    ddp_weights, facts = train_data_parallel(run_dir, nproc=2, steps=5, batch_size=8)
single_weights = train_single_process(steps=5, batch_size=8)
torch.manual_seed(0)
initial = DecoderLM(tiny_config()).state_dict()          # the seeded start both runs share
max_diff = max(float((ddp_weights[k] - single_weights[k]).abs().max()) for k in single_weights)
moved = max(float((initial[k] - single_weights[k]).abs().max()) for k in single_weights)
print(f"{facts['world_size']} workers, backend {facts['backend']}, {facts['threads']} thread each")
# the all-reduce adds the two halves' gradients in another order than one process does, so the
# weights agree up to float32 rounding (about 1e-8 here; how much exactly depends on the CPU)
print(f"training moved the weights by up to {moved:.3f}; "
      f"max |w_DDP - w_single| {'<' if max_diff < 1e-6 else '>='} 1e-6")
assert facts["world_size"] == 2 and max_diff < 1e-6 and moved > 1e-2

# %% [markdown] id="7c3e91a2"
# ### Tensor parallelism: split each layer, not the batch
#
# **Tensor parallelism（张量并行）** splits every layer instead of the batch: each worker (a *rank*)
# holds a slice of each weight matrix and sees the whole batch. Megatron-LM's recipe for a GPT
# block on $R$ ranks:
#
# - **feed-forward** $\text{down}(\text{act}(\text{up}(x)))$: `up` is split by output features, so
#   rank $r$ holds $d_\text{ff}/R$ whole hidden units (the activation acts on each unit alone);
#   `down` is split by input features, the matching columns, so each rank's product $y_r$ is a
#   partial sum of the output.
# - **attention**: heads are independent, so rank $r$ holds the rows of $W_q, W_k, W_v$ for its
#   $n_\text{heads}/R$ heads and the matching columns of $W_o$.
# - after each sublayer **one all-reduce** adds the partial outputs, $y = \sum_r y_r$, and every
#   rank again holds the whole $y$ (in the backward pass, one all-reduce adds the input's
#   gradient). The norms and the biases of $W_o$ and `down` stay whole on every rank and are added
#   once, after the sum.
#
# `minillm/tensor_parallel.py` starts two gloo processes; each builds the same seeded layer, keeps
# its shard (`shard_layer`), runs it forward and backward and saves its output and gradients. Then
# the whole layer runs here: the outputs must be equal, and each shard's gradients must be its slice
# of the full layer's.
#
# Which pays off when? Data parallelism, whenever the model fits on one device: it sends the
# gradients once per step. Tensor parallelism, when a layer does not fit: it sends activations, two
# all-reduces per layer in every forward pass (and two in the backward), so it needs fast links
# (GPUs in one machine, NVLink) and is usually combined with data parallelism across machines.

# %% id="d41f6b08"
from minillm.tensor_parallel import (
    RowParallelLinear,
    example_layer,
    expected_on_rank,
    run_single_process,
    run_tensor_parallel,
    shard_layer,
)

tp_cfg = TransformerConfig.gpt2_like(vocab_size=64, d_model=32, n_heads=4, n_layers=1, d_ff=64,
                                     max_seq_len=16)
full_layer = example_layer(tp_cfg)              # layers[0] of a seeded DecoderLM
shards = [shard_layer(full_layer, rank, 2) for rank in range(2)]
print(f"{'weight':26} {'full':>9} {'rank 0':>9} {'rank 1':>9}  split by")
for name, value in full_layer.state_dict().items():
    if name.endswith("weight"):
        ranks = [tuple(shard.state_dict()[name].shape) for shard in shards]
        split = ("rows (output features)" if ranks[0][0] < value.shape[0] else
                 "columns (input features)" if ranks[0][-1] < value.shape[-1] else "- (whole)")
        print(f"{name:26} {str(tuple(value.shape)):>9} {str(ranks[0]):>9} {str(ranks[1]):>9}  "
              f"{split}")
sums = sum(isinstance(m, RowParallelLinear) for m in shards[0].modules())
print(f"all-reduces per forward pass of the layer: {sums} (one per sublayer)")

with tempfile.TemporaryDirectory() as run_dir:
    tp_results = run_tensor_parallel(run_dir, tp_cfg, world_size=2)
reference = run_single_process(tp_cfg)
diff = {"output": 0.0, "input gradient": 0.0, "weight gradients": 0.0}
for rank, results in enumerate(tp_results):
    for key, expected in expected_on_rank(reference, rank, 2).items():
        kind = {"output": "output", "input_grad": "input gradient"}.get(key, "weight gradients")
        diff[kind] = max(diff[kind], float((results[key] - expected).abs().max()))
# the all-reduce adds the two halves in another order than one process does: float32 rounding
for kind, value in diff.items():
    print(f"2 ranks vs 1 process, {kind:16}: max |difference| {'<' if value < 1e-5 else '>='} 1e-5")
assert sums == 2 and max(diff.values()) < 1e-5

# %% [markdown] id="scaling-intro"
# ## 6. Scaling laws: loss against parameters and compute（缩放定律）
#
# §4's $6N$ rule prices a training run: $C \approx 6ND$ FLOPs for $N$ weights outside the embedding
# table and $D$ training tokens. What does a bigger $N$ or $D$ buy? **Scaling laws（缩放定律）**
# answer by measurement, not derivation: trained well, a language model's loss falls as a power of
# its size. Three published forms, each with its own symbols:
#
# - **Kaplan et al. (2020)**: $L(N) = (N_c/N)^{\alpha_N}$, a pure power law with no offset — a
#   straight line on log–log axes. $\alpha_N \approx 0.076$ is its slope, and $N_c$ a fitted
#   constant that sets its height. It was fitted over models from about $10^3$ to $10^9$
#   non-embedding weights, each trained on plenty of data.
# - **With an offset** (Henighan et al., 2020): $L(N) \approx a\,N^{-\alpha} + c$. The line bends
#   towards $c$, the loss that no size removes; $a$ and $\alpha$ play the parts of $N_c$ and
#   $\alpha_N$.
# - **Chinchilla** (Hoffmann et al., 2022): $L(N, D) = E + A/N^{0.34} + B/D^{0.28}$, loss as a
#   function of size *and* data. $E$ is the floor, $A/N^{0.34}$ what a finite model adds to it and
#   $B/D^{0.28}$ what finite data adds. For a budget $C$, the **compute-optimal（计算最优）** model is
#   the $N$ (with $D = C/6N$) that makes $L$ smallest; it grows $N$ and $D$ together, at about 20
#   training tokens per weight.

# %% [markdown] id="scaling-setup-md"
# Here is the same measurement at the course's scale: five sizes of the course's GPT (`llama_like`,
# 1–2 layers, $d_\text{model}$ 16 to 64) on the help topics, character-level (one token per
# character, so the loss is directly in nats per character), each trained for the **same** $D$
# tokens with the same schedule and learning rate, and scored on the held-out validation topics.
# $N$ is `scaling.non_embedding_parameters(model)` (the count of §4) and
# $C$ = `scaling.training_flops(N, D)` $= 6ND$. The two end points and the middle size are trained
# with two seeds, to show how far a second run moves the loss.

# %% id="scaling-data"
from minillm.splits import overlap
from minillm.tokenizers import CharTokenizer

held_out = valid_docs     # split_documents has dropped topics that repeat a training topic's text
shared_names = {d.name for d in train_docs} & {d.name for d in held_out}
char_tok = CharTokenizer.train("".join(d.text for d in train_docs), special_tokens=["<unk>"])
char_train = concat_ids(train_docs, char_tok.encode)
char_valid = eval_windows(concat_ids(held_out, char_tok.encode), 64, 256)
print(f"{len(char_train):,} training characters ({len(train_docs)} topics); "
      f"{sum(y.numel() for _, y in char_valid):,} validation characters scored "
      f"({len(held_out)} other topics)")
print(f"validation topics also in training: by name {len(shared_names)}, by text "
      f"{len(overlap([d.text for d in train_docs], [d.text for d in held_out]))}")
assert not shared_names and not overlap([d.text for d in train_docs], [d.text for d in held_out])

# %% id="scaling-sweep"
SIZES = [(16, 1, 2), (32, 1, 2), (32, 2, 2), (48, 2, 4), (64, 2, 4)]   # (d_model, layers, heads)
TWO_SEEDS = [SIZES[0], SIZES[2], SIZES[-1]]                        # the ends and the middle
SWEEP_STEPS, SWEEP_BATCH, SWEEP_SEQ = 300, 16, 64
SWEEP_TOKENS = SWEEP_STEPS * SWEEP_BATCH * SWEEP_SEQ                # D, the same for every size


def train_size(size, steps, seed):
    # a seeded character-level GPT of `size` trained `steps` steps (batches of SWEEP_BATCH
    # windows, one learning rate for all); returns (N, validation nats per character)
    d_model, n_layers, n_heads = size
    torch.manual_seed(seed)
    model = DecoderLM(TransformerConfig.llama_like(
        vocab_size=char_tok.vocab_size, d_model=d_model, n_heads=n_heads, n_layers=n_layers,
        d_ff=8 * ((d_model + 2) // 3), max_seq_len=SWEEP_SEQ))   # SwiGLU's ≈ 8/3 d_model
    run = TrainConfig(steps=steps, batch_size=SWEEP_BATCH, lr=5e-3, warmup_steps=steps // 10,
                      eval_every=steps, seed=seed, device="cpu")
    batches = batches_by_step(
        lambda: causal_lm_batches(char_train, SWEEP_SEQ, SWEEP_BATCH, seed=seed))
    train(model, causal_lm_loss, batches, run, progress=False)
    return scaling.non_embedding_parameters(model), evaluate(model, causal_lm_loss, char_valid)


threads = torch.get_num_threads()
torch.set_num_threads(1)     # matrices this small gain nothing from being split over threads
sweep = {}                   # size -> (N, {seed: validation loss})
for size in SIZES:
    runs = {seed: train_size(size, SWEEP_STEPS, seed) for seed in ((0, 1) if size in TWO_SEEDS
                                                                  else (0,))}
    sweep[size] = (runs[0][0], {seed: loss for seed, (_, loss) in runs.items()})
torch.set_num_threads(threads)

print(f"every size trained on D = {SWEEP_TOKENS:,} tokens ({SWEEP_STEPS} steps; the training "
      f"text holds {len(char_train):,} characters)")
print(f"{'d_model':>7} {'layers':>6} {'N':>8} {'C = 6ND':>9} {'D/N':>5}  validation nats/char")
for size, (n, losses) in sweep.items():
    seeds = "  ".join(f"seed {s}: {loss:.3f}" for s, loss in losses.items())
    gap = max(losses.values()) - min(losses.values())
    gap = f"  (spread {gap:.3f})" if len(losses) > 1 else ""
    print(f"{size[0]:>7} {size[1]:>6} {n:>8,} {scaling.training_flops(n, SWEEP_TOKENS):>9.2e} "
          f"{SWEEP_TOKENS / n:>5.1f}  {seeds}{gap}")

# %% [markdown] id="scaling-fit-md"
# The takeaway first: at equal $D$, the loss falls with $N$, by far more than the seed spread, and
# the three largest sizes gain less than the three smallest (the figure after the next cell shows
# it). The next cell fits power laws to these five points. Its later lines are for the sceptic; each
# tests how far one fitted number can be trusted:
#
# - *exponent between neighbours*: the slope of the straight line through each pair of neighbouring
#   sizes, from the smallest pair to the largest;
# - *the 3 smallest, the 3 largest*: one straight line through each end of the sweep;
# - *leaving one size out*: the offset fit done five times, each time without one of the sizes.

# %% id="scaling-fit"
KAPLAN_ALPHA_N, CHINCHILLA_ALPHA = 0.076, 0.34      # the published exponents quoted above
n_weights = np.array([sweep[size][0] for size in SIZES], dtype=float)
mean_loss = np.array([np.mean(list(sweep[size][1].values())) for size in SIZES])
spread = max(max(losses.values()) - min(losses.values()) for _, losses in sweep.values())
line = scaling.fit_power_law(n_weights, mean_loss, offset=False)
law = scaling.fit_power_law(n_weights, mean_loss)
local = -np.diff(np.log(mean_loss)) / np.diff(np.log(n_weights))   # slope between neighbours
smallest3, largest3 = (scaling.fit_power_law(n_weights[part], mean_loss[part], offset=False).alpha
                       for part in (slice(0, 3), slice(2, 5)))
leave_one_out = [scaling.fit_power_law(np.delete(n_weights, i), np.delete(mean_loss, i))
                 for i in range(len(SIZES))]
alphas, offsets = [f.alpha for f in leave_one_out], [f.c for f in leave_one_out]
print(f"N from {n_weights[0]:,.0f} to {n_weights[-1]:,.0f} ({n_weights[-1] / n_weights[0]:.0f}x): "
      f"loss (mean of the seeds) from {mean_loss[0]:.3f} to {mean_loss[-1]:.3f} nats per "
      f"character; largest seed spread {spread:.3f}")
print(f"straight line in log-log: L = {line.a:.2f} N^-{line.alpha:.3f}")
print(f"with an offset:           L = {law.a:.1f} N^-{law.alpha:.2f} + {law.c:.2f}")
print("exponent between neighbours: " + ", ".join(f"{a:.3f}" for a in local))
print(f"the line through the 3 smallest sizes: N^-{smallest3:.3f}; through the 3 largest: "
      f"N^-{largest3:.3f}")
print(f"leaving one size out, the offset fit gives alpha {min(alphas):.2f} to {max(alphas):.2f} "
      f"and c {min(offsets):.2f} to {max(offsets):.2f}")
print(f"published: Kaplan et al. alpha_N = {KAPLAN_ALPHA_N}, Chinchilla alpha = {CHINCHILLA_ALPHA}")
assert mean_loss[0] - mean_loss[-1] > 3 * spread      # size helps, far beyond the seed spread
assert largest3 < 0.8 * smallest3                     # the largest sizes gain less
assert max(alphas) > 2 * min(alphas)                  # five points do not pin alpha and c down

# %% [markdown] id="scaling-compute-md"
# **The Chinchilla question, measured.** For one fixed budget $C$, is a smaller model trained
# longer better than a bigger one trained shorter? Take the budget of the middle size's run above,
# $C = 6 N_\text{mid} D$, and spend it on the next smaller and the next bigger size too: each gets
# $D = C / 6N$ tokens (steps rounded), with its own complete warm-up and cosine schedule (a point
# read off the middle of a longer run would still have its learning rate high). The smaller model
# gets two seeds, like the middle one; the bigger one, one. Three sizes can say which of them wins;
# where the best size lies needs sizes on both sides of the winner.

# %% id="scaling-compute"
CHINCHILLA_TOKENS_PER_WEIGHT = 20      # Hoffmann et al.'s ratio, quoted above
BUDGET_SIZE = SIZES[2]
budget = scaling.training_flops(sweep[BUDGET_SIZE][0], SWEEP_TOKENS)
threads = torch.get_num_threads()
torch.set_num_threads(1)
matched = {BUDGET_SIZE: (sweep[BUDGET_SIZE][0], SWEEP_STEPS, sweep[BUDGET_SIZE][1])}
for size, seeds in ((SIZES[1], (0, 1)), (SIZES[3], (0,))):
    steps = round(budget / scaling.training_flops(sweep[size][0], SWEEP_BATCH * SWEEP_SEQ))
    matched[size] = (sweep[size][0], steps,
                     {seed: train_size(size, steps, seed)[1] for seed in seeds})
torch.set_num_threads(threads)
matched = dict(sorted(matched.items(), key=lambda item: item[1][0]))
print(f"one budget, C = {budget:.2e} FLOPs:")
for size, (n, steps, losses) in matched.items():
    tokens = steps * SWEEP_BATCH * SWEEP_SEQ
    print(f"  d_model {size[0]}, {size[1]} layer(s): N = {n:>6,}, {steps} steps = "
          f"{tokens:,} tokens ({tokens / n:.0f} per weight, "
          f"{tokens / len(char_train):.2f} epochs), "
          f"C = {scaling.training_flops(n, tokens):.2e}: validation "
          + ", ".join(f"seed {seed} {loss:.3f}" for seed, loss in losses.items()))
at_budget = [np.mean(list(losses.values())) for _, _, losses in matched.values()]
best = list(matched)[int(np.argmin(at_budget))]
per_weight = {size: steps * SWEEP_BATCH * SWEEP_SEQ / n for size, (n, steps, _) in matched.items()}
print(f"best for this budget (mean of its seeds): d_model {best[0]}, {best[1]} layer(s), "
      f"{per_weight[best]:.0f} tokens per weight" + (", the smallest size tried: the optimum is "
      "not bracketed" if best == list(matched)[0] else ""))
print(f"Chinchilla's compute-optimal ratio, for comparison: about {CHINCHILLA_TOKENS_PER_WEIGHT} "
      "tokens per weight")
short, long = sweep[SIZES[1]][1][0], matched[SIZES[1]][2][0]
print(f"the d_model {SIZES[1][0]}, {SIZES[1][1]}-layer model, seed 0: {SWEEP_STEPS} steps "
      f"{short:.3f}, {matched[SIZES[1]][1]} steps {long:.3f}")
assert at_budget[0] < at_budget[1] - spread and at_budget[1] < at_budget[2] - 2 * spread
assert long < short - 2 * spread         # the sweep's runs were far from finished

# %% id="scaling-figure"
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
grid = np.geomspace(n_weights[0] / 1.3, n_weights[-1] * 1.3, 50)
for size, (n, losses) in sweep.items():
    for seed, loss in losses.items():
        marker = "o" if seed == 0 else "x"
        ax1.scatter(n, loss, color="C0", marker=marker, zorder=3)
        ax2.scatter(scaling.training_flops(n, SWEEP_TOKENS), loss, color="C0", marker=marker,
                    zorder=3)
    ax1.annotate(f"d={size[0]}, {size[1]}L", (n, max(losses.values())), fontsize=8,
                 textcoords="offset points", xytext=(4, 4))
ax1.plot(grid, line(grid), "--", color="gray", label=f"line: {line.a:.2f} N^-{line.alpha:.3f}")
ax1.plot(grid, law(grid), "-", color="C1", label=f"{law.a:.1f} N^-{law.alpha:.2f} + {law.c:.2f}")
ax1.set_xscale("log")
ax1.set_xlabel("non-embedding parameters N (log scale)")
ax1.set_ylabel("validation nats per character")
ax1.set_title(f"Same D = {SWEEP_TOKENS:,} tokens for every size:\n"
              "bigger is better; the largest sizes gain less (o seed 0, x seed 1)")
ax1.legend(fontsize=8)
ax2.plot([scaling.training_flops(n, SWEEP_TOKENS) for n in n_weights], mean_loss, color="C0",
         lw=1, label="the sweep: same D, C grows with N")
for n, steps, losses in matched.values():
    for loss in losses.values():
        ax2.scatter(budget, loss, color="C3", marker="s", zorder=4)
    ax2.annotate(f"N={n:,}, {steps} steps", (budget, np.mean(list(losses.values()))),
                 fontsize=8, textcoords="offset points", xytext=(6, -3))
ax2.scatter([], [], color="C3", marker="s", label="one budget C, three sizes")
ax2.set_xscale("log")
ax2.set_xlabel("training compute C = 6ND (FLOPs, log scale)")
ax2.set_ylabel("validation nats per character")
ax2.set_title("At one budget, the smallest of three sizes (trained longest) wins")
ax2.legend(fontsize=8, loc="lower left")
plt.tight_layout()
plt.show()

# %% [markdown] id="scaling-words"
# What the numbers say, and what they do not:
#
# - **At equal $D$, bigger is better**, by far more than the seed spread. The three largest sizes
#   gain less than the three smallest (a line through them has exponent 0.047 against 0.085,
#   printed above), but the steps between neighbours do not shrink steadily (0.075, 0.108, 0.049,
#   0.045), and the steepest step is also the one that adds a second layer. Why the larger sizes
#   gain less is not isolated here. It may be the bend a scaling law predicts (towards $c$); it may
#   be undertraining, a hypothesis this sweep does not test: every size sees the same $D$, so the
#   tokens per weight (the column D/N) fall twentyfold along the sweep, and more steps still help a
#   lot (the 1-layer model's longer run). In Chinchilla's form the two are not even separate: at one
#   fixed $D$ the data term $B/D^{0.28}$ is a constant, part of what the offset fit calls $c$.
# - **The exponents are descriptions of this sweep, not Kaplan's or Chinchilla's**, even if a
#   printed one lands near a published one. The straight line's exponent depends on which sizes it
#   is drawn through (printed above); the offset fit's $\alpha$ and $c$ trade off against each
#   other, so that leaving out one of five sizes moves $\alpha$ by more than a factor 2; and $c$ is
#   where this sweep, at this $D$, seems to level off, not a property of the text. Kaplan's
#   $\alpha_N$ describes models that data does not hold back, over six orders of magnitude of $N$;
#   ours span about one, and data holds them back.
# - **At one budget, the smallest of the three sizes, trained longest, wins**: this answers the
#   Chinchilla question for these three sizes, but it does not find the compute-optimal size. The
#   winner is the smallest size tried, so the optimum is not bracketed: a still smaller model,
#   trained still longer, might do better. The winner saw 34 tokens per weight and the runner-up 11;
#   Chinchilla's ratio of about 20 lies between them, but nothing here pins this sweep's optimum to
#   it. With a larger budget the best size moves up (Hoffmann et al.; chapter 11 §6 shows the
#   trade-off on three widths read along one run, where this section trains a complete schedule for
#   every point).
# - **What a real measurement needs**: sizes over several orders of magnitude, each trained to
#   convergence or along the compute-optimal frontier; at each budget, sizes on both sides of the
#   best one (an IsoFLOP curve); a learning rate and schedule tuned per size; more seeds; and a
#   corpus far larger than ours — the budget's winner already read the training text more than once
#   (1.36 epochs, printed above), so its tokens per weight were bought partly by repetition, and a
#   larger $D$ would repeat it more.

# %% [markdown] id="4b042cf6"
# ## Summary: what each method costs and saves
#
# One table for the whole chapter: size in bytes of the weights, FLOPs per token of one forward pass
# (counted as in §1), and validation perplexity. Head pruning is not in it: the heads were only
# masked, so the model kept its size and its arithmetic.

# %% id="90dc283b"
pruned50 = magnitude_prune(gpt, 0.5)
student = students["distilled"].to(device).eval()
summary = {**rows,
           "pruned 50% (dense)": {"bytes": model_nbytes(pruned50),
                                  "ppl": prune_ppl[sparsities.index(0.5)],
                                  "flops": forward_flops(pruned50)},
           "student (distilled)": {"bytes": model_nbytes(student), "ppl": student_ppl["distilled"],
                                   "flops": forward_flops(student)}}
print(f"{'method':<22}{'size (bytes)':>14}{'size ratio':>12}{'FLOPs/token':>13}{'perplexity':>12}")
for name, r in summary.items():
    print(f"{name:<22}{r['bytes']:>14,}{base['bytes'] / r['bytes']:>11.2f}x"
          f"{r['flops']:>13,.0f}{r['ppl']:>12.2f}")
cheaper = [name for name, r in summary.items() if r["flops"] < base["flops"]]
print(f"fewer FLOPs per token than float32: {', '.join(cheaper)} "
      f"({base['flops'] / summary['student (distilled)']['flops']:.1f}x fewer)")
assert cheaper == ["student (distilled)"]   # weight-only integers and zeros: the same products
fig, ax = plt.subplots(figsize=(7, 3.6))
for name, r in summary.items():
    ax.scatter(r["bytes"] / 1e3, r["ppl"], s=60)
    ax.annotate(name, (r["bytes"] / 1e3, r["ppl"]), textcoords="offset points", xytext=(6, 4))
ax.set_xlabel("weights (kB)")
ax.set_ylabel("validation perplexity")
ax.set_title("Size against quality (lower is better): int8 is almost free")
plt.tight_layout()
plt.show()

# %% [markdown] id="4497c3a8"
# ## Exercises
#
# Each checker prints ✅ or ❌ with a hint. Replace the `...`; the solutions are in
# `chapters/07-efficiency/solutions.py`.

# %% id="71aa0ac2"
from minillm.exercises.efficiency import (
    check_kd_loss,
    check_kv_cache_bytes,
    check_prune_mask,
    check_quantize_int8,
    check_training_flops,
)

# %% [markdown] id="e9ef3dd5"
# **Exercise 1.** Quantize a weight matrix `w` (a NumPy array (out, in)) to int8 per channel: return
# `(q, scale)` with `scale` of shape (out, 1) $= \max|w_\text{row}| / 127$ and `q = round(w / scale)`.

# %% id="91e73414"
def quantize_int8(w):
    ...  # your code here


check_quantize_int8(quantize_int8)

# %% [markdown] id="0cb03638"
# **Exercise 2.** The KV cache with grouped-query attention. A model has `n_layers` layers of
# `n_heads` query heads that share `n_kv_heads` key/value heads (as in §4's GQA cell), and width
# `d_model`. How many bytes does its KV cache hold after `seq` tokens, for `batch` sequences, at
# `bytes_per_number` bytes per number? (When you are right, the checker prices the cache of
# Llama 2 70B.)

# %% id="e173a219"
def kv_cache_bytes(n_layers, n_heads, n_kv_heads, d_model, seq, batch, bytes_per_number):
    ...  # your code here


check_kv_cache_bytes(kv_cache_bytes)

# %% [markdown] id="dfbabba8"
# **Exercise 3.** About how many FLOPs does it take to train a Llama-style model on `n_tokens`
# tokens? Each of its `n_layers` blocks has attention with four `d_model` × `d_model` projections
# (q, k, v, out) and a SwiGLU feed-forward with three matrices between `d_model` and `d_ff` (gate,
# up, down). Count $N$ yourself, from the blocks' weights only (leave out the embedding table, the
# output head and the norms); the checker accepts answers within 5%.

# %% id="9a65f4e9"
def training_flops(d_model, n_layers, d_ff, n_tokens):
    ...  # your code here


check_training_flops(training_flops)

# %% [markdown] id="779e81f7"
# **Exercise 4.** Return the magnitude-pruning mask of `w` at `sparsity`: a bool array shaped like
# `w`, False at the `round(sparsity * w.size)` entries of smallest $|w|$ (True = keep).

# %% id="33cd9a37"
def prune_mask(w, sparsity):
    ...  # your code here


check_prune_mask(prune_mask)

# %% [markdown] id="kd-exercise-md"
# **Exercise 5.** Write the distillation term of §3 in NumPy: for logits `student_logits` and
# `teacher_logits` of shape (positions, vocab), return the number
# $T^2\,\mathrm{KL}\big(\mathrm{softmax}(z_t/T)\,\|\,\mathrm{softmax}(z_s/T)\big)$, averaged over
# the positions (with $\mathrm{KL}(p\,\|\,q) = \sum_i p_i \log(p_i / q_i)$).

# %% id="kd-exercise"
def kd_loss(student_logits, teacher_logits, temperature):
    ...  # your code here


check_kd_loss(kd_loss)

# %% [markdown] id="87f730ba"
# ## What we learned
#
# - int8 per-channel weights shrink the Linear layers 3.78× at almost no cost in perplexity;
#   int4 7.18× at a visible cost (a little less than 32/8 and 32/4: each row also keeps a
#   float32 scale). A scale per row beats one per matrix; calibration-based methods (GPTQ, AWQ)
#   do better than rounding to the nearest level. Weight-only quantization saves memory, not
#   arithmetic: the FLOPs per token stay the same.
# - Magnitude pruning is nearly free at low sparsity and falls off a cliff without retraining.
#   Masking the heads with the smallest loss increase on calibration text beat random order once
#   three or more of the 8 heads went, not for the first one or two: with 4 calibration batches,
#   the ranking of the cheapest heads did not carry over to validation text.
# - A distilled student beats the same student trained on labels alone, for the same steps, in
#   this run (one seed, $\alpha$ and $T$ not tuned: how much the gap varies is not measured here).
#   It is not a compute-matched comparison: every distilled step also runs the teacher forward
#   (2.2× the FLOPs per training token).
# - The KV cache grows as $2 \cdot n_\text{layers} \cdot n_\text{heads} \cdot d_\text{head}$ numbers
#   per token, or $2 \cdot n_\text{layers} \cdot n_\text{kv heads} \cdot d_\text{head}$ with
#   grouped-query attention; a forward pass costs $\approx 2N$ FLOPs per token and training
#   $\approx 6N$.
# - Data parallelism is an exact rewrite of one big-batch step: DDP's weights equal one process's.
# - Tensor parallelism is an exact rewrite of one layer: split by heads and hidden units, with one
#   all-reduce per sublayer, two processes give one process's output and gradients.
# - At equal data, a bigger model reached a lower loss, and the larger sizes gained less than the
#   smaller ones; at one compute budget the smallest of three sizes, trained longest, won (the
#   Chinchilla question), but the best size was not bracketed. The exponents fitted to five tiny,
#   undertrained sizes describe that sweep, not a law to reuse.
#
# Left out of this chapter: mixed-precision training and what training holds in memory (weights,
# gradients, Adam's two moments and, with mixed precision, a float32 master copy), deleting pruned
# heads for real, sparsity patterns that hardware can skip (2:4) and pruning followed by retraining,
# fused attention kernels (FlashAttention), speculative decoding, and sharded (ZeRO, FSDP) and
# pipeline parallelism.
