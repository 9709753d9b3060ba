"""Errors that netplan reports to users.

Every problem caused by the user's input (a scenario key, a data file, a
city that cannot be loaded) is raised as a :class:`NetplanError`. The CLI
prints its message and exits with code 2, without a traceback unless
``--debug`` is given; anything else is a bug in netplan.
"""

from __future__ import annotations

from pathlib import Path


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
