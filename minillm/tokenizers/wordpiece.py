"""`WordPieceTokenizer`: BERT's tokenizer on a real vocab.txt; it gives the same ids as Hugging
Face's tokenizer for all-MiniLM-L6-v2."""
from __future__ import annotations

import unicodedata
from pathlib import Path

from minillm.files import atomic_write
from minillm.tokenizers._base import (
    CONFIG_FILE,
    _read_config,
    _read_text,
    _Tokenizer,
    _write_json,
)

# --- WordPiece (BERT) ----------------------------------------------------------------------------

BERT_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _is_control(char) -> bool:
    """BERT's 'control character', dropped from the text: tab, newline and carriage return count
    as whitespace instead. Unassigned code points (Cn) are kept, as Hugging Face keeps them."""
    return char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs")


def _is_whitespace(char) -> bool:
    return char in "\t\n\r" or unicodedata.category(char) in ("Zs", "Zl", "Zp")


def _is_punctuation(char) -> bool:
    """Unicode punctuation, plus every ASCII symbol ($, +, <, ^, `...) as BERT counts them."""
    return (char.isascii() and char.isprintable() and not char.isalnum() and char != " "
            or unicodedata.category(char).startswith("P"))


def _is_chinese_char(char) -> bool:
    """A CJK Unified Ideograph (not Hangul, Hiragana or Katakana: those write space-separated
    words)."""
    code = ord(char)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F
            or 0x2B920 <= code <= 0x2CEAF or 0xF900 <= code <= 0xFAFF
            or 0x2F800 <= code <= 0x2FA1F)


class WordPieceTokenizer(_Tokenizer):
    """BERT's tokenizer: normalize (drop control characters, unify whitespace, put spaces around
    Chinese characters, and if lowercase: strip accents and lowercase), split on whitespace and
    punctuation, then cut each word greedily into the longest vocabulary pieces, left to right;
    a piece inside a word is written '##piece'. A word that cannot be cut, or is longer than
    max_chars_per_word characters, becomes [UNK].

    vocab_file: BERT's vocab.txt, one token per line; a token's id is its line number from 0.
    """

    kind = "wordpiece"

    def __init__(self, vocab_file, lowercase: bool = True, max_chars_per_word: int = 100):
        path = Path(vocab_file)
        lines = _read_text(path).split("\n")
        if lines[-1] == "":
            lines.pop()   # the newline that ends the last line
        tokens = [line.rstrip() for line in lines]
        if "" in tokens:
            raise ValueError(f"{path} is corrupt: line {tokens.index('') + 1} is empty")
        if "[UNK]" not in tokens:
            raise ValueError(f"{path} has no [UNK] token: is it a WordPiece vocab.txt?")
        super().__init__(tokens, [t for t in BERT_SPECIAL_TOKENS if t in tokens])
        self.lowercase = lowercase
        self.max_chars_per_word = max_chars_per_word

    def normalize(self, text: str) -> str:
        """'Héllo\\t你好' -> 'hello  你  好 ' (with lowercase=True)."""
        kept = []
        for char in text:
            if char in "\x00\ufffd" or _is_control(char):
                continue
            if _is_whitespace(char):
                kept.append(" ")
            elif _is_chinese_char(char):
                kept.append(f" {char} ")
            else:
                kept.append(char)
        text = "".join(kept)
        if self.lowercase:
            # Accents first (é = e + U+0301, a non-spacing mark), then each character lowercased
            # on its own, as Hugging Face does: no Greek final-sigma rule.
            decomposed = unicodedata.normalize("NFD", text)
            text = "".join(c.lower() for c in decomposed if unicodedata.category(c) != "Mn")
        return text

    @staticmethod
    def pre_tokenize(text: str) -> list[str]:
        """Normalized text -> words: split on whitespace, each punctuation character alone.
        'hello, world!' -> ['hello', ',', 'world', '!']."""
        words = []
        for chunk in text.split():
            word = ""
            for char in chunk:
                if _is_punctuation(char):
                    words += [word, char] if word else [char]
                    word = ""
                else:
                    word += char
            if word:
                words.append(word)
        return words

    def encode(self, text: str, add_special_tokens: bool = True,
               allowed_special: bool = True) -> list[int]:
        """Ids, framed as [CLS] ... [SEP] if add_special_tokens. With allowed_special, a special
        token written in the text ("The capital is [MASK].") is that token."""
        ids = []
        for _, piece, special_id in self._segments(text, allowed_special):
            if special_id is not None:
                ids.append(special_id)
                continue
            for word in self.pre_tokenize(self.normalize(piece)):
                ids.extend(self._word_pieces(word))
        if add_special_tokens:
            ids = [self.token_to_id("[CLS]")] + ids + [self.token_to_id("[SEP]")]
        return ids

    def _word_pieces(self, word):
        unk = [self.special_tokens["[UNK]"]]
        if len(word) > self.max_chars_per_word:
            return unk
        ids, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):   # the longest piece first
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self._token_to_id:
                    break
            else:
                return unk   # no piece of the vocabulary starts here
            ids.append(self._token_to_id[piece])
            start = end
        return ids

    def decode(self, ids, skip_special: bool = False) -> str:
        """Tokens joined by spaces, '##' pieces glued to the token before: 'the', '##ir' ->
        'their'. Not the original text: it was lowercased, stripped of accents and split."""
        special = set(self.special_tokens.values()) if skip_special else set()
        words = []
        for i in self._as_ids(ids):
            if i in special:
                continue
            token = self._id_to_token[i]
            if token.startswith("##") and words:
                words[-1] += token[2:]
            else:
                words.append(token)
        return " ".join(words)

    def save(self, folder) -> None:
        """Writes vocab.txt (one token per line) and minillm_tokenizer.json (the settings)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "vocab.txt", "\n".join(self._id_to_token) + "\n")
        _write_json(folder / CONFIG_FILE, {"kind": self.kind, "lowercase": self.lowercase,
                                           "max_chars_per_word": self.max_chars_per_word})

    @classmethod
    def load(cls, folder) -> WordPieceTokenizer:
        config = _read_config(folder, cls.kind, {"lowercase": bool, "max_chars_per_word": int})
        return cls(Path(folder) / "vocab.txt", config["lowercase"], config["max_chars_per_word"])
