"""Compare a notebook's stored outputs with a fresh run's, reading the numbers in them as numbers.

Strict nbval compares outputs as exact text, so a chapter run on another CPU (other SIMD kernels,
other rounding) fails on "perplexity 104.0" against "103.9". Here an output is split into its
numbers and the text between them:

- the text must match exactly: a changed word, a flipped claim ("beats" -> "loses"), a missing or
  extra number all fail;
- each pair of numbers may differ by at most max(rel * max(|a|, |b|), abs, one unit in the last
  printed digit of the less precise of the two): 0.1 for "104.0", 0.01 for "0.09", 1e-08 for
  "3.6e-07". A whole number ("1304", a token id, a shape, a count) has no last-digit allowance: it
  is rounded by nobody, so only rel and abs apply (by default 1 %: 1304 may be 1291..1317, but 3
  must stay 3). By default rel = 0.01 and abs = 0.

What counts as a number: "42", "-0.5", "1,234,567", "3.6e-07", "3E+02". Digits glued to a word
("float32", "ch01", "layer3", "x86_64") and dotted chains ("2.13.0", "127.0.0.1") are text. A minus
sign belongs to the number unless a word character comes before it ("x-3" is "x-" and 3).

A code cell may set its own tolerance in a comment line of its own (the whole line):

    # tolerance: rel=0.05
    # tolerance: abs=0.002
    # tolerance: rel=0.05 abs=0.002
    # tolerance: exact          (rel 0, abs 0, and no last-digit allowance either)

A notebook may set the default for all its cells in its metadata, in the same words:
{"nbval": {"tolerance": "rel=0.02"}}. A cell's own line replaces that default.
A line that starts "# tolerance" but cannot be read fails the cell: it is never ignored.

NumericCell puts this comparison into nbval: chapters/conftest.py turns nbval's cells into
NumericCells, after collection.
"""

import os
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, localcontext
from textwrap import indent
from typing import NamedTuple

from nbval.plugin import IPyNbCell, transform_streams_for_comparison

# Outputs compared number by number; every other output keeps nbval's exact comparison.
TEXT_OUTPUTS = frozenset(
    {"stdout", "stderr", "text/plain", "text/html", "application/javascript", "image/svg+xml"}
)

# Decimal, not float: 0.10 - 0.09 is exactly the one unit of 0.01 it looks like. The context is
# wide enough that no printed number overflows it, and it signals nothing.
ARITHMETIC = Context(prec=60, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])

TOKEN = re.compile(
    r"""
    (?<![\w.])                            # not glued to a word (float32) nor after a dot
    (?:
        (?P<dotted>[0-9]+(?:\.[0-9]+){2,})    # a version or an address: text
      | (?P<number>
            -?
            (?:[1-9][0-9]{0,2}(?:,[0-9]{3})+(?![0-9]) | [0-9]+)   # 1,234,567 or 1234567
            (?:\.[0-9]*)?                                          # 104.0, or numpy's "1."
            (?:[eE][+-]?[0-9]+)?                                   # e-07, E+02
        )
    )
    """,
    re.VERBOSE,
)

# Characters of context shown on each side of a difference.
CONTEXT = 30
# Number mismatches listed for one output; the rest are counted.
MAX_LISTED = 5


class ToleranceError(ValueError):
    """A tolerance that cannot be read."""


@dataclass(frozen=True)
class Tolerance:
    """How far a fresh number may stray from the stored one (see the module's docstring)."""

    rel: Decimal = Decimal("0.01")
    abs: Decimal = Decimal(0)
    last_digit: bool = True

    def __str__(self):
        return "exact" if self == EXACT else f"rel={self.rel} abs={self.abs}"

    def allowed(self, a, b):
        """The largest difference accepted between the Numbers a and b."""
        with localcontext(ARITHMETIC):
            bound = max(self.rel * max(abs(a.value), abs(b.value)), self.abs)
            if self.last_digit:
                bound = max(bound, a.unit, b.unit)
            return bound

    def accepts(self, a, b):
        """Whether the Numbers a and b agree within this tolerance."""
        if a.text == b.text:  # the common case, and a quick one
            return True
        with localcontext(ARITHMETIC):
            return abs(a.value - b.value) <= self.allowed(a, b)

    def explain(self, a, b):
        """The allowed difference between a and b, with where it comes from."""
        if self == EXACT:
            return "0 (exact)"
        with localcontext(ARITHMETIC):
            terms = [f"rel {self.rel} × {show(max(abs(a.value), abs(b.value)))}", f"abs {self.abs}"]
            if self.last_digit:
                terms.append(f"last digit {show(max(a.unit, b.unit))}")
            return f"{show(self.allowed(a, b))} = max({', '.join(terms)})"


DEFAULT = Tolerance()
EXACT = Tolerance(rel=Decimal(0), abs=Decimal(0), last_digit=False)

FORMS = "'exact', 'rel=0.05', 'abs=0.002' or 'rel=0.05 abs=0.002'"
SETTING = re.compile(r"(rel|abs)=([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)")
MARKER = re.compile(r"^[ \t]*#[ \t]*(tolerance\b.*)$", re.IGNORECASE | re.MULTILINE)


def parse_tolerance(spec):
    """The Tolerance written as spec: "exact", "rel=0.05", "abs=0.002" or "rel=0.05 abs=0.002"."""
    words = spec.split()
    if words == ["exact"]:
        return EXACT
    if not words:
        raise ToleranceError(f"the tolerance is empty: write {FORMS}")
    settings = {}
    for word in words:
        match = SETTING.fullmatch(word)
        if match is None:
            raise ToleranceError(f"cannot read {word!r}: write {FORMS}")
        name, value = match.groups()
        if name in settings:
            raise ToleranceError(f"{name} is given twice")
        settings[name] = Decimal(value)
    if settings.get("rel", 0) > 1:
        raise ToleranceError(f"rel is a fraction (rel=0.05 means 5%), not {settings['rel']}")
    return Tolerance(**settings)


def cell_tolerance(source, default=DEFAULT):
    """The tolerance a code cell declares in a "# tolerance: ..." line of its own, else default."""
    lines = MARKER.findall(source)
    if not lines:
        return default
    if len(lines) > 1:
        raise ToleranceError(f"a cell declares one tolerance, this one {len(lines)}: {lines}")
    keyword, colon, spec = lines[0].partition(":")
    if keyword.rstrip() != "tolerance" or not colon:
        raise ToleranceError(f"cannot read '# {lines[0]}': write '# tolerance: ' then {FORMS}")
    try:
        return parse_tolerance(spec)
    except ToleranceError as error:
        raise ToleranceError(f"'# {lines[0]}': {error}") from None


def notebook_tolerance(metadata):
    """A notebook's default tolerance, from metadata {"nbval": {"tolerance": "rel=0.02"}}."""
    spec = metadata.get("nbval", {}).get("tolerance")
    if spec is None:
        return DEFAULT
    if not isinstance(spec, str):
        raise ToleranceError(f"notebook metadata nbval.tolerance is {spec!r}, not {FORMS}")
    try:
        return parse_tolerance(spec)
    except ToleranceError as error:
        raise ToleranceError(f"notebook metadata nbval.tolerance {spec!r}: {error}") from None


class Piece(NamedTuple):
    """Text between two numbers, and where it starts in the output."""

    text: str
    start: int


class Number(NamedTuple):
    """A number as printed, where it starts in the output, and its value."""

    text: str
    start: int
    value: Decimal

    @property
    def unit(self):
        """One unit in the last printed digit: 0.1 for "104.0", 1E-8 for "3.6e-07"; 0 for a whole
        number ("1304"), which no rounding made."""
        if not any(mark in self.text for mark in ".eE"):
            return Decimal(0)
        return ARITHMETIC.scaleb(Decimal(1), self.value.as_tuple().exponent)


def split_numbers(text):
    """The text's Numbers, and the Pieces of text around them (always one Piece more)."""
    pieces, numbers, start = [], [], 0
    for match in TOKEN.finditer(text):
        printed = match.group("number")
        if printed is None:  # a version or an address: text
            continue
        value = ARITHMETIC.create_decimal(printed.replace(",", ""))
        if not value.is_finite():  # too large for any scale: text
            continue
        pieces.append(Piece(text[start : match.start()], start))
        numbers.append(Number(printed, match.start(), value))
        start = match.end()
    pieces.append(Piece(text[start:], start))
    return pieces, numbers


def compare_text(stored, fresh, tolerance=DEFAULT):
    """How the fresh output disagrees with the stored one, one sentence a problem; [] if it agrees.

    The text between numbers must be equal; the numbers, pair by pair, within tolerance.
    """
    if stored == fresh:
        return []
    stored_pieces, stored_numbers = split_numbers(stored)
    fresh_pieces, fresh_numbers = split_numbers(fresh)
    if [piece.text for piece in stored_pieces] != [piece.text for piece in fresh_pieces]:
        return [describe_text_difference(stored, fresh, stored_pieces, fresh_pieces)]
    problems = [
        describe_number_difference(stored, fresh, index, a, b, len(stored_numbers), tolerance)
        for index, (a, b) in enumerate(zip(stored_numbers, fresh_numbers))
        if not tolerance.accepts(a, b)
    ]
    if len(problems) > MAX_LISTED:
        more = len(problems) - MAX_LISTED
        problems = problems[:MAX_LISTED] + [f"... and {more} more numbers out of tolerance"]
    return problems


def describe_text_difference(stored, fresh, stored_pieces, fresh_pieces):
    """Where the text first differs, with some context from both outputs."""
    at_stored, at_fresh = first_difference(stored_pieces, fresh_pieces)
    counts = ""
    if len(stored_pieces) != len(fresh_pieces):
        counts = f" (numbers: {len(stored_pieces) - 1} stored, {len(fresh_pieces) - 1} fresh)"
    return (
        f"text differs at {line_and_column(stored, at_stored)}{counts}:\n"
        f"  stored: {excerpt(stored, at_stored)}\n"
        f"  fresh:  {excerpt(fresh, at_fresh)}"
    )


def first_difference(stored_pieces, fresh_pieces):
    """The offsets, in the stored and in the fresh output, where their text first differs."""
    for a, b in zip(stored_pieces, fresh_pieces):
        if a.text != b.text:
            same = len(os.path.commonprefix([a.text, b.text]))
            return a.start + same, b.start + same
    # Equal as far as they go: one output has more numbers, the other ends.
    last = min(len(stored_pieces), len(fresh_pieces)) - 1
    a, b = stored_pieces[last], fresh_pieces[last]
    return a.start + len(a.text), b.start + len(b.text)


def describe_number_difference(stored, fresh, index, a, b, count, tolerance):
    """Two numbers out of tolerance: their values, the difference, what was allowed, context."""
    with localcontext(ARITHMETIC):
        difference = abs(a.value - b.value)
    return (
        f"number {index + 1} of {count}, at {line_and_column(stored, a.start)}: "
        f"stored {a.text}, fresh {b.text} differ by {show(difference)}; "
        f"allowed {tolerance.explain(a, b)}\n"
        f"  stored: {excerpt(stored, a.start)}\n"
        f"  fresh:  {excerpt(fresh, b.start)}"
    )


def show(value):
    """A Decimal for a message, to 6 significant digits: 0.0105, 1e-08, 100."""
    return f"{float(value):.6g}"


def line_and_column(text, offset):
    """ "line 3, column 12" of an offset into text (both counted from 1)."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def excerpt(text, offset):
    """A few characters of text on each side of offset, as a Python string literal."""
    start, end = max(0, offset - CONTEXT), offset + CONTEXT
    cut = ("…" if start > 0 else "") + text[start:end] + ("…" if end < len(text) else "")
    return repr(cut)


class NumericCell(IPyNbCell):
    """An nbval cell whose text outputs compare number by number, within the cell's tolerance.

    Everything else is nbval's: the run, the sanitizing (applied first), which outputs are compared
    (images never are) and the failure report this comparison adds its findings to.
    """

    tolerance = DEFAULT

    def runtest(self):
        """Run the cell as nbval does; a tolerance that cannot be read fails it after the run."""
        try:
            default = notebook_tolerance(self.parent.nb.metadata)
            self.tolerance = cell_tolerance(self.cell.source, default)
        except ToleranceError as error:
            # Run the cell all the same, so that the cells after it find what it defines.
            self.options["check"] = False
            super().runtest()
            self.raise_cell_error(f"Malformed tolerance: {error}")
        super().runtest()

    def compare_outputs(self, test, ref, skip_compare=None):
        """Whether the fresh outputs (test) match the stored ones (ref); the report if not."""
        skip_compare = skip_compare or self.parent.skip_compare
        fresh, stored = self.flatten(test, skip_compare), self.flatten(ref, skip_compare)
        self.comparison_traceback = []
        if stored.keys() != fresh.keys():
            self.report_fields(stored.keys() - fresh.keys(), fresh.keys() - stored.keys())
            return False
        for key, stored_values in stored.items():
            if len(stored_values) != len(fresh[key]):
                self.report_output_count(key, stored_values, fresh[key])
                return False
            for stored_value, fresh_value in zip(stored_values, fresh[key]):
                if not self.values_agree(key, stored_value, fresh_value):
                    return False
        return True

    def flatten(self, outputs, skip_compare):
        """nbval's view of outputs: {key: [sanitized values]}, a stream keyed by its name and
        display data by its MIME type, keys in skip_compare left out."""
        values = defaultdict(list)
        for output in transform_streams_for_comparison(outputs):
            for key, value in output.items():
                if key in skip_compare:
                    continue
                for name, item in value.items() if key == "data" else [(key, value)]:
                    if name not in skip_compare:
                        values[name].append(self.sanitize(item))
        return values

    def values_agree(self, key, stored, fresh):
        """Compare one output value, reporting a difference."""
        if key in TEXT_OUTPUTS and isinstance(stored, str) and isinstance(fresh, str):
            problems = compare_text(stored, fresh, self.tolerance)
            if problems:
                self.report(
                    f" mismatch '{key}' (numbers within tolerance {self.tolerance}):",
                    *(indent(problem, "  ") for problem in problems),
                )
            return not problems
        if stored != fresh:
            self.format_output_compare(key, stored, fresh)  # nbval's own report
            return False
        return True

    def report_fields(self, missing, unexpected):
        if missing:
            self.report(f"Missing output fields from running code: {missing}")
        if unexpected:
            self.report(f"Unexpected output fields from running code: {unexpected}")

    def report_output_count(self, key, stored_values, fresh_values):
        self.report(
            f'dissimilar number of outputs for key "{key}": '
            f"{len(stored_values)} stored, {len(fresh_values)} fresh",
            *(f"  stored: {value!r:.200}" for value in stored_values),
            *(f"  fresh:  {value!r:.200}" for value in fresh_values),
        )

    def report(self, headline, *lines):
        """Add to the comparison report nbval shows for a failed cell, in its colours."""
        colors = self.colors
        self.comparison_traceback.append(colors.OKBLUE + headline + colors.FAIL)
        self.comparison_traceback.extend(lines)
        self.comparison_traceback.append(colors.ENDC)
