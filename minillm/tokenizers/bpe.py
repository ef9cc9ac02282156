"""`BPETokenizer`: byte-level byte-pair encoding（字节对编码, GPT-2 style), trained from scratch,
or read from GPT-2's vocab.json + merges.txt or a GGUF file.

Text -> UTF-8 bytes (256 base tokens) -> merges learned by counting adjacent pairs. Every Unicode
string (Chinese, emoji...) encodes, and decodes back exactly."""
from __future__ import annotations

import functools
import heapq
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

from minillm.files import atomic_write
from minillm.tokenizers._base import (
    CONFIG_FILE,
    DEFAULT_SPECIAL_TOKENS,
    _check_special_tokens,
    _check_training_text,
    _read_config,
    _read_json,
    _read_text,
    _Tokenizer,
    _write_json,
)


def _bytes_to_chars() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte, so a token can be shown (and saved) as text:
    printable Latin-1 bytes stand for themselves, the others (space, control bytes...) get the
    characters from U+0100 on, e.g. the space byte 0x20 is shown as 'Ġ'."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    stand_ins = iter(range(256, 512))
    return {b: chr(b) if b in printable else chr(next(stand_ins)) for b in range(256)}


BYTE_TO_CHAR = _bytes_to_chars()
CHAR_TO_BYTE = {char: b for b, char in BYTE_TO_CHAR.items()}

# Unicode's White_Space characters: the `\s` of the regex engines GPT-2 and Hugging Face use.
# Python's `\s` also counts U+001C..U+001F, which would split text differently.
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _char_class(chars) -> str:
    """The body of a regex character class `[...]` matching exactly these characters."""
    codes = sorted(map(ord, chars))
    ranges, first, prev = [], codes[0], codes[0]
    for code in codes[1:]:
        if code != prev + 1:
            ranges.append((first, prev))
            first = code
        prev = code
    ranges.append((first, prev))
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


@functools.cache
def _gpt2_pattern() -> re.Pattern:
    """GPT-2's pre-tokenizer regex, written for Python's `re` (which has no \\p{L}, \\p{N}):
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
    Letters (\\p{L}) and numbers (\\p{N}) are listed from Python's Unicode database, once."""
    every_char = list(map(chr, range(sys.maxunicode + 1)))
    letters = _char_class(filter(str.isalpha, every_char))   # isalpha: categories Lu Ll Lt Lm Lo
    numbers = _char_class(c for c in every_char
                          if c.isnumeric() and unicodedata.category(c) in ("Nd", "Nl", "No"))
    space, other = f"[{WHITESPACE}]", f"[^{WHITESPACE}{letters}{numbers}]"
    return re.compile(f"'s|'t|'re|'ve|'m|'ll|'d| ?[{letters}]+| ?[{numbers}]+| ?{other}+"
                      f"|{space}+(?![^{WHITESPACE}])|{space}+")


def _utf8(text) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"text is not valid Unicode: {err.object[err.start:err.end]!r} at "
                         f"position {err.start} is a lone surrogate") from None


def _merge(symbols, pair, new):
    """symbols with every non-overlapping occurrence of pair, left to right, replaced by new."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


class BPETokenizer(_Tokenizer):
    """Byte-level BPE. Ids: the special tokens first (0, 1, ...), then the 256 bytes (id of byte b
    = len(special_tokens) + b), then one token per merge that made new bytes, in merge order.

    `merges` is the ordered list of learned pairs, e.g. [(b' ', b't'), (b'h', b'e'), ...]; encode
    splits text with GPT-2's pre-tokenizer (words never merge across a split), turns each piece
    into its UTF-8 bytes and applies the merges, earliest learned first, as long as any applies.
    """

    kind = "bpe"
    _CACHE_SIZE = 100_000   # pieces whose ids are remembered: text repeats its words

    def __init__(self, merges=(), special_tokens=DEFAULT_SPECIAL_TOKENS, vocab=None):
        """merges: ordered pairs of byte strings; special_tokens: never split, never merged.
        vocab: optional {token as shown (e.g. 'Ġthe'): id} giving every token its id, for a
        vocabulary made elsewhere (GPT-2's vocab.json, a GGUF file); its tokens must be exactly
        the special tokens, the merges' results and the 256 bytes, except that bytes which
        never occur in UTF-8 text may be left out (SmolLM2 leaves out 21): such a byte is then
        dropped by encode, as Hugging Face's BPE without an unknown token drops it.
        None = the layout above."""
        special_tokens = _check_special_tokens(special_tokens)
        self._symbol_bytes = [bytes([b]) for b in range(256)]   # symbol = id - len(special)
        self._ranks = {}   # (symbol, symbol) -> (merge rank, merged symbol)
        self.merges = []
        symbol_of = {b: s for s, b in enumerate(self._symbol_bytes)}
        for rank, (left, right) in enumerate(merges):
            if left not in symbol_of or right not in symbol_of:
                raise ValueError(f"merge {rank} ({left!r}, {right!r}) joins a token that no "
                                 f"earlier merge made")
            pair = (symbol_of[left], symbol_of[right])
            if pair in self._ranks:
                raise ValueError(f"merge {rank} ({left!r}, {right!r}) appears twice")
            if left + right not in symbol_of:   # two merge paths can make the same bytes
                symbol_of[left + right] = len(self._symbol_bytes)
                self._symbol_bytes.append(left + right)
            self._ranks[pair] = (rank, symbol_of[left + right])
            self.merges.append((left, right))
        shown = [_shown(t) for t in self._symbol_bytes]
        tokens = special_tokens + shown if vocab is None else _tokens_by_id(vocab, special_tokens,
                                                                             shown)
        super().__init__(tokens, special_tokens)
        self._offset = len(special_tokens)
        # symbol -> id (None: a byte the vocabulary lacks), id -> symbol (None: a special token)
        self._symbol_ids = [self._token_to_id.get(token) for token in shown]
        self._id_symbols = [None] * self.vocab_size
        for symbol, i in enumerate(self._symbol_ids):
            if i is not None:
                self._id_symbols[i] = symbol
        self._cache = {}

    @classmethod
    def from_files(cls, vocab_file, merges_file, special_tokens=()) -> BPETokenizer:
        """GPT-2-style files made by any byte-level BPE trainer: vocab.json ({token: id}) and
        merges.txt (one merge per line, ranked by line). special_tokens: the vocabulary's tokens
        that are not bytes or merges (e.g. '<|endoftext|>'); they keep their ids from vocab.json."""
        vocab = _read_json(vocab_file)
        if not isinstance(vocab, dict):
            raise ValueError(f"{vocab_file} should hold one JSON object {{token: id}}")
        return cls(_parse_merges(merges_file), special_tokens, vocab=vocab)

    @classmethod
    def from_gguf(cls, path) -> BPETokenizer:
        """The byte-level BPE tokenizer stored in a llama.cpp GGUF file's metadata:
        tokenizer.ggml.tokens (id -> token, shown with GPT-2's byte stand-ins), token_type
        (3 = control: the special tokens) and merges ("Ġ t", ranked by position). Needs the
        `gguf` package to read the container. path: the .gguf file, or a gguf.GGUFReader
        already open on it (parsing the metadata takes seconds)."""
        import gguf

        reader = path if isinstance(path, gguf.GGUFReader) else gguf.GGUFReader(str(path))
        fields = reader.fields
        model = fields["tokenizer.ggml.model"].contents() if "tokenizer.ggml.model" in fields \
            else None
        if model != "gpt2":
            raise ValueError(f"{path} has a {model!r} tokenizer; BPETokenizer reads byte-level "
                             "BPE ('gpt2') vocabularies")
        tokens = fields["tokenizer.ggml.tokens"].contents()
        kinds = fields["tokenizer.ggml.token_type"].contents()
        special = [token for token, kind in zip(tokens, kinds) if kind == GGUF_CONTROL_TOKEN]
        merges = [tuple(_token_bytes(part, "the GGUF merges") for part in line.split(" "))
                  for line in fields["tokenizer.ggml.merges"].contents()]
        return cls(merges, special, vocab={token: i for i, token in enumerate(tokens)})

    @classmethod
    def train(cls, texts, vocab_size: int, special_tokens=DEFAULT_SPECIAL_TOKENS) -> BPETokenizer:
        """Learns merges until the vocabulary (special tokens + 256 bytes + merged tokens) has
        vocab_size tokens, or no pair is left to merge. texts: a str or a list of str. Special
        tokens written in the texts are cut out: they take no part in the counts."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        special_tokens = _check_special_tokens(special_tokens)
        smallest = len(special_tokens) + 256
        if not isinstance(vocab_size, int) or vocab_size < smallest:
            raise ValueError(f"vocab_size must be at least {smallest} (the special tokens and "
                             f"the 256 bytes), got {vocab_size}")
        untrained = cls(special_tokens=special_tokens)   # knows where special tokens are
        words = Counter()
        for text in texts:
            _check_training_text(text)
            for _, piece, special_id in untrained._segments(text, allowed_special=True):
                if special_id is None:
                    words.update(cls.pre_tokenize(piece))
        if not words:
            raise ValueError("cannot train a tokenizer on empty text")
        return cls(_learn_merges(words, vocab_size - smallest), special_tokens)

    @staticmethod
    def pre_tokenize(text: str) -> list[str]:
        """GPT-2's split into words (with their leading space), numbers, punctuation runs and
        whitespace: 'Hello, world!' -> ['Hello', ',', ' world', '!']."""
        return _gpt2_pattern().findall(text)

    def encode(self, text: str, allowed_special: bool = False) -> list[int]:
        if isinstance(text, str):
            _utf8(text)   # fails early, and clearly, on a lone surrogate
        ids = []
        for _, piece, special_id in self._segments(text, allowed_special):
            if special_id is not None:
                ids.append(special_id)
                continue
            for word in self.pre_tokenize(piece):
                ids.extend(self._encode_word(word))
        return ids

    def _encode_word(self, word):
        if word not in self._cache:
            if len(self._cache) >= self._CACHE_SIZE:
                self._cache.clear()
            symbols = self._apply_merges(list(_utf8(word)))
            ids = [self._symbol_ids[s] for s in symbols]
            self._cache[word] = [i for i in ids if i is not None]
        return self._cache[word]

    def _apply_merges(self, symbols):
        while len(symbols) > 1:
            ranked = [self._ranks[pair] + (pair,) for pair in zip(symbols, symbols[1:])
                      if pair in self._ranks]
            if not ranked:
                break
            _, merged, pair = min(ranked)   # the earliest learned merge goes first
            symbols = _merge(symbols, pair, merged)
        return symbols

    def token_bytes(self, i: int) -> bytes:
        """The bytes token i stands for (a special token: its UTF-8 text)."""
        i = self._as_ids([i])[0]
        if self._id_symbols[i] is None:
            return self._id_to_token[i].encode("utf-8")
        return self._symbol_bytes[self._id_symbols[i]]

    def token_text(self, i: int) -> str:
        """Token i as readable text, for showing tokens: "␣" for a space, "⏎" for a newline,
        "\\xNN" for a byte that is not a whole character (a piece of a Chinese character's three
        bytes) or is not printable. Display only: `decode` gives the real text."""
        text = self.token_bytes(i).decode("utf-8", errors="backslashreplace")
        text = text.replace(" ", "␣").replace("\n", "⏎")
        return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)

    def decode(self, ids, skip_special: bool = False) -> str:
        """Exact inverse of encode. Bytes that are not valid UTF-8 (an id sequence cut inside a
        character) become U+FFFD '�'."""
        parts, run = [], bytearray()
        for i in self._as_ids(ids):
            symbol = self._id_symbols[i]
            if symbol is not None:
                run += self._symbol_bytes[symbol]
                continue
            parts.append(run.decode("utf-8", errors="replace"))
            run = bytearray()
            if not skip_special:
                parts.append(self._id_to_token[i])
        parts.append(run.decode("utf-8", errors="replace"))
        return "".join(parts)

    def save(self, folder) -> None:
        """Writes minillm_tokenizer.json (kind, special tokens) and GPT-2's two files: vocab.json
        (token -> id) and merges.txt (one merge per line, tokens shown as in id_to_token); those
        two load in Hugging Face `tokenizers`' ByteLevelBPETokenizer and give the same ids.
        minillm_tokenizer.json comes last: a save stopped before it leaves no loadable tokenizer."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "vocab.json", self._token_to_id)
        lines = ["#version: 0.2"] + [f"{_shown(left)} {_shown(right)}"
                                     for left, right in self.merges]
        atomic_write(folder / "merges.txt", "\n".join(lines) + "\n")
        config = {"kind": self.kind, "special_tokens": list(self.special_tokens)}
        if not self._has_default_ids():
            config["ids_from_vocab"] = True     # load() takes the ids from vocab.json
        _write_json(folder / CONFIG_FILE, config)

    @classmethod
    def load(cls, folder) -> BPETokenizer:
        folder = Path(folder)
        config = _read_config(folder, cls.kind, {"special_tokens": list})
        if config.get("ids_from_vocab"):
            return cls.from_files(folder / "vocab.json", folder / "merges.txt",
                                  config["special_tokens"])
        merges = _parse_merges(folder / "merges.txt")
        tokenizer = cls(merges, config["special_tokens"])
        if _read_json(folder / "vocab.json") != tokenizer._token_to_id:
            raise ValueError(f"{folder / 'vocab.json'} is corrupt: it does not match "
                             f"merges.txt and the special tokens")
        return tokenizer

    def _has_default_ids(self):
        """True if the ids are the class's own layout: special tokens, 256 bytes, merges."""
        return (self._symbol_ids == list(range(self._offset, self.vocab_size))
                and list(self.special_tokens.values()) == list(range(self._offset)))


GGUF_CONTROL_TOKEN = 3   # llama.cpp's token type of special (control) tokens


def _tokens_by_id(vocab, special_tokens, shown) -> list[str]:
    """vocab {token: id} as the list of tokens by id, once its tokens are known to be exactly the
    special tokens and the shown symbols (single bytes may be missing), and its ids exactly
    0 .. len(vocab) - 1."""
    expected = set(special_tokens) | set(shown[256:])
    missing, extra = expected - set(vocab), set(vocab) - expected - set(shown[:256])
    if missing or extra:
        raise ValueError(f"the vocabulary does not match the merges and special tokens: "
                         f"{len(missing)} token(s) missing (e.g. {sorted(missing)[:5]}), "
                         f"{len(extra)} unexpected (e.g. {sorted(extra)[:5]}; a special token "
                         f"must be named in special_tokens)")
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(f"the vocabulary's ids must be 0 .. {len(vocab) - 1}, each used once")
    tokens = [""] * len(vocab)
    for token, i in vocab.items():
        tokens[i] = token
    return tokens


def _token_bytes(shown: str, where: str) -> bytes:
    """'Ġthe' -> b' the': a token shown with GPT-2's byte stand-ins, back to its bytes."""
    try:
        return bytes(CHAR_TO_BYTE[c] for c in shown)
    except KeyError as err:
        raise ValueError(f"{where} hold {shown!r}, whose {err.args[0]!r} stands for no "
                         "byte") from None


def _shown(token: bytes) -> str:
    """A token's bytes as printable text, each byte by its GPT-2 stand-in: b' the' -> 'Ġthe'."""
    return "".join(BYTE_TO_CHAR[b] for b in token)


def _parse_merges(path) -> list[tuple[bytes, bytes]]:
    merges = []
    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line or line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{path} is corrupt: line {number} should be two tokens separated "
                             f"by one space, got {line!r}")
        try:
            merges.append(tuple(bytes(CHAR_TO_BYTE[c] for c in part) for part in parts))
        except KeyError as err:
            raise ValueError(f"{path} is corrupt: line {number} has {err.args[0]!r}, which "
                             f"stands for no byte") from None
    return merges


def _learn_merges(word_counts: Counter, new_tokens: int) -> list[tuple[bytes, bytes]]:
    """Byte-pair merges learned from {word: count} until new_tokens tokens were made.

    Each step merges the most frequent adjacent pair (ties: the pair of smaller symbols). Only
    the words that contain the merged pair are rewritten, and the pair counts are updated from
    them, so a step costs what those words cost, not a pass over the whole corpus.
    """
    symbol_bytes = [bytes([b]) for b in range(256)]
    symbol_of = {b: s for s, b in enumerate(symbol_bytes)}
    words = [list(word.encode("utf-8")) for word in word_counts]
    counts = list(word_counts.values())
    pair_counts = Counter()
    where = defaultdict(set)   # pair -> indices of the words that (may) contain it
    for w, (symbols, count) in enumerate(zip(words, counts)):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += count
            where[pair].add(w)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    merges, made = [], 0
    while made < new_tokens and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts[pair] != -negative_count or negative_count == 0:
            continue   # a stale entry: the count changed after it was pushed
        merged_bytes = symbol_bytes[pair[0]] + symbol_bytes[pair[1]]
        if merged_bytes not in symbol_of:
            symbol_of[merged_bytes] = len(symbol_bytes)
            symbol_bytes.append(merged_bytes)
            made += 1
        merges.append((symbol_bytes[pair[0]], symbol_bytes[pair[1]]))
        changed = set()
        for w in where.pop(pair):
            old, new = words[w], _merge(words[w], pair, symbol_of[merged_bytes])
            for p in zip(old, old[1:]):
                pair_counts[p] -= counts[w]
                changed.add(p)
            for p in zip(new, new[1:]):
                pair_counts[p] += counts[w]
                where[p].add(w)
                changed.add(p)
            words[w] = new
        for p in changed:
            if pair_counts[p] > 0:
                heapq.heappush(heap, (-pair_counts[p], p))
    return merges
