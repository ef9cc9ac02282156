"""Benchmarks: minillm's GPT against a plain PyTorch GPT, Hugging Face's GPT2LMHeadModel, and
the KV cache.

    python benchmarks/run.py              # the full run (a few minutes on 2 CPU cores)
    python benchmarks/run.py --no-smollm2 # without the real model (SmolLM2-135M-Instruct)
    python benchmarks/run.py --quick      # seconds: checks that the script works, not speed
    python benchmarks/run.py --training-only  # the training table alone (to /tmp unless --out)
    python benchmarks/run.py --training-only --only 6x384 --steps 2   # one row, a few steps

Not part of the test suite: speed depends on the machine and on whatever else runs on it.
What it measures, in one process on one machine:

1. Training tokens/second of minillm's DecoderLM, of a plain PyTorch GPT of the same shape and
   math without any checks (benchmarks/plain_gpt.py: what minillm's own overhead costs), and of
   transformers' GPT2LMHeadModel at the same configuration, with the same weights (minillm's
   are copied from the HF model by `minillm.convert.from_hf_gpt2`, the plain model's from
   minillm's), the same batches (pydoc text, one token per character), the same optimizer
   (torch.optim.AdamW) and the same loss (F.cross_entropy on the logits). HF runs its default
   attention (sdpa), minillm its fused path (need_weights=False). Warm-up steps are not timed;
   then the models take turns step by step (ABCD, BCDA, ...), and the median step is reported,
   so a machine that gets busier or quieter halfway through treats them all alike.
2. Generation tokens/second: minillm's `generate`, greedy, with and without the KV cache, and
   HF's `generate` (with its cache), for the same new tokens from the same short prompt.
3. Peak memory: how much the process's resident memory (RSS) grew above where it stood before
   a measurement (Linux: the peak RSS counter in /proc/self/status is reset before each one), and
   the process's peak RSS over the whole run (resource.getrusage).
4. A real model, SmolLM2-135M-Instruct (30 layers, 9 query heads sharing 3 key/value heads), read
   from the same GGUF file by minillm (`load_smollm2`) and by transformers (`from_pretrained(...,
   gguf_file=...)`): load time, prompt processing tokens/s (one forward over the same prompt
   ids), greedy generation tokens/s (the same new tokens, each with its KV cache), memory added,
   and the bytes a KV cache holds with 3 key/value heads against a same-size model with 9.
   `--no-smollm2` skips it; `--quick` runs it on a tiny random grouped-query Llama instead.

The results are printed as a Markdown table and written to benchmarks/results.md.
"""
from __future__ import annotations

import argparse
import ctypes
import dataclasses
import datetime
import gc
import itertools
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from minillm.attention import KVCache
from minillm.chat import chat_prompt
from minillm.convert import from_hf_gpt2, from_hf_llama, load_into, max_abs_diff
from minillm.data import causal_lm_batches, concat_ids, pydoc_corpus
from minillm.generate import generate
from minillm.tokenizers import CharTokenizer
from minillm.transformer import DecoderLM

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from plain_gpt import PlainGPT, from_minillm  # noqa: E402  (benchmarks/ is not a package)

PROMPT = "for x in"          # 8 characters = 8 tokens


@dataclass(frozen=True)
class Setup:
    """One model size and batch shape; the same for minillm and HF."""
    name: str
    d_model: int
    n_layers: int
    n_heads: int
    seq_len: int
    batch_size: int

    def describe(self):
        return (f"{self.name}: d={self.d_model}, {self.n_layers} layers, {self.n_heads} heads, "
                f"seq {self.seq_len}, batch {self.batch_size}")


# "baby": nanoGPT's CPU configuration (4 layers, 4 heads, d_model 128, block 64, batch 12), where
# the fixed per-step costs weigh most. "6x384": the shape of nanoGPT's shakespeare-char model (6
# layers, 6 heads, d_model 384, block 256; 10.7M weights with a 96-character vocabulary) with a
# batch of 8 instead of 64, so that a step takes seconds on 2 cores.
FULL = dict(
    train=[Setup("baby", 128, 4, 4, 64, 12), Setup("tiny", 64, 2, 4, 128, 16),
           Setup("small", 256, 4, 4, 256, 8), Setup("6x384", 384, 6, 6, 256, 8)],
    generate=Setup("small", 256, 4, 4, 512, 1), new_tokens=256,
    warmup=3, repeats=15, generate_repeats=3)
QUICK = dict(
    train=[Setup("tiny", 64, 2, 4, 64, 4)],
    generate=Setup("tiny", 64, 2, 4, 64, 1), new_tokens=32,
    warmup=1, repeats=2, generate_repeats=1)
# The real model: a prompt of about 200 tokens, 64 new ones; loads and runs take turns.
SMOLLM2 = dict(real=True, prompt_tokens=200, new_tokens=64, load_repeats=2, repeats=3)
# --quick: the same functions on a tiny random grouped-query Llama (4 query heads, 2 key/value)
SMOLLM2_QUICK = dict(real=False, prompt_tokens=24, new_tokens=16, load_repeats=1, repeats=1)


# ---- the machine ---------------------------------------------------------------------------
def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(load_at_start):
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} cores; torch threads: "
        f"{torch.get_num_threads()}; load average {load_at_start} at start, "
        f"{load_average()} at the end (the 1-minute average of processes wanting a core)",
        f"- torch {torch.__version__}, transformers {transformers.__version__}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
        f"- date: {datetime.date.today().isoformat()}",
    ]


def load_average():
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def load_lines(load_at_start):
    """A warning when other processes wanted the cores too (load average >= cores)."""
    loads = [float(x) for x in (load_at_start, load_average()) if x != "n/a"]
    if not loads or max(loads) < os.cpu_count():
        return []
    return [f"**Measured under load**: the load average reached {max(loads):.1f} on "
            f"{os.cpu_count()} cores, so other processes were taking turns on them. The "
            "absolute tokens/s are lower than on a quiet machine and move from run to run; the "
            "ratios, between models taking turns step by step in one process, are what to read.",
            ""]


# ---- memory --------------------------------------------------------------------------------
_PEAK_BEFORE_RESETS = []   # the peak RSS each time RssGrowth reset the kernel's counter


def _status_mib(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    raise OSError(f"{key} not in /proc/self/status")


class RssGrowth:
    """Peak RSS growth of a block of code, in MiB (Linux only; None elsewhere).

    Before the block, freed memory is handed back to the system (malloc_trim) and the kernel's
    peak-RSS counter is reset to the current RSS; after it, growth = peak - RSS before. It counts
    everything the block made resident: weights' gradients, optimizer state created there,
    activations, the allocator's own slack."""

    def __enter__(self):
        self.mib = None
        try:
            _PEAK_BEFORE_RESETS.append(_status_mib("VmHWM:"))
            gc.collect()
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            Path("/proc/self/clear_refs").write_text("5")   # reset VmHWM to the current RSS
            self.before = _status_mib("VmRSS:")
        except OSError:
            self.before = None
        return self

    def __exit__(self, *exc):
        if self.before is not None:
            self.mib = _status_mib("VmHWM:") - self.before


def peak_rss_mib():
    """The process's peak RSS so far: ru_maxrss (KiB on Linux, bytes on macOS), or the highest
    peak seen before RssGrowth reset the counter (ru_maxrss reads that same counter)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak / 2**20 if sys.platform == "darwin" else peak / 1024
    return max([peak, *_PEAK_BEFORE_RESETS])


# ---- the twin models -----------------------------------------------------------------------
def twin_models(setup, vocab_size, seed=0):
    """(minillm DecoderLM, HF GPT2LMHeadModel) with the same configuration and weights."""
    config = GPT2Config(vocab_size=vocab_size, n_positions=setup.seq_len, n_embd=setup.d_model,
                        n_layer=setup.n_layers, n_head=setup.n_heads, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None)
    torch.manual_seed(seed)
    hf = GPT2LMHeadModel(config)
    cfg, state = from_hf_gpt2(hf)
    ours = DecoderLM(cfg)
    ours.load_state_dict(state)
    x = torch.randint(vocab_size, (2, min(16, setup.seq_len)))
    with torch.no_grad():
        diff = (ours(x)[0] - hf(input_ids=x).logits).abs().max().item()
    if diff > 1e-4:
        raise AssertionError(f"the twins disagree: max |logit difference| = {diff}")
    return ours, hf


def with_fused_gelu(hf):
    """A copy of the HF model that computes GPT-2's tanh-GELU with PyTorch's fused kernel
    (activation_function="gelu_pytorch_tanh") instead of as separate operations: the fastest
    way HF itself offers to run the same model, and so the fairer second reference."""
    config = GPT2Config(**{**hf.config.to_dict(), "activation_function": "gelu_pytorch_tanh"})
    fused = GPT2LMHeadModel(config)
    fused.load_state_dict(hf.state_dict())
    return fused


def logits_of(model):
    if isinstance(model, DecoderLM):
        return lambda x: model(x, need_weights=False)[0]
    if isinstance(model, PlainGPT):
        return model
    return lambda x: model(input_ids=x).logits


# ---- training ------------------------------------------------------------------------------
def batches(ids, setup, n, seed=0):
    """n (x, y) batches of random windows of ids, the same for both models."""
    return list(itertools.islice(
        causal_lm_batches(ids, setup.seq_len, setup.batch_size, seed=seed), n))


def train_steps(forward, optimizer, batch_list):
    """Forward, cross-entropy, backward, AdamW step, for each batch. Returns the last loss."""
    for x, y in batch_list:
        loss = F.cross_entropy(forward(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return loss.item()


def bench_training(setup, ids, vocab_size, plan):
    """{"minillm"/"plain"/"hf"/"hf_fused_gelu": {"tokens_s": median, "all": [...],
    "cpu_tokens_s": the median by CPU time, "loss": float, "mib": float}}: one step per model
    in turn, the order rotating from step to step."""
    ours, hf = twin_models(setup, vocab_size)
    models = {"minillm": ours, "plain": from_minillm(ours), "hf": hf,
              "hf_fused_gelu": with_fused_gelu(hf)}
    data = batches(ids, setup, plan["warmup"] + plan["repeats"])
    runs = {}
    for name, model in models.items():
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
        with RssGrowth() as rss:                        # the first steps: state is created here
            train_steps(logits_of(model), optimizer, data[:plan["warmup"]])
        runs[name] = dict(forward=logits_of(model), optimizer=optimizer, all=[], cpu=[],
                          mib=rss.mib)
    tokens = setup.batch_size * setup.seq_len
    names = list(runs)
    for r in range(plan["repeats"]):
        batch = data[plan["warmup"] + r:][:1]
        for name in names[r % len(names):] + names[:r % len(names)]:   # ABCD, BCDA, ...
            run = runs[name]
            start, cpu_start = time.perf_counter(), time.process_time()
            run["loss"] = train_steps(run["forward"], run["optimizer"], batch)
            run["cpu"].append(tokens / (time.process_time() - cpu_start))
            run["all"].append(tokens / (time.perf_counter() - start))
    for run in runs.values():
        run["tokens_s"] = statistics.median(run["all"])
        run["cpu_tokens_s"] = statistics.median(run["cpu"])
    return runs


# ---- generation ----------------------------------------------------------------------------
def bench_generation(setup, vocab_size, prompt_ids, new_tokens, repeats, seconds=15.0):
    """{"cache"/"no_cache"/"hf": {"tokens_s", "ids", "mib"}} for greedy generation: the median
    of `repeats` runs, or of fewer once a method has taken `seconds` (the uncached run is slow,
    and a long run needs no repeat to average out the noise)."""
    ours, hf = twin_models(setup, vocab_size, seed=1)
    prompt = torch.tensor([prompt_ids])
    methods = {
        "cache": lambda n: generate(ours, prompt, n, greedy=True, use_cache=True),
        "no_cache": lambda n: generate(ours, prompt, n, greedy=True, use_cache=False),
        "hf": lambda n: hf.generate(prompt, attention_mask=torch.ones_like(prompt),
                                    max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                    use_cache=True, pad_token_id=0),
    }
    results = {}
    with torch.no_grad():
        for name, run in methods.items():
            run(4)                                                      # warm-up
            times = []
            with RssGrowth() as rss:
                while len(times) < repeats and sum(times) < seconds:
                    start = time.perf_counter()
                    ids = run(new_tokens)
                    times.append(time.perf_counter() - start)
            results[name] = dict(tokens_s=new_tokens / statistics.median(times),
                                 ids=ids[0, len(prompt_ids):].tolist(), mib=rss.mib)
    return results


# ---- a real model: SmolLM2-135M-Instruct -----------------------------------------------------
def load_real_pair():
    """{"minillm": a loader, "hf": a loader}: each returns a model in eval mode holding
    SmolLM2-135M-Instruct from the one GGUF file, in float32 (minillm's tokenizer comes with
    its model)."""
    from minillm.pretrained import load_smollm2, smollm2_gguf_path

    path = smollm2_gguf_path()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")        # the file is local: never ask the Hub

    def hf():
        return transformers.AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32).eval()

    return {"minillm": load_smollm2, "hf": hf}


def tiny_llama(seed=0):
    """A tiny random Llama with grouped-query attention (4 query heads, 2 key/value heads), as
    transformers' LlamaForCausalLM: the --quick stand-in for SmolLM2."""
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=256, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
        num_hidden_layers=2, intermediate_size=128, max_position_embeddings=128,
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)).eval()


def load_tiny_pair():
    """The loaders of load_real_pair for tiny_llama: HF builds it, minillm converts it."""
    def ours():
        cfg, state = from_hf_llama(tiny_llama())
        with torch.device("meta"):
            model = DecoderLM(cfg)
        return load_into(model, state, assign=True).eval(), None

    return {"minillm": ours, "hf": tiny_llama}


def bench_load(loaders, repeats):
    """Load each model `repeats` times, taking turns. Returns ({"minillm"/"hf": {"s": median
    seconds, "mib": memory added by the last load}}, the last models)."""
    runs = {name: dict(all=[]) for name in loaders}
    models = {}
    for r in range(repeats):
        for name in (list(loaders) if r % 2 == 0 else list(loaders)[::-1]):
            models.pop(name, None)                    # free the previous copy first
            with RssGrowth() as rss:
                start = time.perf_counter()
                models[name] = loaders[name]()
                runs[name]["all"].append(time.perf_counter() - start)
            runs[name]["mib"] = rss.mib
    for run in runs.values():
        run["s"] = statistics.median(run["all"])
    return runs, models


def real_prompt_ids(tokenizer, n_tokens):
    """A chat prompt of about n_tokens tokens: a user asks for a summary of pydoc text."""
    words = " ".join(d.text for d in pydoc_corpus()).split()
    text = ""
    for word in words:
        prompt = chat_prompt([{"role": "user", "content": f"Summarise this: {text} {word}"}])
        if len(tokenizer.encode(prompt, allowed_special=True)) > n_tokens:
            break
        text = f"{text} {word}"
    return tokenizer.encode(chat_prompt([{"role": "user", "content": f"Summarise this: {text}"}]),
                            allowed_special=True)


def take_turns(methods, repeats):
    """Run each method `repeats` times, alternating which goes first. Returns {name: {"s":
    median seconds, "cpu_s": median CPU seconds of this process, "out": the last result, "mib":
    memory added by the timed runs}}. CPU time counts only the time the process was running:
    on a busy machine it moves less than the clock (with one thread; with more, it also counts
    threads waiting for each other)."""
    results = {name: dict(all=[], cpu=[]) for name in methods}
    for run in methods.values():
        run()                                                           # warm-up
    for r in range(repeats):
        for name in (list(methods) if r % 2 == 0 else list(methods)[::-1]):
            with RssGrowth() as rss:
                start, cpu_start = time.perf_counter(), time.process_time()
                results[name]["out"] = methods[name]()
                results[name]["cpu"].append(time.process_time() - cpu_start)
                results[name]["all"].append(time.perf_counter() - start)
            results[name]["mib"] = rss.mib
    for result in results.values():
        result["s"] = statistics.median(result["all"])
        result["cpu_s"] = statistics.median(result["cpu"])
    return results


def bench_prompt(ours, hf, prompt):
    """One forward over the prompt ids, logits of every position (the same work for both)."""
    return {"minillm": lambda: ours(prompt)[0], "hf": lambda: hf(input_ids=prompt).logits}


def bench_greedy(ours, hf, prompt, new_tokens):
    """Greedy generation of exactly new_tokens tokens, each model with its own KV cache."""
    return {
        "minillm": lambda: generate(ours, prompt, new_tokens, greedy=True, use_cache=True),
        "hf": lambda: hf.generate(prompt, attention_mask=torch.ones_like(prompt),
                                  max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                  do_sample=False, use_cache=True, pad_token_id=0),
    }


def kv_cache_bytes(model, prompt, new_tokens):
    """The bytes a KVCache holds after reading the prompt and new_tokens more tokens, one at a
    time (all layers, keys and values), and how many positions that is."""
    cache = KVCache(model.cfg.n_layers)
    with torch.no_grad():
        model(prompt, cache=cache)
        for token in torch.randint(model.cfg.vocab_size, (new_tokens,)):
            model(token.view(1, 1), cache=cache)
    held = [t for t in cache.keys + cache.values if t is not None]
    return sum(t.numel() * t.element_size() for t in held), cache.seq_len()


def bench_kv_cache(ours, prompt, new_tokens):
    """{"grouped"/"full": (bytes, positions, kv_heads)}: SmolLM2's cache against the cache of a
    same-size model whose every query head has its own key/value head (random weights)."""
    full_cfg = dataclasses.replace(ours.cfg, n_kv_heads=None)
    torch.manual_seed(0)
    full = DecoderLM(full_cfg).eval()
    grouped = (*kv_cache_bytes(ours, prompt, new_tokens), ours.cfg.n_kv_heads or ours.cfg.n_heads)
    return {"grouped": grouped,
            "full": (*kv_cache_bytes(full, prompt, new_tokens), full_cfg.n_heads)}


def bench_smollm2(plan):
    """Every SmolLM2 row: {"load", "prompt", "greedy", "kv", "prompt_len", "logit_diff",
    "name"}."""
    loaders = load_real_pair() if plan["real"] else load_tiny_pair()
    print("  loading ...", flush=True)
    load, models = bench_load(loaders, plan["load_repeats"])
    ours, tokenizer = models["minillm"]
    hf = models["hf"]
    if tokenizer is not None:
        prompt = torch.tensor([real_prompt_ids(tokenizer, plan["prompt_tokens"])])
    else:
        prompt = torch.randint(ours.cfg.vocab_size, (1, plan["prompt_tokens"]),
                               generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        print("  prompt processing ...", flush=True)
        prompt_runs = take_turns(bench_prompt(ours, hf, prompt), plan["repeats"])
        print("  greedy generation ...", flush=True)
        greedy = take_turns(bench_greedy(ours, hf, prompt, plan["new_tokens"]), plan["repeats"])
    print("  KV cache ...", flush=True)
    kv = bench_kv_cache(ours, prompt, plan["new_tokens"])
    name = ("SmolLM2-135M-Instruct (GGUF, float32)" if plan["real"] else
            "tiny random grouped-query Llama (--quick stand-in for SmolLM2)")
    return dict(load=load, prompt=prompt_runs, greedy=greedy, kv=kv, name=name,
                prompt_len=prompt.shape[1],
                logit_diff=max_abs_diff(prompt_runs["minillm"]["out"],
                                        prompt_runs["hf"]["out"]))


# ---- where the time goes -------------------------------------------------------------------
def profile_training(setup, ids, vocab_size, rows=12):
    """Print torch.profiler's busiest operators (self CPU time) over 3 training steps of each
    twin, after 2 untimed ones: where minillm and HF spend their time differently."""
    from torch.profiler import ProfilerActivity, profile

    data = batches(ids, setup, 5, seed=1)
    ours, hf = twin_models(setup, vocab_size)
    for name, model in zip(("minillm", "plain", "HF"), (ours, from_minillm(ours), hf)):
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
        train_steps(logits_of(model), optimizer, data[:2])
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            train_steps(logits_of(model), optimizer, data[2:])
        print(f"\n{name}, {setup.describe()}: 3 training steps, busiest operators")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


# ---- the report ----------------------------------------------------------------------------
def mib(value):
    return "n/a" if value is None else f"{value:,.0f} MiB"


def training_table(results, plan):
    lines = [f"### Training: forward + backward + AdamW step (float32), tokens/s, median of "
             f"{plan['repeats']} steps each, the models taking turns step by step",
             "",
             "| config | minillm DecoderLM | plain PyTorch GPT | minillm / plain "
             "| HF GPT2LMHeadModel (sdpa) | minillm / HF "
             "| HF with fused GELU | minillm / HF fused GELU "
             "| by CPU time: minillm / plain | minillm / HF "
             "| memory added: minillm | memory added: HF |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for setup, runs in results:
        ours, plain = runs["minillm"]["tokens_s"], runs["plain"]["tokens_s"]
        hf, fused = runs["hf"]["tokens_s"], runs["hf_fused_gelu"]["tokens_s"]
        cpu = {name: run["cpu_tokens_s"] for name, run in runs.items()}
        lines.append(f"| {setup.describe()} | {ours:,.0f} | {plain:,.0f} | {ours / plain:.2f}× "
                     f"| {hf:,.0f} | {ours / hf:.2f}× | {fused:,.0f} | {ours / fused:.2f}× | "
                     f"{cpu['minillm'] / cpu['plain']:.2f}× | {cpu['minillm'] / cpu['hf']:.2f}× | "
                     f"{mib(runs['minillm']['mib'])} | {mib(runs['hf']['mib'])} |")
    losses = "; ".join(f"{setup.name}: minillm {runs['minillm']['loss']:.4f}, plain "
                       f"{runs['plain']['loss']:.4f}, HF {runs['hf']['loss']:.4f}, HF fused GELU "
                       f"{runs['hf_fused_gelu']['loss']:.4f}" for setup, runs in results)
    lines += ["", f"Same weights and batches: the loss after the last timed step — {losses}.",
              "Plain PyTorch GPT: benchmarks/plain_gpt.py, the same shape and math as minillm's "
              "model (the same logits, bit for bit) written without any checks: minillm / plain "
              "is what minillm's own code costs. By CPU time: the same ratios from the CPU seconds "
              "the process used per step (time.process_time) instead of the clock's; with one "
              "thread on a busy machine they leave out the time spent waiting for a core.",
              "HF with fused GELU: the same model with `activation_function="
              "\"gelu_pytorch_tanh\"`, GPT-2's default written as separate operations replaced "
              "by PyTorch's fused kernel (the same function up to float rounding)."]
    return lines


def generation_table(setup, results, new_tokens, prompt_len):
    base = results["no_cache"]["tokens_s"]
    same = sum(a == b for a, b in zip(results["cache"]["ids"], results["no_cache"]["ids"]))
    same_hf = sum(a == b for a, b in zip(results["cache"]["ids"], results["hf"]["ids"]))
    rows = [("minillm `generate`, KV cache", "cache"),
            ("minillm `generate`, no cache", "no_cache"),
            ("HF `generate` (its KV cache)", "hf")]
    lines = [f"### Generation: greedy, {new_tokens} new tokens from a prompt of {prompt_len} "
             f"tokens, batch 1, {setup.name} model (d={setup.d_model}, {setup.n_layers} layers)",
             "",
             "| method | tokens/s | vs. minillm without cache | memory added |",
             "|---|---|---|---|"]
    for label, key in rows:
        r = results[key]
        lines.append(f"| {label} | {r['tokens_s']:,.0f} | {r['tokens_s'] / base:.1f}× | "
                     f"{mib(r['mib'])} |")
    lines += ["", f"The same tokens: cached = uncached at {same}/{new_tokens} positions, "
              f"minillm = HF at {same_hf}/{new_tokens}."]
    return lines


def smollm2_table(r, plan):
    load, prompt, greedy = r["load"], r["prompt"], r["greedy"]
    n_prompt, n_new = r["prompt_len"], plan["new_tokens"]
    ours_ids = greedy["minillm"]["out"][0, -n_new:]
    same = int((ours_ids == greedy["hf"]["out"][0, -n_new:]).sum())

    def row(label, runs, n, digits=1):
        ours, theirs = n / runs["minillm"]["s"], n / runs["hf"]["s"]
        by_cpu = runs["hf"]["cpu_s"] / runs["minillm"]["cpu_s"]
        return (f"| {label} | {ours:,.{digits}f} tokens/s | {theirs:,.{digits}f} tokens/s | "
                f"{ours / theirs:.2f}× | {by_cpu:.2f}× |")

    lines = [f"### A real model: {r['name']}, minillm against HF transformers",
             "",
             "| measurement | minillm | HF | speed, minillm / HF | the same by CPU time |",
             "|---|---|---|---|---|",
             f"| load: the file into a float32 model (median of {plan['load_repeats']}, taking "
             f"turns) | {load['minillm']['s']:.2f} s | {load['hf']['s']:.2f} s | "
             f"{load['hf']['s'] / load['minillm']['s']:.2f}× | |",
             f"| memory added by loading | {mib(load['minillm']['mib'])} | "
             f"{mib(load['hf']['mib'])} | | |",
             row(f"prompt processing: one forward over {n_prompt} tokens (median of "
                 f"{plan['repeats']})", prompt, n_prompt),
             row(f"greedy generation: {n_new} new tokens after the {n_prompt}-token prompt, "
                 f"KV cache (median of {plan['repeats']})", greedy, n_new, 2),
             f"| memory added by generation | {mib(greedy['minillm']['mib'])} | "
             f"{mib(greedy['hf']['mib'])} | | |",
             "",
             f"The same model: the prompt's logits agree to max |difference| = "
             f"{r['logit_diff']:.1e}, and the greedy tokens at {same}/{n_new} positions. "
             "Generation time includes reading the prompt (both generators do). A speed ratio "
             "above 1 means minillm is faster; the last column divides the CPU seconds the "
             "process used instead of the clock's (less moved by other processes on a busy "
             "machine, with one thread).",
             "",
             *kv_cache_table(r["kv"], n_prompt, n_new)]
    return lines


def kv_cache_table(kv, n_prompt, n_new):
    (g_bytes, g_len, g_heads), (f_bytes, f_len, f_heads) = kv["grouped"], kv["full"]
    return [f"KV cache after the {n_prompt}-token prompt and {n_new} more tokens "
            f"({g_len} positions), every layer's keys and values, bytes actually held:",
            "",
            "| key/value heads | bytes held | per position |", "|---|---|---|",
            f"| {g_heads} (the model as trained: grouped-query attention) | {g_bytes:,} "
            f"({g_bytes / 2**20:.1f} MiB) | {g_bytes // g_len:,} |",
            f"| {f_heads} (a same-size model, one per query head; random weights) | {f_bytes:,} "
            f"({f_bytes / 2**20:.1f} MiB) | {f_bytes // f_len:,} |",
            "",
            f"Grouped-query attention keeps {f_bytes / g_bytes:.1f}× less in the cache."]


def report(train_results, gen_setup, gen_results, smollm2, plan, quick, load_at_start):
    title = "## Benchmark results" + (" (--quick: a smoke run, not a measurement)" if quick
                                      else "")
    real = [] if smollm2 is None else [*smollm2_table(*smollm2), ""]
    generation = [] if gen_results is None else [
        *generation_table(gen_setup, gen_results, plan["new_tokens"], len(PROMPT)), ""]
    return "\n".join([
        title, "", *machine_lines(load_at_start), "", *load_lines(load_at_start),
        *training_table(train_results, plan), "",
        *generation, *real,
        "Memory added: how far the process's resident memory (RSS) rose above where it stood "
        "just before (training: the warm-up steps, which create gradients and AdamW's state; "
        f"generation: the timed runs). Peak RSS of the whole benchmark process: "
        f"{peak_rss_mib():,.0f} MiB.", ""])


# ---- main ----------------------------------------------------------------------------------
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a tiny model and a few steps: checks the script runs (seconds)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch.set_num_threads (default: all cores, %(default)s here)")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, print torch.profiler's busiest operators in a "
                        "training step of each model (the first training config)")
    parser.add_argument("--smollm2", action=argparse.BooleanOptionalAction, default=True,
                        help="the SmolLM2-135M-Instruct rows against HF from the same GGUF file "
                        "(with --quick: a tiny random grouped-query Llama instead); "
                        "--no-smollm2 skips them")
    parser.add_argument("--training-only", action="store_true",
                        help="the training table alone (no generation, no SmolLM2)")
    parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                        help="only these training configurations (baby, tiny, small, 6x384)")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed training steps per model (default: 15; 2 with --quick)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the Markdown table (default: "
                        "benchmarks/results.md; with --quick or --training-only, nowhere)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    plan = dict(QUICK if args.quick else FULL)
    if args.only:
        plan["train"] = [setup for setup in plan["train"] if setup.name in args.only]
        if not plan["train"]:
            raise SystemExit(f"--only names no training configuration of this plan: {args.only}")
    if args.steps is not None:
        plan["repeats"] = args.steps
    load_at_start = load_average()
    print(f"torch threads: {torch.get_num_threads()}", flush=True)
    tokenizer = CharTokenizer.train("".join(d.text for d in pydoc_corpus()))
    ids = concat_ids(pydoc_corpus(), tokenizer.encode)
    train_results = []
    for setup in plan["train"]:
        print(f"training: {setup.describe()} ...", flush=True)
        train_results.append((setup, bench_training(setup, ids, tokenizer.vocab_size, plan)))
    gen_results = smollm2 = None
    if not args.training_only:
        print("generation ...", flush=True)
        gen_results = bench_generation(plan["generate"], tokenizer.vocab_size,
                                       tokenizer.encode(PROMPT), plan["new_tokens"],
                                       plan["generate_repeats"])
    if args.smollm2 and not args.training_only:
        real_plan = SMOLLM2_QUICK if args.quick else SMOLLM2
        print("SmolLM2 ..." if real_plan["real"] else "tiny grouped-query Llama ...", flush=True)
        smollm2 = (bench_smollm2(real_plan), real_plan)
    text = report(train_results, plan["generate"], gen_results, smollm2, plan, args.quick,
                  load_at_start)
    print(text)
    out = args.out or (None if args.quick or args.training_only else HERE / "results.md")
    if out is not None:
        out.write_text(text, encoding="utf-8")
        print(f"written to {out}")
    if args.profile:
        profile_training(plan["train"][0], ids, tokenizer.vocab_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
