"""Sentiment（情感）data: short reviews in English and Chinese with negation and contrast,
labelled 1 (positive) or 0 (negative) by written rules (`sentiment_pairs` documents them).

"the movie is not bad" is positive, "the movie is good , but the song is boring" negative: the
label needs more than counting good and bad words. Like `minillm.grammar`'s sentences, each
review is made by a rule, so its label is known, and `split="train"`/`"test"` keeps the two sides
disjoint (`minillm.splits`). (These lived in `minillm.grammar`, which still re-exports them.)
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace

from minillm.splits import check_split, split_of

# Sentiment: short reviews with negation and contrast, labelled by written rules

# What can be reviewed, by kind: English, Chinese.
REVIEWED = {
    "work": {"movie": "电影", "book": "书", "song": "歌", "story": "故事", "play": "话剧",
             "show": "节目"},
    "food": {"food": "菜", "cake": "蛋糕", "bread": "面包", "rice": "米饭", "pizza": "披萨"},
    "place": {"restaurant": "餐厅", "hotel": "酒店", "room": "房间", "cafe": "咖啡馆",
              "park": "公园"},
}
# Evaluative adjectives by kind: English -> (Chinese, polarity +1 / -1). "good" and "bad" judge
# the whole thing, the others one aspect of it. Every Chinese word here is negated by a plain 不
# (不好, 不贵), and each kind has as many positive words as negative.
OPINIONS = {
    "work": {"good": ("好", 1), "exciting": ("精彩", 1), "funny": ("好笑", 1),
             "bad": ("差", -1), "boring": ("无聊", -1), "confusing": ("难懂", -1)},
    "food": {"good": ("好", 1), "delicious": ("好吃", 1), "fresh": ("新鲜", 1),
             "bad": ("差", -1), "salty": ("咸", -1), "expensive": ("贵", -1)},
    "place": {"good": ("好", 1), "clean": ("干净", 1), "quiet": ("安静", 1),
              "bad": ("差", -1), "dirty": ("脏", -1), "noisy": ("吵", -1)},
}
OVERALL = ("good", "bad")
CONSTRUCTIONS = ("plain", "intensified", "negated", "contrast", "concessive", "opinion",
                 "negated_opinion")


@dataclass(frozen=True)
class SentimentPair:
    """A review in English and Chinese with its label: 1 positive, 0 negative.

    construction: one of CONSTRUCTIONS; slots: subject, adjective, negated (of the first
    clause) and subject2, adjective2, negated2 (of the second, or None where there is none).
    """
    en: str
    zh: str
    zh_tokens: tuple[str, ...]
    label: int
    construction: str
    slots: dict

    def __repr__(self):
        return f"SentimentPair(en={self.en!r}, zh={self.zh!r}, label={self.label})"


@dataclass(frozen=True)
class _Clause:
    subject: str
    adjective: str
    negated: bool
    very: bool

    def kind(self):
        return next(k for k, words in REVIEWED.items() if self.subject in words)

    def polarity(self):
        """+1 / -1: the adjective's polarity, flipped by "not"."""
        sign = OPINIONS[self.kind()][self.adjective][1]
        return -sign if self.negated else sign

    def en(self, pronoun=False):
        degree = "not " if self.negated else "very " if self.very else ""
        who = "it" if pronoun else f"the {self.subject}"
        return f"{who} is {degree}{self.adjective}"

    def zh_predicate(self):
        # A bare Chinese adjective predicate sounds like a comparison; 很 makes it a statement.
        degree = "不" if self.negated else "非常" if self.very else "很"
        return f"{degree} {OPINIONS[self.kind()][self.adjective][0]}"

    def zh(self):
        return f"{REVIEWED[self.kind()][self.subject]} {self.zh_predicate()}"


def _random_clause(rng, kind=None, polarity=None, negated=None, very=None, other_than=None,
                   overall=None):
    """A clause "the X is (not/very) ADJ"; if asked: of the given kind and final polarity, about
    another subject than other_than, with an overall ("good", "bad") adjective or not."""
    kind = kind or rng.choice(list(REVIEWED))
    negated = rng.random() < 0.5 if negated is None else negated
    very = (not negated and rng.random() < 0.5) if very is None else very
    subjects = [s for s in REVIEWED[kind] if s != other_than]
    adjectives = [a for a, (_, sign) in OPINIONS[kind].items()
                  if (overall is None or (a in OVERALL) == overall)
                  and (polarity is None or sign * (-1 if negated else 1) == polarity)]
    return _Clause(rng.choice(subjects), rng.choice(adjectives), negated, very)


def _review(rng, construction):
    """(first clause, second clause or None) of a review of the construction, drawn at random."""
    if construction in ("plain", "intensified", "negated"):
        return _random_clause(rng, negated=construction == "negated",
                              very=construction == "intensified"), None
    if construction in ("opinion", "negated_opinion"):
        return _random_clause(rng, negated=False), None
    # Two clauses about the same kind of thing, of opposite polarities: the second decides.
    if construction == "contrast":
        first = _random_clause(rng)
        return first, _random_clause(rng, first.kind(), -first.polarity(),
                                     other_than=first.subject)
    # Concessive "好 是 好 ， 但是 …": concede an overall judgement, then name one aspect of the
    # same subject ("it") that goes the other way ("好是好，但是太贵").
    first = _random_clause(rng, negated=False, very=False, overall=True)
    second = _random_clause(rng, first.kind(), -first.polarity(), negated=False, overall=False)
    return first, replace(second, subject=first.subject)


def _all_clauses(kind, negated=(False, True), very=(False, True), overall=(False, True)):
    """Every clause `_random_clause` can draw about a thing of this kind, with the given
    choices of negation, "very" (never together with "not") and overall adjective or not."""
    for subject in REVIEWED[kind]:
        for adjective in OPINIONS[kind]:
            if (adjective in OVERALL) not in overall:
                continue
            for is_negated in negated:
                for is_very in very:
                    if not (is_negated and is_very):
                        yield _Clause(subject, adjective, is_negated, is_very)


def _all_reviews(construction):
    """Every (first clause, second clause or None) that `_review` can draw: the whole space."""
    for kind in REVIEWED:
        if construction in ("plain", "intensified", "negated"):
            for clause in _all_clauses(kind, negated=(construction == "negated",),
                                       very=(construction == "intensified",)):
                yield clause, None
        elif construction in ("opinion", "negated_opinion"):
            for clause in _all_clauses(kind, negated=(False,)):
                yield clause, None
        elif construction == "contrast":
            for first in _all_clauses(kind):
                for second in _all_clauses(kind):
                    if second.subject != first.subject and second.polarity() == -first.polarity():
                        yield first, second
        else:
            for first in _all_clauses(kind, negated=(False,), very=(False,), overall=(True,)):
                for second in _all_clauses(kind, negated=(False,), overall=(False,)):
                    if second.subject == first.subject and second.polarity() == -first.polarity():
                        yield first, second


def _render(construction, first, second):
    """(English, Chinese words joined by spaces, polarity of the label) of a review."""
    if construction in ("plain", "intensified", "negated"):
        return first.en(), first.zh(), first.polarity()
    if construction == "opinion":
        return f"I think {first.en()}", f"我 觉得 {first.zh()}", first.polarity()
    if construction == "negated_opinion":
        return f"I do not think {first.en()}", f"我 不 觉得 {first.zh()}", -first.polarity()
    if construction == "contrast":
        return (f"{first.en()} , but {second.en()}", f"{first.zh()} ， 但是 {second.zh()}",
                second.polarity())
    adjective = OPINIONS[first.kind()][first.adjective][0]
    zh = (f"{REVIEWED[first.kind()][first.subject]} {adjective} 是 {adjective} ， "
          f"但是 {second.zh_predicate()}")
    return f"{first.en()} , but {second.en(pronoun=True)}", zh, second.polarity()


def _draw_on_side(rng, n, constructions, split):
    """n distinct (construction, first, second) whose English is on the split's side: each
    draw picks a construction at random among those with reviews left, then a review of it."""
    left = {c: [(first, second) for first, second in _all_reviews(c)
                if split_of(_render(c, first, second)[0]) == split] for c in constructions}
    available = sum(len(reviews) for reviews in left.values())
    if n > available:
        raise ValueError(f"the {split} side has {available} distinct reviews of the "
                         f"constructions {tuple(left)}: n can be at most {available}, got {n}")
    for reviews in left.values():
        rng.shuffle(reviews)
    draws = []
    for _ in range(n):
        construction = rng.choice([c for c in left if left[c]])
        draws.append((construction, *left[construction].pop()))
    return draws


def sentiment_pairs(n, seed=0, constructions=CONSTRUCTIONS, split=None):
    """n reviews in English and Chinese, labelled 1 (positive) or 0 (negative) by these rules:

    - plain "the movie is good" (电影 很 好), intensified "the movie is very good" (非常):
      the adjective's polarity;
    - negated "the movie is not bad" (电影 不 差): negation flips the polarity, so "not bad"
      is labelled positive (it is weaker than "good", but on the positive side);
    - contrast "the movie is good , but the song is boring" (…， 但是 …): two things of the
      same kind, of opposite polarities; the clause after "but" decides;
    - concessive "the movie is good , but it is boring" (电影 好 是 好 ， 但是 很 无聊, "good
      it is, but…"): an overall judgement conceded, then one aspect going the other way; the
      same rule: the aspect after "but" decides;
    - opinion "I think the movie is good" (我 觉得 …): the clause's polarity; negated_opinion
      "I do not think the movie is good" (我 不 觉得 …): flipped, though the "not" is far from
      the adjective.
    constructions: the constructions to draw from (uniformly), e.g. train without
    "negated_opinion" and test on it.
    split: None draws reviews at random, repeats possible. "train" or "test" draws n *distinct*
    reviews whose English is on that side of `minillm.splits.split_of`, so a test set never
    holds a training review; a construction whose reviews on that side run out is no longer
    drawn (the small ones, such as plain, have 96 reviews in all), and n larger than all
    reviews on the side raises ValueError naming the largest possible n.
    """
    unknown = sorted(set(constructions) - set(CONSTRUCTIONS))
    if unknown:
        raise ValueError(f"unknown constructions {unknown}; choose from {CONSTRUCTIONS}")
    if not constructions:
        raise ValueError(f"constructions is empty; choose from {CONSTRUCTIONS}")
    check_split(split)
    rng = random.Random(seed)
    if split is None:
        draws = []
        for _ in range(n):
            construction = rng.choice(list(constructions))
            draws.append((construction, *_review(rng, construction)))
    else:
        draws = _draw_on_side(rng, n, constructions, split)
    pairs = []
    for construction, first, second in draws:
        en, zh, polarity = _render(construction, first, second)
        slots = {"subject": first.subject, "adjective": first.adjective,
                 "negated": first.negated, "subject2": None, "adjective2": None, "negated2": None}
        if second is not None:
            slots.update(subject2=second.subject, adjective2=second.adjective,
                         negated2=second.negated)
        tokens = tuple(zh.split())
        pairs.append(SentimentPair(en, "".join(tokens), tokens, int(polarity > 0),
                                   construction, slots))
    return pairs
