"""The course's frozen corpora (and the running Python's own text), document-level splits,
and batches for causal LM, masked LM and sequence-to-sequence training."""
import hashlib
import itertools
import platform
import random
import sysconfig
import time
from pathlib import Path

import pytest
import torch

import minillm.data
from minillm.data import (
    CORPORA,
    FROZEN_FROM,
    IGNORE_INDEX,
    Document,
    causal_lm_batches,
    concat_ids,
    eval_windows,
    freeze_corpora,
    pad_batch,
    pydoc_corpus,
    random_windows,
    seq2seq_batch,
    split_documents,
    stdlib_corpus,
    text_file_corpus,
)
from minillm.functional import cross_entropy
from minillm.splits import overlap

FROZEN_DIGEST = "31156dc3168987ea"   # sha256 of the names and texts, first 16 hex digits


def chars(docs):
    return sum(len(d.text) for d in docs)


def toy_docs(n=20):
    return [Document(f"doc{i}", "x" * (10 + i), "text") for i in range(n)]


# --- corpora -----------------------------------------------------------------------------------

def test_stdlib_corpus_is_the_same_sorted_code_on_every_call_and_loads_fast():
    start = time.perf_counter()
    docs = stdlib_corpus()
    seconds = time.perf_counter() - start
    assert docs == stdlib_corpus()
    names = [d.name for d in docs]
    assert names == sorted(names) and len(set(names)) == len(names)
    assert {d.domain for d in docs} == {"code"}
    assert "ast" in names and "contextvars" not in names   # a 129-character shim is skipped
    assert all(1_000 <= len(d.text) <= 100_000 for d in docs)
    assert len(docs) > 50 and chars(docs) > 1_000_000
    assert seconds < 1.0


def test_stdlib_corpus_max_files_keeps_the_first_files():
    assert stdlib_corpus(max_files=3) == stdlib_corpus()[:3]


def test_pydoc_corpus_has_one_prose_document_per_help_topic():
    docs = pydoc_corpus()
    names = [d.name for d in docs]
    assert names == sorted(names) and len(docs) == 79    # CPython 3.11.7's help topics
    assert {d.domain for d in docs} == {"prose"}
    assert next(d for d in docs if d.name == "if").text.startswith('The "if" statement')


def test_the_frozen_corpora_are_the_same_text_on_every_python():
    # fingerprints of the shipped copy: a changed file in assets/corpora/ must be a decision
    digest = hashlib.sha256()
    for doc in stdlib_corpus(min_chars=0, max_chars=10**9) + pydoc_corpus():
        digest.update(f"{doc.name}\0{doc.text}\0".encode())
    assert digest.hexdigest()[:16] == FROZEN_DIGEST


@pytest.mark.skipif(platform.python_version() != FROZEN_FROM,
                    reason=f"the frozen copy is {FROZEN_FROM}'s text; this Python's differs")
def test_the_frozen_corpora_are_this_pythons_own_text_on_the_python_they_came_from():
    everything = {"min_chars": 0, "max_chars": 10**9}
    assert stdlib_corpus(**everything) == stdlib_corpus(**everything, source="python")
    assert pydoc_corpus() == pydoc_corpus(source="python")


def test_the_running_pythons_own_text_is_an_explicit_option():
    from pydoc_data.topics import topics
    docs = pydoc_corpus(source="python")
    assert [d.name for d in docs] == sorted(topics)
    assert next(d for d in docs if d.name == "if").text == topics["if"]
    assert [d.name for d in stdlib_corpus(source="python", max_files=2)] == sorted(
        p.stem for p in Path(sysconfig.get_paths()["stdlib"]).glob("*.py")
        if 1_000 <= len(p.read_text(encoding="utf-8", errors="replace")) <= 100_000)[:2]
    with pytest.raises(ValueError, match='"frozen".*"python"'):
        pydoc_corpus(source="python3.12")


def test_freeze_writes_the_same_bytes_for_the_same_python(tmp_path):
    freeze_corpora(tmp_path / "a")
    freeze_corpora(tmp_path / "b")
    for name in ("stdlib.json.xz", "pydoc.json.xz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        if platform.python_version() == FROZEN_FROM:
            assert (tmp_path / "a" / name).read_bytes() == (CORPORA / name).read_bytes()


def test_a_missing_frozen_copy_names_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(minillm.data, "CORPORA", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"pydoc\.json\.xz"):
        pydoc_corpus()


def test_document_repr_is_short_even_for_a_long_text():
    text = repr(Document("big", "word " * 10_000, "text"))
    assert len(text) < 120 and "50,000 chars" in text


def test_text_file_is_cut_into_paragraphs_at_blank_lines(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("First line.\nsecond line.\n\n\n  Indented start.\n \nLast.\n")
    docs = text_file_corpus(path)
    assert [d.text for d in docs] == ["First line.\nsecond line.", "  Indented start.", "Last."]
    assert [d.name for d in docs] == ["story:0", "story:1", "story:2"]
    assert text_file_corpus(path, by="file") == [Document("story", path.read_text(), "text")]


def test_missing_empty_or_binary_text_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no text file"):
        text_file_corpus(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text(" \n\n ")
    with pytest.raises(ValueError, match="empty"):
        text_file_corpus(tmp_path / "empty.txt")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        text_file_corpus(tmp_path / "latin1.txt")
    (tmp_path / "ok.txt").write_text("text")
    with pytest.raises(ValueError, match="paragraph"):
        text_file_corpus(tmp_path / "ok.txt", by="line")


# --- train/validation split --------------------------------------------------------------------

def test_split_keeps_whole_documents_disjoint_complete_and_in_order():
    docs = stdlib_corpus()
    train, valid = split_documents(docs)
    assert {d.name for d in train}.isdisjoint(d.name for d in valid)
    assert len(train) + len(valid) == len(docs)
    assert train == [d for d in docs if d in train] and valid == [d for d in docs if d in valid]
    assert 0.1 <= chars(valid) / chars(docs) < 0.1 + 100_000 / chars(docs)


def test_split_is_pinned_so_it_never_depends_on_python_s_salted_hash():
    # A SHA-256 of the names gives these documents on every machine, in every process.
    _, valid = split_documents(toy_docs(), valid_fraction=0.2, seed=0)
    assert [d.name for d in valid] == ["doc0", "doc2", "doc3", "doc16", "doc19"]


def test_split_does_not_depend_on_document_order_but_does_on_seed():
    docs = toy_docs(50)
    shuffled = random.Random(0).sample(docs, len(docs))
    names = {d.name for d in split_documents(docs)[1]}
    assert names == {d.name for d in split_documents(shuffled)[1]}
    assert names != {d.name for d in split_documents(docs, seed=1)[1]}


def test_split_leaves_at_least_one_document_on_each_side():
    train, valid = split_documents(toy_docs(2), valid_fraction=0.01)
    assert len(train) == len(valid) == 1
    train, valid = split_documents(toy_docs(3), valid_fraction=0.99)
    assert len(train) == 1 and len(valid) == 2


def test_split_drops_validation_documents_whose_text_was_seen_in_training():
    # The help topics "else" and "if" are one text under two names: "else" is drawn for
    # validation, "if" stays in training, so validating on "else" would score memorised text.
    train, valid = split_documents(pydoc_corpus())
    assert "if" in {d.name for d in train} and "else" not in {d.name for d in valid}
    assert overlap([d.text for d in train], [d.text for d in valid]) == []
    docs = toy_docs(20)
    copies = [Document(f"copy{i}", f"  {d.text.upper()} ", d.domain) for i, d in enumerate(docs)]
    train, valid = split_documents(docs + copies, valid_fraction=0.3)
    assert overlap([d.text for d in train], [d.text for d in valid]) == []


def test_split_with_nothing_unseen_to_validate_on_is_a_clear_error():
    docs = [Document("a", "same text", "text"), Document("b", "Same  text", "text")]
    with pytest.raises(ValueError, match="nothing unseen"):
        split_documents(docs, 0.1)


@pytest.mark.parametrize("docs, fraction, message", [
    (toy_docs(5), 0.0, "strictly between 0 and 1"),
    (toy_docs(5), 1.0, "strictly between 0 and 1"),
    (toy_docs(1), 0.1, "at least 2 documents"),
    (toy_docs(3) + toy_docs(1), 0.1, r"unique.*doc0"),
])
def test_split_of_bad_input_is_a_clear_error(docs, fraction, message):
    with pytest.raises(ValueError, match=message):
        split_documents(docs, fraction)


# --- ids and causal LM batches -----------------------------------------------------------------

def test_concat_ids_encodes_each_document_and_puts_the_separator_between():
    docs = [Document("a", "ab", "text"), Document("b", "c", "text")]
    ids = concat_ids(docs, lambda text: [ord(ch) - 96 for ch in text], sep_id=0)
    assert ids.tolist() == [1, 2, 0, 3] and ids.dtype == torch.long
    assert concat_ids(docs, lambda text: [len(text)]).tolist() == [2, 1]
    with pytest.raises(ValueError, match="no token ids"):
        concat_ids(docs, lambda text: [])


def test_causal_lm_targets_are_the_inputs_shifted_by_one_cut_from_the_text():
    ids = torch.arange(100)   # token i has id i, so a window is a run of consecutive numbers
    x, y = next(causal_lm_batches(ids, seq_len=8, batch_size=4))
    assert x.shape == y.shape == (4, 8) and x.dtype == y.dtype == torch.long
    assert torch.equal(y, x + 1)
    assert torch.equal(x - x[:, :1], torch.arange(8).expand(4, 8))


def test_causal_lm_batches_are_reproducible_from_their_seed():
    ids = list(range(1000))
    first = list(itertools.islice(causal_lm_batches(ids, 16, 8, seed=3), 5))
    again = list(itertools.islice(causal_lm_batches(ids, 16, 8, seed=3), 5))
    other = next(causal_lm_batches(ids, 16, 8, seed=4))
    assert all(torch.equal(a, b) for pa, pb in zip(first, again) for a, b in zip(pa, pb))
    assert not torch.equal(first[0][0], other[0])


def test_random_windows_reach_every_offset_including_the_last():
    windows = torch.cat(list(itertools.islice(random_windows(torch.arange(12), 4, 64), 10)))
    assert set(windows[:, 0].tolist()) == set(range(9))


def test_windows_go_to_the_requested_device():
    x, y = next(causal_lm_batches(torch.arange(50), 4, 2, device="cpu"))
    assert x.device.type == y.device.type == "cpu"


def test_too_short_text_or_bad_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="at least 9 token ids"):
        next(causal_lm_batches(list(range(8)), seq_len=8, batch_size=2))
    with pytest.raises(ValueError, match="seq_len must be a positive integer"):
        eval_windows(list(range(8)), seq_len=0)
    with pytest.raises(ValueError, match="one flat sequence"):
        next(random_windows(torch.zeros(2, 20, dtype=torch.long), 4, 2))


def test_eval_windows_cover_the_text_once_in_order():
    ids = torch.arange(23)
    batches = eval_windows(ids, seq_len=5, batch_size=3)
    assert [tuple(x.shape) for x, _ in batches] == [(3, 5), (1, 5)]
    x = torch.cat([x for x, _ in batches])
    y = torch.cat([y for _, y in batches])
    assert x.flatten().tolist() == list(range(20)) and torch.equal(y, x + 1)
    (x_all, y_all), = eval_windows(ids, seq_len=5)
    assert torch.equal(x_all, x) and torch.equal(y_all, y)


# --- padding and sequence-to-sequence batches --------------------------------------------------

def test_pad_batch_pads_on_the_right_or_left_and_flags_real_tokens():
    ids, is_token = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert is_token.tolist() == [[True, True, True], [True, False, False]]
    ids, is_token = pad_batch([torch.tensor([5, 6, 7]), [8]], pad_id=0, side="left")
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert is_token.tolist() == [[True, True, True], [False, False, True]]
    assert ids.dtype == torch.long and is_token.dtype == torch.bool


@pytest.mark.parametrize("sequences, side, message", [
    ([], "right", "no sequences"),
    ([[1], []], "right", "sequence 1 must be a non-empty"),
    ([[1]], "middle", "right.*left"),
])
def test_pad_batch_of_bad_input_is_a_clear_error(sequences, side, message):
    with pytest.raises(ValueError, match=message):
        pad_batch(sequences, pad_id=0, side=side)


def test_seq2seq_batch_teacher_forces_with_bos_in_and_eos_out():
    batch = seq2seq_batch([([10, 11, 12], [20, 21]), ([13], [22, 23, 24])],
                          pad_id=0, bos_id=1, eos_id=2)
    assert batch["src"].tolist() == [[10, 11, 12], [13, 0, 0]]
    assert batch["src_is_token"].tolist() == [[True] * 3, [True, False, False]]
    assert batch["tgt_in"].tolist() == [[1, 20, 21, 0], [1, 22, 23, 24]]
    assert batch["tgt_out"].tolist() == [[20, 21, 2, IGNORE_INDEX], [22, 23, 24, 2]]
    assert torch.equal(batch["tgt_is_token"], batch["tgt_out"] != IGNORE_INDEX)


def test_seq2seq_padding_does_not_count_in_the_loss():
    batch = seq2seq_batch([([3], [4]), ([3], [4, 5, 6])], pad_id=0, bos_id=1, eos_id=2)
    logits = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(0))
    noisy = logits.clone()
    noisy[0, 2:] += 100.0   # change the logits only where the first target is padding
    assert torch.allclose(cross_entropy(logits, batch["tgt_out"]),
                          cross_entropy(noisy, batch["tgt_out"]))
    with pytest.raises(ValueError, match="no pairs"):
        seq2seq_batch([], 0, 1, 2)
