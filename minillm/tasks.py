"""Small offline tasks to fine-tune on: texts with labels, made deterministically from a seed.

- sentiment of a short review, English or Chinese:   `sentiment_task`    labels SENTIMENT_LABELS
- spam or not-spam ("ham") text messages:            `spam_task`         labels SPAM_LABELS
- which part of the standard library a snippet of    `stdlib_topic_task` labels TOPICS
  code or documentation comes from:
- instructions with their one right response:        `instruction_set`

Every classification task returns (texts, labels): a list of str and a list of int class ids,
both of length n, the classes balanced up to rounding (sentiment follows its grammar's draw).
The same seed gives the same data; different seeds give (mostly) different examples, so take
the training and the test set from different seeds, or split one draw.
"""
from __future__ import annotations

import ast
import random

from minillm.data import stdlib_corpus
from minillm.grammar import CONSTRUCTIONS, sentiment_pairs

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


def sentiment_task(n, seed=0, language="en", constructions=CONSTRUCTIONS):
    """n reviews from `minillm.grammar.sentiment_pairs` (negation, contrast, "好是好，但是…"),
    labelled 0 negative / 1 positive. language: "en", "zh" (words joined as Chinese is written)
    or "both" (each review in one of the two, at random). Returns (texts, labels)."""
    _check_n(n)
    if language not in ("en", "zh", "both"):
        raise ValueError(f'language must be "en", "zh" or "both", got {language!r}')
    rng = random.Random(seed)
    pairs = sentiment_pairs(n, seed, constructions)
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


def spam_task(n, seed=0):
    """n text messages, half spam (label 1: prizes, urgent accounts, links, premium numbers) and
    half ham (label 0: everyday messages that share some of spam's words), in random order.
    Returns (texts, labels)."""
    _check_n(n)
    rng = random.Random(seed)
    labels = [i % 2 for i in range(n)]
    rng.shuffle(labels)
    texts = [_fill(rng.choice(_SPAM if label else _HAM), rng) for label in labels]
    return texts, labels


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


def stdlib_topic_task(n, seed=0, max_chars=160):
    """n snippets (see `stdlib_topic_snippets`) labelled with their topic's index in TOPICS,
    about n / len(TOPICS) per topic, drawn without replacement and shuffled.
    Returns (texts, labels). Raises ValueError if a topic has fewer snippets than it needs."""
    _check_n(n)
    rng = random.Random(seed)
    snippets = stdlib_topic_snippets(max_chars)
    examples = []
    for label, topic in enumerate(TOPICS):
        k = n // len(TOPICS) + (label < n % len(TOPICS))
        if k > len(snippets[topic]):
            raise ValueError(f"topic {topic!r} has {len(snippets[topic])} snippets, {k} asked")
        examples += [(text, label) for text in rng.sample(snippets[topic], k)]
    rng.shuffle(examples)
    return [text for text, _ in examples], [label for _, label in examples]


# ---- instructions ----------------------------------------------------------------------------
_VALUES = {"int": ("3", "42", "-7", "1000", "0"), "float": ("3.5", "0.25", "-1.0", "2.75"),
           "str": ("'abc'", "'hello'", "'x'", "'42'"), "list": ("[1, 2]", "[]", "['a']"),
           "dict": ("{'a': 1}", "{}", "{1: 2}"), "bool": ("True", "False"),
           "tuple": ("(1, 2)", "('a',)")}
_OPPOSITES = {"True": "False", "False": "True", "open": "close", "start": "stop",
              "first": "last", "min": "max", "push": "pop", "read": "write", "get": "set",
              "add": "remove", "enter": "exit", "begin": "end", "lower": "upper", "on": "off"}
_WORDS = ("list", "class", "import", "return", "lambda", "yield", "print", "value", "object",
          "string", "module", "method", "default", "format")


def _instruction(rng):
    kind = rng.choice(("type", "opposite", "upper", "repeat"))
    if kind == "type":
        name = rng.choice(list(_VALUES))
        return f"What is the type of {rng.choice(_VALUES[name])}?", name
    if kind == "opposite":
        word = rng.choice(list(_OPPOSITES))
        return f"What is the opposite of {word}?", _OPPOSITES[word]
    word = rng.choice(_WORDS)
    if kind == "upper":
        return f"Write {word} in upper case.", word.upper()
    return f"Repeat the word {word} twice.", f"{word} {word}"


def instruction_set(n, seed=0):
    """n (instruction, response) pairs of four kinds: the type of a Python value ("What is the
    type of 3.5?" -> "float"), an opposite ("open" -> "close"), upper case ("list" -> "LIST")
    and repetition ("Repeat the word yield twice." -> "yield yield"). Pairs may repeat."""
    _check_n(n)
    rng = random.Random(seed)
    return [_instruction(rng) for _ in range(n)]
