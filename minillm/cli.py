"""The command line, for what outgrows a notebook: `python -m minillm train` and `generate`.

    python -m minillm train --corpus pydoc --tokenizer char --steps 2000 --out runs/pydoc-char
    python -m minillm generate --run runs/pydoc-char --prompt "The " --max-new-tokens 200

`train` reads a corpus, trains a tokenizer, builds a DecoderLM from a preset and trains it with
`minillm.train.train` and `causal_lm_loss`. Everything lands in the run folder (--out):

    run.json          the settings that define the run (corpus, tokenizer, model, schedule, seed)
    tokenizer/        the tokenizer (plain JSON / text files)
    config.json, model.safetensors, optimizer.*, rng.safetensors    the checkpoint

A checkpoint is written at every evaluation and at the end, so a run that stopped (Ctrl-C, or
--stop-after) continues with `train --out FOLDER --resume` and ends with exactly the weights of
an uninterrupted run: the resumed run reads its settings back from run.json.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from minillm.checkpoint import load_checkpoint
from minillm.config import TransformerConfig
from minillm.data import (
    causal_lm_batches,
    concat_ids,
    eval_windows,
    pydoc_corpus,
    split_documents,
    stdlib_corpus,
    text_file_corpus,
)
from minillm.generate import generate
from minillm.objectives import causal_lm_loss
from minillm.tokenizers import BPETokenizer, CharTokenizer, load_tokenizer
from minillm.train import TrainConfig, batches_by_step, evaluate, pick_device, train
from minillm.transformer import DecoderLM

PROG = "python -m minillm"
PRESETS = ("tiny", "gpt2_like", "llama_like")
TOKENIZER_KINDS = ("char", "bpe")
RUN_FILE = "run.json"
VALID_FRACTION = 0.1

# The settings that define a training run, with their defaults. A resumed run takes them from
# run.json; None means "derived": from the preset (model sizes) or from the tokenizer kind.
RUN_DEFAULTS = {
    "corpus": "pydoc", "tokenizer": "char", "vocab_size": None, "preset": "tiny",
    "d_model": None, "n_layers": None, "n_heads": None, "d_ff": None, "dropout": 0.0,
    "seq_len": 128, "batch_size": 16, "steps": 500, "lr": 1e-3, "warmup": 50, "weight_decay": 0.1,
    "eval_every": 100, "eval_batches": 20, "seed": 0,
}
BPE_VOCAB_SIZE = 1000


# ---- the parser ----------------------------------------------------------------------------
def build_parser():
    """argparse parser with the subcommands train and generate."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Train a small GPT-style language model on a corpus that ships "
        "with Python (or your own text file), and generate text with it.",
        epilog=f"Run '{PROG} COMMAND --help' for the options of each command.")
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    _add_train_parser(commands)
    _add_generate_parser(commands)
    return parser


def _setting(parser, flag, help_text, **kwargs):
    """A run setting: absent from args unless given (so --resume can tell what was given),
    its default from RUN_DEFAULTS shown in the help."""
    name = flag.lstrip("-").replace("-", "_")
    default = RUN_DEFAULTS[name]
    shown = "" if default is None else f" (default: {default})"
    parser.add_argument(flag, default=argparse.SUPPRESS, help=help_text + shown, **kwargs)


def _add_train_parser(commands):
    p = commands.add_parser(
        "train", help="train a language model and save it to a run folder",
        description="Train a decoder-only language model (GPT-style, next-token prediction) and "
        "save the checkpoint and the tokenizer into --out. Prints the validation loss and "
        "perplexity at every evaluation.")
    data = p.add_argument_group("data and tokenizer")
    _setting(data, "--corpus", "'pydoc' (the language reference behind help(), prose), "
             "'stdlib' (the standard library's source, code) - both the course's frozen copy "
             "of Python 3.11.7's text in assets/corpora/ - or a path to a UTF-8 .txt file "
             "(cut into paragraphs at blank lines); 10%% of the documents are held out for "
             "validation", metavar="{pydoc,stdlib,FILE.txt}")
    _setting(data, "--tokenizer", "one token per character, or byte-level BPE",
             choices=TOKENIZER_KINDS)
    _setting(data, "--vocab-size", f"BPE only: vocabulary size, special tokens and the 256 "
             f"bytes included (default: {BPE_VOCAB_SIZE})", type=int, metavar="N")
    model = p.add_argument_group("model (the preset's values unless given)")
    _setting(model, "--preset", "tiny: 64 wide, 2 layers; gpt2_like: LayerNorm, tanh-GELU, "
             "learned positions; llama_like: RMSNorm, SwiGLU, rotary positions",
             choices=PRESETS)
    preset = TransformerConfig()
    _setting(model, "--d-model", f"width of the residual stream (default: the preset's, "
             f"{preset.d_model})", type=int, metavar="N")
    _setting(model, "--n-layers", f"number of Transformer blocks (default: the preset's, "
             f"{preset.n_layers})", type=int, metavar="N")
    _setting(model, "--n-heads", f"attention heads, must divide --d-model (default: the "
             f"preset's, {preset.n_heads})", type=int, metavar="N")
    _setting(model, "--d-ff", "feed-forward hidden width (default: 4 x d_model; about "
             "8/3 x d_model for llama_like)", type=int, metavar="N")
    _setting(model, "--dropout", "dropout probability while training", type=float, metavar="P")
    run = p.add_argument_group("training")
    _setting(run, "--seq-len", "tokens per training window, and the model's context length",
             type=int, metavar="N")
    _setting(run, "--batch-size", "windows per batch", type=int, metavar="N")
    _setting(run, "--steps", "optimizer steps in the whole run", type=int, metavar="N")
    _setting(run, "--lr", "peak learning rate (AdamW, warm-up then cosine decay)", type=float)
    _setting(run, "--warmup", "linear warm-up steps", type=int, metavar="N")
    _setting(run, "--weight-decay", "AdamW's decoupled weight decay on matrices and "
             "embeddings (not on biases and norm gains)", type=float, metavar="W")
    _setting(run, "--eval-every", "evaluate, print a line and save a checkpoint every N steps",
             type=int, metavar="N")
    _setting(run, "--eval-batches", "validation batches per evaluation (the same ones every "
             "time)", type=int, metavar="N")
    _setting(run, "--seed", "seeds the initial weights, the batches and dropout (the "
             "train/validation split is the same for every seed, so runs compare)", type=int)
    where = p.add_argument_group("where and how")
    where.add_argument("--out", required=True, metavar="FOLDER",
                       help="run folder for the checkpoint, tokenizer and run.json, e.g. "
                       "runs/pydoc-char (must not hold a run yet, unless --resume)")
    where.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last checkpoint, with the "
                       "settings in its run.json; ends with the weights an uninterrupted run "
                       "would have")
    where.add_argument("--stop-after", type=int, metavar="N",
                       help="stop (and save) after N steps, as an interruption would; the "
                       "schedule still spans --steps, and --resume continues")
    _add_machine_options(where)
    where.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=train_command)


def _add_generate_parser(commands):
    p = commands.add_parser(
        "generate", help="continue a prompt with a trained model",
        description="Load the checkpoint and tokenizer of a run folder and print the prompt "
        "followed by the generated text. Past the model's context length, generation "
        "continues from the last half of the context.")
    p.add_argument("--run", required=True, metavar="FOLDER",
                   help="a run folder written by 'train' (e.g. runs/pydoc-char)")
    p.add_argument("--prompt", required=True, help="the text to continue, e.g. 'def '")
    p.add_argument("--max-new-tokens", type=int, default=200, metavar="N",
                   help="tokens to generate (default: 200)")
    p.add_argument("--temperature", type=float, default=1.0, metavar="T",
                   help="divide the logits by T before sampling: below 1 sharper, above 1 "
                   "flatter (default: 1.0)")
    p.add_argument("--top-k", type=int, metavar="K",
                   help="sample only from the K most likely tokens (default: all)")
    p.add_argument("--top-p", type=float, metavar="P",
                   help="sample only from the most likely tokens whose probability reaches P "
                   "(nucleus sampling; default: all)")
    p.add_argument("--greedy", action="store_true",
                   help="always take the most likely token (no sampling)")
    p.add_argument("--seed", type=int, default=0, help="seeds the sampling (default: 0)")
    p.add_argument("--no-cache", action="store_true",
                   help="run the whole sequence again at every step instead of using the KV "
                   "cache (same text, slower)")
    _add_machine_options(p)
    p.set_defaults(handler=generate_command)


def _add_machine_options(parser):
    parser.add_argument("--device", default="auto",
                        help="'auto' (cuda, then mps, then cpu), 'cpu', 'cuda' or 'mps' "
                        "(default: auto)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads for torch (default: torch's choice); 1 is often "
                        "fastest for tiny models on a busy laptop")


# ---- entry point ---------------------------------------------------------------------------
def main(argv=None) -> int:
    """Run the command line on argv (default: sys.argv[1:]). Returns the exit status: 0 done,
    1 an error explained on stderr, 2 no command given (help is printed). Malformed options
    exit through argparse (status 2, usage on stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 1


# ---- train ---------------------------------------------------------------------------------
def train_command(args) -> int:
    out = Path(args.out)
    settings = _resumed_settings(args, out) if args.resume else _new_settings(args, out)
    tokenizer, (train_docs, train_ids), (valid_docs, valid_ids) = _data(settings, out,
                                                                        args.resume)
    get_batch = _batches(train_ids, settings)
    valid_batches = _valid_batches(valid_ids, settings)
    train_cfg = TrainConfig(steps=settings["steps"], batch_size=settings["batch_size"],
                            lr=settings["lr"], warmup_steps=settings["warmup"],
                            weight_decay=settings["weight_decay"],
                            eval_every=settings["eval_every"], seed=settings["seed"],
                            device=args.device)
    if args.resume:
        model, _, state = load_checkpoint(out)
    else:
        model, state = _new_run(settings, tokenizer, out), None
    _print_header(settings, tokenizer, model, (train_docs, train_ids), (valid_docs, valid_ids),
                  state)
    start = 0 if state is None else state["step"]
    if start >= settings["steps"]:
        print(f"{out} is already trained to step {start} of {settings['steps']}: nothing to do")
        return 0
    history = train(
        model, causal_lm_loss, get_batch, train_cfg,
        eval_fn=lambda m: evaluate(m, causal_lm_loss, valid_batches), state=state,
        checkpoint_dir=out, stop_after=args.stop_after,
        callback=_progress_printer(settings, time.perf_counter()),
        progress=not args.no_progress)
    _print_summary(history, settings, out)
    return 0


def _data(settings, out, resume):
    """(tokenizer, (train docs, train ids), (valid docs, valid ids)). A resumed run reads its
    tokenizer back; a new one trains it. Documents are joined with </s> between them."""
    train_docs, valid_docs = split_documents(_read_corpus(settings["corpus"]), VALID_FRACTION)
    if resume:
        tokenizer = load_tokenizer(out / "tokenizer")
    else:
        tokenizer = _train_tokenizer(settings, train_docs, valid_docs)
    sep_id = tokenizer.special_tokens["</s>"]
    return (tokenizer, (train_docs, concat_ids(train_docs, tokenizer.encode, sep_id)),
            (valid_docs, concat_ids(valid_docs, tokenizer.encode, sep_id)))


def _new_run(settings, tokenizer, out):
    """The freshly initialised DecoderLM; the tokenizer and run.json are written to out."""
    torch.manual_seed(settings["seed"])   # the initial weights
    model = DecoderLM(_model_config(settings, tokenizer.vocab_size))
    tokenizer.save(out / "tokenizer")
    (out / RUN_FILE).write_text(json.dumps(settings, indent=2) + "\n")
    return model


def _new_settings(args, out):
    """RUN_DEFAULTS overridden by the options given, checked; out must not hold a run yet."""
    if (out / RUN_FILE).exists() or (out / "config.json").exists():
        raise ValueError(f"{out} already holds a run: continue it with --resume, or choose "
                         "another --out")
    settings = {**RUN_DEFAULTS, **_given(args)}
    if settings["tokenizer"] == "bpe" and settings["vocab_size"] is None:
        settings["vocab_size"] = BPE_VOCAB_SIZE
    if settings["tokenizer"] == "char" and settings["vocab_size"] is not None:
        raise ValueError("--vocab-size is for --tokenizer bpe: a char tokenizer's vocabulary "
                         "is the set of characters in the corpus")
    if settings["seq_len"] < 2:
        raise ValueError(f"--seq-len must be at least 2, got {settings['seq_len']}")
    for name in ("eval_batches", "steps", "batch_size", "eval_every"):
        if settings[name] < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got "
                             f"{settings[name]}")
    _model_config(settings, vocab_size=1)   # a bad model size fails now, not after the data
    return settings


def _resumed_settings(args, out):
    """The settings saved in out/run.json; an option given that contradicts them is an error
    (a changed setting would not continue the same run)."""
    if not (out / RUN_FILE).is_file():
        raise ValueError(f"there is no run to resume in {out} (no {RUN_FILE}); start one "
                         "without --resume")
    if not (out / "config.json").is_file():
        raise ValueError(f"the run in {out} stopped before its first checkpoint; delete the "
                         "folder and start it again")
    # a run.json written before a setting existed holds that setting's default
    settings = {**RUN_DEFAULTS, **json.loads((out / RUN_FILE).read_text())}
    changed = [f"--{name.replace('_', '-')} {value} (the run has {settings.get(name)})"
               for name, value in _given(args).items() if settings.get(name) != value]
    if changed:
        raise ValueError(f"--resume continues {out} with the settings in its {RUN_FILE}; "
                         f"these options differ: {'; '.join(changed)}")
    return settings


def _given(args):
    return {name: getattr(args, name) for name in RUN_DEFAULTS if hasattr(args, name)}


def _read_corpus(corpus):
    if corpus == "pydoc":
        return pydoc_corpus()
    if corpus == "stdlib":
        return stdlib_corpus()
    path = Path(corpus)
    if not path.is_file():
        raise ValueError(f"--corpus {corpus!r} is neither 'pydoc', 'stdlib' nor a text file "
                         f"(no file at {path.resolve()})")
    docs = text_file_corpus(path)
    if len(docs) < 2:
        raise ValueError(f"{path} has a single paragraph; 10% of the paragraphs are held out "
                         "for validation, so it needs at least 2 (separated by a blank line)")
    return docs


def _train_tokenizer(settings, train_docs, valid_docs):
    if settings["tokenizer"] == "char":
        # All the text, validation included: a character the tokenizer never saw could not be
        # encoded at all. Knowing which characters exist reveals next to nothing about the text.
        return CharTokenizer.train("".join(d.text for d in train_docs + valid_docs))
    return BPETokenizer.train([d.text for d in train_docs], settings["vocab_size"])


def _valid_batches(valid_ids, settings):
    seq_len = settings["seq_len"]
    if len(valid_ids) < seq_len + 1:
        raise ValueError(f"the validation documents hold only {len(valid_ids)} tokens, fewer "
                         f"than one window of --seq-len {seq_len} + 1: use a smaller --seq-len "
                         "or more text")
    return eval_windows(valid_ids, seq_len, settings["batch_size"])[:settings["eval_batches"]]


def _batches(train_ids, settings):
    if len(train_ids) < settings["seq_len"] + 1:
        raise ValueError(f"the training documents hold only {len(train_ids)} tokens, fewer "
                         f"than one window of --seq-len {settings['seq_len']} + 1")
    return batches_by_step(lambda: causal_lm_batches(
        train_ids, settings["seq_len"], settings["batch_size"], seed=settings["seed"]))


def model_config(preset, vocab_size, seq_len, d_model=None, n_layers=None, n_heads=None,
                 d_ff=None, dropout=0.0):
    """The preset's TransformerConfig, sized for the tokenizer and the window, with the sizes
    given; d_ff defaults to 4 x d_model (about 8/3 x d_model for llama_like's SwiGLU, which has
    three matrices instead of two, rounded up to a multiple of 4)."""
    sizes = {name: value for name, value in
             (("d_model", d_model), ("n_layers", n_layers), ("n_heads", n_heads))
             if value is not None}
    width = sizes.get("d_model", TransformerConfig().d_model)
    if d_ff is None:
        d_ff = 4 * math.ceil(8 * width / 3 / 4) if preset == "llama_like" else 4 * width
    make = getattr(TransformerConfig, preset)
    return make(vocab_size=vocab_size, max_seq_len=seq_len, d_ff=d_ff, dropout=dropout, **sizes)


def _model_config(settings, vocab_size):
    return model_config(settings["preset"], vocab_size, settings["seq_len"],
                        settings["d_model"], settings["n_layers"], settings["n_heads"],
                        settings["d_ff"], settings["dropout"])


# ---- what train prints ---------------------------------------------------------------------
def _print_header(settings, tokenizer, model, train_part, valid_part, state):
    cfg = model.cfg
    n_params = sum(p.numel() for p in model.parameters())
    (train_docs, train_ids), (valid_docs, valid_ids) = train_part, valid_part
    print(f"corpus {settings['corpus']}: {len(train_docs)} training documents "
          f"({len(train_ids):,} tokens), {len(valid_docs)} validation documents "
          f"({len(valid_ids):,} tokens)")
    print(f"tokenizer {settings['tokenizer']}: {tokenizer.vocab_size} tokens; "
          f"model {settings['preset']}: d_model={cfg.d_model}, n_layers={cfg.n_layers}, "
          f"n_heads={cfg.n_heads}, d_ff={cfg.d_ff}, context {cfg.max_seq_len}, "
          f"{n_params / 1e6:.2f} M parameters; torch threads {torch.get_num_threads()}")
    if state is not None:
        print(f"resuming at step {state['step']} of {settings['steps']}")


def _progress_printer(settings, started):
    """callback for train: one line at every evaluation, written above the progress bar."""
    def print_progress(step, history):
        if not history["eval_step"] or history["eval_step"][-1] != step:
            return
        recent = history["loss"][-settings["eval_every"]:]
        tqdm.write(f"step {step:>6}/{settings['steps']}  train loss "
                   f"{sum(recent) / len(recent):.3f}  val loss {history['eval_loss'][-1]:.3f}  "
                   f"val ppl {history['eval_ppl'][-1]:8.2f}  lr {history['lr'][-1]:.1e}  "
                   f"{time.perf_counter() - started:6.1f} s")
    return print_progress


def _print_summary(history, settings, out):
    step = history["step"][-1]
    stopped = "" if step == settings["steps"] else " (stopped; continue with --resume)"
    print(f"step {step} of {settings['steps']}{stopped}: validation loss "
          f"{history['eval_loss'][-1]:.3f}, perplexity {history['eval_ppl'][-1]:.2f}; "
          f"checkpoint and tokenizer saved in {out}")


# ---- generate ------------------------------------------------------------------------------
def generate_command(args) -> int:
    run = Path(args.run)
    if not run.is_dir():
        raise ValueError(f"there is no run folder at {run}: train one with "
                         f"'{PROG} train --out {run} ...'")
    if not args.prompt:
        raise ValueError("the prompt is empty: give at least one character to continue, "
                         "e.g. --prompt 'def '")
    tokenizer = load_tokenizer(run / "tokenizer")
    device = pick_device(args.device)
    model, cfg, state = load_checkpoint(run, device=device)
    prompt_ids = _encode_prompt(tokenizer, args.prompt)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    started = time.perf_counter()
    ids = generate_in_windows(
        model, torch.tensor([prompt_ids], device=device), args.max_new_tokens,
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, greedy=args.greedy,
        use_cache=not args.no_cache, generator=generator)
    seconds = time.perf_counter() - started
    print(tokenizer.decode(ids[0].tolist()))
    n_new = ids.shape[1] - len(prompt_ids)
    print(f"{run} (step {state['step']}): {n_new} new tokens in {seconds:.2f} s "
          f"({n_new / max(seconds, 1e-9):,.0f} tokens/s, KV cache "
          f"{'off' if args.no_cache else 'on'})", file=sys.stderr)
    return 0


def _encode_prompt(tokenizer, prompt):
    try:
        return tokenizer.encode(prompt)
    except ValueError as error:
        raise ValueError(f"the prompt cannot be encoded by this run's {tokenizer.kind} "
                         f"tokenizer: {error}") from None


def generate_in_windows(model, prompt_ids, max_new_tokens, **options):
    """generate() for any length: while prompt + new tokens fit in the model's max_seq_len it is
    one call; past that, each call continues from the last max_seq_len // 2 tokens (the model has
    no positions beyond its context). options: generate's sampling arguments. Cached and
    uncached generation cut the text at the same places, so they still give the same tokens.
    prompt_ids: (batch, prompt_len) -> (batch, prompt_len + max_new_tokens) LongTensor."""
    window = model.cfg.max_seq_len
    ids, remaining = prompt_ids, max_new_tokens
    while remaining > 0:
        fits = ids.shape[1] + remaining <= window
        context = ids if fits else ids[:, -max(1, window // 2):]
        n = min(remaining, window - context.shape[1])
        new = generate(model, context, n, **options)[:, context.shape[1]:]
        ids, remaining = torch.cat([ids, new], dim=1), remaining - n
    return ids
