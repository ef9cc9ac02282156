"""Notebook outputs compare numbers as numbers: rounding noise passes, a real change fails.

The comparison (tests/nbval_numbers.py) runs after nbval's sanitizing, on text outputs; each case
below is a stored output and a fresh one as two CPUs could print them.
"""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest
from nbval_numbers import (
    DEFAULT,
    EXACT,
    MAX_LISTED,
    Tolerance,
    ToleranceError,
    cell_tolerance,
    compare_text,
    notebook_tolerance,
    split_numbers,
)

REPO = Path(__file__).resolve().parents[1]

ROUNDING_NOISE = {
    "last digit of a perplexity": ("perplexity 104.0", "perplexity 103.9"),
    "last digit of a small number": ("0.10 bits", "0.09 bits"),
    "fifth decimal": ("mean 0.12345", "mean 0.12346"),
    "bertviz-like floats, 4th decimal": (
        '{"attn": [[0.1234, 0.5678, 0.0012], [0.9981, 1.2e-05, 0.0]]}',
        '{"attn": [[0.1237, 0.5671, 0.0011], [0.9979, 1.21e-05, 0.0]]}',
    ),
    "negative zero": ("max |diff| = -0.0", "max |diff| = 0.0"),
    "scientific notation, last digit": ("grad 3.6e-07", "grad 3.7e-07"),
    "different precision": ("ratio 9.9999e-05", "ratio 0.0001"),
    "thousands separators within 1%": ("1,234 pairs", "1,236 pairs"),
    "a large count within 1%": ("2,527 distinct pairs", "2,540 distinct pairs"),
    "several lines": (
        "step 1 loss 2.31\nstep 2 loss 2.05\n",
        "step 1 loss 2.30\nstep 2 loss 2.06\n",
    ),
}


@pytest.mark.parametrize(("stored", "fresh"), ROUNDING_NOISE.values(), ids=ROUNDING_NOISE.keys())
def test_rounding_noise_compares_equal(stored, fresh):
    assert compare_text(stored, fresh) == []


REAL_CHANGES = {
    "a flipped claim": ("the model beats the baseline", "the model loses to the baseline"),
    "a changed word": ("weight on river = 0.255", "weight on bank = 0.255"),
    "a number off by 5%": ("loss 2.000", "loss 2.100"),
    "one more number": ("shape (2, 4)", "shape (2, 4, 16)"),
    "float32 vs float64": ("dtype float32", "dtype float64"),
    "an integer count beyond 1%": ("1000 tokens", "1020 tokens"),
    "a small whole number off by one": ("shape (2, 4, 16)", "shape (2, 4, 17)"),
    "a token id off by one": ("ids [6, 1, 5]", "ids [7, 1, 5]"),
    "a sign": ("score -0.50", "score 0.50"),
    "a version": ("torch 2.13.0", "torch 2.13.1"),
    "a byte value": ("byte 0x41", "byte 0x42"),
    "nan vs inf": ("loss nan", "loss inf"),
    "a chapter number": ("see ch01", "see ch02"),
}


@pytest.mark.parametrize(("stored", "fresh"), REAL_CHANGES.values(), ids=REAL_CHANGES.keys())
def test_a_real_change_fails(stored, fresh):
    assert compare_text(stored, fresh) != []


def test_digits_glued_to_a_word_are_text_and_a_minus_after_a_word_is_too():
    pieces, numbers = split_numbers("ch01 layer3 x86_64 float32 e5 d_model=64 x-3 -2 1,234,567")
    assert [number.text for number in numbers] == ["64", "3", "-2", "1,234,567"]
    assert pieces[0].text == "ch01 layer3 x86_64 float32 e5 d_model="
    assert numbers[-1].value == 1234567


def test_one_unit_in_the_last_printed_digit():
    units = [number.unit for number in split_numbers("104.0 0.09 1304 3.6e-07 3E+02 1,234")[1]]
    assert units == [Decimal("0.1"), Decimal("0.01"), 0, Decimal("1e-8"), 100, 0]


def test_a_number_message_shows_both_numbers_their_context_and_the_allowance():
    [message] = compare_text("valid perplexity 104.0 after", "valid perplexity 102.0 after")
    assert "stored 104.0, fresh 102.0 differ by 2;" in message
    assert "allowed 1.04 = max(rel 0.01 × 104, abs 0, last digit 0.1)" in message
    assert "'valid perplexity 104.0 after'" in message


def test_a_text_message_points_at_the_first_difference():
    [message] = compare_text("ok\nthe model beats it: 0.9", "ok\nthe model loses: 0.9")
    assert message.startswith("text differs at line 2, column 11")
    assert "'ok\\nthe model beats it: 0.9'" in message
    assert "'ok\\nthe model loses: 0.9'" in message


def test_a_different_count_of_numbers_is_named():
    [message] = compare_text("sizes 1 2", "sizes 1 2 3")
    assert "(numbers: 2 stored, 3 fresh)" in message


def test_many_numbers_out_of_tolerance_are_listed_up_to_a_limit():
    problems = compare_text(" ".join(["1.0"] * 50), " ".join(["2.0"] * 50))
    assert len(problems) == MAX_LISTED + 1
    assert problems[-1] == f"... and {50 - MAX_LISTED} more numbers out of tolerance"


@pytest.mark.parametrize(
    ("stored", "fresh"),
    [("1,2345", "1,2346"), ("1e99999999999999999999", "1e99999999999999999999 "), ("-", "--1")],
)
def test_odd_numbers_never_crash(stored, fresh):
    assert isinstance(compare_text(stored, fresh), list)


def test_exact_fails_on_last_digit_noise():
    assert compare_text("0.10 bits", "0.09 bits", EXACT) != []
    assert compare_text("-0.0", "0.0", EXACT) == []


def test_a_wider_relative_tolerance_passes_5_percent():
    tolerance = cell_tolerance("# tolerance: rel=0.1\nprint(loss)")
    assert compare_text("loss 2.000", "loss 2.100", tolerance) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("print(1)", DEFAULT),
        ("# tolerance: rel=0.05\nprint(1)", Tolerance(rel=Decimal("0.05"))),
        ("x = 1\n  #tolerance:abs=0.002", Tolerance(abs=Decimal("0.002"))),
        ("# tolerance: rel=0.05 abs=2e-3", Tolerance(rel=Decimal("0.05"), abs=Decimal("0.002"))),
        ("# tolerance: exact", EXACT),
        ("# tolerances are set below\nprint(1)", DEFAULT),
    ],
)
def test_a_cell_declares_its_tolerance_in_a_comment_line(source, expected):
    assert cell_tolerance(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "# tolerance rel=0.05",
        "# tolerance:",
        "# tolerance: rel=5%",
        "# tolerance: rel=-0.1",
        "# tolerance: rel=5",
        "# tolerance: rel=0.05 rel=0.1",
        "# tolerance: exact rel=0.1",
        "# tolerance: relative=0.05",
        "# Tolerance: exact",
        "# tolerance: rel=0.05\n# tolerance: exact",
    ],
)
def test_a_malformed_tolerance_line_raises(source):
    with pytest.raises(ToleranceError):
        cell_tolerance(source)


def test_a_notebook_sets_the_default_and_a_cell_line_replaces_it():
    default = notebook_tolerance({"nbval": {"tolerance": "rel=0.02"}})
    assert default == Tolerance(rel=Decimal("0.02"))
    assert cell_tolerance("print(1)", default) == default
    assert cell_tolerance("# tolerance: exact", default) == EXACT
    assert notebook_tolerance({}) == DEFAULT
    with pytest.raises(ToleranceError):
        notebook_tolerance({"nbval": {"tolerance": 0.02}})


def notebook_printing(stored_stdout):
    """A 2-cell notebook: the second cell prints the loss; its stored output is stored_stdout."""
    define = nbformat.v4.new_code_cell("loss = 1.0001", execution_count=1)
    show = nbformat.v4.new_code_cell('print(f"loss {loss:.4f}")', execution_count=2)
    show.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored_stdout)]
    return nbformat.v4.new_notebook(cells=[define, show])


@pytest.mark.slow
def test_strict_nbval_with_the_chapters_conftest_compares_numbers_as_numbers(tmp_path):
    stored = {"close": "loss 1.0004\n", "far": "loss 1.0500\n", "reworded": "gain 1.0001\n"}
    for name, stdout in stored.items():
        nbformat.write(notebook_printing(stdout), tmp_path / f"{name}.ipynb")
    (tmp_path / "conftest.py").write_text((REPO / "chapters" / "conftest.py").read_text())
    # -c pyproject.toml: the repository's settings (pythonpath, sanitize file) for a notebook
    # outside it; the conftest next to the notebooks is the chapters' own.
    command = [sys.executable, "-m", "pytest", "-c", "pyproject.toml", "-p", "no:cacheprovider"]
    command += ["--nbval", "--nbval-current-env", "-v", str(tmp_path)]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    log = run.stdout + run.stderr
    assert "close.ipynb::Cell 1 PASSED" in log, log
    assert "far.ipynb::Cell 1 FAILED" in log, log
    assert "reworded.ipynb::Cell 1 FAILED" in log, log
    assert "stored 1.0500, fresh 1.0001 differ by 0.0499" in log
    assert "text differs at line 1, column 1" in log
    assert "chapter times: " in log and "close.ipynb" in log
