"""Live progress of long solver stages: elapsed time, bound and incumbent, one log line every few seconds.

A stage opens a reporter (``with reporting("locate"):``); the solvers inside it call :func:`report` with what
they know now (the Lagrangian subgradient loop its bound and best plan, a MIP solve its result, PyVRP and OR-Tools
their best cost). :func:`report` only stores the values; a line is logged at INFO on ``netplan.progress`` when
``every_s`` seconds have passed since the last one: by the call that finds a line due, or, while a native solver
holds the thread (a SCIP solve has no Python callback), by a heartbeat thread. The CLI's ``-q`` hides the lines,
``-v`` keeps them; a library user sees them once logging shows INFO for ``netplan``.

Wall time decides only *when* a line is printed. Nothing here is read back by a solver, so a plan is the same with
progress shown or not (``tests/test_progress.py``). Outside :func:`reporting` (batch workers, tests),
:func:`report` does nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator

log = logging.getLogger("netplan.progress")

EVERY_S = 5.0
"""Seconds between two progress lines."""

_KEEP: object = object()


def _number(value: object) -> float | None:
    """A finite float, or None for unknown (None, inf, NaN, a solver's 1e30 'no bound')."""
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) and abs(number) < 1e29 else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4g}"


class Reporter:
    """The progress of one stage: the latest bound, incumbent and step, logged every ``every_s`` seconds.

    Parameters
    ----------
    stage
        The stage's name, at the start of every line (``locate``, ``route``).
    every_s
        Seconds between two lines.
    logger
        Where the lines go (INFO).
    clock
        Monotonic seconds (a test can pass its own).
    """

    def __init__(
        self,
        stage: str,
        *,
        every_s: float = EVERY_S,
        logger: logging.Logger = log,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stage, self.every_s, self._log, self._clock = stage, every_s, logger, clock
        self.started = self._last = clock()
        self.bound: float | None = None
        self.incumbent: float | None = None
        self.detail = ""
        self.step: int | None = None
        self.lines = 0
        self._lock = threading.Lock()

    def update(
        self, *, bound: object = _KEEP, incumbent: object = _KEEP, detail: str | None = None, step: object = _KEEP
    ) -> None:
        """Store what a solver knows now and log a line if one is due.

        Parameters
        ----------
        bound, incumbent
            The current lower bound and the best solution's objective of what is being solved (None, inf or NaN:
            not known); a value not passed is kept.
        detail
            What is being solved (``"Lagrangian, tier-1 level"``, ``"SCIP MIP"``); a new detail forgets the step.
        step
            Its iteration count, if it has one.
        """
        if detail is not None and detail != self.detail:
            self.detail, self.step = detail, None
        if bound is not _KEEP:
            self.bound = _number(bound)
        if incumbent is not _KEEP:
            self.incumbent = _number(incumbent)
        if step is not _KEEP:
            self.step = None if step is None else int(step)  # type: ignore[call-overload]
        self.tick()

    def tick(self) -> None:
        """Log a line if ``every_s`` seconds have passed since the last one."""
        now = self._clock()
        with self._lock:
            if now - self._last < self.every_s:
                return
            self._last = now
            self.lines += 1
        self._log.info(self.line(now))

    def line(self, now: float | None = None) -> str:
        """The progress line: stage, elapsed seconds, bound, incumbent, gap, what is being solved."""
        elapsed = (self._clock() if now is None else now) - self.started
        text = f"      {self.stage} {elapsed:,.0f} s: bound {_fmt(self.bound)}, incumbent {_fmt(self.incumbent)}"
        if self.bound is not None and self.incumbent is not None and self.incumbent != 0:
            text += f" (gap {(self.incumbent - self.bound) / abs(self.incumbent):.2%})"
        if self.detail:
            text += f" · {self.detail}" + (f", iteration {self.step:,}" if self.step is not None else "")
        return text


_current: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("netplan_progress", default=None)


def report(
    *, bound: object = _KEEP, incumbent: object = _KEEP, detail: str | None = None, step: object = _KEEP
) -> None:
    """Tell the stage's reporter what the solver knows now (nothing happens outside :func:`reporting`).

    Parameters
    ----------
    bound, incumbent, detail, step
        As :meth:`Reporter.update`.
    """
    reporter = _current.get()
    if reporter is not None:
        reporter.update(bound=bound, incumbent=incumbent, detail=detail, step=step)


@contextlib.contextmanager
def reporting(stage: str, *, every_s: float | None = None, logger: logging.Logger = log) -> Iterator[Reporter]:
    """Report the progress of the solvers run inside the block.

    Parameters
    ----------
    stage
        The stage's name.
    every_s
        Seconds between two lines (default :data:`EVERY_S`).
    logger
        Where the lines go; when it does not show INFO, no heartbeat thread is started.

    Yields
    ------
    Reporter
        The stage's reporter.
    """
    reporter = Reporter(stage, every_s=EVERY_S if every_s is None else every_s, logger=logger)
    token = _current.set(reporter)
    stop = threading.Event()
    beat = None
    if logger.isEnabledFor(logging.INFO):
        # a native solve (SCIP, HiGHS) calls no Python code for minutes: the heartbeat keeps the lines coming
        interval = max(min(reporter.every_s, 1.0), 0.05)
        beat = threading.Thread(target=_heartbeat, args=(reporter, stop, interval), name="netplan-progress")
        beat.daemon = True
        beat.start()
    try:
        yield reporter
    finally:
        stop.set()
        if beat is not None:
            beat.join()
        _current.reset(token)


def _heartbeat(reporter: Reporter, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        reporter.tick()
