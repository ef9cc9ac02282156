"""The synchronous English↔Chinese grammar: right translations with valid word alignments,
determinism, vocabulary control, held-out combinations, and sentiment labels that follow the
documented rules."""
import re

import numpy as np
import pytest

from minillm.grammar import (
    CONSTRUCTIONS,
    DEFAULT_VOCABULARY,
    OPINIONS,
    ROLES,
    Grammar,
    alignment_matrix,
    format_alignment,
    matches,
    sentiment_pairs,
    split_compositional,
)

PAIRS = Grammar(seed=0).sample(2000)
SENTIMENT = sentiment_pairs(2000, seed=0)
UNALIGNED_ENGLISH = {"the", "does", "do", "did", "of"}   # words Chinese does not express


def sentence(**slots):
    """The one pair with every role fixed."""
    empty = {"subject_adj": None, "object_adj": None, "place": None, "time": None,
             "negated": False, "subject_det": "the", "object_det": "the"}
    pair, = Grammar().sample(1, fixed={**empty, **slots})
    return pair


def crosses(alignment):
    return any(i1 < i2 and j1 > j2 for i1, j1 in alignment for i2, j2 in alignment)


# --- translations ------------------------------------------------------------------------------

@pytest.mark.parametrize("slots, en, zh", [
    (dict(subject="cat", verb="eat", object="fish", tense="past", place="garden",
          time="yesterday"),
     "the cat ate the fish in the garden yesterday", "猫昨天在花园里吃了鱼"),
    (dict(subject="dog", subject_det="two", verb="drink", object="water", tense="present",
          negated=True, time="every day"),
     "two dogs do not drink the water every day", "两只狗每天不喝水"),
    (dict(subject="teacher", verb="buy", object="book", object_det="a", object_adj="old",
          tense="past"),
     "the teacher bought an old book", "老师买了一本旧书"),
    (dict(subject="friend", subject_det="my", verb="sell", object="juice", object_det="three",
          object_adj="cold", tense="past", negated=True, place="school"),
     "my friend did not sell three bottles of cold juice at school",
     "我的朋友没在学校卖三瓶冰果汁"),
    (dict(subject="child", subject_det="three", subject_adj="young", verb="see", object="car",
          object_det="a", object_adj="red", tense="present"),
     "three young children see a red car", "三个年轻的孩子看见一辆红色的车"),
])
def test_grammar_translates_known_sentences_word_for_word(slots, en, zh):
    pair = sentence(**slots)
    assert (pair.en, pair.zh) == (en, zh)
    assert pair.zh == "".join(pair.zh_tokens)


def test_time_and_place_move_before_the_verb_so_the_alignment_crosses():
    pair = sentence(subject="cat", verb="eat", object="fish", tense="past", place="garden",
                    time="yesterday")
    links = {(pair.en_tokens[i], pair.zh_tokens[j]) for i, j in pair.alignment}
    assert links == {("cat", "猫"), ("ate", "吃"), ("ate", "了"), ("fish", "鱼"), ("in", "在"),
                     ("in", "里"), ("garden", "花园"), ("yesterday", "昨天")}
    moved = [p for p in PAIRS if p.slots["time"] or p.slots["place"]]
    assert len(moved) > 500 and all(crosses(p.alignment) for p in moved)


def test_alignment_indices_lie_inside_both_sentences():
    for pair in PAIRS:
        assert pair.alignment == tuple(sorted(set(pair.alignment)))
        assert all(0 <= i < len(pair.en_tokens) and 0 <= j < len(pair.zh_tokens)
                   for i, j in pair.alignment)


def test_every_chinese_word_and_every_english_content_word_is_aligned():
    for pair in PAIRS:
        aligned_en = {i for i, _ in pair.alignment}
        aligned_zh = {j for _, j in pair.alignment}
        assert aligned_zh == set(range(len(pair.zh_tokens))), pair
        unaligned = {w for i, w in enumerate(pair.en_tokens) if i not in aligned_en}
        assert unaligned <= UNALIGNED_ENGLISH, pair


def test_chinese_output_contains_no_latin_letters():
    for text in [p.zh for p in PAIRS] + [p.zh for p in SENTIMENT]:
        assert not re.search("[A-Za-z]", text), text


def test_english_agrees_with_number_tense_and_negation():
    for pair in PAIRS:
        words, s = pair.en_tokens, pair.slots
        verb = next(v for v in DEFAULT_VOCABULARY.verbs if v.en == s["verb"])
        plural = s["subject_det"] in ("two", "three")
        if s["negated"]:
            aux = "did" if s["tense"] == "past" else "do" if plural else "does"
            assert f"{aux} not {verb.en}" in pair.en
        elif s["tense"] == "past":
            assert verb.past in words and "了" in pair.zh_tokens
        else:
            assert (verb.en if plural else verb.third) in words


def test_a_stative_verb_takes_neither_time_nor_place_nor_past():
    liked = [p for p in PAIRS if p.slots["verb"] == "like"]
    assert liked and all(p.slots["tense"] == "present" and p.slots["time"] is None
                         and p.slots["place"] is None for p in liked)


# --- determinism, vocabulary, held-out combinations --------------------------------------------

def test_same_seed_gives_the_same_pairs_and_another_seed_others():
    assert Grammar(seed=0).sample(2000) == PAIRS
    assert Grammar(seed=5).sample(50, seed=0) == PAIRS[:50]
    assert Grammar(seed=1).sample(50) != PAIRS[:50]


def test_successive_samples_continue_one_stream():
    grammar = Grammar(seed=0)
    assert grammar.sample(20) + grammar.sample(30) == PAIRS[:50]


def test_restricted_vocabulary_uses_only_its_words():
    vocabulary = DEFAULT_VOCABULARY.only(nouns=["cat", "dog", "fish", "milk"],
                                         verbs=["eat", "drink"], adjectives=["big"],
                                         places=["home"], times=["yesterday"])
    pairs = Grammar(vocabulary, seed=0).sample(300)
    allowed = {"subject": {"cat", "dog"}, "object": {"fish", "milk"}, "verb": {"eat", "drink"},
               "subject_adj": {None, "big"}, "object_adj": {None}, "place": {None, "home"},
               "time": {None, "yesterday"}}
    for role, words in allowed.items():
        assert {p.slots[role] for p in pairs} == words
    english = {w for p in pairs for w in p.en_tokens}
    assert {"cats", "dogs", "glasses", "drank", "at", "home", "big"} <= english
    assert not english & {"teacher", "red", "garden", "sees"}


def test_unknown_words_roles_and_empty_choices_are_clear_errors():
    with pytest.raises(ValueError, match="nouns has no"):
        DEFAULT_VOCABULARY.only(nouns=["unicorn"])
    with pytest.raises(ValueError, match="unknown category"):
        DEFAULT_VOCABULARY.only(colours=["red"])
    with pytest.raises(ValueError, match="objects of 'eat'"):
        Grammar(DEFAULT_VOCABULARY.only(nouns=["cat", "ball"], verbs=["eat"]))
    with pytest.raises(ValueError, match="unknown role"):
        Grammar().sample(1, fixed={"colour": "red"})
    with pytest.raises(ValueError, match="not in the vocabulary"):
        Grammar().sample(1, fixed={"object": "unicorn"})
    with pytest.raises(ValueError, match="can these words go together"):
        Grammar().sample(1, fixed={"verb": "eat", "object": "car"})
    with pytest.raises(ValueError, match="must be a Vocabulary"):
        Grammar({"nouns": ["cat"]})


def test_fixed_roles_are_in_every_pair_and_excluded_combos_in_none():
    combo = {"object_adj": "red", "object": "car"}
    test = Grammar().sample(50, seed=1, fixed=combo)
    train = Grammar().sample(3000, seed=2, exclude=[combo])
    assert all(matches(p, combo) for p in test)
    assert not any(matches(p, combo) for p in train)
    assert Grammar().sample(100, seed=2, exclude=combo) == train[:100]
    # Both words are still seen in training, only never together.
    assert any(p.slots["object"] == "car" for p in train)
    assert any(p.slots["object_adj"] == "red" for p in train)


def test_held_out_combination_never_appears_in_the_training_split():
    held_out = [{"object_adj": "red", "object": "car"}, {"subject": "cat", "negated": True}]
    train, test = split_compositional(PAIRS, held_out)
    assert len(train) + len(test) == len(PAIRS) and test
    assert not any(matches(p, c) for p in train for c in held_out)
    assert all(any(matches(p, c) for c in held_out) for p in test)
    assert split_compositional(PAIRS, held_out[1]) == split_compositional(PAIRS, held_out[1:])
    with pytest.raises(ValueError, match="unknown role"):
        split_compositional(PAIRS, {"adjective": "red"})


def test_slots_name_every_role():
    assert all(set(p.slots) == set(ROLES) for p in PAIRS)


# --- display -----------------------------------------------------------------------------------

def test_format_alignment_lists_each_english_word_with_its_chinese_words():
    pair = sentence(subject="cat", verb="eat", object="fish", tense="past", time="yesterday")
    assert format_alignment(pair).splitlines() == [
        "the cat ate the fish yesterday", "猫昨天吃了鱼",
        "  the        ·", "  cat        猫", "  ate        吃 了", "  the        ·",
        "  fish       鱼", "  yesterday  昨天"]


def test_alignment_matrix_marks_each_link_once():
    pair = PAIRS[0]
    matrix = alignment_matrix(pair)
    assert matrix.shape == (len(pair.en_tokens), len(pair.zh_tokens))
    assert matrix.dtype == np.bool_ and matrix.sum() == len(pair.alignment)


# --- sentiment ---------------------------------------------------------------------------------

def polarity(adjective):
    return next(words[adjective][1] for words in OPINIONS.values() if adjective in words)


def expected_label(example):
    """The rules in sentiment_pairs' docstring, written out independently."""
    s, construction = example.slots, example.construction
    if construction in ("contrast", "concessive"):
        sign = polarity(s["adjective2"]) * (-1 if s["negated2"] else 1)
    else:
        sign = polarity(s["adjective"]) * (-1 if s["negated"] else 1)
        sign *= -1 if construction == "negated_opinion" else 1
    return int(sign > 0)


def test_sentiment_labels_follow_the_documented_rules():
    assert all(example.label == expected_label(example) for example in SENTIMENT)


def test_negation_flips_and_the_clause_after_but_decides():
    by_text = {e.en: e for e in sentiment_pairs(5000, seed=1)}
    assert by_text["the movie is not bad"].label == 1
    assert by_text["the movie is not bad"].zh == "电影不差"
    assert by_text["the movie is bad"].label == 0
    assert by_text["I do not think the movie is good"].label == 0
    concessive = next(e for e in SENTIMENT if e.construction == "concessive")
    assert re.fullmatch(r"(.+)(.+)是\2，但是.+", concessive.zh)
    for example in SENTIMENT:
        if example.construction in ("contrast", "concessive"):
            first = polarity(example.slots["adjective"]) * (-1 if example.slots["negated"] else 1)
            assert int(first > 0) != example.label   # the two clauses disagree; "but" decides


def test_sentiment_is_deterministic_balanced_and_uses_every_construction():
    assert sentiment_pairs(2000, seed=0) == SENTIMENT
    assert sentiment_pairs(50, seed=1) != SENTIMENT[:50]
    assert 0.45 < np.mean([e.label for e in SENTIMENT]) < 0.55
    assert {e.construction for e in SENTIMENT} == set(CONSTRUCTIONS)


def test_sentiment_can_leave_constructions_out():
    examples = sentiment_pairs(200, constructions=("plain", "negated"))
    assert {e.construction for e in examples} == {"plain", "negated"}
    with pytest.raises(ValueError, match="unknown"):
        sentiment_pairs(10, constructions=("sarcasm",))
    with pytest.raises(ValueError, match="empty"):
        sentiment_pairs(10, constructions=())


def test_parse_reads_back_the_roles_of_every_sampled_sentence():
    grammar = Grammar(seed=0)
    for pair in PAIRS[:400]:
        roles = grammar.parse(pair.en)
        assert roles is not None, pair.en
        assert grammar.sample(1, fixed=roles)[0].en == pair.en   # a reading that gives it back


@pytest.mark.parametrize("broken", [
    "two cats eats the fish",                       # agreement
    "the cat ate the fish every day",               # a time phrase's tense
    "the fish reads the teacher",                   # which nouns a verb takes
    "the cat the fish ate",                         # word order
    "the cat ate",                                  # no object
    "",
])
def test_parse_refuses_what_the_grammar_cannot_produce(broken):
    assert Grammar(seed=0).parse(broken) is None


def test_parse_follows_a_restricted_vocabulary():
    small = Grammar(DEFAULT_VOCABULARY.only(nouns=["cat", "fish"], verbs=["eat"]), seed=0)
    assert small.parse("the cat eats the fish")["verb"] == "eat"
    assert small.parse("the teacher eats the fish") is None

