"""Invented documents for a real LLM to read, made deterministically from a seed.

- short news reports, each with a one-sentence reference summary:    `news_reports`
- a fact base of invented towns, with questions it alone can answer: `town_facts`

The towns, people and rivers are invented (names built from syllables), so a model cannot know
the answers from pretraining: what it gets right, it read. Nothing here is ever trained on.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Question", "Report", "news_reports", "town_facts"]

_SYLLABLES = ("al", "bor", "cal", "dun", "el", "fen", "gar", "hol", "ist", "kel", "lor", "mar",
              "nor", "os", "pel", "quin", "ros", "sel", "tor", "ul", "vel", "wen", "yar", "zan")
_ENDINGS = ("by", "ford", "mere", "stead", "wick", "ton", "dale", "holm")
_FIRST_NAMES = ("Ada", "Bram", "Clara", "Dmitri", "Elin", "Farid", "Greta", "Hugo", "Ines",
                "Jonas", "Kaito", "Lena", "Milo", "Nadia", "Oskar", "Priya", "Rosa", "Tomas")
_EXPORTS = ("copper", "wool", "salt", "glass", "timber", "cheese", "tea", "silk", "paper",
            "honey")
_FACILITIES = ("library", "bridge", "swimming pool", "bus station", "concert hall", "clinic")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


def _invented_names(rng, n, ending=True):
    """n different invented capitalised names: "Velmorton", "Ostkel", ..."""
    names = []
    while len(names) < n:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3))))
        name = (word + (rng.choice(_ENDINGS) if ending else "")).capitalize()
        if name not in names:       # a list, not a set: the order must not depend on hashing
            names.append(name)
    return names


def _check_n(n):
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")


@dataclass(frozen=True)
class Report:
    """A news report: its text, a one-sentence reference summary, and the facts (strings) a
    good summary keeps."""
    text: str
    summary: str
    facts: tuple


def news_reports(n, seed=0):
    """n short news reports about invented towns (a council vote on a new building, with its cost,
    the vote and what happens next). Every report carries the same key facts, but one in two
    opens with a sentence of scene-setting, so its first sentence is not always the news.
    Returns a list of Report."""
    _check_n(n)
    rng = random.Random(seed)
    towns = _invented_names(rng, n)
    reports = []
    for town in towns:
        facility = rng.choice(_FACILITIES)
        cost = rng.randint(2, 19)
        votes_for = rng.randint(6, 9)
        votes_against = rng.randint(2, votes_for - 3)
        mayor = f"{rng.choice(_FIRST_NAMES)} {_invented_names(rng, 1, ending=False)[0]}"
        day, months = rng.choice(_WEEKDAYS), rng.randint(3, 11)
        news = (f"On {day}, the town council of {town} voted {votes_for} to {votes_against} to "
                f"build a new {facility}.")
        details = [f"The {facility} will cost {cost} million dollars.",
                   f"Mayor {mayor} said the town had waited years for it.",
                   f"Work is due to start in {months} months.",
                   f"The {votes_against} councillors who voted against it said the money was "
                   f"needed for roads."]
        rng.shuffle(details)
        opener = [f"It was a busy week in {town}."] if rng.random() < 0.5 else []
        summary = (f"{town}'s council voted {votes_for} to {votes_against} to build a new "
                   f"{facility} costing {cost} million dollars.")
        reports.append(Report(" ".join(opener + [news] + details), summary,
                              (town, facility, f"{cost} million")))
    return reports


@dataclass(frozen=True)
class Question:
    """A question about one passage of a fact base, its answer, and the passage's index."""
    text: str
    answer: str
    passage: int


def town_facts(n, seed=0):
    """A fact base of n invented towns, one passage each (its river, founder, founding year and
    main export), and one question per town about one of these facts. Returns (passages,
    questions): a list of n str and a list of n Question, question i about passage i."""
    _check_n(n)
    rng = random.Random(seed)
    towns = _invented_names(rng, n)
    rivers = _invented_names(rng, n, ending=False)
    passages, questions = [], []
    for i, (town, river) in enumerate(zip(towns, rivers)):
        founder = f"{rng.choice(_FIRST_NAMES)} {_invented_names(rng, 1, ending=False)[0]}"
        year, export = str(rng.randint(1650, 1950)), rng.choice(_EXPORTS)
        passages.append(f"{town} is a small town on the river {river}. It was founded in {year} "
                        f"by {founder}. Its main export is {export}.")
        text, answer = rng.choice((
            (f"Who founded the town of {town}?", founder),
            (f"In which year was {town} founded?", year),
            (f"What is the main export of {town}?", export),
            (f"On which river does {town} lie?", river)))
        questions.append(Question(text, answer, i))
    return passages, questions
