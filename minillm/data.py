"""Corpora and batches: real text that ships with the course, split by document, cut into batches.

Two corpora, so the course needs no download:
- code: the standard library's own source files (`stdlib_corpus`, domain "code");
- prose: the English language reference behind `help("if")` (`pydoc_corpus`, domain "prose").
Both are read from a frozen copy in assets/corpora/ (taken from CPython 3.11.7 by
`python -m minillm.data freeze`; PSF licence, see assets/corpora/README.md), so every learner on
every Python trains and measures on the same characters. `source="python"` reads the running
interpreter's own files instead (another Python version gives slightly different text).
Any UTF-8 `.txt` file works the same way (`text_file_corpus`).

Train/validation splits are by document (`split_documents`), never by position inside one
text: a model must not be scored on the second half of a file whose first half it trained on.

Batches, all torch LongTensors:
- causal LM: `causal_lm_batches` draws windows at random offsets, x = window[:-1],
  y = window[1:] (the next token at every position); `eval_windows` covers a text once with
  contiguous windows, so a validation loss is the same number every time;
- masked LM: `random_windows` gives the windows (masking them is `minillm.objectives`' job);
- padding: `pad_batch` (one row per sequence, `is_token` False on padding) and `seq2seq_batch`
  (teacher forcing: the decoder reads `<s> y1 y2` and must predict `y1 y2 </s>`).
"""
from __future__ import annotations

import hashlib
import json
import lzma
import re
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch

from minillm.splits import normalise

IGNORE_INDEX = -100   # targets equal to this are skipped by minillm.functional.cross_entropy

CORPORA = Path(__file__).resolve().parents[1] / "assets" / "corpora"
FROZEN_FROM = "3.11.7"   # the CPython whose files assets/corpora/ holds
SOURCES = ("frozen", "python")


@dataclass(frozen=True)
class Document:
    """One unit of text: a source file, a help topic, a paragraph of a .txt file.

    name: unique within a corpus; the train/validation split hashes it.
    domain: "code", "prose" or "text" — later chapters compare models across domains.
    """
    name: str
    text: str
    domain: str

    def __repr__(self):
        # The default repr would print the whole text (up to 100,000 characters) in a notebook.
        head = self.text[:40].replace("\n", "\\n")
        return (f"Document(name={self.name!r}, domain={self.domain!r}, "
                f"{len(self.text):,} chars: {head!r}...)")


def stdlib_corpus(max_files=None, min_chars=1_000, max_chars=100_000, source="frozen"):
    """The top-level `.py` files of the standard library, one Document each (domain "code").

    Files are taken in order of name, named by module ("argparse"). Files shorter than min_chars
    are skipped: they are mostly few-line shims (`sre_parse`, `decimal`) that only re-export
    another module. Files longer than max_chars are skipped so that no single file (`_pydecimal`,
    229k characters) dominates the mix. Packages (subfolders, including `test/`) are not read:
    the corpus stays laptop-sized.
    max_files: keep only the first max_files files that pass, for quick experiments.
    source: "frozen" (the course's copy of CPython 3.11.7's files, the same on every machine) or
    "python" (the running interpreter's own files; those that are not valid UTF-8 are skipped).
    """
    if max_files is not None:
        _check_positive(max_files=max_files)
    files = _frozen("stdlib") if _check_source(source) == "frozen" else _interpreter_stdlib()
    docs = []
    for name, text in sorted(files.items()):
        if min_chars <= len(text) <= max_chars:
            docs.append(Document(name, text, "code"))
        if max_files is not None and len(docs) == max_files:
            break
    if not docs:
        raise ValueError(f"no standard-library file ({source}) has between {min_chars} and "
                         f"{max_chars} characters")
    return docs


def pydoc_corpus(source="frozen"):
    """The language reference's help topics (`help("if")`), one Document each (domain "prose").

    In order of topic name ("assert", "assignment", ...). source: "frozen" (the course's copy of
    CPython 3.11.7's `pydoc_data.topics`, the same on every machine) or "python" (the running
    interpreter's own).
    """
    topics = _frozen("pydoc") if _check_source(source) == "frozen" else _interpreter_topics()
    return [Document(name, topics[name], "prose") for name in sorted(topics)]


def _check_source(source):
    if source not in SOURCES:
        raise ValueError(f'source must be "frozen" (the copy in {CORPORA}) or "python" (the '
                         f"running interpreter's own files), got {source!r}")
    return source


def _frozen(kind):
    """{name: text} from assets/corpora/<kind>.json.xz."""
    path = CORPORA / f"{kind}.json.xz"
    if not path.is_file():
        raise FileNotFoundError(f"the course's frozen {kind} text is missing: expected {path} "
                                "(it ships with the repository; run from a clone of it)")
    return json.loads(lzma.decompress(path.read_bytes()).decode("utf-8"))


def _interpreter_stdlib():
    """{module name: source text} of the running Python's top-level stdlib .py files."""
    files = {}
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            files[path.stem] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return files


def _interpreter_topics():
    """{topic: text} of the running Python's help topics."""
    try:
        from pydoc_data.topics import topics
    except ImportError as error:
        raise ValueError("this Python was installed without pydoc_data (the text behind "
                         'help()); use source="frozen"') from error
    return dict(topics)


def freeze_corpora(folder=CORPORA):
    """Write the running interpreter's stdlib files and help topics to folder/stdlib.json.xz and
    folder/pydoc.json.xz (sorted JSON, xz-compressed, byte-identical for the same Python).
    The course's copy comes from CPython 3.11.7: `python -m minillm.data freeze`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, texts in (("stdlib", _interpreter_stdlib()), ("pydoc", _interpreter_topics())):
        data = json.dumps(texts, sort_keys=True, ensure_ascii=False, indent=0).encode("utf-8")
        (folder / f"{kind}.json.xz").write_bytes(lzma.compress(data, preset=9))
    return folder


def text_file_corpus(path, by="paragraph", domain="text"):
    """A UTF-8 text file as Documents.

    by="paragraph": one Document per paragraph (paragraphs are separated by blank lines), named
    "<file stem>:<index>", so that `split_documents` can hold some paragraphs out;
    by="file": the whole file as one Document, named by the file's stem.
    Line endings are normalised to "\\n".
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no text file at {path.resolve()}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") \
            from error
    if not text.strip():
        raise ValueError(f"{path} is empty (or only whitespace): there is no text to learn from")
    if by == "file":
        return [Document(path.stem, text, domain)]
    if by != "paragraph":
        raise ValueError(f'by must be "paragraph" or "file", got {by!r}')
    paragraphs = [p.rstrip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return [Document(f"{path.stem}:{i}", p, domain) for i, p in enumerate(paragraphs)]


def _stable_hash(name, seed):
    """A 64-bit hash that is the same in every Python process (the built-in hash() is salted)."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def split_documents(docs, valid_fraction=0.1, seed=0):
    """(train, valid): whole documents, the same split on every run and every machine.

    Documents are shuffled by a SHA-256 hash of (seed, name), and taken in that order for
    validation until they hold valid_fraction of all characters (so the last one taken may
    overshoot by up to one document's size; at least one document goes to each side). A
    validation document whose text (normalised as in `minillm.splits.normalise`) equals a
    training document's is dropped, so nothing held out was seen in training (the help topics
    "else" and "if" share one text). Both lists keep the documents' original order. Another seed
    gives another, equally random split.
    """
    docs = list(docs)
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must lie strictly between 0 and 1, got {valid_fraction}")
    if len(docs) < 2:
        raise ValueError(f"need at least 2 documents to split, got {len(docs)}; "
                         "text_file_corpus(path) cuts a file into paragraphs")
    names = [d.name for d in docs]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"document names must be unique (the split hashes them), repeated: "
                         f"{repeated[:5]}")
    wanted = valid_fraction * sum(len(d.text) for d in docs)
    valid_names, valid_chars = set(), 0
    for doc in sorted(docs, key=lambda d: _stable_hash(d.name, seed))[:-1]:
        if valid_names and valid_chars >= wanted:
            break
        valid_names.add(doc.name)
        valid_chars += len(doc.text)
    train = [d for d in docs if d.name not in valid_names]
    seen = {normalise(d.text) for d in train}
    valid = [d for d in docs if d.name in valid_names and normalise(d.text) not in seen]
    if not valid:
        raise ValueError("every validation document repeats the text of a training document; "
                         "there is nothing unseen to validate on")
    return train, valid


def concat_ids(docs, encode, sep_id=None):
    """(n_tokens,) LongTensor: every document encoded on its own, joined end to end.

    encode: text -> list of ids (e.g. a tokenizer's `encode`). Encoding documents one by one
    keeps tokens from spanning two documents. sep_id (e.g. an end-of-text id) goes between
    documents, so a model can learn where one ends and the next begins.
    """
    ids = []
    for i, doc in enumerate(docs):
        if i and sep_id is not None:
            ids.append(sep_id)
        ids.extend(encode(doc.text))
    if not ids:
        raise ValueError("the documents encode to no token ids at all")
    return torch.tensor(ids, dtype=torch.long)


def _as_ids(ids, min_len):
    """ids as a 1-D LongTensor with at least min_len tokens."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.ndim != 1:
        raise ValueError(f"ids must be one flat sequence of token ids, got shape "
                         f"{tuple(ids.shape)}")
    if len(ids) < min_len:
        raise ValueError(f"need at least {min_len} token ids for one window, got {len(ids)}")
    return ids


def _check_positive(**sizes):
    for name, value in sizes.items():
        if value is None or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")


def random_windows(ids, length, batch_size, seed=0, device=None):
    """Endless iterator of (batch_size, length) LongTensors, windows of ids at random offsets.

    Offsets come from a torch.Generator seeded with seed, so the same seed gives the same
    batches. Every offset in [0, len(ids) - length] is equally likely; windows may overlap.
    Take a fixed number with itertools.islice(random_windows(...), steps).
    """
    _check_positive(length=length, batch_size=batch_size)
    ids = _as_ids(ids, length)
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.arange(length)
    while True:
        starts = torch.randint(len(ids) - length + 1, (batch_size, 1), generator=generator)
        yield ids[starts + offsets].to(device)


def causal_lm_batches(ids, seq_len, batch_size, seed=0, device=None):
    """Endless iterator of (x, y), both (batch_size, seq_len) LongTensors, y[:, t] = x[:, t+1].

    Each row is a window of seq_len + 1 ids at a random offset (see `random_windows`): x is all
    but its last id, y all but its first, so position t is trained to predict the token after it.
    """
    for window in random_windows(ids, seq_len + 1, batch_size, seed=seed, device=device):
        yield window[:, :-1], window[:, 1:]


def eval_windows(ids, seq_len, batch_size=None, device=None):
    """List of (x, y) batches covering ids once, with contiguous non-overlapping windows.

    Window i starts at i * seq_len; x, y: (rows, seq_len), y = x shifted by one. Every token
    after the first is a target exactly once, except the last (len(ids) - 1) % seq_len, which
    do not fill a window. batch_size=None puts all windows in one batch.
    """
    _check_positive(seq_len=seq_len)
    ids = _as_ids(ids, seq_len + 1)
    n_windows = (len(ids) - 1) // seq_len
    x = ids[: n_windows * seq_len].view(n_windows, seq_len)
    y = ids[1 : n_windows * seq_len + 1].view(n_windows, seq_len)
    batch_size = n_windows if batch_size is None else batch_size
    _check_positive(batch_size=batch_size)
    return [(x[i : i + batch_size].to(device), y[i : i + batch_size].to(device))
            for i in range(0, n_windows, batch_size)]


def pad_batch(sequences, pad_id, side="right"):
    """(ids, is_token): sequences of different lengths as one padded batch.

    sequences: list of lists (or 1-D tensors) of token ids, none empty.
    ids: (batch, max_len) LongTensor, pad_id where a row is shorter than the longest;
    is_token: (batch, max_len) bool, True = a real token, False = padding (the flags
    `padding_mask` and the models' `is_token=` argument take).
    side="right" pads after the tokens (encoders, training); "left" pads before them, so that
    every row of a decoder's batch ends at the same position (generation).
    """
    if side not in ("right", "left"):
        raise ValueError(f'side must be "right" or "left", got {side!r}')
    sequences = [torch.as_tensor(s, dtype=torch.long) for s in sequences]
    if not sequences:
        raise ValueError("pad_batch got no sequences")
    for i, seq in enumerate(sequences):
        if seq.ndim != 1 or len(seq) == 0:
            raise ValueError(f"sequence {i} must be a non-empty list of token ids, got shape "
                             f"{tuple(seq.shape)}")
    max_len = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), max_len), pad_id, dtype=torch.long)
    is_token = torch.zeros(len(sequences), max_len, dtype=torch.bool)
    for row, seq in enumerate(sequences):
        cols = slice(0, len(seq)) if side == "right" else slice(max_len - len(seq), max_len)
        ids[row, cols] = seq
        is_token[row, cols] = True
    return ids, is_token


def seq2seq_batch(pairs, pad_id, bos_id, eos_id):
    """A padded batch for an encoder-decoder trained with teacher forcing.

    pairs: list of (source ids, target ids). Returns a dict of (batch, length) tensors:
    src, src_is_token: the sources as given, right-padded;
    tgt_in: bos_id + target (what the decoder reads), tgt_is_token its padding flags;
    tgt_out: target + eos_id (what it must predict at each position), IGNORE_INDEX (-100) on
    padding so the loss skips it.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("seq2seq_batch got no pairs")
    sources = [list(src) for src, _ in pairs]
    targets = [list(tgt) for _, tgt in pairs]
    src, src_is_token = pad_batch(sources, pad_id)
    tgt_in, tgt_is_token = pad_batch([[bos_id, *t] for t in targets], pad_id)
    tgt_out, _ = pad_batch([[*t, eos_id] for t in targets], IGNORE_INDEX)
    return {"src": src, "src_is_token": src_is_token, "tgt_in": tgt_in,
            "tgt_out": tgt_out, "tgt_is_token": tgt_is_token}


if __name__ == "__main__":
    if sys.argv[1:] != ["freeze"]:
        sys.exit("usage: python -m minillm.data freeze   (writes assets/corpora/ from this Python)")
    if sys.version.split()[0] != FROZEN_FROM:
        print(f"note: this is Python {sys.version.split()[0]}; the course's copy is from "
              f"{FROZEN_FROM}, and every stored chapter output was computed from it")
    print(f"wrote {freeze_corpora()}")
