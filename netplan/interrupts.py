"""Ctrl-C during a run: stop the native solver at once, then raise ``KeyboardInterrupt``.

Python runs its SIGINT handler only when the main thread is back in Python
code. The MIP and CP solvers (SCIP and HiGHS through pywraplp, CP-SAT) run
in C++ with the GIL released, and SCIP and CP-SAT catch SIGINT
themselves: they end their search and return the best solution so far as an
ordinary result. That is how a Ctrl-C during siting used to be swallowed and
the run finished with exit 0 and a worse plan.

Inside :func:`guard` (``pipeline.build_plan`` and ``netplan run`` open one)
Python's signal wake-up file descriptor is watched by a helper thread: on
SIGINT it records the interrupt and calls the ``stop`` function of every
native solve running under :func:`solve` (``InterruptSolve``, ``StopSearch``).
The solve returns within moments, and :func:`solve` raises
``KeyboardInterrupt`` instead of handing back the cut-short result. Solver
call sites therefore tell their solver not to catch SIGINT itself and wrap the
call in :func:`solve`. Python code between solves is interrupted as usual
(:func:`guard`'s handler raises ``KeyboardInterrupt`` like Python's own and
also records the interrupt, for solvers that run Python callbacks while
holding the GIL: OR-Tools routing checks :func:`interrupted` at each solution).

:func:`deferred` holds a Ctrl-C back during a few steps that must not be cut
in two (swapping an output folder into place) and raises it afterwards.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

__all__ = ["check", "deferred", "guard", "interrupted", "solve"]

T = TypeVar("T")

_lock = threading.Lock()
_stops: dict[int, Callable[[], Any]] = {}
_next_key = 0
_depth = 0
_event = threading.Event()


def interrupted() -> bool:
    """Whether a Ctrl-C arrived inside the current :func:`guard`."""
    return _event.is_set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C arrived inside the current :func:`guard`."""
    if _event.is_set():
        raise KeyboardInterrupt


def _interrupt() -> None:
    """Record the interrupt and stop every running native solve (called by the watcher thread)."""
    _event.set()
    with _lock:
        stops = list(_stops.values())
    for stop in stops:
        # a solver that has already finished may refuse; the interrupt is recorded anyway
        with suppress(Exception):
            stop()


def _on_sigint(signum: int, frame: object) -> None:
    """Python's SIGINT handler inside :func:`guard`: as the default one, but the interrupt is also recorded.

    Recording matters where a solver runs Python callbacks while it holds the GIL (OR-Tools routing): the
    ``KeyboardInterrupt`` raised inside such a callback is lost, the record is not, and the next callback stops
    the search.
    """
    _event.set()
    raise KeyboardInterrupt


def _watch(reader: socket.socket) -> None:
    """Read signal numbers from Python's wake-up fd until it is closed."""
    while True:
        try:
            data = reader.recv(64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT in data:
            _interrupt()


@contextmanager
def guard() -> Iterator[None]:
    """Make a Ctrl-C stop native solves promptly for the duration of the block.

    Re-entrant; does nothing outside the main thread (Python handles signals
    only there, e.g. a dask worker) or when SIGINT is not handled by Python's
    default handler (ignored, or replaced by the caller).

    Yields
    ------
    None
    """
    global _depth
    usable = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if _depth or not usable:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    _event.clear()
    signal.signal(signal.SIGINT, _on_sigint)
    watcher = threading.Thread(target=_watch, args=(reader,), name="netplan-interrupt-watch", daemon=True)
    watcher.start()
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(old_fd)
        writer.close()  # wakes the watcher (end of stream)
        watcher.join(timeout=5)
        reader.close()
        _event.clear()


def solve(run: Callable[[], T], *, stop: Callable[[], Any]) -> T:
    """Run one native solve that a Ctrl-C can cut short.

    Parameters
    ----------
    run
        Starts the solve and returns its result, e.g. ``lambda: solver.Solve(params)``.
    stop
        Asks the running solve to end (``solver.InterruptSolve``,
        ``cp_solver.StopSearch``); called from another thread.

    Returns
    -------
    object
        What ``run`` returned.

    Raises
    ------
    KeyboardInterrupt
        When a Ctrl-C arrived before or during the solve: its cut-short result
        is never returned.
    """
    global _next_key
    with _lock:
        key = _next_key
        _next_key += 1
        _stops[key] = stop
    try:
        check()
        result = run()
    finally:
        with _lock:
            del _stops[key]
    check()
    return result


@contextmanager
def deferred() -> Iterator[None]:
    """Hold back a Ctrl-C during the block and raise it after the block.

    For a few steps that must happen together (renaming an output folder
    aside and the new one in). Only in the main thread; elsewhere the block
    runs as is.

    Yields
    ------
    None
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if pending:
        raise KeyboardInterrupt
