"""Tokenizers（分词器）: text <-> token ids, three ways.

- `CharTokenizer`: one token per character; the vocabulary is the characters of the training text.
- `BPETokenizer`: byte-level byte-pair encoding（字节对编码, GPT-2 style), trained from scratch.
  Text -> UTF-8 bytes (256 base tokens) -> merges learned by counting adjacent pairs. Every Unicode
  string (Chinese, emoji...) encodes, and decodes back exactly.
- `WordPieceTokenizer`: BERT's tokenizer on a real vocab.txt; it gives the same ids as Hugging
  Face's tokenizer for all-MiniLM-L6-v2.

All three have `encode(text) -> list[int]`, `decode(ids) -> str`, `tokenize(text) -> list[str]`,
`vocab_size`, `special_tokens` (dict token -> id), `token_to_id`, `id_to_token`, and `save(folder)`
/ `load(folder)` with plain JSON and text files (never pickle).

Special tokens (`<pad>`, `<s>`, `</s>`, `<mask>`...) are never split and never made by a merge.
Char and BPE tokenizers read a special token written in the text as ordinary characters unless
`encode(..., allowed_special=True)`: a corpus can then never smuggle a control token into training.
WordPiece follows BERT: "[MASK]" written in the text *is* the mask token (allowed_special=True).
"""
from __future__ import annotations

from pathlib import Path

from minillm.tokenizers._base import (
    CONFIG_FILE,
    DEFAULT_SPECIAL_TOKENS,
    UNK,
    _check_special_tokens,
    _check_training_text,
    _read_config,
    _read_json,
    _read_text,
    _Tokenizer,
    _write_json,
)
from minillm.tokenizers.bpe import (
    BYTE_TO_CHAR,
    CHAR_TO_BYTE,
    GGUF_CONTROL_TOKEN,
    WHITESPACE,
    BPETokenizer,
    _bytes_to_chars,
    _char_class,
    _gpt2_pattern,
    _learn_merges,
    _merge,
    _parse_merges,
    _shown,
    _token_bytes,
    _tokens_by_id,
    _utf8,
)
from minillm.tokenizers.char import (
    CharTokenizer,
    _unknown_chars_message,
)
from minillm.tokenizers.wordpiece import (
    BERT_SPECIAL_TOKENS,
    WordPieceTokenizer,
    _is_chinese_char,
    _is_control,
    _is_punctuation,
    _is_whitespace,
)


def load_tokenizer(folder):
    """The CharTokenizer, BPETokenizer or WordPieceTokenizer saved in folder by its `save` (the
    kind is read from the folder's minillm_tokenizer.json)."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{folder} holds no tokenizer (no {CONFIG_FILE}): give a folder written "
                         "by a tokenizer's save(), e.g. the tokenizer/ of a training run")
    kinds = {cls.kind: cls for cls in (CharTokenizer, BPETokenizer, WordPieceTokenizer)}
    config = _read_json(path)
    kind = config.get("kind") if isinstance(config, dict) else None
    if kind not in kinds:
        raise ValueError(f"{path} names a {kind!r} tokenizer; expected one of {tuple(kinds)}")
    return kinds[kind].load(folder)
