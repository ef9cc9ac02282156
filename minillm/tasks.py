"""Small offline tasks to fine-tune on: texts with labels, made deterministically from a seed.

- sentiment of a short review, English or Chinese:   `sentiment_task`    labels SENTIMENT_LABELS
- spam or not-spam ("ham") text messages:            `spam_task`         labels SPAM_LABELS
- which part of the standard library a snippet of    `stdlib_topic_task` labels TOPICS
  code or documentation comes from:
- instructions with their one right response:        `instruction_set`
- random symbol sequences (for recall tasks that        `symbol_sequences`
  need a long memory, chapter 2):

Every classification task returns (texts, labels): a list of str and a list of int class ids,
both of length n, the classes balanced up to rounding (sentiment follows its grammar's draw).
The same seed gives the same data.

Train and test sets: another seed is *not* another set of examples, since a small generator
repeats itself. Ask every generator for `split="train"` or `split="test"`: each possible example
belongs to one side by a hash of its text (`minillm.splits.split_of`), so the two sides never
share an example, and within a side no example repeats. `overlap(train_texts, test_texts)`
checks it; a chapter prints it and asserts it is empty. `split=None` (the default) draws from
all examples, repeats possible.

`symbol_sequences` returns an integer array instead of texts; each row's text, for the split and
for `overlap`, is `sequence_text(row)`.
"""
from __future__ import annotations

import ast
import itertools
import random
import string

import numpy as np

from minillm.data import stdlib_corpus
from minillm.grammar import CONSTRUCTIONS, sentiment_pairs
from minillm.splits import check_split, normalise, overlap, split_of

__all__ = ["SENTIMENT_LABELS", "SPAM_LABELS", "TOPICS", "TOPIC_MODULES", "instruction_kind",
           "instruction_set", "overlap", "sentiment_task", "sequence_text", "spam_task",
           "stdlib_topic_snippets", "stdlib_topic_task", "symbol_sequences"]

SENTIMENT_LABELS = ("negative", "positive")
SPAM_LABELS = ("ham", "spam")

# Topic -> the top-level standard-library modules whose code stands for it.
TOPIC_MODULES = {
    "files": ("shutil", "glob", "fnmatch", "tempfile", "pathlib", "filecmp", "fileinput",
              "tarfile", "zipfile", "genericpath", "posixpath", "ntpath", "gzip", "bz2", "lzma"),
    "network": ("smtplib", "ftplib", "socket", "ssl", "imaplib", "poplib", "socketserver",
                "ipaddress", "nntplib", "mailbox", "selectors"),
    "text": ("string", "textwrap", "difflib", "shlex", "gettext", "locale", "codecs",
             "stringprep", "tokenize", "csv", "pprint", "reprlib"),
    "numbers": ("fractions", "statistics", "random", "numbers", "colorsys", "decimal",
                "datetime", "calendar", "heapq", "bisect"),
}
TOPICS = tuple(TOPIC_MODULES)


def _check_n(n):
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")


def _on_side(texts, split):
    """The texts on the split's side, each normalised text once, in their first order."""
    kept = {}
    for text in texts:
        if split_of(text) == split:
            kept.setdefault(normalise(text), text)
    return list(kept.values())


def sentiment_task(n, seed=0, language="en", constructions=CONSTRUCTIONS, split=None):
    """n reviews from `minillm.grammar.sentiment_pairs` (negation, contrast, "好是好，但是…"),
    labelled 0 negative / 1 positive. language: "en", "zh" (words joined as Chinese is written)
    or "both" (each review in one of the two, at random). split: None, "train" or "test", decided
    by the English review, so a review and its translation are on the same side (see
    `sentiment_pairs`). Returns (texts, labels)."""
    _check_n(n)
    if language not in ("en", "zh", "both"):
        raise ValueError(f'language must be "en", "zh" or "both", got {language!r}')
    rng = random.Random(seed)
    pairs = sentiment_pairs(n, seed, constructions, split=split)
    texts = []
    for pair in pairs:
        chosen = language if language != "both" else rng.choice(("en", "zh"))
        texts.append(pair.en if chosen == "en" else pair.zh)
    return texts, [pair.label for pair in pairs]


# ---- spam ------------------------------------------------------------------------------------
# Both classes share words ("free", "win", "call", "account"), so single words do not decide.
_SPAM = (
    "Congratulations ! You have won a free {prize} . Call {phone} now to claim it",
    "URGENT : your {service} account is locked . Verify your details at {url}",
    "You are selected for a {amount} cash prize . Reply WIN to {phone}",
    "Free {prize} for the first 100 callers . Text {code} to {phone} , offer ends today",
    "Your {service} payment failed . Update your card at {url} within 24 hours",
    "Earn {amount} a week from home , no experience needed . Visit {url}",
    "Last chance : claim your free {prize} before midnight at {url}",
    "Dear customer , you can win {amount} . Call {phone} and quote {code}",
)
_HAM = (
    "Are we still meeting at {time} ? I can bring the {thing}",
    "Can you call me when you are free ? It is about the {thing}",
    "I left the {thing} at your place , can I pick it up at {time} ?",
    "Dinner at {time} tonight ? {name} is coming too",
    "Thanks for the {thing} , {name} loved it",
    "Running late , see you at {time} . Save me a seat",
    "Did you win the game yesterday ? {name} said it was close",
    "My {service} account finally works again , the password reset helped",
    "Free tomorrow at {time} for coffee ? I will call you",
    "Please send me the {thing} before {time} , {name} needs it",
)
_SLOTS = {
    "prize": ("iPhone", "holiday", "gift card", "laptop", "cruise", "TV"),
    "phone": ("0800 555 0199", "09061 701 461", "0871 277 8100", "08712 400 200"),
    "service": ("bank", "PayPal", "Netflix", "mail", "Amazon", "phone"),
    "url": ("www.win-now.biz", "secure-login.example.net", "bit.ly/claim4u", "prize-desk.co"),
    "amount": ("£1000", "$500", "£250", "$2000", "€750"),
    "code": ("WIN77", "CLAIM", "GIFT", "PRIZE5"),
    "time": ("6", "7:30", "noon", "10", "half past 8", "lunch"),
    "thing": ("book", "charger", "keys", "tickets", "notes", "umbrella", "photos"),
    "name": ("Mum", "Tom", "Anna", "Li Wei", "Sam", "Grandpa"),
}


def _fill(template, rng):
    return template.format(**{slot: rng.choice(values) for slot, values in _SLOTS.items()})


def _all_messages(templates):
    """Every message the templates can make: each of their slots filled in every way."""
    messages = []
    for template in templates:
        slots = [name for _, name, _, _ in string.Formatter().parse(template) if name]
        for values in itertools.product(*(_SLOTS[slot] for slot in slots)):
            messages.append(template.format(**dict(zip(slots, values))))
    return messages


def spam_task(n, seed=0, split=None):
    """n text messages, half spam (label 1: prizes, urgent accounts, links, premium numbers) and
    half ham (label 0: everyday messages that share some of spam's words), in random order.
    split: None draws messages at random, repeats possible; "train" or "test" draws distinct
    messages of that side only (see the module's docstring). Returns (texts, labels)."""
    _check_n(n)
    check_split(split)
    rng = random.Random(seed)
    labels = [i % 2 for i in range(n)]
    rng.shuffle(labels)
    if split is None:
        texts = [_fill(rng.choice(_SPAM if label else _HAM), rng) for label in labels]
        return texts, labels
    ham, spam = _on_side(_all_messages(_HAM), split), _on_side(_all_messages(_SPAM), split)
    if labels.count(0) > len(ham) or labels.count(1) > len(spam):
        largest = 2 * min(len(ham), len(spam)) + (len(ham) > len(spam))   # ham gets the odd one
        raise ValueError(f"the {split} side has {len(ham)} distinct ham and {len(spam)} spam "
                         f"messages: n can be at most {largest}, got {n}")
    drawn = {0: rng.sample(ham, labels.count(0)), 1: rng.sample(spam, labels.count(1))}
    return [drawn[label].pop() for label in labels], labels


# ---- standard-library topics ------------------------------------------------------------------
def _snippets(source, max_chars):
    """The first max_chars characters of every function and class that has a docstring: its
    signature line and its docstring (documentation, not a module name), one line of text."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node):
            kind = "class" if isinstance(node, ast.ClassDef) else "def"
            text = f"{kind} {node.name}: {' '.join(ast.get_docstring(node).split())}"
            found.append(text[:max_chars])
    return found


def stdlib_topic_snippets(max_chars=160):
    """{topic: [snippet, ...]} from the standard library installed here (see TOPIC_MODULES):
    each snippet is "def name: docstring..." or "class Name: docstring..." of one function or
    class, cut to max_chars characters, in the order of the files."""
    module_topic = {m: topic for topic, modules in TOPIC_MODULES.items() for m in modules}
    snippets = {topic: [] for topic in TOPICS}
    for doc in stdlib_corpus(min_chars=0, max_chars=10**7):
        if doc.name in module_topic:
            snippets[module_topic[doc.name]] += _snippets(doc.text, max_chars)
    return snippets


def stdlib_topic_task(n, seed=0, max_chars=160, split=None):
    """n snippets (see `stdlib_topic_snippets`) labelled with their topic's index in TOPICS,
    about n / len(TOPICS) per topic, drawn without replacement and shuffled. split: None draws
    from all snippets; "train" or "test" from the distinct snippets of that side only (see the
    module's docstring). Returns (texts, labels). Raises ValueError, naming the largest possible
    n, if a topic has fewer snippets than it needs."""
    _check_n(n)
    check_split(split)
    rng = random.Random(seed)
    snippets = stdlib_topic_snippets(max_chars)
    if split is not None:
        snippets = {topic: _on_side(texts, split) for topic, texts in snippets.items()}
    sizes = [len(snippets[topic]) for topic in TOPICS]
    examples = []
    for label, topic in enumerate(TOPICS):
        k = n // len(TOPICS) + (label < n % len(TOPICS))
        if k > sizes[label]:
            raise ValueError(f"topic {topic!r} has {sizes[label]} snippets"
                             f"{'' if split is None else ' on the ' + split + ' side'}, {k} "
                             f"asked: n can be at most {_largest_balanced(sizes)}, got {n}")
        examples += [(text, label) for text in rng.sample(snippets[topic], k)]
    rng.shuffle(examples)
    return [text for text, _ in examples], [label for _, label in examples]


def _largest_balanced(sizes):
    """The largest n whose balanced share (n // k, one more for the first n % k) fits sizes."""
    n = len(sizes) * min(sizes)
    for size in sizes:                    # the first topics take the remainder, one each
        if size == min(sizes):
            break
        n += 1
    return n


# ---- instructions ----------------------------------------------------------------------------
_VALUES = {"int": ("3", "42", "-7", "1000", "0"), "float": ("3.5", "0.25", "-1.0", "2.75"),
           "str": ("'abc'", "'hello'", "'x'", "'42'"), "list": ("[1, 2]", "[]", "['a']"),
           "dict": ("{'a': 1}", "{}", "{1: 2}"), "bool": ("True", "False"),
           "tuple": ("(1, 2)", "('a',)")}
_OPPOSITES = {"True": "False", "False": "True", "open": "close", "start": "stop",
              "first": "last", "min": "max", "push": "pop", "read": "write", "get": "set",
              "add": "remove", "enter": "exit", "begin": "end", "lower": "upper", "on": "off"}
_WORDS = ("list", "class", "import", "return", "lambda", "yield", "print", "value", "object",
          "string", "module", "method", "default", "format", "while", "break", "global",
          "assert", "tuple", "float", "range", "index", "error", "token", "model", "layer",
          "batch", "input", "output", "python")


def _all_instructions():
    """{kind: [(instruction, response), ...]}: every pair of the four kinds."""
    return {
        "type": [(f"What is the type of {value}?", name)
                 for name, values in _VALUES.items() for value in values],
        "opposite": [(f"What is the opposite of {word}?", opposite)
                     for word, opposite in _OPPOSITES.items()],
        "upper": [(f"Write {word} in upper case.", word.upper()) for word in _WORDS],
        "repeat": [(f"Repeat the word {word} twice.", f"{word} {word}") for word in _WORDS],
    }


def instruction_kind(instruction):
    """"type", "opposite", "upper" or "repeat": which of the four kinds an instruction is."""
    for kind, pairs in _all_instructions().items():
        if instruction in dict(pairs):
            return kind
    raise ValueError(f"{instruction!r} is not one of instruction_set's instructions")


def instruction_set(n, seed=0, split=None):
    """n (instruction, response) pairs of four kinds: the type of a Python value ("What is the
    type of 3.5?" -> "float"), an opposite ("open" -> "close"), upper case ("list" -> "LIST")
    and repetition ("Repeat the word yield twice." -> "yield yield").
    split: None picks a kind, then a pair of it, at random: pairs repeat. "train" or "test"
    draws n distinct pairs whose instruction is on that side (see the module's docstring), so
    a test instruction was never trained on; there are only a few dozen per side, and a larger
    n raises ValueError naming the largest."""
    _check_n(n)
    check_split(split)
    rng = random.Random(seed)
    by_kind = _all_instructions()
    if split is None:
        return [rng.choice(by_kind[rng.choice(list(by_kind))]) for _ in range(n)]
    pool = [pair for pairs in by_kind.values() for pair in pairs if split_of(pair[0]) == split]
    if n > len(pool):
        raise ValueError(f"the {split} side has {len(pool)} distinct instructions: n can be at "
                         f"most {len(pool)}, got {n}")
    return rng.sample(pool, n)


# ---- symbol sequences --------------------------------------------------------------------------
def sequence_text(sequence):
    """The text of a sequence of symbol ids, for `split_of` and `overlap`: [3, 0, 7] -> "3 0 7"."""
    return " ".join(str(int(symbol)) for symbol in sequence)


def symbol_sequences(n, length, n_symbols, seed=0, split=None):
    """n sequences of `length` symbols, each drawn uniformly from 0 .. n_symbols - 1: an int64
    array (n, length). Nothing in such a sequence predicts a symbol from its neighbours, so a task
    like "say the symbol D positions back" can only be solved by remembering it.
    split: None keeps every draw; "train" or "test" keeps only the sequences on that side (by
    `split_of(sequence_text(row))`), so a test sequence never occurs in training; within a side
    no sequence repeats. The same arguments give the same array."""
    _check_n(n)
    check_split(split)
    for name, value, least in (("length", length, 1), ("n_symbols", n_symbols, 2)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if split is not None and n_symbols**length < 4 * n:
        raise ValueError(f"{n_symbols} symbols make only {n_symbols**length} sequences of length "
                         f"{length}: too few for {n} distinct ones on one side of the split")
    rng = np.random.default_rng(seed)
    kept, seen = [], set()
    while len(kept) < n:
        for row in rng.integers(0, n_symbols, size=(2 * n, length)):
            text = sequence_text(row)
            if split is None or (split_of(text) == split and text not in seen):
                kept.append(row)
                seen.add(text)
                if len(kept) == n:
                    break
    return np.stack(kept).astype(np.int64)
