"""Errors that netplan reports to users.

Every problem caused by the user's input (a scenario key, a data file, a
city that cannot be loaded) is raised as a :class:`NetplanError`. The CLI
prints its message and exits with code 2, without a traceback unless
``--debug`` is given; anything else is a bug in netplan.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike


class NetplanError(Exception):
    """A user-facing error: bad input, not a bug.

    Parameters
    ----------
    message
        What is wrong and what was expected.
    path
        The file the problem is in, if any.
    where
        Where in that file: a key path (``tiers[1].radius_m``), a row and
        column (``row 7, column 'lon'``) or a layer name.
    """

    exit_code = 2

    def __init__(self, message: str, path: str | Path | None = None, where: str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.where = where
        super().__init__(str(self))

    def __str__(self) -> str:
        location = ""
        if self.path and self.where:
            location = f"{self.path}: {self.where}: "
        elif self.path:
            location = f"{self.path}: "
        elif self.where:
            location = f"{self.where}: "
        return f"{location}{self.message}"


class ScenarioError(NetplanError):
    """The scenario file is malformed or has a bad value."""


class InputDataError(NetplanError):
    """A data file (demand table, site table, road layer) is malformed."""


class CityError(NetplanError):
    """The city's road network cannot be loaded or is unusable."""


def check_cells(
    bad: ArrayLike,
    cells: Sequence[object],
    *,
    expected: str,
    path: str | Path | None,
    column: str,
    offset: int,
    count: bool = False,
) -> None:
    """Raise an :class:`InputDataError` at the first bad cell of a table column, if any.

    Parameters
    ----------
    bad
        One flag per row: True where the cell is wrong.
    cells
        The column as written in the file (a pandas Series or any positional sequence): the message quotes the cell.
    expected
        What the cell should hold, e.g. ``"expected a number >= 0"``.
    path
        The file.
    column
        The column's name in the file.
    offset
        The file's row number of position 0 (1 for a spatial layer, 2 for a CSV under its header).
    count
        Also say how many cells of the column are bad.

    Raises
    ------
    InputDataError
        ``expected ..., got <cell>`` at ``row N, column 'name'``.
    """
    hits = np.flatnonzero(np.asarray(bad, dtype=bool))
    if not len(hits):
        return
    i = int(hits[0])
    cell = cells.iloc[i] if hasattr(cells, "iloc") else cells[i]
    more = f" ({len(hits)} bad value(s) in this column)" if count else ""
    raise InputDataError(f"{expected}, got {cell!r}{more}", path, f"row {i + offset}, column {column!r}")
