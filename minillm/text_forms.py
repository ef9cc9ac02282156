"""Chapters as text: each notebook's cells as a Python file in "percent" format, for review.

A notebook is JSON with its outputs inside, so a change to a chapter reads badly as a diff. Next to
every `chapters/NN-topic/topic.ipynb` sits `topic.nb.py`, its text form: the cells' sources in
order, outputs left out, in the percent format that jupytext, VS Code, Spyder and PyCharm read:

    # %% [markdown] id="1d564af4"
    # # Chapter 2 · Attention
    #
    # Markdown, every line behind "# " (an empty line: "#").

    # %% id="bd8ab662"
    import numpy as np
    # %matplotlib inline

One blank line separates cells. A magic such as `%matplotlib inline` is commented out, as jupytext
does, so that the text form is Python. `id` is the notebook cell's own, so the text form reads back
to exactly the notebook's cells (`read_text_form`). The notebook, with its outputs, stays what
learners open and what CI runs; the text form is written from it, never edited by hand:

    python -m minillm.text_forms              # rewrite every chapter's text form
    python -m minillm.text_forms --check      # name the stale ones; exit status 1 if any

tests/test_text_forms.py fails, naming the chapter and its first differing cell, when a notebook and
its text form disagree.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import NamedTuple

SUFFIX = ".nb.py"   # not importable and not a test file: never mistaken for solutions.py
HEADER = re.compile(r'# %%(?: \[(?P<kind>markdown|raw)\])? id="(?P<id>[A-Za-z0-9_-]{1,64})"')
COMMAND = "python -m minillm.text_forms"
MAGICS = ("%", "!")                      # IPython's line magics and shell escapes
MAGIC_COMMENTED = ("# %", "# !")


class Cell(NamedTuple):
    kind: str     # "code", "markdown" or "raw"
    id: str       # the notebook cell's id
    source: str   # its source, exactly


def text_form_path(notebook):
    """chapters/NN-topic/topic.ipynb -> chapters/NN-topic/topic.nb.py"""
    notebook = Path(notebook)
    return notebook.with_name(notebook.stem + SUFFIX)


def notebook_cells(notebook):
    """The cells of a notebook file, as Cells (outputs and metadata left out)."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    cells = []
    for number, cell in enumerate(nb["cells"], start=1):
        if "id" not in cell:
            raise ValueError(f"{notebook}: cell {number} has no id (nbformat 4.5 gives every cell "
                             "one); open and save the notebook in JupyterLab")
        cells.append(Cell(cell["cell_type"], cell["id"], "".join(cell["source"])))
    return cells


def to_text_form(cells, name):
    """The text form of a notebook's cells; `name`, the notebook's file name, heads it."""
    parts = [f"# Text form of {name}: its cells without their outputs, for reading and diffs.\n"
             f"# Written by `{COMMAND}`; edit the notebook, not this file.\n"]
    for number, cell in enumerate(cells, start=1):
        where = f"{name}: cell {number} (id {cell.id})"
        if "\r" in cell.source:
            raise ValueError(f"{where} has a carriage return, which a text file cannot keep apart "
                             "from a line end")
        lines = _code_lines(cell.source, where) if cell.kind == "code" else [
            f"# {line}" if line else "#" for line in cell.source.split("\n")]
        clash = next((line for line in lines if line.startswith("# %%")), None)
        if clash is not None:
            raise ValueError(f"{where} has a line that would read as a new cell: {clash!r}")
        kind = "" if cell.kind == "code" else f" [{cell.kind}]"
        header = f'# %%{kind} id="{cell.id}"'
        if not HEADER.fullmatch(header):
            raise ValueError(f"{where} has a kind ({cell.kind!r}) or an id the text form cannot "
                             "hold")
        parts.append(header + "\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def _code_lines(source, where):
    """A code cell's lines, with IPython magics (`%matplotlib inline`) behind "# " as jupytext
    writes them, so that the text form is Python."""
    lines = []
    for line in source.split("\n"):
        if line.startswith("%%"):
            raise ValueError(f"{where}: a cell magic ({line!r}) has no text form")
        if line.startswith(MAGIC_COMMENTED) and not line.startswith("# %%"):  # a header: below
            raise ValueError(f"{where}: the comment {line!r} would read back as a magic; reword it")
        lines.append(f"# {line}" if line.startswith(MAGICS) else line)
    return lines


def read_text_form(text):
    """The Cells a text form holds: the inverse of `to_text_form` (the preamble is skipped)."""
    cells = []
    for line in text.split("\n"):
        match = HEADER.fullmatch(line)
        if match:
            cells.append((match["kind"] or "code", match["id"], []))
        elif line.startswith("# %%"):
            raise ValueError(f"not a cell header of a text form: {line!r}")
        elif cells:
            cells[-1][2].append(line)
    result = []
    for kind, id_, lines in cells:
        # a cell's lines end with the blank line before the next cell (the last: the final newline)
        if lines[-1:] != [""]:
            raise ValueError(f'cell id="{id_}" does not end with a newline')
        lines = lines[:-1]
        if kind == "code":
            lines = [line[2:] if line.startswith(MAGIC_COMMENTED) else line for line in lines]
        else:
            if any(line != "#" and not line.startswith("# ") for line in lines):
                raise ValueError(f'{kind} cell id="{id_}" has a line not behind "# "')
            lines = [line[2:] for line in lines]
        result.append(Cell(kind, id_, "\n".join(lines)))
    return result


def disagreement(notebook):
    """None if the notebook's text form is up to date, else a sentence naming the chapter and its
    first differing cell."""
    notebook = Path(notebook)
    text_form = text_form_path(notebook)
    chapter = notebook.parent.name
    if not text_form.is_file():
        return f"{chapter}: {notebook.name} has no text form {text_form.name}; run {COMMAND}"
    cells = notebook_cells(notebook)
    text = text_form.read_text(encoding="utf-8")
    try:
        written = read_text_form(text)
    except ValueError as error:
        return f"{chapter}: {text_form.name} cannot be read ({error}); run {COMMAND}"
    for number, (ours, theirs) in enumerate(zip(cells, written), start=1):
        if ours != theirs:
            line, a, b = _first_difference(ours.source.split("\n"), theirs.source.split("\n"))
            return (f"{chapter}: cell {number} differs between {notebook.name} and "
                    f"{text_form.name}; run {COMMAND}\n"
                    f"  notebook:  {ours.kind} id={ours.id}, line {line}: {a!r}\n"
                    f"  text form: {theirs.kind} id={theirs.id}, line {line}: {b!r}")
    if len(cells) != len(written):
        number = min(len(cells), len(written)) + 1
        return (f"{chapter}: {notebook.name} has {len(cells)} cells and {text_form.name} "
                f"{len(written)}, the first differing is cell {number}; run {COMMAND}")
    if text != to_text_form(cells, notebook.name):
        return (f"{chapter}: {text_form.name} holds the right cells but not as {COMMAND} "
                "writes them; run it")
    return None


def _first_difference(a, b):
    """(line number, a's line, b's line) where two lists of lines first differ; past its end, a
    list's line reads "(no line)". Equal lists give line 1, for cells that differ in kind or id."""
    for number, (x, y) in enumerate(zip(a, b), start=1):
        if x != y:
            return number, x, y
    if len(a) == len(b):
        return 1, a[0], b[0]
    number = min(len(a), len(b)) + 1
    missing = ["(no line)"]
    return number, (a + missing)[number - 1], (b + missing)[number - 1]


def write_text_form(notebook):
    """Write a notebook's text form next to it. Returns True if the file changed."""
    notebook = Path(notebook)
    text = to_text_form(notebook_cells(notebook), notebook.name)
    path = text_form_path(notebook)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8", newline="\n")
    return True


def chapter_notebooks(root="."):
    return sorted(Path(root).glob("chapters/*/*.ipynb"))


def main(argv):
    """python -m minillm.text_forms [--check] [NOTEBOOK ...]   (default: every chapter)"""
    check = "--check" in argv
    notebooks = [Path(a) for a in argv if a != "--check"] or chapter_notebooks()
    if not notebooks:
        print("no chapters/*/*.ipynb here: run this from the repository root", file=sys.stderr)
        return 2
    stale = 0
    for notebook in notebooks:
        if check:
            problem = disagreement(notebook)
            if problem:
                stale += 1
                print(problem)
        elif write_text_form(notebook):
            print(f"wrote {text_form_path(notebook)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
