"""Every chapter's text form (chapters/NN-topic/topic.nb.py) holds exactly its notebook's cells.

The text form is what a reviewer reads in a diff (minillm/text_forms.py); the notebook is what
learners open and CI runs. When the two disagree, the failure names the chapter and the first
differing cell; `python -m minillm.text_forms` rewrites them all.
"""
import ast
import json
from pathlib import Path

import pytest

from minillm import text_forms
from minillm.text_forms import Cell

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(REPO.glob("chapters/*/*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_text_form_holds_exactly_the_notebooks_cells(notebook):
    problem = text_forms.disagreement(notebook)
    assert problem is None, problem


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_text_form_is_python(notebook):
    path = text_forms.text_form_path(notebook)
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_every_text_form_has_its_notebook():
    orphans = [p.relative_to(REPO).as_posix() for p in REPO.glob("chapters/*/*" + text_forms.SUFFIX)
               if not p.with_name(p.name.removesuffix(text_forms.SUFFIX) + ".ipynb").is_file()]
    assert not orphans, f"text forms without a notebook (renamed or removed chapter?): {orphans}"


def test_text_form_is_named_so_that_nothing_imports_or_collects_it():
    path = text_forms.text_form_path(Path("chapters/06-applications/applications.ipynb"))
    assert path.as_posix() == "chapters/06-applications/applications.nb.py"
    assert not path.stem.isidentifier()          # "applications.nb": no import statement reaches it
    assert not path.name.startswith("test_") and not path.name.endswith("_test.py")


AWKWARD_CELLS = [
    Cell("markdown", "intro", "# Title\n\nA paragraph  \nwith a hard break, and\n\n\n"),
    Cell("code", "setup", "%matplotlib inline\nimport numpy as np"),
    Cell("code", "empty", ""),
    Cell("code", "newline", "x = 1\n"),
    Cell("code", "blank-lines", "\n\nx = 2\n\n\ny = 3\n\n"),
    Cell("markdown", "blank-md", ""),
    Cell("raw", "raw-1", "raw text\n   indented"),
    Cell("code", "comments", "# a comment\n#\n#   indented comment\n    # %d in a format"),
    Cell("code", "last", "!echo shell escape\nprint('end')\n\n"),
]


def test_a_text_form_reads_back_to_exactly_its_cells():
    text = text_forms.to_text_form(AWKWARD_CELLS, "awkward.ipynb")
    assert text_forms.read_text_form(text) == AWKWARD_CELLS
    for cells in ([], AWKWARD_CELLS[:1], AWKWARD_CELLS[-1:], AWKWARD_CELLS[2:3]):
        assert text_forms.read_text_form(text_forms.to_text_form(cells, "x.ipynb")) == cells


def test_markdown_and_magics_are_comments_and_code_is_code():
    text = text_forms.to_text_form(AWKWARD_CELLS[:2], "awkward.ipynb")
    assert '# %% [markdown] id="intro"\n# # Title\n#\n# A paragraph  \n' in text
    assert '# %% id="setup"\n# %matplotlib inline\nimport numpy as np\n' in text
    ast.parse(text)


@pytest.mark.parametrize("source, words", [
    ("x = 1\n# %% another cell", "would read as a new cell"),
    ("%%time\nx = 1", "cell magic"),
    ("# %d tokens", "would read back as a magic"),
    ("x = 1\r\ny = 2", "carriage return"),
])
def test_a_source_the_text_form_cannot_hold_is_refused_by_cell(source, words):
    cells = [Cell("markdown", "a", "text"), Cell("code", "b", source)]
    with pytest.raises(ValueError, match=words) as error:
        text_forms.to_text_form(cells, "faq.ipynb")
    assert "faq.ipynb: cell 2 (id b)" in str(error.value)


def write_notebook(path, cells):
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = {"cells": [{"cell_type": c.kind, "id": c.id, "metadata": {},
                     "source": c.source.splitlines(keepends=True),
                     **({"execution_count": None, "outputs": []} if c.kind == "code" else {})}
                    for c in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")


@pytest.fixture
def chapter(tmp_path):
    """A small chapter, tmp/11-faq/faq.ipynb, with its text form written."""
    notebook = tmp_path / "11-faq" / "faq.ipynb"
    write_notebook(notebook, [Cell("markdown", "m1", "# FAQ"), Cell("code", "c1", "a = 1\nb = 2"),
                              Cell("code", "c2", "print(a + b)")])
    assert text_forms.write_text_form(notebook)
    assert not text_forms.write_text_form(notebook)    # a second run changes nothing
    assert text_forms.disagreement(notebook) is None
    return notebook


def test_an_edited_cell_is_named_with_its_chapter_and_line(chapter):
    write_notebook(chapter, [Cell("markdown", "m1", "# FAQ"), Cell("code", "c1", "a = 1\nb = 3"),
                             Cell("code", "c2", "print(a + b)")])
    problem = text_forms.disagreement(chapter)
    assert problem.startswith("11-faq: cell 2 differs between faq.ipynb and faq.nb.py")
    assert "notebook:  code id=c1, line 2: 'b = 3'" in problem
    assert "text form: code id=c1, line 2: 'b = 2'" in problem
    assert "python -m minillm.text_forms" in problem


def test_an_added_or_changed_kind_of_cell_is_named(chapter):
    write_notebook(chapter, [Cell("markdown", "m1", "# FAQ"), Cell("code", "c1", "a = 1\nb = 2"),
                             Cell("code", "c2", "print(a + b)"), Cell("code", "c3", "")])
    assert "has 4 cells and faq.nb.py 3, the first differing is cell 4" in (
        text_forms.disagreement(chapter))
    write_notebook(chapter, [Cell("code", "m1", "# FAQ")])
    assert "cell 1 differs" in text_forms.disagreement(chapter)


def test_a_missing_or_hand_edited_text_form_is_named(chapter):
    path = text_forms.text_form_path(chapter)
    written = path.read_text(encoding="utf-8")
    path.write_text(written.replace("# Text form of", "# A text form of"), encoding="utf-8")
    assert "faq.nb.py holds the right cells but not as" in text_forms.disagreement(chapter)
    path.write_text(written.replace("\n\n# %%", "\n# %%"), encoding="utf-8")
    assert "faq.nb.py cannot be read" in text_forms.disagreement(chapter)
    path.unlink()
    assert "11-faq: faq.ipynb has no text form faq.nb.py" in text_forms.disagreement(chapter)


def test_the_command_checks_and_writes(chapter, capsys):
    write_notebook(chapter, [Cell("markdown", "m1", "# FAQ, changed")])
    assert text_forms.main(["--check", str(chapter)]) == 1
    assert "11-faq: cell 1 differs" in capsys.readouterr().out
    assert text_forms.main([str(chapter)]) == 0
    assert text_forms.main(["--check", str(chapter)]) == 0
