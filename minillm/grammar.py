"""A small synchronous grammar: parallel English↔Chinese sentences with their word alignment.

A corpus where everything is known: which rule made each sentence, which word filled each role,
and which English word each Chinese word translates. Later chapters use it for translation,
compositional generalization (hold a combination out of training, test on it) and sentiment
with negation and contrast.

Each rule rewrites one symbol into an English and a Chinese sequence of the *same* children,
possibly in another order (a synchronous context-free grammar), so the alignment is known:

    S      -> < SUBJ NEG VERB OBJ PLACE TIME , SUBJ TIME NEG PLACE VERB OBJ >
    NP     -> < DET ADJ N , DET ADJ N >
    PLACE  -> < in the N , 在 N 里 > | < at N , 在 N >
    NEG    -> < does not , 不 > | < did not , 没 >
    VERB   -> < eats , 吃 > | < ate , 吃 了 > | ...
    DET    -> < the , ε > | < my , 我 的 > | < a , 一 MW > | < two , 两 MW > | < a cup of , 一 杯 >
    ADJ    -> < big , 大 > | < red , 红色 的 > | ...

(NEG, ADJ, PLACE and TIME may be empty.) Time and place phrases move in front of the verb in
Chinese, so the alignment is not monotone: "the cat ate the fish in the garden yesterday" ->
猫 昨天 在 花园 里 吃 了 鱼. Features keep the words in agreement: a number makes the noun
plural and the English verb plural; a time phrase fixes the tense (yesterday -> past -> ate, 吃 了);
past negation is 没 without 了, present negation 不; a stative verb (likes) is present only.

Alignment conventions, over `pair.en.split()` and `pair.zh_tokens` (Chinese is segmented into
words: 老师, 看见, 红色; `pair.zh` joins them without spaces, as Chinese is written):
- "the" and the auxiliaries "does"/"do"/"did" and "of" have no Chinese counterpart: unaligned;
- every Chinese word is aligned: a measure word (只, 本) to the number or "a" before it, 的 to
  the adjective or "my" it marks, 了 to the past-tense verb, 在 ... 里 to the preposition;
- a multi-word time phrase and its Chinese translation are aligned as a block.

Sentiment (`sentiment_pairs`): short reviews in both languages with a label (1 positive,
0 negative) that follows written rules, in `minillm.reviews` (importable from here too).
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace

import numpy as np

# The sentiment reviews live in minillm.reviews; these names stay importable from here.
from minillm.reviews import (  # noqa: F401
    CONSTRUCTIONS,
    OPINIONS,
    OVERALL,
    REVIEWED,
    SentimentPair,
    sentiment_pairs,
)
from minillm.splits import check_split, split_of

# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Noun:
    """en: singular ("cat"), plural ("cats"), zh: 猫, measure: the measure word used with a
    number (只). kind: what verbs and adjectives select on: person, animal, food, drink, thing,
    text. unit: for a drink, the English container ("cup", "cups") that a number counts."""
    en: str
    plural: str
    zh: str
    measure: str
    kind: str
    unit: tuple[str, str] | None = None


@dataclass(frozen=True)
class Verb:
    """English forms (eat, eats, ate), zh: 吃. subjects/objects: the noun kinds or noun keys it
    takes. stative: present tense only, no time or place phrase (likes). negate_present: False
    where "does not" has no plain Chinese equivalent (看见 "see": 看不见 means "cannot see")."""
    en: str
    third: str
    past: str
    zh: str
    subjects: tuple[str, ...]
    objects: tuple[str, ...]
    stative: bool = False
    negate_present: bool = True


@dataclass(frozen=True)
class Adjective:
    """en: big, zh: 大; de: whether Chinese marks it with 的 (红色 的 球, but 大 球);
    kinds: the noun kinds it describes."""
    en: str
    zh: str
    de: bool
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class Place:
    """<prep (the) en , 在 zh (里)>: "in the garden" -> 在 花园 里, "at home" -> 在 家."""
    en: str
    zh: str
    prep: str
    article: bool
    inside: bool


@dataclass(frozen=True)
class Time:
    """A time phrase and the tense it requires: "yesterday" -> 昨天, past."""
    en: str
    zh: str
    tense: str


def _nouns():
    n = Noun
    return (
        n("teacher", "teachers", "老师", "位", "person"),
        n("student", "students", "学生", "个", "person"),
        n("friend", "friends", "朋友", "个", "person"),
        n("doctor", "doctors", "医生", "位", "person"),
        n("child", "children", "孩子", "个", "person"),
        n("cat", "cats", "猫", "只", "animal"),
        n("dog", "dogs", "狗", "只", "animal"),
        n("bird", "birds", "鸟", "只", "animal"),
        n("horse", "horses", "马", "匹", "animal"),
        n("fish", "fish", "鱼", "条", "food"),
        n("apple", "apples", "苹果", "个", "food"),
        n("cake", "cakes", "蛋糕", "块", "food"),
        n("egg", "eggs", "鸡蛋", "个", "food"),
        n("water", "water", "水", "杯", "drink", ("cup", "cups")),
        n("milk", "milk", "牛奶", "杯", "drink", ("glass", "glasses")),
        n("tea", "tea", "茶", "杯", "drink", ("cup", "cups")),
        n("juice", "juice", "果汁", "瓶", "drink", ("bottle", "bottles")),
        n("ball", "balls", "球", "个", "thing"),
        n("hat", "hats", "帽子", "顶", "thing"),
        n("box", "boxes", "盒子", "个", "thing"),
        n("car", "cars", "车", "辆", "thing"),
        n("flower", "flowers", "花", "朵", "thing"),
        n("book", "books", "书", "本", "text"),
        n("letter", "letters", "信", "封", "text"),
        n("newspaper", "newspapers", "报纸", "份", "text"),
    )


def _verbs():
    v = Verb
    animate, everything = ("person", "animal"), ("person", "animal", "food", "thing", "text")
    return (
        v("eat", "eats", "ate", "吃", animate, ("food",)),
        v("drink", "drinks", "drank", "喝", animate, ("drink",)),
        v("buy", "buys", "bought", "买", ("person",), ("food", "drink", "thing", "text")),
        v("sell", "sells", "sold", "卖", ("person",), ("food", "drink", "thing", "text")),
        v("read", "reads", "read", "看", ("person",), ("text",)),
        v("write", "writes", "wrote", "写", ("person",), ("letter", "book")),
        v("draw", "draws", "drew", "画", ("person",), ("animal", "food", "thing")),
        v("open", "opens", "opened", "打开", ("person",), ("box", "book", "letter")),
        v("see", "sees", "saw", "看见", animate, everything, negate_present=False),
        v("like", "likes", "liked", "喜欢", animate, everything, stative=True),
    )


def _adjectives():
    a = Adjective
    return (
        a("big", "大", False, ("animal", "thing")),
        a("small", "小", False, ("animal", "thing")),
        a("red", "红色", True, ("thing",)),
        a("white", "白色", True, ("animal", "thing")),
        a("black", "黑色", True, ("animal", "thing")),
        a("new", "新", False, ("thing", "text")),
        a("old", "旧", False, ("thing", "text")),
        a("cute", "可爱", True, ("animal",)),
        a("young", "年轻", True, ("person",)),
        a("fresh", "新鲜", True, ("food",)),
        a("hot", "热", False, ("drink",)),
        a("cold", "冰", False, ("drink",)),
    )


def _places():
    return (
        Place("garden", "花园", "in", article=True, inside=True),
        Place("kitchen", "厨房", "in", article=True, inside=True),
        Place("park", "公园", "in", article=True, inside=True),
        Place("school", "学校", "at", article=False, inside=False),
        Place("home", "家", "at", article=False, inside=False),
    )


def _times():
    return (
        Time("yesterday", "昨天", "past"),
        Time("last week", "上周", "past"),
        Time("last night", "昨晚", "past"),
        Time("every day", "每天", "present"),
        Time("every morning", "每天 早上", "present"),
    )


@dataclass(frozen=True)
class Vocabulary:
    """The words the grammar may use; each is known by its key, its English (singular/base) form.

    `DEFAULT_VOCABULARY.only(nouns=["cat", "fish"], verbs=["eat"])` keeps just those words in
    the categories named (the others keep all theirs), for smaller or controlled corpora.
    """
    nouns: tuple[Noun, ...] = field(default_factory=_nouns)
    verbs: tuple[Verb, ...] = field(default_factory=_verbs)
    adjectives: tuple[Adjective, ...] = field(default_factory=_adjectives)
    places: tuple[Place, ...] = field(default_factory=_places)
    times: tuple[Time, ...] = field(default_factory=_times)

    def keys(self, category):
        """The keys of one category ("nouns", "verbs", ...), in order."""
        return [word.en for word in getattr(self, category)]

    def only(self, **keep):
        """A copy with only the given keys in each category named, e.g. only(verbs=["eat"])."""
        changes = {}
        for category, keys in keep.items():
            if category not in ("nouns", "verbs", "adjectives", "places", "times"):
                raise ValueError(f"unknown category {category!r}: use nouns, verbs, adjectives, "
                                 "places or times")
            unknown = sorted(set(keys) - set(self.keys(category)))
            if unknown:
                raise ValueError(f"{category} has no {unknown}; it has {self.keys(category)}")
            changes[category] = tuple(w for w in getattr(self, category) if w.en in keys)
        return replace(self, **changes)


DEFAULT_VOCABULARY = Vocabulary()

# ---------------------------------------------------------------------------------------------
# Synchronous phrases: English tokens, Chinese tokens, and the links between them
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Phrase:
    en: tuple[str, ...] = ()
    zh: tuple[str, ...] = ()
    links: tuple[tuple[int, int], ...] = ()   # (English index, Chinese index), local


def _words(en, zh, links=None):
    """A phrase from space-separated words; links=None aligns every word with every word."""
    en, zh = tuple(en.split()), tuple(zh.split())
    if links is None:
        links = [(i, j) for i in range(len(en)) for j in range(len(zh))]
    return _Phrase(en, zh, tuple(links))


def _rule(children, zh_order):
    """English: the children in order; Chinese: the same children in zh_order."""
    en_start, zh_start = [], {}
    en, zh = [], []
    for child in children:
        en_start.append(len(en))
        en.extend(child.en)
    for index in zh_order:
        zh_start[index] = len(zh)
        zh.extend(children[index].zh)
    links = [(en_start[c] + i, zh_start[c] + j)
             for c, child in enumerate(children) for i, j in child.links]
    return _Phrase(tuple(en), tuple(zh), tuple(sorted(links)))


NUMBERS = {"two": "两", "three": "三"}
# How often each determiner is drawn: mostly "the", as in ordinary text.
SUBJECT_DETERMINERS = {"the": 5, "my": 2, "two": 2, "three": 1}
OBJECT_DETERMINERS = {"the": 4, "a": 3, "my": 1, "two": 1, "three": 1}


def _determiner(det, noun, next_word):
    """DET -> <the, ε> | <my, 我 的> | <a, 一 MW> | <two, 两 MW> | <a cup of, 一 杯>."""
    if det == "the":
        return _words("the", "")
    if det == "my":
        return _words("my", "我 的")
    number = "一" if det == "a" else NUMBERS[det]
    if det == "a":
        det = "an" if next_word[0] in "aeiou" else "a"
    if noun.unit is None:
        return _words(det, f"{number} {noun.measure}")   # the measure word aligns to the number
    unit = noun.unit[0] if det in ("a", "an") else noun.unit[1]
    return _words(f"{det} {unit} of", f"{number} {noun.measure}", [(0, 0), (1, 1)])


def _noun_phrase(noun, det, adj):
    """NP -> <DET ADJ N, DET ADJ N>, with a plural English noun after a number."""
    plural = det in NUMBERS and noun.unit is None
    head = _words(noun.plural if plural else noun.en, noun.zh)
    adjective = _Phrase() if adj is None else _words(adj.en, f"{adj.zh} 的" if adj.de else adj.zh)
    # "a" or "an" depends on the word that follows: "a cup of", "an old book", "an apple".
    next_word = noun.unit[0] if noun.unit else (adjective.en + head.en)[0]
    children = [_determiner(det, noun, next_word), adjective, head]
    return _rule(children, [0, 1, 2])


def _place_phrase(place):
    """PLACE -> <in the N, 在 N 里> | <at N, 在 N>; the preposition aligns to 在 (and 里)."""
    en = f"{place.prep} the {place.en}" if place.article else f"{place.prep} {place.en}"
    zh = f"在 {place.zh} 里" if place.inside else f"在 {place.zh}"
    noun_index = 2 if place.article else 1
    links = [(0, 0), (noun_index, 1)] + ([(0, 2)] if place.inside else [])
    return _words(en, zh, links)


def _verb_phrase(verb, tense, negated, plural):
    """(NEG, VERB): <does not, 不> <eat, 吃> | <did not, 没> <eat, 吃> | <ate, 吃 了> | <eats, 吃>
    (the English auxiliary has no Chinese counterpart; 了 marks the past, aligned to the verb)."""
    if negated:
        aux = "did" if tense == "past" else "do" if plural else "does"
        word = "没" if tense == "past" else "不"
        return _words(f"{aux} not", word, [(1, 0)]), _words(verb.en, verb.zh)
    if tense == "past":
        return _Phrase(), _words(verb.past, f"{verb.zh} 了")
    return _Phrase(), _words(verb.en if plural else verb.third, verb.zh)


# ---------------------------------------------------------------------------------------------
# Pairs, and the grammar that samples them
# ---------------------------------------------------------------------------------------------

ROLES = ("subject", "subject_det", "subject_adj", "verb", "object", "object_det", "object_adj",
         "tense", "negated", "place", "time")
P_SUBJECT_ADJ, P_OBJECT_ADJ, P_PLACE, P_TIME, P_NEGATED = 0.2, 0.35, 0.35, 0.5, 0.25
MAX_TRIES = 1_000


@dataclass(frozen=True)
class Pair:
    """One parallel sentence.

    en: English, words separated by spaces; zh: Chinese as written (no spaces);
    zh_tokens: the Chinese words; alignment: sorted (en_index, zh_index) pairs over
    en.split() and zh_tokens; slots: which word filled each role (see ROLES), e.g.
    {"subject": "cat", "verb": "eat", "tense": "past", "object_adj": None, ...}.
    """
    en: str
    zh: str
    zh_tokens: tuple[str, ...]
    alignment: tuple[tuple[int, int], ...]
    slots: dict

    @property
    def en_tokens(self):
        return tuple(self.en.split())

    def __repr__(self):
        return f"Pair(en={self.en!r}, zh={self.zh!r})"


def _check_combo(combo):
    unknown = sorted(set(combo) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {list(ROLES)}")


def _as_combos(combos):
    """A list of combos from one combo (a dict) or any iterable of them, each checked."""
    combos = [combos] if isinstance(combos, dict) else list(combos)
    for combo in combos:
        _check_combo(combo)
    return combos


def matches(pair, combo):
    """Whether pair filled every role of combo with the given word, e.g.
    combo = {"object_adj": "red", "object": "car"} ("red car" anywhere as the object)."""
    _check_combo(combo)
    return all(pair.slots[role] == value for role, value in combo.items())


class _Retry(Exception):
    """The random choices so far cannot satisfy the fixed roles: draw the sentence again."""


class Grammar:
    """Samples parallel sentences from the synchronous grammar over a vocabulary.

    seed seeds the grammar's own random stream, which successive `sample` calls continue;
    `sample(n, seed=s)` instead draws from a fresh stream seeded with s.
    """

    def __init__(self, vocabulary=None, seed=0):
        self.vocabulary = DEFAULT_VOCABULARY if vocabulary is None else vocabulary
        if not isinstance(self.vocabulary, Vocabulary):
            raise ValueError("vocabulary must be a Vocabulary, e.g. "
                             "DEFAULT_VOCABULARY.only(nouns=['cat', 'fish'], verbs=['eat'])")
        self.rng = random.Random(seed)
        self._by_key = {c: {w.en: w for w in getattr(self.vocabulary, c)}
                        for c in ("nouns", "verbs", "adjectives", "places", "times")}
        if not self._by_key["verbs"]:
            raise ValueError("the vocabulary has no verbs")
        for verb in self.vocabulary.verbs:
            for side in ("subjects", "objects"):
                if not self._nouns_for(getattr(verb, side)):
                    raise ValueError(f"no noun in the vocabulary can be one of the {side} of "
                                     f"{verb.en!r}: it takes {getattr(verb, side)}")

    def _nouns_for(self, selection):
        return [n.en for n in self.vocabulary.nouns if n.kind in selection or n.en in selection]

    def sample(self, n, seed=None, fixed=None, exclude=(), split=None):
        """n Pairs. fixed: {role: word} every pair must have (None = the role is empty, e.g.
        {"time": None}); exclude: a combo (a dict, as for `matches`) or a list of combos that
        no pair may match. split: "train" or "test" keeps only sentences whose English is on
        that side of `minillm.splits.split_of`, so a test sentence is never a training sentence;
        None draws from all sentences. Sentences may repeat within a side."""
        rng = self.rng if seed is None else random.Random(seed)
        fixed = dict(fixed or {})
        self._check_fixed(fixed)
        check_split(split)
        exclude = _as_combos(exclude)
        return [self._sample_one(rng, fixed, exclude, split) for _ in range(n)]

    def _check_fixed(self, fixed):
        _check_combo(fixed)
        categories = {"subject": "nouns", "object": "nouns", "verb": "verbs", "place": "places",
                      "time": "times", "subject_adj": "adjectives", "object_adj": "adjectives"}
        for role, value in fixed.items():
            if role in categories and value is not None \
                    and value not in self._by_key[categories[role]]:
                raise ValueError(f"fixed {role}={value!r} is not in the vocabulary's "
                                 f"{categories[role]}")

    def _sample_one(self, rng, fixed, exclude, split=None):
        for _ in range(MAX_TRIES):
            try:
                slots = self._choose(rng, fixed)
            except _Retry:
                continue
            pair = self._realise(slots)
            on_side = split is None or split_of(pair.en) == split
            if on_side and not any(matches(pair, combo) for combo in exclude):
                return pair
        side = "" if split is None else f" on the {split} side"
        raise ValueError(f"no sentence with fixed={fixed} (avoiding exclude={list(exclude)}){side} "
                         f"was found in {MAX_TRIES} tries: can these words go together?")

    def _choose(self, rng, fixed):
        """slots: one word (or value) per role, drawn at random, agreeing with each other."""
        def pick(role, options, p=None):
            """A choice among options (a list, or a dict option -> weight); with p, an optional
            role, left empty (None) with probability 1 - p."""
            if role in fixed:
                if fixed[role] not in options and not (p is not None and fixed[role] is None):
                    raise _Retry
                return fixed[role]
            if p is not None and (not options or rng.random() >= p):
                return None
            if isinstance(options, dict):
                return rng.choices(list(options), weights=list(options.values()))[0]
            return rng.choice(options)

        s = {"verb": pick("verb", list(self._by_key["verbs"]))}
        verb = self._by_key["verbs"][s["verb"]]
        # A stative verb ("likes") takes no time or place phrase and only the present tense.
        times = [] if verb.stative else list(self._by_key["times"])
        places = [] if verb.stative else list(self._by_key["places"])
        s["time"] = pick("time", times, P_TIME)
        tenses = ["present"] if verb.stative else ["present", "past"]
        if s["time"]:
            tenses = [self._by_key["times"][s["time"]].tense]
        s["tense"] = pick("tense", tenses)
        negatable = s["tense"] == "past" or verb.negate_present
        if "negated" in fixed and fixed["negated"] and not negatable:
            raise _Retry
        s["negated"] = fixed.get("negated", negatable and rng.random() < P_NEGATED)
        s["place"] = pick("place", places, P_PLACE)
        for role, selection, dets, p_adj in (
                ("subject", verb.subjects, SUBJECT_DETERMINERS, P_SUBJECT_ADJ),
                ("object", verb.objects, OBJECT_DETERMINERS, P_OBJECT_ADJ)):
            s[role] = pick(role, self._nouns_for(selection))
            s[f"{role}_det"] = pick(f"{role}_det", dets)
            kind = self._by_key["nouns"][s[role]].kind
            adjectives = [] if s[f"{role}_det"] == "my" else \
                [a.en for a in self.vocabulary.adjectives if kind in a.kinds]
            s[f"{role}_adj"] = pick(f"{role}_adj", adjectives, p_adj)
        return {role: s[role] for role in ROLES}

    def _realise(self, s):
        """The Pair for the chosen slots: S -> <SUBJ NEG VERB OBJ PLACE TIME,
        SUBJ TIME NEG PLACE VERB OBJ>."""
        nouns, adjectives = self._by_key["nouns"], self._by_key["adjectives"]
        subject = _noun_phrase(nouns[s["subject"]], s["subject_det"],
                               adjectives.get(s["subject_adj"]))
        obj = _noun_phrase(nouns[s["object"]], s["object_det"], adjectives.get(s["object_adj"]))
        neg, verb = _verb_phrase(self._by_key["verbs"][s["verb"]], s["tense"], s["negated"],
                                 plural=s["subject_det"] in NUMBERS)
        place = self._by_key["places"].get(s["place"])
        place = _place_phrase(place) if place else _Phrase()
        time = self._by_key["times"].get(s["time"])
        time = _words(time.en, time.zh) if time else _Phrase()
        sentence = _rule([subject, neg, verb, obj, place, time], [0, 5, 1, 4, 2, 3])
        return Pair(" ".join(sentence.en), "".join(sentence.zh), sentence.zh,
                    sentence.links, s)

    def parse(self, sentence):
        """The roles (as `Pair.slots` holds them) of an English sentence this grammar can
        produce, or None when it cannot. "two cats eat the fish" -> {"subject": "cat",
        "subject_det": "two", "verb": "eat", ...}; "two cats eats the fish" -> None.

        Every way to read the words as SUBJ NEG VERB OBJ PLACE TIME is tried against tables of
        every phrase the rules realise; a reading counts when the grammar's own choice of words
        accepts it (agreement, which nouns a verb takes, a time phrase's tense) and realising it
        gives the sentence back. An ambiguous sentence ("two cats read the book": present or
        past) gives one of its readings."""
        words = sentence.split()
        noun_phrases, verb_phrases = self._phrase_tables()
        for time, rest in self._suffix_readings(words, self._time_phrases()):
            for place, core in self._suffix_readings(rest, self._place_phrases()):
                for i, j in itertools.combinations(range(1, len(core)), 2):   # SUBJ|VERB|OBJ
                    for slots in _readings(noun_phrases.get(" ".join(core[:i]), []),
                                           verb_phrases.get(" ".join(core[i:j]), []),
                                           noun_phrases.get(" ".join(core[j:]), [])):
                        slots.update(place=place, time=time)
                        try:
                            chosen = self._choose(random.Random(0), slots)
                        except _Retry:               # the rules do not allow these words together
                            continue
                        if self._realise(chosen).en == sentence:
                            return chosen
        return None

    def _phrase_tables(self):
        """({noun phrase text: [(noun, det, adj)]}, {verb phrase text: [(verb, tense, negated)]})
        over every word of the vocabulary, built once."""
        if not hasattr(self, "_tables"):
            nouns, verbs = {}, {}
            adjectives = [None, *self.vocabulary.adjectives]
            for noun in self.vocabulary.nouns:
                for det in {**SUBJECT_DETERMINERS, **OBJECT_DETERMINERS}:
                    for adj in adjectives:
                        text = " ".join(_noun_phrase(noun, det, adj).en)
                        nouns.setdefault(text, []).append((noun.en, det, adj and adj.en))
            for verb in self.vocabulary.verbs:
                for tense in ("present", "past"):
                    for negated in (False, True):
                        for plural in (False, True):
                            neg, word = _verb_phrase(verb, tense, negated, plural)
                            entry = (verb.en, tense, negated)
                            bucket = verbs.setdefault(" ".join(neg.en + word.en), [])
                            if entry not in bucket:
                                bucket.append(entry)
            self._tables = nouns, verbs
        return self._tables

    def _time_phrases(self):
        return {time.en: time.en for time in self.vocabulary.times}

    def _place_phrases(self):
        return {" ".join(_place_phrase(place).en): place.en for place in self.vocabulary.places}

    @staticmethod
    def _suffix_readings(words, phrases):
        """(the word phrases maps the end of words to, words before it) for each phrase words
        ends with, and (None, words): the phrase is optional."""
        found = [(None, words)]
        for text, key in phrases.items():
            n = len(text.split())
            if len(words) > n and words[-n:] == text.split():
                found.append((key, words[:-n]))
        return found


def _readings(subjects, verbs, objects):
    """Role dicts for every combination of a subject, verb and object phrase reading."""
    for subject, subject_det, subject_adj in subjects:
        for verb, tense, negated in verbs:
            for obj, object_det, object_adj in objects:
                yield dict(subject=subject, subject_det=subject_det, subject_adj=subject_adj,
                           verb=verb, tense=tense, negated=negated, object=obj,
                           object_det=object_det, object_adj=object_adj)


def split_compositional(pairs, held_out):
    """(train, test): test holds every pair matching one of the held_out combos, train the rest.

    held_out: a combo dict or a list of them, e.g. {"object_adj": "red", "object": "car"}: a
    model trained on `train` has seen "red" and "car", but never "red car".
    """
    combos = _as_combos(held_out)
    if not combos:
        raise ValueError("held_out is empty: name at least one combination to hold out")
    train, test = [], []
    for pair in pairs:
        (test if any(matches(pair, c) for c in combos) else train).append(pair)
    return train, test


def alignment_matrix(pair):
    """(len(en_tokens), len(zh_tokens)) bool array, True where the words are aligned."""
    matrix = np.zeros((len(pair.en_tokens), len(pair.zh_tokens)), dtype=bool)
    for i, j in pair.alignment:
        matrix[i, j] = True
    return matrix


def format_alignment(pair):
    """The pair as text: both sentences, then each English word with its Chinese words."""
    en = pair.en_tokens
    width = max(len(w) for w in en)
    lines = [pair.en, pair.zh]
    for i, word in enumerate(en):
        zh = " ".join(pair.zh_tokens[j] for a, j in pair.alignment if a == i)
        lines.append(f"  {word:<{width}}  {zh or '·'}")
    return "\n".join(lines)
