"""The command line, for what outgrows a notebook: `python -m minillm train` and `generate`.

    python -m minillm train --corpus pydoc --tokenizer char --steps 2000 --out runs/pydoc-char
    python -m minillm generate --run runs/pydoc-char --prompt "The " --max-new-tokens 200

`train` reads a corpus, trains a tokenizer, builds a DecoderLM from a preset and trains it with
`minillm.train.train` and `causal_lm_loss`. Everything lands in the run folder (--out):

    run.json          the settings that define the run (corpus, tokenizer, model, schedule, seed,
                      threads, device) and the sha256 of the corpus and of the tokenizer
    tokenizer/        the tokenizer (plain JSON / text files)
    config.json, model.safetensors, optimizer.*, rng.safetensors    the checkpoint

A checkpoint is written at every evaluation and at the end, so a run that stopped (Ctrl-C, or
--stop-after) continues with `train --out FOLDER --resume` and ends with exactly the weights of
an uninterrupted run: the resumed run reads its settings back from run.json, and refuses to
continue on a corpus or a tokenizer that changed, or with another thread count or device.
Every option is checked before anything is written, so a corrected command is never refused.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from minillm.checkpoint import load_checkpoint
from minillm.config import PRESETS, TransformerConfig, check_int, check_number, model_config
from minillm.data import (
    causal_lm_batches,
    concat_ids,
    eval_windows,
    pydoc_corpus,
    split_documents,
    stdlib_corpus,
    text_file_corpus,
)
from minillm.files import atomic_write
from minillm.generate import generate_in_windows
from minillm.objectives import causal_lm_loss
from minillm.tokenizers import BPETokenizer, CharTokenizer, load_tokenizer
from minillm.train import TrainConfig, batches_by_step, evaluate, pick_device, train
from minillm.transformer import DecoderLM

PROG = "python -m minillm"
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
    _setting(run, "--warmup", "linear warm-up steps, from lr 0 at step 0 to the peak at step N",
             type=int, metavar="N")
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
    1 an error explained on stderr in one line, 2 no command given (help is printed), 130
    interrupted (Ctrl-C; train says where it stopped). Malformed options exit through argparse
    (status 2, usage on stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    try:
        return args.handler(args)
    except (ValueError, OSError, FloatingPointError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted{_where_it_stopped(args)}", file=sys.stderr)
        return 130


def _where_it_stopped(args):
    """For train: what the run folder holds after an interruption, and how to continue."""
    if args.command != "train":
        return ""
    out = Path(args.out)
    step = _saved_step(out)
    if step is None:
        return (f"; {out} holds no checkpoint yet, so nothing is lost: run the same command "
                "again to start afresh")
    return (f"; the checkpoint in {out} holds step {step}: continue with "
            f"'{PROG} train --out {out} --resume'")


def _saved_step(out):
    """The step of the checkpoint in out, or None if there is none (or it cannot be read)."""
    try:
        return json.loads((out / "config.json").read_text())["step"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---- train ---------------------------------------------------------------------------------
def train_command(args) -> int:
    """Every option and file is checked before anything is written to --out, so a corrected
    command is never refused because a failed one left run.json or a tokenizer behind."""
    out = Path(args.out)
    _check_out_folder(out, args.resume)
    settings = _resumed_settings(args, out) if args.resume else _new_settings(args, out)
    _use_threads(settings, args.threads)
    device = _run_device(settings, args.device)
    train_cfg = _train_config(settings, device)
    if args.stop_after is not None and args.stop_after < 1:
        raise ValueError(f"--stop-after must be at least 1, got {args.stop_after}")
    docs = _read_corpus(settings["corpus"])
    _check_corpus_unchanged(settings, docs)
    tokenizer, (train_docs, train_ids), (valid_docs, valid_ids) = _data(settings, docs, out,
                                                                        args.resume)
    get_batch = _batches(train_ids, settings)
    valid_batches = _valid_batches(valid_ids, settings)
    if args.resume:
        model, _, state = load_checkpoint(out)
        _check_tokenizer_belongs(settings, tokenizer, model, out)
    else:
        model, state = _new_run(settings, tokenizer, docs, out), None
    _print_header(settings, tokenizer, model, (train_docs, train_ids), (valid_docs, valid_ids),
                  state)
    start = 0 if state is None else state["step"]
    stop = settings["steps"] if args.stop_after is None else args.stop_after
    if start >= min(stop, settings["steps"]):
        print(f"{out} is already trained to step {start} of {settings['steps']}: nothing to do")
        return 0
    try:
        history = train(
            model, causal_lm_loss, get_batch, train_cfg,
            eval_fn=lambda m: evaluate(m, causal_lm_loss, valid_batches), state=state,
            checkpoint_dir=out, stop_after=args.stop_after,
            callback=_progress_printer(settings, time.perf_counter()),
            progress=not args.no_progress)
    except FloatingPointError as error:
        raise ValueError(f"training diverged: {error} (--lr, --warmup); "
                         f"{_kept_checkpoint(out)}") from None
    _print_summary(history, settings, out)
    return 0


def _kept_checkpoint(out):
    step = _saved_step(out)
    if step is None:
        return f"no checkpoint was saved in {out}"
    return f"the checkpoint in {out} keeps the last good weights, at step {step}"


def _check_out_folder(out, resume):
    """--out must be a folder this process can write in (created here for a new run)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: give a folder for the run")
    if not resume:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cannot create the run folder --out {out}: "
                             f"{error.strerror or error}") from None
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write in the run folder --out {out}: permission denied")


def _use_threads(settings, threads):
    """torch's CPU thread count: the one the run was started with. A different count adds
    floating-point numbers in another order, so a resumed run would not be bit-identical."""
    saved = settings.get("threads")
    if threads is not None and saved is not None and threads != saved:
        raise ValueError(f"--threads {threads} differs from the run's {saved}: another thread "
                         "count changes the sums' rounding, so the resumed run would not end "
                         f"with an uninterrupted run's weights; give --threads {saved}")
    threads = threads or saved
    if threads is not None:
        torch.set_num_threads(threads)
    settings["threads"] = torch.get_num_threads()


def _run_device(settings, preference):
    """The device to train on; a resumed run must use the kind it started on (cpu, cuda, mps):
    their kernels round differently."""
    device = pick_device(preference)
    saved = settings.get("device")
    if saved is not None and device.type != saved:
        raise ValueError(f"the run was trained on {saved}, and --device {preference} gives "
                         f"{device.type}: resume it with --device {saved}")
    settings["device"] = device.type
    return device


def _train_config(settings, device):
    return TrainConfig(steps=settings["steps"], batch_size=settings["batch_size"],
                       lr=settings["lr"], warmup_steps=settings["warmup"],
                       weight_decay=settings["weight_decay"], eval_every=settings["eval_every"],
                       seed=settings["seed"], device=str(device))


def _data(settings, docs, out, resume):
    """(tokenizer, (train docs, train ids), (valid docs, valid ids)). A resumed run reads its
    tokenizer back; a new one trains it. Documents are joined with </s> between them."""
    train_docs, valid_docs = split_documents(docs, VALID_FRACTION)
    if resume:
        tokenizer = load_tokenizer(out / "tokenizer")
        _check_tokenizer_unchanged(settings, out)
    else:
        tokenizer = _train_tokenizer(settings, train_docs, valid_docs)
    sep_id = tokenizer.special_tokens["</s>"]
    return (tokenizer, (train_docs, concat_ids(train_docs, tokenizer.encode, sep_id)),
            (valid_docs, concat_ids(valid_docs, tokenizer.encode, sep_id)))


def _new_run(settings, tokenizer, docs, out):
    """The freshly initialised DecoderLM; the tokenizer, then run.json (with the fingerprints
    --resume checks: the corpus's and the tokenizer's sha256) are written to out."""
    torch.manual_seed(settings["seed"])   # the initial weights
    model = DecoderLM(_model_config(settings, tokenizer.vocab_size))
    tokenizer.save(out / "tokenizer")
    settings.update(corpus_sha256=corpus_sha256(docs),
                    tokenizer_sha256=folder_sha256(out / "tokenizer"))
    atomic_write(out / RUN_FILE, json.dumps(settings, indent=2) + "\n")
    return model


def corpus_sha256(docs):
    """A fingerprint of the corpus: the sha256 of its documents' texts, in order."""
    digest = hashlib.sha256()
    for doc in docs:
        text = doc.text.encode("utf-8", "surrogatepass")
        digest.update(f"{len(text)}:".encode() + text)
    return digest.hexdigest()


def folder_sha256(folder):
    """A fingerprint of a folder's files: the sha256 of their names and contents."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and not path.name.startswith("."):
            data = path.read_bytes()
            digest.update(f"{path.name}:{len(data)}:".encode() + data)
    return digest.hexdigest()


def _check_corpus_unchanged(settings, docs):
    saved = settings.get("corpus_sha256")
    if saved is not None and corpus_sha256(docs) != saved:
        raise ValueError(f"the corpus {settings['corpus']} is not the text this run was trained "
                         f"on (its sha256 differs from the one in {RUN_FILE}): resuming would "
                         "train on other text; restore it, or start a new run")


def _check_tokenizer_belongs(settings, tokenizer, model, out):
    """The run's tokenizer/ must be the one its model was trained with."""
    if tokenizer.vocab_size != model.cfg.vocab_size:
        raise ValueError(f"{out / 'tokenizer'} has {tokenizer.vocab_size} tokens but the model "
                         f"in {out} has vocab_size={model.cfg.vocab_size}: it is not this "
                         "run's tokenizer")


def _check_tokenizer_unchanged(settings, out):
    saved = settings.get("tokenizer_sha256")
    if saved is not None and folder_sha256(out / "tokenizer") != saved:
        raise ValueError(f"{out / 'tokenizer'} is not the tokenizer this run was trained with "
                         f"(its sha256 differs from the one in {RUN_FILE}); put the run's "
                         "tokenizer back, or start a new run")


def _new_settings(args, out):
    """RUN_DEFAULTS overridden by the options given, checked; out must not hold a run yet
    (a run.json without a checkpoint is a run stopped before it saved anything: it starts
    afresh)."""
    if (out / "config.json").exists():
        raise ValueError(f"{out} already holds a run: continue it with --resume, or choose "
                         "another --out")
    settings = {**RUN_DEFAULTS, **_given(args)}
    if settings["tokenizer"] == "bpe" and settings["vocab_size"] is None:
        settings["vocab_size"] = BPE_VOCAB_SIZE
    if settings["tokenizer"] == "char" and settings["vocab_size"] is not None:
        raise ValueError("--vocab-size is for --tokenizer bpe: a char tokenizer's vocabulary "
                         "is the set of characters in the corpus")
    _check_settings(settings)
    return settings


def _check_settings(settings):
    """Every setting in range, whether given as an option or read from run.json."""
    for name in ("seq_len", "batch_size", "steps", "eval_every", "eval_batches", "warmup",
                 "seed", "vocab_size", "d_model", "n_layers", "n_heads", "d_ff"):
        if settings[name] is not None:
            _check_option(check_int, name, settings[name])
    for name in ("lr", "weight_decay", "dropout"):
        _check_option(check_number, name, settings[name])
    if settings["seq_len"] < 2:
        raise ValueError(f"--seq-len must be at least 2, got {settings['seq_len']}")
    for name in ("eval_batches", "steps", "batch_size", "eval_every"):
        if settings[name] < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got "
                             f"{settings[name]}")
    if settings["tokenizer"] not in TOKENIZER_KINDS or settings["preset"] not in PRESETS:
        raise ValueError(f"tokenizer must be one of {TOKENIZER_KINDS} and preset one of "
                         f"{PRESETS}, got {settings['tokenizer']!r} and {settings['preset']!r}")
    if settings.get("threads") is not None:   # stored in run.json, not given
        check_int(f"threads in {RUN_FILE}", settings["threads"], minimum=1)
    if not isinstance(settings["corpus"], str):
        raise ValueError(f"corpus must be 'pydoc', 'stdlib' or a file name, got "
                         f"{settings['corpus']!r}")
    # a bad model size or schedule fails now, not after the data
    _option_errors(_model_config, settings, vocab_size=1)
    _option_errors(_train_config, settings, "cpu")


def _check_option(check, name, value):
    _option_errors(check, f"--{name.replace('_', '-')}", value)


def _option_errors(function, *args, **kwargs):
    """function(*args, **kwargs), its ValueError said in the options' words (--dropout, not
    dropout)."""
    try:
        return function(*args, **kwargs)
    except ValueError as error:
        message = str(error)
        options = {"warmup_steps": "warmup", **{name: name for name in RUN_DEFAULTS}}
        for name, option in options.items():
            if message.startswith(name + " "):
                message = f"--{option.replace('_', '-')}" + message[len(name):]
        raise ValueError(message) from None


def _resumed_settings(args, out):
    """The settings saved in out/run.json; an option given that contradicts them is an error
    (a changed setting would not continue the same run)."""
    if not (out / RUN_FILE).is_file():
        raise ValueError(f"there is no run to resume in {out} (no {RUN_FILE}); start one "
                         "without --resume")
    if not (out / "config.json").is_file():
        raise ValueError(f"the run in {out} stopped before its first checkpoint; start it "
                         "again without --resume")
    # a run.json written before a setting existed holds that setting's default
    settings = {**RUN_DEFAULTS, **_read_run_file(out / RUN_FILE)}
    changed = [f"--{name.replace('_', '-')} {value} (the run has {settings.get(name)})"
               for name, value in _given(args).items() if settings.get(name) != value]
    if changed:
        raise ValueError(f"--resume continues {out} with the settings in its {RUN_FILE}; "
                         f"these options differ: {'; '.join(changed)}")
    _check_settings(settings)
    return settings


def _read_run_file(path):
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is corrupt: it is not valid JSON ({error})") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path} holds a JSON {type(saved).__name__}, not the object of "
                         "settings that train writes")
    return saved


def _given(args):
    """The run settings given as options; a corpus file is named by its absolute path, so the
    run means the same file from any working directory."""
    given = {name: getattr(args, name) for name in RUN_DEFAULTS if hasattr(args, name)}
    if "corpus" in given and given["corpus"] not in ("pydoc", "stdlib"):
        given["corpus"] = str(Path(given["corpus"]).resolve())
    return given


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
    if args.max_new_tokens < 0:
        raise ValueError(f"--max-new-tokens must be 0 or more, got {args.max_new_tokens}")
    if not args.prompt:
        raise ValueError("the prompt is empty: give at least one character to continue, "
                         "e.g. --prompt 'def '")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(run / "tokenizer")
    device = pick_device(args.device)
    model, cfg, state = load_checkpoint(run, device=device)
    if tokenizer.vocab_size != cfg.vocab_size:
        raise ValueError(f"{run / 'tokenizer'} has {tokenizer.vocab_size} tokens but the model "
                         f"in {run} has vocab_size={cfg.vocab_size}: it is not this run's "
                         "tokenizer")
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
