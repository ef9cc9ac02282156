"""Train/test splits that cannot overlap: every text belongs to one side, by a hash of its words.

Drawing the test set "from another seed" does not keep it out of training: a small generator
repeats itself, and a test example seen in training measures memory, not generalisation. Here
each text is assigned to "train" or "test" by a stable hash (SHA-256, the same on every machine
and in every process, unlike Python's salted `hash()`) of its normalised form: lower-cased, runs
of whitespace collapsed. The generators in `minillm.tasks` and `minillm.grammar` take
`split="train"` or `split="test"` and keep only texts of that side, so the two sides are
disjoint by construction; `overlap` checks it.

    >>> split_of("The movie is  good") == split_of("the movie is good")
    True
"""
from __future__ import annotations

import hashlib

SPLITS = ("train", "test")
TEST_SHARE = 0.5   # the share of all possible texts that belongs to the test side


def normalise(text):
    """text lower-cased, with every run of whitespace turned into one space and none at the ends:
    "The  movie\\tis good " -> "the movie is good"."""
    return " ".join(text.lower().split())


def split_of(text):
    """"train" or "test": the side of the split the text belongs to, decided by the SHA-256 of
    its normalised form (a TEST_SHARE of all texts is "test")."""
    digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    return "test" if int.from_bytes(digest[:8], "big") < TEST_SHARE * 2**64 else "train"


def check_split(split):
    """Refuse anything but None (no split: draw from everything), "train" or "test"."""
    if split is not None and split not in SPLITS:
        raise ValueError(f'split must be "train", "test" or None, got {split!r}')


def overlap(train_texts, test_texts):
    """The test texts whose normalised form (see `normalise`) also occurs in training, in the
    order of test_texts. An empty list means no test text was seen in training.

    >>> overlap(["the movie is good", "the cake is fresh"],
    ...         ["The movie is  good", "the song is boring"])
    ['The movie is  good']
    """
    seen = {normalise(text) for text in train_texts}
    return [text for text in test_texts if normalise(text) in seen]
