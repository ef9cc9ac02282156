"""How pytest runs the chapters (nbval): more patience for a cell's last outputs.

After a cell's reply, nbval waits at most 5 seconds for each remaining output message; on a busy
machine a figure or a widget can take longer to arrive, and the cell then fails with "Timeout of 5
seconds exceeded waiting for output" although nothing is wrong. The time a whole cell may run is
nbval's own --nbval-cell-timeout, unchanged.
"""
from nbval.plugin import IPyNbCell

OUTPUT_TIMEOUT_S = 60


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, IPyNbCell):
            item.output_timeout = OUTPUT_TIMEOUT_S
