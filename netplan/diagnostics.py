"""The run's one list of warnings: everything a run leaves out or doubts.

Any stage reports what it excluded, dropped, cut off or finds suspicious with
:func:`warn`. Inside :func:`collect` (``pipeline.build_plan`` opens one per
run) the warnings go to that run's list, which ends up as ``plan.warnings``:
the CLI prints it at the end, the manifest stores it (``warnings``) and the map
shows it. Outside a run (a stage function called on its own in a notebook) a
warning is issued through Python's :mod:`warnings` as a :class:`NetplanWarning`,
so it is never lost.

A warning is not an error: the plan is still right for what it covers, and the
warning says what it does not cover. Inputs that make a plan wrong raise
:class:`netplan.errors.NetplanError` instead.
"""

from __future__ import annotations

import contextvars
import warnings as _pywarnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["NetplanWarning", "RunWarning", "collect", "current", "warn"]


class NetplanWarning(UserWarning):
    """Python warning category for run warnings issued outside a run."""


@dataclass(frozen=True)
class RunWarning:
    """One thing a run left out or doubts.

    Attributes
    ----------
    stage
        The pipeline stage that noticed it: ``scenario``, ``city``, ``demand``,
        ``sites``, ``locate``, ``route``, ``evaluate`` or ``write``.
    code
        A short stable identifier (``demand.duplicate_rows``,
        ``city.truck_component_cut``, ``route.dropped_stops``), for filtering
        and tests.
    message
        One sentence a planner understands: what, how much, and what to do.
    ids
        The ids of the demand points, sites, stops or rows it concerns (at most
        a few hundred are kept; ``count`` keeps the full number).
    count
        How many items it concerns (``len(ids)`` unless given).
    """

    stage: str
    code: str
    message: str
    ids: tuple[str, ...] = field(default_factory=tuple)
    count: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the manifest and the map)."""
        out = asdict(self)
        out["ids"] = list(self.ids)
        return out

    def __str__(self) -> str:
        return f"[{self.stage}] {self.message}"


_MAX_IDS = 200
_current: contextvars.ContextVar[list[RunWarning] | None] = contextvars.ContextVar("netplan_warnings", default=None)


def warn(stage: str, code: str, message: str, ids: Iterable[Any] = (), count: int | None = None) -> RunWarning:
    """Report a warning to the run being collected (or as a Python warning).

    Parameters
    ----------
    stage, code, message
        See :class:`RunWarning`.
    ids
        Ids of what it concerns; stringified, in the given order.
    count
        How many items it concerns (default: the number of ids).

    Returns
    -------
    RunWarning
        The warning as recorded.
    """
    id_list = [str(i) for i in ids]
    item = RunWarning(
        stage=stage,
        code=code,
        message=message,
        ids=tuple(id_list[:_MAX_IDS]),
        count=len(id_list) if count is None else int(count),
    )
    log = _current.get()
    if log is None:
        _pywarnings.warn(str(item), NetplanWarning, stacklevel=2)
    elif item not in log:
        log.append(item)
    return item


def current() -> list[RunWarning] | None:
    """The list being collected, or None outside :func:`collect`."""
    return _current.get()


@contextmanager
def collect(into: list[RunWarning] | None = None) -> Iterator[list[RunWarning]]:
    """Collect every :func:`warn` inside the block into one list.

    Parameters
    ----------
    into
        An existing list to append to (default: a new one).

    Yields
    ------
    list of RunWarning
        The run's warnings, in the order they were reported.
    """
    log = [] if into is None else into
    token = _current.set(log)
    try:
        yield log
    finally:
        _current.reset(token)
