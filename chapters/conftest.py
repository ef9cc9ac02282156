"""How pytest runs the chapters (nbval): numbers compared as numbers, patience, chapter times.

Outputs: strict nbval compares a cell's stored outputs with a fresh run's as exact text; here its
cells become nbval_numbers.NumericCells (tests/nbval_numbers.py, on sys.path through pyproject's
pythonpath), which read the numbers in text outputs as numbers, within a tolerance a cell may set
with a line "# tolerance: rel=0.05" (or abs=..., or exact): rounding noise from another CPU passes,
a changed word or a number off by more fails.

Patience: after a cell's reply, nbval waits at most 5 seconds for each remaining output message; on
a busy machine a figure or a widget can take longer to arrive, and the cell then fails with "Timeout
of 5 seconds exceeded waiting for output" although nothing is wrong. The time a whole cell may run
is nbval's own --nbval-cell-timeout, unchanged.

Chapter times: the run ends with the seconds each notebook's cells took, one line per notebook.
"""

from collections import defaultdict
from itertools import chain

import pytest
from nbval.plugin import IPyNbCell
from nbval_numbers import NumericCell

OUTPUT_TIMEOUT_S = 60


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, IPyNbCell):
            # nbval builds its cells itself; the subclass only changes how outputs are compared.
            item.__class__ = NumericCell
            item.output_timeout = OUTPUT_TIMEOUT_S


def pytest_terminal_summary(terminalreporter):
    """At the end of a run that ran notebooks: "chapter times: <notebook> 12.3 s", one a line."""
    seconds = notebook_seconds(chain.from_iterable(terminalreporter.stats.values()))
    for path, total in sorted(seconds.items()):
        terminalreporter.write_line(f"chapter times: {path} {total:.1f} s")


def notebook_seconds(reports):
    """Seconds spent running cells, summed per notebook: {path: seconds}."""
    seconds = defaultdict(float)
    for report in reports:
        if isinstance(report, pytest.TestReport) and report.when == "call":
            path = report.nodeid.partition("::")[0]
            if path.endswith(".ipynb"):
                seconds[path] += report.duration
    return seconds
