"""What the three tokenizers share: the vocabulary with its special tokens (`_Tokenizer`),
and the checks and JSON/text file I/O behind their `save` and `load`."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from minillm.files import atomic_write

DEFAULT_SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<mask>")
UNK = "<unk>"
CONFIG_FILE = "minillm_tokenizer.json"   # names the kind of tokenizer and its settings


# --- what the three tokenizers share -------------------------------------------------------------

class _Tokenizer:
    """A vocabulary (id <-> token string) with special tokens; subclasses add encode and decode."""

    kind = ""   # written into CONFIG_FILE, so that load() can tell it reads the right kind

    def __init__(self, tokens, special_tokens):
        self._id_to_token = list(tokens)
        self._token_to_id = {}
        for i, token in enumerate(self._id_to_token):
            if token in self._token_to_id:
                raise ValueError(f"token {token!r} appears twice in the vocabulary "
                                 f"(ids {self._token_to_id[token]} and {i})")
            self._token_to_id[token] = i
        self.special_tokens = {token: self._token_to_id[token] for token in special_tokens}
        # Longest first, so that "<s>" cannot cut "<sep>" short.
        longest_first = sorted(special_tokens, key=len, reverse=True)
        self._special_pattern = re.compile("|".join(map(re.escape, longest_first)))

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def token_to_id(self, token: str) -> int:
        if token not in self._token_to_id:
            raise ValueError(f"{token!r} is not in the vocabulary of {self.vocab_size} tokens")
        return self._token_to_id[token]

    def id_to_token(self, i: int) -> str:
        return self._id_to_token[self._as_ids([i])[0]]

    def tokenize(self, text: str, **encode_options) -> list[str]:
        """The token strings encode(text) gives, e.g. ['Ġthe', 'Ġcat'] (BPE), ['the', '##ir']."""
        return [self._id_to_token[i] for i in self.encode(text, **encode_options)]

    def _as_ids(self, ids) -> list[int]:
        """ids (a list, tuple, array or 1-D tensor of ints) as a list, each in [0, vocab_size)."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise ValueError(f"token ids must be integers (one sequence, not a batch), "
                                 f"got {i!r}")
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} is out of range: ids must lie in "
                                 f"[0, {self.vocab_size})")
        return [int(i) for i in ids]

    def _segments(self, text, allowed_special):
        """(start, piece, special id or None): the text cut around literal special tokens, if
        allowed; otherwise the whole text as one ordinary piece."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        pos = 0
        if allowed_special and self.special_tokens:
            for match in self._special_pattern.finditer(text):
                if match.start() > pos:
                    yield pos, text[pos:match.start()], None
                yield match.start(), match.group(), self.special_tokens[match.group()]
                pos = match.end()
        if pos < len(text):
            yield pos, text[pos:], None


def _check_special_tokens(special_tokens) -> list[str]:
    if isinstance(special_tokens, str):
        raise ValueError(f"special_tokens must be a list of strings, e.g. [{special_tokens!r}], "
                         f"not one string")
    special_tokens = list(special_tokens)
    for token in special_tokens:
        # One character would be indistinguishable from ordinary text.
        if not isinstance(token, str) or len(token) < 2:
            raise ValueError(f"a special token must be a string of at least 2 characters, "
                             f"got {token!r}")
    if len(set(special_tokens)) != len(special_tokens):
        raise ValueError(f"special_tokens has duplicates: {special_tokens}")
    return special_tokens


def _check_training_text(text):
    if not isinstance(text, str):
        raise ValueError(f"training text must be a str, got {type(text).__name__}")


def _write_json(path, value):
    atomic_write(path, json.dumps(value, ensure_ascii=False, indent=1) + "\n")


def _read_text(path) -> str:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist (expected a file written by save())")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is corrupt: not UTF-8 text ({err})") from None


def _read_json(path):
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is corrupt: not valid JSON ({err})") from None


def _read_config(folder, kind, fields) -> dict:
    """CONFIG_FILE in folder, checked to be of this kind and to have these fields: {name: type}."""
    path = Path(folder) / CONFIG_FILE
    config = _read_json(path)
    if not isinstance(config, dict) or config.get("kind") != kind:
        found = config.get("kind") if isinstance(config, dict) else config
        raise ValueError(f"{path} holds a {found!r} tokenizer, not a {kind!r} one")
    for name, expected in fields.items():
        if not isinstance(config.get(name), expected):
            raise ValueError(f"{path} is corrupt: {name!r} should be a {expected.__name__}")
    return config
