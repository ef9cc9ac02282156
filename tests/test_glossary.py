"""The glossary (assets/glossary.md) has every term the chapters gloss, once, where it is taught.

A chapter glosses a term where it teaches it, in a markdown cell: **English term（中文）**, with
full-width parentheses. The notebooks are read as plain JSON (nothing is executed), so this is fast.
"""
from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GLOSSARY = REPO / "assets" / "glossary.md"
NOTEBOOKS = sorted(REPO.glob("chapters/[0-9][0-9]-*/*.ipynb"))

# **English（中文）**, also with a full stop or colon before the closing **
# ("**Padding mask（填充掩码）.**"); either part may wrap onto the next line of the cell.
GLOSS = re.compile(r"\*\*([^*（）]+?)\s*（([^）]+)）[.:]?\*\*")
HEADING = re.compile(r"^### (Chapter (\d+) · .+)$")

# A chapter's wording that names a glossary term in another form (a section title, a verb, an
# adverb, a short form), mapped to the glossary's English term.
ALIASES = {
    "the payoff of pretraining": "pretraining",  # chapter 5's section title
    "attention heads of a real model": "attention head",  # chapter 8's section title
    "an induction-style head": "induction head",  # chapter 8's section title
    "ablate": "ablation",
    "saturates": "saturation",
    "systematically": "systematic generalization",
    "cross-attending": "cross-attention",
    "head": "classification head",
    "merged": "lora merge",
    "per row": "per-channel quantization",
}

# Where the glossary deliberately gives another Chinese term than the chapter's gloss, and why.
CHINESE_DIFFERS = {
    "the payoff of pretraining": "a section title, listed under its term 预训练",
    "systematically": "an adverb (系统性地), listed under its noun 系统性泛化",
}


def normalise(text):
    """Lower case, one space between words, plain hyphens, no code marks."""
    text = text.replace("–", "-").replace("—", "-").replace("`", "")
    return " ".join(text.lower().split())


def names(english):
    """The names a glossary row answers to: "byte-pair encoding (BPE)" -> both; "a / b" -> both."""
    english = normalise(english)
    m = re.fullmatch(r"(.+?) \((.+)\)", english)
    parts = [m.group(1), m.group(2)] if m else [english]
    return {name.strip() for part in parts for name in part.split(" / ")}


def cells(line):
    """The cells of a markdown table row; `\\|` is a pipe inside a cell."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [p.strip() for p in parts[1:-1]]


@cache
def glossary():
    """(headings, rows): headings [(chapter, text)], rows [(chapter, english, chinese, line)]."""
    headings, rows, chapter = [], [], None
    header = ["English", "中文", "In one line"]
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        m = HEADING.match(line)
        if m:
            chapter = int(m.group(2))
            headings.append((chapter, m.group(1)))
        elif line.startswith("|") and not set(line) <= set("|- "):
            row = cells(line)
            if row == header:
                continue
            assert chapter is not None, f"a table row before the first chapter heading: {line}"
            assert len(row) == 3 and all(row), f"a row needs 3 non-empty cells: {line}"
            rows.append((chapter, row[0], row[1], line))
    return headings, rows


@cache
def glossed_terms():
    """[(chapter, cell index, english, chinese)] for every **English（中文）** in a chapter."""
    found = []
    for notebook in NOTEBOOKS:
        chapter = int(notebook.parent.name[:2])
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "markdown":
                continue
            text = "".join(cell["source"])
            for english, chinese in GLOSS.findall(text):
                chinese = re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", chinese)
                found.append((chapter, i, normalise(english), chinese.split(",")[0].strip()))
    return found


def index():
    """Each name of each glossary row -> (chapter, chinese)."""
    return {name: (chapter, chinese)
            for chapter, english, chinese, _ in glossary()[1] for name in names(english)}


def lookup(term, by_name):
    """The glossary name a chapter's term resolves to, or None."""
    for candidate in (term, term.removesuffix("s")):
        candidate = ALIASES.get(candidate, candidate)
        if candidate in by_name:
            return candidate
    return None


def test_the_chapters_gloss_terms():
    terms = glossed_terms()
    assert {chapter for chapter, *_ in terms} == {int(nb.parent.name[:2]) for nb in NOTEBOOKS}
    assert len(terms) > 100


def test_every_row_has_three_cells_and_the_table_is_not_empty():
    _, rows = glossary()  # glossary() asserts the cells of every row
    assert len(rows) > 150


def test_no_english_term_is_listed_twice():
    seen = {}
    for _, english, _, _ in glossary()[1]:
        for name in names(english):
            assert name not in seen, f"{name!r} is listed twice: {seen[name]!r} and {english!r}"
            seen[name] = english


def test_one_heading_and_one_table_per_chapter_titled_as_the_chapter():
    headings, rows = glossary()
    titles = []
    for notebook in NOTEBOOKS:
        first = "".join(json.loads(notebook.read_text(encoding="utf-8"))["cells"][0]["source"])
        titles.append(re.search(r"^# (Chapter .+)$", first, re.M).group(1))
    assert [text for _, text in headings] == titles
    assert [chapter for chapter, _ in headings] == list(range(1, len(NOTEBOOKS) + 1))
    assert {chapter for chapter, *_ in rows} == set(range(1, len(NOTEBOOKS) + 1))
    text = GLOSSARY.read_text(encoding="utf-8")
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        assert section.count("|---|---|---|") == 1, f"one table under ### {section.splitlines()[0]}"


def test_every_glossed_term_is_in_the_glossary_no_later_than_its_chapter():
    by_name = index()
    missing, late = [], []
    for chapter, cell, term, _ in glossed_terms():
        name = lookup(term, by_name)
        if name is None:
            missing.append(f"chapter {chapter}, cell {cell}: {term!r}")
        elif by_name[name][0] > chapter:
            late.append(f"{term!r}: glossed in chapter {chapter}, listed under {by_name[name][0]}")
    assert not missing, "glossed in a chapter but not in assets/glossary.md:\n" + "\n".join(missing)
    assert not late, "listed under a chapter after the one that teaches it:\n" + "\n".join(late)


def test_the_glossary_uses_the_chapters_chinese_term():
    by_name = index()
    differ = []
    for chapter, cell, term, chinese in glossed_terms():
        name = lookup(term, by_name)
        if name is None or term in CHINESE_DIFFERS:
            continue
        if chinese not in by_name[name][1]:
            differ.append(f"chapter {chapter}, cell {cell}: {term}（{chinese}）, "
                          f"glossary {by_name[name][1]}")
    assert not differ, "\n".join(differ)
    # each exception is still needed: the chapter really glosses the term that way
    assert set(CHINESE_DIFFERS) <= {term for *_, term, _ in glossed_terms()}


def test_aliases_are_used_and_point_at_glossary_terms():
    by_name = index()
    assert set(ALIASES.values()) <= set(by_name)
    assert set(ALIASES) <= {term for *_, term, _ in glossed_terms()}


def test_links_resolve_and_the_readme_links_here():
    text = GLOSSARY.read_text(encoding="utf-8")
    links = re.findall(r"\]\((\.\./chapters/[^)]+)\)", text)
    assert len(links) == len(NOTEBOOKS)
    for link in links:
        assert (GLOSSARY.parent / link).resolve().is_file(), link
    assert "(assets/glossary.md)" in (REPO / "README.md").read_text(encoding="utf-8")
