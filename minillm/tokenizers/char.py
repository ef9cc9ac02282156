"""`CharTokenizer`: one token per character; the vocabulary is the characters of the training
text."""
from __future__ import annotations

from pathlib import Path

from minillm.tokenizers._base import (
    CONFIG_FILE,
    DEFAULT_SPECIAL_TOKENS,
    UNK,
    _check_special_tokens,
    _check_training_text,
    _read_config,
    _Tokenizer,
    _write_json,
)

# --- characters ----------------------------------------------------------------------------------

class CharTokenizer(_Tokenizer):
    """One token per character. Ids: the special tokens first (0, 1, ...), then the characters in
    sorted order. A character outside the vocabulary is an error, unless "<unk>" is a special
    token, which then stands for it."""

    kind = "char"

    def __init__(self, chars, special_tokens=DEFAULT_SPECIAL_TOKENS):
        special_tokens = _check_special_tokens(special_tokens)
        chars = sorted(set(chars))
        for char in chars:
            if not isinstance(char, str) or len(char) != 1:
                raise ValueError(f"a CharTokenizer's vocabulary holds single characters, "
                                 f"got {char!r}")
        super().__init__(special_tokens + chars, special_tokens)
        self._unk_id = self.special_tokens.get(UNK)

    @classmethod
    def train(cls, text: str, special_tokens=DEFAULT_SPECIAL_TOKENS) -> CharTokenizer:
        """The vocabulary is every character that occurs in text, plus the special tokens."""
        _check_training_text(text)
        if not text:
            raise ValueError("cannot train a tokenizer on empty text")
        return cls(text, special_tokens)

    def encode(self, text: str, allowed_special: bool = False) -> list[int]:
        ids, unknown = [], []
        for start, piece, special_id in self._segments(text, allowed_special):
            if special_id is not None:
                ids.append(special_id)
                continue
            for offset, char in enumerate(piece):
                i = self._token_to_id.get(char, self._unk_id)
                if i is None:
                    unknown.append((start + offset, char))
                ids.append(i)
        if unknown:
            raise ValueError(_unknown_chars_message(unknown))
        return ids

    def decode(self, ids, skip_special: bool = False) -> str:
        ids = self._as_ids(ids)
        special = set(self.special_tokens.values()) if skip_special else set()
        return "".join(self._id_to_token[i] for i in ids if i not in special)

    def save(self, folder) -> None:
        """Writes folder/minillm_tokenizer.json: the special tokens and the vocabulary, by id."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / CONFIG_FILE, {"kind": self.kind,
                                           "special_tokens": list(self.special_tokens),
                                           "vocab": self._id_to_token})

    @classmethod
    def load(cls, folder) -> CharTokenizer:
        config = _read_config(folder, cls.kind, {"special_tokens": list, "vocab": list})
        special_tokens, vocab = config["special_tokens"], config["vocab"]
        tokenizer = cls(vocab[len(special_tokens):], special_tokens)
        if tokenizer._id_to_token != vocab:
            raise ValueError(f"{Path(folder) / CONFIG_FILE} is corrupt: its vocabulary is not "
                             f"the special tokens followed by sorted single characters")
        return tokenizer


def _unknown_chars_message(unknown, shown=5):
    listed = ", ".join(f"{char!r} at position {pos}" for pos, char in unknown[:shown])
    more = f" and {len(unknown) - shown} more" if len(unknown) > shown else ""
    return (f"{len(unknown)} character(s) not in the vocabulary: {listed}{more}. Train on text "
            f"that contains them, or add {UNK!r} to special_tokens to stand for them")
